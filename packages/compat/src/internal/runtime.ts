/**
 * What the OAuth class and the functional API share: one lean HTTP client (undici pool) without a
 * proxy for the whole process, so that a client made per request does not open a pool per request,
 * and one per proxy while requests use it (kept idle for reuse a while, a bounded number of them); base
 * URLs from options or the environment; authorize URLs built exactly as `wechat-oauth` built them;
 * arguments as text; the callback/promise bridge.
 *
 * @internal
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { WeChatHttpClient } from "@wxauth/core"
import * as Cause from "effect/Cause"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as QueryString from "node:querystring"
import { fromCause, fromDefect } from "../CompatError.js"

type ClientRuntime = ManagedRuntime.ManagedRuntime<HttpClient.HttpClient, ConfigError.ConfigError>

let direct: ClientRuntime | undefined

/**
 * The process-wide client without a proxy (`proxy` must be `undefined`). Its pool lives as long as
 * the process; idle connections close on their own. A client through a proxy is
 * {@link withProxyClient}'s.
 *
 * @internal
 */
export const sharedHttpClient = (_proxy: undefined): ClientRuntime => {
  if (direct === undefined) direct = ManagedRuntime.make(WeChatHttpClient.layer(undefined))
  return direct
}

/**
 * A client through one proxy: its runtime (an undici `ProxyAgent` pool, built on first use), the
 * requests running on it, and, once none is, the timer that disposes it.
 */
interface ProxyEntry {
  readonly key: string
  readonly runtime: ClientRuntime
  users: number
  cancelTimer: (() => void) | undefined
  disposed: boolean
}

/**
 * How long an unused proxy client is kept for reuse, how many unused ones are kept at most, and the
 * timer (unref'd: it never keeps the process alive). Tests change them.
 *
 * @internal
 */
export const proxyClientSettings: {
  idleMillis: number
  maxIdle: number
  setTimer: (callback: () => void, millis: number) => () => void
} = {
  idleMillis: 60_000,
  maxIdle: 16,
  setTimer: (callback, millis) => {
    const timer = setTimeout(callback, millis)
    timer.unref()
    return () => clearTimeout(timer)
  }
}

/** The clients through a proxy, by proxy URL (in use, or idle and kept for reuse). */
const proxied = new Map<string, ProxyEntry>()
/** The idle ones, least recently used first. */
const idle = new Set<ProxyEntry>()
let live = 0

/**
 * How many proxy clients exist (not yet disposed): those in use, those idle, and those retired
 * (a failed build) that a request still holds.
 *
 * @internal
 */
export const liveProxyClients = (): number => live

const dispose = (entry: ProxyEntry): void => {
  if (entry.disposed) return
  entry.disposed = true
  entry.cancelTimer?.()
  entry.cancelTimer = undefined
  idle.delete(entry)
  if (proxied.get(entry.key) === entry) proxied.delete(entry.key)
  live--
  try {
    entry.runtime.dispose().catch(() => undefined)
  } catch {
    // nothing runs on it: a failure to close is of no one's concern
  }
}

const acquire = (proxy: string): ProxyEntry => {
  let entry = proxied.get(proxy)
  if (entry === undefined) {
    entry = {
      key: proxy,
      runtime: ManagedRuntime.make(WeChatHttpClient.layer({ proxy })),
      users: 0,
      cancelTimer: undefined,
      disposed: false
    }
    proxied.set(proxy, entry)
    live++
  }
  entry.cancelTimer?.()
  entry.cancelTimer = undefined
  idle.delete(entry)
  entry.users++
  return entry
}

const release = (entry: ProxyEntry): void => {
  entry.users--
  if (entry.users > 0 || entry.disposed) return
  // retired (its build failed): no one gets it again
  if (proxied.get(entry.key) !== entry) return dispose(entry)
  idle.add(entry)
  try {
    entry.cancelTimer = proxyClientSettings.setTimer(() => {
      entry.cancelTimer = undefined
      if (entry.users === 0) dispose(entry)
    }, proxyClientSettings.idleMillis)
  } catch {
    return dispose(entry)
  }
  while (idle.size > Math.max(0, proxyClientSettings.maxIdle)) {
    const oldest = idle.values().next().value as ProxyEntry
    dispose(oldest)
  }
}

/** A runtime whose build failed keeps its failure: the next request through the proxy builds anew. */
const retire = (entry: ProxyEntry): void => {
  if (proxied.get(entry.key) === entry) proxied.delete(entry.key)
}

const built = (entry: ProxyEntry) =>
  Effect.tapErrorCause(
    entry.runtime.runtimeEffect,
    (cause) => Cause.isInterruptedOnly(cause) ? Effect.void : Effect.sync(() => retire(entry))
  )

/**
 * Runs `use` with the client through `proxy`, held for the time `use` runs (it must read the whole
 * answer): the client is built when missing, reused while in use or idle, and disposed once it has
 * been idle for `proxyClientSettings.idleMillis`, or at once when more than
 * `proxyClientSettings.maxIdle` are idle (the least recently used). Released on success, failure
 * and interruption. A failed build is `onBuildFailure(cause)`.
 *
 * @internal
 */
export const withProxyClient = <A, E, R, E2>(
  proxy: string,
  use: (client: HttpClient.HttpClient) => Effect.Effect<A, E, R>,
  onBuildFailure: (cause: Cause.Cause<ConfigError.ConfigError>) => Effect.Effect<never, E2>
): Effect.Effect<A, E | E2, R> =>
  Effect.acquireUseRelease(
    Effect.sync(() => acquire(proxy)),
    (entry) =>
      Effect.flatMap(
        Effect.catchAllCause(
          built(entry),
          (cause) =>
            Cause.isInterruptedOnly(cause) ? Effect.failCause(cause as Cause.Cause<never>) : onBuildFailure(cause)
        ),
        (runtime) => use(Context.get(runtime.context, HttpClient.HttpClient))
      ),
    (entry) => Effect.sync(() => release(entry))
  )

/**
 * Builds the client through `proxy` (a bad proxy URL is the `ConfigError`), then lets it go idle.
 *
 * @internal
 */
export const checkProxyClient = (proxy: string): Effect.Effect<void, ConfigError.ConfigError> =>
  Effect.acquireUseRelease(
    Effect.sync(() => acquire(proxy)),
    (entry) => Effect.asVoid(built(entry)),
    (entry) => Effect.sync(() => release(entry))
  )

const nonEmpty = (value: unknown): string | undefined =>
  typeof value === "string" && value.trim() !== "" ? value.trim() : undefined

/**
 * The API host: the option, else `WECHAT_API_BASE_URL`, else WeChat's (`undefined`: the core's default).
 *
 * @internal
 */
export const apiBaseUrlOf = (option: unknown): string | undefined =>
  nonEmpty(option) ?? nonEmpty(process.env.WECHAT_API_BASE_URL)

/**
 * The consent-page host: the option, else `WECHAT_OPEN_BASE_URL`, else WeChat's.
 *
 * @internal
 */
export const openBaseUrlOf = (option: unknown): string | undefined =>
  nonEmpty(option) ?? nonEmpty(process.env.WECHAT_OPEN_BASE_URL)

/** @internal */
export const defaultOpenBaseUrl = "https://open.weixin.qq.com"

/** The base URL as the core normalises it (no trailing slash). */
const normaliseBaseUrl = (value: string): string => {
  let text: string
  try {
    text = new URL(value).toString()
  } catch {
    text = value
  }
  // a scan from the end, linear (`/\/+$/` backtracks over every run of slashes inside the text)
  let end = text.length
  while (end > 0 && text.charCodeAt(end - 1) === 47) end--
  return text.slice(0, end)
}

// a lone surrogate (a string that is not well-formed UTF-16) as U+FFFD
const wellFormedText = (u: unknown): unknown => typeof u === "string" ? u.toWellFormed() : u

/**
 * A string (or each string of an array, which `querystring` writes as repeated parameters) with each
 * lone surrogate as U+FFFD, as `URLSearchParams` writes it; anything else as it is.
 */
const wellFormed = (u: unknown): unknown => {
  if (typeof u === "string") return wellFormedText(u)
  try {
    return Array.isArray(u) ? u.map(wellFormedText) : u
  } catch {
    // a value that cannot be read (a revoked Proxy): sent empty, as querystring sends any object
    // (it threw a TypeError out of the URL builder, not a compat error)
    return undefined
  }
}

/**
 * An authorize URL as `wechat-oauth` built it: the parameters in its order, encoded by Node's
 * `querystring` (so any value gives the same bytes), then `#wechat_redirect`. But for one thing:
 * `querystring` throws a `URIError` on a lone surrogate (so `wechat-oauth`'s URL builders threw, and
 * an app calling them does not expect a throw); such a character is sent as U+FFFD instead, and
 * WeChat refuses the URL, as it would any redirect it does not know.
 *
 * @internal
 */
export const authorizeUrl = (
  openBaseUrl: string | undefined,
  path: "/connect/oauth2/authorize" | "/connect/qrconnect",
  params: {
    readonly appid: unknown
    readonly redirect_uri: unknown
    readonly response_type: "code"
    readonly scope: unknown
    readonly state: unknown
  }
): string =>
  `${normaliseBaseUrl(openBaseUrl ?? defaultOpenBaseUrl)}${path}?${
    QueryString.stringify({
      appid: wellFormed(params.appid),
      redirect_uri: wellFormed(params.redirect_uri),
      response_type: params.response_type,
      scope: wellFormed(params.scope),
      state: wellFormed(params.state)
    } as QueryString.ParsedUrlQueryInput)
  }#wechat_redirect`

/**
 * An argument as the text sent to WeChat: a string as it is, a number, bigint or boolean as
 * `querystring` wrote it (as `wechat-oauth` sent it); `undefined` for anything else (`null`, an
 * object, a function), which WeChat would get as an empty value. Never calls a `toString`.
 *
 * @internal
 */
export const textOf = (u: unknown): string | undefined => {
  switch (typeof u) {
    case "string":
      return u
    case "number":
      return Number.isFinite(u) ? String(u) : undefined
    case "bigint":
    case "boolean":
      return String(u)
    default:
      return undefined
  }
}

/**
 * Runs `effect` to a promise at the compat API's boundary: a typed failure becomes the compat error
 * (`fromCause`), and so does a defect or an interruption, so no raw `TypeError` / `RangeError`
 * reaches a caller.
 *
 * @internal
 */
export const runAtBoundary = <A, E, R>(
  runtime: ManagedRuntime.ManagedRuntime<R, unknown>,
  effect: Effect.Effect<A, E, R>
): Promise<A> => {
  let running: Promise<Exit.Exit<A, unknown>>
  try {
    running = runtime.runPromiseExit(effect)
  } catch (defect) {
    return Promise.reject(fromDefect(defect))
  }
  return running.then(
    (exit) => {
      if (Exit.isSuccess(exit)) return exit.value
      throw fromCause(exit.cause)
    },
    (defect) => {
      throw fromDefect(defect)
    }
  )
}

/**
 * A `wechat-oauth` callback: `(err, result)`.
 *
 * @since 0.1.0
 * @internal
 */
export type Callback<A> = (err: any, result?: A) => void

/**
 * Hands a promise's outcome to `callback` when one is given (and returns `undefined`, so no
 * rejection goes unhandled), or returns the promise. The callback runs outside the promise chain:
 * if it throws, the error is an uncaught exception, as under `wechat-oauth`.
 *
 * @internal
 */
export function nodeify<A>(promise: Promise<A>, callback: Callback<A> | undefined): Promise<A> | undefined {
  if (typeof callback !== "function") return promise
  promise.then(
    (value) => queueMicrotask(() => callback(null, value)),
    (error) => queueMicrotask(() => callback(error))
  )
  return undefined
}
