/**
 * The one rule of the ids a store is called with (internal/storeIds.ts), through its public checks
 * (`TokenStore.checkUser` / `checkAppId` / `checkCode`, `AppTokenStore.checkKey`,
 * `SessionStore.checkUser`) and core's memory stores; and the session-key codec's `decode`, held to
 * the rule `encode` is (a planted value is a typed error, never a session key).
 */
import { assert, describe, it } from "@effect/vitest"
import { AppTokenStore, SessionKeyStore, SessionStore, TokenCipher, TokenStore } from "@wxauth/core"
import { makeToken, randomAppId, randomOpenId, randomSessionKey } from "@wxauth/core/testing"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

const openid = "oVictim0000000000000000000001"
const appId = "wx0123456789abcdef"

/** Ids a database or a key layout takes for (appId, openid), or that are not ids at all. */
const badOpenids = [
  `${openid} `,
  ` ${openid}`,
  `${openid}\uD800`,
  `${openid}\uFFFD`,
  `${openid}\u0000`,
  "",
  "o".repeat(129)
]
const badAppIds = [`${appId} `, `${appId}:x`, `${appId}}`, `${appId}\uD800`, "", "w".repeat(65)]

const tag = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
  Effect.map(Effect.either(effect), Either.match({ onLeft: (e) => e._tag, onRight: () => "passed" }))

describe("the ids' checks for store adapters", () => {
  it.effect("TokenStore.checkUser / checkAppId / checkCode and SessionStore.checkUser: one rule, typed, no value quoted", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* tag(TokenStore.checkUser("get", appId, openid)), "passed")
      assert.strictEqual(yield* tag(TokenStore.checkUser("get", "wx-a_b", "x:y{}")), "passed")
      assert.strictEqual(yield* tag(SessionStore.checkUser("revokeUser", appId, openid)), "passed")
      assert.strictEqual(yield* tag(TokenStore.checkCode("recallCode", appId, TokenStore.hashCode("c"))), "passed")
      for (const bad of badOpenids) {
        const failure = yield* Effect.flip(TokenStore.checkUser("get", appId, bad))
        assert.strictEqual(failure._tag, "TokenStoreError")
        assert.strictEqual(failure.operation, "get")
        if (bad.length > 0) assert.notInclude(failure.message, openid)
        assert.strictEqual(yield* tag(SessionStore.checkUser("revokeUser", appId, bad)), "SessionStoreError")
        assert.strictEqual(yield* tag(TokenStore.checkCode("recallCode", appId, bad)), "TokenStoreError")
      }
      for (const bad of badAppIds) {
        assert.strictEqual(yield* tag(TokenStore.checkAppId("set", bad)), "TokenStoreError")
        assert.strictEqual(yield* tag(TokenStore.checkUser("set", bad, openid)), "TokenStoreError")
        assert.strictEqual(yield* tag(SessionStore.checkUser("revokeUser", bad, openid)), "SessionStoreError")
      }
      for (const bad of [undefined, null, 42, {}, ["wx"]]) {
        assert.strictEqual(yield* tag(TokenStore.checkUser("get", bad, openid)), "TokenStoreError")
        assert.strictEqual(yield* tag(AppTokenStore.checkKey("get", bad)), "TokenStoreError")
      }
      // an operation that is no short word is not formatted (a Proxy would throw)
      const odd = yield* Effect.flip(TokenStore.checkUser(new Proxy({}, {}) as never, appId, ""))
      assert.strictEqual(odd.operation, "operation")
    }))

  it.effect("AppTokenStore.checkKey: appids and the platform's keys pass; padded, non-ASCII, long keys are refused", () =>
    Effect.gen(function*() {
      for (
        const key of [
          appId,
          `component-ticket:${appId}`,
          `component-token:${appId}`,
          `authorizer-refresh:${"a".repeat(45)}`
        ]
      ) {
        assert.strictEqual(yield* tag(AppTokenStore.checkKey("get", key)), "passed", key)
      }
      for (const key of [`${appId} `, ` ${appId}`, `${appId}\uD800`, `${appId}\uFFFD`, "", "k".repeat(65)]) {
        assert.strictEqual(yield* tag(AppTokenStore.checkKey("get", key)), "TokenStoreError")
      }
    }))

  it.effect("the memory stores refuse the same ids, and keep the victim's value", () =>
    Effect.gen(function*() {
      const tokens = yield* TokenStore.makeMemory()
      const victim = yield* makeToken({ openid })
      yield* tokens.set(appId, victim)
      for (const bad of badOpenids) {
        assert.strictEqual(yield* tag(tokens.set(appId, yield* makeToken({ openid: bad }))), "TokenStoreError")
        assert.strictEqual(yield* tag(tokens.get(appId, bad)), "TokenStoreError")
        assert.strictEqual(yield* tag(tokens.remove(appId, bad)), "TokenStoreError")
      }
      for (const bad of badAppIds) assert.strictEqual(yield* tag(tokens.set(bad, victim)), "TokenStoreError")
      assert.isTrue(Option.isSome(yield* tokens.get(appId, openid)))
      const keys = yield* SessionKeyStore.makeMemory()
      for (const bad of badOpenids) {
        assert.strictEqual(yield* tag(keys.set(appId, bad, randomSessionKey())), "TokenStoreError")
      }
      const apps = yield* AppTokenStore.makeMemory()
      assert.strictEqual(yield* tag(apps.get(`${appId} `)), "TokenStoreError")
    }))
})

describe("SessionKeyStore.makeCodec decode", () => {
  const cipher = TokenCipher.layer({ keys: [{ id: "k1", key: TokenCipher.generateKey() }] })

  const refusesPlanted = Effect.gen(function*() {
    const codec = yield* SessionKeyStore.makeCodec
    const [app, user] = [randomAppId(), randomOpenId()]
    for (const planted of ["X".repeat(5_000_000), "not base64 at all !!", "x".repeat(1025), "", "a\nb"]) {
      const failure = yield* Effect.flip(codec.decode(app, user, planted))
      assert.strictEqual(failure._tag, "TokenStoreError")
      assert.include(failure.message, "does not decode")
      if (planted.length > 4) assert.notInclude(failure.message, planted.slice(0, 12))
    }
    const key = randomSessionKey()
    const opened = yield* codec.decode(app, user, yield* codec.encode(app, user, key))
    assert.strictEqual(Redacted.value(opened), Redacted.value(key))
  })

  it.effect("a planted value that is no session key (5 MB, not base64) is a typed error, not a key", () =>
    refusesPlanted)

  it.effect("with a cipher too, and a sealed value that opens to no session key is refused", () =>
    Effect.gen(function*() {
      yield* refusesPlanted
      const codec = yield* SessionKeyStore.makeCodec
      const sealer = yield* TokenCipher.TokenCipher
      const [app, user] = [randomAppId(), randomOpenId()]
      const sealed = yield* sealer.encrypt("not a key !!", `session-key\u0000${app}\u0000${user}`)
      const failure = yield* Effect.flip(codec.decode(app, user, sealed))
      assert.include(failure.message, "does not decode")
    }).pipe(Effect.provide(cipher)))
})
