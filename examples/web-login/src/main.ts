/**
 * Starts the example: `node dist/main.js`, or `npm run demo` at the repository root. Configured by
 * environment variables (see `AppConfig.ts`); with none set it runs in demo mode against a sandbox
 * WeChat started in this process. Ctrl-C stops it (open connections are closed).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Server from "./Server.js"

const banner = (info: Server.ServerInfo): string =>
  [
    "",
    info.mode === "Demo"
      ? "wxauth web-login example · demo mode: a sandbox WeChat runs in this process, no WeChat account needed"
      : "wxauth web-login example",
    "",
    `  Open:     ${info.url}`,
    ...Option.match(info.sandboxUrl, {
      onNone: () => [],
      onSome: (url) => [`  Sandbox:  ${url}   (the local WeChat: consent pages, sns API, /__sandbox/ controls)`]
    }),
    ...Option.match(info.miniProgramUrl, {
      onNone: () => [],
      onSome: (url) => [`  Mini:     ${url}   (a simulated mini program: phone-number login)`]
    }),
    `  Tokens:   ${info.store}`,
    "",
    info.mode === "Demo"
      ? "On the consent page pick a test user (张三 is alice) and press 允许 (allow). Press Ctrl-C to stop."
      : "Press Ctrl-C to stop.",
    ""
  ].join("\n")

const describe = (error: Server.StartError): string => {
  switch (error._tag) {
    case "ServeError": {
      const cause = error.cause as NodeJS.ErrnoException | undefined
      return cause?.code === "EADDRINUSE"
        ? `cannot listen: ${cause.message}. Another program uses that port: set PORT (or SANDBOX_PORT) to another one.`
        : `cannot listen: ${cause?.message ?? String(error.cause)}`
    }
    case "SandboxError":
      return `the sandbox WeChat did not start: ${error.message}`
    case "TokenStoreError":
      return error.operation === "open"
        ? `the token store cannot open: ${error.description}`
        : `the token store did not start: ${error.message}`
    case "InvalidArgument":
      return `the token store did not start: ${error.message}`
    case "SessionStoreError":
      return `the session store did not start: ${error.message}`
    case "UsersError":
      return `the users' table did not start: ${error.message}`
    default:
      return `configuration error: ${String(error)}`
  }
}

const main = Effect.gen(function*() {
  const info = yield* Server.WebLoginServer
  yield* Console.log(banner(info))
  return yield* Effect.never
}).pipe(
  Effect.provide(Server.layerFromEnv),
  // every way of not starting is said (runMain's own report is off): an error, or anything unforeseen
  Effect.tapErrorCause((cause) =>
    Option.match(Cause.failureOption(cause), {
      onSome: (error) => Console.error(`\nweb-login: ${describe(error)}\n`),
      onNone: () =>
        Cause.isInterruptedOnly(cause)
          ? Effect.void
          : Console.error(`\nweb-login: unexpected failure at start:\n${Cause.pretty(cause)}\n`)
    })
  )
)

NodeRuntime.runMain(main, { disableErrorReporting: true })
