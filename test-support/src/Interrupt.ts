/**
 * Interruption at a chosen step: a `Supervisor` that interrupts the first fiber it sees at that
 * fiber's n-th runtime step, to sweep n over a whole call and find the steps where an interrupted
 * caller leaves shared state behind (a flight nobody completes, a claim nobody releases).
 *
 * @since 0.0.0
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as RuntimeFlagsPatch from "effect/RuntimeFlagsPatch"
import * as Supervisor from "effect/Supervisor"

/**
 * Interrupts the first fiber it sees at that fiber's `at`-th step; `steps` counts that fiber's
 * steps (fewer than `at` when the call ended first).
 *
 * @since 0.0.0
 */
export class InterruptAt extends Supervisor.AbstractSupervisor<void> {
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

/**
 * `effect` run under `supervisor`, with the runtime reporting each of its steps to it (op
 * supervision, off by default).
 *
 * @since 0.0.0
 */
export const supervisedBy = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  supervisor: Supervisor.Supervisor<unknown>
): Effect.Effect<A, E, R> =>
  effect.pipe(
    Effect.withRuntimeFlagsPatch(RuntimeFlagsPatch.enable(RuntimeFlags.OpSupervision)),
    Effect.supervised(supervisor)
  )
