/**
 * SqlSessionStore on each database: core's SessionStore contract suite, setup (concurrent, repeated,
 * its indexes, bad names and timeouts), what a row holds (never the token), logout everywhere across
 * clients, a caller's transaction, rows that do not decode, and purgeExpired.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { SessionStore } from "@wxauth/core"
import { makeSession, sessionStoreSuite } from "@wxauth/core/testing"
import { SqlSessionStore } from "@wxauth/store-sql"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Util from "node:util"
import {
  type Database,
  dropTables,
  forEachDatabase,
  indexesOf,
  randomTable,
  setupConcurrently,
  singleTableLayer
} from "./databases.js"

const hour = 60 * 60 * 1000

/** A store in a fresh table over a new client of `db`, with the client in context too; the table is dropped after. */
const storeLayer = (db: Database, options: SqlSessionStore.Options = {}) =>
  singleTableLayer(db, SqlSessionStore.layer, "wxauth_ss", options)

forEachDatabase((db) => {
  sessionStoreSuite(`SqlSessionStore on ${db.name}`, storeLayer(db))

  describe(`SqlSessionStore on ${db.name}`, () => {
    it.scopedLive("setup from several clients at once is safe, makes both indexes, and a second run keeps the rows", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_ss")
        const clients = yield* setupConcurrently(db, table, SqlSessionStore.setup({ table }))
        const store = yield* Effect.provide(SqlSessionStore.make({ table }), clients[0])
        const { session } = yield* makeSession()
        yield* store.create(session)
        yield* Effect.provide(SqlSessionStore.setup({ table }), clients[1])
        assert.isTrue(Option.isSome(yield* store.get(session.idHash)), "a second setup keeps the rows")
        const indexes = yield* Effect.provide(indexesOf(db.dialect, table), clients[0])
        assert.include(indexes, `${table}_user_idx`)
        assert.include(indexes, `${table}_expires_idx`)
      }))

    it.scopedLive("a bad table name or timeout is an InvalidArgument", () =>
      Effect.gen(function*() {
        const client = yield* Layer.build(db.client())
        for (const table of ["t; DROP TABLE users", "1t", "a".repeat(64), ""]) {
          assert.isTrue(Either.isLeft(SqlSessionStore.ddl(db.dialect, { table })))
          const error = yield* Effect.flip(Effect.provide(Layer.build(SqlSessionStore.layer({ table })), client))
          assert.deepInclude(error, { _tag: "InvalidArgument", argument: "table" })
        }
        for (const timeout of [0, -1, Infinity, "forever"]) {
          const error = yield* Effect.flip(
            Effect.provide(SqlSessionStore.make({ table: randomTable(), timeout: timeout as never }), client)
          )
          assert.deepInclude(error, { _tag: "InvalidArgument", argument: "timeout" })
        }
        assert.include(Either.getOrThrow(SqlSessionStore.ddl(db.dialect)).join("\n"), "wxauth_sessions")
      }))

    it.scoped("a row holds the id hash, the user, the times and the session's JSON: never the token", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_ss")
        const context = yield* Layer.build(storeLayer(db, { table }))
        const store = Context.get(context, SessionStore.SessionStore)
        const sql = Context.get(context, SqlClient.SqlClient)
        const { session, token } = yield* makeSession({ data: { userId: "42" } })
        yield* store.create(session)
        const now = yield* Clock.currentTimeMillis
        yield* TestClock.adjust(1000)
        yield* store.touch(session.idHash, now + 3 * hour)
        const rows = yield* sql<Record<string, unknown>>`SELECT * FROM ${sql(table)}`
        assert.strictEqual(rows.length, 1)
        const row = rows[0]
        assert.deepStrictEqual(Object.keys(row).sort(), [
          "app_id",
          "expires_at",
          "id_hash",
          "last_seen_at",
          "openid",
          "value"
        ])
        assert.strictEqual(row.id_hash, session.idHash)
        assert.strictEqual(row.openid, session.openid)
        assert.strictEqual(Number(row.expires_at), now + 3 * hour)
        assert.strictEqual(Number(row.last_seen_at), now + 1000)
        assert.notInclude(JSON.stringify(rows, (_, v) => typeof v === "bigint" ? String(v) : v), Redacted.value(token))
        const found = Option.getOrThrow(yield* store.get(session.idHash))
        assert.deepStrictEqual(found.data, { userId: "42" })
        assert.strictEqual(found.lastSeenAt, now + 1000)
      }))

    it.scopedLive("logout everywhere holds across clients: revoked through one, gone through the other", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_ss")
        yield* Effect.addFinalizer(() => Effect.orDie(Effect.provide(dropTables(table), db.client())))
        const [one, two] = yield* Effect.forEach([1, 2], () => Layer.build(db.client()))
        yield* Effect.provide(SqlSessionStore.setup({ table }), one)
        const [here, there] = yield* Effect.forEach(
          [one, two],
          (client) => Effect.provide(SqlSessionStore.make({ table }), client)
        )
        const { session } = yield* makeSession()
        const { session: sibling } = yield* makeSession({ appId: session.appId, openid: session.openid })
        yield* here.create(session)
        yield* there.create(sibling)
        assert.strictEqual(yield* there.revokeUser(session.appId, session.openid), 2)
        assert.isTrue(Option.isNone(yield* here.get(session.idHash)))
        assert.isTrue(Option.isNone(yield* here.get(sibling.idHash)))
      }))

    it.scoped("operations join a caller's transaction: a revokeUser rolled back with it leaves the sessions", () =>
      Effect.gen(function*() {
        const context = yield* Layer.build(storeLayer(db))
        const store = Context.get(context, SessionStore.SessionStore)
        const sql = Context.get(context, SqlClient.SqlClient)
        const { session } = yield* makeSession()
        yield* store.create(session)
        const rolledBack = yield* sql.withTransaction(
          Effect.zipRight(store.revokeUser(session.appId, session.openid), Effect.fail("roll back" as const))
        ).pipe(Effect.flip)
        assert.strictEqual(rolledBack, "roll back")
        assert.isTrue(Option.isSome(yield* store.get(session.idHash)), "the revoke was rolled back")
        yield* sql.withTransaction(store.revokeUser(session.appId, session.openid))
        assert.isTrue(Option.isNone(yield* store.get(session.idHash)))
      }))

    it.scoped("a row that does not decode, or was copied under another id, is a SessionStoreError quoting nothing", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_ss")
        const context = yield* Layer.build(storeLayer(db, { table }))
        const store = Context.get(context, SessionStore.SessionStore)
        const sql = Context.get(context, SqlClient.SqlClient)
        const { session } = yield* makeSession({ data: { note: "private-note" } })
        const { session: other } = yield* makeSession()
        yield* store.create(session)
        yield* store.create(other)
        const [row] = yield* sql<{ value: unknown }>`SELECT value FROM ${sql(table)} WHERE id_hash = ${session.idHash}`
        const expectFailure = Effect.gen(function*() {
          const error = yield* Effect.flip(store.get(other.idHash))
          assert.strictEqual(error._tag, "SessionStoreError")
          assert.notInclude(JSON.stringify(error) + error.message + Util.inspect(error, { depth: 10 }), "private-note")
        })
        yield* sql`UPDATE ${sql(table)} SET value = ${row.value} WHERE id_hash = ${other.idHash}`
        yield* expectFailure
        yield* sql`UPDATE ${sql(table)} SET value = ${"{private-note"} WHERE id_hash = ${other.idHash}`
        yield* expectFailure
        // the session the row belongs to is fine
        assert.deepStrictEqual(Option.getOrThrow(yield* store.get(session.idHash)).data, { note: "private-note" })
      }))

    it.scoped("purgeExpired deletes only the sessions that are over (by Clock)", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_ss")
        const context = yield* Layer.build(storeLayer(db, { table }))
        const store = Context.get(context, SessionStore.SessionStore)
        const now = yield* Clock.currentTimeMillis
        const { session: old } = yield* makeSession({ expiresAt: now + hour })
        const { session: recent } = yield* makeSession({ expiresAt: now + 2 * hour })
        yield* store.create(old)
        yield* store.create(recent)
        yield* TestClock.adjust(hour)
        const purge = Effect.provide(SqlSessionStore.purgeExpired({ table }), context)
        assert.strictEqual(yield* purge, 1)
        assert.isTrue(Option.isSome(yield* store.get(recent.idHash)))
        assert.strictEqual(yield* purge, 0)
      }))
  })
})
