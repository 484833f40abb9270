/**
 * The app: a plain Node `http` server. The WeChat login (`/login`, its callback, `/logout`, the
 * JSON endpoints) is `@wxauth/http`'s Web-standard handler; the app's own pages (`/`, `/profile`)
 * ask it who is logged in (`currentUser`) and for the user's WeChat profile (`getUser`).
 */
import { WeChatLogin } from "@wxauth/http"
import type * as Duration from "effect/Duration"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import * as Net from "node:net"
import * as NodeAdapter from "./NodeAdapter.js"
import * as Pages from "./Pages.js"

/** How the app is configured. */
export interface AppOptions {
  /** Default 0: a free port. */
  readonly port?: number | undefined
  /** Default `127.0.0.1`. An IPv6 address (`::1`, `::`) is written in brackets in URLs (`http://[::1]:3000`). */
  readonly host?: string | undefined
  /** The site's origin as WeChat knows it; default `http://<host>:<port>` (`http://[<host>]:<port>` for IPv6). */
  readonly publicUrl?: string | undefined
  readonly apps: NonNullable<WeChatLogin.Options["apps"]>
  readonly sessionTtl?: Duration.DurationInput | undefined
  /**
   * The stores and HTTP client to use (memory stores and core's client otherwise): any layer
   * without requirements, one that can fail included (`RedisTokenStore.layer(...)`,
   * `SqlTokenStore.layer()` with its `SqlClient`). It is built by `start`: when it fails (a store
   * that cannot connect), `start` rejects with its error, as when the port is taken.
   */
  readonly context?: Layer.Layer<never, unknown> | undefined
}

/** The running app. */
export interface RunningApp {
  readonly url: string
  readonly login: WeChatLogin.WebHandler
  /** Stops the server (open connections are closed) and releases the login's resources. */
  readonly close: () => Promise<void>
}

const page = (status: number, body: string, extra: Record<string, string> = {}) =>
  new Response(body, { status, headers: { ...Pages.headers, ...extra } })

const redirect = (location: string) =>
  new Response(null, { status: 303, headers: { location, "cache-control": "no-store" } })

/** The host as a URL writes it: an IPv6 address in brackets (`::1` is `[::1]`). */
const urlHost = (host: string): string => Net.isIPv6(host) ? `[${host}]` : host

const isTagged = (error: unknown, tag: string): boolean =>
  typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === tag

/**
 * The answer to a request `Request` refuses (`NodeAdapter.toRequest`): 501 for a method it forbids
 * (`TRACE`, `TRACK`), 400 for a target that is no URL or carries credentials. The connection is
 * closed: its body, if any, is not read.
 */
const refused = (method: string | undefined): Response =>
  /^(CONNECT|TRACE|TRACK)$/i.test(method ?? "")
    ? page(501, Pages.problem(501, "不支持的请求方法 · Not implemented"), { connection: "close" })
    : page(400, Pages.problem(400, "请求无效 · Bad request"), { connection: "close" })

/** The app's answer to a request: the login's, or one of its own pages. */
export const route = (login: WeChatLogin.WebHandler) => async (request: Request): Promise<Response> => {
  if (await login.handles(request)) return login.handler(request)
  const url = new URL(request.url)
  if (request.method !== "GET" && request.method !== "HEAD") {
    return page(405, Pages.problem(405, "Method not allowed"), { allow: "GET, HEAD" })
  }
  if (url.pathname === "/") return page(200, Pages.home(await login.currentUser(request)))
  if (url.pathname === "/profile") {
    const user = await login.currentUser(request)
    const toLogin = redirect(`/login?returnTo=${encodeURIComponent(url.pathname + url.search)}`)
    if (user === undefined) return toLogin
    try {
      return page(200, Pages.profile(user, await login.getUser(user)))
    } catch (error) {
      // WeChat no longer accepts the user's authorization: their sessions ended, log in again
      if (isTagged(error, "Unauthenticated")) return toLogin
      return page(503, Pages.problem(503, "微信暂时繁忙 · WeChat is busy, try again"))
    }
  }
  return page(404, Pages.problem(404, "页面不存在 · Not found"))
}

/**
 * Starts the app: listens, then builds the login with `context`. Rejects when the port cannot be
 * listened on, or when the login's layer fails (its error: a `ConfigError`, a store's
 * `TokenStoreError`, ...); nothing is left running then.
 */
export const start = async (options: AppOptions): Promise<RunningApp> => {
  const server = Http.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve())
  })
  const address = server.address() as Net.AddressInfo
  const url = `http://${urlHost(options.host ?? "127.0.0.1")}:${address.port}`
  const publicUrl = options.publicUrl ?? url
  const layer = WeChatLogin.layer({ publicUrl, apps: options.apps, sessionTtl: options.sessionTtl })
  const login = WeChatLogin.toWebHandler(
    options.context === undefined ? layer : Layer.provide(layer, options.context)
  )
  try {
    // built now, not at the first request: a layer that fails fails the start, as a port in use does.
    // A fixed path, not the app's url: `handles` answers false without building for what it cannot
    // read as a URL (with an unbracketed IPv6 host it could not, and the start went on with a layer
    // that fails every request)
    await login.handles("/")
  } catch (error) {
    await login.dispose().catch(() => undefined)
    await new Promise<void>((resolve) => server.close(() => resolve()))
    throw error
  }
  const answer = route(login)
  const respond = async (incoming: Http.IncomingMessage): Promise<Response> => {
    const request = NodeAdapter.toRequest(incoming, publicUrl)
    return request === undefined ? refused(incoming.method) : answer(request)
  }
  server.on("request", (incoming: Http.IncomingMessage, outgoing: Http.ServerResponse) => {
    respond(incoming)
      .then((response) => NodeAdapter.send(outgoing, response))
      .catch((error: unknown) => {
        console.error("node-http-login: a request failed", error instanceof Error ? error.name : typeof error)
        if (!outgoing.headersSent) outgoing.writeHead(500, { "content-type": "text/plain; charset=utf-8" })
        outgoing.end("Internal error")
      })
  })
  return {
    url,
    login,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await login.dispose()
    }
  }
}
