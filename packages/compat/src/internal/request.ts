/**
 * HTTP through the client's `request(url, args, callback)`, as `wechat-oauth` made every call. When
 * the app overrides `request` (an instance property, a subclass, a test stub, a spy), compat's
 * requests to WeChat go through it, with urllib's callback contract `(err, data, res)`: an
 * `@effect/platform` `HttpClient` built on that function. Otherwise they go through the process's
 * lean client.
 *
 * @internal
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { WeChatHttpClient } from "@wxauth/core"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import { AppFailure } from "./appFailure.js"
import { callApp } from "./calls.js"
import { checkProxyClient, sharedHttpClient, withProxyClient } from "./runtime.js"

/**
 * urllib's callback: the error, the body (parsed when `dataType` is `json`), the response.
 *
 * @internal
 */
export type RequestCallback = (err: any, data?: any, res?: any) => void

/**
 * A `request` as `wechat-oauth` called it, `this` being the client.
 *
 * @internal
 */
export type RequestFunction = (this: any, url: string, args: any, callback: RequestCallback) => unknown

/**
 * Where the client's requests go: `request()` is the overriding function, or `undefined` when the
 * client's `request` is the default one.
 *
 * @internal
 */
export interface RequestSource {
  readonly self: object
  readonly request: () => RequestFunction | undefined
}

/** What an overriding `request` last called back with, for the call in progress. */
interface Cell {
  failed: boolean
  error: unknown
}

const currentCell = globalValue(
  Symbol.for("@wxauth/compat/internal/request/currentCell"),
  () => FiberRef.unsafeMake<Cell | undefined>(undefined)
)

const defaultTimeoutMillis = 5_000

const deadlineError = (request: HttpClientRequest.HttpClientRequest, millis: number) =>
  new HttpClientError.RequestError({
    request,
    reason: "Transport",
    cause: new WeChatHttpClient.TransportCause({
      kind: "Timeout",
      code: WeChatHttpClient.deadlineCode,
      phase: "unknown",
      message: `request did not call back within the ${millis} ms deadline`
    })
  })

const tooLargeError = (request: HttpClientRequest.HttpClientRequest, maxBytes: number) =>
  new HttpClientError.RequestError({
    request,
    reason: "Transport",
    cause: new WeChatHttpClient.TransportCause({
      kind: "Network",
      code: "WXAUTH_RESPONSE_TOO_LARGE",
      phase: "body",
      message: `the response body is larger than ${maxBytes} bytes`
    })
  })

/** The body an overriding `request` called back with, as text (WeChat's answers are JSON objects). */
const bodyOf = (data: unknown): string | Uint8Array => {
  if (typeof data === "string" || data instanceof Uint8Array) return data
  if (data === undefined || data === null) return ""
  try {
    return JSON.stringify(data) ?? ""
  } catch {
    return "" // a cycle, a BigInt, a getter that throws: not JSON
  }
}

const byteLength = (body: string | Uint8Array) => typeof body === "string" ? Buffer.byteLength(body) : body.byteLength

/**
 * An `HttpClient` whose requests are calls of `request`: the URL without its query, and `{ data,
 * dataType: "json" }` with the query's parameters in order, as `wechat-oauth` passed them. The
 * answer is what `request` calls back with (or resolves, urllib's `{ data }`); `res` is not read
 * (`wechat-oauth` did not read it either). The deadline and the body limit in force
 * (`WeChatHttpClient.currentRequestLimits`) apply.
 */
const viaRequest = (self: object, request: RequestFunction): HttpClient.HttpClient =>
  HttpClient.withTracerDisabledWhen(
    HttpClient.make((httpRequest, url, _signal, fiber) => {
      const limits = fiber.getFiberRef(WeChatHttpClient.currentRequestLimits)
      const cell = fiber.getFiberRef(currentCell)
      const timeoutMillis = limits.timeoutMillis ?? defaultTimeoutMillis
      const maxBytes = limits.maxResponseBytes ?? WeChatHttpClient.defaults.maxResponseBytes
      const data: Record<string, string> = {}
      for (const [key, value] of url.searchParams) data[key] = value
      const args = { data, dataType: "json" }
      const target = `${url.origin}${url.pathname}`
      if (cell !== undefined) cell.failed = false
      // urllib's callback `(err, data, res)`, or its promise form's `{ data, status, headers, res }`
      const call = callApp<unknown, HttpClientError.HttpClientError>({
        fn: request,
        self,
        args: [target, args],
        timeout: Duration.millis(timeoutMillis),
        onError: (err) => {
          if (cell !== undefined) {
            cell.failed = true
            cell.error = err
          }
          return new HttpClientError.RequestError({ request: httpRequest, reason: "Transport", cause: err })
        },
        onTimeout: () => deadlineError(httpRequest, timeoutMillis),
        fromPromise: (result) =>
          Predicate.hasProperty(result, "data") ? { answered: true, value: result.data } : { answered: false },
        name: "this.request"
      })
      return Effect.flatMap(call, (body) => {
        const text = bodyOf(body)
        if (byteLength(text) > maxBytes) return Effect.fail(tooLargeError(httpRequest, maxBytes))
        return Effect.succeed(HttpClientResponse.fromWeb(
          httpRequest,
          new Response(text as BodyInit, { status: 200, headers: { "content-type": "application/json" } })
        ))
      })
    }),
    () => true // a span would record the query: the app secret, codes and tokens
  )

/** An `HttpClient` whose requests go through the client's overriding `request`, else `lean`. */
const overridable = (
  source: RequestSource,
  lean: (request: HttpClientRequest.HttpClientRequest) => Effect.Effect<
    HttpClientResponse.HttpClientResponse,
    HttpClientError.HttpClientError
  >
): HttpClient.HttpClient => {
  let cached: { readonly request: RequestFunction; readonly client: HttpClient.HttpClient } | undefined
  const through = (request: RequestFunction) => {
    if (cached?.request !== request) cached = { request, client: viaRequest(source.self, request) }
    return cached.client
  }
  return HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
    (effect) =>
      Effect.flatMap(effect, (request) => {
        const override = source.request()
        return override === undefined ? lean(request) : through(override).execute(request)
      }),
    Effect.succeed
  )
}

/** The proxy's client could not be built (it was at the layer's build): a transport failure. */
const proxyUnavailable = (request: HttpClientRequest.HttpClientRequest) =>
  new HttpClientError.RequestError({
    request,
    reason: "Transport",
    cause: new WeChatHttpClient.TransportCause({
      kind: "Network",
      code: "WXAUTH_PROXY_UNAVAILABLE",
      phase: "connect",
      message: "the HTTP client for the proxy could not be built"
    })
  })

/**
 * The client's `HttpClient`: each request goes through the overriding `request` when there is one
 * (looked up per request, so a stub installed at any time applies), else through the process's
 * lean client (through `proxy`: the proxy's shared client, held for the request's time). Both
 * enforce the request limits `WeChatApi` sets, hence the `EnforcesRequestLimits` marker. With a
 * proxy, `WeChatHttpClient.ProxyUrl` too: `WeChatApi` scrubs its credentials from an `errmsg`.
 *
 * @internal
 */
export const layer = (
  source: RequestSource,
  proxy: string | undefined
): Layer.Layer<HttpClient.HttpClient | WeChatHttpClient.EnforcesRequestLimits, ConfigError.ConfigError> =>
  Layer.mergeAll(
    Layer.effect(
      HttpClient.HttpClient,
      proxy === undefined
        ? Effect.map(sharedHttpClient(undefined).runtimeEffect, (runtime) => {
          const lean = Context.get(runtime.context, HttpClient.HttpClient)
          return overridable(source, (request) => lean.execute(request))
        })
        // a bad proxy URL fails the layer; each request then holds the proxy's client while it runs
        // (the lean client reads the whole answer before `execute` returns)
        : Effect.as(
          checkProxyClient(proxy),
          overridable(source, (request) =>
            withProxyClient(
              proxy,
              (lean) => lean.execute(request),
              () => Effect.fail(proxyUnavailable(request))
            ))
        )
    ),
    Layer.succeed(WeChatHttpClient.EnforcesRequestLimits, true),
    // the proxy's credentials, for WeChatApi to scrub from what an answer echoes: this client is
    // not the lean client as built, so they go with the context
    proxy === undefined ? Layer.empty : Layer.succeed(WeChatHttpClient.ProxyUrl, Redacted.make(proxy))
  )

/**
 * Runs `effect` (one call of the compat API) so that when it fails on a transport error whose last
 * attempt was an overriding `request` calling back with an error, that error is what the caller
 * gets, renamed as `wechat-oauth`'s wrapper renamed it (`WeChatAPI` + its name).
 *
 * @internal
 */
export const withAppRequestErrors = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | AppFailure, R> =>
  Effect.suspend(() => {
    const cell: Cell = { failed: false, error: undefined }
    return effect.pipe(
      Effect.catchIf(
        (error) => cell.failed && Predicate.isTagged(error, "TransportError"),
        () => Effect.fail(new AppFailure("request", renamed(cell.error)))
      ),
      Effect.locally(currentCell, cell)
    )
  })

/** `wechat-oauth`'s wrapper: `err.name = 'WeChatAPI' + err.name`. */
const renamed = (error: unknown): unknown => {
  try {
    if ((typeof error === "object" && error !== null) || typeof error === "function") {
      const target = error as { name?: unknown }
      target.name = `WeChatAPI${String(target.name)}`
    }
  } catch {
    // a frozen error, a name that cannot be read: as it is
  }
  return error
}
