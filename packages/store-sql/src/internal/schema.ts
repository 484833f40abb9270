/**
 * The store's schema: the DDL of each dialect, and the table setup that runs it under a lock (a
 * PostgreSQL advisory transaction lock, a MySQL `GET_LOCK`, a SQLite `BEGIN IMMEDIATE`), so any
 * number of processes may set up at once, for one or several table names.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import { WeChatError } from "@wxauth/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Crypto from "node:crypto"
import type { Dialect, Tables } from "../SqlTokenStore.js"
import { client } from "./client.js"
import { positiveDuration } from "./durations.js"
import { guard } from "./guard.js"

/**
 * Quotes a validated identifier (doubling the quote character, for defence in depth).
 *
 * @internal
 */
export const quote = (dialect: Dialect, name: string): string =>
  dialect === "mysql" ? `\`${name.replace(/`/g, "``")}\`` : `"${name.replace(/"/g, "\"\"")}"`

/**
 * The column types every store's tables use, in one dialect.
 *
 * @internal
 */
export interface ColumnTypes {
  /** A caller's id of at most `length` characters, compared byte for byte (`app_id`, `openid`, ...). */
  readonly id: (length: number) => string
  /** A time in epoch milliseconds. */
  readonly millis: string
  /** A sealed value (the codec's text). */
  readonly sealed: string
}

/**
 * The column types of `dialect`: MySQL / MariaDB compares text byte for byte only with a binary
 * collation, so its text columns name one.
 *
 * @internal
 */
export const columnTypes = (dialect: Dialect): ColumnTypes => {
  switch (dialect) {
    case "pg":
      return { id: (length) => `VARCHAR(${length})`, millis: "BIGINT", sealed: "TEXT" }
    case "mysql":
      return {
        id: (length) => `VARCHAR(${length}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
        millis: "BIGINT",
        sealed: "TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
      }
    case "sqlite":
      return { id: () => "TEXT", millis: "INTEGER", sealed: "TEXT" }
  }
}

/**
 * The idempotent DDL of one table in `dialect`: `CREATE TABLE IF NOT EXISTS` with its `columns`
 * (column definitions and constraints, one a line) and the dialect's table options (InnoDB and a
 * binary collation in MySQL, `WITHOUT ROWID` in SQLite), and its `indexes` (`[index, columns]`):
 * inside `CREATE TABLE` in MySQL, which has no `CREATE INDEX IF NOT EXISTS`, else one
 * `CREATE INDEX IF NOT EXISTS` each after it. Names are quoted here.
 *
 * @internal
 */
export const createTable = (
  dialect: Dialect,
  table: string,
  columns: ReadonlyArray<string>,
  indexes: ReadonlyArray<readonly [index: string, columns: string]> = []
): ReadonlyArray<string> => {
  const t = quote(dialect, table)
  const lines = dialect === "mysql"
    ? [...columns, ...indexes.map(([index, on]) => `INDEX ${quote(dialect, index)} (${on})`)]
    : columns
  const options = dialect === "mysql"
    ? " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    : dialect === "sqlite"
    ? " WITHOUT ROWID"
    : ""
  return [
    `CREATE TABLE IF NOT EXISTS ${t} (\n  ${lines.join(",\n  ")}\n)${options}`,
    ...(dialect === "mysql"
      ? []
      : indexes.map(([index, on]) => `CREATE INDEX IF NOT EXISTS ${quote(dialect, index)} ON ${t} (${on})`))
  ]
}

/**
 * The token store's DDL in `dialect`: the token and code memo tables and their indexes. Every
 * statement is idempotent (`IF NOT EXISTS`); MySQL declares its indexes inside `CREATE TABLE`, as it
 * has no `CREATE INDEX IF NOT EXISTS` (see `createTable`).
 *
 * @internal
 */
export const ddl = (dialect: Dialect, tables: Tables): ReadonlyArray<string> => {
  const c = columnTypes(dialect)
  return [
    ...createTable(dialect, tables.table, [
      `app_id ${c.id(64)} NOT NULL`,
      `openid ${c.id(128)} NOT NULL`,
      `obtained_at ${c.millis} NOT NULL`,
      `refresh_expires_at ${c.millis} NOT NULL`,
      `value ${c.sealed} NOT NULL`,
      `updated_at ${c.millis} NOT NULL`,
      "PRIMARY KEY (app_id, openid)"
    ], [[tables.tokenIndex, "refresh_expires_at"]]),
    ...createTable(dialect, tables.memoTable, [
      `app_id ${c.id(64)} NOT NULL`,
      `code_hash ${c.id(128)} NOT NULL`,
      `expires_at ${c.millis} NOT NULL`,
      `value ${c.sealed} NOT NULL`,
      "PRIMARY KEY (app_id, code_hash)"
    ], [[tables.memoIndex, "expires_at"]])
  ]
}

/** The name of the lock every wxauth table setup takes (one for all table names: setup is rare and quick). */
const lockName = "wxauth_store_sql_setup"

/**
 * The PostgreSQL advisory lock key for `lockName`: the first 8 bytes of its SHA-256, as a signed
 * 64-bit integer (sent as a string, cast to bigint).
 */
const pgLockKey: string = Crypto.createHash("sha256").update(lockName, "utf8").digest().readBigInt64BE(0)
  .toString()

const defaultSetupTimeout = Duration.seconds(60)

/**
 * What a store's setup runs: its idempotent DDL for the client's dialect, and the indexes MySQL /
 * MariaDB adds to tables made before the index existed (it has no `CREATE INDEX IF NOT EXISTS`):
 * `[table, index, column]`. `table` names the store in errors.
 *
 * @internal
 */
export interface SetupPlan {
  readonly statements: ReadonlyArray<string>
  readonly indexes: ReadonlyArray<readonly [table: string, index: string, column: string]>
  readonly table: string
  readonly timeout: Duration.DurationInput | undefined
}

/**
 * Runs a setup plan under the setup lock (shared by every wxauth store), bounded by its timeout.
 *
 * @internal
 */
export const runSetup = (
  plan: SetupPlan
): Effect.Effect<void, WeChatError.InvalidArgument | WeChatError.TokenStoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const [sql, dialect] = yield* client
    const timeout = yield* positiveDuration("setupTimeout", plan.timeout, defaultSetupTimeout)
    if (dialect === "mysql" && Option.isSome(yield* Effect.serviceOption(SqlClient.TransactionConnection))) {
      return yield* new WeChatError.TokenStoreError({
        operation: "setup",
        description: "setup cannot run inside a transaction on MySQL / MariaDB: its CREATE TABLE would commit " +
          "the transaction implicitly; run setup before, or outside, the transaction"
      })
    }
    const run = (() => {
      switch (dialect) {
        case "pg":
          return setupPg(sql, plan.statements)
        case "mysql":
          return setupMysql(sql, plan.statements, plan.indexes, timeout)
        case "sqlite":
          return setupSqlite(sql, plan.statements)
      }
    })()
    yield* guard("setup", plan.table, timeout)(run)
  })

type Run = <A extends object>(statement: Statement.Statement<A>) => Effect.Effect<ReadonlyArray<A>, SqlError.SqlError>

/**
 * Runs `f` with every statement on one connection: the one of the surrounding transaction, or a
 * reserved one.
 */
const pinned = <A, E, R>(
  sql: SqlClient.SqlClient,
  f: (run: Run, inTransaction: boolean) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | SqlError.SqlError, R> =>
  Effect.flatMap(
    Effect.serviceOption(SqlClient.TransactionConnection),
    Option.match({
      onSome: () => f((statement) => statement, true),
      onNone: () =>
        Effect.scoped(
          Effect.flatMap(sql.reserve, (connection) =>
            f((statement) => {
              const [text, params] = statement.compile()
              return connection.executeUnprepared(text, params, undefined)
            }, false))
        )
    })
  )

const setupPg = (sql: SqlClient.SqlClient, statements: ReadonlyArray<string>) =>
  sql.withTransaction(
    Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(${pgLockKey}::bigint)`
      for (const statement of statements) yield* sql.unsafe(statement)
    })
  )

/**
 * How long MySQL's `GET_LOCK` waits: `setupTimeout` minus a margin (a fifth of it, from 1 to 10
 * seconds) left for the DDL once the lock is granted, in whole seconds.
 */
const mysqlLockWaitSeconds = (timeout: Duration.Duration): number => {
  const seconds = Duration.toSeconds(timeout)
  return Math.max(0, Math.floor(seconds - Math.min(10, Math.max(1, seconds / 5))))
}

const setupMysql = (
  sql: SqlClient.SqlClient,
  statements: ReadonlyArray<string>,
  indexes: SetupPlan["indexes"],
  timeout: Duration.Duration
) =>
  pinned(sql, (run) => {
    const waitSeconds = mysqlLockWaitSeconds(timeout)
    // Taken uninterruptibly: a timeout that strikes as the lock is granted still releases it, rather
    // than leaving it held by a pooled connection.
    const acquire = Effect.flatMap(
      run(sql<{ locked: unknown }>`SELECT GET_LOCK(${lockName}, ${waitSeconds}) AS locked`),
      ([lock]) =>
        Number(lock?.locked) === 1 ? Effect.void : Effect.fail(
          new WeChatError.TokenStoreError({
            operation: "setup",
            description: `could not take the setup lock ${lockName} within ${waitSeconds} seconds`
          })
        )
    )
    const create = Effect.gen(function*() {
      for (const statement of statements) yield* run(sql.unsafe(statement))
      // Tables made before an index existed get it now (MySQL has no CREATE INDEX IF NOT EXISTS).
      for (const [table, index, column] of indexes) {
        const [found] = yield* run(sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM information_schema.statistics
          WHERE table_schema = DATABASE() AND table_name = ${table} AND index_name = ${index}`)
        if (Number(found?.n ?? 0) === 0) {
          yield* run(sql`CREATE INDEX ${sql(index)} ON ${sql(table)} (${sql(column)})`)
        }
      }
    })
    return Effect.acquireUseRelease(
      acquire,
      () => create,
      () => Effect.ignore(run(sql`SELECT RELEASE_LOCK(${lockName})`))
    )
  })

const setupSqlite = (sql: SqlClient.SqlClient, statements: ReadonlyArray<string>) =>
  pinned(sql, (run, inTransaction) => {
    const create = Effect.forEach(statements, (statement) => run(sql.unsafe(statement)), { discard: true })
    if (inTransaction) return create
    return run(sql`BEGIN IMMEDIATE`).pipe(
      Effect.zipRight(
        create.pipe(
          Effect.zipRight(run(sql`COMMIT`)),
          Effect.onError(() => Effect.ignore(run(sql`ROLLBACK`)))
        )
      )
    )
  })
