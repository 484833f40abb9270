/**
 * The measuring loop, the same for every client: a fixed number of calls at a fixed concurrency,
 * each call's latency, the wall time, and the CPU time of this process (and of the server process)
 * over the run.
 */
import { performance } from "node:perf_hooks"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

/**
 * Runs `calls` calls, at most `concurrency` at a time, writing each call's latency (ms) into
 * `latencies[i]`. A client either hands out one call at a time (`call`) and the harness runs the
 * workers, or runs the whole batch itself (`batch`, e.g. as fibers).
 */
export type Driver =
  | { readonly _tag: "Call"; readonly call: () => Promise<unknown> }
  | {
    readonly _tag: "Batch"
    readonly batch: (calls: number, concurrency: number, latencies: Float64Array) => Promise<void>
  }

/** One client under test. */
export interface Subject {
  readonly name: string
  readonly driver: Driver
  readonly close: () => Promise<void>
}

/** What one run measured. */
export interface Measurement {
  readonly calls: number
  readonly concurrency: number
  readonly wallMs: number
  readonly callsPerSec: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly cpuUsPerCall: number
  readonly serverCpuUsPerCall: number | undefined
}

/** `gc()`, exposed at run time when node was not started with `--expose-gc`. */
export const gc: () => void = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (exposed !== undefined) return exposed
  setFlagsFromString("--expose-gc")
  return runInNewContext("gc") as () => void
})()

/** A percentile of sorted values (nearest rank). */
export const percentile = (sorted: Float64Array, p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]

const cpuMicros = (usage: NodeJS.CpuUsage) => usage.user + usage.system

const runWorkers = (call: () => Promise<unknown>, calls: number, concurrency: number, latencies: Float64Array) => {
  let next = 0
  const worker = async () => {
    while (next < calls) {
      const i = next++
      const started = performance.now()
      await call()
      latencies[i] = performance.now() - started
    }
  }
  return Promise.all(Array.from({ length: Math.min(concurrency, calls) }, worker))
}

const drive = (driver: Driver, calls: number, concurrency: number, latencies: Float64Array): Promise<unknown> =>
  driver._tag === "Call"
    ? runWorkers(driver.call, calls, concurrency, latencies)
    : driver.batch(calls, concurrency, latencies)

/** Calls without measuring: JIT, connection pools, caches. */
export const warmUp = (subject: Subject, calls: number, concurrency: number): Promise<unknown> =>
  drive(subject.driver, calls, concurrency, new Float64Array(calls))

/** One measured run, after a full GC. */
export const measure = async (
  subject: Subject,
  calls: number,
  concurrency: number,
  serverCpu?: () => Promise<NodeJS.CpuUsage>
): Promise<Measurement> => {
  const latencies = new Float64Array(calls)
  gc()
  const serverBefore = serverCpu === undefined ? undefined : await serverCpu()
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  await drive(subject.driver, calls, concurrency, latencies)
  const wallMs = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  const serverAfter = serverCpu === undefined ? undefined : await serverCpu()
  latencies.sort()
  return {
    calls,
    concurrency,
    wallMs,
    callsPerSec: calls / (wallMs / 1000),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    cpuUsPerCall: cpuMicros(cpu) / calls,
    serverCpuUsPerCall: serverBefore === undefined || serverAfter === undefined
      ? undefined
      : (cpuMicros(serverAfter) - cpuMicros(serverBefore)) / calls
  }
}
