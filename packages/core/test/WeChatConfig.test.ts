import { assert, describe, it } from "@effect/vitest"
import { Component, StateToken, WeChatConfig } from "@wxauth/core"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"

const fromEnv = (env: Record<string, string>) =>
  Effect.flatMap(WeChatConfig.WeChatConfig, Effect.succeed).pipe(
    Effect.provide(
      WeChatConfig.layerFromEnv.pipe(
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))
      )
    )
  )

describe("WeChatConfig", () => {
  it.effect("layerFromEnv reads the app, base URLs and timeout; the secret stays Redacted", () =>
    Effect.gen(function*() {
      const config = yield* fromEnv({
        WECHAT_APP_ID: "wx0123456789abcdef",
        WECHAT_APP_SECRET: "s3cr3t-value",
        WECHAT_API_BASE_URL: "http://127.0.0.1:8800/",
        WECHAT_TIMEOUT: "2 seconds"
      })
      assert.strictEqual(config.appId, "wx0123456789abcdef")
      assert.strictEqual(Redacted.value(config.appSecret), "s3cr3t-value")
      assert.strictEqual(config.apiBaseUrl, "http://127.0.0.1:8800")
      assert.strictEqual(config.openBaseUrl, "https://open.weixin.qq.com")
      assert.strictEqual(Duration.toMillis(config.timeout), 2000)
      assert.notInclude(JSON.stringify(config), "s3cr3t-value")
      assert.notInclude(String(config.appSecret), "s3cr3t-value")
    }))

  it.effect("layerFromEnv reads WECHAT_ACCEPTED_STATE_SECRETS, comma-separated, and names it when one is short", () =>
    Effect.gen(function*() {
      const env = { WECHAT_APP_ID: "wx0123456789abcdef", WECHAT_APP_SECRET: "s3cr3t-value" }
      const config = yield* fromEnv({
        ...env,
        WECHAT_STATE_SECRET: "the state secret of this deploy",
        WECHAT_ACCEPTED_STATE_SECRETS: "the state secret of last deploy,and one of the deploy before"
      })
      assert.strictEqual(config.acceptedStateSecrets?.length, 2)
      assert.notInclude(JSON.stringify(config), "last deploy")
      const none = yield* fromEnv(env)
      assert.strictEqual(none.acceptedStateSecrets?.length, 0)
      const short = yield* Effect.flip(
        fromEnv({ ...env, WECHAT_ACCEPTED_STATE_SECRETS: "long enough to pass here,short" })
      )
      assert.include(String(short), "WECHAT_ACCEPTED_STATE_SECRETS")
      assert.notInclude(String(short), "long enough to pass here")
    }))

  it.effect("a missing or empty appid or secret is a ConfigError naming the variable", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.flip(fromEnv({ WECHAT_APP_SECRET: "x" }))
      assert.include(String(missing), "WECHAT_APP_ID")
      const empty = yield* Effect.flip(fromEnv({ WECHAT_APP_ID: "wxabc", WECHAT_APP_SECRET: "" }))
      assert.include(String(empty), "WECHAT_APP_SECRET")
      const badUrl = yield* Effect.flip(
        fromEnv({ WECHAT_APP_ID: "wxabc", WECHAT_APP_SECRET: "x", WECHAT_API_BASE_URL: "not a url" })
      )
      assert.include(String(badUrl), "WECHAT_API_BASE_URL")
    }))

  it.effect("a missing or empty secret's ConfigError says what is wrong, and never holds the value", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.flip(fromEnv({ WECHAT_APP_ID: "wxabc" }))
      assert.strictEqual(
        String(missing),
        `(Missing data at WECHAT_APP_SECRET: "Expected WECHAT_APP_SECRET to exist in the provided map")`
      )
      const empty = yield* Effect.flip(fromEnv({ WECHAT_APP_ID: "wxabc", WECHAT_APP_SECRET: "" }))
      assert.notInclude(String(empty), "<redacted>")
      assert.include(String(empty), "WECHAT_APP_SECRET")
      const config = yield* fromEnv({
        WECHAT_APP_ID: "wxabc",
        WECHAT_APP_SECRET: "s3cr3t-value",
        WECHAT_STATE_SECRET: "st4te-s3cret-of-16+"
      })
      assert.isTrue(Redacted.isRedacted(config.appSecret))
      assert.notInclude(`${JSON.stringify(config)} ${String(config.appSecret)}`, "s3cr3t-value")
      assert.notInclude(`${JSON.stringify(config)} ${String(config.stateSecret)}`, "st4te-s3cret")
    }))

  it.effect("layerFromEnv: a secret with a lone surrogate is a ConfigError naming its variable, never its value", () =>
    Effect.gen(function*() {
      const env = { WECHAT_APP_ID: "wx0123456789abcdef", WECHAT_APP_SECRET: "s3cr3t-value" }
      const cases: ReadonlyArray<readonly [string, Record<string, string>]> = [
        ["WECHAT_APP_SECRET", { WECHAT_APP_SECRET: "s3cr3t-value\uD800" }],
        ["WECHAT_STATE_SECRET", { WECHAT_STATE_SECRET: "st4te-s3cret-of-16+\uDC00" }],
        ["WECHAT_ACCEPTED_STATE_SECRETS", { WECHAT_ACCEPTED_STATE_SECRETS: "st4te-s3cret-of-16+\uD800" }]
      ]
      for (const [name, given] of cases) {
        const error = yield* Effect.flip(fromEnv({ ...env, ...given }))
        assert.isTrue(ConfigError.isInvalidData(error), name)
        assert.include(String(error), name)
        assert.notInclude(String(error), "s3cr3t")
      }
    }))

  it.effect("layerFromEnv: a secret with a newline or a space around it is a ConfigError naming its variable, never its value", () =>
    Effect.gen(function*() {
      const env = { WECHAT_APP_ID: "wx0123456789abcdef", WECHAT_APP_SECRET: "s3cr3t-value" }
      const cases: ReadonlyArray<readonly [string, Record<string, string>]> = [
        ["WECHAT_APP_SECRET", { WECHAT_APP_SECRET: "s3cr3t-value\n" }],
        ["WECHAT_APP_SECRET", { WECHAT_APP_SECRET: " s3cr3t-value" }],
        ["WECHAT_APP_SECRET", { WECHAT_APP_SECRET: "s3cr3t-value\r\n" }]
      ]
      for (const [name, given] of cases) {
        const error = yield* Effect.flip(fromEnv({ ...env, ...given }))
        assert.isTrue(ConfigError.isInvalidData(error), name)
        assert.include(String(error), name)
        assert.include(String(error), "leading or trailing whitespace")
        assert.notInclude(String(error), "s3cr3t")
      }
      // a state secret is a local key: a newline kept from a secret file is its own, as before
      const stateWithNewline = yield* fromEnv({ ...env, WECHAT_STATE_SECRET: "st4te-s3cret-of-16+\n" })
      assert.strictEqual(stateWithNewline.appId, "wx0123456789abcdef")
      // inside a secret, a space is the secret's own
      const inside = yield* fromEnv({ ...env, WECHAT_STATE_SECRET: "st4te s3cret of 16+" })
      assert.strictEqual(inside.appId, "wx0123456789abcdef")
      // Effect's list reader trims each of WECHAT_ACCEPTED_STATE_SECRETS' items itself
      const listed = yield* fromEnv({ ...env, WECHAT_ACCEPTED_STATE_SECRETS: " st4te-s3cret-of-16+\n" })
      assert.strictEqual(listed.acceptedStateSecrets?.length, 1)
    }))

  it("an app secret given directly with whitespace around it (app, component) is a ConfigError naming the field", () => {
    const base = { appId: "wxabc", appSecret: "b2743a5c9017ce76b965cbbbe0e224ed" }
    const cases: ReadonlyArray<readonly [string, WeChatConfig.Options]> = [
      ["appSecret", { ...base, appSecret: "b2743a5c9017ce76b965cbbbe0e224ed\n" }],
      ["appSecret", { ...base, appSecret: Redacted.make("\tb2743a5c9017ce76b965cbbbe0e224ed") }],
      [
        "appSecret",
        { ...base, appSecret: "b2743a5c9017ce76b965cbbbe0e224ed\n", stateSecret: "st4te-s3cret-of-16+" }
      ]
    ]
    for (const [field, options] of cases) {
      const result = WeChatConfig.makeEither(options)
      assert.isTrue(result._tag === "Left" && ConfigError.isInvalidData(result.left), field)
      const text = String(result._tag === "Left" ? result.left : "")
      assert.include(text, field)
      assert.include(text, "leading or trailing whitespace")
      assert.notInclude(text, "b2743a5c")
      assert.notInclude(text, "s3cret")
    }
    const component = Component.makeConfigEither({
      componentAppId: "wxcomponent0123456",
      componentAppSecret: "b2743a5c9017ce76b965cbbbe0e224ed\n",
      token: "t0ken",
      encodingAesKey: "a".repeat(43)
    })
    const text = String(component._tag === "Left" ? component.left : "accepted")
    assert.include(text, "componentAppSecret")
    assert.include(text, "component secret must not have leading or trailing whitespace")
    assert.notInclude(text, "b2743a5c")
  })

  it("a state secret with a trailing newline (a secret file every process reads) builds, and signs and verifies states", () => {
    const base = { appId: "wxabc", appSecret: "b2743a5c9017ce76b965cbbbe0e224ed" }
    const fromFile = "st4te-s3cret-of-16+\n"
    const signer = WeChatConfig.makeEither({ ...base, stateSecret: Redacted.make(fromFile) })
    const verifier = WeChatConfig.makeEither({ ...base, stateSecret: fromFile })
    assert.isTrue(Either.isRight(signer), String(Either.isLeft(signer) ? signer.left : ""))
    assert.isTrue(Either.isRight(verifier), String(Either.isLeft(verifier) ? verifier.left : ""))
    if (Either.isLeft(signer) || Either.isLeft(verifier)) return
    const now = Date.UTC(2025, 2, 1, 8, 0, 0)
    const state = Either.getOrThrow(StateToken.makeSync(signer.right, now, { returnTo: "/home" }))
    assert.strictEqual(Either.getOrThrow(StateToken.verifySync(verifier.right, now + 1000, state)).returnTo, "/home")
    // the newline is part of the key, as it was: the trimmed secret is another key
    const trimmed = Either.getOrThrow(WeChatConfig.makeEither({ ...base, stateSecret: "st4te-s3cret-of-16+" }))
    assert.isTrue(Either.isLeft(StateToken.verifySync(trimmed, now + 1000, state)))
    // rotated out: an accepted secret with its newline still verifies the states it signed
    const rotated = WeChatConfig.makeEither({
      ...base,
      stateSecret: "a-new-st4te-s3cret-of-16+",
      acceptedStateSecrets: [fromFile, " another-old-s3cret-of-16+ "]
    })
    assert.isTrue(Either.isRight(rotated), String(Either.isLeft(rotated) ? rotated.left : ""))
    if (Either.isLeft(rotated)) return
    assert.strictEqual(Either.getOrThrow(StateToken.verifySync(rotated.right, now + 1000, state)).returnTo, "/home")
  })

  it.effect("a timeout over 24 days (past a Node timer's limit, where every call would fail at once) is a ConfigError", () =>
    Effect.gen(function*() {
      const env = { WECHAT_APP_ID: "wx0123456789abcdef", WECHAT_APP_SECRET: "s3cr3t-value" }
      const error = yield* Effect.flip(fromEnv({ ...env, WECHAT_TIMEOUT: "30 days" }))
      assert.isTrue(ConfigError.isInvalidData(error))
      assert.include(String(error), "WECHAT_TIMEOUT")
      assert.include(String(error), "at most 24 days")
      const longest = yield* fromEnv({ ...env, WECHAT_TIMEOUT: "24 days" })
      assert.strictEqual(Duration.toMillis(longest.timeout), 24 * 86_400_000)
      const given = WeChatConfig.makeEither({ appId: "wxabc", appSecret: "s", timeout: Duration.millis(2 ** 31) })
      assert.include(String(given._tag === "Left" ? given.left : "accepted"), "at most 24 days")
    }))

  it.effect("a stateTtl past maxStateTtl (1 day), or not a positive duration, is a ConfigError when the config is read", () =>
    Effect.gen(function*() {
      const base = { appId: "wx0123456789abcdef", appSecret: "s3cr3t-value" }
      for (
        const stateTtl of [
          "5000 weeks",
          "2 days",
          Duration.millis(86_400_001),
          86_400_001,
          Number.NaN,
          -1,
          "-5 seconds",
          0,
          Number.POSITIVE_INFINITY,
          Duration.infinity
        ]
      ) {
        const given = WeChatConfig.makeEither({ ...base, stateTtl: stateTtl as Duration.DurationInput })
        assert.isTrue(Either.isLeft(given), `${String(stateTtl)} was accepted`)
        if (Either.isLeft(given)) {
          assert.isTrue(ConfigError.isInvalidData(given.left))
          assert.include(String(given.left), "stateTtl")
          assert.include(String(given.left), "at most 1 day")
        }
      }
      // the review's case: the layer no longer builds, instead of every authorizeUrl failing later
      const built = yield* Effect.flip(
        Effect.provide(WeChatConfig.WeChatConfig, WeChatConfig.layer({ ...base, stateTtl: "5000 weeks" }))
      )
      assert.include(String(built), "stateTtl")
      // the longest accepted one signs states that verify, and expire a day later
      const now = Date.UTC(2026, 0, 1)
      const day = Either.getOrThrow(WeChatConfig.makeEither({ ...base, stateTtl: "1 day" }))
      const state = Either.getOrThrow(StateToken.makeSync(day, now))
      assert.strictEqual(Either.getOrThrow(StateToken.verifySync(day, now, state)).expiresAt, now + 86_400_000)
      // one rule: StateToken's own ttl, and a lifetime of a config not made by makeEither, follow it
      for (const ttl of ["1 day", 86_400_000] as const) {
        assert.isTrue(Either.isRight(StateToken.makeSync(day, now, { ttl })))
      }
      for (const ttl of ["5000 weeks", 86_400_001] as const) {
        const made = StateToken.makeSync(day, now, { ttl })
        assert.isTrue(Either.isLeft(made) && made.left.argument === "ttl" && made.left.message.includes("1 day"))
      }
      const handMade = StateToken.makeSync({ ...day, stateTtl: Duration.weeks(5000) }, now)
      assert.isTrue(Either.isLeft(handMade) && handMade.left.argument === "ttl")
      assert.strictEqual(Duration.toMillis(WeChatConfig.maxStateTtl), 86_400_000)
    }))

  it.effect("layer validates its options", () =>
    Effect.gen(function*() {
      const build = (options: WeChatConfig.Options) =>
        Effect.flip(Effect.provide(WeChatConfig.WeChatConfig, WeChatConfig.layer(options)))
      assert.include(String(yield* build({ appId: " ", appSecret: "x" })), "appId")
      assert.include(String(yield* build({ appId: "wxabc", appSecret: Redacted.make("") })), "appSecret")
      assert.include(String(yield* build({ appId: "wxabc", appSecret: "x", timeout: 0 })), "timeout")
      assert.include(String(yield* build({ appId: "wxabc", appSecret: "x", stateSecret: "short" })), "stateSecret")
    }))

  it.effect("the state secret derived from the app secret is stable across processes", () =>
    Effect.gen(function*() {
      const key = (options: WeChatConfig.Options) =>
        Effect.map(Effect.provide(WeChatConfig.WeChatConfig, WeChatConfig.layer(options)), (c) =>
          Buffer.from(Redacted.value(c.stateSecret)).toString("hex"))
      const a = yield* key({ appId: "wxabc", appSecret: "secret-1" })
      assert.strictEqual(a, yield* key({ appId: "wxabc", appSecret: "secret-1" }))
      assert.notStrictEqual(a, yield* key({ appId: "wxabc", appSecret: "secret-2" }))
      assert.notStrictEqual(
        a,
        yield* key({ appId: "wxabc", appSecret: "secret-1", stateSecret: "a-state-secret-of-16+" })
      )
    }))

  it("a JavaScript caller's missing or wrong-typed field is the same ConfigError naming it, never a TypeError", () => {
    const problem = (options: unknown) => {
      const result = WeChatConfig.makeEither(options as WeChatConfig.Options)
      assert.strictEqual(result._tag, "Left", JSON.stringify(options))
      return result._tag === "Left" ? String(result.left) : ""
    }
    assert.include(problem({ appSecret: "s" }), "appId")
    assert.include(problem({ appId: 42, appSecret: "s" }), "appId")
    assert.include(problem({ appId: "wxabc" }), "appSecret")
    assert.include(problem({ appId: "wxabc", appSecret: 42 }), "appSecret")
    assert.include(problem({ appId: "wxabc", appSecret: Redacted.make(42) }), "appSecret")
    assert.include(problem(undefined), "appId")
    assert.include(problem(null), "appId")
    assert.include(problem("wxabc"), "appId")
    assert.include(problem({ appId: "wxabc", appSecret: "s", apiBaseUrl: 42 }), "apiBaseUrl")
    assert.include(problem({ appId: "wxabc", appSecret: "s", stateSecret: 42 }), "stateSecret")
    assert.include(problem({ appId: "wxabc", appSecret: "s", cipherKeys: "k" }), "cipherKeys")
    assert.include(problem({ appId: "wxabc", appSecret: "s", timeout: Infinity }), "timeout")
    assert.include(problem({ appId: "wxabc", appSecret: "s", timeout: Duration.infinity }), "timeout")
    for (const maxResponseBytes of [0, -1, 1.5, Infinity, NaN, "64", 32 * 1024 * 1024]) {
      assert.include(problem({ appId: "wxabc", appSecret: "s", maxResponseBytes }), "maxResponseBytes")
    }
    assert.include(problem({ appId: "x".repeat(10 * 1024 * 1024), appSecret: "s" }), "appId")
  })

  it.effect("layerConfig: a field that is an object holding no Config ({}, a Redacted, a Date) is a ConfigError, not a defect", () =>
    Effect.gen(function*() {
      // Config.unwrap made each a struct of no fields, which threw a TypeError when the layer was built
      for (
        const appId of [
          {},
          Object.create(null),
          Redacted.make("wx1234567890abcdef"),
          new Date(0),
          Promise.resolve("wx")
        ]
      ) {
        const exit = yield* Effect.exit(
          Layer.build(WeChatConfig.layerConfig({
            appId: appId as never,
            appSecret: Config.succeed(Redacted.make("secret"))
          })).pipe(Effect.scoped)
        )
        assert.isTrue(Exit.isFailure(exit) && !Cause.isDie(exit.cause), "a failure, not a defect")
        if (Exit.isFailure(exit)) assert.isTrue(ConfigError.isConfigError(Cause.squash(exit.cause)))
      }
    }))

  it("a base URL with credentials is refused, and the credentials are not in the error", () => {
    for (const apiBaseUrl of ["https://user:hunter2@api.weixin.qq.com", "https://tok3n@api.weixin.qq.com"]) {
      const result = WeChatConfig.makeEither({ appId: "wxabc", appSecret: "s", apiBaseUrl })
      assert.strictEqual(result._tag, "Left")
      if (result._tag === "Left") {
        assert.include(String(result.left), "credentials")
        assert.notInclude(String(result.left), "hunter2")
        assert.notInclude(String(result.left), "tok3n")
      }
    }
    const open = WeChatConfig.makeEither({
      appId: "wxabc",
      appSecret: "s",
      openBaseUrl: "https://u:p@open.weixin.qq.com"
    })
    assert.strictEqual(open._tag, "Left")
  })

  it("a base URL loses every slash it ends with, and keeps those inside its path", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["https://api.example.com", "https://api.example.com"],
      ["https://api.example.com///", "https://api.example.com"],
      ["https://proxy.example.com/wechat//", "https://proxy.example.com/wechat"],
      [`https://proxy.example.com/${"/".repeat(2_000)}x/`, `https://proxy.example.com/${"/".repeat(2_000)}x`]
    ]
    for (const [apiBaseUrl, expected] of cases) {
      const result = WeChatConfig.makeEither({ appId: "wxabc", appSecret: "s", apiBaseUrl })
      assert.strictEqual(result._tag === "Right" ? result.right.apiBaseUrl : String(result.left), expected)
    }
  })

  it("a base URL over 2048 characters (as written, or once percent-encoded) is refused promptly, without the value", () => {
    const origin = "https://proxy.example.com/"
    for (const name of ["apiBaseUrl", "openBaseUrl"] as const) {
      for (
        const value of [
          origin + "a".repeat(10_000_000),
          origin + "a".repeat(2049 - origin.length),
          origin + "é".repeat(1000)
        ]
      ) {
        const start = Date.now()
        const result = WeChatConfig.makeEither({ appId: "wxabc", appSecret: "s", [name]: value })
        assert.isBelow(Date.now() - start, 1000, `${name}: refused promptly`)
        assert.strictEqual(result._tag, "Left", `${name} of ${value.length} characters must be refused`)
        if (result._tag === "Left") {
          const text = String(result.left)
          assert.include(text, name)
          assert.include(text, "2048 characters")
          assert.isBelow(text.length, 500, "the value is not quoted")
        }
      }
      const longest = origin + "a".repeat(2048 - origin.length)
      const accepted = WeChatConfig.makeEither({ appId: "wxabc", appSecret: "s", [name]: longest })
      assert.strictEqual(accepted._tag === "Right" ? accepted.right[name] : String(accepted.left), longest)
    }
  })

  it("maxResponseBytes defaults to 64 KiB", () => {
    const result = WeChatConfig.makeEither({ appId: "wxabc", appSecret: "s" })
    assert.strictEqual(result._tag === "Right" ? result.right.maxResponseBytes : 0, 65_536)
  })
})
