/**
 * WeChat login for an `@effect/platform` server: the login routes, the callback, logout, the mini
 * program's JSON login, server-side sessions and the `CurrentWeChatUser` middleware, from one
 * configuration.
 *
 * | route | what it does |
 * |---|---|
 * | `GET /login` | picks the flow from the browser: inside WeChat the official account's consent page; on a desktop the website app's QR login; on a phone browser outside WeChat a page that says to open the link in WeChat (with the QR option) |
 * | `GET /login/:app` | the same with a named app (its key in `apps`) |
 * | `GET /login/:app/callback` | WeChat's redirect back: checks the browser-bound state, exchanges the code, runs the hooks, starts the session, rotates the binding and leaves the callback URL at once (303, `Referrer-Policy: no-referrer`) |
 * | `GET /login/:app/problem?reason=` | the problem pages (a fixed reason key: nothing of the request is echoed) |
 * | `POST /logout`, `POST /logout/everywhere` | end this session, or every session of the user (same-origin requests only) |
 * | `/api/wechat/...` | the JSON endpoints of `WeChatLoginApi` (mini program login and phone number, session, logout), and `GET /api/wechat/openapi.json` |
 *
 * Every path starts with `pathPrefix` (default `""`). `?returnTo=/a/path` on a login start is
 * where the login lands (normalised with `StateToken.normalizeReturnTo`: a path on this site that
 * fits in WeChat's `state`, at most 54 bytes once percent-encoded, or nothing; `afterLogin` can send
 * the browser anywhere on the site).
 *
 * Security: the OAuth state is signed and bound to a per-browser cookie minted at each login start
 * (and replaced after login), so a callback URL works only in the browser that started it and only
 * once; the callback answers a redirect with `Referrer-Policy: no-referrer`, so the code leaves
 * neither in the address bar nor in a `Referer`; sessions live in the `SessionStore` (the cookie
 * holds a random token, the store its SHA-256), so logout, "log out everywhere", expiry and
 * revocation end them on the server; cookies are `HttpOnly`, `SameSite=Lax`, and `__Host-` +
 * `Secure` over https; a `POST` from another site is refused (`Origin` / `Sec-Fetch-Site`). A
 * user's sessions are ended when WeChat no longer accepts their refresh token (40030, 42002).
 *
 * WeChat has no PKCE: a leaked callback URL whose code is still unused can be redeemed by whoever
 * presents it first with a valid state of their own. The binding stops a replay in another browser
 * once the code was used, and codes live 5 minutes.
 *
 * Use https in production: over plain http the cookies cannot be `__Host-` cookies, and a sibling
 * subdomain can plant a binding cookie of a login it started (login CSRF: the victim is logged in
 * as the attacker). Plain http is for local development.
 *
 * @since 0.1.0
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as OpenApi from "@effect/platform/OpenApi"
import {
  type MiniProgram,
  type OAuthToken,
  type UserInfo,
  WeChatConfig,
  type WeChatError,
  type WeChatOAuth
} from "@wxauth/core"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { Scope } from "effect/Scope"
import type { CrossSiteRequest, Unauthenticated, WeChatUser } from "./CurrentWeChatUser.js"
import { CurrentWeChatUser } from "./CurrentWeChatUser.js"
import * as internalPages from "./internal/pages.js"
import * as internal from "./internal/service.js"
import * as web from "./internal/webHandler.js"

/**
 * The WeChat app settings every kind shares: the app's own `appId` and `appSecret`, and, for tests
 * or a proxy, the hosts (`apiBaseUrl`, `openBaseUrl`), the deadline of a request (`timeout`) and
 * the key that signs states (`stateSecret`, derived from the app secret by default) with the secrets
 * a rotation still accepts (`acceptedStateSecrets`, as `WeChatConfig`'s).
 *
 * @since 0.1.0
 * @category models
 */
export interface AppBaseOptions {
  readonly appId: string
  readonly appSecret: Redacted.Redacted<string> | string
  readonly apiBaseUrl?: string | undefined
  readonly openBaseUrl?: string | undefined
  readonly timeout?: Duration.DurationInput | undefined
  readonly stateSecret?: Redacted.Redacted<string> | string | undefined
  readonly acceptedStateSecrets?: ReadonlyArray<Redacted.Redacted<string> | string> | undefined
}

/**
 * An official account (公众号): logs people in inside WeChat, with `scope` `snsapi_userinfo`
 * (default: nickname and avatar, after a consent page) or `snsapi_base` (silent, openid only).
 *
 * @since 0.1.0
 * @category models
 */
export interface OfficialAccountOptions extends AppBaseOptions {
  readonly kind: "officialAccount"
  readonly scope?: "snsapi_base" | "snsapi_userinfo" | undefined
}

/**
 * The QR login of a website app: WeChat's own QR page (`qrconnect`, the default), or the QR code
 * embedded in a page of this site with WeChat's `wxLogin.js` (`embedded: true`). `scriptUrl` is
 * where that script is loaded from (WeChat's by default; a test points it at the sandbox's);
 * `selfRedirect`, `style` and `href` are `wxLogin.js`'s `self_redirect`, `style` and `href` (a
 * stylesheet for the QR frame). `scriptUrl` and `href` are http(s) URLs of at most 2048 characters,
 * as given and once percent-encoded (a longer one is a `ConfigError` when the layer is built).
 *
 * @since 0.1.0
 * @category models
 */
export interface QrCodeOptions {
  readonly embedded?: boolean | undefined
  readonly scriptUrl?: string | undefined
  readonly selfRedirect?: boolean | undefined
  readonly style?: "black" | "white" | undefined
  readonly href?: string | undefined
  readonly lang?: "cn" | "en" | undefined
}

/**
 * An Open Platform website app (网站应用): logs people in on a desktop with a QR code.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebsiteOptions extends AppBaseOptions {
  readonly kind: "website"
  readonly qrCode?: QrCodeOptions | undefined
}

/**
 * A mini program: logs in through the JSON endpoint with `wx.login()`'s code; with
 * `phoneNumber: true`, its users' phone numbers can be asked for (the `getPhoneNumber` button).
 *
 * @since 0.1.0
 * @category models
 */
export interface MiniProgramOptions extends AppBaseOptions {
  readonly kind: "miniProgram"
  readonly phoneNumber?: boolean | undefined
}

/**
 * One WeChat app of the login.
 *
 * @since 0.1.0
 * @category models
 */
export type AppOptions = OfficialAccountOptions | WebsiteOptions | MiniProgramOptions

/**
 * Who logged in, as WeChat says: the app (`app` is its key in `apps`), the user's `openid` in that
 * app, the `unionid` when the app is bound to an Open Platform account (the same person in every
 * app of the account: link local users by it), and the scopes granted.
 *
 * @since 0.1.0
 * @category models
 */
export interface Identity {
  readonly app: string
  readonly appId: string
  readonly kind: "officialAccount" | "website" | "miniProgram"
  readonly openid: string
  readonly unionid: string | undefined
  readonly scopes: ReadonlyArray<string>
  /**
   * The user's WeChat profile (nickname, avatar), asked of WeChat when run (with `snsapi_userinfo`
   * or a website login). A mini program's user has none, nor has an `snsapi_base` login of an
   * official account configured with `scope: "snsapi_base"` (scopes holding `snsapi_base` and
   * neither `snsapi_userinfo` nor `snsapi_login`): then it fails at once, without a WeChat call,
   * with a `ScopeUnauthorized` that is `local` (its message says why and, for `snsapi_base`, which
   * `scope` option to change), of kind `permanent`, so that no client is sent to log in again for
   * it (the same login would give no profile again: a loop). Once the app's `scope` is
   * `snsapi_userinfo`, such a login's profile is asked of WeChat with its stored token: WeChat's
   * 48001 is then `reauthorize`, and the new login asks for `snsapi_userinfo`.
   */
  readonly profile: Effect.Effect<UserInfo.UserInfo, WeChatOAuth.RefreshError | WeChatError.ScopeUnauthorized>
}

/**
 * A login that succeeded: the identity, the local user id (`findUser` / `onFirstLogin`), whether
 * it was the user's first, and the `returnTo` path the login started with.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoginEvent extends Identity {
  readonly userId: string | undefined
  readonly firstLogin: boolean
  readonly returnTo: string | undefined
}

/**
 * The app's part in a login. A hook's failure stops the login (the user sees the server problem
 * page or a 500 JSON problem; the failure is logged by its tag only).
 *
 * - `findUser`: the local user of an identity (look it up by `unionid` across apps, then by
 *   `appId` + `openid`), or `undefined` for a new user.
 * - `onFirstLogin`: when `findUser` finds nobody: create the local user, return its id. Needs
 *   `findUser`.
 * - `onLogin`: after every login (first or not), before the session starts.
 * - `afterLogin`: where a browser goes next: a path on this site of up to 2,048 bytes once
 *   percent-encoded (anything else is ignored). Default: the `returnTo` of the login start, else
 *   `home`.
 * - `onPhoneNumber`: a mini program user's phone number, when it is asked for.
 * - `onLogout`: after a logout ended the user's session (`everywhere`: every session of the user in
 *   that app), by any of the logout routes or `logout` / `logoutEverywhere`; e.g. to forget the
 *   user's stored WeChat token. Its failure is logged and does not undo the logout.
 *
 * @since 0.1.0
 * @category models
 */
export interface Hooks<R = never> {
  readonly findUser?: ((identity: Identity) => Effect.Effect<string | undefined, unknown, R>) | undefined
  readonly onFirstLogin?: ((identity: Identity) => Effect.Effect<string, unknown, R>) | undefined
  readonly onLogin?: ((event: LoginEvent) => Effect.Effect<void, unknown, R>) | undefined
  readonly afterLogin?: ((event: LoginEvent) => Effect.Effect<string | undefined, unknown, R>) | undefined
  readonly onPhoneNumber?:
    | ((user: WeChatUser, phone: MiniProgram.PhoneInfo) => Effect.Effect<void, unknown, R>)
    | undefined
  readonly onLogout?: ((event: LogoutEvent) => Effect.Effect<void, unknown, R>) | undefined
}

/**
 * A logout, as the `onLogout` hook sees it: the user whose session ended, and whether every session
 * of the user in that app ended with it.
 *
 * @since 0.2.0
 * @category models
 */
export interface LogoutEvent {
  readonly user: WeChatUser
  readonly everywhere: boolean
}

/**
 * The reason key of a problem (`/login/:app/problem?reason=<key>`, and a JSON problem's `error`): a
 * fixed set, so nothing of a request is ever echoed into a problem page. An unknown key in a URL is
 * `not-found`.
 *
 * @since 0.2.0
 * @category models
 */
export type ProblemReason =
  | "denied"
  | "state"
  | "state-expired"
  | "state-browser"
  | "code-expired"
  | "code-used"
  | "busy"
  | "relogin"
  | "config"
  | "server"
  | "unavailable"
  | "forbidden"
  | "not-found"
  | "too-large"
  | "length-required"
  | "unsupported-type"
  | "bad-request"
  | "timeout"
  | "phone-code"
  | "unauthenticated"
  | "snapshot"

/**
 * What an app's problem page (`pages.problem`) is given: the problem's fixed reason key and HTTP
 * status (the answer keeps that status whatever the page says), the package's own texts for it in
 * Chinese (`title`, `text`) and English (`titleEn`, `textEn`) to reuse, where "log in again" goes
 * when a new login is the way out (`loginUrl`; `undefined` when it is not, e.g. `config`, `server`),
 * and where "back" goes (`homeUrl`, the `home` option).
 *
 * The values are raw text, not HTML: escape every one the page interpolates (`escapeHtml`). Nothing
 * of the request reaches it beyond the reason key (and the app key of the route, in `loginUrl`, only
 * when it names an app of the login).
 *
 * @since 0.2.0
 * @category models
 */
export interface ProblemPageContext {
  readonly reason: ProblemReason
  readonly status: number
  readonly title: string
  readonly titleEn: string
  readonly text: string
  readonly textEn: string
  readonly loginUrl: string | undefined
  readonly homeUrl: string
}

/**
 * What an app's "open this link in WeChat" page (`pages.openInWeChat`) is given: the absolute URL
 * to open in WeChat (`link`: the site's origin, `publicUrl` or else the request's `Host`, and the
 * login path with its normalised `returnTo`), the website app's QR login when the site has one
 * (`qrLoginUrl`, for scanning with WeChat on another device), and where "back" goes (`homeUrl`).
 *
 * The values are raw text, not HTML: escape every one the page interpolates (`escapeHtml`).
 *
 * @since 0.2.0
 * @category models
 */
export interface OpenInWeChatPageContext {
  readonly link: string
  readonly qrLoginUrl: string | undefined
  readonly homeUrl: string
}

/**
 * The app's own markup for two of the package's informational pages, each a plain function that
 * returns the whole HTML document:
 *
 * - `problem`: the problem page (`/login/:app/problem?reason=`, and wherever a browser route answers
 *   a problem: an unknown path, a refused cross-site logout, an app that is not enabled).
 * - `openInWeChat`: the page a phone browser outside WeChat gets for an official account's login.
 *
 * Only the body changes: the answer keeps the built-in page's status, `Content-Type`, security
 * headers (a `Content-Security-Policy` that allows no script: inline `<style>` and images only) and
 * `Cache-Control: no-store`. The context's values are raw text: escape what the page interpolates
 * (`escapeHtml`). A renderer that throws, or returns anything but a string, is logged (which
 * renderer, never the request) and the built-in page is served instead. A renderer runs on every
 * such answer, synchronously: keep it quick.
 *
 * The embedded QR page and the page that takes the QR frame's window on are the package's own: they
 * run scripts under a per-response nonce, which a custom page cannot take over safely.
 *
 * @since 0.2.0
 * @category models
 */
export interface Pages {
  readonly problem?: ((page: ProblemPageContext) => string) | undefined
  readonly openInWeChat?: ((page: OpenInWeChatPageContext) => string) | undefined
}

/**
 * Many apps through the `WeChatApps` registry of `@wxauth/core` (in the login's context): an app
 * of the registry logs in at `/login/<appid>` (its callback `/login/<appid>/callback`; a mini
 * program at `/api/wechat/mini-program/<appid>/login`). The registry knows an app's credentials,
 * not how it logs people in: `kindOf` says it (`undefined`: not a login app, 404). `scope`,
 * `qrCode` and `phoneNumber` apply to the registry's official accounts, website apps and mini
 * programs; `openBaseUrl` is the origin of their consent pages (WeChat's by default), for the
 * embedded QR code's frame: an http(s) URL of at most 2048 characters.
 *
 * A session of a registry app is accepted while the registry serves the app, in a kind that fits
 * the session: `kindOf` is asked on every request with such a session (answer it from memory or a
 * cache), so an app it no longer knows logs its users out at once (an app only the resolver no
 * longer knows, once `WeChatApps`' `ttl` has passed). On that path `kindOf` is given 5 seconds: one
 * that hangs costs each such request 5 seconds, then a 500. A failure of `kindOf` or of the
 * resolver is logged and answered as the session store's (`SessionStoreError`, a 500). A logout
 * never asks the registry.
 *
 * @since 0.1.0
 * @category models
 */
export interface RegistryOptions<R = never> {
  readonly kindOf: (
    appId: string
  ) => Effect.Effect<"officialAccount" | "website" | "miniProgram" | undefined, unknown, R>
  readonly scope?: "snsapi_base" | "snsapi_userinfo" | undefined
  readonly qrCode?: QrCodeOptions | undefined
  readonly phoneNumber?: boolean | undefined
  readonly openBaseUrl?: string | undefined
}

/**
 * The login's configuration.
 *
 * - `apps`: the WeChat apps, by a key of your choosing (it is in the URLs: `/login/<key>`).
 * - `registry`: more apps, from the `WeChatApps` registry in context (see `RegistryOptions`).
 * - `publicUrl`: the site's origin as WeChat knows it (the `redirect_uri`'s), e.g.
 *   `https://example.com` (at most 2048 characters). Without it (a warning is logged when the
 *   layer is built), each request decides: its `Host`, and https when the first value of
 *   `X-Forwarded-Proto` is `https` (any case), else, without that header, when a Web `Request`'s
 *   URL is `https:` or the connection is TLS. `X-Forwarded-Proto` is trusted as sent, which is only safe behind a proxy that sets it:
 *   set `publicUrl` in production.
 * - `pathPrefix`: put every route under a path, e.g. `/auth` (default: none): 1 to 8 segments of
 *   letters, digits, `.`, `_`, `~` and `-`, no slash at the end, at most 256 characters in all.
 * - `home`: where a login lands without `returnTo`, and where logout goes (default `/`): a path on
 *   this site of at most 2048 bytes once percent-encoded.
 * - `sessionTtl`: how long a browser session lasts (default 24 hours);
 *   `miniProgramSessionTtl`: a mini program's (default 7 days).
 * - `maxSessionsPerUser`: the most sessions one user may have in the login's own memory session
 *   store (a positive integer, default 100): a login beyond it ends the user's least recently
 *   written session, so one account logging in without end logs out only itself. It bounds the
 *   memory store the login makes; with a `SessionStore` in the context it is a `ConfigError` (set
 *   the bound on that store: `SessionStore.makeMemory({ maxSessionsPerUser })`, or
 *   the `maxSessionsPerUser` option of `RedisSessionStore` (`@wxauth/store-redis`) or `SqlSessionStore`
 *   (`@wxauth/store-sql`)).
 * - `hooks`: see `Hooks`.
 * - `pages`: the app's own problem page and "open in WeChat" page (see `Pages`).
 *
 * The stores and the HTTP client come from the context when provided (`SessionStore`,
 * `TokenStore`, `AppTokenStore`, `RefreshLock`, `SessionKeyStore`, `HttpClient`, with core's
 * `WeChatHttpClient.EnforcesRequestLimits` and `WeChatHttpClient.ProxyUrl` when present); otherwise
 * memory stores (for one process) and core's `WeChatHttpClient`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<R = never> {
  readonly apps?: { readonly [key: string]: AppOptions } | undefined
  readonly registry?: RegistryOptions<R> | undefined
  readonly publicUrl?: string | undefined
  readonly pathPrefix?: string | undefined
  readonly home?: string | undefined
  readonly sessionTtl?: Duration.DurationInput | undefined
  readonly miniProgramSessionTtl?: Duration.DurationInput | undefined
  readonly maxSessionsPerUser?: number | undefined
  readonly hooks?: Hooks<R> | undefined
  readonly pages?: Pages | undefined
}

/**
 * The service.
 *
 * @since 0.1.0
 * @category models
 */
export interface WeChatLoginShape {
  /**
   * The login as one `HttpApp`: its routes, and a 404 (page, or JSON under `/api/`) for any other
   * path. Every failure is answered; nothing escapes as an error.
   */
  readonly httpApp: HttpApp.Default<never, Scope>
  /**
   * Whether a path is one of the login's (then `httpApp` answers it). A value that is not a string
   * (a `URL` object, `undefined`) is not: pass `url.pathname`.
   */
  readonly handles: (pathname: string) => boolean
  /**
   * The user of a request: `Unauthenticated` without a live session of an app this site serves (see
   * `CurrentWeChatUser`); `SessionStoreError` when the session store, or the registry asked whether
   * it still serves the session's app, fails. When it finds the user, the request's answer gets
   * `Cache-Control: private, no-store` unless the route sets a `Cache-Control` of its own (a
   * pre-response handler, which `@effect/platform`'s server applies).
   */
  readonly currentUser: Effect.Effect<
    WeChatUser,
    Unauthenticated | CrossSiteRequest | WeChatError.SessionStoreError,
    HttpServerRequest.HttpServerRequest
  >
  /**
   * The user's WeChat profile (`WeChatOAuth.getUser` of the user's app, refreshing the token as
   * needed). When WeChat refuses the refresh token (40030, 42002), every session of the user ends
   * and this fails with `Unauthenticated` (`Reauthorize`). A user whose login gives no profile (a
   * mini program's; a session whose scopes hold `snsapi_base` and neither `snsapi_userinfo` nor
   * `snsapi_login`, of an app whose `scope` option, or `registry.scope`, is `snsapi_base` now) gets
   * a `local`, `permanent` `ScopeUnauthorized` without a WeChat call, as `Identity.profile`. A
   * session of any other scopes (none recorded; an `snsapi_base` one from before the app's `scope`
   * became `snsapi_userinfo`) is asked of WeChat with the stored token.
   *
   * `user` names a session (`sessionId`), and the session says who the user is: it must be live and
   * be this user's (`app`, `appId`, `openid`, `kind`), else `Unauthenticated` (`Invalid`). So a user
   * value written from plain fields (a JSON body, a value the client sent back) acts for nobody
   * unless it carries a live session of that very user. Give it the user `currentUser` (or the
   * `CurrentWeChatUser` middleware) produced. For a user without a session (a background job), use
   * core's `WeChatOAuth.getUser(openid)`.
   */
  readonly getUser: (
    user: WeChatUser,
    options?: { readonly lang?: UserInfo.Lang | undefined }
  ) => Effect.Effect<
    UserInfo.UserInfo,
    Unauthenticated | WeChatOAuth.RefreshError | WeChatError.SessionStoreError | WeChatError.InvalidArgument
  >
  /**
   * The user's stored WeChat token (no call to WeChat); `None` for a mini program user. Like
   * `getUser`, only for the user of a live session (`Unauthenticated` otherwise).
   */
  readonly getToken: (
    user: WeChatUser
  ) => Effect.Effect<
    Option.Option<OAuthToken.OAuthToken>,
    WeChatError.TokenStoreError | WeChatError.InvalidArgument | Unauthenticated | WeChatError.SessionStoreError
  >
  /**
   * Ends the user's session (`sessionId`). A session already over is fine (nothing to end); a
   * session of another user is an `InvalidArgument` (a user value does not end someone else's).
   */
  readonly logout: (
    user: WeChatUser
  ) => Effect.Effect<void, WeChatError.SessionStoreError | WeChatError.InvalidArgument>
  /**
   * Ends every session of the user (in every process, with a shared store): how many were live.
   * Like `getUser`, only for the user of a live session (`Unauthenticated` otherwise): a user value
   * written from plain fields cannot log anyone else out. To end the sessions of a user by id
   * (an administrator's action), call `SessionStore.revokeUser(appId, openid)`.
   */
  readonly logoutEverywhere: (
    user: WeChatUser
  ) => Effect.Effect<number, WeChatError.SessionStoreError | WeChatError.InvalidArgument | Unauthenticated>
  /** The OpenAPI document of the JSON endpoints (with the `pathPrefix`). */
  readonly openApi: OpenApi.OpenAPISpec
  /** The login's paths, with the `pathPrefix`. */
  readonly paths: Paths
}

/**
 * The login's paths.
 *
 * @since 0.1.0
 * @category models
 */
export interface Paths {
  /**
   * `/login`, or with an app's key `/login/<key>`; `returnTo` is added as a query parameter. Never
   * throws: a lone surrogate is sent as U+FFFD (as the URL parser sends one), and an argument that
   * is not a string (a JavaScript caller's mistake) is left out.
   */
  readonly login: (app?: string | undefined, returnTo?: string | undefined) => string
  readonly logout: string
  readonly logoutEverywhere: string
  readonly openApi: string
}

/**
 * @since 0.1.0
 * @category tags
 */
export class WeChatLogin extends Context.Tag("@wxauth/http/WeChatLogin")<WeChatLogin, WeChatLoginShape>() {}

/**
 * Builds the service and the `CurrentWeChatUser` middleware from the options. A field of the wrong
 * type or shape is a `ConfigError` naming it, and so is one that cannot be read (a getter or a
 * Proxy trap that throws, a revoked Proxy). The options (and their `apps`, `hooks`, `pages`, ...)
 * are read once, when the layer is built: a later change to them reaches no request.
 *
 * @example
 * ```ts
 * import { WeChatLogin } from "@wxauth/http"
 * import * as Redacted from "effect/Redacted"
 *
 * export const LoginLive = WeChatLogin.layer({
 *   publicUrl: "https://example.com",
 *   apps: {
 *     official: { kind: "officialAccount", appId: "wx1111111111111111", appSecret: Redacted.make("...") },
 *     web: { kind: "website", appId: "wx2222222222222222", appSecret: Redacted.make("...") }
 *   }
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <R = never>(
  options: Options<R>
): Layer.Layer<WeChatLogin | CurrentWeChatUser, ConfigError.ConfigError, Exclude<R, Scope>> =>
  Layer.scopedContext(
    Effect.map(internal.make(options), (service) =>
      Context.make(WeChatLogin, service.shape).pipe(
        Context.add(CurrentWeChatUser, service.middleware)
      ))
  ) as any

/**
 * The service from `Config` values (e.g. the environment). Hooks and pages are functions: give them
 * in `hooks` and `pages`, beside the configuration. Options that are not an object of `Config`
 * values (or that `Config.unwrap` cannot walk: a `null` field, a Proxy) are a `ConfigError` when
 * the layer is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = <R = never>(
  options: Config.Config.Wrap<Omit<Options<R>, "hooks" | "registry" | "pages">>,
  hooks?: Hooks<R> | undefined,
  pages?: Pages | undefined
): Layer.Layer<WeChatLogin | CurrentWeChatUser, ConfigError.ConfigError, Exclude<R, Scope>> =>
  Layer.unwrapEffect(
    Effect.map(WeChatConfig.unwrapConfig(options), (resolved) => layer<R>({ ...resolved, hooks, pages }))
  )

/**
 * Escapes text for HTML content and for a quoted attribute value (`&`, `<`, `>`, `"`, `'`): for the
 * values an app's page (`pages`) interpolates. A number is written as its digits; anything else
 * that is not a string (a JavaScript caller's mistake) throws a `TypeError` rather than put
 * unescaped text in a page.
 *
 * @example
 * ```ts
 * import { WeChatLogin } from "@wxauth/http"
 *
 * const html = `<a href="${WeChatLogin.escapeHtml("/?a=1&b=2")}">${WeChatLogin.escapeHtml("<back>")}</a>`
 * // <a href="/?a=1&amp;b=2">&lt;back&gt;</a>
 * ```
 *
 * @since 0.2.0
 * @category pages
 */
export const escapeHtml = (value: string | number): string => internalPages.escapeText(value)

/**
 * The login as an `HttpApp` (see `WeChatLoginShape.httpApp`), e.g. for `HttpServer.serve`.
 *
 * @since 0.1.0
 * @category routes
 */
export const httpApp: HttpApp.Default<never, WeChatLogin | Scope> = Effect.flatMap(
  WeChatLogin,
  (service) => service.httpApp
)

/**
 * A router with the login's paths (`/login`, `/login/*`, `/logout`, `/logout/*`, `/api/wechat/*`,
 * under the `pathPrefix`), each answered by the login: concatenate it with the app's own routes.
 *
 * @since 0.1.0
 * @category routes
 */
export const router: Effect.Effect<HttpRouter.HttpRouter<never, Scope>, never, WeChatLogin> = Effect.map(
  WeChatLogin,
  (service) => internal.routerOf(service)
)

/**
 * Adds the login's routes to a router Tag: `HttpRouter.Default` (`layerRoutes`), or an app's own
 * (`HttpApiBuilder.Router` for an `HttpApi` served with `HttpApiBuilder.serve`).
 *
 * @since 0.1.0
 * @category routes
 */
export const layerRoutesTo = <Self, Name extends string, E, R>(
  tag: HttpRouter.HttpRouter.TagClass<Self, Name, E, R>
): Layer.Layer<never, never, WeChatLogin> =>
  tag.use((target) => Effect.flatMap(router, (login) => target.concat(login as any)))

/**
 * Adds the login's routes to `HttpRouter.Default` (serve it with `HttpRouter.Default.serve()`).
 *
 * @since 0.1.0
 * @category routes
 */
export const layerRoutes: Layer.Layer<never, never, WeChatLogin> = layerRoutesTo(HttpRouter.Default)

/**
 * The service (`layer`) with its routes on `HttpRouter.Default`: the whole login of an app served
 * with `HttpRouter.Default.serve()`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDefault = <R = never>(
  options: Options<R>
): Layer.Layer<WeChatLogin | CurrentWeChatUser, ConfigError.ConfigError, Exclude<R, Scope>> =>
  Layer.provideMerge(layerRoutes, layer(options))

/**
 * A Web-standard handler (`Request` -> `Promise<Response>`) of the login, for servers that are
 * not Effect servers (Node's `http`, Express through an adapter, Deno, Bun, workers), and the
 * Promise twins of the service for the app's own routes: `currentUser(request)` (the user, or
 * `undefined`), `getUser(user)`, `logoutEverywhere(user)`. `dispose()` releases the layer's
 * resources. It does not throw: `options` that cannot be read (a getter or a Proxy trap that
 * throws) are logged and left out.
 *
 * ```ts
 * import { WeChatLogin } from "@wxauth/http"
 *
 * const login = WeChatLogin.toWebHandler(
 *   WeChatLogin.layer({ apps: { web: { kind: "website", appId: "wx2222222222222222", appSecret: "..." } } })
 * )
 * export default {
 *   fetch: async (request: Request) => {
 *     if (await login.handles(request)) return login.handler(request)
 *     const user = await login.currentUser(request)
 *     return new Response(user === undefined ? "hello" : `hello ${user.openid}`)
 *   }
 * }
 * ```
 *
 * @since 0.1.0
 * @category web handler
 */
export const toWebHandler = <E>(
  layer: Layer.Layer<WeChatLogin | CurrentWeChatUser, E, never>,
  options?: { readonly memoMap?: Layer.MemoMap | undefined }
): WebHandler => web.toWebHandler(WeChatLogin, layer, options)

/**
 * What `toWebHandler` gives.
 *
 * @since 0.1.0
 * @category web handler
 */
export interface WebHandler {
  /**
   * Answers a request to one of the login's paths (any other path: a 404). Never rejects: a value
   * that is not a `Request` (a server adapter's mistake) gets a 400, a layer that failed a 500. A
   * subclass of `Request` (a framework's) is read as the `Request` it is.
   */
  readonly handler: (request: Request) => Promise<Response>
  /** Whether the request's path is one of the login's (once the layer is built). */
  readonly handles: (request: Request | URL | string) => Promise<boolean>
  /**
   * The logged-in user of a request, or `undefined` (no session, or a cross-site request that
   * changes something). Reads the request's headers only (its body stays the caller's), and sets no
   * header on your answer: send `Cache-Control: private, no-store` on answers for a user. Rejects
   * only when the layer failed, the session store is down, or the argument is not a `Request`
   * (`InvalidArgument`).
   */
  readonly currentUser: (request: Request) => Promise<WeChatUser | undefined>
  /**
   * `WeChatLoginShape.getUser`, as a Promise: it rejects with the typed error itself (`_tag`
   * `Unauthenticated` when the user's session is not live, or WeChat refused the refresh token and
   * the user's sessions ended). `user` must be `currentUser`'s answer (its session live).
   */
  readonly getUser: (
    user: WeChatUser,
    options?: { readonly lang?: UserInfo.Lang | undefined }
  ) => Promise<UserInfo.UserInfo>
  /** `WeChatLoginShape.logoutEverywhere`, as a Promise (`user` with a live session, as for `getUser`). */
  readonly logoutEverywhere: (user: WeChatUser) => Promise<number>
  /** Releases the layer's resources (stores, connections). */
  readonly dispose: () => Promise<void>
}
