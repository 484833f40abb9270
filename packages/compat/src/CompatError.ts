/**
 * The errors of the compat API, shaped as `wechat-oauth` shaped them: an `Error` whose `name` is
 * `WeChatAPIError` (with `code` = WeChat's errcode and `message` = its errmsg) for an error answer,
 * `WeChatAPI` + urllib's error name for a transport failure (`WeChatAPIResponseTimeoutError`,
 * `WeChatAPIRequestError`, ...) and `NoOAuthTokenError` when no token is stored. Every error also
 * carries the core's tagged error as `cause` and its tag as `_tag`; no message holds a secret. A
 * defect (a bug, not a failure the API describes) is a `WeChatAPIUnexpectedError` too, never a raw
 * `TypeError` or `RangeError`.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import { AppFailure, HookFailure } from "./internal/appFailure.js"
import { openidText, preview } from "./internal/text.js"
import * as Urllib from "./internal/urllib.js"

/**
 * The names errors of this package carry. `WeChatAPIClientClosedError` (`_tag` `ClientClosed`) is
 * the error of a call in flight when `client.close()` was called: `close()` interrupts it.
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
  | "WeChatAPIClientClosedError"
  | "WeChatAPIUnexpectedError"

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

  /**
   * The message is cut at 1,000 characters; fields of the wrong type are left out.
   */
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
    // JavaScript callers may pass anything: only fields of the right type are read
    const field = (key: string): unknown => {
      try {
        return typeof options === "object" && options !== null ? (options as Record<string, unknown>)[key] : undefined
      } catch {
        return undefined // a getter or a Proxy trap that throws, a revoked Proxy
      }
    }
    const text = (key: string): string | undefined => {
      const value = field(key)
      return typeof value === "string" ? value : undefined
    }
    const cause = field("cause")
    super(preview(text("message") ?? "", maxMessageLength), cause === undefined ? undefined : { cause })
    this.name = text("name") ?? "WeChatAPIUnexpectedError"
    this._tag = text("tag") ?? "Unknown"
    const code = field("code")
    if (typeof code === "number" || typeof code === "string") this.code = code
    const errcode = field("errcode")
    if (typeof errcode === "number") this.errcode = errcode
    const errmsg = text("errmsg")
    if (errmsg !== undefined) this.errmsg = errmsg
    const reason = text("reason")
    if (reason !== undefined) this.reason = reason
    const status = field("status")
    if (typeof status === "number") this.status = status
  }
}

const maxMessageLength = 1000

/**
 * True for the errors of this package.
 *
 * @since 0.1.0
 * @category guards
 */
export const isCompatError = (u: unknown): u is CompatError => {
  try {
    return u instanceof CompatError
  } catch {
    return false // a Proxy whose getPrototypeOf throws, a revoked Proxy
  }
}

/**
 * The error of a value that cannot be looked at (a getter or a Proxy trap that throws, a revoked
 * Proxy): kept out of the error, whose printing would throw too.
 */
const unreadable = (): CompatError =>
  new CompatError({
    name: "WeChatAPIUnexpectedError",
    tag: "Defect",
    message: "Unexpected failure in @wxauth/compat (a defect whose value cannot be read)"
  })

const stringField = (u: unknown, key: string): string | undefined =>
  Predicate.hasProperty(u, key) && typeof u[key] === "string" ? u[key] as string : undefined

const numberField = (u: unknown, key: string): number | undefined =>
  Predicate.hasProperty(u, key) && typeof u[key] === "number" ? u[key] as number : undefined

const otherNames: Record<string, CompatErrorName> = {
  InvalidArgument: "WeChatAPIInvalidArgumentError",
  ConsentDenied: "WeChatAPIConsentDeniedError",
  StateMismatch: "WeChatAPIStateMismatchError",
  TokenStoreError: "WeChatAPITokenStoreError",
  RefreshLockTimeout: "WeChatAPIRefreshLockTimeoutError",
  DecryptError: "WeChatAPIDecryptError",
  MalformedResponse: "WeChatAPIJSONResponseFormatError"
}

/** The message of an error, read without letting a hostile value throw. */
const messageOf = (u: unknown): string => {
  try {
    const message = stringField(u, "message")
    return message !== undefined && message !== "" ? message : String(u)
  } catch {
    return "(no message)"
  }
}

/** The name of a defect's class (`RangeError`, `TypeError`, ...), never its message. */
const kindOf = (defect: unknown): string => {
  try {
    if (defect instanceof Error) return defect.name
    return defect === null ? "null" : typeof defect
  } catch {
    return "unknown"
  }
}

/**
 * The error a defect (a bug in the compat API or the core, never a failure the API describes)
 * reaches the caller as: a `WeChatAPIUnexpectedError` with the defect as `cause`. Its message names
 * the kind of defect, not the defect's own message (which may quote a value).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromDefect = (defect: unknown): CompatError => {
  try {
    return defect instanceof CompatError ? defect : new CompatError({
      name: "WeChatAPIUnexpectedError",
      tag: "Defect",
      message: `Unexpected failure in @wxauth/compat (a defect, ${kindOf(defect)}; see cause)`,
      cause: defect
    })
  } catch {
    return unreadable()
  }
}

/**
 * Turns a core error (or a `ConfigError`) into the error the compat API reports. The error of the
 * app's own function (a hook, an overridden method, its `request`) is returned as it is; any other
 * value that is not a known error is a `WeChatAPIUnexpectedError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromCoreError = (error: unknown): unknown => {
  try {
    return convert(error)
  } catch {
    return unreadable()
  }
}

const convert = (error: unknown): unknown => {
  if (error instanceof CompatError) return error
  if (error instanceof AppFailure) return error.error
  if (ConfigError.isConfigError(error)) {
    return new CompatError({
      name: "WeChatAPIConfigError",
      tag: "ConfigError",
      message: `Invalid configuration: ${String(error)}`,
      cause: error
    })
  }
  const tag = stringField(error, "_tag")
  if (tag === undefined) return fromDefect(error)
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
      const { code, name } = Urllib.errorNameOf(reason, cause)
      return new CompatError({
        name: `WeChatAPI${name}`,
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
        message: `No token for ${openidText(stringField(error, "openid"))}, please authorize first.`,
        cause: error
      })
    case "TokenStoreError": {
      const cause = Predicate.hasProperty(error, "cause") ? error.cause : undefined
      if (cause instanceof HookFailure) return cause.error
      break
    }
  }
  const name = otherNames[tag]
  return new CompatError({ name: name ?? "WeChatAPIUnexpectedError", tag, message: messageOf(error), cause: error })
}

/**
 * The error a failed `Exit` reports: its typed failure converted by `fromCoreError`; a defect or an
 * interruption as a `WeChatAPIUnexpectedError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromCause = (cause: Cause.Cause<unknown>): unknown => {
  try {
    return convertCause(cause)
  } catch {
    return unreadable()
  }
}

const convertCause = (cause: Cause.Cause<unknown>): unknown => {
  if (!Cause.isCause(cause)) return fromCoreError(cause)
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return fromCoreError(failure.value)
  if (Cause.isInterruptedOnly(cause)) {
    return new CompatError({
      name: "WeChatAPIUnexpectedError",
      tag: "Interrupted",
      message: "The WeChat call was interrupted"
    })
  }
  return fromDefect(Cause.squash(cause))
}
