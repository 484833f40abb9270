/**
 * Red team: attacks on RedisSessionStore against a real Redis. The attacks every store withstands
 * (ids whose characters could make two users one, a caller that changes a session it was given
 * back, exotic JavaScript arguments, times at the end of the safe integers: PEXPIRE of ~285,000
 * years) are core's `sessionStoreAttackSuite`; this file adds Redis's own: the key functions given
 * such ids (never two users under one index key, never a broken hash tag), `make` given exotic
 * options, and a user's index of 50,000 members (planted, or left by a bound since lowered): a create
 * and a revokeUser then work through it in bounded slices, never one command or reply that grows
 * with it (a stack overflow in the process, Redis blocked for everyone).
 */
import { afterAll, assert, it } from "@effect/vitest"
import type { SessionStore } from "@wxauth/core"
import { defectOf, exoticArguments, lookAlikeUsers, makeSession, sessionStoreAttackSuite } from "@wxauth/core/testing"
import { RedisSessionStore } from "@wxauth/store-redis"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { Redis } from "ioredis"
import * as Crypto from "node:crypto"
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

const hour = 60 * 60 * 1000

/** A realistic time for the TestClock: scores below it are sessions that are over. */
const someDay = Date.UTC(2025, 0, 1)

/** How many members are planted in one user's index. */
const planted = 50_000

/** The most arguments of one command, and the most items of one reply, the store may use with them. */
const slice = 1_000

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

  /**
   * A connection of the test's own that records the most arguments of a command it sends, and the
   * most items of a reply it gets (a flat array, as ZRANGE or a script answers): what crosses the
   * wire, whatever the store calls.
   */
  const measuringClient = Effect.acquireRelease(
    Effect.sync(() => {
      const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
      client.on("error", () => {})
      const largest = { args: 0, reply: 0 }
      const send = client.sendCommand.bind(client)
      client.sendCommand = (command, stream) => {
        largest.args = Math.max(largest.args, command.args.length)
        command.promise.then(
          (reply) => {
            if (Array.isArray(reply)) largest.reply = Math.max(largest.reply, reply.length)
          },
          () => {}
        )
        return send(command, stream)
      }
      return { client, largest }
    }),
    ({ client }) => Effect.sync(() => client.disconnect())
  )

  /** `count` 64-hex ids scored by `score(i)`, into `index`, 10,000 at a time. */
  const plant = (index: string, count: number, score: (i: number) => number) =>
    redisCall(async () => {
      for (let done = 0; done < count; done += 10_000) {
        const args: Array<string> = []
        for (let i = done; i < Math.min(count, done + 10_000); i++) {
          args.push(String(score(i)), Crypto.randomBytes(32).toString("hex"))
        }
        await admin.zadd(index, ...args)
      }
    })

  it.scoped(
    `an index of ${planted} members that will not end: each create marks a bounded slice, revokeUser ends every session in slices`,
    () =>
      Effect.gen(function*() {
        const { client, largest } = yield* measuringClient
        const store = yield* Effect.orDie(RedisSessionStore.make(client, { keyPrefix: prefix }))
        yield* TestClock.setTime(someDay)
        const now = yield* Clock.currentTimeMillis
        const { session: user } = yield* makeSession()
        const index = RedisSessionStore.userIndexKey(user.appId, user.openid, prefix)
        // ending before the user's logins below: the soonest to end, they are the ones a create ends
        yield* plant(index, planted, (i) => now + hour + i)
        // three logins, each ending (at most) a slice of the user's sessions past the bound
        const mine: Array<SessionStore.Session> = []
        for (let i = 0; i < 3; i++) {
          const before = yield* redisCall(() => admin.zcard(index))
          const { session } = yield* makeSession({ appId: user.appId, openid: user.openid, expiresAt: now + 2 * hour })
          yield* store.create(session)
          mine.push(session)
          const after = yield* redisCall(() => admin.zcard(index))
          assert.isAtMost(before + 1 - after, slice, "one create ends a bounded slice")
          assert.isAbove(before + 1 - after, 0, "past the bound, a create still ends sessions")
        }
        for (const session of mine) assert.isTrue(Option.isSome(yield* store.get(session.idHash)))
        // log out everywhere: every session of the user ends, the index with them
        assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), 3)
        for (const session of mine) assert.isTrue(Option.isNone(yield* store.get(session.idHash)))
        const left = (yield* redisCall(() => keysUnder(admin, prefix))).filter((key) =>
          key.startsWith(index.slice(0, index.indexOf("}") + 1))
        )
        assert.deepStrictEqual(left, [], "nothing of the user's index is left")
        assert.isAtMost(largest.args, slice, "no command carries the index")
        assert.isAtMost(largest.reply, slice, "no reply carries the index")
        assert.isAbove(largest.reply, 0)
      }),
    120_000
  )

  it.scoped(`an index of ${planted} members that are over: each create forgets a bounded slice of them`, () =>
    Effect.gen(function*() {
      const { client, largest } = yield* measuringClient
      const store = yield* Effect.orDie(RedisSessionStore.make(client, { keyPrefix: prefix }))
      yield* TestClock.setTime(someDay)
      const now = yield* Clock.currentTimeMillis
      const { session: user } = yield* makeSession()
      const index = RedisSessionStore.userIndexKey(user.appId, user.openid, prefix)
      // over by more than a day (a create forgets no member over by less: a clock may be behind), the
      // index expiring in an hour (as a marked member ending then would keep it)
      yield* plant(index, planted, (i) => now - 24 * hour - 1 - i)
      yield* redisCall(() => admin.zadd(index, String(-(now + hour)), Crypto.randomBytes(32).toString("hex")))
      const { session } = yield* makeSession({ appId: user.appId, openid: user.openid, expiresAt: now + hour })
      yield* store.create(session)
      const after = yield* redisCall(() => admin.zcard(index))
      assert.isAtLeast(after, planted + 2 - slice, "one create forgets a bounded slice")
      assert.isBelow(after, planted + 2, "a create still forgets sessions that are over")
      assert.isTrue(Option.isSome(yield* store.get(session.idHash)))
      assert.isAtMost(largest.args, slice)
      assert.isAtMost(largest.reply, slice)
      yield* redisCall(() => admin.del(index))
    }))
})
