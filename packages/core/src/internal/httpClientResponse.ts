import * as Cookies from "@effect/platform/Cookies"
import * as Headers from "@effect/platform/Headers"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Effect from "effect/Effect"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { redactRequest } from "./httpClientCause.js"

/** @internal */
export type IncomingHttpHeaders = Record<string, string | Array<string> | undefined>

const none = Option.none<string>()

/**
 * A body as UTF-8 text, a leading byte order mark removed (as `Response.text()` does). The one rule
 * for every client's answer: the lean client's and, through `readCapped`, any other `HttpClient`'s.
 *
 * @internal
 */
export const bodyText = (body: Uint8Array): string => {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8")
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
}

/**
 * A response whose body was read in full before it was handed out: every accessor answers from
 * memory, the decoded text is cached, and nothing refers to the socket any more.
 *
 * `toJSON` / `inspect` show the status and the (redacted) headers only: never the request (its
 * query holds WeChat's secrets) nor the body (it may hold tokens).
 *
 * @internal
 */
export class LeanResponse extends Inspectable.Class implements HttpClientResponse.HttpClientResponse {
  declare readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId
  declare readonly [HttpIncomingMessage.TypeId]: HttpIncomingMessage.TypeId

  // #private: printers that bypass `toJSON` (Node's uncaught-error printer) show no request nor body
  readonly #request: HttpClientRequest.HttpClientRequest
  readonly #status: number
  readonly #rawHeaders: IncomingHttpHeaders
  readonly #body: Uint8Array
  #headers: Headers.Headers | undefined = undefined
  #text: string | undefined = undefined

  constructor(
    request: HttpClientRequest.HttpClientRequest,
    status: number,
    rawHeaders: IncomingHttpHeaders,
    body: Uint8Array
  ) {
    super()
    this.#request = request
    this.#status = status
    this.#rawHeaders = rawHeaders
    this.#body = body
  }

  get request(): HttpClientRequest.HttpClientRequest {
    return this.#request
  }

  get status(): number {
    return this.#status
  }

  get headers(): Headers.Headers {
    return this.#headers ??= Headers.fromInput(this.#rawHeaders as Record<string, string | Array<string>>)
  }

  get cookies(): Cookies.Cookies {
    const header = this.#rawHeaders["set-cookie"]
    if (header === undefined) return Cookies.empty
    return Cookies.fromSetCookie(Array.isArray(header) ? header : [header])
  }

  get remoteAddress(): Option.Option<string> {
    return none
  }

  /** The body as UTF-8 text, a leading byte order mark removed (as `Response.text()` does). */
  private decodedText(): string {
    return this.#text ??= bodyText(this.#body)
  }

  get text(): Effect.Effect<string, HttpClientError.ResponseError> {
    return Effect.succeed(this.decodedText())
  }

  get json(): Effect.Effect<unknown, HttpClientError.ResponseError> {
    const text = this.decodedText()
    if (text === "") return Effect.succeed(null)
    try {
      return Effect.succeed(JSON.parse(text))
    } catch {
      // The engine's message quotes the body, which may hold a token: keep a generic one.
      return Effect.fail(this.decodeError("the body is not valid JSON", new SyntaxError("the body is not valid JSON")))
    }
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.ResponseError> {
    return Effect.succeed(UrlParams.fromInput(new URLSearchParams(this.decodedText())))
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.ResponseError> {
    const body = this.#body
    return Effect.succeed(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer)
  }

  get formData(): Effect.Effect<FormData, HttpClientError.ResponseError> {
    return Effect.tryPromise({
      try: () => {
        const contentType = this.#rawHeaders["content-type"]
        const init: ResponseInit = typeof contentType === "string" ? { headers: { "content-type": contentType } } : {}
        return new Response(this.#body as Uint8Array<ArrayBuffer>, init).formData()
      },
      catch: () => this.decodeError("the body is not form data", undefined)
    })
  }

  get stream(): Stream.Stream<Uint8Array, HttpClientError.ResponseError> {
    return this.#body.byteLength === 0 ? Stream.empty : Stream.succeed(this.#body)
  }

  private decodeError(description: string, cause: unknown): HttpClientError.ResponseError {
    return new HttpClientError.ResponseError({
      request: redactRequest(this.#request),
      response: this,
      reason: "Decode",
      description,
      ...(cause === undefined ? undefined : { cause })
    })
  }

  toJSON(): unknown {
    return {
      _id: "@effect/platform/HttpClientResponse",
      status: this.#status,
      headers: Inspectable.redact(this.headers)
    }
  }
}

Object.defineProperty(LeanResponse.prototype, HttpClientResponse.TypeId, { value: HttpClientResponse.TypeId })
Object.defineProperty(LeanResponse.prototype, HttpIncomingMessage.TypeId, { value: HttpIncomingMessage.TypeId })
