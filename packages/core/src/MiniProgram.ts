/**
 * Mini program login: `wx.login()`'s code for the user's session (`jscode2session`), and the
 * decryption of the user data the mini program sends (AES-128-CBC with the session key, watermark
 * checked against the app).
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as MiniProgramCrypto from "./MiniProgramCrypto.js"
import * as RefreshPolicy from "./RefreshPolicy.js"
import * as WeChatApi from "./WeChatApi.js"
import * as WeChatConfig from "./WeChatConfig.js"
import * as WeChatError from "./WeChatError.js"

/**
 * A mini program user's session. Keep the `sessionKey` on the server: it decrypts the user's data.
 *
 * @since 0.1.0
 * @category models
 */
export interface Session {
  readonly openid: string
  readonly sessionKey: Redacted.Redacted<string>
  readonly unionid?: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface MiniProgramShape {
  readonly appId: string
  /**
   * Exchanges a `wx.login()` code (single-use) for the session. Retried only when WeChat answered
   * `-1` or the connection was refused before the request was sent.
   */
  readonly code2Session: (
    jsCode: string
  ) => Effect.Effect<Session, WeChatError.RequestFailure | WeChatError.InvalidArgument>
  /** Decrypts `encryptedData` with the session key; the watermark must name this app. */
  readonly decryptUserData: (
    sessionKey: Redacted.Redacted<string>,
    encryptedData: string,
    iv: string
  ) => Effect.Effect<MiniProgramCrypto.UserData, WeChatError.DecryptError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class MiniProgram extends Context.Tag("@wxauth/core/MiniProgram")<MiniProgram, MiniProgramShape>() {}

const jsCodePattern = /^[\x21-\x7e]{1,512}$/

/**
 * Builds the service for the `WeChatConfig` (a mini program's appid and secret) in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWith = (
  policy: RefreshPolicy.RefreshPolicy
): Effect.Effect<MiniProgramShape, never, WeChatConfig.WeChatConfig | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const config = yield* WeChatConfig.WeChatConfig
    const api = yield* WeChatApi.make
    return MiniProgram.of({
      appId: config.appId,
      code2Session: (jsCode): Effect.Effect<Session, WeChatError.RequestFailure | WeChatError.InvalidArgument> =>
        (typeof jsCode === "string" && jsCodePattern.test(jsCode)
          ? RefreshPolicy.retrying(
            api.code2Session(jsCode),
            policy.isExchangeRetryable,
            policy.exchangeRetry,
            "jscode2session"
          ).pipe(Effect.map((response): Session => ({
            openid: response.openid,
            sessionKey: response.session_key,
            ...(response.unionid === undefined ? {} : { unionid: response.unionid })
          })))
          : Effect.fail<WeChatError.RequestFailure | WeChatError.InvalidArgument>(
            new WeChatError.InvalidArgument({
              argument: "jsCode",
              description: "must be 1 to 512 printable characters"
            })
          )).pipe(Effect.withSpan("MiniProgram.code2Session", { captureStackTrace: false })),
      decryptUserData: (sessionKey, encryptedData, iv) =>
        MiniProgramCrypto.decryptUserData({ appId: config.appId, sessionKey, encryptedData, iv }).pipe(
          Effect.withSpan("MiniProgram.decryptUserData", { captureStackTrace: false })
        )
    })
  })

/**
 * Builds the service with the default policy.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<MiniProgramShape, never, WeChatConfig.WeChatConfig | HttpClient.HttpClient> = makeWith(
  RefreshPolicy.defaultPolicy
)

/**
 * The service as a Layer; needs an `HttpClient` and the mini program's `WeChatConfig`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<MiniProgram, never, WeChatConfig.WeChatConfig | HttpClient.HttpClient> = Layer
  .effect(MiniProgram, make)
