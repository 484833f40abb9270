/**
 * A new consent's token against the stored one: the store keeps the token with the later
 * `obtainedAt` (newer wins), and the machines sharing it do not share one clock.
 */
import { assert, describe, it } from "@effect/vitest"
import { OAuthToken, TokenStore, WeChatConfig, WeChatError, WeChatOAuth } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { consent } from "./getUserPolicy.js"

const app = Sandbox.defaultApps.officialAccount
const refreshLifeMillis = 30 * 86_400_000

const configLayer = WeChatConfig.layer({
  appId: app.appId,
  appSecret: Redacted.make(app.secret),
  apiBaseUrl: "https://api.weixin.qq.com",
  openBaseUrl: "https://open.weixin.qq.com"
})

const layerWith = (sandbox: Sandbox.SandboxOptions = {}) =>
  WeChatOAuth.layer.pipe(
    Layer.provideMerge(TokenStore.layerMemory),
    Layer.provide(configLayer),
    Layer.provide(Sandbox.layerHttpClient),
    Layer.provideMerge(Sandbox.layer(sandbox))
  )

const login = (scope: WeChatOAuth.Scope = "snsapi_userinfo") =>
  Effect.gen(function*() {
    const oauth = yield* WeChatOAuth.WeChatOAuth
    return (yield* oauth.handleCallback(yield* consent(oauth, { scope }))).token
  })

const secretsOf = (token: OAuthToken.OAuthToken) => [
  Redacted.value(token.accessToken),
  Redacted.value(token.refreshToken)
]

describe("a new consent over a stored token stamped ahead of this clock", () => {
  it.effect("after the clock stepped back, the store keeps the new consent (its scope), and getUser uses it", () =>
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      yield* TestClock.setTime(1_800_000_000_000)
      const base = yield* login("snsapi_base")
      // NTP steps the clock back 5 s (or the next callback lands on a machine 5 s behind)
      yield* TestClock.setTime(1_800_000_000_000 - 5_000)
      const upgraded = yield* login("snsapi_userinfo")
      assert.strictEqual(upgraded.obtainedAt, base.obtainedAt + 1, "stamped just after the stored token")
      const stored = Option.getOrThrow(yield* oauth.getToken(base.openid))
      assert.deepStrictEqual(stored.scope, ["snsapi_userinfo"])
      assert.deepStrictEqual(secretsOf(stored), secretsOf(upgraded), "the store holds the token answered")
      const user = yield* oauth.getUser(base.openid)
      assert.strictEqual(user.nickname, "张三")
    }).pipe(Effect.provide(layerWith())))

  it.effect("a stored token another machine (clock 1 hour ahead) wrote: the grant is stamped after it, with its own refresh life and unionid", () =>
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const store = yield* TokenStore.TokenStore
      yield* TestClock.setTime(1_800_000_000_000)
      const first = yield* login()
      const ahead = first.obtainedAt + 3_600_000
      yield* store.set(
        app.appId,
        new OAuthToken.OAuthToken({
          ...first,
          unionid: "uFromTheOldToken",
          obtainedAt: ahead,
          expiresAt: ahead + 7_200_000,
          refreshExpiresAt: ahead + 86_400_000
        })
      )
      yield* TestClock.adjust("1 second")
      const now = 1_800_000_001_000
      const granted = yield* login()
      // WeChat's answer for this (unbound) app has no unionid: the grant takes none from the stored token
      assert.strictEqual(granted.unionid, undefined)
      assert.strictEqual(granted.obtainedAt, ahead + 1)
      assert.strictEqual(granted.expiresAt, ahead + 1 + 7_200_000)
      assert.strictEqual(granted.refreshExpiresAt, ahead + 1 + refreshLifeMillis, "a new grant's own refresh life")
      assert.isTrue(granted.obtainedAt > now)
      const stored = Option.getOrThrow(yield* oauth.getToken(first.openid))
      assert.strictEqual(stored.obtainedAt, granted.obtainedAt)
      assert.deepStrictEqual(secretsOf(stored), secretsOf(granted), "the store holds the token answered")
      assert.notDeepEqual(secretsOf(stored), secretsOf(first))
    }).pipe(Effect.provide(layerWith({ apps: [{ ...app, bound: false }] }))))

  it.effect("with the clock ahead of the stored token, the grant is stamped with the clock", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_800_000_000_000)
      const first = yield* login()
      yield* TestClock.adjust("1 minute")
      const second = yield* login()
      assert.strictEqual(second.obtainedAt, first.obtainedAt + 60_000)
      assert.strictEqual(second.refreshExpiresAt, second.obtainedAt + refreshLifeMillis)
    }).pipe(Effect.provide(layerWith())))

  it.effect("a store that cannot read the stored token (a cipher key gone) still takes the new consent, stamped by the clock", () =>
    Effect.gen(function*() {
      const inner = yield* TokenStore.makeMemory()
      const broken: TokenStore.TokenStoreShape = {
        ...inner,
        get: () => Effect.fail(new WeChatError.TokenStoreError({ operation: "get", description: "cannot decrypt" }))
      }
      const granted = yield* login().pipe(
        Effect.provide(
          WeChatOAuth.layer.pipe(
            Layer.provide(Layer.succeed(TokenStore.TokenStore, broken)),
            Layer.provide(configLayer),
            Layer.provide(Sandbox.layerHttpClient),
            Layer.provideMerge(Sandbox.layer())
          )
        )
      )
      assert.strictEqual(granted.obtainedAt, 0)
      // the write went through: the memory store under it holds the grant
      const stored = Option.getOrThrow(yield* inner.get(app.appId, granted.openid))
      assert.deepStrictEqual(secretsOf(stored), secretsOf(granted))
    }))
})
