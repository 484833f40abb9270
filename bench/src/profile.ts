/**
 * One client alone, for a profiler: `node bench/dist/profile.js <client> [calls] [concurrency]`
 * with `<client>` one of `raw`, `wechat-oauth`, `wxauth-memory`, `wxauth-memory-fibers`,
 * `wxauth-memory-stock`, `wxauth-redis`, `floor-promise`, `floor-fibers` (`Floor.ts`: undici's
 * `dispatch` with a handler that only collects the body), `raw-runpromise` (the raw call wrapped in
 * `Effect.promise` and run with `runPromise`: the cost of the Promise boundary), or a layer of wxauth alone: `wxauth-http` (core's lean
 * `HttpClient`: execute, text, `JSON.parse`) and `wxauth-api` (`WeChatApi.userInfo`), both through
 * `runPromise`; or one of getPhoneNumber's: `phone-raw`, `phone-wxauth`, `phone-wxauth-fibers` (a
 * fresh phone code per call, minted before the warm-up and before the measured calls). Warms up, then makes `calls` calls (default 30,000) at
 * `concurrency` (default 64) and prints the figures. The sandbox server runs in its own process, so
 * the profile is the client's alone. With `BENCH_CPU_PROFILE=file.cpuprofile`, the measured calls
 * (not the set-up nor the warm-up) are profiled with the inspector's sampling profiler (open the
 * file in Chrome DevTools or speedscope). With `BENCH_HEAP_PROFILE=file.heapprofile`, the measured
 * calls' allocations are sampled (every 512 bytes on average, objects that died young included):
 * where the garbage per call comes from.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { WeChatApi, WeChatConfig, WeChatHttpClient } from "@wxauth/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs"
import { Session } from "node:inspector/promises"
import * as Floor from "./Floor.js"
import * as Harness from "./Harness.js"
import * as Legacy from "./Legacy.js"
import * as Phone from "./Phone.js"
import * as Raw from "./Raw.js"
import * as SandboxProcess from "./SandboxProcess.js"
import * as Wxauth from "./Wxauth.js"

const [client = "wxauth-memory", callsArg = "30000", concurrencyArg = "64"] = process.argv.slice(2)
const calls = Number(callsArg)
const concurrency = Number(concurrencyArg)
const redis = {
  url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  keyPrefix: `wxauth-bench-profile:${process.pid}:`
}

const subjectOf = async (
  sandbox: SandboxProcess.SandboxProcess
): Promise<Harness.Subject | Phone.PhoneSubject> => {
  const wxauth = (store: Wxauth.StoreKind, http: Wxauth.HttpKind, runner: Wxauth.Runner) =>
    Wxauth.make({ sandboxUrl: sandbox.url, store, http, redis }, runner, sandbox.approve)
  switch (client) {
    case "raw":
      return Raw.make(sandbox.url, await sandbox.grant())
    case "phone-raw":
      return Phone.raw(sandbox.url, await Phone.fetchAppToken(sandbox.url))
    case "phone-wxauth":
      return Phone.wxauth(sandbox.url, "runPromise")
    case "phone-wxauth-fibers":
      return Phone.wxauth(sandbox.url, "fibers")
    case "raw-runpromise": {
      const raw = Raw.make(sandbox.url, await sandbox.grant())
      const call = (raw.driver as Extract<Harness.Driver, { _tag: "Call" }>).call
      const runtime = ManagedRuntime.make(Layer.empty)
      const effect = Effect.promise(call)
      return {
        name: "raw undici Pool in runPromise",
        driver: { _tag: "Call", call: () => runtime.runPromise(effect) },
        close: () => raw.close().then(() => runtime.dispose())
      }
    }
    case "floor-promise":
      return Floor.make(sandbox.url, await sandbox.grant(), "promise")
    case "floor-fibers":
      return Floor.make(sandbox.url, await sandbox.grant(), "fibers")
    case "wechat-oauth":
      return Legacy.make(sandbox.url, await sandbox.approve(), { keepAlive: true })
    case "wxauth-memory":
      return wxauth("memory", "lean", "runPromise")
    case "wxauth-memory-fibers":
      return wxauth("memory", "lean", "fibers")
    case "wxauth-memory-stock":
      return wxauth("memory", "stock", "runPromise")
    case "wxauth-redis":
      return wxauth("redis", "lean", "runPromise")
    case "wxauth-http": {
      const grant = await sandbox.grant()
      const runtime = ManagedRuntime.make(WeChatHttpClient.layer())
      const client = await runtime.runPromise(HttpClient.HttpClient)
      const url = `${sandbox.url}/sns/userinfo?access_token=${encodeURIComponent(grant.accessToken)}&openid=${
        encodeURIComponent(grant.openid)
      }&lang=zh_CN`
      const call = Effect.suspend(() => client.execute(HttpClientRequest.get(url, { acceptJson: true }))).pipe(
        Effect.flatMap((response) => response.text),
        Effect.map((text) => JSON.parse(text))
      )
      return {
        name: "core WeChatHttpClient alone",
        driver: { _tag: "Call", call: () => runtime.runPromise(call) },
        close: () => runtime.dispose()
      }
    }
    case "wxauth-api": {
      const grant = await sandbox.grant()
      const runtime = ManagedRuntime.make(
        WeChatApi.layer.pipe(
          Layer.provide(WeChatHttpClient.layer()),
          Layer.provide(
            WeChatConfig.layer({
              appId: SandboxProcess.app.appId,
              appSecret: SandboxProcess.app.secret,
              apiBaseUrl: sandbox.url,
              openBaseUrl: sandbox.url
            })
          )
        )
      )
      const api = await runtime.runPromise(WeChatApi.WeChatApi)
      const accessToken = Redacted.make(grant.accessToken)
      return {
        name: "core WeChatApi.userInfo alone",
        driver: { _tag: "Call", call: () => runtime.runPromise(api.userInfo(accessToken, grant.openid, "zh_CN")) },
        close: () => runtime.dispose()
      }
    }
  }
  throw new Error(`unknown client ${client}`)
}

const main = async () => {
  const sandbox = await SandboxProcess.start()
  try {
    const subject = await subjectOf(sandbox)
    // getPhoneNumber's subjects use up a phone code per call
    const load = async (count: number) => {
      if ("load" in subject) subject.load(await sandbox.phoneCodes(count))
    }
    await load(Math.min(5_000, calls))
    await Harness.warmUp(subject, Math.min(5_000, calls), concurrency)
    await load(calls)
    const profile = process.env.BENCH_CPU_PROFILE
    const heapProfile = process.env.BENCH_HEAP_PROFILE
    const session = profile === undefined && heapProfile === undefined ? undefined : new Session()
    if (session !== undefined) session.connect()
    if (profile !== undefined) {
      await session!.post("Profiler.enable")
      await session!.post("Profiler.setSamplingInterval", { interval: 100 })
      await session!.post("Profiler.start")
    }
    if (heapProfile !== undefined) {
      // every allocation counts, also of objects the next scavenge frees: what the calls allocate
      await session!.post("HeapProfiler.startSampling", {
        samplingInterval: 512,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true
      })
    }
    const m = await Harness.measure(subject, calls, concurrency, sandbox.cpuUsage)
    if (profile !== undefined) {
      const { profile: result } = await session!.post("Profiler.stop")
      Fs.writeFileSync(profile, JSON.stringify(result))
    }
    if (heapProfile !== undefined) {
      const { profile: result } = await session!.post("HeapProfiler.stopSampling")
      Fs.writeFileSync(heapProfile, JSON.stringify(result))
    }
    session?.disconnect()
    console.log(
      `${subject.name} c=${concurrency}: ${m.callsPerSec.toFixed(0)} calls/s, p50 ${m.p50Ms.toFixed(2)} ms, p99 ${
        m.p99Ms.toFixed(2)
      } ms, client ${m.cpuUsPerCall.toFixed(0)} µs CPU/call, server ${m.serverCpuUsPerCall?.toFixed(0)} µs CPU/call`
    )
    await subject.close()
  } finally {
    await sandbox.stop()
  }
}

main().then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
