/**
 * A measurement, not a test: the heap a near cache entry takes (a user's decoded token and its stored
 * value), printed. Reads 10,000 stored users through a store with the near cache and through one
 * without, and compares the heap after a full GC.
 *
 *   NODE_OPTIONS=--expose-gc npx tsx --tsconfig packages/store-redis/test/measure/tsconfig.json \
 *     packages/store-redis/test/measure/entryBytes.ts
 */
import { OAuthToken, TokenStore } from "@wxauth/core"
import { RedisTokenStore } from "@wxauth/store-redis"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { Redis } from "ioredis"
import * as Crypto from "node:crypto"

const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
const users = 10_000
const randomHex = (bytes: number) => Crypto.randomBytes(bytes).toString("hex")
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {
  throw new Error("run with NODE_OPTIONS=--expose-gc")
})

const heapAfterReads = (nearCache: boolean, prefix: string, appId: string, openids: Array<string>) =>
  Effect.gen(function*() {
    const store = Context.get(
      yield* Layer.build(
        RedisTokenStore.layer({ url, keyPrefix: prefix, nearCache: nearCache ? { maxEntries: users } : false })
      ),
      TokenStore.TokenStore
    )
    yield* Effect.sleep("200 millis")
    gc()
    const before = process.memoryUsage().heapUsed
    yield* Effect.forEach(openids, (openid) => store.get(appId, openid), { concurrency: 64, discard: true })
    gc()
    return process.memoryUsage().heapUsed - before
  }).pipe(Effect.scoped)

await Effect.runPromise(
  Effect.gen(function*() {
    const prefix = `wxauth-measure:${randomHex(4)}:`
    const appId = `wx${randomHex(8)}`
    const now = Date.now()
    const writer = Context.get(
      yield* Layer.build(RedisTokenStore.layer({ url, keyPrefix: prefix, nearCache: false })),
      TokenStore.TokenStore
    )
    const openids = Array.from({ length: users }, () => `o${randomHex(13)}`)
    yield* Effect.forEach(openids, (openid) =>
      writer.set(
        appId,
        new OAuthToken.OAuthToken({
          openid,
          accessToken: Redacted.make(`AT_${randomHex(24)}`),
          refreshToken: Redacted.make(`RT_${randomHex(24)}`),
          scope: ["snsapi_userinfo"],
          isSnapshotUser: false,
          obtainedAt: now,
          expiresAt: now + 2 * 3600_000,
          refreshExpiresAt: now + OAuthToken.refreshTokenLifeMillis
        })
      ), { concurrency: 64, discard: true })
    const decodedOnly = yield* heapAfterReads(false, prefix, appId, openids)
    const near = yield* heapAfterReads(true, prefix, appId, openids)
    console.log(
      `heap after reading ${users} users: ${
        (decodedOnly / 1024).toFixed(0)
      } KiB without the near cache (1,000 decoded kept), ${(near / 1024).toFixed(0)} KiB with it: about ${
        ((near - decodedOnly) / (users - 1000)).toFixed(0)
      } B per entry`
    )
    const admin = new Redis(url)
    for (let i = 0; i < openids.length; i += 500) {
      yield* Effect.promise(() =>
        admin.del(...openids.slice(i, i + 500).map((openid) => RedisTokenStore.tokenKey(appId, openid, prefix)))
      )
    }
    yield* Effect.promise(() => admin.quit())
  }).pipe(Effect.scoped)
)
