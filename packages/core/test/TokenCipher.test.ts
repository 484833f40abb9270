import { assert, describe, it } from "@effect/vitest"
import { TokenCipher, TokenStore } from "@wxauth/core"
import { makeToken, randomAppId } from "@wxauth/core/testing"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

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
})
