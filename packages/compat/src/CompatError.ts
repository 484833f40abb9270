/**
 * The errors of the compat API, shaped as `wechat-oauth` shaped them: an `Error` whose `name` is
 * `WeChatAPIError` (with `code` = WeChat's errcode and `message` = its errmsg) for an error answer,
 * `WeChatAPI` + urllib's error name for a transport failure (`WeChatAPIResponseTimeoutError`,
 * `WeChatAPIRequestError`, ...) and `NoOAuthTokenError` when no token is stored. Every error also
 * carries the core's tagged error as `cause` and its tag as `_tag`; no message holds a secret.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import { HookFailure } from "./internal/hooks.js"

/**
 * The names errors of this package carry.
 *
 * @since 0.1.0
 * @category models
 */
export type CompatErrorName =
  | "WeChatAPIError"
  | "WeChatAPIResponseTimeoutError"
  | "WeChatAPIConnectionTimeoutError"
  | "WeChatAPIRequestError"
  | "WeChatAPIResponseError"
  | "WeChatAPIJSONResponseFormatError"
  | "NoOAuthTokenError"
  | "WeChatAPIInvalidArgumentError"
  | "WeChatAPIConsentDeniedError"
  | "WeChatAPIStateMismatchError"
  | "WeChatAPITokenStoreError"
  | "WeChatAPIRefreshLockTimeoutError"
  | "WeChatAPIDecryptError"
  | "WeChatAPIConfigError"

/**
 * An error of the compat API. `name` says what kind it is (see `CompatErrorName`), `_tag` is the
 * tag of the core error kept as `cause` (`"InvalidCode"`, `"TransportError"`, `"TokenNotFound"`,
 * ...). WeChat's error answers have `code` (= `errcode`), `errcode` and `errmsg`; transport errors
 * have `reason` (`Timeout`, `ConnectionRefused`, `Network`, `HttpStatus`), `status` for a non-2xx
 * answer, and `code` for a system error code (`ECONNREFUSED`, `ECONNRESET`, ...).
 *
 * @since 0.1.0
 * @category errors
 */
export class CompatError extends Error {
  /**
   * The tag of the core error kept as `cause`.
   *
   * @since 0.1.0
   */
  readonly _tag: string
  /**
   * WeChat's errcode (for `WeChatAPIError`), or a system error code for a transport failure.
   *
   * @since 0.1.0
   */
  readonly code?: number | string
  /**
   * WeChat's errcode, for `WeChatAPIError`.
   *
   * @since 0.1.0
   */
  readonly errcode?: number
  /**
   * WeChat's errmsg, for `WeChatAPIError`.
   *
   * @since 0.1.0
   */
  readonly errmsg?: string
  /**
   * Why a transport failed: `Timeout`, `ConnectionRefused`, `Network` or `HttpStatus`.
   *
   * @since 0.1.0
   */
  readonly reason?: string
  /**
   * The HTTP status of a non-2xx answer.
   *
   * @since 0.1.0
   */
  readonly status?: number

  constructor(options: {
    readonly name: CompatErrorName
    readonly message: string
    readonly tag: string
    readonly cause?: unknown
    readonly code?: number | string | undefined
    readonly errcode?: number | undefined
    readonly errmsg?: string | undefined
    readonly reason?: string | undefined
    readonly status?: number | undefined
  }) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = options.name
    this._tag = options.tag
    if (options.code !== undefined) this.code = options.code
    if (options.errcode !== undefined) this.errcode = options.errcode
    if (options.errmsg !== undefined) this.errmsg = options.errmsg
    if (options.reason !== undefined) this.reason = options.reason
    if (options.status !== undefined) this.status = options.status
  }
}

/**
 * True for the errors of this package.
 *
 * @since 0.1.0
 * @category guards
 */
export const isCompatError = (u: unknown): u is CompatError => u instanceof CompatError

const stringField = (u: unknown, key: string): string | undefined =>
  Predicate.hasProperty(u, key) && typeof u[key] === "string" ? u[key] as string : undefined

const numberField = (u: unknown, key: string): number | undefined =>
  Predicate.hasProperty(u, key) && typeof u[key] === "number" ? u[key] as number : undefined

/** What urllib (under wechat-oauth) called a failure of this kind. */
const transportName = (
  reason: string | undefined,
  cause: unknown
): { readonly name: CompatErrorName; readonly code: string | undefined } => {
  const phase = stringField(cause, "phase")
  const code = stringField(cause, "code")
  const systemCode = code === undefined || code.startsWith("WXAUTH_") ? undefined : code
  switch (reason) {
    case "Timeout":
      return {
        name: phase === "connect" ? "WeChatAPIConnectionTimeoutError" : "WeChatAPIResponseTimeoutError",
        code: undefined
      }
    case "ConnectionRefused":
      return { name: "WeChatAPIRequestError", code: systemCode ?? "ECONNREFUSED" }
    case "HttpStatus":
      // urllib did not fail on a status; it failed to parse the proxy's HTML page as JSON
      return { name: "WeChatAPIJSONResponseFormatError", code: undefined }
    default: {
      const beforeSending = phase === "connect" || code === "ENOTFOUND" || code === "EAI_AGAIN"
      return { name: beforeSending ? "WeChatAPIRequestError" : "WeChatAPIResponseError", code: systemCode }
    }
  }
}

const otherNames: Record<string, CompatErrorName> = {
  InvalidArgument: "WeChatAPIInvalidArgumentError",
  ConsentDenied: "WeChatAPIConsentDeniedError",
  StateMismatch: "WeChatAPIStateMismatchError",
  TokenStoreError: "WeChatAPITokenStoreError",
  RefreshLockTimeout: "WeChatAPIRefreshLockTimeoutError",
  DecryptError: "WeChatAPIDecryptError",
  MalformedResponse: "WeChatAPIJSONResponseFormatError"
}

const messageOf = (u: unknown): string => {
  const message = stringField(u, "message")
  return message !== undefined && message !== "" ? message : String(u)
}

/**
 * Turns a core error (or a `ConfigError`) into the error the compat API reports. A hook's own error
 * is returned as it is.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromCoreError = (error: unknown): unknown => {
  if (error instanceof CompatError) return error
  if (ConfigError.isConfigError(error)) {
    return new CompatError({
      name: "WeChatAPIConfigError",
      tag: "ConfigError",
      message: `Invalid configuration: ${String(error)}`,
      cause: error
    })
  }
  const tag = stringField(error, "_tag")
  if (tag === undefined) return error
  const errcode = numberField(error, "errcode")
  if (errcode !== undefined) {
    const errmsg = stringField(error, "errmsg") ?? ""
    return new CompatError({
      name: "WeChatAPIError",
      tag,
      message: errmsg === "" ? messageOf(error) : errmsg,
      cause: error,
      code: errcode,
      errcode,
      errmsg
    })
  }
  switch (tag) {
    case "TransportError": {
      const reason = stringField(error, "reason")
      const cause = Predicate.hasProperty(error, "cause") ? error.cause : undefined
      const { code, name } = transportName(reason, cause)
      return new CompatError({
        name,
        tag,
        message: messageOf(error),
        cause: error,
        code,
        reason,
        status: numberField(error, "status")
      })
    }
    case "TokenNotFound":
      return new CompatError({
        name: "NoOAuthTokenError",
        tag,
        message: `No token for ${stringField(error, "openid")}, please authorize first.`,
        cause: error
      })
    case "TokenStoreError": {
      const cause = Predicate.hasProperty(error, "cause") ? error.cause : undefined
      if (cause instanceof HookFailure) return cause.error
      break
    }
  }
  const name = otherNames[tag]
  return name === undefined ? error : new CompatError({ name, tag, message: messageOf(error), cause: error })
}

/**
 * The error a failed `Exit` reports: its typed failure converted by `fromCoreError`, or the defect.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromCause = (cause: Cause.Cause<unknown>): unknown => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return fromCoreError(failure.value)
  if (Cause.isInterruptedOnly(cause)) return new Error("The WeChat call was interrupted")
  return Cause.squash(cause)
}
