/**
 * The README's setup, as written (the sandbox for WeChat, port 0 for 3000): `layerDefault` served
 * by `HttpRouter.Default.serve()` logs a WeChat browser in through the official account and a
 * desktop through the website app.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import { assert, describe, it } from "@effect/vitest"
import { WeChatLogin } from "@wxauth/http"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import { Browser, login, userAgents } from "@wxauth/test-support"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createServer } from "node:http"
import { OA, WEB } from "./helpers.js"

describe("README", () => {
  it.scoped("the ten-line setup: one official account and one website app", () =>
    Effect.gen(function*() {
      const sandbox = Context.get(
        yield* Layer.build(Sandbox.layerServer({ port: 0, host: "127.0.0.1" }).pipe(Layer.provide(Sandbox.layer()))),
        SandboxServer.SandboxServer
      )
      const hosts = { apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url }
      // the README's lines, with the sandbox's hosts and a free port
      const LoginLive = WeChatLogin.layerDefault({
        apps: {
          official: { kind: "officialAccount", appId: OA.appId, appSecret: Redacted.make(OA.secret), ...hosts },
          web: { kind: "website", appId: WEB.appId, appSecret: Redacted.make(WEB.secret), ...hosts }
        }
      })
      const ServerLive = NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })
      const context = yield* Layer.build(
        Layer.merge(HttpRouter.Default.serve().pipe(Layer.provide([LoginLive, ServerLive])), ServerLive)
      )
      const address = Context.get(context, HttpServer.HttpServer).address as HttpServer.TcpAddress
      const url = `http://127.0.0.1:${address.port}`
      for (const userAgent of [userAgents.wechat, userAgents.desktop]) {
        const browser = new Browser(url, { userAgent })
        const { answer } = yield* login(browser, { path: "/login?returnTo=%2Forders" })
        assert.strictEqual(answer.status, 303, answer.text)
        assert.strictEqual(new URL(answer.location!).pathname, "/orders")
        const session = yield* browser.get("/api/wechat/session")
        assert.strictEqual(session.status, 200)
        assert.strictEqual(JSON.parse(session.text).app, userAgent === userAgents.wechat ? "official" : "web")
      }
    }))
})
