/**
 * Decryption of a mini program's `encryptedData` (from `wx.getUserInfo`, `getPhoneNumber`,
 * `getWeRunData`, ...): AES-128-CBC with the user's `session_key` as key, the `iv` sent beside the
 * data, PKCS#7 padding, then JSON whose `watermark.appid` must be this app's appid (data encrypted
 * for another app, or replayed from it, is refused).
 *
 * Every input is strict, standard, padded base64 (Node's own decoder silently skips bad
 * characters). A failure is a `DecryptError` with a fixed description: it never holds the session
 * key, the data or the decrypted text.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"
import * as Arguments from "./internal/arguments.js"
import { DecryptError } from "./WeChatError.js"

/**
 * The watermark WeChat puts in every decrypted payload.
 *
 * @since 0.1.0
 * @category models
 */
export interface Watermark {
  /** The appid the data was encrypted for. */
  readonly appid: string
  /** When WeChat encrypted the data, epoch seconds. */
  readonly timestamp: number
}

/**
 * A decrypted payload: WeChat's JSON object as it is (e.g. `nickName`, `avatarUrl`, `phoneNumber`,
 * `stepInfoList`, `openId`, `unionId`, depending on the API), with its checked `watermark`.
 *
 * @since 0.1.0
 * @category models
 */
export interface UserData {
  readonly watermark: Watermark
  readonly [key: string]: unknown
}

/**
 * Options of `decryptUserData`.
 *
 * @since 0.1.0
 * @category models
 */
export interface DecryptOptions {
  /** The app the data must have been encrypted for (checked against `watermark.appid`). */
  readonly appId: string
  /** The user's `session_key` from `code2Session`, base64 of 16 bytes. */
  readonly sessionKey: Redacted.Redacted<string>
  /** `encryptedData` as the mini program sent it, base64. */
  readonly encryptedData: string
  /** `iv` as the mini program sent it, base64 of 16 bytes. */
  readonly iv: string
}

/**
 * The longest `encryptedData` accepted, in base64 characters. WeChat's user data (profile, phone
 * number, run data) is a few kilobytes; anything larger is refused before it is read.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxEncryptedDataLength = 65_536

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })

const fail = (reason: DecryptError["reason"], description: string) =>
  Either.left(new DecryptError({ reason, description }))

const isBase64Char = (code: number): boolean =>
  (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) ||
  code === 0x2b || code === 0x2f

/**
 * Strict base64: the standard alphabet, padded, canonical (it re-encodes to the same text), at most
 * `max` characters. One linear pass, no regular expression.
 */
const fromBase64 = (text: unknown, max: number): Buffer | undefined => {
  if (typeof text !== "string" || text.length > max || text.length % 4 !== 0) return undefined
  let padding = 0
  if (text.charCodeAt(text.length - 1) === 0x3d) padding = text.charCodeAt(text.length - 2) === 0x3d ? 2 : 1
  const end = text.length - padding
  for (let i = 0; i < end; i++) {
    if (!isBase64Char(text.charCodeAt(i))) return undefined
  }
  const bytes = Buffer.from(text, "base64")
  return bytes.toString("base64") === text ? bytes : undefined
}

/**
 * The deepest nesting of objects and arrays accepted in decrypted data. WeChat's payloads are 3
 * levels deep (run data: an object, a list, its entries); a payload nested thousands deep (it fits
 * in `maxEncryptedDataLength`) would be handed to the caller as it is, and overflow the stack of
 * their `JSON.stringify` or `structuredClone`.
 */
const maxDepth = 32

/** True when the JSON text nests objects and arrays deeper than `limit`; one pass, strings skipped. */
const nestsDeeper = (text: string, limit: number): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // a backslash escapes the next character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true
    } else if (c === 0x5d || c === 0x7d) {
      depth--
    }
  }
  return false
}

/** AES-128-CBC with PKCS#7 padding; `undefined` when `data` is no whole blocks or the padding is bad. */
const decrypt = (key: Buffer, iv: Buffer, data: Buffer): Buffer | undefined => {
  if (data.length === 0 || data.length % 16 !== 0) return undefined
  try {
    const decipher = Crypto.createDecipheriv("aes-128-cbc", key, iv)
    return Buffer.concat([decipher.update(data), decipher.final()])
  } catch {
    return undefined
  }
}

/**
 * Every failure of the decryption itself (not whole blocks, bad padding, not UTF-8, not a JSON
 * object, nested too deep): one error, so that none tells the others apart.
 */
const undecryptable = (): Either.Either<never, DecryptError> =>
  fail(
    "Undecryptable",
    "the data does not decrypt to this app's user data with this session key and iv (a stale session key, or data altered on the way)"
  )

/** base64 of 16 bytes. */
const keyLength = 24

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * Decrypts synchronously; see `decryptUserData`.
 *
 * @since 0.1.0
 * @category decryption
 */
export const decryptUserDataSync = (given: DecryptOptions): Either.Either<UserData, DecryptError> => {
  // read once, guarded: a throwing getter or a revoked Proxy is no options object
  const read = Arguments.readFields(given, ["sessionKey", "iv", "encryptedData", "appId"])
  if (Either.isLeft(read) || read.right === undefined) {
    return fail(
      "BadJson",
      Either.isLeft(read) && read.left === Arguments.unreadable
        ? `the options ${read.left}`
        : "the options must be an object"
    )
  }
  const options = read.right
  const sessionKey = Arguments.redactedText(options.sessionKey)
  if (sessionKey === undefined) return fail("BadKey", "the session key must be a Redacted string")
  // one block more than 16 bytes still decodes, so that a wrong length is reported as such
  const key = fromBase64(sessionKey, 2 * keyLength)
  if (key === undefined) return fail("BadBase64", "the session key is not valid base64")
  const iv = fromBase64(options.iv, 2 * keyLength)
  if (iv === undefined) return fail("BadBase64", "the iv is not valid base64")
  if (typeof options.encryptedData === "string" && options.encryptedData.length > maxEncryptedDataLength) {
    return fail(
      "BadBase64",
      `the encrypted data is longer than ${maxEncryptedDataLength} characters (WeChat's user data is a few KB)`
    )
  }
  const data = fromBase64(options.encryptedData, maxEncryptedDataLength)
  if (data === undefined) return fail("BadBase64", "the encrypted data is not valid base64")
  if (key.length !== 16) return fail("BadKey", `the session key must be 16 bytes, got ${key.length}`)
  if (iv.length !== 16) return fail("BadIv", `the iv must be 16 bytes, got ${iv.length}`)
  // From here until the data is a JSON object, every failure is one reason with one description:
  // the data and the iv come from the user's own client, and AES-CBC authenticates nothing, so an
  // answer that told bad padding from bad JSON (to the client, or to an app that branches on it)
  // would be a padding oracle that lets the client encrypt data of its choosing under the user's
  // session key, a watermark included.
  const plaintext = decrypt(key, iv, data)
  if (plaintext === undefined) return undecryptable()
  let text: string
  let json: unknown
  try {
    text = strictUtf8.decode(plaintext)
    json = JSON.parse(text)
  } catch {
    return undecryptable()
  }
  // parsed first: only valid JSON is scanned, so the scan's view of strings is JSON's
  if (nestsDeeper(text, maxDepth) || !isRecord(json)) return undecryptable()
  // Past here the data decrypted to a whole JSON object: telling a watermark failure apart is no
  // oracle (a client that changes the ciphertext gets a JSON object only by chance)
  const watermark = json.watermark
  // the timestamp is epoch seconds: 1e400 (Infinity), a negative or a fraction is no watermark
  if (
    !isRecord(watermark) || typeof watermark.appid !== "string" || !Number.isSafeInteger(watermark.timestamp) ||
    (watermark.timestamp as number) < 0
  ) {
    return fail("WatermarkMismatch", "the decrypted data has no valid watermark")
  }
  if (typeof options.appId !== "string" || watermark.appid !== options.appId) {
    return fail("WatermarkMismatch", "the data was encrypted for another app")
  }
  return Either.right(json as UserData)
}

/**
 * Decrypts a mini program's `encryptedData` and checks its watermark against `appId`.
 *
 * Fails with `DecryptError` and reason `BadBase64` (any input is not strict base64), `BadKey` (the
 * session key is not 16 bytes), `BadIv` (the iv is not 16 bytes), `Undecryptable` (the data does
 * not decrypt to a JSON object: not whole AES blocks, bad padding, not UTF-8 or JSON, nested more than
 * 32 levels deep; one reason with one description for all, so that no answer tells bad padding from
 * the rest, which would be a padding oracle; most often the session key is stale: log the user in
 * again) or `WatermarkMismatch` (no watermark, one whose timestamp is not whole epoch seconds, or
 * one for another app).
 *
 * **The data is not authenticated.** `encryptedData` and `iv` come from the user's own client, and
 * AES-CBC carries no signature: a client that changes the `iv` changes the first 16 bytes of the
 * decrypted text, and the watermark proves only that the rest was encrypted for this app. Use the
 * data for what the user may claim about themself (a profile, run data); take a phone number from
 * `MiniProgram.getPhoneNumber` (WeChat's answer to this server, over TLS), not from `encryptedData`,
 * and limit decryptions per session as you limit logins.
 *
 * @example
 * ```ts
 * import { MiniProgramCrypto } from "@wxauth/core"
 * import * as Effect from "effect/Effect"
 * import type * as Redacted from "effect/Redacted"
 *
 * // `sessionKey` from `MiniProgram.code2Session`; `encryptedData` and `iv` as the mini program sent them
 * // (`wx.getWeRunData`): what the user claims about themself, not authenticated
 * const steps = (sessionKey: Redacted.Redacted<string>, encryptedData: string, iv: string) =>
 *   MiniProgramCrypto.decryptUserData({ appId: "wx1234567890abcdef", sessionKey, encryptedData, iv }).pipe(
 *     Effect.map((data) => data.stepInfoList),
 *     // most often a stale session key: the mini program logs in again
 *     Effect.catchTag("DecryptError", (error) =>
 *       error.reason === "Undecryptable" ? Effect.succeed(undefined) : Effect.fail(error))
 *   )
 * ```
 *
 * @since 0.1.0
 * @category decryption
 */
export const decryptUserData = (options: DecryptOptions): Effect.Effect<UserData, DecryptError> =>
  Effect.suspend(() => decryptUserDataSync(options))
