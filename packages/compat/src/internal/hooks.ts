/**
 * The core `TokenStore` over `wechat-oauth`'s `getToken(openid, callback)` /
 * `saveToken(openid, token, callback)` hooks (callback or promise style), with the core's memory
 * store for what the hooks do not cover.
 *
 * @internal
 */
import { type OAuthToken, TokenStore, WeChatError } from "@wxauth/core"
import type * as Duration from "effect/Duration"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as AccessToken from "../AccessToken.js"
import { HookFailure, type HookName } from "./hookFailure.js"

/** @internal */
export type NodeCallback<A> = (err?: unknown, result?: A) => void

/** @internal */
export type GetTokenHook = (
  openid: string,
  callback: NodeCallback<AccessToken.StoredToken | null | undefined>
) => unknown

/** @internal */
export type SaveTokenHook = (openid: string, token: AccessToken.TokenData, callback: NodeCallback<void>) => unknown

const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  (typeof u === "object" || typeof u === "function") && u !== null &&
  typeof (u as { then?: unknown }).then === "function"

const hookError = (hook: HookName, error: unknown) =>
  new WeChatError.TokenStoreError({
    operation: hook,
    description: `the ${hook} hook failed`,
    cause: new HookFailure(hook, error)
  })

/**
 * Calls a hook that either calls its callback or returns a promise: the first of the two to settle
 * counts. A hook that throws fails; one that does neither within `timeout` fails too.
 *
 * @internal
 */
export const callHook = <A>(
  hook: HookName,
  timeout: Duration.Duration,
  invoke: (callback: NodeCallback<A>) => unknown
): Effect.Effect<A, WeChatError.TokenStoreError> =>
  Effect.async<A, WeChatError.TokenStoreError>((resume) => {
    let settled = false
    const succeed = (value: A) => {
      if (settled) return
      settled = true
      resume(Effect.succeed(value))
    }
    const fail = (error: unknown) => {
      if (settled) return
      settled = true
      resume(Effect.fail(hookError(hook, error)))
    }
    try {
      const returned = invoke((err, result) => (err ? fail(err) : succeed(result as A)))
      if (isThenable(returned)) {
        returned.then(
          (value) => succeed(value as A),
          (error) => fail(error ?? new Error(`the ${hook} hook's promise rejected`))
        )
      }
    } catch (error) {
      fail(error)
    }
    return Effect.sync(() => {
      settled = true
    })
  }).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new WeChatError.TokenStoreError({
          operation: hook,
          description: `the ${hook} hook neither called its callback nor settled its promise in time`
        })
    })
  )

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
 * Reads a stored token through the `getToken` hook.
 *
 * @internal
 */
export const readThroughHook = (
  source: HookSource,
  hook: GetTokenHook,
  openid: string
): Effect.Effect<Option.Option<OAuthToken.OAuthToken>, WeChatError.TokenStoreError> =>
  Effect.flatMap(
    callHook<unknown>("getToken", source.timeout, (callback) => hook.call(source.self, openid, callback)),
    (stored) => Effect.flatMap(Clock.currentTimeMillis, (now) => AccessToken.fromStored(openid, stored, now))
  )

/**
 * The store: tokens through the hooks (or the memory store where a hook is missing); code memos,
 * which the hooks cannot hold, in the memory store. `remove` has no hook in wechat-oauth: with a
 * `saveToken` hook it leaves the stored token alone (WeChat's answer to the next refresh decides).
 *
 * @internal
 */
export const makeStore = (source: HookSource): TokenStore.TokenStoreShape =>
  TokenStore.TokenStore.of({
    get: (appId, openid) => {
      const hook = source.getToken()
      return hook === undefined ? source.memory.get(appId, openid) : readThroughHook(source, hook, openid)
    },
    set: (appId, token) => {
      const hook = source.saveToken()
      return hook === undefined
        ? source.memory.set(appId, token)
        : Effect.asVoid(
          callHook<void>(
            "saveToken",
            source.timeout,
            (callback) => hook.call(source.self, token.openid, AccessToken.toTokenData(token), callback)
          )
        )
    },
    remove: (appId, openid) => source.saveToken() === undefined ? source.memory.remove(appId, openid) : Effect.void,
    rememberCode: (appId, codeHash, memo) => source.memory.rememberCode(appId, codeHash, memo),
    recallCode: (appId, codeHash) => source.memory.recallCode(appId, codeHash)
  })
