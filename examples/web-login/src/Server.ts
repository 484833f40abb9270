/**
 * The wiring: the stores (tokens, the app access token, sessions and the app's users, in a SQLite
 * file or in memory), the sandbox WeChat in demo mode (a real HTTP server started here), the
 * multi-app page's platform and registry, `@wxauth/http`'s `WeChatLogin` for the apps of the
 * configuration with the app's hooks, and the HTTP server. `main.ts` runs `layerFromEnv`; the tests
 * run `layer(config)` on port 0.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import { AppTokenStore, SessionStore, TokenStore, WeChatApps, WeChatError, WeChatHttpClient } from "@wxauth/core"
import { WeChatLogin } from "@wxauth/http"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import { SqlAppTokenStore, SqlSessionStore, SqlTokenStore } from "@wxauth/store-sql"
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
import * as Users from "./Users.js"

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
  | WeChatError.SessionStoreError
  | Users.UsersError

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

/** Every store of the app: core's three (`@wxauth/store-sql` on SQLite, or memory) and the app's users. */
type Stores = TokenStore.TokenStore | AppTokenStore.AppTokenStore | SessionStore.SessionStore | Users.Users

/**
 * The token store, the app token store and the session store (`@wxauth/store-sql`) and the app's
 * users, all in a SQLite file (its directory is created); or all in memory (the users in a SQLite
 * database in memory).
 */
export const storeLayer = (store: AppConfig.Store): Layer.Layer<Stores, StartError> =>
  store._tag === "Memory"
    ? Layer.mergeAll(TokenStore.layerMemory, AppTokenStore.layerMemory, SessionStore.layerMemory, Users.layer).pipe(
      Layer.provide(SqliteClient.layer({ filename: ":memory:" }) as Layer.Layer<SqlClient.SqlClient>)
    )
    : Layer.mergeAll(SqlTokenStore.layer(), SqlAppTokenStore.layer(), SqlSessionStore.layer(), Users.layer).pipe(
      Layer.provide(sqliteLayer(store.filename))
    )

/**
 * The HTTP client for WeChat (and for the dev panel's sandbox controls): core's lean client on an
 * undici pool, with keep-alive and a deadline per request.
 */
const HttpClientLive = WeChatHttpClient.layer()

interface Apps {
  readonly officialAccount: WeChatLogin.AppBaseOptions
  readonly website: Option.Option<WeChatLogin.AppBaseOptions>
  readonly miniProgram: Option.Option<WeChatLogin.AppBaseOptions>
  readonly sandboxUrl: Option.Option<string>
}

/** The apps' configurations; in demo mode, after starting the sandbox server in the current scope. */
const wechatApps = (mode: AppConfig.Mode) =>
  Effect.gen(function*() {
    if (mode._tag === "Live") return mode satisfies Apps
    const sandbox = yield* Layer.build(
      // its default apps, and the multi-app page's platform with its two official accounts
      Sandbox.layerServer({ port: mode.sandboxPort }).pipe(Layer.provide(Sandbox.layer(MultiApp.sandboxOptions)))
    )
    const url = Context.get(sandbox, SandboxServer.SandboxServer).url
    const options = (app: Sandbox.SandboxApp): WeChatLogin.AppBaseOptions => ({
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
    } satisfies Apps
  })

/**
 * The login's apps, by the keys of their paths (`/login/official`, `/login/website`,
 * `/api/wechat/mini-program/mini/...`): the official account with `snsapi_userinfo` (nickname and
 * avatar), the website app's QR login, the mini program with its phone-number endpoint.
 */
const loginApps = (apps: Apps): NonNullable<WeChatLogin.Options["apps"]> => ({
  [App.appKeys.officialAccount]: { ...apps.officialAccount, kind: "officialAccount", scope: "snsapi_userinfo" },
  ...Option.match(apps.website, {
    onNone: () => ({}),
    onSome: (website) => ({ [App.appKeys.website]: { ...website, kind: "website" as const } })
  }),
  ...Option.match(apps.miniProgram, {
    onNone: () => ({}),
    onSome: (mini) => ({ [App.appKeys.miniProgram]: { ...mini, kind: "miniProgram" as const, phoneNumber: true } })
  })
})

/**
 * The login (`WeChatLogin.layer`) with the app's hooks, on the stores and HTTP client in context;
 * with a platform, its accounts in registry mode. Also the multi-app page's service and the
 * pages' `Site`.
 */
export const loginLayer = (config: AppConfig.AppConfig) =>
  Layer.unwrapScoped(
    Effect.gen(function*() {
      const apps = yield* wechatApps(config.mode)
      if (Option.isNone(config.publicUrl) && config.mode._tag === "Live") {
        yield* Effect.logWarning(
          "web-login: PUBLIC_URL is not set; each request's Host header decides the redirect_uri sent to WeChat, " +
            "and X-Forwarded-Proto is trusted for https (the Secure cookie flag). Set PUBLIC_URL to the origin " +
            "registered with WeChat, e.g. https://login.example.com"
        )
      }
      const multiApp = MultiApp.layer(config, apps.sandboxUrl)
      const login = Layer.unwrapEffect(Effect.map(MultiApp.MultiApp, (platform) =>
        WeChatLogin.layer({
          publicUrl: Option.getOrUndefined(config.publicUrl),
          apps: loginApps(apps),
          registry: Option.getOrUndefined(Option.map(platform, MultiApp.registryOptions)),
          sessionTtl: config.sessionTtl,
          hooks: Users.hooks
        }).pipe(
          Layer.provide(
            Option.match(platform, {
              onNone: () => Layer.empty,
              onSome: (platform) => Layer.succeed(WeChatApps.WeChatApps, platform.registry)
            })
          )
        )))
      const site = Layer.succeed(App.Site, {
        sandboxUrl: apps.sandboxUrl,
        website: Option.isSome(apps.website),
        miniProgram: Option.map(apps.miniProgram, (mini) => mini.appId),
        publicUrl: config.publicUrl
      })
      return Layer.mergeAll(login, site).pipe(Layer.provideMerge(multiApp))
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
 * The whole app for a configuration: stores, WeChat apps (and sandbox), the login, HTTP server. It
 * also gives the `WeChatLogin` service and the users, for tests that look behind the pages.
 */
export const layer = (
  config: AppConfig.AppConfig
): Layer.Layer<WebLoginServer | WeChatLogin.WeChatLogin | Users.Users, StartError> => {
  const info = Layer.effect(
    WebLoginServer,
    Effect.gen(function*() {
      const server = yield* HttpServer.HttpServer
      const site = yield* App.Site
      const url = urlOf(server.address)
      return {
        url,
        sandboxUrl: site.sandboxUrl,
        miniProgramUrl: Option.isSome(site.miniProgram) && Option.isSome(site.sandboxUrl)
          ? Option.some(`${url}/mini-program`)
          : Option.none(),
        mode: config.mode._tag,
        store: config.store._tag === "Memory" ? "memory" : `SQLite ${config.store.filename}`
      }
    })
  )
  const services = Layer.mergeAll(httpServerLayer(config), loginLayer(config)).pipe(
    Layer.provideMerge(Layer.merge(storeLayer(config.store), HttpClientLive))
  )
  const serve = Layer.unwrapEffect(Effect.map(App.make, (app) => HttpServer.serve(app)))
  return Layer.merge(serve, info).pipe(Layer.provideMerge(services))
}

/** The app, configured from the environment (see `AppConfig.load`). */
export const layerFromEnv: Layer.Layer<WebLoginServer | WeChatLogin.WeChatLogin | Users.Users, StartError> = Layer
  .unwrapEffect(
    Effect.map(AppConfig.load, layer)
  )
