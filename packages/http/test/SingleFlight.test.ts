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
})
