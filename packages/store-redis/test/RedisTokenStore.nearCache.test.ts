/**
 * RedisTokenStore's near cache against a real Redis: what it saves (no round trip for an unchanged
 * token), what it must never do (serve a token another client changed, once the change is known, or
 * while the feed is down), and that a refresh storm across two stores still makes one refresh when
 * one store's invalidations are late. The race rules themselves are checked on the cache alone,
 * case by case, at the end.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { OAuthToken, RefreshLock, TokenStore, WeChatConfig, WeChatHttpClient, WeChatOAuth } from "@wxauth/core"
import { makeToken, randomAppId } from "@wxauth/core/testing"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import { RedisRefreshLock, RedisTokenStore } from "@wxauth/store-redis"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { bypassNearCache, TokenCache } from "../src/internal/tokenCache.js"
import {
  cleanup,
  clientLines,
  countingClient,
  describeRedis,
  feedHoldingProxy,
  freezableProxy,
  makeAdmin,
  randomPrefix,
  redisCall,
  redisUrl,
  untilServedFromMemory
} from "./utils.js"

/** The access token of an `Option` of a token, or `"none"`. */
const accessOf = (found: Option.Option<OAuthToken.OAuthToken>): string =>
  Option.match(found, { onNone: () => "none", onSome: (token) => Redacted.value(token.accessToken) })

describeRedis("RedisTokenStore near cache", () => {
  const prefix = randomPrefix()
  const admin = makeAdmin()
  afterAll(async () => {
    await cleanup(admin, prefix)
    await admin.quit()
  })

  /** A near-cached store on a counting client of its own, and a plain store (another client) that writes. */
  const setup = (options: RedisTokenStore.ScopedOptions & { readonly clientPrefix?: string } = {}) =>
    Effect.gen(function*() {
      const name = `wxauth-test-nc-${Math.random().toString(36).slice(2, 10)}`
      const { client, count } = yield* countingClient({
        connectionName: name,
        ...(options.clientPrefix === undefined ? {} : { keyPrefix: options.clientPrefix })
      })
      const store = yield* RedisTokenStore.makeScoped(client, { keyPrefix: prefix, ...options })
      const writerClient = yield* countingClient({
        ...(options.clientPrefix === undefined ? {} : { keyPrefix: options.clientPrefix })
      })
      const writer = yield* RedisTokenStore.make(writerClient.client, { keyPrefix: prefix })
      return { client, count, store, writer, name, feedName: `${name}-near-cache` }
    })

  /** Reads until `predicate` holds for what `get` returns; the time it took. */
  const untilSeen = (
    store: TokenStore.TokenStoreShape,
    appId: string,
    openid: string,
    predicate: (access: string) => boolean
  ) =>
    Effect.gen(function*() {
      const start = Date.now()
      for (let i = 0; i < 2000; i++) {
        if (predicate(accessOf(yield* store.get(appId, openid)))) return Date.now() - start
        yield* Effect.sleep("1 millis")
      }
      return assert.fail("the change was never seen")
    })

  it.scopedLive("an unchanged token is read from Redis once; the feed tracks <prefix>{ (BCAST, RESP2) on itself", () =>
    Effect.gen(function*() {
      const { count, feedName, store, writer } = yield* setup()
      const appId = randomAppId()
      const token = yield* makeToken()
      yield* writer.set(appId, token)
      yield* untilServedFromMemory(store, count, appId, token.openid)
      const before = count("hmget")
      for (let i = 0; i < 50; i++) {
        assert.strictEqual(accessOf(yield* store.get(appId, token.openid)), Redacted.value(token.accessToken))
      }
      assert.strictEqual(count("hmget"), before, "50 gets, no round trip")

      const [line] = yield* redisCall(() => clientLines(admin, feedName))
      assert.isDefined(line, "the feed has a connection of its own")
      const field = (name: string) => new RegExp(`(?:^|\\s)${name}=(\\S*)`).exec(line)![1]
      assert.include(field("flags"), "t", "tracking")
      assert.include(field("flags"), "B", "broadcasting mode")
      assert.strictEqual(field("redir"), field("id"), "its invalidations come to itself")
      assert.strictEqual(field("sub"), "1", "subscribed to __redis__:invalidate")
      assert.strictEqual(field("resp"), "2")
    }))

  it.scopedLive("another client's write, delete or expiry is seen within 250 ms", () =>
    Effect.gen(function*() {
      const { count, store, writer } = yield* setup()
      const appId = randomAppId()
      const first = yield* makeToken()
      yield* writer.set(appId, first)
      yield* untilServedFromMemory(store, count, appId, first.openid)

      const second = yield* makeToken({ openid: first.openid, obtainedAt: first.obtainedAt + 1000 })
      yield* writer.set(appId, second)
      const written = yield* untilSeen(store, appId, first.openid, (a) => a === Redacted.value(second.accessToken))
      assert.isBelow(written, 250)

      yield* untilServedFromMemory(store, count, appId, first.openid)
      yield* writer.remove(appId, first.openid)
      assert.isBelow(yield* untilSeen(store, appId, first.openid, (a) => a === "none"), 250)

      yield* writer.set(appId, second)
      yield* untilServedFromMemory(store, count, appId, first.openid)
      const key = RedisTokenStore.tokenKey(appId, first.openid, prefix)
      yield* redisCall(() => admin.pexpire(key, 50))
      yield* Effect.sleep("60 millis")
      // Redis expires a key when it is next touched, or when its active expiry cycle samples it
      // (20 keys with a TTL per 100 ms: with the other tests' keys about, 400 ms and more): touch it,
      // so what is timed is the invalidation reaching the cache, not Redis's sampling.
      assert.strictEqual(yield* redisCall(() => admin.exists(key)), 0, "Redis expired the key")
      assert.isBelow(yield* untilSeen(store, appId, first.openid, (a) => a === "none"), 250)
    }))

  it.scopedLive("reads racing 200 writes from another client: every reader ends on the newest token", () =>
    Effect.gen(function*() {
      const { count, store, writer } = yield* setup()
      const appId = randomAppId()
      const base = yield* makeToken()
      const tokens = yield* Effect.forEach(
        Array.from({ length: 200 }, (_, i) => i),
        (i) => makeToken({ openid: base.openid, obtainedAt: base.obtainedAt + i })
      )
      yield* writer.set(appId, base)
      // the race starts once the cache is live (its feed subscribed): before that every read goes
      // to Redis, and a loaded machine could spend the whole race there
      yield* untilServedFromMemory(store, count, appId, base.openid)
      const hmgetsBefore = count("hmget")
      let writing = true
      const readers = yield* Effect.forEach(
        Array.from({ length: 8 }),
        () =>
          Effect.fork(Effect.gen(function*() {
            let gets = 0
            while (writing) {
              yield* store.get(appId, base.openid)
              gets++
              // a macrotask now and then: answers from memory alone would keep sockets unread
              if (gets % 4 === 0) yield* Effect.sleep("1 millis")
            }
            return gets
          }))
      )
      for (const token of tokens) {
        yield* writer.set(appId, token)
        if (token.obtainedAt % 3 === 0) yield* Effect.sleep("1 millis")
      }
      writing = false
      const gets = (yield* Effect.forEach(readers, Fiber.join)).reduce((a, b) => a + b, 0)
      assert.isBelow(count("hmget") - hmgetsBefore, gets, "some of the racing reads were served from memory")
      const newest = Redacted.value(tokens[tokens.length - 1].accessToken)
      assert.isBelow(yield* untilSeen(store, appId, base.openid, (a) => a === newest), 250)
      // and it stays so: no stale entry is left to come back
      for (let i = 0; i < 100; i++) assert.strictEqual(accessOf(yield* store.get(appId, base.openid)), newest)
    }))

  it.scopedLive("losing the feed's connection or the data connection drops the cache: a write meanwhile is seen", () =>
    Effect.gen(function*() {
      const { count, feedName, name, store, writer } = yield* setup()
      const appId = randomAppId()
      const first = yield* makeToken()
      yield* writer.set(appId, first)
      yield* untilServedFromMemory(store, count, appId, first.openid)

      const idOf = (connection: string) =>
        Effect.map(redisCall(() => clientLines(admin, connection)), (lines) => /(?:^|\s)id=(\d+)/.exec(lines[0])![1])
      for (const [which, connection] of [["feed", feedName], ["data", name]] as const) {
        const id = yield* idOf(connection)
        const feedId = yield* idOf(feedName)
        yield* redisCall(() => admin.client("KILL", "ID", id))
        // written while the connection is down: if it was the feed's, no invalidation will ever come
        const next = yield* makeToken({ openid: first.openid, obtainedAt: Date.now() })
        yield* writer.set(appId, next)
        // once this process has seen the connection go (a new one is open), the write is what it reads
        yield* redisCall(() => clientLines(admin, connection)).pipe(
          Effect.repeat({
            until: (lines) => lines.length === 1 && !lines[0].includes(`id=${id} `),
            schedule: Schedule.spaced("10 millis")
          }),
          Effect.timeout("10 seconds")
        )
        yield* Effect.sleep("20 millis")
        assert.strictEqual(
          accessOf(yield* store.get(appId, first.openid)),
          Redacted.value(next.accessToken),
          `after the ${which} connection was lost`
        )
        // and the cache comes back
        yield* untilServedFromMemory(store, count, appId, first.openid)
        // on a new feed connection: after the data connection's, so that both reach the same server
        assert.notStrictEqual(
          yield* idOf(feedName),
          feedId,
          `a new feed connection after the ${which} connection's loss`
        )
      }
    }))

  it.scopedLive("when the network goes silent, the cache serves at most about heartbeat + commandTimeout", () =>
    Effect.gen(function*() {
      const proxy = yield* freezableProxy
      const { client, count } = yield* countingClient({ url: proxy.url })
      const store = yield* RedisTokenStore.makeScoped(client, { keyPrefix: prefix, commandTimeout: "300 millis" })
      const appId = randomAppId()
      const token = yield* makeToken()
      yield* store.set(appId, token)
      yield* untilServedFromMemory(store, count, appId, token.openid)
      proxy.freeze()
      const start = Date.now()
      const failed = yield* store.get(appId, token.openid).pipe(
        Effect.zipRight(Effect.sleep("10 millis")),
        Effect.repeat({ while: () => Date.now() - start < 10_000 }),
        Effect.flip
      )
      assert.strictEqual(failed._tag, "TokenStoreError")
      // a 1 s heartbeat whose PING gets 300 ms, then the get's own 300 ms: well under 3 s
      assert.isBelow(Date.now() - start, 3000)
    }))

  it.scopedLive("bounded: with maxEntries 2, the least recently read user is read from Redis again", () =>
    Effect.gen(function*() {
      const { count, store, writer } = yield* setup({ nearCache: { maxEntries: 2 } })
      const appId = randomAppId()
      const users = yield* Effect.forEach([1, 2, 3], () => makeToken())
      for (const user of users) yield* writer.set(appId, user)
      for (const user of users) yield* untilServedFromMemory(store, count, appId, user.openid)
      const before = count("hmget")
      yield* store.get(appId, users[2].openid)
      yield* store.get(appId, users[1].openid)
      assert.strictEqual(count("hmget"), before, "the two most recent are kept")
      yield* store.get(appId, users[0].openid)
      assert.strictEqual(count("hmget"), before + 1, "the first was dropped")
    }))

  it.scopedLive("nearCache: false reads Redis every time and opens no connection of its own", () =>
    Effect.gen(function*() {
      const { count, feedName, store, writer } = yield* setup({ nearCache: false })
      const appId = randomAppId()
      const token = yield* makeToken()
      yield* writer.set(appId, token)
      const before = count("hmget")
      for (let i = 0; i < 20; i++) yield* store.get(appId, token.openid)
      assert.strictEqual(count("hmget"), before + 20)
      assert.deepStrictEqual(yield* redisCall(() => clientLines(admin, feedName)), [])
    }))

  it.scoped("a nearCache that is not a boolean or { maxEntries } with a positive integer, or no client, is an InvalidArgument", () =>
    Effect.gen(function*() {
      const { client } = yield* countingClient()
      for (const nearCache of ["yes", 1, null, [], { maxEntries: 0 }, { maxEntries: 1.5 }, { maxEntries: "10" }]) {
        const error = yield* Effect.flip(RedisTokenStore.makeScoped(client, { nearCache: nearCache as never }))
        assert.strictEqual(error._tag, "InvalidArgument", JSON.stringify(nearCache))
        assert.match(error.argument, /^nearCache/)
      }
      for (const redis of [null, undefined, {}, "redis://127.0.0.1:6379", 42]) {
        const error = yield* Effect.flip(RedisTokenStore.makeScoped(redis as never))
        assert.strictEqual(error._tag, "InvalidArgument", String(redis))
        assert.strictEqual(error.argument, "redis")
      }
    }))

  it.scopedLive("a client with its own ioredis keyPrefix: invalidations still reach the cache", () =>
    Effect.gen(function*() {
      const { count, store, writer } = yield* setup({ clientPrefix: "wxauth-test-client:" })
      const appId = randomAppId()
      const first = yield* makeToken()
      yield* writer.set(appId, first)
      yield* untilServedFromMemory(store, count, appId, first.openid)
      const second = yield* makeToken({ openid: first.openid, obtainedAt: first.obtainedAt + 1 })
      yield* writer.set(appId, second)
      assert.isBelow(
        yield* untilSeen(store, appId, first.openid, (a) => a === Redacted.value(second.accessToken)),
        250
      )
      yield* writer.remove(appId, first.openid)
      yield* redisCall(() => admin.del(`wxauth-test-client:${RedisTokenStore.tokenKey(appId, first.openid, prefix)}`))
    }))

  it.scopedLive("the feed's connection closes with the store's scope; the caller's client stays open", () =>
    Effect.gen(function*() {
      const { client } = yield* countingClient({ connectionName: "wxauth-test-scope" })
      yield* Effect.scoped(Effect.gen(function*() {
        const store = Context.get(
          yield* Layer.build(RedisTokenStore.layerFromClient(client, { keyPrefix: prefix })),
          TokenStore.TokenStore
        )
        yield* store.get(randomAppId(), "o-nobody")
        yield* redisCall(() => clientLines(admin, "wxauth-test-scope-near-cache")).pipe(
          Effect.repeat({ until: (lines) => lines.length === 1, schedule: Schedule.spaced("10 millis") }),
          Effect.timeout("5 seconds")
        )
      }))
      yield* redisCall(() => clientLines(admin, "wxauth-test-scope-near-cache")).pipe(
        Effect.repeat({ until: (lines) => lines.length === 0, schedule: Schedule.spaced("10 millis") }),
        Effect.timeout("5 seconds")
      )
      assert.strictEqual(yield* redisCall(() => client.ping()), "PONG")
    }))

  describe("a refresh storm across two stores, one of them hearing of changes late", () => {
    const app = Sandbox.defaultApps.officialAccount
    const SandboxLive = Sandbox.layerServer({ port: 0 }).pipe(Layer.provideMerge(Sandbox.layer()))

    /** A lock that runs its work with the near cache allowed: what a lock without the bypass would do. */
    const withoutBypass = (lock: RefreshLock.RefreshLockShape): RefreshLock.RefreshLockShape => ({
      withLock: (key, effect) => lock.withLock(key, Effect.locally(effect, bypassNearCache, false))
    })

    const storm = (bypass: boolean) =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const { url } = yield* SandboxServer.SandboxServer
        const proxy = yield* feedHoldingProxy
        const stormPrefix = randomPrefix()
        yield* Effect.addFinalizer(() => Effect.promise(() => cleanup(admin, stormPrefix)))
        /** A WeChatOAuth on a store and lock of its own, over a client that counts its commands. */
        const instance = (
          redis: string,
          lockOf: (lock: RefreshLock.RefreshLockShape) => RefreshLock.RefreshLockShape
        ) =>
          Effect.gen(function*() {
            const { client, count } = yield* countingClient({ url: redis })
            const store = yield* RedisTokenStore.makeScoped(client, { keyPrefix: stormPrefix })
            const lock = lockOf(yield* RedisRefreshLock.make(client, { keyPrefix: stormPrefix }))
            const context = yield* Layer.build(WeChatOAuth.layer.pipe(Layer.provide(Layer.mergeAll(
              WeChatConfig.layer({ appId: app.appId, appSecret: app.secret, apiBaseUrl: url, openBaseUrl: url }),
              WeChatHttpClient.layer(),
              Layer.succeed(TokenStore.TokenStore, store),
              Layer.succeed(RefreshLock.RefreshLock, lock)
            ))))
            return { oauth: Context.get(context, WeChatOAuth.WeChatOAuth), store, count }
          })
        const a = yield* instance(redisUrl, (lock) => lock)
        // b reaches Redis through the proxy, whose feed connections can be slowed
        const b = yield* instance(proxy.url, bypass ? (lock) => lock : withoutBypass)

        const callback = yield* sandbox.approve({
          appId: app.appId,
          user: "alice",
          scope: "snsapi_userinfo",
          redirectUri: "https://example.com/wechat/callback"
        })
        const token = yield* a.oauth.exchangeCode(new URL(callback).searchParams.get("code")!)
        yield* sandbox.advanceClock("3 hours")
        const now = yield* Clock.currentTimeMillis
        const expired = new OAuthToken.OAuthToken({ ...token, expiresAt: now - 60_000 })
        yield* a.store.set(app.appId, expired)
        // b holds the expired token in its near cache
        yield* untilServedFromMemory(b.store, b.count, app.appId, token.openid)
        yield* sandbox.resetStats
        yield* sandbox.injectFault({ kind: "slow", endpoint: "refresh_token", delayMs: 500, times: 2 })

        // from now on b hears of changes late
        proxy.holdFeeds()
        const first = yield* Effect.fork(a.oauth.getUser(token.openid))
        // a holds the lock and waits for WeChat's slow answer when b's callers come
        yield* Effect.sleep("150 millis")
        const users = yield* Effect.all(
          [
            ...Array.from({ length: 5 }, () => b.oauth.getUser(token.openid)),
            ...Array.from({ length: 4 }, () => a.oauth.getUser(token.openid))
          ],
          { concurrency: "unbounded" }
        ).pipe(Effect.timeout("20 seconds"))
        yield* Fiber.join(first)
        proxy.releaseFeeds()
        for (const user of users) assert.strictEqual(user.openid, token.openid)
        return (yield* sandbox.stats).refresh_token
      }).pipe(Effect.scoped, Effect.provide(SandboxLive))

    it.live("RedisRefreshLock's holder reads Redis: exactly 1 refresh", () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* storm(true), 1)
      }), 60_000)

    it.live("control: a holder that reads the near cache refreshes again", () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* storm(false), 2, "without the bypass, b refreshes the token a refreshed")
      }), 60_000)
  })
})

describe("TokenCache: a read and an invalidation in every order", () => {
  const appId = "wxapp"
  const openid = "o-user"
  const key = "k"
  const token = new OAuthToken.OAuthToken({
    openid,
    accessToken: Redacted.make("AT"),
    refreshToken: Redacted.make("RT"),
    scope: [],
    isSnapshotUser: false,
    obtainedAt: 1,
    expiresAt: 2,
    refreshExpiresAt: 3
  })
  const live = () => {
    const cache = new TokenCache(10)
    cache.setLive(true)
    return cache
  }
  const readAndKeep = (cache: TokenCache, between?: () => void) => {
    const ticket = cache.begin(key)!
    between?.()
    cache.remember(key, appId, openid, "v", token, cache.end(key, ticket))
  }

  it("no invalidation: the answer is served from then on", () => {
    const cache = live()
    readAndKeep(cache)
    assert.strictEqual(cache.servable(key, appId, openid)?.token, token)
  })

  it("an invalidation while the read is in flight: the answer is not served", () => {
    const cache = live()
    readAndKeep(cache, () => cache.invalidate(key))
    assert.isUndefined(cache.servable(key, appId, openid))
    assert.strictEqual(cache.decoded(key, appId, openid, "v"), token, "but its decode is kept")
  })

  it("an invalidation after the answer is kept: no longer served", () => {
    const cache = live()
    readAndKeep(cache)
    cache.invalidate(key)
    assert.isUndefined(cache.servable(key, appId, openid))
  })

  it("the feed lost, or regained, while the read is in flight: the answer is not served", () => {
    for (const event of [(c: TokenCache) => c.setLive(false), (c: TokenCache) => c.invalidateAll()]) {
      const cache = live()
      readAndKeep(cache, () => event(cache))
      assert.isUndefined(cache.servable(key, appId, openid))
    }
    const cache = live()
    readAndKeep(cache, () => {
      cache.setLive(false)
      cache.setLive(true)
    })
    assert.isUndefined(cache.servable(key, appId, openid), "a new live period does not vouch for an older read")
  })

  it("after the feed is lost nothing is served, nor tracked; tracking starts again with the next live period", () => {
    const cache = live()
    readAndKeep(cache)
    cache.setLive(false)
    assert.isUndefined(cache.servable(key, appId, openid))
    assert.isUndefined(cache.begin(key))
    cache.setLive(true)
    assert.isUndefined(cache.servable(key, appId, openid), "entries of an earlier period stay untracked")
    readAndKeep(cache)
    assert.strictEqual(cache.servable(key, appId, openid)?.token, token)
  })

  it("two reads in flight, an invalidation between: neither is served, and the next read is", () => {
    const cache = live()
    const first = cache.begin(key)!
    const second = cache.begin(key)!
    cache.invalidate(key)
    cache.remember(key, appId, openid, "v", token, cache.end(key, first))
    cache.remember(key, appId, openid, "v", token, cache.end(key, second))
    assert.isUndefined(cache.servable(key, appId, openid))
    readAndKeep(cache)
    assert.strictEqual(cache.servable(key, appId, openid)?.token, token)
  })

  it("an entry is served only for its own appId and openid, and decoded only for its exact value", () => {
    const cache = live()
    readAndKeep(cache)
    assert.isUndefined(cache.servable(key, "wxother", openid))
    assert.isUndefined(cache.servable(key, appId, "o-other"))
    assert.isUndefined(cache.decoded(key, appId, openid, "v "))
    assert.isUndefined(cache.decoded(key, appId, "o-other", "v"))
  })

  it("a key with a lone surrogate is never tracked (Redis would name it otherwise)", () => {
    const cache = live()
    assert.isUndefined(cache.begin("k\uD800"))
    assert.isDefined(cache.begin("k\uD83D\uDE00"))
  })

  it("bounded: the least recently used entry goes first", () => {
    const cache = new TokenCache(2)
    for (const k of ["a", "b"]) cache.remember(k, appId, openid, "v", token, false)
    cache.decoded("a", appId, openid, "v")
    cache.entries.get("a")
    cache.remember("c", appId, openid, "v", token, false)
    assert.isDefined(cache.entries.peek("a"))
    assert.isUndefined(cache.entries.peek("b"))
    assert.strictEqual(cache.entries.size, 2)
  })

  it.effect("the bypass flag is off by default, on under RedisTokenStore.bypassNearCache", () =>
    Effect.gen(function*() {
      const read = Effect.withFiberRuntime((fiber) => Effect.succeed(fiber.getFiberRef(bypassNearCache)))
      assert.isFalse(yield* read)
      assert.isTrue(yield* RedisTokenStore.bypassNearCache(read))
    }))
})
