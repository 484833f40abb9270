/**
 * The registry's cache (internal/apps/lookupCache.ts): what it holds is bounded by its capacity, a
 * failure or an interrupted lookup leaves nothing, one lookup per key at a time (a running one is never
 * dropped; past `maxRunning`, a new key fails at once; running lookups and results kept apart push out
 * no other result), results kept for their time to live (TestClock).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import * as LookupCache from "../src/internal/apps/lookupCache.js"

const counting = <A, E>(
  lookup: (key: string) => Effect.Effect<A, E>,
  timeToLive: Duration.DurationInput = "1 minute"
) => {
  const calls: Array<string> = []
  const cache = LookupCache.make<A, E | string>({
    capacity: 100,
    overloaded: (key) => `overloaded: ${key}`,
    lookup: (key) => Effect.suspend(() => (calls.push(key), lookup(key))),
    timeToLive: (exit) => Exit.isSuccess(exit) ? Duration.decode(timeToLive) : Duration.zero
  })
  return { cache, calls }
}

describe("LookupCache", () => {
  it.effect("holds at most its capacity, the least recently used going first", () =>
    Effect.gen(function*() {
      const { cache, calls } = counting((key) => Effect.succeed(key.length))
      for (let i = 0; i < 10_000; i++) yield* cache.get(`key${i}`)
      assert.strictEqual(cache.size(), 100)
      yield* cache.get("key9900") // used: kept when the next one comes in
      yield* cache.get("another")
      const before = calls.length
      yield* cache.get("key9900")
      assert.strictEqual(calls.length, before)
      yield* cache.get("key9901") // the oldest then: gone
      assert.strictEqual(calls.length, before + 1)
      assert.strictEqual(cache.size(), 100)
    }))

  it.effect("a failure, a defect or an interrupted lookup is for its own callers only, and leaves nothing", () =>
    Effect.gen(function*() {
      const { cache, calls } = counting((key) => key === "die" ? Effect.die("boom") : Effect.fail(key))
      for (let i = 0; i < 10_000; i++) yield* Effect.flip(cache.get(`key${i % 3}`))
      assert.strictEqual(calls.length, 10_000)
      assert.strictEqual(cache.size(), 0)
      assert.isTrue(Exit.isFailure(yield* Effect.exit(cache.get("die"))))
      assert.strictEqual(cache.size(), 0)
      const hang = counting(() => Effect.never)
      const fiber = yield* Effect.fork(hang.cache.get("key"))
      yield* Effect.yieldNow()
      assert.strictEqual(hang.cache.size(), 1)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(hang.cache.size(), 0)
    }))

  it.effect("one lookup per key at a time; kept for its time to live", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const { cache, calls } = counting((key) => Effect.as(Deferred.await(gate), key), "1 minute")
      const fiber = yield* Effect.fork(
        Effect.all(Array.from({ length: 100 }, () => cache.get("a")), { concurrency: "unbounded" })
      )
      yield* Effect.yieldNow()
      yield* Deferred.succeed(gate, undefined)
      assert.deepStrictEqual(new Set(yield* Fiber.join(fiber)), new Set(["a"]))
      assert.deepStrictEqual(calls, ["a"])
      yield* TestClock.adjust("1 minute")
      yield* cache.get("a")
      assert.deepStrictEqual(calls, ["a"])
      yield* TestClock.adjust("1 millis")
      yield* cache.get("a")
      assert.deepStrictEqual(calls, ["a", "a"])
      yield* cache.invalidateWhen("a", (value) => value === "b")
      yield* cache.get("a")
      assert.strictEqual(calls.length, 2)
      yield* cache.invalidateWhen("a", (value) => value === "a")
      assert.strictEqual(cache.size(), 0)
    }))

  it.effect("a running lookup is never dropped to make room; past maxRunning a new key fails at once, kept for no one", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const { cache, calls } = counting((key) => Effect.as(Deferred.await(gate), key))
      const slow = yield* Effect.fork(cache.get("slow"))
      yield* TestClock.adjust("1 millis")
      // 500 other keys while "slow" runs: 99 run with it, the others fail at once
      const flood = yield* Effect.fork(
        Effect.all(Array.from({ length: 500 }, (_, i) => Effect.either(cache.get(`key${i}`))), {
          concurrency: "unbounded"
        })
      )
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(cache.running(), 100)
      assert.strictEqual(cache.size(), 100)
      // "slow" is still held: its second caller joins its lookup (before, the flood dropped it: two lookups)
      const again = yield* Effect.fork(cache.get("slow"))
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(calls.filter((key) => key === "slow").length, 1)
      assert.strictEqual(calls.length, 100)
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* Fiber.join(slow), "slow")
      assert.strictEqual(yield* Fiber.join(again), "slow")
      const answers = yield* Fiber.join(flood)
      assert.strictEqual(answers.filter((answer) => answer._tag === "Right").length, 99)
      assert.deepStrictEqual(answers[499], Either.left("overloaded: key499"))
      // the lookups are over: a refused key is looked up now, the least recently used result making room
      assert.strictEqual(cache.running(), 0)
      assert.strictEqual(yield* cache.get("key499"), "key499")
      assert.strictEqual(cache.size(), 100)
      assert.strictEqual(calls.length, 101)
    }))

  it.effect("running lookups and results apart push out no kept result; each is bounded on its own", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const calls: Array<string> = []
      // "known" is answered at once; any other key once the gate opens, with `undefined` (kept apart)
      const cache = LookupCache.make<string | undefined, string>({
        capacity: 100,
        apart: (value) => value === undefined,
        overloaded: (key) => `overloaded: ${key}`,
        lookup: (key) =>
          Effect.suspend(() => {
            calls.push(key)
            return key === "known" ? Effect.succeed(key) : Effect.as(Deferred.await(gate), undefined)
          }),
        timeToLive: () => Duration.decode("1 hour")
      })
      assert.strictEqual(yield* cache.get("known"), "known")
      // as many running lookups as the capacity: before, they pushed out "known", whose next use was refused
      const flood = yield* Effect.fork(
        Effect.all(Array.from({ length: 100 }, (_, i) => cache.get(`key${i}`)), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(cache.running(), 100)
      assert.strictEqual(yield* cache.get("known"), "known")
      assert.deepStrictEqual(yield* Effect.either(cache.get("key100")), Either.left("overloaded: key100"))
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(flood)
      // 1,000 more results apart, one after another: "known" stays, and they keep their own 100
      for (let i = 100; i < 1_100; i++) assert.strictEqual(yield* cache.get(`key${i}`), undefined)
      assert.strictEqual(cache.size(), 101)
      assert.strictEqual(yield* cache.get("known"), "known")
      assert.strictEqual(calls.filter((key) => key === "known").length, 1)
      // the most recent 100 apart are kept, the oldest went first
      yield* cache.get("key1099")
      assert.strictEqual(calls.length, 1_101)
      yield* cache.get("key999")
      assert.strictEqual(calls.length, 1_102)
      assert.strictEqual(cache.size(), 101)
    }))

  it.effect("a clock set back before a result ends it (looked up again); a result kept for ever stays", () =>
    Effect.gen(function*() {
      const { cache, calls } = counting((key) => Effect.succeed(key), "1 minute")
      const forever = counting((key) => Effect.succeed(key), Duration.infinity)
      yield* TestClock.setTime(1_800_000_000_000)
      yield* cache.get("a")
      yield* forever.cache.get("a")
      // NTP steps the clock back an hour: before, the result was served for the hour plus its minute
      yield* TestClock.setTime(1_800_000_000_000 - 3_600_000)
      yield* cache.get("a")
      assert.deepStrictEqual(calls, ["a", "a"])
      yield* forever.cache.get("a")
      assert.deepStrictEqual(forever.calls, ["a"])
      // the new result is kept for its minute from now
      yield* TestClock.adjust("1 minute")
      yield* cache.get("a")
      assert.deepStrictEqual(calls, ["a", "a"])
      // set back to 0
      yield* TestClock.setTime(0)
      yield* cache.get("a")
      assert.deepStrictEqual(calls, ["a", "a", "a"])
    }))
})
