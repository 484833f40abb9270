/**
 * The SessionKeyStore contract on the memory store (default and short ttl), and what the memory
 * store and the codec add: the bound on entries, and keys sealed through the TokenCipher, bound to
 * their app and user.
 */
import { assert, describe, it } from "@effect/vitest"
import { SessionKeyStore, TokenCipher } from "@wxauth/core"
import { randomAppId, randomOpenId, randomSessionKey, sessionKeyStoreSuite } from "@wxauth/core/testing"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"

sessionKeyStoreSuite("memory", SessionKeyStore.layerMemory)
sessionKeyStoreSuite(
  "memory, 1 hour, a store per test",
  () => Layer.effect(SessionKeyStore.SessionKeyStore, SessionKeyStore.makeMemory({ ttl: "1 hour" })),
  { ttl: "1 hour" }
)

describe("SessionKeyStore.makeMemory", () => {
  it.effect("is bounded: past maxEntries the least recently written key goes first", () =>
    Effect.gen(function*() {
      const store = yield* SessionKeyStore.makeMemory({ maxEntries: 2 })
      const appId = randomAppId()
      const users = [randomOpenId(), randomOpenId(), randomOpenId()]
      for (const openid of users) yield* store.set(appId, openid, randomSessionKey())
      assert.isTrue(Option.isNone(yield* store.get(appId, users[0])))
      assert.isTrue(Option.isSome(yield* store.get(appId, users[1])))
      assert.isTrue(Option.isSome(yield* store.get(appId, users[2])))
    }))
})

describe("SessionKeyStore.makeMemory's ttl", () => {
  /** How long a key set now is read back by a store made with this ttl (TestClock), to the millisecond. */
  const keptFor = (ttl: unknown) =>
    Effect.gen(function*() {
      const store = yield* SessionKeyStore.makeMemory({ ttl } as never)
      const [appId, openid] = [randomAppId(), randomOpenId()]
      yield* store.set(appId, openid, randomSessionKey())
      const start = yield* TestClock.currentTimeMillis
      const keptAt = (millis: number) =>
        Effect.gen(function*() {
          yield* TestClock.setTime(start + millis)
          return Option.isSome(yield* store.get(appId, openid))
        })
      // the key is read back right after set, and up to one millisecond before its expiry
      const expected = Duration.toMillis(
        Option.getOrElse(Duration.decodeUnknown(ttl as Duration.DurationInput), () => SessionKeyStore.defaultTtl)
      )
      return { now: yield* keptAt(0), before: yield* keptAt(expected - 1), at: yield* keptAt(expected) }
    })

  it.effect("a ttl that is not a positive duration of at most 365 days is the default, 30 days, never a zero lifetime", () =>
    Effect.gen(function*() {
      const thirtyDays = Duration.toMillis(SessionKeyStore.defaultTtl)
      assert.strictEqual(thirtyDays, 30 * 24 * 60 * 60 * 1000)
      for (
        const ttl of [
          NaN,
          -1,
          -30_000,
          "-5 seconds",
          "-1 millis",
          [-5, 0],
          BigInt(-5),
          0,
          "0 millis",
          Infinity,
          "Infinity",
          "400 days",
          "soon",
          {},
          null
        ]
      ) {
        const store = yield* SessionKeyStore.makeMemory({ ttl } as never)
        const [appId, openid] = [randomAppId(), randomOpenId()]
        yield* store.set(appId, openid, randomSessionKey())
        const start = yield* TestClock.currentTimeMillis
        const label = typeof ttl === "bigint" ? `${ttl}n` : typeof ttl === "number" ? String(ttl) : JSON.stringify(ttl)
        assert.isTrue(Option.isSome(yield* store.get(appId, openid)), `${label}: not kept right after set`)
        yield* TestClock.setTime(start + thirtyDays - 1)
        assert.isTrue(Option.isSome(yield* store.get(appId, openid)), `${label}: gone before 30 days`)
        yield* TestClock.setTime(start + thirtyDays)
        assert.isTrue(Option.isNone(yield* store.get(appId, openid)), `${label}: kept past 30 days`)
      }
    }))

  it.effect("a positive duration of at most 365 days is used as it is", () =>
    Effect.gen(function*() {
      for (const ttl of [1500, "1 hour", [2, 0], "365 days", Duration.days(365)]) {
        const kept = yield* keptFor(ttl)
        assert.deepStrictEqual(kept, { now: true, before: true, at: false }, JSON.stringify(ttl))
      }
    }))
})

describe("SessionKeyStore.makeCodec", () => {
  const cipher = TokenCipher.layer({ keys: [{ id: "k1", key: TokenCipher.generateKey() }] })

  it.effect("with a cipher the key is sealed, and opens only for its app and user", () =>
    Effect.gen(function*() {
      const codec = yield* SessionKeyStore.makeCodec
      const [appId, openid, key] = [randomAppId(), randomOpenId(), randomSessionKey()]
      const sealed = yield* codec.encode(appId, openid, key)
      assert.isTrue(sealed.startsWith("wxenc1:k1:"))
      assert.notInclude(sealed, Redacted.value(key))
      assert.strictEqual(Redacted.value(yield* codec.decode(appId, openid, sealed)), Redacted.value(key))
      for (const [a, o] of [[randomAppId(), openid], [appId, randomOpenId()]]) {
        const error = yield* Effect.flip(codec.decode(a, o, sealed))
        assert.strictEqual(error._tag, "TokenStoreError")
      }
    }).pipe(Effect.provide(cipher)))

  it.effect("a key that is not a Redacted string does not encode, and the error quotes nothing", () =>
    Effect.gen(function*() {
      const codec = yield* SessionKeyStore.makeCodec
      const plain = "plain-session-key=="
      for (const bad of [plain, Redacted.make(""), Redacted.make(7), undefined]) {
        const error = yield* Effect.flip(codec.encode(randomAppId(), randomOpenId(), bad as never))
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.notInclude(JSON.stringify(error) + error.message, plain)
      }
    }))
})

describe("SessionKeyStore.maxStoredValueBytes", () => {
  /** A cipher of the caller's whose output is 1,024 characters of `filler` (not ASCII), the key behind a `:`. */
  const wideCipher = (filler: string) =>
    Effect.provideService(TokenCipher.TokenCipher, {
      encrypt: (plain: string) => {
        const head = `${Buffer.from(plain).toString("base64")}:`
        return Effect.succeed(
          head + filler.repeat(Math.ceil((1024 - head.length) / filler.length)).slice(0, 1024 - head.length)
        )
      },
      decrypt: (value: string) => Effect.succeed(Buffer.from(value.split(":")[0], "base64").toString())
    } as unknown as TokenCipher.TokenCipherShape)

  it.effect("is the UTF-8 length of the longest value decode reads: a store that fetches no longer value refuses none it could read", () =>
    Effect.gen(function*() {
      // three bytes a character (U+20AC); a surrogate pair is 4 bytes for 2 characters
      for (const filler of ["\u20ac", "\ud83d\ude00", "a"]) {
        const sealed = yield* Effect.gen(function*() {
          const codec = yield* SessionKeyStore.makeCodec
          const [appId, openid, key] = [randomAppId(), randomOpenId(), randomSessionKey()]
          const value = yield* codec.encode(appId, openid, key)
          assert.strictEqual(Redacted.value(yield* codec.decode(appId, openid, value)), Redacted.value(key))
          return value
        }).pipe(wideCipher(filler))
        assert.strictEqual(sealed.length, 1024)
        assert.isAtMost(Buffer.byteLength(sealed), SessionKeyStore.maxStoredValueBytes)
      }
      assert.strictEqual(SessionKeyStore.maxStoredValueBytes, 3 * 1024)
      // one character more is refused, however few bytes it is
      const codec = yield* SessionKeyStore.makeCodec
      assert.strictEqual(
        (yield* Effect.flip(codec.decode(randomAppId(), randomOpenId(), "a".repeat(1025))))._tag,
        "TokenStoreError"
      )
    }))
})
