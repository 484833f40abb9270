/**
 * The databases the tests run against, each probed once: PostgreSQL and MariaDB / MySQL from the
 * environment (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`; `MYSQL_HOST`, `MYSQL_PORT`,
 * `MYSQL_USER`, `MYSQL_PASSWORD`, `MYSQL_DATABASE`) and SQLite in a temp file. When a server does not
 * answer, its tests are skipped with a loud warning, except in CI (`CI` set to anything but empty, `0`
 * or `false`), where that is a failure.
 */
import { MysqlClient } from "@effect/sql-mysql2"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, describe, it } from "@effect/vitest"
import { TokenStore } from "@wxauth/core"
import { SqlSocket, SqlTokenStore } from "@wxauth/store-sql"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

export interface Database {
  readonly name: string
  readonly dialect: SqlTokenStore.Dialect
  /**
   * A new client (its own pool or connection) each time the layer is built; `maxConnections`: its
   * pool's size; `silentAfter`: its connections are `SqlSocket`'s, dropped after that much silence;
   * `ssl`: over TLS (to a proxy that ends it, see `makeProxy`).
   */
  readonly client: (
    overrides?: {
      readonly host?: string
      readonly port?: number
      readonly maxConnections?: number
      readonly silentAfter?: Duration.DurationInput
      /** TLS to the server (a certificate not verified), e.g. to a proxy that ends it (`makeProxy`). */
      readonly ssl?: boolean
    }
  ) => Layer.Layer<
    SqlClient.SqlClient,
    unknown
  >
  readonly host: string
  readonly port: number
}

const env = (name: string, fallback: string): string => {
  const value = process.env[name]
  return value === undefined || value === "" ? fallback : value
}

const password = (name: string) => {
  const value = process.env[name]
  return value === undefined || value === "" ? undefined : Redacted.make(value)
}

export const postgres: Database = {
  name: "PostgreSQL",
  dialect: "pg",
  host: env("PGHOST", "127.0.0.1"),
  port: Number(env("PGPORT", "5432")),
  client: (overrides) =>
    Layer.unwrapEffect(
      Effect.map(
        overrides?.silentAfter === undefined
          ? Effect.succeed(undefined)
          : SqlSocket.pg({ silentAfter: overrides.silentAfter }),
        (stream) =>
          PgClient.layer({
            host: overrides?.host ?? postgres.host,
            port: overrides?.port ?? postgres.port,
            database: env("PGDATABASE", "test"),
            username: env("PGUSER", "postgres"),
            password: password("PGPASSWORD"),
            connectTimeout: Duration.seconds(3),
            maxConnections: overrides?.maxConnections,
            stream,
            ssl: overrides?.ssl === true ? { rejectUnauthorized: false } : undefined
          })
      )
    )
}

export const mariadb: Database = {
  name: "MariaDB",
  dialect: "mysql",
  host: env("MYSQL_HOST", "127.0.0.1"),
  port: Number(env("MYSQL_PORT", "3306")),
  client: (overrides) =>
    Layer.unwrapEffect(
      Effect.map(
        overrides?.silentAfter === undefined
          ? Effect.succeed(undefined)
          : SqlSocket.mysql({ silentAfter: overrides.silentAfter }),
        (stream) =>
          MysqlClient.layer({
            host: overrides?.host ?? mariadb.host,
            port: overrides?.port ?? mariadb.port,
            database: env("MYSQL_DATABASE", "test"),
            username: env("MYSQL_USER", "root"),
            password: password("MYSQL_PASSWORD"),
            maxConnections: overrides?.maxConnections,
            poolConfig: {
              connectTimeout: 3000,
              ...(stream === undefined ? {} : { stream }),
              ...(overrides?.ssl === true ? { ssl: { rejectUnauthorized: false } } : {})
            }
          })
      )
    )
}

const sqliteDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "wxauth-store-sql-"))
afterAll(() => Fs.rmSync(sqliteDir, { recursive: true, force: true }))

/** The SQLite file all SQLite tests of one test file share (each in its own tables). */
export const sqliteFile = Path.join(sqliteDir, "test.sqlite")

export const sqlite: Database = {
  name: "SQLite",
  dialect: "sqlite",
  host: "",
  port: 0,
  client: () => SqliteClient.layer({ filename: sqliteFile })
}

const probe = (db: Database): Promise<string | undefined> =>
  Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1 AS one`).pipe(
      Effect.provide(db.client()),
      Effect.timeoutFail({ duration: Duration.seconds(10), onTimeout: () => "no answer within 10 seconds" }),
      Effect.match({
        onFailure: (error) => typeof error === "string" ? error : String((error as Error).message ?? error),
        onSuccess: () => undefined
      })
    )
  )

/** Whether `CI` says we run in CI: any value but unset, empty, `0` or `false` (`CI=1`, `CI=yes`, ...). */
export const isCi = (value: string | undefined): boolean =>
  value !== undefined && !["", "0", "false"].includes(value.trim().toLowerCase())

const isCI = isCi(process.env.CI)

const availability = new Map<Database, string | undefined>(
  await Promise.all([postgres, mariadb, sqlite].map(async (db) => [db, await probe(db)] as const))
)

/**
 * Registers `tests` for every database that answers. One that does not is a failing test in CI,
 * and a skipped one (with a warning) elsewhere.
 */
export const forEachDatabase = (tests: (db: Database) => void): void => {
  for (const [db, problem] of availability) {
    if (problem === undefined) {
      tests(db)
      continue
    }
    const where = db.dialect === "sqlite" ? sqliteFile : `${db.host}:${db.port}`
    const message = `${db.name} at ${where} is not reachable (${problem})`
    if (isCI) {
      describe(db.name, () => {
        it("is reachable (in CI an unreachable database fails the run)", () => {
          throw new Error(message)
        })
      })
    } else {
      console.warn(
        `\n!!! SKIPPING the ${db.name} tests of @wxauth/store-sql: ${message}. Set CI=1 to fail instead.\n`
      )
      describe.skip(`${db.name} (unreachable: ${problem})`, () => {
        it("skipped", () => {})
      })
    }
  }
}

/** A fresh table name, so that runs and tests never share tables. */
export const randomTable = (prefix = "wxauth_t"): string => `${prefix}_${Crypto.randomBytes(6).toString("hex")}`

/** Drops the tables (when they exist). */
export const dropTables = (...tables: ReadonlyArray<string>) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => Effect.forEach(tables, (table) => sql`DROP TABLE IF EXISTS ${sql(table)}`, { discard: true })
  )

/** A layer that drops the tables when it is released. */
export const dropTablesAfter = (...tables: ReadonlyArray<string>): Layer.Layer<never, never, SqlClient.SqlClient> =>
  Layer.scopedDiscard(Effect.addFinalizer(() => Effect.orDie(dropTables(...tables))))

/**
 * PostgreSQL: each of `count` connections of the pool, all reserved at once (within `seconds`),
 * says whether it is outside any transaction (`transaction_timestamp()` is the statement's own), or
 * gives its failure's SQLSTATE. A pool that gives no `count` connections in time fails with a message.
 */
export const pgPoolStates = (count: number, seconds = 5) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.forEach(
      Array.from({ length: count }),
      () =>
        Effect.flatMap(sql.reserve, (connection) =>
          connection.executeUnprepared(
            "SELECT transaction_timestamp() = statement_timestamp() AS outside",
            [],
            undefined
          )).pipe(
            Effect.map((rows) => rows[0]?.outside === true ? "outside a transaction" : "in a transaction"),
            Effect.catchAll((error) =>
              Effect.succeed(`failed ${String((error.cause as { code?: unknown } | undefined)?.code)}`)
            )
          ),
      { concurrency: "unbounded" }
    )).pipe(
      Effect.scoped,
      Effect.timeoutFail({
        duration: `${seconds} seconds`,
        onTimeout: () => `the pool gave no ${count} connections within ${seconds} seconds`
      })
    )

/**
 * A token store in fresh tables over `client` (a client the test builds, e.g. through a proxy),
 * with `timeoutMillis` as its timeout; the tables are dropped through `cleanup` (a client that
 * reaches the database directly) when the scope closes.
 */
export const storeOver = (
  client: Layer.Layer<SqlClient.SqlClient, unknown>,
  cleanup: Layer.Layer<SqlClient.SqlClient, unknown>,
  timeoutMillis: number
): Effect.Effect<TokenStore.TokenStoreShape, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const table = randomTable()
    yield* Effect.addFinalizer(() => Effect.ignore(Effect.provide(dropTables(table, `${table}_codes`), cleanup)))
    const context = yield* Layer.build(client)
    return yield* Layer.build(SqlTokenStore.layer({ table, timeout: `${timeoutMillis} millis` })).pipe(
      Effect.provide(context),
      Effect.map(Context.get(TokenStore.TokenStore))
    )
  })

/**
 * A store in fresh tables over a new client of `db`, with its own client in context too; the
 * tables are dropped when the layer is released.
 */
export const storeLayer = (db: Database, options: SqlTokenStore.Options = {}) => {
  const table = options.table ?? randomTable()
  const memoTable = options.memoTable ?? `${table}_codes`
  return Layer.provideMerge(
    Layer.merge(SqlTokenStore.layer({ ...options, table, memoTable }), dropTablesAfter(table, memoTable)),
    db.client()
  )
}

/**
 * A single-table store's layer (`SqlAppTokenStore.layer`, ...) in a fresh table named from `prefix`
 * over a new client of `db`, with the client in context too; the table is dropped after.
 */
export const singleTableLayer = <O extends { readonly table?: string | undefined }, A, E>(
  db: Database,
  layer: (options: O) => Layer.Layer<A, E, SqlClient.SqlClient>,
  prefix: string,
  options: O
) => {
  const table = options.table ?? randomTable(prefix)
  return Layer.provideMerge(Layer.merge(layer({ ...options, table }), dropTablesAfter(table)), db.client())
}

/**
 * Runs `setup` twice on each of 3 new clients of `db`, all at once, and gives the clients back; the
 * table is dropped when the scope closes.
 */
export const setupConcurrently = <E>(db: Database, table: string, setup: Effect.Effect<void, E, SqlClient.SqlClient>) =>
  Effect.gen(function*() {
    yield* Effect.addFinalizer(() => Effect.orDie(Effect.provide(dropTables(table), db.client())))
    const clients = yield* Effect.forEach([1, 2, 3], () => Layer.build(db.client()))
    yield* Effect.forEach(
      clients.flatMap((client) => [client, client]),
      (client) => Effect.provide(setup, client),
      { concurrency: "unbounded", discard: true }
    )
    return clients
  })

/** The names of the indexes of `table`. */
export const indexesOf = (dialect: Database["dialect"], table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => {
    switch (dialect) {
      case "pg":
        return sql<{ name: string }>`SELECT indexname AS name FROM pg_indexes WHERE tablename = ${table}`
      case "mysql":
        return sql<{ name: string }>`SELECT DISTINCT index_name AS name FROM information_schema.statistics
          WHERE table_schema = DATABASE() AND table_name = ${table}`
      case "sqlite":
        return sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ${table}`
    }
  }).pipe(Effect.map((rows) => rows.map((row) => row.name)))
