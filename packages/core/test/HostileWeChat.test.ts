/**
 * A hostile "WeChat" (the sandbox's hostile faults: nested JSON, huge bodies, a drip, non-finite
 * numbers, an echoed query, another user's openid, garbage) against every operation that reads an
 * answer: the code exchange, getUser, refresh and verifyAccessToken. Each call must end in a typed
 * error or a validated value, within its deadline, with no secret, code or token in any error,
 * span or log line, and verifyAccessToken must never say yes to garbage.
 */
import { assert, describe, it } from "@effect/vitest"
import { TokenStore, WeChatConfig, WeChatHttpClient, WeChatOAuth } from "@wxauth/core"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import { describeFault, drive, errorTexts, everyEndpoint, type HostileFault, spanTexts } from "./hostile.js"

const app = Sandbox.defaultApps.officialAccount
const redirectUri = "https://app.example.com/cb"

const hostile: ReadonlyArray<HostileFault> = [
  ...everyEndpoint,
  { kind: "nested", field: "scope" },
  { kind: "nested", field: "privilege" },
  { kind: "raw", body: "{\"openid\":\"x\"}" },
  { kind: "raw", body: "{\"errmsg\":\"ok\"}" },
  { kind: "raw", body: "\"ok\"" }
]

/** What each operation does, and the endpoint the fault is put on. */
type Operation = "exchange" | "getUser" | "refresh" | "verify" | "getUserExpired"
const operations: ReadonlyArray<readonly [Operation, Sandbox.Endpoint]> = [
  ["exchange", "access_token"],
  ["getUser", "userinfo"],
  ["refresh", "refresh_token"],
  ["verify", "auth"],
  ["getUserExpired", "refresh_token"]
]

interface Report {
  calls: number
  defects: Array<string>
  hangs: Array<string>
  leaks: Array<string>
  failOpen: Array<string>
}

/** A tracer that keeps every span, and a logger that keeps every line. */
const recorders = Effect.map(Effect.tracer, (base) => {
  const spans: Array<Tracer.Span> = []
  const lines: Array<string> = []
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      const span = base.span(name, parent, context, links, startTime, kind, options)
      spans.push(span)
      return span
    },
    context: base.context
  })
  const logger = Logger.make(({ annotations, message }) => {
    lines.push(`${JSON.stringify(message)} ${JSON.stringify([...annotations])}`)
  })
  return { tracer, spans, logger, lines }
})

/**
 * Runs every hostile fault against every operation. `drive` moves time for in-process runs (the
 * TestClock) and is a plain wait for runs against a real server.
 */
const attack = (options: {
  readonly faults: ReadonlyArray<HostileFault>
  readonly operations: ReadonlyArray<readonly [Operation, Sandbox.Endpoint]>
  readonly drive: <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.Effect<Option.Option<Exit.Exit<A, E>>>
}) =>
  Effect.gen(function*() {
    const oauth = yield* WeChatOAuth.WeChatOAuth
    const sandbox = yield* Sandbox.Sandbox
    const { lines, logger, spans, tracer } = yield* recorders
    const report: Report = { calls: 0, defects: [], hangs: [], leaks: [], failOpen: [] }
    const secrets = new Set<string>([app.secret])
    const freshCode = Effect.gen(function*() {
      const callback = yield* sandbox.approve({
        appId: app.appId,
        user: "alice",
        scope: "snsapi_userinfo",
        redirectUri
      })
      const code = new URL(callback).searchParams.get("code")!
      secrets.add(code)
      return code
    })
    const login = Effect.gen(function*() {
      const token = yield* oauth.exchangeCode(yield* freshCode)
      secrets.add(Redacted.value(token.accessToken))
      secrets.add(Redacted.value(token.refreshToken))
      return token
    })

    for (const fault of options.faults) {
      for (const [operation, endpoint] of options.operations) {
        yield* sandbox.clearFaults
        const token = yield* login
        const code = yield* freshCode
        if (operation === "getUserExpired") yield* TestClock.adjust("2 hours")
        yield* sandbox.injectFault({ ...fault, endpoint, times: 10 })
        const call: Effect.Effect<unknown, unknown> = operation === "exchange"
          ? oauth.exchangeCode(code)
          : operation === "refresh"
          ? oauth.refresh(token.openid)
          : operation === "verify"
          ? oauth.verifyAccessToken(token.openid)
          : oauth.getUser(token.openid)
        const name = `${operation} <- ${describeFault(fault)}`
        report.calls++
        const fiber = yield* Effect.fork(
          call.pipe(Effect.withTracer(tracer), Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
        )
        const exit = yield* options.drive(fiber)
        if (Option.isNone(exit)) {
          report.hangs.push(name)
          yield* Fiber.interrupt(fiber)
          continue
        }
        if (Exit.isFailure(exit.value)) {
          if (!Cause.isFailType(exit.value.cause) && Cause.isDie(exit.value.cause)) report.defects.push(name)
          for (const text of errorTexts(exit.value.cause)) {
            for (const secret of secrets) if (text.includes(secret)) report.leaks.push(`${name}: error`)
          }
        } else if (operation === "verify" && exit.value.value === true && fault.kind !== "wrongOpenid") {
          report.failOpen.push(name)
        }
      }
    }
    yield* sandbox.clearFaults
    for (const span of spans) {
      for (const text of spanTexts(span)) {
        for (const secret of secrets) if (text.includes(secret)) report.leaks.push(`span ${span.name}`)
      }
    }
    for (const line of lines) {
      for (const secret of secrets) if (line.includes(secret)) report.leaks.push(`log ${line.slice(0, 80)}`)
    }
    return report
  })

const summarize = (label: string, report: Report) => {
  console.log(
    `${label}: ${report.calls} calls, ${report.defects.length} defects, ${report.hangs.length} hangs, ${report.leaks.length} leaks, ${report.failOpen.length} fail-open`
  )
  assert.deepStrictEqual(report.defects, [], "defects")
  assert.deepStrictEqual(report.hangs, [], "hangs")
  assert.deepStrictEqual(report.leaks, [], "leaks")
  assert.deepStrictEqual(report.failOpen, [], "fail-open")
}

describe("a hostile WeChat", () => {
  it.effect("in process (the stock client path), time driven by the TestClock", () =>
    Effect.gen(function*() {
      const report = yield* attack({
        faults: hostile,
        operations,
        // the deadline is 5 s and retries are bounded
        drive
      })
      assert.strictEqual(report.calls, hostile.length * operations.length)
      summarize("core hostile WeChat (in process)", report)
    }).pipe(
      Effect.provide(
        WeChatOAuth.layer.pipe(
          Layer.provideMerge(TokenStore.layerMemory),
          Layer.provide(WeChatConfig.layer({ appId: app.appId, appSecret: app.secret })),
          Layer.provide(Sandbox.layerHttpClient),
          Layer.provideMerge(Sandbox.layer())
        )
      )
    ), 120_000)

  it.live(
    "over a socket with the lean WeChatHttpClient: huge, drip and nested end by the deadline",
    () =>
      Effect.gen(function*() {
        const faults = hostile.filter((fault) =>
          fault.kind === "huge" || fault.kind === "drip" || (fault.kind === "nested" && fault.field === undefined)
        )
        const started = Date.now()
        const report = yield* attack({
          faults,
          // without a test clock, an expired token cannot be made: the other four operations
          operations: operations.filter(([operation]) => operation !== "getUserExpired"),
          // a 1 s deadline and at most 3 attempts: anything still running after 10 s hangs
          drive: (fiber) =>
            Effect.map(Effect.timeout(Fiber.await(fiber), "10 seconds"), Option.fromNullable).pipe(
              Effect.catchAll(() => Effect.succeed(Option.none()))
            )
        })
        summarize("core hostile WeChat (socket, lean client)", report)
        const perCall = (Date.now() - started) / report.calls
        assert.isBelow(perCall, 5_000)
      }).pipe(
        Effect.provide(
          Layer.unwrapEffect(Effect.map(SandboxServer.SandboxServer, (server) =>
            WeChatOAuth.layer.pipe(
              Layer.provideMerge(TokenStore.layerMemory),
              Layer.provide(
                WeChatConfig.layer({
                  appId: app.appId,
                  appSecret: app.secret,
                  apiBaseUrl: server.url,
                  openBaseUrl: server.url,
                  timeout: "1 second"
                })
              ),
              Layer.provide(WeChatHttpClient.layer({ timeout: "1 second" }))
            ))).pipe(
              Layer.provideMerge(Sandbox.layerServer({ port: 0 })),
              Layer.provideMerge(Sandbox.layer())
            )
        )
      ),
    300_000
  )
})
