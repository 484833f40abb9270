/**
 * The `/__sandbox/` control endpoints: the sandbox's Effect controls over HTTP, JSON in and out.
 * Bad input gets a 400 `{ "error": "..." }`, a body over `maxBodyBytes` a 413, an unknown command a
 * 404; never a stack trace.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { Fault, SandboxComponent, SandboxService } from "../Sandbox.js"
import * as Engine from "./engine.js"
import * as Html from "./html.js"
import { cut, quote } from "./quote.js"
import * as Responses from "./responses.js"
import * as Schemas from "./schema.js"

/** @internal */
export interface ControlDeps {
  /** The service's controls (the router is its `handle`, and calls this module). */
  readonly service: Omit<SandboxService, "handle">
  readonly pendingFaults: Effect.Effect<ReadonlyArray<Fault>>
  readonly now: Effect.Effect<number>
}

const json = (status: number, body: unknown): Responses.RawResponse => ({
  status,
  headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  body: JSON.stringify(body, null, 2)
})

/** A query parameter as a page shows it: cut (see `cut`), or undefined when absent. */
const optionalCut = (value: string | null, max?: number): string | undefined =>
  value === null ? undefined : cut(value, max)

const error = (status: number, message: string): Responses.RawResponse => json(status, { error: message })

/**
 * The largest request body the sandbox reads, in bytes (controls, consent forms, anything): a fault
 * or a consent form is far smaller. The HTTP server stops reading there.
 *
 * @internal
 */
export const maxBodyBytes = 64 * 1024

/**
 * Whether a body of this many bytes is over `maxBodyBytes`: answered `bodyTooLarge`, and read no
 * further. The one rule of the router, the HTTP server and the in-process client.
 *
 * @internal
 */
export const isOverBodyLimit = (bytes: number): boolean => bytes > maxBodyBytes

/** Whether a path is one of the controls. @internal */
export const isControlPath = (pathname: string): boolean =>
  pathname === "/__sandbox" || pathname.startsWith("/__sandbox/")

/**
 * The answer to a request whose body is over `maxBodyBytes`: JSON under `/__sandbox/`, nginx's page
 * elsewhere. The connection is closed, since the rest of the body is not read.
 *
 * @internal
 */
export const bodyTooLarge = (pathname: string): Responses.RawResponse => {
  const response = isControlPath(pathname) ?
    error(413, `the request body is over ${maxBodyBytes} bytes`) :
    { status: 413, headers: { "content-type": "text/html" }, body: Html.gatewayPage(413) }
  return { ...response, headers: { ...response.headers, connection: "close" } }
}

const parseJson = (body: string): Either.Either<unknown, string> => {
  if (body.trim() === "") return Either.left("expected a JSON body")
  try {
    return Either.right(JSON.parse(body))
  } catch {
    return Either.left("the request body is not valid JSON")
  }
}

const withBody = <A, I>(
  schema: Schema.Schema<A, I>,
  body: string,
  f: (input: A) => Effect.Effect<Responses.RawResponse, { readonly message: string }>
): Effect.Effect<Responses.RawResponse> => {
  const decoded = Either.flatMap(parseJson(body), (input) => Schemas.decode(schema, input))
  if (Either.isLeft(decoded)) return Effect.succeed(error(400, decoded.left))
  return Effect.catchAll(f(decoded.right), (e) => Effect.succeed(error(400, e.message)))
}

type Route = (deps: ControlDeps, body: string, url: URL) => Effect.Effect<Responses.RawResponse>

/** A GET control's `?componentAppId=`, given to `f`. */
const withComponentParam = (
  url: URL,
  f: (componentAppId: string) => Effect.Effect<Responses.RawResponse, { readonly message: string }>
): Effect.Effect<Responses.RawResponse> => {
  const componentAppId = url.searchParams.get("componentAppId")
  if (componentAppId === null) return Effect.succeed(error(400, "give the platform as ?componentAppId=..."))
  return Effect.catchAll(f(componentAppId), (e) => Effect.succeed(error(400, e.message)))
}

/** A platform as `config` shows it: the push interval in milliseconds (or false), no handler. */
const componentView = (component: SandboxComponent) => ({
  componentAppId: component.componentAppId,
  componentAppSecret: component.componentAppSecret,
  token: component.token,
  encodingAesKey: component.encodingAesKey,
  name: component.name,
  pushUrl: component.pushUrl,
  inProcessReceiver: component.pushHandler !== undefined,
  pushInterval: component.pushInterval === false || component.pushInterval === undefined ?
    false :
    Duration.toMillis(component.pushInterval),
  authorizers: component.authorizers ?? []
})

const routes: Record<string, Partial<Record<string, Route>>> = {
  config: {
    GET: ({ now, service }) =>
      Effect.map(now, (now) =>
        json(200, {
          apps: service.apps,
          users: service.users,
          openids: Object.fromEntries(
            service.apps.map((app) => [
              app.appId,
              Object.fromEntries(service.users.map((user) => [user.id, service.openidOf(app.appId, user.id)]))
            ])
          ),
          endpoints: Engine.endpointPaths,
          components: service.components.map(componentView),
          now
        }))
  },
  faults: {
    GET: ({ pendingFaults }) => Effect.map(pendingFaults, (faults) => json(200, { faults })),
    POST: ({ pendingFaults, service }, body) =>
      withBody(
        Schema.Unknown,
        body,
        (fault) =>
          Effect.zipRight(
            service.injectFault(fault as Fault),
            Effect.map(pendingFaults, (faults) => json(200, { ok: true, faults }))
          )
      ),
    DELETE: ({ service }) => Effect.as(service.clearFaults, json(200, { ok: true }))
  },
  stats: {
    GET: ({ service }) => Effect.map(service.stats, (stats) => json(200, stats))
  },
  "stats/reset": {
    POST: ({ service }) => Effect.as(service.resetStats, json(200, { ok: true }))
  },
  clock: {
    GET: ({ now }) => Effect.map(now, (now) => json(200, { now, iso: new Date(now).toISOString() }))
  },
  "clock/advance": {
    POST: ({ now, service }, body) =>
      withBody(Schemas.AdvanceBody, body, ({ ms, seconds }) => {
        if ((ms === undefined) === (seconds === undefined)) {
          return Effect.fail({ message: "give exactly one of seconds or ms, e.g. { \"seconds\": 7200 }" })
        }
        const millis = ms ?? seconds! * 1000
        return Effect.flatMap(now, (before) =>
          Schemas.isDate(before + millis) ?
            Effect.zipRight(
              service.advanceClock(millis),
              Effect.map(now, (now) => json(200, { now, iso: new Date(now).toISOString() }))
            ) :
            Effect.fail({ message: "the sandbox's clock would pass the last date JavaScript can show" }))
      })
  },
  approve: {
    POST: ({ service }, body) =>
      withBody(
        Schemas.ApproveBody,
        body,
        (options) => Effect.map(service.approve(options), (url) => json(200, { url }))
      )
  },
  "miniprogram/login": {
    POST: ({ service }, body) =>
      withBody(
        Schemas.LoginBody,
        body,
        (options) => Effect.map(service.miniProgramLogin(options), (code) => json(200, { code }))
      )
  },
  "miniprogram/phonecode": {
    POST: ({ service }, body) =>
      withBody(
        Schemas.PhoneCodeBody,
        body,
        (options) => Effect.map(service.phoneNumberCode(options), (code) => json(200, { code }))
      )
  },
  apptoken: {
    GET: ({ service }, _, url) => {
      const appId = url.searchParams.get("appId")
      if (appId === null) return Effect.succeed(error(400, "give the app as ?appId=..."))
      return Effect.catchAll(
        Effect.map(service.appTokenUsage({ appId }), (usage) => json(200, usage)),
        (e) => Effect.succeed(error(400, e.message))
      )
    }
  },
  "apptoken/revoke": {
    POST: ({ service }, body) =>
      withBody(Schemas.AppBody, body, (options) => Effect.as(service.revokeAppToken(options), json(200, { ok: true })))
  },
  "miniprogram/encrypt": {
    POST: ({ service }, body) =>
      withBody(
        Schemas.EncryptBody,
        body,
        (options) => Effect.map(service.encryptUserData(options), (data) => json(200, data))
      )
  },
  "component/push": {
    POST: ({ service }, body) =>
      withBody(Schema.Unknown, body, (options) =>
        Effect.map(
          service.componentPush(options as Parameters<SandboxService["componentPush"]>[0]),
          (push) => json(200, push)
        ))
  },
  "component/ticket": {
    POST: ({ service }, body) =>
      withBody(Schemas.ComponentBody, body, (options) => Effect.map(service.pushTicket(options), (r) => json(200, r)))
  },
  "component/authorize": {
    POST: ({ service }, body) =>
      withBody(Schemas.ComponentAppBody, body, (options) => Effect.map(service.authorize(options), (r) => json(200, r)))
  },
  "component/updateauthorized": {
    POST: ({ service }, body) =>
      withBody(
        Schemas.ComponentAppBody,
        body,
        (options) => Effect.map(service.updateAuthorization(options), (r) => json(200, r))
      )
  },
  "component/unauthorize": {
    POST: ({ service }, body) =>
      withBody(
        Schemas.ComponentAppBody,
        body,
        (options) => Effect.map(service.unauthorize(options), (r) => json(200, r))
      )
  },
  "component/pushes": {
    GET: ({ service }, _, url) =>
      withComponentParam(
        url,
        (componentAppId) => Effect.map(service.componentPushes({ componentAppId }), (pushes) => json(200, { pushes }))
      )
  },
  "component/usage": {
    GET: ({ service }, _, url) =>
      withComponentParam(
        url,
        (componentAppId) => Effect.map(service.componentTokenUsage({ componentAppId }), (usage) => json(200, usage))
      )
  },
  "component/ip": {
    POST: ({ service }, body) =>
      withBody(
        Schemas.ComponentIpBody,
        body,
        (options) => Effect.as(service.setComponentIpWhitelist(options), json(200, { ok: true }))
      )
  },
  "component/refresh-token/revoke": {
    POST: ({ service }, body) =>
      withBody(
        Schemas.ComponentAppBody,
        body,
        (options) => Effect.as(service.revokeAuthorizerRefreshToken(options), json(200, { ok: true }))
      )
  },
  "component/token/revoke": {
    POST: ({ service }, body) =>
      withBody(
        Schemas.ComponentBody,
        body,
        (options) => Effect.as(service.revokeComponentToken(options), json(200, { ok: true }))
      )
  },
  callback: {
    GET: (_, __, url) =>
      Effect.succeed(
        Responses.htmlResponse(
          200,
          Html.callbackPage(
            optionalCut(url.searchParams.get("code")),
            optionalCut(url.searchParams.get("state"), Engine.maxStateLength)
          )
        )
      )
  }
}

/** Answers a request under `/__sandbox/`. @internal */
export const handle = (
  deps: ControlDeps,
  method: string,
  url: URL,
  body: string
): Effect.Effect<Responses.RawResponse> => {
  const command = url.pathname.replace(/^\/__sandbox\/?/, "").replace(/\/$/, "")
  const route = Object.prototype.hasOwnProperty.call(routes, command) ? routes[command] : undefined
  if (route === undefined) {
    return Effect.succeed(
      error(404, `unknown control command ${quote(command)}; known: ${Object.keys(routes).join(", ")}`)
    )
  }
  const handler = route[method === "HEAD" ? "GET" : method]
  if (handler === undefined) {
    return Effect.succeed({
      ...error(405, `${cut(method)} is not allowed on /__sandbox/${command}; use ${Object.keys(route).join(" or ")}`),
      headers: { "content-type": "application/json; charset=utf-8", allow: Object.keys(route).join(", ") }
    })
  }
  return handler(deps, body, url)
}
