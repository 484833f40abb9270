/**
 * A deadline that always ends the wait, on code someone else wrote (a store, a token source, an app
 * resolver, a push handler, an `HttpClient` other than the lean one). `@wxauth/store-sql`'s
 * operation timeout and `@wxauth/http`'s hook timeout write the same two steps themselves (they
 * see only core's public API).
 *
 * `Effect.timeoutFail` alone runs its effect with the caller's interruptibility and, at the
 * deadline, waits for the effect to be interrupted: from a caller's uninterruptible region (an
 * acquire step, a finaliser, `Effect.uninterruptible`) an effect that never answers would still hang
 * it, and every caller waiting behind it on a single-flight or a lock. Here the effect runs in a
 * fiber of its own that the deadline interrupts in the background (the caller does not wait for an
 * effect that ignores interruption); the caller's own interruption reaches it only where the caller
 * is interruptible, as it would without the deadline.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/**
 * `effect`, failing with `onTimeout()` once `duration` has passed without its answer.
 *
 * @internal
 */
export const within = <A, E, R, E2>(
  effect: Effect.Effect<A, E, R>,
  duration: Duration.DurationInput,
  onTimeout: () => E2
): Effect.Effect<A, E | E2, R> =>
  Effect.timeoutFail(Effect.interruptible(Effect.disconnect(effect)), { duration, onTimeout })

/**
 * `effect` in a fiber of its own that only the caller's own interruption (where it is
 * interruptible) or a race it loses can interrupt, and whose interruption the caller does not wait
 * for: for a race that must end even from an uninterruptible region.
 *
 * @internal
 */
export const cuttable = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.interruptible(Effect.disconnect(effect))
