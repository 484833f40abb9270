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
  // what `new UserInfo(fields, true)` makes (a class built by `Schema.Class` only assigns the fields,
  // in this order; UserInfo.test.ts holds this to the schema's own result), in one allocation
  const user = new Built(
    openid,
    nickname,
    sex,
    province,
    city,
    country,
    headimgurl,
    copy,
    hasUnionid ? unionid as string : undefined
  )
  return Either.right(user)
}

/**
 * A `UserInfo` built as its constructor builds it: the same prototype, the same own fields in the
 * same order, `unionid` last and only when the answer has one (where the schema puts it); a
 * constructor of its own lets V8 allocate it whole, with no object literal copied field by field.
 */
interface BuiltUserInfo {
  new(
    openid: string,
    nickname: string,
    sex: 0 | 1 | 2,
    province: string,
    city: string,
    country: string,
    headimgurl: string,
    privilege: ReadonlyArray<string>,
    unionid: string | undefined
  ): UserInfo
}

const Built = function(
  this: Record<string, unknown>,
  openid: string,
  nickname: string,
  sex: 0 | 1 | 2,
  province: string,
  city: string,
  country: string,
  headimgurl: string,
  privilege: ReadonlyArray<string>,
  unionid: string | undefined
) {
  this.openid = openid
  this.nickname = nickname
  this.sex = sex
  this.province = province
  this.city = city
  this.country = country
  this.headimgurl = headimgurl
  this.privilege = privilege
  if (unionid !== undefined) this.unionid = unionid
} as unknown as BuiltUserInfo
Built.prototype = UserInfo.prototype
