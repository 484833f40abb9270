/**
 * Setup checks the shape of a table it finds (and, with `setup: false`, of a table the operator
 * made): every column the store uses, with a compatible type, and the store's primary key; and a
 * PostgreSQL setup whose connection is killed says why.
 */
import { PgClient } from "@effect/sql-pg"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { SqlSessionKeyStore, SqlSessionStore, SqlTokenStore } from "@wxauth/store-sql"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import { type Database, dropTables, forEachDatabase, postgres, randomTable } from "./databases.js"

/** The token table of the store's DDL with `columns` in place of its own, in `dialect`. */
const tokenTable = (dialect: Database["dialect"], table: string, columns: {
  readonly times?: string
  readonly value?: string
  readonly withUpdatedAt?: boolean
  readonly key?: boolean
  readonly extra?: boolean
  readonly options?: string
}) => {
  const id = dialect === "sqlite" ? "TEXT" : dialect === "mysql" ? "VARCHAR(128) COLLATE utf8mb4_bin" : "VARCHAR(128)"
  const times = columns.times ?? (dialect === "sqlite" ? "INTEGER" : "BIGINT")
  const value = columns.value ?? (dialect === "mysql" ? "TEXT COLLATE utf8mb4_bin" : "TEXT")
  const lines = [
    `app_id ${id} NOT NULL`,
    `openid ${id} NOT NULL`,
    `obtained_at ${times} NOT NULL`,
    `refresh_expires_at ${times} NOT NULL`,
    `value ${value} NOT NULL`,
    ...(columns.withUpdatedAt === false ? [] : [`updated_at ${times} NOT NULL`]),
    ...(columns.extra === true ? ["note TEXT"] : []),
    ...(columns.key === false ? [] : ["PRIMARY KEY (app_id, openid)"])
  ]
  const charset = dialect === "mysql" ? (columns.options ?? " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin") : ""
  return `CREATE TABLE ${table} (${lines.join(", ")})${charset}`
}

/**
 * The `CREATE TABLE` of `table` among a store's `statements` without its column `column`, nor
 * MySQL's inline indexes (one of which is on that column): a table made before the column existed.
 */
const withoutColumn = (statements: ReadonlyArray<string>, table: string, column: string): string => {
  const statement = statements.find((s) => /^CREATE TABLE IF NOT EXISTS [`"](\w+)[`"]/.exec(s)?.[1] === table)
  if (statement === undefined) throw new Error(`no CREATE TABLE of ${table}`)
  const [head, rest] = statement.split(" (\n  ", 2)
  const end = rest.lastIndexOf("\n)")
  const lines = rest.slice(0, end).split(",\n  ")
    .filter((line) => !line.startsWith(`${column} `) && !line.startsWith("INDEX "))
  return `${head} (\n  ${lines.join(",\n  ")}${rest.slice(end)}`
}

/** Makes `table` with `ddl`, dropping it (and its memo table) when the scope closes. */
const made = (table: string, ddl: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* Effect.addFinalizer(() => Effect.ignore(dropTables(table, `${table}_codes`)))
    yield* sql.unsafe(ddl)
  })

forEachDatabase((db) => {
  describe(`the shape of the tables on ${db.name}`, () => {
    const drifts: ReadonlyArray<readonly [string, Parameters<typeof tokenTable>[2], RegExp]> = [
      ["a table without updated_at", { withUpdatedAt: false }, /column updated_at is missing/],
      ["a table without a primary key", { key: false }, /primary key is missing, not \(app_id, openid\)/],
      ...(db.dialect === "sqlite"
        ? [[
          "times in a TEXT column",
          { times: "TEXT" },
          /column obtained_at has type TEXT, not a 64-bit integer/
        ]] as const
        : [
          [
            "times in a 32-bit INT column",
            { times: "INT" },
            /column obtained_at has type int(eger)?, not a 64-bit integer/
          ],
          ["a value column too short for a token", {
            value: db.dialect === "mysql" ? "VARCHAR(255) COLLATE utf8mb4_bin" : "VARCHAR(255)"
          }, /column value holds at most 255 characters/]
        ] as const),
      ...(db.dialect === "mysql"
        ? [[
          "a case-insensitive collation",
          { value: "TEXT", options: " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci" },
          /column value has the collation utf8mb4_general_ci, which does not compare byte for byte/
        ]] as const
        : [])
    ]
    for (const [name, columns, message] of drifts) {
      it.scopedLive(`${name}: setup, and a layer with setup: false, fail naming the table and the column`, () =>
        Effect.gen(function*() {
          const table = randomTable("wxauth_shape")
          yield* made(table, tokenTable(db.dialect, table, columns))
          const error = yield* Effect.flip(SqlTokenStore.setup({ table }))
          if (error._tag !== "TokenStoreError") return assert.fail(error._tag)
          assert.strictEqual(error.operation, "setup")
          assert.include(error.description, `the table ${table} is not the store's`)
          assert.match(error.description, message)
          assert.match(error.description, /migrate it to .*, or drop the table/)
          const managed = yield* Effect.flip(Layer.build(SqlTokenStore.layer({ table, setup: false })))
          assert.strictEqual(managed._tag, "TokenStoreError")
          assert.match((managed as { description: string }).description, message)
        }).pipe(Effect.scoped, Effect.provide(db.client())))
    }

    it.scopedLive("a table of the store's shape with an extra column passes, with setup and without", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_shape")
        yield* made(table, tokenTable(db.dialect, table, { extra: true }))
        yield* SqlTokenStore.setup({ table })
        yield* Layer.build(SqlTokenStore.layer({ table, setup: false }))
      }).pipe(Effect.scoped, Effect.provide(db.client())))

    it.scopedLive("with setup: false a missing table still builds the layer (its operations name it)", () =>
      Effect.gen(function*() {
        yield* Layer.build(SqlTokenStore.layer({ table: randomTable("wxauth_shape"), setup: false }))
      }).pipe(Effect.scoped, Effect.provide(db.client())))

    it.scopedLive("a session table keyed on another column is a SessionStoreError naming the key", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_shape")
        yield* Effect.addFinalizer(() => Effect.ignore(dropTables(table)))
        const sql = yield* SqlClient.SqlClient
        const [ddl] = yield* SqlSessionStore.ddl(db.dialect, { table })
        // the store's own table, its primary key moved to app_id
        const moved = db.dialect === "mysql"
          ? ddl.replace("PRIMARY KEY (id_hash)", "PRIMARY KEY (app_id)")
          : ddl.replace(" NOT NULL PRIMARY KEY", " NOT NULL").replace(/(app_id [^\n,]*NOT NULL)/, "$1 PRIMARY KEY")
        yield* sql.unsafe(moved)
        const error = yield* Effect.flip(SqlSessionStore.setup({ table }))
        assert.strictEqual(error._tag, "SessionStoreError")
        assert.include(
          error.description,
          `the table ${table} is not the store's: its primary key is (app_id), not (id_hash)`
        )
      }).pipe(Effect.scoped, Effect.provide(db.client())))

    // Each table with an index on a column setup finds missing: setup checked the shape only after
    // its CREATE INDEX, which failed with the database's own error ("column ... does not exist").
    const missingIndexed: ReadonlyArray<
      readonly [
        kind: string,
        column: string,
        make: (table: string) => Effect.Effect<readonly [tag: string, table: string, ddl: string], unknown>,
        build: (table: string) => Effect.Effect<unknown, { readonly _tag: string }, SqlClient.SqlClient | Scope.Scope>
      ]
    > = [
      ["token", "refresh_expires_at", (table) =>
        Effect.map(
          SqlTokenStore.ddl(db.dialect, { table }),
          (ddl) => ["TokenStoreError", table, withoutColumn(ddl, table, "refresh_expires_at")] as const
        ), (table) => Layer.build(SqlTokenStore.layer({ table }))],
      ["code memo", "expires_at", (table) =>
        Effect.map(
          SqlTokenStore.ddl(db.dialect, { table }),
          (ddl) => ["TokenStoreError", `${table}_codes`, withoutColumn(ddl, `${table}_codes`, "expires_at")] as const
        ), (table) => Layer.build(SqlTokenStore.layer({ table }))],
      ["session", "expires_at", (table) =>
        Effect.map(
          SqlSessionStore.ddl(db.dialect, { table }),
          (ddl) => ["SessionStoreError", table, withoutColumn(ddl, table, "expires_at")] as const
        ), (table) => Layer.build(SqlSessionStore.layer({ table }))],
      ["session", "openid", (table) =>
        Effect.map(
          SqlSessionStore.ddl(db.dialect, { table }),
          (ddl) => ["SessionStoreError", table, withoutColumn(ddl, table, "openid")] as const
        ), (table) => Layer.build(SqlSessionStore.layer({ table }))],
      ["session key", "expires_at", (table) =>
        Effect.map(
          SqlSessionKeyStore.ddl(db.dialect, { table }),
          (ddl) => ["TokenStoreError", table, withoutColumn(ddl, table, "expires_at")] as const
        ), (table) => Layer.build(SqlSessionKeyStore.layer({ table }))]
    ]
    for (const [kind, column, make, build] of missingIndexed) {
      // scoped inside the client: the tables are dropped while it is open
      it.live(
        `a ${kind} table without its indexed column ${column}: the layer's setup fails naming the table and the column`,
        () =>
          Effect.scoped(Effect.gen(function*() {
            const table = randomTable("wxauth_shape_idx")
            const [tag, named, ddl] = yield* make(table)
            yield* made(named, ddl)
            yield* Effect.addFinalizer(() => Effect.ignore(dropTables(table, `${table}_codes`)))
            const error = yield* Effect.flip(build(table))
            const { description, operation } = error as { description?: string; operation?: string }
            assert.strictEqual(error._tag, tag, String(description))
            assert.strictEqual(operation, "setup")
            assert.include(
              description,
              `the table ${named} is not the store's: its column ${column} is missing; migrate it to ${column} `
            )
            assert.include(description, ", or drop the table so that setup creates it")
          })).pipe(Effect.provide(db.client()))
      )
    }

    it.scopedLive("tables setup made pass the check, and setup again changes nothing", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_shape")
        yield* Effect.addFinalizer(() => Effect.ignore(dropTables(table, `${table}_codes`)))
        yield* SqlTokenStore.setup({ table })
        yield* SqlTokenStore.setup({ table })
        yield* Layer.build(SqlTokenStore.layer({ table, setup: false }))
      }).pipe(Effect.scoped, Effect.provide(db.client())))
  })
})

/** The key of the setup lock (`schema.ts`: the first 8 bytes of the SHA-256 of its name). */
const pgLockKey = Crypto.createHash("sha256").update("wxauth_store_sql_setup", "utf8").digest().readBigInt64BE(0)
  .toString()

describe("a PostgreSQL setup whose connection is killed", () => {
  it.scopedLive("fails with the server's code (57P01), not an unexpected failure", () =>
    Effect.gen(function*() {
      const applicationName = `wxauth_shape_${Crypto.randomBytes(4).toString("hex")}`
      const admin = Context.get(yield* Layer.build(postgres.client()), SqlClient.SqlClient)
      const victim = yield* Layer.build(PgClient.layer({
        host: postgres.host,
        port: postgres.port,
        database: process.env.PGDATABASE || "test",
        username: process.env.PGUSER || "postgres",
        applicationName
      }))
      const table = randomTable("wxauth_shape")
      yield* Effect.addFinalizer(() =>
        Effect.ignore(Effect.provideService(dropTables(table, `${table}_codes`), SqlClient.SqlClient, admin))
      )
      // holds the setup lock on a connection of its own: the victim's setup waits for it
      const holder = yield* admin.reserve
      yield* holder.executeUnprepared(`SELECT pg_advisory_lock(${pgLockKey}::bigint)`, [], undefined)
      yield* Effect.addFinalizer(() =>
        Effect.ignore(holder.executeUnprepared(`SELECT pg_advisory_unlock(${pgLockKey}::bigint)`, [], undefined))
      )
      const setup = yield* Effect.fork(Effect.provide(SqlTokenStore.setup({ table }), victim))
      let killed = 0
      for (let i = 0; i < 200 && killed === 0; i++) {
        yield* Effect.sleep("25 millis")
        const rows = yield* admin<{ n: unknown }>`SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
          WHERE application_name = ${applicationName} AND wait_event_type = 'Lock'`
        killed = Number(rows[0]?.n)
      }
      assert.strictEqual(killed, 1)
      const error = yield* Effect.flip(Fiber.join(setup))
      assert.strictEqual(error._tag, "TokenStoreError")
      assert.include(error.description, "code 57P01")
      assert.notInclude(error.description, "unexpected failure")
      assert.strictEqual((error.cause as { code?: string }).code, "57P01")
    }))
})
