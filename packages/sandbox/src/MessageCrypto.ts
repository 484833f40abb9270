/**
 * WeChat's message encryption, as the sandbox's third-party platform encrypts its pushes (WeChat's
 * sample code calls it WXBizMsgCrypt): for tests that forge a push the sandbox would not send (a
 * plaintext of their own, another appid, another key) or check one it did.
 *
 * - key: `base64decode(encodingAesKey + "=")`, 32 bytes, AES-256-CBC; the IV is the key's first 16
 *   bytes.
 * - plaintext: 16 random bytes, the message's byte length (4 bytes, big-endian), the message
 *   (UTF-8), the receiver's appid; padded PKCS#7 to a multiple of 32 bytes.
 * - `msg_signature`: hex SHA-1 of token, timestamp, nonce and the ciphertext (base64), sorted and
 *   concatenated.
 *
 * Written from WeChat's documentation with `node:crypto`; the sandbox's tests check it against an
 * independent implementation (npm's `wechat-crypto`) and a fixed vector made with `openssl`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Crypto from "node:crypto"
import * as WxCrypt from "./internal/wxcrypt.js"
import { SandboxError } from "./Sandbox.js"

const fail = (message: string) => Effect.fail(new SandboxError({ message: `MessageCrypto: ${message}` }))

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

/** The strings of an options object, by name, or the name of the first that is not a string. */
const strings = <const K extends string>(
  options: unknown,
  names: ReadonlyArray<K>
): Either.Either<Record<K, string>, string> => {
  if (!isRecord(options)) return Either.left("expected an options object")
  const out: Partial<Record<K, string>> = {}
  for (const name of names) {
    let value: unknown
    try {
      value = options[name]
    } catch {
      // a getter or a Proxy trap that throws, a revoked Proxy
      return Either.left("the options cannot be read")
    }
    if (typeof value !== "string") return Either.left(`${name} must be a string`)
    out[name] = value
  }
  return Either.right(out as Record<K, string>)
}

/** The most text `encrypt` takes: 1 MiB. */
const MAX_MESSAGE = 1024 * 1024

/**
 * `msg_signature` of a push: hex SHA-1 of `[token, timestamp, nonce, encrypt]` sorted and
 * concatenated.
 *
 * @since 0.1.0
 * @category signing
 */
export const signature = (options: {
  readonly token: string
  readonly timestamp: string
  readonly nonce: string
  readonly encrypt: string
}): Effect.Effect<string, SandboxError> =>
  Effect.suspend(() => {
    const checked = strings(options, ["token", "timestamp", "nonce", "encrypt"])
    if (Either.isLeft(checked)) return fail(checked.left)
    const { encrypt, nonce, timestamp, token } = checked.right
    return Effect.succeed(WxCrypt.signature(token, timestamp, nonce, encrypt))
  })

/**
 * Encrypts a message for `appId` with the EncodingAESKey: the base64 ciphertext. `random` is the
 * 16-byte prefix (default: 16 random bytes); give it for a fixed vector.
 *
 * @since 0.1.0
 * @category encryption
 */
export const encrypt = (options: {
  readonly encodingAesKey: string
  readonly appId: string
  readonly message: string
  readonly random?: Uint8Array | undefined
}): Effect.Effect<string, SandboxError> =>
  Effect.suspend(() => {
    const checked = strings(options, ["encodingAesKey", "appId", "message"])
    if (Either.isLeft(checked)) return fail(checked.left)
    const key = WxCrypt.parseKey(checked.right.encodingAesKey)
    if (Either.isLeft(key)) return fail(key.left)
    if (checked.right.message.length > MAX_MESSAGE) return fail(`message is over ${MAX_MESSAGE} characters`)
    let random: unknown
    try {
      random = options.random ?? Crypto.randomBytes(16)
      if (!(random instanceof Uint8Array) || random.length !== 16) return fail("random must be 16 bytes")
    } catch {
      return fail("random must be 16 bytes")
    }
    return Effect.succeed(WxCrypt.encrypt(key.right, checked.right.appId, checked.right.message, random))
  })

/**
 * Decrypts a ciphertext (base64) with the EncodingAESKey: the message and the appid it was sent to
 * (the receiver must check it is its own). Strict: canonical base64, whole blocks, a valid pad.
 *
 * @since 0.1.0
 * @category encryption
 */
export const decrypt = (options: {
  readonly encodingAesKey: string
  readonly encrypt: string
}): Effect.Effect<{ readonly message: string; readonly appId: string }, SandboxError> =>
  Effect.suspend(() => {
    const checked = strings(options, ["encodingAesKey", "encrypt"])
    if (Either.isLeft(checked)) return fail(checked.left)
    const key = WxCrypt.parseKey(checked.right.encodingAesKey)
    if (Either.isLeft(key)) return fail(key.left)
    if (checked.right.encrypt.length > 2 * MAX_MESSAGE) return fail(`encrypt is over ${2 * MAX_MESSAGE} characters`)
    const decrypted = WxCrypt.decrypt(key.right, checked.right.encrypt)
    return Either.isLeft(decrypted) ?
      fail(decrypted.left) :
      Effect.succeed({ message: decrypted.right.message, appId: decrypted.right.appId })
  })
