/**
 * Every public function of @wxauth/core, and every method of its services, called as a JavaScript
 * caller might: `undefined`, `null`, numbers, objects, arrays and a 10 MB string in each argument.
 * Nothing may throw, die or hang; every failure is a typed error in the error channel, and no
 * secret of the configuration appears in it. The functions are found by reflection, so a function
 * added later is covered without editing this file.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Core from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"

const {
  AppToken,
  Component,
  AppTokenStore,
  MiniProgram,
  RefreshLock,
  SessionKeyStore,
  SessionStore,
  TokenCipher,
  TokenStore,
  WeChatApi,
  WeChatApps,
  WeChatConfig,
  WeChatOAuth
} = Core

const app = Sandbox.defaultApps.officialAccount
/** A third-party platform (the sandbox does not know it: it never gets a ticket). */
const platform = {
  componentAppId: "wxcomponenthostile",
  componentAppSecret: "a1b2c3d4e5f60718293a4b5c6d7e8f90",
  token: "hostiletoken",
  encodingAesKey: "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj"
}
const configSecrets = [app.secret, platform.componentAppSecret, platform.token, platform.encodingAesKey]

/**
 * Values only JavaScript can make: a Proxy whose every trap throws, a revoked Proxy (any operation on
 * it throws), and a URL / URLSearchParams that passes `instanceof` but has no internal state.
 */
function exotic(): ReadonlyArray<readonly [string, unknown]> {
  const trap = () => {
    throw new Error("trap")
  }
  const revoked = Proxy.revocable({}, {})
  revoked.revoke()
  return [
    [
      "a Proxy whose traps throw",
      new Proxy({}, {
        get: trap,
        has: trap,
        ownKeys: trap,
        getOwnPropertyDescriptor: trap,
        getPrototypeOf: trap,
        defineProperty: trap,
        set: trap,
        deleteProperty: trap,
        isExtensible: trap,
        preventExtensions: trap,
        setPrototypeOf: trap
      })
    ],
    ["a revoked Proxy", revoked.proxy],
    ["a hollow URL", Object.create(URL.prototype)],
    ["a hollow URLSearchParams", Object.create(URLSearchParams.prototype)]
  ]
}

const junk: ReadonlyArray<readonly [string, unknown]> = [
  ["undefined", undefined],
  ["null", null],
  ["0", 0],
  ["NaN", Number.NaN],
  ["-1e400", Number.NEGATIVE_INFINITY],
  ["{}", {}],
  ["[]", []],
  ["{ nested }", { redirectUri: 42, binding: {}, returnTo: [], lang: 7, state: 1 }],
  ["10 MB string", "x".repeat(10 * 1024 * 1024)],
  // encodeURIComponent throws a URIError on it
  ["a lone surrogate", "\uD800"],
  ...exotic()
]

/** Values of the Effect data types that are callable but are not functions of ours (metrics). */
const isCallableDataType = (f: object): boolean =>
  Object.getOwnPropertySymbols(f).some((symbol) => String(symbol).includes("effect/Metric"))

const isClass = (f: Function): boolean =>
  /^class[\s{]/.test(Function.prototype.toString.call(f)) ||
  // Schema and Context.Tag classes are made by functions that return classes
  (typeof (f as any).ast === "object") || (typeof (f as any).key === "string" && "Service" in f)

interface Totals {
  calls: number
  defects: Array<string>
  hangs: Array<string>
  leaks: Array<string>
}

const totals: Totals = { calls: 0, defects: [], hangs: [], leaks: [] }

const timings: Array<[number, string]> = []

const Services = Layer.mergeAll(
  WeChatOAuth.layer,
  MiniProgram.layer,
  WeChatApi.layer,
  Layer.succeed(TokenCipher.TokenCipher, TokenCipher.identity),
  Layer.orDie(AppToken.layer),
  Layer.orDie(Component.layer(platform)),
  Layer.orDie(
    WeChatApps.layer({ apps: [{ appId: app.appId, appSecret: app.secret }] }, {
      stateSecret: "hostile arguments' state"
    })
  )
).pipe(
  Layer.provideMerge(
    Layer.mergeAll(
      TokenStore.layerMemory,
      AppTokenStore.layerMemory,
      SessionKeyStore.layerMemory,
      SessionStore.layerMemory
    )
  ),
  Layer.provideMerge(WeChatConfig.layer({ appId: app.appId, appSecret: app.secret })),
  Layer.provideMerge(Sandbox.layerHttpClient),
  Layer.provideMerge(Sandbox.layer())
)

const renderings = (u: unknown): ReadonlyArray<string> => {
  try {
    return [String(u), JSON.stringify(u) ?? "", (u as Error)?.stack ?? "", Cause.pretty(Cause.fail(u))]
  } catch (error) {
    return [`<could not render: ${String(error)}>`]
  }
}

/**
 * Runs one call: a thrown error is a defect; an Effect is run (bounded in time) and must not die;
 * a Layer is built and must not die; anything else (a value, an Either) is fine.
 */
const probe = (
  name: string,
  call: () => unknown,
  context: Layer.Layer.Success<typeof Services> extends infer S ? Layer.Layer<S> : never,
  defects: Array<string> = totals.defects
) =>
  Effect.gen(function*() {
    totals.calls++
    const started = performance.now()
    let result: unknown
    try {
      result = call()
    } catch (error) {
      defects.push(`${name}: threw ${String(error).slice(0, 120)}`)
      return
    }
    let effect: Effect.Effect<unknown, unknown, any> | undefined
    if (Effect.isEffect(result)) effect = result
    else if (Layer.isLayer(result)) {
      effect = Effect.scoped(Layer.build(result as Layer.Layer<unknown, unknown, any>))
    }
    if (effect === undefined) return
    const exit = yield* (effect.pipe(
      Effect.scoped,
      Effect.provide(context),
      Effect.timeout("5 seconds"),
      Effect.exit
    ) as Effect.Effect<Exit.Exit<unknown, unknown>>)
    timings.push([performance.now() - started, name])
    if (Exit.isFailure(exit)) {
      if (Cause.isDie(exit.cause)) {
        defects.push(`${name}: died ${Cause.pretty(exit.cause).split("\n")[0].slice(0, 160)}`)
      }
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure) && Cause.isTimeoutException(failure.value)) totals.hangs.push(name)
      for (const text of Option.isSome(failure) ? renderings(failure.value) : []) {
        if (configSecrets.some((secret) => text.includes(secret))) totals.leaks.push(name)
      }
    }
  })

/**
 * Parameters that take an Effect: Effect's own combinators die on a value that is not an Effect, and
 * so do these; they get a real Effect, and junk in every other position.
 */
const effectParameters: Record<string, ReadonlyArray<number>> = {
  "lock.withLock": [1],
  "appToken.withToken": [],
  "component.withAccessToken": [],
  "WeChatHttpClient.withRequestLimits": [0]
}

/** Calls `f` with each junk value in each argument position (the others `undefined`). */
const probeFunction = (
  name: string,
  f: (...args: Array<unknown>) => unknown,
  self: unknown,
  context: Layer.Layer<any>
) =>
  Effect.gen(function*() {
    const positions = Math.max(1, f.length)
    const effects = effectParameters[name] ?? []
    for (let position = 0; position < positions; position++) {
      if (effects.includes(position)) continue
      for (const [label, value] of junk) {
        const args = Array.from(
          { length: positions },
          (_, i) => i === position ? value : effects.includes(i) ? Effect.void : undefined
        )
        yield* probe(`${name}(arg ${position} = ${label})`, () => f.apply(self, args), context, totals.defects)
      }
    }
  })

describe("hostile arguments", () => {
  it.live(
    "every exported function and every service method: no throw, no defect, no hang, no leak",
    () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(Services, scope).pipe(
          Effect.map((ctx) => Layer.succeedContext(ctx))
        )
        let functions = 0
        for (const [moduleName, module] of Object.entries(Core)) {
          for (const [exportName, value] of Object.entries(module as Record<string, unknown>)) {
            if (typeof value !== "function" || isClass(value) || isCallableDataType(value)) continue
            functions++
            yield* probeFunction(`${moduleName}.${exportName}`, value as any, module, context)
          }
        }
        const services = yield* Effect.all({
          oauth: WeChatOAuth.WeChatOAuth,
          miniProgram: MiniProgram.MiniProgram,
          api: WeChatApi.WeChatApi,
          store: TokenStore.TokenStore,
          sessions: SessionStore.SessionStore,
          cipher: TokenCipher.TokenCipher,
          component: Component.Component,
          apps: WeChatApps.WeChatApps,
          appToken: AppToken.AppToken,
          appTokenStore: AppTokenStore.AppTokenStore,
          sessionKeys: SessionKeyStore.SessionKeyStore
        }).pipe(Effect.provide(context))
        const lock = RefreshLock.makeInProcess({ waitTimeout: "100 millis" })
        const instances: Record<string, object> = { ...services, lock }
        for (const [serviceName, service] of Object.entries(instances)) {
          for (const [method, value] of Object.entries(service)) {
            if (typeof value !== "function") continue
            functions++
            yield* probeFunction(`${serviceName}.${method}`, value as any, service, context)
          }
        }
        yield* Scope.close(scope, Exit.void)
        console.log(
          `core hostile arguments: ${functions} functions, ${totals.calls} calls, ${totals.defects.length} defects, ${totals.hangs.length} hangs, ${totals.leaks.length} leaks`
        )
        if (process.env.HOSTILE_DUMP) {
          timings.sort((a, b) => b[0] - a[0])
          require("node:fs").writeFileSync(
            process.env.HOSTILE_DUMP,
            [...totals.defects, "--- slowest", ...timings.slice(0, 40).map(([ms, n]) => `${ms.toFixed(0)} ${n}`)].join(
              "\n"
            )
          )
        }
        assert.isAbove(functions, 50)
        assert.deepStrictEqual(totals.defects, [])
        assert.deepStrictEqual(totals.hangs, [])
        assert.deepStrictEqual(totals.leaks, [])
      }),
    300_000
  )

  it.effect("service methods name the wrong argument in InvalidArgument", () =>
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const any = oauth as unknown as Record<string, (...args: ReadonlyArray<unknown>) => Effect.Effect<unknown, any>>
      const cases: ReadonlyArray<readonly [string, ReadonlyArray<unknown>, string]> = [
        ["handleCallback", [undefined], "callback"],
        ["handleCallback", [42], "callback"],
        ["handleCallback", ["https://app.example.com/cb?code=c&state=s", { binding: 42 }], "binding"],
        ["handleCallback", ["https://app.example.com/cb?code=c&state=s", { expectedState: {} }], "expectedState"],
        ["exchangeCode", [undefined], "code"],
        ["exchangeCode", ["code", { binding: 42 }], "binding"],
        ["exchangeCode", ["code", 42], "options"],
        ["getUser", [undefined], "openid"],
        ["getUser", [42], "openid"],
        ["getUser", ["o".repeat(10_000)], "openid"],
        ["refresh", [null], "openid"],
        ["verifyAccessToken", [{}], "openid"],
        ["getToken", [[]], "openid"],
        ["removeToken", [0], "openid"],
        ["getUserByCode", [undefined], "code"],
        ["authorizeUrl", [undefined], "options"],
        ["authorizeUrl", [{ redirectUri: 42 }], "redirectUri"],
        ["authorizeUrl", [{ redirectUri: "https://a.example/cb", returnTo: 42 }], "returnTo"],
        ["authorizeUrl", [{ redirectUri: "https://a.example/cb", binding: 42 }], "binding"],
        ["authorizeUrl", [{ redirectUri: "https://a.example/cb", state: 42 }], "state"],
        ["authorizeUrl", [{ redirectUri: "https://a.example/cb", scope: 42 }], "scope"],
        ["websiteAuthorizeUrl", [null], "options"],
        // values only JavaScript makes: a Proxy whose traps throw, a revoked Proxy, a hollow URL
        // (a hollow URL is an object without a redirectUri, as options)
        ...exotic().flatMap(([label, value]): ReadonlyArray<readonly [string, ReadonlyArray<unknown>, string]> => [
          ["handleCallback", [value], "callback"],
          ["authorizeUrl", [value], label.startsWith("a hollow") ? "redirectUri" : "options"],
          ["websiteAuthorizeUrl", [value], label.startsWith("a hollow") ? "redirectUri" : "options"],
          ["handleCallback", ["https://app.example.com/cb?code=c&state=s", value], "options"],
          // options read after a valid first argument (a hollow URL is options without fields)
          ...(label.startsWith("a hollow") ? [] : [
            ["getUser", ["o1", value], "options"] as const,
            ["getUserByCode", ["code", value], "options"] as const,
            ["exchangeCode", ["code", value], "options"] as const
          ])
        ])
      ]
      for (const [method, args, argument] of cases) {
        const error = yield* Effect.flip(any[method](...args))
        assert.deepInclude(
          error,
          { _tag: "InvalidArgument", argument },
          `${method}(${typeof args[0] === "string" ? args[0].slice(0, 20) : typeof args[0]})`
        )
      }
      const sandbox = yield* Sandbox.Sandbox
      assert.strictEqual((yield* sandbox.stats).access_token, 0)
    }).pipe(Effect.provide(Services)))

  it("a state never verifies at a time that is not a finite number, and a junk binding never matches", () => {
    const config = Either.getOrThrow(WeChatConfig.makeEither({ appId: app.appId, appSecret: app.secret }))
    const now = 1_700_000_000_000
    const state = Either.getOrThrow(Core.StateToken.makeSync(config, now, { binding: "b" }))
    assert.isTrue(Either.isRight(Core.StateToken.verifySync(config, now, state, { binding: "b" })))
    for (const at of [Number.NaN, Number.NEGATIVE_INFINITY, undefined, "1700000000000"]) {
      const result = Core.StateToken.verifySync(config, at as number, state, { binding: "b" })
      assert.isTrue(Either.isLeft(result) && result.left.reason === "Expired", String(at))
    }
    for (const binding of [undefined, null, 42, {}, ["b"]]) {
      const result = Core.StateToken.verifySync(config, now, state, { binding: binding as string })
      assert.isTrue(Either.isLeft(result) && result.left.reason === "Binding", String(binding))
    }
    assert.notStrictEqual(Core.StateToken.bindingHash(config, 42 as any), Core.StateToken.bindingHash(config, "42"))
    assert.isFalse(Core.StateToken.equals(undefined as any, undefined as any))
    assert.strictEqual(Duration.toMillis(config.stateTtl), 600_000)
    assert.notInclude(JSON.stringify(Redacted.make(app.secret)), app.secret)
  })
})
