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

interface Peek {
  readonly peek: PeekToken
  /** The store's own `get` when the peek was attached: a `get` replaced since is not the peek's. */
  readonly get: TokenStore.TokenStoreShape["get"]
}

/** @internal */
export const withPeek = <S extends TokenStore.TokenStoreShape>(store: S, peek: PeekToken): S =>
  Object.defineProperty(store, peekToken, { value: { peek, get: store.get } satisfies Peek })

/**
 * The store's peek, only on the very store its maker built, with its own `get`: a store derived
 * from it by prototype (`Object.create(memory, { get })`) or with `get` replaced reads through its
 * own `get`, whatever that adds (a ban, a revocation).
 *
 * @internal
 */
export const peekOf = (store: TokenStore.TokenStoreShape): PeekToken | undefined => {
  if (!Object.hasOwn(store, peekToken)) return undefined
  const own = (store as unknown as { readonly [peekToken]: Peek })[peekToken]
  return own.get === store.get ? own.peek : undefined
}
