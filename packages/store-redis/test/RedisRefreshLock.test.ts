/**
 * RedisRefreshLock against a real Redis: mutual exclusion across connections, release only by the
 * owner, waiters that time out or are interrupted, a crashed holder, a down Redis, and no lock key
 * left behind.
 */
import { afterAll, assert, it } from "@effect/vitest"
import { RefreshLock, WeChatError } from "@wxauth/core"
import { randomAppId, randomOpenId } from "@wxauth/core/testing"
import { RedisRefreshLock, RedisTokenStore } from "@wxauth/store-redis"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as TestClock from "effect/TestClock"
import * as Util from "node:util"
import {
  cleanup,
  describeRedis,
  keysUnder,
  layerFailure,
  luaMemory,
  makeAdmin,
  quietClient,
  randomPrefix,
  redisUrl,
  refusedUrl,
  serviceOf
} from "./utils.js"

describeRedis("RedisRefreshLock", () => {
  const prefix = randomPrefix()
  const admin = makeAdmin()
  afterAll(async () => {
    await cleanup(admin, prefix)
    await admin.quit()
  })

  /** A lock on a connection of its own, for the scope. */
  const openLock = (options?: RedisRefreshLock.Options) =>
    serviceOf(RefreshLock.RefreshLock, RedisRefreshLock.layer({ url: redisUrl, keyPrefix: prefix, ...options }))

  const userKey = () => `${randomAppId()}:${randomOpenId()}`
  const exists = (key: string) => Effect.promise(() => admin.exists(RedisRefreshLock.lockKey(key, prefix)))

  it("the lock key shares the hash tag of the user's token key", () => {
    const appId = randomAppId()
    const openid = randomOpenId()
    const lock = RedisRefreshLock.lockKey(`${appId}:${openid}`, prefix)
    const token = RedisTokenStore.tokenKey(appId, openid, prefix)
    assert.strictEqual(lock, `${prefix}{${appId}:${openid}}:lock`)
    const tag = (key: string) => /\{([^}]*)\}/.exec(key)![1]
    assert.strictEqual(tag(lock), tag(token))
  })

  it.scopedLive("concurrent withLock on one key never overlap, across two connections", () =>
    Effect.gen(function*() {
      const locks = [yield* openLock(), yield* openLock()]
      const key = userKey()
      let inFlight = 0
      let maxInFlight = 0
      let runs = 0
      const body = Effect.sync(() => {
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
      }).pipe(
        Effect.zipRight(Effect.sleep("3 millis")),
        Effect.zipRight(Effect.sync(() => {
          inFlight--
          runs++
        }))
      )
      yield* Effect.forEach(
        Array.from({ length: 24 }, (_, i) => i),
        (i) => locks[i % 2].withLock(key, body),
        { concurrency: "unbounded", discard: true }
      )
      assert.strictEqual(runs, 24)
      assert.strictEqual(maxInFlight, 1)
      assert.strictEqual(yield* exists(key), 0)
    }))

  it.scopedLive("the lock holds the key with the lock TTL while the effect runs", () =>
    Effect.gen(function*() {
      const lock = yield* openLock({ lockTtl: "7 seconds" })
      const key = userKey()
      const ttl = yield* lock.withLock(
        key,
        Effect.promise(() => admin.pttl(RedisRefreshLock.lockKey(key, prefix)))
      )
      assert.isTrue(ttl > 6000 && ttl <= 7000, `PTTL ${ttl} should be about 7 s`)
      assert.strictEqual(yield* exists(key), 0)
    }))

  it.scopedLive("different keys do not wait for each other", () =>
    Effect.gen(function*() {
      const lock = yield* openLock({ waitTimeout: "2 seconds" })
      const key = userKey()
      const inner = yield* lock.withLock(key, lock.withLock(userKey(), Effect.succeed("inner ran")))
      assert.strictEqual(inner, "inner ran")
    }))

  it.scopedLive("a holder that works past lockTtl keeps the lock: the heartbeat renews it until the release", () =>
    Effect.gen(function*() {
      const lock = yield* openLock({ lockTtl: "300 millis" })
      const other = yield* openLock({ waitTimeout: "1 second" })
      const key = userKey()
      const held = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(lock.withLock(
        key,
        Deferred.succeed(held, undefined).pipe(Effect.zipRight(Effect.sleep("1500 millis")), Effect.as("done"))
      ))
      yield* Deferred.await(held)
      // a second client waits a whole second, more than three times lockTtl, and never gets in
      let ran = false
      const error = yield* Effect.flip(other.withLock(key, Effect.sync(() => (ran = true))))
      assert.strictEqual(error._tag, "RefreshLockTimeout")
      assert.isFalse(ran)
      const ttl = yield* Effect.promise(() => admin.pttl(RedisRefreshLock.lockKey(key, prefix)))
      assert.isTrue(ttl > 0 && ttl <= 300, `PTTL ${ttl} should stay within lockTtl`)
      assert.strictEqual(yield* Fiber.join(holder), "done")
      assert.strictEqual(yield* exists(key), 0, "the key is gone after the release")
      // and the heartbeat has stopped: nothing brings the key back
      yield* Effect.sleep("250 millis")
      assert.strictEqual(yield* exists(key), 0)
    }))

  it.scopedLive("a lock lost by its holder is neither renewed nor released by it once another has taken it", () =>
    Effect.gen(function*() {
      const short = yield* openLock({ lockTtl: "150 millis" })
      const other = yield* openLock({ lockTtl: "10 seconds" })
      const impatient = yield* openLock({ waitTimeout: "300 millis" })
      const key = userKey()
      const aHolds = yield* Deferred.make<void>()
      const bHolds = yield* Deferred.make<void>()
      const bMayGo = yield* Deferred.make<void>()
      const aLogs = capturingLogger()
      const a = yield* Effect.fork(
        short.withLock(
          key,
          Deferred.succeed(aHolds, undefined).pipe(
            Effect.zipRight(Deferred.await(bHolds)),
            Effect.zipRight(Effect.sleep("300 millis"))
          )
        ).pipe(Effect.provide(aLogs.layer))
      )
      yield* Deferred.await(aHolds)
      // A loses its lock (as when its process stalls past lockTtl, or Redis fails over)
      yield* Effect.promise(() => admin.del(RedisRefreshLock.lockKey(key, prefix)))
      // B gets in, and is still inside when A releases
      const b = yield* Effect.fork(other.withLock(
        key,
        Deferred.succeed(bHolds, undefined).pipe(
          Effect.zipRight(Deferred.await(bMayGo))
        )
      ))
      yield* Fiber.join(a)
      const logs = aLogs.lines.join("\n")
      assert.strictEqual(yield* exists(key), 1, "A's release must not delete B's lock")
      const ttl = yield* Effect.promise(() => admin.pttl(RedisRefreshLock.lockKey(key, prefix)))
      assert.isAbove(ttl, 5000, "A's heartbeat must not shorten B's lock")
      assert.include(logs, "expired")
      assert.include(logs, key.split(":")[0], "the log names the app")
      assert.notInclude(logs, key.split(":")[1], "the log never names the user")
      const result = yield* Effect.either(impatient.withLock(key, Effect.void))
      assert.isTrue(Either.isLeft(result) && result.left._tag === "RefreshLockTimeout")
      yield* Deferred.succeed(bMayGo, undefined)
      yield* Fiber.join(b)
      assert.strictEqual(yield* exists(key), 0)
    }))

  it.scopedLive("a value longer than any owner (20 MB) put under a held lock's key is another's lock: neither renewed nor released, and not fetched", () =>
    Effect.gen(function*() {
      const lock = yield* openLock({ lockTtl: "300 millis" })
      const key = userKey()
      const redisKey = RedisRefreshLock.lockKey(key, prefix)
      const big = "x".repeat(20 * 1024 * 1024)
      const logs = capturingLogger()
      const lua = yield* Effect.flatMap(
        lock.withLock(
          key,
          Effect.gen(function*() {
            yield* Effect.promise(() => admin.set(redisKey, big, "PX", 60_000))
            const before = yield* luaMemory(admin)
            // the heartbeat beats every 100 ms: three renewals would find the key
            yield* Effect.sleep("350 millis")
            return before
          })
        ).pipe(Effect.provide(logs.layer)),
        (before) => Effect.map(luaMemory(admin), (after) => after - before)
      )
      assert.isBelow(lua, 1024 * 1024, "renew or release fetched the value into its script")
      assert.strictEqual(yield* Effect.promise(() => admin.strlen(redisKey)), big.length, "the release left it")
      assert.isAbove(yield* Effect.promise(() => admin.pttl(redisKey)), 30_000, "no renewal shortened it")
      assert.include(logs.lines.join("\n"), "expired")
      yield* Effect.promise(() => admin.del(redisKey))
    }))

  it.scopedLive("a waiter gives up with RefreshLockTimeout after waitTimeout, without running its effect", () =>
    Effect.gen(function*() {
      const holder = yield* openLock()
      const waiter = yield* openLock({ waitTimeout: "300 millis" })
      const key = userKey()
      const held = yield* Deferred.make<void>()
      const done = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        holder.withLock(key, Deferred.succeed(held, undefined).pipe(Effect.zipRight(Deferred.await(done))))
      )
      yield* Deferred.await(held)
      let ran = false
      const error = yield* Effect.flip(waiter.withLock(key, Effect.sync(() => (ran = true))))
      assert.instanceOf(error, WeChatError.RefreshLockTimeout)
      assert.strictEqual(error.key, key)
      assert.strictEqual(error.waitedMillis, 300)
      assert.isFalse(ran)
      yield* Deferred.succeed(done, undefined)
      yield* Fiber.join(fiber)
      assert.strictEqual(yield* exists(key), 0)
    }))

  it.scopedLive("an uninterruptible waiter gives up at waitTimeout too, while the holder still holds", () =>
    Effect.gen(function*() {
      const holder = yield* openLock()
      const waiter = yield* openLock({ waitTimeout: "300 millis" })
      const key = userKey()
      const held = yield* Deferred.make<void>()
      const done = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        holder.withLock(key, Deferred.succeed(held, undefined).pipe(Effect.zipRight(Deferred.await(done))))
      )
      yield* Deferred.await(held)
      let ran = false
      const pinned = yield* Effect.fork(
        Effect.flip(Effect.uninterruptible(waiter.withLock(key, Effect.sync(() => (ran = true)))))
      )
      // the holder keeps the lock (renewed) for as long as the test lets it: 3 s at most here
      const answered = yield* Fiber.join(pinned).pipe(Effect.timeout("3 seconds"), Effect.either)
      yield* Deferred.succeed(done, undefined)
      yield* Fiber.join(fiber)
      assert.isTrue(
        Either.isRight(answered),
        "the uninterruptible waiter (waitTimeout 300 ms) still waited after 3 s, while the holder held"
      )
      if (Either.isRight(answered)) assert.instanceOf(answered.right, WeChatError.RefreshLockTimeout)
      assert.isFalse(ran)
      yield* Fiber.await(pinned)
      assert.strictEqual(yield* exists(key), 0)
      assert.strictEqual(yield* waiter.withLock(key, Effect.succeed("free")), "free")
    }))

  it.scopedLive("a waiter gets the lock once the holder releases it", () =>
    Effect.gen(function*() {
      const lock = yield* openLock()
      const key = userKey()
      const order: Array<string> = []
      const held = yield* Deferred.make<void>()
      const first = yield* Effect.fork(lock.withLock(
        key,
        Deferred.succeed(held, undefined).pipe(
          Effect.zipRight(Effect.sleep("100 millis")),
          Effect.zipRight(Effect.sync(() => order.push("first")))
        )
      ))
      yield* Deferred.await(held)
      yield* lock.withLock(key, Effect.sync(() => order.push("second")))
      yield* Fiber.join(first)
      assert.deepStrictEqual(order, ["first", "second"])
    }))

  it.scoped("waiting runs on real time: a TestClock in context does not stall a waiter", () =>
    Effect.gen(function*() {
      const lock = yield* openLock()
      const key = userKey()
      const held = yield* Deferred.make<void>()
      const first = yield* Effect.fork(lock.withLock(
        key,
        Deferred.succeed(held, undefined).pipe(Effect.zipRight(Effect.promise(() => sleep(100))))
      ))
      yield* Deferred.await(held)
      // no TestClock.adjust: the waiter must still poll, on the live clock
      const result = yield* lock.withLock(key, Effect.succeed("got it"))
      assert.strictEqual(result, "got it")
      yield* Fiber.join(first)
      yield* TestClock.adjust("1 second")
    }))

  it.scopedLive("an interrupted waiter leaves no lock behind", () =>
    Effect.gen(function*() {
      const lock = yield* openLock()
      const key = userKey()
      const held = yield* Deferred.make<void>()
      const done = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(
        lock.withLock(key, Deferred.succeed(held, undefined).pipe(Effect.zipRight(Deferred.await(done))))
      )
      yield* Deferred.await(held)
      const waiters = yield* Effect.forEach(
        [1, 2, 3],
        () => Effect.fork(lock.withLock(key, Effect.void)),
        { concurrency: "unbounded" }
      )
      yield* Effect.sleep("100 millis")
      yield* Fiber.interruptAll(waiters)
      yield* Deferred.succeed(done, undefined)
      yield* Fiber.join(holder)
      assert.strictEqual(yield* exists(key), 0)
      const quick = yield* openLock({ waitTimeout: "1 second" })
      assert.strictEqual(yield* quick.withLock(key, Effect.succeed("free")), "free")
    }))

  it.scopedLive("the effect's failure goes through, and the lock is released", () =>
    Effect.gen(function*() {
      const lock = yield* openLock()
      const key = userKey()
      const error = yield* Effect.flip(lock.withLock(key, Effect.fail("boom" as const)))
      assert.strictEqual(error, "boom")
      assert.strictEqual(yield* exists(key), 0)
      const defect = yield* Effect.exit(lock.withLock(key, Effect.die("bang")))
      assert.strictEqual(defect._tag, "Failure")
      assert.strictEqual(yield* exists(key), 0)
    }))

  it.scopedLive("a crashed holder's lock is taken once it expires", () =>
    Effect.gen(function*() {
      const lock = yield* openLock({ waitTimeout: "10 seconds" })
      const key = userKey()
      yield* Effect.promise(() => admin.set(RedisRefreshLock.lockKey(key, prefix), "crashed-owner", "PX", 300))
      const result = yield* lock.withLock(key, Effect.succeed("after expiry"))
      assert.strictEqual(result, "after expiry")
      assert.strictEqual(yield* exists(key), 0)
    }))

  it.scopedLive("with Redis down, the layer fails with TokenStoreError and a caller's client's lock fails fast", () =>
    Effect.gen(function*() {
      const built = yield* layerFailure(RedisRefreshLock.layer({ url: refusedUrl }))
      assert.strictEqual(built._tag, "TokenStoreError")

      const client = yield* quietClient(refusedUrl, { lazyConnect: true })
      const lock = yield* RedisRefreshLock.make(client, { commandTimeout: "300 millis" })
      let ran = false
      const error = yield* Effect.flip(lock.withLock(userKey(), Effect.sync(() => (ran = true)))).pipe(
        Effect.timeout("20 seconds")
      )
      assert.strictEqual(error._tag, "RefreshLockTimeout")
      assert.isFalse(ran)
      assert.instanceOf(error.cause, Error, "the Redis failure is the cause")
      assert.match((error.cause as Error).message, /did not answer/)
    }))

  it.effect("a Redis error while taking the lock is the cause, cleaned, and the log names no openid", () =>
    Effect.gen(function*() {
      const appId = randomAppId()
      const openid = randomOpenId()
      const key = `${appId}:${openid}`
      // ioredis attaches the command and its arguments (here the lock key, openid included) to a reply error
      const client = {
        defineCommand: () => {},
        // the take script (EVALSHA) with the lock key first, as ioredis calls a defined command
        wxauthTakeLock: (...args: Array<unknown>) =>
          Promise.reject(
            Object.assign(new Error(`ERR something failed, with args beginning with: '${String(args[0])}'`), {
              name: "ReplyError",
              code: "ERR",
              command: { name: "evalsha", args }
            })
          )
      } as unknown as RedisRefreshLock.RedisClient
      const lock = yield* RedisRefreshLock.make(client)
      let ran = false
      const captured = capturingLogger()
      const error = yield* Effect.flip(lock.withLock(key, Effect.sync(() => (ran = true)))).pipe(
        Effect.provide(captured.layer)
      )
      const logs = captured.lines.join("\n")
      assert.isFalse(ran)
      assert.strictEqual(error._tag, "RefreshLockTimeout")
      const cause = error.cause as Error & { readonly code?: string }
      assert.instanceOf(cause, Error)
      assert.strictEqual(cause.name, "ReplyError")
      assert.strictEqual(cause.code, "ERR")
      assert.strictEqual(cause.message, "ERR something failed")
      assert.notProperty(cause, "command")
      assert.notInclude(Util.inspect(cause, { depth: 10 }), openid)
      assert.include(logs, "Redis failed while taking the refresh lock")
      assert.include(logs, appId)
      assert.notInclude(logs, openid)
    }))

  it.effect("a Redis error's message is cut before its arguments in one pass, whatever runs of spaces it holds", () =>
    Effect.gen(function*() {
      const spaces = " ".repeat(1_000_000)
      const messages = [
        // a megabyte of spaces and no arguments: /,?\s*with args beginning with/i tried each space to the end
        [`ERR busy${spaces}x`, `ERR busy${spaces}x`.slice(0, 300) + "..."],
        [`ERR failed,${spaces}with args beginning with: 'secret'`, "ERR failed"],
        ["ERR failed \t WITH ARGS BEGINNING WITH: 'secret'", "ERR failed"]
      ] as const
      for (const [message, expected] of messages) {
        const client = {
          defineCommand: () => {},
          wxauthTakeLock: () => Promise.reject(Object.assign(new Error(message), { name: "ReplyError", code: "ERR" }))
        } as unknown as RedisRefreshLock.RedisClient
        const lock = yield* RedisRefreshLock.make(client)
        const error = yield* Effect.flip(lock.withLock("wx1:o1", Effect.void)).pipe(
          Effect.provide(capturingLogger().layer)
        )
        assert.strictEqual((error.cause as Error).message, expected)
      }
    }))

  it.scopedLive("a lock key without a TTL is given lockTtl by the first caller that finds it: the user is unblocked", () =>
    Effect.gen(function*() {
      const lock = yield* openLock({ lockTtl: "400 millis", waitTimeout: "5 seconds" })
      const appId = randomAppId()
      const key = `${appId}:${randomOpenId()}`
      const redisKey = RedisRefreshLock.lockKey(key, prefix)
      // planted by hand (or restored without TTLs): SET NX never succeeds on it, and it never expires
      yield* Effect.promise(() => admin.set(redisKey, "not-an-owner"))
      const captured = capturingLogger()
      const start = Date.now()
      const result = yield* Effect.either(lock.withLock(key, Effect.succeed("ran"))).pipe(
        Effect.provide(captured.layer)
      )
      assert.deepStrictEqual(result, Either.right("ran"), "taken once the TTL it was given ran out")
      assert.isAtLeast(Date.now() - start, 300, "not before the TTL it was given ran out")
      assert.isBelow(Date.now() - start, 3000)
      const warnings = captured.lines.filter((line) => line.includes("held without a TTL"))
      assert.strictEqual(warnings.length, 1, "one warning")
      assert.include(warnings[0], appId)
      assert.strictEqual(yield* exists(key), 0)

      // a key with a TTL is left as it is: its PTTL is not reset by waiters
      yield* Effect.promise(() => admin.set(redisKey, "another-holder", "PX", 60_000))
      const waiting = yield* Effect.flip(
        Effect.provide(
          RedisRefreshLock.make(admin, { keyPrefix: prefix, lockTtl: "400 millis", waitTimeout: "300 millis" }),
          captured.layer
        ).pipe(Effect.flatMap((other) => other.withLock(key, Effect.void)))
      )
      assert.strictEqual(waiting._tag, "RefreshLockTimeout")
      assert.isAbove(yield* Effect.promise(() => admin.pttl(redisKey)), 50_000)
      yield* Effect.promise(() => admin.del(redisKey))
    }))

  it.scopedLive("bad options are InvalidArgument, from make and from the layer", () =>
    Effect.gen(function*() {
      const client = yield* quietClient(refusedUrl, { lazyConnect: true })
      for (
        const options of [
          { waitTimeout: -1 },
          { lockTtl: "forever" },
          { poll: 5 },
          // past a timer's limit: a waiter's deadline never set; a TTL Redis refuses on every take
          { waitTimeout: "30 days" },
          { lockTtl: Duration.millis(1e19) }
        ] as Array<RedisRefreshLock.MakeOptions>
      ) {
        const error = yield* Effect.flip(RedisRefreshLock.make(client, options))
        assert.strictEqual(error._tag, "InvalidArgument", JSON.stringify(options))
        const built = yield* layerFailure(RedisRefreshLock.layer({ url: redisUrl, keyPrefix: prefix, ...options }))
        assert.strictEqual(built._tag, "InvalidArgument", JSON.stringify(options))
      }
      // the bound itself is taken
      yield* RedisRefreshLock.make(client, { lockTtl: "24 days", waitTimeout: "24 days" })
    }))

  it.effect("no lock key is left behind", () =>
    Effect.gen(function*() {
      const keys = yield* Effect.promise(() => keysUnder(admin, prefix))
      assert.deepStrictEqual(keys.filter((key) => key.endsWith(":lock")), [])
    }))
})

const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

/** A logger that keeps every line (logfmt, annotations included), as a layer to provide. */
const capturingLogger = () => {
  const lines: Array<string> = []
  const layer = Logger.replace(Logger.defaultLogger, Logger.map(Logger.logfmtLogger, (line) => lines.push(line)))
  return { lines, layer }
}
