/**
 * WeChat's message encryption (its sample code calls it WXBizMsgCrypt), written from WeChat's
 * documentation with `node:crypto`, as the third-party platform's pushes use it:
 * - the key: `base64decode(encodingAesKey + "=")`, 32 bytes (AES-256); the IV is its first 16 bytes;
 * - the plaintext: 16 random bytes | the message's length in 4 bytes, big-endian | the message
 *   (UTF-8) | the receiver's appid;
 * - padding: PKCS#7 to a multiple of **32** bytes (pad bytes 1 to 32, each the pad's length), not
 *   AES's 16: the cipher runs without its own padding;
 * - the signature: lowercase hex SHA-1 of the four strings token, timestamp, nonce and the
 *   ciphertext's base64, sorted lexicographically and concatenated.
 *
 * `decrypt` is strict: canonical base64, whole AES blocks, a valid 32-byte pad, a length that fits.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Crypto from "node:crypto"

/** The PKCS#7 block of WeChat's messages: 32 bytes. @internal */
export const BLOCK = 32

/** The length of an EncodingAESKey: 43 characters. @internal */
export const KEY_LENGTH = 43

const KEY_PATTERN = /^[A-Za-z0-9+/]{43}$/

/** The AES-256 key of an EncodingAESKey, or why it is not one. @internal */
export const parseKey = (encodingAesKey: string): Either.Either<Buffer, string> => {
  if (!KEY_PATTERN.test(encodingAesKey)) {
    return Either.left("an EncodingAESKey is 43 characters of A-Z a-z 0-9 + /")
  }
  const key = Buffer.from(`${encodingAesKey}=`, "base64")
  return key.length === 32 ? Either.right(key) : Either.left("an EncodingAESKey decodes to 32 bytes")
}

/** Lowercase hex SHA-1 of a text's UTF-8 bytes. @internal */
export const sha1 = (text: string): string => Crypto.createHash("sha1").update(text, "utf8").digest("hex")

/** `msg_signature`: hex SHA-1 of the sorted, concatenated token, timestamp, nonce and ciphertext. @internal */
export const signature = (token: string, timestamp: string, nonce: string, encrypted: string): string =>
  sha1([token, timestamp, nonce, encrypted].sort().join(""))

/** Pads to a multiple of 32 bytes, PKCS#7 style: 1 to 32 bytes, each the pad's length. */
const pad = (data: Buffer): Buffer => {
  const size = BLOCK - (data.length % BLOCK)
  return Buffer.concat([data, Buffer.alloc(size, size)])
}

/**
 * The ciphertext (base64) of a message for `appId`, with the given 16-byte random prefix.
 *
 * @internal
 */
export const encrypt = (key: Buffer, appId: string, message: string, random: Uint8Array): string => {
  const text = Buffer.from(message, "utf8")
  const length = Buffer.alloc(4)
  length.writeUInt32BE(text.length, 0)
  const plain = pad(Buffer.concat([Buffer.from(random), length, text, Buffer.from(appId, "utf8")]))
  const cipher = Crypto.createCipheriv("aes-256-cbc", key, key.subarray(0, 16))
  cipher.setAutoPadding(false)
  return Buffer.concat([cipher.update(plain), cipher.final()]).toString("base64")
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** A decrypted message: its text and the appid it was sent to. @internal */
export interface Decrypted {
  readonly message: string
  readonly appId: string
  /** The 16-byte random prefix. */
  readonly random: Buffer
}

/**
 * Decrypts a ciphertext (base64), strictly: the base64 canonical, the data whole AES blocks, the
 * pad 1 to 32 bytes all equal, the length within the data; the appid is what follows the message.
 *
 * @internal
 */
export const decrypt = (key: Buffer, encrypted: string): Either.Either<Decrypted, string> => {
  if (encrypted.length === 0 || !BASE64.test(encrypted)) return Either.left("the ciphertext is not base64")
  const data = Buffer.from(encrypted, "base64")
  if (data.length % BLOCK !== 0) return Either.left("the ciphertext is not a whole number of 32-byte blocks")
  let plain: Buffer
  try {
    const decipher = Crypto.createDecipheriv("aes-256-cbc", key, key.subarray(0, 16))
    decipher.setAutoPadding(false)
    plain = Buffer.concat([decipher.update(data), decipher.final()])
  } catch {
    return Either.left("the ciphertext does not decrypt")
  }
  const size = plain[plain.length - 1]
  if (size < 1 || size > BLOCK || plain.subarray(plain.length - size).some((byte) => byte !== size)) {
    return Either.left("the padding is not PKCS#7 to 32 bytes")
  }
  const content = plain.subarray(0, plain.length - size)
  if (content.length < 20) return Either.left("the plaintext is shorter than its random prefix and length")
  const length = content.readUInt32BE(16)
  if (length > content.length - 20) return Either.left("the message's length is longer than the plaintext")
  return Either.right({
    message: content.subarray(20, 20 + length).toString("utf8"),
    appId: content.subarray(20 + length).toString("utf8"),
    random: Buffer.from(content.subarray(0, 16))
  })
}

/**
 * A flat XML message as WeChat writes it: `<xml>` and one element per field, every value in CDATA.
 * A value holding `]]>` (which would end its CDATA) is split across two CDATA sections.
 *
 * @internal
 */
export const xml = (fields: ReadonlyArray<readonly [string, string]>): string =>
  `<xml>${
    fields.map(([name, value]) => `<${name}><![CDATA[${value.replaceAll("]]>", "]]]]><![CDATA[>")}]]></${name}>`).join(
      ""
    )
  }</xml>`
