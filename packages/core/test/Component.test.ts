/**
 * Component, the third-party platform, against the sandbox's platform: its configuration, the
 * component access token (missing ticket, one request for many callers and for two "processes",
 * refreshed ahead of expiry, WeChat's 61004/61005/61006, invalidated and retried once after
 * 40001/42001), queryAuth and the authorized apps' tokens (api_authorizer_token, 61023, a missing
 * or voided refresh token, 61024 from stable_token for a managed app).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import { AppTokenStore, Component, RefreshLock, TokenStore, WeChatApi, WeChatConfig, WeChatError } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import {
  authorize,
  ComponentLive,
  deliver,
  managedMini,
  managedOfficial,
  manyOfficial,
  platform,
  SandboxLive,
  usage
} from "./componentFixtures.js"

/** Two Options are the same: chai's deepStrictEqual takes any Some for None (it compares them as iterables). */
const assertSameOption = <A>(actual: Option.Option<A>, expected: Option.Option<A>, message?: string) => {
  assert.strictEqual(actual._tag, expected._tag, message)
  assert.deepStrictEqual(Option.getOrUndefined(actual), Option.getOrUndefined(expected), message)
}

const start = 1_700_000_000_000

/** Runs an effect in the background while moving the test clock, so slowed answers arrive. */
const withTime = <A, E, R>(effect: Effect.Effect<A, E, R>, step: Duration.DurationInput = "100 millis") =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < 400 && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* TestClock.adjust(step)
    return yield* Fiber.join(fiber)
  })

const inject = (fault: Sandbox.Fault) => Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.injectFault(fault))

const Live = ComponentLive()

/** At `start`, with a component_verify_ticket delivered: the Component. */
const startWithTicket = Effect.zipRight(
  Effect.zipRight(TestClock.setTime(start), deliver("component_verify_ticket")),
  Component.Component
)

/** At `start`, with a ticket delivered and `appId` authorized (queryAuth done): the Component. */
const startAuthorized = (appId: string) => Effect.tap(startWithTicket, () => authorize(appId))

/** The app token of the authorized app `appId`, through the Component's appToken service. */
const appTokenOf = (appId: string) =>
  Effect.flatMap(Component.Component, (component) => Effect.flatMap(component.appToken(appId), (t) => t.get))

/** Asserts that the authorized app `appId` gets an app token. */
const assertHasAppToken = (appId: string) =>
  Effect.map(appTokenOf(appId), (token) => assert.isTrue(Redacted.value(token).length > 0))

/**
 * Asserts that the withdrawn app `appId`'s tokens are void (AuthorizerRefreshTokenInvalid, without an
 * api_authorizer_token request), and that authorizing it again a second later wins over the void entries.
 */
const voidedUntilAuthorizedAgain = (appId: string) =>
  Effect.gen(function*() {
    const voided = yield* Effect.flip(appTokenOf(appId))
    assert.deepInclude(voided, { _tag: "AuthorizerRefreshTokenInvalid" })
    assert.strictEqual((yield* usage).calls.api_authorizer_token, 0)
    yield* TestClock.adjust("1 second")
    yield* authorize(appId)
    yield* assertHasAppToken(appId)
  })

/** A process of the platform: `Component.make` over `store` and `lock`, with the test platform's config. */
const processOver = (store: AppTokenStore.AppTokenStoreShape, lock: RefreshLock.RefreshLockShape) =>
  Component.make.pipe(
    Effect.provideService(AppTokenStore.AppTokenStore, store),
    Effect.provideService(RefreshLock.RefreshLock, lock),
    Effect.provideService(Component.ComponentConfig, Either.getOrThrow(Component.makeConfigEither(platform)))
  )

describe("Component configuration", () => {
  it("valid options: secrets Redacted, the AES key decoded to 32 bytes, defaults filled in", () => {
    const config = Either.getOrThrow(Component.makeConfigEither(platform))
    assert.strictEqual(config.componentAppId, platform.componentAppId)
    assert.strictEqual(Redacted.value(config.aesKey).length, 32)
    assert.deepStrictEqual(
      Buffer.from(Redacted.value(config.aesKey)),
      Buffer.from(`${platform.encodingAesKey}=`, "base64")
    )
    assert.strictEqual(config.apiBaseUrl, "https://api.weixin.qq.com")
    assert.strictEqual(Duration.toMillis(config.pushMaxAge), 300_000)
    for (const text of [String(config.componentAppSecret), JSON.stringify(config), String(config.token)]) {
      for (const secret of [platform.componentAppSecret, platform.token, platform.encodingAesKey]) {
        assert.notInclude(text, secret)
      }
    }
    const given = Either.getOrThrow(
      Component.makeConfigEither({ ...platform, componentAppSecret: Redacted.make(platform.componentAppSecret) })
    )
    assert.strictEqual(Redacted.value(given.componentAppSecret), platform.componentAppSecret)
  })

  it("a wrong field is a ConfigError naming it", () => {
    const cases: ReadonlyArray<readonly [unknown, string]> = [
      [{ ...platform, encodingAesKey: platform.encodingAesKey.slice(1) }, "encodingAesKey"],
      [{ ...platform, encodingAesKey: `${platform.encodingAesKey}A` }, "encodingAesKey"],
      [{ ...platform, encodingAesKey: `${platform.encodingAesKey.slice(1)}!` }, "encodingAesKey"],
      [{ ...platform, encodingAesKey: `${platform.encodingAesKey}=`.slice(1) }, "encodingAesKey"],
      [{ ...platform, encodingAesKey: undefined }, "encodingAesKey"],
      [{ ...platform, encodingAesKey: 42 }, "encodingAesKey"],
      [{ ...platform, token: "" }, "token"],
      [{ ...platform, token: "with space" }, "token"],
      [{ ...platform, token: ["x"] }, "token"],
      [{ ...platform, componentAppId: undefined }, "componentAppId"],
      [{ ...platform, componentAppId: "wx".padEnd(46, "0") }, "componentAppId"],
      [{ ...platform, componentAppId: "wx comp" }, "componentAppId"],
      [{ ...platform, componentAppSecret: "" }, "componentAppSecret"],
      [{ ...platform, componentAppSecret: 7 }, "componentAppSecret"],
      [{ ...platform, componentAppSecret: `${platform.componentAppSecret}\uD800` }, "componentAppSecret"],
      [{ ...platform, token: `${platform.token}\uDC00` }, "token"],
      [{ ...platform, apiBaseUrl: "https://user:pw@api.example.com" }, "apiBaseUrl"],
      [{ ...platform, timeout: -1 }, "timeout"],
      [{ ...platform, maxResponseBytes: 0 }, "maxResponseBytes"],
      [{ ...platform, pushMaxAge: "0 seconds" }, "pushMaxAge"],
      [{ ...platform, pushMaxAge: "13 hours" }, "pushMaxAge"],
      [{ ...platform, pushMaxAge: Number.NaN }, "pushMaxAge"]
    ]
    for (const [options, field] of cases) {
      const result = Component.makeConfigEither(options as Component.Options)
      assert.isTrue(Either.isLeft(result), field)
      if (Either.isLeft(result)) {
        assert.deepStrictEqual((result.left as { path?: ReadonlyArray<string> }).path, [field], String(result.left))
        assert.notInclude(String(result.left), platform.componentAppSecret)
      }
    }
    for (const junk of [undefined, null, 42, "options", []]) {
      assert.isTrue(Either.isLeft(Component.makeConfigEither(junk as never)), String(junk))
    }
  })

  it.effect("layer and layerConfig validate; a bad field fails the layer with the ConfigError", () =>
    Effect.gen(function*() {
      const bad = yield* Effect.flip(
        Layer.build(Component.layer({ ...platform, encodingAesKey: "short" })).pipe(
          Effect.scoped,
          Effect.provide(Layer.merge(AppTokenStore.layerMemory, SandboxLive()))
        )
      )
      assert.deepInclude(bad, { _op: "InvalidData", path: ["encodingAesKey"] })
      const fromEnv = Component.layerConfig({
        componentAppId: Config.string("COMPONENT_APP_ID"),
        componentAppSecret: Config.redacted("COMPONENT_APP_SECRET"),
        token: Config.redacted("COMPONENT_TOKEN"),
        encodingAesKey: Config.redacted("COMPONENT_AES_KEY")
      })
      const id = yield* Effect.map(Component.Component, (c) => c.componentAppId).pipe(
        Effect.provide(fromEnv),
        Effect.provide(Layer.merge(AppTokenStore.layerMemory, SandboxLive())),
        Effect.withConfigProvider(ConfigProvider.fromMap(
          new Map([
            ["COMPONENT_APP_ID", platform.componentAppId],
            ["COMPONENT_APP_SECRET", platform.componentAppSecret],
            ["COMPONENT_TOKEN", platform.token],
            ["COMPONENT_AES_KEY", platform.encodingAesKey]
          ])
        ))
      )
      assert.strictEqual(id, platform.componentAppId)
    }))
})

describe("the component access token", () => {
  it.effect("without a pushed ticket: ComponentTicketMissing, and no request", () =>
    Effect.gen(function*() {
      const component = yield* Component.Component
      const error = yield* Effect.flip(component.accessToken)
      assert.deepInclude(error, { _tag: "ComponentTicketMissing", componentAppId: platform.componentAppId })
      assert.strictEqual((yield* usage).calls.api_component_token, 0)
    }).pipe(Effect.provide(Live)))

  it.effect("one request for 200 concurrent callers (the answer slowed), stored and reused", () =>
    Effect.gen(function*() {
      const component = yield* startWithTicket
      yield* inject({ kind: "slow", endpoint: "api_component_token", delayMs: 2000, times: 5 })
      const tokens = yield* withTime(
        Effect.all(Array.from({ length: 200 }, () => component.accessToken), { concurrency: "unbounded" })
      )
      assert.strictEqual(new Set(tokens.map(Redacted.value)).size, 1)
      assert.strictEqual((yield* usage).calls.api_component_token, 1)
      yield* TestClock.adjust("1 hour")
      assert.strictEqual(Redacted.value(yield* component.accessToken), Redacted.value(tokens[0]))
      assert.strictEqual((yield* usage).calls.api_component_token, 1)
    }).pipe(Effect.provide(Live)))

  it.effect("refreshed in its last 5 minutes, before WeChat's 2 hours are over", () =>
    Effect.gen(function*() {
      const component = yield* startWithTicket
      const first = yield* component.accessToken
      yield* TestClock.adjust("114 minutes")
      assert.strictEqual(Redacted.value(yield* component.accessToken), Redacted.value(first))
      yield* TestClock.adjust("2 minutes")
      const second = yield* component.accessToken
      assert.notStrictEqual(Redacted.value(second), Redacted.value(first))
      assert.strictEqual((yield* usage).calls.api_component_token, 2)
    }).pipe(Effect.provide(Live)))

  it.scoped("two processes on one store and lock: one request", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const store = yield* AppTokenStore.makeMemory()
      const lock = RefreshLock.makeInProcess()
      const process = processOver(store, lock)
      const [a, b] = [yield* process, yield* process]
      const sandbox = yield* Sandbox.Sandbox
      const push = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket"
      })
      yield* a.acceptPush({ query: push.query, body: push.body })
      yield* inject({ kind: "slow", endpoint: "api_component_token", delayMs: 2000, times: 5 })
      const tokens = yield* withTime(
        Effect.all([
          ...Array.from({ length: 50 }, () => a.accessToken),
          ...Array.from({ length: 50 }, () => b.accessToken)
        ], {
          concurrency: "unbounded"
        })
      )
      assert.strictEqual(new Set(tokens.map(Redacted.value)).size, 1)
      assert.strictEqual((yield* usage).calls.api_component_token, 1)
    }).pipe(Effect.provide(SandboxLive())))

  it.effect("WeChat's 61004 (IP whitelist), 61005 (ticket expired) and 61006 (ticket invalid) are typed", () =>
    Effect.gen(function*() {
      const component = yield* startWithTicket
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.setComponentIpWhitelist({ componentAppId: platform.componentAppId, refuse: true })
      const ip = yield* Effect.flip(component.accessToken)
      assert.deepInclude(ip, { _tag: "ComponentIpNotWhitelisted", errcode: 61004, endpoint: "api_component_token" })
      assert.strictEqual(WeChatError.kindOf(ip), "permanent")
      yield* sandbox.setComponentIpWhitelist({ componentAppId: platform.componentAppId, refuse: false })
      // WeChat's clock runs 13 hours ahead: the stored ticket is over for WeChat
      yield* sandbox.advanceClock("13 hours")
      const expired = yield* Effect.flip(component.accessToken)
      assert.deepInclude(expired, { _tag: "ComponentTicketExpired", errcode: 61005 })
      // a validly signed push whose ticket WeChat never issued (the sandbox's forger with its own nonce)
      const forged = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket",
        forge: { nonce: "4242424242", timestamp: Math.floor(start / 1000) + 60 }
      })
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(
        (yield* component.acceptPush({ query: forged.query, body: forged.body }))._tag,
        "ComponentVerifyTicket"
      )
      const invalid = yield* Effect.flip(component.accessToken)
      assert.deepInclude(invalid, { _tag: "ComponentTicketInvalid", errcode: 61006 })
    }).pipe(Effect.provide(Live)))

  it.effect("40001 / 42001 for the component token: invalidated and the call made once more; a second is the error", () =>
    Effect.gen(function*() {
      const component = yield* startWithTicket
      const sandbox = yield* Sandbox.Sandbox
      const first = yield* component.accessToken
      yield* sandbox.revokeComponentToken({ componentAppId: platform.componentAppId })
      const { event } = yield* deliver("authorized", managedOfficial)
      assert.strictEqual(event._tag, "Authorized")
      if (event._tag !== "Authorized") return
      const granted = yield* component.queryAuth(event.authorizationCode)
      assert.strictEqual(granted.authorizerAppId, managedOfficial)
      const after = yield* usage
      assert.strictEqual(after.calls.api_component_token, 2)
      assert.strictEqual(after.calls.api_query_auth, 2)
      assert.notStrictEqual(Redacted.value(yield* component.accessToken), Redacted.value(first))
      // 42001 once: retried with a new token; twice: the second stands
      const again = yield* deliver("updateauthorized", managedOfficial)
      if (again.event._tag !== "UpdateAuthorized") return assert.fail("UpdateAuthorized")
      yield* inject({ kind: "errcode", errcode: 42001, endpoint: "api_query_auth", times: 1 })
      yield* component.queryAuth(again.event.authorizationCode)
      const third = yield* deliver("updateauthorized", managedOfficial)
      if (third.event._tag !== "UpdateAuthorized") return assert.fail("UpdateAuthorized")
      yield* inject({ kind: "errcode", errcode: 42001, endpoint: "api_query_auth", times: 2 })
      const twice = yield* Effect.flip(component.queryAuth(third.event.authorizationCode))
      assert.deepInclude(twice, { _tag: "AccessTokenExpired", errcode: 42001, endpoint: "api_query_auth" })
      assert.strictEqual((yield* usage).calls.api_component_token, 4)
    }).pipe(Effect.provide(Live)))
})

describe("authorized apps: queryAuth and their app tokens", () => {
  it.effect("queryAuth stores the app's tokens: its app token needs no request until it nears expiry", () =>
    Effect.gen(function*() {
      const component = yield* startWithTicket
      const granted = yield* authorize(managedOfficial)
      assert.strictEqual(granted.authorizerAppId, managedOfficial)
      assert.isTrue(Array.isArray(granted.funcInfo) && granted.funcInfo.every(Number.isInteger))
      const appToken = yield* component.appToken(managedOfficial)
      assert.strictEqual(appToken.appId, managedOfficial)
      const first = yield* appToken.get
      assert.strictEqual((yield* usage).calls.api_authorizer_token, 0)
      // stored under the app's own appid: it IS the app's app token
      const stored = yield* Effect.flatMap(AppTokenStore.AppTokenStore, (store) => store.get(managedOfficial))
      assert.strictEqual(
        Option.map(stored, (t) => Redacted.value(t.accessToken)).pipe(Option.getOrUndefined),
        Redacted.value(first)
      )
      assert.strictEqual(yield* component.appToken(managedOfficial), appToken, "one service per app")
      yield* TestClock.adjust("116 minutes")
      const renewed = yield* appToken.get
      assert.notStrictEqual(Redacted.value(renewed), Redacted.value(first))
      assert.strictEqual((yield* usage).calls.api_authorizer_token, 1)
    }).pipe(Effect.provide(Live)))

  it.effect("100 concurrent callers of an expiring authorizer token: one api_authorizer_token request", () =>
    Effect.gen(function*() {
      const component = yield* startAuthorized(managedMini)
      yield* TestClock.adjust("117 minutes")
      yield* inject({ kind: "slow", endpoint: "api_authorizer_token", delayMs: 2000, times: 5 })
      const tokens = yield* withTime(
        Effect.flatMap(component.appToken(managedMini), (appToken) =>
          Effect.all(
            Array.from({ length: 100 }, () => appToken.get),
            { concurrency: "unbounded" }
          ))
      )
      assert.strictEqual(new Set(tokens.map(Redacted.value)).size, 1)
      assert.strictEqual((yield* usage).calls.api_authorizer_token, 1)
    }).pipe(Effect.provide(Live)))

  it.effect("61023: a revoked authorizer refresh token is AuthorizerRefreshTokenInvalid (reauthorize)", () =>
    Effect.gen(function*() {
      yield* startAuthorized(managedOfficial)
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.revokeAuthorizerRefreshToken({ componentAppId: platform.componentAppId, appId: managedOfficial })
      yield* TestClock.adjust("117 minutes")
      const error = yield* Effect.flip(appTokenOf(managedOfficial))
      assert.deepInclude(error, {
        _tag: "AuthorizerRefreshTokenInvalid",
        errcode: 61023,
        endpoint: "api_authorizer_token"
      })
      assert.isTrue(WeChatError.requiresReauthorization(error))
      assert.strictEqual((yield* usage).calls.api_authorizer_token, 1)
    }).pipe(Effect.provide(Live)))

  it.effect("an app never queried, or unauthorized since: AuthorizerRefreshTokenInvalid without a request", () =>
    Effect.gen(function*() {
      yield* startWithTicket
      const never = yield* Effect.flip(appTokenOf(managedMini))
      assert.deepInclude(never, { _tag: "AuthorizerRefreshTokenInvalid", errcode: 61023 })
      yield* authorize(managedOfficial)
      yield* assertHasAppToken(managedOfficial)
      yield* TestClock.adjust("1 second")
      const { event } = yield* deliver("unauthorized", managedOfficial)
      assert.strictEqual(event._tag, "Unauthorized")
      yield* voidedUntilAuthorizedAgain(managedOfficial)
    }).pipe(Effect.provide(Live)))

  it.effect("a used authorization code is WeChat's error; a wrong appid or code is an InvalidArgument", () =>
    Effect.gen(function*() {
      const component = yield* startWithTicket
      const { event } = yield* deliver("authorized", managedOfficial)
      if (event._tag !== "Authorized") return assert.fail("Authorized")
      yield* component.queryAuth(event.authorizationCode)
      const used = yield* Effect.flip(component.queryAuth(event.authorizationCode))
      assert.deepInclude(used, { errcode: 61009, endpoint: "api_query_auth" })
      for (const appId of ["", "x".repeat(46), "wx bad", 42]) {
        assert.deepInclude(yield* Effect.flip(component.appToken(appId as string)), {
          _tag: "InvalidArgument",
          argument: "appId"
        })
      }
      for (const code of ["", "with space", 42, Redacted.make(42)]) {
        assert.deepInclude(yield* Effect.flip(component.queryAuth(code as string)), {
          _tag: "InvalidArgument",
          argument: "authorizationCode"
        })
      }
    }).pipe(Effect.provide(Live)))

  it.effect("61024: stable_token is refused for an app the platform manages", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const app = sandbox.apps.find((a) => a.appId === managedMini)!
      const api = yield* WeChatApi.make.pipe(
        Effect.provide(WeChatConfig.layer({ appId: app.appId, appSecret: app.secret }))
      )
      const refused = yield* Effect.flip(api.stableToken())
      assert.deepInclude(refused, { _tag: "PlatformManagedApp", errcode: 61024, endpoint: "stable_token" })
      const classic = yield* Effect.flip(api.token())
      assert.deepInclude(classic, { _tag: "PlatformManagedApp", errcode: 61024 })
    }).pipe(Effect.provide(SandboxLive())))
})

describe("after WeChat refuses an authorizer refresh token (61023): void until the app authorizes again", () => {
  const refreshKey = `authorizer-refresh:${managedOfficial}`
  const storedEntry = (key: string) =>
    Effect.flatMap(AppTokenStore.AppTokenStore, (store) => store.get(key)).pipe(
      Effect.map(Option.map((t) => ({ value: Redacted.value(t.accessToken), obtainedAt: t.obtainedAt })))
    )
  const revoke = Effect.flatMap(
    Sandbox.Sandbox,
    (sandbox) =>
      sandbox.revokeAuthorizerRefreshToken({ componentAppId: platform.componentAppId, appId: managedOfficial })
  )
  const authorizerCalls = Effect.map(usage, (u) => u.calls.api_authorizer_token)

  it.effect("a renewal refused with 61023: the next calls fail typed without a request; a queryAuth restores the app", () =>
    Effect.gen(function*() {
      yield* startAuthorized(managedOfficial)
      yield* revoke
      yield* TestClock.adjust("117 minutes")
      const refused = yield* Effect.flip(appTokenOf(managedOfficial))
      assert.deepInclude(refused, {
        _tag: "AuthorizerRefreshTokenInvalid",
        errcode: 61023,
        endpoint: "api_authorizer_token"
      })
      assert.strictEqual(yield* authorizerCalls, 1)
      // before, each later call sent the refused refresh token again and met 61023 again
      for (let i = 0; i < 3; i++) {
        const again = yield* Effect.flip(appTokenOf(managedOfficial))
        assert.deepInclude(again, { _tag: "AuthorizerRefreshTokenInvalid", errcode: 61023 })
        assert.isTrue(WeChatError.requiresReauthorization(again))
      }
      assert.strictEqual(yield* authorizerCalls, 1, "no request after the refusal")
      yield* TestClock.adjust("1 second")
      yield* authorize(managedOfficial)
      yield* assertHasAppToken(managedOfficial)
      // the new refresh token renews the app's token
      yield* TestClock.adjust("117 minutes")
      yield* assertHasAppToken(managedOfficial)
      assert.strictEqual(yield* authorizerCalls, 2)
    }).pipe(Effect.provide(Live)))

  it.effect("61023 after WeChat rejected the app token: the rejected token is not handed out again", () =>
    Effect.gen(function*() {
      const component = yield* startAuthorized(managedOfficial)
      const appToken = yield* component.appToken(managedOfficial)
      const first = yield* appToken.get
      yield* revoke
      const refused = yield* Effect.flip(appToken.invalidate(first))
      assert.deepInclude(refused, { _tag: "AuthorizerRefreshTokenInvalid", errcode: 61023 })
      // before, `get` answered the token WeChat had rejected (its times say it is fresh)
      const again = yield* Effect.either(appToken.get)
      assert.isTrue(Either.isLeft(again), "no token")
      assert.deepInclude(Either.getLeft(again).pipe(Option.getOrThrow), {
        _tag: "AuthorizerRefreshTokenInvalid",
        errcode: 61023
      })
      assert.strictEqual(yield* authorizerCalls, 1)
      yield* authorize(managedOfficial)
      yield* assertHasAppToken(managedOfficial)
    }).pipe(Effect.provide(Live)))

  // the void is stamped just after the refused entry (start + 1: queryAuth stored it at start); a
  // re-authorization after a clock step back behind it, at it, or 10 s later still wins
  for (const [label, at] of [["10 s behind", start - 10_000], ["at", start + 1], ["after", start + 10_000]] as const) {
    it.effect(`a re-authorization with the clock ${label} the void's stamp wins over it`, () =>
      Effect.gen(function*() {
        yield* startAuthorized(managedOfficial)
        yield* revoke
        yield* TestClock.adjust("117 minutes")
        yield* Effect.flip(appTokenOf(managedOfficial))
        yield* TestClock.setTime(at)
        yield* authorize(managedOfficial)
        yield* assertHasAppToken(managedOfficial)
        assert.strictEqual(yield* authorizerCalls, 1)
      }).pipe(Effect.provide(Live)))
  }

  it.effect("only 61023 voids: a busy WeChat, 40001, a 500, a timeout leave the refresh token as it is", () =>
    Effect.gen(function*() {
      yield* startAuthorized(managedOfficial)
      const before = yield* storedEntry(refreshKey)
      assert.isTrue(Option.isSome(before))
      // past the app token's 2 hours: a transient failure cannot fall back to it
      yield* TestClock.adjust("121 minutes")
      const faults: ReadonlyArray<Sandbox.Fault> = [
        { kind: "busy" },
        { kind: "errcode", errcode: 40001 },
        { kind: "errcode", errcode: 61005 },
        { kind: "http500" },
        { kind: "slow", delayMs: 60_000 },
        { kind: "echo", errcode: 61024 }
      ]
      for (const fault of faults) {
        yield* inject({ ...fault, endpoint: "api_authorizer_token", times: 10 })
        const failed = yield* Effect.either(withTime(appTokenOf(managedOfficial), "1 second"))
        assert.isTrue(Either.isLeft(failed), fault.kind)
        assertSameOption(yield* storedEntry(refreshKey), before, `${fault.kind}: the refresh token is kept`)
        yield* Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.clearFaults)
      }
      yield* assertHasAppToken(managedOfficial)
    }).pipe(Effect.provide(Live)))

  it.effect("a re-authorization while the refused request is in flight is not voided: the renewal is made again with it", () =>
    Effect.gen(function*() {
      yield* startAuthorized(managedOfficial)
      yield* revoke
      yield* TestClock.adjust("117 minutes")
      yield* inject({ kind: "slow", endpoint: "api_authorizer_token", delayMs: 2000 })
      const inFlight = yield* Effect.fork(appTokenOf(managedOfficial))
      while ((yield* authorizerCalls) === 0) yield* TestClock.adjust("10 millis")
      // the app authorizes again while WeChat answers the old refresh token
      yield* authorize(managedOfficial)
      const granted = Option.getOrThrow(yield* storedEntry(refreshKey))
      yield* TestClock.adjust("3 seconds")
      assert.isTrue(Redacted.value(yield* Fiber.join(inFlight)).length > 0, "renewed with the new refresh token")
      assert.strictEqual(yield* authorizerCalls, 2)
      assertSameOption(yield* storedEntry(refreshKey), Option.some(granted), "the new refresh token is kept")
      yield* assertHasAppToken(managedOfficial)
      yield* TestClock.adjust("117 minutes")
      yield* assertHasAppToken(managedOfficial)
      assert.strictEqual(yield* authorizerCalls, 3)
    }).pipe(Effect.provide(Live)))

  it.scoped("two processes on one store: a refresh token the other rotated meanwhile is not voided", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const store = yield* AppTokenStore.makeMemory()
      // each process its own lock (a shared lock keeps the other's renewal out until the refusal is handled)
      const process = Effect.suspend(() => processOver(store, RefreshLock.makeInProcess()))
      const [a, b] = [yield* process, yield* process]
      const sandbox = yield* Sandbox.Sandbox
      const ticket = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket"
      })
      yield* a.acceptPush({ query: ticket.query, body: ticket.body })
      const authorized = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "authorized",
        appId: managedOfficial
      })
      const event = yield* a.acceptPush({ query: authorized.query, body: authorized.body })
      if (event._tag !== "Authorized") return assert.fail("Authorized")
      yield* a.queryAuth(event.authorizationCode)
      yield* revoke
      yield* TestClock.adjust("117 minutes")
      // a's request is slowed and refused (61023); b's, sent meanwhile, gets a rotated refresh token
      yield* inject({ kind: "slow", endpoint: "api_authorizer_token", delayMs: 2000 })
      yield* inject({
        kind: "raw",
        endpoint: "api_authorizer_token",
        body:
          "{\"authorizer_access_token\":\"rotated-access\",\"expires_in\":7200,\"authorizer_refresh_token\":\"rotated-refresh\"}"
      })
      const inFlight = yield* Effect.fork(Effect.flatMap(a.appToken(managedOfficial), (t) => t.get))
      while ((yield* authorizerCalls) === 0) yield* TestClock.adjust("10 millis")
      const rotated = yield* Effect.flatMap(b.appToken(managedOfficial), (t) => t.get)
      assert.strictEqual(Redacted.value(rotated), "rotated-access")
      // a, refused, renews again with the rotated refresh token (WeChat knows it; the sandbox does
      // not: answered raw)
      yield* inject({
        kind: "raw",
        endpoint: "api_authorizer_token",
        body: "{\"authorizer_access_token\":\"a-again\",\"expires_in\":7200}"
      })
      yield* TestClock.adjust("3 seconds")
      assert.strictEqual(Redacted.value(yield* Fiber.join(inFlight)), "a-again")
      const value = (key: string) => Effect.map(store.get(key), Option.map((t) => Redacted.value(t.accessToken)))
      assertSameOption(yield* value(refreshKey), Option.some("rotated-refresh"), "not voided")
      assertSameOption(yield* value(managedOfficial), Option.some("a-again"), "not voided")
      assert.strictEqual(yield* authorizerCalls, 3)
    }).pipe(Effect.provide(SandboxLive())))
})

describe("a push or an authorization landing while api_authorizer_token is in flight", () => {
  const refreshKey = `authorizer-refresh:${managedOfficial}`
  const authorizerCalls = Effect.map(usage, (u) => u.calls.api_authorizer_token)
  const value = (key: string) =>
    Effect.flatMap(AppTokenStore.AppTokenStore, (store) => store.get(key)).pipe(
      Effect.map(Option.map((t) => Redacted.value(t.accessToken)))
    )
  /**
   * Component on the sandbox, its first api_authorizer_token answer held (WeChat has answered, the
   * answer is on its way) until `release`: `reached` when it is held; its second one likewise
   * (`reachedAgain`, `releaseAgain`). The second is released at once unless the test holds it.
   */
  const held = Effect.gen(function*() {
    const reached = yield* Deferred.make<void>()
    const release = yield* Deferred.make<void>()
    let first = true
    // the second one, for a second renewal
    const reachedAgain = yield* Deferred.make<void>()
    const releaseAgain = yield* Deferred.make<void>()
    let second = true
    const Held = Layer.effect(
      HttpClient.HttpClient,
      Effect.map(HttpClient.HttpClient, (client) =>
        HttpClient.transform(client, (response, request) => {
          if (!request.url.includes("api_authorizer_token") || !second) return response
          const [isReached, isReleased] = first ? [reached, release] : [reachedAgain, releaseAgain]
          if (first) first = false
          else second = false
          return Effect.tap(response, () =>
            Effect.zipRight(Deferred.succeed(isReached, undefined), Deferred.await(isReleased)))
        }))
    )
    const live = Component.layer(platform).pipe(
      Layer.orDie,
      Layer.provideMerge(Layer.mergeAll(AppTokenStore.layerMemory, TokenStore.layerMemory)),
      Layer.provideMerge(Layer.provideMerge(Held, SandboxLive()))
    )
    return { live, reached, reachedAgain, release, releaseAgain }
  })

  /**
   * A renewal of `managedOfficial`'s token about to be sent over `held`'s Component: the app
   * authorized, 117 minutes on. The second answer is released at once unless `holdSecond`.
   */
  const renewalScenario = <A, E>(
    body: (gates: Effect.Effect.Success<typeof held>) => Effect.Effect<A, E, any>,
    holdSecond = false
  ) =>
    Effect.gen(function*() {
      const gates = yield* held
      if (!holdSecond) yield* Deferred.succeed(gates.releaseAgain, undefined)
      return yield* Effect.gen(function*() {
        yield* startAuthorized(managedOfficial)
        yield* TestClock.adjust("117 minutes")
        return yield* body(gates)
      }).pipe(Effect.provide(gates.live))
    })

  it.effect("a renewal WeChat answered just before the withdrawal, stored after the push's second: the push voids it", () =>
    Effect.gen(function*() {
      yield* renewalScenario(({ reached, release }) =>
        Effect.gen(function*() {
          // WeChat answers the renewal at x.900; the app withdraws at x.950 (CreateTime: second x); the
          // answer arrives at x+1.100 and is stored then; the push is handled at x+1.500
          const at = yield* Clock.currentTimeMillis
          yield* TestClock.adjust(1900 - (at % 1000))
          const inFlight = yield* Effect.fork(appTokenOf(managedOfficial))
          yield* Deferred.await(reached)
          yield* TestClock.adjust("50 millis")
          const sandbox = yield* Sandbox.Sandbox
          const push = yield* sandbox.componentPush({
            componentAppId: platform.componentAppId,
            infoType: "unauthorized",
            appId: managedOfficial
          })
          yield* TestClock.adjust("150 millis")
          yield* Deferred.succeed(release, undefined)
          yield* Fiber.join(inFlight)
          assert.isTrue(Option.isSome(yield* value(managedOfficial)), "the renewal was stored")
          yield* TestClock.adjust("400 millis")
          const event = yield* Effect.flatMap(
            Component.Component,
            (component) => component.acceptPush({ query: push.query, body: push.body })
          )
          assert.strictEqual(event._tag, "Unauthorized")
          // before, the access key's void was stamped inside second x and lost to the renewal stored
          // at x+1.100: the withdrawn app's token was served for up to 2 hours
          assert.isTrue(Option.isNone(yield* value(managedOfficial)), "no access token of the withdrawn app")
          assert.deepInclude(yield* Effect.flip(appTokenOf(managedOfficial)), {
            _tag: "AuthorizerRefreshTokenInvalid",
            errcode: 61023
          })
        })
      )
    }))

  it.effect("an unauthorized push accepted meanwhile: the answer is not stored, the withdrawn app gets no token", () =>
    Effect.gen(function*() {
      yield* renewalScenario(({ reached, release }) =>
        Effect.gen(function*() {
          const inFlight = yield* Effect.fork(Effect.either(appTokenOf(managedOfficial)))
          yield* Deferred.await(reached)
          const { event } = yield* deliver("unauthorized", managedOfficial)
          assert.strictEqual(event._tag, "Unauthorized")
          yield* Deferred.succeed(release, undefined)
          const answered = yield* Fiber.join(inFlight)
          // before, the held answer was stored over the push's void (stamped now, after its CreateTime)
          // and served: the in-flight call, then every call for up to 2 hours
          assert.isTrue(Either.isLeft(answered), "the in-flight call gets no token of the withdrawn app")
          assert.deepInclude(Either.getLeft(answered).pipe(Option.getOrThrow), {
            _tag: "AuthorizerRefreshTokenInvalid",
            errcode: 61023
          })
          assertSameOption(yield* value(managedOfficial), Option.none(), "no access token stored")
          assertSameOption(yield* value(refreshKey), Option.none(), "no refresh token stored")
          const later = yield* Effect.flip(appTokenOf(managedOfficial))
          assert.deepInclude(later, { _tag: "AuthorizerRefreshTokenInvalid", errcode: 61023 })
          assert.strictEqual(yield* authorizerCalls, 1, "no request for the withdrawn app")
          // authorizing again restores it
          yield* TestClock.adjust("1 second")
          yield* authorize(managedOfficial)
          yield* assertHasAppToken(managedOfficial)
        })
      )
    }))

  it.effect("a rotated refresh token in the answer is not written back over the push's void", () =>
    Effect.gen(function*() {
      yield* renewalScenario(({ reached, release }) =>
        Effect.gen(function*() {
          yield* inject({
            kind: "raw",
            endpoint: "api_authorizer_token",
            body:
              "{\"authorizer_access_token\":\"rotated-access\",\"expires_in\":7200,\"authorizer_refresh_token\":\"rotated-refresh\"}"
          })
          const inFlight = yield* Effect.fork(Effect.either(appTokenOf(managedOfficial)))
          yield* Deferred.await(reached)
          yield* deliver("unauthorized", managedOfficial)
          yield* Deferred.succeed(release, undefined)
          assert.isTrue(Either.isLeft(yield* Fiber.join(inFlight)))
          // the rotated refresh token is stored over the void (it cannot be told from another
          // process's 61023 void), not its access token; WeChat refuses it on its next use
          assert.strictEqual(Option.getOrUndefined(yield* value(refreshKey)), "rotated-refresh")
          assert.notStrictEqual(Option.getOrUndefined(yield* value(managedOfficial)), "rotated-access")
          const t = yield* Effect.flatMap(Component.Component, (component) => component.appToken(managedOfficial))
          assert.deepInclude(yield* Effect.flip(t.get), { _tag: "AuthorizerRefreshTokenInvalid", errcode: 61023 })
          assert.strictEqual(yield* authorizerCalls, 2)
          assert.strictEqual(Option.getOrUndefined(yield* value(refreshKey)), "", "voided again")
          assert.deepInclude(yield* Effect.flip(t.get), { _tag: "AuthorizerRefreshTokenInvalid", errcode: 61023 })
          assert.strictEqual(yield* authorizerCalls, 2, "no request after that")
        })
      )
    }))

  it.effect("a re-authorization meanwhile: the renewal is made again with the new refresh token", () =>
    Effect.gen(function*() {
      yield* renewalScenario(({ reached, release }) =>
        Effect.gen(function*() {
          const inFlight = yield* Effect.fork(appTokenOf(managedOfficial))
          yield* Deferred.await(reached)
          yield* authorize(managedOfficial)
          const granted = yield* value(refreshKey)
          yield* Deferred.succeed(release, undefined)
          const token = yield* Fiber.join(inFlight)
          assert.isTrue(Redacted.value(token).length > 0)
          assertSameOption(yield* value(refreshKey), granted, "the new refresh token is kept")
          assert.strictEqual(yield* authorizerCalls, 2, "renewed again with the new refresh token")
          assertSameOption(yield* value(managedOfficial), Option.some(Redacted.value(token)))
        })
      )
    }))

  it.effect("a re-authorization while each of two renewals is in flight: the call fails typed, nothing stored", () =>
    Effect.gen(function*() {
      yield* renewalScenario(({ reached, reachedAgain, release, releaseAgain }) =>
        Effect.gen(function*() {
          const inFlight = yield* Effect.fork(Effect.flip(appTokenOf(managedOfficial)))
          yield* Deferred.await(reached)
          yield* authorize(managedOfficial)
          yield* Deferred.succeed(release, undefined)
          // before, the call ended with the first answer: no second renewal
          yield* Effect.raceFirst(
            Deferred.await(reachedAgain),
            Effect.zipRight(Fiber.await(inFlight), Effect.sync(() => assert.fail("no second renewal")))
          )
          yield* TestClock.adjust("1 second")
          const { event } = yield* deliver("updateauthorized", managedOfficial)
          if (event._tag !== "UpdateAuthorized") return assert.fail("UpdateAuthorized")
          yield* Effect.flatMap(Component.Component, (component) => component.queryAuth(event.authorizationCode))
          const granted = yield* value(refreshKey)
          const access = yield* value(managedOfficial)
          yield* Deferred.succeed(releaseAgain, undefined)
          assert.deepInclude(yield* Fiber.join(inFlight), { _tag: "AuthorizerRefreshTokenInvalid", errcode: 61023 })
          assert.strictEqual(yield* authorizerCalls, 2)
          assertSameOption(yield* value(refreshKey), granted, "the latest refresh token is kept")
          assertSameOption(yield* value(managedOfficial), access, "and its access token")
          yield* assertHasAppToken(managedOfficial)
        }), true)
    }))

  /**
   * Two processes sharing the store, not a lock (each Component's own in-process lock): WeChat
   * rotates the refresh token R1 for the first one's request (held) and refuses R1 to the second
   * one's (61023), whose void lands first. `wechatThen` is what WeChat answers the next renewal.
   */
  const rotationRace = Effect.gen(function*() {
    const { live, reached, release, releaseAgain } = yield* held
    yield* Deferred.succeed(releaseAgain, undefined)
    return <A, E, R>(after: (p1: Component.ComponentShape) => Effect.Effect<A, E, R>) =>
      Effect.gen(function*() {
        yield* startAuthorized(managedOfficial)
        const store = yield* AppTokenStore.AppTokenStore
        const p1 = yield* processOver(store, RefreshLock.makeInProcess())
        const p2 = yield* processOver(store, RefreshLock.makeInProcess())
        yield* TestClock.adjust("117 minutes")
        yield* inject({
          kind: "raw",
          endpoint: "api_authorizer_token",
          body:
            "{\"authorizer_access_token\":\"rotated-access\",\"expires_in\":7200,\"authorizer_refresh_token\":\"rotated-refresh\"}"
        })
        yield* inject({
          kind: "errcode",
          endpoint: "api_authorizer_token",
          errcode: 61023,
          errmsg: "refresh_token is invalid"
        })
        const inFlight = yield* Effect.fork(Effect.either(Effect.flatMap(p1.appToken(managedOfficial), (t) => t.get)))
        yield* Deferred.await(reached)
        const refused = yield* Effect.flip(Effect.flatMap(p2.appToken(managedOfficial), (t) => t.get))
        assert.deepInclude(refused, { _tag: "AuthorizerRefreshTokenInvalid", errcode: 61023 })
        yield* Deferred.succeed(release, undefined)
        const first = yield* Fiber.join(inFlight)
        // this call fails, its access token not stored (WeChat may have refused R1 for a withdrawal)
        assert.isTrue(Either.isLeft(first), "the rotating call serves nothing")
        assert.notStrictEqual(Option.getOrUndefined(yield* value(managedOfficial)), "rotated-access", "no access token")
        // before, the rotated refresh token was dropped (the key void): the app locked out for good
        assert.strictEqual(
          Option.getOrUndefined(yield* value(refreshKey)),
          "rotated-refresh",
          "the rotated one is stored"
        )
        return yield* after(p1)
      }).pipe(Effect.provide(live))
  })

  it.scoped("a rotation race between two processes (61023 to one, a rotated token to the other): the next call renews with the rotated token", () =>
    Effect.gen(function*() {
      const race = yield* rotationRace
      yield* race((p1) =>
        Effect.gen(function*() {
          // WeChat accepts the rotated refresh token (the sandbox knows only its own: answered raw)
          yield* inject({
            kind: "raw",
            endpoint: "api_authorizer_token",
            body: "{\"authorizer_access_token\":\"after-race\",\"expires_in\":7200}"
          })
          const later = yield* Effect.flatMap(p1.appToken(managedOfficial), (t) => t.get)
          assert.strictEqual(Redacted.value(later), "after-race")
          assert.strictEqual(Option.getOrUndefined(yield* value(refreshKey)), "rotated-refresh")
          assert.strictEqual(yield* authorizerCalls, 3)
        })
      )
    }))

  it.scoped("a withdrawal without its push during the same race: the rotated token is refused on its next use, nothing served", () =>
    Effect.gen(function*() {
      const race = yield* rotationRace
      yield* race((p1) =>
        Effect.gen(function*() {
          // WeChat refuses the rotated refresh token (the sandbox does not know it: 61023)
          const t = yield* p1.appToken(managedOfficial)
          assert.deepInclude(yield* Effect.flip(t.get), { _tag: "AuthorizerRefreshTokenInvalid", errcode: 61023 })
          assert.strictEqual(yield* authorizerCalls, 3)
          assert.strictEqual(Option.getOrUndefined(yield* value(refreshKey)), "", "voided")
          assert.deepInclude(yield* Effect.flip(t.get), { _tag: "AuthorizerRefreshTokenInvalid", errcode: 61023 })
          assert.strictEqual(yield* authorizerCalls, 3, "no request after the refusal")
        })
      )
    }))

  it.effect("61023 for the old refresh token while a re-authorization stored a new one: the renewal is made again with it", () =>
    Effect.gen(function*() {
      yield* renewalScenario(({ reached, release }) =>
        Effect.gen(function*() {
          yield* inject({
            kind: "errcode",
            endpoint: "api_authorizer_token",
            errcode: 61023,
            errmsg: "refresh_token is invalid"
          })
          const inFlight = yield* Effect.fork(Effect.either(appTokenOf(managedOfficial)))
          yield* Deferred.await(reached)
          yield* authorize(managedOfficial)
          const granted = yield* value(refreshKey)
          yield* Deferred.succeed(release, undefined)
          const answered = yield* Fiber.join(inFlight)
          // before, the caller got the 61023 of the replaced refresh token
          assert.isTrue(Either.isRight(answered), "renewed with the new refresh token")
          assert.strictEqual(yield* authorizerCalls, 2)
          assertSameOption(yield* value(refreshKey), granted, "the new refresh token is kept")
        })
      )
    }))

  it.effect("an access token renewed earlier in the second of the unauthorized push (CreateTime, whole seconds) is voided too", () =>
    Effect.gen(function*() {
      yield* startAuthorized(managedOfficial)
      yield* TestClock.adjust("117 minutes")
      yield* TestClock.adjust("600 millis")
      const renewed = yield* appTokenOf(managedOfficial)
      assert.strictEqual(yield* authorizerCalls, 1)
      yield* TestClock.adjust("300 millis")
      const { event } = yield* deliver("unauthorized", managedOfficial)
      assert.strictEqual(event._tag, "Unauthorized")
      // before, the void (stamped at CreateTime, the second's start) lost to the token stamped
      // 600 ms into it, and the withdrawn app's token was served for up to 2 hours
      const after = yield* Effect.either(appTokenOf(managedOfficial))
      assert.isTrue(Either.isLeft(after), "no token of the withdrawn app")
      assert.notStrictEqual(Option.getOrUndefined(yield* value(managedOfficial)), Redacted.value(renewed), "voided")
      assert.strictEqual(yield* authorizerCalls, 1, "no request")
    }).pipe(Effect.provide(Live)))

  it.effect("a re-authorization in the same second as the unauthorized push, before it: its refresh token is kept, the app renews", () =>
    Effect.gen(function*() {
      yield* startAuthorized(managedOfficial)
      yield* TestClock.adjust("117 minutes")
      yield* TestClock.adjust("100 millis")
      const push = yield* Effect.flatMap(
        Sandbox.Sandbox,
        (sandbox) =>
          sandbox.componentPush({
            componentAppId: platform.componentAppId,
            infoType: "unauthorized",
            appId: managedOfficial
          })
      )
      yield* TestClock.adjust("400 millis")
      // the app authorized again, and the withdrawal sent before it is delivered late
      yield* authorize(managedOfficial)
      const granted = Option.getOrUndefined(yield* value(refreshKey))
      yield* TestClock.adjust("200 millis")
      yield* Effect.flatMap(
        Component.Component,
        (component) => component.acceptPush({ query: push.query, body: push.body })
      )
      assert.strictEqual(Option.getOrUndefined(yield* value(refreshKey)), granted, "the new refresh token is kept")
      yield* assertHasAppToken(managedOfficial)
    }).pipe(Effect.provide(Live)))
})

describe("when this machine's clock is behind the stored tokens' obtainedAt", () => {
  const appTokens = AppTokenStore.AppTokenStore
  const storedValue = (key: string) =>
    Effect.map(
      Effect.flatMap(appTokens, (store) => store.get(key)),
      Option.map((token) => Redacted.value(token.accessToken))
    )
  /** A push made now (WeChat's clock), delivered after `setTime` has stepped this machine's clock. */
  const pushThenStep = (infoType: Sandbox.ComponentInfoType, to: number, appId?: string) =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const push = yield* sandbox.componentPush({ componentAppId: platform.componentAppId, infoType, appId })
      yield* TestClock.setTime(to)
      return yield* Effect.flatMap(Component.Component, (component) =>
        component.acceptPush({ query: push.query, body: push.body }))
    })

  it.effect("a re-authorization after the clock steps back replaces the revoked refresh token: the app gets its token", () =>
    Effect.gen(function*() {
      yield* startAuthorized(managedOfficial)
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.revokeAuthorizerRefreshToken({ componentAppId: platform.componentAppId, appId: managedOfficial })
      // NTP steps the clock back 10 s; the app authorizes again: a new refresh token
      yield* TestClock.setTime(start - 10_000)
      yield* authorize(managedOfficial)
      const refresh = Option.getOrThrow(
        yield* Effect.flatMap(appTokens, (store) => store.get(`authorizer-refresh:${managedOfficial}`))
      )
      assert.strictEqual(refresh.obtainedAt, start + 1, "just after the revoked one's stamp")
      // before, both tokens of the re-authorization were dropped (stamped behind the stored ones):
      // the next renewal sent the revoked refresh token, 61023 until the app authorized once more
      yield* TestClock.adjust("117 minutes")
      const token = yield* Effect.either(appTokenOf(managedOfficial))
      assert.isTrue(Either.isRight(token), "the app token renews with the new refresh token")
      assert.strictEqual((yield* usage).calls.api_authorizer_token, 1)
    }).pipe(Effect.provide(Live)))

  it.effect("a refresh token WeChat rotates after the clock steps back replaces the stored one", () =>
    Effect.gen(function*() {
      const component = yield* startAuthorized(managedOfficial)
      const appToken = yield* component.appToken(managedOfficial)
      const first = yield* appToken.get
      // the clock steps back 10 s; WeChat rejects the app token, and the renewal's answer hands out
      // a new refresh token too
      yield* TestClock.setTime(start - 10_000)
      yield* inject({
        kind: "raw",
        endpoint: "api_authorizer_token",
        body:
          "{\"authorizer_access_token\":\"rotated-access\",\"expires_in\":7200,\"authorizer_refresh_token\":\"rotated-refresh\"}"
      })
      assert.strictEqual(Redacted.value(yield* appToken.invalidate(first)), "rotated-access")
      // before, stamped at the clock's now (behind the old one) the rotated refresh token was dropped
      assert.deepStrictEqual(
        yield* storedValue(`authorizer-refresh:${managedOfficial}`),
        Option.some("rotated-refresh"),
        "the rotated refresh token is kept"
      )
      assert.strictEqual(Redacted.value(yield* appToken.get), "rotated-access")
    }).pipe(Effect.provide(Live)))

  it.effect("an app withdrawn after this machine's clock stepped back (WeChat's CreateTime later than its tokens): its tokens are voided", () =>
    Effect.gen(function*() {
      yield* startAuthorized(managedOfficial)
      // WeChat sends the withdrawal 5 s later; this machine's clock has stepped back 10 s meanwhile
      yield* TestClock.adjust("5 seconds")
      const event = yield* pushThenStep("unauthorized", start - 5_000, managedOfficial)
      assert.strictEqual(event._tag, "Unauthorized")
      // before, the void entries were stamped at the clock's now, behind the tokens: dropped, and
      // the withdrawn app's token was still handed out
      yield* voidedUntilAuthorizedAgain(managedOfficial)
    }).pipe(Effect.provide(Live)))

  // A withdrawal's void entries, then a clock step back behind them, then a re-authorization within
  // the step: before the void's stamp (the void is read, the new tokens are stamped just after it)
  // and at it (the void is hidden as expired; the new tokens tie with it, and the last write wins).
  for (const [label, offset] of [["10 s before", -10_000], ["1 ms before", -1], ["at"]] as const) {
    it.effect(`a withdrawal, a clock step back, a re-authorization ${label} the void's stamp: the app gets its token`, () =>
      Effect.gen(function*() {
        yield* startAuthorized(managedOfficial)
        yield* TestClock.adjust("1 second")
        yield* deliver("unauthorized", managedOfficial)
        const voided = yield* Effect.flip(appTokenOf(managedOfficial))
        assert.deepInclude(voided, { _tag: "AuthorizerRefreshTokenInvalid" })
        yield* TestClock.adjust("1 minute")
        // the void is stamped at the push's CreateTime, start + 1 s
        yield* TestClock.setTime(start + 1_000 + (offset ?? 0))
        yield* authorize(managedOfficial)
        yield* assertHasAppToken(managedOfficial)
        assert.strictEqual((yield* usage).calls.api_authorizer_token, 0)
      }).pipe(Effect.provide(Live)))
  }

  it.effect("a withdrawal sent before the app's later authorization, delivered late, keeps the authorization (at most a renewal)", () =>
    Effect.gen(function*() {
      const component = yield* startAuthorized(managedOfficial)
      const sandbox = yield* Sandbox.Sandbox
      yield* TestClock.adjust("5 seconds")
      const late = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "unauthorized",
        appId: managedOfficial
      })
      // the app authorizes again 5 s after withdrawing; then the withdrawal's push arrives (a retry)
      yield* TestClock.adjust("5 seconds")
      yield* authorize(managedOfficial)
      yield* component.acceptPush({ query: late.query, body: late.body })
      yield* assertHasAppToken(managedOfficial)
    }).pipe(Effect.provide(Live)))

  it.effect("a ticket WeChat pushes after this machine's clock stepped back replaces the stored one", () =>
    Effect.gen(function*() {
      yield* startWithTicket
      yield* TestClock.adjust("30 seconds")
      // WeChat pushes a new ticket; this machine's clock has stepped back a minute meanwhile
      const event = yield* pushThenStep("component_verify_ticket", start - 30_000)
      if (event._tag !== "ComponentVerifyTicket") return assert.fail("ComponentVerifyTicket")
      // before, stamped at the clock's now (behind the stored ticket) the new ticket was dropped
      assert.deepStrictEqual(
        yield* storedValue(`component-ticket:${platform.componentAppId}`),
        Option.some(Redacted.value(event.ticket))
      )
    }).pipe(Effect.provide(Live)))
})

describe("over core's memory store", () => {
  /** Component on the sandbox over `stores`. */
  const over = (stores: Layer.Layer<AppTokenStore.AppTokenStore>) =>
    Component.layer(platform).pipe(Layer.orDie, Layer.provideMerge(stores), Layer.provideMerge(SandboxLive()))

  it.effect("more authorized apps than its bound: the access tokens are evicted, never the ticket or a refresh token; 2 hours on, the first app's token renews", () =>
    Effect.gen(function*() {
      yield* startWithTicket
      // 50 apps: 100 entries (a refresh and an access token each), with the component token 5 times the bound
      for (const appId of manyOfficial) yield* authorize(appId)
      const store = yield* AppTokenStore.AppTokenStore
      const stored = (key: string) => Effect.map(store.get(key), Option.isSome)
      const ticketKey = `component-ticket:${platform.componentAppId}`
      // the access tokens written first are the ones evicted (the last 20 writes are kept: the
      // component token, read from the store by each queryAuth and fetched again once evicted, and
      // the last apps')
      const accessTokens = yield* Effect.forEach(manyOfficial, stored)
      assert.deepStrictEqual(accessTokens, manyOfficial.map((_, i) => i >= manyOfficial.length - 19))
      assert.isTrue(yield* stored(`component-token:${platform.componentAppId}`))
      // ...never the pushed ticket nor a refresh token (written once, the oldest entries)
      assert.isTrue(yield* stored(ticketKey), "the pushed ticket")
      for (const appId of manyOfficial) assert.isTrue(yield* stored(`authorizer-refresh:${appId}`), appId)
      // the component token expired, fetched again with the stored ticket (no new push); then the
      // first app's token with its refresh token (before: AuthorizerRefreshTokenInvalid, 61023)
      yield* TestClock.adjust("2 hours")
      yield* assertHasAppToken(manyOfficial[0])
      assert.strictEqual((yield* usage).calls.api_authorizer_token, 1)
      assert.isTrue(yield* stored(ticketKey), "the pushed ticket, still")
    }).pipe(
      Effect.provide(over(Layer.effect(AppTokenStore.AppTokenStore, AppTokenStore.makeMemory({ maxEntries: 20 }))))
    ))

  it.scoped("Component logs one warning when built over it: the authorizations last as long as the process", () =>
    Effect.gen(function*() {
      const warnings: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(String(message))
      })
      const build = (stores: Layer.Layer<AppTokenStore.AppTokenStore>) =>
        Layer.build(over(stores)).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      yield* build(AppTokenStore.layerMemory)
      assert.strictEqual(warnings.length, 1)
      assert.include(warnings[0], "refresh tokens")
      assert.include(warnings[0], "restart")
      // a store of the caller's (here over a memory store) is not core's memory store: no warning
      yield* build(
        Layer.effect(
          AppTokenStore.AppTokenStore,
          Effect.map(AppTokenStore.makeMemory(), (memory) => ({ get: memory.get, set: memory.set }))
        )
      )
      assert.strictEqual(warnings.length, 1)
    }))
})
