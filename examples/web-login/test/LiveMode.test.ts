/**
 * Live mode: the app configured by `WECHAT_*` variables as with real credentials, here pointed at a
 * sandbox started separately (as `npx wxauth-sandbox` would be). No website app, no dev panel.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { WeChatHttpClient } from "@wxauth/core"
import { Browser, sandboxControl, userAgents } from "@wxauth/test-support"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Server from "../src/Server.js"
import { WebLoginServer } from "../src/Server.js"
import { configFrom, followToProblem, liveApp, login, MINI, OA, textOf } from "./helpers.js"

/** The warnings logged while the app's services start with these variables. */
const startupWarnings = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const warnings: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => {
      if (logLevel._tag === "Warning") warnings.push(Array.isArray(message) ? message.join(" ") : String(message))
    })
    const config = yield* configFrom({ TOKEN_STORE: "memory", ...env })
    yield* Layer.build(
      Server.loginLayer(config).pipe(
        Layer.provide(Server.storeLayer(config.store)),
        Layer.provide(WeChatHttpClient.layer())
      )
    ).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return warnings
  })

describe("web-login start-up warnings", () => {
  const live = {
    WECHAT_APP_ID: OA.appId,
    WECHAT_APP_SECRET: OA.secret
  }

  it.scoped("live mode without PUBLIC_URL warns that the Host header decides redirect_uri", () =>
    Effect.gen(function*() {
      const warnings = yield* startupWarnings(live)
      const warning = warnings.find((w) => w.includes("PUBLIC_URL"))
      assert.isDefined(warning, warnings.join("\n"))
      assert.include(warning!, "Host")
      assert.include(warning!, "X-Forwarded-Proto")
    }))

  it.scoped("no such warning with PUBLIC_URL, nor in demo mode", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* startupWarnings({ ...live, PUBLIC_URL: "https://login.example.com" }), [])
      assert.isFalse((yield* startupWarnings({ SANDBOX_PORT: "0" })).some((w) => w.includes("PUBLIC_URL")))
    }))
})

describe("web-login in live mode (WECHAT_* variables)", () => {
  layer(
    liveApp((sandboxUrl) => ({
      WECHAT_APP_ID: OA.appId,
      WECHAT_APP_SECRET: OA.secret,
      WECHAT_API_BASE_URL: sandboxUrl,
      WECHAT_OPEN_BASE_URL: sandboxUrl
    })),
    { excludeTestServices: true }
  )((it) => {
    it.effect("logs in with the configured app; no QR login and no dev panel", () =>
      Effect.gen(function*() {
        const server = yield* WebLoginServer
        assert.strictEqual(server.mode, "Live")
        assert.isTrue(Option.isNone(server.sandboxUrl))
        const browser = new Browser(server.url)
        const home = yield* browser.get("/")
        assert.notInclude(home.text, `id="dev-panel"`)
        assert.notInclude(home.text, `id="login-website"`)
        assert.include(home.text, `id="website-disabled"`)
        const unavailable = yield* browser.get("/login/website")
        assert.strictEqual(unavailable.status, 404)
        assert.include(unavailable.text, "此登录方式未启用")
        // a desktop's /login has no QR login to go to: the page that says to open the link in WeChat
        const desktop = yield* new Browser(server.url, { userAgent: userAgents.desktop }).get("/login")
        assert.strictEqual(desktop.status, 200)
        assert.include(desktop.text, "请在微信中打开此链接")
        assert.notInclude(desktop.text, "wxauth-qr-option")
        // a callback never shows a page at its own URL (the code would stay in the address bar)
        const callback = yield* browser.get("/login/website/callback?code=c0de&state=st4te")
        assert.strictEqual(callback.status, 303)
        assert.strictEqual(callback.headers.get("referrer-policy"), "no-referrer")
        const { page, reason } = yield* followToProblem(browser, callback.location)
        assert.strictEqual(reason, "unavailable")
        assert.strictEqual(page.status, 404)
        assert.include(page.text, "此登录方式未启用")
        assert.strictEqual((yield* browser.post("/dev/faults", { preset: "clear" })).status, 404)
        // no mini program configured: no phone-number login, no simulated client
        assert.notInclude(home.text, `id="to-mini-program"`)
        assert.strictEqual((yield* browser.get("/mini-program")).status, 404)
        const api = yield* browser.postJson("/api/wechat/mini-program/mini/login", { code: "a" })
        assert.strictEqual(api.status, 404)
        assert.strictEqual(JSON.parse(api.text).error, "unavailable")

        const { answer } = yield* login(browser)
        assert.strictEqual(answer.status, 303)
        assert.strictEqual(textOf((yield* browser.get("/profile")).text, "nickname"), "张三")
      }))
  })

  layer(
    liveApp((sandboxUrl) => ({
      WECHAT_APP_ID: OA.appId,
      WECHAT_APP_SECRET: OA.secret,
      WECHAT_MINI_APP_ID: MINI.appId,
      WECHAT_MINI_APP_SECRET: MINI.secret,
      WECHAT_API_BASE_URL: sandboxUrl,
      SANDBOX_URL: sandboxUrl
    })),
    { excludeTestServices: true }
  )((it) => {
    it.effect("with WECHAT_MINI_APP_ID the phone-number login works; with SANDBOX_URL, so does the simulated client", () =>
      Effect.gen(function*() {
        const server = yield* WebLoginServer
        const sandboxUrl = Option.getOrThrow(server.sandboxUrl)
        const browser = new Browser(server.url)
        assert.include((yield* browser.get("/")).text, `id="to-mini-program"`)
        assert.include((yield* browser.get("/mini-program")).text, `data-app-id="${MINI.appId}"`)
        const code = (path: string) =>
          Effect.map(browser.postJson(path, { user: "alice" }), (answer) => JSON.parse(answer.text).code as string)
        const login = yield* browser.postJson("/api/wechat/mini-program/mini/login", {
          code: yield* code("/mini-program/wx/login")
        })
        assert.strictEqual(login.status, 200, login.text)
        const config = yield* sandboxControl(sandboxUrl, "GET", "config")
        assert.strictEqual(JSON.parse(login.text).openid, config.openids[MINI.appId].alice)
        const phone = yield* browser.postJson("/api/wechat/mini-program/mini/phone-number", {
          code: yield* code("/mini-program/wx/phone-code")
        }, { authorization: `Bearer ${JSON.parse(login.text).token}` })
        assert.strictEqual(phone.status, 200, phone.text)
        assert.strictEqual(JSON.parse(phone.text).phoneNumber, "13800000001")
      }))
  })

  layer(
    liveApp((sandboxUrl) => ({
      WECHAT_APP_ID: OA.appId,
      WECHAT_APP_SECRET: OA.secret,
      WECHAT_API_BASE_URL: sandboxUrl,
      WECHAT_OPEN_BASE_URL: sandboxUrl
    }), { apps: [{ ...OA, profile: "pre2021" }] }),
    { excludeTestServices: true }
  )((it) => {
    it.effect("a profile with gender and region (as WeChat gave them before 2021-10-20) shows them", () =>
      Effect.gen(function*() {
        const server = yield* WebLoginServer
        const alice = new Browser(server.url)
        yield* login(alice)
        const page = (yield* alice.get("/profile")).text
        assert.strictEqual(textOf(page, "region"), "中国 广东 深圳")
        assert.strictEqual(textOf(page, "gender"), "女 female")
        assert.isUndefined(textOf(page, "profile-note"))
        // carol's sex is 0: her region shows, and no gender (0 is not shown as "unknown")
        const carol = new Browser(server.url)
        yield* login(carol, { user: "carol" })
        const hers = (yield* carol.get("/profile")).text
        assert.strictEqual(textOf(hers, "gender-region"), "中国 上海 浦东新区")
        assert.isUndefined(textOf(hers, "gender"))
      }))
  })

  // WeChat answers a wrong secret on the code exchange with 40125 or 40001 (by client and platform)
  for (const wrongSecretErrcode of [40125, 40001] as const) {
    layer(
      liveApp((sandboxUrl) => ({
        WECHAT_APP_ID: OA.appId,
        WECHAT_APP_SECRET: "not-the-right-secret",
        WECHAT_API_BASE_URL: sandboxUrl,
        WECHAT_OPEN_BASE_URL: sandboxUrl
      }), { apps: [{ ...OA, wrongSecretErrcode }] }),
      { excludeTestServices: true }
    )((it) => {
      it.effect(`a wrong app secret shows the misconfiguration page (WeChat answers ${wrongSecretErrcode})`, () =>
        Effect.gen(function*() {
          const server = yield* WebLoginServer
          const browser = new Browser(server.url)
          const { answer } = yield* login(browser)
          const { page, reason } = yield* followToProblem(browser, answer.location)
          assert.strictEqual(reason, "config")
          assert.strictEqual(page.status, 500)
          assert.include(page.text, "网站配置有误")
          assert.notInclude(page.text, "not-the-right-secret")
        }))
    })
  }
})
