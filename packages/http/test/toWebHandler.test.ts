/**
 * `WeChatLogin.toWebHandler`: the login as a Web-standard `Request` -> `Response` handler, called
 * directly (no HTTP server of ours), against the sandbox WeChat; `handles`, `currentUser`,
 * `getUser`, `logoutEverywhere`, and a layer that fails.
 */
import { assert, describe, it } from "@effect/vitest"
import { WeChatLogin } from "@wxauth/http"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Browser, login, sandboxApps, sandboxControl, userAgents, WEB } from "./helpers.js"

const base = "http://app.test"

describe("WeChatLogin.toWebHandler", () => {
  it.scoped("logs in through the handler; the Promise twins see the user; dispose releases the layer", () =>
    Effect.gen(function*() {
      const sandbox = Context.get(
        yield* Layer.build(Sandbox.layerServer({ port: 0, host: "127.0.0.1" }).pipe(Layer.provide(Sandbox.layer()))),
        SandboxServer.SandboxServer
      )
      const web = WeChatLogin.toWebHandler(
        WeChatLogin.layer({ apps: sandboxApps(sandbox.url), publicUrl: base, pathPrefix: "/auth" })
      )
      yield* Effect.addFinalizer(() => Effect.promise(() => web.dispose()))
      assert.isTrue(yield* Effect.promise(() => web.handles(new Request(`${base}/auth/login`))))
      assert.isTrue(yield* Effect.promise(() => web.handles(`${base}/auth/api/wechat/session`)))
      assert.isFalse(yield* Effect.promise(() => web.handles(`${base}/login`)))
      assert.isFalse(yield* Effect.promise(() => web.handles(`${base}/`)))

      const browser = new Browser(base, { userAgent: userAgents.desktop, app: web.handler })
      const anonymous = yield* Effect.promise(() => web.currentUser(new Request(`${base}/`)))
      assert.isUndefined(anonymous)
      const { answer } = yield* login(browser, { path: "/auth/login?returnTo=%2Fcart", user: "carol" })
      assert.strictEqual(answer.status, 303, answer.text)
      assert.strictEqual(answer.location, `${base}/cart`)
      const cookie = `wxauth_session=${browser.cookies.get("wxauth_session")}`
      const user = yield* Effect.promise(() => web.currentUser(new Request(`${base}/`, { headers: { cookie } })))
      const config = yield* sandboxControl(sandbox.url, "GET", "config")
      assert.strictEqual(user?.openid, config.openids[WEB.appId].carol)
      assert.strictEqual(user?.app, "web")
      const profile = yield* Effect.promise(() => web.getUser(user!))
      assert.strictEqual(profile.nickname, "王五🐼")
      // a cross-site POST's user is nobody
      const crossSite = yield* Effect.promise(() =>
        web.currentUser(
          new Request(`${base}/orders`, { method: "POST", headers: { cookie, origin: "https://evil.example" } })
        )
      )
      assert.isUndefined(crossSite)
      assert.strictEqual(yield* Effect.promise(() => web.logoutEverywhere(user!)), 1)
      assert.isUndefined(yield* Effect.promise(() => web.currentUser(new Request(`${base}/`, { headers: { cookie } }))))
      // a path that is not the login's: 404
      const other = yield* Effect.promise(() => web.handler(new Request(`${base}/elsewhere`)))
      assert.strictEqual(other.status, 404)
    }))

  it.effect("a layer that fails: handles rejects with its error, the handler answers 500 (never rejects)", () =>
    Effect.gen(function*() {
      const web = WeChatLogin.toWebHandler(
        WeChatLogin.layer({ apps: { web: { kind: "website", appId: "", appSecret: "x" } } })
      )
      const rejected = yield* Effect.promise(() => web.handles(`${base}/login`).then(() => "resolved", (e) => e))
      assert.notStrictEqual(rejected, "resolved")
      assert.include(String(rejected), "appId")
      const answer = yield* Effect.promise(() =>
        web.handler(new Request(`${base}/login`)).then((r) => r.status, () => "rejected")
      )
      assert.strictEqual(answer, 500)
      yield* Effect.promise(() => web.dispose())
    }))
})
