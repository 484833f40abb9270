/**
 * A `SessionStore` on Redis (ioredis): server-side sessions shared by every process of the app, so
 * a logout, an expiry or a "log out everywhere" holds wherever the user's next request lands.
 *
 * A session is a hash under `<prefix>session:<idHash>` (the SHA-256 of the client's token: the
 * token itself is never stored), and each user has an index of their sessions under
 * `<prefix>{<appId>:<openid>}:sessions` (the hash tag, and Cluster slot, of the user's token) for
 * `revokeUser`. Every script runs on one key (or two of one hash tag), so the store works on a
 * Cluster; the order of the steps keeps `revokeUser` exact: a session created while it runs either
 * fails or is revoked. However large a user's index grows, each Redis call takes a bounded slice of
 * it (`revokeUser` works through it 100 sessions at a time), so Redis never stalls on it. Both
 * kinds of key expire with the sessions they hold; the store's `Clock` decides when a session is
 * over. Processes whose clocks disagree (a clock stepped forward then back, two servers apart) still
 * leave `revokeUser` every session a `get` answers: no writer shortens an index's TTL, and a create
 * forgets an index entry only once it is over by a day (clocks apart by more than a day are not
 * covered), or once more of the user's sessions than the bound (at least 100) ended after it.
 * Sessions hold no token, so nothing needs encrypting at rest. Each user has at most
 * `maxSessionsPerUser` sessions (100 by default), like core's memory store. A stored session that
 * `revokeUser` of the user its value names would not reach (its `u` is not that user's index key)
 * is a `SessionStoreError` from `get` and `touch`, never that user's live session.
 *
 * @since 0.1.0
 */
import { SessionStore, WeChatConfig, WeChatError } from "@wxauth/core"
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
 * Options of a store over a client: the key prefix (default `wxauth:`; keep braces out of it), a
 * bound on each Redis call (default 2 seconds), and the most sessions one user may have
 * (`maxSessionsPerUser`, default 100).
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  readonly keyPrefix?: string | undefined
  readonly commandTimeout?: Duration.DurationInput | undefined
  /**
   * At most this many sessions of one user (an `appId` + `openid`; a positive integer, default 100),
   * as core's memory store (`SessionStore.MemoryOptions`). Creating one more first forgets the
   * user's sessions that are over by more than a day (those over by less stay in the user's index,
   * in case a process's clock is behind, and count for nothing; but only the
   * `max(maxSessionsPerUser, 100)` that ended last: past that, those that ended longest ago are
   * forgotten), then ends (deletes, in every process) the user's sessions that end soonest: with one
   * session lifetime, the least recently created or touched. Never the one being created; a revoked
   * session no longer counts. One account making sessions without end (a script replaying real
   * logins, its sessions left to expire) then logs out only itself, and its index of sessions holds
   * at most about twice the bound (with the default 100: 200 members, some 35 KB), whatever it did
   * within the day.
   *
   * Creates of one user at the same moment may each end sessions: once they are done the user has
   * at most this many. A create whose own session is ended meanwhile (it was among the soonest to
   * end, e.g. more creates at once than the bound) fails with a `SessionStoreError`.
   *
   * One create ends at most 100 sessions, forgets at most 100 that are over by a day and at most 100
   * that are over by less past their cap: a user far past the bound (the bound lowered, or an index
   * written by something else) comes down 100 per create, and no Redis call ever walks or carries
   * the whole index.
   */
  readonly maxSessionsPerUser?: number | undefined
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
  /** See `MakeOptions.maxSessionsPerUser` (default 100). */
  readonly maxSessionsPerUser?: number | undefined
}

/**
 * The key of a session: `<prefix>session:<idHash>`. No hash tag: sessions spread over a Cluster.
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
export const sessionKey = (idHash: string, keyPrefix: string = Client.defaultKeyPrefix): string =>
  `${Keys.keyPart("keyPrefix", keyPrefix)}session:${Keys.keyPart("idHash", idHash)}`

/**
 * The key of a user's index of sessions: `<prefix>{<appId>:<openid>}:sessions`, the hash tag of the
 * user's token. Both ids are URI-encoded (WeChat's ids are left as they are), so `(a:b, c)` and
 * `(a, b:c)` are two users, and no id can break the braces.
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
export const userIndexKey = (appId: string, openid: string, keyPrefix: string = Client.defaultKeyPrefix): string =>
  `${Keys.keyPart("keyPrefix", keyPrefix)}{${Keys.encodeId(Keys.keyPart("appId", appId))}:${
    Keys.encodeId(Keys.keyPart("openid", openid))
  }}:sessions`

/** A value longer than any session is not fetched (see `Scripts.defineGetBounded`). */
const maxValueBytes = String(SessionStore.maxStoredValueBytes)

/**
 * The longest index key a session's `u` holds, in UTF-8 bytes, under the key prefix `prefix`: the
 * prefix, then the user's ids URI-encoded between braces, then `:sessions`. The ids take at most 64 +
 * 3 x 128 bytes encoded (core's appid and user-id rules); 1,024 leaves room. A longer `u` is no index
 * key of this store's: `revoke` does not fetch it.
 */
const maxIndexKeyBytes = (prefix: string): string => String(Buffer.byteLength(prefix) + 1024)

/** How many sessions `revokeUser`, or a create past the user's bound, deletes at once. */
const revokeConcurrency = 16

/**
 * The key a `revokeUser` renames the user's index to before it works through it: under the same
 * hash tag (one slot), one per user, so what a failed `revokeUser` left there is found by the next.
 */
const revokingKey = (index: string): string => `${index}:revoking`

/**
 * How many times one `revokeUser` drains the revoking key and asks again when it finds it taken
 * (each time, another `revokeUser` of the same user took it since): then a `SessionStoreError`.
 */
const detachAttempts = 8

/** The most sessions of one user by default, as core's memory store. */
const defaultMaxSessionsPerUser = 100

/** Why a create that finds its id gone from the index, or marked, fails (a revokeUser, or an eviction). */
const revokedMeanwhile =
  "the session was revoked while it was being created (by a revokeUser, or past the user's maxSessionsPerUser)"

/** An id hash as an index holds it (anything else in an index is not ours, and is left alone). */
const isIdHash = (u: unknown): u is string => typeof u === "string" && /^[0-9a-f]{64}$/.test(u)

const asSessionError = (error: WeChatError.TokenStoreError): WeChatError.SessionStoreError =>
  new WeChatError.SessionStoreError({
    operation: error.operation,
    description: error.description,
    ...(error.cause === undefined ? {} : { cause: error.cause })
  })

/**
 * The options, read once by the package's one reader (`ReadOptions.read`: the key prefix, the
 * `commandTimeout` of at most 24 days that a Node timer can wait, and every other option of the
 * package), and `maxSessionsPerUser`.
 */
const resolveOptions = (
  redis: unknown,
  options: MakeOptions | undefined
): Effect.Effect<
  { readonly prefix: string; readonly timeout: Duration.Duration; readonly maxSessionsPerUser: number },
  WeChatError.InvalidArgument
> =>
  Effect.flatMap(Effect.all([Client.checkClient(redis), ReadOptions.read(options)]), ([, read]) => {
    const maxSessionsPerUser = read.fields.maxSessionsPerUser
    if (
      maxSessionsPerUser !== undefined &&
      !(typeof maxSessionsPerUser === "number" && Number.isSafeInteger(maxSessionsPerUser) && maxSessionsPerUser >= 1)
    ) {
      return Effect.fail(
        new WeChatError.InvalidArgument({ argument: "maxSessionsPerUser", description: "must be a positive integer" })
      )
    }
    return Effect.succeed({
      prefix: read.keyPrefix ?? Client.defaultKeyPrefix,
      timeout: read.commandTimeout ?? Client.defaultCommandTimeout,
      maxSessionsPerUser: (maxSessionsPerUser as number | undefined) ?? defaultMaxSessionsPerUser
    })
  })

/**
 * Builds the store over a client the caller owns (it is never closed here), and defines its scripts
 * on the client (`defineCommand`). A `keyPrefix` that is not a string of at most 256 characters, a
 * `commandTimeout` that is not a positive finite duration of at most 24 days, a `maxSessionsPerUser`
 * that is not a positive integer, or any other option of the package of the wrong kind, is an
 * `InvalidArgument`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  redis: RedisClient,
  options?: MakeOptions
): Effect.Effect<SessionStore.SessionStoreShape, WeChatError.InvalidArgument> =>
  Effect.map(resolveOptions(redis, options), ({ maxSessionsPerUser, prefix, timeout }) => {
    const scripts = Sessions.define(redis)
    const getSession = Scripts.defineGetSession(redis)
    const maxIndexKey = maxIndexKeyBytes(prefix)
    const bound = String(maxSessionsPerUser)
    const perCall = String(Sessions.perCall)
    const run = <A>(operation: string, f: () => Promise<A>) =>
      Effect.mapError(Client.run(operation, timeout, f), asSessionError)
    const span = (name: string) =>
      withSpanWhenTraced(`RedisSessionStore.${name}`, { captureStackTrace: false, kind: "client" })
    const corrupted = (operation: string) =>
      new WeChatError.SessionStoreError({
        operation,
        description: "the stored session has no value or no expiry (not written by wxauth, or corrupted)"
      })

    const tooLong = (operation: string) =>
      new WeChatError.SessionStoreError({
        operation,
        description:
          "the stored session is longer than any session (not written by wxauth, or corrupted); it was not read"
      })

    const otherUser = (operation: string) =>
      new WeChatError.SessionStoreError({
        operation,
        description:
          "the stored session names another user than its user index entry (not written by wxauth, or corrupted)"
      })

    /**
     * The stored session of `idHash`, live or not, with its stored times. A value longer than any
     * session (or a time longer than any time, a `u` longer than any index key) is refused without
     * being fetched. A session whose `u` is not the index key of the user its value names is refused
     * as corrupted: that user's `revokeUser` would not reach it (the id is not in their index), so
     * it must not be taken for their live session.
     */
    const read = (operation: string, idHash: string) =>
      run(operation, () => getSession(sessionKey(idHash, prefix), maxValueBytes, maxIndexKey)).pipe(
        Effect.flatMap(([expiresAt = null, lastSeenAt = null, index = null, value = null, length = null]) => {
          if (typeof length === "number") return Effect.fail(tooLong(operation))
          if (value === null && expiresAt === null) return Effect.succeedNone
          if (typeof value !== "string" || typeof expiresAt !== "string" || typeof lastSeenAt === "number") {
            return Effect.fail(corrupted(operation))
          }
          const times = {
            expiresAt: Number(expiresAt),
            ...(lastSeenAt === null ? {} : { lastSeenAt: Number(lastSeenAt) })
          }
          return Effect.flatMap(
            SessionStore.decode(idHash, value, times),
            (session) =>
              index === userIndexKey(session.appId, session.openid, prefix)
                ? Effect.succeed(Option.some(session))
                : Effect.fail(otherUser(operation))
          )
        })
      )

    /** A user's index key of this store, as a session names it (`u`). */
    const isIndexKey = (u: unknown): u is string =>
      typeof u === "string" && u.startsWith(`${prefix}{`) && u.endsWith("}:sessions")

    const liveAt = (now: number) => (found: Option.Option<SessionStore.Session>) =>
      Option.filter(found, (session) => session.isLive(now))

    /**
     * Ends the sessions `indexAdd` marked past the user's bound (at most `Sessions.perCall`), then
     * takes them out of the index: until then the index reaches them (see the contract in
     * internal/sessions.ts).
     */
    const evict = (index: string, now: string, marked: unknown): Effect.Effect<void, WeChatError.SessionStoreError> => {
      const idHashes = Array.isArray(marked) ? marked.filter(isIdHash) : []
      if (idHashes.length === 0) return Effect.void
      return Effect.zipRight(
        Effect.forEach(
          idHashes,
          (idHash) => run("create", () => scripts.revokeOwned(sessionKey(idHash, prefix), index, now)),
          { concurrency: revokeConcurrency, discard: true }
        ),
        run("create", () => scripts.indexDrop(index, ...idHashes))
      )
    }

    /**
     * Ends the sessions of a detached index, `Sessions.perCall` members at a time until it is empty
     * (and so gone): how many were live. Each slice is read (ZRANGE), its sessions ended, and only
     * then taken out (ZREM): a slice that fails part way (a `revokeOwned` refused, a reply lost) stays
     * in the key for the next `revokeUser`, and two at once work through the same slice harmlessly
     * (`revokeOwned` deletes a session once). No call carries the whole index, however large.
     */
    const drain = (
      detached: string,
      index: string,
      now: string
    ): Effect.Effect<number, WeChatError.SessionStoreError> => {
      const slice = (revoked: number): Effect.Effect<number, WeChatError.SessionStoreError> =>
        // as bytes: a member that is not UTF-8 would come back altered as text, and ZREM would never
        // match it (read again forever); anything but a sorted set under the key is deleted (no ids)
        Effect.flatMap(
          run("revokeUser", () => scripts.revokingSlice(detached, String(Sessions.perCall))),
          (members) => {
            if (members.length === 0) return Effect.succeed(revoked)
            const idHashes = members.map((member) => member.toString("latin1")).filter(isIdHash)
            return Effect.flatMap(
              Effect.forEach(
                idHashes,
                (idHash) => run("revokeUser", () => scripts.revokeOwned(sessionKey(idHash, prefix), index, now)),
                { concurrency: revokeConcurrency }
              ),
              (results) => {
                const total = revoked + results.reduce((sum, n) => sum + (n === 1 ? 1 : 0), 0)
                // what is not an id of ours goes too: it would be read again forever
                return Effect.zipRight(
                  run("revokeUser", () => redis.zrem(detached, ...members)),
                  members.length < Sessions.perCall ? Effect.succeed(total) : slice(total)
                )
              }
            )
          }
        )
      return slice(0)
    }

    // each command is bounded (commandTimeout): wxauth uses it as it is
    const own = SessionStore.SessionStore.of({
      create: (session) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const checked = yield* SessionStore.checkNew(session, now)
          const value = yield* SessionStore.encode(checked)
          const key = sessionKey(checked.idHash, prefix)
          const index = userIndexKey(checked.appId, checked.openid, prefix)
          const [at, expiresAt] = [String(now), String(checked.expiresAt)]
          // the id into the index; past the user's bound, the index marks and names the sessions to end:
          // they end first, uninterruptibly (each call bounded), so no interruption leaves them marked
          yield* Effect.uninterruptible(
            Effect.flatMap(
              run("create", () => scripts.indexAdd(index, at, expiresAt, checked.idHash, bound, perCall)),
              (marked) => evict(index, at, marked)
            )
          )
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
          // a revokeUser that took the index since the id was added has not seen this session, and an
          // eviction that marked the id may have looked for it before it was written: undo it
          const indexed = yield* run("create", () => redis.zscore(index, checked.idHash))
          if (indexed === null || !(Number(indexed) > 0)) {
            yield* run("create", () => scripts.revokeOwned(key, index, at))
            return yield* new WeChatError.SessionStoreError({
              operation: "create",
              description: revokedMeanwhile
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
          Effect.zipRight(run("revoke", () => scripts.revokeSession(sessionKey(idHash, prefix), maxIndexKey))),
          // the session is gone: its id leaves its user's index, so it no longer counts toward the
          // bound (a `u` longer than any index key was not fetched: no index is touched)
          Effect.flatMap((index) =>
            isIndexKey(index) ? run("revoke", () => scripts.indexRemove(index, idHash)) : Effect.void
          ),
          Effect.asVoid,
          span("revoke")
        ),
      revokeUser: (appId, openid) =>
        Effect.gen(function*() {
          yield* SessionStore.checkUser("revokeUser", appId, openid)
          const index = userIndexKey(appId, openid, prefix)
          const revoking = revokingKey(index)
          const now = String(yield* Clock.currentTimeMillis)
          // first what an earlier revokeUser left (it failed half way) or another one is working
          // through, then the index itself; uninterruptible (each call bounded), so an interruption
          // does not leave taken sessions live
          const attempt = (left: number, revoked: number): Effect.Effect<number, WeChatError.SessionStoreError> =>
            Effect.flatMap(drain(revoking, index, now), (drained) =>
              Effect.flatMap(
                run("revokeUser", () => scripts.detach(index, revoking)),
                (moved) => {
                  const total = revoked + drained
                  // no index (0): another revokeUser of the user may have taken it since this one's
                  // drain, and be working through it: drain with it, so this one answers once all ended
                  if (moved !== 2) return Effect.map(drain(revoking, index, now), (n) => total + n)
                  return left > 1
                    ? attempt(left - 1, total)
                    : Effect.fail(
                      new WeChatError.SessionStoreError({
                        operation: "revokeUser",
                        description: "Redis: other revokeUser calls of this user kept taking its index; try again"
                      })
                    )
                }
              ))
          return yield* Effect.uninterruptible(attempt(detachAttempts, 0))
        }).pipe(span("revokeUser"))
    })
    SessionStore.markBounded(own)
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
      Effect.catchTag(Client.acquire(options), "TokenStoreError", (error) => Effect.fail(asSessionError(error))),
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
> => Layer.unwrapEffect(Effect.map(WeChatConfig.unwrapConfig(config), layer))
