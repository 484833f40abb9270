/**
 * The refresh storm: many concurrent `getUser` calls for one user whose access token has just
 * expired, and how many refresh requests reach WeChat (the sandbox's `refresh_token` counter).
 *
 * Two ways for a token to expire:
 * - `expired`: two hours pass for everyone. The sandbox's clock moves 2 h, and so does the client's
 *   (wxauth: an offset `Clock`; wechat-oauth: its stored `create_at` moved back 2 h). The client
 *   knows the token is stale and refreshes before calling userinfo.
 * - `42001`: only WeChat's clock moves (a token WeChat expired early). The client calls userinfo,
 *   gets 42001, and has to refresh and retry.
 */
import * as Effect from "effect/Effect"
import { fork } from "node:child_process"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import * as Legacy from "./Legacy.js"
import * as OffsetClock from "./OffsetClock.js"
import type { SandboxProcess } from "./SandboxProcess.js"
import * as Wxauth from "./Wxauth.js"

export type Expiry = "expired" | "42001"

export interface StormResult {
  readonly name: string
  readonly expiry: Expiry
  readonly processes: number
  readonly calls: number
  /** Requests to `/sns/oauth2/refresh_token` the storm caused. */
  readonly refreshRequests: number
  readonly userinfoRequests: number
  readonly succeeded: number
  /** Failed calls, by error. */
  readonly failures: Record<string, number>
  readonly wallMs: number
}

/** Options of a storm worker process. */
export interface WorkerOptions {
  readonly sandboxUrl: string
  readonly redis: { readonly url: string; readonly keyPrefix: string }
  readonly openid: string
  readonly calls: number
  readonly clockOffsetMillis: number
}

export interface WorkerDone {
  readonly type: "done"
  readonly succeeded: number
  readonly failures: Record<string, number>
  readonly wallMs: number
}

const twoHours = 7_200

const tally = (outcomes: ReadonlyArray<{ readonly ok: true } | { readonly ok: false; readonly error: string }>) => {
  const failures: Record<string, number> = {}
  let succeeded = 0
  for (const outcome of outcomes) {
    if (outcome.ok) succeeded++
    else failures[outcome.error] = (failures[outcome.error] ?? 0) + 1
  }
  return { succeeded, failures }
}

const counted = async (
  sandbox: SandboxProcess,
  fire: () => Promise<{ readonly succeeded: number; readonly failures: Record<string, number> }>
) => {
  await sandbox.resetStats()
  const started = performance.now()
  const outcome = await fire()
  const wallMs = Math.round((performance.now() - started) * 10) / 10
  const stats = await sandbox.stats()
  return { ...outcome, wallMs, refreshRequests: stats.refresh_token, userinfoRequests: stats.userinfo }
}

/** wxauth, memory store, one process. */
export const memory = async (sandbox: SandboxProcess, calls: number, expiry: Expiry): Promise<StormResult> => {
  const clock = OffsetClock.make(await sandbox.clockOffsetMillis())
  const { oauth, runtime } = await Wxauth.start({ sandboxUrl: sandbox.url, store: "memory", http: "lean" })
  try {
    const { token } = await runtime.runPromise(
      Effect.withClock(oauth.handleCallback(await sandbox.approve(), { expectedState: "bench" }), clock)
    )
    await sandbox.advanceClock(twoHours)
    if (expiry === "expired") clock.offsetMillis += twoHours * 1000
    const result = await counted(sandbox, async () =>
      tally(
        await Promise.all(
          Array.from({ length: calls }, () =>
            runtime.runPromise(Effect.either(Effect.withClock(oauth.getUser(token.openid), clock))).then((either) =>
              either._tag === "Right" ? { ok: true as const } : { ok: false as const, error: either.left._tag }
            ))
        )
      ))
    return { name: "wxauth, memory store, 1 process", expiry, processes: 1, calls, ...result }
  } finally {
    await runtime.dispose()
  }
}

const workerEntry = fileURLToPath(new URL("./stormWorker.js", import.meta.url))

/** wxauth, Redis store and Redis refresh lock, `processes` processes sharing the calls. */
export const redis = async (
  sandbox: SandboxProcess,
  redisOptions: { readonly url: string; readonly keyPrefix: string },
  calls: number,
  processes: number,
  expiry: Expiry
): Promise<StormResult> => {
  const offset = await sandbox.clockOffsetMillis()
  const clock = OffsetClock.make(offset)
  const seed = await Wxauth.start({ sandboxUrl: sandbox.url, store: "redis", http: "lean", redis: redisOptions })
  let openid: string
  try {
    const { token } = await seed.runtime.runPromise(
      Effect.withClock(seed.oauth.handleCallback(await sandbox.approve(), { expectedState: "bench" }), clock)
    )
    openid = token.openid
  } finally {
    await seed.runtime.dispose()
  }
  await sandbox.advanceClock(twoHours)
  const options: WorkerOptions = {
    sandboxUrl: sandbox.url,
    redis: redisOptions,
    openid,
    calls: calls / processes,
    clockOffsetMillis: offset + (expiry === "expired" ? twoHours * 1000 : 0)
  }
  const workers = Array.from(
    { length: processes },
    () => fork(workerEntry, [JSON.stringify(options)], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
  )
  const exited = (worker: (typeof workers)[number]) =>
    new Promise<never>((_, reject) =>
      worker.once("exit", (code) => reject(new Error(`a storm worker exited (${code}) before it was done`)))
    )
  try {
    await Promise.all(
      workers.map((worker) =>
        Promise.race([new Promise<void>((resolve) => worker.once("message", () => resolve())), exited(worker)])
      )
    )
    const result = await counted(sandbox, async () => {
      const done = workers.map((worker) =>
        Promise.race([new Promise<WorkerDone>((resolve) => worker.once("message", resolve)), exited(worker)])
      )
      for (const worker of workers) worker.send({ type: "go" })
      const reports = await Promise.all(done)
      const failures: Record<string, number> = {}
      for (const report of reports) {
        for (const [error, count] of Object.entries(report.failures)) failures[error] = (failures[error] ?? 0) + count
      }
      return { succeeded: reports.reduce((sum, report) => sum + report.succeeded, 0), failures }
    })
    return {
      name: `wxauth, Redis store + RedisRefreshLock, ${processes} processes`,
      expiry,
      processes,
      calls,
      ...result
    }
  } finally {
    for (const worker of workers) if (worker.exitCode === null) worker.kill()
  }
}

/** wechat-oauth 1.5.0, its memory store, one process. */
export const legacy = async (sandbox: SandboxProcess, calls: number, expiry: Expiry): Promise<StormResult> => {
  const { close, oauth } = Legacy.makeClient(sandbox.url, { keepAlive: true })
  try {
    const openid = await Legacy.exchange(oauth, new URL(await sandbox.approve()).searchParams.get("code")!)
    await sandbox.advanceClock(twoHours)
    if (expiry === "expired") oauth.store[openid].create_at -= twoHours * 1000
    const result = await counted(sandbox, async () =>
      tally(
        await Promise.all(
          Array.from({ length: calls }, () =>
            Legacy.getUser(oauth, openid).then(
              () => ({ ok: true as const }),
              (error: Error & { code?: number }) => ({
                ok: false as const,
                error: `${error.name}${error.code === undefined ? "" : ` ${error.code}`}`
              })
            ))
        )
      ))
    return { name: "wechat-oauth 1.5.0, memory store, 1 process", expiry, processes: 1, calls, ...result }
  } finally {
    close()
  }
}
