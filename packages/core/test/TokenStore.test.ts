import { assert, describe, it } from "@effect/vitest"
import { AppTokenStore, OAuthToken, SessionKeyStore, TokenCipher, TokenStore } from "@wxauth/core"
import { makeAppToken, makeToken, randomAppId, randomSessionKey, tokenStoreSuite } from "@wxauth/core/testing"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

/** Two Options are the same: chai's deepStrictEqual takes any Some for None (it compares them as iterables). */
const assertSameOption = <A>(actual: Option.Option<A>, expected: Option.Option<A>, message?: string) => {
  assert.strictEqual(actual._tag, expected._tag, message)
  assert.deepStrictEqual(Option.getOrUndefined(actual), Option.getOrUndefined(expected), message)
}

tokenStoreSuite("memory", TokenStore.layerMemory)
tokenStoreSuite("memory, a store per test", () => TokenStore.layerMemory)

describe("TokenStore.layerMemory", () => {
  it.effect("is bounded: past maxEntries the least recently written token goes first", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.makeMemory({ maxEntries: 3 })
      const appId = randomAppId()
      const tokens = yield* Effect.all([makeToken(), makeToken(), makeToken(), makeToken()])
      for (const token of tokens) yield* store.set(appId, token)
      assert.isTrue(Option.isNone(yield* store.get(appId, tokens[0].openid)))
      for (const token of tokens.slice(1)) assert.isTrue(Option.isSome(yield* store.get(appId, token.openid)))
    }))

  it.effect("memory stores: a maxEntries that is not a number is the default (the store keeps what it is given)", () =>
    Effect.gen(function*() {
      // NaN or text: a bound no size is within, every entry forgotten as it was written; a BigInt,
      // a Symbol or an object whose conversion throws: a throw out of makeMemory
      const revoked = Proxy.revocable({}, {})
      revoked.revoke()
      const bad: ReadonlyArray<unknown> = [
        Number.NaN,
        "banana",
        10n,
        Symbol("maxEntries"),
        Object.create(null),
        {
          valueOf: () => {
            throw new Error("valueOf")
          }
        },
        revoked.proxy
      ]
      const appId = randomAppId()
      for (const maxEntries of bad) {
        const label = typeof maxEntries === "symbol"
          ? "a Symbol"
          : typeof maxEntries === "object"
          ? "an object"
          : String(maxEntries)
        const options = { maxEntries: maxEntries as number }
        const tokens = yield* TokenStore.makeMemory(options)
        const token = yield* makeToken()
        yield* tokens.set(appId, token)
        assert.isTrue(Option.isSome(yield* tokens.get(appId, token.openid)), `TokenStore, maxEntries ${label}`)
        const appTokens = yield* AppTokenStore.makeMemory(options)
        const appToken = yield* makeAppToken()
        yield* appTokens.set(appId, appToken)
        assert.isTrue(Option.isSome(yield* appTokens.get(appId)), `AppTokenStore, maxEntries ${label}`)
        const keys = yield* SessionKeyStore.makeMemory(options)
        yield* keys.set(appId, token.openid, randomSessionKey())
        assert.isTrue(Option.isSome(yield* keys.get(appId, token.openid)), `SessionKeyStore, maxEntries ${label}`)
      }
    }))
})

describe("TokenStore.layerMemory: code memos", () => {
  it.effect("rememberCode refuses a memo that is not a CodeMemo with finite times, as the shared stores do", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.makeMemory()
      const appId = randomAppId()
      const revoked = Proxy.revocable({}, {})
      revoked.revoke()
      const bad: ReadonlyArray<readonly [string, unknown]> = [
        // kept before: recallCode then died reading its expiresAt
        ["a revoked Proxy", revoked.proxy],
        ["a plain object", { openid: "o", exchangedAt: 0, expiresAt: 1 }],
        ["undefined", undefined],
        // kept before, and never expired
        ["expiresAt NaN", new TokenStore.CodeMemo({ openid: "o", exchangedAt: 0, expiresAt: Number.NaN }, true)],
        ["exchangedAt Infinity", new TokenStore.CodeMemo({ openid: "o", exchangedAt: Infinity, expiresAt: 1 }, true)]
      ]
      for (const [label, memo] of bad) {
        const codeHash = TokenStore.hashCode(label)
        const error = yield* Effect.flip(store.rememberCode(appId, codeHash, memo as TokenStore.CodeMemo))
        assert.strictEqual(error._tag, "TokenStoreError", label)
        assert.isTrue(Option.isNone(yield* store.recallCode(appId, codeHash)), label)
      }
      // a memo fresh by the store's clock (one ending at 60 s of epoch time was long over: the check
      // below could not see it while it compared Options with deepStrictEqual)
      const now = yield* Clock.currentTimeMillis
      const memo = new TokenStore.CodeMemo({ openid: "o", exchangedAt: now, expiresAt: now + 60_000 })
      yield* store.rememberCode(appId, TokenStore.hashCode("good"), memo)
      assertSameOption(yield* store.recallCode(appId, TokenStore.hashCode("good")), Option.some(memo))
    }))
})

describe("TokenStore.makeCodec", () => {
  it.effect("with a cipher key, the stored value holds no token in clear and opens only in its place", () =>
    Effect.gen(function*() {
      const codec = yield* TokenStore.makeCodec
      const token = yield* makeToken()
      const appId = randomAppId()
      const sealed = yield* codec.encodeToken(appId, token)
      assert.notInclude(sealed, Redacted.value(token.accessToken))
      assert.notInclude(sealed, Redacted.value(token.refreshToken))
      const opened = yield* codec.decodeToken(appId, token.openid, sealed)
      assert.strictEqual(Redacted.value(opened.accessToken), Redacted.value(token.accessToken))
      const moved = yield* Effect.flip(codec.decodeToken(randomAppId(), token.openid, sealed))
      assert.strictEqual(moved._tag, "TokenStoreError")
    }).pipe(Effect.provide(TokenCipher.layer({ keys: [{ id: "k1", key: TokenCipher.generateKey() }] }))))

  it.effect("garbage under a key is a TokenStoreError, not a crash", () =>
    Effect.gen(function*() {
      const codec = yield* TokenStore.makeCodec
      const error = yield* Effect.flip(codec.decodeToken("wxapp", "o1", "{not json"))
      assert.strictEqual(error._tag, "TokenStoreError")
      const sealed = yield* Effect.flip(codec.decodeToken("wxapp", "o1", "wxenc1:k1:AAAA"))
      assert.strictEqual(sealed._tag, "TokenStoreError")
      assert.include(sealed.message, "no TokenCipher key")
    }))

  it.effect("a stored token whose stamp no later write could follow, or whose expiry no store writes, does not decode", () =>
    Effect.gen(function*() {
      const codec = yield* TokenStore.makeCodec
      const appId = randomAppId()
      const token = yield* makeToken({ accessToken: Redacted.make("AT_SECRET_VALUE") })
      const json = yield* codec.encodeToken(appId, token)
      const planted = (field: string, time: string) => json.replace(new RegExp(`"${field}":\\d+`), `"${field}":${time}`)
      for (
        const [field, time] of [
          ["obtainedAt", "1e400"], // Infinity
          ["obtainedAt", "-1e400"],
          ["obtainedAt", "9007199254740991"], // 2^53 - 1: the write after it would be stamped 2^53
          ["obtainedAt", "9007199254740990"], // its write stamped 2^53 - 1 would expire at 2^53
          ["expiresAt", "1e400"],
          ["refreshExpiresAt", "1e400"],
          ["refreshExpiresAt", "9007199254740992"]
        ]
      ) {
        const value = planted(field, time)
        assert.notStrictEqual(value, json, `${field} planted`)
        const error = yield* Effect.flip(codec.decodeToken(appId, token.openid, value))
        assert.strictEqual(error._tag, "TokenStoreError", `${field} ${time}`)
        assert.strictEqual(error.operation, "get")
        assert.notInclude(JSON.stringify(error) + error.message, "AT_SECRET_VALUE")
      }
      // the latest stamp a write can follow: its write, stamped 2^53 - 2, expires at 2^53 - 1
      const latest = yield* codec.decodeToken(appId, token.openid, planted("obtainedAt", "9007199254740989"))
      assert.strictEqual(latest.obtainedAt, Number.MAX_SAFE_INTEGER - 2)
      const atTheEnd = yield* codec.decodeToken(appId, token.openid, planted("refreshExpiresAt", "9007199254740991"))
      assert.strictEqual(atTheEnd.refreshExpiresAt, Number.MAX_SAFE_INTEGER)
    }))

  it.effect("a token whose times no store writes does not encode, naming the field", () =>
    Effect.gen(function*() {
      const codec = yield* TokenStore.makeCodec
      for (const field of ["obtainedAt", "expiresAt", "refreshExpiresAt"] as const) {
        for (const time of [Infinity, NaN, 2 ** 53]) {
          const token = new OAuthToken.OAuthToken({ ...(yield* makeToken()), [field]: time }, true)
          const error = yield* Effect.flip(codec.encodeToken(randomAppId(), token))
          assert.strictEqual(error._tag, "TokenStoreError")
          assert.include(error.description, field)
        }
      }
    }))

  it("maxStoredValueBytes: the longest token JSON, sealed, fits; a stored value past it cannot be a token", () => {
    // 65,536 characters of 3 UTF-8 bytes each, sealed with a key id of 32 characters
    const sealed = "wxenc1:".length + 32 + 1 + Buffer.alloc(12 + 3 * OAuthToken.maxEncodedLength + 16).toString(
      "base64url"
    ).length
    assert.strictEqual(TokenStore.maxStoredValueBytes, sealed)
  })
})
