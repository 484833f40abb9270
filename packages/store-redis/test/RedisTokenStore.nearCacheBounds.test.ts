/**
 * What bounds the near cache where Redis sends no invalidation, and what it keeps:
 *
 * - `maxAge`: a token is served from memory for at most `maxAge` (default 30 s, by the store's
 *   `Clock`, here `TestClock`) after it was read; a `SWAPDB` (no invalidation at all) is seen then.
 * - both connections on one server: a feed connection that reconnects alone to another server (a DNS
 *   name or virtual address that moved) keeps the cache off until both reach the same one again.
 * - bytes: a stored value longer than 8,192 characters is never kept; a WeChat-sized token, sealed,
 *   still is.
 *
 * `SWAPDB` and the moved address run on `redis-server`s of the tests' own, never on the shared one.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { OAuthToken, TokenCipher } from "@wxauth/core"
import { makeToken, randomAppId } from "@wxauth/core/testing"
import { RedisTokenStore } from "@wxauth/store-redis"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { Redis } from "ioredis"
import * as Crypto from "node:crypto"
import { maxValueLength, TokenCache } from "../src/internal/tokenCache.js"
import { missing, movableProxy, redisServer } from "./servers.js"
import {
  cleanup,
  clientLines,
  countingClient,
  describeRedis,
  makeAdmin,
  randomPrefix,
  redisCall,
  untilServedFromMemory
} from "./utils.js"

const accessOf = (found: Option.Option<OAuthToken.OAuthToken>): string =>
  Option.match(found, { onNone: () => "none", onSome: (token) => Redacted.value(token.accessToken) })

/** Real time, whatever clock is in context (the feed's connections are real). */
const pause = (millis: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/** A client of the test's own, disconnected with the scope. */
const plainClient = (url: string, db = 0) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const client = new Redis(url, { db, maxRetriesPerRequest: 1 })
      client.on("error", () => {})
      return client
    }),
    (client) => Effect.sync(() => client.disconnect())
  )

/** A logger that keeps every line, as a layer to provide. */
const capturingLogger = () => {
  const lines: Array<string> = []
  const layer = Logger.replace(Logger.defaultLogger, Logger.map(Logger.logfmtLogger, (line) => lines.push(line)))
  return { lines, layer }
}

describeRedis("RedisTokenStore near cache: maxAge, one server, bytes", () => {
  const prefix = randomPrefix()
  const admin = makeAdmin()
  afterAll(async () => {
    await cleanup(admin, prefix)
    await admin.quit()
  })

  it.scoped("maxAge: an unchanged token is served from memory until maxAge, then read again (TestClock)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.now())
      const { client, count } = yield* countingClient()
      const store = yield* RedisTokenStore.makeScoped(client, { keyPrefix: prefix, nearCache: { maxAge: "5 seconds" } })
      const appId = randomAppId()
      const token = yield* makeToken()
      yield* store.set(appId, token)
      yield* untilServedFromMemory(store, count, appId, token.openid)

      const before = count("hmget")
      yield* TestClock.adjust("4999 millis")
      assert.strictEqual(accessOf(yield* store.get(appId, token.openid)), Redacted.value(token.accessToken))
      assert.strictEqual(count("hmget"), before, "younger than maxAge: from memory")
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(accessOf(yield* store.get(appId, token.openid)), Redacted.value(token.accessToken))
      assert.strictEqual(count("hmget"), before + 1, "maxAge old: read from Redis again")
      assert.strictEqual(accessOf(yield* store.get(appId, token.openid)), Redacted.value(token.accessToken))
      assert.strictEqual(count("hmget"), before + 1, "and kept again")
    }))

  it.scoped("a nearCache.maxAge that is not a positive finite duration is an InvalidArgument", () =>
    Effect.gen(function*() {
      const { client } = yield* countingClient()
      for (const maxAge of [0, -1, "banana", Infinity, Number.NaN, {}, "0 millis"]) {
        const error = yield* Effect.flip(RedisTokenStore.makeScoped(client, { nearCache: { maxAge: maxAge as never } }))
        assert.strictEqual(error._tag, "InvalidArgument", String(maxAge))
        assert.strictEqual(error.argument, "nearCache.maxAge")
      }
    }))

  it.scopedLive("a stored value over 8,192 characters is not kept: read from Redis each time; a WeChat-sized sealed token is", () =>
    Effect.gen(function*() {
      const cipher = TokenCipher.layer({ keys: [{ id: "k1", key: TokenCipher.generateKey() }] })
      const { client, count } = yield* countingClient()
      const store = yield* RedisTokenStore.makeScoped(client, { keyPrefix: prefix }).pipe(Effect.provide(cipher))
      const appId = randomAppId()
      // WeChat's largest: access and refresh tokens of 1,024 characters, an openid of 128, a unionid
      const wechatSized = yield* makeToken({
        openid: `o${"x".repeat(127)}`,
        accessToken: Redacted.make("A".repeat(1024)),
        refreshToken: Redacted.make("R".repeat(1024)),
        unionid: `u${"y".repeat(127)}`
      })
      yield* store.set(appId, wechatSized)
      const sealed = yield* redisCall(() =>
        admin.hget(RedisTokenStore.tokenKey(appId, wechatSized.openid, prefix), "v")
      )
      assert.isBelow(sealed!.length, 8_192 / 2, "a sealed WeChat-sized value is well under the limit")
      yield* untilServedFromMemory(store, count, appId, wechatSized.openid)

      // a value no WeChat answer makes, up to what the codec decodes (65,536 characters)
      const huge = yield* makeToken({ accessToken: Redacted.make("H".repeat(20_000)) })
      yield* store.set(appId, huge)
      const before = count("hmget")
      for (let i = 0; i < 20; i++) {
        assert.strictEqual(accessOf(yield* store.get(appId, huge.openid)), Redacted.value(huge.accessToken))
        yield* pause(5)
      }
      assert.strictEqual(count("hmget"), before + 20, "every get of it asks Redis")
    }))

  describe.skipIf(missing !== undefined)("on redis-servers of the test's own", () => {
    it.scoped(
      "SWAPDB sends no invalidation: the swapped-in tokens are served by maxAge (default 30 s, TestClock)",
      () =>
        Effect.gen(function*() {
          yield* TestClock.setTime(Date.now())
          const server = yield* redisServer
          const appId = randomAppId()
          const kept = yield* makeToken()
          const removed = yield* makeToken()
          const db0 = yield* RedisTokenStore.make(yield* plainClient(server.url, 0), { keyPrefix: prefix })
          const db1 = yield* RedisTokenStore.make(yield* plainClient(server.url, 1), { keyPrefix: prefix })
          yield* db0.set(appId, kept)
          yield* db0.set(appId, removed)
          // the dataset swapped in: `kept` has a newer token, `removed` is gone
          const newer = yield* makeToken({ openid: kept.openid, obtainedAt: kept.obtainedAt + 1000 })
          yield* db1.set(appId, newer)

          const { client, count } = yield* countingClient({ url: server.url })
          const store = yield* RedisTokenStore.makeScoped(client, { keyPrefix: prefix })
          yield* untilServedFromMemory(store, count, appId, kept.openid)
          yield* untilServedFromMemory(store, count, appId, removed.openid)
          const swapper = yield* plainClient(server.url)
          yield* redisCall(() => swapper.swapdb(0, 1))

          // Redis says nothing: within maxAge the old tokens are still answered from memory
          yield* pause(300)
          yield* TestClock.adjust("29 seconds")
          assert.strictEqual(accessOf(yield* store.get(appId, kept.openid)), Redacted.value(kept.accessToken))
          assert.strictEqual(accessOf(yield* store.get(appId, removed.openid)), Redacted.value(removed.accessToken))
          // and no longer once maxAge is over
          yield* TestClock.adjust("1 second")
          assert.strictEqual(accessOf(yield* store.get(appId, kept.openid)), Redacted.value(newer.accessToken))
          assert.strictEqual(accessOf(yield* store.get(appId, removed.openid)), "none", "the removed user has no token")
        }),
      30_000
    )

    it.scopedLive(
      "a user whose ACL refuses INFO: the near cache is off, with a warning; the store works",
      () =>
        Effect.gen(function*() {
          const server = yield* redisServer
          const setup = yield* plainClient(server.url)
          yield* redisCall(() => setup.call("ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all", "-info"))
          const url = `redis://app:pw@127.0.0.1:${server.port}`
          const { client, count } = yield* countingClient({ url })
          const captured = capturingLogger()
          const store = yield* RedisTokenStore.makeScoped(client, { keyPrefix: prefix }).pipe(
            Effect.provide(captured.layer)
          )
          const appId = randomAppId()
          const token = yield* makeToken()
          yield* store.set(appId, token)
          for (let i = 0; i < 100 && !captured.lines.some((line) => line.includes("near cache is off")); i++) {
            yield* pause(20)
          }
          assert.isTrue(captured.lines.some((line) => line.includes("near cache is off")), "a warning")
          const before = count("hmget")
          for (let i = 0; i < 5; i++) {
            assert.strictEqual(accessOf(yield* store.get(appId, token.openid)), Redacted.value(token.accessToken))
          }
          assert.strictEqual(count("hmget"), before + 5, "every get asks Redis")
        }),
      30_000
    )

    it.scopedLive(
      "the feed reconnecting alone to another server keeps the cache off until both reach one server",
      () =>
        Effect.gen(function*() {
          const a = yield* redisServer
          const b = yield* redisServer
          const proxy = yield* movableProxy(a.port)
          const adminA = yield* plainClient(a.url)
          const adminB = yield* plainClient(b.url)
          const writerA = yield* RedisTokenStore.make(adminA, { keyPrefix: prefix })
          const appId = randomAppId()
          const first = yield* makeToken()
          yield* writerA.set(appId, first)

          const name = `wxauth-test-moved-${Crypto.randomBytes(4).toString("hex")}`
          const { client, count } = yield* countingClient({ url: proxy.url, connectionName: name })
          const captured = capturingLogger()
          const store = yield* RedisTokenStore.makeScoped(client, { keyPrefix: prefix }).pipe(
            Effect.provide(captured.layer)
          )
          yield* untilServedFromMemory(store, count, appId, first.openid)

          // the address now leads to B; the feed's connection drops and reconnects there, the data
          // connection stays on A
          proxy.moveTo(b.port)
          const [feedOnA] = yield* redisCall(() => clientLines(adminA, `${name}-near-cache`))
          yield* redisCall(() => adminA.client("KILL", "ID", /(?:^|\s)id=(\d+)/.exec(feedOnA)![1]))
          for (
            let i = 0;
            i < 200 && (yield* redisCall(() => clientLines(adminB, `${name}-near-cache`))).length === 0;
            i++
          ) {
            yield* pause(25)
          }
          assert.lengthOf(yield* redisCall(() => clientLines(adminB, `${name}-near-cache`)), 1, "the feed is on B")
          assert.lengthOf(yield* redisCall(() => clientLines(adminA, name)), 1, "the data connection still on A")
          yield* pause(500)

          // every get asks A, where the store reads: another process's writes there are seen
          const before = count("hmget")
          for (let i = 0; i < 10; i++) {
            assert.strictEqual(accessOf(yield* store.get(appId, first.openid)), Redacted.value(first.accessToken))
            yield* pause(20)
          }
          assert.strictEqual(count("hmget"), before + 10, "the cache is off: every get asks Redis")
          const second = yield* makeToken({ openid: first.openid, obtainedAt: first.obtainedAt + 1000 })
          yield* writerA.set(appId, second)
          assert.strictEqual(accessOf(yield* store.get(appId, first.openid)), Redacted.value(second.accessToken))
          yield* writerA.remove(appId, first.openid)
          assert.strictEqual(accessOf(yield* store.get(appId, first.openid)), "none", "a removed user has no token")
          assert.isAtLeast(
            captured.lines.filter((line) => line.includes("reached another Redis server")).length,
            1,
            "a warning says why"
          )

          // once the data connection reconnects (to B too), the cache is back, and it hears B's writes
          const writerB = yield* RedisTokenStore.make(adminB, { keyPrefix: prefix })
          yield* writerB.set(appId, first)
          const [dataOnA] = yield* redisCall(() => clientLines(adminA, name))
          yield* redisCall(() => adminA.client("KILL", "ID", /(?:^|\s)id=(\d+)/.exec(dataOnA)![1]))
          yield* untilServedFromMemory(store, count, appId, first.openid)
          yield* writerB.set(appId, second)
          for (
            let i = 0;
            i < 100 && accessOf(yield* store.get(appId, first.openid)) !== Redacted.value(second.accessToken);
            i++
          ) {
            yield* pause(5)
          }
          assert.strictEqual(accessOf(yield* store.get(appId, first.openid)), Redacted.value(second.accessToken))
        }),
      30_000
    )
  })
})

describe("TokenCache: age and size", () => {
  const appId = "wxapp"
  const openid = "o-user"
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
  let now = 1_000
  const clock = { unsafeCurrentTimeMillis: () => now } as never
  const keep = (cache: TokenCache, key: string, value: string) => {
    const ticket = cache.begin(key)!
    cache.remember(key, appId, openid, value, token, cache.end(key, ticket))
  }

  it("served while younger than maxAge; not at maxAge, nor when the clock went back", () => {
    const cache = new TokenCache(10, { maxAgeMillis: 100, clock })
    cache.setLive(true)
    now = 1_000
    keep(cache, "k", "v")
    now = 1_099
    assert.strictEqual(cache.servable("k", appId, openid)?.token, token)
    now = 1_100
    assert.isUndefined(cache.servable("k", appId, openid))
    now = 1_050
    assert.isUndefined(cache.servable("k", appId, openid), "once too old, untracked until read again")
    assert.strictEqual(cache.decoded("k", appId, openid, "v"), token, "its decode is kept")
    keep(cache, "k", "v")
    now = 1_000
    assert.isUndefined(cache.servable("k", appId, openid), "a clock that went back ends it")
  })

  it("a value over maxValueLength is not kept, and drops the key's earlier entry", () => {
    const cache = new TokenCache(10, { maxAgeMillis: 100, clock })
    cache.setLive(true)
    keep(cache, "k", "v".repeat(maxValueLength))
    assert.isDefined(cache.servable("k", appId, openid), "at the limit: kept")
    keep(cache, "k", "v".repeat(maxValueLength + 1))
    assert.isUndefined(cache.servable("k", appId, openid))
    assert.isUndefined(cache.entries.peek("k"))
  })
})
