/**
 * `npm run bench`: raw undici, wechat-oauth 1.5.0 and wxauth `getUser` against one sandbox server
 * (a child process on 127.0.0.1), at concurrency 1 and 64; `MiniProgram.getPhoneNumber` with a warm
 * app token against a raw request; the refresh storm; memory per stored token. Prints a table and
 * writes `bench/results/latest.json` and `latest.png`.
 *
 * Options: `--quick` (a tenth of the calls, for trying things out), `--no-redis`, `--no-chart`,
 * `--no-flags` (no runs in a child with `--no-allocation-site-pretenuring`),
 * `--phone-only` (only the getPhoneNumber runs, written into the existing `latest.json`);
 * `BENCH_ROUNDS=n` measures every run n times, in alternating order; the table shows each run's
 * fastest round, the targets the median of the rounds' own ratios (default 3; wechat-oauth without
 * keep-alive, the slowest, is measured once); `REDIS_URL`
 * (default `redis://127.0.0.1:6379`). `latest.json` is merged: keys this run does not write (figures
 * of other tools) are kept.
 */
import { Redis } from "ioredis"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import { fileURLToPath } from "node:url"
import * as Chart from "./Chart.js"
import * as FlagProcess from "./FlagProcess.js"
import * as Floor from "./Floor.js"
import * as Harness from "./Harness.js"
import * as Legacy from "./Legacy.js"
import * as Memory from "./Memory.js"
import * as Phone from "./Phone.js"
import * as Raw from "./Raw.js"
import * as Report from "./Report.js"
import * as SandboxProcess from "./SandboxProcess.js"
import * as Storm from "./Storm.js"
import * as Wxauth from "./Wxauth.js"

const args = new Set(process.argv.slice(2))
const quick = args.has("--quick")
const phoneOnly = args.has("--phone-only")
const scale = quick ? 10 : 1
const concurrencies = [1, 64] as const
const calls: Record<number, number> = { 1: 3_000 / scale, 64: 20_000 / scale }
const warmUpCalls: Record<number, number> = { 1: 500 / scale, 64: 4_000 / scale }
const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? (quick ? "1" : "3")))
const stormCalls = 1_000
const stormProcesses = 4
const memoryTokens = 100_000
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
const resultsDir = fileURLToPath(new URL("../results/", import.meta.url))
/** The V8 flags of the child whose runs sit next to the others (`--no-flags`: none). */
const childFlags = ["--no-allocation-site-pretenuring"]

const log = (line: string) => process.stderr.write(`${line}\n`)

const connectRedis = async (): Promise<Redis | undefined> => {
  if (args.has("--no-redis")) return undefined
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 1_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null
  })
  try {
    await redis.connect()
    await redis.ping()
    return redis
  } catch (error) {
    log(`bench: no Redis at ${redisUrl} (${String(error)}): the Redis runs and storm are skipped`)
    redis.disconnect()
    return undefined
  }
}

const redisCpuMicros = async (redis: Redis): Promise<number> => {
  const info = await redis.info("cpu")
  const field = (name: string) => Number(info.match(new RegExp(`^${name}:([\\d.]+)`, "m"))?.[1] ?? "NaN")
  return (field("used_cpu_user") + field("used_cpu_sys")) * 1e6
}

const deleteKeys = async (redis: Redis, prefix: string) => {
  let cursor = "0"
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000)
    if (keys.length > 0) await redis.del(...keys)
    cursor = next
  } while (cursor !== "0")
}

/** The commit, and which packages differ from it (the bench measures the working tree's build). */
const revision = (): Report.Results["revision"] => {
  try {
    const git = (...args: Array<string>) =>
      execFileSync("git", args, { cwd: fileURLToPath(new URL("../..", import.meta.url)), encoding: "utf8" })
    // not trimmed: a porcelain line starts with its status, a space when the index is unchanged
    const changed = git("status", "--porcelain", "--", "packages").split("\n").filter((line) => line.length > 3)
    const uncommitted = [...new Set(changed.map((line) => line.slice(3).split("/").slice(0, 2).join("/")))].sort()
    return { commit: git("rev-parse", "--short", "HEAD").trim(), uncommitted }
  } catch {
    return null
  }
}

const logRound = (round: number, name: string, m: Harness.Measurement) =>
  log(
    `bench: round ${round + 1}, c=${m.concurrency} ${name}: ${m.callsPerSec.toFixed(0)} calls/s, p50 ${
      m.p50Ms.toFixed(2)
    } ms, p99 ${m.p99Ms.toFixed(2)} ms, ${m.cpuUsPerCall.toFixed(0)} µs CPU/call`
  )

/**
 * getPhoneNumber: the raw request, and wxauth through `runPromise` and as fibers. Every call uses
 * up a phone code, so each warm-up and each measured run gets as many fresh codes as it makes calls,
 * minted just before it (they live 5 minutes), outside the measured time.
 */
const measurePhoneNumber = async (sandbox: SandboxProcess.SandboxProcess): Promise<Report.PhoneNumberResults> => {
  const loadAverageAtStart = Os.loadavg()
  const subjects: Array<{ readonly subject: Phone.PhoneSubject; readonly client: Report.ClientKind }> = []
  try {
    subjects.push({ subject: Phone.raw(sandbox.url, await Phone.fetchAppToken(sandbox.url)), client: "raw" })
    for (const runner of ["runPromise", "fibers"] as const) {
      subjects.push({ subject: await Phone.wxauth(sandbox.url, runner), client: "wxauth" })
    }
    const measured: Array<Report.Measured> = []
    for (const concurrency of concurrencies) {
      for (let round = 0; round < rounds; round++) {
        for (const { client, subject } of round % 2 === 0 ? subjects : [...subjects].reverse()) {
          subject.load(await sandbox.phoneCodes(warmUpCalls[concurrency]))
          await Harness.warmUp(subject, warmUpCalls[concurrency], concurrency)
          subject.load(await sandbox.phoneCodes(calls[concurrency]))
          const m = await Harness.measure(subject, calls[concurrency], concurrency, sandbox.cpuUsage)
          logRound(round, subject.name, m)
          Report.record(measured, { ...m, name: subject.name, client, redisCpuUsPerCall: undefined })
        }
      }
    }
    return {
      generatedAt: new Date().toISOString(),
      revision: revision(),
      loadAverageAtStart,
      settings: {
        calls: Object.fromEntries(concurrencies.map((c) => [c, calls[c]])),
        warmUpCalls: Object.fromEntries(concurrencies.map((c) => [c, warmUpCalls[c]])),
        rounds
      },
      runs: Report.toRuns(measured)
    }
  } finally {
    for (const { subject } of subjects) await subject.close().catch(() => undefined)
  }
}

/** `--phone-only`: the getPhoneNumber runs alone, written into the existing `latest.json`. */
const phoneNumberOnly = async () => {
  const sandbox = await SandboxProcess.start()
  log(`bench: sandbox server (pid ${sandbox.pid}) at ${sandbox.url}`)
  try {
    const phone = await measurePhoneNumber(sandbox)
    console.log(Report.formatPhoneNumber(phone))
    if (quick) return
    const file = `${resultsDir}latest.json`
    if (!Fs.existsSync(file)) throw new Error(`${file} is missing: run the whole bench once first`)
    const results = JSON.parse(Fs.readFileSync(file, "utf8")) as Record<string, unknown>
    Fs.writeFileSync(file, JSON.stringify({ ...results, phoneNumber: phone }, null, 2) + "\n")
    log(`bench: wrote the getPhoneNumber runs into ${file}`)
  } finally {
    await sandbox.stop()
  }
}

/** One run of the table: a client of this process, or of the child with other V8 flags. */
interface Entry {
  readonly name: string
  readonly client: Report.ClientKind
  readonly redis: boolean
  readonly nodeFlags: ReadonlyArray<string>
  readonly rounds?: number
  readonly warmUp: (calls: number, concurrency: number) => Promise<unknown>
  readonly measure: (calls: number, concurrency: number) => Promise<Harness.Measurement>
}

const local = (
  subject: Harness.Subject,
  client: Report.ClientKind,
  serverCpu: () => Promise<NodeJS.CpuUsage>,
  options: { readonly redis?: boolean; readonly rounds?: number } = {}
): Entry => ({
  name: subject.name,
  client,
  redis: options.redis ?? false,
  nodeFlags: [],
  ...(options.rounds === undefined ? {} : { rounds: options.rounds }),
  warmUp: (calls, concurrency) => Harness.warmUp(subject, calls, concurrency),
  measure: (calls, concurrency) => Harness.measure(subject, calls, concurrency, serverCpu)
})

/** A client of the child: the server's CPU is counted here, around the child's run. */
const remote = (
  subject: FlagProcess.RemoteSubject,
  flags: ReadonlyArray<string>,
  serverCpu: () => Promise<NodeJS.CpuUsage>
): Entry => ({
  name: `${subject.name} [${flags.join(" ")}]`,
  client: subject.client,
  redis: false,
  nodeFlags: flags,
  warmUp: subject.warmUp,
  measure: async (calls, concurrency) => {
    const before = await serverCpu()
    const m = await subject.measure(calls, concurrency)
    const after = await serverCpu()
    const micros = (u: NodeJS.CpuUsage) => u.user + u.system
    return { ...m, serverCpuUsPerCall: (micros(after) - micros(before)) / m.calls }
  }
})

/** Slices of calls per run of a pair (each), and calls per slice (see `measurePaired`). */
const pairedSlices = quick ? 2 : 20
const callsPerSlice = quick ? 1_000 : 4_000

/**
 * `a` against `b`: `pairedSlices` slices of `callsPerSlice` calls each, in turns A B B A A B B A...
 * (a drift of the machine's speed weighs on both alike), after a warm-up of each and a first slice of
 * each that is not counted; the ratio is of the summed CPU.
 */
const measurePaired = async (a: Entry, b: Entry, concurrency: number): Promise<Report.Paired> => {
  await a.warmUp(warmUpCalls[concurrency], concurrency)
  await b.warmUp(warmUpCalls[concurrency], concurrency)
  // one slice of each, not counted: the first measured slice after the other's warm-up runs
  // partly unoptimized (seen: 236 µs, then 145 to 158)
  await a.measure(callsPerSlice, concurrency)
  await b.measure(callsPerSlice, concurrency)
  const cpuA: Array<number> = []
  const cpuB: Array<number> = []
  for (let i = 0; i < 2 * pairedSlices; i++) {
    const isA = i % 4 === 0 || i % 4 === 3
    const m = await (isA ? a : b).measure(callsPerSlice, concurrency)
    ;(isA ? cpuA : cpuB).push(m.cpuUsPerCall)
  }
  const sum = (values: ReadonlyArray<number>) => values.reduce((total, v) => total + v, 0)
  return {
    name: a.name,
    than: b.name,
    concurrency,
    callsPerSlice,
    cpuUsPerCall: cpuA,
    thanCpuUsPerCall: cpuB,
    ratio: sum(cpuA) / sum(cpuB),
    standardError: Report.pairedStandardError(cpuA, cpuB)
  }
}

const main = async () => {
  const loadAverageAtStart = Os.loadavg()
  const sandbox = await SandboxProcess.start()
  log(`bench: sandbox server (pid ${sandbox.pid}) at ${sandbox.url}`)
  const redis = await connectRedis()
  const keyPrefix = `wxauth-bench:${process.pid}:`
  const redisOptions = { url: redisUrl, keyPrefix }
  const subjects: Array<Harness.Subject> = []
  const entries: Array<Entry> = []
  let child: FlagProcess.FlagProcess | undefined
  const add = (subject: Harness.Subject, client: Report.ClientKind, options?: Parameters<typeof local>[3]) => {
    subjects.push(subject)
    entries.push(local(subject, client, sandbox.cpuUsage, options))
  }
  try {
    const raw = Raw.make(sandbox.url, await sandbox.grant())
    add(raw, "raw")
    // the floor of any Effect library: the raw request in Effect.promise, run as wxauth is run
    for (const runner of ["runPromise", "fibers"] as const) add(Wxauth.inEffect(raw, runner), "effect-floor")
    // the floor of any client of undici: dispatch with a handler that only collects the body
    for (const waiter of ["promise", "fibers"] as const) {
      add(Floor.make(sandbox.url, await sandbox.grant(), waiter), "effect-floor")
    }
    for (const keepAlive of [true, false]) {
      add(
        await Legacy.make(sandbox.url, await sandbox.approve(), { keepAlive }),
        "wechat-oauth",
        keepAlive ? {} : { rounds: 1 }
      )
    }
    if (redis !== undefined) {
      add(
        await Legacy.make(sandbox.url, await sandbox.approve(), { keepAlive: true, redis: redisOptions }),
        "wechat-oauth",
        { redis: true }
      )
    }
    const wxauth: Array<[Wxauth.StoreKind, Wxauth.HttpKind, Wxauth.Runner]> = [
      ["memory", "lean", "runPromise"],
      ["memory", "lean", "fibers"],
      ["memory", "lean", "fiber-per-call"],
      ["memory", "stock", "runPromise"],
      ["redis", "lean", "runPromise"],
      ["redis", "stock", "runPromise"]
    ]
    for (const [store, http, runner] of wxauth) {
      if (store === "redis" && redis === undefined) continue
      add(
        await Wxauth.make({ sandboxUrl: sandbox.url, store, http, redis: redisOptions }, runner, sandbox.approve),
        "wxauth",
        { redis: store === "redis" }
      )
    }
    if (!args.has("--no-flags")) {
      child = await FlagProcess.start(childFlags, {
        sandboxUrl: sandbox.url,
        grant: await sandbox.grant(),
        callbackUrls: [await sandbox.approve(), await sandbox.approve()]
      })
      for (const subject of child.subjects) entries.push(remote(subject, child.flags, sandbox.cpuUsage))
    }

    const measured: Array<Report.Measured> = []
    for (const concurrency of concurrencies) {
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? entries : [...entries].reverse()
        for (const entry of order) {
          if (entry.rounds !== undefined && round >= entry.rounds) continue
          await entry.warmUp(warmUpCalls[concurrency], concurrency)
          const redisBefore = entry.redis && redis !== undefined ? await redisCpuMicros(redis) : undefined
          const m = await entry.measure(calls[concurrency], concurrency)
          const redisCpuUsPerCall = redisBefore === undefined
            ? undefined
            : (await redisCpuMicros(redis!) - redisBefore) / m.calls
          logRound(round, entry.name, m)
          Report.record(measured, {
            ...m,
            name: entry.name,
            client: entry.client,
            nodeFlags: entry.nodeFlags,
            redisCpuUsPerCall
          })
        }
      }
    }
    // the CPU targets, each from its two runs measured in turns (not from the table's rounds); then
    // the floor's pairs, measured the same way
    const paired: Array<Report.Paired> = []
    {
      for (const [name, than] of [...Report.cpuTargets, ...Report.floorPairs]) {
        const a = entries.find((e) => e.name === name)
        const b = entries.find((e) => e.name === than)
        if (a === undefined || b === undefined) continue
        const pair = await measurePaired(a, b, Report.targetConcurrency)
        log(
          `bench: paired ${name} / ${than}: ${pair.ratio.toFixed(3)}x ± ${(pair.standardError ?? NaN).toFixed(3)} (${
            pair.cpuUsPerCall.map((v) => v.toFixed(0)).join(" ")
          } vs ${pair.thanCpuUsPerCall.map((v) => v.toFixed(0)).join(" ")} µs)`
        )
        paired.push(pair)
      }
    }

    for (const subject of subjects.splice(0)) await subject.close()
    await child?.close()
    child = undefined

    // before the storm, which moves the sandbox's clock (and so expires the app token)
    const phoneNumber = await measurePhoneNumber(sandbox)

    const storm: Array<Storm.StormResult> = []
    for (const expiry of ["expired", "42001"] as const) {
      storm.push(await Storm.memory(sandbox, stormCalls, expiry))
      if (redis !== undefined) storm.push(await Storm.redis(sandbox, redisOptions, stormCalls, stormProcesses, expiry))
      storm.push(await Storm.legacy(sandbox, stormCalls, expiry))
      log(`bench: storm (${expiry}) done`)
    }

    const memory = await Memory.measure(memoryTokens)
    const runs = Report.toRuns(measured)
    const cpus = Os.cpus()
    const results: Report.Results = {
      generatedAt: new Date().toISOString(),
      machine: {
        cpus: cpus.length,
        cpuModel: cpus[0]?.model.trim() ?? "unknown",
        node: process.version,
        platform: `${process.platform} ${process.arch}`,
        loadAverageAtStart
      },
      revision: revision(),
      settings: {
        calls: Object.fromEntries(concurrencies.map((c) => [c, calls[c]])),
        warmUpCalls: Object.fromEntries(concurrencies.map((c) => [c, warmUpCalls[c]])),
        rounds,
        wxauthRunner:
          "ManagedRuntime.runPromise per call; \"(fibers)\": `concurrency` fibers of one program, each making its calls one after another; \"(a fiber per call)\": Effect.forEach with concurrency; rows marked [flags] ran in a child process with those V8 flags; targets: paired runs (each target's two rows in turns, see paired)"
      },
      runs,
      storm,
      memory,
      targets: Report.targets(runs, storm, memory, paired),
      paired,
      phoneNumber
    }
    console.log(Report.format(results))
    if (!quick) {
      Fs.mkdirSync(resultsDir, { recursive: true })
      const file = `${resultsDir}latest.json`
      const previous: unknown = Fs.existsSync(file) ? JSON.parse(Fs.readFileSync(file, "utf8")) : undefined
      const targetRuns = Report.appendTargetRun(previous, results)
      Fs.writeFileSync(file, JSON.stringify(Report.merge(previous, { ...results, targetRuns }), null, 2) + "\n")
      console.log(`\n${Report.formatTargetRuns(targetRuns)}`)
      log(`bench: wrote ${file}`)
    }
    if (!args.has("--no-chart")) {
      const png = `${resultsDir}${quick ? "quick" : "latest"}.png`
      if (await Chart.render(results, png)) log(`bench: wrote ${png}`)
    }
  } finally {
    for (const subject of subjects) await subject.close().catch(() => undefined)
    await child?.close().catch(() => undefined)
    if (redis !== undefined) {
      await deleteKeys(redis, keyPrefix).catch(() => undefined)
      redis.disconnect()
    }
    await sandbox.stop()
  }
}
;(phoneOnly ? phoneNumberOnly() : main()).then(
  () => process.exit(0),
  (error) => {
    console.error("bench: failed:", error)
    process.exit(1)
  }
)
