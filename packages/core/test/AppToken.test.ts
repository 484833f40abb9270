/**
 * AppToken against the in-process sandbox, which plays WeChat's app-token rules (stable_token's
 * normal and forced modes, the 30-second rule, the daily force quota, revocation): one fetch for
 * many callers, the refresh in the token's last 5 minutes, and what happens after WeChat rejects
 * the token. "Processes" here are AppToken services of their own (own single-flight) sharing one
 * AppTokenStore and one lock, as processes share Redis; the multi-process test on Redis is in
 * @wxauth/store-redis.
 */
import { assert, describe, it } from "@effect/vitest"
import { AppToken, AppTokenStore, MiniProgram, RefreshLock, WeChatApi, WeChatConfig, WeChatError } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"

const mini = Sandbox.defaultApps.miniProgram
const effectTypeId = Symbol.for("effect/Effect")

const environment = (options?: Sandbox.SandboxOptions) =>
  Layer.mergeAll(
    WeChatConfig.layer({ appId: mini.appId, appSecret: Redacted.make(mini.secret) }),
    Sandbox.layerHttpClient
  ).pipe(Layer.provideMerge(Sandbox.layer(options)))

/** A fresh sandbox per test: counters and quotas at zero. */
const Environment = environment()

/** Runs an effect in the background while moving the test clock, so `slow` answers and retry delays pass. */
const withTime = <A, E, R>(effect: Effect.Effect<A, E, R>, step: Duration.DurationInput = "50 millis") =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < 400 && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* TestClock.adjust(step)
    return yield* Fiber.join(fiber)
  })

/**
 * A "process": its own AppToken (own single-flight) and MiniProgram, on the shared store and lock.
 */
const makeProcess = (
  store: AppTokenStore.AppTokenStoreShape,
  lock: RefreshLock.RefreshLockShape,
  options?: AppToken.Options
) =>
  Effect.gen(function*() {
    const appToken = yield* AppToken.makeWith(options).pipe(
      Effect.provideService(AppTokenStore.AppTokenStore, store),
      Effect.provideService(RefreshLock.RefreshLock, lock),
      Effect.orDie
    )
    const program = yield* MiniProgram.make.pipe(Effect.provideService(AppToken.AppToken, appToken))
    return { appToken, mini: program }
  })

/** One process on a memory store and an in-process lock. */
const oneProcess = Effect.flatMap(
  AppTokenStore.makeMemory(),
  (store) => makeProcess(store, RefreshLock.makeInProcess())
)

const sandbox = Sandbox.Sandbox
const phoneCode = (user = "alice") => Effect.flatMap(sandbox, (s) => s.phoneNumberCode({ appId: mini.appId, user }))
const stats = Effect.flatMap(sandbox, (s) => s.stats)
const forces = Effect.map(
  Effect.flatMap(sandbox, (s) => s.appTokenUsage({ appId: mini.appId })),
  (usage) => usage.forceRefreshes
)
const revoke = Effect.flatMap(sandbox, (s) => s.revokeAppToken({ appId: mini.appId }))

describe("AppToken", () => {
  describe("get", () => {
    it.scoped("200 concurrent callers with no token stored make one stable_token request", () =>
      Effect.gen(function*() {
        const { appToken } = yield* oneProcess
        // the answer is late, so every caller finds no token while the fetch runs
        yield* Effect.flatMap(
          sandbox,
          (s) => s.injectFault({ kind: "slow", endpoint: "stable_token", delayMs: 500, times: 1 })
        )
        const tokens = yield* withTime(
          Effect.forEach(Array.from({ length: 200 }), () => appToken.get, { concurrency: "unbounded" })
        )
        assert.strictEqual(new Set(tokens.map(Redacted.value)).size, 1)
        assert.strictEqual((yield* stats).stable_token, 1)
        // later calls read the store
        yield* appToken.get
        assert.strictEqual((yield* stats).stable_token, 1)
      }).pipe(Effect.provide(Environment)))

    it.scoped("two processes sharing the store and the lock make one stable_token request", () =>
      Effect.gen(function*() {
        const store = yield* AppTokenStore.makeMemory()
        const lock = RefreshLock.makeInProcess()
        const processes = [yield* makeProcess(store, lock), yield* makeProcess(store, lock)]
        yield* Effect.flatMap(
          sandbox,
          (s) => s.injectFault({ kind: "slow", endpoint: "stable_token", delayMs: 500, times: 2 })
        )
        const tokens = yield* withTime(
          Effect.forEach(Array.from({ length: 100 }, (_, i) => processes[i % 2].appToken.get), (get) => get, {
            concurrency: "unbounded"
          })
        )
        assert.strictEqual(new Set(tokens.map(Redacted.value)).size, 1)
        assert.strictEqual((yield* stats).stable_token, 1)
      }).pipe(Effect.provide(Environment)))

    it.scoped("the token is renewed in its last 5 minutes, and the new one is stored", () =>
      Effect.gen(function*() {
        const store = yield* AppTokenStore.makeMemory()
        const { appToken } = yield* makeProcess(store, RefreshLock.makeInProcess())
        const first = yield* appToken.get
        yield* TestClock.adjust("114 minutes")
        assert.strictEqual(Redacted.value(yield* appToken.get), Redacted.value(first), "6 minutes left: kept")
        assert.strictEqual((yield* stats).stable_token, 1)
        yield* TestClock.adjust("2 minutes")
        const second = yield* appToken.get
        assert.notStrictEqual(Redacted.value(second), Redacted.value(first), "4 minutes left: renewed")
        assert.strictEqual((yield* stats).stable_token, 2)
        const stored = Option.getOrThrow(yield* store.get(mini.appId))
        assert.strictEqual(Redacted.value(stored.accessToken), Redacted.value(second))
        assert.strictEqual(stored.expiresAt - stored.obtainedAt, 7200 * 1000)
        assert.strictEqual(yield* forces, 0)
      }).pipe(Effect.provide(Environment)))

    it.scoped("a token WeChat gives for less than the refresh window is reused for half its life, not fetched per call", () =>
      Effect.gen(function*() {
        // a broken or hostile WeChat: a classic token (a new one per request, under a daily quota) for 60 s
        const { appToken } = yield* Effect.flatMap(
          AppTokenStore.makeMemory(),
          (store) => makeProcess(store, RefreshLock.makeInProcess(), { mode: "classic" })
        )
        yield* Effect.flatMap(sandbox, (s) =>
          s.injectFault({
            kind: "raw",
            endpoint: "token",
            body: "{\"access_token\":\"short-lived\",\"expires_in\":60}",
            times: 1_000
          }))
        for (let i = 0; i < 20; i++) assert.strictEqual(Redacted.value(yield* appToken.get), "short-lived")
        assert.strictEqual((yield* stats).token, 1, "20 calls within a second: one request")
        yield* TestClock.adjust("29 seconds")
        yield* appToken.get
        assert.strictEqual((yield* stats).token, 1, "29 s of 60: still the stored token")
        yield* TestClock.adjust("2 seconds")
        yield* appToken.get
        assert.strictEqual((yield* stats).token, 2, "past half its life: renewed")
      }).pipe(Effect.provide(Environment)))

    it.scoped("a failed renewal while the stored token still works keeps the stored token", () =>
      Effect.gen(function*() {
        const { appToken } = yield* oneProcess
        const first = yield* appToken.get
        yield* TestClock.adjust("116 minutes")
        // WeChat is busy for every attempt of the renewal
        yield* Effect.flatMap(sandbox, (s) => s.injectFault({ kind: "busy", endpoint: "stable_token", times: 10 }))
        const kept = yield* withTime(appToken.get)
        assert.strictEqual(Redacted.value(kept), Redacted.value(first))
      }).pipe(Effect.provide(Environment)))
  })

  describe("after WeChat rejects the token", () => {
    it.scoped("a revoked token (WeChat hands the same one back): exactly 1 forced refresh, and the call succeeds", () =>
      Effect.gen(function*() {
        const { mini: program } = yield* oneProcess
        yield* program.getPhoneNumber(yield* phoneCode())
        yield* revoke
        yield* Effect.flatMap(sandbox, (s) => s.resetStats)
        const phone = yield* program.getPhoneNumber(yield* phoneCode())
        // alice's number (mainland China: no country code in phoneNumber)
        const alice = (yield* sandbox).users.find((user) => user.id === "alice")
        assert.isString(alice?.phoneNumber)
        assert.strictEqual(phone.purePhoneNumber, alice?.phoneNumber)
        assert.strictEqual(phone.phoneNumber, phone.purePhoneNumber)
        assert.strictEqual(phone.countryCode, "86")
        assert.strictEqual(yield* forces, 1)
        const counts = yield* stats
        // the 40001, a normal fetch (which hands back the revoked token), the force, the retry
        assert.strictEqual(counts.stable_token, 2)
        assert.strictEqual(counts.getuserphonenumber, 2)
        // the forced token works: no more stable_token requests
        yield* program.getPhoneNumber(yield* phoneCode())
        assert.strictEqual((yield* stats).stable_token, 2)
      }).pipe(Effect.provide(Environment)))

    it.scoped("100 concurrent calls that all meet the revoked token: still exactly 1 forced refresh", () =>
      Effect.gen(function*() {
        const { mini: program } = yield* oneProcess
        yield* program.getPhoneNumber(yield* phoneCode())
        yield* revoke
        const codes = yield* Effect.forEach(Array.from({ length: 100 }), () => phoneCode())
        const phones = yield* Effect.forEach(codes, (code) => program.getPhoneNumber(code), {
          concurrency: "unbounded"
        })
        assert.strictEqual(phones.length, 100)
        assert.strictEqual(yield* forces, 1)
        assert.strictEqual((yield* stats).stable_token, 3)
      }).pipe(Effect.provide(Environment)))

    it.scoped("a 40001 after another process already refreshed: its token is used, 0 forced refreshes", () =>
      Effect.gen(function*() {
        const store = yield* AppTokenStore.makeMemory()
        const lock = RefreshLock.makeInProcess()
        const a = yield* makeProcess(store, lock)
        const b = yield* makeProcess(store, lock)
        const api = yield* WeChatApi.make
        yield* a.mini.getPhoneNumber(yield* phoneCode())
        const codes = [yield* phoneCode(), yield* phoneCode(), yield* phoneCode()]
        const s = yield* sandbox
        let first = true
        // A reads the token; before its request lands, the token is revoked and B (which met the 40001
        // first) forces a new one; then A's request arrives with the old token
        const phone = yield* a.appToken.withToken((token) =>
          Effect.suspend(() => {
            if (!first) return api.getUserPhoneNumber(token, codes[0])
            first = false
            return s.revokeAppToken({ appId: mini.appId }).pipe(
              Effect.zipRight(b.mini.getPhoneNumber(codes[1])),
              Effect.zipRight(s.resetStats),
              Effect.zipRight(api.getUserPhoneNumber(token, codes[0]))
            )
          })
        )
        assert.isString(phone.purePhoneNumber)
        assert.strictEqual(yield* forces, 1, "B's force only")
        const counts = yield* stats
        assert.strictEqual(counts.stable_token, 0, "A read B's token from the store")
        assert.strictEqual(counts.getuserphonenumber, 2, "A's 40001 and its retry")
        // B's token was not forced out by A: B still works without a fetch
        yield* b.mini.getPhoneNumber(codes[2])
        assert.strictEqual((yield* stats).stable_token, 0)
      }).pipe(Effect.provide(Environment)))

    it.scoped("a revoked token again within 30 s of the last force: no force is sent (WeChat would hand it back), the caller gets the typed error, no loop", () =>
      Effect.gen(function*() {
        const { mini: program } = yield* oneProcess
        yield* program.getPhoneNumber(yield* phoneCode())
        yield* revoke
        yield* program.getPhoneNumber(yield* phoneCode())
        assert.strictEqual(yield* forces, 1)
        yield* TestClock.adjust("10 seconds")
        yield* revoke
        yield* Effect.flatMap(sandbox, (s) => s.resetStats)
        const error = yield* Effect.flip(program.getPhoneNumber(yield* phoneCode()))
        assert.instanceOf(error, WeChatError.InvalidCredential)
        const counts = yield* stats
        assert.strictEqual(counts.stable_token, 1, "one normal fetch; no force within 30 s of the last")
        assert.strictEqual(counts.getuserphonenumber, 2, "the call and its one retry")
        assert.strictEqual(yield* forces, 1)
        // 30 s after the last force, a force works again
        yield* TestClock.adjust("21 seconds")
        yield* program.getPhoneNumber(yield* phoneCode())
        assert.strictEqual(yield* forces, 2)
      }).pipe(Effect.provide(Environment)))

    it.scoped(
      "rejected again and again: forces are spaced out (30 s, then twice the gap), the day's quota is not used up",
      () =>
        Effect.gen(function*() {
          const { mini: program } = yield* oneProcess
          yield* program.getPhoneNumber(yield* phoneCode())
          const outcomes = new Map<string, number>()
          // every 31 s for 52 minutes, the token is revoked (WeChat hands it back) and a call meets it
          for (let i = 0; i < 100; i++) {
            yield* revoke
            const exit = yield* Effect.exit(program.getPhoneNumber(yield* phoneCode()))
            const outcome = Exit.isSuccess(exit)
              ? "success"
              : Option.getOrElse(Option.map(Cause.failureOption(exit.cause), (e) => e._tag), () => "defect")
            outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
            yield* TestClock.adjust("31 seconds")
          }
          // before, a force for each: the 20 of the day in the first 10 minutes, then RateLimited for
          // every call. Now at 0, 31 s, 93 s, 217 s, 465 s, 961 s, 1953 s: 7 forces
          assert.strictEqual(yield* forces, 7)
          assert.deepStrictEqual([...outcomes.keys()].sort(), ["InvalidCredential", "success"])
          assert.strictEqual(outcomes.get("success"), 7, "each force mends the call that made it")
        }).pipe(Effect.provide(Environment)),
      30_000
    )

    it.scoped(
      "an AppToken built anew over the same store goes on with the app's spacing (WeChatApps rebuilds an app's services)",
      () =>
        Effect.gen(function*() {
          const store = yield* AppTokenStore.makeMemory()
          const lock = RefreshLock.makeInProcess()
          yield* (yield* makeProcess(store, lock)).mini.getPhoneNumber(yield* phoneCode())
          // every 31 s for 52 minutes the token is revoked, and each call is made by a new AppToken
          for (let i = 0; i < 100; i++) {
            yield* revoke
            const { mini: program } = yield* makeProcess(store, lock)
            yield* Effect.exit(program.getPhoneNumber(yield* phoneCode()))
            yield* TestClock.adjust("31 seconds")
          }
          // before, each new AppToken started at 30 s again: a force for every rejection, the day's 20
          // in 10 minutes; now as for one AppToken
          assert.strictEqual(yield* forces, 7)
        }).pipe(Effect.provide(Environment)),
      30_000
    )

    it.scoped("the daily force quota reached: the caller gets RateLimited (45009), no loop", () =>
      Effect.gen(function*() {
        const { mini: program } = yield* oneProcess
        yield* program.getPhoneNumber(yield* phoneCode())
        yield* revoke
        yield* program.getPhoneNumber(yield* phoneCode())
        assert.strictEqual(yield* forces, 1)
        yield* TestClock.adjust("31 seconds")
        yield* revoke
        yield* Effect.flatMap(sandbox, (s) => s.resetStats)
        const error = yield* Effect.flip(program.getPhoneNumber(yield* phoneCode()))
        assert.instanceOf(error, WeChatError.RateLimited)
        assert.strictEqual((error as WeChatError.RateLimited).errcode, 45009)
        const counts = yield* stats
        assert.strictEqual(counts.stable_token, 2, "one normal fetch, one refused force: never retried")
        assert.strictEqual(counts.getuserphonenumber, 1)
        assert.strictEqual(yield* forces, 1)
      }).pipe(Effect.provide(environment({ limits: { forceRefreshPerDay: 1 } }))))

    it.scoped("an error that is not about the token (40029, a used code) neither refreshes nor retries", () =>
      Effect.gen(function*() {
        const { mini: program } = yield* oneProcess
        const code = yield* phoneCode()
        yield* program.getPhoneNumber(code)
        const error = yield* Effect.flip(program.getPhoneNumber(code))
        assert.instanceOf(error, WeChatError.InvalidCode)
        const counts = yield* stats
        assert.strictEqual(counts.stable_token, 1)
        assert.strictEqual(counts.getuserphonenumber, 2)
        assert.strictEqual(yield* forces, 0)
      }).pipe(Effect.provide(Environment)))
  })

  describe("when this machine's clock is behind the stored token's obtainedAt", () => {
    const start = 1_800_000_000_000
    const hour = 3_600_000
    /** A source of the app's own: `T1`, and from then on whatever `state.current` is. */
    const settableSource = () => {
      const state = { current: "T1", calls: 0, forced: 0 }
      const source: AppToken.Source = (request) =>
        Effect.sync(() => {
          state.calls++
          if (request.forceRefresh) state.forced++
          return { access_token: Redacted.make(state.current), expires_in: 7200 }
        })
      return { source, state }
    }

    it.scoped("after the clock steps back, a forced token replaces the revoked one: get answers it, stamped just after the old", () =>
      Effect.gen(function*() {
        const store = yield* AppTokenStore.makeMemory()
        const { appToken } = yield* makeProcess(store, RefreshLock.makeInProcess())
        yield* TestClock.setTime(start)
        const t1 = yield* appToken.get
        // NTP steps the clock back an hour; then WeChat revokes the token (it hands the same one back)
        yield* TestClock.setTime(start - hour)
        yield* revoke
        const t2 = yield* appToken.invalidate(t1)
        assert.strictEqual(yield* forces, 1)
        assert.notStrictEqual(Redacted.value(t2), Redacted.value(t1))
        // before, the forced token was stamped by the clock (an hour behind the stored one) and the
        // store kept the revoked token: get answered it for the next two hours
        assert.strictEqual(Redacted.value(yield* appToken.get), Redacted.value(t2))
        const stored = Option.getOrThrow(yield* store.get(mini.appId))
        assert.strictEqual(stored.obtainedAt, start + 1, "just after the revoked token's stamp")
        assert.strictEqual(stored.expiresAt, start - hour + 7_200_000, "expires by this machine's clock")
        yield* TestClock.adjust("30 minutes")
        assert.strictEqual(Redacted.value(yield* appToken.get), Redacted.value(t2))
      }).pipe(Effect.provide(Environment)))

    it.scoped("a token written by a machine whose clock is ahead: a new token fetched after its rejection replaces it", () =>
      Effect.gen(function*() {
        const store = yield* AppTokenStore.makeMemory()
        const { source, state } = settableSource()
        const { appToken } = yield* makeProcess(store, RefreshLock.makeInProcess(), { source })
        yield* TestClock.setTime(start)
        // another machine, its clock 10 minutes ahead, fetched T1
        yield* store.set(
          mini.appId,
          new AppTokenStore.AppAccessToken({
            accessToken: Redacted.make("T1"),
            obtainedAt: start + 600_000,
            expiresAt: start + 600_000 + 7_200_000
          })
        )
        assert.strictEqual(Redacted.value(yield* appToken.get), "T1")
        // WeChat rejects T1 (reset elsewhere) and hands out T2
        state.current = "T2"
        const next = yield* appToken.invalidate(Redacted.make("T1"))
        assert.strictEqual(Redacted.value(next), "T2")
        assert.strictEqual(state.forced, 0)
        // before, T2 was stamped by this clock, behind T1's stamp: dropped, and get answered T1
        assert.strictEqual(Redacted.value(yield* appToken.get), "T2")
        assert.strictEqual(Option.getOrThrow(yield* store.get(mini.appId)).obtainedAt, start + 600_000 + 1)
      }).pipe(Effect.provide(Environment)))

    it.scoped("a clock stepped back further than a token's life: the tokens fetched after it are kept, not fetched on every call", () =>
      Effect.gen(function*() {
        const store = yield* AppTokenStore.makeMemory()
        const { source, state } = settableSource()
        const { appToken } = yield* makeProcess(store, RefreshLock.makeInProcess(), { source })
        yield* TestClock.setTime(start)
        const t1 = yield* appToken.get
        // the clock steps back 3 hours, more than a token lives; WeChat rejects T1 and hands out T2
        yield* TestClock.setTime(start - 3 * hour)
        state.current = "T2"
        assert.strictEqual(Redacted.value(yield* appToken.invalidate(t1)), "T2")
        const t2 = Option.getOrThrow(yield* store.get(mini.appId))
        assert.strictEqual(t2.obtainedAt, start + 1)
        assert.isAbove(t2.expiresAt, t2.obtainedAt, "never expires at or before its stamp")
        // T2's life is over by WeChat's count: rejected, T3 handed out
        yield* TestClock.adjust("121 minutes")
        state.current = "T3"
        assert.strictEqual(Redacted.value(yield* appToken.invalidate(Redacted.make("T2"))), "T3")
        const calls = state.calls
        for (let i = 0; i < 3; i++) assert.strictEqual(Redacted.value(yield* appToken.get), "T3")
        // a token expiring before its stamp was hidden by the store and still outranked every later
        // write (stamped by the clock): each get fetched again
        assert.strictEqual(state.calls, calls, "T3 is kept in the store")
      }).pipe(Effect.provide(Environment)))
    it.scoped("a clock stepped back after a force: the forced token rejected in turn is forced again, not after the step plus the gap", () =>
      Effect.gen(function*() {
        const store = yield* AppTokenStore.makeMemory()
        const state = { current: "T1", forced: 0 }
        // stable_token: the same token until a force hands out a new one
        const source: AppToken.Source = (request) =>
          Effect.sync(() => {
            if (request.forceRefresh) state.current = `T${++state.forced + 1}`
            return { access_token: Redacted.make(state.current), expires_in: 7200 }
          })
        const { appToken } = yield* makeProcess(store, RefreshLock.makeInProcess(), { source })
        yield* TestClock.setTime(start)
        const t1 = yield* appToken.get
        const t2 = yield* appToken.invalidate(t1)
        assert.strictEqual(Redacted.value(t2), "T2")
        // the clock steps back an hour; ten minutes on, WeChat rejects T2 (and hands it back)
        yield* TestClock.setTime(start - hour)
        yield* TestClock.adjust("10 minutes")
        // before: refused (T2 again) for the hour plus the gap
        assert.strictEqual(Redacted.value(yield* appToken.invalidate(t2)), "T3")
        assert.strictEqual(Redacted.value(yield* appToken.get), "T3")
        assert.strictEqual(state.forced, 2)
      }).pipe(Effect.provide(Environment)))
  })

  describe("modes and sources", () => {
    it.scoped("classic mode fetches with GET cgi-bin/token", () =>
      Effect.gen(function*() {
        const store = yield* AppTokenStore.makeMemory()
        const { appToken, mini: program } = yield* makeProcess(store, RefreshLock.makeInProcess(), {
          mode: "classic"
        })
        yield* program.getPhoneNumber(yield* phoneCode())
        yield* appToken.get
        const counts = yield* stats
        assert.strictEqual(counts.token, 1)
        assert.strictEqual(counts.stable_token, 0)
      }).pipe(Effect.provide(Environment)))

    it.scoped("a source of the app's own replaces the fetch, and is told when to force", () =>
      Effect.gen(function*() {
        const store = yield* AppTokenStore.makeMemory()
        const requests: Array<boolean> = []
        const api = yield* WeChatApi.make
        const source: AppToken.Source = (request) => {
          requests.push(request.forceRefresh)
          return api.stableToken(request)
        }
        const { mini: program } = yield* makeProcess(store, RefreshLock.makeInProcess(), { source })
        yield* program.getPhoneNumber(yield* phoneCode())
        yield* revoke
        yield* program.getPhoneNumber(yield* phoneCode())
        assert.deepStrictEqual(requests, [false, false, true])
      }).pipe(Effect.provide(Environment)))

    it.scoped("bad options are a ConfigError naming the option", () =>
      Effect.gen(function*() {
        const store = yield* AppTokenStore.makeMemory()
        for (
          const [options, name] of [
            [{ mode: "cached" }, "mode"],
            [{ source: "https://tokens.example.com" }, "source"],
            [{ refreshWithin: "forever" }, "refreshWithin"]
          ] as const
        ) {
          const error = yield* Effect.flip(
            AppToken.makeWith(options as never).pipe(Effect.provideService(AppTokenStore.AppTokenStore, store))
          )
          assert.strictEqual(error._op, "InvalidData")
          assert.deepStrictEqual((error as { path: Array<string> }).path, ["appToken", name])
        }
      }).pipe(Effect.provide(Environment)))

    it.scoped("a negative refreshWithin in any form is a ConfigError naming it, never read as zero; zero is accepted", () =>
      Effect.gen(function*() {
        const store = yield* AppTokenStore.makeMemory()
        const make = (refreshWithin: unknown) =>
          AppToken.makeWith({ refreshWithin } as never).pipe(
            Effect.provideService(AppTokenStore.AppTokenStore, store),
            Effect.either
          )
        for (
          const refreshWithin of [
            -1,
            -300_000,
            NaN,
            -Infinity,
            "-5 minutes",
            "-1 millis",
            [-300, 0],
            BigInt(-1),
            Infinity
          ]
        ) {
          const label = typeof refreshWithin === "string" ? JSON.stringify(refreshWithin) : String(refreshWithin)
          const result = yield* make(refreshWithin)
          assert.strictEqual(result._tag, "Left", `${label}: accepted`)
          if (result._tag === "Left") {
            assert.strictEqual(result.left._op, "InvalidData", label)
            assert.deepStrictEqual((result.left as { path: Array<string> }).path, ["appToken", "refreshWithin"], label)
          }
        }
        for (const refreshWithin of [0, "0 millis", "10 minutes", [600, 0]]) {
          assert.strictEqual((yield* make(refreshWithin))._tag, "Right", String(refreshWithin))
        }
      }).pipe(Effect.provide(Environment)))

    it.scoped("a sourceTimeout past what a timer holds (24 days) is a ConfigError naming it; 24 days is accepted", () =>
      Effect.gen(function*() {
        const store = yield* AppTokenStore.makeMemory()
        const make = (sourceTimeout: unknown) =>
          AppToken.makeWith({ sourceTimeout } as never).pipe(
            Effect.provideService(AppTokenStore.AppTokenStore, store),
            Effect.either
          )
        for (const sourceTimeout of ["25 days", 2_147_483_648, "999999 days", Infinity, "-5 seconds"]) {
          const result = yield* make(sourceTimeout)
          assert.strictEqual(result._tag, "Left", `${String(sourceTimeout)}: accepted`)
          if (result._tag === "Left") {
            assert.deepStrictEqual((result.left as { path: Array<string> }).path, ["appToken", "sourceTimeout"])
          }
        }
        for (const sourceTimeout of ["24 days", 1, "15 seconds"]) {
          assert.strictEqual((yield* make(sourceTimeout))._tag, "Right", String(sourceTimeout))
        }
      }).pipe(Effect.provide(Environment)))
  })

  describe("a source that does not answer", () => {
    /**
     * A source that hangs (interruptibly) until `answering` is set, then answers `token-<n>`;
     * counts its calls and the interruptions of its hung calls.
     */
    const hangingSource = (hang: Effect.Effect<never> = Effect.never) => {
      const state = { answering: false, calls: 0, interrupted: 0 }
      const source: AppToken.Source = () =>
        Effect.suspend(() => {
          const call = ++state.calls
          return state.answering
            ? Effect.succeed({ access_token: Redacted.make(`token-${call}`), expires_in: 7200 })
            : Effect.onInterrupt(hang, () => Effect.sync(() => state.interrupted++))
        })
      return { source, state }
    }

    /** Lets the fibers woken by the test clock run to their next wait, a bounded number of times. */
    const settle = (fibers: ReadonlyArray<Fiber.Fiber<unknown, unknown>>) =>
      Effect.gen(function*() {
        for (let i = 0; i < 20; i++) {
          const polled = yield* Effect.forEach(fibers, Fiber.poll)
          if (polled.every(Option.isSome)) return
          yield* TestClock.adjust(0)
        }
      })

    /** The failure each fiber ended with; the test fails on a fiber still running or that succeeded. */
    const failures = (fibers: ReadonlyArray<Fiber.Fiber<unknown, unknown>>) =>
      Effect.gen(function*() {
        yield* settle(fibers)
        return yield* Effect.forEach(fibers, (fiber, i) =>
          Effect.map(Fiber.poll(fiber), (polled) => {
            assert.isTrue(Option.isSome(polled), `caller ${i} still waits after the deadline`)
            const exit = Option.getOrThrow(polled)
            assert.isTrue(Exit.isFailure(exit), `caller ${i} did not fail`)
            return Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
          }))
      })

    const assertTimeout = (error: unknown, within: string) => {
      assert.instanceOf(error, WeChatError.TransportError)
      const transport = error as WeChatError.TransportError
      assert.strictEqual(transport.endpoint, "AppToken.source")
      assert.strictEqual(transport.reason, "Timeout")
      assert.strictEqual(transport.phase, "unknown")
      assert.strictEqual(transport.description, `the token source did not answer within ${within}`)
      assert.isTrue(WeChatError.isRetryable(transport))
    }

    it.scoped("a caller in an uninterruptible region does not hold the others past the deadline: each fails at 15 s", () =>
      Effect.gen(function*() {
        const { source, state } = hangingSource()
        const store = yield* AppTokenStore.makeMemory()
        const { appToken } = yield* makeProcess(store, RefreshLock.makeInProcess(), { source })
        // e.g. a get in an acquire step: before, the deadline waited for the uninterruptible call to
        // end, and so did every other caller of the app, for ever
        const pinned = yield* Effect.fork(Effect.uninterruptible(appToken.get))
        yield* TestClock.adjust("10 millis")
        const other = yield* Effect.fork(appToken.get)
        yield* TestClock.adjust("15 seconds")
        const [pinnedError, otherError] = yield* failures([pinned, other])
        assertTimeout(pinnedError, "15s")
        assertTimeout(otherError, "15s")
        assert.strictEqual(state.calls, 1)
        yield* settle([])
        assert.strictEqual(state.interrupted, 1, "the hung call was interrupted, in the background")
      }).pipe(Effect.provide(Environment)))

    it.scoped("20 concurrent get callers all fail with TransportError Timeout at the default 15 s, the source is interrupted, and the lock is free again", () =>
      Effect.gen(function*() {
        const { source, state } = hangingSource()
        const store = yield* AppTokenStore.makeMemory()
        const { appToken } = yield* makeProcess(store, RefreshLock.makeInProcess(), { source })
        const callers = yield* Effect.forEach(Array.from({ length: 20 }), () => Effect.fork(appToken.get))
        yield* TestClock.adjust("14999 millis")
        for (const caller of callers) assert.isTrue(Option.isNone(yield* Fiber.poll(caller)), "waiting before 15 s")
        yield* TestClock.adjust("1 millis")
        for (const error of yield* failures(callers)) assertTimeout(error, "15s")
        assert.strictEqual(state.calls, 1, "one fetch for the 20 callers")
        assert.strictEqual(state.interrupted, 1, "the hung call was interrupted")
        // the lock and the single-flight are free: the next get fetches again, and now gets a token
        state.answering = true
        assert.strictEqual(Redacted.value(yield* appToken.get), "token-2")
        assert.strictEqual(Redacted.value(Option.getOrThrow(yield* store.get(mini.appId)).accessToken), "token-2")
      }).pipe(Effect.provide(Environment)))

    it.scoped("a stored token still valid (in its last 5 minutes) is returned when the source times out", () =>
      Effect.gen(function*() {
        const { source, state } = hangingSource()
        const store = yield* AppTokenStore.makeMemory()
        const now = yield* TestClock.currentTimeMillis
        yield* store.set(
          mini.appId,
          new AppTokenStore.AppAccessToken({
            accessToken: Redacted.make("stored"),
            obtainedAt: now - 116 * 60_000,
            expiresAt: now + 4 * 60_000
          })
        )
        const { appToken } = yield* makeProcess(store, RefreshLock.makeInProcess(), { source })
        const callers = yield* Effect.forEach(Array.from({ length: 5 }), () => Effect.fork(appToken.get))
        yield* TestClock.adjust("15 seconds")
        yield* settle(callers)
        for (const caller of callers) {
          const polled = yield* Fiber.poll(caller)
          assert.isTrue(Option.isSome(polled), "answered at the deadline")
          const exit = Option.getOrThrow(polled)
          assert.isTrue(Exit.isSuccess(exit))
          if (Exit.isSuccess(exit)) assert.strictEqual(Redacted.value(exit.value), "stored")
        }
        assert.strictEqual(state.interrupted, 1)
      }).pipe(Effect.provide(Environment)))

    it.scoped("sourceTimeout sets the deadline; invalidate is bounded by it too", () =>
      Effect.gen(function*() {
        const { source, state } = hangingSource()
        const store = yield* AppTokenStore.makeMemory()
        const { appToken } = yield* makeProcess(store, RefreshLock.makeInProcess(), {
          source,
          sourceTimeout: "2 seconds"
        })
        const getter = yield* Effect.fork(appToken.get)
        yield* TestClock.adjust("1999 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(getter)))
        yield* TestClock.adjust("1 millis")
        assertTimeout((yield* failures([getter]))[0], "2s")
        const invalidator = yield* Effect.fork(appToken.invalidate(Redacted.make("rejected")))
        yield* TestClock.adjust("2 seconds")
        assertTimeout((yield* failures([invalidator]))[0], "2s")
        assert.strictEqual(state.interrupted, 2)
        state.answering = true
        assert.strictEqual(Redacted.value(yield* appToken.invalidate(Redacted.make("rejected"))), "token-3")
      }).pipe(Effect.provide(Environment)))

    it.scoped("a source that ignores interruption is left behind: the callers still fail at the deadline", () =>
      Effect.gen(function*() {
        const never = yield* Deferred.make<never>()
        const { source } = hangingSource(Effect.uninterruptible(Deferred.await(never)))
        const { appToken } = yield* Effect.flatMap(
          AppTokenStore.makeMemory(),
          (store) => makeProcess(store, RefreshLock.makeInProcess(), { source, sourceTimeout: "3 seconds" })
        )
        // the stuck call ends when the test does (before the service's scope closes), so it outlives neither
        yield* Effect.addFinalizer(() => Deferred.interrupt(never))
        const callers = yield* Effect.forEach(Array.from({ length: 3 }), () => Effect.fork(appToken.get))
        yield* TestClock.adjust("3 seconds")
        for (const error of yield* failures(callers)) assertTimeout(error, "3s")
      }).pipe(Effect.provide(Environment)))

    it.scoped("another process waiting on the lock gets the token after the hung fetch times out, not RefreshLockTimeout", () =>
      Effect.gen(function*() {
        // the first call hangs; the second (the other process's, once it holds the lock) answers
        const { source, state } = hangingSource()
        const answerSecond: AppToken.Source = (request) =>
          Effect.suspend(() => {
            if (state.calls === 1) state.answering = true
            return source(request)
          })
        const store = yield* AppTokenStore.makeMemory()
        // the in-process lock's default wait: 30 s
        const lock = RefreshLock.makeInProcess()
        const a = yield* makeProcess(store, lock, { source: answerSecond })
        const b = yield* makeProcess(store, lock, { source: answerSecond })
        const first = yield* Effect.fork(a.appToken.get)
        yield* TestClock.adjust("1 second")
        const second = yield* Effect.fork(b.appToken.get)
        yield* TestClock.adjust("14 seconds")
        assertTimeout((yield* failures([first]))[0], "15s")
        yield* settle([second])
        const polled = yield* Fiber.poll(second)
        assert.isTrue(Option.isSome(polled), "the waiting process has its answer")
        const exit = Option.getOrThrow(polled)
        assert.isTrue(Exit.isSuccess(exit), `the waiting process: ${String(exit)}`)
        if (Exit.isSuccess(exit)) assert.strictEqual(Redacted.value(exit.value), "token-2")
      }).pipe(Effect.provide(Environment)))

    it.scoped("a sourceTimeout that is not a finite duration above zero is a ConfigError naming it", () =>
      Effect.gen(function*() {
        const store = yield* AppTokenStore.makeMemory()
        const { source } = hangingSource()
        for (const sourceTimeout of [0, -1, Number.NaN, "0 seconds", "forever", "soon", Infinity, {}, () => 1]) {
          const error = yield* Effect.flip(
            AppToken.makeWith({ source, sourceTimeout } as never).pipe(
              Effect.provideService(AppTokenStore.AppTokenStore, store)
            )
          )
          assert.strictEqual(error._op, "InvalidData", String(sourceTimeout))
          assert.deepStrictEqual((error as { path: Array<string> }).path, ["appToken", "sourceTimeout"])
        }
      }).pipe(Effect.provide(Environment)))
  })

  describe("a source that answers what no token is", () => {
    // a JavaScript source (or one over an untyped token server) can answer anything
    const answers: ReadonlyArray<readonly [string, unknown]> = [
      ["a plain string for the token", { access_token: "a-plain-token", expires_in: 7200 }],
      ["an empty token", { access_token: Redacted.make(""), expires_in: 7200 }],
      ["a NaN lifetime", { access_token: Redacted.make("token"), expires_in: Number.NaN }],
      ["a negative lifetime", { access_token: Redacted.make("token"), expires_in: -5 }],
      ["an endless lifetime", { access_token: Redacted.make("token"), expires_in: Infinity }],
      ["a lifetime as text", { access_token: Redacted.make("token"), expires_in: "7200" }],
      ["null", null],
      ["a number", 42],
      [
        "a revoked Proxy",
        (() => {
          const { proxy, revoke } = Proxy.revocable({}, {})
          revoke()
          return proxy
        })()
      ]
    ]
    it.scoped("a token longer than WeChat sends is refused, and the error states the limit the check applies", () =>
      Effect.gen(function*() {
        for (const [length, stored] of [[1024, true], [1025, false], [1500, false]] as const) {
          const store = yield* AppTokenStore.makeMemory()
          const { appToken } = yield* makeProcess(store, RefreshLock.makeInProcess(), {
            source: () => Effect.succeed({ access_token: Redacted.make("t".repeat(length)), expires_in: 7200 })
          })
          const exit = yield* Effect.exit(appToken.get)
          assert.strictEqual(Exit.isSuccess(exit), stored, `${length} characters`)
          if (Exit.isFailure(exit)) {
            const error = Option.getOrThrow(Cause.failureOption(exit.cause)) as WeChatError.MalformedResponse
            assert.include(error.description, "1 to 1024 characters")
          }
        }
      }).pipe(Effect.provide(Environment)))

    it.scoped("each is a MalformedResponse of AppToken.source that names no value, and nothing is stored", () =>
      Effect.gen(function*() {
        for (const [name, answer] of answers) {
          const store = yield* AppTokenStore.makeMemory()
          const { appToken } = yield* makeProcess(store, RefreshLock.makeInProcess(), {
            source: () => Effect.succeed(answer as WeChatApi.AppTokenResponse)
          })
          const exit = yield* Effect.exit(appToken.get)
          assert.isTrue(Exit.isFailure(exit) && !Cause.isDie(exit.cause), `${name}: a typed failure`)
          const error = Option.getOrThrow(Cause.failureOption((exit as Exit.Failure<unknown, unknown>).cause))
          assert.instanceOf(error, WeChatError.MalformedResponse, name)
          assert.strictEqual((error as WeChatError.MalformedResponse).endpoint, "AppToken.source", name)
          assert.notInclude(JSON.stringify(error), "a-plain-token", name)
          assert.isTrue(Option.isNone(yield* store.get(mini.appId)), `${name}: nothing stored`)
        }
      }).pipe(Effect.provide(Environment)))

    it.scoped("the answer as checked is the one stored: a getter that answers otherwise when read again changes nothing", () =>
      Effect.gen(function*() {
        let reads = 0
        const answer = { expires_in: 7200 }
        Object.defineProperty(answer, "access_token", {
          enumerable: true,
          get: () => reads++ === 0 ? Redacted.make("checked-token") : "a-plain-token"
        })
        const store = yield* AppTokenStore.makeMemory()
        const { appToken } = yield* makeProcess(store, RefreshLock.makeInProcess(), {
          source: () => Effect.succeed(answer as unknown as WeChatApi.AppTokenResponse)
        })
        // before, the answer itself went on after its check: the token's constructor met the plain
        // string on the second read and threw (a defect out of get)
        const exit = yield* Effect.exit(appToken.get)
        assert.isTrue(Exit.isSuccess(exit), "the checked answer is used")
        assert.strictEqual(Redacted.value(Exit.isSuccess(exit) ? exit.value : Redacted.make("")), "checked-token")
        const stored = Option.getOrThrow(yield* store.get(mini.appId))
        assert.strictEqual(Redacted.value(stored.accessToken), "checked-token")
      }).pipe(Effect.provide(Environment)))

    it.scoped("a source that throws, or gives no Effect, is an InvalidArgument naming source", () =>
      Effect.gen(function*() {
        const sources: ReadonlyArray<readonly [string, unknown]> = [
          ["throws", () => {
            throw new Error("the token server client is not set up")
          }],
          ["a Promise", () => Promise.resolve({ access_token: Redacted.make("token"), expires_in: 7200 })],
          ["undefined", () => undefined]
        ]
        for (const [name, source] of sources) {
          const store = yield* AppTokenStore.makeMemory()
          const { appToken } = yield* makeProcess(store, RefreshLock.makeInProcess(), {
            source: source as AppToken.Source
          })
          const error = yield* Effect.flip(appToken.get)
          assert.instanceOf(error, WeChatError.InvalidArgument, name)
          assert.strictEqual((error as WeChatError.InvalidArgument).argument, "source", name)
        }
      }).pipe(Effect.provide(Environment)))
  })

  describe("withToken", () => {
    it.scoped("an f that throws or gives no Effect, on the first call or on the retry, is an InvalidArgument naming f, never a defect nor a hang", () =>
      Effect.gen(function*() {
        const trap = () => {
          throw new Error("trap")
        }
        const revoked = Proxy.revocable({}, {})
        revoked.revoke()
        const answers: ReadonlyArray<readonly [string, () => unknown]> = [
          ["throws", trap],
          ["a number", () => 42],
          ["a Promise", () => Promise.resolve(1)],
          ["a Proxy whose traps throw", () => new Proxy({}, { has: trap, get: trap, getPrototypeOf: trap })],
          ["a revoked Proxy", () => revoked.proxy],
          // Effect-looking values the run loop would break on (it reads `_op` again, unguarded, while
          // handling a failure): a Proxy over an Effect, an `_op` getter that throws, an unknown `_op`
          [
            "a Proxy over an Effect whose _op throws",
            () =>
              new Proxy(Effect.succeed(1), {
                get: (target, key) => key === "_op" ? trap() : Reflect.get(target, key)
              })
          ],
          ["an Effect-marked object whose _op getter throws", () => {
            const real = Effect.succeed(1)
            const fake = Object.create(Object.getPrototypeOf(real))
            fake[effectTypeId] = (real as any)[effectTypeId]
            Object.defineProperty(fake, "_op", { get: trap })
            return fake
          }],
          ["an Effect-marked object with an unknown _op", () => ({
            [effectTypeId]: (Effect.void as any)[effectTypeId],
            _op: "start"
          })]
        ]
        const { appToken } = yield* oneProcess
        for (const [name, answer] of answers) {
          const error = yield* Effect.flip(appToken.withToken(answer as never)).pipe(Effect.timeout("5 seconds"))
          assert.instanceOf(error, WeChatError.InvalidArgument, name)
          assert.strictEqual((error as WeChatError.InvalidArgument).argument, "f", name)
          // the retry after a rejected token calls f again: checked the same way
          let calls = 0
          const retried = yield* Effect.flip(
            appToken.withToken((): never => {
              calls++
              return (calls === 1
                ? Effect.fail(new WeChatError.InvalidCredential({ errcode: 40001, errmsg: "invalid credential" }))
                : answer()) as never
            })
          ).pipe(Effect.timeout("5 seconds"))
          assert.strictEqual(calls, 2, name)
          assert.instanceOf(retried, WeChatError.InvalidArgument, `${name}, on the retry`)
        }
      }).pipe(Effect.provide(Environment)))
  })
})
