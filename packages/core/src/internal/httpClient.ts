import * as Headers from "@effect/platform/Headers"
import type * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type * as UrlParams from "@effect/platform/UrlParams"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Predicate from "effect/Predicate"
import * as Stream from "effect/Stream"
import type { Dispatcher } from "undici"
import { deadline, fromError, type Phase, redactRequest, tooLarge, type TransportCause } from "./httpClientCause.js"
import { type IncomingHttpHeaders, LeanResponse } from "./httpClientResponse.js"

/** @internal */
export const TypeId: symbol = Symbol.for("@wxauth/core/WeChatHttpClient")

/**
 * What a lean client's `postprocess` function carries, so that clients derived from it by
 * request-side combinators (`mapRequest`, `prependUrl`...: they keep `postprocess`) are still
 * recognised and can get another deadline.
 *
 * @internal
 */
export interface Lean {
  readonly dispatcher: Dispatcher
  readonly timeoutMillis: number
  readonly maxResponseBytes: number
}

// ---------------------------------------------------------------------------------------------
// request line
// ---------------------------------------------------------------------------------------------

interface Base {
  readonly origin: string
  readonly path: string
}

interface Target extends Base {
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

const targetOf = (url: string): Target | undefined => {
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

const pathOf = (base: Target, params: UrlParams.UrlParams): string => {
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
const emptyHeaders: IncomingHttpHeaders = {}

type Resume = (effect: Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>) => void

/**
 * An undici dispatch handler that collects the whole body and resumes the waiting fiber once: with
 * the response, with a transport error, or with the deadline's error. No promise, no stream, no
 * AbortController: undici hands us its own controller, which aborts the request.
 */
class Exchange implements Dispatcher.DispatchHandler {
  controller: Dispatcher.DispatchController | null = null
  phase: Phase = "connect"
  status = 0
  headers: IncomingHttpHeaders = emptyHeaders
  chunk: Buffer | undefined = undefined
  chunks: Array<Buffer> | undefined = undefined
  size = 0
  done = false
  timer: ReturnType<typeof setTimeout> | undefined = undefined

  constructor(
    readonly request: HttpClientRequest.HttpClientRequest,
    readonly resume: Resume,
    readonly timeoutMillis: number,
    readonly maxResponseBytes: number
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
    if (this.done) {
      // interrupted or expired while queued for a connection: do not send it at all
      controller.abort(new Error("request abandoned before it was sent"))
    } else {
      this.phase = "headers"
    }
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return // 1xx informational
    this.status = statusCode
    this.headers = headers
    this.phase = "body"
    const announced = headers["content-length"]
    if (typeof announced === "string" && Number(announced) > this.maxResponseBytes) this.refuse()
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.done) return
    this.size += chunk.length
    if (this.size > this.maxResponseBytes) return this.refuse()
    if (this.chunk === undefined) this.chunk = chunk
    else if (this.chunks === undefined) this.chunks = [this.chunk, chunk]
    else this.chunks.push(chunk)
  }

  onResponseEnd(): void {
    if (this.done) return
    const body = this.chunks !== undefined ? Buffer.concat(this.chunks) : this.chunk ?? emptyBody
    this.settle()
    this.resume(Effect.succeed(new LeanResponse(this.request, this.status, this.headers, body)))
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.done) return
    this.settle()
    this.resume(Effect.fail(transportError(this.request, fromError(error, this.phase))))
  }

  settle(): void {
    this.done = true
    this.chunk = this.chunks = undefined
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
  }

  /** The body is (or is announced to be) over the limit: stop reading at once, keep nothing. */
  refuse(): void {
    if (this.done) return
    this.settle()
    if (this.controller !== null) this.controller.abort(new Error("response body too large"))
    this.resume(Effect.fail(transportError(this.request, tooLarge(this.maxResponseBytes))))
  }

  expire(): void {
    this.timer = undefined
    if (this.done) return
    const phase = this.phase
    this.settle()
    if (this.controller !== null) this.controller.abort(new Error("request deadline passed"))
    this.resume(Effect.fail(transportError(this.request, deadline(this.timeoutMillis, phase))))
  }

  interrupt(): void {
    if (this.done) return
    this.settle()
    if (this.controller !== null) this.controller.abort(new Error("request interrupted"))
  }
}

const expire = (exchange: Exchange) => exchange.expire()

const invalidUrl = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.fail(
    new HttpClientError.RequestError({
      request: redactRequest(request),
      reason: "InvalidUrl",
      description: "not an absolute http(s) URL"
    })
  )

const makeSend = (dispatcher: Dispatcher, timeoutMillis: number, maxResponseBytes: number) => {
  const finite = Number.isFinite(timeoutMillis)
  // undici's own timers are per phase, idle-based and coarse (about 0.5 s granularity above 1 s):
  // a backstop past the deadline, never the deadline itself.
  const backstop = finite ? timeoutMillis + 1000 : null
  const exchange = (
    request: HttpClientRequest.HttpClientRequest,
    headers: Headers.Headers,
    origin: string,
    path: string,
    body: DispatchBody
  ) =>
    Effect.async<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>((resume) => {
      const handler = new Exchange(request, resume, timeoutMillis, maxResponseBytes)
      if (finite) handler.timer = setTimeout(expire, timeoutMillis, handler)
      dispatcher.dispatch({
        origin,
        path,
        method: request.method,
        headers,
        body,
        headersTimeout: backstop,
        bodyTimeout: backstop
      }, handler)
      return Effect.sync(() => handler.interrupt())
    })
  return (
    request: HttpClientRequest.HttpClientRequest
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> => {
    const base = targetOf(request.url)
    if (base === undefined) return invalidUrl(request)
    const path = pathOf(base, request.urlParams)
    const body = request.body
    switch (body._tag) {
      case "Stream":
        return Effect.flatMap(
          Stream.toReadableStreamEffect(body.stream),
          (stream) => exchange(request, request.headers, base.origin, path, stream as unknown as DispatchBody)
        )
      case "FormData": {
        // The global FormData may come from another undici than ours (Node bundles its own), which
        // ours cannot serialise: let the global Response encode it (multipart, with its boundary).
        const encoded = new Response(body.formData)
        const headers = Headers.set(request.headers, "content-type", encoded.headers.get("content-type")!)
        return exchange(request, headers, base.origin, path, encoded.body as unknown as DispatchBody)
      }
      default:
        return exchange(request, request.headers, base.origin, path, bodyOf(body))
    }
  }
}

// ---------------------------------------------------------------------------------------------
// clients
// ---------------------------------------------------------------------------------------------

type AnyPreprocess = HttpClient.HttpClient.Preprocess<any, any>

const leanOfPostprocess = (u: unknown): Lean | undefined =>
  Predicate.hasProperty(u, "postprocess") && typeof u.postprocess === "function" &&
    Predicate.hasProperty(u.postprocess, TypeId)
    ? u.postprocess[TypeId] as Lean
    : undefined

/** @internal */
export const leanOf = (client: unknown): Lean | undefined => leanOfPostprocess(client)

/** @internal */
export const isWeChatHttpClient = (client: unknown): boolean => leanOfPostprocess(client) !== undefined

/** @internal */
export const makeClient = (
  dispatcher: Dispatcher,
  timeoutMillis: number,
  preprocess: AnyPreprocess = Effect.succeed,
  maxResponseBytes: number = Number.POSITIVE_INFINITY
): HttpClient.HttpClient => {
  const send = makeSend(dispatcher, timeoutMillis, maxResponseBytes)
  const postprocess = (
    request: Effect.Effect<HttpClientRequest.HttpClientRequest, any, any>
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, any, any> =>
    // the base client's preprocess is `Effect.succeed`: skip a flatMap
    Exit.isExit(request) && Exit.isSuccess(request)
      ? send(request.value as HttpClientRequest.HttpClientRequest)
      : Effect.flatMap(request, send)
  const lean: Lean = { dispatcher, timeoutMillis, maxResponseBytes }
  Object.defineProperty(postprocess, TypeId, { value: lean })
  const client = HttpClient.makeWith(postprocess, preprocess) as HttpClient.HttpClient
  Object.defineProperty(client, TypeId, { value: TypeId })
  return client
}

/** @internal */
export const withTimeout = dual<
  (timeoutMillis: number) => <E, R>(self: HttpClient.HttpClient.With<E, R>) => HttpClient.HttpClient.With<
    E | HttpClientError.RequestError,
    R
  >,
  <E, R>(
    self: HttpClient.HttpClient.With<E, R>,
    timeoutMillis: number
  ) => HttpClient.HttpClient.With<E | HttpClientError.RequestError, R>
>(2, <E, R>(self: HttpClient.HttpClient.With<E, R>, timeoutMillis: number) => {
  const lean = leanOf(self)
  if (lean !== undefined) {
    return makeClient(lean.dispatcher, timeoutMillis, (self as any).preprocess, lean.maxResponseBytes) as any
  }
  // another client: bound the wait for its response (not the reading of a streamed body)
  return HttpClient.transform(
    self,
    (effect, request: HttpClientRequest.HttpClientRequest) =>
      Effect.timeoutFail(effect, {
        duration: timeoutMillis,
        onTimeout: () => transportError(request, deadline(timeoutMillis, "unknown"))
      })
  )
})

/**
 * A lean client with another deadline and body limit (same pool, same request-side combinators);
 * `undefined` for any other client.
 *
 * @internal
 */
export const withLimits = (
  self: HttpClient.HttpClient,
  timeoutMillis: number,
  maxResponseBytes: number
): HttpClient.HttpClient | undefined => {
  const lean = leanOf(self)
  return lean === undefined
    ? undefined
    : makeClient(lean.dispatcher, timeoutMillis, (self as any).preprocess, maxResponseBytes)
}

// ---------------------------------------------------------------------------------------------
// dispatchers
// ---------------------------------------------------------------------------------------------

/**
 * Closes a dispatcher: waits for requests in flight up to `graceMillis`, then destroys it (which
 * also runs when `close` fails).
 *
 * @internal
 */
export const closeDispatcher = async (dispatcher: Dispatcher, graceMillis: number): Promise<void> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const graceOver = new Promise<"timeout">((resolve) => {
    timer = setTimeout(resolve, graceMillis, "timeout")
  })
  try {
    const outcome = await Promise.race([dispatcher.close().then(() => "closed" as const), graceOver])
    if (outcome === "timeout") await dispatcher.destroy()
  } catch {
    await dispatcher.destroy().catch(() => undefined)
  } finally {
    clearTimeout(timer)
  }
}
