/**
 * An `AppTokenStore` on Redis (ioredis): the app access token of each app, shared by every process
 * and machine of the app. One hash per app, written by the same newer-wins Lua script as the user
 * tokens, expiring with the token. Values pass through core's `TokenCipher`, so they can be
 * encrypted at rest.
 *
 * @since 0.1.0
 */
import { AppTokenStore, TokenCipher, TokenStore, WeChatConfig, WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
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
 * Options of the layers that open their own connection: those of `RedisTokenStore.layer` (`url`,
 * `keyPrefix`, `connectTimeout`, `commandTimeout`, any ioredis option).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Client.ConnectionOptions {
  readonly keyPrefix?: string | undefined
}

/**
 * The key of an app's token: `<prefix>{app-token:<appId>}:token`. Core's `AppToken` takes the
 * refresh lock `app-token:<appId>`, whose key in `RedisRefreshLock` is
 * `<prefix>{app-token:<appId>}:lock`: the same hash tag, so both live in one Cluster slot. No user
 * token shares it: `RedisTokenStore` refuses the appId `app-token` (its key `{app-token:<openid>}:token`
 * would be this one), and `get` refuses a stored value with a user token's fields.
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
export const appTokenKey = (appId: string, keyPrefix: string = Client.defaultKeyPrefix): string =>
  `${Keys.keyPart("keyPrefix", keyPrefix)}{app-token:${Keys.keyPart("appId", appId)}}:token`

/** A value longer than any token is not fetched (see `Scripts.defineGetBounded`). */
const maxValueBytes = String(TokenStore.maxStoredValueBytes)
const tooLong = Scripts.tooLong("app token")

/** The fields of a user token (`OAuthToken`) that an app token never has. */
const userTokenFields = ["openid", "refreshToken", "refreshExpiresAt"] as const

/**
 * Whether an opened value is a user token's JSON: an app token's JSON is `{ accessToken, obtainedAt,
 * expiresAt }`, which a user token's JSON holds too, so core's decode would take one for the other
 * (without a `TokenCipher` nothing else tells them apart). Parsed only when the text names one of
 * the fields; a value that does not parse is left to the decode, which refuses it.
 */
const isUserToken = (json: string): boolean => {
  if (!userTokenFields.some((field) => json.includes(`"${field}"`))) return false
  try {
    const parsed: unknown = JSON.parse(json)
    return typeof parsed === "object" && parsed !== null &&
      userTokenFields.some((field) => Object.prototype.hasOwnProperty.call(parsed, field))
  } catch {
    return false
  }
}

const notAnAppToken = new WeChatError.TokenStoreError({
  operation: "get",
  description: "the stored app token does not decode (not written by wxauth, or corrupted)"
})

/**
 * The `TokenCipher` in context (identity without one), whose opened values are refused when they are
 * a user token's: a user token stored under an app token's key is not taken for the app's token.
 */
const refusingUserTokens = Effect.map(
  Effect.serviceOption(TokenCipher.TokenCipher),
  (maybeCipher): TokenCipher.TokenCipherShape => {
    const cipher = Option.getOrElse(maybeCipher, () => TokenCipher.identity)
    return {
      encrypt: cipher.encrypt,
      decrypt: (value, aad) =>
        Effect.flatMap(
          cipher.decrypt(value, aad),
          (json) => typeof json === "string" && isUserToken(json) ? Effect.fail(notAnAppToken) : Effect.succeed(json)
        )
    }
  }
)

/**
 * Builds the store over a client the caller owns (it is never closed here). Defines the `get` and
 * `set` scripts on the client (`defineCommand`) and takes the `TokenCipher` in context, if any. A
 * stored value that is a user token (it has `openid`, `refreshToken` or `refreshExpiresAt`) is no
 * app token: `get` fails with the `TokenStoreError` of any value that does not decode. A `redis`
 * that is not an ioredis client, a `keyPrefix` that is not a string of at most 256 characters, or a
 * `commandTimeout` that is not a positive finite duration, is an `InvalidArgument`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  redis: RedisClient,
  options?: MakeOptions
): Effect.Effect<AppTokenStore.AppTokenStoreShape, WeChatError.InvalidArgument> =>
  Effect.gen(function*() {
    const client = yield* Client.checkClient(redis)
    const read = yield* ReadOptions.read(options)
    const codec = yield* AppTokenStore.makeCodec.pipe(
      Effect.provideServiceEffect(TokenCipher.TokenCipher, refusingUserTokens)
    )
    const prefix = read.keyPrefix ?? Client.defaultKeyPrefix
    const timeout = read.commandTimeout ?? Client.defaultCommandTimeout
    const setNewer = Scripts.defineSetNewer(client)
    const getBounded = Scripts.defineGetBounded(client)

    const span = (name: string, appId: unknown) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
      spanWhenTraced(self, `RedisAppTokenStore.${name}`, appId)

    // each command is bounded (commandTimeout): wxauth uses it as it is
    const own = AppTokenStore.AppTokenStore.of({
      get: (appId) =>
        AppTokenStore.checkKey("get", appId).pipe(
          Effect.zipRight(Client.run("get", timeout, () => getBounded(appTokenKey(appId, prefix), maxValueBytes, "o"))),
          Effect.flatMap(([obtainedAt, value, length]) => {
            if (value === null || value === undefined) {
              return length !== undefined && length !== null
                ? Effect.fail(tooLong)
                : obtainedAt === null || obtainedAt === undefined
                ? Effect.succeedNone
                : Effect.fail(
                  new WeChatError.TokenStoreError({
                    operation: "get",
                    description: "the stored app token has no value (not written by wxauth, or corrupted)"
                  })
                )
            }
            return Effect.flatMap(
              codec.decode(appId, value),
              (token) =>
                Effect.map(Clock.currentTimeMillis, (now) => token.isFresh(now) ? Option.some(token) : Option.none())
            )
          }),
          span("get", appId)
        ),
      set: (appId, token) =>
        AppTokenStore.checkKey("set", appId).pipe(
          // the caller's token is read once, every field (core's checkToken, under a guard): the value,
          // the stamp and the TTL are all of the fresh copy it answers
          Effect.zipRight(AppTokenStore.checkToken("set", token)),
          Effect.flatMap((checked) =>
            codec.encode(appId, checked).pipe(
              Effect.tap(() =>
                Scripts.checkTimes("set", { obtainedAt: checked.obtainedAt, expiresAt: checked.expiresAt })
              ),
              Effect.zip(Clock.currentTimeMillis),
              Effect.flatMap(([value, now]) =>
                Client.run("set", timeout, () =>
                  setNewer(
                    appTokenKey(appId, prefix),
                    String(checked.obtainedAt),
                    value,
                    String(Math.ceil(checked.expiresAt - now))
                  ))
              )
            )
          ),
          Effect.asVoid,
          span("set", appId)
        )
    })
    AppTokenStore.markBounded(own)
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
): Layer.Layer<AppTokenStore.AppTokenStore, WeChatError.InvalidArgument> =>
  Layer.effect(AppTokenStore.AppTokenStore, make(redis, options))

/**
 * Opens a connection for the layer's scope (`QUIT` on release) and builds the store. Building fails
 * with a `TokenStoreError` when Redis cannot be reached or refuses the connection within the timeouts,
 * and with an `InvalidArgument` for an option of the wrong kind.
 *
 * @example
 * ```ts
 * import { RedisAppTokenStore } from "@wxauth/store-redis"
 *
 * const AppTokenStoreLive = RedisAppTokenStore.layer({ url: "redis://127.0.0.1:6379", keyPrefix: "myapp:wxauth:" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<AppTokenStore.AppTokenStore, WeChatError.TokenStoreError | WeChatError.InvalidArgument> =>
  Layer.scoped(
    AppTokenStore.AppTokenStore,
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
  AppTokenStore.AppTokenStore,
  WeChatError.TokenStoreError | WeChatError.InvalidArgument | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(WeChatConfig.unwrapConfig(config), layer))
