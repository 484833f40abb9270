/**
 * The mini program's phone-number login over HTTP, in demo mode: the simulated client's codes from
 * the sandbox (`/mini-program/wx/*`), the server's `POST /api/mini-program/login`
 * (`MiniProgram.code2Session` + `MiniProgram.getPhoneNumber` with the app access token), its
 * bounded JSON bodies and JSON failures, and logs without codes, tokens, keys or phone numbers.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import { WebLoginServer } from "../src/Server.js"
import { Browser, demoApp, MINI, sandboxControl } from "./helpers.js"

const setup = Effect.gen(function*() {
  const server = yield* WebLoginServer
  const sandboxUrl = Option.getOrThrow(server.sandboxUrl)
  const config = yield* sandboxControl(sandboxUrl, "GET", "config")
  const openids = config.openids[MINI.appId] as Record<string, string>
  const stats = sandboxControl(sandboxUrl, "GET", "stats") as Effect.Effect<Record<string, number>>
  return { url: server.url, sandboxUrl, openids, stats, browser: new Browser(server.url) }
})

const json = (text: string) => JSON.parse(text) as Record<string, unknown>

/** What the simulated client's page does for `user`: both codes, from WeChat's side (the sandbox). */
const codesFor = (browser: Browser, user: string) =>
  Effect.gen(function*() {
    const login = yield* browser.postJson("/mini-program/wx/login", { user })
    assert.strictEqual(login.status, 200, login.text)
    const phone = yield* browser.postJson("/mini-program/wx/phone-code", { user })
    assert.strictEqual(phone.status, 200, phone.text)
    return { loginCode: json(login.text).code as string, phoneCode: json(phone.text).code as string }
  })

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
        for (const user of ["alice", "bob", "carol", "dave"]) assert.include(page.text, `id="mini-user-${user}"`)
        assert.notInclude(page.text, MINI.secret)
        const script = yield* browser.get("/mini-program/client.js")
        assert.strictEqual(script.status, 200)
        assert.strictEqual(script.headers.get("content-type"), "text/javascript; charset=utf-8")
        assert.strictEqual(script.headers.get("x-content-type-options"), "nosniff")
        assert.include(script.text, "/api/mini-program/login")
        assert.notInclude(script.text, "innerHTML")
      }))

    it.effect("phone login: the openid and the phone number; no session key in the answer; one app token for all", () =>
      Effect.gen(function*() {
        const { browser, openids, stats } = yield* setup
        const before = yield* stats
        for (const [user, phone] of [["alice", "13800000001"], ["bob", "13800000002"]] as const) {
          const codes = yield* codesFor(browser, user)
          const answer = yield* browser.postJson("/api/mini-program/login", codes)
          assert.strictEqual(answer.status, 200, answer.text)
          assert.strictEqual(answer.headers.get("content-type"), "application/json")
          assert.deepStrictEqual(json(answer.text), {
            openid: openids[user],
            phoneNumber: phone,
            purePhoneNumber: phone,
            countryCode: "86"
          })
          assert.notInclude(answer.text.toLowerCase(), "session")
          assert.notInclude(answer.text, "access_token")
        }
        const after = yield* stats
        assert.strictEqual(after.jscode2session - before.jscode2session, 2)
        assert.strictEqual(after.getuserphonenumber - before.getuserphonenumber, 2)
        assert.strictEqual(after.stable_token, 1, "the app token was fetched once, and kept")
        assert.strictEqual(after.token, 0, "stable_token, not the classic token")
      }))

    it.effect("a phone code works once; a refused login code leaves the phone code unused", () =>
      Effect.gen(function*() {
        const { browser, stats } = yield* setup
        const first = yield* codesFor(browser, "carol")
        assert.strictEqual((yield* browser.postJson("/api/mini-program/login", first)).status, 200)

        // the same phone code again, with a fresh login code: the phone step refuses it
        const { loginCode } = yield* codesFor(browser, "carol")
        const again = yield* browser.postJson("/api/mini-program/login", { loginCode, phoneCode: first.phoneCode })
        assert.strictEqual(again.status, 400)
        const problem = json(again.text)
        assert.strictEqual(problem.error, "phone-code")
        assert.strictEqual(problem.title, "手机号授权已失效")
        assert.notInclude(again.text, first.phoneCode)

        // a used login code: refused before the phone code is tried, which then still works
        const fresh = yield* codesFor(browser, "carol")
        const before = yield* stats
        const used = yield* browser.postJson("/api/mini-program/login", { ...fresh, loginCode: first.loginCode })
        assert.strictEqual(used.status, 400)
        assert.strictEqual(json(used.text).error, "code-used")
        assert.strictEqual((yield* stats).getuserphonenumber, before.getuserphonenumber, "no phone exchange")
        const ok = yield* browser.postJson("/api/mini-program/login", fresh)
        assert.strictEqual(ok.status, 200, ok.text)
      }))

    it.effect("bodies: JSON only (415), with a length (411), at most 16 KiB (413), of the expected shape (400)", () =>
      Effect.gen(function*() {
        const { browser, stats, url } = yield* setup
        const before = yield* stats
        const codes = { loginCode: "a".repeat(32), phoneCode: "b".repeat(64) }
        const asForm = yield* browser.post("/api/mini-program/login", codes)
        assert.strictEqual(asForm.status, 415)
        assert.strictEqual(json(asForm.text).error, "unsupported-type")
        const asText = yield* browser.postJson("/api/mini-program/login", codes, { "content-type": "text/plain" })
        assert.strictEqual(asText.status, 415)

        const big = yield* browser.postJson("/api/mini-program/login", { ...codes, pad: "x".repeat(20_000) })
        assert.strictEqual(big.status, 413)
        assert.strictEqual(json(big.text).error, "too-large")
        assert.strictEqual(big.headers.get("connection"), "close")
        const chunked = yield* Effect.promise(async () => {
          const chunk = new TextEncoder().encode(" ".repeat(8 * 1024))
          let sent = 0
          const body = new ReadableStream<Uint8Array>({
            pull(controller) {
              if (sent++ < 128) controller.enqueue(chunk)
              else controller.close()
            }
          })
          const response = await fetch(`${url}/api/mini-program/login`, {
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
            JSON.stringify({ loginCode: codes.loginCode }),
            JSON.stringify({ ...codes, phoneCode: 42 }),
            JSON.stringify({ ...codes, loginCode: "has a space" }),
            JSON.stringify({ ...codes, phoneCode: "c".repeat(513) }),
            JSON.stringify({ ...codes, loginCode: "" })
          ]
        ) {
          const answer = yield* browser.postJson("/api/mini-program/login", body)
          assert.strictEqual(answer.status, 400, body)
          assert.deepStrictEqual(Object.keys(json(answer.text)).sort(), ["error", "title", "titleEn"])
          assert.strictEqual(json(answer.text).error, "bad-request")
          assert.notInclude(answer.text, "has a space")
        }
        const simulated = yield* browser.postJson("/mini-program/wx/login", { user: "../config" })
        assert.strictEqual(simulated.status, 400)
        const unknown = yield* browser.postJson("/mini-program/wx/phone-code", { user: "nobody" })
        assert.strictEqual(unknown.status, 400, "the sandbox has no such user")
        const after = yield* stats
        assert.strictEqual(after.jscode2session, before.jscode2session, "nothing was sent to WeChat")
        assert.strictEqual(after.getuserphonenumber, before.getuserphonenumber)
      }))

    it.effect("a cross-site POST is refused as JSON; an unknown /api/ path is a JSON 404", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const codes = yield* codesFor(browser, "alice")
        const crossSite = yield* browser.postJson("/api/mini-program/login", codes, {
          origin: "https://evil.example"
        })
        assert.strictEqual(crossSite.status, 403)
        assert.strictEqual(json(crossSite.text).error, "forbidden")
        const missing = yield* browser.postJson("/api/nothing-here", {})
        assert.strictEqual(missing.status, 404)
        assert.strictEqual(json(missing.text).error, "not-found")
        // the codes were not used by the refused request
        assert.strictEqual((yield* browser.postJson("/api/mini-program/login", codes)).status, 200)
      }))

    it.effect("WeChat busy on getuserphonenumber is a 503 busy; a revoked app token is replaced (one force)", () =>
      Effect.gen(function*() {
        const { browser, sandboxUrl, stats } = yield* setup
        yield* sandboxControl(sandboxUrl, "POST", "faults", { kind: "busy", endpoint: "getuserphonenumber", times: 5 })
        const busy = yield* browser.postJson("/api/mini-program/login", yield* codesFor(browser, "bob"))
        assert.strictEqual(busy.status, 503)
        assert.strictEqual(json(busy.text).error, "busy")
        yield* sandboxControl(sandboxUrl, "DELETE", "faults")

        // WeChat revokes the app token: stable_token hands the same one back, so core forces once
        const before = yield* stats
        yield* sandboxControl(sandboxUrl, "POST", "apptoken/revoke", { appId: MINI.appId })
        const answer = yield* browser.postJson("/api/mini-program/login", yield* codesFor(browser, "bob"))
        assert.strictEqual(answer.status, 200, answer.text)
        assert.strictEqual(json(answer.text).phoneNumber, "13800000002")
        const usage = yield* sandboxControl(sandboxUrl, "GET", `apptoken?appId=${MINI.appId}`)
        assert.strictEqual(usage.forceRefreshes, 1)
        assert.strictEqual((yield* stats).stable_token - before.stable_token, 2, "a normal fetch, then one forced")
      }))

    it.effect("the logs name the failed step and its errcode, never a code, token, key or phone number", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const codes = yield* codesFor(browser, "dave")
        assert.strictEqual((yield* browser.postJson("/api/mini-program/login", codes)).status, 200)
        const fresh = yield* codesFor(browser, "dave")
        const refused = yield* browser.postJson("/api/mini-program/login", { ...fresh, phoneCode: codes.phoneCode })
        assert.strictEqual(refused.status, 400)
        const warning = logLines.find((line) => line.includes("a mini program login step failed"))
        assert.isDefined(warning, logLines.join("\n"))
        assert.include(warning!, "step=getPhoneNumber")
        assert.include(warning!, "errcode=40029")
        const all = logLines.join("\n")
        for (const secret of [codes.loginCode, codes.phoneCode, fresh.loginCode, fresh.phoneCode, "13800000004"]) {
          assert.notInclude(all, secret)
        }
        assert.notInclude(all, MINI.secret)
      }))
  })
})

describe("web-login: the phone-number login with TOKEN_STORE=memory", () => {
  layer(demoApp({ TOKEN_STORE: "memory" }), { excludeTestServices: true })((it) => {
    it.effect("the app token is kept in memory: fetched once for two logins", () =>
      Effect.gen(function*() {
        const { browser, stats } = yield* setup
        for (const user of ["alice", "bob"]) {
          const answer = yield* browser.postJson("/api/mini-program/login", yield* codesFor(browser, user))
          assert.strictEqual(answer.status, 200, answer.text)
        }
        assert.strictEqual((yield* stats).stable_token, 1)
      }))
  })
})
