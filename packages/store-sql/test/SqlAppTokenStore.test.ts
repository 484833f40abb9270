/**
 * SqlAppTokenStore on each database: core's AppTokenStore contract suite (clear and encrypted),
 * setup (concurrent, repeated, bad names), newest-wins across clients, encryption at rest, rows
 * that do not decode, and purgeExpired.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { AppTokenStore, TokenCipher, TokenStore } from "@wxauth/core"
import { appTokenStoreSuite, makeAppToken, randomAppId } from "@wxauth/core/testing"
import { SqlAppTokenStore } from "@wxauth/store-sql"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Util from "node:util"
import {
  type Database,
  dropTables,
  forEachDatabase,
  randomTable,
  setupConcurrently,
  singleTableLayer
} from "./databases.js"

const hour = 60 * 60 * 1000
const cipherLayer = TokenCipher.layer({ keys: [{ id: "k1", key: TokenCipher.generateKey() }] })

/** A store in a fresh table over a new client of `db`, with the client in context too; the table is dropped after. */
const storeLayer = (db: Database, options: SqlAppTokenStore.Options = {}) =>
  singleTableLayer(db, SqlAppTokenStore.layer, "wxauth_a", options)

forEachDatabase((db) => {
  appTokenStoreSuite(`SqlAppTokenStore on ${db.name}`, storeLayer(db))
  appTokenStoreSuite(
    `SqlAppTokenStore on ${db.name} + TokenCipher`,
    storeLayer(db).pipe(Layer.provide(cipherLayer))
  )

  describe(`SqlAppTokenStore on ${db.name}`, () => {
    it.scopedLive("setup from several clients at once is safe, and a second run keeps the rows", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_a")
        const clients = yield* setupConcurrently(db, table, SqlAppTokenStore.setup({ table }))
        const store = yield* Effect.provide(SqlAppTokenStore.make({ table }), clients[0])
        const appId = randomAppId()
        yield* store.set(appId, yield* makeAppToken())
        yield* Effect.provide(SqlAppTokenStore.setup({ table }), clients[1])
        assert.isTrue(Option.isSome(yield* store.get(appId)), "a second setup keeps the rows")
      }))

    it.scopedLive("ddl names the table; a bad table name is an InvalidArgument, from ddl and from the layer", () =>
      Effect.gen(function*() {
        const statements = Either.getOrThrow(SqlAppTokenStore.ddl(db.dialect, { table: "my_app_tokens" }))
        assert.strictEqual(statements.length, 1)
        assert.match(statements[0], /CREATE TABLE IF NOT EXISTS .my_app_tokens./)
        assert.include(Either.getOrThrow(SqlAppTokenStore.ddl(db.dialect))[0], "wxauth_app_tokens")
        const client = yield* Layer.build(db.client())
        for (const table of ["t; DROP TABLE users", "1t", "t\"", "a".repeat(64), ""]) {
          assert.isTrue(Either.isLeft(SqlAppTokenStore.ddl(db.dialect, { table })))
          const error = yield* Effect.flip(Effect.provide(Layer.build(SqlAppTokenStore.layer({ table })), client))
          assert.strictEqual(error._tag, "InvalidArgument")
        }
      }))

    it.scopedLive("without setup a missing table is a TokenStoreError naming the table", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_a")
        const client = yield* Layer.build(db.client())
        const store = yield* Effect.provide(
          Effect.map(
            Layer.build(SqlAppTokenStore.layer({ table, setup: false })),
            Context.get(AppTokenStore.AppTokenStore)
          ),
          client
        )
        const error = yield* Effect.flip(store.get(randomAppId()))
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.include(error.description, table)
      }))

    it.scopedLive("newest wins across two clients, whatever the order of arrival", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_a")
        const clients = [yield* Layer.build(db.client()), yield* Layer.build(db.client())]
        yield* Effect.addFinalizer(() => Effect.orDie(Effect.provide(dropTables(table), clients[0])))
        yield* Effect.provide(SqlAppTokenStore.setup({ table }), clients[0])
        const stores = yield* Effect.forEach(clients, (client) =>
          Effect.provide(SqlAppTokenStore.make({ table }), client))
        const appId = randomAppId()
        const base = yield* makeAppToken()
        const tokens = yield* Effect.forEach(
          Array.from({ length: 40 }, (_, i) =>
            i),
          (i) => makeAppToken({ obtainedAt: base.obtainedAt + i * 10 })
        )
        yield* Effect.forEach(yield* Random.shuffle(tokens), (token, i) => stores[i % 2].set(appId, token), {
          concurrency: 8,
          discard: true
        })
        for (const store of stores) {
          const found = Option.getOrThrow(yield* store.get(appId))
          assert.strictEqual(Redacted.value(found.accessToken), Redacted.value(tokens[tokens.length - 1].accessToken))
        }
      }))

    it.scopedLive("with a TokenCipher the row holds no token in clear; a row that does not decode quotes nothing", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_a")
        const context = yield* Layer.build(storeLayer(db, { table }).pipe(Layer.provide(cipherLayer)))
        const store = Context.get(context, AppTokenStore.AppTokenStore)
        const sql = Context.get(context, SqlClient.SqlClient)
        const appId = randomAppId()
        const token = yield* makeAppToken()
        yield* store.set(appId, token)
        const [row] = yield* sql<{ value: string }>`SELECT value FROM ${sql(table)} WHERE app_id = ${appId}`
        assert.isTrue(String(row.value).startsWith("wxenc1:k1:"))
        assert.notInclude(String(row.value), Redacted.value(token.accessToken))

        const garbage = "s3cr3t-not-a-token"
        yield* sql`UPDATE ${sql(table)} SET value = ${garbage} WHERE app_id = ${appId}`
        const error = yield* Effect.flip(store.get(appId))
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.strictEqual(error.operation, "get")
        for (const text of [error.message, JSON.stringify(error), Util.inspect(error, { depth: 10 })]) {
          assert.notInclude(text, garbage)
        }
        // longer than any token: not fetched (MariaDB's TEXT holds no such value)
        const long = `${garbage}${"x".repeat(TokenStore.maxStoredValueBytes)}`
        if (Exit.isSuccess(yield* Effect.exit(sql`UPDATE ${sql(table)} SET value = ${long} WHERE app_id = ${appId}`))) {
          const tooLong = yield* Effect.flip(store.get(appId))
          assert.include(tooLong.description, "longer than any token")
          assert.notInclude(JSON.stringify(tooLong) + tooLong.message, garbage)
        }
        // a new token heals the row
        yield* store.set(appId, yield* makeAppToken({ obtainedAt: token.obtainedAt + 1 }))
        assert.isTrue(Option.isSome(yield* store.get(appId)))
      }))

    it.scopedLive("times that are not finite are a TokenStoreError; purgeExpired deletes only expired rows", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_a")
        const context = yield* Layer.build(storeLayer(db, { table }))
        const store = Context.get(context, AppTokenStore.AppTokenStore)
        const appId = randomAppId()
        for (const overrides of [{ obtainedAt: Number.NaN }, { expiresAt: Number.POSITIVE_INFINITY }]) {
          const error = yield* Effect.flip(store.set(appId, yield* makeAppToken(overrides)))
          assert.strictEqual(error._tag, "TokenStoreError")
        }
        const now = yield* Clock.currentTimeMillis
        const [live, dead] = [randomAppId(), randomAppId()]
        yield* store.set(live, yield* makeAppToken({ expiresAt: now + hour }))
        yield* store.set(dead, yield* makeAppToken({ obtainedAt: now - 2 * hour, expiresAt: now - 1 }))
        const purged = yield* Effect.provide(SqlAppTokenStore.purgeExpired({ table }), context)
        assert.strictEqual(purged, 1)
        assert.isTrue(Option.isSome(yield* store.get(live)))
        assert.strictEqual(yield* Effect.provide(SqlAppTokenStore.purgeExpired({ table }), context), 0)
      }))
  })
})
