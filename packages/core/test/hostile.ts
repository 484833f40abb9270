/**
 * What the hostile-WeChat tests share (`HostileWeChat`, `RedTeamMiniProgram`, `RedTeamComponent`):
 * the faults every endpoint gets, and how a fault and what a call left behind (its error, its spans)
 * are read as text, to look for secrets in.
 */
import type { Sandbox } from "@wxauth/sandbox"
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"

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
