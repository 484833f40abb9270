/**
 * AppToken over a stored app token the store cannot read (sealed with a TokenCipher key no longer
 * configured, garbage, a stamp no write can follow), against the in-process sandbox: it fetches a
 * fresh token under the lock and replaces the value (removing it first when it is stamped ahead, so
 * newer-wins keeps it), once per process, with one warning; a store that merely fails (times out)
 * makes it fail typed and replace nothing, and a readable token another process wrote meanwhile is
 * kept. The store here keeps what Redis and SQL keep (a stamp beside the codec's value); the same
 * cases run on Redis and on each database in their packages (and the contract suite's).
 */
import { assert, describe, it } from "@effect/vitest"
import { AppToken, AppTokenStore, RefreshLock, TokenCipher, WeChatConfig, WeChatError } from "@wxauth/core"
import { makeAppToken } from "@wxauth/core/testing"
import { Sandbox } from "@wxauth/sandbox"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"

const mini = Sandbox.defaultApps.miniProgram
const hour = 3_600_000
const day = 24 * hour
const plantedSecret = "AT_PLANTED_SECRET_0123456789"

const Environment = Layer.mergeAll(
  WeChatConfig.layer({ appId: mini.appId, appSecret: Redacted.make(mini.secret) }),
  Sandbox.layerHttpClient
).pipe(Layer.provideMerge(Sandbox.layer()))

const sandbox = Sandbox.Sandbox
const stats = Effect.flatMap(sandbox, (s) => s.stats)

/** Runs an effect in the background while moving the test clock. */
const withTime = <A, E, R>(effect: Effect.Effect<A, E, R>, step: Duration.DurationInput = "50 millis") =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < 400 && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* TestClock.adjust(step)
    return yield* Fiber.join(fiber)
  })

/**
 * A store keeping what Redis and SQL keep: a stamp beside the codec's value, newer wins by the stamp,
 * so a value it cannot read may be planted under any stamp. `remove` only with `withRemove`.
 */
const sharedStore = (withRemove: boolean) =>
  Effect.gen(function*() {
    const codec = yield* AppTokenStore.makeCodec
    const rows = new Map<string, { readonly stamp: number; readonly value: string }>()
    const calls = { get: 0, set: 0, remove: 0 }
    const store: AppTokenStore.AppTokenStoreShape = {
      get: (appId) =>
        Effect.suspend(() => {
          calls.get++
          const row = rows.get(appId)
          if (row === undefined) return Effect.succeedNone
          return Effect.flatMap(
            codec.decode(appId, row.value),
            (token) =>
              Effect.map(Clock.currentTimeMillis, (now) => token.isFresh(now) ? Option.some(token) : Option.none())
          )
        }),
      set: (appId, token) =>
        Effect.flatMap(codec.encode(appId, token), (value) =>
          Effect.sync(() => {
            calls.set++
            const row = rows.get(appId)
            if (row !== undefined && row.stamp > token.obtainedAt) return
            rows.set(appId, { stamp: token.obtainedAt, value })
          })),
      ...(withRemove
        ? {
          remove: (appId: string) =>
            Effect.sync(() => {
              calls.remove++
              rows.delete(appId)
            })
        }
        : {})
    }
    const plant = (stamp: number, value: string) => rows.set(mini.appId, { stamp, value })
    return { store, rows, calls, plant }
  })

/** An app token sealed for the mini program with a key the store does not have (rotated away). */
const sealedWithAnotherKey = Effect.gen(function*() {
  const gone = yield* Effect.orDie(TokenCipher.make({ keys: [{ id: "gone", key: TokenCipher.generateKey() }] }))
  const codec = yield* Effect.provideService(AppTokenStore.makeCodec, TokenCipher.TokenCipher, gone)
  return yield* Effect.orDie(
    codec.encode(mini.appId, yield* makeAppToken({ accessToken: Redacted.make(plantedSecret) }))
  )
})

/** The log lines written while `effect` runs (every level), as text. */
const capturingLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const lines: Array<{ readonly level: string; readonly text: string }> = []
    const logger = Logger.make(({ annotations, logLevel, message }) => {
      lines.push({ level: logLevel.label, text: `${String(message)} ${JSON.stringify([...annotations])}` })
    })
    const result = yield* effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return { result, lines }
  })

const processOf = (store: AppTokenStore.AppTokenStoreShape, lock: RefreshLock.RefreshLockShape) =>
  AppToken.make.pipe(
    Effect.provideService(AppTokenStore.AppTokenStore, store),
    Effect.provideService(RefreshLock.RefreshLock, lock),
    Effect.orDie
  )

describe("AppToken over a stored token the store cannot read", () => {
  const cases: ReadonlyArray<readonly [string, Effect.Effect<string>, (now: number) => number]> = [
    [
      "sealed with a TokenCipher key no longer configured, stamped a day ahead",
      sealedWithAnotherKey,
      (now) => now + day
    ],
    ["sealed with a removed key, stamped an hour back", sealedWithAnotherKey, (now) => now - hour],
    ["garbage, stamped a day ahead", Effect.succeed(`garbage ${plantedSecret}`), (now) => now + day],
    [
      "a token whose stamp no write can follow, stamped 2^53 - 1",
      Effect.succeed(
        JSON.stringify({ accessToken: plantedSecret, obtainedAt: Number.MAX_SAFE_INTEGER, expiresAt: 1e15 })
      ),
      () => Number.MAX_SAFE_INTEGER
    ]
  ]

  for (const [what, value, stamp] of cases) {
    it.scoped(`${what}: 100 callers in two processes get one fresh token from one stable_token, the store then holds it, one warning`, () =>
      Effect.gen(function*() {
        const { calls, plant, store } = yield* sharedStore(true)
        plant(stamp(yield* Clock.currentTimeMillis), yield* value)
        const lock = RefreshLock.makeInProcess()
        const processes = [yield* processOf(store, lock), yield* processOf(store, lock)]
        yield* Effect.flatMap(
          sandbox,
          (s) => s.injectFault({ kind: "slow", endpoint: "stable_token", delayMs: 300, times: 1 })
        )
        const { lines, result: tokens } = yield* capturingLogs(withTime(
          Effect.forEach(Array.from({ length: 100 }, (_, i) => processes[i % 2].get), (get) => get, {
            concurrency: "unbounded"
          })
        ))
        assert.strictEqual(new Set(tokens.map(Redacted.value)).size, 1)
        assert.strictEqual((yield* stats).stable_token, 1, "one fetch")
        const stored = Option.getOrThrow(yield* store.get(mini.appId))
        assert.strictEqual(Redacted.value(stored.accessToken), Redacted.value(tokens[0]))
        assert.isAtMost(calls.remove, 1)
        const warnings = lines.filter((line) => line.level === "WARN")
        assert.strictEqual(warnings.length, 1, `one warning: ${JSON.stringify(lines)}`)
        assert.include(warnings[0].text, "cannot be read")
        for (const line of lines) {
          assert.notInclude(line.text, plantedSecret)
          assert.notInclude(line.text, Redacted.value(tokens[0]))
        }
        // from then on the store answers
        assert.strictEqual(Redacted.value(yield* processes[0].get), Redacted.value(tokens[0]))
        assert.strictEqual((yield* stats).stable_token, 1)
      }).pipe(Effect.provide(Environment)))
  }

  it.scoped("invalidate over an unreadable value replaces it too", () =>
    Effect.gen(function*() {
      const { plant, store } = yield* sharedStore(true)
      plant((yield* Clock.currentTimeMillis) + day, yield* sealedWithAnotherKey)
      const appToken = yield* processOf(store, RefreshLock.makeInProcess())
      const token = yield* appToken.invalidate(Redacted.make(plantedSecret))
      const stored = Option.getOrThrow(yield* store.get(mini.appId))
      assert.strictEqual(Redacted.value(stored.accessToken), Redacted.value(token))
      assert.strictEqual((yield* stats).stable_token, 1)
    }).pipe(Effect.provide(Environment)))

  it.scoped("a store without remove: the value stamped ahead stays, each process fetches once and answers its token while fresh", () =>
    Effect.gen(function*() {
      const { plant, store } = yield* sharedStore(false)
      plant((yield* Clock.currentTimeMillis) + day, yield* sealedWithAnotherKey)
      const appToken = yield* processOf(store, RefreshLock.makeInProcess())
      const first = yield* appToken.get
      for (let i = 0; i < 5; i++) assert.strictEqual(Redacted.value(yield* appToken.get), Redacted.value(first))
      assert.strictEqual((yield* stats).stable_token, 1)
      assert.strictEqual((yield* Effect.flip(store.get(mini.appId))).reason, "Unreadable", "the store kept the value")
      // past its refresh window it is fetched again (stable_token answers the same token)
      yield* TestClock.adjust("116 minutes")
      yield* appToken.get
      assert.strictEqual((yield* stats).stable_token, 2)
    }).pipe(Effect.provide(Environment)))

  it.scoped("a readable token another process wrote meanwhile (stamped by a clock ahead) is kept and answered, never removed", () =>
    Effect.gen(function*() {
      const { calls, plant, rows, store } = yield* sharedStore(true)
      const now = yield* Clock.currentTimeMillis
      plant(now - hour, yield* sealedWithAnotherKey)
      const appToken = yield* processOf(store, RefreshLock.makeInProcess())
      yield* Effect.flatMap(
        sandbox,
        (s) => s.injectFault({ kind: "slow", endpoint: "stable_token", delayMs: 1000, times: 1 })
      )
      const fiber = yield* Effect.fork(appToken.get)
      yield* TestClock.adjust("100 millis")
      // while the fetch runs, another process (its clock a minute ahead) writes a readable token
      const theirs = yield* makeAppToken({ obtainedAt: now + 60_000, expiresAt: now + 60_000 + 2 * hour })
      yield* store.set(mini.appId, theirs)
      yield* TestClock.adjust("2 seconds")
      const token = yield* Fiber.join(fiber)
      assert.strictEqual(Redacted.value(token), Redacted.value(theirs.accessToken))
      assert.strictEqual(calls.remove, 0)
      assert.strictEqual(rows.get(mini.appId)?.stamp, theirs.obtainedAt)
    }).pipe(Effect.provide(Environment)))

  it.scoped("a store that times out (or fails without reason) fails get typed, fetches nothing and replaces nothing", () =>
    Effect.gen(function*() {
      const { calls, plant, rows, store } = yield* sharedStore(true)
      plant((yield* Clock.currentTimeMillis) + day, yield* sealedWithAnotherKey)
      const planted = rows.get(mini.appId)
      let mode: "hang" | "fail" = "hang"
      // a store of the caller's (unmarked): its get bounded by core's 10-second deadline
      const flaky: AppTokenStore.AppTokenStoreShape = {
        get: (_appId) =>
          mode === "hang"
            ? Effect.never
            : Effect.fail(new WeChatError.TokenStoreError({ operation: "get", description: "connection reset" })),
        set: store.set,
        remove: store.remove
      }
      const appToken = yield* processOf(flaky, RefreshLock.makeInProcess())
      const timedOut = yield* withTime(Effect.flip(appToken.get), "1 second")
      assert.strictEqual(timedOut._tag, "TokenStoreError")
      assert.isUndefined((timedOut as WeChatError.TokenStoreError).reason)
      mode = "fail"
      for (let i = 0; i < 3; i++) {
        const failed = yield* Effect.flip(appToken.get)
        assert.strictEqual(failed._tag, "TokenStoreError")
        assert.strictEqual(failed.message, "Token store get failed: connection reset")
        assert.strictEqual((yield* Effect.flip(appToken.invalidate(Redacted.make("T")))).message, failed.message)
      }
      assert.strictEqual((yield* stats).stable_token, 0, "nothing fetched")
      assert.deepStrictEqual([calls.set, calls.remove], [0, 0], "nothing written or removed")
      assert.strictEqual(rows.get(mini.appId), planted)
    }).pipe(Effect.provide(Environment)))
})
