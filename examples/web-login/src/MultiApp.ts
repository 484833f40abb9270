/**
 * The multi-app page: two official accounts that authorized one third-party platform, logged in to
 * through one `WeChatApps` registry and one callback URL. The state of each login carries the
 * account's appid (signed with the registry's state secret), and the callback finds the account
 * from it; the platform calls WeChat for both accounts with its component access token.
 *
 * | route | what it does |
 * |---|---|
 * | `GET /multi-app` | the two accounts' login buttons; who is logged in, to which account |
 * | `GET /multi-app/login?app=` | a fresh binding cookie, then the account's consent page (`component_appid` in it) |
 * | `GET /multi-app/callback` | `WeChatApps.handleCallback`: the account from the state, a session of this page, leave at once |
 * | `POST /multi-app/logout` | end this page's session, forget the token |
 * | `POST /wechat/component/events` | the platform's authorization-event URL: WeChat's pushes (`Component.makeHttpApp`) |
 *
 * In demo mode the sandbox plays the platform and its two accounts; its first ticket is accepted at
 * start (WeChat's first push). In live mode the page is on when `WECHAT_COMPONENT_APP_ID`,
 * `WECHAT_COMPONENT_APP_SECRET`, `WECHAT_COMPONENT_TOKEN`, `WECHAT_COMPONENT_AES_KEY` and
 * `WECHAT_COMPONENT_APPS` (`appid:name,appid:name`) are set. Its sessions are its own (in memory,
 * a signed random id in a cookie of its own), so the rest of the example is unchanged.
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type { AppTokenStore, TokenStore } from "@wxauth/core"
import { Component, WeChatApps, WeChatError } from "@wxauth/core"
import type { Sandbox } from "@wxauth/sandbox"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Crypto from "node:crypto"
import type * as AppConfig from "./AppConfig.js"
import * as Pages from "./Pages.js"
import * as Problems from "./Problems.js"
import * as Session from "./Session.js"
import { WebLogin } from "./WebLogin.js"

// -------------------------------------------------------------------------------------------------
// configuration
// -------------------------------------------------------------------------------------------------

/** An official account of the platform, as the page lists it. */
export interface Account {
  readonly appId: string
  readonly name: string
}

/** The sandbox's platform in demo mode: its appid, secret, and its push URL's token and key. */
export const demoPlatform = {
  componentAppId: "wxsandboxplatform1",
  componentAppSecret: "f4787e80079c6f8a9a7f660e15c8b4e2",
  token: "sandboxplatform",
  encodingAesKey: "tKqruvnFD9TvtArRaarAq28BiWHq0GNulfXw1Eeus1w"
} as const

/** The two official accounts that authorized it. */
export const demoAccounts: ReadonlyArray<Account> = [
  { appId: "wxsandboxshop0001", name: "沙盒商店 (Sandbox Shop)" },
  { appId: "wxsandboxclub0001", name: "沙盒俱乐部 (Sandbox Club)" }
]

/** The sandbox's options in demo mode: its default apps, and the platform with its two accounts. */
export const sandboxOptions: Sandbox.SandboxOptions = {
  components: [{
    ...demoPlatform,
    name: "沙盒第三方平台 (Sandbox Platform)",
    // the first ticket is fetched at start; WeChat's timer has nowhere to push to here
    pushInterval: false,
    authorizers: demoAccounts.map((account) => ({
      appId: account.appId,
      kind: "officialAccount" as const,
      name: account.name,
      bound: true
    }))
  }]
}

/** `appid:name,appid:name` (a name is optional). */
const accountsConfig = Config.string("WECHAT_COMPONENT_APPS").pipe(
  Config.mapOrFail((text) => {
    const accounts = text.split(",").map((item) => item.trim()).filter((item) => item !== "").map((item) => {
      const at = item.indexOf(":")
      const appId = (at < 0 ? item : item.slice(0, at)).trim()
      return { appId, name: at < 0 ? appId : item.slice(at + 1).trim() || appId }
    })
    return accounts.length > 0 && accounts.every((account) => /^[A-Za-z0-9_-]{1,45}$/.test(account.appId)) &&
        new Set(accounts.map((account) => account.appId)).size === accounts.length
      ? Either.right(accounts)
      : Either.left(
        ConfigError.InvalidData(["WECHAT_COMPONENT_APPS"], "expected appid:name pairs separated by commas")
      )
  })
)

// -------------------------------------------------------------------------------------------------
// the service
// -------------------------------------------------------------------------------------------------

/** Who is logged in on this page, until when. */
interface PageSession {
  readonly appId: string
  readonly openid: string
  readonly expiresAt: number
}

/** The page's platform: its accounts, the registry, the push route, the page's sessions. */
export interface Platform {
  readonly componentAppId: string
  readonly accounts: ReadonlyArray<Account>
  readonly registry: WeChatApps.WeChatAppsShape
  /** The authorization-event URL's handler. */
  readonly events: HttpApp.Default
  readonly sessions: {
    readonly create: (session: PageSession) => Effect.Effect<string>
    readonly get: (id: string) => Effect.Effect<Option.Option<PageSession>>
    readonly remove: (id: string) => Effect.Effect<void>
  }
}

/** The page's service: `None` when no platform is configured (the page answers 404). */
export class MultiApp extends Context.Tag("@wxauth/example-web-login/MultiApp")<
  MultiApp,
  Option.Option<Platform>
>() {}

/** The page's sessions, in memory: at most 10,000, under a hash of their id. */
const makeSessions = (): Platform["sessions"] => {
  const sessions = new Map<string, PageSession>()
  const keyOf = (id: string) => Crypto.createHash("sha256").update(id).digest("hex")
  return {
    create: (session) =>
      Effect.sync(() => {
        const id = Session.newSessionId()
        sessions.set(keyOf(id), session)
        if (sessions.size > 10_000) sessions.delete(sessions.keys().next().value!)
        return id
      }),
    get: (id) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const session = sessions.get(keyOf(id))
        return session !== undefined && session.expiresAt > now ? Option.some(session) : Option.none()
      }),
    remove: (id) => Effect.sync(() => void sessions.delete(keyOf(id)))
  }
}

/** What the sandbox builds as WeChat's push (`/__sandbox/component/push`): its query and body. */
const SandboxPush = Schema.Struct({
  query: Schema.Record({ key: Schema.String, value: Schema.String }),
  body: Schema.String
})

/** In demo mode, WeChat's first ticket push, as the sandbox makes it, accepted by the platform. */
const firstTicket = (sandboxUrl: string, componentAppId: string) =>
  Effect.gen(function*() {
    const component = yield* Component.Component
    const push = yield* HttpClientRequest.post(`${sandboxUrl}/__sandbox/component/push`).pipe(
      HttpClientRequest.bodyUnsafeJson({ componentAppId, infoType: "component_verify_ticket" }),
      HttpClient.execute,
      Effect.flatMap(HttpClientResponse.filterStatusOk),
      Effect.flatMap(HttpClientResponse.schemaBodyJson(SandboxPush)),
      Effect.timeout("5 seconds")
    )
    yield* component.acceptPush({ query: push.query, body: push.body })
  }).pipe(
    // the page then shows WeChat's error at login; the rest of the example works
    Effect.catchAll((error) =>
      Effect.logWarning("web-login: the sandbox's first ticket push was not accepted").pipe(
        Effect.annotateLogs({ error: String(error) })
      )
    )
  )

/** The platform, its accounts and the registry's state secret. */
interface Settings {
  readonly component: Component.Options
  readonly accounts: ReadonlyArray<Account>
  readonly stateSecret: Redacted.Redacted<string> | string
}

/** The platform's settings: the sandbox's in demo mode; from the environment in live mode (or none). */
const settings = (
  config: AppConfig.AppConfig,
  sandboxUrl: Option.Option<string>
): Effect.Effect<Option.Option<Settings>, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    if (config.mode._tag === "Demo") {
      const url = Option.getOrElse(sandboxUrl, () => "")
      return Option.some<Settings>({
        component: { ...demoPlatform, apiBaseUrl: url, openBaseUrl: url },
        accounts: demoAccounts,
        // a random state secret: logins in progress end with the process, as sessions do
        stateSecret: Redacted.make(Crypto.randomBytes(32).toString("base64url"))
      })
    }
    const componentAppId = yield* Config.option(Config.nonEmptyString("WECHAT_COMPONENT_APP_ID"))
    if (Option.isNone(componentAppId)) return Option.none<Settings>()
    const componentAppSecret = yield* Config.redacted("WECHAT_COMPONENT_APP_SECRET")
    const live = config.mode
    return Option.some<Settings>({
      component: {
        componentAppId: componentAppId.value,
        componentAppSecret,
        token: yield* Config.redacted("WECHAT_COMPONENT_TOKEN"),
        encodingAesKey: yield* Config.redacted("WECHAT_COMPONENT_AES_KEY"),
        apiBaseUrl: live.officialAccount.apiBaseUrl,
        openBaseUrl: live.officialAccount.openBaseUrl
      },
      accounts: yield* accountsConfig,
      // WECHAT_STATE_SECRET, or one derived from the platform's secret: the same in every process
      stateSecret: live.officialAccount.stateSecret ??
        Redacted.make(
          Crypto.createHmac("sha256", Redacted.value(componentAppSecret)).update("web-login/multi-app/state").digest(
            "hex"
          )
        )
    })
  })

/**
 * The page's service: the platform (`Component`) and a `WeChatApps` registry of its accounts
 * (`component: true`), on the example's token stores and HTTP client.
 */
export const layer = (
  config: AppConfig.AppConfig
): Layer.Layer<
  MultiApp,
  ConfigError.ConfigError,
  WebLogin | HttpClient.HttpClient | TokenStore.TokenStore | AppTokenStore.AppTokenStore
> =>
  Layer.scoped(
    MultiApp,
    Effect.gen(function*() {
      const web = yield* WebLogin
      const found = yield* settings(config, web.sandboxUrl)
      if (Option.isNone(found)) return Option.none()
      const { accounts, component, stateSecret } = found.value
      const context = yield* Layer.build(
        WeChatApps.layer(
          { apps: accounts.map(({ appId }) => ({ appId, component: true as const })) },
          { stateSecret }
        ).pipe(Layer.provideMerge(Component.layer(component)))
      )
      const registry = Context.get(context, WeChatApps.WeChatApps)
      const events = yield* Component.makeHttpApp().pipe(Effect.provide(context))
      if (config.mode._tag === "Demo" && Option.isSome(web.sandboxUrl)) {
        yield* firstTicket(web.sandboxUrl.value, component.componentAppId).pipe(Effect.provide(context))
      }
      return Option.some<Platform>({
        componentAppId: component.componentAppId,
        accounts,
        registry,
        events,
        sessions: makeSessions()
      })
    })
  )

// -------------------------------------------------------------------------------------------------
// routes
// -------------------------------------------------------------------------------------------------

/** The platform, when the page is on (the service may also be absent: a test of other pages). */
const platform = Effect.map(Effect.serviceOption(MultiApp), Option.flatten)

const leaveCallback: Readonly<Record<string, string>> = { "referrer-policy": "no-referrer" }

/** The origin this site is reached at: `PUBLIC_URL`, or the request's own. */
const siteOrigin = Effect.gen(function*() {
  const web = yield* WebLogin
  const request = yield* HttpServerRequest.HttpServerRequest
  return Option.getOrElse(
    web.publicUrl,
    () =>
      Option.match(HttpServerRequest.toURL(request), { onNone: () => "http://localhost", onSome: (url) => url.origin })
  )
})

/** The cookies: the example's binding cookie, and this page's own session cookie. */
const cookies = Effect.map(siteOrigin, (origin) => {
  const secure = origin.startsWith("https:")
  return {
    binding: Session.cookieNames(secure).binding,
    session: secure ? "__Host-wxauth_multi_app" : "wxauth_multi_app",
    options: Session.cookieOptions(secure)
  }
})

/** This page's session id, when the cookie is ours. */
const sessionId = Effect.gen(function*() {
  const web = yield* WebLogin
  const request = yield* HttpServerRequest.HttpServerRequest
  return Session.verify(web.sessionKey, request.cookies[(yield* cookies).session])
})

const htmlPage = (body: string, status = 200) =>
  HttpServerResponse.text(body, { status, contentType: "text/html; charset=utf-8" })

const notFound = Effect.succeed(htmlPage(
  Pages.problem({
    problem: Problems.problems["not-found"],
    app: "officialAccount",
    loggedIn: false,
    dev: Option.none()
  }),
  404
))

/** The page of a failure: an app the registry does not know is a state problem (the state named it). */
const problemOf = (error: WeChatError.WeChatError): Problems.Problem =>
  error._tag === "UnknownApp" ? Problems.problems.state : Problems.fromError(error)

/** Logs a failure (its tag and errcode only) and sends the browser to the error page. */
const failure = (error: WeChatError.WeChatError, headers: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const problem = problemOf(error)
    yield* Effect.logWarning("web-login: a multi-app login step failed").pipe(
      Effect.annotateLogs({
        error: error._tag,
        ...(WeChatError.isWeChatApiError(error) ? { errcode: error.errcode } : {}),
        page: problem.reason
      })
    )
    return HttpServerResponse.redirect(`/error?reason=${problem.reason}`, { status: 303, headers })
  })

/** Who is logged in on the page, with their nickname when WeChat gave it. */
interface PageLogin {
  readonly session: PageSession
  readonly nickname: Option.Option<string>
}

const accountPage = (platform: Platform, login: Option.Option<PageLogin>) => {
  const account = (appId: string) => platform.accounts.find((a) => a.appId === appId)
  const loggedIn = Option.match(login, {
    onNone: () => "",
    onSome: ({ nickname, session }) =>
      `<div class="notice" id="multi-app-logged-in">你已登录 <b id="multi-app-account">${
        Pages.escapeHtml(account(session.appId)?.name ?? session.appId)
      }</b>${
        Option.match(nickname, {
          onNone: () => "",
          onSome: (n) => `，昵称 <b id="multi-app-nickname">${Pages.escapeHtml(n)}</b>`
        })
      } · You are logged in to this account.
<dl><dt>appid</dt><dd><code id="multi-app-appid">${Pages.escapeHtml(session.appId)}</code></dd>
<dt>openid</dt><dd><code id="multi-app-openid">${Pages.escapeHtml(session.openid)}</code></dd></dl>
<form method="post" action="/multi-app/logout"><button class="btn danger" id="multi-app-logout" type="submit">退出登录<small>Log out of this account</small></button></form></div>`
  })
  const buttons = platform.accounts.map((a) =>
    `<a class="btn primary" id="multi-app-login-${Pages.escapeHtml(a.appId)}" href="/multi-app/login?app=${
      encodeURIComponent(a.appId)
    }">登录 ${Pages.escapeHtml(a.name)}<small>Log in to ${Pages.escapeHtml(a.appId)} · snsapi_userinfo</small></a>`
  ).join("\n")
  return `<h1>多个公众号 · Many official accounts</h1>
<p class="en">Official accounts that authorized one third-party platform (<code id="multi-app-platform">${
    Pages.escapeHtml(platform.componentAppId)
  }</code>), logged in to through one <code>WeChatApps</code> registry.</p>
${loggedIn}
<p>所有公众号共用一个回调地址 <code>/multi-app/callback</code>：登录时 state 中带有公众号的 appid（已签名），回调据此找到公众号，微信回调中的 appid 必须与之一致。平台用自己的 component_access_token 为各公众号换取用户令牌。</p>
<p class="muted">One callback URL serves every account: the login's state carries the account's appid (signed), the callback finds the account from it, and WeChat's <code>appid</code> parameter must agree. The platform exchanges the codes of every account with its one component access token. Its authorization-event URL is <code>POST /wechat/component/events</code>.</p>
<div class="actions">
${buttons}
</div>`
}

/** `GET /multi-app`. */
const page = Effect.gen(function*() {
  const found = yield* platform
  if (Option.isNone(found)) return yield* notFound
  const web = yield* WebLogin
  const id = yield* sessionId
  const session = Option.isSome(id) ? yield* found.value.sessions.get(id.value) : Option.none<PageSession>()
  const login = yield* Option.match(session, {
    onNone: () => Effect.succeed(Option.none<PageLogin>()),
    onSome: (session) =>
      Effect.gen(function*() {
        const cached = yield* web.profiles.get(session.appId, session.openid)
        const profile = Option.isSome(cached)
          ? Option.some(cached.value.user)
          : yield* Effect.flatMap(found.value.registry.oauth(session.appId), (oauth) => oauth.getUser(session.openid))
            .pipe(
              Effect.tap((user) =>
                Effect.flatMap(Clock.currentTimeMillis, (fetchedAt) =>
                  web.profiles.set(session.appId, { user, fetchedAt }))
              ),
              Effect.option
            )
        return Option.some<PageLogin>({
          session,
          nickname: Option.map(profile, (user) =>
            user.nickname)
        })
      })
  })
  return htmlPage(Pages.layout({ title: "多个公众号", dev: Option.none(), body: accountPage(found.value, login) }))
})

/** `GET /multi-app/login?app=`: a fresh binding cookie, then the account's consent page. */
const startLogin = Effect.gen(function*() {
  const found = yield* platform
  if (Option.isNone(found)) return yield* notFound
  const request = yield* HttpServerRequest.HttpServerRequest
  const appId = new URL(request.url, "http://localhost").searchParams.get("app")
  // only the accounts the page lists: the registry would refuse others anyway
  if (!found.value.accounts.some((account) => account.appId === appId)) return yield* notFound
  const binding = Session.newBinding()
  const names = yield* cookies
  const { url } = yield* found.value.registry.authorizeUrl(appId!, {
    redirectUri: `${yield* siteOrigin}/multi-app/callback`,
    scope: "snsapi_userinfo",
    binding
  })
  return HttpServerResponse.redirect(url, { status: 302 }).pipe(
    HttpServerResponse.unsafeSetCookie(names.binding, binding, names.options)
  )
}).pipe(Effect.catchAll((error) => failure(error)))

/**
 * `GET /multi-app/callback`: the account is the one the verified state names; the browser must be
 * the one that started (the binding cookie). A new session of this page, the binding rotated, and a
 * 303 away at once, so the code neither stays in the address bar nor leaves in a `Referer`.
 */
const callback = Effect.gen(function*() {
  const found = yield* platform
  if (Option.isNone(found)) return yield* notFound
  const web = yield* WebLogin
  const request = yield* HttpServerRequest.HttpServerRequest
  const names = yield* cookies
  const cookie = request.cookies[names.binding]
  const { appId, token } = yield* found.value.registry.handleCallback(request.url, {
    binding: Session.isBinding(cookie) ? cookie : undefined
  })
  yield* web.profiles.remove(appId, token.openid)
  const previous = yield* sessionId
  if (Option.isSome(previous)) yield* found.value.sessions.remove(previous.value)
  const now = yield* Clock.currentTimeMillis
  const id = yield* found.value.sessions.create({
    appId,
    openid: token.openid,
    expiresAt: now + Duration.toMillis(Session.sessionTtl)
  })
  return HttpServerResponse.redirect("/multi-app", { status: 303, headers: leaveCallback }).pipe(
    HttpServerResponse.unsafeSetCookie(names.session, Session.sign(web.sessionKey, id), {
      ...names.options,
      maxAge: Session.sessionTtl
    }),
    HttpServerResponse.unsafeSetCookie(names.binding, Session.newBinding(), names.options)
  )
}).pipe(
  Effect.catchAll((error) => failure(error, leaveCallback)),
  Effect.catchAllDefect((defect) =>
    Effect.as(
      Effect.logError("web-login: unexpected failure in the multi-app callback", defect),
      HttpServerResponse.redirect("/error?reason=server", { status: 303, headers: leaveCallback })
    )
  )
)

/** `POST /multi-app/logout`: the session ends on the server, the token is forgotten, the cookie cleared. */
const logout = Effect.gen(function*() {
  const found = yield* platform
  if (Option.isNone(found)) return yield* notFound
  const web = yield* WebLogin
  const names = yield* cookies
  const id = yield* sessionId
  if (Option.isSome(id)) {
    const session = yield* found.value.sessions.get(id.value)
    yield* found.value.sessions.remove(id.value)
    if (Option.isSome(session)) {
      const { appId, openid } = session.value
      yield* web.profiles.remove(appId, openid)
      yield* Effect.flatMap(found.value.registry.oauth(appId), (oauth) => oauth.removeToken(openid)).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning("web-login: could not remove the stored token").pipe(
            Effect.annotateLogs({ error: error._tag })
          )
        )
      )
    }
  }
  return HttpServerResponse.redirect("/multi-app", { status: 303 }).pipe(
    HttpServerResponse.expireCookie(names.session, names.options)
  )
})

/** `POST /wechat/component/events`: WeChat's pushes to the platform. */
const events = Effect.gen(function*() {
  const found = yield* platform
  if (Option.isNone(found)) return yield* notFound
  return yield* found.value.events
})

/** The page's routes, for `App.router`. */
export const routes = { page, startLogin, callback, logout, events } as const
