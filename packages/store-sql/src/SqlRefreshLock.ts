/**
 * A `RefreshLock` on `@effect/sql`, shared by every process on one PostgreSQL, MySQL / MariaDB or
 * SQLite database, so that N processes refreshing one user make one WeChat request, and a refresh
 * never overwrites a login another process stored meanwhile. **A token store shared by several
 * processes needs a lock they share too**: with core's default in-process lock, a refresh in one
 * process and a login in another each take only their own process's write key, and a delayed write
 * of the newer login can lose to the older grant's refresh. Pair it with `SqlTokenStore`; with
 * `@wxauth/store-redis`'s `RedisTokenStore` use its `RedisRefreshLock`, whose holder reads the
 * tokens past the store's near cache (under this lock, a near cache could hide another process's
 * refresh made just before, and the user be refreshed twice).
 *
 * The lock is a lease table (default `wxauth_locks`), one row per key held: the key's SHA-256 (so
 * each key is its own row whatever the column's collation), the holder's random token, and when the
 * lease ends, on the database's clock (processes whose clocks disagree still agree on leases).
 * Taking the lock is one statement: insert the row, or take over a row whose lease is over
 * (`ON CONFLICT ... DO UPDATE ... WHERE`, MySQL's `ON DUPLICATE KEY UPDATE` with the holder read
 * back). While the holder works, a heartbeat renews its lease every `lockTtl / 3`; the release
 * deletes the row only while it is still the holder's, when the effect succeeds, fails or is
 * interrupted. Waiters poll with a capped exponential backoff and give up with
 * `RefreshLockTimeout`. Each statement commits on its own (never in a caller's transaction), is
 * bounded by `timeout`, and holds no connection while the locked effect runs. Every key is its own
 * row, so different keys never wait for each other (core takes a user's write key
 * `<appId>:<openid>:write` while holding the refresh key `<appId>:<openid>`).
 *
 * @since 0.2.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { RefreshLock, WeChatError } from "@wxauth/core"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import type * as Schedule from "effect/Schedule"
import * as internal from "./internal/refreshLock.js"
import type { Dialect } from "./SqlTokenStore.js"

/**
 * Options of the lock.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** The lease table. Default `wxauth_locks`. Must match `^[A-Za-z_][A-Za-z0-9_]{0,62}$`. */
  readonly table?: string | undefined
  /** Run the idempotent table setup when the layer is built. Default `true`. Only `layer*` read it. */
  readonly setup?: boolean | undefined
  /** The longest one statement of the lock may take, retries included. Default 10 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /** The longest table setup may take, waiting for the setup lock included. Default 60 seconds. */
  readonly setupTimeout?: Duration.DurationInput | undefined
  /**
   * How long a lease lives without its holder (a crashed process): then another process takes the
   * lock over. While the holder runs, a heartbeat renews the lease every `lockTtl / 3`, so a
   * refresh may take longer. Default 20 seconds, as `RedisRefreshLock`'s: with core's defaults an
   * unrenewed lease covers a refresh's store read, WeChat call (3 attempts of 5 s and their
   * backoff) and write. At most 24 days.
   */
  readonly lockTtl?: Duration.DurationInput | undefined
  /**
   * How long a waiter waits before `RefreshLockTimeout`, also one that cannot be interrupted.
   * Longer than `lockTtl`, so a crashed holder's lease ends while waiters still wait. Default 25
   * seconds; at most 24 days (a timer's limit: a longer deadline would never fire).
   */
  readonly waitTimeout?: Duration.DurationInput | undefined
  /** When waiters try again. Default `defaultPoll`. */
  readonly poll?: Schedule.Schedule<unknown> | undefined
}

/**
 * How waiters poll: from 10 ms, growing x1.5, capped at 200 ms, jittered so waiters spread out. A
 * freed lock is noticed within about 200 ms.
 *
 * @since 0.2.0
 * @category schedules
 */
export const defaultPoll: Schedule.Schedule<unknown> = internal.defaultPoll

/**
 * The longest key the lock takes: 512 characters (core's longest is 199).
 *
 * @since 0.2.0
 * @category constants
 */
export const maxKeyLength: number = internal.maxKeyLength

/**
 * The DDL that creates the lease table in `dialect`, for teams that apply schema changes with their
 * own migration tool (then build the layer with `setup: false`). Idempotent.
 *
 * @since 0.2.0
 * @category schema
 */
export const ddl = (
  dialect: Dialect,
  options?: Pick<Options, "table">
): Either.Either<ReadonlyArray<string>, WeChatError.InvalidArgument> => internal.store.ddl(dialect, options)

/**
 * Creates the lease table when missing, under the setup lock every wxauth store takes, so any number
 * of processes may run it at once. Running it again changes nothing.
 *
 * @since 0.2.0
 * @category schema
 */
export const setup = (
  options?: Options
): Effect.Effect<void, WeChatError.InvalidArgument | WeChatError.TokenStoreError, SqlClient.SqlClient> =>
  internal.store.setup(options)

/**
 * Builds the lock over the `SqlClient` in context, for a table that exists (see `setup`).
 *
 * A database failure while taking the lock ends the wait at once with `RefreshLockTimeout`, its
 * `cause` the driver's error code and message (no statement value), and a warning in the log: the
 * lock's interface has no other error, and a database that is down must fail fast. A key that is
 * not a string, or is longer than `maxKeyLength`, is refused the same way, at once, without asking
 * the database: `RefreshLockTimeout` with an empty `key`, its `cause` a `TypeError` or a
 * `RangeError`. A failed renewal is logged and tried again at the next beat; a failed release is
 * logged and left to the lease. Log lines name the app id and a short hash of the key, never the
 * openid.
 *
 * A waiter that gives up (interrupted, or at `waitTimeout`) while its take still runs in the
 * database (waiting for another session's row lock) leaves no lease behind: once that statement is
 * over, the row is deleted in the background if it took the lock.
 *
 * An option of the wrong kind (a bad `table`, a `timeout` that is not a positive finite duration,
 * a `lockTtl` or `waitTimeout` that is not one of at most 24 days, what a timer holds, a `poll` that
 * is not a `Schedule`) is an `InvalidArgument`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  options?: Options
): Effect.Effect<RefreshLock.RefreshLockShape, WeChatError.InvalidArgument, SqlClient.SqlClient> =>
  internal.make(options)

/**
 * The lock as a Layer over the `SqlClient` in context; runs `setup` first unless `setup: false`
 * (then only the shape of a table that exists is checked).
 *
 * @example
 * ```ts
 * import { PgClient } from "@effect/sql-pg"
 * import { SqlRefreshLock, SqlTokenStore } from "@wxauth/store-sql"
 * import * as Layer from "effect/Layer"
 * import * as Redacted from "effect/Redacted"
 *
 * // every process on this database shares the tokens and the lock
 * const SharedLive = Layer.merge(SqlTokenStore.layer(), SqlRefreshLock.layer()).pipe(
 *   Layer.provide(PgClient.layer({ url: Redacted.make("postgres://localhost/app") }))
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<
  RefreshLock.RefreshLock,
  WeChatError.InvalidArgument | WeChatError.TokenStoreError,
  SqlClient.SqlClient
> => internal.layers.layer(options)

/**
 * The lock with its options from `Config`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<
  RefreshLock.RefreshLock,
  ConfigError.ConfigError | WeChatError.InvalidArgument | WeChatError.TokenStoreError,
  SqlClient.SqlClient
> => internal.layers.layerConfig(config)

/**
 * The lock over a client the caller owns (the layer never closes it).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerFromClient = (
  sql: SqlClient.SqlClient,
  options?: Options
): Layer.Layer<RefreshLock.RefreshLock, WeChatError.InvalidArgument | WeChatError.TokenStoreError> =>
  internal.layers.layerFromClient(sql, options)
