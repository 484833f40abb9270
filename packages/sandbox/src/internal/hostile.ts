/**
 * The bodies of the hostile faults: JSON nested past a recursive parser's stack, a body too large
 * to hold (made as it is sent), a body that drips, number texts `JSON.stringify` cannot write
 * (`1e400`), and an errmsg that echoes the request the way a misbehaving proxy does.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Ids from "./ids.js"

const encoder = new TextEncoder()

/** `[[[…]]]`, `depth` levels deep. @internal */
export const nestedArray = (depth: number): string => "[".repeat(depth) + "]".repeat(depth)

/** A string `JSON.stringify` writes unchanged, and which no answer of the sandbox contains. */
const PLACEHOLDER = "\u0000wxauth-sandbox-raw-json\u0000"

/**
 * `body` as JSON text, with the value of `field` (added last if the body has none) written as the
 * raw JSON text `raw`: a nested array, or a number `JSON.stringify` cannot write.
 *
 * @internal
 */
export const withRawField = (body: Readonly<Record<string, unknown>>, field: string, raw: string): string =>
  JSON.stringify({ ...body, [field]: PLACEHOLDER }).replace(JSON.stringify(PLACEHOLDER), () => raw)

/** How much of a `huge` body one piece carries. */
const HUGE_PIECE_BYTES = 64 * 1024

/**
 * `{"openid":"aaa…"}`, exactly `bytes` bytes (at least 16), made piece by piece as it is read: the
 * same 64 KiB of `a` is sent again and again, so a body of any size costs 64 KiB to send.
 *
 * @internal
 */
export const hugeBody = (bytes: number): Stream.Stream<Uint8Array> =>
  Stream.suspend(() => {
    const head = encoder.encode("{\"openid\":\"")
    const tail = encoder.encode("\"}")
    const fill = bytes - head.length - tail.length
    const piece = new Uint8Array(Math.min(HUGE_PIECE_BYTES, fill)).fill(0x61)
    const middle = Stream.unfold(
      fill,
      (left) =>
        left <= 0 ?
          Option.none() :
          Option.some([left >= piece.length ? piece : piece.subarray(0, left), left - piece.length] as const)
    )
    return Stream.make(head).pipe(Stream.concat(middle), Stream.concat(Stream.make(tail)))
  })

/**
 * `text` (ASCII) sent one byte every `intervalMs` of `Clock` time, the first at once, the last at
 * `delayMs`: the text is padded with leading spaces (JSON's whitespace) to one byte per write, and
 * if it is longer, its rest goes with the last write. Interrupting the stream stops it: no timer is
 * left behind.
 *
 * @internal
 */
export const dripBody = (
  text: string,
  intervalMs: number,
  delayMs: number
): { readonly bytes: number; readonly stream: Stream.Stream<Uint8Array> } => {
  const writes = Math.floor(delayMs / intervalMs) + 1
  const all = encoder.encode(text.length >= writes ? text : " ".repeat(writes - text.length) + text)
  const piece = (i: number) => i < writes - 1 ? all.subarray(i, i + 1) : all.subarray(i)
  const stream = Stream.range(0, writes - 1).pipe(
    Stream.mapEffect((i) =>
      i === 0 ? Effect.succeed(piece(i)) : Effect.as(Effect.sleep(Duration.millis(intervalMs)), piece(i))
    )
  )
  return { bytes: all.length, stream }
}

/** Percent-decodes once, as far as the text allows: a run that is not UTF-8 stays as it is. */
const percentDecode = (text: string): string =>
  text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run)
    } catch {
      return run
    }
  })

/** WeChat's words for the errcodes an `echo` fault is likely given. */
const errmsgs: Readonly<Record<number, string>> = {
  [-1]: "system error",
  40001: "invalid credential, access_token is invalid or not latest",
  40003: "invalid openid",
  40013: "invalid appid",
  40029: "invalid code",
  40030: "invalid refresh_token",
  40125: "invalid appsecret",
  40163: "code been used",
  41008: "missing code",
  42001: "access_token expired",
  42002: "refresh_token expired",
  42003: "code expired",
  45011: "api minute-quota reach limit mustslower retry next minute"
}

/**
 * An errmsg that echoes the request, as a proxy that "helpfully" adds the request to the error does:
 * `invalid code, hints: [ req: GET /sns/…?appid=…&secret=…&code=… ] [ decoded: GET /sns/… ]`, and
 * for a request with a body `[ body: … ] [ body decoded: … ]`; then WeChat's `rid`.
 *
 * @internal
 */
export const echoErrmsg = (
  errcode: number,
  errmsg: string | undefined,
  request: { readonly method: string; readonly url: URL; readonly body: string }
): string => {
  const target = `${request.url.pathname}${request.url.search}`
  const hints = [`req: ${request.method} ${target}`, `decoded: ${request.method} ${percentDecode(target)}`]
  if (request.body !== "") hints.push(`body: ${request.body}`, `body decoded: ${percentDecode(request.body)}`)
  return `${errmsg ?? errmsgs[errcode] ?? "invalid request"}, hints: ${
    hints.map((hint) => `[ ${hint} ]`).join(" ")
  } rid: ${Ids.randomRid()}`
}
