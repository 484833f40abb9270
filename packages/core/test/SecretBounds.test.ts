import { assert, describe, it } from "@effect/vitest"
import { Component, TokenStore, WeChatApps, WeChatConfig } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

// review: WeChatConfig.layer took a 10 MB appSecret or stateSecret (or "not a secret at all, with
// spaces"): the config built, and every request failed later (a 431 for a query too long) instead
// of a ConfigError at startup. Every reader of a config goes through one check.

const appId = "wx1234567890abcdef"
const good = "0123456789abcdef0123456789abcdef"
const huge = "s".repeat(10 * 1024 * 1024)
const spaced = "not a secret at all, with spaces"
const stateSecret = "a state secret of at least sixteen characters"

/** The ConfigError of a failed build (a failure, never a defect); `undefined` when it built. */
const configErrorOf = <E, R>(effect: Effect.Effect<unknown, E, R>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) return undefined
    const failure = Cause.failureOption(exit.cause)
    assert.isTrue(Option.isSome(failure), `a ConfigError, not a defect: ${Cause.pretty(exit.cause).slice(0, 200)}`)
    return Option.getOrThrow(failure) as ConfigError.ConfigError
  })

const build = <A, E>(layer: Layer.Layer<A, E, never>) => configErrorOf(Effect.scoped(Layer.build(layer)))

/** The error is an InvalidData naming `field`, short, and quotes none of the value. */
const assertRefused = (error: ConfigError.ConfigError | undefined, field: string, label: string) => {
  assert.isDefined(error, `${label}: refused`)
  if (error === undefined) return
  assert.isTrue(ConfigError.isInvalidData(error), `${label}: InvalidData (${String(error).slice(0, 200)})`)
  const text = String(error)
  assert.include(text, field, label)
  assert.isBelow(text.length, 400, label)
  assert.notInclude(text, "ssssssss", label)
  assert.notInclude(text, "with spaces", label)
}

describe("secrets have bounds, checked when the config is built", () => {
  it.effect("WeChatConfig.layer: a 10 MB appSecret, stateSecret or accepted state secret, an app secret with spaces", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, string, WeChatConfig.Options]> = [
        ["appSecret 10 MB", "appSecret", { appId, appSecret: huge }],
        ["appSecret Redacted 10 MB", "appSecret", { appId, appSecret: Redacted.make(huge) }],
        ["appSecret with spaces", "appSecret", { appId, appSecret: spaced }],
        ["appSecret of 129", "appSecret", { appId, appSecret: "a".repeat(129) }],
        ["appSecret with a control character", "appSecret", { appId, appSecret: `${good}\u0000x` }],
        ["appSecret not ASCII", "appSecret", { appId, appSecret: "密钥0123456789abcdef" }],
        ["stateSecret 10 MB", "stateSecret", { appId, appSecret: good, stateSecret: huge }],
        ["stateSecret of 65,537", "stateSecret", { appId, appSecret: good, stateSecret: "s".repeat(65_537) }],
        ["acceptedStateSecrets 10 MB", "acceptedStateSecrets", { appId, appSecret: good, acceptedStateSecrets: [huge] }]
      ]
      for (const [label, field, options] of cases) {
        const started = Date.now()
        assertRefused(yield* build(WeChatConfig.layer(options)), field, label)
        assert.isBelow(Date.now() - started, 1000, `${label}: at once`)
      }
      // the bounds themselves are accepted, and what the tests and the sandbox use
      for (
        const options of [
          { appId, appSecret: good },
          { appId, appSecret: "~".repeat(128) },
          { appId, appSecret: "s" },
          { appId, appSecret: "S3cr3t-app-secret_value" },
          { appId, appSecret: good, stateSecret: "s".repeat(65_536), acceptedStateSecrets: ["a".repeat(65_536)] },
          // `openssl rand -hex 1024`
          { appId, appSecret: good, stateSecret: "0123456789abcdef".repeat(128) },
          { appId, appSecret: good, stateSecret: "a state secret: spaces and a newline are its own\n" }
        ] satisfies ReadonlyArray<WeChatConfig.Options>
      ) {
        assert.isTrue(Either.isRight(WeChatConfig.makeEither(options)), JSON.stringify(options).slice(0, 80))
      }
    }))

  it.effect("layerConfig and layerFromEnv: the same rule, naming the field or the variable", () =>
    Effect.gen(function*() {
      assertRefused(
        yield* build(WeChatConfig.layerConfig({ appId: Config.succeed(appId), appSecret: Config.succeed(huge) })),
        "appSecret",
        "layerConfig appSecret"
      )
      assertRefused(
        yield* build(
          WeChatConfig.layerConfig({
            appId: Config.succeed(appId),
            appSecret: Config.succeed(good),
            stateSecret: Config.succeed(Redacted.make(huge))
          })
        ),
        "stateSecret",
        "layerConfig stateSecret"
      )
      const fromEnv = (env: Record<string, string>) =>
        WeChatConfig.layerFromEnv.pipe(
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))
        )
      assertRefused(
        yield* build(fromEnv({ WECHAT_APP_ID: appId, WECHAT_APP_SECRET: spaced })),
        "WECHAT_APP_SECRET",
        "layerFromEnv"
      )
      assertRefused(
        yield* build(fromEnv({ WECHAT_APP_ID: appId, WECHAT_APP_SECRET: good, WECHAT_STATE_SECRET: huge })),
        "WECHAT_STATE_SECRET",
        "layerFromEnv state"
      )
    }))

  it.effect("WeChatApps.layer (an app's secret, the registry's state secrets) and a Component's config", () =>
    Effect.gen(function*() {
      const registry = (apps: unknown, options: unknown) =>
        WeChatApps.layer(apps as WeChatApps.ListOptions, options as WeChatApps.RegistryOptions).pipe(
          Layer.provide(TokenStore.layerMemory),
          Layer.provide(Sandbox.layerHttpClient),
          Layer.provide(Sandbox.layer())
        )
      assertRefused(
        yield* build(registry({ apps: [{ appId, appSecret: huge }] }, { stateSecret })),
        "apps.0.appSecret",
        "WeChatApps app"
      )
      assertRefused(
        yield* build(registry({ apps: [{ appId, appSecret: spaced }] }, { stateSecret })),
        "apps.0.appSecret",
        "WeChatApps app with spaces"
      )
      assertRefused(
        yield* build(registry({ apps: [{ appId, appSecret: good }] }, { stateSecret: huge })),
        "stateSecret",
        "WeChatApps stateSecret"
      )
      assertRefused(
        yield* build(
          registry({ apps: [{ appId, appSecret: good }] }, { stateSecret, acceptedStateSecrets: [stateSecret, huge] })
        ),
        "acceptedStateSecrets",
        "WeChatApps acceptedStateSecrets"
      )
      const component = Component.makeConfigEither({
        componentAppId: "wxcomponent0123456",
        componentAppSecret: huge,
        token: "t0ken",
        encodingAesKey: "a".repeat(43)
      })
      assertRefused(Either.isLeft(component) ? component.left : undefined, "componentAppSecret", "Component")
      assert.include(String(Either.isLeft(component) ? component.left : ""), "component secret")
    }))
})
