/**
 * Request bodies, read only when they are small: every body this app takes (the dev panel's form,
 * the mini program's JSON) is a few hundred bytes at most, so one cap, `maxBodyBytes`, holds for all
 * of them. A body is only read once its `Content-Length` says it fits; one without (chunked) or over
 * the cap is not read at all, and the answer closes the connection.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Problem } from "./Problems.js"
import { problems } from "./Problems.js"

/** The most any request body may weigh, in bytes (the `too-large` page says 16 KiB). */
export const maxBodyBytes = 16 * 1024

/**
 * Why this request's body is not read: no `Content-Length` (411) or one over `maxBodyBytes` (413);
 * `undefined` when it may be read.
 */
export const refusal = (request: HttpServerRequest.HttpServerRequest): Problem | undefined => {
  const length = request.headers["content-length"]
  if (length === undefined) return problems["length-required"]
  if (!/^\d{1,16}$/.test(length) || Number(length) > maxBodyBytes) return problems["too-large"]
  return undefined
}

/** The body as a form (empty when it cannot be read), once `refusal` has let it through. */
export const form = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<UrlParams.UrlParams> =>
  request.urlParamsBody.pipe(
    HttpServerRequest.withMaxBodySize(Option.some(maxBodyBytes)),
    Effect.orElseSucceed(() => UrlParams.empty)
  )

/** Whether the request says its body is JSON (`application/json`, with or without parameters). */
const isJson = (request: HttpServerRequest.HttpServerRequest): boolean =>
  /^application\/json\s*(;|$)/i.test(request.headers["content-type"] ?? "")

/**
 * The body as JSON of `schema`, or the problem that keeps it from being read: not JSON by its
 * `Content-Type` (415: an HTML form cannot send JSON across sites without asking first), no length
 * or too long (411, 413), unreadable or not of the schema (400). Nothing of the body is echoed.
 */
export const json = <A, I>(
  schema: Schema.Schema<A, I>
): Effect.Effect<Either.Either<A, Problem>, never, HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (!isJson(request)) return Either.left(problems["unsupported-type"])
    const refused = refusal(request)
    if (refused !== undefined) return Either.left(refused)
    const text = yield* request.text.pipe(
      HttpServerRequest.withMaxBodySize(Option.some(maxBodyBytes)),
      Effect.option
    )
    if (Option.isNone(text)) return Either.left(problems["bad-request"])
    return Either.mapLeft(
      Schema.decodeUnknownEither(Schema.parseJson(schema))(text.value),
      () => problems["bad-request"]
    )
  })
