/**
 * Every argument of a public function is untrusted (JavaScript callers): options of the wrong type
 * or shape end in a `ConfigError` naming the field, a value that is not a user in `InvalidArgument`,
 * never a defect.
 */
import { assert, describe, it } from "@effect/vitest"
import { WeChatLogin } from "@wxauth/http"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

const app = { kind: "website", appId: "wx2222222222222222", appSecret: "secret" }

/** The error a layer fails with when built: a ConfigError (never a defect), and its message. */
const buildError = (options: unknown) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Layer.build(WeChatLogin.layer(options as any)))
    assert.isTrue(Exit.isFailure(exit), `${JSON.stringify(options)} must fail`)
    if (Exit.isSuccess(exit)) return ""
    const failure = Cause.failureOption(exit.cause)
    assert.isTrue(Option.isSome(failure), `a failure, not a defect: ${Cause.pretty(exit.cause)}`)
    const error = Option.getOrThrow(failure)
    assert.isTrue(ConfigError.isConfigError(error), `a ConfigError: ${String(error)}`)
    return String(error)
  })

describe("WeChatLogin: hostile options", () => {
  const cases: ReadonlyArray<readonly [string, unknown, string]> = [
    ["no options", undefined, "options must be an object"],
    ["a string", "apps", "options must be an object"],
    ["no apps", {}, "apps"],
    ["apps an array", { apps: [app] }, "apps"],
    ["an empty apps", { apps: {} }, "apps"],
    ["a bad key", { apps: { "a b": app } }, "apps.a b"],
    ["a key too long", { apps: { ["k".repeat(33)]: app } }, "apps"],
    ["an app that is null", { apps: { web: null } }, "apps.web"],
    ["an unknown kind", { apps: { web: { ...app, kind: "site" } } }, "apps.web.kind"],
    ["an appId that is a number", { apps: { web: { ...app, appId: 42 } } }, "apps.web.appId"],
    ["no secret", { apps: { web: { ...app, appSecret: undefined } } }, "apps.web.appSecret"],
    ["a base URL with credentials", { apps: { web: { ...app, apiBaseUrl: "https://u:p@x.example" } } }, "apiBaseUrl"],
    ["two apps with one appId", { apps: { a: app, b: app } }, "apps.b.appId"],
    ["a bad scope", { apps: { o: { ...app, kind: "officialAccount", scope: "snsapi_login" } } }, "apps.o.scope"],
    ["qrCode not an object", { apps: { web: { ...app, qrCode: "yes" } } }, "apps.web.qrCode"],
    [
      "a script URL that is not http",
      { apps: { web: { ...app, qrCode: { scriptUrl: "javascript:alert(1)" } } } },
      "scriptUrl"
    ],
    ["a bad style", { apps: { web: { ...app, qrCode: { style: "red" } } } }, "style"],
    ["embedded not a boolean", { apps: { web: { ...app, qrCode: { embedded: "true" } } } }, "embedded"],
    ["phoneNumber not a boolean", { apps: { m: { ...app, kind: "miniProgram", phoneNumber: 1 } } }, "phoneNumber"],
    ["a publicUrl with a path", { apps: { web: app }, publicUrl: "https://example.com/app" }, "publicUrl"],
    ["a publicUrl that is not a URL", { apps: { web: app }, publicUrl: "example.com" }, "publicUrl"],
    ["a publicUrl of another scheme", { apps: { web: app }, publicUrl: "ftp://example.com" }, "publicUrl"],
    ["a pathPrefix with a slash at the end", { apps: { web: app }, pathPrefix: "/auth/" }, "pathPrefix"],
    ["a pathPrefix with ..", { apps: { web: app }, pathPrefix: "/../x" }, "pathPrefix"],
    ["a home on another site", { apps: { web: app }, home: "//evil.example/" }, "home"],
    ["a home that is a number", { apps: { web: app }, home: 1 }, "home"],
    ["a sessionTtl of 0", { apps: { web: app }, sessionTtl: 0 }, "sessionTtl"],
    ["a sessionTtl of Infinity", { apps: { web: app }, sessionTtl: Infinity }, "sessionTtl"],
    ["a sessionTtl of a decade", { apps: { web: app }, sessionTtl: "3650 days" }, "sessionTtl"],
    [
      "a miniProgramSessionTtl that is text",
      { apps: { web: app }, miniProgramSessionTtl: "soon" },
      "miniProgramSessionTtl"
    ],
    ["a maxSessionsPerUser of 0", { apps: { web: app }, maxSessionsPerUser: 0 }, "maxSessionsPerUser"],
    ["a maxSessionsPerUser of 1.5", { apps: { web: app }, maxSessionsPerUser: 1.5 }, "maxSessionsPerUser"],
    ["a maxSessionsPerUser that is text", { apps: { web: app }, maxSessionsPerUser: "100" }, "maxSessionsPerUser"],
    ["hooks that are a function", { apps: { web: app }, hooks: () => 1 }, "hooks"],
    ["an unknown hook", { apps: { web: app }, hooks: { onSignOut: () => Effect.void } }, "hooks.onSignOut"],
    ["an onLogout that is not a function", { apps: { web: app }, hooks: { onLogout: 42 } }, "hooks.onLogout"],
    ["a hook that is not a function", { apps: { web: app }, hooks: { onLogin: "x" } }, "hooks.onLogin"],
    [
      "onFirstLogin without findUser",
      { apps: { web: app }, hooks: { onFirstLogin: () => Effect.succeed("1") } },
      "findUser"
    ],
    ["pages that are a function", { apps: { web: app }, pages: () => "<html></html>" }, "pages"],
    ["pages that are a string", { apps: { web: app }, pages: "<html></html>" }, "pages"],
    ["pages that are null", { apps: { web: app }, pages: null }, "pages"],
    ["an unknown page", { apps: { web: app }, pages: { qr: () => "" } }, "pages.qr"],
    [
      "a problem page that is markup, not a function",
      { apps: { web: app }, pages: { problem: "<h1>" } },
      "pages.problem"
    ],
    [
      "an openInWeChat page that is an object",
      { apps: { web: app }, pages: { openInWeChat: {} } },
      "pages.openInWeChat"
    ],
    ["a registry without kindOf", { registry: {} }, "registry.kindOf"],
    ["a registry without WeChatApps in context", { registry: { kindOf: () => Effect.void } }, "WeChatApps"]
  ]
  for (const [name, options, mentions] of cases) {
    it.scoped(`${name}: a ConfigError naming ${mentions}`, () =>
      Effect.gen(function*() {
        const message = yield* buildError(options)
        assert.include(message, mentions)
        assert.notInclude(message, "secret\"", "no secret in the error")
      }))
  }
})

describe("WeChatLogin: hostile arguments of the service", () => {
  it.scoped("a value that is not a user: InvalidArgument from every method, never a defect", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(WeChatLogin.layer({ apps: { web: app as WeChatLogin.AppOptions } }))
      const login = yield* Effect.provide(WeChatLogin.WeChatLogin, context)
      for (const user of [undefined, null, 42, "user", {}, { appId: "wx", openid: "o", sessionId: "x" }]) {
        for (
          const run of [
            login.getUser(user as any),
            login.getToken(user as any),
            login.logout(user as any),
            login.logoutEverywhere(user as any)
          ]
        ) {
          const exit = yield* Effect.exit(run as Effect.Effect<unknown, { readonly _tag: string }>)
          assert.isTrue(Exit.isFailure(exit))
          if (Exit.isFailure(exit)) {
            const failure = Cause.failureOption(exit.cause)
            assert.isTrue(Option.isSome(failure), Cause.pretty(exit.cause))
            assert.strictEqual(Option.getOrThrow(failure)._tag, "InvalidArgument")
          }
        }
      }
    }))

  it("escapeHtml: the five characters escaped; a number as digits; anything else a TypeError, never raw text", () => {
    assert.strictEqual(
      WeChatLogin.escapeHtml(`<a href="x" title='y'>&</a>`),
      "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
    )
    assert.strictEqual(WeChatLogin.escapeHtml(404), "404")
    const sneaky = { toString: () => "<script>alert(1)</script>" }
    for (const value of [undefined, null, sneaky, ["<b>"], Symbol("x"), () => "<b>"]) {
      assert.throws(() => WeChatLogin.escapeHtml(value as any), TypeError)
    }
  })

  it("toWebHandler with a layer that is not a layer: handler answers 500, nothing throws", async () => {
    const web = WeChatLogin.toWebHandler(42 as any)
    const response = await web.handler(new Request("http://app.test/login"))
    assert.strictEqual(response.status, 500)
    await web.dispose().catch(() => undefined)
  })
})
