/**
 * RedisSessionStore against a real Redis: core's SessionStore contract suite (a store per test, and
 * one for the suite), the key layout and expiry, no token anywhere in Redis, logout everywhere across
 * connections, every interleaving of create / touch with revokeUser that the store's order of steps
 * guards against (forced with a client that stops at a chosen command), an index that names another
 * user's session, garbage under our keys, bad options, and a Redis that is down or never answers.
 */
import { afterAll, assert, it } from "@effect/vitest"
import { SessionStore } from "@wxauth/core"
import { makeSession, sessionStoreSuite } from "@wxauth/core/testing"
import { RedisSessionStore, RedisTokenStore } from "@wxauth/store-redis"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import { Redis } from "ioredis"
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
  refusedUrl
} from "./utils.js"

const hour = 60 * 60 * 1000

describeRedis("RedisSessionStore", () => {
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

  sessionStoreSuite("redis, a prefix per test", () => RedisSessionStore.layer({ url: redisUrl, keyPrefix: fresh() }))
  sessionStoreSuite("redis, one store", RedisSessionStore.layer({ url: redisUrl, keyPrefix: fresh() }))

  /** A connection of its own, closed with the scope. */
  const connect = Effect.acquireRelease(
    Effect.sync(() => {
      const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
      client.on("error", () => {})
      return client
    }),
    (client) => Effect.promise(() => client.quit().catch(() => undefined))
  )

  const openStore = (
    options?: RedisSessionStore.MakeOptions
  ): Effect.Effect<SessionStore.SessionStoreShape, never, Scope.Scope> =>
    Effect.flatMap(connect, (client) => Effect.orDie(RedisSessionStore.make(client, { keyPrefix: prefix, ...options })))

  it.scoped("a session is a hash under its id hash, and its user's index a sorted set; both expire with it", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      const now = yield* Clock.currentTimeMillis
      const { session, token } = yield* makeSession({ expiresAt: now + hour, data: { userId: "42" } })
      yield* store.create(session)
      const key = `${prefix}session:${session.idHash}`
      const index = `${prefix}{${session.appId}:${session.openid}}:sessions`
      assert.strictEqual(RedisSessionStore.sessionKey(session.idHash, prefix), key)
      assert.strictEqual(RedisSessionStore.userIndexKey(session.appId, session.openid, prefix), index)
      // the same hash tag as the user's token
      assert.strictEqual(
        RedisTokenStore.tokenKey(session.appId, session.openid, prefix).replace(/:token$/, ""),
        index.replace(/:sessions$/, "")
      )
      const raw = yield* redisCall(() => admin.hgetall(key))
      assert.deepStrictEqual(Object.keys(raw).sort(), ["e", "u", "v"])
      assert.strictEqual(Number(raw.e), session.expiresAt)
      assert.strictEqual(raw.u, index)
      assert.deepStrictEqual(yield* redisCall(() => admin.zrange(index, 0, -1, "WITHSCORES")), [
        session.idHash,
        String(session.expiresAt)
      ])
      for (const k of [key, index]) {
        const ttl = yield* redisCall(() => admin.pttl(k))
        assert.isTrue(ttl > hour - 60_000 && ttl <= hour, `PTTL ${ttl} of ${k} should be about an hour`)
      }
      // a touch moves both
      yield* store.touch(session.idHash, now + 5 * hour)
      assert.strictEqual(yield* redisCall(() => admin.hget(key, "l")), String(now))
      assert.strictEqual(yield* redisCall(() => admin.zscore(index, session.idHash)), String(now + 5 * hour))
      for (const k of [key, index]) {
        const ttl = yield* redisCall(() => admin.pttl(k))
        assert.isTrue(ttl > 5 * hour - 60_000 && ttl <= 5 * hour, `PTTL ${ttl} of ${k} should be about 5 hours`)
      }
      // the token is nowhere in Redis
      for (const k of yield* redisCall(() => keysUnder(admin, prefix))) {
        const type = yield* redisCall(() => admin.type(k))
        const content = type === "hash"
          ? JSON.stringify(yield* redisCall(() => admin.hgetall(k)))
          : type === "zset"
          ? JSON.stringify(yield* redisCall(() => admin.zrange(k, 0, -1)))
          : String(yield* redisCall(() => admin.get(k)))
        assert.notInclude(k + content, Redacted.value(token))
      }
      // ids with separators are encoded
      assert.strictEqual(RedisSessionStore.userIndexKey("a}:{b", "c:d", "p:"), "p:{a%7D%3A%7Bb:c%3Ad}:sessions")
      assert.strictEqual(yield* store.revokeUser(session.appId, session.openid), 1)
      assert.strictEqual(yield* redisCall(() => admin.exists(key, index)), 0)
    }))

  it.scoped("logout everywhere holds across connections: revoked on one, gone on the other", () =>
    Effect.gen(function*() {
      const [here, there] = [yield* openStore(), yield* openStore()]
      const { session } = yield* makeSession()
      const { session: sibling } = yield* makeSession({ appId: session.appId, openid: session.openid })
      yield* here.create(session)
      yield* there.create(sibling)
      assert.isTrue(Option.isSome(yield* there.get(session.idHash)))
      assert.strictEqual(yield* there.revokeUser(session.appId, session.openid), 2)
      assert.isTrue(Option.isNone(yield* here.get(session.idHash)))
      assert.isTrue(Option.isNone(yield* here.get(sibling.idHash)))
      assert.isTrue(Option.isNone(yield* here.touch(session.idHash, (yield* Clock.currentTimeMillis) + hour)))
    }))

  /**
   * A client that stops before the first call of `command` until `release` is called, and tells
   * `reached` when it got there: the store's steps run in the order a test chooses.
   */
  const pausing = (command: string) =>
    Effect.gen(function*() {
      const client = yield* connect
      const reached = yield* Deferred.make<void>()
      const released = yield* Deferred.make<void>()
      const runtime = yield* Effect.runtime<never>()
      const run = Runtime.runPromise(runtime)
      let paused = false
      const proxy = new Proxy(client, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver)
          if (property !== command || typeof value !== "function") {
            return typeof value === "function" ? value.bind(target) : value
          }
          return async (...args: Array<unknown>) => {
            if (!paused) {
              paused = true
              await run(Deferred.succeed(reached, undefined))
              await run(Deferred.await(released))
            }
            return value.apply(target, args)
          }
        }
      })
      const store = yield* Effect.orDie(RedisSessionStore.make(proxy, { keyPrefix: prefix }))
      return {
        store,
        reached: Deferred.await(reached),
        release: Deferred.succeed(released, undefined)
      }
    })

  const interleavings = [
    ["create", "wxauthSessionCreate", "after the id is indexed, before the session is written"],
    ["create", "zscore", "after the session is written, before the index is checked"],
    ["touch", "wxauthSessionIndexTouch", "after the session is read, before the index is extended"],
    ["touch", "wxauthSessionTouch", "after the index is extended, before the session is"]
  ] as const

  for (const [operation, command, where] of interleavings) {
    it.scoped(`a revokeUser that runs during a ${operation}, ${where}, leaves no session`, () =>
      Effect.gen(function*() {
        const other = yield* openStore()
        const { release, reached, store } = yield* pausing(command)
        const now = yield* Clock.currentTimeMillis
        const { session } = yield* makeSession()
        if (operation === "touch") yield* other.create(session)
        const fiber = yield* Effect.fork(
          operation === "create"
            ? Effect.as(store.create(session), "created")
            : Effect.map(store.touch(session.idHash, now + 10 * hour), (o) => Option.isSome(o) ? "touched" : "none")
        )
        yield* reached
        yield* other.revokeUser(session.appId, session.openid)
        yield* release
        const outcome = yield* Effect.either(Fiber.join(fiber))
        // the create fails (its session was revoked under it), the touch finds nothing to extend
        if (operation === "create") {
          assert.isTrue(Either.isLeft(outcome), "the create fails")
          if (Either.isLeft(outcome)) {
            assert.strictEqual(outcome.left._tag, "SessionStoreError")
            assert.include(outcome.left.message, "revoked")
          }
        } else {
          assert.deepStrictEqual(outcome, Either.right("none"))
        }
        assert.isTrue(Option.isNone(yield* other.get(session.idHash)), "no session is left")
        assert.strictEqual(yield* other.revokeUser(session.appId, session.openid), 0)
        assert.strictEqual(
          yield* redisCall(() => admin.exists(RedisSessionStore.sessionKey(session.idHash, prefix))),
          0
        )
      }))
  }

  it.scoped("revokeUser deletes only the user's own sessions, whatever their index names", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      const { session: mine } = yield* makeSession()
      const { session: theirs } = yield* makeSession()
      yield* store.create(mine)
      yield* store.create(theirs)
      const index = RedisSessionStore.userIndexKey(mine.appId, mine.openid, prefix)
      yield* redisCall(() => admin.zadd(index, String(theirs.expiresAt), theirs.idHash))
      assert.strictEqual(yield* store.revokeUser(mine.appId, mine.openid), 1)
      assert.isTrue(Option.isNone(yield* store.get(mine.idHash)))
      assert.isTrue(Option.isSome(yield* store.get(theirs.idHash)))
      // a create with a live session's id under another user changes nothing of it
      const { session: clash } = yield* makeSession({ idHash: theirs.idHash })
      assert.strictEqual((yield* Effect.flip(store.create(clash)))._tag, "SessionStoreError")
      assert.strictEqual(yield* store.revokeUser(clash.appId, clash.openid), 0)
      assert.strictEqual((yield* store.get(theirs.idHash)).pipe(Option.getOrThrow).openid, theirs.openid)
    }))

  it.scoped("garbage under a session's key is a SessionStoreError quoting nothing; a create replaces it", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      const { session } = yield* makeSession()
      const key = RedisSessionStore.sessionKey(session.idHash, prefix)
      const expectFailure = Effect.gen(function*() {
        const error = yield* Effect.flip(store.get(session.idHash))
        assert.strictEqual(error._tag, "SessionStoreError")
        assert.notInclude(JSON.stringify(error) + error.message + Util.inspect(error, { depth: 10 }), "s3cr3t")
        return error
      })
      yield* redisCall(() => admin.set(key, "s3cr3t"))
      assert.include((yield* expectFailure).description, "WRONGTYPE")
      yield* redisCall(() => admin.del(key).then(() => admin.hset(key, { v: "s3cr3t" })))
      assert.include((yield* expectFailure).description, "corrupted")
      yield* redisCall(() => admin.del(key).then(() => admin.hset(key, { v: "s3cr3t", e: String(Date.now()) })))
      assert.include((yield* expectFailure).description, "corrupted")
      // a session copied under another id is not that id's session
      const { session: other } = yield* makeSession()
      yield* store.create(other)
      const copied = yield* redisCall(() => admin.hgetall(RedisSessionStore.sessionKey(other.idHash, prefix)))
      yield* redisCall(() => admin.del(key).then(() => admin.hset(key, copied)))
      assert.include((yield* expectFailure).description, "corrupted")
      yield* redisCall(() => admin.del(key).then(() => admin.set(key, "s3cr3t")))
      yield* store.create(session)
      assert.strictEqual(Option.getOrThrow(yield* store.get(session.idHash)).openid, session.openid)
    }))

  it.scoped("options of the wrong shape fail with an InvalidArgument", () =>
    Effect.gen(function*() {
      const client = yield* connect
      for (
        const [options, argument] of [
          [{ keyPrefix: 42 }, "keyPrefix"],
          [{ commandTimeout: "bananas" }, "commandTimeout"],
          [{ commandTimeout: 0 }, "commandTimeout"],
          [{ commandTimeout: Infinity }, "commandTimeout"]
        ] as const
      ) {
        const error = yield* Effect.flip(RedisSessionStore.make(client, options as never))
        assert.deepInclude(error, { _tag: "InvalidArgument", argument })
      }
    }))

  it.live("a Redis that is down fails the layer with a SessionStoreError within the timeout", () =>
    Effect.gen(function*() {
      const error = yield* layerFailure(RedisSessionStore.layer({ url: refusedUrl }))
      assert.strictEqual(error._tag, "SessionStoreError")
    }))

  it.scopedLive("on a caller's client to a Redis that never answers, every operation fails in bounded time", () =>
    Effect.gen(function*() {
      const { url } = yield* blackhole
      const client = yield* quietClient(url)
      const store = yield* RedisSessionStore.make(client, { commandTimeout: "300 millis" })
      const { session } = yield* makeSession()
      const now = yield* Clock.currentTimeMillis
      const errors = yield* Effect.all([
        Effect.flip(store.create(session)),
        Effect.flip(store.get(session.idHash)),
        Effect.flip(store.touch(session.idHash, now + hour)),
        Effect.flip(store.revoke(session.idHash)),
        Effect.flip(store.revokeUser(session.appId, session.openid))
      ], { concurrency: "unbounded" }).pipe(Effect.timeout("20 seconds"))
      assert.deepStrictEqual(errors.map((error) => error.operation), ["create", "get", "touch", "revoke", "revokeUser"])
      for (const error of errors) assert.strictEqual(error._tag, "SessionStoreError")
    }))

  it.scoped("the layer over a caller's client leaves the client open", () =>
    Effect.gen(function*() {
      const client = yield* connect
      const { session } = yield* makeSession()
      yield* Effect.scoped(
        Effect.flatMap(
          Effect.map(
            Layer.build(RedisSessionStore.layerFromClient(client, { keyPrefix: prefix })),
            Context.get(SessionStore.SessionStore)
          ),
          (store) => store.create(session)
        )
      )
      assert.strictEqual(client.status, "ready")
      assert.strictEqual(yield* redisCall(() => client.ping()), "PONG")
    }))
})
