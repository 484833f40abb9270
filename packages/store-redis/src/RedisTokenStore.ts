/**
 * A `TokenStore` on Redis (ioredis), shared by every process and machine that serves the same users.
 * Tokens live in one hash per user, written by a Lua script that keeps the newer token, and expire
 * with the refresh token. Values pass through core's `TokenCipher`, so they can be encrypted at rest.
 * Decoded tokens are kept in memory: a `get` whose stored value has not changed skips the decode,
 * and with the near cache (on by default in the layers) skips Redis too, as long as Redis' client-side
 * caching reports no change.
 *
 * @since 0.1.0
 */
import { TokenStore, WeChatConfig, WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Client from "./internal/client.js"
import { InvalidationFeed } from "./internal/invalidations.js"
import * as Keys from "./internal/keys.js"
import * as ReadOptions from "./internal/options.js"
import { bypassNearCache as bypassRef, TokenCache } from "./internal/tokenCache.js"
import * as Store from "./internal/tokenStore.js"

/**
 * A Redis client: a single node (or Sentinel) `Redis`, or a `Cluster`.
 *
 * @since 0.1.0
 * @category models
 */
export type RedisClient = Client.Client

/**
 * Options of a store over a client: the key prefix (default `wxauth:`), and a bound on each Redis
 * call (default 2 seconds), kept even when the client itself has no `commandTimeout`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  readonly keyPrefix?: string | undefined
  readonly commandTimeout?: Duration.DurationInput | undefined
}

/**
 * Options of the near cache:
 *
 * - `maxEntries`: how many users' tokens it keeps at most (the least recently read go first), default
 *   `defaultNearCacheEntries` (10,000). A stored value longer than 8,192 characters (no WeChat token
 *   makes one: its tokens are at most 1,024 characters) is never kept: it is read from Redis each
 *   time, so the heap stays bounded too.
 * - `maxAge`: how long a token is served from memory, at most, after it was read from Redis; then it
 *   is read again. Default `defaultNearCacheMaxAge` (30 seconds). It bounds every change Redis sends
 *   no invalidation for: a `SWAPDB`, or a connection that reached another server in a way the store
 *   could not tell. Measured by the `Clock` the store was built with (`TestClock` in tests). A value
 *   that is not a positive finite duration is an `InvalidArgument`.
 *
 * @since 0.1.0
 * @category models
 */
export interface NearCacheOptions {
  readonly maxEntries?: number | undefined
  /** @since 0.2.0 */
  readonly maxAge?: Duration.DurationInput | undefined
}

/**
 * Options of a store with a near cache (`makeScoped`, `layerFromClient`): those of `make`, and
 * `nearCache`: `true` (the default), `false` to read every token from Redis, or
 * `{ maxEntries, maxAge }` (see `NearCacheOptions`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ScopedOptions extends MakeOptions {
  readonly nearCache?: boolean | NearCacheOptions | undefined
}

/**
 * Options of the layers that open their own connection: `url` (default `redis://127.0.0.1:6379`,
 * `rediss://` for TLS; a `Redacted` keeps a password out of logs), `keyPrefix` (default `wxauth:`),
 * `connectTimeout` and `commandTimeout` (2 seconds each), `nearCache` (see `ScopedOptions`), and
 * any other ioredis option (`password`, `db`, `tls`, `sentinels`, `retryStrategy`, ...). ioredis' own
 * `keyPrefix` is not used: the store prefixes its keys itself.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Client.ConnectionOptions {
  readonly keyPrefix?: string | undefined
  readonly nearCache?: boolean | NearCacheOptions | undefined
}

/**
 * How many users' tokens the near cache keeps by default: 10,000 (about 1 KB each with WeChat's usual
 * tokens, at most about 17 KB: a longer stored value is not kept).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultNearCacheEntries = 10_000

/**
 * How long the near cache serves a token, at most, after reading it from Redis: 30 seconds. Redis
 * sends no invalidation for some changes (`SWAPDB`); this bounds how long such a change goes unseen,
 * at the cost of one read per cached user and period.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultNearCacheMaxAge: Duration.Duration = Duration.seconds(30)

/** How many decoded tokens a store without a near cache keeps, to skip decoding an unchanged value. */
const decodedEntries = 1_000

/** The most a near cache may be asked to keep. */
const maxNearCacheEntries = 10_000_000

/** How often the near cache's connections are pinged: a silent one is not trusted longer than this plus `commandTimeout`. */
const heartbeatPeriod = Duration.seconds(1)

/**
 * The key of a user's token: `<prefix>{<appId>:<openid>}:token`. The braces are a Redis Cluster hash
 * tag: a user's keys (token and refresh lock) share a slot. The store takes only ids of core's rule
 * (`TokenStore.checkUser`: an appId of `A-Z a-z 0-9 _ -`, without `:` or braces), so a key is one
 * (appId, openid)'s only: `("wxA:x", "y")` and `("wxA", "x:y")` cannot share one. The appId
 * `app-token` is refused by the store too (a `TokenStoreError`, as any appId out of the rule): `("app-token", X)` would be app `X`'s
 * app token key (`RedisAppTokenStore.appTokenKey`).
 *
 * Any argument that is not a string (a number, an object, a Symbol, a revoked Proxy; `undefined`
 * for the prefix is its default) is thrown as an `InvalidArgument` naming it, never converted to
 * text: the helper's one error (it answers a string, as it always did, so it cannot carry the error
 * in an `Either` as `@wxauth/store-sql`'s `tables` and `ddl` do).
 *
 * @throws InvalidArgument for an argument that is not a string
 *
 * @since 0.1.0
 * @category keys
 */
export const tokenKey = (appId: string, openid: string, keyPrefix: string = Client.defaultKeyPrefix): string =>
  `${Keys.keyPart("keyPrefix", keyPrefix)}{${Keys.keyPart("appId", appId)}:${Keys.keyPart("openid", openid)}}:token`

/**
 * The key of a remembered code: `<prefix>code:<appId>:<sha256(code)>`. Without a hash tag, so the
 * code memos of an app spread over the cluster instead of crowding one slot.
 *
 * Any argument that is not a string (a number, an object, a Symbol, a revoked Proxy; `undefined`
 * for the prefix is its default) is thrown as an `InvalidArgument` naming it, never converted to
 * text: the helper's one error (it answers a string, as it always did, so it cannot carry the error
 * in an `Either` as `@wxauth/store-sql`'s `tables` and `ddl` do).
 *
 * @throws InvalidArgument for an argument that is not a string
 *
 * @since 0.1.0
 * @category keys
 */
export const codeKey = (appId: string, codeHash: string, keyPrefix: string = Client.defaultKeyPrefix): string =>
  `${Keys.keyPart("keyPrefix", keyPrefix)}code:${Keys.keyPart("appId", appId)}:${Keys.keyPart("codeHash", codeHash)}`

/** The heartbeat runs on real time even under `TestClock`: the connections it checks are real. */
const liveClock = Clock.make()

const build = (redis: RedisClient, options: ReadOptions.Read, cache: TokenCache) =>
  Effect.map(TokenStore.makeCodec, (codec) => {
    const prefix = options.keyPrefix ?? Client.defaultKeyPrefix
    return Store.make(redis, {
      codec,
      cache,
      timeout: options.commandTimeout ?? Client.defaultCommandTimeout,
      tokenKey: (appId, openid) => tokenKey(appId, openid, prefix),
      codeKey: (appId, codeHash) => codeKey(appId, codeHash, prefix)
    })
  })

/**
 * Builds the store over a client the caller owns (it is never closed here), without a near cache
 * (its connections need a scope: see `makeScoped`). Decoded tokens are kept (up to 1,000): a `get`
 * whose stored value is exactly the one read before skips the decrypt and the decode. Defines the
 * `set` script on the client (`defineCommand`) and takes the `TokenCipher` in context, if any. A
 * `redis` that is not an ioredis client, a `keyPrefix` that is not a string of at most 256
 * characters, or a `commandTimeout` that is not a positive finite duration, is an `InvalidArgument`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  redis: RedisClient,
  options?: MakeOptions
): Effect.Effect<TokenStore.TokenStoreShape, WeChatError.InvalidArgument> =>
  Effect.all([Client.checkClient(redis), ReadOptions.read(options)]).pipe(
    Effect.flatMap(([client, read]) => build(client, read, new TokenCache(decodedEntries)))
  )

interface NearCacheLimits {
  readonly maxEntries: number
  readonly maxAgeMillis: number
}

const defaultLimits: NearCacheLimits = {
  maxEntries: defaultNearCacheEntries,
  maxAgeMillis: Duration.toMillis(defaultNearCacheMaxAge)
}

/** The near cache's limits, `undefined` for `nearCache: false`; each field read once. */
const nearCacheLimits = (option: unknown): Effect.Effect<NearCacheLimits | undefined, WeChatError.InvalidArgument> => {
  if (option === undefined || option === true) return Effect.succeed(defaultLimits)
  if (option === false) return Effect.succeed(undefined)
  let fields: { readonly maxEntries: unknown; readonly maxAge: unknown } | undefined
  try {
    if (typeof option === "object" && option !== null && !Array.isArray(option)) {
      const { maxAge, maxEntries } = option as Record<string, unknown>
      fields = { maxEntries, maxAge }
    }
  } catch {
    fields = undefined
  }
  if (fields === undefined) {
    return Effect.fail(
      new WeChatError.InvalidArgument({
        argument: "nearCache",
        description: "must be true, false or { maxEntries, maxAge }"
      })
    )
  }
  const { maxAge, maxEntries } = fields
  if (
    maxEntries !== undefined &&
    !(typeof maxEntries === "number" && Number.isInteger(maxEntries) && maxEntries >= 1)
  ) {
    return Effect.fail(
      new WeChatError.InvalidArgument({
        argument: "nearCache.maxEntries",
        description: "must be a positive integer"
      })
    )
  }
  return Effect.map(ReadOptions.durationOf(maxAge, "nearCache.maxAge"), (age) => ({
    maxEntries: maxEntries === undefined
      ? defaultNearCacheEntries
      : Math.min(maxEntries as number, maxNearCacheEntries),
    maxAgeMillis: age === undefined ? defaultLimits.maxAgeMillis : Duration.toMillis(age)
  }))
}

/**
 * Builds the store over a client the caller owns (never closed here) with its near cache, unless
 * `nearCache: false`: for each Redis node (every node of a `Cluster`) a connection of the store's own,
 * a `duplicate` of the client's, subscribes to Redis' invalidations of the keys under
 * `<keyPrefix>{` (`CLIENT TRACKING ... BCAST`, RESP2), and tokens read while nothing changed them are
 * served from memory, each for `maxAge` at most (default 30 seconds: Redis sends no invalidation for
 * a `SWAPDB`). Any doubt (a connection lost or reconnected, a node added or removed, a heartbeat
 * unanswered, a feed connection that reached another server than the data connection, by `INFO
 * server`'s `run_id`) drops the whole cache until the feed is back. The connections close with the
 * scope. A Redis that refuses client tracking or `INFO` (before 6.0, or an ACL without them) leaves
 * the cache off, with a warning; so does a heartbeat that cannot run (a client whose `ping` throws
 * or gives no promise after the build). A `nearCache` that is neither a boolean nor `{ maxEntries, maxAge }`
 * (a positive integer, a positive finite duration), or a `redis` that is not an ioredis client, is an
 * `InvalidArgument`; so is, with a near cache, a `redis` whose `duplicate()` throws or gives no
 * client, or whose `options`, `status` or `on` throw.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeScoped = (
  redis: RedisClient,
  options?: ScopedOptions
): Effect.Effect<TokenStore.TokenStoreShape, WeChatError.InvalidArgument, Scope.Scope> =>
  Effect.gen(function*() {
    const read = yield* ReadOptions.read(options)
    const limits = yield* nearCacheLimits(read.fields.nearCache)
    const client = yield* Client.checkClient(redis, limits !== undefined)
    if (limits === undefined) return yield* build(client, read, new TokenCache(decodedEntries))
    // the hit path reads this clock synchronously (no effect per hit): the store's, TestClock in tests
    const clock = yield* Effect.clock
    const cache = new TokenCache(limits.maxEntries, { maxAgeMillis: limits.maxAgeMillis, clock })
    const runtime = yield* Effect.runtime<never>()
    const commandMillis = Client.millis(read.commandTimeout, Client.defaultCommandTimeout)
    const feed = yield* Effect.acquireRelease(
      // a client that passes `isClient` may still not be followed (a Proxy, a stand-in): its
      // `duplicate()` throws or gives no connection, its `options`, `status` or `on` throw
      Effect.try({
        try: () =>
          new InvalidationFeed(client, cache, {
            keyPrefix: read.keyPrefix ?? Client.defaultKeyPrefix,
            commandMillis,
            onUnsupported: (reason) =>
              Runtime.runFork(runtime)(
                Effect.logWarning(
                  "wxauth: Redis refused client tracking (or INFO server); the token store's near cache is off"
                ).pipe(
                  Effect.annotateLogs({ error: reason })
                )
              ),
            onSplit: (node) =>
              Runtime.runFork(runtime)(
                Effect.logWarning(
                  "wxauth: the near cache's connection reached another Redis server than the store's; the near cache is off until both reach the same one"
                ).pipe(Effect.annotateLogs({ node }))
              ),
            onStopped: (reason) =>
              Runtime.runFork(runtime)(
                Effect.logWarning(
                  "wxauth: the near cache can no longer check what it serves; the token store's near cache is off (reads go to Redis)"
                ).pipe(Effect.annotateLogs({ reason }))
              )
          }),
        catch: () => Client.notANearCacheClient
      }),
      (feed) => Effect.sync(() => feed.close())
    )
    const heartbeatBound = Duration.sum(Duration.millis(commandMillis), heartbeatPeriod)
    const stop = Effect.sync(() => feed.stop("the heartbeat could not run"))
    yield* Effect.tryPromise(() => feed.heartbeat()).pipe(
      // each of its commands has a deadline, so it neither fails nor hangs; if it ever did, the
      // cache must not go on serving what it no longer checks
      Effect.timeout(heartbeatBound),
      Effect.catchAll(() => stop),
      Effect.catchAllDefect(() => stop),
      Effect.repeat({ schedule: Schedule.spaced(heartbeatPeriod), while: () => feed.running }),
      Effect.withClock(liveClock),
      Effect.interruptible,
      Effect.forkScoped
    )
    return yield* build(client, read, cache)
  })

/**
 * Runs `effect` with every `get` of the Redis token stores reading Redis, not the near cache.
 * `RedisRefreshLock` does this around the work it runs under the lock, so a refresher's re-read of
 * the store sees another process's refresh at once; a `RefreshLock` of your own over a store with a
 * near cache should do the same, or a refresh storm may refresh more than once.
 *
 * @since 0.1.0
 * @category combinators
 */
export const bypassNearCache = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locally(effect, bypassRef, true)

/**
 * The store over a client the caller owns: the layer never closes it (it closes the near cache's own
 * connections when released).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromClient = (
  redis: RedisClient,
  options?: ScopedOptions
): Layer.Layer<TokenStore.TokenStore, WeChatError.InvalidArgument> =>
  Layer.scoped(TokenStore.TokenStore, makeScoped(redis, options))

/**
 * Opens a connection for the layer's scope (`QUIT` on release) and builds the store, with its near
 * cache unless `nearCache: false`. Building fails with a `TokenStoreError` when Redis cannot be
 * reached or refuses the connection within the timeouts.
 *
 * @example
 * ```ts
 * import { RedisTokenStore } from "@wxauth/store-redis"
 *
 * const StoreLive = RedisTokenStore.layer({ url: "redis://127.0.0.1:6379", keyPrefix: "myapp:wxauth:" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<TokenStore.TokenStore, WeChatError.TokenStoreError | WeChatError.InvalidArgument> =>
  Layer.scoped(
    TokenStore.TokenStore,
    Effect.flatMap(Client.acquire(options), (redis) => makeScoped(redis, options))
  )

/**
 * `layer` with its options from `Config`.
 *
 * @example
 * ```ts
 * import { RedisTokenStore } from "@wxauth/store-redis"
 * import * as Config from "effect/Config"
 *
 * const StoreLive = RedisTokenStore.layerConfig({
 *   url: Config.redacted("REDIS_URL"),
 *   keyPrefix: Config.withDefault(Config.string("WXAUTH_REDIS_PREFIX"), "wxauth:")
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<
  TokenStore.TokenStore,
  WeChatError.TokenStoreError | WeChatError.InvalidArgument | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(WeChatConfig.unwrapConfig(config), layer))
