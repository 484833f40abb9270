/**
 * Configuration from environment variables: demo mode when no WeChat app is configured, live mode
 * with real credentials, and clear errors for what is missing or wrong.
 */
import { assert, describe, it } from "@effect/vitest"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as AppConfig from "../src/AppConfig.js"
import { configFrom } from "./helpers.js"

const failure = (env: Record<string, string>) =>
  Effect.map(Effect.either(configFrom(env)), (result) => {
    assert.isTrue(Either.isLeft(result), "the configuration is refused")
    return String((result as Either.Left<ConfigError.ConfigError, unknown>).left)
  })

describe("AppConfig", () => {
  it.effect("with nothing set: demo mode on 127.0.0.1:3000, SQLite file under the example's .data/", () =>
    Effect.gen(function*() {
      const config = yield* configFrom({})
      assert.deepStrictEqual(config.mode, { _tag: "Demo", sandboxPort: 0 })
      assert.strictEqual(config.port, 3000)
      assert.strictEqual(config.host, "127.0.0.1")
      assert.deepStrictEqual(config.store, { _tag: "Sqlite", filename: AppConfig.defaultSqliteFile })
      assert.match(AppConfig.defaultSqliteFile, /examples[/\\]web-login[/\\]\.data[/\\]tokens\.sqlite$/)
      assert.isTrue(Option.isNone(config.publicUrl))
      assert.isTrue(Duration.equals(config.sessionTtl, Duration.hours(24)))
    }))

  it.effect("a website app or a mini program without the official account is refused, never ignored for the demo", () =>
    Effect.gen(function*() {
      for (
        const [id, secret] of [["WECHAT_WEBSITE_APP_ID", "WECHAT_WEBSITE_APP_SECRET"], [
          "WECHAT_MINI_APP_ID",
          "WECHAT_MINI_APP_SECRET"
        ]]
      ) {
        const message = yield* failure({ [id]: "wxfedcba0987654321", [secret]: "its-secret" })
        assert.include(message, `${id} is set but WECHAT_APP_ID is not`)
        assert.notInclude(message, "its-secret")
      }
    }))

  it.effect("with WeChat credentials: live mode, the three apps sharing the hosts and the state secret", () =>
    Effect.gen(function*() {
      const config = yield* configFrom({
        WECHAT_APP_ID: "wx1234567890abcdef",
        WECHAT_APP_SECRET: "official-secret",
        WECHAT_WEBSITE_APP_ID: "wxfedcba0987654321",
        WECHAT_WEBSITE_APP_SECRET: "website-secret",
        WECHAT_MINI_APP_ID: "wx0011223344556677",
        WECHAT_MINI_APP_SECRET: "mini-secret",
        WECHAT_API_BASE_URL: "http://127.0.0.1:8800",
        WECHAT_OPEN_BASE_URL: "http://127.0.0.1:8800",
        WECHAT_STATE_SECRET: "a state secret of some length",
        PUBLIC_URL: "https://login.example.com/",
        SESSION_TTL: "7 days",
        TOKEN_STORE: "memory",
        PORT: "8080"
      })
      assert.strictEqual(config.mode._tag, "Live")
      if (config.mode._tag !== "Live") return
      assert.strictEqual(config.mode.officialAccount.appId, "wx1234567890abcdef")
      assert.strictEqual(Redacted.value(config.mode.officialAccount.appSecret as Redacted.Redacted), "official-secret")
      assert.strictEqual(config.mode.officialAccount.apiBaseUrl, "http://127.0.0.1:8800")
      const website = Option.getOrThrow(config.mode.website)
      assert.strictEqual(website.appId, "wxfedcba0987654321")
      assert.strictEqual(website.openBaseUrl, "http://127.0.0.1:8800")
      assert.isDefined(website.stateSecret)
      const mini = Option.getOrThrow(config.mode.miniProgram)
      assert.strictEqual(mini.appId, "wx0011223344556677")
      assert.strictEqual(Redacted.value(mini.appSecret as Redacted.Redacted), "mini-secret")
      assert.strictEqual(mini.apiBaseUrl, "http://127.0.0.1:8800")
      assert.strictEqual(Option.getOrThrow(config.publicUrl), "https://login.example.com")
      assert.deepStrictEqual(config.store, { _tag: "Memory" })
      assert.strictEqual(config.port, 8080)
      assert.isTrue(Duration.equals(config.sessionTtl, Duration.days(7)))
    }))

  it.effect("an app id without its secret is an error naming the variable", () =>
    Effect.gen(function*() {
      assert.include(yield* failure({ WECHAT_APP_ID: "wx1234567890abcdef" }), "WECHAT_APP_SECRET")
      assert.include(
        yield* failure({
          WECHAT_APP_ID: "wx1234567890abcdef",
          WECHAT_APP_SECRET: "s",
          WECHAT_WEBSITE_APP_ID: "wxfedcba0987654321"
        }),
        "WECHAT_WEBSITE_APP_SECRET"
      )
      assert.include(
        yield* failure({ WECHAT_APP_ID: "wx1234567890abcdef", WECHAT_APP_SECRET: "s", WECHAT_MINI_APP_ID: "wx00" }),
        "WECHAT_MINI_APP_SECRET"
      )
    }))

  it.effect("PUBLIC_URL must be an origin, SESSION_TTL a duration, PORT a port, TOKEN_STORE known", () =>
    Effect.gen(function*() {
      assert.include(yield* failure({ PUBLIC_URL: "https://example.com/app" }), "PUBLIC_URL")
      assert.include(yield* failure({ PUBLIC_URL: "ftp://example.com" }), "PUBLIC_URL")
      assert.include(yield* failure({ SESSION_TTL: "a while" }), "SESSION_TTL")
      assert.include(yield* failure({ SESSION_TTL: "0 seconds" }), "SESSION_TTL")
      assert.include(yield* failure({ SESSION_TTL: "500 days" }), "SESSION_TTL")
      assert.include(yield* failure({ PORT: "70000" }), "PORT")
      assert.include(yield* failure({ TOKEN_STORE: "redis" }), "TOKEN_STORE")
    }))
})
