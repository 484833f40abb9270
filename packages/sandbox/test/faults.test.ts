import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as Crypto from "node:crypto"
import {
  assertErrcode,
  auth,
  classicToken,
  consent,
  exchange,
  forceStableToken,
  login,
  MINI,
  OA,
  refresh,
  request,
  sandboxLayer,
  stableToken,
  userinfo,
  WEB
} from "./helpers.js"

const run = <A, E>(effect: Effect.Effect<A, E, Sandbox.Sandbox | HttpClient.HttpClient>) =>
  Effect.provide(effect, sandboxLayer())

const inject = (fault: Sandbox.Fault) => Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.injectFault(fault))

const parses = (text: string) => {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

describe("fault kinds (in-process client)", () => {
  it.effect("busy: errcode -1 once, and the call has no effect (the code is not used up)", () =>
    run(Effect.gen(function*() {
      const code = yield* consent()
      yield* inject({ kind: "busy", endpoint: "access_token" })
      assertErrcode(yield* exchange(code), -1, "system error")
      assert.isString((yield* exchange(code)).json.access_token)
    })))

  it.effect("rateLimited: errcode 45011", () =>
    run(Effect.gen(function*() {
      yield* inject({ kind: "rateLimited" })
      assertErrcode(yield* exchange("any"), 45011, "api minute-quota reach limit")
    })))

  it.effect("errcode: the given errcode and errmsg, exactly", () =>
    run(Effect.gen(function*() {
      const token = yield* login()
      yield* inject({ kind: "errcode", endpoint: "userinfo", errcode: 40014, errmsg: "invalid access_token" })
      const answer = yield* userinfo(token.access_token, token.openid)
      assert.deepStrictEqual(answer.json, { errcode: 40014, errmsg: "invalid access_token" })
      assert.strictEqual((yield* userinfo(token.access_token, token.openid)).json.nickname, "张三")
    })))

  for (const [kind, status] of [["http500", 500], ["http502", 502]] as const) {
    it.effect(`${kind}: status ${status} with an HTML body`, () =>
      run(Effect.gen(function*() {
        yield* inject({ kind })
        const answer = yield* auth("x", "y")
        assert.strictEqual(answer.status, status)
        assert.include(answer.headers["content-type"], "text/html")
        assert.include(answer.text, `<h1>${status}`)
      })))
  }

  it.effect("truncated: status 200 and a body that is not JSON", () =>
    run(Effect.gen(function*() {
      const code = yield* consent()
      yield* inject({ kind: "truncated", endpoint: "access_token" })
      const answer = yield* exchange(code)
      assert.strictEqual(answer.status, 200)
      assert.match(answer.text, /^\{"access_token":"/)
      assert.isFalse(parses(answer.text))
    })))

  it.effect("wrongShape: valid JSON with neither the success nor the error shape", () =>
    run(Effect.gen(function*() {
      const token = yield* login()
      yield* inject({ kind: "wrongShape", times: 2 })
      const exchanged = yield* exchange("x")
      assert.strictEqual(exchanged.status, 200)
      assert.notStrictEqual(typeof exchanged.json.access_token, "string")
      assert.notStrictEqual(typeof exchanged.json.errcode, "number")
      const info = yield* userinfo(token.access_token, token.openid)
      assert.notStrictEqual(typeof info.json.nickname, "string")
      assert.notStrictEqual(typeof info.json.errcode, "number")
    })))

  it.effect("slow: the right answer, only after delayMs of Clock time", () =>
    run(Effect.gen(function*() {
      const code = yield* consent()
      yield* inject({ kind: "slow", delayMs: 1000 })
      const fiber = yield* Effect.fork(exchange(code))
      yield* TestClock.adjust("999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 millis")
      const answer = yield* Fiber.join(fiber)
      assert.isString(answer.json.access_token)
    })))

  it.effect("slow: a client timeout interrupts the wait; the call still took effect", () =>
    run(Effect.gen(function*() {
      const code = yield* consent()
      yield* inject({ kind: "slow", endpoint: "access_token" })
      const fiber = yield* Effect.fork(Effect.timeout(exchange(code), "2 seconds"))
      yield* TestClock.adjust("2 seconds")
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(error._tag, "TimeoutException")
      // default delay is 10 s, but the code was already used when the request arrived
      assertErrcode(yield* exchange(code), 40163)
    })))

  it.effect("reset: the in-process client fails with RequestError, reason Transport", () =>
    run(Effect.gen(function*() {
      yield* inject({ kind: "reset", endpoint: "auth" })
      const error = yield* Effect.flip(auth("x", "y"))
      assert.instanceOf(error, HttpClientError.RequestError)
      assert.strictEqual((error as HttpClientError.RequestError).reason, "Transport")
      assertErrcode(yield* auth("x", "y"), 40001)
    })))
})

describe("reset after the call took effect (afterEffect)", () => {
  it.effect("the code is used up and its answer lost: the same code again gets 40163", () =>
    run(Effect.gen(function*() {
      const code = yield* consent()
      yield* inject({ kind: "reset", endpoint: "access_token", afterEffect: true })
      const error = yield* Effect.flip(exchange(code))
      assert.instanceOf(error, HttpClientError.RequestError)
      assert.strictEqual((error as HttpClientError.RequestError).reason, "Transport")
      assertErrcode(yield* exchange(code), 40163, "code been used")
    })))

  it.effect("without it (the default) the call has no effect: the code still works", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const code = yield* consent()
      yield* inject({ kind: "reset", endpoint: "access_token", afterEffect: false })
      yield* inject({ kind: "reset", endpoint: "access_token" })
      const listed = yield* sandbox.handle({ method: "GET", url: "/__sandbox/faults" })
      assert.deepStrictEqual(JSON.parse(listed.body).faults, [
        { kind: "reset", endpoint: "access_token", times: 1, afterEffect: false },
        { kind: "reset", endpoint: "access_token", times: 1, afterEffect: false }
      ])
      yield* Effect.flip(exchange(code))
      yield* Effect.flip(exchange(code))
      assert.isString((yield* exchange(code)).json.access_token)
    })))

  it.effect("a refresh whose answer is lost still renewed the access token's life", () =>
    run(Effect.gen(function*() {
      const token = yield* login()
      yield* TestClock.adjust("110 minutes")
      yield* inject({ kind: "reset", endpoint: "refresh_token", afterEffect: true })
      yield* Effect.flip(refresh(token.refresh_token))
      // past the token's first 7200 s: it works only because the lost refresh renewed it
      yield* TestClock.adjust("30 minutes")
      assertErrcode(yield* auth(token.access_token, token.openid), 0)
    })))
})

describe("fault matching", () => {
  it.effect("an endpoint's fault leaves other endpoints alone", () =>
    run(Effect.gen(function*() {
      const token = yield* login()
      yield* inject({ kind: "busy", endpoint: "userinfo" })
      assertErrcode(yield* auth(token.access_token, token.openid), 0)
      assertErrcode(yield* userinfo(token.access_token, token.openid), -1)
    })))

  it.effect("times: the next N matching calls, then normal again", () =>
    run(Effect.gen(function*() {
      yield* inject({ kind: "busy", endpoint: "auth", times: 3 })
      for (let i = 0; i < 3; i++) assertErrcode(yield* auth("x", "y"), -1)
      assertErrcode(yield* auth("x", "y"), 40001)
    })))

  it.effect("first in, first out among the faults matching a call", () =>
    run(Effect.gen(function*() {
      yield* inject({ kind: "busy", endpoint: "userinfo" })
      yield* inject({ kind: "rateLimited" })
      yield* inject({ kind: "http502", endpoint: "auth" })
      assertErrcode(yield* auth("x", "y"), 45011) // the "*" fault comes before the auth one
      assert.strictEqual((yield* auth("x", "y")).status, 502)
      assertErrcode(yield* userinfo("x", "y"), -1)
      assertErrcode(yield* userinfo("x", "y"), 40001)
    })))

  it.effect("a fault for any endpoint (\"*\") leaves the consent pages alone; naming them targets them", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const page = (path: string, params: Record<string, string>) =>
        request("GET", `https://open.weixin.qq.com${path}`, {
          params: { redirect_uri: "https://app.example.com/cb", response_type: "code", state: "s", ...params }
        })
      const authorize = () => page("/connect/oauth2/authorize", { appid: OA.appId, scope: "snsapi_userinfo" })
      const qrconnect = () => page("/connect/qrconnect", { appid: WEB.appId, scope: "snsapi_login" })
      yield* inject({ kind: "busy" })
      yield* inject({ kind: "http502", endpoint: "*" })
      // a browser opening the consent page does not eat the faults meant for the API
      for (const consentPage of [yield* authorize(), yield* qrconnect()]) {
        assert.strictEqual(consentPage.status, 200)
        assert.include(consentPage.text, `<form id="consent"`)
      }
      assertErrcode(yield* auth("x", "y"), -1)
      assert.strictEqual((yield* auth("x", "y")).status, 502)
      assert.deepStrictEqual(yield* sandbox.stats, {
        authorize: 1,
        qrconnect: 1,
        access_token: 0,
        refresh_token: 0,
        userinfo: 0,
        auth: 2,
        jscode2session: 0,
        stable_token: 0,
        token: 0,
        getuserphonenumber: 0,
        checksession: 0,
        resetusersessionkey: 0,
        api_component_token: 0,
        api_query_auth: 0,
        api_authorizer_token: 0,
        component_access_token: 0,
        component_refresh_token: 0,
        component_jscode2session: 0
      })
      yield* inject({ kind: "http500", endpoint: "authorize" })
      yield* inject({ kind: "http502", endpoint: "qrconnect" })
      assert.strictEqual((yield* authorize()).status, 500)
      assert.strictEqual((yield* qrconnect()).status, 502)
      assert.include((yield* authorize()).text, `<form id="consent"`)
    })))

  it.effect("clearFaults drops every pending fault", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* inject({ kind: "busy", times: 5 })
      yield* sandbox.clearFaults
      assertErrcode(yield* auth("x", "y"), 40001)
    })))

  const bad: ReadonlyArray<[string, unknown, RegExp]> = [
    ["an unknown kind", { kind: "explode" }, /kind: must be one of/],
    ["an unknown endpoint", { kind: "busy", endpoint: "cgi-bin/token" }, /endpoint: must be one of/],
    ["times 0", { kind: "busy", times: 0 }, /times: must be a positive integer/],
    ["times 1.5", { kind: "busy", times: 1.5 }, /times/],
    ["a negative delay", { kind: "slow", delayMs: -1 }, /delayMs: must not be negative/],
    ["errcode without errcode", { kind: "errcode" }, /needs an errcode/],
    ["an unknown key", { kind: "busy", time: 2 }, /time: is unexpected/]
  ]
  for (const [name, fault, message] of bad) {
    it.effect(`injectFault refuses ${name} with SandboxError`, () =>
      run(Effect.gen(function*() {
        const error = yield* Effect.flip(inject(fault as Sandbox.Fault))
        assert.instanceOf(error, Sandbox.SandboxError)
        assert.match(error.message, message)
        // nothing was queued
        assertErrcode(yield* auth("x", "y"), 40001)
      })))
  }
})

describe("faults on the app token and the mini program's server API", () => {
  const appToken = Effect.map(stableToken(), (answer) => answer.json.access_token as string)
  const phoneCode = Effect.flatMap(
    Sandbox.Sandbox,
    (sandbox) => sandbox.phoneNumberCode({ appId: MINI.appId, user: "alice" })
  )
  const getPhoneNumber = (token: string, code: string) =>
    request("POST", "/wxa/business/getuserphonenumber", { params: { access_token: token }, json: { code } })

  it.effect("busy on stable_token: -1, counted, and no token issued (a force is not used up)", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* inject({ kind: "busy", endpoint: "stable_token", times: 2 })
      assertErrcode(yield* stableToken(), -1, "system error")
      assertErrcode(yield* forceStableToken(), -1)
      assert.strictEqual((yield* sandbox.appTokenUsage({ appId: MINI.appId })).forceRefreshes, 0)
      const stats = yield* sandbox.stats
      assert.strictEqual(stats.stable_token, 2)
      assert.strictEqual(stats.token, 0)
      assert.strictEqual((yield* stableToken()).json.expires_in, 7200)
    })))

  it.effect("nonFinite on stable_token and token rewrites expires_in; echo repeats the JSON body, secret and all", () =>
    run(Effect.gen(function*() {
      yield* inject({ kind: "nonFinite", endpoint: "stable_token" })
      const stable = yield* stableToken()
      assert.match(stable.text, /^\{"access_token":"[A-Za-z0-9_-]+","expires_in":1e400\}$/)
      yield* inject({ kind: "nonFinite", endpoint: "token", value: "-7200" })
      assert.include((yield* classicToken()).text, "\"expires_in\":-7200}")
      yield* inject({ kind: "echo", endpoint: "stable_token", errcode: 40013 })
      const echo = yield* stableToken()
      assert.strictEqual(echo.json.errcode, 40013)
      assert.include(echo.json.errmsg, `"secret":"${MINI.secret}"`)
    })))

  it.effect("a fault for \"*\" answers getuserphonenumber instead, and the phone code survives", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const token = yield* appToken
      const code = yield* phoneCode
      yield* inject({ kind: "rateLimited" })
      assertErrcode(yield* getPhoneNumber(token, code), 45011)
      yield* inject({ kind: "wrongShape", endpoint: "getuserphonenumber" })
      assert.deepStrictEqual((yield* getPhoneNumber(token, code)).json, { errcode: "0", phone_info: "13800000001" })
      yield* inject({ kind: "nested", endpoint: "getuserphonenumber", field: "phone_info", depth: 10 })
      assert.include((yield* getPhoneNumber(token, code)).text, "\"phone_info\":[[[[[[[[[[]]]]]]]]]]")
      assert.strictEqual((yield* getPhoneNumber(token, code)).json.phone_info.purePhoneNumber, "13800000001")
      assert.strictEqual((yield* sandbox.stats).getuserphonenumber, 4)
    })))

  it.effect("wrongOpenid on resetusersessionkey: another openid, and the key is not reset", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const token = yield* appToken
      const jsCode = yield* sandbox.miniProgramLogin({ appId: MINI.appId, user: "alice" })
      const session = (yield* request("GET", "/sns/jscode2session", {
        params: { appid: MINI.appId, secret: MINI.secret, js_code: jsCode, grant_type: "authorization_code" }
      })).json
      const signature = Crypto.createHmac("sha256", session.session_key).update("").digest("hex")
      const params = { access_token: token, openid: session.openid, signature, sig_method: "hmac_sha256" }
      yield* inject({ kind: "wrongOpenid", endpoint: "resetusersessionkey" })
      const wrong = yield* request("GET", "/wxa/resetusersessionkey", { params })
      assert.strictEqual(wrong.json.errcode, 0)
      assert.isString(wrong.json.session_key)
      assert.notStrictEqual(wrong.json.openid, session.openid)
      assert.deepStrictEqual((yield* request("GET", "/wxa/checksession", { params })).json, {
        errcode: 0,
        errmsg: "ok"
      })
    })))
})

describe("pending faults", () => {
  // each pending fault is kept (with up to a 1 MiB body) until used up, and every call looks through
  // them: without a bound, a loop that injects faults nothing uses (or a client of the control API)
  // grew the sandbox without end, and injecting the n-th fault copied the n-1 before it
  it.effect("at most 1,000 at once: the next is refused (in-process and over the control API), a used one frees room", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      for (let i = 0; i < 1000; i++) yield* inject({ kind: "busy", endpoint: "qrconnect", times: 1 + i })
      const refused = yield* Effect.flip(inject({ kind: "busy", endpoint: "access_token" }))
      assert.strictEqual(refused._tag, "SandboxError")
      assert.include(refused.message, "at most 1000 faults may be pending")
      const overHttp = yield* request("POST", "/__sandbox/faults", { json: { kind: "raw", body: "x".repeat(60_000) } })
      assert.strictEqual(overHttp.status, 400)
      assert.strictEqual((yield* request("GET", "/__sandbox/faults")).json.faults.length, 1000)
      // the first qrconnect fault (times 1) used up: room for one more
      assert.strictEqual((yield* request("GET", "/connect/qrconnect")).status, 200)
      yield* inject({ kind: "busy", endpoint: "access_token" })
      assertErrcode(yield* exchange("any"), -1, "system error")
      yield* sandbox.clearFaults
      yield* inject({ kind: "busy", endpoint: "access_token" })
    })))
})
