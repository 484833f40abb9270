import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Browser, login, OA, sandboxControl, TestServer, userAgents } from "./helpers.js"
import { testApp } from "./helpers.js"

describe("WeChatLogin", () => {
  layer(testApp(), { excludeTestServices: true })((it) => {
    it.effect("official account login inside WeChat", () =>
      Effect.gen(function*() {
        const { sandboxUrl, url } = yield* TestServer
        const browser = new Browser(url, { userAgent: userAgents.wechat })
        const { answer } = yield* login(browser)
        assert.strictEqual(answer.status, 303, answer.text)
        const config = yield* sandboxControl(sandboxUrl, "GET", "config")
        const home = yield* browser.get("/")
        assert.strictEqual(home.text, `home: ${config.openids[OA.appId].alice}`)
        const profile = yield* browser.get("/profile")
        assert.strictEqual(profile.text, "nickname: 张三")
      }))
  })
})
