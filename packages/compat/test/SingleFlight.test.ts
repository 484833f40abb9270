/**
 * compat's single-flight (the refresh of a bare refresh token): whatever step the first caller is
 * interrupted at, the next caller of the key is not left waiting on a flight that never started.
 * compat's Promise API gives a caller no way to interrupt a call today; the module is tested on its
 * own, with the interruption delivered by a supervisor at the caller's n-th step (as the runtime
 * delivers one when a fiber yields).
 */
import { assert, describe, it } from "@effect/vitest"
import { InterruptAt, supervisedBy } from "@wxauth/test-support"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as SingleFlight from "../src/internal/singleFlight.js"

describe("compat's single-flight", () => {
  it.scoped("a caller interrupted at any step leaves no flight that never ends", () =>
    Effect.gen(function*() {
      const flights = SingleFlight.make<string, never>(yield* Effect.scope)
      const work = Effect.as(Effect.sleep("1 second"), "done")
      const stuck: Array<number> = []
      for (let at = 1; at < 200; at++) {
        const key = `k${at}`
        const supervisor = new InterruptAt(at)
        const first = yield* Effect.fork(
          supervisedBy(flights.run(key, work), supervisor)
        )
        yield* TestClock.adjust("0 millis")
        const second = yield* Effect.fork(flights.run(key, work))
        yield* TestClock.adjust("2 seconds")
        if (Option.isNone(yield* Fiber.poll(second))) {
          stuck.push(at)
          yield* Fiber.interrupt(second)
        }
        const firstExit = yield* Fiber.await(first)
        if (Exit.isSuccess(firstExit) && supervisor.steps < at) {
          assert.isAbove(at, 2)
          break
        }
      }
      assert.deepStrictEqual(stuck, [])
      assert.strictEqual(flights.size(), 0)
    }))
})
