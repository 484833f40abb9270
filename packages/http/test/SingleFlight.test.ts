/**
 * The callback's single flight (`internal/singleFlight.ts`): runs of one key merged, a caller that
 * goes away cutting nothing for the others, the answers kept only when asked and for their time (by
 * `Clock`), and both maps bounded.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import * as SingleFlight from "../src/internal/singleFlight.js"

describe("the callback's single flight", () => {
  it.scoped("a caller interrupted while its run goes on cuts it for nobody; the key is freed when the run ends", () =>
    Effect.gen(function*() {
      const flight = SingleFlight.make<string, never>(yield* Effect.scope, {
        capacity: 10,
        keepFor: "1 minute",
        keep: () => false
      })
      const gate = yield* Deferred.make<void>()
      let runs = 0
      const work = Effect.zipRight(Effect.sync(() => ++runs), Effect.as(Deferred.await(gate), "answer"))
      const first = yield* Effect.fork(flight.run("k", work))
      yield* Effect.yieldNow()
      const second = yield* Effect.fork(flight.run("k", work))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(first)
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* Fiber.join(second), "answer")
      assert.strictEqual(runs, 1)
      assert.deepStrictEqual(flight.size(), { flights: 0, results: 0 })
      // not kept: the next caller runs again
      assert.strictEqual(yield* flight.run("k", work), "answer")
      assert.strictEqual(runs, 2)
    }))

  it.scoped("an answer `keep` accepts is given again until keepFor has passed; both maps stay within capacity", () =>
    Effect.gen(function*() {
      let runs = 0
      const flight = SingleFlight.make<number, never>(yield* Effect.scope, {
        capacity: 2,
        keepFor: "1 minute",
        keep: (n) => n % 2 === 1
      })
      const work = Effect.sync(() => ++runs)
      assert.strictEqual(yield* flight.run("a", work), 1)
      assert.strictEqual(yield* flight.run("a", work), 1, "kept")
      assert.strictEqual(yield* flight.run("b", work), 2)
      assert.strictEqual(yield* flight.run("b", work), 3, "not kept: run again")
      assert.strictEqual(yield* flight.run("b", work), 3, "kept")
      assert.strictEqual(yield* flight.run("c", work), 4)
      assert.strictEqual(yield* flight.run("c", work), 5)
      assert.strictEqual(flight.size().results, 2)
      assert.strictEqual(yield* flight.run("a", work), 6, "the oldest was forgotten past the capacity")
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* flight.run("c", work), 7, "expired")
      // past capacity flights, a caller runs its own
      const gate = yield* Deferred.make<void>()
      const slow = Effect.zipRight(Deferred.await(gate), work)
      const running = yield* Effect.forkAll([flight.run("x", slow), flight.run("y", slow), flight.run("z", slow)])
      yield* Effect.yieldNow()
      assert.strictEqual(flight.size().flights, 2)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(running)
      assert.strictEqual(flight.size().flights, 0)
    }))

  it.scoped("after the clock steps back, a remembered answer is over: the work runs again (review: served 50 minutes on)", () =>
    Effect.gen(function*() {
      let runs = 0
      // the service's settings
      const flight = SingleFlight.make<number, never>(yield* Effect.scope, {
        capacity: 10_000,
        keepFor: "60 seconds",
        keep: () => true
      })
      const work = Effect.sync(() => ++runs)
      yield* TestClock.setTime(Date.UTC(2026, 0, 1, 12, 1, 2))
      assert.strictEqual(yield* flight.run("a", work), 1)
      assert.strictEqual(yield* flight.run("a", work), 1, "kept")
      yield* TestClock.setTime(Date.UTC(2026, 0, 1, 11, 1, 2))
      yield* TestClock.adjust("50 minutes")
      assert.strictEqual(yield* flight.run("a", work), 2, "a clock before the answer's time ends it")
      assert.strictEqual(yield* flight.run("a", work), 2, "the new answer is kept")
      yield* TestClock.adjust("60 seconds")
      assert.strictEqual(yield* flight.run("a", work), 3, "for its 60 seconds")
    }))

  it.scoped("a step back forgets the answers of later times at once, and the sweep goes on in order after it", () =>
    Effect.gen(function*() {
      let runs = 0
      const flight = SingleFlight.make<number, never>(yield* Effect.scope, {
        capacity: 10,
        keepFor: "60 seconds",
        keep: () => true
      })
      const work = Effect.sync(() => ++runs)
      const t = Date.UTC(2026, 0, 1, 12, 0, 0)
      yield* TestClock.setTime(t)
      yield* flight.run("a", work)
      yield* flight.run("b", work)
      assert.strictEqual(flight.size().results, 2)
      yield* TestClock.setTime(t - 3_600_000)
      assert.strictEqual(yield* flight.run("c", work), 3)
      assert.strictEqual(flight.size().results, 1, "a and b, of times after now, are gone")
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual(yield* flight.run("d", work), 4)
      assert.strictEqual(yield* flight.run("c", work), 3, "c is kept within its time")
      yield* TestClock.adjust("40 seconds")
      assert.strictEqual(yield* flight.run("d", work), 4, "d is kept within its time")
      assert.strictEqual(flight.size().results, 1, "c expired and was swept")
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual(yield* flight.run("e", work), 5)
      assert.strictEqual(flight.size().results, 1, "d expired and was swept")
    }))
})
