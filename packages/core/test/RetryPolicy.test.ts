import { assert, describe, it } from "@effect/vitest"
import { RetryPolicy, WeChatApi, WeChatConfig, WeChatError } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"

const app = Sandbox.defaultApps.officialAccount

/** The policy `make` gives, or the test fails with its ConfigError. */
const made = (overrides?: RetryPolicy.Overrides): RetryPolicy.RetryPolicy =>
  Either.getOrThrowWith(RetryPolicy.make(overrides), (error) => new Error(String(error)))

/** The ConfigError `make` gives for these overrides. */
const refused = (overrides: unknown): ConfigError.ConfigError => {
  const result = RetryPolicy.make(overrides as RetryPolicy.Overrides)
  if (Either.isRight(result)) throw new Error(`accepted ${String(overrides)}`)
  return result.left
}

const pathOf = (error: ConfigError.ConfigError): ReadonlyArray<string> =>
  ConfigError.isInvalidData(error) ? error.path : ["not InvalidData"]

describe("RetryPolicy.make", () => {
  it("without overrides, or with none set, it is the default policy", () => {
    assert.strictEqual(made(), RetryPolicy.defaultPolicy)
    assert.strictEqual(made(undefined), RetryPolicy.defaultPolicy)
    const empty = made({})
    for (const key of Object.keys(RetryPolicy.defaultPolicy) as Array<keyof RetryPolicy.RetryPolicy>) {
      const value = empty[key]
      if (Duration.isDuration(value)) {
        assert.isTrue(Duration.equals(value, RetryPolicy.defaultPolicy[key] as Duration.Duration), key)
      } else {
        assert.strictEqual(value, RetryPolicy.defaultPolicy[key], key)
      }
    }
  })

  it("the defaults: WeChatError's classification decides, 60 s of skew, a code memo of 60 s", () => {
    const policy = RetryPolicy.defaultPolicy
    assert.strictEqual(policy.retryOn, WeChatError.isTransient)
    assert.strictEqual(policy.exchangeRetryOn, WeChatError.isSafeToResend)
    assert.strictEqual(policy.refreshOn, WeChatError.isRefreshable)
    assert.strictEqual(Duration.toMillis(policy.refreshSkew), 60_000)
    assert.strictEqual(Duration.toMillis(policy.codeMemoTtl), 60_000)
    assert.isTrue(Duration.equals(RetryPolicy.maxCodeMemoTtl, Duration.seconds(60)))
  })

  it("each part given replaces the default, the others stay; durations in any DurationInput form", () => {
    const never = () => false
    const always = () => true
    const schedule = Schedule.recurs(5)
    const policy = made({
      retryOn: never,
      retrySchedule: schedule,
      exchangeRetryOn: always,
      refreshSkew: "5 seconds",
      codeMemoTtl: 30_000
    })
    // a caller's predicate answers as given (wrapped: a throw or a non-boolean is false)
    const busy = new WeChatError.SystemBusy({ errcode: -1, errmsg: "" })
    assert.strictEqual(policy.retryOn(busy), false)
    assert.strictEqual(policy.retrySchedule, schedule)
    assert.strictEqual(policy.exchangeRetryOn(new WeChatError.InvalidCode({ errcode: 40029, errmsg: "" })), true)
    assert.strictEqual(policy.exchangeRetrySchedule, RetryPolicy.defaultPolicy.exchangeRetrySchedule)
    assert.strictEqual(policy.refreshOn, WeChatError.isRefreshable)
    assert.strictEqual(Duration.toMillis(policy.refreshSkew), 5_000)
    assert.strictEqual(Duration.toMillis(policy.codeMemoTtl), 30_000)
    const other = made({ exchangeRetrySchedule: schedule, refreshOn: never, refreshSkew: Duration.zero })
    assert.strictEqual(other.exchangeRetrySchedule, schedule)
    assert.strictEqual(other.refreshOn(new WeChatError.AccessTokenExpired({ errcode: 42001, errmsg: "" })), false)
    assert.strictEqual(other.retryOn, WeChatError.isTransient)
    assert.strictEqual(Duration.toMillis(other.refreshSkew), 0)
  })

  it("a policy is frozen, and two made from the same predicates have the same predicates", () => {
    const retryOn = () => true
    const policy = made({ retryOn })
    assert.strictEqual(made({ retryOn }).retryOn, policy.retryOn, "one wrapper per caller's function")
    assert.isTrue(Object.isFrozen(policy))
    assert.isTrue(Object.isFrozen(RetryPolicy.defaultPolicy))
    assert.throws(() => {
      ;(policy as { retryOn: unknown }).retryOn = () => true
    })
  })

  it("the code memo is capped at 60 seconds: a leaked callback URL stays useless after a minute", () => {
    assert.strictEqual(Duration.toMillis(made({ codeMemoTtl: "10 minutes" }).codeMemoTtl), 60_000)
    assert.strictEqual(Duration.toMillis(made({ codeMemoTtl: "61 seconds" }).codeMemoTtl), 60_000)
    assert.strictEqual(Duration.toMillis(made({ codeMemoTtl: "59 seconds" }).codeMemoTtl), 59_000)
    assert.strictEqual(Duration.toMillis(made({ codeMemoTtl: 0 }).codeMemoTtl), 0)
  })

  it("each part of the wrong type is a ConfigError naming it", () => {
    const cases: ReadonlyArray<readonly [string, unknown]> = [
      ["retryOn", true],
      ["retryOn", "isTransient"],
      ["exchangeRetryOn", 1],
      ["refreshOn", {}],
      ["retrySchedule", "2 retries"],
      ["retrySchedule", () => 2],
      ["exchangeRetrySchedule", 1],
      ["refreshSkew", "soon"],
      ["refreshSkew", Infinity],
      ["refreshSkew", Duration.infinity],
      ["codeMemoTtl", "a minute or so"],
      ["codeMemoTtl", null]
    ]
    for (const [field, value] of cases) {
      const error = refused({ [field]: value })
      assert.deepStrictEqual(pathOf(error), ["policy", field], `${field}: ${String(value)}`)
    }
    assert.deepStrictEqual(pathOf(refused("retry twice")), ["policy", ""])
    assert.deepStrictEqual(pathOf(refused(42)), ["policy", ""])
  })

  it("a negative duration in any form is a ConfigError naming the part, as -5000 is, never read as zero", () => {
    const negatives: ReadonlyArray<unknown> = [
      -5000,
      NaN,
      -Infinity,
      "-5 seconds",
      "-1 millis",
      "-0.5 nanos",
      [-5, 0],
      [0, -1],
      [NaN, 0],
      BigInt(-1)
    ]
    for (const field of ["refreshSkew", "codeMemoTtl"]) {
      for (const value of negatives) {
        const label = `${field}: ${typeof value === "string" ? JSON.stringify(value) : String(value)}`
        const result = RetryPolicy.make({ [field]: value } as RetryPolicy.Overrides)
        assert.isTrue(
          Either.isLeft(result),
          `${label}: accepted as ${Either.isRight(result) ? Duration.format(result.right[field as "refreshSkew"]) : ""}`
        )
        if (Either.isLeft(result)) {
          assert.deepStrictEqual(pathOf(result.left), ["policy", field], label)
          assert.include(String(result.left), "non-negative", label)
        }
      }
      // zero in any form stays a zero, given as such
      for (const zero of [0, "0 millis", "-0 seconds", [0, 0], BigInt(0), Duration.zero]) {
        assert.strictEqual(
          Duration.toMillis(made({ [field]: zero })[field as "refreshSkew"]),
          0,
          `${field}: ${String(zero)}`
        )
      }
      assert.strictEqual(Duration.toMillis(made({ [field]: [5, 0] })[field as "refreshSkew"]), 5_000, field)
    }
  })
})

// -------------------------------------------------------------------------------------------------
// the policy applied: WeChatApi.makeWith({ policy }) against the sandbox
// -------------------------------------------------------------------------------------------------

const TestLayer = Layer.mergeAll(
  WeChatConfig.layer({ appId: app.appId, appSecret: Redacted.make(app.secret) }),
  Sandbox.layerHttpClient
).pipe(Layer.provideMerge(Sandbox.layer()))

/** Runs an effect in the background while moving the test clock, so backoff delays pass. */
const withTime = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < 200 && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* TestClock.adjust("50 millis")
    return yield* Fiber.join(fiber)
  })

const inject = (fault: Sandbox.Fault) => Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.injectFault(fault))
const stats = Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.stats)

/** A fresh code of alice's consent, as the callback carries it. */
const code = Effect.gen(function*() {
  const sandbox = yield* Sandbox.Sandbox
  const callback = yield* sandbox.approve({
    appId: app.appId,
    user: "alice",
    scope: "snsapi_userinfo",
    redirectUri: "https://app.example.com/cb"
  })
  return new URL(callback).searchParams.get("code") ?? ""
})

const retries = (endpoint: string) =>
  RetryPolicy.retriesTotal.unsafeValue([MetricLabel.make("endpoint", endpoint)]).count

describe("RetryPolicy, as WeChatApi.makeWith({ policy }) applies it", () => {
  it.effect("the default retries userinfo after -1, counting the retry", () =>
    Effect.gen(function*() {
      const api = yield* WeChatApi.makeWith({ policy: RetryPolicy.defaultPolicy })
      const token = yield* api.accessToken(yield* code)
      const before = retries("userinfo")
      yield* inject({ kind: "busy", endpoint: "userinfo" })
      const user = yield* withTime(api.userInfo(token.access_token, token.openid))
      assert.strictEqual(user.openid, token.openid)
      assert.strictEqual((yield* stats).userinfo, 2)
      assert.strictEqual(retries("userinfo") - before, 1)
    }).pipe(Effect.provide(TestLayer)))

  it.effect("the default does not retry userinfo after 45011 RateLimited (throttled, not transient)", () =>
    Effect.gen(function*() {
      const api = yield* WeChatApi.makeWith({ policy: RetryPolicy.defaultPolicy })
      const token = yield* api.accessToken(yield* code)
      yield* inject({ kind: "rateLimited", endpoint: "userinfo", times: 5 })
      const error = yield* Effect.flip(withTime(api.userInfo(token.access_token, token.openid)))
      assert.deepStrictEqual([error._tag, (error as WeChatError.RateLimited).errcode], ["RateLimited", 45011])
      assert.strictEqual((yield* stats).userinfo, 1)
    }).pipe(Effect.provide(TestLayer)))

  it.effect("the default gives an idempotent read 2 retries at most: -1 forever is 3 calls", () =>
    Effect.gen(function*() {
      const api = yield* WeChatApi.makeWith({ policy: RetryPolicy.defaultPolicy })
      const token = yield* api.accessToken(yield* code)
      yield* inject({ kind: "busy", endpoint: "auth", times: 100 })
      const error = yield* Effect.flip(withTime(api.auth(token.access_token, token.openid)))
      assert.strictEqual(error._tag, "SystemBusy")
      assert.strictEqual((yield* stats).auth, 3)
    }).pipe(Effect.provide(TestLayer)))

  it.effect("the default retries a code exchange after -1, once: nothing happened on WeChat's side", () =>
    Effect.gen(function*() {
      const api = yield* WeChatApi.makeWith({ policy: RetryPolicy.defaultPolicy })
      yield* inject({ kind: "busy", endpoint: "access_token" })
      const token = yield* withTime(api.accessToken(yield* code))
      assert.isString(token.openid)
      assert.strictEqual((yield* stats).access_token, 2)
      yield* inject({ kind: "busy", endpoint: "access_token", times: 100 })
      const error = yield* Effect.flip(withTime(api.accessToken(yield* code)))
      assert.strictEqual(error._tag, "SystemBusy")
      assert.strictEqual((yield* stats).access_token, 4, "one retry, not two")
    }).pipe(Effect.provide(TestLayer)))

  it.effect("the default does not retry a code exchange after a reset: the code may be burnt", () =>
    Effect.gen(function*() {
      const api = yield* WeChatApi.makeWith({ policy: RetryPolicy.defaultPolicy })
      yield* inject({ kind: "reset", endpoint: "access_token" })
      const error = yield* Effect.flip(withTime(api.accessToken(yield* code)))
      assert.deepStrictEqual([error._tag, (error as WeChatError.TransportError).reason], ["TransportError", "Network"])
      assert.strictEqual((yield* stats).access_token, 1)
    }).pipe(Effect.provide(TestLayer)))

  it.effect("a caller's predicate that throws or answers a non-boolean is false: the call's typed error, never a defect", () =>
    Effect.gen(function*() {
      const throwing = () => {
        throw new Error("predicate threw")
      }
      const yes = (() => "yes") as unknown as (error: WeChatError.RequestFailure) => boolean
      for (const [label, predicate] of [["throws", throwing], ["answers a string", yes]] as const) {
        // built by make, and given whole to makeWith without make (a JavaScript caller's object)
        const policies = [
          made({ retryOn: predicate, exchangeRetryOn: predicate, refreshOn: predicate }),
          { ...RetryPolicy.defaultPolicy, retryOn: predicate, exchangeRetryOn: predicate, refreshOn: predicate }
        ]
        for (const policy of policies) {
          const api = yield* WeChatApi.makeWith({ policy })
          const before = (yield* stats).access_token
          yield* inject({ kind: "busy", endpoint: "access_token" })
          const exchange = yield* Effect.exit(withTime(api.accessToken(yield* code)))
          assert.isTrue(Exit.isFailure(exchange) && Cause.isFailType(exchange.cause), `${label}: ${exchange}`)
          assert.strictEqual((yield* stats).access_token - before, 1, `${label}: not retried`)
          const token = yield* api.accessToken(yield* code)
          yield* inject({ kind: "busy", endpoint: "userinfo" })
          const user = yield* Effect.exit(withTime(api.userInfo(token.access_token, token.openid)))
          assert.isTrue(Exit.isFailure(user) && Cause.isFailType(user.cause), `${label}: ${user}`)
        }
        // getUser's refresh-on-rejection asks the made policy's refreshOn: a plain no
        const expired = new WeChatError.AccessTokenExpired({ errcode: 42001, errmsg: "" })
        assert.strictEqual(policies[0].refreshOn(expired), false, label)
      }
    }).pipe(Effect.provide(TestLayer)))

  it.effect("a policy made with overrides is the one applied; without a policy the endpoints are raw", () =>
    Effect.gen(function*() {
      const strict = yield* WeChatApi.makeWith({ policy: made({ retryOn: () => false }) })
      const token = yield* strict.accessToken(yield* code)
      yield* inject({ kind: "busy", endpoint: "userinfo" })
      const busy = yield* Effect.flip(withTime(strict.userInfo(token.access_token, token.openid)))
      assert.strictEqual(busy._tag, "SystemBusy")
      assert.strictEqual((yield* stats).userinfo, 1)
      const eager = yield* WeChatApi.makeWith({
        policy: made({ retryOn: WeChatError.isRetryable, retrySchedule: Schedule.recurs(3) })
      })
      yield* inject({ kind: "rateLimited", endpoint: "userinfo", times: 3 })
      const user = yield* withTime(eager.userInfo(token.access_token, token.openid))
      assert.strictEqual(user.openid, token.openid)
      assert.strictEqual((yield* stats).userinfo, 5)
      const raw = yield* WeChatApi.makeWith()
      yield* inject({ kind: "busy", endpoint: "access_token" })
      assert.strictEqual((yield* Effect.flip(withTime(raw.accessToken(yield* code))))._tag, "SystemBusy")
      assert.strictEqual((yield* stats).access_token, 2)
    }).pipe(Effect.provide(TestLayer)))
})
