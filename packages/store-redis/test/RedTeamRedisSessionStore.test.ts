/**
 * Red team: attacks on RedisSessionStore against a real Redis: ids whose characters could make two
 * users one (NUL, trailing spaces, lone surrogates, look-alikes, braces that would break the hash
 * tag), the key functions given such ids, exotic JavaScript arguments, and times at the end of the
 * safe integers (PEXPIRE of ~285,000 years).
 */
import { afterAll, assert, it } from "@effect/vitest"
import type { SessionStore } from "@wxauth/core"
import { makeSession } from "@wxauth/core/testing"
import { RedisSessionStore } from "@wxauth/store-redis"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { Redis } from "ioredis"
import { cleanup, describeRedis, makeAdmin, randomPrefix, redisUrl } from "./utils.js"

/** Two users whose ids differ only in a way a careless store could lose. */
const lookAlikes: ReadonlyArray<readonly [string, readonly [string, string], readonly [string, string]]> = [
  ["NUL between the ids", ["a\u0000b", "c"], ["a", "b\u0000c"]],
  ["a trailing space", ["wxapp0000000000001", "alice"], ["wxapp0000000000001", "alice "]],
  ["a lone surrogate and U+FFFD", ["wxapp0000000000001", "\uD800x"], ["wxapp0000000000001", "\uFFFDx"]],
  ["a lone low surrogate", ["wxapp0000000000001", "x\uDC00"], ["wxapp0000000000001", "x\uFFFD"]],
  ["case", ["wxapp0000000000001", "Alice"], ["wxapp0000000000001", "alice"]],
  ["composed and decomposed é", ["wxapp0000000000001", "\u00e9"], ["wxapp0000000000001", "e\u0301"]],
  ["a colon and its escape", ["a:b", "c"], ["a%3Ab", "c"]],
  ["braces", ["a}", "{b"], ["a", "}{b"]],
  ["a percent-u look-alike", ["wxapp0000000000001", "%uD800x"], ["wxapp0000000000001", "\uD800x"]]
]

const exotic = (): ReadonlyArray<readonly [string, unknown]> => {
  const revoked = Proxy.revocable({}, {})
  revoked.revoke()
  const trap = () => {
    throw new Error("trap")
  }
  return [
    ["Symbol", Symbol("x")],
    ["BigInt", 10n],
    ["function", () => "x"],
    ["Object.create(null)", Object.create(null)],
    ["throwing toString", { toString: trap, valueOf: trap }],
    ["throwing getters", new Proxy({}, { get: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap })],
    ["revoked Proxy", revoked.proxy],
    ["lone surrogate", "\uD800"]
  ]
}

const defectOf = (call: () => unknown): Effect.Effect<string | undefined> =>
  Effect.gen(function*() {
    let result: unknown
    try {
      result = call()
    } catch (error) {
      return `threw ${String(error).slice(0, 100)}`
    }
    if (!Effect.isEffect(result)) return undefined
    const exit = yield* Effect.exit(Effect.timeout(result as Effect.Effect<unknown, unknown>, "5 seconds"))
    return Exit.isFailure(exit) && Cause.isDie(exit.cause)
      ? `died ${Cause.pretty(exit.cause).split("\n")[0].slice(0, 120)}`
      : undefined
  })

describeRedis("red team: RedisSessionStore", () => {
  const prefix = randomPrefix()
  const admin = makeAdmin()
  afterAll(async () => {
    await cleanup(admin, prefix)
    await admin.quit()
  })

  const openStore: Effect.Effect<SessionStore.SessionStoreShape, never, Scope.Scope> = Effect.flatMap(
    Effect.acquireRelease(
      Effect.sync(() => {
        const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
        client.on("error", () => {})
        return client
      }),
      (client) => Effect.promise(() => client.quit().catch(() => undefined))
    ),
    (client) => Effect.orDie(RedisSessionStore.make(client, { keyPrefix: prefix }))
  )

  it.scoped("revokeUser ends only the user's own sessions, whatever the ids' characters; never a defect", () =>
    Effect.gen(function*() {
      const store = yield* openStore
      const problems: Array<string> = []
      for (const [label, [appA, openidA], [appB, openidB]] of lookAlikes) {
        const { session: a } = yield* makeSession({ appId: appA, openid: openidA })
        const { session: b } = yield* makeSession({ appId: appB, openid: openidB })
        const created = yield* Effect.exit(Effect.all([store.create(a), store.create(b)]))
        if (Exit.isFailure(created)) {
          if (Cause.isDie(created.cause)) {
            problems.push(`${label}: create died ${Cause.pretty(created.cause).split("\n")[0].slice(0, 100)}`)
          }
          continue
        }
        const gotA = yield* store.get(a.idHash)
        if (Option.isNone(gotA) || gotA.value.openid !== openidA || gotA.value.appId !== appA) {
          problems.push(`${label}: the first session does not come back as stored`)
        }
        const revoked = yield* Effect.exit(store.revokeUser(appA, openidA))
        if (Exit.isFailure(revoked)) {
          if (Cause.isDie(revoked.cause)) problems.push(`${label}: revokeUser died`)
          continue
        }
        if (revoked.value !== 1) problems.push(`${label}: revokeUser counted ${revoked.value}, not 1`)
        if (Option.isSome(yield* store.get(a.idHash))) problems.push(`${label}: the first user's session is alive`)
        if (Option.isNone(yield* store.get(b.idHash))) problems.push(`${label}: the other user's session was ended`)
        yield* store.revoke(b.idHash)
      }
      assert.deepStrictEqual(problems, [])
    }))

  it("the key functions never throw, and never give two users one index key", () => {
    const keys = new Map<string, string>()
    const problems: Array<string> = []
    for (const [label, a, b] of lookAlikes) {
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

  it.scoped("exotic arguments to every operation: never a throw or a defect", () =>
    Effect.gen(function*() {
      const store = yield* openStore
      const { session } = yield* makeSession()
      const idle = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis(redisUrl, { lazyConnect: true })),
        (client) => Effect.sync(() => client.disconnect())
      )
      const defects: Array<string> = []
      for (const [label, value] of exotic()) {
        const v = value as never
        for (
          const [name, call] of [
            ["create", () => store.create(v)],
            ["get", () => store.get(v)],
            ["touch", () => store.touch(v, 1)],
            ["touch(expiresAt)", () => store.touch(session.idHash, v)],
            ["revoke", () => store.revoke(v)],
            ["revokeUser(appId)", () => store.revokeUser(v, "x")],
            ["revokeUser(openid)", () => store.revokeUser("x", v)],
            ["make(options)", () => RedisSessionStore.make(idle, v)]
          ] as const
        ) {
          const defect = yield* defectOf(call)
          if (defect !== undefined) defects.push(`${name}(${label}): ${defect}`)
        }
      }
      assert.deepStrictEqual(defects, [])
    }))

  it.scoped("a session to the end of the safe integers is kept, touched, revoked by user", () =>
    Effect.gen(function*() {
      const store = yield* openStore
      const { session } = yield* makeSession({ expiresAt: Number.MAX_SAFE_INTEGER })
      const created = yield* Effect.exit(store.create(session))
      assert.isFalse(Exit.isFailure(created) && Cause.isDie(created.cause), "never a defect")
      if (Exit.isFailure(created)) return
      assert.isTrue(Option.isSome(yield* store.get(session.idHash)))
      assert.isTrue(Option.isSome(yield* store.touch(session.idHash, Number.MAX_SAFE_INTEGER)))
      assert.strictEqual(yield* store.revokeUser(session.appId, session.openid), 1)
      assert.isTrue(Option.isNone(yield* store.get(session.idHash)))
    }))
})
