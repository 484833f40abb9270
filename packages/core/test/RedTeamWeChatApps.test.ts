/**
 * Red team: attacks on the `WeChatApps` registry: memory under a flood of unknown appids (a list and
 * a resolver), the resolver asked once per unknown appid however many callers, random and truncated
 * states at the shared callback (never a lookup, never a defect), and every service method called
 * with junk and exotic JavaScript values (the reflection suite does not reach the registry's
 * service).
 */
import { assert, describe, it } from "@effect/vitest"
import { AppTokenStore, TokenStore, WeChatApps } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import { forEachInChunks } from "@wxauth/test-support"
import * as Cause from "effect/Cause"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Crypto from "node:crypto"
import * as V8 from "node:v8"
import * as Vm from "node:vm"

V8.setFlagsFromString("--expose-gc")
const gc: () => void = Vm.runInNewContext("gc")

const redirectUri = "https://apps.example.com/wechat/callback"
const stateSecret = "the registry's state secret, long enough"
const a = Sandbox.defaultApps.officialAccount
const mini = Sandbox.defaultApps.miniProgram
const direct = (app: Sandbox.SandboxApp): WeChatApps.DirectApp => ({ appId: app.appId, appSecret: app.secret })

const registry = <E, R>(apps: WeChatApps.ListOptions | WeChatApps.ResolveOptions<E, R>) =>
  (WeChatApps.layer(apps as WeChatApps.ListOptions, { stateSecret }) as Layer.Layer<
    WeChatApps.WeChatApps,
    ConfigError.ConfigError,
    any
  >).pipe(
    Layer.provideMerge(Layer.merge(TokenStore.layerMemory, AppTokenStore.layerMemory)),
    Layer.provide(Sandbox.layerHttpClient),
    Layer.provideMerge(Sandbox.layer())
  ) as Layer.Layer<WeChatApps.WeChatApps | Sandbox.Sandbox, ConfigError.ConfigError>

const heapAfterGc = Effect.sync(() => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
})

const unknownIds = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => `wxunknown${String(from + i).padStart(9, "0")}`)

/**
 * Asks the registry for `ids`, 200 at a time; every answer must be UnknownApp. The registry answers
 * from memory, with no I/O: chunks with a turn of the event loop between them keep vitest's worker
 * answering (see test-support's EventLoop.ts).
 */
const flood = (apps: WeChatApps.WeChatAppsShape, ids: ReadonlyArray<string>) =>
  forEachInChunks(
    ids,
    (id) =>
      Effect.flatMap(Effect.flip(apps.oauth(id)), (error) =>
        error._tag === "UnknownApp" ? Effect.void : Effect.dieMessage(`${id}: ${error._tag}`)),
    { concurrency: 200 }
  )

const MB = 1024 * 1024

/** The least growth of the heap (after a full collection) over `rounds` runs of `round`. */
const leastGrowth = <E>(rounds: number, round: (index: number) => Effect.Effect<void, E>) =>
  Effect.gen(function*() {
    let least = Infinity
    let before = yield* heapAfterGc
    for (let index = 0; index < rounds; index++) {
      yield* round(index)
      const after = yield* heapAfterGc
      least = Math.min(least, after - before)
      before = after
    }
    return least
  })

describe("red team: WeChatApps under a flood of unknown appids", () => {
  it.live("a list: 60,000 unknown appids (three rounds) keep nothing", () =>
    Effect.gen(function*() {
      const apps = yield* WeChatApps.WeChatApps
      yield* flood(apps, unknownIds(0, 5_000))
      // the least growth of three rounds: a loaded machine's noise lands in one, a leak in each
      const grown = yield* leastGrowth(3, (round) => flood(apps, unknownIds(5_000 + round * 20_000, 20_000)))
      assert.isBelow(grown, 8 * MB / 3, `heap grew ${(grown / MB).toFixed(1)} MB a round of 20,000`)
    }).pipe(Effect.provide(registry({ apps: [direct(a), direct(mini)] }))), 120_000)

  it.live(
    "a resolver: memory stops growing at the capacity (three rounds of 10,000 more); one resolution per appid for many callers",
    () =>
      Effect.gen(function*() {
        const calls = new Map<string, number>()
        const layer = registry({
          capacity: 1_000,
          resolve: (appId: string) =>
            Effect.sync(() => {
              calls.set(appId, (calls.get(appId) ?? 0) + 1)
              return appId === a.appId ? direct(a) : undefined
            })
        })
        yield* Effect.gen(function*() {
          const apps = yield* WeChatApps.WeChatApps
          // 500 callers of 5 unknown appids at once: 5 resolutions
          yield* flood(apps, unknownIds(0, 5).flatMap((id) => Array.from({ length: 100 }, () => id)))
          assert.deepStrictEqual([...calls.values()], [1, 1, 1, 1, 1])
          yield* flood(apps, unknownIds(10, 5_000))
          const grown = yield* leastGrowth(3, (round) => flood(apps, unknownIds(10_000 + round * 10_000, 10_000)))
          assert.isBelow(grown, 3 * MB, `heap grew ${(grown / MB).toFixed(1)} MB a round of 10,000 past the capacity`)
          // the known app still works
          yield* apps.authorizeUrl(a.appId, { redirectUri })
        }).pipe(Effect.provide(layer))
      }),
    120_000
  )
})

describe("red team: what a resolver registry keeps of an unknown appid", () => {
  it.live(
    "10,000 unknown appids through authorizeUrl (the capacity) take less than 15 MB of heap",
    () =>
      Effect.gen(function*() {
        const layer = registry({
          capacity: 10_000,
          resolve: (appId: string) => Effect.succeed(appId === a.appId ? direct(a) : undefined)
        })
        yield* Effect.gen(function*() {
          const apps = yield* WeChatApps.WeChatApps
          const login = (appId: string) =>
            apps.authorizeUrl(appId, {
              redirectUri,
              scope: "snsapi_userinfo",
              binding: "browser-cookie-value-0123456789"
            })
          yield* login(a.appId)
          yield* forEachInChunks(unknownIds(0, 100), (id) => Effect.flip(login(id)), { concurrency: 100 })
          const before = yield* heapAfterGc
          // GET /login/:appId with made-up appids: each answer is kept for unknownTtl
          yield* forEachInChunks(
            unknownIds(100, 10_000),
            (id) =>
              Effect.flatMap(
                Effect.flip(login(id)),
                (error) => error._tag === "UnknownApp" ? Effect.void : Effect.dieMessage(`${id}: ${error._tag}`)
              ),
            { concurrency: 200 }
          )
          const grown = (yield* heapAfterGc) - before
          // before, each kept its UnknownApp (with its captured stack), the lookup's Cause and Deferred:
          // 42 MB for 10,000 (84 MB at the capacity's 10,000 and beyond)
          assert.isBelow(grown, 15 * MB, `heap grew ${(grown / MB).toFixed(1)} MB for 10,000 unknown appids`)
          // and the known app still works
          yield* login(a.appId)
        }).pipe(Effect.provide(layer))
      }),
    120_000
  )
})

describe("red team: WeChatApps while the resolver fails", () => {
  class DatabaseDown {
    readonly _tag = "DatabaseDown"
  }
  /** Asks the registry for `ids`, `concurrency` at a time; every answer must be the resolver's failure. */
  const failing = (apps: WeChatApps.WeChatAppsShape, ids: ReadonlyArray<string>, concurrency = 200) =>
    forEachInChunks(
      ids,
      (id) =>
        Effect.flatMap(Effect.flip(apps.oauth(id)), (error) =>
          error._tag === "AppResolveError" ? Effect.void : Effect.dieMessage(`${id}: ${error._tag}`)),
      { concurrency }
    )

  // A failure is not remembered (it is invalidated at once): Effect's Cache, which the registry used,
  // still kept a note of each lookup in its own list, dropped only when the cache was over its
  // capacity, which failures never fill: about 100 bytes a failed request, for ever (2 MB a round of
  // 20,000). A leak grows the heap in every round; the noise of a loaded machine (code optimised late,
  // by a compiler thread that waited for a core) lands in one: the least growth of three rounds is
  // the leak's, and must stay below 1 MB.
  it.live(
    "failed resolutions keep nothing: rounds of 20,000 distinct appids, then of one appid asked 20,000 times in turn",
    () =>
      Effect.gen(function*() {
        const layer = registry({ resolve: () => Effect.fail(new DatabaseDown()) })
        yield* Effect.gen(function*() {
          const apps = yield* WeChatApps.WeChatApps
          yield* failing(apps, unknownIds(0, 5_000))
          const distinct = yield* leastGrowth(3, (round) => failing(apps, unknownIds(5_000 + round * 20_000, 20_000)))
          // one at a time: each call is a resolution of its own (concurrent ones would share one)
          const same = yield* leastGrowth(
            3,
            () => failing(apps, Array.from({ length: 20_000 }, () => "wxdatabasedown0001"), 1)
          )
          assert.isBelow(distinct, 1 * MB, `distinct appids: heap grew ${(distinct / MB).toFixed(1)} MB a round`)
          assert.isBelow(same, 1 * MB, `one appid: heap grew ${(same / MB).toFixed(1)} MB a round`)
        }).pipe(Effect.provide(layer))
      }),
    180_000
  )
})

describe("red team: the shared callback with states it never made", () => {
  it.effect(
    "10,000 random, truncated or padded states: StateMismatch or UnknownApp, no lookup, no defect",
    () =>
      Effect.gen(function*() {
        const resolved: Array<string> = []
        const layer = registry({
          resolve: (appId: string) =>
            Effect.sync(() => (resolved.push(appId), appId === a.appId ? direct(a) : undefined))
        })
        yield* Effect.gen(function*() {
          const apps = yield* WeChatApps.WeChatApps
          const { state } = yield* apps.authorizeUrl(a.appId, { redirectUri })
          const lookupsBefore = resolved.length
          const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
          const random = (n: number) =>
            Array.from(Crypto.randomBytes(n), (byte) => alphabet[byte % alphabet.length]).join("")
          const states: Array<string> = []
          for (let i = 0; i < 9_000; i++) states.push(random(1 + (i % 140)))
          for (let i = 1; i < state.length; i++) states.push(state.slice(0, i), state.slice(i))
          for (let i = 0; i < state.length && states.length < 10_000; i++) {
            const flipped = state.slice(0, i) + (state[i] === "A" ? "B" : "A") + state.slice(i + 1)
            states.push(flipped, `${state}${random(1 + (i % 5))}`)
          }
          const problems: Array<string> = []
          yield* Effect.forEach(states, (s) =>
            Effect.map(Effect.exit(apps.handleCallback(`${redirectUri}?code=c&state=${s}`)), (exit) => {
              if (Exit.isSuccess(exit)) problems.push(`accepted ${s}`)
              else if (Cause.isDie(exit.cause)) problems.push(`defect for ${s}`)
              else {
                const error = Option.getOrUndefined(Cause.failureOption(exit.cause))
                if (error?._tag !== "StateMismatch" && error?._tag !== "UnknownApp") {
                  problems.push(`${error?._tag} for ${s}`)
                }
              }
            }), { concurrency: 50, discard: true })
          assert.deepStrictEqual(problems.slice(0, 10), [])
          assert.strictEqual(resolved.length, lookupsBefore, "a forged state costs no lookup")
          const sandbox = yield* Sandbox.Sandbox
          assert.strictEqual((yield* sandbox.stats).access_token, 0, "no code was sent to WeChat")
        }).pipe(Effect.provide(layer))
      }),
    60_000
  )
})

const trap = () => {
  throw new Error("trap")
}

const junk: ReadonlyArray<readonly [string, unknown]> = [
  ["undefined", undefined],
  ["null", null],
  ["0", 0],
  ["NaN", Number.NaN],
  ["{}", {}],
  ["[]", []],
  ["{ nested }", { redirectUri: 42, binding: {}, returnTo: [], state: 1, scope: 7 }],
  ["10 MB string", "x".repeat(10 * 1024 * 1024)],
  ["Symbol", Symbol("x")],
  ["BigInt", 10n],
  ["function", () => "x"],
  ["Object.create(null)", Object.create(null)],
  ["throwing toString", { toString: trap, valueOf: trap }]
]

const exotic = (): ReadonlyArray<readonly [string, unknown]> => {
  const revoked = Proxy.revocable({}, {})
  revoked.revoke()
  return [
    ["throwing getters", new Proxy({}, { get: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap })],
    ["revoked Proxy", revoked.proxy],
    ["a URL whose href throws", Object.create(URL.prototype)]
  ]
}

/** Every method of the service with each value in each of its first two arguments; the defects. */
const probeService = (values: ReadonlyArray<readonly [string, unknown]>) =>
  Effect.gen(function*() {
    const apps = yield* WeChatApps.WeChatApps
    const methods = Object.entries(apps).filter(([, f]) => typeof f === "function") as ReadonlyArray<
      readonly [string, (...args: ReadonlyArray<unknown>) => unknown]
    >
    assert.isAtLeast(methods.length, 6)
    const defects: Array<string> = []
    let calls = 0
    for (const [name, method] of methods) {
      for (let position = 0; position < 2; position++) {
        for (const [label, value] of values) {
          const args = position === 0 ? [value, { redirectUri }] : [a.appId, value]
          calls++
          let result: unknown
          try {
            result = method(...args)
          } catch (error) {
            defects.push(`${name}(arg ${position} = ${label}): threw ${String(error).slice(0, 80)}`)
            continue
          }
          if (!Effect.isEffect(result)) {
            defects.push(`${name}: not an Effect`)
            continue
          }
          const exit = yield* Effect.exit(Effect.timeout(result as Effect.Effect<unknown, unknown>, "5 seconds"))
          if (Exit.isFailure(exit) && Cause.isDie(exit.cause)) {
            defects.push(
              `${name}(arg ${position} = ${label}): died ${Cause.pretty(exit.cause).split("\n")[0].slice(0, 80)}`
            )
          }
          const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
          if (Option.isSome(failure) && Cause.isTimeoutException(failure.value)) {
            defects.push(`${name}(arg ${position} = ${label}): hung`)
          }
        }
      }
    }
    console.log(`red team WeChatApps service: ${methods.length} methods, ${calls} calls, ${defects.length} defects`)
    return defects
  })

describe("red team: junk and exotic arguments to the registry's service", () => {
  it.effect(
    "every method, every argument, junk of every type: a typed error, never a throw, a defect or a hang",
    () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* probeService(junk), [])
      }).pipe(Effect.provide(registry({ apps: [direct(a), direct(mini)] }))),
    60_000
  )

  // RED TEAM: finding 5, fixed (the registry reads a caller's options and callback once, guarded)
  it.effect(
    "throwing getters, revoked Proxies and a hollow URL: a typed error, never a defect",
    () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* probeService(exotic()), [])
      }).pipe(Effect.provide(registry({ apps: [direct(a), direct(mini)] }))),
    60_000
  )
})
