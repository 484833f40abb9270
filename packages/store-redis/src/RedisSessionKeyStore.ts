/**
 * A `SessionKeyStore` on Redis (ioredis): mini-program users' session keys, shared by every process
 * of the app, so `MiniProgram.checkSessionKey` / `resetSessionKey` work wherever the user logged
 * in. One hash per user, forgotten by Redis after the store's `ttl` (30 days by default). Keys pass
 * through core's `TokenCipher`, sealed to their app and user, so they can be encrypted at rest.
 *
 * @since 0.1.0
 */
import { SessionKeyStore, TokenStore, WeChatConfig, WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Client from "./internal/client.js"
import * as Keys from "./internal/keys.js"
import * as ReadOptions from "./internal/options.js"
import * as Scripts from "./internal/scripts.js"
import { spanWhenTraced } from "./internal/span.js"

/**
 * A Redis client: a single node (or Sentinel) `Redis`, or a `Cluster`.
 *
 * @since 0.1.0
 * @category models
 */
export type RedisClient = Client.Client

/**
 * Options of a store over a client: the key prefix (default `wxauth:`), a bound on each Redis call
 * (default 2 seconds), and how long a session key is kept after its last `set` (`ttl`, default
 * `SessionKeyStore.defaultTtl`, 30 days: WeChat gives session keys no expiry).
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  readonly keyPrefix?: string | undefined
  readonly commandTimeout?: Duration.DurationInput | undefined
  readonly ttl?: Duration.DurationInput | undefined
}

/**
 * Options of the layers that open their own connection: those of `RedisTokenStore.layer` (`url`,
 * `keyPrefix`, `connectTimeout`, `commandTimeout`, any ioredis option) and `ttl`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Client.ConnectionOptions {
  readonly keyPrefix?: string | undefined
  readonly ttl?: Duration.DurationInput | undefined
}

/**
 * The key of a user's session key: `<prefix>{<appId>:<openid>}:session-key`, the same hash tag (and
 * Cluster slot) as the user's token. Both ids are URI-encoded (WeChat's ids are left as they are;
 * a lone surrogate is written `%uXXXX`), so `(a:b, c)` and `(a, b:c)` are two keys, and no id can
 * break the braces.
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
export const sessionKeyKey = (appId: string, openid: string, keyPrefix: string = Client.defaultKeyPrefix): string =>
  `${Keys.keyPart("keyPrefix", keyPrefix)}{${Keys.encodeId(Keys.keyPart("appId", appId))}:${
    Keys.encodeId(Keys.keyPart("openid", openid))
  }}:session-key`

/** A value longer than any session key the codec reads is not fetched (see `Scripts.defineGetBounded`). */
const maxValueBytes = String(SessionKeyStore.maxStoredValueBytes)
const tooLong = Scripts.tooLong("session key", "get", "session key")

/**
 * Builds the store over a client the caller owns (it is never closed here). Defines its `get` and
 * `set` scripts on the client (`defineCommand`) and takes the `TokenCipher` in context, if any. A `ttl` or
 * `commandTimeout` that is not a positive finite duration, a `keyPrefix` that is not a string of at
 * most 256 characters, or a `redis` that is not an ioredis client, is an `InvalidArgument`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  redis: RedisClient,
  options?: MakeOptions
): Effect.Effect<SessionKeyStore.SessionKeyStoreShape, WeChatError.InvalidArgument> =>
  Effect.gen(function*() {
    const client = yield* Client.checkClient(redis)
    const read = yield* ReadOptions.read(options)
    const ttlMillis = Math.ceil(Duration.toMillis(read.ttl ?? Duration.decode(SessionKeyStore.defaultTtl)))
    const codec = yield* SessionKeyStore.makeCodec
    const prefix = read.keyPrefix ?? Client.defaultKeyPrefix
    const timeout = read.commandTimeout ?? Client.defaultCommandTimeout
    const setExpiring = Scripts.defineSetExpiring(client)
    const getBounded = Scripts.defineGetBounded(client)

    const span = (name: string, appId: unknown) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
      spanWhenTraced(self, `RedisSessionKeyStore.${name}`, appId)
    // core's rule of a store's ids (ASCII without a space, an appId without ":")
    const checkIds = TokenStore.checkUser
    const corrupted = new WeChatError.TokenStoreError({
      operation: "get",
      description: "the stored session key has no value or no expiry (not written by wxauth, or corrupted)"
    })

    // each command is bounded (commandTimeout): wxauth uses it as it is
    const own = SessionKeyStore.SessionKeyStore.of({
      get: (appId, openid) =>
        checkIds("get", appId, openid).pipe(
          Effect.zipRight(
            Client.run("get", timeout, () => getBounded(sessionKeyKey(appId, openid, prefix), maxValueBytes, "e"))
          ),
          Effect.flatMap(([expiresAt, value, length]) => {
            if (value === null || value === undefined) {
              return length !== undefined && length !== null
                ? Effect.fail(tooLong)
                : expiresAt === null || expiresAt === undefined
                ? Effect.succeedNone
                : Effect.fail(corrupted)
            }
            const expiry = Number(expiresAt)
            if (expiresAt === null || expiresAt === undefined || !Number.isFinite(expiry)) {
              return Effect.fail(corrupted)
            }
            return Effect.flatMap(Clock.currentTimeMillis, (now) =>
              expiry <= now
                ? Effect.succeedNone
                : Effect.map(codec.decode(appId, openid, value), Option.some))
          }),
          span("get", appId)
        ),
      set: (appId, openid, sessionKey) =>
        checkIds("set", appId, openid).pipe(
          // suspended: the codec reads the key at once, and a caller's value may throw when read
          Effect.zipRight(
            Effect.zip(Effect.suspend(() => codec.encode(appId, openid, sessionKey)), Clock.currentTimeMillis)
          ),
          Effect.flatMap(([value, now]) =>
            Client.run(
              "set",
              timeout,
              () => setExpiring(sessionKeyKey(appId, openid, prefix), String(now + ttlMillis), value, String(ttlMillis))
            )
          ),
          Effect.asVoid,
          span("set", appId)
        ),
      remove: (appId, openid) =>
        checkIds("remove", appId, openid).pipe(
          Effect.zipRight(Client.run("remove", timeout, () => client.del(sessionKeyKey(appId, openid, prefix)))),
          Effect.asVoid,
          span("remove", appId)
        )
    })
    SessionKeyStore.markBounded(own)
    return own
  })

/**
 * The store over a client the caller owns: the layer never closes it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromClient = (
  redis: RedisClient,
  options?: MakeOptions
): Layer.Layer<SessionKeyStore.SessionKeyStore, WeChatError.InvalidArgument> =>
  Layer.effect(SessionKeyStore.SessionKeyStore, make(redis, options))

/**
 * Opens a connection for the layer's scope (`QUIT` on release) and builds the store. Building fails
 * with a `TokenStoreError` when Redis cannot be reached or refuses the connection within the
 * timeouts, and with an `InvalidArgument` for a bad `ttl`.
 *
 * @example
 * ```ts
 * import { RedisSessionKeyStore } from "@wxauth/store-redis"
 *
 * const SessionKeysLive = RedisSessionKeyStore.layer({ url: "redis://127.0.0.1:6379", ttl: "7 days" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<SessionKeyStore.SessionKeyStore, WeChatError.TokenStoreError | WeChatError.InvalidArgument> =>
  Layer.scoped(
    SessionKeyStore.SessionKeyStore,
    Effect.flatMap(Client.acquire(options), (redis) => make(redis, options))
  )

/**
 * `layer` with its options from `Config`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<
  SessionKeyStore.SessionKeyStore,
  WeChatError.TokenStoreError | WeChatError.InvalidArgument | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(WeChatConfig.unwrapConfig(config), layer))
