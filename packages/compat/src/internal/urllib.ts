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
 * undici's `SocketError` messages for a socket the server closed (a FIN) before the answer was
 * complete. Node's `http` client, under urllib, failed the same exchange with `ECONNRESET` ("socket
 * hang up" before the response, "aborted" in its body). A real reset (an RST) reaches the cause as
 * the system error, `ECONNRESET` already; undici's other `SocketError`s ("bad response", a
 * parse failure; "destroyed", the client's own) keep `UND_ERR_SOCKET`.
 */
const peerClosedMessages = new Set(["other side closed", "closed"])

/**
 * The system code urllib's error would have carried for a cleaned cause's `code` and `message`.
 */
const systemCodeOf = (code: string | undefined, message: string | undefined): string | undefined => {
  if (code === undefined || code.startsWith("WXAUTH_")) return undefined
  if (code === "UND_ERR_SOCKET" && message !== undefined && peerClosedMessages.has(message)) return "ECONNRESET"
  return code
}

/**
 * urllib's name for a failure of this `reason` (a core `TransportError`'s) and cleaned `cause`
 * (its `phase`, system `code` and `message`), with the system code urllib's error carried (undici's
 * `UND_ERR_SOCKET` for a socket the server closed is urllib's `ECONNRESET`).
 *
 * @internal
 */
export const errorNameOf = (
  reason: string | undefined,
  cause: unknown
): { readonly name: UrllibErrorName; readonly code: string | undefined } => {
  const phase = stringField(cause, "phase")
  const code = stringField(cause, "code")
  const systemCode = systemCodeOf(code, stringField(cause, "message"))
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
