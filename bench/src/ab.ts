/**
 * Two (or more) builds of core in one process, in turns: `node bench/dist/ab.js <slices> <calls>
 * <build> <build>...`, where a build is a directory under `packages/core` holding a build of core
 * (`dist` is this checkout's; see the README's "A/B of a change" for another commit's) or `floor`
 * (`Floor.ts`'s `Effect.async` floor). Each is `WeChatOAuth.getUser` with the memory store and the
 * lean client, called from fibers at c=64 against one sandbox server process; after a warm-up, each
 * slice of `calls` calls of each build runs in turns (the order reversed every other slice), and
 * the CPU per call of each slice is paired with the first build's slice of the same round.
 *
 * It prints each build's mean CPU per call (and its system part), the main thread's GC pauses per
 * call (by kind: minor = scavenges, incremental = marking steps, major), and the ratio to the first
 * build with the standard error of the paired ratios. One process for all builds means a change is
 * measured under the same machine load, heap and JIT state as what it replaces: what `main.ts`'s
 * runs a minute apart cannot tell (a 2 % change in a row whose CPU moves by a third between rounds).
 */
import type * as Core from "@wxauth/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { constants, PerformanceObserver } from "node:perf_hooks"
import * as Floor from "./Floor.js"
import * as Harness from "./Harness.js"
import * as SandboxProcess from "./SandboxProcess.js"
import { app, state } from "./SandboxProcess.js"
import * as Wxauth from "./Wxauth.js"

const [slicesArg = "16", callsArg = "4000", ...builds] = process.argv.slice(2)
const slices = Number(slicesArg)
const calls = Number(callsArg)
const concurrency = 64
if (!(slices >= 2) || !(calls >= 100) || builds.length < 2) {
  console.error(
    "usage: node bench/dist/ab.js <slices >= 2> <calls >= 100> <build> <build>... (a build: a directory under packages/core, or floor)"
  )
  process.exit(2)
}

/** The GC pauses of this process's main thread so far, in ms, by kind. */
const pauses = { minor: 0, incremental: 0, major: 0, other: 0 }
const kindOf = (kind: number): keyof typeof pauses =>
  kind === constants.NODE_PERFORMANCE_GC_MINOR
    ? "minor"
    : kind === constants.NODE_PERFORMANCE_GC_INCREMENTAL
    ? "incremental"
    : kind === constants.NODE_PERFORMANCE_GC_MAJOR
    ? "major"
    : "other"
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const detail = (entry as { readonly detail?: { readonly kind?: number } }).detail
    pauses[kindOf(detail?.kind ?? 0)] += entry.duration
  }
}).observe({ entryTypes: ["gc"] })

/** `getUser` of the core build in `packages/core/<dir>`, as `Wxauth.make` sets it up. */
const subjectOf = async (sandbox: SandboxProcess.SandboxProcess, dir: string): Promise<Harness.Subject> => {
  if (dir === "floor") return Floor.make(sandbox.url, await sandbox.grant(), "fibers")
  // another build of the same package: the same types
  const core: typeof Core = await import(new URL(`../../packages/core/${dir}/index.js`, import.meta.url).href)
  const layer = core.WeChatOAuth.layer.pipe(Layer.provide(Layer.mergeAll(
    core.WeChatConfig.layer({
      appId: app.appId,
      appSecret: app.secret,
      apiBaseUrl: sandbox.url,
      openBaseUrl: sandbox.url
    }),
    core.WeChatHttpClient.layer(),
    core.TokenStore.layerMemory
  )))
  const runtime = ManagedRuntime.make(layer)
  const oauth = await runtime.runPromise(core.WeChatOAuth.WeChatOAuth)
  const login = await runtime.runPromise(oauth.handleCallback(await sandbox.approve(), { expectedState: state }))
  const openid = login.token.openid
  const call = () =>
    Effect.map(oauth.getUser(openid), (user) => {
      if (user.openid !== openid) throw new Error(`${dir}: getUser answered for another user`)
      return user
    })
  return { name: dir, driver: Wxauth.driverOf(runtime, "fibers", call), close: () => runtime.dispose() }
}

interface Slice {
  readonly cpu: number
  readonly system: number
  readonly gc: typeof pauses
}

const sum = (values: ReadonlyArray<number>) => values.reduce((total, v) => total + v, 0)

const main = async () => {
  const sandbox = await SandboxProcess.start()
  try {
    const subjects: Array<Harness.Subject> = []
    for (const build of builds) subjects.push(await subjectOf(sandbox, build))
    for (const subject of subjects) await Harness.warmUp(subject, 20_000, concurrency)
    // a first slice of each, not counted: the first after another's warm-up runs partly unoptimized
    for (const subject of subjects) await Harness.measure(subject, calls, concurrency)
    const measured: Array<Array<Slice>> = subjects.map(() => [])
    for (let round = 0; round < slices; round++) {
      const order = subjects.map((_, i) => round % 2 === 0 ? i : subjects.length - 1 - i)
      for (const i of order) {
        const gcBefore = { ...pauses }
        const before = process.cpuUsage()
        const m = await Harness.measure(subjects[i], calls, concurrency)
        const system = process.cpuUsage(before).system / calls
        // the observer hears of a pause after it: let the last ones in
        await new Promise((resolve) => setTimeout(resolve, 20))
        const gc = { ...pauses }
        for (const kind of Object.keys(gc) as Array<keyof typeof pauses>) {
          gc[kind] = (gc[kind] - gcBefore[kind]) * 1000 / calls
        }
        measured[i].push({ cpu: m.cpuUsPerCall, system, gc })
      }
    }
    const first = measured[0]
    console.log(`${slices} slices of ${calls} calls each at c=${concurrency}, in turns; µs per call`)
    for (let i = 0; i < subjects.length; i++) {
      const mine = measured[i]
      const ratios = mine.map((slice, k) => slice.cpu / first[k].cpu)
      const meanRatio = sum(ratios) / ratios.length
      const standardError = Math.sqrt(
        sum(ratios.map((r) => (r - meanRatio) ** 2)) / (ratios.length - 1) / ratios.length
      )
      const mean = (f: (slice: Slice) => number) => (sum(mine.map(f)) / mine.length).toFixed(1)
      console.log(
        `${builds[i].padEnd(16)} CPU ${mean((s) => s.cpu)} (system ${mean((s) => s.system)}), GC pauses: minor ${
          mean((s) => s.gc.minor)
        }, incremental ${mean((s) => s.gc.incremental)}, major ${mean((s) => s.gc.major)}; x ${builds[0]}: ${
          (sum(mine.map((s) => s.cpu)) / sum(first.map((s) => s.cpu))).toFixed(3)
        } ± ${standardError.toFixed(3)}`
      )
    }
    for (const subject of subjects) await subject.close()
  } finally {
    await sandbox.stop()
  }
}

main().then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
