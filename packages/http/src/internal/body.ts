/**
 * Request bodies of the JSON endpoints, read only when they are small: every body the login takes
 * (a code from a mini program) is a few hundred bytes, so one cap, `maxBodyBytes`, holds for all.
 * A body is read once its `Content-Length` says it fits; one without (chunked) or over the cap is
 * not read at all (411, 413), and the answer closes the connection. The read itself is capped too
 * (a body longer than it announced is refused) and has a deadline, `ReadTimeout` (10 s), so a client
 * that stops sending does not hold a fiber (and its connection) forever: it is answered 408
 * (`timeout`) and the connection is closed.
 *
 * @internal
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type Problem, problems } from "./problems.js"

/** The most any request body may weigh, in bytes (the `too-large` problem says 16 KiB). @internal */
export const maxBodyBytes = 16 * 1024

/**
 * How long reading a body may take: 10 seconds (the `timeout` problem says so), unless the server's
 * context gives another (the tests). @internal
 */
export class ReadTimeout extends Context.Reference<ReadTimeout>()("@wxauth/http/internal/body/ReadTimeout", {
  defaultValue: (): Duration.Duration => Duration.seconds(10)
}) {}

/** Whether the request says its body is JSON (`application/json`, with or without parameters). */
const isJson = (request: HttpServerRequest.HttpServerRequest): boolean =>
  /^application\/json\s*(;|$)/i.test(request.headers["content-type"] ?? "")

/**
 * Why this request's body is not read: no `Content-Length` (411) or one over `maxBodyBytes` (413);
 * `undefined` when it may be read.
 *
 * @internal
 */
export const refusal = (request: HttpServerRequest.HttpServerRequest): Problem | undefined => {
  const length = request.headers["content-length"]
  if (length === undefined) return problems["length-required"]
  if (!/^\d{1,16}$/.test(length) || Number(length) > maxBodyBytes) return problems["too-large"]
  return undefined
}

class TooLong {
  readonly _tag = "TooLong"
}

/** The body's bytes, at most `maxBodyBytes`; `None` when it cannot be read or is longer. */
const readCapped = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<Option.Option<Uint8Array>> =>
  request.stream.pipe(
    Stream.mapAccumEffect(0, (total, chunk: Uint8Array) => {
      const next = total + chunk.length
      return next > maxBodyBytes ? Effect.fail(new TooLong()) : Effect.succeed([next, chunk] as const)
    }),
    Stream.runCollect,
    Effect.map((chunks) => {
      const all = Chunk.toReadonlyArray(chunks)
      const bytes = new Uint8Array(all.reduce((n, c) => n + c.length, 0))
      let at = 0
      for (const c of all) {
        bytes.set(c, at)
        at += c.length
      }
      return bytes
    }),
    Effect.option
  )

/**
 * `readCapped` within `ReadTimeout`: `None` when the body is not all there by then, else `Some` of
 * what was read. At the deadline the read is left running, in the request's scope: interrupting it
 * makes `@effect/platform-node` destroy the request, and its socket with it, so the 408 would never
 * be written. The scope ends once the answer is handed to the server (which closes the connection,
 * `connection: close`), and the read with it. Only the wait is cut, interruptibly: a server may run
 * the handler uninterruptibly.
 */
const readWithinDeadline = (
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<Option.Option<Option.Option<Uint8Array>>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const deadline = yield* ReadTimeout
    const reading = yield* Effect.forkScoped(readCapped(request))
    const done = yield* Effect.option(Effect.timeout(Effect.interruptible(Fiber.await(reading)), deadline))
    return Option.map(done, (exit) => Exit.getOrElse(exit, () => Option.none<Uint8Array>()))
  })

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })

/**
 * The body as JSON of `schema`, or the problem that keeps it from being read: not JSON by its
 * `Content-Type` (415: an HTML form cannot send JSON across sites without a preflight), no length
 * or too long (411, 413), not all there within `ReadTimeout` (408), unreadable, not UTF-8, not JSON
 * or not of the schema (400). Nothing of the body is echoed.
 *
 * @internal
 */
export const json = <A, I>(
  request: HttpServerRequest.HttpServerRequest,
  schema: Schema.Schema<A, I>
): Effect.Effect<Either.Either<A, Problem>, never, Scope.Scope> =>
  Effect.gen(function*() {
    if (!isJson(request)) return Either.left(problems["unsupported-type"])
    const refused = refusal(request)
    if (refused !== undefined) return Either.left(refused)
    const read = yield* readWithinDeadline(request)
    if (Option.isNone(read)) return Either.left(problems.timeout)
    const bytes = read.value
    if (Option.isNone(bytes)) return Either.left(problems["bad-request"])
    let text: string
    try {
      text = strictUtf8.decode(bytes.value)
    } catch {
      return Either.left(problems["bad-request"])
    }
    return Either.mapLeft(Schema.decodeUnknownEither(Schema.parseJson(schema))(text), () => problems["bad-request"])
  })
