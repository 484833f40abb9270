/**
 * The Redis plumbing shared by the store and the lock: opening a connection that fails fast,
 * running a command as an Effect bounded in time, and errors that never carry a stored value.
 */
import { WeChatError } from "@wxauth/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { Cluster, RedisOptions } from "ioredis"
import { Redis } from "ioredis"
import * as Options from "./options.js"

/**
 * A client of ours or the caller's: a single node (or Sentinel) `Redis`, or a `Cluster`.
 */
export type Client = Redis | Cluster

/**
 * The connection options shared by `RedisTokenStore.layer` and `RedisRefreshLock.layer`.
 */
export interface ConnectionOptions
  extends Omit<RedisOptions, "keyPrefix" | "connectTimeout" | "commandTimeout" | "lazyConnect" | "password">
{
  readonly url?: string | Redacted.Redacted<string> | undefined
  readonly password?: string | Redacted.Redacted<string> | undefined
  readonly connectTimeout?: Duration.DurationInput | undefined
  readonly commandTimeout?: Duration.DurationInput | undefined
}

export const defaultUrl = "redis://127.0.0.1:6379"
export const defaultKeyPrefix = "wxauth:"
export const defaultConnectTimeout = Duration.seconds(2)
export const defaultCommandTimeout = Duration.seconds(2)

/**
 * Extra time the Effect-level bound of a command leaves to the client's own `commandTimeout`, whose
 * error is the more telling one.
 */
const grace = Duration.millis(250)

/**
 * Where `message` quotes a command's arguments: "ERR unknown command 'x', with args beginning with:
 * 'value' ..." from the comma (and spaces) before the phrase; -1 when it does not. The phrase is
 * found first, then the spaces before it are walked back: `/,?\s*with args beginning with/i` tried
 * every position of a run of spaces to its end (a megabyte of them: minutes).
 */
const argumentsAt = (message: string): number => {
  const phrase = message.search(/with args beginning with/i)
  if (phrase < 0) return phrase
  let start = phrase
  while (start > 0 && /\s/.test(message[start - 1])) start--
  return start > 0 && message[start - 1] === "," ? start - 1 : start
}

/**
 * `instanceof` under a guard: it walks the prototype chain, and a Proxy's `getPrototypeOf` trap may
 * throw.
 *
 * @internal
 */
export const isA = <T>(value: unknown, type: abstract new(...args: Array<never>) => T): value is T => {
  try {
    return value instanceof type
  } catch {
    return false
  }
}

/**
 * The `message`, `name` or `code` of an error a client rejected with, read under a guard: `undefined`
 * when it is no `Error`, the field is not a string, or its getter throws. The only way this module
 * reads them: a client of the caller's (or a Proxy of one) may reject with anything, and a throw
 * here, inside a `catch` of `tryPromise`, would be a defect instead of the store's typed error.
 *
 * @internal
 */
export const errorField = (error: unknown, field: "message" | "name" | "code"): string | undefined => {
  if (!isA(error, Error)) return undefined
  try {
    const value: unknown = (error as unknown as Record<string, unknown>)[field]
    return typeof value === "string" ? value : undefined
  } catch {
    return undefined
  }
}

/**
 * Keeps what helps to diagnose an error, and cuts what could quote a command's arguments: the
 * message of an `Error` (or a string), else "unknown error"; nothing else is ever quoted.
 */
const safeMessage = (error: unknown): string => {
  const message = typeof error === "string" ? error : errorField(error, "message") ?? "unknown error"
  const withArgs = argumentsAt(message)
  const cut = withArgs >= 0 ? message.slice(0, withArgs) : message
  return cut.length > 300 ? `${cut.slice(0, 300)}...` : cut
}

/**
 * A copy of a Redis error fit to keep as a `cause`: ioredis attaches the command and its arguments
 * (the stored value, tokens included) to a reply error, so only the name, code and message are kept.
 */
export const cleanCause = (error: unknown): Error => {
  const clean = new Error(safeMessage(error))
  const name = errorField(error, "name")
  if (name !== undefined) clean.name = name
  const code = errorField(error, "code")
  if (code !== undefined) (clean as Error & { code?: string }).code = code
  return clean
}

/** A call that got no answer in time. */
class NoAnswer {
  constructor(readonly millis: number) {}
}

/** The cause of a call that got no answer in time: a plain `TimeoutError`, quoting nothing. */
const noAnswerCause = (millis: number, what = "Redis did not answer"): Error => {
  const error = new Error(`${what} within ${millis} ms`)
  error.name = "TimeoutError"
  return error
}

/**
 * Bounds a promise in real time, without interrupting anything: an Effect timeout cannot cut a call
 * made in an uninterruptible region (a finalizer, such as the lock's release).
 */
const withDeadline = <A>(promise: Promise<A>, millis: number): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => reject(new NoAnswer(millis)), millis)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error) => {
        clearTimeout(timer)
        reject(error)
      }
    )
  })

/**
 * Runs one Redis call: a rejection is a `TokenStoreError` with a clean cause, and the call is bounded
 * by `timeout` (plus a little grace) whatever the client's own settings: a caller's client may have
 * no `commandTimeout`.
 */
export const run = <A>(
  operation: string,
  timeout: Duration.Duration,
  f: () => Promise<A>
): Effect.Effect<A, WeChatError.TokenStoreError> =>
  Effect.tryPromise({
    try: () => withDeadline(f(), Duration.toMillis(Duration.sum(timeout, grace))),
    catch: (error) =>
      isA(error, NoAnswer)
        ? new WeChatError.TokenStoreError({
          operation,
          description: `Redis did not answer within ${error.millis} ms`,
          cause: noAnswerCause(error.millis)
        })
        : new WeChatError.TokenStoreError({
          operation,
          description: noConnection(error) ?? `Redis: ${safeMessage(error)}`,
          cause: cleanCause(error)
        })
  })

/**
 * ioredis's ways of saying a command was never sent for want of a connection, in words an operator
 * reads as such: its retries per request ran out while the connection was down (lost, or refused:
 * Redis gone, or at its `maxclients`), or the client's connection is closed (it gave up reconnecting,
 * or its owner closed it). `undefined` for any other error.
 */
const noConnection = (error: unknown): string | undefined => {
  if (errorField(error, "name") === "MaxRetriesPerRequestError") {
    return `no connection to Redis: it is down and was not made again in time (${safeMessage(error)})`
  }
  if (errorField(error, "message") === "Connection is closed.") {
    return "no connection to Redis: the client's connection is closed (it gave up reconnecting, or was closed)"
  }
  return undefined
}

/**
 * Where the client connects, fit for an error: `host:port`, or "a unix socket" (a socket's path is
 * never quoted: a mistyped URL that ioredis took for a path carries its password).
 */
const where = (redis: Redis): string => {
  const { host, path, port } = redis.options
  return path ? "a unix socket" : `${host ?? "127.0.0.1"}:${port ?? 6379}`
}

/**
 * A connection error fit to quote: on a unix socket only its code (`ENOENT`), since the message
 * quotes the path; elsewhere the cleaned error.
 */
const connectCause = (redis: Redis, error: unknown): Error => {
  if (!redis.options.path) return cleanCause(error)
  const code = errorField(error, "code")
  const clean = new Error(code ?? "the connection failed")
  if (code !== undefined) (clean as Error & { code?: string }).code = code
  return clean
}

/** The longest a Node timer waits: the bound of a `socketTimeout`. */
const maxTimerMillis = 2 ** 31 - 1

/** What `socketTimeout` leaves to `commandTimeout` by default: the command's own error comes first. */
const socketTimeoutMargin = 1000

/** The TCP keepalive's initial delay on the connections the store opens, in milliseconds. */
export const defaultKeepAliveMillis = 10_000

/**
 * A `db` option as a database index: an integer of 0 or more, or a string of its digits (from an
 * env var: ioredis reads it so); `undefined` for anything else.
 */
const dbIndexOf = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 0
    ? value
    : typeof value === "string" && /^\d{1,9}$/.test(value)
    ? Number(value)
    : undefined

/**
 * A URL without a scheme that ioredis reads as `redis://` plus it: `host:port` or `//host:port`
 * (a name, an IPv4 address or a bracketed IPv6 one), optionally with `/<db>`. Nothing else: no
 * credentials, no query (`hunter2@host:6379/x` is refused, not guessed at).
 */
const schemelessUrl = /^(?:\/\/)?(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}(?:\/\d*)?$/

const badUrl = (description: string) => new WeChatError.InvalidArgument({ argument: "url", description })

/**
 * Checks a connection URL before ioredis reads it: `redis://` or `rediss://` (with at most a database
 * index as its path, and as its `db` parameter), `host:port` or `//host:port` (optionally with
 * `/<db>`: read as `redis://` plus it, as ioredis 5 does), or a unix socket's absolute path. ioredis
 * reads any other string as a host, or as a unix socket path when it holds a `/`:
 * `redis:/:pw@host:6379` (a slash missing) became the path `/:pw@host:6379`, quoted with its
 * password in the connect error. The `InvalidArgument` never quotes the URL. Returns the URL to give
 * ioredis (a schemeless one with `redis://`) and the database index it names, if any.
 */
const checkUrl = (
  given: string
): Either.Either<{ readonly url: string; readonly db: number | undefined }, WeChatError.InvalidArgument> => {
  const url = schemelessUrl.test(given) ? `redis://${given.replace(/^\/\//, "")}` : given
  const withUrl = (db: number | undefined) => ({ url, db })
  const dbOf = (text: string | null): Either.Either<number | undefined, WeChatError.InvalidArgument> =>
    text === null || text === ""
      ? Either.right(undefined)
      : /^\d{1,9}$/.test(text)
      ? Either.right(Number(text))
      : Either.left(badUrl("must name the database as an integer of 0 or more (redis://host:port/<db>)"))
  if (url.startsWith("/") && !url.startsWith("//")) {
    const query = url.indexOf("?")
    return Either.map(
      query < 0 ? Either.right(undefined) : dbOf(new URLSearchParams(url.slice(query + 1)).get("db")),
      withUrl
    )
  }
  if (!/^rediss?:\/\//i.test(url)) {
    return Either.left(badUrl("must start with redis:// or rediss:// (or be a unix socket's absolute path)"))
  }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return Either.left(badUrl("is not a valid Redis URL"))
  }
  const fromPath = dbOf(parsed.pathname.replace(/^\//, ""))
  if (Either.isLeft(fromPath)) return Either.left(fromPath.left)
  const fromQuery = dbOf(parsed.searchParams.get("db"))
  if (Either.isLeft(fromQuery)) return Either.left(fromQuery.left)
  return Either.right(withUrl(fromPath.right ?? fromQuery.right))
}

/**
 * Opens a connection in the scope and waits until it is ready (at most `connectTimeout`, plus the
 * handshake), failing with a `TokenStoreError` when Redis is down or refuses us. Released with `QUIT`
 * (bounded), then a hard disconnect, so nothing stays open: not after use, not after a failed build.
 * Options that are not what they should be (see `internal/options.ts`, and here the URL, the database
 * index and `socketTimeout`: `connection`) are an `InvalidArgument`, before any connection is made;
 * a database index Redis refuses is a `TokenStoreError` of the build.
 *
 * Defaults made for a login path: `connectTimeout` and `commandTimeout` of 2 seconds,
 * `maxRetriesPerRequest` 1, `socketTimeout` `commandTimeout` + 1 s (a silent connection is made
 * again) and TCP keepalive after 10 s. The offline queue stays on so a command issued during a reconnect (a
 * killed connection, a failover) waits for it, but never longer than `commandTimeout`.
 */
export const acquire = (
  options: unknown
): Effect.Effect<Redis, WeChatError.TokenStoreError | WeChatError.InvalidArgument, Scope.Scope> =>
  Effect.flatMap(
    Options.read(options),
    (read) => Effect.flatMap(connection(read), (checked) => acquireRead(read, checked))
  )

/** What `acquire` checks of the connection options beyond `internal/options.ts`. */
interface Checked {
  readonly url: string
  readonly db: number | undefined
  readonly socketTimeout: number | undefined
}

/**
 * The URL (see `checkUrl`), the database index (of the URL, else `db`: an integer of 0 or more, or a
 * string of its digits) and ioredis' `socketTimeout` (a positive integer of milliseconds, at most 24
 * days), or an `InvalidArgument` naming the option.
 */
const connection = (options: Options.Read): Either.Either<Checked, WeChatError.InvalidArgument> =>
  Either.gen(function*() {
    const { url } = options
    const urlString = url === undefined ? defaultUrl : Redacted.isRedacted(url) ? Redacted.value(url) : url
    const fromUrl = yield* checkUrl(urlString)
    const givenDb = options.fields.db ?? undefined
    const db = givenDb === undefined ? undefined : dbIndexOf(givenDb)
    if (givenDb !== undefined && db === undefined) {
      return yield* Either.left(
        new WeChatError.InvalidArgument({
          argument: "db",
          description: "must be an integer of 0 or more (a number, or a string of its digits)"
        })
      )
    }
    const socketTimeout = options.fields.socketTimeout ?? undefined
    if (
      socketTimeout !== undefined &&
      !(typeof socketTimeout === "number" && Number.isSafeInteger(socketTimeout) && socketTimeout >= 1 &&
        socketTimeout <= maxTimerMillis)
    ) {
      return yield* Either.left(
        new WeChatError.InvalidArgument({
          argument: "socketTimeout",
          description: "must be a positive integer of milliseconds, of at most 24 days"
        })
      )
    }
    return { url: fromUrl.url, db: fromUrl.db ?? db, socketTimeout }
  })

const acquireRead = (
  options: Options.Read,
  checked: Checked
): Effect.Effect<Redis, WeChatError.TokenStoreError, Scope.Scope> => {
  const { password } = options
  const urlString = checked.url
  // The options of the store and the lock travel in the same object; none of them is for ioredis
  // (its own `keyPrefix` would prefix every key a second time).
  const rest: Record<string, unknown> = { ...options.fields }
  for (const own of Options.ownFields) delete rest[own]
  delete rest.lazyConnect
  const connectMillis = Duration.toMillis(options.connectTimeout ?? defaultConnectTimeout)
  const commandMillis = Duration.toMillis(options.commandTimeout ?? defaultCommandTimeout)
  const redisOptions: RedisOptions = {
    maxRetriesPerRequest: 1,
    connectionName: "wxauth",
    // a connection that went silent (a blackholed address, a partition without a reset) is dropped
    // and made again once a command waited this long for any byte; without it every command timed
    // out until TCP gave up, about 15 minutes
    socketTimeout: commandMillis + socketTimeoutMargin,
    keepAlive: defaultKeepAliveMillis,
    ...(rest as RedisOptions),
    // the checked index (a `db` of digits as its number; the URL's, which ioredis takes first, wins)
    ...(checked.db === undefined ? {} : { db: checked.db }),
    ...(password === undefined
      ? {}
      : { password: Redacted.isRedacted(password) ? Redacted.value(password) : password }),
    connectTimeout: connectMillis,
    commandTimeout: commandMillis,
    lazyConnect: true
  }
  return Effect.acquireRelease(
    Effect.try({
      try: () => {
        const redis = new Redis(urlString, redisOptions)
        const state: { lastError: unknown } = { lastError: undefined }
        // Without a listener ioredis prints every connection error; failures reach callers as
        // TokenStoreError instead, and the last one is kept to explain a failed connect.
        redis.on("error", (error) => {
          state.lastError = error
        })
        return { redis, state }
      },
      // the message may quote the URL, password included
      catch: () =>
        new WeChatError.TokenStoreError({ operation: "connect", description: "ioredis refused the connection options" })
    }),
    ({ redis }) => close(redis, commandMillis)
  ).pipe(
    Effect.tap(({ redis, state }) =>
      Effect.tryPromise({
        try: () => withDeadline(redis.connect(), connectMillis + commandMillis + Duration.toMillis(grace)),
        catch: (error) => {
          const cause = isA(error, NoAnswer)
            ? noAnswerCause(error.millis, "not ready")
            : state.lastError ?? error
          const clean = connectCause(redis, cause)
          return new WeChatError.TokenStoreError({
            operation: "connect",
            description: `cannot connect to Redis at ${where(redis)}: ${safeMessage(clean)}`,
            cause: clean
          })
        }
      })
    ),
    // ioredis sends the SELECT of a database index other than 0 on connecting, and only reports its
    // refusal (an index past the server's `databases`) to the 'error' listener: the keys went to
    // database 0. It is asked again here, and a refusal fails the build.
    Effect.tap(({ redis }) =>
      checked.db === undefined || checked.db === 0 ? Effect.void : Effect.tryPromise({
        try: () => withDeadline(redis.select(checked.db!), commandMillis + Duration.toMillis(grace)),
        catch: (error) =>
          new WeChatError.TokenStoreError({
            operation: "connect",
            description: `Redis refused database ${checked.db}: ${
              safeMessage(isA(error, NoAnswer) ? noAnswerCause(error.millis) : error)
            }`,
            cause: isA(error, NoAnswer) ? noAnswerCause(error.millis) : cleanCause(error)
          })
      })
    ),
    Effect.map(({ redis }) => redis)
  )
}

/**
 * `QUIT` when connected (bounded by the connection's `commandTimeout`), then a disconnect that stops
 * reconnecting.
 */
const close = (redis: Redis, commandMillis: number): Effect.Effect<void> =>
  Effect.promise(() =>
    redis.status === "ready"
      ? withDeadline(redis.quit(), commandMillis + Duration.toMillis(grace)).then(
        () => undefined,
        () => undefined
      )
      : Promise.resolve()
  ).pipe(Effect.zipRight(Effect.sync(() => redis.disconnect(false))))

/**
 * Whether `redis` has what the stores and the lock use of a client (duck-typed: the client may come
 * from another copy of ioredis): `defineCommand`, and for a near cache `duplicate` and `options`;
 * false for a Proxy whose traps throw.
 */
export const isClient = (redis: unknown, nearCache = false): redis is Client => {
  try {
    return typeof redis === "object" && redis !== null && typeof (redis as Client).defineCommand === "function" &&
      (!nearCache ||
        typeof (redis as Client).duplicate === "function" && typeof (redis as Client).options === "object")
  } catch {
    return false
  }
}

/** The client, or an `InvalidArgument` when `redis` is none (see `isClient`). */
export const checkClient = (redis: unknown, nearCache = false): Effect.Effect<Client, WeChatError.InvalidArgument> =>
  isClient(redis, nearCache) ? Effect.succeed(redis) : Effect.fail(notAClient)

/** @internal */
export const notAClient = new WeChatError.InvalidArgument({
  argument: "redis",
  description: "must be an ioredis Redis or Cluster client"
})

/**
 * @internal A client the near cache cannot follow: a `duplicate()` that throws or gives no client,
 * or `options`, `status`, `isCluster` or `on` that throw (a Proxy, a stand-in).
 */
export const notANearCacheClient = new WeChatError.InvalidArgument({
  argument: "redis",
  description:
    "must be an ioredis Redis or Cluster client: the near cache could not open its connection with it (pass nearCache: false to build the store without one)"
})

/** The number of milliseconds of a duration option, with its default. */
export const millis = (input: Duration.DurationInput | undefined, fallback: Duration.DurationInput): number =>
  Duration.toMillis(Duration.decode(input ?? fallback))
