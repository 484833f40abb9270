/**
 * The reading of wechat-oauth's stored token record. The record comes from wherever its users kept
 * it (a row of strings, a JSON document, a driver's Buffer, a mongoose document with getters), so
 * every field is untrusted: a wrong type, a getter that throws, a 10 MB string or a nested array is
 * an `InvalidArgument` naming the field, never a thrown error, and no value is ever coerced with
 * `String()` or quoted in an error (it may be a token).
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as OAuthToken from "../OAuthToken.js"
import type { TokenResponse } from "../WeChatApi.js"
import { InvalidArgument } from "../WeChatError.js"
import { maxOpenidLength } from "./arguments.js"
import { maxScopeLength, maxTokenLength } from "./tokenText.js"
import * as UserId from "./userId.js"

/** The longest `create_at` or `expires_in` string read (a `Date#toString()` with its zone name is about 60). @internal */
export const maxTimeLength = 100

/** An access token's life when the record has no `expires_in`: WeChat's, always 2 hours. @internal */
export const defaultExpiresIn = 7200

/** The longest `expires_in` core accepts from WeChat (as `WeChatApi.TokenResponse`): 30 days. @internal */
export const maxExpiresIn = 2_592_000

/** Numbers at or above are epoch milliseconds, below are epoch seconds (1e11 ms is March 1973). */
const secondsBelow = 1e11

/**
 * A date string that ends with a time and an explicit UTC offset: `Z`, `+08:00`, `+0800`, `GMT`,
 * `UTC`, `GMT+0800` (and the zone name in parentheses of `Date#toString()`).
 */
const withOffset =
  /\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|(?:GMT|UTC)?\s*[+-]\d{2}(?::?\d{2})?|GMT|UTC)(?:\s*\([^()]*\))?$/i

const utf8 = new TextDecoder("utf-8", { fatal: true })

/**
 * The text of a field, trimmed (a `CHAR` column pads with spaces): a string, or the UTF-8 bytes a
 * driver gives for a binary column; `""` for `null` / `undefined`; `undefined` for any other type,
 * bytes that are not UTF-8, or more than `max` characters (checked before anything else is done).
 */
const text = (value: unknown, max: number): string | undefined => {
  if (value === undefined || value === null) return ""
  if (typeof value === "string") return value.length <= max ? value.trim() : undefined
  if (value instanceof Uint8Array) {
    if (value.byteLength > max * 4) return undefined
    const decoded = utf8.decode(value)
    return decoded.length <= max ? decoded.trim() : undefined
  }
  return undefined
}

/** A non-empty text of at most `max` characters. */
const requiredText = (max: number) => (value: unknown): string | undefined => {
  const read = text(value, max)
  return read === "" ? undefined : read
}

/** A whole number from a number, a bigint, or a string of decimal digits; `fallback` when empty. */
const wholeNumber = (value: unknown, fallback: number | undefined): number | undefined => {
  if (typeof value === "number") return value
  if (typeof value === "bigint") return Number(value)
  const read = text(value, maxTimeLength)
  if (read === undefined) return undefined
  if (read === "") return fallback
  return /^\d+$/.test(read) ? Number(read) : undefined
}

const expiresIn = (value: unknown): number | undefined => {
  const seconds = wholeNumber(value, defaultExpiresIn)
  return seconds !== undefined && Number.isInteger(seconds) && seconds >= 1 && seconds <= maxExpiresIn
    ? seconds
    : undefined
}

/** Epoch milliseconds from a number of milliseconds, or of seconds below 1e11; whole milliseconds. */
const epoch = (n: number): number | undefined =>
  Number.isFinite(n) && n >= 0 ? Math.round(n < secondsBelow ? n * 1000 : n) : undefined

/**
 * A `create_at`: epoch milliseconds as wechat-oauth writes them (`new Date().getTime()`), as a number,
 * a bigint or a decimal string; epoch seconds below 1e11 (tables filled by hand); a `Date` (a
 * date-time column); or a date string with an explicit UTC offset. A date string without one
 * (`2024-05-01 10:00:00`) is in an unknown time zone, hours off either way: it is refused rather
 * than guessed. Times before 1970 are refused.
 */
const createdAt = (value: unknown): number | undefined => {
  if (typeof value === "number") return epoch(value)
  if (typeof value === "bigint") return epoch(Number(value))
  if (value instanceof Date) {
    const time = value.getTime()
    return Number.isFinite(time) && time >= 0 ? time : undefined
  }
  const read = text(value, maxTimeLength)
  if (read === undefined || read === "") return undefined
  if (/^\d+(\.\d+)?$/.test(read)) return epoch(Number(read))
  if (!withOffset.test(read)) return undefined
  const parsed = Date.parse(read)
  return Number.isFinite(parsed) && parsed >= 0 ? parsed : undefined
}

/** `is_snapshotuser`: 1 or 0 (or `"1"` / `"0"`); absent is 0. */
const snapshotUser = (value: unknown): boolean | undefined => {
  const flag = wholeNumber(value, 0)
  return flag === 1 ? true : flag === 0 ? false : undefined
}

const optionalText = (max: number) => (value: unknown): string | undefined => text(value, max)

/** An openid (required) or unionid (optional: `""` is none), trimmed, of WeChat's form. */
const userId = (required: boolean) => (value: unknown): string | undefined => {
  const read = text(value, maxOpenidLength)
  return read === undefined
    ? undefined
    : read === ""
    ? (required ? undefined : "")
    : UserId.isWeChatUserId(read)
    ? read
    : undefined
}

const invalid = (argument: string, description: string) => Either.left(new InvalidArgument({ argument, description }))

/**
 * Reads `key` of `record` with `read`; a value `read` refuses, or a read that throws (a getter, a
 * Proxy, a detached buffer), is an `InvalidArgument` for `key` with `description`. The value itself
 * is never in the error.
 */
const field = <A>(
  record: object,
  key: string,
  read: (value: unknown) => A | undefined,
  description: string
): Either.Either<A, InvalidArgument> => {
  try {
    const value = read((record as Record<string, unknown>)[key])
    return value === undefined ? invalid(key, description) : Either.right(value)
  } catch {
    return invalid(key, `could not be read: ${description}`)
  }
}

const isRecord = (record: unknown): record is object => {
  try {
    return typeof record === "object" && record !== null && !Array.isArray(record)
  } catch {
    return false // a revoked Proxy
  }
}

/** The latest `now` for which every time of the token is a safe integer. */
const maxNow = Number.MAX_SAFE_INTEGER - OAuthToken.refreshTokenLifeMillis

/** @internal */
export const decode = (record: unknown, now: number): Either.Either<OAuthToken.OAuthToken, InvalidArgument> =>
  Either.gen(function*() {
    if (!isRecord(record)) {
      return yield* invalid("record", "must be an object with the fields of wechat-oauth's token")
    }
    if (typeof now !== "number" || !Number.isFinite(now) || now < 0 || now > maxNow) {
      return yield* invalid("now", "must be epoch milliseconds, from 0 to 2^53 - 1 less 30 days")
    }
    const tokenText = `must be a non-empty string of at most ${maxTokenLength} characters`
    const accessToken = yield* field(record, "access_token", requiredText(maxTokenLength), tokenText)
    const seconds = yield* field(
      record,
      "expires_in",
      expiresIn,
      `must be whole seconds from 1 to ${maxExpiresIn} (30 days), or absent (${defaultExpiresIn})`
    )
    const refreshToken = yield* field(record, "refresh_token", requiredText(maxTokenLength), tokenText)
    const openid = yield* field(
      record,
      "openid",
      userId(true),
      `must be 1 to ${maxOpenidLength} printable ASCII characters without spaces, as WeChat gives it`
    )
    const scope = yield* field(
      record,
      "scope",
      optionalText(maxScopeLength),
      `must be a string of at most ${maxScopeLength} characters`
    )
    const unionid = yield* field(
      record,
      "unionid",
      userId(false),
      `must be empty, or 1 to ${maxOpenidLength} printable ASCII characters without spaces, as WeChat gives it`
    )
    const isSnapshotUser = yield* field(record, "is_snapshotuser", snapshotUser, "must be 0 or 1")
    const created = yield* field(
      record,
      "create_at",
      createdAt,
      "must be epoch milliseconds (seconds below 1e11) from 1970 on, a Date, or a date string with a UTC offset"
    )
    const response: TokenResponse = {
      access_token: Redacted.make(accessToken),
      expires_in: seconds,
      refresh_token: Redacted.make(refreshToken),
      openid,
      scope,
      ...(unionid === "" ? {} : { unionid }),
      ...(isSnapshotUser ? { is_snapshotuser: 1 } : {})
    }
    // never dated later than now: a legacy server whose clock ran ahead, or a date read in the wrong
    // time zone, must not date a token in the future, where newer-wins would keep it over every refresh
    return yield* OAuthToken.fromResponse(response, Math.min(created, now))
  })
