/**
 * Request bodies, read only when they are small: every body this app takes (the dev panel's form,
 * the mini program's JSON) is a few hundred bytes at most, so one cap, `maxBodyBytes`, holds for all
 * of them. A body is only read once its `Content-Length` says it fits; one without (chunked) or over
 * the cap is not read at all, and the answer closes the connection. The read itself has a deadline,
 * `ReadTimeout` (10 s), so a client that stops sending does not hold a fiber (and its connection)
 * for ever: it is answered 408 and the connection is closed.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { Problem } from "./Problems.js"
import { problems } from "./Problems.js"

/** The most any request body may weigh, in bytes (the `too-large` page says 16 KiB). */
export const maxBodyBytes = 16 * 1024

/** How long reading a body may take: 10 seconds, unless the app's layer is given another (tests). */
export class ReadTimeout extends Context.Reference<ReadTimeout>()("@wxauth/example-web-login/ReadTimeout", {
  defaultValue: (): Duration.Duration => Duration.seconds(10)
}) {}

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

/**
 * Reads the body within `ReadTimeout`: `None` when it does not arrive in time, else `Some` of what
 * was read (`None` when it could not be). At the deadline the read is left running, in the request's
 * scope: interrupting it destroys the request, and its socket with it, so the 408 would never be
 * written. The scope ends once the answer is handed to the socket, and the read with it.
 */
const withinDeadline = <A, E, R>(read: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const timeout = yield* ReadTimeout
    const reading = yield* Effect.forkScoped(
      Effect.option(HttpServerRequest.withMaxBodySize(read, Option.some(maxBodyBytes)))
    )
    const done = yield* Effect.option(Effect.timeout(Fiber.await(reading), timeout))
    return Option.map(done, (exit) => Exit.getOrElse(exit, () => Option.none<A>()))
  })

/**
 * The body as a form (empty when it cannot be read), once `refusal` has let it through; the
 * `timeout` problem (408) when it does not arrive within `ReadTimeout`.
 */
export const form = (
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<Either.Either<UrlParams.UrlParams, Problem>, never, Scope.Scope> =>
  Effect.map(withinDeadline(request.urlParamsBody), (read) =>
    Option.match(read, {
      onNone: () => Either.left(problems.timeout),
      onSome: (body) => Either.right(Option.getOrElse(body, () => UrlParams.empty))
    }))

/** Whether the request says its body is JSON (`application/json`, with or without parameters). */
const isJson = (request: HttpServerRequest.HttpServerRequest): boolean =>
  /^application\/json\s*(;|$)/i.test(request.headers["content-type"] ?? "")

/**
 * The body as JSON of `schema`, or the problem that keeps it from being read: not JSON by its
 * `Content-Type` (415: an HTML form cannot send JSON across sites without asking first), no length
 * or too long (411, 413), not all there within `ReadTimeout` (408), unreadable or not of the schema
 * (400). Nothing of the body is echoed.
 */
export const json = <A, I>(
  schema: Schema.Schema<A, I>
): Effect.Effect<Either.Either<A, Problem>, never, HttpServerRequest.HttpServerRequest | Scope.Scope> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (!isJson(request)) return Either.left(problems["unsupported-type"])
    const refused = refusal(request)
    if (refused !== undefined) return Either.left(refused)
    const read = yield* withinDeadline(request.text)
    if (Option.isNone(read)) return Either.left(problems.timeout)
    if (Option.isNone(read.value)) return Either.left(problems["bad-request"])
    return Either.mapLeft(
      Schema.decodeUnknownEither(Schema.parseJson(schema))(read.value.value),
      () => problems["bad-request"]
    )
  })
