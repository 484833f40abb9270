/**
 * The store's `timeout` is a bound on each operation, met even when the database goes silent in the
 * middle of a query: PostgreSQL and MariaDB behind a TCP proxy that stops forwarding bytes (the
 * connections stay open), SQLite with its file locked by another connection. Each operation fails
 * with a `TokenStoreError` at the deadline, whatever the driver's own cancellation then takes, and
 * the client opens no more connections than its pool allows.
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { TokenStore, WeChatError } from "@wxauth/core"
import { makeToken, randomAppId } from "@wxauth/core/testing"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Path from "node:path"
import { type Database, forEachDatabase, sqliteFile, storeOver } from "./databases.js"
import { makeProxy } from "./proxy.js"

/** The store's timeout in these tests, and the most an operation may take beyond it. */
const timeoutMillis = 1000
const marginMillis = 1000

/** Every operation of the store, each on its own user or code. */
const operations = (store: TokenStore.TokenStoreShape, appId: string) =>
  Effect.map(makeToken(), (token) =>
    [
      ["get", store.get(appId, token.openid)],
      ["set", store.set(appId, token)],
      ["remove", store.remove(appId, token.openid)],
      [
        "rememberCode",
        store.rememberCode(
          appId,
          "c".repeat(64),
          new TokenStore.CodeMemo({
            openid: token.openid,
            exchangedAt: token.obtainedAt,
            expiresAt: token.obtainedAt + 300_000
          })
        )
      ],
      ["recallCode", store.recallCode(appId, "c".repeat(64))]
    ] as const)

/** Runs `effect`, which must fail with a `TokenStoreError` for `operation`; returns it and the time it took. */
const failsTimed = <A>(operation: string, effect: Effect.Effect<A, WeChatError.TokenStoreError>) =>
  Effect.gen(function*() {
    const start = Date.now()
    const error = yield* Effect.flip(effect)
    const elapsed = Date.now() - start
    assert.instanceOf(error, WeChatError.TokenStoreError)
    assert.strictEqual(error.operation, operation)
    return { error, elapsed }
  })

const assertWithinTimeout = (operation: string, elapsed: number) => {
  assert.isAtMost(
    elapsed,
    timeoutMillis + marginMillis,
    `${operation} took ${elapsed} ms with a timeout of ${timeoutMillis} ms`
  )
}

/** A client of `db` through a proxy, and the proxy. */
const viaProxy = (db: Database) =>
  Effect.map(
    makeProxy({ host: db.host, port: db.port }),
    (proxy) => ({ proxy, client: db.client({ host: "127.0.0.1", port: proxy.port }) })
  )

forEachDatabase((db) => {
  if (db.dialect === "sqlite") return
  describe(`SqlTokenStore on ${db.name}: a database gone silent mid-query`, () => {
    it.scopedLive(
      `every operation fails with a TokenStoreError within the timeout (${timeoutMillis} ms + ${marginMillis} ms)`,
      () =>
        Effect.gen(function*() {
          const { client, proxy } = yield* viaProxy(db)
          const store = yield* storeOver(client, db.client(), timeoutMillis)
          const appId = randomAppId()
          const token = yield* makeToken()
          yield* store.set(appId, token)
          assert.isTrue(Option.isSome(yield* store.get(appId, token.openid)))

          yield* proxy.pause
          for (const [operation, effect] of yield* operations(store, appId)) {
            const { elapsed, error } = yield* failsTimed<unknown>(operation, effect)
            assertWithinTimeout(operation, elapsed)
            assert.include(error.description, `no answer from the database within`)
          }
          // from a caller's uninterruptible region (an acquire step, a finaliser) too: the deadline
          // used to wait there for the silent query to be interrupted
          for (const [operation, effect] of yield* operations(store, appId)) {
            const { elapsed } = yield* failsTimed<unknown>(
              operation,
              Effect.uninterruptible<unknown, WeChatError.TokenStoreError, never>(effect)
            )
            assertWithinTimeout(`${operation} (uninterruptible caller)`, elapsed)
          }

          // the database answers again: so does the store, on the same client
          yield* proxy.resume
          const found = yield* store.get(appId, token.openid).pipe(
            Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("15 seconds")))
          )
          assert.isTrue(Option.isSome(found))
        }),
      { timeout: 60_000 }
    )

    it.scopedLive(
      "many operations at once against a silent database: each ends within the timeout, connections stay bounded",
      () =>
        Effect.gen(function*() {
          const { client, proxy } = yield* viaProxy(db)
          const store = yield* storeOver(client, db.client(), timeoutMillis)
          const appId = randomAppId()
          const token = yield* makeToken()
          yield* store.set(appId, token)

          yield* proxy.pause
          const results = yield* Effect.forEach(
            Array.from({ length: 40 }, (_, i) => i),
            (i) =>
              failsTimed(
                i % 2 === 0 ? "get" : "set",
                i % 2 === 0 ? store.get(appId, token.openid) : store.set(appId, token)
              ),
            { concurrency: "unbounded" }
          )
          for (const { elapsed } of results) assertWithinTimeout("one of 40 operations", elapsed)

          // the abandoned queries and the drivers' cancellations go on in the background, within the pool
          yield* Effect.sleep("3 seconds")
          yield* proxy.resume
          const found = yield* store.get(appId, token.openid).pipe(
            Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("15 seconds")))
          )
          assert.isTrue(Option.isSome(found))
          // both drivers' pools allow 10 connections (MariaDB's closes a released connection, which may
          // overlap with its replacement): the count follows the pool, not the 40 operations
          assert.isAtMost(proxy.peakConnections(), 12, "connections open at once through the proxy")
        }),
      { timeout: 60_000 }
    )
  })
})

forEachDatabase((db) => {
  describe(`SqlTokenStore on ${db.name}: a caller in an uninterruptible region`, () => {
    it.scopedLive("an outside interruption does not cut its write: the token is stored", () =>
      Effect.gen(function*() {
        const store = yield* storeOver(db.client(), db.client(), timeoutMillis)
        const appId = randomAppId()
        for (let i = 0; i < 5; i++) {
          const token = yield* makeToken()
          const fiber = yield* Effect.fork(Effect.uninterruptible(store.set(appId, token)))
          yield* Effect.sleep(`${i} millis`)
          yield* Fiber.interrupt(fiber)
          // the uninterruptible region said the write runs to its end; before, the interruption
          // reached it through the deadline's race
          assert.isTrue(Option.isSome(yield* store.get(appId, token.openid)), `write ${i} was cut`)
        }
      }), { timeout: 30_000 })
  })
})

describe("SqlTokenStore on SQLite: a database file locked by another connection", () => {
  // A file of its own in rollback-journal mode, where a writer's EXCLUSIVE lock keeps readers out too
  // (in WAL mode readers go on reading the last commit, which is the right answer, not a hang).
  const file = Path.join(Path.dirname(sqliteFile), `locked-${process.pid}.sqlite`)
  const client = () => SqliteClient.layer({ filename: file, disableWAL: true })

  it.scopedLive(
    `every operation fails with a TokenStoreError within the timeout (${timeoutMillis} ms + ${marginMillis} ms)`,
    () =>
      Effect.gen(function*() {
        const store = yield* storeOver(client(), client(), timeoutMillis)
        const appId = randomAppId()
        const token = yield* makeToken()
        yield* store.set(appId, token)

        // another connection takes the file's exclusive lock and keeps it
        const locker = yield* Effect.provide(SqlClient.SqlClient, yield* Layer.build(client()))
        const connection = yield* locker.reserve
        yield* connection.executeUnprepared("BEGIN EXCLUSIVE", [], undefined)
        yield* Effect.addFinalizer(() => Effect.ignore(connection.executeUnprepared("ROLLBACK", [], undefined)))

        for (const [operation, effect] of yield* operations(store, appId)) {
          const { elapsed } = yield* failsTimed<unknown>(operation, effect)
          assertWithinTimeout(operation, elapsed)
        }

        yield* connection.executeUnprepared("ROLLBACK", [], undefined)
        assert.isTrue(Option.isSome(yield* store.get(appId, token.openid)))
      }),
    { timeout: 60_000 }
  )
})
