/**
 * The acceptance test of the shared app token: 4 worker processes, each with its own Redis
 * connections, AppToken and MiniProgram, exchange 1,000 phone-number codes at once (250 each)
 * against one sandbox HTTP server, with no app token stored. The sandbox must count exactly one
 * `stable_token` request.
 *
 * Every `stable_token` answer is 2 s late (a `slow` fault), so without the distributed lock every
 * worker would find no token and fetch its own: the control run without the lock counts more than
 * one request (one per worker that started within those 2 s: all 4 on an idle machine), so the test
 * cannot pass by luck of timing.
 *
 * The workers run plain node on the built packages (`dist`), as a deployment would; the build is
 * brought up to date first (`tsc -b`, incremental). Their deadlines are generous (see the worker):
 * the test counts requests, not latency, on a machine where 5 processes share 2 cores.
 */
import { afterAll, assert, beforeAll, it } from "@effect/vitest"
import { AppTokenStore } from "@wxauth/core"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import { RedisAppTokenStore } from "@wxauth/store-redis"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { cleanup, describeRedis, makeAdmin, randomPrefix, redisUrl } from "./utils.js"
import { buildForWorkers, spawnWorker } from "./workers.js"

const workers = 4
const callsPerWorker = 250

type Result =
  | { readonly ok: true; readonly phone: string }
  | { readonly ok: false; readonly error: string; readonly message: string }

type Report =
  | { readonly type: "ready" }
  | { readonly type: "done"; readonly ok: true; readonly results: ReadonlyArray<Result> }
  | { readonly type: "done"; readonly ok: false; readonly error: string; readonly message?: string }

describeRedis("4 worker processes, 1,000 getPhoneNumber calls, no app token stored", () => {
  const admin = makeAdmin()
  const prefixes: Array<string> = []

  // the workers import @wxauth/core and @wxauth/store-redis from dist: build them (incremental)
  beforeAll(buildForWorkers, 180_000)

  afterAll(async () => {
    for (const prefix of prefixes) await cleanup(admin, prefix)
    await admin.quit()
  })

  const app = Sandbox.defaultApps.miniProgram
  const SandboxLive = Sandbox.layerServer({ port: 0 }).pipe(Layer.provideMerge(Sandbox.layer()))

  /** Runs the 1,000 calls in 4 workers; returns the sandbox's counts and the store's token. */
  const run = (options: { readonly lock: boolean }) =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { url } = yield* SandboxServer.SandboxServer
      const prefix = randomPrefix()
      prefixes.push(prefix)

      // the phone codes, as the getPhoneNumber button gives them, of the users in turn
      const users = sandbox.users.map((user) => user.id)
      const codes = yield* Effect.forEach(
        Array.from({ length: workers * callsPerWorker }, (_, i) => users[i % users.length]),
        (user) => Effect.map(sandbox.phoneNumberCode({ appId: app.appId, user }), (code) => ({ user, code }))
      )
      yield* sandbox.resetStats
      // every stable_token answer is 2 s late: every worker looks for the token before any fetch ends
      yield* sandbox.injectFault({ kind: "slow", endpoint: "stable_token", delayMs: 2000, times: 2 * workers })

      const processes = yield* Effect.forEach(
        Array.from({ length: workers }),
        () =>
          spawnWorker<Report>("phone-worker.mjs", {
            REDIS_URL: redisUrl,
            WXAUTH_KEY_PREFIX: prefix,
            WXAUTH_NO_LOCK: options.lock ? "0" : "1",
            SANDBOX_URL: url,
            WECHAT_APP_ID: app.appId,
            WECHAT_APP_SECRET: app.secret
          })
      )
      yield* Effect.forEach(processes, (worker) => Effect.promise(() => worker.ready), { concurrency: "unbounded" })
      const shares = processes.map((_, w) => codes.slice(w * callsPerWorker, (w + 1) * callsPerWorker))
      processes.forEach((worker, w) => worker.child.send({ type: "go", codes: shares[w].map(({ code }) => code) }))
      const reports = yield* Effect.forEach(processes, (worker) => Effect.promise(() => worker.done), {
        concurrency: "unbounded"
      }).pipe(Effect.timeout("90 seconds"))

      const stats = yield* sandbox.stats
      const store = yield* Effect.map(
        Layer.build(RedisAppTokenStore.layer({ url: redisUrl, keyPrefix: prefix })),
        Context.get(AppTokenStore.AppTokenStore)
      )
      const stored = yield* store.get(app.appId)
      const phoneOf = new Map(sandbox.users.map((user) => [user.id, user.phoneNumber]))
      return { reports, shares, stats, stored, phoneOf }
    })

  it.scopedLive(
    "exactly 1 stable_token request for all the processes, and every call answered",
    () =>
      Effect.gen(function*() {
        const { phoneOf, reports, shares, stats, stored } = yield* run({ lock: true })
        for (const [w, report] of reports.entries()) {
          assert.isTrue(report.ok, `worker ${w}: ${JSON.stringify(report)}`)
          if (!report.ok) continue
          assert.strictEqual(report.results.length, callsPerWorker)
          for (const [i, result] of report.results.entries()) {
            assert.deepStrictEqual(result, { ok: true, phone: phoneOf.get(shares[w][i].user)! })
          }
        }
        assert.strictEqual(stats.stable_token, 1, "one stable_token request for the 4 processes")
        assert.strictEqual(stats.token, 0)
        assert.strictEqual(stats.getuserphonenumber, workers * callsPerWorker, "each call once: no 40001, no retry")
        assert.isTrue(Option.isSome(stored), "the token is in Redis")
      }).pipe(Effect.provide(SandboxLive)),
    180_000
  )

  it.scopedLive(
    "control: without the distributed lock, the processes fetch their own (the slow answer shows it)",
    () =>
      Effect.gen(function*() {
        const { reports, stats } = yield* run({ lock: false })
        for (const report of reports) assert.isTrue(report.ok)
        // at most one per process (each has its own single-flight): one per process that started in time
        assert.isAbove(stats.stable_token, 1, "without the lock, more than one process fetches")
        assert.isAtMost(stats.stable_token, workers)
      }).pipe(Effect.provide(SandboxLive)),
    180_000
  )
})
