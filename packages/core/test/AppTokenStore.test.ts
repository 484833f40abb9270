/**
 * The AppTokenStore contract on the memory store, and what the memory store and the codec add:
 * the bound on entries, and values sealed through the TokenCipher, bound to their app.
 */
import { assert, describe, it } from "@effect/vitest"
import { AppTokenStore, TokenCipher } from "@wxauth/core"
import { appTokenStoreSuite, makeAppToken, randomAppId } from "@wxauth/core/testing"
import * as Clock from "effect/Clock"
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

  it.effect("never evicts what cannot be fetched again (a pushed ticket, refresh tokens): past maxEntries the access tokens go", () =>
    Effect.gen(function*() {
      const store = yield* AppTokenStore.makeMemory({ maxEntries: 2 })
      const apps = [randomAppId(), randomAppId(), randomAppId(), randomAppId()]
      const ticket = `component-ticket:${randomAppId()}`
      const componentToken = `component-token:${randomAppId()}`
      const now = yield* Clock.currentTimeMillis
      const lasting = { expiresAt: now + 3650 * 86_400_000 }
      // written once, first: the oldest entries of the store
      yield* store.set(ticket, yield* makeAppToken({ expiresAt: now + 12 * 3_600_000 }))
      for (const appId of apps) yield* store.set(`authorizer-refresh:${appId}`, yield* makeAppToken(lasting))
      yield* store.set(componentToken, yield* makeAppToken())
      for (const appId of apps) yield* store.set(appId, yield* makeAppToken())
      const stored = (key: string) => Effect.map(store.get(key), Option.isSome)
      assert.isTrue(yield* stored(ticket), "the ticket")
      for (const appId of apps) assert.isTrue(yield* stored(`authorizer-refresh:${appId}`), "a refresh token")
      // the access tokens are bounded, the least recently written first (the component token among them)
      assert.deepStrictEqual(
        [yield* stored(componentToken), ...(yield* Effect.forEach(apps, stored))],
        [false, false, false, true, true]
      )
    }))

  it.effect("entries that cannot be fetched again are dropped once expired, when their number has doubled past maxEntries", () =>
    Effect.gen(function*() {
      const store = yield* AppTokenStore.makeMemory({ maxEntries: 2 })
      const now = yield* Clock.currentTimeMillis
      const withdrawn = `authorizer-refresh:${randomAppId()}`
      // a withdrawn app's void entry (expired at its stamp) keeps an older write out
      yield* store.set(withdrawn, yield* makeAppToken({ obtainedAt: now - 100, expiresAt: now - 100 }))
      const older = yield* makeAppToken({ obtainedAt: now - 200, expiresAt: now + 86_400_000 })
      yield* store.set(withdrawn, older)
      assert.isTrue(Option.isNone(yield* store.get(withdrawn)))
      // past maxEntries entries of this kind: the expired one is cleared, the valid ones are all kept
      const valid = [randomAppId(), randomAppId()].map((appId) => `authorizer-refresh:${appId}`)
      for (const key of valid) yield* store.set(key, yield* makeAppToken({ expiresAt: now + 86_400_000 }))
      for (const key of valid) assert.isTrue(Option.isSome(yield* store.get(key)))
      yield* store.set(withdrawn, older)
      assert.isTrue(Option.isSome(yield* store.get(withdrawn)), "the void entry was dropped")
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

  it.effect("a stored app token whose stamp no later write could follow, or whose expiry no store writes, does not decode", () =>
    Effect.gen(function*() {
      const codec = yield* AppTokenStore.makeCodec
      const appId = randomAppId()
      const json = yield* codec.encode(appId, yield* makeAppToken())
      const planted = (field: string, time: string) => json.replace(new RegExp(`"${field}":\\d+`), `"${field}":${time}`)
      for (
        const [field, time] of [
          ["obtainedAt", "1e400"],
          ["obtainedAt", "9007199254740991"],
          ["obtainedAt", "9007199254740990"],
          ["expiresAt", "1e400"]
        ]
      ) {
        const value = planted(field, time)
        assert.notStrictEqual(value, json, `${field} planted`)
        const error = yield* Effect.flip(codec.decode(appId, value))
        assert.strictEqual(error._tag, "TokenStoreError", `${field} ${time}`)
      }
      const latest = yield* codec.decode(appId, planted("obtainedAt", "9007199254740989"))
      assert.strictEqual(latest.obtainedAt, Number.MAX_SAFE_INTEGER - 2)
      // the write that replaces it (stamped 1 ms after it, expiring 1 ms after that at the earliest) is written
      yield* codec.encode(
        appId,
        yield* makeAppToken({ obtainedAt: latest.obtainedAt + 1, expiresAt: Number.MAX_SAFE_INTEGER })
      )
    }))

  it.effect("an app token whose times no store writes does not encode, naming the field", () =>
    Effect.gen(function*() {
      const codec = yield* AppTokenStore.makeCodec
      for (const field of ["obtainedAt", "expiresAt"] as const) {
        const error = yield* Effect.flip(codec.encode(randomAppId(), yield* makeAppToken({ [field]: Infinity })))
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.include(error.description, field)
      }
    }))
})
