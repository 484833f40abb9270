/**
 * The hostile fault kinds (nested, huge, drip, nonFinite, echo, wrongOpenid, raw), each over a real
 * socket (plain fetch) and through the in-process HttpClient.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Net from "node:net"
import { MINI, OA, sandboxLayer } from "./helpers.js"

/** An answer as a client reads it. */
interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
}

interface Call {
  readonly path: string
  readonly params?: Readonly<Record<string, string>>
  readonly method?: "GET" | "POST"
  readonly body?: string
}

/** Sends a request to the sandbox the way a transport does. */
class Caller extends Context.Tag("test/Caller")<Caller, (call: Call) => Effect.Effect<Answer>>() {}

type Env = Sandbox.Sandbox | Caller

const target = (call: Call) => `${call.path}?${new URLSearchParams(call.params ?? {})}`

interface Transport {
  readonly name: string
  readonly layer: () => Layer.Layer<Env>
}

/** A real socket and plain `fetch`: what any HTTP client meets. */
const socket: Transport = {
  name: "over a real socket (fetch)",
  layer: () =>
    Layer.effect(
      Caller,
      Effect.map(SandboxServer.SandboxServer, (server) => (call: Call) =>
        Effect.promise(async () => {
          const response = await fetch(`${server.url}${target(call)}`, {
            method: call.method ?? "GET",
            ...(call.body === undefined ? {} : { body: call.body })
          })
          const headers = Object.fromEntries(response.headers)
          return { status: response.status, headers, text: await response.text() }
        }))
    ).pipe(Layer.provide(Sandbox.layerServer({ port: 0 })), Layer.provideMerge(Sandbox.layer()), Layer.orDie)
}

/** The in-process HttpClient: no socket. */
const inProcess: Transport = {
  name: "in-process (layerHttpClient)",
  layer: () =>
    Layer.effect(
      Caller,
      Effect.map(HttpClient.HttpClient, (client) => (call: Call) =>
        Effect.gen(function*() {
          let request = HttpClientRequest.make(call.method ?? "GET")(`https://api.weixin.qq.com${target(call)}`)
          if (call.body !== undefined) request = HttpClientRequest.bodyText(request, call.body, "text/plain")
          const response = yield* client.execute(request)
          return { status: response.status, headers: response.headers, text: yield* response.text }
        }).pipe(Effect.orDie))
    ).pipe(Layer.provideMerge(sandboxLayer()))
}

const call = (request: Call) => Effect.flatMap(Caller, (send) => send(request))

const inject = (fault: Sandbox.Fault) => Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.injectFault(fault))

const deep = (depth: number) => "[".repeat(depth) + "]".repeat(depth)

/** How deep `[[[…]]]` goes, without recursion. */
const depthOf = (value: unknown): number => {
  let depth = 0
  while (Array.isArray(value)) {
    depth++
    value = value[0]
  }
  return depth
}

for (const transport of [socket, inProcess]) {
  const live = (name: string, body: () => Effect.Effect<void, unknown, Env>) =>
    it.live(name, () => Effect.provide(Effect.suspend(body), transport.layer()))

  const code = (user = "alice") =>
    Effect.flatMap(
      Sandbox.Sandbox,
      (sandbox) =>
        sandbox.approve({ appId: OA.appId, user, scope: "snsapi_userinfo", redirectUri: "https://app.example.com/cb" })
    )
      .pipe(Effect.map((url) => new URL(url).searchParams.get("code")!))
  const exchange = (code: string) =>
    call({
      path: "/sns/oauth2/access_token",
      params: { appid: OA.appId, secret: OA.secret, code, grant_type: "authorization_code" }
    })
  const login = (user = "alice") =>
    Effect.gen(function*() {
      const answer = yield* exchange(yield* code(user))
      return JSON.parse(answer.text) as { access_token: string; refresh_token: string; openid: string }
    })
  const userinfo = (token: { access_token: string; openid: string }) =>
    call({ path: "/sns/userinfo", params: { access_token: token.access_token, openid: token.openid } })
  const refresh = (token: { refresh_token: string }) =>
    call({
      path: "/sns/oauth2/refresh_token",
      params: { appid: OA.appId, grant_type: "refresh_token", refresh_token: token.refresh_token }
    })
  const auth = (token: { access_token: string; openid: string }) =>
    call({ path: "/sns/auth", params: { access_token: token.access_token, openid: token.openid } })

  describe(`hostile faults ${transport.name}`, () => {
    live("nested: the whole body is [ x5000 ] x5000 by default; the code is not used up", () =>
      Effect.gen(function*() {
        const fresh = yield* code()
        yield* inject({ kind: "nested", endpoint: "access_token" })
        const answer = yield* exchange(fresh)
        assert.strictEqual(answer.status, 200)
        assert.strictEqual(answer.headers["content-type"], "text/plain")
        assert.strictEqual(answer.text, deep(5000))
        yield* inject({ kind: "nested", endpoint: "auth", depth: 100_000 })
        assert.strictEqual((yield* auth({ access_token: "x", openid: "y" })).text, deep(100_000))
        assert.isString(JSON.parse((yield* exchange(fresh)).text).access_token)
      }))

    live(
      "nested with a field: the normal answer with that field nested (scope, privilege, openid, errmsg)",
      () =>
        Effect.gen(function*() {
          const sandbox = yield* Sandbox.Sandbox
          const fresh = yield* code()
          yield* inject({ kind: "nested", endpoint: "access_token", field: "scope" })
          const token = JSON.parse((yield* exchange(fresh)).text)
          assert.strictEqual(depthOf(token.scope), 5000)
          assert.strictEqual(token.openid, sandbox.openidOf(OA.appId, "alice"), "the code's user")
          assert.strictEqual(token.expires_in, 7200)
          const real = yield* login("bob")
          yield* inject({ kind: "nested", endpoint: "userinfo", field: "privilege", depth: 7 })
          const profile = JSON.parse((yield* userinfo(real)).text)
          assert.strictEqual(depthOf(profile.privilege), 7)
          assert.strictEqual(profile.nickname, "李四")
          assert.strictEqual(profile.openid, real.openid)
          yield* inject({ kind: "nested", endpoint: "userinfo", field: "openid" })
          assert.strictEqual(depthOf(JSON.parse((yield* userinfo(real)).text).openid), 5000)
          yield* inject({ kind: "nested", endpoint: "auth", field: "errmsg", depth: 3 })
          assert.strictEqual((yield* auth(real)).text, "{\"errcode\":0,\"errmsg\":[[[]]]}")
          // the real answers afterwards
          assert.deepStrictEqual(JSON.parse((yield* userinfo(real)).text).privilege, ["chinaunicom"])
        })
    )

    live(
      "huge: exactly `bytes` bytes of {\"openid\":\"aaa…\"}, with or without a Content-Length",
      () =>
        Effect.gen(function*() {
          const bytes = 3 * 1024 * 1024 + 7
          yield* inject({ kind: "huge", endpoint: "userinfo", bytes })
          const announced = yield* userinfo({ access_token: "x", openid: "y" })
          assert.strictEqual(announced.status, 200)
          assert.strictEqual(announced.headers["content-length"], String(bytes))
          assert.strictEqual(announced.headers["content-type"], "application/json; encoding=utf-8")
          assert.strictEqual(announced.text.length, bytes)
          assert.strictEqual(JSON.parse(announced.text).openid, "a".repeat(bytes - 13))
          yield* inject({ kind: "huge", endpoint: "userinfo", bytes: 16, contentLength: false })
          const chunked = yield* userinfo({ access_token: "x", openid: "y" })
          assert.isUndefined(chunked.headers["content-length"])
          if (transport === socket) assert.strictEqual(chunked.headers["transfer-encoding"], "chunked")
          assert.strictEqual(chunked.text, "{\"openid\":\"aaa\"}")
        })
    )

    live(
      "nonFinite: the normal answer with its number written as given (1e400 by default)",
      () =>
        Effect.gen(function*() {
          const sandbox = yield* Sandbox.Sandbox
          const fresh = yield* code()
          yield* inject({ kind: "nonFinite", endpoint: "access_token" })
          const infinite = yield* exchange(fresh)
          assert.include(infinite.text, "\"expires_in\":1e400,")
          assert.strictEqual(JSON.parse(infinite.text).expires_in, Infinity)
          assert.strictEqual(JSON.parse(infinite.text).openid, sandbox.openidOf(OA.appId, "alice"))
          for (const value of ["1e300", "-7200", "0", "7200.5"]) {
            yield* inject({ kind: "nonFinite", endpoint: "access_token", value })
            assert.include((yield* exchange(fresh)).text, `"expires_in":${value},`)
          }
          const token = JSON.parse((yield* exchange(fresh)).text)
          assert.strictEqual(token.expires_in, 7200, "the code was not used up")
          yield* inject({ kind: "nonFinite", endpoint: "refresh_token", value: "-7200" })
          const refreshed = JSON.parse((yield* refresh(token)).text)
          assert.strictEqual(refreshed.expires_in, -7200)
          assert.strictEqual(refreshed.refresh_token, token.refresh_token)
          assert.strictEqual(refreshed.openid, token.openid)
          yield* inject({ kind: "nonFinite", endpoint: "userinfo", value: "1e400" })
          const profile = yield* userinfo(token)
          assert.include(profile.text, "\"sex\":1e400,")
          assert.strictEqual(JSON.parse(profile.text).openid, token.openid, "the openid asked for")
          yield* inject({ kind: "nonFinite", endpoint: "auth", value: "0.0" })
          assert.strictEqual((yield* auth(token)).text, "{\"errcode\":0.0,\"errmsg\":\"ok\"}")
          yield* inject({ kind: "nonFinite", endpoint: "userinfo", field: "errcode", value: "-1e400" })
          assert.include((yield* userinfo(token)).text, "\"errcode\":-1e400}")
        })
    )

    live(
      "echo: an errcode whose errmsg carries the request URL, raw and decoded, and a POST's body",
      () =>
        Effect.gen(function*() {
          const fresh = yield* code()
          yield* inject({ kind: "echo", endpoint: "access_token" })
          const answer = JSON.parse((yield* exchange(fresh)).text)
          assert.strictEqual(answer.errcode, 40029)
          const query = new URLSearchParams({
            appid: OA.appId,
            secret: OA.secret,
            code: fresh,
            grant_type: "authorization_code"
          })
          assert.include(answer.errmsg, `invalid code, hints: [ req: GET /sns/oauth2/access_token?${query} ]`)
          assert.include(answer.errmsg, `secret=${OA.secret}`)
          assert.include(answer.errmsg, `code=${fresh}`)
          assert.isString(JSON.parse((yield* exchange(fresh)).text).access_token, "the code was not used up")
          yield* inject({ kind: "echo", errcode: 40163 })
          const posted = yield* call({
            path: "/sns/userinfo",
            method: "POST",
            params: { access_token: "tok/en+1", openid: "中" },
            body: "{\"session_key\":\"a%2Bb\"}"
          })
          const echoed = JSON.parse(posted.text)
          assert.strictEqual(echoed.errcode, 40163)
          assert.match(echoed.errmsg, /^code been used, hints: /)
          assert.include(echoed.errmsg, "[ req: POST /sns/userinfo?access_token=tok%2Fen%2B1&openid=%E4%B8%AD ]")
          assert.include(echoed.errmsg, "[ decoded: POST /sns/userinfo?access_token=tok/en+1&openid=中 ]")
          assert.include(
            echoed.errmsg,
            "[ body: {\"session_key\":\"a%2Bb\"} ] [ body decoded: {\"session_key\":\"a+b\"} ]"
          )
          yield* inject({ kind: "echo", endpoint: "auth", errcode: 40001, errmsg: "proxy says no" })
          assert.match(
            JSON.parse((yield* auth({ access_token: "x", openid: "y" })).text).errmsg,
            /^proxy says no, hints: \[ req: GET \/sns\/auth\?/
          )
        })
    )

    live("wrongOpenid: a valid answer for another openid than the request's user", () =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const alice = sandbox.openidOf(OA.appId, "alice")
        const fresh = yield* code()
        yield* inject({ kind: "wrongOpenid", endpoint: "access_token" })
        const wrong = JSON.parse((yield* exchange(fresh)).text)
        assert.match(wrong.openid, /^o[A-Za-z0-9_-]{27}$/)
        assert.notStrictEqual(wrong.openid, alice)
        assert.isString(wrong.access_token)
        assert.strictEqual(wrong.expires_in, 7200)
        const token = JSON.parse((yield* exchange(fresh)).text)
        assert.strictEqual(token.openid, alice, "the code was not used up")
        yield* inject({ kind: "wrongOpenid", endpoint: "userinfo" })
        const profile = JSON.parse((yield* userinfo(token)).text)
        assert.notStrictEqual(profile.openid, alice)
        assert.match(profile.openid, /^o[A-Za-z0-9_-]{27}$/)
        assert.strictEqual(profile.nickname, "张三")
        assert.notStrictEqual(profile.unionid, Sandbox.defaultUsers[0].unionid)
        yield* inject({ kind: "wrongOpenid", endpoint: "refresh_token" })
        const refreshed = JSON.parse((yield* refresh(token)).text)
        assert.notStrictEqual(refreshed.openid, alice)
        assert.strictEqual(refreshed.refresh_token, token.refresh_token)
        const login = yield* Effect.flatMap(Sandbox.Sandbox, (s) =>
          s.miniProgramLogin({ appId: MINI.appId, user: "bob" }))
        yield* inject({ kind: "wrongOpenid", endpoint: "jscode2session" })
        const session = JSON.parse(
          (yield* call({
            path: "/sns/jscode2session",
            params: { appid: MINI.appId, secret: MINI.secret, js_code: login, grant_type: "authorization_code" }
          })).text
        )
        assert.isString(session.session_key)
        assert.notStrictEqual(session.openid, sandbox.openidOf(MINI.appId, "bob"))
      }))

    live(
      "raw: the given body verbatim, for /sns/auth's garbage ([], {}, a user-shaped object)",
      () =>
        Effect.gen(function*() {
          for (const body of ["[]", "{}", "{\"openid\":\"x\"}", ""]) {
            yield* inject({ kind: "raw", endpoint: "auth", body })
            const answer = yield* auth({ access_token: "x", openid: "y" })
            assert.strictEqual(answer.status, 200)
            assert.strictEqual(answer.headers["content-type"], "text/plain")
            assert.strictEqual(answer.text, body)
          }
          yield* inject({
            kind: "raw",
            endpoint: "auth",
            body: "{\"errcode\":0}",
            status: 503,
            contentType: "application/json"
          })
          const answer = yield* auth({ access_token: "x", openid: "y" })
          assert.strictEqual(answer.status, 503)
          assert.strictEqual(answer.headers["content-type"], "application/json")
          assert.strictEqual(answer.text, "{\"errcode\":0}")
          assert.strictEqual(JSON.parse((yield* auth({ access_token: "x", openid: "y" })).text).errcode, 40001)
        })
    )

    live(
      "drip: status and headers at once, then the body a byte at a time, ending at delayMs",
      () =>
        Effect.gen(function*() {
          yield* inject({ kind: "drip", endpoint: "auth", intervalMs: 40, delayMs: 400 })
          const started = Date.now()
          const answer = yield* auth({ access_token: "x", openid: "y" })
          assert.isAtLeast(Date.now() - started, 390)
          assert.strictEqual(answer.status, 200)
          assert.match(answer.text, /^\{"errcode":-1,"errmsg":"system error rid: [0-9a-f-]+"\}$/)
          assert.strictEqual(answer.headers["content-length"], String(answer.text.length))
          // fewer writes than the text's length: padded with JSON's whitespace in front
          yield* inject({ kind: "drip", endpoint: "auth", intervalMs: 5, delayMs: 500 })
          const padded = yield* auth({ access_token: "x", openid: "y" })
          assert.strictEqual(padded.text.length, 101)
          assert.match(padded.text, /^ +\{"errcode":-1,/)
        })
    )
  })
}

describe("hostile faults: options", () => {
  const bad: ReadonlyArray<[string, Record<string, unknown>, RegExp]> = [
    ["depth 0", { kind: "nested", depth: 0 }, /^depth: must be an integer from 1 to 100000$/],
    ["depth 100 001", { kind: "nested", depth: 100_001 }, /^depth: must be an integer from 1 to 100000$/],
    ["depth 1.5", { kind: "nested", depth: 1.5 }, /^depth: must be an integer/],
    ["a field that is not a name", { kind: "nested", field: "a.b" }, /^field: must be a field name/],
    ["bytes 15", { kind: "huge", bytes: 15 }, /^bytes: must be an integer from 16 to 1073741824$/],
    ["bytes over 1 GiB", { kind: "huge", bytes: 2 ** 30 + 1 }, /^bytes: must be an integer from 16/],
    ["contentLength as a string", { kind: "huge", contentLength: "no" }, /^contentLength: Expected boolean$/],
    ["intervalMs 0", { kind: "drip", intervalMs: 0 }, /^intervalMs: must be an integer from 1 to 60000$/],
    ["a drip over an hour", { kind: "drip", delayMs: 3_600_001 }, /^delayMs: must be at most 3600000 for a drip$/],
    ["a drip of too many writes", { kind: "drip", intervalMs: 1, delayMs: 100_001 }, /at most 100000 times/],
    ["value NaN", { kind: "nonFinite", value: "NaN" }, /^value: must be the text of a JSON number/],
    ["value Infinity", { kind: "nonFinite", value: "Infinity" }, /^value: must be the text of a JSON number/],
    ["value 1e", { kind: "nonFinite", value: "1e" }, /^value: must be the text of a JSON number/],
    ["value with a brace", { kind: "nonFinite", value: "1}" }, /^value: must be the text of a JSON number/],
    ["a value too long", { kind: "nonFinite", value: "1".repeat(1001) }, /^value: must be at most 1000 characters/],
    ["a number as value", { kind: "nonFinite", value: 1 }, /^value: Expected string$/],
    ["raw without a body", { kind: "raw" }, /needs a body/],
    ["status 199", { kind: "raw", body: "", status: 199 }, /^status: must be an integer from 200 to 599$/],
    ["status 600", { kind: "raw", body: "", status: 600 }, /^status: must be an integer from 200 to 599$/],
    ["a content type with a newline", { kind: "raw", body: "", contentType: "text/plain\r\nx: y" }, /^contentType:/],
    ["an errmsg over 10 000 characters", { kind: "echo", errmsg: "x".repeat(10_001) }, /^errmsg: must be at most/]
  ]
  for (const [name, fault, message] of bad) {
    it.effect(`injectFault refuses ${name}; the control API answers 400`, () =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const error = yield* Effect.flip(sandbox.injectFault(fault as unknown as Sandbox.Fault))
        assert.instanceOf(error, Sandbox.SandboxError)
        assert.match(error.message, message)
        const answer = yield* sandbox.handle({ method: "POST", url: "/__sandbox/faults", body: JSON.stringify(fault) })
        assert.strictEqual(answer.status, 400)
        assert.match(JSON.parse(answer.body).error, message)
        assert.strictEqual(
          (yield* sandbox.handle({ method: "GET", url: "/__sandbox/faults" })).body.includes(
            String(fault.kind)
          ),
          false,
          "nothing was queued"
        )
      }).pipe(Effect.provide(Sandbox.layer())))
  }

  it.effect("the pending list shows each kind's options, defaults filled in", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const faults: ReadonlyArray<Sandbox.Fault> = [
        { kind: "nested" },
        { kind: "nested", field: "scope", depth: 10, endpoint: "access_token", times: 2 },
        { kind: "huge" },
        { kind: "drip", delayMs: 5000 },
        { kind: "nonFinite", value: "-7200" },
        { kind: "echo" },
        { kind: "wrongOpenid", endpoint: "userinfo" },
        { kind: "raw", body: "[]" }
      ]
      for (const fault of faults) {
        const answer = yield* sandbox.handle({ method: "POST", url: "/__sandbox/faults", body: JSON.stringify(fault) })
        assert.strictEqual(answer.status, 200, answer.body)
      }
      const listed = JSON.parse((yield* sandbox.handle({ method: "GET", url: "/__sandbox/faults" })).body).faults
      assert.deepStrictEqual(listed, [
        { kind: "nested", endpoint: "*", times: 1, depth: 5000 },
        { kind: "nested", endpoint: "access_token", times: 2, depth: 10, field: "scope" },
        { kind: "huge", endpoint: "*", times: 1, bytes: 100 * 1024 * 1024, contentLength: true },
        { kind: "drip", endpoint: "*", times: 1, intervalMs: 500, delayMs: 5000 },
        { kind: "nonFinite", endpoint: "*", times: 1, value: "-7200" },
        { kind: "echo", endpoint: "*", times: 1, errcode: 40029 },
        { kind: "wrongOpenid", endpoint: "userinfo", times: 1 },
        { kind: "raw", endpoint: "*", times: 1, status: 200, contentType: "text/plain", body: "[]" }
      ])
      assert.deepStrictEqual(Sandbox.faultKinds.slice(-7), [
        "nested",
        "huge",
        "drip",
        "nonFinite",
        "echo",
        "wrongOpenid",
        "raw"
      ])
    }).pipe(Effect.provide(Sandbox.layer())))
})

describe("huge and drip stream, and stop", () => {
  it.effect("in-process, huge is made as it is read: the first bytes of 1 GiB, at once", () =>
    Effect.gen(function*() {
      yield* inject({ kind: "huge", bytes: 2 ** 30 })
      const client = yield* HttpClient.HttpClient
      const response = yield* client.get("https://api.weixin.qq.com/sns/auth")
      assert.strictEqual(response.headers["content-length"], String(2 ** 30))
      const rss = process.memoryUsage().rss
      const first = yield* response.stream.pipe(Stream.take(3), Stream.runCollect)
      const text = Buffer.concat(Chunk.toReadonlyArray(first)).toString()
      assert.match(text, /^\{"openid":"a{131072}/)
      assert.isBelow(process.memoryUsage().rss - rss, 128 * 1024 * 1024, "the body is not built whole")
    }).pipe(Effect.provide(sandboxLayer())))

  it.effect("in-process, drip follows Clock: a byte per interval, an idle timeout between bytes never fires", () =>
    Effect.gen(function*() {
      yield* inject({ kind: "drip", endpoint: "auth", intervalMs: 500, delayMs: 60_000 })
      const client = yield* HttpClient.HttpClient
      const response = yield* client.get("https://api.weixin.qq.com/sns/auth")
      assert.strictEqual(response.status, 200, "status and headers before any byte")
      const received = yield* Ref.make(0)
      const reader = yield* response.stream.pipe(
        // a client that only guards the gap between two pieces
        Stream.timeoutFail(() => "idle", "1 second"),
        Stream.runForEach((piece) => Ref.update(received, (n) => n + piece.length)),
        Effect.fork
      )
      yield* TestClock.adjust(0)
      assert.strictEqual(yield* Ref.get(received), 1, "the first byte at once")
      for (let second = 1; second <= 59; second++) yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Ref.get(received), 119, "one byte every 500 ms")
      assert.isTrue(Option.isNone(yield* Fiber.poll(reader)), "still reading after 59 s")
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(reader)
      assert.strictEqual(yield* Ref.get(received), 121)
    }).pipe(Effect.provide(sandboxLayer())))

  /** Counts the pending timers of one delay, as `setTimeout` (which Effect's Clock uses) sets and clears them. */
  const timersOf = (delay: number) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const pending = new Set<unknown>()
        const { clearTimeout, setTimeout } = globalThis
        globalThis.setTimeout = ((run: (...args: Array<unknown>) => void, ms?: number, ...args: Array<unknown>) => {
          const handle = setTimeout(
            (...args: Array<unknown>) => {
              pending.delete(handle)
              run(...args)
            },
            ms,
            ...args
          )
          if (ms === delay) pending.add(handle)
          return handle
        }) as typeof globalThis.setTimeout
        globalThis.clearTimeout = ((handle: NodeJS.Timeout) => {
          pending.delete(handle)
          clearTimeout(handle)
        }) as typeof globalThis.clearTimeout
        return { count: () => pending.size, restore: () => Object.assign(globalThis, { clearTimeout, setTimeout }) }
      }),
      (timers) => Effect.sync(timers.restore)
    )

  for (const read of ["stream", "text"] as const) {
    it.live(`in-process, drip stops when a reader of response.${read} is interrupted: no timer is left behind`, () =>
      Effect.gen(function*() {
        const timers = yield* timersOf(177)
        yield* inject({ kind: "drip", endpoint: "auth", intervalMs: 177, delayMs: 60_000 })
        const client = yield* HttpClient.HttpClient
        const response = yield* client.get("https://api.weixin.qq.com/sns/auth")
        const reader = yield* Effect.fork(read === "stream" ? Stream.runDrain(response.stream) : response.text)
        yield* Effect.sleep("400 millis")
        assert.strictEqual(timers.count(), 1, "between two bytes, the drip waits on a timer")
        yield* Fiber.interrupt(reader)
        yield* Effect.sleep("300 millis")
        assert.strictEqual(timers.count(), 0, "the drip stopped with its reader")
      }).pipe(Effect.scoped, Effect.provide(sandboxLayer())))
  }

  it.live("over a socket, drip stops when the client disconnects: no timer is left behind", () =>
    Effect.gen(function*() {
      const { port } = yield* SandboxServer.SandboxServer
      const timers = yield* timersOf(177)
      yield* inject({ kind: "drip", endpoint: "auth", intervalMs: 177, delayMs: 60_000 })
      const client = Net.connect(port, "127.0.0.1")
      const received = yield* Effect.async<string>((resume) => {
        let text = ""
        client.on("data", (data) => {
          text += data.toString("latin1")
          // headers, then three bytes of body
          const body = text.indexOf("\r\n\r\n")
          if (body !== -1 && text.length - body - 4 >= 3) resume(Effect.succeed(text))
        })
        client.write("GET /sns/auth HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
      })
      assert.match(received, /^HTTP\/1\.1 200 OK\r\n/)
      assert.strictEqual(timers.count(), 1, "between two bytes, the drip waits on a timer")
      client.destroy()
      yield* Effect.sleep("300 millis")
      assert.strictEqual(timers.count(), 0, "the drip stopped with the connection")
    }).pipe(Effect.scoped, Effect.provide(Sandbox.layerServer({ port: 0 }).pipe(Layer.provideMerge(Sandbox.layer())))))
})
