/**
 * What the hostile-WeChat tests share (`HostileWeChat`, `RedTeamMiniProgram`, `RedTeamComponent`):
 * the faults every endpoint gets, and how a fault and what a call left behind (its error, its spans)
 * are read as text, to look for secrets in.
 */
import type { Sandbox } from "@wxauth/sandbox"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"

/** A sandbox fault, without where it goes nor how many times (each test says). */
export type HostileFault = Omit<Sandbox.Fault, "endpoint" | "times">

/**
 * What any endpoint's answer can be made into: nested JSON, a huge or dripping body, numbers that
 * are not finite or not whole, an errmsg that echoes the request, another user's answer, JSON that
 * is not an object or whose errcode is text. Each test adds the faults of its endpoints' fields.
 */
export const everyEndpoint: ReadonlyArray<HostileFault> = [
  { kind: "nested" },
  { kind: "nested", field: "errmsg" },
  { kind: "nested", field: "errcode" },
  { kind: "nested", field: "openid" },
  { kind: "huge" },
  { kind: "huge", contentLength: false },
  { kind: "drip", intervalMs: 500, delayMs: 60_000 },
  { kind: "nonFinite" },
  { kind: "nonFinite", value: "1e300" },
  { kind: "nonFinite", value: "-7200" },
  { kind: "nonFinite", value: "7200.5" },
  { kind: "nonFinite", field: "errcode" },
  { kind: "echo" },
  { kind: "echo", errcode: -1 },
  { kind: "echo", errcode: 40001 },
  { kind: "echo", errcode: 42001 },
  { kind: "wrongOpenid" },
  { kind: "raw", body: "[]" },
  { kind: "raw", body: "{}" },
  { kind: "raw", body: "null" },
  { kind: "raw", body: "{\"errcode\":\"0\"}" }
]

/** A fault as a short name, for a problem's report. */
export const describeFault = (fault: HostileFault): string =>
  [
    fault.kind,
    fault.field,
    fault.value,
    fault.errcode,
    fault.body?.slice(0, 40),
    fault.status,
    fault.contentLength === false ? "chunked" : undefined
  ].filter((part) => part !== undefined).join(":")

/** A span's name, attributes and failure, as text. */
export const spanTexts = (span: Tracer.Span): ReadonlyArray<string> => [
  span.name,
  ...[...span.attributes.entries()].map(([k, v]) => `${k}=${String(v)}`),
  span.status._tag === "Ended" && Exit.isFailure(span.status.exit) ? Cause.pretty(span.status.exit.cause) : ""
]

/** A failure's every printed form: the cause, the error, its JSON and its stack. */
export const errorTexts = (cause: Cause.Cause<unknown>): ReadonlyArray<string> => {
  const error = Option.getOrUndefined(Cause.failureOption(cause))
  let json = ""
  try {
    json = JSON.stringify(error) ?? ""
  } catch {
    json = "<unserialisable>"
  }
  return [Cause.pretty(cause), String(error), json, (error as Error | undefined)?.stack ?? ""]
}

/**
 * A tracer that keeps every span in `spans`, and a logger that keeps every line in `lines`: what a
 * call under a fault leaves behind, to look for secrets in.
 */
export const recordInto = (spans: Array<Tracer.Span>, lines: Array<string>) =>
  Effect.map(Effect.tracer, (base) => ({
    tracer: Tracer.make({
      span: (...args) => {
        const span = base.span(...args)
        spans.push(span)
        return span
      },
      context: base.context
    }),
    logger: Logger.make(({ annotations, message }) => {
      lines.push(`${JSON.stringify(message)} ${JSON.stringify([...annotations])}`)
    })
  }))

/**
 * What went wrong in one call under a fault, named `name`: its set-up failed, it hung (`None`), it
 * died, it succeeded where `mayPass` says garbage was accepted, or a secret is in its error, a span
 * or a log line.
 */
export const problemsOf = <A>(options: {
  readonly name: string
  readonly outcome: Exit.Exit<Option.Option<Exit.Exit<A, unknown>>, unknown>
  readonly secrets: Iterable<string>
  readonly spans: ReadonlyArray<Tracer.Span>
  readonly lines: ReadonlyArray<string>
  readonly mayPass: (value: A) => boolean
}): Array<string> => {
  const { lines, name, outcome, spans } = options
  const secrets = [...options.secrets]
  if (Exit.isFailure(outcome)) return [`${name}: the setup failed ${Cause.pretty(outcome.cause).split("\n")[0]}`]
  const exit = outcome.value
  if (Option.isNone(exit)) return [`${name}: hung`]
  const problems: Array<string> = []
  if (Exit.isFailure(exit.value)) {
    if (Cause.isDie(exit.value.cause)) {
      problems.push(`${name}: defect ${Cause.pretty(exit.value.cause).split("\n")[0].slice(0, 120)}`)
    }
    for (const text of errorTexts(exit.value.cause)) {
      for (const secret of secrets) if (text.includes(secret)) problems.push(`${name}: a secret in the error`)
    }
  } else if (!options.mayPass(exit.value.value)) {
    problems.push(`${name}: accepted ${JSON.stringify(exit.value.value)?.slice(0, 80)}`)
  }
  for (const span of spans) {
    for (const text of spanTexts(span)) {
      for (const secret of secrets) {
        if (text.includes(secret)) problems.push(`${name}: a secret in span ${span.name}`)
      }
    }
  }
  for (const line of lines) {
    for (const secret of secrets) if (line.includes(secret)) problems.push(`${name}: a secret in a log line`)
  }
  return problems
}

/**
 * Polls `fiber` while moving the TestClock: 10 minutes of test time (deadlines are seconds, retries
 * bounded) is far past any end; `None` when it is still running then (a hang).
 */
export const drive = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1200; i++) {
      const exit = yield* Fiber.poll(fiber)
      if (Option.isSome(exit)) return exit
      yield* TestClock.adjust("500 millis")
    }
    return yield* Fiber.poll(fiber)
  })
