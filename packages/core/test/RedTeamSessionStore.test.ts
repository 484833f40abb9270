/**
 * Red team: attacks on `SessionStore`. The attacks every store withstands (ids whose characters make
 * two users one, a caller that changes a session it was given back, exotic JavaScript arguments to
 * the operations, extreme times) are core's `sessionStoreAttackSuite`, run here on the memory store
 * and in their own packages on RedisSessionStore and SqlSessionStore; this file adds the module's
 * own functions given exotic arguments.
 */
import { assert, describe, it } from "@effect/vitest"
import { SessionStore } from "@wxauth/core"
import { defectOf, exoticArguments, makeSession, sessionStoreAttackSuite } from "@wxauth/core/testing"
import * as Effect from "effect/Effect"

sessionStoreAttackSuite("memory", () => SessionStore.layerMemory)

describe("red team: the SessionStore module", () => {
  it.effect("exotic arguments to every function of the module: never a throw or a defect", () =>
    Effect.gen(function*() {
      const { session } = yield* makeSession()
      const defects: Array<string> = []
      const probe = function*(name: string, call: () => unknown) {
        const defect = yield* defectOf(call)
        if (defect !== undefined) defects.push(`${name}: ${defect}`)
      }
      for (const [label, value] of exoticArguments()) {
        const v = value as never
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
      }
      // a Session whose field was replaced by a throwing getter after construction
      const { session: tampered } = yield* makeSession()
      Object.defineProperty(tampered, "openid", {
        get: () => {
          throw new Error("trap")
        }
      })
      yield* probe("encode(Session with a throwing openid)", () => SessionStore.encode(tampered))
      assert.deepStrictEqual(defects, [])
    }))
})
