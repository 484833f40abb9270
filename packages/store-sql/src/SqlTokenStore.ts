/**
 * A `TokenStore` on `@effect/sql`: tokens and code memos in PostgreSQL, MySQL / MariaDB or SQLite,
 * through whatever `SqlClient` the application already has. `set` is one atomic upsert per dialect
 * with newer-wins; values pass through core's `TokenCipher`, so tokens can be encrypted at rest.
 * Also here: the idempotent table setup (under a lock, for many processes and many table names),
 * `purgeExpired`, and `importLegacy`, which moves wechat-oauth's `token` table over.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import { LegacyToken, type OAuthToken, TokenStore, WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as internal from "./internal/sql.js"

/**
 * The SQL dialects the store speaks.
 *
 * @since 0.1.0
 * @category models
 */
export type Dialect = internal.Dialect

/**
 * Options of the store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The token table. Default `wxauth_tokens`. Must match `^[A-Za-z_][A-Za-z0-9_]{0,62}$`. */
  readonly table?: string | undefined
  /** The code memo table. Default `<table>_codes`. Same rule as `table`. */
  readonly memoTable?: string | undefined
  /** Run the idempotent table setup when the layer is built. Default `true`. Only `layer*` read it. */
  readonly setup?: boolean | undefined
  /** The longest a store operation may take, retries included. Default 10 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * The longest table setup may take, waiting for the setup lock included. Default 60 seconds. On
   * MySQL / MariaDB, `GET_LOCK` waits this less a margin (a fifth, from 1 to 10 seconds).
   */
  readonly setupTimeout?: Duration.DurationInput | undefined
}

const defaultTimeout = Duration.seconds(10)
const defaultSetupTimeout = Duration.seconds(60)

/**
 * Deadlocks, serialization failures and a busy SQLite file are retried a few times, with jitter.
 */
const transientRetry = Schedule.exponential(Duration.millis(10)).pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(4))
)

/**
 * Runs one attempt of an operation given the milliseconds left before its deadline.
 */
type Attempt = (
  remainingMillis: number
) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError.SqlError, R>

const anyAttempt: Attempt = () => (effect) => effect

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
 * to the pool. Each `attempt` is told how long is left (SQLite needs it, see `sqliteAttempt`).
 */
const guard = (operation: string, table: string, timeout: Duration.Duration, attempt: Attempt = anyAttempt) =>
<A, R>(
  effect: Effect.Effect<A, SqlError.SqlError | WeChatError.TokenStoreError, R>
): Effect.Effect<A, WeChatError.TokenStoreError, R> =>
  Effect.flatMap(Clock.currentTimeMillis, (start) => {
    const deadline = start + Duration.toMillis(timeout)
    const once = Effect.flatMap(Clock.currentTimeMillis, (now) => attempt(Math.max(0, deadline - now))(effect))
    return Effect.flatMap(
      Effect.serviceOption(SqlClient.TransactionConnection),
      (transaction) =>
        Option.isSome(transaction) ? once : Effect.retry(once, {
          schedule: transientRetry,
          while: (error) => error._tag === "SqlError" && internal.isTransient(error)
        })
    )
  }).pipe(
    Effect.catchTag("SqlError", (error) => {
      const cleaned = internal.cleanSqlError(error, table)
      return Effect.fail(
        new WeChatError.TokenStoreError({ operation, description: cleaned.description, cause: cleaned.cause })
      )
    }),
    Effect.catchAllDefect((defect) => {
      const cleaned = internal.cleanDefect(defect)
      return Effect.fail(
        new WeChatError.TokenStoreError({ operation, description: cleaned.description, cause: cleaned.cause })
      )
    }),
    Effect.disconnect,
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new WeChatError.TokenStoreError({
          operation,
          description: `no answer from the database within ${Duration.format(timeout)} (table ${table})`
        })
    })
  )

/**
 * An attempt on SQLite. `@effect/sql-sqlite-node` runs statements synchronously (better-sqlite3),
 * so a statement that waits for a lock held by another connection blocks the thread for the
 * connection's busy timeout (5 seconds unless configured), and no timeout can interrupt it. For the
 * attempt, the busy timeout is lowered to the time left before the deadline (never raised) and then
 * put back, with the connection reserved meanwhile (or in the caller's transaction, which already
 * holds it), so no other statement runs with the lowered value.
 */
const sqliteAttempt = (sql: SqlClient.SqlClient): Attempt => (remainingMillis) => (effect) => {
  const bounded = Effect.acquireUseRelease(
    Effect.flatMap(sql<{ timeout: unknown }>`PRAGMA busy_timeout`, ([row]) => {
      const current = Number(row?.timeout)
      const limit = Math.ceil(remainingMillis)
      return Number.isInteger(current) && current > limit
        ? Effect.as(sql.unsafe(`PRAGMA busy_timeout = ${limit}`), Option.some(current))
        : Effect.succeed(Option.none<number>())
    }),
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

/**
 * Fails unless every one of `times` (epoch milliseconds) is a finite number a BIGINT column and the
 * JSON of `value` hold exactly: `Infinity` or `NaN` would be a driver error, or a row that never
 * decodes again.
 */
const storableTimes = (
  operation: string,
  times: Record<string, number>
): Effect.Effect<void, WeChatError.TokenStoreError> => {
  for (const [field, value] of Object.entries(times)) {
    if (typeof value !== "number" || !Number.isFinite(value) || Math.abs(value) > Number.MAX_SAFE_INTEGER) {
      return Effect.fail(
        new WeChatError.TokenStoreError({
          operation,
          description: `${field} is ${String(value)}, not a finite time in milliseconds (at most 2^53 - 1)`
        })
      )
    }
  }
  return Effect.void
}

/**
 * The `SqlClient` in context, without its name transforms (the store's column names are its own),
 * and its dialect.
 */
const client: Effect.Effect<
  readonly [SqlClient.SqlClient, Dialect],
  WeChatError.InvalidArgument,
  SqlClient.SqlClient
> = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Option.match(internal.dialectOf(sql), {
    onNone: () =>
      Effect.fail(
        new WeChatError.InvalidArgument({
          argument: "SqlClient",
          description: "the client's SQL dialect is not supported (PostgreSQL, MySQL / MariaDB and SQLite are)"
        })
      ),
    onSome: (dialect) => Effect.succeed([sql.withoutTransforms(), dialect] as const)
  }))

const asText = (value: unknown): string =>
  typeof value === "string" ? value : value instanceof Uint8Array ? Buffer.from(value).toString("utf8") : String(value)

/**
 * The names the store uses: the two tables and their indexes. Index names, and the default memo
 * table `<table>_codes`, are shortened with a hash when they would pass 63 characters.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tables {
  readonly table: string
  readonly memoTable: string
  readonly tokenIndex: string
  readonly memoIndex: string
}

/**
 * Validates the table names of `options` and derives the rest: the names `setup` creates.
 *
 * @since 0.1.0
 * @category schema
 */
export const tables = (
  options?: Pick<Options, "table" | "memoTable">
): Either.Either<Tables, WeChatError.InvalidArgument> => internal.resolveTables(options ?? {})

/**
 * The DDL that creates the store's tables and indexes in `dialect`, for teams that apply schema
 * changes with their own migration tool (then build the layer with `setup: false`). Every
 * statement is idempotent.
 *
 * @since 0.1.0
 * @category schema
 */
export const ddl = (
  dialect: Dialect,
  options?: Pick<Options, "table" | "memoTable">
): Either.Either<ReadonlyArray<string>, WeChatError.InvalidArgument> =>
  Either.map(internal.resolveTables(options ?? {}), (tables) => internal.ddl(dialect, tables))

/**
 * Creates the token and code memo tables and their indexes when missing, under a lock, so any
 * number of processes may run it at once, for one or several table names: a PostgreSQL advisory
 * transaction lock, a MySQL `GET_LOCK`, or a SQLite `BEGIN IMMEDIATE` transaction. Running it again
 * changes nothing.
 *
 * On MySQL / MariaDB it refuses to run inside a caller's transaction (a `TokenStoreError`): DDL
 * there commits the transaction implicitly.
 *
 * @since 0.1.0
 * @category schema
 */
export const setup = (
  options?: Options
): Effect.Effect<void, WeChatError.InvalidArgument | WeChatError.TokenStoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const [sql, dialect] = yield* client
    const tables = yield* internal.resolveTables(options ?? {})
    const statements = internal.ddl(dialect, tables)
    const timeout = Duration.decode(options?.setupTimeout ?? defaultSetupTimeout)
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
          return setupPg(sql, statements)
        case "mysql":
          return setupMysql(sql, statements, tables, timeout)
        case "sqlite":
          return setupSqlite(sql, statements)
      }
    })()
    yield* guard("setup", tables.table, timeout)(run)
  }).pipe(Effect.withSpan("SqlTokenStore.setup"))

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
      yield* sql`SELECT pg_advisory_xact_lock(${internal.pgLockKey}::bigint)`
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
  tables: internal.Tables,
  timeout: Duration.Duration
) =>
  pinned(sql, (run) => {
    const waitSeconds = mysqlLockWaitSeconds(timeout)
    // Taken uninterruptibly: a timeout that strikes as the lock is granted still releases it, rather
    // than leaving it held by a pooled connection.
    const acquire = Effect.flatMap(
      run(sql<{ locked: unknown }>`SELECT GET_LOCK(${internal.lockName}, ${waitSeconds}) AS locked`),
      ([lock]) =>
        Number(lock?.locked) === 1 ? Effect.void : Effect.fail(
          new WeChatError.TokenStoreError({
            operation: "setup",
            description: `could not take the setup lock ${internal.lockName} within ${waitSeconds} seconds`
          })
        )
    )
    const create = Effect.gen(function*() {
      for (const statement of statements) yield* run(sql.unsafe(statement))
      // Tables made before an index existed get it now (MySQL has no CREATE INDEX IF NOT EXISTS).
      const indexes = [
        [tables.table, tables.tokenIndex, "refresh_expires_at"],
        [tables.memoTable, tables.memoIndex, "expires_at"]
      ] as const
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
      () => Effect.ignore(run(sql`SELECT RELEASE_LOCK(${internal.lockName})`))
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

/**
 * Builds the store over the `SqlClient` in context, for tables that exist (see `setup`). Values
 * are sealed with the `TokenCipher` in context, when there is one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options
): Effect.Effect<TokenStore.TokenStoreShape, WeChatError.InvalidArgument, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const [sql, dialect] = yield* client
    const tables = yield* internal.resolveTables(options ?? {})
    const timeout = Duration.decode(options?.timeout ?? defaultTimeout)
    const codec = yield* TokenStore.makeCodec
    const t = sql(tables.table)
    const m = sql(tables.memoTable)

    const upsertToken = (row: {
      readonly app_id: string
      readonly openid: string
      readonly obtained_at: number
      readonly refresh_expires_at: number
      readonly value: string
      readonly updated_at: number
    }) =>
      dialect === "mysql"
        // MySQL evaluates the assignments left to right, each seeing the ones before: obtained_at, which
        // every condition reads, goes last, so each condition compares with the stored row.
        ? sql`INSERT INTO ${t} ${sql.insert(row)} ON DUPLICATE KEY UPDATE
            value = IF(VALUES(obtained_at) >= obtained_at, VALUES(value), value),
            refresh_expires_at = IF(VALUES(obtained_at) >= obtained_at, VALUES(refresh_expires_at), refresh_expires_at),
            updated_at = IF(VALUES(obtained_at) >= obtained_at, VALUES(updated_at), updated_at),
            obtained_at = IF(VALUES(obtained_at) >= obtained_at, VALUES(obtained_at), obtained_at)`
        : sql`INSERT INTO ${t} ${sql.insert(row)} ON CONFLICT (app_id, openid) DO UPDATE SET
            obtained_at = EXCLUDED.obtained_at,
            refresh_expires_at = EXCLUDED.refresh_expires_at,
            value = EXCLUDED.value,
            updated_at = EXCLUDED.updated_at
          WHERE ${t}.obtained_at <= EXCLUDED.obtained_at`

    const upsertMemo = (row: {
      readonly app_id: string
      readonly code_hash: string
      readonly expires_at: number
      readonly value: string
    }) =>
      dialect === "mysql"
        ? sql`INSERT INTO ${m} ${sql.insert(row)} ON DUPLICATE KEY UPDATE
            value = VALUES(value), expires_at = VALUES(expires_at)`
        : sql`INSERT INTO ${m} ${sql.insert(row)} ON CONFLICT (app_id, code_hash) DO UPDATE SET
            expires_at = EXCLUDED.expires_at, value = EXCLUDED.value`

    const attempt = dialect === "sqlite" ? sqliteAttempt(sql) : anyAttempt
    const onTokens = (operation: string) => guard(operation, tables.table, timeout, attempt)
    const onMemos = (operation: string) => guard(operation, tables.memoTable, timeout, attempt)
    // These run on every request: a span each, without the stack trace `Effect.fn` captures per call.
    const span = (operation: string) => Effect.withSpan(`SqlTokenStore.${operation}`, { captureStackTrace: false })

    return TokenStore.TokenStore.of({
      get: Effect.fnUntraced(
        function*(appId: string, openid: string) {
          const now = yield* Clock.currentTimeMillis
          const rows = yield* sql<{ value: unknown }>`SELECT value FROM ${t}
          WHERE app_id = ${appId} AND openid = ${openid} AND refresh_expires_at > ${now}`
          if (rows.length === 0) return Option.none()
          const token = yield* codec.decodeToken(appId, openid, asText(rows[0].value))
          return token.refreshExpiresAt > now ? Option.some(token) : Option.none()
        },
        onTokens("get"),
        span("get")
      ),
      set: Effect.fnUntraced(
        function*(appId: string, token: OAuthToken.OAuthToken) {
          yield* storableTimes("set", {
            obtainedAt: token.obtainedAt,
            expiresAt: token.expiresAt,
            refreshExpiresAt: token.refreshExpiresAt
          })
          const now = yield* Clock.currentTimeMillis
          const value = yield* codec.encodeToken(appId, token)
          yield* upsertToken({
            app_id: appId,
            openid: token.openid,
            obtained_at: Math.floor(token.obtainedAt),
            refresh_expires_at: Math.ceil(token.refreshExpiresAt),
            value,
            updated_at: now
          })
        },
        onTokens("set"),
        span("set")
      ),
      remove: Effect.fnUntraced(
        function*(appId: string, openid: string) {
          yield* sql`DELETE FROM ${t} WHERE app_id = ${appId} AND openid = ${openid}`
        },
        onTokens("remove"),
        span("remove")
      ),
      rememberCode: Effect.fnUntraced(
        function*(appId: string, codeHash: string, memo: TokenStore.CodeMemo) {
          yield* storableTimes("rememberCode", { exchangedAt: memo.exchangedAt, expiresAt: memo.expiresAt })
          const value = yield* codec.encodeMemo(appId, codeHash, memo)
          yield* upsertMemo({ app_id: appId, code_hash: codeHash, expires_at: Math.ceil(memo.expiresAt), value })
        },
        onMemos("rememberCode"),
        span("rememberCode")
      ),
      recallCode: Effect.fnUntraced(
        function*(appId: string, codeHash: string) {
          const now = yield* Clock.currentTimeMillis
          const rows = yield* sql<{ value: unknown }>`SELECT value FROM ${m}
          WHERE app_id = ${appId} AND code_hash = ${codeHash} AND expires_at > ${now}`
          if (rows.length === 0) return Option.none()
          const memo = yield* codec.decodeMemo(appId, codeHash, asText(rows[0].value))
          return memo.expiresAt > now ? Option.some(memo) : Option.none()
        },
        onMemos("recallCode"),
        span("recallCode")
      )
    })
  })

/**
 * The store as a Layer over the `SqlClient` in context; runs `setup` first unless
 * `setup: false`. Provide the application's client: `PgClient.layer`, `MysqlClient.layer` or
 * `SqliteClient.layer`. A bad table name is an `InvalidArgument` when the layer is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<
  TokenStore.TokenStore,
  WeChatError.InvalidArgument | WeChatError.TokenStoreError,
  SqlClient.SqlClient
> =>
  Layer.effect(
    TokenStore.TokenStore,
    Effect.zipRight(options?.setup === false ? Effect.void : setup(options), make(options))
  )

/**
 * The store with its options from `Config`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<
  TokenStore.TokenStore,
  ConfigError.ConfigError | WeChatError.InvalidArgument | WeChatError.TokenStoreError,
  SqlClient.SqlClient
> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))

/**
 * The store over a client the caller owns (the layer never closes it).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromClient = (
  sql: SqlClient.SqlClient,
  options?: Options
): Layer.Layer<TokenStore.TokenStore, WeChatError.InvalidArgument | WeChatError.TokenStoreError> =>
  Layer.provide(layer(options), Layer.succeed(SqlClient.SqlClient, sql))

/**
 * How many rows `purgeExpired` deleted.
 *
 * @since 0.1.0
 * @category models
 */
export interface PurgeResult {
  /** Tokens whose refresh token had expired. */
  readonly tokens: number
  /** Code memos past their expiry. */
  readonly codes: number
}

/**
 * Deletes the tokens whose refresh token has expired and the code memos past their expiry (by
 * `Clock`). `get` never returns them anyway: this only keeps the tables small. Run it now and then,
 * e.g. `Effect.repeat(purgeExpired(), Schedule.spaced("1 hour"))`.
 *
 * @since 0.1.0
 * @category maintenance
 */
export const purgeExpired = (
  options?: Pick<Options, "table" | "memoTable" | "timeout">
): Effect.Effect<PurgeResult, WeChatError.InvalidArgument | WeChatError.TokenStoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const [sql, dialect] = yield* client
    const tables = yield* internal.resolveTables(options ?? {})
    const timeout = Duration.decode(options?.timeout ?? defaultTimeout)
    const attempt = dialect === "sqlite" ? sqliteAttempt(sql) : anyAttempt
    const now = yield* Clock.currentTimeMillis
    const tokens = yield* guard("purgeExpired", tables.table, timeout, attempt)(
      sql`DELETE FROM ${sql(tables.table)} WHERE refresh_expires_at <= ${now}`.raw
    )
    const codes = yield* guard("purgeExpired", tables.memoTable, timeout, attempt)(
      sql`DELETE FROM ${sql(tables.memoTable)} WHERE expires_at <= ${now}`.raw
    )
    return { tokens: internal.affectedRows(tokens), codes: internal.affectedRows(codes) }
  }).pipe(Effect.withSpan("SqlTokenStore.purgeExpired"))

// -----------------------------------------------------------------------------
// legacy import
// -----------------------------------------------------------------------------

/**
 * Options of `importLegacy`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ImportOptions {
  /** The WeChat app the legacy tokens belong to (the legacy table has no appid). */
  readonly appId: string
  /** The legacy table. Default `token`, as in wechat-oauth's README. */
  readonly table?: string | undefined
  /** Rows read per query. Default 500. */
  readonly batchSize?: number | undefined
  /** The longest one query of the legacy table may take. Default 30 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * What `importLegacy` did with the legacy rows (one per openid).
 *
 * @since 0.1.0
 * @category models
 */
export interface ImportResult {
  /** Tokens written to the store. */
  readonly imported: number
  /** Not written: `newerInStore + expired + invalid`. */
  readonly skipped: number
  /** The store already held a token obtained at the same time or later. */
  readonly newerInStore: number
  /** The refresh token's 30 days, counted from `create_at`, are over. */
  readonly expired: number
  /**
   * Users none of whose rows is a usable token by core's `LegacyToken.decode`: an empty token or
   * openid, an `expires_in` that is not whole seconds from 1 to 30 days, a `create_at` that is
   * neither a number nor a date string with an explicit UTC offset, and the like.
   */
  readonly invalid: number
}

interface LegacyRow {
  readonly access_token: unknown
  readonly expires_in: unknown
  readonly refresh_token: unknown
  readonly openid: unknown
  readonly scope: unknown
  readonly create_at: unknown
}

/** An openid as the legacy table holds it, trimmed, to count a user once whatever its rows. */
const legacyOpenid = (value: unknown): string => value === null || value === undefined ? "" : asText(value).trim()

/**
 * Moves the tokens of wechat-oauth's legacy table (columns `access_token, expires_in,
 * refresh_token, openid, scope, create_at`, all strings; see the README) into the `TokenStore` in
 * context, for one app, so users keep their login. Reads the legacy table through the `SqlClient`
 * in context, in batches by openid; writes through the store (newer wins, encrypted when a
 * `TokenCipher` is set), so any store can be the target. Each row is read by core's
 * `LegacyToken.decode` (dated `min(create_at, now)`; see its rules), and the latest usable row of a
 * user wins. A token the store already holds with the same or a later `obtainedAt` is left alone,
 * and so are expired and unusable rows: running the import twice imports nothing the second time.
 * The legacy table is only read.
 *
 * @since 0.1.0
 * @category migration
 */
export const importLegacy = (
  options: ImportOptions
): Effect.Effect<
  ImportResult,
  WeChatError.InvalidArgument | WeChatError.TokenStoreError,
  SqlClient.SqlClient | TokenStore.TokenStore
> =>
  Effect.gen(function*() {
    const [sql] = yield* client
    const table = yield* internal.validateName("table", options.table ?? "token")
    const batchSize = options.batchSize ?? 500
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
      return yield* new WeChatError.InvalidArgument({
        argument: "batchSize",
        description: "must be an integer from 1 to 10000"
      })
    }
    if (options.appId.trim() === "") {
      return yield* new WeChatError.InvalidArgument({ argument: "appId", description: "must not be empty" })
    }
    const store = yield* TokenStore.TokenStore
    const read = guard("importLegacy", table, Duration.decode(options.timeout ?? Duration.seconds(30)))
    const t = sql(table)
    const counts = { imported: 0, newerInStore: 0, expired: 0, invalid: 0 }
    let cursor: string | undefined = undefined
    while (true) {
      // Keyset pagination over the distinct openids: the legacy table may lack its unique key.
      const page: ReadonlyArray<{ openid: unknown }> = yield* read(
        cursor === undefined
          ? sql<{ openid: unknown }>`SELECT DISTINCT openid FROM ${t} ORDER BY openid LIMIT ${
            sql.literal(String(batchSize))
          }`
          : sql<{ openid: unknown }>`SELECT DISTINCT openid FROM ${t} WHERE openid > ${cursor}
              ORDER BY openid LIMIT ${sql.literal(String(batchSize))}`
      )
      if (page.length === 0) break
      const openids = page.map((row) => row.openid === null ? "" : asText(row.openid))
      cursor = openids[openids.length - 1]
      const rows = yield* read(sql<LegacyRow>`SELECT access_token, expires_in, refresh_token, openid, scope, create_at
        FROM ${t} WHERE ${sql.in("openid", openids)}`)
      // one token per openid: the most recent usable row
      const now = yield* Clock.currentTimeMillis
      const latest = new Map<string, OAuthToken.OAuthToken>()
      const seen = new Set<string>()
      for (const row of rows) {
        const openid = legacyOpenid(row.openid)
        seen.add(openid)
        const token = Either.getOrUndefined(LegacyToken.decode(row, now))
        if (token === undefined) continue
        const current = latest.get(token.openid)
        if (current === undefined || current.obtainedAt < token.obtainedAt) latest.set(token.openid, token)
      }
      for (const openid of seen) if (!latest.has(openid)) counts.invalid++
      const outcomes = yield* Effect.forEach(latest.values(), (token) => {
        if (token.refreshExpiresAt <= now) return Effect.succeed("expired" as const)
        return Effect.flatMap(store.get(options.appId, token.openid), (existing) =>
          Option.isSome(existing) && existing.value.obtainedAt >= token.obtainedAt
            ? Effect.succeed("newerInStore" as const)
            : Effect.as(store.set(options.appId, token), "imported" as const))
      }, { concurrency: 8 })
      for (const outcome of outcomes) {
        counts[outcome]++
      }
      if (page.length < batchSize) {
        break
      }
    }
    return { ...counts, skipped: counts.newerInStore + counts.expired + counts.invalid }
  }).pipe(Effect.withSpan("SqlTokenStore.importLegacy"))
