/**
 * Red team: the near cache's feed over clients that pass the build's checks and misbehave later,
 * against a real Redis. A feed connection whose `ping` throws, gives no promise or never answers
 * after the build: the heartbeat cannot check the feed, so the cache is dropped (reads go to Redis),
 * with a warning that quotes no error, and nothing throws out of a timer or a listener. A Cluster
 * (a stand-in over a real connection) that announces a node the feed cannot follow (`+node` with a
 * node whose `duplicate()` throws or gives no connection): the cache is dropped, with a warning,
 * and nothing throws out of the listener into ioredis' emitter.
 */
import { afterAll, assert, it } from "@effect/vitest"
import { makeToken, randomAppId } from "@wxauth/core/testing"
import { RedisTokenStore } from "@wxauth/store-redis"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import type { Redis } from "ioredis"
import { cleanup, countingClient, describeRedis, makeAdmin, randomPrefix } from "./utils.js"

/** A logger that keeps every line, as a layer to provide. */
const capturingLogger = () => {
  const lines: Array<string> = []
  const layer = Logger.replace(Logger.defaultLogger, Logger.map(Logger.logfmtLogger, (line) => lines.push(line)))
  return { lines, layer }
}

const sleep = (millis: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/** Errors that escape to the process (a throw out of a timer or an event listener), while `effect` runs. */
const escaping = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const escaped: Array<string> = []
    const onError = (error: unknown) => escaped.push(String(error))
    process.on("uncaughtException", onError)
    process.on("unhandledRejection", onError)
    const value = yield* effect.pipe(
      Effect.ensuring(Effect.sync(() => {
        process.off("uncaughtException", onError)
        process.off("unhandledRejection", onError)
      }))
    )
    return { value, escaped }
  })

type PingMode = "real" | "throws" | "gives no promise" | "never answers"

/**
 * A real client whose near-cache connections (its `duplicate()`s) answer `ping` as `mode` says,
 * switched after the store is built.
 */
const pingSwitch = (real: Redis) => {
  const state = { mode: "real" as PingMode }
  const replaced = () => {
    if (state.mode === "throws") throw new Error("boom: secret-ping-error")
    if (state.mode === "gives no promise") return "PONG"
    return new Promise(() => {})
  }
  const client = new Proxy(real, {
    get: (target, key) => {
      if (key === "duplicate") {
        return (...args: Parameters<Redis["duplicate"]>) =>
          new Proxy(target.duplicate(...args), {
            get: (connection, name) =>
              name === "ping" && state.mode !== "real" ? replaced : Reflect.get(connection, name, connection)
          })
      }
      return Reflect.get(target, key, target)
    }
  })
  return { client, state }
}

/**
 * A stand-in for an ioredis `Cluster` of one node, the real client `real`: `isCluster`, `nodes`,
 * `CLUSTER SLOTS` (all slots on that node) and `refreshSlotsCache`; its events are `real`'s, so the
 * test emits `+node` on `real` as ioredis would.
 */
const oneNodeCluster = (real: Redis) => {
  const host = real.options.host ?? "127.0.0.1"
  const port = real.options.port ?? 6379
  return new Proxy(real, {
    get: (target, key) => {
      if (key === "isCluster") return true
      if (key === "nodes") return () => [target]
      if (key === "cluster") return () => Promise.resolve([[0, 16383, [host, port, "stand-in"]]])
      if (key === "refreshSlotsCache") return () => {}
      return Reflect.get(target, key, target)
    }
  })
}

describeRedis("near cache feed: a client that misbehaves after the build", () => {
  const prefix = randomPrefix()
  const admin = makeAdmin()
  afterAll(async () => {
    await cleanup(admin, prefix)
    await admin.quit()
  })

  it.scopedLive(
    "a feed connection whose ping throws, gives no promise or never answers: the cache is dropped, nothing escapes",
    () =>
      Effect.gen(function*() {
        const wrong: Array<string> = []
        for (const mode of ["throws", "gives no promise", "never answers"] as const) {
          const captured = capturingLogger()
          const { escaped } = yield* escaping(Effect.scoped(
            Effect.gen(function*() {
              const { client: real, count } = yield* countingClient()
              const { client, state } = pingSwitch(real)
              const store = yield* RedisTokenStore.makeScoped(client, {
                keyPrefix: prefix,
                commandTimeout: "300 millis"
              })
              const appId = randomAppId()
              const token = yield* makeToken()
              yield* store.set(appId, token)
              // served from memory: the feed is live
              let served = false
              for (let i = 0; i < 250 && !served; i++) {
                const before = count("hmget")
                yield* store.get(appId, token.openid)
                served = count("hmget") === before
                if (!served) yield* sleep(20)
              }
              if (!served) return wrong.push(`${mode}: the near cache never served the token`)
              state.mode = mode
              // a 1 s heartbeat whose PING gets 300 ms: the cache is dropped well within 4 s
              const start = Date.now()
              let dropped = false
              while (!dropped && Date.now() - start < 4000) {
                const before = count("hmget")
                yield* store.get(appId, token.openid)
                dropped = count("hmget") > before
                if (!dropped) yield* sleep(20)
              }
              if (!dropped) {
                return wrong.push(`${mode}: still served from memory 4 s after the heartbeat could not run`)
              }
              if (mode === "never answers") return
              // a ping that throws or gives no promise cannot check the feed again: the cache stays off
              for (let i = 0; i < 15; i++) {
                const before = count("hmget")
                yield* store.get(appId, token.openid)
                if (count("hmget") === before) {
                  return wrong.push(`${mode}: served from memory again after the heartbeat could not run`)
                }
                yield* sleep(100)
              }
              if (!captured.lines.some((line) => line.includes("heartbeat") && line.includes("level=WARN"))) {
                wrong.push(`${mode}: no warning (${captured.lines.join(" | ")})`)
              }
            }).pipe(Effect.provide(captured.layer))
          ))
          if (escaped.length > 0) wrong.push(`${mode}: escaped to the process: ${escaped.join(", ")}`)
          if (captured.lines.some((line) => line.includes("secret-ping-error"))) {
            wrong.push(`${mode}: a log line quotes the client's error`)
          }
        }
        assert.deepStrictEqual(wrong, [])
      }),
    30_000
  )

  it.scopedLive(
    "Cluster: a +node the feed cannot follow (duplicate throws, gives undefined or {}, options throw) drops the cache, with a warning; nothing throws out of the listener",
    () =>
      Effect.gen(function*() {
        const boom = () => {
          throw new Error("boom: secret-duplicate-error")
        }
        const nodes: ReadonlyArray<readonly [string, () => object]> = [
          ["duplicate throws", () => ({ options: { host: "127.0.0.1", port: 7999 }, duplicate: boom })],
          ["duplicate gives undefined", () => ({
            options: { host: "127.0.0.1", port: 7999 },
            duplicate: () => undefined
          })],
          ["duplicate gives {}", () => ({ options: { host: "127.0.0.1", port: 7999 }, duplicate: () => ({}) })],
          ["options throw", () => ({
            get options() {
              return boom()
            },
            duplicate: boom
          })]
        ]
        const wrong: Array<string> = []
        for (const [label, node] of nodes) {
          const captured = capturingLogger()
          const { escaped } = yield* escaping(Effect.scoped(
            Effect.gen(function*() {
              const { client: real, count } = yield* countingClient()
              const store = yield* RedisTokenStore.makeScoped(oneNodeCluster(real), { keyPrefix: prefix })
              const appId = randomAppId()
              const token = yield* makeToken()
              yield* store.set(appId, token)
              let served = false
              for (let i = 0; i < 250 && !served; i++) {
                const before = count("hmget")
                yield* store.get(appId, token.openid)
                served = count("hmget") === before
                if (!served) yield* sleep(20)
              }
              if (!served) return wrong.push(`${label}: the near cache never served the token`)
              // ioredis emits +node from its own code: a throw here would be uncaught there
              try {
                real.emit("+node", node())
              } catch (error) {
                wrong.push(`${label}: the +node listener threw (${String(error)})`)
              }
              // the cache is dropped at once, and stays off: the feed does not follow every node
              for (let i = 0; i < 5; i++) {
                const before = count("hmget")
                yield* store.get(appId, token.openid)
                if (count("hmget") === before) return wrong.push(`${label}: served from memory after the +node`)
                yield* sleep(100)
              }
              yield* sleep(50)
              if (!captured.lines.some((line) => line.includes("level=WARN") && line.includes("near cache"))) {
                wrong.push(`${label}: no warning (${captured.lines.join(" | ")})`)
              }
            }).pipe(Effect.provide(captured.layer))
          ))
          if (escaped.length > 0) wrong.push(`${label}: escaped to the process: ${escaped.join(", ")}`)
          if (captured.lines.some((line) => line.includes("secret-duplicate-error"))) {
            wrong.push(`${label}: a log line quotes the client's error`)
          }
        }
        assert.deepStrictEqual(wrong, [])
      }),
    30_000
  )
})
