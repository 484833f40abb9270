/**
 * What urllib (the HTTP client under `wechat-oauth`) called each transport failure, so that the
 * compat API names its failures as `wechat-oauth` users met them (`wechat-oauth` prefixed urllib's
 * name with `WeChatAPI`).
 *
 * @internal
 */
import * as Predicate from "effect/Predicate"

/**
 * urllib's error names.
 *
 * @internal
 */
export type UrllibErrorName =
  | "ResponseTimeoutError"
  | "ConnectionTimeoutError"
  | "RequestError"
  | "ResponseError"
  | "JSONResponseFormatError"

const stringField = (u: unknown, key: string): string | undefined =>
  Predicate.hasProperty(u, key) && typeof u[key] === "string" ? u[key] as string : undefined

/**
 * urllib's name for a failure of this `reason` (a core `TransportError`'s) and cleaned `cause`
 * (its `phase` and system `code`), with the system code urllib's error carried.
 *
 * @internal
 */
export const errorNameOf = (
  reason: string | undefined,
  cause: unknown
): { readonly name: UrllibErrorName; readonly code: string | undefined } => {
  const phase = stringField(cause, "phase")
  const code = stringField(cause, "code")
  const systemCode = code === undefined || code.startsWith("WXAUTH_") ? undefined : code
  switch (reason) {
    case "Timeout":
      return { name: phase === "connect" ? "ConnectionTimeoutError" : "ResponseTimeoutError", code: undefined }
    case "ConnectionRefused":
      return { name: "RequestError", code: systemCode ?? "ECONNREFUSED" }
    case "HttpStatus":
      // urllib did not fail on a status; it failed to parse the proxy's HTML page as JSON
      return { name: "JSONResponseFormatError", code: undefined }
    default: {
      const beforeSending = phase === "connect" || code === "ENOTFOUND" || code === "EAI_AGAIN"
      return { name: beforeSending ? "RequestError" : "ResponseError", code: systemCode }
    }
  }
}
