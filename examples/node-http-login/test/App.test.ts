/**
 * The app over HTTP: the login through `@wxauth/http`'s Web-standard handler behind Node's `http`
 * (the adapter streams bodies both ways), the app's own pages, logout everywhere, an expired
 * session, returnTo, a user whose WeChat authorization ended, and requests a Web `Request` cannot be.
 */
import { assert, describe, it } from "@effect/vitest"
import { Browser, login, rawRequest, sandboxControl, userAgents } from "@wxauth/test-support"
import * as Effect from "effect/Effect"
import { OA, startApp } from "./helpers.js"

describe("node-http-login over HTTP", () => {
  it.scoped("WeChat: the official account; desktop: the website app; the profile from WeChat", () =>
    Effect.gen(function*() {
      const { url } = yield* startApp()
      const wechat = new Browser(url, { userAgent: userAgents.wechat })
      const anonymous = yield* wechat.get("/profile?tab=orders")
      assert.strictEqual(anonymous.status, 303)
      assert.strictEqual(anonymous.location, `${url}/login?returnTo=%2Fprofile%3Ftab%3Dorders`)
      const { answer: back } = yield* login(wechat, { path: "/login?returnTo=%2Fprofile%3Ftab%3Dorders" })
      assert.strictEqual(back.status, 303)
      assert.strictEqual(back.location, `${url}/profile?tab=orders`)
      assert.strictEqual(back.headers.get("referrer-policy"), "no-referrer")
      const profile = yield* wechat.get("/profile?tab=orders")
      assert.strictEqual(profile.status, 200)
      assert.include(profile.text, `<h1 id="nickname">张三</h1>`)
      assert.include(profile.text, `official <code>${OA.appId}</code>`)
      assert.include(profile.headers.get("content-security-policy") ?? "", "default-src 'none'")

      const desktop = new Browser(url, { userAgent: userAgents.desktop })
      const authorize = yield* desktop.get("/login")
      assert.strictEqual(new URL(authorize.location!).pathname, "/connect/qrconnect")
      yield* login(desktop, { user: "bob" })
      assert.include((yield* desktop.get("/profile")).text, `<h1 id="nickname">李四</h1>`)
      assert.strictEqual((yield* desktop.get("/nothing")).status, 404)
    }))

  it.scoped("logout everywhere (a form POST through the adapter) ends the user's other sessions, not others'", () =>
    Effect.gen(function*() {
      const { url } = yield* startApp()
      const phone = new Browser(url)
      const laptop = new Browser(url)
      const other = new Browser(url)
      yield* login(phone, { user: "carol" })
      yield* login(laptop, { user: "carol" })
      yield* login(other, { user: "alice" })
      const cross = yield* phone.post("/logout/everywhere", {}, { origin: "https://evil.example" })
      assert.strictEqual(cross.status, 403)
      const out = yield* phone.post("/logout/everywhere", { x: "1" }, { origin: url })
      assert.strictEqual(out.status, 303)
      assert.strictEqual((yield* laptop.get("/profile")).status, 303, "carol's laptop is logged out too")
      assert.strictEqual((yield* other.get("/profile")).status, 200)
    }))

  it.scoped("a session ends after sessionTtl, whatever the browser keeps", () =>
    Effect.gen(function*() {
      const { url } = yield* startApp({ sessionTtl: "1 second" })
      const wechat = new Browser(url)
      yield* login(wechat)
      assert.strictEqual((yield* wechat.get("/profile")).status, 200)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1100)))
      assert.isDefined(wechat.cookies.get("wxauth_session"), "the browser still has the cookie")
      assert.strictEqual((yield* wechat.get("/profile")).status, 303)
    }))

  it.scoped("WeChat refuses the refresh token (30 days after consent): the profile sends the user to log in again", () =>
    Effect.gen(function*() {
      const { sandboxUrl, url } = yield* startApp()
      const wechat = new Browser(url)
      yield* login(wechat)
      yield* sandboxControl(sandboxUrl, "POST", "clock/advance", { seconds: 31 * 24 * 3600 })
      const profile = yield* wechat.get("/profile")
      assert.strictEqual(profile.status, 303)
      assert.strictEqual(new URL(profile.location!).pathname, "/login")
      assert.include((yield* wechat.get("/")).text, "使用微信登录", "the session ended")
    }))

  it.scoped("a request a Web Request cannot be (TRACE, a target that is no URL, credentials) is answered 4xx; the server stays up", () =>
    Effect.gen(function*() {
      const { url } = yield* startApp()
      const errors: Array<string> = []
      const log = (...args: Array<unknown>) => void errors.push(args.map(String).join(" "))
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          const original = console.error
          console.error = log
          return original
        }),
        (original) => Effect.sync(() => void (console.error = original))
      )
      const { host, port } = new URL(url)
      const answers: Record<string, string> = {}
      for (
        const requestLine of ["TRACE / HTTP/1.1", "GET http://[/ HTTP/1.1", `GET http://u:secret@${host}/ HTTP/1.1`]
      ) {
        const answer = yield* rawRequest(url, requestLine)
        answers[requestLine] = answer.split("\r\n")[0]
        assert.notInclude(answer, "secret", requestLine)
      }
      assert.deepStrictEqual(answers, {
        "TRACE / HTTP/1.1": "HTTP/1.1 501 Not Implemented",
        "GET http://[/ HTTP/1.1": "HTTP/1.1 400 Bad Request",
        [`GET http://u:secret@127.0.0.1:${port}/ HTTP/1.1`]: "HTTP/1.1 400 Bad Request"
      })
      const home = yield* Effect.promise(() => fetch(url + "/"))
      assert.strictEqual(home.status, 200, "the server is still up")
      assert.deepStrictEqual(errors.filter((line) => line.includes("secret")), [], "no credentials in the log")
    }))
})
