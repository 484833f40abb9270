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

const decodeEscape = (escape: string): string => String.fromCharCode(parseInt(escape.slice(1), 16))

/**
 * The forms in which a text can come back in an echoed message: raw, percent-encoded (upper- and
 * lower-case hex: `holdsRun` compares exactly), form-encoded, and JSON-escaped (a POST's body).
 */
const textForms = (value: string): ReadonlyArray<string> => {
  const sent = encodeQueryValue(value)
  return [
    value,
    value.toWellFormed(),
    ...jsonForms(value),
    // as sent in a query (`!'()*` escaped, a lone surrogate as U+FFFD), as encodeURIComponent writes
    // it, and as the URL parser sends it (`'` as %27)
    sent,
    sent.replace(/%(?:21|27|28|29|2A)/g, decodeEscape),
    sent.replace(/%(?:21|28|29|2A)/g, decodeEscape),
    sent.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
    encodeFormComponent(value)
  ]
}

/** The shortest run of a secret's characters redacted wherever it appears; a shorter secret is matched whole only. */
const minRun = 8

/** `value` without trailing `=` padding (a loop: `/=+$/` backtracks on a long run of `=`). */
const unpad = (value: string): string => {
  let end = value.length
  while (end > 0 && value.charCodeAt(end - 1) === 0x3d) end--
  return value.slice(0, end)
}

/**
 * The secret's UTF-8 bytes in base64 (standard and URL-safe, with and without padding) and hex.
 *
 * Base64 turns 3 bytes into 4 characters, so the characters of the secret's bytes inside the base64
 * of a longer text (a proxy echoing the whole query: `appid=...&secret=...`) depend on where they
 * fall in a 3-byte group. Besides the secret's own base64 (it starts a group), its two shifted
 * alignments: the base64 of `k` bytes (any) and the secret, for `k` = 1 and 2, without the leading
 * characters that hold bits of those bytes (2 for `k` = 1, 3 for `k` = 2) and without the trailing
 * character that holds bits of what follows (when `k` and the secret do not fill whole groups) or
 * padding; runs of these are matched like the other forms. Hex has no alignment: each byte is two
 * characters of its own, so the secret's hex is a substring of the hex of any text around it.
 */
const byteForms = (value: string): ReadonlyArray<string> => {
  const bytes = Buffer.from(value, "utf8")
  const base64 = bytes.toString("base64")
  const base64url = bytes.toString("base64url")
  const hex = bytes.toString("hex")
  const forms = [
    base64,
    unpad(base64),
    base64url,
    `${base64url}${"=".repeat((4 - base64url.length % 4) % 4)}`,
    hex,
    hex.toUpperCase()
  ]
  for (const k of [1, 2]) {
    const shifted = Buffer.concat([Buffer.alloc(k), bytes])
    const whole = (k + bytes.length) % 3 === 0
    for (const encoded of [shifted.toString("base64"), shifted.toString("base64url")]) {
      const form = unpad(encoded).slice(k + 1, whole ? undefined : -1)
      if (form.length >= minRun) forms.push(form)
    }
  }
  return forms
}

/**
 * A code point that is dropped before matching: a control (C0, DEL, C1), a format character
 * (zero-width, bidi, BOM, soft hyphen, tags) or a line / paragraph separator. An echo interleaved
 * with them is still an echo.
 */
const hiddenCharacters = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu
const formatCharacters = /\p{Cf}+/gu

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

/** A rolling hash of `minRun` code units (modulo 2^32): `hashBase` and its power `minRun - 1`. */
const hashBase = 0x01000193
const hashTop = Array.from({ length: minRun - 1 }).reduce<number>((power) => Math.imul(power, hashBase), 1)

/** The code unit of `text` at `i`, as matched. */
type CodeAt = (text: string, i: number) => number

const exactAt: CodeAt = (text, i) => text.charCodeAt(i)

/**
 * The code unit of `text` at `i`, an ASCII letter in lower case: an `errmsg`'s runs are matched
 * ignoring the case of ASCII letters, as whole forms are (an echo upper-cased, then cut short). One
 * code unit for one: what is matched keeps its length, so positions are those in `text`.
 */
const foldedAt: CodeAt = (text, i) => {
  const c = text.charCodeAt(i)
  return c >= 0x41 && c <= 0x5a ? c | 0x20 : c
}

/** Whether the `minRun` characters of `a` at `i` are those of `b` at `j`, as `at` reads them. */
const sameWindow = (at: CodeAt, a: string, i: number, b: string, j: number): boolean => {
  for (let k = 0; k < minRun; k++) if (at(a, i + k) !== at(b, j + k)) return false
  return true
}

/**
 * The distinct `minRun`-character windows of `forms`, in an open-addressing table by their rolling
 * hash (linear probing, at most half full): slot `s` holds, when `used[s]` is 1, the hash of a
 * window and where it is (`form[s]`, `offset[s]`). Built once a scrub, linear in the length of
 * `forms`: a lookup probes a run of slots whose length depends on the forms only.
 */
interface RunIndex {
  /** How characters are compared: exactly, or ignoring the case of ASCII letters. */
  readonly at: CodeAt
  readonly forms: ReadonlyArray<string>
  readonly mask: number
  readonly used: Uint8Array
  readonly hash: Int32Array
  readonly form: Int32Array
  readonly offset: Int32Array
}

/** The slot of the window of `text` at `start` (hash `hash`) in `index`, or -1. */
const findWindow = (index: RunIndex, hash: number, text: string, start: number): number => {
  for (let s = hash & index.mask; index.used[s] === 1; s = (s + 1) & index.mask) {
    if (index.hash[s] === hash && sameWindow(index.at, index.forms[index.form[s]], index.offset[s], text, start)) {
      return s
    }
  }
  return -1
}

const runIndex = (forms: ReadonlyArray<string>, at: CodeAt): RunIndex => {
  let windows = 0
  for (const form of forms) windows += Math.max(0, form.length - minRun + 1)
  let size = 16
  while (size < windows * 2) size *= 2
  const index: RunIndex = {
    at,
    forms,
    mask: size - 1,
    used: new Uint8Array(size),
    hash: new Int32Array(size),
    form: new Int32Array(size),
    offset: new Int32Array(size)
  }
  for (let f = 0; f < forms.length; f++) {
    const text = forms[f]
    let hash = 0
    for (let j = 0; j < text.length; j++) {
      if (j >= minRun) hash = (hash - Math.imul(at(text, j - minRun), hashTop)) | 0
      hash = (Math.imul(hash, hashBase) + at(text, j)) | 0
      if (j < minRun - 1) continue
      const start = j - minRun + 1
      let s = hash & index.mask
      for (; index.used[s] === 1; s = (s + 1) & index.mask) {
        if (index.hash[s] === hash && sameWindow(at, forms[index.form[s]], index.offset[s], text, start)) break
      }
      if (index.used[s] === 1) continue
      index.used[s] = 1
      index.hash[s] = hash
      index.form[s] = f
      index.offset[s] = start
    }
  }
  return index
}

/**
 * Marks in `covered` every run of at least `minRun` characters of `text` that also occurs in one of
 * the indexed forms (compared as the index compares), and tells whether there was one: each
 * `minRun`-character window of `text` is looked up once by its rolling hash, so the cost is linear
 * in the length of `text`, whatever it holds.
 */
const coverRuns = (text: string, index: RunIndex, covered: Uint8Array): boolean => {
  if (text.length < minRun || index.forms.length === 0) return false
  let hash = 0
  let filled = 0
  for (let i = 0; i < text.length; i++) {
    if (i >= minRun) hash = (hash - Math.imul(index.at(text, i - minRun), hashTop)) | 0
    hash = (Math.imul(hash, hashBase) + index.at(text, i)) | 0
    if (i < minRun - 1) continue
    const start = i - minRun + 1
    if (findWindow(index, hash, text, start) < 0) continue
    covered.fill(1, Math.max(start, filled), i + 1)
    filled = i + 1
  }
  return filled > 0
}

const isHigh = (text: string, i: number) => i >= 0 && (text.charCodeAt(i) & 0xfc00) === 0xd800
const isLow = (text: string, i: number) => i < text.length && (text.charCodeAt(i) & 0xfc00) === 0xdc00

/** Hidden characters from `lastIndex` on, and visible ones (sticky: each matches where it stands). */
const hiddenRun = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+/uy
const visibleRun = /[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+/uy

/** The end of the run `run` matches at `from` in `text` (`from` itself when there is none). */
const runEnd = (run: RegExp, text: string, from: number): number => {
  run.lastIndex = from
  return run.test(text) ? run.lastIndex : from
}

/** The most of an `errmsg` read (code units). */
const maxRead = 64 * 1024

/**
 * How many characters of the matched text (hidden characters dropped) are scrubbed at first. Only
 * 200 characters of the message are kept, and each of these characters becomes at least one
 * character of the message, unless it is redacted (each redacted stretch becomes one `<redacted>`).
 */
const scrubbedLength = 2048

/**
 * The message of the first `known` characters of `text` as matched (hidden characters dropped), or
 * `undefined` when it is too short to be cut to 200 characters and more of `text` is left to read.
 *
 * Only those and the `longest - 1` after them (the longest form of a secret, at least `minRun`)
 * are read and matched. Whether a character is redacted depends only on the matches that hold it,
 * and a match holding one of the first `known` characters starts among them and ends within
 * `longest` characters, so inside what was matched (whole forms are matched from the start, leftmost
 * first: the matches that start among the first `known` are those of the whole text). So those
 * characters are redacted exactly as if the whole `text` had been matched, and the ones after them
 * (a secret cut at the end of what was read would show its first few characters) are never written.
 */
const scrubPrefix = (
  text: string,
  truncated: boolean,
  known: number,
  longest: number,
  pattern: RegExp | undefined,
  runs: RunIndex
): string | undefined => {
  // the text as matched (at most `limit` code units), and where each of its code units is in `text`
  const limit = known + longest - 1
  const parts: Array<string> = []
  const origin = new Int32Array(Math.min(limit, text.length))
  let length = 0
  let read = 0
  while (read < text.length && length < limit) {
    read = runEnd(hiddenRun, text, read)
    if (read >= text.length) break
    const end = runEnd(
      visibleRun,
      text.length - read > limit - length ? text.slice(0, read + limit - length) : text,
      read
    )
    parts.push(text.slice(read, end))
    for (let i = read; i < end; i++) origin[length++] = i
    read = end
  }
  const visible = parts.join("")
  // whether `text` goes on past what was read, or the `errmsg` past `text`: then only the first
  // `kept` characters of `visible` are known to be scrubbed (at most `known`)
  const more = read < text.length
  const cut = more || truncated
  let kept = cut ? Math.max(0, Math.min(known, length - longest + 1)) : length
  if (kept > 0 && kept < length && isHigh(visible, kept - 1)) kept--
  const covered = new Uint8Array(length)
  if (pattern !== undefined) {
    for (const match of visible.matchAll(pattern)) covered.fill(1, match.index, match.index + match[0].length)
  }
  coverRuns(visible, runs, covered)
  // what is written: all of `text`, or up to the last character known to be scrubbed
  const until = !cut ? text.length : kept > 0 ? origin[kept - 1] + 1 : 0
  // each maximal covered stretch of `visible`, with what lies between its characters in `text`
  const redacted = new Uint8Array(until + 1)
  for (let start = 0; start < kept; start++) {
    if (covered[start] === 0) continue
    let end = start
    while (end + 1 < kept && covered[end + 1] === 1) end++
    // never half a surrogate pair
    const from = origin[start] - (isLow(text, origin[start]) && isHigh(text, origin[start] - 1) ? 1 : 0)
    const to = origin[end] + (isHigh(text, origin[end]) && isLow(text, origin[end] + 1) ? 2 : 1)
    redacted.fill(1, from, Math.min(to, until))
    start = end
  }
  // controls and separators as a space (a line break stays a word break), format characters dropped;
  // a hidden run is wholly inside a redacted stretch or wholly outside (a stretch ends on visible characters)
  let out = ""
  for (let i = 0; i < until && out.length <= maxErrmsgLength;) {
    if (redacted[i] === 1) {
      out += "<redacted>"
      while (i < until && redacted[i] === 1) i++
      continue
    }
    const hiddenEnd = Math.min(runEnd(hiddenRun, text, i), until)
    if (hiddenEnd > i) {
      // what is left once the format characters go: controls and separators, each one code unit
      const spaces = text.slice(i, hiddenEnd).replace(formatCharacters, "").length
      out += " ".repeat(Math.min(spaces, maxErrmsgLength + 1 - out.length))
      i = hiddenEnd
      continue
    }
    let end = runEnd(visibleRun, text.slice(0, Math.min(until, i + maxErrmsgLength + 1 - out.length)), i)
    for (let j = i; j < end; j++) {
      if (redacted[j] === 1) {
        end = j
        break
      }
    }
    out += text.slice(i, end)
    i = end
  }
  if (out.length > maxErrmsgLength - 3 && (cut || out.length > maxErrmsgLength)) {
    return `${out.slice(0, maxErrmsgLength - 3)}...`
  }
  if (more) return undefined
  return cut ? `${out}...` : out
}

/**
 * WeChat's `errmsg`, fit for an error, a span or a log: every value in `secrets` (the app secret,
 * codes, tokens: whatever the request carried) removed in each of its encodings, and any run of 8 or
 * more characters of one of them (a secret of 8 or more characters, cut short or split); both
 * ignoring the case of ASCII letters; control characters replaced, format characters dropped, and
 * cut to 200 characters. A proxy or a misbehaving server may echo the query.
 *
 * The message is matched without its hidden characters (controls, format characters: a secret
 * interleaved with them is found), and each maximal redacted stretch, with the hidden characters
 * inside it, becomes one `<redacted>`.
 *
 * The work is bounded by what is kept, not by the length of the `errmsg` (at most 64 KiB is read):
 * its first 2,048 characters (as matched) are scrubbed, which is enough for 200 characters of
 * message unless nearly all of them are redacted (an `errmsg` made of echoed secrets); then eight
 * times as many, and so on (see `scrubPrefix`). The cost is linear in what is read and in the
 * secrets: past 64 KiB the message ends with `...`, and a secret cut there is not shown.
 *
 * Total: should the scrub itself fail (it should not: a long form is matched by its runs), the whole
 * message is `<redacted>`.
 *
 * @internal
 */
export const scrubErrmsg = (errmsg: unknown, secrets: ReadonlyArray<string>): string => {
  if (typeof errmsg !== "string") return ""
  const text = errmsg.length > maxRead ? errmsg.slice(0, maxRead) : errmsg
  // never a throw (a secret's form too long for a regular expression...): the safe answer is none of it
  try {
    const forms: Array<string> = []
    const runForms: Array<string> = []
    let longest = minRun
    for (const secret of secrets) {
      const of = formsOf(secret)
      if (hasRuns(secret)) {
        runForms.push(...of)
        // a long form is matched by its runs alone: every 8-character window of it is in the index
        for (const form of of) if (form.length <= maxPatternForm) forms.push(form)
      } else {
        forms.push(...of)
      }
      for (const form of of) longest = Math.max(longest, form.length)
    }
    // whole forms, case-insensitively (lower-case percent-encodings and hex); longest first
    forms.sort((a, b) => b.length - a.length)
    const pattern = forms.length === 0 ? undefined : new RegExp(forms.map(escapeRegExp).join("|"), "gi")
    // compiled now (V8 compiles on first use): a pattern it refuses is caught here
    pattern?.test("")
    // runs ignoring case, as the whole forms
    const runs = runIndex(runForms, foldedAt)
    for (let known = scrubbedLength;; known *= 8) {
      const scrubbed = scrubPrefix(text, text.length < errmsg.length, known, longest, pattern, runs)
      if (scrubbed !== undefined) return scrubbed
    }
  } catch {
    return "<redacted>"
  }
}

/**
 * The longest form matched whole by `scrubErrmsg`'s regular expression (V8 refuses one whose literal
 * is over 32,767 code units: the hex of a 16.4K-character secret, the percent-encoding of a
 * 3.6K-character CJK one). A longer form, of a secret of 8 or more characters, is matched by its
 * runs, as a form cut short is: ignoring the case of ASCII letters only. A secret of fewer than 8
 * characters has no form this long.
 */
const maxPatternForm = 4096

/** Whether runs of `secret` are matched (else only the whole of it, by `scrubErrmsg`): 8 or more characters. */
const hasRuns = (secret: string): boolean => secret.length >= minRun

const decodedComponent = (component: string): string => {
  try {
    return decodeURIComponent(component)
  } catch {
    return component
  }
}

/**
 * The longest proxy URL, as given and as parsed: a scheme, credentials, a host and a port. The same
 * bound as `WeChatConfig`'s base URLs.
 *
 * @internal
 */
export const maxProxyUrlLength = 2048

/**
 * The credentials of a proxy URL that an answer read through it may echo, as secrets for
 * `scrubErrmsg` (an errmsg only: not `holdsRun`'s identity check, where a proxy user `userinfo`
 * would refuse the scope `snsapi_userinfo`): `user:password` as in the URL and decoded, the `Basic`
 * value sent in `Proxy-Authorization`, and the password alone (as in the URL and decoded), or the
 * user name alone when there is no password. None for a value that is not a URL.
 *
 * Each of them only when it is 8 characters or more (the shortest run `scrubErrmsg` looks for): a
 * shorter secret is removed wherever it appears whole, case-insensitively and in its hex and base64
 * forms, so a proxy user `wx` or a password `d` would cut words and WeChat's `rid` (a request id
 * worth quoting to WeChat's support) to pieces. The trade-off: a password (or lone user name) of
 * fewer than 8 characters echoed alone is shown; such a password is not a secret worth the name.
 * Echoed with the user name (`user:password`, the `Basic` value), it is still removed when that
 * form is long enough.
 *
 * None for a URL of more than {@link maxProxyUrlLength} characters either: `WeChatHttpClient`
 * refuses such a proxy, and a `WeChatHttpClient.ProxyUrl` provided otherwise (any layer may) is no
 * real proxy URL; refusing it would put a new error on every call, and its forms, up to a dozen
 * times its length, would be built and looked for in every `errmsg`.
 *
 * @internal
 */
export const proxyCredentialsOf = (proxyUrl: string): ReadonlyArray<string> => {
  if (proxyUrl.length > maxProxyUrlLength) return []
  let url: URL
  try {
    url = new URL(proxyUrl)
  } catch {
    return []
  }
  const { password, username } = url
  if (username === "" && password === "") return []
  const pair = `${decodedComponent(username)}:${decodedComponent(password)}`
  const alone = password === "" ? username : password
  const forms = [
    `${username}:${password}`,
    pair,
    Buffer.from(pair).toString("base64"),
    alone,
    decodedComponent(alone)
  ]
  return [...new Set(forms)].filter((form) => form.length >= minRun)
}

/**
 * The forms whose runs `scrubErrmsg` redacts, of those of `secrets` that have runs (8 or more
 * characters): computed once for a secret that does not change (the app secret), then handed to
 * `holdsRun` with a call's values.
 *
 * @internal
 */
export const runFormsOf = (secrets: ReadonlyArray<string>): ReadonlyArray<string> => {
  const forms: Array<string> = []
  for (const secret of secrets) if (hasRuns(secret)) forms.push(...formsOf(secret))
  return forms
}

/**
 * Whether one of `texts` (hidden characters dropped, as an `errmsg` is matched) holds a run that
 * `scrubErrmsg` would redact: 8 or more characters of a form of one of `secrets`, or of `forms`
 * (from `runFormsOf`), compared exactly (`scrubErrmsg` ignores the case of ASCII letters). For the fields of a success answer that become a user's identity (an openid,
 * a unionid, a scope): an answer that quotes what the request sent is refused, not stored. A value
 * shorter than 8 characters is not looked for (matched whole, it would refuse an id by chance).
 *
 * Costs a table of the forms' windows and one pass over each text: for the rare calls (code
 * exchanges, refreshes), not for `userinfo`'s hot path.
 *
 * @internal
 */
export const holdsRun = (
  texts: ReadonlyArray<string | undefined>,
  forms: ReadonlyArray<string>,
  secrets: ReadonlyArray<string>
): boolean => {
  // exactly: WeChat's ids are case-sensitive, and an openid sharing 8 letters with a code but for
  // their case (`o_from_request`, `CODE_FOR_REQUEST`) is no echo
  const index = runIndex([...forms, ...runFormsOf(secrets)], exactAt)
  for (const text of texts) {
    if (text === undefined) continue
    const visible = text.replace(hiddenCharacters, "")
    if (coverRuns(visible, index, new Uint8Array(visible.length))) return true
  }
  return false
}

/** @internal */
export { followedRedirect, readCapped } from "./boundedBody.js"
