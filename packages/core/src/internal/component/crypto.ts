/**
 * WeChat's message encryption for a third-party platform's pushes, receiving side only:
 *
 * - `msg_signature` = lowercase hex SHA-1 of the four strings token, timestamp, nonce and the
 *   `Encrypt` text, sorted (by UTF-16 code units) and concatenated; compared in constant time.
 * - The `Encrypt` text is base64 of AES-256-CBC ciphertext, key = the EncodingAESKey decoded
 *   (43 characters + "=" -> 32 bytes), IV = the key's first 16 bytes, no cipher padding: the
 *   plaintext carries its own PKCS#7 padding to a multiple of 32 bytes (pad bytes of value 1 to 32).
 * - The plaintext is 16 random bytes | 4-byte big-endian length L | the message (L bytes of UTF-8
 *   XML) | the appid of the platform it was sent to.
 *
 * Every check fails with an `InvalidPush` that never quotes the bytes.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Crypto from "node:crypto"
import { InvalidPush } from "../../WeChatError.js"

const refuse = (reason: InvalidPush["reason"], description: string) =>
  Either.left(new InvalidPush({ reason, description }))

/** The expected `msg_signature` of a push: hex SHA-1 of the sorted, concatenated parts. @internal */
export const signature = (token: string, timestamp: string, nonce: string, encrypted: string): string =>
  Crypto.createHash("sha1").update([token, timestamp, nonce, encrypted].sort().join("")).digest("hex")

const hexSha1 = /^[0-9a-fA-F]{40}$/

/** True when `given` is the push's signature; constant time over the 20 bytes. @internal */
export const verifySignature = (
  token: string,
  timestamp: string,
  nonce: string,
  encrypted: string,
  given: string
): boolean => {
  if (!hexSha1.test(given)) return false
  const expected = Buffer.from(signature(token, timestamp, nonce, encrypted), "hex")
  return Crypto.timingSafeEqual(expected, Buffer.from(given, "hex"))
}

/** Canonical base64 (WeChat's encoder): the standard alphabet, padded, a multiple of 4 characters. */
const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** The block size WeChat pads to (PKCS#7 over 32 bytes, not AES's 16). */
const padBlock = 32
const prefixLength = 16 + 4

/**
 * Decrypts a push's `Encrypt` text with the platform's AES key; checks the padding, the length
 * field and that the trailing appid is `componentAppId`. Returns the message (UTF-8 XML).
 *
 * @internal
 */
export const decrypt = (
  aesKey: Uint8Array,
  encrypted: string,
  componentAppId: string
): Either.Either<string, InvalidPush> => {
  if (encrypted.length === 0 || encrypted.length % 4 !== 0 || !base64Pattern.test(encrypted)) {
    return refuse("BadBase64", "the encrypted message is not base64")
  }
  const ciphertext = Buffer.from(encrypted, "base64")
  if (ciphertext.length === 0 || ciphertext.length % padBlock !== 0) {
    return refuse("BadPadding", `the ciphertext is not a whole number of ${padBlock}-byte blocks`)
  }
  let plain: Buffer
  try {
    const decipher = Crypto.createDecipheriv("aes-256-cbc", aesKey, aesKey.subarray(0, 16))
    decipher.setAutoPadding(false)
    plain = Buffer.concat([decipher.update(ciphertext), decipher.final()])
  } catch {
    return refuse("BadPadding", "the ciphertext does not decrypt")
  }
  const pad = plain[plain.length - 1]
  if (pad < 1 || pad > padBlock || pad > plain.length) {
    return refuse("BadPadding", "the padding is not PKCS#7 (another key, or a tampered message)")
  }
  let mismatch = 0
  for (let i = plain.length - pad; i < plain.length; i++) mismatch |= plain[i] ^ pad
  if (mismatch !== 0) return refuse("BadPadding", "the padding is not PKCS#7 (another key, or a tampered message)")
  const content = plain.subarray(0, plain.length - pad)
  if (content.length < prefixLength) return refuse("BadLength", "the message is shorter than its header")
  const length = content.readUInt32BE(16)
  if (length > content.length - prefixLength) {
    return refuse("BadLength", "the length field runs past the end of the message")
  }
  const appId = content.subarray(prefixLength + length)
  const expected = Buffer.from(componentAppId, "utf8")
  if (appId.length !== expected.length || !Crypto.timingSafeEqual(appId, expected)) {
    return refuse("WrongAppId", "the message was encrypted for another platform")
  }
  try {
    return Either.right(utf8.decode(content.subarray(prefixLength, prefixLength + length)))
  } catch {
    return refuse("Malformed", "the message is not UTF-8")
  }
}
