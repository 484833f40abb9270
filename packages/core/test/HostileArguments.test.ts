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
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
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
  RetryPolicy,
  SessionKeyStore,
  SessionStore,
  TokenCipher,
  StateToken,
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

  /**
   * A duration's `[seconds, nanos]` pair (Effect's `DurationInput`) that counts no finite number of
   * nanoseconds: `BigInt` refused the product of `[1e300, 0]` (Infinity) with a RangeError, thrown
   * out of the synchronous constructors and a defect of the others. Each is put in every duration
   * option field of the functions that read one; each must be refused with the function's typed
   * error (or be its documented default), never a throw or a defect.
   */
  const notFinitePairs: ReadonlyArray<readonly [string, unknown]> = [
    ["[1e300, 0]", [1e300, 0]],
    ["[-1e300, 0]", [-1e300, 0]],
    ["[Number.MAX_VALUE, 0]", [Number.MAX_VALUE, 0]],
    ["[Infinity, 0]", [Number.POSITIVE_INFINITY, 0]],
    ["[1, Infinity]", [1, Number.POSITIVE_INFINITY]],
    ["[NaN, 0]", [Number.NaN, 0]],
    ["[0, -Infinity]", [0, Number.NEGATIVE_INFINITY]],
    // a finite Duration whose milliseconds are Infinity
    ["10n ** 400n nanoseconds", BigInt(10) ** BigInt(400)]
  ]

  /** What a call came to, as text: a throw, a defect, an Either's side, an Effect's or Layer's exit. */
  const outcomeOf = (call: () => unknown, context: Layer.Layer<any>) =>
    Effect.gen(function*() {
      let result: unknown
      try {
        result = call()
      } catch (error) {
        return `threw ${String(error).slice(0, 100)}`
      }
      const tagOf = (error: unknown) =>
        ConfigError.isConfigError(error) ? "ConfigError" : String((error as { _tag?: unknown })?._tag)
      if (Either.isEither(result)) return Either.isLeft(result) ? `Left ${tagOf(result.left)}` : "Right"
      const effect = Effect.isEffect(result)
        ? result
        : Layer.isLayer(result)
        ? Effect.scoped(Layer.build(result as Layer.Layer<unknown, unknown, any>))
        : undefined
      if (effect === undefined) return "a value"
      const exit = yield* (effect.pipe(
        Effect.scoped,
        Effect.provide(context),
        Effect.timeout("5 seconds"),
        Effect.exit
      ) as Effect.Effect<Exit.Exit<unknown, unknown>>)
      if (Exit.isSuccess(exit)) return "Success"
      if (Cause.isDie(exit.cause)) return `died ${Cause.pretty(exit.cause).split("\n")[0].slice(0, 100)}`
      return `Fail ${Option.match(Cause.failureOption(exit.cause), { onNone: () => "?", onSome: tagOf })}`
    })

  it.live(
    "a duration pair that counts no finite number of nanoseconds is refused, never a throw",
    () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(Services, scope).pipe(
          Effect.map((ctx) => Layer.succeedContext(ctx))
        )
        const direct = { appId: app.appId, appSecret: app.secret }
        const registry = { stateSecret: "hostile arguments' state" }
        const config = Either.getOrThrow(WeChatConfig.makeEither(direct))
        const resolve = (row?: Record<string, unknown>) => () => Effect.succeed(row as never)
        const cases: ReadonlyArray<readonly [string, (value: unknown) => unknown, string]> = [
          [
            "RetryPolicy.make({ codeMemoTtl })",
            (v) => RetryPolicy.make({ codeMemoTtl: v as never }),
            "Left ConfigError"
          ],
          [
            "RetryPolicy.make({ refreshSkew })",
            (v) => RetryPolicy.make({ refreshSkew: v as never }),
            "Left ConfigError"
          ],
          [
            "WeChatConfig.makeEither({ stateTtl })",
            (v) => WeChatConfig.makeEither({ ...direct, stateTtl: v as never }),
            "Left ConfigError"
          ],
          [
            "WeChatConfig.layer({ stateTtl })",
            (v) => WeChatConfig.layer({ ...direct, stateTtl: v as never }),
            "Fail ConfigError"
          ],
          // anything that is not a duration is the default wait (30 seconds)
          [
            "RefreshLock.makeInProcess({ waitTimeout })",
            (v) => RefreshLock.makeInProcess({ waitTimeout: v as never }).withLock("k", Effect.void),
            "Success"
          ],
          ["StateToken.make({ ttl })", (v) => StateToken.make({ ttl: v as never }), "Fail InvalidArgument"],
          [
            "StateToken.makeSync(a config whose stateTtl is it)",
            (v) => StateToken.makeSync({ ...config, stateTtl: v as never }, Date.now(), {}),
            "Left InvalidArgument"
          ],
          [
            "AppToken.layerWith({ refreshWithin })",
            (v) => AppToken.layerWith({ refreshWithin: v as never }),
            "Fail ConfigError"
          ],
          [
            "AppToken.layerWith({ sourceTimeout })",
            (v) => AppToken.layerWith({ sourceTimeout: v as never }),
            "Fail ConfigError"
          ],
          ...(["ttl", "unknownTtl", "resolveTimeout"] as const).map((field) =>
            [
              `WeChatApps.make({ resolve, ${field} })`,
              (v: unknown) => WeChatApps.make({ resolve: resolve(), [field]: v as never }, registry),
              "Fail ConfigError"
            ] as const
          ),
          [
            "WeChatApps.make({ apps }, { stateTtl })",
            (v) => WeChatApps.make({ apps: [] }, { ...registry, stateTtl: v as never }),
            "Fail ConfigError"
          ],
          [
            "WeChatApps.layer({ apps }, { stateTtl })",
            (v) => WeChatApps.layer({ apps: [] }, { ...registry, stateTtl: v as never }),
            "Fail ConfigError"
          ],
          [
            "a resolver's row with it as stateTtl",
            (v) =>
              WeChatApps.make({ resolve: resolve({ ...direct, stateTtl: v }) }, registry).pipe(
                Effect.flatMap((apps) => apps.oauth(app.appId))
              ),
            // a row the registry cannot use
            "Fail AppResolveError"
          ],
          ...(["refreshSkew", "codeMemoTtl"] as const).map((field) =>
            [
              `WeChatOAuth.layerWith({ policy: { ${field} } })`,
              (v: unknown) => WeChatOAuth.layerWith({ policy: { [field]: v as never } }),
              "Fail ConfigError"
            ] as const
          ),
          [
            "WeChatOAuth.makeForComponent(appId, { stateTtl })",
            (v) => WeChatOAuth.makeForComponent("wxanyapp", { stateTtl: v as never }),
            "Fail ConfigError"
          ],
          // anything that is not a duration of at most 365 days is the default 30 days
          ["SessionKeyStore.makeMemory({ ttl })", (v) => SessionKeyStore.makeMemory({ ttl: v as never }), "Success"]
        ]
        const wrong: Array<string> = []
        for (const [label, value] of notFinitePairs) {
          for (const [name, call, expected] of cases) {
            const outcome = yield* outcomeOf(() => call(value), context)
            if (outcome !== expected) {
              wrong.push(`${name} with ${label}: ${outcome}, expected ${expected}`)
            }
          }
        }
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual(wrong, [])
      }),
    120_000
  )

  it.live("a Config that throws while loading is a ConfigError of the layer, never a defect", () =>
    Effect.gen(function*() {
      const trap = (): never => {
        throw new Error("trap: a secret in a message")
      }
      const layers: ReadonlyArray<readonly [string, Layer.Layer<any, unknown>, string]> = [
        [
          "WeChatConfig.layerConfig({ appId: Config.sync(throws) })",
          WeChatConfig.layerConfig({ appId: Config.sync(trap), appSecret: Config.succeed(app.secret) }),
          "WeChatConfig"
        ],
        [
          "WeChatConfig.layerConfig({ appSecret: Config.map(throws) })",
          WeChatConfig.layerConfig({
            appId: Config.succeed(app.appId),
            appSecret: Config.map(Config.succeed(app.secret), trap)
          }),
          "WeChatConfig"
        ],
        ["TokenCipher.layerConfig(Config.sync(throws))", TokenCipher.layerConfig(Config.sync(trap)), "cipherKeys"],
        [
          "Component.layerConfig({ token: Config.sync(throws) })",
          Component.layerConfig({
            componentAppId: Config.succeed(platform.componentAppId),
            componentAppSecret: Config.succeed(platform.componentAppSecret),
            token: Config.sync(trap),
            encodingAesKey: Config.succeed(platform.encodingAesKey)
          }).pipe(
            Layer.provide(
              Layer.merge(AppTokenStore.layerMemory, Layer.provide(Sandbox.layerHttpClient, Sandbox.layer()))
            )
          ),
          "Component"
        ]
      ]
      for (const [name, layer, path] of layers) {
        const exit = yield* Effect.exit(Effect.scoped(Layer.build(layer)))
        assert.isTrue(Exit.isFailure(exit) && !Cause.isDie(exit.cause), `${name}: not a defect`)
        const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        assert.isTrue(Option.isSome(error) && ConfigError.isConfigError(error.value), `${name}: a ConfigError`)
        const text = String(Option.getOrUndefined(error))
        assert.include(text, path, name)
        assert.include(text, "cannot be loaded", name)
        // the thrown message is not quoted: a caller's may hold a secret
        assert.notInclude(text, "trap", name)
      }
      // a Config's own failure is as it was: a missing variable is named
      const missing = yield* Effect.flip(
        Layer.build(TokenCipher.layerConfig(Config.redacted("WXAUTH_NO_SUCH_VARIABLE")))
      )
        .pipe(Effect.scoped)
      assert.include(String(missing), "WXAUTH_NO_SUCH_VARIABLE")
      assert.include(String(missing), "Missing data")
    }))
})
