/**
 * Reading WeChat's answers as untrusted input: a bounded body, a bounded description of a shape
 * error (never the value itself: it may hold tokens, or be nested deep enough to overflow a stack
 * when printed), and an `errmsg` scrubbed of every secret the request carried.
 *
 * @internal
 */
import type * as ParseResult from "effect/ParseResult"
import { encodeFormComponent } from "./httpClient.js"
import { encodeQueryValue } from "./query.js"

/** The longest `errmsg` kept in an error, after scrubbing. @internal */
export const maxErrmsgLength = 200

const maxIssues = 5
const maxSteps = 200
const maxSegment = 40

const segment = (key: PropertyKey): string => {
  const text = typeof key === "symbol" ? "<symbol>" : String(key)
  return text.length > maxSegment ? `${text.slice(0, maxSegment)}...` : text
}

/**
 * Paths and issue kinds of a parse error, at most five, found with a bounded walk of the issue tree.
 * `actual` values are never read: they are WeChat's data.
 *
 * @internal
 */
export const describeParseIssue = (issue: ParseResult.ParseIssue): string => {
  const found: Array<string> = []
  const stack: Array<readonly [ParseResult.ParseIssue, ReadonlyArray<string>]> = [[issue, []]]
  let steps = 0
  while (stack.length > 0 && found.length < maxIssues && steps++ < maxSteps) {
    const [current, path] = stack.pop()!
    switch (current._tag) {
      case "Pointer": {
        const keys: ReadonlyArray<PropertyKey> = Array.isArray(current.path)
          ? current.path
          : [current.path as PropertyKey]
        stack.push([current.issue, [...path, ...keys.map(segment)]])
        break
      }
      case "Composite": {
        const issues: ReadonlyArray<ParseResult.ParseIssue> = Array.isArray(current.issues)
          ? current.issues
          : [current.issues as ParseResult.ParseIssue]
        for (let i = Math.min(issues.length, maxSteps) - 1; i >= 0; i--) stack.push([issues[i], path])
        break
      }
      case "Refinement":
      case "Transformation":
        stack.push([current.issue, path])
        break
      default:
        found.push(`${path.length === 0 ? "body" : path.join(".")}: ${current._tag}`)
    }
  }
  return `unexpected shape (${found.length === 0 ? "body: Type" : found.join(", ")})`
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * `value` as it stands inside a JSON string: `JSON.stringify`'s escapes, and with `/` as `\/` and
 * non-ASCII as `\uXXXX` (PHP's `json_encode`), for an echoed JSON body.
 */
const jsonForms = (value: string): ReadonlyArray<string> => {
  const json = JSON.stringify(value).slice(1, -1)
  const ascii = json.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
  return [json, ascii, json.replace(/\//g, "\\/"), ascii.replace(/\//g, "\\/")]
}

/**
 * The forms in which a text can come back in an echoed message: raw, percent-encoded (upper- and
 * lower-case hex), form-encoded, and JSON-escaped (a POST's body).
 */
const textForms = (value: string): ReadonlyArray<string> => {
  const sent = encodeQueryValue(value)
  return [
    value,
    value.toWellFormed(),
    ...jsonForms(value),
    // as sent in a query (`'` as %27, a lone surrogate as U+FFFD), and as encodeURIComponent writes it
    sent,
    sent.replace(/%27/g, "'"),
    // lower-case percent-encodings (the whole forms are matched case-insensitively; runs are not)
    sent.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
    encodeFormComponent(value)
  ]
}

/** `value` without trailing `=` padding (a loop: `/=+$/` backtracks on a long run of `=`). */
const unpad = (value: string): string => {
  let end = value.length
  while (end > 0 && value.charCodeAt(end - 1) === 0x3d) end--
  return value.slice(0, end)
}

/** The secret's UTF-8 bytes in base64 (standard and URL-safe, with and without padding) and hex. */
const byteForms = (value: string): ReadonlyArray<string> => {
  const bytes = Buffer.from(value, "utf8")
  const base64 = bytes.toString("base64")
  const base64url = bytes.toString("base64url")
  const hex = bytes.toString("hex")
  return [
    base64,
    unpad(base64),
    base64url,
    `${base64url}${"=".repeat((4 - base64url.length % 4) % 4)}`,
    hex,
    hex.toUpperCase()
  ]
}

/**
 * A code point that is dropped before matching: a control (C0, DEL, C1), a format character
 * (zero-width, bidi, BOM, soft hyphen, tags) or a line / paragraph separator. An echo interleaved
 * with them is still an echo.
 */
const hiddenCharacter = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u
const hiddenCharacters = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu

/**
 * Every form in which a value sent to WeChat can come back in an echoed message: its text forms,
 * those of its text without trailing `=` padding, and its bytes in base64 and hex; each without
 * hidden characters, as the message is matched.
 */
const formsOf = (secret: string): ReadonlyArray<string> => {
  const unpadded = unpad(secret)
  const forms = new Set<string>()
  for (
    const form of [...textForms(secret), ...(unpadded === secret ? [] : textForms(unpadded)), ...byteForms(secret)]
  ) {
    const visible = form.replace(hiddenCharacters, "")
    if (visible.length > 0) forms.add(visible)
  }
  return [...forms]
}

/** The shortest run of a secret's characters redacted wherever it appears; a shorter secret is matched whole only. */
const minRun = 8

/**
 * Marks in `covered` every run of at least `minRun` characters of `text` that also occurs in one of
 * `forms`: each `minRun`-character window of `text` is looked up once, so the cost is linear in the
 * lengths of `text` and `forms`, whatever they hold.
 */
const coverRuns = (text: string, forms: ReadonlyArray<string>, covered: Uint8Array): void => {
  if (text.length < minRun || forms.length === 0) return
  const windows = new Map<string, Array<number>>()
  for (let i = 0; i + minRun <= text.length; i++) {
    const window = text.slice(i, i + minRun)
    const at = windows.get(window)
    if (at === undefined) windows.set(window, [i])
    else at.push(i)
  }
  for (const form of forms) {
    for (let j = 0; j + minRun <= form.length && windows.size > 0; j++) {
      const window = form.slice(j, j + minRun)
      const at = windows.get(window)
      if (at === undefined) continue
      windows.delete(window)
      for (const i of at) covered.fill(1, i, i + minRun)
    }
  }
}

const isHigh = (text: string, i: number) => i >= 0 && (text.charCodeAt(i) & 0xfc00) === 0xd800
const isLow = (text: string, i: number) => i < text.length && (text.charCodeAt(i) & 0xfc00) === 0xdc00

/**
 * WeChat's `errmsg`, fit for an error, a span or a log: every value in `secrets` (the app secret,
 * codes, tokens: whatever the request carried) removed in each of its encodings, and any run of 8 or
 * more characters of one of them (a secret of 8 or more characters, cut short or split); control
 * characters replaced, format characters dropped, and cut to 200 characters. A proxy or a
 * misbehaving server may echo the query.
 *
 * The message is matched without its hidden characters (controls, format characters: a secret
 * interleaved with them is found), and each maximal redacted stretch, with the hidden characters
 * inside it, becomes one `<redacted>`.
 *
 * @internal
 */
export const scrubErrmsg = (errmsg: unknown, secrets: ReadonlyArray<string>): string => {
  if (typeof errmsg !== "string") return ""
  const text = errmsg.length > 64 * 1024 ? errmsg.slice(0, 64 * 1024) : errmsg
  // the text as matched (hidden characters dropped), and where each of its code units is in `text`
  let visible = ""
  const origin: Array<number> = []
  for (let i = 0; i < text.length;) {
    const point = text.codePointAt(i)!
    const size = point > 0xffff ? 2 : 1
    if (!hiddenCharacter.test(String.fromCodePoint(point))) {
      visible += text.slice(i, i + size)
      for (let k = 0; k < size; k++) origin.push(i + k)
    }
    i += size
  }
  const covered = new Uint8Array(visible.length)
  const forms: Array<string> = []
  const runForms: Array<string> = []
  for (const secret of secrets) {
    const of = formsOf(secret)
    forms.push(...of)
    if (secret.length >= minRun) runForms.push(...of)
  }
  if (forms.length > 0) {
    // whole forms, case-insensitively (lower-case percent-encodings and hex); longest first
    forms.sort((a, b) => b.length - a.length)
    for (const match of visible.matchAll(new RegExp(forms.map(escapeRegExp).join("|"), "gi"))) {
      covered.fill(1, match.index, match.index + match[0].length)
    }
    coverRuns(visible, runForms, covered)
  }
  // each maximal covered stretch of `visible`, with what lies between its characters in `text`
  const redacted = new Uint8Array(text.length)
  for (let start = 0; start < covered.length; start++) {
    if (covered[start] === 0) continue
    let end = start
    while (end + 1 < covered.length && covered[end + 1] === 1) end++
    // never half a surrogate pair
    const from = origin[start] - (isLow(text, origin[start]) && isHigh(text, origin[start] - 1) ? 1 : 0)
    const to = origin[end] + (isHigh(text, origin[end]) && isLow(text, origin[end] + 1) ? 2 : 1)
    redacted.fill(1, from, to)
    start = end
  }
  let out = ""
  for (let i = 0; i < text.length;) {
    if (redacted[i] === 1) {
      out += "<redacted>"
      while (i < text.length && redacted[i] === 1) i++
      continue
    }
    const point = text.codePointAt(i)!
    const size = point > 0xffff ? 2 : 1
    const character = text.slice(i, i + size)
    // controls and separators as a space (a line break stays a word break), format characters dropped
    out += hiddenCharacter.test(character) ? (/\p{Cf}/u.test(character) ? "" : " ") : character
    i += size
  }
  return out.length > maxErrmsgLength ? `${out.slice(0, maxErrmsgLength - 3)}...` : out
}

/** @internal */
export { followedRedirect, readCapped } from "./boundedBody.js"
