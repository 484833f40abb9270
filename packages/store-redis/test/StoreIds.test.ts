/**
 * The ids the Redis stores are called with, against a real Redis: core's rule (`TokenStore.checkUser`,
 * an appId without `:`) keeps `{appId:openid}` one pair's key, so (appId "wxA:x", openid "y") cannot
 * overwrite or read ("wxA", "x:y"); and a session key planted under a user's key (5 MB, or text that is
 * no session key) is a typed error from `get`, never given back as the user's key. The user tokens'
 * keys and the app tokens' are disjoint: the appId `app-token` is refused, and a user token found
 * under an app token's key is not taken for one. The exported key helpers answer a string for
 * strings and throw nothing but an `InvalidArgument` for anything else.
 */
import { afterAll, assert, it } from "@effect/vitest"
import { TokenStore } from "@wxauth/core"
import { makeAppToken, makeToken, randomAppId, randomOpenId } from "@wxauth/core/testing"
import {
  RedisAppTokenStore,
  RedisRefreshLock,
  RedisSessionKeyStore,
  RedisSessionStore,
  RedisTokenStore
} from "@wxauth/store-redis"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { cleanup, describeRedis, makeAdmin, quietClient, randomPrefix, redisCall, redisUrl } from "./utils.js"

describeRedis("the Redis stores' ids", () => {
  const prefix = randomPrefix()
  const admin = makeAdmin()
  afterAll(async () => {
    await cleanup(admin, prefix)
    await admin.quit()
  })

  it.scoped("RedisTokenStore: (wxA:x, y) and (wxA, x:y) never share a key; an appId with ':' is refused", () =>
    Effect.gen(function*() {
      const client = yield* quietClient(redisUrl)
      const store = yield* RedisTokenStore.make(client, { keyPrefix: prefix })
      const victim = yield* makeToken({ openid: "x:y" })
      yield* store.set("wxA", victim)
      const other = yield* makeToken({ openid: "y", obtainedAt: victim.obtainedAt + 1 })
      for (
        const [label, attempt] of [
          ["set", store.set("wxA:x", other)],
          ["get", store.get("wxA:x", "y")],
          ["remove", store.remove("wxA:x", "y")],
          ["rememberCode", store.rememberCode("wxA:x", TokenStore.hashCode("c"), undefined as never)],
          ["recallCode", store.recallCode("wxA:x", TokenStore.hashCode("c"))]
        ] as const
      ) {
        const failure = yield* Effect.flip(attempt as Effect.Effect<unknown, { readonly _tag: string }>)
        assert.strictEqual(failure._tag, "TokenStoreError", `${label} with the appId "wxA:x"`)
      }
      const found = yield* store.get("wxA", "x:y")
      assert.isTrue(Option.isSome(found), "the token of (wxA, x:y) is still there")
      assert.strictEqual(Redacted.value(Option.getOrThrow(found).accessToken), Redacted.value(victim.accessToken))
      // padded and non-ASCII ids are refused too (core's one rule)
      for (const openid of ["x:y ", "x:y\uD800"]) {
        const failure = yield* Effect.flip(store.get("wxA", openid))
        assert.strictEqual(failure._tag, "TokenStoreError")
      }
    }))

  it.scoped("RedisSessionKeyStore: a planted value that is no session key (5 MB, not base64) is a typed error", () =>
    Effect.gen(function*() {
      const client = yield* quietClient(redisUrl)
      const store = yield* RedisSessionKeyStore.make(client, { keyPrefix: prefix })
      const openid = randomOpenId()
      const key = RedisSessionKeyStore.sessionKeyKey("wxapp", openid, prefix)
      const expiresAt = String(Date.now() + 3_600_000)
      for (const planted of ["X".repeat(5_000_000), "not base64 at all !!", "a\u0000b", " "]) {
        yield* redisCall(() => admin.hset(key, "e", expiresAt, "v", planted))
        const failure = yield* Effect.flip(store.get("wxapp", openid))
        assert.strictEqual(failure._tag, "TokenStoreError")
        // the 5 MB one is refused by its length, without being fetched
        assert.include(failure.message, planted.length > 3072 ? "longer than any session key" : "does not decode")
        if (planted.length > 4) assert.notInclude(failure.message, planted.slice(0, 20))
      }
      // a key of the rule still comes back
      yield* redisCall(() => admin.hset(key, "e", expiresAt, "v", "tiihtNczf5v6AKRyjwEUhQ=="))
      assert.strictEqual(
        Redacted.value(Option.getOrThrow(yield* store.get("wxapp", openid))),
        "tiihtNczf5v6AKRyjwEUhQ=="
      )
    }))

  it.scoped("the user tokens' keys and the app tokens' are disjoint: the appId app-token is refused, a user token is no app token", () =>
    Effect.gen(function*() {
      const client = yield* quietClient(redisUrl)
      const tokens = yield* RedisTokenStore.make(client, { keyPrefix: prefix })
      const appTokens = yield* RedisAppTokenStore.make(client, { keyPrefix: prefix })
      const appId = randomAppId()
      // the key of the user token ("app-token", appId) is the app token key of appId
      assert.strictEqual(
        RedisTokenStore.tokenKey("app-token", appId, prefix),
        RedisAppTokenStore.appTokenKey(appId, prefix)
      )
      const appToken = yield* makeAppToken({ obtainedAt: 1 })
      yield* appTokens.set(appId, appToken)
      const userToken = yield* makeToken({ openid: appId, obtainedAt: 2 })
      for (
        const [label, attempt] of [
          ["set", tokens.set("app-token", userToken)],
          ["get", tokens.get("app-token", appId)],
          ["remove", tokens.remove("app-token", appId)],
          ["rememberCode", tokens.rememberCode("app-token", TokenStore.hashCode("c"), undefined as never)],
          ["recallCode", tokens.recallCode("app-token", TokenStore.hashCode("c"))]
        ] as const
      ) {
        const outcome = yield* Effect.either(attempt as Effect.Effect<unknown, { readonly _tag: string }>)
        assert.isTrue(Either.isLeft(outcome), `${label} with the appId "app-token" is refused`)
        assert.strictEqual(Either.getLeft(outcome).pipe(Option.getOrThrow)._tag, "TokenStoreError")
      }
      // the app's token is still its own
      assert.strictEqual(
        Redacted.value(Option.getOrThrow(yield* appTokens.get(appId)).accessToken),
        Redacted.value(appToken.accessToken)
      )
      // a user token found under the app token's key (written by an earlier version) is no app token
      const codec = yield* TokenStore.makeCodec
      const value = yield* codec.encodeToken("app-token", userToken)
      const key = RedisAppTokenStore.appTokenKey(appId, prefix)
      yield* redisCall(() => admin.hset(key, "o", "3", "v", value))
      const read = yield* Effect.either(appTokens.get(appId))
      assert.isTrue(Either.isLeft(read), "a stored user token is refused as an app token")
      const failure = Either.getLeft(read).pipe(Option.getOrThrow)
      assert.strictEqual(failure._tag, "TokenStoreError")
      assert.include(failure.message, "does not decode")
      assert.notInclude(failure.message + JSON.stringify(failure), Redacted.value(userToken.accessToken))
      // an app token written over it is read again
      yield* appTokens.set(appId, yield* makeAppToken({ obtainedAt: 4 }))
      assert.isTrue(Option.isSome(yield* appTokens.get(appId)))
    }))

  it("the key helpers answer strings as before, and throw nothing but an InvalidArgument for anything else", () => {
    assert.strictEqual(RedisTokenStore.tokenKey("wxA", "o:1", "p:"), "p:{wxA:o:1}:token")
    assert.strictEqual(RedisTokenStore.tokenKey("wxA", "o"), "wxauth:{wxA:o}:token")
    assert.strictEqual(RedisTokenStore.codeKey("wxA", "h", "p:"), "p:code:wxA:h")
    assert.strictEqual(RedisAppTokenStore.appTokenKey("wxA", "p:"), "p:{app-token:wxA}:token")
    assert.strictEqual(RedisSessionKeyStore.sessionKeyKey("wxA", "o:1", "p:"), "p:{wxA:o%3A1}:session-key")
    assert.strictEqual(RedisSessionStore.sessionKey("h", "p:"), "p:session:h")
    assert.strictEqual(RedisSessionStore.userIndexKey("wxA", "o:1", "p:"), "p:{wxA:o%3A1}:sessions")
    assert.strictEqual(RedisRefreshLock.lockKey("wxA:o", "p:"), "p:{wxA:o}:lock")
    const revoked = Proxy.revocable({}, {})
    revoked.revoke()
    const exotic: ReadonlyArray<readonly [string, unknown]> = [
      ["a Symbol", Symbol("s")],
      ["an object whose toString throws", {
        toString() {
          throw new Error("boom")
        }
      }],
      ["a null-prototype object", Object.create(null)],
      ["a revoked Proxy", revoked.proxy],
      ["a number", 42],
      ["an object", {}],
      ["null", null]
    ]
    const helpers: ReadonlyArray<readonly [string, number, (...args: Array<any>) => string]> = [
      ["tokenKey", 3, RedisTokenStore.tokenKey],
      ["codeKey", 3, RedisTokenStore.codeKey],
      ["appTokenKey", 2, RedisAppTokenStore.appTokenKey],
      ["sessionKeyKey", 3, RedisSessionKeyStore.sessionKeyKey],
      ["sessionKey", 2, RedisSessionStore.sessionKey],
      ["userIndexKey", 3, RedisSessionStore.userIndexKey],
      ["lockKey", 2, RedisRefreshLock.lockKey]
    ]
    for (const [name, arity, helper] of helpers) {
      for (const [label, value] of exotic) {
        // in each position, the others valid
        for (let position = 0; position < arity; position++) {
          const args: Array<unknown> = Array.from({ length: arity }, () => "x")
          args[position] = value
          let thrown: unknown = undefined
          let answer: unknown = undefined
          try {
            answer = helper(...args)
          } catch (error) {
            thrown = error
          }
          const what = `${name} with ${label} as argument ${position + 1}`
          assert.strictEqual(answer, undefined, `${what}: answered ${typeof answer}`)
          assert.strictEqual((thrown as { readonly _tag?: unknown } | undefined)?._tag, "InvalidArgument", what)
          assert.notInclude(String(thrown), "boom", what)
        }
      }
    }
  })
})
