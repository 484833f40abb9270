/**
 * The query strings of WeChat's endpoints, built in one place. Every value is percent-encoded as
 * `encodeURIComponent` does, and also `!'()*` (`%21`, `%27`, `%28`, `%29`, `%2A`: only letters,
 * digits and `-_.~` are sent as they are) and lone surrogates (U+FFFD, as `URLSearchParams` writes
 * one): a query built here is sent byte for byte as it is, with no URL parse and no check per call,
 * and no value (a caller's argument, a token from a hostile answer) can make the encoding throw. A
 * value never holds a bracket or a quote, so the query of a URL quoted in a message (`(GET url)`)
 * ends where the URL does.
 *
 * @internal
 */
import type * as Brand from "effect/Brand"
import { isVerbatimQuery } from "./httpClient.js"

/**
 * A query built by {@link query}: its values encoded, its literal parts checked; sent as it is.
 *
 * @internal
 */
export type Query = string & Brand.Brand<"@wxauth/core/Query">

// what encodeURIComponent leaves as it is, but for !'()* (RFC 3986's unreserved characters)
const unreserved = new Uint8Array(128)
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~") {
  unreserved[c.charCodeAt(0)] = 1
}

const subDelimiters = /[!'()*]/g
const escapeSubDelimiter = (c: string): string => `%${c.charCodeAt(0).toString(16).toUpperCase()}`

// a lone surrogate as U+FFFD first (`toWellFormed`): encodeURIComponent throws on one
const encodeSlow = (value: string): string =>
  encodeURIComponent(value.toWellFormed()).replace(subDelimiters, escapeSubDelimiter)

/**
 * `value` percent-encoded for a query: `encodeURIComponent`'s output, with `!'()*` as `%21`, `%27`,
 * `%28`, `%29`, `%2A` (WeChat decodes them as any escape; a `)` sent as it is would end the query
 * of a URL quoted in brackets in a client's error message) and a lone surrogate as U+FFFD's bytes.
 * Never throws. A value with nothing to encode (WeChat's tokens, codes, openids) is returned as it
 * is, without `encodeURIComponent`'s call into the runtime.
 *
 * @internal
 */
export const encodeQueryValue = (value: string): string => {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c >= 128 || unreserved[c] === 0) return encodeSlow(value)
  }
  return value
}

// the literal parts of each template, checked once (a template's strings array is one object per
// place in the code)
const checkedLiterals = new WeakSet<TemplateStringsArray>()

/**
 * A tag for an endpoint's query: ``query`access_token=${token}&openid=${openid}` `` encodes every
 * value with {@link encodeQueryValue}. The literal parts are the code's own: one that the URL parser
 * would rewrite (a space, a quote, non-ASCII) is a defect of this library, thrown the first time the
 * template is used.
 *
 * @internal
 */
export const query = (literals: TemplateStringsArray, ...values: ReadonlyArray<string>): Query => {
  if (!checkedLiterals.has(literals)) {
    for (const literal of literals) {
      if (!isVerbatimQuery(literal)) throw new Error(`a query's literal part would be rewritten: ${literal}`)
    }
    checkedLiterals.add(literals)
  }
  let out = literals[0]
  for (let i = 0; i < values.length; i++) out += encodeQueryValue(values[i]) + literals[i + 1]
  return out as Query
}

/** The empty query. @internal */
export const noQuery: Query = "" as Query
