/**
 * Without `publicUrl`, how the login tells that a request reached the site over https (the
 * `redirect_uri`'s scheme, the `__Host-` names and `Secure` flag of the cookies, the origin a
 * logout's `Origin` must match): the first value of `X-Forwarded-Proto` (trimmed, in any case),
 * else a Web `Request`'s own URL (`toWebHandler`), else a TLS connection (`node:https` under
 * `@effect/platform-node`). And the warning logged when the layer is built without `publicUrl`.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import { assert, describe, it, layer } from "@effect/vitest"
import { WeChatLogin } from "@wxauth/http"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import { Browser, userAgents } from "@wxauth/test-support"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Fs from "node:fs"
import * as Https from "node:https"
import * as Path from "node:path"
import { sandboxApps, testApp, TestServer } from "./helpers.js"

const sandboxLayer = Sandbox.layerServer({ port: 0, host: "127.0.0.1" }).pipe(Layer.provide(Sandbox.layer()))

/** The `redirect_uri` of WeChat's authorize URL a login start redirects to. */
const redirectUriOf = (location: string | null | undefined): string => {
  assert.isString(location)
  return new URL(location!).searchParams.get("redirect_uri") ?? ""
}

/** The name of the binding cookie a login start set, and whether it is `Secure`. */
const bindingOf = (setCookies: ReadonlyArray<string>) => {
  const line = setCookies.find((l) => /^(__Host-)?wxauth_binding=/.test(l))
  assert.isDefined(line, setCookies.join("\n"))
  return { name: line!.slice(0, line!.indexOf("=")), secure: /;\s*Secure/i.test(line!) }
}

describe("without publicUrl: X-Forwarded-Proto", () => {
  layer(testApp(), { excludeTestServices: true })((it) => {
    it.effect("its first value decides, trimmed and in any case; another scheme, or none, is http", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        const host = new URL(url).host
        const cases: ReadonlyArray<readonly [string | undefined, boolean]> = [
          ["https", true],
          ["HTTPS", true],
          [" https ", true],
          ["https, http", true],
          ["https,https", true],
          ["Https,http", true],
          ["http", false],
          ["http, https", false],
          ["wss", false],
          [undefined, false]
        ]
        for (const [proto, https] of cases) {
          const browser = new Browser(url, { userAgent: userAgents.desktop })
          const start = yield* browser.get("/login", proto === undefined ? {} : { "x-forwarded-proto": proto })
          assert.strictEqual(start.status, 302, String(proto))
          const binding = bindingOf(start.setCookies)
          assert.deepStrictEqual(
            binding,
            https ? { name: "__Host-wxauth_binding", secure: true } : { name: "wxauth_binding", secure: false },
            `X-Forwarded-Proto: ${proto}`
          )
          assert.strictEqual(
            redirectUriOf(start.location),
            `${https ? "https" : "http"}://${host}/login/web/callback`,
            `X-Forwarded-Proto: ${proto}`
          )
        }
      }))

    it.effect("behind a proxy that appends its hop (https, http): the browser's same-origin logout is accepted", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        const host = new URL(url).host
        const browser = new Browser(url, { userAgent: userAgents.desktop })
        const out = yield* browser.post("/logout", {}, {
          "x-forwarded-proto": "https, http",
          origin: `https://${host}`
        })
        assert.strictEqual(out.status, 303, out.text)
      }))
  })
})

describe("without publicUrl: toWebHandler", () => {
  it.scoped("an https Request is https: redirect_uri, __Host- Secure cookie, same-origin logout", () =>
    Effect.gen(function*() {
      const sandbox = Context.get(yield* Layer.build(sandboxLayer), SandboxServer.SandboxServer)
      const web = WeChatLogin.toWebHandler(WeChatLogin.layer({ apps: sandboxApps(sandbox.url) }))
      yield* Effect.addFinalizer(() => Effect.promise(() => web.dispose()))
      const headers = { host: "shop.example.com", "user-agent": userAgents.desktop }
      for (const withHost of [true, false]) {
        const start = yield* Effect.promise(() =>
          web.handler(
            new Request("https://shop.example.com/login/web?returnTo=/orders", {
              headers: withHost ? headers : { "user-agent": userAgents.desktop }
            })
          )
        )
        assert.strictEqual(start.status, 302)
        assert.strictEqual(
          redirectUriOf(start.headers.get("location")),
          "https://shop.example.com/login/web/callback",
          withHost ? "with a Host header" : "the Request's URL's host without one"
        )
        assert.deepStrictEqual(bindingOf(start.headers.getSetCookie()), { name: "__Host-wxauth_binding", secure: true })
      }
      // the site's own page POSTs its logout: the browser sends Origin: https://shop.example.com
      for (const path of ["/logout", "/api/wechat/logout"]) {
        const out = yield* Effect.promise(() =>
          web.handler(
            new Request(`https://shop.example.com${path}`, {
              method: "POST",
              headers: {
                ...headers,
                origin: "https://shop.example.com",
                cookie: `__Host-wxauth_session=${"A".repeat(43)}`
              }
            })
          )
        )
        assert.notStrictEqual(out.status, 403, `${path}: a same-origin logout is not refused as cross-site`)
      }
      // an http Request stays http; a proxy's X-Forwarded-Proto: http says how the browser came
      for (
        const request of [
          new Request("http://shop.example.com/login/web", { headers }),
          new Request("https://shop.example.com/login/web", { headers: { ...headers, "x-forwarded-proto": "http" } })
        ]
      ) {
        const start = yield* Effect.promise(() => web.handler(request))
        assert.strictEqual(redirectUriOf(start.headers.get("location")), "http://shop.example.com/login/web/callback")
        assert.deepStrictEqual(bindingOf(start.headers.getSetCookie()), { name: "wxauth_binding", secure: false })
      }
    }))
})

const fixtures = Path.join(import.meta.dirname, "fixtures")

/** A request to the TLS server (its self-signed certificate accepted). */
const httpsRequest = (port: number, path: string, method = "GET", headers: Record<string, string> = {}) =>
  Effect.async<{ readonly status: number; readonly headers: Record<string, string | Array<string> | undefined> }>(
    (resume) => {
      const request = Https.request({
        host: "127.0.0.1",
        port,
        path,
        method,
        rejectUnauthorized: false,
        headers: { host: `localhost:${port}`, "user-agent": userAgents.desktop, "content-length": "0", ...headers }
      }, (response) => {
        response.resume()
        response.on("end", () => resume(Effect.succeed({ status: response.statusCode!, headers: response.headers })))
      })
      request.on("error", (error) => resume(Effect.die(error)))
      request.end()
      return Effect.sync(() => request.destroy())
    }
  )

describe("without publicUrl: NodeHttpServer over node:https", () => {
  it.scoped("a TLS connection is https: redirect_uri, __Host- Secure cookie, same-origin logout", () =>
    Effect.gen(function*() {
      const sandbox = Context.get(yield* Layer.build(sandboxLayer), SandboxServer.SandboxServer)
      const server = HttpRouter.Default.serve().pipe(
        Layer.provide(WeChatLogin.layerRoutes),
        Layer.provide(WeChatLogin.layer({ apps: { web: sandboxApps(sandbox.url).web } })),
        Layer.provideMerge(NodeHttpServer.layer(() =>
          Https.createServer({
            key: Fs.readFileSync(Path.join(fixtures, "localhost-test-only.key")),
            cert: Fs.readFileSync(Path.join(fixtures, "localhost-test-only.crt"))
          }), { port: 0, host: "127.0.0.1" }))
      )
      const port = (Context.get(yield* Layer.build(server), HttpServer.HttpServer).address as HttpServer.TcpAddress)
        .port
      const start = yield* httpsRequest(port, "/login")
      assert.strictEqual(start.status, 302)
      assert.strictEqual(
        redirectUriOf(start.headers.location as string),
        `https://localhost:${port}/login/web/callback`
      )
      assert.deepStrictEqual(bindingOf(start.headers["set-cookie"] as Array<string>), {
        name: "__Host-wxauth_binding",
        secure: true
      })
      const out = yield* httpsRequest(port, "/logout", "POST", { origin: `https://localhost:${port}` })
      assert.strictEqual(out.status, 303, "the browser's same-origin logout is accepted")
      const refused = yield* httpsRequest(port, "/logout", "POST", { origin: `http://localhost:${port}` })
      assert.strictEqual(refused.status, 403, "another origin is still refused")
    }))
})

describe("without publicUrl: the warning", () => {
  it.scoped("the layer built without publicUrl logs one warning naming the option; with it, or for a mini program only, none", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.map(Logger.logfmtLogger, (line) => void lines.push(line))
      )
      const apps = { web: sandboxApps("http://127.0.0.1:9").web }
      yield* Layer.build(WeChatLogin.layer({ apps }).pipe(Layer.provide(capture)))
      const warnings = lines.filter((line) => line.includes("no publicUrl"))
      assert.strictEqual(warnings.length, 1, lines.join("\n"))
      assert.include(warnings[0], "level=WARN")
      assert.include(warnings[0], "set the publicUrl option")
      lines.length = 0
      yield* Layer.build(WeChatLogin.layer({ apps, publicUrl: "https://example.com" }).pipe(Layer.provide(capture)))
      assert.deepStrictEqual(lines.filter((line) => line.includes("publicUrl")), [])
      // a mini program's login has no redirect_uri and no cookie: nothing to warn of
      yield* Layer.build(
        WeChatLogin.layer({ apps: { mini: sandboxApps("http://127.0.0.1:9").mini } }).pipe(Layer.provide(capture))
      )
      assert.deepStrictEqual(lines.filter((line) => line.includes("publicUrl")), [])
    }))
})
