/**
 * Test helpers for code built on `@wxauth/core`: the contract suites every store adapter runs
 * (memory, Redis, SQL), the attacks every `SessionStore` withstands, and fixtures. Needs `vitest` and `@effect/vitest` (optional peers).
 *
 * @since 0.1.0
 */
import { assert, describe, it as vitestIt, layer as layerSuite } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Crypto from "node:crypto"
import * as Util from "node:util"
import * as AppTokenStore from "./AppTokenStore.js"
import * as OAuthToken from "./OAuthToken.js"
import * as SessionKeyStore from "./SessionKeyStore.js"
import * as SessionStore from "./SessionStore.js"
import * as TokenStore from "./TokenStore.js"
import { SessionStoreError, TokenStoreError } from "./WeChatError.js"

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

/**
 * Registers the cases of a contract suite: on one store for the whole suite (a Layer), or on a store
 * of its own for each case (a function returning a Layer, e.g. with its own key prefix or table).
 */
const register = <S, E>(
  layer: Layer.Layer<S, E> | (() => Layer.Layer<S, E>),
  cases: ReadonlyArray<readonly [string, () => Effect.Effect<void, unknown, S>]>
): void => {
  if (typeof layer !== "function") {
    // one store for the whole suite (tests use their own random ids)
    layerSuite(layer, { timeout: "60 seconds" })((it) => {
      for (const [title, test] of cases) it.effect(title, test)
    })
  } else {
    for (const [title, test] of cases) {
      vitestIt.effect(title, () => Effect.provide(test(), layer()), 60_000)
    }
  }
}

/**
 * Runs `test` at a realistic "now" (not the TestClock's epoch 0), so that a mix-up of seconds and
 * milliseconds shows.
 */
const atRealisticTime = <A, E, R>(test: () => Effect.Effect<A, E, R>) => (): Effect.Effect<A, E, R> =>
  Effect.zipRight(
    Effect.flatMap(
      Clock.currentTimeMillis,
      (now) => now < realisticNow ? TestClock.setTime(realisticNow) : Effect.void
    ),
    test()
  )

/**
 * Every text an error shows: its message, JSON, inspection and cause.
 */
const textsOf = (error: unknown): ReadonlyArray<string> => {
  const texts = [Util.inspect(error, { depth: 10 })]
  if (typeof error === "object" && error !== null) {
    texts.push(JSON.stringify(error) ?? "")
    const { cause, message } = error as { readonly cause?: unknown; readonly message?: unknown }
    if (typeof message === "string") texts.push(message)
    if (cause !== undefined) texts.push(String(cause), Util.inspect(cause, { depth: 10 }))
  } else {
    texts.push(String(error))
  }
  return texts
}

/**
 * Asserts that `operation` fails with a `TokenStoreError` (in the error channel: not a defect, not a
 * throw when it is called) that quotes none of `secrets`.
 */
const assertStoreError = <R>(
  what: string,
  operation: () => Effect.Effect<unknown, unknown, R>,
  secrets: ReadonlyArray<string> = []
): Effect.Effect<void, never, R> =>
  Effect.map(Effect.exit(Effect.suspend(operation)), (exit) => {
    assert.isTrue(Exit.isFailure(exit), `${what}: expected a TokenStoreError, got a success`)
    if (Exit.isSuccess(exit)) return
    const failure = Cause.failureOption(exit.cause)
    assert.isTrue(
      Option.isSome(failure) && !Cause.isDie(exit.cause),
      `${what}: expected a TokenStoreError in the error channel, got ${Cause.pretty(exit.cause)}`
    )
    const error = Option.getOrThrow(failure)
    assert.instanceOf(error, TokenStoreError, what)
    for (const text of textsOf(error)) {
      for (const secret of secrets) assert.notInclude(text, secret, `${what}: the error quotes a secret`)
    }
  })

/**
 * Runs a `set`: true when it succeeded, false when it failed with a `TokenStoreError` (in the error
 * channel: a defect or a throw fails the test, as does a failure when `mustSucceed`).
 */
const setOrRefuse = (
  what: string,
  set: () => Effect.Effect<void, TokenStoreError>,
  mustSucceed = false
): Effect.Effect<boolean> =>
  Effect.map(Effect.exit(Effect.suspend(set)), (exit) => {
    if (Exit.isSuccess(exit)) return true
    const failure = Cause.failureOption(exit.cause)
    assert.isTrue(
      !mustSucceed && Option.isSome(failure) && !Cause.isDie(exit.cause) && failure.value instanceof TokenStoreError,
      `${what}: expected ${mustSucceed ? "a success" : "a success or a TokenStoreError"}, got ${
        Cause.pretty(exit.cause).split("\n")[0].slice(0, 160)
      }`
    )
    return false
  })

const getSome = (appId: string, openid: string) =>
  Effect.flatMap(TokenStore.TokenStore, (store) => store.get(appId, openid)).pipe(
    Effect.map((found) => {
      assert.isTrue(Option.isSome(found), "expected a stored token")
      return Option.getOrThrow(found)
    })
  )

/**
 * A value written under a user's key by something other than the store: `value` as the stored
 * value, `obtainedAt` as the stamp the store keeps beside it (Redis' `o`, SQL's `obtained_at`),
 * live until `refreshExpiresAt`.
 *
 * @since 0.2.0
 * @category suites
 */
export interface PlantedValue {
  readonly appId: string
  readonly openid: string
  readonly obtainedAt: number
  readonly refreshExpiresAt: number
  readonly value: string
}

/**
 * Options of `tokenStoreSuite`.
 *
 * @since 0.2.0
 * @category suites
 */
export interface TokenStoreSuiteOptions {
  /**
   * Writes a value under a user's key as a server of another version, one whose cipher key has
   * since been removed, or anyone with access to the database would: straight into the store's
   * storage, past its `set`. With it the suite also runs the cases of stored values the store cannot
   * read (times out of range, not a token, too long). A store of objects (the memory store) has no
   * such values and no `plant`.
   */
  readonly plant?: ((planted: PlantedValue) => Effect.Effect<void, unknown>) | undefined
}

/**
 * The contract every `TokenStore` honours, as a vitest suite: get / set / remove, apps kept apart,
 * newer-wins (on a tie the last write wins), the code memo, expiry by `Clock` (driven with
 * `TestClock`), and 50 concurrent writers leaving the newest token. With `options.plant`, stored
 * values the store cannot read too: each `get` of one is a `TokenStoreError` quoting nothing of it,
 * and `remove` clears it whatever its stamp (what a new consent does: it replaces such a value).
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
  layer: Layer.Layer<TokenStore.TokenStore, E> | (() => Layer.Layer<TokenStore.TokenStore, E>),
  options?: TokenStoreSuiteOptions | undefined
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
      const realistic = atRealisticTime

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

      it.effect(
        "ids out of the stores' rule are refused and reach no other user's token (padded, outside ASCII, an appId with :)",
        realistic(() =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const victim = yield* makeToken()
            yield* store.set(appId, victim)
            // MariaDB's PAD SPACE takes "o1 " for "o1"; PostgreSQL and MariaDB write a lone surrogate
            // as U+FFFD; Redis' key {appId:openid} is one for (a:b, c) and (a, b:c)
            const others = [
              `${victim.openid} `,
              `${victim.openid}  `,
              `${victim.openid}\uD800`,
              `${victim.openid}\uFFFD`
            ]
            for (const openid of others) {
              const other = yield* makeToken({ openid, obtainedAt: victim.obtainedAt + 1 })
              for (
                const attempt of [
                  store.get(appId, openid),
                  store.set(appId, other),
                  store.remove(appId, openid)
                ] as ReadonlyArray<Effect.Effect<unknown, TokenStoreError>>
              ) {
                assert.strictEqual((yield* Effect.flip(attempt))._tag, "TokenStoreError")
              }
            }
            for (const badAppId of [`${appId} `, `${appId}:x`, `${appId}\uD800`, ""]) {
              for (
                const attempt of [store.get(badAppId, victim.openid), store.set(badAppId, victim)] as ReadonlyArray<
                  Effect.Effect<unknown, TokenStoreError>
                >
              ) {
                assert.strictEqual((yield* Effect.flip(attempt))._tag, "TokenStoreError")
              }
            }
            sameToken(yield* getSome(appId, victim.openid), victim)
            yield* store.remove(appId, victim.openid)
          })
        )
      )

      it.effect(
        "set reads a caller's token once: an openid answering one user then another is kept as the first, reaching no other",
        realistic(() =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const [first, later] = [randomOpenId(), randomOpenId()]
            const honest = yield* makeToken({ openid: first })
            const shifty = yield* makeToken({ ...honest, openid: first })
            let reads = 0
            Object.defineProperty(shifty, "openid", { get: () => reads++ === 0 ? first : later })
            const written = yield* setOrRefuse("set of a token whose openid shifts", () => store.set(appId, shifty))
            assert.isTrue(
              Option.isNone(yield* store.get(appId, later)),
              "a token was kept under an openid never checked"
            )
            if (written) sameToken(yield* getSome(appId, first), honest)
            else assert.isTrue(Option.isNone(yield* store.get(appId, first)), "a refused set kept a token")
          })
        )
      )

      it.effect(
        "set of a token whose getters throw after a few reads is a TokenStoreError or the token as first read; a later set works",
        realistic(() =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            for (const field of ["openid", "obtainedAt", "expiresAt", "refreshExpiresAt", "scope", "isSnapshotUser"]) {
              for (let allowed = 0; allowed <= 4; allowed++) {
                const what = `set of a token whose ${field} throws after ${allowed} reads`
                const honest = yield* makeToken()
                const trap = yield* makeToken({ ...honest })
                const value = (honest as unknown as Record<string, unknown>)[field]
                let reads = 0
                Object.defineProperty(trap, field, {
                  get: () => {
                    if (reads++ >= allowed) throw new Error("trap")
                    return value
                  }
                })
                const written = yield* setOrRefuse(what, () => store.set(appId, trap))
                if (allowed === 0) assert.isFalse(written, `${what}: expected a TokenStoreError`)
                if (written) sameToken(yield* getSome(appId, honest.openid), honest)
                // the store is left sound: an honest, newer token of the user is kept and read back
                const newer = yield* makeToken({ openid: honest.openid, obtainedAt: honest.obtainedAt + 1 })
                yield* setOrRefuse(`${what}, then an honest set`, () => store.set(appId, newer), true)
                sameToken(yield* getSome(appId, honest.openid), newer)
                yield* store.remove(appId, honest.openid)
              }
            }
            // a Proxy posing as a token (instanceof holds) whose every read throws
            const posing = new Proxy({}, {
              getPrototypeOf: () => OAuthToken.OAuthToken.prototype,
              get: () => {
                throw new Error("trap")
              }
            }) as OAuthToken.OAuthToken
            assert.isFalse(yield* setOrRefuse("set of a Proxy posing as a token", () => store.set(appId, posing)))
          })
        )
      )

      it.effect(
        "rememberCode reads a caller's memo once: an expiresAt that shifts after the first read keeps the memo no longer; a getter that throws after a few reads is a TokenStoreError quoting nothing of it, or the memo as first read",
        realistic(() =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const now = yield* Clock.currentTimeMillis
            const honest = new TokenStore.CodeMemo({
              openid: randomOpenId(),
              binding: "b1nd",
              exchangedAt: now,
              expiresAt: now + 60_000
            })
            const fields = ["openid", "binding", "exchangedAt", "expiresAt"] as const
            /** A copy of `honest` (instanceof holds) whose `field` answers `read(n)` on its nth read. */
            const trapped = (field: typeof fields[number], read: (reads: number) => unknown) => {
              const trap = new TokenStore.CodeMemo({ ...honest })
              let reads = 0
              Object.defineProperty(trap, field, { get: () => read(++reads), enumerable: true })
              return trap
            }
            const sameMemo = (what: string, codeHash: string) =>
              Effect.map(store.recallCode(appId, codeHash), (recalled) => {
                assert.isTrue(Option.isSome(recalled), `${what}: expected the memo`)
                const found = Option.getOrThrow(recalled)
                for (const field of fields) assert.strictEqual(found[field], honest[field], `${what}: ${field}`)
              })
            // an expiry answered after the first read (2^53 - 992) is never the memo's: kept, a
            // 5-minute memo would outlive the code by ages
            const shiftedHash = TokenStore.hashCode(`code-${randomOpenId()}`)
            const shifting = trapped("expiresAt", (reads) => reads === 1 ? honest.expiresAt : 9_007_199_254_740_000)
            const shifted = yield* setOrRefuse(
              "rememberCode of a memo whose expiresAt shifts",
              () => store.rememberCode(appId, shiftedHash, shifting)
            )
            if (shifted) yield* sameMemo("a memo whose expiresAt shifts", shiftedHash)
            for (const field of fields) {
              for (let allowed = 0; allowed <= 4; allowed++) {
                const what = `rememberCode of a memo whose ${field} throws after ${allowed} reads`
                const codeHash = TokenStore.hashCode(`code-${randomOpenId()}`)
                const trap = trapped(field, (reads) => {
                  if (reads > allowed) throw new Error("late-read-s3cr3t")
                  return honest[field]
                })
                const exit = yield* Effect.exit(Effect.suspend(() => store.rememberCode(appId, codeHash, trap)))
                if (Exit.isSuccess(exit)) {
                  assert.isAbove(allowed, 0, `${what}: expected a TokenStoreError`)
                  yield* sameMemo(what, codeHash)
                  continue
                }
                const failure = Cause.failureOption(exit.cause)
                assert.isTrue(
                  !Cause.isDie(exit.cause) && Option.isSome(failure) && failure.value instanceof TokenStoreError,
                  `${what}: expected a success or a TokenStoreError, got ${
                    Cause.pretty(exit.cause).split("\n")[0].slice(0, 160)
                  }`
                )
                for (const text of textsOf(Option.getOrUndefined(failure))) {
                  assert.notInclude(text, "s3cr3t", `${what}: the error quotes the throw`)
                }
                assert.isTrue(
                  Option.isNone(yield* store.recallCode(appId, codeHash)),
                  `${what}: a refused memo was kept`
                )
              }
            }
            yield* TestClock.adjust(60_001)
            assert.isTrue(
              Option.isNone(yield* store.recallCode(appId, shiftedHash)),
              "the shifted memo outlived its expiry"
            )
          })
        )
      )

      const plant = options?.plant
      if (plant !== undefined) {
        /**
         * Plants `value` for a new user, stamped `stampOffset` from now, and checks that `get` is a
         * `TokenStoreError` quoting none of `secrets`, that `remove` clears it, and that a token
         * stamped now is then kept. `false` when the storage refused the value (it cannot hold it).
         */
        const unreadableThenReplaced = (
          what: string,
          value: (openid: string) => Effect.Effect<string>,
          stampOffset: number,
          secrets: ReadonlyArray<string> = []
        ) =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const now = yield* Clock.currentTimeMillis
            const openid = randomOpenId()
            const planted = yield* Effect.exit(plant({
              appId,
              openid,
              obtainedAt: now + stampOffset,
              refreshExpiresAt: now + OAuthToken.refreshTokenLifeMillis,
              value: yield* value(openid)
            }))
            if (Exit.isFailure(planted)) return false
            yield* assertStoreError(`get of ${what}`, () => store.get(appId, openid), secrets)
            yield* store.remove(appId, openid)
            assert.isTrue(Option.isNone(yield* store.get(appId, openid)), `${what}: removed`)
            const token = yield* makeToken({ openid })
            yield* store.set(appId, token)
            sameToken(yield* getSome(appId, openid), token)
            yield* store.remove(appId, openid)
            return true
          })

        const plantedSecret = "AT_PLANTED_SECRET_0123456789"

        it.effect(
          "a stored token whose times no store writes, or whose stamp no write could follow, is a TokenStoreError on get (quoting nothing), and a new token replaces it",
          realistic(() =>
            Effect.gen(function*() {
              // Infinity (a JSON 1e400) or 2^53 - 1 read as a stamp made every write after it unstorable
              const times = [
                ["obtainedAt", "1e400"],
                ["obtainedAt", "-1e400"],
                ["obtainedAt", String(Number.MAX_SAFE_INTEGER)],
                ["expiresAt", "1e400"],
                ["refreshExpiresAt", "1e400"]
              ] as const
              for (const [field, time] of times) {
                const what = `a stored token whose ${field} is ${time}`
                const value = (openid: string) =>
                  Effect.flatMap(
                    makeToken({ openid, accessToken: Redacted.make(plantedSecret) }),
                    (token) =>
                      Effect.map(
                        Effect.orDie(OAuthToken.encodeJson(token)),
                        (json) => json.replace(new RegExp(`"${field}":\\d+`), `"${field}":${time}`)
                      )
                  )
                assert.isTrue(yield* unreadableThenReplaced(what, value, -1000, [plantedSecret]), `${what}: planted`)
              }
            })
          )
        )

        it.effect(
          "a stored value the store cannot read, stamped a day ahead (its cipher key since removed), is a TokenStoreError on get; remove clears it whatever its stamp",
          realistic(() =>
            Effect.gen(function*() {
              for (const garbage of ["garbage", "wxenc1:removedkey:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]) {
                const what = `a stored value ${garbage.slice(0, 16)}..., stamped a day ahead`
                assert.isTrue(
                  yield* unreadableThenReplaced(what, () => Effect.succeed(garbage), 86_400_000),
                  `${what}: planted`
                )
              }
            })
          )
        )

        it.effect(
          "a stored value longer than TokenStore.maxStoredValueBytes is a TokenStoreError on get (or refused by the storage)",
          realistic(() =>
            Effect.gen(function*() {
              const long = "x".repeat(TokenStore.maxStoredValueBytes + 1)
              yield* unreadableThenReplaced("a value of maxStoredValueBytes + 1", () => Effect.succeed(long), -1000)
            })
          )
        )
      }
    }
    register(layer, cases)
  })
}

/**
 * An app access token fixture obtained `now` (by `Clock`), with a random value in the shape of
 * WeChat's and 2 hours of life. Any field can be overridden.
 *
 * @since 0.1.0
 * @category fixtures
 */
export const makeAppToken = (
  overrides: Partial<ConstructorParameters<typeof AppTokenStore.AppAccessToken>[0]> = {}
): Effect.Effect<AppTokenStore.AppAccessToken> =>
  Effect.map(Clock.currentTimeMillis, (now) => {
    const obtainedAt = overrides.obtainedAt ?? now
    return new AppTokenStore.AppAccessToken({
      accessToken: Redacted.make(`ACCESS_TOKEN_${Crypto.randomBytes(48).toString("base64url")}`),
      obtainedAt,
      expiresAt: obtainedAt + 2 * hour,
      ...overrides
    })
  })

/**
 * A random session key in WeChat's shape: 16 bytes, base64 (so with `+`, `/` and `=`).
 *
 * @since 0.1.0
 * @category fixtures
 */
export const randomSessionKey = (): Redacted.Redacted<string> =>
  Redacted.make(Crypto.randomBytes(16).toString("base64"))

const sameAppToken = (actual: AppTokenStore.AppAccessToken, expected: AppTokenStore.AppAccessToken) => {
  assert.isTrue(Redacted.isRedacted(actual.accessToken), "the stored token's value is Redacted")
  assert.strictEqual(Redacted.value(actual.accessToken), Redacted.value(expected.accessToken))
  assert.strictEqual(actual.obtainedAt, expected.obtainedAt)
  assert.strictEqual(actual.expiresAt, expected.expiresAt)
}

const getAppToken = (appId: string) =>
  Effect.flatMap(AppTokenStore.AppTokenStore, (store) => store.get(appId)).pipe(
    Effect.map((found) => {
      assert.isTrue(Option.isSome(found), "expected a stored app token")
      return Option.getOrThrow(found)
    })
  )

/**
 * The contract every `AppTokenStore` honours, as a vitest suite: get / set, apps kept apart, the
 * newest token wins (by `obtainedAt`; on a tie the last write), an expired token is `None` (by
 * `Clock`, driven with `TestClock`), 50 concurrent writers leave the newest, the value stays
 * `Redacted`, arguments of the wrong type are a `TokenStoreError` (never a defect) that quotes
 * no token, and a caller's token is read once (a getter that throws or shifts neither escapes as a
 * throw or a defect nor stores a stamp apart from its value).
 *
 * @example
 * ```ts
 * import { AppTokenStore } from "@wxauth/core"
 * import { appTokenStoreSuite } from "@wxauth/core/testing"
 *
 * appTokenStoreSuite("memory", AppTokenStore.layerMemory)
 * // or a store of its own for each test (e.g. its own key prefix):
 * appTokenStoreSuite("memory, per test", () => AppTokenStore.layerMemory)
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const appTokenStoreSuite = <E>(
  name: string,
  layer: Layer.Layer<AppTokenStore.AppTokenStore, E> | (() => Layer.Layer<AppTokenStore.AppTokenStore, E>)
): void => {
  describe(`AppTokenStore contract: ${name}`, () => {
    type Case = () => Effect.Effect<void, unknown, AppTokenStore.AppTokenStore>
    const cases: Array<readonly [string, Case]> = []
    const it = (title: string, test: Case) => cases.push([title, atRealisticTime(test)])
    const store = AppTokenStore.AppTokenStore

    it("get of an app without a token is None", () =>
      Effect.gen(function*() {
        assert.isTrue(Option.isNone(yield* (yield* store).get(randomAppId())))
      }))

    it("set then get returns the token, its value still Redacted", () =>
      Effect.gen(function*() {
        const appId = randomAppId()
        const token = yield* makeAppToken()
        yield* (yield* store).set(appId, token)
        const found = yield* getAppToken(appId)
        sameAppToken(found, token)
        const secret = Redacted.value(token.accessToken)
        for (const text of [String(found), JSON.stringify(found), Util.inspect(found, { depth: 10 })]) {
          assert.notInclude(text, secret, "a stored token shows its value")
        }
      }))

    it("apps are kept apart, newest-wins included", () =>
      Effect.gen(function*() {
        const s = yield* store
        const [a, b] = [randomAppId(), randomAppId()]
        const newer = yield* makeAppToken()
        yield* s.set(a, newer)
        assert.isTrue(Option.isNone(yield* s.get(b)))
        // an older token of app b is not blocked by app a's newer one
        const older = yield* makeAppToken({ obtainedAt: newer.obtainedAt - 60_000 })
        yield* s.set(b, older)
        sameAppToken(yield* getAppToken(a), newer)
        sameAppToken(yield* getAppToken(b), older)
      }))

    it("a newer token replaces an older one, never the reverse", () =>
      Effect.gen(function*() {
        const s = yield* store
        const appId = randomAppId()
        const older = yield* makeAppToken()
        const newer = yield* makeAppToken({ obtainedAt: older.obtainedAt + 1000 })
        yield* s.set(appId, older)
        yield* s.set(appId, newer)
        sameAppToken(yield* getAppToken(appId), newer)
        yield* s.set(appId, older)
        sameAppToken(yield* getAppToken(appId), newer)
      }))

    it("on a tie of obtainedAt the last write wins", () =>
      Effect.gen(function*() {
        const s = yield* store
        const appId = randomAppId()
        const first = yield* makeAppToken()
        const second = yield* makeAppToken({ obtainedAt: first.obtainedAt })
        yield* s.set(appId, first)
        yield* s.set(appId, second)
        sameAppToken(yield* getAppToken(appId), second)
        yield* s.set(appId, first)
        sameAppToken(yield* getAppToken(appId), first)
      }))

    it("a token is None once it has expired (by Clock), and one set expired is None", () =>
      Effect.gen(function*() {
        const s = yield* store
        const appId = randomAppId()
        const now = yield* Clock.currentTimeMillis
        const token = yield* makeAppToken({ expiresAt: now + hour })
        yield* s.set(appId, token)
        yield* TestClock.adjust(hour - 1000)
        sameAppToken(yield* getAppToken(appId), token)
        yield* TestClock.adjust(2000)
        assert.isTrue(Option.isNone(yield* s.get(appId)))

        const otherApp = randomAppId()
        const later = yield* Clock.currentTimeMillis
        yield* s.set(otherApp, yield* makeAppToken({ obtainedAt: later - 2 * hour, expiresAt: later - 1 }))
        assert.isTrue(Option.isNone(yield* s.get(otherApp)))
      }))

    it("50 concurrent writers with shuffled obtainedAt leave the newest token", () =>
      Effect.gen(function*() {
        const s = yield* store
        const appId = randomAppId()
        const base = yield* makeAppToken()
        const tokens = yield* Effect.forEach(
          Array.from({ length: 50 }, (_, i) => i),
          (i) => makeAppToken({ obtainedAt: base.obtainedAt + i * 10 })
        )
        const shuffled = yield* Random.shuffle(tokens)
        yield* Effect.forEach(shuffled, (token) => s.set(appId, token), { concurrency: "unbounded", discard: true })
        sameAppToken(yield* getAppToken(appId), tokens[tokens.length - 1])
      }))

    it("arguments of the wrong type are a TokenStoreError, not a defect, and quote no token", () =>
      Effect.gen(function*() {
        const s = yield* store
        const appId = randomAppId()
        const token = yield* makeAppToken()
        const secret = Redacted.value(token.accessToken)
        const plain = `plain_${Crypto.randomBytes(16).toString("hex")}`
        const loose = (value: unknown) => value as never
        const secrets = [secret, plain]
        for (const bad of [undefined, null, 42, "", { appId }]) {
          yield* assertStoreError(`get(${String(bad)})`, () => s.get(loose(bad)), secrets)
          yield* assertStoreError(`set(${String(bad)}, token)`, () => s.set(loose(bad), token), secrets)
        }
        const notTokens = [
          undefined,
          null,
          plain,
          Redacted.make(plain),
          { accessToken: plain, obtainedAt: token.obtainedAt, expiresAt: token.expiresAt },
          { accessToken: Redacted.make(plain), obtainedAt: token.obtainedAt, expiresAt: token.expiresAt }
        ]
        for (const [i, bad] of notTokens.entries()) {
          yield* assertStoreError(`set(appId, not a token #${i + 1})`, () => s.set(appId, loose(bad)), secrets)
        }
        // nothing was stored by the refused calls
        assert.isTrue(Option.isNone(yield* s.get(appId)))
      }))

    it("keys out of the store's rule are refused and reach no other key's token (padded, outside ASCII)", () =>
      Effect.gen(function*() {
        const s = yield* store
        const appId = randomAppId()
        const token = yield* makeAppToken()
        yield* s.set(appId, token)
        const other = yield* makeAppToken({ obtainedAt: token.obtainedAt + 1 })
        // MariaDB's PAD SPACE takes "wx1 " for "wx1"; PostgreSQL and MariaDB write a lone surrogate as U+FFFD
        for (const key of [`${appId} `, ` ${appId}`, `${appId}\uD800`, `${appId}\uFFFD`, "x".repeat(65)]) {
          assert.strictEqual((yield* Effect.flip(s.get(key)))._tag, "TokenStoreError")
          assert.strictEqual((yield* Effect.flip(s.set(key, other)))._tag, "TokenStoreError")
        }
        sameAppToken(yield* getAppToken(appId), token)
        // the platform's keys (component-token:<appid>) are keys of the store
        yield* s.set(`component-token:${appId}`, other)
        sameAppToken(yield* getAppToken(`component-token:${appId}`), other)
      }))

    it("set reads a caller's token once: a stamp that shifts after the first read pins nothing; a getter that throws after a few reads is a TokenStoreError or the token as first read, never a throw or a defect; a later set works", () =>
      Effect.gen(function*() {
        const s = yield* store
        const fields = ["obtainedAt", "expiresAt", "accessToken"] as const
        /** A copy of `honest` (instanceof holds) whose `field` answers `read(n)` on its nth read. */
        const trapped = (
          honest: AppTokenStore.AppAccessToken,
          field: typeof fields[number],
          read: (reads: number) => unknown
        ) => {
          const trap = new AppTokenStore.AppAccessToken({ ...honest })
          let reads = 0
          Object.defineProperty(trap, field, { get: () => read(++reads), enumerable: true })
          return trap
        }
        // a stamp answered after the first read (2^53 - 989, a time a store writes) is never the
        // stamp of the value: stored, it would keep every genuine newer token out until expiry
        const shiftedApp = randomAppId()
        const shifted = yield* makeAppToken()
        const shifting = trapped(
          shifted,
          "obtainedAt",
          (reads) => reads === 1 ? shifted.obtainedAt : 9_007_199_254_740_000
        )
        const shiftedWritten = yield* setOrRefuse(
          "set of an app token whose obtainedAt shifts",
          () => s.set(shiftedApp, shifting)
        )
        if (shiftedWritten) sameAppToken(yield* getAppToken(shiftedApp), shifted)
        const genuine = yield* makeAppToken({ obtainedAt: shifted.obtainedAt + 1000 })
        yield* setOrRefuse("a genuine newer set after a shifting one", () => s.set(shiftedApp, genuine), true)
        sameAppToken(yield* getAppToken(shiftedApp), genuine)
        for (const field of fields) {
          for (let allowed = 0; allowed <= 4; allowed++) {
            const what = `set of an app token whose ${field} throws after ${allowed} reads`
            const appId = randomAppId()
            const honest = yield* makeAppToken()
            const trap = trapped(honest, field, (reads) => {
              if (reads > allowed) throw new Error("trap")
              return honest[field]
            })
            const written = yield* setOrRefuse(what, () => s.set(appId, trap))
            if (allowed === 0) assert.isFalse(written, `${what}: expected a TokenStoreError`)
            if (written) sameAppToken(yield* getAppToken(appId), honest)
            else assert.isTrue(Option.isNone(yield* s.get(appId)), `${what}: a refused set kept a token`)
            // the store is left sound: an honest, newer token of the app is kept and read back
            const newer = yield* makeAppToken({ obtainedAt: honest.obtainedAt + 1 })
            yield* setOrRefuse(`${what}, then an honest set`, () => s.set(appId, newer), true)
            sameAppToken(yield* getAppToken(appId), newer)
          }
        }
        // a Proxy posing as a token (instanceof holds) whose every read throws
        const posing = new Proxy({}, {
          getPrototypeOf: () => AppTokenStore.AppAccessToken.prototype,
          get: () => {
            throw new Error("trap")
          }
        }) as AppTokenStore.AppAccessToken
        assert.isFalse(yield* setOrRefuse("set of a Proxy posing as an app token", () => s.set(shiftedApp, posing)))
        sameAppToken(yield* getAppToken(shiftedApp), genuine)
      }))

    register(layer, cases)
  })
}

/**
 * The contract every `SessionKeyStore` honours, as a vitest suite: get / set / remove, keys kept per
 * (appId, openid) (ids with `:` or braces included), the last set wins, a key is gone `ttl` after
 * its set (by `Clock`, driven with `TestClock`; a set starts it again), the key stays `Redacted`,
 * and arguments of the wrong type are a `TokenStoreError` (never a defect) that quotes no key.
 *
 * `options.ttl` is the store's time to live, `SessionKeyStore.defaultTtl` (30 days) unless given.
 *
 * @example
 * ```ts
 * import { SessionKeyStore } from "@wxauth/core"
 * import { sessionKeyStoreSuite } from "@wxauth/core/testing"
 * import * as Layer from "effect/Layer"
 *
 * sessionKeyStoreSuite("memory", SessionKeyStore.layerMemory)
 * // a store of its own for each test, with its ttl
 * sessionKeyStoreSuite(
 *   "memory, 1 hour",
 *   () => Layer.effect(SessionKeyStore.SessionKeyStore, SessionKeyStore.makeMemory({ ttl: "1 hour" })),
 *   { ttl: "1 hour" }
 * )
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const sessionKeyStoreSuite = <E>(
  name: string,
  layer: Layer.Layer<SessionKeyStore.SessionKeyStore, E> | (() => Layer.Layer<SessionKeyStore.SessionKeyStore, E>),
  options?: { readonly ttl?: Duration.DurationInput | undefined }
): void => {
  describe(`SessionKeyStore contract: ${name}`, () => {
    type Case = () => Effect.Effect<void, unknown, SessionKeyStore.SessionKeyStore>
    const cases: Array<readonly [string, Case]> = []
    const it = (title: string, test: Case) => cases.push([title, atRealisticTime(test)])
    const store = SessionKeyStore.SessionKeyStore
    const ttl = Duration.toMillis(Duration.decode(options?.ttl ?? SessionKeyStore.defaultTtl))

    const getKey = (appId: string, openid: string) =>
      Effect.flatMap(store, (s) => s.get(appId, openid)).pipe(
        Effect.map((found) => {
          assert.isTrue(Option.isSome(found), "expected a stored session key")
          const key = Option.getOrThrow(found)
          assert.isTrue(Redacted.isRedacted(key), "a stored session key is Redacted")
          return Redacted.value(key)
        })
      )

    it("get of an unknown user is None", () =>
      Effect.gen(function*() {
        assert.isTrue(Option.isNone(yield* (yield* store).get(randomAppId(), randomOpenId())))
      }))

    it("set then get returns the key, Redacted", () =>
      Effect.gen(function*() {
        const s = yield* store
        const [appId, openid, key] = [randomAppId(), randomOpenId(), randomSessionKey()]
        yield* s.set(appId, openid, key)
        assert.strictEqual(yield* getKey(appId, openid), Redacted.value(key))
        const found = Option.getOrThrow(yield* s.get(appId, openid))
        for (const text of [String(found), JSON.stringify(found), Util.inspect(found, { depth: 10 })]) {
          assert.notInclude(text, Redacted.value(key), "a stored session key shows its value")
        }
      }))

    it("keys are kept per (appId, openid), openids with : and braces included; other ids are refused", () =>
      Effect.gen(function*() {
        const s = yield* store
        const [appId, otherApp, openid] = [randomAppId(), randomAppId(), randomOpenId()]
        const key = randomSessionKey()
        yield* s.set(appId, openid, key)
        assert.isTrue(Option.isNone(yield* s.get(otherApp, openid)))
        assert.isTrue(Option.isNone(yield* s.get(appId, randomOpenId())))
        const otherKey = randomSessionKey()
        yield* s.set(otherApp, openid, otherKey)
        assert.strictEqual(yield* getKey(appId, openid), Redacted.value(key))
        assert.strictEqual(yield* getKey(otherApp, openid), Redacted.value(otherKey))
        // openids that would break a key's braces are users of their own
        const pairs = [[appId, `x:${"y"}`], [appId, `{y`], [appId, "}:{y"], [appId, `${openid}}`]] as const
        const keys = pairs.map(() => randomSessionKey())
        yield* Effect.forEach(pairs, ([a, o], i) => s.set(a, o, keys[i]), { discard: true })
        for (const [i, [a, o]] of pairs.entries()) assert.strictEqual(yield* getKey(a, o), Redacted.value(keys[i]))
        assert.strictEqual(yield* getKey(appId, openid), Redacted.value(key))
        // ids out of the stores' rule (TokenStore.checkUser) are refused, and reach no other user's key:
        // an appId with ":" or a brace ((a:b, c) against (a, b:c)), a padded id (MariaDB's PAD SPACE
        // takes "o1 " for "o1"), one outside ASCII (a lone surrogate is written as U+FFFD)
        const refused = [
          [`${appId}:x`, "y"],
          [`${appId}}`, "y"],
          [`${appId} `, openid],
          [appId, `${openid} `],
          [appId, ` ${openid}`],
          [appId, `${openid}\uD800`],
          [appId, `${openid}\uFFFD`],
          [appId, `${openid}\u0000`],
          ["", openid],
          [appId, "x".repeat(129)]
        ] as const
        for (const [a, o] of refused) {
          for (
            const attempt of [s.get(a, o), s.set(a, o, randomSessionKey()), s.remove(a, o)] as ReadonlyArray<
              Effect.Effect<unknown, TokenStoreError>
            >
          ) {
            const failure = yield* Effect.flip(attempt)
            assert.strictEqual(failure._tag, "TokenStoreError")
            assert.notInclude(failure.message, openid)
          }
        }
        assert.strictEqual(yield* getKey(appId, openid), Redacted.value(key))
      }))

    it("a set replaces the user's key", () =>
      Effect.gen(function*() {
        const s = yield* store
        const [appId, openid] = [randomAppId(), randomOpenId()]
        const [first, second] = [randomSessionKey(), randomSessionKey()]
        yield* s.set(appId, openid, first)
        yield* s.set(appId, openid, second)
        assert.strictEqual(yield* getKey(appId, openid), Redacted.value(second))
      }))

    it("remove forgets the key, and no other; removing an unknown user is fine", () =>
      Effect.gen(function*() {
        const s = yield* store
        const [appId, openid, other] = [randomAppId(), randomOpenId(), randomOpenId()]
        const [key, otherKey] = [randomSessionKey(), randomSessionKey()]
        yield* s.set(appId, openid, key)
        yield* s.set(appId, other, otherKey)
        yield* s.remove(appId, openid)
        assert.isTrue(Option.isNone(yield* s.get(appId, openid)))
        assert.strictEqual(yield* getKey(appId, other), Redacted.value(otherKey))
        yield* s.remove(appId, openid)
        yield* s.remove(randomAppId(), randomOpenId())
        yield* s.set(appId, openid, key)
        assert.strictEqual(yield* getKey(appId, openid), Redacted.value(key))
      }))

    it("a key is gone once its ttl is over (by Clock); a set starts the ttl again", () =>
      Effect.gen(function*() {
        const s = yield* store
        const [appId, openid, renewed] = [randomAppId(), randomOpenId(), randomOpenId()]
        const key = randomSessionKey()
        yield* s.set(appId, openid, key)
        yield* s.set(appId, renewed, key)
        yield* TestClock.adjust(ttl - 1000)
        assert.strictEqual(yield* getKey(appId, openid), Redacted.value(key))
        yield* s.set(appId, renewed, key)
        yield* TestClock.adjust(2000)
        assert.isTrue(Option.isNone(yield* s.get(appId, openid)))
        assert.strictEqual(yield* getKey(appId, renewed), Redacted.value(key))
        yield* TestClock.adjust(ttl - 3000)
        assert.strictEqual(yield* getKey(appId, renewed), Redacted.value(key))
        yield* TestClock.adjust(2000)
        assert.isTrue(Option.isNone(yield* s.get(appId, renewed)))
      }))

    it("50 users' keys set concurrently are each kept", () =>
      Effect.gen(function*() {
        const s = yield* store
        const appId = randomAppId()
        const users = Array.from({ length: 50 }, () => [randomOpenId(), randomSessionKey()] as const)
        yield* Effect.forEach(users, ([openid, key]) => s.set(appId, openid, key), {
          concurrency: "unbounded",
          discard: true
        })
        for (const [openid, key] of users) assert.strictEqual(yield* getKey(appId, openid), Redacted.value(key))
      }))

    it("arguments of the wrong type, and keys WeChat never gives, are a TokenStoreError, not a defect, and quote no key", () =>
      Effect.gen(function*() {
        const s = yield* store
        const [appId, openid, key] = [randomAppId(), randomOpenId(), randomSessionKey()]
        const plain = Crypto.randomBytes(16).toString("base64")
        const secrets = [Redacted.value(key), plain]
        const loose = (value: unknown) => value as never
        for (const bad of [undefined, null, 42, "", { appId }]) {
          yield* assertStoreError(`get(${String(bad)}, openid)`, () => s.get(loose(bad), openid), secrets)
          yield* assertStoreError(`get(appId, ${String(bad)})`, () => s.get(appId, loose(bad)), secrets)
          yield* assertStoreError(`set(${String(bad)}, openid, key)`, () => s.set(loose(bad), openid, key), secrets)
          yield* assertStoreError(`set(appId, ${String(bad)}, key)`, () => s.set(appId, loose(bad), key), secrets)
          yield* assertStoreError(`remove(${String(bad)}, openid)`, () => s.remove(loose(bad), openid), secrets)
          yield* assertStoreError(`remove(appId, ${String(bad)})`, () => s.remove(appId, loose(bad)), secrets)
        }
        // and keys WeChat never gives, held to the rule its answers are: 1 to 256 printable ASCII
        const notKeys = [
          undefined,
          null,
          plain,
          Redacted.make(""),
          Redacted.make(42),
          { value: plain },
          Redacted.make(`${plain}\n`),
          Redacted.make(`${plain}\u0000`),
          Redacted.make(`${plain} ${plain}`),
          Redacted.make(`${plain}密`),
          Redacted.make("k".repeat(257))
        ]
        for (const [i, bad] of notKeys.entries()) {
          yield* assertStoreError(
            `set(appId, openid, not a key #${i + 1})`,
            () => s.set(appId, openid, loose(bad)),
            secrets
          )
        }
        assert.isTrue(Option.isNone(yield* s.get(appId, openid)))
        // the longest key the rule allows is kept
        const longest = Redacted.make("~".repeat(256))
        yield* s.set(appId, openid, longest)
        assert.strictEqual(yield* getKey(appId, openid), Redacted.value(longest))
      }))

    register(layer, cases)
  })
}

/**
 * A session fixture for `SessionStore` suites: a fresh token (kept by the test, never by a store)
 * and a browser session of a random user under its hash, created `now` (by `Clock`) and live for an
 * hour. Any field can be overridden.
 *
 * @since 0.1.0
 * @category fixtures
 */
export const makeSession = (
  overrides: Partial<ConstructorParameters<typeof SessionStore.Session>[0]> = {}
): Effect.Effect<{ readonly token: Redacted.Redacted<string>; readonly session: SessionStore.Session }> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const token = yield* SessionStore.makeToken
    const session = new SessionStore.Session({
      idHash: SessionStore.hashToken(token),
      appId: randomAppId(),
      openid: randomOpenId(),
      scopes: ["snsapi_base"],
      kind: "browser",
      createdAt: now,
      expiresAt: now + hour,
      ...overrides
    })
    return { token, session }
  })

const sameSession = (actual: SessionStore.Session, expected: SessionStore.Session) => {
  assert.instanceOf(actual, SessionStore.Session)
  assert.deepStrictEqual(
    { ...actual, scopes: [...actual.scopes] },
    { ...expected, scopes: [...expected.scopes] },
    "the stored session, field by field"
  )
}

/**
 * Asserts that `operation` fails with a `SessionStoreError` (in the error channel: not a defect, not
 * a throw when it is called) that quotes none of `secrets`.
 */
const assertSessionStoreError = <R>(
  what: string,
  operation: () => Effect.Effect<unknown, unknown, R>,
  secrets: ReadonlyArray<string> = []
): Effect.Effect<void, never, R> =>
  Effect.map(Effect.exit(Effect.suspend(operation)), (exit) => {
    assert.isTrue(Exit.isFailure(exit), `${what}: expected a SessionStoreError, got a success`)
    if (Exit.isSuccess(exit)) return
    const failure = Cause.failureOption(exit.cause)
    assert.isTrue(
      Option.isSome(failure) && !Cause.isDie(exit.cause),
      `${what}: expected a SessionStoreError in the error channel, got ${Cause.pretty(exit.cause)}`
    )
    const error = Option.getOrThrow(failure)
    assert.instanceOf(error, SessionStoreError, what)
    for (const text of textsOf(error)) {
      for (const secret of secrets) assert.notInclude(text, secret, `${what}: the error quotes a value`)
    }
  })

/** Waits in real time (the stores' own expiry in Redis runs on the server's clock, not the TestClock). */
const realSleep = (millis: number) => Effect.promise(() => new Promise<void>((done) => setTimeout(done, millis)))

/**
 * The contract every `SessionStore` honours, as a vitest suite: create / get with every field, a
 * live id never created twice, expiry by `Clock` (driven with `TestClock`), sliding expiry with
 * `touch` (which never brings a session back), `revoke`, `revokeUser` (every session of the user and
 * no other, touched ones included, also when sessions are created while it runs), concurrent users,
 * and arguments of the wrong type as a `SessionStoreError` (never a defect) that quotes nothing.
 *
 * @example
 * ```ts
 * import { SessionStore } from "@wxauth/core"
 * import { sessionStoreSuite } from "@wxauth/core/testing"
 *
 * sessionStoreSuite("memory", SessionStore.layerMemory)
 * // or a store of its own for each test (e.g. its own key prefix or table):
 * sessionStoreSuite("memory, per test", () => SessionStore.layerMemory)
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const sessionStoreSuite = <E>(
  name: string,
  layer: Layer.Layer<SessionStore.SessionStore, E> | (() => Layer.Layer<SessionStore.SessionStore, E>)
): void => {
  describe(`SessionStore contract: ${name}`, () => {
    type Case = () => Effect.Effect<void, unknown, SessionStore.SessionStore>
    const cases: Array<readonly [string, Case]> = []
    const it = (title: string, test: Case) => cases.push([title, atRealisticTime(test)])
    const store = SessionStore.SessionStore

    const getSession = (idHash: string) =>
      Effect.flatMap(store, (s) => s.get(idHash)).pipe(
        Effect.map((found) => {
          assert.isTrue(Option.isSome(found), "expected a live session")
          return Option.getOrThrow(found)
        })
      )
    const isGone = (idHash: string) =>
      Effect.map(Effect.flatMap(store, (s) => s.get(idHash)), (found) => {
        assert.isTrue(Option.isNone(found), "expected no session")
      })
    const userOf = (session: SessionStore.Session) => ({ appId: session.appId, openid: session.openid })

    it("get of an unknown idHash is None", () =>
      Effect.gen(function*() {
        yield* isGone(SessionStore.hashToken(yield* SessionStore.makeToken))
      }))

    it("create then get returns every field; optional fields stay absent", () =>
      Effect.gen(function*() {
        const s = yield* store
        const now = yield* Clock.currentTimeMillis
        const { session: full } = yield* makeSession({
          unionid: "oUnion_123",
          scopes: ["snsapi_userinfo", "snsapi_base"],
          kind: "miniProgram",
          createdAt: now - 1000,
          lastSeenAt: now - 500,
          binding: Crypto.randomBytes(32).toString("base64url"),
          data: { userId: "42", "display.name": "李雷 \"quoted\" \\ {x}", empty: "" }
        })
        yield* s.create(full)
        sameSession(yield* getSession(full.idHash), full)
        const { session: bare } = yield* makeSession({ scopes: [] })
        yield* s.create(bare)
        const found = yield* getSession(bare.idHash)
        sameSession(found, bare)
        for (const field of ["unionid", "lastSeenAt", "binding", "data"] as const) {
          assert.isUndefined(found[field], `${field} stays absent`)
        }
      }))

    it("the largest session its schema allows, every character a JSON escape, is created and read back whole", () =>
      Effect.gen(function*() {
        const s = yield* store
        // each of these characters is written as a six-character escape in a shared store's JSON
        const escaped = (length: number) => "\u0001".repeat(length)
        const { session } = yield* makeSession({
          unionid: escaped(128),
          scopes: Array.from({ length: 16 }, (_, i) => String.fromCharCode(65 + i) + escaped(63)),
          binding: escaped(128),
          data: { k: escaped(4095) }
        })
        const encoded = yield* SessionStore.encode(session)
        assert.isAtMost(Buffer.byteLength(encoded), SessionStore.maxStoredValueBytes, "within what a store fetches")
        yield* s.create(session)
        sameSession(yield* getSession(session.idHash), session)
      }))

    it("the client's token is nowhere in what the store gives back; its hash finds the session", () =>
      Effect.gen(function*() {
        const s = yield* store
        const { session, token } = yield* makeSession()
        yield* s.create(session)
        const found = yield* getSession(SessionStore.hashToken(Redacted.value(token)))
        for (const text of [String(found), JSON.stringify(found), Util.inspect(found, { depth: 10 })]) {
          assert.notInclude(text, Redacted.value(token))
        }
        // the hash of another token finds nothing
        yield* isGone(SessionStore.hashToken(yield* SessionStore.makeToken))
      }))

    it("create refuses an idHash whose session is live, and keeps the first", () =>
      Effect.gen(function*() {
        const s = yield* store
        const { session } = yield* makeSession()
        yield* s.create(session)
        const { session: other } = yield* makeSession({ idHash: session.idHash })
        yield* assertSessionStoreError("create(same idHash)", () => s.create(other), [other.openid])
        sameSession(yield* getSession(session.idHash), session)
      }))

    it("create refuses a session that is already over", () =>
      Effect.gen(function*() {
        const s = yield* store
        const now = yield* Clock.currentTimeMillis
        for (const expiresAt of [now, now - 1, 0]) {
          const { session } = yield* makeSession({ createdAt: 0, expiresAt })
          yield* assertSessionStoreError(`create(expiresAt now${expiresAt - now})`, () => s.create(session))
          yield* isGone(session.idHash)
        }
      }))

    it("a session is live until its expiresAt and None from then on (by Clock)", () =>
      Effect.gen(function*() {
        const s = yield* store
        const now = yield* Clock.currentTimeMillis
        const { session } = yield* makeSession({ expiresAt: now + hour })
        const { session: longer } = yield* makeSession({ ...userOf(session), expiresAt: now + 2 * hour })
        yield* s.create(session)
        yield* s.create(longer)
        yield* TestClock.adjust(hour - 1)
        sameSession(yield* getSession(session.idHash), session)
        yield* TestClock.adjust(1)
        yield* isGone(session.idHash)
        sameSession(yield* getSession(longer.idHash), longer)
        yield* TestClock.adjust(hour)
        yield* isGone(longer.idHash)
      }))

    it("touch moves expiresAt and sets lastSeenAt to now; the session outlives its first expiry", () =>
      Effect.gen(function*() {
        const s = yield* store
        const now = yield* Clock.currentTimeMillis
        const { session } = yield* makeSession({ expiresAt: now + hour })
        yield* s.create(session)
        yield* TestClock.adjust(hour / 2)
        const touched = yield* s.touch(session.idHash, now + 3 * hour)
        const expected = new SessionStore.Session({
          ...session,
          expiresAt: now + 3 * hour,
          lastSeenAt: now + hour / 2
        })
        sameSession(Option.getOrThrow(touched), expected)
        sameSession(yield* getSession(session.idHash), expected)
        yield* TestClock.adjust(2 * hour)
        sameSession(yield* getSession(session.idHash), expected)
        // touch may also shorten, to any time after now
        const later = yield* Clock.currentTimeMillis
        yield* s.touch(session.idHash, later + 1000)
        assert.strictEqual((yield* getSession(session.idHash)).expiresAt, later + 1000)
        yield* TestClock.adjust(1000)
        yield* isGone(session.idHash)
      }))

    it("touch never brings a session back: unknown, over or revoked is None, and stays gone", () =>
      Effect.gen(function*() {
        const s = yield* store
        const now = yield* Clock.currentTimeMillis
        assert.isTrue(Option.isNone(yield* s.touch(SessionStore.hashToken(yield* SessionStore.makeToken), now + hour)))
        const { session: over } = yield* makeSession({ expiresAt: now + 1000 })
        const { session: revoked } = yield* makeSession()
        yield* s.create(over)
        yield* s.create(revoked)
        yield* s.revoke(revoked.idHash)
        yield* TestClock.adjust(1000)
        const at = (yield* Clock.currentTimeMillis) + hour
        assert.isTrue(Option.isNone(yield* s.touch(over.idHash, at)), "an expired session is not touched")
        assert.isTrue(Option.isNone(yield* s.touch(revoked.idHash, at)), "a revoked session is not touched")
        yield* isGone(over.idHash)
        yield* isGone(revoked.idHash)
        // and a create may use the id of a session that is over
        const { session: again } = yield* makeSession({ idHash: over.idHash })
        yield* s.create(again)
        sameSession(yield* getSession(over.idHash), again)
      }))

    it("touch refuses an expiresAt that is not later than now, and changes nothing", () =>
      Effect.gen(function*() {
        const s = yield* store
        const { session } = yield* makeSession()
        yield* s.create(session)
        const now = yield* Clock.currentTimeMillis
        for (const at of [now, now - 1]) {
          yield* assertSessionStoreError(`touch(idHash, now${at - now})`, () => s.touch(session.idHash, at))
        }
        sameSession(yield* getSession(session.idHash), session)
      }))

    it("revoke ends that session and no other; an unknown idHash is fine", () =>
      Effect.gen(function*() {
        const s = yield* store
        const { session } = yield* makeSession()
        const { session: sibling } = yield* makeSession(userOf(session))
        yield* s.create(session)
        yield* s.create(sibling)
        yield* s.revoke(session.idHash)
        yield* isGone(session.idHash)
        sameSession(yield* getSession(sibling.idHash), sibling)
        yield* s.revoke(session.idHash)
        yield* s.revoke(SessionStore.hashToken(yield* SessionStore.makeToken))
      }))

    it("revokeUser ends every session of the user and counts the live ones; other users and apps keep theirs", () =>
      Effect.gen(function*() {
        const s = yield* store
        const now = yield* Clock.currentTimeMillis
        const { session: first } = yield* makeSession({ expiresAt: now + 1000 })
        const user = userOf(first)
        const mine = [first]
        for (const kind of ["browser", "miniProgram", "miniProgram"] as const) {
          mine.push((yield* makeSession({ ...user, kind })).session)
        }
        const others = [
          (yield* makeSession({ appId: user.appId })).session,
          (yield* makeSession({ openid: user.openid })).session,
          // an openid with ':' or braces is another user's
          (yield* makeSession({ appId: user.appId, openid: `x:${user.openid}` })).session,
          (yield* makeSession({ appId: user.appId, openid: `{${user.openid}}` })).session
        ]
        yield* Effect.forEach([...mine, ...others], (session) => s.create(session), { discard: true })
        // a session revokeUser could not name (an appId with ':' or braces, an openid with a space or
        // outside ASCII: SessionStore.checkUser) is never created
        for (
          const [appId, openid] of [
            [`${user.appId}:x`, user.openid],
            [`${user.appId}}`, `{${user.openid}`],
            [user.appId, `${user.openid} `],
            [user.appId, `${user.openid}\u00e9`]
          ]
        ) {
          const { session: unreachable } = yield* makeSession({ appId, openid })
          const refused = yield* Effect.flip(s.create(unreachable))
          assert.strictEqual(refused._tag, "SessionStoreError", JSON.stringify([appId, openid]))
          yield* isGone(unreachable.idHash)
        }
        yield* TestClock.adjust(1000)
        // the first is over: three were live
        assert.strictEqual(yield* s.revokeUser(user.appId, user.openid), 3)
        for (const session of mine) yield* isGone(session.idHash)
        for (const session of others) sameSession(yield* getSession(session.idHash), session)
        assert.strictEqual(yield* s.revokeUser(user.appId, user.openid), 0)
        assert.strictEqual(yield* s.revokeUser(randomAppId(), randomOpenId()), 0)
        // the user may log in again
        const { session: next } = yield* makeSession(user)
        yield* s.create(next)
        sameSession(yield* getSession(next.idHash), next)
        assert.strictEqual(yield* s.revokeUser(user.appId, user.openid), 1)
        yield* isGone(next.idHash)
      }))

    it("revokeUser reaches touched sessions, after their first expiry and after the user's later logins", () =>
      Effect.gen(function*() {
        const s = yield* store
        const now = yield* Clock.currentTimeMillis
        const { session } = yield* makeSession({ expiresAt: now + hour })
        const user = userOf(session)
        yield* s.create(session)
        yield* s.touch(session.idHash, now + 10 * hour)
        yield* TestClock.adjust(2 * hour)
        // a later login of the same user (a store may tidy the user's index then)
        const { session: later } = yield* makeSession(user)
        yield* s.create(later)
        assert.strictEqual(yield* s.revokeUser(user.appId, user.openid), 2)
        yield* isGone(session.idHash)
        yield* isGone(later.idHash)
      }))

    it("a session touched before the store's own expiry of its first expiresAt lives on (real time)", () =>
      Effect.gen(function*() {
        const s = yield* store
        const now = yield* Clock.currentTimeMillis
        const { session } = yield* makeSession({ expiresAt: now + 1000 })
        yield* s.create(session)
        yield* s.touch(session.idHash, now + hour)
        // a store whose server expires keys by its own clock has now passed the first expiresAt
        yield* realSleep(1300)
        assert.strictEqual((yield* getSession(session.idHash)).expiresAt, now + hour)
        assert.strictEqual(yield* s.revokeUser(session.appId, session.openid), 1)
        yield* isGone(session.idHash)
      }))

    it("sessions created while revokeUser runs are ended by it or by the next one, never left out of reach", () =>
      Effect.gen(function*() {
        const s = yield* store
        const { session: first } = yield* makeSession()
        const user = userOf(first)
        yield* s.create(first)
        const made = yield* Effect.forEach(Array.from({ length: 60 }, (_, i) => i), () => makeSession(user))
        const results = yield* Effect.forEach(
          made,
          ({ session }, i) =>
            i % 10 === 5
              ? Effect.zipRight(s.revokeUser(user.appId, user.openid), Effect.either(s.create(session)))
              : Effect.either(s.create(session)),
          { concurrency: "unbounded" }
        )
        // a create may fail only because a revokeUser ran beside it: with a SessionStoreError
        for (const result of results) {
          if (result._tag === "Left") assert.instanceOf(result.left, SessionStoreError)
        }
        const created = made.filter((_, i) => results[i]._tag === "Right")
        assert.isAbove(created.length, 0)
        yield* s.revokeUser(user.appId, user.openid)
        yield* isGone(first.idHash)
        for (const { session } of created) yield* isGone(session.idHash)
      }))

    it("50 users' sessions created concurrently are each kept, and each user's revokeUser ends only theirs", () =>
      Effect.gen(function*() {
        const s = yield* store
        const appId = randomAppId()
        const sessions = yield* Effect.forEach(
          Array.from({ length: 50 }, () => randomOpenId()),
          (openid) => Effect.map(Effect.all([makeSession({ appId, openid }), makeSession({ appId, openid })]), (p) => p)
        )
        yield* Effect.forEach(sessions.flat(), ({ session }) => s.create(session), {
          concurrency: "unbounded",
          discard: true
        })
        const counts = yield* Effect.forEach(
          sessions.filter((_, i) => i % 2 === 0),
          ([{ session }]) => s.revokeUser(session.appId, session.openid),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(counts, counts.map(() => 2))
        for (const [i, pair] of sessions.entries()) {
          for (const { session } of pair) {
            if (i % 2 === 0) yield* isGone(session.idHash)
            else sameSession(yield* getSession(session.idHash), session)
          }
        }
      }))

    it("arguments of the wrong type are a SessionStoreError, not a defect, and quote nothing", () =>
      Effect.gen(function*() {
        const s = yield* store
        const { session, token } = yield* makeSession({ data: { note: "secret-note-value" } })
        const plain = `plain_${Crypto.randomBytes(16).toString("hex")}`
        const secrets = [Redacted.value(token), plain, "secret-note-value", session.openid]
        const loose = (value: unknown) => value as never
        const now = yield* Clock.currentTimeMillis
        const badHashes = [
          undefined,
          null,
          42,
          "",
          plain,
          session.idHash.toUpperCase(),
          `${session.idHash}0`,
          Redacted.value(token),
          { idHash: session.idHash },
          "x".repeat(1_000_000)
        ]
        for (const [i, bad] of badHashes.entries()) {
          yield* assertSessionStoreError(`get(bad idHash #${i + 1})`, () => s.get(loose(bad)), secrets)
          yield* assertSessionStoreError(`touch(bad idHash #${i + 1})`, () => s.touch(loose(bad), now + hour), secrets)
          yield* assertSessionStoreError(`revoke(bad idHash #${i + 1})`, () => s.revoke(loose(bad)), secrets)
        }
        for (const [i, bad] of [undefined, null, "", 42, { appId: plain }, "a".repeat(10_000)].entries()) {
          yield* assertSessionStoreError(
            `revokeUser(bad appId #${i + 1})`,
            () => s.revokeUser(loose(bad), "o"),
            secrets
          )
          yield* assertSessionStoreError(
            `revokeUser(appId, bad openid #${i + 1})`,
            () => s.revokeUser(session.appId, loose(bad)),
            secrets
          )
        }
        yield* s.create(session)
        for (const [i, bad] of [undefined, null, Number.NaN, Infinity, now + 0.5, -1, String(now + hour)].entries()) {
          yield* assertSessionStoreError(`touch(idHash, bad time #${i + 1})`, () => s.touch(session.idHash, loose(bad)))
        }
        const mutated = (field: string, value: unknown) => {
          const copy = new SessionStore.Session({ ...session, idHash: SessionStore.hashToken(plain + field) })
          ;(copy as unknown as Record<string, unknown>)[field] = value
          return copy
        }
        const notSessions = [
          undefined,
          null,
          plain,
          { ...session, idHash: SessionStore.hashToken(plain) },
          mutated("appId", ""),
          mutated("openid", "o".repeat(129)),
          mutated("idHash", plain),
          mutated("scopes", [plain, 42]),
          mutated("kind", "admin"),
          mutated("expiresAt", Number.POSITIVE_INFINITY),
          mutated("createdAt", Number.NaN),
          mutated("data", { note: plain.repeat(200) }),
          mutated("data", JSON.parse(`{"__proto__":"${plain}"}`)),
          mutated("data", { "1st": plain }),
          mutated("binding", 42)
        ]
        for (const [i, bad] of notSessions.entries()) {
          yield* assertSessionStoreError(`create(not a valid session #${i + 1})`, () => s.create(loose(bad)), secrets)
        }
        // nothing was stored or changed by the refused calls
        sameSession(yield* getSession(session.idHash), session)
        for (const bad of notSessions.slice(4)) {
          const idHash = (bad as SessionStore.Session).idHash
          if (/^[0-9a-f]{64}$/.test(idHash)) yield* isGone(idHash)
        }
      }))

    register(layer, cases)
  })
}

/**
 * Exotic values a JavaScript caller can pass where the types ask for something else: a Symbol, a
 * BigInt, a function, an object without a prototype, objects whose `toString`, getters or prototype
 * throw, and a revoked Proxy. A fresh list (new traps, a newly revoked Proxy) at each call.
 *
 * @example
 * ```ts
 * import { TokenStore } from "@wxauth/core"
 * import { defectOf, exoticArguments } from "@wxauth/core/testing"
 * import * as Effect from "effect/Effect"
 *
 * // the store under test (here core's memory store)
 * const defects = Effect.flatMap(TokenStore.makeMemory(), (myStore) =>
 *   Effect.forEach(exoticArguments(), ([label, value]) =>
 *     Effect.map(
 *       defectOf(() => myStore.get(value as never, "oOPENID")),
 *       (defect) => defect && `get(${label}): ${defect}`
 *     )))
 * ```
 *
 * @since 0.1.0
 * @category fixtures
 */
export const exoticArguments = (): ReadonlyArray<readonly [label: string, value: unknown]> => {
  const revoked = Proxy.revocable({}, {})
  revoked.revoke()
  const trap = () => {
    throw new Error("trap")
  }
  return [
    ["Symbol", Symbol("x")],
    ["BigInt", 10n],
    ["function", () => "x"],
    ["Object.create(null)", Object.create(null)],
    ["throwing toString", { toString: trap, valueOf: trap }],
    ["throwing getters", new Proxy({}, { get: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap })],
    ["throwing getPrototypeOf", new Proxy({}, { getPrototypeOf: trap })],
    ["revoked Proxy", revoked.proxy]
  ]
}

/**
 * What goes wrong when `call` is made and the Effect it returns (if it returns one) is run for at
 * most `timeout` (by `Clock`), with the caller's context: `threw ...` when the call throws, `died
 * ...` on a defect, `hung` when the Effect does not end in time; `undefined` when it succeeds or
 * fails in its error channel (a typed refusal is the safe answer to a hostile argument).
 *
 * @since 0.1.0
 * @category assertions
 */
export const defectOf = (
  call: () => unknown,
  timeout: Duration.DurationInput = "5 seconds"
): Effect.Effect<string | undefined> =>
  Effect.gen(function*() {
    let result: unknown
    try {
      result = call()
    } catch (error) {
      return `threw ${String(error).slice(0, 100)}`
    }
    if (!Effect.isEffect(result)) return undefined
    const exit = yield* Effect.exit(Effect.timeout(result as Effect.Effect<unknown, unknown>, timeout))
    if (Exit.isFailure(exit) && Cause.isDie(exit.cause)) {
      return `died ${Cause.pretty(exit.cause).split("\n")[0].slice(0, 120)}`
    }
    const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
    if (Option.isSome(failure) && Cause.isTimeoutException(failure.value)) return "hung"
    return undefined
  })

/**
 * Pairs of users whose ids differ only in a way a careless store could lose, so that two users
 * become one (for `revokeUser`, or under one key): NUL, trailing spaces (PAD SPACE collations),
 * lone surrogates (written as U+FFFD), case and Unicode normalization (loose collations), an emoji
 * (3-byte utf8 columns), separators and their escapes, braces (a Redis hash tag), a quote and a
 * LIKE wildcard. Each entry: a label, then each user's `[appId, openid]`.
 *
 * @since 0.1.0
 * @category fixtures
 */
export const lookAlikeUsers: ReadonlyArray<
  readonly [label: string, first: readonly [appId: string, openid: string], second: readonly [string, string]]
> = [
  ["NUL between the ids", ["a\u0000b", "c"], ["a", "b\u0000c"]],
  ["a trailing space", ["wxapp0000000000001", "alice"], ["wxapp0000000000001", "alice "]],
  ["a trailing space in the appid", ["wxapp0000000000001 ", "alice"], ["wxapp0000000000001", "alice"]],
  ["a lone surrogate and U+FFFD", ["wxapp0000000000001", "\uD800x"], ["wxapp0000000000001", "\uFFFDx"]],
  ["a lone low surrogate", ["wxapp0000000000001", "x\uDC00"], ["wxapp0000000000001", "x\uFFFD"]],
  ["case", ["wxapp0000000000001", "Alice"], ["wxapp0000000000001", "alice"]],
  ["composed and decomposed é", ["wxapp0000000000001", "\u00e9"], ["wxapp0000000000001", "e\u0301"]],
  ["an emoji", ["wxapp0000000000001", "\u{1F43C}"], ["wxapp0000000000001", "\uFFFD"]],
  ["a colon and its escape", ["a:b", "c"], ["a%3Ab", "c"]],
  ["braces", ["a}", "{b"], ["a", "}{b"]],
  ["a percent-u look-alike", ["wxapp0000000000001", "%uD800x"], ["wxapp0000000000001", "\uD800x"]],
  ["a quote", ["wxapp0000000000001", "x' OR '1'='1"], ["wxapp0000000000001", "x"]],
  ["a LIKE wildcard", ["wxapp0000000000001", "a%"], ["wxapp0000000000001", "ab"]]
]

/**
 * The attacks every `SessionStore` withstands, as a vitest suite (the red team's, beside the
 * contract of `sessionStoreSuite`): `revokeUser` of one of two users whose ids only look alike
 * (`lookAlikeUsers`) ends that user's session only, or the store refuses an id it cannot keep
 * exactly, typed; a session the caller changes after `create` or `get` does not change what the
 * store keeps; exotic JavaScript values (`exoticArguments`, NUL, a lone surrogate) and a session
 * whose field throws, given to every operation, are never a throw, a defect or a hang; and a
 * session to the end of the safe integers is kept, touched, revoked and revoked by user, while
 * times past them are a typed failure.
 *
 * @example
 * ```ts
 * import { SessionStore } from "@wxauth/core"
 * import { sessionStoreAttackSuite } from "@wxauth/core/testing"
 *
 * sessionStoreAttackSuite("memory", () => SessionStore.layerMemory)
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const sessionStoreAttackSuite = <E>(
  name: string,
  layer: Layer.Layer<SessionStore.SessionStore, E> | (() => Layer.Layer<SessionStore.SessionStore, E>)
): void => {
  describe(`SessionStore attacks: ${name}`, () => {
    type Case = () => Effect.Effect<void, unknown, SessionStore.SessionStore>
    const cases: Array<readonly [string, Case]> = []
    const it = (title: string, test: Case) => cases.push([title, atRealisticTime(test)])
    const store = SessionStore.SessionStore

    it("revokeUser ends only the user's own sessions, whatever the ids' characters; never a defect", () =>
      Effect.gen(function*() {
        const s = yield* store
        const problems: Array<string> = []
        for (const [label, [appA, openidA], [appB, openidB]] of lookAlikeUsers) {
          const { session: a } = yield* makeSession({ appId: appA, openid: openidA })
          const { session: b } = yield* makeSession({ appId: appB, openid: openidB })
          const created = yield* Effect.exit(Effect.all([s.create(a), s.create(b)]))
          if (Exit.isFailure(created)) {
            if (Cause.isDie(created.cause)) {
              problems.push(`${label}: create died ${Cause.pretty(created.cause).split("\n")[0].slice(0, 120)}`)
            }
            // refusing an id the store cannot keep exactly is safe; clean up and go on
            yield* Effect.ignore(s.revoke(a.idHash))
            yield* Effect.ignore(s.revoke(b.idHash))
            continue
          }
          const gotA = yield* s.get(a.idHash)
          if (Option.isNone(gotA) || gotA.value.openid !== openidA || gotA.value.appId !== appA) {
            problems.push(`${label}: the first session does not come back as stored`)
          }
          const revoked = yield* Effect.exit(s.revokeUser(appA, openidA))
          if (Exit.isFailure(revoked)) {
            if (Cause.isDie(revoked.cause)) problems.push(`${label}: revokeUser died`)
            continue
          }
          if (revoked.value !== 1) problems.push(`${label}: revokeUser counted ${revoked.value}, not 1`)
          if (Option.isSome(yield* s.get(a.idHash))) problems.push(`${label}: the first user's session is alive`)
          if (Option.isNone(yield* s.get(b.idHash))) problems.push(`${label}: the other user's session was ended`)
          yield* s.revoke(b.idHash)
        }
        assert.deepStrictEqual(problems, [])
      }))

    it("a session changed by the caller after create, or after get gave it back, stays as stored", () =>
      Effect.gen(function*() {
        const s = yield* store
        const now = yield* Clock.currentTimeMillis
        const { session } = yield* makeSession({ expiresAt: now + 1_000_000 })
        const { appId, openid } = session
        yield* s.create(session)
        const got = Option.getOrThrow(yield* s.get(session.idHash))
        try {
          // a JavaScript caller: readonly in the types only
          ;(got as { expiresAt: number }).expiresAt = Number.MAX_SAFE_INTEGER
          ;(got as { openid: string }).openid = "someone-else"
        } catch {
          // a frozen value refusing the change is fine too
        }
        try {
          ;(session as { expiresAt: number }).expiresAt = Number.MAX_SAFE_INTEGER
        } catch {
          // idem
        }
        yield* TestClock.adjust(2_000_000)
        assert.isTrue(Option.isNone(yield* s.get(session.idHash)), "the session ended at its stored expiry")
        const { session: other } = yield* makeSession({ appId, openid })
        yield* s.create(other)
        assert.strictEqual(yield* s.revokeUser(appId, openid), 1)
      }))

    it("exotic arguments to every operation: never a throw, a defect or a hang", () =>
      Effect.gen(function*() {
        const s = yield* store
        const { session } = yield* makeSession()
        const defects: Array<string> = []
        const probe = function*(name: string, call: () => unknown) {
          const defect = yield* defectOf(call, "10 seconds")
          if (defect !== undefined) defects.push(`${name}: ${defect}`)
        }
        const values = [...exoticArguments(), ["NUL", "\u0000"], ["lone surrogate", "\uD800"]] as const
        for (const [label, value] of values) {
          const v = value as never
          yield* probe(`create(${label})`, () => s.create(v))
          yield* probe(`get(${label})`, () => s.get(v))
          yield* probe(`touch(${label}, 1)`, () => s.touch(v, 1))
          yield* probe(`touch(idHash, ${label})`, () => s.touch(session.idHash, v))
          yield* probe(`revoke(${label})`, () => s.revoke(v))
          yield* probe(`revokeUser(${label}, x)`, () => s.revokeUser(v, "x"))
          yield* probe(`revokeUser(x, ${label})`, () => s.revokeUser("x", v))
        }
        // a Session whose field was replaced by a throwing getter after construction
        const { session: tampered } = yield* makeSession()
        Object.defineProperty(tampered, "openid", {
          get: () => {
            throw new Error("trap")
          }
        })
        yield* probe("create(Session with a throwing openid)", () => s.create(tampered))
        assert.deepStrictEqual(defects, [])
      }))

    it("a session to the end of the safe integers is kept, touched, revoked and revoked by user; later is refused", () =>
      Effect.gen(function*() {
        const s = yield* store
        const { session } = yield* makeSession({ expiresAt: Number.MAX_SAFE_INTEGER })
        const { session: sibling } = yield* makeSession({
          appId: session.appId,
          openid: session.openid,
          expiresAt: Number.MAX_SAFE_INTEGER
        })
        yield* s.create(session)
        yield* s.create(sibling)
        assert.strictEqual(Option.getOrThrow(yield* s.get(session.idHash)).expiresAt, Number.MAX_SAFE_INTEGER)
        assert.isTrue(Option.isSome(yield* s.touch(session.idHash, Number.MAX_SAFE_INTEGER)))
        for (const bad of [Number.MAX_SAFE_INTEGER + 2, 1e300, -1, 0.5, Number.NaN]) {
          const exit = yield* Effect.exit(s.touch(session.idHash, bad))
          assert.isTrue(Exit.isFailure(exit) && !Cause.isDie(exit.cause), `touch(${bad}) fails typed`)
        }
        yield* s.revoke(session.idHash)
        assert.isTrue(Option.isNone(yield* s.get(session.idHash)))
        assert.strictEqual(yield* s.revokeUser(sibling.appId, sibling.openid), 1)
        assert.isTrue(Option.isNone(yield* s.get(sibling.idHash)))
      }))

    register(layer, cases)
  })
}
