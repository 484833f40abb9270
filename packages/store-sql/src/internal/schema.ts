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
import * as Exit from "effect/Exit"
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
 * Runs the DDL `statements` in order, checking each table's shape right after its `CREATE TABLE`,
 * so before any `CREATE INDEX` on it: on a table found without an indexed column, the index failed
 * first, with the database's own error ("column ... does not exist") in place of the shape check's,
 * which names the table, the column and the DDL line to migrate it to.
 */
const createChecked = (sql: SqlClient.SqlClient, dialect: Dialect, run: Run, statements: ReadonlyArray<string>) =>
  Effect.forEach(
    statements,
    (statement) =>
      Effect.zipRight(run(sql.unsafe(statement)), checkShapes(sql, dialect, run, tableShape(statement), true)),
    { discard: true }
  )

/**
 * Runs `f` with every statement on one connection: the one of the surrounding transaction, or a
 * reserved one. The connection is reserved uninterruptibly: `@effect/sql-pg`'s `reserve` registers
 * the connection's release only once the pool has given it, so a deadline that struck while it waited
 * for one (a busy pool) left the connection the pool then gave to no one, out of the pool for good.
 * The wait is the pool's own (bounded only when the client sets a connection timeout, e.g.
 * `PgClient`'s `connectTimeout`); the caller does not wait for it (`guard` disconnects the operation).
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
          Effect.flatMap(Effect.uninterruptible(sql.reserve), (connection) =>
            f((statement) => {
              const [text, params] = statement.compile()
              return connection.executeUnprepared(text, params, undefined)
            }, false))
        )
    })
  )

/**
 * Runs `create` in a transaction of its own: `begin` (uninterruptibly: a transaction the server has
 * begun is always ended here), then `create` and `COMMIT`, and `ROLLBACK` whenever they fail or are
 * interrupted. Interrupted while `BEGIN` was on its way (the deadline), the connection went back to
 * the pool inside the open transaction: every statement later run on it (any operation's) ran in it,
 * never committed, and after its first failure was refused with 25P02 ("current transaction is
 * aborted"). A failed rollback is ignored; the failure stays.
 *
 * `COMMIT` is uninterruptible too: interrupted, `@effect/sql-pg` cancels the statement through
 * another pooled connection, and on a full pool that cancel waits in the pool's queue and may strike
 * whatever statement the connection runs later (another operation's).
 *
 * The price: a server that goes silent while `BEGIN` or `COMMIT` waits for its answer keeps this
 * work, and its connection, until the connection is dropped (the caller has its error at the
 * deadline all the same). `SqlSocket` drops a connection that stays silent; without it, the
 * connection stays open, and keeps the process from exiting, until the operating system gives up on it.
 */
const ownTransaction = <A, E, R>(
  sql: SqlClient.SqlClient,
  run: Run,
  begin: Statement.Statement<object>,
  create: Effect.Effect<A, E, R>
): Effect.Effect<A, E | SqlError.SqlError, R> =>
  Effect.acquireUseRelease(
    run(begin),
    () => Effect.zipLeft(create, Effect.uninterruptible(run(sql`COMMIT`))),
    (_, exit) => Exit.isSuccess(exit) ? Effect.void : Effect.ignore(run(sql`ROLLBACK`))
  )

/**
 * PostgreSQL's setup: in a transaction of its own on a reserved connection (or in the caller's),
 * begun, committed and rolled back here rather than by `sql.withTransaction`, which turns a failed
 * `ROLLBACK` into a defect in place of the failure: a setup whose connection was killed (57P01)
 * reported only "Failed to execute statement". A failed rollback is ignored; the failure stays.
 */
const setupPg = (sql: SqlClient.SqlClient, statements: ReadonlyArray<string>) =>
  pinned(sql, (run, inTransaction) => {
    const create = Effect.gen(function*() {
      yield* run(sql`SELECT pg_advisory_xact_lock(${pgLockKey}::bigint)`)
      yield* createChecked(sql, "pg", run, statements)
    })
    return inTransaction ? create : ownTransaction(sql, run, sql`BEGIN`, create)
  })

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
      yield* createChecked(sql, "mysql", run, statements)
      // Tables made before an index existed get it now (MySQL has no CREATE INDEX IF NOT EXISTS),
      // their shape checked first (their indexed columns exist).
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
    const create = createChecked(sql, "sqlite", run, statements)
    return inTransaction ? create : ownTransaction(sql, run, sql`BEGIN IMMEDIATE`, create)
  })

/**
 * A column as the store's DDL declares it: its type family (`integer`: a 64-bit integer, the
 * times; `text`), the fewest characters it must hold (`VARCHAR(n)`: n; `TEXT`: what MySQL's `TEXT`
 * holds, 65535), and its DDL line, quoted in errors.
 *
 * @internal
 */
export interface ColumnShape {
  readonly name: string
  readonly family: "integer" | "text"
  readonly length: number
  readonly definition: string
}

/**
 * A table as the store's DDL declares it: its columns and its primary key.
 *
 * @internal
 */
export interface TableShape {
  readonly table: string
  readonly columns: ReadonlyArray<ColumnShape>
  readonly primaryKey: ReadonlyArray<string>
}

/** The characters MySQL's `TEXT` holds: what a `TEXT` column of the DDL asks of a found column. */
const textLength = 65535

/**
 * The shape of the table a `CREATE TABLE` statement of `createTable` makes (none for its other
 * statements): read back from the statement, so the DDL stays the one place the columns are named.
 *
 * @internal
 */
export const tableShape = (statement: string): ReadonlyArray<TableShape> => {
  const match = /^CREATE TABLE IF NOT EXISTS [`"](\w+)[`"] \(\n {2}([\s\S]*)\n\)/.exec(statement)
  if (match === null) return []
  const columns: Array<ColumnShape> = []
  let primaryKey: ReadonlyArray<string> = []
  for (const line of match[2].split(",\n  ")) {
    const key = /^PRIMARY KEY \(([^)]*)\)$/.exec(line)
    if (key !== null) {
      primaryKey = key[1].split(",").map((column) => column.trim())
      continue
    }
    if (line.startsWith("INDEX ")) continue
    const [name, type = ""] = line.split(" ")
    const length = /\((\d+)\)/.exec(type)
    columns.push({
      name,
      family: /INT/i.test(type) ? "integer" : "text",
      length: length === null ? textLength : Number(length[1]),
      definition: line
    })
    if (/ PRIMARY KEY$/.test(line)) primaryKey = [name]
  }
  return [{ table: match[1], columns, primaryKey }]
}

/** A column as the catalog describes it. */
interface FoundColumn {
  readonly name: unknown
  readonly type: unknown
  readonly length: unknown
  readonly collation: unknown
  readonly pk: unknown
}

/**
 * The columns of `table` as the database has them, in order: the table the store's unqualified
 * name finds (PostgreSQL: `to_regclass`, by the search path; MySQL / MariaDB: the current database;
 * SQLite: `pragma_table_info`). None when there is no such table.
 */
const foundColumns = (sql: SqlClient.SqlClient, dialect: Dialect, run: Run, table: string) => {
  switch (dialect) {
    case "pg":
      // a column's collation is told only when it is nondeterministic (`collisdeterministic`, read
      // through to_jsonb: PostgreSQL 11 and before have no such column, and only deterministic
      // collations): the column's own (`attcollation`, a domain's included), which every statement's
      // `=` and the primary key's index use; an index of the operator's own in another collation
      // (`CREATE INDEX ... (openid COLLATE ...)`, for searching) is not read
      return run(sql<FoundColumn>`SELECT c.column_name AS name, c.data_type AS type,
          c.character_maximum_length AS length,
          CASE WHEN to_jsonb(l) ->> 'collisdeterministic' = 'false' THEN l.collname END AS collation,
          EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
            WHERE i.indrelid = k.oid AND i.indisprimary AND a.attname = c.column_name) AS pk
        FROM pg_class k JOIN pg_namespace n ON n.oid = k.relnamespace
          JOIN information_schema.columns c ON c.table_schema = n.nspname AND c.table_name = k.relname
          JOIN pg_attribute t ON t.attrelid = k.oid AND t.attname = c.column_name
          LEFT JOIN pg_collation l ON l.oid = t.attcollation
        WHERE k.oid = to_regclass(${quote(dialect, table)})
        ORDER BY c.ordinal_position`)
    case "mysql":
      return run(sql<FoundColumn>`SELECT c.column_name AS name, c.data_type AS type,
          c.character_maximum_length AS length, c.collation_name AS collation,
          EXISTS (SELECT 1 FROM information_schema.key_column_usage u
            WHERE u.table_schema = c.table_schema AND u.table_name = c.table_name
              AND u.constraint_name = 'PRIMARY' AND u.column_name = c.column_name) AS pk
        FROM information_schema.columns c
        WHERE c.table_schema = DATABASE() AND c.table_name = ${table}
        ORDER BY c.ordinal_position`)
    case "sqlite":
      // a column's collation is told only by the indexes that hold it (`pragma_index_xinfo`), and
      // only the primary key's is read: it decides which ids are one row (the upserts' ON CONFLICT),
      // and in a WITHOUT ROWID table (as the store's DDL makes it) it holds every column, each other
      // than its key columns with the collation the column declares. The operator's own indexes are
      // not checked (a `COLLATE NOCASE` one for searching is fine): the store's statements compare
      // ids `COLLATE BINARY` (`exact`), whatever the column declares
      return run(sql<FoundColumn>`SELECT c.name AS name, c.type AS type, NULL AS length,
          (SELECT x.coll FROM pragma_index_list(${table}) l JOIN pragma_index_xinfo(l.name) x
            WHERE l.origin = 'pk' AND x.name = c.name ORDER BY upper(x.coll) = 'BINARY' LIMIT 1) AS collation,
          c.pk AS pk
        FROM pragma_table_info(${table}) c ORDER BY c.cid`)
  }
}

/**
 * The family of a type the catalog names, in `dialect`: `integer` for a 64-bit integer only (an
 * `INT` column of times fails every write past 2038), `text` for a character type; else none.
 */
const familyOf = (dialect: Dialect, type: string): ColumnShape["family"] | undefined => {
  const t = type.toLowerCase()
  switch (dialect) {
    case "pg":
      return t === "bigint" ? "integer" : ["text", "character varying", "character"].includes(t) ? "text" : undefined
    case "mysql":
      return t === "bigint"
        ? "integer"
        : ["char", "varchar", "tinytext", "text", "mediumtext", "longtext"].includes(t)
        ? "text"
        : undefined
    case "sqlite":
      // SQLite's type affinity rules: any type naming INT is an integer (always 64-bit)
      return t.includes("int") ? "integer" : /char|clob|text/.test(t) ? "text" : undefined
  }
}

/**
 * The id columns the stores' statements find rows by, beside the primary key's (the sessions'
 * `app_id` and `openid`, whose sessions `revokeUser` ends): on PostgreSQL only these, and the
 * primary key's, are refused in a nondeterministic collation.
 */
const idColumns: ReadonlySet<string> = new Set(["app_id", "openid", "code_hash", "id_hash"])

/**
 * What is wrong with `found` for the column `expected` declares, if anything; `key`: the column is
 * one the store finds rows by (its primary key's, or an id of `idColumns`).
 */
const columnProblem = (
  dialect: Dialect,
  expected: ColumnShape,
  found: FoundColumn | undefined,
  key: boolean
): string | undefined => {
  if (found === undefined) return "is missing"
  const type = String(found.type ?? "")
  const family = familyOf(dialect, type)
  if (family !== expected.family) {
    return `has type ${type === "" ? "(none)" : type}, not ${
      expected.family === "integer" ? "a 64-bit integer" : "text"
    }`
  }
  const length = found.length === null || found.length === undefined ? undefined : Number(found.length)
  if (family === "text" && length !== undefined && length < expected.length) {
    return `holds at most ${length} characters, fewer than ${expected.length}`
  }
  if (dialect === "mysql" && family === "text" && !/(_bin|^binary)$/.test(String(found.collation ?? ""))) {
    return `has the collation ${
      String(found.collation)
    }, which does not compare byte for byte (a binary one, such as utf8mb4_bin, does)`
  }
  // SQLite: NOCASE takes 'oA' for 'oa', RTRIM 'o1 ' for 'o1', an application's own collation
  // anything; a column the primary key's index does not hold tells none (NULL), and is not checked
  if (
    dialect === "sqlite" && family === "text" && typeof found.collation === "string" &&
    found.collation.toUpperCase() !== "BINARY"
  ) {
    return `has the collation ${found.collation}, which does not compare byte for byte (BINARY, SQLite's default, does)`
  }
  // PostgreSQL: a nondeterministic collation (an ICU one that ignores case, such as
  // und-u-ks-level2) takes 'oVictim' for 'ovictim': one primary key, one row for two users
  if (dialect === "pg" && family === "text" && key && typeof found.collation === "string") {
    return `has the collation ${found.collation}, which does not compare byte for byte (it is nondeterministic; a deterministic one, such as the database's default, does)`
  }
  return undefined
}

/**
 * The error for a table whose shape is not the store's: naming the table and the column, with what
 * to do.
 */
const shapeError = (operation: string, table: string, problem: string, hint: string) =>
  new WeChatError.TokenStoreError({
    operation,
    description: `the table ${table} is not the store's: ${problem}; ${hint} (extra columns are fine)`
  })

/**
 * Checks every table of `shapes` against the database's catalog: each column the store uses exists
 * with a compatible type (the family, the length, on MySQL / MariaDB a binary collation, on SQLite
 * BINARY where the primary key's index tells the column's, on PostgreSQL a deterministic collation
 * for the columns the store finds rows by), and the primary key is on the store's
 * key columns (the upserts and the one-row-per-key reads rest on it).
 * Extra columns are allowed. A table that does not exist fails when `required` (setup has just made
 * it), and is skipped otherwise (`setup: false`: its operations fail naming it). Read-only.
 */
const checkShapes = (
  sql: SqlClient.SqlClient,
  dialect: Dialect,
  run: Run,
  shapes: ReadonlyArray<TableShape>,
  required: boolean,
  operation: string = "setup"
): Effect.Effect<void, WeChatError.TokenStoreError | SqlError.SqlError> =>
  Effect.forEach(shapes, (shape) =>
    Effect.gen(function*() {
      const found = yield* foundColumns(sql, dialect, run, shape.table)
      if (found.length === 0) {
        return required
          ? yield* shapeError(operation, shape.table, "it has no columns", "check the database the client is on")
          : undefined
      }
      const byName = new Map(found.map((column) => [String(column.name), column]))
      for (const column of shape.columns) {
        const problem = columnProblem(
          dialect,
          column,
          byName.get(column.name),
          shape.primaryKey.includes(column.name) || idColumns.has(column.name)
        )
        if (problem !== undefined) {
          return yield* shapeError(
            operation,
            shape.table,
            `its column ${column.name} ${problem}`,
            `migrate it to ${column.definition}, or drop the table so that setup creates it`
          )
        }
      }
      const key = found.filter((column) => Number(column.pk) > 0 || column.pk === true).map((column) =>
        String(column.name)
      )
      const sameKey = key.length === shape.primaryKey.length && shape.primaryKey.every((name) => key.includes(name))
      if (!sameKey) {
        return yield* shapeError(
          operation,
          shape.table,
          `its primary key is ${key.length === 0 ? "missing" : `(${key.join(", ")})`}, not (${
            shape.primaryKey.join(", ")
          })`,
          `migrate it to PRIMARY KEY (${shape.primaryKey.join(", ")}), or drop the table so that setup creates it`
        )
      }
    }), { discard: true })

/**
 * With `setup: false` (tables the operator manages), checks the shape of each of the plan's tables
 * that exists, as setup does (read-only; a missing table is left to fail the operations, naming it),
 * bounded by the setup timeout.
 *
 * @internal
 */
export const checkTables = (
  plan: SetupPlan
): Effect.Effect<void, WeChatError.InvalidArgument | WeChatError.TokenStoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const [sql, dialect] = yield* client
    const timeout = yield* positiveDuration("setupTimeout", plan.timeout, defaultSetupTimeout)
    const shapes = plan.statements.flatMap(tableShape)
    yield* guard("checkTables", plan.table, timeout)(
      checkShapes(sql, dialect, (statement) => statement, shapes, false, "checkTables")
    )
  })
