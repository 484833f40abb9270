/**
 * The in-process transport: an `HttpClient` whose requests are answered by `Sandbox.handle`, with
 * no socket. Any host is accepted; only the path and query matter. A streamed body (`huge`, `drip`)
 * becomes a web `ReadableStream` pulled as the response is read. A request body over
 * `Control.maxBodyBytes` gets `Control.bodyTooLarge`, as over HTTP: a streamed one is read no further.
 *
 * @internal
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { SandboxRequest, SandboxResponse } from "../Sandbox.js"
import * as Control from "./control.js"

const decoder = new TextDecoder()

/**
 * The request body as text, or `undefined` when it is over `Control.maxBodyBytes`: a stream is read
 * only up to `maxBodyBytes + 1` bytes, then stopped (its finalizers run), so an endless or huge
 * stream is refused as the HTTP server refuses it, without holding it in memory.
 */
const bodyText = (
  request: HttpClientRequest.HttpClientRequest
): Effect.Effect<string | undefined, HttpClientError.RequestError> => {
  const body = request.body
  const bytes = (data: Uint8Array) => Control.isOverBodyLimit(data.byteLength) ? undefined : decoder.decode(data)
  switch (body._tag) {
    case "Empty":
      return Effect.succeed("")
    case "Uint8Array":
      return Effect.succeed(bytes(body.body))
    case "Raw":
      return Effect.succeed(
        typeof body.body === "string" ?
          body.body :
          body.body instanceof Uint8Array ?
          bytes(body.body) :
          String(body.body)
      )
    case "FormData": {
      const params = new URLSearchParams()
      for (const [key, value] of body.formData) params.append(key, typeof value === "string" ? value : value.name)
      return Effect.succeed(params.toString())
    }
    case "Stream":
      return Effect.suspend(() => {
        const chunks: Array<Uint8Array> = []
        let size = 0
        return Stream.runForEachWhile(body.stream, (chunk) =>
          Effect.sync(() => {
            size += chunk.byteLength
            if (Control.isOverBodyLimit(size)) return false
            chunks.push(chunk)
            return true
          })).pipe(
            Effect.map(() => Control.isOverBodyLimit(size) ? undefined : Buffer.concat(chunks).toString("utf8")),
            Effect.mapError((cause) => new HttpClientError.RequestError({ request, reason: "Encode", cause }))
          )
      })
  }
}

const nullBodyStatuses = new Set([101, 204, 205, 304])

/** Fails once the request is aborted (its fiber interrupted while reading the body, or the response dropped). */
const aborted = (signal: AbortSignal): Effect.Effect<never, Error> =>
  Effect.async<never, Error>((resume) => {
    const onAbort = () => resume(Effect.fail(new Error("the request was aborted")))
    if (signal.aborted) return onAbort()
    signal.addEventListener("abort", onAbort, { once: true })
    return Effect.sync(() => signal.removeEventListener("abort", onAbort))
  })

/** @internal */
export const make = (handle: (request: SandboxRequest) => Effect.Effect<SandboxResponse>): HttpClient.HttpClient =>
  HttpClient.make((request, url, signal) =>
    Effect.gen(function*() {
      const body = yield* bodyText(request)
      // over the limit: the 413 the router and the HTTP server give, the rest of the body unread
      const response: SandboxResponse = body === undefined ?
        Control.bodyTooLarge(url.pathname) :
        yield* handle({ method: request.method, url: url.toString(), headers: request.headers, body })
      if (response.fault === "reset") {
        return yield* new HttpClientError.RequestError({
          request,
          reason: "Transport",
          description: "connection reset by the sandbox (reset fault)",
          cause: Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })
        })
      }
      // a streamed body (`huge`, `drip`) is made as the client reads it, on the caller's runtime (its
      // Clock), and stops when the request is aborted
      const runtime = yield* Effect.runtime<never>()
      const webBody = request.method === "HEAD" || nullBodyStatuses.has(response.status) ?
        null :
        response.stream !== undefined ?
        Stream.toReadableStreamRuntime(Stream.interruptWhen(response.stream, aborted(signal)), runtime) :
        response.body
      return HttpClientResponse.fromWeb(
        request,
        new Response(webBody, { status: response.status, headers: response.headers })
      )
    })
  )
