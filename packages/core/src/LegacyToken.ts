/**
 * The token wechat-oauth 1.5.0 stored, read as an `OAuthToken`, for applications moving over from
 * it: store-sql's `importLegacy` reads its `token` table with this, and the compat layer the tokens
 * its `getToken` hook returns. wechat-oauth hands its `saveToken` WeChat's answer plus `create_at`
 * (`new Date().getTime()` when the answer came):
 *
 * ```
 * { access_token, expires_in, refresh_token, openid, scope, unionid?, is_snapshotuser?, create_at }
 * ```
 *
 * and its users kept that record as they liked: a row of strings in the MySQL table of its README, a
 * JSON document, a database row with a `Date` or a `Buffer`. `decode` is the one reading of it.
 *
 * @since 0.1.0
 */
import type * as Either from "effect/Either"
import * as internal from "./internal/legacyToken.js"
import type * as OAuthToken from "./OAuthToken.js"
import type { InvalidArgument } from "./WeChatError.js"

/**
 * The `OAuthToken` a wechat-oauth token record stands for, at time `now` (epoch milliseconds, from
 * `Clock`); an `InvalidArgument` naming the first field that is not usable. Nothing throws, whatever
 * `record` is (a getter that throws, a nested array, a 10 MB string), and no error holds a value.
 *
 * - The text fields are strings, or the UTF-8 bytes of a binary column, and are trimmed (a `CHAR`
 *   column pads them). `access_token`, `refresh_token` and `openid` must not be empty; tokens are at
 *   most 1024 characters, `openid` and `unionid` 1 to 128 printable ASCII characters without spaces
 *   (as WeChat gives them: a newline, a NUL or a space is refused), `scope` at most 1024. `scope` is split
 *   on commas and spaces; an empty `unionid` is none; `is_snapshotuser` is 0 or 1 (absent: 0).
 * - Numbers may be numbers, bigints or strings of decimal digits (a `varchar` column).
 *   `expires_in` is whole seconds from 1 to 30 days, as core takes it from WeChat; absent or empty,
 *   it is WeChat's 7200.
 * - `create_at` is epoch milliseconds (wechat-oauth's `new Date().getTime()`), epoch seconds when
 *   below 1e11 (tables filled by hand), a `Date`, or a date string with an explicit UTC offset
 *   (`2024-05-01T10:00:00Z`, `...+08:00`, `Date#toString()`). A date string without an offset
 *   (`2024-05-01 10:00:00`) could be hours off either way and is refused, and so is a time before 1970.
 * - The token is dated `min(create_at, now)`: a legacy server whose clock ran ahead must not date a
 *   token in the future, where newer-wins would keep it over every real refresh. `expiresAt` is that
 *   time + `expires_in` seconds. The record does not say when the user consented, so
 *   `refreshExpiresAt` is that time + 30 days, an upper bound: if WeChat has already retired the
 *   refresh token, the refresh fails with `RefreshTokenExpired` / `InvalidRefreshToken` and the user
 *   authorizes again, as usual.
 *
 * Other fields are ignored. Whether the token is for the openid the caller asked about is the
 * caller's to check (`token.openid`).
 *
 * @example
 * ```ts
 * import { LegacyToken } from "@wxauth/core"
 * import * as Either from "effect/Either"
 *
 * const row = {
 *   access_token: "ACCESS_TOKEN",
 *   expires_in: "7200",
 *   refresh_token: "REFRESH_TOKEN",
 *   openid: "OPENID",
 *   scope: "snsapi_userinfo",
 *   create_at: "1750000000000"
 * }
 * const token = LegacyToken.decode(row, 1_750_000_600_000)
 * Either.isRight(token) // true: obtained at 1750000000000, its access token good until 1750007200000
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode: (record: unknown, now: number) => Either.Either<OAuthToken.OAuthToken, InvalidArgument> =
  internal.decode
