/**
 * A sandbox with one third-party platform and the apps it manages, and core's `Component` on it
 * (memory stores, the sandbox's in-process HttpClient). Shared by the Component test files.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { AppTokenStore, Component, TokenStore } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

export const platform = {
  componentAppId: "wxcomponent0000001",
  componentAppSecret: "0c79e1fa963cd80cc0be99b20a18faeb",
  token: "sandboxtoken",
  encodingAesKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
} as const

export const managedOfficial = "wxmanagedofficial1"
export const managedMini = "wxmanagedminiprog1"

/** Official accounts managed by the platform, for tests across many apps. */
export const manyOfficial = Array.from({ length: 50 }, (_, i) => `wxmanagedmany${String(i).padStart(5, "0")}`)

export const sandboxOptions = (
  extra?: Partial<Sandbox.SandboxComponent>
): Sandbox.SandboxOptions => ({
  components: [{
    ...platform,
    pushInterval: false,
    authorizers: [
      { appId: managedOfficial, kind: "officialAccount" },
      { appId: managedMini, kind: "miniProgram" },
      ...manyOfficial.map((appId) => ({ appId, kind: "officialAccount" as const, users: ["alice", "bob"] }))
    ],
    ...extra
  }]
})

export const SandboxLive = (extra?: Partial<Sandbox.SandboxComponent>) =>
  Sandbox.layerHttpClient.pipe(Layer.provideMerge(Sandbox.layer(sandboxOptions(extra))))

/** Component + its config, memory stores, on the in-process sandbox. */
export const ComponentLive = (extra?: Partial<Sandbox.SandboxComponent>) =>
  Component.layer(platform).pipe(
    Layer.orDie,
    Layer.provideMerge(Layer.mergeAll(AppTokenStore.layerMemory, TokenStore.layerMemory)),
    Layer.provideMerge(SandboxLive(extra))
  )

/** The sandbox's push, accepted: for a ticket, an authorization. */
export const deliver = (
  infoType: Sandbox.ComponentInfoType,
  appId?: string
) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const component = yield* Component.Component
    const push = yield* sandbox.componentPush({ componentAppId: platform.componentAppId, infoType, appId })
    const event = yield* component.acceptPush({ query: push.query, body: push.body })
    return { push, event }
  })

/** A ticket pushed and accepted, then the app's authorization given to queryAuth. */
export const authorize = (appId: string) =>
  Effect.gen(function*() {
    const component = yield* Component.Component
    const { event } = yield* deliver("authorized", appId)
    if (event._tag !== "Authorized") return yield* Effect.dieMessage(`expected Authorized, got ${event._tag}`)
    return yield* component.queryAuth(event.authorizationCode)
  })

export const usage = Effect.flatMap(
  Sandbox.Sandbox,
  (sandbox) => sandbox.componentTokenUsage({ componentAppId: platform.componentAppId })
)

/** The status and text of a response from an HttpApp (the push handler) run in process. */
export const runApp = (
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest>,
  request: Request
) =>
  Effect.flatMap(
    Effect.provideService(app, HttpServerRequest.HttpServerRequest, HttpServerRequest.fromWeb(request)),
    (response) =>
      Effect.promise(async () => {
        const web = HttpServerResponse.toWeb(response)
        return { status: web.status, text: await web.text() }
      })
  )

/** The platform's authorization-event URL in the tests. */
export const pushUrl = "https://platform.example.com/wechat/push"

/** A push (as the sandbox signs it) POSTed to the authorization-event URL; `init` overrides the request. */
export const pushRequest = (
  push: { readonly query: Readonly<Record<string, string>>; readonly body: string },
  init?: RequestInit
) =>
  new Request(`${pushUrl}?${new URLSearchParams(push.query)}`, {
    method: "POST",
    headers: { "content-type": "text/xml" },
    body: push.body,
    ...init
  })
