import { assert, describe, it } from "@effect/vitest"
import { RefreshLock } from "@wxauth/core"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
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

  it.effect("a user's refresh key and write key are held at once: holding one never keeps the other waiting", () =>
    Effect.gen(function*() {
      const lock = RefreshLock.makeInProcess({ waitTimeout: "1 second" })
      // as a refresh takes them: the write key while the refresh key is held
      const nested = yield* Effect.fork(
        lock.withLock(
          "wx1234567890abcdef:oUser_1",
          lock.withLock("wx1234567890abcdef:oUser_1:write", Effect.succeed("both held"))
        )
      )
      // a lock that kept the write key waiting would fail it with RefreshLockTimeout after 1 s
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(yield* Fiber.join(nested), "both held")
      // and while another fiber holds the refresh key, the write key is free
      const holder = yield* Effect.fork(lock.withLock("wx1234567890abcdef:oUser_1", Effect.never))
      yield* TestClock.adjust("1 millis")
      const writing = yield* Effect.fork(lock.withLock("wx1234567890abcdef:oUser_1:write", Effect.succeed("free")))
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(yield* Fiber.join(writing), "free")
      yield* Fiber.interrupt(holder)
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

  it.effect("an uninterruptible waiter gives up at waitTimeout and never keeps the lock; an interrupted one neither", () =>
    Effect.gen(function*() {
      const lock = RefreshLock.makeInProcess({ waitTimeout: "5 seconds" })
      const holder = yield* Effect.fork(lock.withLock("k", Effect.sleep("10 seconds")))
      yield* TestClock.adjust("1 millis")
      let ran = false
      const pinned = yield* Effect.fork(
        Effect.uninterruptible(lock.withLock("k", Effect.sync(() => (ran = true))))
      )
      yield* TestClock.adjust("6 seconds")
      const early = yield* Fiber.poll(pinned)
      assert.isTrue(Option.isSome(early), "the uninterruptible waiter still waits past waitTimeout")
      const error = yield* Effect.flip(Fiber.join(pinned))
      assert.strictEqual(error._tag, "RefreshLockTimeout")
      // an interruptible waiter interrupted while the holder holds
      const interrupted = yield* Effect.fork(lock.withLock("k", Effect.succeed("never")))
      yield* TestClock.adjust("1 millis")
      yield* Fiber.interrupt(interrupted)
      const next = yield* Effect.fork(lock.withLock("k", Effect.succeed("next ran")))
      yield* TestClock.adjust("4 seconds")
      assert.isTrue(Option.isSome(yield* Fiber.poll(holder)))
      assert.strictEqual(
        yield* Fiber.join(next),
        "next ran",
        "a waiter behind one that gave up gets the lock when the holder releases"
      )
      assert.strictEqual(yield* lock.withLock("k", Effect.succeed("later ran")), "later ran")
      assert.isFalse(ran)
    }))

  it.effect("a waitTimeout that is no positive duration a timer holds is the default 30 s, never a zero wait", () =>
    Effect.gen(function*() {
      const bad: ReadonlyArray<unknown> = [
        Number.NaN,
        -1,
        "-5 seconds",
        0,
        "0 millis",
        Number.POSITIVE_INFINITY,
        "25 days",
        "soon",
        {},
        null
      ]
      for (const waitTimeout of bad) {
        const lock = RefreshLock.makeInProcess({ waitTimeout: waitTimeout as never })
        assert.strictEqual(yield* lock.withLock("k", Effect.succeed("free")), "free", String(waitTimeout))
        const holder = yield* Effect.fork(lock.withLock("k", Effect.never))
        yield* TestClock.adjust("1 millis")
        const waiter = yield* Effect.fork(lock.withLock("k", Effect.succeed("ran")))
        yield* TestClock.adjust("29 seconds")
        assert.isTrue(Option.isNone(yield* Fiber.poll(waiter)), `${String(waitTimeout)}: gave up before 30 s`)
        yield* TestClock.adjust("1 second")
        const error = yield* Effect.flip(Fiber.join(waiter))
        assert.strictEqual(error._tag, "RefreshLockTimeout", String(waitTimeout))
        assert.strictEqual(error.waitedMillis, 30_000, String(waitTimeout))
        yield* Fiber.interrupt(holder)
      }
      // a positive one is used as it is
      const lock = RefreshLock.makeInProcess({ waitTimeout: 1500 })
      const holder = yield* Effect.fork(lock.withLock("k", Effect.never))
      yield* TestClock.adjust("1 millis")
      const waiter = yield* Effect.fork(lock.withLock("k", Effect.succeed("ran")))
      yield* TestClock.adjust("1500 millis")
      assert.strictEqual((yield* Effect.flip(Fiber.join(waiter))).waitedMillis, 1500)
      yield* Fiber.interrupt(holder)
    }))
})

describe("RefreshLock.withWriteKey", () => {
  it.effect("runs the effect under the user's write key, waited for 3 s at most; then RefreshLockTimeout, not run", () =>
    Effect.gen(function*() {
      const inner = RefreshLock.makeInProcess({ waitTimeout: "1 minute" })
      const keys: Array<string> = []
      const lock: RefreshLock.RefreshLockShape = {
        withLock: (key, effect) => inner.withLock(key, Effect.zipRight(Effect.sync(() => keys.push(key)), effect))
      }
      const user = { lock, appId: "wx1234567890abcdef", openid: "oUser_1" }
      assert.strictEqual(yield* RefreshLock.withWriteKey(user, Effect.succeed("stored")), "stored")
      assert.deepStrictEqual(keys, ["wx1234567890abcdef:oUser_1:write"])
      // a consent holds the key: the write waits 3 s, then gives up without running
      const consent = yield* Effect.fork(inner.withLock("wx1234567890abcdef:oUser_1:write", Effect.sleep("1 minute")))
      yield* TestClock.adjust("1 millis")
      let ran = false
      const waiting = yield* Effect.fork(RefreshLock.withWriteKey(user, Effect.sync(() => ran = true)))
      yield* TestClock.adjust("2999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(waiting)), "still waiting")
      yield* TestClock.adjust("1 millis")
      const error = yield* Effect.flip(Fiber.join(waiting))
      assert.deepInclude(error, { _tag: "RefreshLockTimeout", key: "wx1234567890abcdef:oUser_1:write" })
      assert.isFalse(ran)
      yield* Fiber.interrupt(consent)
      // another user's key is not held
      assert.strictEqual(yield* RefreshLock.withWriteKey({ ...user, openid: "oUser_2" }, Effect.succeed(2)), 2)
    }))

  it.effect("a lock that makes two different keys wait for each other: the wait ends after 3 s with a warning naming that cause", () =>
    Effect.gen(function*() {
      // one semaphore for every key, as a coarse lock of one's own would be
      const one = yield* Effect.makeSemaphore(1)
      const coarse: RefreshLock.RefreshLockShape = { withLock: (_key, effect) => one.withPermits(1)(effect) }
      RefreshLock.markBounded(coarse)
      const lines: Array<string> = []
      const logger = Logger.make(({ annotations, message }) => {
        lines.push(`${JSON.stringify(message)} ${JSON.stringify([...annotations])}`)
      })
      const user = { lock: coarse, appId: "wx1234567890abcdef", openid: "oUser_1" }
      let ran = false
      // a refresh of one's own holding its key, then storing under the write key
      const refreshing = yield* Effect.fork(
        coarse.withLock(
          "wx1234567890abcdef:refresh_token:abc",
          RefreshLock.withWriteKey(user, Effect.sync(() => ran = true))
        )
          .pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      )
      yield* TestClock.adjust("3 seconds")
      const error = yield* Effect.flip(Fiber.join(refreshing))
      assert.strictEqual(error._tag, "RefreshLockTimeout")
      assert.isFalse(ran)
      assert.strictEqual(lines.length, 1, "one warning")
      assert.include(lines[0], "RefreshLock makes two different keys wait for each other")
      assert.include(lines[0], "a login holds the key")
      assert.include(lines[0], "the refresh changed nothing")
    }))

  it.effect("ids outside the store rule, a lock without withLock, or no Effect: InvalidArgument", () =>
    Effect.gen(function*() {
      const lock = RefreshLock.makeInProcess()
      const cases = [
        [{ lock, appId: "wx:1", openid: "o" }, Effect.void, "appId"],
        [{ lock, appId: "wx1", openid: "o 1" }, Effect.void, "openid"],
        [{ lock: {}, appId: "wx1", openid: "o1" }, Effect.void, "lock"],
        [{ lock, appId: "wx1", openid: "o1" }, "not an effect", "effect"],
        [null, Effect.void, "appId"],
        ["options", Effect.void, "options"]
      ] as const
      for (const [options, effect, argument] of cases) {
        const error = yield* Effect.flip(
          RefreshLock.withWriteKey(options as never, effect as unknown as Effect.Effect<void>)
        )
        assert.deepInclude(error, { _tag: "InvalidArgument", argument })
      }
    }))
})
