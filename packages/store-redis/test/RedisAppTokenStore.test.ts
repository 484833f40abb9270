/**
 * RedisAppTokenStore against a real Redis: core's AppTokenStore contract suite (clear and
 * encrypted), the key layout and TTL, newest-wins across connections, garbage under our key, and a
 * Redis that is down or never answers.
 */
import { afterAll, assert, it } from "@effect/vitest"
import { AppTokenStore, TokenCipher, TokenStore, WeChatError } from "@wxauth/core"
import { appTokenStoreSuite, makeAppToken, randomAppId } from "@wxauth/core/testing"
import { RedisAppTokenStore, RedisRefreshLock } from "@wxauth/store-redis"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Util from "node:util"
import {
  blackhole,
  cleanup,
  describeRedis,
  keysUnder,
  layerFailure,
  makeAdmin,
  quietClient,
  randomPrefix,
  redisCall,
  redisUrl,
  refusedUrl,
  serviceOf
} from "./utils.js"

const hour = 60 * 60 * 1000

describeRedis("RedisAppTokenStore", () => {
  const prefix = randomPrefix()
  const cipherPrefix = randomPrefix()
  const admin = makeAdmin()
  const testPrefixes: Array<string> = []
  afterAll(async () => {
    for (const p of [prefix, cipherPrefix, ...testPrefixes]) await cleanup(admin, p)
    await admin.quit()
  })

  const cipherLayer = TokenCipher.layer({ keys: [{ id: "k1", key: TokenCipher.generateKey() }] })

  appTokenStoreSuite("redis", () => {
    const testPrefix = randomPrefix()
    testPrefixes.push(testPrefix)
    return RedisAppTokenStore.layer({ url: redisUrl, keyPrefix: testPrefix })
  })
  appTokenStoreSuite(
    "redis + TokenCipher",
    RedisAppTokenStore.layer({ url: redisUrl, keyPrefix: cipherPrefix }).pipe(Layer.provide(cipherLayer))
  )

  const openStore = (options?: RedisAppTokenStore.Options) =>
    serviceOf(AppTokenStore.AppTokenStore, RedisAppTokenStore.layer({ url: redisUrl, keyPrefix: prefix, ...options }))

  it.scoped("a token is one hash under the app's hash tag, the lock's, expiring with the token", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      const appId = randomAppId()
      const now = yield* Clock.currentTimeMillis
      const token = yield* makeAppToken({ expiresAt: now + hour })
      yield* store.set(appId, token)
      const key = `${prefix}{app-token:${appId}}:token`
      assert.strictEqual(RedisAppTokenStore.appTokenKey(appId, prefix), key)
      // core's AppToken locks `app-token:<appId>`: the same hash tag
      assert.strictEqual(RedisRefreshLock.lockKey(`app-token:${appId}`, prefix), `${prefix}{app-token:${appId}}:lock`)
      const raw = yield* redisCall(() => admin.hgetall(key))
      assert.deepStrictEqual(Object.keys(raw).sort(), ["o", "v"])
      assert.strictEqual(raw.o, String(token.obtainedAt))
      const ttl = yield* redisCall(() => admin.pttl(key))
      assert.isTrue(ttl > hour - 60_000 && ttl <= hour, `PTTL ${ttl} should be about an hour`)
      // clear at rest without a cipher
      assert.include(raw.v, Redacted.value(token.accessToken))
      assert.deepStrictEqual(yield* redisCall(() => keysUnder(admin, `${prefix}{app-token:${appId}}`)), [key])
    }))

  it.scoped("a newer token that has already expired deletes the key; an older one changes nothing", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      const appId = randomAppId()
      const now = yield* Clock.currentTimeMillis
      const current = yield* makeAppToken({ obtainedAt: now - 1000, expiresAt: now + hour })
      yield* store.set(appId, current)
      yield* store.set(appId, yield* makeAppToken({ obtainedAt: now - 5000, expiresAt: now - 1 }))
      assert.isTrue(Option.isSome(yield* store.get(appId)))
      yield* store.set(appId, yield* makeAppToken({ obtainedAt: now, expiresAt: now - 1 }))
      assert.isTrue(Option.isNone(yield* store.get(appId)))
      assert.strictEqual(yield* redisCall(() => admin.exists(RedisAppTokenStore.appTokenKey(appId, prefix))), 0)
    }))

  it.scopedLive("newest wins across two connections, whatever the order of arrival", () =>
    Effect.gen(function*() {
      const stores = [yield* openStore(), yield* openStore()]
      const appId = randomAppId()
      const base = yield* makeAppToken()
      const tokens = yield* Effect.forEach(
        Array.from({ length: 60 }, (_, i) => i),
        (i) => makeAppToken({ obtainedAt: base.obtainedAt + i * 10 })
      )
      const newest = tokens[tokens.length - 1]
      yield* Effect.forEach(yield* Random.shuffle(tokens), (token, i) => stores[i % 2].set(appId, token), {
        concurrency: "unbounded",
        discard: true
      })
      for (const store of stores) {
        const found = Option.getOrThrow(yield* store.get(appId))
        assert.strictEqual(Redacted.value(found.accessToken), Redacted.value(newest.accessToken))
      }
    }))

  it.scoped("with a TokenCipher the stored token is sealed to its app, and opens only with the key", () =>
    Effect.gen(function*() {
      const sealing = yield* Effect.map(
        Layer.build(RedisAppTokenStore.layer({ url: redisUrl, keyPrefix: prefix }).pipe(Layer.provide(cipherLayer))),
        Context.get(AppTokenStore.AppTokenStore)
      )
      const plain = yield* openStore()
      const [appId, otherApp] = [randomAppId(), randomAppId()]
      const token = yield* makeAppToken()
      yield* sealing.set(appId, token)
      const raw = yield* redisCall(() => admin.hget(RedisAppTokenStore.appTokenKey(appId, prefix), "v"))
      assert.isTrue(raw!.startsWith("wxenc1:k1:"))
      assert.notInclude(raw!, Redacted.value(token.accessToken))
      assert.strictEqual(
        Redacted.value(Option.getOrThrow(yield* sealing.get(appId)).accessToken),
        Redacted.value(token.accessToken)
      )
      assert.strictEqual((yield* Effect.flip(plain.get(appId)))._tag, "TokenStoreError")
      // the sealed value copied under another app's key does not open there
      yield* redisCall(() => admin.hset(RedisAppTokenStore.appTokenKey(otherApp, prefix), { o: "1", v: raw! }))
      assert.strictEqual((yield* Effect.flip(sealing.get(otherApp)))._tag, "TokenStoreError")
    }))

  it.scoped("garbage under our key is a TokenStoreError quoting nothing, and a new token replaces it", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      const appId = randomAppId()
      const key = RedisAppTokenStore.appTokenKey(appId, prefix)
      const expectFailure = Effect.gen(function*() {
        const error = yield* Effect.flip(store.get(appId))
        assert.instanceOf(error, WeChatError.TokenStoreError)
        assert.strictEqual(error.operation, "get")
        assert.notInclude(JSON.stringify(error) + error.message + Util.inspect(error, { depth: 10 }), "s3cr3t")
        return error
      })
      yield* redisCall(() => admin.set(key, "s3cr3t garbage"))
      assert.include((yield* expectFailure).description, "WRONGTYPE")
      yield* redisCall(() => admin.del(key).then(() => admin.hset(key, { o: "1", v: "s3cr3t not json" })))
      assert.include((yield* expectFailure).description, "does not decode")
      yield* redisCall(() => admin.del(key).then(() => admin.hset(key, { o: "1" })))
      assert.include((yield* expectFailure).description, "no value")
      // longer than any token: not fetched
      yield* redisCall(() => admin.hset(key, { o: "1", v: `s3cr3t${"x".repeat(TokenStore.maxStoredValueBytes)}` }))
      assert.include((yield* expectFailure).description, "longer than any token")
      // a stamp no write could follow (the write after it would be stamped 2^53)
      const planted = JSON.stringify({ accessToken: "s3cr3t", obtainedAt: 1, expiresAt: Date.now() + hour })
      yield* redisCall(() =>
        admin.hset(key, { o: "1", v: planted.replace("\"obtainedAt\":1", "\"obtainedAt\":1e400") })
      )
      assert.include((yield* expectFailure).description, "out of range")

      const token = yield* makeAppToken()
      yield* redisCall(() => admin.set(key, "garbage"))
      yield* store.set(appId, token)
      const found = Option.getOrThrow(yield* store.get(appId))
      assert.strictEqual(Redacted.value(found.accessToken), Redacted.value(token.accessToken))
    }))

  it.scoped("times that are not finite are refused before Redis sees them", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      const appId = randomAppId()
      for (const overrides of [{ obtainedAt: Number.NaN }, { expiresAt: Number.POSITIVE_INFINITY }]) {
        const error = yield* Effect.flip(store.set(appId, yield* makeAppToken(overrides)))
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.include(error.description, "not a finite time")
      }
      assert.strictEqual(yield* redisCall(() => admin.exists(RedisAppTokenStore.appTokenKey(appId, prefix))), 0)
    }))

  it.live("a Redis that is down fails the layer with a TokenStoreError within the timeout", () =>
    Effect.gen(function*() {
      const error = yield* layerFailure(RedisAppTokenStore.layer({ url: refusedUrl }))
      assert.instanceOf(error, WeChatError.TokenStoreError)
      assert.strictEqual(error.operation, "connect")
    }))

  it.scopedLive("on a caller's client to a Redis that never answers, get and set fail in bounded time", () =>
    Effect.gen(function*() {
      const { url } = yield* blackhole
      const client = yield* quietClient(url)
      const store = yield* RedisAppTokenStore.make(client, { commandTimeout: "300 millis" })
      const appId = randomAppId()
      const token = yield* makeAppToken()
      const errors = yield* Effect.all([Effect.flip(store.get(appId)), Effect.flip(store.set(appId, token))], {
        concurrency: "unbounded"
      }).pipe(Effect.timeout("20 seconds"))
      for (const error of errors) {
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.include(error.description, "did not answer")
        assert.notInclude(Util.inspect(error, { depth: 10 }), Redacted.value(token.accessToken))
      }
    }))
})
