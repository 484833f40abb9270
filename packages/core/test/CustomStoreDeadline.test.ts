/**
 * A store (or refresh lock) of the caller's own that never answers must not hang the caller: each
 * store operation core runs on one is bounded at 10 s (by `Clock`), failing with the store's own
 * typed error and interrupting the store's effect; a caller's lock must start the refresh within
 * 30 s, and a refresh it started is never cut. Core's own stores (and those that mark themselves,
 * the Redis and SQL ones) are used as they are: the same object, so getUser's hot path keeps its
 * synchronous read of the memory store.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  AppToken,
  AppTokenStore,
  MiniProgram,
  RefreshLock,
  SessionKeyStore,
  SessionStore,
  TokenStore,
  WeChatConfig,
  WeChatError,
  WeChatOAuth
} from "@wxauth/core"
import { makeSession, randomAppId, randomOpenId } from "@wxauth/core/testing"
import { Sandbox } from "@wxauth/sandbox"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Bounded from "../src/internal/boundedStore.js"
import { peekOf } from "../src/internal/tokenPeek.js"
import { consent } from "./getUserPolicy.js"

const app = Sandbox.defaultApps.officialAccount
const mini = Sandbox.defaultApps.miniProgram

/** What a store of the caller's did: operations started, and interrupted. */
interface Counter {
  started: number
  interrupted: number
}

/**
 * A copy of `store` (a store of the caller's: a new object, without the memory store's private
 * read) whose `ops` never answer, or answer after `after`.
 */
const customStore = <S extends object>(
  store: S,
  ops: ReadonlyArray<keyof S & string>,
  counter: Counter,
  after?: Duration.DurationInput
): S => {
  const copy: Record<string, unknown> = { ...(store as Record<string, unknown>) }
  for (const op of ops) {
    const original = store[op] as (...args: ReadonlyArray<unknown>) => Effect.Effect<unknown, unknown>
    copy[op] = (...args: ReadonlyArray<unknown>) =>
      Effect.suspend(() => {
        counter.started++
        return Effect.onInterrupt(
          after === undefined ? Effect.never : Effect.zipRight(Effect.sleep(after), original(...args)),
          () => Effect.sync(() => counter.interrupted++)
        )
      })
  }
  return copy as S
}

const newCounter = (): Counter => ({ started: 0, interrupted: 0 })

/** Lets the forked caller run until its store operation started (the in-process sandbox answers first). */
const untilStarted = (counter: Counter) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200 && counter.started === 0; i++) {
      yield* Effect.yieldNow()
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
    }
    assert.strictEqual(counter.started, 1, "the store operation started")
  })

/**
 * Runs `effect` in the background: still waiting 1 ms before `deadline` (by TestClock), ended at it,
 * its store operation interrupted. Returns how it ended.
 */
const endsAt = <A, E>(effect: Effect.Effect<A, E>, counter: Counter, deadline: Duration.DurationInput = "10 seconds") =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    yield* untilStarted(counter)
    yield* TestClock.adjust(Duration.subtract(deadline, Duration.millis(1)))
    assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "still waiting before the deadline")
    yield* TestClock.adjust("1 millis")
    // real turns for the fiber to end (it must not need the clock to move again)
    let exit = yield* Fiber.poll(fiber)
    for (let i = 0; i < 50 && Option.isNone(exit); i++) {
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
      exit = yield* Fiber.poll(fiber)
    }
    assert.isTrue(Option.isSome(exit), "ended at the deadline")
    // the store's effect is interrupted in the background: the caller does not wait for it
    for (let i = 0; i < 50 && counter.interrupted === 0; i++) {
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
    }
    assert.strictEqual(counter.interrupted, 1, "the store's effect was interrupted")
    return (exit as Option.Some<Exit.Exit<A, E>>).value
  })

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "failed")
  const failure = Cause.failureOption((exit as Exit.Failure<A, E>).cause)
  assert.isTrue(Option.isSome(failure), `a typed failure, not ${Cause.pretty((exit as Exit.Failure<A, E>).cause)}`)
  return (failure as Option.Some<E>).value
}

const assertDeadlineError = (
  error: unknown,
  tag: "TokenStoreError" | "SessionStoreError",
  operation: string,
  ...secrets: ReadonlyArray<string>
) => {
  const e = error as WeChatError.TokenStoreError | WeChatError.SessionStoreError
  assert.isTrue(
    tag === "TokenStoreError"
      ? error instanceof WeChatError.TokenStoreError
      : error instanceof WeChatError.SessionStoreError,
    `a ${tag}`
  )
  assert.strictEqual(e._tag, tag)
  assert.strictEqual(e.operation, operation)
  assert.include(e.description, "did not answer within 10 seconds")
  for (const secret of secrets) {
    assert.notInclude(JSON.stringify(e), secret)
    assert.notInclude(e.message, secret)
  }
}

const oauthEnvironment = Layer.mergeAll(
  WeChatConfig.layer({ appId: app.appId, appSecret: Redacted.make(app.secret) }),
  Sandbox.layerHttpClient
).pipe(Layer.provideMerge(Sandbox.layer()))

const miniEnvironment = Layer.mergeAll(
  WeChatConfig.layer({ appId: mini.appId, appSecret: Redacted.make(mini.secret) }),
  Sandbox.layerHttpClient
).pipe(Layer.provideMerge(Sandbox.layer()))

const oauthOn = (store: TokenStore.TokenStoreShape) =>
  WeChatOAuth.make.pipe(Effect.provideService(TokenStore.TokenStore, store))

/** Consents as alice; the callback, and its exchange. */
const login = (oauth: WeChatOAuth.WeChatOAuthShape) =>
  Effect.map(consent(oauth), (callback) => ({ callback, exchange: oauth.handleCallback(callback) }))

describe("a TokenStore of the caller's", () => {
  it.scoped("whose get never answers: getUser fails with TokenStoreError at 10 s, the get interrupted", () =>
    Effect.gen(function*() {
      const counter = newCounter()
      const oauth = yield* oauthOn(customStore(yield* TokenStore.makeMemory(), ["get"], counter))
      const openid = randomOpenId()
      const error = failureOf(yield* endsAt(oauth.getUser(openid), counter))
      assertDeadlineError(error, "TokenStoreError", "get", openid, app.appId)
    }).pipe(Effect.provide(oauthEnvironment)))

  it.scoped("whose get never answers, from a caller's uninterruptible region: getUser still fails at 10 s", () =>
    Effect.gen(function*() {
      const counter = newCounter()
      const oauth = yield* oauthOn(customStore(yield* TokenStore.makeMemory(), ["get"], counter))
      const openid = randomOpenId()
      // e.g. a getUser in an acquire step: the deadline used to wait for the uninterruptible get
      const error = failureOf(yield* endsAt(Effect.uninterruptible(oauth.getUser(openid)), counter))
      assertDeadlineError(error, "TokenStoreError", "get", openid, app.appId)
    }).pipe(Effect.provide(oauthEnvironment)))

  it.scoped("whose set never answers: the callback's code exchange fails with TokenStoreError at 10 s", () =>
    Effect.gen(function*() {
      const counter = newCounter()
      const oauth = yield* oauthOn(customStore(yield* TokenStore.makeMemory(), ["set"], counter))
      const { exchange } = yield* login(oauth)
      const error = failureOf(yield* endsAt(exchange, counter))
      assertDeadlineError(error, "TokenStoreError", "set", app.appId)
    }).pipe(Effect.provide(oauthEnvironment)))

  it.scoped("whose rememberCode never answers: the exchange gives its token at 10 s (the memo is best effort)", () =>
    Effect.gen(function*() {
      const counter = newCounter()
      const oauth = yield* oauthOn(customStore(yield* TokenStore.makeMemory(), ["rememberCode"], counter))
      const { exchange } = yield* login(oauth)
      const exit = yield* endsAt(exchange, counter)
      assert.isTrue(Exit.isSuccess(exit), "the token, stored")
    }).pipe(Effect.provide(oauthEnvironment)))

  it.scoped("whose remove never answers: removeToken fails with TokenStoreError at 10 s", () =>
    Effect.gen(function*() {
      const counter = newCounter()
      const oauth = yield* oauthOn(customStore(yield* TokenStore.makeMemory(), ["remove"], counter))
      const error = failureOf(yield* endsAt(oauth.removeToken(randomOpenId()), counter))
      assertDeadlineError(error, "TokenStoreError", "remove")
    }).pipe(Effect.provide(oauthEnvironment)))

  it.scoped("that answers at 9 s still works: login, then getUser", () =>
    Effect.gen(function*() {
      const counter = newCounter()
      const store = customStore(yield* TokenStore.makeMemory(), ["get"], counter, "9 seconds")
      const oauth = yield* oauthOn(store)
      const { exchange } = yield* login(oauth)
      // the exchange reads the user's stored token first, to stamp the grant after it
      const exchanging = yield* Effect.fork(exchange)
      yield* untilStarted(counter)
      yield* TestClock.adjust("9 seconds")
      const { token } = yield* Fiber.join(exchanging)
      counter.started = 0
      const fiber = yield* Effect.fork(oauth.getUser(token.openid))
      yield* untilStarted(counter)
      yield* TestClock.adjust("9 seconds")
      const user = yield* Fiber.join(fiber)
      assert.strictEqual(user.openid, token.openid)
      assert.strictEqual(counter.interrupted, 0)
    }).pipe(Effect.provide(oauthEnvironment)))
})

describe("an AppTokenStore of the caller's", () => {
  it.scoped("whose get never answers: AppToken.get fails with TokenStoreError at 10 s, the get interrupted", () =>
    Effect.gen(function*() {
      const counter = newCounter()
      const store = customStore(yield* AppTokenStore.makeMemory(), ["get"], counter)
      const appToken = yield* AppToken.make.pipe(Effect.provideService(AppTokenStore.AppTokenStore, store))
      const error = failureOf(yield* endsAt(appToken.get, counter))
      assertDeadlineError(error, "TokenStoreError", "get", mini.appId)
    }).pipe(Effect.provide(miniEnvironment)))

  it.scoped("whose set never answers: AppToken.get fails with TokenStoreError at 10 s", () =>
    Effect.gen(function*() {
      const counter = newCounter()
      const store = customStore(yield* AppTokenStore.makeMemory(), ["set"], counter)
      const appToken = yield* AppToken.make.pipe(Effect.provideService(AppTokenStore.AppTokenStore, store))
      const error = failureOf(yield* endsAt(appToken.get, counter))
      assertDeadlineError(error, "TokenStoreError", "set", mini.appId)
    }).pipe(Effect.provide(miniEnvironment)))
})

describe("a SessionKeyStore of the caller's", () => {
  it.scoped("whose get never answers: checkSessionKey fails with TokenStoreError at 10 s", () =>
    Effect.gen(function*() {
      const counter = newCounter()
      const store = customStore(yield* SessionKeyStore.makeMemory(), ["get"], counter)
      const appToken = yield* AppToken.make.pipe(Effect.provide(AppTokenStore.layerMemory))
      const program = yield* MiniProgram.make.pipe(
        Effect.provideService(AppToken.AppToken, appToken),
        Effect.provideService(SessionKeyStore.SessionKeyStore, store)
      )
      const openid = randomOpenId()
      const error = failureOf(yield* endsAt(program.checkSessionKey(openid), counter))
      assertDeadlineError(error, "TokenStoreError", "get", openid)
    }).pipe(Effect.provide(miniEnvironment)))
})

describe("a SessionStore of the caller's", () => {
  const operations = (session: SessionStore.Session) =>
    [
      ["create", (s: SessionStore.SessionStoreShape) => s.create(session)],
      ["get", (s: SessionStore.SessionStoreShape) => s.get(session.idHash)],
      ["touch", (s: SessionStore.SessionStoreShape) => s.touch(session.idHash, session.expiresAt + 1000)],
      ["revoke", (s: SessionStore.SessionStoreShape) => s.revoke(session.idHash)],
      ["revokeUser", (s: SessionStore.SessionStoreShape) => s.revokeUser(session.appId, session.openid)]
    ] as const

  it.effect("whose operations never answer: each fails with SessionStoreError at 10 s, interrupted", () =>
    Effect.gen(function*() {
      const { session } = yield* makeSession()
      for (const [operation, run] of operations(session)) {
        const counter = newCounter()
        const store = SessionStore.bounded(customStore(yield* SessionStore.makeMemory(), [operation], counter))
        const error = failureOf(yield* endsAt(run(store) as Effect.Effect<unknown, unknown>, counter))
        assertDeadlineError(error, "SessionStoreError", operation, session.idHash, session.openid)
      }
    }))

  it.effect("that answers at 9 s still works", () =>
    Effect.gen(function*() {
      const { session } = yield* makeSession()
      const counter = newCounter()
      const memory = yield* SessionStore.makeMemory()
      yield* memory.create(session)
      const store = SessionStore.bounded(customStore(memory, ["get"], counter, "9 seconds"))
      const fiber = yield* Effect.fork(store.get(session.idHash))
      yield* untilStarted(counter)
      yield* TestClock.adjust("9 seconds")
      const found = yield* Fiber.join(fiber)
      assert.isTrue(Option.isSome(found))
    }))
})

describe("a RefreshLock of the caller's", () => {
  const regions: ReadonlyArray<readonly [string, <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>]> = [
    ["", (effect) => effect],
    [", from a caller's uninterruptible region too", (effect) => Effect.uninterruptible(effect)]
  ]
  for (const [region, around] of regions) {
    it.scoped(`that never starts the refresh${region}: AppToken.get fails with RefreshLockTimeout at 30 s, the wait interrupted`, () =>
      Effect.gen(function*() {
        const counter = newCounter()
        const lock: RefreshLock.RefreshLockShape = {
          withLock: () =>
            Effect.suspend(() => {
              counter.started++
              return Effect.onInterrupt(Effect.never, () => Effect.sync(() => counter.interrupted++))
            })
        }
        const appToken = yield* AppToken.make.pipe(
          Effect.provide(AppTokenStore.layerMemory),
          Effect.provideService(RefreshLock.RefreshLock, lock)
        )
        const error = failureOf(yield* endsAt(around(appToken.get), counter, "30 seconds"))
        assert.instanceOf(error, WeChatError.RefreshLockTimeout)
        assert.strictEqual((error as WeChatError.RefreshLockTimeout).waitedMillis, 30_000)
      }).pipe(Effect.provide(miniEnvironment)))
  }

  it.scoped("a refresh it started is not cut: a source answering at 40 s gives the token", () =>
    Effect.gen(function*() {
      let calls = 0
      const lock: RefreshLock.RefreshLockShape = { withLock: (_key, effect) => effect }
      const appToken = yield* AppToken.makeWith({
        sourceTimeout: "1 minute",
        source: () =>
          Effect.suspend(() => {
            calls++
            return Effect.as(Effect.sleep("40 seconds"), { access_token: Redacted.make("a-token"), expires_in: 7200 })
          })
      }).pipe(
        Effect.provide(AppTokenStore.layerMemory),
        Effect.provideService(RefreshLock.RefreshLock, lock)
      )
      const fiber = yield* Effect.fork(appToken.get)
      for (let i = 0; i < 50 && calls === 0; i++) yield* Effect.yieldNow()
      yield* TestClock.adjust("39 seconds")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(Redacted.value(yield* Fiber.join(fiber)), "a-token")
      assert.strictEqual(calls, 1)
    }).pipe(Effect.provide(miniEnvironment)))

  it.scoped("that starts the refresh at 29 s: the refresh runs", () =>
    Effect.gen(function*() {
      const lock: RefreshLock.RefreshLockShape = {
        withLock: (_key, effect) => Effect.zipRight(Effect.sleep("29 seconds"), effect)
      }
      const appToken = yield* AppToken.makeWith({
        source: () => Effect.succeed({ access_token: Redacted.make("a-token"), expires_in: 7200 })
      }).pipe(
        Effect.provide(AppTokenStore.layerMemory),
        Effect.provideService(RefreshLock.RefreshLock, lock)
      )
      const fiber = yield* Effect.fork(appToken.get)
      yield* TestClock.adjust("29 seconds")
      assert.strictEqual(Redacted.value(yield* Fiber.join(fiber)), "a-token")
    }).pipe(Effect.provide(miniEnvironment)))
})

describe("stores that bound themselves", () => {
  it.effect("core's memory stores and lock are used as they are (the same object)", () =>
    Effect.gen(function*() {
      const tokens = yield* TokenStore.makeMemory()
      const bounded = Bounded.tokenStore(tokens)
      assert.strictEqual(bounded, tokens)
      // getUser's hot path keeps its synchronous read
      assert.isDefined(peekOf(bounded))
      const fromLayer = yield* Effect.provide(TokenStore.TokenStore, TokenStore.layerMemory)
      assert.strictEqual(Bounded.tokenStore(fromLayer), fromLayer)
      const appTokens = yield* AppTokenStore.makeMemory()
      assert.strictEqual(Bounded.appTokenStore(appTokens), appTokens)
      const sessionKeys = yield* SessionKeyStore.makeMemory()
      assert.strictEqual(Bounded.sessionKeyStore(sessionKeys), sessionKeys)
      const sessions = yield* SessionStore.makeMemory()
      assert.strictEqual(SessionStore.bounded(sessions), sessions)
      const fromSessionLayer = yield* Effect.provide(SessionStore.SessionStore, SessionStore.layerMemory)
      assert.strictEqual(SessionStore.bounded(fromSessionLayer), fromSessionLayer)
      const lock = RefreshLock.makeInProcess()
      assert.strictEqual(Bounded.refreshLock(lock), lock)
    }))

  it.effect("a store of the caller's is wrapped once; a marked one is not", () =>
    Effect.gen(function*() {
      const custom = { ...(yield* TokenStore.makeMemory()) }
      const wrapped = Bounded.tokenStore(custom)
      assert.notStrictEqual(wrapped, custom)
      assert.strictEqual(Bounded.tokenStore(custom), wrapped, "the same wrapper for the same store")
      assert.strictEqual(Bounded.tokenStore(wrapped), wrapped, "a wrapper is not wrapped again")
      const marked = { ...(yield* TokenStore.makeMemory()) }
      TokenStore.markBounded(marked)
      assert.strictEqual(Bounded.tokenStore(marked), marked)
      // a value without the store's operations is not marked
      const notAStore = { get: () => Effect.never } as unknown as TokenStore.TokenStoreShape
      TokenStore.markBounded(notAStore)
      assert.notStrictEqual(Bounded.tokenStore(notAStore), notAStore)
      // an adapter's store (marked as the Redis and SQL ones are) that never answers is not cut
      const counter = newCounter()
      const hangingMarked = customStore(yield* TokenStore.makeMemory(), ["get"], counter)
      TokenStore.markBounded(hangingMarked)
      const fiber = yield* Effect.fork(Bounded.tokenStore(hangingMarked).get(randomAppId(), randomOpenId()))
      yield* untilStarted(counter)
      yield* TestClock.adjust("1 minute")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* Fiber.interrupt(fiber)
    }))
})

describe("a caller's lock, beyond its acquisition", () => {
  const answering: AppToken.Source = () => Effect.succeed({ access_token: Redacted.make("a-token"), expires_in: 7200 })

  /** Real turns for fibers woken by the test clock (or by nothing) to run. */
  const turns = Effect.gen(function*() {
    for (let i = 0; i < 50; i++) yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
  })

  it.scoped("that runs the refresh at once, from a caller's uninterruptible region: get answers", () =>
    Effect.gen(function*() {
      const lock: RefreshLock.RefreshLockShape = { withLock: (_key, effect) => effect }
      const appToken = yield* AppToken.makeWith({ source: answering }).pipe(
        Effect.provide(AppTokenStore.layerMemory),
        Effect.provideService(RefreshLock.RefreshLock, lock)
      )
      // before, the race's deadline side (uninterruptible, as the caller) ran on for ever once the
      // refresh had started, and the race waited to interrupt it
      const fiber = yield* Effect.fork(Effect.uninterruptible(appToken.get))
      yield* turns
      yield* TestClock.adjust("5 minutes")
      yield* turns
      const polled = yield* Fiber.poll(fiber)
      assert.isTrue(Option.isSome(polled) && Exit.isSuccess(polled.value), "the token")
    }).pipe(Effect.provide(miniEnvironment)))

  it.scoped("whose release never answers: the refresh's outcome 10 s after the 30 s bound, the release left behind", () =>
    Effect.gen(function*() {
      const lock: RefreshLock.RefreshLockShape = { withLock: (_key, effect) => Effect.ensuring(effect, Effect.never) }
      const appToken = yield* AppToken.makeWith({ source: answering }).pipe(
        Effect.provide(AppTokenStore.layerMemory),
        Effect.provideService(RefreshLock.RefreshLock, lock)
      )
      const fiber = yield* Effect.fork(appToken.get)
      yield* turns
      yield* TestClock.adjust("39 seconds")
      yield* turns
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "waiting on the release within its bound")
      yield* TestClock.adjust("1 second")
      yield* turns
      const polled = yield* Fiber.poll(fiber)
      assert.isTrue(Option.isSome(polled) && Exit.isSuccess(polled.value), "the refreshed token, not a hang")
    }).pipe(Effect.provide(miniEnvironment)))

  it.scoped("one object as the AppTokenStore and the RefreshLock: each kind gets its own deadline", () =>
    Effect.gen(function*() {
      const memory = yield* AppTokenStore.makeMemory()
      const both = {
        get: (appId: string) => memory.get(appId),
        set: (appId: string, token: AppTokenStore.AppAccessToken) => memory.set(appId, token),
        withLock: <A, E, R>(_key: string, effect: Effect.Effect<A, E, R>) => effect
      }
      // before, the app-token-store wrapper (no withLock) was handed back as the lock: a defect
      const exit = yield* Effect.exit(
        Effect.flatMap(
          AppToken.makeWith({ source: answering }).pipe(
            Effect.provideService(AppTokenStore.AppTokenStore, both),
            Effect.provideService(RefreshLock.RefreshLock, both)
          ),
          (appToken) => appToken.get
        )
      )
      assert.isTrue(Exit.isSuccess(exit), "the token")
      assert.isFunction(Bounded.refreshLock(both).withLock)
      // a mark is its kind's: marked as a token store, the same object's lock keeps its bound
      const marked = { ...both }
      AppTokenStore.markBounded(marked)
      assert.strictEqual(Bounded.appTokenStore(marked), marked)
      assert.notStrictEqual(Bounded.refreshLock(marked), marked)
    }).pipe(Effect.provide(miniEnvironment)))
})

describe("a caller's store, called", () => {
  it.effect("a method that throws, or answers no Effect, is the store's typed error (never a throw or a defect)", () =>
    Effect.gen(function*() {
      const memory = yield* TokenStore.makeMemory()
      const throwing = Bounded.tokenStore({
        ...memory,
        get: () => {
          throw new Error("the driver is not connected")
        }
      })
      const throwExit = yield* Effect.exit(throwing.get(randomAppId(), randomOpenId()))
      assert.instanceOf(failureOf(throwExit), WeChatError.TokenStoreError)
      assert.notInclude(JSON.stringify(failureOf(throwExit)), "driver")
      const promising = Bounded.tokenStore({
        ...memory,
        get: (() => Promise.resolve(Option.none())) as unknown as TokenStore.TokenStoreShape["get"]
      })
      assert.instanceOf(
        failureOf(yield* Effect.exit(promising.get(randomAppId(), randomOpenId()))),
        WeChatError.TokenStoreError
      )
    }))

  it.effect("a store that is a function (a class with static methods) is bounded too", () =>
    Effect.gen(function*() {
      const counter = newCounter()
      const memory = customStore(yield* TokenStore.makeMemory(), ["get"], counter)
      const asFunction = Object.assign(function Store() {}, memory) as unknown as TokenStore.TokenStoreShape
      const wrapped = Bounded.tokenStore(asFunction)
      assert.notStrictEqual(wrapped, asFunction)
      const error = failureOf(yield* endsAt(wrapped.get(randomAppId(), randomOpenId()), counter))
      assertDeadlineError(error, "TokenStoreError", "get")
    }))

  it.live("an outside interruption of a caller in an uninterruptible region does not cut the store's operation", () =>
    Effect.gen(function*() {
      let done = false
      const memory = yield* TokenStore.makeMemory()
      const slow = Bounded.tokenStore({
        ...memory,
        remove: (appId, openid) =>
          Effect.zipRight(Effect.sleep("100 millis"), memory.remove(appId, openid)).pipe(
            Effect.zipRight(Effect.sync(() => {
              done = true
            }))
          )
      })
      const fiber = yield* Effect.fork(Effect.uninterruptible(slow.remove(randomAppId(), randomOpenId())))
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(fiber)
      // before, the interruption reached the operation through the deadline's race and cut it
      assert.isTrue(done, "the remove ran to its end, as the caller's region said")
    }))
})
