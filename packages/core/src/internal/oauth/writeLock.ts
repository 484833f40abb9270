/**
 * The user's write key: the short critical section around every change made to the user's stored
 * token after reading it: a new consent's read and write (exchange.ts), and a refresh's re-read and
 * write of WeChat's answer or, when WeChat rejected the refresh token, its re-read and removal
 * (refresh.ts's `whileStillHolds`), done only while the store still holds the token the refresh
 * started from. Without the key, a consent stored between a refresh's read and its
 * write was replaced (the refresh's token, stamped later, won: a scope granted since was lost), or
 * removed (the user who had just logged in again, logged out).
 *
 * It is not the refresh key (`<appId>:<openid>`): a refresh holds that one for its whole WeChat call
 * (up to 3 attempts of 5 s), and a login must not wait for it. The write key covers store calls
 * only; a refresh takes it inside the refresh key, after WeChat has answered. A refresh waits for
 * it `writeWait` at most, then leaves the store as it is (a rejected token stays, a refreshed one is
 * answered unstored: the consent holding the key replaces the token); a consent waits
 * `consentWait`, longer than a refresh can hold it, then writes without it (a login is not refused
 * for the lock). So a store write that itself refreshes the user (a compat `saveToken` hook calling
 * `getUser`) never deadlocks: its refresh takes the refresh key, then waits for this one held by the
 * consent, `writeWait` at most. A refresh made outside `WeChatOAuth` (compat's
 * `refreshAccessToken(refreshToken)`) takes the key the same way, through the public
 * `RefreshLock.withWriteKey` (`refreshWithin`).
 *
 * So the write key is taken while the refresh key is held: a `RefreshLock` must never make two
 * different keys wait for each other. One lock for all keys (a single mutex or one-permit
 * semaphore), or striped locks whose one stripe can take a user's refresh key and write key, keep
 * every refresh waiting `writeWait` for the key its own refresh key blocks, and its token is then
 * answered unstored, every time; `refreshWithin`'s warning names both causes.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { RefreshLockShape } from "../../RefreshLock.js"
import { RefreshLockTimeout } from "../../WeChatError.js"
import * as Bounded from "../boundedStore.js"

/**
 * The user's write key, `<appId>:<openid>:write` (the refresh key with a suffix: a distributed lock
 * reading the app id before the first colon reads it here too).
 *
 * @internal
 */
export const key = (appId: string, openid: string): string => `${appId}:${openid}:write`

/**
 * How long a refresh waits for the write key, to store WeChat's answer or remove a rejected token.
 * A consent holds it for its read and write, which may run a store hook of the caller's (compat's
 * `saveToken`), even one that refreshes this very user: past this wait the refresh changes nothing
 * in the store (the consent holding the key replaces the token).
 *
 * @internal
 */
export const writeWait: Duration.Duration = Duration.seconds(3)

/**
 * The warning of a refresh that could not take the write key within `writeWait`: what it did, and
 * the two likely causes, the first passing, the second a lock that must be fixed.
 */
const busyWarning = "wxauth: a refresh could not take the user's write key within 3 s and changed nothing in the " +
  "store. Either a login holds the key (it stores the newer token), or the RefreshLock makes two " +
  "different keys wait for each other (one lock for all keys, or stripes that put a user's refresh key " +
  "and write key on one): the write key is taken while the refresh key is held, so then every refresh " +
  "ends this way"

/**
 * `effect` (a refresh's re-read of the user's stored token and its change to it) under the user's
 * write key, waited for `writeWait` at most: past it, `RefreshLockTimeout`, and `effect` never ran,
 * with the one warning of a busy write key (`busyWarning`), `outcome` saying what the refresh did
 * instead. A lock that fails after running `effect` logs nothing here.
 *
 * @internal
 */
export const refreshWithin = <A, E, R>(
  lock: RefreshLockShape,
  appId: string,
  openid: string,
  effect: Effect.Effect<A, E, R>,
  outcome: string
): Effect.Effect<A, E | RefreshLockTimeout, R> =>
  Effect.suspend(() => {
    let started = false
    return Bounded.withLockWithin(
      lock,
      key(appId, openid),
      writeWait,
      Effect.zipRight(Effect.sync(() => started = true), effect)
    ).pipe(
      Effect.tapError((error) =>
        started || !(error instanceof RefreshLockTimeout) ? Effect.void : Effect.logWarning(busyWarning).pipe(
          Effect.annotateLogs({ appId, outcome, waitedMillis: error.waitedMillis })
        )
      )
    )
  })

/**
 * How long a consent waits for the write key: longer than its other holder, a refresh, holds it on
 * a store within `boundedStore.ts`'s 10 s (its re-read, then its write or remove), so that a slow
 * store never lets a consent write first and the refresh's remove (or write) land after. The
 * re-read is cut at 10 s by `refresh.ts` whatever the store's own deadline (a read has no side
 * effect: cut, the refresh changes nothing and releases the key). The write or remove is not cut: it
 * runs to the store's own deadline while the key is held, for cut in the background it would still
 * land, after the consent. So on a store marked bounded by a longer deadline of its own (compat's
 * hooks, `hookTimeout` 30 s), a write or remove slower than about 25 s (15 s after a re-read cut at
 * 10 s) lets the consent write first at the end of its wait, and may then replace or remove its token.
 * Past the wait, the lock itself is otherwise stuck (a distributed lock that is down): the consent
 * writes without it. A refresh holds the key for two store calls only, so a login waits this long
 * only on a store that slow.
 *
 * @internal
 */
export const consentWait: Duration.Duration = Duration.sum(
  Duration.times(Bounded.storeDeadline, 2),
  Duration.seconds(5)
)
