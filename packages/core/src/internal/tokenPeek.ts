/**
 * A synchronous read of a store that holds its tokens in this process (the memory store): `getUser`'s
 * hot path reads the token in the step it is in, instead of running the store's `get` effect. Only
 * a store as its maker built it has one (a store wrapped or derived from it is a new object).
 *
 * @internal
 */
import type * as OAuthToken from "../OAuthToken.js"
import type * as TokenStore from "../TokenStore.js"

/**
 * What `get(appId, openid)` would give at `now`, with the same effect on the store (an expired token
 * is dropped): the token, or `undefined` for none (and for ids `get` refuses: the caller then runs
 * `get` itself, for its error).
 *
 * @internal
 */
export type PeekToken = (appId: string, openid: string, now: number) => OAuthToken.OAuthToken | undefined

/** @internal */
export const peekToken: unique symbol = Symbol.for("@wxauth/core/TokenStore/peekToken")

/** @internal */
export const withPeek = <S extends TokenStore.TokenStoreShape>(store: S, peek: PeekToken): S =>
  Object.defineProperty(store, peekToken, { value: peek })

/** @internal */
export const peekOf = (store: TokenStore.TokenStoreShape): PeekToken | undefined =>
  (store as { readonly [peekToken]?: PeekToken })[peekToken]
