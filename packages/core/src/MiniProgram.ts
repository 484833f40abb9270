/**
 * Mini program login: `wx.login()`'s code for the user's session (`jscode2session`), and the
 * decryption of the user data the mini program sends (AES-128-CBC with the session key, watermark
 * checked against the app).
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as MiniProgramCrypto from "./MiniProgramCrypto.js"
import * as RetryPolicy from "./RetryPolicy.js"
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

const invalidJsCode = Effect.fail(
  new WeChatError.InvalidArgument({ argument: "jsCode", description: "must be 1 to 512 printable characters" })
)

const build = (
  retry: RetryPolicy.ExchangeRetry
): Effect.Effect<MiniProgramShape, never, WeChatConfig.WeChatConfig | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const config = yield* WeChatConfig.WeChatConfig
    // only the exchange part of a policy applies: jscode2session is a single-use code's exchange
    const api = yield* WeChatApi.makeWith({ policy: { ...RetryPolicy.defaultPolicy, ...retry } })
    return MiniProgram.of({
      appId: config.appId,
      code2Session: (jsCode) =>
        (typeof jsCode === "string" && jsCodePattern.test(jsCode)
          ? Effect.map(api.code2Session(jsCode), (response): Session => ({
            openid: response.openid,
            sessionKey: response.session_key,
            ...(response.unionid === undefined ? {} : { unionid: response.unionid })
          }))
          : invalidJsCode).pipe(Effect.withSpan("MiniProgram.code2Session", { captureStackTrace: false })),
      decryptUserData: (sessionKey, encryptedData, iv) =>
        MiniProgramCrypto.decryptUserData({ appId: config.appId, sessionKey, encryptedData, iv }).pipe(
          Effect.withSpan("MiniProgram.decryptUserData", { captureStackTrace: false })
        )
    })
  })

/**
 * Builds the service for the `WeChatConfig` (a mini program's appid and secret) in context, with
 * its own retry of the code exchange (parts of the wrong type are a `ConfigError`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWith = (
  retry: Partial<RetryPolicy.ExchangeRetry>
): Effect.Effect<MiniProgramShape, ConfigError.ConfigError, WeChatConfig.WeChatConfig | HttpClient.HttpClient> =>
  Effect.flatMap(
    RetryPolicy.make(
      typeof retry === "object" && retry !== null
        ? { exchangeRetryOn: retry.exchangeRetryOn, exchangeRetrySchedule: retry.exchangeRetrySchedule }
        : (retry as RetryPolicy.Overrides)
    ),
    build
  )

/**
 * Builds the service with the default policy.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<MiniProgramShape, never, WeChatConfig.WeChatConfig | HttpClient.HttpClient> = build(
  RetryPolicy.defaultPolicy
)

/**
 * The service as a Layer; needs an `HttpClient` and the mini program's `WeChatConfig`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<MiniProgram, never, WeChatConfig.WeChatConfig | HttpClient.HttpClient> = Layer
  .effect(MiniProgram, make)
