/**
 * The raw WeChat endpoints, one typed Effect each, with no store and no policy: code -> token,
 * refresh, userinfo, auth and jscode2session. Bodies are decoded by content, whatever the content
 * type; an errcode becomes its tagged error; every request has a deadline; no span, error or log
 * line holds the query (where WeChat puts the app secret, codes and tokens).
 *
 * @since 0.1.0
 */
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
import * as Answer from "./internal/answer.js"
import { tooLargeCode } from "./internal/httpClientCause.js"
import { retrying } from "./internal/retrying.js"
import * as RetryPolicy from "./RetryPolicy.js"
import * as UserInfo from "./UserInfo.js"
import * as WeChatConfig from "./WeChatConfig.js"
import * as WeChatError from "./WeChatError.js"
import * as WeChatHttpClient from "./WeChatHttpClient.js"

/**
 * The answer of `/sns/oauth2/access_token` and `/sns/oauth2/refresh_token`, tokens `Redacted`.
 *
 * @since 0.1.0
 * @category models
 */
export const TokenResponse = Schema.Struct({
  access_token: Schema.Redacted(Schema.NonEmptyString),
  /** Seconds, an integer from 1 to 30 days: anything else (Infinity, negative, 1e300) is refused. */
  expires_in: Schema.Int.pipe(Schema.between(1, 2_592_000)),
  refresh_token: Schema.Redacted(Schema.NonEmptyString),
  openid: Schema.NonEmptyString,
  scope: Schema.String,
  unionid: Schema.optional(Schema.String),
  is_snapshotuser: Schema.optional(Schema.Int.pipe(Schema.between(0, 1)))
})

/**
 * @since 0.1.0
 * @category models
 */
export type TokenResponse = typeof TokenResponse.Type

/**
 * The answer of `/sns/jscode2session`: the session key is `Redacted`.
 *
 * @since 0.1.0
 * @category models
 */
export const SessionResponse = Schema.Struct({
  openid: Schema.NonEmptyString,
  session_key: Schema.Redacted(Schema.NonEmptyString),
  unionid: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type SessionResponse = typeof SessionResponse.Type

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
  jscode2session: "/sns/jscode2session"
}

type Decode<A> = (u: unknown) => Either.Either<A, ParseResult.ParseError | string>

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
 * query).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWith = (
  options?: MakeOptions
): Effect.Effect<WeChatApiShape, never, HttpClient.HttpClient | WeChatConfig.WeChatConfig> =>
  Effect.gen(function*() {
    const config = yield* WeChatConfig.WeChatConfig
    const injected = yield* HttpClient.HttpClient
    const timeoutMillis = Duration.toMillis(config.timeout)
    const maxBytes = config.maxResponseBytes
    const lean = Option.isSome(yield* Effect.serviceOption(WeChatHttpClient.EnforcesRequestLimits))
    const client = lean ? injected : HttpClient.withTracerDisabledWhen(injected, () => true)
    const limits: WeChatHttpClient.RequestLimits = { timeoutMillis, maxResponseBytes: maxBytes }
    const base = config.apiBaseUrl
    const serverAddress = new URL(base).host
    const appIdParam = encodeURIComponent(config.appId)
    const secretParam = encodeURIComponent(Redacted.value(config.appSecret))
    const spans = options?.spans ?? true

    const endpointCall = <A>(endpoint: WeChatError.Endpoint, decode: Decode<A>) => {
      const path = paths[endpoint]
      const prefix = `${base}${path}?`
      // built once: each call only swaps the URL
      const baseRequest = HttpClientRequest.get(prefix, { acceptJson: true })
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
          "http.request.method": "GET",
          "server.address": serverAddress,
          "url.path": path,
          "url.full": `${base}${path}`,
          "wechat.endpoint": endpoint,
          "wechat.app_id": config.appId
        }
      } as const
      const malformed = (description: string) => new WeChatError.MalformedResponse({ endpoint, description })
      const tooLarge = () => malformed(`the answer is larger than ${maxBytes} bytes`)
      const transportError = (error: unknown): WeChatError.TransportError | WeChatError.MalformedResponse => {
        // a cleaned copy: the RequestError itself serialises the URL, query included
        const cause = WeChatHttpClient.toTransportCause(error)
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
        lean
          ? Effect.locally(effect, WeChatHttpClient.currentRequestLimits, limits)
          : Effect.timeoutFail(effect, { duration: config.timeout, onTimeout: timeoutError })
      const spanName = `WeChatApi.${endpoint}`
      const decodeText = (
        text: string,
        secrets: ReadonlyArray<string>
      ): Effect.Effect<A, WeChatError.RequestFailure> => {
        let body: unknown
        try {
          body = JSON.parse(text)
        } catch {
          return Effect.fail(malformed("the body is not JSON"))
        }
        if (typeof body !== "object" || body === null || Array.isArray(body)) {
          return Effect.fail(malformed("the body is not a JSON object"))
        }
        const errcode = (body as { errcode?: unknown }).errcode
        if (errcode !== undefined && errcode !== 0) {
          if (typeof errcode !== "number" || !Number.isSafeInteger(errcode)) {
            return Effect.fail(malformed("errcode is not an integer"))
          }
          const errmsg = Answer.scrubErrmsg((body as { errmsg?: unknown }).errmsg, secrets)
          return Effect.fail(WeChatError.fromErrcode(errcode, errmsg, endpoint))
        }
        const decoded = decode(body)
        return Either.isRight(decoded)
          ? Effect.succeed(decoded.right)
          : Effect.fail(malformed(
            typeof decoded.left === "string" ? decoded.left : Answer.describeParseIssue(decoded.left.issue)
          ))
      }
      return (query: string, secrets: ReadonlyArray<string>): Effect.Effect<A, WeChatError.RequestFailure> => {
        const request = HttpClientRequest.setUrl(baseRequest, prefix + query)
        const call = Effect.mapError(client.execute(request), transportError).pipe(
          Effect.flatMap((response) => {
            requestsTotal.unsafeUpdate(1, endpointTag)
            if (response.status < 200 || response.status >= 300) {
              const failure = Effect.fail(
                new WeChatError.TransportError({
                  endpoint,
                  reason: "HttpStatus",
                  status: response.status,
                  description: `WeChat answered HTTP ${response.status}`
                })
              )
              // another client's connection goes back to its pool only once the body is read
              return lean
                ? failure
                : Effect.zipRight(Effect.ignore(Answer.readCapped(response, maxBytes, tooLarge)), failure)
            }
            const text = lean
              ? Effect.mapError(response.text, transportError)
              : Effect.catchTag(
                Answer.readCapped(response, maxBytes, tooLarge),
                "ResponseError",
                (error) => Effect.fail(transportError(error))
              )
            return Effect.flatMap(text, (text) => decodeText(text, secrets))
          })
        )
        const counted = Effect.tapError(bounded(call), onError)
        return spans ? Effect.withSpan(counted, spanName, spanOptions) : counted
      }
    }

    const decodeToken = Schema.decodeUnknownEither(TokenResponse)
    const accessTokenCall = endpointCall("access_token", decodeToken)
    const refreshTokenCall = endpointCall("refresh_token", decodeToken)
    const userInfoCall = endpointCall("userinfo", Schema.decodeUnknownEither(UserInfo.UserInfo))
    // WeChat's own "valid" answer is exactly `{"errcode":0,"errmsg":"ok"}`: anything else is not a yes
    const authCall = endpointCall("auth", (body: unknown) => {
      const answer = body as { errcode?: unknown; errmsg?: unknown }
      return answer.errcode === 0 && answer.errmsg === "ok" && Object.keys(answer).length === 2
        ? Either.right(undefined)
        : Either.left("not WeChat's {\"errcode\":0,\"errmsg\":\"ok\"}")
    })
    const code2SessionCall = endpointCall("jscode2session", Schema.decodeUnknownEither(SessionResponse))
    const enc = encodeURIComponent
    const secret = Redacted.value(config.appSecret)
    const sameOpenid = <A extends { readonly openid: string }>(
      endpoint: WeChatError.Endpoint,
      openid: string
    ) =>
    (answer: A): Effect.Effect<A, WeChatError.MalformedResponse> =>
      answer.openid === openid
        ? Effect.succeed(answer)
        : Effect.fail(
          new WeChatError.MalformedResponse({ endpoint, description: "the answer is for another openid" })
        )

    const raw = WeChatApi.of({
      appId: config.appId,
      accessToken: (code) =>
        Effect.suspend(() =>
          checkString("code", code, 512) ??
            accessTokenCall(
              `appid=${appIdParam}&secret=${secretParam}&code=${enc(code)}&grant_type=authorization_code`,
              [secret, code]
            )
        ),
      refreshToken: (refreshToken) =>
        Effect.suspend(() => {
          const value = redactedText(refreshToken)
          return value === undefined
            ? invalidArgument("refreshToken", "must be a Redacted string")
            : refreshTokenCall(
              `appid=${appIdParam}&grant_type=refresh_token&refresh_token=${enc(value)}`,
              [value]
            )
        }),
      userInfo: (accessToken, openid, lang = "zh_CN") =>
        Effect.suspend(() => {
          const value = redactedText(accessToken)
          if (value === undefined) return invalidArgument("accessToken", "must be a Redacted string")
          return checkString("openid", openid, 128) ?? checkLang(lang) ??
            Effect.flatMap(
              userInfoCall(
                `access_token=${enc(value)}&openid=${enc(openid)}&lang=${enc(lang)}`,
                [value]
              ),
              sameOpenid("userinfo", openid)
            )
        }),
      auth: (accessToken, openid) =>
        Effect.suspend(() => {
          const value = redactedText(accessToken)
          if (value === undefined) return invalidArgument("accessToken", "must be a Redacted string")
          return checkString("openid", openid, 128) ??
            authCall(`access_token=${enc(value)}&openid=${enc(openid)}`, [value])
        }),
      code2Session: (jsCode) =>
        Effect.suspend(() =>
          checkString("jsCode", jsCode, 512) ??
            code2SessionCall(
              `appid=${appIdParam}&secret=${secretParam}&js_code=${enc(jsCode)}&grant_type=authorization_code`,
              [secret, jsCode]
            )
        )
    })
    const policy = options?.policy
    return policy === undefined ? raw : withPolicy(raw, policy)
  })

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
  return WeChatApi.of({
    appId: api.appId,
    accessToken: (code) => accessToken(api.accessToken(code)),
    refreshToken: (token) => refreshToken(api.refreshToken(token)),
    userInfo: (token, openid, lang) => userInfo(api.userInfo(token, openid, lang)),
    auth: (token, openid) => auth(api.auth(token, openid)),
    code2Session: (jsCode) => code2Session(api.code2Session(jsCode))
  })
}

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
  if (!Redacted.isRedacted(value)) return undefined
  const text: unknown = Redacted.value(value)
  return typeof text === "string" && text.length > 0 && text.length <= 1024 ? text : undefined
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
  Layer.effect(WeChatApi, makeWith({ policy: options?.policy ?? RetryPolicy.defaultPolicy }))
