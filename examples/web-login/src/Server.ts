/**
 * The wiring: the token, app token and session stores (SQLite file or memory), one `WeChatOAuth` per
 * WeChat app and a `MiniProgram` with its `AppToken` for the mini program (in demo mode against a
 * sandbox WeChat started here as a real HTTP server), and the app's HTTP server.
 * `main.ts` runs `layerFromEnv`; the tests run `layer(config)` on port 0.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import {
  AppToken,
  AppTokenStore,
  MiniProgram,
  TokenStore,
  WeChatConfig,
  WeChatError,
  WeChatHttpClient,
  WeChatOAuth
} from "@wxauth/core"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import { SqlAppTokenStore, SqlTokenStore } from "@wxauth/store-sql"
import * as Cause from "effect/Cause"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Path from "node:path"
import * as App from "./App.js"
import * as AppConfig from "./AppConfig.js"
import * as MultiApp from "./MultiApp.js"
import * as Session from "./Session.js"
import * as SessionStore from "./SessionStore.js"
import { makeProfileCache, WebLogin } from "./WebLogin.js"

/** Where the running app can be reached. */
export interface ServerInfo {
  /** The URL the app listens on, e.g. `http://127.0.0.1:3000`. */
  readonly url: string
  /** The sandbox WeChat's URL, in demo mode (or when `SANDBOX_URL` is set). */
  readonly sandboxUrl: Option.Option<string>
  /** The simulated mini program's page, when there is a mini program and a sandbox to play its client. */
  readonly miniProgramUrl: Option.Option<string>
  readonly mode: AppConfig.Mode["_tag"]
  /** Where tokens are kept, for people: `SQLite <file>` or `memory`. */
  readonly store: string
}

/** The tag of the running app's address. */
export class WebLoginServer extends Context.Tag("@wxauth/example-web-login/WebLoginServer")<
  WebLoginServer,
  ServerInfo
>() {}

/** Everything that can stop the app from starting. */
export type StartError =
  | ConfigError.ConfigError
  | ServeError
  | Sandbox.SandboxError
  | WeChatError.InvalidArgument
  | WeChatError.TokenStoreError
  | SessionStore.SessionStoreError

const errorMessage = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

/**
 * Makes the directories a SQLite file needs, one by one (Node's recursive `mkdir` can loop forever
 * on some file systems, `/proc` for one). Returns what keeps the path from being a SQLite file, if
 * something visibly does: it is a directory, a part of it is a regular file, a directory cannot be
 * made. `undefined` when the file can be opened (or created).
 */
const prepareSqlitePath = (filename: string): string | undefined => {
  const stat = (path: string) => {
    try {
      return Fs.statSync(path, { throwIfNoEntry: false })
    } catch (error) {
      // under a regular file: the walk below names that file
      if ((error as NodeJS.ErrnoException).code === "ENOTDIR") return undefined
      throw error
    }
  }
  const absolute = Path.resolve(filename)
  if (stat(absolute)?.isDirectory() === true) {
    return "is a directory; set it to the path of a file (it is created when missing)"
  }
  const directories: Array<string> = []
  for (let dir = Path.dirname(absolute); !directories.includes(dir); dir = Path.dirname(dir)) directories.unshift(dir)
  for (const dir of directories) {
    const found = stat(dir)
    if (found !== undefined && !found.isDirectory()) {
      return `cannot be created: ${dir} is not a directory (it is a file)`
    }
    if (found === undefined) {
      try {
        Fs.mkdirSync(dir)
      } catch (error) {
        return `cannot be created: the directory ${dir} cannot be made (${errorMessage(error)})`
      }
    }
  }
  return undefined
}

/**
 * The SQLite client on the file, its directory created first. A path that cannot be a database (a
 * directory, a path under a regular file, no permission) fails with a `TokenStoreError` that names
 * `SQLITE_FILE` and says what is wrong.
 */
const sqliteLayer = (filename: string) => {
  const fail = (description: string, cause?: unknown) =>
    new WeChatError.TokenStoreError({ operation: "open", description: `SQLITE_FILE ${filename} ${description}`, cause })
  const prepare = Effect.gen(function*() {
    const problem = yield* Effect.try({
      try: () => prepareSqlitePath(filename),
      catch: (cause) => fail(`cannot be checked: ${errorMessage(cause)}`, cause)
    })
    if (problem !== undefined) return yield* fail(problem)
  })
  const open = SqliteClient.layer({ filename }).pipe(
    Layer.catchAllCause((cause) =>
      Layer.fail(
        fail(`cannot be opened as a SQLite database: ${errorMessage(Cause.squash(cause))}`, Cause.squash(cause))
      )
    )
  )
  return Layer.provide(open, Layer.effectDiscard(prepare))
}

/**
 * The token store and the app token store (`@wxauth/store-sql`) and the session store, all in a
 * SQLite file (its directory is created), or all in memory.
 */
export const storeLayer = (
  store: AppConfig.Store
): Layer.Layer<TokenStore.TokenStore | AppTokenStore.AppTokenStore | SessionStore.SessionStore, StartError> =>
  store._tag === "Memory"
    ? Layer.mergeAll(TokenStore.layerMemory, AppTokenStore.layerMemory, SessionStore.layerMemory)
    : Layer.mergeAll(SqlTokenStore.layer(), SqlAppTokenStore.layer(), SessionStore.layerSql).pipe(
      Layer.provide(sqliteLayer(store.filename))
    )

/**
 * The HTTP client for WeChat (and for the dev panel's sandbox controls): core's lean client on an
 * undici pool, with keep-alive and a deadline per request.
 */
const HttpClientLive = WeChatHttpClient.layer()

interface WeChatApps {
  readonly officialAccount: WeChatConfig.Options
  readonly website: Option.Option<WeChatConfig.Options>
  readonly miniProgram: Option.Option<WeChatConfig.Options>
  readonly sandboxUrl: Option.Option<string>
}

/** The apps' configurations; in demo mode, after starting the sandbox server in the current scope. */
const wechatApps = (mode: AppConfig.Mode) =>
  Effect.gen(function*() {
    if (mode._tag === "Live") return mode satisfies WeChatApps
    const sandbox = yield* Layer.build(
      // its default apps, and the multi-app page's platform with its two official accounts
      Sandbox.layerServer({ port: mode.sandboxPort }).pipe(Layer.provide(Sandbox.layer(MultiApp.sandboxOptions)))
    )
    const url = Context.get(sandbox, SandboxServer.SandboxServer).url
    const options = (app: Sandbox.SandboxApp): WeChatConfig.Options => ({
      appId: app.appId,
      appSecret: app.secret,
      apiBaseUrl: url,
      openBaseUrl: url
    })
    return {
      officialAccount: options(Sandbox.defaultApps.officialAccount),
      website: Option.some(options(Sandbox.defaultApps.website)),
      miniProgram: Option.some(options(Sandbox.defaultApps.miniProgram)),
      sandboxUrl: Option.some(url)
    } satisfies WeChatApps
  })

/** One login service per app: `WeChatOAuth.make` with that app's `WeChatConfig`. */
const oauthFor = (options: WeChatConfig.Options) => WeChatOAuth.make.pipe(Effect.provide(WeChatConfig.layer(options)))

/**
 * The mini program's service, with its app access token (`AppToken`, kept in the `AppTokenStore`:
 * fetched once, shared by every process on the same store). Session keys stay in this process's
 * memory (`MiniProgram`'s default): the example does not use them after the login.
 */
const miniProgramFor = (options: WeChatConfig.Options) =>
  Effect.gen(function*() {
    const appToken = yield* AppToken.make
    return yield* MiniProgram.make.pipe(Effect.provideService(AppToken.AppToken, appToken))
  }).pipe(Effect.provide(WeChatConfig.layer(options)))

/** The `WebLogin` service. */
export const webLoginLayer = (config: AppConfig.AppConfig) =>
  Layer.scoped(
    WebLogin,
    Effect.gen(function*() {
      const apps = yield* wechatApps(config.mode)
      const officialAccount = yield* oauthFor(apps.officialAccount)
      const website = Option.isSome(apps.website)
        ? Option.some(yield* oauthFor(apps.website.value))
        : Option.none()
      const miniProgram = Option.isSome(apps.miniProgram)
        ? Option.some(yield* miniProgramFor(apps.miniProgram.value))
        : Option.none()
      if (Option.isNone(config.sessionSecret) && config.mode._tag === "Live") {
        yield* Effect.logWarning("web-login: SESSION_SECRET is not set; sessions end when the process stops")
      }
      if (Option.isNone(config.publicUrl) && config.mode._tag === "Live") {
        yield* Effect.logWarning(
          "web-login: PUBLIC_URL is not set; each request's Host header decides the redirect_uri sent to WeChat, " +
            "and X-Forwarded-Proto is trusted for https (the Secure cookie flag). Set PUBLIC_URL to the origin " +
            "registered with WeChat, e.g. https://login.example.com"
        )
      }
      return {
        officialAccount,
        website,
        miniProgram,
        sessionKey: Option.match(config.sessionSecret, { onNone: Session.randomKey, onSome: Session.keyFromSecret }),
        sessions: yield* SessionStore.SessionStore,
        publicUrl: config.publicUrl,
        sandboxUrl: apps.sandboxUrl,
        profiles: yield* makeProfileCache()
      }
    })
  )

/**
 * The app's HTTP server. Open connections (a browser's keep-alive) are closed on shutdown, so
 * Ctrl-C stops at once.
 */
const httpServerLayer = (config: AppConfig.AppConfig) =>
  Layer.scoped(
    HttpServer.HttpServer,
    Effect.gen(function*() {
      const nodeServer = Http.createServer()
      const server = yield* NodeHttpServer.make(() => nodeServer, { port: config.port, host: config.host })
      yield* Effect.addFinalizer(() => Effect.sync(() => nodeServer.closeAllConnections()))
      return server
    })
  )

const urlOf = (address: HttpServer.Address): string => {
  if (address._tag !== "TcpAddress") return HttpServer.formatAddress(address)
  const host = address.hostname === "0.0.0.0" || address.hostname === "::"
    ? "127.0.0.1"
    : address.hostname.includes(":")
    ? `[${address.hostname}]`
    : address.hostname
  return `http://${host}:${address.port}`
}

/**
 * The whole app for a configuration: store, WeChat apps (and sandbox), HTTP server. It also gives
 * the `WebLogin` service, for tests that look behind the pages.
 */
export const layer = (config: AppConfig.AppConfig): Layer.Layer<WebLoginServer | WebLogin, StartError> => {
  const info = Layer.effect(
    WebLoginServer,
    Effect.gen(function*() {
      const server = yield* HttpServer.HttpServer
      const web = yield* WebLogin
      const url = urlOf(server.address)
      return {
        url,
        sandboxUrl: web.sandboxUrl,
        miniProgramUrl: Option.isSome(web.miniProgram) && Option.isSome(web.sandboxUrl)
          ? Option.some(`${url}/mini-program`)
          : Option.none(),
        mode: config.mode._tag,
        store: config.store._tag === "Memory" ? "memory" : `SQLite ${config.store.filename}`
      }
    })
  )
  const stores = storeLayer(config.store)
  const webLogin = webLoginLayer(config).pipe(Layer.provide(stores))
  const services = Layer.mergeAll(
    httpServerLayer(config),
    webLogin,
    // the multi-app page's platform and registry, on the same stores
    MultiApp.layer(config).pipe(Layer.provide(Layer.merge(webLogin, stores)))
  ).pipe(Layer.provideMerge(HttpClientLive))
  return Layer.merge(HttpServer.serve(App.app), info).pipe(Layer.provideMerge(services))
}

/** The app, configured from the environment (see `AppConfig.load`). */
export const layerFromEnv: Layer.Layer<WebLoginServer | WebLogin, StartError> = Layer.unwrapEffect(
  Effect.map(AppConfig.load, layer)
)
