/**
 * The acceptance test: Debian's Chromium (`/usr/bin/chromium`, driven by `playwright-core`, never a
 * downloaded browser) clicks through the demo app and the sandbox's consent pages like a person
 * would. A screenshot of each page goes to `test-results/screenshots/`.
 *
 * Without `/usr/bin/chromium` the test is skipped with a warning; with `CI=true` it fails.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Url from "node:url"
import type { Browser, Page } from "playwright-core"
import { chromium } from "playwright-core"
import { WebLoginServer } from "../src/Server.js"
import { demoApp, MINI, sandboxControl } from "./helpers.js"

const executablePath = "/usr/bin/chromium"
const hasChromium = Fs.existsSync(executablePath)
const inCi = process.env.CI === "true"

if (!hasChromium && !inCi) {
  console.warn(
    "\n" + "!".repeat(100) + "\n" +
      `!! SKIPPING the browser test: ${executablePath} is missing. Install Debian's chromium ` +
      "(apt-get install chromium).\n!! With CI=true a missing Chromium is a failure.\n" +
      "!".repeat(100) + "\n"
  )
}

const screenshots = Path.join(Url.fileURLToPath(new URL("..", import.meta.url)), "test-results", "screenshots")

class Chromium extends Context.Tag("test/Chromium")<Chromium, Browser>() {}

/** Chromium with a fresh temporary profile (user-data-dir), closed after the tests. */
const ChromiumLive = Layer.scoped(
  Chromium,
  Effect.acquireRelease(
    Effect.promise(() =>
      chromium.launch({
        executablePath,
        headless: true,
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync"
        ]
      })
    ),
    (browser) => Effect.promise(() => browser.close())
  )
)

/**
 * A page in a new browser context (its own cookies). Requests leave for 127.0.0.1 only: the
 * sandbox users' avatar URLs point at WeChat's CDN, which a test must not call.
 */
const withPage = <A, E, R>(f: (page: Page) => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const browser = yield* Chromium
    const context = yield* Effect.acquireRelease(
      Effect.promise(() => browser.newContext({ locale: "zh-CN", viewport: { width: 900, height: 900 } })),
      (context) => Effect.promise(() => context.close())
    )
    yield* Effect.promise(() =>
      context.route(
        (url) => url.hostname !== "127.0.0.1",
        (route) => route.abort()
      )
    )
    const page = yield* Effect.promise(() => context.newPage())
    return yield* f(page)
  }).pipe(Effect.scoped)

const step = <A>(f: () => Promise<A>) => Effect.promise(f)

const shot = (page: Page, name: string) =>
  step(() => page.screenshot({ path: Path.join(screenshots, `${name}.png`), fullPage: true }))

const text = (page: Page, selector: string) => step(() => page.locator(selector).innerText())

/** On the consent page: picks a user and presses allow or deny. */
const decide = (page: Page, user: string, decision: "allow" | "deny") =>
  Effect.gen(function*() {
    yield* step(() => page.locator(`#user-${user}`).check())
    yield* step(() => page.locator(`#${decision}`).click())
  })

describe.skipIf(!hasChromium && !inCi)("web-login in Chromium", () => {
  if (!hasChromium) {
    it("has Debian's Chromium", () => {
      assert.fail(`${executablePath} is missing: install Debian's chromium (apt-get install chromium)`)
    })
    return
  }

  Fs.mkdirSync(screenshots, { recursive: true })

  layer(Layer.merge(demoApp(), ChromiumLive), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("official-account login: home → consent → allow → profile; back to the callback URL stays logged in", () =>
      withPage((page) =>
        Effect.gen(function*() {
          const { sandboxUrl, url } = yield* WebLoginServer
          yield* step(() => page.goto(url))
          assert.include(yield* text(page, "#login-official"), "使用微信登录")
          yield* shot(page, "01-home")

          yield* step(() => page.locator("#login-official").click())
          yield* step(() => page.waitForURL((u) => u.pathname === "/connect/oauth2/authorize"))
          assert.isTrue(page.url().startsWith(Option.getOrThrow(sandboxUrl)), "the consent page is the sandbox's")
          assert.include(yield* text(page, "#scope"), "snsapi_userinfo")
          yield* shot(page, "02-consent")

          const callback = page.waitForRequest((request) => new URL(request.url()).pathname === "/callback/official")
          yield* decide(page, "alice", "allow")
          const callbackRequest = yield* step(() => callback)
          const callbackUrl = callbackRequest.url()
          yield* step(() => page.waitForURL((u) => u.pathname === "/profile"))
          assert.strictEqual(yield* text(page, "#nickname"), "张三")
          assert.match(yield* text(page, "#openid"), /^[A-Za-z0-9_-]{28}$/)
          assert.strictEqual(yield* text(page, "#unionid"), "olzWokv71Boc1knksRfAoCKqK1O9")
          assert.include(yield* text(page, "#token-expiry"), "UTC")
          // the profile as WeChat gives it today: no gender or region, and a note saying so
          assert.include(yield* text(page, "#profile-note"), "微信不再提供性别和地区")
          assert.strictEqual(yield* step(() => page.locator("#gender-region").count()), 0)
          // the callback answered with a redirect away that lets no Referer carry the code
          const callbackResponse = yield* step(() => callbackRequest.response())
          assert.strictEqual(callbackResponse?.status(), 303)
          assert.strictEqual(callbackResponse?.headers()["referrer-policy"], "no-referrer")
          // the cookies are HttpOnly: the page's scripts cannot read them
          assert.strictEqual(yield* step(() => page.evaluate(() => document.cookie)), "")
          yield* shot(page, "03-profile")

          // the callback URL again (the binding was rotated): the profile, and no second login
          const session = async () =>
            (await page.context().cookies()).find((cookie) => cookie.name === "wxauth_session")?.value
          const before = yield* step(session)
          assert.isDefined(before)
          yield* step(() => page.goto(callbackUrl))
          assert.strictEqual(new URL(page.url()).pathname, "/profile")
          assert.strictEqual(yield* step(() => page.locator("#error").count()), 0)
          assert.strictEqual(yield* text(page, "#nickname"), "张三")
          assert.strictEqual(yield* step(session), before, "the same session")
          yield* shot(page, "04-callback-reloaded")
        })
      ))

    it.effect("a tampered state shows the error page", () =>
      withPage((page) =>
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
          yield* step(() => page.waitForURL((u) => u.pathname === "/error"))
          assert.strictEqual(yield* step(() => page.locator("#error").getAttribute("data-reason")), "state")
          assert.strictEqual(yield* text(page, "#error-title"), "登录请求无效")
          yield* shot(page, "05-tampered-state")
        })
      ))

    it.effect("denied consent shows the error page", () =>
      withPage((page) =>
        Effect.gen(function*() {
          const { url } = yield* WebLoginServer
          yield* step(() => page.goto(url))
          yield* step(() => page.locator("#login-official").click())
          yield* step(() => page.waitForURL((u) => u.pathname === "/connect/oauth2/authorize"))
          yield* decide(page, "alice", "deny")
          yield* step(() => page.waitForURL((u) => u.pathname === "/error"))
          assert.strictEqual(yield* step(() => page.locator("#error").getAttribute("data-reason")), "denied")
          assert.strictEqual(yield* text(page, "#error-title"), "你拒绝了授权")
          yield* shot(page, "06-denied")
        })
      ))

    it.effect("website QR login: the website app's page, then the profile", () =>
      withPage((page) =>
        Effect.gen(function*() {
          const { url } = yield* WebLoginServer
          yield* step(() => page.goto(url))
          yield* step(() => page.locator("#login-website").click())
          yield* step(() => page.waitForURL((u) => u.pathname === "/connect/qrconnect"))
          assert.include(yield* text(page, "#scope"), "snsapi_login")
          yield* shot(page, "07-qr-consent")
          yield* decide(page, "bob", "allow")
          yield* step(() => page.waitForURL((u) => u.pathname === "/profile"))
          assert.strictEqual(yield* text(page, "#nickname"), "李四")
          assert.include(yield* text(page, "#login-method"), "wxsandboxwebsite01")
          yield* shot(page, "08-website-profile")
        })
      ))

    it.effect("mini program: the simulated client's phone-number login shows the openid and the phone number", () =>
      withPage((page) =>
        Effect.gen(function*() {
          const { sandboxUrl, url } = yield* WebLoginServer
          const config = yield* sandboxControl(Option.getOrThrow(sandboxUrl), "GET", "config")
          yield* step(() => page.goto(url))
          yield* step(() => page.locator("#to-mini-program").click())
          yield* step(() => page.waitForURL((u) => u.pathname === "/mini-program"))
          yield* shot(page, "12-mini-program")
          yield* step(() => page.locator("#mini-user-bob").check())
          // the codes WeChat's side gives the page (for the assertion that the page never shows them)
          const codes: Array<string> = []
          page.on("response", (response) => {
            if (new URL(response.url()).pathname.startsWith("/mini-program/wx/")) {
              void response.json().then((body: { code?: string }) => body.code !== undefined && codes.push(body.code))
            }
          })
          const login = page.waitForResponse((r) => new URL(r.url()).pathname === "/api/mini-program/login")
          yield* step(() => page.locator("#phone-login").click())
          assert.strictEqual((yield* step(() => login)).status(), 200)
          yield* step(() => page.locator("#mini-result").waitFor({ state: "visible" }))
          assert.strictEqual(yield* text(page, "#mini-phone"), "13800000002")
          assert.strictEqual(yield* text(page, "#mini-country"), "+86")
          assert.strictEqual(yield* text(page, "#mini-openid"), config.openids[MINI.appId].bob)
          assert.strictEqual(yield* step(() => page.locator("#mini-steps li[data-state=done]").count()), 3)
          assert.strictEqual(codes.length, 2, "wx.login() and the getPhoneNumber button each gave a code")
          const content = yield* step(() => page.content())
          for (const code of codes) assert.notInclude(content, code)
          yield* shot(page, "13-mini-program-logged-in")

          // the same page again: a fresh pair of codes, another login
          yield* step(() => page.locator("#mini-user-alice").check())
          yield* step(() => page.locator("#phone-login").click())
          yield* step(() =>
            page.waitForFunction(() => document.getElementById("mini-phone")?.textContent === "13800000001")
          )
          assert.strictEqual(yield* text(page, "#mini-openid"), config.openids[MINI.appId].alice)
        })
      ))

    it.effect("dev panel: WeChat busy shows the busy page; logging out ends the session", () =>
      withPage((page) =>
        Effect.gen(function*() {
          const { url } = yield* WebLoginServer
          yield* step(() => page.goto(`${url}/login/official`))
          yield* decide(page, "carol", "allow")
          yield* step(() => page.waitForURL((u) => u.pathname === "/profile"))
          assert.strictEqual(yield* text(page, "#nickname"), "王五🐼")

          yield* step(() => page.locator("#dev-userinfo-busy").click())
          yield* step(() => page.waitForURL((u) => u.pathname === "/profile"))
          assert.include(yield* text(page, "#dev-faults"), "userinfo: busy × 3")
          yield* shot(page, "09-dev-panel")

          yield* step(() => page.locator("#refresh").click())
          yield* step(() => page.waitForURL((u) => u.pathname === "/error"))
          assert.strictEqual(yield* step(() => page.locator("#error").getAttribute("data-reason")), "busy")
          assert.strictEqual(yield* text(page, "#error-title"), "微信暂时繁忙")
          yield* shot(page, "10-busy")

          yield* step(() => page.locator("#try-again").click())
          yield* step(() => page.waitForURL((u) => u.pathname === "/profile"))
          assert.strictEqual(yield* text(page, "#nickname"), "王五🐼", "still logged in")
          yield* step(() => page.locator("#logout").click())
          yield* step(() => page.waitForURL((u) => u.pathname === "/"))
          assert.strictEqual(yield* step(() => page.locator("#logged-in").count()), 0)
          yield* step(() => page.goto(`${url}/profile`))
          assert.strictEqual(new URL(page.url()).pathname, "/")
          yield* shot(page, "11-logged-out")
        })
      ))
  })
})
