/**
 * A new consent's token against the stored one: the store keeps the token with the later
 * `obtainedAt` (newer wins), and the machines sharing it do not share one clock; and against a
 * refresh of the same user, in its WeChat call or removing a token WeChat rejected.
 */
import { assert, describe, it } from "@effect/vitest"
import { OAuthToken, RefreshLock, TokenStore, WeChatConfig, WeChatError, WeChatOAuth } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { consent } from "./getUserPolicy.js"

const app = Sandbox.defaultApps.officialAccount
const refreshLifeMillis = 30 * 86_400_000

const configLayer = WeChatConfig.layer({
  appId: app.appId,
  appSecret: Redacted.make(app.secret),
  apiBaseUrl: "https://api.weixin.qq.com",
  openBaseUrl: "https://open.weixin.qq.com"
})

const layerWith = (sandbox: Sandbox.SandboxOptions = {}) =>
  WeChatOAuth.layer.pipe(
    Layer.provideMerge(TokenStore.layerMemory),
    Layer.provide(configLayer),
    Layer.provide(Sandbox.layerHttpClient),
    Layer.provideMerge(Sandbox.layer(sandbox))
  )

const login = (scope: WeChatOAuth.Scope = "snsapi_userinfo") =>
  Effect.gen(function*() {
    const oauth = yield* WeChatOAuth.WeChatOAuth
    return (yield* oauth.handleCallback(yield* consent(oauth, { scope }))).token
  })

const secretsOf = (token: OAuthToken.OAuthToken) => [
  Redacted.value(token.accessToken),
  Redacted.value(token.refreshToken)
]

/**
 * Stores `token` as another machine (its clock 1 hour ahead) would have written it: stamped, expiring
 * and refresh-expiring from that hour ahead. Succeeds with the stamp it wrote.
 */
const storeStampedAnHourAhead = (
  token: OAuthToken.OAuthToken,
  fields: Partial<ConstructorParameters<typeof OAuthToken.OAuthToken>[0]> = {}
) =>
  Effect.gen(function*() {
    const store = yield* TokenStore.TokenStore
    const ahead = token.obtainedAt + 3_600_000
    yield* store.set(
      app.appId,
      new OAuthToken.OAuthToken({
        ...token,
        ...fields,
        obtainedAt: ahead,
        expiresAt: ahead + 7_200_000,
        refreshExpiresAt: ahead + 86_400_000
      })
    )
    return ahead
  })

describe("a new consent over a stored token stamped ahead of this clock", () => {
  it.effect("after the clock stepped back, the store keeps the new consent (its scope), and getUser uses it", () =>
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      yield* TestClock.setTime(1_800_000_000_000)
      const base = yield* login("snsapi_base")
      // NTP steps the clock back 5 s (or the next callback lands on a machine 5 s behind)
      yield* TestClock.setTime(1_800_000_000_000 - 5_000)
      const upgraded = yield* login("snsapi_userinfo")
      assert.strictEqual(upgraded.obtainedAt, base.obtainedAt + 1, "stamped just after the stored token")
      const stored = Option.getOrThrow(yield* oauth.getToken(base.openid))
      assert.deepStrictEqual(stored.scope, ["snsapi_userinfo"])
      assert.deepStrictEqual(secretsOf(stored), secretsOf(upgraded), "the store holds the token answered")
      const user = yield* oauth.getUser(base.openid)
      assert.strictEqual(user.nickname, "张三")
    }).pipe(Effect.provide(layerWith())))

  it.effect("a stored token another machine (clock 1 hour ahead) wrote: the grant is stamped after it, expires by this clock, with its own refresh life and unionid", () =>
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      yield* TestClock.setTime(1_800_000_000_000)
      const first = yield* login()
      const ahead = yield* storeStampedAnHourAhead(first, { unionid: "uFromTheOldToken" })
      yield* TestClock.adjust("1 second")
      const now = 1_800_000_001_000
      const granted = yield* login()
      // WeChat's answer for this (unbound) app has no unionid: the grant takes none from the stored token
      assert.strictEqual(granted.unionid, undefined)
      assert.strictEqual(granted.obtainedAt, ahead + 1)
      // WeChat counts the token's life from its answer: by this clock, not from the stamp moved ahead
      assert.strictEqual(granted.expiresAt, now + 7_200_000)
      assert.strictEqual(granted.refreshExpiresAt, now + refreshLifeMillis, "a new grant's own refresh life")
      assert.isTrue(granted.obtainedAt > now)
      const stored = Option.getOrThrow(yield* oauth.getToken(first.openid))
      assert.strictEqual(stored.obtainedAt, granted.obtainedAt)
      assert.deepStrictEqual(secretsOf(stored), secretsOf(granted), "the store holds the token answered")
      assert.notDeepEqual(secretsOf(stored), secretsOf(first))
    }).pipe(Effect.provide(layerWith({ apps: [{ ...app, bound: false }] }))))

  it.effect("a grant stamped ahead (a stored token 1 hour ahead) is refreshed when WeChat's 2 hours have passed, before getUser asks for the profile", () =>
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const sandbox = yield* Sandbox.Sandbox
      yield* TestClock.setTime(1_800_000_000_000)
      const first = yield* login()
      const ahead = yield* storeStampedAnHourAhead(first)
      const granted = yield* login()
      assert.strictEqual(granted.obtainedAt, ahead + 1)
      yield* TestClock.adjust("130 minutes")
      const before = yield* sandbox.stats
      const user = yield* oauth.getUser(first.openid)
      const after = yield* sandbox.stats
      assert.strictEqual(user.openid, first.openid)
      assert.strictEqual(after.refresh_token - before.refresh_token, 1, "refreshed first")
      assert.strictEqual(after.userinfo - before.userinfo, 1, "one profile request: none answered 42001")
    }).pipe(Effect.provide(layerWith())))

  it.effect("with the clock ahead of the stored token, the grant is stamped with the clock", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_800_000_000_000)
      const first = yield* login()
      yield* TestClock.adjust("1 minute")
      const second = yield* login()
      assert.strictEqual(second.obtainedAt, first.obtainedAt + 60_000)
      assert.strictEqual(second.refreshExpiresAt, second.obtainedAt + refreshLifeMillis)
    }).pipe(Effect.provide(layerWith())))

  it.effect("a store that cannot read the stored token (a cipher key gone) still takes the new consent, stamped by the clock", () =>
    Effect.gen(function*() {
      const inner = yield* TokenStore.makeMemory()
      const broken: TokenStore.TokenStoreShape = {
        ...inner,
        get: () => Effect.fail(new WeChatError.TokenStoreError({ operation: "get", description: "cannot decrypt" }))
      }
      const granted = yield* login().pipe(
        Effect.provide(
          WeChatOAuth.layer.pipe(
            Layer.provide(Layer.succeed(TokenStore.TokenStore, broken)),
            Layer.provide(configLayer),
            Layer.provide(Sandbox.layerHttpClient),
            Layer.provideMerge(Sandbox.layer())
          )
        )
      )
      assert.strictEqual(granted.obtainedAt, 0)
      // the write went through: the memory store under it holds the grant
      const stored = Option.getOrThrow(yield* inner.get(app.appId, granted.openid))
      assert.deepStrictEqual(secretsOf(stored), secretsOf(granted))
    }))

  it.effect("a stored value the store cannot read, stamped a day ahead (its cipher key since removed), is replaced by a new consent, and getUser uses it", () =>
    Effect.gen(function*() {
      // the shared store as this process sees it: the user's value is there, stamped by the server
      // (clock a day ahead) that wrote it, and does not open here
      const inner = yield* TokenStore.makeMemory()
      const unreadable = new Set<string>()
      const store: TokenStore.TokenStoreShape = {
        ...inner,
        get: (appId, openid) =>
          unreadable.has(openid)
            ? Effect.fail(new WeChatError.TokenStoreError({ operation: "get", description: "cannot decrypt" }))
            : inner.get(appId, openid),
        remove: (appId, openid) =>
          Effect.zipRight(Effect.sync(() => unreadable.delete(openid)), inner.remove(appId, openid))
      }
      yield* Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        yield* TestClock.setTime(1_800_000_000_000)
        const first = yield* login()
        const dayAhead = first.obtainedAt + 86_400_000
        yield* inner.set(
          app.appId,
          new OAuthToken.OAuthToken({
            ...first,
            obtainedAt: dayAhead,
            expiresAt: dayAhead + 7_200_000,
            refreshExpiresAt: dayAhead + refreshLifeMillis
          })
        )
        unreadable.add(first.openid)
        assert.strictEqual((yield* Effect.flip(oauth.getUser(first.openid)))._tag, "TokenStoreError")
        yield* TestClock.adjust("1 second")
        const granted = yield* login()
        assert.strictEqual(granted.obtainedAt, 1_800_000_001_000, "stamped by the clock: nothing readable to follow")
        const stored = Option.getOrThrow(yield* inner.get(app.appId, first.openid))
        assert.deepStrictEqual(secretsOf(stored), secretsOf(granted), "the store holds the grant")
        assert.strictEqual((yield* oauth.getUser(first.openid)).nickname, "张三")
      }).pipe(
        Effect.provide(
          WeChatOAuth.layer.pipe(
            Layer.provide(Layer.succeed(TokenStore.TokenStore, store)),
            Layer.provide(configLayer),
            Layer.provide(Sandbox.layerHttpClient),
            Layer.provideMerge(Sandbox.layer())
          )
        )
      )
    }))

  /**
   * The shared store with a moment's failures (a Redis timeout): the next `get` or `set` fails once,
   * as asked; every `remove` is recorded.
   */
  const blinkingStore = Effect.gen(function*() {
    const inner = yield* TokenStore.makeMemory()
    const failNext = { get: 0, set: 0 } // how many of the next calls fail
    // how long a failing `get` takes (a timeout uses its whole deadline), by TestClock
    const failAfter = { millis: 0 }
    // run once before the next `get` that does not fail (another process acting meanwhile)
    const beforeNextGet: { effect: Effect.Effect<void> | undefined } = { effect: undefined }
    const removed: Array<string> = []
    const blink = (operation: "get" | "set") =>
      new WeChatError.TokenStoreError({ operation, description: "Command timed out" })
    const store: TokenStore.TokenStoreShape = {
      ...inner,
      get: (appId, openid) =>
        Effect.suspend(() =>
          failNext.get > 0
            ? (failNext.get -= 1, Effect.zipRight(TestClock.adjust(failAfter.millis), Effect.fail(blink("get"))))
            : beforeNextGet.effect !== undefined
            ? Effect.zipRight(
              Effect.suspend(() => {
                const effect = beforeNextGet.effect!
                beforeNextGet.effect = undefined
                return effect
              }),
              inner.get(appId, openid)
            )
            : inner.get(appId, openid)
        ),
      set: (appId, token) =>
        Effect.suspend(() =>
          failNext.set > 0 ? (failNext.set -= 1, Effect.fail(blink("set"))) : inner.set(appId, token)
        ),
      remove: (appId, openid) => Effect.zipRight(Effect.sync(() => removed.push(openid)), inner.remove(appId, openid))
    }
    const layer = WeChatOAuth.layer.pipe(
      Layer.provide(Layer.succeed(TokenStore.TokenStore, store)),
      Layer.provide(configLayer),
      Layer.provide(Sandbox.layerHttpClient),
      Layer.provideMerge(Sandbox.layer())
    )
    return { beforeNextGet, failAfter, failNext, inner, layer, removed }
  })

  it.effect("a consent whose read of the stored token fails for a moment, then whose write fails, leaves the user's token in place", () =>
    Effect.gen(function*() {
      const { failNext, inner, layer, removed } = yield* blinkingStore
      yield* Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const first = yield* login()
        yield* TestClock.adjust("1 second")
        failNext.get = 2 // both reads (it is asked twice)
        failNext.set = 1
        const failed = yield* Effect.flip(login())
        assert.strictEqual(failed._tag, "TokenStoreError", "the login fails with the store")
        assert.deepStrictEqual(removed, [], "nothing removed")
        const stored = Option.getOrThrow(yield* inner.get(app.appId, first.openid))
        assert.deepStrictEqual(secretsOf(stored), secretsOf(first), "the token the user had is still stored")
        assert.strictEqual((yield* oauth.getUser(first.openid)).nickname, "张三")
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a consent whose read fails for a moment writes the grant without removing the stored token first (another tab's getUser never finds none)", () =>
    Effect.gen(function*() {
      const { failNext, inner, layer, removed } = yield* blinkingStore
      yield* Effect.gen(function*() {
        yield* TestClock.setTime(1_800_000_000_000)
        const first = yield* login()
        yield* TestClock.adjust("1 second")
        failNext.get = 2 // both reads (it is asked twice)
        const granted = yield* login()
        assert.deepStrictEqual(removed, [], "nothing removed")
        assert.strictEqual(granted.obtainedAt, 1_800_000_001_000)
        const stored = Option.getOrThrow(yield* inner.get(app.appId, first.openid))
        assert.deepStrictEqual(secretsOf(stored), secretsOf(granted), "the store holds the grant")
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a consent whose read fails for a moment keeps a newer consent another process stored before its read back", () =>
    Effect.gen(function*() {
      const { beforeNextGet, failNext, inner, layer } = yield* blinkingStore
      yield* Effect.gen(function*() {
        yield* TestClock.setTime(1_800_000_000_000)
        const first = yield* login()
        yield* TestClock.adjust("1 second")
        // between this login's write and its read back, another process stores the user's newer consent
        const newer = new OAuthToken.OAuthToken({
          ...first,
          accessToken: Redacted.make("ACCESS_TOKEN_OF_THE_NEWER_CONSENT"),
          scope: ["snsapi_userinfo"],
          obtainedAt: 1_800_000_002_000,
          expiresAt: 1_800_000_002_000 + 7_200_000,
          refreshExpiresAt: 1_800_000_002_000 + 86_400_000
        })
        beforeNextGet.effect = Effect.zipRight(TestClock.adjust("1 second"), Effect.orDie(inner.set(app.appId, newer)))
        // both reads before the write fail (it is asked twice)
        failNext.get = 2
        const granted = yield* login()
        assert.strictEqual(granted.obtainedAt, 1_800_000_001_000, "the grant keeps its own stamp")
        const stored = Option.getOrThrow(yield* inner.get(app.appId, first.openid))
        assert.deepStrictEqual(secretsOf(stored), secretsOf(newer), "the newer consent stays stored")
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a consent whose read times out once over a token stamped by a clock 300 ms ahead is stamped after it (the read is asked again)", () =>
    Effect.gen(function*() {
      const { failAfter, failNext, inner, layer } = yield* blinkingStore
      yield* Effect.gen(function*() {
        yield* TestClock.setTime(1_800_000_000_000)
        const first = yield* login()
        // another process, its clock 300 ms ahead, stored the user's token
        const ahead = new OAuthToken.OAuthToken({
          ...first,
          obtainedAt: 1_800_000_000_300,
          expiresAt: 1_800_000_000_300 + 7_200_000,
          refreshExpiresAt: 1_800_000_000_300 + 86_400_000
        })
        yield* Effect.orDie(inner.set(app.appId, ahead))
        // this login's first read times out after 400 ms: past the other clock's lead
        failAfter.millis = 400
        failNext.get = 1
        const granted = yield* login()
        assert.strictEqual(granted.obtainedAt, 1_800_000_000_301, "stamped after the token the second read found")
        const stored = Option.getOrThrow(yield* inner.get(app.appId, first.openid))
        assert.deepStrictEqual(secretsOf(stored), secretsOf(granted), "the new consent is stored")
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a consent whose read fails for a moment over a readable token stamped an hour ahead is stamped after it once read back", () =>
    Effect.gen(function*() {
      const { failNext, inner, layer, removed } = yield* blinkingStore
      yield* Effect.gen(function*() {
        yield* TestClock.setTime(1_800_000_000_000)
        const first = yield* login()
        const ahead = yield* storeStampedAnHourAhead(first)
        yield* TestClock.adjust("1 second")
        failNext.get = 2 // both reads (it is asked twice)
        const granted = yield* login()
        assert.deepStrictEqual(removed, [], "nothing removed")
        assert.strictEqual(granted.obtainedAt, ahead + 1, "stamped after the token read back")
        assert.strictEqual(granted.expiresAt, 1_800_000_001_000 + 7_200_000, "expires by this clock")
        const stored = Option.getOrThrow(yield* inner.get(app.appId, first.openid))
        assert.deepStrictEqual(secretsOf(stored), secretsOf(granted), "the store holds the grant")
      }).pipe(Effect.provide(Layer.merge(layer, Layer.succeed(TokenStore.TokenStore, inner))))
    }))
})

/**
 * The shared store as two processes see it: a hook runs just before `remove` (between a rejected
 * refresh's read of the store and its removal), and the lock tells which keys are asked for.
 */
const racingEnvironment = Effect.gen(function*() {
  const inner = yield* TokenStore.makeMemory()
  const hooks: { beforeRemove?: Effect.Effect<void> | undefined; onSet?: (() => void) | undefined } = {}
  const store: TokenStore.TokenStoreShape = {
    ...inner,
    set: (appId, token) => Effect.tap(inner.set(appId, token), () => Effect.sync(() => hooks.onSet?.())),
    remove: (appId, openid) =>
      Effect.suspend(() => {
        const hook = hooks.beforeRemove
        hooks.beforeRemove = undefined
        return Effect.zipRight(hook ?? Effect.void, inner.remove(appId, openid))
      })
  }
  const inProcess = RefreshLock.makeInProcess()
  const locks: { asked: Array<string>; onAsk?: ((key: string) => void) | undefined } = { asked: [] }
  const lock: RefreshLock.RefreshLockShape = {
    withLock: (key, effect) =>
      Effect.zipRight(
        Effect.sync(() => {
          locks.asked.push(key)
          locks.onAsk?.(key)
        }),
        inProcess.withLock(key, effect)
      )
  }
  RefreshLock.markBounded(lock)
  return { hooks, inner, lock, locks, store }
})

const oauthLayerOn = (store: TokenStore.TokenStoreShape, lock: RefreshLock.RefreshLockShape) =>
  WeChatOAuth.layer.pipe(
    Layer.provide(Layer.succeed(TokenStore.TokenStore, store)),
    Layer.provide(Layer.succeed(RefreshLock.RefreshLock, lock)),
    Layer.provide(configLayer),
    Layer.provide(Sandbox.layerHttpClient),
    Layer.provideMerge(Sandbox.layer())
  )

type RacingEnvironment = Effect.Effect.Success<typeof racingEnvironment>

/**
 * The user consents again (in another tab, another process) while a refresh WeChat rejects (40030)
 * removes the user's token: the consent starts as the removal's store call does, which then waits
 * for what `whileRemoving` set up; `refreshing` runs the refresh to its failure. The new consent's
 * token must be the one left in the store.
 */
const consentDuringRemoval = (options: {
  readonly whileRemoving: (environment: RacingEnvironment, openid: string) => Effect.Effect<Effect.Effect<void>>
  readonly refreshing: <A, E>(refresh: Effect.Effect<A, E>) => Effect.Effect<A, E>
}) =>
  Effect.gen(function*() {
    const environment = yield* racingEnvironment
    const { hooks, inner, lock, store } = environment
    yield* Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const sandbox = yield* Sandbox.Sandbox
      const old = (yield* oauth.handleCallback(yield* consent(oauth))).token
      yield* TestClock.adjust("1 second")
      const callback = yield* consent(oauth) // the user consents again
      let exchanging: Fiber.RuntimeFiber<WeChatOAuth.CallbackResult, unknown> | undefined
      hooks.beforeRemove = Effect.gen(function*() {
        const wait = yield* options.whileRemoving(environment, old.openid)
        exchanging = yield* Effect.forkDaemon(oauth.handleCallback(callback))
        yield* wait
      })
      yield* sandbox.injectFault({ kind: "errcode", errcode: 40030, endpoint: "refresh_token" })
      const error = yield* options.refreshing(Effect.flip(oauth.refresh(old.openid)))
      assert.strictEqual(error._tag, "InvalidRefreshToken")
      assert.isDefined(exchanging, "the consent raced the removal")
      const granted = (yield* Fiber.join(exchanging!)).token
      const stored = yield* inner.get(app.appId, old.openid)
      assert.isTrue(Option.isSome(stored), "the new consent's token is still stored")
      assert.deepStrictEqual(secretsOf(Option.getOrThrow(stored)), secretsOf(granted))
    }).pipe(Effect.provide(oauthLayerOn(store, lock)))
  })

describe("a rejected refresh and a new consent", () => {
  it.effect("a consent stored between a rejected refresh's read and its removal is kept", () =>
    consentDuringRemoval({
      // it goes on until it has stored its token, or until it waits for the user's write lock
      whileRemoving: ({ hooks, locks }, openid) =>
        Effect.gen(function*() {
          const reached = yield* Deferred.make<void>()
          hooks.onSet = () => Deferred.unsafeDone(reached, Exit.void)
          locks.onAsk = (key) => key === `${app.appId}:${openid}:write` && Deferred.unsafeDone(reached, Exit.void)
          return Deferred.await(reached)
        }),
      refreshing: (refresh) => refresh
    }))

  it.effect("a consent that arrives while a slow store (4 s, within its 10 s deadline) removes the rejected token is kept", () =>
    consentDuringRemoval({
      // the removal's store call takes 4 s
      whileRemoving: () => Effect.succeed(Effect.sleep("4 seconds")),
      refreshing: (refresh) =>
        Effect.gen(function*() {
          const running = yield* Effect.fork(refresh)
          yield* TestClock.adjust("10 seconds")
          return yield* Fiber.join(running)
        })
    }))

  it.effect("a consent takes the user's write lock once, not the refresh lock; a refresh storm still makes one request", () =>
    Effect.gen(function*() {
      const { lock, locks, store } = yield* racingEnvironment
      yield* Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const sandbox = yield* Sandbox.Sandbox
        const token = yield* login()
        assert.deepStrictEqual(locks.asked, [`${app.appId}:${token.openid}:write`])
        yield* TestClock.adjust("3 hours")
        const users = yield* Effect.all(Array.from({ length: 200 }, () => oauth.getUser(token.openid)), {
          concurrency: "unbounded"
        })
        assert.strictEqual(users.length, 200)
        assert.strictEqual((yield* sandbox.stats).refresh_token, 1)
      }).pipe(Effect.provide(oauthLayerOn(store, lock)))
    }))

  it.effect("a lock that cannot be taken does not refuse the login: the grant is stored without it", () =>
    Effect.gen(function*() {
      const inner = yield* TokenStore.makeMemory()
      const stuck: RefreshLock.RefreshLockShape = {
        withLock: (key) => Effect.fail(new WeChatError.RefreshLockTimeout({ key, waitedMillis: 30_000 }))
      }
      RefreshLock.markBounded(stuck)
      const granted = yield* login().pipe(Effect.provide(oauthLayerOn(inner, stuck)))
      const stored = Option.getOrThrow(yield* inner.get(app.appId, granted.openid))
      assert.deepStrictEqual(secretsOf(stored), secretsOf(granted))
    }))
})

/** Until the sandbox has had `count` requests to `endpoint` (the fibers forked before run meanwhile). */
const awaitRequests = (endpoint: Sandbox.Endpoint, count: number) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    for (let i = 0; i < 1_000 && (yield* sandbox.stats)[endpoint] < count; i++) yield* Effect.yieldNow()
    assert.strictEqual((yield* sandbox.stats)[endpoint], count, `${endpoint} asked ${count} times`)
  })

/**
 * The user consents again while a refresh of their token is in its WeChat call: the user first
 * consented with `firstScope`, `before` passed, WeChat answers the refresh after 4 s (under the 5 s
 * timeout: one attempt), and the consent (scope `snsapi_userinfo`) is handled once the refresh has
 * reached WeChat. `refreshing` (the call that refreshes) and the login each end with the clock's
 * time; `t0` is when both started.
 */
const consentDuringRefreshCall = <A, E>(options: {
  readonly firstScope: WeChatOAuth.Scope
  readonly before: Duration.DurationInput
  readonly refreshing: (oauth: WeChatOAuth.WeChatOAuthShape, openid: string) => Effect.Effect<A, E>
}) =>
  Effect.gen(function*() {
    const oauth = yield* WeChatOAuth.WeChatOAuth
    const sandbox = yield* Sandbox.Sandbox
    const first = yield* login(options.firstScope)
    yield* TestClock.adjust(options.before)
    yield* sandbox.injectFault({ kind: "slow", endpoint: "refresh_token", delayMs: 4_000 })
    const t0 = yield* Clock.currentTimeMillis
    const refreshing = yield* Effect.fork(Effect.zip(options.refreshing(oauth, first.openid), Clock.currentTimeMillis))
    yield* awaitRequests("refresh_token", 1) // the refresh is in its WeChat call, under the user's lock
    const callback = yield* consent(oauth, { scope: "snsapi_userinfo" })
    const loggingIn = yield* Effect.fork(Effect.zip(oauth.handleCallback(callback), Clock.currentTimeMillis))
    yield* TestClock.adjust("20 seconds")
    const [answer, refreshedAt] = yield* Fiber.join(refreshing)
    const [{ token: granted }, loggedInAt] = yield* Fiber.join(loggingIn)
    return { answer, first, granted, loggedInAt, refreshedAt, t0 }
  })

/** A store whose `set` first runs the hook in place (once), as a compat `saveToken` hook may. */
const hookedStore = (store: TokenStore.TokenStoreShape) => {
  const hook: { beforeSet?: Effect.Effect<void> | undefined } = {}
  const hooked: TokenStore.TokenStoreShape = {
    ...store,
    set: (appId, token) =>
      Effect.suspend(() => {
        const run = hook.beforeSet
        hook.beforeSet = undefined
        return Effect.zipRight(run ?? Effect.void, store.set(appId, token))
      })
  }
  return { hook, hooked }
}

describe("a login while the user's token is being refreshed", () => {
  it.effect("a login is not held by a refresh of the same user's token that WeChat answers slowly", () =>
    Effect.gen(function*() {
      const { lock, store } = yield* racingEnvironment
      yield* Effect.gen(function*() {
        const { first, granted, loggedInAt, refreshedAt, t0 } = yield* consentDuringRefreshCall({
          firstScope: "snsapi_userinfo",
          before: "1 second",
          refreshing: (oauth, openid) => oauth.refresh(openid)
        })
        assert.strictEqual(refreshedAt, t0 + 4_000)
        assert.strictEqual(loggedInAt, t0, "the login ended at once, before the refresh's answer")
        assert.strictEqual(granted.openid, first.openid)
      }).pipe(Effect.provide(oauthLayerOn(store, lock)))
    }))

  it.effect("a consent that lands while a refresh is in its WeChat call is kept: the refresh answers it, and getUser uses it", () =>
    Effect.gen(function*() {
      const { inner, lock, store } = yield* racingEnvironment
      yield* Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        // a snsapi_base token, expired: getUser refreshes it first; the user then grants snsapi_userinfo
        const { answer, first, granted } = yield* consentDuringRefreshCall({
          firstScope: "snsapi_base",
          before: "3 hours",
          refreshing: (oauth, openid) => oauth.getUser(openid)
        })
        assert.strictEqual(answer.nickname, "张三", "getUser asked with the consented token (snsapi_userinfo)")
        const stored = Option.getOrThrow(yield* inner.get(app.appId, first.openid))
        assert.deepStrictEqual(stored.scope, ["snsapi_userinfo"])
        assert.deepStrictEqual(secretsOf(stored), secretsOf(granted), "the consent is still stored")
        const stats = yield* sandbox.stats
        assert.strictEqual(stats.refresh_token, 1)
        assert.strictEqual(stats.userinfo, 1, "one profile request, answered")
      }).pipe(Effect.provide(oauthLayerOn(store, lock)))
    }))

  it.effect("a refresh whose WeChat call a consent overtook answers the consent's token, and stores nothing over it", () =>
    Effect.gen(function*() {
      const { inner, lock, store } = yield* racingEnvironment
      yield* Effect.gen(function*() {
        const { answer, first, granted } = yield* consentDuringRefreshCall({
          firstScope: "snsapi_base",
          before: "1 second",
          refreshing: (oauth, openid) => oauth.refresh(openid)
        })
        assert.deepStrictEqual(secretsOf(answer), secretsOf(granted))
        assert.strictEqual(answer.obtainedAt, granted.obtainedAt)
        const stored = Option.getOrThrow(yield* inner.get(app.appId, first.openid))
        assert.deepStrictEqual(secretsOf(stored), secretsOf(granted))
      }).pipe(Effect.provide(oauthLayerOn(store, lock)))
    }))

  it.effect("a refresh that cannot take the user's write key within 3 s answers WeChat's token unstored; the store is untouched", () =>
    Effect.gen(function*() {
      const { inner, lock, store } = yield* racingEnvironment
      yield* Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const sandbox = yield* Sandbox.Sandbox
        const first = yield* login()
        yield* TestClock.adjust("1 minute")
        // someone holds the user's write key (a consent on a slow store, a lock that is stuck)
        const release = yield* Deferred.make<void>()
        const held = yield* Deferred.make<void>()
        const holder = yield* Effect.fork(
          lock.withLock(
            `${app.appId}:${first.openid}:write`,
            Effect.zipRight(Deferred.succeed(held, void 0), Deferred.await(release))
          )
        )
        yield* Deferred.await(held)
        const t0 = yield* Clock.currentTimeMillis
        const refreshing = yield* Effect.fork(Effect.zip(oauth.refresh(first.openid), Clock.currentTimeMillis))
        yield* TestClock.adjust("10 seconds")
        const [refreshed, refreshedAt] = yield* Fiber.join(refreshing)
        assert.strictEqual(refreshedAt, t0 + 3_000, "waited 3 s for the write key")
        assert.strictEqual(refreshed.obtainedAt, t0, "WeChat's answer, stamped when it came")
        const stored = Option.getOrThrow(yield* inner.get(app.appId, first.openid))
        assert.strictEqual(stored.obtainedAt, first.obtainedAt, "nothing written without the key")
        yield* Deferred.succeed(release, void 0)
        yield* Fiber.join(holder)
        // the next refresh, with the key free, stores its token
        const again = yield* oauth.refresh(first.openid)
        assert.deepStrictEqual(
          secretsOf(Option.getOrThrow(yield* inner.get(app.appId, first.openid))),
          secretsOf(again)
        )
        assert.strictEqual((yield* sandbox.stats).refresh_token, 2)
      }).pipe(Effect.provide(oauthLayerOn(store, lock)))
    }))

  it.effect("a RefreshLock that makes two different keys wait for each other (one lock for all keys): each refresh answers unstored after 3 s, and the warning names that cause", () =>
    Effect.gen(function*() {
      const inner = yield* TokenStore.makeMemory()
      const one = yield* Effect.makeSemaphore(1)
      const coarse: RefreshLock.RefreshLockShape = { withLock: (_key, effect) => one.withPermits(1)(effect) }
      RefreshLock.markBounded(coarse)
      const lines: Array<string> = []
      const logger = Logger.make(({ annotations, logLevel, message }) => {
        if (logLevel._tag === "Warning") lines.push(`${JSON.stringify(message)} ${JSON.stringify([...annotations])}`)
      })
      yield* Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const first = yield* login()
        yield* TestClock.adjust("1 minute")
        const t0 = yield* Clock.currentTimeMillis
        const refreshing = yield* Effect.fork(Effect.zip(oauth.refresh(first.openid), Clock.currentTimeMillis))
        yield* TestClock.adjust("10 seconds")
        const [refreshed, refreshedAt] = yield* Fiber.join(refreshing)
        assert.strictEqual(refreshedAt, t0 + 3_000, "waited 3 s for the write key its own refresh key blocks")
        assert.strictEqual(refreshed.obtainedAt, t0, "WeChat's answer, stamped when it came")
        const stored = Option.getOrThrow(yield* inner.get(app.appId, first.openid))
        assert.strictEqual(stored.obtainedAt, first.obtainedAt, "nothing stored")
        assert.strictEqual(lines.length, 1, "one warning")
        assert.include(lines[0], "the RefreshLock makes two different keys wait for each other")
        assert.include(lines[0], "WeChat's refreshed token answered, not stored")
      }).pipe(
        Effect.provide(oauthLayerOn(inner, coarse)),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
    }))

  describe("a consent whose store write refreshes the same user (a store hook, as a compat saveToken hook calling getUser) ends", () => {
    for (
      const { name, outcome, rejected } of [
        { name: "WeChat rejects the refresh token", rejected: true, outcome: "InvalidRefreshToken" },
        { name: "WeChat refreshes the token", rejected: false, outcome: "refreshed" }
      ]
    ) {
      it.effect(`${name}: the nested refresh waits for the consent's write 3 s at most, and the consent is stored`, () =>
        Effect.gen(function*() {
          const { inner, lock, store } = yield* racingEnvironment
          const { hook, hooked } = hookedStore(store)
          yield* Effect.gen(function*() {
            const oauth = yield* WeChatOAuth.WeChatOAuth
            const sandbox = yield* Sandbox.Sandbox
            const first = yield* login()
            const outcomes: Array<string> = []
            if (rejected) yield* sandbox.injectFault({ kind: "errcode", errcode: 40030, endpoint: "refresh_token" })
            // the store's write of the new consent first refreshes the user's token
            hook.beforeSet = oauth.refresh(first.openid).pipe(
              Effect.match({
                onFailure: (error) => outcomes.push(error._tag),
                onSuccess: () => outcomes.push("refreshed")
              }),
              Effect.asVoid
            )
            const callback = yield* consent(oauth)
            const t0 = yield* Clock.currentTimeMillis
            const loggingIn = yield* Effect.fork(Effect.zip(oauth.handleCallback(callback), Clock.currentTimeMillis))
            yield* TestClock.adjust("60 seconds")
            const [granted, loggedInAt] = yield* Fiber.join(loggingIn)
            assert.deepStrictEqual(outcomes, [outcome], "the nested refresh got WeChat's answer")
            assert.isAtMost(loggedInAt - t0, 3_000, "the login was held 3 s at most")
            const stored = yield* inner.get(app.appId, first.openid)
            assert.deepStrictEqual(
              secretsOf(Option.getOrThrow(stored)),
              secretsOf(granted.token),
              "the consent is stored"
            )
          }).pipe(Effect.provide(oauthLayerOn(hooked, lock)))
        }))
    }
  })
})
