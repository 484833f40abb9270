/**
 * The middleware in an app's own `HttpApi`, served with `HttpApiBuilder.serve` (the README's second
 * example, against the sandbox): the login's routes on the API's router, 401 JSON without a live
 * session, the user in the handler, a cross-site POST refused with 403, a bearer token of a mini
 * program accepted.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { assert, describe, layer } from "@effect/vitest"
import { CurrentWeChatUser, WeChatLogin } from "@wxauth/http"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import { Browser, login, sandboxControl, userAgents } from "@wxauth/test-support"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Http from "node:http"
import { MINI, sandboxApps, testApp, TestServer } from "./helpers.js"

class Api extends HttpApi.make("shop").add(
  HttpApiGroup.make("orders")
    .add(HttpApiEndpoint.get("mine", "/orders").addSuccess(Schema.Array(Schema.String)))
    .add(HttpApiEndpoint.post("place", "/orders").addSuccess(Schema.String))
    .add(HttpApiEndpoint.get("catalogue", "/orders/catalogue").addSuccess(Schema.String))
    .middleware(CurrentWeChatUser.CurrentWeChatUser)
).add(HttpApiGroup.make("public").add(HttpApiEndpoint.get("hello", "/hello").addSuccess(Schema.String))) {}

const placed: Array<string> = []

const OrdersLive = HttpApiBuilder.group(Api, "orders", (handlers) =>
  handlers
    .handle("mine", () => Effect.map(CurrentWeChatUser.User, (user) => [`orders of ${user.openid} (${user.app})`]))
    .handle("place", () =>
      Effect.map(CurrentWeChatUser.User, (user) => {
        placed.push(user.openid)
        return "placed"
      }))
    // a route that sets its own Cache-Control
    .handleRaw("catalogue", () =>
      Effect.succeed(
        HttpServerResponse.text("the catalogue", { headers: { "cache-control": "private, max-age=60" } })
      )))

const PublicLive = HttpApiBuilder.group(
  Api,
  "public",
  (handlers) => handlers.handle("hello", () => Effect.succeed("hi"))
)

class Server extends Context.Tag("test/Server")<Server, { readonly url: string; readonly sandboxUrl: string }>() {}

const app = Layer.unwrapEffect(
  Effect.gen(function*() {
    const sandbox = yield* SandboxServer.SandboxServer
    const ApiLive = HttpApiBuilder.api(Api).pipe(
      Layer.provide([OrdersLive, PublicLive]),
      Layer.provide(WeChatLogin.layerRoutesTo(HttpApiBuilder.Router)),
      Layer.provide(WeChatLogin.layer({ apps: sandboxApps(sandbox.url) }))
    )
    const info = Layer.effect(
      Server,
      Effect.map(HttpServer.HttpServer, (http) => ({
        url: `http://127.0.0.1:${(http.address as HttpServer.TcpAddress).port}`,
        sandboxUrl: sandbox.url
      }))
    )
    return Layer.merge(HttpApiBuilder.serve().pipe(Layer.provide(ApiLive)), info).pipe(
      Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" }))
    )
  })
).pipe(Layer.provide(Sandbox.layerServer({ port: 0, host: "127.0.0.1" })), Layer.provide(Sandbox.layer()))

describe("CurrentWeChatUser in an app's own HttpApi", () => {
  layer(app, { excludeTestServices: true })((it) => {
    it.effect("401 JSON without a session; the user after login; the login's routes served beside the API", () =>
      Effect.gen(function*() {
        const { sandboxUrl, url } = yield* Server
        const browser = new Browser(url, { userAgent: userAgents.desktop })
        assert.strictEqual((yield* browser.get("/hello")).text, "\"hi\"", "other groups need no login")
        const anonymous = yield* browser.get("/orders")
        assert.strictEqual(anonymous.status, 401)
        assert.deepStrictEqual(JSON.parse(anonymous.text), { _tag: "Unauthenticated", reason: "Missing" })
        yield* login(browser, { user: "bob" })
        const config = yield* sandboxControl(sandboxUrl, "GET", "config")
        const mine = yield* browser.get("/orders")
        assert.strictEqual(mine.status, 200, mine.text)
        assert.deepStrictEqual(JSON.parse(mine.text), [
          `orders of ${config.openids[Sandbox.defaultApps.website.appId].bob} (web)`
        ])
        const openApi = JSON.parse((yield* browser.get("/api/wechat/openapi.json")).text)
        assert.property(openApi.paths, "/api/wechat/session")
      }))

    it.effect("a cookie POST from another site is refused (403); from this site, or with a bearer token, it runs", () =>
      Effect.gen(function*() {
        const { sandboxUrl, url } = yield* Server
        const browser = new Browser(url)
        yield* login(browser)
        placed.length = 0
        for (const headers of [{ origin: "https://evil.example" }, { "sec-fetch-site": "cross-site" }]) {
          const refused = yield* browser.request("POST", "/orders", { headers })
          assert.strictEqual(refused.status, 403)
          assert.deepStrictEqual(JSON.parse(refused.text), { _tag: "CrossSiteRequest" })
        }
        assert.deepStrictEqual(placed, [], "the handler did not run")
        assert.strictEqual((yield* browser.request("POST", "/orders", { headers: { origin: url } })).status, 200)
        assert.strictEqual(placed.length, 1)
        // a mini program's bearer token: no cookie, so no same-origin check
        const { code } = yield* sandboxControl(sandboxUrl, "POST", "miniprogram/login", {
          appId: MINI.appId,
          user: "carol"
        })
        const session = JSON.parse(
          (yield* new Browser(url).postJson("/api/wechat/mini-program/mini/login", { code })).text
        )
        const bearer = yield* new Browser(url).request("POST", "/orders", {
          headers: { authorization: `Bearer ${session.token}`, origin: "https://servicewechat.com" }
        })
        assert.strictEqual(bearer.status, 200, bearer.text)
        assert.strictEqual(placed.length, 2)
      }))

    it.effect("an authenticated answer is Cache-Control: private, no-store, unless the route set its own", () =>
      Effect.gen(function*() {
        const { sandboxUrl, url } = yield* Server
        const browser = new Browser(url, { userAgent: userAgents.desktop })
        assert.isNull((yield* browser.get("/hello")).headers.get("cache-control"), "a public route: untouched")
        yield* login(browser)
        const mine = yield* browser.get("/orders")
        assert.strictEqual(mine.status, 200, mine.text)
        assert.strictEqual(mine.headers.get("cache-control"), "private, no-store")
        const placedAnswer = yield* browser.request("POST", "/orders", { headers: { origin: url } })
        assert.strictEqual(placedAnswer.headers.get("cache-control"), "private, no-store")
        const catalogue = yield* browser.get("/orders/catalogue")
        assert.strictEqual(catalogue.status, 200, catalogue.text)
        assert.strictEqual(catalogue.headers.get("cache-control"), "private, max-age=60", "the route's own")
        // a mini program's bearer token authenticates too
        const { code } = yield* sandboxControl(sandboxUrl, "POST", "miniprogram/login", {
          appId: MINI.appId,
          user: "dave"
        })
        const token = JSON.parse(
          (yield* new Browser(url).postJson("/api/wechat/mini-program/mini/login", { code })).text
        ).token
        const bearer = yield* new Browser(url).get("/orders", { authorization: `Bearer ${token}` })
        assert.strictEqual(bearer.status, 200, bearer.text)
        assert.strictEqual(bearer.headers.get("cache-control"), "private, no-store")
      }))

    it.effect("an expired or revoked session is 401 Invalid", () =>
      Effect.gen(function*() {
        const { url } = yield* Server
        const browser = new Browser(url)
        yield* login(browser)
        const cookie = browser.cookies.get("wxauth_session")!
        yield* browser.post("/logout", {}, { origin: url })
        const copy = new Browser(url)
        copy.cookies.set("wxauth_session", cookie)
        const refused = yield* copy.get("/orders")
        assert.strictEqual(refused.status, 401)
        assert.deepStrictEqual(JSON.parse(refused.text), { _tag: "Unauthenticated", reason: "Invalid" })
      }))
  })
})

describe("WeChatLogin's currentUser in an app's own HttpRouter route", () => {
  layer(testApp(), { excludeTestServices: true })((it) => {
    it.effect("the answer of a request it authenticated is Cache-Control: private, no-store", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        const browser = new Browser(url, { userAgent: userAgents.desktop })
        const anonymous = yield* browser.get("/")
        assert.strictEqual(anonymous.text, "home: nobody")
        assert.isNull(anonymous.headers.get("cache-control"), "nobody authenticated: untouched")
        yield* login(browser)
        for (const path of ["/", "/me"]) {
          const answer = yield* browser.get(path)
          assert.strictEqual(answer.status, 200, answer.text)
          assert.strictEqual(answer.headers.get("cache-control"), "private, no-store", path)
        }
      }))
  })
})
