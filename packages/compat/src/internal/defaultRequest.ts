/**
 * `request(url, args, callback)`'s default: urllib's contract (the HTTP client under
 * `wechat-oauth`) over the process's lean client, for an app that calls it, or overrides it and calls
 * the default (a spy, a proxy wrapper, `super.request`).
 *
 * @internal
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { WeChatHttpClient } from "@wxauth/core"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as QueryString from "node:querystring"
import { fromCoreError, fromDefect } from "../CompatError.js"
import { invalidArgument, optionOf, timeoutMillisOf, unreadableArgument, unreadableOptions } from "./options.js"
import type { RequestCallback } from "./request.js"
import { sharedHttpClient, withProxyClient } from "./runtime.js"
import * as Urllib from "./urllib.js"

const defaultTimeoutMillis = 5_000

/**
 * What `request` resolves with when called without a callback (urllib's promise form).
 *
 * @internal
 */
export interface RequestResult {
  readonly data: unknown
  readonly status: number
  readonly headers: Record<string, string>
  readonly res: RequestResponse
}

/**
 * urllib's `res`: the status, the headers, the body's size, the time taken.
 *
 * @internal
 */
export interface RequestResponse {
  readonly status: number
  readonly statusCode: number
  readonly headers: Record<string, string>
  readonly size: number
  readonly rt: number
  readonly data: unknown
}

const urllibError = (name: string, message: string, fields?: Record<string, unknown>): Error =>
  Object.assign(new Error(message), { name }, fields)

/** The error urllib would have called back with for this failure of the lean client. */
const requestFailure = (cause: unknown): unknown => {
  if (!HttpClientError.isHttpClientError(cause)) return fromDefect(cause)
  const transport = WeChatHttpClient.toTransportCause(cause)
  if (transport.code === "WXAUTH_RESPONSE_TOO_LARGE") return urllibError("ResponseError", transport.message)
  const { code, name } = Urllib.errorNameOf(transport.kind, transport)
  return urllibError(name, transport.message, code === undefined ? undefined : { code })
}

/** urllib's `content`: a non-empty string or Buffer (an empty one is none, as `args.content ||` read it). */
const isPayload = (u: unknown): u is string | Uint8Array =>
  (typeof u === "string" && u !== "") || (u instanceof Uint8Array && u.byteLength > 0)

/** An answer's headers, their string entries (the platform's, bounded by Node's header limit). */
const stringHeaders = (input: unknown): Record<string, string> => {
  const headers: Record<string, string> = {}
  if (typeof input !== "object" || input === null) return headers
  for (const [key, value] of Object.entries(input)) {
    if (typeof value === "string") headers[key] = value
  }
  return headers
}

/**
 * The most headers a request's `headers` option (`args.headers`, `setOpts`' `headers`) may hold, and
 * their most bytes in all (names and values, UTF-8).
 *
 * @internal
 */
export const requestHeaderLimits = { count: 64, bytes: 16 * 1024 } as const

/** The one rule of the `headers` option, in the errors' descriptions. */
const headersRule =
  `must be an object of at most ${requestHeaderLimits.count} headers, ${requestHeaderLimits.bytes} bytes in all, ` +
  "read by its own enumerable string keys (not an array, a Map, a Headers: pass Object.fromEntries(...) of them)"

/**
 * A `Map` or a WHATWG `Headers` (Node's, undici's, node-fetch's): they hold their entries in no own
 * key, so read as an object they would send nothing (urllib sent nothing, silently).
 */
const isEntriesCollection = (input: object): boolean => {
  const tag = Object.prototype.toString.call(input)
  return tag === "[object Map]" || tag === "[object Headers]"
}

/**
 * The one reader of a request's `headers` option (`args.headers`, `setOpts`' `headers`): absent
 * (`undefined`, `null`) none; else any object but an array, a `Map` or a `Headers` (a plain object,
 * `Object.create(null)`, a class's instance, an object inheriting from another), read as urllib read
 * it, by its own enumerable string keys (`Object.keys`: never its prototype's, which `for..in` would
 * list first, a prototype of ten million keys included), at most `requestHeaderLimits.count` of them
 * and `requestHeaderLimits.bytes` bytes, its string entries copied (others ignored, as before), with a
 * counter that stops at the first entry past the bounds (a million headers are not all copied, nor
 * held up against the request's deadline, which starts after). `undefined` when they are not such an
 * object. Throws when they cannot be read (a Proxy trap that throws, a revoked Proxy): `fieldsOf`
 * reads them guarded.
 */
const requestHeadersOf = (input: unknown): Record<string, string> | undefined => {
  const headers: Record<string, string> = {}
  if (input === undefined || input === null) return headers
  if (typeof input !== "object" || Array.isArray(input) || isEntriesCollection(input)) return undefined
  let count = 0
  let bytes = 0
  for (const key of Object.keys(input)) {
    if (++count > requestHeaderLimits.count) return undefined
    const value: unknown = (input as Record<string, unknown>)[key]
    if (typeof value !== "string") continue
    // a length past the bound is past it in bytes too: no need to measure it
    if (key.length + value.length > requestHeaderLimits.bytes) return undefined
    bytes += Buffer.byteLength(key) + Buffer.byteLength(value)
    if (bytes > requestHeaderLimits.bytes) return undefined
    headers[key] = value
  }
  return headers
}

/** The fields of urllib's options the default `request` reads. */
const requestKeys = [
  "type",
  "method",
  "data",
  "content",
  "dataType",
  "contentType",
  "headers",
  "proxy",
  "timeout"
] as const

type RequestFields = { readonly [K in (typeof requestKeys)[number]]: unknown }

/**
 * The fields of urllib's options (`args`, the client's `defaults`) read once each, its `headers`
 * read by `requestHeadersOf` (`headers` is `undefined` when they break its rule); `undefined` when
 * they cannot be read (a getter or a Proxy trap that throws, a revoked Proxy). Anything that is not
 * an object has none.
 */
const fieldsOf = (
  options: unknown
): { readonly fields: RequestFields; readonly headers: Record<string, string> | undefined } | undefined => {
  try {
    const fields: Record<string, unknown> = {}
    for (const key of requestKeys) fields[key] = optionOf(options, key)
    return { fields: fields as RequestFields, headers: requestHeadersOf(fields.headers) }
  } catch {
    return undefined
  }
}

/** Options whose `headers` follow `requestHeadersOf`'s rule. */
type Fields = NonNullable<ReturnType<typeof fieldsOf>> & { readonly headers: Record<string, string> }

/** How the request is made of the options: its target, body, method, and how its answer is read. */
interface Prepared {
  readonly request: HttpClientRequest.HttpClientRequest
  readonly proxy: unknown
  readonly timeoutMillis: number
  readonly dataType: unknown
}

/**
 * The request `args` over `defaults` (both read by `fieldsOf`) ask for. Throws when `data` cannot be
 * sent (its fields cannot be read, JSON refuses it: a BigInt, a cycle).
 */
const prepare = (
  url: string,
  given: Fields,
  defaults: Fields
): Prepared => {
  const option = (key: (typeof requestKeys)[number]): unknown => {
    const value = given.fields[key]
    return value !== undefined ? value : defaults.fields[key]
  }
  // urllib: `type` or `method`
  const typeOption = option("type")
  const methodOption = typeof typeOption === "string" && typeOption !== "" ? typeOption : option("method")
  const method = (typeof methodOption === "string" && methodOption !== "" ? methodOption : "GET").toUpperCase()
  const data = option("data")
  // urllib: `content` (a string or a Buffer), when given, is the payload, and `data` is ignored
  const content = option("content")
  const raw = isPayload(content) ? content : undefined
  const json = option("contentType") === "json"
  const headers = { ...defaults.headers, ...given.headers }
  const givenType = Object.entries(headers).find(([key]) => key.toLowerCase() === "content-type")?.[1]
  const readsQuery = method === "GET" || method === "HEAD"
  let target = url
  let body: string | Uint8Array | undefined
  const withQuery = (query: string) => `${url}${url.includes("?") ? "&" : "?"}${query}`
  if (raw !== undefined) {
    // as urllib: a GET's or HEAD's content is its query, another method's the body as it is
    if (readsQuery) target = withQuery(typeof raw === "string" ? raw : Buffer.from(raw).toString("utf8"))
    else body = raw
  } else if (typeof data === "object" && data !== null) {
    if (readsQuery) {
      const query = QueryString.stringify(data as QueryString.ParsedUrlQueryInput)
      if (query !== "") target = withQuery(query)
    } else {
      body = json ? JSON.stringify(data) : QueryString.stringify(data as QueryString.ParsedUrlQueryInput)
    }
  } else if (typeof data === "string" && !readsQuery) {
    body = data
  }
  let request = HttpClientRequest.make(method as "GET")(target, { headers })
  if (body !== undefined) {
    const type = givenType ?? (raw !== undefined
      ? (typeof raw === "string" ? "text/plain" : "application/octet-stream")
      : json
      ? "application/json"
      : "application/x-www-form-urlencoded")
    request = typeof body === "string"
      ? HttpClientRequest.bodyText(request, body, type)
      : HttpClientRequest.bodyUint8Array(request, body, type)
  }
  return {
    request,
    proxy: option("proxy"),
    timeoutMillis: timeoutMillisOf(option("timeout"), defaultTimeoutMillis),
    dataType: option("dataType")
  }
}

/**
 * `request(url, args, callback)`'s default: `args` over the client's `defaults` (urllib's
 * options), `data` sent as the query of a GET (or a form, or JSON with `contentType: "json"`, for
 * another method), or `content` (a string or Buffer) in its place as it is; `type` or `method`, the body parsed as JSON with `dataType: "json"` (a body that is not JSON is a
 * `JSONResponseFormatError`), a `timeout` (5 s by default) and the `proxy` option. It calls back
 * `(err, data, res)`, outside of any promise chain, with urllib's error names
 * (`ResponseTimeoutError`, `RequestError`, ...) and no URL query in any message; without a callback
 * it returns a promise of `{ data, status, headers, res }`. Returns `undefined` with a callback.
 *
 * `args` is read once, before anything is sent: when it cannot be read (a getter or a Proxy trap
 * that throws, a revoked Proxy), or its `data` cannot be sent, the call fails with a
 * `WeChatAPIInvalidArgumentError` naming `args`, as the other methods' arguments do; `defaults`
 * (`setOpts`' options) that cannot be read (or whose `data` cannot be sent) with a
 * `WeChatAPIConfigError`, as the client's other calls do. `headers` (the caller's, `setOpts`') are
 * read by their own enumerable string keys, at most 64 headers, 16 KiB in all, and must not be an
 * array, a `Map` or a `Headers` (`requestHeadersOf`): else the same errors, naming `args.headers` /
 * `headers`.
 *
 * `run` runs the request: the client's (`Lifecycle#track`), so that `client.close()` interrupts it
 * as it interrupts the client's other calls.
 *
 * @internal
 */
export const defaultRequest = (
  self: unknown,
  url: unknown,
  args: unknown,
  callback: unknown,
  run: <A>(effect: Effect.Effect<A>) => Promise<A> = Effect.runPromise
): Promise<RequestResult> | undefined => {
  if (typeof args === "function" && callback === undefined) {
    callback = args
    args = {}
  }
  const program = Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    // the caller's args first, as a call's arguments are checked before anything else
    const given = fieldsOf(args)
    if (given === undefined) return yield* Effect.fail(fromCoreError(unreadableArgument("args")))
    // the client's own options (setOpts'): read as every call of the client reads them
    const defaults = (() => {
      try {
        return fieldsOf(optionOf(self, "defaults"))
      } catch {
        return undefined // a getter of a subclass's that throws
      }
    })()
    if (defaults === undefined) return yield* Effect.fail(fromCoreError(unreadableOptions()))
    if (given.headers === undefined) {
      return yield* Effect.fail(fromCoreError(invalidArgument("args.headers", headersRule)))
    }
    if (defaults.headers === undefined) {
      return yield* Effect.fail(fromCoreError(ConfigError.InvalidData(["headers"], `setOpts' headers ${headersRule}`)))
    }
    if (typeof url !== "string" || !/^https?:\/\//i.test(url)) {
      return yield* Effect.fail(urllibError("RequestError", "the URL is not an http(s) URL"))
    }
    let prepared: Prepared
    try {
      prepared = prepare(url, given as Fields, defaults as Fields)
    } catch {
      // `data` could not be sent: the caller's when it gave one, else setOpts'
      return yield* Effect.fail(fromCoreError(
        given.fields.data !== undefined || given.fields.content !== undefined
          ? invalidArgument("args", "cannot be sent: its data cannot be read or serialised")
          : ConfigError.InvalidData(["data"], "setOpts' data cannot be read or serialised")
      ))
    }
    const { dataType, proxy, request, timeoutMillis } = prepared
    const exchange = Effect.flatMap(
      HttpClient.HttpClient,
      (client) =>
        Effect.flatMap(
          client.execute(request),
          (response) => Effect.map(response.arrayBuffer, (bytes) => ({ response, bytes: Buffer.from(bytes) }))
        )
    ).pipe(
      WeChatHttpClient.withRequestLimits({ timeoutMillis })
    )
    const exit = typeof proxy === "string" && proxy !== ""
      // the proxy's client is held while the answer is read
      ? yield* Effect.exit(
        withProxyClient(
          proxy,
          (client) => Effect.provideService(exchange, HttpClient.HttpClient, client),
          Effect.failCause
        )
      )
      // in this fiber (not a fiber of the shared runtime's): interrupting the call (`client.close()`)
      // interrupts the request
      : yield* Effect.exit(Effect.flatMap(
        sharedHttpClient(undefined).runtimeEffect,
        (runtime) =>
          Effect.provideService(exchange, HttpClient.HttpClient, Context.get(runtime.context, HttpClient.HttpClient))
      ))
    if (Exit.isFailure(exit)) {
      const failure = Cause.failureOption(exit.cause)
      return yield* Effect.fail(
        Option.isSome(failure) ? requestFailure(failure.value) : fromDefect(Cause.squash(exit.cause))
      )
    }
    const { bytes, response } = exit.value
    const status = response.status
    const responseHeaders = stringHeaders(response.headers)
    let parsed: unknown = bytes
    if (dataType === "json") {
      const text = bytes.toString("utf8")
      if (text === "") {
        parsed = null
      } else {
        try {
          parsed = JSON.parse(text)
        } catch {
          return yield* Effect.fail(
            urllibError("JSONResponseFormatError", `the response body is not JSON (HTTP ${status})`, { status })
          )
        }
      }
    } else if (dataType === "text") {
      parsed = bytes.toString("utf8")
    }
    const res: RequestResponse = {
      status,
      statusCode: status,
      headers: responseHeaders,
      size: bytes.byteLength,
      rt: (yield* Clock.currentTimeMillis) - started,
      data: parsed
    }
    return { data: parsed, status, headers: responseHeaders, res }
  })
  const promise = run(
    Effect.either(Effect.catchAllDefect(program, (defect) => Effect.fail(fromDefect(defect))))
  )
    .then((result) => {
      if (result._tag === "Right") return result.right
      throw result.left
    })
  if (typeof callback !== "function") return promise
  const cb = callback as RequestCallback
  promise.then(
    (result) => queueMicrotask(() => cb(null, result.data, result.res)),
    (error) => queueMicrotask(() => cb(error))
  )
  return undefined
}
