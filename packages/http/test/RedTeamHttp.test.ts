/**
 * Red team: attacks on @wxauth/http against the sandbox WeChat: open redirects through returnTo and
 * afterLogin (payloads beyond the owners' list), markup injection into the pages, session fixation,
 * cross-site logout in every dress, the Authorization header and the session cookie in odd forms,
 * hostile callback queries, hostile mini-program bodies; and `toWebHandler` given hostile Request
 * objects (huge, endless and stalled bodies, odd methods and headers, values that are not Requests).
 * Each attack asserts the safe behaviour: no foreign redirect, no session it should not make or end,
 * never a 500 or a rejection with an untyped error, within a bounded time.
 */
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import { assert, describe, it, layer } from "@effect/vitest"
import { StateToken, WeChatConfig } from "@wxauth/core"
import { WeChatLogin } from "@wxauth/http"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import { Browser, consent, login, sandboxControl, startLogin, userAgents } from "@wxauth/test-support"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Net from "node:net"
import { MINI, OA, sandboxApps, testApp, TestServer } from "./helpers.js"

const setup = Effect.gen(function*() {
  const { sandboxUrl, url } = yield* TestServer
  const stats = sandboxControl(sandboxUrl, "GET", "stats") as Effect.Effect<Record<string, number>>
  const browser = (userAgent: string = userAgents.wechat) => new Browser(url, { userAgent })
  return { url, sandboxUrl, stats, browser }
})

/** Where an afterLogin hook may send a browser: longer than a state could carry, with a query. */
const longLanding = `/商品/详情?id=${"1234567890".repeat(8)}&utm_source=wechat&utm_medium=share`

const onSite = (location: string | undefined, base: string) =>
  location !== undefined && new URL(location, base).origin === new URL(base).origin

describe("red team: open redirects and injection", () => {
  layer(
    testApp(() => ({
      hooks: {
        afterLogin: (event) =>
          Effect.succeed(
            event.returnTo === "/hook-evil"
              ? "//evil.example/"
              : event.returnTo === "/hook-js"
              ? "javascript:alert(1)"
              : event.returnTo === "/hook-long"
              ? longLanding
              : event.returnTo === "/hook-huge"
              ? `/${"a".repeat(2048)}`
              : undefined
          )
      }
    })),
    { excludeTestServices: true }
  )((it) => {
    it.effect("returnTo payloads beyond the obvious ones all land on this site", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const payloads = [
          "/%5Cevil.example",
          "/%5C%5Cevil.example",
          "/%2F%2Fevil.example",
          "/%2f/evil.example",
          "/%2e%2e//evil.example",
          "/.%2e//evil.example",
          "///evil.example",
          "/\\/evil.example",
          "\\\\evil.example",
          "\\/evil.example",
          " //evil.example",
          "/\r\n/evil.example",
          "/%0d%0aSet-Cookie:%20x=y",
          "/\u2215\u2215evil.example",
          "/\uff0f/evil.example",
          "/@evil.example",
          "javascript:alert(1)",
          "JaVaScRiPt:alert(1)",
          "data:text/html,<script>alert(1)</script>",
          "https:evil.example",
          "/a/../../../evil.example/../../..//evil.example",
          "/\u0000//evil.example",
          "/%00//evil.example",
          "/#//evil.example",
          "/?//evil.example"
        ]
        const problems: Array<string> = []
        for (const returnTo of payloads) {
          const b = browser()
          const { answer } = yield* login(b, { path: `/login?returnTo=${encodeURIComponent(returnTo)}` })
          if (answer.status !== 303 || !onSite(answer.location, b.base)) {
            problems.push(`${JSON.stringify(returnTo)} -> ${answer.status} ${answer.location}`)
          }
          for (const header of answer.headers.keys()) {
            if (/^x$/i.test(header)) problems.push(`${JSON.stringify(returnTo)} set a header`)
          }
          if (answer.setCookies.some((c) => c.startsWith("x="))) {
            problems.push(`${JSON.stringify(returnTo)} set a cookie`)
          }
        }
        assert.deepStrictEqual(problems, [])
      }), 120_000)

    it.effect("an afterLogin hook answering another site or javascript: lands on this site", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        for (const returnTo of ["/hook-evil", "/hook-js"]) {
          const b = browser()
          const { answer } = yield* login(b, { path: `/login?returnTo=${encodeURIComponent(returnTo)}` })
          assert.isTrue(onSite(answer.location, b.base), `${returnTo} -> ${answer.location}`)
        }
      }))

    it.effect("an afterLogin hook's path lands whatever its length up to 2,048 bytes; a longer one is ignored", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const b = browser()
        const { answer } = yield* login(b, { path: "/login?returnTo=%2Fhook-long" })
        const landed = new URL(answer.location!, b.base)
        assert.strictEqual(decodeURIComponent(landed.pathname) + landed.search, longLanding)
        const huge = yield* login(browser(), { path: "/login?returnTo=%2Fhook-huge" })
        assert.strictEqual(new URL(huge.answer.location!, b.base).pathname, "/hook-huge")
      }))

    it.effect("markup in returnTo, a route's app key or a problem's reason is never echoed raw", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const markup = "\"><script>alert(1)</script><x y='"
        const paths = [
          `/login?returnTo=${encodeURIComponent(`/${markup}`)}`,
          `/login/official?returnTo=${encodeURIComponent(`/${markup}`)}`,
          `/login/${encodeURIComponent(markup)}`,
          `/login/${encodeURIComponent(markup)}/problem?reason=${encodeURIComponent(markup)}`,
          `/login/official/problem?reason=${encodeURIComponent(markup)}`,
          `/login/${encodeURIComponent(markup)}/callback?code=x&state=${encodeURIComponent(markup)}`
        ]
        const problems: Array<string> = []
        for (const userAgent of [userAgents.wechat, userAgents.phone, userAgents.desktop]) {
          for (const path of paths) {
            const answer = yield* browser(userAgent).get(path)
            if (answer.status >= 500) problems.push(`${path}: ${answer.status}`)
            if (answer.text.includes("<script>alert(1)") || answer.text.includes("<x y=")) {
              problems.push(`${path}: echoed raw`)
            }
            if (answer.location !== undefined && answer.location.includes("<script>")) {
              problems.push(`${path}: raw in Location`)
            }
          }
        }
        assert.deepStrictEqual(problems, [])
      }))
  })
})

describe("red team: sessions, cookies and the Authorization header", () => {
  layer(testApp(), { excludeTestServices: true })((it) => {
    it.effect("session fixation: a session cookie planted before login is never the one the login gives", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        // the attacker's own valid session, and a well-formed token nobody issued
        const attacker = browser()
        yield* login(attacker, { user: "bob" })
        const attackersToken = attacker.cookies.get("wxauth_session")!
        for (const planted of [attackersToken, "A".repeat(43)]) {
          const victim = browser()
          victim.cookies.set("wxauth_session", planted)
          const { answer } = yield* login(victim, { user: "alice" })
          assert.strictEqual(answer.status, 303)
          const given = victim.cookies.get("wxauth_session")
          assert.isDefined(given)
          assert.notStrictEqual(given, planted, "a new token")
          const me = yield* victim.get("/me")
          assert.strictEqual(me.status, 200)
          // the planted token does not stand for the victim
          const copy = browser()
          copy.cookies.set("wxauth_session", planted)
          const planter = yield* copy.get("/me")
          assert.isTrue(planter.status === 401 || !planter.text.includes(JSON.parse(me.text).openid))
        }
      }))

    it.effect("cross-site logout in every dress leaves the session alive; GET, HEAD and overrides change nothing", () =>
      Effect.gen(function*() {
        const { browser, url } = yield* setup
        const victim = browser()
        yield* login(victim)
        const port = new URL(url).port
        const dresses: ReadonlyArray<Record<string, string>> = [
          { origin: `http://127.0.0.1:${port}.evil.example` },
          { origin: `http://127.0.0.1:${port}/` },
          { origin: `https://127.0.0.1:${port}` },
          { origin: `http://localhost:${port}` },
          { origin: "http://127.0.0.1" },
          { origin: "null", "sec-fetch-site": "same-origin" },
          { origin: "https://evil.example", "sec-fetch-site": "same-origin" },
          { "sec-fetch-site": "cross-site", referer: `${url}/` },
          { "sec-fetch-site": "same-site" },
          { "sec-fetch-site": "Cross-Site" },
          { origin: "" }
        ]
        const problems: Array<string> = []
        for (const headers of dresses) {
          for (const path of ["/logout", "/logout/everywhere"]) {
            const answer = yield* victim.post(path, {}, headers)
            if (answer.status !== 403) problems.push(`${path} ${JSON.stringify(headers)}: ${answer.status}`)
          }
          for (const path of ["/api/wechat/logout", "/api/wechat/logout/everywhere"]) {
            const answer = yield* victim.request("POST", path, { body: "{}", headers })
            if (answer.status < 400) problems.push(`${path} ${JSON.stringify(headers)}: ${answer.status}`)
            const plain = yield* victim.request("POST", path, {
              body: "x",
              headers: { ...headers, "content-type": "text/plain" }
            })
            if (plain.status < 400) problems.push(`${path} text/plain ${JSON.stringify(headers)}: ${plain.status}`)
          }
        }
        for (const path of ["/logout", "/logout/everywhere", "/api/wechat/logout"]) {
          const get = yield* victim.get(path)
          if (get.status < 400 || get.status >= 500) problems.push(`GET ${path}: ${get.status}`)
          const overridden = yield* victim.get(path, { "x-http-method-override": "POST", "x-method-override": "POST" })
          if (overridden.status < 400 || overridden.status >= 500) {
            problems.push(`GET+override ${path}: ${overridden.status}`)
          }
        }
        if ((yield* victim.get("/me")).status !== 200) problems.push("the session ended")
        assert.deepStrictEqual(problems, [])
      }))

    it.effect("the Authorization header and session cookie in odd forms: 401 or the user, never a 500", () =>
      Effect.gen(function*() {
        const { browser, sandboxUrl, url } = yield* setup
        const web = browser(userAgents.desktop)
        yield* login(web, { path: "/login/web" })
        const browserToken = web.cookies.get("wxauth_session")!
        // a mini program's token
        const jsCode = yield* sandboxControl(sandboxUrl, "POST", "miniprogram/login", {
          appId: MINI.appId,
          user: "alice"
        })
        const anonymous = new Browser(url)
        const session = yield* anonymous.postJson("/api/wechat/mini-program/mini/login", { code: jsCode.code })
        assert.strictEqual(session.status, 200, session.text)
        const miniToken = JSON.parse(session.text).token as string
        const cases: ReadonlyArray<readonly [string, Record<string, string>, number]> = [
          ["a browser's token as a bearer", { authorization: `Bearer ${browserToken}` }, 401],
          ["two tokens", { authorization: `Bearer ${miniToken}, Bearer ${miniToken}` }, 401],
          ["Basic", { authorization: `Basic ${Buffer.from(`a:${miniToken}`).toString("base64")}` }, 401],
          ["an 8 KiB header", { authorization: `Bearer ${"A".repeat(8 * 1024)}` }, 401],
          ["a token with a dot", { authorization: `Bearer ${miniToken}.x` }, 401],
          ["an empty bearer", { authorization: "Bearer " }, 401],
          ["the mini program's token as a cookie", { cookie: `wxauth_session=${miniToken}` }, 401],
          ["the cookie percent-encoded", {
            cookie: `wxauth_session=${encodeURIComponent(browserToken).replace(/A/g, "%41")}`
          }, 200],
          ["a malformed percent", { cookie: "wxauth_session=%E0%A4%A" }, 401],
          ["a cookie named __proto__", { cookie: `__proto__=x; constructor=y; wxauth_session=${browserToken}` }, 200],
          ["500 cookies", {
            cookie: Array.from({ length: 500 }, (_, i) => `c${i}=v`).join("; ") + `; wxauth_session=${browserToken}`
          }, 200],
          ["a quoted cookie", { cookie: `wxauth_session="${browserToken}"` }, 200],
          ["the bearer lower-case", { authorization: `bearer ${miniToken}` }, 200]
        ]
        const problems: Array<string> = []
        for (const [label, headers, expected] of cases) {
          const answer = yield* new Browser(url).request("GET", "/api/wechat/session", { headers })
          if (answer.status !== expected) problems.push(`${label}: ${answer.status} (expected ${expected})`)
        }
        assert.deepStrictEqual(problems, [])
      }))

    it.effect("a site behind HTTP Basic auth (the browser sends Authorization: Basic on every request): the cookie session works", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const basic = { authorization: `Basic ${Buffer.from("staging:secret").toString("base64")}` }
        const b = browser()
        yield* login(b)
        assert.strictEqual((yield* b.get("/me", basic)).status, 200)
        assert.strictEqual((yield* b.get("/api/wechat/session", basic)).status, 200)
        // and a cross-site POST with it is still refused, a same-site one still logs out
        const refused = yield* b.request("POST", "/api/wechat/logout", {
          body: "{}",
          headers: { ...basic, origin: "https://evil.example" }
        })
        assert.strictEqual(refused.status, 403)
        assert.strictEqual((yield* b.get("/me", basic)).status, 200)
        const out = yield* b.request("POST", "/api/wechat/logout", { body: "{}", headers: basic })
        assert.strictEqual(out.status, 204)
        assert.strictEqual((yield* b.get("/me", basic)).status, 401)
      }))

    it.effect("hostile callback queries: a page or a redirect away, never a 500, and nothing sent to WeChat", () =>
      Effect.gen(function*() {
        const { browser, stats } = yield* setup
        const victim = browser()
        const authorizeUrl = yield* startLogin(victim)
        const state = new URL(authorizeUrl).searchParams.get("state")!
        const before = (yield* stats).access_token ?? 0
        const queries = [
          `code=${"c".repeat(60_000)}&state=${state}`,
          `code=a&code=b&state=${state}`,
          `code=a&state=${state}&state=${state}`,
          `code[]=a&state=${state}`,
          `code=%00&state=${state}`,
          `code=%E0%A4%A&state=${state}`,
          `code=a&state=${state}${"A".repeat(5000)}`,
          `code=a&state=`,
          `code=&state=${state}&error=access_denied`,
          `code=a&state=${state}&appid=wxsomeoneelse00001`
        ]
        const problems: Array<string> = []
        for (const query of queries) {
          const answer = yield* victim.get(`/login/official/callback?${query}`)
          if (answer.status >= 500) problems.push(`${query.slice(0, 40)}: ${answer.status}`)
          if (answer.status === 303 && answer.location !== undefined && !onSite(answer.location, victim.base)) {
            problems.push(`${query.slice(0, 40)}: away to ${answer.location}`)
          }
          if (victim.cookies.has("wxauth_session")) problems.push(`${query.slice(0, 40)}: a session`)
        }
        const sent = ((yield* stats).access_token ?? 0) - before
        // only a plausible code is worth WeChat's time; none of these logs anyone in
        assert.isAtMost(sent, 4)
        assert.deepStrictEqual(problems, [])
      }))

    it.effect("hostile mini-program bodies: 4xx, never 500, and WeChat is not asked", () =>
      Effect.gen(function*() {
        const { stats, url } = yield* setup
        const before = (yield* stats).jscode2session ?? 0
        const bodies: ReadonlyArray<readonly [string, string, Record<string, string>]> = [
          ["nested arrays", "[".repeat(8000) + "]".repeat(8000), {}],
          ["nested objects", "{\"a\":".repeat(2000) + "1" + "}".repeat(2000), {}],
          ["__proto__", "{\"__proto__\":{\"code\":\"abc\"}}", {}],
          ["code a number", "{\"code\":1e400}", {}],
          ["code with NUL", "{\"code\":\"a\\u0000b\"}", {}],
          ["code too long", JSON.stringify({ code: "c".repeat(513) }), {}],
          ["two codes", "{\"code\":\"a b\",\"code\":\"\"}", {}],
          ["not UTF-8", "{\"code\":\"\xff\xfe\"}", { "content-type": "application/json; charset=latin1" }],
          ["form-encoded", "code=abc", { "content-type": "application/x-www-form-urlencoded" }],
          ["JSON as text/plain", "{\"code\":\"abc\"}", { "content-type": "text/plain" }],
          ["JSON with a content-type trick", "{\"code\":\"abc\"}", { "content-type": "application/jsonx" }]
        ]
        const problems: Array<string> = []
        for (const [label, body, headers] of bodies) {
          const answer = yield* new Browser(url).request("POST", "/api/wechat/mini-program/mini/login", {
            body,
            headers
          })
          if (answer.status < 400 || answer.status >= 500) problems.push(`${label}: ${answer.status}`)
          if (answer.text.includes("abc\"") || answer.text.includes("\\u0000")) problems.push(`${label}: echoed`)
        }
        assert.deepStrictEqual(problems, [])
        assert.strictEqual((yield* stats).jscode2session ?? 0, before, "no garbage went to WeChat")
      }))
  })
})

describe("red team: a state the app signed elsewhere", () => {
  const stateSecret = "a-state-secret-of-the-app-32-chars"
  layer(testApp((url) => ({ apps: sandboxApps(url, { official: { stateSecret } }) })), { excludeTestServices: true })(
    (it) => {
      // core's authorizeUrl / StateToken take any path on this site as returnTo, "/订单" too; a Location
      // header holds latin1 only, and Node refused the answer (a 500 that left the code in the address bar)
      it.effect("a returnTo outside ASCII (as core's authorizeUrl signs it) lands percent-encoded, not a 500", () =>
        Effect.gen(function*() {
          const { browser } = yield* setup
          const config = Either.getOrThrow(
            WeChatConfig.makeEither({ appId: OA.appId, appSecret: OA.secret, stateSecret })
          )
          // the second fits in a state (31 bytes of UTF-8) but is 85 percent-encoded: more than a state holds
          for (const returnTo of ["/订单?页=2#项", "/我的订单详情页面?页=2"]) {
            const b = browser()
            const authorize = new URL(yield* startLogin(b))
            const binding = b.cookies.get("wxauth_binding")!
            const state = Either.getOrThrow(StateToken.makeSync(config, Date.now(), { returnTo, binding }))
            authorize.searchParams.set("state", state)
            const answer = yield* b.get(yield* consent(b, authorize.href))
            assert.strictEqual(answer.status, 303, answer.text.slice(0, 200))
            const landing = new URL(answer.location!)
            assert.strictEqual(landing.origin, new URL(b.base).origin)
            assert.strictEqual(decodeURIComponent(landing.pathname + landing.search + landing.hash), returnTo)
            assert.strictEqual((yield* b.get("/me")).status, 200)
          }
        }))

      // Login CSRF: the app signs states without a binding for another flow (a link, a QR code, a
      // native app); the attacker takes one, consents with their own WeChat and sends the victim the
      // callback URL. The callback takes only states bound to the browser that started the login.
      it.effect("a state the app signed without a binding logs no browser in, not even the attacker's own", () =>
        Effect.gen(function*() {
          const { browser, stats } = yield* setup
          const config = Either.getOrThrow(
            WeChatConfig.makeEither({ appId: OA.appId, appSecret: OA.secret, stateSecret })
          )
          const attacker = browser()
          const authorize = new URL(yield* startLogin(attacker))
          authorize.searchParams.set("state", Either.getOrThrow(StateToken.makeSync(config, Date.now())))
          const callbackUrl = yield* consent(attacker, authorize.href)
          const before = (yield* stats).access_token ?? 0
          for (const b of [browser(), attacker]) {
            const refused = yield* b.get(callbackUrl)
            assert.strictEqual(new URL(refused.location!).searchParams.get("reason"), "state-browser")
            assert.isUndefined(b.cookies.get("wxauth_session"))
            assert.notStrictEqual((yield* b.get("/me")).status, 200)
          }
          assert.strictEqual((yield* stats).access_token ?? 0, before, "no code was exchanged")
        }))
    }
  )
})

describe("red team: the server's request log (HttpMiddleware.logger)", () => {
  const lines: Array<string> = []
  const capture = Logger.replace(Logger.defaultLogger, Logger.map(Logger.logfmtLogger, (line) => void lines.push(line)))
  layer(
    testApp(() => ({}), undefined, undefined, HttpMiddleware.logger).pipe(Layer.provide(capture)),
    { excludeTestServices: true }
  )((it) => {
    it.effect("an app serving the login with HttpMiddleware.logger logs no callback URL: no code, no state", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        lines.length = 0
        const b = browser()
        const { answer, callbackUrl } = yield* login(b)
        assert.strictEqual(answer.status, 303)
        // a failing callback too (a tampered state): the problem is logged, never the URL
        const tampered = new URL(callbackUrl)
        tampered.searchParams.set("state", `${tampered.searchParams.get("state")}x`)
        yield* browser().get(tampered.href)
        const code = new URL(callbackUrl).searchParams.get("code")!
        const state = new URL(callbackUrl).searchParams.get("state")!
        assert.isTrue(lines.some((line) => line.includes("Sent HTTP response")), "the server logs its requests")
        assert.deepStrictEqual(lines.filter((line) => line.includes(code) || line.includes(state)), [])
      }))
  })
})

describe("red team: __Host- cookies over https", () => {
  layer(testApp(() => ({ publicUrl: "https://login.example.com" })), { excludeTestServices: true })((it) => {
    // A page on a sibling subdomain can set a Domain cookie whose name is the __Host- name behind a
    // byte 0xA0 (NO-BREAK SPACE in latin1): for the browser it has no prefix, so Domain is allowed,
    // and it is sent first on a longer Path (Chromium 156 does both). Node reads the header as
    // latin1 and `String.prototype.trim` removes U+00A0: a parser that trims names reads it as ours.
    it.effect("a cookie named \\xa0__Host-wxauth_binding or \\xa0__Host-wxauth_session is not ours", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        // the attacker's own login, stopped before the callback (its code unused)
        const attacker = new Browser(url, { https: true })
        const start = yield* attacker.get("/login")
        const binding = attacker.cookies.get("__Host-wxauth_binding")!
        const callback = new URL(yield* consent(attacker, start.location!, { user: "bob" }))
        const victim = new Browser(url, { https: true })
        victim.cookies.set("\u00a0__Host-wxauth_binding", binding)
        const answer = yield* victim.get(`${url}${callback.pathname}${callback.search}`)
        assert.strictEqual(answer.status, 303)
        assert.strictEqual(new URL(answer.location!).searchParams.get("reason"), "state-browser", answer.location)
        assert.isUndefined(victim.cookies.get("__Host-wxauth_session"), "the victim is not logged in as bob")

        // bob's session token, tossed under the look-alike name, logs nobody in
        const bob = new Browser(url, { https: true })
        const back = new URL(yield* consent(bob, (yield* bob.get("/login")).location!, { user: "bob" }))
        assert.strictEqual((yield* bob.get(`${url}${back.pathname}${back.search}`)).status, 303)
        const tossed = new Browser(url, { https: true })
        tossed.cookies.set("\u00a0__Host-wxauth_session", bob.cookies.get("__Host-wxauth_session")!)
        assert.strictEqual((yield* tossed.get("/me")).status, 401)
        assert.strictEqual((yield* tossed.get("/api/wechat/session")).status, 401)
        // the real name still works, quoted or percent-encoded as before
        const real = new Browser(url, { https: true })
        real.cookies.set("__Host-wxauth_session", `"${bob.cookies.get("__Host-wxauth_session")!}"`)
        assert.strictEqual((yield* real.get("/me")).status, 200)
      }))

    // A pair with a long run of spaces inside (Node lets a Cookie header carry 16 KB): read in one
    // pass, around the spaces and tabs a browser may put, never trimmed of anything else
    it.effect("spaces and tabs around a cookie are dropped, and a run of them inside one is kept as it is", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        const bob = new Browser(url, { https: true })
        const back = new URL(yield* consent(bob, (yield* bob.get("/login")).location!, { user: "bob" }))
        assert.strictEqual((yield* bob.get(`${url}${back.pathname}${back.search}`)).status, 303)
        const session = bob.cookies.get("__Host-wxauth_session")!
        const padded = new Browser(url, { https: true })
        padded.cookies.set(`a${" ".repeat(12_000)}b`, `c${" \t".repeat(1_000)}d`)
        padded.cookies.set(" \t__Host-wxauth_session\t ", `\t ${session} \t`)
        assert.strictEqual((yield* padded.get("/me")).status, 200)
        // a run of spaces inside the value is part of it: not bob's token
        const inside = new Browser(url, { https: true })
        inside.cookies.set("__Host-wxauth_session", `${session.slice(0, 8)}   ${session.slice(8)}`)
        assert.strictEqual((yield* inside.get("/me")).status, 401)
      }))
  })
})

/**
 * Sends one request as raw bytes (any request-target, as a client or a proxy may send it) and
 * gives the status line and headers of the answer.
 */
const rawRequest = (url: string, requestLine: string) =>
  Effect.async<string>((resume) => {
    const { hostname, port, host } = new URL(url)
    let answer = ""
    const socket = Net.connect(Number(port), hostname, () => {
      socket.write(
        `${requestLine}\r\nHost: ${host}\r\nUser-Agent: ${userAgents.wechat}\r\nConnection: close\r\n\r\n`
      )
    })
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString("latin1")
    })
    socket.on("close", () => resume(Effect.succeed(answer.split("\r\n\r\n")[0])))
    socket.on("error", (error) => resume(Effect.succeed(`error: ${error.message}`)))
    return Effect.sync(() => socket.destroy())
  }).pipe(Effect.timeout("10 seconds"), Effect.orDie)

describe("red team: request-targets and hooks in odd forms", () => {
  let reads = 0
  // a hooks object whose getter answers once (when the layer is built), then throws
  const hooks = Object.defineProperty({}, "onLogin", {
    enumerable: true,
    get: () => {
      if (++reads > 1) throw new Error("getter")
      return () => Effect.void
    }
  })
  layer(testApp(() => ({ hooks })), { excludeTestServices: true })((it) => {
    it.effect("a request-target the URL parser refuses (absolute-form `http://[`): a 404 page, not a 500", () =>
      Effect.gen(function*() {
        const { url } = yield* setup
        const problems: Array<string> = []
        for (
          const target of [
            "http://[/login",
            "http://[/login/official",
            "http://[/login/official/problem?reason=denied",
            "http://[/login/official/callback?code=a&state=b"
          ]
        ) {
          const head = yield* rawRequest(url, `GET ${target} HTTP/1.1`)
          const status = head.split("\r\n")[0]
          if (!status.startsWith("HTTP/1.1 404")) problems.push(`${target}: ${status}`)
          if (!/^content-security-policy:/im.test(head)) problems.push(`${target}: no security headers`)
        }
        assert.deepStrictEqual(problems, [])
      }))

    it.effect("hooks are read once, when the layer is built: a getter that throws later changes no login", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        assert.strictEqual(reads, 1, "read when the layer was built")
        const b = browser()
        const { answer } = yield* login(b)
        assert.strictEqual(answer.status, 303)
        assert.isTrue(onSite(answer.location, b.base))
        assert.notInclude(answer.location!, "problem")
        assert.strictEqual((yield* b.get("/me")).status, 200)
        assert.strictEqual(reads, 1)
      }))
  })
})

// -------------------------------------------------------------------------------------------------
// toWebHandler and hostile Request objects
// -------------------------------------------------------------------------------------------------

const base = "http://app.test"

/** A toWebHandler over the three sandbox apps, with the sandbox on a socket; disposed with the scope. */
const webHandler = Effect.gen(function*() {
  const sandbox = Context.get(
    yield* Layer.build(Sandbox.layerServer({ port: 0, host: "127.0.0.1" }).pipe(Layer.provide(Sandbox.layer()))),
    SandboxServer.SandboxServer
  )
  const web = WeChatLogin.toWebHandler(WeChatLogin.layer({ apps: sandboxApps(sandbox.url), publicUrl: base }))
  yield* Effect.addFinalizer(() => Effect.promise(() => web.dispose()))
  return { web, sandboxUrl: sandbox.url }
})

/** How a Promise ended: its value, or a rejection described by its `_tag` (typed) or its class. */
const settle = <A>(promise: () => Promise<A>) =>
  Effect.promise(() =>
    Promise.resolve().then(promise).then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({
        ok: false as const,
        typed: typeof error === "object" && error !== null && typeof (error as { _tag?: unknown })._tag === "string",
        text: String(error).slice(0, 120)
      })
    )
  )

describe("red team: toWebHandler with hostile Requests", () => {
  it.scoped(
    "bodies: announced huge (413), chunked endless (411), lying Content-Length: refused fast, little read",
    () =>
      Effect.gen(function*() {
        const { web } = yield* webHandler
        const path = `${base}/api/wechat/mini-program/mini/login`
        const problems: Array<string> = []
        const started = Date.now()
        let pulled = 0
        const endless = () =>
          new ReadableStream<Uint8Array>({
            pull: (controller) => {
              pulled += 16 * 1024
              controller.enqueue(new Uint8Array(16 * 1024).fill(0x20))
            }
          })
        const cases: ReadonlyArray<readonly [string, () => Request, ReadonlyArray<number>]> = [
          ["announced 1 GB", () =>
            new Request(path, {
              method: "POST",
              headers: { "content-type": "application/json", "content-length": String(1024 ** 3) },
              body: endless(),
              duplex: "half"
            } as RequestInit), [413]],
          ["chunked endless", () =>
            new Request(path, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: endless(),
              duplex: "half"
            } as RequestInit), [411]],
          ["announced 100, endless", () =>
            new Request(path, {
              method: "POST",
              headers: { "content-type": "application/json", "content-length": "100" },
              body: endless(),
              duplex: "half"
            } as RequestInit), [400, 413]],
          ["announced -1", () =>
            new Request(path, {
              method: "POST",
              headers: { "content-type": "application/json", "content-length": "-1" },
              body: "{}"
            }), [400, 411, 413]],
          ["announced 1e3", () =>
            new Request(path, {
              method: "POST",
              headers: { "content-type": "application/json", "content-length": "1e3" },
              body: "{}"
            }), [400, 411, 413]]
        ]
        for (const [label, make, expected] of cases) {
          let request: Request
          try {
            request = make()
          } catch {
            continue // the platform refuses to build it: nothing to attack
          }
          const outcome = yield* settle(() => web.handler(request))
          if (!outcome.ok) problems.push(`${label}: rejected ${outcome.text}`)
          else if (!expected.includes(outcome.value.status)) problems.push(`${label}: ${outcome.value.status}`)
        }
        assert.deepStrictEqual(problems, [])
        assert.isBelow(Date.now() - started, 5_000)
        assert.isBelow(pulled, 2 * 1024 * 1024, `${pulled} bytes read of endless bodies`)
      }),
    30_000
  )

  it.live(
    "a body that stalls after its first bytes is given up within the read deadline (10 s): 408 timeout",
    () =>
      Effect.gen(function*() {
        const { web } = yield* webHandler
        let first = true
        const stalled = new ReadableStream<Uint8Array>({
          pull: (controller) => {
            if (first) {
              first = false
              controller.enqueue(new TextEncoder().encode("{\"code\":"))
              return
            }
            return new Promise(() => {})
          }
        })
        const started = Date.now()
        const outcome = yield* settle(() =>
          web.handler(
            new Request(`${base}/api/wechat/mini-program/mini/login`, {
              method: "POST",
              headers: { "content-type": "application/json", "content-length": "100" },
              body: stalled,
              duplex: "half"
            } as RequestInit)
          )
        ).pipe(Effect.timeout("20 seconds"))
        assert.isTrue(outcome.ok, "answered")
        if (outcome.ok) {
          assert.strictEqual(outcome.value.status, 408)
          assert.strictEqual(
            ((yield* Effect.promise(() => outcome.value.json())) as { error: string }).error,
            "timeout"
          )
        }
        assert.isBelow(Date.now() - started, 15_000)
      }).pipe(Effect.scoped),
    30_000
  )

  it.scoped("odd methods and headers on every route: never a 500", () =>
    Effect.gen(function*() {
      const { web } = yield* webHandler
      const paths = [
        "/login",
        "/login/official",
        "/login/official/callback?code=a&state=b",
        "/login/official/problem?reason=x",
        "/logout",
        "/logout/everywhere",
        "/api/wechat/session",
        "/api/wechat/logout",
        "/api/wechat/mini-program/mini/login",
        "/api/wechat/openapi.json",
        "/login/%ZZ",
        "/login/..%2f..%2fetc",
        "/login//callback"
      ]
      const problems: Array<string> = []
      let calls = 0
      for (const path of paths) {
        for (const method of ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "X-CUSTOM"]) {
          for (
            const headers of [
              {},
              { cookie: "wxauth_session=%%%; wxauth_binding=\u00ff" },
              { "user-agent": "M".repeat(100_000) },
              { origin: "null", "sec-fetch-site": "cross-site", "sec-fetch-dest": "iframe" },
              { "content-type": "application/json", "content-length": "2" },
              { "x-forwarded-proto": "https", "x-forwarded-host": "evil.example", host: "evil.example" }
            ] as ReadonlyArray<Record<string, string>>
          ) {
            let request: Request
            try {
              const hasBody = method !== "GET" && method !== "HEAD"
              request = new Request(`${base}${path}`, { method, headers, ...(hasBody ? { body: "{}" } : {}) })
            } catch {
              continue
            }
            calls++
            const outcome = yield* settle(() => web.handler(request))
            if (!outcome.ok) problems.push(`${method} ${path}: rejected ${outcome.text}`)
            else if (outcome.value.status >= 500) {
              problems.push(`${method} ${path} ${JSON.stringify(headers).slice(0, 60)}: ${outcome.value.status}`)
            } else if (outcome.ok) {
              const location = outcome.value.headers.get("location")
              if (location !== null && new URL(location, base).origin !== base && !location.includes("127.0.0.1")) {
                problems.push(`${method} ${path}: redirected to ${location}`)
              }
            }
          }
        }
      }
      console.log(`red team toWebHandler: ${calls} odd requests, ${problems.length} problems`)
      assert.deepStrictEqual(problems.slice(0, 20), [])
    }), 120_000)

  it.scoped(
    "values that are not Requests: a Response or a typed rejection, never a TypeError",
    () =>
      Effect.gen(function*() {
        const { web } = yield* webHandler
        const revoked = Proxy.revocable({}, {})
        revoked.revoke()
        const values: ReadonlyArray<readonly [string, unknown]> = [
          ["undefined", undefined],
          ["null", null],
          ["a string", `${base}/login`],
          ["{}", {}],
          ["{ url: 42 }", { url: 42, method: "GET", headers: {} }],
          ["a Response", new Response("x")],
          ["a revoked Proxy", revoked.proxy]
        ]
        const problems: Array<string> = []
        for (const [label, value] of values) {
          for (
            const [name, call] of [
              ["handler", () => web.handler(value as Request)],
              ["currentUser", () => web.currentUser(value as Request)],
              ["handles", () => web.handles(value as Request)]
            ] as const
          ) {
            const outcome = yield* settle<unknown>(call).pipe(Effect.timeout("3 seconds"), Effect.option)
            if (outcome._tag === "None") problems.push(`${name}(${label}): never settled`)
            else if (!outcome.value.ok && !outcome.value.typed) {
              problems.push(`${name}(${label}): rejected untyped ${outcome.value.text}`)
            }
          }
        }
        assert.deepStrictEqual(problems, [])
      }),
    60_000
  )
})
