/**
 * The results: one record per run (with ratios to the raw client at the same concurrency), the
 * printed table, the target checks and `bench/results/latest.json`; the getPhoneNumber runs, with
 * their own raw client, in a section of their own.
 */
import type { Measurement } from "./Harness.js"
import type { MemoryResult } from "./Memory.js"
import type { StormResult } from "./Storm.js"

export type ClientKind = "raw" | "wechat-oauth" | "wxauth"

export interface Run {
  readonly name: string
  readonly concurrency: number
  readonly callsPerSec: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** CPU time (user + system) of the client process over the run, per call. */
  readonly cpuUsPerCall: number
  /** `callsPerSec` over raw's at the same concurrency. */
  readonly ratioToRaw: number
  /** Every figure over raw's at the same concurrency. */
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
  readonly measured: string
  readonly met: boolean
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
  /**
   * `getPhoneNumber` with a warm app token against a raw request (ratios to that raw run). It has its
   * own time and revision: `--phone-only` measures it alone and keeps the rest of the file.
   */
  readonly phoneNumber?: PhoneNumberResults | null | undefined
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
  readonly redisCpuUsPerCall: number | undefined
}

const round = (value: number, digits: number) => {
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

/** Records with ratios to the raw run of the same concurrency. */
export const toRuns = (measured: ReadonlyArray<Measured>): Array<Run> =>
  measured.map((m) => {
    const raw = measured.find((r) => r.client === "raw" && r.concurrency === m.concurrency)
    const ratio = (value: number, rawValue: number | undefined) =>
      rawValue === undefined || rawValue === 0 ? NaN : round(value / rawValue, 3)
    return {
      name: m.name,
      concurrency: m.concurrency,
      callsPerSec: round(m.callsPerSec, 0),
      p50Ms: round(m.p50Ms, 3),
      p99Ms: round(m.p99Ms, 3),
      cpuUsPerCall: round(m.cpuUsPerCall, 1),
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

/** The runs the speed targets are about: wxauth's getUser with the memory store and the lean client. */
export const targetRuns = ["wxauth memory + WeChatHttpClient", "wxauth memory + WeChatHttpClient (fibers)"]

/** The issue's targets, as measured. */
export const targets = (runs: ReadonlyArray<Run>, storm: ReadonlyArray<StormResult>): Array<Target> => {
  const result: Array<Target> = []
  const legacy = runs.filter((r) => r.client === "wechat-oauth" && r.concurrency === 64)
  for (const wx of runs.filter((r) => targetRuns.includes(r.name) && r.concurrency === 64)) {
    result.push({
      name: `${wx.name} at c=64: >= 0.85x raw calls/s`,
      measured: `${wx.ratioToRaw.toFixed(3)}x raw (${wx.callsPerSec} calls/s)`,
      met: wx.ratioToRaw >= 0.85
    })
    for (const other of legacy) {
      result.push({
        name: `${wx.name} at c=64: faster than ${other.name}`,
        measured: `${wx.callsPerSec} vs ${other.callsPerSec} calls/s: ${
          (wx.callsPerSec / other.callsPerSec).toFixed(2)
        }x`,
        met: wx.callsPerSec > other.callsPerSec
      })
    }
  }
  for (const s of storm.filter((s) => s.name.startsWith("wxauth"))) {
    const failed = Object.values(s.failures).reduce((sum, n) => sum + n, 0)
    result.push({
      name: `storm, ${s.name}, ${s.expiry}: exactly 1 refresh`,
      measured: `${s.refreshRequests} refresh request(s), ${s.succeeded}/${s.calls} calls succeeded${
        failed === 0 ? "" : `, ${failed} failed`
      }`,
      met: s.refreshRequests === 1 && s.succeeded === s.calls
    })
  }
  return result
}

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
  out.push("")
  for (const t of results.targets) out.push(`${t.met ? "MET " : "MISS"}  ${t.name}: ${t.measured}`)
  return out.join("\n")
}
