/**
 * The registry's two caches: a bounded map of keyed lookups, one lookup per key at a time, each
 * result kept for the time `timeToLive` gives it (a zero time: for the callers of that lookup only),
 * the least recently used dropped past `capacity`. Results that `apart` picks (an unknown appid's
 * answer) are kept in a map of their own, as bounded: a flood of them never pushes out another result.
 *
 * Effect's `Cache` is not used: it tracks use in a list of its own that only shrinks when the cache
 * is over its capacity, and adds to it on every lookup, so a lookup that fails (and is invalidated)
 * or expires leaves an entry behind. A resolver failing for every request grew the heap by about
 * 100 bytes a request, without bound (20 MB for 200,000 failures), while the cache itself stayed empty.
 * Here the two maps are the whole state: what they no longer hold is gone.
 *
 * A kept result is its value or its error only: not the lookup's `Exit` (its `Cause`), nor the
 * `Deferred` its callers waited on. Each kept `UnknownApp` answer held both, and the error's captured
 * stack: 6.5 to 8.4 KB of heap per unknown appid in a resolver registry (84 MB at the default
 * capacity, filled by any browser asking for made-up appids).
 *
 * A running lookup is never dropped to make room: dropped, the next caller of its key started a second
 * one (two resolver calls for one appid at once, and no bound on the calls running). Running lookups
 * are bounded on their own: a new key past `maxRunning` running lookups fails at once with
 * `overloaded`, kept for no one. They do not count towards `capacity`: counted, as many running
 * lookups as the capacity (made-up appids, each a slow resolver call) dropped every kept result, a
 * known app's too, whose next use then started a lookup, refused. So the cache holds at most
 * `capacity` results, `capacity` results apart and `maxRunning` running lookups.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Elapsed from "../elapsed.js"

/** A lookup not over yet: its callers wait on `deferred`. */
interface Running<A, E> {
  readonly deferred: Deferred.Deferred<A, E>
  /** Set when the lookup is over (or its scope closed first). */
  settled: boolean
}

/** A result kept for its time to live. */
interface Kept<A, E> {
  /** The value, or the error alone (nothing else of the lookup's Exit). */
  readonly result: Either.Either<A, E>
  /** When the lookup was over (epoch ms, by the Clock). */
  readonly settledAt: number
  /** How long (ms) the result is served from `settledAt`; `Infinity` for ever. */
  readonly timeToLive: number
}

/** @internal */
export interface LookupCache<A, E> {
  /**
   * The kept result for `key`, the running lookup's, or a new lookup's (run in the cache's scope when
   * it has one, else in the calling fiber); `overloaded` at once when a new lookup would be one more
   * than `maxRunning`.
   */
  readonly get: (key: string) => Effect.Effect<A, E>
  /** Forgets `key`'s kept result when it is a success that `when` accepts (never a running lookup). */
  readonly invalidateWhen: (key: string, when: (value: A) => boolean) => Effect.Effect<void>
  /** How many keys are held (results, results apart and running lookups). */
  readonly size: () => number
  /** How many lookups are running. */
  readonly running: () => number
}

/** @internal */
export const make = <A, E>(options: {
  readonly capacity: number
  /**
   * How many lookups may run at once (each of another key): past it, a new key fails with
   * `overloaded`. Default: `capacity`. Running lookups are never dropped, and bounded by this alone
   * (not counted towards `capacity`).
   */
  readonly maxRunning?: number | undefined
  /**
   * The successes kept apart from the others (an unknown appid's answer): in a map of their own, of
   * at most `capacity` results, the least recently used going first, so that they never push out
   * the others' results, nor the others theirs.
   */
  readonly apart?: ((value: A) => boolean) | undefined
  /** The failure of a key whose lookup would be one more than `maxRunning`. */
  readonly overloaded: (key: string) => E
  readonly lookup: (key: string) => Effect.Effect<A, E>
  /**
   * How long a result is kept. A failure is kept as its error alone (the first of its Cause), and
   * only when it has one and was not interrupted.
   */
  readonly timeToLive: (exit: Exit.Exit<A, E>) => Duration.Duration
  /**
   * Where lookups run, when given: each in a fiber of this scope, so that no caller (its timeout,
   * its interruption) cuts it for the others; only the scope's closing does. The lookup must then be
   * bounded by a deadline of its own. Without it, a lookup runs in the fiber that asked first.
   */
  readonly scope?: Scope.Scope | undefined
}): LookupCache<A, E> => {
  const capacity = Math.max(1, options.capacity)
  const maxRunning = Math.max(1, options.maxRunning ?? capacity)
  const apart = options.apart
  const running = new Map<string, Running<A, E>>()
  // insertion order is the order of last use: the first entries go first when full. A key is in one
  // of the three maps at most.
  const kept = new Map<string, Kept<A, E>>()
  const keptApart = new Map<string, Kept<A, E>>()

  /** Drops the least recently used results of `results` until they fit `capacity`. */
  const evict = (results: Map<string, Kept<A, E>>) => {
    for (const oldest of results.keys()) {
      if (results.size <= capacity) break
      results.delete(oldest)
    }
  }

  /** The kept result of `key` while it lasts (then the most recently used of its map), else undefined. */
  const fresh = (results: Map<string, Kept<A, E>>, key: string, now: number): Kept<A, E> | undefined => {
    const found = results.get(key)
    if (found === undefined) return undefined
    results.delete(key)
    // a clock set back before the result (Elapsed.since: any length of time) ends it: by
    // `now <= expiresAt` an UnknownApp answer (or an old secret) was served for the step on top of
    // its time
    if (Elapsed.since(found.settledAt, now) > found.timeToLive) return undefined
    results.set(key, found)
    return found
  }

  const keepable = (exit: Exit.Exit<A, E>): Either.Either<A, E> | undefined => {
    if (Exit.isSuccess(exit)) return Either.right(exit.value)
    if (Cause.isInterrupted(exit.cause)) return undefined
    const failure = Cause.failureOption(exit.cause)
    return Option.isSome(failure) ? Either.left(failure.value) : undefined
  }

  return {
    get: (key) =>
      // one synchronous step from reading the maps to holding the key, uninterruptible until the lookup
      // runs: no other fiber starts a second lookup, and no key is left held by a lookup that never ran
      Effect.uninterruptibleMask((restore) =>
        Effect.clockWith((clock) =>
          Effect.suspend(() => {
            const inFlight = running.get(key)
            if (inFlight !== undefined) return restore(Deferred.await(inFlight.deferred))
            const now = clock.unsafeCurrentTimeMillis()
            const found = fresh(kept, key, now) ?? fresh(keptApart, key, now)
            if (found !== undefined) {
              return Either.isRight(found.result) ? Effect.succeed(found.result.right) : Effect.fail(found.result.left)
            }
            // the only bound of running lookups: they push out no kept result
            if (running.size >= maxRunning) return Effect.fail(options.overloaded(key))
            const entry: Running<A, E> = { deferred: Deferred.unsafeMake<A, E>(FiberId.none), settled: false }
            running.set(key, entry)
            const settle = (exit: Exit.Exit<A, E>) =>
              Effect.flatMap(Clock.currentTimeMillis, (now) => {
                entry.settled = true
                if (running.get(key) === entry) running.delete(key)
                const ttl = Duration.toMillis(options.timeToLive(exit))
                // a zero time, or an interrupted lookup: for the callers of this lookup only
                const result = ttl > 0 ? keepable(exit) : undefined
                if (result !== undefined) {
                  const results = Either.isRight(result) && apart !== undefined && apart(result.right)
                    ? keptApart
                    : kept
                  results.set(key, { result, settledAt: now, timeToLive: ttl })
                  evict(results)
                }
                Deferred.unsafeDone(entry.deferred, exit)
                return exit
              })
            const scope = options.scope
            if (scope === undefined) {
              return Effect.flatMap(Effect.exit(restore(Effect.suspend(() => options.lookup(key)))), settle)
            }
            // detached: a caller that goes away (its own timeout) no longer cuts the lookup for the
            // others, who started it again, each cut in turn, so no answer was ever kept
            const detached = Effect.interruptible(
              Effect.flatMap(
                Effect.exit(Effect.suspend(() => options.lookup(key))),
                (exit) => Effect.exit(settle(exit))
              )
            )
            return Effect.flatMap(Effect.forkIn(detached, scope), (fiber) => {
              // the scope closed before the lookup settled: its callers see the interruption, the key is free
              fiber.addObserver(() => {
                if (entry.settled) return
                entry.settled = true
                if (running.get(key) === entry) running.delete(key)
                Deferred.unsafeDone(entry.deferred, Exit.interrupt(FiberId.none))
              })
              return restore(Deferred.await(entry.deferred))
            })
          })
        )
      ),
    invalidateWhen: (key, when) =>
      Effect.sync(() => {
        for (const results of [kept, keptApart]) {
          const entry = results.get(key)
          if (entry !== undefined && Either.isRight(entry.result) && when(entry.result.right)) results.delete(key)
        }
      }),
    size: () => kept.size + keptApart.size + running.size,
    running: () => running.size
  }
}
