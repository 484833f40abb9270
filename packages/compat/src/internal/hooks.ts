/**
 * The core `TokenStore` over `wechat-oauth`'s `getToken(openid, callback)` /
 * `saveToken(openid, token, callback)` hooks (callback or promise style), with the core's memory
 * store for what the hooks do not cover.
 *
 * @internal
 */
import { type OAuthToken, TokenStore, WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as AccessToken from "../AccessToken.js"
import { HookFailure, type HookName } from "./appFailure.js"
import { callApp, type NodeCallback } from "./calls.js"

export type {
  /** @internal */
  NodeCallback
}

/** @internal */
export type GetTokenHook = (
  openid: string,
  callback: NodeCallback<AccessToken.StoredToken | null | undefined>
) => unknown

/** @internal */
export type SaveTokenHook = (openid: string, token: AccessToken.TokenData, callback: NodeCallback<void>) => unknown

const hookError = (hook: HookName, error: unknown) =>
  new WeChatError.TokenStoreError({
    operation: hook,
    description: `the ${hook} hook failed`,
    cause: new HookFailure(hook, error)
  })

/**
 * Calls a hook, `fn.call(self, ...args, callback)`, that either calls its callback or returns a
 * promise: the first of the two to settle counts (a thenable that is not a native promise only when
 * the hook does not declare the callback: see `callApp`). A hook that throws fails; one that does
 * neither within `timeout` fails too.
 *
 * @internal
 */
export const callHook = <A>(
  hook: HookName,
  timeout: Duration.Duration,
  fn: (...args: Array<any>) => unknown,
  self: unknown,
  args: ReadonlyArray<unknown>
): Effect.Effect<A, WeChatError.TokenStoreError> =>
  callApp<A, WeChatError.TokenStoreError>({
    fn,
    self,
    args,
    timeout,
    onError: (error) => hookError(hook, error),
    name: `the ${hook} hook`,
    label: `the ${hook} hook`,
    // `undefined` from a saveToken that may take the callback, or from an arity-0 getToken, counts
    // ("saved", "no token") when no callback follows within 2 s; a getToken that declares the
    // callback waits for it up to `timeout`
    undefinedAfterGrace: hook === "saveToken" ? "mayTake" : "arity0",
    onTimeout: () =>
      new WeChatError.TokenStoreError({
        operation: hook,
        description: `the ${hook} hook neither called its callback nor settled its promise in time`
      })
  })

/**
 * Where the adapter finds the hooks: `undefined` means "no hook, use the memory store".
 *
 * @internal
 */
export interface HookSource {
  /** `this` of the hooks (the OAuth client, as in wechat-oauth). */
  readonly self: object
  readonly getToken: () => GetTokenHook | undefined
  readonly saveToken: () => SaveTokenHook | undefined
  readonly memory: TokenStore.TokenStoreShape
  readonly timeout: Duration.Duration
}

/**
 * Set while a code exchange (`getAccessToken`) runs: the store's `get` through the `getToken` hook
 * answers "no token" without calling it. Core reads the stored token before saving a new consent
 * (and back when that read failed), reads that protect nothing with hooks (`saveToken` overwrites,
 * `create_at` is read as now) and, when one timed out, sent the login down core's "remove and write
 * again" path: a second `saveToken` that could overwrite a newer login of another process. So the
 * exchange saves once, as `wechat-oauth` did (one `saveToken`, no `getToken`).
 *
 * @internal
 */
export const inExchange = FiberRef.unsafeMake<boolean>(false)

/**
 * Reads a stored token through the `getToken` hook, within `source.timeout`.
 *
 * @internal
 */
export const readThroughHook = (
  source: HookSource,
  hook: GetTokenHook,
  openid: string
): Effect.Effect<Option.Option<OAuthToken.OAuthToken>, WeChatError.TokenStoreError> =>
  Effect.flatMap(
    callHook<unknown>("getToken", source.timeout, hook, source.self, [openid]),
    (stored) => Effect.flatMap(Clock.currentTimeMillis, (now) => AccessToken.fromStored(openid, stored, now))
  )

/**
 * The store: tokens through the hooks (or the memory store where a hook is missing); code memos,
 * which the hooks cannot hold, in the memory store. `remove` has no hook in wechat-oauth: with a
 * `saveToken` hook it leaves the stored token alone (WeChat's answer to the next refresh decides).
 *
 * @internal
 */
export const makeStore = (source: HookSource): TokenStore.TokenStoreShape => {
  const own = TokenStore.TokenStore.of({
    get: (appId, openid) => {
      const hook = source.getToken()
      if (hook === undefined) return source.memory.get(appId, openid)
      return Effect.flatMap(
        FiberRef.get(inExchange),
        (exchanging) => exchanging ? Effect.succeed(Option.none()) : readThroughHook(source, hook, openid)
      )
    },
    set: (appId, token) => {
      const hook = source.saveToken()
      return hook === undefined
        ? source.memory.set(appId, token)
        // the token is read once, by shape (a token of another copy of the core passes, as it did
        // under wechat-oauth's API), under a guard: the hook is given that read's openid and data,
        // never a second read of a caller's object
        : Effect.suspend(() => {
          const data = AccessToken.readTokenData(token)
          if (data === undefined) {
            return Effect.fail(
              new WeChatError.TokenStoreError({ operation: "set", description: "the value is not an OAuthToken" })
            )
          }
          return Effect.zipRight(
            TokenStore.checkUser("set", appId, data.openid),
            Effect.asVoid(
              callHook<void>("saveToken", source.timeout, hook, source.self, [data.openid, data])
            )
          )
        })
    },
    remove: (appId, openid) => source.saveToken() === undefined ? source.memory.remove(appId, openid) : Effect.void,
    rememberCode: (appId, codeHash, memo) => source.memory.rememberCode(appId, codeHash, memo),
    recallCode: (appId, codeHash) => source.memory.recallCode(appId, codeHash)
  })
  // each hook call is bounded (timeout), the rest is in memory: core uses it as it is
  TokenStore.markBounded(own)
  return own
}
