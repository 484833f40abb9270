/**
 * A `get` of the near-cached token store registers its read as pending before the command is sent
 * (an invalidation that arrives meanwhile keeps the answer from being served later), and ends the
 * registration when the answer is in, or the read fails or is interrupted. A caller interrupted at
 * any step of a `get` must not leave its registration behind: a pending read that never ends keeps
 * its key from ever being served from memory again once any invalidation of it arrived.
 *
 * The interruption is delivered by a supervisor at the caller's n-th step (as the runtime delivers
 * one when a fiber yields after its 2048th step: an HTTP request aborted, a timeout around a call).
 */
import { afterAll, assert, it } from "@effect/vitest"
import { TokenStore } from "@wxauth/core"
import { makeToken, randomAppId } from "@wxauth/core/testing"
import { RedisTokenStore } from "@wxauth/store-redis"
import { InterruptAt, supervisedBy } from "@wxauth/test-support"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { TokenCache } from "../src/internal/tokenCache.js"
import * as Store from "../src/internal/tokenStore.js"
import { cleanup, describeRedis, makeAdmin, quietClient, randomPrefix, redisUrl } from "./utils.js"

describeRedis("RedisTokenStore get interrupted at any step", () => {
  const prefix = randomPrefix()
  const admin = makeAdmin()
  afterAll(async () => {
    await cleanup(admin, prefix)
    await admin.quit()
  })

  it.scopedLive("leaves no pending read behind: the key is served from memory again after an invalidation", () =>
    Effect.gen(function*() {
      const redis = yield* quietClient(redisUrl)
      const codec = yield* TokenStore.makeCodec
      const appId = randomAppId()
      const token = yield* makeToken()
      const key = RedisTokenStore.tokenKey(appId, token.openid, prefix)
      const unservable: Array<number> = []
      for (let at = 1; at < 500; at++) {
        // a cache whose feed is live (the feed itself is not under test: invalidations are given by hand)
        const cache = new TokenCache(16)
        cache.setLive(true)
        const store = Store.make(redis, {
          codec,
          cache,
          timeout: Duration.seconds(2),
          tokenKey: (appId, openid) => RedisTokenStore.tokenKey(appId, openid, prefix),
          codeKey: (appId, codeHash) => RedisTokenStore.codeKey(appId, codeHash, prefix)
        })
        yield* store.set(appId, token)
        const supervisor = new InterruptAt(at)
        const first = yield* Fiber.await(
          yield* Effect.fork(
            supervisedBy(store.get(appId, token.openid), supervisor)
          )
        )
        // another process writes the key: Redis' invalidation arrives
        cache.invalidate(key)
        // a read after it is kept, and served from memory from then on
        yield* store.get(appId, token.openid)
        if (cache.servable(key, appId, token.openid) === undefined) unservable.push(at)
        if (Exit.isSuccess(first) && supervisor.steps < at) {
          assert.isAbove(at, 3)
          break
        }
      }
      assert.deepStrictEqual(unservable, [])
    }))
})
