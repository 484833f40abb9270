/**
 * The JSON endpoints (`WeChatLoginApi`) served by `HttpApiBuilder`, with the browser routes and the
 * OpenAPI document on the same router, built into the login's own `HttpApp` (its own router and
 * API, apart from any the app serves).
 *
 * The handlers take the whole request (`handleRaw`): bodies are read by `body.ts`, capped and with
 * a deadline, instead of `HttpApiBuilder`'s unbounded read; every failure is answered here as a
 * `Problem` of the status the API declares.
 *
 * @internal
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as OpenApi from "@effect/platform/OpenApi"
import type { MiniProgram } from "@wxauth/core"
import { WeChatError } from "@wxauth/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { Scope } from "effect/Scope"
import * as Crypto from "node:crypto"
import { CrossSiteRequest, CurrentWeChatUser, Unauthenticated, User, WeChatUser } from "../CurrentWeChatUser.js"
import * as LoginApi from "../WeChatLoginApi.js"
import * as Body from "./body.js"
import * as Problems from "./problems.js"
import * as Routes from "./routes.js"
import type { App, HookFailed, Login, TooManySessionCookies } from "./service.js"

type Step = "code2Session" | "getPhoneNumber"

/**
 * A failed WeChat step: logged (its tag and errcode, and `Problems.logDetail`'s safe detail such as
 * a transport error's reason and phase; never a code), answered as its problem, a mini program's
 * login in a mini program's words.
 */
const failed = (step: Step) => (error: WeChatError.WeChatError | HookFailed) =>
  Effect.gen(function*() {
    const problem = error._tag === "HookFailed"
      ? Problems.problems.server
      : step === "getPhoneNumber" &&
          (error._tag === "InvalidCode" || error._tag === "CodeExpired" || error._tag === "CodeUsed")
      ? Problems.problems["phone-code"]
      : step === "code2Session"
      ? Problems.fromMiniProgramLoginError(error)
      : Problems.fromError(error)
    yield* Effect.logWarning("wxauth: a mini program step failed").pipe(
      Effect.annotateLogs({
        step,
        error: error._tag,
        ...(WeChatError.isWeChatApiError(error) ? { errcode: error.errcode } : {}),
        ...(error._tag === "HookFailed" ? {} : Problems.logDetail(error)),
        problem: problem.reason
      })
    )
    return Routes.jsonProblem(problem)
  })

const storeFailed = (error: WeChatError.SessionStoreError | TooManySessionCookies) =>
  Effect.as(
    Effect.logError("wxauth: the session store failed").pipe(
      Effect.annotateLogs({ error: error._tag, ...Problems.logDetail(error) })
    ),
    Routes.jsonProblem(Problems.problems.server)
  )

const unavailable = Routes.jsonProblem(Problems.problems.unavailable)

/** The app of a key, or the answer when there is none (404), or the registry failed (500, logged). */
const appOf = (login: Login, key: string) =>
  login.resolve(key).pipe(
    Effect.map(Option.match({ onNone: () => Either.left(unavailable), onSome: Either.right })),
    Effect.catchAll((error) =>
      Effect.as(
        Effect.logError("wxauth: the app registry failed").pipe(Effect.annotateLogs({ reason: error.reason })),
        Either.left(Routes.jsonProblem(Problems.problems.server))
      )
    )
  )

const miniProgramLogin = (login: Login, key: string, request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function*() {
    const found = yield* appOf(login, key)
    if (Either.isLeft(found)) return found.left
    const app = found.right
    if (Option.isNone(app.miniProgram)) return unavailable
    const body = yield* Body.json(request, LoginApi.CodeBody)
    if (Either.isLeft(body)) return Routes.jsonProblem(body.left)
    // copies of the login in flight at once get one run's answer: one session, one token
    return yield* login.miniProgramLogins.run(
      miniProgramLoginKey(key, body.right.code),
      miniProgramLoginOnce(login, app, app.miniProgram.value, body.right.code)
    )
  })

/** The key of a mini program login's run: a hash of its app and code (the code not kept as it is). */
const miniProgramLoginKey = (app: string, code: string): string =>
  Crypto.createHash("sha256").update(JSON.stringify([app.toWellFormed(), code.toWellFormed()])).digest("hex")

const miniProgramLoginOnce = (
  login: Login,
  app: App,
  miniProgram: MiniProgram.MiniProgramShape,
  code: string
): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  miniProgram.code2Session(code).pipe(
    Effect.flatMap((session) =>
      login.completeLogin(
        app,
        login.identityOf(app, { openid: session.openid, unionid: session.unionid, scopes: [] }),
        "miniProgram",
        undefined
      )
    ),
    Effect.map(({ session, token }) =>
      HttpServerResponse.unsafeJson({
        token: Redacted.value(token),
        expiresAt: session.expiresAt,
        openid: session.openid,
        ...(session.unionid === undefined ? {} : { unionid: session.unionid }),
        ...(session.data?.["userId"] === undefined ? {} : { userId: session.data["userId"] })
      })
    ),
    Effect.catchAll((error) => error._tag === "SessionStoreError" ? storeFailed(error) : failed("code2Session")(error))
  )

const phoneNumber = (
  login: Login,
  key: string,
  request: HttpServerRequest.HttpServerRequest,
  user: WeChatUser
) =>
  Effect.gen(function*() {
    const found = yield* appOf(login, key)
    if (Either.isLeft(found)) return found.left
    const app = found.right
    if (Option.isNone(app.miniProgram) || !app.phoneNumber) return unavailable
    // the token of another app's session, or of a browser, asks nothing of this one
    if (user.kind !== "miniProgram" || user.appId !== app.appId) {
      return Routes.jsonProblem(Problems.problems.unauthenticated)
    }
    const body = yield* Body.json(request, LoginApi.CodeBody)
    if (Either.isLeft(body)) return Routes.jsonProblem(body.left)
    const hook = login.config.hooks.onPhoneNumber
    return yield* app.miniProgram.value.getPhoneNumber(body.right.code).pipe(
      Effect.tap((phone) => hook === undefined ? Effect.void : login.runHook("onPhoneNumber", () => hook(user, phone))),
      Effect.map((phone) =>
        HttpServerResponse.unsafeJson({
          phoneNumber: phone.phoneNumber,
          purePhoneNumber: phone.purePhoneNumber,
          countryCode: phone.countryCode
        })
      ),
      Effect.catchAll(failed("getPhoneNumber"))
    )
  })

const encodeUser = Schema.encodeSync(WeChatUser)

/** The `CurrentWeChatUser` middleware's authentication: `authenticate`, a store failure a defect (500). */
const authenticated = (login: Login) =>
  Effect.catchTag(login.authenticate, "SessionStoreError", (error) => Effect.die(error))

/** The `CurrentWeChatUser` middleware. */
const middleware = (login: Login) => {
  const authenticate = authenticated(login)
  return { session: () => authenticate, bearer: () => authenticate }
}

/** The JSON logouts, which authenticate in their handlers (`jsonLogout`). */
const jsonLogouts: ReadonlySet<string> = new Set(["logout", "logoutEverywhere"])

/**
 * The API the login serves: `WeChatLoginApi.Api` (the OpenAPI document is that one's), but its two
 * logout endpoints run without the `CurrentWeChatUser` middleware and authenticate in their
 * handlers (`jsonLogout`) with the middleware's own authentication: a `Cookie` header with the
 * session cookie's name twice, which the middleware answers 401 before a handler runs, must end
 * every copy's session, as `POST /logout` does. Their declared answers (the middleware's 401 and
 * 403 among them) are unchanged: an endpoint is copied with no middleware, nothing else.
 */
const servedApi: typeof LoginApi.Api = (() => {
  const withoutMiddleware = (endpoint: HttpApiEndpoint.HttpApiEndpoint.Any): HttpApiEndpoint.HttpApiEndpoint.Any =>
    Object.assign(Object.create(Object.getPrototypeOf(endpoint)), endpoint, { middlewares: new Set() })
  let group: HttpApiGroup.HttpApiGroup.Any = HttpApiGroup.make("wechatLogin")
  for (const [name, endpoint] of Object.entries(LoginApi.Group.endpoints)) {
    group = (group as any).add(jsonLogouts.has(name) ? withoutMiddleware(endpoint) : endpoint)
  }
  return HttpApi.make("wxauth-login").add(group as any) as unknown as typeof LoginApi.Api
})()

/**
 * `POST /api/wechat/logout` (`everywhere`: `/logout/everywhere`): ends the session of the request's
 * user (204; everywhere every session of the user in its app, `{ revoked }`) and clears a
 * browser's cookie, as the middleware would authenticate it (401, 403). A `Cookie` header with the
 * session cookie's name more than once (a planted copy beside the browser's own, either first) is no
 * session to anything else, but this is a logout, which cannot tell the copies apart: as `POST
 * /logout` it ends the session of every well-formed token sent (`endSentSessions`, as they are
 * stored, the registry not asked), after the same-site check (403 for another site's), and clears
 * the cookie; when none of them is a live session it answers 401 as for one unknown token, and more
 * than `maxSessionCookies` distinct tokens end none and are answered as a store failure (500).
 */
const jsonLogout = (login: Login, request: HttpServerRequest.HttpServerRequest, everywhere: boolean) =>
  Effect.gen(function*() {
    const site = login.site(request)
    const clear = (response: HttpServerResponse.HttpServerResponse) =>
      HttpServerResponse.expireCookie(response, site.names.session, site.cookie)
    const answer = (ended: number) =>
      everywhere ? HttpServerResponse.unsafeJson({ revoked: ended }) : HttpServerResponse.empty({ status: 204 })
    if (login.sessionCookieSentTwice(request)) {
      if (!login.sameSite(request)) return yield* new CrossSiteRequest()
      const sent = yield* Effect.either(login.endSentSessions(request, { everywhere, onLogout: true }))
      if (Either.isLeft(sent)) return yield* storeFailed(sent.left)
      if (sent.right.found === 0) return yield* new Unauthenticated({ reason: "Invalid" })
      return clear(answer(sent.right.ended))
    }
    const user = yield* authenticated(login)
    return yield* login.endSessions(user, everywhere).pipe(
      Effect.map((ended) => user.kind === "browser" ? clear(answer(ended)) : answer(ended)),
      Effect.catchAll(storeFailed)
    )
  })

/** The login's `HttpApp` and its OpenAPI document. @internal */
export const build = (login: Login): Effect.Effect<
  { readonly app: HttpApp.Default<unknown, Scope>; readonly openApi: OpenApi.OpenAPISpec },
  never,
  Scope
> =>
  Effect.gen(function*() {
    const prefixed = (api: typeof LoginApi.Api) =>
      login.paths.prefix === "" ? api : api.prefix(login.paths.prefix as `/${string}`)
    const openApi = OpenApi.fromApi(prefixed(LoginApi.Api))
    const api = prefixed(servedApi)
    const GroupLive = HttpApiBuilder.group(api, "wechatLogin", (handlers) =>
      handlers
        .handleRaw("miniProgramLogin", ({ path, request }) => miniProgramLogin(login, path.app, request))
        .handleRaw(
          "phoneNumber",
          ({ path, request }) => Effect.flatMap(User, (user) => phoneNumber(login, path.app, request, user))
        )
        .handleRaw("session", () => Effect.map(User, (user) => HttpServerResponse.unsafeJson(encodeUser(user))))
        .handleRaw("logout", ({ request }) => jsonLogout(login, request, false))
        .handleRaw("logoutEverywhere", ({ request }) => jsonLogout(login, request, true)))
    const openApiResponse = HttpServerResponse.unsafeJson(openApi)
    const BrowserRoutes = HttpApiBuilder.Router.use((router) =>
      Effect.gen(function*() {
        for (const route of Routes.browserRoutes(login)) {
          yield* router.addRoute(route as any)
        }
        yield* router.get(login.paths.openApi, Effect.succeed(openApiResponse))
      })
    )
    const context = yield* Layer.build(
      Layer.mergeAll(
        HttpApiBuilder.api(api).pipe(Layer.provide(GroupLive)),
        BrowserRoutes,
        HttpApiBuilder.Middleware.layer
      ).pipe(
        Layer.provide(Layer.succeed(CurrentWeChatUser, middleware(login) as any)),
        Layer.provideMerge(HttpApiBuilder.Router.Live)
      )
    )
    const app = yield* Effect.provide(HttpApiBuilder.httpApp, context)
    return { app: app as HttpApp.Default<unknown, Scope>, openApi }
  })
