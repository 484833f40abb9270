/**
 * Mutual exclusion for token refreshes of one user, so concurrent callers make one WeChat request.
 * The default lock works within one process; `@wxauth/store-redis` provides one across processes.
 * A refresher that took the lock re-reads the store: a token obtained after the one that failed
 * means another worker already refreshed.
 *
 * `WeChatOAuth` locks the key `<appId>:<openid>` around a refresh; a distributed lock may rely on that
 * format (the Redis lock puts it in the same Cluster slot as the user's token). It also locks the
 * user's write key `<appId>:<openid>:write`, briefly, around each change to the user's stored token
 * made after reading it: a new consent's read and write, and, inside the refresh key once WeChat
 * has answered, a refresh's re-read and its write of the new token (or its removal of a token
 * WeChat rejected). So a lock sees two `withLock` calls per refresh (the user's key, then the write
 * key within it) and one per login. A refresh waits 3 seconds at most for the write key, then
 * leaves the store as it is (a consent holds the key and replaces the token: the refreshed token is
 * answered unstored, a rejected one is left); a consent waits 25 seconds, then writes without it.
 * A refresh made outside `WeChatOAuth` (`@wxauth/compat`'s) takes the write key the same way, with
 * `withWriteKey`, inside a key of its own (`<appId>:refresh_token:<hash>`).
 *
 * **A lock must never make two different keys wait for each other**: the user's write key is
 * taken while the refresh key is held (and, for an app a third-party platform manages, the key of
 * the platform's component access token, `app-token:component-token:<componentAppId>`, may be
 * taken inside a refresh key to renew that token). One lock for all keys (a single mutex, a
 * one-permit semaphore, one database row) breaks this, and so do striped locks whose stripe can be
 * one for a user's refresh key and write key (stripes by appId or by openid always are, stripes by
 * a hash of the key are for some users): each such refresh then waits 3 seconds for a write key
 * its own refresh key blocks and answers WeChat's token unstored, every time, with a warning
 * naming this cause (and a component access token renewal inside it waits for the lock's bound).
 * Key a lock by the whole key, as `makeInProcess` (a queue per key) and `@wxauth/store-redis`'s
 * `RedisRefreshLock` (a Redis key per key) do.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Arguments from "./internal/arguments.js"
import * as Bounded from "./internal/boundedStore.js"
import * as Deadline from "./internal/deadline.js"
import { guardOr } from "./internal/guard.js"
import * as WriteLock from "./internal/oauth/writeLock.js"
import * as StoreIds from "./internal/storeIds.js"
import { type InvalidArgument, RefreshLockTimeout } from "./WeChatError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface RefreshLockShape {
  /**
   * Runs `effect` while holding the lock `key`; waiting longer than the lock's bound fails with
   * `RefreshLockTimeout`. Holding one key must never keep another key from being taken: wxauth
   * takes the user's write key `<appId>:<openid>:write` while holding the refresh key
   * `<appId>:<openid>` (a lock for all keys, or stripes shared by a user's two keys, leave every
   * refresh's token unstored after a 3 s wait; see the module's docs).
   */
  readonly withLock: <A, E, R>(
    key: string,
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RefreshLockTimeout, R>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class RefreshLock extends Context.Tag("@wxauth/core/RefreshLock")<RefreshLock, RefreshLockShape>() {}

/**
 * For lock adapters: marks a lock whose acquisition has a deadline of its own (its wait, failing
 * with `RefreshLockTimeout`), so that wxauth uses it as it is. wxauth gives a lock that is not
 * marked (a lock of your own) 30 seconds to start the effect it was given, else the acquisition is
 * interrupted and fails with a `RefreshLockTimeout`; once started, the effect (the refresh) is
 * never cut. Mark only a lock whose acquisition cannot hang. A value without `withLock` is not
 * marked.
 *
 * @since 0.1.0
 * @category utils
 */
export const markBounded = (lock: RefreshLockShape): void => Bounded.markStore(lock, "refreshLock")

/**
 * Options of the in-process lock.
 *
 * @since 0.1.0
 * @category models
 */
export interface InProcessOptions {
  /**
   * How long a caller waits for the lock before `RefreshLockTimeout`: a positive duration of at
   * most 24 days (a Node timer's limit). Default 30 seconds, also for any other value (`NaN`, a
   * negative or zero duration, `Infinity`, anything that is not a duration). The bound holds for a
   * caller that cannot be interrupted too (`Effect.uninterruptible`, an acquire step, a finaliser):
   * its wait ends at `waitTimeout`, and a caller that gave up never keeps the lock.
   */
  readonly waitTimeout?: Duration.DurationInput | undefined
}

const defaultWaitTimeout = Duration.seconds(30)

/**
 * An in-process lock: one holder and a first-come-first-served queue of waiters per key, dropped
 * when nobody holds or waits for it, so holders of different keys (a user's refresh key and write
 * key) never wait for each other. A waiter gives up after `waitTimeout` (or when interrupted, where
 * it is interruptible), whether or not it can be interrupted, and one that gave up never holds the
 * key: the key goes to the next waiter. A
 * `waitTimeout` that is not a positive duration of at most 24 days (`NaN`, `-1`, `"-5 seconds"`,
 * zero, `Infinity`, text that is no duration) or cannot be read is the default, 30 seconds: never
 * a zero wait, nor an unbounded one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeInProcess = (options?: InProcessOptions): RefreshLockShape => {
  // an option that cannot be read (a revoked Proxy) or is no positive duration a timer holds is the
  // default (Duration.decode read NaN, -1 and "-5 seconds" as zero: every contended caller timed out)
  const given = guardOr(() => options?.waitTimeout, undefined)
  const waitTimeout = Option.getOrElse(
    Arguments.positiveDurationOf(given, Arguments.maxTimerMillis),
    () => defaultWaitTimeout
  )
  const locks = new Map<string, Entry>()
  const enter = (key: string) => {
    let entry = locks.get(key)
    if (entry === undefined) {
      entry = { held: false, queue: [], users: 0 }
      locks.set(key, entry)
    }
    entry.users++
    return entry
  }
  const leave = (key: string, entry: Entry) => {
    entry.users--
    if (entry.users === 0 && locks.get(key) === entry) locks.delete(key)
  }
  // waits at most `waitTimeout`: used as it is (see internal/boundedStore.ts)
  return Bounded.markBounded<RefreshLockShape>({
    withLock: (key, effect) =>
      Effect.acquireUseRelease(
        Effect.sync(() => enter(key)),
        (entry) =>
          Effect.uninterruptibleMask((restore) =>
            Effect.suspend(() => {
              const run = Effect.ensuring(restore(effect), Effect.sync(() => handOn(entry)))
              if (!entry.held) {
                entry.held = true
                return run
              }
              const waiter: Waiter = { granted: false, deferred: Deferred.unsafeMake<void>(FiberId.none) }
              entry.queue.push(waiter)
              // The wait is cut at `waitTimeout` whatever the caller's interruptibility (an
              // uninterruptible caller used to wait as long as the holder held, then take the lock
              // unseen and keep it for ever); where the caller is interruptible, its interruption
              // cuts it too. The lock is handed to a waiter synchronously (`granted`): one that gave
              // up either leaves the queue or, handed the lock meanwhile, hands it on at once.
              return restore(
                Deadline.within(
                  Deferred.await(waiter.deferred),
                  waitTimeout,
                  () => new RefreshLockTimeout({ key, waitedMillis: Duration.toMillis(waitTimeout) })
                )
              ).pipe(
                Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Effect.sync(() => giveUp(entry, waiter))),
                Effect.zipRight(run)
              )
            })
          ),
        (entry) => Effect.sync(() => leave(key, entry))
      )
  }, "refreshLock")
}

interface Waiter {
  /** Set when the lock is handed to this waiter: it is then the holder. */
  granted: boolean
  readonly deferred: Deferred.Deferred<void>
}

interface Entry {
  /** Whether a caller holds the key (or it is being handed to the first waiter). */
  held: boolean
  /** Callers waiting for the key, first come first served. */
  readonly queue: Array<Waiter>
  /** Callers holding or waiting for the key: the entry is dropped at 0. */
  users: number
}

/** The holder is done: the key goes to the first waiter, or is free. */
const handOn = (entry: Entry): void => {
  const next = entry.queue.shift()
  if (next === undefined) {
    entry.held = false
    return
  }
  next.granted = true
  Deferred.unsafeDone(next.deferred, Exit.void)
}

/** A waiter gave up (its wait timed out, or it was interrupted): the key is never kept by it. */
const giveUp = (entry: Entry, waiter: Waiter): void => {
  if (waiter.granted) {
    handOn(entry)
    return
  }
  const at = entry.queue.indexOf(waiter)
  if (at >= 0) entry.queue.splice(at, 1)
}

/**
 * The in-process lock, the default when no `RefreshLock` is provided.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerInProcess = (options?: InProcessOptions): Layer.Layer<RefreshLock> =>
  Layer.sync(RefreshLock, () => makeInProcess(options))

/**
 * Options of `withWriteKey`: the lock (the one `WeChatOAuth` uses) and the user.
 *
 * @since 0.2.0
 * @category models
 */
export interface WriteKeyOptions {
  readonly lock: RefreshLockShape
  readonly appId: string
  readonly openid: string
}

/**
 * For a refresh made outside `WeChatOAuth` (`@wxauth/compat`'s `refreshAccessToken(refreshToken)`):
 * runs `effect` (its read of the user's stored token and its change to it) under the user's write
 * key `<appId>:<openid>:write`, as `WeChatOAuth`'s own refreshes store their answer. A consent takes
 * the same key around its read and write, so none lands between the read and the change: a refresh
 * that stores WeChat's answer only while the store still holds the grant it refreshed never
 * replaces a consent made during its WeChat call. The key is waited for 3 seconds at most, as a
 * refresh waits for it (a consent holding it may be running a store hook that refreshes this very
 * user): past that, `RefreshLockTimeout`, and `effect` never ran (leave the store as it is: the
 * consent holding the key writes the newer token), with a warning in the log naming the likely
 * causes (a login holding the key, or a `lock` that makes two different keys wait for each other:
 * call this while holding a key of your own only with a lock that lets both be held). Once
 * started, `effect` is never cut.
 *
 * An `appId` or `openid` outside the store id rule (`TokenStore.checkUser`), a `lock` without
 * `withLock`, or an `effect` that is not an Effect, is an `InvalidArgument`.
 *
 * @since 0.2.0
 * @category combinators
 */
export const withWriteKey = <A, E, R>(
  options: WriteKeyOptions,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | RefreshLockTimeout | InvalidArgument, R> =>
  Effect.suspend((): Effect.Effect<A, E | RefreshLockTimeout | InvalidArgument, R> => {
    const read = Arguments.readOptions("options", options, ["lock", "appId", "openid"])
    if (Either.isLeft(read)) return Effect.fail(read.left)
    const { appId, lock, openid } = read.right ?? {}
    if (!StoreIds.isAppId(appId)) return Arguments.fail("appId", StoreIds.describe.appId)
    if (!StoreIds.isUserId(openid)) return Arguments.fail("openid", StoreIds.describe.openid)
    if (!guardOr(() => typeof (lock as RefreshLockShape).withLock === "function", false)) {
      return Arguments.fail("lock", "must be a RefreshLock (an object with withLock)")
    }
    const runnable = Arguments.runnableEffect(effect) as typeof effect | undefined
    if (runnable === undefined) return Arguments.fail("effect", "must be an Effect")
    return WriteLock.refreshWithin(lock as RefreshLockShape, appId, openid, runnable, "the refresh changed nothing")
  })
