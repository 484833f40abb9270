/**
 * `/sns/userinfo`'s answer decoded on every `getUser`: a direct check of the fields for the answer
 * WeChat gives, which builds the same `UserInfo` as the schema; anything else (a missing or
 * mistyped field, an unexpected `sex`) goes through the schema itself, for its exact error.
 *
 * @internal
 */
import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { UserInfo } from "../UserInfo.js"

const bySchema = Schema.decodeUnknownEither(UserInfo)

const isText = (u: unknown): u is string => typeof u === "string"

const isTexts = (u: unknown): u is ReadonlyArray<string> => {
  if (!Array.isArray(u)) return false
  for (let i = 0; i < u.length; i++) if (typeof u[i] !== "string") return false
  return true
}

/**
 * As `Schema.decodeUnknownEither(UserInfo)`: the same instance (unknown fields left out) or the
 * schema's own error.
 *
 * @internal
 */
export const decodeUserInfo = (u: unknown): Either.Either<UserInfo, ParseResult.ParseError> => {
  if (typeof u !== "object" || u === null) return bySchema(u)
  const { city, country, headimgurl, nickname, openid, privilege, province, sex, unionid } = u as Record<
    string,
    unknown
  >
  if (
    !isText(openid) || !isText(nickname) || (sex !== 0 && sex !== 1 && sex !== 2) || !isText(province) ||
    !isText(city) || !isText(country) || !isText(headimgurl) || !isTexts(privilege)
  ) {
    return bySchema(u)
  }
  // an optional field counts only as the object's own (as the schema reads it)
  const hasUnionid = Object.prototype.hasOwnProperty.call(u, "unionid")
  if (hasUnionid && !isText(unionid)) return bySchema(u)
  // the schema copies the array it decodes: so does this (the answer's own is not kept)
  const copy = privilege.slice()
  // what `new UserInfo(fields, true)` makes, without its copies of the fields (a class built by
  // `Schema.Class` only assigns them; UserInfo.test.ts holds this to the schema's own result)
  const user: UserInfo = Object.create(UserInfo.prototype)
  Object.assign(
    user,
    hasUnionid
      ? { openid, nickname, sex, province, city, country, headimgurl, privilege: copy, unionid: unionid as string }
      : { openid, nickname, sex, province, city, country, headimgurl, privilege: copy }
  )
  return Either.right(user)
}
