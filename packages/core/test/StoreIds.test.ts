/**
 * The one rule of the ids a store is called with (internal/storeIds.ts), through its public checks
 * (`TokenStore.checkUser` / `checkAppId` / `checkCode`, `AppTokenStore.checkKey`,
 * `SessionStore.checkUser`) and core's memory stores; and the session-key codec's `decode`, held to
 * the rule `encode` is (a planted value is a typed error, never a session key).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import {
  AppTokenStore,
  MiniProgram,
  OAuthToken,
  SessionKeyStore,
  SessionStore,
  TokenCipher,
  TokenStore,
  WeChatConfig,
  WeChatOAuth
} from "@wxauth/core"
import { makeToken, randomAppId, randomOpenId, randomSessionKey } from "@wxauth/core/testing"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
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

/** A live session of (appId, openid) at `now`: the `Session` schema checks the ids' lengths only. */
const sessionOf = (app: string, user: string, now: number) =>
  new SessionStore.Session({
    idHash: SessionStore.hashToken(Redacted.make(`${app}\u0000${user}\u0000${now}`)),
    appId: app,
    openid: user,
    scopes: [],
    kind: "browser",
    createdAt: now,
    expiresAt: now + 60_000
  })

/** Sessions `revokeUser` refuses to name: `create` refuses them too. */
const unreachableUsers: ReadonlyArray<readonly [string, string]> = [
  ["wx1", "o 1"],
  ["wx:a", "o1"],
  ["wx1", "o\u00e9"],
  [appId, `${openid} `],
  [`${appId} `, openid]
]

describe("ids a session is created with", () => {
  it.effect("the memory SessionStore refuses a session revokeUser could not end (checkNew holds the ids' rule)", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore.makeMemory()
      const now = yield* Clock.currentTimeMillis
      for (const [app, user] of unreachableUsers) {
        assert.strictEqual(yield* tag(SessionStore.checkUser("revokeUser", app, user)), "SessionStoreError")
        const session = sessionOf(app, user, now)
        const failure = yield* Effect.flip(store.create(session))
        assert.strictEqual(failure._tag, "SessionStoreError", JSON.stringify([app, user]))
        assert.strictEqual(failure.operation, "create")
        assert.notInclude(failure.message, "oVictim")
        assert.notInclude(failure.message, "\u00e9")
        assert.isTrue(Option.isNone(yield* store.get(session.idHash)), "nothing was stored")
        assert.strictEqual(yield* tag(SessionStore.checkNew(session, now)), "SessionStoreError")
      }
      const fine = sessionOf(appId, openid, now)
      yield* store.create(fine)
      assert.strictEqual(yield* store.revokeUser(appId, openid), 1)
    }))
})

/** A typed failure as the tests look at it. */
type Failure = { readonly _tag: string; readonly message: string; readonly argument?: unknown }

describe("the openid argument of the services: the stores' rule, an InvalidArgument", () => {
  const oauthLayer = WeChatOAuth.layer.pipe(
    Layer.provide(Layer.mergeAll(
      TokenStore.layerMemory,
      WeChatConfig.layer({ appId, appSecret: Redacted.make("s".repeat(32)) }),
      Layer.succeed(HttpClient.HttpClient, HttpClient.make(() => Effect.die("no request is sent")))
    ))
  )
  const miniLayer = MiniProgram.layer.pipe(
    Layer.provide(Layer.mergeAll(
      WeChatConfig.layer({ appId, appSecret: Redacted.make("s".repeat(32)) }),
      Layer.succeed(HttpClient.HttpClient, HttpClient.make(() => Effect.die("no request is sent")))
    ))
  )
  const badArguments = ["o \u00e9x", "o 1", "o\u00e9", "o1\n", `${openid}\uD800`, "", "o".repeat(129)]

  it.effect("WeChatOAuth getUser / getToken / removeToken / refresh / verifyAccessToken", () =>
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      for (const bad of badArguments) {
        for (
          const [name, call] of [
            ["getUser", oauth.getUser(bad)],
            ["getToken", oauth.getToken(bad)],
            ["removeToken", oauth.removeToken(bad)],
            ["refresh", oauth.refresh(bad)],
            ["verifyAccessToken", oauth.verifyAccessToken(bad)]
          ] as const
        ) {
          const failure = yield* Effect.flip(call as Effect.Effect<unknown, Failure>)
          assert.deepStrictEqual(
            [failure._tag, failure.argument],
            ["InvalidArgument", "openid"],
            `${name}(${JSON.stringify(bad)})`
          )
          assert.notInclude(failure.message, "oVictim")
          assert.notInclude(failure.message, "\u00e9")
        }
      }
      // an openid of the rule reaches the store: none is kept
      assert.isTrue(Option.isNone(yield* oauth.getToken(openid)))
    }).pipe(Effect.provide(oauthLayer)))

  it.effect("MiniProgram checkSessionKey / resetSessionKey", () =>
    Effect.gen(function*() {
      const mini = yield* MiniProgram.MiniProgram
      for (const bad of badArguments) {
        for (const call of [mini.checkSessionKey(bad), mini.resetSessionKey(bad)]) {
          const failure = yield* Effect.flip(call as Effect.Effect<unknown, Failure>)
          assert.deepStrictEqual([failure._tag, failure.argument], ["InvalidArgument", "openid"], JSON.stringify(bad))
        }
      }
      assert.strictEqual(yield* tag(mini.checkSessionKey(openid)), "SessionKeyNotFound")
    }).pipe(Effect.provide(miniLayer)))
})

describe("the memory TokenStore's set reads the caller's token once, guarded", () => {
  it.effect("a Proxy posing as an OAuthToken, or a getter that throws, is a TokenStoreError, never a throw", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.makeMemory()
      const proxy = new Proxy({}, {
        getPrototypeOf: () => OAuthToken.OAuthToken.prototype,
        get: () => {
          throw new Error("trap")
        }
      })
      const real = yield* makeToken({ openid })
      Object.defineProperty(real, "openid", {
        get: () => {
          throw new Error("getter")
        }
      })
      // the Proxy has no OAuthToken's private fields (TokenStore.checkToken): not a token
      for (const [token, description] of [[proxy, "is not an OAuthToken"], [real, "cannot be read"]] as const) {
        let set: Effect.Effect<void, { readonly _tag: string; readonly message: string }> | undefined
        assert.doesNotThrow(() => {
          set = store.set(appId, token as OAuthToken.OAuthToken)
        })
        const failure = yield* Effect.flip(set!)
        assert.strictEqual(failure._tag, "TokenStoreError")
        assert.include(failure.message, description)
      }
      // a getter that answers otherwise on a second read: the openid checked is the one used
      let reads = 0
      const shifty = yield* makeToken({ openid })
      Object.defineProperty(shifty, "openid", { get: () => reads++ === 0 ? openid : "o 1" })
      yield* store.set(appId, shifty)
      assert.strictEqual(reads, 1)
      assert.isTrue(Option.isSome(yield* store.get(appId, openid)))
    }))
})

describe("SessionKeyStore.makeCodec encode", () => {
  it.effect("a custom cipher's output decode would refuse (over 1,024 characters) fails encode, never stored unread", () =>
    Effect.gen(function*() {
      const codec = yield* SessionKeyStore.makeCodec
      const key = randomSessionKey()
      const failure = yield* Effect.flip(codec.encode(appId, openid, key))
      assert.strictEqual(failure._tag, "TokenStoreError")
      assert.notInclude(failure.message, Redacted.value(key))
    }).pipe(Effect.provideService(TokenCipher.TokenCipher, {
      encrypt: (plain: string) => Effect.succeed(`kms:${"A".repeat(1200)}:${Buffer.from(plain).toString("base64")}`),
      decrypt: (value: string) => Effect.succeed(Buffer.from(value.split(":")[2], "base64").toString())
    } as unknown as TokenCipher.TokenCipherShape)))

  it.effect("an output of 1,024 characters is kept and read back", () =>
    Effect.gen(function*() {
      const codec = yield* SessionKeyStore.makeCodec
      const key = randomSessionKey()
      const sealed = yield* codec.encode(appId, openid, key)
      assert.strictEqual(sealed.length, 1024)
      assert.strictEqual(Redacted.value(yield* codec.decode(appId, openid, sealed)), Redacted.value(key))
    }).pipe(Effect.provideService(TokenCipher.TokenCipher, {
      encrypt: (plain: string) => Effect.succeed(`${Buffer.from(plain).toString("base64")}:`.padEnd(1024, "A")),
      decrypt: (value: string) => Effect.succeed(Buffer.from(value.split(":")[0], "base64").toString())
    } as unknown as TokenCipher.TokenCipherShape)))
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
