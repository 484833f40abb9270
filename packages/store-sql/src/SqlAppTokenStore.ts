/**
 * An `AppTokenStore` on `@effect/sql`: the app access token of each app in PostgreSQL, MySQL /
 * MariaDB or SQLite, one row per app, shared by every process of the app. `set` is one atomic
 * newest-wins upsert per dialect (a token obtained earlier never replaces a later one; on a tie the
 * last write wins); values pass through core's `TokenCipher`, so tokens can be encrypted at rest.
 * Setup, timeouts and failures are those of `SqlTokenStore`.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { AppTokenStore, WeChatError } from "@wxauth/core"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import * as internal from "./internal/appTokens.js"
import type { Dialect } from "./SqlTokenStore.js"

/**
 * Options of the store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The table. Default `wxauth_app_tokens`. Must match `^[A-Za-z_][A-Za-z0-9_]{0,62}$`. */
  readonly table?: string | undefined
  /** Run the idempotent table setup when the layer is built. Default `true`. Only `layer*` read it. */
  readonly setup?: boolean | undefined
  /** The longest a store operation may take, retries included. Default 10 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /** The longest table setup may take, waiting for the setup lock included. Default 60 seconds. */
  readonly setupTimeout?: Duration.DurationInput | undefined
}

/**
 * The DDL that creates the table in `dialect`, for teams that apply schema changes with their own
 * migration tool (then build the layer with `setup: false`). Idempotent.
 *
 * @since 0.1.0
 * @category schema
 */
export const ddl = (
  dialect: Dialect,
  options?: Pick<Options, "table">
): Either.Either<ReadonlyArray<string>, WeChatError.InvalidArgument> => internal.ddl(dialect, options)

/**
 * Creates the table when missing, under the setup lock every wxauth store takes, so any number of
 * processes may run it at once. Running it again changes nothing. On MySQL / MariaDB it refuses to
 * run inside a caller's transaction (a `TokenStoreError`).
 *
 * @since 0.1.0
 * @category schema
 */
export const setup = (
  options?: Options
): Effect.Effect<void, WeChatError.InvalidArgument | WeChatError.TokenStoreError, SqlClient.SqlClient> =>
  internal.setup(options)

/**
 * Builds the store over the `SqlClient` in context, for a table that exists (see `setup`). Values
 * are sealed with the `TokenCipher` in context, when there is one. It neither creates nor checks the
 * table (`setup` and the layers do); a read takes only the row of its very key, byte for byte, even
 * over a table whose `app_id` ignores case.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options
): Effect.Effect<AppTokenStore.AppTokenStoreShape, WeChatError.InvalidArgument, SqlClient.SqlClient> =>
  internal.make(options)

/**
 * The store as a Layer over the `SqlClient` in context; runs `setup` first unless `setup: false`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<
  AppTokenStore.AppTokenStore,
  WeChatError.InvalidArgument | WeChatError.TokenStoreError,
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
  AppTokenStore.AppTokenStore,
  ConfigError.ConfigError | WeChatError.InvalidArgument | WeChatError.TokenStoreError,
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
): Layer.Layer<AppTokenStore.AppTokenStore, WeChatError.InvalidArgument | WeChatError.TokenStoreError> =>
  internal.layers.layerFromClient(sql, options)

/**
 * Deletes the expired tokens (by `Clock`) and returns how many. `get` never returns them anyway,
 * and each app's row is overwritten by its next token: this only tidies up after apps no longer
 * served.
 *
 * @since 0.1.0
 * @category maintenance
 */
export const purgeExpired = (
  options?: Pick<Options, "table" | "timeout">
): Effect.Effect<number, WeChatError.InvalidArgument | WeChatError.TokenStoreError, SqlClient.SqlClient> =>
  internal.purgeExpired(options)
