/**
 * A `RefreshLock` on Redis, so that N processes refreshing one user make one WeChat request. The
 * lock is `SET key owner NX PX ttl` with a random owner, renewed every `ttl / 3` while its holder
 * works, and released by a Lua script that deletes only the caller's own lock. A slow refresher
 * never lets a second one in, and a crashed one frees the lock by expiry. Waiters poll with a capped
 * exponential backoff and give up with `RefreshLockTimeout`. The work under the lock reads the
 * Redis token store without its near cache (`RedisTokenStore.bypassNearCache`).
 *
 * Core takes two keys per user (see core's `RefreshLock`): the refresh key `<appId>:<openid>`, held
 * for a whole refresh (its WeChat call included), and the write key `<appId>:<openid>:write`, held
 * briefly around each change to the user's stored token made after reading it: a login's read and
 * write, a refresh's re-read and write of WeChat's answer, or its re-read and removal of a token
 * WeChat rejected (taken inside the refresh key, after WeChat answered). So a refresh takes two
 * locks, a login one: `wxauth:{<appId>:<openid>}:lock` and `wxauth:{<appId>:<openid>:write}:lock`.
 *
 * @since 0.1.0
 */
import { RefreshLock, WeChatConfig, WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Crypto from "node:crypto"
import * as Client from "./internal/client.js"
import * as Keys from "./internal/keys.js"
import * as ReadOptions from "./internal/options.js"
import { spanWhenTraced } from "./internal/span.js"
import { bypassNearCache } from "./internal/tokenCache.js"

/**
 * A Redis client: a single node (or Sentinel) `Redis`, or a `Cluster`.
 *
 * @since 0.1.0
 * @category models
 */
export type RedisClient = Client.Client

/**
 * Options of the lock over a client.
 *
 * - `keyPrefix`: default `wxauth:`, as the store's.
 * - `lockTtl`: how long a taken lock lives without its holder (a crash). While the holder runs, a
 *   heartbeat renews the lock every `lockTtl / 3` (`PEXPIRE`, only if the lock is still the
 *   holder's), so a refresh may take longer than `lockTtl`; a holder keeps its lock through one
 *   failed renewal roughly when `lockTtl / 3 > 2 x commandTimeout`. Default 20 seconds: with core's
 *   defaults an unrenewed lock covers the refresh's store read, WeChat call and write,
 *   `commandTimeout` (store.get) + 3 attempts x 5 s (WeChat timeout) + backoff (about 0.1 + 0.2 s,
 *   jittered) + `commandTimeout` (store.set), about 19.3 s; the write key taken for the write (its
 *   `SET`, or up to 3 s behind a login holding it) and the store read under it go past that only
 *   when every call runs to its bound, and the heartbeat covers them.
 * - `waitTimeout`: how long a waiter waits before `RefreshLockTimeout`, also one that cannot be
 *   interrupted (`Effect.uninterruptible`, an acquire step, a finaliser). Longer than `lockTtl`, so a
 *   crashed holder's lock expires while waiters still wait. Default 25 seconds. `lockTtl` and
 *   `waitTimeout` are at most 24 days (a timer's limit: a longer deadline would never fire).
 * - `poll`: when waiters try again (default `defaultPoll`: 10 ms, x1.5 each time, capped at
 *   200 ms, jittered).
 * - `commandTimeout`: a bound on each Redis call, default 2 seconds.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  readonly keyPrefix?: string | undefined
  readonly lockTtl?: Duration.DurationInput | undefined
  readonly waitTimeout?: Duration.DurationInput | undefined
  readonly poll?: Schedule.Schedule<unknown> | undefined
  readonly commandTimeout?: Duration.DurationInput | undefined
}

/**
 * Options of `layer`: the connection options of `RedisTokenStore.layer` (`url`, timeouts, any
 * ioredis option) and the lock's own.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Client.ConnectionOptions, MakeOptions {}

/**
 * How waiters poll: from 10 ms, growing x1.5, capped at 200 ms, jittered so waiters spread out.
 * A freed lock is noticed within about 200 ms.
 *
 * @since 0.1.0
 * @category schedules
 */
export const defaultPoll: Schedule.Schedule<unknown> = Schedule.exponential("10 millis", 1.5).pipe(
  Schedule.union(Schedule.spaced("200 millis")),
  Schedule.jittered
)

/**
 * The key of a lock: `<prefix>{<key>}:lock`. Core locks a user's refresh with the key
 * `<appId>:<openid>`, so the lock shares the hash tag, and the Cluster slot, of the user's token;
 * the user's write key `<appId>:<openid>:write` (a login's or a refresh's read and write of the
 * token) is `<prefix>{<appId>:<openid>:write}:lock`, a hash tag of its own (every lock command
 * touches one key, so any slot does).
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
export const lockKey = (key: string, keyPrefix: string = Client.defaultKeyPrefix): string =>
  `${Keys.keyPart("keyPrefix", keyPrefix)}{${Keys.keyPart("key", key)}}:lock`

/**
 * Takes the lock (`SET NX PX`): 1 when taken. When it is held, 0; but a key held without a TTL (a
 * value planted by hand, a restore that dropped TTLs) would block every caller for good: it is given
 * the lock's TTL then, and -1 answered. Its holder, if any, keeps working (its renewals fail, and it
 * logs so); the others get in once the TTL runs out.
 */
const takeLua = `
if redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2], "NX") then
  return 1
end
if redis.call("PTTL", KEYS[1]) == -1 then
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
  return -1
end
return 0
`

const takeCommand = "wxauthTakeLock"

/**
 * Deletes the lock, only while it is still the caller's. The value is fetched only when it has the
 * owner's length (`STRLEN`): a longer one (20 MB planted under the key) is another's lock, not
 * copied into the script.
 */
const releaseLua = `
if redis.call("STRLEN", KEYS[1]) == #ARGV[1] and redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
`

const releaseCommand = "wxauthReleaseLock"

/** Extends the lock's life, only while it is still the caller's (read as `releaseLua` reads it). */
const renewLua = `
if redis.call("STRLEN", KEYS[1]) == #ARGV[1] and redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0
`

const renewCommand = "wxauthRenewLock"

interface WithScripts {
  readonly [takeCommand]: (key: string, owner: string, ttlMillis: string) => Promise<number>
  readonly [releaseCommand]: (key: string, owner: string) => Promise<number>
  readonly [renewCommand]: (key: string, owner: string, ttlMillis: string) => Promise<number>
}

/** Someone else holds the lock: try again later. */
class Busy extends Data.TaggedError("Busy") {}

/** A key that is not a string (a JavaScript caller's) names no lock: it cannot be taken. */
const notAKey = Effect.fail(
  new WeChatError.RefreshLockTimeout({
    key: "",
    waitedMillis: 0,
    cause: new TypeError("the lock key must be a string")
  })
)

/**
 * The longest lock key taken. Core's longest is the write key `<appId>:<openid>:write`, 199
 * characters (an appId of at most 64, an openid of at most 128); a caller's own key fits too.
 */
const maxKeyLength = 512

/**
 * A longer key (a JavaScript caller's) is not sent to Redis, nor copied into the error or the log:
 * it fails as a key that is not a string does, at once, its `key` empty.
 */
const keyTooLong = Effect.fail(
  new WeChatError.RefreshLockTimeout({
    key: "",
    waitedMillis: 0,
    cause: new RangeError(`the lock key must be at most ${maxKeyLength} characters`)
  })
)

/** The failure of a key that cannot be taken (not a string, or too long), else `undefined`. */
const refusal = (key: unknown): typeof notAKey | undefined =>
  typeof key !== "string" ? notAKey : key.length > maxKeyLength ? keyTooLong : undefined

/** An app id: core's rule (1 to 64 of `[A-Za-z0-9_-]`), the one its lock keys begin with. */
const appIdPattern = /^[A-Za-z0-9_-]{1,64}$/

/**
 * Waiting happens on the live clock: the lock's TTL runs in Redis, in real time, so a `TestClock`
 * in context must not stall (or rush) a waiter.
 */
const liveClock = Clock.make()

/**
 * What a log line says about a lock: the app id (core's lock keys are `<appId>:<openid>`) and a short
 * hash of the key, to tell one user's lines from another's; never the openid. The app id only when
 * it is one by core's rule: a caller's own key of another shape is told by its hash alone.
 */
const logKey = (key: string): Record<string, string> => {
  const lockKeyHash = Crypto.createHash("sha256").update(key, "utf8").digest("hex").slice(0, 12)
  const colon = key.indexOf(":")
  const appId = colon > 0 && colon <= 64 ? key.slice(0, colon) : ""
  return appIdPattern.test(appId) ? { appId, lockKeyHash } : { lockKeyHash }
}

/**
 * The longest `lockTtl` and `waitTimeout`: 24 days, core's bound on a timer (`RefreshLock.makeInProcess`'s
 * `waitTimeout`). Past a Node timer's 2^31-1 ms (about 24.8 days) Effect never fires a timer, so a
 * waiter's deadline would never come (an unbounded wait, on a lock marked bounded); and Redis refuses
 * a `PX` as large as 1e19 ms, so every take would fail.
 */
const maxDurationMillis = 24 * 24 * 60 * 60 * 1000

/**
 * The options read (`ReadOptions.read`), with `lockTtl` and `waitTimeout` at most
 * `maxDurationMillis`, else an `InvalidArgument` naming the first over.
 */
const readOptions = (options: unknown): Either.Either<ReadOptions.Read, WeChatError.InvalidArgument> =>
  Either.flatMap(ReadOptions.read(options), (read) => {
    for (const argument of ["lockTtl", "waitTimeout"] as const) {
      const duration = read[argument]
      if (duration !== undefined && Duration.toMillis(duration) > maxDurationMillis) {
        return Either.left(
          new WeChatError.InvalidArgument({
            argument,
            description: "must be a positive finite duration of at most 24 days"
          })
        )
      }
    }
    return Either.right(read)
  })

/**
 * Builds the lock over a client the caller owns (never closed here). Defines the renew and release
 * scripts on the client (`defineCommand`).
 *
 * A Redis failure while taking the lock ends the wait at once with `RefreshLockTimeout`, its `cause`
 * the Redis error (name, code and message only), and a warning in the log: the lock's interface has
 * no other error, and a down Redis must fail fast. A key that is not a string, or is longer than 512
 * characters (core's are at most 199), is refused the same way, at once, without asking Redis:
 * `RefreshLockTimeout` with an empty `key`, its `cause` a `TypeError` or a `RangeError`. A failed renewal is logged and tried again at the
 * next beat; a failed release is logged and left to the lock's TTL.
 *
 * A `redis` that is not an ioredis client, a `keyPrefix` that is not a string of at most 256
 * characters, a `lockTtl`, `waitTimeout` or `commandTimeout` that is not a positive finite duration
 * of at most 24 days (what a timer holds), or a `poll` that is not a `Schedule`, is an
 * `InvalidArgument`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  redis: RedisClient,
  options?: MakeOptions
): Effect.Effect<RefreshLock.RefreshLockShape, WeChatError.InvalidArgument> =>
  Effect.map(Effect.all([Client.checkClient(redis), readOptions(options)]), ([redis, read]) => {
    const prefix = read.keyPrefix ?? Client.defaultKeyPrefix
    const ttlMillis = Math.max(1, Math.ceil(Client.millis(read.lockTtl, "20 seconds")))
    const waitTimeout = read.waitTimeout ?? Duration.seconds(25)
    const waitMillis = Duration.toMillis(waitTimeout)
    const poll = read.poll ?? defaultPoll
    const renewEvery = Duration.millis(Math.max(1, Math.floor(ttlMillis / 3)))
    const timeout = read.commandTimeout ?? Client.defaultCommandTimeout
    redis.defineCommand(takeCommand, { numberOfKeys: 1, lua: takeLua })
    redis.defineCommand(releaseCommand, { numberOfKeys: 1, lua: releaseLua })
    redis.defineCommand(renewCommand, { numberOfKeys: 1, lua: renewLua })
    const scripted = redis as RedisClient & WithScripts

    const release = (key: string, redisKey: string, owner: string) =>
      Client.run("releaseLock", timeout, () => scripted[releaseCommand](redisKey, owner)).pipe(
        Effect.flatMap((deleted) =>
          deleted === 1 ? Effect.void : Effect.logWarning(
            "wxauth: the refresh lock had expired before its holder released it (its renewals failed, or the process stalled)"
          ).pipe(Effect.annotateLogs({ ...logKey(key), lockTtlMillis: ttlMillis }))
        ),
        Effect.catchAll((error) =>
          Effect.logWarning("wxauth: releasing the refresh lock failed; it expires by its TTL").pipe(
            Effect.annotateLogs({ ...logKey(key), error: error.message })
          )
        )
      )

    /**
     * Renews the lock every `lockTtl / 3` until interrupted (before the release), or until the lock
     * is found to be no longer the holder's. A failed renewal is tried again at the next beat.
     */
    const heartbeat = (key: string, redisKey: string, owner: string) =>
      Effect.sleep(renewEvery).pipe(
        Effect.zipRight(
          Client.run("renewLock", timeout, () => scripted[renewCommand](redisKey, owner, String(ttlMillis)))
        ),
        Effect.map((renewed) => renewed === 1),
        Effect.catchAll((error) =>
          Effect.logWarning("wxauth: renewing the refresh lock failed; trying again").pipe(
            Effect.annotateLogs({ ...logKey(key), error: error.message }),
            Effect.as(true)
          )
        ),
        Effect.repeat({ while: (renewed) => renewed }),
        Effect.zipRight(
          Effect.logWarning("wxauth: the refresh lock expired while its holder still worked").pipe(
            Effect.annotateLogs({ ...logKey(key), lockTtlMillis: ttlMillis })
          )
        ),
        Effect.withClock(liveClock),
        Effect.interruptible
      )

    const dropIfOurs = (redisKey: string, owner: string) =>
      Effect.ignore(Client.run("releaseLock", timeout, () => scripted[releaseCommand](redisKey, owner)))

    const take = (key: string, redisKey: string, owner: string) =>
      Effect.gen(function*() {
        const start = yield* Clock.currentTimeMillis
        return yield* Client.run("lock", timeout, () => scripted[takeCommand](redisKey, owner, String(ttlMillis))).pipe(
          Effect.flatMap((reply) =>
            reply === 1
              ? Effect.void
              : reply === -1
              ? Effect.zipRight(
                Effect.logWarning(
                  "wxauth: the refresh lock was held without a TTL (set by hand, or restored without TTLs); it now expires in lockTtl"
                ).pipe(Effect.annotateLogs({ ...logKey(key), lockTtlMillis: ttlMillis })),
                Effect.fail(new Busy())
              )
              : Effect.fail(new Busy())
          ),
          Effect.retry({ schedule: poll, while: (error) => error._tag === "Busy" }),
          // the polling is cut at waitTimeout whatever the caller's interruptibility: from an
          // uninterruptible caller (an acquire step, a finaliser) timeoutFail used to wait for it, as
          // long as the holder held the lock (renewed, without bound), and then drop the lock it took
          Effect.interruptible,
          Effect.timeoutFail({
            duration: waitTimeout,
            onTimeout: () => new WeChatError.RefreshLockTimeout({ key, waitedMillis: waitMillis })
          }),
          Effect.catchTags({
            Busy: () => Effect.fail(new WeChatError.RefreshLockTimeout({ key, waitedMillis: waitMillis })),
            TokenStoreError: (error) =>
              Effect.flatMap(Clock.currentTimeMillis, (now) =>
                Effect.logWarning("wxauth: Redis failed while taking the refresh lock; giving up").pipe(
                  Effect.annotateLogs({ ...logKey(key), error: error.message }),
                  Effect.zipRight(
                    Effect.fail(
                      new WeChatError.RefreshLockTimeout({
                        key,
                        waitedMillis: Math.max(0, now - start),
                        cause: Client.cleanCause(error.cause ?? error)
                      })
                    )
                  )
                ))
          })
        )
      }).pipe(Effect.withClock(liveClock))

    // its wait is bounded (waitTimeout, commandTimeout): wxauth uses it as it is
    const own = RefreshLock.RefreshLock.of({
      withLock: (key, effect) =>
        refusal(key) ?? Effect.uninterruptibleMask((restore) => {
          const redisKey = lockKey(key, prefix)
          const owner = Crypto.randomBytes(16).toString("hex")
          // disconnected: an outside interruption of an uninterruptible caller does not cut the wait
          // (its deadline does); an interruptible caller's interruption does, without waiting for it
          return restore(Effect.disconnect(take(key, redisKey, owner))).pipe(
            // A SET interrupted or timed out in flight may still land after: delete it if it is ours.
            // In the background, so a waiter that gives up does not wait for Redis once more.
            Effect.onExit((exit) =>
              Exit.isSuccess(exit) ? Effect.void : Effect.asVoid(Effect.forkDaemon(dropIfOurs(redisKey, owner)))
            ),
            // The heartbeat lives as long as the effect, and stops before the release.
            Effect.zipRight(Effect.fork(heartbeat(key, redisKey, owner))),
            Effect.flatMap((beat) =>
              Effect.ensuring(
                // the holder's reads of the token store ask Redis, never a near cache: a refresh made
                // by another process just before must be seen, or the storm refreshes twice
                restore(Effect.locally(effect, bypassNearCache, true)),
                Effect.zipRight(Fiber.interrupt(beat), release(key, redisKey, owner))
              )
            )
          )
        }).pipe((self) => spanWhenTraced(self, "RedisRefreshLock.withLock"))
    })
    RefreshLock.markBounded(own)
    return own
  })

/**
 * The lock over a client the caller owns: the layer never closes it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromClient = (
  redis: RedisClient,
  options?: MakeOptions
): Layer.Layer<RefreshLock.RefreshLock, WeChatError.InvalidArgument> =>
  Layer.effect(RefreshLock.RefreshLock, make(redis, options))

/**
 * Opens a connection for the layer's scope (`QUIT` on release) and builds the lock. Building fails
 * with a `TokenStoreError` when Redis cannot be reached within the timeouts, and with an
 * `InvalidArgument` for an option of the wrong kind.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<RefreshLock.RefreshLock, WeChatError.TokenStoreError | WeChatError.InvalidArgument> =>
  Layer.scoped(
    RefreshLock.RefreshLock,
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
  RefreshLock.RefreshLock,
  WeChatError.TokenStoreError | WeChatError.InvalidArgument | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(WeChatConfig.unwrapConfig(config), layer))
