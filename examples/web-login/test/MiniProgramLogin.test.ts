/**
 * The mini program's phone-number login over HTTP, in demo mode: the simulated client's codes from
 * the sandbox (`/mini-program/wx/*`, the example's), and `@wxauth/http`'s endpoints the example
 * serves (`POST /api/wechat/mini-program/mini/login`: `code2Session` and a session token;
 * `POST /api/wechat/mini-program/mini/phone-number` with that token: `getPhoneNumber` with the app
 * access token); the app's hooks (a local user, the phone number kept); bounded JSON bodies and JSON
 * failures; a body that stops arriving (408 within the read deadline); logs without codes, tokens,
 * keys or phone numbers.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Browser, sandboxControl } from "@wxauth/test-support"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Net from "node:net"
import { ReadTimeout } from "../src/RequestBody.js"
import { WebLoginServer } from "../src/Server.js"
import { Users } from "../src/Users.js"
import { demoApp, MINI } from "./helpers.js"

const loginPath = "/api/wechat/mini-program/mini/login"
const phonePath = "/api/wechat/mini-program/mini/phone-number"

const setup = Effect.gen(function*() {
  const server = yield* WebLoginServer
  const sandboxUrl = Option.getOrThrow(server.sandboxUrl)
  const config = yield* sandboxControl(sandboxUrl, "GET", "config")
  const openids = config.openids[MINI.appId] as Record<string, string>
  const stats = sandboxControl(sandboxUrl, "GET", "stats") as Effect.Effect<Record<string, number>>
  return { url: server.url, sandboxUrl, openids, stats, browser: new Browser(server.url) }
})

const json = (text: string) => JSON.parse(text) as Record<string, unknown>

/** What WeChat's client gives the simulated mini program for `user`: a code (the example's endpoint). */
const wxCode = (browser: Browser, what: "login" | "phone-code", user: string) =>
  Effect.gen(function*() {
    const answer = yield* browser.postJson(`/mini-program/wx/${what}`, { user })
    assert.strictEqual(answer.status, 200, answer.text)
    return json(answer.text).code as string
  })

/** A mini program's login: `wx.login()`'s code for a session token. */
const miniLogin = (browser: Browser, user: string) =>
  Effect.gen(function*() {
    const answer = yield* browser.postJson(loginPath, { code: yield* wxCode(browser, "login", user) })
    assert.strictEqual(answer.status, 200, answer.text)
    return json(answer.text) as { token: string; openid: string; userId?: string; expiresAt: number }
  })

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** Every log line, as logfmt, of the app's fibers. */
const logLines: Array<string> = []
const captureLogs = Logger.replace(
  Logger.defaultLogger,
  Logger.map(Logger.logfmtLogger, (line) => void logLines.push(line))
)

describe("web-login: the mini program's phone-number login (demo mode)", () => {
  layer(Layer.provide(demoApp(), captureLogs), { excludeTestServices: true })((it) => {
    it.effect("the home page links the simulated mini program; its page loads its own script, nothing else", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const home = yield* browser.get("/")
        assert.include(home.text, `id="to-mini-program" href="/mini-program"`)
        assert.notInclude(home.headers.get("content-security-policy")!, "script-src")
        const page = yield* browser.get("/mini-program")
        assert.strictEqual(page.status, 200)
        const policy = page.headers.get("content-security-policy")!
        assert.include(policy, "default-src 'none'")
        assert.include(policy, "script-src 'self'")
        assert.include(policy, "connect-src 'self'")
        assert.notInclude(policy, "unsafe-eval")
        assert.notInclude(policy.replace("style-src 'unsafe-inline'", ""), "unsafe-inline")
        assert.include(page.text, `<script src="/mini-program/client.js" type="module"></script>`)
        assert.include(page.text, `data-app-id="${MINI.appId}"`)
        assert.include(page.text, `data-login="${loginPath}" data-phone-number="${phonePath}"`)
        for (const user of ["alice", "bob", "carol", "dave"]) assert.include(page.text, `id="mini-user-${user}"`)
        assert.notInclude(page.text, MINI.secret)
        const script = yield* browser.get("/mini-program/client.js")
        assert.strictEqual(script.status, 200)
        assert.strictEqual(script.headers.get("content-type"), "text/javascript; charset=utf-8")
        assert.strictEqual(script.headers.get("x-content-type-options"), "nosniff")
        assert.include(script.text, "authorization")
        assert.notInclude(script.text, "innerHTML")
      }))

    it.effect("login, then the phone number with the session token; the user is the app's; one app token for all", () =>
      Effect.gen(function*() {
        const { browser, openids, stats } = yield* setup
        const users = yield* Users
        const before = yield* stats
        for (const [user, phone] of [["alice", "13800000001"], ["bob", "13800000002"]] as const) {
          const session = yield* miniLogin(browser, user)
          assert.strictEqual(session.openid, openids[user])
          assert.match(session.token, /^[A-Za-z0-9_-]{43}$/)
          assert.isAbove(session.expiresAt, Date.now())
          assert.match(session.userId!, /^u_/)
          const me = yield* browser.request("GET", "/api/wechat/session", { headers: bearer(session.token) })
          assert.strictEqual(me.status, 200, me.text)
          assert.strictEqual(json(me.text).kind, "miniProgram")
          const answer = yield* browser.postJson(phonePath, { code: yield* wxCode(browser, "phone-code", user) }, {
            ...bearer(session.token)
          })
          assert.strictEqual(answer.status, 200, answer.text)
          assert.strictEqual(answer.headers.get("content-type"), "application/json")
          assert.deepStrictEqual(json(answer.text), { phoneNumber: phone, purePhoneNumber: phone, countryCode: "86" })
          for (const text of [answer.text, me.text]) {
            assert.notInclude(text.toLowerCase(), "session_key")
            assert.notInclude(text, "access_token")
          }
          // the onPhoneNumber hook kept it with the app's user
          const local = Option.getOrThrow(yield* users.get(session.userId!))
          assert.strictEqual(local.phone, phone)
        }
        const after = yield* stats
        assert.strictEqual(after.jscode2session - before.jscode2session, 2)
        assert.strictEqual(after.getuserphonenumber - before.getuserphonenumber, 2)
        assert.strictEqual(after.stable_token, 1, "the app token was fetched once, and kept")
        assert.strictEqual(after.token, 0, "stable_token, not the classic token")
      }))

    it.effect("the phone number needs the mini program's token: none, a browser's cookie or a wrong one is refused", () =>
      Effect.gen(function*() {
        const { browser, stats } = yield* setup
        const before = (yield* stats).getuserphonenumber
        const code = yield* wxCode(browser, "phone-code", "carol")
        const none = yield* browser.postJson(phonePath, { code })
        assert.strictEqual(none.status, 401)
        const wrong = yield* browser.postJson(phonePath, { code }, bearer("A".repeat(43)))
        assert.strictEqual(wrong.status, 401)
        assert.strictEqual((yield* stats).getuserphonenumber, before, "WeChat was not asked")
        // the code was not used by the refused requests
        const { token } = yield* miniLogin(browser, "carol")
        assert.strictEqual((yield* browser.postJson(phonePath, { code }, bearer(token))).status, 200)
      }))

    it.effect("a phone code works once; a refused login code leaves the phone code unused", () =>
      Effect.gen(function*() {
        const { browser, stats } = yield* setup
        const { token } = yield* miniLogin(browser, "carol")
        const phoneCode = yield* wxCode(browser, "phone-code", "carol")
        assert.strictEqual((yield* browser.postJson(phonePath, { code: phoneCode }, bearer(token))).status, 200)

        // the same phone code again: refused
        const again = yield* browser.postJson(phonePath, { code: phoneCode }, bearer(token))
        assert.strictEqual(again.status, 400)
        const problem = json(again.text)
        assert.strictEqual(problem.error, "phone-code")
        assert.strictEqual(problem.title, "手机号授权已失效")
        assert.notInclude(again.text, phoneCode)

        // a used login code: refused; the phone code of the same press still works with a valid login
        const loginCode = yield* wxCode(browser, "login", "carol")
        const fresh = yield* wxCode(browser, "phone-code", "carol")
        assert.strictEqual((yield* browser.postJson(loginPath, { code: loginCode })).status, 200)
        const before = yield* stats
        const used = yield* browser.postJson(loginPath, { code: loginCode })
        assert.strictEqual(used.status, 400)
        assert.strictEqual(json(used.text).error, "code-used")
        assert.strictEqual((yield* stats).getuserphonenumber, before.getuserphonenumber, "no phone exchange")
        const ok = yield* browser.postJson(
          phonePath,
          { code: fresh },
          bearer((yield* miniLogin(browser, "carol")).token)
        )
        assert.strictEqual(ok.status, 200, ok.text)
      }))

    it.effect("bodies: JSON only (415), with a length (411), at most 16 KiB (413), of the expected shape (400)", () =>
      Effect.gen(function*() {
        const { browser, stats, url } = yield* setup
        const before = yield* stats
        const asForm = yield* browser.post(loginPath, { code: "a".repeat(32) })
        assert.strictEqual(asForm.status, 415)
        assert.strictEqual(json(asForm.text).error, "unsupported-type")
        const asText = yield* browser.postJson(loginPath, { code: "a" }, { "content-type": "text/plain" })
        assert.strictEqual(asText.status, 415)

        const big = yield* browser.postJson(loginPath, { code: "a", pad: "x".repeat(20_000) })
        assert.strictEqual(big.status, 413)
        assert.strictEqual(json(big.text).error, "too-large")
        const chunked = yield* Effect.promise(async () => {
          const chunk = new TextEncoder().encode(" ".repeat(8 * 1024))
          let sent = 0
          const body = new ReadableStream<Uint8Array>({
            pull(controller) {
              if (sent++ < 128) controller.enqueue(chunk)
              else controller.close()
            }
          })
          const response = await fetch(`${url}${loginPath}`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body,
            duplex: "half"
          } as RequestInit)
          return { status: response.status, body: await response.json() }
        })
        assert.strictEqual(chunked.status, 411)
        assert.strictEqual(chunked.body.error, "length-required")

        for (
          const body of [
            "{not json",
            "[]",
            JSON.stringify({}),
            JSON.stringify({ code: 42 }),
            JSON.stringify({ code: "has a space" }),
            JSON.stringify({ code: "c".repeat(513) }),
            JSON.stringify({ code: "" })
          ]
        ) {
          const answer = yield* browser.postJson(loginPath, body)
          assert.strictEqual(answer.status, 400, body)
          assert.deepStrictEqual(Object.keys(json(answer.text)).sort(), ["error", "title", "titleEn"])
          assert.strictEqual(json(answer.text).error, "bad-request")
          assert.notInclude(answer.text, "has a space")
        }
        // the simulated client's own endpoints: the same rules
        const simulated = yield* browser.postJson("/mini-program/wx/login", { user: "../config" })
        assert.strictEqual(simulated.status, 400)
        assert.strictEqual(json(simulated.text).error, "bad-request")
        const unknown = yield* browser.postJson("/mini-program/wx/phone-code", { user: "nobody" })
        assert.strictEqual(unknown.status, 400, "the sandbox has no such user")
        const bigSimulated = yield* browser.postJson("/mini-program/wx/login", {
          user: "alice",
          pad: "x".repeat(20_000)
        })
        assert.strictEqual(bigSimulated.status, 413)
        const after = yield* stats
        assert.strictEqual(after.jscode2session, before.jscode2session, "nothing was sent to WeChat")
        assert.strictEqual(after.getuserphonenumber, before.getuserphonenumber)
      }))

    it.effect("a cross-site POST to the simulated client is refused as JSON; an unknown /api/ path is a JSON 404", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const crossSite = yield* browser.postJson("/mini-program/wx/login", { user: "alice" }, {
          origin: "https://evil.example"
        })
        assert.strictEqual(crossSite.status, 403)
        assert.strictEqual(json(crossSite.text).error, "forbidden")
        for (const path of ["/api/nothing-here", "/api/wechat/nothing-here", "/api/wechat/mini-program/nope/login"]) {
          const missing = yield* browser.postJson(path, {})
          assert.strictEqual(missing.status, 404, path)
          assert.include(["not-found", "unavailable"], json(missing.text).error, path)
        }
      }))

    it.effect("WeChat busy on getuserphonenumber is a 503 busy; a revoked app token is replaced (one force)", () =>
      Effect.gen(function*() {
        const { browser, sandboxUrl, stats } = yield* setup
        const { token } = yield* miniLogin(browser, "bob")
        yield* sandboxControl(sandboxUrl, "POST", "faults", { kind: "busy", endpoint: "getuserphonenumber", times: 5 })
        const busy = yield* browser.postJson(
          phonePath,
          { code: yield* wxCode(browser, "phone-code", "bob") },
          bearer(token)
        )
        assert.strictEqual(busy.status, 503)
        assert.strictEqual(json(busy.text).error, "busy")
        yield* sandboxControl(sandboxUrl, "DELETE", "faults")

        // WeChat revokes the app token: stable_token hands the same one back, so core forces once
        const before = yield* stats
        yield* sandboxControl(sandboxUrl, "POST", "apptoken/revoke", { appId: MINI.appId })
        const answer = yield* browser.postJson(phonePath, { code: yield* wxCode(browser, "phone-code", "bob") }, {
          ...bearer(token)
        })
        assert.strictEqual(answer.status, 200, answer.text)
        assert.strictEqual(json(answer.text).phoneNumber, "13800000002")
        const usage = yield* sandboxControl(sandboxUrl, "GET", `apptoken?appId=${MINI.appId}`)
        assert.strictEqual(usage.forceRefreshes, 1)
        assert.strictEqual((yield* stats).stable_token - before.stable_token, 2, "a normal fetch, then one forced")
      }))

    it.effect("the logs name the failed step and its errcode, never a code, token, key or phone number", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const { token } = yield* miniLogin(browser, "dave")
        const phoneCode = yield* wxCode(browser, "phone-code", "dave")
        assert.strictEqual((yield* browser.postJson(phonePath, { code: phoneCode }, bearer(token))).status, 200)
        const refused = yield* browser.postJson(phonePath, { code: phoneCode }, bearer(token))
        assert.strictEqual(refused.status, 400)
        const warning = logLines.find((line) => line.includes("a mini program step failed"))
        assert.isDefined(warning, logLines.join("\n"))
        assert.include(warning!, "step=getPhoneNumber")
        assert.include(warning!, "errcode=40029")
        const all = logLines.join("\n")
        for (const secret of [phoneCode, token, "13800000004"]) assert.notInclude(all, secret)
        assert.notInclude(all, MINI.secret)
      }))
  })
})

describe("web-login: the phone-number login with TOKEN_STORE=memory", () => {
  layer(demoApp({ TOKEN_STORE: "memory" }), { excludeTestServices: true })((it) => {
    it.effect("the app token is kept in memory: fetched once for two users' phone numbers", () =>
      Effect.gen(function*() {
        const { browser, stats } = yield* setup
        for (const user of ["alice", "bob"]) {
          const { token } = yield* miniLogin(browser, user)
          const answer = yield* browser.postJson(phonePath, { code: yield* wxCode(browser, "phone-code", user) }, {
            ...bearer(token)
          })
          assert.strictEqual(answer.status, 200, answer.text)
        }
        assert.strictEqual((yield* stats).stable_token, 1)
      }))
  })
})

describe("web-login: a request body that stops arriving (demo mode, a 1 s read deadline)", () => {
  layer(Layer.provide(demoApp(), Layer.succeed(ReadTimeout, Duration.seconds(1))), { excludeTestServices: true })(
    (it) => {
      it.effect("is answered 408 with Connection: close within the deadline: the simulated client's JSON, the dev panel's form", () =>
        Effect.gen(function*() {
          const { url } = yield* WebLoginServer
          for (
            const [path, type, sent] of [
              ["/mini-program/wx/login", "application/json", `{"`],
              ["/dev/faults", "application/x-www-form-urlencoded", "pr"]
            ]
          ) {
            const { answer, seconds } = yield* slowBody(url, path, type, sent)
            const [head, body = ""] = answer.split("\r\n\r\n")
            assert.strictEqual(head.split("\r\n")[0], "HTTP/1.1 408 Request Timeout", `${path}: ${answer}`)
            assert.match(head, /^connection: close$/im, path)
            assert.isBelow(seconds, 4, path)
            if (path.startsWith("/mini-program/")) assert.strictEqual(json(body).error, "timeout")
            else assert.include(body, "提交超时")
          }
          const whole = yield* new Browser(url).postJson("/mini-program/wx/login", { user: "alice" })
          assert.strictEqual(whole.status, 200, "a body sent whole is read as before")
        }))
    }
  )
})

/**
 * A POST whose `Content-Length` (100) says more than is sent (`sent`, a few bytes, then nothing):
 * the whole answer as text, and how long until the server closed the connection (at most 6 s here).
 */
const slowBody = (url: string, path: string, contentType: string, sent: string) =>
  Effect.async<{ readonly answer: string; readonly seconds: number }>((resume) => {
    const { host, hostname, port } = new URL(url)
    const started = Date.now()
    let answer = ""
    const socket = Net.connect(Number(port), hostname, () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nOrigin: ${url}\r\nContent-Type: ${contentType}\r\n` +
          `Content-Length: 100\r\n\r\n${sent}`
      )
    })
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString("utf8")
    })
    const done = () => resume(Effect.succeed({ answer, seconds: (Date.now() - started) / 1000 }))
    socket.on("close", done)
    socket.on("error", done)
    const guard = setTimeout(() => {
      answer = `no answer within 6 s${answer === "" ? "" : `: ${answer}`}`
      socket.destroy()
    }, 6000)
    socket.on("close", () => clearTimeout(guard))
    return Effect.sync(() => {
      clearTimeout(guard)
      socket.destroy()
    })
  })
