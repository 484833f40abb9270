/**
 * Driver failures as the store reports them: the driver's error code and its message with every
 * quoted part removed (databases quote the values they complain about), so no statement parameter,
 * token or value reaches a `TokenStoreError`; and which failures a retry may cure.
 *
 * @internal
 */
import type * as SqlError from "@effect/sql/SqlError"

/**
 * The end (past the closing quote) of the quoted part that opens at `start`, or -1 when it is not
 * closed: `'...'` and `"..."` with backslash escapes, `` `...` `` without.
 */
const closingOf = (message: string, start: number): number => {
  const quote = message.charCodeAt(start)
  const escapes = quote !== 0x60
  for (let i = start + 1; i < message.length; i++) {
    const c = message.charCodeAt(i)
    if (c === quote) return i + 1
    if (escapes && c === 0x5c) i++
  }
  return -1
}

/**
 * Every quoted part of `message` as `?`, as `/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`/g` replaces
 * them, in one pass. That expression tried every quote of a message to its end when the quote was not
 * closed (`'\'\'\'...`: 40,000 characters took 0.5 s, a megabyte minutes). Once a quote of a kind is
 * found unclosed, no later one of that kind closes either (a later one was read escaped from the first,
 * and both scans agree after it), so each kind is scanned to the end at most once.
 */
const replaceQuoted = (message: string): string => {
  let out = ""
  let from = 0
  const unclosed = new Set<number>()
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i)
    if ((c !== 0x27 && c !== 0x22 && c !== 0x60) || unclosed.has(c)) continue
    const end = closingOf(message, i)
    if (end < 0) {
      unclosed.add(c)
      continue
    }
    out += `${message.slice(from, i)}?`
    from = end
    i = end - 1
  }
  return out + message.slice(from)
}

/**
 * Removes every quoted part of a driver message: databases quote the values they complain about
 * (`Duplicate entry '...'`, `invalid input syntax for type bigint: "..."`).
 *
 * @internal
 */
export const scrub = (message: string): string => {
  const cleaned = replaceQuoted(message).replace(/\s+/g, " ").trim()
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
