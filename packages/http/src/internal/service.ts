/**
 * The login service: the options checked, one `WeChatOAuth` per official account and website app
 * and one `MiniProgram` per mini program (on the stores and HTTP client of the context, or memory
 * stores and core's lean client), the sessions, the hooks, and the login's `HttpApp` (routes and
 * JSON endpoints, see `routes.ts` and `api.ts`).
 *
 * @internal
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import {
  AppToken,
  AppTokenStore,
  MiniProgram,
  SessionStore,
  TokenStore,
  type UserInfo,
  WeChatApps,
  WeChatConfig,
  WeChatError,
  WeChatHttpClient,
  WeChatOAuth
} from "@wxauth/core"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { Scope } from "effect/Scope"
import { CrossSiteRequest, Unauthenticated, WeChatUser } from "../CurrentWeChatUser.js"
import type { Identity, LoginEvent, Options, Paths, WeChatLoginShape } from "../WeChatLogin.js"
import * as Api from "./api.js"
import * as Config_ from "./config.js"
import * as Cookies from "./cookies.js"
import * as Landing from "./landing.js"
import * as Routes from "./routes.js"
import * as SingleFlight from "./singleFlight.js"

/**
 * One app of the login, ready: its options and its WeChat service. An app of the options has the
 * key given there; an app of the `WeChatApps` registry has its appid as key.
 *
 * @internal
 */
export interface App {
  readonly key: string
  readonly kind: Config_.AppKind
  readonly appId: string
  readonly scope: "snsapi_base" | "snsapi_userinfo"
  readonly qrCode: Config_.QrCode
  readonly phoneNumber: boolean
  /** The origin of WeChat's consent pages (the embedded QR code's frame). */
  readonly openBaseUrl: string
  readonly oauth: Option.Option<WeChatOAuth.WeChatOAuthShape>
  readonly miniProgram: Option.Option<MiniProgram.MiniProgramShape>
}

/** The registry could not say which app a key is (its resolver or `kindOf` failed). @internal */
export class AppLookupFailed extends Data.TaggedError("AppLookupFailed")<{ readonly reason: string }> {}

/** How this site is reached by a request: its origin, and the cookies that go with its scheme. @internal */
export interface Site {
  readonly origin: string
  readonly secure: boolean
  readonly names: Cookies.CookieNames
  readonly cookie: ReturnType<typeof Cookies.options>
}

/**
 * The distinct well-formed session tokens a logout (or a new login) may look up and end: a browser
 * sends one, a planted copy of the cookie makes two, and a `Cookie` header may carry hundreds of
 * copies. @internal
 */
export const maxSessionCookies = 8

/**
 * A `Cookie` header carried more than `maxSessionCookies` distinct well-formed tokens under the
 * session cookie's name: none of them is looked up or ended. A logout is answered as when the
 * session store fails; a new login is completed all the same, and the failure is logged. @internal
 */
export class TooManySessionCookies extends Data.TaggedError("TooManySessionCookies") {}

/** A hook failed (or died, or took too long): the login stops. @internal */
export class HookFailed extends Data.TaggedError("HookFailed")<{ readonly hook: string }> {}

/** What the routes and the JSON endpoints work with. @internal */
export interface Login {
  readonly config: Config_.Resolved
  /** The apps of the options, in their order. */
  readonly apps: ReadonlyMap<string, App>
  /** The app of a key: one of the options', else one of the registry's (by appid). */
  readonly resolve: (key: string) => Effect.Effect<Option.Option<App>, AppLookupFailed>
  readonly sessions: SessionStore.SessionStoreShape
  readonly paths: InternalPaths
  readonly site: (request: HttpServerRequest.HttpServerRequest) => Site
  /** Whether a request that changes something comes from this site. */
  readonly sameSite: (request: HttpServerRequest.HttpServerRequest) => boolean
  /** The user of a request (bearer token, else session cookie). */
  readonly authenticate: Effect.Effect<
    WeChatUser,
    Unauthenticated | CrossSiteRequest | WeChatError.SessionStoreError,
    HttpServerRequest.HttpServerRequest
  >
  /**
   * Whether a request's `Cookie` header carries the session cookie's name more than once (a planted
   * copy beside the browser's own) and no bearer token decides who it is: `authenticate` reads it
   * as no session (`Missing`), and the JSON logouts end every copy's session (`endSentSessions`).
   */
  readonly sessionCookieSentTwice: (request: HttpServerRequest.HttpServerRequest) => boolean
  /** This browser's live session (by its session cookie), if any and accepted here (as `userOf`). */
  readonly browserSession: (
    request: HttpServerRequest.HttpServerRequest
  ) => Effect.Effect<Option.Option<SessionStore.Session>, WeChatError.SessionStoreError>
  /**
   * Ends the browser sessions of every well-formed token this request sent under the session
   * cookie's name, as the store keeps them, without asking the registry whether their app is still
   * served: the one rule of `POST /logout`, `POST /logout/everywhere`, their JSON twins when the
   * name is sent more than once, and of a new login, which replaces the session(s) this browser had
   * (`onLogout: false`). A name sent twice (a planted copy beside the browser's own, in either
   * order) is read as no session by everything else, but neither a logout nor a login can tell
   * which copy is this browser's, and both end every copy's session: a planted one is a session its
   * planter holds the token of, so ending it gives them nothing they could not do. A token sent
   * more than once is looked up once; more than `maxSessionCookies` distinct ones fail with
   * `TooManySessionCookies`, and none is looked up or ended. `everywhere` ends every session of
   * each of their users (once per user); `onLogout` runs once per session (everywhere: per user)
   * ended. Stops at the first store failure. `found`: the live browser sessions the tokens named;
   * `ended`: how many sessions ended.
   */
  readonly endSentSessions: (
    request: HttpServerRequest.HttpServerRequest,
    options: { readonly everywhere: boolean; readonly onLogout: boolean }
  ) => Effect.Effect<
    { readonly found: number; readonly ended: number },
    WeChatError.SessionStoreError | TooManySessionCookies
  >
  /** Runs the login's hooks and starts a session for an identity. */
  readonly completeLogin: (
    app: App,
    identity: Identity,
    kind: SessionStore.Kind,
    returnTo: string | undefined
  ) => Effect.Effect<
    { readonly token: Redacted.Redacted<string>; readonly session: SessionStore.Session; readonly event: LoginEvent },
    HookFailed | WeChatError.SessionStoreError
  >
  /** Where a browser goes after a login: `afterLogin`, else `returnTo`, else `home`. */
  readonly landing: (event: LoginEvent) => Effect.Effect<string, HookFailed>
  readonly runHook: <A>(name: string, run: () => Effect.Effect<A, unknown, any>) => Effect.Effect<A, HookFailed>
  /**
   * The user of a session, when this site accepts it: its app is served here (an app of the options,
   * or the registry's now) and of the session's kind. A registry failure is logged and answered as a
   * `SessionStoreError`.
   */
  readonly userOf: (
    session: SessionStore.Session
  ) => Effect.Effect<Option.Option<WeChatUser>, WeChatError.SessionStoreError>
  /**
   * Ends `user`'s session (or, `everywhere`, every session of the user in its app), then runs the
   * `onLogout` hook, whose failure is logged and does not undo the logout: how many sessions ended.
   */
  readonly endSessions: (user: WeChatUser, everywhere: boolean) => Effect.Effect<number, WeChatError.SessionStoreError>
  /**
   * Ends a stored session as it is (by its id hash; `everywhere`, every session of its appid and
   * openid), without asking the registry whether its app is still served, then (unless `onLogout` is
   * `false`) runs the `onLogout` hook as `endSessions` does: how many sessions ended.
   */
  readonly endSession: (
    session: SessionStore.Session,
    everywhere: boolean,
    onLogout?: boolean
  ) => Effect.Effect<number, WeChatError.SessionStoreError>
  readonly identityOf: (
    app: App,
    fields: { readonly openid: string; readonly unionid: string | undefined; readonly scopes: ReadonlyArray<string> }
  ) => Identity
  /**
   * The callbacks, by app, code and browser binding: a callback loaded twice at once (WeChat's
   * redirect, a double tap) is answered once, with one session and one `Set-Cookie`, in the login's
   * scope (a caller that goes away does not cut it for the other); an answer that started a session
   * is given again for a minute. Bounded (`maxCallbackFlights`).
   */
  readonly callbacks: SingleFlight.SingleFlight<HttpServerResponse.HttpServerResponse, never>
  /**
   * The mini program logins, by app and code: copies of one login in flight at once (`wx.request`
   * retried, a double tap) are answered once, with one session and one token, in the login's scope.
   * Nothing is remembered once the run ends: a request carries no binding to tell the mini program
   * that sent the code from anyone else who has it, so a later copy is WeChat's `code-used` (core's
   * rule for a code repeated without a binding). Bounded (`maxCallbackFlights`).
   */
  readonly miniProgramLogins: SingleFlight.SingleFlight<HttpServerResponse.HttpServerResponse, never>
}

/**
 * The words of the local errors this module makes, which a log may quote (bounded: one or two per
 * app). By their words, not their identity: a failure read back from a hook's `Cause` may be another
 * object (Effect copies an error that fails inside a span, to attach the span to it).
 */
const ownMessages = new Set<string>()
const own = (error: WeChatError.ScopeUnauthorized): WeChatError.ScopeUnauthorized => {
  if (ownMessages.size < 1024) ownMessages.add(error.errmsg)
  return error
}

/**
 * The profile of a mini program's user: there is none (a mini program's login, `jscode2session`,
 * gives no user token for `userinfo`). Decided here, without a WeChat call (`local`): its kind is
 * `permanent` (the app's type, not the user's consent), so no client is asked to log in again for
 * it (it would loop), and its message says what it is, with no WeChat permission to look for. Its
 * `endpoint` is the login's (`jscode2session`), app-level for `kindOf` on any core.
 */
const noProfile = own(
  new WeChatError.ScopeUnauthorized({
    errcode: 48001,
    errmsg: "A mini program's login (wx.login, jscode2session) gives no WeChat profile: userinfo is for " +
      "official accounts and websites only; ask the user for a nickname and avatar in the mini program itself",
    endpoint: "jscode2session",
    local: true
  })
)

/**
 * Whether a login's scopes may give a profile (`userinfo`): false only for a login known to be
 * `snsapi_base` alone (no `snsapi_userinfo`, no website `snsapi_login`). Scopes that say nothing
 * (none recorded) leave the answer to WeChat.
 *
 * @internal
 */
export const profileScopes = (scopes: ReadonlyArray<string>): boolean =>
  !scopes.includes("snsapi_base") || scopes.includes("snsapi_userinfo") || scopes.includes("snsapi_login")

/**
 * Whether a user's profile is refused here, without a WeChat call: only when the app is configured
 * with `snsapi_base` now (its options' or the registry's `scope`: a new login would be
 * `snsapi_base` again, so WeChat's 48001, `reauthorize`, would loop) and the login is known to be
 * `snsapi_base` alone. A session from before the app's scope became `snsapi_userinfo` goes to
 * WeChat with its stored token (which a later login may have replaced with an `snsapi_userinfo`
 * one): WeChat's 48001 is then `reauthorize`, and the new login asks for `snsapi_userinfo`.
 *
 * @internal
 */
export const refusesProfile = (app: Pick<App, "scope">, scopes: ReadonlyArray<string>): boolean =>
  app.scope === "snsapi_base" && !profileScopes(scopes)

/**
 * The profile of a user logged in with a scope that gives none (`snsapi_base`, an official
 * account's silent login) of an app still configured with it (`refusesProfile`): decided here,
 * without a WeChat call. WeChat would answer `userinfo`
 * with 48001, whose kind is `reauthorize`, and the new login (of the same scope) would loop: this
 * one is `local`, so `permanent`, and says which option to change. Its `endpoint` is the login's
 * (`access_token`, the code exchange that gave the token), app-level for `kindOf` on any core.
 */
const baseScopeNoProfile = (app: App, fromOptions: boolean) =>
  own(
    new WeChatError.ScopeUnauthorized({
      errcode: 48001,
      errmsg: app.kind === "officialAccount"
        ? "This official account's login scope (snsapi_base) gives no WeChat profile: set its scope option " +
          `to "snsapi_userinfo" (${
            fromOptions ? `apps.${app.key}.scope` : "registry.scope"
          } in WeChatLogin's options) for logins that can read the profile`
        : "This login's scope gives no WeChat profile (neither snsapi_userinfo nor snsapi_login was granted)",
      endpoint: "access_token",
      local: true
    })
  )

/**
 * How long `kindOf` may take when a request carries a registry app's session (it is asked on every
 * such request): past it, the request is answered as a registry failure (a 500), not held for the
 * hooks' 30 seconds. WeChatApps' default `resolveTimeout`.
 */
const sessionKindOfTimeout = Duration.seconds(5)

/**
 * How many callbacks (and mini program logins) are merged at once, and callback answers kept; past
 * it, a callback (a login) runs on its own.
 */
const maxCallbackFlights = 10_000

/**
 * How long a callback's answer that started a session is given to the same request again (app,
 * code, binding): core's longest code memo, within which the code would give the token again.
 */
const callbackAnswerTtl = Duration.seconds(60)

/** The paths, with the prefix. @internal */
export interface InternalPaths extends Paths {
  readonly prefix: "" | `/${string}`
  readonly loginBase: `/${string}`
  readonly callback: (app: string) => string
  readonly problem: (app: string | undefined, reason: string) => string
  readonly logout: `/${string}`
  readonly logoutEverywhere: `/${string}`
  readonly api: `/${string}`
  readonly openApi: `/${string}`
  readonly home: string
}

/** How long a hook may take. */
const hookTimeout = Duration.seconds(30)

/**
 * A value for a path segment or a query value: percent-encoded (`encodeURIComponent`), a lone
 * surrogate as U+FFFD (as the URL parser sends one: `encodeURIComponent` throws on it); `undefined`
 * for a value that is not a string (a JavaScript caller's `paths.login(42)`), never a throw.
 */
const encodeText = (value: unknown): string | undefined =>
  typeof value === "string" ? encodeURIComponent(value.toWellFormed()) : undefined

const makePaths = (config: Config_.Resolved): InternalPaths => {
  const prefix = config.pathPrefix as InternalPaths["prefix"]
  const loginBase = `${prefix}/login` as const
  return {
    prefix,
    loginBase,
    login: (app, returnTo) => {
      const key = encodeText(app)
      const path = key === undefined ? loginBase : `${loginBase}/${key}`
      const query = encodeText(returnTo)
      return query === undefined ? path : `${path}?returnTo=${query}`
    },
    callback: (app) => `${loginBase}/${encodeText(app)}/callback`,
    problem: (app, reason) => `${loginBase}/${encodeText(app) ?? "-"}/problem?reason=${encodeText(reason)}`,
    logout: `${prefix}/logout`,
    logoutEverywhere: `${prefix}/logout/everywhere`,
    api: `${prefix}/api/wechat`,
    openApi: `${prefix}/api/wechat/openapi.json`,
    home: config.home
  }
}

/**
 * The stores and the HTTP client: those of the context, or this process's own (memory stores, the
 * lean client). The context's client goes with what the context says of it: that it enforces the
 * request limits (`WeChatHttpClient.EnforcesRequestLimits`) and the proxy it sends through
 * (`WeChatHttpClient.ProxyUrl`, whose credentials `WeChatApi` scrubs from an `errmsg`; a client
 * derived from `WeChatHttpClient`'s keeps its proxy only there), so that the context built here
 * says all of it on its own.
 *
 * @internal
 */
export const dependencies = (config: Pick<Config_.Resolved, "maxSessionsPerUser">) =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    let context = Context.empty() as Context.Context<unknown>
    const client = yield* Effect.serviceOption(HttpClient.HttpClient)
    if (Option.isSome(client)) {
      context = Context.add(context, HttpClient.HttpClient, client.value)
      const enforces = yield* Effect.serviceOption(WeChatHttpClient.EnforcesRequestLimits)
      if (Option.isSome(enforces)) {
        context = Context.add(context, WeChatHttpClient.EnforcesRequestLimits, enforces.value)
      }
      const proxy = yield* Effect.serviceOption(WeChatHttpClient.ProxyUrl)
      if (Option.isSome(proxy)) {
        context = Context.add(context, WeChatHttpClient.ProxyUrl, proxy.value)
      }
    } else {
      context = Context.merge(context, yield* Layer.buildWithScope(WeChatHttpClient.layer(), scope))
    }
    const tokens = yield* Effect.serviceOption(TokenStore.TokenStore)
    context = Context.add(
      context,
      TokenStore.TokenStore,
      Option.isSome(tokens) ? tokens.value : yield* TokenStore.makeMemory()
    )
    const appTokens = yield* Effect.serviceOption(AppTokenStore.AppTokenStore)
    context = Context.add(
      context,
      AppTokenStore.AppTokenStore,
      Option.isSome(appTokens) ? appTokens.value : yield* AppTokenStore.makeMemory()
    )
    const sessions = yield* Effect.serviceOption(SessionStore.SessionStore)
    if (Option.isSome(sessions) && Option.isSome(config.maxSessionsPerUser)) {
      // never a bound silently ignored: a store of the context has its own
      return yield* Effect.fail(ConfigError.InvalidData(
        ["maxSessionsPerUser"],
        "bounds the login's own memory session store; the SessionStore provided has its own bounds " +
          "(SessionStore.makeMemory({ maxSessionsPerUser }) for a memory store, " +
          "the maxSessionsPerUser option of RedisSessionStore or SqlSessionStore for a shared one)"
      ))
    }
    const sessionStore = Option.isSome(sessions)
      // a store of the caller's under a deadline (ours as they are), so a store that never answers
      // cannot hang every request that reads a session
      ? SessionStore.bounded(sessions.value)
      : yield* Effect.orDie(
        SessionStore.makeMemory(Option.match(config.maxSessionsPerUser, {
          onNone: () => ({}),
          onSome: (maxSessionsPerUser) => ({ maxSessionsPerUser })
        }))
      )
    return { context, sessions: sessionStore }
  })

const appOf = (
  resolved: Config_.ResolvedApp,
  services: Pick<App, "oauth" | "miniProgram">
): App => ({
  key: resolved.key,
  kind: resolved.kind,
  appId: resolved.config.appId,
  scope: resolved.scope,
  qrCode: resolved.qrCode,
  phoneNumber: resolved.phoneNumber,
  openBaseUrl: new URL(resolved.config.openBaseUrl).origin,
  ...services
})

const buildApp = (
  resolved: Config_.ResolvedApp,
  context: Context.Context<unknown>
): Effect.Effect<App, ConfigError.ConfigError, Scope> => {
  const withConfig = <A, E>(effect: Effect.Effect<A, E, any>) =>
    effect.pipe(
      Effect.provideService(WeChatConfig.WeChatConfig, resolved.config),
      Effect.provide(context as Context.Context<never>)
    ) as Effect.Effect<A, E, Scope>
  if (resolved.kind === "miniProgram") {
    return withConfig(Effect.gen(function*() {
      const appToken = yield* AppToken.make
      return yield* MiniProgram.make.pipe(Effect.provideService(AppToken.AppToken, appToken))
    })).pipe(Effect.map((mini) => appOf(resolved, { oauth: Option.none(), miniProgram: Option.some(mini) })))
  }
  return withConfig(WeChatOAuth.make).pipe(
    Effect.map((oauth) => appOf(resolved, { oauth: Option.some(oauth), miniProgram: Option.none() }))
  )
}

/**
 * The site's origin as a request reaches it, without `publicUrl`: the host of its `Host` header (as
 * `@effect/platform`'s `HttpServerRequest.toURL` reads it; for a Web `Request` without one, the
 * host of its URL), and https when `isHttps` says so.
 */
const requestOrigin = (request: HttpServerRequest.HttpServerRequest): string => {
  const secure = isHttps(request)
  const url = Option.getOrUndefined(HttpServerRequest.toURL(request))
  if (url === undefined) return secure ? "https://localhost" : "http://localhost"
  if (request.headers["host"] === undefined) {
    const webUrl = webRequestUrl(request)
    if (webUrl !== undefined) url.host = webUrl.host
  }
  url.protocol = secure ? "https:" : "http:"
  return url.origin
}

/**
 * Whether a request reached the site over https, as far as the server can tell:
 * - the first value of `X-Forwarded-Proto`, trimmed, in any case (`https`, `HTTPS`, `https, http`
 *   as a proxy that appends its own hop sends it), when the header has one: the proxy in front says
 *   how the browser reached it. Trusting it is only safe behind a proxy that sets it (as
 *   `@effect/platform`'s `toURL` always did); otherwise a client may send any value, for itself;
 * - else the request's own URL, for a Web `Request` (`toWebHandler`; Deno, Bun, workers);
 * - else the connection: a TLS socket (`node:https`, `node:http2`'s secure server) under
 *   `@effect/platform-node`.
 */
const isHttps = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const forwarded = request.headers["x-forwarded-proto"]
  if (forwarded !== undefined) {
    const comma = forwarded.indexOf(",")
    const first = (comma === -1 ? forwarded : forwarded.slice(0, comma)).trim().toLowerCase()
    if (first !== "") return first === "https"
  }
  const webUrl = webRequestUrl(request)
  if (webUrl !== undefined) return webUrl.protocol === "https:"
  try {
    const source = request.source as { readonly socket?: { readonly encrypted?: unknown } } | null
    return typeof source === "object" && source !== null && source.socket?.encrypted === true
  } catch {
    return false
  }
}

/** The URL of the Web `Request` a request was made from (`HttpServerRequest.fromWeb`), if it was. */
const webRequestUrl = (request: HttpServerRequest.HttpServerRequest): URL | undefined => {
  try {
    const source = request.source
    return typeof Request === "function" && source instanceof Request ? new URL(source.url) : undefined
  } catch {
    return undefined
  }
}

/** Whether a request is of a method that changes nothing. */
const isSafeMethod = (method: string) => method === "GET" || method === "HEAD" || method === "OPTIONS"

const appIdPattern = /^[A-Za-z0-9_-]{1,64}$/

const bearerPattern = /^Bearer[ ]+(\S+)\s*$/i

/** An `Authorization` header of the `Bearer` scheme (valid or not). */
const bearerScheme = /^\s*Bearer(\s|$)/i

/** Whether an `Authorization` header is of the `Bearer` scheme (valid or not): the mini program's token decides. */
const isBearer = (authorization: string | undefined): authorization is string =>
  authorization !== undefined && bearerScheme.test(authorization)

/** The largest userId a hook may give. */
const maxUserId = 256

/** @internal */
export interface Built {
  readonly shape: WeChatLoginShape
  /** The `CurrentWeChatUser` middleware's implementation. */
  readonly middleware: {
    readonly session: (_: unknown) => Effect.Effect<WeChatUser, Unauthenticated | CrossSiteRequest, any>
    readonly bearer: (_: unknown) => Effect.Effect<WeChatUser, Unauthenticated | CrossSiteRequest, any>
  }
}

/** @internal */
export const make = <R>(options: Options<R>): Effect.Effect<Built, ConfigError.ConfigError, R | Scope> =>
  Effect.gen(function*() {
    const config = yield* Config_.resolve(options)
    // a login of browsers (a mini program's has no redirect_uri and no cookie)
    const browserLogins = Option.isSome(config.registry) || config.apps.some((app) => app.kind !== "miniProgram")
    if (Option.isNone(config.publicOrigin) && browserLogins) {
      yield* Effect.logWarning(
        "wxauth: no publicUrl is configured, so the scheme and host of each request (its Host header, " +
          "X-Forwarded-Proto, the connection) decide the redirect_uri sent to WeChat and the cookies' names " +
          "and Secure flag; set the publicUrl option to the site's origin (e.g. https://example.com) in production"
      )
    }
    const hookContext = yield* Effect.context<R>()
    const deps = yield* dependencies(config)
    const sessions = deps.sessions
    const apps = new Map<string, App>()
    const byAppId = new Map<string, App>()
    for (const resolved of config.apps) {
      const app = yield* buildApp(resolved, deps.context)
      apps.set(app.key, app)
      byAppId.set(app.appId, app)
    }
    const registry = Option.isNone(config.registry) ? undefined : {
      options: config.registry.value,
      apps: yield* Effect.flatMap(
        Effect.serviceOption(WeChatApps.WeChatApps),
        Option.match({
          onNone: () =>
            Effect.fail(
              ConfigError.MissingData(["registry"], "a registry needs WeChatApps.layer(...) in the login's context")
            ),
          onSome: Effect.succeed
        })
      )
    }
    const resolve = (
      key: string,
      kindOfWithin: Duration.Duration = hookTimeout
    ): Effect.Effect<Option.Option<App>, AppLookupFailed> => {
      const known = apps.get(key)
      if (known !== undefined) return Effect.succeed(Option.some(known))
      if (registry === undefined || !appIdPattern.test(key)) return Effect.succeed(Option.none())
      const { options } = registry
      return Effect.gen(function*() {
        const kind: unknown = yield* runHookWithin("registry.kindOf", () => options.kindOf(key), kindOfWithin).pipe(
          Effect.mapError(() => new AppLookupFailed({ reason: "kindOf" }))
        )
        if (kind === undefined) return Option.none<App>()
        if (kind !== "officialAccount" && kind !== "website" && kind !== "miniProgram") {
          return yield* new AppLookupFailed({ reason: "kindOf answered no kind of app" })
        }
        const services = kind === "miniProgram"
          ? { oauth: Option.none(), miniProgram: Option.some(yield* registry.apps.miniProgram(key)) }
          : { oauth: Option.some(yield* registry.apps.oauth(key)), miniProgram: Option.none() }
        return Option.some<App>({
          key,
          kind,
          appId: key,
          scope: options.scope,
          qrCode: options.qrCode,
          phoneNumber: options.phoneNumber,
          openBaseUrl: options.openBaseUrl,
          ...services
        })
      }).pipe(
        Effect.catchTags({
          UnknownApp: () => Effect.succeed(Option.none()),
          InvalidArgument: () => Effect.succeed(Option.none()),
          AppResolveError: (error) => Effect.fail(new AppLookupFailed({ reason: error.reason }))
        })
      )
    }
    /**
     * The one rule for which sessions this site accepts: the app of a session, when this site serves
     * it for that kind of session. An app of the options by its appid; else (with a registry) the
     * registry's app of that appid as `resolve` finds it now (`kindOf`, then `WeChatApps`, which caches
     * the configuration), so an app removed from the registry, or an appid only another service of a
     * shared `SessionStore` knows, logs nobody in. A browser session needs an official account or a
     * website app, a mini program's session a mini program. When the registry fails, the failure is
     * logged (its reason, never the resolver's message) and answered as a `SessionStoreError`: whether
     * the session is live cannot be said, as when the store fails.
     */
    const appOfSession = (
      session: SessionStore.Session
    ): Effect.Effect<Option.Option<App>, WeChatError.SessionStoreError> => {
      const fits = (app: App) =>
        app.appId === session.appId && (app.kind === "miniProgram") === (session.kind === "miniProgram")
      const known = byAppId.get(session.appId)
      if (known !== undefined) return Effect.succeed(Option.filter(Option.some(known), fits))
      if (registry === undefined) return Effect.succeed(Option.none())
      return resolve(session.appId, sessionKindOfTimeout).pipe(
        Effect.map(Option.filter(fits)),
        Effect.catchAll((error) =>
          Effect.logError("wxauth: the app registry failed").pipe(
            Effect.annotateLogs({ reason: error.reason }),
            Effect.zipRight(Effect.fail(
              new WeChatError.SessionStoreError({
                operation: "get",
                description: "the app registry could not say whether the session's app is served"
              })
            ))
          )
        )
      )
    }
    const paths = makePaths(config)

    const site = (request: HttpServerRequest.HttpServerRequest): Site => {
      const origin = Option.getOrElse(config.publicOrigin, () => requestOrigin(request))
      const secure = origin.startsWith("https:")
      return { origin, secure, names: Cookies.names(secure), cookie: Cookies.options(secure) }
    }

    /** Whether a request comes from this site; `here` is the request's `site` when already computed. */
    const sameSite = (request: HttpServerRequest.HttpServerRequest, here?: Site): boolean => {
      const origin = request.headers["origin"]
      if (origin !== undefined) return origin === (here ?? site(request)).origin
      const fetchSite = request.headers["sec-fetch-site"]
      if (fetchSite !== undefined) return fetchSite === "same-origin" || fetchSite === "none"
      // neither header (an old browser, a script): the SameSite=Lax cookie keeps other sites' POSTs out
      return true
    }

    const userOf = (
      session: SessionStore.Session
    ): Effect.Effect<Option.Option<WeChatUser>, WeChatError.SessionStoreError> =>
      Effect.map(appOfSession(session), Option.map((app) => userOfApp(app, session)))

    const userOfApp = (app: App, session: SessionStore.Session): WeChatUser => userOfKey(app.key, session)

    /**
     * The user a stored session stands for, without asking the registry: its app's key is an app of
     * the options' by its appid, else the appid (a registry app's key).
     */
    const storedUserOf = (session: SessionStore.Session): WeChatUser =>
      userOfKey(byAppId.get(session.appId)?.key ?? session.appId, session)

    const userOfKey = (key: string, session: SessionStore.Session): WeChatUser => {
      const userId = session.data?.["userId"]
      return new WeChatUser({
        app: key,
        appId: session.appId,
        openid: session.openid,
        ...(session.unionid === undefined ? {} : { unionid: session.unionid }),
        scopes: session.scopes,
        ...(userId === undefined ? {} : { userId }),
        kind: session.kind,
        sessionId: session.idHash,
        sessionExpiresAt: session.expiresAt
      }, { disableValidation: true })
    }

    /** The user of a token's live session of `kind`, when this site accepts the session (`userOf`). */
    const lookup = (token: Redacted.Redacted<string>, kind: SessionStore.Kind) =>
      Effect.flatMap(
        sessions.get(SessionStore.hashToken(token)),
        (session) =>
          Option.match(Option.filter(session, (s) => s.kind === kind), {
            onNone: () => Effect.succeed(Option.none<WeChatUser>()),
            onSome: userOf
          })
      )

    /** This browser's session as the store keeps it (by its one session cookie), accepted here or not. */
    const storedBrowserSession = (
      request: HttpServerRequest.HttpServerRequest
    ): Effect.Effect<Option.Option<SessionStore.Session>, WeChatError.SessionStoreError> => {
      const token = SessionStore.parseToken(Cookies.read(request.headers["cookie"], site(request).names.session))
      if (Option.isNone(token)) return Effect.succeed(Option.none<SessionStore.Session>())
      return Effect.map(sessions.get(SessionStore.hashToken(token.value)), Option.filter((s) => s.kind === "browser"))
    }

    /**
     * The one reader of every copy of the session cookie (`endSentSessions`): the stored browser
     * sessions of the well-formed tokens sent under its name, each looked up once (by its hash).
     */
    const sentSessions = (
      request: HttpServerRequest.HttpServerRequest
    ): Effect.Effect<ReadonlyArray<SessionStore.Session>, WeChatError.SessionStoreError | TooManySessionCookies> => {
      const hashes = new Set<string>()
      for (const value of Cookies.readAll(request.headers["cookie"], site(request).names.session)) {
        const token = SessionStore.parseToken(value)
        if (Option.isSome(token)) hashes.add(SessionStore.hashToken(token.value))
        if (hashes.size > maxSessionCookies) return Effect.fail(new TooManySessionCookies())
      }
      return Effect.map(
        Effect.forEach(hashes, (hash) => sessions.get(hash)),
        (found) =>
          found.flatMap((session) => Option.isSome(session) && session.value.kind === "browser" ? [session.value] : [])
      )
    }

    const endSentSessions: Login["endSentSessions"] = (request, { everywhere, onLogout }) =>
      Effect.gen(function*() {
        const found = yield* sentSessions(request)
        // everywhere: once for each user (their sessions are ended by appid and openid)
        const users = new Set<string>()
        let ended = 0
        for (const session of found) {
          const user = JSON.stringify([session.appId, session.openid])
          if (everywhere && users.has(user)) continue
          users.add(user)
          ended += yield* endSession(session, everywhere, onLogout)
        }
        return { found: found.length, ended }
      })

    /** The cookie's stored browser session, when this site accepts it (`appOfSession`). */
    const browserSession: Login["browserSession"] = (request) =>
      Effect.flatMap(storedBrowserSession(request), (found) =>
        Option.match(found, {
          onNone: () => Effect.succeed(Option.none<SessionStore.Session>()),
          onSome: (session) => Effect.map(appOfSession(session), Option.as(session))
        }))

    const sessionCookieSentTwice: Login["sessionCookieSentTwice"] = (request) =>
      !isBearer(request.headers["authorization"]) &&
      Cookies.readAll(request.headers["cookie"], site(request).names.session).length > 1

    const authenticate: Login["authenticate"] = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const authorization = request.headers["authorization"]
      // a bearer token is the mini program's; another scheme (a staging site's HTTP Basic auth, which
      // the browser sends on every request) is not the login's, and the session cookie decides
      if (isBearer(authorization)) {
        const token = SessionStore.parseToken(bearerPattern.exec(authorization)?.[1])
        if (Option.isNone(token)) return yield* new Unauthenticated({ reason: "Invalid" })
        const user = yield* lookup(token.value, "miniProgram")
        if (Option.isNone(user)) return yield* new Unauthenticated({ reason: "Invalid" })
        return user.value
      }
      const here = site(request)
      const cookie = Cookies.read(request.headers["cookie"], here.names.session)
      if (cookie === undefined) return yield* new Unauthenticated({ reason: "Missing" })
      const token = SessionStore.parseToken(cookie)
      if (Option.isNone(token)) return yield* new Unauthenticated({ reason: "Invalid" })
      // a request of another site that changes something: refused before the store is asked
      if (!isSafeMethod(request.method) && !sameSite(request, here)) return yield* new CrossSiteRequest()
      const user = yield* lookup(token.value, "browser")
      if (Option.isNone(user)) return yield* new Unauthenticated({ reason: "Invalid" })
      return user.value
    })

    /**
     * The one way a session ends (a logout, everywhere, the session a new login replaces): the
     * session as it is stored, by its id hash (everywhere: by its appid and openid). The registry is
     * not asked: a session ends whether or not its app is served now, or the registry answers.
     */
    const endStored = (
      stored: { readonly idHash: string; readonly appId: string; readonly openid: string },
      user: WeChatUser,
      everywhere: boolean,
      runsOnLogout: boolean
    ) =>
      Effect.gen(function*() {
        const ended = everywhere
          ? yield* sessions.revokeUser(stored.appId, stored.openid)
          : yield* Effect.as(sessions.revoke(stored.idHash), 1)
        const onLogout = config.hooks.onLogout
        // logged by runHook already; the sessions are over either way
        if (runsOnLogout && onLogout !== undefined) {
          yield* Effect.ignore(runHook("onLogout", () => onLogout({ user, everywhere })))
        }
        return ended
      })

    const endSessions = (user: WeChatUser, everywhere: boolean) =>
      endStored({ idHash: user.sessionId, appId: user.appId, openid: user.openid }, user, everywhere, true)

    const endSession: Login["endSession"] = (session, everywhere, onLogout = true) =>
      endStored(session, storedUserOf(session), everywhere, onLogout)

    const runHook = <A>(name: string, run: () => Effect.Effect<A, unknown, any>): Effect.Effect<A, HookFailed> =>
      runHookWithin(name, run, hookTimeout)

    const runHookWithin = <A>(
      name: string,
      run: () => Effect.Effect<A, unknown, any>,
      within: Duration.Duration
    ): Effect.Effect<A, HookFailed> =>
      Effect.suspend(() => {
        const effect = run()
        return Effect.isEffect(effect)
          ? effect as Effect.Effect<A, unknown, R>
          : Effect.dieMessage(`hooks.${name} did not return an Effect`)
      }).pipe(
        Effect.provide(hookContext),
        // in a fiber of its own, interruptible by the deadline whatever the caller's region: a hook
        // that hangs ends at the deadline even for a logout made from a finaliser (the deadline
        // would otherwise wait there for the hook's interruption); the deadline in a fiber of its own
        // too, so an outside interruption of such a caller does not cut the hook through it
        Effect.disconnect,
        Effect.interruptible,
        Effect.timeoutFail({ duration: within, onTimeout: () => new HookFailed({ hook: name }) }),
        Effect.disconnect,
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause as Cause.Cause<never>)
            : Effect.logError("wxauth: a login hook failed").pipe(
              Effect.annotateLogs({ hook: name, error: failureTag(cause), ...localDetail(cause) }),
              Effect.zipRight(Effect.fail(new HookFailed({ hook: name })))
            )
        )
      )

    const identityOf: Login["identityOf"] = (app, fields) => ({
      app: app.key,
      appId: app.appId,
      kind: app.kind,
      openid: fields.openid,
      unionid: fields.unionid,
      scopes: fields.scopes,
      profile: Option.match(app.oauth, {
        onNone: () => Effect.fail(noProfile),
        onSome: (oauth) =>
          refusesProfile(app, fields.scopes)
            ? Effect.fail(baseScopeNoProfile(app, apps.get(app.key) === app))
            : oauth.getUser(fields.openid)
      })
    })

    const completeLogin: Login["completeLogin"] = (app, identity, kind, returnTo) =>
      Effect.gen(function*() {
        const hooks = config.hooks
        let userId: string | undefined
        let firstLogin = false
        if (hooks.findUser !== undefined) {
          const found: unknown = yield* runHook("findUser", () => hooks.findUser!(identity))
          if (found !== undefined && !isUserId(found)) return yield* badHookValue("findUser")
          userId = found as string | undefined
          if (userId === undefined && hooks.onFirstLogin !== undefined) {
            firstLogin = true
            const created: unknown = yield* runHook("onFirstLogin", () => hooks.onFirstLogin!(identity))
            if (!isUserId(created)) return yield* badHookValue("onFirstLogin")
            userId = created
          }
        }
        const event: LoginEvent = { ...identity, userId, firstLogin, returnTo }
        if (hooks.onLogin !== undefined) yield* runHook("onLogin", () => hooks.onLogin!(event))
        const token = yield* SessionStore.makeToken
        const now = yield* Clock.currentTimeMillis
        const ttl = kind === "browser" ? config.sessionTtl : config.miniProgramSessionTtl
        const session = yield* Effect.try({
          try: () =>
            new SessionStore.Session({
              idHash: SessionStore.hashToken(token),
              appId: identity.appId,
              openid: identity.openid,
              ...(identity.unionid === undefined ? {} : { unionid: identity.unionid }),
              scopes: identity.scopes.filter((s) => s.length > 0 && s.length <= 64).slice(0, 16),
              kind,
              createdAt: now,
              expiresAt: now + Duration.toMillis(ttl),
              ...(userId === undefined ? {} : { data: { userId } })
            }),
          catch: () =>
            new WeChatError.SessionStoreError({
              operation: "create",
              description: "the session's fields are out of the store's range"
            })
        })
        yield* sessions.create(session)
        return { token, session, event }
      })

    const landing: Login["landing"] = (event) =>
      Effect.gen(function*() {
        const hooks = config.hooks
        if (hooks.afterLogin !== undefined) {
          const target: unknown = yield* runHook("afterLogin", () => hooks.afterLogin!(event))
          const normalized = normalize(target)
          if (normalized !== undefined) return normalized
        }
        return event.returnTo ?? config.home
      })

    const login: Login = {
      callbacks: SingleFlight.make(yield* Effect.scope, {
        capacity: maxCallbackFlights,
        keepFor: callbackAnswerTtl,
        // an answer that started a session: a duplicate a moment late gets it too (never a failure's,
        // which a reload may get past)
        keep: (response) =>
          Object.hasOwn(response.cookies.cookies, Cookies.names(true).session) ||
          Object.hasOwn(response.cookies.cookies, Cookies.names(false).session)
      }),
      miniProgramLogins: SingleFlight.make(yield* Effect.scope, {
        capacity: maxCallbackFlights,
        keepFor: callbackAnswerTtl,
        // nothing kept: a repeat after the run has no binding to be answered by (see the field)
        keep: () => false
      }),
      config,
      apps,
      resolve,
      sessions,
      paths,
      site,
      sameSite,
      authenticate,
      sessionCookieSentTwice,
      browserSession,
      endSentSessions,
      completeLogin,
      landing,
      runHook,
      endSessions,
      endSession,
      userOf,
      identityOf
    }

    /** The live session a user value names (`sessionId`) as it is stored; `None` when it is over or unknown. */
    const storedSessionOf = (
      user: WeChatUser
    ): Effect.Effect<Option.Option<SessionStore.Session>, WeChatError.SessionStoreError> =>
      isIdHash(user.sessionId) ? sessions.get(user.sessionId) : Effect.succeed(Option.none())

    /**
     * The user of the live session a user value names (`sessionId`), with the app that accepts it
     * (`appOfSession`: the registry asked once); `None` when it is over, unknown or not accepted.
     */
    const userOfSession = (
      user: WeChatUser
    ): Effect.Effect<Option.Option<readonly [WeChatUser, App]>, WeChatError.SessionStoreError> =>
      Effect.flatMap(
        storedSessionOf(user),
        Option.match({
          onNone: () => Effect.succeed(Option.none()),
          onSome: (session) =>
            Effect.map(appOfSession(session), Option.map((app) => [userOfApp(app, session), app] as const))
        })
      )

    /**
     * The user a caller's value stands for: the user of its session, which must be live and be the
     * same user (app, appId, openid, kind). A user value is plain data (an instance, or its fields
     * read back from JSON) that anyone can write: it names a session, and the session says who the
     * user is. A value whose session is over, unknown, or another user's is `Unauthenticated`
     * (`Invalid`).
     */
    const liveUser = (
      user: WeChatUser
    ): Effect.Effect<readonly [WeChatUser, App], Unauthenticated | WeChatError.SessionStoreError> =>
      Effect.flatMap(userOfSession(user), (found) =>
        Option.isSome(found) && sameUser(found.value[0], user)
          ? Effect.succeed(found.value)
          : Effect.fail(new Unauthenticated({ reason: "Invalid" })))

    const getUser: WeChatLoginShape["getUser"] = (given, options) =>
      Effect.gen(function*() {
        // the app that accepted the session is the user's (sameUser): the registry is asked once
        const [user, app] = yield* Effect.flatMap(checkUser(given), liveUser)
        const oauth = app.oauth
        if (Option.isNone(oauth)) {
          return yield* noProfile
        }
        // an snsapi_base login of an app still configured snsapi_base: WeChat's 48001 would ask for a
        // login again, of the same scope (a loop)
        if (refusesProfile(app, user.scopes)) {
          return yield* baseScopeNoProfile(app, apps.get(app.key) === app)
        }
        return yield* oauth.value.getUser(user.openid, options).pipe(
          Effect.catchIf(
            (error) => error._tag === "InvalidRefreshToken" || error._tag === "RefreshTokenExpired",
            (error) =>
              sessions.revokeUser(user.appId, user.openid).pipe(
                Effect.tap((revoked) =>
                  Effect.logInfo("wxauth: WeChat refused the refresh token; the user's sessions ended").pipe(
                    Effect.annotateLogs({ appId: user.appId, errcode: error.errcode, revoked })
                  )
                ),
                Effect.zipRight(Effect.fail(new Unauthenticated({ reason: "Reauthorize" })))
              )
          )
        )
      }) as Effect.Effect<UserInfo.UserInfo, any>

    const shapeBase = {
      currentUser: Effect.tap(authenticate, () => privateResponse),
      getUser,
      getToken: (given) =>
        Effect.gen(function*() {
          const [user, app] = yield* Effect.flatMap(checkUser(given), liveUser)
          const oauth = app.oauth
          return Option.isNone(oauth) ? Option.none() : yield* oauth.value.getToken(user.openid)
        }),
      // a session that is over is logged out already; another user's session is not this user's to end
      // the session as it is stored, whether or not the registry serves its app now (or answers)
      logout: (given) =>
        Effect.gen(function*() {
          const user = yield* checkUser(given)
          const stored = yield* storedSessionOf(user)
          if (Option.isNone(stored)) return
          if (!sameUser(storedUserOf(stored.value), user)) {
            return yield* new WeChatError.InvalidArgument({
              argument: "user",
              description: "is not the user of its session (sessionId)"
            })
          }
          yield* endSession(stored.value, false)
        }),
      logoutEverywhere: (given) =>
        Effect.gen(function*() {
          const user = yield* checkUser(given)
          const stored = yield* storedSessionOf(user)
          if (Option.isNone(stored) || !sameUser(storedUserOf(stored.value), user)) {
            return yield* new Unauthenticated({ reason: "Invalid" })
          }
          return yield* endSession(stored.value, true)
        }),
      paths
    } satisfies Partial<WeChatLoginShape>

    const built = yield* Api.build(login)
    const httpApp = Routes.httpApp(login, built.app)
    const shape: WeChatLoginShape = {
      ...shapeBase,
      httpApp,
      handles: (pathname) => handles(paths, pathname),
      openApi: built.openApi
    }
    const authenticated = authenticate.pipe(
      Effect.catchTag("SessionStoreError", Effect.die),
      Effect.tap(() => privateResponse)
    )
    const middleware = {
      session: () => authenticated,
      bearer: () => authenticated
    }
    return { shape, middleware }
  })

/**
 * The pre-response handlers this module appended (`privateResponse`), as `HttpApp`'s fiber ref
 * holds them: a request that authenticates twice adds one.
 */
const noStoreAppended = new WeakSet<HttpApp.PreResponseHandler>()

const noStore: HttpApp.PreResponseHandler = (_request, response) =>
  Effect.succeed(
    response.headers["cache-control"] === undefined
      ? HttpServerResponse.setHeader(response, "cache-control", "private, no-store")
      : response
  )

/**
 * The answer to an authenticated request is the user's: `Cache-Control: private, no-store`, so
 * that no shared cache (a CDN, a proxy) keeps it for the next visitor, nor the browser after a
 * logout, unless the route set a `Cache-Control` of its own. A pre-response handler of the
 * request's fiber (`HttpApp.appendPreResponseHandler`), which `@effect/platform`'s server applies
 * to the response the route gives.
 */
const privateResponse: Effect.Effect<void> = Effect.flatMap(
  FiberRef.get(HttpApp.currentPreResponseHandlers),
  (current) =>
    Option.isSome(current) && noStoreAppended.has(current.value)
      ? Effect.void
      : Effect.zipRight(
        HttpApp.appendPreResponseHandler(noStore),
        Effect.flatMap(FiberRef.get(HttpApp.currentPreResponseHandlers), (next) =>
          Effect.sync(() => {
            if (Option.isSome(next)) noStoreAppended.add(next.value)
          }))
      )
)

/** Whether a path is one of the login's; a value that is not a string (a JavaScript caller's URL object) is not. @internal */
export const handles = (paths: InternalPaths, pathname: unknown): boolean => {
  if (typeof pathname !== "string") return false
  const under = (base: string) => pathname === base || pathname.startsWith(`${base}/`)
  return under(paths.loginBase) || under(paths.logout) || under(paths.api)
}

/** The login's router: its paths, answered by its `HttpApp`. @internal */
export const routerOf = (shape: WeChatLoginShape): HttpRouter.HttpRouter<never, Scope> => {
  const paths = shape.paths as InternalPaths
  const app = shape.httpApp
  return HttpRouter.empty.pipe(
    HttpRouter.all(paths.loginBase, app),
    HttpRouter.all(`${paths.loginBase}/*`, app),
    HttpRouter.all(paths.logout, app),
    HttpRouter.all(`${paths.logout}/*`, app),
    HttpRouter.all(`${paths.api}/*`, app)
  ) as HttpRouter.HttpRouter<never, Scope>
}

const normalize = (target: unknown): string | undefined =>
  typeof target === "string" ? Landing.landingPath(target) : undefined

const isIdHash = Schema.is(SessionStore.IdHash)

/** Whether two user values are the same user of the same kind of session. */
const sameUser = (a: WeChatUser, b: WeChatUser): boolean =>
  a.app === b.app && a.appId === b.appId && a.openid === b.openid && a.kind === b.kind

/** A user's fields: an instance, or the same fields (e.g. a user read back from JSON). */
const isWeChatUser = Schema.is(Schema.Struct(WeChatUser.fields))

const userKeys = Object.keys(WeChatUser.fields)

const notAUser = Effect.fail(new WeChatError.InvalidArgument({ argument: "user", description: "must be a WeChatUser" }))

/**
 * A caller's user value (an instance, or the same fields, e.g. read back from JSON) read once into
 * a `WeChatUser` of its own: every later check and the session lookup see the values read here. A
 * JavaScript caller's value that is not a user, or cannot be read (a getter or a Proxy trap that
 * throws, a revoked Proxy), is an `InvalidArgument`, never a defect.
 */
const checkUser = (user: unknown): Effect.Effect<WeChatUser, WeChatError.InvalidArgument> =>
  Effect.suspend(() => {
    const fields: Record<string, unknown> = {}
    try {
      if (typeof user === "object" && user !== null) {
        for (const key of userKeys) {
          const value: unknown = (user as Record<string, unknown>)[key]
          if (value !== undefined) fields[key] = Array.isArray(value) ? [...value] : value
        }
      }
    } catch {
      return notAUser
    }
    return isWeChatUser(fields)
      ? Effect.succeed(new WeChatUser(fields, { disableValidation: true }))
      : notAUser
  })

const isUserId = (u: unknown): u is string => typeof u === "string" && u.length > 0 && u.length <= maxUserId

const badHookValue = (hook: string) =>
  Effect.logError("wxauth: a login hook gave a value of the wrong type").pipe(
    Effect.annotateLogs({ hook }),
    Effect.zipRight(Effect.fail(new HookFailed({ hook })))
  )

/**
 * What the log says of a hook's failure that is one of this module's own local `ScopeUnauthorized` (a
 * profile the login cannot give, asked by the hook through `identity.profile`): its words, which
 * say why. Nothing of any other failure (it may hold anything).
 */
const localDetail = (cause: Cause.Cause<unknown>): { readonly description?: string } => {
  const failure = Cause.squash(cause)
  return failure instanceof WeChatError.ScopeUnauthorized && failure.local === true &&
      ownMessages.has(failure.errmsg)
    ? { description: failure.errmsg }
    : {}
}

/** The tag of a hook's failure, for the log (never its message: it may hold anything). */
const failureTag = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.squash(cause)
  return typeof failure === "object" && failure !== null && "_tag" in failure &&
      typeof (failure as { _tag: unknown })._tag === "string"
    ? (failure as { _tag: string })._tag
    : failure instanceof Error
    ? failure.name
    : typeof failure
}
