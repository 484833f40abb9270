/**
 * Sessions end by the server's `Clock`: the app and its sandbox WeChat run on the test's `TestClock`.
 * The sessions are `@wxauth/http`'s, in the example's SQLite store; `SESSION_TTL` sets their life.
 */
import { assert, describe, it } from "@effect/vitest"
import { Browser } from "@wxauth/test-support"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import { WebLoginServer } from "../src/Server.js"
import { demoApp, login } from "./helpers.js"

const expiresAfter = (browser: Browser, ttl: Duration.Duration) =>
  Effect.gen(function*() {
    yield* login(browser)
    const cookie = browser.cookies.get("wxauth_session")!
    assert.strictEqual((yield* browser.get("/profile")).status, 200)
    yield* TestClock.adjust(Duration.subtract(ttl, Duration.seconds(1)))
    assert.strictEqual((yield* browser.get("/profile")).status, 200, "still valid a second before")
    yield* TestClock.adjust(Duration.seconds(1))
    const expired = yield* browser.get("/profile")
    assert.strictEqual(expired.status, 303)
    assert.strictEqual(new URL(expired.location!).pathname, "/login", "a new login, to come back to the profile")
    // the browser kept the cookie: it opens nothing
    assert.strictEqual(browser.cookies.get("wxauth_session"), cookie)
    assert.notInclude((yield* browser.get("/")).text, `id="logged-in"`)
  })

describe("web-login sessions end by the server's Clock", () => {
  it.scoped("a session is refused 24 hours after login, whatever the browser keeps", () =>
    Effect.gen(function*() {
      // the app runs on this test's TestClock
      const server = Context.get(yield* Layer.build(demoApp()), WebLoginServer)
      yield* expiresAfter(new Browser(server.url), Duration.hours(24))
    }))

  it.scoped("SESSION_TTL sets a session's life", () =>
    Effect.gen(function*() {
      const server = Context.get(yield* Layer.build(demoApp({ SESSION_TTL: "90 minutes" })), WebLoginServer)
      yield* expiresAfter(new Browser(server.url), Duration.minutes(90))
    }))
})
