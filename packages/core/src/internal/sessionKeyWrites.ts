/**
 * The order of a mini program's session-key writes: an older key never replaces a newer one.
 *
 * WeChat makes the key of the call it handled last the user's current key (`jscode2session` gives a
 * new one, `resetusersessionkey` another), but a caller only knows when it sent each call and when
 * each answer came: a slow answer (a retry, a slow network) can come after a later call's. Keys are
 * ordered by the calls' sending, as the caller sees it: each call takes a ticket before it is sent,
 * and its key is stored only if no call of this service sent after it has already stored a key for
 * the user. A reset also stores its key only while the store still holds the key it was signed with
 * (read before the call): a login in another process that stored meanwhile is kept.
 *
 * The ticket check and the store's re-read and write run under the user's mutex in this process, so
 * that no other write of the user lands between them. Across processes the store is asked through
 * `get` and `set` only: a login stored by another process between a reset's re-read and its write
 * (one store round trip, not WeChat's whole answer time) is still replaced, and two logins of a
 * user answered by two processes are still ordered by their answers.
 *
 * @internal
 */
import * as Effect from "effect/Effect"

/** @internal */
export interface SessionKeyWrites {
  /**
   * Runs `call` (a WeChat call and the write of its answer) with its ticket, taken now: calls are
   * ordered by when this runs. The ticket is given back when `call` ends, however it ends.
   */
  readonly sent: <A, E, R>(call: (ticket: number) => Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /**
   * Runs `write` under the user's mutex, told whether a call sent after `ticket` has already stored
   * a key for the user (then `write` stores nothing). `write` answers whether it stored the key.
   */
  readonly write: <A, E, R>(
    openid: string,
    ticket: number,
    write: (newerStored: boolean) => Effect.Effect<readonly [A, boolean], E, R>
  ) => Effect.Effect<A, E, R>
}

/** @internal */
export const make = (): SessionKeyWrites => {
  let next = 0
  // the tickets of the calls in flight, in the order they were taken (a Set keeps insertion order),
  // so the first is the oldest
  const inFlight = new Set<number>()
  // per user, the ticket of the call that stored its key last, kept only while an older call is in
  // flight (the only calls it can stop): so it holds the users written during the slowest call
  const stored = new Map<string, number>()
  const mutexes = new Map<string, { readonly mutex: Effect.Semaphore; holders: number }>()

  const oldest = (): number | undefined => {
    for (const ticket of inFlight) return ticket
    return undefined
  }

  const take = Effect.sync(() => {
    const ticket = ++next
    inFlight.add(ticket)
    return ticket
  })

  const giveBack = (ticket: number) =>
    Effect.sync(() => {
      const wasOldest = oldest() === ticket
      inFlight.delete(ticket)
      if (inFlight.size === 0) return stored.clear()
      if (!wasOldest) return
      const first = oldest()!
      for (const [openid, writer] of stored) if (writer < first) stored.delete(openid)
    })

  const enter = (openid: string) =>
    Effect.sync(() => {
      const entry = mutexes.get(openid) ?? { mutex: Effect.unsafeMakeSemaphore(1), holders: 0 }
      entry.holders++
      mutexes.set(openid, entry)
      return entry
    })

  const leave = (openid: string, entry: { holders: number }) =>
    Effect.sync(() => {
      if (--entry.holders === 0) mutexes.delete(openid)
    })

  return {
    sent: (call) => Effect.acquireUseRelease(take, call, giveBack),
    write: (openid, ticket, write) =>
      Effect.acquireUseRelease(
        enter(openid),
        (entry) =>
          entry.mutex.withPermits(1)(
            Effect.suspend(() => write((stored.get(openid) ?? 0) > ticket)).pipe(
              Effect.map(([answer, wrote]) => {
                // remembered only while an older call may still answer
                if (wrote && (oldest() ?? ticket) < ticket) stored.set(openid, ticket)
                return answer
              })
            )
          ),
        (entry) => leave(openid, entry)
      )
  }
}
