/**
 * The acceptance test: Debian's Chromium (`/usr/bin/chromium`, driven by `playwright-core`, never a
 * downloaded browser) logs in through the app and the sandbox's consent pages as a person would:
 * inside WeChat (a WeChat user agent) and on a desktop (QR login, on WeChat's page and embedded in
 * the app's page with `wxLogin.js`), then logout everywhere, an expired session and `returnTo`.
 * Screenshots go to `test-results/screenshots/`.
 *
 * Without `/usr/bin/chromium` the test is skipped with a warning; with `CI=true` it fails.
 */
import { assert, describe, it } from "@effect/vitest"
import { userAgents } from "@wxauth/test-support"
import {
  decide,
  executablePath,
  hasChromium,
  inCi,
  launch,
  newContextOf,
  screenshotsDir,
  sessionCookie,
  shotsIn,
  step,
  text,
  warnIfSkipped
} from "@wxauth/test-support/Chromium"
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import type { BrowserContext } from "playwright-core"
import { startApp } from "./helpers.js"

warnIfSkipped("the browser test")

const screenshots = screenshotsDir(import.meta.url)
const shot = shotsIn(screenshots)

describe.skipIf(!hasChromium && !inCi)("node-http-login in Chromium", () => {
  if (!hasChromium) {
    it("has Debian's Chromium", () => {
      assert.fail(`${executablePath} is missing: install Debian's chromium (apt-get install chromium)`)
    })
    return
  }

  Fs.mkdirSync(screenshots, { recursive: true })

  it.scoped("inside WeChat: the official account; returnTo; the callback leaves with no-referrer; HttpOnly cookies", () =>
    Effect.gen(function*() {
      const browser = yield* launch
      const { sandboxUrl, url } = yield* startApp()
      const context = yield* newContextOf(browser, userAgents.wechat)
      const page = yield* step(() => context.newPage())
      yield* step(() => page.goto(`${url}/profile?tab=orders`))
      yield* step(() => page.waitForURL((u) => u.pathname === "/connect/oauth2/authorize"))
      assert.isTrue(page.url().startsWith(sandboxUrl), "the consent page is the sandbox's")
      assert.include(yield* text(page, "#scope"), "snsapi_userinfo")
      yield* shot(page, "01-wechat-consent")
      const callback = page.waitForResponse((r) => new URL(r.url()).pathname === "/login/official/callback")
      yield* decide(page, "alice", "allow")
      const response = yield* step(() => callback)
      assert.strictEqual(response.status(), 303)
      assert.strictEqual(response.headers()["referrer-policy"], "no-referrer")
      yield* step(() => page.waitForURL((u) => u.pathname === "/profile"))
      assert.strictEqual(new URL(page.url()).search, "?tab=orders", "returnTo kept its query")
      assert.strictEqual(yield* text(page, "#nickname"), "张三")
      assert.include(yield* text(page, "#app"), "official")
      assert.strictEqual(yield* step(() => page.evaluate(() => document.cookie)), "", "the cookies are HttpOnly")
      const cookie = yield* sessionCookie(context)
      assert.isTrue(cookie?.httpOnly)
      assert.strictEqual(cookie?.sameSite, "Lax")
      yield* shot(page, "02-wechat-profile")
      // the callback URL again: no second login
      yield* step(() => page.goto(response.url()))
      assert.strictEqual(new URL(page.url()).pathname, "/")
      assert.strictEqual((yield* sessionCookie(context))?.value, cookie?.value)
    }))

  it.scoped("on a desktop: the website app's QR page; logout everywhere ends the other browser's session", () =>
    Effect.gen(function*() {
      const browser = yield* launch
      const { url } = yield* startApp()
      const loginOn = (context: BrowserContext) =>
        Effect.gen(function*() {
          const page = yield* step(() => context.newPage())
          yield* step(() => page.goto(url))
          yield* step(() => page.locator("#login").click())
          yield* step(() => page.waitForURL((u) => u.pathname === "/connect/qrconnect"))
          assert.include(yield* text(page, "#scope"), "snsapi_login")
          yield* decide(page, "bob", "allow")
          yield* step(() => page.waitForURL((u) => u.pathname === "/profile"))
          assert.strictEqual(yield* text(page, "#nickname"), "李四")
          assert.include(yield* text(page, "#app"), "web")
          return page
        })
      const first = yield* loginOn(yield* newContextOf(browser, userAgents.desktop))
      yield* shot(first, "03-desktop-profile")
      const second = yield* loginOn(yield* newContextOf(browser, userAgents.desktop))
      yield* step(() => second.locator("#logout-everywhere").click())
      yield* step(() => second.waitForURL((u) => u.pathname === "/"))
      assert.include(yield* text(second, "#login"), "使用微信登录")
      yield* step(() => first.reload())
      yield* step(() => first.waitForURL((u) => u.pathname !== "/profile"))
      assert.notStrictEqual(new URL(first.url()).pathname, "/profile", "the first browser's session ended too")
      yield* shot(first, "04-logged-out-everywhere")
    }))

  it.scoped("on a desktop with the embedded QR code: wxLogin.js's frame, then the whole window goes on", () =>
    Effect.gen(function*() {
      const browser = yield* launch
      const { url } = yield* startApp({ qrCode: { embedded: true } })
      const context = yield* newContextOf(browser, userAgents.desktop)
      const page = yield* step(() => context.newPage())
      yield* step(() => page.goto(`${url}/login?returnTo=%2Fprofile`))
      assert.strictEqual(new URL(page.url()).pathname, "/login", "the QR code is on the app's own page")
      const frame = page.frameLocator("#wxauth-qr iframe")
      yield* step(() => frame.locator("#consent").waitFor())
      yield* shot(page, "05-embedded-qr")
      yield* decide(frame, "carol", "allow")
      yield* step(() => page.waitForURL((u) => u.pathname === "/profile"))
      assert.strictEqual(yield* text(page, "#nickname"), "王五🐼")
    }))

  it.scoped("an expired session: the profile sends the browser to log in again", () =>
    Effect.gen(function*() {
      const browser = yield* launch
      const { url } = yield* startApp({ sessionTtl: "2 seconds" })
      const context = yield* newContextOf(browser, userAgents.wechat)
      const page = yield* step(() => context.newPage())
      yield* step(() => page.goto(`${url}/login?returnTo=%2Fprofile`))
      yield* decide(page, "alice", "allow")
      yield* step(() => page.waitForURL((u) => u.pathname === "/profile"))
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 2100)))
      yield* step(() => page.goto(`${url}/profile`))
      yield* step(() => page.waitForURL((u) => u.pathname === "/connect/oauth2/authorize"))
      assert.strictEqual(
        new URL(new URL(page.url()).searchParams.get("redirect_uri")!).pathname,
        "/login/official/callback",
        "a new login started"
      )
      yield* shot(page, "06-expired-session")
    }))
}, 120_000)
