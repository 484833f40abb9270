/**
 * The lean `HttpClient` for WeChat: an undici connection pool (keep-alive, one pool per origin),
 * an overall deadline per request, an optional proxy for a fixed egress IP (WeChat's IP whitelist),
 * and responses read in full before they are handed out. It costs close to a raw undici request:
 * no span, no fiber, no stream, no AbortController per call; the deadline is one timer.
 *
 * It creates no span and sends no trace headers: WeChat puts the app secret, codes and tokens in
 * the query, which `HttpClient.make`-based clients record as span attributes. Its errors carry a
 * copy of the request with the query values replaced by `<redacted>`, and a cleaned
 * {@link TransportCause}.
 *
 * Any other `HttpClient` may be provided instead.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { Agent, type Dispatcher, ProxyAgent } from "undici"
import * as Arguments from "./internal/arguments.js"
import * as internal from "./internal/httpClient.js"
import * as cause from "./internal/httpClientCause.js"

/**
 * Marks the clients of this module (and those derived from them by request-side combinators).
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId as any

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Options of `make` / `layer`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The deadline of one request, from the call to the last byte of the body (waiting for a pooled
   * connection and connecting included). Default 5 seconds. `Duration.infinity` disables it.
   */
  readonly timeout?: Duration.DurationInput | undefined
  /** Connections per origin. Default 128. */
  readonly connections?: number | undefined
  /** How long an idle connection stays open. Default undici's (4 seconds; a server's `Keep-Alive` hint wins). */
  readonly keepAliveTimeout?: Duration.DurationInput | undefined
  /** Deadline of the TCP (and TLS) connect. Default undici's (10 seconds); the request deadline applies anyway. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * An HTTP proxy URL (`http://user:pass@proxy:3128`), for a fixed egress IP. `https:` targets go
   * through a `CONNECT` tunnel; `http:` targets are forwarded with absolute URIs.
   */
  readonly proxy?: string | Redacted.Redacted<string> | undefined
  /**
   * The largest response body accepted, in bytes. Default 65 536 (WeChat's answers are a few
   * hundred bytes). A response announced (`Content-Length`) or read past it is aborted at once with
   * a `RequestError` whose {@link TransportCause} has code `"WXAUTH_RESPONSE_TOO_LARGE"`.
   * `WeChatApi` applies `WeChatConfig.maxResponseBytes` to its own calls.
   */
  readonly maxResponseBytes?: number | undefined
}

/**
 * The defaults of {@link Options}.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults = {
  timeout: Duration.seconds(5),
  connections: 128,
  maxResponseBytes: 65_536
} as const

const defaultTimeoutMillis = 5_000

/**
 * The cleaned cause of a `RequestError` with reason `"Transport"` from this client:
 *
 * - `kind`: `"ConnectionRefused"` (`ECONNREFUSED`), `"Timeout"` (the request's deadline, `code`
 *   `"WXAUTH_DEADLINE"`; or a socket-level timer: `UND_ERR_CONNECT_TIMEOUT`,
 *   `UND_ERR_HEADERS_TIMEOUT`, `UND_ERR_BODY_TIMEOUT`, `ETIMEDOUT`), or `"Network"` (anything else:
 *   `ECONNRESET`, `UND_ERR_SOCKET`, `ENOTFOUND`, `UND_ERR_DESTROYED`...).
 * - `code`: the system or undici error code, or `"WXAUTH_DEADLINE"`.
 * - `phase`: `"connect"` when the request was never handed to a socket (nothing was sent: safe to
 *   retry even a code exchange), `"headers"` when it was sent and no response had started,
 *   `"body"` when the response had started, `"unknown"` (from {@link toTransportCause} on another
 *   client's error).
 * - `message`: the description, URL queries and URL credentials removed; `syscall` when known.
 *
 * The original error object is not kept (it may hold the URL).
 *
 * @since 0.1.0
 * @category errors
 */
export const TransportCause: typeof cause.TransportCause = cause.TransportCause

/**
 * @since 0.1.0
 * @category errors
 */
export type TransportCause = cause.TransportCause

/**
 * @since 0.1.0
 * @category errors
 */
export declare namespace TransportCause {
  /**
   * @since 0.1.0
   * @category errors
   */
  export type Kind = cause.Kind
  /**
   * @since 0.1.0
   * @category errors
   */
  export type Phase = cause.Phase
}

/**
 * The `code` of a {@link TransportCause} for a request that ran past its deadline.
 *
 * @since 0.1.0
 * @category errors
 */
export const deadlineCode: "WXAUTH_DEADLINE" = cause.deadlineCode as "WXAUTH_DEADLINE"

/**
 * @since 0.1.0
 * @category guards
 */
export const isTransportCause: (u: unknown) => u is TransportCause = cause.isTransportCause

/**
 * Normalises the cause of any client's transport failure into a {@link TransportCause}: given a
 * `RequestError` (or its `cause`), returns this client's cause as is, otherwise the first error with
 * a `code` along the `cause` chain (`fetch` wraps system errors in a `TypeError`); a DOMException
 * `TimeoutError` or Effect's `TimeoutException` is a timeout (`code` is that name). The message is
 * cleaned of URL queries. Phase is `"connect"` for
 * connect-time codes (`ECONNREFUSED`, `ENOTFOUND`, `EAI_AGAIN`, `UND_ERR_CONNECT_TIMEOUT`),
 * `"unknown"` otherwise.
 *
 * @since 0.1.0
 * @category errors
 */
export const toTransportCause: (u: unknown) => TransportCause = cause.toTransportCause

/**
 * Whether `client` is one of this module's clients, or derived from one by request-side
 * combinators (`HttpClient.mapRequest`, `mapRequestEffect`, `mapRequestInput`...), which keep
 * its dispatch. Response-side combinators (`transformResponse`, `filterStatusOk`, `retry`,
 * `withTracerDisabledWhen`, `tap`...) hide it: check before applying those.
 *
 * @since 0.1.0
 * @category guards
 */
export const isWeChatHttpClient: <E, R>(client: HttpClient.HttpClient.With<E, R>) => boolean =
  internal.isWeChatHttpClient

/**
 * The same client (same pool, same request-side combinators) with another per-request deadline.
 *
 * For any other `HttpClient` (see {@link isWeChatHttpClient}) it falls back to an `Effect.timeout`
 * on the wait for the response, which does not cover reading a streamed body later: wrap the
 * whole call in `Effect.timeout` there. Either way the timeout is a `RequestError` with reason
 * `"Transport"` and a {@link TransportCause} of kind `"Timeout"`, code `"WXAUTH_DEADLINE"`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withTimeout: {
  (
    timeout: Duration.DurationInput
  ): <E, R>(self: HttpClient.HttpClient.With<E, R>) => HttpClient.HttpClient.With<E | HttpClientError.RequestError, R>
  <E, R>(
    self: HttpClient.HttpClient.With<E, R>,
    timeout: Duration.DurationInput
  ): HttpClient.HttpClient.With<E | HttpClientError.RequestError, R>
} = dual(
  2,
  <E, R>(self: HttpClient.HttpClient.With<E, R>, timeout: Duration.DurationInput) =>
    // anything but a client (a JavaScript caller's mistake) is returned as it is
    Predicate.hasProperty(self, HttpClient.TypeId) ? internal.withTimeout(self, timeoutMillisOf(timeout)) : self
)

const timeoutMillisOf = (timeout: Duration.DurationInput): number => {
  const decoded = Duration.decodeUnknown(timeout)
  const millis = decoded._tag === "None" ? Number.NaN : Duration.toMillis(decoded.value)
  return Number.isNaN(millis) ? defaultTimeoutMillis : Math.max(1, millis)
}

/**
 * A client over a dispatcher you own (an undici `Agent`, `Pool`, `ProxyAgent`, `MockAgent`...);
 * it is never closed by this module.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromDispatcher = (
  dispatcher: Dispatcher,
  options?: { readonly timeout?: Duration.DurationInput | undefined } | undefined
): HttpClient.HttpClient =>
  internal.makeClient(
    dispatcher,
    timeoutMillisOf(options?.timeout ?? defaults.timeout),
    Effect.succeed,
    defaults.maxResponseBytes
  )

interface Resolved {
  readonly timeoutMillis: number
  readonly maxResponseBytes: number
  readonly connections: number
  readonly keepAliveTimeout: number | undefined
  readonly connectTimeout: number | undefined
  readonly proxy: Redacted.Redacted<string> | undefined
}

const positiveMillis = (
  name: string,
  input: Duration.DurationInput | undefined
): Effect.Effect<number | undefined, ConfigError.ConfigError> => {
  if (input === undefined) return Effect.succeed(undefined)
  const decoded = Duration.decodeUnknown(input)
  if (decoded._tag === "None" || !Duration.greaterThan(decoded.value, Duration.zero)) {
    return Effect.fail(ConfigError.InvalidData([name], `${name} must be a positive duration`))
  }
  return Effect.succeed(Duration.toMillis(decoded.value))
}

const resolve = (options: Options | undefined): Effect.Effect<Resolved, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    const timeoutMillis = (yield* positiveMillis("timeout", options?.timeout)) ?? defaultTimeoutMillis
    const connections = options?.connections ?? defaults.connections
    if (!Number.isInteger(connections) || connections < 1) {
      return yield* Effect.fail(ConfigError.InvalidData(["connections"], "connections must be a positive integer"))
    }
    const maxResponseBytes = options?.maxResponseBytes ?? defaults.maxResponseBytes
    if (!Number.isSafeInteger(maxResponseBytes) || maxResponseBytes < 1) {
      return yield* Effect.fail(
        ConfigError.InvalidData(["maxResponseBytes"], "maxResponseBytes must be a positive integer")
      )
    }
    const keepAliveTimeout = yield* positiveMillis("keepAliveTimeout", options?.keepAliveTimeout)
    const connectTimeout = yield* positiveMillis("connectTimeout", options?.connectTimeout)
    const proxy = options?.proxy === undefined
      ? undefined
      : typeof options.proxy === "string"
      ? Redacted.make(options.proxy)
      : options.proxy
    if (proxy !== undefined) {
      let url: URL | undefined
      try {
        url = new URL(Redacted.value(proxy))
      } catch {
        url = undefined
      }
      if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
        // the value may hold credentials: not in the message
        return yield* Effect.fail(ConfigError.InvalidData(["proxy"], "proxy must be an http(s) URL"))
      }
    }
    return { timeoutMillis, maxResponseBytes, connections, keepAliveTimeout, connectTimeout, proxy }
  })

const finiteOrUndefined = (millis: number | undefined) =>
  millis === undefined || !Number.isFinite(millis) ? undefined : millis

const makeDispatcher = (options: Resolved): Dispatcher => {
  const keepAliveTimeout = finiteOrUndefined(options.keepAliveTimeout)
  const connectTimeout = finiteOrUndefined(options.connectTimeout)
  const pool = {
    connections: options.connections,
    ...(keepAliveTimeout === undefined ? undefined : { keepAliveTimeout })
  }
  const connect = connectTimeout === undefined ? undefined : { timeout: connectTimeout }
  if (options.proxy === undefined) {
    return new Agent({ ...pool, ...(connect === undefined ? undefined : { connect }) })
  }
  return new ProxyAgent({
    uri: Redacted.value(options.proxy),
    // http: targets are forwarded with absolute URIs (like curl); https: targets are tunnelled
    proxyTunnel: false,
    ...pool,
    ...(connect === undefined ? undefined : { proxyTls: connect, requestTls: connect })
  })
}

/**
 * Builds the client and its pool; the pool is closed when the scope closes (requests in flight get
 * up to the deadline to finish, then the pool is destroyed).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options | undefined
): Effect.Effect<HttpClient.HttpClient, ConfigError.ConfigError, Scope.Scope> =>
  Effect.flatMap(resolve(options), (resolved) =>
    Effect.map(
      Effect.acquireRelease(
        Effect.sync(() => makeDispatcher(resolved)),
        (dispatcher) =>
          Effect.promise(() =>
            internal.closeDispatcher(
              dispatcher,
              Number.isFinite(resolved.timeoutMillis) ? resolved.timeoutMillis : 10_000
            )
          )
      ),
      (dispatcher) => internal.makeClient(dispatcher, resolved.timeoutMillis, Effect.succeed, resolved.maxResponseBytes)
    ))

/**
 * The lean client as the `HttpClient` service.
 *
 * @example
 * ```ts
 * import { WeChatHttpClient } from "@wxauth/core"
 *
 * const HttpLive = WeChatHttpClient.layer({ timeout: "3 seconds", proxy: "http://10.0.0.5:3128" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options | undefined
): Layer.Layer<HttpClient.HttpClient, ConfigError.ConfigError> => Layer.scoped(HttpClient.HttpClient, make(options))

/**
 * The lean client from `Config` values.
 *
 * @example
 * ```ts
 * import { WeChatHttpClient } from "@wxauth/core"
 * import * as Config from "effect/Config"
 *
 * const HttpLive = WeChatHttpClient.layerConfig({
 *   timeout: Config.duration("WECHAT_TIMEOUT").pipe(Config.withDefault("5 seconds")),
 *   proxy: Config.option(Config.redacted("WECHAT_PROXY")).pipe(Config.map((o) => o._tag === "Some" ? o.value : undefined))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<Options>
): Layer.Layer<HttpClient.HttpClient, ConfigError.ConfigError> =>
  Layer.scoped(HttpClient.HttpClient, Effect.flatMap(Arguments.unwrapConfig("WeChatHttpClient", options), make))
