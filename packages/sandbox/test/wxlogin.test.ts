/**
 * The stand-in for WeChat's `wxLogin.js`: the script at WeChat's path, and the QR frame it makes,
 * whose consent answer goes to the whole window unless the frame asked for `self_redirect=true`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"

const web = Sandbox.defaultApps.website

const frameUrl = (selfRedirect: string) =>
  `http://127.0.0.1/connect/qrconnect?appid=${web.appId}&scope=snsapi_login&redirect_uri=${
    encodeURIComponent("https://example.com/login/web/callback")
  }&state=abc&response_type=code&login_type=jssdk&self_redirect=${selfRedirect}&styletype=&sizetype=&bgcolor=&rst=&style=black`

describe("wxLogin.js stand-in", () => {
  it.scoped("the script is served at WeChat's path, as JavaScript, and makes a qrconnect frame of login_type=jssdk", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.make()
      const script = yield* sandbox.handle({
        method: "GET",
        url: "http://127.0.0.1/connect/zh_CN/htmledition/js/wxLogin.js"
      })
      assert.strictEqual(script.status, 200)
      assert.strictEqual(script.headers["content-type"], "application/javascript; charset=utf-8")
      assert.include(script.body, "window.WxLogin = function")
      assert.include(script.body, "\"/connect/qrconnect?appid=\"")
      assert.include(script.body, "&response_type=code&login_type=jssdk&self_redirect=")
    }))

  it.scoped("the frame's consent goes to the whole window, unless self_redirect=true; the frame is counted as qrconnect", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.make()
      const top = yield* sandbox.handle({ method: "GET", url: frameUrl("false") })
      assert.strictEqual(top.status, 200)
      assert.include(top.body, `<form id="consent" target="_top" method="post" action="/connect/qrconnect">`)
      const byDefault = yield* sandbox.handle({ method: "GET", url: frameUrl("default") })
      assert.include(byDefault.body, `target="_top"`)
      const inFrame = yield* sandbox.handle({ method: "GET", url: frameUrl("true") })
      assert.include(inFrame.body, `<form id="consent" method="post"`)
      assert.notInclude(inFrame.body, `target="_top"`)
      // the plain QR page (no login_type) is as it was
      const plain = yield* sandbox.handle({ method: "GET", url: frameUrl("false").replace("&login_type=jssdk", "") })
      assert.notInclude(plain.body, `target="_top"`)
      assert.strictEqual((yield* sandbox.stats).qrconnect, 4)
    }))
})
