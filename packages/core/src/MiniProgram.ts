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
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { Scope } from "effect/Scope"
import * as AppToken from "./AppToken.js"
import * as AppTokenStore from "./AppTokenStore.js"
import { withSpanWhenTraced } from "./internal/span.js"
import * as MiniProgramCrypto from "./MiniProgramCrypto.js"
import * as RetryPolicy from "./RetryPolicy.js"
import * as SessionKeyStore from "./SessionKeyStore.js"
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
  /**
   * The user's phone number from a `getPhoneNumber` button's code (single-use, 5 minutes), with the
   * app's access token (`AppToken`); the watermark must name this app.
   */
  readonly getPhoneNumber: (code: string) => Effect.Effect<PhoneInfo, AppToken.AppTokenError>
  /**
   * Whether the stored session key of the user is still WeChat's (`wxa/checksession`): false only on
   * 87009. `SessionKeyNotFound` when no key is stored (the user must log in again).
   */
  readonly checkSessionKey: (
    openid: string
  ) => Effect.Effect<boolean, AppToken.AppTokenError | WeChatError.SessionKeyNotFound>
  /** A new session key for the user (`wxa/resetusersessionkey`); it replaces the stored one. */
  readonly resetSessionKey: (
    openid: string
  ) => Effect.Effect<Redacted.Redacted<string>, AppToken.AppTokenError | WeChatError.SessionKeyNotFound>
}

/**
 * A user's phone number: `phoneNumber` (with the country code outside mainland China),
 * `purePhoneNumber`, `countryCode`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PhoneInfo {
  readonly phoneNumber: string
  readonly purePhoneNumber: string
  readonly countryCode: string
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

type Requirements = WeChatConfig.WeChatConfig | HttpClient.HttpClient | Scope

const build = (
  retry: RetryPolicy.ExchangeRetry
): Effect.Effect<MiniProgramShape, never, Requirements> =>
  Effect.gen(function*() {
    const config = yield* WeChatConfig.WeChatConfig
    const appId = config.appId
    // only the exchange part of a policy applies: jscode2session is a single-use code's exchange
    // the operations' own spans cover the endpoint calls
    const api = yield* WeChatApi.makeWith({ policy: { ...RetryPolicy.defaultPolicy, ...retry }, spans: false })
    // the app token and session keys of the context, or this process's own
    const existing = yield* Effect.serviceOption(AppToken.AppToken)
    const appToken = Option.isSome(existing)
      ? existing.value
      : yield* AppToken.make.pipe(Effect.provide(AppTokenStore.layerMemory), Effect.orDie)
    const sessionKeys = Option.getOrElse(
      yield* Effect.serviceOption(SessionKeyStore.SessionKeyStore),
      () => Effect.runSync(SessionKeyStore.makeMemory())
    )
    const spanOptions = { captureStackTrace: false, attributes: { "wechat.app_id": appId } } as const
    const storedKey = (openid: string) =>
      Effect.flatMap(
        sessionKeys.get(appId, openid),
        (key) =>
          Option.isSome(key)
            ? Effect.succeed(key.value)
            : Effect.fail(new WeChatError.SessionKeyNotFound({ appId, openid }))
      )
    const checkedOpenid = (openid: unknown) =>
      typeof openid === "string" && openid.length > 0 && openid.length <= 128
        ? undefined
        : Effect.fail(
          new WeChatError.InvalidArgument({
            argument: "openid",
            description: "must be a non-empty string of at most 128 characters"
          })
        )
    return MiniProgram.of({
      appId,
      code2Session: (jsCode) =>
        (typeof jsCode === "string" && jsCodePattern.test(jsCode)
          ? Effect.flatMap(api.code2Session(jsCode), (response) => {
            const session: Session = {
              openid: response.openid,
              sessionKey: response.session_key,
              ...(response.unionid === undefined ? {} : { unionid: response.unionid })
            }
            // the key is kept for checkSessionKey / resetSessionKey; a store failure does not fail the login
            return sessionKeys.set(appId, session.openid, session.sessionKey).pipe(
              Effect.catchAll((error) =>
                Effect.logWarning("wxauth: could not store a session key").pipe(
                  Effect.annotateLogs({ appId, error: error.description })
                )
              ),
              Effect.as(session)
            )
          })
          : invalidJsCode).pipe(Effect.withSpan("MiniProgram.code2Session", spanOptions)),
      getPhoneNumber: (code) =>
        appToken.withToken((token) => api.getUserPhoneNumber(token, code)).pipe(
          Effect.map((info): PhoneInfo => ({
            phoneNumber: info.phoneNumber,
            purePhoneNumber: info.purePhoneNumber,
            countryCode: info.countryCode
          })),
          // a hot path: a span only for a real tracer
          withSpanWhenTraced("MiniProgram.getPhoneNumber", spanOptions)
        ),
      checkSessionKey: (openid) =>
        (checkedOpenid(openid) ?? Effect.flatMap(storedKey(openid), (key) =>
          appToken.withToken((token) =>
            api.checkSession(token, openid, key)
          ).pipe(
            Effect.as(true),
            Effect.catchTag("InvalidSignature", () => Effect.succeed(false))
          ))).pipe(Effect.withSpan("MiniProgram.checkSessionKey", spanOptions)),
      resetSessionKey: (openid) =>
        (checkedOpenid(openid) ?? Effect.flatMap(storedKey(openid), (key) =>
          appToken.withToken((token) =>
            api.resetUserSessionKey(token, openid, key)
          ).pipe(
            Effect.tap((answer) =>
              sessionKeys.set(appId, openid, answer.session_key)
            ),
            Effect.map((answer) => answer.session_key)
          ))).pipe(Effect.withSpan("MiniProgram.resetSessionKey", spanOptions)),
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
): Effect.Effect<MiniProgramShape, ConfigError.ConfigError, Requirements> =>
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
export const make: Effect.Effect<MiniProgramShape, never, Requirements> = build(
  RetryPolicy.defaultPolicy
)

/**
 * The service as a Layer; needs an `HttpClient` and the mini program's `WeChatConfig`. Uses the
 * `AppToken` and `SessionKeyStore` in context when provided (shared by every process, e.g. on
 * Redis); otherwise this process keeps its own app token and session keys in memory.
 *
 * @example
 * ```ts
 * import { MiniProgram, WeChatConfig, WeChatHttpClient } from "@wxauth/core"
 * import * as Config from "effect/Config"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 * import * as ManagedRuntime from "effect/ManagedRuntime"
 *
 * const MiniProgramLive = MiniProgram.layer.pipe(
 *   Layer.provide(WeChatConfig.layerConfig({
 *     appId: Config.string("WECHAT_MINI_APP_ID"),
 *     appSecret: Config.redacted("WECHAT_MINI_APP_SECRET")
 *   })),
 *   Layer.provide(WeChatHttpClient.layer())
 * )
 * // built once, on first use: one app token and one session-key store for every request
 * const runtime = ManagedRuntime.make(MiniProgramLive)
 *
 * // the login route, with the code from wx.login() that the mini program sent
 * const login = (jsCode: string) =>
 *   runtime.runPromise(Effect.flatMap(MiniProgram.MiniProgram, (mini) => mini.code2Session(jsCode)))
 *     .then((session) => session.openid) // session.sessionKey stays on the server, Redacted
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<MiniProgram, never, WeChatConfig.WeChatConfig | HttpClient.HttpClient> = Layer
  .scoped(MiniProgram, make)
