/**
 * RedisSessionKeyStore against a real Redis: core's SessionKeyStore contract suite (default ttl,
 * a short ttl, encrypted), the key layout and TTL, garbage under our keys, a bad ttl, and a Redis
 * that is down or never answers.
 */
import { afterAll, assert, it } from "@effect/vitest"
import { SessionKeyStore, TokenCipher } from "@wxauth/core"
import { randomAppId, randomOpenId, randomSessionKey, sessionKeyStoreSuite } from "@wxauth/core/testing"
import { RedisSessionKeyStore, RedisTokenStore } from "@wxauth/store-redis"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Util from "node:util"
import {
  blackhole,
  cleanup,
  describeRedis,
  layerFailure,
  makeAdmin,
  quietClient,
  randomPrefix,
  redisCall,
  redisUrl,
  refusedUrl,
  serviceOf
} from "./utils.js"

const day = 24 * 60 * 60 * 1000

describeRedis("RedisSessionKeyStore", () => {
  const prefix = randomPrefix()
  const admin = makeAdmin()
  const testPrefixes: Array<string> = [prefix]
  const fresh = () => {
    const testPrefix = randomPrefix()
    testPrefixes.push(testPrefix)
    return testPrefix
  }
  afterAll(async () => {
    for (const p of testPrefixes) await cleanup(admin, p)
    await admin.quit()
  })

  const cipherLayer = TokenCipher.layer({ keys: [{ id: "k1", key: TokenCipher.generateKey() }] })

  sessionKeyStoreSuite("redis", () => RedisSessionKeyStore.layer({ url: redisUrl, keyPrefix: fresh() }))
  sessionKeyStoreSuite(
    "redis, ttl 1 hour",
    () => RedisSessionKeyStore.layer({ url: redisUrl, keyPrefix: fresh(), ttl: "1 hour" }),
    { ttl: "1 hour" }
  )
  sessionKeyStoreSuite(
    "redis + TokenCipher",
    RedisSessionKeyStore.layer({ url: redisUrl, keyPrefix: fresh() }).pipe(Layer.provide(cipherLayer))
  )

  const openStore = (options?: RedisSessionKeyStore.Options) =>
    serviceOf(
      SessionKeyStore.SessionKeyStore,
      RedisSessionKeyStore.layer({ url: redisUrl, keyPrefix: prefix, ...options })
    )

  it.scoped("a key is one hash under the user's hash tag, kept for the ttl", () =>
    Effect.gen(function*() {
      const store = yield* openStore({ ttl: "7 days" })
      const [appId, openid, sessionKey] = [randomAppId(), randomOpenId(), randomSessionKey()]
      yield* store.set(appId, openid, sessionKey)
      const key = `${prefix}{${appId}:${openid}}:session-key`
      assert.strictEqual(RedisSessionKeyStore.sessionKeyKey(appId, openid, prefix), key)
      // the same hash tag as the user's token
      assert.strictEqual(
        RedisTokenStore.tokenKey(appId, openid, prefix).replace(/:token$/, ""),
        key.replace(/:session-key$/, "")
      )
      const raw = yield* redisCall(() => admin.hgetall(key))
      assert.deepStrictEqual(Object.keys(raw).sort(), ["e", "v"])
      assert.strictEqual(Number(raw.e), (yield* Clock.currentTimeMillis) + 7 * day)
      assert.strictEqual(raw.v, Redacted.value(sessionKey))
      const ttl = yield* redisCall(() => admin.pttl(key))
      assert.isTrue(ttl > 7 * day - 60_000 && ttl <= 7 * day, `PTTL ${ttl} should be about 7 days`)
      // ids with separators are encoded
      assert.strictEqual(RedisSessionKeyStore.sessionKeyKey("a}:{b", "c:d", "p:"), "p:{a%7D%3A%7Bb:c%3Ad}:session-key")
      yield* store.remove(appId, openid)
      assert.strictEqual(yield* redisCall(() => admin.exists(key)), 0)
    }))

  it.scoped("with a TokenCipher the key is sealed to its user: copied under another user's key, it does not open", () =>
    Effect.gen(function*() {
      const sealing = yield* Effect.map(
        Layer.build(RedisSessionKeyStore.layer({ url: redisUrl, keyPrefix: prefix }).pipe(Layer.provide(cipherLayer))),
        Context.get(SessionKeyStore.SessionKeyStore)
      )
      const [appId, openid, other, sessionKey] = [randomAppId(), randomOpenId(), randomOpenId(), randomSessionKey()]
      yield* sealing.set(appId, openid, sessionKey)
      const raw = yield* redisCall(() => admin.hgetall(RedisSessionKeyStore.sessionKeyKey(appId, openid, prefix)))
      assert.isTrue(raw.v.startsWith("wxenc1:k1:"))
      assert.notInclude(raw.v, Redacted.value(sessionKey))
      yield* redisCall(() => admin.hset(RedisSessionKeyStore.sessionKeyKey(appId, other, prefix), raw))
      const error = yield* Effect.flip(sealing.get(appId, other))
      assert.strictEqual(error._tag, "TokenStoreError")
      assert.notInclude(Util.inspect(error, { depth: 10 }), Redacted.value(sessionKey))
    }))

  it.scoped("garbage under our key is a TokenStoreError quoting nothing, and a set replaces it", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      const [appId, openid] = [randomAppId(), randomOpenId()]
      const key = RedisSessionKeyStore.sessionKeyKey(appId, openid, prefix)
      const expectFailure = Effect.gen(function*() {
        const error = yield* Effect.flip(store.get(appId, openid))
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.notInclude(JSON.stringify(error) + error.message + Util.inspect(error, { depth: 10 }), "s3cr3t")
        return error
      })
      yield* redisCall(() => admin.set(key, "s3cr3t"))
      assert.include((yield* expectFailure).description, "WRONGTYPE")
      yield* redisCall(() => admin.del(key).then(() => admin.hset(key, { v: "s3cr3t" })))
      assert.include((yield* expectFailure).description, "corrupted")
      yield* redisCall(() => admin.del(key).then(() => admin.hset(key, { e: "soon", v: "s3cr3t" })))
      assert.include((yield* expectFailure).description, "corrupted")
      yield* redisCall(() => admin.del(key).then(() => admin.hset(key, { e: String(Date.now() + day) })))
      assert.include((yield* expectFailure).description, "corrupted")

      const sessionKey = randomSessionKey()
      yield* store.set(appId, openid, sessionKey)
      assert.strictEqual(Redacted.value(Option.getOrThrow(yield* store.get(appId, openid))), Redacted.value(sessionKey))
    }))

  it.scopedLive("a value longer than any session key is a TokenStoreError without being fetched; a set replaces it", () =>
    Effect.gen(function*() {
      const client = yield* quietClient(redisUrl, { maxRetriesPerRequest: 1 })
      const store = yield* RedisSessionKeyStore.make(client, { keyPrefix: prefix })
      const [appId, openid, other] = [randomAppId(), randomOpenId(), randomOpenId()]
      const otherKey = randomSessionKey()
      yield* store.set(appId, other, otherKey)
      const key = RedisSessionKeyStore.sessionKeyKey(appId, openid, prefix)
      const plant = (v: string) =>
        redisCall(() => admin.hset(key, { e: String(Date.now() + day), v }).then(() => admin.pexpire(key, day)))
      // 20 MB under the user's key, behind a secret
      yield* plant(`s3cr3t${"x".repeat(20 * 1024 * 1024)}`)
      const socket = (client as unknown as { readonly stream: { readonly bytesRead: number } }).stream
      const before = socket.bytesRead
      const errors = yield* Effect.forEach(
        Array.from({ length: 20 }),
        () => Effect.flip(store.get(appId, openid)),
        { concurrency: "unbounded" }
      )
      for (const error of errors) {
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.strictEqual(error.operation, "get")
        assert.include(error.description, "longer than any session key")
        assert.notInclude(JSON.stringify(error) + error.message + Util.inspect(error, { depth: 10 }), "s3cr3t")
      }
      assert.isBelow(socket.bytesRead - before, 64 * 1024, "20 reads fetched none of the value")
      assert.strictEqual(Redacted.value(Option.getOrThrow(yield* store.get(appId, other))), Redacted.value(otherKey))
      // one byte over the bound is not fetched; at the bound (1,024 characters of 3 bytes) it is, and does not decode
      yield* plant("x".repeat(SessionKeyStore.maxStoredValueBytes + 1))
      assert.include((yield* Effect.flip(store.get(appId, openid))).description, "longer than any session key")
      yield* plant("\u20ac".repeat(1024))
      assert.include((yield* Effect.flip(store.get(appId, openid))).description, "does not decode")
      const sessionKey = randomSessionKey()
      yield* store.set(appId, openid, sessionKey)
      assert.strictEqual(Redacted.value(Option.getOrThrow(yield* store.get(appId, openid))), Redacted.value(sessionKey))
    }))

  it.scoped("a ttl that is not a positive finite duration fails the layer with an InvalidArgument", () =>
    Effect.gen(function*() {
      for (const ttl of [0, -5, "forever", Infinity, "bananas"]) {
        const error = yield* Effect.flip(openStore({ ttl: ttl as never }))
        assert.strictEqual(error._tag, "InvalidArgument")
      }
    }))

  it.live("a Redis that is down fails the layer with a TokenStoreError within the timeout", () =>
    Effect.gen(function*() {
      const error = yield* layerFailure(RedisSessionKeyStore.layer({ url: refusedUrl }))
      assert.strictEqual(error._tag, "TokenStoreError")
    }))

  it.scopedLive("on a caller's client to a Redis that never answers, every operation fails in bounded time", () =>
    Effect.gen(function*() {
      const { url } = yield* blackhole
      const client = yield* quietClient(url)
      const store = yield* RedisSessionKeyStore.make(client, { commandTimeout: "300 millis" })
      const [appId, openid, sessionKey] = [randomAppId(), randomOpenId(), randomSessionKey()]
      const errors = yield* Effect.all([
        Effect.flip(store.get(appId, openid)),
        Effect.flip(store.set(appId, openid, sessionKey)),
        Effect.flip(store.remove(appId, openid))
      ], { concurrency: "unbounded" }).pipe(Effect.timeout("20 seconds"))
      assert.deepStrictEqual(errors.map((error) => error.operation), ["get", "set", "remove"])
      for (const error of errors) {
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.notInclude(Util.inspect(error, { depth: 10 }), Redacted.value(sessionKey))
      }
    }))
})
