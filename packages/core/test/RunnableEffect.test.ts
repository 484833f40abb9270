/**
 * What a caller's function may hand back where wxauth runs it (`withToken`'s `f`, AppToken's
 * `source`, `RefreshLock.withLock`, `acceptPush`'s `onEvent`): every kind of Effect, and nothing that
 * only looks like one (Effect's run loop reads `_op` again, unguarded, while it handles a failure).
 */
import { assert, describe, it } from "@effect/vitest"
import { RefreshLock } from "@wxauth/core"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Equal from "effect/Equal"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Micro from "effect/Micro"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import { isRunnableEffect, runnableEffect } from "../src/internal/arguments.js"

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

/** An object with a genuine Effect's symbols and prototype and the given own fields. */
const forgedWith = (fields: Record<string, unknown>): unknown => {
  const real = Effect.succeed(1) as unknown as Record<PropertyKey, unknown>
  const fake = Object.create(Object.getPrototypeOf(real))
  for (const key of Reflect.ownKeys(real)) if (typeof key === "symbol") fake[key] = real[key]
  return Object.assign(fake, fields)
}

/** A Tag class whose prototype is a Proxy that throws when `_op` is read for the `from`-th time. */
const trappingTagClass = (from: number): unknown => {
  let reads = 0
  const hostile = new Proxy(ATag, {
    get(target, key, receiver) {
      if (key === "_op" && ++reads >= from) throw new Error("trap")
      return Reflect.get(target, key, receiver)
    }
  })
  return class Evil extends (hostile as typeof ATag) {}
}

/** `value` run as `RefreshLock.withWriteKey`'s effect: its exit (or "hung") and what escaped the fiber. */
const runAsCallersEffect = async (value: unknown) => {
  const escaped: Array<string> = []
  const onEscape = (error: unknown) => escaped.push(String(error).split("\n")[0])
  process.on("uncaughtException", onEscape)
  process.on("unhandledRejection", onEscape)
  try {
    const run = RefreshLock.withWriteKey(
      { lock: RefreshLock.makeInProcess(), appId: "wx1234567890abcdef", openid: "o123" },
      value as Effect.Effect<unknown>
    ).pipe(Effect.provideService(ATag, { value: 7 }))
    const exit = await Promise.race([
      Effect.runPromiseExit(run),
      new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 2_000))
    ])
    await new Promise((resolve) => setTimeout(resolve, 20))
    return { exit, escaped }
  } finally {
    process.off("uncaughtException", onEscape)
    process.off("unhandledRejection", onEscape)
  }
}

describe("runnableEffect", () => {
  it("runs Exits as fresh copies with the same meaning: a value, a failure, a defect, an interruption, a sequential cause", async () => {
    const fiberId = FiberId.runtime(42, 1_700_000_000_000)
    const cause = Cause.sequential(Cause.fail("first"), Cause.parallel(Cause.die("boom"), Cause.interrupt(fiberId)))
    const succeeded = await Effect.runPromiseExit(runnableEffect(Exit.succeed(1)) as Effect.Effect<unknown, unknown>)
    assert.deepStrictEqual(succeeded, Exit.succeed(1))
    const failed = await Effect.runPromiseExit(runnableEffect(Exit.failCause(cause)) as Effect.Effect<unknown, unknown>)
    assert.isTrue(Exit.isFailure(failed) && Equal.equals(failed.cause, cause), String(failed))
  })

  it("deep Causes Effect builds itself keep their meaning: 600 failing tasks in Effect.all, a chain 2,000 deep", async () => {
    const all = await Effect.runPromiseExit(
      Effect.all(Array.from({ length: 600 }, (_, i) => Effect.fail(`task ${i} failed`)), { concurrency: "unbounded" })
    )
    let chain: Cause.Cause<string> = Cause.fail("innermost")
    for (let i = 0; i < 2_000; i++) chain = Cause.sequential(chain, Cause.die(`finalizer ${i}`))
    const contents = (cause: Cause.Cause<unknown>) => [
      Chunk.toReadonlyArray(Cause.failures(cause)),
      Chunk.toReadonlyArray(Cause.defects(cause))
    ]
    for (const exit of [all, Exit.failCause(chain)]) {
      const { escaped, exit: ran } = await runAsCallersEffect(exit)
      assert.deepStrictEqual(escaped, [])
      assert.isTrue(ran !== "hung" && Exit.isFailure(ran) && Exit.isFailure(exit))
      if (ran !== "hung" && Exit.isFailure(ran) && Exit.isFailure(exit)) {
        assert.deepStrictEqual(contents(ran.cause), contents(exit.cause))
      }
    }
  })

  it("a Tag class behind a Proxy whose service is missing: a defect naming its key, not a place in wxauth", async () => {
    class Missing extends Effect.Tag("test/Missing")<Missing, number>() {}
    const exit = await Effect.runPromiseExit(runnableEffect(Missing) as Effect.Effect<unknown, unknown>)
    const defect = Exit.isFailure(exit) ? Chunk.toReadonlyArray(Cause.defects(exit.cause))[0] : undefined
    assert.include(String(defect), "Service not found: test/Missing")
    assert.notInclude(String(defect), "arguments.ts")
  })

  it("a Tag class behind a Proxy is looked up by its key: the Proxy never reaches the run loop", async () => {
    for (const from of [1, 2, 3, 5]) {
      const { escaped, exit } = await runAsCallersEffect(trappingTagClass(from))
      assert.deepStrictEqual(escaped, [], `trap from read ${from}`)
      assert.deepStrictEqual(exit, Exit.succeed({ value: 7 }), `trap from read ${from}`)
    }
  })

  it("forged Exits and Causes end as InvalidArgument, never an error out of the fiber or a hang", async () => {
    const forgedExits: ReadonlyArray<readonly [string, unknown]> = [
      [
        "a Failure with a Cause only in its cause field",
        forgedWith({ _op: "Failure", _tag: "Failure", cause: Cause.fail("x") })
      ],
      ["a Failure whose Cause is a number", forgedWith({ _op: "Failure", _tag: "Failure", effect_instruction_i0: 42 })],
      [
        "a Failure whose Cause has an unknown _tag",
        forgedWith({
          _op: "Failure",
          _tag: "Failure",
          effect_instruction_i0: Object.assign(Object.create(Object.getPrototypeOf(Cause.empty)), { _tag: "Nope" })
        })
      ],
      [
        "a Failure whose Cause is a Proxy",
        forgedWith({ _op: "Failure", _tag: "Failure", effect_instruction_i0: new Proxy(Cause.fail("x"), {}) })
      ],
      [
        "a Success whose value is a getter",
        Object.defineProperty(forgedWith({ _op: "Success", _tag: "Success" }) as object, "effect_instruction_i0", {
          get: () => {
            throw new Error("trap")
          }
        })
      ]
    ]
    for (const [name, value] of forgedExits) {
      const { escaped, exit } = await runAsCallersEffect(value)
      assert.deepStrictEqual(escaped, [], name)
      assert.isTrue(exit !== "hung" && Exit.isFailure(exit), name)
      const error = exit !== "hung" && Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : undefined
      assert.strictEqual(
        error && error._tag === "Some" ? (error.value as { _tag: string })._tag : "none",
        "InvalidArgument",
        name
      )
    }
  })
})
