/**
 * A token as a `getToken` hook hands it back (wechat-oauth's record, an `AccessToken` stored as it
 * is, a database row, a mongoose document), read with core's `LegacyToken.decode`: the one reading
 * of that record, shared with store-sql's importer. Compat only unwraps `{ data }` and checks that
 * the token is the asked user's.
 *
 * @internal
 */
import { LegacyToken, type OAuthToken, WeChatError } from "@wxauth/core"
import * as Either from "effect/Either"
import * as Option from "effect/Option"

/**
 * A stored token, read. `refreshTokenMissing`: the record has no refresh token (read only when the
 * caller allows it, see `decode`); `token.refreshToken` is then a placeholder, never to be sent.
 *
 * @internal
 */
export interface Stored {
  readonly token: OAuthToken.OAuthToken
  readonly refreshTokenMissing: boolean
  /** The record's `refresh_token` as it was, when it is missing (`undefined`, `null`, `""`). */
  readonly missingValue?: unknown
}

/** The fields `LegacyToken.decode` reads. */
const fields = [
  "access_token",
  "expires_in",
  "refresh_token",
  "openid",
  "scope",
  "unionid",
  "is_snapshotuser",
  "create_at"
] as const

const isMissing = (u: unknown): boolean => u === undefined || u === null || (typeof u === "string" && u.trim() === "")

/**
 * The record with a placeholder in place of its missing refresh token. The other fields are read
 * from the record when `decode` reads them (so a getter that throws is still reported as such).
 */
const withPlaceholderRefreshToken = (record: object): object => {
  const view: Record<string, unknown> = {}
  for (const key of fields) {
    if (key === "refresh_token") continue
    Object.defineProperty(view, key, { enumerable: true, get: () => (record as Record<string, unknown>)[key] })
  }
  view.refresh_token = "-"
  return view
}

/** An `AccessToken` (`{ data }`) stored as it is: its `data`. */
const unwrap = (record: object): object => {
  try {
    const fields = record as { readonly access_token?: unknown; readonly data?: unknown }
    return fields.access_token === undefined && typeof fields.data === "object" && fields.data !== null
      ? fields.data
      : record
  } catch {
    return record // a getter that throws: decode reports the field
  }
}

/**
 * A record with none of `access_token`, `refresh_token`, `openid` (each absent, `null` or blank): no
 * token. ioredis' `hgetall` answers `{}` for a missing hash, an outer join a row of `NULL`s;
 * `wechat-oauth` read such a record as an invalid token and asked WeChat to refresh no refresh token
 * (41003), the way to "please authorize". A field that cannot be read: not empty (decode reports it).
 */
const isEmptyRecord = (record: object): boolean => {
  try {
    const fields = record as Record<string, unknown>
    return isMissing(fields.access_token) && isMissing(fields.refresh_token) && isMissing(fields.openid)
  } catch {
    return false
  }
}

const invalid = (argument: string, description: string) =>
  Either.left(new WeChatError.InvalidArgument({ argument, description }))

/**
 * Reads `stored`, the token of `openid` at time `now`: `None` for `null` / `undefined` / `false`
 * and for a record with none of `access_token`, `refresh_token`, `openid` (`{}`: see `isEmptyRecord`);
 * an `InvalidArgument` naming the field `LegacyToken.decode` refuses, or `openid` for another
 * user's token. With `allowMissingRefreshToken`, a record without a refresh token is read anyway
 * (what `getUser` needs: wechat-oauth used such a token while it was valid, then asked WeChat to
 * refresh it, which WeChat refuses).
 *
 * @internal
 */
export const decode = (
  openid: unknown,
  stored: unknown,
  now: number,
  options?: {
    readonly allowMissingRefreshToken?: boolean | undefined
    /** A token to store, not one read back: a record with none of the fields is refused too. */
    readonly refuseEmptyRecord?: boolean | undefined
  }
): Either.Either<Option.Option<Stored>, WeChatError.InvalidArgument> => {
  if (typeof openid !== "string" || openid === "") return invalid("openid", "must be a non-empty string")
  if (stored === null || stored === undefined || stored === false) return Either.right(Option.none())
  let record: unknown = stored
  let refreshTokenMissing = false
  let missingValue: unknown = undefined
  if (typeof stored === "object") {
    const unwrapped = unwrap(stored)
    if (options?.refuseEmptyRecord !== true && isEmptyRecord(unwrapped)) return Either.right(Option.none())
    record = unwrapped
    if (options?.allowMissingRefreshToken === true) {
      try {
        missingValue = (record as { readonly refresh_token?: unknown }).refresh_token
        refreshTokenMissing = isMissing(missingValue)
      } catch {
        refreshTokenMissing = false // decode reports the getter
      }
      if (refreshTokenMissing) record = withPlaceholderRefreshToken(record as object)
    }
  }
  const decoded = LegacyToken.decode(record, now)
  if (Either.isLeft(decoded)) return Either.left(decoded.left)
  const token = decoded.right
  if (token.openid !== openid) return invalid("openid", "the stored token belongs to another openid")
  return Either.right(Option.some(
    refreshTokenMissing ? { token, refreshTokenMissing, missingValue } : {
      token,
      refreshTokenMissing
    }
  ))
}
