/**
 * A `SessionStore` on `@effect/sql`: server-side sessions in PostgreSQL, MySQL / MariaDB or SQLite,
 * one row per session, keyed by the SHA-256 of the client's token (the token itself is never
 * stored), so a logout, an expiry or a "log out everywhere" holds in every process. `revokeUser` is
 * one `DELETE` by user, which the database makes atomic; each user has at most `maxSessionsPerUser`
 * sessions. Sessions hold no token, so nothing needs encrypting at rest. Setup, timeouts and failures
 * are those of `SqlTokenStore`, reported as `SessionStoreError`s. `get` and `touch` refuse a row
 * whose session is not that of its id, or names another user than the row's `app_id` / `openid`
 * (by which `revokeUser` finds a user's sessions), with a `SessionStoreError`.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SessionStore, WeChatError } from "@wxauth/core"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import * as internal from "./internal/sessions.js"
import type { Dialect } from "./SqlTokenStore.js"

/**
 * Options of the store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The table. Default `wxauth_sessions`. Must match `^[A-Za-z_][A-Za-z0-9_]{0,62}$`. */
  readonly table?: string | undefined
  /** Run the idempotent table setup when the layer is built. Default `true`. Only `layer*` read it. */
  readonly setup?: boolean | undefined
  /** The longest a store operation may take, retries included. Default 10 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /** The longest table setup may take, waiting for the setup lock included. Default 60 seconds. */
  readonly setupTimeout?: Duration.DurationInput | undefined
  /**
   * At most this many sessions of one user (an `appId` + `openid`; a positive integer, default 100,
   * as core's memory store): after each `create`, within the same operation (its `timeout`, its
   * retries, its `SessionStoreError`), a count and, when over, one `DELETE` (both by the user
   * index) end the user's sessions beyond it, those that end soonest (by `expires_at`) first: the
   * sessions that are over, then the live ones closest to their end; never the session just created. The table keeps no creation time (its DDL is
   * unchanged), and `touch` moves `expires_at`: with one TTL for a user's sessions (and sliding
   * expiry) this is the least recently created or touched; with several (the browser's and the mini
   * program's in `@wxauth/http`) a session of the shorter TTL goes before an older one of the longer.
   * One account making sessions without end (a script replaying real logins) then keeps at most
   * this many rows of its own.
   *
   * Concurrent creates for one user may leave more for as long as they run; once they are done
   * (committed), the user has at most this many. Creates inside callers' transactions that run at
   * once see only the rows committed before them: a user may stay above the bound until their next
   * create.
   */
  readonly maxSessionsPerUser?: number | undefined
}

/**
 * The DDL that creates the table and its indexes (`<table>_user_idx` on the user, for `revokeUser`;
 * `<table>_expires_idx` for `purgeExpired`) in `dialect`, for teams that apply schema changes with
 * their own migration tool (then build the layer with `setup: false`). Every statement is
 * idempotent.
 *
 * @since 0.1.0
 * @category schema
 */
export const ddl = (
  dialect: Dialect,
  options?: Pick<Options, "table">
): Either.Either<ReadonlyArray<string>, WeChatError.InvalidArgument> => internal.ddl(dialect, options)

/**
 * Creates the table and its indexes when missing, under the setup lock every wxauth store takes, so
 * any number of processes may run it at once. Running it again changes nothing. On MySQL / MariaDB
 * it refuses to run inside a caller's transaction (a `SessionStoreError`).
 *
 * @since 0.1.0
 * @category schema
 */
export const setup = (
  options?: Options
): Effect.Effect<void, WeChatError.InvalidArgument | WeChatError.SessionStoreError, SqlClient.SqlClient> =>
  internal.setup(options)

/**
 * Builds the store over the `SqlClient` in context, for a table that exists (see `setup`). A bad
 * table name, `timeout` or `maxSessionsPerUser` (not a positive integer) is an `InvalidArgument`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options
): Effect.Effect<SessionStore.SessionStoreShape, WeChatError.InvalidArgument, SqlClient.SqlClient> =>
  internal.make(options)

/**
 * The store as a Layer over the `SqlClient` in context; runs `setup` first unless `setup: false`.
 *
 * @example
 * ```ts
 * import { SqliteClient } from "@effect/sql-sqlite-node"
 * import { SqlSessionStore } from "@wxauth/store-sql"
 * import * as Layer from "effect/Layer"
 *
 * const SessionsLive = SqlSessionStore.layer().pipe(
 *   Layer.provide(SqliteClient.layer({ filename: "wxauth.db" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<
  SessionStore.SessionStore,
  WeChatError.InvalidArgument | WeChatError.SessionStoreError,
  SqlClient.SqlClient
> => internal.layers.layer(options)

/**
 * The store with its options from `Config`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<
  SessionStore.SessionStore,
  ConfigError.ConfigError | WeChatError.InvalidArgument | WeChatError.SessionStoreError,
  SqlClient.SqlClient
> => internal.layers.layerConfig(config)

/**
 * The store over a client the caller owns (the layer never closes it).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromClient = (
  sql: SqlClient.SqlClient,
  options?: Options
): Layer.Layer<SessionStore.SessionStore, WeChatError.InvalidArgument | WeChatError.SessionStoreError> =>
  internal.layers.layerFromClient(sql, options)

/**
 * Deletes the sessions that are over (by `Clock`) and returns how many. `get` never returns them
 * anyway: this only keeps the table small. Run it now and then, e.g.
 * `Effect.repeat(purgeExpired(), Schedule.spaced("1 hour"))`.
 *
 * @since 0.1.0
 * @category maintenance
 */
export const purgeExpired = (
  options?: Pick<Options, "table" | "timeout">
): Effect.Effect<number, WeChatError.InvalidArgument | WeChatError.SessionStoreError, SqlClient.SqlClient> =>
  internal.purgeExpired(options)
