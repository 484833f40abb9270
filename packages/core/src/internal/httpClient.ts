import type * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type * as UrlParams from "@effect/platform/UrlParams"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import { dual } from "effect/Function"
import { globalValue } from "effect/GlobalValue"
import type * as Redacted from "effect/Redacted"
import * as RuntimeFlags from "effect/RuntimeFlags"
import { Client, type Dispatcher, Pool, util as undiciUtil } from "undici"
import { maxTimerMillis } from "./arguments.js"
import { deadline, fromError, type Phase, redactRequest, tooLarge, type TransportCause } from "./httpClientCause.js"
import { type IncomingHttpHeaders, LeanResponse } from "./httpClientResponse.js"

/**
 * The limits of one request: its deadline and the largest body accepted. A lean client reads them
 * from `currentRequestLimits` when the request is sent, so any code around a call (e.g.
 * `WeChatApi`, with the `WeChatConfig`'s values) can set them without rebuilding the client, and
 * clients derived from it by request-side combinators keep honouring them.
 *
 * @internal
 */
export interface RequestLimits {
  /** Past 24 days (a Node timer's limit, `maxTimerMillis`), the deadline is 24 days. */
  readonly timeoutMillis?: number | undefined
  readonly maxResponseBytes?: number | undefined
}

/** @internal */
export const currentRequestLimits: FiberRef.FiberRef<RequestLimits> = globalValue(
  Symbol.for("@wxauth/core/WeChatHttpClient/currentRequestLimits"),
  () => FiberRef.unsafeMake<RequestLimits>({})
)

// ---------------------------------------------------------------------------------------------
// request line
// ---------------------------------------------------------------------------------------------

interface Base {
  readonly origin: string
  readonly path: string
}

interface Parsed extends Base {
  readonly search: string
}

// WeChat's URLs are a handful of constants: parse each once, keyed by the URL without its query
// (the query holds the secrets, and is never kept). URLs with credentials are not kept either.
const bases = new Map<string, Base>()

const baseOf = (url: string): Base | undefined => {
  const cached = bases.get(url)
  if (cached !== undefined) return cached
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return undefined
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return undefined
  const base: Base = { origin: parsed.origin, path: parsed.pathname }
  if (parsed.username === "" && parsed.password === "") {
    if (bases.size >= 256) bases.clear()
    bases.set(url, base)
  }
  return base
}

// A query that the URL parser would leave as it is: printable ASCII but for " # ' < >.
const verbatimQuery = /^[\x21\x24-\x26\x28-\x3b\x3d\x3f-\x7e]*$/

/**
 * Whether `query` would be sent as it is through a URL (the URL parser leaves it unchanged), so a
 * caller may put it in a {@link Target}'s path itself.
 *
 * @internal
 */
export const isVerbatimQuery = (query: string): boolean => verbatimQuery.test(query)

const targetOf = (url: string): Parsed | undefined => {
  const hash = url.indexOf("#")
  let query = url.indexOf("?")
  if (hash !== -1 && query > hash) query = -1
  if (query === -1) {
    const base = baseOf(hash === -1 ? url : url.slice(0, hash))
    return base === undefined ? undefined : { origin: base.origin, path: base.path, search: "" }
  }
  const search = url.slice(query, hash === -1 ? undefined : hash)
  if (verbatimQuery.test(search)) {
    const base = baseOf(url.slice(0, query))
    if (base === undefined) return undefined
    return { origin: base.origin, path: base.path, search: search.length === 1 ? "" : search }
  }
  // a query the parser rewrites (spaces, quotes, non-ASCII): let it
  try {
    const parsed = new URL(url)
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return undefined
    return { origin: parsed.origin, path: parsed.pathname, search: parsed.search }
  } catch {
    return undefined
  }
}

// application/x-www-form-urlencoded, as `URLSearchParams` (and so `UrlParams.makeUrl`) writes it.
const plain = /^[\w.*-]*$/
const reserved = /[!'()~]/g
const hex = (c: string) => "%" + c.charCodeAt(0).toString(16).toUpperCase()

/** @internal */
export const encodeFormComponent = (s: string): string => {
  if (plain.test(s)) return s
  try {
    return encodeURIComponent(s).replace(/%20/g, "+").replace(reserved, hex)
  } catch {
    // lone surrogates: URLSearchParams writes U+FFFD
    return new URLSearchParams([["", s]]).toString().slice(1)
  }
}

const pathOf = (base: Parsed, params: UrlParams.UrlParams): string => {
  let path = base.path + base.search
  let separator = base.search === "" ? "?" : "&"
  for (let i = 0; i < params.length; i++) {
    const [key, value] = params[i]
    if (value === undefined) continue
    path += separator + encodeFormComponent(key) + "=" + encodeFormComponent(value)
    separator = "&"
  }
  return path
}

type DispatchBody = Exclude<Dispatcher.DispatchOptions["body"], undefined>

const bodyOf = (body: HttpBody.Empty | HttpBody.Uint8Array | HttpBody.Raw): DispatchBody => {
  switch (body._tag) {
    case "Empty":
      return null
    case "Uint8Array":
      return body.body
    case "Raw":
      return body.body as DispatchBody
  }
}

// ---------------------------------------------------------------------------------------------
// one exchange
// ---------------------------------------------------------------------------------------------

/** @internal */
export const transportError = (
  request: HttpClientRequest.HttpClientRequest,
  cause: TransportCause
): HttpClientError.RequestError =>
  new HttpClientError.RequestError({
    request: redactRequest(request),
    reason: "Transport",
    cause,
    description: cause.message
  })

const emptyBody = new Uint8Array(0)

// the fiber waiting on an exchange: resumed once, with the response, the reader's answer or an error
type Resume = (effect: Effect.Effect<any, any>) => void

/**
 * What a caller that reads every answer the same way hands the lean client instead of asking for a
 * response: the exchange resumes the waiting fiber with `onBody`'s effect once the body is in (no
 * response object, no further step), or with `onTransport`'s error. Built once per endpoint; the
 * per-call `context` (e.g. the values to scrub from an errmsg) goes with the request.
 *
 * @internal
 */
export interface Reader<A, E, C> {
  /** The whole answer. Must not throw. */
  readonly onBody: (status: number, body: Uint8Array, context: C) => Effect.Effect<A, E>
  /**
   * The request failed before a whole answer came (connection, deadline, size cap): what the fiber
   * resumes with (its failure, or what the caller does next). Must not throw.
   */
  readonly onTransport: (cause: TransportCause, context: C) => Effect.Effect<A, E>
}

/**
 * A request as a reader's caller sends it: already split into origin and path (with its query), so
 * nothing is parsed per call.
 *
 * @internal
 */
export interface Target {
  readonly origin: string
  /** The path and query, as sent. */
  readonly path: string
  readonly method: HttpClientRequest.HttpClientRequest["method"]
  readonly headers: Record<string, string>
  readonly body: Uint8Array | null
}

/**
 * How often the exchanges waited for interruptibly are looked at for a fiber interrupted while it
 * waits and still running (see `Exchange.watch`): the longest such a request is kept past its
 * caller's interruption while WeChat says nothing.
 *
 * @internal
 */
export const sweepMillis = 50

/**
 * The exchanges watched for their fiber's interruption, in this process, and the timer that looks
 * at them: it runs only while there are some (it stops at the first look that finds none), and
 * never keeps the process alive.
 */
const watchers = {
  exchanges: new Set<Exchange>(),
  timer: undefined as ReturnType<typeof setInterval> | undefined,
  add(exchange: Exchange): void {
    this.exchanges.add(exchange)
    if (this.timer === undefined) {
      this.timer = setInterval(sweep, sweepMillis)
      this.timer.unref()
    }
  },
  delete(exchange: Exchange): void {
    this.exchanges.delete(exchange)
  }
}

const sweep = (): void => {
  if (watchers.exchanges.size === 0) {
    clearInterval(watchers.timer)
    watchers.timer = undefined
    return
  }
  // an exchange interrupted here leaves the set (deleting while iterating a Set is safe)
  for (const exchange of watchers.exchanges) if (exchange.abandoned()) exchange.interrupt()
}

/**
 * An undici dispatch handler that collects the whole body and resumes the waiting fiber once: with
 * the response, with a transport error, or with the deadline's error. No promise, no stream, no
 * AbortController: undici hands us its own `abort`, which aborts the request.
 *
 * It implements undici's first handler callbacks (`onConnect`, `onHeaders`, `onData`, `onComplete`,
 * `onError`), the ones undici 7 itself drives every request through: a handler with the newer
 * callbacks (`onRequestStart`...) is wrapped per request in an adapter and a controller, and the
 * response's raw headers and trailers are parsed into objects for it (measured: about 3% of a
 * `getUser` call's CPU). The headers are read raw here: only `content-length` matters to a reader;
 * a client's response gets them parsed, once the body is in.
 *
 * Once settled it lets go of everything it held (the request, the fiber's resume callback, the
 * headers, the body chunks, undici's abort, the fiber it watched): undici may keep the handler
 * itself a while longer, and whatever it still referred to would be kept, and copied by every
 * young-generation collection, with it.
 */
class Exchange implements Dispatcher.DispatchHandler {
  /** The request of an `HttpClient` call; `null` for a reader's (which gets a cause, not a RequestError). */
  request: HttpClientRequest.HttpClientRequest | null
  resume: Resume | null
  reader: Reader<unknown, unknown, unknown> | null = null
  context: unknown = undefined
  abort: Abort | null = null
  phase: Phase = "connect"
  status = 0
  rawHeaders: RawHeaders | null = null
  chunk: Buffer | undefined = undefined
  chunks: Array<Buffer> | undefined = undefined
  size = 0
  done = false
  timer: ReturnType<typeof setTimeout> | undefined = undefined
  /** The fiber waiting for this exchange, interruptibly, while it waits (see `watch`). */
  fiber: Fiber.RuntimeFiber<unknown, unknown> | null = null
  /** Aborts the exchange when the waiting fiber ends first: it was interrupted while waiting. */
  onFiberExit: ((exit: Exit.Exit<unknown, unknown>) => void) | null = null
  /** Whether the fiber's interruption can be read (its runtime flags were): see `abandoned`. */
  sweepable = false

  constructor(
    request: HttpClientRequest.HttpClientRequest | null,
    resume: Resume | null,
    readonly timeoutMillis: number,
    readonly maxResponseBytes: number
  ) {
    this.request = request
    this.resume = resume
  }

  onConnect(abort: Abort): void {
    if (this.done) {
      // expired while queued for a connection: do not send it at all
      abort(new Error("request abandoned before it was sent"))
    } else if (this.abandoned()) {
      // interrupted while queued, its fiber still running: do not send it either
      this.abort = abort
      this.interrupt()
    } else {
      this.abort = abort
      this.phase = "headers"
    }
  }

  onHeaders(statusCode: number, rawHeaders: RawHeaders, _resume: () => void, _statusText: string): boolean {
    if (this.done || statusCode < 200) return true // settled already; 1xx informational
    if (this.abandoned()) {
      this.interrupt()
      return true
    }
    this.status = statusCode
    this.phase = "body"
    // a client's response gets the headers; a reader needs none
    if (this.reader === null) this.rawHeaders = rawHeaders
    if (announcedLength(rawHeaders) > this.maxResponseBytes) this.refuse()
    return true
  }

  onData(chunk: Buffer): boolean {
    if (this.done) return true
    this.size += chunk.length
    if (this.size > this.maxResponseBytes) {
      this.refuse()
      return true
    }
    if (this.chunk === undefined) this.chunk = chunk
    else if (this.chunks === undefined) this.chunks = [this.chunk, chunk]
    else this.chunks.push(chunk)
    return true
  }

  onComplete(_trailers: RawHeaders | null): void {
    if (this.done) return
    if (this.abandoned()) return this.settle() // an answer for no one: not read, not counted
    const body = this.chunks !== undefined ? Buffer.concat(this.chunks) : this.chunk ?? emptyBody
    const request = this.request
    const resume = this.resume!
    const reader = this.reader
    const context = this.context
    const status = this.status
    if (reader === null) {
      // parsed before settling: headers it cannot read (it should read any) fail the call, never hang it
      let headers: IncomingHttpHeaders
      try {
        headers = this.rawHeaders === null ? {} : undiciUtil.parseHeaders(this.rawHeaders) as IncomingHttpHeaders
      } catch (error) {
        return this.fail(fromError(error, "body"), undefined)
      }
      this.settle()
      return resume(Effect.succeed(new LeanResponse(request!, status, headers, body)))
    }
    this.settle()
    resume(readBody(reader, status, body, context))
  }

  onError(error: Error): void {
    if (this.done) return
    this.fail(fromError(error, this.phase), undefined)
  }

  /**
   * Settles with a transport error, aborting the request first when `abortReason` is given (done is
   * set before: undici may report the abort back to this handler at once).
   */
  fail(cause: TransportCause, abortReason: string | undefined): void {
    const request = this.request
    const resume = this.resume!
    const abort = this.abort
    const reader = this.reader
    const context = this.context
    this.settle()
    if (abortReason !== undefined && abort !== null) abort(new Error(abortReason))
    if (reader === null) return resume(Effect.fail(transportError(request!, cause)))
    resume(readFailure(reader, cause, context))
  }

  /**
   * Watches `fiber`, which is about to wait for this exchange, for its interruption, when it waits
   * interruptibly (an uninterruptible wait cannot be interrupted: nothing to watch). The runtime
   * resumes a fiber interrupted while it waits by itself, and nothing tells the exchange; so:
   * - an exit observer on the fiber aborts the exchange as soon as the fiber ends first (a fiber
   *   ends before its wait is answered only when it was interrupted): at once for `Effect.timeout`,
   *   a race, `Fiber.interrupt`;
   * - when the fiber goes on after its interruption (its finalizers, an `ensuring`, a release), the
   *   exchange finds it interrupted (its `interruptedCause` is no longer empty) at its next step:
   *   before it is sent, when the answer starts or ends; and `watchers` looks at every watched
   *   exchange every {@link sweepMillis} ms, for a WeChat that has not answered yet.
   * Either costs the fiber no step, where a canceler or a catch frame costs several per call.
   */
  watch(fiber: Fiber.RuntimeFiber<unknown, unknown>): void {
    // the fiber's flags now are the flags of its wait (the runtime registers it in this very step)
    const flags = (fiber as unknown as { readonly currentRuntimeFlags?: unknown }).currentRuntimeFlags
    const readable = typeof flags === "number"
    if (readable && !RuntimeFlags.interruptible(flags as RuntimeFlags.RuntimeFlags)) return
    this.fiber = fiber
    const onFiberExit = () => {
      // the fiber has ended: it forgets its observers itself
      this.fiber = null
      this.interrupt()
    }
    this.onFiberExit = onFiberExit
    fiber.addObserver(onFiberExit)
    if (readable) {
      this.sweepable = true
      watchers.add(this)
    }
  }

  /**
   * The watched fiber was interrupted while it waited interruptibly: the runtime has resumed it, and
   * no one will read the answer.
   */
  abandoned(): boolean {
    const fiber = this.fiber
    return this.sweepable && fiber !== null && !Cause.isEmpty(fiber.getFiberRef(FiberRef.interruptedCause))
  }

  /** Marks the exchange done and drops every reference it held. */
  settle(): void {
    this.done = true
    const fiber = this.fiber
    if (fiber !== null) {
      this.fiber = null
      // a fiber with its exit is calling its observers (then drops them all): leave its list alone
      if (fiber.unsafePoll() === null) fiber.removeObserver(this.onFiberExit!)
    }
    this.onFiberExit = null
    if (this.sweepable) {
      this.sweepable = false
      watchers.delete(this)
    }
    this.request = null
    this.resume = null
    this.abort = null
    this.reader = null
    this.context = undefined
    this.rawHeaders = null
    this.chunk = this.chunks = undefined
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
  }

  /** The body is (or is announced to be) over the limit: stop reading at once, keep nothing. */
  refuse(): void {
    if (this.done) return
    this.fail(tooLarge(this.maxResponseBytes), "response body too large")
  }

  expire(): void {
    this.timer = undefined
    if (this.done) return
    this.fail(deadline(this.timeoutMillis, this.phase), "request deadline passed")
  }

  interrupt(): void {
    if (this.done) return
    const abort = this.abort
    const resume = this.resume
    this.settle()
    if (abort !== null) abort(new Error("request interrupted"))
    // the runtime has resumed the interrupted fiber itself, and this does nothing: were the fiber
    // still waiting, it would not wait forever
    if (resume !== null) resume(Effect.interrupt)
  }
}

type Abort = (reason?: Error) => void

// undici hands raw headers as name, value, name, value... (Buffers from its HTTP/1.1 parser)
type RawHeaders = Array<Buffer> | Array<string>

const latin1 = (value: Buffer | string): string => typeof value === "string" ? value : value.toString("latin1")

/** The response's `content-length`, or 0 when it announces none (or one that is not a number). */
const announcedLength = (rawHeaders: RawHeaders): number => {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]
    if (name.length === 14 && undiciUtil.headerNameToString(name) === "content-length") {
      const announced = Number(latin1(rawHeaders[i + 1]))
      return Number.isFinite(announced) ? announced : 0
    }
  }
  return 0
}

const expire = (exchange: Exchange) => exchange.expire()

// What a reader makes of the outcome. A reader that throws (it must not) still settles the call:
// a defect, never a fiber left waiting.
const readBody = (reader: Reader<unknown, unknown, unknown>, status: number, body: Uint8Array, context: unknown) => {
  try {
    return reader.onBody(status, body, context)
  } catch (defect) {
    return Effect.die(defect)
  }
}

const readFailure = (reader: Reader<unknown, unknown, unknown>, cause: TransportCause, context: unknown) => {
  try {
    return reader.onTransport(cause, context)
  } catch (defect) {
    return Effect.die(defect)
  }
}

const invalidUrl = (request: HttpClientRequest.HttpClientRequest) =>
  new HttpClientError.RequestError({
    request: redactRequest(request),
    reason: "InvalidUrl",
    description: "not an absolute http(s) URL"
  })

const unsupportedBody = (request: HttpClientRequest.HttpClientRequest, kind: string) =>
  new HttpClientError.RequestError({
    request: redactRequest(request),
    reason: "Encode",
    description: `a ${kind} body is not supported: send bytes, text or JSON`
  })

const makeSend = (
  dispatcher: Dispatcher,
  defaults: { readonly timeoutMillis: number; readonly maxResponseBytes: number }
) => {
  const start = (
    handler: Exchange,
    origin: string,
    path: string,
    method: string,
    headers: Record<string, string>,
    body: DispatchBody
  ) => {
    const timeoutMillis = handler.timeoutMillis
    const finite = Number.isFinite(timeoutMillis)
    // a Node timer past 2^31-1 ms fires after 1 ms: a longer deadline (a caller's limits) is 24 days
    const timerMillis = finite ? Math.min(timeoutMillis, maxTimerMillis) : 0
    if (finite) handler.timer = setTimeout(expire, timerMillis, handler)
    // undici's own timers are per phase, idle-based and coarse (about 0.5 s granularity above 1 s):
    // a backstop past the deadline, never the deadline itself.
    const backstop = finite ? timerMillis + 1000 : null
    dispatcher.dispatch({
      origin,
      path,
      method,
      headers,
      body,
      headersTimeout: backstop,
      bodyTimeout: backstop
    }, handler)
  }
  // Interruption aborts the request: the exchange watches the fiber that waits for it (see
  // `Exchange.watch`: an exit observer, the fiber's interrupted cause at each step of the request,
  // and a look every `sweepMillis` ms). No canceler (`Effect.async`'s `onInterrupt` keeps more
  // per-call objects alive while the request waits, enough for V8 to allocate them straight into
  // the old generation) and no uninterruptible region with a catch frame (8 runtime steps per call
  // where this costs 2). `getCurrentFiber` is the fiber running the registration: the runtime
  // registers a wait synchronously, in the fiber's own run loop.
  const exchange = <A, E>(
    request: HttpClientRequest.HttpClientRequest | null,
    origin: string,
    path: string,
    method: string,
    headers: Record<string, string>,
    body: DispatchBody,
    limits: RequestLimits,
    reader: Reader<A, E, unknown> | null,
    context: unknown
  ): Effect.Effect<A, E> =>
    Effect.async<A, E>((resume) => {
      const handler = new Exchange(
        request,
        resume,
        limits.timeoutMillis ?? defaults.timeoutMillis,
        limits.maxResponseBytes ?? defaults.maxResponseBytes
      )
      handler.reader = reader as Reader<unknown, unknown, unknown> | null
      handler.context = context
      const fiber = Fiber.getCurrentFiber()
      if (fiber._tag === "Some") handler.watch(fiber.value)
      try {
        start(handler, origin, path, method, headers, body)
      } catch (error) {
        // undici reports its failures to the handler; anything thrown still settles the call, typed
        handler.onError(error instanceof Error ? error : new Error(String(error)))
      }
    })
  const send = (
    request: HttpClientRequest.HttpClientRequest,
    limits: RequestLimits | undefined
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> => {
    const base = targetOf(request.url)
    if (base === undefined) return Effect.fail(invalidUrl(request))
    const body = request.body
    if (body._tag === "Stream" || body._tag === "FormData") return Effect.fail(unsupportedBody(request, body._tag))
    const path = pathOf(base, request.urlParams)
    const sent = bodyOf(body)
    return limits !== undefined
      ? exchange(request, base.origin, path, request.method, request.headers, sent, limits, null, undefined)
      : Effect.withFiberRuntime((fiber) =>
        exchange(
          request,
          base.origin,
          path,
          request.method,
          request.headers,
          sent,
          fiber.getFiberRef(currentRequestLimits),
          null,
          undefined
        )
      )
  }
  const sendAndRead = <A, E, C>(
    target: Target,
    limits: RequestLimits,
    reader: Reader<A, E, C>,
    context: C
  ): Effect.Effect<A, E> =>
    exchange(
      null,
      target.origin,
      target.path,
      target.method,
      target.headers,
      target.body,
      limits,
      reader as Reader<A, E, unknown>,
      context
    )
  return { send, sendAndRead }
}

// ---------------------------------------------------------------------------------------------
// clients
// ---------------------------------------------------------------------------------------------

/**
 * A lean client over `dispatcher`, with default limits that `currentRequestLimits` overrides per
 * request.
 *
 * @internal
 */
export const makeClient = (
  dispatcher: Dispatcher,
  timeoutMillis: number,
  maxResponseBytes: number = Number.POSITIVE_INFINITY
): HttpClient.HttpClient => {
  const sender = makeSend(dispatcher, { timeoutMillis, maxResponseBytes })
  const send = sender.send
  const sendInFiber = (request: HttpClientRequest.HttpClientRequest) => send(request, undefined)
  // `makeWith` (not `make`): no platform span (it would record the query, where WeChat puts the
  // secret and tokens), no AbortController: the dispatch handler aborts the request itself
  const client = HttpClient.makeWith(
    (request: Effect.Effect<HttpClientRequest.HttpClientRequest, never, never>) =>
      // the base client's preprocess is `Effect.succeed`: skip a flatMap
      Exit.isExit(request) && Exit.isSuccess(request)
        ? send(request.value as HttpClientRequest.HttpClientRequest, undefined)
        : Effect.flatMap(request, sendInFiber),
    Effect.succeed
  ) as HttpClient.HttpClient
  // only this very client has it: a client derived from it (`mapRequest`...) is a new object
  Object.defineProperty(client, sendWithLimits, { value: sender })
  return client
}

const sendWithLimits = Symbol.for("@wxauth/core/WeChatHttpClient/sendWithLimits")

const proxyOfClient = Symbol.for("@wxauth/core/WeChatHttpClient/proxy")

/**
 * Gives a lean client, as built, the URL of its proxy, for {@link proxyOf}. A client derived from it
 * does not have it: `WeChatHttpClient`'s layers provide `WeChatHttpClient.ProxyUrl` too, which goes
 * with the context.
 *
 * @internal
 */
export const withProxy = (
  client: HttpClient.HttpClient,
  proxy: Redacted.Redacted<string> | undefined
): HttpClient.HttpClient => {
  if (proxy !== undefined) Object.defineProperty(client, proxyOfClient, { value: proxy })
  return client
}

/**
 * The URL of a lean client's proxy, as built (see {@link withProxy}); `undefined` for a client
 * without a proxy or not built by `WeChatHttpClient`.
 *
 * @internal
 */
export const proxyOf = (client: HttpClient.HttpClient): Redacted.Redacted<string> | undefined =>
  (client as { readonly [proxyOfClient]?: Redacted.Redacted<string> })[proxyOfClient]

/**
 * `client.execute(request)` with `limits` for this request, as `withRequestLimits` around it would
 * do; when `client` is a lean client as built (not derived from one), without the fiber-local
 * update (an `Effect.locally` costs more than the rest of the call).
 *
 * @internal
 */
export const executeWithLimits = (
  client: HttpClient.HttpClient,
  request: HttpClientRequest.HttpClientRequest,
  limits: RequestLimits
): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> => {
  const sender = senderOf(client)
  return sender !== undefined
    ? sender.send(request, limits)
    : Effect.locally(client.execute(request), currentRequestLimits, limits)
}

/**
 * Sends `target` with `limits`; resumes with `reader`'s answer (see {@link readerOf}).
 *
 * @internal
 */
export type SendAndRead = <A, E, C>(
  target: Target,
  limits: RequestLimits,
  reader: Reader<A, E, C>,
  context: C
) => Effect.Effect<A, E>

const senderOf = (client: HttpClient.HttpClient) =>
  (client as { readonly [sendWithLimits]?: ReturnType<typeof makeSend> })[sendWithLimits]

/**
 * When `client` is a lean client as built (not derived from one): a function that sends a target
 * with `limits` and resumes with what `reader` makes of the whole answer, in one step (no request
 * nor response object, no `flatMap`s after it). `undefined` for any other client.
 *
 * @internal
 */
export const readerOf = (client: HttpClient.HttpClient): SendAndRead | undefined => {
  const sender = senderOf(client)
  return sender === undefined ? undefined : sender.sendAndRead
}

/**
 * Runs `effect` with the given request limits for every lean client call in it.
 *
 * @internal
 */
export const withRequestLimits = dual<
  (limits: RequestLimits) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>,
  <A, E, R>(effect: Effect.Effect<A, E, R>, limits: RequestLimits) => Effect.Effect<A, E, R>
>(2, (effect, limits) => Effect.locally(effect, currentRequestLimits, checkedLimits(limits)))

const positiveOrUndefined = (u: unknown): number | undefined =>
  typeof u === "number" && u > 0 && !Number.isNaN(u) ? u : undefined

/** The limits a caller passed, with any field that is not a positive number left out. */
const checkedLimits = (limits: unknown): RequestLimits => {
  if (typeof limits !== "object" || limits === null) return {}
  const { maxResponseBytes, timeoutMillis } = limits as Record<string, unknown>
  return { timeoutMillis: positiveOrUndefined(timeoutMillis), maxResponseBytes: positiveOrUndefined(maxResponseBytes) }
}

// ---------------------------------------------------------------------------------------------
// dispatchers
// ---------------------------------------------------------------------------------------------

/**
 * The per-origin pools an `Agent` (or `ProxyAgent`) makes, recorded: its `factory` option makes
 * them as undici's default does (a `Client` for one connection, else a `Pool`) and keeps them in
 * `pools` until they are destroyed (a pool the agent closed when its connections went is dropped
 * at the next one made). `Agent.close()` forgets its pools before they are closed, so its
 * `destroy()` afterwards reaches none of them: `closeDispatcher` destroys these.
 *
 * @internal
 */
export const poolRecorder = (): {
  readonly factory: (origin: string | URL, options: object) => Dispatcher
  readonly pools: ReadonlySet<Dispatcher>
} => {
  const pools = new Set<Dispatcher>()
  const factory = (origin: string | URL, options: object): Dispatcher => {
    for (const pool of pools) if ((pool as { readonly destroyed?: boolean }).destroyed === true) pools.delete(pool)
    const pool = (options as { readonly connections?: unknown }).connections === 1
      ? new Client(origin, options)
      : new Pool(origin, options)
    pools.add(pool)
    return pool
  }
  return { factory, pools }
}

/**
 * Closes a dispatcher: waits for requests in flight up to `graceMillis`, then destroys it and
 * `pools` (its per-origin pools, see `poolRecorder`: an undici 7 `Agent` no longer reaches them
 * once `close` has begun), which aborts the requests still in flight. The destruction also runs
 * when `close` fails.
 *
 * @internal
 */
export const closeDispatcher = async (
  dispatcher: Dispatcher,
  graceMillis: number,
  pools: ReadonlySet<Dispatcher> = new Set()
): Promise<void> => {
  const destroy = () =>
    Promise.all([dispatcher, ...pools].map((each) => each.destroy().catch(() => undefined))).then(() => undefined)
  let timer: ReturnType<typeof setTimeout> | undefined
  const graceOver = new Promise<"timeout">((resolve) => {
    timer = setTimeout(resolve, Math.min(graceMillis, maxTimerMillis), "timeout")
  })
  try {
    const outcome = await Promise.race([dispatcher.close().then(() => "closed" as const), graceOver])
    if (outcome === "timeout") await destroy()
  } catch {
    await destroy()
  } finally {
    clearTimeout(timer)
  }
}
