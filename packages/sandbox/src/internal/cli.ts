/**
 * The `wxauth-sandbox` command: flag parsing, the start-up banner (credentials, URLs, a curl walk
 * through the flow) and the program `bin.ts` runs. Every failure is one line on stderr.
 *
 * @internal
 */
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Sandbox from "../Sandbox.js"
import * as SandboxServer from "../SandboxServer.js"
import { quote as quoteValue } from "./quote.js"

/** @internal */
export interface CliArgs {
  readonly port: number
  readonly host: string
  readonly config: string | undefined
  readonly help: boolean
}

/** @internal */
export const usage = `Usage: wxauth-sandbox [--port 8800] [--host 127.0.0.1] [--config apps.json]

A local WeChat: consent pages, the sns API, the app access token (cgi-bin/stable_token, cgi-bin/token),
the mini program's server API (phone number, session key), third-party platforms (their endpoints and
encrypted pushes, from "components" in the config), fault injection and controls.

Options:
  -p, --port <n>       port to listen on (default 8800; 0 picks a free port)
      --host <host>    interface to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  -c, --config <file>  JSON file with { "apps": [...], "users": [...], "limits": {...}, "components": [...] }
  -h, --help           show this help
`

/** @internal */
export const parseArgs = (argv: ReadonlyArray<string>): Either.Either<CliArgs, string> => {
  let port = 8800
  let host = "127.0.0.1"
  let config: string | undefined = undefined
  let help = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1
    const flag = eq === -1 ? arg : arg.slice(0, eq)
    const value = (): Either.Either<string, string> => {
      if (eq !== -1) return Either.right(arg.slice(eq + 1))
      const next = argv[i + 1]
      if (next === undefined || (next.startsWith("-") && next !== "-")) return Either.left(`${flag} needs a value`)
      i++
      return Either.right(next)
    }
    switch (flag) {
      case "-p":
      case "--port": {
        const v = value()
        if (Either.isLeft(v)) return Either.left(v.left)
        if (!/^\d{1,5}$/.test(v.right) || Number(v.right) > 65535) {
          return Either.left(`--port must be a number from 0 to 65535, got ${quoteValue(v.right)}`)
        }
        port = Number(v.right)
        break
      }
      case "--host": {
        const v = value()
        if (Either.isLeft(v)) return Either.left(v.left)
        if (v.right === "") return Either.left("--host must not be empty")
        host = v.right
        break
      }
      case "-c":
      case "--config": {
        const v = value()
        if (Either.isLeft(v)) return Either.left(v.left)
        config = v.right
        break
      }
      case "-h":
      case "--help":
        help = true
        break
      default:
        return Either.left(
          arg.startsWith("-")
            ? `unknown option ${flag} (try --help)`
            : `unexpected argument ${quoteValue(arg)} (try --help)`
        )
    }
  }
  return Either.right({ port, host, config, help })
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

/** The start-up text: apps, users, base URLs, a consent URL to click and curl lines for the whole flow. @internal */
export const banner = (server: SandboxServer.SandboxServerInfo, sandbox: Sandbox.SandboxService): string => {
  const base = server.url
  const lines: Array<string> = []
  const add = (...more: Array<string>) => lines.push(...more)
  add(
    `wxauth-sandbox: a local WeChat is listening on ${base}`,
    "",
    "Base URLs (one server plays both):",
    `  API   (https://api.weixin.qq.com)   ${base}`,
    `  Open  (https://open.weixin.qq.com)  ${base}`,
    "",
    "Apps:"
  )
  const kindWidth = Math.max(...sandbox.apps.map((app) => app.kind.length))
  const idWidth = Math.max(...sandbox.apps.map((app) => app.appId.length))
  for (const app of sandbox.apps) {
    add(
      `  ${app.kind.padEnd(kindWidth)}  appid ${app.appId.padEnd(idWidth)}  secret ${app.secret}  ${
        app.bound ? "bound (unionid)" : "not bound      "
      }  ${app.name}`
    )
  }
  add("", "Users:")
  const userWidth = Math.max(...sandbox.users.map((user) => user.id.length))
  for (const user of sandbox.users) {
    add(`  ${user.id.padEnd(userWidth)}  ${user.nickname}${user.snapshot === true ? "  (snapshot user)" : ""}`)
  }
  const official = sandbox.apps.find((app) => app.kind === "officialAccount")
  const website = sandbox.apps.find((app) => app.kind === "website")
  const mini = sandbox.apps.find((app) => app.kind === "miniProgram")
  const user = sandbox.users[0]
  const callback = `${base}/__sandbox/callback`
  const web = official ?? website
  if (web !== undefined) {
    const path = web.kind === "website" ? "/connect/qrconnect" : "/connect/oauth2/authorize"
    const scope = web.kind === "website" ? "snsapi_login" : "snsapi_userinfo"
    add(
      "",
      "Open in a browser (the consent page; the sandbox's own callback page then shows the code):",
      `  ${Sandbox.sampleAuthorizeUrl(base, web)}`,
      ...(website !== undefined && website !== web ? [`  ${Sandbox.sampleAuthorizeUrl(base, website)}`] : []),
      "",
      "Walk the flow with curl:",
      `  # 1. consent as ${user.id}, as the page's 允许 button does; the Location header carries code and state`,
      `  curl -si -X POST ${base}${path} -d appid=${web.appId} -d response_type=code -d scope=${scope} \\`,
      `    -d state=xyz --data-urlencode redirect_uri=${callback} -d user=${user.id} -d decision=allow | grep -i '^location'`,
      `  #    (or without the page: curl -s -X POST ${base}/__sandbox/approve -d '{"appId":"${web.appId}","user":"${user.id}","scope":"${scope}","redirectUri":"${callback}","state":"xyz"}')`,
      "  # 2. exchange the code (single-use, valid 5 minutes)",
      `  curl -s ${
        quote(
          `${base}/sns/oauth2/access_token?appid=${web.appId}&secret=${web.secret}&code=CODE&grant_type=authorization_code`
        )
      }`,
      "  # 3. the user's profile (lang: zh_CN, zh_TW or en)",
      `  curl -s ${quote(`${base}/sns/userinfo?access_token=ACCESS_TOKEN&openid=OPENID&lang=zh_CN`)}`,
      "  # 4. is the access token still valid?",
      `  curl -s ${quote(`${base}/sns/auth?access_token=ACCESS_TOKEN&openid=OPENID`)}`,
      "  # 5. refresh (the refresh token lives 30 days from consent)",
      `  curl -s ${
        quote(
          `${base}/sns/oauth2/refresh_token?appid=${web.appId}&grant_type=refresh_token&refresh_token=REFRESH_TOKEN`
        )
      }`
    )
  }
  if (mini !== undefined) {
    add(
      "",
      "Mini program (wx.login(), then code2Session):",
      `  curl -s -X POST ${base}/__sandbox/miniprogram/login -d '{"appId":"${mini.appId}","user":"${user.id}"}'`,
      `  curl -s ${
        quote(
          `${base}/sns/jscode2session?appid=${mini.appId}&secret=${mini.secret}&js_code=JS_CODE&grant_type=authorization_code`
        )
      }`,
      "",
      "The app access token (stable: the same one while valid; JSON body only), then the phone number",
      "behind a code from the getPhoneNumber button (single-use, 5 minutes):",
      `  curl -s -X POST ${base}/cgi-bin/stable_token -d '{"grant_type":"client_credential","appid":"${mini.appId}","secret":"${mini.secret}"}'`,
      `  curl -s -X POST ${base}/__sandbox/miniprogram/phonecode -d '{"appId":"${mini.appId}","user":"${user.id}"}'`,
      `  curl -s -X POST ${
        quote(`${base}/wxa/business/getuserphonenumber?access_token=APP_TOKEN`)
      } -d '{"code":"PHONE_CODE"}'`,
      "  # is the session_key still current? signature: printf '' | openssl dgst -sha256 -hmac SESSION_KEY",
      `  curl -s ${
        quote(
          `${base}/wxa/checksession?access_token=APP_TOKEN&openid=OPENID&signature=SIGNATURE&sig_method=hmac_sha256`
        )
      }`
    )
  }
  for (const component of sandbox.components) {
    const id = component.componentAppId
    const interval = component.pushInterval
    const pushes = component.pushUrl === undefined ?
      "no pushUrl: get the pushes from /__sandbox/component/push" :
      `pushes to ${component.pushUrl}${
        interval === false || interval === undefined ? " on demand" : ` every ${Duration.format(interval)}`
      }`
    add(
      "",
      `Third-party platform ${component.name}:`,
      `  component_appid ${id}  secret ${component.componentAppSecret}`,
      `  token ${component.token}  EncodingAESKey ${component.encodingAesKey}`,
      `  ${pushes}`,
      ...(component.authorizers ?? []).map((authorizer) => `  authorized by ${authorizer.appId} (${authorizer.kind})`),
      ...(component.pushUrl === undefined ? [] : [
        "  # a ticket now, POSTed to the pushUrl (\"delivery\" says what it answered):",
        `  curl -s -X POST ${base}/__sandbox/component/ticket -d '{"componentAppId":"${id}"}'`
      ]),
      "  # a ticket push built and not sent (message.ComponentVerifyTicket is the ticket):",
      `  curl -s -X POST ${base}/__sandbox/component/push -d '{"componentAppId":"${id}","infoType":"component_verify_ticket"}'`,
      `  curl -s -X POST ${base}/cgi-bin/component/api_component_token -d '{"component_appid":"${id}","component_appsecret":"${component.componentAppSecret}","component_verify_ticket":"TICKET"}'`
    )
  }
  add(
    "",
    "Controls:",
    `  curl -s ${base}/__sandbox/config          # apps, secrets, users, openids`,
    `  curl -s -X POST ${base}/__sandbox/faults -d '{"kind":"busy","endpoint":"userinfo","times":1}'`,
    `  curl -s -X POST ${base}/__sandbox/faults -d '{"kind":"nested","endpoint":"userinfo","field":"privilege"}'`,
    `  #   fault kinds: ${Sandbox.faultKinds.join(" ")}`,
    `  curl -s ${base}/__sandbox/stats`,
    ...(mini === undefined
      ? []
      : [`  curl -s '${base}/__sandbox/apptoken?appId=${mini.appId}'   # app-token quotas used today`]),
    `  curl -s -X POST ${base}/__sandbox/clock/advance -d '{"seconds":7200}'`,
    "",
    "Ctrl-C stops the sandbox."
  )
  return lines.join("\n")
}

class CliError {
  readonly _tag = "CliError"
  constructor(readonly message: string) {}
}

const describeServeError = (error: HttpServerError.ServeError, args: CliArgs): string => {
  const cause = error.cause as NodeJS.ErrnoException | undefined
  const where = `${args.host}:${args.port}`
  switch (cause?.code) {
    case "EADDRINUSE":
      return `cannot listen on ${where}: the port is already in use (EADDRINUSE)`
    case "EACCES":
      return `cannot listen on ${where}: permission denied (EACCES)`
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
      return `cannot listen on ${where}: no such address on this machine (${cause.code})`
    default:
      return `cannot listen on ${where}: ${cause?.message ?? String(error.cause)}`
  }
}

/** The whole command: parse flags, start the server, print the banner, run until interrupted. @internal */
export const main = (argv: ReadonlyArray<string>): Effect.Effect<void, CliError> =>
  Effect.gen(function*() {
    const parsed = parseArgs(argv)
    if (Either.isLeft(parsed)) return yield* Effect.fail(new CliError(parsed.left))
    const args = parsed.right
    if (args.help) return yield* Console.log(usage)
    const options = args.config === undefined ? {} : yield* Sandbox.loadOptionsFile(args.config)
    const layer = Sandbox.layerServer({ port: args.port, host: args.host }).pipe(
      Layer.provideMerge(Layer.scoped(Sandbox.Sandbox, Sandbox.make(options)))
    )
    yield* Effect.scoped(Effect.gen(function*() {
      const context = yield* Layer.build(layer)
      yield* Console.log(
        banner(Context.get(context, SandboxServer.SandboxServer), Context.get(context, Sandbox.Sandbox))
      )
      return yield* Effect.never
    })).pipe(
      Effect.catchTag("ServeError", (error) => Effect.fail(new CliError(describeServeError(error, args)))),
      Effect.onInterrupt(() => Console.log("\nwxauth-sandbox: stopped"))
    )
  }).pipe(
    Effect.catchTag("SandboxError", (error) => Effect.fail(new CliError(error.message))),
    Effect.tapError((error) => Console.error(`wxauth-sandbox: ${error.message}`))
  )
