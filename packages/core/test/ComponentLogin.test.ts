/**
 * Logins to apps a third-party platform manages: `WeChatOAuth.makeForComponent` (consent URL with
 * component_appid, the callback's appid, the component code exchange and refresh, getUser's
 * policy, WeChat's errcodes on the component endpoints, the component token invalidated and
 * retried once) and `MiniProgram.makeForComponent` (component jscode2session, the phone number
 * and session keys with the authorizer token). 1,000 concurrent logins across 50 apps make one
 * component-token request.
 */
import { assert, describe, it } from "@effect/vitest"
import { Component, MiniProgram, TokenStore, WeChatOAuth } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import {
  authorize,
  ComponentLive,
  deliver,
  managedMini,
  managedOfficial,
  manyOfficial,
  platform,
  usage
} from "./componentFixtures.js"

const start = 1_700_000_000_000
const redirectUri = "https://platform.example.com/oauth/callback"

const withTime = <A, E, R>(effect: Effect.Effect<A, E, R>, step: Duration.DurationInput = "100 millis") =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < 600 && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* TestClock.adjust(step)
    return yield* Fiber.join(fiber)
  })

const inject = (fault: Sandbox.Fault) => Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.injectFault(fault))

const Live = ComponentLive()

/** The platform with a ticket, and the managed official account's login service. */
const OAuthLive = WeChatOAuth.layerForComponent(managedOfficial).pipe(Layer.orDie, Layer.provideMerge(Live))

const ticket = Effect.zipRight(TestClock.setTime(start), deliver("component_verify_ticket"))

/** A user's consent through the platform: the callback URL WeChat redirects to. */
const consent = (user: string, state: string, appId = managedOfficial) =>
  Effect.flatMap(Sandbox.Sandbox, (sandbox) =>
    sandbox.approve({
      appId,
      user,
      scope: "snsapi_userinfo",
      redirectUri,
      state,
      componentAppId: platform.componentAppId
    }))

describe("WeChatOAuth.makeForComponent", () => {
  it.effect("a whole login: consent URL, callback, token stored under the app, getUser, refresh", () =>
    Effect.gen(function*() {
      yield* ticket
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const sandbox = yield* Sandbox.Sandbox
      assert.strictEqual(oauth.appId, managedOfficial)
      const { state, url } = yield* oauth.authorizeUrl({ redirectUri, scope: "snsapi_userinfo", returnTo: "/home" })
      const consentUrl = new URL(url)
      assert.strictEqual(consentUrl.pathname, "/connect/oauth2/authorize")
      assert.strictEqual(consentUrl.searchParams.get("appid"), managedOfficial)
      assert.strictEqual(consentUrl.searchParams.get("component_appid"), platform.componentAppId)
      assert.strictEqual(consentUrl.hash, "#wechat_redirect")
      const callback = yield* consent("alice", state)
      assert.strictEqual(new URL(callback).searchParams.get("appid"), managedOfficial)
      const { returnTo, token } = yield* oauth.handleCallback(callback)
      assert.strictEqual(returnTo, "/home")
      assert.strictEqual(token.openid, sandbox.openidOf(managedOfficial, "alice"))
      const stored = yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get(managedOfficial, token.openid))
      assert.isTrue(Option.isSome(stored))
      const user = yield* oauth.getUser(token.openid)
      assert.strictEqual(user.openid, token.openid)
      yield* TestClock.adjust("1 minute")
      const refreshed = yield* oauth.refresh(token.openid)
      assert.isAbove(refreshed.obtainedAt, token.obtainedAt)
      assert.strictEqual(Redacted.value(refreshed.refreshToken), Redacted.value(token.refreshToken))
      assert.isTrue(yield* oauth.verifyAccessToken(token.openid))
      const calls = (yield* usage).calls
      assert.strictEqual(calls.component_access_token, 1)
      assert.strictEqual(calls.component_refresh_token, 1)
      assert.strictEqual(calls.api_component_token, 1)
      const stats = yield* sandbox.stats
      assert.strictEqual(stats.access_token, 0, "never the direct exchange")
      assert.strictEqual(stats.refresh_token, 0)
    }).pipe(Effect.provide(OAuthLive)))

  it.effect("a callback naming another app is refused; website login is not the platform's", () =>
    Effect.gen(function*() {
      yield* ticket
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const { state } = yield* oauth.authorizeUrl({ redirectUri })
      const callback = new URL(yield* consent("alice", state))
      callback.searchParams.set("appid", manyOfficial[0])
      const error = yield* Effect.flip(oauth.handleCallback(callback))
      assert.deepInclude(error, { _tag: "StateMismatch", reason: "Mismatch" })
      assert.strictEqual((yield* usage).calls.component_access_token, 0)
      const website = yield* Effect.flip(oauth.websiteAuthorizeUrl({ redirectUri }))
      assert.deepInclude(website, { _tag: "InvalidArgument", argument: "websiteAuthorizeUrl" })
      // a state signed for another managed app does not verify here
      const other = yield* WeChatOAuth.makeForComponent(manyOfficial[0])
      const foreign = yield* other.authorizeUrl({ redirectUri })
      const forged = yield* Effect.flip(oauth.handleCallback(yield* consent("alice", foreign.state)))
      assert.strictEqual(forged._tag, "StateMismatch")
    }).pipe(Effect.scoped, Effect.provide(OAuthLive)))

  it.effect("WeChat's errcodes on the component endpoints are typed: 40029, 40163, 40030, 42002, 61004", () =>
    Effect.gen(function*() {
      yield* ticket
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const sandbox = yield* Sandbox.Sandbox
      const invalid = yield* Effect.flip(oauth.exchangeCode("not-a-code-wechat-gave"))
      assert.deepInclude(invalid, { _tag: "InvalidCode", errcode: 40029, endpoint: "component_access_token" })
      const code = new URL(yield* consent("alice", "s1")).searchParams.get("code")!
      const token = yield* oauth.exchangeCode(code)
      const used = yield* Effect.flip(oauth.exchangeCode(code))
      assert.deepInclude(used, { _tag: "CodeUsed", errcode: 40163 })
      yield* inject({ kind: "errcode", errcode: 42002, endpoint: "component_refresh_token", times: 1 })
      const expired = yield* Effect.flip(oauth.refresh(token.openid))
      assert.deepInclude(expired, { _tag: "RefreshTokenExpired", errcode: 42002, endpoint: "component_refresh_token" })
      // a refresh token WeChat refuses: the stored token goes
      const bob = yield* oauth.exchangeCode(new URL(yield* consent("bob", "s2")).searchParams.get("code")!)
      yield* inject({ kind: "errcode", errcode: 40030, endpoint: "component_refresh_token", times: 1 })
      assert.deepInclude(yield* Effect.flip(oauth.refresh(bob.openid)), { _tag: "InvalidRefreshToken", errcode: 40030 })
      assert.isTrue(Option.isNone(yield* oauth.getToken(bob.openid)))
      yield* sandbox.setComponentIpWhitelist({ componentAppId: platform.componentAppId, refuse: true })
      const ip = yield* Effect.flip(
        oauth.exchangeCode(new URL(yield* consent("carol", "s3")).searchParams.get("code")!)
      )
      assert.deepInclude(ip, { _tag: "ComponentIpNotWhitelisted", errcode: 61004, endpoint: "component_access_token" })
    }).pipe(Effect.provide(OAuthLive)))

  it.effect("no ticket yet: the exchange fails with ComponentTicketMissing and the code is not sent", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const code = new URL(yield* consent("alice", "s")).searchParams.get("code")!
      assert.deepInclude(yield* Effect.flip(oauth.exchangeCode(code)), { _tag: "ComponentTicketMissing" })
      assert.strictEqual((yield* usage).calls.component_access_token, 0)
      yield* deliver("component_verify_ticket")
      assert.strictEqual(
        (yield* oauth.exchangeCode(code)).openid,
        (yield* Sandbox.Sandbox).openidOf(managedOfficial, "alice")
      )
    }).pipe(Effect.provide(OAuthLive)))

  it.effect("the component token rejected (40001 revoked, 42001 once) during a login: renewed, the exchange made once more", () =>
    Effect.gen(function*() {
      yield* ticket
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const sandbox = yield* Sandbox.Sandbox
      yield* Effect.flatMap(Component.Component, (c) => c.accessToken)
      yield* sandbox.revokeComponentToken({ componentAppId: platform.componentAppId })
      const { state } = yield* oauth.authorizeUrl({ redirectUri })
      const { token } = yield* oauth.handleCallback(yield* consent("alice", state))
      assert.strictEqual(token.openid, sandbox.openidOf(managedOfficial, "alice"))
      let calls = (yield* usage).calls
      assert.strictEqual(calls.api_component_token, 2)
      assert.strictEqual(calls.component_access_token, 2)
      yield* inject({ kind: "errcode", errcode: 42001, endpoint: "component_refresh_token", times: 1 })
      yield* oauth.refresh(token.openid)
      calls = (yield* usage).calls
      assert.strictEqual(calls.api_component_token, 3)
      assert.strictEqual(calls.component_refresh_token, 2)
      // twice in a row: the second rejection stands, no third try
      yield* inject({ kind: "errcode", errcode: 40001, endpoint: "component_refresh_token", times: 2 })
      assert.deepInclude(yield* Effect.flip(oauth.refresh(token.openid)), { _tag: "InvalidCredential", errcode: 40001 })
      assert.strictEqual((yield* usage).calls.component_refresh_token, 4)
    }).pipe(Effect.provide(OAuthLive)))

  it.effect("getUser's policy holds: a rejected user token is refreshed through the platform, then userinfo once more", () =>
    Effect.gen(function*() {
      yield* ticket
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const sandbox = yield* Sandbox.Sandbox
      const { state } = yield* oauth.authorizeUrl({ redirectUri, scope: "snsapi_userinfo" })
      const { token } = yield* oauth.handleCallback(yield* consent("bob", state))
      yield* inject({ kind: "errcode", errcode: 42001, endpoint: "userinfo", times: 1 })
      const user = yield* oauth.getUser(token.openid)
      assert.strictEqual(user.openid, token.openid)
      assert.strictEqual((yield* usage).calls.component_refresh_token, 1)
      // near expiry: refreshed first
      yield* TestClock.adjust("7150 seconds")
      yield* oauth.getUser(token.openid)
      assert.strictEqual((yield* usage).calls.component_refresh_token, 2)
      assert.strictEqual((yield* sandbox.stats).userinfo, 3)
    }).pipe(Effect.provide(OAuthLive)))

  it.effect("a consent that lands while the platform's refresh is in its WeChat call is kept: the refresh answers it", () =>
    Effect.gen(function*() {
      yield* ticket
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const login = Effect.flatMap(
        oauth.authorizeUrl({ redirectUri, scope: "snsapi_userinfo" }),
        ({ state }) => Effect.flatMap(consent("carol", state), (callback) => oauth.handleCallback(callback))
      )
      const first = (yield* login).token
      yield* TestClock.adjust("1 minute")
      // WeChat answers the refresh after 4 s (one attempt); the user consents again meanwhile
      yield* inject({ kind: "slow", endpoint: "component_refresh_token", delayMs: 4_000 })
      const refreshing = yield* Effect.fork(oauth.refresh(first.openid))
      for (let i = 0; i < 1_000 && (yield* usage).calls.component_refresh_token === 0; i++) yield* Effect.yieldNow()
      assert.strictEqual((yield* usage).calls.component_refresh_token, 1, "the refresh is in its WeChat call")
      const granted = (yield* login).token
      yield* TestClock.adjust("20 seconds")
      const refreshed = yield* Fiber.join(refreshing)
      const secrets = (token: typeof granted) => [Redacted.value(token.accessToken), Redacted.value(token.refreshToken)]
      assert.deepStrictEqual(secrets(refreshed), secrets(granted), "the refresh answers the consent's token")
      const stored = yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get(managedOfficial, first.openid))
      assert.deepStrictEqual(secrets(Option.getOrThrow(stored)), secrets(granted), "the consent is still stored")
    }).pipe(Effect.provide(OAuthLive)))

  it.effect(
    "1,000 concurrent logins across 50 managed apps, callbacks repeated: one component-token request",
    () =>
      Effect.gen(function*() {
        yield* ticket
        const sandbox = yield* Sandbox.Sandbox
        const services = yield* Effect.forEach(manyOfficial, (appId) => WeChatOAuth.makeForComponent(appId))
        const logins = yield* Effect.forEach(
          Array.from({ length: 1000 }, (_, i) => i),
          (i) => {
            const oauth = services[i % services.length]
            const user = i % 2 === 0 ? "alice" : "bob"
            return Effect.flatMap(oauth.authorizeUrl({ redirectUri, binding: `browser-${i}` }), ({ state }) =>
              Effect.map(
                consent(user, state, oauth.appId),
                (callback) => ({ oauth, user, callback, binding: `browser-${i}` })
              ))
          }
        )
        // the ticket is fresh, the component token not fetched yet; its answer is slowed
        yield* inject({ kind: "slow", endpoint: "api_component_token", delayMs: 3000, times: 10 })
        const results = yield* withTime(Effect.forEach(
          logins,
          ({ binding, callback, oauth }) =>
            // WeChat's in-app browser may call back twice: a duplicate with the same binding
            Effect.all([oauth.handleCallback(callback, { binding }), oauth.handleCallback(callback, { binding })], {
              concurrency: 2
            }),
          { concurrency: "unbounded" }
        ))
        for (const [i, [first, second]] of results.entries()) {
          const { oauth, user } = logins[i]
          assert.strictEqual(first.token.openid, sandbox.openidOf(oauth.appId, user))
          assert.strictEqual(second.token.openid, first.token.openid)
        }
        const calls = (yield* usage).calls
        assert.strictEqual(calls.api_component_token, 1)
        assert.strictEqual(calls.component_access_token, 1000)
        // and their profiles, concurrently
        const profiles = yield* Effect.forEach(
          logins.slice(0, 200),
          ({ oauth, user }) => oauth.getUser(sandbox.openidOf(oauth.appId, user)),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(profiles.length, 200)
        assert.strictEqual((yield* usage).calls.api_component_token, 1)
      }).pipe(Effect.scoped, Effect.provide(Live)),
    120_000
  )

  it.effect("a wrong appid or option is a ConfigError naming it", () =>
    Effect.gen(function*() {
      for (const appId of [undefined, "", "wx bad", "x".repeat(46), 42]) {
        const error = yield* Effect.flip(WeChatOAuth.makeForComponent(appId as string))
        assert.deepInclude(error, { _op: "InvalidData", path: ["appId"] })
      }
      const policy = yield* Effect.flip(
        WeChatOAuth.makeForComponent(managedOfficial, { policy: { retryOn: 42 as never } })
      )
      assert.deepInclude(policy, { path: ["policy", "retryOn"] })
      const secret = yield* Effect.flip(WeChatOAuth.makeForComponent(managedOfficial, { stateSecret: "short" }))
      assert.deepInclude(secret, { path: ["stateSecret"] })
      const options = yield* Effect.flip(WeChatOAuth.makeForComponent(managedOfficial, 42 as never))
      assert.strictEqual(options._op, "InvalidData")
    }).pipe(Effect.scoped, Effect.provide(Live)))

  it.effect("a given stateSecret signs the states: another service with the same secret verifies them", () =>
    Effect.gen(function*() {
      yield* ticket
      const stateSecret = Redacted.make("a registry-wide secret of 32 chars")
      const a = yield* WeChatOAuth.makeForComponent(managedOfficial, { stateSecret })
      const b = yield* WeChatOAuth.makeForComponent(managedOfficial, { stateSecret })
      const c = yield* WeChatOAuth.makeForComponent(managedOfficial)
      const { state } = yield* a.authorizeUrl({ redirectUri, binding: "cookie" })
      const { token } = yield* b.handleCallback(yield* consent("alice", state), { binding: "cookie" })
      assert.strictEqual(token.openid, (yield* Sandbox.Sandbox).openidOf(managedOfficial, "alice"))
      const { state: other } = yield* a.authorizeUrl({ redirectUri })
      assert.deepInclude(yield* Effect.flip(c.handleCallback(yield* consent("bob", other))), { _tag: "StateMismatch" })
    }).pipe(Effect.scoped, Effect.provide(Live)))
})

const MiniLive = MiniProgram.layerForComponent(managedMini).pipe(Layer.orDie, Layer.provideMerge(Live))

describe("MiniProgram.makeForComponent", () => {
  it.effect("code2Session through the platform; phone number and session keys with the authorizer token", () =>
    Effect.gen(function*() {
      yield* ticket
      const mini = yield* MiniProgram.MiniProgram
      const sandbox = yield* Sandbox.Sandbox
      assert.strictEqual(mini.appId, managedMini)
      const jsCode = yield* sandbox.miniProgramLogin({ appId: managedMini, user: "alice" })
      const session = yield* mini.code2Session(jsCode)
      assert.strictEqual(session.openid, sandbox.openidOf(managedMini, "alice"))
      assert.deepInclude(yield* Effect.flip(mini.code2Session(jsCode)), { _tag: "CodeUsed" })
      assert.strictEqual((yield* usage).calls.component_jscode2session, 2)
      const data = yield* sandbox.encryptUserData({ appId: managedMini, user: "alice" })
      const decrypted = yield* mini.decryptUserData(session.sessionKey, data.encryptedData, data.iv)
      assert.strictEqual(decrypted.watermark.appid, managedMini)
      // the app's token comes from the platform: authorize it first
      const missing = yield* Effect.flip(
        mini.getPhoneNumber(yield* sandbox.phoneNumberCode({ appId: managedMini, user: "alice" }))
      )
      assert.deepInclude(missing, { _tag: "AuthorizerRefreshTokenInvalid" })
      yield* authorize(managedMini)
      const phone = yield* mini.getPhoneNumber(yield* sandbox.phoneNumberCode({ appId: managedMini, user: "alice" }))
      assert.match(phone.purePhoneNumber, /^1\d{10}$/)
      assert.isTrue(yield* mini.checkSessionKey(session.openid))
      const reset = yield* mini.resetSessionKey(session.openid)
      assert.notStrictEqual(Redacted.value(reset), Redacted.value(session.sessionKey))
      const stats = yield* sandbox.stats
      assert.strictEqual(stats.stable_token + stats.token + stats.jscode2session, 0, "nothing direct")
    }).pipe(Effect.provide(MiniLive)))

  it.effect("a wrong appid is a ConfigError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(MiniProgram.makeForComponent("wx bad"))
      assert.deepInclude(error, { _op: "InvalidData", path: ["appId"] })
    }).pipe(Effect.scoped, Effect.provide(Live)))

  it.effect("a retry that cannot be read (a Proxy whose traps throw, a revoked Proxy) is a ConfigError, as makeWith's", () =>
    Effect.gen(function*() {
      const trap = () => {
        throw new Error("trap")
      }
      const revoked = Proxy.revocable({}, {})
      revoked.revoke()
      for (const retry of [new Proxy({}, { get: trap, ownKeys: trap, has: trap }), revoked.proxy]) {
        const exit = yield* Effect.exit(MiniProgram.makeForComponent(managedMini, retry))
        assert.isTrue(Exit.isFailure(exit) && !Cause.isDie(exit.cause), "a failure, not a throw or a defect")
        assert.deepInclude(yield* Effect.flip(MiniProgram.makeForComponent(managedMini, retry)), {
          _op: "InvalidData",
          path: ["policy"]
        })
      }
    }).pipe(Effect.scoped, Effect.provide(Live)))
})
