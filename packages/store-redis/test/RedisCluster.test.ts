/**
 * The stores, the lock and the near cache on a real Redis Cluster that the test starts on loopback:
 * 3 primaries and 3 replicas (`cluster.ts`), through an ioredis `Cluster`. Core's contract suites;
 * a user's keys in one slot; the lock's mutual exclusion; the session store's per-user bound (its
 * deletes go to other slots than the user's index); the near cache fed by every node; then the
 * node that holds a user's slot is moved twice while the user is in use: a manual failover
 * (`CLUSTER FAILOVER` on its replica) in the middle of a refresh storm, and a killed primary. Only
 * typed errors during the moves (no defect, nothing hangs), no token lost, and a storm still makes
 * exactly one refresh.
 *
 * Without redis-server on PATH the file is skipped with a warning; in CI that is a failure.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { OAuthToken, RefreshLock, TokenStore, WeChatConfig, WeChatHttpClient, WeChatOAuth } from "@wxauth/core"
import { appTokenStoreSuite, makeSession, makeToken, sessionKeyStoreSuite, tokenStoreSuite } from "@wxauth/core/testing"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import {
  RedisAppTokenStore,
  RedisRefreshLock,
  RedisSessionKeyStore,
  RedisSessionStore,
  RedisTokenStore
} from "@wxauth/store-redis"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { Cluster } from "ioredis"
import { missing, onNode, startCluster, type TestCluster, until } from "./cluster.js"
import { randomPrefix, untilServedFromMemory } from "./utils.js"

/** The access token of an `Option` of a token, or `"none"`. */
const accessOf = (found: Option.Option<OAuthToken.OAuthToken>): string =>
  Option.match(found, { onNone: () => "none", onSome: (token) => Redacted.value(token.accessToken) })

describe.skipIf(missing !== undefined)("Redis Cluster: 3 primaries + 3 replicas on loopback", () => {
  let cluster: TestCluster
  const clients: Array<Cluster> = []
  beforeAll(async () => {
    cluster = await startCluster()
  }, 60_000)
  afterAll(async () => {
    for (const client of clients) client.disconnect()
    await cluster?.close()
  }, 30_000)

  /** An ioredis Cluster client, counting the commands it sends; disconnected after the file. */
  const connect = (name = `wxauth-test-${Math.random().toString(36).slice(2, 10)}`) => {
    const client = new Cluster([{ host: "127.0.0.1", port: cluster.nodes[0].port }], {
      redisOptions: { connectionName: name, connectTimeout: 1000, maxRetriesPerRequest: 1 },
      slotsRefreshTimeout: 1000,
      slotsRefreshInterval: 1000,
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100
    })
    client.on("error", () => {})
    clients.push(client)
    const counts = new Map<string, number>()
    const send = client.sendCommand.bind(client)
    client.sendCommand = (command, stream, node) => {
      counts.set(command.name, (counts.get(command.name) ?? 0) + 1)
      return send(command, stream, node)
    }
    return { client, name, count: (command: string) => counts.get(command) ?? 0 }
  }
  let shared: Cluster | undefined
  const sharedClient = () => (shared ??= connect().client)
  const onShared = <A>(f: (client: Cluster) => Layer.Layer<A, unknown>) =>
    Layer.unwrapEffect(Effect.sync(() => f(sharedClient())))

  tokenStoreSuite(
    "Redis Cluster",
    onShared((client) => RedisTokenStore.layerFromClient(client, { keyPrefix: randomPrefix() }))
  )
  appTokenStoreSuite(
    "Redis Cluster",
    onShared((client) => RedisAppTokenStore.layerFromClient(client, { keyPrefix: randomPrefix() }))
  )
  sessionKeyStoreSuite(
    "Redis Cluster",
    onShared((client) => RedisSessionKeyStore.layerFromClient(client, { keyPrefix: randomPrefix() }))
  )

  const keySlot = (key: string) =>
    Effect.promise(() => onNode(cluster.nodes[0].port, async (redis) => Number(await redis.cluster("KEYSLOT", key))))

  it.live("a user's token, lock and session key share a slot; an app's token and its lock share another", () =>
    Effect.gen(function*() {
      const prefix = "wxauth:"
      const appId = "wx1234567890abcdef"
      const openid = "oAbCdEfGhIjKlMnOpQrStUvWxYz0"
      const user = yield* Effect.forEach([
        RedisTokenStore.tokenKey(appId, openid, prefix),
        RedisRefreshLock.lockKey(`${appId}:${openid}`, prefix),
        RedisSessionKeyStore.sessionKeyKey(appId, openid, prefix)
      ], keySlot)
      assert.deepStrictEqual(new Set(user).size, 1, "one slot for the user")
      const app = yield* Effect.forEach([
        RedisAppTokenStore.appTokenKey(appId, prefix),
        RedisRefreshLock.lockKey(`app-token:${appId}`, prefix)
      ], keySlot)
      assert.strictEqual(new Set(app).size, 1, "one slot for the app token")
      const other = yield* keySlot(RedisTokenStore.tokenKey(appId, "oAnotherUser00000000000000000", prefix))
      assert.notStrictEqual(other, user[0], "users spread over the slots")
    }))

  it.live("the session store's per-user bound: past it the soonest to end go, and revokeUser ends the rest", () =>
    Effect.gen(function*() {
      const prefix = randomPrefix()
      const store = yield* RedisSessionStore.make(sharedClient(), { keyPrefix: prefix, maxSessionsPerUser: 3 })
      const now = yield* Clock.currentTimeMillis
      const { session: user } = yield* makeSession()
      const sessionsOf = (count: number, expiresAt: (i: number) => number) =>
        Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) =>
          Effect.map(
            makeSession({ appId: user.appId, openid: user.openid, expiresAt: expiresAt(i) }),
            ({ session }) => session
          ))
      const liveOf = (sessions: ReadonlyArray<typeof user>) =>
        Effect.filter(sessions, (session) => Effect.map(store.get(session.idHash), Option.isSome))
      // one after the other: the two that end soonest go
      const inTurn = yield* sessionsOf(5, (i) => now + 3_600_000 + i * 1000)
      yield* Effect.forEach(inTurn, store.create, { discard: true })
      assert.deepStrictEqual(yield* liveOf(inTurn), inTurn.slice(2))
      const slots = yield* Effect.forEach(inTurn, (s) => keySlot(RedisSessionStore.sessionKey(s.idHash, prefix)))
      assert.isAbove(new Set(slots).size, 1, "the sessions spread over slots")
      // 20 at once: 3 are left, and revokeUser reaches every one
      const atOnce = yield* sessionsOf(20, () => now + 7_200_000)
      yield* Effect.forEach(atOnce, (session) => Effect.either(store.create(session)), { concurrency: "unbounded" })
      assert.strictEqual((yield* liveOf([...inTurn, ...atOnce])).length, 3)
      assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), 3)
      assert.deepStrictEqual(yield* liveOf([...inTurn, ...atOnce]), [])
    }))

  it.live("the lock excludes across two Cluster clients: never two holders at once", () =>
    Effect.gen(function*() {
      const prefix = randomPrefix()
      const locks = yield* Effect.forEach([connect(), connect()], ({ client }) =>
        RedisRefreshLock.make(client, { keyPrefix: prefix }))
      let holders = 0
      let most = 0
      let runs = 0
      yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) =>
          i),
        (i) =>
          locks[i % 2].withLock(
            "wx1:oUser",
            Effect.gen(function*() {
              holders++
              most = Math.max(most, holders)
              yield* Effect.sleep("5 millis")
              holders--
              runs++
            })
          ),
        { concurrency: "unbounded", discard: true }
      )
      assert.strictEqual(runs, 20)
      assert.strictEqual(most, 1)
    }))

  /** Reads until the access token is `access`; how long it took. */
  const untilSeen = (store: TokenStore.TokenStoreShape, appId: string, openid: string, access: string) =>
    Effect.gen(function*() {
      const start = Date.now()
      for (let i = 0; i < 5000; i++) {
        if (accessOf(yield* store.get(appId, openid)) === access) return Date.now() - start
        yield* Effect.sleep("1 millis")
      }
      return assert.fail("the write was never seen")
    })

  it.scopedLive("the near cache is fed by every node, replicas included, and sees another client's write", () =>
    Effect.gen(function*() {
      const prefix = randomPrefix()
      const reader = connect()
      const store = yield* RedisTokenStore.makeScoped(reader.client, { keyPrefix: prefix })
      const writer = yield* RedisTokenStore.make(connect().client, { keyPrefix: prefix })
      const appId = "wxcluster0000001"
      const first = yield* makeToken()
      yield* writer.set(appId, first)
      yield* untilServedFromMemory(store, reader.count, appId, first.openid, 500)
      // ioredis learns of the replicas from its slot refreshes (every second here), so the feed of a
      // replica may start after the primaries' feeds made the cache live: wait for it, for a bounded time
      const tracking = Effect.promise(() =>
        Promise.all(
          cluster.nodes.map((node) =>
            onNode(node.port, async (redis) =>
              ((await redis.client("LIST")) as string).split("\n").filter((line) =>
                line.includes(` name=${reader.name}-near-cache `) && / flags=\S*t/.test(line)
              ).length)
          )
        )
      )
      let feeds = yield* tracking
      for (let i = 0; i < 50 && feeds.some((n) => n !== 1); i++) {
        yield* Effect.sleep("100 millis")
        feeds = yield* tracking
      }
      assert.deepStrictEqual(feeds, [1, 1, 1, 1, 1, 1], "one tracking connection on each of the 6 nodes")
      const second = yield* makeToken({ openid: first.openid, obtainedAt: first.obtainedAt + 1 })
      yield* writer.set(appId, second)
      assert.isBelow(yield* untilSeen(store, appId, first.openid, Redacted.value(second.accessToken)), 250)
    }))

  describe("moving the slot of a user in use", () => {
    const app = Sandbox.defaultApps.officialAccount
    const SandboxLive = Sandbox.layerServer({ port: 0 }).pipe(Layer.provideMerge(Sandbox.layer()))
    const prefix = randomPrefix()

    /** A WeChatOAuth on a Cluster client of its own: its store (near cache on) and lock. */
    const instance = (url: string) =>
      Effect.gen(function*() {
        const { client, count } = connect()
        const store = yield* RedisTokenStore.makeScoped(client, { keyPrefix: prefix })
        const lock = yield* RedisRefreshLock.make(client, { keyPrefix: prefix })
        const context = yield* Layer.build(WeChatOAuth.layer.pipe(Layer.provide(Layer.mergeAll(
          WeChatConfig.layer({ appId: app.appId, appSecret: app.secret, apiBaseUrl: url, openBaseUrl: url }),
          WeChatHttpClient.layer(),
          Layer.succeed(TokenStore.TokenStore, store),
          Layer.succeed(RefreshLock.RefreshLock, lock)
        ))))
        return { oauth: Context.get(context, WeChatOAuth.WeChatOAuth), client, store, lock, count }
      })

    /** Every failure is a typed error of ours, not a defect nor an interruption. */
    const typedOnly = (exits: ReadonlyArray<Exit.Exit<unknown, unknown>>, what: string) => {
      for (const exit of exits) {
        if (Exit.isSuccess(exit)) continue
        assert.isTrue(Cause.isFailType(exit.cause), `${what}: ${Cause.pretty(exit.cause)}`)
        const error = Cause.squash(exit.cause) as { readonly _tag?: unknown }
        assert.isString(error._tag, `${what}: a tagged error`)
      }
    }

    it.scopedLive(
      "a manual failover during a refresh storm, then a killed primary: 1 refresh each, no token lost",
      () =>
        Effect.gen(function*() {
          const sandbox = yield* Sandbox.Sandbox
          const { url } = yield* SandboxServer.SandboxServer
          const a = yield* instance(url)
          const b = yield* instance(url)

          const callback = yield* sandbox.approve({
            appId: app.appId,
            user: "alice",
            scope: "snsapi_userinfo",
            redirectUri: "https://example.com/wechat/callback"
          })
          const token = yield* a.oauth.exchangeCode(new URL(callback).searchParams.get("code")!)
          const slot = yield* keySlot(RedisTokenStore.tokenKey(app.appId, token.openid, prefix))

          /** Expires the stored token, warms b's near cache, and runs a storm of 10 getUser on both. */
          const storm = (during: Effect.Effect<void>) =>
            Effect.gen(function*() {
              yield* sandbox.advanceClock("3 hours")
              const now = yield* Clock.currentTimeMillis
              const stored = Option.getOrThrow(yield* a.store.get(app.appId, token.openid))
              yield* a.store.set(app.appId, new OAuthToken.OAuthToken({ ...stored, expiresAt: now - 60_000 }))
              yield* untilServedFromMemory(b.store, b.count, app.appId, token.openid, 500)
              yield* sandbox.resetStats
              yield* sandbox.injectFault({ kind: "slow", endpoint: "refresh_token", delayMs: 1000, times: 2 })
              const calls = yield* Effect.forEach(
                Array.from({ length: 10 }, (_, i) => i),
                (i) =>
                  Effect.fork(
                    Effect.exit((i % 2 === 0 ? a : b).oauth.getUser(token.openid).pipe(Effect.timeout("20 seconds")))
                  ).pipe(Effect.zipLeft(Effect.sleep("20 millis")))
              )
              yield* during
              const exits = yield* Effect.forEach(calls, Fiber.join)
              typedOnly(exits, "getUser in the storm")
              const refreshed = Option.getOrThrow(yield* b.store.get(app.appId, token.openid))
              assert.isTrue(refreshed.expiresAt > now, "the refreshed token is stored")
              return { refreshes: (yield* sandbox.stats).refresh_token, exits, refreshed }
            })

          // 1. the user's primary hands over to its replica while the refresher holds the lock
          const before = yield* Effect.promise(() => cluster.ownersOf(slot))
          const manual = yield* storm(
            Effect.promise(async () => {
              await onNode(before.replica!, (redis) => redis.cluster("FAILOVER"))
              await until(
                "the replica to take over",
                async () => (await cluster.ownersOf(slot)).primary === before.replica
              )
              await cluster.settled(slot)
            })
          )
          assert.strictEqual((yield* Effect.promise(() => cluster.ownersOf(slot))).primary, before.replica)
          assert.strictEqual(manual.refreshes, 1, "one refresh for the storm across the failover")
          assert.isTrue(manual.exits.every(Exit.isSuccess), "a manual failover loses no call")

          // the token is on the replica too before its primary dies: Redis replicates asynchronously
          const key = RedisTokenStore.tokenKey(app.appId, token.openid, prefix)
          const after = yield* Effect.promise(() => cluster.ownersOf(slot))
          const value = yield* Effect.promise(() => onNode(after.primary, (redis) => redis.hget(key, "v")))
          yield* Effect.promise(() =>
            until("the token on the replica", () =>
              onNode(after.replica!, async (redis) => {
                await redis.readonly()
                return (await redis.hget(key, "v")) === value
              }))
          )

          // 2. the primary is killed while both clients keep using the user. The lock here has a short
          // life: a release lost with the dying primary leaves the lock until its TTL (by design; the
          // default 20 s would outlast the round's 15 s bound), and a waiter then gets RefreshLockTimeout
          const briefLock = yield* RedisRefreshLock.make(b.client, {
            keyPrefix: prefix,
            lockTtl: "2 seconds",
            waitTimeout: "4 seconds"
          })
          let running = true
          const load = yield* Effect.fork(Effect.gen(function*() {
            const exits: Array<Exit.Exit<unknown, unknown>> = []
            while (running) {
              const memo = new TokenStore.CodeMemo({
                openid: token.openid,
                exchangedAt: 0,
                expiresAt: Date.now() + 1000
              })
              const round = yield* Effect.all([
                Effect.exit(a.store.get(app.appId, token.openid)),
                Effect.exit(b.store.get(app.appId, token.openid)),
                Effect.exit(briefLock.withLock(`${app.appId}:${token.openid}`, Effect.void)),
                Effect.exit(a.store.rememberCode(app.appId, TokenStore.hashCode(String(Math.random())), memo))
              ], { concurrency: "unbounded" }).pipe(Effect.timeout("15 seconds"))
              exits.push(...round)
              yield* Effect.sleep("20 millis")
            }
            return exits
          }))
          yield* Effect.sleep("200 millis")
          cluster.kill(after.primary)
          yield* Effect.promise(async () => {
            await until(
              "the replica to replace the killed primary",
              async () => (await cluster.ownersOf(slot)).primary === after.replica,
              20_000
            )
            await cluster.settled(slot)
          })
          yield* Effect.sleep("1500 millis")
          running = false
          const exits = yield* Fiber.join(load)
          typedOnly(exits, "store and lock while the primary was killed")
          const failures = exits.filter(Exit.isFailure).length
          assert.isTrue(exits.length - failures > 0, "calls succeeded around the move")

          // no token lost
          const survived = yield* a.store.get(app.appId, token.openid).pipe(
            Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.compose(Schedule.recurs(20))))
          )
          assert.strictEqual(accessOf(survived), Redacted.value(manual.refreshed.accessToken))

          // the near cache is back on the new topology, and sees writes
          const newer = new OAuthToken.OAuthToken({ ...manual.refreshed, obtainedAt: manual.refreshed.obtainedAt + 1 })
          yield* untilServedFromMemory(b.store, b.count, app.appId, token.openid, 500)
          yield* a.store.set(app.appId, newer)
          assert.isBelow(yield* untilSeen(b.store, app.appId, token.openid, Redacted.value(newer.accessToken)), 250)

          // 3. a storm on the new primary: still one refresh
          const killed = yield* storm(Effect.void)
          assert.strictEqual(killed.refreshes, 1, "one refresh for the storm after the killed primary")
          assert.isTrue(killed.exits.every(Exit.isSuccess))
        }).pipe(Effect.provide(SandboxLive)),
      60_000
    )
  })
})
