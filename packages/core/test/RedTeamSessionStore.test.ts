/**
 * Red team: attacks on `SessionStore` (the memory store and the module's functions): ids whose
 * characters make two users one (NUL, trailing spaces, lone surrogates, look-alikes), a caller that
 * changes a session it was given back, exotic JavaScript arguments, and extreme times. The shared
 * stores run the same identity attacks in their own packages (RedTeamRedisSessionStore,
 * RedTeamSqlSessionStore).
 */
import { assert, describe, it } from "@effect/vitest"
import { SessionStore } from "@wxauth/core"
import { makeSession } from "@wxauth/core/testing"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"

/** Two users whose ids differ only in a way a careless store could lose. */
const lookAlikes: ReadonlyArray<readonly [string, readonly [string, string], readonly [string, string]]> = [
  ["NUL between the ids", ["a\u0000b", "c"], ["a", "b\u0000c"]],
  ["a trailing space", ["wxapp0000000000001", "alice"], ["wxapp0000000000001", "alice "]],
  ["a lone surrogate and U+FFFD", ["wxapp0000000000001", "\uD800x"], ["wxapp0000000000001", "\uFFFDx"]],
  ["case", ["wxapp0000000000001", "Alice"], ["wxapp0000000000001", "alice"]],
  ["composed and decomposed é", ["wxapp0000000000001", "\u00e9"], ["wxapp0000000000001", "e\u0301"]],
  ["a colon and its escape", ["a:b", "c"], ["a%3Ab", "c"]],
  ["a quote", ["wxapp0000000000001", "x' OR '1'='1"], ["wxapp0000000000001", "x"]]
]

/**
 * For each pair: both users get a session; `revokeUser` of the first ends the first's only (or the
 * store refuses an id it cannot keep exactly, typed). Returns what went wrong.
 */
export const identityAttack = (store: SessionStore.SessionStoreShape) =>
  Effect.gen(function*() {
    const problems: Array<string> = []
    for (const [label, [appA, openidA], [appB, openidB]] of lookAlikes) {
      const { session: a } = yield* makeSession({ appId: appA, openid: openidA })
      const { session: b } = yield* makeSession({ appId: appB, openid: openidB })
      const created = yield* Effect.exit(Effect.all([store.create(a), store.create(b)]))
      if (Exit.isFailure(created)) {
        if (Cause.isDie(created.cause)) {
          problems.push(`${label}: create died ${Cause.pretty(created.cause).slice(0, 120)}`)
        }
        // refusing an id it cannot keep exactly is safe; clean up and go on
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
    return problems
  })

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
    ["throwing getPrototypeOf", new Proxy({}, { getPrototypeOf: trap })],
    ["revoked Proxy", revoked.proxy]
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

describe("red team: the memory SessionStore", () => {
  it.effect("revokeUser ends only the user's own sessions, whatever the ids' characters", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore.makeMemory()
      assert.deepStrictEqual(yield* identityAttack(store), [])
    }))

  it.effect("a session given back by get, changed by the caller, does not change what the store keeps", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore.makeMemory()
      const { session } = yield* makeSession({ expiresAt: 1_000_000, createdAt: 0 })
      yield* store.create(session)
      const got = Option.getOrThrow(yield* store.get(session.idHash))
      try {
        // a JavaScript caller: readonly in the types only
        ;(got as { expiresAt: number }).expiresAt = Number.MAX_SAFE_INTEGER
        ;(got as { openid: string }).openid = "someone-else"
      } catch {
        // a frozen value refusing the change is fine too
      }
      try {
        ;(session as { expiresAt: number }).expiresAt = Number.MAX_SAFE_INTEGER
      } catch {
        // idem
      }
      yield* TestClock.adjust(2_000_000)
      assert.isTrue(Option.isNone(yield* store.get(session.idHash)), "the session ended at its stored expiry")
      const { session: other } = yield* makeSession({ appId: session.appId, openid: session.openid })
      yield* store.create(other)
      assert.strictEqual(yield* store.revokeUser(session.appId, session.openid), 1)
    }))

  it.effect("exotic arguments to every operation and function: never a throw or a defect", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore.makeMemory()
      const { session } = yield* makeSession()
      const defects: Array<string> = []
      const probe = function*(name: string, call: () => unknown) {
        const defect = yield* defectOf(call)
        if (defect !== undefined) defects.push(`${name}: ${defect}`)
      }
      for (const [label, value] of exotic()) {
        const v = value as never
        yield* probe(`create(${label})`, () => store.create(v))
        yield* probe(`get(${label})`, () => store.get(v))
        yield* probe(`touch(${label}, 1)`, () => store.touch(v, 1))
        yield* probe(`touch(idHash, ${label})`, () => store.touch(session.idHash, v))
        yield* probe(`revoke(${label})`, () => store.revoke(v))
        yield* probe(`revokeUser(${label}, x)`, () => store.revokeUser(v, "x"))
        yield* probe(`makeMemory(${label})`, () => SessionStore.makeMemory(v))
        yield* probe(`hashToken(${label})`, () => SessionStore.hashToken(v))
        yield* probe(`parseToken(${label})`, () => SessionStore.parseToken(v))
        yield* probe(`checkSession(${label})`, () => SessionStore.checkSession("create", v))
        yield* probe(`checkNew(${label})`, () => SessionStore.checkNew(v, 0))
        yield* probe(`checkTouch(x, ${label})`, () => SessionStore.checkTouch(session.idHash, v, 0))
        yield* probe(`checkTime(${label})`, () => SessionStore.checkTime("get", "t", v))
        yield* probe(`checkUser(${label})`, () => SessionStore.checkUser("get", v, v))
        yield* probe(`decode(${label})`, () => SessionStore.decode(session.idHash, v))
        yield* probe(`decode(times: ${label})`, () => SessionStore.decode(session.idHash, "{}", v))
        yield* probe(`encode(${label})`, () => SessionStore.encode(v))
        // a Session whose field was replaced by a throwing getter after construction
        const { session: tampered } = yield* makeSession()
        Object.defineProperty(tampered, "openid", {
          get: () => {
            throw new Error("trap")
          }
        })
        yield* probe(`create(Session with a throwing openid)`, () => store.create(tampered))
        yield* probe(`encode(Session with a throwing openid)`, () => SessionStore.encode(tampered))
      }
      assert.deepStrictEqual(defects, [])
    }))

  it.effect("extreme times: a session to the end of safe integers is kept, touched and revoked", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore.makeMemory()
      const { session } = yield* makeSession({ expiresAt: Number.MAX_SAFE_INTEGER })
      yield* store.create(session)
      assert.isTrue(Option.isSome(yield* store.get(session.idHash)))
      assert.isTrue(Option.isSome(yield* store.touch(session.idHash, Number.MAX_SAFE_INTEGER)))
      for (const bad of [Number.MAX_SAFE_INTEGER + 2, 1e300, -1, 0.5, Number.NaN]) {
        const exit = yield* Effect.exit(store.touch(session.idHash, bad))
        assert.isTrue(Exit.isFailure(exit) && !Cause.isDie(exit.cause), `touch(${bad}) fails typed`)
      }
      yield* store.revoke(session.idHash)
      assert.isTrue(Option.isNone(yield* store.get(session.idHash)))
    }))
})
