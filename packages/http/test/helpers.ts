/**
 * Test helpers: an `@effect/platform` app on a free port with the login (`WeChatLogin.layerRoutes`)
 * and a few routes of its own, against the sandbox WeChat on another free port. The cookie-keeping
 * HTTP "browser" and the login's steps are `@wxauth/test-support`'s.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { WeChatLogin } from "@wxauth/http"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Http from "node:http"

export const OA = Sandbox.defaultApps.officialAccount
export const WEB = Sandbox.defaultApps.website
export const MINI = Sandbox.defaultApps.miniProgram

/** Where the test app and its sandbox listen. */
export class TestServer extends Context.Tag("test/TestServer")<TestServer, {
  readonly url: string
  readonly sandboxUrl: string
}>() {}

/** The three sandbox apps as the login's apps, against the sandbox at `url`. */
export const sandboxApps = (
  url: string,
  overrides: {
    readonly official?: Partial<WeChatLogin.OfficialAccountOptions>
    readonly web?: Partial<WeChatLogin.WebsiteOptions>
    readonly mini?: Partial<WeChatLogin.MiniProgramOptions>
  } = {}
) => ({
  official: {
    kind: "officialAccount" as const,
    appId: OA.appId,
    appSecret: OA.secret,
    apiBaseUrl: url,
    openBaseUrl: url,
    ...overrides.official
  },
  web: {
    kind: "website" as const,
    appId: WEB.appId,
    appSecret: WEB.secret,
    apiBaseUrl: url,
    openBaseUrl: url,
    ...overrides.web
  },
  mini: {
    kind: "miniProgram" as const,
    appId: MINI.appId,
    appSecret: MINI.secret,
    apiBaseUrl: url,
    phoneNumber: true,
    ...overrides.mini
  }
})

/**
 * The test app's own routes: `/` (who is logged in, as text), `/me` (the user as JSON, or 401),
 * `/profile` (the WeChat profile's nickname through `getUser`).
 */
const appRoutes = HttpRouter.Default.use((router) =>
  Effect.gen(function*() {
    const login = yield* WeChatLogin.WeChatLogin
    yield* router.get(
      "/",
      login.currentUser.pipe(
        Effect.map((user) => HttpServerResponse.text(`home: ${user.openid}`)),
        Effect.catchAll(() => Effect.succeed(HttpServerResponse.text("home: nobody")))
      )
    )
    yield* router.get(
      "/me",
      login.currentUser.pipe(
        Effect.map((user) => HttpServerResponse.unsafeJson(user)),
        Effect.catchAll((error) =>
          Effect.succeed(HttpServerResponse.unsafeJson({ error: error._tag }, { status: 401 }))
        )
      )
    )
    yield* router.get(
      "/profile",
      login.currentUser.pipe(
        Effect.flatMap((user) => login.getUser(user)),
        Effect.map((user) => HttpServerResponse.text(`nickname: ${user.nickname}`)),
        Effect.catchAll((error) => Effect.succeed(HttpServerResponse.text(`error: ${error._tag}`, { status: 401 })))
      )
    )
  })
)

/**
 * The app (login + own routes) on a free port, against a sandbox server on another, with options
 * of the test (`apps` defaults to the three sandbox apps), served with `middleware` when given (e.g.
 * `HttpMiddleware.logger`). The layer runs on the caller's clock.
 */
export const testApp = (
  options: (sandboxUrl: string) => Partial<WeChatLogin.Options> = () => ({}),
  sandboxOptions?: Sandbox.SandboxOptions,
  context: (sandboxUrl: string) => Layer.Layer<any, any, never> = () => Layer.empty as any,
  middleware?: HttpMiddleware.HttpMiddleware
) =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const sandbox = yield* SandboxServer.SandboxServer
      const loginLayer = WeChatLogin.layer({ apps: sandboxApps(sandbox.url), ...options(sandbox.url) }).pipe(
        Layer.provide(context(sandbox.url))
      )
      const serve = middleware === undefined
        ? HttpRouter.Default.serve()
        : HttpRouter.Default.serve(middleware as HttpMiddleware.HttpMiddleware.Applied<any, never, never>)
      const server = serve.pipe(
        Layer.provide(WeChatLogin.layerRoutes),
        Layer.provide(appRoutes)
      )
      const info = Layer.effect(
        TestServer,
        Effect.map(HttpServer.HttpServer, (http) => {
          const address = http.address as HttpServer.TcpAddress
          return { url: `http://127.0.0.1:${address.port}`, sandboxUrl: sandbox.url }
        })
      )
      return Layer.merge(server, info).pipe(
        Layer.provideMerge(loginLayer),
        Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" }))
      )
    })
  ).pipe(
    Layer.provideMerge(Sandbox.layerServer({ port: 0, host: "127.0.0.1" })),
    Layer.provideMerge(Sandbox.layer(sandboxOptions))
  )
