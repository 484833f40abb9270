/**
 * The user's write key: the short critical section between a new consent's read and write of the
 * user's token (exchange.ts) and a rejected refresh's read and removal of it (refresh.ts's forget).
 * Without it, a consent stored between the removal's read and its remove was removed (the user who
 * had just logged in again, logged out).
 *
 * It is not the refresh key (`<appId>:<openid>`): a refresh holds that one for its whole WeChat call
 * (up to 3 attempts of 5 s), and a login must not wait for it. The write key covers store calls
 * only. A removal waits for it `writeWait` at most, then leaves the token (the consent holding
 * the key replaces it); a consent waits `consentWait`, longer than a removal can hold it, then
 * writes without it (a login is not refused for the lock). So a store write that itself refreshes the user (a compat `saveToken` hook calling
 * `getUser`) never deadlocks: its refresh takes the refresh key, not this one, and only a refresh
 * token WeChat rejects then waits for this key, `writeWait` at most.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Bounded from "../boundedStore.js"

/**
 * The user's write key, `<appId>:<openid>:write` (the refresh key with a suffix: a distributed lock
 * reading the app id before the first colon reads it here too).
 *
 * @internal
 */
export const key = (appId: string, openid: string): string => `${appId}:${openid}:write`

/**
 * How long a rejected refresh's removal waits for the write key. A consent holds it for its read
 * and write, which may run a store hook of the caller's (compat's `saveToken`), even one that
 * refreshes this very user: past this wait the removal gives up and leaves the token (the consent
 * holding the key replaces it).
 *
 * @internal
 */
export const writeWait: Duration.Duration = Duration.seconds(3)

/**
 * How long a consent waits for the write key: longer than its other holder, a removal, can hold it
 * (its read and its remove, each within the store's deadline, `boundedStore.ts`'s 10 s), so that a
 * slow store never lets a consent write first and the removal delete it after. Past it, the lock
 * itself is stuck (a distributed lock that is down): the consent writes without it. A removal
 * holds the key for two store calls only, so a login waits this long only on a store that slow.
 *
 * @internal
 */
export const consentWait: Duration.Duration = Duration.sum(
  Duration.times(Bounded.storeDeadline, 2),
  Duration.seconds(5)
)
