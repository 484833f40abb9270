/**
 * SqlSessionKeyStore on each database: core's SessionKeyStore contract suite (default ttl, 1 hour,
 * encrypted), setup (concurrent, repeated, its index, bad names and ttl), encryption at rest bound
 * to the user, rows that do not decode, and purgeExpired.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { SessionKeyStore, TokenCipher } from "@wxauth/core"
import { randomAppId, randomOpenId, randomSessionKey, sessionKeyStoreSuite } from "@wxauth/core/testing"
import { SqlSessionKeyStore } from "@wxauth/store-sql"
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
  forEachDatabase,
  indexesOf,
  randomTable,
  setupConcurrently,
  singleTableLayer
} from "./databases.js"

const cipherLayer = TokenCipher.layer({ keys: [{ id: "k1", key: TokenCipher.generateKey() }] })

/** A store in a fresh table over a new client of `db`, with the client in context too; the table is dropped after. */
const storeLayer = (db: Database, options: SqlSessionKeyStore.Options = {}) =>
  singleTableLayer(db, SqlSessionKeyStore.layer, "wxauth_s", options)

forEachDatabase((db) => {
  sessionKeyStoreSuite(`SqlSessionKeyStore on ${db.name}`, storeLayer(db))
  sessionKeyStoreSuite(`SqlSessionKeyStore on ${db.name}, ttl 1 hour`, storeLayer(db, { ttl: "1 hour" }), {
    ttl: "1 hour"
  })
  sessionKeyStoreSuite(
    `SqlSessionKeyStore on ${db.name} + TokenCipher`,
    storeLayer(db).pipe(Layer.provide(cipherLayer))
  )

  describe(`SqlSessionKeyStore on ${db.name}`, () => {
    it.scopedLive("setup from several clients at once is safe, makes the expiry index, and a second run keeps the rows", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_s")
        const clients = yield* setupConcurrently(db, table, SqlSessionKeyStore.setup({ table }))
        const store = yield* Effect.provide(SqlSessionKeyStore.make({ table }), clients[0])
        const [appId, openid] = [randomAppId(), randomOpenId()]
        yield* store.set(appId, openid, randomSessionKey())
        yield* Effect.provide(SqlSessionKeyStore.setup({ table }), clients[1])
        assert.isTrue(Option.isSome(yield* store.get(appId, openid)), "a second setup keeps the rows")
        assert.include(yield* Effect.provide(indexesOf(db.dialect, table), clients[0]), `${table}_expires_idx`)
      }))

    it.scopedLive("a bad table name or ttl is an InvalidArgument", () =>
      Effect.gen(function*() {
        const client = yield* Layer.build(db.client())
        for (const table of ["t; DROP TABLE users", "1t", "a".repeat(64), ""]) {
          assert.isTrue(Either.isLeft(SqlSessionKeyStore.ddl(db.dialect, { table })))
          const error = yield* Effect.flip(Effect.provide(Layer.build(SqlSessionKeyStore.layer({ table })), client))
          assert.strictEqual(error._tag, "InvalidArgument")
        }
        for (const ttl of [0, -1, Infinity, "forever"]) {
          const error = yield* Effect.flip(
            Effect.provide(SqlSessionKeyStore.make({ table: randomTable(), ttl: ttl as never }), client)
          )
          assert.strictEqual(error._tag, "InvalidArgument")
          assert.strictEqual(error.argument, "ttl")
        }
        assert.include(Either.getOrThrow(SqlSessionKeyStore.ddl(db.dialect)).join("\n"), "wxauth_session_keys")
      }))

    it.scopedLive("with a TokenCipher the row is sealed to its user: copied to another user's row, it does not open", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_s")
        const context = yield* Layer.build(storeLayer(db, { table }).pipe(Layer.provide(cipherLayer)))
        const store = Context.get(context, SessionKeyStore.SessionKeyStore)
        const sql = Context.get(context, SqlClient.SqlClient)
        const [appId, openid, other, key] = [randomAppId(), randomOpenId(), randomOpenId(), randomSessionKey()]
        yield* store.set(appId, openid, key)
        yield* store.set(appId, other, randomSessionKey())
        const [row] = yield* sql<{ value: string }>`SELECT value FROM ${sql(table)}
          WHERE app_id = ${appId} AND openid = ${openid}`
        assert.isTrue(String(row.value).startsWith("wxenc1:k1:"))
        assert.notInclude(String(row.value), Redacted.value(key))
        yield* sql`UPDATE ${sql(table)} SET value = ${row.value} WHERE app_id = ${appId} AND openid = ${other}`
        const error = yield* Effect.flip(store.get(appId, other))
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.notInclude(Util.inspect(error, { depth: 10 }), Redacted.value(key))
      }))

    it.scopedLive("a value longer than any session key is a TokenStoreError, not fetched; a set replaces it", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_s")
        const context = yield* Layer.build(storeLayer(db, { table }))
        const store = Context.get(context, SessionKeyStore.SessionKeyStore)
        const sql = Context.get(context, SqlClient.SqlClient)
        const [appId, openid, other, otherKey] = [randomAppId(), randomOpenId(), randomOpenId(), randomSessionKey()]
        yield* store.set(appId, openid, randomSessionKey())
        yield* store.set(appId, other, otherKey)
        const plant = (value: string) =>
          sql`UPDATE ${sql(table)} SET value = ${value} WHERE app_id = ${appId} AND openid = ${openid}`
        const long = `s3cr3t${"x".repeat(60_000)}`
        // one byte over the bound; 60 KB; behind a NUL, where SQLite's length() of the text stops counting
        for (const value of ["x".repeat(SessionKeyStore.maxStoredValueBytes + 1), long, `x\u0000${long}`]) {
          if (db.dialect === "pg" && value.includes("\u0000")) continue // PostgreSQL's text holds no NUL
          yield* plant(value)
          const error = yield* Effect.flip(store.get(appId, openid))
          assert.strictEqual(error._tag, "TokenStoreError")
          assert.strictEqual(error.operation, "get")
          assert.include(error.description, "longer than any session key")
          assert.notInclude(JSON.stringify(error) + error.message + Util.inspect(error, { depth: 10 }), "s3cr3t")
        }
        // at the bound (1,024 characters of 3 bytes) it is read, and does not decode
        yield* plant("\u20ac".repeat(1024))
        assert.include((yield* Effect.flip(store.get(appId, openid))).description, "does not decode")
        assert.strictEqual(Redacted.value(Option.getOrThrow(yield* store.get(appId, other))), Redacted.value(otherKey))
        const sessionKey = randomSessionKey()
        yield* store.set(appId, openid, sessionKey)
        assert.strictEqual(
          Redacted.value(Option.getOrThrow(yield* store.get(appId, openid))),
          Redacted.value(sessionKey)
        )
      }))

    it.scopedLive("SQLite: a key whose expires_at is text (no time) is over: get finds nothing, purgeExpired deletes it, a set replaces it", () =>
      Effect.gen(function*() {
        if (db.dialect !== "sqlite") return // PostgreSQL's and MariaDB's expires_at is BIGINT
        const table = randomTable("wxauth_s")
        const context = yield* Layer.build(storeLayer(db, { table }))
        const store = Context.get(context, SessionKeyStore.SessionKeyStore)
        const sql = Context.get(context, SqlClient.SqlClient)
        const [appId, openid] = [randomAppId(), randomOpenId()]
        for (const planted of ["later", "x".repeat(1024 * 1024)]) {
          yield* store.set(appId, openid, randomSessionKey())
          yield* sql`UPDATE ${sql(table)} SET expires_at = ${planted} WHERE app_id = ${appId} AND openid = ${openid}`
          // text compares greater than every number: it was live for ever
          assert.isTrue(Option.isNone(yield* store.get(appId, openid)), "a text expires_at passed as live")
          assert.strictEqual(yield* Effect.provide(SqlSessionKeyStore.purgeExpired({ table }), context), 1)
        }
        yield* store.set(appId, openid, randomSessionKey())
        yield* sql`UPDATE ${sql(table)} SET expires_at = 'later' WHERE app_id = ${appId} AND openid = ${openid}`
        const sessionKey = randomSessionKey()
        yield* store.set(appId, openid, sessionKey)
        assert.strictEqual(
          Redacted.value(Option.getOrThrow(yield* store.get(appId, openid))),
          Redacted.value(sessionKey)
        )
      }))

    it.scoped("purgeExpired deletes only the keys past their ttl (by Clock)", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_s")
        const context = yield* Layer.build(storeLayer(db, { table, ttl: "1 hour" }))
        const store = Context.get(context, SessionKeyStore.SessionKeyStore)
        const appId = randomAppId()
        const [old, recent] = [randomOpenId(), randomOpenId()]
        yield* store.set(appId, old, randomSessionKey())
        yield* TestClock.adjust("59 minutes")
        yield* store.set(appId, recent, randomSessionKey())
        yield* TestClock.adjust("2 minutes")
        const purge = Effect.provide(SqlSessionKeyStore.purgeExpired({ table }), context)
        assert.strictEqual(yield* purge, 1)
        assert.isTrue(Option.isSome(yield* store.get(appId, recent)))
        assert.strictEqual(yield* purge, 0)
      }))
  })
})
