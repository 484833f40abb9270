/**
 * The pieces of a session that need no `Session` class: the token (made, parsed, hashed), the
 * schemas of its fields, and the checks of the arguments every store is called with.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Crypto from "node:crypto"
import { SessionStoreError } from "../WeChatError.js"
import * as StoreIds from "./storeIds.js"

/** The token's size: 32 random bytes, 43 characters of base64url. */
const tokenPattern = /^[A-Za-z0-9_-]{43}$/

/** @internal */
export const makeToken: Effect.Effect<Redacted.Redacted<string>> = Effect.sync(() =>
  Redacted.make(Crypto.randomBytes(32).toString("base64url"))
)

/** @internal */
export const parseToken = (value: unknown): Option.Option<Redacted.Redacted<string>> =>
  typeof value === "string" && tokenPattern.test(value) ? Option.some(Redacted.make(value)) : Option.none()

/** @internal */
export const hashToken = (token: Redacted.Redacted<string> | string): string => {
  let text: unknown
  try {
    text = Redacted.isRedacted(token) ? Redacted.value(token) : token
  } catch {
    // a Proxy whose traps throw: not a token
    text = unreadable
  }
  return Crypto.createHash("sha256")
    // a value that is not a string (a JavaScript caller's mistake) hashes as its type and text, which no
    // token's text is (tokens have no NUL)
    .update(typeof text === "string" ? text : `\u0000${typeof text}\u0000${safeString(text)}`, "utf8")
    .digest("hex")
}

/** What a value that cannot even be looked at hashes as (no token has NUL in it). */
const unreadable = Symbol("unreadable")

const safeString = (u: unknown): string => {
  try {
    return String(u)
  } catch {
    return ""
  }
}

/**
 * A name the caller gave (an operation, an argument), if it is a short word; never a long or odd
 * value (an error's schema would format a Proxy, which throws). Also the stores' id checks' (see
 * `storeIds.ts`).
 *
 * @internal
 */
export const safeName = (name: unknown, otherwise: string): string =>
  typeof name === "string" && /^[A-Za-z][A-Za-z0-9_.]{0,39}$/.test(name) ? name : otherwise

const idHashPattern = /^[0-9a-f]{64}$/

/** @internal */
export const IdHash = Schema.String.pipe(Schema.pattern(idHashPattern))

/** A string of 1 to `max` characters. @internal */
export const Id = (max: number) => Schema.String.pipe(Schema.minLength(1), Schema.maxLength(max))

/** An integer epoch time in milliseconds. @internal */
export const Time = Schema.Number.pipe(Schema.int(), Schema.between(0, Number.MAX_SAFE_INTEGER))

const dataKeyPattern = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/

/** The largest `data`: keys and values together. */
const maxDataChars = 4096

/**
 * Whether `u` is a session's `data`: a plain object of at most 32 own keys, each matching the key
 * pattern, with string values, at most 4,096 characters in all. Checked on the value as it is (own
 * keys included, `__proto__` among them), not on a copy.
 */
const isSessionData = (u: unknown): u is { readonly [key: string]: string } => {
  if (typeof u !== "object" || u === null || Array.isArray(u)) return false
  const proto: unknown = Object.getPrototypeOf(u)
  if (proto !== Object.prototype && proto !== null) return false
  const keys = Object.keys(u)
  if (keys.length > 32 || Object.getOwnPropertySymbols(u).length > 0) return false
  let chars = 0
  for (const key of keys) {
    const value: unknown = (u as Record<string, unknown>)[key]
    if (!dataKeyPattern.test(key) || typeof value !== "string") return false
    chars += key.length + value.length
    if (chars > maxDataChars) return false
  }
  return true
}

/** @internal */
export const SessionData = Schema.declare(isSessionData, {
  identifier: "SessionData",
  description: "at most 32 keys (a letter, then letters, digits, _ . : -), string values, 4,096 characters in all"
})

/** @internal */
export const refuse = (operation: string, description: string) =>
  Effect.fail(new SessionStoreError({ operation: safeName(operation, "operation"), description }))

/** @internal */
export const isIdHash = (u: unknown): u is string => typeof u === "string" && idHashPattern.test(u)

/** @internal */
export const checkIdHash = (operation: string, idHash: unknown): Effect.Effect<void, SessionStoreError> =>
  isIdHash(idHash) ? Effect.void : refuse(operation, "the idHash must be 64 lowercase hex characters (a SHA-256)")

/** The ids' rule of every store (see `storeIds.ts`). @internal */
export const checkUser = (
  operation: string,
  appId: unknown,
  openid: unknown
): Effect.Effect<void, SessionStoreError> => {
  const refused = StoreIds.userRefusal(appId, openid)
  return refused === undefined ? Effect.void : refuse(operation, refused)
}

/** @internal */
export const isTime = (u: unknown): u is number => typeof u === "number" && Number.isSafeInteger(u) && u >= 0

/** @internal */
export const checkTime = (operation: string, name: string, time: unknown): Effect.Effect<void, SessionStoreError> =>
  isTime(time)
    ? Effect.void
    : refuse(operation, `${safeName(name, "the time")} must be an integer time in epoch milliseconds`)
