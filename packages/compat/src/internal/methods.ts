/**
 * What each method of the OAuth class does by default, as an effect on the client's services: the
 * class's methods run these, and `getUser` / `getUserByCode` run them in place of a call through
 * `this` when the client does not override the method (same behaviour, without a callback round
 * trip).
 *
 * @internal
 */
import {
  MiniProgram,
  MiniProgramCrypto,
  type OAuthToken,
  TokenStore,
  WeChatApi,
  WeChatConfig,
  type WeChatError,
  WeChatOAuth
} from "@wxauth/core"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { AccessToken, toTokenData } from "../AccessToken.js"
import { CompatError } from "../CompatError.js"
import type { SessionData } from "../OAuth.js"
import { parseLang, toUserProfile, type UserProfile } from "./convert.js"
import * as Hooks from "./hooks.js"
import type { ClientServices } from "./lifecycle.js"
import { argumentOf, textArgument } from "./options.js"
import * as Refresh from "./refresh.js"
import { textOf } from "./runtime.js"

/** @internal */
export interface Dependencies {
  /** The client, `this` of its hooks. */
  readonly self: object
  /** The client's appid now (the decryption checks the watermark against it). */
  readonly appid: () => unknown
  /** The app's `saveToken`, handed a mini program's session; `undefined` without one. */
  readonly sessionHook: () => Hooks.SaveTokenHook | undefined
  readonly hookTimeout: () => Duration.Duration
  /** Tokens are read through the app's `getToken` hook (not the memory store, nor a `tokenStore`). */
  readonly readsThroughHook: () => boolean
  /** Tokens are saved through the app's `saveToken` hook: nothing can be removed. */
  readonly savesThroughHook: () => boolean
}

/** The `store` annotation of core's logs about a removal, when tokens are saved through `saveToken`. */
const nothingRemoved = "saveToken hook: nothing is removed (no remove hook)"

const decryptMessages = {
  WatermarkMismatch: "Invalid Watermark, Be Sure to Check Again",
  other: "Illegal Buffer, Is Your Data Correct?"
}

/** @internal */
export type Methods = ReturnType<typeof make>

/** @internal */
export const make = (deps: Dependencies) => {
  /** The user's stored token in the client's store (its memory, the hooks, or a `tokenStore`). */
  const getToken = (openid: string): Effect.Effect<Option.Option<OAuthToken.OAuthToken>, unknown, ClientServices> =>
    Effect.flatMap(
      WeChatConfig.WeChatConfig,
      ({ appId }) => Effect.flatMap(TokenStore.TokenStore, (store) => store.get(appId, openid))
    )

  /** `/sns/userinfo` with `accessToken` for `options.openid` (`lang` default `en`, as `wechat-oauth`'s). */
  const getUserInfo = (options: unknown, accessToken: unknown): Effect.Effect<UserProfile, unknown, ClientServices> =>
    Effect.gen(function*() {
      const openid = yield* textArgument(
        "openid",
        typeof options === "string" ? options : yield* argumentOf("options", options, "openid")
      )
      const lang = yield* parseLang(yield* argumentOf("options", options, "lang"), "en")
      const token = yield* textArgument("accessToken", accessToken)
      const api = yield* WeChatApi.WeChatApi
      return toUserProfile(yield* api.userInfo(Redacted.make(token), openid, lang))
    })

  /**
   * See `refresh.ts`: through core's single-flight and `RefreshLock`, whichever way it is called. A
   * refresh token WeChat rejects has core ask the store to remove the stored token: with a
   * `saveToken` hook, the logs say that nothing is removed (no remove hook), as a login's do.
   */
  const refreshAccessToken = (
    refreshToken: unknown,
    hint: Refresh.Hint | undefined
  ): Effect.Effect<AccessToken, unknown, ClientServices> =>
    Effect.flatMap(Refresh.Refresher, (refresher) => {
      let refresh = hint === undefined
        ? Effect.flatMap(textArgument("refreshToken", refreshToken), refresher.byRefreshToken)
        : refresher.fromHint(hint)
      if (deps.savesThroughHook()) refresh = Effect.annotateLogs(refresh, "store", nothingRemoved)
      return Effect.map(refresh, (token) => new AccessToken(toTokenData(token)))
    })

  /**
   * The code exchange (one request for concurrent exchanges of one code), saved through the store.
   * The store's reads around the save, through a `getToken` hook, answer "no token" without calling
   * it (`Hooks.inExchange`): one `saveToken`, as in `wechat-oauth`; the logs say that nothing is
   * removed through the hooks.
   */
  const getAccessToken = (code: unknown): Effect.Effect<AccessToken, unknown, ClientServices> =>
    Effect.gen(function*() {
      const text = yield* textArgument("code", code)
      const oauth = yield* WeChatOAuth.WeChatOAuth
      let exchange = oauth.exchangeCode(text)
      if (deps.readsThroughHook()) {
        exchange = Effect.locally(exchange, Hooks.inExchange, true)
      }
      if (deps.savesThroughHook()) {
        // core's warning says "removing it and writing again": there is no remove hook
        exchange = Effect.annotateLogs(exchange, "store", nothingRemoved)
      }
      return new AccessToken(toTokenData(yield* exchange))
    })

  /** `jscode2session`; the session is handed to the app's `saveToken` when it gave one. */
  const getSessionKey = (code: unknown): Effect.Effect<AccessToken<SessionData>, unknown, ClientServices> =>
    Effect.gen(function*() {
      const text = yield* textArgument("code", code)
      const mini = yield* MiniProgram.MiniProgram
      const session = yield* mini.code2Session(text)
      const now = yield* Clock.currentTimeMillis
      const data: SessionData = {
        session_key: Redacted.value(session.sessionKey),
        openid: session.openid,
        ...(session.unionid === undefined ? {} : { unionid: session.unionid }),
        create_at: now
      }
      const hook = deps.sessionHook()
      if (hook !== undefined) {
        yield* Hooks.callHook<void>("saveToken", deps.hookTimeout(), hook, deps.self, [data.openid, data])
      }
      return new AccessToken(data)
    })

  /** Decryption with the watermark checked against the appid, failing with `wechat-oauth`'s messages. */
  const decryptMiniProgramUser = (
    options: unknown
  ): Effect.Effect<MiniProgramCrypto.UserData, CompatError | WeChatError.InvalidArgument> =>
    Effect.gen(function*() {
      const text = (key: string) =>
        Effect.map(argumentOf("options", options, key), (value) => typeof value === "string" ? value : "")
      const sessionKey = yield* text("sessionKey")
      const encryptedData = yield* text("encryptedData")
      const iv = yield* text("iv")
      const decrypted = MiniProgramCrypto.decryptUserDataSync({
        appId: textOf(deps.appid()) ?? "",
        sessionKey: Redacted.make(sessionKey),
        encryptedData,
        iv
      })
      if (Either.isRight(decrypted)) return decrypted.right
      const error = decrypted.left
      return yield* Effect.fail(
        new CompatError({
          name: "WeChatAPIDecryptError",
          tag: error._tag,
          message: error.reason === "WatermarkMismatch" ? decryptMessages.WatermarkMismatch : decryptMessages.other,
          reason: error.reason,
          cause: error
        })
      )
    })

  /** `/sns/auth`: WeChat's own yes only. */
  const verifyToken = (
    openid: unknown,
    accessToken: unknown
  ): Effect.Effect<{ errcode: 0; errmsg: "ok" }, unknown, ClientServices> =>
    Effect.gen(function*() {
      const token = yield* textArgument("accessToken", accessToken)
      const id = yield* textArgument("openid", openid)
      const api = yield* WeChatApi.WeChatApi
      yield* api.auth(Redacted.make(token), id)
      return { errcode: 0 as const, errmsg: "ok" as const }
    })

  return {
    getToken,
    _getUser: getUserInfo,
    refreshAccessToken,
    getAccessToken,
    getSessionKey,
    decryptMiniProgramUser,
    verifyToken
  }
}
