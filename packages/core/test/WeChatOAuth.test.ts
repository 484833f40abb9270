import { assert, describe, it } from "@effect/vitest"
import { RetryPolicy, TokenStore, WeChatConfig, WeChatError, WeChatHttpClient, WeChatOAuth } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Net from "node:net"
import { consent, getUserPolicySuite } from "./getUserPolicy.js"

const app = Sandbox.defaultApps.officialAccount
const redirectUri = "https://app.example.com/auth/callback"

const configLayer = WeChatConfig.layer({
  appId: app.appId,
  appSecret: Redacted.make(app.secret),
  apiBaseUrl: "https://api.weixin.qq.com",
  openBaseUrl: "https://open.weixin.qq.com"
})

/** A fresh sandbox, memory store and service per test: counters start at zero. */
const TestLayer = WeChatOAuth.layer.pipe(
  Layer.provideMerge(TokenStore.layerMemory),
  Layer.provide(configLayer),
  Layer.provide(Sandbox.layerHttpClient),
  Layer.provideMerge(Sandbox.layer())
)

/**
 * The same, with the app answered as WeChat did before 2021-10-20: `/sns/userinfo` gives the user's
 * places, localized by `lang` (today they are empty in every language).
 */
const Pre2021Layer = WeChatOAuth.layer.pipe(
  Layer.provideMerge(TokenStore.layerMemory),
  Layer.provide(configLayer),
  Layer.provide(Sandbox.layerHttpClient),
  Layer.provideMerge(Sandbox.layer({ apps: [{ ...app, profile: "pre2021" }] }))
)

/** Runs an effect in the background while moving the test clock far enough for retries and timeouts. */
const withTime = <A, E, R>(effect: Effect.Effect<A, E, R>, step: Duration.DurationInput = "1 second", steps = 120) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < steps; i++) {
      yield* TestClock.adjust(step)
      if (Option.isSome(yield* Fiber.poll(fiber))) break
    }
    return yield* Fiber.join(fiber)
  })

/** Consents as `user` and handles the callback, like a browser would. */
const login = (options?: { readonly user?: string; readonly scope?: WeChatOAuth.Scope; readonly binding?: string }) =>
  Effect.gen(function*() {
    const oauth = yield* WeChatOAuth.WeChatOAuth
    const callback = yield* consent(oauth, options)
    const { token } = yield* oauth.handleCallback(callback, { binding: options?.binding })
    return { token, callback }
  })

const stats = Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.stats)

/** The callback URL for alice's consent, carrying a state chosen by the app (e.g. kept in a cookie). */
const approveWithState = (state: string) =>
  Effect.flatMap(
    Sandbox.Sandbox,
    (sandbox) => sandbox.approve({ appId: app.appId, user: "alice", scope: "snsapi_userinfo", redirectUri, state })
  )
const inject = (fault: Sandbox.Fault) => Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.injectFault(fault))

describe("WeChatOAuth", () => {
  describe("authorize URLs", () => {
    it.effect("official account: snsapi_base by default, encoded redirect, connect_redirect, #wechat_redirect", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const { state, url } = yield* oauth.authorizeUrl({ redirectUri: `${redirectUri}?next=/a b` })
        assert.match(state, /^[a-zA-Z0-9]{1,128}$/)
        assert.strictEqual(
          url,
          `https://open.weixin.qq.com/connect/oauth2/authorize?appid=${app.appId}&redirect_uri=${
            encodeURIComponent(`${redirectUri}?next=/a b`)
          }&response_type=code&scope=snsapi_base&state=${state}&connect_redirect=1#wechat_redirect`
        )
        const userinfo = yield* oauth.authorizeUrl({ redirectUri, scope: "snsapi_userinfo", state: "abc123" })
        assert.include(userinfo.url, "scope=snsapi_userinfo&state=abc123&")
        assert.strictEqual(userinfo.state, "abc123")
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a redirect URI with a lone surrogate (the URL parser takes it) is sent as U+FFFD, never a defect", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        for (const uri of [`${redirectUri}?x=\uD800`, `${redirectUri}/\uDC00`]) {
          const { url } = yield* oauth.authorizeUrl({ redirectUri: uri })
          const sent = new URL(url).searchParams.get("redirect_uri")
          assert.strictEqual(sent, uri.replace(/[\uD800-\uDFFF]/, "\uFFFD"))
          const website = yield* oauth.websiteAuthorizeUrl({ redirectUri: uri })
          assert.include(website.url, "%EF%BF%BD")
        }
        const quoted = yield* oauth.authorizeUrl({ redirectUri: `${redirectUri}?q='x'` })
        assert.strictEqual(new URL(quoted.url).searchParams.get("redirect_uri"), `${redirectUri}?q='x'`)
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a redirect URI with a control character or a space at an end is InvalidArgument", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        // the URL parser drops a tab or a line break and trims the ends: the host checked
        // (app.example.com.evil.example) was not the one sent (app.example.com<TAB>.evil.example)
        for (
          const uri of [
            "https://app.example.com\t.evil.example/cb",
            "https://app.example.com/cb\r\nSet-Cookie: a=b",
            " https://app.example.com/cb",
            "https://app.example.com/cb ",
            "https://app.example.com/c\u0000b",
            "https://app.example.com/c\u007fb"
          ]
        ) {
          for (const build of [oauth.authorizeUrl, oauth.websiteAuthorizeUrl]) {
            const error = yield* Effect.flip(build({ redirectUri: uri, state: "s1" }))
            assert.strictEqual(error._tag, "InvalidArgument")
            assert.strictEqual(error.argument, "redirectUri")
            assert.notInclude(error.message, "evil")
          }
        }
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a redirect URI whose host holds a character the host parser drops or maps is InvalidArgument", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        // the host parser (UTS-46) drops a soft hyphen, a zero-width space, a variation selector or a
        // combining grapheme joiner and maps an ideographic full stop to a dot: the host checked
        // (app.example.com.evil.example) was not the one sent (app.example.com%C2%AD.evil.example)
        for (
          const uri of [
            "https://app.example.com\u00AD.evil.example/cb",
            "https://app.example.com\u200B.evil.example/cb",
            "https://app.example.com\u3002evil.example/cb",
            "https://app.example.com\uFE0F.evil.example/cb",
            "https://app.example.com\u034F.evil.example/cb",
            "https://user@app.example.com\u00AD.evil.example:8443/cb",
            "https://app.example.com\uFF0Eevil.example/cb",
            "https://app%2Eexample.com.evil.example/cb",
            "https://app.example.com\\.evil.example/cb",
            "https://evil.example\\@app.example.com/cb",
            "https:app.example.com/cb",
            "https:///app.example.com/cb",
            // a backslash between two IPv6 literals: the URL parser reads [::1], WeChat [2001:db8::66]
            "https://[::1]\\@[2001:db8::66]/cb",
            // mapped by the parser: U+212A Kelvin to k, U+037E to `;`, U+2126 Ohm to ω
            "https://\u212Aey.example/cb",
            "https://app.example.com\u037E.evil.example/cb",
            "https://\u2126.example/cb"
          ]
        ) {
          for (const build of [oauth.authorizeUrl, oauth.websiteAuthorizeUrl]) {
            const error = yield* Effect.flip(build({ redirectUri: uri, state: "s1" }))
            assert.strictEqual(error._tag, "InvalidArgument", uri)
            assert.strictEqual(error.argument, "redirectUri")
            assert.notInclude(error.message, "evil")
            assert.notInclude(error.message, "app.example")
          }
        }
        // a host written in Unicode, in punycode, in upper case, an IPv6 literal, userinfo and a
        // port, and in the path or query: non-ASCII, %0A, a space, U+00A0, U+00AD — still sent as given
        for (
          const uri of [
            "https://例子.测试/回调?x=é",
            "https://例子.xn--0zwm56d/cb",
            "https://APP.example.com/cb",
            "https://ÉXAMPLE.com/cb",
            "https://xn--fsqu00a.xn--0zwm56d/cb",
            "https://[::1]:8080/cb",
            "https://[0:0::1]/cb",
            "http://127.0.0.1:8080/cb",
            "https://user:pw@app.example.com:8443/cb",
            "https://app.example.com./cb",
            "https://app.example.com",
            "https://app.example.com?x=1",
            "https://app.example.com#top",
            "https://app.example.com/cb?next=%0A",
            "https://app.example.com/a b?x=c d",
            "https://app.example.com/a\u00A0b?x=\u00AD\u200B",
            "https://app.example.com/cb?u=https://x@y:1/",
            // Cherokee capitals (xn--58dc.example) and a host in NFD (é as e + U+0301)
            "https://ᎠᎡ.example/cb",
            "https://cafe\u0301.example/cb"
          ]
        ) {
          for (const build of [oauth.authorizeUrl, oauth.websiteAuthorizeUrl]) {
            const { url } = yield* build({ redirectUri: uri, state: "s1" })
            assert.strictEqual(new URL(url).searchParams.get("redirect_uri"), uri)
          }
        }
      }).pipe(Effect.provide(TestLayer)))

    it.effect("website QR login uses qrconnect and snsapi_login", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const { state, url } = yield* oauth.websiteAuthorizeUrl({ redirectUri })
        assert.isTrue(url.startsWith("https://open.weixin.qq.com/connect/qrconnect?appid="))
        assert.include(url, `&response_type=code&scope=snsapi_login&state=${state}#wechat_redirect`)
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a state outside [a-zA-Z0-9]{1,128} or a relative redirect URI is InvalidArgument", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        for (const state of ["has-dash", "a".repeat(129), "", "中文"]) {
          const error = yield* Effect.flip(oauth.authorizeUrl({ redirectUri, state }))
          assert.strictEqual(error._tag, "InvalidArgument")
          assert.strictEqual(error.argument, "state")
        }
        for (const uri of ["/relative", "ftp://x.example.com/cb", "not a url"]) {
          const error = yield* Effect.flip(oauth.authorizeUrl({ redirectUri: uri }))
          assert.strictEqual(error.argument, "redirectUri")
        }
        const scope = yield* Effect.flip(oauth.authorizeUrl({ redirectUri, scope: "snsapi_login" as any }))
        assert.strictEqual(scope.argument, "scope")
      }).pipe(Effect.provide(TestLayer)))
  })

  describe("the web flow", () => {
    it.effect("code -> token -> user, with unionid for a bound app", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const sandbox = yield* Sandbox.Sandbox
        const { token } = yield* login()
        assert.strictEqual(token.openid, sandbox.openidOf(app.appId, "alice"))
        assert.deepStrictEqual([...token.scope], ["snsapi_userinfo"])
        assert.isString(token.unionid)
        assert.strictEqual(token.expiresAt - token.obtainedAt, 7200 * 1000)
        assert.strictEqual(token.refreshExpiresAt - token.obtainedAt, 30 * 24 * 3600 * 1000)
        const stored = yield* oauth.getToken(token.openid)
        assert.isTrue(Option.isSome(stored))
        const user = yield* oauth.getUser(token.openid)
        assert.strictEqual(user.nickname, "张三")
        assert.strictEqual(user.openid, token.openid)
        assert.strictEqual(user.unionid, token.unionid)
        const english = yield* oauth.getUser(token.openid, { lang: "en" })
        assert.notStrictEqual(english.province, user.province)
        assert.deepStrictEqual(yield* stats, { ...(yield* stats), access_token: 1, userinfo: 2, refresh_token: 0 })
      }).pipe(Effect.provide(Pre2021Layer)))

    it.effect("getUserByCode exchanges then fetches the profile", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const sandbox = yield* Sandbox.Sandbox
        const callback = yield* sandbox.approve({
          appId: app.appId,
          user: "bob",
          scope: "snsapi_userinfo",
          redirectUri
        })
        const code = new URL(callback).searchParams.get("code")!
        const user = yield* oauth.getUserByCode(code)
        assert.strictEqual(user.nickname, "李四")
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a callback without code is ConsentDenied", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const error = yield* Effect.flip(oauth.handleCallback(`${redirectUri}?state=abc`))
        assert.strictEqual(error._tag, "ConsentDenied")
        assert.isTrue(WeChatError.requiresReauthorization(error))
      }).pipe(Effect.provide(TestLayer)))

    it.effect("snsapi_base tokens get ScopeUnauthorized (48001) from userinfo", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const { token } = yield* login({ scope: "snsapi_base" })
        assert.isUndefined(token.unionid)
        const error = yield* Effect.flip(oauth.getUser(token.openid))
        assert.strictEqual(error._tag, "ScopeUnauthorized")
        assert.isTrue(WeChatError.requiresReauthorization(error))
      }).pipe(Effect.provide(TestLayer)))

    it.effect("getUser of an unknown user is TokenNotFound", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const error = yield* Effect.flip(oauth.getUser("oNobody"))
        assert.strictEqual(error._tag, "TokenNotFound")
        assert.strictEqual((yield* stats).userinfo, 0)
      }).pipe(Effect.provide(TestLayer)))
  })

  describe("state", () => {
    it.effect("the same callback URL handled twice (reload, double callback) succeeds both times", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const { callback, token } = yield* login({ binding: "browser-cookie-1" })
        const again = yield* oauth.handleCallback(callback, { binding: "browser-cookie-1" })
        assert.strictEqual(Redacted.value(again.token.accessToken), Redacted.value(token.accessToken))
        assert.strictEqual((yield* stats).access_token, 1)
      }).pipe(Effect.provide(TestLayer)))

    it.effect("concurrent duplicate callbacks make one exchange and get one token", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const sandbox = yield* Sandbox.Sandbox
        const { state } = yield* oauth.authorizeUrl({ redirectUri, scope: "snsapi_userinfo" })
        const callback = yield* sandbox.approve({
          appId: app.appId,
          user: "alice",
          scope: "snsapi_userinfo",
          redirectUri,
          state
        })
        const results = yield* Effect.all(Array.from({ length: 5 }, () => oauth.handleCallback(callback)), {
          concurrency: "unbounded"
        })
        const tokens = new Set(results.map((r) => Redacted.value(r.token.accessToken)))
        assert.strictEqual(tokens.size, 1)
        assert.strictEqual((yield* stats).access_token, 1)
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a leaked callback URL is useless: another browser, or after 60 s, gets CodeUsed", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const { callback } = yield* login({ binding: "browser-1" })
        const other = yield* Effect.flip(oauth.handleCallback(callback, { binding: "browser-2" }))
        assert.strictEqual(other._tag, "StateMismatch")
        const unbound = yield* Effect.flip(oauth.exchangeCode(new URL(callback).searchParams.get("code")!))
        assert.strictEqual(unbound._tag, "CodeUsed")
        yield* TestClock.adjust("61 seconds")
        const late = yield* Effect.flip(
          withTime(oauth.handleCallback(callback, { binding: "browser-1" }), "100 millis")
        )
        assert.strictEqual(late._tag, "CodeUsed")
      }).pipe(Effect.provide(TestLayer)))

    it.effect("after the clock steps back, a remembered code is answered no longer: CodeUsed, not the stored token", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const { callback } = yield* login({ binding: "browser-1" })
        // an NTP step back of an hour, then 57 minutes: by the clock, the code is exchanged in 3 minutes,
        // within the state's clock-skew allowance (StateToken.clockSkewAllowance), so the memo answers
        const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        yield* TestClock.setTime(now - 3_600_000)
        yield* TestClock.adjust("57 minutes")
        const late = yield* Effect.either(
          withTime(oauth.handleCallback(callback, { binding: "browser-1" }), "100 millis")
        )
        assert.isTrue(
          late._tag === "Left" && late.left._tag === "CodeUsed",
          `a repeat 57 minutes after the exchange (the clock stepped back an hour) was answered: ${late._tag}`
        )
        // 10 minutes before the exchange by the clock, the state itself is refused first
        yield* TestClock.setTime(now - 600_000)
        const earlier = yield* Effect.either(
          withTime(oauth.handleCallback(callback, { binding: "browser-1" }), "100 millis")
        )
        assert.isTrue(
          earlier._tag === "Left" && earlier.left._tag === "StateMismatch" && earlier.left.reason === "Expired",
          `a repeat 10 minutes before the exchange by the clock: ${JSON.stringify(earlier)}`
        )
      }).pipe(Effect.provide(TestLayer)))

    it.effect("requireBinding refuses a signed state made without a binding, before any exchange; a bound one passes", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const sandbox = yield* Sandbox.Sandbox
        // the app signed a state elsewhere without a binding (a link, a native app): the attacker
        // consents with it and sends the victim the callback URL
        const { state } = yield* oauth.authorizeUrl({ redirectUri, scope: "snsapi_userinfo" })
        const planted = yield* sandbox.approve({
          appId: app.appId,
          user: "bob",
          scope: "snsapi_userinfo",
          redirectUri,
          state
        })
        const refused = yield* Effect.flip(
          oauth.handleCallback(planted, { binding: "victim-browser", requireBinding: true })
        )
        assert.strictEqual(refused._tag === "StateMismatch" && refused.reason, "Binding")
        assert.strictEqual((yield* stats).access_token, 0, "no code was exchanged")
        // without the option the same callback is accepted, as before
        const accepted = yield* oauth.handleCallback(planted, { binding: "victim-browser" })
        assert.strictEqual((yield* stats).access_token, 1)
        // a state bound to this browser passes
        const bound = yield* oauth.authorizeUrl({ redirectUri, scope: "snsapi_userinfo", binding: "browser-1" })
        const callback = yield* sandbox.approve({
          appId: app.appId,
          user: "alice",
          scope: "snsapi_userinfo",
          redirectUri,
          state: bound.state
        })
        const ok = yield* oauth.handleCallback(callback, { binding: "browser-1", requireBinding: true })
        assert.notStrictEqual(ok.token.openid, accepted.token.openid, "alice's login, not bob's")
        assert.strictEqual((yield* stats).access_token, 2)
        // an option of the wrong type is an InvalidArgument
        const wrong = yield* Effect.flip(
          oauth.handleCallback(callback, { binding: "browser-1", requireBinding: "yes" as unknown as boolean })
        )
        assert.strictEqual(wrong._tag === "InvalidArgument" && wrong.argument, "requireBinding")
      }).pipe(Effect.provide(TestLayer)))

    it.effect("an exchange in flight is shared only with the same binding: another browser waits, then gets CodeUsed", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const { state } = yield* oauth.authorizeUrl({ redirectUri, scope: "snsapi_userinfo" })
        const code = new URL(yield* approveWithState(state)).searchParams.get("code")!
        yield* inject({ kind: "slow", endpoint: "access_token", delayMs: 2_000 })
        const victim = yield* Effect.fork(oauth.exchangeCode(code, { binding: "victim-browser" }))
        yield* Effect.yieldNow()
        const attacker = yield* Effect.fork(oauth.exchangeCode(code, { binding: "attacker-browser" }))
        const unbound = yield* Effect.fork(oauth.exchangeCode(code))
        const sameBrowser = yield* Effect.fork(oauth.exchangeCode(code, { binding: "victim-browser" }))
        yield* TestClock.adjust("3 seconds")
        const token = yield* Fiber.join(victim)
        const again = yield* Fiber.join(sameBrowser)
        assert.strictEqual(Redacted.value(again.accessToken), Redacted.value(token.accessToken))
        const attacked = yield* Effect.flip(withTime(Fiber.join(attacker), "100 millis"))
        assert.strictEqual(attacked._tag, "CodeUsed")
        assert.strictEqual((yield* Effect.flip(withTime(Fiber.join(unbound), "100 millis")))._tag, "CodeUsed")
        assert.strictEqual((yield* stats).access_token, 1)
      }).pipe(Effect.provide(TestLayer)))

    it.effect("another browser waiting on a failed flight gets the flight's own error", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const { state } = yield* oauth.authorizeUrl({ redirectUri, scope: "snsapi_userinfo" })
        const code = new URL(yield* approveWithState(state)).searchParams.get("code")!
        yield* inject({ kind: "errcode", errcode: 40029, endpoint: "access_token" })
        yield* inject({ kind: "slow", endpoint: "access_token", delayMs: 1 })
        const first = yield* Effect.fork(oauth.exchangeCode(code, { binding: "a" }))
        yield* Effect.yieldNow()
        const second = yield* Effect.fork(oauth.exchangeCode(code, { binding: "b" }))
        yield* TestClock.adjust("1 second")
        assert.strictEqual((yield* Effect.flip(Fiber.join(first)))._tag, "InvalidCode")
        assert.strictEqual((yield* Effect.flip(Fiber.join(second)))._tag, "InvalidCode")
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a tampered, expired or other-app state is StateMismatch", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const sandbox = yield* Sandbox.Sandbox
        const { state } = yield* oauth.authorizeUrl({ redirectUri, scope: "snsapi_userinfo", returnTo: "/me" })
        const callbackWith = (s: string) =>
          sandbox.approve({ appId: app.appId, user: "alice", scope: "snsapi_userinfo", redirectUri, state: s })
        const flipped = state.slice(0, 10) + (state[10] === "A" ? "B" : "A") + state.slice(11)
        const tampered = yield* Effect.flip(oauth.handleCallback(yield* callbackWith(flipped)))
        assert.strictEqual(tampered._tag, "StateMismatch")

        const otherApp = yield* Effect.flatMap(WeChatOAuth.WeChatOAuth, (o) => o.authorizeUrl({ redirectUri })).pipe(
          Effect.provide(
            WeChatOAuth.layer.pipe(
              Layer.provide(TokenStore.layerMemory),
              Layer.provide(WeChatConfig.layer({ appId: "wxotherapp0000001", appSecret: "another-secret" })),
              Layer.provide(Sandbox.layerHttpClient),
              Layer.provide(Sandbox.layer())
            )
          )
        )
        const foreign = yield* Effect.flip(oauth.handleCallback(yield* callbackWith(otherApp.state)))
        assert.strictEqual(foreign._tag, "StateMismatch")

        const ok = yield* oauth.handleCallback(yield* callbackWith(state))
        assert.strictEqual(ok.returnTo, "/me")
        yield* TestClock.adjust("11 minutes")
        const expired = yield* Effect.flip(oauth.handleCallback(yield* callbackWith(state)))
        assert.deepStrictEqual([expired._tag, (expired as WeChatError.StateMismatch).reason], [
          "StateMismatch",
          "Expired"
        ])
        assert.strictEqual((yield* stats).access_token, 1, "no code is exchanged for a bad state")
      }).pipe(Effect.provide(TestLayer)))

    it.effect("with expectedState, the state in a leaked URL does not make its bearer the same browser", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const callback = yield* approveWithState("cookieState123")
        yield* oauth.handleCallback(callback, { expectedState: "cookieState123", binding: "victim-session" })
        const attacker = yield* Effect.flip(
          withTime(oauth.handleCallback(callback, { expectedState: "cookieState123" }), "100 millis")
        )
        assert.strictEqual(attacker._tag, "CodeUsed")
        const forged = yield* Effect.flip(
          withTime(oauth.handleCallback(callback, { expectedState: "cookieState123", binding: "x" }), "100 millis")
        )
        assert.strictEqual(forged._tag, "CodeUsed")
        const victim = yield* oauth.handleCallback(callback, {
          expectedState: "cookieState123",
          binding: "victim-session"
        })
        assert.strictEqual(victim.token.openid, (yield* Sandbox.Sandbox).openidOf(app.appId, "alice"))
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a remembered code answers only its own browser, even while that browser reloads", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const { callback } = yield* login({ binding: "victim" })
        const code = new URL(callback).searchParams.get("code")!
        const [reload, attacker] = yield* Effect.all([
          oauth.handleCallback(callback, { binding: "victim" }),
          Effect.flip(withTime(oauth.exchangeCode(code), "100 millis"))
        ], { concurrency: "unbounded" })
        assert.isString(reload.token.openid)
        assert.strictEqual(attacker._tag, "CodeUsed")
      }).pipe(Effect.provide(TestLayer)))

    it.effect("expectedState is compared as given", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const callback = yield* approveWithState("cookieState123")
        const wrong = yield* Effect.flip(oauth.handleCallback(callback, { expectedState: "cookieState124" }))
        assert.strictEqual(wrong._tag, "StateMismatch")
        const ok = yield* oauth.handleCallback(callback, { expectedState: "cookieState123", binding: "session-1" })
        const reload = yield* oauth.handleCallback(callback, { expectedState: "cookieState123", binding: "session-1" })
        assert.strictEqual(Redacted.value(ok.token.accessToken), Redacted.value(reload.token.accessToken))
      }).pipe(Effect.provide(TestLayer)))
  })

  describe("refresh policy", () => {
    it.effect("two hours later getUser refreshes first, once; the refresh token's life is not extended", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const { token } = yield* login()
        yield* TestClock.adjust("2 hours")
        const user = yield* oauth.getUser(token.openid)
        assert.strictEqual(user.nickname, "张三")
        const s = yield* stats
        assert.strictEqual(s.refresh_token, 1)
        assert.strictEqual(s.userinfo, 1, "no failed userinfo call before the refresh")
        const fresh = Option.getOrThrow(yield* oauth.getToken(token.openid))
        assert.isTrue(fresh.obtainedAt > token.obtainedAt)
        assert.strictEqual(fresh.refreshExpiresAt, token.refreshExpiresAt)
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a refresh whose answer has no unionid (as WeChat documents it) keeps the stored unionid", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const sandbox = yield* Sandbox.Sandbox
        const { token } = yield* login({ scope: "snsapi_userinfo" })
        assert.strictEqual(token.unionid, Sandbox.defaultUsers[0].unionid)
        yield* TestClock.adjust("3 hours")
        const refreshed = yield* oauth.refresh(token.openid)
        assert.strictEqual((yield* sandbox.stats).refresh_token, 1)
        assert.notStrictEqual(Redacted.value(refreshed.accessToken), Redacted.value(token.accessToken))
        assert.strictEqual(refreshed.unionid, token.unionid)
        const stored = Option.getOrThrow(yield* oauth.getToken(token.openid))
        assert.strictEqual(stored.obtainedAt, refreshed.obtainedAt)
        assert.strictEqual(stored.unionid, token.unionid)
        // and getUser after the refresh still has it
        assert.strictEqual((yield* oauth.getUser(token.openid)).unionid, token.unionid)
      }).pipe(Effect.provide(
        WeChatOAuth.layer.pipe(
          Layer.provideMerge(TokenStore.layerMemory),
          Layer.provide(configLayer),
          Layer.provide(Sandbox.layerHttpClient),
          Layer.provideMerge(Sandbox.layer({ apps: [{ ...app, unionidOnRefresh: false }] }))
        )
      )))

    it.effect("a refresh skew longer than the token's life refreshes at half its life, not on every call", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const { token } = yield* login()
        // WeChat's tokens live 2 hours: a 3-hour skew (or a broken answer's `expires_in: 30`) made
        // every getUser a refresh_token request
        for (let i = 0; i < 5; i++) yield* oauth.getUser(token.openid)
        assert.deepStrictEqual([(yield* stats).refresh_token, (yield* stats).userinfo], [0, 5])
        yield* TestClock.adjust("61 minutes")
        for (let i = 0; i < 5; i++) yield* oauth.getUser(token.openid)
        assert.deepStrictEqual([(yield* stats).refresh_token, (yield* stats).userinfo], [1, 10])
      }).pipe(
        Effect.provide(
          WeChatOAuth.layerWith({ policy: { refreshSkew: "3 hours" } }).pipe(
            Layer.provideMerge(TokenStore.layerMemory),
            Layer.provide(configLayer),
            Layer.provide(Sandbox.layerHttpClient),
            Layer.provideMerge(Sandbox.layer())
          )
        )
      ))

    it.effect("1,000 concurrent getUser calls on one expired token make exactly one refresh request", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const { token } = yield* login()
        yield* TestClock.adjust("3 hours")
        const users = yield* Effect.all(Array.from({ length: 1000 }, () => oauth.getUser(token.openid)), {
          concurrency: "unbounded"
        })
        assert.strictEqual(users.length, 1000)
        assert.isTrue(users.every((u) => u.nickname === "张三"))
        assert.strictEqual((yield* stats).refresh_token, 1)
      }).pipe(Effect.provide(TestLayer)))

    it.effect("after 30 days the user must authorize again and the stored token is gone", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const { token } = yield* login()
        yield* TestClock.adjust("30 days")
        const error = yield* Effect.flip(oauth.getUser(token.openid))
        assert.isTrue(WeChatError.requiresReauthorization(error), error._tag)
        assert.isTrue(Option.isNone(yield* oauth.getToken(token.openid)))
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a refresh token WeChat rejects (42002 / 40030) removes the stored token", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        for (const errcode of [42002, 40030]) {
          const { token } = yield* login()
          yield* inject({ kind: "errcode", errcode, endpoint: "refresh_token" })
          const error = yield* Effect.flip(oauth.refresh(token.openid))
          assert.strictEqual(error._tag, errcode === 42002 ? "RefreshTokenExpired" : "InvalidRefreshToken")
          assert.isTrue(WeChatError.requiresReauthorization(error))
          assert.isTrue(Option.isNone(yield* oauth.getToken(token.openid)))
        }
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a refresh answer for another openid is refused and nothing is stored under it", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const { token } = yield* login()
        const bob = yield* login({ user: "bob" })
        yield* inject({ kind: "wrongOpenid", endpoint: "refresh_token" })
        const error = yield* Effect.flip(oauth.refresh(token.openid))
        assert.strictEqual(error._tag, "MalformedResponse")
        const stored = yield* oauth.getToken(token.openid)
        assert.strictEqual(Option.isSome(stored) && stored.value.obtainedAt, token.obtainedAt)
        const other = yield* oauth.getToken(bob.token.openid)
        assert.strictEqual(Option.isSome(other) && other.value.obtainedAt, bob.token.obtainedAt)
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a custom policy replaces the default: no proactive refresh with zero skew and no retries", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const { token } = yield* login()
        yield* inject({ kind: "busy", endpoint: "userinfo" })
        const error = yield* Effect.flip(oauth.getUser(token.openid))
        assert.strictEqual(error._tag, "SystemBusy")
        assert.strictEqual((yield* stats).userinfo, 1)
      }).pipe(
        Effect.provide(
          WeChatOAuth.layerWith({ policy: { retryOn: () => false } }).pipe(
            Layer.provideMerge(TokenStore.layerMemory),
            Layer.provide(configLayer),
            Layer.provide(Sandbox.layerHttpClient),
            Layer.provideMerge(Sandbox.layer())
          )
        )
      ))
  })

  describe("code exchange retries", () => {
    it.effect("-1 on the exchange is retried once", () =>
      Effect.gen(function*() {
        yield* inject({ kind: "busy", endpoint: "access_token" })
        const { token } = yield* withTime(login(), "50 millis")
        assert.isString(token.openid)
        assert.strictEqual((yield* stats).access_token, 2)
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a timeout or a reset is not retried: the code may be burnt", () =>
      Effect.gen(function*() {
        yield* inject({ kind: "reset", endpoint: "access_token" })
        const reset = yield* Effect.flip(withTime(login(), "50 millis"))
        assert.deepStrictEqual([reset._tag, (reset as WeChatError.TransportError).reason], [
          "TransportError",
          "Network"
        ])
        yield* inject({ kind: "slow", endpoint: "access_token", delayMs: 60_000 })
        const slow = yield* Effect.flip(withTime(login(), "1 second"))
        assert.deepStrictEqual([slow._tag, (slow as WeChatError.TransportError).reason], ["TransportError", "Timeout"])
        assert.strictEqual((yield* stats).access_token, 2)
      }).pipe(Effect.provide(TestLayer)))

    it.effect("an exchange whose answer is lost after WeChat redeemed the code is not retried into a 40163", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const callback = yield* consent(oauth)
        yield* inject({ kind: "reset", endpoint: "access_token", afterEffect: true })
        // the answer was lost: the caller sees the transport failure, not a retry's "code been used"
        const lost = yield* Effect.flip(withTime(oauth.handleCallback(callback), "50 millis"))
        assert.strictEqual(lost._tag, "TransportError")
        assert.isFalse(WeChatError.isSafeToResend(lost))
        assert.strictEqual((yield* stats).access_token, 1)
        // nothing stored, nothing remembered: the code is burnt, and the user must authorize again
        const openid = (yield* Sandbox.Sandbox).openidOf(app.appId, "alice")
        assert.isTrue(Option.isNone(yield* oauth.getToken(openid)))
        const again = yield* Effect.flip(oauth.handleCallback(callback))
        assert.strictEqual(again._tag, "CodeUsed")
        assert.strictEqual((yield* stats).access_token, 2)
        // a fresh consent logs in
        const { token } = yield* login()
        assert.strictEqual(token.openid, openid)
      }).pipe(Effect.provide(TestLayer)))
  })

  it.live("a refused connection is retried once even for a code exchange: nothing was sent", () =>
    Effect.gen(function*() {
      const server = Net.createServer()
      yield* Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve)))
      const port = (server.address() as Net.AddressInfo).port
      yield* Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
      const retries = () => RetryPolicy.retriesTotal.unsafeValue([MetricLabel.make("endpoint", "access_token")]).count
      const before = retries()
      const error = yield* Effect.flatMap(
        WeChatOAuth.WeChatOAuth,
        (oauth) => Effect.flip(oauth.exchangeCode("somecode"))
      ).pipe(
        Effect.provide(
          WeChatOAuth.layer.pipe(
            Layer.provide(TokenStore.layerMemory),
            Layer.provide(
              WeChatConfig.layer({ appId: app.appId, appSecret: app.secret, apiBaseUrl: `http://127.0.0.1:${port}` })
            ),
            Layer.provide(WeChatHttpClient.layer())
          )
        )
      )
      assert.strictEqual(error._tag, "TransportError")
      const transport = error as WeChatError.TransportError
      assert.deepStrictEqual([transport.reason, transport.phase], ["ConnectionRefused", "connect"])
      assert.strictEqual(retries() - before, 1)
    }))

  getUserPolicySuite({
    layer: TestLayer,
    test: (name, body) => it.effect(name, body),
    waiting: (effect) => withTime(effect, "50 millis", 1200),
    slowMillis: 30_000
  })

  describe("verifyAccessToken", () => {
    it.effect("true for a valid token, false once WeChat says it expired, an error when WeChat is busy", () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const { token } = yield* login()
        assert.isTrue(yield* oauth.verifyAccessToken(token.openid))
        yield* inject({ kind: "busy", endpoint: "auth", times: 10 })
        const busy = yield* Effect.flip(withTime(oauth.verifyAccessToken(token.openid), "50 millis"))
        assert.strictEqual(busy._tag, "SystemBusy")
        const sandbox = yield* Sandbox.Sandbox
        yield* sandbox.clearFaults
        yield* TestClock.adjust("2 hours")
        assert.isFalse(yield* oauth.verifyAccessToken(token.openid))
      }).pipe(Effect.provide(TestLayer)))
  })
})
