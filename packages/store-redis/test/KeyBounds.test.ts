/**
 * Keys of any size from a JavaScript caller: `RedisRefreshLock.withLock` refuses a key longer than
 * any core builds, at once, with the typed error of a bad key, and never copies it into an error or a
 * log line; the ids of the session keys (`encodeId`) are encoded in linear time, lone surrogates
 * included, to the very keys stored today.
 */
import { afterAll, assert, it } from "@effect/vitest"
import { RefreshLock, WeChatError } from "@wxauth/core"
import { randomAppId, randomOpenId } from "@wxauth/core/testing"
import { RedisRefreshLock, RedisSessionKeyStore, RedisSessionStore } from "@wxauth/store-redis"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Logger from "effect/Logger"
import * as Util from "node:util"
import { encodeId } from "../src/internal/keys.js"
import {
  cleanup,
  describeRedis,
  keysUnder,
  makeAdmin,
  quietClient,
  randomPrefix,
  redisUrl,
  refusedUrl,
  serviceOf
} from "./utils.js"

/** The longest key the lock takes (core's longest is 199 characters). */
const maxKeyLength = 512

/** A logger that keeps every line (logfmt, annotations included), as a layer to provide. */
const capturingLogger = () => {
  const lines: Array<string> = []
  const layer = Logger.replace(Logger.defaultLogger, Logger.map(Logger.logfmtLogger, (line) => lines.push(line)))
  return { lines, layer }
}

/** The annotations of the log lines, as the logger gave them to be written. */
const capturingAnnotations = () => {
  const annotations: Array<Record<string, unknown>> = []
  const layer = Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ annotations: given }) => {
      annotations.push(Object.fromEntries(given))
    })
  )
  return { annotations, layer }
}

describeRedis("RedisRefreshLock: the key's size", () => {
  const prefix = randomPrefix()
  const admin = makeAdmin()
  afterAll(async () => {
    await cleanup(admin, prefix)
    await admin.quit()
  })

  const openLock = (options?: RedisRefreshLock.Options) =>
    serviceOf(RefreshLock.RefreshLock, RedisRefreshLock.layer({ url: redisUrl, keyPrefix: prefix, ...options }))

  it.scopedLive("a 10 MB key against a dead Redis fails at once, typed; neither the error nor the log holds it", () =>
    Effect.gen(function*() {
      const client = yield* quietClient(refusedUrl, { lazyConnect: true })
      const lock = yield* RedisRefreshLock.make(client, { commandTimeout: "300 millis" })
      const key = "A".repeat(10 * 2 ** 20) + ":x"
      const lines = capturingLogger()
      const captured = capturingAnnotations()
      let ran = false
      const start = Date.now()
      const error = yield* Effect.flip(lock.withLock(key, Effect.sync(() => (ran = true)))).pipe(
        Effect.provide(lines.layer),
        Effect.provide(captured.layer),
        Effect.timeout("20 seconds")
      )
      assert.isBelow(Date.now() - start, 2000, "fails fast")
      assert.isFalse(ran)
      assert.instanceOf(error, WeChatError.RefreshLockTimeout)
      assert.isBelow(error.key.length, 1024, "the error's key is bounded")
      assert.isBelow(Util.inspect(error, { depth: 10 }).length, 4096, "the error as printed is bounded")
      assert.isBelow(error.message.length, 1024)
      for (const annotations of captured.annotations) {
        for (const [name, value] of Object.entries(annotations)) {
          assert.isBelow(String(value).length, 1024, `the log annotation ${name} is bounded`)
        }
      }
      for (const line of lines.lines) assert.isBelow(line.length, 1024, "the log line is bounded")
    }))

  it.scopedLive("a key over the bound is refused against a live Redis too: nothing runs, no lock key is written", () =>
    Effect.gen(function*() {
      const lock = yield* openLock()
      for (const key of ["A".repeat(10 * 2 ** 20) + ":x", "w".repeat(maxKeyLength + 1)]) {
        let ran = false
        const start = Date.now()
        const error = yield* Effect.flip(lock.withLock(key, Effect.sync(() => (ran = true))))
        assert.isBelow(Date.now() - start, 500)
        assert.isFalse(ran)
        assert.strictEqual(error._tag, "RefreshLockTimeout")
        assert.strictEqual(error.key, "")
        assert.strictEqual(error.waitedMillis, 0)
        assert.instanceOf(error.cause, RangeError)
        assert.include((error.cause as Error).message, String(maxKeyLength))
      }
      const keys = yield* Effect.promise(() => keysUnder(admin, prefix))
      assert.deepStrictEqual(keys.filter((key) => key.endsWith(":lock")), [])
    }))

  it.scopedLive("core's longest key, and a key at the bound, are taken and released as before", () =>
    Effect.gen(function*() {
      const lock = yield* openLock()
      const coreLongest = `${"a".repeat(64)}:${"o".repeat(128)}:write`
      assert.strictEqual(coreLongest.length, 199)
      for (const key of [coreLongest, "k".repeat(maxKeyLength)]) {
        const result = yield* Effect.either(
          lock.withLock(key, Effect.promise(() => admin.exists(RedisRefreshLock.lockKey(key, prefix))))
        )
        assert.deepStrictEqual(result, Either.right(1), "held while the effect ran")
        assert.strictEqual(yield* Effect.promise(() => admin.exists(RedisRefreshLock.lockKey(key, prefix))), 0)
      }
    }))

  it.scopedLive("a key at the bound held elsewhere: the timeout's key is the key, no longer", () =>
    Effect.gen(function*() {
      const key = `${randomAppId()}:${"o".repeat(maxKeyLength - 20)}`.slice(0, maxKeyLength)
      yield* Effect.promise(() => admin.set(RedisRefreshLock.lockKey(key, prefix), "another-holder", "PX", 10_000))
      const lock = yield* openLock({ waitTimeout: "300 millis" })
      const error = yield* Effect.flip(lock.withLock(key, Effect.void))
      assert.strictEqual(error._tag, "RefreshLockTimeout")
      assert.strictEqual(error.key, key)
      yield* Effect.promise(() => admin.del(RedisRefreshLock.lockKey(key, prefix)))
    }))

  it.scopedLive("the log names the app id only when it is one by core's rule", () =>
    Effect.gen(function*() {
      const client = yield* quietClient(refusedUrl, { lazyConnect: true })
      const lock = yield* RedisRefreshLock.make(client, { commandTimeout: "300 millis" })
      const appId = randomAppId()
      const cases: ReadonlyArray<readonly [string, string | undefined]> = [
        [`${appId}:${randomOpenId()}`, appId],
        [`${"a".repeat(64)}:o1`, "a".repeat(64)],
        [`${"a".repeat(65)}:o1`, undefined],
        ["not an app id:o1", undefined],
        ["wx\u00e9:o1", undefined],
        [`${"x".repeat(400)}:o1`, undefined]
      ]
      for (const [key, expected] of cases) {
        const captured = capturingAnnotations()
        yield* Effect.flip(lock.withLock(key, Effect.void)).pipe(Effect.provide(captured.layer))
        assert.isAbove(captured.annotations.length, 0, key)
        for (const annotations of captured.annotations) {
          assert.strictEqual(annotations.appId, expected, key.slice(0, 40))
          assert.match(String(annotations.lockKeyHash), /^[0-9a-f]{12}$/)
        }
      }
    }))
})

/** The encoder of the first version, one code point at a time: the keys stored in Redis today. */
const firstEncodeId = (id: string): string => {
  try {
    return encodeURIComponent(id)
  } catch {
    let out = ""
    for (const c of String(id)) {
      const code = c.charCodeAt(0)
      out += c.length === 1 && code >= 0xd800 && code <= 0xdfff
        ? `%u${code.toString(16).toUpperCase()}`
        : encodeURIComponent(c)
    }
    return out
  }
}

describeRedis("encodeId: the ids of the session keys", () => {
  const high = "\uD800"
  const highMax = "\uDBFF"
  const low = "\uDC00"
  const lowMax = "\uDFFF"
  const pair = "\uD83D\uDE00"
  const table = [
    "",
    "o1",
    "oKRB-x_y.z~!*'()",
    "a:b",
    "100%",
    "%uD800",
    "%",
    ":",
    "{a}:{b}",
    "\u4E2D\u6587",
    "wx\u00e9 o",
    pair,
    `a${pair}b`,
    high,
    low,
    highMax,
    lowMax,
    `${high}abc`,
    `abc${high}`,
    `ab${high}c`,
    `${low}abc`,
    `abc${low}`,
    `ab${low}c`,
    `${high}${high}`,
    `${low}${low}`,
    `${low}${high}`,
    `${high}${low}`,
    `${high}${pair}`,
    `${pair}${low}`,
    `${high}${high}${low}`,
    `${high}${low}${low}`,
    `${low}${high}${low}${high}`,
    `\u4E2D${high}%:${lowMax}\u6587${pair}${highMax}`,
    `${highMax}\uDFFF${high}`
  ]

  it("gives every key of the first version, byte for byte", () => {
    for (const id of table) {
      assert.strictEqual(encodeId(id), firstEncodeId(id), JSON.stringify(id))
    }
  })

  it("gives every key of the first version on random ids of surrogates, pairs, ASCII, CJK, % and :", () => {
    const alphabet = [high, highMax, low, lowMax, "\uDABC", "\uDCDE", pair, "a", "Z", "%", ":", "\u4E2D", "{", " ", "~"]
    let seed = 42
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31)
    for (let i = 0; i < 3000; i++) {
      const length = next() % 12
      let id = ""
      for (let j = 0; j < length; j++) id += alphabet[next() % alphabet.length]
      assert.strictEqual(encodeId(id), firstEncodeId(id), JSON.stringify(id))
    }
  })

  it("the public key helpers answer what they did", () => {
    for (const id of table) {
      assert.strictEqual(
        RedisSessionStore.userIndexKey(`wx${id}`, id, "p:"),
        `p:{${firstEncodeId(`wx${id}`)}:${firstEncodeId(id)}}:sessions`
      )
      assert.strictEqual(
        RedisSessionKeyStore.sessionKeyKey(id, `o${id}`, "p:"),
        `p:{${firstEncodeId(id)}:${firstEncodeId(`o${id}`)}}:session-key`
      )
    }
  })

  it("a 4 MB id with a lone surrogate is encoded in linear time", () => {
    const appId = "a".repeat(4e6) + high
    const start = performance.now()
    const key = RedisSessionStore.userIndexKey(appId, "o")
    const elapsed = performance.now() - start
    assert.isBelow(elapsed, 800, `took ${Math.round(elapsed)} ms`)
    assert.strictEqual(key, `wxauth:{${"a".repeat(4e6)}%uD800:o}:sessions`)
    const many = `${high}a`.repeat(1e5)
    const manyStart = performance.now()
    const encoded = encodeId(many)
    const manyElapsed = performance.now() - manyStart
    assert.isBelow(manyElapsed, 500, `200,000 pieces took ${Math.round(manyElapsed)} ms`)
    assert.strictEqual(encoded, "%uD800a".repeat(1e5))
  })
})
