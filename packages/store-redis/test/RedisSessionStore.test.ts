/**
 * RedisSessionStore against a real Redis: core's SessionStore contract suite (a store per test, and
 * one for the suite), the key layout and expiry, no token anywhere in Redis, logout everywhere across
 * connections, every interleaving of create / touch with revokeUser that the store's order of steps
 * guards against (forced with a client that stops at a chosen command), each user's bound of sessions
 * (`maxSessionsPerUser`: the soonest to end go, concurrent creates, an eviction met by a create or a
 * touch in flight), an index that names another user's session, garbage under our keys, bad options,
 * and a Redis that is down or never answers.
 */
import { afterAll, assert, it } from "@effect/vitest"
import { SessionStore, type WeChatError } from "@wxauth/core"
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
import * as TestClock from "effect/TestClock"
import { Redis } from "ioredis"
import * as Util from "node:util"
import {
  blackhole,
  cleanup,
  describeRedis,
  keysUnder,
  layerFailure,
  luaMemory,
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

  it.scoped("it bounds its own commands (commandTimeout): wxauth runs it as it is, under no deadline of its own", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      assert.strictEqual(SessionStore.bounded(store), store)
    }))

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
  const pausing = (command: string, options?: RedisSessionStore.MakeOptions) =>
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
      const store = yield* Effect.orDie(RedisSessionStore.make(proxy, { keyPrefix: prefix, ...options }))
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

  /** The live sessions among `sessions`, by `get`. */
  const liveOf = (store: SessionStore.SessionStoreShape, sessions: ReadonlyArray<SessionStore.Session>) =>
    Effect.filter(sessions, (session) => Effect.map(store.get(session.idHash), Option.isSome))

  /** The ids in a user's index, sorted, and whether each is unmarked (a positive score). */
  const indexOf = (session: SessionStore.Session): Effect.Effect<Array<readonly [string, boolean]>> =>
    Effect.map(
      redisCall(() =>
        admin.zrange(RedisSessionStore.userIndexKey(session.appId, session.openid, prefix), 0, -1, "WITHSCORES")
      ),
      (flat) => {
        const entries: Array<readonly [string, boolean]> = []
        for (let i = 0; i < flat.length; i += 2) entries.push([flat[i], Number(flat[i + 1]) > 0])
        return entries.sort(([a], [b]) => a.localeCompare(b))
      }
    )

  /** What `indexOf` answers for these sessions, unmarked, and `marked` ones (being evicted). */
  const idsOf = (
    sessions: ReadonlyArray<SessionStore.Session>,
    marked: ReadonlyArray<SessionStore.Session> = []
  ): Array<readonly [string, boolean]> =>
    [
      ...sessions.map((session) => [session.idHash, true] as const),
      ...marked.map((session) => [session.idHash, false] as const)
    ].sort(([a], [b]) => a.localeCompare(b))

  /** `count` sessions of one user created one after the other, a second apart (by `TestClock`). */
  const createInTurn = (store: SessionStore.SessionStoreShape, user: SessionStore.Session, count: number) =>
    Effect.forEach(Array.from({ length: count }), () =>
      Effect.gen(function*() {
        yield* TestClock.adjust(1000)
        const now = yield* Clock.currentTimeMillis
        const { session } = yield* makeSession({ appId: user.appId, openid: user.openid, expiresAt: now + hour })
        yield* store.create(session)
        return session
      }))

  it.scoped("maxSessionsPerUser: one more create ends the user's least recently created session, only it", () =>
    Effect.gen(function*() {
      const store = yield* openStore({ maxSessionsPerUser: 3 })
      const { session: user } = yield* makeSession()
      // another user of the same app keeps theirs
      const { session: neighbour } = yield* makeSession({ appId: user.appId })
      yield* store.create(neighbour)
      const [a, b, c] = yield* createInTurn(store, user, 3)
      assert.deepStrictEqual(yield* liveOf(store, [a, b, c]), [a, b, c], "3: no session ends")
      const [d] = yield* createInTurn(store, user, 1)
      assert.isTrue(Option.isNone(yield* store.get(a.idHash)), "the least recently created ended")
      assert.strictEqual(yield* redisCall(() => admin.exists(RedisSessionStore.sessionKey(a.idHash, prefix))), 0)
      assert.strictEqual((yield* liveOf(store, [b, c, d])).length, 3)
      assert.isTrue(Option.isSome(yield* store.get(neighbour.idHash)))
      assert.deepStrictEqual(yield* indexOf(user), idsOf([b, c, d]))
      assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), 3)
      assert.strictEqual(yield* store.revokeUser(neighbour.appId, neighbour.openid), 1)
    }))

  it.scoped("maxSessionsPerUser: a touched old session outlives a newer untouched one", () =>
    Effect.gen(function*() {
      const store = yield* openStore({ maxSessionsPerUser: 3 })
      const { session: user } = yield* makeSession()
      const [a, b, c] = yield* createInTurn(store, user, 3)
      yield* TestClock.adjust(1000)
      assert.isTrue(Option.isSome(yield* store.touch(a.idHash, (yield* Clock.currentTimeMillis) + hour)))
      const [d] = yield* createInTurn(store, user, 1)
      assert.isTrue(Option.isNone(yield* store.get(b.idHash)), "b, created after a but not touched, ended")
      assert.strictEqual((yield* liveOf(store, [a, c, d])).length, 3)
      assert.deepStrictEqual(yield* indexOf(user), idsOf([a, c, d]))
      assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), 3)
    }))

  it.scoped("maxSessionsPerUser: the user's sessions that are over go before any live one", () =>
    Effect.gen(function*() {
      const store = yield* openStore({ maxSessionsPerUser: 3 })
      const { session: user } = yield* makeSession()
      const [a] = yield* createInTurn(store, user, 1)
      // two short sessions created after a, over by the next create
      const now = yield* Clock.currentTimeMillis
      const short = yield* Effect.forEach(
        [1, 2],
        (i) =>
          Effect.map(
            makeSession({ appId: user.appId, openid: user.openid, expiresAt: now + 1000 + i }),
            (m) => m.session
          )
      )
      yield* Effect.forEach(short, store.create, { discard: true })
      yield* TestClock.adjust(5000)
      const [b, c] = yield* createInTurn(store, user, 2)
      // a, b, c: the bound, with no live session ended; the short ones stay in the index (over by
      // less than a day, in case a clock is behind: SessionClockSkew.test.ts) and count for nothing
      assert.strictEqual((yield* liveOf(store, [a, b, c])).length, 3, "a live session ended before the over ones")
      assert.deepStrictEqual(yield* indexOf(user), idsOf([a, b, c, ...short]))
      const [d] = yield* createInTurn(store, user, 1)
      assert.isTrue(Option.isNone(yield* store.get(a.idHash)))
      assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), 3)
      for (const session of [b, c, d]) assert.isTrue(Option.isNone(yield* store.get(session.idHash)))
    }))

  it.scoped("maxSessionsPerUser: the session being created is never the one ended, even when it ends soonest", () =>
    Effect.gen(function*() {
      const store = yield* openStore({ maxSessionsPerUser: 2 })
      const { session: user } = yield* makeSession()
      const [a, b] = yield* createInTurn(store, user, 2)
      const now = yield* Clock.currentTimeMillis
      const { session: brief } = yield* makeSession({ appId: user.appId, openid: user.openid, expiresAt: now + 60_000 })
      yield* store.create(brief)
      assert.deepStrictEqual(yield* liveOf(store, [a, b, brief]), [b, brief])
      assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), 2)
    }))

  it.scoped("maxSessionsPerUser: a revoked session no longer counts", () =>
    Effect.gen(function*() {
      const store = yield* openStore({ maxSessionsPerUser: 2 })
      const { session: user } = yield* makeSession()
      const [a, b] = yield* createInTurn(store, user, 2)
      yield* store.revoke(b.idHash)
      assert.deepStrictEqual(yield* indexOf(user), idsOf([a]))
      const [c] = yield* createInTurn(store, user, 1)
      assert.strictEqual((yield* liveOf(store, [a, c])).length, 2, "a is kept: the user has 2 sessions")
      assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), 2)
    }))

  it.scoped("maxSessionsPerUser: after many evictions revokeUser still ends every session of the user", () =>
    Effect.gen(function*() {
      const store = yield* openStore({ maxSessionsPerUser: 3 })
      const { session: user } = yield* makeSession()
      const made = yield* createInTurn(store, user, 12)
      assert.deepStrictEqual(yield* liveOf(store, made), made.slice(-3))
      assert.deepStrictEqual(yield* indexOf(user), idsOf(made.slice(-3)))
      assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), 3)
      assert.deepStrictEqual(yield* liveOf(store, made), [])
      for (const session of made) {
        assert.strictEqual(
          yield* redisCall(() => admin.exists(RedisSessionStore.sessionKey(session.idHash, prefix))),
          0
        )
      }
      assert.deepStrictEqual(yield* indexOf(user), [])
    }))

  it.scoped("maxSessionsPerUser: 20 creates at once over 4 connections with a bound of 5 leave 5, all indexed", () =>
    Effect.gen(function*() {
      const stores = yield* Effect.forEach([1, 2, 3, 4], () => openStore({ maxSessionsPerUser: 5 }))
      const { session: user } = yield* makeSession()
      const now = yield* Clock.currentTimeMillis
      const made = yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) =>
        Effect.map(
          // one in two with the same expiry: ties, and sessions in flight among the soonest to end
          makeSession({ appId: user.appId, openid: user.openid, expiresAt: now + hour + (i % 2) * i }),
          (m) => m.session
        ))
      const results = yield* Effect.forEach(made, (session, i) => Effect.either(stores[i % 4].create(session)), {
        concurrency: "unbounded"
      })
      // a create fails only when its own session was ended meanwhile: it is not live then
      for (const [i, result] of results.entries()) {
        if (Either.isLeft(result)) {
          assert.strictEqual(result.left._tag, "SessionStoreError")
          assert.include(result.left.message, "maxSessionsPerUser")
          assert.isTrue(Option.isNone(yield* stores[0].get(made[i].idHash)))
        }
      }
      const live = yield* liveOf(stores[0], made)
      assert.strictEqual(live.length, 5, "the bound holds once the creates are done")
      assert.deepStrictEqual(yield* indexOf(user), idsOf(live), "every live session is in the index, unmarked")
      assert.strictEqual(yield* stores[1].revokeUser(user.appId, user.openid), 5)
      assert.deepStrictEqual(yield* liveOf(stores[0], made), [])
    }))

  it.scoped("maxSessionsPerUser: an eviction that meets a create of its session in flight leaves no session", () =>
    Effect.gen(function*() {
      const other = yield* openStore()
      // the create of a stops after its id is indexed, before its session is written
      const creating = yield* pausing("wxauthSessionCreate", { maxSessionsPerUser: 1 })
      // the create of b stops after a's eviction looked for a's session, before a leaves the index
      const evicting = yield* pausing("wxauthSessionIndexDrop", { maxSessionsPerUser: 1 })
      const now = yield* Clock.currentTimeMillis
      const { session: a } = yield* makeSession({ expiresAt: now + hour })
      const { session: b } = yield* makeSession({ appId: a.appId, openid: a.openid, expiresAt: now + 2 * hour })
      const createA = yield* Effect.fork(Effect.either(creating.store.create(a)))
      yield* creating.reached
      const createB = yield* Effect.fork(evicting.store.create(b))
      yield* evicting.reached
      // a is written after its eviction looked for it: its create sees the mark and ends it
      yield* creating.release
      const outcome = yield* Fiber.join(createA)
      assert.isTrue(Either.isLeft(outcome), "the create of a fails")
      if (Either.isLeft(outcome)) assert.include(outcome.left.message, "maxSessionsPerUser")
      yield* evicting.release
      yield* Fiber.join(createB)
      assert.isTrue(Option.isNone(yield* other.get(a.idHash)), "a is not left live (out of the index's reach)")
      assert.deepStrictEqual(yield* indexOf(a), idsOf([b]))
      assert.strictEqual(yield* other.revokeUser(a.appId, a.openid), 1)
      assert.isTrue(Option.isNone(yield* other.get(b.idHash)))
    }))

  it.scoped("maxSessionsPerUser: a session being evicted is not touched, and stays in the index until it ends", () =>
    Effect.gen(function*() {
      const other = yield* openStore({ maxSessionsPerUser: 1 })
      const evicting = yield* pausing("wxauthSessionRevokeOwned", { maxSessionsPerUser: 1 })
      const now = yield* Clock.currentTimeMillis
      const { session: a } = yield* makeSession({ expiresAt: now + hour })
      const { session: b } = yield* makeSession({ appId: a.appId, openid: a.openid, expiresAt: now + 2 * hour })
      yield* other.create(a)
      const createB = yield* Effect.fork(evicting.store.create(b))
      yield* evicting.reached
      // marked, not yet deleted: still in the index (a revokeUser now would reach it), and not touched
      assert.deepStrictEqual(yield* indexOf(a), idsOf([b], [a]))
      assert.isTrue(Option.isNone(yield* other.touch(a.idHash, now + 3 * hour)))
      yield* evicting.release
      yield* Fiber.join(createB)
      assert.isTrue(Option.isNone(yield* other.get(a.idHash)))
      assert.deepStrictEqual(yield* indexOf(a), idsOf([b]))
      assert.strictEqual(yield* other.revokeUser(a.appId, a.openid), 1)
    }))

  it.scoped("revokeUser works through the index a slice at a time: 100, 101 and 201 sessions all end", () =>
    Effect.gen(function*() {
      const store = yield* openStore({ maxSessionsPerUser: 1000 })
      for (const count of [100, 101, 201]) {
        const { session: user } = yield* makeSession()
        const made = yield* Effect.forEach(
          Array.from({ length: count }),
          () =>
            Effect.flatMap(
              makeSession({ appId: user.appId, openid: user.openid }),
              ({ session }) => Effect.as(store.create(session), session)
            ),
          { concurrency: 8 }
        )
        assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), count)
        assert.deepStrictEqual(yield* liveOf(store, made), [], `${count}: every session ended`)
        const left = yield* redisCall(() =>
          keysUnder(admin, RedisSessionStore.userIndexKey(user.appId, user.openid, prefix))
        )
        assert.deepStrictEqual(left, [], `${count}: neither the index nor the key it was renamed to is left`)
      }
    }))

  /** A store whose client fails the `nth` call of `command` (the first of them when `nth` is 1), once. */
  const failingOnce = (command: string, nth: number) =>
    Effect.gen(function*() {
      const client = yield* connect
      let calls = 0
      const failing = new Proxy(client, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver)
          if (typeof value !== "function") return value
          if (property !== command) return value.bind(target)
          return async (...args: Array<unknown>) => {
            calls += 1
            if (calls === nth) throw new Error("Connection is closed.")
            return value.apply(target, args)
          }
        }
      })
      return yield* Effect.orDie(RedisSessionStore.make(failing, { keyPrefix: prefix }))
    })

  for (
    const [what, command, nth] of [
      ["a session's deletion in the first slice", "wxauthSessionRevokeOwned", 5],
      ["the read of the second slice", "wxauthSessionRevokingSliceBuffer", 3],
      ["the removal of the first slice from the revoking key", "zrem", 1]
    ] as const
  ) {
    it.scoped(`a revokeUser that Redis fails half way (${what}) leaves the rest to the next one, which ends them`, () =>
      Effect.gen(function*() {
        const store = yield* openStore({ maxSessionsPerUser: 1000 })
        const broken = yield* failingOnce(command, nth)
        const { session: user } = yield* makeSession()
        const made = yield* Effect.forEach(
          Array.from({ length: 150 }),
          () =>
            Effect.flatMap(
              makeSession({ appId: user.appId, openid: user.openid }),
              ({ session }) => Effect.as(store.create(session), session)
            ),
          { concurrency: 8 }
        )
        const failed = yield* Effect.flip(broken.revokeUser(user.appId, user.openid))
        assert.strictEqual(failed._tag, "SessionStoreError")
        const left = yield* liveOf(store, made)
        assert.isAbove(left.length, 0, "the failure came before the end")
        // a new login meanwhile is indexed afresh; the next logout everywhere ends it and all that was left
        const { session: later } = yield* makeSession({ appId: user.appId, openid: user.openid })
        yield* store.create(later)
        assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), left.length + 1)
        assert.deepStrictEqual(yield* liveOf(store, [...made, later]), [], "no session of the user is left live")
        assert.deepStrictEqual(
          yield* redisCall(() => keysUnder(admin, RedisSessionStore.userIndexKey(user.appId, user.openid, prefix))),
          []
        )
      }))
  }

  it.scoped("members of an index that are not UTF-8 (written by another client) neither hold revokeUser forever nor block the next", () =>
    Effect.gen(function*() {
      const store = yield* openStore({ maxSessionsPerUser: 1000 })
      for (const planted of [1, 150]) {
        const { session: user } = yield* makeSession()
        const index = RedisSessionStore.userIndexKey(user.appId, user.openid, prefix)
        const made = yield* Effect.forEach(
          Array.from({ length: 3 }),
          () =>
            Effect.flatMap(
              makeSession({ appId: user.appId, openid: user.openid }),
              ({ session }) => Effect.as(store.create(session), session)
            )
        )
        // members read as text would come back altered (U+FFFD), and never be taken out
        for (let i = 0; i < planted; i++) {
          yield* redisCall(() => admin.zadd(index, 1, Buffer.from([0xff, 0xfe, i & 0xff, i >> 8])))
        }
        assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), 3, `${planted}: the live ones ended`)
        assert.deepStrictEqual(yield* liveOf(store, made), [])
        const { session: later } = yield* makeSession({ appId: user.appId, openid: user.openid })
        yield* store.create(later)
        assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), 1, `${planted}: the next one works too`)
        assert.deepStrictEqual(yield* redisCall(() => keysUnder(admin, index)), [])
      }
    }).pipe(Effect.timeout("20 seconds")))

  it.scoped("a revokeUser that finds the index taken by another one still working through it answers once every session ended", () =>
    Effect.gen(function*() {
      const other = yield* openStore()
      // b has drained what was left, and stops before taking the index
      const b = yield* pausing("wxauthSessionDetach")
      // a takes the index, and stops before ending its first session
      const a = yield* pausing("wxauthSessionRevokeOwned")
      const { session: first } = yield* makeSession()
      const { session: second } = yield* makeSession({ appId: first.appId, openid: first.openid })
      yield* other.create(first)
      yield* other.create(second)
      const revokingB = yield* Effect.fork(b.store.revokeUser(first.appId, first.openid))
      yield* b.reached
      const revokingA = yield* Effect.fork(a.store.revokeUser(first.appId, first.openid))
      yield* a.reached
      yield* b.release
      const endedByB = yield* Fiber.join(revokingB)
      assert.deepStrictEqual(yield* liveOf(other, [first, second]), [], "b answered: no session is live")
      yield* a.release
      const endedByA = yield* Fiber.join(revokingA)
      assert.strictEqual(endedByA + endedByB, 2, "each session ended once")
    }))

  it.scoped("a revokeUser interrupted once it has taken the index still ends every session of it", () =>
    Effect.gen(function*() {
      const other = yield* openStore()
      const { release, reached, store } = yield* pausing("wxauthSessionRevokeOwned")
      const { session: a } = yield* makeSession()
      const { session: b } = yield* makeSession({ appId: a.appId, openid: a.openid })
      yield* other.create(a)
      yield* other.create(b)
      const fiber = yield* Effect.fork(store.revokeUser(a.appId, a.openid))
      yield* reached
      // the interruption waits for the revokeUser to finish what it took
      const interrupting = yield* Effect.fork(Fiber.interrupt(fiber))
      yield* release
      yield* Fiber.join(interrupting)
      assert.isTrue(Option.isNone(yield* other.get(a.idHash)))
      assert.isTrue(Option.isNone(yield* other.get(b.idHash)))
      assert.strictEqual(yield* other.revokeUser(a.appId, a.openid), 0)
    }))

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

  it.scoped("a session whose value names another user than its u (and index) is a SessionStoreError for get and touch, never that user's live session", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      const { session: victim } = yield* makeSession({ openid: "oVictim" })
      const { session: other } = yield* makeSession({ appId: victim.appId, openid: "oOther" })
      yield* store.create(victim)
      yield* store.create(other)
      // the victim's value under its id, with the other user's bookkeeping (u, and the id in their index)
      const key = RedisSessionStore.sessionKey(victim.idHash, prefix)
      const otherIndex = RedisSessionStore.userIndexKey(other.appId, other.openid, prefix)
      const victimIndex = RedisSessionStore.userIndexKey(victim.appId, victim.openid, prefix)
      yield* redisCall(() =>
        admin.multi().hset(key, "u", otherIndex).zrem(victimIndex, victim.idHash).zadd(
          otherIndex,
          String(victim.expiresAt),
          victim.idHash
        ).exec()
      )
      const expectRefused = (label: string, effect: Effect.Effect<unknown, WeChatError.SessionStoreError>) =>
        Effect.gen(function*() {
          const outcome = yield* Effect.either(effect)
          assert.isTrue(Either.isLeft(outcome), `${label} of a session whose value names another user than its u`)
          const error = Either.getLeft(outcome).pipe(Option.getOrThrow)
          assert.strictEqual(error._tag, "SessionStoreError")
          assert.include(error.description, "another user")
          assert.notInclude(JSON.stringify(error) + error.message, victim.idHash)
        })
      yield* expectRefused("get", store.get(victim.idHash))
      yield* expectRefused("touch", store.touch(victim.idHash, victim.expiresAt + hour))
      // the victim's logout everywhere reaches nothing, and the session is still refused after it
      assert.strictEqual(yield* store.revokeUser(victim.appId, victim.openid), 0)
      yield* expectRefused("get after the victim's revokeUser", store.get(victim.idHash))
      // a u missing altogether is refused the same way
      yield* redisCall(() => admin.hdel(key, "u"))
      yield* expectRefused("get without u", store.get(victim.idHash))
      // the other user's own session is untouched
      assert.strictEqual(Option.getOrThrow(yield* store.get(other.idHash)).openid, other.openid)
      // a create over the id writes a consistent session again
      yield* store.revoke(victim.idHash)
      yield* store.create(victim)
      assert.strictEqual(Option.getOrThrow(yield* store.get(victim.idHash)).openid, victim.openid)
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

  it.scoped("anything but a sorted set under a user's index or revoking key is replaced: create and revokeUser go on", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      yield* TestClock.setTime(Date.now())
      const plants: ReadonlyArray<readonly [label: string, plant: (key: string) => Promise<unknown>]> = [
        ["a string", (key) => admin.set(key, "garbage")],
        ["a hash", (key) => admin.hset(key, { v: "garbage" })],
        ["a list", (key) => admin.rpush(key, "garbage")]
      ]
      for (const [label, plant] of plants) {
        const { session: user } = yield* makeSession()
        const index = RedisSessionStore.userIndexKey(user.appId, user.openid, prefix)
        const revoking = `${index}:revoking`
        // under the index (no TTL): a create replaces it, and revokeUser ends what the new index holds
        yield* redisCall(() => plant(index))
        yield* store.create(user)
        assert.strictEqual(yield* redisCall(() => admin.type(index)), "zset", label)
        assert.isTrue(Option.isSome(yield* store.get(user.idHash)), label)
        assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), 1, label)
        assert.isTrue(Option.isNone(yield* store.get(user.idHash)), label)
        // a revokeUser finding it deletes it: it holds no session id to revoke
        yield* redisCall(() => plant(index))
        assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), 0, label)
        assert.strictEqual(yield* redisCall(() => admin.exists(index)), 0, label)
        // under the revoking key: revokeUser deletes it, and still ends the user's sessions
        const { session } = yield* makeSession({ appId: user.appId, openid: user.openid })
        yield* store.create(session)
        yield* redisCall(() => plant(revoking))
        assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), 1, label)
        assert.isTrue(Option.isNone(yield* store.get(session.idHash)), label)
        assert.strictEqual(yield* redisCall(() => admin.exists(index, revoking)), 0, label)
        // a session whose index was overwritten is out of revokeUser's reach: it is never extended
        const { session: orphan } = yield* makeSession({ appId: user.appId, openid: user.openid })
        yield* store.create(orphan)
        yield* redisCall(() => admin.del(index).then(() => plant(index)))
        const now = yield* Clock.currentTimeMillis
        assert.isTrue(Option.isNone(yield* store.touch(orphan.idHash, now + 2 * hour)), label)
        assert.strictEqual(Option.getOrThrow(yield* store.get(orphan.idHash)).expiresAt, orphan.expiresAt, label)
        // revoke ends it, the index's garbage notwithstanding
        yield* store.revoke(orphan.idHash)
        assert.isTrue(Option.isNone(yield* store.get(orphan.idHash)), label)
        yield* redisCall(() => admin.del(index, revoking))
      }
    }))

  it.scoped("an index member scored +-inf or +-1e300 (not written by wxauth) does not delete the index", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      yield* TestClock.setTime(Date.now())
      for (const score of ["+inf", "-inf", "1e300", "-1e300"]) {
        const { session } = yield* makeSession()
        const index = RedisSessionStore.userIndexKey(session.appId, session.openid, prefix)
        yield* redisCall(() => admin.zadd(index, score, "d".repeat(64)))
        // the create keeps the index (its TTL at most 2^53 - 1 ms), so its check finds its id
        yield* store.create(session)
        assert.isAbove(yield* redisCall(() => admin.pttl(index)), 0, score)
        assert.isTrue(Option.isSome(yield* store.get(session.idHash)), score)
        const now = yield* Clock.currentTimeMillis
        assert.isTrue(Option.isSome(yield* store.touch(session.idHash, now + 2 * hour)), score)
        assert.isAbove(yield* redisCall(() => admin.pttl(index)), 0, score)
        assert.strictEqual(yield* store.revokeUser(session.appId, session.openid), 1, score)
        assert.isTrue(Option.isNone(yield* store.get(session.idHash)), score)
      }
    }))

  it.scopedLive("a session longer than any session is a SessionStoreError without being fetched; revoke and create replace it", () =>
    Effect.gen(function*() {
      const client = yield* quietClient(redisUrl, { maxRetriesPerRequest: 1 })
      const store = yield* RedisSessionStore.make(client, { keyPrefix: prefix })
      const { session } = yield* makeSession()
      const key = RedisSessionStore.sessionKey(session.idHash, prefix)
      const plant = (fields: Record<string, string>) =>
        redisCall(() => admin.del(key).then(() => admin.hset(key, { e: String(Date.now() + hour), ...fields })))
      const expectTooLong = (operation: "get" | "touch") =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(
            operation === "get" ? store.get(session.idHash) : store.touch(session.idHash, Date.now() + 2 * hour)
          )
          assert.deepInclude(error, { _tag: "SessionStoreError", operation })
          assert.include(error.description, "longer than any session")
          assert.notInclude(JSON.stringify(error) + error.message + Util.inspect(error, { depth: 10 }), "s3cr3t")
        })
      // 20 MB under the session's key, behind a secret
      yield* plant({ v: `s3cr3t${"x".repeat(20 * 1024 * 1024)}` })
      yield* redisCall(() => client.ping())
      const socket = (client as unknown as { readonly stream: { readonly bytesRead: number } }).stream
      const before = socket.bytesRead
      yield* Effect.all(Array.from({ length: 10 }, () => expectTooLong("get")), { concurrency: "unbounded" })
      yield* expectTooLong("touch")
      assert.isBelow(socket.bytesRead - before, 64 * 1024, "11 reads fetched none of the value")
      // one byte over the bound is not fetched; at the bound (16,384 characters of 3 bytes) it is, and does not decode
      yield* plant({ v: "x".repeat(SessionStore.maxStoredValueBytes + 1) })
      yield* expectTooLong("get")
      yield* plant({ v: "\u20ac".repeat(16_384) })
      assert.include((yield* Effect.flip(store.get(session.idHash))).description, "does not decode")
      // a time longer than any time is not fetched either
      yield* plant({ v: "x", e: "1".repeat(20 * 1024 * 1024) })
      yield* expectTooLong("get")
      yield* plant({ v: "x", l: "1".repeat(33) })
      yield* expectTooLong("get")
      // revoke deletes it, and the session can be created
      yield* store.revoke(session.idHash)
      yield* store.create(session)
      assert.strictEqual(Option.getOrThrow(yield* store.get(session.idHash)).openid, session.openid)
    }))

  it.scopedLive("revoke of a session whose u is longer than any index key deletes it without fetching u", () =>
    Effect.gen(function*() {
      const client = yield* quietClient(redisUrl, { maxRetriesPerRequest: 1 })
      const store = yield* RedisSessionStore.make(client, { keyPrefix: prefix })
      yield* redisCall(() => client.ping())
      const socket =
        (client as unknown as { readonly stream: { readonly bytesWritten: number; readonly bytesRead: number } })
          .stream
      // 20 MB in u: plain, and shaped as an index key of the store's (which a fetch took for one)
      const big = "x".repeat(20 * 1024 * 1024)
      for (const u of [big, `${prefix}{${big}}:sessions`]) {
        const { session } = yield* makeSession()
        yield* store.create(session)
        const key = RedisSessionStore.sessionKey(session.idHash, prefix)
        const index = RedisSessionStore.userIndexKey(session.appId, session.openid, prefix)
        yield* redisCall(() => admin.hset(key, "u", u))
        const [read, written] = [socket.bytesRead, socket.bytesWritten]
        yield* store.revoke(session.idHash)
        assert.isBelow(socket.bytesRead - read, 64 * 1024, "revoke fetched none of u")
        assert.isBelow(socket.bytesWritten - written, 64 * 1024, "revoke sent none of u back")
        assert.strictEqual(yield* redisCall(() => admin.exists(key)), 0, "the session is deleted")
        assert.isTrue(Option.isNone(yield* store.get(session.idHash)))
        // its index is not known: left alone, and revokeUser clears it (the session is already gone)
        assert.isNotNull(yield* redisCall(() => admin.zscore(index, session.idHash)))
        assert.strictEqual(yield* store.revokeUser(session.appId, session.openid), 0)
        assert.strictEqual(yield* redisCall(() => admin.exists(index)), 0)
      }
      // a u at the bound is fetched and, being no index key of the store's, touches no index
      const { session } = yield* makeSession()
      yield* store.create(session)
      const key = RedisSessionStore.sessionKey(session.idHash, prefix)
      const index = RedisSessionStore.userIndexKey(session.appId, session.openid, prefix)
      yield* redisCall(() => admin.hset(key, "u", "y".repeat(Buffer.byteLength(prefix) + 1024)))
      yield* store.revoke(session.idHash)
      assert.strictEqual(yield* redisCall(() => admin.exists(key)), 0)
      assert.isNotNull(yield* redisCall(() => admin.zscore(index, session.idHash)))
      // a session of the user whose u was replaced by 20 MB is another user's for revokeUser: left alone
      const { session: other } = yield* makeSession()
      yield* store.create(other)
      const otherKey = RedisSessionStore.sessionKey(other.idHash, prefix)
      yield* redisCall(() => admin.hset(otherKey, "u", big))
      assert.strictEqual(yield* store.revokeUser(other.appId, other.openid), 0)
      assert.strictEqual(yield* redisCall(() => admin.exists(otherKey)), 1)
      yield* store.revoke(other.idHash)
      assert.strictEqual(yield* redisCall(() => admin.exists(otherKey)), 0)
    }))

  it.scopedLive("a session whose e is no time (20 MB of digits or text, inf, a fraction) is over for every script, e unfetched: create takes its id, touch does not bring it back, revokeUser deletes it uncounted", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      const now = yield* Clock.currentTimeMillis
      const big = 20 * 1024 * 1024
      const planted = [
        "9".repeat(big), // tonumber: inf, so live for ever
        `${"0".repeat(big)}${now + hour}`, // tonumber: a live time
        `s3cr3t${"x".repeat(big)}`,
        "inf",
        "1e400",
        `${now + hour}.5`
      ]
      for (const e of planted) {
        const what = e.length > 64 ? `${e.length} bytes of '${e[0]}'` : `'${e}'`
        const { session } = yield* makeSession()
        yield* store.create(session)
        const key = RedisSessionStore.sessionKey(session.idHash, prefix)
        // a create of its id replaces it, without fetching e
        yield* redisCall(() => admin.hset(key, "e", e))
        const lua = yield* luaMemory(admin)
        const created = yield* Effect.either(store.create(session))
        assert.isTrue(
          Either.isRight(created),
          `create takes the id of a session whose e is ${what}: ${Either.isLeft(created) ? created.left.message : ""}`
        )
        assert.isBelow((yield* luaMemory(admin)) - lua, 1024 * 1024, `create fetched e (${what}) into its script`)
        assert.strictEqual(Option.getOrThrow(yield* store.get(session.idHash)).expiresAt, session.expiresAt)
        // a touch whose script comes after its read (e planted in between) does not bring it back
        const paused = yield* pausing("wxauthSessionTouch")
        const touch = yield* Effect.fork(paused.store.touch(session.idHash, now + 2 * hour))
        yield* paused.reached
        yield* redisCall(() => admin.hset(key, "e", e))
        yield* paused.release
        assert.isTrue(Option.isNone(yield* Fiber.join(touch)), `touch brought back a session whose e is ${what}`)
        assert.strictEqual(yield* redisCall(() => admin.hstrlen(key, "e")), e.length, "e is left as it was")
        assert.strictEqual(yield* redisCall(() => admin.hexists(key, "l")), 0, "l is not written")
        // revokeUser deletes it, and does not count it as a live session
        assert.strictEqual(
          yield* store.revokeUser(session.appId, session.openid),
          0,
          `revokeUser counted a session whose e is ${what} as live`
        )
        assert.strictEqual(yield* redisCall(() => admin.exists(key)), 0)
      }
      // a whole time at most 2^53 - 1 is one: a live session keeps its id
      const { session } = yield* makeSession()
      yield* store.create(session)
      yield* redisCall(() => admin.hset(RedisSessionStore.sessionKey(session.idHash, prefix), "e", "9007199254740991"))
      assert.include((yield* Effect.flip(store.create(session))).message, "a live session has this idHash already")
      assert.strictEqual(yield* store.revokeUser(session.appId, session.openid), 1)
    }))

  it.scoped("options of the wrong shape fail with an InvalidArgument", () =>
    Effect.gen(function*() {
      const client = yield* connect
      for (
        const [options, argument] of [
          [{ keyPrefix: 42 }, "keyPrefix"],
          [{ commandTimeout: "bananas" }, "commandTimeout"],
          [{ commandTimeout: 0 }, "commandTimeout"],
          [{ commandTimeout: Infinity }, "commandTimeout"],
          // a Node timer waits at most 2^31 - 1 ms: past 24 days every call failed at once
          [{ commandTimeout: "30 days" }, "commandTimeout"],
          [{ commandTimeout: 24 * 86_400_000 + 1 }, "commandTimeout"],
          ...[0, -1, 1.5, Number.NaN, Infinity, 2 ** 53, "10", null, 10n, {}].map((bad) =>
            [{ maxSessionsPerUser: bad }, "maxSessionsPerUser"] as const
          ),
          [
            new Proxy({}, {
              get: () => {
                throw new Error("trap")
              }
            }),
            "options"
          ]
        ] as const
      ) {
        const made = yield* Effect.either(RedisSessionStore.make(client, options as never))
        assert.isTrue(Either.isLeft(made), `${argument}: a bad value was accepted`)
        assert.deepInclude(Either.getLeft(made).pipe(Option.getOrThrow), { _tag: "InvalidArgument", argument })
      }
      yield* RedisSessionStore.make(client, { maxSessionsPerUser: 1 })
      yield* RedisSessionStore.make(client, { maxSessionsPerUser: undefined })
      yield* RedisSessionStore.make(client, { commandTimeout: "24 days" })
      // the layer over a caller's client too
      const fromClient = yield* layerFailure(RedisSessionStore.layerFromClient(client, { commandTimeout: "30 days" }))
      assert.deepInclude(fromClient, { _tag: "InvalidArgument", argument: "commandTimeout" })
      // the layer too, which opens its own connection
      const error = yield* layerFailure(RedisSessionStore.layer({ url: redisUrl, maxSessionsPerUser: 0 }))
      assert.deepInclude(error, { _tag: "InvalidArgument", argument: "maxSessionsPerUser" })
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
