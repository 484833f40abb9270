/**
 * The web app: its routes and handlers, on `@effect/platform`'s `HttpRouter`.
 *
 * | route | what it does |
 * |---|---|
 * | `GET /` | home page: the two login buttons |
 * | `GET /login/official`, `GET /login/website` | set a fresh binding cookie, redirect to WeChat's consent / QR page |
 * | `GET /callback/official`, `GET /callback/website` | `handleCallback`, start the session, rotate the binding, redirect away at once |
 * | `GET /profile` | nickname, avatar, openid, unionid, token expiry |
 * | `POST /profile/refresh` | fetch the profile again (`getUser`) |
 * | `POST /logout` | end the session on the server, forget the stored token |
 * | `GET /error?reason=` | the error pages |
 * | `POST /dev/faults` | dev panel (demo mode): make the sandbox misbehave (a form of at most 16 KiB) |
 * | `POST /api/mini-program/login` | the mini program's phone-number login: JSON `{ loginCode, phoneCode }` (see `MiniProgramLogin`) |
 * | `GET /mini-program`, `GET /mini-program/client.js` | the simulated mini program (with a sandbox): its page and script |
 * | `POST /mini-program/wx/login`, `POST /mini-program/wx/phone-code` | its WeChat client's codes, from the sandbox |
 * | `GET /multi-app`, `/multi-app/login`, `/multi-app/callback`, `POST /multi-app/logout` | two official accounts of one third-party platform through one registry (see `MultiApp`) |
 * | `POST /wechat/component/events` | the platform's authorization-event URL (see `MultiApp`) |
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as UrlParams from "@effect/platform/UrlParams"
import type { WeChatOAuth } from "@wxauth/core"
import { StateToken, WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as DevPanel from "./DevPanel.js"
import * as MiniProgramClient from "./MiniProgramClient.js"
import * as MiniProgramLogin from "./MiniProgramLogin.js"
import * as MultiApp from "./MultiApp.js"
import * as Pages from "./Pages.js"
import * as Problems from "./Problems.js"
import * as RequestBody from "./RequestBody.js"
import * as Session from "./Session.js"
import type { SessionStoreError } from "./SessionStore.js"
import { oauthOf, type Profile, WebLogin, type WebLoginShape } from "./WebLogin.js"

/** Headers every response gets (a handler may set its own `referrer-policy` or `cache-control`). */
const securityHeaders: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "cache-control": "no-store"
}

/** The callback's own headers: no `Referer` carrying the code may leave this page. */
const leaveCallback: Readonly<Record<string, string>> = { "referrer-policy": "no-referrer" }

const paths = {
  officialAccount: { login: "/login/official", callback: "/callback/official" },
  website: { login: "/login/website", callback: "/callback/website" }
} as const satisfies { readonly [K in Session.AppKind]: { readonly login: string; readonly callback: string } }

// -------------------------------------------------------------------------------------------------
// helpers
// -------------------------------------------------------------------------------------------------

const htmlPage = (body: string, status = 200) =>
  HttpServerResponse.text(body, { status, contentType: "text/html; charset=utf-8" })

const searchParams = (request: HttpServerRequest.HttpServerRequest): URLSearchParams =>
  new URL(request.url, "http://localhost").searchParams

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

/** The cookies' names (`__Host-` over https) and attributes, for this site's scheme. */
const cookieSettings = Effect.map(siteOrigin, (origin) => {
  const secure = origin.startsWith("https:")
  return { names: Session.cookieNames(secure), options: Session.cookieOptions(secure) }
})

/** A path on this site, safe to redirect to and short enough for a bound state; anything else is dropped. */
const safeReturnTo = (value: string | null | undefined): string | undefined => StateToken.normalizeReturnTo(value)

/** The id in this request's session cookie, when the cookie is ours (signed with our key). */
const currentSessionId = Effect.gen(function*() {
  const web = yield* WebLogin
  const request = yield* HttpServerRequest.HttpServerRequest
  const { names } = yield* cookieSettings
  return Session.verify(web.sessionKey, request.cookies[names.session])
})

/** The session of this request and its id: `None` when there is none, or it ended (logout, expiry). */
const currentSession = Effect.gen(function*() {
  const web = yield* WebLogin
  const id = yield* currentSessionId
  if (Option.isNone(id)) return Option.none()
  return Option.map(yield* web.sessions.get(id.value), (session) => ({ id: id.value, session }))
})

/** The session, its id and the login service of its app, when someone is logged in. */
const currentLogin = Effect.gen(function*() {
  const web = yield* WebLogin
  const current = yield* currentSession
  return Option.flatMap(
    current,
    ({ id, session }) => Option.map(oauthOf(web, session.app), (oauth) => ({ id, session, oauth }))
  )
})

const devPanel = (back: string) =>
  Effect.gen(function*() {
    const web = yield* WebLogin
    if (Option.isNone(web.sandboxUrl)) return Option.none<Pages.DevPanelView>()
    const status = yield* DevPanel.status(web.sandboxUrl.value)
    return Option.some<Pages.DevPanelView>({ status, back })
  })

/** Where an error page sends people to try again. */
const errorUrl = (problem: Problems.Problem, app: Session.AppKind) =>
  `/error?reason=${problem.reason}${app === "website" ? "&app=website" : ""}`

/**
 * How a callback answers when it cannot log in: a 303 to the error page, never a page at the
 * callback URL, so the code does not stay in the address bar (nor leave in a `Referer`).
 */
const leaveCallbackFor = (problem: Problems.Problem, app: Session.AppKind) =>
  HttpServerResponse.redirect(errorUrl(problem, app), { status: 303, headers: leaveCallback })

/** The app whose callback the request is for, if it is a callback. */
const callbackOf = (request: HttpServerRequest.HttpServerRequest): Session.AppKind | undefined => {
  const path = new URL(request.url, "http://localhost").pathname
  return (Object.keys(paths) as Array<Session.AppKind>).find((app) => paths[app].callback === path)
}

/** Ends a session on the server; a store failure is logged (the caller is answering anyway). */
const endSession = (id: string) =>
  Effect.gen(function*() {
    const web = yield* WebLogin
    yield* web.sessions.remove(id).pipe(
      Effect.catchAll((error) =>
        Effect.logError("web-login: could not end a session").pipe(Effect.annotateLogs({ error: error.message }))
      )
    )
  })

/**
 * A failed login or profile call: logged (tag and reason only: no code, token or secret), then a
 * redirect to the error page. When only a new consent helps, the session ends too (on the server,
 * and its cookie is cleared).
 */
const failure = (
  error: WeChatError.WeChatError | SessionStoreError,
  app: Session.AppKind,
  headers: Record<string, string> = {}
) =>
  Effect.gen(function*() {
    const problem = error._tag === "SessionStoreError" ? Problems.problems.server : Problems.fromError(error)
    yield* Effect.logWarning(
      error._tag === "SessionStoreError"
        ? "web-login: the session store failed"
        : "web-login: a WeChat login step failed"
    ).pipe(
      Effect.annotateLogs({
        error: error._tag,
        ...(error._tag === "StateMismatch" ? { stateCheck: error.reason } : {}),
        ...(error._tag !== "SessionStoreError" && WeChatError.isWeChatApiError(error)
          ? { errcode: error.errcode }
          : {}),
        page: problem.reason
      })
    )
    const response = HttpServerResponse.redirect(errorUrl(problem, app), { status: 303, headers })
    if (problem.reason !== "relogin") return response
    const id = yield* currentSessionId
    if (Option.isSome(id)) yield* endSession(id.value)
    const { names, options: cookie } = yield* cookieSettings
    return HttpServerResponse.expireCookie(response, names.session, cookie)
  })

const fetchProfile = (oauth: WeChatOAuth.WeChatOAuthShape, openid: string) =>
  Effect.gen(function*() {
    const web = yield* WebLogin
    const user = yield* oauth.getUser(openid)
    const profile: Profile = { user, fetchedAt: yield* Clock.currentTimeMillis }
    yield* web.profiles.set(oauth.appId, profile)
    return profile
  })

// -------------------------------------------------------------------------------------------------
// handlers
// -------------------------------------------------------------------------------------------------

const home = Effect.gen(function*() {
  const web = yield* WebLogin
  const login = yield* currentLogin
  const greeting = yield* Option.match(login, {
    onNone: () => Effect.succeed(Option.none<Pages.Greeting>()),
    onSome: ({ oauth, session }) =>
      Effect.map(web.profiles.get(oauth.appId, session.openid), (profile) =>
        Option.some<Pages.Greeting>({
          app: session.app,
          nickname: Option.map(profile, (p) => p.user.nickname)
        }))
  })
  const dev = yield* devPanel("/")
  return htmlPage(
    Pages.home({
      greeting,
      websiteEnabled: Option.isSome(web.website),
      miniProgramEnabled: Option.isSome(simulatedMiniProgram(web)),
      dev
    })
  )
})

/**
 * Sets a fresh binding cookie and sends the browser to WeChat. The binding is never one the browser
 * brought: a value planted in it (by a sibling subdomain over http, say) would be known to whoever
 * planted it, who could then finish this login with the victim's callback URL.
 */
const startLogin = (app: Session.AppKind) =>
  Effect.gen(function*() {
    const web = yield* WebLogin
    const request = yield* HttpServerRequest.HttpServerRequest
    const oauth = oauthOf(web, app)
    if (Option.isNone(oauth)) return yield* problemPage(Problems.problems.unavailable)
    const binding = Session.newBinding()
    const { names, options } = yield* cookieSettings
    const redirectUri = `${yield* siteOrigin}${paths[app].callback}`
    const returnTo = safeReturnTo(searchParams(request).get("returnTo"))
    const { url } = app === "website"
      ? yield* oauth.value.websiteAuthorizeUrl({ redirectUri, returnTo, binding })
      : yield* oauth.value.authorizeUrl({ redirectUri, scope: "snsapi_userinfo", returnTo, binding })
    return HttpServerResponse.redirect(url, { status: 302 }).pipe(
      HttpServerResponse.unsafeSetCookie(names.binding, binding, options)
    )
  }).pipe(Effect.catchAll((error) => failure(error, app)))

/**
 * WeChat's redirect back: checks the signed state against this browser's binding cookie, exchanges
 * the code (core stores the token), starts a new session (ending the one this browser had), rotates
 * the binding and leaves the callback URL at once (303), so the code neither stays in the address
 * bar nor leaks in a `Referer`.
 *
 * Once the binding is rotated the callback URL no longer matches this browser either: visiting it
 * again (the Back button, WeChat repeating its redirect) while logged in lands on the profile and
 * logs in nobody again. Two requests of the callback at once both carry the old binding, and core
 * answers the second with the first one's token.
 */
const callback = (app: Session.AppKind) =>
  Effect.gen(function*() {
    const web = yield* WebLogin
    const request = yield* HttpServerRequest.HttpServerRequest
    const oauth = oauthOf(web, app)
    if (Option.isNone(oauth)) return leaveCallbackFor(Problems.problems.unavailable, app)
    const { names, options } = yield* cookieSettings
    const cookie = request.cookies[names.binding]
    const result = yield* Effect.either(oauth.value.handleCallback(request.url, {
      binding: Session.isBinding(cookie) ? cookie : undefined
    }))
    if (Either.isLeft(result)) {
      const error = result.left
      if (error._tag === "StateMismatch" && error.reason === "Binding" && Option.isSome(yield* currentSession)) {
        return HttpServerResponse.redirect("/profile", { status: 303, headers: leaveCallback })
      }
      return yield* failure(error, app, leaveCallback)
    }
    const { returnTo, token } = result.right
    // a new login shows a freshly fetched profile
    yield* web.profiles.remove(oauth.value.appId, token.openid)
    const previous = yield* currentSessionId
    if (Option.isSome(previous)) yield* endSession(previous.value)
    const now = yield* Clock.currentTimeMillis
    const id = yield* web.sessions.create({
      app,
      openid: token.openid,
      expiresAt: now + Duration.toMillis(Session.sessionTtl)
    })
    return HttpServerResponse.redirect(returnTo ?? "/profile", { status: 303, headers: leaveCallback }).pipe(
      HttpServerResponse.unsafeSetCookie(names.session, Session.sign(web.sessionKey, id), {
        ...options,
        maxAge: Session.sessionTtl
      }),
      HttpServerResponse.unsafeSetCookie(names.binding, Session.newBinding(), options)
    )
  }).pipe(Effect.catchAll((error) => failure(error, app, leaveCallback)))

const profile = Effect.gen(function*() {
  const web = yield* WebLogin
  const login = yield* currentLogin
  if (Option.isNone(login)) return HttpServerResponse.redirect("/", { status: 303 })
  const { oauth, session } = login.value
  return yield* Effect.gen(function*() {
    const stored = yield* oauth.getToken(session.openid)
    if (Option.isNone(stored)) {
      return yield* new WeChatError.TokenNotFound({ appId: oauth.appId, openid: session.openid })
    }
    const cached = yield* web.profiles.get(oauth.appId, session.openid)
    const profile = Option.isSome(cached) ? cached.value : yield* fetchProfile(oauth, session.openid)
    // getUser may have refreshed the token: show the stored one
    const token = Option.getOrElse(yield* oauth.getToken(session.openid), () => stored.value)
    const now = yield* Clock.currentTimeMillis
    const dev = yield* devPanel("/profile")
    return htmlPage(Pages.profile({ app: session.app, appId: oauth.appId, profile, token, now, dev }))
  }).pipe(Effect.catchAll((error) => failure(error, session.app)))
})

const refreshProfile = Effect.gen(function*() {
  const login = yield* currentLogin
  if (Option.isNone(login)) return HttpServerResponse.redirect("/", { status: 303 })
  const { oauth, session } = login.value
  return yield* fetchProfile(oauth, session.openid).pipe(
    Effect.as(HttpServerResponse.redirect("/profile", { status: 303 })),
    Effect.catchAll((error) => failure(error, session.app))
  )
})

/**
 * Ends the session on the server (every copy of its cookie then opens nothing), forgets the token
 * and clears both cookies. When the session store fails, the error page says so: the session may
 * still be alive.
 */
const logout = Effect.gen(function*() {
  const web = yield* WebLogin
  const { names, options } = yield* cookieSettings
  const clearCookies = (response: HttpServerResponse.HttpServerResponse) =>
    response.pipe(
      HttpServerResponse.expireCookie(names.session, options),
      HttpServerResponse.expireCookie(names.binding, options)
    )
  return yield* Effect.gen(function*() {
    const current = yield* currentSession
    if (Option.isSome(current)) {
      const { id, session } = current.value
      yield* web.sessions.remove(id)
      const oauth = oauthOf(web, session.app)
      if (Option.isSome(oauth)) {
        yield* web.profiles.remove(oauth.value.appId, session.openid)
        yield* oauth.value.removeToken(session.openid).pipe(
          Effect.catchAll((error) =>
            Effect.logWarning("web-login: could not remove the stored token").pipe(
              Effect.annotateLogs({ error: error._tag })
            )
          )
        )
      }
    }
    return clearCookies(HttpServerResponse.redirect("/", { status: 303 }))
  }).pipe(
    Effect.catchTag("SessionStoreError", (error) =>
      Effect.logError("web-login: could not end the session").pipe(
        Effect.annotateLogs({ error: error.message }),
        Effect.zipRight(problemPage(Problems.problems.server)),
        Effect.map(clearCookies)
      ))
  )
})

const problemPage = (problem: Problems.Problem, app: Session.AppKind = "officialAccount") =>
  Effect.gen(function*() {
    // an error page shows even when the session store fails
    const loggedIn = Option.isSome(yield* Effect.orElseSucceed(currentLogin, () => Option.none()))
    const dev = yield* devPanel("/")
    return htmlPage(Pages.problem({ problem, app, loggedIn, dev }), problem.status)
  })

const errorPage = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const params = searchParams(request)
  return yield* problemPage(
    Problems.fromKey(params.get("reason")),
    params.get("app") === "website" ? "website" : "officialAccount"
  )
})

/**
 * A problem page that also closes the connection: the request's body was not read, and need not be
 * received.
 */
const refuseBody = (problem: Problems.Problem) =>
  Effect.map(problemPage(problem), HttpServerResponse.setHeader("connection", "close"))

const devFault = Effect.gen(function*() {
  const web = yield* WebLogin
  if (Option.isNone(web.sandboxUrl)) return yield* problemPage(Problems.problems["not-found"])
  const request = yield* HttpServerRequest.HttpServerRequest
  // the length is known before reading: a body without one (chunked) or over the cap is not read
  const refused = RequestBody.refusal(request)
  if (refused !== undefined) return yield* refuseBody(refused)
  const form = yield* RequestBody.form(request)
  const preset = Option.getOrUndefined(UrlParams.getFirst(form, "preset"))
  if (DevPanel.isPreset(preset)) yield* DevPanel.apply(web.sandboxUrl.value, preset)
  const back = safeReturnTo(Option.getOrUndefined(UrlParams.getFirst(form, "back"))) ?? "/"
  return HttpServerResponse.redirect(back, { status: 303 })
})

/** The simulated mini program's app id and sandbox, when both are there. */
const simulatedMiniProgram = (web: WebLoginShape) =>
  Option.flatMap(web.miniProgram, (mini) => Option.map(web.sandboxUrl, (sandboxUrl) => ({ mini, sandboxUrl })))

/**
 * The page's own Content-Security-Policy: the strict one, plus its script from this site and the
 * JSON calls it makes to this site; nothing else.
 */
const miniProgramPolicy = securityHeaders["content-security-policy"].replace(
  "default-src 'none';",
  "default-src 'none'; script-src 'self'; connect-src 'self';"
)

const miniProgramPage = Effect.gen(function*() {
  const web = yield* WebLogin
  const simulated = simulatedMiniProgram(web)
  if (Option.isNone(simulated)) return yield* problemPage(Problems.problems["not-found"])
  const users = yield* MiniProgramClient.users(simulated.value.sandboxUrl)
  const dev = yield* devPanel("/mini-program")
  return htmlPage(Pages.miniProgram({ appId: simulated.value.mini.appId, users, dev })).pipe(
    HttpServerResponse.setHeader("content-security-policy", miniProgramPolicy)
  )
})

const miniProgramScript = Effect.gen(function*() {
  const web = yield* WebLogin
  if (Option.isNone(simulatedMiniProgram(web))) return yield* problemPage(Problems.problems["not-found"])
  return HttpServerResponse.text(MiniProgramClient.script, { contentType: "text/javascript; charset=utf-8" })
})

// -------------------------------------------------------------------------------------------------
// the app
// -------------------------------------------------------------------------------------------------

/** The routes. */
export const router = HttpRouter.empty.pipe(
  HttpRouter.get("/", home),
  HttpRouter.get(paths.officialAccount.login, startLogin("officialAccount")),
  HttpRouter.get(paths.website.login, startLogin("website")),
  HttpRouter.get(paths.officialAccount.callback, callback("officialAccount")),
  HttpRouter.get(paths.website.callback, callback("website")),
  HttpRouter.get("/profile", profile),
  HttpRouter.post("/profile/refresh", refreshProfile),
  HttpRouter.post("/logout", logout),
  HttpRouter.get("/error", errorPage),
  HttpRouter.post("/dev/faults", devFault),
  HttpRouter.post("/api/mini-program/login", MiniProgramLogin.login),
  HttpRouter.get("/mini-program", miniProgramPage),
  HttpRouter.get("/mini-program/client.js", miniProgramScript),
  HttpRouter.post("/mini-program/wx/login", MiniProgramLogin.wxLogin),
  HttpRouter.post("/mini-program/wx/phone-code", MiniProgramLogin.wxPhoneCode),
  // the multi-app page (see MultiApp): two official accounts of one platform, one callback
  HttpRouter.get("/multi-app", MultiApp.routes.page),
  HttpRouter.get("/multi-app/login", MultiApp.routes.startLogin),
  HttpRouter.get("/multi-app/callback", MultiApp.routes.callback),
  HttpRouter.post("/multi-app/logout", MultiApp.routes.logout),
  HttpRouter.post("/wechat/component/events", MultiApp.routes.events)
)

/** Whether this request is to a JSON endpoint: its failures are JSON too. */
const wantsJson = (request: HttpServerRequest.HttpServerRequest): boolean =>
  MiniProgramLogin.isJsonPath(new URL(request.url, "http://localhost").pathname)

/** A problem as the request's kind of endpoint answers it: JSON, or a page. */
const problemAnswer = (problem: Problems.Problem) =>
  Effect.flatMap(
    HttpServerRequest.HttpServerRequest,
    (request) => wantsJson(request) ? Effect.succeed(MiniProgramLogin.jsonProblem(problem)) : problemPage(problem)
  )

/**
 * Refuses a cross-site POST (its `Origin` is another site's), on top of the `SameSite=Lax` session
 * cookie, and adds the security headers to every response.
 */
const guard = <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const origin = request.headers["origin"]
    if (request.method === "POST" && origin !== undefined && origin !== (yield* siteOrigin)) {
      return yield* problemAnswer(Problems.problems.forbidden)
    }
    return yield* app
  }).pipe(
    Effect.map((response) => {
      const missing = Object.entries(securityHeaders).filter(([name]) => response.headers[name] === undefined)
      return HttpServerResponse.setHeaders(response, Object.fromEntries(missing))
    })
  )

/**
 * The app: the routes, a friendly 404, a friendly 500 when the session store fails or for anything
 * unexpected (on a callback, a 303 to it), and the guard.
 */
export const app: Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  WebLogin | HttpClient.HttpClient | HttpServerRequest.HttpServerRequest
> = router.pipe(
  Effect.catchTag("RouteNotFound", () => problemAnswer(Problems.problems["not-found"])),
  Effect.catchTag("SessionStoreError", (error) =>
    Effect.logError("web-login: the session store failed").pipe(
      Effect.annotateLogs({ error: error.message }),
      Effect.zipRight(problemAnswer(Problems.problems.server))
    )),
  Effect.catchAllDefect((defect) =>
    Effect.gen(function*() {
      yield* Effect.logError("web-login: unexpected failure", defect)
      const callback = callbackOf(yield* HttpServerRequest.HttpServerRequest)
      return callback === undefined
        ? yield* problemAnswer(Problems.problems.server)
        : leaveCallbackFor(Problems.problems.server, callback)
    })
  ),
  guard
)
