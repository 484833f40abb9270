/**
 * wxauth as an app sets it up: `WeChatOAuth.layer` over a `WeChatConfig` pointed at the sandbox, an
 * `HttpClient` (core's lean `WeChatHttpClient.layer()`, or `@effect/platform-node`'s stock
 * `NodeHttpClient.layerUndici`) and a `TokenStore` (memory, or Redis with the Redis refresh lock),
 * in a `ManagedRuntime`.
 *
 * Ways to call it, as apps do:
 * - `runPromise`: one `runtime.runPromise(oauth.getUser(openid))` per call, from Promise code (an
 *   Express/Koa handler, or `@wxauth/compat`). The Promise boundary is part of the cost.
 * - `fibers`: inside fibers that exist anyway, as in an Effect HTTP server whose request fibers call
 *   `getUser`: `concurrency` fibers of one program, each making its calls one after another. What
 *   the call itself costs an Effect app.
 * - `fiber-per-call`: `Effect.forEach` with `concurrency`: a new fiber for every call, its cost
 *   counted with the call's.
 *
 * `inEffect` runs the raw client the same ways (its request in `Effect.promise`): the floor of any
 * Effect library, what the runtime's boundary and fibers cost before the library does anything.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { TokenStore, WeChatConfig, WeChatHttpClient, WeChatOAuth } from "@wxauth/core"
import { RedisRefreshLock, RedisTokenStore } from "@wxauth/store-redis"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { performance } from "node:perf_hooks"
import type { Subject } from "./Harness.js"
import { app, state } from "./SandboxProcess.js"

export type StoreKind = "memory" | "redis"
export type HttpKind = "lean" | "stock"
export type Runner = "runPromise" | "fibers" | "fiber-per-call"

/** How a runner shows in a row's name. */
export const runnerLabel: Record<Runner, string> = {
  runPromise: "",
  fibers: " (fibers)",
  "fiber-per-call": " (a fiber per call)"
}

export interface Options {
  readonly sandboxUrl: string
  readonly store: StoreKind
  readonly http: HttpKind
  /** For the Redis store. */
  readonly redis?: { readonly url: string; readonly keyPrefix: string } | undefined
}

export const httpLabel: Record<HttpKind, string> = {
  lean: "WeChatHttpClient",
  stock: "NodeHttpClient.layerUndici"
}

/** The layer of the whole service. */
export const layer = (options: Options) => {
  const config = WeChatConfig.layer({
    appId: app.appId,
    appSecret: app.secret,
    apiBaseUrl: options.sandboxUrl,
    openBaseUrl: options.sandboxUrl
  })
  const http = options.http === "lean" ? WeChatHttpClient.layer() : NodeHttpClient.layerUndici
  const store = options.store === "memory"
    ? TokenStore.layerMemory
    : Layer.mergeAll(
      RedisTokenStore.layer({ url: options.redis!.url, keyPrefix: options.redis!.keyPrefix }),
      RedisRefreshLock.layer({ url: options.redis!.url, keyPrefix: options.redis!.keyPrefix })
    )
  return WeChatOAuth.layer.pipe(Layer.provide(Layer.mergeAll(config, http, store)))
}

export type Runtime = ManagedRuntime.ManagedRuntime<WeChatOAuth.WeChatOAuth, unknown>

/** The runtime and the service, built. */
export const start = async (options: Options) => {
  const runtime: Runtime = ManagedRuntime.make(layer(options))
  const oauth = await runtime.runPromise(WeChatOAuth.WeChatOAuth)
  return { runtime, oauth }
}

/** Logs `alice` in through the service (the callback URL of a consent): her openid. */
export const login = async (runtime: Runtime, oauth: WeChatOAuth.WeChatOAuthShape, callbackUrl: string) =>
  (await runtime.runPromise(oauth.handleCallback(callbackUrl, { expectedState: state }))).token.openid

const checked = (openid: string) => (user: { readonly openid: string }) => {
  if (user.openid !== openid) throw new Error("wxauth getUser: another user")
  return user
}

/** A driver running `call` (an Effect, built per call) with `runner`, in `runtime`. */
export const driverOf = <R>(
  runtime: ManagedRuntime.ManagedRuntime<R, unknown>,
  runner: Runner,
  call: () => Effect.Effect<unknown, unknown, R>
): Subject["driver"] => {
  if (runner === "runPromise") return { _tag: "Call", call: () => runtime.runPromise(call()) }
  const timed = (i: number, latencies: Float64Array) =>
    Effect.suspend(() => {
      const started = performance.now()
      return Effect.map(call(), () => {
        latencies[i] = performance.now() - started
      })
    })
  if (runner === "fiber-per-call") {
    return {
      _tag: "Batch",
      batch: (calls, concurrency, latencies) =>
        runtime.runPromise(
          Effect.forEach(Array.from({ length: calls }, (_, i) => i), (i) => timed(i, latencies), {
            concurrency,
            discard: true
          })
        )
    }
  }
  return {
    _tag: "Batch",
    batch: (calls, concurrency, latencies) => {
      let next = 0
      const worker = Effect.whileLoop({
        while: () => next < calls,
        body: () => timed(next++, latencies),
        step: () => undefined
      })
      return runtime.runPromise(
        Effect.forEach(Array.from({ length: Math.min(concurrency, calls) }), () => worker, {
          concurrency: "unbounded",
          discard: true
        })
      )
    }
  }
}

export const make = async (
  options: Options,
  runner: Runner,
  approve: () => Promise<string>
): Promise<Subject> => {
  const { oauth, runtime } = await start(options)
  const openid = await login(runtime, oauth, await approve())
  const check = checked(openid)
  return {
    name: `wxauth ${options.store} + ${httpLabel[options.http]}${runnerLabel[runner]}`,
    driver: driverOf(runtime, runner, () => Effect.map(oauth.getUser(openid), check)),
    close: () => runtime.dispose()
  }
}

/** `subject`'s calls (a raw client's) in `Effect.promise`, run with `runner` in an empty runtime. */
export const inEffect = (subject: Subject, runner: Exclude<Runner, "fiber-per-call">): Subject => {
  if (subject.driver._tag !== "Call") throw new Error(`${subject.name}: not a call driver`)
  const call = subject.driver.call
  const runtime = ManagedRuntime.make(Layer.empty)
  return {
    name: `${subject.name} in Effect.promise${runner === "runPromise" ? " (runPromise)" : " (fibers)"}`,
    driver: driverOf(runtime, runner, () => Effect.promise(call)),
    close: () => runtime.dispose()
  }
}
