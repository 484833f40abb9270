/**
 * wxauth as an app sets it up: `WeChatOAuth.layer` over a `WeChatConfig` pointed at the sandbox, an
 * `HttpClient` (core's lean `WeChatHttpClient.layer()`, or `@effect/platform-node`'s stock
 * `NodeHttpClient.layerUndici`) and a `TokenStore` (memory, or Redis with the Redis refresh lock),
 * in a `ManagedRuntime`.
 *
 * Two ways to call it, as apps do:
 * - `runPromise`: one `runtime.runPromise(oauth.getUser(openid))` per call, from Promise code (an
 *   Express/Koa handler, or `@wxauth/compat`). The Promise boundary is part of the cost.
 * - `fibers`: the calls are fibers of one Effect program (`Effect.forEach` with `concurrency`), as
 *   in an Effect HTTP server, where each request already runs in a fiber.
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
export type Runner = "runPromise" | "fibers"

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

export const make = async (
  options: Options,
  runner: Runner,
  approve: () => Promise<string>
): Promise<Subject> => {
  const { oauth, runtime } = await start(options)
  const openid = await login(runtime, oauth, await approve())
  const check = checked(openid)
  const name = `wxauth ${options.store} + ${httpLabel[options.http]}${runner === "fibers" ? " (fibers)" : ""}`
  const close = () => runtime.dispose()
  if (runner === "runPromise") {
    return { name, driver: { _tag: "Call", call: () => runtime.runPromise(oauth.getUser(openid)).then(check) }, close }
  }
  return {
    name,
    driver: {
      _tag: "Batch",
      batch: (calls, concurrency, latencies) =>
        runtime.runPromise(
          Effect.forEach(
            Array.from({ length: calls }, (_, i) => i),
            (i) =>
              Effect.suspend(() => {
                const started = performance.now()
                return Effect.map(oauth.getUser(openid), (user) => {
                  check(user)
                  latencies[i] = performance.now() - started
                })
              }),
            { concurrency, discard: true }
          )
        )
    },
    close
  }
}
