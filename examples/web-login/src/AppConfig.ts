/**
 * The example's configuration, read from environment variables. Without `WECHAT_APP_ID` the app runs
 * in demo mode: a sandbox WeChat starts in-process as a real HTTP server and its default apps are
 * used, so no WeChat account is needed. With real credentials the same app talks to WeChat.
 */
import type { WeChatLogin } from "@wxauth/http"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Path from "node:path"
import * as Url from "node:url"

/**
 * Where the WeChat apps come from.
 * - `Demo`: a sandbox WeChat in-process (on `sandboxPort`, 0 = any free port) and its default apps
 *   (an official account, a website app and a mini program).
 * - `Live`: the official account (`officialAccount`), optionally an Open Platform website app for QR
 *   login (`website`), optionally a mini program for the phone-number login (`miniProgram`), and
 *   optionally the URL of a wxauth sandbox whose faults the dev panel controls (and which, with a
 *   mini program, plays the simulated mini program's WeChat client).
 */
export type Mode =
  | { readonly _tag: "Demo"; readonly sandboxPort: number }
  | {
    readonly _tag: "Live"
    readonly officialAccount: WeChatLogin.AppBaseOptions
    readonly website: Option.Option<WeChatLogin.AppBaseOptions>
    readonly miniProgram: Option.Option<WeChatLogin.AppBaseOptions>
    readonly sandboxUrl: Option.Option<string>
  }

/**
 * Where tokens, the app access token, sessions and the app's users are kept: a SQLite file (the
 * default) or process memory.
 */
export type Store =
  | { readonly _tag: "Sqlite"; readonly filename: string }
  | { readonly _tag: "Memory" }

/** The whole configuration. */
export interface AppConfig {
  readonly mode: Mode
  /** The port the app listens on; 0 picks a free one. */
  readonly port: number
  readonly host: string
  /**
   * The origin WeChat redirects back to (`redirect_uri`), e.g. `https://login.example.com`. Set it in
   * production; without it the origin of each request is used (its `Host` header, and
   * `X-Forwarded-Proto` for https), and live mode logs a warning at start.
   */
  readonly publicUrl: Option.Option<string>
  /** How long a browser session lasts after login. */
  readonly sessionTtl: Duration.Duration
  readonly store: Store
}

/** `examples/web-login/.data/tokens.sqlite`, wherever the app is started from. */
export const defaultSqliteFile: string = Path.join(
  Url.fileURLToPath(new URL("..", import.meta.url)),
  ".data",
  "tokens.sqlite"
)

/** A TCP port; unlike `Config.port`, 0 (any free port) is allowed. */
const portConfig = (name: string) =>
  Config.integer(name).pipe(
    Config.validate({ message: "Expected a port from 0 to 65535", validation: (n) => n >= 0 && n <= 65535 })
  )

const optional = (name: string) => Config.option(Config.nonEmptyString(name))
const optionalSecret = (name: string) => Config.option(Config.redacted(Config.nonEmptyString(name)))

const invalid = (name: string, message: string) => Effect.fail(ConfigError.InvalidData([name], message))

const origin = (name: string, value: string): Effect.Effect<string, ConfigError.ConfigError> => {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return invalid(name, "not an absolute URL")
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return invalid(name, "must be an http(s) URL")
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "") {
    return invalid(name, "must be an origin such as https://login.example.com (no path)")
  }
  return Effect.succeed(url.origin)
}

const wechatApp = (idName: string, secretName: string) =>
  Effect.gen(function*() {
    const appId = yield* optional(idName)
    if (Option.isNone(appId)) return Option.none<{ appId: string; appSecret: Redacted.Redacted<string> }>()
    const appSecret = yield* Config.redacted(Config.nonEmptyString(secretName))
    return Option.some({ appId: appId.value, appSecret })
  })

/**
 * Reads the configuration from the current `ConfigProvider` (the environment by default):
 *
 * | variable | meaning |
 * |---|---|
 * | `WECHAT_APP_ID`, `WECHAT_APP_SECRET` | the official account (unset: demo mode) |
 * | `WECHAT_WEBSITE_APP_ID`, `WECHAT_WEBSITE_APP_SECRET` | the Open Platform website app (QR login) |
 * | `WECHAT_MINI_APP_ID`, `WECHAT_MINI_APP_SECRET` | the mini program (phone-number login) |
 * | `WECHAT_API_BASE_URL`, `WECHAT_OPEN_BASE_URL` | WeChat's hosts (default: the real ones) |
 * | `WECHAT_STATE_SECRET` | signs OAuth states (default: derived from each app secret) |
 * | `SANDBOX_URL` | a wxauth sandbox the dev panel controls (live mode against a sandbox) |
 * | `SANDBOX_PORT` | demo mode: the in-process sandbox's port (default: any free port) |
 * | `PORT`, `HOST` | where the app listens (default 3000 on 127.0.0.1) |
 * | `PUBLIC_URL` | the app's public origin, for `redirect_uri` |
 * | `SESSION_TTL` | how long a browser session lasts, e.g. `24 hours` (the default) |
 * | `TOKEN_STORE`, `SQLITE_FILE` | `sqlite` (default, at `SQLITE_FILE`) or `memory` |
 */
export const load: Effect.Effect<AppConfig, ConfigError.ConfigError> = Effect.gen(function*() {
  const port = yield* portConfig("PORT").pipe(Config.withDefault(3000))
  const host = yield* Config.nonEmptyString("HOST").pipe(Config.withDefault("127.0.0.1"))
  const publicUrlText = yield* optional("PUBLIC_URL")
  const publicUrl = Option.isSome(publicUrlText)
    ? Option.some(yield* origin("PUBLIC_URL", publicUrlText.value))
    : Option.none()
  const sessionTtl = yield* Config.duration("SESSION_TTL").pipe(
    Config.validate({
      message: "Expected a duration from 1 second to 400 days, e.g. 24 hours",
      validation: (d) => Duration.between(d, { minimum: Duration.seconds(1), maximum: Duration.days(400) })
    }),
    Config.withDefault(Duration.hours(24))
  )
  const storeKind = yield* Config.literal("sqlite", "memory")("TOKEN_STORE").pipe(Config.withDefault("sqlite"))
  const store: Store = storeKind === "memory"
    ? { _tag: "Memory" }
    : {
      _tag: "Sqlite",
      filename: yield* Config.nonEmptyString("SQLITE_FILE").pipe(Config.withDefault(defaultSqliteFile))
    }

  const official = yield* wechatApp("WECHAT_APP_ID", "WECHAT_APP_SECRET")
  if (Option.isNone(official)) {
    // another app configured without the official account would be ignored, the demo run in its place
    for (const other of ["WECHAT_WEBSITE_APP_ID", "WECHAT_MINI_APP_ID"]) {
      if (Option.isSome(yield* optional(other))) {
        return yield* Effect.fail(ConfigError.MissingData(
          ["WECHAT_APP_ID"],
          `${other} is set but WECHAT_APP_ID is not: live mode needs the official account (WECHAT_APP_ID, WECHAT_APP_SECRET); unset ${other} for demo mode`
        ))
      }
    }
    const sandboxPort = yield* portConfig("SANDBOX_PORT").pipe(Config.withDefault(0))
    return { mode: { _tag: "Demo", sandboxPort }, port, host, publicUrl, sessionTtl, store }
  }
  const hosts = {
    apiBaseUrl: Option.getOrUndefined(yield* optional("WECHAT_API_BASE_URL")),
    openBaseUrl: Option.getOrUndefined(yield* optional("WECHAT_OPEN_BASE_URL")),
    stateSecret: Option.getOrUndefined(yield* optionalSecret("WECHAT_STATE_SECRET"))
  }
  const website = yield* wechatApp("WECHAT_WEBSITE_APP_ID", "WECHAT_WEBSITE_APP_SECRET")
  const miniProgram = yield* wechatApp("WECHAT_MINI_APP_ID", "WECHAT_MINI_APP_SECRET")
  const sandboxUrlText = yield* optional("SANDBOX_URL")
  const sandboxUrl = Option.isSome(sandboxUrlText)
    ? Option.some(yield* origin("SANDBOX_URL", sandboxUrlText.value))
    : Option.none()
  return {
    mode: {
      _tag: "Live",
      officialAccount: { ...official.value, ...hosts },
      website: Option.map(website, (app) => ({ ...app, ...hosts })),
      miniProgram: Option.map(miniProgram, (app) => ({ ...app, ...hosts })),
      sandboxUrl
    },
    port,
    host,
    publicUrl,
    sessionTtl,
    store
  }
})
