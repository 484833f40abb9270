/**
 * The login as a Web-standard handler (`Request` -> `Promise<Response>`) with Promise twins of the
 * service, for servers that are not Effect servers. One runtime is built from the layer on first
 * use and kept until `dispose`.
 *
 * The argument comes from a JavaScript server's adapter, which may pass anything by mistake (a
 * Node `IncomingMessage`, a `Response`, a URL string, `undefined`). `@effect/platform`'s handler
 * assumes a `Request`: given anything else it threw, or died before answering and its Promise never
 * settled. So a value is read once, guarded, before the platform sees it (`requestOf`): what is not
 * a `Request` gets a 400 (`currentUser`: an `InvalidArgument` rejection), and a `Request` that is
 * not a plain one (a subclass, a Proxy) is handed on as a fresh `Request` made of the fields read.
 *
 * @internal
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { WeChatError } from "@wxauth/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import type * as CurrentWeChatUser from "../CurrentWeChatUser.js"
import type { WebHandler, WeChatLogin, WeChatLoginShape } from "../WeChatLogin.js"

const pathnameOf = (input: Request | URL | string): string | undefined => {
  try {
    return new URL(typeof input === "string" || input instanceof URL ? input : input.url, "http://localhost").pathname
  } catch {
    return undefined
  }
}

/**
 * Whether a value is a Proxy, where the runtime can tell (Node, Deno and Bun have `node:util`); a
 * Proxy can pass every check of a `Request` and then throw on a later read.
 */
const isProxy: (u: unknown) => boolean = (() => {
  try {
    const util = (globalThis as { process?: { getBuiltinModule?: (id: string) => any } }).process
      ?.getBuiltinModule?.("node:util")
    const check: unknown = util?.types?.isProxy
    return typeof check === "function" ? (u: unknown) => check(u) === true : () => false
  } catch {
    return () => false
  }
})()

/**
 * The value as a `Request` the platform can read, or `undefined` when it is not one (or cannot be
 * read: a revoked Proxy, a trap or getter that throws, a hollow object made from
 * `Request.prototype`). A plain `Request` is given back as it is; a subclass or a Proxy of one as a
 * fresh `Request` of the fields read once (`withBody: false` leaves the caller's body unread).
 */
const requestOf = (input: unknown, withBody: boolean): Request | undefined => {
  try {
    if (!(input instanceof Request)) return undefined
    const url: unknown = input.url
    const method: unknown = input.method
    const headers: unknown = input.headers
    if (typeof url !== "string" || typeof method !== "string" || !(headers instanceof Headers)) return undefined
    if (Object.getPrototypeOf(input) === Request.prototype && !isProxy(input)) return input
    const signal: unknown = input.signal
    return new Request(url, {
      method,
      headers,
      ...(signal instanceof AbortSignal ? { signal } : {}),
      ...(withBody ? { body: input.body, duplex: "half" } : {})
    } as RequestInit)
  } catch {
    return undefined
  }
}

const notARequest = () =>
  new Response("Bad Request: not a Request.", {
    status: 400,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" }
  })

const unavailable = () =>
  new Response("The login is not available.", {
    status: 500,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" }
  })

/**
 * The `memoMap` option, read once. Options a JavaScript caller built so that they cannot be read (a
 * getter or a Proxy trap that throws, a revoked Proxy), or a `memoMap` that is not one (`{}`, a
 * string: the runtime would fail every request with a 500), are logged and left out: the layer is
 * built in a memo map of its own, as without options; `toWebHandler` does not throw.
 */
const memoMapOf = (options: unknown): Layer.MemoMap | undefined => {
  let memoMap: unknown
  try {
    memoMap = (options as { readonly memoMap?: unknown } | undefined)?.memoMap
    if (memoMap === undefined || isMemoMap(memoMap)) return memoMap
  } catch {
    Effect.runSync(Effect.logWarning("wxauth: toWebHandler's options cannot be read; built without them"))
    return undefined
  }
  Effect.runSync(Effect.logWarning("wxauth: toWebHandler's memoMap is not a Layer.MemoMap; built without it"))
  return undefined
}

/** A `Layer.MemoMap` (made by `Layer.makeMemoMap`), looked at under the caller's guard. */
const isMemoMap = (u: unknown): u is Layer.MemoMap => typeof u === "object" && u !== null && Layer.MemoMapTypeId in u

/** @internal */
export const toWebHandler = <E>(
  tag: typeof WeChatLogin,
  layer: Layer.Layer<WeChatLogin | CurrentWeChatUser.CurrentWeChatUser, E, never>,
  options?: { readonly memoMap?: Layer.MemoMap | undefined }
): WebHandler => {
  const runtime = ManagedRuntime.make(Layer.merge(layer, HttpServer.layerContext), memoMapOf(options))
  let ready: Promise<WeChatLoginShape> | undefined
  const service = () => (ready ??= run(Effect.succeed))
  // a failure rejects with the typed error itself (its `_tag` tells what happened), not a wrapper
  const run = <A, X>(effect: (service: WeChatLoginShape) => Effect.Effect<A, X>): Promise<A> =>
    runtime.runPromiseExit(Effect.flatMap(tag, effect)).then((exit) =>
      Exit.isSuccess(exit) ? exit.value : Promise.reject(Cause.squash(exit.cause))
    )
  const web = HttpApp.toWebHandlerRuntime
  let handler: ((request: Request) => Promise<Response>) | undefined
  return {
    handler: async (input) => {
      const request = requestOf(input, true)
      if (request === undefined) {
        // the server's adapter passed something else: its mistake, answered (never a rejection or a hang)
        Effect.runSync(Effect.logWarning("wxauth: toWebHandler's handler was given a value that is not a Request"))
        return notARequest()
      }
      if (handler === undefined) {
        try {
          const rt = await runtime.runtime()
          handler = web(rt)(Effect.flatMap(tag, (s) => s.httpApp) as any)
        } catch (error) {
          // the layer failed: every request gets a 500 (the failure is logged, never answered)
          Effect.runSync(Effect.logError("wxauth: the login's layer failed to build", error))
          return unavailable()
        }
      }
      // the request was checked: the platform answers it; should it still throw, the caller gets a 500
      return handler(request).catch((error: unknown) => {
        Effect.runSync(Effect.logError("wxauth: toWebHandler failed to answer a request", failureName(error)))
        return unavailable()
      })
    },
    handles: async (input) => {
      const pathname = pathnameOf(input)
      return pathname !== undefined && (await service()).handles(pathname)
    },
    currentUser: (input) => {
      const request = requestOf(input, false)
      if (request === undefined) {
        return Promise.reject(
          new WeChatError.InvalidArgument({ argument: "request", description: "must be a Request" })
        )
      }
      return run((s) =>
        s.currentUser.pipe(
          Effect.provideService(HttpServerRequest.HttpServerRequest, HttpServerRequest.fromWeb(request)),
          Effect.catchTags({
            Unauthenticated: () => Effect.succeed(undefined),
            CrossSiteRequest: () => Effect.succeed(undefined)
          })
        )
      )
    },
    getUser: (user, getOptions) => run((s) => s.getUser(user, getOptions)),
    logoutEverywhere: (user) => run((s) => s.logoutEverywhere(user)),
    dispose: () => runtime.dispose()
  }
}

/** What failed, for the log: a tag or a class name, never a message (it may quote the request). */
const failureName = (error: unknown): string => {
  try {
    if (typeof error === "object" && error !== null) {
      const tag: unknown = (error as { _tag?: unknown })._tag
      if (typeof tag === "string") return tag.slice(0, 64)
      if (error instanceof Error) return error.name.slice(0, 64)
    }
    return typeof error
  } catch {
    return "unknown"
  }
}
