import { assert, describe, it } from "@effect/vitest"
import { WeChatError, WeChatHttpClient } from "@wxauth/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"

// review: WeChatHttpClient.withRequestLimits(<not an Effect>, limits) with an array of a million
// objects stalled for minutes in Effect's "Not a valid effect" defect, which formats the value whole.

describe("WeChatHttpClient.withRequestLimits: an effect that is not an Effect", () => {
  it.effect("is a typed InvalidArgument naming `effect`, at once, the value never formatted", () =>
    Effect.gen(function*() {
      const junk = Array.from({ length: 20_000 }, () => ({ marker: "junk-value" }))
      const revoked = Proxy.revocable({}, {})
      revoked.revoke()
      const values: ReadonlyArray<readonly [string, unknown]> = [
        ["an array of 20,000 objects", junk],
        ["a number", 42],
        ["undefined", undefined],
        ["a revoked Proxy", revoked.proxy],
        ["a plain object", { _op: "Sync" }]
      ]
      for (const [label, value] of values) {
        for (
          const [form, make] of [
            [
              "data-first",
              () => WeChatHttpClient.withRequestLimits(value as Effect.Effect<unknown>, { timeoutMillis: 1000 })
            ],
            [
              "data-last",
              () => WeChatHttpClient.withRequestLimits({ timeoutMillis: 1000 })(value as Effect.Effect<unknown>)
            ]
          ] as const
        ) {
          const started = Date.now()
          const exit = yield* Effect.exit(make())
          const elapsed = Date.now() - started
          assert.isTrue(Exit.isFailure(exit), `${label} (${form}): fails`)
          if (Exit.isSuccess(exit)) continue
          const failure = Cause.failureOption(exit.cause)
          assert.isTrue(
            Option.isSome(failure),
            `${label} (${form}): a typed failure, not a defect: ${Cause.pretty(exit.cause).slice(0, 120)}`
          )
          const error = Option.getOrThrow(failure) as unknown
          assert.instanceOf(error, WeChatError.InvalidArgument, `${label} (${form})`)
          assert.strictEqual((error as WeChatError.InvalidArgument).argument, "effect")
          assert.notInclude(Cause.pretty(exit.cause), "junk-value")
          assert.isBelow(elapsed, 200, `${label} (${form}): at once`)
        }
      }
    }))

  it.effect("an Effect still runs with the limits", () =>
    Effect.gen(function*() {
      const read = FiberRef.get(WeChatHttpClient.currentRequestLimits)
      const limits = yield* WeChatHttpClient.withRequestLimits(read, { timeoutMillis: 1234, maxResponseBytes: 99 })
      assert.strictEqual(limits.timeoutMillis, 1234)
      assert.strictEqual(limits.maxResponseBytes, 99)
      const piped = yield* read.pipe(WeChatHttpClient.withRequestLimits({ timeoutMillis: 77 }))
      assert.strictEqual(piped.timeoutMillis, 77)
      assert.strictEqual(yield* WeChatHttpClient.withRequestLimits(Effect.succeed(5), {}), 5)
      const failed = yield* Effect.flip(WeChatHttpClient.withRequestLimits(Effect.fail("own"), {}))
      assert.strictEqual(failed, "own")
    }))
})
