/**
 * Merges concurrent runs of the same keyed effect into one: the first caller starts it (in the
 * given scope, so a caller that goes away does not cancel it for the others), later callers await
 * its result. The result is handed over, and the key freed, when the work fiber ends, however it
 * ends (interrupted with its scope included), so no caller waits forever.
 *
 * A flight may carry an owner (e.g. the browser binding of a code exchange): only callers with the
 * same owner share its result; another owner's caller gets `onOther` applied to the flight's result
 * instead (e.g. it waits for the flight to end, then fails).
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"

/** @internal */
export const make = <A, E>(scope: Scope.Scope) => {
  interface Flight {
    readonly deferred: Deferred.Deferred<A, E>
    readonly owner: string | undefined
  }
  const flights = new Map<string, Flight>()
  const runOwned = <E2 = E>(
    key: string,
    owner: string | undefined,
    effect: Effect.Effect<A, E>,
    onOther: (flight: Effect.Effect<A, E>) => Effect.Effect<A, E | E2>
  ): Effect.Effect<A, E | E2> =>
    // The flight is registered and its fiber started in one uninterruptible step: a caller
    // interrupted between the two (at a yield) left the key with a deferred nobody would complete,
    // and every later caller of the key waited on it forever. The work and the waits are interruptible
    // as the caller is.
    Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        const running = flights.get(key)
        if (running !== undefined) {
          const result = Deferred.await(running.deferred)
          return restore(running.owner === owner ? result : onOther(result))
        }
        const deferred = Deferred.unsafeMake<A, E>(FiberId.none)
        const flight: Flight = { deferred, owner }
        flights.set(key, flight)
        return Effect.forkIn(restore(effect), scope).pipe(
          Effect.flatMap((fiber) => {
            fiber.addObserver((exit) => {
              if (flights.get(key) === flight) flights.delete(key)
              Deferred.unsafeDone(deferred, exit)
            })
            return restore(Deferred.await(deferred))
          })
        )
      })
    )
  const run = (key: string, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    runOwned(key, undefined, effect, (flight) => flight)
  return { run, runOwned, size: () => flights.size }
}
