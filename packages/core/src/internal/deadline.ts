/**
 * A deadline that always ends the wait, on code someone else wrote (a store, a token source, an app
 * resolver, a push handler, an `HttpClient` other than the lean one). `@wxauth/store-sql`'s
 * operation timeout and `@wxauth/http`'s hook timeout write the same steps themselves (they see only
 * core's public API).
 *
 * `Effect.timeoutFail` alone runs its effect with the caller's interruptibility and, at the
 * deadline, waits for the effect to be interrupted: from a caller's uninterruptible region (an
 * acquire step, a finaliser, `Effect.uninterruptible`) an effect that never answers would still hang
 * it, and every caller waiting behind it on a single-flight or a lock. Here:
 * - the effect runs in a fiber of its own that the deadline interrupts in the background (the caller
 *   does not wait for an effect that ignores interruption);
 * - the deadline itself runs in a fiber that is not the caller's child: Effect hands a fiber's
 *   interruption on to its children at once, whatever the fiber's own interruptibility, so an
 *   outside interruption of a caller in an uninterruptible region would otherwise reach the effect
 *   through the deadline's race and cut it. It reaches the effect only where the caller is
 *   interruptible (its wait on the deadline is then interrupted, and the deadline's fiber with it,
 *   in the background), as it would without the deadline.
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
): Effect.Effect<A, E | E2, R> => Effect.disconnect(Effect.timeoutFail(cuttable(effect), { duration, onTimeout }))

/**
 * `effect` in a fiber of its own that a race it loses (or its caller, where interruptible) can
 * interrupt without waiting for it: one side of a race that must end even from an uninterruptible
 * region. Run the race itself in `Effect.disconnect`, so that an outside interruption of an
 * uninterruptible caller does not reach it (see above).
 *
 * @internal
 */
export const cuttable = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.interruptible(Effect.disconnect(effect))
