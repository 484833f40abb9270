import { assert, describe, it } from "@effect/vitest"
import { StateToken, WeChatConfig } from "@wxauth/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Crypto from "node:crypto"

const appId = "wx1234567890abcdef"
const stateSecret = "a state secret of at least sixteen characters"
const options = { appId, appSecret: "the-app-secret", stateSecret }
const configOf = (o: WeChatConfig.Options): WeChatConfig.WeChatConfigShape =>
  Either.getOrThrow(WeChatConfig.makeEither(o))
const config = configOf(options)
const ConfigLive = WeChatConfig.layer(options)

/** 2025-03-01T08:00:00.250Z: not on a whole second, as a real clock rarely is. */
const t0 = Date.UTC(2025, 2, 1, 8, 0, 0, 250)
const minutes = (n: number) => n * 60_000

const reasonOf = (config: StateToken.StateConfig, now: number, state: string, binding?: string) =>
  Either.match(StateToken.verifySync(config, now, state, binding === undefined ? undefined : { binding }), {
    onLeft: (e) => e.reason,
    onRight: () => "ok" as const
  })

const mustMake = (options?: StateToken.MakeOptions, now = t0) =>
  Either.getOrThrow(StateToken.makeSync(config, now, options))

const wechatState = /^[a-zA-Z0-9]{1,128}$/

describe("StateToken", () => {
  it.effect("round trip without options: no return path, no binding, 45 characters, expires after stateTtl", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(t0)
      const state = yield* StateToken.make()
      assert.match(state, wechatState)
      assert.strictEqual(state.length, 45)
      const verified = yield* StateToken.verify(state)
      assert.isUndefined(verified.returnTo)
      assert.isUndefined(verified.bindingHash)
      assert.strictEqual(verified.issuedAt, Date.UTC(2025, 2, 1, 8, 0, 0))
      assert.strictEqual(verified.expiresAt, Date.UTC(2025, 2, 1, 8, 10, 1))
      assert.isAtLeast(verified.expiresAt - t0, minutes(10))
    }).pipe(Effect.provide(ConfigLive)))

  it.effect("round trip with a return path and a binding", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(t0)
      const state = yield* StateToken.make({ returnTo: "/orders?id=7&tab=paid#top", binding: "browser-cookie-1" })
      assert.match(state, wechatState)
      const verified = yield* StateToken.verify(state, { binding: "browser-cookie-1" })
      assert.strictEqual(verified.returnTo, "/orders?id=7&tab=paid#top")
      assert.strictEqual(verified.bindingHash, StateToken.bindingHash(config, "browser-cookie-1"))
    }).pipe(Effect.provide(ConfigLive)))

  it.effect("round trip with only a return path (non-ASCII) and with only a binding", () =>
    Effect.gen(function*() {
      const withPath = yield* StateToken.make({ returnTo: "/商品/详情?q=café" })
      assert.strictEqual((yield* StateToken.verify(withPath)).returnTo, "/商品/详情?q=café")
      const bound = yield* StateToken.make({ binding: "b" })
      assert.strictEqual(bound.length, 56)
      const verified = yield* StateToken.verify(bound, { binding: "b" })
      assert.isUndefined(verified.returnTo)
      assert.strictEqual(verified.bindingHash, StateToken.bindingHash(config, "b"))
    }).pipe(Effect.provide(ConfigLive)))

  it.effect("the pure variants agree with the effectful ones", () =>
    Effect.gen(function*() {
      const state = mustMake({ returnTo: "/x", binding: "c" })
      const verified = Either.getOrThrow(StateToken.verifySync(config, t0 + 1000, state, { binding: "c" }))
      assert.deepStrictEqual(verified, {
        returnTo: "/x",
        issuedAt: t0 - 250,
        expiresAt: t0 - 250 + minutes(10) + 1000,
        bindingHash: StateToken.bindingHash(config, "c")
      })
      yield* TestClock.setTime(t0 + 1000)
      assert.deepStrictEqual(yield* StateToken.verify(state, { binding: "c" }), verified)
      const made = yield* StateToken.make({ returnTo: "/y" })
      assert.strictEqual(Either.getOrThrow(StateToken.verifySync(config, t0 + 2000, made)).returnTo, "/y")
    }).pipe(Effect.provide(ConfigLive)))

  it("any return path either fits (<= 128 chars of [a-zA-Z0-9], verifying to itself) or is an InvalidArgument", () => {
    const path = FastCheck.oneof(
      FastCheck.string({ unit: "binary", maxLength: 70 }),
      FastCheck.string({ unit: "binary", maxLength: 70 }).map((s) => `/${s}`),
      FastCheck.string({ unit: "grapheme", maxLength: 40 }).map((s) => `/a${s}`),
      FastCheck.stringMatching(/^\/[a-z0-9/?=&#%._~-]{0,80}$/)
    )
    let fitted = 0
    let refused = 0
    FastCheck.assert(
      FastCheck.property(path, FastCheck.option(FastCheck.string({ minLength: 1 }), { nil: undefined }), (
        returnTo,
        binding
      ) => {
        const made = StateToken.makeSync(config, t0, { returnTo, binding })
        if (Either.isLeft(made)) {
          assert.strictEqual(made.left._tag, "InvalidArgument")
          assert.strictEqual(made.left.argument, "returnTo")
          refused++
          return
        }
        assert.match(made.right, wechatState)
        const verified = Either.getOrThrow(StateToken.verifySync(config, t0, made.right, { binding }))
        assert.strictEqual(verified.returnTo, returnTo)
        fitted++
      }),
      { numRuns: 1000 }
    )
    // both outcomes are exercised, so the property is not vacuous
    assert.isAbove(fitted, 200)
    assert.isAbove(refused, 200)
  })

  it("most plausible return paths fit", () => {
    let fitted = 0
    FastCheck.assert(
      FastCheck.property(
        // not one whose dot segments resolve to `//host` (`/.//x`): refused, as normalizeReturnTo refuses it
        FastCheck.stringMatching(/^\/(?:[a-z0-9?=&._~-][a-z0-9/?=&._~-]{0,52})?$/).filter((returnTo) =>
          !new URL(returnTo, "https://site.example").pathname.startsWith("//")
        ),
        (returnTo) => {
          const state = mustMake({ returnTo, binding: "cookie" })
          assert.isAtMost(state.length, 128)
          fitted++
        }
      ),
      { numRuns: 500 }
    )
    assert.strictEqual(fitted, 500)
  })

  it("the largest return paths fit exactly, one byte more is an InvalidArgument", () => {
    const ascii = (bytes: number) => `/${"a".repeat(bytes - 1)}`
    assert.strictEqual(StateToken.maxReturnToBytes, 62)
    assert.strictEqual(StateToken.maxReturnToBytesWithBinding, 54)
    const cases = [
      { binding: undefined, max: StateToken.maxReturnToBytes },
      { binding: "cookie", max: StateToken.maxReturnToBytesWithBinding }
    ]
    for (const { binding, max } of cases) {
      for (let i = 0; i < 50; i++) {
        const state = mustMake({ returnTo: ascii(max), binding })
        assert.strictEqual(state.length, 128)
        assert.match(state, wechatState)
        assert.strictEqual(
          Either.getOrThrow(StateToken.verifySync(config, t0, state, { binding })).returnTo,
          ascii(max)
        )
      }
      const tooLong = StateToken.makeSync(config, t0, { returnTo: ascii(max + 1), binding })
      assert.isTrue(Either.isLeft(tooLong))
      if (Either.isLeft(tooLong)) {
        assert.strictEqual(tooLong.left._tag, "InvalidArgument")
        assert.strictEqual(tooLong.left.argument, "returnTo")
        assert.include(tooLong.left.message, `at most ${max}`)
      }
    }
    // multi-byte characters count in UTF-8 bytes: "/" + 15 four-byte emoji = 61 bytes fits, 16 (65) does not
    assert.isTrue(Either.isRight(StateToken.makeSync(config, t0, { returnTo: `/${"😀".repeat(15)}` })))
    assert.isTrue(Either.isLeft(StateToken.makeSync(config, t0, { returnTo: `/${"😀".repeat(16)}` })))
  })

  it("every single-character change of a state fails", () => {
    const state = mustMake({ returnTo: "/r?x=1", binding: "cookie" })
    const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    const reasons = new Set<string>()
    for (let i = 0; i < state.length; i++) {
      for (const c of alphabet) {
        if (c === state[i]) continue
        const tampered = state.slice(0, i) + c + state.slice(i + 1)
        const reason = reasonOf(config, t0, tampered, "cookie")
        assert.oneOf(reason, ["Malformed", "BadSignature"], `position ${i} -> ${c}`)
        reasons.add(reason)
      }
    }
    assert.isTrue(reasons.has("BadSignature"))
    assert.strictEqual(reasonOf(config, t0, state, "cookie"), "ok")
    assert.strictEqual(reasonOf(config, t0, state.slice(0, -1), "cookie"), "Malformed")
    assert.strictEqual(reasonOf(config, t0, `${state}a`, "cookie"), "Malformed")
  })

  it("text that is not a state is Malformed", () => {
    const state = mustMake()
    for (
      const text of [
        "",
        "abcd",
        "a".repeat(129),
        "z".repeat(45),
        "0".repeat(45),
        `${state.slice(0, 10)}-${state.slice(11)}`,
        `${state.slice(0, 10)}_${state.slice(11)}`,
        `${state.slice(0, 10)}.${state.slice(11)}`,
        `${state.slice(0, 10)}é${state.slice(11)}`,
        ` ${state.slice(1)}`
      ]
    ) {
      assert.strictEqual(reasonOf(config, t0, text), "Malformed", JSON.stringify(text))
    }
  })

  it("a state made for another app or with another secret has a bad signature", () => {
    const state = mustMake({ returnTo: "/" })
    const otherApp = configOf({ ...options, appId: "wxfedcba0987654321" })
    assert.strictEqual(reasonOf(otherApp, t0, state), "BadSignature")
    const otherSecret = configOf({ ...options, stateSecret: "another state secret, also long enough" })
    assert.strictEqual(reasonOf(otherSecret, t0, state), "BadSignature")
    const defaultSecret = configOf({ appId, appSecret: "the-app-secret" })
    assert.strictEqual(reasonOf(defaultSecret, t0, state), "BadSignature")
  })

  it("a rotation: states of an accepted secret are verified (binding included), new ones are signed with stateSecret", () => {
    const oldSecret = stateSecret
    const newSecret = "the next state secret, sixteen or more"
    const before = configOf(options)
    const bound = Either.getOrThrow(StateToken.makeSync(before, t0, { returnTo: "/cart", binding: "cookie" }))
    // first deploy: the new secret accepted everywhere, states still signed with the old one
    const adding = configOf({ ...options, acceptedStateSecrets: [newSecret] })
    const midway = Either.getOrThrow(StateToken.makeSync(adding, t0, { binding: "cookie" }))
    assert.strictEqual(reasonOf(before, t0, midway, "cookie"), "ok", "an old process verifies it")
    // second deploy: the new secret signs, the old one is accepted
    const rotated = configOf({ ...options, stateSecret: newSecret, acceptedStateSecrets: [oldSecret] })
    const fresh = Either.getOrThrow(StateToken.makeSync(rotated, t0, { binding: "cookie" }))
    assert.strictEqual(reasonOf(adding, t0, fresh, "cookie"), "ok", "a first-deploy process verifies it")
    assert.strictEqual(reasonOf(before, t0, fresh, "cookie"), "BadSignature", "it is signed with the new secret")
    const verified = Either.getOrThrow(StateToken.verifySync(rotated, t0, bound, { binding: "cookie" }))
    assert.strictEqual(verified.returnTo, "/cart")
    assert.strictEqual(reasonOf(rotated, t0, bound, "another-cookie"), "Binding")
    assert.strictEqual(reasonOf(rotated, t0, bound), "Binding")
    // once the old secret is dropped, its states are refused; a secret never given is never accepted
    const after = configOf({ ...options, stateSecret: newSecret })
    assert.strictEqual(reasonOf(after, t0, bound, "cookie"), "BadSignature")
    const stranger = configOf({ ...options, stateSecret: "an unrelated secret, long enough too" })
    const forged = Either.getOrThrow(StateToken.makeSync(stranger, t0, { binding: "cookie" }))
    assert.strictEqual(reasonOf(rotated, t0, forged, "cookie"), "BadSignature")
    // accepted secrets make a state's signature only: another app's accepted list does not help it
    const otherApp = configOf({ ...options, appId: "wxfedcba0987654321", acceptedStateSecrets: [oldSecret] })
    assert.strictEqual(reasonOf(otherApp, t0, bound, "cookie"), "BadSignature")
  })

  it("a secret with a lone surrogate is a ConfigError naming it: its UTF-8 (U+FFFD) would sign U+FFFD's states", () => {
    const base = "a state secret of sixteen or more "
    // before: each of these was the key of `${base}\uFFFD`, so a state of one verified with all
    const lone = [`${base}\uD800`, `${base}\uDC00`, `\uDC00${base}`, `${base}\uDC00\uD800`, `${base}\uD83Dx`]
    for (const secret of lone) {
      const cases: ReadonlyArray<readonly [string, Partial<WeChatConfig.Options>]> = [
        ["stateSecret", { stateSecret: secret }],
        ["acceptedStateSecrets", { acceptedStateSecrets: ["another state secret, well-formed", secret] }],
        // without a state secret of its own, the app secret is the state key's
        ["appSecret", { appSecret: secret, stateSecret: undefined }],
        ["appSecret", { appSecret: Redacted.make(secret) }]
      ]
      for (const [field, given] of cases) {
        const result = WeChatConfig.makeEither({ ...options, ...given })
        assert.isTrue(Either.isLeft(result), `${field}: ${JSON.stringify(secret)}`)
        if (Either.isLeft(result)) {
          assert.deepStrictEqual((result.left as { path?: ReadonlyArray<string> }).path, [field])
          assert.include(String(result.left), "well-formed")
          assert.notInclude(String(result.left), base)
        }
      }
    }
    // U+FFFD itself and a surrogate pair are characters like any other: secrets of their own
    const replacement = configOf({ ...options, stateSecret: `${base}\uFFFD` })
    const paired = configOf({ ...options, stateSecret: `${base}\uD83D\uDE00` })
    const state = Either.getOrThrow(StateToken.makeSync(paired, t0))
    assert.strictEqual(reasonOf(paired, t0, state), "ok")
    assert.strictEqual(reasonOf(replacement, t0, state), "BadSignature")
  })

  it("acceptedStateSecrets: at most 4 secrets of at least 16 characters; a list that is not one is a ConfigError", () => {
    const long = (i: number) => `accepted state secret number ${i}`
    assert.isTrue(Either.isRight(WeChatConfig.makeEither({ ...options, acceptedStateSecrets: [] })))
    assert.isTrue(Either.isRight(WeChatConfig.makeEither({ ...options, acceptedStateSecrets: [1, 2, 3, 4].map(long) })))
    const bad: ReadonlyArray<unknown> = [
      [1, 2, 3, 4, 5].map(long),
      ["short"],
      [42],
      "a single secret, not in a list",
      { 0: long(1), length: 1 },
      new Proxy([], {
        get: () => {
          throw new Error("trap")
        }
      })
    ]
    for (const [i, value] of bad.entries()) {
      const result = WeChatConfig.makeEither({ ...options, acceptedStateSecrets: value as ReadonlyArray<string> })
      assert.isTrue(Either.isLeft(result), `bad list #${i}`)
      const error = String(Either.isLeft(result) ? result.left : "")
      assert.include(error, "acceptedStateSecrets")
      assert.notInclude(error, "accepted state secret number")
    }
  })

  it.effect("a state expires after the TTL by Clock: valid just before, Expired after", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(t0)
      const state = yield* StateToken.make({ returnTo: "/after" })
      yield* TestClock.adjust(Duration.subtract(Duration.minutes(10), Duration.millis(1)))
      assert.strictEqual((yield* StateToken.verify(state)).returnTo, "/after")
      yield* TestClock.adjust(Duration.seconds(1))
      const error = yield* Effect.flip(StateToken.verify(state))
      assert.strictEqual(error._tag, "StateMismatch")
      assert.strictEqual(error.reason, "Expired")
    }).pipe(Effect.provide(ConfigLive)))

  it.effect("the ttl option overrides the config's stateTtl", () =>
    Effect.gen(function*() {
      const state = yield* StateToken.make({ ttl: "30 seconds" })
      yield* TestClock.adjust("29 seconds")
      yield* StateToken.verify(state)
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* Effect.flip(StateToken.verify(state))).reason, "Expired")
      const long = yield* StateToken.make({ ttl: Duration.hours(1) })
      yield* TestClock.adjust(minutes(59))
      yield* StateToken.verify(long)
    }).pipe(Effect.provide(ConfigLive)))

  it("a state is refused as Expired at a time more than the allowance (min(ttl, 5 min)) before its issue time", () => {
    // a clock stepped back (or a server behind the one that made the state) must not stretch its life
    const state = mustMake()
    assert.strictEqual(reasonOf(config, t0 - minutes(60), state), "Expired", "t0 - 1 h")
    assert.strictEqual(reasonOf(config, t0 - minutes(23 * 60), state), "Expired", "t0 - 23 h")
    assert.strictEqual(reasonOf(config, t0 - minutes(50), state), "Expired", "t0 - 50 min")
    assert.strictEqual(reasonOf(config, t0 - minutes(5) - 1000, state), "Expired", "t0 - (5 min + 1 s)")
    // skew between servers within the allowance keeps working
    assert.strictEqual(reasonOf(config, t0 - (minutes(5) - 1000), state), "ok", "t0 - (5 min - 1 s)")
    assert.strictEqual(reasonOf(config, t0 - minutes(1), state), "ok", "t0 - 1 min")
    assert.strictEqual(reasonOf(config, t0 - 3000, state), "ok", "t0 - 3 s")
    assert.strictEqual(reasonOf(config, t0, state), "ok", "t0")
    // and the TTL still ends it as before
    assert.strictEqual(reasonOf(config, t0 + minutes(10) - 1, state), "ok", "t0 + ttl - 1 ms")
    assert.strictEqual(reasonOf(config, t0 + minutes(10) + 1000, state), "Expired", "t0 + ttl + 1 s")
    // a lifetime shorter than 5 minutes is its own allowance (the state's whole seconds: 31 s here)
    const short = mustMake({ ttl: "30 seconds" })
    assert.strictEqual(reasonOf(config, t0 - 29_000, short), "ok", "short: t0 - 29 s")
    assert.strictEqual(reasonOf(config, t0 - 32_000, short), "Expired", "short: t0 - 32 s")
    assert.strictEqual(reasonOf(config, t0 - minutes(4), short), "Expired", "short: t0 - 4 min")
    assert.strictEqual(StateToken.clockSkewAllowance, minutes(5))
  })

  it.effect("verify (by Clock) refuses a state from the future as Expired, the same rule as verifySync", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(t0)
      const state = yield* StateToken.make({ returnTo: "/after" })
      yield* TestClock.setTime(t0 - minutes(60))
      const error = yield* Effect.flip(StateToken.verify(state))
      assert.strictEqual(error._tag, "StateMismatch")
      assert.strictEqual(error.reason, "Expired")
      yield* TestClock.setTime(t0 - (minutes(5) - 1000))
      assert.strictEqual((yield* StateToken.verify(state)).returnTo, "/after")
    }).pipe(Effect.provide(ConfigLive)))

  it.effect("a bound state needs the same binding: another or none is a Binding failure", () =>
    Effect.gen(function*() {
      const state = yield* StateToken.make({ binding: "browser-A" })
      assert.strictEqual((yield* Effect.flip(StateToken.verify(state, { binding: "browser-B" }))).reason, "Binding")
      assert.strictEqual((yield* Effect.flip(StateToken.verify(state))).reason, "Binding")
      assert.strictEqual((yield* Effect.flip(StateToken.verify(state, { binding: "" }))).reason, "Binding")
      yield* StateToken.verify(state, { binding: "browser-A" })
      // a state made without a binding does not depend on the browser
      const unbound = yield* StateToken.make()
      assert.isUndefined((yield* StateToken.verify(unbound, { binding: "browser-B" })).bindingHash)
    }).pipe(Effect.provide(ConfigLive)))

  it.effect("a return path that leaves the site is an InvalidArgument (no open redirect)", () =>
    Effect.gen(function*() {
      for (
        const returnTo of [
          "https://evil.com/",
          "http://evil.com",
          "javascript:alert(1)",
          "//evil.com",
          "//evil.com/path",
          "/\\evil.com",
          "\\\\evil.com",
          "/\t/evil.com",
          "/\n/evil.com",
          "/\r/evil.com",
          "evil.com",
          "orders",
          "",
          "/\uD800x"
        ]
      ) {
        const error = yield* Effect.flip(StateToken.make({ returnTo }))
        assert.strictEqual(error._tag, "InvalidArgument", JSON.stringify(returnTo))
        assert.strictEqual(error.argument, "returnTo")
      }
      for (const returnTo of ["/", "/a//b", "/a\\b", "/?next=https://x.com", "/#//evil.com", "/%2F%2Fevil.com"]) {
        assert.strictEqual((yield* StateToken.verify(yield* StateToken.make({ returnTo }))).returnTo, returnTo)
      }
    }).pipe(Effect.provide(ConfigLive)))

  it.effect("an empty binding or a non-positive ttl is an InvalidArgument", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* Effect.flip(StateToken.make({ binding: "" }))).argument, "binding")
      assert.strictEqual((yield* Effect.flip(StateToken.make({ ttl: 0 }))).argument, "ttl")
      assert.strictEqual((yield* Effect.flip(StateToken.make({ ttl: Duration.infinity }))).argument, "ttl")
    }).pipe(Effect.provide(ConfigLive)))

  it.effect("states are unique, even when made in the same millisecond", () =>
    Effect.gen(function*() {
      const states = yield* Effect.all(Array.from({ length: 2000 }, () => StateToken.make({ returnTo: "/same" })))
      assert.strictEqual(new Set(states).size, states.length)
    }).pipe(Effect.provide(ConfigLive)))

  it("normalizeReturnTo: a path on this site as a browser requests it, or undefined", () => {
    assert.strictEqual(StateToken.normalizeReturnTo("/a/../orders?id=7"), "/orders?id=7")
    assert.strictEqual(StateToken.normalizeReturnTo("/./x/./y#top"), "/x/y#top")
    assert.strictEqual(StateToken.normalizeReturnTo("/订单"), "/%E8%AE%A2%E5%8D%95")
    assert.strictEqual(StateToken.normalizeReturnTo("/"), "/")
    const offSite = [
      "//evil.example/",
      "/\\evil.example",
      "https://evil.example/",
      "orders",
      "",
      "/\t/evil.example",
      "/a\nb",
      "javascript:alert(1)",
      `/${"a".repeat(9000)}`
    ]
    for (const value of offSite) assert.isUndefined(StateToken.normalizeReturnTo(value), JSON.stringify(value))
    for (const value of [undefined, null, 42, ["/"], { toString: () => "/" }]) {
      assert.isUndefined(StateToken.normalizeReturnTo(value), String(value))
    }
    // what it returns fits in a state (with a binding by default) and verifies to itself
    const ascii = (bytes: number) => `/${"a".repeat(bytes - 1)}`
    const bound = StateToken.maxReturnToBytesWithBinding
    assert.strictEqual(StateToken.normalizeReturnTo(ascii(bound)), ascii(bound))
    assert.isUndefined(StateToken.normalizeReturnTo(ascii(bound + 1)))
    assert.strictEqual(StateToken.normalizeReturnTo(ascii(bound + 1), { bound: false }), ascii(bound + 1))
    assert.isUndefined(StateToken.normalizeReturnTo(ascii(StateToken.maxReturnToBytes + 1), { bound: false }))
    for (const value of ["/a/../orders?id=7", "/订单", ascii(bound)]) {
      const returnTo = StateToken.normalizeReturnTo(value)!
      const state = mustMake({ returnTo, binding: "cookie" })
      assert.strictEqual(
        Either.getOrThrow(StateToken.verifySync(config, t0, state, { binding: "cookie" })).returnTo,
        returnTo
      )
    }
  })

  it("normalizeReturnTo with maxBytes: the same rules, its own size (for a path that is not put in a state)", () => {
    const long = "/products/detail?id=1234567890&utm_source=wechat&utm_medium=share&utm_campaign=winter"
    assert.isUndefined(StateToken.normalizeReturnTo(long, { bound: false }))
    assert.strictEqual(StateToken.normalizeReturnTo(long, { maxBytes: 2048 }), long)
    assert.strictEqual(StateToken.normalizeReturnTo(`/${"a".repeat(2047)}`, { maxBytes: 2048 }), `/${"a".repeat(2047)}`)
    assert.isUndefined(StateToken.normalizeReturnTo(`/${"a".repeat(2048)}`, { maxBytes: 2048 }))
    // percent-encoded, then measured: 12 characters outside ASCII are 108 bytes
    assert.strictEqual(
      StateToken.normalizeReturnTo("/我的订单详情页面我的订单", { maxBytes: 2048 }),
      "/%E6%88%91%E7%9A%84%E8%AE%A2%E5%8D%95%E8%AF%A6%E6%83%85%E9%A1%B5%E9%9D%A2%E6%88%91%E7%9A%84%E8%AE%A2%E5%8D%95"
    )
    for (const value of ["//evil.example/", "/\\evil.example", "https://evil.example/", "/\t/evil.example"]) {
      assert.isUndefined(StateToken.normalizeReturnTo(value, { maxBytes: 2048 }), JSON.stringify(value))
    }
    // a maxBytes that is not a positive whole number is ignored: the state's size holds
    for (const maxBytes of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "2048"]) {
      assert.isUndefined(StateToken.normalizeReturnTo(long, { maxBytes: maxBytes as number }), String(maxBytes))
    }
    const trap = new Proxy({}, {
      get: () => {
        throw new Error("trap")
      }
    })
    assert.strictEqual(StateToken.normalizeReturnTo("/orders", trap), "/orders")
  })

  it("a config whose getters answer otherwise on a second read (or throw then) is read once: nothing throws", () => {
    /** `config` with `field` a getter: its own value on the first read, then `later` (a throw when it is an Error). */
    const fickle = (field: "appId" | "stateSecret" | "stateTtl" | "acceptedStateSecrets", later: unknown) => {
      let reads = 0
      return Object.defineProperty({ ...config }, field, {
        get: () => {
          if (reads++ === 0) return config[field]
          if (later instanceof Error) throw later
          return later
        }
      }) as WeChatConfig.WeChatConfigShape
    }
    const now = 1_700_000_000_000
    const state = Either.getOrThrow(StateToken.makeSync(config, now, { binding: "cookie", carryAppId: true }))
    for (
      const [field, later] of [
        ["appId", new Error("second read")],
        ["appId", 42],
        ["appId", "wxfedcba0987654321"],
        ["stateSecret", new Error("second read")],
        ["stateSecret", Redacted.make("a string, not the key's bytes")],
        ["stateTtl", new Error("second read")],
        ["acceptedStateSecrets", new Error("second read")]
      ] as const
    ) {
      const label = `${field} then ${String(later)}`
      // made and verified with what was read once: the same as with the config itself
      const made = StateToken.makeSync(fickle(field, later), now, { binding: "cookie", carryAppId: true })
      assert.isTrue(Either.isRight(made), label)
      const verified = StateToken.verifySync(config, now, Either.getOrThrow(made), { binding: "cookie" })
      assert.isTrue(Either.isRight(verified), label)
      assert.isTrue(
        Either.isRight(StateToken.verifySync(fickle(field, later), now, state, { binding: "cookie" })),
        label
      )
      assert.strictEqual(
        StateToken.bindingHash(fickle(field, later), "cookie"),
        StateToken.bindingHash(config, "cookie"),
        label
      )
    }
  })

  it("bindingHash is keyed per app and value; equals compares strings", () => {
    const hash = StateToken.bindingHash(config, "cookie")
    assert.match(hash, /^[0-9a-f]{16}$/)
    assert.strictEqual(StateToken.bindingHash(config, "cookie"), hash)
    assert.notStrictEqual(StateToken.bindingHash(config, "cookie2"), hash)
    assert.notStrictEqual(StateToken.bindingHash(configOf({ ...options, appId: "wxfedcba0987654321" }), "cookie"), hash)
    assert.notStrictEqual(
      StateToken.bindingHash(configOf({ ...options, stateSecret: "another state secret, also long enough" }), "cookie"),
      hash
    )
    assert.isTrue(StateToken.equals("abc", "abc"))
    assert.isTrue(StateToken.equals("", ""))
    assert.isFalse(StateToken.equals("abc", "abd"))
    assert.isFalse(StateToken.equals("abc", "abcd"))
    assert.isFalse(StateToken.equals("abc", ""))
  })
})

/** Base62 as the module comment describes it (fixed digits per byte length), for byte-level tampering. */
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
const digitsFor = (bytes: number) => {
  let length = 0
  for (let power = 1n; power < 1n << BigInt(8 * bytes); power *= 62n) length++
  return length
}
const stateBytes = (state: string): Buffer => {
  let n = 0
  while (digitsFor(n) < state.length) n++
  let value = 0n
  for (const c of state) value = value * 62n + BigInt(base62.indexOf(c))
  return Buffer.from(value.toString(16).padStart(2 * n, "0"), "hex")
}
const stateText = (bytes: Buffer): string => {
  let value = BigInt(`0x0${bytes.toString("hex")}`)
  let text = ""
  for (let i = 0; i < digitsFor(bytes.length); i++) {
    text = base62[Number(value % 62n)] + text
    value /= 62n
  }
  return text
}

describe("StateToken carrying the appid", () => {
  it("states made before the appid field existed verify as before (vectors from that layout)", () => {
    // made by the layout without the appid field, for `config` at t0
    const bound = "0A2UTp7Yvv8mnwGdRBAqZHuSWZCY7gWi0RKBCuGZG3sarzX4xOF6WNnKjW7OEwTmTjTIak0r"
    const plain = "0G3tLDkJ7lunsLp8LgP4DvIgPxpWja1BcZYzdFGMJNBVr"
    assert.deepStrictEqual(Either.getOrThrow(StateToken.verifySync(config, t0, bound, { binding: "cookie" })), {
      returnTo: "/orders?id=7",
      issuedAt: t0 - 250,
      expiresAt: t0 - 250 + minutes(10) + 1000,
      bindingHash: StateToken.bindingHash(config, "cookie")
    })
    assert.strictEqual(reasonOf(config, t0, bound, "another cookie"), "Binding")
    assert.isUndefined(Either.getOrThrow(StateToken.verifySync(config, t0, plain)).appId)
    assert.isUndefined(StateToken.appIdOf(bound))
    assert.isUndefined(StateToken.appIdOf(plain))
    // and a state made today without carryAppId is that layout: same length, no appid
    assert.strictEqual(mustMake().length, plain.length)
    assert.strictEqual(mustMake({ returnTo: "/orders?id=7", binding: "cookie" }).length, bound.length)
  })

  it("carryAppId writes the appid under the MAC: appIdOf reads it, verifySync returns it", () => {
    for (
      const [id, extra] of [
        ["wx1234567890abcdef", 9], // WeChat's usual form, packed into 8 bytes
        ["wxsandboxofficial1", 19], // anything else: a length byte and the text
        ["a", 2]
      ] as const
    ) {
      const appConfig = configOf({ ...options, appId: id })
      const state = Either.getOrThrow(
        StateToken.makeSync(appConfig, t0, { carryAppId: true, returnTo: "/r", binding: "cookie" })
      )
      assert.match(state, wechatState)
      const without = Either.getOrThrow(StateToken.makeSync(appConfig, t0, { returnTo: "/r", binding: "cookie" }))
      assert.strictEqual(stateBytes(state).length - stateBytes(without).length, extra)
      assert.strictEqual(StateToken.appIdOf(state), id)
      const verified = Either.getOrThrow(StateToken.verifySync(appConfig, t0, state, { binding: "cookie" }))
      assert.strictEqual(verified.appId, id)
      assert.strictEqual(verified.returnTo, "/r")
      assert.strictEqual(verified.bindingHash, StateToken.bindingHash(appConfig, "cookie"))
      // another app with the same secret: refused
      assert.strictEqual(
        reasonOf(configOf({ ...options, appId: "wxfedcba0987654321" }), t0, state, "cookie"),
        "BadSignature"
      )
    }
  })

  it("changing the carried appid's bytes (to another real app's) fails the MAC", () => {
    const a = configOf({ ...options, appId: "wxsandboxofficial1" })
    const b = configOf({ ...options, appId: "wxsandboxofficial2" })
    const state = Either.getOrThrow(StateToken.makeSync(a, t0, { carryAppId: true, binding: "cookie" }))
    const bytes = stateBytes(state)
    assert.strictEqual(stateText(bytes), state)
    // header, two times, nonce: the appid's length byte is at 17, its text after it
    assert.strictEqual(bytes[17], 18)
    assert.strictEqual(bytes.toString("latin1", 18, 36), "wxsandboxofficial1")
    bytes.write("wxsandboxofficial2", 18, "latin1")
    const forged = stateText(bytes)
    assert.strictEqual(StateToken.appIdOf(forged), "wxsandboxofficial2")
    assert.strictEqual(reasonOf(b, t0, forged, "cookie"), "BadSignature")
    assert.strictEqual(reasonOf(a, t0, forged, "cookie"), "BadSignature")
    // the bit that says an appid follows cannot be dropped or added either
    const dropped = stateBytes(state)
    dropped[0] = dropped[0] & ~0x02
    assert.oneOf(reasonOf(a, t0, stateText(dropped), "cookie"), ["Malformed", "BadSignature"])
    const plain = stateBytes(mustMake({ binding: "cookie" }))
    plain[0] = plain[0] | 0x02
    assert.oneOf(reasonOf(config, t0, stateText(plain), "cookie"), ["Malformed", "BadSignature"])
  })

  it("an appid field that is not one (too long, a packable appid written long, bad characters) is Malformed", () => {
    const a = configOf({ ...options, appId: "wxsandboxofficial1" })
    const state = Either.getOrThrow(StateToken.makeSync(a, t0, { carryAppId: true }))
    for (const mutate of [(b: Buffer) => b.writeUInt8(200, 17), (b: Buffer) => b.write("wx!", 18, "latin1")]) {
      const bytes = stateBytes(state)
      mutate(bytes)
      assert.strictEqual(reasonOf(a, t0, stateText(bytes)), "Malformed")
      assert.isUndefined(StateToken.appIdOf(stateText(bytes)))
    }
    const packable = configOf({ ...options, appId: "wx0123456789abcdef" })
    const long = stateBytes(Either.getOrThrow(StateToken.makeSync(a, t0, { carryAppId: true })))
    long.write("wx0123456789abcdef", 18, "latin1")
    assert.strictEqual(reasonOf(packable, t0, stateText(long)), "Malformed")
  })

  it("the return path's room shrinks by the appid's bytes; maxReturnToBytesFor says how much", () => {
    const ascii = (bytes: number) => `/${"a".repeat(bytes - 1)}`
    assert.strictEqual(StateToken.maxReturnToBytesFor({ bound: false }), StateToken.maxReturnToBytes)
    assert.strictEqual(StateToken.maxReturnToBytesFor({ bound: true }), StateToken.maxReturnToBytesWithBinding)
    for (const id of ["wx1234567890abcdef", "wxsandboxofficial1"]) {
      const appConfig = configOf({ ...options, appId: id })
      for (const binding of [undefined, "cookie"]) {
        const max = StateToken.maxReturnToBytesFor({ bound: binding !== undefined, appId: id })
        const state = Either.getOrThrow(
          StateToken.makeSync(appConfig, t0, { carryAppId: true, returnTo: ascii(max), binding })
        )
        assert.strictEqual(state.length, 128)
        assert.strictEqual(
          Either.getOrThrow(StateToken.verifySync(appConfig, t0, state, { binding })).returnTo,
          ascii(max)
        )
        const tooLong = StateToken.makeSync(appConfig, t0, { carryAppId: true, returnTo: ascii(max + 1), binding })
        assert.isTrue(Either.isLeft(tooLong) && tooLong.left.argument === "returnTo")
        if (Either.isLeft(tooLong)) assert.include(tooLong.left.message, `its appid carries at most ${max}`)
      }
    }
    assert.strictEqual(StateToken.maxReturnToBytesFor({ bound: true, appId: "wx1234567890abcdef" }), 45)
    assert.strictEqual(StateToken.maxReturnToBytesFor({ bound: true, appId: "wxsandboxofficial1" }), 35)
  })

  it("carryAppId of the wrong type is an InvalidArgument", () => {
    const made = StateToken.makeSync(config, t0, { carryAppId: "yes" as unknown as boolean })
    assert.isTrue(Either.isLeft(made) && made.left.argument === "carryAppId")
  })
})

describe("StateToken return paths, as normalizeReturnTo resolves them", () => {
  /** Paths that start with one slash but resolve (dot segments, backslashes) to `//evil.com`. */
  const resolvingOffSite = [
    "/.//evil.com",
    "/..//evil.com",
    "/a/..//evil.com",
    "/%2e//evil.com",
    "/a/%2E%2e//evil.com",
    "/a\\..\\/evil.com",
    "/.\\\\evil.com",
    "/./\\evil.com/x?y=1#z"
  ]

  it.effect("one rule: make and makeSync refuse a return path that normalizeReturnTo refuses as off-site", () =>
    Effect.gen(function*() {
      for (const returnTo of resolvingOffSite) {
        assert.isUndefined(StateToken.normalizeReturnTo(returnTo, { bound: false }), JSON.stringify(returnTo))
        assert.strictEqual(new URL(returnTo, "https://site.example").pathname.slice(0, 2), "//")
        const made = StateToken.makeSync(config, t0, { returnTo })
        assert.isTrue(Either.isLeft(made), `${JSON.stringify(returnTo)} was signed`)
        if (Either.isLeft(made)) assert.strictEqual(made.left.argument, "returnTo")
        const error = yield* Effect.flip(StateToken.make({ returnTo, binding: "cookie" }))
        assert.strictEqual(error._tag, "InvalidArgument")
      }
      // a path normalizeReturnTo accepts is still carried as it was given
      for (
        const returnTo of ["/a/../orders?id=7", "/./x", "/a\\b", "/a//b", "/订单", "/%2F%2Fevil.com", "/#//evil.com"]
      ) {
        assert.isDefined(StateToken.normalizeReturnTo(returnTo, { bound: false }), JSON.stringify(returnTo))
        assert.strictEqual(
          Either.getOrThrow(StateToken.verifySync(config, t0, mustMake({ returnTo }))).returnTo,
          returnTo
        )
      }
    }).pipe(Effect.provide(ConfigLive)))

  it("a signed state that carries such a return path is Malformed", () => {
    // the layout of the module comment: 17 bytes (header, times, nonce), the return path, a 16-byte MAC
    const key = Crypto.createHash("sha256").update(stateSecret).digest()
    const sign = (signed: Buffer) =>
      Buffer.concat([
        signed,
        Crypto.createHmac("sha256", key).update(`wxauth/state/v1/mac\0${appId}\0`).update(signed).digest().subarray(
          0,
          16
        )
      ])
    const genuine = stateBytes(mustMake({ returnTo: "/x" }))
    // the test signs as StateToken does: a state it re-signs is the same state
    assert.strictEqual(stateText(sign(genuine.subarray(0, -16))), stateText(genuine))
    for (const returnTo of resolvingOffSite) {
      const forged = stateText(sign(Buffer.concat([genuine.subarray(0, 17), Buffer.from(returnTo, "utf8")])))
      assert.strictEqual(reasonOf(config, t0, forged), "Malformed", JSON.stringify(returnTo))
    }
    const onSite = stateText(sign(Buffer.concat([genuine.subarray(0, 17), Buffer.from("/a/../b", "utf8")])))
    assert.strictEqual(Either.getOrThrow(StateToken.verifySync(config, t0, onSite)).returnTo, "/a/../b")
  })
})
