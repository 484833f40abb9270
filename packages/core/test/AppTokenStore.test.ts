/**
 * The AppTokenStore contract on the memory store, and what the memory store and the codec add:
 * the bound on entries, and values sealed through the TokenCipher, bound to their app.
 */
import { assert, describe, it } from "@effect/vitest"
import { AppTokenStore, TokenCipher } from "@wxauth/core"
import { appTokenStoreSuite, makeAppToken, randomAppId } from "@wxauth/core/testing"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

appTokenStoreSuite("memory", AppTokenStore.layerMemory)
appTokenStoreSuite("memory, a store per test", () => AppTokenStore.layerMemory)

describe("AppTokenStore.makeMemory", () => {
  it.effect("is bounded: past maxEntries the least recently written app goes first", () =>
    Effect.gen(function*() {
      const store = yield* AppTokenStore.makeMemory({ maxEntries: 2 })
      const apps = [randomAppId(), randomAppId(), randomAppId()]
      for (const appId of apps) yield* store.set(appId, yield* makeAppToken())
      assert.isTrue(Option.isNone(yield* store.get(apps[0])))
      assert.isTrue(Option.isSome(yield* store.get(apps[1])))
      assert.isTrue(Option.isSome(yield* store.get(apps[2])))
    }))
})

describe("AppTokenStore.makeCodec", () => {
  const cipher = TokenCipher.layer({ keys: [{ id: "k1", key: TokenCipher.generateKey() }] })

  it.effect("without a cipher the value round-trips as JSON", () =>
    Effect.gen(function*() {
      const codec = yield* AppTokenStore.makeCodec
      const appId = randomAppId()
      const token = yield* makeAppToken()
      const value = yield* codec.encode(appId, token)
      const decoded = yield* codec.decode(appId, value)
      assert.strictEqual(Redacted.value(decoded.accessToken), Redacted.value(token.accessToken))
      assert.strictEqual(decoded.obtainedAt, token.obtainedAt)
      assert.strictEqual(decoded.expiresAt, token.expiresAt)
    }))

  it.effect("with a cipher the value holds no token in clear and opens only for its app", () =>
    Effect.gen(function*() {
      const codec = yield* AppTokenStore.makeCodec
      const appId = randomAppId()
      const token = yield* makeAppToken()
      const sealed = yield* codec.encode(appId, token)
      assert.isTrue(sealed.startsWith("wxenc1:k1:"))
      assert.notInclude(sealed, Redacted.value(token.accessToken))
      const opened = yield* codec.decode(appId, sealed)
      assert.strictEqual(Redacted.value(opened.accessToken), Redacted.value(token.accessToken))
      const error = yield* Effect.flip(codec.decode(randomAppId(), sealed))
      assert.strictEqual(error._tag, "TokenStoreError")
    }).pipe(Effect.provide(cipher)))

  it.effect("a value that does not decode is a TokenStoreError that quotes nothing of it", () =>
    Effect.gen(function*() {
      const codec = yield* AppTokenStore.makeCodec
      const secret = "SECRET_garbage_value"
      for (
        const value of [secret, `{"accessToken":"${secret}"}`, JSON.stringify({ accessToken: secret, obtainedAt: "x" })]
      ) {
        const error = yield* Effect.flip(codec.decode(randomAppId(), value))
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.notInclude(JSON.stringify(error) + error.message + String(error.cause), secret)
      }
    }))
})
