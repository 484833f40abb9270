/**
 * The text of an `OAuthToken`'s access token as the token keeps it, for core's own hot path: a read
 * of `token.accessToken` makes a new `Redacted` (an object, and an entry in Effect's global
 * registry, which every young-generation collection then walks) only to be opened again at once.
 * Never handed to a caller, never put in an error or a span.
 *
 * @internal
 */
import type * as OAuthToken from "../OAuthToken.js"

let read: (token: OAuthToken.OAuthToken) => unknown = () => undefined
let readRefresh: (token: OAuthToken.OAuthToken) => unknown = () => undefined

/** Called once, by `OAuthToken`'s static block (the only code that can read its private field). @internal */
export const setAccessTokenReader = (reader: (token: OAuthToken.OAuthToken) => unknown): void => {
  read = reader
}

/** Called once, by `OAuthToken`'s static block, as `setAccessTokenReader`. @internal */
export const setRefreshTokenReader = (reader: (token: OAuthToken.OAuthToken) => unknown): void => {
  readRefresh = reader
}

/**
 * What `Redacted.value(token.accessToken)` gives, without the `Redacted`; `undefined` for an object
 * posing as a token (no private field).
 *
 * @internal
 */
export const accessTokenText = (token: OAuthToken.OAuthToken): unknown => read(token)

/**
 * What `Redacted.value(token.refreshToken)` gives, without the `Redacted`; `undefined` for an object
 * posing as a token (no private field). For `TokenStore.checkToken`'s one read of a caller's token.
 *
 * @internal
 */
export const refreshTokenText = (token: OAuthToken.OAuthToken): unknown => readRefresh(token)
