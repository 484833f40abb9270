/**
 * Merges concurrent runs of the same keyed effect into one: the first caller starts it in the
 * given scope (a caller that goes away does not cancel it for the others), later callers await its
 * result; the key is freed when the run ends, however it ends. Compat's refresh of a bare refresh
 * token uses it (core's single-flight refreshes a user's stored token, keyed by the user).
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"

/** @internal */
export const make = <A, E>(scope: Scope.Scope) => {
  const flights = new Map<string, Deferred.Deferred<A, E>>()
  const run = (key: string, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    // registered and started in one uninterruptible step: a caller interrupted between the two (at a
    // yield) left the key with a deferred nobody would complete, and later callers waited on it for
    // ever. The work and the waits are interruptible as the caller is.
    Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        const running = flights.get(key)
        if (running !== undefined) return restore(Deferred.await(running))
        const deferred = Deferred.unsafeMake<A, E>(FiberId.none)
        flights.set(key, deferred)
        return Effect.flatMap(Effect.forkIn(restore(effect), scope), (fiber) => {
          fiber.addObserver((exit) => {
            if (flights.get(key) === deferred) flights.delete(key)
            Deferred.unsafeDone(deferred, exit)
          })
          return restore(Deferred.await(deferred))
        })
      })
    )
  return { run, size: () => flights.size }
}
