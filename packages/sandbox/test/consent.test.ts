import type * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import { exchange, OA, request, sandboxLayer, WEB } from "./helpers.js"

const run = <A, E>(effect: Effect.Effect<A, E, Sandbox.Sandbox | HttpClient.HttpClient>) =>
  Effect.provide(effect, sandboxLayer())

const OPEN = "https://open.weixin.qq.com"

const authorizeParams = (overrides: Record<string, string | undefined> = {}) => ({
  appid: OA.appId,
  redirect_uri: "https://app.example.com/wechat/callback?from=menu",
  response_type: "code",
  scope: "snsapi_userinfo",
  state: "abc123",
  ...overrides
})

const form = (overrides: Record<string, string | undefined> = {}) =>
  Object.fromEntries(
    Object.entries({ ...authorizeParams(), user: "alice", decision: "allow", ...overrides }).filter((e): e is [
      string,
      string
    ] => e[1] !== undefined)
  )

describe("consent page (GET /connect/oauth2/authorize, /connect/qrconnect)", () => {
  it.effect("shows the app, the scope, the users and the two buttons, the params carried in hidden inputs", () =>
    run(Effect.gen(function*() {
      const page = yield* request("GET", `${OPEN}/connect/oauth2/authorize#wechat_redirect`, {
        params: authorizeParams()
      })
      assert.strictEqual(page.status, 200)
      assert.strictEqual(page.headers["content-type"], "text/html; charset=utf-8")
      assert.include(page.text, "微信授权 (sandbox)")
      assert.include(page.text, OA.name)
      assert.include(page.text, `<code id="scope">snsapi_userinfo</code>`)
      for (const user of Sandbox.defaultUsers) assert.include(page.text, `id="user-${user.id}"`)
      assert.match(page.text, /<button[^>]*id="allow"[^>]*name="decision" value="allow">允许<\/button>/)
      assert.match(page.text, /<button[^>]*id="deny"[^>]*name="decision" value="deny">拒绝<\/button>/)
      assert.include(page.text, `<form id="consent" method="post" action="/connect/oauth2/authorize">`)
      assert.include(
        page.text,
        `<input type="hidden" name="redirect_uri" value="https://app.example.com/wechat/callback?from=menu">`
      )
      assert.include(page.text, `<input type="hidden" name="state" value="abc123">`)
    })))

  it.effect("serves website apps at /connect/qrconnect with snsapi_login", () =>
    run(Effect.gen(function*() {
      const page = yield* request("GET", `${OPEN}/connect/qrconnect`, {
        params: authorizeParams({ appid: WEB.appId, scope: "snsapi_login" })
      })
      assert.strictEqual(page.status, 200)
      assert.include(page.text, WEB.name)
      assert.include(page.text, `action="/connect/qrconnect"`)
    })))

  it.effect("escapes what it echoes", () =>
    run(Effect.gen(function*() {
      const page = yield* request("GET", `${OPEN}/connect/oauth2/authorize`, {
        params: authorizeParams({ redirect_uri: "https://x.example.com/cb?a=\"><script>alert(1)</script>" })
      })
      assert.strictEqual(page.status, 200)
      assert.notInclude(page.text, "<script>")
      assert.include(page.text, "&quot;&gt;&lt;script&gt;")
    })))

  const invalid: ReadonlyArray<[string, string, Record<string, string | undefined>, string]> = [
    ["missing appid", "authorize", { appid: undefined }, "appid"],
    ["unknown appid", "authorize", { appid: "wx0000000000000000" }, "appid"],
    ["a website app on /connect/oauth2/authorize", "authorize", { appid: WEB.appId }, "appid"],
    ["an official account on /connect/qrconnect", "qrconnect", { scope: "snsapi_login" }, "appid"],
    ["a mini program", "authorize", { appid: Sandbox.defaultApps.miniProgram.appId }, "appid"],
    ["missing redirect_uri", "authorize", { redirect_uri: undefined }, "redirect_uri"],
    ["relative redirect_uri", "authorize", { redirect_uri: "/callback" }, "redirect_uri"],
    ["javascript: redirect_uri", "authorize", { redirect_uri: "javascript:alert(1)" }, "redirect_uri"],
    ["response_type=token", "authorize", { response_type: "token" }, "response_type"],
    ["missing response_type", "authorize", { response_type: undefined }, "response_type"],
    ["unknown scope", "authorize", { scope: "snsapi_everything" }, "scope"],
    ["snsapi_login on authorize", "authorize", { scope: "snsapi_login" }, "scope"],
    ["snsapi_userinfo on qrconnect", "qrconnect", { appid: WEB.appId, scope: "snsapi_userinfo" }, "scope"],
    ["a state with other characters", "authorize", { state: "a-b" }, "state"],
    ["a state of 129 characters", "authorize", { state: "a".repeat(129) }, "state"]
  ]
  for (const [name, endpoint, overrides, param] of invalid) {
    it.effect(`refuses ${name} with an error page naming ${param}`, () =>
      run(Effect.gen(function*() {
        const path = endpoint === "authorize" ? "/connect/oauth2/authorize" : "/connect/qrconnect"
        const page = yield* request("GET", `${OPEN}${path}`, { params: authorizeParams(overrides) })
        assert.strictEqual(page.status, 400)
        assert.include(page.headers["content-type"], "text/html")
        assert.include(page.text, `data-param="${param}"`)
        assert.include(page.text, `${param} 参数错误`)
      })))
  }

  it.effect("accepts a state of 128 characters and no state at all", () =>
    run(Effect.gen(function*() {
      const long = yield* request("GET", `${OPEN}/connect/oauth2/authorize`, {
        params: authorizeParams({ state: "a".repeat(128) })
      })
      assert.strictEqual(long.status, 200)
      const none = yield* request("GET", `${OPEN}/connect/oauth2/authorize`, {
        params: authorizeParams({ state: undefined })
      })
      assert.strictEqual(none.status, 200)
    })))

  it.effect("405 for other methods", () =>
    run(Effect.gen(function*() {
      const answer = yield* request("PUT", `${OPEN}/connect/oauth2/authorize`, { params: authorizeParams() })
      assert.strictEqual(answer.status, 405)
    })))
})

describe("consent page: what snsapi_userinfo gives the app", () => {
  it.effect("today's profile: nickname and avatar only; the pre-2021 one: region and gender too", () =>
    Effect.gen(function*() {
      const text = (appId: string) =>
        Effect.map(
          request("GET", `${OPEN}/connect/oauth2/authorize`, { params: authorizeParams({ appid: appId }) }),
          (page) => /<span id="scope-text">([^<]*)<\/span>/.exec(page.text)?.[1]
        )
      assert.strictEqual(yield* text(OA.appId), "获得你的公开信息（昵称、头像）")
      assert.strictEqual(yield* text("wxsandboxpre2021oa"), "获得你的公开信息（昵称、头像、地区及性别）")
    }).pipe(Effect.provide(sandboxLayer({
      apps: [OA, { ...OA, appId: "wxsandboxpre2021oa", profile: "pre2021" }]
    }))))
})

describe("consent page: an app's redirectDomains", () => {
  /** The official account with its web-authorization domains, and the website app with its callback domain. */
  const layer = sandboxLayer({
    apps: [
      { ...OA, redirectDomains: ["app.example.com", "127.0.0.1:3000"] },
      { ...WEB, redirectDomains: ["www.example.com"] }
    ]
  })

  it.effect("a redirect_uri on a configured host is served; any other gets the 10003 page and no code", () =>
    Effect.gen(function*() {
      const page = (path: string, overrides: Record<string, string>) =>
        request("GET", `${OPEN}${path}`, { params: authorizeParams(overrides) })
      for (
        const redirect_uri of ["https://app.example.com/cb", "http://APP.example.com/x?y=1", "http://127.0.0.1:3000/cb"]
      ) {
        assert.strictEqual((yield* page("/connect/oauth2/authorize", { redirect_uri })).status, 200, redirect_uri)
      }
      for (
        const redirect_uri of [
          "https://attacker.example/steal",
          "https://evil.app.example.com/cb",
          "https://example.com/cb",
          "https://app.example.com.evil.test/cb",
          "https://app.example.com:8443/cb",
          "http://127.0.0.1/cb",
          "http://127.0.0.1:3001/cb"
        ]
      ) {
        const refused = yield* page("/connect/oauth2/authorize", { redirect_uri })
        assert.strictEqual(refused.status, 400, redirect_uri)
        assert.include(refused.text, `data-param="redirect_uri" data-errcode="10003"`)
        assert.include(refused.text, "redirect_uri 参数错误")
        // the form's POST is refused the same way: no redirect, no code
        const posted = yield* request("POST", `${OPEN}/connect/oauth2/authorize`, { form: form({ redirect_uri }) })
        assert.strictEqual(posted.status, 400, redirect_uri)
        assert.isUndefined(posted.headers.location)
        assert.include(posted.text, `data-errcode="10003"`)
      }
      // a website app has its own domain
      const qr = { appid: WEB.appId, scope: "snsapi_login" }
      assert.strictEqual(
        (yield* page("/connect/qrconnect", { ...qr, redirect_uri: "https://www.example.com/cb" })).status,
        200
      )
      assert.strictEqual(
        (yield* page("/connect/qrconnect", { ...qr, redirect_uri: "https://app.example.com/cb" })).status,
        400
      )
      // a denial is refused as well: WeChat redirects nowhere off the domain
      const denied = yield* request("POST", `${OPEN}/connect/oauth2/authorize`, {
        form: form({ redirect_uri: "https://attacker.example/steal", decision: "deny" })
      })
      assert.strictEqual(denied.status, 400)
    }).pipe(Effect.provide(layer)))

  it.effect("approve fails for another host and works for a configured one", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const options = { appId: OA.appId, user: "alice", scope: "snsapi_userinfo" }
      const error = yield* Effect.flip(sandbox.approve({ ...options, redirectUri: "https://attacker.example/cb" }))
      assert.match(error.message, /^redirect_uri: .*10003/)
      const url = yield* sandbox.approve({ ...options, redirectUri: "https://app.example.com/cb" })
      assert.isString((yield* exchange(new URL(url).searchParams.get("code")!)).json.access_token)
    }).pipe(Effect.provide(layer)))

  it.effect("a host that is no host is refused when the sandbox is made", () =>
    Effect.gen(function*() {
      for (
        const host of [
          "https://app.example.com",
          "app.example.com/cb",
          "app.example.com:0",
          "app.example.com:99999",
          ""
        ]
      ) {
        const error = yield* Effect.flip(Sandbox.make({ apps: [{ ...OA, redirectDomains: [host] }] }))
        assert.include(error.message, "redirectDomains.0", host)
      }
    }).pipe(Effect.scoped))
})

describe("consent decision (POST)", () => {
  it.effect("allow: 302 to redirect_uri with code and state, keeping its query", () =>
    run(Effect.gen(function*() {
      const answer = yield* request("POST", `${OPEN}/connect/oauth2/authorize`, { form: form({ user: "bob" }) })
      assert.strictEqual(answer.status, 302)
      const location = new URL(answer.headers.location)
      assert.strictEqual(location.origin + location.pathname, "https://app.example.com/wechat/callback")
      assert.strictEqual(location.searchParams.get("from"), "menu")
      assert.strictEqual(location.searchParams.get("state"), "abc123")
      const code = location.searchParams.get("code")!
      assert.match(code, /^[A-Za-z0-9]{32}$/)
      const token = yield* exchange(code)
      const sandbox = yield* Sandbox.Sandbox
      assert.strictEqual(token.json.openid, sandbox.openidOf(OA.appId, "bob"))
      assert.strictEqual(token.json.scope, "snsapi_userinfo")
    })))

  it.effect("allow keeps a redirect_uri's fragment after the query, as WeChat does", () =>
    run(Effect.gen(function*() {
      const answer = yield* request("POST", `${OPEN}/connect/oauth2/authorize`, {
        form: form({ redirect_uri: "https://spa.example.com/#/login" })
      })
      assert.match(
        answer.headers.location,
        /^https:\/\/spa\.example\.com\/\?code=[A-Za-z0-9]{32}&state=abc123#\/login$/
      )
    })))

  it.effect("deny: 302 to redirect_uri with the state and no code", () =>
    run(Effect.gen(function*() {
      const answer = yield* request("POST", `${OPEN}/connect/oauth2/authorize`, { form: form({ decision: "deny" }) })
      assert.strictEqual(answer.status, 302)
      const location = new URL(answer.headers.location)
      assert.isNull(location.searchParams.get("code"))
      assert.strictEqual(location.searchParams.get("state"), "abc123")
    })))

  it.effect("a redirect_uri with characters outside ASCII gets a percent-encoded Location, as a browser sends it", () =>
    run(Effect.gen(function*() {
      const path = `${OPEN}/connect/oauth2/authorize`
      const redirect_uri = "http://127.0.0.1/中?q=é#片段"
      const allowed = yield* request("POST", path, { form: form({ redirect_uri }) })
      assert.strictEqual(allowed.status, 302)
      assert.match(
        allowed.headers.location,
        /^http:\/\/127\.0\.0\.1\/%E4%B8%AD\?q=%C3%A9&code=[A-Za-z0-9]{32}&state=abc123#%E7%89%87%E6%AE%B5$/
      )
      const denied = yield* request("POST", path, { form: form({ redirect_uri, decision: "deny" }) })
      assert.strictEqual(denied.headers.location, "http://127.0.0.1/%E4%B8%AD?q=%C3%A9&state=abc123#%E7%89%87%E6%AE%B5")
      const location = new URL(allowed.headers.location)
      assert.strictEqual(decodeURIComponent(location.pathname), "/中")
      assert.strictEqual(location.searchParams.get("q"), "é")
    })))

  it.effect("website apps post to /connect/qrconnect", () =>
    run(Effect.gen(function*() {
      const answer = yield* request("POST", `${OPEN}/connect/qrconnect`, {
        form: form({ appid: WEB.appId, scope: "snsapi_login" })
      })
      assert.strictEqual(answer.status, 302)
      const code = new URL(answer.headers.location).searchParams.get("code")!
      assert.strictEqual((yield* exchange(code, WEB)).json.scope, "snsapi_login")
    })))

  it.effect("400 for an unknown user, a missing decision, or params that fail the checks", () =>
    run(Effect.gen(function*() {
      const path = `${OPEN}/connect/oauth2/authorize`
      const unknownUser = yield* request("POST", path, { form: form({ user: "mallory" }) })
      assert.strictEqual(unknownUser.status, 400)
      assert.include(unknownUser.text, `data-param="user"`)
      const noDecision = yield* request("POST", path, { form: form({ decision: undefined }) })
      assert.strictEqual(noDecision.status, 400)
      assert.include(noDecision.text, `data-param="decision"`)
      const badScope = yield* request("POST", path, { form: form({ scope: "snsapi_login" }) })
      assert.strictEqual(badScope.status, 400)
      assert.include(badScope.text, `data-param="scope"`)
    })))
})

describe("approve", () => {
  it.effect("returns the callback URL with a fresh code each time, and an empty state when none is given", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const options = {
        appId: OA.appId,
        user: "alice",
        scope: "snsapi_base",
        redirectUri: "https://app.example.com/cb"
      }
      const first = new URL(yield* sandbox.approve(options))
      const second = new URL(yield* sandbox.approve(options))
      assert.notStrictEqual(first.searchParams.get("code"), second.searchParams.get("code"))
      assert.strictEqual(first.searchParams.get("state"), "")
    })))

  it.effect("returns the URL a browser would request: characters outside ASCII percent-encoded", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const url = yield* sandbox.approve({
        appId: OA.appId,
        user: "alice",
        scope: "snsapi_base",
        redirectUri: "http://127.0.0.1/中",
        state: "s1"
      })
      assert.match(url, /^http:\/\/127\.0\.0\.1\/%E4%B8%AD\?code=[A-Za-z0-9]{32}&state=s1$/)
    })))

  const bad: ReadonlyArray<[string, Partial<Parameters<Sandbox.SandboxService["approve"]>[0]>, RegExp]> = [
    ["an unknown app", { appId: "wx0000000000000000" }, /unknown app/],
    ["an unknown user", { user: "mallory" }, /unknown user/],
    ["a mini program", { appId: Sandbox.defaultApps.miniProgram.appId }, /miniProgram/],
    ["a scope the app cannot ask", { scope: "snsapi_login" }, /^scope:/],
    ["a relative redirectUri", { redirectUri: "/cb" }, /^redirect_uri:/],
    ["a bad state", { state: "has space" }, /^state:/]
  ]
  for (const [name, overrides, message] of bad) {
    it.effect(`fails with SandboxError for ${name}`, () =>
      run(Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const error = yield* Effect.flip(sandbox.approve({
          appId: OA.appId,
          user: "alice",
          scope: "snsapi_userinfo",
          redirectUri: "https://app.example.com/cb",
          ...overrides
        }))
        assert.instanceOf(error, Sandbox.SandboxError)
        assert.strictEqual(error._tag, "SandboxError")
        assert.match(error.message, message)
      })))
  }
})
