/**
 * Mini program login: `wx.login()`'s code for the user's session (`jscode2session`), and the
 * decryption of the user data the mini program sends (AES-128-CBC with the session key, watermark
 * checked against the app).
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { Scope } from "effect/Scope"
import * as AppToken from "./AppToken.js"
import * as AppTokenStore from "./AppTokenStore.js"
import * as Component from "./Component.js"
import * as Arguments from "./internal/arguments.js"
import * as Bounded from "./internal/boundedStore.js"
import * as ManagedApi from "./internal/component/api.js"
import { ComponentConfig, isAppId, managedAppConfig } from "./internal/component/config.js"
import * as SessionKeyWrites from "./internal/sessionKeyWrites.js"
import * as SingleFlight from "./internal/singleFlight.js"
import { withSpanWhenTraced } from "./internal/span.js"
import * as MiniProgramCrypto from "./MiniProgramCrypto.js"
import * as RetryPolicy from "./RetryPolicy.js"
import * as SessionKeyStore from "./SessionKeyStore.js"
import * as TokenStore from "./TokenStore.js"
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
 * How `code2Session` fails. For a mini program managed by a platform (`makeForComponent`), also
 * the component token's failures: `ComponentTicketMissing` (a `RequestFailure`), its store's
 * `TokenStoreError` and a `RefreshLockTimeout` while another process fetches it.
 *
 * @since 0.1.0
 * @category models
 */
export type Code2SessionError =
  | WeChatError.RequestFailure
  | WeChatError.InvalidArgument
  | WeChatError.TokenStoreError
  | WeChatError.RefreshLockTimeout

/**
 * @since 0.1.0
 * @category models
 */
export interface MiniProgramShape {
  readonly appId: string
  /**
   * Exchanges a `wx.login()` code (single-use) for the session. Retried only when WeChat answered
   * `-1` or the connection was refused before the request was sent. Concurrent calls with the same
   * code (a client that sends its login request again while the first is in flight) share one
   * request and its answer; nothing is kept once it ends, so a later call with the code is WeChat's
   * `CodeUsed`. The session key is stored for `checkSessionKey` / `resetSessionKey` unless a call of
   * this service sent after this one (another code of the user, a reset) stored the user's key
   * first: WeChat's current key is the one of the call it handled last, and calls are ordered by
   * when they were sent, not by when their answers came (see `resetSessionKey`). The session
   * answered is WeChat's answer either way.
   */
  readonly code2Session: (
    jsCode: string
  ) => Effect.Effect<Session, Code2SessionError>
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
   * 87009, true only for WeChat's own yes, `{"errcode":0,"errmsg":"ok"}` or `{"errcode":0}` (any
   * other answer is a `MalformedResponse`). `SessionKeyNotFound` when no key is stored (the user must log in again).
   */
  readonly checkSessionKey: (
    openid: string
  ) => Effect.Effect<boolean, AppToken.AppTokenError | WeChatError.SessionKeyNotFound>
  /**
   * A new session key for the user (`wxa/resetusersessionkey`, signed with the stored key); it
   * replaces the stored one, unless a newer key was stored during the call: a login of the user
   * (`code2Session`) in this process sent after the reset, or any key other than the one the reset
   * was signed with (a login in another process). An older key never replaces a newer one: the
   * newer stays and is the answer. (Across processes the store is read again and written with two
   * calls: a login stored by another process between them is still replaced, as are two logins of
   * one user answered by two processes, ordered by their answers.)
   */
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
    // only the exchange part of a policy applies: jscode2session is a single-use code's exchange
    // the operations' own spans cover the endpoint calls
    const api = yield* WeChatApi.makeWith({ policy: { ...RetryPolicy.defaultPolicy, ...retry }, spans: false })
    // the app token of the context, or this process's own
    const existing = yield* Effect.serviceOption(AppToken.AppToken)
    const appToken = Option.isSome(existing)
      ? existing.value
      : yield* AppToken.make.pipe(Effect.provide(AppTokenStore.layerMemory), Effect.orDie)
    return yield* buildWith({ api, appId: config.appId, appToken })
  })

/** The endpoints a mini program calls: WeChat's own, or a platform's for a mini program it manages. */
interface Endpoints {
  readonly code2Session: (jsCode: string) => Effect.Effect<WeChatApi.SessionResponse, Code2SessionError>
  readonly getUserPhoneNumber: WeChatApi.WeChatApiShape["getUserPhoneNumber"]
  readonly checkSession: WeChatApi.WeChatApiShape["checkSession"]
  readonly resetUserSessionKey: WeChatApi.WeChatApiShape["resetUserSessionKey"]
}

/** The service of one mini program over its endpoints and app token; session keys from the context or its own. */
const buildWith = ({ api, appId, appToken }: {
  readonly api: Endpoints
  readonly appId: string
  readonly appToken: AppToken.AppTokenShape
}): Effect.Effect<MiniProgramShape, never, Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    // a store of the caller's under a deadline, ours as they are
    const sessionKeys = Bounded.sessionKeyStore(Option.getOrElse(
      yield* Effect.serviceOption(SessionKeyStore.SessionKeyStore),
      () => Effect.runSync(SessionKeyStore.makeMemory())
    ))
    const spanOptions = { captureStackTrace: false, attributes: { "wechat.app_id": appId } } as const
    const storedKey = (openid: string) =>
      Effect.flatMap(
        sessionKeys.get(appId, openid),
        (key) =>
          Option.isSome(key)
            ? Effect.succeed(key.value)
            : Effect.fail(new WeChatError.SessionKeyNotFound({ appId, openid }))
      )
    // the user-id rule the session-key store holds its ids to: a bad openid is an InvalidArgument
    const checkedOpenid = Arguments.checkOpenid
    // the order of the session-key writes: an older key never replaces a newer one (sessionKeyWrites.ts)
    const writes = SessionKeyWrites.make()
    /**
     * One jscode2session request, the session key kept for checkSessionKey / resetSessionKey unless
     * a call sent after this one (a later login, a reset) has stored the user's key meanwhile.
     */
    const exchange = (jsCode: string): Effect.Effect<Session, Code2SessionError> =>
      writes.sent((ticket) =>
        Effect.flatMap(api.code2Session(jsCode), (response) => {
          const session: Session = {
            openid: response.openid,
            sessionKey: response.session_key,
            ...(response.unionid === undefined ? {} : { unionid: response.unionid })
          }
          // the key is kept for checkSessionKey / resetSessionKey; a store failure does not fail the login
          return writes.write(session.openid, ticket, (newerStored) =>
            newerStored
              ? Effect.succeed([session, false] as const)
              : sessionKeys.set(appId, session.openid, session.sessionKey).pipe(
                Effect.as([session, true] as const),
                Effect.catchAll((error) =>
                  Effect.logWarning("wxauth: could not store a session key").pipe(
                    Effect.annotateLogs({ appId, error: error.description }),
                    Effect.as([session, false] as const)
                  )
                )
              ))
        })
      )
    /**
     * WeChat's new key after a reset signed with `signed`: stored only if no call sent after the
     * reset has stored the user's key and the store still holds `signed` (a login, here or in another
     * process, may have stored a newer key during the call). Answers the key stored now: this one, or
     * the newer one that stays (WeChat's current key, as far as this process can tell); the reset's
     * own, unstored, when the user's key was removed meanwhile.
     */
    const storeReset = (
      openid: string,
      ticket: number,
      signed: Redacted.Redacted<string>,
      fresh: Redacted.Redacted<string>
    ) =>
      writes.write(openid, ticket, (newerStored) =>
        Effect.flatMap(sessionKeys.get(appId, openid), (latest): Effect.Effect<
          readonly [Redacted.Redacted<string>, boolean],
          WeChatError.TokenStoreError
        > => {
          if (!newerStored && Option.isSome(latest) && Redacted.value(latest.value) === Redacted.value(signed)) {
            return Effect.as(sessionKeys.set(appId, openid, fresh), [fresh, true] as const)
          }
          return Effect.as(
            Effect.logDebug("wxauth: a newer session key was stored during the reset; it is kept").pipe(
              Effect.annotateLogs({ appId })
            ),
            [
              Option.getOrElse(latest, () =>
                fresh),
              false
            ] as const
          )
        }))
    // Concurrent exchanges of one code share one request (WeChat answers a second one 40163): keyed
    // by the code's hash, run in the service's scope so a first caller who goes away does not cancel
    // it for the others. The session is handed over when the request ends, then forgotten.
    const sessions = SingleFlight.make<Session, Code2SessionError>(scope)
    return MiniProgram.of({
      appId,
      code2Session: (jsCode) =>
        (typeof jsCode === "string" && jsCodePattern.test(jsCode)
          ? sessions.run(TokenStore.hashCode(jsCode), exchange(jsCode))
          : invalidJsCode).pipe(Effect.withSpan("MiniProgram.code2Session", spanOptions)),
      getPhoneNumber: (code) =>
        appToken.withToken((token) =>
          api.getUserPhoneNumber(token, code)
        ).pipe(
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
            Effect.catchTag("InvalidSignature", () =>
              Effect.succeed(false))
          ))).pipe(Effect.withSpan("MiniProgram.checkSessionKey", spanOptions)),
      resetSessionKey: (openid) =>
        (checkedOpenid(openid) ?? Effect.flatMap(storedKey(openid), (key) =>
          writes.sent((ticket) =>
            appToken.withToken((token) =>
              api.resetUserSessionKey(token, openid, key)
            ).pipe(
              Effect.flatMap((answer) =>
                storeReset(openid, ticket, key, answer.session_key)
              )
            )
          ))).pipe(Effect.withSpan("MiniProgram.resetSessionKey", spanOptions)),
      decryptUserData: (sessionKey, encryptedData, iv) =>
        MiniProgramCrypto.decryptUserData({ appId, sessionKey, encryptedData, iv }).pipe(
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
  Effect.flatMap(exchangePolicy(retry), build)

/**
 * The policy of a caller's `retry`: only its exchange parts, read once under a guard (a Proxy whose
 * traps throw, or a revoked one, is a `ConfigError`).
 */
const exchangePolicy = (retry: unknown): Either.Either<RetryPolicy.RetryPolicy, ConfigError.ConfigError> =>
  Either.flatMap(
    Arguments.readConfig(["policy"], retry, ["exchangeRetryOn", "exchangeRetrySchedule"]),
    (parts) => RetryPolicy.make(parts === undefined ? (retry as RetryPolicy.Overrides) : parts)
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

/**
 * Builds the service for a mini program that authorized the platform in context (`Component`):
 * `code2Session` goes to `sns/component/jscode2session` with the component access token (after a
 * 40001 / 42001 for that token, once more with a new one); the phone number and session-key calls
 * use the app's token from the platform (`Component.appToken`); session keys are kept in the
 * `SessionKeyStore` in context, or this process's memory. A wrong appid or retry part is a
 * `ConfigError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeForComponent = (
  appId: string,
  retry?: Partial<RetryPolicy.ExchangeRetry> | undefined
): Effect.Effect<
  MiniProgramShape,
  ConfigError.ConfigError,
  Component.Component | HttpClient.HttpClient | Scope
> =>
  Effect.gen(function*() {
    if (!isAppId(appId)) {
      return yield* Effect.fail(
        ConfigError.InvalidData(["appId"], "the appid of a managed app must be 1 to 45 characters of [A-Za-z0-9_-]")
      )
    }
    const policy = yield* exchangePolicy(retry)
    const component = yield* Component.Component
    const config = yield* managedAppConfig(component.config, appId)
    const retrying = {
      ...RetryPolicy.defaultPolicy,
      exchangeRetryOn: policy.exchangeRetryOn,
      exchangeRetrySchedule: policy.exchangeRetrySchedule
    }
    // the operations' own spans cover the endpoint calls
    const direct = yield* WeChatApi.makeWith({ policy: retrying, spans: false }).pipe(
      Effect.provideService(WeChatConfig.WeChatConfig, config)
    )
    const componentApi = yield* WeChatApi.makeComponentWith({ policy: retrying, spans: false }).pipe(
      Effect.provideService(ComponentConfig, component.config)
    )
    const appToken = yield* Effect.orDie(component.appToken(appId))
    return yield* buildWith({
      api: ManagedApi.endpoints({ appId, direct, component: componentApi, withAccessToken: component.withAccessToken }),
      appId,
      appToken
    })
  })

/**
 * The service for a mini program the platform manages, as a Layer (see `makeForComponent`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerForComponent = (
  appId: string,
  retry?: Partial<RetryPolicy.ExchangeRetry> | undefined
): Layer.Layer<MiniProgram, ConfigError.ConfigError, Component.Component | HttpClient.HttpClient> =>
  Layer.scoped(MiniProgram, makeForComponent(appId, retry))
