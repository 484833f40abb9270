/**
 * A network partition that leaves no trace (packets dropped, no reset: a firewall's or a NAT's state
 * lost), behind a TCP proxy in front of the real PostgreSQL and MariaDB: every connection open
 * then is black-holed for good, new connections get through again once it heals. With the drivers'
 * own sockets the pool keeps the dead connections (`@effect/sql-pg` hands them back after a
 * timed-out statement, `@effect/sql-mysql2` keeps them busy) and the store's operations go on
 * failing at their deadline long after the database is reachable again; with `SqlSocket`'s, a
 * connection silent for `silentAfter` while a request waits is destroyed, and the store answers
 * again within a few seconds.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import type { TokenStore } from "@wxauth/core"
import { WeChatError } from "@wxauth/core"
import { makeToken, randomAppId } from "@wxauth/core/testing"
import { SqlSocket } from "@wxauth/store-sql"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { type Database, forEachDatabase, storeOver } from "./databases.js"
import { makeProxy } from "./proxy.js"

/** The store's timeout here, the sockets' `silentAfter`, and the pool's size. */
const timeoutMillis = 1000
const silentAfterMillis = 1500
const poolSize = 5

/** How long after the partition heals the store must answer again, with `SqlSocket`. */
const recoveryBoundMillis = 5000

/** How long the driver's own sockets are watched after it heals (they do not recover within it). */
const watchedMillis = 8000

/** How long closing the client may take after the partition. */
const closeWithinMillis = 3000

/** The proxy's TLS, for a client over TLS (a self-signed certificate for localhost). */
const tlsFiles = {
  key: Fs.readFileSync(Path.join(__dirname, "fixtures", "tls-localhost.key")),
  cert: Fs.readFileSync(Path.join(__dirname, "fixtures", "tls-localhost.crt"))
}

/** A proxy that ends the TLS of `db`'s protocol. */
const proxyTls = (db: Database) => db.dialect === "pg" ? { pgTls: tlsFiles } : { mysqlTls: tlsFiles }

/** `count` reads and writes at once (alternating): how many succeeded, and the failures. */
const burst = (store: TokenStore.TokenStoreShape, appId: string, count: number) =>
  Effect.gen(function*() {
    const token = yield* makeToken()
    const results = yield* Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (i) => Effect.either(i % 2 === 0 ? store.get(appId, token.openid) : store.set(appId, token)),
      { concurrency: "unbounded" }
    )
    return {
      succeeded: results.filter(Either.isRight).length,
      failures: results.filter(Either.isLeft).map((result) => result.left)
    }
  })

/**
 * The partition, through a proxy, under a store over a client of `db` (with `SqlSocket`'s sockets
 * when `silentAfter` is given): the pool warmed up, the partition (every operation then fails with
 * a `TokenStoreError` near its deadline), then healed. Returns how long after the heal a
 * burst of operations first succeeded in full (followed by two more), or `undefined` when none did
 * within `within` ms, the failures seen after the heal, and how long closing the client took:
 * `undefined` when it had not closed after `closeWithin` ms (the dead connections are then reset,
 * as when the operating system gives up on them, and it closes).
 */
const partitionThenHeal = (db: Database, within: number, silentAfter?: number, tls = false) =>
  Effect.gen(function*() {
    const proxy = yield* makeProxy({ host: db.host, port: db.port }, tls ? proxyTls(db) : {})
    const client = db.client({
      host: "127.0.0.1",
      port: proxy.port,
      maxConnections: poolSize,
      ...(silentAfter === undefined ? {} : { silentAfter: `${silentAfter} millis` }),
      ...(tls ? { ssl: true } : {})
    })
    const scope = yield* Scope.make()
    const store = yield* Scope.extend(storeOver(client, db.client(), timeoutMillis), scope)
    const appId = randomAppId()

    // a warm pool: every connection open (and idle) when the partition comes
    const warm = yield* burst(store, appId, 2 * poolSize)
    assert.strictEqual(warm.succeeded, 2 * poolSize, `warm-up: ${warm.failures.map(String).join("; ")}`)

    // two bursts in the partition, 2.5 s in all: the connections of the first are dead, those made
    // for the second (accepted, then silent) are as dead, and stay so after the heal
    yield* proxy.partition
    for (const pause of ["500 millis", "0 millis"] as const) {
      const start = Date.now()
      const during = yield* burst(store, appId, 2 * poolSize)
      const elapsed = Date.now() - start
      assert.strictEqual(during.succeeded, 0)
      for (const failure of during.failures) assert.instanceOf(failure, WeChatError.TokenStoreError)
      assert.isAtMost(elapsed, timeoutMillis + 1000, `the partitioned operations took ${elapsed} ms`)
      yield* Effect.sleep(pause)
    }

    yield* proxy.heal
    const healed = Date.now()
    const failuresAfter: Array<unknown> = []
    let firstOk: number | undefined = undefined
    let oksInARow = 0
    while (Date.now() - healed < within && oksInARow < 3) {
      const round = Date.now()
      const { failures } = yield* burst(store, appId, 4)
      failuresAfter.push(...failures)
      if (failures.length === 0) {
        firstOk ??= round - healed
        oksInARow++
      } else {
        firstOk = undefined
        oksInARow = 0
      }
      yield* Effect.sleep("100 millis")
    }
    const recoveredAfter = oksInARow >= 3 ? firstOk : undefined
    // a token written now is read back (or not)
    const token = yield* makeToken()
    const readBack = yield* Effect.either(
      Effect.zipRight(store.set(appId, token), store.get(appId, token.openid))
    )

    const closing = Date.now()
    const close = yield* Effect.fork(Scope.close(scope, Exit.void))
    const closed = yield* Effect.timeoutOption(Fiber.await(close), closeWithinMillis)
    const closedAfter = Option.isSome(closed) ? Date.now() - closing : undefined
    if (Option.isNone(closed)) {
      yield* proxy.refuse
      yield* Fiber.await(close)
    }
    return { recoveredAfter, failuresAfter, readBack, closedAfter }
  })

/**
 * With SqlSocket's sockets, plain or over TLS: the store answers again within `recoveryBoundMillis`
 * of the heal, goes on answering, and its client closes.
 */
const recoversWithSqlSocket = (db: Database, tls: boolean) =>
  Effect.gen(function*() {
    const { closedAfter, failuresAfter, readBack, recoveredAfter } = yield* partitionThenHeal(
      db,
      recoveryBoundMillis + 2000,
      silentAfterMillis,
      tls
    )
    console.info(
      `${db.name}${tls ? " over TLS" : ""}, SqlSocket's sockets: ${failuresAfter.length} operations failed after ` +
        `the heal; recovered after ${recoveredAfter} ms; client closed in ${closedAfter} ms`
    )
    for (const failure of failuresAfter) assert.instanceOf(failure, WeChatError.TokenStoreError)
    assert.isDefined(recoveredAfter, `still failing ${recoveryBoundMillis + 2000} ms after the heal`)
    assert.isAtMost(recoveredAfter!, recoveryBoundMillis, "ms from the heal to the first of 3 good bursts")
    // and it stays so: a token written now is read back
    assert.isTrue(Either.isRight(readBack) && Option.isSome(readBack.right), "a token written after")
    // and the client closes: its dead connections are gone (mysql2's pool waited for them)
    assert.isDefined(closedAfter, `the client had not closed after ${closeWithinMillis} ms`)
  })

forEachDatabase((db) => {
  if (db.dialect === "sqlite") return
  describe(`SqlTokenStore on ${db.name}: a network partition that leaves no trace`, () => {
    it.scopedLive(
      `with SqlSocket's sockets (silentAfter ${silentAfterMillis} ms) it answers again within ${recoveryBoundMillis} ms of new connections getting through`,
      () => recoversWithSqlSocket(db, false),
      { timeout: 20_000 }
    )

    it.scopedLive(
      `with the driver's own sockets it does not: still failing ${watchedMillis} ms after the heal (why SqlSocket)`,
      () =>
        Effect.gen(function*() {
          const { closedAfter, failuresAfter, readBack, recoveredAfter } = yield* partitionThenHeal(db, watchedMillis)
          // the measurement, for the record: operations fail at their 1 s deadline on dead connections
          // (PostgreSQL: handed back to the pool; MariaDB: the pool's every connection kept busy)
          console.info(
            `${db.name}, driver's own sockets: ${failuresAfter.length} operations failed in the ${watchedMillis} ms ` +
              `after the heal; recovered: ${recoveredAfter === undefined ? "no" : `after ${recoveredAfter} ms`}; ` +
              `a set and get after: ${Either.isRight(readBack) ? "answered" : "failed"}; client closed: ` +
              `${closedAfter === undefined ? `not within ${closeWithinMillis} ms` : `in ${closedAfter} ms`}`
          )
          for (const failure of failuresAfter) assert.instanceOf(failure, WeChatError.TokenStoreError)
          assert.isUndefined(recoveredAfter, "the driver's own sockets recovered: SqlSocket may no longer be needed")
          assert.isAbove(failuresAfter.length, 0)
        }),
      { timeout: 20_000 }
    )
  })
})

forEachDatabase((db) => {
  if (db.dialect === "sqlite") return
  describe(`SqlTokenStore on ${db.name} over TLS: a network partition that leaves no trace`, () => {
    it.scopedLive(
      `with SqlSocket's sockets (silentAfter ${silentAfterMillis} ms) it answers again within ${recoveryBoundMillis} ms of new connections getting through`,
      () => recoversWithSqlSocket(db, true),
      { timeout: 20_000 }
    )

    it.scopedLive(
      "an idle connection is kept, a statement longer than silentAfter loses its connection",
      () =>
        Effect.gen(function*() {
          const proxy = yield* makeProxy({ host: db.host, port: db.port }, proxyTls(db))
          const context = yield* Layer.build(
            db.client({ host: "127.0.0.1", port: proxy.port, maxConnections: 2, silentAfter: "1 second", ssl: true })
          )
          const sql = Context.get(context, SqlClient.SqlClient)
          yield* sql`SELECT 1 AS one`
          // the client spoke TLS with the proxy (which talks plain TCP to the server)
          assert.isAtLeast(proxy.tlsConnections(), 1)
          yield* Effect.scoped(Effect.gen(function*() {
            const connection = yield* sql.reserve
            yield* connection.executeUnprepared("SELECT 1 AS one", [], undefined)
            yield* Effect.sleep("2500 millis")
            yield* connection.executeUnprepared("SELECT 1 AS one", [], undefined)
          }))
          const failed = yield* Effect.flip(db.dialect === "pg" ? sql`SELECT pg_sleep(2)` : sql`SELECT SLEEP(2)`)
          assert.include(String(failed.cause), "silent connection")
          yield* sql`SELECT 1 AS one`
        }),
      { timeout: 20_000 }
    )
  })
})

forEachDatabase((db) => {
  if (db.dialect === "sqlite") return
  describe(`SqlSocket on ${db.name}: what is not silence`, () => {
    it.scopedLive(
      "an idle connection and one in a transaction between its statements are kept; a statement longer than silentAfter loses its connection",
      () =>
        Effect.gen(function*() {
          const context = yield* Layer.build(db.client({ maxConnections: 2, silentAfter: "1 second" }))
          const sql = Context.get(context, SqlClient.SqlClient)

          // idle: nothing asked, nothing dropped (a connection held, so the pool's own idle policy
          // does not close it)
          yield* Effect.scoped(Effect.gen(function*() {
            const connection = yield* sql.reserve
            yield* connection.executeUnprepared("SELECT 1 AS one", [], undefined)
            yield* Effect.sleep("2500 millis")
            yield* connection.executeUnprepared("SELECT 1 AS one", [], undefined)
          }))

          // a transaction whose application pauses between its statements
          const rows = yield* sql.withTransaction(
            Effect.zipRight(
              Effect.zipRight(sql`SELECT 1 AS one`, Effect.sleep("2500 millis")),
              sql<{ one: number }>`SELECT 2 AS one`
            )
          )
          assert.strictEqual(Number(rows[0]?.one), 2)

          // a statement that runs 2 s, the server silent meanwhile: the connection is dropped
          const slow = db.dialect === "pg" ? sql`SELECT pg_sleep(2)` : sql`SELECT SLEEP(2)`
          const started = Date.now()
          const failed = yield* Effect.flip(slow)
          assert.include(String(failed.cause), "silent connection")
          assert.isBelow(Date.now() - started, 1900)
          // and the client goes on, on a new connection
          yield* sql`SELECT 1 AS one`
        }),
      { timeout: 20_000 }
    )
  })
})

describe("SqlSocket", () => {
  it("silentAfter must be a positive finite duration of at most 24 days", () => {
    for (
      const silentAfter of [0, -1, Number.NaN, Infinity, "banana", undefined, null, "25 days"]
    ) {
      for (const make of [SqlSocket.pg, SqlSocket.mysql]) {
        const result = (make as (options: unknown) => Either.Either<unknown, WeChatError.InvalidArgument>)({
          silentAfter
        })
        assert.isTrue(Either.isLeft(result), `${String(silentAfter)} was accepted`)
        if (Either.isLeft(result)) assert.strictEqual(result.left.argument, "silentAfter")
      }
    }
    for (const options of [undefined, null, 42]) {
      const result = (SqlSocket.pg as (options: unknown) => Either.Either<unknown, WeChatError.InvalidArgument>)(
        options
      )
      assert.isTrue(Either.isLeft(result))
    }
    assert.isTrue(Either.isRight(SqlSocket.pg({ silentAfter: "24 days" })))
    assert.isTrue(Either.isRight(SqlSocket.mysql({ silentAfter: 1 })))
  })
})
