/**
 * The lean clients through a proxy (one undici `ProxyAgent` pool each) are held per request, kept
 * idle for reuse a while, at most `maxIdle` of them, then disposed: a proxy URL per request
 * (`request(url, { proxy })`) or per `setOpts({ proxy })` no longer keeps a pool (and the proxy URL,
 * password included) for the life of the process.
 *
 * The proxy here is a local HTTP server answering absolute-URI requests itself; it counts the
 * connections the pools keep open to it. The idle timers are injected (fired by the test).
 */
import { afterAll, afterEach, assert, beforeAll, beforeEach, describe, it } from "@effect/vitest"
import OAuth from "@wxauth/compat"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Http from "node:http"
import type * as Net from "node:net"
import { vi } from "vitest"
import * as Runtime from "../src/internal/runtime.js"

const maxIdle = 4

// read loosely, so that this file runs (and fails on its assertions) against the code before the fix
const internals = Runtime as unknown as {
  readonly liveProxyClients?: () => number
  readonly proxyClientSettings?: {
    idleMillis: number
    maxIdle: number
    setTimer: (callback: () => void, millis: number) => () => void
  }
}
const live = (): number => internals.liveProxyClients?.() ?? Number.NaN

/** The idle timers set, fired by the test. */
let timers: Array<{ readonly callback: () => void; cancelled: boolean }> = []
const fireTimers = () => {
  const due = timers
  timers = []
  for (const timer of due) if (!timer.cancelled) timer.callback()
}
let saved: { idleMillis: number; maxIdle: number; setTimer: (callback: () => void, millis: number) => () => void }

let server: Http.Server
let port = 0
const open = new Set<Net.Socket>()
let connections = 0
/** Requests to `/slow` wait here until released. */
const held: Array<() => void> = []

const token = {
  access_token: "ACCESS_TOKEN",
  expires_in: 7200,
  refresh_token: "REFRESH_TOKEN",
  openid: "oOpenid",
  scope: "snsapi_userinfo"
}

beforeAll(async () => {
  server = Http.createServer((req, res) => {
    const answer = () => {
      res.setHeader("content-type", "application/json")
      res.end(JSON.stringify(req.url?.includes("/sns/oauth2/access_token") ? token : { errcode: 0, errmsg: "ok" }))
    }
    if (req.url?.includes("/slow")) held.push(answer)
    else answer()
  })
  server.on("connection", (socket) => {
    connections++
    open.add(socket)
    socket.on("close", () => open.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  port = (server.address() as Net.AddressInfo).port
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

beforeEach(() => {
  const settings = internals.proxyClientSettings ?? ({} as NonNullable<typeof internals.proxyClientSettings>)
  saved = { ...settings }
  settings.idleMillis = 60_000
  settings.maxIdle = maxIdle
  settings.setTimer = (callback) => {
    const timer = { callback, cancelled: false }
    timers.push(timer)
    return () => {
      timer.cancelled = true
    }
  }
})

afterEach(async () => {
  fireTimers()
  if (internals.proxyClientSettings !== undefined) Object.assign(internals.proxyClientSettings, saved)
  // the pools of a test (fixed or not) are gone before the next one counts connections
  server.closeAllConnections()
  await vi.waitFor(() => assert.strictEqual(open.size, 0))
  connections = 0
})

const proxyOf = (user: string) => `http://${user}:p%40ss@127.0.0.1:${port}/`
const client = () => new OAuth("wx0123456789abcdef", "secret")
const get = (oauth: any, proxy: string, path = "/sns/auth") =>
  oauth.request(`http://api.example.test${path}`, { proxy, dataType: "json" })

/** Waits for the connections to the proxy to drop to `n` at most (a disposed pool closes them). */
const openAtMost = (n: number) =>
  vi.waitFor(() => assert.isAtMost(open.size, n, `connections open to the proxy: ${open.size}`), { timeout: 1_500 })

describe("compat's clients through a proxy", () => {
  it("a proxy URL per request: at most maxIdle clients (and their connections) once idle", async () => {
    const oauth = client()
    for (let i = 0; i < 50; i++) {
      assert.deepStrictEqual((await get(oauth, proxyOf(`u${i}`))).data, { errcode: 0, errmsg: "ok" })
    }
    await openAtMost(maxIdle)
    assert.strictEqual(live(), maxIdle)
  })

  it("an idle client is disposed once its delay passes", async () => {
    const oauth = client()
    await get(oauth, proxyOf("a"))
    await get(oauth, proxyOf("b"))
    assert.strictEqual(timers.filter((timer) => !timer.cancelled).length, 2)
    assert.strictEqual(live(), 2)
    fireTimers()
    await openAtMost(0)
    assert.strictEqual(live(), 0)
  })

  it("a request in flight keeps its client while more than maxIdle others come and go", async () => {
    const oauth = client()
    const slow = get(oauth, proxyOf("slow"), "/slow")
    await vi.waitFor(() => assert.strictEqual(held.length, 1))
    for (let i = 0; i < maxIdle * 3; i++) await get(oauth, proxyOf(`other${i}`))
    fireTimers() // no timer is set for a client in use
    for (let i = 0; i < maxIdle + 2; i++) await get(oauth, proxyOf(`more${i}`))
    assert.strictEqual(live(), 1 + maxIdle)
    held.shift()!()
    assert.deepStrictEqual((await slow).data, { errcode: 0, errmsg: "ok" })
    // now idle, it is the most recently used: the least recently used one went
    assert.strictEqual(live(), maxIdle)
    fireTimers()
    assert.strictEqual(live(), 0)
    await openAtMost(0)
  })

  it("requests through one proxy share one client, in use or idle", async () => {
    const oauth = client()
    const proxy = proxyOf("same")
    await Promise.all([get(oauth, proxy), get(oauth, proxy), get(oauth, proxy)])
    assert.strictEqual(live(), 1)
    const before = connections
    for (let i = 0; i < 5; i++) await get(oauth, proxy)
    assert.strictEqual(live(), 1)
    // one pool: its kept-alive connection is reused, not a pool (and a connection) per request
    assert.isAtMost(connections - before, 1)
  })

  it("setOpts({ proxy }) per call: the clients' requests hold them, at most maxIdle kept", async () => {
    const oauth = client()
    oauth.setOpts({ apiBaseUrl: "http://api.example.test" })
    for (let i = 0; i < 20; i++) {
      oauth.setOpts({ apiBaseUrl: "http://api.example.test", proxy: proxyOf(`opts${i}`) })
      const result = await oauth.getAccessToken(`CODE${i}`)
      assert.strictEqual(result.data.access_token, "ACCESS_TOKEN")
    }
    await openAtMost(maxIdle)
    assert.strictEqual(live(), maxIdle)
    await oauth.close()
    fireTimers()
    assert.strictEqual(live(), 0)
  })

  it("a bad proxy URL still fails the client's call (at the layer's build), and keeps nothing", async () => {
    const oauth = client()
    oauth.setOpts({ apiBaseUrl: "http://api.example.test", proxy: "ftp://user:secret@127.0.0.1:1/" })
    const failure = await oauth.getAccessToken("CODE").then(() => undefined, (error: unknown) => error)
    assert.instanceOf(failure, Error)
    assert.notInclude(String((failure as Error).message), "secret")
    assert.strictEqual(live(), 0)
  })

  it.effect("a client that cannot be built is the caller's typed failure, and is not kept", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Runtime.withProxyClient(
          "not a URL",
          () => Effect.succeed("used"),
          () => Effect.fail("unavailable" as const)
        )
      )
      assert.deepStrictEqual(exit, Exit.fail("unavailable" as const))
      assert.strictEqual(live(), 0)
    }))
})
