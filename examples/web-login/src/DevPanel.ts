/**
 * The dev panel (demo mode only): buttons that make the sandbox WeChat misbehave, through its
 * `/__sandbox/` JSON controls over HTTP, so each error page and core's retry and refresh policy can
 * be seen by hand. It works against any wxauth sandbox, in-process or started with `wxauth-sandbox`.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

/** The preset buttons. */
export type Preset =
  | "userinfo-busy-once"
  | "userinfo-busy"
  | "exchange-busy"
  | "code-expired"
  | "code-used"
  | "clock-2h"
  | "clock-31d"
  | "clear"

type Control =
  | { readonly method: "POST"; readonly path: string; readonly body: unknown }
  | { readonly method: "DELETE"; readonly path: string }

/** What a preset does, and its label (Chinese, then English). */
export interface PresetInfo {
  readonly label: string
  readonly labelEn: string
  readonly control: Control
}

const fault = (body: Record<string, unknown>): Control => ({ method: "POST", path: "/__sandbox/faults", body })

/** Every preset, in the panel's order. */
export const presets: { readonly [P in Preset]: PresetInfo } = {
  "userinfo-busy-once": {
    label: "获取资料：微信繁忙 1 次",
    labelEn: "next userinfo call: busy (core retries; you won't notice)",
    control: fault({ kind: "busy", endpoint: "userinfo", times: 1 })
  },
  "userinfo-busy": {
    label: "获取资料：微信繁忙 3 次",
    labelEn: "next 3 userinfo calls: busy (retries run out: error page)",
    control: fault({ kind: "busy", endpoint: "userinfo", times: 3 })
  },
  "exchange-busy": {
    label: "登录换取令牌：微信繁忙",
    labelEn: "next 2 code exchanges: busy (one retry, then error page)",
    control: fault({ kind: "busy", endpoint: "access_token", times: 2 })
  },
  "code-expired": {
    label: "登录码过期",
    labelEn: "next code exchange: code expired (42003)",
    control: fault({ kind: "errcode", endpoint: "access_token", errcode: 42003, errmsg: "code expired" })
  },
  "code-used": {
    label: "登录码已被使用",
    labelEn: "next code exchange: code been used (40163)",
    control: fault({ kind: "errcode", endpoint: "access_token", errcode: 40163, errmsg: "code been used" })
  },
  "clock-2h": {
    label: "微信时钟 +2 小时",
    labelEn: "WeChat clock +2 h: the access token expires; “refresh profile” refreshes it",
    control: { method: "POST", path: "/__sandbox/clock/advance", body: { seconds: 2 * 60 * 60 } }
  },
  "clock-31d": {
    label: "微信时钟 +31 天",
    labelEn: "WeChat clock +31 days: the refresh token expires; you must log in again",
    control: { method: "POST", path: "/__sandbox/clock/advance", body: { seconds: 31 * 24 * 60 * 60 } }
  },
  clear: {
    label: "清除故障",
    labelEn: "clear pending faults",
    control: { method: "DELETE", path: "/__sandbox/faults" }
  }
}

/** Whether a form value names a preset. */
export const isPreset = (value: string | undefined): value is Preset =>
  value !== undefined && Object.prototype.hasOwnProperty.call(presets, value)

/** A fault waiting in the sandbox, as its control endpoint lists it. */
export class PendingFault extends Schema.Class<PendingFault>("PendingFault")({
  kind: Schema.String,
  endpoint: Schema.String,
  times: Schema.Number,
  errcode: Schema.optional(Schema.Number)
}) {}

const FaultList = Schema.Struct({ faults: Schema.Array(PendingFault) })

/** What the panel shows: the sandbox's URL and its pending faults (`Left` when it cannot be reached). */
export interface Status {
  readonly sandboxUrl: string
  readonly faults: Either.Either<ReadonlyArray<PendingFault>, string>
}

const timeout = Duration.seconds(3)

/** Reads the sandbox's pending faults. */
export const status = (sandboxUrl: string): Effect.Effect<Status, never, HttpClient.HttpClient> =>
  HttpClient.get(`${sandboxUrl}/__sandbox/faults`).pipe(
    Effect.flatMap(HttpClientResponse.filterStatusOk),
    Effect.flatMap((response) => response.json),
    Effect.flatMap(Schema.decodeUnknown(FaultList)),
    Effect.timeout(timeout),
    Effect.match({
      onFailure: () => Either.left("the sandbox did not answer"),
      onSuccess: (list) => Either.right(list.faults)
    }),
    Effect.map((faults) => ({ sandboxUrl, faults }))
  )

/** Applies a preset to the sandbox. */
export const apply = (sandboxUrl: string, preset: Preset): Effect.Effect<boolean, never, HttpClient.HttpClient> => {
  const control = presets[preset].control
  const request = control.method === "DELETE"
    ? HttpClientRequest.del(`${sandboxUrl}${control.path}`)
    : HttpClientRequest.post(`${sandboxUrl}${control.path}`).pipe(HttpClientRequest.bodyUnsafeJson(control.body))
  return HttpClient.execute(request).pipe(
    Effect.flatMap(HttpClientResponse.filterStatusOk),
    Effect.timeout(timeout),
    Effect.as(true),
    Effect.catchAll((error) =>
      Effect.as(
        Effect.logWarning("dev panel: the sandbox control failed").pipe(Effect.annotateLogs({ preset, error })),
        false
      )
    )
  )
}
