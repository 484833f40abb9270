/**
 * The body of another client's response, read with a byte limit. `response.stream` (an Effect
 * `Stream` over the body) works for any `HttpClientResponse` but costs about half a millisecond of
 * CPU per small answer; the responses of `@effect/platform`'s own clients keep their body as a web
 * `ReadableStream` (`fetch`, `HttpClientResponse.fromWeb`: the in-process sandbox) or as a Node
 * `Readable` (`NodeHttpClient.layerUndici`), which are read here directly, chunk by chunk, with the
 * same limit. Any other response goes through its `stream`.
 *
 * @internal
 */
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Readable } from "node:stream"
import { bodyText } from "./httpClientResponse.js"

type Body =
  | { readonly _tag: "Web"; readonly body: ReadableStream<Uint8Array> }
  | { readonly _tag: "Node"; readonly body: Readable }

/**
 * The unread body behind a response of `@effect/platform`'s clients, when it is one: their
 * responses keep it in `source` (a web `Response`, or undici's response data), and
 * `HttpClient.make` hands them out wrapped (`original`). Once read, a wrapped response's abort
 * controller has nothing left to abort: the wrapper's own accessors are not needed.
 */
const bodyOf = (response: HttpClientResponse.HttpClientResponse): Body | undefined => {
  const original: unknown = (response as { readonly original?: unknown }).original
  const holder: object = typeof original === "object" && original !== null ? original : response
  const source: unknown = (holder as { readonly source?: unknown }).source
  if (typeof source !== "object" || source === null) return undefined
  if (typeof Response !== "undefined" && source instanceof Response) {
    return source.body !== null && !source.bodyUsed ? { _tag: "Web", body: source.body } : undefined
  }
  const body: unknown = (source as { readonly body?: unknown }).body
  return body instanceof Readable && !body.readableDidRead && !body.destroyed ? { _tag: "Node", body } : undefined
}

/**
 * True when the response is one a `fetch` reached by following a redirect (`FetchHttpClient`
 * follows them unless its `RequestInit` says `redirect: "manual"`): it is another URL's answer.
 *
 * @internal
 */
export const followedRedirect = (response: HttpClientResponse.HttpClientResponse): boolean => {
  const original: unknown = (response as { readonly original?: unknown }).original
  const holder: object = typeof original === "object" && original !== null ? original : response
  const source: unknown = (holder as { readonly source?: unknown }).source
  return typeof Response !== "undefined" && source instanceof Response && source.redirected
}

const decodeError = (response: HttpClientResponse.HttpClientResponse, cause: unknown) =>
  new HttpClientError.ResponseError({ request: response.request, response, reason: "Decode", cause })

const readWeb = (
  response: HttpClientResponse.HttpClientResponse,
  body: ReadableStream<Uint8Array>,
  maxBytes: number
) =>
  Effect.async<string, "TooLarge" | HttpClientError.ResponseError>((resume) => {
    const reader = body.getReader()
    const chunks: Array<Uint8Array> = []
    let size = 0
    let done = false
    const settle = (outcome: Effect.Effect<string, "TooLarge" | HttpClientError.ResponseError>) => {
      if (done) return
      done = true
      chunks.length = 0
      resume(outcome)
    }
    const next = (): void => {
      reader.read().then(({ done: end, value }) => {
        if (done) return
        if (end) return settle(Effect.succeed(bodyText(Buffer.concat(chunks))))
        size += value.byteLength
        if (size > maxBytes) {
          reader.cancel().catch(() => undefined)
          return settle(Effect.fail("TooLarge"))
        }
        chunks.push(value)
        next()
      }, (cause) => settle(Effect.fail(decodeError(response, cause))))
    }
    next()
    return Effect.sync(() => {
      done = true
      chunks.length = 0
      reader.cancel().catch(() => undefined)
    })
  })

const readNode = (response: HttpClientResponse.HttpClientResponse, body: Readable, maxBytes: number) =>
  Effect.async<string, "TooLarge" | HttpClientError.ResponseError>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const stop = () => {
      body.off("data", onData)
      body.off("end", onEnd)
      body.off("error", onError)
      chunks.length = 0
    }
    const onData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk
      size += bytes.byteLength
      if (size > maxBytes) {
        stop()
        body.destroy()
        return resume(Effect.fail("TooLarge"))
      }
      chunks.push(bytes)
    }
    const onEnd = () => {
      const text = bodyText(Buffer.concat(chunks))
      stop()
      resume(Effect.succeed(text))
    }
    const onError = (cause: unknown) => {
      stop()
      resume(Effect.fail(decodeError(response, cause)))
    }
    body.on("data", onData)
    body.once("end", onEnd)
    body.once("error", onError)
    return Effect.sync(() => {
      stop()
      body.destroy()
    })
  })

const readStream = <E>(
  response: HttpClientResponse.HttpClientResponse,
  maxBytes: number,
  tooLarge: () => E
): Effect.Effect<string, E | HttpClientError.ResponseError> =>
  Stream.runFoldEffect(
    response.stream,
    { chunks: [] as Array<Uint8Array>, size: 0 },
    (acc, chunk): Effect.Effect<{ chunks: Array<Uint8Array>; size: number }, E> => {
      acc.size += chunk.length
      if (acc.size > maxBytes) return Effect.fail(tooLarge())
      acc.chunks.push(chunk)
      return Effect.succeed(acc)
    }
  ).pipe(Effect.map(({ chunks }) => bodyText(Buffer.concat(chunks))))

/**
 * The body as UTF-8 text (a leading byte order mark removed: `bodyText`, the lean client's rule),
 * refused past `maxBytes` (by `Content-Length` before reading, or by the bytes read so far), so a
 * huge answer is never buffered whole. Interrupting it stops the read (and cancels the body).
 *
 * @internal
 */
export const readCapped = <E>(
  response: HttpClientResponse.HttpClientResponse,
  maxBytes: number,
  tooLarge: () => E
): Effect.Effect<string, E | HttpClientError.ResponseError> => {
  const announced = response.headers["content-length"]
  if (announced !== undefined && Number(announced) > maxBytes) return Effect.fail(tooLarge())
  const body = bodyOf(response)
  if (body === undefined) return readStream(response, maxBytes, tooLarge)
  const read = body._tag === "Web" ? readWeb(response, body.body, maxBytes) : readNode(response, body.body, maxBytes)
  return Effect.catchIf(read, (error): error is "TooLarge" => error === "TooLarge", () => Effect.fail(tooLarge()))
}
