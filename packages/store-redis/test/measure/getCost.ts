/**
 * A measurement, not a test: the client CPU of one `RedisTokenStore.get` of a stored token, printed.
 * Runs `get` for one user in a loop at concurrency 64 (as bench/ does), with and without a
 * `TokenCipher`, and prints the process CPU time per call. `STORE_OPTIONS` (JSON) adds options to
 * the layer, e.g. `{"nearCache":false}`.
 *
 *   npx tsx --tsconfig packages/store-redis/test/measure/tsconfig.json packages/store-redis/test/measure/getCost.ts
 */
import { OAuthToken, TokenCipher, TokenStore } from "@wxauth/core"
import { RedisTokenStore } from "@wxauth/store-redis"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { Redis } from "ioredis"
import * as Crypto from "node:crypto"

const randomHex = (bytes: number) => Crypto.randomBytes(bytes).toString("hex")

/** A token as core's fixtures make it (core/testing imports vitest, which a plain script cannot). */
const makeToken = () => {
  const now = Date.now()
  return new OAuthToken.OAuthToken({
    openid: `o${randomHex(13)}`,
    accessToken: Redacted.make(`AT_${randomHex(24)}`),
    refreshToken: Redacted.make(`RT_${randomHex(24)}`),
    scope: ["snsapi_userinfo"],
    isSnapshotUser: false,
    obtainedAt: now,
    expiresAt: now + 2 * 3600_000,
    refreshExpiresAt: now + OAuthToken.refreshTokenLifeMillis
  })
}

const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
const calls = Number(process.env.CALLS ?? 20_000)
const concurrency = 64
const extra: Record<string, unknown> = JSON.parse(process.env.STORE_OPTIONS ?? "{}")

const measure = (label: string, cipher: boolean) =>
  Effect.gen(function*() {
    const prefix = `wxauth-measure:${Math.random().toString(36).slice(2)}:`
    const base = RedisTokenStore.layer({ url, keyPrefix: prefix, ...extra })
    const layer = cipher
      ? base.pipe(Layer.provide(TokenCipher.layer({ keys: [{ id: "k1", key: TokenCipher.generateKey() }] })))
      : base
    const store = Context.get(yield* Layer.build(layer), TokenStore.TokenStore)
    const appId = `wx${randomHex(8)}`
    const token = makeToken()
    yield* store.set(appId, token)
    const one = store.get(appId, token.openid)
    const run = (n: number) => Effect.forEach(Array.from({ length: n }), () => one, { concurrency, discard: true })
    yield* run(5_000) // warm-up
    const results: Array<number> = []
    for (let round = 0; round < 3; round++) {
      const cpu = process.cpuUsage()
      yield* run(calls)
      const used = process.cpuUsage(cpu)
      results.push((used.user + used.system) / calls)
    }
    const admin = new Redis(url)
    yield* Effect.promise(() =>
      admin.del(RedisTokenStore.tokenKey(appId, token.openid, prefix)).then(() => admin.quit())
    )
    console.log(`${label}: ${results.map((us) => us.toFixed(1)).join(" / ")} µs CPU per get (3 rounds of ${calls})`)
  }).pipe(Effect.scoped)

await Effect.runPromise(
  Effect.gen(function*() {
    yield* measure("clear", false)
    yield* measure("TokenCipher", true)
  })
)
