/**
 * The WeChat web login service of one app: authorize URLs with a signed state, the callback, code
 * exchange (de-duplicated), single-flight refreshes, and getUser with its refresh-and-retry policy.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { Scope as EffectScope } from "effect/Scope"
import * as Component from "./Component.js"
import * as Arguments from "./internal/arguments.js"
import * as Bounded from "./internal/boundedStore.js"
import * as ManagedApi from "./internal/component/api.js"
import { ComponentConfig, isAppId, managedAppConfig } from "./internal/component/config.js"
import * as Metrics from "./internal/metrics.js"
import * as Authorize from "./internal/oauth/authorize.js"
import type { Endpoints } from "./internal/oauth/endpoints.js"
import * as Exchange from "./internal/oauth/exchange.js"
import * as Refresh from "./internal/oauth/refresh.js"
import * as User from "./internal/oauth/userInfo.js"
import { withClockTraced } from "./internal/span.js"
import type * as OAuthToken from "./OAuthToken.js"
import * as RefreshLock from "./RefreshLock.js"
import * as RetryPolicy from "./RetryPolicy.js"
import * as TokenStore from "./TokenStore.js"
import type * as UserInfo from "./UserInfo.js"
import * as WeChatApi from "./WeChatApi.js"
import * as WeChatConfig from "./WeChatConfig.js"
import type * as WeChatError from "./WeChatError.js"

/**
 * Scopes of the official-account consent page.
 *
 * @since 0.1.0
 * @category models
 */
export type Scope = "snsapi_base" | "snsapi_userinfo"

/**
 * Options of `authorizeUrl`. Without `state`, a signed `StateToken` is made, carrying `returnTo` and
 * bound to `binding` (a per-browser value, e.g. a cookie) when given.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthorizeOptions {
  readonly redirectUri: string
  readonly scope?: Scope | undefined
  readonly state?: string | undefined
  readonly returnTo?: string | undefined
  readonly binding?: string | undefined
}

/**
 * Options of `websiteAuthorizeUrl` (Open Platform QR login, scope `snsapi_login`).
 *
 * @since 0.1.0
 * @category models
 */
export type WebsiteAuthorizeOptions = Omit<AuthorizeOptions, "scope">

/**
 * An authorize URL and the state it carries.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthorizeUrl {
  readonly url: string
  readonly state: string
}

/**
 * Options of `handleCallback`: compare with `expectedState` (e.g. kept in a cookie), or, without it,
 * verify the signed state, with the same `binding` it was made with.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallbackOptions {
  readonly expectedState?: string | undefined
  readonly binding?: string | undefined
  /**
   * Refuse a signed state made without a browser binding (`StateMismatch` with reason `Binding`),
   * as a login route that binds every state it makes should: a state the app signed elsewhere
   * without one (for a link, a QR code, a native app) then logs no browser in through this callback,
   * so a victim sent the callback URL of the attacker's own consent is not logged in as the
   * attacker. Default `false`. Not read with `expectedState` (the comparison is the check).
   */
  readonly requireBinding?: boolean | undefined
}

/**
 * What a handled callback gives: the stored token, and the `returnTo` path the state carried.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallbackResult {
  readonly token: OAuthToken.OAuthToken
  readonly returnTo: string | undefined
}

/**
 * How a code exchange fails. For an app managed by a platform (`makeForComponent`), also the
 * component token's failures: `ComponentTicketMissing` (a `RequestFailure`) and a
 * `RefreshLockTimeout` while another process fetches it.
 *
 * @since 0.1.0
 * @category models
 */
export type ExchangeError =
  | WeChatError.RequestFailure
  | WeChatError.TokenStoreError
  | WeChatError.InvalidArgument
  | WeChatError.RefreshLockTimeout

/**
 * How a refresh fails.
 *
 * @since 0.1.0
 * @category models
 */
export type RefreshError =
  | WeChatError.RequestFailure
  | WeChatError.InvalidArgument
  | WeChatError.TokenStoreError
  | WeChatError.TokenNotFound
  | WeChatError.RefreshLockTimeout

/**
 * The service.
 *
 * @since 0.1.0
 * @category models
 */
export interface WeChatOAuthShape {
  readonly appId: string
  /** The official-account consent URL (`/connect/oauth2/authorize`), `snsapi_base` by default. */
  readonly authorizeUrl: (options: AuthorizeOptions) => Effect.Effect<AuthorizeUrl, WeChatError.InvalidArgument>
  /** The website QR login URL (`/connect/qrconnect`, `snsapi_login`). */
  readonly websiteAuthorizeUrl: (
    options: WebsiteAuthorizeOptions
  ) => Effect.Effect<AuthorizeUrl, WeChatError.InvalidArgument>
  /**
   * Exchanges a code for a token and stores it. Concurrent exchanges of one code make one request;
   * a later repeat gets the same token only within 60 seconds and with the same `binding` (a clock
   * set back since the exchange ends the 60 seconds: such a repeat gets `CodeUsed`).
   */
  readonly exchangeCode: (
    code: string,
    options?: { readonly binding?: string | undefined }
  ) => Effect.Effect<OAuthToken.OAuthToken, ExchangeError>
  /** Handles the redirect back from WeChat: the full callback URL, or its query. */
  readonly handleCallback: (
    callback: string | URL | URLSearchParams,
    options?: CallbackOptions
  ) => Effect.Effect<
    CallbackResult,
    ExchangeError | WeChatError.ConsentDenied | WeChatError.StateMismatch
  >
  /** Refreshes the stored token (single-flight per user, through `RefreshLock`). */
  readonly refresh: (openid: string) => Effect.Effect<OAuthToken.OAuthToken, RefreshError>
  /** The user's profile, refreshing the token when needed (see `RetryPolicy`). `lang` defaults to `zh_CN`. */
  readonly getUser: (
    openid: string,
    options?: { readonly lang?: UserInfo.Lang | undefined }
  ) => Effect.Effect<UserInfo.UserInfo, RefreshError>
  /** Exchanges a code, then fetches the profile. */
  readonly getUserByCode: (
    code: string,
    options?: { readonly lang?: UserInfo.Lang | undefined; readonly binding?: string | undefined }
  ) => Effect.Effect<UserInfo.UserInfo, ExchangeError | RefreshError>
  /** False only when WeChat says the stored access token is invalid; a busy WeChat is an error. */
  readonly verifyAccessToken: (openid: string) => Effect.Effect<boolean, RefreshError>
  /** The stored token, if any (no call to WeChat). */
  readonly getToken: (
    openid: string
  ) => Effect.Effect<Option.Option<OAuthToken.OAuthToken>, WeChatError.TokenStoreError | WeChatError.InvalidArgument>
  /** Forgets the stored token (log out). */
  readonly removeToken: (
    openid: string
  ) => Effect.Effect<void, WeChatError.TokenStoreError | WeChatError.InvalidArgument>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class WeChatOAuth extends Context.Tag("@wxauth/core/WeChatOAuth")<WeChatOAuth, WeChatOAuthShape>() {}

/**
 * Refreshes WeChat granted (a refresh that fails is counted in `wxauth_errors_total`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const refreshesTotal: Metric.Metric.Counter<number> = Metrics.refreshesTotal

/** The refresh keyed on the token a caller read, of each service this module built. */
const refreshesAfter = new WeakMap<
  WeChatOAuthShape,
  (openid: string, seenObtainedAt: number) => Effect.Effect<OAuthToken.OAuthToken, RefreshError>
>()

/**
 * For a `getUser` made outside `WeChatOAuth` (`@wxauth/compat`'s, which reads the stored token
 * itself and calls `refreshAccessToken`): refreshes `openid`'s stored token unless the store already
 * holds a newer one than the token the caller read, whose `obtainedAt` is `seenObtainedAt` (another
 * caller refreshed it meanwhile: that token is the answer). Callers that read the same token share
 * one refresh, in this process and, through the `RefreshLock` and the store's re-read under it,
 * across processes, as `oauth.getUser`'s own refreshes do. `oauth.refresh(openid)` reads the store
 * first and keys on what it reads then: a caller whose read came before another caller's refresh
 * was stored, and whose `refresh` read came after, would refresh once more.
 *
 * `oauth` must be a service built by this module (`make`, `layer`, `makeForComponent`...); another
 * value, an `openid` outside the user-id rule, or a `seenObtainedAt` that is not a finite number, is
 * an `InvalidArgument`.
 *
 * @since 0.2.0
 * @category combinators
 */
export const refreshAfter = (
  oauth: WeChatOAuthShape,
  openid: string,
  seenObtainedAt: number
): Effect.Effect<OAuthToken.OAuthToken, RefreshError> =>
  Effect.suspend(() => {
    // a WeakMap reads no property of its key: a Proxy's traps are not run
    const run = typeof oauth === "object" && oauth !== null ? refreshesAfter.get(oauth) : undefined
    if (run === undefined) {
      return Arguments.fail("oauth", "must be a WeChatOAuth service built by @wxauth/core")
    }
    if (typeof seenObtainedAt !== "number" || !Number.isFinite(seenObtainedAt)) {
      return Arguments.fail("seenObtainedAt", "must be a finite number (the obtainedAt of the token read)")
    }
    return run(openid, seenObtainedAt)
  })

/**
 * Builds the service for the `WeChatConfig` in context with a retry policy (a whole `RetryPolicy`,
 * or the parts to replace in the default one; parts of the wrong type are a `ConfigError`). Call it
 * once per app to serve several apps (official account and website login are two apps).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWith = (
  policy: RetryPolicy.Overrides
): Effect.Effect<
  WeChatOAuthShape,
  ConfigError.ConfigError,
  WeChatConfig.WeChatConfig | HttpClient.HttpClient | TokenStore.TokenStore | EffectScope
> => Effect.flatMap(RetryPolicy.make(policy), build)

const build = (
  policy: RetryPolicy.RetryPolicy
): Effect.Effect<
  WeChatOAuthShape,
  never,
  WeChatConfig.WeChatConfig | HttpClient.HttpClient | TokenStore.TokenStore | EffectScope
> =>
  Effect.gen(function*() {
    const config = yield* WeChatConfig.WeChatConfig
    // the operations' own spans cover the endpoint calls
    const api = yield* WeChatApi.makeWith({ spans: false, policy })
    return yield* buildWith({ api, config, policy })
  })

/**
 * The service of one app over its endpoints: WeChat's own, or, for an app a platform manages
 * (`componentAppId`), the platform's component endpoints; the rules are the same.
 */
const buildWith = ({ api, componentAppId, config, policy }: {
  readonly api: Endpoints
  readonly config: WeChatConfig.WeChatConfigShape
  readonly policy: RetryPolicy.RetryPolicy
  readonly componentAppId?: string | undefined
}): Effect.Effect<WeChatOAuthShape, never, TokenStore.TokenStore | EffectScope> =>
  Effect.gen(function*() {
    // a store or lock of the caller's under a deadline, ours (the memory store: getUser's hot path
    // reads it) as they are
    const store = Bounded.tokenStore(yield* TokenStore.TokenStore)
    const lock = Bounded.refreshLock(Option.getOrElse(
      yield* Effect.serviceOption(RefreshLock.RefreshLock),
      () => RefreshLock.makeInProcess()
    ))
    const scope = yield* Effect.scope
    const appId = config.appId
    const urls = Authorize.makeUrls(config, componentAppId)
    const exchange = Exchange.make({
      api,
      config,
      lock,
      policy,
      scope,
      store,
      checkCallbackAppId: componentAppId !== undefined
    })
    const refresh = Refresh.make({ api, appId, lock, scope, store })
    const user = User.make({ api, appId, policy, store, ...refresh })
    const spanOptions = { captureStackTrace: false, attributes: { "wechat.app_id": appId } } as const
    const getUserSpan = {
      captureStackTrace: false,
      attributes: { "wechat.app_id": appId, "server.address": new URL(config.apiBaseUrl).host }
    } as const
    const withOpenid = <A, E>(openid: string, f: (openid: string) => Effect.Effect<A, E>) =>
      Arguments.checkOpenid(openid) ?? f(openid)
    /** The `lang` of a caller's options, read once, guarded (a revoked Proxy is an `InvalidArgument`). */
    const withLang = <A, E>(
      options: unknown,
      f: (lang: UserInfo.Lang) => Effect.Effect<A, E>
    ): Effect.Effect<A, E | WeChatError.InvalidArgument> => {
      // the hot path (no options) allocates nothing more
      if (options === undefined) return f("zh_CN")
      const fields = Arguments.readOptions("options", options, ["lang"])
      return Either.isLeft(fields)
        ? Effect.fail(fields.left)
        : f((fields.right?.lang as UserInfo.Lang | undefined) ?? "zh_CN")
    }

    const service = WeChatOAuth.of({
      appId,
      authorizeUrl: (options) =>
        urls.authorizeUrl(options).pipe(Effect.withSpan("WeChatOAuth.authorizeUrl", spanOptions)),
      websiteAuthorizeUrl: (options) =>
        urls.websiteAuthorizeUrl(options).pipe(
          Effect.withSpan("WeChatOAuth.websiteAuthorizeUrl", spanOptions)
        ),
      exchangeCode: (code, options) =>
        exchange.exchangeCode(code, options).pipe(Effect.withSpan("WeChatOAuth.exchangeCode", spanOptions)),
      handleCallback: (callback, options) =>
        exchange.handleCallback(callback, options).pipe(
          Effect.withSpan("WeChatOAuth.handleCallback", spanOptions)
        ),
      refresh: (openid) => withOpenid(openid, refresh.refresh),
      getUser: (openid, options) =>
        // the span (under a real tracer) covers the argument checks too, as every operation's does
        withClockTraced("WeChatOAuth.getUser", getUserSpan, (clock) =>
          withOpenid(openid, (openid) => withLang(options, (lang) => user.getUser(openid, lang, clock)))),
      getUserByCode: (code, options) =>
        withLang(options, (lang) =>
          Effect.flatMap(
            exchange.exchangeCode(code, options),
            (token) => user.userInfoRecovering(token, lang)
          )).pipe(Effect.withSpan("WeChatOAuth.getUserByCode", spanOptions)),
      verifyAccessToken: (openid) =>
        withOpenid(openid, user.verifyAccessToken).pipe(
          Effect.withSpan("WeChatOAuth.verifyAccessToken", spanOptions)
        ),
      getToken: (openid) => withOpenid(openid, (openid) => store.get(appId, openid)),
      removeToken: (openid) => withOpenid(openid, (openid) => store.remove(appId, openid))
    })
    refreshesAfter.set(
      service,
      (openid, seenObtainedAt) => withOpenid(openid, (openid) => refresh.refreshAfter(openid, seenObtainedAt))
    )
    return service
  })

/**
 * Builds the service with the default `RetryPolicy`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<
  WeChatOAuthShape,
  never,
  WeChatConfig.WeChatConfig | HttpClient.HttpClient | TokenStore.TokenStore | EffectScope
> = build(RetryPolicy.defaultPolicy)

/**
 * The service as a Layer. Needs an `HttpClient` (e.g. `WeChatHttpClient.layer()`), a `WeChatConfig`
 * and a `TokenStore`; uses the `RefreshLock` in context when there is one.
 *
 * @example
 * ```ts
 * import { TokenStore, WeChatConfig, WeChatHttpClient, WeChatOAuth } from "@wxauth/core"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 * import * as ManagedRuntime from "effect/ManagedRuntime"
 *
 * // WECHAT_APP_ID and WECHAT_APP_SECRET from the environment, tokens in this process's memory
 * const WeChatLive = WeChatOAuth.layer.pipe(
 *   Layer.provide(TokenStore.layerMemory),
 *   Layer.provide(WeChatConfig.layerFromEnv),
 *   Layer.provide(WeChatHttpClient.layer())
 * )
 * // built once, on first use, and shared by every request
 * const runtime = ManagedRuntime.make(WeChatLive)
 *
 * // the login route redirects to WeChat's consent page, with a signed state
 * const loginUrl = () =>
 *   runtime.runPromise(Effect.flatMap(WeChatOAuth.WeChatOAuth, (oauth) =>
 *     oauth.authorizeUrl({ redirectUri: "https://example.com/auth/wechat/callback", scope: "snsapi_userinfo" })
 *   )).then(({ url }) => url)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<
  WeChatOAuth,
  never,
  WeChatConfig.WeChatConfig | HttpClient.HttpClient | TokenStore.TokenStore
> = Layer.scoped(WeChatOAuth, make)

/**
 * The service as a Layer, with parts of the `RetryPolicy` replaced (a part of the wrong type fails
 * the layer with a `ConfigError`).
 *
 * @example
 * ```ts
 * import { WeChatOAuth } from "@wxauth/core"
 *
 * // no proactive refresh, and no retries of idempotent calls
 * const OAuthLive = WeChatOAuth.layerWith({ policy: { refreshSkew: 0, retryOn: () => false } })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options: {
  readonly policy: RetryPolicy.Overrides
}): Layer.Layer<
  WeChatOAuth,
  ConfigError.ConfigError,
  WeChatConfig.WeChatConfig | HttpClient.HttpClient | TokenStore.TokenStore
> =>
  Layer.scoped(
    WeChatOAuth,
    // read once, guarded: a throwing getter or a revoked Proxy is a ConfigError, never a defect
    Effect.flatMap(
      Effect.mapError(
        Arguments.readConfig(["policy"], options, ["policy"]),
        () => ConfigError.InvalidData(["policy"], "expected { policy: { ... } }")
      ),
      (fields) =>
        fields === undefined
          ? Effect.fail(ConfigError.InvalidData(["policy"], "expected { policy: { ... } }"))
          : makeWith(fields.policy as RetryPolicy.Overrides)
    )
  )

/**
 * Options of `makeForComponent` / `layerForComponent`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ComponentOptions {
  /** Parts of the `RetryPolicy` to replace. */
  readonly policy?: RetryPolicy.Overrides | undefined
  /**
   * Signs states (16 to 65,536 characters). Default: derived from the component secret and the
   * appid (stable across processes, different for each app). A registry of many apps passes its own.
   */
  readonly stateSecret?: Redacted.Redacted<string> | string | undefined
  /** Secrets whose states are still accepted, never used to sign: a rotation's (as `WeChatConfig`'s). */
  readonly acceptedStateSecrets?: ReadonlyArray<Redacted.Redacted<string> | string> | undefined
  /** How long a signed state stays valid. Default 10 minutes. */
  readonly stateTtl?: Duration.DurationInput | undefined
}

/**
 * Builds the service for an official account that authorized the platform in context
 * (`Component`): its methods are those of direct mode. Consent URLs carry `component_appid`; the
 * callback's `appid` must be this app's; codes are exchanged and tokens refreshed through the
 * platform's component endpoints with the component access token (after a 40001 / 42001 for that
 * token, once more with a new one); tokens are stored under the app's appid, with the same state,
 * code memo, `getUser` policy and `RefreshLock` as in direct mode. `websiteAuthorizeUrl` is refused
 * (website login is the website app's own). A wrong appid or option is a `ConfigError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeForComponent = (
  appId: string,
  options?: ComponentOptions | undefined
): Effect.Effect<
  WeChatOAuthShape,
  ConfigError.ConfigError,
  Component.Component | HttpClient.HttpClient | TokenStore.TokenStore | EffectScope
> =>
  Effect.gen(function*() {
    if (!isAppId(appId)) {
      return yield* Effect.fail(
        ConfigError.InvalidData(["appId"], "the appid of a managed app must be 1 to 45 characters of [A-Za-z0-9_-]")
      )
    }
    const fields = Arguments.optionsOf(options)
    if (fields === undefined) return yield* Effect.fail(ConfigError.InvalidData([], "expected an object of options"))
    const policy = yield* RetryPolicy.make(fields.policy as RetryPolicy.Overrides | undefined)
    const component = yield* Component.Component
    const config = yield* managedAppConfig(component.config, appId, {
      stateSecret: fields.stateSecret as Redacted.Redacted<string> | string | undefined,
      acceptedStateSecrets: fields.acceptedStateSecrets as
        | ReadonlyArray<Redacted.Redacted<string> | string>
        | undefined,
      stateTtl: fields.stateTtl as Duration.DurationInput | undefined
    })
    // the operations' own spans cover the endpoint calls
    const direct = yield* WeChatApi.makeWith({ spans: false, policy }).pipe(
      Effect.provideService(WeChatConfig.WeChatConfig, config)
    )
    const componentApi = yield* WeChatApi.makeComponentWith({ spans: false, policy }).pipe(
      Effect.provideService(ComponentConfig, component.config)
    )
    const api = ManagedApi.endpoints({
      appId,
      direct,
      component: componentApi,
      withAccessToken: component.withAccessToken
    })
    return yield* buildWith({ api, config, policy, componentAppId: component.componentAppId })
  })

/**
 * The service for an app the platform manages, as a Layer (see `makeForComponent`). Needs the
 * `Component`, an `HttpClient` and a `TokenStore`; uses the `RefreshLock` in context when there is
 * one.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerForComponent = (
  appId: string,
  options?: ComponentOptions | undefined
): Layer.Layer<
  WeChatOAuth,
  ConfigError.ConfigError,
  Component.Component | HttpClient.HttpClient | TokenStore.TokenStore
> => Layer.scoped(WeChatOAuth, makeForComponent(appId, options))
