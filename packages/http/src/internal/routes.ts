/**
 * The browser routes of the login: login start (the flow picked from the browser), the callback,
 * the problem pages and logout; and the wrapping of the login's `HttpApp` (security headers on
 * every answer, a 404 for unknown paths, a problem answer for anything unexpected: on a callback a
 * redirect away from it, so a code never stays in the address bar).
 *
 * @internal
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { StateToken, WeChatError } from "@wxauth/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { Scope } from "effect/Scope"
import * as Crypto from "node:crypto"
import * as Browser from "./browser.js"
import type * as Config_ from "./config.js"
import * as Cookies from "./cookies.js"
import * as Landing from "./landing.js"
import * as Pages from "./pages.js"
import * as Problems from "./problems.js"
import type { App, Login, Site } from "./service.js"

/** Headers every answer gets (a route may set its own). @internal */
export const securityHeaders: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "cache-control": "no-store"
}

/** The callback's own headers: no `Referer` carrying the code may leave its URL. */
const leaveCallback: Readonly<Record<string, string>> = { "referrer-policy": "no-referrer" }

const htmlPage = (body: string, status = 200) =>
  HttpServerResponse.text(body, { status, contentType: "text/html; charset=utf-8" })

/**
 * The request's URL; `undefined` for a request-target the URL parser refuses (a client may send
 * any bytes, e.g. the absolute-form `http://[/login`): `httpApp` answers such a request 404 before
 * any route reads it.
 */
const urlOf = (request: HttpServerRequest.HttpServerRequest): URL | undefined => {
  try {
    return new URL(request.url, "http://localhost")
  } catch {
    return undefined
  }
}

/**
 * A verified state's return path as a browser requests it, for the `Location` header. A state this
 * app signed elsewhere (core's own authorizeUrl, StateToken.make) may carry any path on this site,
 * "/订单" too, and a header holds latin1 only: the path is percent-encoded (`/%E8%AE%A2%E5%8D%95`),
 * dot segments resolved, as any landing path (`Landing.landingPath`: the encoded form of a path the
 * state held may be three times as long, "/我的订单详情页面": 25 bytes in the state, 73 encoded).
 */
const statePath = (returnTo: string | undefined): string | undefined =>
  returnTo === undefined ? undefined : Landing.landingPath(returnTo)

const searchParams = (request: HttpServerRequest.HttpServerRequest): URLSearchParams =>
  urlOf(request)?.searchParams ?? new URLSearchParams()

const pathnameOf = (request: HttpServerRequest.HttpServerRequest): string => urlOf(request)?.pathname ?? ""

/**
 * A page of the app's (`pages`), else the built-in one. The renderer gets a frozen copy of the
 * context, so what it does to it cannot reach the built-in page. One that throws or gives anything
 * but a string does not fail the answer: the built-in page is served and the log names the
 * renderer (never the request, nor what the renderer threw: it may hold anything).
 */
const renderPage = <C extends object>(
  name: keyof Config_.ResolvedPages,
  renderer: ((page: C) => unknown) | undefined,
  page: C,
  builtIn: (page: C) => string
): Effect.Effect<string> =>
  Effect.suspend(() => {
    if (renderer === undefined) return Effect.succeed(builtIn(page))
    let failure: string
    try {
      const html = renderer(Object.freeze({ ...page }))
      if (typeof html === "string") return Effect.succeed(html)
      failure = `returned ${html === null ? "null" : typeof html}, not a string`
      // an `async` renderer: its rejection must not become an unhandled rejection of the process
      if ((typeof html === "object" && html !== null) || typeof html === "function") {
        Promise.resolve(html).catch(() => undefined)
      }
    } catch {
      failure = "threw"
    }
    return Effect.logWarning("wxauth: an app's page failed; the built-in page was served").pipe(
      Effect.annotateLogs({ page: `pages.${name}`, failure }),
      Effect.as(builtIn(page))
    )
  })

/** A problem page answered where it is asked: the app's (`pages.problem`), else the built-in one. */
const problemPage = (login: Login, problem: Problems.Problem, app: App | undefined) =>
  Effect.map(
    renderPage("problem", login.config.pages.problem, {
      reason: problem.reason,
      status: problem.status,
      title: problem.title,
      titleEn: problem.titleEn,
      text: problem.text,
      textEn: problem.textEn,
      loginUrl: !problem.retryLogin
        ? undefined
        : app === undefined || app.kind === "miniProgram"
        ? login.paths.login()
        : login.paths.login(app.key),
      homeUrl: login.paths.home
    }, Pages.problemPage),
    (html) => htmlPage(html, problem.status)
  )

/** A 303 to a problem page, away from a callback URL. */
const leaveFor = (login: Login, problem: Problems.Problem, app: App | undefined) =>
  HttpServerResponse.redirect(login.paths.problem(app?.key, problem.reason), { status: 303, headers: leaveCallback })

/**
 * A login's failure, logged: its tag, errcode or state check, and what `Problems.logDetail` allows
 * (a transport error's reason and phase, a malformed answer's or a store's description, cleaned),
 * never a code, token, secret or URL query.
 */
const logFailure = (message: string, error: { readonly _tag: string }, problem: Problems.Problem) =>
  Effect.logWarning(message).pipe(
    Effect.annotateLogs({
      error: error._tag,
      ...(error._tag === "StateMismatch" ? { stateCheck: (error as WeChatError.StateMismatch).reason } : {}),
      ...(WeChatError.isWeChatApiError(error) ? { errcode: error.errcode } : {}),
      ...Problems.logDetail(error),
      problem: problem.reason
    })
  )

// -------------------------------------------------------------------------------------------------
// login start
// -------------------------------------------------------------------------------------------------

/**
 * Sets a fresh binding cookie and sends the browser to WeChat (or shows the embedded QR page). The
 * binding is never one the browser brought.
 */
const startLogin = (login: Login, app: App, request: HttpServerRequest.HttpServerRequest, site: Site) =>
  Effect.gen(function*() {
    const oauth = Option.getOrUndefined(app.oauth)
    if (oauth === undefined) return yield* problemPage(login, Problems.problems.unavailable, undefined)
    const binding = Cookies.newBinding()
    const redirectUri = `${site.origin}${login.paths.callback(app.key)}`
    const returnTo = StateToken.normalizeReturnTo(searchParams(request).get("returnTo"))
    const setBinding = HttpServerResponse.unsafeSetCookie(site.names.binding, binding, site.cookie)
    if (app.kind === "officialAccount") {
      const { url } = yield* oauth.authorizeUrl({ redirectUri, scope: app.scope, returnTo, binding })
      return setBinding(HttpServerResponse.redirect(url, { status: 302 }))
    }
    const { state, url } = yield* oauth.websiteAuthorizeUrl({ redirectUri, returnTo, binding })
    if (!app.qrCode.embedded) return setBinding(HttpServerResponse.redirect(url, { status: 302 }))
    const nonce = Cookies.newNonce()
    const scriptOrigin = new URL(app.qrCode.scriptUrl).origin
    const frameOrigin = app.openBaseUrl
    const page = Pages.qrPage({
      scriptUrl: app.qrCode.scriptUrl,
      nonce,
      appId: app.appId,
      redirectUri,
      state,
      selfRedirect: app.qrCode.selfRedirect,
      style: app.qrCode.style,
      href: app.qrCode.href,
      lang: app.qrCode.lang,
      fallbackUrl: url,
      homeUrl: login.paths.home
    })
    return setBinding(htmlPage(page)).pipe(
      HttpServerResponse.setHeader(
        "content-security-policy",
        `default-src 'none'; script-src 'nonce-${nonce}' ${scriptOrigin}; frame-src ${frameOrigin}; ` +
          "style-src 'unsafe-inline'; img-src 'self' https: data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
      )
    )
  }).pipe(
    Effect.catchAll((error) =>
      Effect.zipRight(
        logFailure("wxauth: a login could not start", error, Problems.problems.config),
        problemPage(login, Problems.problems.config, undefined)
      )
    )
  )

/** The app the route's `:app` names, if any. */
const appOfRoute = (login: Login) =>
  Effect.flatMap(
    HttpRouter.params,
    ({ app }) => app === undefined ? Effect.succeed(undefined) : Effect.map(login.resolve(app), Option.getOrUndefined)
  )

/** The first app of a kind, in the options' order. */
const firstOf = (login: Login, kind: App["kind"]): App | undefined => {
  for (const app of login.apps.values()) if (app.kind === kind) return app
  return undefined
}

/** `GET /login`: the flow for this browser. */
const autoLogin = (login: Login) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const site = login.site(request)
    const browser = Browser.classify(request.headers["user-agent"])
    const returnTo = StateToken.normalizeReturnTo(searchParams(request).get("returnTo"))
    if (browser === "wechat") {
      const official = firstOf(login, "officialAccount")
      if (official !== undefined) return yield* startLogin(login, official, request, site)
      return yield* problemPage(login, Problems.problems.unavailable, undefined)
    }
    const website = firstOf(login, "website")
    const official = firstOf(login, "officialAccount")
    // a phone outside WeChat is sent to WeChat only when an official account can log it in there
    // (inside WeChat `/login` is the official account's); else the website app's QR login, as on a desktop
    if (website !== undefined && (browser === "desktop" || official === undefined)) {
      return yield* startLogin(login, website, request, site)
    }
    if (official === undefined) return yield* problemPage(login, Problems.problems.unavailable, undefined)
    return yield* openInWeChatWithReturnTo(login, site, login.paths.login(undefined, returnTo), website, returnTo)
  })

/** The page for a phone browser outside WeChat: open `link` in WeChat, or the website app's QR login. */
const openInWeChatWithReturnTo = (
  login: Login,
  site: Site,
  link: string,
  website: App | undefined,
  returnTo: string | undefined
) =>
  Effect.map(
    renderPage("openInWeChat", login.config.pages.openInWeChat, {
      link: `${site.origin}${link}`,
      qrLoginUrl: website === undefined ? undefined : login.paths.login(website.key, returnTo),
      homeUrl: login.paths.home
    }, Pages.openInWeChatPage),
    (html) => htmlPage(html)
  )

/** `GET /login/:app`: the named app; an official account outside WeChat asks to open the link there. */
const namedLogin = (login: Login) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const found = yield* Effect.either(appOfRoute(login))
    if (Either.isLeft(found)) {
      // as the JSON endpoints (api.ts appOf): the reason only, never the resolver's message
      yield* Effect.logError("wxauth: the app registry failed").pipe(Effect.annotateLogs({ reason: found.left.reason }))
      return yield* problemPage(login, Problems.problems.server, undefined)
    }
    const app = found.right
    if (app === undefined || app.kind === "miniProgram") {
      return yield* problemPage(login, Problems.problems.unavailable, undefined)
    }
    const site = login.site(request)
    if (app.kind === "officialAccount" && Browser.classify(request.headers["user-agent"]) !== "wechat") {
      const returnTo = StateToken.normalizeReturnTo(searchParams(request).get("returnTo"))
      return yield* openInWeChatWithReturnTo(
        login,
        site,
        login.paths.login(app.key, returnTo),
        firstOf(login, "website"),
        returnTo
      )
    }
    return yield* startLogin(login, app, request, site)
  })

// -------------------------------------------------------------------------------------------------
// callback
// -------------------------------------------------------------------------------------------------

/**
 * WeChat's redirect back: checks the signed state against this browser's binding cookie, exchanges
 * the code (core stores the token), runs the hooks, starts a new session (ending the one this
 * browser had, and with the session cookie's name sent twice the session of every copy, as a logout
 * does: `replaceSessions`), rotates the binding and leaves the callback URL at once (303), so the
 * code neither stays in the address bar nor leaks in a `Referer`.
 *
 * Once the binding is rotated the callback URL no longer matches this browser either: visiting it
 * again (the Back button, WeChat repeating its redirect) while logged in lands on `home` and logs
 * in nobody again. Two requests of the callback at once (WeChat's redirect loaded twice) both carry
 * the old binding: they are answered by one run (`login.callbacks`, by app, code and binding), so
 * they get the same session and the same cookies, and a logout ends the one session there is.
 */
const callback = (login: Login) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const { app } = yield* HttpRouter.params
    const code = searchParams(request).get("code")
    const binding = Cookies.read(request.headers["cookie"], login.site(request).names.binding)
    const once = callbackOnce(login)
    return app === undefined || code === null || !Cookies.isBinding(binding)
      ? yield* once
      : yield* login.callbacks.run(callbackKey(app, code, binding), once)
  })

/** The key of a callback's run: a hash of its app, code and binding (neither kept as it is). */
const callbackKey = (app: string, code: string, binding: string): string =>
  Crypto.createHash("sha256").update(JSON.stringify([app.toWellFormed(), code.toWellFormed(), binding])).digest(
    "hex"
  )

const callbackOnce = (login: Login) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const app = yield* appOfRoute(login)
    if (app === undefined || Option.isNone(app.oauth)) {
      return leaveFor(login, Problems.problems.unavailable, undefined)
    }
    const oauth = app.oauth.value
    const site = login.site(request)
    const cookie = Cookies.read(request.headers["cookie"], site.names.binding)
    const result = yield* Effect.either(oauth.handleCallback(request.url, {
      binding: Cookies.isBinding(cookie) ? cookie : undefined,
      // every login this route completes was started by `login`, which binds its state to this
      // browser: a state the app signed without one (for another flow) logs no browser in here
      requireBinding: true
    }))
    if (Either.isLeft(result)) {
      const error = result.left
      if (error._tag === "StateMismatch" && error.reason === "Binding") {
        const current = yield* Effect.orElseSucceed(login.browserSession(request), () => Option.none())
        if (Option.isSome(current)) {
          return HttpServerResponse.redirect(login.paths.home, { status: 303, headers: leaveCallback })
        }
      }
      const problem = Problems.fromError(error)
      yield* logFailure("wxauth: a WeChat login failed", error, problem)
      return leaveFor(login, problem, app)
    }
    const { token } = result.right
    const returnTo = statePath(result.right.returnTo)
    if (token.isSnapshotUser) {
      // a Moments preview page's virtual account: no login. Its token stays where core put it with
      // the exchange (the openid is WeChat's virtual account, no one's): a repeated callback (the
      // same code again, from core's code memo) finds it and answers this page again, not code-used
      yield* Effect.logInfo("wxauth: a WeChat snapshot user (a Moments preview page) was not logged in").pipe(
        Effect.annotateLogs({ app: app.key, appId: app.appId, problem: Problems.problems.snapshot.reason })
      )
      return leaveFor(login, Problems.problems.snapshot, app)
    }
    const identity = login.identityOf(app, { openid: token.openid, unionid: token.unionid, scopes: token.scope })
    const started = yield* login.completeLogin(app, identity, "browser", returnTo)
    yield* replaceSessions(login, request)
    const target = yield* login.landing(started.event)
    const answer = request.headers["sec-fetch-dest"] === "iframe" && app.qrCode.selfRedirect
      ? breakOut(target)
      : HttpServerResponse.redirect(target, { status: 303, headers: leaveCallback })
    return answer.pipe(
      HttpServerResponse.unsafeSetCookie(site.names.session, Redacted.value(started.token), {
        ...site.cookie,
        maxAge: login.config.sessionTtl
      }),
      HttpServerResponse.unsafeSetCookie(site.names.binding, Cookies.newBinding(), site.cookie)
    )
  }).pipe(
    Effect.catchAll((error) =>
      Effect.gen(function*() {
        const problem = error._tag === "HookFailed" || error._tag === "AppLookupFailed"
          ? Problems.problems.server
          : Problems.fromError(error)
        yield* logFailure("wxauth: a WeChat login failed", error, problem)
        const { app: key } = yield* HttpRouter.params
        return HttpServerResponse.redirect(login.paths.problem(key, problem.reason), {
          status: 303,
          headers: leaveCallback
        })
      })
    )
  )

/**
 * The answer of a callback loaded in the QR frame (`self_redirect: true`): a page that takes the
 * whole window on, since a redirect would stay in the frame.
 */
const breakOut = (location: string) => {
  const nonce = Cookies.newNonce()
  return htmlPage(Pages.breakOutPage({ location, nonce })).pipe(
    HttpServerResponse.setHeaders({
      ...leaveCallback,
      "content-security-policy":
        `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'self'`,
      "x-frame-options": "SAMEORIGIN"
    })
  )
}

/**
 * Ends the session(s) a new login replaces, as a logout does (`endSentSessions`, without
 * `onLogout`): those of every well-formed token sent under the session cookie's name, its own and a
 * planted copy beside it (in either order), as they are stored (whether or not their app is served
 * now). Never fails the login: a store failure, or more copies than a logout looks up
 * (`TooManySessionCookies`), is logged and the new session stands, since a planted copy must not
 * keep the user from logging in.
 */
const replaceSessions = (login: Login, request: HttpServerRequest.HttpServerRequest) =>
  login.endSentSessions(request, { everywhere: false, onLogout: false }).pipe(
    Effect.catchAll((error) =>
      Effect.logError("wxauth: could not end a session").pipe(
        Effect.annotateLogs({ error: error._tag, ...Problems.logDetail(error) })
      )
    )
  )

// -------------------------------------------------------------------------------------------------
// problem pages, logout
// -------------------------------------------------------------------------------------------------

const problemRoute = (login: Login) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const app = yield* Effect.orElseSucceed(appOfRoute(login), () => undefined)
    return yield* problemPage(login, Problems.fromKey(searchParams(request).get("reason")), app)
  })

/**
 * Ends this browser's session (or, `everywhere`, every session of its user) on the server, and
 * clears both cookies. Another site's request is refused; when the session store fails, the
 * server problem page says so (the session may still be alive). A `Cookie` header with the session
 * cookie's name twice (a planted copy beside the browser's own, in either order) ends the sessions
 * of both (`endSentSessions`): read as no session, the logout would answer as a success and leave
 * the browser's session alive. More than `maxSessionCookies` distinct tokens end none, and are
 * answered as a store failure.
 */
const logout = (login: Login, everywhere: boolean) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (!login.sameSite(request)) return yield* problemPage(login, Problems.problems.forbidden, undefined)
    const site = login.site(request)
    const clear = (response: HttpServerResponse.HttpServerResponse) =>
      response.pipe(
        HttpServerResponse.expireCookie(site.names.session, site.cookie),
        HttpServerResponse.expireCookie(site.names.binding, site.cookie)
      )
    // the sessions as they are stored: ended whether or not the registry serves their app now, or
    // answers
    return yield* login.endSentSessions(request, { everywhere, onLogout: true }).pipe(
      Effect.as(clear(HttpServerResponse.redirect(login.paths.home, { status: 303 }))),
      Effect.catchAll((error) =>
        Effect.zipRight(
          Effect.logError("wxauth: could not end a session").pipe(
            Effect.annotateLogs({ error: error._tag, ...Problems.logDetail(error) })
          ),
          Effect.map(problemPage(login, Problems.problems.server, undefined), clear)
        )
      )
    )
  })

/** The browser routes, to add to a router. @internal */
export const browserRoutes = (login: Login) => {
  const base = login.paths.loginBase
  return [
    HttpRouter.makeRoute("GET", base, autoLogin(login)),
    HttpRouter.makeRoute("GET", `${base}/:app`, namedLogin(login)),
    // the platform's request logger (`HttpMiddleware.logger`) would log the URL, code and state in it
    HttpRouter.makeRoute("GET", `${base}/:app/callback`, HttpMiddleware.withLoggerDisabled(callback(login))),
    HttpRouter.makeRoute("GET", `${base}/:app/problem`, problemRoute(login)),
    HttpRouter.makeRoute("POST", login.paths.logout, logout(login, false)),
    HttpRouter.makeRoute("POST", login.paths.logoutEverywhere, logout(login, true))
  ] as const
}

// -------------------------------------------------------------------------------------------------
// the app
// -------------------------------------------------------------------------------------------------

/**
 * A problem as JSON. When the body was not read (411, 413) or not all of it (408) the connection is
 * closed. @internal
 */
export const jsonProblem = (problem: Problems.Problem): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(
    { error: problem.reason, title: problem.title, titleEn: problem.titleEn },
    {
      status: problem.status,
      ...(problem.status === 408 || problem.status === 411 || problem.status === 413
        ? { headers: { connection: "close" } }
        : {})
    }
  )

const isApiPath = (login: Login, pathname: string) =>
  pathname === login.paths.api || pathname.startsWith(`${login.paths.api}/`)

/** A problem as the request's kind of route answers it: JSON under the API, else a page. */
const answerProblem = (login: Login, request: HttpServerRequest.HttpServerRequest, problem: Problems.Problem) =>
  isApiPath(login, pathnameOf(request)) ? Effect.succeed(jsonProblem(problem)) : problemPage(login, problem, undefined)

const isCallback = (login: Login, pathname: string) =>
  pathname.startsWith(`${login.paths.loginBase}/`) && pathname.endsWith("/callback")

/**
 * The login's `HttpApp`: the router's app, a 404 for unknown paths (and for a request-target that
 * is no URL), a 500 for anything unexpected (on a callback a 303 away from it), and the security
 * headers. @internal
 */
export const httpApp = (
  login: Login,
  app: HttpApp.Default<unknown, Scope>
): HttpApp.Default<never, Scope> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const answer = urlOf(request) === undefined
      ? problemPage(login, Problems.problems["not-found"], undefined)
      : app
    return yield* answer.pipe(
      Effect.catchAllCause((cause) =>
        Effect.gen(function*() {
          const failure = Option.getOrUndefined(Cause.failureOption(cause))
          if (isRouteNotFound(failure)) return yield* answerProblem(login, request, Problems.problems["not-found"])
          yield* Effect.logError("wxauth: unexpected failure", cause)
          const pathname = pathnameOf(request)
          return isCallback(login, pathname)
            ? leaveFor(login, Problems.problems.server, undefined)
            : yield* answerProblem(login, request, Problems.problems.server)
        })
      ),
      Effect.map((response) => {
        const missing = Object.entries(securityHeaders).filter(([name]) => response.headers[name] === undefined)
        return missing.length === 0 ? response : HttpServerResponse.setHeaders(response, Object.fromEntries(missing))
      })
    )
  })

const isRouteNotFound = (u: unknown): boolean =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "RouteNotFound"
