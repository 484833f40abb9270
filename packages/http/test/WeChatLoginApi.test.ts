/**
 * The JSON endpoints over HTTP, against the sandbox: the mini program's login (a `wx.login()` code
 * for a bearer token) and phone number, who is logged in, logout, their bounded bodies and JSON
 * failures (a body that stops arriving: 408 within the read deadline), the OpenAPI document, and logs
 * that never hold a code, token or phone number.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { assert, describe, layer } from "@effect/vitest"
import { WeChatError } from "@wxauth/core"
import { WeChatLogin } from "@wxauth/http"
import { Browser, login, sandboxControl } from "@wxauth/test-support"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Net from "node:net"
import { ReadTimeout } from "../src/internal/body.js"
import * as Problems from "../src/internal/problems.js"
import { MINI, OA, sandboxApps, testApp, TestServer, WEB } from "./helpers.js"

const logLines: Array<string> = []
const captureLogs = Logger.replace(
  Logger.defaultLogger,
  Logger.map(Logger.logfmtLogger, (line) => void logLines.push(line))
)

const phones: Array<string> = []

const setup = Effect.gen(function*() {
  const { sandboxUrl, url } = yield* TestServer
  const config = yield* sandboxControl(sandboxUrl, "GET", "config")
  const openids = config.openids[MINI.appId] as Record<string, string>
  const stats = sandboxControl(sandboxUrl, "GET", "stats") as Effect.Effect<Record<string, number>>
  const loginCode = (user: string) =>
    Effect.map(
      sandboxControl(sandboxUrl, "POST", "miniprogram/login", { appId: MINI.appId, user }),
      (answer) => answer.code as string
    )
  const phoneCode = (user: string) =>
    Effect.map(
      sandboxControl(sandboxUrl, "POST", "miniprogram/phonecode", { appId: MINI.appId, user }),
      (answer) => answer.code as string
    )
  const client = () => new Browser(url)
  /** A mini program's login: its bearer headers. */
  const miniLogin = (user: string) =>
    Effect.gen(function*() {
      const answer = yield* client().postJson("/api/wechat/mini-program/mini/login", { code: yield* loginCode(user) })
      assert.strictEqual(answer.status, 200, answer.text)
      const body = JSON.parse(answer.text)
      return { body, headers: { authorization: `Bearer ${body.token}` } }
    })
  return { url, sandboxUrl, openids, stats, loginCode, phoneCode, client, miniLogin }
})

const json = (text: string) => JSON.parse(text) as Record<string, any>

describe("WeChatLoginApi: the mini program", () => {
  layer(
    Layer.provide(
      testApp(() => ({
        hooks: { onPhoneNumber: (_user, phone) => Effect.sync(() => void phones.push(phone.phoneNumber)) }
      })),
      captureLogs
    ),
    { excludeTestServices: true }
  )((it) => {
    it.effect("login: wx.login()'s code for a session token; the token as a bearer says who is logged in", () =>
      Effect.gen(function*() {
        const { client, loginCode, openids } = yield* setup
        const code = yield* loginCode("alice")
        const answer = yield* client().postJson("/api/wechat/mini-program/mini/login", { code })
        assert.strictEqual(answer.status, 200, answer.text)
        assert.strictEqual(answer.headers.get("content-type"), "application/json")
        assert.strictEqual(answer.headers.get("cache-control"), "no-store")
        assert.strictEqual(answer.setCookies.length, 0, "no cookie: the token is for the Authorization header")
        const body = json(answer.text)
        assert.match(body.token, /^[A-Za-z0-9_-]{43}$/)
        assert.strictEqual(body.openid, openids.alice)
        assert.isNumber(body.expiresAt)
        assert.notInclude(answer.text.toLowerCase(), "session_key")
        assert.notInclude(answer.text, code)
        const me = yield* client().get("/api/wechat/session", { authorization: `Bearer ${body.token}` })
        assert.strictEqual(me.status, 200, me.text)
        const user = json(me.text)
        assert.strictEqual(user.openid, openids.alice)
        assert.strictEqual(user.app, "mini")
        assert.strictEqual(user.appId, MINI.appId)
        assert.strictEqual(user.kind, "miniProgram")
        assert.deepStrictEqual(user.scopes, [])
        // the code works once
        const again = yield* client().postJson("/api/wechat/mini-program/mini/login", { code })
        assert.strictEqual(again.status, 400)
        assert.strictEqual(json(again.text).error, "code-used")
      }))

    it.effect("no token, a bad token, an unknown token: 401 JSON", () =>
      Effect.gen(function*() {
        const { client } = yield* setup
        for (
          const headers of [
            {},
            { authorization: "Bearer nope" },
            { authorization: `Bearer ${"A".repeat(43)}` },
            { authorization: "Basic YTpi" }
          ]
        ) {
          const answer = yield* client().get("/api/wechat/session", headers)
          assert.strictEqual(answer.status, 401, JSON.stringify(headers))
          assert.strictEqual(json(answer.text)._tag, "Unauthenticated")
          // HTTP Basic credentials are not the login's: no session credential at all
          const missing = Object.keys(headers).length === 0 || headers.authorization?.startsWith("Basic ")
          assert.strictEqual(json(answer.text).reason, missing ? "Missing" : "Invalid")
        }
      }))

    it.effect("phone number: with the user's token, the getPhoneNumber button's code, once; the hook sees it", () =>
      Effect.gen(function*() {
        const { client, miniLogin, phoneCode, stats } = yield* setup
        const before = yield* stats
        const { headers } = yield* miniLogin("bob")
        const code = yield* phoneCode("bob")
        const answer = yield* client().postJson("/api/wechat/mini-program/mini/phone-number", { code }, headers)
        assert.strictEqual(answer.status, 200, answer.text)
        assert.deepStrictEqual(json(answer.text), {
          phoneNumber: "13800000002",
          purePhoneNumber: "13800000002",
          countryCode: "86"
        })
        assert.include(phones, "13800000002")
        const used = yield* client().postJson("/api/wechat/mini-program/mini/phone-number", { code }, headers)
        assert.strictEqual(used.status, 400)
        assert.strictEqual(json(used.text).error, "phone-code")
        assert.notInclude(used.text, code)
        const after = yield* stats
        assert.strictEqual(after.getuserphonenumber - before.getuserphonenumber, 2)
        // no token: the middleware's 401, and WeChat is not asked
        const anonymous = yield* client().postJson("/api/wechat/mini-program/mini/phone-number", {
          code: yield* phoneCode("bob")
        })
        assert.strictEqual(anonymous.status, 401)
        assert.strictEqual((yield* stats).getuserphonenumber, after.getuserphonenumber)
      }))

    /** bob, logged in, posts a phone number code while getuserphonenumber answers `errcode` (`times` times). */
    const phoneNumberAnswering = (errcode: number, errmsg: string, times?: number) =>
      Effect.gen(function*() {
        const { client, miniLogin, phoneCode, sandboxUrl } = yield* setup
        const { headers } = yield* miniLogin("bob")
        const code = yield* phoneCode("bob")
        yield* sandboxControl(sandboxUrl, "POST", "faults", {
          kind: "errcode",
          endpoint: "getuserphonenumber",
          errcode,
          errmsg,
          ...(times === undefined ? {} : { times })
        })
        const answer = yield* client().postJson("/api/wechat/mini-program/mini/phone-number", { code }, headers)
        yield* sandboxControl(sandboxUrl, "DELETE", "faults")
        return { answer, client, headers }
      })

    it.effect("phone number: a 40001 from getuserphonenumber (the app token rejected, a fresh one too) is the server's problem, not the configuration's", () =>
      Effect.gen(function*() {
        const { answer } = yield* phoneNumberAnswering(
          40001,
          "invalid credential, access_token is invalid or not latest",
          2
        )
        assert.strictEqual(answer.status, 500, answer.text)
        assert.strictEqual(json(answer.text).error, "server")
      }))

    it.effect("phone number: a 48001 from getuserphonenumber (the app lacks the API's permission) is the configuration's problem, not a login again; the session stays", () =>
      Effect.gen(function*() {
        const { answer, client, headers } = yield* phoneNumberAnswering(48001, "api unauthorized")
        assert.strictEqual(answer.status, 500, answer.text)
        assert.strictEqual(json(answer.text).error, "config")
        const me = yield* client().get("/api/wechat/session", headers)
        assert.strictEqual(me.status, 200, me.text)
      }))

    it.effect("a mini program's user has no WeChat profile: getUser's ScopeUnauthorized is permanent (server: WeChat rejected nothing), never a login again", () =>
      Effect.gen(function*() {
        const { miniLogin } = yield* setup
        const { headers } = yield* miniLogin("bob")
        const service = yield* WeChatLogin.WeChatLogin
        const request = HttpServerRequest.fromWeb(new Request("http://app.test/", { headers }))
        const user = yield* service.currentUser.pipe(
          Effect.provideService(HttpServerRequest.HttpServerRequest, request)
        )
        const error = yield* Effect.flip(service.getUser(user))
        if (error._tag !== "ScopeUnauthorized") return assert.fail(`ScopeUnauthorized, not ${error._tag}`)
        // a mini program's login gives no profile whatever the user does: following a 401 to log in
        // again would loop
        assert.strictEqual(WeChatError.kindOf(error), "permanent")
        assert.isFalse(WeChatError.requiresReauthorization(error))
        // decided locally, no WeChat call: not the config page ("WeChat rejected this site's app configuration")
        assert.strictEqual(Problems.fromError(error).reason, "server")
      }))

    it.effect("login: the same wx.login() code sent twice at once is one jscode2session request, both logged in", () =>
      Effect.gen(function*() {
        const { client, loginCode, openids, stats } = yield* setup
        const code = yield* loginCode("alice")
        const before = (yield* stats).jscode2session
        const answers = yield* Effect.all([
          client().postJson("/api/wechat/mini-program/mini/login", { code }),
          client().postJson("/api/wechat/mini-program/mini/login", { code })
        ], { concurrency: 2 })
        for (const answer of answers) {
          assert.strictEqual(answer.status, 200, answer.text)
          assert.strictEqual(json(answer.text).openid, openids.alice)
        }
        assert.strictEqual((yield* stats).jscode2session - before, 1)
      }))

    it.effect("a browser's session asks no phone number; an unknown app is 404", () =>
      Effect.gen(function*() {
        const { client, phoneCode, url } = yield* setup
        const browser = new Browser(url)
        yield* login(browser)
        const refused = yield* browser.postJson(
          "/api/wechat/mini-program/mini/phone-number",
          { code: yield* phoneCode("alice") },
          { origin: url }
        )
        assert.strictEqual(refused.status, 401)
        const unknown = yield* client().postJson("/api/wechat/mini-program/official/login", { code: "abc" })
        assert.strictEqual(unknown.status, 404)
        assert.strictEqual(json(unknown.text).error, "unavailable")
        const nothing = yield* client().get("/api/wechat/nothing")
        assert.strictEqual(nothing.status, 404)
        assert.strictEqual(json(nothing.text).error, "not-found")
      }))

    it.effect("bodies: JSON only (415), with a length (411), at most 16 KiB (413), of the expected shape (400); WeChat is not asked", () =>
      Effect.gen(function*() {
        const { client, stats, url } = yield* setup
        const before = (yield* stats).jscode2session
        const path = "/api/wechat/mini-program/mini/login"
        const asForm = yield* client().post(path, { code: "abc" })
        assert.strictEqual(asForm.status, 415)
        assert.strictEqual(json(asForm.text).error, "unsupported-type")
        const asText = yield* client().postJson(path, { code: "abc" }, { "content-type": "text/plain" })
        assert.strictEqual(asText.status, 415)
        const big = yield* client().postJson(path, { code: "abc", pad: "x".repeat(20_000) })
        assert.strictEqual(big.status, 413)
        assert.strictEqual(big.headers.get("connection"), "close")
        for (const body of ["{", "[]", "{}", JSON.stringify({ code: "" }), JSON.stringify({ code: "a b" })]) {
          const bad = yield* client().postJson(path, body)
          assert.strictEqual(bad.status, 400, body)
          assert.strictEqual(json(bad.text).error, "bad-request")
        }
        const chunked = yield* Effect.promise(async () => {
          const chunk = new TextEncoder().encode(" ".repeat(8 * 1024))
          let sent = 0
          const body = new ReadableStream<Uint8Array>({
            pull(controller) {
              if (sent++ < 128) controller.enqueue(chunk)
              else controller.close()
            }
          })
          const response = await fetch(`${url}${path}`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body,
            duplex: "half"
          } as RequestInit)
          return { status: response.status, text: await response.text() }
        })
        assert.strictEqual(chunked.status, 411)
        assert.strictEqual((yield* stats).jscode2session, before)
      }))

    it.effect("logout ends the token's session (204); logout everywhere ends every session of the user", () =>
      Effect.gen(function*() {
        const { client, miniLogin } = yield* setup
        const first = yield* miniLogin("carol")
        const second = yield* miniLogin("carol")
        const other = yield* miniLogin("alice")
        const out = yield* client().request("POST", "/api/wechat/logout", { headers: first.headers })
        assert.strictEqual(out.status, 204)
        assert.strictEqual((yield* client().get("/api/wechat/session", first.headers)).status, 401)
        assert.strictEqual((yield* client().get("/api/wechat/session", second.headers)).status, 200)
        const third = yield* miniLogin("carol")
        const everywhere = yield* client().request("POST", "/api/wechat/logout/everywhere", { headers: third.headers })
        assert.strictEqual(everywhere.status, 200)
        assert.deepStrictEqual(json(everywhere.text), { revoked: 2 })
        assert.strictEqual((yield* client().get("/api/wechat/session", second.headers)).status, 401)
        assert.strictEqual((yield* client().get("/api/wechat/session", third.headers)).status, 401)
        assert.strictEqual((yield* client().get("/api/wechat/session", other.headers)).status, 200)
      }))

    it.effect("a cookie session's JSON logout from another site is refused (403 JSON)", () =>
      Effect.gen(function*() {
        const { url } = yield* setup
        const browser = new Browser(url)
        yield* login(browser)
        const refused = yield* browser.request("POST", "/api/wechat/logout", {
          headers: { origin: "https://evil.example" }
        })
        assert.strictEqual(refused.status, 403)
        assert.strictEqual(json(refused.text)._tag, "CrossSiteRequest")
        assert.strictEqual((yield* browser.get("/api/wechat/session")).status, 200, "still logged in")
        const out = yield* browser.request("POST", "/api/wechat/logout", { headers: { origin: url } })
        assert.strictEqual(out.status, 204)
        assert.isUndefined(browser.cookies.get("wxauth_session"), "the cookie is cleared too")
      }))

    it.effect("the OpenAPI document describes the JSON endpoints, their security and their failures", () =>
      Effect.gen(function*() {
        const { client } = yield* setup
        const answer = yield* client().get("/api/wechat/openapi.json")
        assert.strictEqual(answer.status, 200)
        const spec = json(answer.text)
        assert.strictEqual(spec.openapi, "3.1.0")
        assert.deepStrictEqual(Object.keys(spec.paths).sort(), [
          "/api/wechat/logout",
          "/api/wechat/logout/everywhere",
          "/api/wechat/mini-program/{app}/login",
          "/api/wechat/mini-program/{app}/phone-number",
          "/api/wechat/session"
        ])
        const loginOp = spec.paths["/api/wechat/mini-program/{app}/login"].post
        assert.deepStrictEqual(
          Object.keys(loginOp.responses).sort(),
          ["200", "400", "401", "404", "408", "411", "413", "415", "500", "503"]
        )
        assert.isUndefined(loginOp.security?.length ? loginOp.security : undefined, "the login needs no session")
        const phoneOp = spec.paths["/api/wechat/mini-program/{app}/phone-number"].post
        assert.deepStrictEqual(phoneOp.security, [{ session: [] }, { bearer: [] }])
        assert.includeMembers(Object.keys(phoneOp.responses), ["200", "401", "403"])
        assert.deepStrictEqual(spec.components.securitySchemes.session, {
          type: "apiKey",
          name: "wxauth_session",
          in: "cookie",
          description: "The session cookie of a browser login (`__Host-wxauth_session` over https)"
        })
        assert.strictEqual(spec.components.securitySchemes.bearer.scheme, "bearer")
      }))

    it.effect("no log line holds a code, a session token or a phone number", () =>
      Effect.gen(function*() {
        const { client, loginCode, miniLogin, phoneCode } = yield* setup
        logLines.length = 0
        const code = yield* loginCode("alice")
        const ok = yield* client().postJson("/api/wechat/mini-program/mini/login", { code })
        const token = json(ok.text).token as string
        yield* client().postJson("/api/wechat/mini-program/mini/login", { code })
        const { headers } = yield* miniLogin("alice")
        const phone = yield* phoneCode("alice")
        yield* client().postJson("/api/wechat/mini-program/mini/phone-number", { code: phone }, headers)
        yield* client().postJson("/api/wechat/mini-program/mini/phone-number", { code: phone }, headers)
        assert.isAbove(logLines.length, 0, "the refused codes were logged")
        for (const line of logLines) {
          for (const secret of [code, token, phone, headers.authorization.slice(7), "13800000001"]) {
            assert.notInclude(line, secret)
          }
        }
      }))
  })
})

for (const wrongSecretErrcode of [40125, 40001] as const) {
  describe(`WeChatLoginApi: a mini program's wrong app secret (WeChat answers ${wrongSecretErrcode})`, () => {
    layer(
      testApp(
        (sandboxUrl) => ({ apps: sandboxApps(sandboxUrl, { mini: { appSecret: "not-the-right-secret" } }) }),
        { apps: [OA, WEB, { ...MINI, wrongSecretErrcode }] }
      ),
      { excludeTestServices: true }
    )((it) => {
      it.effect("login is the configuration problem (500 config), not the server's", () =>
        Effect.gen(function*() {
          const { client, loginCode } = yield* setup
          const answer = yield* client().postJson("/api/wechat/mini-program/mini/login", {
            code: yield* loginCode("alice")
          })
          assert.strictEqual(answer.status, 500, answer.text)
          assert.strictEqual(json(answer.text).error, "config")
          assert.notInclude(answer.text, "not-the-right-secret")
        }))
    })
  })
}

describe("WeChatLoginApi: phone numbers off", () => {
  layer(
    testApp((url) => ({
      apps: { mini: { kind: "miniProgram", appId: MINI.appId, appSecret: MINI.secret, apiBaseUrl: url } }
    })),
    {
      excludeTestServices: true
    }
  )((it) => {
    it.effect("the phone-number endpoint is 404 when the app has no phoneNumber: true", () =>
      Effect.gen(function*() {
        const { client, miniLogin, phoneCode, stats } = yield* setup
        const { headers } = yield* miniLogin("bob")
        const before = (yield* stats).getuserphonenumber
        const answer = yield* client().postJson(
          "/api/wechat/mini-program/mini/phone-number",
          { code: yield* phoneCode("bob") },
          headers
        )
        assert.strictEqual(answer.status, 404)
        assert.strictEqual(json(answer.text).error, "unavailable")
        assert.strictEqual((yield* stats).getuserphonenumber, before)
      }))
  })
})

describe("WeChatLoginApi: one wx.login() code sent several times at once", () => {
  let logins = 0
  layer(
    // a slow onLogin keeps the login running while every copy arrives
    testApp(() => ({
      hooks: { onLogin: () => Effect.zipRight(Effect.sync(() => void logins++), Effect.sleep("300 millis")) }
    })),
    { excludeTestServices: true }
  )((it) => {
    it.effect("the copies in flight get one session: the same token for all, one jscode2session, one onLogin; a copy after it is code-used", () =>
      Effect.gen(function*() {
        const { client, loginCode, openids, stats } = yield* setup
        const code = yield* loginCode("alice")
        const before = (yield* stats).jscode2session
        const loginsBefore = logins
        const answers = yield* Effect.forEach(
          Array.from({ length: 5 }, () => client()),
          (copy) => copy.postJson("/api/wechat/mini-program/mini/login", { code }),
          { concurrency: "unbounded" }
        )
        for (const answer of answers) assert.strictEqual(answer.status, 200, answer.text)
        const tokens = new Set(answers.map((answer) => json(answer.text).token))
        assert.strictEqual(tokens.size, 1, "one session for all")
        assert.strictEqual((yield* stats).jscode2session - before, 1, "the code was exchanged once")
        assert.strictEqual(logins - loginsBefore, 1, "onLogin ran once")
        const [token] = tokens
        const me = yield* client().get("/api/wechat/session", { authorization: `Bearer ${token}` })
        assert.strictEqual(me.status, 200, me.text)
        assert.strictEqual(json(me.text).openid, openids.alice)
        // nothing is remembered once the run ended: a request has no binding to tell its sender by
        const again = yield* client().postJson("/api/wechat/mini-program/mini/login", { code })
        assert.strictEqual(again.status, 400, again.text)
        assert.strictEqual(json(again.text).error, "code-used")
        assert.notInclude(again.text, token)
      }))
  })
})

describe("WeChatLoginApi: a request body that stops arriving (a 1 s read deadline)", () => {
  layer(Layer.provide(testApp(), Layer.succeed(ReadTimeout, Duration.seconds(1))), { excludeTestServices: true })(
    (it) => {
      it.effect("is answered 408 timeout with connection: close within the deadline, the login's and the phone number's; a whole body is read as before", () =>
        Effect.gen(function*() {
          const { client, miniLogin, phoneCode, url } = yield* setup
          const { headers } = yield* miniLogin("alice")
          for (
            const [path, extra] of [
              ["/api/wechat/mini-program/mini/login", {}],
              ["/api/wechat/mini-program/mini/phone-number", headers]
            ] as const
          ) {
            const { answer, closed, seconds } = yield* stalledBody(url, path, extra)
            const [head = "", body = ""] = answer.split("\r\n\r\n")
            assert.strictEqual(head.split("\r\n")[0], "HTTP/1.1 408 Request Timeout", `${path}: ${answer}`)
            assert.match(head, /^connection: close$/im, path)
            assert.strictEqual(json(body).error, "timeout", path)
            assert.isTrue(closed, `${path}: the server closed the connection`)
            assert.isAbove(seconds, 0.9, path)
            assert.isBelow(seconds, 4, path)
          }
          const again = yield* miniLogin("bob")
          assert.match(again.body.token, /^[A-Za-z0-9_-]{43}$/, "a body sent whole is read as before")
          const phone = yield* client().postJson(
            "/api/wechat/mini-program/mini/phone-number",
            { code: yield* phoneCode("bob") },
            again.headers
          )
          assert.strictEqual(phone.status, 200, phone.text)
        }))
    }
  )
})

/**
 * A POST of JSON whose `Content-Length` (100) says more than is sent (2 bytes, then nothing), over
 * a raw socket: the whole answer as text, whether the server closed the connection, and how long
 * that took (at most 6 s here: past it the socket is given up, and the answer says so).
 */
const stalledBody = (url: string, path: string, headers: Record<string, string>) =>
  Effect.async<{ readonly answer: string; readonly closed: boolean; readonly seconds: number }>((resume) => {
    const { host, hostname, port } = new URL(url)
    const started = Date.now()
    let answer = ""
    let closed = true
    const socket = Net.connect(Number(port), hostname, () => {
      const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("")
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n${extra}` +
          `Content-Length: 100\r\n\r\n{"`
      )
    })
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString("utf8")
    })
    const guard = setTimeout(() => {
      closed = false
      answer = `no answer within 6 s${answer === "" ? "" : `: ${answer}`}`
      socket.destroy()
    }, 6000)
    socket.on("close", () => {
      clearTimeout(guard)
      resume(Effect.succeed({ answer, closed, seconds: (Date.now() - started) / 1000 }))
    })
    socket.on("error", () => {})
    return Effect.sync(() => {
      clearTimeout(guard)
      socket.destroy()
    })
  })
