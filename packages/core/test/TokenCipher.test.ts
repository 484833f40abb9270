import { assert, describe, it } from "@effect/vitest"
import { TokenCipher, TokenStore, WeChatConfig } from "@wxauth/core"
import { makeToken, randomAppId } from "@wxauth/core/testing"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"

/** The cipher `layerFromWeChatConfig` builds for a config with these options. */
const fromConfig = (options: WeChatConfig.Options) =>
  Effect.provide(
    TokenCipher.TokenCipher,
    TokenCipher.layerFromWeChatConfig.pipe(Layer.provide(WeChatConfig.layer(options)))
  )

describe("TokenCipher", () => {
  it.effect("keys rotate: values sealed with an old key still open, new ones use the current key", () =>
    Effect.gen(function*() {
      const k1 = { id: "k1", key: TokenCipher.generateKey() }
      const k2 = { id: "k2", key: TokenCipher.generateKey() }
      const token = yield* makeToken()
      const appId = randomAppId()
      const old = yield* Effect.flatMap(TokenStore.makeCodec, (codec) => codec.encodeToken(appId, token)).pipe(
        Effect.provide(TokenCipher.layer({ keys: [k1] }))
      )
      const codec = yield* TokenStore.makeCodec.pipe(Effect.provide(TokenCipher.layer({ keys: [k2, k1] })))
      const opened = yield* codec.decodeToken(appId, token.openid, old)
      assert.strictEqual(Redacted.value(opened.refreshToken), Redacted.value(token.refreshToken))
      assert.isTrue((yield* codec.encodeToken(appId, token)).startsWith("wxenc1:k2:"))
    }))

  it.effect("a bad key ring is a ConfigError at layer build", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.provide(
          TokenCipher.TokenCipher,
          TokenCipher.layer({ keys: [{ id: "k1", key: Redacted.make("short") }] })
        )
      )
      assert.include(String(error), "32 bytes")
    }))

  it.effect("a key is one text of 32 bytes: a stray character is a ConfigError, base64url and no padding are the same key", () =>
    Effect.gen(function*() {
      const key = Redacted.value(TokenCipher.generateKey())
      const ringOf = (text: string) =>
        Effect.provide(TokenStore.makeCodec, TokenCipher.layer({ keys: [{ id: "k1", key: Redacted.make(text) }] }))
      // Node's base64 decoder skips what is not in its alphabet: each of these decoded to the key
      const last = key[42]
      const bumped = String.fromCharCode(last.charCodeAt(0) + 1) // the same bytes, other unused bits
      for (const text of [`${key}!!!`, `${key.slice(0, 20)} ${key.slice(20)}`, `"${key}"`]) {
        const error = yield* Effect.flip(ringOf(text))
        assert.isTrue(ConfigError.isInvalidData(error), text)
        assert.include(String(error), "key #1 has a character that is not hex nor base64")
        assert.notInclude(String(error), key.slice(0, 42))
      }
      const nonCanonical = yield* Effect.flip(ringOf(`${key.slice(0, 42)}${bumped}=`))
      assert.include(String(nonCanonical), "key #1 must be 32 bytes")
      // the same key written as base64url without padding opens what the base64 text sealed
      const token = yield* makeToken()
      const appId = randomAppId()
      const sealed = yield* Effect.flatMap(ringOf(key), (codec) => codec.encodeToken(appId, token))
      const url = key.replace(/\+/g, "-").replace(/\//g, "_").replace(/=$/, "")
      const opened = yield* Effect.flatMap(ringOf(url), (codec) => codec.decodeToken(appId, token.openid, sealed))
      assert.strictEqual(Redacted.value(opened.accessToken), Redacted.value(token.accessToken))
    }))

  it.effect("a key with a lone surrogate is a ConfigError: base64 would skip it, one key under two texts", () =>
    Effect.gen(function*() {
      const key = Redacted.value(TokenCipher.generateKey())
      for (const text of [`${key}\uD800`, `${key.slice(0, 20)}\uDC00${key.slice(20)}`]) {
        const error = yield* Effect.flip(
          Effect.provide(TokenCipher.TokenCipher, TokenCipher.layer({ keys: [{ id: "k1", key: Redacted.make(text) }] }))
        )
        assert.isTrue(ConfigError.isInvalidData(error))
        assert.include(String(error), "key #1 must be a well-formed string")
        assert.notInclude(String(error), key)
      }
      // through the config's cipherKeys too
      const fromConfigError = yield* Effect.flip(
        fromConfig({ appId: "wxabc", appSecret: "s", cipherKeys: [{ id: "k1", key: Redacted.make(`${key}\uD800`) }] })
      )
      assert.include(String(fromConfigError), "well-formed")
    }))

  describe("layerFromWeChatConfig", () => {
    it.effect("without cipherKeys it is the identity: values are stored as they are, a sealed one does not open", () =>
      Effect.gen(function*() {
        const cipher = yield* fromConfig({ appId: "wx1234567890abcdef", appSecret: "secret" })
        assert.strictEqual(yield* cipher.encrypt("plain value", "wxapp:o1"), "plain value")
        assert.strictEqual(yield* cipher.decrypt("plain value", "wxapp:o1"), "plain value")
        const sealed = yield* Effect.flip(cipher.decrypt("wxenc1:k1:AAAA", "wxapp:o1"))
        assert.strictEqual(sealed._tag, "TokenStoreError")
        assert.include(sealed.message, "no TokenCipher key")
      }))

    it.effect("with cipherKeys it seals with AES-256-GCM under the first key, as TokenCipher.layer does", () =>
      Effect.gen(function*() {
        const k1 = { id: "k1", key: TokenCipher.generateKey() }
        const k2 = { id: "k2", key: TokenCipher.generateKey() }
        const cipher = yield* fromConfig({ appId: "wx1234567890abcdef", appSecret: "secret", cipherKeys: [k1, k2] })
        const sealed = yield* cipher.encrypt("the access token", "wxapp:o1")
        assert.isTrue(sealed.startsWith("wxenc1:k1:"), sealed)
        assert.notInclude(sealed, "the access token")
        assert.strictEqual(yield* cipher.decrypt(sealed, "wxapp:o1"), "the access token")
        const moved = yield* Effect.flip(cipher.decrypt(sealed, "wxapp:o2"))
        assert.strictEqual(moved._tag, "TokenStoreError")
        // the same ring given to TokenCipher.layer opens it: one cipher, two ways to configure it
        const same = yield* Effect.provide(TokenCipher.TokenCipher, TokenCipher.layer({ keys: [k2, k1] }))
        assert.strictEqual(yield* same.decrypt(sealed, "wxapp:o1"), "the access token")
      }))

    it.effect("a bad key in the config's cipherKeys is a ConfigError when the layer is built", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          fromConfig({
            appId: "wx1234567890abcdef",
            appSecret: "secret",
            cipherKeys: [{ id: "k1", key: Redacted.make("short") }]
          })
        )
        assert.isTrue(ConfigError.isConfigError(error) && ConfigError.isInvalidData(error))
        assert.deepStrictEqual((error as ConfigError.InvalidData).path, ["cipherKeys"])
        assert.include(String(error), "32 bytes")
      }))
  })
})
