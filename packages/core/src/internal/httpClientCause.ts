import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as UrlParams from "@effect/platform/UrlParams"
import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"

/** @internal */
export type Kind = "ConnectionRefused" | "Timeout" | "Network"

/** @internal */
export type Phase = "connect" | "headers" | "body" | "unknown"

/** @internal */
export const deadlineCode = "WXAUTH_DEADLINE"

/** @internal */
export const tooLargeCode = "WXAUTH_RESPONSE_TOO_LARGE"

/**
 * The cleaned cause of a transport failure: what went wrong (`kind`), the system or undici error
 * code, and how far the exchange got (`phase`). It never holds the request URL's query nor the
 * original error object.
 *
 * @internal
 */
export class TransportCause extends Data.TaggedError("TransportCause")<{
  /**
   * `ConnectionRefused`: the host refused the connection (`ECONNREFUSED`); `Timeout`: the request's
   * deadline passed (`code` `WXAUTH_DEADLINE`) or a socket-level timer fired; `Network`: anything
   * else (reset, closed socket, DNS failure, TLS, a closed client).
   */
  readonly kind: Kind
  /** `WXAUTH_DEADLINE`, a system code (`ECONNREFUSED`, `ECONNRESET`...) or an undici code (`UND_ERR_SOCKET`...). */
  readonly code: string
  /**
   * `connect`: the request had not been handed to a socket (nothing was sent); `headers`: sent (maybe
   * partly), no response yet; `body`: the response had started; `unknown`: from another client.
   */
  readonly phase: Phase
  /** A description with any URL query and URL credentials removed. */
  readonly message: string
  /** The failing system call (`connect`, `getaddrinfo`...), when known. */
  readonly syscall?: string | undefined
}> {}

/** @internal */
export const isTransportCause = (u: unknown): u is TransportCause =>
  u instanceof TransportCause || Predicate.isTagged(u, "TransportCause")

// a query runs to a space, a quote or an angle bracket: a `)` or `]` may be a value's (a code, an
// openid: the URL a client prints need not be encoded as this library sends it)
const queryPattern = /\?[^\s"'<>]*/g
const credentialsPattern = /\/\/[^\s/@"'<>]*@/g

/** The most closing brackets given back after a redacted query. */
const maxRestored = 8

/**
 * How many of the innermost open brackets are remembered. Deeper ones are counted, their kind
 * forgotten: a message of millions of `(` costs this much, not an entry per bracket.
 */
const maxRemembered = 64

const opening = (closing: number): number => closing === 0x29 ? 0x28 : closing === 0x5d ? 0x5b : -1

/** A forgotten open bracket (deeper than {@link maxRemembered}): either closing bracket closes it. */
const forgotten = -1

/**
 * The brackets open in the text kept so far: how many (`depth`) and the kinds of the innermost
 * {@link maxRemembered}, in a ring. Exact up to that depth; past it, a closing bracket that meets a
 * forgotten bracket is taken to close it (what is given back after a query is closing brackets
 * only: never a query's value).
 */
class OpenBrackets {
  private readonly kinds: Array<number> = []
  private depth = 0
  private remembered = 0

  /** The `i`-th innermost open bracket (0: the innermost), `forgotten`, or `undefined` past the depth. */
  at(i: number): number | undefined {
    if (i >= this.depth) return undefined
    return i < this.remembered ? this.kinds[(this.depth - 1 - i) % maxRemembered] : forgotten
  }

  /** Takes in the kept `text`. */
  keep(text: string): string {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      if (c === 0x28 || c === 0x5b) {
        this.kinds[this.depth % maxRemembered] = c
        this.depth++
        if (this.remembered < maxRemembered) this.remembered++
      } else if (this.closes(c, 0)) {
        this.depth--
        if (this.remembered > 0) this.remembered--
      }
    }
    return text
  }

  /** Whether the closing bracket `c` closes the `i`-th innermost open bracket. */
  closes(c: number, i: number): boolean {
    const open = this.at(i)
    return open !== undefined && opening(c) !== -1 && (open === forgotten || open === opening(c))
  }
}

/**
 * How many of the closing brackets that end `query` close, innermost first, brackets still open in
 * the text before it: at most {@link maxRestored}, and never `query`'s `?`.
 */
const restoredClosers = (query: string, open: OpenBrackets): number => {
  let run = 0
  while (run < query.length - 1 && opening(query.charCodeAt(query.length - 1 - run)) !== -1) run++
  for (let k = Math.min(run, maxRestored); k > 0; k--) {
    let closes = true
    for (let i = 0; i < k && closes; i++) closes = open.closes(query.charCodeAt(query.length - k + i), i)
    if (closes) return k
  }
  return 0
}

/**
 * Removes URL queries and URL credentials from a message. A query is redacted whole, up to a space,
 * a quote or an angle bracket, whatever its values hold; a `)` or `]` that ends it and closes a
 * bracket opened before it is given back, so `"(GET https://h/p?a=1)b&secret=S)"` reads
 * `"(GET https://h/p?<redacted>)"`. Linear in the message, in constant extra memory but the result
 * (the brackets open are tracked to a depth of 64, see `OpenBrackets`).
 *
 * @internal
 */
export const sanitize = (message: string): string => {
  const open = new OpenBrackets()
  let out = ""
  let last = 0
  for (const match of message.matchAll(queryPattern)) {
    out += open.keep(message.slice(last, match.index))
    const restored = restoredClosers(match[0], open)
    out += "?<redacted>" + open.keep(match[0].slice(match[0].length - restored))
    last = match.index + match[0].length
  }
  out += message.slice(last)
  return out.replace(credentialsPattern, "//<redacted>@")
}

const timeoutCodes = new Set([
  deadlineCode,
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "TimeoutError",
  "TimeoutException"
])

/** @internal */
export const kindOf = (code: string): Kind =>
  code === "ECONNREFUSED" ? "ConnectionRefused" : timeoutCodes.has(code) ? "Timeout" : "Network"

const stringField = (u: unknown, key: string): string | undefined =>
  Predicate.hasProperty(u, key) && typeof u[key] === "string" && u[key] !== "" ? u[key] as string : undefined

const codeOf = (u: unknown): string | undefined => {
  const code = stringField(u, "code")
  if (code !== undefined) return code
  if (Predicate.hasProperty(u, "errors") && Array.isArray(u.errors)) {
    for (const inner of u.errors) {
      const innerCode = stringField(inner, "code")
      if (innerCode !== undefined) return innerCode
    }
  }
  // the DOMException of `AbortSignal.timeout` (fetch-based clients), Effect's `TimeoutException`
  const name = stringField(u, "name") ?? stringField(u, "_tag")
  return name === "TimeoutError" || name === "TimeoutException" ? name : undefined
}

const messageOf = (u: unknown): string => {
  const message = stringField(u, "message")
  if (message !== undefined) return message
  if (Predicate.hasProperty(u, "errors") && Array.isArray(u.errors)) {
    const messages = u.errors.map((inner) => stringField(inner, "message")).filter(Predicate.isString)
    if (messages.length > 0) return messages.join("; ")
  }
  return "transport failure"
}

/** undici's codes for a request given to a client that was closed. */
const closedCodes = new Set(["UND_ERR_DESTROYED", "UND_ERR_CLOSED"])

/** What a request on a closed client is told: before it was sent, or while it was in flight. */
const closedClient = (phase: Phase): string =>
  phase === "connect"
    ? "the HTTP client is closed: the scope (layer) that built it ended before this request was sent (at " +
      "shutdown, or a service used after its layer closed: provide the layer to the whole program, not to an " +
      "effect that returns the service)"
    : "the HTTP client was closed while this request was in flight: the scope (layer) that built it ended " +
      "(at shutdown: a request in flight gets up to its deadline, then the pool is destroyed)"

/**
 * The cleaned cause of an undici (or system) error met in `phase`.
 *
 * @internal
 */
export const fromError = (error: unknown, phase: Phase): TransportCause => {
  const code = codeOf(error) ?? "UNKNOWN"
  const syscall = stringField(error, "syscall")
  return new TransportCause({
    kind: kindOf(code),
    code,
    phase,
    // undici's own words ("The client is destroyed") read as a network failure
    message: closedCodes.has(code) ? closedClient(phase) : sanitize(messageOf(error)),
    ...(syscall === undefined ? undefined : { syscall })
  })
}

/**
 * The cause of a request that ran past its deadline.
 *
 * @internal
 */
export const deadline = (millis: number, phase: Phase): TransportCause =>
  new TransportCause({
    kind: "Timeout",
    code: deadlineCode,
    phase,
    message: `no complete response within the ${millis} ms deadline (${phaseText[phase]})`
  })

/**
 * The cause of an answer whose body is (or is announced to be) larger than the client accepts.
 *
 * @internal
 */
export const tooLarge = (maxBytes: number): TransportCause =>
  new TransportCause({
    kind: "Network",
    code: tooLargeCode,
    phase: "body",
    message: `the response body is larger than ${maxBytes} bytes`
  })

const phaseText: Record<Phase, string> = {
  connect: "waiting for a connection; nothing was sent",
  headers: "waiting for the response headers",
  body: "reading the response body",
  unknown: "unknown phase"
}

/**
 * Normalises the cause of any client's transport failure: a `TransportCause` as is, otherwise the
 * first error with a `code` along the `cause` chain (`fetch` wraps system errors in a `TypeError`).
 *
 * @internal
 */
export const toTransportCause = (u: unknown): TransportCause => {
  let current: unknown = Predicate.hasProperty(u, "_tag") && u._tag === "RequestError" &&
      Predicate.hasProperty(u, "cause")
    ? u.cause
    : u
  const outer = current
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    if (isTransportCause(current)) return current
    const code = codeOf(current)
    if (code !== undefined) {
      const phase: Phase = code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN" ||
          code === "UND_ERR_CONNECT_TIMEOUT"
        ? "connect"
        : "unknown"
      return fromError(current, phase)
    }
    current = Predicate.hasProperty(current, "cause") ? current.cause : undefined
  }
  return new TransportCause({ kind: "Network", code: "UNKNOWN", phase: "unknown", message: sanitize(messageOf(outer)) })
}

const redacted = "<redacted>"

/**
 * A copy of `request` fit for errors: `RequestError` / `ResponseError` print `request.url` in their
 * message and serialise `request.urlParams` in `toJSON`, and WeChat puts the app secret, codes and
 * tokens in the query. The copy keeps the method, the URL without its query or fragment, the query's
 * keys (values replaced by `<redacted>`) and the headers (printed through `Headers`' own redaction);
 * it drops the body.
 *
 * @internal
 */
export const redactRequest = (request: HttpClientRequest.HttpClientRequest): HttpClientRequest.HttpClientRequest => {
  const url = request.url
  const cut = url.search(/[?#]/)
  const params: Array<[string, string]> = []
  if (cut !== -1 && url[cut] === "?") {
    const end = url.indexOf("#", cut)
    for (const key of new URLSearchParams(url.slice(cut + 1, end === -1 ? undefined : end)).keys()) {
      params.push([key, redacted])
    }
  }
  for (const [key] of request.urlParams as UrlParams.UrlParams) params.push([key, redacted])
  return HttpClientRequest.get(cut === -1 ? url : url.slice(0, cut), {
    headers: request.headers,
    urlParams: params
  }).pipe(HttpClientRequest.setMethod(request.method))
}
