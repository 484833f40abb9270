/**
 * An app token on Redis that the store cannot read: core's AppTokenStore contract suite with values
 * planted straight into Redis (`get` is `Unreadable`, `remove` clears them whatever their stamp, an
 * AppToken over the store replaces them), and AppToken against the sandbox on real Redis with the
 * Redis lock: a value sealed with a key no longer configured, garbage, a key of another type, a
 * stamp no write can follow, each replaced by one fresh token for every caller of two processes.
 * A Redis that stops answering makes AppToken fail typed, and replaces nothing.
 */
import { afterAll, assert, it } from "@effect/vitest"
import { AppToken, AppTokenStore, RefreshLock, TokenCipher, WeChatConfig } from "@wxauth/core"
import { appTokenStoreSuite, makeAppToken, type PlantedAppToken } from "@wxauth/core/testing"
import { Sandbox } from "@wxauth/sandbox"
import { RedisAppTokenStore, RedisRefreshLock } from "@wxauth/store-redis"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { Redis } from "ioredis"
import {
  cleanup,
  describeRedis,
  freezableProxy,
  makeAdmin,
  quietClient,
  randomPrefix,
  redisCall,
  redisUrl,
  serviceOf
} from "./utils.js"

const hour = 3_600_000
const day = 24 * hour
const plantedSecret = "AT_PLANTED_SECRET_0123456789"
const mini = Sandbox.defaultApps.miniProgram

/** Writes `planted` under the app's key as another writer would: the hash `{ o, v }`, expiring by the Clock. */
const plantUnder = (admin: Redis, prefix: () => string) => (planted: PlantedAppToken) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    redisCall(async () => {
      const key = RedisAppTokenStore.appTokenKey(planted.appId, prefix())
      await admin.del(key)
      await admin.hset(key, { o: String(planted.obtainedAt), v: planted.value })
      await admin.pexpire(key, Math.max(1, planted.expiresAt - now))
    }))

describeRedis("RedisAppTokenStore: values it cannot read", () => {
  const admin = makeAdmin()
  const prefixes: Array<string> = []
  const fresh = () => {
    const prefix = randomPrefix()
    prefixes.push(prefix)
    return prefix
  }
  afterAll(async () => {
    for (const prefix of prefixes) await cleanup(admin, prefix)
    await admin.quit()
  })

  let current = fresh()
  appTokenStoreSuite("redis, values planted", () => {
    current = fresh()
    return RedisAppTokenStore.layer({ url: redisUrl, keyPrefix: current })
  }, { plant: plantUnder(admin, () => current) })

  const cipherPrefix = fresh()
  appTokenStoreSuite(
    "redis + TokenCipher, values planted",
    RedisAppTokenStore.layer({ url: redisUrl, keyPrefix: cipherPrefix }).pipe(
      Layer.provide(TokenCipher.layer({ keys: [{ id: "k1", key: TokenCipher.generateKey() }] }))
    ),
    { plant: plantUnder(admin, () => cipherPrefix) }
  )

  const Environment = Layer.mergeAll(
    WeChatConfig.layer({ appId: mini.appId, appSecret: Redacted.make(mini.secret) }),
    Sandbox.layerHttpClient
  ).pipe(Layer.provideMerge(Sandbox.layer()))

  /** An app token sealed for the mini program with a key no store here has. */
  const sealedWithAnotherKey = Effect.gen(function*() {
    const gone = yield* Effect.orDie(TokenCipher.make({ keys: [{ id: "gone", key: TokenCipher.generateKey() }] }))
    const codec = yield* Effect.provideService(AppTokenStore.makeCodec, TokenCipher.TokenCipher, gone)
    return yield* Effect.orDie(
      codec.encode(mini.appId, yield* makeAppToken({ accessToken: Redacted.make(plantedSecret) }))
    )
  })

  /** The key ring every process of the app has (the planted values were sealed with another). */
  const ring = TokenCipher.layer({ keys: [{ id: "k1", key: TokenCipher.generateKey() }] })

  /** A "process": its own connections, store, lock and AppToken, on the prefix. */
  const processOn = (prefix: string, cipher: boolean) =>
    Effect.gen(function*() {
      const storeLayer = RedisAppTokenStore.layer({ url: redisUrl, keyPrefix: prefix })
      const store = yield* serviceOf(
        AppTokenStore.AppTokenStore,
        cipher
          ? storeLayer.pipe(Layer.provide(ring))
          : storeLayer
      )
      const lock = yield* serviceOf(
        RefreshLock.RefreshLock,
        RedisRefreshLock.layer({ url: redisUrl, keyPrefix: prefix })
      )
      const appToken = yield* AppToken.make.pipe(
        Effect.provideService(AppTokenStore.AppTokenStore, store),
        Effect.provideService(RefreshLock.RefreshLock, lock),
        Effect.orDie
      )
      return { store, appToken }
    })

  const plants: ReadonlyArray<readonly [string, (key: string, now: number) => Effect.Effect<void>]> = [
    [
      "sealed with a TokenCipher key no longer configured, stamped a day ahead",
      (key, now) =>
        Effect.flatMap(
          sealedWithAnotherKey,
          (value) =>
            redisCall(() =>
              admin.hset(key, { o: String(now + day), v: value }).then(() => admin.pexpire(key, 2 * hour))
            )
        )
    ],
    [
      "garbage, stamped a day ahead",
      (key, now) =>
        redisCall(() =>
          admin.hset(key, { o: String(now + day), v: `garbage ${plantedSecret}` }).then(() =>
            admin.pexpire(key, 2 * hour)
          )
        )
    ],
    [
      "a string under the app's key (WRONGTYPE), with no expiry",
      (key) => redisCall(() => admin.set(key, `garbage ${plantedSecret}`))
    ],
    [
      "a token whose stamp no write can follow, stamped 2^53 - 1",
      (key) =>
        redisCall(() =>
          admin.hset(key, {
            o: String(Number.MAX_SAFE_INTEGER),
            v: JSON.stringify({ accessToken: plantedSecret, obtainedAt: Number.MAX_SAFE_INTEGER, expiresAt: 1e15 })
          }).then(() => admin.pexpire(key, 2 * hour))
        )
    ]
  ]

  for (const [what, plant] of plants) {
    for (const cipher of [false, true]) {
      it.scopedLive(`${what}${cipher ? ", store with a TokenCipher" : ""}: AppToken answers one fresh token from the sandbox to every caller of two processes, and the store holds it`, () =>
        Effect.gen(function*() {
          const prefix = fresh()
          const key = RedisAppTokenStore.appTokenKey(mini.appId, prefix)
          yield* plant(key, yield* Clock.currentTimeMillis)
          const processes = [yield* processOn(prefix, cipher), yield* processOn(prefix, cipher)]
          const before = yield* Effect.flip(processes[0].store.get(mini.appId))
          assert.strictEqual(before.reason, "Unreadable")
          const tokens = yield* Effect.forEach(
            Array.from({ length: 40 }, (_, i) => processes[i % 2].appToken.get),
            (get) => get,
            { concurrency: "unbounded" }
          )
          assert.strictEqual(new Set(tokens.map(Redacted.value)).size, 1)
          const sandbox = yield* Sandbox.Sandbox
          assert.strictEqual((yield* sandbox.stats).stable_token, 1, "one stable_token for both processes")
          for (const { store } of processes) {
            const stored = Option.getOrThrow(yield* store.get(mini.appId))
            assert.strictEqual(Redacted.value(stored.accessToken), Redacted.value(tokens[0]))
          }
          const ttl = yield* redisCall(() => admin.pttl(key))
          assert.isTrue(ttl > 0 && ttl <= 2 * hour, `expires with the token (PTTL ${ttl})`)
        }).pipe(Effect.provide(Environment)))
    }
  }

  it.scopedLive("a Redis that stops answering: AppToken fails with a TokenStoreError without reason, fetches nothing, and the planted value stays", () =>
    Effect.gen(function*() {
      const prefix = fresh()
      const key = RedisAppTokenStore.appTokenKey(mini.appId, prefix)
      const sealed = yield* sealedWithAnotherKey
      const now = yield* Clock.currentTimeMillis
      yield* redisCall(() =>
        admin.hset(key, { o: String(now + day), v: sealed }).then(() => admin.pexpire(key, 2 * hour))
      )
      const proxy = yield* freezableProxy
      const client = yield* quietClient(proxy.url)
      yield* redisCall(() => client.ping())
      const store = yield* RedisAppTokenStore.make(client, { keyPrefix: prefix, commandTimeout: "300 millis" })
      const appToken = yield* AppToken.make.pipe(
        Effect.provideService(AppTokenStore.AppTokenStore, store),
        Effect.orDie
      )
      proxy.freeze()
      for (const call of [appToken.get, appToken.invalidate(Redacted.make("T"))]) {
        const error = yield* Effect.flip(call).pipe(Effect.timeout("20 seconds"))
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.isUndefined((error as { readonly reason?: string }).reason)
        assert.include(error.message, "did not answer")
      }
      const sandbox = yield* Sandbox.Sandbox
      assert.strictEqual((yield* sandbox.stats).stable_token, 0, "nothing fetched")
      const raw = yield* redisCall(() => admin.hgetall(key))
      assert.deepStrictEqual(raw, { o: String(now + day), v: sealed }, "nothing written or removed")
    }).pipe(Effect.provide(Environment)))
})
