/**
 * A `SessionStore` on Redis (ioredis): server-side sessions shared by every process of the app, so
 * a logout, an expiry or a "log out everywhere" holds wherever the user's next request lands.
 *
 * A session is a hash under `<prefix>session:<idHash>` (the SHA-256 of the client's token: the
 * token itself is never stored), and each user has an index of their sessions under
 * `<prefix>{<appId>:<openid>}:sessions` (the hash tag, and Cluster slot, of the user's token) for
 * `revokeUser`. Every script runs on one key, so the store works on a Cluster; the order of the
 * steps keeps `revokeUser` exact: a session created while it runs either fails or is revoked. Both
 * kinds of key expire with the sessions they hold; the store's `Clock` decides when a session is
 * over. Sessions hold no token, so nothing needs encrypting at rest.
 *
 * @since 0.1.0
 */
import { SessionStore, WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Client from "./internal/client.js"
import * as Sessions from "./internal/sessions.js"
import { withSpanWhenTraced } from "./internal/span.js"

/**
 * A Redis client: a single node (or Sentinel) `Redis`, or a `Cluster`.
 *
 * @since 0.1.0
 * @category models
 */
export type RedisClient = Client.Client

/**
 * Options of a store over a client: the key prefix (default `wxauth:`; keep braces out of it), and
 * a bound on each Redis call (default 2 seconds).
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
 * The key of a session: `<prefix>session:<idHash>`. No hash tag: sessions spread over a Cluster.
 *
 * @since 0.1.0
 * @category keys
 */
export const sessionKey = (idHash: string, keyPrefix: string = Client.defaultKeyPrefix): string =>
  `${keyPrefix}session:${idHash}`

/**
 * The key of a user's index of sessions: `<prefix>{<appId>:<openid>}:sessions`, the hash tag of the
 * user's token. Both ids are URI-encoded (WeChat's ids are left as they are), so `(a:b, c)` and
 * `(a, b:c)` are two users, and no id can break the braces.
 *
 * @since 0.1.0
 * @category keys
 */
export const userIndexKey = (appId: string, openid: string, keyPrefix: string = Client.defaultKeyPrefix): string =>
  `${keyPrefix}{${encodeId(appId)}:${encodeId(openid)}}:sessions`

/**
 * `encodeURIComponent`, which throws on a lone surrogate (a string that is not well-formed UTF-16):
 * each one is written `%uXXXX` instead, which `encodeURIComponent` never writes (it writes `%` as
 * `%25`), so two ids never share a key.
 */
const encodeId = (id: string): string => {
  try {
    return encodeURIComponent(id)
  } catch {
    let out = ""
    // iterating a string yields code points; a lone surrogate comes alone
    for (const c of String(id)) {
      const code = c.charCodeAt(0)
      out += c.length === 1 && code >= 0xd800 && code <= 0xdfff
        ? `%u${code.toString(16).toUpperCase()}`
        : encodeURIComponent(c)
    }
    return out
  }
}

/** How many sessions `revokeUser` deletes at once. */
const revokeConcurrency = 16

const asSessionError = (error: WeChatError.TokenStoreError): WeChatError.SessionStoreError =>
  new WeChatError.SessionStoreError({
    operation: error.operation,
    description: error.description,
    ...(error.cause === undefined ? {} : { cause: error.cause })
  })

const resolveOptions = (
  options: MakeOptions | undefined
): Effect.Effect<{ readonly prefix: string; readonly timeout: Duration.Duration }, WeChatError.InvalidArgument> => {
  let prefix: unknown
  let commandTimeout: unknown
  try {
    prefix = options?.keyPrefix ?? Client.defaultKeyPrefix
    commandTimeout = options?.commandTimeout
  } catch {
    // a JavaScript caller's Proxy whose traps throw
    return Effect.fail(new WeChatError.InvalidArgument({ argument: "options", description: "must be an object" }))
  }
  if (typeof prefix !== "string" || prefix.length > 256) {
    return Effect.fail(
      new WeChatError.InvalidArgument({
        argument: "keyPrefix",
        description: "must be a string of at most 256 characters"
      })
    )
  }
  const timeout = Duration.decodeUnknown(commandTimeout ?? Client.defaultCommandTimeout)
  if (Option.isNone(timeout) || !Duration.isFinite(timeout.value) || Duration.toMillis(timeout.value) < 1) {
    return Effect.fail(
      new WeChatError.InvalidArgument({ argument: "commandTimeout", description: "must be a positive finite duration" })
    )
  }
  return Effect.succeed({ prefix, timeout: timeout.value })
}

/**
 * Builds the store over a client the caller owns (it is never closed here), and defines its scripts
 * on the client (`defineCommand`). A `keyPrefix` that is not a string, or a `commandTimeout` that is
 * not a positive finite duration, is an `InvalidArgument`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  redis: RedisClient,
  options?: MakeOptions
): Effect.Effect<SessionStore.SessionStoreShape, WeChatError.InvalidArgument> =>
  Effect.map(resolveOptions(options), ({ prefix, timeout }) => {
    const scripts = Sessions.define(redis)
    const run = <A>(operation: string, f: () => Promise<A>) =>
      Effect.mapError(Client.run(operation, timeout, f), asSessionError)
    const span = (name: string) =>
      withSpanWhenTraced(`RedisSessionStore.${name}`, { captureStackTrace: false, kind: "client" })
    const corrupted = (operation: string) =>
      new WeChatError.SessionStoreError({
        operation,
        description: "the stored session has no value or no expiry (not written by wxauth, or corrupted)"
      })

    /** The stored session of `idHash`, live or not, with its stored times. */
    const read = (operation: string, idHash: string) =>
      run(operation, () => redis.hmget(sessionKey(idHash, prefix), "v", "e", "l")).pipe(
        Effect.flatMap(([value, expiresAt, lastSeenAt]) => {
          if (value === null && expiresAt === null) return Effect.succeedNone
          if (value === null || expiresAt === null) return Effect.fail(corrupted(operation))
          const times = {
            expiresAt: Number(expiresAt),
            ...(lastSeenAt === null ? {} : { lastSeenAt: Number(lastSeenAt) })
          }
          return Effect.map(SessionStore.decode(idHash, value, times), Option.some)
        })
      )

    const liveAt = (now: number) => (found: Option.Option<SessionStore.Session>) =>
      Option.filter(found, (session) => session.isLive(now))

    return SessionStore.SessionStore.of({
      create: (session) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const checked = yield* SessionStore.checkNew(session, now)
          const value = yield* SessionStore.encode(checked)
          const key = sessionKey(checked.idHash, prefix)
          const index = userIndexKey(checked.appId, checked.openid, prefix)
          const [at, expiresAt] = [String(now), String(checked.expiresAt)]
          yield* run("create", () => scripts.indexAdd(index, at, expiresAt, checked.idHash))
          const written = yield* run(
            "create",
            () => scripts.createSession(key, at, value, expiresAt, index, String(checked.expiresAt - now))
          )
          if (written !== 1) {
            return yield* new WeChatError.SessionStoreError({
              operation: "create",
              description: "a live session has this idHash already"
            })
          }
          // a revokeUser that took the index since the id was added has not seen this session: undo it
          const indexed = yield* run("create", () => redis.zscore(index, checked.idHash))
          if (indexed === null) {
            yield* run("create", () => scripts.revokeOwned(key, index, at))
            return yield* new WeChatError.SessionStoreError({
              operation: "create",
              description: "the user's sessions were revoked while this one was being created"
            })
          }
        }).pipe(span("create")),
      get: (idHash) =>
        SessionStore.checkIdHash("get", idHash).pipe(
          Effect.zipRight(Effect.zip(read("get", idHash), Clock.currentTimeMillis)),
          Effect.map(([found, now]) => liveAt(now)(found)),
          span("get")
        ),
      touch: (idHash, expiresAt) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          yield* SessionStore.checkTouch(idHash, expiresAt, now)
          const found = liveAt(now)(yield* read("touch", idHash))
          if (Option.isNone(found)) return Option.none()
          const session = found.value
          const index = userIndexKey(session.appId, session.openid, prefix)
          const [at, until] = [String(now), String(expiresAt)]
          // the index first: a session never outlives its entry in it
          const indexed = yield* run("touch", () => scripts.indexTouch(index, at, until, idHash))
          if (indexed !== 1) return Option.none()
          const touched = yield* run(
            "touch",
            () => scripts.touchSession(sessionKey(idHash, prefix), at, until, String(expiresAt - now))
          )
          return touched === 1
            ? Option.some(new SessionStore.Session({ ...session, expiresAt, lastSeenAt: now }))
            : Option.none()
        }).pipe(span("touch")),
      revoke: (idHash) =>
        SessionStore.checkIdHash("revoke", idHash).pipe(
          Effect.zipRight(run("revoke", () => redis.del(sessionKey(idHash, prefix)))),
          Effect.asVoid,
          span("revoke")
        ),
      revokeUser: (appId, openid) =>
        Effect.gen(function*() {
          yield* SessionStore.checkUser("revokeUser", appId, openid)
          const index = userIndexKey(appId, openid, prefix)
          const members = yield* run("revokeUser", () => scripts.take(index))
          const now = String(yield* Clock.currentTimeMillis)
          const revoked = yield* Effect.forEach(
            Array.isArray(members) ? members.filter((m) => typeof m === "string" && m.length === 64) : [],
            (idHash) => run("revokeUser", () => scripts.revokeOwned(sessionKey(idHash, prefix), index, now)),
            { concurrency: revokeConcurrency }
          )
          return revoked.reduce((sum, n) => sum + (n === 1 ? 1 : 0), 0)
        }).pipe(span("revokeUser"))
    })
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
): Layer.Layer<SessionStore.SessionStore, WeChatError.InvalidArgument> =>
  Layer.effect(SessionStore.SessionStore, make(redis, options))

/**
 * Opens a connection for the layer's scope (`QUIT` on release) and builds the store. Building fails
 * with a `SessionStoreError` when Redis cannot be reached or refuses the connection within the
 * timeouts.
 *
 * @example
 * ```ts
 * import { RedisSessionStore } from "@wxauth/store-redis"
 *
 * const SessionsLive = RedisSessionStore.layer({ url: "redis://127.0.0.1:6379" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<SessionStore.SessionStore, WeChatError.SessionStoreError | WeChatError.InvalidArgument> =>
  Layer.scoped(
    SessionStore.SessionStore,
    Effect.flatMap(
      Effect.mapError(Client.acquire(options ?? {}), asSessionError),
      (redis) => make(redis, options)
    )
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
  SessionStore.SessionStore,
  WeChatError.SessionStoreError | WeChatError.InvalidArgument | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
