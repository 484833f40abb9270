/**
 * Request handling, the transport-free core every transport calls (`Sandbox.handle`): one request
 * in, one response out, never a failure. The path picks the answer: a body over
 * `Control.maxBodyBytes` gets a 413 unread, `/__sandbox/` goes to the controls, a WeChat endpoint is
 * counted (a platform's also for the platform it names), meets its pending fault and is answered
 * by the engine, `/` is the index page, anything
 * else a 404 page; a defect is a 500 page.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Endpoint, SandboxApp, SandboxRequest, SandboxResponse, SandboxUser } from "../Sandbox.js"
import * as Component from "./component.js"
import * as Control from "./control.js"
import * as Engine from "./engine.js"
import * as Faults from "./faults.js"
import * as Html from "./html.js"
import { cut } from "./quote.js"
import * as Responses from "./responses.js"
import type { PendingFault } from "./schema.js"
import * as WxLogin from "./wxlogin.js"

/** What the router reads and counts: the sandbox's state, passed in. @internal */
export interface RouterDeps {
  readonly engine: Engine.Engine
  readonly apps: ReadonlyArray<SandboxApp>
  readonly users: ReadonlyArray<SandboxUser>
  /** The sandbox's time. */
  readonly now: Effect.Effect<number>
  /** Counts one call to the endpoint in the stats. */
  readonly count: (endpoint: Endpoint) => Effect.Effect<void>
  /** Takes the first pending fault matching the endpoint, if any (one use off it). */
  readonly takeFault: (endpoint: Endpoint) => Effect.Effect<PendingFault | undefined>
  readonly control: Control.ControlDeps
}

const resetResponse: SandboxResponse = { status: 0, headers: {}, body: "", fault: "reset" }

/**
 * A ready-to-click consent URL for an app, redirecting to the sandbox's own callback page.
 *
 * @internal
 */
export const sampleAuthorizeUrl = (origin: string, app: SandboxApp, state: string = "sandbox"): string => {
  const path = app.kind === "website" ? "/connect/qrconnect" : "/connect/oauth2/authorize"
  const query = new URLSearchParams({
    appid: app.appId,
    redirect_uri: `${origin}/__sandbox/callback`,
    response_type: "code",
    scope: app.kind === "website" ? "snsapi_login" : "snsapi_userinfo",
    state
  })
  return `${origin}${path}?${query.toString()}#wechat_redirect`
}

/**
 * One call to a WeChat endpoint: counted, then its pending fault (if any) answers instead of the
 * engine; a `slow` fault lets the call take effect and delays only the answer, a `reset` with
 * `afterEffect` lets it take effect and loses the answer.
 */
const serveEndpoint = (deps: RouterDeps, endpoint: Endpoint, method: string, url: URL, body: string) =>
  Effect.gen(function*() {
    yield* deps.count(endpoint)
    if (Component.isComponentEndpoint(endpoint)) {
      yield* Effect.sync(() => deps.engine.components.count(endpoint, { method, params: url.searchParams, body }))
    }
    const fault = yield* deps.takeFault(endpoint)
    if (fault?.kind === "reset" && !fault.afterEffect) return resetResponse
    const time = yield* deps.now
    if (fault !== undefined && fault.kind !== "slow" && fault.kind !== "reset") {
      return Faults.response(fault, {
        endpoint,
        method,
        url,
        body,
        preview: () => deps.engine.preview(endpoint, { method, params: url.searchParams, body }, time)
      })
    }
    const response = yield* Effect.sync(() =>
      endpoint === "authorize" || endpoint === "qrconnect" ?
        deps.engine.authorize(endpoint, method, url.searchParams, new URLSearchParams(body), time) :
        deps.engine.answer(endpoint, { method, params: url.searchParams, body }, time)
    )
    if (fault?.kind === "reset") return resetResponse
    if (fault !== undefined) yield* Effect.sleep(Duration.millis(fault.delayMs))
    return response
  })

/** @internal */
export const make = (deps: RouterDeps) => (request: SandboxRequest): Effect.Effect<SandboxResponse> =>
  Effect.suspend((): Effect.Effect<SandboxResponse> => {
    let url: URL
    try {
      url = new URL(request.url, "http://sandbox.invalid")
    } catch {
      return Effect.succeed(Responses.htmlResponse(400, Html.errorPage("url", "malformed request URL")))
    }
    const method = request.method.toUpperCase()
    const body = request.body ?? ""
    if (Control.isOverBodyLimit(Buffer.byteLength(body))) {
      return Effect.succeed(Control.bodyTooLarge(url.pathname))
    }
    if (Control.isControlPath(url.pathname)) {
      return Control.handle(deps.control, method, url, body)
    }
    if (url.pathname === WxLogin.scriptPath) return Effect.succeed(WxLogin.scriptResponse)
    const endpoint = Engine.endpointOf(url.pathname)
    if (endpoint !== undefined) {
      return Effect.map(serveEndpoint(deps, endpoint, method, url, body), (r) => WxLogin.adaptFrame(method, url, r))
    }
    if (url.pathname === "/") {
      return Effect.succeed(
        Responses.htmlResponse(
          200,
          Html.indexPage(url.origin, deps.apps, deps.users, (app) => {
            if (app.kind === "miniProgram") return undefined
            return sampleAuthorizeUrl(url.origin, app)
          })
        )
      )
    }
    return Effect.succeed(Responses.htmlResponse(404, Html.notFoundPage(cut(url.pathname))))
  }).pipe(
    Effect.catchAllDefect(() =>
      Effect.succeed(Responses.htmlResponse(500, Html.errorPage("sandbox", "internal error in the sandbox")))
    )
  )
