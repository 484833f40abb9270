/**
 * Many WeChat apps in one service: a registry that finds an app's configuration by its appid (in a
 * list given at start, or through a resolver of yours, e.g. a database lookup, cached with a TTL) and
 * gives that app's `WeChatOAuth`, `MiniProgram` and `AppToken`, built on the app's first use. Every
 * app shares one `HttpClient`, one `TokenStore`, one `AppTokenStore`, one `SessionKeyStore` and one
 * `RefreshLock`; an idle app costs its configuration only.
 *
 * Logins of many apps can share one callback URL: `authorizeUrl(appId, ...)` makes a state that
 * carries the appid (signed with the registry's `stateSecret`), and `handleCallback` finds the app
 * from the verified state, never from a query parameter alone.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Metric from "effect/Metric"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as AppToken from "./AppToken.js"
import * as Login from "./internal/apps/login.js"
import * as Registry from "./internal/apps/registry.js"
import type * as MiniProgram from "./MiniProgram.js"
import type * as RetryPolicy from "./RetryPolicy.js"
import type * as TokenStore from "./TokenStore.js"
import type * as WeChatConfig from "./WeChatConfig.js"
import type * as WeChatError from "./WeChatError.js"
import type * as WeChatOAuth from "./WeChatOAuth.js"

/**
 * An app called with its own appid and secret: `WeChatConfig`'s options (without `stateSecret`,
 * which is the registry's), with its own retry policy and app-token options when they differ from
 * the defaults.
 *
 * @since 0.1.0
 * @category models
 */
export interface DirectApp extends Omit<WeChatConfig.Options, "stateSecret"> {
  readonly component?: false | undefined
  /** Parts of the `RetryPolicy` to replace for this app (its `WeChatOAuth` and `MiniProgram`). */
  readonly policy?: RetryPolicy.Overrides | undefined
  /** Options of this app's `AppToken` (mode, refresh window, a source of your own and its `sourceTimeout`). */
  readonly appToken?: AppToken.Options | undefined
}

/**
 * An official account or mini program that authorized the registry's third-party platform: called
 * through the `Component` in the registry's context, with the platform's credentials.
 *
 * @since 0.1.0
 * @category models
 */
export interface ComponentApp {
  /** At most 45 characters (the platform's keys in the stores); WeChat's have 18. */
  readonly appId: string
  readonly component: true
  readonly policy?: RetryPolicy.Overrides | undefined
  /** How long this app's login states stay valid (at most 1 day). Default: the registry's `stateTtl`. */
  readonly stateTtl?: Duration.DurationInput | undefined
}

/**
 * One app of the registry.
 *
 * @since 0.1.0
 * @category models
 */
export type App = DirectApp | ComponentApp

/**
 * A registry of a fixed list of apps, checked when the layer is built.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListOptions {
  readonly apps: ReadonlyArray<App>
}

/**
 * A registry that asks `resolve` for an app's configuration on the app's first use, and again when
 * the answer is older than `ttl`. `resolve` answers the app, or `undefined` / `null` /
 * `Option.none()` for an appid that is not one of yours (remembered for `unknownTtl`). Concurrent
 * uses of one appid make one call, which runs in the registry's scope: a caller that goes away (its
 * own timeout, its interruption) does not cut it for the others, and its answer is kept; it is
 * bounded by `resolveTimeout`. A failure or a timeout is not remembered.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolveOptions<E = never, R = never> {
  readonly resolve: (
    appId: string
  ) => Effect.Effect<App | undefined | null | Option.Option<App>, E, R>
  /** How long a resolved configuration is used before `resolve` is asked again. Default 5 minutes. */
  readonly ttl?: Duration.DurationInput | undefined
  /** How long an appid `resolve` did not know stays unknown. Default 1 minute (at most `ttl`). */
  readonly unknownTtl?: Duration.DurationInput | undefined
  /**
   * How many apps' configurations (and built services) are kept; the least recently used go first.
   * Default 10,000. Apart from them, as many unknown appids' answers are kept (about 0.5 KB of heap
   * each; they never push out an app), and as many calls of `resolve` run at once (they are never
   * dropped, and push out nothing). A resolution running is not small: about 40 KB of heap each
   * (its fiber, scope and timeout), held until it ends, at most `resolveTimeout`. So made-up appids
   * sent to a slow resolver can hold `capacity` running calls: about 400 MB at the default 10,000
   * for up to 5 seconds, besides about 5 MB of unknown answers. For a public `/login/:appId` route,
   * take a smaller `capacity` (1,000: about 40 MB) or a resolver that answers fast (and a short
   * `resolveTimeout`). An appid past the calls running fails at once with `AppResolveError`
   * (`Failed`), not remembered; an app kept within its `ttl` is served all the same. Warming more
   * appids than `capacity` at once (`Effect.forEach` with unbounded concurrency) fails the excess:
   * warm them at most `capacity` at a time.
   */
  readonly capacity?: number | undefined
  /**
   * How long one call of `resolve` may take (then `AppResolveError` with reason `Timeout`). Default
   * 5 seconds; at most 24 days, what a timer holds.
   */
  readonly resolveTimeout?: Duration.DurationInput | undefined
}

/**
 * What every app of the registry shares: the secret that signs login states (16 to 65,536
 * characters), and the states' default lifetime.
 *
 * @since 0.1.0
 * @category models
 */
export interface RegistryOptions {
  readonly stateSecret: Redacted.Redacted<string> | string
  /** Secrets whose states are still accepted, never used to sign: a rotation's (as `WeChatConfig`'s). */
  readonly acceptedStateSecrets?: ReadonlyArray<Redacted.Redacted<string> | string> | undefined
  /** How long a login state stays valid: at most 1 day (`WeChatConfig.maxStateTtl`). Default 10 minutes. */
  readonly stateTtl?: Duration.DurationInput | undefined
}

/**
 * How getting an app fails: `UnknownApp`, `AppResolveError` (the resolver failed, timed out or
 * answered something that is not an app), or `InvalidArgument` (not an appid at all).
 *
 * @since 0.1.0
 * @category models
 */
export type AppError = WeChatError.UnknownApp | WeChatError.AppResolveError | WeChatError.InvalidArgument

/**
 * What a multi-app callback gives: the app, the stored token and the state's return path.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoginResult extends WeChatOAuth.CallbackResult {
  readonly appId: string
}

/**
 * How a multi-app callback fails.
 *
 * @since 0.1.0
 * @category models
 */
export type LoginError =
  | AppError
  | WeChatOAuth.ExchangeError
  | WeChatError.ConsentDenied
  | WeChatError.StateMismatch

/**
 * @since 0.1.0
 * @category models
 */
export interface WeChatAppsShape {
  /** The app's web login service (built on first use). */
  readonly oauth: (appId: string) => Effect.Effect<WeChatOAuth.WeChatOAuthShape, AppError>
  /** The app's mini program service (built on first use), with the app's `AppToken`. */
  readonly miniProgram: (appId: string) => Effect.Effect<MiniProgram.MiniProgramShape, AppError>
  /** The app's access token (built on first use), kept in the shared `AppTokenStore`. */
  readonly appToken: (appId: string) => Effect.Effect<AppToken.AppTokenShape, AppError>
  /**
   * The app's consent URL, with a state that carries the appid (so leave `state` out): give every
   * app the same `redirectUri` and handle it with `handleCallback`. The state's return path has less
   * room than a single app's (`StateToken.maxReturnToBytesFor`).
   */
  readonly authorizeUrl: (
    appId: string,
    options: WeChatOAuth.AuthorizeOptions
  ) => Effect.Effect<WeChatOAuth.AuthorizeUrl, AppError>
  /** The website app's QR login URL, with a state that carries the appid. */
  readonly websiteAuthorizeUrl: (
    appId: string,
    options: WeChatOAuth.WebsiteAuthorizeOptions
  ) => Effect.Effect<WeChatOAuth.AuthorizeUrl, AppError>
  /**
   * The redirect back from WeChat for any app of the registry: the app is the one the state names,
   * once the state is verified (signature, expiry, `binding`); a component app's callback must name
   * the same app in its `appid` parameter. A state of app A never completes a login of app B.
   */
  readonly handleCallback: (
    callback: string | URL | URLSearchParams,
    options?: Pick<WeChatOAuth.CallbackOptions, "binding" | "requireBinding">
  ) => Effect.Effect<LoginResult, LoginError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class WeChatApps extends Context.Tag("@wxauth/core/WeChatApps")<WeChatApps, WeChatAppsShape>() {}

/**
 * Services the registry built for apps, tagged by `service` (`oauth`, `miniProgram`, `appToken`):
 * each app's first use of a service, or its first use after its configuration changed.
 *
 * @since 0.1.0
 * @category metrics
 */
export const buildsTotal: Metric.Metric.Counter<number> = Registry.buildsTotal

const build = (
  source: unknown,
  options: unknown
): Effect.Effect<
  WeChatAppsShape,
  ConfigError.ConfigError,
  HttpClient.HttpClient | TokenStore.TokenStore | Scope.Scope
> =>
  Effect.map(Registry.make(source, options), (registry) => {
    const login = Login.make(registry)
    return WeChatApps.of({
      oauth: (appId) => registry.service("oauth", appId),
      miniProgram: (appId) => registry.service("miniProgram", appId),
      appToken: (appId) => registry.service("appToken", appId),
      authorizeUrl: login.authorizeUrl,
      websiteAuthorizeUrl: login.websiteAuthorizeUrl,
      handleCallback: login.handleCallback
    })
  })

/**
 * Builds the registry in the current context: it needs an `HttpClient` and a `TokenStore`, and uses
 * the `AppTokenStore`, `SessionKeyStore` and `RefreshLock` in context when there are (its own memory
 * stores and in-process lock otherwise), and the `Component` for apps with `component: true`; a
 * resolver's own requirements come from the context too.
 * Apps of a list are checked here: a bad one is a `ConfigError` naming it (`apps.3.appSecret`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  (
    apps: ListOptions,
    options: RegistryOptions
  ): Effect.Effect<
    WeChatAppsShape,
    ConfigError.ConfigError,
    HttpClient.HttpClient | TokenStore.TokenStore | Scope.Scope
  >
  <E, R>(
    apps: ResolveOptions<E, R>,
    options: RegistryOptions
  ): Effect.Effect<
    WeChatAppsShape,
    ConfigError.ConfigError,
    HttpClient.HttpClient | TokenStore.TokenStore | Scope.Scope | R
  >
} = build as any

/**
 * The registry as a Layer (see `make`).
 *
 * @example
 * ```ts
 * import { TokenStore, WeChatApps, WeChatHttpClient } from "@wxauth/core"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 *
 * const AppsLive = WeChatApps.layer(
 *   {
 *     apps: [
 *       { appId: "wx1111111111111111", appSecret: process.env.SHOP_SECRET ?? "" },
 *       { appId: "wx2222222222222222", appSecret: process.env.CLUB_SECRET ?? "" }
 *     ]
 *   },
 *   { stateSecret: process.env.STATE_SECRET ?? "" }
 * ).pipe(Layer.provide(TokenStore.layerMemory), Layer.provide(WeChatHttpClient.layer()))
 *
 * // one callback URL for every app: the state says which app it is
 * const login = (appId: string) =>
 *   Effect.flatMap(WeChatApps.WeChatApps, (apps) =>
 *     apps.authorizeUrl(appId, { redirectUri: "https://example.com/wechat/callback", scope: "snsapi_userinfo" }))
 * const callback = (url: string) =>
 *   Effect.flatMap(WeChatApps.WeChatApps, (apps) => apps.handleCallback(url))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: {
  (
    apps: ListOptions,
    options: RegistryOptions
  ): Layer.Layer<WeChatApps, ConfigError.ConfigError, HttpClient.HttpClient | TokenStore.TokenStore>
  <E, R>(
    apps: ResolveOptions<E, R>,
    options: RegistryOptions
  ): Layer.Layer<
    WeChatApps,
    ConfigError.ConfigError,
    HttpClient.HttpClient | TokenStore.TokenStore | Exclude<R, Scope.Scope>
  >
} = (apps: unknown, options: unknown) => Layer.scoped(WeChatApps, build(apps, options)) as any
