/**
 * Merges runs of one keyed effect into one, as core's code exchange does: the first caller starts
 * it in the given scope (so a caller that goes away does not cancel it for the others), later
 * callers of the key await its result. The key is freed, and the result handed over, when the work
 * fiber ends, however it ends, so no caller waits forever. A result `keep` accepts is then
 * remembered for `keepFor` (by `Clock`), so a caller a moment late gets it too.
 *
 * Bounded: at most `capacity` flights (past it, a caller runs its effect on its own) and `capacity`
 * results (past it, the oldest is forgotten first).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"

/** @internal */
export interface SingleFlight<A, E> {
  readonly run: <R>(key: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** How many flights are running, and how many results are remembered. */
  readonly size: () => { readonly flights: number; readonly results: number }
}

/** @internal */
export interface Options<A> {
  readonly capacity: number
  readonly keepFor: Duration.DurationInput
  readonly keep: (a: A) => boolean
}

/** @internal */
export const make = <A, E>(scope: Scope.Scope, options: Options<A>): SingleFlight<A, E> => {
  const { capacity, keep } = options
  const keepFor = Duration.toMillis(options.keepFor)
  const flights = new Map<string, Deferred.Deferred<A, E>>()
  // in the order they were remembered, which is the order they expire in
  const results = new Map<string, { readonly value: A; readonly until: number }>()

  const forgetExpired = (now: number) => {
    for (const [key, result] of results) {
      if (result.until > now) return
      results.delete(key)
    }
  }

  const remember = (key: string, value: A) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      forgetExpired(now)
      results.delete(key)
      while (results.size >= capacity) results.delete(results.keys().next().value!)
      results.set(key, { value, until: now + keepFor })
    })

  const run = <R>(key: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      // registered and started in one uninterruptible step (a caller interrupted between the two
      // would leave a key nobody completes); the work and the waits are interruptible as the caller is
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          forgetExpired(now)
          const remembered = results.get(key)
          if (remembered !== undefined) return Effect.succeed(remembered.value)
          const running = flights.get(key)
          if (running !== undefined) return restore(Deferred.await(running))
          if (flights.size >= capacity) return restore(effect)
          const deferred = Deferred.unsafeMake<A, E>(FiberId.none)
          flights.set(key, deferred)
          const work = Effect.tap(effect, (value) => keep(value) ? remember(key, value) : Effect.void)
          return Effect.forkIn(restore(work), scope).pipe(
            Effect.flatMap((fiber) => {
              fiber.addObserver((exit) => {
                if (flights.get(key) === deferred) flights.delete(key)
                Deferred.unsafeDone(deferred, exit)
              })
              return restore(Deferred.await(deferred))
            })
          )
        })
      ))

  return { run, size: () => ({ flights: flights.size, results: results.size }) }
}
