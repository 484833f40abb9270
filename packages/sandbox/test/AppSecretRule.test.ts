/**
 * Review: the sandbox took any non-empty app secret ("sandbox test secret"), which `@wxauth/core`'s
 * `WeChatConfig` refuses (1 to 128 printable ASCII characters without spaces): the config loaded,
 * and the app under test then failed at startup. The sandbox holds its apps and platforms to the
 * same rule (core's own side: core's SecretBounds test), refusing the config when it is made,
 * without quoting the secret.
 */
import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@wxauth/sandbox"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

const app = (secret: string): Sandbox.SandboxOptions => ({
  apps: [{ appId: "wxsecretrule00001", secret, kind: "officialAccount", name: "rule", bound: false }]
})
const platform = (componentAppSecret: string): Sandbox.SandboxOptions => ({
  components: [{
    componentAppId: "wxcomponentrule01",
    componentAppSecret,
    token: "ruletoken",
    encodingAesKey: "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj",
    pushInterval: false
  }]
})

describe("an app secret the sandbox takes is one core takes", () => {
  it.effect("a secret with spaces, not ASCII, or over 128 characters: refused, unquoted", () =>
    Effect.gen(function*() {
      const secrets = ["sandbox test secret", "密钥0123456789abcdef", "x".repeat(129), "tab\tsecret"]
      for (const secret of secrets) {
        for (const [label, options] of [["app", app(secret)], ["platform", platform(secret)]] as const) {
          const exit = yield* Effect.exit(Effect.scoped(Sandbox.make(options)))
          assert.isTrue(Exit.isFailure(exit), `${label} ${JSON.stringify(secret.slice(0, 20))}: refused`)
          if (Exit.isFailure(exit)) {
            const text = Cause.pretty(exit.cause)
            assert.include(text, "printable ASCII", label)
            assert.notInclude(text, secret, label)
          }
        }
      }
    }))

  it.effect("WeChat's 32 hex characters, and the short secrets tests use: taken, as core takes them", () =>
    Effect.gen(function*() {
      for (const secret of ["0123456789abcdef0123456789abcdef", "s", "S3cr3t-app_secret!~"]) {
        for (const options of [app(secret), platform(secret)]) {
          const exit = yield* Effect.exit(Effect.scoped(Sandbox.make(options)))
          assert.isTrue(Exit.isSuccess(exit), `${secret}: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""}`)
        }
      }
    }))
})
