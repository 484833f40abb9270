/**
 * Merges runs of one keyed effect into one, as core's code exchange does: the first caller starts
 * it in the given scope (so a caller that goes away does not cancel it for the others), later
 * callers of the key await its result. The key is freed, and the result handed over, when the work
 * fiber ends, however it ends, so no caller waits forever. A result `keep` accepts is then
 * remembered for `keepFor` (by `Clock`), so a caller a moment late gets it too.
 *
 * A result is given again only while the time since it was remembered is under `keepFor`: a clock
 * now before that time has stepped back (an NTP step, a VM restored) and tells nothing of how long
 * it has been, so the result is over (core's `Elapsed.since` rule), never kept for the step on top
 * of its time.
 *
 * Bounded: at most `capacity` flights (past it, a caller runs its effect on its own) and `capacity`
 * results (past it, the oldest is forgotten first).
 *
 * @internal
 */
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

/**
 * The milliseconds from `at` to `now` (epoch ms, by the Clock): `Infinity` when `now` is before
 * `at` (the clock was set back), as core's `Elapsed.since` (internal to core, so repeated here).
 */
const since = (at: number, now: number): number => now < at ? Infinity : now - at

/** @internal */
export const make = <A, E>(scope: Scope.Scope, options: Options<A>): SingleFlight<A, E> => {
  const { capacity, keep } = options
  const keepFor = Duration.toMillis(options.keepFor)
  const flights = new Map<string, Deferred.Deferred<A, E>>()
  // in the order they were remembered; no entry's time is after an entry's that follows it, so this
  // is the order they expire in: one remembered after a step back is added once the entries of
  // times after its own are gone (`forgetExpired`)
  const results = new Map<string, { readonly value: A; readonly at: number }>()
  // the time of the last entry (the latest of all), -Infinity with none
  let latest = -Infinity

  const valid = (at: number, now: number) => since(at, now) < keepFor

  const forgetExpired = (now: number) => {
    if (now < latest) {
      // the clock stepped back: the entries of times after now are over (and so out of order with
      // what comes next); one pass over all, once per step (then no time is after now)
      latest = -Infinity
      for (const [key, result] of results) {
        if (valid(result.at, now)) latest = result.at
        else results.delete(key)
      }
      return
    }
    for (const [key, result] of results) {
      if (valid(result.at, now)) return
      results.delete(key)
    }
    if (results.size === 0) latest = -Infinity
  }

  const remember = (key: string, value: A) =>
    Effect.clockWith((clock) =>
      Effect.sync(() => {
        // the time read where it is used: nothing remembered in between
        const now = clock.unsafeCurrentTimeMillis()
        forgetExpired(now)
        results.delete(key)
        while (results.size >= capacity) results.delete(results.keys().next().value!)
        results.set(key, { value, at: now })
        latest = now
      })
    )

  const run = <R>(key: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.clockWith((clock) =>
      // registered and started in one uninterruptible step (a caller interrupted between the two
      // would leave a key nobody completes); the work and the waits are interruptible as the caller is
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          // the time read where it is used: an answer remembered meanwhile, of a later time, is no
          // step back
          const now = clock.unsafeCurrentTimeMillis()
          forgetExpired(now)
          const remembered = results.get(key)
          if (remembered !== undefined) {
            if (valid(remembered.at, now)) return Effect.succeed(remembered.value)
            results.delete(key)
          }
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
      )
    )

  return { run, size: () => ({ flights: flights.size, results: results.size }) }
}
