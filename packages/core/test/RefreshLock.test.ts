import { assert, describe, it } from "@effect/vitest"
import { RefreshLock } from "@wxauth/core"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"

describe("RefreshLock.makeInProcess", () => {
  it.effect("holders of one key never overlap; other keys run at once", () =>
    Effect.gen(function*() {
      const lock = RefreshLock.makeInProcess()
      let inside = 0
      let most = 0
      const hold = (key: string) =>
        lock.withLock(
          key,
          Effect.gen(function*() {
            inside++
            most = Math.max(most, inside)
            yield* Effect.sleep("10 millis")
            inside--
          })
        )
      const fiber = yield* Effect.fork(
        Effect.all(Array.from({ length: 20 }, () => hold("a")), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      assert.strictEqual(most, 1)
      const both = yield* Effect.fork(Effect.all([hold("x"), hold("y")], { concurrency: "unbounded" }))
      yield* TestClock.adjust("10 millis")
      yield* Fiber.join(both)
      assert.strictEqual(most, 2)
    }))

  it.effect("a waiter gives up with RefreshLockTimeout; the lock is released after failures", () =>
    Effect.gen(function*() {
      const lock = RefreshLock.makeInProcess({ waitTimeout: "1 second" })
      const holder = yield* Effect.fork(lock.withLock("k", Effect.sleep("1 minute")))
      yield* TestClock.adjust("1 millis")
      const waiter = yield* Effect.fork(lock.withLock("k", Effect.succeed("ran")))
      yield* TestClock.adjust("2 seconds")
      const error = yield* Effect.flip(Fiber.join(waiter))
      assert.strictEqual(error._tag, "RefreshLockTimeout")
      yield* Fiber.interrupt(holder)
      yield* Effect.flip(lock.withLock("k", Effect.fail("boom")))
      assert.strictEqual(yield* lock.withLock("k", Effect.succeed("ran")), "ran")
    }))
})
