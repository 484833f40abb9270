/**
 * Review: `Sandbox.make` with an unknown user id repeated the id in full in its error (a 10 MB id,
 * a 10 MB message, and Cause.pretty as much again). A caller's value quoted in an error is at most
 * its first 64 characters, with its length said, wherever the sandbox quotes one.
 */
import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@wxauth/sandbox"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

const big = "u".repeat(10 * 1024 * 1024)
const PLATFORM = {
  componentAppId: "wxcomponentquote1",
  componentAppSecret: "f1e2d3c4b5a60718293a4b5c6d7e8f90",
  token: "quotetoken",
  encodingAesKey: "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj",
  pushInterval: false
} as const

/** The failure's message: a SandboxError, short, with the value cut and its length said. */
const assertShort = (exit: Exit.Exit<unknown, unknown>, label: string) => {
  assert.isTrue(Exit.isFailure(exit), `${label}: fails`)
  if (Exit.isSuccess(exit)) return
  const error = Cause.squash(exit.cause) as { readonly _tag?: string; readonly message?: string }
  assert.strictEqual(error._tag, "SandboxError", label)
  const message = String(error.message)
  assert.isBelow(message.length, 400, `${label}: ${message.slice(0, 160)}`)
  assert.include(message, `"${"u".repeat(64)}"… (${big.length} characters)`, label)
  assert.notInclude(message, "u".repeat(65), label)
  assert.isBelow(Cause.pretty(exit.cause).length, 2000, `${label}: Cause.pretty`)
}

describe("a caller's value in an error is cut to 64 characters", () => {
  it.effect("Sandbox.make: an unknown user among an app's or an authorizer's users", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, Sandbox.SandboxOptions]> = [
        [
          "an authorizer's users[1]",
          {
            components: [{
              ...PLATFORM,
              authorizers: [{ appId: "wxmanagedquote001", kind: "officialAccount", users: ["alice", big] }]
            }]
          }
        ],
        [
          "an app's users[0]",
          { apps: [{ ...Sandbox.defaultApps.officialAccount, users: [big] }] }
        ]
      ]
      for (const [label, options] of cases) {
        assertShort(yield* Effect.exit(Effect.scoped(Sandbox.make(options))), label)
      }
      // a short unknown id is quoted whole, as before
      const short = yield* Effect.exit(
        Effect.scoped(Sandbox.make({ apps: [{ ...Sandbox.defaultApps.officialAccount, users: ["nobody"] }] }))
      )
      assert.include(String(Exit.isFailure(short) ? Cause.squash(short.cause) : ""), `no user "nobody"`)
    }))

  it.effect("the service's controls: an unknown app, user or platform", () =>
    Effect.scoped(Effect.gen(function*() {
      const sandbox = yield* Sandbox.make({ components: [{ ...PLATFORM, authorizers: [] }] })
      const oa = Sandbox.defaultApps.officialAccount
      const mini = Sandbox.defaultApps.miniProgram
      const user = Sandbox.defaultUsers[0].id
      const redirectUri = "https://example.com/callback"
      const cases: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
        ["approve: app", sandbox.approve({ appId: big, user, scope: "snsapi_base", redirectUri })],
        ["approve: user", sandbox.approve({ appId: oa.appId, user: big, scope: "snsapi_base", redirectUri })],
        [
          "approve: platform",
          sandbox.approve({ appId: oa.appId, user, scope: "snsapi_base", redirectUri, componentAppId: big })
        ],
        ["miniProgramLogin: app", sandbox.miniProgramLogin({ appId: big, user })],
        ["miniProgramLogin: user", sandbox.miniProgramLogin({ appId: mini.appId, user: big })],
        ["revokeAppToken", sandbox.revokeAppToken({ appId: big })],
        ["appTokenUsage", sandbox.appTokenUsage({ appId: big })],
        ["componentTokenUsage", sandbox.componentTokenUsage({ componentAppId: big })]
      ]
      for (const [label, effect] of cases) {
        assertShort(yield* Effect.exit(effect), label)
      }
    })))
})

/**
 * Review: the 404 page copied the whole request path, HTML-escaped: a path of 10,000,000 `<` took
 * ~2 s and answered 30,001,005 characters. A request's value shown in a page or an error (a path,
 * a control's method, the callback page's code and state) is cut the same way: its first 64
 * characters (the callback's state: 128, the longest authorize accepts), then its length.
 */
describe("a request's value in a page or an error is cut", () => {
  const cutAt = (text: string, max = 64) => `${text.slice(0, max)}… (${text.length} characters)`

  it.effect("the 404 page shows the path's first 64 characters and its length", () =>
    Effect.scoped(Effect.gen(function*() {
      const sandbox = yield* Sandbox.make()
      const path = "/" + "<".repeat(1_000_000)
      const response = yield* sandbox.handle({ method: "GET", url: path })
      assert.strictEqual(response.status, 404)
      assert.isBelow(response.body.length, 4096, `404 body: ${response.body.length} characters`)
      // the path as the URL gives it: each `<` percent-encoded
      const pathname = "/" + "%3C".repeat(1_000_000)
      assert.include(response.body, `<code>${cutAt(pathname)}</code>`)
      assert.notInclude(response.body, "%3C".repeat(22))
      // a short path is shown whole, as before
      const short = yield* sandbox.handle({ method: "GET", url: "/nowhere/<here>" })
      assert.strictEqual(short.status, 404)
      assert.include(short.body, "<code>/nowhere/%3Chere%3E</code>")
    })))

  it.effect("a control's 404 and 405, and the callback page's code and state", () =>
    Effect.scoped(Effect.gen(function*() {
      const sandbox = yield* Sandbox.make()
      const command = "c".repeat(1_000_000)
      const unknown = yield* sandbox.handle({ method: "GET", url: `/__sandbox/${command}` })
      assert.strictEqual(unknown.status, 404)
      assert.isBelow(unknown.body.length, 4096, "control 404")
      assert.include(
        (JSON.parse(unknown.body) as { error: string }).error,
        `"${"c".repeat(64)}"… (${command.length} characters)`
      )

      const method = "M".repeat(1_000_000)
      const wrong = yield* sandbox.handle({ method, url: "/__sandbox/clock" })
      assert.strictEqual(wrong.status, 405)
      assert.isBelow(wrong.body.length, 4096, `control 405: ${wrong.body.length} characters`)
      assert.include((JSON.parse(wrong.body) as { error: string }).error, `${cutAt(method)} is not allowed`)
      const get = yield* sandbox.handle({ method: "DELETE", url: "/__sandbox/clock" })
      assert.include(get.body, "DELETE is not allowed on /__sandbox/clock")

      const code = "k".repeat(1_000_000)
      const state = "s".repeat(1_000_000)
      const callback = yield* sandbox.handle({ method: "GET", url: `/__sandbox/callback?code=${code}&state=${state}` })
      assert.strictEqual(callback.status, 200)
      assert.isBelow(callback.body.length, 4096, `callback page: ${callback.body.length} characters`)
      assert.include(callback.body, `<code id="code">${cutAt(code)}</code>`)
      assert.include(callback.body, `<code id="state">${cutAt(state, 128)}</code>`)
      // a state authorize accepts (at most 128 characters) is shown whole
      const whole = yield* sandbox.handle({
        method: "GET",
        url: `/__sandbox/callback?code=abc&state=${"s".repeat(128)}`
      })
      assert.include(whole.body, `<code id="code">abc</code>`)
      assert.include(whole.body, `<code id="state">${"s".repeat(128)}</code>`)
    })))
})
