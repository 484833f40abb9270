/**
 * `wechat-oauth`'s token object: WeChat's answer (`access_token`, `expires_in`, `refresh_token`,
 * `openid`, `scope`, ...) plus `create_at`, as the `getToken` / `saveToken` hooks exchange it, and
 * the `AccessToken` wrapper (`{ data }` with `isValid()`) the OAuth methods resolve with. Also the
 * conversions to and from the core's `OAuthToken`.
 *
 * @since 0.1.0
 */
import { OAuthToken, WeChatError } from "@wxauth/core"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { CompatError } from "./CompatError.js"

/**
 * A token as `wechat-oauth` keeps it and as `saveToken` receives it. `create_at` is when it was
 * obtained (epoch milliseconds) and `expires_in` the access token's life in seconds from then.
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenData {
  access_token: string
  expires_in: number
  refresh_token: string
  openid: string
  scope: string
  is_snapshotuser?: number
  unionid?: string
  create_at: number
}

/**
 * A token as a `getToken` hook may return it: `TokenData`, or the same fields as strings (a
 * `varchar` column), a database row, a mongoose document. `null` / `undefined` means "no token".
 *
 * @since 0.1.0
 * @category models
 */
export interface StoredToken {
  readonly access_token?: unknown
  readonly expires_in?: unknown
  readonly refresh_token?: unknown
  readonly openid?: unknown
  readonly scope?: unknown
  readonly create_at?: unknown
  readonly unionid?: unknown
  readonly is_snapshotuser?: unknown
  readonly [key: string]: unknown
}

/**
 * The token `getAccessToken`, `refreshAccessToken` and `getSessionKey` resolve with: WeChat's
 * answer in `data`, and `isValid()`.
 *
 * @example
 * ```ts
 * const token = await client.getAccessToken(code)
 * token.data.openid
 * token.isValid() // true for the next two hours
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export class AccessToken<A extends object = TokenData> {
  constructor(
    /**
     * WeChat's answer, plus `create_at`.
     *
     * @since 0.1.0
     */
    readonly data: A
  ) {}

  /**
   * True while the access token has not expired: `create_at + expires_in` seconds is still ahead.
   * (Unlike `wechat-oauth`, `create_at` and `expires_in` read back as strings are compared as
   * numbers.)
   *
   * @since 0.1.0
   */
  isValid(): boolean {
    const data = this.data as StoredToken | undefined
    if (typeof data !== "object" || data === null || !data.access_token) return false
    const expiresAt = toMillis(data.create_at) + toNumber(data.expires_in) * 1000
    return Date.now() < expiresAt
  }
}

const toNumber = (u: unknown): number => {
  if (typeof u === "number") return u
  if (typeof u === "string" && u.trim() !== "") return Number(u)
  if (typeof u === "bigint") return Number(u)
  return Number.NaN
}

/**
 * Epoch milliseconds from a number or numeric string (wechat-oauth wrote milliseconds; a value below
 * 1e11 is taken as seconds), a `Date` or a date string.
 */
const toMillis = (u: unknown): number => {
  if (u instanceof Date) return u.getTime()
  const n = toNumber(u)
  if (!Number.isNaN(n)) return n > 0 && n < 1e11 ? n * 1000 : n
  return typeof u === "string" ? Date.parse(u) : Number.NaN
}

const toText = (u: unknown): string => {
  if (typeof u === "string") return u
  if (u === undefined || u === null || typeof u === "symbol") return ""
  try {
    // a database driver's value (a Buffer, a String object) reads as its text
    return String(u)
  } catch {
    return "" // an object without a usable toString
  }
}

/**
 * The `wechat-oauth` token object for a core `OAuthToken`, as `saveToken` receives it. Throws a
 * `WeChatAPIInvalidArgumentError` for anything else.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toTokenData = (token: OAuthToken.OAuthToken): TokenData => {
  if (!isOAuthToken(token)) throw invalidArgument("token", "must be an OAuthToken of @wxauth/core")
  return plainTokenData(token)
}

/** The fields `toTokenData` reads, checked by shape (another copy of the core's class passes too). */
const isOAuthToken = (u: unknown): u is OAuthToken.OAuthToken => {
  if (typeof u !== "object" || u === null) return false
  const token = u as Record<string, unknown>
  return typeof token.openid === "string" && Redacted.isRedacted(token.accessToken) &&
    Redacted.isRedacted(token.refreshToken) && Array.isArray(token.scope) &&
    typeof token.obtainedAt === "number" && typeof token.expiresAt === "number" &&
    (token.unionid === undefined || typeof token.unionid === "string")
}

const plainTokenData = (token: OAuthToken.OAuthToken): TokenData => ({
  // WeChat's fields in WeChat's order, then create_at, as wechat-oauth saved them
  access_token: Redacted.value(token.accessToken),
  expires_in: Math.round((token.expiresAt - token.obtainedAt) / 1000),
  refresh_token: Redacted.value(token.refreshToken),
  openid: token.openid,
  scope: token.scope.join(","),
  ...(token.isSnapshotUser ? { is_snapshotuser: 1 } : {}),
  ...(token.unionid === undefined ? {} : { unionid: token.unionid }),
  create_at: token.obtainedAt
})

/**
 * Reads a token as a `getToken` hook returned it: `None` for `null` / `undefined`; a `Left` with a
 * description when it is not a token of `openid`. Strings are read as numbers where numbers are
 * due; a token without a valid `create_at` / `expires_in` reads as expired (it gets refreshed). The
 * refresh token's life is not in `wechat-oauth`'s object: it is taken as 30 days from `create_at`
 * (WeChat's answer decides in the end).
 *
 * @since 0.1.0
 * @category conversions
 */
export const fromStored = (
  openid: string,
  stored: unknown
): Either.Either<Option.Option<OAuthToken.OAuthToken>, string> => {
  if (typeof openid !== "string" || openid === "") return Either.left("the openid is not a non-empty string")
  if (stored === null || stored === undefined || stored === false) return Either.right(Option.none())
  if (typeof stored !== "object") return Either.left("the stored token is not an object")
  let fields = stored as StoredToken
  // an AccessToken (`{ data }`) stored as it is
  if (fields.access_token === undefined && typeof fields.data === "object" && fields.data !== null) {
    fields = fields.data as StoredToken
  }
  const storedOpenid = toText(fields.openid)
  if (storedOpenid !== "" && storedOpenid !== openid) {
    return Either.left("the stored token belongs to another openid")
  }
  const createdAt = toMillis(fields.create_at)
  const expiresIn = toNumber(fields.expires_in)
  const obtainedAt = Number.isFinite(createdAt) ? createdAt : 0
  const expiresAt = Number.isFinite(createdAt) && Number.isFinite(expiresIn) ? createdAt + expiresIn * 1000 : 0
  const unionid = toText(fields.unionid)
  return Either.right(Option.some(
    new OAuthToken.OAuthToken({
      openid,
      accessToken: Redacted.make(toText(fields.access_token)),
      refreshToken: Redacted.make(toText(fields.refresh_token)),
      scope: toText(fields.scope).split(/[\s,]+/).filter((scope) => scope !== ""),
      ...(unionid === "" ? {} : { unionid }),
      isSnapshotUser: toNumber(fields.is_snapshotuser) === 1,
      obtainedAt,
      expiresAt,
      refreshExpiresAt: obtainedAt + OAuthToken.refreshTokenLifeMillis
    })
  ))
}

/**
 * A core `OAuthToken` from a token as `wechat-oauth` stored it (`undefined` when `stored` is empty).
 * Useful to move tokens from a `wechat-oauth` table into a core `TokenStore`. Throws a
 * `WeChatAPIInvalidArgumentError` when `openid` is not a non-empty string or `stored` is not a token
 * of that openid.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toOAuthToken = (openid: string, stored: unknown): OAuthToken.OAuthToken | undefined => {
  if (typeof openid !== "string" || openid === "") throw invalidArgument("openid", "must be a non-empty string")
  const read = fromStored(openid, stored)
  if (Either.isLeft(read)) throw invalidArgument("stored", read.left)
  return Option.getOrUndefined(read.right)
}

const invalidArgument = (argument: string, description: string): CompatError =>
  new CompatError({
    name: "WeChatAPIInvalidArgumentError",
    tag: "InvalidArgument",
    message: `Invalid argument ${argument}: ${description}`,
    cause: new WeChatError.InvalidArgument({ argument, description })
  })
