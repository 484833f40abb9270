/**
 * Red team: attacks on SqlSessionStore on each database: ids whose characters a database may lose or
 * compare loosely (NUL, trailing spaces under PAD SPACE collations, lone surrogates written as U+FFFD,
 * look-alikes, a quote), so that two users become one for `revokeUser`; exotic JavaScript arguments;
 * and times at the end of the safe integers.
 */
import { assert, describe, it } from "@effect/vitest"
import { SessionStore } from "@wxauth/core"
import { makeSession } from "@wxauth/core/testing"
import { SqlSessionStore } from "@wxauth/store-sql"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { type Database, dropTablesAfter, forEachDatabase, randomTable } from "./databases.js"

/** Two users whose ids differ only in a way a careless store could lose. */
const lookAlikes: ReadonlyArray<readonly [string, readonly [string, string], readonly [string, string]]> = [
  ["NUL between the ids", ["a\u0000b", "c"], ["a", "b\u0000c"]],
  ["a trailing space", ["wxapp0000000000001", "alice"], ["wxapp0000000000001", "alice "]],
  ["a trailing space in the appid", ["wxapp0000000000001 ", "alice"], ["wxapp0000000000001", "alice"]],
  ["a lone surrogate and U+FFFD", ["wxapp0000000000001", "\uD800x"], ["wxapp0000000000001", "\uFFFDx"]],
  ["case", ["wxapp0000000000001", "Alice"], ["wxapp0000000000001", "alice"]],
  ["composed and decomposed é", ["wxapp0000000000001", "\u00e9"], ["wxapp0000000000001", "e\u0301"]],
  ["an emoji", ["wxapp0000000000001", "\u{1F43C}"], ["wxapp0000000000001", "\uFFFD"]],
  ["a quote", ["wxapp0000000000001", "x' OR '1'='1"], ["wxapp0000000000001", "x"]],
  ["a LIKE wildcard", ["wxapp0000000000001", "a%"], ["wxapp0000000000001", "ab"]]
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
    ["Object.create(null)", Object.create(null)],
    ["throwing getters", new Proxy({}, { get: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap })],
    ["revoked Proxy", revoked.proxy],
    ["NUL", "\u0000"],
    ["lone surrogate", "\uD800"]
  ]
}

const defectOf = (call: () => unknown): Effect.Effect<string | undefined, never, any> =>
  Effect.gen(function*() {
    let result: unknown
    try {
      result = call()
    } catch (error) {
      return `threw ${String(error).slice(0, 100)}`
    }
    if (!Effect.isEffect(result)) return undefined
    const exit = yield* Effect.exit(Effect.timeout(result as Effect.Effect<unknown, unknown>, "10 seconds"))
    return Exit.isFailure(exit) && Cause.isDie(exit.cause)
      ? `died ${Cause.pretty(exit.cause).split("\n")[0].slice(0, 120)}`
      : undefined
  })

const storeLayer = (db: Database) => {
  const table = randomTable("wxauth_rt")
  return Layer.provideMerge(Layer.merge(SqlSessionStore.layer({ table }), dropTablesAfter(table)), db.client())
}

forEachDatabase((db) => {
  describe(`red team: SqlSessionStore on ${db.name}`, () => {
    it.effect(
      "revokeUser ends only the user's own sessions, whatever the ids' characters; never a defect",
      () =>
        Effect.gen(function*() {
          const store = yield* SessionStore.SessionStore
          const problems: Array<string> = []
          for (const [label, [appA, openidA], [appB, openidB]] of lookAlikes) {
            const { session: a } = yield* makeSession({ appId: appA, openid: openidA })
            const { session: b } = yield* makeSession({ appId: appB, openid: openidB })
            const created = yield* Effect.exit(Effect.all([store.create(a), store.create(b)]))
            if (Exit.isFailure(created)) {
              if (Cause.isDie(created.cause)) {
                problems.push(`${label}: create died ${Cause.pretty(created.cause).split("\n")[0].slice(0, 100)}`)
              }
              // refusing an id the database cannot keep exactly is safe
              yield* Effect.ignore(store.revoke(a.idHash))
              yield* Effect.ignore(store.revoke(b.idHash))
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
        }).pipe(Effect.provide(storeLayer(db))),
      60_000
    )

    it.effect("exotic arguments to every operation: never a throw or a defect", () =>
      Effect.gen(function*() {
        const store = yield* SessionStore.SessionStore
        const { session } = yield* makeSession()
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
              ["make(options)", () => SqlSessionStore.make(v)],
              ["ddl(options)", () => SqlSessionStore.ddl(db.dialect, v)],
              ["purgeExpired(options)", () => SqlSessionStore.purgeExpired(v)]
            ] as const
          ) {
            const defect = yield* defectOf(call)
            if (defect !== undefined) defects.push(`${name}(${label}): ${defect}`)
          }
        }
        assert.deepStrictEqual(defects, [])
      }).pipe(Effect.provide(storeLayer(db))), 60_000)

    it.effect("a session to the end of the safe integers is kept, touched, revoked by user", () =>
      Effect.gen(function*() {
        const store = yield* SessionStore.SessionStore
        const { session } = yield* makeSession({ expiresAt: Number.MAX_SAFE_INTEGER })
        yield* store.create(session)
        const got = yield* store.get(session.idHash)
        assert.strictEqual(Option.getOrThrow(got).expiresAt, Number.MAX_SAFE_INTEGER)
        assert.isTrue(Option.isSome(yield* store.touch(session.idHash, Number.MAX_SAFE_INTEGER)))
        assert.strictEqual(yield* store.revokeUser(session.appId, session.openid), 1)
        assert.isTrue(Option.isNone(yield* store.get(session.idHash)))
      }).pipe(Effect.provide(storeLayer(db))))
  })
})
