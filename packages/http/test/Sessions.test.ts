/**
 * Sessions end on the server: by the server's `Clock` (the app and its sandbox run on the test's
 * `TestClock` here), past a user's bound of sessions (`maxSessionsPerUser`), and when WeChat no
 * longer accepts the user's refresh token (40030, 42002): then every session of that user ends.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { SessionStore } from "@wxauth/core"
import type { CurrentWeChatUser } from "@wxauth/http"
import { WeChatLogin } from "@wxauth/http"
import { Browser, login, sandboxControl } from "@wxauth/test-support"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { MINI, testApp, TestServer, WEB } from "./helpers.js"

const WEB_APP = { kind: "website" as const, appId: WEB.appId, appSecret: WEB.secret }

describe("sessions end by the server's Clock", () => {
  it.scoped("a browser session is refused 24 hours after login, whatever the browser keeps", () =>
    Effect.gen(function*() {
      const { url } = Context.get(yield* Layer.build(testApp()), TestServer)
      const browser = new Browser(url)
      yield* login(browser)
      const cookie = browser.cookies.get("wxauth_session")!
      assert.strictEqual((yield* browser.get("/me")).status, 200)
      yield* TestClock.adjust(Duration.subtract(Duration.hours(24), Duration.seconds(1)))
      assert.strictEqual((yield* browser.get("/me")).status, 200, "still valid a second before")
      yield* TestClock.adjust(Duration.seconds(1))
      const expired = yield* browser.get("/me")
      assert.strictEqual(expired.status, 401)
      assert.strictEqual(JSON.parse(expired.text).error, "Unauthenticated")
      assert.strictEqual(browser.cookies.get("wxauth_session"), cookie, "the browser kept the cookie: it opens nothing")
      assert.strictEqual((yield* browser.get("/")).text, "home: nobody")
    }))

  it.scoped("sessionTtl and miniProgramSessionTtl set the lifetimes (the cookie's Max-Age too)", () =>
    Effect.gen(function*() {
      const { sandboxUrl, url } = Context.get(
        yield* Layer.build(testApp(() => ({ sessionTtl: "1 hour", miniProgramSessionTtl: "2 hours" }))),
        TestServer
      )
      const browser = new Browser(url)
      const { answer } = yield* login(browser)
      assert.include(answer.setCookies.find((l) => l.startsWith("wxauth_session="))!, "Max-Age=3600")
      const { code } = yield* sandboxControl(sandboxUrl, "POST", "miniprogram/login", {
        appId: MINI.appId,
        user: "bob"
      })
      const mini = yield* new Browser(url).postJson("/api/wechat/mini-program/mini/login", { code })
      assert.strictEqual(mini.status, 200, mini.text)
      const { token } = JSON.parse(mini.text)
      const bearer = { authorization: `Bearer ${token}` }
      yield* TestClock.adjust(Duration.hours(1))
      assert.strictEqual((yield* browser.get("/me")).status, 401, "the browser session is over")
      assert.strictEqual((yield* new Browser(url).get("/api/wechat/session", bearer)).status, 200)
      yield* TestClock.adjust(Duration.hours(1))
      assert.strictEqual((yield* new Browser(url).get("/api/wechat/session", bearer)).status, 401)
    }))
})

describe("a user's sessions are bounded (maxSessionsPerUser)", () => {
  it.scoped("a login beyond the bound ends the user's least recently written session; other users keep theirs", () =>
    Effect.gen(function*() {
      const { url } = Context.get(yield* Layer.build(testApp(() => ({ maxSessionsPerUser: 2 }))), TestServer)
      const other = new Browser(url)
      yield* login(other, { user: "alice" })
      const browsers = [new Browser(url), new Browser(url), new Browser(url)]
      for (const browser of browsers) {
        yield* login(browser, { user: "bob" })
        yield* TestClock.adjust(1)
      }
      assert.deepStrictEqual(
        yield* Effect.forEach(browsers, (browser) => Effect.map(browser.get("/me"), (me) => me.status)),
        [401, 200, 200]
      )
      assert.strictEqual((yield* other.get("/me")).status, 200, "alice is still logged in")
    }))

  it.scoped("with a SessionStore in the context it is a ConfigError: that store has its own bounds", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Layer.build(
        WeChatLogin.layer({ apps: { web: WEB_APP }, maxSessionsPerUser: 10 }).pipe(
          Layer.provide(SessionStore.layerMemory)
        )
      ))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const failure = Option.getOrThrow(Cause.failureOption(exit.cause))
        assert.isTrue(ConfigError.isConfigError(failure))
        assert.include(String(failure), "maxSessionsPerUser")
      }
      // without the option, the store of the context is used as it is
      yield* Layer.build(WeChatLogin.layer({ apps: { web: WEB_APP } }).pipe(Layer.provide(SessionStore.layerMemory)))
    }))
})

/** The app with `hooks`, a browser logged in to it, and the login service with its user. */
const loggedInWith = (hooks: WeChatLogin.Hooks) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(testApp(() => ({ hooks })))
    const browser = new Browser(Context.get(context, TestServer).url)
    yield* login(browser)
    const user = JSON.parse((yield* browser.get("/me")).text) as CurrentWeChatUser.WeChatUser
    return { browser, service: Context.get(context, WeChatLogin.WeChatLogin), user }
  })

describe("a login hook that never answers", () => {
  it.scoped("ends at the hooks' 30 s deadline even for a logout made from an uninterruptible region (a finaliser)", () =>
    Effect.gen(function*() {
      let interrupted = 0
      const { browser, service, user } = yield* loggedInWith({
        onLogout: () => Effect.onInterrupt(Effect.never, () => Effect.sync(() => interrupted++))
      })
      // the deadline used to wait there for the hook's interruption: the logout never ended
      const logout = yield* Effect.fork(Effect.uninterruptible(service.logout(user)))
      yield* TestClock.adjust("30 seconds")
      let exit = yield* Fiber.poll(logout)
      for (let i = 0; i < 50 && Option.isNone(exit); i++) {
        yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
        exit = yield* Fiber.poll(logout)
      }
      assert.isTrue(
        Option.isSome(exit) && Exit.isSuccess(exit.value),
        "the logout completed (the hook's failure is logged)"
      )
      assert.strictEqual((yield* browser.get("/me")).status, 401, "the session is over")
      for (let i = 0; i < 50 && interrupted === 0; i++) {
        yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
      }
      assert.strictEqual(interrupted, 1, "the hook was interrupted, in the background")
    }))
})

describe("a login hook, from a caller in an uninterruptible region", () => {
  it.scoped("is not cut by an outside interruption: the onLogout hook runs to its end", () =>
    Effect.gen(function*() {
      let done = false
      const { service, user } = yield* loggedInWith({
        onLogout: () =>
          Effect.zipRight(
            Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 100))),
            Effect.sync(() => {
              done = true
            })
          )
      })
      const logout = yield* Effect.fork(Effect.uninterruptible(service.logout(user)))
      yield* Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 20)))
      yield* Fiber.interrupt(logout)
      // the region said the logout (its hook included) runs to its end; before, the interruption
      // reached the hook through its deadline's race
      assert.isTrue(done, "the hook ran to its end")
    }))
})

describe("sessions end when WeChat refuses the refresh token", () => {
  layer(testApp(), { excludeTestServices: true })((it) => {
    const setup = Effect.gen(function*() {
      const { sandboxUrl, url } = yield* TestServer
      return { sandboxUrl, browser: () => new Browser(url) }
    })

    it.effect("40030 (invalid refresh token): every session of the user ends; other users stay", () =>
      Effect.gen(function*() {
        const { browser, sandboxUrl } = yield* setup
        const phone = browser()
        const laptop = browser()
        const other = browser()
        yield* login(phone, { user: "bob" })
        yield* login(laptop, { user: "bob" })
        yield* login(other, { user: "alice" })
        assert.strictEqual((yield* phone.get("/profile")).text, "nickname: 李四")
        // WeChat's access token expires (its clock, not ours), and the refresh is refused with 40030
        yield* sandboxControl(sandboxUrl, "POST", "clock/advance", { seconds: 3 * 3600 })
        yield* sandboxControl(sandboxUrl, "POST", "faults", {
          endpoint: "refresh_token",
          kind: "errcode",
          errcode: 40030
        })
        const profile = yield* phone.get("/profile")
        assert.strictEqual(profile.status, 401)
        assert.strictEqual(profile.text, "error: Unauthenticated")
        assert.strictEqual((yield* phone.get("/me")).status, 401)
        assert.strictEqual((yield* laptop.get("/me")).status, 401, "bob's other session ended too")
        assert.strictEqual((yield* other.get("/me")).status, 200, "alice is still logged in")
        // bob logs in again: a new consent, a new session
        yield* login(phone, { user: "bob" })
        assert.strictEqual((yield* phone.get("/profile")).text, "nickname: 李四")
      }))

    it.effect("42002 (refresh token expired, 30 days after consent): the sessions end", () =>
      Effect.gen(function*() {
        const { browser, sandboxUrl } = yield* setup
        const wechat = browser()
        yield* login(wechat, { user: "carol" })
        assert.strictEqual((yield* wechat.get("/profile")).status, 200)
        yield* sandboxControl(sandboxUrl, "POST", "clock/advance", { seconds: 31 * 24 * 3600 })
        const profile = yield* wechat.get("/profile")
        assert.strictEqual(profile.text, "error: Unauthenticated")
        assert.strictEqual((yield* wechat.get("/me")).status, 401)
      }))

    it.effect("WeChat being busy ends nothing", () =>
      Effect.gen(function*() {
        const { browser, sandboxUrl } = yield* setup
        const wechat = browser()
        yield* login(wechat, { user: "alice" })
        yield* sandboxControl(sandboxUrl, "POST", "faults", { endpoint: "userinfo", kind: "busy", times: 5 })
        const profile = yield* wechat.get("/profile")
        assert.strictEqual(profile.text, "error: SystemBusy")
        yield* sandboxControl(sandboxUrl, "DELETE", "faults")
        assert.strictEqual((yield* wechat.get("/me")).status, 200)
      }))
  })
})
