/**
 * The connection the layers open (`internal/client.ts`):
 *
 * - a URL ioredis would not read as a Redis URL (`redis:/:pw@host`, `tcp://`, `http://`, ...) is an
 *   `InvalidArgument` naming `url`, quoting nothing of it; a unix socket's path is never quoted;
 * - the database index (of the URL or `db`) is an integer of 0 or more, and a database Redis refuses
 *   fails the build, instead of the keys landing in database 0 (or an unhandled rejection);
 * - a connection that goes silent (a frozen proxy: no reset, no answer) is dropped and made again:
 *   calls work again within a few seconds.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { TokenStore, WeChatError } from "@wxauth/core"
import { makeToken, randomAppId } from "@wxauth/core/testing"
import { RedisSessionStore, RedisTokenStore } from "@wxauth/store-redis"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { Redis } from "ioredis"
import { missing, movableProxy, redisServer } from "./servers.js"
import { cleanup, describeRedis, keysUnder, makeAdmin, randomPrefix, redisCall, redisUrl, serviceOf } from "./utils.js"

/** Real time (the connections are real). */
const pause = (millis: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/** The build of a token store with `options`: its exit, and the whole cause as text. */
const build = (options: RedisTokenStore.Options) =>
  Effect.gen(function*() {
    const exit = yield* serviceOf(TokenStore.TokenStore, RedisTokenStore.layer({ nearCache: false, ...options })).pipe(
      Effect.scoped,
      Effect.timeout("20 seconds"),
      Effect.exit
    )
    return { exit, text: Exit.isSuccess(exit) ? "built" : Cause.pretty(exit.cause) }
  })

const invalidArgument = (exit: Exit.Exit<unknown, unknown>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const failure = Cause.failureOption(exit.cause)
  return failure._tag === "Some" && failure.value instanceof WeChatError.InvalidArgument
    ? failure.value.argument
    : undefined
}

const port = new URL(redisUrl).port || "6379"

describeRedis("the connection a layer opens", () => {
  const admin = makeAdmin()
  const prefix = randomPrefix()
  afterAll(async () => {
    await cleanup(admin, prefix)
    admin.disconnect()
  })

  it.live("a mistyped URL is an InvalidArgument naming url, and its password is in no error", () =>
    Effect.gen(function*() {
      for (
        const url of [
          `redis:/:hunter2@127.0.0.1:${port}`,
          `redis//:hunter2@127.0.0.1:${port}`,
          `tcp://:hunter2@127.0.0.1:${port}`,
          `http://:hunter2@127.0.0.1:${port}`,
          `redis-sentinel://:hunter2@127.0.0.1:${port}`,
          `//:hunter2@127.0.0.1:${port}/x`,
          `hunter2@127.0.0.1:${port}/x`
        ]
      ) {
        for (const given of [url, Redacted.make(url)]) {
          const { exit, text } = yield* build({ url: given })
          assert.strictEqual(invalidArgument(exit), "url", `${url}: ${text}`)
          assert.notInclude(text, "hunter2", url)
        }
      }
    }))

  it.live("a unix socket's path is never quoted", () =>
    Effect.gen(function*() {
      const { exit, text } = yield* build({
        url: "/tmp/no-such-dir-hunter2/redis.sock",
        connectTimeout: "500 millis",
        retryStrategy: () => null
      })
      assert.isTrue(Exit.isFailure(exit))
      assert.include(text, "a unix socket")
      assert.include(text, "ENOENT")
      assert.notInclude(text, "hunter2")
      const viaPath = yield* build({ path: "/tmp/no-such-dir-hunter2/redis.sock", retryStrategy: () => null })
      assert.include(viaPath.text, "a unix socket")
      assert.notInclude(viaPath.text, "hunter2")
    }))

  it.live("a database index that is not an integer of 0 or more is an InvalidArgument", () =>
    Effect.gen(function*() {
      const unhandled: Array<unknown> = []
      const onUnhandled = (reason: unknown) => unhandled.push(reason)
      process.on("unhandledRejection", onUnhandled)
      try {
        for (const path of ["abc", "1.5", "-1", "1/2", "1x"]) {
          const { exit, text } = yield* build({ url: `${redisUrl}/${path}` })
          assert.strictEqual(invalidArgument(exit), "url", `${path}: ${text}`)
        }
        const query = yield* build({ url: `${redisUrl}?db=abc` })
        assert.strictEqual(invalidArgument(query.exit), "url", query.text)
        for (const db of [-1, 1.5, Number.NaN, "", "-1", "1.5", " 2", "2x", "abc"]) {
          const { exit, text } = yield* build({ url: redisUrl, db: db as number })
          assert.strictEqual(invalidArgument(exit), "db", `${db}: ${text}`)
        }
        yield* pause(300)
        assert.deepStrictEqual(unhandled, [])
      } finally {
        process.off("unhandledRejection", onUnhandled)
      }
    }))

  it.live("host:port and //host:port (with /<db>) are redis:// URLs, and a db of digits is that database", () =>
    Effect.gen(function*() {
      // the forms ioredis 5 reads so, and which worked before the URL was checked
      const hostPort = `${new URL(redisUrl).hostname}:${port}`
      const built: Array<{ readonly options: RedisTokenStore.Options; readonly db: number }> = [
        { options: { url: hostPort }, db: 0 },
        { options: { url: `//${hostPort}` }, db: 0 },
        { options: { url: `${hostPort}/4` }, db: 4 },
        { options: { url: `//${hostPort}/4` }, db: 4 },
        { options: { url: Redacted.make(`//${hostPort}/4`) }, db: 4 },
        { options: { url: redisUrl, db: "4" as unknown as number }, db: 4 },
        { options: { url: hostPort, db: "0" as unknown as number }, db: 0 }
      ]
      for (const [i, { db, options }] of built.entries()) {
        const own = `${prefix}forms${i}:`
        const appId = randomAppId()
        const token = yield* makeToken()
        const written = yield* serviceOf(
          TokenStore.TokenStore,
          RedisTokenStore.layer({ ...options, keyPrefix: own, nearCache: false })
        ).pipe(
          Effect.flatMap((store) => store.set(appId, token)),
          Effect.scoped,
          Effect.timeout("20 seconds"),
          Effect.exit
        )
        const label = `${JSON.stringify(options.url)} db ${JSON.stringify(options.db)}`
        assert.isTrue(
          Exit.isSuccess(written),
          `${label}: ${Exit.isFailure(written) ? Cause.pretty(written.cause) : ""}`
        )
        const inDb = new Redis(`${redisUrl}/${db}`, { lazyConnect: true })
        inDb.on("error", () => {})
        const keys = yield* redisCall(() => keysUnder(inDb, own)).pipe(
          Effect.ensuring(Effect.promise(() => cleanup(inDb, own).then(() => inDb.disconnect())))
        )
        assert.isAbove(keys.length, 0, `${label}: the keys are in database ${db}`)
      }
    }))

  it.live("a database Redis refuses fails the build; one it has gets the keys", () =>
    Effect.gen(function*() {
      const unhandled: Array<unknown> = []
      const onUnhandled = (reason: unknown) => unhandled.push(reason)
      process.on("unhandledRejection", onUnhandled)
      try {
        for (const options of [{ url: `${redisUrl}/99999` }, { url: redisUrl, db: 99999 }]) {
          const { exit, text } = yield* build({ ...options, keyPrefix: prefix })
          assert.isTrue(Exit.isFailure(exit), text)
          const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : undefined
          assert.instanceOf(failure?._tag === "Some" ? failure.value : undefined, WeChatError.TokenStoreError, text)
          assert.include(text, "database 99999")
        }
        const refusedSessions = yield* Layer.build(RedisSessionStore.layer({ url: `${redisUrl}/99999` })).pipe(
          Effect.scoped,
          Effect.either
        )
        assert.isTrue(Either.isLeft(refusedSessions))
        yield* pause(300)
        assert.deepStrictEqual(unhandled, [])
      } finally {
        process.off("unhandledRejection", onUnhandled)
      }

      // database 3: the keys are there, not in 0
      const own = `${prefix}db3:`
      const appId = randomAppId()
      const token = yield* makeToken()
      const store = yield* serviceOf(
        TokenStore.TokenStore,
        RedisTokenStore.layer({ url: `${redisUrl}/3`, keyPrefix: own, nearCache: false })
      )
      yield* store.set(appId, token)
      const db3 = new Redis(`${redisUrl}/3`, { lazyConnect: true })
      db3.on("error", () => {})
      yield* Effect.addFinalizer(() => Effect.promise(() => cleanup(db3, own).then(() => db3.disconnect())))
      assert.isAbove((yield* redisCall(() => keysUnder(db3, own))).length, 0, "the keys are in database 3")
      assert.lengthOf(yield* redisCall(() => keysUnder(admin, own)), 0, "and none in database 0")
    }).pipe(Effect.scoped))

  it.live("a socketTimeout that is not a positive integer of milliseconds is an InvalidArgument", () =>
    Effect.gen(function*() {
      for (const socketTimeout of [0, -1, 1.5, Number.NaN, Infinity, "1000", 2 ** 31]) {
        const { exit, text } = yield* build({ url: redisUrl, socketTimeout: socketTimeout as number })
        assert.strictEqual(invalidArgument(exit), "socketTimeout", `${socketTimeout}: ${text}`)
      }
    }))
})

describe.skipIf(missing !== undefined)("a connection that goes silent", () => {
  it.live("is made again: calls work within a few seconds of the freeze", () =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const proxy = yield* movableProxy(server.port)
      const store = yield* serviceOf(
        TokenStore.TokenStore,
        RedisTokenStore.layer({ url: proxy.url, commandTimeout: "500 millis", nearCache: false })
      )
      const appId = randomAppId()
      const token = yield* makeToken()
      yield* store.set(appId, token)
      assert.isTrue((yield* store.get(appId, token.openid))._tag === "Some")

      proxy.freeze()
      const frozen = yield* Effect.either(store.get(appId, token.openid))
      assert.isTrue(Either.isLeft(frozen), "a call on the frozen connection fails")

      // socketTimeout (commandTimeout + 1 s) drops the silent connection; ioredis connects again
      const start = Date.now()
      let recovered = false
      while (!recovered && Date.now() - start < 8000) {
        const result = yield* Effect.either(store.get(appId, token.openid))
        recovered = Either.isRight(result) && result.right._tag === "Some"
        if (!recovered) yield* pause(100)
      }
      assert.isTrue(recovered, "calls work again")
      assert.isBelow(Date.now() - start, 5000, "within a few seconds")
    }).pipe(Effect.scoped), 30_000)
})
