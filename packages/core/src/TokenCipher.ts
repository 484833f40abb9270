/**
 * Encryption of token values at rest, for every store: AES-256-GCM with a key ring, each value
 * tagged with the id of the key that sealed it, so keys rotate (old values still open, new ones use
 * the current key). The identity cipher is the default.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"
import * as Arguments from "./internal/arguments.js"
import type * as Internal from "./internal/cipherKey.js"
import * as WeChatConfig from "./WeChatConfig.js"
import { TokenStoreError } from "./WeChatError.js"

/**
 * A key of the ring: an id (`[A-Za-z0-9_-]{1,32}`) and 32 bytes, hex (64 characters) or base64 /
 * base64url encoded (43 characters and an optional `=`); any other character is refused.
 *
 * @since 0.1.0
 * @category models
 */
export type CipherKey = Internal.CipherKey

/**
 * Seals and opens stored values. `aad` (additional authenticated data) binds a sealed value to its
 * place, e.g. appId and openid, so a value copied to another user's row does not open.
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenCipherShape {
  readonly encrypt: (plaintext: string, aad: string) => Effect.Effect<string, TokenStoreError>
  readonly decrypt: (value: string, aad: string) => Effect.Effect<string, TokenStoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TokenCipher extends Context.Tag("@wxauth/core/TokenCipher")<TokenCipher, TokenCipherShape>() {}

/** The prefix of every sealed value: `wxenc1:<keyId>:<base64url(iv | ciphertext | tag)>`. */
const prefix = "wxenc1:"

const keyIdPattern = /^[A-Za-z0-9_-]{1,32}$/

const notText = (operation: "encrypt" | "decrypt") =>
  Effect.fail(new TokenStoreError({ operation, description: "the value and its aad must be strings" }))

/**
 * The identity cipher: values are stored as they are. Sealed values cannot be opened with it (a
 * clear `TokenStoreError` says a key is missing).
 *
 * @since 0.1.0
 * @category constructors
 */
export const identity: TokenCipherShape = {
  encrypt: (plaintext) => typeof plaintext === "string" ? Effect.succeed(plaintext) : notText("encrypt"),
  decrypt: (value) =>
    typeof value !== "string"
      ? notText("decrypt")
      : value.startsWith(prefix)
      ? Effect.fail(
        new TokenStoreError({
          operation: "decrypt",
          description: "the stored value is encrypted but no TokenCipher key is configured"
        })
      )
      : Effect.succeed(value)
}

const hexKey = /^[0-9a-fA-F]{64}$/
// 32 bytes are 43 characters and one padding `=`; the last character carries 2 bits
const base64Key = /^[A-Za-z0-9+/_-]{42}[AEIMQUYcgkosw048]=?$/

// Errors name a key by its position, never by its id: a reversed "key:id" entry would print the key.
const decodeKey = (key: CipherKey, position: number): Either.Either<Buffer, string> => {
  if (typeof key !== "object" || key === null || typeof key.id !== "string" || !keyIdPattern.test(key.id)) {
    return Either.left(`the id of key #${position + 1} must match [A-Za-z0-9_-]{1,32}`)
  }
  const text = Arguments.redactedText(key.key)
  if (typeof text !== "string" || text.length > 1024) {
    return Either.left(`key #${position + 1} must be a Redacted string`)
  }
  const problem = Arguments.secretTextProblem(text)
  if (problem !== undefined) return Either.left(`key #${position + 1} ${problem}`)
  const raw = text.trim()
  // exactly one encoding of 32 bytes: Node's base64 decoder skips any character outside its
  // alphabet, so a key with a typo or a stray character would be another text of the same key
  const bytes = hexKey.test(raw)
    ? Buffer.from(raw, "hex")
    : base64Key.test(raw)
    ? Buffer.from(raw, "base64")
    : undefined
  if (bytes !== undefined && bytes.length === 32) return Either.right(bytes)
  return /[^0-9A-Za-z+/_=-]/.test(raw)
    ? Either.left(
      `key #${position + 1} has a character that is not hex nor base64 (a quote or a space kept from an env file?)`
    )
    : Either.left(
      `key #${
        position + 1
      } must be 32 bytes (64 hex characters, or 43 base64 or base64url characters and an optional =)`
    )
}

/**
 * Options of the AES-256-GCM cipher: the key ring, and the id of the key new values are sealed with
 * (default: the first key).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly keys: ReadonlyArray<CipherKey>
  readonly currentKeyId?: string | undefined
}

/**
 * Builds an AES-256-GCM cipher. Values without the sealed prefix (written before encryption was
 * turned on) are read as they are, so a store can move to encryption without a migration. A ring
 * with a bad key, or with one id twice, is a `ConfigError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (given: Options): Either.Either<TokenCipherShape, ConfigError.ConfigError> => {
  // read once, guarded (a throwing getter or a revoked Proxy is a ConfigError): the options, a copy
  // of the key array, and each key's id and key
  const read = Arguments.guard((): Options | undefined => {
    if (typeof given !== "object" || given === null) return undefined
    const { currentKeyId, keys } = given
    if (!Array.isArray(keys)) return undefined
    return {
      currentKeyId,
      keys: keys.map((key: unknown): CipherKey =>
        typeof key === "object" && key !== null
          ? { id: (key as CipherKey).id, key: (key as CipherKey).key }
          : key as never
      )
    }
  })
  if (Either.isLeft(read)) return Either.left(ConfigError.InvalidData(["cipherKeys"], `the options ${read.left}`))
  const options = read.right
  if (options === undefined) {
    return Either.left(ConfigError.InvalidData(["cipherKeys"], "expected { keys: [...] }"))
  }
  if (options.currentKeyId !== undefined && typeof options.currentKeyId !== "string") {
    return Either.left(ConfigError.InvalidData(["cipherKeys"], "the current key id must be a string"))
  }
  if (options.keys.length === 0) {
    return Either.left(ConfigError.InvalidData(["cipherKeys"], "at least one key is needed"))
  }
  const ring = new Map<string, Buffer>()
  for (const [position, key] of options.keys.entries()) {
    const decoded = decodeKey(key, position)
    if (Either.isLeft(decoded)) return Either.left(ConfigError.InvalidData(["cipherKeys"], decoded.left))
    // one key per id: a second would silently replace the first (values sealed with it would stop opening)
    if (ring.has(key.id)) {
      return Either.left(
        ConfigError.InvalidData(["cipherKeys"], `the id of key #${position + 1} is the id of an earlier key`)
      )
    }
    ring.set(key.id, decoded.right)
  }
  const currentId = options.currentKeyId ?? options.keys[0].id
  const current = ring.get(currentId)
  if (current === undefined) {
    return Either.left(ConfigError.InvalidData(["cipherKeys"], "the current key id is not in the ring"))
  }
  const failure = (description: string) => new TokenStoreError({ operation: "decrypt", description })
  return Either.right({
    encrypt: (plaintext, aad) =>
      typeof plaintext !== "string" || typeof aad !== "string" ? notText("encrypt") : Effect.sync(() => {
        const iv = Crypto.randomBytes(12)
        const cipher = Crypto.createCipheriv("aes-256-gcm", current, iv)
        cipher.setAAD(Buffer.from(aad, "utf8"))
        const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()])
        const sealed = Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url")
        return `${prefix}${currentId}:${sealed}`
      }),
    decrypt: (value, aad) =>
      Effect.suspend(() => {
        if (typeof value !== "string" || typeof aad !== "string") return notText("decrypt")
        if (!value.startsWith(prefix)) return Effect.succeed(value)
        const rest = value.slice(prefix.length)
        const colon = rest.indexOf(":")
        if (colon < 0) return Effect.fail(failure("the sealed value is malformed"))
        const keyId = rest.slice(0, colon)
        const key = ring.get(keyId)
        if (key === undefined) {
          // the id is the stored value's: quoted only when it is an id (not the store's bytes, of any size)
          return Effect.fail(
            failure(
              keyIdPattern.test(keyId) ? `no key with id "${keyId}" in the key ring` : "the sealed value is malformed"
            )
          )
        }
        const bytes = Buffer.from(rest.slice(colon + 1), "base64url")
        if (bytes.length < 12 + 16) return Effect.fail(failure("the sealed value is truncated"))
        try {
          const decipher = Crypto.createDecipheriv("aes-256-gcm", key, bytes.subarray(0, 12))
          decipher.setAAD(Buffer.from(aad, "utf8"))
          decipher.setAuthTag(bytes.subarray(bytes.length - 16))
          const plain = Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()])
          return Effect.succeed(plain.toString("utf8"))
        } catch {
          return Effect.fail(failure(`the value does not open with key "${keyId}" (tampered, or moved)`))
        }
      })
  })
}

/**
 * A random 32-byte key, base64 encoded, for `CipherKey.key`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generateKey = (): Redacted.Redacted<string> => Redacted.make(Crypto.randomBytes(32).toString("base64"))

/**
 * The AES-256-GCM cipher as a Layer. A bad key ring is a `ConfigError` when the layer is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<TokenCipher, ConfigError.ConfigError> =>
  Layer.effect(TokenCipher, make(options))

/**
 * The cipher with its keys from `Config`. `WXAUTH_CIPHER_KEYS` style: `id1:base64key1,id2:base64key2`,
 * the first key is current.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<Redacted.Redacted<string>>
): Layer.Layer<TokenCipher, ConfigError.ConfigError> =>
  Layer.effect(
    TokenCipher,
    Effect.flatMap(loadKeyRing(config), (ring) => {
      const text = Arguments.redactedText(ring)
      if (text === undefined) {
        return Either.left(ConfigError.InvalidData(["cipherKeys"], "expected a Redacted string"))
      }
      const keys = text.split(",").map((entry) => entry.trim()).filter((entry) => entry.length > 0)
        .map((entry): CipherKey => {
          const colon = entry.indexOf(":")
          return colon < 0
            ? { id: "", key: Redacted.make("") }
            : { id: entry.slice(0, colon), key: Redacted.make(entry.slice(colon + 1)) }
        })
      return make({ keys })
    })
  )

const notAConfig = Effect.fail(ConfigError.InvalidData(["cipherKeys"], "expected a Config of the key ring"))

/** The key ring's Config loaded: a throw while loading it is a `ConfigError`, never a defect. */
const loadKeyRing = (config: unknown): Effect.Effect<unknown, ConfigError.ConfigError> =>
  Arguments.guardOr(() => Config.isConfig(config), false)
    ? Arguments.loadConfig(["cipherKeys"], config as Config.Config<unknown>)
    : notAConfig

/**
 * The cipher with the `cipherKeys` of the `WeChatConfig` in context (identity when it has none).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromWeChatConfig: Layer.Layer<TokenCipher, ConfigError.ConfigError, WeChatConfig.WeChatConfig> = Layer
  .effect(
    TokenCipher,
    Effect.flatMap(
      WeChatConfig.WeChatConfig,
      (config): Effect.Effect<TokenCipherShape, ConfigError.ConfigError> =>
        config.cipherKeys.length === 0 ? Effect.succeed(identity) : make({ keys: config.cipherKeys })
    )
  )
