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
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as AppTokenStore from "../AppTokenStore.js"
import type * as RefreshLock from "../RefreshLock.js"
import type * as SessionKeyStore from "../SessionKeyStore.js"
import type * as SessionStore from "../SessionStore.js"
import type * as TokenStore from "../TokenStore.js"
import { RefreshLockTimeout, SessionStoreError, TokenStoreError } from "../WeChatError.js"
import * as Deadline from "./deadline.js"
import { guardOr } from "./guard.js"

/** The bound on each operation of a store that has none of its own. @internal */
export const storeDeadline: Duration.Duration = Duration.seconds(10)

/**
 * The bound on a caller's lock acquisition: the in-process lock's default wait (a waiter may stand
 * behind a refresh that is running: the default WeChat budget, 3 x 5 s, and the store calls).
 *
 * @internal
 */
export const lockDeadline: Duration.Duration = Duration.seconds(30)

/** `storeDeadline` as the errors say it. */
const storeDeadlineText = "10 seconds"

const bounded = new WeakSet<object>()

/** Marks `store` as bounded by its own deadlines: it is used as it is. Total. @internal */
export const markBounded = <S>(store: S): S => {
  if ((typeof store === "object" && store !== null) || typeof store === "function") bounded.add(store)
  return store
}

/** The operations of each kind, as a store of it has them. @internal */
export const operations = {
  tokenStore: ["get", "set", "remove", "rememberCode", "recallCode"],
  appTokenStore: ["get", "set"],
  sessionKeyStore: ["get", "set", "remove"],
  sessionStore: ["create", "get", "touch", "revoke", "revokeUser"],
  refreshLock: ["withLock"]
} as const

/**
 * Marks `store` when it has each of `ops` as a function (read under a guard: a throwing getter or
 * a revoked Proxy is no store, and is not marked). What the stores' public `markBounded` runs.
 *
 * @internal
 */
export const markStore = (store: unknown, ops: ReadonlyArray<string>): void => {
  const isStore = guardOr(
    () =>
      typeof store === "object" && store !== null &&
      ops.every((op) => typeof (store as Record<string, unknown>)[op] === "function"),
    false
  )
  if (isStore) bounded.add(store as object)
}

/** Whether `store` was marked (by core, an adapter, or a caller through `markBounded`). @internal */
export const isBounded = (store: unknown): boolean =>
  ((typeof store === "object" && store !== null) || typeof store === "function") && bounded.has(store)

const description = `the store did not answer within ${storeDeadlineText}`

/** One operation of `store`, read when called (as an unwrapped store's is), under the deadline. */
const deadlined =
  <E>(onTimeout: (operation: string) => E) =>
  <A, E1>(operation: string, effect: Effect.Effect<A, E1>): Effect.Effect<A, E1 | E> =>
    Deadline.within(effect, storeDeadline, () => onTimeout(operation))

const tokenStoreTimeout = deadlined((operation) => new TokenStoreError({ operation, description }))
const sessionStoreTimeout = deadlined((operation) => new SessionStoreError({ operation, description }))

/** One wrapper per store, so a store read by several services (one per app) is wrapped once. */
const wrappers = new WeakMap<object, object>()

const boundWith = <S extends object>(store: S, wrap: (store: S) => S): S => {
  if (isBounded(store) || typeof store !== "object" || store === null) return store
  const known = wrappers.get(store)
  if (known !== undefined) return known as S
  const wrapper = markBounded(wrap(store))
  wrappers.set(store, wrapper)
  return wrapper
}

/** The `TokenStore` as core uses it: a caller's under the deadline, a marked one as it is. @internal */
export const tokenStore = (store: TokenStore.TokenStoreShape): TokenStore.TokenStoreShape =>
  boundWith(store, (s) => ({
    get: (appId, openid) => tokenStoreTimeout("get", s.get(appId, openid)),
    set: (appId, token) => tokenStoreTimeout("set", s.set(appId, token)),
    remove: (appId, openid) => tokenStoreTimeout("remove", s.remove(appId, openid)),
    rememberCode: (appId, codeHash, memo) => tokenStoreTimeout("rememberCode", s.rememberCode(appId, codeHash, memo)),
    recallCode: (appId, codeHash) => tokenStoreTimeout("recallCode", s.recallCode(appId, codeHash))
  }))

/** The `AppTokenStore` as core uses it. @internal */
export const appTokenStore = (store: AppTokenStore.AppTokenStoreShape): AppTokenStore.AppTokenStoreShape =>
  boundWith(store, (s) => ({
    get: (appId) => tokenStoreTimeout("get", s.get(appId)),
    set: (appId, token) => tokenStoreTimeout("set", s.set(appId, token))
  }))

/** The `SessionKeyStore` as core uses it. @internal */
export const sessionKeyStore = (store: SessionKeyStore.SessionKeyStoreShape): SessionKeyStore.SessionKeyStoreShape =>
  boundWith(store, (s) => ({
    get: (appId, openid) => tokenStoreTimeout("get", s.get(appId, openid)),
    set: (appId, openid, sessionKey) => tokenStoreTimeout("set", s.set(appId, openid, sessionKey)),
    remove: (appId, openid) => tokenStoreTimeout("remove", s.remove(appId, openid))
  }))

/** The `SessionStore` as core and `@wxauth/http` use it. @internal */
export const sessionStore = (store: SessionStore.SessionStoreShape): SessionStore.SessionStoreShape =>
  boundWith(store, (s) => ({
    create: (session) => sessionStoreTimeout("create", s.create(session)),
    get: (idHash) => sessionStoreTimeout("get", s.get(idHash)),
    touch: (idHash, expiresAt) => sessionStoreTimeout("touch", s.touch(idHash, expiresAt)),
    revoke: (idHash) => sessionStoreTimeout("revoke", s.revoke(idHash)),
    revokeUser: (appId, openid) => sessionStoreTimeout("revokeUser", s.revokeUser(appId, openid))
  }))

/** Where a caller's lock is with the effect it was given. */
const waiting = 0
const running = 1
const timedOut = 2

/**
 * The `RefreshLock` as core uses it: a caller's lock must start the effect within `lockDeadline`,
 * else `RefreshLockTimeout` (the acquisition interrupted); the effect, once started, runs to its
 * end under the lock's own rules. A marked lock as it is. @internal
 */
export const refreshLock = (lock: RefreshLock.RefreshLockShape): RefreshLock.RefreshLockShape =>
  boundWith(lock, (l) => ({
    withLock: <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) =>
      Effect.suspend(() => {
        // one state for both sides, each read and written in one synchronous step: the effect starts
        // only before the deadline, the deadline fires only before the effect starts
        let state = waiting
        const started = Effect.suspend(() => {
          if (state === timedOut) return Effect.interrupt
          state = running
          return effect
        })
        const deadline = Effect.flatMap(Effect.sleep(lockDeadline), () =>
          Effect.suspend(() => {
            if (state === running) return Effect.never
            state = timedOut
            return Effect.fail(
              new RefreshLockTimeout({ key, waitedMillis: Duration.toMillis(lockDeadline) })
            )
          }))
        return Effect.raceFirst(Deadline.cuttable(l.withLock(key, started)), deadline)
      })
  }))
