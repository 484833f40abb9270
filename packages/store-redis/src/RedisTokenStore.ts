/**
 * A `TokenStore` on Redis (ioredis), shared by every process and machine that serves the same users.
 * Tokens live in one hash per user, written by a Lua script that keeps the newer token, and expire
 * with the refresh token. Values pass through core's `TokenCipher`, so they can be encrypted at rest.
 *
 * @since 0.1.0
 */
import { TokenStore, WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Client from "./internal/client.js"
import * as Scripts from "./internal/scripts.js"
import { withSpanWhenTraced } from "./internal/span.js"

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
 * Options of the layers that open their own connection: `url` (default `redis://127.0.0.1:6379`,
 * `rediss://` for TLS; a `Redacted` keeps a password out of logs), `keyPrefix` (default `wxauth:`),
 * `connectTimeout` and `commandTimeout` (2 seconds each), and any other ioredis option
 * (`password`, `db`, `tls`, `sentinels`, `retryStrategy`, ...). ioredis' own `keyPrefix` is not used:
 * the store prefixes its keys itself.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Client.ConnectionOptions {
  readonly keyPrefix?: string | undefined
}

/**
 * The key of a user's token: `<prefix>{<appId>:<openid>}:token`. The braces are a Redis Cluster hash
 * tag: a user's keys (token and refresh lock) share a slot.
 *
 * @since 0.1.0
 * @category keys
 */
export const tokenKey = (appId: string, openid: string, keyPrefix: string = Client.defaultKeyPrefix): string =>
  `${keyPrefix}{${appId}:${openid}}:token`

/**
 * The key of a remembered code: `<prefix>code:<appId>:<sha256(code)>`. Without a hash tag, so the
 * code memos of an app spread over the cluster instead of crowding one slot.
 *
 * @since 0.1.0
 * @category keys
 */
export const codeKey = (appId: string, codeHash: string, keyPrefix: string = Client.defaultKeyPrefix): string =>
  `${keyPrefix}code:${appId}:${codeHash}`

/** A code memo lives at least this long in Redis, whatever its `expiresAt` (which `recallCode` checks). */
const minimumMemoTtlMillis = 1000

/**
 * Builds the store over a client the caller owns (it is never closed here). Defines the `set`
 * script on the client (`defineCommand`) and takes the `TokenCipher` in context, if any.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (redis: RedisClient, options?: MakeOptions): Effect.Effect<TokenStore.TokenStoreShape> =>
  Effect.gen(function*() {
    const codec = yield* TokenStore.makeCodec
    const prefix = options?.keyPrefix ?? Client.defaultKeyPrefix
    const timeout = Duration.decode(options?.commandTimeout ?? Client.defaultCommandTimeout)
    const setNewer = Scripts.defineSetNewer(redis)

    const span = (name: string, appId: string) =>
      withSpanWhenTraced(`RedisTokenStore.${name}`, {
        captureStackTrace: false,
        attributes: { "wxauth.app_id": appId }
      })

    const get = (appId: string, openid: string) =>
      Client.run("get", timeout, () => redis.hmget(tokenKey(appId, openid, prefix), "o", "v")).pipe(
        Effect.flatMap(([obtainedAt, value]) => {
          if (value === null || value === undefined) {
            return obtainedAt === null || obtainedAt === undefined
              ? Effect.succeedNone
              : Effect.fail(
                new WeChatError.TokenStoreError({
                  operation: "get",
                  description: "the stored token has no value (not written by wxauth, or corrupted)"
                })
              )
          }
          return Effect.flatMap(
            codec.decodeToken(appId, openid, value),
            (token) =>
              Effect.map(
                Clock.currentTimeMillis,
                (now) => token.refreshExpiresAt <= now ? Option.none() : Option.some(token)
              )
          )
        }),
        span("get", appId)
      )

    return TokenStore.TokenStore.of({
      get,
      set: (appId, token) =>
        Effect.all([codec.encodeToken(appId, token), Clock.currentTimeMillis]).pipe(
          Effect.flatMap(([value, now]) =>
            Client.run("set", timeout, () =>
              setNewer(
                tokenKey(appId, token.openid, prefix),
                String(token.obtainedAt),
                value,
                String(Math.ceil(token.refreshExpiresAt - now))
              ))
          ),
          Effect.asVoid,
          span("set", appId)
        ),
      remove: (appId, openid) =>
        Client.run("remove", timeout, () => redis.del(tokenKey(appId, openid, prefix))).pipe(
          Effect.asVoid,
          span("remove", appId)
        ),
      rememberCode: (appId, codeHash, memo) =>
        Effect.all([codec.encodeMemo(appId, codeHash, memo), Clock.currentTimeMillis]).pipe(
          Effect.flatMap(([value, now]) =>
            Client.run("rememberCode", timeout, () =>
              redis.set(
                codeKey(appId, codeHash, prefix),
                value,
                "PX",
                Math.max(minimumMemoTtlMillis, Math.ceil(memo.expiresAt - now))
              ))
          ),
          Effect.asVoid,
          span("rememberCode", appId)
        ),
      recallCode: (appId, codeHash) =>
        Client.run("recallCode", timeout, () => redis.get(codeKey(appId, codeHash, prefix))).pipe(
          Effect.flatMap((value) =>
            value === null
              ? Effect.succeedNone
              : Effect.flatMap(
                codec.decodeMemo(appId, codeHash, value),
                (memo) =>
                  Effect.map(
                    Clock.currentTimeMillis,
                    (now) => memo.expiresAt <= now ? Option.none() : Option.some(memo)
                  )
              )
          ),
          span("recallCode", appId)
        )
    })
  })

/**
 * The store over a client the caller owns: the layer never closes it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromClient = (redis: RedisClient, options?: MakeOptions): Layer.Layer<TokenStore.TokenStore> =>
  Layer.effect(TokenStore.TokenStore, make(redis, options))

/**
 * Opens a connection for the layer's scope (`QUIT` on release) and builds the store. Building fails
 * with a `TokenStoreError` when Redis cannot be reached or refuses the connection within the timeouts.
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
export const layer = (options?: Options): Layer.Layer<TokenStore.TokenStore, WeChatError.TokenStoreError> =>
  Layer.scoped(
    TokenStore.TokenStore,
    Effect.flatMap(Client.acquire(options ?? {}), (redis) => make(redis, options))
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
): Layer.Layer<TokenStore.TokenStore, WeChatError.TokenStoreError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
