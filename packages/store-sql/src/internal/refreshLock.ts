/**
 * The refresh lock on a lease table: its DDL per dialect, its take / renew / release statements on
 * the database's clock, and the `withLock` that waits with a backoff (see `SqlRefreshLock`).
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { RefreshLock, WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Crypto from "node:crypto"
import type { Options } from "../SqlRefreshLock.js"
import type { Dialect } from "../SqlTokenStore.js"
import { builder } from "./builder.js"
import { affectedRows, asText } from "./client.js"
import { positiveDuration } from "./durations.js"
import { columnTypes, createTable } from "./schema.js"
import { resolveTable } from "./tables.js"

/**
 * One row per lock held: the key's hash (the key itself is never stored: a SHA-256 of its UTF-16
 * code units, so two different keys are two rows whatever the column's collation, and any key up to
 * the bound fits), the holder's random token, and when the lease ends, in epoch milliseconds of the
 * database's clock.
 */
const statements = (dialect: Dialect, table: string): ReadonlyArray<string> => {
  const c = columnTypes(dialect)
  return createTable(dialect, table, [
    `key_hash ${c.id(64)} NOT NULL PRIMARY KEY`,
    `holder ${c.id(64)} NOT NULL`,
    `expires_at ${c.millis} NOT NULL`
  ])
}

/** @internal */
export const store = builder({
  name: "SqlRefreshLock",
  resolveNames: (options: Options) => resolveTable(options, "wxauth_locks"),
  table: (table) => table,
  ddl: statements,
  indexes: () => [],
  mapError: undefined
})

/**
 * The database's clock in epoch milliseconds, in `dialect`: every process on one database reads the
 * same clock, whatever its own says. PostgreSQL's `clock_timestamp()` (the statement's time, not
 * the transaction's); MySQL / MariaDB's `UTC_TIMESTAMP(6)` counted from the epoch by
 * `TIMESTAMPDIFF` (`UNIX_TIMESTAMP(NOW())` depends on the session's time zone, twice ambiguous an
 * hour a year); SQLite's `julianday('now')`.
 *
 * @internal
 */
export const databaseNow = (dialect: Dialect): string =>
  dialect === "pg"
    ? "(floor(extract(epoch from clock_timestamp()) * 1000))::bigint"
    : dialect === "mysql"
    ? "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000)"
    : "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"

/**
 * The longest lock key taken. Core's longest is the write key `<appId>:<openid>:write`, 199
 * characters (an appId of at most 64, an openid of at most 128); a caller's own key fits too.
 *
 * @internal
 */
export const maxKeyLength = 512

/** A key that is not a string (a JavaScript caller's) names no lock: it cannot be taken. */
const notAKey = Effect.fail(
  new WeChatError.RefreshLockTimeout({
    key: "",
    waitedMillis: 0,
    cause: new TypeError("the lock key must be a string")
  })
)

/** A longer key is not hashed, nor copied into the error or the log: refused at once. */
const keyTooLong = Effect.fail(
  new WeChatError.RefreshLockTimeout({
    key: "",
    waitedMillis: 0,
    cause: new RangeError(`the lock key must be at most ${maxKeyLength} characters`)
  })
)

/** The failure of a key that cannot be taken (not a string, or too long), else `undefined`. */
const refusal = (key: unknown): typeof notAKey | undefined =>
  typeof key !== "string" ? notAKey : key.length > maxKeyLength ? keyTooLong : undefined

/**
 * The key's row id: the SHA-256, in hex, of its UTF-16 code units (a lone surrogate included: UTF-8
 * would turn every one into U+FFFD, two keys into one).
 *
 * @internal
 */
export const keyHash = (key: string): string => Crypto.createHash("sha256").update(key, "utf16le").digest("hex")

/** An app id: core's rule (1 to 64 of `[A-Za-z0-9_-]`), the one its lock keys begin with. */
const appIdPattern = /^[A-Za-z0-9_-]{1,64}$/

/**
 * What a log line says about a lock: the app id (core's lock keys are `<appId>:<openid>`) and a short
 * hash of the key, to tell one user's lines from another's; never the openid.
 */
const logKey = (key: string): Record<string, string> => {
  const lockKeyHash = Crypto.createHash("sha256").update(key, "utf8").digest("hex").slice(0, 12)
  const colon = key.indexOf(":")
  const appId = colon > 0 && colon <= 64 ? key.slice(0, colon) : ""
  return appIdPattern.test(appId) ? { appId, lockKeyHash } : { lockKeyHash }
}

/**
 * How waiters poll: from 10 ms, growing x1.5, capped at 200 ms, jittered so waiters spread out (as
 * `RedisRefreshLock`'s).
 *
 * @internal
 */
export const defaultPoll: Schedule.Schedule<unknown> = Schedule.exponential("10 millis", 1.5).pipe(
  Schedule.union(Schedule.spaced("200 millis")),
  Schedule.jittered
)

/** The lease runs in the database in real time: a `TestClock` in context must not stall a waiter. */
const liveClock = Clock.make()

/** Someone else holds the lock: try again later. */
class Busy extends Data.TaggedError("Busy") {}

/** The last take attempt of one `withLock`, in flight or over (none before the first). */
interface Attempts {
  last: Fiber.RuntimeFiber<boolean, WeChatError.TokenStoreError> | undefined
}

interface Settings {
  readonly ttlMillis: number
  readonly waitTimeout: Duration.Duration
  readonly poll: Schedule.Schedule<unknown>
}

/**
 * The longest `lockTtl` and `waitTimeout`: 24 days, core's bound on a timer (`RefreshLock.makeInProcess`'s
 * `waitTimeout`). Past a Node timer's 2^31-1 ms (about 24.8 days) Effect never fires a timer, so a
 * waiter's deadline would never come (an unbounded wait, on a lock marked bounded); and a lease
 * of, say, 1e19 ms is out of the databases' `bigint` range, so every take would fail.
 *
 * @internal
 */
export const maxDurationMillis = 24 * 24 * 60 * 60 * 1000

/** `positiveDuration`, and at most `maxDurationMillis`. */
const timerDuration = (
  argument: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.DurationInput
): Either.Either<Duration.Duration, WeChatError.InvalidArgument> =>
  Either.flatMap(
    positiveDuration(argument, input, fallback),
    (duration) =>
      Duration.toMillis(duration) <= maxDurationMillis
        ? Either.right(duration)
        : Either.left(
          new WeChatError.InvalidArgument({
            argument,
            description: "must be a positive finite duration of at most 24 days"
          })
        )
  )

const settings = (options: Options): Either.Either<Settings, WeChatError.InvalidArgument> =>
  Either.gen(function*() {
    const ttl = yield* timerDuration("lockTtl", options.lockTtl, "20 seconds")
    const waitTimeout = yield* timerDuration("waitTimeout", options.waitTimeout, "25 seconds")
    const poll = options.poll ?? defaultPoll
    if (!Schedule.isSchedule(poll)) {
      return yield* Either.left(
        new WeChatError.InvalidArgument({ argument: "poll", description: "must be a Schedule" })
      )
    }
    return { ttlMillis: Math.max(1, Math.ceil(Duration.toMillis(ttl))), waitTimeout, poll }
  })

/** Every statement of the lock commits on its own: never in a transaction of the caller's. */
const outsideTransactions = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.mapInputContext(
    effect,
    (context: Context.Context<R>) => Context.omit(SqlClient.TransactionConnection)(context) as Context.Context<R>
  )

/** @internal */
export const make = (
  options?: Options
): Effect.Effect<RefreshLock.RefreshLockShape, WeChatError.InvalidArgument, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const context = yield* store.context(options, settings)
    const { dialect, guarded, names: table, sql } = context
    const { poll, ttlMillis, waitTimeout } = context.settings
    const waitMillis = Duration.toMillis(waitTimeout)
    const renewEvery = Duration.millis(Math.max(1, Math.floor(ttlMillis / 3)))
    // how long after a take's statement was cut at its deadline the server has surely ended its lock
    // wait: a margin for the round trips on a loaded host, and on MySQL / MariaDB the bound's
    // rounding up to whole seconds and InnoDB's once-a-second check (see `dropIfTaken`)
    const settleAfterCut = Duration.millis((dialect === "mysql" ? 2000 : 0) + 2000)
    const t = sql(table)
    const now = sql.literal(databaseNow(dialect))
    const ttl = sql.literal(String(ttlMillis))
    // SQLite's column may hold something that is no time (text sorts after every number): a lease
    // that never ends; such a row is over
    const over = dialect === "sqlite"
      ? sql`(typeof(${t}.expires_at) NOT IN ('integer', 'real') OR ${t}.expires_at < ${now})`
      : sql`${t}.expires_at < ${now}`

    const run = <A>(operation: string, statement: Effect.Effect<A, SqlError.SqlError>) =>
      outsideTransactions(guarded(operation)(statement)).pipe(Effect.withClock(liveClock))

    /**
     * One attempt to take the lock: inserts the row, or takes over a row whose lease is over, in one
     * statement; true when the row is now the caller's.
     */
    const takeOnce = (hash: string, owner: string): Effect.Effect<boolean, WeChatError.TokenStoreError> => {
      if (dialect === "mysql") {
        // MySQL evaluates the assignments left to right: expires_at follows the holder just set.
        // Its affected rows cannot tell an insert from an unchanged row (mysql2's FOUND_ROWS):
        // the holder is read back
        const upsert = sql`INSERT INTO ${t} (key_hash, holder, expires_at) VALUES (${hash}, ${owner}, ${now} + ${ttl})
          ON DUPLICATE KEY UPDATE holder = IF(expires_at < ${now}, VALUES(holder), holder),
            expires_at = IF(holder = VALUES(holder), VALUES(expires_at), expires_at)`.raw
        const read = sql<{ holder: unknown }>`SELECT holder FROM ${t} WHERE key_hash = ${hash}`
        return Effect.zipRight(
          run("lock", upsert),
          Effect.map(run("lock", read), (rows) => rows.length > 0 && asText(rows[0].holder) === owner)
        )
      }
      const upsert = sql`INSERT INTO ${t} (key_hash, holder, expires_at) VALUES (${hash}, ${owner}, ${now} + ${ttl})
        ON CONFLICT (key_hash) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
        WHERE ${over}`.raw
      return Effect.map(run("lock", upsert), (raw) => affectedRows(raw) === 1)
    }

    const renew = (hash: string, owner: string) =>
      Effect.map(
        run(
          "renewLock",
          sql`UPDATE ${t} SET expires_at = ${now} + ${ttl} WHERE key_hash = ${hash} AND holder = ${owner}`.raw
        ),
        (raw) => affectedRows(raw) > 0
      )

    const drop = (hash: string, owner: string) =>
      Effect.map(
        run("releaseLock", sql`DELETE FROM ${t} WHERE key_hash = ${hash} AND holder = ${owner}`.raw),
        affectedRows
      )

    const release = (key: string, hash: string, owner: string) =>
      drop(hash, owner).pipe(
        Effect.flatMap((deleted) =>
          deleted > 0 ? Effect.void : Effect.logWarning(
            "wxauth: the refresh lock had expired before its holder released it (its renewals failed, or the process stalled)"
          ).pipe(Effect.annotateLogs({ ...logKey(key), lockTtlMillis: ttlMillis }))
        ),
        Effect.catchAll((error) =>
          Effect.logWarning("wxauth: releasing the refresh lock failed; it expires by its lease").pipe(
            Effect.annotateLogs({ ...logKey(key), error: error.message })
          )
        )
      )

    /**
     * Renews the lease every `lockTtl / 3` until interrupted (before the release), or until the lock
     * is found to be no longer the holder's. A failed renewal is tried again at the next beat.
     */
    const heartbeat = (key: string, hash: string, owner: string) =>
      Effect.sleep(renewEvery).pipe(
        Effect.zipRight(renew(hash, owner)),
        Effect.catchAll((error) =>
          Effect.logWarning("wxauth: renewing the refresh lock failed; trying again").pipe(
            Effect.annotateLogs({ ...logKey(key), error: error.message }),
            Effect.as(true)
          )
        ),
        Effect.repeat({ while: (renewed) => renewed }),
        Effect.zipRight(
          Effect.logWarning("wxauth: the refresh lock expired while its holder still worked").pipe(
            Effect.annotateLogs({ ...logKey(key), lockTtlMillis: ttlMillis })
          )
        ),
        Effect.withClock(liveClock),
        Effect.interruptible
      )

    /**
     * One attempt, in a fiber of its own that nothing interrupts (its statement goes on in the
     * database whatever the waiter does: `guard` disconnects it), kept in `attempts.last` before the
     * waiter joins it; the join is interruptible.
     */
    const attempt = (hash: string, owner: string, attempts: Attempts) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(Effect.forkDaemon(takeOnce(hash, owner)), (fiber) => {
          attempts.last = fiber
          return restore(Fiber.join(fiber))
        })
      )

    /**
     * After a take that gave up (interrupted, timed out, or failed): waits for its last attempt, whose
     * statement may still be waiting in the database (for another session's row lock), and deletes
     * the row if that attempt took it, or ended without an answer (a statement cut at its deadline may
     * still have landed). Deleting only after the attempt is over: a delete sent while the insert still
     * waited matched nothing, and the insert then committed a lease of the full `lockTtl` for a holder
     * that had left. Each statement of the attempt is bounded by `timeout` (the server ends a lock
     * wait at the deadline), so the wait for it is bounded too. Runs in the background.
     *
     * An attempt that failed is over for the waiter, not always for the database: at its deadline
     * `guard` gives up on the statement and lets it run, and the server's bound ends its wait only
     * shortly after (a round trip or two; on MySQL / MariaDB up to a second more, the bound being whole
     * seconds, checked about once a second). A delete then may come before the insert lands, so a
     * second one follows `settleAfterCut` later. Both match only this waiter's own holder token.
     */
    const dropIfTaken = (hash: string, owner: string, attempts: Attempts) =>
      attempts.last === undefined ? Effect.void : Fiber.await(attempts.last).pipe(
        Effect.flatMap((exit) =>
          Exit.isSuccess(exit)
            ? (exit.value ? drop(hash, owner) : Effect.void)
            : Effect.zipRight(
              Effect.ignore(drop(hash, owner)),
              Effect.zipRight(Effect.sleep(settleAfterCut), drop(hash, owner))
            )
        ),
        Effect.ignore,
        Effect.withClock(liveClock)
      )

    const take = (key: string, hash: string, owner: string, attempts: Attempts) =>
      Effect.gen(function*() {
        const start = yield* Clock.currentTimeMillis
        return yield* attempt(hash, owner, attempts).pipe(
          Effect.flatMap((taken) => taken ? Effect.void : Effect.fail(new Busy())),
          Effect.retry({ schedule: poll, while: (error) => error._tag === "Busy" }),
          // cut at waitTimeout whatever the caller's interruptibility (see RedisRefreshLock)
          Effect.interruptible,
          Effect.timeoutFail({
            duration: waitTimeout,
            onTimeout: () => new WeChatError.RefreshLockTimeout({ key, waitedMillis: waitMillis })
          }),
          Effect.catchTags({
            Busy: () => Effect.fail(new WeChatError.RefreshLockTimeout({ key, waitedMillis: waitMillis })),
            TokenStoreError: (error) =>
              Effect.flatMap(Clock.currentTimeMillis, (end) =>
                Effect.logWarning("wxauth: the database failed while taking the refresh lock; giving up").pipe(
                  Effect.annotateLogs({ ...logKey(key), error: error.message }),
                  Effect.zipRight(
                    Effect.fail(
                      new WeChatError.RefreshLockTimeout({
                        key,
                        waitedMillis: Math.max(0, end - start),
                        // the guard's cleaned cause: the driver's code and message, no value
                        cause: error.cause ?? new Error(error.description)
                      })
                    )
                  )
                ))
          })
        )
      }).pipe(Effect.withClock(liveClock))

    // its wait is bounded (waitTimeout, and each statement by timeout): wxauth uses it as it is
    const own = RefreshLock.RefreshLock.of({
      withLock: (key, effect) =>
        refusal(key) ?? Effect.uninterruptibleMask((restore) => {
          const hash = keyHash(key)
          const owner = Crypto.randomBytes(16).toString("hex")
          const attempts: Attempts = { last: undefined }
          // disconnected: an outside interruption of an uninterruptible caller does not cut the wait
          // (its deadline does); an interruptible caller's interruption does, without waiting for it
          return restore(Effect.disconnect(take(key, hash, owner, attempts))).pipe(
            // a take interrupted or timed out in flight may still land after: once its attempt is
            // over, delete the row if it is ours, in the background, so a waiter that gives up does
            // not wait for the database
            Effect.onExit((exit) =>
              Exit.isSuccess(exit) ? Effect.void : Effect.asVoid(Effect.forkDaemon(dropIfTaken(hash, owner, attempts)))
            ),
            // the heartbeat lives as long as the effect, and stops before the release
            Effect.zipRight(Effect.fork(heartbeat(key, hash, owner))),
            Effect.flatMap((beat) =>
              Effect.ensuring(
                restore(effect),
                Effect.zipRight(Fiber.interrupt(beat), release(key, hash, owner))
              )
            )
          )
        }).pipe(Effect.withSpan("SqlRefreshLock.withLock", { captureStackTrace: false }))
    })
    RefreshLock.markBounded(own)
    return own
  })

/** @internal */
export const layers = store.layers(RefreshLock.RefreshLock, make)
