/**
 * compat's single-flight (the refresh of a bare refresh token): whatever step the first caller is
 * interrupted at, the next caller of the key is not left waiting on a flight that never started.
 * compat's Promise API gives a caller no way to interrupt a call today; the module is tested on its
 * own, with the interruption delivered by a supervisor at the caller's n-th step (as the runtime
 * delivers one when a fiber yields).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as RuntimeFlagsPatch from "effect/RuntimeFlagsPatch"
import * as Supervisor from "effect/Supervisor"
import * as TestClock from "effect/TestClock"
import * as SingleFlight from "../src/internal/singleFlight.js"

/** Interrupts the first fiber it sees at that fiber's `at`-th step. */
class InterruptAt extends Supervisor.AbstractSupervisor<void> {
  steps = 0
  target: Fiber.RuntimeFiber<unknown, unknown> | undefined
  readonly value = Effect.void
  constructor(readonly at: number) {
    super()
  }
  override onEffect<A, E>(fiber: Fiber.RuntimeFiber<A, E>): void {
    if (this.target === undefined) this.target = fiber as Fiber.RuntimeFiber<unknown, unknown>
    if ((fiber as Fiber.RuntimeFiber<unknown, unknown>) !== this.target) return
    if (++this.steps === this.at) fiber.unsafeInterruptAsFork(FiberId.none)
  }
}

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
          flights.run(key, work).pipe(
            Effect.withRuntimeFlagsPatch(RuntimeFlagsPatch.enable(RuntimeFlags.OpSupervision)),
            Effect.supervised(supervisor)
          )
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
