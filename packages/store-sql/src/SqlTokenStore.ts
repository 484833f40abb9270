/**
 * A `TokenStore` on `@effect/sql`: tokens and code memos in PostgreSQL, MySQL / MariaDB or SQLite,
 * through whatever `SqlClient` the application already has. `set` is one atomic upsert per dialect
 * with newer-wins; values pass through core's `TokenCipher`, so tokens can be encrypted at rest.
 * Also here: the idempotent table setup (under a lock, for many processes and many table names),
 * `purgeExpired`, and `importLegacy`, which moves wechat-oauth's `token` table over.
 *
 * This file is the store's documentation; the machinery is in `internal/`: the store operations
 * (`store.ts`), what every store is built from (`builder.ts`: options, client, setup, layers), the
 * bounds every operation runs in (`guard.ts`: deadline, retries, cleaned errors), the schema and its
 * setup per dialect (`schema.ts`), table names (`tables.ts`) and the legacy import
 * (`legacyImport.ts`, which reads each row with core's `LegacyToken`).
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { TokenStore, WeChatError } from "@wxauth/core"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import { readOptions } from "./internal/builder.js"
import * as legacyImport from "./internal/legacyImport.js"
import * as store from "./internal/store.js"
import * as tableNames from "./internal/tables.js"

/**
 * The SQL dialects the store speaks.
 *
 * @since 0.1.0
 * @category models
 */
export type Dialect = "pg" | "mysql" | "sqlite"

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
): Either.Either<Tables, WeChatError.InvalidArgument> =>
  Either.flatMap(readOptions<Pick<Options, "table" | "memoTable">>(options), tableNames.resolveTables)

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
): Either.Either<ReadonlyArray<string>, WeChatError.InvalidArgument> => store.ddl(dialect, options)

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
  store.setup(options)

/**
 * Builds the store over the `SqlClient` in context, for tables that exist (see `setup`). Values
 * are sealed with the `TokenCipher` in context, when there is one. It neither creates nor checks the
 * tables (`setup` and the layers do); a read takes only the row of its very ids, byte for byte, even
 * over a table whose ids ignore case.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options
): Effect.Effect<TokenStore.TokenStoreShape, WeChatError.InvalidArgument, SqlClient.SqlClient> => store.make(options)

/**
 * The store as a Layer over the `SqlClient` in context; runs `setup` first unless
 * `setup: false`. Provide the application's client: `PgClient.layer`, `MysqlClient.layer` or
 * `SqliteClient.layer`. A bad table name is an `InvalidArgument` when the layer is built.
 *
 * @example
 * ```ts
 * import { PgClient } from "@effect/sql-pg"
 * import { WeChatConfig, WeChatHttpClient, WeChatOAuth } from "@wxauth/core"
 * import { SqlTokenStore } from "@wxauth/store-sql"
 * import * as Config from "effect/Config"
 * import * as Layer from "effect/Layer"
 *
 * // the users' tokens in the application's PostgreSQL database (the table is made when missing)
 * const TokenStoreLive = SqlTokenStore.layer({ table: "wxauth_tokens" }).pipe(
 *   Layer.provide(PgClient.layerConfig({ url: Config.redacted("DATABASE_URL") }))
 * )
 *
 * const WeChatLive = WeChatOAuth.layer.pipe(
 *   Layer.provide([WeChatConfig.layerFromEnv, WeChatHttpClient.layer(), TokenStoreLive])
 * )
 * ```
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
> => store.layers.layer(options)

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
> => store.layers.layerConfig(config)

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
  store.layers.layerFromClient(sql, options)

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
  store.purgeExpired(options)

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
  /**
   * Rows read per query, at most, and openids per batch. Default 500. Of a user's rows only those up
   * to the latest usable one are read (see `importLegacy`), and a column longer than any the decode
   * reads is not fetched.
   */
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
  /**
   * Tokens written to the store, those written over a stored token the store could not read (and
   * could read after the write) included.
   */
  readonly imported: number
  /** Not written: `newerInStore + datedAhead + expired + invalid` (`unreadableInStore` is apart). */
  readonly skipped: number
  /** The store already held a token obtained at the same time as the row or later. */
  readonly newerInStore: number
  /**
   * Rows dated ahead of this machine's clock (`create_at` not before now: a legacy server whose
   * clock runs ahead) for a user the store already holds a token for: left alone, whatever the
   * stored token. Such a date cannot be compared with the stored token's, so the row may be older
   * (the store refreshed since the last run) or newer (the user consented again on the legacy
   * server, with another scope or refresh token): when this is not 0, run the import again once
   * the legacy clock's lead has passed, before switching over; the row is then compared like any
   * other and brought if it is newer.
   *
   * @since 0.2.0
   */
  readonly datedAhead: number
  /** The refresh token's 30 days, counted from `create_at`, are over. */
  readonly expired: number
  /**
   * Users none of whose rows is a usable token by core's `LegacyToken.decode`: an empty token or
   * openid, an `expires_in` that is not whole seconds from 1 to 30 days, a `create_at` that is
   * neither a number nor a date string with an explicit UTC offset, and the like.
   */
  readonly invalid: number
  /**
   * Users whose stored token the store could not read (`get` failed: a value that does not decode
   * or open, or a failed read), before the legacy token was written to it (newer wins) and again
   * after: which token the store holds is not known, so the import left it as it is (it never
   * removes what it could not read: a second failed read may hide a newer token a live app wrote
   * meanwhile), logged a warning naming the appId and openid, and went on. Not in `imported` nor
   * `skipped`. When this is not 0, see the log: a value no version can read is removed with
   * `TokenStore.remove` (the user's next consent also replaces it), and the import run again.
   *
   * @since 0.2.0
   */
  readonly unreadableInStore: number
}

/**
 * Moves the tokens of wechat-oauth's legacy table (columns `access_token, expires_in,
 * refresh_token, openid, scope, create_at`, all strings; see the README) into the `TokenStore` in
 * context, for one app, so users keep their login. Reads the legacy table through the `SqlClient`
 * in context, in batches by openid; writes through the store (newer wins, encrypted when a
 * `TokenCipher` is set), so any store can be the target. Each row is read by core's
 * `LegacyToken.decode` (dated `min(create_at, now)`; see its rules), and the latest usable row of a
 * user wins. A token the store already holds with the same or a later `obtainedAt` is left alone,
 * and so are expired and unusable rows: running the import twice imports nothing the second time.
 * A row whose `create_at` is not before now (a legacy server whose clock runs ahead), dated now, is
 * imported only for a user the store holds no token for: it never replaces one, and is counted as
 * `datedAhead`; when that count is not 0, run the import again once the legacy clock's lead has
 * passed (before switching over), which compares such rows like any other.
 * A stored token the store cannot read (`get` fails: it does not decode or open, or the read fails)
 * does not stop the import: the legacy token is written over it as a new consent's would be (newer
 * wins) and read back; a readable token then counts as before (`imported`, or `newerInStore` for a
 * newer one); a read that fails again leaves the store as it is (nothing is removed), logs a warning
 * naming the appId and openid, and counts as `unreadableInStore`. A row dated ahead leaves it,
 * counted as `datedAhead`.
 * No query answers more than `batchSize` rows: a batch's rows are read in openid order, each user's
 * latest first (first those whose `create_at` only the decode can date, such as a date string), with
 * keyset pagination and no window function, and once a user's latest usable row is known the next
 * query starts after that user; a column longer than any the decode reads (4 bytes a character of
 * its limit) is not fetched, its row unusable. The legacy table is only read.
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
> => legacyImport.importLegacy(options)
