/**
 * The raw WeChat endpoints, one typed Effect each, with no store and no policy: code -> token,
 * refresh, userinfo, auth and jscode2session. Bodies are decoded by content, whatever the content
 * type; an errcode becomes its tagged error; every request has a deadline; no span, error or log
 * line holds the query (where WeChat puts the app secret, codes and tokens).
 *
 * @since 0.1.0
 */
import type * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Crypto from "node:crypto"
import * as Answer from "./internal/answer.js"
import * as Arguments from "./internal/arguments.js"
import { ComponentConfig } from "./internal/component/config.js"
import * as Deadline from "./internal/deadline.js"
import { decodeUserInfo } from "./internal/decodeUserInfo.js"
import { executeWithLimits, proxyOf, type Reader, readerOf } from "./internal/httpClient.js"
import { tooLargeCode } from "./internal/httpClientCause.js"
import { bodyText } from "./internal/httpClientResponse.js"
import { type UserInfoThen, userInfoThen } from "./internal/oauth/endpoints.js"
import * as Policy from "./internal/policy.js"
import { noQuery, type Query, query } from "./internal/query.js"
import { retrying, retryingAfter } from "./internal/retrying.js"
import * as SessionKeyRule from "./internal/sessionKey.js"
import { accessTokenText } from "./internal/tokenSecret.js"
import * as TokenText from "./internal/tokenText.js"
import * as UserId from "./internal/userId.js"
import * as RetryPolicy from "./RetryPolicy.js"
import type * as UserInfo from "./UserInfo.js"
import * as WeChatConfig from "./WeChatConfig.js"
import * as WeChatError from "./WeChatError.js"
import * as WeChatHttpClient from "./WeChatHttpClient.js"

/**
 * A user id in WeChat's answers (`openid`, `unionid`): WeChat's are 28 characters of
 * `[A-Za-z0-9_-]`; with a margin, 1 to 128 printable ASCII characters without spaces or control
 * characters. Anything else (a 60,000-character id, a NUL, a newline) is a `MalformedResponse`: such
 * an id would become a session's identity, a store key and a log field.
 */
const WeChatUserId = Schema.String.pipe(Schema.maxLength(128), Schema.pattern(UserId.pattern))

/** True for a string `WeChatUserId` accepts. */
const isWeChatUserId = UserId.isWeChatUserId

/**
 * The answer of `/sns/oauth2/access_token` and `/sns/oauth2/refresh_token`, tokens `Redacted`.
 *
 * @since 0.1.0
 * @category models
 */
export const TokenResponse = Schema.Struct({
  /** 1 to 1024 characters, as every endpoint sends a token (a longer one is a `MalformedResponse`, never stored). */
  access_token: TokenText.RedactedToken,
  /** Seconds, an integer from 1 to 30 days: anything else (Infinity, negative, 1e300) is refused. */
  expires_in: Schema.Int.pipe(Schema.between(1, 2_592_000)),
  refresh_token: TokenText.RedactedToken,
  openid: WeChatUserId,
  /** At most 1024 characters. */
  scope: TokenText.Scope,
  unionid: Schema.optional(WeChatUserId),
  is_snapshotuser: Schema.optional(Schema.Int.pipe(Schema.between(0, 1)))
})

/**
 * @since 0.1.0
 * @category models
 */
export type TokenResponse = typeof TokenResponse.Type

/**
 * A session key in WeChat's answers (`jscode2session`, `resetusersessionkey`): WeChat's are base64 of
 * 16 bytes (24 characters); with a margin, 1 to 256 printable ASCII characters, what a
 * `SessionKeyStore` keeps. Anything else (60,000 characters, a newline) is a `MalformedResponse`,
 * not a session whose key the store refuses and every later call fails with.
 */
const SessionKey = Schema.Redacted(Schema.String.pipe(Schema.pattern(SessionKeyRule.pattern)))

/**
 * The answer of `/sns/jscode2session`: the session key is `Redacted`.
 *
 * @since 0.1.0
 * @category models
 */
export const SessionResponse = Schema.Struct({
  openid: WeChatUserId,
  /** 1 to 256 printable ASCII characters. */
  session_key: SessionKey,
  unionid: Schema.optional(WeChatUserId)
})

/**
 * @since 0.1.0
 * @category models
 */
export type SessionResponse = typeof SessionResponse.Type

/**
 * The answer of `/cgi-bin/stable_token` and `/cgi-bin/token`: the app access token, `Redacted`.
 *
 * @since 0.1.0
 * @category models
 */
export const AppTokenResponse = Schema.Struct({
  access_token: TokenText.RedactedToken,
  /** Seconds, an integer from 1 to a day. */
  expires_in: Schema.Int.pipe(Schema.between(1, 86_400))
})

/**
 * @since 0.1.0
 * @category models
 */
export type AppTokenResponse = typeof AppTokenResponse.Type

/**
 * A user's phone number, as `/wxa/business/getuserphonenumber` gives it (`phone_info`). Each field
 * must have a phone number's characters (an empty number, a NUL or a newline is a
 * `MalformedResponse`): apps often make the number an account's identity.
 *
 * @since 0.1.0
 * @category models
 */
export const PhoneInfo = Schema.Struct({
  /**
   * With the country code for numbers outside mainland China, e.g. `"13800138000"` or
   * `"+1 2025550123"`: a digit or `+` first, then digits, spaces, `-`, `(`, `)`, at most 64.
   */
  phoneNumber: Schema.String.pipe(Schema.pattern(/^[+0-9][0-9 ()+-]{0,63}$/)),
  /** Without the country code: 1 to 32 digits. */
  purePhoneNumber: Schema.String.pipe(Schema.pattern(/^[0-9]{1,32}$/)),
  /** 1 to 8 digits (WeChat may send it as a number). */
  countryCode: Schema.Union(Schema.String, Schema.NonNegativeInt).pipe(
    Schema.transform(Schema.String.pipe(Schema.pattern(/^[0-9]{1,8}$/)), {
      decode: (code) => String(code),
      encode: (code) => code,
      strict: true
    })
  ),
  watermark: Schema.Struct({ timestamp: Schema.Int, appid: Schema.String })
})

/**
 * @since 0.1.0
 * @category models
 */
export type PhoneInfo = typeof PhoneInfo.Type

const PhoneResponse = Schema.Struct({ phone_info: PhoneInfo })

/**
 * The answer of `/wxa/resetusersessionkey`: the user's new session key, `Redacted`.
 *
 * @since 0.1.0
 * @category models
 */
export const ResetSessionKeyResponse = Schema.Struct({
  openid: WeChatUserId,
  /** 1 to 256 printable ASCII characters. */
  session_key: SessionKey
})

/**
 * @since 0.1.0
 * @category models
 */
export type ResetSessionKeyResponse = typeof ResetSessionKeyResponse.Type

/**
 * The answer of `/cgi-bin/component/api_component_token`: the platform's component access token,
 * `Redacted`.
 *
 * @since 0.1.0
 * @category models
 */
export const ComponentTokenResponse = Schema.Struct({
  component_access_token: TokenText.RedactedToken,
  /** Seconds, an integer from 1 to a day. */
  expires_in: Schema.Int.pipe(Schema.between(1, 86_400))
})

/**
 * @since 0.1.0
 * @category models
 */
export type ComponentTokenResponse = typeof ComponentTokenResponse.Type

/**
 * The answer of `/cgi-bin/component/api_query_auth`: the authorized app, its access and refresh
 * tokens (`Redacted`) and the permission sets it granted the platform.
 *
 * @since 0.1.0
 * @category models
 */
export const QueryAuthResponse = Schema.Struct({
  authorization_info: Schema.Struct({
    authorizer_appid: Schema.NonEmptyString.pipe(Schema.maxLength(64), Schema.pattern(/^[A-Za-z0-9_-]+$/)),
    authorizer_access_token: TokenText.RedactedToken,
    expires_in: Schema.Int.pipe(Schema.between(1, 86_400)),
    authorizer_refresh_token: TokenText.RedactedToken,
    func_info: Schema.optionalWith(
      Schema.Array(Schema.Struct({ funcscope_category: Schema.Struct({ id: Schema.Int }) })).pipe(
        Schema.maxItems(512)
      ),
      { default: () => [] }
    )
  })
})

/**
 * @since 0.1.0
 * @category models
 */
export type QueryAuthResponse = typeof QueryAuthResponse.Type

/**
 * The answer of `/cgi-bin/component/api_authorizer_token`: a new access token of the authorized app
 * and its refresh token (WeChat may hand back the same one), `Redacted`.
 *
 * @since 0.1.0
 * @category models
 */
export const AuthorizerTokenResponse = Schema.Struct({
  authorizer_access_token: TokenText.RedactedToken,
  expires_in: Schema.Int.pipe(Schema.between(1, 86_400)),
  authorizer_refresh_token: Schema.optional(TokenText.RedactedToken)
})

/**
 * @since 0.1.0
 * @category models
 */
export type AuthorizerTokenResponse = typeof AuthorizerTokenResponse.Type

/**
 * The raw endpoints.
 *
 * @since 0.1.0
 * @category models
 */
export interface WeChatApiShape {
  /** The app this client calls WeChat as. */
  readonly appId: string
  /** `GET /sns/oauth2/access_token`: exchanges a code (single-use, 5 minutes) for a token. */
  readonly accessToken: (code: string) => Effect.Effect<TokenResponse, WeChatError.RequestFailure>
  /** `GET /sns/oauth2/refresh_token`: a new access token; the refresh token's life is not extended. */
  readonly refreshToken: (
    refreshToken: Redacted.Redacted<string>
  ) => Effect.Effect<TokenResponse, WeChatError.RequestFailure>
  /** `GET /sns/userinfo` (needs `snsapi_userinfo` or `snsapi_login`). */
  readonly userInfo: (
    accessToken: Redacted.Redacted<string>,
    openid: string,
    lang?: UserInfo.Lang | undefined
  ) => Effect.Effect<UserInfo.UserInfo, WeChatError.RequestFailure>
  /** `GET /sns/auth`: succeeds when WeChat says the token is valid. */
  readonly auth: (
    accessToken: Redacted.Redacted<string>,
    openid: string
  ) => Effect.Effect<void, WeChatError.RequestFailure>
  /** `GET /sns/jscode2session`: a mini program's `wx.login()` code for its session. */
  readonly code2Session: (jsCode: string) => Effect.Effect<SessionResponse, WeChatError.RequestFailure>
  /**
   * `POST /cgi-bin/stable_token`: the app access token. Normal mode returns the current token while
   * it is valid; `forceRefresh` invalidates it (20 a day; use only for a token WeChat rejected).
   */
  readonly stableToken: (
    options?: { readonly forceRefresh?: boolean | undefined }
  ) => Effect.Effect<AppTokenResponse, WeChatError.RequestFailure>
  /** `GET /cgi-bin/token`: a new app access token on each call, under a daily quota. */
  readonly token: () => Effect.Effect<AppTokenResponse, WeChatError.RequestFailure>
  /** `POST /wxa/business/getuserphonenumber`: a `getPhoneNumber` code for the user's phone number (watermark checked). */
  readonly getUserPhoneNumber: (
    appToken: Redacted.Redacted<string>,
    code: string
  ) => Effect.Effect<PhoneInfo, WeChatError.RequestFailure>
  /**
   * `GET /wxa/checksession`: succeeds when the session key is current, `InvalidSignature` (87009) when
   * stale; an answer that is not WeChat's `{"errcode":0,"errmsg":"ok"}` (or `{"errcode":0}`) is a
   * `MalformedResponse`.
   */
  readonly checkSession: (
    appToken: Redacted.Redacted<string>,
    openid: string,
    sessionKey: Redacted.Redacted<string>
  ) => Effect.Effect<void, WeChatError.RequestFailure>
  /** `GET /wxa/resetusersessionkey`: a new session key for the user (the current one must be valid). */
  readonly resetUserSessionKey: (
    appToken: Redacted.Redacted<string>,
    openid: string,
    sessionKey: Redacted.Redacted<string>
  ) => Effect.Effect<ResetSessionKeyResponse, WeChatError.RequestFailure>
}

/**
 * The raw endpoints of a third-party platform (component): its own token and the authorizer tokens
 * (`cgi-bin/component/*`), and the login endpoints it calls on behalf of an authorized app (`sns`
 * component variants). Each takes the component access token it sends; none stores anything.
 *
 * @since 0.1.0
 * @category models
 */
export interface ComponentApiShape {
  readonly componentAppId: string
  /** `POST /cgi-bin/component/api_component_token`: the component access token, for the pushed ticket. */
  readonly componentToken: (
    ticket: Redacted.Redacted<string>
  ) => Effect.Effect<ComponentTokenResponse, WeChatError.RequestFailure>
  /** `POST /cgi-bin/component/api_query_auth`: an authorization code (single-use) for the authorizer's tokens. */
  readonly queryAuth: (
    componentToken: Redacted.Redacted<string>,
    authorizationCode: string
  ) => Effect.Effect<QueryAuthResponse, WeChatError.RequestFailure>
  /** `POST /cgi-bin/component/api_authorizer_token`: a new access token of an authorized app. */
  readonly authorizerToken: (
    componentToken: Redacted.Redacted<string>,
    authorizerAppId: string,
    authorizerRefreshToken: Redacted.Redacted<string>
  ) => Effect.Effect<AuthorizerTokenResponse, WeChatError.RequestFailure>
  /** `GET /sns/oauth2/component/access_token`: a user's code (single-use) for a token of the authorized app. */
  readonly accessToken: (
    componentToken: Redacted.Redacted<string>,
    appId: string,
    code: string
  ) => Effect.Effect<TokenResponse, WeChatError.RequestFailure>
  /** `GET /sns/oauth2/component/refresh_token`: a new user access token of the authorized app. */
  readonly refreshToken: (
    componentToken: Redacted.Redacted<string>,
    appId: string,
    refreshToken: Redacted.Redacted<string>
  ) => Effect.Effect<TokenResponse, WeChatError.RequestFailure>
  /** `GET /sns/component/jscode2session`: a `wx.login()` code of the authorized mini program for the session. */
  readonly code2Session: (
    componentToken: Redacted.Redacted<string>,
    appId: string,
    jsCode: string
  ) => Effect.Effect<SessionResponse, WeChatError.RequestFailure>
}

/**
 * The signature `checksession` and `resetusersessionkey` take: lowercase hex HMAC-SHA256 keyed by
 * the session key's text exactly as WeChat returned it (its UTF-8 bytes, not base64-decoded), over
 * the empty string.
 *
 * @since 0.1.0
 * @category utils
 */
export const sessionSignature = (sessionKey: Redacted.Redacted<string>): string => {
  const key = Arguments.redactedText(sessionKey)
  // anything but a Redacted string (a JavaScript caller's mistake) signs as nothing WeChat accepts
  return key !== undefined
    ? Crypto.createHmac("sha256", Buffer.from(key, "utf8")).update("").digest("hex")
    : ""
}

/**
 * @since 0.1.0
 * @category tags
 */
export class WeChatApi extends Context.Tag("@wxauth/core/WeChatApi")<WeChatApi, WeChatApiShape>() {}

/**
 * Requests made to WeChat, by `endpoint`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const requestsTotal = Metric.counter("wxauth_requests_total", {
  description: "Requests made to WeChat, by endpoint",
  incremental: true
})

/**
 * Failed requests to WeChat, by `endpoint` and error `tag`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const errorsTotal = Metric.counter("wxauth_errors_total", {
  description: "Failed requests to WeChat, by endpoint and error tag",
  incremental: true
})

const paths: Record<WeChatError.Endpoint, string> = {
  access_token: "/sns/oauth2/access_token",
  refresh_token: "/sns/oauth2/refresh_token",
  userinfo: "/sns/userinfo",
  auth: "/sns/auth",
  jscode2session: "/sns/jscode2session",
  stable_token: "/cgi-bin/stable_token",
  token: "/cgi-bin/token",
  getuserphonenumber: "/wxa/business/getuserphonenumber",
  checksession: "/wxa/checksession",
  resetusersessionkey: "/wxa/resetusersessionkey",
  api_component_token: "/cgi-bin/component/api_component_token",
  api_query_auth: "/cgi-bin/component/api_query_auth",
  api_authorizer_token: "/cgi-bin/component/api_authorizer_token",
  component_access_token: "/sns/oauth2/component/access_token",
  component_refresh_token: "/sns/oauth2/component/refresh_token",
  component_jscode2session: "/sns/component/jscode2session"
}

const posted: ReadonlySet<WeChatError.Endpoint> = new Set([
  "stable_token",
  "getuserphonenumber",
  "api_component_token",
  "api_query_auth",
  "api_authorizer_token"
])

type Decode<A> = (u: unknown) => Either.Either<A, ParseResult.ParseError | string>

/**
 * The fields of a decoded success answer that become an identity (an openid, a unionid, a scope, an
 * authorizer's appid: store keys, sessions, log fields): refused when one holds a run of the
 * service's secrets or of a value the request sent (see `Answer.holdsRun`). Only for the rare calls
 * (code exchanges, refreshes); `userinfo`'s openid must be the one asked for.
 */
type Identity<A> = (answer: A) => ReadonlyArray<string | undefined>

const tokenIdentity: Identity<TokenResponse> = (answer) => [answer.openid, answer.unionid, answer.scope]
const sessionIdentity: Identity<SessionResponse> = (answer) => [answer.openid, answer.unionid]

/**
 * The answer of the endpoints that only say yes (`sns/auth`, `wxa/checksession`): WeChat's own
 * "valid" is `{"errcode":0,"errmsg":"ok"}`; `checksession`'s is documented as `{"errcode":0}` too
 * (`bare`). Anything else with errcode 0 (a mangled errmsg, another endpoint's answer from a proxy
 * that mixes them up) is not a yes: a check never fails open.
 */
const weChatYes = (bare: boolean): Decode<void> => {
  const expected = bare ?
    "not WeChat's {\"errcode\":0} or {\"errcode\":0,\"errmsg\":\"ok\"}" :
    "not WeChat's {\"errcode\":0,\"errmsg\":\"ok\"}"
  return (body) => {
    const answer = body as { errcode?: unknown; errmsg?: unknown }
    if (answer.errcode !== 0) return Either.left(expected)
    const keys = Object.keys(answer).length
    return keys === 2 && answer.errmsg === "ok" || bare && keys === 1
      ? Either.right(undefined)
      : Either.left(expected)
  }
}

/**
 * What one call's answer is read with: the values to scrub from an errmsg, the openid asked about,
 * and what a failure resumes the fiber with instead of failing it (see {@link EndpointCall}).
 */
interface Call {
  readonly secrets: ReadonlyArray<string>
  readonly openid: string | undefined
  readonly orElse: ((error: WeChatError.RequestFailure) => Effect.Effect<any, any>) | undefined
}

/** One endpoint's call: the query, the values to scrub from an errmsg, a JSON body, the openid asked about. */
interface EndpointCall<A> {
  (
    query: Query,
    secrets: ReadonlyArray<string>,
    body?: unknown,
    openid?: string
  ): Effect.Effect<A, WeChatError.RequestFailure>
  /**
   * With core's lean client only: the same call, whose failure (counted as any) resumes the waiting
   * fiber with `orElse`'s effect, in the step that reads the answer: no catch frame on the way to a
   * success.
   */
  readonly orElse:
    | (<E>(
      query: Query,
      secrets: ReadonlyArray<string>,
      body: unknown,
      openid: string | undefined,
      orElse: (error: WeChatError.RequestFailure) => Effect.Effect<A, E>
    ) => Effect.Effect<A, E>)
    | undefined
}

/** What an endpoint call needs to know: who calls, where, with which limits. */
interface CallerSettings {
  /** The app calling (a span attribute). */
  readonly appId: string
  readonly apiBaseUrl: string
  readonly timeout: Duration.Duration
  readonly maxResponseBytes: number
  readonly spans: boolean
  /**
   * The long-lived secrets of the service, scrubbed from every `errmsg` besides the values a call
   * sends: the app secret (direct mode) or the component app secret (a platform). Each is sent to
   * WeChat by some endpoint, so a proxy or a hostile "WeChat" that mixes answers up can quote it
   * in the answer of an endpoint that did not send it.
   */
  readonly secrets: ReadonlyArray<string>
}

/**
 * Another `HttpClient` that dies (a thrown error; `Effect.promise` around a `fetch` that rejects) may
 * say the request's URL, query included, where WeChat wants the secret, the code and the tokens: its
 * defect is turned into a failure, which the caller maps to a `TransportError` with a cleaned copy,
 * as for the client's failures. Interruption is left as it is.
 */
const diesAsFailure = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, unknown, R> =>
  Effect.catchAllDefect(effect, Effect.fail)

/**
 * The secrets of the proxies the client sends through: the context's `WeChatHttpClient.ProxyUrl`
 * (with a client derived from core's, or another one), and the proxy of core's client as built. A
 * value that is not a `Redacted` string (a JavaScript caller's) is read guarded; none is quoted. A
 * URL over 2048 characters gives none (`Answer.proxyCredentialsOf`): a real proxy URL is short, and
 * refusing it here would put a new error on every call.
 */
const proxyCredentials = (
  provided: Option.Option<Redacted.Redacted<string>>,
  built: Redacted.Redacted<string> | undefined
): ReadonlyArray<string> => {
  const urls = new Set<string>()
  for (const proxy of [Option.getOrUndefined(provided), built]) {
    const url = Arguments.guardOr(
      () => Redacted.isRedacted(proxy) ? Redacted.value(proxy) as unknown : proxy as unknown,
      undefined
    )
    if (typeof url === "string") urls.add(url)
  }
  const secrets: Array<string> = []
  for (const url of urls) secrets.push(...Answer.proxyCredentialsOf(url))
  return [...new Set(secrets)]
}

/**
 * The one way an endpoint is called, for the `HttpClient` in context: the request (GET, or POST with
 * a JSON body), the deadline and size cap, the answer read as untrusted (errcode to its tagged
 * error, errmsg scrubbed of the service's secrets and of the values sent, shape checked by
 * `decode`), metrics, and a span without the query.
 */
const makeCaller = (settings: CallerSettings) =>
  Effect.gen(function*() {
    const injected = yield* HttpClient.HttpClient
    const timeoutMillis = Duration.toMillis(settings.timeout)
    const maxBytes = settings.maxResponseBytes
    const lean = Option.isSome(yield* Effect.serviceOption(WeChatHttpClient.EnforcesRequestLimits))
    const client = lean ? injected : HttpClient.withTracerDisabledWhen(injected, () => true)
    // core's own lean client, as built: it reads the answer in the same step as the request
    const sendAndRead = lean ? readerOf(client) : undefined
    const limits: WeChatHttpClient.RequestLimits = { timeoutMillis, maxResponseBytes: maxBytes }
    const base = settings.apiBaseUrl
    const serverAddress = new URL(base).host
    const spans = settings.spans
    // and the credentials of the client's proxy: a proxy (or what it forwards to) may echo them
    const configured = settings.secrets.concat(proxyCredentials(
      yield* Effect.serviceOption(WeChatHttpClient.ProxyUrl),
      lean ? proxyOf(client) : undefined
    ))
    // the forms of the service's secrets' runs, once: an identity field is matched against them and a
    // call's values. Not the proxy's credentials (for an errmsg only): a proxy user `userinfo` would
    // refuse scope `snsapi_userinfo`, and a proxy could forge any answer anyway
    const configuredForms = Answer.runFormsOf(settings.secrets)

    return <A>(endpoint: WeChatError.Endpoint, decode: Decode<A>, identity?: Identity<A>): EndpointCall<A> => {
      const path = paths[endpoint]
      const prefix = `${base}${path}?`
      // built once: each call only swaps the URL (and, for a POST, the JSON body)
      const method = posted.has(endpoint) ? "POST" : "GET"
      const baseRequest = method === "POST"
        ? HttpClientRequest.post(prefix, { acceptJson: true })
        : HttpClientRequest.get(prefix, { acceptJson: true })
      // where the lean client's reader sends it: the URL parsed once (it never holds the query)
      const parsedPrefix = new URL(prefix)
      const origin = parsedPrefix.origin
      const pathname = parsedPrefix.pathname
      const endpointTag = [MetricLabel.make("endpoint", endpoint)]
      const errorTags = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
      const errorTagsOf = (tag: string) => {
        let labels = errorTags.get(tag)
        if (labels === undefined) {
          labels = [...endpointTag, MetricLabel.make("tag", tag)]
          errorTags.set(tag, labels)
        }
        return labels
      }
      const spanOptions = {
        kind: "client",
        captureStackTrace: false,
        attributes: {
          "http.request.method": method,
          "server.address": serverAddress,
          "url.path": path,
          "url.full": `${base}${path}`,
          "wechat.endpoint": endpoint,
          "wechat.app_id": settings.appId
        }
      } as const
      const malformed = (description: string) => new WeChatError.MalformedResponse({ endpoint, description })
      const tooLarge = () => malformed(`the answer is larger than ${maxBytes} bytes`)
      const transportError = (error: unknown): WeChatError.TransportError | WeChatError.MalformedResponse =>
        // a cleaned copy: the RequestError itself serialises the URL, query included
        fromTransportCause(WeChatHttpClient.toTransportCause(error))
      const fromTransportCause = (
        cause: WeChatHttpClient.TransportCause
      ): WeChatError.TransportError | WeChatError.MalformedResponse => {
        if (cause.code === tooLargeCode) return tooLarge()
        return new WeChatError.TransportError({
          endpoint,
          reason: cause.kind,
          phase: cause.phase,
          description: cause.message,
          cause
        })
      }
      const timeoutError = () =>
        new WeChatError.TransportError({
          endpoint,
          reason: "Timeout",
          description: `no answer within ${timeoutMillis} ms`
        })
      const onError = (error: WeChatError.RequestFailure) =>
        Effect.sync(() => errorsTotal.unsafeUpdate(1, errorTagsOf(error._tag)))
      const bounded = (effect: Effect.Effect<A, WeChatError.RequestFailure>) =>
        // the lean client enforces the limits itself: they go with the request (see `call`)
        // (in a fiber of its own, so the deadline holds from an uninterruptible caller too)
        lean ? effect : Deadline.within(effect, settings.timeout, timeoutError)
      const spanName = `WeChatApi.${endpoint}`
      /** An answer's text, read as untrusted: its errcode, its shape, the user it is about. */
      const decodeText = (
        text: string,
        secrets: ReadonlyArray<string>,
        openid: string | undefined
      ): Either.Either<A, WeChatError.RequestFailure> => {
        let body: unknown
        try {
          body = JSON.parse(text)
        } catch {
          return Either.left(malformed("the body is not JSON"))
        }
        if (typeof body !== "object" || body === null || Array.isArray(body)) {
          return Either.left(malformed("the body is not a JSON object"))
        }
        const errcode = (body as { errcode?: unknown }).errcode
        if (errcode !== undefined && errcode !== 0) {
          if (typeof errcode !== "number" || !Number.isSafeInteger(errcode)) {
            return Either.left(malformed("errcode is not an integer"))
          }
          const errmsg = Answer.scrubErrmsg(
            (body as { errmsg?: unknown }).errmsg,
            secrets.length === 0 ? configured : configured.concat(secrets)
          )
          return Either.left(WeChatError.fromErrcode(errcode, errmsg, endpoint))
        }
        const decoded = decode(body)
        if (Either.isLeft(decoded)) {
          return Either.left(malformed(
            typeof decoded.left === "string" ? decoded.left : Answer.describeParseIssue(decoded.left.issue)
          ))
        }
        // an answer about a user must be about the user asked for
        if (openid !== undefined && (decoded.right as { readonly openid?: unknown }).openid !== openid) {
          return Either.left(malformed("the answer is for another openid"))
        }
        // an identity that quotes a secret or what was sent (an echo) would become a store key, a session
        return identity !== undefined && Answer.holdsRun(identity(decoded.right), configuredForms, secrets)
          ? Either.left(malformed("an id or scope in the answer holds a secret or a value the request sent"))
          : decoded as Either.Either<A, never>
      }
      const httpStatus = (status: number) =>
        new WeChatError.TransportError({
          endpoint,
          reason: "HttpStatus",
          status,
          description: `WeChat answered HTTP ${status}`
        })
      const redirectFollowed = () =>
        new WeChatError.TransportError({
          endpoint,
          reason: "HttpStatus",
          description: "WeChat answered with a redirect, which the HttpClient followed: the answer is another URL's"
        })
      const counted = <E extends WeChatError.RequestFailure>(error: E): E => {
        errorsTotal.unsafeUpdate(1, errorTagsOf(error._tag))
        return error
      }
      // the whole answer, as the lean client hands it over: status, then the body as untrusted text
      // (errors counted here: no step after it)
      const failed = (error: WeChatError.RequestFailure, call: Call): Effect.Effect<A, any> => {
        counted(error)
        return call.orElse === undefined ? Effect.fail(error) : call.orElse(error)
      }
      const reader: Reader<A, any, Call> = {
        onBody: (status, body, call) => {
          requestsTotal.unsafeUpdate(1, endpointTag)
          if (status < 200 || status >= 300) return failed(httpStatus(status), call)
          const answer = decodeText(bodyText(body), call.secrets, call.openid)
          return Either.isRight(answer) ? Effect.succeed(answer.right) : failed(answer.left, call)
        },
        onTransport: (cause, call) => failed(fromTransportCause(cause), call)
      }
      const send = (
        query: Query,
        secrets: ReadonlyArray<string>,
        body: unknown,
        openid: string | undefined,
        orElse: ((error: WeChatError.RequestFailure) => Effect.Effect<A, any>) | undefined
      ): Effect.Effect<A, any> => {
        if (sendAndRead !== undefined) {
          // no request object: the path as sent, the JSON body as bytes
          const posted = body === undefined ? undefined : HttpClientRequest.bodyUnsafeJson(baseRequest, body)
          const call = sendAndRead(
            {
              origin,
              path: query === "" ? pathname : `${pathname}?${query}`,
              method,
              headers: (posted ?? baseRequest).headers,
              body: posted === undefined ? null : (posted.body as HttpBody.Uint8Array).body
            },
            limits,
            reader,
            { secrets, openid, orElse }
          )
          return spans ? Effect.withSpan(call, spanName, spanOptions) : call
        }
        const request = body === undefined
          ? HttpClientRequest.setUrl(baseRequest, prefix + query)
          : HttpClientRequest.bodyUnsafeJson(HttpClientRequest.setUrl(baseRequest, prefix + query), body)
        const call = Effect.mapError(
          diesAsFailure(lean ? executeWithLimits(client, request, limits) : client.execute(request)),
          transportError
        ).pipe(
          Effect.flatMap((response) => {
            requestsTotal.unsafeUpdate(1, endpointTag)
            // a followed redirect's answer is another URL's (fetch follows unless told not to): refused
            const redirected = !lean && Answer.followedRedirect(response)
            if (response.status < 200 || response.status >= 300 || redirected) {
              const failure = Effect.fail(redirected ? redirectFollowed() : httpStatus(response.status))
              // another client's connection goes back to its pool only once the body is read
              return lean
                ? failure
                : Effect.zipRight(
                  Effect.ignore(diesAsFailure(Answer.readCapped(response, maxBytes, tooLarge))),
                  failure
                )
            }
            const text = lean
              ? Effect.mapError(diesAsFailure(response.text), transportError)
              : Effect.mapError(
                diesAsFailure(Answer.readCapped(response, maxBytes, tooLarge)),
                (error) => error instanceof WeChatError.MalformedResponse ? error : transportError(error)
              )
            return Effect.flatMap(text, (text) => decodeText(text, secrets, openid))
          })
        )
        const tapped = Effect.tapError(bounded(call), onError)
        const recovered = orElse === undefined ? tapped : Effect.catchAll(tapped, orElse)
        return spans ? Effect.withSpan(recovered, spanName, spanOptions) : recovered
      }
      const call = (query: Query, secrets: ReadonlyArray<string>, body?: unknown, openid?: string) =>
        send(query, secrets, body, openid, undefined) as Effect.Effect<A, WeChatError.RequestFailure>
      return Object.assign(call, {
        orElse: sendAndRead === undefined ? undefined : send as NonNullable<EndpointCall<A>["orElse"]>
      })
    }
  })

/**
 * Options of `makeWith`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  /**
   * One span per endpoint call (default true). `WeChatOAuth` turns it off for the endpoints it calls:
   * its own operation span covers them, and the hot path stays lean.
   */
  readonly spans?: boolean | undefined
  /**
   * Retry what is safe for each endpoint, as the policy says: the idempotent reads (`refreshToken`,
   * `userInfo`, `auth`) on `retryOn`, the code exchanges (`accessToken`, `code2Session`) only on
   * `exchangeRetryOn` (by default: WeChat said -1, or nothing was sent). Without a policy the
   * endpoints are raw: one request each.
   */
  readonly policy?: RetryPolicy.RetryPolicy | undefined
}

/**
 * Builds the endpoints for the `WeChatConfig` and `HttpClient` in context, retrying as `policy`
 * says when one is given. The lean `WeChatHttpClient` (its layer provides
 * `WeChatHttpClient.EnforcesRequestLimits`) enforces the deadline and the body limit in its
 * dispatcher; any other client gets an `Effect.timeout` around the whole call (the answer's body
 * included), a size-capped reader, and has its own request span turned off (it would record the
 * query); an answer such a client reached by following a redirect (`FetchHttpClient` does, unless
 * its `RequestInit` says `redirect: "manual"`) is a `TransportError`, never WeChat's answer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWith = (
  given?: MakeOptions
): Effect.Effect<WeChatApiShape, never, HttpClient.HttpClient | WeChatConfig.WeChatConfig> =>
  Effect.gen(function*() {
    const options = readMakeOptions(given)
    const config = yield* WeChatConfig.WeChatConfig
    const endpointCall = yield* makeCaller({
      appId: config.appId,
      apiBaseUrl: config.apiBaseUrl,
      timeout: config.timeout,
      maxResponseBytes: config.maxResponseBytes,
      spans: options?.spans ?? true,
      // the app secret: sent by access_token, jscode2session and the app token requests only
      secrets: [Redacted.value(config.appSecret)]
    })

    const decodeToken = Schema.decodeUnknownEither(TokenResponse)
    const accessTokenCall = endpointCall("access_token", decodeToken, tokenIdentity)
    const refreshTokenCall = endpointCall("refresh_token", decodeToken, tokenIdentity)
    const userInfoCall = endpointCall("userinfo", (body: unknown) =>
      Either.flatMap(
        decodeUserInfo(body),
        (user): Either.Either<UserInfo.UserInfo, string> =>
          isWeChatUserId(user.openid) && (user.unionid === undefined || isWeChatUserId(user.unionid))
            ? Either.right(user)
            : Either.left("the openid or unionid is not 1 to 128 printable ASCII characters")
      ))
    const authCall = endpointCall("auth", weChatYes(false))
    const code2SessionCall = endpointCall(
      "jscode2session",
      Schema.decodeUnknownEither(SessionResponse),
      sessionIdentity
    )
    const decodeAppToken = Schema.decodeUnknownEither(AppTokenResponse)
    const stableTokenCall = endpointCall("stable_token", decodeAppToken)
    const tokenCall = endpointCall("token", decodeAppToken)
    const decodePhone = Schema.decodeUnknownEither(PhoneResponse)
    const phoneCall = endpointCall("getuserphonenumber", (body: unknown) =>
      Either.flatMap(
        decodePhone(body),
        (answer): Either.Either<PhoneInfo, string> =>
          answer.phone_info.watermark.appid === config.appId
            ? Either.right(answer.phone_info)
            : Either.left("the phone number's watermark names another app")
      ))
    // 87009 (a stale key) is an error; a yes is WeChat's own
    const checkSessionCall = endpointCall("checksession", weChatYes(true))
    const resetCall = endpointCall("resetusersessionkey", Schema.decodeUnknownEither(ResetSessionKeyResponse))
    const secret = Redacted.value(config.appSecret)
    const sessionQuery = (appToken: unknown, openid: unknown, sessionKey: unknown) => {
      const token = redactedText(appToken)
      if (token === undefined) return invalidArgument("appToken", "must be a Redacted string")
      const key = redactedText(sessionKey)
      if (key === undefined) return invalidArgument("sessionKey", "must be a Redacted string")
      const problem = checkString("openid", openid, 128)
      if (problem !== undefined) return problem
      const signature = sessionSignature(sessionKey as Redacted.Redacted<string>)
      return {
        query: query`access_token=${token}&openid=${openid as string}&signature=${signature}&sig_method=hmac_sha256`,
        // the signature stands for the session key here (with the app token it resets the user's
        // key): scrubbed from an echoed errmsg like the key itself
        secrets: [token, key, signature]
      }
    }
    const raw = WeChatApi.of({
      appId: config.appId,
      stableToken: (options) =>
        Effect.suspend(() =>
          stableTokenCall(noQuery, [secret], {
            grant_type: "client_credential",
            appid: config.appId,
            secret,
            force_refresh: isForced(options)
          })
        ),
      token: () =>
        Effect.suspend(() =>
          tokenCall(query`grant_type=client_credential&appid=${config.appId}&secret=${secret}`, [secret])
        ),
      getUserPhoneNumber: (appToken, code) =>
        Effect.suspend(() => {
          const token = redactedText(appToken)
          if (token === undefined) return invalidArgument("appToken", "must be a Redacted string")
          return checkString("code", code, 512) ?? phoneCall(query`access_token=${token}`, [token, code], { code })
        }),
      checkSession: (appToken, openid, sessionKey) =>
        Effect.suspend(() => {
          const built = sessionQuery(appToken, openid, sessionKey)
          return Effect.isEffect(built) ? built : checkSessionCall(built.query, built.secrets)
        }),
      resetUserSessionKey: (appToken, openid, sessionKey) =>
        Effect.suspend(() => {
          const built = sessionQuery(appToken, openid, sessionKey)
          return Effect.isEffect(built)
            ? built
            : resetCall(built.query, built.secrets, undefined, openid)
        }),
      accessToken: (code) =>
        Effect.suspend(() =>
          checkString("code", code, 512) ??
            accessTokenCall(
              query`appid=${config.appId}&secret=${secret}&code=${code}&grant_type=authorization_code`,
              [secret, code]
            )
        ),
      refreshToken: (refreshToken) =>
        Effect.suspend(() => {
          const value = redactedText(refreshToken)
          return value === undefined
            ? invalidArgument("refreshToken", "must be a Redacted string")
            : refreshTokenCall(
              query`appid=${config.appId}&grant_type=refresh_token&refresh_token=${value}`,
              [value]
            )
        }),
      userInfo: (accessToken, openid, lang = "zh_CN") =>
        Effect.suspend(() => {
          const value = redactedText(accessToken)
          if (value === undefined) return invalidArgument("accessToken", "must be a Redacted string")
          return checkString("openid", openid, 128) ?? checkLang(lang) ??
            userInfoCall(userInfoQuery(value, openid, lang), [value], undefined, openid)
        }),
      auth: (accessToken, openid) =>
        Effect.suspend(() => {
          const value = redactedText(accessToken)
          if (value === undefined) return invalidArgument("accessToken", "must be a Redacted string")
          return checkString("openid", openid, 128) ??
            authCall(query`access_token=${value}&openid=${openid}`, [value])
        }),
      code2Session: (jsCode) =>
        Effect.suspend(() =>
          checkString("jsCode", jsCode, 512) ??
            code2SessionCall(
              query`appid=${config.appId}&secret=${secret}&js_code=${jsCode}&grant_type=authorization_code`,
              [secret, jsCode]
            )
        )
    })
    // a policy not built by RetryPolicy.make gets predicates that never throw into a defect
    const policy = options?.policy === undefined ? undefined : Policy.total(options.policy)
    if (policy === undefined) return raw
    const api = withPolicy(raw, policy)
    const userInfoOrElse = userInfoCall.orElse
    if (userInfoOrElse !== undefined) {
      // `userInfo` as the policy runs it, for a caller that goes on from its failure itself (see
      // `Endpoints.userInfoThen`): the first attempt's failure resumes with the policy's retries
      // (as `retrying` makes them), then with the caller's `orElse`
      const after = retryingAfter("userinfo", policy.retryOn, policy.retrySchedule)
      const then: UserInfoThen = (token, lang, orElse) => {
        // what `userInfo(token.accessToken, token.openid, lang)` checks, on the same values
        const value = accessTokenText(token)
        const openid = token.openid
        if (
          !TokenText.isTokenText(value) ||
          checkString("openid", openid, 128) !== undefined || checkLang(lang) !== undefined
        ) {
          return undefined // anything the call would refuse: the caller takes its whole path
        }
        return userInfoOrElse(
          userInfoQuery(value, openid, lang),
          [value],
          undefined,
          openid,
          (first) =>
            orElse(
              policy.retryOn(first)
                ? after(raw.userInfo(token.accessToken, openid, lang), first)
                : Effect.fail(first)
            )
        )
      }
      Object.defineProperty(api, userInfoThen, { value: then })
    }
    return api
  })

const userInfoQuery = (accessToken: string, openid: string, lang: string): Query =>
  query`access_token=${accessToken}&openid=${openid}&lang=${lang}`

/** The endpoints of `api`, each retrying what is safe for it as `policy` says. */
const withPolicy = (api: WeChatApiShape, policy: RetryPolicy.RetryPolicy): WeChatApiShape => {
  const exchange = (endpoint: WeChatError.Endpoint) =>
    retrying(endpoint, policy.exchangeRetryOn, policy.exchangeRetrySchedule)
  const read = (endpoint: WeChatError.Endpoint) => retrying(endpoint, policy.retryOn, policy.retrySchedule)
  const accessToken = exchange("access_token")
  const code2Session = exchange("jscode2session")
  const refreshToken = read("refresh_token")
  const userInfo = read("userinfo")
  const auth = read("auth")
  // an app token request has no effect to repeat (normal mode returns the current token); a forced
  // one is sent once: a retry could use up another of the 20 forces a day
  const stableToken = read("stable_token")
  const token = exchange("token")
  // a phone code is single-use, like an authorization code
  const phone = exchange("getuserphonenumber")
  const checkSession = read("checksession")
  const reset = exchange("resetusersessionkey")
  return WeChatApi.of({
    appId: api.appId,
    stableToken: (options) => isForced(options) ? api.stableToken(options) : stableToken(api.stableToken(options)),
    token: () => token(api.token()),
    getUserPhoneNumber: (appToken, code) => phone(api.getUserPhoneNumber(appToken, code)),
    checkSession: (appToken, openid, sessionKey) => checkSession(api.checkSession(appToken, openid, sessionKey)),
    resetUserSessionKey: (appToken, openid, sessionKey) => reset(api.resetUserSessionKey(appToken, openid, sessionKey)),
    accessToken: (code) => accessToken(api.accessToken(code)),
    refreshToken: (token) => refreshToken(api.refreshToken(token)),
    userInfo: (token, openid, lang) => userInfo(api.userInfo(token, openid, lang)),
    auth: (token, openid) => auth(api.auth(token, openid)),
    code2Session: (jsCode) => code2Session(api.code2Session(jsCode))
  })
}

/** A caller's `MakeOptions`, read once, guarded: options that cannot be read (a revoked Proxy) are the defaults. */
const readMakeOptions = (options: unknown): MakeOptions | undefined =>
  Arguments.optionsOf(options, ["spans", "policy"]) as MakeOptions | undefined

/** `stableToken`'s `forceRefresh`, read guarded: options that cannot be read (a revoked Proxy) force nothing. */
const isForced = (options: unknown): boolean =>
  Arguments.guardOr(
    () =>
      typeof options === "object" && options !== null && (options as { forceRefresh?: unknown }).forceRefresh === true,
    false
  )

const invalidArgument = (argument: string, description: string) =>
  Effect.fail(new WeChatError.InvalidArgument({ argument, description }))

/** `undefined` when `value` is a non-empty string of at most `max` characters, else the failure. */
const checkString = (
  argument: string,
  value: unknown,
  max: number
): Effect.Effect<never, WeChatError.InvalidArgument> | undefined =>
  typeof value === "string" && value.length > 0 && value.length <= max
    ? undefined
    : invalidArgument(argument, `must be a non-empty string of at most ${max} characters`)

const langs: ReadonlySet<unknown> = new Set(["zh_CN", "zh_TW", "en"])

const checkLang = (lang: unknown): Effect.Effect<never, WeChatError.InvalidArgument> | undefined =>
  langs.has(lang) ? undefined : invalidArgument("lang", "must be zh_CN, zh_TW or en")

const redactedText = (value: unknown): string | undefined => {
  // never a throw: a Proxy or an object posing as Redacted is not a token
  const text = Arguments.redactedText(value)
  return TokenText.isTokenText(text) ? text : undefined
}

/**
 * Builds the endpoints, one span per call.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<WeChatApiShape, never, HttpClient.HttpClient | WeChatConfig.WeChatConfig> = makeWith()

/**
 * The endpoints as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<WeChatApi, never, HttpClient.HttpClient | WeChatConfig.WeChatConfig> = Layer.effect(
  WeChatApi,
  make
)

/**
 * The endpoints as a Layer, retrying as the default `RetryPolicy` (or the given one) says.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options?: {
  readonly policy?: RetryPolicy.RetryPolicy | undefined
}): Layer.Layer<WeChatApi, never, HttpClient.HttpClient | WeChatConfig.WeChatConfig> =>
  Layer.effect(
    WeChatApi,
    Effect.suspend(() =>
      makeWith({ policy: (readMakeOptions(options)?.policy as RetryPolicy.RetryPolicy) ?? RetryPolicy.defaultPolicy })
    )
  )

/**
 * Builds the third-party platform's endpoints for the component configuration (`Component.layer`
 * provides it) and the `HttpClient` in context, retrying as `policy` says when one is given: the
 * token requests and the user-token refresh on `retryOn`, the single-use codes (authorization,
 * login and mini-program codes) and the authorizer-token request only on `exchangeRetryOn`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeComponentWith = (
  given?: MakeOptions
): Effect.Effect<ComponentApiShape, never, HttpClient.HttpClient | ComponentConfig> =>
  Effect.gen(function*() {
    const options = readMakeOptions(given)
    const config = yield* ComponentConfig
    const endpointCall = yield* makeCaller({
      appId: config.componentAppId,
      apiBaseUrl: config.apiBaseUrl,
      timeout: config.timeout,
      maxResponseBytes: config.maxResponseBytes,
      spans: options?.spans ?? true,
      // the component app secret: sent by api_component_token only (the message token and the
      // EncodingAESKey are never sent to the API host; the verify ticket is sent with the secret,
      // per call, and gets nothing without it)
      secrets: [Redacted.value(config.componentAppSecret)]
    })
    const componentAppId = config.componentAppId
    const secret = Redacted.value(config.componentAppSecret)
    const componentTokenCall = endpointCall("api_component_token", Schema.decodeUnknownEither(ComponentTokenResponse))
    const queryAuthCall = endpointCall(
      "api_query_auth",
      Schema.decodeUnknownEither(QueryAuthResponse),
      (answer) => [answer.authorization_info.authorizer_appid]
    )
    const authorizerTokenCall = endpointCall(
      "api_authorizer_token",
      Schema.decodeUnknownEither(AuthorizerTokenResponse)
    )
    const decodeToken = Schema.decodeUnknownEither(TokenResponse)
    const accessTokenCall = endpointCall("component_access_token", decodeToken, tokenIdentity)
    const refreshTokenCall = endpointCall("component_refresh_token", decodeToken, tokenIdentity)
    const code2SessionCall = endpointCall(
      "component_jscode2session",
      Schema.decodeUnknownEither(SessionResponse),
      sessionIdentity
    )
    /** The component token as sent, or the failure naming the argument. */
    const withComponentToken = <A>(
      componentToken: unknown,
      f: (token: string) => Effect.Effect<A, WeChatError.RequestFailure>
    ): Effect.Effect<A, WeChatError.RequestFailure> => {
      const token = redactedText(componentToken)
      return token === undefined ? invalidArgument("componentToken", "must be a Redacted string") : f(token)
    }
    const raw: ComponentApiShape = {
      componentAppId,
      componentToken: (ticket) =>
        Effect.suspend(() => {
          const value = redactedText(ticket)
          return value === undefined
            ? invalidArgument("ticket", "must be a Redacted string")
            : componentTokenCall(noQuery, [secret, value], {
              component_appid: componentAppId,
              component_appsecret: secret,
              component_verify_ticket: value
            })
        }),
      queryAuth: (componentToken, authorizationCode) =>
        Effect.suspend(() =>
          withComponentToken(componentToken, (token) =>
            checkString("authorizationCode", authorizationCode, 512) ??
              queryAuthCall(query`component_access_token=${token}`, [token, authorizationCode], {
                component_appid: componentAppId,
                authorization_code: authorizationCode
              }))
        ),
      authorizerToken: (componentToken, authorizerAppId, authorizerRefreshToken) =>
        Effect.suspend(() =>
          withComponentToken(componentToken, (token) => {
            const refresh = redactedText(authorizerRefreshToken)
            if (refresh === undefined) return invalidArgument("authorizerRefreshToken", "must be a Redacted string")
            return checkString("authorizerAppId", authorizerAppId, 64) ??
              authorizerTokenCall(query`component_access_token=${token}`, [token, refresh], {
                component_appid: componentAppId,
                authorizer_appid: authorizerAppId,
                authorizer_refresh_token: refresh
              })
          })
        ),
      accessToken: (componentToken, appId, code) =>
        Effect.suspend(() =>
          withComponentToken(componentToken, (token) =>
            checkString("appId", appId, 64) ?? checkString("code", code, 512) ??
              accessTokenCall(
                query`appid=${appId}&code=${code}&grant_type=authorization_code&component_appid=${componentAppId}&component_access_token=${token}`,
                [token, code]
              ))
        ),
      refreshToken: (componentToken, appId, refreshToken) =>
        Effect.suspend(() =>
          withComponentToken(componentToken, (token) => {
            const refresh = redactedText(refreshToken)
            if (refresh === undefined) {
              return invalidArgument("refreshToken", "must be a Redacted string")
            }
            return checkString("appId", appId, 64) ??
              refreshTokenCall(
                query`appid=${appId}&grant_type=refresh_token&component_appid=${componentAppId}&component_access_token=${token}&refresh_token=${refresh}`,
                [token, refresh]
              )
          })
        ),
      code2Session: (componentToken, appId, jsCode) =>
        Effect.suspend(() =>
          withComponentToken(componentToken, (token) =>
            checkString("appId", appId, 64) ?? checkString("jsCode", jsCode, 512) ??
              code2SessionCall(
                query`appid=${appId}&js_code=${jsCode}&grant_type=authorization_code&component_appid=${componentAppId}&component_access_token=${token}`,
                [token, jsCode]
              ))
        )
    }
    // a policy not built by RetryPolicy.make gets predicates that never throw into a defect
    const policy = options?.policy === undefined ? undefined : Policy.total(options.policy)
    if (policy === undefined) {
      return raw
    }
    const exchange = (endpoint: WeChatError.Endpoint) =>
      retrying(endpoint, policy.exchangeRetryOn, policy.exchangeRetrySchedule)
    const read = (endpoint: WeChatError.Endpoint) =>
      retrying(endpoint, policy.retryOn, policy.retrySchedule)
    // a new component token has nothing to undo; the refresh of a user token is a read, as in direct mode
    const componentToken = read("api_component_token")
    const refreshToken = read("component_refresh_token")
    // single-use codes; and an authorizer token request may rotate the refresh token it sends
    const queryAuth = exchange("api_query_auth")
    const authorizerToken = exchange("api_authorizer_token")
    const accessToken = exchange("component_access_token")
    const code2Session = exchange("component_jscode2session")
    return {
      componentAppId,
      componentToken: (ticket) =>
        componentToken(raw.componentToken(ticket)),
      queryAuth: (token, code) =>
        queryAuth(raw.queryAuth(token, code)),
      authorizerToken: (token, appId, refresh) =>
        authorizerToken(raw.authorizerToken(token, appId, refresh)),
      accessToken: (token, appId, code) =>
        accessToken(raw.accessToken(token, appId, code)),
      refreshToken: (token, appId, refresh) => refreshToken(raw.refreshToken(token, appId, refresh)),
      code2Session: (token, appId, jsCode) => code2Session(raw.code2Session(token, appId, jsCode))
    } satisfies ComponentApiShape
  })

/**
 * Builds the third-party platform's raw endpoints (one request each, one span per call).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeComponent: Effect.Effect<ComponentApiShape, never, HttpClient.HttpClient | ComponentConfig> =
  makeComponentWith()
