/**
 * The sandbox as a real HTTP server: `Sandbox.layerServer` and the address it gives as the
 * `SandboxServer` service, the consent flow in a browser's steps, faults over a socket, and the
 * `/__sandbox/` controls over HTTP.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Crypto from "node:crypto"
import * as Net from "node:net"
import { MINI, OA } from "./helpers.js"

/** A sandbox behind a real socket on a free port, and a fetch client that does not follow redirects. */
const Live = Layer.mergeAll(
  Sandbox.layerServer({ port: 0 }),
  FetchHttpClient.layer,
  Layer.succeed(FetchHttpClient.RequestInit, { redirect: "manual" })
).pipe(Layer.provideMerge(Sandbox.layer()))

const live = <A, E>(
  effect: Effect.Effect<A, E, Sandbox.Sandbox | SandboxServer.SandboxServer | HttpClient.HttpClient>
) => Effect.provide(effect, Live)

interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
  readonly json: any
}

const send = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function*() {
    const server = yield* SandboxServer.SandboxServer
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(HttpClientRequest.prependUrl(request, server.url))
    const text = yield* response.text
    let json: unknown = undefined
    try {
      json = JSON.parse(text)
    } catch {
      // not JSON
    }
    const answer: Answer = { status: response.status, headers: response.headers, text, json }
    return answer
  })

const get = (path: string, params: Record<string, string> = {}) =>
  send(HttpClientRequest.get(path, { urlParams: params }))

const postJson = (path: string, body: unknown) =>
  send(
    HttpClientRequest.post(path).pipe(
      HttpClientRequest.bodyText(typeof body === "string" ? body : JSON.stringify(body), "application/json")
    )
  )

const exchange = (code: string) =>
  get("/sns/oauth2/access_token", { appid: OA.appId, secret: OA.secret, code, grant_type: "authorization_code" })

const unescapeHtml = (s: string) =>
  s.replace(/&quot;/g, "\"").replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&")

/** What a browser does with the consent page: read the form, pick a user, press a button. */
const submitConsent = (page: string, user: string, decision: "allow" | "deny") => {
  const action = /<form id="consent" method="post" action="([^"]+)">/.exec(page)?.[1]
  assert.isString(action, "the consent page has a form")
  const form = new URLSearchParams()
  for (const [, name, value] of page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    form.append(name, unescapeHtml(value))
  }
  const radio = new RegExp(`<input type="radio" id="user-${user}" name="(\\w+)" value="([^"]+)"`).exec(page)
  assert.isNotNull(radio, `the page offers ${user}`)
  form.append(radio![1], radio![2])
  const button = new RegExp(`<button type="submit" id="${decision}" name="(\\w+)" value="(\\w+)"`).exec(page)
  assert.isNotNull(button, `the page has a ${decision} button`)
  form.append(button![1], button![2])
  return send(HttpClientRequest.post(unescapeHtml(action!)).pipe(HttpClientRequest.bodyUrlParams(form)))
}

const authorizePage = (state: string) =>
  Effect.gen(function*() {
    const server = yield* SandboxServer.SandboxServer
    const query = new URLSearchParams({
      appid: OA.appId,
      redirect_uri: "https://app.example.com/wechat/callback",
      response_type: "code",
      scope: "snsapi_userinfo",
      state
    })
    // the #wechat_redirect fragment is never sent to a server
    return yield* get(`/connect/oauth2/authorize?${query}#wechat_redirect`).pipe(
      Effect.tap((page) => assert.strictEqual(page.status, 200, `${server.url}: ${page.text}`))
    )
  })

describe("layerServer", () => {
  it.live("listens on a free port and says where", () =>
    live(Effect.gen(function*() {
      const server = yield* SandboxServer.SandboxServer
      assert.isAbove(server.port, 0)
      assert.strictEqual(server.url, `http://127.0.0.1:${server.port}`)
      assert.strictEqual((yield* get("/sns/auth")).json.errcode, 41001)
    })))

  it.live("the consent flow in a browser's steps: page, form, 302, code exchange, user info", () =>
    live(Effect.gen(function*() {
      const page = yield* authorizePage("xyz789")
      assert.strictEqual(page.headers["content-type"], "text/html; charset=utf-8")
      assert.include(page.text, "微信授权 (sandbox)")
      const redirect = yield* submitConsent(page.text, "bob", "allow")
      assert.strictEqual(redirect.status, 302)
      const location = new URL(redirect.headers.location)
      assert.strictEqual(`${location.origin}${location.pathname}`, "https://app.example.com/wechat/callback")
      assert.strictEqual(location.searchParams.get("state"), "xyz789")
      const token = yield* exchange(location.searchParams.get("code")!)
      assert.strictEqual(token.headers["content-type"], "text/plain")
      const info = yield* get("/sns/userinfo", {
        access_token: token.json.access_token,
        openid: token.json.openid,
        lang: "en"
      })
      assert.strictEqual(info.headers["content-type"], "application/json; encoding=utf-8")
      assert.strictEqual(info.json.nickname, "李四")
      assert.strictEqual(info.json.city, "")
    })))

  it.live("deny: the 302 carries the state and no code", () =>
    live(Effect.gen(function*() {
      const page = yield* authorizePage("denied1")
      const redirect = yield* submitConsent(page.text, "alice", "deny")
      assert.strictEqual(redirect.status, 302)
      const location = new URL(redirect.headers.location)
      assert.isFalse(location.searchParams.has("code"))
      assert.strictEqual(location.searchParams.get("state"), "denied1")
    })))

  it.live("a redirect_uri outside Latin-1 still gets its 302 over the socket (the Location percent-encoded)", () =>
    live(Effect.gen(function*() {
      const query = new URLSearchParams({
        appid: OA.appId,
        redirect_uri: "http://127.0.0.1/中",
        response_type: "code",
        scope: "snsapi_userinfo",
        state: "utf8"
      })
      const page = yield* get(`/connect/oauth2/authorize?${query}`)
      assert.strictEqual(page.status, 200)
      const redirect = yield* submitConsent(page.text, "alice", "allow")
      assert.strictEqual(redirect.status, 302, redirect.text)
      const location = new URL(redirect.headers.location)
      assert.strictEqual(location.pathname, "/%E4%B8%AD")
      assert.strictEqual(location.searchParams.get("state"), "utf8")
      assert.isString((yield* exchange(location.searchParams.get("code")!)).json.access_token)
      const approved = yield* postJson("/__sandbox/approve", {
        appId: OA.appId,
        user: "bob",
        scope: "snsapi_base",
        redirectUri: "http://127.0.0.1/中"
      })
      assert.match(approved.json.url, /^http:\/\/127\.0\.0\.1\/%E4%B8%AD\?code=/)
    })))

  it.live("a bad authorize request gets the error page over the socket too", () =>
    live(Effect.gen(function*() {
      const page = yield* get("/connect/oauth2/authorize", { appid: OA.appId, response_type: "code" })
      assert.strictEqual(page.status, 400)
      assert.include(page.text, `data-param="redirect_uri"`)
      const missing = yield* get("/nothing/here")
      assert.strictEqual(missing.status, 404)
      assert.include(missing.headers["content-type"], "text/html")
    })))
})

describe("faults over a real socket", () => {
  it.live("reset destroys the connection: the client sees a transport error", () =>
    live(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.injectFault({ kind: "reset", endpoint: "auth" })
      const error = yield* Effect.flip(get("/sns/auth", { access_token: "x", openid: "y" }))
      assert.instanceOf(error, HttpClientError.RequestError)
      assert.strictEqual((error as HttpClientError.RequestError).reason, "Transport")
      // the server is fine afterwards
      assert.strictEqual((yield* get("/sns/auth", { access_token: "x", openid: "y" })).json.errcode, 40001)
      assert.strictEqual((yield* sandbox.stats).auth, 2)
    })))

  it.live("reset with afterEffect (posted to /__sandbox/faults): the code is redeemed, the socket dropped, a retry gets 40163", () =>
    live(Effect.gen(function*() {
      const approved = yield* postJson("/__sandbox/approve", {
        appId: OA.appId,
        user: "alice",
        scope: "snsapi_userinfo",
        redirectUri: "https://app.example.com/cb"
      })
      const code = new URL(approved.json.url).searchParams.get("code")!
      const injected = yield* postJson("/__sandbox/faults", {
        kind: "reset",
        endpoint: "access_token",
        afterEffect: true
      })
      assert.strictEqual(injected.status, 200, injected.text)
      const error = yield* Effect.flip(exchange(code))
      assert.instanceOf(error, HttpClientError.RequestError)
      assert.strictEqual((yield* exchange(code)).json.errcode, 40163)
    })))

  it.live("slow answers correctly after the delay, and a client timeout gives up first", () =>
    live(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.injectFault({ kind: "slow", endpoint: "auth", delayMs: 5_000 })
      const timedOut = yield* Effect.flip(
        Effect.timeout(get("/sns/auth", { access_token: "x", openid: "y" }), "200 millis")
      )
      assert.strictEqual(timedOut._tag, "TimeoutException")
      yield* sandbox.injectFault({ kind: "slow", endpoint: "auth", delayMs: 300 })
      const start = yield* Clock.currentTimeMillis
      const answer = yield* get("/sns/auth", { access_token: "x", openid: "y" })
      assert.isAtLeast((yield* Clock.currentTimeMillis) - start, 290)
      assert.strictEqual(answer.json.errcode, 40001)
    })))

  it.live("http502 answers 502 with an HTML body", () =>
    live(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.injectFault({ kind: "http502", endpoint: "userinfo" })
      const answer = yield* get("/sns/userinfo", { access_token: "x", openid: "y" })
      assert.strictEqual(answer.status, 502)
      assert.strictEqual(answer.headers["content-type"], "text/html")
      assert.include(answer.text, "502 Bad Gateway")
    })))

  it.live("the server stops promptly while a slow answer is pending", () =>
    Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      yield* live(Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        yield* sandbox.injectFault({ kind: "slow", delayMs: 60_000 })
        yield* Effect.forkDaemon(get("/sns/auth"))
        yield* Effect.sleep("100 millis")
      }))
      assert.isBelow((yield* Clock.currentTimeMillis) - start, 5_000)
    }))

  it.live("a port in use fails the layer with ServeError", () =>
    Effect.gen(function*() {
      const blocker = Net.createServer()
      const port = yield* Effect.async<number>((resume) => {
        blocker.listen(0, "127.0.0.1", () => resume(Effect.succeed((blocker.address() as Net.AddressInfo).port)))
      })
      const error = yield* Effect.flip(
        Effect.provide(SandboxServer.SandboxServer, Sandbox.layerServer({ port }).pipe(Layer.provide(Sandbox.layer())))
      )
      blocker.close()
      assert.strictEqual(error._tag, "ServeError")
      assert.strictEqual((error.cause as NodeJS.ErrnoException).code, "EADDRINUSE")
    }))

  it.live("a port out of range is a SandboxError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.provide(
          SandboxServer.SandboxServer,
          Sandbox.layerServer({ port: 70000 }).pipe(Layer.provide(Sandbox.layer()))
        )
      )
      assert.strictEqual(error._tag, "SandboxError")
      assert.match(error.message, /port must be an integer from 0 to 65535/)
    }))
})

describe("/__sandbox/ controls over HTTP", () => {
  it.live("config: apps with secrets, users, and every openid", () =>
    live(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const config = (yield* get("/__sandbox/config")).json
      assert.deepStrictEqual(config.apps, Object.values(Sandbox.defaultApps))
      assert.deepStrictEqual(config.users.map((user: Sandbox.SandboxUser) => user.id), [
        "alice",
        "bob",
        "carol",
        "dave"
      ])
      assert.strictEqual(config.openids[OA.appId].bob, sandbox.openidOf(OA.appId, "bob"))
      assert.isNumber(config.now)
    })))

  it.live("faults: inject, list, take effect, clear", () =>
    live(Effect.gen(function*() {
      const injected = yield* postJson("/__sandbox/faults", { kind: "busy", endpoint: "auth", times: 2 })
      assert.strictEqual(injected.status, 200)
      assert.deepStrictEqual(injected.json.faults, [{ kind: "busy", endpoint: "auth", times: 2 }])
      assert.strictEqual((yield* get("/sns/auth", { access_token: "x", openid: "y" })).json.errcode, -1)
      assert.deepStrictEqual((yield* get("/__sandbox/faults")).json.faults, [{
        kind: "busy",
        endpoint: "auth",
        times: 1
      }])
      const cleared = yield* send(HttpClientRequest.del("/__sandbox/faults"))
      assert.strictEqual(cleared.status, 200)
      assert.strictEqual((yield* get("/sns/auth", { access_token: "x", openid: "y" })).json.errcode, 40001)
    })))

  it.live("stats and stats/reset", () =>
    live(Effect.gen(function*() {
      yield* get("/sns/auth")
      yield* get("/sns/userinfo")
      yield* get("/sns/userinfo")
      const stats = (yield* get("/__sandbox/stats")).json
      assert.deepStrictEqual(stats, {
        authorize: 0,
        qrconnect: 0,
        access_token: 0,
        refresh_token: 0,
        userinfo: 2,
        auth: 1,
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
      assert.strictEqual((yield* postJson("/__sandbox/stats/reset", "")).status, 200)
      assert.strictEqual((yield* get("/__sandbox/stats")).json.userinfo, 0)
    })))

  it.live("approve and clock/advance: a code from the control expires after 300 s of sandbox time", () =>
    live(Effect.gen(function*() {
      const approve = (state: string) =>
        postJson("/__sandbox/approve", {
          appId: OA.appId,
          user: "carol",
          scope: "snsapi_base",
          redirectUri: "https://app.example.com/cb",
          state
        })
      const first = yield* approve("one")
      assert.strictEqual(first.status, 200)
      const fresh = new URL(first.json.url)
      assert.strictEqual(fresh.searchParams.get("state"), "one")
      const stale = new URL((yield* approve("two")).json.url)
      const before = (yield* get("/__sandbox/clock")).json.now
      const advanced = yield* postJson("/__sandbox/clock/advance", { seconds: 299 })
      assert.isAtLeast(advanced.json.now - before, 299_000)
      assert.isString((yield* exchange(fresh.searchParams.get("code")!)).json.access_token)
      yield* postJson("/__sandbox/clock/advance", { ms: 1000 })
      assert.strictEqual((yield* exchange(stale.searchParams.get("code")!)).json.errcode, 42003)
    })))

  it.live("clock/advance refuses more than 100 years; the clock keeps answering", () =>
    live(Effect.gen(function*() {
      const before = (yield* get("/__sandbox/clock")).json.now
      const refused = yield* postJson("/__sandbox/clock/advance", { seconds: 1e300 })
      assert.strictEqual(refused.status, 400)
      assert.match(refused.json.error, /at most 100 years/)
      const clock = yield* get("/__sandbox/clock")
      assert.strictEqual(clock.status, 200, clock.text)
      assert.isBelow(clock.json.now - before, 60_000, "the clock did not move")
      assert.strictEqual(new Date(clock.json.iso).getTime(), clock.json.now)
      // 100 years is allowed, and the clock still answers
      const hundred = yield* postJson("/__sandbox/clock/advance", { seconds: 100 * 365.25 * 24 * 3600 })
      assert.strictEqual(hundred.status, 200, hundred.text)
      assert.strictEqual((yield* get("/__sandbox/clock")).status, 200)
      assert.strictEqual((yield* get("/__sandbox/config")).status, 200)
    })))

  it.effect("clock/advance, 100 years at a time, stops short of the last date JavaScript can show", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const control = (method: string, path: string, body?: unknown) =>
        sandbox.handle({
          method,
          url: `http://127.0.0.1/__sandbox/${path}`,
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        })
      let last = yield* control("POST", "clock/advance", { seconds: 100 * 365 * 24 * 3600 })
      for (let i = 0; i < 3000 && last.status === 200; i++) {
        last = yield* control("POST", "clock/advance", { seconds: 100 * 365 * 24 * 3600 })
      }
      assert.strictEqual(last.status, 400)
      assert.match(JSON.parse(last.body).error, /would pass the last date JavaScript can show/)
      const clock = yield* control("GET", "clock")
      assert.strictEqual(clock.status, 200, clock.body)
      assert.match(JSON.parse(clock.body).iso, /^\+27\d{4}-/)
      const exit = yield* Effect.exit(sandbox.advanceClock(Duration.days(100 * 365)))
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
    }).pipe(Effect.provide(Sandbox.layer())))

  it.live("mini program: login, jscode2session, encrypt", () =>
    live(Effect.gen(function*() {
      const login = yield* postJson("/__sandbox/miniprogram/login", { appId: MINI.appId, user: "alice" })
      assert.match(login.json.code, /^[A-Za-z0-9]{32}$/)
      const session = (yield* get("/sns/jscode2session", {
        appid: MINI.appId,
        secret: MINI.secret,
        js_code: login.json.code,
        grant_type: "authorization_code"
      })).json
      const encrypted = (yield* postJson("/__sandbox/miniprogram/encrypt", { appId: MINI.appId, user: "alice" })).json
      const decipher = Crypto.createDecipheriv(
        "aes-128-cbc",
        Buffer.from(session.session_key, "base64"),
        Buffer.from(encrypted.iv, "base64")
      )
      const data = JSON.parse(
        Buffer.concat([decipher.update(Buffer.from(encrypted.encryptedData, "base64")), decipher.final()]).toString()
      )
      assert.strictEqual(data.openId, session.openid)
      assert.strictEqual(data.watermark.appid, MINI.appId)
    })))

  it.live("app token and mini program server API: stable_token, phone code, checksession, apptoken usage and revoke", () =>
    live(Effect.gen(function*() {
      const credentials = { grant_type: "client_credential", appid: MINI.appId, secret: MINI.secret }
      assert.strictEqual((yield* get("/cgi-bin/stable_token", credentials)).json.errcode, 43002)
      const stable = yield* postJson("/cgi-bin/stable_token", credentials)
      assert.strictEqual(stable.headers["content-type"], "application/json; encoding=utf-8")
      assert.strictEqual(stable.json.expires_in, 7200)
      const token: string = stable.json.access_token
      const classic = yield* get("/cgi-bin/token", credentials)
      assert.strictEqual(classic.json.expires_in, 7200)

      const phone = yield* postJson("/__sandbox/miniprogram/phonecode", { appId: MINI.appId, user: "bob" })
      assert.match(phone.json.code, /^[0-9a-f]{64}$/)
      const info = yield* postJson(`/wxa/business/getuserphonenumber?access_token=${token}`, { code: phone.json.code })
      assert.deepInclude(info.json.phone_info, {
        phoneNumber: "13800000002",
        purePhoneNumber: "13800000002",
        countryCode: "86"
      })
      assert.strictEqual(info.json.phone_info.watermark.appid, MINI.appId)

      const login = yield* postJson("/__sandbox/miniprogram/login", {
        appId: MINI.appId,
        user: "alice",
        sessionKey: "HyVFkGl5F5OQWJZZaNzBBg=="
      })
      const session = (yield* get("/sns/jscode2session", {
        appid: MINI.appId,
        secret: MINI.secret,
        js_code: login.json.code,
        grant_type: "authorization_code"
      })).json
      assert.strictEqual(session.session_key, "HyVFkGl5F5OQWJZZaNzBBg==")
      const check = (accessToken: string) =>
        get("/wxa/checksession", {
          access_token: accessToken,
          openid: session.openid,
          // printf '' | openssl dgst -sha256 -hmac 'HyVFkGl5F5OQWJZZaNzBBg=='
          signature: "252b75c92698025afe925b29cca5517fdf9ee67aae072cf3225ebf3a53783058",
          sig_method: "hmac_sha256"
        })
      assert.deepStrictEqual((yield* check(token)).json, { errcode: 0, errmsg: "ok" })

      assert.deepStrictEqual((yield* get("/__sandbox/apptoken", { appId: MINI.appId })).json, {
        forceRefreshes: 0,
        forceRefreshLimit: 20,
        tokens: 1,
        tokenLimit: 2000
      })
      assert.deepStrictEqual((yield* postJson("/__sandbox/apptoken/revoke", { appId: MINI.appId })).json, { ok: true })
      assert.strictEqual((yield* check(token)).json.errcode, 40001)
      assert.strictEqual((yield* postJson("/cgi-bin/stable_token", credentials)).json.access_token, token)
      const forced = yield* postJson("/cgi-bin/stable_token", { ...credentials, force_refresh: true })
      assert.deepStrictEqual((yield* check(forced.json.access_token)).json, { errcode: 0, errmsg: "ok" })
      assert.strictEqual((yield* get("/__sandbox/apptoken", { appId: MINI.appId })).json.forceRefreshes, 1)
      const stats = (yield* get("/__sandbox/stats")).json
      assert.include(stats, { stable_token: 4, token: 1, getuserphonenumber: 1, checksession: 3 })
    })))

  const bad: ReadonlyArray<[string, string, string, unknown, number, RegExp]> = [
    ["an unknown command", "GET", "/__sandbox/launch", undefined, 404, /unknown control command "launch"/],
    ["apptoken without an appId", "GET", "/__sandbox/apptoken", undefined, 400, /\?appId=/],
    ["apptoken of an unknown app", "GET", "/__sandbox/apptoken?appId=wxnope", undefined, 400, /unknown app "wxnope"/],
    ["revoking an unknown app's token", "POST", "/__sandbox/apptoken/revoke", { appId: "wxnope" }, 400, /unknown app/],
    ["revoke without an appId", "POST", "/__sandbox/apptoken/revoke", {}, 400, /appId: is missing/],
    [
      "a phone code for an unknown user",
      "POST",
      "/__sandbox/miniprogram/phonecode",
      { appId: MINI.appId, user: "mallory" },
      400,
      /unknown user "mallory"/
    ],
    [
      "a login with a session key that is not one",
      "POST",
      "/__sandbox/miniprogram/login",
      { appId: MINI.appId, user: "alice", sessionKey: "secret" },
      400,
      /sessionKey must be base64 of 16 bytes/
    ],
    ["a wrong method", "GET", "/__sandbox/approve", undefined, 405, /GET is not allowed on \/__sandbox\/approve/],
    ["a body that is not JSON", "POST", "/__sandbox/faults", "{kind:", 400, /not valid JSON/],
    ["an empty body", "POST", "/__sandbox/approve", "", 400, /expected a JSON body/],
    ["a bad fault", "POST", "/__sandbox/faults", { kind: "meteor" }, 400, /kind: must be one of/],
    ["a fault with an unknown key", "POST", "/__sandbox/faults", { kind: "busy", time: 3 }, 400, /time: is unexpected/],
    ["advance without an amount", "POST", "/__sandbox/clock/advance", {}, 400, /exactly one of seconds or ms/],
    ["advance by both", "POST", "/__sandbox/clock/advance", { seconds: 1, ms: 1 }, 400, /exactly one/],
    ["advance backwards", "POST", "/__sandbox/clock/advance", { seconds: -5 }, 400, /seconds: must not be negative/],
    ["advance by a string", "POST", "/__sandbox/clock/advance", { seconds: "10" }, 400, /seconds: Expected number/],
    [
      "advance by more than 100 years (seconds)",
      "POST",
      "/__sandbox/clock/advance",
      { seconds: 1e300 },
      400,
      /seconds: must be at most 100 years/
    ],
    [
      "advance by more than 100 years (ms)",
      "POST",
      "/__sandbox/clock/advance",
      { ms: 101 * 365 * 24 * 3600 * 1000 },
      400,
      /ms: must be at most 100 years/
    ],
    [
      "approve for an unknown user",
      "POST",
      "/__sandbox/approve",
      { appId: OA.appId, user: "mallory", scope: "snsapi_base", redirectUri: "https://a.example.com/" },
      400,
      /unknown user "mallory"/
    ],
    [
      "approve without a redirectUri",
      "POST",
      "/__sandbox/approve",
      { appId: OA.appId, user: "alice", scope: "x" },
      400,
      /redirectUri/
    ],
    [
      "login to a non-mini-program",
      "POST",
      "/__sandbox/miniprogram/login",
      { appId: OA.appId, user: "alice" },
      400,
      /not a miniProgram/
    ],
    [
      "encrypt without a session",
      "POST",
      "/__sandbox/miniprogram/encrypt",
      { appId: MINI.appId, user: "bob" },
      400,
      /no session_key/
    ]
  ]
  for (const [name, method, path, body, status, message] of bad) {
    it.live(`${status} JSON error for ${name}`, () =>
      live(Effect.gen(function*() {
        const answer = method === "GET" ? yield* get(path) : yield* postJson(path, body)
        assert.strictEqual(answer.status, status, answer.text)
        assert.include(answer.headers["content-type"], "application/json")
        assert.deepStrictEqual(Object.keys(answer.json), ["error"])
        assert.match(answer.json.error, message)
        assert.notMatch(answer.text, /\n\s+at /, "no stack trace")
      })))
  }
})

describe("/__sandbox/ controls refuse hostile bodies with JSON, never a 500", () => {
  const deep = (depth: number) => "[".repeat(depth) + "]".repeat(depth)
  const nested = deep(5000)
  const hostile: ReadonlyArray<[string, string, RegExp]> = [
    ["/__sandbox/faults", nested, /^Expected \{/],
    ["/__sandbox/faults", `{"kind":${nested}}`, /^kind: must be one of "busy"/],
    ["/__sandbox/faults", `{"kind":"slow","delayMs":${nested}}`, /^delayMs: Expected number$/],
    [
      "/__sandbox/approve",
      `{"appId":${nested},"user":${nested},"scope":"x","redirectUri":"y"}`,
      /^appId: Expected string; user: Expected string$/
    ],
    ["/__sandbox/clock/advance", `{"seconds":${nested}}`, /^seconds: Expected number$/],
    ["/__sandbox/miniprogram/login", `{"appId":"a","user":"b","extra":${nested}}`, /^extra: is unexpected/],
    [
      "/__sandbox/miniprogram/encrypt",
      `{"appId":"a","user":"b","watermarkAppId":{"a":${nested}}}`,
      /^watermarkAppId: Expected string$/
    ]
  ]
  for (const [path, body, message] of hostile) {
    it.live(`400 JSON for ${path} with a value nested 5000 deep in ${body.slice(0, 12)}…`, () =>
      live(Effect.gen(function*() {
        const answer = yield* postJson(path, body)
        assert.strictEqual(answer.status, 400, answer.text.slice(0, 300))
        assert.include(answer.headers["content-type"], "application/json")
        assert.match(answer.json.error, message)
        assert.isBelow(answer.text.length, 1000, "the value is not printed")
        // the sandbox still answers
        assert.strictEqual((yield* get("/__sandbox/faults")).status, 200)
      })))
  }

  it.live("a value nested 30 000 deep (as deep as 64 KiB allows) is a 400 too", () =>
    live(Effect.gen(function*() {
      const answer = yield* postJson("/__sandbox/faults", `{"kind":"busy","times":${deep(30_000)}}`)
      assert.strictEqual(answer.status, 400, answer.text.slice(0, 300))
      assert.strictEqual(answer.json.error, "times: Expected number")
    })))

  it.live("many problems: the message names the first few and stops", () =>
    live(Effect.gen(function*() {
      const keys = Array.from({ length: 500 }, (_, i) => `"${"k".repeat(100)}${i}":${deep(10)}`)
      const answer = yield* postJson("/__sandbox/faults", `{"kind":"busy",${keys.join(",")}}`)
      assert.strictEqual(answer.status, 400, answer.text.slice(0, 300))
      const problems = answer.json.error.split("; ")
      assert.strictEqual(problems.length, 9)
      assert.strictEqual(problems[8], "and more")
      assert.match(problems[0], /^k{40}…: is unexpected/, "a long key is cut")
      assert.isBelow(answer.text.length, 3000)
    })))

  it.live("a body over 64 KiB gets 413 JSON, by Content-Length or by the bytes read", () =>
    live(Effect.gen(function*() {
      const server = yield* SandboxServer.SandboxServer
      const padded = (size: number) => `{"kind":"busy"}${" ".repeat(size - 15)}`
      const fits = padded(64 * 1024)
      assert.strictEqual(Buffer.byteLength(fits), 64 * 1024)
      assert.strictEqual((yield* postJson("/__sandbox/faults", fits)).status, 200)
      const over = yield* postJson("/__sandbox/faults", padded(64 * 1024 + 1))
      assert.strictEqual(over.status, 413, over.text.slice(0, 300))
      assert.include(over.headers["content-type"], "application/json")
      assert.match(over.json.error, /over 65536 bytes/)
      // 20 MB sent without a Content-Length (chunked): reading stops at the cap
      const chunked = yield* Effect.promise(() =>
        fetch(`${server.url}/__sandbox/faults`, {
          method: "POST",
          body: new ReadableStream({
            start(controller) {
              for (let i = 0; i < 20; i++) controller.enqueue(new Uint8Array(1024 * 1024).fill(0x20))
              controller.close()
            }
          }),
          duplex: "half"
        } as RequestInit).then(async (response) => ({ status: response.status, json: await response.json() }))
      )
      assert.strictEqual(chunked.status, 413)
      assert.match(chunked.json.error, /over 65536 bytes/)
      // the server is fine afterwards
      assert.strictEqual((yield* get("/__sandbox/faults")).json.faults.length, 1)
    })))
})
