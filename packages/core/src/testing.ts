/**
 * Test helpers for code built on `@wxauth/core`: the `TokenStore` contract suite every store adapter
 * runs (memory, Redis, SQL), and token fixtures. Needs `vitest` and `@effect/vitest` (optional peers).
 *
 * @since 0.1.0
 */
import { assert, describe, it as vitestIt, layer as layerSuite } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Crypto from "node:crypto"
import * as OAuthToken from "./OAuthToken.js"
import * as TokenStore from "./TokenStore.js"

const hour = 60 * 60 * 1000

/** 2025-01-01T00:00:00Z */
const realisticNow = 1_735_689_600_000

/**
 * A random id in WeChat's openid style, unique per call (so suites sharing a database do not collide).
 *
 * @since 0.1.0
 * @category fixtures
 */
export const randomOpenId = (): string => `o${Crypto.randomBytes(20).toString("base64url").slice(0, 27)}`

/**
 * A random appid in WeChat's style.
 *
 * @since 0.1.0
 * @category fixtures
 */
export const randomAppId = (): string => `wx${Crypto.randomBytes(8).toString("hex")}`

/**
 * A token fixture obtained `now` (by `Clock`), with random token values, 2 hours of access and 30
 * days of refresh life. Any field can be overridden.
 *
 * @since 0.1.0
 * @category fixtures
 */
export const makeToken = (
  overrides: Partial<ConstructorParameters<typeof OAuthToken.OAuthToken>[0]> & { readonly openid?: string } = {}
): Effect.Effect<OAuthToken.OAuthToken> =>
  Effect.map(Clock.currentTimeMillis, (now) => {
    const obtainedAt = overrides.obtainedAt ?? now
    return new OAuthToken.OAuthToken({
      openid: randomOpenId(),
      accessToken: Redacted.make(`AT_${Crypto.randomBytes(24).toString("hex")}`),
      refreshToken: Redacted.make(`RT_${Crypto.randomBytes(24).toString("hex")}`),
      scope: ["snsapi_userinfo"],
      isSnapshotUser: false,
      obtainedAt,
      expiresAt: obtainedAt + 2 * hour,
      refreshExpiresAt: obtainedAt + OAuthToken.refreshTokenLifeMillis,
      ...overrides
    })
  })

const sameToken = (actual: OAuthToken.OAuthToken, expected: OAuthToken.OAuthToken) => {
  assert.strictEqual(actual.openid, expected.openid)
  assert.strictEqual(Redacted.value(actual.accessToken), Redacted.value(expected.accessToken))
  assert.strictEqual(Redacted.value(actual.refreshToken), Redacted.value(expected.refreshToken))
  assert.deepStrictEqual([...actual.scope], [...expected.scope])
  assert.strictEqual(actual.unionid, expected.unionid)
  assert.strictEqual(actual.isSnapshotUser, expected.isSnapshotUser)
  assert.strictEqual(actual.obtainedAt, expected.obtainedAt)
  assert.strictEqual(actual.expiresAt, expected.expiresAt)
  assert.strictEqual(actual.refreshExpiresAt, expected.refreshExpiresAt)
}

const getSome = (appId: string, openid: string) =>
  Effect.flatMap(TokenStore.TokenStore, (store) => store.get(appId, openid)).pipe(
    Effect.map((found) => {
      assert.isTrue(Option.isSome(found), "expected a stored token")
      return Option.getOrThrow(found)
    })
  )

/**
 * The contract every `TokenStore` honours, as a vitest suite: get / set / remove, apps kept apart,
 * newer-wins (on a tie the last write wins), the code memo, expiry by `Clock` (driven with
 * `TestClock`), and 50 concurrent writers leaving the newest token.
 *
 * @example
 * ```ts
 * import { TokenStore } from "@wxauth/core"
 * import { tokenStoreSuite } from "@wxauth/core/testing"
 *
 * tokenStoreSuite("memory", TokenStore.layerMemory)
 * // or a store of its own for each test (e.g. its own key prefix):
 * tokenStoreSuite("memory, per test", () => TokenStore.layerMemory)
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const tokenStoreSuite = <E>(
  name: string,
  layer: Layer.Layer<TokenStore.TokenStore, E> | (() => Layer.Layer<TokenStore.TokenStore, E>)
): void => {
  describe(`TokenStore contract: ${name}`, () => {
    const cases: Array<readonly [string, () => Effect.Effect<void, unknown, TokenStore.TokenStore>]> = []
    const it = {
      effect: (title: string, test: () => Effect.Effect<void, unknown, TokenStore.TokenStore>) => {
        cases.push([title, test])
      }
    }
    {
      const appId = randomAppId()
      // A realistic "now" (not the TestClock's epoch 0), so a mix-up of seconds and milliseconds shows.
      const realistic = (test: () => Effect.Effect<void, unknown, TokenStore.TokenStore>) => () =>
        Effect.zipRight(
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            now < realisticNow ? TestClock.setTime(realisticNow) : Effect.void),
          test()
        )

      it.effect(
        "get of an unknown user is None",
        realistic(() =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            assert.isTrue(Option.isNone(yield* store.get(appId, randomOpenId())))
          })
        )
      )

      it.effect(
        "set then get returns every field, tokens included",
        realistic(() =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const token = yield* makeToken({ unionid: "oUnion_123", isSnapshotUser: true, scope: ["a", "b"] })
            yield* store.set(appId, token)
            sameToken(yield* getSome(appId, token.openid), token)
            const bare = yield* makeToken({ scope: [] })
            yield* store.set(appId, bare)
            const found = yield* getSome(appId, bare.openid)
            sameToken(found, bare)
            assert.isUndefined(found.unionid)
          })
        )
      )

      it.effect(
        "apps are kept apart",
        realistic(() =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const token = yield* makeToken()
            const otherApp = randomAppId()
            yield* store.set(appId, token)
            assert.isTrue(Option.isNone(yield* store.get(otherApp, token.openid)))
            const other = yield* makeToken({ openid: token.openid })
            yield* store.set(otherApp, other)
            sameToken(yield* getSome(appId, token.openid), token)
            sameToken(yield* getSome(otherApp, token.openid), other)
          })
        )
      )

      it.effect(
        "a newer token replaces an older one, never the reverse",
        realistic(() =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const older = yield* makeToken()
            const newer = yield* makeToken({ openid: older.openid, obtainedAt: older.obtainedAt + 1000 })
            yield* store.set(appId, older)
            yield* store.set(appId, newer)
            sameToken(yield* getSome(appId, older.openid), newer)
            yield* store.set(appId, older)
            sameToken(yield* getSome(appId, older.openid), newer)
          })
        )
      )

      it.effect(
        "on a tie of obtainedAt the last write wins",
        realistic(() =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const first = yield* makeToken()
            const second = yield* makeToken({ openid: first.openid, obtainedAt: first.obtainedAt })
            yield* store.set(appId, first)
            yield* store.set(appId, second)
            sameToken(yield* getSome(appId, first.openid), second)
          })
        )
      )

      it.effect(
        "remove forgets the token; removing an unknown user is fine",
        realistic(() =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const token = yield* makeToken()
            yield* store.set(appId, token)
            yield* store.remove(appId, token.openid)
            assert.isTrue(Option.isNone(yield* store.get(appId, token.openid)))
            yield* store.remove(appId, randomOpenId())
            // after a remove, an older token may be written again (nothing newer remains)
            yield* store.set(appId, token)
            sameToken(yield* getSome(appId, token.openid), token)
          })
        )
      )

      it.effect(
        "a token is gone once its refresh token has expired (by Clock)",
        realistic(() =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const now = yield* Clock.currentTimeMillis
            const token = yield* makeToken({ refreshExpiresAt: now + hour })
            yield* store.set(appId, token)
            yield* TestClock.adjust(hour - 1000)
            sameToken(yield* getSome(appId, token.openid), token)
            yield* TestClock.adjust(2000)
            assert.isTrue(Option.isNone(yield* store.get(appId, token.openid)))
          })
        )
      )

      it.effect(
        "the code memo recalls what was remembered, per app, until it expires",
        realistic(() =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const now = yield* Clock.currentTimeMillis
            const codeHash = TokenStore.hashCode(`code-${randomOpenId()}`)
            const memo = new TokenStore.CodeMemo({
              openid: randomOpenId(),
              binding: "b1nd",
              exchangedAt: now,
              expiresAt: now + 60_000
            })
            assert.isTrue(Option.isNone(yield* store.recallCode(appId, codeHash)))
            yield* store.rememberCode(appId, codeHash, memo)
            const recalled = yield* store.recallCode(appId, codeHash)
            assert.isTrue(Option.isSome(recalled))
            const found = Option.getOrThrow(recalled)
            assert.strictEqual(found.openid, memo.openid)
            assert.strictEqual(found.binding, "b1nd")
            assert.strictEqual(found.exchangedAt, memo.exchangedAt)
            assert.isTrue(Option.isNone(yield* store.recallCode(randomAppId(), codeHash)))
            const unbound = new TokenStore.CodeMemo({ openid: memo.openid, exchangedAt: now, expiresAt: now + 60_000 })
            const otherHash = TokenStore.hashCode(`code-${randomOpenId()}`)
            yield* store.rememberCode(appId, otherHash, unbound)
            assert.isUndefined(Option.getOrThrow(yield* store.recallCode(appId, otherHash)).binding)
            yield* TestClock.adjust(60_001)
            assert.isTrue(Option.isNone(yield* store.recallCode(appId, codeHash)))
          })
        )
      )

      it.effect(
        "50 concurrent writers with shuffled obtainedAt leave the newest token",
        realistic(() =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const base = yield* makeToken()
            const tokens = yield* Effect.forEach(
              Array.from({ length: 50 }, (_, i) => i),
              (i) => makeToken({ openid: base.openid, obtainedAt: base.obtainedAt + i * 10 })
            )
            const shuffled = yield* Random.shuffle(tokens)
            yield* Effect.forEach(shuffled, (token) => store.set(appId, token), { concurrency: "unbounded" })
            sameToken(yield* getSome(appId, base.openid), tokens[tokens.length - 1])
          })
        )
      )
    }
    if (typeof layer !== "function") {
      // one store for the whole suite (tests use their own random openids)
      layerSuite(layer, { timeout: "60 seconds" })((it) => {
        for (const [title, test] of cases) it.effect(title, test)
      })
    } else {
      // a store of its own for each test (e.g. its own key prefix or table)
      for (const [title, test] of cases) {
        vitestIt.effect(title, () => Effect.provide(test(), layer()), 60_000)
      }
    }
  })
}
