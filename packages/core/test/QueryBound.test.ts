/**
 * A caller's query, whatever its form, is held to the one bound a query string is held to
 * (`maxUrlLength`, 8192 characters): `handleCallback` (WeChatOAuth and WeChatApps) and `acceptPush`
 * given `URLSearchParams` (or, for a push, an object of parameters) whose query is longer fail as a
 * string that long does, after reading only about the bound's worth of it: a million parameters or
 * one 50 MB value is neither copied nor walked to its end. A `URLSearchParams` whose iterator throws
 * is a typed failure, never a defect.
 */
import { assert, describe, it } from "@effect/vitest"
import { AppTokenStore, Component, TokenStore, WeChatApps, WeChatConfig, WeChatOAuth } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"

const app = Sandbox.defaultApps.officialAccount
const platform = {
  componentAppId: "wxcomponentbound",
  componentAppSecret: "a1b2c3d4e5f60718293a4b5c6d7e8f90",
  token: "boundtoken",
  encodingAesKey: "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj"
}

const Live = Layer.mergeAll(
  WeChatOAuth.layer,
  Layer.orDie(Component.layer(platform)),
  Layer.orDie(WeChatApps.layer({ apps: [{ appId: app.appId, appSecret: app.secret }] }, {
    stateSecret: "the bound test's state secret"
  }))
).pipe(
  Layer.provideMerge(Layer.merge(TokenStore.layerMemory, AppTokenStore.layerMemory)),
  Layer.provideMerge(WeChatConfig.layer({ appId: app.appId, appSecret: app.secret })),
  Layer.provideMerge(Sandbox.layerHttpClient),
  Layer.provideMerge(Sandbox.layer())
)

const max = 8192

/** The failure of `effect`: it must fail, typed (never a defect); `undefined` when it succeeded. */
const failureOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) return undefined
    assert.isFalse(Cause.isDie(exit.cause), `never a defect: ${Cause.pretty(exit.cause).slice(0, 200)}`)
    const failure = Cause.failureOption(exit.cause)
    return (failure._tag === "Some" ? failure.value : undefined) as Record<string, unknown> | undefined
  })

/** The failure's fields named in `expected` (plain values, for a readable diff) equal `expected`. */
const assertFailure = (
  failure: Record<string, unknown> | undefined,
  expected: Record<string, unknown>,
  message?: string
) =>
  assert.deepStrictEqual(
    Object.fromEntries(Object.keys(expected).map((key) => [key, failure?.[key]])),
    expected,
    message
  )

/** `URLSearchParams` that counts the pairs its iterator hands out. */
class Counted extends URLSearchParams {
  reads = 0
  override *[Symbol.iterator](): any {
    for (const pair of super.entries()) {
      this.reads++
      yield pair
    }
  }
}

/** `URLSearchParams` whose iterator throws at once. */
class Throwing extends URLSearchParams {
  override [Symbol.iterator](): any {
    throw new Error("the iterator throws")
  }
}

/** A million parameters (`p0=1&p1=1&...`), counted. */
const million = () => {
  const params = new Counted()
  for (let i = 0; i < 1_000_000; i++) params.append(`p${i}`, "1")
  return params
}

/** One parameter of 50 MB, counted. */
const fiftyMegabytes = (name: string) => new Counted([[name, "x".repeat(50 * 1024 * 1024)]])

describe("a callback given as URLSearchParams is held to the callback URL's bound", () => {
  it.effect("over the bound: the string's own InvalidArgument, after reading about the bound's worth", () =>
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const apps = yield* WeChatApps.WeChatApps
      const tooLong = yield* failureOf(oauth.handleCallback(`code=c&state=s&pad=${"x".repeat(max)}`))
      assertFailure(tooLong, { _tag: "InvalidArgument", argument: "callback" })
      const handlers: ReadonlyArray<readonly [string, (callback: URLSearchParams) => Effect.Effect<unknown, unknown>]> =
        [
          ["WeChatOAuth", (callback) => oauth.handleCallback(callback)],
          ["WeChatApps", (callback) => apps.handleCallback(callback)]
        ]
      for (const [name, handle] of handlers) {
        for (
          const [what, params] of [["a million parameters", million()], ["50 MB", fiftyMegabytes("code")]] as const
        ) {
          const started = performance.now()
          const failure = yield* failureOf(handle(params))
          assertFailure(failure, {
            _tag: "InvalidArgument",
            argument: "callback",
            description: tooLong?.description
          }, `${name}, ${what}`)
          assert.isAtMost(params.reads, max / 2, `${name}, ${what}: pairs read`)
          assert.isBelow(performance.now() - started, 1000, `${name}, ${what}: ms`)
        }
      }
    }).pipe(Effect.provide(Live)))

  it.effect("the bound is the pairs' own characters: 8192 pass, 8193 do not, however URLSearchParams would encode them", () =>
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      // no code: the user refused, so a callback read in full is ConsentDenied
      const at = new URLSearchParams({ pad: "x".repeat(max - 4) })
      assert.strictEqual(at.toString().length, max)
      assertFailure(yield* failureOf(oauth.handleCallback(at)), { _tag: "ConsentDenied" })
      assertFailure(yield* failureOf(oauth.handleCallback(at.toString())), { _tag: "ConsentDenied" })
      const over = new URLSearchParams({ pad: "x".repeat(max - 3) })
      assertFailure(yield* failureOf(oauth.handleCallback(over)), {
        _tag: "InvalidArgument",
        argument: "callback"
      })
      assertFailure(yield* failureOf(oauth.handleCallback(over.toString())), {
        _tag: "InvalidArgument",
        argument: "callback"
      })
      // 2,004 characters, which URLSearchParams would write as 12,004: held to what they are
      const encoded = new URLSearchParams({ pad: "é".repeat(2000) })
      assertFailure(yield* failureOf(oauth.handleCallback(encoded)), { _tag: "ConsentDenied" })
      // a callback whose redirect carries a return path: `/` and `:` stand as they are in its URL,
      // URLSearchParams writes them as %2F, %3A; its searchParams pass as its href does
      const url = new URL(`https://app.example.com/cb?next=${"/a:b".repeat(1300)}`)
      assert.isAtMost(url.href.length, max)
      assert.isAbove(url.searchParams.toString().length, max)
      assertFailure(yield* failureOf(oauth.handleCallback(url)), { _tag: "ConsentDenied" })
      assertFailure(yield* failureOf(oauth.handleCallback(url.searchParams)), { _tag: "ConsentDenied" })
      const overRaw = new URLSearchParams({ pad: "é".repeat(max - 3) })
      assertFailure(yield* failureOf(oauth.handleCallback(overRaw)), {
        _tag: "InvalidArgument",
        argument: "callback"
      })
    }).pipe(Effect.provide(Live)))

  it.effect("a URLSearchParams whose iterator throws, or a Proxy of one: InvalidArgument, never a defect", () =>
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const apps = yield* WeChatApps.WeChatApps
      const values = [new Throwing("code=c&state=s"), new Proxy(new URLSearchParams("code=c&state=s"), {})]
      for (const value of values) {
        assertFailure(yield* failureOf(oauth.handleCallback(value)), {
          _tag: "InvalidArgument",
          argument: "callback"
        }, `WeChatOAuth, ${value.constructor.name}`)
        assertFailure(yield* failureOf(apps.handleCallback(value)), {
          _tag: "InvalidArgument",
          argument: "callback"
        }, `WeChatApps, ${value.constructor.name}`)
      }
    }).pipe(Effect.provide(Live)))
})

describe("a push's query in any form is held to the query string's bound", () => {
  it.effect("URLSearchParams or an object over the bound: InvalidPush TooLarge, as the string, read no further", () =>
    Effect.gen(function*() {
      const component = yield* Component.Component
      const body = "<xml><Encrypt><![CDATA[AAAA]]></Encrypt></xml>"
      const query = `timestamp=1&nonce=1&msg_signature=${"a".repeat(max)}`
      const tooLong = yield* failureOf(component.acceptPush({ query, body }))
      assertFailure(tooLong, { _tag: "InvalidPush", reason: "TooLarge" })
      const params = [
        ["a million parameters", million()],
        ["50 MB in nonce", fiftyMegabytes("nonce")],
        ["50 MB in another parameter", fiftyMegabytes("unrelated")]
      ] as const
      for (const [what, value] of params) {
        const failure = yield* failureOf(component.acceptPush({ query: value, body }))
        assertFailure(failure, { _tag: "InvalidPush", reason: "TooLarge", description: tooLong?.description }, what)
        assert.isAtMost(value.reads, max / 2, `${what}: pairs read`)
      }
      // objects of parameters (Express's req.query): only the push's own fields are read, each once,
      // and no further than the bound
      let gets = 0
      const counted = <T extends object>(target: T): T =>
        new Proxy(target, {
          get: (t, key, receiver) => {
            gets++
            return Reflect.get(t, key, receiver)
          }
        })
      const fifty = "x".repeat(50 * 1024 * 1024)
      const over: ReadonlyArray<readonly [string, object]> = [
        ["50 MB in nonce", counted({ timestamp: "1", nonce: fifty, msg_signature: "a" })],
        [
          "a million nonces",
          counted({ timestamp: "1", nonce: counted(Array(1_000_000).fill("1")), msg_signature: "a" })
        ],
        ["a bound's worth of é", { timestamp: "1", nonce: "1", msg_signature: "é".repeat(max) }]
      ]
      for (const [what, record] of over) {
        gets = 0
        const started = performance.now()
        const failure = yield* failureOf(component.acceptPush({ query: record as Record<string, string>, body }))
        assertFailure(
          failure,
          { _tag: "InvalidPush", reason: "TooLarge", description: tooLong?.description },
          what
        )
        assert.isAtMost(gets, max / 2, `${what}: fields read`)
        assert.isBelow(performance.now() - started, 1000, `${what}: ms`)
      }
      // fields that are not the push's are not looked at: a million of them, or 50 MB in one, cost nothing
      const manyFields: Record<string, string> = { timestamp: "1", nonce: "1", msg_signature: "a" }
      for (let i = 0; i < 1_000_000; i++) manyFields[`p${i}`] = "1"
      const unread: ReadonlyArray<readonly [string, object]> = [
        ["a million other fields", counted(manyFields)],
        ["50 MB in another field", counted({ timestamp: "1", nonce: "1", msg_signature: "a", other: fifty })]
      ]
      for (const [what, record] of unread) {
        gets = 0
        const started = performance.now()
        const failure = yield* failureOf(component.acceptPush({ query: record as Record<string, string>, body }))
        assert.strictEqual(failure?._tag, "InvalidPush", what)
        assert.isAtMost(gets, 4, `${what}: fields read`)
        assert.isBelow(performance.now() - started, 1000, `${what}: ms`)
      }
    }).pipe(Effect.provide(Live)))

  it.effect("a push's URLSearchParams whose iterator throws, or a Proxy of one: InvalidArgument request.query", () =>
    Effect.gen(function*() {
      const component = yield* Component.Component
      const query = "timestamp=1&nonce=1&msg_signature=a"
      for (const value of [new Throwing(query), new Proxy(new URLSearchParams(query), {})]) {
        assertFailure(yield* failureOf(component.acceptPush({ query: value, body: "<xml></xml>" })), {
          _tag: "InvalidArgument",
          argument: "request.query"
        })
      }
    }).pipe(Effect.provide(Live)))
})
