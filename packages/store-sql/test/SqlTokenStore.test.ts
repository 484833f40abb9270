/**
 * What the SQL store adds to the contract, on each database: table setup (concurrent, repeated,
 * several table names, bad names), writers on several connections, purgeExpired, encryption at
 * rest, rows that do not decode, and failures that quote no token.
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlError from "@effect/sql/SqlError"
import { assert, describe, it } from "@effect/vitest"
import { TokenCipher, TokenStore, WeChatError } from "@wxauth/core"
import { makeToken, randomAppId, randomOpenId } from "@wxauth/core/testing"
import { SqlTokenStore } from "@wxauth/store-sql"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import * as Util from "node:util"
import * as internal from "../src/internal/errors.js"
import { type Database, dropTables, forEachDatabase, indexesOf, isCi, randomTable, sqliteFile } from "./databases.js"
import { makeProxy } from "./proxy.js"

const cipherLayer = TokenCipher.layer({ keys: [{ id: "k1", key: TokenCipher.generateKey() }] })

/**
 * A new client of `db` and a fresh `table` with its `<table>_codes` memo table, both dropped when the
 * scope closes.
 */
const freshTables = (db: Database) =>
  Effect.gen(function*() {
    const table = randomTable()
    const memoTable = `${table}_codes`
    const client = yield* Layer.build(db.client())
    yield* Effect.addFinalizer(() => Effect.orDie(Effect.provide(dropTables(table, memoTable), client)))
    return { table, memoTable, client, sql: Context.get(client, SqlClient.SqlClient) }
  })

/** The store `SqlTokenStore.layer(options)` builds over `client`. */
const layerStore = (client: Context.Context<SqlClient.SqlClient>, options: SqlTokenStore.Options) =>
  Effect.provide(Layer.build(SqlTokenStore.layer(options)), client).pipe(Effect.map(Context.get(TokenStore.TokenStore)))

const countRows = (table: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => Effect.map(sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM ${sql(table)}`, (rows) => Number(rows[0].n))
  )

/** Every text a failure shows: message, JSON, inspection, cause. None may quote a secret. */
const assertQuotesNone = (error: WeChatError.TokenStoreError, secrets: ReadonlyArray<string>) => {
  const texts = [
    error.message,
    error.description,
    JSON.stringify(error),
    Util.inspect(error, { depth: 10 }),
    String(error.cause),
    Util.inspect(error.cause, { depth: 10 })
  ]
  for (const secret of secrets) {
    for (const text of texts) assert.notInclude(text, secret)
  }
}

const secretsOf = (
  appId: string,
  token: { openid: string; accessToken: Redacted.Redacted; refreshToken: Redacted.Redacted }
) => [
  appId,
  token.openid,
  Redacted.value(token.accessToken) as string,
  Redacted.value(token.refreshToken) as string
]

/** A tracer that keeps the name and every attribute and event attribute of every span. */
const recordingTracer = () => {
  const names: Array<string> = []
  const values: Array<unknown> = []
  let next = 0
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      names.push(name)
      const attributes = new Map<string, unknown>()
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: `span${next++}`,
        traceId: "trace",
        parent,
        context,
        status: { _tag: "Started", startTime },
        attributes,
        links,
        sampled: true,
        kind,
        end: () => {},
        attribute: (key, value) => {
          attributes.set(key, value)
          values.push(key, value)
        },
        event: (_name, _time, eventAttributes) => values.push(eventAttributes),
        addLinks: () => {}
      }
      return span
    },
    context: (f) => f()
  })
  return { tracer, names, values }
}

forEachDatabase((db) => {
  describe(`SqlTokenStore on ${db.name}`, () => {
    describe("setup", () => {
      it.scopedLive("from several clients and fibers at once is safe, and a second run changes nothing", () =>
        Effect.gen(function*() {
          const table = randomTable()
          const memoTable = `${table}_codes`
          yield* Effect.addFinalizer(() => Effect.orDie(Effect.provide(dropTables(table, memoTable), db.client())))
          const clients = yield* Effect.forEach([1, 2, 3], () => Layer.build(db.client()))
          yield* Effect.forEach(
            clients.flatMap((client) => [client, client, client]),
            (client) => Effect.provide(SqlTokenStore.setup({ table }), client),
            { concurrency: "unbounded" }
          )
          const first = clients[0]
          const store = yield* Effect.provide(SqlTokenStore.make({ table }), first)
          const appId = randomAppId()
          const token = yield* makeToken()
          yield* store.set(appId, token)
          yield* Effect.forEach(clients, (client) => Effect.provide(SqlTokenStore.setup({ table }), client), {
            concurrency: "unbounded"
          })
          const found = yield* store.get(appId, token.openid)
          assert.isTrue(Option.isSome(found), "a second setup keeps the rows")
          assert.include(yield* Effect.provide(indexesOf(db.dialect, table), first), `${table}_refresh_idx`)
          assert.include(yield* Effect.provide(indexesOf(db.dialect, memoTable), first), `${memoTable}_expires_idx`)
        }))

      it.scopedLive("two table names in one database are two stores", () =>
        Effect.gen(function*() {
          const [a, b] = [randomTable(), randomTable()]
          const client = yield* Layer.build(db.client())
          yield* Effect.addFinalizer(() =>
            Effect.orDie(Effect.provide(dropTables(a, `${a}_codes`, b, `${b}_codes`), client))
          )
          yield* Effect.all([SqlTokenStore.setup({ table: a }), SqlTokenStore.setup({ table: b })], {
            concurrency: "unbounded"
          }).pipe(Effect.provide(client))
          const storeA = yield* Effect.provide(SqlTokenStore.make({ table: a }), client)
          const storeB = yield* Effect.provide(SqlTokenStore.make({ table: b }), client)
          const appId = randomAppId()
          const inA = yield* makeToken()
          yield* storeA.set(appId, inA)
          assert.isTrue(Option.isNone(yield* storeB.get(appId, inA.openid)))
          const inB = yield* makeToken({ openid: inA.openid, obtainedAt: inA.obtainedAt - 1000 })
          yield* storeB.set(appId, inB)
          const fromA = Option.getOrThrow(yield* storeA.get(appId, inA.openid))
          const fromB = Option.getOrThrow(yield* storeB.get(appId, inA.openid))
          assert.strictEqual(Redacted.value(fromA.accessToken), Redacted.value(inA.accessToken))
          assert.strictEqual(Redacted.value(fromB.accessToken), Redacted.value(inB.accessToken))
        }))

      it.scopedLive("a 63-character table name works (derived names stay within the identifier limit)", () =>
        Effect.gen(function*() {
          const table = randomTable().padEnd(63, "x")
          const tables = Either.getOrThrow(SqlTokenStore.tables({ table }))
          assert.isAtMost(tables.memoTable.length, 63)
          assert.isAtMost(tables.tokenIndex.length, 63)
          assert.isAtMost(tables.memoIndex.length, 63)
          const client = yield* Layer.build(db.client())
          yield* Effect.addFinalizer(() => Effect.orDie(Effect.provide(dropTables(table, tables.memoTable), client)))
          const store = yield* layerStore(client, { table })
          const appId = randomAppId()
          const token = yield* makeToken()
          yield* store.set(appId, token)
          assert.isTrue(Option.isSome(yield* store.get(appId, token.openid)))
          assert.include(yield* Effect.provide(indexesOf(db.dialect, table), client), tables.tokenIndex)
          assert.include(yield* Effect.provide(indexesOf(db.dialect, tables.memoTable), client), tables.memoIndex)
        }))

      it.scopedLive("a bad table name fails the layer with InvalidArgument, before any SQL runs", () =>
        Effect.gen(function*() {
          const client = yield* Layer.build(db.client())
          for (
            const options of [
              { table: "tokens; DROP TABLE users" },
              { table: "1tokens" },
              { table: "to\"kens" },
              { table: "a".repeat(64) },
              { table: "" },
              { memoTable: "codes`" },
              { table: "same", memoTable: "same" }
            ]
          ) {
            const exit = yield* Effect.exit(Effect.provide(Layer.build(SqlTokenStore.layer(options)), client))
            assert.isTrue(Exit.isFailure(exit), JSON.stringify(options))
            const error = yield* Effect.flip(Effect.provide(Layer.build(SqlTokenStore.layer(options)), client))
            assert.instanceOf(error, WeChatError.InvalidArgument)
          }
          const purge = yield* Effect.flip(Effect.provide(SqlTokenStore.purgeExpired({ table: "x y" }), client))
          assert.strictEqual(purge._tag, "InvalidArgument")
        }))

      if (db.dialect === "mysql") {
        it.scopedLive("a table made before its index existed gets the index", () =>
          Effect.gen(function*() {
            const { client, sql, table } = yield* freshTables(db)
            yield* sql`CREATE TABLE ${sql(table)} (
              app_id VARCHAR(64) NOT NULL, openid VARCHAR(128) NOT NULL, obtained_at BIGINT NOT NULL,
              refresh_expires_at BIGINT NOT NULL, value TEXT NOT NULL, updated_at BIGINT NOT NULL,
              PRIMARY KEY (app_id, openid)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`
            assert.notInclude(yield* Effect.provide(indexesOf(db.dialect, table), client), `${table}_refresh_idx`)
            yield* Effect.provide(SqlTokenStore.setup({ table }), client)
            yield* Effect.provide(SqlTokenStore.setup({ table }), client)
            assert.include(yield* Effect.provide(indexesOf(db.dialect, table), client), `${table}_refresh_idx`)
          }))
      }

      if (db.dialect === "mysql") {
        it.scopedLive("setup refuses to run inside a transaction (MySQL's DDL would commit it)", () =>
          Effect.gen(function*() {
            const { client, sql, table } = yield* freshTables(db)
            const error = yield* Effect.flip(sql.withTransaction(SqlTokenStore.setup({ table }))).pipe(
              Effect.provide(client)
            )
            assert.instanceOf(error, WeChatError.TokenStoreError)
            assert.strictEqual(error.operation, "setup")
            assert.include(error.description, "transaction")
            const [found] = yield* sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM information_schema.tables
              WHERE table_schema = DATABASE() AND table_name = ${table}`
            assert.strictEqual(Number(found.n), 0, "no table was created")
          }))

        it.scopedLive("setup waits for the lock less than setupTimeout, so the lock is never left taken", () =>
          Effect.gen(function*() {
            const { client, sql, table } = yield* freshTables(db)
            // another process holds the setup lock (GET_LOCK belongs to a session: one connection)
            const holder = yield* Layer.build(db.client())
            const connection = yield* Context.get(holder, SqlClient.SqlClient).reserve
            const lockName = "wxauth_store_sql_setup"
            yield* connection.executeUnprepared("SELECT GET_LOCK(?, 10)", [lockName], undefined)
            const start = Date.now()
            const error = yield* Effect.flip(
              Effect.provide(SqlTokenStore.setup({ table, setupTimeout: "3 seconds" }), client)
            )
            assert.instanceOf(error, WeChatError.TokenStoreError)
            // GET_LOCK gave up by itself (2 s: 3 s less a margin), before the operation's own timeout
            assert.include(error.description, "could not take the setup lock")
            assert.isBelow(Date.now() - start, 3000)
            yield* connection.executeUnprepared("SELECT RELEASE_LOCK(?)", [lockName], undefined)
            // the lock is free: setup goes through and leaves it free
            yield* Effect.provide(SqlTokenStore.setup({ table, setupTimeout: "3 seconds" }), client)
            const [lock] = yield* sql<{ holder: unknown }>`SELECT IS_USED_LOCK(${lockName}) AS holder`
            assert.isNull(lock.holder)
          }))
      }

      it.scopedLive("ddl is what setup runs, for migration tools", () =>
        Effect.gen(function*() {
          const table = randomTable()
          const statements = Either.getOrThrow(SqlTokenStore.ddl(db.dialect, { table }))
          const client = yield* Layer.build(db.client())
          const sql = Context.get(client, SqlClient.SqlClient)
          yield* Effect.addFinalizer(() => Effect.orDie(Effect.provide(dropTables(table, `${table}_codes`), client)))
          for (const statement of statements) yield* sql.unsafe(statement)
          const store = yield* Effect.provide(SqlTokenStore.make({ table }), client)
          const appId = randomAppId()
          const token = yield* makeToken()
          yield* store.set(appId, token)
          assert.isTrue(Option.isSome(yield* store.get(appId, token.openid)))
          assert.isTrue(Either.isLeft(SqlTokenStore.ddl(db.dialect, { table: "no-dashes" })))
        }))
    })

    it.scopedLive("50 writers of one user on 5 separate clients, shuffled, leave the newest token", () =>
      Effect.gen(function*() {
        const table = randomTable()
        const clients = yield* Effect.forEach([1, 2, 3, 4, 5], () => Layer.build(db.client()))
        yield* Effect.addFinalizer(() => Effect.orDie(Effect.provide(dropTables(table, `${table}_codes`), clients[0])))
        yield* Effect.provide(SqlTokenStore.setup({ table }), clients[0])
        const stores = yield* Effect.forEach(clients, (client) => Effect.provide(SqlTokenStore.make({ table }), client))
        const appId = randomAppId()
        const base = yield* makeToken()
        const tokens = yield* Effect.forEach(
          Array.from({ length: 50 }, (_, i) => i),
          (i) => makeToken({ openid: base.openid, obtainedAt: base.obtainedAt + i })
        )
        const shuffled = yield* Random.shuffle(tokens)
        yield* Effect.forEach(shuffled, (token, i) => stores[i % stores.length].set(appId, token), {
          concurrency: "unbounded"
        })
        const newest = tokens[tokens.length - 1]
        for (const store of stores) {
          const found = Option.getOrThrow(yield* store.get(appId, base.openid))
          assert.strictEqual(found.obtainedAt, newest.obtainedAt)
          assert.strictEqual(Redacted.value(found.accessToken), Redacted.value(newest.accessToken))
        }
        assert.strictEqual(yield* Effect.provide(countRows(table), clients[0]), 1)
      }))

    it.scoped("purgeExpired deletes the expired tokens and code memos, and only those", () =>
      Effect.gen(function*() {
        const { client, memoTable, table } = yield* freshTables(db)
        const store = yield* layerStore(client, { table })
        const now = yield* Clock.currentTimeMillis
        const appId = randomAppId()
        const soon = yield* makeToken({ refreshExpiresAt: now + 1000 })
        const atTheEdge = yield* makeToken({ refreshExpiresAt: now + 2000 })
        const later = yield* makeToken({ refreshExpiresAt: now + 60 * 60 * 1000 })
        for (const token of [soon, atTheEdge, later]) yield* store.set(appId, token)
        const memo = (expiresAt: number) =>
          new TokenStore.CodeMemo({ openid: randomOpenId(), exchangedAt: now, expiresAt })
        yield* store.rememberCode(appId, TokenStore.hashCode("c1"), memo(now + 1000))
        yield* store.rememberCode(appId, TokenStore.hashCode("c2"), memo(now + 60_000))
        assert.deepStrictEqual(yield* Effect.provide(SqlTokenStore.purgeExpired({ table }), client), {
          tokens: 0,
          codes: 0
        })
        yield* TestClock.adjust(2000)
        assert.deepStrictEqual(yield* Effect.provide(SqlTokenStore.purgeExpired({ table }), client), {
          tokens: 2,
          codes: 1
        })
        assert.strictEqual(yield* Effect.provide(countRows(table), client), 1)
        assert.strictEqual(yield* Effect.provide(countRows(memoTable), client), 1)
        assert.isTrue(Option.isSome(yield* store.get(appId, later.openid)))
        assert.isTrue(Option.isSome(yield* store.recallCode(appId, TokenStore.hashCode("c2"))))
      }))

    it.scoped("rememberCode reads the memo once: an expiresAt answered on a later read is not the row's expires_at (review: a 5-minute memo kept 285,000 years)", () =>
      Effect.gen(function*() {
        const { client, memoTable, sql, table } = yield* freshTables(db)
        const store = yield* layerStore(client, { table })
        const now = yield* Clock.currentTimeMillis
        const appId = randomAppId()
        const memo = new TokenStore.CodeMemo({ openid: randomOpenId(), exchangedAt: now, expiresAt: now + 300_000 })
        let reads = 0
        // honest on its first two reads, 2^53 - 992 from the third on
        Object.defineProperty(memo, "expiresAt", { get: () => ++reads <= 2 ? now + 300_000 : 9_007_199_254_740_000 })
        yield* store.rememberCode(appId, TokenStore.hashCode("c1"), memo)
        assert.strictEqual(reads, 1, "reads of expiresAt")
        const rows = yield* sql<{ expires_at: unknown }>`SELECT expires_at FROM ${sql(memoTable)}`
        assert.deepStrictEqual(rows.map((row) => Number(row.expires_at)), [now + 300_000])
        yield* TestClock.adjust(300_000)
        assert.deepStrictEqual(yield* Effect.provide(SqlTokenStore.purgeExpired({ table }), client), {
          tokens: 0,
          codes: 1
        })
      }))

    it.scopedLive("with a TokenCipher key the raw rows hold no token in clear, and read back whole", () =>
      Effect.gen(function*() {
        const { client, memoTable, sql, table } = yield* freshTables(db)
        yield* Effect.provide(SqlTokenStore.setup({ table }), client)
        const store = yield* SqlTokenStore.make({ table }).pipe(Effect.provide(client), Effect.provide(cipherLayer))
        const appId = randomAppId()
        const token = yield* makeToken({ unionid: "oUnion_secret" })
        const codeHash = TokenStore.hashCode("the-code")
        const now = yield* Clock.currentTimeMillis
        yield* store.set(appId, token)
        yield* store.rememberCode(
          appId,
          codeHash,
          new TokenStore.CodeMemo({ openid: token.openid, exchangedAt: now, expiresAt: now + 60_000 })
        )
        const [row] = yield* sql<{ value: string }>`SELECT value FROM ${sql(table)} WHERE openid = ${token.openid}`
        assert.match(row.value, /^wxenc1:k1:/)
        assert.notInclude(row.value, Redacted.value(token.accessToken))
        assert.notInclude(row.value, Redacted.value(token.refreshToken))
        assert.notInclude(row.value, "oUnion_secret")
        const [memoRow] = yield* sql<{ value: string }>`SELECT value FROM ${sql(memoTable)}`
        assert.match(memoRow.value, /^wxenc1:k1:/)
        assert.notInclude(memoRow.value, token.openid)
        const found = Option.getOrThrow(yield* store.get(appId, token.openid))
        assert.strictEqual(Redacted.value(found.accessToken), Redacted.value(token.accessToken))
        assert.strictEqual(Redacted.value(found.refreshToken), Redacted.value(token.refreshToken))
        assert.strictEqual(Option.getOrThrow(yield* store.recallCode(appId, codeHash)).openid, token.openid)
        // without the key the sealed row is a TokenStoreError, not a crash and not garbage
        const keyless = yield* Effect.provide(SqlTokenStore.make({ table }), client)
        const error = yield* Effect.flip(keyless.get(appId, token.openid))
        assert.strictEqual(error._tag, "TokenStoreError")
      }))

    it.scopedLive("a row with garbage in value is a TokenStoreError that quotes nothing of it", () =>
      Effect.gen(function*() {
        const { client, memoTable, sql, table } = yield* freshTables(db)
        yield* Effect.provide(SqlTokenStore.setup({ table }), client)
        const store = yield* Effect.provide(SqlTokenStore.make({ table }), client)
        const appId = randomAppId()
        const openid = randomOpenId()
        const now = yield* Clock.currentTimeMillis
        const garbage = "{\"accessToken\":\"AT_garbage_secret\",\"broken"
        yield* sql`INSERT INTO ${sql(table)} ${
          sql.insert({
            app_id: appId,
            openid,
            obtained_at: now,
            refresh_expires_at: now + 3_600_000,
            value: garbage,
            updated_at: now
          })
        }`
        yield* sql`INSERT INTO ${sql(memoTable)} ${
          sql.insert({ app_id: appId, code_hash: "h", expires_at: now + 60_000, value: "not json" })
        }`
        const error = yield* Effect.flip(store.get(appId, openid))
        assert.instanceOf(error, WeChatError.TokenStoreError)
        assert.strictEqual(error.operation, "get")
        assertQuotesNone(error, ["AT_garbage_secret"])
        const memoError = yield* Effect.flip(store.recallCode(appId, "h"))
        assert.strictEqual(memoError._tag, "TokenStoreError")
        // another row of the same table is unaffected
        const token = yield* makeToken()
        yield* store.set(appId, token)
        assert.isTrue(Option.isSome(yield* store.get(appId, token.openid)))
      }))

    it.scopedLive("a value longer than any token in a user's row is a TokenStoreError, not fetched; the others read on", () =>
      Effect.gen(function*() {
        const { client, sql, table } = yield* freshTables(db)
        yield* Effect.provide(SqlTokenStore.setup({ table }), client)
        const store = yield* Effect.provide(SqlTokenStore.make({ table }), client)
        const appId = randomAppId()
        const [planted, other] = [yield* makeToken(), yield* makeToken()]
        yield* store.set(appId, planted)
        yield* store.set(appId, other)
        const plant = (value: string) =>
          sql`UPDATE ${sql(table)} SET value = ${value} WHERE app_id = ${appId} AND openid = ${planted.openid}`
        // MariaDB's TEXT holds 65,535 bytes: no longer value gets in (the bound is not reached there)
        const long = `AT_planted_secret${"x".repeat(2 * 1024 * 1024)}`
        if (Exit.isSuccess(yield* Effect.exit(plant(long)))) {
          // behind a NUL, where SQLite's length() of the text stops counting
          for (const value of [long, `x\u0000${long}`]) {
            if (db.dialect === "pg" && value.includes("\u0000")) continue // PostgreSQL's text holds no NUL
            yield* plant(value)
            const error = yield* Effect.flip(store.get(appId, planted.openid))
            assert.instanceOf(error, WeChatError.TokenStoreError)
            assert.include(error.description, "longer than any token")
            assertQuotesNone(error, ["AT_planted_secret"])
          }
        }
        // at the bound it is read (and does not decode)
        if (Exit.isSuccess(yield* Effect.exit(plant("x".repeat(TokenStore.maxStoredValueBytes))))) {
          assert.include((yield* Effect.flip(store.get(appId, planted.openid))).description, "does not decode")
        }
        assert.isTrue(Option.isSome(yield* store.get(appId, other.openid)))
      }))

    it.scopedLive("a code memo longer than any memo is a TokenStoreError, not fetched; rememberCode replaces it", () =>
      Effect.gen(function*() {
        const { client, memoTable, sql, table } = yield* freshTables(db)
        yield* Effect.provide(SqlTokenStore.setup({ table }), client)
        const store = yield* Effect.provide(SqlTokenStore.make({ table }), client)
        const appId = randomAppId()
        const codeHash = TokenStore.hashCode(`planted-${randomOpenId()}`)
        const now = yield* Clock.currentTimeMillis
        const memo = new TokenStore.CodeMemo({ openid: randomOpenId(), exchangedAt: now, expiresAt: now + 60_000 })
        yield* store.rememberCode(appId, codeHash, memo)
        const plant = (value: string) =>
          sql`UPDATE ${sql(memoTable)} SET value = ${value} WHERE app_id = ${appId} AND code_hash = ${codeHash}`
        // MariaDB's TEXT holds 65,535 bytes: no longer value gets in (the bound is not reached there)
        const long = `AT_planted_secret${"x".repeat(2 * 1024 * 1024)}`
        if (Exit.isSuccess(yield* Effect.exit(plant(long)))) {
          // behind a NUL, where SQLite's length() of the text stops counting
          for (const value of [long, `x\u0000${long}`]) {
            if (db.dialect === "pg" && value.includes("\u0000")) continue // PostgreSQL's text holds no NUL
            yield* plant(value)
            const error = yield* Effect.flip(store.recallCode(appId, codeHash))
            assert.instanceOf(error, WeChatError.TokenStoreError)
            assert.strictEqual(error.operation, "recallCode")
            assert.include(error.description, "longer than any code memo")
            assertQuotesNone(error, ["AT_planted_secret"])
          }
        }
        // at the bound it is read (and does not decode)
        if (Exit.isSuccess(yield* Effect.exit(plant("x".repeat(TokenStore.maxStoredValueBytes))))) {
          assert.include((yield* Effect.flip(store.recallCode(appId, codeHash))).description, "does not decode")
        }
        yield* store.rememberCode(appId, codeHash, memo)
        assert.strictEqual(Option.getOrThrow(yield* store.recallCode(appId, codeHash)).openid, memo.openid)
      }))

    it.scopedLive("a missing table is a TokenStoreError naming the table, quoting no value", () =>
      Effect.gen(function*() {
        const table = randomTable()
        const client = yield* Layer.build(db.client())
        const store = yield* Effect.provide(Layer.build(SqlTokenStore.layer({ table, setup: false })), client).pipe(
          Effect.map(Context.get(TokenStore.TokenStore))
        )
        const appId = randomAppId()
        const token = yield* makeToken()
        for (
          const failing of [
            store.set(appId, token),
            store.get(appId, token.openid),
            store.remove(appId, token.openid),
            store.recallCode(appId, "h")
          ]
        ) {
          const error = yield* Effect.flip(failing)
          assert.instanceOf(error, WeChatError.TokenStoreError)
          assert.include(error.description, table)
          assertQuotesNone(error, secretsOf(appId, token))
        }
      }))

    if (db.dialect !== "sqlite") {
      it.scopedLive("a value the database rejects (an over-long openid) is a TokenStoreError quoting no value", () =>
        Effect.gen(function*() {
          const { client, table } = yield* freshTables(db)
          const store = yield* layerStore(client, { table })
          const appId = randomAppId()
          const token = yield* makeToken({ openid: `o${"Zq9".repeat(70)}` })
          const error = yield* Effect.flip(store.set(appId, token))
          assert.instanceOf(error, WeChatError.TokenStoreError)
          assert.strictEqual(error.operation, "set")
          assertQuotesNone(error, secretsOf(appId, token))
        }))

      it.scopedLive(
        "a database that goes away is a TokenStoreError within the timeout, refused or silent",
        () =>
          Effect.gen(function*() {
            const table = randomTable()
            yield* Effect.addFinalizer(() =>
              Effect.orDie(Effect.provide(dropTables(table, `${table}_codes`), db.client()))
            )
            const refused = yield* makeProxy({ host: db.host, port: db.port })
            const silent = yield* makeProxy({ host: db.host, port: db.port })
            const build = (port: number) =>
              Effect.flatMap(Layer.build(db.client({ host: "127.0.0.1", port })), (client) =>
                Layer.build(SqlTokenStore.layer({ table, timeout: "1 second" })).pipe(
                  Effect.provide(client),
                  Effect.map(Context.get(TokenStore.TokenStore))
                ))
            const viaRefused = yield* build(refused.port)
            const viaSilent = yield* build(silent.port)
            const appId = randomAppId()
            const token = yield* makeToken()
            yield* viaRefused.set(appId, token)
            assert.isTrue(Option.isSome(yield* viaSilent.get(appId, token.openid)))
            yield* refused.refuse
            yield* silent.blackhole
            for (const store of [viaRefused, viaSilent]) {
              const start = Date.now()
              const error = yield* Effect.flip(store.get(appId, token.openid))
              assert.instanceOf(error, WeChatError.TokenStoreError)
              assert.isBelow(Date.now() - start, 5000)
              assertQuotesNone(error, secretsOf(appId, token))
            }
          }),
        { timeout: 30_000 }
      )

      it.live("a database that is not there fails the client layer, typed, within a bound", () =>
        Effect.gen(function*() {
          const start = Date.now()
          const error = yield* Effect.flip(
            Effect.scoped(
              Layer.build(SqlTokenStore.layer()).pipe(
                Effect.provide(db.client({ host: "127.0.0.1", port: 1 }))
              )
            )
          )
          assert.strictEqual((error as { readonly _tag?: string })._tag, "SqlError")
          assert.isBelow(Date.now() - start, 10_000)
        }))
    }

    if (db.dialect === "sqlite") {
      it.scopedLive("a read-only database file: writes are a TokenStoreError, reads still work", () =>
        Effect.gen(function*() {
          const table = randomTable()
          const writable = yield* Layer.build(db.client())
          yield* Effect.addFinalizer(() => Effect.orDie(Effect.provide(dropTables(table, `${table}_codes`), writable)))
          const store = yield* layerStore(writable, { table })
          const appId = randomAppId()
          const token = yield* makeToken()
          yield* store.set(appId, token)
          const readonly = yield* Layer.build(SqliteClient.layer({ filename: sqliteFile, readonly: true }))
          const reader = yield* Effect.provide(SqlTokenStore.make({ table }), readonly)
          assert.isTrue(Option.isSome(yield* reader.get(appId, token.openid)))
          const error = yield* Effect.flip(reader.set(appId, yield* makeToken()))
          assert.instanceOf(error, WeChatError.TokenStoreError)
          assert.include(error.description, "SQLITE_READONLY")
        }))
    }

    it.scopedLive("spans name the operation and carry no token, code or openid", () =>
      Effect.gen(function*() {
        const { client, table } = yield* freshTables(db)
        const store = yield* layerStore(client, { table })
        const recorder = recordingTracer()
        const appId = randomAppId()
        const token = yield* makeToken()
        const codeHash = TokenStore.hashCode("code")
        const now = yield* Clock.currentTimeMillis
        yield* Effect.gen(function*() {
          yield* store.set(appId, token)
          yield* store.get(appId, token.openid)
          yield* store.rememberCode(
            appId,
            codeHash,
            new TokenStore.CodeMemo({ openid: token.openid, exchangedAt: now, expiresAt: now + 1000 })
          )
          yield* store.recallCode(appId, codeHash)
          yield* store.remove(appId, token.openid)
        }).pipe(Effect.withTracer(recorder.tracer))
        assert.includeMembers(recorder.names, ["SqlTokenStore.set", "SqlTokenStore.get", "SqlTokenStore.recallCode"])
        const recorded = Util.inspect(recorder.values, { depth: 10, maxStringLength: Infinity })
        for (const secret of [...secretsOf(appId, token), codeHash]) assert.notInclude(recorded, secret)
      }))

    it.scopedLive("the operations' spans capture no stack trace, not even on failure (get is on the hot path)", () =>
      Effect.gen(function*() {
        const client = yield* Layer.build(db.client())
        // a missing table: every operation fails, which is when a captured stack trace is attached
        const store = yield* Effect.provide(SqlTokenStore.make({ table: randomTable() }), client)
        const recorder = recordingTracer()
        const appId = randomAppId()
        const token = yield* makeToken()
        const now = yield* Clock.currentTimeMillis
        const memo = new TokenStore.CodeMemo({ openid: token.openid, exchangedAt: now, expiresAt: now + 1000 })
        yield* Effect.all([
          Effect.flip(store.get(appId, token.openid)),
          Effect.flip(store.set(appId, token)),
          Effect.flip(store.remove(appId, token.openid)),
          Effect.flip(store.rememberCode(appId, "h", memo)),
          Effect.flip(store.recallCode(appId, "h"))
        ]).pipe(Effect.withTracer(recorder.tracer))
        assert.includeMembers(recorder.names, [
          "SqlTokenStore.get",
          "SqlTokenStore.set",
          "SqlTokenStore.remove",
          "SqlTokenStore.rememberCode",
          "SqlTokenStore.recallCode"
        ])
        assert.notInclude(recorder.values, "code.stacktrace")
      }))

    if (db.dialect !== "sqlite") {
      it.scopedLive("a deadlock inside the caller's transaction is not retried: the database rolled it back", () =>
        Effect.gen(function*() {
          const table = randomTable()
          const trigger = `${table}_fail`
          const client = yield* Layer.build(db.client())
          const sql = Context.get(client, SqlClient.SqlClient)
          yield* Effect.addFinalizer(() =>
            Effect.orDie(Effect.provide(dropTables(table, `${table}_codes`), client)).pipe(
              Effect.zipRight(
                db.dialect === "pg" ? Effect.orDie(sql.unsafe(`DROP FUNCTION IF EXISTS ${trigger}()`)) : Effect.void
              )
            )
          )
          const store = yield* layerStore(client, { table })
          // every insert fails as a deadlock (MySQL) or a serialization failure (PostgreSQL) would
          if (db.dialect === "pg") {
            yield* sql.unsafe(`CREATE FUNCTION ${trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN RAISE EXCEPTION 'simulated serialization failure' USING ERRCODE = '40001'; END $$`).unprepared
            yield* sql.unsafe(`CREATE TRIGGER ${trigger} BEFORE INSERT ON ${table}
              FOR EACH ROW EXECUTE FUNCTION ${trigger}()`).unprepared
          } else {
            yield* sql.unsafe(`CREATE TRIGGER ${trigger} BEFORE INSERT ON ${table} FOR EACH ROW
              SIGNAL SQLSTATE '40001' SET MESSAGE_TEXT = 'simulated deadlock', MYSQL_ERRNO = 1213`).unprepared
          }
          const code = db.dialect === "pg" ? "40001" : "ER_LOCK_DEADLOCK"
          /** The operation's failure, and how many statements it ran. */
          const attempts = <A, E>(effect: Effect.Effect<A, E>) =>
            Effect.suspend(() => {
              const recorder = recordingTracer()
              return effect.pipe(
                Effect.withTracer(recorder.tracer),
                Effect.flip,
                Effect.map((error) => [error, recorder.names.filter((name) => name === "sql.execute").length] as const)
              )
            })
          const appId = randomAppId()
          const token = yield* makeToken()

          // on its own, the write is retried (1 + 4 attempts)
          const [alone, aloneRuns] = yield* attempts(store.set(appId, token))
          assert.strictEqual(alone._tag, "TokenStoreError")
          assert.include(alone.description, code)
          assert.strictEqual(aloneRuns, 5)

          // inside a transaction, it fails at once: the transaction is the caller's to start over
          const [inside, insideRuns] = yield* sql.withTransaction(attempts(store.set(appId, token)))
          assert.strictEqual(inside._tag, "TokenStoreError")
          assert.include(inside.description, code)
          assert.strictEqual(insideRuns, 1)
        }))
    }

    it.scopedLive("layerFromClient and layerConfig build the same store", () =>
      Effect.gen(function*() {
        const { client, sql, table } = yield* freshTables(db)
        const fromClient = yield* Layer.build(SqlTokenStore.layerFromClient(sql, { table })).pipe(
          Effect.map(Context.get(TokenStore.TokenStore))
        )
        const fromConfig = yield* Layer.build(
          SqlTokenStore.layerConfig({ table: Config.string("TABLE"), setup: Config.boolean("SETUP") })
        ).pipe(
          Effect.provide(client),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["TABLE", table], ["SETUP", "false"]]))),
          Effect.map(Context.get(TokenStore.TokenStore))
        )
        const appId = randomAppId()
        const token = yield* makeToken()
        yield* fromClient.set(appId, token)
        assert.isTrue(Option.isSome(yield* fromConfig.get(appId, token.openid)))
      }))
  })
})

describe("SqlTokenStore.ddl", () => {
  it("shows each dialect's schema", () => {
    const pg = Either.getOrThrow(SqlTokenStore.ddl("pg", { table: "tokens" }))
    assert.include(pg[0], "CREATE TABLE IF NOT EXISTS \"tokens\"")
    assert.include(pg[0], "PRIMARY KEY (app_id, openid)")
    assert.include(pg[1], "CREATE INDEX IF NOT EXISTS \"tokens_refresh_idx\" ON \"tokens\" (refresh_expires_at)")
    const mysql = Either.getOrThrow(SqlTokenStore.ddl("mysql", { table: "tokens" }))
    assert.include(mysql[0], "INDEX `tokens_refresh_idx` (refresh_expires_at)")
    assert.include(mysql[1], "CREATE TABLE IF NOT EXISTS `tokens_codes`")
    const sqlite = Either.getOrThrow(SqlTokenStore.ddl("sqlite", { table: "tokens", memoTable: "codes" }))
    assert.include(sqlite[2], "CREATE TABLE IF NOT EXISTS \"codes\"")
  })
})

describe("the test helpers", () => {
  it("take any CI value but empty, 0 or false for CI, where an unreachable database fails the run", () => {
    for (const value of ["true", "1", "yes", "TRUE", "github-actions"]) assert.isTrue(isCi(value), value)
    for (const value of [undefined, "", "0", "false", "False"]) assert.isFalse(isCi(value), String(value))
  })
})

describe("driver messages", () => {
  it("lose every quoted part, where databases put the values they complain about", () => {
    assert.strictEqual(
      internal.scrub("Duplicate entry 'wx1-oSecretOpenId' for key 'PRIMARY'"),
      "Duplicate entry ? for key ?"
    )
    assert.strictEqual(
      internal.scrub("invalid input syntax for type bigint: \"AT_secret\""),
      "invalid input syntax for type bigint: ?"
    )
    assert.strictEqual(internal.scrub("connect ECONNREFUSED 127.0.0.1:1"), "connect ECONNREFUSED 127.0.0.1:1")
    const cleaned = internal.cleanSqlError(
      new SqlError.SqlError({
        message: "Failed to execute statement",
        cause: Object.assign(new Error("Duplicate entry 'AT_secret' for key 'PRIMARY'"), {
          code: "ER_DUP_ENTRY",
          sql: "INSERT INTO t VALUES ('AT_secret')",
          parameters: ["AT_secret"]
        })
      }),
      "wxauth_tokens"
    )
    assert.notInclude(Util.inspect(cleaned, { depth: 10 }), "AT_secret")
    assert.include(cleaned.description, "ER_DUP_ENTRY")
  })
  it("lose their quoted parts in one pass, however many quotes are left open (a megabyte of them)", () => {
    // every quote of a kind left open after the first: the regular expression tried each to the end
    const open = "'\\".repeat(500_000)
    assert.strictEqual(internal.scrub(`value ${open}`), `value ${open}`.slice(0, 200) + "...")
    assert.strictEqual(
      internal.scrub(`a 'x\\'y' b "${"\\\"".repeat(300_000)} c`),
      `a ? b "${"\\\"".repeat(300_000)} c`.slice(0, 200) + "..."
    )
    assert.strictEqual(internal.scrub("'a' `b` \"c\" 'd\\'e' 'open"), "? ? ? ? 'open")
  })
})
