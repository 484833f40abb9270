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
 * The forms in which a value sent to WeChat can come back in an echoed message: raw,
 * percent-encoded (upper- and lower-case hex), form-encoded, and JSON-escaped (a POST's body).
 */
const formsOf = (secret: string): ReadonlyArray<string> => {
  const forms = new Set<string>([secret, secret.toWellFormed(), ...jsonForms(secret)])
  // as sent in a query (`'` as %27, a lone surrogate as U+FFFD), and as encodeURIComponent writes it;
  // matched case-insensitively: lower-case percent-encodings are covered too
  const sent = encodeQueryValue(secret)
  forms.add(sent)
  forms.add(sent.replace(/%27/g, "'"))
  forms.add(encodeFormComponent(secret))
  return [...forms].filter((form) => form.length > 0)
}

/**
 * WeChat's `errmsg`, fit for an error, a span or a log: every value in `secrets` (the app secret,
 * codes, tokens: whatever the request carried) removed in each of its encodings, control characters
 * replaced, and cut to 200 characters. A proxy or a misbehaving server may echo the query.
 *
 * @internal
 */
export const scrubErrmsg = (errmsg: unknown, secrets: ReadonlyArray<string>): string => {
  if (typeof errmsg !== "string") return ""
  let text = errmsg.length > 64 * 1024 ? errmsg.slice(0, 64 * 1024) : errmsg
  const forms = secrets.flatMap(formsOf)
  if (forms.length > 0) {
    // longest first, so that an encoded form is not half-replaced by a shorter raw one
    forms.sort((a, b) => b.length - a.length)
    text = text.replace(new RegExp(forms.map(escapeRegExp).join("|"), "gi"), "<redacted>")
  }
  // eslint-disable-next-line no-control-regex
  text = text.replace(/[\u0000-\u001f\u007f]/g, " ")
  return text.length > maxErrmsgLength ? `${text.slice(0, maxErrmsgLength - 3)}...` : text
}

/** @internal */
export { followedRedirect, readCapped } from "./boundedBody.js"
