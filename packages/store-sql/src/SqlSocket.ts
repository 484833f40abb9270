/**
 * Sockets for the application's PostgreSQL and MySQL / MariaDB clients that drop a connection gone
 * silent: a network partition that leaves no trace (packets dropped, no reset: a firewall's or a
 * NAT's state lost). Without them such a connection stays open until the operating system gives
 * up on it, and meanwhile the pool keeps it: `@effect/sql-pg` hands it back to the pool after a
 * timed-out statement, still carrying that statement, so every later statement given to it waits
 * behind it and times out too; `@effect/sql-mysql2` keeps it busy, and once every connection of the
 * pool is, every statement waits for one (and closing the pool waits for them). The stores'
 * deadlines keep failing the operations, whether or not the database is reachable again.
 *
 * A socket of `pg` or `mysql` is destroyed when a request written to it (a statement, the
 * connection's handshake, its goodbye) has waited `silentAfter` with not one byte from the server.
 * The driver then fails what was waiting on it and drops the connection from its pool, and the
 * next statements get new connections: the stores answer again as soon as the database does.
 *
 * Both drivers take a socket of ours through a field of their own config (the store never builds a
 * client: the application's is provided): `stream` of `PgClient.layer` and `poolConfig.stream` of
 * `MysqlClient.layer` (not with its `url`, which drops `poolConfig`). See the README's "A database
 * gone silent".
 *
 * Over TLS (`ssl`), Node would read and write a plain socket below JavaScript once the driver
 * starts TLS on it, unseen: a connection with `ssl` set gets a JavaScript stream in front of its
 * socket instead, which TLS cannot bypass, and is watched the same.
 *
 * @since 0.2.0
 */
import { WeChatError } from "@wxauth/core"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Net from "node:net"
import { Duplex } from "node:stream"
import { positiveDuration } from "./internal/durations.js"

/**
 * Options of `pg` and `mysql`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /**
   * How long a request may wait with no byte from the server before its connection is dropped: at
   * least 1 ms, at most 24 days. The server says nothing while a statement runs (a lock wait
   * included), so choose it above the longest statement the client runs, the application's own
   * included: at least the stores' `timeout` (10 seconds by default) plus a margin, and their
   * `setupTimeout` when several processes may run `setup` at once (each store write has the server
   * end its row lock wait at its `timeout`). A statement that runs longer loses its connection.
   */
  readonly silentAfter: Duration.DurationInput
}

/** The longest a Node timer waits: 24 days keeps clear of its 2^31-1 ms. */
const maxSilentAfterMillis = 24 * 24 * 60 * 60 * 1000

/** The error a silent connection is destroyed with (no host, no statement, nothing of the caller's). */
const silentError = (millis: number) =>
  new Error(`the database sent nothing for ${millis} ms while a request waited (silent connection)`)

/**
 * The clock of a watched connection: `start` at a write (or the connection attempt) restarts it,
 * `stop` at a byte read stops it, and `onSilent` runs when it reaches `silentAfterMillis`. One timer
 * at most, rescheduled lazily (a write does not touch the timer when one is set).
 */
class Watch {
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  /** When the clock last started: the last write (or `connect`) with nothing read since. */
  private since = 0

  constructor(private readonly silentAfterMillis: number, private readonly onSilent: () => void) {}

  start(): void {
    this.since = Date.now()
    if (this.timer === undefined) this.schedule(this.silentAfterMillis)
  }

  stop(): void {
    if (this.timer === undefined) return
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private schedule(millis: number): void {
    const timer = setTimeout(() => {
      this.timer = undefined
      const left = this.since + this.silentAfterMillis - Date.now()
      if (left > 0) return this.schedule(left)
      this.onSilent()
    }, millis)
    // the connection itself keeps the process alive while it is open
    timer.unref()
    this.timer = timer
  }
}

/**
 * A TCP socket that is destroyed when a request written to it (or its connection attempt) has
 * waited `silentAfterMillis` with not one byte back: the clock runs from the last write (or
 * `connect`) while nothing was read since, and any byte read stops it (a server answering slowly,
 * in many pieces, is not silent; an idle connection, with nothing asked, is never dropped).
 *
 * It sees the bytes that pass through it as a JavaScript stream: once a driver starts TLS on it,
 * Node reads and writes it below JavaScript and it sees nothing more, so TLS connections get a
 * `WatchedStream` instead.
 */
class WatchedSocket extends Net.Socket {
  private readonly watch: Watch

  constructor(silentAfterMillis: number) {
    super()
    this.watch = new Watch(silentAfterMillis, () => this.destroy(silentError(silentAfterMillis)))
    this.once("close", () => this.watch.stop())
  }

  override connect(...args: Array<unknown>): this {
    if (!this.destroyed) this.watch.start()
    return (super.connect as (...args: Array<unknown>) => this)(...args)
  }

  override _write(chunk: unknown, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.destroyed) this.watch.start()
    super._write(chunk, encoding, callback)
  }

  override _writev(
    chunks: Array<{ chunk: unknown; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void
  ): void {
    if (!this.destroyed) this.watch.start()
    super._writev!(chunks, callback)
  }

  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk !== null) this.watch.stop()
    return super.push(chunk, encoding)
  }
}

/**
 * The same watch for a connection the driver starts TLS on (`ssl` set): a stream of JavaScript in
 * front of the TCP socket, which `tls.connect` cannot take below JavaScript, so every byte of the
 * TLS connection still passes through it and is seen. It offers what node-postgres and mysql2 ask
 * of their socket (`connect`, `setNoDelay`, `setKeepAlive`, `ref`, `unref`, the stream itself).
 */
class WatchedStream extends Duplex {
  private readonly inner = new Net.Socket()
  private readonly watch: Watch

  constructor(silentAfterMillis: number) {
    super({ allowHalfOpen: false })
    this.watch = new Watch(silentAfterMillis, () => this.destroy(silentError(silentAfterMillis)))
    this.inner.on("connect", () => this.emit("connect"))
    this.inner.on("data", (chunk: Buffer) => {
      this.watch.stop()
      if (!this.push(chunk)) this.inner.pause()
    })
    this.inner.on("end", () => this.push(null))
    this.inner.on("error", (error) => this.destroy(error))
    this.inner.on("close", () => this.destroy())
  }

  /** As `net.Socket`'s: a port and host, or a path. */
  connect(...args: Array<unknown>): this {
    if (!this.destroyed) this.watch.start()
    ;(this.inner.connect as (...args: Array<unknown>) => Net.Socket)(...args)
    return this
  }

  setNoDelay(noDelay?: boolean): this {
    this.inner.setNoDelay(noDelay)
    return this
  }

  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this.inner.setKeepAlive(enable, initialDelay)
    return this
  }

  ref(): this {
    this.inner.ref()
    return this
  }

  unref(): this {
    this.inner.unref()
    return this
  }

  override _read(): void {
    this.inner.resume()
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.destroyed) this.watch.start()
    this.inner.write(chunk, encoding, callback)
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.inner.end(() => callback())
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.watch.stop()
    this.inner.destroy()
    callback(error)
  }
}

const silentAfterMillis = (options: unknown): Either.Either<number, WeChatError.InvalidArgument> => {
  let input: unknown
  try {
    input = typeof options === "object" && options !== null ? (options as Options).silentAfter : undefined
  } catch {
    input = undefined
  }
  const invalid = new WeChatError.InvalidArgument({
    argument: "silentAfter",
    description: "must be a positive finite duration of at most 24 days"
  })
  if (input === undefined) return Either.left(invalid)
  return Either.flatMap(
    Either.mapLeft(positiveDuration("silentAfter", input as Duration.DurationInput, 0), () => invalid),
    (duration) => {
      const millis = Math.ceil(Duration.toMillis(duration))
      return millis <= maxSilentAfterMillis ? Either.right(millis) : Either.left(invalid)
    }
  )
}

/**
 * The `stream` of `PgClient.layer` (`@effect/sql-pg`): each connection of the pool gets a socket
 * that is destroyed when a request waited `silentAfter` with no byte from the server (see the
 * module). node-postgres connects it and sets it up (TLS included) as it does its own sockets. An
 * `InvalidArgument` when `silentAfter` is not a positive finite duration of at most 24 days.
 *
 * @example
 * ```ts
 * import { PgClient } from "@effect/sql-pg"
 * import { SqlSocket, SqlTokenStore } from "@wxauth/store-sql"
 * import * as Config from "effect/Config"
 * import * as Duration from "effect/Duration"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 *
 * const PgLive = Layer.unwrapEffect(
 *   Effect.map(SqlSocket.pg({ silentAfter: "15 seconds" }), (stream) =>
 *     PgClient.layerConfig({
 *       url: Config.redacted("DATABASE_URL"),
 *       stream: Config.succeed(stream),
 *       connectTimeout: Config.succeed(Duration.seconds(5))
 *     }))
 * )
 *
 * export const TokenStoreLive = SqlTokenStore.layer().pipe(Layer.provide(PgLive))
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const pg = (
  options: Options
): Either.Either<(config?: PgStreamOptions) => Duplex, WeChatError.InvalidArgument> =>
  Either.map(
    silentAfterMillis(options),
    (millis) => (config?: PgStreamOptions) =>
      config?.ssl !== undefined && config.ssl !== false ? new WatchedStream(millis) : new WatchedSocket(millis)
  )

/**
 * What node-postgres gives a `stream` function: the connection's settings, of which `ssl` is read.
 *
 * @since 0.2.0
 * @category models
 */
export interface PgStreamOptions {
  readonly ssl?: unknown
}

/**
 * What mysql2 gives a `stream` function: the connection's settings.
 *
 * @since 0.2.0
 * @category models
 */
export interface MysqlStreamOptions {
  readonly config: {
    readonly host?: string | undefined
    readonly port?: number | undefined
    readonly socketPath?: string | undefined
    readonly enableKeepAlive?: boolean | undefined
    readonly keepAliveInitialDelay?: number | undefined
    readonly ssl?: unknown
  }
}

/**
 * The `poolConfig.stream` of `MysqlClient.layer` (`@effect/sql-mysql2`, with `host` / `port`, not
 * `url`, which drops `poolConfig`): each connection of the pool gets a socket that is destroyed
 * when a request waited `silentAfter` with no byte from the server (see the module), connected as
 * mysql2 connects its own (`socketPath` or `host` and `port`, no delay, keep-alive unless
 * `enableKeepAlive: false`). mysql2's `connectTimeout` and `ssl` apply as without it. An
 * `InvalidArgument` when `silentAfter` is not a positive finite duration of at most 24 days.
 *
 * @example
 * ```ts
 * import { MysqlClient } from "@effect/sql-mysql2"
 * import { SqlSocket, SqlTokenStore } from "@wxauth/store-sql"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 * import * as Redacted from "effect/Redacted"
 *
 * const MysqlLive = Layer.unwrapEffect(
 *   Effect.map(SqlSocket.mysql({ silentAfter: "15 seconds" }), (stream) =>
 *     MysqlClient.layer({
 *       host: "10.0.0.6",
 *       database: "app",
 *       username: "app",
 *       password: Redacted.make("secret"),
 *       poolConfig: { stream, connectTimeout: 5000 }
 *     }))
 * )
 *
 * export const TokenStoreLive = SqlTokenStore.layer().pipe(Layer.provide(MysqlLive))
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const mysql = (
  options: Options
): Either.Either<(options: MysqlStreamOptions) => Duplex, WeChatError.InvalidArgument> =>
  Either.map(silentAfterMillis(options), (millis) => ({ config }: MysqlStreamOptions) => {
    const socket = config.ssl !== undefined && config.ssl !== null && config.ssl !== false
      ? new WatchedStream(millis)
      : new WatchedSocket(millis)
    if (config.socketPath !== undefined) {
      socket.connect(config.socketPath)
      return socket
    }
    socket.connect(config.port ?? 3306, config.host ?? "localhost")
    if (config.enableKeepAlive !== false) {
      socket.once("connect", () => socket.setKeepAlive(true, config.keepAliveInitialDelay ?? 0))
    }
    socket.setNoDelay(true)
    return socket
  })
