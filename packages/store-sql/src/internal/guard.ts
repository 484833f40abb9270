/**
 * One store operation against the database, bounded: driver failures cleaned into a
 * `TokenStoreError`, transient ones retried (never inside a caller's transaction), and the whole
 * under a deadline the caller gets at once, with SQLite's busy timeout lowered to the time left.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlError from "@effect/sql/SqlError"
import { WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { Dialect } from "../SqlTokenStore.js"
import * as Errors from "./errors.js"

/**
 * Deadlocks, serialization failures and a busy SQLite file are retried a few times, with jitter.
 */
const transientRetry = Schedule.exponential(Duration.millis(10)).pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(4))
)

/**
 * Runs one attempt of an operation given its deadline (epoch milliseconds of the `Clock`) and the
 * operation's name. An attempt that bounds its statement on the server reads the time left when its
 * connection is there, not before: the wait for a connection of a busy pool counts.
 *
 * @internal
 */
export type Attempt = (
  deadline: number,
  operation: string
) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError.SqlError, R>

const anyAttempt: Attempt = () => (effect) => effect

const isSqlError = (defect: unknown): defect is SqlError.SqlError =>
  typeof defect === "object" && defect !== null && (defect as { _tag?: unknown })._tag === "SqlError"

/**
 * Maps every failure of a database operation to a `TokenStoreError` with a cleaned cause (no
 * parameter or quoted value), retries transient failures, and bounds the whole in time.
 *
 * Inside a caller's transaction nothing is retried: after a deadlock MySQL has already rolled the
 * transaction back (a retry would run on its own, outside it), and PostgreSQL refuses every
 * statement until the rollback. The failure is the caller's, whose transaction must start over.
 *
 * The timeout is the caller's deadline: at it the caller gets its `TokenStoreError`, and the
 * operation is interrupted in the background (`Effect.disconnect`), without waiting for the driver to
 * clean up: `@effect/sql-pg` cancels the query with `pg_cancel_backend` on another connection of the
 * pool, which against a silent server waits up to its own 5 seconds before the connection goes back
 * to the pool. Each `attempt` is told the deadline (SQLite needs it, see `sqliteAttempt`; so do the
 * servers' lock-wait bounds, see `boundedWrite`).
 *
 * @internal
 */
export const guard =
  (operation: string, table: string, timeout: Duration.Duration, attempt: Attempt = anyAttempt) =>
  <A, R>(
    effect: Effect.Effect<A, SqlError.SqlError | WeChatError.TokenStoreError, R>
  ): Effect.Effect<A, WeChatError.TokenStoreError, R> =>
    Effect.flatMap(Clock.currentTimeMillis, (start) => {
      const deadline = start + Duration.toMillis(timeout)
      const once = attempt(deadline, operation)(effect)
      return Effect.flatMap(
        Effect.serviceOption(SqlClient.TransactionConnection),
        (transaction) =>
          Option.isSome(transaction) ? once : Effect.retry(once, {
            schedule: transientRetry,
            while: (error) => error._tag === "SqlError" && Errors.isTransient(error)
          })
      )
    }).pipe(
      Effect.catchTag("SqlError", (error) => {
        const cleaned = Errors.cleanSqlError(error, table)
        return Effect.fail(
          new WeChatError.TokenStoreError({ operation, description: cleaned.description, cause: cleaned.cause })
        )
      }),
      // a driver failure that `@effect/sql` turned into a defect (a failed COMMIT or ROLLBACK of
      // `withTransaction`) is cleaned as the failure it is: its code kept
      Effect.catchAllDefect((defect) => {
        const cleaned = isSqlError(defect) ? Errors.cleanSqlError(defect, table) : Errors.cleanDefect(defect)
        return Effect.fail(
          new WeChatError.TokenStoreError({ operation, description: cleaned.description, cause: cleaned.cause })
        )
      }),
      Effect.disconnect,
      // interruptible by the deadline whatever the caller's region: at the deadline the caller gets
      // its error even from an uninterruptible region (an acquire step, a finaliser), where the
      // deadline would wait for the operation's interruption; the operation's own uninterruptible
      // steps stay so. The deadline runs in a fiber of its own (the `disconnect` below): Effect
      // hands a fiber's interruption on to its children whatever its interruptibility, so an outside
      // interruption of an uninterruptible caller would otherwise cut the operation through it
      Effect.interruptible,
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () =>
          new WeChatError.TokenStoreError({
            operation,
            description: `no answer from the database within ${Duration.format(timeout)} (table ${table})`
          })
      }),
      Effect.disconnect
    )

/**
 * An attempt on SQLite. `@effect/sql-sqlite-node` runs statements synchronously (better-sqlite3),
 * so a statement that waits for a lock held by another connection blocks the thread for the
 * connection's busy timeout (5 seconds unless configured), and no timeout can interrupt it. For the
 * attempt, the busy timeout is lowered to the time left before the deadline once the connection is
 * there (never raised) and then put back, with the connection reserved meanwhile (or in the
 * caller's transaction, which already holds it), so no other statement runs with the lowered value.
 */
const sqliteAttempt = (sql: SqlClient.SqlClient): Attempt => (deadline) => (effect) => {
  const bounded = Effect.acquireUseRelease(
    Effect.flatMap(
      Effect.zip(sql<{ timeout: unknown }>`PRAGMA busy_timeout`, Clock.currentTimeMillis),
      ([[row], now]) => {
        const current = Number(row?.timeout)
        // the time left once the connection is there
        const limit = Math.ceil(Math.max(0, deadline - now))
        return Number.isInteger(current) && current > limit
          ? Effect.as(sql.unsafe(`PRAGMA busy_timeout = ${limit}`), Option.some(current))
          : Effect.succeed(Option.none<number>())
      }
    ),
    () => effect,
    Option.match({
      onNone: () => Effect.void,
      onSome: (previous) => Effect.ignore(sql.unsafe(`PRAGMA busy_timeout = ${previous}`))
    })
  )
  return Effect.flatMap(
    Effect.serviceOption(SqlClient.TransactionConnection),
    Option.match({
      onSome: () => bounded,
      // the statements of `effect` run on the reserved connection, as in a transaction (without one)
      onNone: () =>
        Effect.scoped(
          Effect.flatMap(
            sql.reserve,
            (connection) => Effect.provideService(bounded, SqlClient.TransactionConnection, [connection, 0])
          )
        )
    })
  )
}

/** The operations that only read: a plain `SELECT` waits for no row lock (PostgreSQL, InnoDB). */
const readsOnly: ReadonlySet<string> = new Set(["get", "recallCode"])

/**
 * Runs a write with the server's own bound on its lock waits: on a connection reserved for it,
 * `bound(remainingMillis)` first and `unbound` after (each statement still commits on its own, as
 * without it), unless the caller's transaction is there (its settings are the caller's) or the
 * operation only reads. The two statements go to the connection as they are (no span: they are not
 * the operation's). Uninterruptibly: the server ends the wait at the deadline, and interrupting the
 * statement would only make the driver hold the connection longer (`@effect/sql-pg` first waits, up
 * to 5 seconds, for a connection of the same pool to send its cancel on); the caller does not wait
 * for it (`guard` disconnects the operation).
 *
 * The time left is read once the connection is reserved: read before, the wait for a connection of
 * a busy pool did not count, and the server's wait could outlast the deadline by as much (a caller
 * told "no answer" at the deadline, the write landing after). A connection that comes when no time
 * is left runs nothing (the caller has had its error): the write is not sent after its deadline.
 */
const boundedWrite = (
  sql: SqlClient.SqlClient,
  bound: (remainingMillis: number) => string,
  unbound: string
): Attempt =>
(deadline, operation) =>
(effect) =>
  readsOnly.has(operation) ? effect : Effect.flatMap(
    Effect.serviceOption(SqlClient.TransactionConnection),
    Option.match({
      onSome: () => effect,
      onNone: () =>
        Effect.uninterruptible(Effect.scoped(Effect.flatMap(sql.reserve, (connection) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            now >= deadline
              ? Effect.fail(
                new SqlError.SqlError({ message: "no free connection to the database before the deadline" })
              )
              : Effect.acquireUseRelease(
                connection.executeUnprepared(bound(deadline - now), [], undefined),
                // the statements of `effect` run on the reserved connection, as in a transaction (without one)
                () =>
                  Effect.provideService(effect, SqlClient.TransactionConnection, [connection, 0]),
                () => Effect.ignore(connection.executeUnprepared(unbound, [], undefined))
              )))))
    })
  )

/**
 * `value` rounded up to a whole number from `min` to `max` (`max` when it is not a number): what a
 * statement is given is a plain integer the server accepts. A store `timeout` beyond the server's
 * own limit (`positiveDuration` accepts any finite one) is no practical bound, so it is clamped:
 * PostgreSQL refused a `lock_timeout` above 2^31-1 ms (error 22023), and from 1e21 the number was
 * written `1e+21`, a syntax error (MySQL's variable refused it too): every write failed.
 */
const wholeBetween = (value: number, min: number, max: number): number =>
  Number.isNaN(value) ? max : Math.min(max, Math.max(min, Math.ceil(value)))

/** PostgreSQL's largest `lock_timeout` (an int of milliseconds): about 24.8 days. */
const pgMaxLockTimeoutMillis = 2_147_483_647

/** MySQL's and MariaDB's largest `innodb_lock_wait_timeout`, in seconds. */
const mysqlMaxLockWaitSeconds = 1_073_741_824

/**
 * An attempt on PostgreSQL. A write that waits for a row lock held by another transaction (the
 * app's, an idle session's) waits for ever by default (`lock_timeout` 0): the caller gets its
 * `TokenStoreError` at the deadline, but `@effect/sql-pg` cancels the statement with a query on the
 * same pool, which waits for a free connection, and then hands the connection back with the
 * statement still waiting. A few such writes took every connection of the pool, and every operation
 * of every user failed for as long as the lock was held. A write now runs with the session's
 * `lock_timeout` lowered to the time left (never raised: a shorter one of the role, database or
 * session stays; at most PostgreSQL's 2^31-1 ms), put back after: the server ends the wait at the
 * deadline itself. The value in force is kept in a setting of wxauth's own (`wxauth.lock_timeout`)
 * and restored from it (`RESET` went to the server's default, raising a lower one the app had set on
 * its connections).
 */
const pgAttempt = (sql: SqlClient.SqlClient): Attempt =>
  boundedWrite(
    sql,
    (remainingMillis) => {
      const millis = wholeBetween(remainingMillis, 1, pgMaxLockTimeoutMillis)
      // the setting read once, before either is changed; `0` is no bound at all
      return "SELECT set_config('wxauth.lock_timeout', setting.text, false), set_config('lock_timeout', " +
        `CASE WHEN setting.bound > interval '0' AND setting.bound <= interval '${millis} milliseconds' ` +
        `THEN setting.text ELSE '${millis}' END, false) ` +
        "FROM (SELECT current_setting('lock_timeout') AS text, current_setting('lock_timeout')::interval AS bound) AS setting"
    },
    "SELECT set_config('lock_timeout', current_setting('wxauth.lock_timeout'), false)"
  )

/**
 * An attempt on MySQL / MariaDB: as on PostgreSQL, a write that waits for a row lock kept its pooled
 * connection after the deadline, for `innodb_lock_wait_timeout` (50 seconds by default), and a few
 * of them took the whole pool. A write now runs with the session's `innodb_lock_wait_timeout`
 * lowered to the time left (whole seconds, at least 1, at most the server's 1073741824; never
 * raised), put back after.
 */
const mysqlAttempt = (sql: SqlClient.SqlClient): Attempt =>
  boundedWrite(
    sql,
    (remainingMillis) =>
      "SET @wxauth_lock_wait = @@SESSION.innodb_lock_wait_timeout, SESSION innodb_lock_wait_timeout = " +
      `LEAST(@@SESSION.innodb_lock_wait_timeout, ${wholeBetween(remainingMillis / 1000, 1, mysqlMaxLockWaitSeconds)})`,
    "SET SESSION innodb_lock_wait_timeout = @wxauth_lock_wait"
  )

/**
 * The attempt for `dialect`: on SQLite, bounded by the busy timeout; on PostgreSQL and MySQL /
 * MariaDB, a write's lock wait bounded by the server at the deadline.
 *
 * @internal
 */
export const attemptFor = (sql: SqlClient.SqlClient, dialect: Dialect): Attempt =>
  dialect === "sqlite" ? sqliteAttempt(sql) : dialect === "pg" ? pgAttempt(sql) : mysqlAttempt(sql)
