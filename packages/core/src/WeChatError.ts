/**
 * Every failure a caller of `@wxauth/core` can meet, as a tagged error: one class per WeChat errcode
 * family, plus transport, decoding, state, store and argument errors. No error message, `toJSON` or
 * `cause` ever holds the app secret, a code or a token.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { guardOr } from "./internal/guard.js"

/**
 * The WeChat endpoints, named as in the error fields and metrics.
 *
 * @since 0.1.0
 * @category models
 */
export type Endpoint =
  | "access_token"
  | "refresh_token"
  | "userinfo"
  | "auth"
  | "jscode2session"
  | "stable_token"
  | "token"
  | "getuserphonenumber"
  | "checksession"
  | "resetusersessionkey"
  | "api_component_token"
  | "api_query_auth"
  | "api_authorizer_token"
  | "component_access_token"
  | "component_refresh_token"
  | "component_jscode2session"

const wechatFields = {
  /** WeChat's numeric error code. */
  errcode: Schema.Number,
  /** WeChat's error message, as sent. */
  errmsg: Schema.String,
  /** The endpoint that answered. */
  endpoint: Schema.optional(Schema.String)
}

const wechatMessage = (
  self: { readonly errcode: number; readonly errmsg: string; readonly endpoint?: string | undefined },
  text: string
): string => `${text} (errcode ${self.errcode}${self.endpoint ? ` from ${self.endpoint}` : ""}): ${self.errmsg}`

/**
 * 40029: the code is not valid (unknown, for another app, or already expired on WeChat's side).
 * The user must authorize again.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidCode extends Schema.TaggedError<InvalidCode>("@wxauth/core/InvalidCode")(
  "InvalidCode",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "WeChat rejected the authorization code")
  }
}

/**
 * 40163: the code has been used already (a duplicate callback, or two workers racing).
 *
 * @since 0.1.0
 * @category errors
 */
export class CodeUsed extends Schema.TaggedError<CodeUsed>("@wxauth/core/CodeUsed")("CodeUsed", wechatFields) {
  override get message(): string {
    return wechatMessage(this, "The authorization code has been used already")
  }
}

/**
 * 42003: the code expired (codes live 5 minutes). The user must authorize again.
 *
 * @since 0.1.0
 * @category errors
 */
export class CodeExpired extends Schema.TaggedError<CodeExpired>("@wxauth/core/CodeExpired")(
  "CodeExpired",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "The authorization code has expired")
  }
}

/**
 * 40030: the refresh token is not valid. The user must authorize again.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRefreshToken extends Schema.TaggedError<InvalidRefreshToken>("@wxauth/core/InvalidRefreshToken")(
  "InvalidRefreshToken",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "The refresh token is invalid; the user must authorize again")
  }
}

/**
 * 42002: the refresh token expired (30 days after consent). The user must authorize again.
 *
 * @since 0.1.0
 * @category errors
 */
export class RefreshTokenExpired extends Schema.TaggedError<RefreshTokenExpired>("@wxauth/core/RefreshTokenExpired")(
  "RefreshTokenExpired",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "The refresh token has expired; the user must authorize again")
  }
}

/**
 * 42001: the access token expired. getUser refreshes and retries once.
 *
 * @since 0.1.0
 * @category errors
 */
export class AccessTokenExpired extends Schema.TaggedError<AccessTokenExpired>("@wxauth/core/AccessTokenExpired")(
  "AccessTokenExpired",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "The access token has expired")
  }
}

/**
 * 40014: the access token is not valid. getUser refreshes and retries once.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidAccessToken extends Schema.TaggedError<InvalidAccessToken>("@wxauth/core/InvalidAccessToken")(
  "InvalidAccessToken",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "The access token is invalid")
  }
}

/**
 * 40001: invalid credential: a wrong app secret on a call that sends it (a code exchange,
 * `jscode2session`, an app token: kind `permanent`, as 40125), or a stale access token on userinfo /
 * auth and the APIs called with an app token (kind `refreshable`: getUser refreshes and retries once).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidCredential extends Schema.TaggedError<InvalidCredential>("@wxauth/core/InvalidCredential")(
  "InvalidCredential",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "WeChat rejected the credential")
  }
}

/**
 * 40003: the openid is not valid for this app or token.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOpenId extends Schema.TaggedError<InvalidOpenId>("@wxauth/core/InvalidOpenId")(
  "InvalidOpenId",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "The openid is invalid")
  }
}

/**
 * 40013: the appid is not valid. A configuration error.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidAppId extends Schema.TaggedError<InvalidAppId>("@wxauth/core/InvalidAppId")(
  "InvalidAppId",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "The appid is invalid: check the configuration")
  }
}

/**
 * 40125: the app secret is not valid. A configuration error.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidAppSecret extends Schema.TaggedError<InvalidAppSecret>("@wxauth/core/InvalidAppSecret")(
  "InvalidAppSecret",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "The app secret is invalid: check the configuration")
  }
}

/**
 * 40164: the calling IP address is not in the app's whitelist. A configuration error; the
 * `proxy` option of `WeChatHttpClient.layer` gives a fixed egress address.
 *
 * @since 0.1.0
 * @category errors
 */
export class IpNotWhitelisted extends Schema.TaggedError<IpNotWhitelisted>("@wxauth/core/IpNotWhitelisted")(
  "IpNotWhitelisted",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "This server's IP address is not in the app's IP whitelist")
  }
}

/**
 * 41001-41009: a required parameter is missing. A caller bug.
 *
 * @since 0.1.0
 * @category errors
 */
export class MissingParameter extends Schema.TaggedError<MissingParameter>("@wxauth/core/MissingParameter")(
  "MissingParameter",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "WeChat reports a missing parameter")
  }
}

/**
 * The endpoints where a 48001 is about a user's consent: `userinfo` (and `auth`) called with a
 * token of `snsapi_base` scope, which a consent with `snsapi_userinfo` replaces. From any other
 * endpoint (the code exchange, the refresh, `jscode2session`, the app access token's APIs such as
 * `getuserphonenumber`, `stable_token`, the platform's endpoints, an API of the caller's own through
 * `AppToken.withToken`) a 48001 says the app (or its platform) lacks the API's permission: no
 * consent of a user changes that.
 */
const userScopeEndpoints: ReadonlySet<string> = new Set<Endpoint>(["userinfo", "auth"])

/**
 * Whether a 48001 from `endpoint` is the app's lack of permission rather than a user's scope: any
 * endpoint named but `userinfo` and `auth`. An error that names no endpoint is read as a user's scope.
 */
const isAppLevelEndpoint = (endpoint: unknown): boolean =>
  typeof endpoint === "string" && !userScopeEndpoints.has(endpoint)

/**
 * Whether a 48001 is permanent: from an app-level endpoint, or decided locally (`local`: no WeChat
 * call was made, the login cannot give what was asked whatever the user does).
 */
const isPermanentScope = (e: { readonly endpoint?: unknown; readonly local?: unknown }): boolean =>
  e.local === true || isAppLevelEndpoint(e.endpoint)

/**
 * 48001: the API is not authorized. Its `endpoint` tells whose authorization is missing:
 *
 * - from `userinfo` with an `snsapi_base` token (or `auth`), or with no endpoint named: the user's
 *   consent does not cover the API. Authorize again with `snsapi_userinfo`; its kind is `reauthorize`.
 * - from any other endpoint (`getuserphonenumber`, `checksession`, `resetusersessionkey`,
 *   `stable_token`, `token`, the code exchange and refresh, `jscode2session`, the platform's
 *   endpoints, an API of the caller's own): the app (or its platform) lacks the API's permission
 *   (e.g. it is not a mini program). A configuration error no login fixes; its kind is `permanent`.
 * - `local: true`: no WeChat call was made; the caller decided that the login cannot give what was
 *   asked (a mini program's user has no WeChat profile; an `snsapi_base` login gives none). Its kind
 *   is `permanent` whatever the endpoint, and its message is `errmsg`'s plain words (written by the
 *   caller), with no WeChat permission to check.
 *
 * @since 0.1.0
 * @category errors
 */
export class ScopeUnauthorized extends Schema.TaggedError<ScopeUnauthorized>("@wxauth/core/ScopeUnauthorized")(
  "ScopeUnauthorized",
  {
    ...wechatFields,
    /** Set when no WeChat call was made: decided locally, `permanent`. */
    local: Schema.optional(Schema.Boolean)
  }
) {
  override get message(): string {
    if (this.local === true) {
      return `${this.errmsg} (errcode ${this.errcode}, decided locally: no WeChat call was made)`
    }
    return wechatMessage(
      this,
      isAppLevelEndpoint(this.endpoint)
        ? "The app is not authorized for this API (check the app's type and permissions on the WeChat platform)"
        : "The token's scope does not allow this API (authorize with snsapi_userinfo)"
    )
  }
}

/**
 * 50001 / 50002: the user has not authorized the API, or the user is limited. Permanent.
 *
 * @since 0.1.0
 * @category errors
 */
export class UserUnauthorized extends Schema.TaggedError<UserUnauthorized>("@wxauth/core/UserUnauthorized")(
  "UserUnauthorized",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "The user is unauthorized or limited")
  }
}

/**
 * -1: WeChat is busy. Transient: retried with backoff where the call is idempotent.
 *
 * @since 0.1.0
 * @category errors
 */
export class SystemBusy extends Schema.TaggedError<SystemBusy>("@wxauth/core/SystemBusy")("SystemBusy", wechatFields) {
  override get message(): string {
    return wechatMessage(this, "WeChat is busy")
  }
}

/**
 * 45009 / 45011: a daily or per-minute quota is reached. Transient, but not to be hammered.
 *
 * @since 0.1.0
 * @category errors
 */
export class RateLimited extends Schema.TaggedError<RateLimited>("@wxauth/core/RateLimited")(
  "RateLimited",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "A WeChat API quota is reached")
  }
}

/**
 * 40226: a high-risk user; WeChat blocked the code. Permanent.
 *
 * @since 0.1.0
 * @category errors
 */
export class CodeBlocked extends Schema.TaggedError<CodeBlocked>("@wxauth/core/CodeBlocked")(
  "CodeBlocked",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "WeChat blocked the code of a high-risk user")
  }
}

/**
 * 61024: `stable_token` is refused for an app managed by a third-party platform (its app token
 * comes from the platform's authorizer token). Permanent.
 *
 * @since 0.1.0
 * @category errors
 */
export class PlatformManagedApp extends Schema.TaggedError<PlatformManagedApp>("@wxauth/core/PlatformManagedApp")(
  "PlatformManagedApp",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "The app is managed by a third-party platform: get its token from the platform")
  }
}

/**
 * 61004: the platform's calling IP address is not in its whitelist (set on the Open Platform's
 * third-party platform page). A configuration error.
 *
 * @since 0.1.0
 * @category errors
 */
export class ComponentIpNotWhitelisted
  extends Schema.TaggedError<ComponentIpNotWhitelisted>("@wxauth/core/ComponentIpNotWhitelisted")(
    "ComponentIpNotWhitelisted",
    wechatFields
  )
{
  override get message(): string {
    return wechatMessage(this, "This server's IP address is not in the third-party platform's IP whitelist")
  }
}

/**
 * 61005: the `component_verify_ticket` is expired (tickets live 12 hours; WeChat pushes a new one
 * every 10 minutes: check that pushes reach `Component.acceptPush`).
 *
 * @since 0.1.0
 * @category errors
 */
export class ComponentTicketExpired
  extends Schema.TaggedError<ComponentTicketExpired>("@wxauth/core/ComponentTicketExpired")(
    "ComponentTicketExpired",
    wechatFields
  )
{
  override get message(): string {
    return wechatMessage(this, "The component_verify_ticket has expired: no recent push was accepted")
  }
}

/**
 * 61006: the `component_verify_ticket` is not one WeChat pushed to this platform.
 *
 * @since 0.1.0
 * @category errors
 */
export class ComponentTicketInvalid
  extends Schema.TaggedError<ComponentTicketInvalid>("@wxauth/core/ComponentTicketInvalid")(
    "ComponentTicketInvalid",
    wechatFields
  )
{
  override get message(): string {
    return wechatMessage(this, "The component_verify_ticket is invalid")
  }
}

/**
 * 61023: the authorizer's refresh token is not valid: the app withdrew its authorization of the
 * platform (or it was never given). Its administrator must authorize the platform again.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthorizerRefreshTokenInvalid
  extends Schema.TaggedError<AuthorizerRefreshTokenInvalid>("@wxauth/core/AuthorizerRefreshTokenInvalid")(
    "AuthorizerRefreshTokenInvalid",
    wechatFields
  )
{
  override get message(): string {
    return wechatMessage(this, "The authorizer refresh token is invalid: the app must authorize the platform again")
  }
}

/**
 * 87009: the signature made with the session key is invalid: the session key is stale.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidSignature extends Schema.TaggedError<InvalidSignature>("@wxauth/core/InvalidSignature")(
  "InvalidSignature",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "The signature is invalid (the session key is stale)")
  }
}

/**
 * 89503 / 89506 / 89507: WeChat's risk control holds calls from this IP until an administrator
 * confirms it (or after refusals, for an hour or a day). Permanent until someone acts.
 *
 * @since 0.1.0
 * @category errors
 */
export class IpRiskControl extends Schema.TaggedError<IpRiskControl>("@wxauth/core/IpRiskControl")(
  "IpRiskControl",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "WeChat's risk control holds calls from this IP until an administrator confirms")
  }
}

/**
 * No session key is stored for this mini program user: log them in again (`wx.login()` and
 * `code2Session`).
 *
 * @since 0.1.0
 * @category errors
 */
export class SessionKeyNotFound extends Schema.TaggedError<SessionKeyNotFound>("@wxauth/core/SessionKeyNotFound")(
  "SessionKeyNotFound",
  {
    appId: Schema.String,
    openid: Schema.String
  }
) {
  override get message(): string {
    return `No session key is stored for openid ${this.openid} of app ${this.appId}: log the user in again`
  }
}

/**
 * The third-party platform has no `component_verify_ticket` yet, so it cannot get its component
 * access token: WeChat pushes one every 10 minutes to the authorization-event URL, where
 * `Component.acceptPush` stores it. Retry after the next push.
 *
 * @since 0.1.0
 * @category errors
 */
export class ComponentTicketMissing
  extends Schema.TaggedError<ComponentTicketMissing>("@wxauth/core/ComponentTicketMissing")(
    "ComponentTicketMissing",
    { componentAppId: Schema.String }
  )
{
  override get message(): string {
    return `No component_verify_ticket is stored for the platform ${this.componentAppId}: wait for WeChat's next push (every 10 minutes) to reach Component.acceptPush`
  }
}

/**
 * Why a push to the authorization-event URL was refused.
 *
 * - `Malformed`: the query or the body is not what WeChat sends (missing or bad parameters, not
 *   the flat XML WeChat sends, a DOCTYPE, an entity, nesting, an unknown field shape).
 * - `TooLarge`: the body is larger than WeChat's pushes can be.
 * - `BadSignature`: `msg_signature` does not match (a forged push, or another token).
 * - `Stale`: the push's timestamp is older (or further in the future) than `pushMaxAge`.
 * - `BadBase64`, `BadPadding`, `BadLength`: the encrypted message does not decrypt to WeChat's layout.
 * - `WrongAppId`: the message is for another platform.
 *
 * @since 0.1.0
 * @category models
 */
export type InvalidPushReason =
  | "Malformed"
  | "TooLarge"
  | "BadSignature"
  | "Stale"
  | "BadBase64"
  | "BadPadding"
  | "BadLength"
  | "WrongAppId"

/**
 * A push to the authorization-event URL was refused: it is not from WeChat, not for this platform,
 * too old, or not decodable. Never a defect, whatever the bytes; the description never quotes them.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidPush extends Schema.TaggedError<InvalidPush>("@wxauth/core/InvalidPush")("InvalidPush", {
  reason: Schema.Literal(
    "Malformed",
    "TooLarge",
    "BadSignature",
    "Stale",
    "BadBase64",
    "BadPadding",
    "BadLength",
    "WrongAppId"
  ),
  description: Schema.String
}) {
  override get message(): string {
    return `Refused a push to the authorization-event URL (${this.reason}): ${this.description}`
  }
}

/**
 * The handling of a push to the authorization-event URL (storing its ticket or voiding an
 * unauthorized app's tokens, then the app's `onEvent`) took longer than the platform's
 * `pushTimeout`: it was interrupted and the push not remembered, so WeChat, which waits 5 seconds
 * for `success`, pushes it again and the retry is processed afresh. `timeout` is the deadline,
 * formatted (e.g. `4s`); nothing of the push is in the error.
 *
 * @since 0.2.0
 * @category errors
 */
export class PushTimeout extends Schema.TaggedError<PushTimeout>("@wxauth/core/PushTimeout")("PushTimeout", {
  timeout: Schema.String
}) {
  override get message(): string {
    return `The handling of a push to the authorization-event URL took longer than ${this.timeout}: it was interrupted and not remembered; WeChat will push it again`
  }
}

/**
 * A copy of a push to the authorization-event URL arrived while the push was still being handled
 * (WeChat's retry, 5 seconds after a push it got no `success` for, or a concurrent replay). It is
 * not answered as handled (`Duplicate` is `success` to WeChat, which then stops retrying, and the
 * push was lost if its handling then failed): answer it with a failure (HTTP 500), and WeChat
 * pushes it again, then to be answered `Duplicate` if the first handling succeeded or processed
 * afresh if it failed. Nothing of the push is in the error.
 *
 * @since 0.2.0
 * @category errors
 */
export class PushInProgress extends Schema.TaggedError<PushInProgress>("@wxauth/core/PushInProgress")(
  "PushInProgress",
  {}
) {
  override get message(): string {
    return "A copy of this push to the authorization-event URL is still being handled: not answered as handled; WeChat will push it again"
  }
}

/**
 * Any other errcode, kept as sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownWeChatError extends Schema.TaggedError<UnknownWeChatError>("@wxauth/core/UnknownWeChatError")(
  "UnknownWeChatError",
  wechatFields
) {
  override get message(): string {
    return wechatMessage(this, "WeChat answered with an error")
  }
}

/**
 * The kinds of transport failure.
 *
 * - `ConnectionRefused`: the request was never sent (safe to retry even a code exchange).
 * - `Timeout`: no complete answer within the deadline.
 * - `Network`: the connection failed or was reset while the request was in flight.
 * - `HttpStatus`: WeChat (or a proxy) answered with a non-2xx status.
 *
 * @since 0.1.0
 * @category models
 */
export type TransportReason = "ConnectionRefused" | "Timeout" | "Network" | "HttpStatus"

/**
 * A network failure, a timeout or a non-2xx answer. The `cause` is a cleaned copy: no URL query
 * (where WeChat puts the secret, codes and tokens) survives in it.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Schema.TaggedError<TransportError>("@wxauth/core/TransportError")(
  "TransportError",
  {
    endpoint: Schema.String,
    reason: Schema.Literal("ConnectionRefused", "Timeout", "Network", "HttpStatus"),
    /**
     * How far the request got, when the client knows: `connect` means nothing was sent (safe to
     * retry even a code exchange); `headers` sent, no answer; `body` the answer had started.
     */
    phase: Schema.optional(Schema.Literal("connect", "headers", "body", "unknown")),
    status: Schema.optional(Schema.Number),
    description: Schema.String,
    cause: Schema.optional(Schema.Defect)
  }
) {
  override get message(): string {
    return `Transport error calling WeChat ${this.endpoint} (${this.reason}${
      this.status === undefined ? "" : ` ${this.status}`
    }): ${this.description}`
  }
}

/**
 * WeChat's answer was not JSON, or not of the expected shape. The body is not kept: it may hold
 * tokens.
 *
 * @since 0.1.0
 * @category errors
 */
export class MalformedResponse extends Schema.TaggedError<MalformedResponse>("@wxauth/core/MalformedResponse")(
  "MalformedResponse",
  {
    endpoint: Schema.String,
    description: Schema.String
  }
) {
  override get message(): string {
    return `Malformed response from WeChat ${this.endpoint}: ${this.description}`
  }
}

/**
 * The callback carried no `code`: the user refused consent (or closed the page).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConsentDenied extends Schema.TaggedError<ConsentDenied>("@wxauth/core/ConsentDenied")(
  "ConsentDenied",
  {}
) {
  override get message(): string {
    return "The user did not grant consent: the callback has no code"
  }
}

/**
 * Why a state check failed.
 *
 * @since 0.1.0
 * @category models
 */
export type StateMismatchReason = "Missing" | "Mismatch" | "Malformed" | "BadSignature" | "Expired" | "Binding"

/**
 * The callback's `state` is missing, differs from the expected one, or fails verification
 * (tampered, expired, made for another app, or bound to another browser; or, with
 * `requireBinding`, bound to none: reason `Binding` too).
 *
 * @since 0.1.0
 * @category errors
 */
export class StateMismatch extends Schema.TaggedError<StateMismatch>("@wxauth/core/StateMismatch")(
  "StateMismatch",
  {
    reason: Schema.Literal("Missing", "Mismatch", "Malformed", "BadSignature", "Expired", "Binding")
  }
) {
  override get message(): string {
    return `The OAuth state check failed (${this.reason})`
  }
}

/**
 * No token is stored for this user: they must authorize (again).
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenNotFound extends Schema.TaggedError<TokenNotFound>("@wxauth/core/TokenNotFound")(
  "TokenNotFound",
  {
    appId: Schema.String,
    openid: Schema.String
  }
) {
  override get message(): string {
    return `No token is stored for openid ${this.openid} of app ${this.appId}: the user must authorize`
  }
}

/**
 * The token store failed: unreachable, timed out, refused, or a stored value that does not decode
 * or decrypt.
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenStoreError extends Schema.TaggedError<TokenStoreError>("@wxauth/core/TokenStoreError")(
  "TokenStoreError",
  {
    operation: Schema.String,
    description: Schema.String,
    cause: Schema.optional(Schema.Defect)
  }
) {
  override get message(): string {
    return `Token store ${this.operation} failed: ${this.description}`
  }
}

/**
 * A session store failed (the store cannot be reached or answers garbage), or refused an argument
 * (an id hash, id or session of the wrong shape: the description names it, never quotes it).
 *
 * @since 0.1.0
 * @category errors
 */
export class SessionStoreError extends Schema.TaggedError<SessionStoreError>("@wxauth/core/SessionStoreError")(
  "SessionStoreError",
  {
    operation: Schema.String,
    description: Schema.String,
    cause: Schema.optional(Schema.Defect)
  }
) {
  override get message(): string {
    return `Session store ${this.operation} failed: ${this.description}`
  }
}

/** An app token's lock key (`AppToken`'s). */
const appTokenLockPrefix = "app-token:"

/**
 * What a message says of a lock: the app id, never the rest of the key (an openid, a token's hash),
 * nor a key of another shape (a caller's own, which may hold anything).
 */
const lockOf = (key: unknown): string => {
  if (typeof key !== "string") return "a refresh lock"
  if (key.startsWith(appTokenLockPrefix)) {
    const appId = key.slice(appTokenLockPrefix.length)
    return /^[A-Za-z0-9_-]{1,64}$/.test(appId) ? `the app token lock of app ${appId}` : "an app token lock"
  }
  const colon = key.indexOf(":")
  const appId = colon > 0 ? key.slice(0, colon) : ""
  return /^[A-Za-z0-9_-]{1,64}$/.test(appId) ? `a user's refresh lock of app ${appId}` : "a refresh lock"
}

/**
 * A refresher waited too long for another worker's refresh of the same user. `key` is the lock's key
 * (core's are `<appId>:<openid>`); the message names only the app id (`a user's refresh lock of app
 * wx...`), never the openid: apps log messages.
 *
 * @since 0.1.0
 * @category errors
 */
export class RefreshLockTimeout extends Schema.TaggedError<RefreshLockTimeout>("@wxauth/core/RefreshLockTimeout")(
  "RefreshLockTimeout",
  {
    key: Schema.String,
    waitedMillis: Schema.Number,
    /** Why the lock could not be had, when it was not plain waiting (e.g. the lock's server was unreachable). */
    cause: Schema.optional(Schema.Defect)
  }
) {
  override get message(): string {
    return `Timed out after ${this.waitedMillis} ms waiting for ${lockOf(this.key)}`
  }
}

/**
 * Mini program user data could not be decrypted or failed its watermark check.
 *
 * @since 0.1.0
 * @category errors
 */
export class DecryptError extends Schema.TaggedError<DecryptError>("@wxauth/core/DecryptError")("DecryptError", {
  /**
   * `BadBase64`, `BadKey`, `BadIv`: an input's shape (checked before anything is decrypted).
   * `Undecryptable`: the data does not decrypt to a JSON object, one reason for every way it fails
   * (see `MiniProgramCrypto.decryptUserData`). `WatermarkMismatch`: a JSON object without this app's
   * watermark. `BadPadding` is no longer given for data and `BadJson` only for options that are not
   * an object (they told the decryption's failures apart: a padding oracle); both stay so that an
   * error serialized by an earlier version still decodes.
   */
  reason: Schema.Literal("BadBase64", "BadKey", "BadIv", "Undecryptable", "BadPadding", "BadJson", "WatermarkMismatch"),
  description: Schema.String
}) {
  override get message(): string {
    return `Cannot decrypt the mini program data (${this.reason}): ${this.description}`
  }
}

/**
 * An argument the caller passed is not acceptable (a state outside WeChat's alphabet, a redirect URI
 * that is not an absolute http(s) URL, an empty code, ...).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>("@wxauth/core/InvalidArgument")(
  "InvalidArgument",
  {
    argument: Schema.String,
    description: Schema.String
  }
) {
  override get message(): string {
    return `Invalid argument ${this.argument}: ${this.description}`
  }
}

/**
 * No app with this appid is in the `WeChatApps` registry: not in its list, or its resolver found
 * none. A caller's appid (from a URL, say) that is not one of yours; an app removed since a login
 * began.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownApp extends Schema.TaggedError<UnknownApp>("@wxauth/core/UnknownApp")("UnknownApp", {
  appId: Schema.String
}) {
  override get message(): string {
    return `No WeChat app ${this.appId} is configured`
  }
}

/**
 * Why `WeChatApps` could not resolve an app's configuration.
 *
 * - `Failed`: the resolver failed (its error's tag, if any, is in the description; the error itself
 *   is not kept, since it may quote a database row with the app's secret).
 * - `Timeout`: the resolver took longer than the registry's `resolveTimeout`.
 * - `Invalid`: the resolver answered something that is not a valid app configuration (the field
 *   is named, its value never), or an app with another appid.
 *
 * @since 0.1.0
 * @category models
 */
export type AppResolveErrorReason = "Failed" | "Timeout" | "Invalid"

/**
 * `WeChatApps` could not resolve an app's configuration (see `AppResolveErrorReason`). Not cached:
 * the next use of the app resolves it again.
 *
 * @since 0.1.0
 * @category errors
 */
export class AppResolveError extends Schema.TaggedError<AppResolveError>("@wxauth/core/AppResolveError")(
  "AppResolveError",
  {
    appId: Schema.String,
    reason: Schema.Literal("Failed", "Timeout", "Invalid"),
    description: Schema.String
  }
) {
  override get message(): string {
    return `Cannot resolve the configuration of WeChat app ${this.appId} (${this.reason}): ${this.description}`
  }
}

/**
 * Any error that carries a WeChat errcode.
 *
 * @since 0.1.0
 * @category models
 */
export type WeChatApiError =
  | InvalidCode
  | CodeUsed
  | CodeExpired
  | InvalidRefreshToken
  | RefreshTokenExpired
  | AccessTokenExpired
  | InvalidAccessToken
  | InvalidCredential
  | InvalidOpenId
  | InvalidAppId
  | InvalidAppSecret
  | IpNotWhitelisted
  | MissingParameter
  | ScopeUnauthorized
  | UserUnauthorized
  | SystemBusy
  | RateLimited
  | CodeBlocked
  | PlatformManagedApp
  | ComponentIpNotWhitelisted
  | ComponentTicketExpired
  | ComponentTicketInvalid
  | AuthorizerRefreshTokenInvalid
  | InvalidSignature
  | IpRiskControl
  | UnknownWeChatError

/**
 * What a call to a WeChat endpoint can fail with: WeChat's errcode, the transport, an answer that is
 * not what WeChat sends, an argument that could not be sent (wrong type, empty, too long), or, for
 * a third-party platform, no ticket to authenticate with yet.
 *
 * @since 0.1.0
 * @category models
 */
export type RequestFailure =
  | WeChatApiError
  | TransportError
  | MalformedResponse
  | InvalidArgument
  | ComponentTicketMissing

/**
 * Every error of `@wxauth/core`.
 *
 * @since 0.1.0
 * @category models
 */
export type WeChatError =
  | RequestFailure
  | ConsentDenied
  | StateMismatch
  | TokenNotFound
  | TokenStoreError
  | SessionStoreError
  | RefreshLockTimeout
  | DecryptError
  | InvalidArgument
  | SessionKeyNotFound
  | UnknownApp
  | AppResolveError
  | InvalidPush
  | PushTimeout
  | PushInProgress

type Fields = { readonly errcode: number; readonly errmsg: string; readonly endpoint?: string | undefined }

const byCode: Record<number, new(fields: Fields) => WeChatApiError> = {
  [-1]: SystemBusy,
  40001: InvalidCredential,
  40003: InvalidOpenId,
  40013: InvalidAppId,
  40014: InvalidAccessToken,
  40029: InvalidCode,
  40030: InvalidRefreshToken,
  40125: InvalidAppSecret,
  40163: CodeUsed,
  40164: IpNotWhitelisted,
  40226: CodeBlocked,
  61004: ComponentIpNotWhitelisted,
  61005: ComponentTicketExpired,
  61006: ComponentTicketInvalid,
  61023: AuthorizerRefreshTokenInvalid,
  61024: PlatformManagedApp,
  87009: InvalidSignature,
  89503: IpRiskControl,
  89506: IpRiskControl,
  89507: IpRiskControl,
  42001: AccessTokenExpired,
  42002: RefreshTokenExpired,
  42003: CodeExpired,
  45009: RateLimited,
  45011: RateLimited,
  48001: ScopeUnauthorized,
  50001: UserUnauthorized,
  50002: UserUnauthorized
}

/**
 * The tagged error for a WeChat errcode (41001-41009 are `MissingParameter`; unknown codes are
 * `UnknownWeChatError`, which keeps the code).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromErrcode = (errcode: number, errmsg: string, endpoint?: string): WeChatApiError => {
  // a JavaScript caller's wrong types: a code that is not a number is NaN, a message that is not a
  // string is empty
  if (typeof errcode !== "number") errcode = Number.NaN
  if (typeof errmsg !== "string") errmsg = ""
  const fields: Fields = typeof endpoint === "string" ? { errcode, errmsg, endpoint } : { errcode, errmsg }
  const Ctor = byCode[errcode]
  if (Ctor !== undefined) return new Ctor(fields)
  if (errcode >= 41001 && errcode <= 41009) return new MissingParameter(fields)
  return new UnknownWeChatError(fields)
}

// a JavaScript caller's value may throw when looked at (a revoked Proxy): it has no tag
const tagOf = (u: unknown): string | undefined =>
  guardOr(() => Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" ? u._tag : undefined, undefined)

/**
 * What a failure means for the caller, the one classification every policy refers to:
 *
 * - `transient`: WeChat was busy (-1) or the network failed; the same call may succeed in a moment
 *   (retried with backoff where the call is idempotent). A refresher that waited too long for
 *   another's lock is transient too.
 * - `throttled`: a quota is reached (45009 / 45011): retry later, never at once.
 * - `refreshable`: the access token is expired or rejected (42001, 40014, 40001): refresh it, then
 *   call again once.
 * - `reauthorize`: only a new consent (or mini-program login, or for a platform-managed app, its
 *   administrator authorizing the platform again) helps (a bad or expired code, a
 *   rejected refresh token, a scope the user's consent did not grant, a refused consent, no stored
 *   token, a stale or missing session key).
 * - `permanent`: anything else: a configuration error (among them a 48001 `ScopeUnauthorized` from
 *   any endpoint but `userinfo` and `auth`, such as `getuserphonenumber`: the app lacks the API's
 *   permission, and no login helps), a caller's mistake, a malformed answer, an unknown errcode.
 *   Retrying does not help.
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = "transient" | "throttled" | "refreshable" | "reauthorize" | "permanent"

const kinds: Readonly<Record<string, Kind>> = {
  SystemBusy: "transient",
  TransportError: "transient",
  RefreshLockTimeout: "transient",
  RateLimited: "throttled",
  AccessTokenExpired: "refreshable",
  InvalidAccessToken: "refreshable",
  InvalidCredential: "refreshable",
  InvalidCode: "reauthorize",
  CodeExpired: "reauthorize",
  InvalidRefreshToken: "reauthorize",
  RefreshTokenExpired: "reauthorize",
  ScopeUnauthorized: "reauthorize",
  ConsentDenied: "reauthorize",
  TokenNotFound: "reauthorize",
  SessionKeyNotFound: "reauthorize",
  // a stale session key: only a new wx.login() and code2Session help
  InvalidSignature: "reauthorize",
  // only the app's administrator authorizing the platform again helps
  AuthorizerRefreshTokenInvalid: "reauthorize"
}

/**
 * The endpoints that send an app secret (a platform's, for `api_component_token`): a 40001 from one
 * of them is that secret rejected (WeChat answers a wrong secret with 40001 or 40125), never a token
 * to refresh.
 */
const secretEndpoints: ReadonlySet<unknown> = new Set<Endpoint>([
  "access_token",
  "jscode2session",
  "stable_token",
  "token",
  "api_component_token"
])

/**
 * The {@link Kind} of any value: an error of this module by its tag (a `ScopeUnauthorized` by its
 * `endpoint` too: `reauthorize` from `userinfo`, `auth` or no endpoint named, `permanent` from any
 * other, such as `getuserphonenumber`, or when `local`; an `InvalidCredential` `permanent` from an
 * endpoint that sends the app secret, `access_token`, `jscode2session`, `stable_token`, `token`,
 * `api_component_token`, where it is a wrong secret, as 40125 is, else `refreshable`), anything
 * else `permanent`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const kindOf = (e: unknown): Kind => {
  const tag = tagOf(e)
  if (tag === "ScopeUnauthorized" && guardOr(() => isPermanentScope(e as ScopeUnauthorized), false)) {
    return "permanent"
  }
  if (tag === "InvalidCredential" && guardOr(() => secretEndpoints.has((e as InvalidCredential).endpoint), false)) {
    return "permanent"
  }
  return (tag !== undefined && Object.hasOwn(kinds, tag) ? kinds[tag] : undefined) ?? "permanent"
}

/**
 * True for `transient` failures (`SystemBusy`, `TransportError`, `RefreshLockTimeout`): the same
 * call may succeed in a moment. What the retry policy retries by default.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isTransient = (e: unknown): e is SystemBusy | TransportError | RefreshLockTimeout =>
  kindOf(e) === "transient"

/**
 * True for failures worth retrying later: `transient` and `throttled` (`SystemBusy`, `RateLimited`,
 * `TransportError`, `RefreshLockTimeout`).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryable = (e: unknown): e is SystemBusy | RateLimited | TransportError | RefreshLockTimeout => {
  const kind = kindOf(e)
  return kind === "transient" || kind === "throttled"
}

/**
 * True when the access token is expired or rejected (42001, 40014, 40001): refreshing it and calling
 * again once may succeed. Not a 40001 from an endpoint that sends the app secret: a wrong secret.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRefreshable = (e: unknown): e is AccessTokenExpired | InvalidAccessToken | InvalidCredential =>
  kindOf(e) === "refreshable"

/**
 * True when only a new authorization helps (kind `reauthorize`):
 *
 * - the OAuth errors (`InvalidCode`, `CodeExpired`, `InvalidRefreshToken`, `RefreshTokenExpired`,
 *   `ConsentDenied`, `TokenNotFound`, a user's `ScopeUnauthorized`): send the user through the
 *   authorize URL again (a mini program's `InvalidCode` or `CodeExpired`: a new `wx.login()`);
 * - a mini program's `SessionKeyNotFound` and `InvalidSignature`: a new `wx.login()` and
 *   `code2Session`;
 * - a platform's `AuthorizerRefreshTokenInvalid` (61023): the app's administrator authorizes the
 *   platform again.
 *
 * Not for a `ScopeUnauthorized` from an endpoint other than `userinfo` and `auth` (e.g.
 * `getuserphonenumber`, `jscode2session`) nor a `local` one: there the app lacks the permission, or
 * the login cannot give what was asked, and no login helps.
 *
 * @since 0.1.0
 * @category predicates
 */
export const requiresReauthorization = (
  e: unknown
): e is
  | InvalidCode
  | CodeExpired
  | InvalidRefreshToken
  | RefreshTokenExpired
  | UserScopeUnauthorized
  | ConsentDenied
  | TokenNotFound
  | SessionKeyNotFound
  | InvalidSignature
  | AuthorizerRefreshTokenInvalid => kindOf(e) === "reauthorize"

/**
 * A `ScopeUnauthorized` that a new consent helps (from `userinfo` or `auth`, or naming no endpoint;
 * not decided locally): what {@link requiresReauthorization} narrows a `ScopeUnauthorized` to. Not
 * every `ScopeUnauthorized` is one, so where the predicate is false (the rest of
 * `Effect.catchIf(requiresReauthorization, ...)`) a `ScopeUnauthorized` stays in the type.
 *
 * @since 0.2.0
 * @category models
 */
export type UserScopeUnauthorized = ScopeUnauthorized & {
  readonly endpoint?: "userinfo" | "auth" | undefined
  readonly local?: false | undefined
}

/**
 * True when a request certainly had no effect on WeChat's side, so even a single-use code may be
 * sent again: WeChat answered -1, or the request was never sent (refused, or failed while
 * connecting). After a timeout or a reset the code may be burnt.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isSafeToResend = (e: unknown): e is SystemBusy | TransportError => {
  const tag = tagOf(e)
  if (tag === "SystemBusy") return true
  if (tag !== "TransportError") return false
  const transport = e as TransportError
  return guardOr(() => transport.reason === "ConnectionRefused" || transport.phase === "connect", false)
}

/**
 * True for errors that carry a WeChat errcode.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isWeChatApiError = (e: unknown): e is WeChatApiError =>
  guardOr(() => Predicate.hasProperty(e, "errcode") && typeof e.errcode === "number", false) && tagOf(e) !== undefined
