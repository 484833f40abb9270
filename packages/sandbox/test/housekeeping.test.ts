/**
 * The housekeeping sweeps (every 1000 codes, logins, tokens or grants, they forget what has been
 * dead for a day) keep a long-running sandbox small without changing an answer: a token that was
 * issued and has expired answers 42001 / 42002 whatever the number of calls made since, as WeChat
 * does, for 90 days of the sandbox's time after its expiry (then it is forgotten: 40001 / 40030).
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as Tombstones from "../src/internal/tombstones.js"
import {
  appTokenErrcode,
  authorizationCode,
  componentLayer,
  componentToken,
  componentTokenErrcode,
  MANAGED_OA,
  OTHER,
  WORKS
} from "./componentHelpers.js"
import { assertErrcode, auth, classicToken, login, MINI, refresh, sandboxLayer, userinfo, WEB } from "./helpers.js"

const run = <A, E>(effect: Effect.Effect<A, E, Sandbox.Sandbox | HttpClient.HttpClient>) =>
  Effect.provide(effect, sandboxLayer())

/** 1000 wx.login() codes: the engine's sweep runs once among them. */
const sweepLogins = Effect.flatMap(
  Sandbox.Sandbox,
  (sandbox) => Effect.repeatN(sandbox.miniProgramLogin({ appId: MINI.appId, user: "bob" }), 999)
)

describe("the sweep keeps the answers", () => {
  it.effect("an expired refresh token answers 42002 after the sweep, a replaced access token 42001", () =>
    run(Effect.gen(function*() {
      const token = yield* login()
      yield* TestClock.adjust("3 hours")
      const renewed = yield* refresh(token.refresh_token)
      assert.notStrictEqual(renewed.json.access_token, token.access_token)
      yield* TestClock.adjust("32 days")
      assertErrcode(yield* refresh(token.refresh_token), 42002, "refresh_token expired")
      assertErrcode(yield* userinfo(token.access_token, token.openid), 42001)
      yield* sweepLogins
      assertErrcode(yield* refresh(token.refresh_token), 42002, "refresh_token expired")
      assertErrcode(yield* userinfo(token.access_token, token.openid), 42001, "access_token expired")
      assertErrcode(yield* auth(token.access_token, token.openid), 42001)
      assertErrcode(yield* userinfo(renewed.json.access_token, token.openid), 42001)
      // still another app's: 40030, as before the sweep; a token never issued: 40030 / 40001
      assertErrcode(yield* refresh(token.refresh_token, WEB), 40030)
      assertErrcode(yield* refresh("never-issued"), 40030)
      assertErrcode(yield* userinfo("never-issued", token.openid), 40001)
      // bounded: 90 days after its expiry, the next sweep forgets it
      yield* TestClock.adjust("90 days")
      yield* sweepLogins
      assertErrcode(yield* refresh(token.refresh_token), 40030)
      assertErrcode(yield* userinfo(token.access_token, token.openid), 40001)
    })))

  it.effect("an expired app token answers 42001 after the sweep (every 1000 tokens)", () =>
    run(Effect.gen(function*() {
      const token = (yield* classicToken()).json.access_token as string
      yield* TestClock.adjust("2 days")
      assert.strictEqual(yield* appTokenErrcode(token), 42001)
      for (let i = 0; i < 1000; i++) yield* classicToken()
      assert.strictEqual(yield* appTokenErrcode(token), 42001)
    })))

  it.effect("an expired component access token answers 42001 after the sweep, to its platform only", () =>
    Effect.provide(
      Effect.gen(function*() {
        const token = yield* componentToken()
        assert.strictEqual(yield* componentTokenErrcode(token), WORKS)
        yield* TestClock.adjust("2 days")
        assert.strictEqual(yield* componentTokenErrcode(token), 42001)
        for (let i = 0; i < 1000; i++) yield* authorizationCode(MANAGED_OA)
        assert.strictEqual(yield* componentTokenErrcode(token), 42001)
        assert.strictEqual(yield* componentTokenErrcode(token, OTHER.componentAppId), 40001)
      }),
      componentLayer()
    ))
})

describe("tombstones are bounded", () => {
  it("at most the cap, the token forgotten first evicted first; 90 days after the expiry each is gone", () => {
    const set = new Tombstones.Tombstones<string>(3)
    for (const token of ["a", "b", "c", "d"]) set.add(token, 0, `app-${token}`)
    assert.strictEqual(set.size, 3)
    assert.isUndefined(set.get("a", 0), "the first forgotten is evicted")
    assert.strictEqual(set.get("d", 0), "app-d")
    assert.strictEqual(set.get("b", Tombstones.TOMBSTONE_TTL_MS), "app-b")
    assert.isUndefined(set.get("b", Tombstones.TOMBSTONE_TTL_MS + 1))
    set.prune(Tombstones.TOMBSTONE_TTL_MS + 1)
    assert.strictEqual(set.size, 0)
    assert.strictEqual(Tombstones.TOMBSTONE_CAP, 50_000)
  })
})
