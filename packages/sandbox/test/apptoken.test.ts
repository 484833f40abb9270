/**
 * The app access token: `POST /cgi-bin/stable_token` (normal and forced), classic `GET /cgi-bin/token`,
 * their quotas, and the checks of the APIs that take one (41001, 40001, 42001, 48001), in process
 * on the TestClock.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import {
  assertErrcode,
  classicToken,
  forceStableToken,
  login,
  MINI,
  OA,
  request,
  sandboxLayer,
  stableToken
} from "./helpers.js"

const run = <A, E>(effect: Effect.Effect<A, E, Sandbox.Sandbox | HttpClient.HttpClient>) =>
  Effect.provide(effect, sandboxLayer())

const credentials = { grant_type: "client_credential", appid: MINI.appId, secret: MINI.secret }

/** A token from an answer, asserting it is one. */
const tokenOf = (answer: { readonly json: any; readonly text: string }): string => {
  assert.isString(answer.json?.access_token, answer.text)
  return answer.json.access_token
}

/**
 * What an API that takes an app token says of it: `getuserphonenumber` with a code that does not
 * exist answers 40029 once the token has passed its checks, and the token's errcode otherwise.
 */
const tokenErrcode = (token: string | undefined) =>
  Effect.map(
    request("POST", "/wxa/business/getuserphonenumber", { params: { access_token: token }, json: { code: "nope" } }),
    (answer) => answer.json.errcode as number
  )

/** 40029 from `tokenErrcode`: the token works. */
const WORKS = 40029

const usage = (appId = MINI.appId) => Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.appTokenUsage({ appId }))

describe("POST /cgi-bin/stable_token", () => {
  it.effect("issues {access_token, expires_in: 7200} for a JSON body, as application/json", () =>
    run(Effect.gen(function*() {
      const answer = yield* stableToken()
      assert.strictEqual(answer.status, 200)
      assert.strictEqual(answer.headers["content-type"], "application/json; encoding=utf-8")
      assert.deepStrictEqual(Object.keys(answer.json), ["access_token", "expires_in"])
      assert.strictEqual(answer.json.expires_in, 7200)
      assert.match(answer.json.access_token, /^[A-Za-z0-9_-]{100,512}$/)
      assert.strictEqual(yield* tokenErrcode(answer.json.access_token), WORKS)
    })))

  it.effect("normal mode hands back the same token while it is valid, expires_in its remaining life", () =>
    run(Effect.gen(function*() {
      const first = tokenOf(yield* stableToken())
      yield* TestClock.adjust("1000 seconds")
      const again = yield* stableToken({ ...credentials, force_refresh: false })
      assert.deepStrictEqual(again.json, { access_token: first, expires_in: 6200 })
      yield* TestClock.adjust("5899 seconds") // 1 s before its last 5 minutes
      assert.deepStrictEqual((yield* stableToken()).json, { access_token: first, expires_in: 301 })
    })))

  it.effect("normal mode issues a new token in the last 5 minutes; the old one works until it expires", () =>
    run(Effect.gen(function*() {
      const old = tokenOf(yield* stableToken())
      yield* TestClock.adjust("6900 seconds")
      const renewed = yield* stableToken()
      const fresh = tokenOf(renewed)
      assert.notStrictEqual(fresh, old)
      assert.strictEqual(renewed.json.expires_in, 7200)
      assert.strictEqual(tokenOf(yield* stableToken()), fresh, "the new one is now the one handed back")
      assert.strictEqual(yield* tokenErrcode(old), WORKS)
      yield* TestClock.adjust("299 seconds")
      assert.strictEqual(yield* tokenErrcode(old), WORKS)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* tokenErrcode(old), 42001)
      assert.strictEqual(yield* tokenErrcode(fresh), WORKS)
    })))

  it.effect("after a token expired unused, normal mode issues a new one", () =>
    run(Effect.gen(function*() {
      const old = tokenOf(yield* stableToken())
      yield* TestClock.adjust("3 hours")
      const answer = yield* stableToken()
      assert.notStrictEqual(tokenOf(answer), old)
      assert.strictEqual(answer.json.expires_in, 7200)
    })))

  it.effect("force_refresh issues a new token and ends the previous one at once (40001)", () =>
    run(Effect.gen(function*() {
      const old = tokenOf(yield* stableToken())
      yield* TestClock.adjust("10 seconds")
      const forced = yield* forceStableToken()
      const fresh = tokenOf(forced)
      assert.notStrictEqual(fresh, old)
      assert.strictEqual(forced.json.expires_in, 7200)
      assert.strictEqual(yield* tokenErrcode(old), 40001)
      assert.strictEqual(yield* tokenErrcode(fresh), WORKS)
      assert.strictEqual(tokenOf(yield* stableToken()), fresh)
      assert.strictEqual((yield* usage()).forceRefreshes, 1)
    })))

  it.effect("a force also ends the token being replaced in its last 5 minutes", () =>
    run(Effect.gen(function*() {
      const old = tokenOf(yield* stableToken())
      yield* TestClock.adjust("6950 seconds")
      const renewed = tokenOf(yield* stableToken())
      assert.strictEqual(yield* tokenErrcode(old), WORKS)
      tokenOf(yield* forceStableToken())
      assert.strictEqual(yield* tokenErrcode(old), 40001)
      assert.strictEqual(yield* tokenErrcode(renewed), 40001)
    })))

  it.effect("a force within 30 s of the last hands back the same token, uncounted; after 30 s a new one", () =>
    run(Effect.gen(function*() {
      const forced = tokenOf(yield* forceStableToken())
      yield* TestClock.adjust("29 seconds")
      const again = yield* forceStableToken()
      assert.deepStrictEqual(again.json, { access_token: forced, expires_in: 7171 })
      assert.strictEqual(yield* tokenErrcode(forced), WORKS)
      assert.strictEqual((yield* usage()).forceRefreshes, 1)
      yield* TestClock.adjust("1 second")
      const next = tokenOf(yield* forceStableToken())
      assert.notStrictEqual(next, forced)
      assert.strictEqual(yield* tokenErrcode(forced), 40001)
      assert.strictEqual((yield* usage()).forceRefreshes, 2)
    })))

  it.effect("20 forces a day, then 45009 (the token keeps working); the quota resets at midnight in Beijing", () =>
    run(Effect.gen(function*() {
      // the TestClock starts at 1970-01-01T00:00Z, 08:00 in Beijing
      let last = ""
      for (let i = 0; i < 20; i++) {
        last = tokenOf(yield* forceStableToken())
        yield* TestClock.adjust("30 seconds")
      }
      assert.deepStrictEqual(yield* usage(), { forceRefreshes: 20, forceRefreshLimit: 20, tokens: 0, tokenLimit: 2000 })
      assertErrcode(yield* forceStableToken(), 45009, "reach max api daily quota limit")
      assert.strictEqual(yield* tokenErrcode(last), WORKS)
      assert.strictEqual(tokenOf(yield* stableToken()), last, "normal mode is not limited")
      yield* TestClock.adjust("15 hours") // 23:10 in Beijing
      assertErrcode(yield* forceStableToken(), 45009)
      yield* TestClock.adjust("50 minutes") // 00:00 the next day
      assert.strictEqual((yield* usage()).forceRefreshes, 0)
      assert.notStrictEqual(tokenOf(yield* forceStableToken()), last)
    })))

  it.effect("limits.forceRefreshPerDay changes the force quota", () =>
    Effect.gen(function*() {
      tokenOf(yield* forceStableToken())
      yield* TestClock.adjust("1 minute")
      assertErrcode(yield* forceStableToken(), 45009)
      assert.strictEqual((yield* usage()).forceRefreshLimit, 1)
    }).pipe(Effect.provide(sandboxLayer({ limits: { forceRefreshPerDay: 1 } }))))

  it.effect("each app has its own token", () =>
    run(Effect.gen(function*() {
      const mini = tokenOf(yield* stableToken())
      const official = tokenOf(
        yield* stableToken({ grant_type: "client_credential", appid: OA.appId, secret: OA.secret })
      )
      assert.notStrictEqual(mini, official)
      tokenOf(yield* forceStableToken(OA))
      assert.strictEqual(yield* tokenErrcode(mini), WORKS)
    })))

  it.effect("43002 for another method than POST", () =>
    run(Effect.gen(function*() {
      assertErrcode(
        yield* request("GET", "/cgi-bin/stable_token", { params: credentials }),
        43002,
        "require POST method"
      )
    })))

  it.effect("40002 for a form-encoded body (it has no JSON fields), a missing or wrong grant_type", () =>
    run(Effect.gen(function*() {
      assertErrcode(yield* request("POST", "/cgi-bin/stable_token", { form: credentials }), 40002, "invalid grant_type")
      assertErrcode(yield* stableToken(""), 40002)
      assertErrcode(yield* stableToken({ ...credentials, grant_type: undefined }), 40002)
      assertErrcode(yield* stableToken({ ...credentials, grant_type: "authorization_code" }), 40002)
    })))

  it.effect("47001 for broken JSON, JSON that is not an object, or a field of the wrong type", () =>
    run(Effect.gen(function*() {
      for (
        const body of [
          "{\"grant_type\":\"client_credential\",",
          "[]",
          "\"client_credential\"",
          JSON.stringify({ ...credentials, appid: 42 }),
          JSON.stringify({ ...credentials, secret: ["x"] }),
          JSON.stringify({ ...credentials, force_refresh: "true" })
        ]
      ) {
        assertErrcode(yield* stableToken(body), 47001, "data format error")
      }
    })))

  it.effect("41002 / 41004 for a missing appid / secret, 40013 for an unknown appid, 40125 for a wrong secret", () =>
    run(Effect.gen(function*() {
      assertErrcode(yield* stableToken({ ...credentials, appid: undefined }), 41002, "appid missing")
      assertErrcode(yield* stableToken({ ...credentials, secret: "" }), 41004, "appsecret missing")
      assertErrcode(yield* stableToken({ ...credentials, appid: "wx0000000000000000" }), 40013, "invalid appid")
      assertErrcode(yield* stableToken({ ...credentials, secret: OA.secret }), 40125, "invalid appsecret")
      assertErrcode(yield* stableToken({ ...credentials, secret: OA.secret, force_refresh: true }), 40125)
      // none of them issued a token or used a force
      assert.strictEqual((yield* usage()).forceRefreshes, 0)
      assert.strictEqual((yield* stableToken()).json.expires_in, 7200)
    })))
})

describe("GET /cgi-bin/token", () => {
  it.effect("issues a new token at each call; the previous one works 5 more minutes, then 40001", () =>
    run(Effect.gen(function*() {
      const first = yield* classicToken()
      assert.strictEqual(first.headers["content-type"], "application/json; encoding=utf-8")
      assert.deepStrictEqual(Object.keys(first.json), ["access_token", "expires_in"])
      assert.strictEqual(first.json.expires_in, 7200)
      yield* TestClock.adjust("1 minute")
      const second = tokenOf(yield* classicToken())
      assert.notStrictEqual(second, tokenOf(first))
      yield* TestClock.adjust("299 seconds")
      assert.strictEqual(yield* tokenErrcode(tokenOf(first)), WORKS)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* tokenErrcode(tokenOf(first)), 40001)
      assert.strictEqual(yield* tokenErrcode(second), WORKS)
      assert.strictEqual((yield* usage()).tokens, 2)
    })))

  it.effect("a token nobody replaced expires after 7200 s: 42001", () =>
    run(Effect.gen(function*() {
      const token = tokenOf(yield* classicToken())
      yield* TestClock.adjust("7199 seconds")
      assert.strictEqual(yield* tokenErrcode(token), WORKS)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* tokenErrcode(token), 42001)
    })))

  it.effect("classic and stable tokens are independent of each other", () =>
    run(Effect.gen(function*() {
      const stable = tokenOf(yield* stableToken())
      const classic = tokenOf(yield* classicToken())
      yield* TestClock.adjust("10 minutes")
      // a classic call neither replaces nor ends the stable token
      const classicNext = tokenOf(yield* classicToken())
      assert.strictEqual(tokenOf(yield* stableToken()), stable)
      yield* TestClock.adjust("5 minutes")
      assert.strictEqual(yield* tokenErrcode(classic), 40001)
      assert.strictEqual(yield* tokenErrcode(stable), WORKS)
      // a force neither replaces nor ends the classic token
      assert.notStrictEqual(tokenOf(yield* forceStableToken()), stable)
      assert.strictEqual(yield* tokenErrcode(stable), 40001)
      assert.strictEqual(yield* tokenErrcode(classicNext), WORKS)
    })))

  it.effect("the daily quota (limits.tokenPerDay, default 2000), then 45009 until midnight in Beijing", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 3; i++) tokenOf(yield* classicToken())
      assertErrcode(yield* classicToken(), 45009, "reach max api daily quota limit")
      assert.deepStrictEqual(yield* usage(), { forceRefreshes: 0, forceRefreshLimit: 20, tokens: 3, tokenLimit: 3 })
      yield* TestClock.adjust("16 hours")
      tokenOf(yield* classicToken())
    }).pipe(Effect.provide(sandboxLayer({ limits: { tokenPerDay: 3 } }))))

  it.effect("40002, 41002, 41004, 40013, 40125, and no token issued", () =>
    run(Effect.gen(function*() {
      assertErrcode(yield* classicToken({ grant_type: "authorization_code" }), 40002, "invalid grant_type")
      assertErrcode(yield* classicToken({ grant_type: undefined }), 40002)
      assertErrcode(yield* classicToken({ appid: undefined }), 41002)
      assertErrcode(yield* classicToken({ secret: undefined }), 41004)
      assertErrcode(yield* classicToken({ appid: "wx0000000000000000" }), 40013)
      assertErrcode(yield* classicToken({ secret: "0".repeat(32) }), 40125)
      assert.strictEqual((yield* usage()).tokens, 0)
    })))
})

describe("an app with wrongSecretErrcode: 40001", () => {
  it.effect("stable_token and token answer a wrong secret with 40001, and issue nothing", () =>
    Effect.gen(function*() {
      assertErrcode(yield* stableToken({ ...credentials, secret: OA.secret }), 40001, "invalid credential")
      assertErrcode(yield* classicToken({ secret: "0".repeat(32) }), 40001, "invalid credential")
      assert.deepInclude(yield* usage(), { forceRefreshes: 0, tokens: 0 })
      assert.strictEqual((yield* stableToken()).json.expires_in, 7200)
    }).pipe(Effect.provide(sandboxLayer({ apps: [OA, { ...MINI, wrongSecretErrcode: 40001 }] }))))
})

describe("an API that takes an app token", () => {
  it.effect("41001 without one, 40001 for an unknown one (a user's OAuth token too), 48001 for another kind of app", () =>
    run(Effect.gen(function*() {
      assert.strictEqual(yield* tokenErrcode(undefined), 41001)
      assert.strictEqual(yield* tokenErrcode("89_not-a-token"), 40001)
      const user = yield* login()
      assert.strictEqual(yield* tokenErrcode(user.access_token), 40001)
      const official = tokenOf(
        yield* stableToken({ grant_type: "client_credential", appid: OA.appId, secret: OA.secret })
      )
      assert.strictEqual(yield* tokenErrcode(official), 48001)
    })))

  it.effect("revokeAppToken: 40001 at the APIs, normal mode still hands the token back, a force gets a working one", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const token = tokenOf(yield* stableToken())
      const classic = tokenOf(yield* classicToken())
      yield* sandbox.revokeAppToken({ appId: MINI.appId })
      assert.strictEqual(yield* tokenErrcode(token), 40001)
      assert.strictEqual(yield* tokenErrcode(classic), 40001)
      assert.strictEqual(tokenOf(yield* stableToken()), token)
      const forced = tokenOf(yield* forceStableToken())
      assert.notStrictEqual(forced, token)
      assert.strictEqual(yield* tokenErrcode(forced), WORKS)
      assert.strictEqual(yield* tokenErrcode(tokenOf(yield* classicToken())), WORKS)
    })))

  it.effect("revokeAppToken and appTokenUsage fail with SandboxError for an unknown app", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const revoke = yield* Effect.flip(sandbox.revokeAppToken({ appId: "wx0000000000000000" }))
      assert.instanceOf(revoke, Sandbox.SandboxError)
      assert.match(revoke.message, /unknown app/)
      assert.match((yield* Effect.flip(sandbox.appTokenUsage({ appId: "nope" }))).message, /unknown app/)
    })))
})
