/**
 * The WeChat web login service of one app: authorize URLs with a signed state, the callback, code
 * exchange (de-duplicated), single-flight refreshes, and getUser with its refresh-and-retry policy.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type { Scope as EffectScope } from "effect/Scope"
import * as Arguments from "./internal/arguments.js"
import * as Metrics from "./internal/metrics.js"
import * as Authorize from "./internal/oauth/authorize.js"
import * as Exchange from "./internal/oauth/exchange.js"
import * as Refresh from "./internal/oauth/refresh.js"
import * as User from "./internal/oauth/userInfo.js"
import { withSpanWhenTraced } from "./internal/span.js"
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
 * How a code exchange fails.
 *
 * @since 0.1.0
 * @category models
 */
export type ExchangeError = WeChatError.RequestFailure | WeChatError.TokenStoreError | WeChatError.InvalidArgument

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
   * a later repeat gets the same token only within 60 seconds and with the same `binding`.
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
    const store = yield* TokenStore.TokenStore
    // the operations' own spans cover the endpoint calls
    const api = yield* WeChatApi.makeWith({ spans: false, policy })
    const lock = Option.getOrElse(
      yield* Effect.serviceOption(RefreshLock.RefreshLock),
      () => RefreshLock.makeInProcess()
    )
    const scope = yield* Effect.scope
    const appId = config.appId
    const urls = Authorize.makeUrls(config)
    const exchange = Exchange.make({ api, config, policy, scope, store })
    const refresh = Refresh.make({ api, appId, lock, scope, store })
    const user = User.make({ api, appId, policy, store, ...refresh })
    const spanOptions = { captureStackTrace: false, attributes: { "wechat.app_id": appId } } as const
    const getUserSpan = {
      captureStackTrace: false,
      attributes: { "wechat.app_id": appId, "server.address": new URL(config.apiBaseUrl).host }
    } as const
    const withOpenid = <A, E>(openid: string, f: (openid: string) => Effect.Effect<A, E>) =>
      Arguments.checkOpenid(openid) ?? f(openid)

    return WeChatOAuth.of({
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
        withOpenid(openid, (openid) => user.getUser(openid, options?.lang ?? "zh_CN")).pipe(
          withSpanWhenTraced("WeChatOAuth.getUser", getUserSpan)
        ),
      getUserByCode: (code, options) =>
        Effect.flatMap(
          exchange.exchangeCode(code, options),
          (token) => user.userInfoRecovering(token, options?.lang ?? "zh_CN")
        ).pipe(Effect.withSpan("WeChatOAuth.getUserByCode", spanOptions)),
      verifyAccessToken: (openid) =>
        withOpenid(openid, user.verifyAccessToken).pipe(
          Effect.withSpan("WeChatOAuth.verifyAccessToken", spanOptions)
        ),
      getToken: (openid) => withOpenid(openid, (openid) => store.get(appId, openid)),
      removeToken: (openid) => withOpenid(openid, (openid) => store.remove(appId, openid))
    })
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
    Authorize.isOptionsObject(options)
      ? makeWith(options.policy)
      : Effect.fail(ConfigError.InvalidData(["policy"], "expected { policy: { ... } }"))
  )
