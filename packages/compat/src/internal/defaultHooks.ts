/**
 * The `getToken` / `saveToken` a client has when the app gives none: they read and write the
 * client's store (its memory, or the `tokenStore` option's), in `wechat-oauth`'s hook shape
 * (`(openid, callback)`, or a promise without a callback).
 *
 * @internal
 */
import { TokenStore, WeChatConfig } from "@wxauth/core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type TokenData, toTokenData } from "../AccessToken.js"
import type { ClientServices } from "./lifecycle.js"
import { textArgument } from "./options.js"
import { type Callback, nodeify, textOf } from "./runtime.js"
import * as StoredRecord from "./storedToken.js"

/** @internal */
export type Run = <A>(effect: Effect.Effect<A, unknown, ClientServices>) => Promise<A>

/**
 * `getToken(openid, callback)`: the stored token as `wechat-oauth`'s object (`undefined` when none).
 *
 * @internal
 */
export const getToken = (run: Run) => (openid: unknown, callback?: unknown) =>
  nodeify(
    run(
      Effect.gen(function*() {
        const { appId } = yield* WeChatConfig.WeChatConfig
        const token = yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get(appId, textOf(openid) ?? ""))
        return Option.isSome(token) ? toTokenData(token.value) : undefined
      })
    ),
    callback as Callback<TokenData | undefined>
  )

/**
 * `saveToken(openid, token, callback)`: stores `token` (read as a stored token is read, see
 * `storedToken.ts`); an empty token is ignored.
 *
 * @internal
 */
export const saveToken = (run: Run) => (openid: unknown, token: unknown, callback?: unknown) =>
  nodeify(
    run(Effect.gen(function*() {
      const id = yield* textArgument("openid", openid)
      const now = yield* Clock.currentTimeMillis
      // `{}` to store is an error (a token read back as `{}` is none: see `storedToken.ts`)
      const found = yield* StoredRecord.decode(id, token, now, { refuseEmptyRecord: true })
      if (Option.isNone(found)) return
      const { appId } = yield* WeChatConfig.WeChatConfig
      yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.set(appId, found.value.token))
    })),
    callback as Callback<void>
  )
