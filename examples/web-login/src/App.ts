/**
 * The web app: its own pages on `@effect/platform`'s `HttpRouter`, beside the WeChat login of
 * `@wxauth/http` (`WeChatLogin.router`: `/login`, the callbacks, `/logout`, the mini program's JSON
 * endpoints, all with their own security). The pages ask the login who is logged in
 * (`currentUser`), for the user's WeChat profile (`getUser`) and stored token (`getToken`).
 *
 * | route | what it does |
 * |---|---|
 * | `GET /` | home page: the login buttons, who is logged in |
 * | `GET /profile` | the profile: the app's user, its WeChat profile, token and session expiry (logged out: to `/login?returnTo=/profile`) |
 * | `POST /profile/refresh` | fetch the profile again (`getUser`) |
 * | `GET /error?reason=` | the app's own error pages (WeChat busy, not found, ...) |
 * | `POST /dev/faults` | dev panel (with a sandbox): make the sandbox misbehave (a form of at most 16 KiB) |
 * | `GET /mini-program`, `GET /mini-program/client.js` | the simulated mini program (with a sandbox): its page and script |
 * | `POST /mini-program/wx/login`, `POST /mini-program/wx/phone-code` | its WeChat client's codes, from the sandbox |
 * | `GET /multi-app` | the accounts of a third-party platform, logged in to through the login's registry mode (see `MultiApp`) |
 * | `POST /wechat/component/events` | the platform's authorization-event URL (see `MultiApp`) |
 * | `/login`, `/login/*`, `/logout`, `/logout/everywhere`, `/api/wechat/*` | `@wxauth/http` |
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as UrlParams from "@effect/platform/UrlParams"
import { StateToken, WeChatError } from "@wxauth/core"
import { type CurrentWeChatUser, WeChatLogin } from "@wxauth/http"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as DevPanel from "./DevPanel.js"
import * as MiniProgramClient from "./MiniProgramClient.js"
import * as MultiApp from "./MultiApp.js"
import * as Pages from "./Pages.js"
import * as Problems from "./Problems.js"
import * as RequestBody from "./RequestBody.js"
import { type Profile, Users } from "./Users.js"

/** What the pages know of the running app besides the login. */
export interface SiteShape {
  /** The sandbox the dev panel controls (and which plays the simulated mini program's client). */
  readonly sandboxUrl: Option.Option<string>
  /** Whether the login has a website app (QR login). */
  readonly website: boolean
  /** The mini program's appid, when there is one. */
  readonly miniProgram: Option.Option<string>
  /** The origin of `PUBLIC_URL`; `None`: the request's own. */
  readonly publicUrl: Option.Option<string>
}

/** The tag. */
export class Site extends Context.Tag("@wxauth/example-web-login/Site")<Site, SiteShape>() {}

/** The apps' keys in the login's options: their paths are `/login/<key>`. */
export const appKeys = { officialAccount: "official", website: "website", miniProgram: "mini" } as const

/** The mini program's endpoints of `WeChatLoginApi` (the login has no `pathPrefix` here). */
const miniProgramApi = `/api/wechat/mini-program/${appKeys.miniProgram}`

/** Headers every response of the app's own gets (the login's answers have their own). */
const securityHeaders: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "cache-control": "no-store"
}

// -------------------------------------------------------------------------------------------------
// helpers
// -------------------------------------------------------------------------------------------------

const htmlPage = (body: string, status = 200) =>
  HttpServerResponse.text(body, { status, contentType: "text/html; charset=utf-8" })

const redirect = (location: string) => HttpServerResponse.redirect(location, { status: 303 })

/**
 * The request's URL; `undefined` for a request-target the URL parser refuses (a client may send any
 * bytes, e.g. the absolute-form `http://[/`): the app answers such a request with its 404 page
 * before any route reads it (as `@wxauth/http`'s routes do).
 */
const urlOf = (request: HttpServerRequest.HttpServerRequest): URL | undefined => {
  try {
    return new URL(request.url, "http://localhost")
  } catch {
    return undefined
  }
}

const pathnameOf = (request: HttpServerRequest.HttpServerRequest): string | undefined => urlOf(request)?.pathname

/** The logged-in user of this request, if any. */
const currentUser = Effect.flatMap(WeChatLogin.WeChatLogin, (login) => login.currentUser).pipe(
  Effect.map(Option.some),
  Effect.catchTags({
    Unauthenticated: () => Effect.succeed(Option.none<CurrentWeChatUser.WeChatUser>()),
    CrossSiteRequest: () => Effect.succeed(Option.none<CurrentWeChatUser.WeChatUser>())
  })
)

/** The app's own record of a user (the login hooks made it: see `Users`). */
const localUser = (user: CurrentWeChatUser.WeChatUser) =>
  user.userId === undefined
    ? Effect.succeed(Option.none())
    : Effect.flatMap(Users, (users) => users.get(user.userId!))

const devPanel = (back: string) =>
  Effect.gen(function*() {
    const site = yield* Site
    if (Option.isNone(site.sandboxUrl)) return Option.none<Pages.DevPanelView>()
    const status = yield* DevPanel.status(site.sandboxUrl.value)
    return Option.some<Pages.DevPanelView>({ status, back })
  })

const problemPage = (problem: Problems.Problem) =>
  Effect.map(devPanel("/"), (dev) => htmlPage(Pages.problem({ problem, dev }), problem.status))

/** Whether this request is to a JSON endpoint of the app: its failures are JSON too. */
const isJsonPath = (pathname: string): boolean =>
  pathname.startsWith("/api/") || pathname.startsWith("/mini-program/wx/")

/** A problem as JSON. When the body was not read (411, 413) or not all of it (408) the connection is closed. */
const jsonProblem = (problem: Problems.Problem): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(
    { error: problem.reason, title: problem.title, titleEn: problem.titleEn },
    {
      status: problem.status,
      ...(problem.status === 408 || problem.status === 411 || problem.status === 413
        ? { headers: { connection: "close" } }
        : {})
    }
  )

/** A problem as the request's kind of endpoint answers it: JSON, or a page. */
const problemAnswer = (problem: Problems.Problem) =>
  Effect.flatMap(
    HttpServerRequest.HttpServerRequest,
    (request) => isJsonPath(pathnameOf(request) ?? "") ? Effect.succeed(jsonProblem(problem)) : problemPage(problem)
  )

const notFound = problemAnswer(Problems.problems["not-found"])

/** A user's WeChat profile, fetched now (`getUser` refreshes the token when needed) and kept with the user. */
const fetchProfile = (user: CurrentWeChatUser.WeChatUser) =>
  Effect.gen(function*() {
    const login = yield* WeChatLogin.WeChatLogin
    const profile: Profile = { user: yield* login.getUser(user), fetchedAt: yield* Clock.currentTimeMillis }
    if (user.userId !== undefined) yield* Effect.flatMap(Users, (users) => users.setProfile(user.userId!, profile))
    return profile
  })

/**
 * A failed profile: logged (tag and errcode only), then an error page. When WeChat no longer
 * accepts the user's authorization the login has ended every session of the user: its "log in
 * again" page.
 */
const profileFailure = (user: CurrentWeChatUser.WeChatUser) => (error: { readonly _tag: string }) =>
  Effect.gen(function*() {
    yield* Effect.logWarning("web-login: the profile failed").pipe(
      Effect.annotateLogs({
        error: error._tag,
        ...(WeChatError.isWeChatApiError(error) ? { errcode: error.errcode } : {})
      })
    )
    if (error._tag === "Unauthenticated") {
      return redirect(`/login/${encodeURIComponent(user.app)}/problem?reason=relogin`)
    }
    return redirect(`/error?reason=${Problems.fromError(error).reason}`)
  })

// -------------------------------------------------------------------------------------------------
// pages
// -------------------------------------------------------------------------------------------------

const home = Effect.gen(function*() {
  const site = yield* Site
  const login = yield* WeChatLogin.WeChatLogin
  const user = yield* currentUser
  const greeting = Option.isNone(user) ? Option.none() : Option.some({
    nickname: Option.map(Option.flatMap(yield* localUser(user.value), (local) => local.profile), (p) => p.user.nickname)
  })
  const dev = yield* devPanel("/")
  return htmlPage(Pages.home({
    greeting,
    links: {
      auto: login.paths.login(),
      officialAccount: login.paths.login(appKeys.officialAccount),
      website: site.website ? Option.some(login.paths.login(appKeys.website)) : Option.none()
    },
    miniProgramEnabled: Option.isSome(simulatedMiniProgram(site)),
    dev
  }))
})

const profile = Effect.gen(function*() {
  const login = yield* WeChatLogin.WeChatLogin
  const found = yield* currentUser
  if (Option.isNone(found)) {
    // log in, and come back here (the query too)
    const request = yield* HttpServerRequest.HttpServerRequest
    const url = urlOf(request)
    return redirect(login.paths.login(undefined, url === undefined ? "/profile" : url.pathname + url.search))
  }
  const user = found.value
  return yield* Effect.gen(function*() {
    const local = yield* localUser(user)
    const stored = Option.flatMap(local, (l) => l.profile)
    const profile = Option.isSome(stored) ? stored.value : yield* fetchProfile(user)
    return htmlPage(Pages.profile({
      user,
      local,
      profile,
      token: yield* login.getToken(user),
      now: yield* Clock.currentTimeMillis,
      logout: login.paths.logout,
      logoutEverywhere: login.paths.logoutEverywhere,
      dev: yield* devPanel("/profile")
    }))
  }).pipe(Effect.catchAll(profileFailure(user)))
})

const refreshProfile = Effect.gen(function*() {
  const found = yield* currentUser
  if (Option.isNone(found)) return redirect("/")
  return yield* fetchProfile(found.value).pipe(
    Effect.as(redirect("/profile")),
    Effect.catchAll(profileFailure(found.value))
  )
})

const errorPage = Effect.flatMap(
  HttpServerRequest.HttpServerRequest,
  (request) => problemPage(Problems.fromKey(urlOf(request)?.searchParams.get("reason")))
)

/** A problem that also closes the connection: the request's body was not read (or not all of it), and need not be received. */
const refuseBody = (problem: Problems.Problem) =>
  Effect.map(problemAnswer(problem), HttpServerResponse.setHeader("connection", "close"))

const devFault = Effect.gen(function*() {
  const site = yield* Site
  if (Option.isNone(site.sandboxUrl)) return yield* notFound
  const request = yield* HttpServerRequest.HttpServerRequest
  // the length is known before reading: a body without one (chunked) or over the cap is not read
  const refused = RequestBody.refusal(request)
  if (refused !== undefined) return yield* refuseBody(refused)
  const body = yield* RequestBody.form(request)
  if (Either.isLeft(body)) return yield* refuseBody(body.left)
  const form = body.right
  const preset = Option.getOrUndefined(UrlParams.getFirst(form, "preset"))
  if (DevPanel.isPreset(preset)) yield* DevPanel.apply(site.sandboxUrl.value, preset)
  return redirect(StateToken.normalizeReturnTo(Option.getOrUndefined(UrlParams.getFirst(form, "back"))) ?? "/")
})

// -------------------------------------------------------------------------------------------------
// the simulated mini program
// -------------------------------------------------------------------------------------------------

/** The simulated mini program's app id and sandbox, when both are there. */
const simulatedMiniProgram = (site: SiteShape) =>
  Option.flatMap(site.miniProgram, (appId) => Option.map(site.sandboxUrl, (sandboxUrl) => ({ appId, sandboxUrl })))

/** The page's own Content-Security-Policy: the strict one, plus its script and its JSON calls to this site. */
const miniProgramPolicy = securityHeaders["content-security-policy"].replace(
  "default-src 'none';",
  "default-src 'none'; script-src 'self'; connect-src 'self';"
)

const miniProgramPage = Effect.gen(function*() {
  const simulated = simulatedMiniProgram(yield* Site)
  if (Option.isNone(simulated)) return yield* notFound
  const users = yield* MiniProgramClient.users(simulated.value.sandboxUrl)
  const dev = yield* devPanel("/mini-program")
  return htmlPage(Pages.miniProgram({
    appId: simulated.value.appId,
    loginPath: `${miniProgramApi}/login`,
    phoneNumberPath: `${miniProgramApi}/phone-number`,
    users,
    dev
  })).pipe(HttpServerResponse.setHeader("content-security-policy", miniProgramPolicy))
})

const miniProgramScript = Effect.gen(function*() {
  if (Option.isNone(simulatedMiniProgram(yield* Site))) return yield* notFound
  return HttpServerResponse.text(MiniProgramClient.script, { contentType: "text/javascript; charset=utf-8" })
})

/** The simulated client's endpoints: `{ user }` → `{ code }`, a code from the sandbox for that test user. */
const simulatedCode = (mint: typeof MiniProgramClient.loginCode) =>
  Effect.gen(function*() {
    const simulated = simulatedMiniProgram(yield* Site)
    if (Option.isNone(simulated)) return yield* notFound
    const body = yield* RequestBody.json(MiniProgramClient.UserBody)
    if (Either.isLeft(body)) return jsonProblem(body.left)
    return yield* mint(simulated.value.sandboxUrl, simulated.value.appId, body.right.user).pipe(
      Effect.map((code) => HttpServerResponse.unsafeJson({ code })),
      Effect.catchAll((error) =>
        Effect.as(
          Effect.logWarning("web-login: the sandbox did not give the simulated mini program a code").pipe(
            Effect.annotateLogs({ refused: error.refused })
          ),
          jsonProblem(error.refused ? Problems.problems["bad-request"] : Problems.problems.server)
        )
      )
    )
  })

// -------------------------------------------------------------------------------------------------
// the multi-app page
// -------------------------------------------------------------------------------------------------

const multiAppPage = Effect.gen(function*() {
  const platform = yield* MultiApp.MultiApp
  if (Option.isNone(platform)) return yield* notFound
  const login = yield* WeChatLogin.WeChatLogin
  const user = yield* currentUser
  const account = Option.flatMap(
    user,
    (u) => Option.fromNullable(platform.value.accounts.find((account) => account.appId === u.appId))
  )
  const pageLogin = Option.isNone(user) || Option.isNone(account) ? Option.none<MultiApp.PageLogin>() : Option.some({
    account: account.value,
    openid: user.value.openid,
    nickname: Option.map(
      Option.flatMap(yield* localUser(user.value), (local) => local.profile),
      (profile) => profile.user.nickname
    )
  })
  return htmlPage(Pages.layout({
    title: "多个公众号",
    dev: Option.none(),
    body: MultiApp.page(platform.value, pageLogin, login.paths)
  }))
})

const componentEvents = Effect.flatMap(
  MultiApp.MultiApp,
  Option.match({ onNone: () => notFound, onSome: (platform) => platform.events })
)

// -------------------------------------------------------------------------------------------------
// the app
// -------------------------------------------------------------------------------------------------

/** The app's own routes. */
export const router = HttpRouter.empty.pipe(
  HttpRouter.get("/", home),
  HttpRouter.get("/profile", profile),
  HttpRouter.post("/profile/refresh", refreshProfile),
  HttpRouter.get("/error", errorPage),
  HttpRouter.post("/dev/faults", devFault),
  HttpRouter.get("/mini-program", miniProgramPage),
  HttpRouter.get("/mini-program/client.js", miniProgramScript),
  HttpRouter.post("/mini-program/wx/login", simulatedCode(MiniProgramClient.loginCode)),
  HttpRouter.post("/mini-program/wx/phone-code", simulatedCode(MiniProgramClient.phoneCode)),
  HttpRouter.get("/multi-app", multiAppPage),
  HttpRouter.post("/wechat/component/events", componentEvents)
)

/**
 * The app: its routes and the login's, a friendly 404, a friendly 500 when a store fails or for
 * anything unexpected; the app's own POSTs from another site (by `Origin`) are refused (the login's
 * routes check their own), and its own answers get the security headers.
 */
export const make = Effect.gen(function*() {
  const login = yield* WeChatLogin.WeChatLogin
  const site = yield* Site
  const routes = HttpRouter.concat(router, yield* WeChatLogin.router).pipe(
    Effect.catchTag("RouteNotFound", () => notFound),
    Effect.catchTags({
      SessionStoreError: (error) => storeFailed(error._tag),
      UsersError: (error) => storeFailed(error._tag)
    }),
    Effect.catchAllDefect((defect) =>
      Effect.zipRight(Effect.logError("web-login: unexpected failure", defect), problemAnswer(Problems.problems.server))
    )
  )
  return Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const pathname = pathnameOf(request)
    if (pathname !== undefined && login.handles(pathname)) return yield* routes
    const origin = request.headers["origin"]
    const own = Option.getOrElse(
      site.publicUrl,
      () => Option.match(HttpServerRequest.toURL(request), { onNone: () => "", onSome: (url) => url.origin })
    )
    // another site's POST: by its Origin, or, without one, by the browser's Sec-Fetch-Site, as the
    // login's own logouts refuse it (only same-origin or none is this site: a sibling subdomain's
    // same-site is not)
    const fetchSite = request.headers["sec-fetch-site"]
    const crossSite = origin !== undefined
      ? origin !== own
      : fetchSite !== undefined && fetchSite !== "same-origin" && fetchSite !== "none"
    const response = pathname === undefined
      ? yield* notFound
      : request.method === "POST" && crossSite
      ? yield* problemAnswer(Problems.problems.forbidden)
      : yield* routes
    const missing = Object.entries(securityHeaders).filter(([name]) => response.headers[name] === undefined)
    return HttpServerResponse.setHeaders(response, Object.fromEntries(missing))
  })
})

const storeFailed = (tag: string) =>
  Effect.zipRight(
    Effect.logError("web-login: a store failed").pipe(Effect.annotateLogs({ error: tag })),
    problemAnswer(Problems.problems.server)
  )
