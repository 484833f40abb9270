/**
 * `WeChatLogin.toWebHandler`: the login as a Web-standard `Request` -> `Response` handler, called
 * directly (no HTTP server of ours), against the sandbox WeChat; `handles`, `currentUser`,
 * `getUser`, `logoutEverywhere`, a layer that fails, values that are not Requests (a server
 * adapter's mistake), Requests that are subclasses or Proxies, and bodies that fail or never end.
 */
import { assert, describe, it } from "@effect/vitest"
import { WeChatLogin } from "@wxauth/http"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import { Browser, login, sandboxControl, userAgents } from "@wxauth/test-support"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { sandboxApps, WEB } from "./helpers.js"

const base = "http://app.test"

/** A handler over the three sandbox apps (the sandbox on a socket), disposed with the scope. */
const webHandler = Effect.gen(function*() {
  const sandbox = Context.get(
    yield* Layer.build(Sandbox.layerServer({ port: 0, host: "127.0.0.1" }).pipe(Layer.provide(Sandbox.layer()))),
    SandboxServer.SandboxServer
  )
  const web = WeChatLogin.toWebHandler(WeChatLogin.layer({ apps: sandboxApps(sandbox.url), publicUrl: base }))
  yield* Effect.addFinalizer(() => Effect.promise(() => web.dispose()))
  return web
})

/** How a Promise ended within `within`: its value, its rejection, or `"pending"`. */
const settled = <A>(promise: () => Promise<A>, within: Duration.DurationInput = "2 seconds") =>
  Effect.promise(() =>
    Promise.resolve().then(promise).then(
      (value) => ({ _tag: "resolved" as const, value }),
      (error: unknown) => ({ _tag: "rejected" as const, error })
    )
  ).pipe(Effect.timeoutTo({ duration: within, onSuccess: (outcome) => outcome, onTimeout: () => "pending" as const }))

/** A Proxy whose every trap throws. */
const throwingProxy = () => {
  const fail = () => {
    throw new Error("trap")
  }
  return new Proxy({}, {
    get: fail,
    has: fail,
    getPrototypeOf: fail,
    getOwnPropertyDescriptor: fail,
    ownKeys: fail,
    apply: fail,
    set: fail,
    defineProperty: fail
  })
}

/** A Proxy of a Request that reads through to it `allowed` times, then throws on every read. */
const proxyOfRequest = (request: Request, allowed: number) => {
  let reads = 0
  return new Proxy(request, {
    get: (target, key) => {
      if (++reads > allowed) throw new Error("trap")
      const value: unknown = Reflect.get(target, key)
      return typeof value === "function" ? value.bind(target) : value
    }
  })
}

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
      // the user's session is over: the Promise twins act for it no more
      const after = yield* Effect.promise(() => web.getUser(user!).then(() => "resolved", (e) => e._tag))
      assert.strictEqual(after, "Unauthenticated")
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

  it.scoped(
    "a value that is not a Request: handler answers 400 at once, currentUser rejects InvalidArgument",
    () =>
      Effect.gen(function*() {
        const web = yield* webHandler
        const revoked = Proxy.revocable({}, {})
        revoked.revoke()
        const values: ReadonlyArray<readonly [string, unknown]> = [
          ["undefined", undefined],
          ["null", null],
          ["a URL string", `${base}/login`],
          ["a URL", new URL(`${base}/login`)],
          ["{}", {}],
          ["a plain object shaped like a Request", { url: `${base}/login`, method: "GET", headers: new Headers() }],
          ["a Response", new Response("x")],
          ["a hollow object of Request.prototype", Object.create(Request.prototype)],
          ["a Proxy whose traps throw", throwingProxy()],
          ["a Proxy of a Request whose get throws", proxyOfRequest(new Request(`${base}/login`), 0)],
          ["a Proxy of a Request that throws once its url is read", proxyOfRequest(new Request(`${base}/login`), 1)],
          ["a revoked Proxy", revoked.proxy],
          ["a number", 42]
        ]
        const problems: Array<string> = []
        for (const [label, value] of values) {
          const answer = yield* settled(() => web.handler(value as Request))
          if (answer === "pending") problems.push(`handler(${label}): not answered within 2 s`)
          else if (answer._tag === "rejected") problems.push(`handler(${label}): rejected`)
          else if (answer.value.status !== 400) problems.push(`handler(${label}): ${answer.value.status}`)
          const user = yield* settled(() => web.currentUser(value as Request))
          if (user === "pending") problems.push(`currentUser(${label}): not settled within 2 s`)
          else if (user._tag === "resolved") problems.push(`currentUser(${label}): resolved`)
          else if ((user.error as { _tag?: unknown })._tag !== "InvalidArgument") {
            problems.push(`currentUser(${label}): rejected with ${String(user.error)}`)
          }
        }
        assert.deepStrictEqual(problems, [])
        // and the handler still serves real requests
        const session = yield* Effect.promise(() => web.handler(new Request(`${base}/api/wechat/session`)))
        assert.strictEqual(session.status, 401)
      }),
    60_000
  )

  it.scoped("a subclass of Request and a Proxy of one are served like the Request; currentUser reads no body", () =>
    Effect.gen(function*() {
      const web = yield* webHandler
      const browser = new Browser(base, { userAgent: userAgents.desktop, app: web.handler })
      yield* login(browser, { path: "/login/web", user: "carol" })
      const cookie = `wxauth_session=${browser.cookies.get("wxauth_session")}`
      class AppRequest extends Request {
        readonly extra = "framework field"
      }
      const sessionOf = (request: Request) =>
        Effect.promise(async () => {
          const response = await web.handler(request)
          return { status: response.status, body: await response.json() as { openid?: string } }
        })
      const plain = yield* sessionOf(new Request(`${base}/api/wechat/session`, { headers: { cookie } }))
      assert.strictEqual(plain.status, 200)
      assert.isString(plain.body.openid)
      const sub = yield* sessionOf(new AppRequest(`${base}/api/wechat/session`, { headers: { cookie } }))
      assert.deepStrictEqual(sub, plain)
      // a Proxy that lets the fields be read once, then throws: the platform sees a fresh copy only
      const proxied = yield* sessionOf(
        proxyOfRequest(new Request(`${base}/api/wechat/session`, { headers: { cookie } }), 5)
      )
      assert.deepStrictEqual(proxied, plain)

      // currentUser of a POST leaves its body to the caller, whatever the Request's class
      for (
        const make of [
          (init: RequestInit) => new Request(`${base}/orders`, init),
          (init: RequestInit) => new AppRequest(`${base}/orders`, init)
        ]
      ) {
        const request = make({ method: "POST", headers: { cookie, origin: base }, body: "{\"item\":1}" })
        const user = yield* Effect.promise(() => web.currentUser(request))
        assert.strictEqual(user?.openid, plain.body.openid)
        assert.strictEqual(yield* Effect.promise(() => request.text()), "{\"item\":1}")
      }
      // a subclass's cross-site POST is still nobody
      const crossSite = yield* Effect.promise(() =>
        web.currentUser(
          new AppRequest(`${base}/orders`, { method: "POST", headers: { cookie, origin: "https://evil.example" } })
        )
      )
      assert.isUndefined(crossSite)
    }))

  it.live(
    "bodies that fail or never end are answered within the read deadline (10 s; 408 for one that stops arriving), little read",
    () =>
      Effect.gen(function*() {
        const web = yield* webHandler
        const path = `${base}/api/wechat/mini-program/mini/login`
        let pulled = 0
        const bodies = {
          "fails at once": () =>
            new ReadableStream<Uint8Array>({
              pull: (controller) => controller.error(new Error("connection reset"))
            }),
          "fails after its first bytes": () => {
            let first = true
            return new ReadableStream<Uint8Array>({
              pull: (controller) => {
                if (!first) return controller.error(new Error("connection reset"))
                first = false
                controller.enqueue(new TextEncoder().encode("{\"code\":"))
              }
            })
          },
          "throws in its source": () =>
            new ReadableStream<Uint8Array>({
              pull: () => {
                throw new Error("source")
              }
            }),
          "never gives a byte": () => new ReadableStream<Uint8Array>({ pull: () => new Promise<void>(() => {}) }),
          "never ends": () =>
            new ReadableStream<Uint8Array>({
              pull: (controller) => {
                pulled += 1024
                controller.enqueue(new Uint8Array(1024).fill(0x20))
              }
            })
        }
        const post = (url: string, body: ReadableStream<Uint8Array>, headers: Record<string, string>) =>
          new Request(url, { method: "POST", headers, body, duplex: "half" } as RequestInit)
        const started = Date.now()
        const outcomes = yield* Effect.forEach(
          Object.entries(bodies).flatMap((
            [label, body]
          ): ReadonlyArray<readonly [string, () => Request, ReadonlyArray<number>]> => [
            // the mini program's login reads a body that announces a small length: one that fails or
            // runs past the cap is a bad request, one that stops arriving a timeout
            [
              `login, ${label}`,
              () => post(path, body(), { "content-type": "application/json", "content-length": "20" }),
              [label === "never gives a byte" ? 408 : 400]
            ],
            // logout reads no body: it answers whatever the body does
            [`logout, ${label}`, () => post(`${base}/logout`, body(), { origin: base }), [303]]
          ]),
          ([label, make, expected]) =>
            Effect.map(settled(() => web.handler(make()), "15 seconds"), (outcome) =>
              outcome === "pending"
                ? `${label}: not answered within 15 s`
                : outcome._tag === "rejected"
                ? `${label}: rejected`
                : expected.includes(outcome.value.status)
                ? undefined
                : `${label}: ${outcome.value.status}`),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(outcomes.filter((o) => o !== undefined), [])
        assert.isBelow(Date.now() - started, 14_000)
        assert.isBelow(pulled, 256 * 1024, `${pulled} bytes of an endless body read`)
      }).pipe(Effect.scoped),
    30_000
  )
})
