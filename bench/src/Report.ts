/**
 * The results: one record per run (with ratios to the raw client at the same concurrency), the
 * printed table, the target checks and `bench/results/latest.json`; the getPhoneNumber runs, with
 * their own raw client, in a section of their own.
 */
import type { Measurement } from "./Harness.js"
import type { MemoryResult } from "./Memory.js"
import type { StormResult } from "./Storm.js"

export type ClientKind = "raw" | "effect-floor" | "wechat-oauth" | "wxauth"

export interface Run {
  readonly name: string
  readonly concurrency: number
  /** V8 flags of the process the client ran in (`[]`: node's defaults, as every app runs). */
  readonly nodeFlags: ReadonlyArray<string>
  readonly callsPerSec: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** CPU time (user + system) of the client process over the run, per call. */
  readonly cpuUsPerCall: number
  /** `cpuUsPerCall` of every round, in the order of the rounds (the row's figures are its fastest round's). */
  readonly roundsCpuUsPerCall: ReadonlyArray<number>
  /** `callsPerSec` over raw's at the same concurrency (and with the same `nodeFlags`). */
  readonly ratioToRaw: number
  /** Every figure over raw's at the same concurrency (and with the same `nodeFlags`). */
  readonly ratios: {
    readonly callsPerSec: number
    readonly p50Ms: number
    readonly p99Ms: number
    readonly cpuUsPerCall: number
  }
  readonly client: ClientKind
  readonly calls: number
  readonly wallMs: number
  /** CPU time of the sandbox server process over the run, per call (its own `process.cpuUsage`). */
  readonly serverCpuUsPerCall: number | null
  /** CPU time of redis-server over the run, per call (`INFO cpu`; includes anyone else's traffic). */
  readonly redisCpuUsPerCall: number | null
}

export interface Target {
  readonly name: string
  /** The measured ratio (or value) the target is about, and its limit. */
  readonly ratio: number | null
  readonly limit: number | null
  readonly measured: string
  readonly met: boolean
}

/**
 * Two runs measured against each other for a target: slices of calls made in turns (A B B A A B...)
 * right after one another, so that what the machine does to one it does to the other; the ratio is
 * of the summed CPU.
 */
export interface Paired {
  readonly name: string
  readonly than: string
  readonly concurrency: number
  readonly callsPerSlice: number
  /** Each slice's CPU per call, in the order measured. */
  readonly cpuUsPerCall: ReadonlyArray<number>
  readonly thanCpuUsPerCall: ReadonlyArray<number>
  /** Summed CPU of `name` over summed CPU of `than`. */
  readonly ratio: number
  /**
   * How far `ratio` may be from the machine's true ratio: the standard error of the mean of the
   * slices' ratios (slice i of `name` over slice i of `than`, measured next to each other).
   */
  readonly standardError?: number | undefined
}

/** The standard error of the mean of `a[i] / b[i]` (see `Paired.standardError`). */
export const pairedStandardError = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  const ratios = a.slice(0, b.length).map((v, i) => v / b[i])
  if (ratios.length < 2) return NaN
  const mean = ratios.reduce((sum, r) => sum + r, 0) / ratios.length
  const variance = ratios.reduce((sum, r) => sum + (r - mean) ** 2, 0) / (ratios.length - 1)
  return Math.sqrt(variance / ratios.length)
}

/** A pair's ratio, its standard error, its slices and the mean CPU per call of each side. */
export const formatPaired = (pair: Paired): string => {
  const mean = (values: ReadonlyArray<number>) => values.reduce((sum, v) => sum + v, 0) / values.length
  return `${round(pair.ratio, 3).toFixed(2)}x ± ${
    (pair.standardError ?? pairedStandardError(pair.cpuUsPerCall, pair.thanCpuUsPerCall)).toFixed(2)
  }, paired (${pair.cpuUsPerCall.length} + ${pair.thanCpuUsPerCall.length} slices of ${pair.callsPerSlice} calls in turns; ${
    mean(pair.cpuUsPerCall).toFixed(0)
  } vs ${mean(pair.thanCpuUsPerCall).toFixed(0)} µs)`
}

export interface Results {
  readonly generatedAt: string
  readonly machine: {
    readonly cpus: number
    readonly cpuModel: string
    readonly node: string
    readonly platform: string
    readonly loadAverageAtStart: ReadonlyArray<number>
  }
  /** The repository's commit, and the packages with uncommitted changes when the bench ran. */
  readonly revision: { readonly commit: string; readonly uncommitted: ReadonlyArray<string> } | null
  readonly settings: {
    readonly calls: Record<string, number>
    readonly warmUpCalls: Record<string, number>
    readonly rounds: number
    readonly wxauthRunner: string
  }
  readonly runs: ReadonlyArray<Run>
  readonly storm: ReadonlyArray<StormResult>
  readonly memory: MemoryResult | null
  readonly targets: ReadonlyArray<Target>
  /** The paired measurements the CPU targets were computed from, and the floor's (`floorPairs`). */
  readonly paired?: ReadonlyArray<Paired> | undefined
  /**
   * The targets of the last full runs (this one last, at most `keptTargetRuns`): a target counts as
   * met when it holds in each of the last 3.
   */
  readonly targetRuns?: ReadonlyArray<TargetRun> | undefined
  /**
   * `getPhoneNumber` with a warm app token against a raw request (ratios to that raw run). It has its
   * own time and revision: `--phone-only` measures it alone and keeps the rest of the file.
   */
  readonly phoneNumber?: PhoneNumberResults | null | undefined
}

/** One full run's targets, as kept in `targetRuns`. */
export interface TargetRun {
  readonly generatedAt: string
  readonly revision: Results["revision"]
  readonly loadAverageAtStart: ReadonlyArray<number>
  readonly targets: ReadonlyArray<Pick<Target, "name" | "ratio" | "limit" | "met">>
}

/** How many full runs `targetRuns` keeps. */
export const keptTargetRuns = 10

/** The previous file's `targetRuns` (when it has any that read back) with this run's appended. */
export const appendTargetRun = (previous: unknown, results: Results): Array<TargetRun> => {
  const earlier = typeof previous === "object" && previous !== null &&
      Array.isArray((previous as { targetRuns?: unknown }).targetRuns)
    ? (previous as { targetRuns: Array<TargetRun> }).targetRuns
    : []
  const run: TargetRun = {
    generatedAt: results.generatedAt,
    revision: results.revision,
    loadAverageAtStart: results.machine.loadAverageAtStart,
    targets: results.targets.map(({ limit, met, name, ratio }) => ({ name, ratio, limit, met }))
  }
  return [...earlier, run].slice(-keptTargetRuns)
}

/** Each target over the last 3 runs of `runs`: its ratios, and whether it held in all of them. */
export const formatTargetRuns = (runs: ReadonlyArray<TargetRun>): string => {
  const last = runs.slice(-3)
  if (last.length === 0) return ""
  const out = [`targets over the last ${last.length} full run(s) (${last.map((r) => r.generatedAt).join(", ")}):`]
  for (const { name } of last[last.length - 1].targets) {
    const seen = last.map((r) => r.targets.find((t) => t.name === name))
    const ratios = seen.map((t) => t?.ratio === null || t?.ratio === undefined ? "-" : t.ratio.toFixed(2))
    const all = last.length === 3 && seen.every((t) => t?.met === true)
    out.push(`${all ? "MET " : last.length < 3 ? "----" : "NOT "}  ${name}: ${ratios.join(", ")}`)
  }
  if (last.length < 3) out.push("(a target counts as met when it holds in each of 3 full runs)")
  return out.join("\n")
}

export interface PhoneNumberResults {
  readonly generatedAt: string
  readonly revision: Results["revision"]
  readonly loadAverageAtStart: ReadonlyArray<number>
  readonly settings: {
    readonly calls: Record<string, number>
    readonly warmUpCalls: Record<string, number>
    readonly rounds: number
  }
  readonly runs: ReadonlyArray<Run>
}

export interface Measured extends Measurement {
  readonly name: string
  readonly client: ClientKind
  readonly nodeFlags?: ReadonlyArray<string> | undefined
  readonly redisCpuUsPerCall: number | undefined
  /** CPU per call of every round so far (filled by {@link record}). */
  readonly roundsCpuUsPerCall?: ReadonlyArray<number> | undefined
}

/**
 * Records a round of a run: keeps the fastest round's figures (by calls/s) and every round's CPU per
 * call, in round order.
 */
export const record = (measured: Array<Measured>, entry: Measured): void => {
  const index = measured.findIndex((e) =>
    e.name === entry.name && e.concurrency === entry.concurrency && sameFlags(e.nodeFlags, entry.nodeFlags)
  )
  if (index === -1) {
    measured.push({ ...entry, roundsCpuUsPerCall: [entry.cpuUsPerCall] })
    return
  }
  const previous = measured[index]
  const rounds = [...(previous.roundsCpuUsPerCall ?? []), entry.cpuUsPerCall]
  measured[index] = { ...(entry.callsPerSec > previous.callsPerSec ? entry : previous), roundsCpuUsPerCall: rounds }
}

/** The median of `values` (the mean of the middle two for an even count). */
export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

const round = (value: number, digits: number) => {
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

const sameFlags = (a: ReadonlyArray<string> | undefined, b: ReadonlyArray<string> | undefined) =>
  (a ?? []).join(" ") === (b ?? []).join(" ")

/** Records with ratios to the raw run of the same concurrency (in a process with the same V8 flags). */
export const toRuns = (measured: ReadonlyArray<Measured>): Array<Run> =>
  measured.map((m) => {
    const raw = measured.find((r) =>
      r.client === "raw" && r.concurrency === m.concurrency && sameFlags(r.nodeFlags, m.nodeFlags)
    )
    const ratio = (value: number, rawValue: number | undefined) =>
      rawValue === undefined || rawValue === 0 ? NaN : round(value / rawValue, 3)
    return {
      name: m.name,
      concurrency: m.concurrency,
      nodeFlags: m.nodeFlags ?? [],
      callsPerSec: round(m.callsPerSec, 0),
      p50Ms: round(m.p50Ms, 3),
      p99Ms: round(m.p99Ms, 3),
      cpuUsPerCall: round(m.cpuUsPerCall, 1),
      roundsCpuUsPerCall: (m.roundsCpuUsPerCall ?? [m.cpuUsPerCall]).map((v) => round(v, 1)),
      ratioToRaw: ratio(m.callsPerSec, raw?.callsPerSec),
      ratios: {
        callsPerSec: ratio(m.callsPerSec, raw?.callsPerSec),
        p50Ms: ratio(m.p50Ms, raw?.p50Ms),
        p99Ms: ratio(m.p99Ms, raw?.p99Ms),
        cpuUsPerCall: ratio(m.cpuUsPerCall, raw?.cpuUsPerCall)
      },
      client: m.client,
      calls: m.calls,
      wallMs: round(m.wallMs, 1),
      serverCpuUsPerCall: m.serverCpuUsPerCall === undefined ? null : round(m.serverCpuUsPerCall, 1),
      redisCpuUsPerCall: m.redisCpuUsPerCall === undefined ? null : round(m.redisCpuUsPerCall, 1)
    }
  })

/** The rows the targets are about (node's default flags, concurrency 64). */
export const rowNames = {
  raw: "raw undici Pool",
  wechatOAuth: "wechat-oauth 1.5.0 (keep-alive agent)",
  wechatOAuthRedis: "wechat-oauth 1.5.0 + Redis getToken/saveToken (keep-alive agent)",
  memory: "wxauth memory + WeChatHttpClient",
  memoryFibers: "wxauth memory + WeChatHttpClient (fibers)",
  redis: "wxauth redis + WeChatHttpClient"
} as const

/** The floor's rows (`Floor.rowName`). */
export const floorRowNames = {
  promise: "floor: undici dispatch, minimal handler (Promise)",
  fibers: "floor: undici dispatch, minimal handler (Effect.async, fibers)"
} as const

/** The targets' concurrency. */
export const targetConcurrency = 64

/** Issue 18's CPU targets: the row, the row it is measured against, the limit, and whether strictly below. */
export const cpuTargets: ReadonlyArray<readonly [string, string, number, boolean]> = [
  [rowNames.memory, rowNames.raw, 1.25, false],
  [rowNames.memoryFibers, rowNames.raw, 1.15, false],
  [rowNames.memory, rowNames.wechatOAuth, 0.8, false],
  [rowNames.memoryFibers, rowNames.wechatOAuth, 0.8, false],
  [rowNames.redis, rowNames.raw, 1.6, false],
  [rowNames.redis, rowNames.wechatOAuthRedis, 1, true]
]

/**
 * Pairs measured like the targets' and printed beside them, that are not targets: where the floor
 * (`Floor.ts`: undici's `dispatch` with a handler that only collects the body) stands against
 * wechat-oauth with a keep-alive agent, and what wxauth's `getUser` costs over the floor an Effect
 * program waits on. They show what the targets set against wechat-oauth leave for the library.
 */
export const floorPairs: ReadonlyArray<readonly [string, string]> = [
  [floorRowNames.fibers, rowNames.wechatOAuth],
  [floorRowNames.promise, rowNames.wechatOAuth],
  [rowNames.memoryFibers, floorRowNames.fibers]
]

/**
 * Issue 18's targets, as measured: client CPU per call at c=64 over raw's in the same run (and over
 * wechat-oauth's), bytes per stored token, and the refresh storms. A target whose rows were not
 * measured (no Redis) is not met, and says so.
 */
export const targets = (
  runs: ReadonlyArray<Run>,
  storm: ReadonlyArray<StormResult>,
  memory: MemoryResult | null,
  paired: ReadonlyArray<Paired> = []
): Array<Target> => {
  const result: Array<Target> = []
  const row = (name: string) =>
    runs.find((r) => r.name === name && r.concurrency === targetConcurrency && r.nodeFlags.length === 0)
  // The ratio of each round (the two rows measured in the same round, minutes apart at most), then
  // the median over the rounds: a round slowed down by the machine moves both rows of that round,
  // and one odd round does not decide.
  const cpuAtMost = (name: string, than: string, limit: number, strictly = false) => {
    const a = row(name)
    const b = row(than)
    const title = `${name}: CPU per call ${strictly ? "<" : "<="} ${limit}x ${than} (c=${targetConcurrency})`
    const pair = paired.find((p) => p.name === name && p.than === than && p.concurrency === targetConcurrency)
    if (pair !== undefined) {
      const ratio = round(pair.ratio, 3)
      result.push({
        name: title,
        ratio,
        limit,
        measured: formatPaired(pair),
        met: strictly ? ratio < limit : ratio <= limit
      })
      return
    }
    if (a === undefined || b === undefined) {
      result.push({ name: title, ratio: null, limit, measured: "not measured", met: false })
      return
    }
    const perRound = a.roundsCpuUsPerCall.slice(0, b.roundsCpuUsPerCall.length)
      .map((cpu, i) => cpu / b.roundsCpuUsPerCall[i])
    const ratio = round(median(perRound), 3)
    result.push({
      name: title,
      ratio,
      limit,
      measured: `${ratio.toFixed(2)}x, median of ${perRound.length} round(s) (${
        perRound.map((r) => r.toFixed(2)).join(", ")
      }; µs: ${a.roundsCpuUsPerCall.map((v) => v.toFixed(0)).join("/")} vs ${
        b.roundsCpuUsPerCall.map((v) => v.toFixed(0)).join("/")
      })`,
      met: strictly ? ratio < limit : ratio <= limit
    })
  }
  for (const [name, than, limit, strictly] of cpuTargets) cpuAtMost(name, than, limit, strictly)
  const tokenTitle = "bytes per stored token <= wechat-oauth's store"
  if (memory === null) {
    result.push({ name: tokenTitle, ratio: null, limit: 1, measured: "not measured", met: false })
  } else {
    const ratio = round(memory.wxauthMemoryStoreBytesPerToken / memory.wechatOAuthStoreBytesPerToken, 3)
    result.push({
      name: tokenTitle,
      ratio,
      limit: 1,
      measured: `${
        ratio.toFixed(2)
      }x (${memory.wxauthMemoryStoreBytesPerToken} vs ${memory.wechatOAuthStoreBytesPerToken} B)`,
      met: ratio <= 1
    })
  }
  for (const processes of [1, 4]) {
    for (const expiry of ["expired", "42001"] as const) {
      const s = storm.find((s) => s.name.startsWith("wxauth") && s.processes === processes && s.expiry === expiry)
      const title = `refresh storm, wxauth in ${processes} process${
        processes === 1 ? "" : "es"
      }, ${expiry}: exactly 1 refresh`
      if (s === undefined) {
        result.push({ name: title, ratio: null, limit: 1, measured: "not measured", met: false })
        continue
      }
      const failed = Object.values(s.failures).reduce((sum, n) => sum + n, 0)
      result.push({
        name: title,
        ratio: s.refreshRequests,
        limit: 1,
        measured: `${s.refreshRequests} refresh request(s), ${s.succeeded}/${s.calls} calls succeeded${
          failed === 0 ? "" : `, ${failed} failed`
        } (${s.name})`,
        met: s.refreshRequests === 1 && s.succeeded === s.calls
      })
    }
  }
  return result
}

/**
 * The file's new content: `results` over what `previous` held, so that keys this run does not
 * produce (figures other tools write into the same file) are kept.
 */
export const merge = (previous: unknown, results: Results): Record<string, unknown> =>
  typeof previous === "object" && previous !== null && !Array.isArray(previous)
    ? { ...(previous as Record<string, unknown>), ...results }
    : { ...results }

const pad = (text: string, width: number, right = false) => right ? text.padStart(width) : text.padEnd(width)

const fixed = (value: number | null, digits: number) =>
  value === null || Number.isNaN(value) ? "-" : value.toFixed(digits)

const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>, leftColumns = 1) => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => pad(c, widths[i], i >= leftColumns)).join("  ")
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n")
}

const runTable = (runs: ReadonlyArray<Run>) =>
  table(
    ["run", "c", "calls/s", "x raw", "p50 ms", "x raw", "p99 ms", "x raw", "CPU µs/call", "x raw", "server µs/call"],
    runs.map((r) => [
      r.name,
      String(r.concurrency),
      String(r.callsPerSec),
      fixed(r.ratios.callsPerSec, 2),
      fixed(r.p50Ms, 2),
      fixed(r.ratios.p50Ms, 2),
      fixed(r.p99Ms, 2),
      fixed(r.ratios.p99Ms, 2),
      fixed(r.cpuUsPerCall, 0),
      fixed(r.ratios.cpuUsPerCall, 2),
      fixed(r.serverCpuUsPerCall, 0)
    ])
  )

/** The getPhoneNumber section: its table, and wxauth's ratios to raw at each concurrency. */
export const formatPhoneNumber = (phone: PhoneNumberResults): string => {
  const out: Array<string> = []
  out.push(
    `getPhoneNumber with a warm app token vs a raw request (${phone.generatedAt}; calls per run: ${
      Object.entries(phone.settings.calls).map(([c, n]) => `${n} at c=${c}`).join(", ")
    }; best of ${phone.settings.rounds} round(s))`
  )
  out.push("")
  out.push(runTable(phone.runs))
  out.push("")
  for (const r of phone.runs.filter((r) => r.client === "wxauth")) {
    out.push(
      `ratio: ${r.name} at c=${r.concurrency}: ${fixed(r.ratios.callsPerSec, 3)}x raw calls/s, ${
        fixed(r.ratios.cpuUsPerCall, 2)
      }x raw CPU per call`
    )
  }
  return out.join("\n")
}

/** The printed report. */
export const format = (results: Results): string => {
  const out: Array<string> = []
  const m = results.machine
  out.push(
    `wxauth bench: ${m.cpus} x ${m.cpuModel}, node ${m.node}, load average at start ${
      m.loadAverageAtStart.map((l) => l.toFixed(2)).join(" ")
    }`
  )
  if (results.revision !== null) {
    const r = results.revision
    out.push(
      `commit ${r.commit}${r.uncommitted.length === 0 ? "" : ` (uncommitted changes in ${r.uncommitted.join(", ")})`}`
    )
  }
  out.push(
    `calls per run: ${
      Object.entries(results.settings.calls).map(([c, n]) => `${n} at c=${c}`).join(", ")
    }; best of ${results.settings.rounds} round(s); wxauth via ${results.settings.wxauthRunner}`
  )
  out.push("")
  out.push(runTable(results.runs))
  const redisRuns = results.runs.filter((r) => r.redisCpuUsPerCall !== null)
  if (redisRuns.length > 0) {
    out.push("")
    out.push(
      `redis-server CPU µs/call: ${
        redisRuns.map((r) => `${r.name} c=${r.concurrency}: ${fixed(r.redisCpuUsPerCall, 0)}`).join("; ")
      }`
    )
  }
  const flagged = results.runs.filter((r) => r.nodeFlags.length > 0)
  if (flagged.length > 0) {
    out.push("")
    for (const r of flagged) {
      const plain = results.runs.find((p) =>
        p.nodeFlags.length === 0 && p.concurrency === r.concurrency && r.name.startsWith(`${p.name} [`)
      )
      if (plain === undefined) continue
      out.push(
        `${r.nodeFlags.join(" ")}: ${plain.name} c=${r.concurrency}: ${fixed(r.cpuUsPerCall, 0)} µs CPU/call with it, ${
          fixed(plain.cpuUsPerCall, 0)
        } without (${fixed(r.cpuUsPerCall / plain.cpuUsPerCall, 2)}x); ${fixed(r.callsPerSec, 0)} vs ${
          fixed(plain.callsPerSec, 0)
        } calls/s`
      )
    }
  }
  if (results.storm.length > 0) {
    out.push("")
    out.push(table(
      ["refresh storm", "expiry", "calls", "refresh requests", "userinfo requests", "succeeded", "failures", "ms"],
      results.storm.map((s) => [
        s.name,
        s.expiry,
        String(s.calls),
        String(s.refreshRequests),
        String(s.userinfoRequests),
        String(s.succeeded),
        Object.entries(s.failures).map(([e, n]) => `${n} ${e}`).join(", ") || "-",
        s.wallMs.toFixed(0)
      ]),
      2
    ))
  }
  if (results.memory !== null) {
    const mem = results.memory
    out.push("")
    out.push(
      `memory at ${mem.tokens} tokens: wxauth memory store ${mem.wxauthMemoryStoreBytesPerToken} B/token; ` +
        `wechat-oauth's store ${mem.wechatOAuthStoreBytesPerToken} B/token`
    )
  }
  if (results.phoneNumber !== undefined && results.phoneNumber !== null) {
    out.push("")
    out.push(formatPhoneNumber(results.phoneNumber))
  }
  const floor = (results.paired ?? []).filter((p) =>
    floorPairs.some(([name, than]) => p.name === name && p.than === than)
  )
  if (floor.length > 0) {
    out.push("")
    out.push(`the floor, paired as the targets are (not targets; c=${targetConcurrency}):`)
    for (const p of floor) out.push(`  ${p.name} / ${p.than}: ${formatPaired(p)}`)
  }
  out.push("")
  out.push("targets (issue 18):")
  for (const t of results.targets) out.push(`${t.met ? "PASS" : "FAIL"}  ${t.name}: ${t.measured}`)
  return out.join("\n")
}
