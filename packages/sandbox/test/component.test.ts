/**
 * The third-party platform's endpoints and their errcodes, in process on the TestClock:
 * `api_component_token` (tickets), `api_query_auth`, `api_authorizer_token`, the app token refused
 * to a managed app (61024), the consent with `component_appid`, the platform's `sns` endpoints, the
 * authorizer access token at the mini program's APIs, the IP whitelist, and the counters. The
 * pushes are in componentPush.test.ts, the encryption in MessageCrypto.test.ts.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as Crypto from "node:crypto"
import {
  appTokenErrcode,
  authorizationCode,
  authorize,
  authorizerTokenCall,
  componentConsent,
  componentExchange,
  componentJscode2session,
  componentLayer,
  componentRefresh,
  componentToken,
  componentTokenCall,
  componentTokenErrcode,
  MANAGED_MINI,
  MANAGED_OA,
  OTHER,
  PLATFORM,
  queryAuth,
  ticket,
  WORKS
} from "./componentHelpers.js"
import {
  assertErrcode,
  auth,
  classicToken,
  consent,
  exchange,
  get,
  MINI,
  OA,
  refresh,
  request,
  stableToken,
  userinfo
} from "./helpers.js"

const run = <A, E>(effect: Effect.Effect<A, E, Sandbox.Sandbox | HttpClient.HttpClient>) =>
  Effect.provide(effect, componentLayer())

const credentials = (value: string | undefined) => ({
  component_appid: PLATFORM.componentAppId,
  component_appsecret: PLATFORM.componentAppSecret,
  component_verify_ticket: value
})

const usage = (componentAppId: string = PLATFORM.componentAppId) =>
  Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.componentTokenUsage({ componentAppId }))

const sandbox = Sandbox.Sandbox

describe("options", () => {
  it.scoped("adds the authorizers that are not among the apps, with a derived secret", () =>
    Effect.gen(function*() {
      const made = yield* Sandbox.make({ components: [PLATFORM] })
      const managed = made.apps.find((app) => app.appId === MANAGED_OA)!
      assert.deepInclude(managed, { kind: "officialAccount", name: "托管公众号", bound: true })
      assert.match(managed.secret, /^[0-9a-f]{32}$/)
      assert.deepInclude(made.apps.find((app) => app.appId === MANAGED_MINI)!, {
        kind: "miniProgram",
        name: MANAGED_MINI,
        bound: false
      })
      assert.deepStrictEqual(made.apps.slice(0, 3), Object.values(Sandbox.defaultApps))
      assert.deepInclude(made.components[0], { componentAppId: PLATFORM.componentAppId, name: "沙盒第三方平台" })
    }))

  it.effect("an authorizer may be one of the apps, of the same kind: it is managed from the start", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* sandbox).apps.length, 3)
      assertErrcode(yield* stableToken({ grant_type: "client_credential", appid: OA.appId, secret: OA.secret }), 61024)
      assert.isString((yield* stableToken()).json.access_token)
    }).pipe(
      Effect.provide(componentLayer([{ ...OTHER, authorizers: [{ appId: OA.appId, kind: "officialAccount" }] }]))
    ))

  const bad: ReadonlyArray<[string, Sandbox.SandboxOptions | Record<string, unknown>, RegExp]> = [
    ["a duplicate componentAppId", { components: [PLATFORM, PLATFORM] }, /componentAppId .* appears twice/],
    ["a componentAppId that is an app's", { components: [{ ...OTHER, componentAppId: OA.appId }] }, /an app's appId/],
    ["a 42-character EncodingAESKey", { components: [{ ...OTHER, encodingAesKey: "a".repeat(42) }] }, /43 characters/],
    ["a token with a dash", { components: [{ ...OTHER, token: "to-ken" }] }, /components\.0\.token/],
    ["a relative pushUrl", { components: [{ ...OTHER, pushUrl: "/wechat/push" }] }, /absolute http/],
    [
      "pushUrl and pushHandler",
      { components: [{ ...OTHER, pushUrl: "http://x.example/p", pushHandler: () => Effect.succeed("success") }] },
      /not both/
    ],
    ["a push interval of 1 ms", { components: [{ ...OTHER, pushInterval: 1 }] }, /at least 10 ms/],
    ["a push interval that is not a duration", { components: [{ ...OTHER, pushInterval: "soon" }] }, /duration/],
    [
      "an authorizer of another kind than its app",
      { components: [{ ...OTHER, authorizers: [{ appId: OA.appId, kind: "miniProgram" }] }] },
      /is a officialAccount app/
    ],
    [
      "an authorizer that redefines its app",
      { components: [{ ...OTHER, authorizers: [{ appId: OA.appId, kind: "officialAccount", name: "x" }] }] },
      /defined already/
    ],
    [
      "an authorizer named twice",
      {
        components: [{
          ...OTHER,
          authorizers: [{ appId: "wxa", kind: "miniProgram" }, { appId: "wxa", kind: "miniProgram" }]
        }]
      },
      /appId wxa appears twice/
    ],
    [
      "a website authorizer",
      { components: [{ ...OTHER, authorizers: [{ appId: "wxa", kind: "website" }] }] },
      /authorizers\.0\.kind: must be one of/
    ],
    [
      "an unknown user",
      { components: [{ ...OTHER, authorizers: [{ appId: "wxa", kind: "miniProgram", users: ["zed"] }] }] },
      /app wxa: users: no user "zed"/
    ],
    ["an unknown key", { components: [{ ...OTHER, ticket: "x" }] }, /ticket/]
  ]
  for (const [name, options, message] of bad) {
    it.scoped(`fails with SandboxError for ${name}`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Sandbox.make(options as Sandbox.SandboxOptions))
        assert.instanceOf(error, Sandbox.SandboxError)
        assert.match(error.message, message)
      }))
  }

  it.scoped("a JSON config takes platforms (the push interval in ms or as text); checked again, it is the same", () =>
    Effect.gen(function*() {
      const { pushInterval: _, ...platform } = PLATFORM
      const options = yield* Sandbox.loadOptions(JSON.stringify({
        components: [{ ...platform, pushUrl: "http://127.0.0.1:9/push", pushInterval: "30 seconds" }, OTHER]
      }))
      const made = yield* Sandbox.make({ ...options, components: options.components!.map((c) => ({ ...c })) })
      assert.deepStrictEqual(made.components.map((c) => c.componentAppId), [
        PLATFORM.componentAppId,
        OTHER.componentAppId
      ])
      assert.strictEqual(made.apps.filter((app) => app.appId === MANAGED_OA).length, 1)
      assert.deepInclude(made.apps.find((app) => app.appId === MANAGED_OA)!, { name: "托管公众号", bound: true })
      const bad = yield* Effect.flip(Sandbox.loadOptions(`{"components":[{"componentAppId":"wxc"}]}`))
      assert.match(bad.message, /components\.0\.componentAppSecret/)
    }))
})

describe("POST /cgi-bin/component/api_component_token", () => {
  it.effect("issues {component_access_token, expires_in: 7200} for the platform's secret and a pushed ticket", () =>
    run(Effect.gen(function*() {
      const answer = yield* componentTokenCall(credentials(yield* ticket()))
      assert.strictEqual(answer.status, 200)
      assert.strictEqual(answer.headers["content-type"], "application/json; encoding=utf-8")
      assert.deepStrictEqual(Object.keys(answer.json), ["component_access_token", "expires_in"])
      assert.strictEqual(answer.json.expires_in, 7200)
      assert.match(answer.json.component_access_token, /^[A-Za-z0-9_-]{100,512}$/)
      assert.strictEqual(yield* componentTokenErrcode(answer.json.component_access_token), WORKS)
      assert.deepInclude(yield* usage(), { tickets: 1, componentTokens: 1 })
    })))

  it.effect("a new token at each call; the previous one works 5 more minutes, then 40001; each expires after 7200 s", () =>
    run(Effect.gen(function*() {
      const value = yield* ticket()
      const first = (yield* componentTokenCall(credentials(value))).json.component_access_token
      yield* TestClock.adjust("1 hour")
      const second = (yield* componentTokenCall(credentials(value))).json.component_access_token
      assert.notStrictEqual(second, first)
      yield* TestClock.adjust("299 seconds")
      assert.strictEqual(yield* componentTokenErrcode(first), WORKS)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* componentTokenErrcode(first), 40001)
      assert.strictEqual(yield* componentTokenErrcode(second), WORKS)
      yield* TestClock.adjust("6899 seconds")
      assert.strictEqual(yield* componentTokenErrcode(second), WORKS)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* componentTokenErrcode(second), 42001)
    })))

  it.effect("every ticket pushed is accepted, not only the newest two; one never pushed is 61006", () =>
    run(Effect.gen(function*() {
      const first = yield* ticket()
      const second = yield* ticket()
      assert.isString((yield* componentTokenCall(credentials(first))).json.component_access_token)
      const third = yield* ticket()
      assert.isString((yield* componentTokenCall(credentials(first))).json.component_access_token)
      assert.isString((yield* componentTokenCall(credentials(second))).json.component_access_token)
      assert.isString((yield* componentTokenCall(credentials(third))).json.component_access_token)
      assertErrcode(
        yield* componentTokenCall(credentials("ticket@@@never-pushed")),
        61006,
        "component ticket is invalid"
      )
      assertErrcode(yield* componentTokenCall(credentials(undefined)), 61006)
      // another platform's ticket is not this one's
      assertErrcode(yield* componentTokenCall(credentials(yield* ticket(OTHER.componentAppId))), 61006)
    })))

  it.effect("a ticket pushed 10 minutes apart works for its 12 hours (72 later pushes), then 61005; memory bounded", () =>
    run(Effect.gen(function*() {
      // WeChat pushes every 10 minutes and a ticket is valid 12 hours: a platform that missed pushes
      // (a deploy) still holds a valid one
      const first = yield* ticket()
      yield* TestClock.adjust("10 minutes")
      yield* ticket()
      yield* TestClock.adjust("10 minutes")
      yield* ticket()
      assert.isString(
        (yield* componentTokenCall(credentials(first))).json.component_access_token,
        "a ticket pushed 20 minutes ago, two pushes back"
      )
      for (let i = 3; i < 72; i++) {
        yield* TestClock.adjust("10 minutes")
        yield* ticket()
      }
      // 11 h 50 min old, 71 pushes after it
      assert.isString((yield* componentTokenCall(credentials(first))).json.component_access_token)
      yield* TestClock.adjust("10 minutes")
      assertErrcode(yield* componentTokenCall(credentials(first)), 61005, "component ticket is expired")
      // bounded: far more tickets than 12 hours' worth forget the oldest (61006 then)
      for (let i = 0; i < 100; i++) yield* ticket()
      assertErrcode(yield* componentTokenCall(credentials(first)), 61006)
    })))

  it.effect("61005 once the ticket is 12 hours old by the sandbox's clock (TestClock or advanceClock)", () =>
    run(Effect.gen(function*() {
      const value = yield* ticket()
      yield* TestClock.adjust("11 hours")
      assert.isString((yield* componentTokenCall(credentials(value))).json.component_access_token)
      yield* TestClock.adjust("1 hour")
      assertErrcode(yield* componentTokenCall(credentials(value)), 61005, "component ticket is expired")
      const fresh = yield* ticket()
      assert.isString((yield* componentTokenCall(credentials(fresh))).json.component_access_token)
      yield* (yield* sandbox).advanceClock("12 hours")
      assertErrcode(yield* componentTokenCall(credentials(fresh)), 61005)
    })))

  it.effect("43002, 47001, 41002, 40013, 41004, 40125, in that order; a refused call issues nothing", () =>
    run(Effect.gen(function*() {
      const value = yield* ticket()
      assertErrcode(yield* request("GET", "/cgi-bin/component/api_component_token"), 43002, "require POST method")
      assertErrcode(yield* componentTokenCall("{\"component_appid\":"), 47001, "data format error")
      assertErrcode(yield* componentTokenCall("[]"), 47001)
      assertErrcode(yield* componentTokenCall({ ...credentials(value), component_appsecret: 1 }), 47001)
      assertErrcode(yield* componentTokenCall({ ...credentials(value), component_appid: undefined }), 41002)
      assertErrcode(
        yield* componentTokenCall({ ...credentials(value), component_appid: "wxnotaplatform" }),
        40013,
        "invalid appid"
      )
      assertErrcode(yield* componentTokenCall({ ...credentials(value), component_appsecret: "" }), 41004)
      assertErrcode(
        yield* componentTokenCall({ ...credentials(value), component_appsecret: OTHER.componentAppSecret }),
        40125,
        "invalid appsecret"
      )
      assert.deepInclude(yield* usage(), { componentTokens: 0 })
    })))

  it.effect("61004 for every component endpoint while the platform's IP whitelist refuses, for it alone", () =>
    run(Effect.gen(function*() {
      const token = yield* componentToken()
      const value = yield* ticket()
      const refresh = (yield* authorize(MANAGED_MINI, token)).authorizer_refresh_token
      const code = yield* authorizationCode(MANAGED_OA)
      const otherToken = yield* componentToken(OTHER)
      yield* (yield* sandbox).setComponentIpWhitelist({ componentAppId: PLATFORM.componentAppId, refuse: true })
      assertErrcode(yield* componentTokenCall(credentials(value)), 61004, "access clientip is not registered")
      assertErrcode(yield* queryAuth(token, code), 61004)
      assertErrcode(
        yield* authorizerTokenCall(token, { authorizer_appid: MANAGED_MINI, authorizer_refresh_token: refresh }),
        61004
      )
      assertErrcode(yield* componentExchange("any", token), 61004)
      assertErrcode(yield* componentRefresh("any", token), 61004)
      assertErrcode(yield* componentJscode2session("any", token), 61004)
      assert.strictEqual(yield* componentTokenErrcode(otherToken, OTHER.componentAppId), WORKS)
      yield* (yield* sandbox).setComponentIpWhitelist({ componentAppId: PLATFORM.componentAppId, refuse: false })
      assert.isObject((yield* queryAuth(token, code)).json.authorization_info)
    })))
})

describe("the checks of the endpoints that take a component_access_token", () => {
  it.effect("41002 / 40013 for component_appid, 41001 / 40001 / 42001 for the token, 40001 for another platform's", () =>
    run(Effect.gen(function*() {
      const token = yield* componentToken()
      const otherToken = yield* componentToken(OTHER)
      assertErrcode(yield* queryAuth(token, "x", ""), 41002)
      assertErrcode(yield* queryAuth(token, "x", "wxnotaplatform"), 40013)
      assertErrcode(yield* queryAuth(undefined, "x"), 41001, "access_token missing")
      assertErrcode(yield* queryAuth("90_unknown", "x"), 40001, "invalid credential")
      assertErrcode(yield* queryAuth(otherToken, "x"), 40001)
      assertErrcode(yield* componentExchange("x", otherToken), 40001)
      assertErrcode(yield* componentExchange("x", token, { component_appid: undefined }), 41002)
      assertErrcode(yield* componentExchange("x", token, { component_appid: "wxnotaplatform" }), 40013)
      assertErrcode(yield* componentExchange("x", undefined), 41001)
      yield* TestClock.adjust("7200 seconds")
      assertErrcode(yield* queryAuth(token, "x"), 42001, "access_token expired")
      assertErrcode(yield* componentJscode2session("x", token), 42001)
    })))

  it.effect("revokeComponentToken ends the platform's tokens at once (40001); a new one works", () =>
    run(Effect.gen(function*() {
      const token = yield* componentToken()
      const otherToken = yield* componentToken(OTHER)
      yield* (yield* sandbox).revokeComponentToken({ componentAppId: PLATFORM.componentAppId })
      assert.strictEqual(yield* componentTokenErrcode(token), 40001)
      assert.strictEqual(yield* componentTokenErrcode(otherToken, OTHER.componentAppId), WORKS)
      assert.strictEqual(yield* componentTokenErrcode(yield* componentToken()), WORKS)
    })))
})

describe("POST /cgi-bin/component/api_query_auth", () => {
  it.effect("exchanges the authorization code of an authorized push for the authorizer's tokens", () =>
    run(Effect.gen(function*() {
      const token = yield* componentToken()
      const code = yield* authorizationCode(MANAGED_MINI)
      assert.match(code, /^queryauthcode@@@[A-Za-z0-9_-]{80,}$/)
      const answer = yield* queryAuth(token, code)
      assert.strictEqual(answer.headers["content-type"], "application/json; encoding=utf-8")
      const info = answer.json.authorization_info
      assert.deepStrictEqual(Object.keys(info), [
        "authorizer_appid",
        "authorizer_access_token",
        "expires_in",
        "authorizer_refresh_token",
        "func_info"
      ])
      assert.strictEqual(info.authorizer_appid, MANAGED_MINI)
      assert.strictEqual(info.expires_in, 7200)
      assert.match(info.authorizer_refresh_token, /^refreshtoken@@@/)
      assert.isAbove(info.func_info.length, 0)
      assert.isNumber(info.func_info[0].funcscope_category.id)
      // the authorizer access token is the mini program's app token
      assert.strictEqual(yield* appTokenErrcode(info.authorizer_access_token), 40029)
      assert.deepInclude(yield* usage(), { authorizerTokens: 1 })
    })))

  it.effect("the code is single-use (61009), lives an hour (61010), and is its platform's only", () =>
    run(Effect.gen(function*() {
      const token = yield* componentToken()
      const code = yield* authorizationCode(MANAGED_OA)
      assert.isObject((yield* queryAuth(token, code)).json.authorization_info)
      assertErrcode(yield* queryAuth(token, code), 61009, "code is invalid")
      assertErrcode(yield* queryAuth(token, "queryauthcode@@@unknown"), 61009)
      const late = yield* authorizationCode(MANAGED_OA)
      const foreign = yield* authorizationCode(MANAGED_OA, OTHER.componentAppId)
      assertErrcode(yield* queryAuth(yield* componentToken(), foreign), 61009)
      yield* TestClock.adjust("3599 seconds")
      const fresh = yield* componentToken()
      assert.isObject((yield* queryAuth(fresh, late)).json.authorization_info)
      const later = yield* authorizationCode(MANAGED_OA)
      yield* TestClock.adjust("3600 seconds")
      assertErrcode(yield* queryAuth(yield* componentToken(), later), 61010, "code is expired")
    })))

  it.effect("43002 for GET, 47001 for a bad body, 41008 without a code; a code from before unauthorized is 61009", () =>
    run(Effect.gen(function*() {
      const token = yield* componentToken()
      assertErrcode(
        yield* request("GET", "/cgi-bin/component/api_query_auth", { params: { component_access_token: token } }),
        43002
      )
      assertErrcode(
        yield* request("POST", "/cgi-bin/component/api_query_auth", {
          params: { component_access_token: token },
          json: "{broken"
        }),
        47001
      )
      assertErrcode(yield* queryAuth(token, undefined), 41008)
      const code = yield* authorizationCode(MANAGED_OA)
      yield* (yield* sandbox).componentPush({
        componentAppId: PLATFORM.componentAppId,
        infoType: "unauthorized",
        appId: MANAGED_OA
      })
      assertErrcode(yield* queryAuth(token, code), 61009)
    })))
})

describe("POST /cgi-bin/component/api_authorizer_token", () => {
  it.effect("renews the authorizer access token with the refresh token; the previous one works 5 more minutes", () =>
    run(Effect.gen(function*() {
      const token = yield* componentToken()
      const info = yield* authorize(MANAGED_MINI, token)
      yield* TestClock.adjust("1 hour")
      const answer = yield* authorizerTokenCall(token, {
        authorizer_appid: MANAGED_MINI,
        authorizer_refresh_token: info.authorizer_refresh_token
      })
      assert.deepStrictEqual(Object.keys(answer.json), [
        "authorizer_access_token",
        "expires_in",
        "authorizer_refresh_token"
      ])
      assert.strictEqual(answer.json.expires_in, 7200)
      assert.strictEqual(answer.json.authorizer_refresh_token, info.authorizer_refresh_token)
      assert.notStrictEqual(answer.json.authorizer_access_token, info.authorizer_access_token)
      assert.strictEqual(yield* appTokenErrcode(answer.json.authorizer_access_token), 40029)
      yield* TestClock.adjust("299 seconds")
      assert.strictEqual(yield* appTokenErrcode(info.authorizer_access_token), 40029)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* appTokenErrcode(info.authorizer_access_token), 40001)
      assert.deepInclude(yield* usage(), { authorizerTokens: 2 })
    })))

  it.effect("61023 for a wrong refresh token, after the refresh token is revoked, and after unauthorized", () =>
    run(Effect.gen(function*() {
      const sb = yield* sandbox
      const token = yield* componentToken()
      const { authorizer_refresh_token: refreshToken } = yield* authorize(MANAGED_MINI, token)
      const renew = (value: string | undefined, appId: string = MANAGED_MINI) =>
        authorizerTokenCall(token, { authorizer_appid: appId, authorizer_refresh_token: value })
      assertErrcode(yield* renew("refreshtoken@@@wrong"), 61023, "refresh_token is invalid")
      assertErrcode(yield* renew(undefined), 61023)
      assertErrcode(yield* renew(refreshToken, MANAGED_OA), 61023)
      assertErrcode(yield* renew(refreshToken, "wxnosuchapp"), 40013)
      assertErrcode(yield* authorizerTokenCall(token, { authorizer_refresh_token: refreshToken }), 41002)
      assert.isString((yield* renew(refreshToken)).json.authorizer_access_token)

      yield* sb.revokeAuthorizerRefreshToken({ componentAppId: PLATFORM.componentAppId, appId: MANAGED_MINI })
      assertErrcode(yield* renew(refreshToken), 61023)
      // authorizing again gives a new refresh token
      const again = yield* authorize(MANAGED_MINI, token)
      assert.notStrictEqual(again.authorizer_refresh_token, refreshToken)
      assert.isString((yield* renew(again.authorizer_refresh_token)).json.authorizer_access_token)

      yield* sb.componentPush({
        componentAppId: PLATFORM.componentAppId,
        infoType: "unauthorized",
        appId: MANAGED_MINI
      })
      assertErrcode(yield* renew(again.authorizer_refresh_token), 61023)
      // and its access tokens ended with it
      assert.strictEqual(yield* appTokenErrcode(again.authorizer_access_token), 40001)
    })))
})

describe("the app token of a managed app", () => {
  it.effect("stable_token and token answer 61024 for a managed app, whatever the secret; after unauthorized they work", () =>
    run(Effect.gen(function*() {
      const sb = yield* sandbox
      const app = sb.apps.find((app) => app.appId === MANAGED_MINI)!
      const body = { grant_type: "client_credential", appid: app.appId, secret: app.secret }
      assertErrcode(
        yield* stableToken(body),
        61024,
        "must use api(api_component_token) to get token for component acct"
      )
      assertErrcode(yield* stableToken({ ...body, secret: "wrong" }), 61024)
      assertErrcode(yield* classicToken({ appid: app.appId, secret: app.secret }), 61024)
      assertErrcode(yield* stableToken({ ...body, appid: "wxnosuchapp" }), 40013)
      yield* sb.componentPush({ componentAppId: PLATFORM.componentAppId, infoType: "unauthorized", appId: app.appId })
      assert.isString((yield* stableToken(body)).json.access_token)
      assertErrcode(yield* stableToken({ ...body, secret: "wrong" }), 40125)
    })))

  it.effect("an app becomes managed when it authorizes a platform (an authorized push)", () =>
    run(Effect.gen(function*() {
      const sb = yield* sandbox
      assert.isString((yield* stableToken()).json.access_token)
      yield* sb.componentPush({ componentAppId: OTHER.componentAppId, infoType: "authorized", appId: MINI.appId })
      assertErrcode(yield* stableToken(), 61024)
      const token = yield* componentToken(OTHER)
      const code = yield* authorizationCode(MINI.appId, OTHER.componentAppId)
      const answer = yield* queryAuth(token, code, OTHER.componentAppId)
      assert.strictEqual(answer.json.authorization_info.authorizer_appid, MINI.appId)
      const error = yield* Effect.flip(
        sb.componentPush({
          componentAppId: OTHER.componentAppId,
          infoType: "authorized",
          appId: Sandbox.defaultApps.website.appId
        })
      )
      assert.match(error.message, /website app/)
    })))

  it.effect("the authorizer access token works at getuserphonenumber, checksession and resetusersessionkey", () =>
    run(Effect.gen(function*() {
      const sb = yield* sandbox
      const token = yield* componentToken()
      const { authorizer_access_token: appToken } = yield* authorize(MANAGED_MINI, token)
      const phoneCode = yield* sb.phoneNumberCode({ appId: MANAGED_MINI, user: "bob" })
      const phone = yield* request("POST", "/wxa/business/getuserphonenumber", {
        params: { access_token: appToken },
        json: { code: phoneCode }
      })
      assert.deepInclude(phone.json.phone_info, { phoneNumber: "13800000002" })
      assert.strictEqual(phone.json.phone_info.watermark.appid, MANAGED_MINI)

      const jsCode = yield* sb.miniProgramLogin({ appId: MANAGED_MINI, user: "bob" })
      const session = (yield* componentJscode2session(jsCode, token)).json
      const check = (signature: string) =>
        get("/wxa/checksession", {
          access_token: appToken,
          openid: session.openid,
          signature,
          sig_method: "hmac_sha256"
        })
      assertErrcode(yield* check("0".repeat(64)), 87009)
      const right = Crypto.createHmac("sha256", Buffer.from(session.session_key, "utf8")).update("").digest("hex")
      assert.deepStrictEqual((yield* check(right)).json, { errcode: 0, errmsg: "ok" })
      const reset = yield* get("/wxa/resetusersessionkey", {
        access_token: appToken,
        openid: session.openid,
        signature: right,
        sig_method: "hmac_sha256"
      })
      assert.strictEqual(reset.json.errcode, 0)
      assert.notStrictEqual(reset.json.session_key, session.session_key)
      assertErrcode(yield* check(right), 87009)
    })))
})

describe("consent with component_appid", () => {
  const OPEN = "https://open.weixin.qq.com/connect/oauth2/authorize"
  const params = (overrides: Record<string, string> = {}): Record<string, string> => ({
    appid: MANAGED_OA,
    redirect_uri: "https://saas.example.com/wechat/callback",
    response_type: "code",
    scope: "snsapi_userinfo",
    state: "s1",
    component_appid: PLATFORM.componentAppId,
    ...overrides
  })

  it.effect("the page carries component_appid; allow redirects with code, state and appid; deny with state and appid", () =>
    run(Effect.gen(function*() {
      const page = yield* request("GET", OPEN, { params: params() })
      assert.strictEqual(page.status, 200)
      assert.include(page.text, "托管公众号")
      assert.include(page.text, `<input type="hidden" name="component_appid" value="${PLATFORM.componentAppId}">`)
      assert.include(page.text, `id="component"`)
      const allow = yield* request("POST", OPEN, { form: { ...params(), user: "alice", decision: "allow" } })
      assert.strictEqual(allow.status, 302)
      const location = new URL(allow.headers.location)
      assert.strictEqual(location.origin + location.pathname, "https://saas.example.com/wechat/callback")
      assert.deepStrictEqual([...location.searchParams.keys()], ["code", "state", "appid"])
      assert.strictEqual(location.searchParams.get("state"), "s1")
      assert.strictEqual(location.searchParams.get("appid"), MANAGED_OA)
      const deny = yield* request("POST", OPEN, { form: { ...params(), user: "alice", decision: "deny" } })
      assert.strictEqual(deny.headers.location, `https://saas.example.com/wechat/callback?state=s1&appid=${MANAGED_OA}`)
    })))

  it.effect("a 400 page for an unknown platform or an app that has not authorized it", () =>
    run(Effect.gen(function*() {
      const unknown = yield* request("GET", OPEN, { params: params({ component_appid: "wxnotaplatform" }) })
      assert.strictEqual(unknown.status, 400)
      assert.include(unknown.text, `data-param="component_appid"`)
      const stranger = yield* request("GET", OPEN, { params: params({ component_appid: OTHER.componentAppId }) })
      assert.strictEqual(stranger.status, 400)
      assert.include(stranger.text, "has not authorized")
      const error = yield* Effect.flip(componentConsent({ componentAppId: OTHER.componentAppId }))
      assert.match(error.message, /component_appid/)
    })))

  it.effect("approve with componentAppId gives the callback with appid; an app with users offers only those", () =>
    Effect.gen(function*() {
      const { code, url } = yield* componentConsent()
      assert.strictEqual(url.searchParams.get("appid"), MANAGED_OA)
      assert.match(code, /^[A-Za-z0-9]{32}$/)
      const page = yield* request("GET", OPEN, { params: params() })
      assert.include(page.text, `id="user-alice"`)
      assert.notInclude(page.text, `id="user-bob"`)
      const refused = yield* request("POST", OPEN, { form: { ...params(), user: "bob", decision: "allow" } })
      assert.strictEqual(refused.status, 400)
      assert.match((yield* Effect.flip(componentConsent({ user: "bob" }))).message, /not a user of app/)
      const sb = yield* sandbox
      assert.match(
        (yield* Effect.flip(sb.miniProgramLogin({ appId: "wxlimitedmini", user: "bob" }))).message,
        /not a user of app/
      )
      assert.match(
        (yield* Effect.flip(sb.phoneNumberCode({ appId: "wxlimitedmini", user: "bob" }))).message,
        /not a user of app/
      )
      assert.isString(yield* sb.miniProgramLogin({ appId: "wxlimitedmini", user: "alice" }))
    }).pipe(
      Effect.provide(componentLayer([{
        ...PLATFORM,
        authorizers: [
          { appId: MANAGED_OA, kind: "officialAccount", users: ["alice"] },
          { appId: "wxlimitedmini", kind: "miniProgram", users: ["alice"] }
        ]
      }]))
    ))
})

describe("GET /sns/oauth2/component/access_token and refresh_token", () => {
  it.effect("exchanges a platform's consent code: the direct answer's shape, as text/plain; userinfo and auth take the token", () =>
    run(Effect.gen(function*() {
      const sb = yield* sandbox
      const token = yield* componentToken()
      const { code } = yield* componentConsent()
      const answer = yield* componentExchange(code, token)
      assert.strictEqual(answer.headers["content-type"], "text/plain")
      assert.deepStrictEqual(Object.keys(answer.json), [
        "access_token",
        "expires_in",
        "refresh_token",
        "openid",
        "scope",
        "unionid"
      ])
      const alice = Sandbox.defaultUsers[0]
      assert.deepInclude(answer.json, {
        expires_in: 7200,
        openid: sb.openidOf(MANAGED_OA, "alice"),
        scope: "snsapi_userinfo",
        unionid: alice.unionid
      })
      const profile = yield* userinfo(answer.json.access_token, answer.json.openid)
      assert.strictEqual(profile.json.nickname, alice.nickname)
      assert.deepStrictEqual((yield* auth(answer.json.access_token, answer.json.openid)).json, {
        errcode: 0,
        errmsg: "ok"
      })
      assertErrcode(yield* componentExchange(code, token), 40163, "code been used")
    })))

  it.effect("a platform's code is refused at the direct endpoint, and a direct code at the platform's (40029)", () =>
    run(Effect.gen(function*() {
      const sb = yield* sandbox
      const token = yield* componentToken()
      const { code } = yield* componentConsent()
      const app = sb.apps.find((app) => app.appId === MANAGED_OA)!
      assertErrcode(yield* exchange(code, app), 40029)
      const direct = new URL(
        yield* sb.approve({
          appId: MANAGED_OA,
          user: "alice",
          scope: "snsapi_base",
          redirectUri: "https://saas.example.com/cb"
        })
      ).searchParams.get("code")!
      assertErrcode(yield* componentExchange(direct, token), 40029)
      // both are still unused
      assert.isString((yield* componentExchange(code, token)).json.access_token)
      assert.isString((yield* exchange(direct, app)).json.access_token)
    })))

  it.effect("41002, 41008, 40002; 40013 for an unknown app or a mini program; 61003 for an app that has not authorized; 42003 after 5 minutes", () =>
    run(Effect.gen(function*() {
      const token = yield* componentToken()
      const { code } = yield* componentConsent()
      assertErrcode(yield* componentExchange(code, token, { appid: undefined }), 41002)
      assertErrcode(yield* componentExchange(undefined, token), 41008)
      assertErrcode(yield* componentExchange(code, token, { grant_type: "client_credential" }), 40002)
      assertErrcode(yield* componentExchange(code, token, { appid: "wxnosuchapp" }), 40013)
      assertErrcode(yield* componentExchange(code, token, { appid: MANAGED_MINI }), 40013)
      assertErrcode(yield* componentExchange(code, token, { appid: OA.appId }), 61003, "component is not authorized")
      assertErrcode(yield* componentExchange("unknowncode", token), 40029, "invalid code")
      yield* TestClock.adjust("5 minutes")
      assertErrcode(yield* componentExchange(code, token), 42003, "code expired")
    })))

  it.effect("refresh: the platform's grant only at the platform's endpoint (40030 crosswise); 61003 once the app unauthorized", () =>
    run(Effect.gen(function*() {
      const sb = yield* sandbox
      const token = yield* componentToken()
      const { code } = yield* componentConsent()
      const granted = (yield* componentExchange(code, token)).json
      const renewed = yield* componentRefresh(granted.refresh_token, token)
      assert.strictEqual(renewed.headers["content-type"], "text/plain")
      assert.deepInclude(renewed.json, {
        access_token: granted.access_token,
        refresh_token: granted.refresh_token,
        openid: granted.openid,
        expires_in: 7200
      })
      assertErrcode(yield* refresh(granted.refresh_token, sb.apps.find((app) => app.appId === MANAGED_OA)!), 40030)
      const direct = yield* exchange(yield* consent(), OA)
      assertErrcode(yield* componentRefresh(direct.json.refresh_token, token, { appid: OA.appId }), 61003)
      assertErrcode(yield* componentRefresh(direct.json.refresh_token, token), 40030, "invalid refresh_token")
      assertErrcode(yield* componentRefresh(undefined, token), 41003)
      assertErrcode(yield* componentRefresh(granted.refresh_token, token, { grant_type: "authorization_code" }), 40002)
      yield* sb.componentPush({ componentAppId: PLATFORM.componentAppId, infoType: "unauthorized", appId: MANAGED_OA })
      assertErrcode(yield* componentRefresh(granted.refresh_token, token), 61003)
    })))

  it.effect("refresh: 42002 30 days after consent", () =>
    run(Effect.gen(function*() {
      const { code } = yield* componentConsent()
      const granted = (yield* componentExchange(code, yield* componentToken())).json
      yield* TestClock.adjust("30 days")
      assertErrcode(yield* componentRefresh(granted.refresh_token, yield* componentToken()), 42002)
    })))

  it.effect("refresh: 42002 30 days after consent, not after the exchange", () =>
    run(Effect.gen(function*() {
      const { code } = yield* componentConsent()
      yield* TestClock.adjust("4 minutes")
      const granted = (yield* componentExchange(code, yield* componentToken())).json
      assert.isString(granted.refresh_token)
      // consent + 30 days - 1 s: still refreshes
      yield* TestClock.adjust(30 * 24 * 60 * 60 * 1000 - 4 * 60 * 1000 - 1000)
      assert.isString((yield* componentRefresh(granted.refresh_token, yield* componentToken())).json.access_token)
      // consent + 30 days: expired
      yield* TestClock.adjust("1 second")
      assertErrcode(
        yield* componentRefresh(granted.refresh_token, yield* componentToken()),
        42002,
        "refresh_token expired"
      )
    })))
})

describe("GET /sns/component/jscode2session", () => {
  it.effect("exchanges a js_code of a managed mini program for openid and session_key, as text/plain", () =>
    run(Effect.gen(function*() {
      const sb = yield* sandbox
      const token = yield* componentToken()
      const jsCode = yield* sb.miniProgramLogin({ appId: MANAGED_MINI, user: "carol" })
      const answer = yield* componentJscode2session(jsCode, token)
      assert.strictEqual(answer.headers["content-type"], "text/plain")
      assert.deepStrictEqual(Object.keys(answer.json), ["session_key", "openid"])
      assert.strictEqual(answer.json.openid, sb.openidOf(MANAGED_MINI, "carol"))
      assert.match(answer.json.session_key, /^[A-Za-z0-9+/]{22}==$/)
      assertErrcode(yield* componentJscode2session(jsCode, token), 40163)
      // the session key is the user's current one
      const { encryptedData } = yield* sb.encryptUserData({ appId: MANAGED_MINI, user: "carol" })
      assert.isString(encryptedData)
    })))

  it.effect("41002, 41008, 40002, 40013 (an official account), 61003 (not authorized), 40029 (unknown or 5 minutes old)", () =>
    run(Effect.gen(function*() {
      const sb = yield* sandbox
      const token = yield* componentToken()
      const jsCode = yield* sb.miniProgramLogin({ appId: MANAGED_MINI, user: "alice" })
      assertErrcode(yield* componentJscode2session(jsCode, token, { appid: undefined }), 41002)
      assertErrcode(yield* componentJscode2session(undefined, token), 41008)
      assertErrcode(yield* componentJscode2session(jsCode, token, { grant_type: "refresh_token" }), 40002)
      assertErrcode(yield* componentJscode2session(jsCode, token, { appid: MANAGED_OA }), 40013)
      assertErrcode(yield* componentJscode2session(jsCode, token, { appid: MINI.appId }), 61003)
      assertErrcode(yield* componentJscode2session("unknown", token), 40029)
      yield* TestClock.adjust("5 minutes")
      assertErrcode(yield* componentJscode2session(jsCode, yield* componentToken()), 40029)
    })))
})

describe("counters and faults", () => {
  it.effect("componentTokenUsage counts the calls naming the platform (faulted ones too); stats and resetStats", () =>
    run(Effect.gen(function*() {
      const sb = yield* sandbox
      const token = yield* componentToken()
      yield* componentToken()
      yield* sb.injectFault({ kind: "busy", endpoint: "api_component_token" })
      assertErrcode(yield* componentTokenCall(credentials(yield* ticket())), -1)
      yield* queryAuth(token, "x")
      yield* componentExchange("x", token)
      yield* componentRefresh("x", token)
      yield* componentJscode2session("x", token)
      yield* componentToken(OTHER)
      assert.deepStrictEqual(yield* usage(), {
        calls: {
          api_component_token: 3,
          api_query_auth: 1,
          api_authorizer_token: 0,
          component_access_token: 1,
          component_refresh_token: 1,
          component_jscode2session: 1
        },
        tickets: 3,
        componentTokens: 2,
        authorizerTokens: 0
      })
      assert.strictEqual((yield* usage(OTHER.componentAppId)).calls.api_component_token, 1)
      const stats = yield* sb.stats
      assert.deepInclude(stats, { api_component_token: 4, api_query_auth: 1, component_jscode2session: 1 })
      yield* sb.resetStats
      assert.strictEqual((yield* usage()).calls.api_component_token, 0)
      assert.match(
        (yield* Effect.flip(sb.componentTokenUsage({ componentAppId: "wxnope" }))).message,
        /unknown component/
      )
    })))

  it.effect("a fault answers in the endpoint's place and has no effect: the code stays unused", () =>
    run(Effect.gen(function*() {
      const sb = yield* sandbox
      const token = yield* componentToken()
      const code = yield* authorizationCode(MANAGED_OA)
      yield* sb.injectFault({ kind: "nonFinite", endpoint: "api_query_auth", field: "expires_in" })
      const faulted = yield* queryAuth(token, code)
      assert.include(faulted.text, `"expires_in":1e400`)
      yield* sb.injectFault({ kind: "nonFinite", endpoint: "api_component_token" })
      assert.include((yield* componentTokenCall(credentials(yield* ticket()))).text, `"expires_in":1e400`)
      yield* sb.injectFault({ kind: "wrongShape", endpoint: "component_access_token" })
      assert.deepStrictEqual((yield* componentExchange("x", token)).json, {
        access_token: 123,
        expires_in: "7200",
        openid: null
      })
      assert.isObject((yield* queryAuth(token, code)).json.authorization_info)
    })))
})

describe("controls over HTTP (/__sandbox/component/...)", () => {
  it.effect("push, usage, ip, refresh-token/revoke, token/revoke, approve with componentAppId, config", () =>
    run(Effect.gen(function*() {
      const post = (path: string, body: unknown) => request("POST", `http://sandbox${path}`, { json: body })
      const push = yield* post("/__sandbox/component/push", {
        componentAppId: PLATFORM.componentAppId,
        infoType: "component_verify_ticket"
      })
      assert.strictEqual(push.status, 200)
      assert.deepStrictEqual(Object.keys(push.json.query), [
        "signature",
        "timestamp",
        "nonce",
        "encrypt_type",
        "msg_signature"
      ])
      const value = push.json.message.ComponentVerifyTicket
      const tokenAnswer = yield* componentTokenCall(credentials(value))
      const token = tokenAnswer.json.component_access_token
      assert.isString(token)
      const usageAnswer = yield* get(`http://sandbox/__sandbox/component/usage`, {
        componentAppId: PLATFORM.componentAppId
      })
      assert.deepInclude(usageAnswer.json, { tickets: 1, componentTokens: 1 })
      assert.strictEqual((yield* get("http://sandbox/__sandbox/component/usage")).status, 400)
      assert.strictEqual(
        (yield* post("/__sandbox/component/ip", { componentAppId: PLATFORM.componentAppId, refuse: true })).status,
        200
      )
      assert.strictEqual(yield* componentTokenErrcode(token), 61004)
      yield* post("/__sandbox/component/ip", { componentAppId: PLATFORM.componentAppId, refuse: false })
      const info = yield* authorize(MANAGED_MINI, token)
      assert.strictEqual(
        (yield* post("/__sandbox/component/refresh-token/revoke", {
          componentAppId: PLATFORM.componentAppId,
          appId: MANAGED_MINI
        })).status,
        200
      )
      assertErrcode(
        yield* authorizerTokenCall(token, {
          authorizer_appid: MANAGED_MINI,
          authorizer_refresh_token: info.authorizer_refresh_token
        }),
        61023
      )
      yield* post("/__sandbox/component/token/revoke", { componentAppId: PLATFORM.componentAppId })
      assert.strictEqual(yield* componentTokenErrcode(token), 40001)
      const approved = yield* post("/__sandbox/approve", {
        appId: MANAGED_OA,
        user: "alice",
        scope: "snsapi_base",
        redirectUri: "https://saas.example.com/cb",
        componentAppId: PLATFORM.componentAppId
      })
      assert.strictEqual(new URL(approved.json.url).searchParams.get("appid"), MANAGED_OA)
      const config = (yield* get("http://sandbox/__sandbox/config")).json
      assert.deepInclude(config.components[0], {
        componentAppId: PLATFORM.componentAppId,
        token: PLATFORM.token,
        pushInterval: false,
        inProcessReceiver: false
      })
      assert.strictEqual(config.endpoints.api_component_token, "/cgi-bin/component/api_component_token")
      const bad = yield* post("/__sandbox/component/push", { componentAppId: PLATFORM.componentAppId, infoType: "x" })
      assert.strictEqual(bad.status, 400)
      assert.match(bad.json.error, /infoType: must be one of/)
      const unknown = yield* post("/__sandbox/component/ip", { componentAppId: "wxnope", refuse: true })
      assert.strictEqual(unknown.status, 400)
      assert.match(unknown.json.error, /unknown component/)
    })))
})
