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
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"
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

const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const strictUtf8 = new TextDecoder("utf-8", { fatal: true })

const fail = (reason: DecryptError["reason"], description: string) =>
  Either.left(new DecryptError({ reason, description }))

/** Strict base64: the standard alphabet, padded, canonical (it re-encodes to the same text). */
const fromBase64 = (text: string): Buffer | undefined => {
  if (typeof text !== "string" || !base64.test(text)) return undefined
  const bytes = Buffer.from(text, "base64")
  return bytes.toString("base64") === text ? bytes : undefined
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * Decrypts synchronously; see `decryptUserData`.
 *
 * @since 0.1.0
 * @category decryption
 */
export const decryptUserDataSync = (options: DecryptOptions): Either.Either<UserData, DecryptError> => {
  const key = fromBase64(Redacted.value(options.sessionKey))
  if (key === undefined) return fail("BadBase64", "the session key is not valid base64")
  const iv = fromBase64(options.iv)
  if (iv === undefined) return fail("BadBase64", "the iv is not valid base64")
  const data = fromBase64(options.encryptedData)
  if (data === undefined) return fail("BadBase64", "the encrypted data is not valid base64")
  if (key.length !== 16) return fail("BadKey", `the session key must be 16 bytes, got ${key.length}`)
  if (iv.length !== 16) return fail("BadIv", `the iv must be 16 bytes, got ${iv.length}`)
  if (data.length === 0 || data.length % 16 !== 0) {
    return fail("BadPadding", `the encrypted data must be a positive multiple of 16 bytes, got ${data.length}`)
  }

  let plaintext: Buffer
  try {
    const decipher = Crypto.createDecipheriv("aes-128-cbc", key, iv)
    plaintext = Buffer.concat([decipher.update(data), decipher.final()])
  } catch {
    return fail("BadPadding", "the data does not decrypt with this session key and iv (bad PKCS#7 padding)")
  }

  let json: unknown
  try {
    json = JSON.parse(strictUtf8.decode(plaintext))
  } catch {
    return fail("BadJson", "the decrypted data is not JSON (wrong session key, iv or data)")
  }
  if (!isRecord(json)) return fail("BadJson", "the decrypted data is not a JSON object")

  const watermark = json.watermark
  if (!isRecord(watermark) || typeof watermark.appid !== "string" || typeof watermark.timestamp !== "number") {
    return fail("WatermarkMismatch", "the decrypted data has no valid watermark")
  }
  if (watermark.appid !== options.appId) {
    return fail("WatermarkMismatch", "the data was encrypted for another app")
  }
  return Either.right(json as UserData)
}

/**
 * Decrypts a mini program's `encryptedData` and checks its watermark against `appId`.
 *
 * Fails with `DecryptError` and reason `BadBase64` (any input is not strict base64), `BadKey` (the
 * session key is not 16 bytes), `BadIv` (the iv is not 16 bytes), `BadPadding` (the data does not
 * decrypt: wrong key or iv, or truncated), `BadJson` (it decrypts to something that is not a JSON
 * object) or `WatermarkMismatch` (no watermark, or one for another app).
 *
 * @example
 * ```ts
 * import { MiniProgramCrypto } from "@wxauth/core"
 *
 * const phone = MiniProgramCrypto.decryptUserData({ appId, sessionKey, encryptedData, iv })
 * ```
 *
 * @since 0.1.0
 * @category decryption
 */
export const decryptUserData = (options: DecryptOptions): Effect.Effect<UserData, DecryptError> =>
  Effect.suspend(() => decryptUserDataSync(options))
