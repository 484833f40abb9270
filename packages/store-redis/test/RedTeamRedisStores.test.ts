/**
 * Red team: JavaScript callers of the token store, the app token store, the session key store, the
 * refresh lock and the session store's layer, against a real Redis. Options of the wrong kind (a
 * Proxy whose traps throw, a revoked Proxy, a throwing `toString`, `NaN`, `Infinity`, `"banana"`
 * where a duration goes, an object where the password goes) are an `InvalidArgument` naming the
 * option, from `make` and from every layer; ids and values of the wrong kind given to the
 * operations are the operation's typed error. Never a throw, a defect, a hang, or (ioredis given a
 * password that is not a string) an uncaught exception that ends the process. Clients of the wrong
 * kind too: one that rejects with an odd error is the operation's typed error, and one the near
 * cache cannot follow is an `InvalidArgument` naming `redis`.
 */
import { afterAll, assert, it } from "@effect/vitest"
import { OAuthToken, TokenStore, WeChatError } from "@wxauth/core"
import {
  defectOf,
  exoticArguments,
  makeAppToken,
  makeToken,
  randomAppId,
  randomOpenId,
  randomSessionKey
} from "@wxauth/core/testing"
import {
  RedisAppTokenStore,
  RedisRefreshLock,
  RedisSessionKeyStore,
  RedisSessionStore,
  RedisTokenStore
} from "@wxauth/store-redis"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { Redis } from "ioredis"
import {
  cleanup,
  describeRedis,
  keysUnder,
  makeAdmin,
  quietClient,
  randomPrefix,
  redisCall,
  redisUrl
} from "./utils.js"

type Bad = ReadonlyArray<readonly [label: string, value: unknown]>

const exotic = (): Bad => exoticArguments().filter(([label]) => label !== "Object.create(null)")

/** Values that are no duration, or none a store can wait for. */
const badDurations = (): Bad => [
  ...exoticArguments(),
  ["NaN", Number.NaN],
  ["Infinity", Number.POSITIVE_INFINITY],
  ["-1", -1],
  ["0", 0],
  ["'banana'", "banana"],
  ["an array", ["2 seconds"]]
]

const badText = (): Bad => [...exotic(), ["a number", 42], ["an array", ["a"]], ["an object", {}]]

/**
 * Per option, the values that must be an InvalidArgument naming it (every `make` and layer checks
 * every option of the package: one is not read where it does not apply, but is not let through).
 * A command's deadline is a Node timer: past 24 days it would fire after 1 ms.
 */
const cases = (): ReadonlyArray<readonly [option: string, bad: Bad]> => [
  ["keyPrefix", [...badText(), ["257 characters", "p".repeat(257)]]],
  ["commandTimeout", [...badDurations(), ["25 days", "25 days"], ["24 days and 1 ms", 24 * 86_400_000 + 1]]],
  ["connectTimeout", [...badDurations(), ["25 days", "25 days"], ["24 days and 1 ms", 24 * 86_400_000 + 1]]],
  ["lockTtl", badDurations()],
  ["waitTimeout", badDurations()],
  ["poll", [...exotic(), ["'banana'", "banana"], ["an object", {}]]],
  ["ttl", badDurations()],
  ["url", badText()],
  ["password", badText()]
]

const makers = (client: Redis): Record<string, (options: never) => Effect.Effect<unknown, unknown>> => ({
  token: (options) => RedisTokenStore.make(client, options),
  tokenScoped: (options) => Effect.scoped(RedisTokenStore.makeScoped(client, options)),
  app: (options) => RedisAppTokenStore.make(client, options),
  sessionKey: (options) => RedisSessionKeyStore.make(client, options),
  lock: (options) => RedisRefreshLock.make(client, options)
})

/** Each layer that opens its own connection, built (and released). */
const layers: Record<string, (options: never) => Effect.Effect<unknown, unknown>> = {
  token: (options) => Effect.scoped(Layer.build(RedisTokenStore.layer(options))),
  app: (options) => Effect.scoped(Layer.build(RedisAppTokenStore.layer(options))),
  sessionKey: (options) => Effect.scoped(Layer.build(RedisSessionKeyStore.layer(options))),
  lock: (options) => Effect.scoped(Layer.build(RedisRefreshLock.layer(options))),
  session: (options) => Effect.scoped(Layer.build(RedisSessionStore.layer(options)))
}

/** What building gives: `InvalidArgument <argument>`, or how else it ended. */
const outcome = (build: () => Effect.Effect<unknown, unknown>): Effect.Effect<string> =>
  Effect.gen(function*() {
    let effect: Effect.Effect<unknown, unknown>
    try {
      effect = build()
    } catch (error) {
      return `threw ${String(error).slice(0, 80)}`
    }
    const exit = yield* Effect.exit(Effect.timeout(effect, "5 seconds"))
    if (Exit.isSuccess(exit)) return "built"
    if (Cause.isDie(exit.cause)) return `died ${Cause.pretty(exit.cause).split("\n")[0].slice(0, 80)}`
    const failure = Cause.failureOption(exit.cause)
    if (Option.isNone(failure)) return "interrupted"
    const error = failure.value as { readonly _tag?: unknown; readonly argument?: unknown }
    return error._tag === "InvalidArgument"
      ? `InvalidArgument ${String(error.argument)}`
      : `failed ${String(error._tag)}`
  })

describeRedis("red team: the Redis stores and lock", () => {
  const prefix = randomPrefix()
  const admin = makeAdmin()
  afterAll(async () => {
    await cleanup(admin, prefix)
    await admin.quit()
  })

  it.scoped(
    "an option of the wrong kind is an InvalidArgument naming it, from make and from every layer",
    () =>
      Effect.gen(function*() {
        const client = yield* quietClient(redisUrl, { lazyConnect: true })
        const make = makers(client)
        const wrong: Array<string> = []
        for (const [option, bad] of cases()) {
          for (const [label, value] of bad) {
            const options = { url: redisUrl, [option]: value } as never
            const builds: Array<readonly [string, () => Effect.Effect<unknown, unknown>]> = [
              ...Object.entries(make).map(([name, build]) => [`${name}`, () => build(options)] as const),
              ...Object.entries(layers).map((
                [name, layer]
              ) => [`${name}.layer`, () => layer(options)] as const)
            ]
            for (const [name, build] of builds) {
              const got = yield* outcome(build)
              if (got !== `InvalidArgument ${option}`) wrong.push(`${name}({ ${option}: ${label} }): ${got}`)
            }
          }
        }
        assert.deepStrictEqual(wrong, [])
      }),
    120_000
  )

  it.scoped(
    "options that are not an object, or cannot be read, and a redis that is no client: InvalidArgument",
    () =>
      Effect.gen(function*() {
        const client = yield* quietClient(redisUrl, { lazyConnect: true })
        const make = makers(client)
        const wrong: Array<string> = []
        const unreadable = exotic().filter(([label]) =>
          !["throwing toString", "throwing getPrototypeOf"].includes(label)
        )
        for (const [label, value] of [...unreadable, ["'banana'", "banana"], ["an array", []]] as const) {
          for (const [name, build] of Object.entries(make)) {
            const got = yield* outcome(() => build(value as never))
            if (got !== "InvalidArgument options") wrong.push(`${name}(options: ${label}): ${got}`)
          }
          for (const [name, layer] of Object.entries(layers)) {
            const got = yield* outcome(() => layer(value as never))
            if (got !== "InvalidArgument options") wrong.push(`${name}.layer(${label}): ${got}`)
          }
          for (
            const [name, build] of [
              ["token", () => RedisTokenStore.make(value as never)],
              ["app", () => RedisAppTokenStore.make(value as never)],
              ["sessionKey", () => RedisSessionKeyStore.make(value as never)],
              ["lock", () => RedisRefreshLock.make(value as never)],
              ["session", () => RedisSessionStore.make(value as never)]
            ] as const
          ) {
            const got = yield* outcome(build)
            if (got !== "InvalidArgument redis") wrong.push(`${name}.make(redis: ${label}): ${got}`)
          }
        }
        assert.deepStrictEqual(wrong, [])
      }),
    60_000
  )

  it.scoped(
    "ids and values of the wrong kind: the operation's typed error, never a throw or a defect",
    () =>
      Effect.gen(function*() {
        const client = yield* quietClient(redisUrl)
        const near = yield* RedisTokenStore.makeScoped(client, { keyPrefix: prefix })
        const plain = yield* RedisTokenStore.make(client, { keyPrefix: prefix })
        const sessionKeys = yield* RedisSessionKeyStore.make(client, { keyPrefix: prefix })
        const lock = yield* RedisRefreshLock.make(client, { keyPrefix: prefix })
        const token = yield* makeToken()
        const memo = { exchangedAt: 0, expiresAt: Number.MAX_SAFE_INTEGER, token, binding: undefined } as never
        const wrong: Array<string> = []
        for (const [label, value] of [...exoticArguments(), ["a number", 42], ["null", null]] as const) {
          const v = value as never
          const calls: ReadonlyArray<readonly [string, string, () => unknown]> = [
            ["near.get(appId)", "TokenStoreError", () => near.get(v, "o")],
            ["near.get(openid)", "TokenStoreError", () => near.get("wx", v)],
            ["plain.get(openid)", "TokenStoreError", () => plain.get("wx", v)],
            ["near.set(appId)", "TokenStoreError", () => near.set(v, token)],
            ["near.set(token)", "TokenStoreError", () => near.set("wx", v)],
            ["near.remove(appId)", "TokenStoreError", () => near.remove(v, "o")],
            ["near.remove(openid)", "TokenStoreError", () => near.remove("wx", v)],
            ["near.rememberCode(appId)", "TokenStoreError", () => near.rememberCode(v, "h", memo)],
            ["near.rememberCode(codeHash)", "TokenStoreError", () => near.rememberCode("wx", v, memo)],
            ["near.rememberCode(memo)", "TokenStoreError", () => near.rememberCode("wx", "h", v)],
            ["near.recallCode(appId)", "TokenStoreError", () => near.recallCode(v, "h")],
            ["near.recallCode(codeHash)", "TokenStoreError", () => near.recallCode("wx", v)],
            ["sessionKeys.set(openid)", "TokenStoreError", () => sessionKeys.set("wx", v, Redacted.make("k"))],
            ["sessionKeys.set(sessionKey)", "TokenStoreError", () => sessionKeys.set("wx", "o", v)],
            ["lock.withLock(key)", "RefreshLockTimeout", () => lock.withLock(v, Effect.void)]
          ]
          for (const [name, tag, call] of calls) {
            const defect = yield* defectOf(call, "5 seconds")
            if (defect !== undefined) {
              wrong.push(`${name}(${label}): ${defect}`)
              continue
            }
            const exit = yield* Effect.exit(call() as Effect.Effect<unknown, { readonly _tag: string }>)
            if (Exit.isSuccess(exit)) wrong.push(`${name}(${label}): succeeded`)
            else {
              const failure = Cause.failureOption(exit.cause)
              if (Option.isNone(failure) || failure.value._tag !== tag) {
                wrong.push(`${name}(${label}): ${Option.isSome(failure) ? failure.value._tag : "no failure"}`)
              }
            }
          }
        }
        assert.deepStrictEqual(wrong, [])
        assert.deepStrictEqual(yield* Effect.promise(() => keysUnder(admin, prefix)), [], "nothing was written")
      }),
    120_000
  )

  it.scoped("a session key of an openid with a lone surrogate is refused (core's rule of a store's ids), typed", () =>
    Effect.gen(function*() {
      const client = yield* quietClient(redisUrl)
      const store = yield* RedisSessionKeyStore.make(client, { keyPrefix: prefix })
      const appId = randomAppId()
      const openid = randomOpenId()
      for (const other of [`${openid}\uD800`, `${openid}\uD801`]) {
        assert.strictEqual(
          (yield* Effect.flip(store.set(appId, other, Redacted.make("first-key"))))._tag,
          "TokenStoreError"
        )
        assert.strictEqual((yield* Effect.flip(store.get(appId, other)))._tag, "TokenStoreError")
      }
      // the keys of such ids stay apart all the same (URI-encoded)
      assert.notStrictEqual(
        RedisSessionKeyStore.sessionKeyKey(appId, `${openid}\uD800`),
        RedisSessionKeyStore.sessionKeyKey(appId, `${openid}\uD801`)
      )
    }))

  it.scoped("a stored obtainedAt that is no time (inf, 1e400, nan, past 2^53) does not pin the key: a new token replaces it", () =>
    Effect.gen(function*() {
      const client = yield* quietClient(redisUrl)
      const tokens = yield* RedisTokenStore.make(client, { keyPrefix: prefix })
      const appTokens = yield* RedisAppTokenStore.make(client, { keyPrefix: prefix })
      const kept: Array<string> = []
      for (const o of ["inf", "1e400", "nan", "9460800000000000"]) {
        // another version's (or a hand's) hash: the token it holds no longer decodes
        const appId = randomAppId()
        const token = yield* makeToken()
        const key = RedisTokenStore.tokenKey(appId, token.openid, prefix)
        yield* Effect.promise(() => admin.hset(key, "o", o, "v", "not a token"))
        yield* tokens.set(appId, token)
        const got = yield* Effect.either(tokens.get(appId, token.openid))
        if (!(got._tag === "Right" && Option.isSome(got.right) && got.right.value.obtainedAt === token.obtainedAt)) {
          kept.push(`user token, o = ${o}`)
        }
        const appToken = yield* makeAppToken()
        yield* Effect.promise(() =>
          admin.hset(RedisAppTokenStore.appTokenKey(appId, prefix), "o", o, "v", "not a token")
        )
        yield* appTokens.set(appId, appToken)
        const gotApp = yield* Effect.either(appTokens.get(appId))
        if (!(gotApp._tag === "Right" && Option.isSome(gotApp.right))) kept.push(`app token, o = ${o}`)
      }
      assert.deepStrictEqual(kept, [])
    }))

  it.scopedLive("a stamp longer than any time (a token's or app token's o, a session key's e) is a TokenStoreError without being fetched; a set replaces it", () =>
    Effect.gen(function*() {
      const client = yield* quietClient(redisUrl, { maxRetriesPerRequest: 1 })
      const tokens = yield* RedisTokenStore.make(client, { keyPrefix: prefix })
      const appTokens = yield* RedisAppTokenStore.make(client, { keyPrefix: prefix })
      const sessionKeys = yield* RedisSessionKeyStore.make(client, { keyPrefix: prefix })
      const appId = randomAppId()
      const token = yield* makeToken()
      const openid = randomOpenId()
      const planted: ReadonlyArray<
        readonly [label: string, key: string, stamp: string, get: Effect.Effect<unknown, unknown>]
      > = [
        ["token", RedisTokenStore.tokenKey(appId, token.openid, prefix), "o", tokens.get(appId, token.openid)],
        ["app token", RedisAppTokenStore.appTokenKey(appId, prefix), "o", appTokens.get(appId)],
        ["session key", RedisSessionKeyStore.sessionKeyKey(appId, openid, prefix), "e", sessionKeys.get(appId, openid)]
      ]
      // read once connected (the first command connects)
      const bytesRead = () =>
        (client as unknown as { readonly stream: { readonly bytesRead: number } }).stream.bytesRead
      yield* redisCall(() => client.ping())
      for (const [label, key, stamp, get] of planted) {
        // 20 MB of digits in the stamp beside a short value: each read transferred it whole
        yield* redisCall(() => admin.hset(key, stamp, "1".repeat(20 * 1024 * 1024), "v", "x"))
        const before = bytesRead()
        const errors = yield* Effect.forEach(Array.from({ length: 5 }), () => Effect.flip(get), {
          concurrency: "unbounded"
        })
        for (const error of errors) {
          assert.deepInclude(error, { _tag: "TokenStoreError", operation: "get" }, label)
          assert.include((error as WeChatError.TokenStoreError).description, "longer than any", label)
        }
        assert.isBelow(bytesRead() - before, 64 * 1024, `${label}: 5 reads fetched none of the stamp`)
        // one byte past the bound is refused too; a stamp of the longest time's length is read
        yield* redisCall(() => admin.hset(key, stamp, "1".repeat(33)))
        assert.include(((yield* Effect.flip(get)) as WeChatError.TokenStoreError).description, "longer than any", label)
        yield* redisCall(() => admin.hset(key, stamp, String(-Number.MAX_VALUE)))
        const read = yield* Effect.either(get)
        if (read._tag === "Left") {
          assert.notInclude((read.left as WeChatError.TokenStoreError).description, "longer than any", label)
        }
      }
      // a set replaces each
      const appToken = yield* makeAppToken()
      const sessionKey = randomSessionKey()
      yield* tokens.set(appId, token)
      yield* appTokens.set(appId, appToken)
      yield* sessionKeys.set(appId, openid, sessionKey)
      assert.isTrue(Option.isSome(yield* tokens.get(appId, token.openid)))
      assert.isTrue(Option.isSome(yield* appTokens.get(appId)))
      assert.isTrue(Option.isSome(yield* sessionKeys.get(appId, openid)))
    }))

  it.scoped("a token or memo whose times are not storable (Infinity, NaN, 1e300) is refused, and nothing is written", () =>
    Effect.gen(function*() {
      const client = yield* quietClient(redisUrl)
      const store = yield* RedisTokenStore.make(client, { keyPrefix: prefix })
      const wrong: Array<string> = []
      for (const value of [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 1e300]) {
        for (const field of ["obtainedAt", "expiresAt", "refreshExpiresAt"] as const) {
          const appId = randomAppId()
          const valid = yield* makeToken()
          // past any validation of the constructor: the store is the last line
          const token = new OAuthToken.OAuthToken({ ...valid, [field]: value }, true)
          const result = yield* Effect.either(store.set(appId, token))
          if (result._tag === "Right") wrong.push(`set(${field}: ${value}): succeeded`)
          else if (!(result.left instanceof WeChatError.TokenStoreError && result.left.description.includes(field))) {
            wrong.push(`set(${field}: ${value}): ${result.left._tag} ${result.left.description}`)
          }
          const key = RedisTokenStore.tokenKey(appId, token.openid, prefix)
          if ((yield* Effect.promise(() => admin.exists(key))) !== 0) wrong.push(`set(${field}: ${value}) wrote`)
        }
        for (const field of ["exchangedAt", "expiresAt"] as const) {
          const appId = randomAppId()
          const codeHash = "c".repeat(64)
          const memo = new TokenStore.CodeMemo(
            { openid: "oOpenId", exchangedAt: 1, expiresAt: Date.now() + 60_000, [field]: value },
            true
          )
          const result = yield* Effect.either(store.rememberCode(appId, codeHash, memo))
          if (result._tag === "Right") wrong.push(`rememberCode(${field}: ${value}): succeeded`)
          else if (!(result.left instanceof WeChatError.TokenStoreError && result.left.description.includes(field))) {
            wrong.push(`rememberCode(${field}: ${value}): ${result.left._tag} ${result.left.description}`)
          }
          const key = RedisTokenStore.codeKey(appId, codeHash, prefix)
          if ((yield* Effect.promise(() => admin.exists(key))) !== 0) {
            wrong.push(`rememberCode(${field}: ${value}) wrote`)
          }
        }
      }
      assert.deepStrictEqual(wrong, [])
    }))

  it.effect("layerConfig given what Config.unwrap cannot walk: a ConfigError when built, never a throw or a defect", () =>
    Effect.gen(function*() {
      const trap = () => {
        throw new Error("trap")
      }
      const revoked = Proxy.revocable({}, {})
      revoked.revoke()
      const url = Config.succeed(redisUrl)
      // before: a string field was walked character by character (a 1 MB one overflowed the stack),
      // {} was a struct of nothing (a TypeError when loaded), a Proxy's trap threw out of the build
      const bad: ReadonlyArray<readonly [string, unknown]> = [
        ["a string field", { url, keyPrefix: "wxauth:" }],
        ["a 1 MB string field", { url, keyPrefix: "x".repeat(1024 * 1024) }],
        ["an empty object field", { url, keyPrefix: {} }],
        ["a Redacted field", { url, password: Redacted.make("p") }],
        ["a Proxy whose traps throw", new Proxy({}, { get: trap, ownKeys: trap, has: trap })],
        ["a revoked Proxy", revoked.proxy],
        ["a number", 42]
      ]
      const layerConfigs = {
        token: RedisTokenStore.layerConfig,
        app: RedisAppTokenStore.layerConfig,
        sessionKey: RedisSessionKeyStore.layerConfig,
        session: RedisSessionStore.layerConfig,
        lock: RedisRefreshLock.layerConfig
      } as Record<string, (config: never) => Layer.Layer<unknown, unknown>>
      const wrong: Array<string> = []
      for (const [label, config] of bad) {
        for (const [name, layerConfig] of Object.entries(layerConfigs)) {
          const got = yield* outcome(() => Effect.scoped(Layer.build(layerConfig(config as never))))
          if (got !== "failed ConfigError") wrong.push(`${name}.layerConfig(${label}): ${got}`)
        }
      }
      assert.deepStrictEqual(wrong, [])
    }))

  it.effect(
    "a client that rejects with an odd error (a message that is no string, a throwing getter): the store's typed error, never a defect",
    () =>
      Effect.gen(function*() {
        const getter = (field: string) =>
          Object.defineProperty(new Error("x"), field, {
            get() {
              throw new Error("getter")
            }
          })
        const shapes: ReadonlyArray<readonly [string, () => unknown]> = [
          ["message 42", () => Object.assign(new Error("x"), { message: 42 })],
          ["message getter throws", () => getter("message")],
          ["name getter throws", () => getter("name")],
          ["code getter throws", () => getter("code")],
          ["name and code that are no strings", () => Object.assign(new Error("x"), { name: {}, code: 7 })],
          [
            "a Proxy whose getPrototypeOf throws",
            () =>
              new Proxy(new Error("x"), {
                getPrototypeOf() {
                  throw new Error("trap")
                }
              })
          ]
        ]
        // passes `isClient` (defineCommand), and every command rejects with the odd error
        const clientOf = (error: () => unknown) =>
          new Proxy({}, {
            get: (_, key) =>
              key === "then" ? undefined : key === "defineCommand" ? () => {} : () => Promise.reject(error())
          }) as never
        const options = { keyPrefix: "wxauth-odd:" }
        const wrong: Array<string> = []
        for (const [label, error] of shapes) {
          const client = clientOf(error)
          const calls: ReadonlyArray<readonly [string, string, () => Effect.Effect<unknown, unknown>]> = [
            ["TokenStore.get", "TokenStoreError", () =>
              Effect.flatMap(RedisTokenStore.make(client, options), (s) =>
                s.get("wxapp", "oA"))],
            ["SessionKeyStore.get", "TokenStoreError", () =>
              Effect.flatMap(RedisSessionKeyStore.make(client, options), (s) =>
                s.get("wxapp", "oA"))],
            ["AppTokenStore.get", "TokenStoreError", () =>
              Effect.flatMap(RedisAppTokenStore.make(client, options), (s) =>
                s.get("wxapp"))],
            ["SessionStore.revokeUser", "SessionStoreError", () =>
              Effect.flatMap(RedisSessionStore.make(client, options), (s) =>
                s.revokeUser("wxapp", "oA"))],
            ["RefreshLock.withLock", "RefreshLockTimeout", () =>
              Effect.flatMap(RedisRefreshLock.make(client, options), (l) =>
                l.withLock("wxapp:oA", Effect.void))]
          ]
          for (const [name, tag, call] of calls) {
            const exit = yield* Effect.exit(Effect.timeout(call(), "5 seconds")).pipe(
              Logger.withMinimumLogLevel(LogLevel.None)
            )
            if (Exit.isSuccess(exit)) {
              wrong.push(`${label} / ${name}: succeeded`)
              continue
            }
            if (Cause.isDie(exit.cause)) {
              wrong.push(`${label} / ${name}: died ${Cause.pretty(exit.cause).split("\n")[0].slice(0, 80)}`)
              continue
            }
            const failure = Cause.failureOption(exit.cause) as Option.Option<
              { readonly _tag: string; readonly description?: string; readonly cause?: unknown }
            >
            if (Option.isNone(failure) || failure.value._tag !== tag) {
              wrong.push(`${label} / ${name}: ${Option.isSome(failure) ? failure.value._tag : "no failure"}`)
              continue
            }
            // the cause is a plain Error that can be shown; nothing but a string was quoted
            const cause = failure.value.cause
            if (!(cause instanceof Error)) {
              wrong.push(`${label} / ${name}: the cause is no Error`)
            } else if (typeof cause.message !== "string" || typeof cause.name !== "string") {
              wrong.push(`${label} / ${name}: the cause's message or name is no string`)
            } else String(cause)
            if (failure.value.description !== undefined && /\b42\b|getter|trap/.test(failure.value.description)) {
              wrong.push(`${label} / ${name}: the description quotes ${failure.value.description}`)
            }
          }
        }
        assert.deepStrictEqual(wrong, [])
      })
  )

  it.scoped(
    "makeScoped over a client the near cache cannot follow (duplicate throws or gives no client, options, status or on throw): InvalidArgument redis, nothing left behind",
    () =>
      Effect.gen(function*() {
        const real = yield* quietClient(redisUrl)
        yield* Effect.promise(() => real.ping())
        const listeners = () => ["close", "ready"].map((event) => real.listenerCount(event)).join(",")
        const before = listeners()
        const boom = () => {
          throw new Error("boom")
        }
        const duplicates: Array<Redis> = []
        let ons = 0
        const variants: ReadonlyArray<readonly [string, (key: string | symbol) => unknown]> = [
          ["duplicate throws", (key) => key === "duplicate" ? boom : undefined],
          ["duplicate gives {}", (key) => key === "duplicate" ? () => ({}) : undefined],
          ["duplicate gives null", (key) => key === "duplicate" ? () => null : undefined],
          ["options throws", (key) => key === "options" ? new Proxy({}, { get: boom }) : undefined],
          ["status throws", (key) => key === "status" ? boom() : undefined],
          ["on throws", (key) => key === "on" || key === "once" ? boom : undefined],
          // the first listener is put on the client, the second throws: the first is taken off again
          [
            "on throws at its second call",
            (key) =>
              key === "on"
                ? (event: string, listener: (...args: Array<unknown>) => void) => {
                  if (++ons > 1) boom()
                  real.on(event, listener)
                }
                : undefined
          ]
        ]
        const wrong: Array<string> = []
        for (const [label, override] of variants) {
          ons = 0
          const client = new Proxy(real, {
            get: (target, key) => {
              const replaced = override(key)
              if (replaced !== undefined) return replaced
              if (key === "duplicate") {
                // the duplicate the feed opens, kept to check it was closed
                return (...args: Parameters<Redis["duplicate"]>) => {
                  const connection = target.duplicate(...args)
                  duplicates.push(connection)
                  return connection
                }
              }
              return Reflect.get(target, key, target)
            }
          })
          const got = yield* outcome(() =>
            Effect.scoped(Effect.flatMap(RedisTokenStore.makeScoped(client, { keyPrefix: prefix }), (store) =>
              store.get("wxapp", "oA")))
          )
          if (got !== "InvalidArgument redis") {
            wrong.push(`${label}: ${got}`)
          }
          if (listeners() !== before) {
            wrong.push(`${label}: listeners left on the client (${before} -> ${listeners()})`)
          }
        }
        for (const connection of duplicates) {
          if (connection.status !== "end") {
            wrong.push(`a duplicate left ${connection.status}`)
          }
        }
        assert.deepStrictEqual(wrong, [])
        assert.isAbove(duplicates.length, 0, "the feed's duplicate was made in some cases")
        // the client itself still works, and a near cache over it still builds
        const store = yield* RedisTokenStore.makeScoped(real, { keyPrefix: prefix })
        assert.isTrue(Option.isNone(yield* store.get("wxapp", "oA")))
      }),
    60_000
  )
})
