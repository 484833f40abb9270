/**
 * Red team: attacks on RedisSessionStore against a real Redis. The attacks every store withstands
 * (ids whose characters could make two users one, a caller that changes a session it was given
 * back, exotic JavaScript arguments, times at the end of the safe integers: PEXPIRE of ~285,000
 * years) are core's `sessionStoreAttackSuite`; this file adds Redis's own: the key functions given
 * such ids (never two users under one index key, never a broken hash tag) and `make` given exotic
 * options.
 */
import { afterAll, assert, it } from "@effect/vitest"
import { defectOf, exoticArguments, lookAlikeUsers, sessionStoreAttackSuite } from "@wxauth/core/testing"
import { RedisSessionStore } from "@wxauth/store-redis"
import * as Effect from "effect/Effect"
import { cleanup, describeRedis, makeAdmin, quietClient, randomPrefix, redisUrl } from "./utils.js"

describeRedis("red team: RedisSessionStore", () => {
  const prefix = randomPrefix()
  const admin = makeAdmin()
  afterAll(async () => {
    await cleanup(admin, prefix)
    await admin.quit()
  })

  // a connection of its own for each attack, all under one key prefix
  sessionStoreAttackSuite("redis", () => RedisSessionStore.layer({ url: redisUrl, keyPrefix: prefix }))

  it("the key functions never throw, and never give two users one index key", () => {
    const keys = new Map<string, string>()
    const problems: Array<string> = []
    for (const [label, a, b] of lookAlikeUsers) {
      for (const [appId, openid] of [a, b]) {
        try {
          const key = RedisSessionStore.userIndexKey(appId, openid)
          const user = JSON.stringify([appId, openid])
          const owner = keys.get(key)
          if (owner !== undefined && owner !== user) problems.push(`${label}: ${owner} and ${user} share ${key}`)
          keys.set(key, user)
          if ((key.match(/\{/g) ?? []).length !== 1 || (key.match(/\}/g) ?? []).length !== 1) {
            problems.push(`${label}: the hash tag is broken in ${key}`)
          }
        } catch (error) {
          problems.push(`${label}: userIndexKey threw ${String(error)}`)
        }
      }
    }
    assert.deepStrictEqual(problems, [])
  })

  it.scoped("exotic options to make: never a throw or a defect", () =>
    Effect.gen(function*() {
      const idle = yield* quietClient(redisUrl, { lazyConnect: true })
      const defects: Array<string> = []
      for (const [label, value] of [...exoticArguments(), ["NUL", "\u0000"], ["lone surrogate", "\uD800"]] as const) {
        const defect = yield* defectOf(() => RedisSessionStore.make(idle, value as never))
        if (defect !== undefined) defects.push(`make(options: ${label}): ${defect}`)
      }
      assert.deepStrictEqual(defects, [])
    }))
})
