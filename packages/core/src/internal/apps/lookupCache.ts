/**
 * The registry's two caches: a bounded map of keyed lookups, one lookup per key at a time, each
 * result kept for the time `timeToLive` gives it (a zero time: for the callers of that lookup only),
 * the least recently used dropped past `capacity`.
 *
 * Effect's `Cache` is not used: it tracks use in a list of its own that only shrinks when the cache
 * is over its capacity, and adds to it on every lookup, so a lookup that fails (and is invalidated)
 * or expires leaves an entry behind. A resolver failing for every request grew the heap by about
 * 100 bytes a request, without bound (20 MB for 200,000 failures), while the cache itself stayed empty.
 * Here the map is the whole state: what it no longer holds is gone.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"
import * as Elapsed from "../elapsed.js"

interface Entry<A, E> {
  readonly deferred: Deferred.Deferred<A, E>
  /** Set when the lookup is over. */
  exit: Exit.Exit<A, E> | undefined
  /** When the lookup was over (epoch ms, by the Clock). */
  settledAt: number
  /** How long (ms) the result is served from `settledAt`; `Infinity` for ever. */
  timeToLive: number
}

/** @internal */
export interface LookupCache<A, E> {
  /**
   * The kept result for `key`, the running lookup's, or a new lookup's (run in the cache's scope when
   * it has one, else in the calling fiber).
   */
  readonly get: (key: string) => Effect.Effect<A, E>
  /** Forgets `key`'s result (or running lookup: its callers still get its result). */
  readonly invalidate: (key: string) => Effect.Effect<void>
  /** Forgets `key`'s result when it is a success that `when` accepts. */
  readonly invalidateWhen: (key: string, when: (value: A) => boolean) => Effect.Effect<void>
  /** How many keys are held (results and running lookups). */
  readonly size: () => number
}

/** @internal */
export const make = <A, E>(options: {
  readonly capacity: number
  readonly lookup: (key: string) => Effect.Effect<A, E>
  readonly timeToLive: (exit: Exit.Exit<A, E>) => Duration.Duration
  /**
   * Where lookups run, when given: each in a fiber of this scope, so that no caller (its timeout,
   * its interruption) cuts it for the others; only the scope's closing does. The lookup must then be
   * bounded by a deadline of its own. Without it, a lookup runs in the fiber that asked first.
   */
  readonly scope?: Scope.Scope | undefined
}): LookupCache<A, E> => {
  const capacity = Math.max(1, options.capacity)
  // insertion order is the order of last use: the first entries go first when full
  const entries = new Map<string, Entry<A, E>>()

  const forget = (key: string, entry: Entry<A, E>) => {
    if (entries.get(key) === entry) entries.delete(key)
  }

  return {
    get: (key) =>
      // one synchronous step from reading the map to holding the key, uninterruptible until the lookup
      // runs: no other fiber starts a second lookup, and no key is left held by a lookup that never ran
      Effect.uninterruptibleMask((restore) =>
        Effect.clockWith((clock) =>
          Effect.suspend(() => {
            const found = entries.get(key)
            if (found !== undefined) {
              entries.delete(key)
              // a clock set back before the result (Elapsed.since: any length of time) ends it: by
              // `now <= expiresAt` an UnknownApp answer (or an old secret) was served for the step
              // on top of its time
              if (
                found.exit === undefined ||
                Elapsed.since(found.settledAt, clock.unsafeCurrentTimeMillis()) <= found.timeToLive
              ) {
                // used: now the most recent
                entries.set(key, found)
                return restore(Deferred.await(found.deferred))
              }
            }
            const entry: Entry<A, E> = {
              deferred: Deferred.unsafeMake<A, E>(FiberId.none),
              exit: undefined,
              settledAt: 0,
              timeToLive: Infinity
            }
            entries.set(key, entry)
            for (const oldest of entries.keys()) {
              if (entries.size <= capacity) break
              entries.delete(oldest)
            }
            const settle = (exit: Exit.Exit<A, E>) =>
              Effect.flatMap(Clock.currentTimeMillis, (now) => {
                entry.exit = exit
                const ttl = Duration.toMillis(options.timeToLive(exit))
                // a zero time, or an interrupted lookup: for the callers of this lookup only
                if (!(ttl > 0) || Exit.isInterrupted(exit)) forget(key, entry)
                else {
                  entry.settledAt = now
                  entry.timeToLive = ttl
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
                if (entry.exit !== undefined) return
                const interrupted = Exit.interrupt(FiberId.none)
                entry.exit = interrupted
                forget(key, entry)
                Deferred.unsafeDone(entry.deferred, interrupted)
              })
              return restore(Deferred.await(entry.deferred))
            })
          })
        )
      ),
    invalidate: (key) => Effect.sync(() => void entries.delete(key)),
    invalidateWhen: (key, when) =>
      Effect.sync(() => {
        const entry = entries.get(key)
        if (entry?.exit !== undefined && Exit.isSuccess(entry.exit) && when(entry.exit.value)) entries.delete(key)
      }),
    size: () => entries.size
  }
}
