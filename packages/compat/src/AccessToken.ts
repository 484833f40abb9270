/**
 * `wechat-oauth`'s token object: WeChat's answer (`access_token`, `expires_in`, `refresh_token`,
 * `openid`, `scope`, ...) plus `create_at`, as the `getToken` / `saveToken` hooks exchange it, and
 * the `AccessToken` wrapper (`{ data }` with `isValid()`) the OAuth methods resolve with. Also the
 * conversions to and from the core's `OAuthToken`.
 *
 * @since 0.1.0
 */
import { LegacyToken, type OAuthToken, WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { CompatError } from "./CompatError.js"
import * as StoredRecord from "./internal/storedToken.js"

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
   * True while the access token has not expired: `create_at + expires_in` seconds is still ahead,
   * read as `LegacyToken.decode` reads a stored token (numbers or decimal strings, `create_at` in
   * milliseconds, or seconds below 1e11, a `Date`, a date string with a UTC offset; a `create_at`
   * in the future counts as now). (Unlike `wechat-oauth`, `create_at` and `expires_in` read back as
   * strings are compared as numbers.)
   *
   * @example
   * ```ts
   * import OAuth from "@wxauth/compat"
   *
   * const client = new OAuth("wx1234567890abcdef", "your app secret")
   *
   * const onCallback = async (code: string) => {
   *   const token = await client.getAccessToken(code)
   *   token.isValid() // true for the next two hours (token.data.expires_in seconds)
   *   return token.data.openid
   * }
   * ```
   *
   * @since 0.1.0
   */
  isValid(): boolean {
    try {
      const data = this.data as StoredToken | undefined
      if (typeof data !== "object" || data === null) return false
      // the times alone decide: the other fields may be absent from a hand-made token
      const times = {
        access_token: data.access_token,
        expires_in: data.expires_in,
        create_at: data.create_at,
        refresh_token: "-",
        openid: "-"
      }
      const now = clock.unsafeCurrentTimeMillis()
      const token = LegacyToken.decode(times, now)
      return Either.isRight(token) && token.right.isFresh(now)
    } catch {
      return false // a getter that throws
    }
  }
}

/** The default clock (`isValid` and `fromStored` are synchronous: no Effect context to read one from). */
const clock = Clock.make()

/**
 * The `wechat-oauth` token object for a core `OAuthToken`, as `saveToken` receives it. Throws a
 * `WeChatAPIInvalidArgumentError` for anything else.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toTokenData = (token: OAuthToken.OAuthToken): TokenData => {
  const data = readTokenData(token)
  if (data === undefined) throw invalidArgument("token", "must be an OAuthToken of @wxauth/core")
  return data
}

/**
 * A token's fields as `wechat-oauth` saved them, each read once (a getter that answers otherwise on a
 * second read is never read twice), checked by shape: a token of another copy of the core's class
 * passes too. `undefined` for anything else, or a value that throws when read (a getter, a Proxy
 * trap, a revoked Proxy).
 *
 * @internal
 */
export const readTokenData = (u: unknown): TokenData | undefined => {
  if (typeof u !== "object" || u === null) return undefined
  try {
    const { accessToken, expiresAt, isSnapshotUser, obtainedAt, openid, refreshToken, scope, unionid } = u as Record<
      string,
      unknown
    >
    if (
      typeof openid !== "string" || !Redacted.isRedacted(accessToken) || !Redacted.isRedacted(refreshToken) ||
      !Array.isArray(scope) || typeof obtainedAt !== "number" || typeof expiresAt !== "number" ||
      (unionid !== undefined && typeof unionid !== "string")
    ) return undefined
    const access: unknown = Redacted.value(accessToken)
    const refresh: unknown = Redacted.value(refreshToken)
    if (typeof access !== "string" || typeof refresh !== "string") return undefined
    return {
      // WeChat's fields in WeChat's order, then create_at, as wechat-oauth saved them
      access_token: access,
      expires_in: Math.round((expiresAt - obtainedAt) / 1000),
      refresh_token: refresh,
      openid,
      scope: (scope as ReadonlyArray<unknown>).join(","),
      ...(isSnapshotUser ? { is_snapshotuser: 1 } : {}),
      ...(unionid === undefined ? {} : { unionid }),
      create_at: obtainedAt
    }
  } catch {
    return undefined
  }
}

/**
 * Reads a token as a `getToken` hook returned it, with `@wxauth/core`'s `LegacyToken.decode` (the
 * reading store-sql's `importLegacy` uses too): `None` for `null` / `undefined`; a
 * `TokenStoreError` (operation `getToken`) naming the field that is not usable, or saying the token
 * is another openid's. An `AccessToken` stored as it is (`{ data }`) is read through its `data`.
 * `create_at` / `expires_in` that are not times are refused (not read as expired), and so is a
 * token without an `openid` or a refresh token; a `create_at` in the future is read as `now`. The
 * refresh token's life is not in `wechat-oauth`'s object: it is taken as 30 days from `create_at`
 * (WeChat's answer decides in the end).
 *
 * @param now epoch milliseconds (default: the clock's now)
 * @since 0.1.0
 * @category conversions
 */
export const fromStored = (
  openid: string,
  stored: unknown,
  now?: number | undefined
): Either.Either<Option.Option<OAuthToken.OAuthToken>, WeChatError.TokenStoreError> => {
  const read = StoredRecord.decode(openid, stored, now === undefined ? clock.unsafeCurrentTimeMillis() : now)
  return Either.isRight(read)
    ? Either.right(Option.map(read.right, (stored) => stored.token))
    : Either.left(new WeChatError.TokenStoreError({ operation: "getToken", description: read.left.message }))
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
  const read = StoredRecord.decode(openid, stored, clock.unsafeCurrentTimeMillis())
  if (Either.isLeft(read)) throw invalidArgument("stored", read.left.message)
  return Option.getOrUndefined(Option.map(read.right, (stored) => stored.token))
}

const invalidArgument = (argument: string, description: string): CompatError =>
  new CompatError({
    name: "WeChatAPIInvalidArgumentError",
    tag: "InvalidArgument",
    message: `Invalid argument ${argument}: ${description}`,
    cause: new WeChatError.InvalidArgument({ argument, description })
  })
