/**
 * The deadline on a store someone else wrote. Every store service core (and `@wxauth/http`) reads
 * from context (`TokenStore`, `AppTokenStore`, `SessionKeyStore`, `SessionStore`) may be a caller's
 * own; one whose operation never answers would hang every login, `getUser` and `AppToken.get` of
 * the process (the single-flights make everybody wait on it). So each operation of a store that is
 * not marked here answers within `storeDeadline`, else fails with the store's own typed error,
 * its effect interrupted.
 *
 * Stores that bound themselves are marked and used as they are (same object, no step added): the
 * memory stores and in-process lock (in this process, they cannot hang), the Redis stores and lock
 * (a command timeout), the SQL stores (an operation timeout) and compat's hook store (a hook
 * timeout). Those of the other packages mark themselves through the public `markBounded` of each
 * store module (`markStore` here): core exposes nothing else to them, so a caller may mark a store
 * of its own too, and then answers for its deadlines.
 *
 * A `RefreshLock` runs the refresh itself: a deadline over `withLock` as a whole would cut a refresh
 * in progress. A caller's lock gets a deadline on its acquisition only (`lockDeadline`): the time
 * until it starts the effect it was given. Once started, the effect is never cut by it; once the
 * deadline has passed, the effect is never started.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import { globalValue } from "effect/GlobalValue"
import type * as AppTokenStore from "../AppTokenStore.js"
import type * as RefreshLock from "../RefreshLock.js"
import type * as SessionKeyStore from "../SessionKeyStore.js"
import type * as SessionStore from "../SessionStore.js"
import type * as TokenStore from "../TokenStore.js"
import { RefreshLockTimeout, SessionStoreError, TokenStoreError } from "../WeChatError.js"
import * as Deadline from "./deadline.js"
import { guard, guardOr } from "./guard.js"

/** The bound on each operation of a store that has none of its own. @internal */
export const storeDeadline: Duration.Duration = Duration.seconds(10)

/**
 * The bound on a caller's lock acquisition: the in-process lock's default wait (a waiter may stand
 * behind a refresh that is running: the default WeChat budget, 3 x 5 s, and the store calls).
 *
 * @internal
 */
export const lockDeadline: Duration.Duration = Duration.seconds(30)

/** `storeDeadline` as the errors say it. @internal */
export const storeDeadlineText = "10 seconds"

/** The kinds of store (and lock) core bounds; a mark and a wrapper are a kind's. @internal */
export type Kind = "tokenStore" | "appTokenStore" | "sessionKeyStore" | "sessionStore" | "refreshLock"

/** The operations of each kind, as a store of it has them. @internal */
export const operations = {
  tokenStore: ["get", "set", "remove", "rememberCode", "recallCode"],
  appTokenStore: ["get", "set"],
  sessionKeyStore: ["get", "set", "remove"],
  sessionStore: ["create", "get", "touch", "revoke", "revokeUser"],
  refreshLock: ["withLock"]
} as const satisfies Record<Kind, ReadonlyArray<string>>

// Shared by every copy of core loaded in the process: a memory store made by one copy is used as it
// is by another (and keeps getUser's in-process read).
const bounded = globalValue(
  Symbol.for("@wxauth/core/internal/boundedStore/marks"),
  () => new WeakMap<object, Set<Kind>>()
)
/** One wrapper per store and kind: a store read by several services (one per app) is wrapped once. */
const wrappers = globalValue(
  Symbol.for("@wxauth/core/internal/boundedStore/wrappers"),
  () => new WeakMap<object, Map<Kind, object>>()
)

const isObject = (value: unknown): value is object =>
  (typeof value === "object" && value !== null) || typeof value === "function"

const mark = (store: object, kind: Kind) => {
  const kinds = bounded.get(store)
  if (kinds === undefined) bounded.set(store, new Set([kind]))
  else kinds.add(kind)
}

/** Marks `store` as a `kind` bounded by its own deadlines: it is used as it is. Total. @internal */
export const markBounded = <S>(store: S, kind: Kind): S => {
  if (isObject(store)) mark(store, kind)
  return store
}

/**
 * Marks `store` as a `kind` when it has each of that kind's operations as a function (read under a
 * guard: a throwing getter or a revoked Proxy is no store, and is not marked). What the stores'
 * public `markBounded` runs. A mark is the kind's: an object that is also another kind of store
 * (one object as the token store and the lock) keeps the other kind's deadline.
 *
 * @internal
 */
export const markStore = (store: unknown, kind: Kind): void => {
  const isStore = guardOr(
    () =>
      isObject(store) &&
      operations[kind].every((op) => typeof (store as Record<string, unknown>)[op] === "function"),
    false
  )
  if (isStore) mark(store as object, kind)
}

/** Whether `store` was marked as a `kind` (by core, an adapter, or a caller through `markBounded`). @internal */
export const isBounded = (store: unknown, kind: Kind): boolean =>
  isObject(store) && bounded.get(store)?.has(kind) === true

const description = `the store did not answer within ${storeDeadlineText}`

/**
 * One operation of a caller's store under the deadline: the call itself guarded (a method that is
 * missing or throws, or that answers something other than an Effect, is the store's typed error,
 * never a throw out of a public method or a defect), its effect bounded.
 */
const deadlined =
  <E>(onFailure: (operation: string, description: string) => E) =>
  <A, E1>(operation: string, call: () => Effect.Effect<A, E1>): Effect.Effect<A, E1 | E> =>
    Effect.suspend(() => {
      const answer = guard(call)
      if (Either.isLeft(answer)) return Effect.fail(onFailure(operation, "the store's method threw when called"))
      const effect = answer.right
      if (!guardOr(() => Effect.isEffect(effect), false)) {
        return Effect.fail(onFailure(operation, "the store's method did not return an Effect"))
      }
      return Deadline.within(effect, storeDeadline, () => onFailure(operation, description))
    })

const tokenStoreCall = deadlined((operation, description) => new TokenStoreError({ operation, description }))
const sessionStoreCall = deadlined((operation, description) => new SessionStoreError({ operation, description }))

const boundWith = <S extends object>(store: S, kind: Kind, wrap: (store: S) => S): S => {
  if (!isObject(store) || isBounded(store, kind)) return store
  let byKind = wrappers.get(store)
  const known = byKind?.get(kind)
  if (known !== undefined) return known as S
  const wrapper = markBounded(wrap(store), kind)
  if (byKind === undefined) {
    byKind = new Map()
    wrappers.set(store, byKind)
  }
  byKind.set(kind, wrapper)
  return wrapper
}

/** The `TokenStore` as core uses it: a caller's under the deadline, a marked one as it is. @internal */
export const tokenStore = (store: TokenStore.TokenStoreShape): TokenStore.TokenStoreShape =>
  boundWith(store, "tokenStore", (s) => ({
    get: (appId, openid) => tokenStoreCall("get", () => s.get(appId, openid)),
    set: (appId, token) => tokenStoreCall("set", () => s.set(appId, token)),
    remove: (appId, openid) => tokenStoreCall("remove", () => s.remove(appId, openid)),
    rememberCode: (appId, codeHash, memo) =>
      tokenStoreCall("rememberCode", () => s.rememberCode(appId, codeHash, memo)),
    recallCode: (appId, codeHash) => tokenStoreCall("recallCode", () => s.recallCode(appId, codeHash))
  }))

/** The `AppTokenStore` as core uses it. @internal */
export const appTokenStore = (store: AppTokenStore.AppTokenStoreShape): AppTokenStore.AppTokenStoreShape =>
  boundWith(store, "appTokenStore", (s) => ({
    get: (appId) => tokenStoreCall("get", () => s.get(appId)),
    set: (appId, token) => tokenStoreCall("set", () => s.set(appId, token))
  }))

/** The `SessionKeyStore` as core uses it. @internal */
export const sessionKeyStore = (store: SessionKeyStore.SessionKeyStoreShape): SessionKeyStore.SessionKeyStoreShape =>
  boundWith(store, "sessionKeyStore", (s) => ({
    get: (appId, openid) => tokenStoreCall("get", () => s.get(appId, openid)),
    set: (appId, openid, sessionKey) => tokenStoreCall("set", () => s.set(appId, openid, sessionKey)),
    remove: (appId, openid) => tokenStoreCall("remove", () => s.remove(appId, openid))
  }))

/** The `SessionStore` as core and `@wxauth/http` use it. @internal */
export const sessionStore = (store: SessionStore.SessionStoreShape): SessionStore.SessionStoreShape =>
  boundWith(store, "sessionStore", (s) => ({
    create: (session) => sessionStoreCall("create", () => s.create(session)),
    get: (idHash) => sessionStoreCall("get", () => s.get(idHash)),
    touch: (idHash, expiresAt) => sessionStoreCall("touch", () => s.touch(idHash, expiresAt)),
    revoke: (idHash) => sessionStoreCall("revoke", () => s.revoke(idHash)),
    revokeUser: (appId, openid) => sessionStoreCall("revokeUser", () => s.revokeUser(appId, openid))
  }))

/** Where a caller's lock is with the effect it was given. */
const waiting = 0
const running = 1
const timedOut = 2

/**
 * The `RefreshLock` as core uses it: a caller's lock must start the effect within `lockDeadline`,
 * else `RefreshLockTimeout` (the acquisition interrupted); the effect, once started, runs to its
 * end under the lock's own rules, and the lock's release then gets `storeDeadline` (past it the
 * effect's outcome is the caller's, the release goes on in the background). A marked lock as it is.
 *
 * The race runs in a fiber of its own (`Effect.disconnect`), both sides interruptible by it: from a
 * caller's uninterruptible region it still ends (its loser is interrupted without waiting), and an
 * outside interruption of such a caller does not reach the refresh through it (see deadline.ts).
 *
 * @internal
 */
export const refreshLock = (lock: RefreshLock.RefreshLockShape): RefreshLock.RefreshLockShape =>
  boundWith(lock, "refreshLock", (l) => ({
    withLock: <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) => withLockWithin(l, key, lockDeadline, effect)
  }))

/**
 * `effect` under `lock`'s `key`, when the lock starts it within `wait`; else `RefreshLockTimeout`
 * (the acquisition interrupted in the background) and `effect` never starts. Once started, `effect`
 * is never cut by the wait, and the release then gets `storeDeadline`. The one bounded wait of core's
 * locks: `refreshLock` with `lockDeadline`, the user's write key (`oauth/writeLock.ts`) with its own.
 *
 * @internal
 */
export const withLockWithin = <A, E, R>(
  lock: RefreshLock.RefreshLockShape,
  key: string,
  wait: Duration.Duration,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | RefreshLockTimeout, R> =>
  Effect.suspend(() => {
    // one state for both sides, each read and written in one synchronous step: the effect starts
    // only before the deadline, the deadline fires only before the effect starts
    let state = waiting
    const ended = Deferred.unsafeMake<Exit.Exit<A, E>>(FiberId.none)
    const started = Effect.suspend(() => {
      if (state === timedOut) return Effect.interrupt
      state = running
      return Effect.onExit(effect, (exit) => Deferred.succeed(ended, exit))
    })
    const deadline = Effect.flatMap(Effect.sleep(wait), () =>
      Effect.suspend((): Effect.Effect<A, E | RefreshLockTimeout> => {
        if (state === running) {
          // started in time: never cut; once it has ended, its outcome after the release's bound
          return Effect.flatMap(Deferred.await(ended), (exit) =>
            Effect.zipRight(Effect.sleep(storeDeadline), exit))
        }
        state = timedOut
        return Effect.fail(
          new RefreshLockTimeout({ key, waitedMillis: Duration.toMillis(wait) })
        )
      }))
    const attempt = guard(() =>
      lock.withLock(key, started)
    )
    if (Either.isLeft(attempt) || !guardOr(() => Effect.isEffect(attempt.right), false)) {
      return Effect.fail(new RefreshLockTimeout({ key, waitedMillis: 0 }))
    }
    return Effect.disconnect(
      Effect.raceFirst(Deadline.cuttable(attempt.right), Effect.interruptible(deadline))
    )
  })
