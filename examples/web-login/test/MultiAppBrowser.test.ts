/**
 * The multi-app page in Debian's Chromium (`/usr/bin/chromium`, driven by `playwright-core`): a
 * person inside WeChat (a WeChat user agent) logs in to one official account of the platform, then
 * to the other, through `@wxauth/http`'s registry mode and the sandbox's consent pages, and logs
 * out; a desktop browser is asked to open the account's login in WeChat. Screenshots go to
 * `test-results/screenshots/`.
 *
 * Without `/usr/bin/chromium` the test is skipped with a warning; with `CI=true` it fails.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { sandboxControl, userAgents } from "@wxauth/test-support"
import * as Chromium from "@wxauth/test-support/Chromium"
import {
  executablePath,
  hasChromium,
  inCi,
  screenshotsDir,
  shotsIn,
  step,
  text,
  warnIfSkipped,
  withPage
} from "@wxauth/test-support/Chromium"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Fs from "node:fs"
import * as MultiApp from "../src/MultiApp.js"
import { WebLoginServer } from "../src/Server.js"
import { demoApp } from "./helpers.js"

warnIfSkipped("the multi-app browser test")

const screenshots = screenshotsDir(import.meta.url)
const shot = shotsIn(screenshots)

const [shop, club] = MultiApp.demoAccounts

describe.skipIf(!hasChromium && !inCi)("web-login's multi-app page in Chromium", () => {
  if (!hasChromium) {
    it("has Debian's Chromium", () => {
      assert.fail(`${executablePath} is missing: install Debian's chromium (apt-get install chromium)`)
    })
    return
  }

  Fs.mkdirSync(screenshots, { recursive: true })

  layer(Layer.merge(demoApp(), Chromium.layer), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("inside WeChat, two official accounts of one platform: log in to each through the consent page, then log out", () =>
      withPage(userAgents.wechat, (page) =>
        Effect.gen(function*() {
          const { sandboxUrl, url } = yield* WebLoginServer
          const openids = (yield* sandboxControl(Option.getOrThrow(sandboxUrl), "GET", "config")).openids as Record<
            string,
            Record<string, string>
          >
          yield* step(() => page.goto(`${url}/multi-app`))
          assert.strictEqual(yield* text(page, "#multi-app-platform"), MultiApp.demoPlatform.componentAppId)
          yield* shot(page, "multi-app-01-page")
          for (const [account, user, nickname] of [[shop, "alice", "张三"], [club, "bob", "李四"]] as const) {
            yield* step(() => page.locator(`#multi-app-login-${account.appId}`).click())
            yield* step(() => page.waitForURL((u) => u.pathname === "/connect/oauth2/authorize"))
            const consent = new URL(page.url())
            assert.strictEqual(consent.searchParams.get("appid"), account.appId)
            assert.strictEqual(consent.searchParams.get("component_appid"), MultiApp.demoPlatform.componentAppId)
            yield* shot(page, `multi-app-02-consent-${user}`)
            const callback = page.waitForRequest((request) =>
              new URL(request.url()).pathname === `/login/${account.appId}/callback`
            )
            yield* step(() => page.locator(`#user-${user}`).check())
            yield* step(() => page.locator("#allow").click())
            const response = yield* step(async () => (await callback).response())
            assert.strictEqual(response?.status(), 303)
            assert.strictEqual(response?.headers()["referrer-policy"], "no-referrer")
            yield* step(() => page.waitForURL((u) => u.pathname === "/multi-app"))
            assert.strictEqual(yield* text(page, "#multi-app-account"), account.name)
            assert.strictEqual(yield* text(page, "#multi-app-nickname"), nickname)
            assert.strictEqual(yield* text(page, "#multi-app-openid"), openids[account.appId][user])
            yield* shot(page, `multi-app-03-logged-in-${user}`)
          }
          // the cookies are HttpOnly
          assert.strictEqual(yield* step(() => page.evaluate(() => document.cookie)), "")
          yield* step(() => page.locator("#multi-app-logout").click())
          yield* step(() => page.waitForURL((u) => u.pathname === "/"))
          yield* step(() => page.goto(`${url}/multi-app`))
          assert.strictEqual(yield* step(() => page.locator("#multi-app-logged-in").count()), 0)
        })))

    it.effect("on a desktop, an account's login asks to open the link in WeChat", () =>
      withPage(userAgents.desktop, (page) =>
        Effect.gen(function*() {
          const { url } = yield* WebLoginServer
          yield* step(() => page.goto(`${url}/multi-app`))
          yield* step(() => page.locator(`#multi-app-login-${shop.appId}`).click())
          yield* step(() => page.locator("#wxauth-open-in-wechat").waitFor())
          assert.strictEqual(
            yield* step(() => page.locator("#wxauth-link").inputValue()),
            `${url}/login/${shop.appId}?returnTo=%2Fmulti-app`
          )
          yield* shot(page, "multi-app-04-desktop")
        })))
  })
})
