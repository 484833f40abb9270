/**
 * The acceptance test: Debian's Chromium (`/usr/bin/chromium`, driven by `playwright-core`, never a
 * downloaded browser) clicks through the demo app and the sandbox's consent pages like a person
 * would: inside WeChat (a WeChat user agent: the official account) and on a desktop (the website
 * app's QR login), `returnTo`, logout everywhere, an expired session, the login's problem pages,
 * the simulated mini program and the dev panel. A screenshot of each page goes to
 * `test-results/screenshots/`.
 *
 * Without `/usr/bin/chromium` the test is skipped with a warning; with `CI=true` it fails.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { sandboxControl, userAgents } from "@wxauth/test-support"
import * as Chromium from "@wxauth/test-support/Chromium"
import {
  decide,
  executablePath,
  hasChromium,
  inCi,
  newContext,
  screenshotsDir,
  sessionCookie,
  shotsIn,
  step,
  text,
  warnIfSkipped,
  withPage
} from "@wxauth/test-support/Chromium"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Fs from "node:fs"
import type { BrowserContext, Page } from "playwright-core"
import { WebLoginServer } from "../src/Server.js"
import { demoApp, MINI, OA, WEB } from "./helpers.js"

warnIfSkipped("the browser test")

const screenshots = screenshotsDir(import.meta.url)
const shot = shotsIn(screenshots)

const count = (page: Page, selector: string) => step(() => page.locator(selector).count())

const pathOf = (page: Page) => new URL(page.url()).pathname

/** The login's problem page's reason. */
const problemReason = (page: Page) => step(() => page.locator("#wxauth-problem").getAttribute("data-reason"))

describe.skipIf(!hasChromium && !inCi)("web-login in Chromium", () => {
  if (!hasChromium) {
    it("has Debian's Chromium", () => {
      assert.fail(`${executablePath} is missing: install Debian's chromium (apt-get install chromium)`)
    })
    return
  }

  Fs.mkdirSync(screenshots, { recursive: true })

  layer(Layer.merge(demoApp(), Chromium.layer), { excludeTestServices: true, timeout: "90 seconds" })((it) => {
    it.effect("inside WeChat: home → the official account's consent → allow → profile; the callback URL again logs in nobody", () =>
      withPage(userAgents.wechat, (page) =>
        Effect.gen(function*() {
          const { sandboxUrl, url } = yield* WebLoginServer
          yield* step(() => page.goto(url))
          assert.include(yield* text(page, "#login"), "使用微信登录")
          yield* shot(page, "01-home")

          yield* step(() => page.locator("#login").click())
          yield* step(() => page.waitForURL((u) => u.pathname === "/connect/oauth2/authorize"))
          assert.isTrue(page.url().startsWith(Option.getOrThrow(sandboxUrl)), "the consent page is the sandbox's")
          assert.strictEqual(new URL(page.url()).searchParams.get("appid"), OA.appId)
          assert.include(yield* text(page, "#scope"), "snsapi_userinfo")
          yield* shot(page, "02-consent")

          const callback = page.waitForRequest((request) =>
            new URL(request.url()).pathname === "/login/official/callback"
          )
          yield* decide(page, "alice", "allow")
          const callbackRequest = yield* step(() => callback)
          const callbackUrl = callbackRequest.url()
          yield* step(() => page.waitForURL((u) => u.pathname === "/profile"))
          assert.strictEqual(yield* text(page, "#nickname"), "张三")
          assert.match(yield* text(page, "#openid"), /^[A-Za-z0-9_-]{28}$/)
          assert.strictEqual(yield* text(page, "#unionid"), "olzWokv71Boc1knksRfAoCKqK1O9")
          assert.include(yield* text(page, "#login-method"), OA.appId)
          assert.match(yield* text(page, "#user-id"), /^u_/)
          assert.include(yield* text(page, "#token-expiry"), "UTC")
          // the profile as WeChat gives it today: no gender or region, and a note saying so
          assert.include(yield* text(page, "#profile-note"), "微信不再提供性别和地区")
          assert.strictEqual(yield* count(page, "#gender-region"), 0)
          // the callback answered with a redirect away that lets no Referer carry the code
          const callbackResponse = yield* step(() => callbackRequest.response())
          assert.strictEqual(callbackResponse?.status(), 303)
          assert.strictEqual(callbackResponse?.headers()["referrer-policy"], "no-referrer")
          // the cookies are HttpOnly and SameSite=Lax: the page's scripts cannot read them
          assert.strictEqual(yield* step(() => page.evaluate(() => document.cookie)), "")
          const before = yield* sessionCookie(page.context())
          assert.isTrue(before?.httpOnly)
          assert.strictEqual(before?.sameSite, "Lax")
          yield* shot(page, "03-profile")

          // the callback URL again (the binding was rotated): home, the same session, no second login
          yield* step(() => page.goto(callbackUrl))
          assert.strictEqual(pathOf(page), "/")
          assert.strictEqual(yield* count(page, "#logged-in"), 1)
          assert.strictEqual((yield* sessionCookie(page.context()))?.value, before?.value, "the same session")
          yield* shot(page, "04-callback-again")
        })))

    it.effect("returnTo: a logged-out /profile?tab=orders logs in and lands there, query and all", () =>
      withPage(userAgents.wechat, (page) =>
        Effect.gen(function*() {
          const { url } = yield* WebLoginServer
          yield* step(() => page.goto(`${url}/profile?tab=orders`))
          yield* step(() => page.waitForURL((u) => u.pathname === "/connect/oauth2/authorize"))
          yield* decide(page, "bob", "allow")
          yield* step(() => page.waitForURL((u) => u.pathname === "/profile"))
          assert.strictEqual(new URL(page.url()).search, "?tab=orders")
          assert.strictEqual(yield* text(page, "#nickname"), "李四")
          yield* shot(page, "05-return-to")
        })))

    it.effect("on a desktop: home → the website app's QR login → profile; a phone outside WeChat is asked to open WeChat", () =>
      Effect.gen(function*() {
        const { url } = yield* WebLoginServer
        yield* withPage(userAgents.desktop, (page) =>
          Effect.gen(function*() {
            yield* step(() => page.goto(url))
            yield* step(() => page.locator("#login").click())
            yield* step(() => page.waitForURL((u) => u.pathname === "/connect/qrconnect"))
            assert.strictEqual(new URL(page.url()).searchParams.get("appid"), WEB.appId)
            assert.include(yield* text(page, "#scope"), "snsapi_login")
            yield* shot(page, "06-qr-consent")
            const callback = page.waitForResponse((r) => new URL(r.url()).pathname === "/login/website/callback")
            yield* decide(page, "bob", "allow")
            const response = yield* step(() => callback)
            assert.strictEqual(response.status(), 303)
            assert.strictEqual(response.headers()["referrer-policy"], "no-referrer")
            yield* step(() => page.waitForURL((u) => u.pathname === "/profile"))
            assert.strictEqual(yield* text(page, "#nickname"), "李四")
            assert.include(yield* text(page, "#login-method"), WEB.appId)
            yield* shot(page, "07-website-profile")
          }))
        yield* withPage(userAgents.phone, (page) =>
          Effect.gen(function*() {
            yield* step(() => page.goto(url))
            yield* step(() => page.locator("#login").click())
            yield* step(() => page.locator("#wxauth-open-in-wechat").waitFor())
            assert.strictEqual(pathOf(page), "/login")
            assert.strictEqual(yield* step(() => page.locator("#wxauth-link").inputValue()), `${url}/login`)
            yield* shot(page, "08-phone-open-in-wechat")
            yield* step(() => page.locator("#wxauth-qr-option").click())
            yield* step(() => page.waitForURL((u) => u.pathname === "/connect/qrconnect"))
          }))
      }))

    it.effect("logout everywhere: the user's session in another browser ends too", () =>
      Effect.gen(function*() {
        const { url } = yield* WebLoginServer
        const loginIn = (context: BrowserContext, user = "carol") =>
          Effect.gen(function*() {
            const page = yield* step(() => context.newPage())
            yield* step(() => page.goto(`${url}/login`))
            yield* decide(page, user, "allow")
            yield* step(() => page.waitForURL((u) => u.pathname === "/profile"))
            return page
          })
        const first = yield* loginIn(yield* newContext(userAgents.wechat))
        const second = yield* loginIn(yield* newContext(userAgents.wechat))
        const other = yield* loginIn(yield* newContext(userAgents.wechat), "alice")
        assert.notStrictEqual(
          (yield* sessionCookie(first.context()))?.value,
          (yield* sessionCookie(second.context()))?.value,
          "two sessions"
        )
        yield* step(() => second.locator("#logout-everywhere").click())
        yield* step(() => second.waitForURL((u) => u.pathname === "/"))
        assert.strictEqual(yield* count(second, "#logged-in"), 0)
        yield* shot(second, "09-logged-out-everywhere")
        // the first browser's profile: its session ended, so a new login starts
        yield* step(() => first.reload())
        yield* step(() => first.waitForURL((u) => u.pathname === "/connect/oauth2/authorize"))
        // another user stays logged in
        yield* step(() => other.reload())
        assert.strictEqual(pathOf(other), "/profile")
      }).pipe(Effect.scoped))

    it.effect("an expired session (SESSION_TTL=3 seconds): the profile starts a new login and comes back", () =>
      Effect.gen(function*() {
        const { url } = Context.get(yield* Layer.build(demoApp({ SESSION_TTL: "3 seconds" })), WebLoginServer)
        yield* withPage(userAgents.wechat, (page) =>
          Effect.gen(function*() {
            yield* step(() => page.goto(`${url}/login?returnTo=%2Fprofile`))
            yield* decide(page, "alice", "allow")
            yield* step(() => page.waitForURL((u) => u.pathname === "/profile"))
            const cookie = yield* sessionCookie(page.context())
            assert.isDefined(cookie)
            yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 3_200)))
            yield* step(() => page.goto(`${url}/profile`))
            yield* step(() => page.waitForURL((u) => u.pathname === "/connect/oauth2/authorize"))
            assert.strictEqual(
              new URL(new URL(page.url()).searchParams.get("redirect_uri")!).pathname,
              "/login/official/callback",
              "a new login started"
            )
            yield* shot(page, "10-expired-session")
            yield* decide(page, "alice", "allow")
            yield* step(() => page.waitForURL((u) => u.pathname === "/profile"))
            assert.notStrictEqual((yield* sessionCookie(page.context()))?.value, cookie?.value, "a new session")
          }))
      }).pipe(Effect.scoped))

    it.effect("a tampered state and a denied consent show the login's problem pages", () =>
      withPage(userAgents.wechat, (page) =>
        Effect.gen(function*() {
          const { url } = yield* WebLoginServer
          yield* step(() => page.goto(`${url}/login/official`))
          yield* step(() => page.waitForURL((u) => u.pathname === "/connect/oauth2/authorize"))
          // what an attacker editing the state on its way back would do
          yield* step(() =>
            page.locator("input[name=state]").evaluate((input: HTMLInputElement) => {
              const state = input.value
              input.value = state.slice(0, 30) + (state[30] === "x" ? "y" : "x") + state.slice(31)
            })
          )
          yield* decide(page, "alice", "allow")
          yield* step(() => page.waitForURL((u) => u.pathname === "/login/official/problem"))
          assert.strictEqual(yield* problemReason(page), "state")
          assert.strictEqual(yield* text(page, "#wxauth-problem-title"), "登录请求无效")
          yield* shot(page, "11-tampered-state")

          yield* step(() => page.locator("#wxauth-try-again").click())
          yield* step(() => page.waitForURL((u) => u.pathname === "/connect/oauth2/authorize"))
          yield* decide(page, "alice", "deny")
          yield* step(() => page.waitForURL((u) => u.pathname === "/login/official/problem"))
          assert.strictEqual(yield* problemReason(page), "denied")
          assert.strictEqual(yield* text(page, "#wxauth-problem-title"), "你拒绝了授权")
          yield* shot(page, "12-denied")
        })))

    it.effect("mini program: the simulated client logs in, then gets the phone number with its token", () =>
      withPage(userAgents.desktop, (page) =>
        Effect.gen(function*() {
          const { sandboxUrl, url } = yield* WebLoginServer
          const config = yield* sandboxControl(Option.getOrThrow(sandboxUrl), "GET", "config")
          yield* step(() => page.goto(url))
          yield* step(() => page.locator("#to-mini-program").click())
          yield* step(() => page.waitForURL((u) => u.pathname === "/mini-program"))
          yield* shot(page, "13-mini-program")
          yield* step(() => page.locator("#mini-user-bob").check())
          // the codes and the token the page got (for the assertion that the page never shows them)
          const answers: Array<Promise<{ code?: string; token?: string }>> = []
          page.on("response", (response) => {
            const path = new URL(response.url()).pathname
            if (path.startsWith("/mini-program/wx/") || path === "/api/wechat/mini-program/mini/login") {
              answers.push(response.json())
            }
          })
          const phone = page.waitForResponse((r) =>
            new URL(r.url()).pathname === "/api/wechat/mini-program/mini/phone-number"
          )
          yield* step(() => page.locator("#phone-login").click())
          const phoneResponse = yield* step(() => phone)
          assert.strictEqual(phoneResponse.status(), 200)
          assert.match(phoneResponse.request().headers()["authorization"] ?? "", /^Bearer [A-Za-z0-9_-]{43}$/)
          yield* step(() => page.locator("#mini-result").waitFor({ state: "visible" }))
          assert.strictEqual(yield* text(page, "#mini-phone"), "13800000002")
          assert.strictEqual(yield* text(page, "#mini-country"), "+86")
          assert.strictEqual(yield* text(page, "#mini-openid"), config.openids[MINI.appId].bob)
          assert.match(yield* text(page, "#mini-user-id"), /^u_/)
          assert.strictEqual(yield* count(page, "#mini-steps li[data-state=done]"), 4)
          const secrets = (yield* step(() => Promise.all(answers))).flatMap((body) =>
            [body.code, body.token].filter((value) => value !== undefined)
          )
          assert.strictEqual(secrets.length, 3, "wx.login(), the login's token and the phone button's code")
          const content = yield* step(() => page.content())
          for (const secret of secrets) assert.notInclude(content, secret)
          // the mini program's session is its own: this browser is not logged in to the site
          assert.isUndefined(yield* sessionCookie(page.context()))
          yield* shot(page, "14-mini-program-logged-in")

          // the same page again: a fresh pair of codes, another login
          yield* step(() => page.locator("#mini-user-alice").check())
          yield* step(() => page.locator("#phone-login").click())
          yield* step(() =>
            page.waitForFunction(() => document.getElementById("mini-phone")?.textContent === "13800000001")
          )
          assert.strictEqual(yield* text(page, "#mini-openid"), config.openids[MINI.appId].alice)
        })))

    it.effect("dev panel: WeChat busy shows the busy page; logging out ends the session", () =>
      withPage(userAgents.wechat, (page) =>
        Effect.gen(function*() {
          const { url } = yield* WebLoginServer
          yield* step(() => page.goto(`${url}/login`))
          yield* decide(page, "carol", "allow")
          yield* step(() => page.waitForURL((u) => u.pathname === "/profile"))
          assert.strictEqual(yield* text(page, "#nickname"), "王五🐼")

          yield* step(() => page.locator("#dev-userinfo-busy").click())
          yield* step(() => page.waitForURL((u) => u.pathname === "/profile"))
          assert.include(yield* text(page, "#dev-faults"), "userinfo: busy × 3")
          yield* shot(page, "15-dev-panel")

          yield* step(() => page.locator("#refresh").click())
          yield* step(() => page.waitForURL((u) => u.pathname === "/error"))
          assert.strictEqual(yield* step(() => page.locator("#error").getAttribute("data-reason")), "busy")
          assert.strictEqual(yield* text(page, "#error-title"), "微信暂时繁忙")
          yield* shot(page, "16-busy")

          yield* step(() => page.locator("#try-again").click())
          yield* step(() => page.waitForURL((u) => u.pathname === "/profile"))
          assert.strictEqual(yield* text(page, "#nickname"), "王五🐼", "still logged in")
          yield* step(() => page.locator("#logout").click())
          yield* step(() => page.waitForURL((u) => u.pathname === "/"))
          assert.strictEqual(yield* count(page, "#logged-in"), 0)
          assert.isUndefined(yield* sessionCookie(page.context()))
          yield* shot(page, "17-logged-out")
        })))
  })
})
