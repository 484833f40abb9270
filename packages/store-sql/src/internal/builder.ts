/**
 * What every SQL store is built from, defined once: the reading of its options, its names, the
 * client and its dialect, its table setup, the bounds of each operation (deadline, retries, the
 * store's error tag) and its span, its `purgeExpired` of one table, and its layers (`layer`,
 * `layerConfig`, `layerFromClient`). A store describes itself with a `StoreSpec`; its own file keeps
 * only its DDL and its operations.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import { TokenStore, WeChatConfig, WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type { Dialect } from "../SqlTokenStore.js"
import { affectedRows, client } from "./client.js"
import { positiveDuration } from "./durations.js"
import { attemptFor, guard } from "./guard.js"
import { checkTables, runSetup, type SetupPlan } from "./schema.js"

/** The longest a store operation may take, retries included, unless `timeout` says otherwise. */
const defaultTimeout = Duration.seconds(10)

/**
 * The options every store has.
 *
 * @internal
 */
export interface BaseOptions {
  readonly table?: string | undefined
  readonly setup?: boolean | undefined
  readonly timeout?: Duration.DurationInput | undefined
  readonly setupTimeout?: Duration.DurationInput | undefined
}

/**
 * A store's description: how it reads its options and names its tables, its DDL, and the error its
 * operations fail with (`TokenStoreError` unless `mapError` says otherwise).
 *
 * @internal
 */
export interface StoreSpec<O extends BaseOptions, N, E> {
  /** The public module's name, the prefix of every span: `SqlTokenStore`. */
  readonly name: string
  /** The store's names from its options, validated. */
  readonly resolveNames: (options: O) => Either.Either<N, WeChatError.InvalidArgument>
  /** The table that names the store in errors. */
  readonly table: (names: N) => string
  /** The idempotent DDL for `dialect`. */
  readonly ddl: (dialect: Dialect, names: N) => ReadonlyArray<string>
  /** The indexes MySQL / MariaDB adds to tables made before them (see `SetupPlan`). */
  readonly indexes: (names: N) => SetupPlan["indexes"]
  /** The store's own error for a failed operation; `undefined` keeps the `TokenStoreError`. */
  readonly mapError: ((error: WeChatError.TokenStoreError) => E) | undefined
  /**
   * The longest `value`, in bytes, the store's reads fetch (`StoreContext.boundedValue`):
   * `TokenStore.maxStoredValueBytes` (tokens, code memos) unless given.
   */
  readonly maxValueBytes?: number | undefined
}

/** A dialect the stores write DDL for (a JavaScript caller's value looked at by `typeof` only). */
const isDialect = (value: unknown): value is Dialect => value === "pg" || value === "mysql" || value === "sqlite"

/** The options the stores read; each is copied by `readOptions` even when inherited (a getter). */
const knownOptions = [
  "table",
  "memoTable",
  "setup",
  "timeout",
  "setupTimeout",
  "ttl",
  "maxSessionsPerUser",
  "lockTtl",
  "waitTimeout",
  "poll"
] as const

/**
 * The options as a plain copy, read once (none is `{}`): a JavaScript caller's value that is not an
 * object, or whose fields cannot be read (a Proxy whose traps throw, a revoked Proxy, a getter that
 * throws), is an `InvalidArgument`, never a throw.
 *
 * @internal
 */
export const readOptions = <O>(options: unknown): Either.Either<O, WeChatError.InvalidArgument> => {
  if (options === undefined || options === null) return Either.right({} as O)
  const refused = Either.left(
    new WeChatError.InvalidArgument({ argument: "options", description: "must be an object of options" })
  )
  if (typeof options !== "object") return refused
  try {
    if (Array.isArray(options)) return refused
    const copy: Record<string, unknown> = {}
    for (const key of Object.keys(options)) copy[key] = (options as Record<string, unknown>)[key]
    for (const key of knownOptions) {
      if (!(key in copy) && (options as Record<string, unknown>)[key] !== undefined) {
        copy[key] = (options as Record<string, unknown>)[key]
      }
    }
    return Either.right(copy as O)
  } catch {
    return refused
  }
}

/**
 * The timeout checked: a positive finite duration, else an `InvalidArgument`.
 *
 * @internal
 */
export const checkedTimeout = (
  timeout: Duration.DurationInput | undefined
): Either.Either<Duration.Duration, WeChatError.InvalidArgument> => positiveDuration("timeout", timeout, defaultTimeout)

/**
 * An operation bounded by `guard`, failing with the store's error.
 *
 * @internal
 */
export type Guarded<E> = <A, R>(
  effect: Effect.Effect<A, SqlError.SqlError | WeChatError.TokenStoreError, R>
) => Effect.Effect<A, E, R>

/**
 * What a store's operations run with: the client and its dialect, the options read, the names, the
 * timeout, and whatever `settings` the store read besides.
 *
 * @internal
 */
export interface StoreContext<O, N, E, X> {
  readonly sql: SqlClient.SqlClient
  readonly dialect: Dialect
  readonly options: O
  readonly names: N
  readonly settings: X
  readonly timeout: Duration.Duration
  /** Bounds an operation on `table` (the store's own by default) by `guard`. */
  readonly guarded: (operation: string, table?: string) => Guarded<E>
  /**
   * The span of an operation. These run on every request: a span each, without the stack trace
   * `Effect.fn` captures per call.
   */
  readonly span: (operation: string) => <A, E2, R>(self: Effect.Effect<A, E2, R>) => Effect.Effect<A, E2, R>
  /** Deletes the rows of `table` that are over by `column` at `now` (`over`); how many. */
  readonly deleteExpired: (
    table: string,
    column: TimeColumn,
    now: number
  ) => Effect.Effect<number, E>
  /**
   * The `value` column as a `SELECT` reads it: `NULL` (which the column never holds) when it is
   * longer than the store reads (`StoreSpec.maxValueBytes`: `TokenStore.maxStoredValueBytes`, or
   * `SessionKeyStore.maxStoredValueBytes`), checked in the query, so a value planted in a row is not
   * fetched on every read of that user or app (see `tooLong`).
   */
  readonly boundedValue: Statement.Fragment
  /**
   * `boundedValue`, also `NULL` when one of the time columns `times` holds no time (`isTime`), and
   * each of `times` as a `SELECT` reads it, itself when a time (or `NULL`), else `NULL`: a read
   * that fetches times beside the value fetches nothing planted in them, and refuses the row as it
   * refuses a value longer than any (see `tooLong`).
   */
  readonly boundedRow: (times: ReadonlyArray<TimeColumn>) => Statement.Fragment
  /** `column`, a time, is after `now`: the row is live (a row whose `column` holds no time is not). */
  readonly live: (column: TimeColumn, now: number) => Statement.Fragment
  /** `column`, a time, is at or before `now`, or holds no time: the row is over (`NOT live`). */
  readonly over: (column: TimeColumn, now: number) => Statement.Fragment
  /**
   * Inserts `row` into `table`, or, when a row has its `key` columns, sets that row's columns (the
   * key's too: see `upsertNewer`) to `row`'s only if `row` is as new by `obtained_at` or newer: one
   * atomic statement, so the newest row wins whatever the order the writes arrive in. Unbounded:
   * run it under `guarded`.
   */
  readonly upsertNewer: (
    table: string,
    key: ReadonlyArray<string>,
    row: Readonly<Record<string, unknown>> & { readonly obtained_at: number }
  ) => Effect.Effect<unknown, SqlError.SqlError>
}

/**
 * A store's layers over its `make`.
 *
 * @internal
 */
export interface StoreLayers<O, I, E> {
  readonly layer: (options?: O) => Layer.Layer<I, WeChatError.InvalidArgument | E, SqlClient.SqlClient>
  readonly layerConfig: (
    config: Config.Config.Wrap<O>
  ) => Layer.Layer<I, ConfigError.ConfigError | WeChatError.InvalidArgument | E, SqlClient.SqlClient>
  readonly layerFromClient: (
    sql: SqlClient.SqlClient,
    options?: O
  ) => Layer.Layer<I, WeChatError.InvalidArgument | E>
}

const noSettings = (): Either.Either<undefined> => Either.right(undefined)

/**
 * The length in bytes of `value` in `dialect`: PostgreSQL's `octet_length`, MySQL / MariaDB's
 * `LENGTH`, SQLite's `length` of the text as a blob (of the text itself it counts characters up to
 * the first NUL: a planted value behind a NUL passed for short).
 */
const valueBytes = (dialect: Dialect): string =>
  dialect === "pg" ? "octet_length(value)" : dialect === "mysql" ? "LENGTH(value)" : "length(CAST(value AS BLOB))"

/**
 * A column of times (epoch milliseconds) the stores write.
 *
 * @internal
 */
export type TimeColumn = "expires_at" | "refresh_expires_at" | "last_seen_at"

/**
 * The condition that `column` holds a time, in `dialect`; `undefined` where every value of it is
 * one. PostgreSQL's and MySQL's columns are BIGINT. SQLite's tables are not STRICT: a time column
 * can hold text or a blob of any length (not written by wxauth), which compares greater than every
 * number, so `expires_at > now` let such a row pass as live and a read fetched it whole. A number
 * is a time there (the stores write integers; a real, 8 bytes, is left to the decode): `typeof`,
 * which SQLite answers from the record's header, without loading a long text (a comparison loads
 * it), so it goes first.
 */
const isTime = (dialect: Dialect, column: TimeColumn): string | undefined =>
  dialect === "sqlite" ? `typeof(${column}) IN ('integer', 'real')` : undefined

/** See `StoreContext.boundedValue` and `StoreContext.boundedRow`. */
const boundedValue = (
  sql: SqlClient.SqlClient,
  dialect: Dialect,
  maxBytes: number,
  times: ReadonlyArray<TimeColumn> = []
): Statement.Fragment => {
  const held = times.flatMap((column) => {
    const condition = isTime(dialect, column)
    return condition === undefined ? [] : [{ column, condition }]
  })
  // the times first: a value behind a long text in the record is then not reached
  const conditions = [
    ...held.map(({ column, condition }) => `(${column} IS NULL OR ${condition})`),
    `${valueBytes(dialect)} <= ${maxBytes}`
  ]
  const columns = times.map((column) => {
    const condition = isTime(dialect, column)
    return condition === undefined ? column : `CASE WHEN ${condition} THEN ${column} END AS ${column}`
  })
  return sql.literal([`CASE WHEN ${conditions.join(" AND ")} THEN value END AS value`, ...columns].join(", "))
}

/** See `StoreContext.live`. */
const live = (sql: SqlClient.SqlClient, dialect: Dialect, column: TimeColumn, now: number): Statement.Fragment => {
  const condition = isTime(dialect, column)
  return condition === undefined
    ? sql`${sql.literal(column)} > ${now}`
    : sql`(${sql.literal(condition)} AND ${sql.literal(column)} > ${now})`
}

/** See `StoreContext.over`. */
const over = (sql: SqlClient.SqlClient, dialect: Dialect, column: TimeColumn, now: number): Statement.Fragment => {
  const condition = isTime(dialect, column)
  return condition === undefined
    ? sql`${sql.literal(column)} <= ${now}`
    // in SQLite's order every number sorts before every text and blob, the empty text first of
    // those (the column's INTEGER affinity leaves '' a text): both ranges are the index's, and
    // purgeExpired uses it
    : sql`(${sql.literal(column)} <= ${now} OR ${sql.literal(column)} >= '')`
}

/**
 * What a read fails with when `boundedValue` read `NULL`: the stored `what` ("token", "app token",
 * "code memo", "session key") is longer than any `kind` ("token", "code memo", "session key"), and
 * was not fetched; `operation` is the store's.
 *
 * @internal
 */
export const tooLong = (what: string, operation: string = "get", kind: string = "token"): WeChatError.TokenStoreError =>
  new WeChatError.TokenStoreError({
    operation,
    description: `the stored ${what} is longer than any ${kind} (not written by wxauth, or corrupted); it was not read`
  })

/** The newest-wins upsert of `row` (see `StoreContext.upsertNewer`), in `dialect`. */
const upsertNewer = (
  sql: SqlClient.SqlClient,
  dialect: Dialect,
  table: string,
  key: ReadonlyArray<string>,
  row: Readonly<Record<string, unknown>> & { readonly obtained_at: number }
): Effect.Effect<unknown, SqlError.SqlError> => {
  const t = sql(table)
  // the key columns are written too: on a table whose ids ignore case ('oA' = 'oa', one row), the
  // row then names the user whose value it holds, and a read (which compares the ids byte for byte)
  // gives it to no one else
  const columns = [...key, ...Object.keys(row).filter((column) => !key.includes(column))]
  if (dialect === "mysql") {
    // MySQL evaluates the assignments left to right, each seeing the ones before: obtained_at, which
    // every condition reads, goes last, so each condition compares with the stored row.
    const assignments = [...columns.filter((column) => column !== "obtained_at"), "obtained_at"].map((column) =>
      `${column} = IF(${storedIsLater("obtained_at", "VALUES(obtained_at)")}, ${column}, VALUES(${column}))`
    )
    return sql`INSERT INTO ${t} ${sql.insert(row)} ON DUPLICATE KEY UPDATE
            ${sql.literal(assignments.join(",\n            "))}`
  }
  const assignments = columns.map((column) => `${column} = EXCLUDED.${column}`)
  return sql`INSERT INTO ${t} ${sql.insert(row)} ON CONFLICT (${sql.literal(key.join(", "))}) DO UPDATE SET
            ${sql.literal(assignments.join(",\n            "))}
          WHERE NOT (${t}.obtained_at > EXCLUDED.obtained_at AND ${t}.obtained_at <= ${sql.literal(maxTime)})`
}

/**
 * The condition that keeps the stored row (written out for MySQL / MariaDB; the same, negated, is the
 * upsert's WHERE elsewhere): its `obtained_at` is a time (at most 2^53 - 1, what the
 * stores write) later than the new one's. A stored value that is no time (past 2^53 - 1, such as a
 * year 300000, or text in SQLite, which sorts after every number) is replaced: kept, it would pin the
 * row, every later write silently dropped.
 */
const storedIsLater = (stored: string, incoming: string): string =>
  `${stored} > ${incoming} AND ${stored} <= ${maxTime}`

/** The latest time a store writes: 2^53 - 1. */
const maxTime = String(Number.MAX_SAFE_INTEGER)

/**
 * The parts every store is built from, for the store `spec` describes.
 *
 * @internal
 */
export const builder = <O extends BaseOptions, N, E = WeChatError.TokenStoreError>(spec: StoreSpec<O, N, E>) => {
  const mapError = spec.mapError
  const toStoreError = <A, R>(
    effect: Effect.Effect<A, WeChatError.InvalidArgument | WeChatError.TokenStoreError, R>
  ): Effect.Effect<A, WeChatError.InvalidArgument | E, R> =>
    mapError === undefined
      ? effect as Effect.Effect<A, WeChatError.InvalidArgument | E, R>
      : Effect.catchTag(effect, "TokenStoreError", (error) => Effect.fail(mapError(error)))

  /** The names `options` give, validated. */
  const names = (options: unknown): Either.Either<N, WeChatError.InvalidArgument> =>
    Either.flatMap(readOptions<O>(options), spec.resolveNames)

  /** The DDL of the store's tables in `dialect`. */
  const ddl = (dialect: Dialect, options: unknown): Either.Either<ReadonlyArray<string>, WeChatError.InvalidArgument> =>
    !isDialect(dialect)
      ? Either.left(
        new WeChatError.InvalidArgument({ argument: "dialect", description: "must be \"pg\", \"mysql\" or \"sqlite\"" })
      )
      : Either.map(names(options), (resolved) => spec.ddl(dialect, resolved))

  /** Creates the store's tables when missing, under the setup lock. */
  const setup = (options: unknown): Effect.Effect<void, WeChatError.InvalidArgument | E, SqlClient.SqlClient> =>
    Effect.gen(function*() {
      const [, dialect] = yield* client
      const read = yield* readOptions<O>(options)
      const resolved = yield* spec.resolveNames(read)
      yield* toStoreError(runSetup({
        statements: spec.ddl(dialect, resolved),
        indexes: spec.indexes(resolved),
        table: spec.table(resolved),
        timeout: read.setupTimeout
      }))
    }).pipe(Effect.withSpan(`${spec.name}.setup`))

  /**
   * With `setup: false`: checks the shape of the store's tables that exist, as setup does
   * (read-only; see `checkTables`).
   */
  const check = (options: O): Effect.Effect<void, WeChatError.InvalidArgument | E, SqlClient.SqlClient> =>
    Effect.gen(function*() {
      const [, dialect] = yield* client
      const resolved = yield* spec.resolveNames(options)
      yield* toStoreError(checkTables({
        statements: spec.ddl(dialect, resolved),
        indexes: [],
        table: spec.table(resolved),
        timeout: options.setupTimeout
      }))
    }).pipe(Effect.withSpan(`${spec.name}.checkTables`))

  /**
   * What the operations run with, from `options`: the client, the options read, the names, then
   * `settings` (the store's own options), then the timeout, each failing in that order.
   */
  const context = <X = undefined>(
    options: unknown,
    settings: (options: O) => Either.Either<X, WeChatError.InvalidArgument> = noSettings as never
  ): Effect.Effect<StoreContext<O, N, E, X>, WeChatError.InvalidArgument, SqlClient.SqlClient> =>
    Effect.gen(function*() {
      const [sql, dialect] = yield* client
      const read = yield* readOptions<O>(options)
      const resolved = yield* spec.resolveNames(read)
      const extra = yield* settings(read)
      const timeout = yield* checkedTimeout(read.timeout)
      const attempt = attemptFor(sql, dialect)
      const ownTable = spec.table(resolved)
      const guarded = (operation: string, table: string = ownTable): Guarded<E> => {
        const bounded = guard(operation, table, timeout, attempt)
        return mapError === undefined
          ? bounded as Guarded<E>
          : (effect) => Effect.mapError(bounded(effect), mapError)
      }
      return {
        sql,
        dialect,
        options: read,
        names: resolved,
        settings: extra,
        timeout,
        guarded,
        span: (operation) => Effect.withSpan(`${spec.name}.${operation}`, { captureStackTrace: false }),
        deleteExpired: (table, column, now) =>
          Effect.map(
            guarded("purgeExpired", table)(sql`DELETE FROM ${sql(table)} WHERE ${over(sql, dialect, column, now)}`.raw),
            affectedRows
          ),
        boundedValue: boundedValue(sql, dialect, spec.maxValueBytes ?? TokenStore.maxStoredValueBytes),
        boundedRow: (times) => boundedValue(sql, dialect, spec.maxValueBytes ?? TokenStore.maxStoredValueBytes, times),
        live: (column, now) => live(sql, dialect, column, now),
        over: (column, now) => over(sql, dialect, column, now),
        upsertNewer: (table, key, row) => upsertNewer(sql, dialect, table, key, row)
      }
    })

  /** Deletes the rows of the store's table past `expires_at` (by `Clock`); how many. */
  const purgeExpired = (
    options: unknown
  ): Effect.Effect<number, WeChatError.InvalidArgument | E, SqlClient.SqlClient> =>
    Effect.gen(function*() {
      const { deleteExpired, names: resolved } = yield* context(options)
      const now = yield* Clock.currentTimeMillis
      return yield* deleteExpired(spec.table(resolved), "expires_at", now)
    }).pipe(Effect.withSpan(`${spec.name}.purgeExpired`))

  /**
   * The layers of the store `make` builds, under `tag`; `setup` runs first, or with `setup: false`
   * the read-only check of the tables' shape.
   */
  const layers = <I, S>(
    tag: Context.Tag<I, S>,
    make: (options: O) => Effect.Effect<S, WeChatError.InvalidArgument, SqlClient.SqlClient>
  ): StoreLayers<O, I, E> => {
    const layer = (options?: O): Layer.Layer<I, WeChatError.InvalidArgument | E, SqlClient.SqlClient> =>
      Layer.effect(
        tag,
        Effect.flatMap(
          // read when the layer is made, as `setup: false` is
          Either.map(readOptions<O>(options), (read) => [read, read.setup !== false] as const),
          ([read, runsSetup]) => Effect.zipRight(runsSetup ? setup(read) : check(read), make(read))
        )
      )
    return {
      layer,
      layerConfig: (config) => Layer.unwrapEffect(Effect.map(WeChatConfig.unwrapConfig(config), layer)),
      layerFromClient: (sql, options) => Layer.provide(layer(options), Layer.succeed(SqlClient.SqlClient, sql))
    }
  }

  return { ddl, setup, context, purgeExpired, layers } as const
}
