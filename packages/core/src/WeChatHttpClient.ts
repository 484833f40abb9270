/**
 * The lean `HttpClient` for WeChat: an undici connection pool (keep-alive, one pool per origin),
 * an overall deadline per request, an optional proxy for a fixed egress IP (WeChat's IP whitelist),
 * and responses read in full before they are handed out. It costs close to a raw undici request:
 * no span, no fiber, no stream, no AbortController per call; the deadline is one timer. A call
 * interrupted while it waits aborts its request: at once when its fiber ends (`Effect.timeout`, a
 * race, `Fiber.interrupt`), within 50 ms when the fiber goes on to finalizers first; a request
 * still queued for a connection is then never sent, and an answer that comes for no one is not
 * read. A call made from an uninterruptible region runs to its answer or its deadline.
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
import type * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as FiberRef from "effect/FiberRef"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { Agent, type Dispatcher, ProxyAgent } from "undici"
import { maxProxyUrlLength } from "./internal/answer.js"
import * as Arguments from "./internal/arguments.js"
import * as internal from "./internal/httpClient.js"
import * as cause from "./internal/httpClientCause.js"

/**
 * Options of `make` / `layer`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The deadline of one request, from the call to the last byte of the body (waiting for a pooled
   * connection and connecting included). Default 5 seconds, at most 24 days (a Node timer's
   * limit). `Duration.infinity` disables it.
   */
  readonly timeout?: Duration.DurationInput | undefined
  /** Connections per origin. Default 128. */
  readonly connections?: number | undefined
  /**
   * How long an idle connection stays open, at most 24 days. Default undici's (4 seconds; a server's
   * `Keep-Alive` hint wins).
   */
  readonly keepAliveTimeout?: Duration.DurationInput | undefined
  /**
   * Deadline of the TCP (and TLS) connect, at most 24 days. Default undici's (10 seconds); the
   * request deadline applies anyway.
   */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * An HTTP proxy URL (`http://user:pass@proxy:3128`), for a fixed egress IP. `https:` targets go
   * through a `CONNECT` tunnel; `http:` targets are forwarded with absolute URIs. The scheme, the
   * optional `user:pass@`, the host and the port only: a path, a query, a fragment, a control
   * character, a space at an end or more than 2048 characters is a `ConfigError` at `["proxy"]`
   * (the value is not quoted).
   * `WeChatApi` scrubs its credentials (the password, `user:password`, the `Basic` value; each of 8
   * characters or more) from an `errmsg` read through this client or one derived from it, as it
   * does the app secret: a proxy may echo them (see {@link ProxyUrl}).
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
export const isTransportCause = (u: unknown): u is TransportCause =>
  Arguments.guardOr(() => cause.isTransportCause(u), false)

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
export const toTransportCause = (u: unknown): TransportCause =>
  Arguments.guardOr(
    () => cause.toTransportCause(u),
    // a value that throws when looked at (a revoked Proxy) is no known failure
    new cause.TransportCause({ kind: "Network", code: "UNKNOWN", phase: "unknown", message: "an unreadable failure" })
  )

/**
 * The limits of the requests made by this module's clients: the deadline (`timeoutMillis`) and the
 * largest body accepted (`maxResponseBytes`). Unset fields keep the client's own (from
 * {@link Options}).
 *
 * @since 0.1.0
 * @category models
 */
export type RequestLimits = internal.RequestLimits

/**
 * The {@link RequestLimits} in force for the current fiber; this module's clients read them when a
 * request is sent, so clients derived by request-side combinators (`HttpClient.mapRequest`...)
 * honour them too.
 *
 * @since 0.1.0
 * @category fiber refs
 */
export const currentRequestLimits: FiberRef.FiberRef<RequestLimits> = internal.currentRequestLimits

/**
 * Runs `effect` with other request limits for every call this module's clients make in it, on the
 * same pool. Another `HttpClient` ignores them: bound its calls with `Effect.timeout`. An `effect`
 * that is not an Effect (a JavaScript caller's value) fails with `InvalidArgument` (argument
 * `effect`), the value never formatted.
 *
 * @example
 * ```ts
 * import { WeChatHttpClient } from "@wxauth/core"
 * import * as HttpClient from "@effect/platform/HttpClient"
 * import * as Effect from "effect/Effect"
 *
 * const quick = Effect.flatMap(HttpClient.HttpClient, (client) => client.get("http://127.0.0.1:8800/")).pipe(
 *   WeChatHttpClient.withRequestLimits({ timeoutMillis: 500, maxResponseBytes: 4096 })
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withRequestLimits: {
  (limits: RequestLimits): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(effect: Effect.Effect<A, E, R>, limits: RequestLimits): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(effect: Effect.Effect<A, E, R>, limits: RequestLimits): Effect.Effect<A, E, R> => {
    // a value that is not an Effect is refused here: Effect's own "Not a valid effect" defect
    // formats it whole (an array of a million objects took minutes, the event loop blocked)
    const runnable = Arguments.runnableEffect(effect) as Effect.Effect<A, E, R> | undefined
    if (runnable === undefined) {
      // typed, outside the declared E: no Effect of the caller's had an error type to widen
      return Arguments.fail("effect", "must be an Effect") as Effect.Effect<never> as Effect.Effect<A, E, R>
    }
    // read once, guarded: limits that cannot be read (a revoked Proxy) are none
    return internal.withRequestLimits(runnable, Option.getOrElse(Either.getRight(readLimits(limits)), () => ({})))
  }
)

const readLimits = (limits: unknown) =>
  Either.map(
    Arguments.readFields(limits, ["timeoutMillis", "maxResponseBytes"]),
    (fields): RequestLimits => (fields ?? {}) as RequestLimits
  )

/**
 * Present in a context whose `HttpClient` is this module's client (provided by {@link layer} and
 * {@link layerConfig} with it): it enforces the {@link RequestLimits} of each request itself, so
 * `WeChatApi` sets them instead of wrapping every call in a timeout and a size-capped reader.
 * Provide another `HttpClient` after `layer` only together with removing this marker.
 *
 * @since 0.1.0
 * @category tags
 */
export class EnforcesRequestLimits extends Context.Tag("@wxauth/core/WeChatHttpClient/EnforcesRequestLimits")<
  EnforcesRequestLimits,
  true
>() {}

/**
 * The URL of the proxy that the `HttpClient` in context sends through, with its credentials (a
 * `Redacted` string, as {@link Options}' `proxy`). {@link layer} and {@link layerConfig} provide it
 * next to their client when a proxy is set, so that it stays in a context whose `HttpClient` is
 * derived from theirs (`HttpClient.mapRequest`...) or wraps it. `WeChatApi` scrubs the proxy's
 * credentials (`user:password`, the `Basic` value sent in `Proxy-Authorization`, the password alone)
 * from an `errmsg`, as it does the app secret: a proxy, or what it forwards to, may echo them. A
 * form shorter than 8 characters is not looked for (it would cut WeChat's words and request ids).
 * A URL of more than 2048 characters (as {@link Options}' `proxy` is bounded) is ignored. The
 * credentials are scrubbed from an `errmsg` only: an id or a scope in a success answer is not
 * refused for sharing 8 characters with them.
 *
 * Provide it with another `HttpClient` that sends through a proxy with credentials.
 *
 * @example
 * ```ts
 * import { WeChatHttpClient } from "@wxauth/core"
 * import * as Layer from "effect/Layer"
 * import * as Redacted from "effect/Redacted"
 *
 * const ProxyLive = Layer.succeed(WeChatHttpClient.ProxyUrl, Redacted.make("http://user:secret-password@10.0.0.5:3128"))
 * ```
 *
 * @since 0.2.0
 * @category tags
 */
export class ProxyUrl extends Context.Tag("@wxauth/core/WeChatHttpClient/ProxyUrl")<
  ProxyUrl,
  Redacted.Redacted<string>
>() {}

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
  const decoded = Arguments.durationOf(input)
  if (decoded._tag === "None" || !Duration.greaterThan(decoded.value, Duration.zero)) {
    return Effect.fail(ConfigError.InvalidData([name], `${name} must be a positive duration`))
  }
  const millis = Duration.toMillis(decoded.value)
  // a Node timer past 2^31-1 ms fires after 1 ms: every request would fail at once (Infinity: none)
  if (Number.isFinite(millis) && millis > Arguments.maxTimerMillis) {
    return Effect.fail(
      ConfigError.InvalidData([name], `${name} must be a positive duration of ${Arguments.maxTimerRule}`)
    )
  }
  return Effect.succeed(millis)
}

const optionKeys = ["timeout", "connections", "maxResponseBytes", "keepAliveTimeout", "connectTimeout", "proxy"]

// the value may hold credentials: never in a message
const invalidProxy = (message: string) => Effect.fail(ConfigError.InvalidData(["proxy"], message))

/**
 * An http(s) URL naming the proxy only (scheme, optional userinfo, host, port): undici refuses a
 * path, a query or a fragment when the dispatcher is built (a defect at layer build, before). A
 * control character, which the URL parser drops or trims, or a space at an end is a mistake in the
 * value: refused too. undici is handed the parsed URL.
 */
const checkProxy = (
  given: string | Redacted.Redacted<string>
): Effect.Effect<Redacted.Redacted<string>, ConfigError.ConfigError> => {
  const raw: unknown = typeof given === "string"
    ? given
    : Arguments.guardOr(() => Redacted.isRedacted(given) ? Redacted.value(given) : undefined, undefined)
  if (typeof raw !== "string") {
    return invalidProxy("proxy must be an http(s) URL, as a string or a Redacted string")
  }
  // checked before parsing, and after (percent-encoding lengthens it); `WeChatApi` ignores a longer
  // `ProxyUrl` from the context
  const tooLong = `proxy must be an http(s) URL of at most ${maxProxyUrlLength} characters`
  if (raw.length > maxProxyUrlLength) return invalidProxy(tooLong)
  if (Arguments.urlParserAlters(raw)) {
    return invalidProxy("proxy must be an http(s) URL without control characters or spaces at its ends")
  }
  let url: URL | undefined
  try {
    url = new URL(raw)
  } catch {
    url = undefined
  }
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    return invalidProxy("proxy must be an http(s) URL")
  }
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "" || raw.includes("?") || raw.includes("#")) {
    return invalidProxy(
      "proxy must name the proxy only (scheme, user:password@, host, port), without a path, query or fragment"
    )
  }
  return url.href.length > maxProxyUrlLength ? invalidProxy(tooLong) : Effect.succeed(Redacted.make(url.href))
}

const resolve = (given: Options | undefined): Effect.Effect<Resolved, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    // read once, guarded: a throwing getter or a revoked Proxy is a ConfigError, never a defect
    const options = (yield* Arguments.readConfig([], given, optionKeys)) as Options | undefined
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
    const proxy = options?.proxy === undefined ? undefined : yield* checkProxy(options.proxy)
    return { timeoutMillis, maxResponseBytes, connections, keepAliveTimeout, connectTimeout, proxy }
  })

const finiteOrUndefined = (millis: number | undefined) =>
  millis === undefined || !Number.isFinite(millis) ? undefined : millis

const makeDispatcher = (options: Resolved, factory: NonNullable<Agent.Options["factory"]>): Dispatcher => {
  const keepAliveTimeout = finiteOrUndefined(options.keepAliveTimeout)
  const connectTimeout = finiteOrUndefined(options.connectTimeout)
  const pool = {
    factory,
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
        Effect.try({
          try: () => {
            const recorder = internal.poolRecorder()
            return { dispatcher: makeDispatcher(resolved, recorder.factory), pools: recorder.pools }
          },
          // undici refused the options checked above: its message may quote the proxy URL
          catch: () =>
            resolved.proxy === undefined
              ? ConfigError.InvalidData([], "undici refused the HTTP client's options")
              : ConfigError.InvalidData(["proxy"], "undici refused the proxy URL")
        }),
        ({ dispatcher, pools }) =>
          Effect.promise(() =>
            internal.closeDispatcher(
              dispatcher,
              Number.isFinite(resolved.timeoutMillis) ? resolved.timeoutMillis : 10_000,
              pools
            )
          )
      ),
      ({ dispatcher }) =>
        internal.withProxy(
          internal.makeClient(dispatcher, resolved.timeoutMillis, resolved.maxResponseBytes),
          resolved.proxy
        )
    ))

/** The client, and its proxy's URL when it has one (a derived client keeps the context's). */
const contextOf = (client: HttpClient.HttpClient): Context.Context<HttpClient.HttpClient> => {
  const context = Context.make(HttpClient.HttpClient, client)
  const proxy = internal.proxyOf(client)
  return proxy === undefined ? context : Context.add(context, ProxyUrl, proxy)
}

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
): Layer.Layer<HttpClient.HttpClient | EnforcesRequestLimits, ConfigError.ConfigError> =>
  Layer.merge(Layer.scopedContext(Effect.map(make(options), contextOf)), enforces)

const enforces = Layer.succeed(EnforcesRequestLimits, true)

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
): Layer.Layer<HttpClient.HttpClient | EnforcesRequestLimits, ConfigError.ConfigError> =>
  Layer.merge(
    Layer.scopedContext(
      Effect.map(Effect.flatMap(Arguments.unwrapConfig("WeChatHttpClient", options), make), contextOf)
    ),
    enforces
  )
