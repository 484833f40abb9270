/**
 * What a caller's function may hand back where wxauth runs it (`withToken`'s `f`, AppToken's
 * `source`, `RefreshLock.withLock`, `acceptPush`'s `onEvent`): every kind of Effect, and nothing that
 * only looks like one (Effect's run loop reads `_op` again, unguarded, while it handles a failure).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Micro from "effect/Micro"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import { isRunnableEffect } from "../src/internal/arguments.js"

class WithAccessors extends Effect.Service<WithAccessors>()("test/WithAccessors", {
  succeed: { value: Effect.succeed(1) },
  accessors: true
}) {}
class ATag extends Effect.Tag("test/ATag")<ATag, { readonly value: number }>() {}
class AContextTag extends Context.Tag("test/AContextTag")<AContextTag, number>() {}

/** An object made from a genuine Effect's own fields and prototype, with another `_op`. */
const forged = (op: string): unknown => {
  const real = Effect.succeed(1) as unknown as Record<PropertyKey, unknown>
  const fake = Object.create(Object.getPrototypeOf(real))
  for (const key of Reflect.ownKeys(real)) if (key !== "_op") fake[key] = real[key]
  Object.defineProperty(fake, "_op", { value: op, enumerable: true })
  return fake
}

describe("isRunnableEffect", () => {
  it.effect("takes every kind of Effect: primitives, gen and fn, Exits, Options, Eithers, Micro, Refs, Tag classes (Effect.Tag and Effect.Service with accessors have a Proxy prototype)", () =>
    Effect.gen(function*() {
      const ref = yield* Ref.make(1)
      const effects: ReadonlyArray<readonly [string, unknown]> = [
        ["succeed", Effect.succeed(1)],
        ["fail", Effect.fail(1)],
        ["die", Effect.die(1)],
        [
          "gen",
          Effect.gen(function*() {
            return yield* Effect.succeed(1)
          })
        ],
        [
          "fn",
          Effect.fn("test")(function*() {
            return yield* Effect.succeed(1)
          })()
        ],
        ["Exit.succeed", Exit.succeed(1)],
        ["Exit.fail", Exit.fail(1)],
        ["Option.some", Option.some(1)],
        ["Either.left", Either.left(1)],
        ["Micro", Micro.succeed(1)],
        ["Ref", ref],
        ["Effect.Service with accessors", WithAccessors],
        ["Effect.Tag", ATag],
        ["Context.Tag", AContextTag]
      ]
      for (const [name, effect] of effects) assert.isTrue(isRunnableEffect(effect), name)
    }))

  it("refuses what only looks like an Effect: a Proxy, a throwing _op, an _op the run loop cannot run from a caller", () => {
    const looking: ReadonlyArray<readonly [string, unknown]> = [
      ["a Proxy over an Effect", new Proxy(Effect.succeed(1), {})],
      ["Blocked", forged("Blocked")],
      ["RunBlocked", forged("RunBlocked")],
      ["start", forged("start")],
      ["a Failure without a Cause", forged("Failure")],
      ["not an Effect", { _op: "Sync" }],
      ["null", null]
    ]
    for (const [name, value] of looking) assert.isFalse(isRunnableEffect(value), name)
  })
})
