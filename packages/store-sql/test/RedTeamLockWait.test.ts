/**
 * A user's row locked by another transaction (the application's own, an idle session's) while the
 * store writes it: each write fails with a `TokenStoreError` at the store's timeout, and the store
 * keeps working for every other user. Before, a write waiting for the lock kept its pooled
 * connection after the deadline (PostgreSQL: for as long as the lock was held; MySQL / MariaDB: for
 * `innodb_lock_wait_timeout`, 50 seconds), so a burst of writes for one locked user took the whole
 * pool and every operation of every user failed.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, it } from "@effect/vitest"
import { TokenStore, WeChatError } from "@wxauth/core"
import { makeToken, randomAppId } from "@wxauth/core/testing"
import { SqlTokenStore } from "@wxauth/store-sql"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { dropTables, forEachDatabase, randomTable } from "./databases.js"

forEachDatabase((db) => {
  // SQLite has one writer at a time and its own bound (the busy timeout, see timeout.test.ts)
  if (db.dialect === "sqlite") return
  it.scopedLive(
    `${db.name}: writes waiting for a locked row do not take the pool from other users`,
    () =>
      Effect.gen(function*() {
        const table = randomTable()
        yield* Effect.addFinalizer(() =>
          Effect.ignore(Effect.provide(dropTables(table, `${table}_codes`), db.client()))
        )
        const client = yield* Layer.build(db.client())
        const store = Context.get(
          yield* Layer.build(SqlTokenStore.layer({ table, timeout: "1 second" })).pipe(Effect.provide(client)),
          TokenStore.TokenStore
        )
        const appId = randomAppId()
        const locked = yield* makeToken()
        const other = yield* makeToken()
        yield* store.set(appId, locked)
        yield* store.set(appId, other)

        // another client's transaction holds the user's row
        const sql = Context.get(yield* Layer.build(db.client()), SqlClient.SqlClient)
        const holding = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        // released whatever happens (the tables are dropped after it)
        yield* Effect.addFinalizer(() => Deferred.succeed(release, undefined))
        const holder = yield* Effect.fork(sql.withTransaction(Effect.gen(function*() {
          yield* sql`SELECT openid FROM ${sql(table)} WHERE app_id = ${appId} AND openid = ${locked.openid} FOR UPDATE`
          yield* Deferred.succeed(holding, undefined)
          yield* Deferred.await(release)
        })))
        yield* Deferred.await(holding)

        // more writes of the locked user than the pool has connections
        const newer = yield* makeToken({ openid: locked.openid, obtainedAt: locked.obtainedAt + 1 })
        const writes = yield* Effect.forEach(
          Array.from({ length: 20 }),
          () => Effect.either(store.set(appId, newer)),
          { concurrency: "unbounded" }
        )
        for (const write of writes) {
          assert.isTrue(Either.isLeft(write))
          if (Either.isLeft(write)) assert.instanceOf(write.left, WeChatError.TokenStoreError)
        }

        // the lock is still held: another user's get and set work (a few tries, each bounded by the timeout)
        const works = <A>(effect: Effect.Effect<A, WeChatError.TokenStoreError>) =>
          Effect.gen(function*() {
            for (let attempt = 0; attempt < 5; attempt++) {
              if (Either.isRight(yield* Effect.either(effect))) return true
            }
            return false
          })
        assert.isTrue(yield* works(store.get(appId, other.openid)), "another user's get")
        const otherNewer = yield* makeToken({ openid: other.openid, obtainedAt: other.obtainedAt + 1 })
        assert.isTrue(yield* works(store.set(appId, otherNewer)), "another user's set")

        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        // and the locked user's write goes through once the lock is gone
        yield* store.set(appId, newer)
      }),
    120_000
  )

  it.scopedLive(
    `${db.name}: a store timeout beyond the server's own limits (30 days, 1e21 and 1e24 ms) is no bound, not a failure`,
    () =>
      Effect.gen(function*() {
        const table = randomTable()
        yield* Effect.addFinalizer(() =>
          Effect.ignore(Effect.provide(dropTables(table, `${table}_codes`), db.client()))
        )
        // one connection: the store's settings and the check meet on it
        const client = yield* Layer.build(db.client({ maxConnections: 1 }))
        const sql = Context.get(client, SqlClient.SqlClient)
        const setting = db.dialect === "pg"
          ? Effect.map(
            sql<{ readonly value: string }>`SELECT current_setting('lock_timeout') AS value`,
            (rows) => String(rows[0].value)
          )
          : Effect.map(
            sql<{ readonly value: number }>`SELECT @@SESSION.innodb_lock_wait_timeout AS value`,
            (rows) => String(rows[0].value)
          )
        const before = yield* setting
        // PostgreSQL's lock_timeout takes at most 2^31-1 ms (error 22023 above it), and 1e21 ms was
        // written `1e+21` in the statement (a syntax error): every write failed
        for (const timeout of [Duration.days(30), Duration.millis(1e21), Duration.millis(1e24)]) {
          const store = Context.get(
            yield* Layer.build(SqlTokenStore.layer({ table, timeout })).pipe(Effect.provide(client)),
            TokenStore.TokenStore
          )
          const appId = randomAppId()
          const token = yield* makeToken()
          const written = yield* Effect.either(store.set(appId, token))
          assert.isTrue(
            Either.isRight(written),
            `set with a timeout of ${Duration.format(timeout)}: ${String(written)}`
          )
          assert.isTrue(Option.isSome(yield* store.get(appId, token.openid)))
          yield* store.remove(appId, token.openid)
          assert.strictEqual(yield* setting, before, "the connection's lock wait after the store's writes")
        }
      }),
    60_000
  )

  it.scopedLive(
    `${db.name}: a write keeps the lower lock wait the app gave its connection, and leaves it as it was`,
    () =>
      Effect.gen(function*() {
        const table = randomTable()
        yield* Effect.addFinalizer(() =>
          Effect.ignore(Effect.provide(dropTables(table, `${table}_codes`), db.client()))
        )
        // one connection: the app's setting and the store's writes meet on it
        const client = yield* Layer.build(db.client({ maxConnections: 1 }))
        const sql = Context.get(client, SqlClient.SqlClient)
        const store = Context.get(
          yield* Layer.build(SqlTokenStore.layer({ table, timeout: "5 seconds" })).pipe(Effect.provide(client)),
          TokenStore.TokenStore
        )
        const setting = db.dialect === "pg"
          ? Effect.map(
            sql<{ readonly value: string }>`SELECT current_setting('lock_timeout') AS value`,
            (rows) => String(rows[0].value)
          )
          : Effect.map(
            sql<{ readonly value: number }>`SELECT @@SESSION.innodb_lock_wait_timeout AS value`,
            (rows) => String(rows[0].value)
          )
        // the app's own bound on its sessions, lower than the store's 5 seconds
        yield* db.dialect === "pg" ? sql`SET lock_timeout = '150ms'` : sql`SET SESSION innodb_lock_wait_timeout = 2`
        const before = yield* setting
        const appId = randomAppId()
        yield* store.set(appId, yield* makeToken())
        yield* store.remove(appId, (yield* makeToken()).openid)
        assert.strictEqual(yield* setting, before, "the connection's lock wait after the store's writes")
        assert.strictEqual(before, db.dialect === "pg" ? "150ms" : "2")
      }),
    60_000
  )
})
