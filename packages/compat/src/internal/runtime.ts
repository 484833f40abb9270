/**
 * What the OAuth class and the functional API share: one lean HTTP client (undici pool) per proxy
 * for the whole process, so that a client made per request does not open a pool per request; base
 * URLs from options or the environment; authorize URLs built exactly as `wechat-oauth` built them;
 * arguments as text; the callback/promise bridge.
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { WeChatHttpClient } from "@wxauth/core"
import type * as ConfigError from "effect/ConfigError"
import type * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as QueryString from "node:querystring"
import { fromCause, fromDefect } from "../CompatError.js"

const clients = new Map<string, ManagedRuntime.ManagedRuntime<HttpClient.HttpClient, ConfigError.ConfigError>>()

/**
 * The process-wide client for `proxy` (none by default). Its pool lives as long as the process; idle
 * connections close on their own.
 *
 * @internal
 */
export const sharedHttpClient = (
  proxy: string | undefined
): ManagedRuntime.ManagedRuntime<HttpClient.HttpClient, ConfigError.ConfigError> => {
  const key = proxy ?? ""
  let runtime = clients.get(key)
  if (runtime === undefined) {
    runtime = ManagedRuntime.make(WeChatHttpClient.layer(proxy === undefined ? undefined : { proxy }))
    clients.set(key, runtime)
  }
  return runtime
}

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
