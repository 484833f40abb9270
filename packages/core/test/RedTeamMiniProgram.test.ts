/**
 * A hostile "WeChat" (the sandbox's hostile faults, and raw answers of our own) against every
 * operation of a mini program and of the app token that reads an answer: code2Session,
 * getPhoneNumber, checkSessionKey, resetSessionKey, and the app token from `stable_token` and from
 * the classic `token`. Each call must end in a typed error or a validated value, within its
 * deadline, with no secret, code, token or session key in any error, span or log line; garbage
 * never passes for an answer, and checkSessionKey never says yes to it.
 */
import { assert, describe, it } from "@effect/vitest"
import { AppToken, AppTokenStore, MiniProgram, RefreshLock, WeChatApi, WeChatConfig } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import type * as Tracer from "effect/Tracer"
import { describeFault, drive, everyEndpoint, type HostileFault, problemsOf, recordInto } from "./hostile.js"

const mini = Sandbox.defaultApps.miniProgram

const Environment = Layer.mergeAll(
  WeChatConfig.layer({ appId: mini.appId, appSecret: Redacted.make(mini.secret) }),
  Sandbox.layerHttpClient
).pipe(Layer.provideMerge(Sandbox.layer()))

const hostile: ReadonlyArray<HostileFault> = [
  ...everyEndpoint,
  { kind: "nested", field: "expires_in" },
  { kind: "nested", field: "phone_info" },
  { kind: "nested", field: "session_key" },
  { kind: "nonFinite", value: "0" },
  { kind: "echo", errcode: 40029 },
  { kind: "echo", errcode: 87009 },
  { kind: "wrongShape" },
  { kind: "truncated" },
  { kind: "http500" },
  { kind: "reset" },
  { kind: "raw", body: "\"ok\"" },
  { kind: "raw", body: "{\"errcode\":0}" },
  { kind: "raw", body: "{\"errmsg\":\"ok\"}" },
  { kind: "raw", body: "{\"errcode\":87009.5,\"errmsg\":\"x\"}" },
  { kind: "raw", body: "{\"errcode\":0,\"errmsg\":\"ok\",\"errcode\":87009}" },
  { kind: "raw", body: "{\"__proto__\":{\"errcode\":0},\"errmsg\":\"ok\"}" },
  { kind: "raw", body: "{\"access_token\":\"\",\"expires_in\":7200}" },
  { kind: "raw", body: "{\"access_token\":\"t\",\"expires_in\":\"7200\"}" },
  { kind: "raw", body: "{\"access_token\":\"t\",\"expires_in\":1e400}" },
  { kind: "raw", body: "{\"access_token\":7200,\"expires_in\":7200}" },
  { kind: "raw", body: "{\"access_token\":\"" + "t".repeat(5000) + "\",\"expires_in\":7200}" },
  { kind: "raw", body: "{\"openid\":\"o\",\"session_key\":\"\"}" },
  { kind: "raw", body: "{\"openid\":\"o\",\"session_key\":\"" + "k".repeat(100_000) + "\"}" },
  {
    kind: "raw",
    body:
      "{\"errcode\":0,\"errmsg\":\"ok\",\"phone_info\":{\"phoneNumber\":\"1\",\"purePhoneNumber\":\"1\",\"countryCode\":\"86\",\"watermark\":{\"timestamp\":1,\"appid\":\"wxother\"}}}"
  },
  {
    kind: "raw",
    body:
      "{\"errcode\":0,\"errmsg\":\"ok\",\"phone_info\":{\"phoneNumber\":\"1\",\"purePhoneNumber\":\"1\",\"countryCode\":\"86\"}}"
  },
  { kind: "raw", body: "{\"errcode\":0,\"errmsg\":\"ok\",\"phone_info\":null}" },
  { kind: "raw", body: "{\"openid\":\"o\"}\u0000garbage" },
  { kind: "raw", body: "\u00ff\u00fe{}" },
  { kind: "raw", body: "{}", status: 302 },
  { kind: "raw", body: "{}", status: 204 }
]

type Operation = "code2Session" | "getPhoneNumber" | "checkSessionKey" | "resetSessionKey" | "stable" | "classic"

const endpointOf: Record<Operation, Sandbox.Endpoint> = {
  code2Session: "jscode2session",
  getPhoneNumber: "getuserphonenumber",
  checkSessionKey: "checksession",
  resetSessionKey: "resetusersessionkey",
  stable: "stable_token",
  classic: "token"
}

/**
 * Whether an answer under `fault` may be a success: only when the fault leaves WeChat's answer as it
 * means it (another user for a code's exchange, where the code's user is unknown; a field the
 * endpoint does not read; an errcode written as 0), and for checkSessionKey, `false` only for 87009
 * and `true` only for `{"errcode":0}` (an answer WeChat documents for checksession).
 */
const mayPass = (operation: Operation, fault: HostileFault, value: unknown): boolean => {
  if (operation === "checkSessionKey" && value === false) {
    return fault.errcode === 87009 || (fault.body?.includes("87009") ?? false)
  }
  if (operation === "checkSessionKey" && value === true && fault.body === "{\"errcode\":0}") return true
  return fault.kind === "wrongOpenid" && operation !== "resetSessionKey" ||
    fault.kind === "nested" && fault.field !== undefined && operation !== "checkSessionKey" ||
    fault.kind === "nonFinite" && fault.value === "0"
}

/** Every fault on one operation's endpoint, each in a fresh sandbox; returns what went wrong. */
const attack = (operation: Operation, faults: ReadonlyArray<HostileFault> = hostile) =>
  Effect.gen(function*() {
    const problems: Array<string> = []
    for (const fault of faults) {
      const name = `${operation} <- ${describeFault(fault)}`
      const secrets = new Set<string>([mini.secret])
      const spans: Array<Tracer.Span> = []
      const lines: Array<string> = []
      const run = Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const store = yield* AppTokenStore.makeMemory()
        const appToken = yield* AppToken.makeWith({ mode: operation === "classic" ? "classic" : "stable" }).pipe(
          Effect.provideService(AppTokenStore.AppTokenStore, store),
          Effect.provideService(RefreshLock.RefreshLock, RefreshLock.makeInProcess()),
          Effect.orDie
        )
        const program = yield* MiniProgram.make.pipe(Effect.provideService(AppToken.AppToken, appToken))
        const jsCode = yield* sandbox.miniProgramLogin({ appId: mini.appId, user: "alice" })
        secrets.add(jsCode)
        let openid = ""
        if (operation !== "code2Session" && operation !== "stable" && operation !== "classic") {
          const session = yield* program.code2Session(jsCode)
          openid = session.openid
          secrets.add(Redacted.value(session.sessionKey))
          secrets.add(WeChatApi.sessionSignature(session.sessionKey))
          secrets.add(Redacted.value(yield* appToken.get))
        }
        const phoneCode = yield* sandbox.phoneNumberCode({ appId: mini.appId, user: "alice" })
        secrets.add(phoneCode)
        const jsCode2 = yield* sandbox.miniProgramLogin({ appId: mini.appId, user: "alice" })
        secrets.add(jsCode2)
        yield* sandbox.injectFault({ ...fault, endpoint: endpointOf[operation], times: 10 })
        const call: Effect.Effect<unknown, unknown> = operation === "code2Session"
          ? program.code2Session(jsCode2)
          : operation === "getPhoneNumber"
          ? program.getPhoneNumber(phoneCode)
          : operation === "checkSessionKey"
          ? program.checkSessionKey(openid)
          : operation === "resetSessionKey"
          ? program.resetSessionKey(openid)
          : appToken.get
        const { logger, tracer } = yield* recordInto(spans, lines)
        const fiber = yield* Effect.fork(
          call.pipe(Effect.withTracer(tracer), Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
        )
        return yield* drive(fiber)
      }).pipe(Effect.scoped, Effect.provide(Environment))
      const outcome = yield* Effect.exit(run)
      problems.push(
        ...problemsOf({ name, outcome, secrets, spans, lines, mayPass: (value) => mayPass(operation, fault, value) })
      )
    }
    return problems
  })

describe("red team: a hostile WeChat on the mini program's and the app token's endpoints", () => {
  for (const operation of Object.keys(endpointOf) as ReadonlyArray<Operation>) {
    it.effect(
      `${operation} (${endpointOf[operation]}): typed, bounded, no secret, no garbage accepted`,
      () =>
        Effect.gen(function*() {
          const problems = yield* attack(operation)
          console.log(`red team ${operation}: ${hostile.length} hostile answers, ${problems.length} problems`)
          assert.deepStrictEqual(problems, [])
        }),
      300_000
    )
  }
})
