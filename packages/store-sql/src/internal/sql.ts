/**
 * Internals of the SQL token store: table names and their validation, the DDL of each dialect,
 * the lock that serialises table setup, the cleaning of driver errors (so no statement parameter,
 * token or value quoted by the database reaches a `TokenStoreError`).
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { WeChatError } from "@wxauth/core"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Crypto from "node:crypto"

/** @internal */
export type Dialect = "pg" | "mysql" | "sqlite"

/** @internal */
export const dialectOf = (sql: SqlClient.SqlClient): Option.Option<Dialect> =>
  sql.onDialectOrElse({
    orElse: () => Option.none<Dialect>(),
    pg: () => Option.some<Dialect>("pg"),
    mysql: () => Option.some<Dialect>("mysql"),
    sqlite: () => Option.some<Dialect>("sqlite")
  })

/** @internal */
export const tableNamePattern = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/** @internal */
export const defaultTable = "wxauth_tokens"

/** @internal */
export const maxIdentifierLength = 63

/** @internal */
export interface Tables {
  readonly table: string
  readonly memoTable: string
  readonly tokenIndex: string
  readonly memoIndex: string
}

/**
 * `base + suffix`, or, when that is longer than an identifier may be, a shortened base with a hash
 * of the full base, so that two long table names never derive the same name.
 */
const derive = (base: string, suffix: string): string => {
  const name = base + suffix
  if (name.length <= maxIdentifierLength) return name
  const hash = Crypto.createHash("sha256").update(base, "utf8").digest("hex").slice(0, 8)
  return `${base.slice(0, maxIdentifierLength - suffix.length - hash.length - 1)}_${hash}${suffix}`
}

/** @internal */
export const validateName = (argument: string, name: string): Either.Either<string, WeChatError.InvalidArgument> =>
  tableNamePattern.test(name) ? Either.right(name) : Either.left(
    new WeChatError.InvalidArgument({
      argument,
      description: `a table name must match ${tableNamePattern.source} (letters, digits and _, at most 63)`
    })
  )

/** @internal */
export const resolveTables = (options: {
  readonly table?: string | undefined
  readonly memoTable?: string | undefined
}): Either.Either<Tables, WeChatError.InvalidArgument> =>
  Either.gen(function*() {
    const table = yield* validateName("table", options.table ?? defaultTable)
    const memoTable = yield* validateName("memoTable", options.memoTable ?? derive(table, "_codes"))
    if (memoTable === table) {
      return yield* Either.left(
        new WeChatError.InvalidArgument({ argument: "memoTable", description: "must differ from table" })
      )
    }
    return {
      table,
      memoTable,
      tokenIndex: derive(table, "_refresh_idx"),
      memoIndex: derive(memoTable, "_expires_idx")
    }
  })

/** Quotes a validated identifier (doubling the quote character, for defence in depth). */
const quote = (dialect: Dialect, name: string): string =>
  dialect === "mysql" ? `\`${name.replace(/`/g, "``")}\`` : `"${name.replace(/"/g, "\"\"")}"`

/**
 * The DDL of each dialect. Every statement is idempotent (`IF NOT EXISTS`); MySQL declares its
 * indexes inside `CREATE TABLE`, as it has no `CREATE INDEX IF NOT EXISTS`.
 *
 * @internal
 */
export const ddl = (dialect: Dialect, tables: Tables): ReadonlyArray<string> => {
  const t = quote(dialect, tables.table)
  const m = quote(dialect, tables.memoTable)
  const ti = quote(dialect, tables.tokenIndex)
  const mi = quote(dialect, tables.memoIndex)
  switch (dialect) {
    case "pg":
      return [
        `CREATE TABLE IF NOT EXISTS ${t} (
  app_id VARCHAR(64) NOT NULL,
  openid VARCHAR(128) NOT NULL,
  obtained_at BIGINT NOT NULL,
  refresh_expires_at BIGINT NOT NULL,
  value TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (app_id, openid)
)`,
        `CREATE INDEX IF NOT EXISTS ${ti} ON ${t} (refresh_expires_at)`,
        `CREATE TABLE IF NOT EXISTS ${m} (
  app_id VARCHAR(64) NOT NULL,
  code_hash VARCHAR(128) NOT NULL,
  expires_at BIGINT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (app_id, code_hash)
)`,
        `CREATE INDEX IF NOT EXISTS ${mi} ON ${m} (expires_at)`
      ]
    case "mysql":
      return [
        `CREATE TABLE IF NOT EXISTS ${t} (
  app_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  openid VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  obtained_at BIGINT NOT NULL,
  refresh_expires_at BIGINT NOT NULL,
  value TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (app_id, openid),
  INDEX ${ti} (refresh_expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
        `CREATE TABLE IF NOT EXISTS ${m} (
  app_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  code_hash VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  expires_at BIGINT NOT NULL,
  value TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  PRIMARY KEY (app_id, code_hash),
  INDEX ${mi} (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`
      ]
    case "sqlite":
      return [
        `CREATE TABLE IF NOT EXISTS ${t} (
  app_id TEXT NOT NULL,
  openid TEXT NOT NULL,
  obtained_at INTEGER NOT NULL,
  refresh_expires_at INTEGER NOT NULL,
  value TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (app_id, openid)
) WITHOUT ROWID`,
        `CREATE INDEX IF NOT EXISTS ${ti} ON ${t} (refresh_expires_at)`,
        `CREATE TABLE IF NOT EXISTS ${m} (
  app_id TEXT NOT NULL,
  code_hash TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (app_id, code_hash)
) WITHOUT ROWID`,
        `CREATE INDEX IF NOT EXISTS ${mi} ON ${m} (expires_at)`
      ]
  }
}

/** The name of the lock every wxauth table setup takes (one for all table names: setup is rare and quick). */
export const lockName = "wxauth_store_sql_setup"

/**
 * The PostgreSQL advisory lock key for `lockName`: the first 8 bytes of its SHA-256, as a signed
 * 64-bit integer (sent as a string, cast to bigint).
 *
 * @internal
 */
export const pgLockKey: string = Crypto.createHash("sha256").update(lockName, "utf8").digest().readBigInt64BE(0)
  .toString()

// -----------------------------------------------------------------------------
// errors
// -----------------------------------------------------------------------------

const quoted = /'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`/g

/**
 * Removes every quoted part of a driver message: databases quote the values they complain about
 * (`Duplicate entry '...'`, `invalid input syntax for type bigint: "..."`).
 *
 * @internal
 */
export const scrub = (message: string): string => {
  const cleaned = message.replace(quoted, "?").replace(/\s+/g, " ").trim()
  return cleaned.length > 200 ? `${cleaned.slice(0, 200)}...` : cleaned
}

const driverDetails = (cause: unknown): { readonly code: string | undefined; readonly message: string } => {
  if (typeof cause !== "object" || cause === null) {
    return { code: undefined, message: typeof cause === "string" ? cause : "" }
  }
  const record = cause as Record<string, unknown>
  const code = typeof record.code === "string" || typeof record.code === "number" ? String(record.code) : undefined
  const message = typeof record.message === "string" ? record.message : ""
  // node reports a failed connection to several addresses as an AggregateError with no message
  if (message === "" && Array.isArray(record.errors) && record.errors.length > 0) {
    const first = driverDetails(record.errors[0])
    return { code: code ?? first.code, message: first.message }
  }
  return { code, message }
}

/** @internal */
export interface CleanedError {
  readonly description: string
  readonly cause: Error
}

/**
 * A description and a cause that keep what helps (the driver's error code and its message with
 * every quoted part removed) and drop the rest: the driver error's `detail`, `sql`, `parameters`
 * and the like may quote the statement's values.
 *
 * @internal
 */
export const cleanSqlError = (error: SqlError.SqlError, table: string): CleanedError => {
  const { code, message } = driverDetails(error.cause)
  const detail = scrub(message)
  const what = error.message.trim() !== "" ? error.message.trim() : "the database failed"
  const description = `${what} (table ${table}${code !== undefined ? `, code ${code}` : ""})${
    detail !== "" ? `: ${detail}` : ""
  }`
  const cause = new Error(detail !== "" ? `${what}: ${detail}` : what)
  cause.name = "SqlError"
  if (code !== undefined) (cause as Error & { code?: string }).code = code
  return { description, cause }
}

/**
 * A defect (something a driver threw) cleaned the same way.
 *
 * @internal
 */
export const cleanDefect = (defect: unknown): CleanedError => {
  const { code, message } = driverDetails(defect)
  const detail = scrub(message)
  const cause = new Error(detail !== "" ? detail : "unexpected failure")
  cause.name = "Defect"
  if (code !== undefined) (cause as Error & { code?: string }).code = code
  return { description: `unexpected failure${detail !== "" ? `: ${detail}` : ""}`, cause }
}

const transientCodes = new Set([
  // PostgreSQL: serialization failure, deadlock
  "40001",
  "40P01",
  // MySQL / MariaDB: deadlock, lock wait timeout
  "ER_LOCK_DEADLOCK",
  "ER_LOCK_WAIT_TIMEOUT",
  // SQLite: another connection holds the write lock
  "SQLITE_BUSY",
  "SQLITE_BUSY_SNAPSHOT",
  "SQLITE_LOCKED"
])

/**
 * True for the errors a retry may cure: deadlocks, serialization failures, a busy SQLite file.
 *
 * @internal
 */
export const isTransient = (error: SqlError.SqlError): boolean => {
  const { code } = driverDetails(error.cause)
  return code !== undefined && transientCodes.has(code)
}

/**
 * The number of rows a write changed, from the raw driver result (`rowCount` in pg, `affectedRows`
 * in mysql2, `changes` in better-sqlite3).
 *
 * @internal
 */
export const affectedRows = (raw: unknown): number => {
  if (typeof raw !== "object" || raw === null) return 0
  const record = raw as Record<string, unknown>
  for (const key of ["rowCount", "affectedRows", "changes"]) {
    const value = record[key]
    if (typeof value === "number") return value
    if (typeof value === "bigint") return Number(value)
  }
  return 0
}
