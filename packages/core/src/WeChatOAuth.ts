/**
 * The WeChat web login service of one app: authorize URLs with a signed state, the callback, code
 * exchange (de-duplicated), single-flight refreshes, and getUser with its refresh-and-retry policy.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { Scope as EffectScope } from "effect/Scope"
import * as Arguments from "./internal/arguments.js"
import * as SingleFlight from "./internal/singleFlight.js"
import { withSpanWhenTraced } from "./internal/span.js"
import * as OAuthToken from "./OAuthToken.js"
import * as RefreshLock from "./RefreshLock.js"
import * as RefreshPolicy from "./RefreshPolicy.js"
import * as StateToken from "./StateToken.js"
import * as TokenStore from "./TokenStore.js"
import type * as UserInfo from "./UserInfo.js"
import * as WeChatApi from "./WeChatApi.js"
import * as WeChatConfig from "./WeChatConfig.js"
import * as WeChatError from "./WeChatError.js"

/**
 * Scopes of the official-account consent page.
 *
 * @since 0.1.0
 * @category models
 */
export type Scope = "snsapi_base" | "snsapi_userinfo"

/**
 * Options of `authorizeUrl`. Without `state`, a signed `StateToken` is made, carrying `returnTo` and
 * bound to `binding` (a per-browser value, e.g. a cookie) when given.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthorizeOptions {
  readonly redirectUri: string
  readonly scope?: Scope | undefined
  readonly state?: string | undefined
  readonly returnTo?: string | undefined
  readonly binding?: string | undefined
}

/**
 * Options of `websiteAuthorizeUrl` (Open Platform QR login, scope `snsapi_login`).
 *
 * @since 0.1.0
 * @category models
 */
export type WebsiteAuthorizeOptions = Omit<AuthorizeOptions, "scope">

/**
 * An authorize URL and the state it carries.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthorizeUrl {
  readonly url: string
  readonly state: string
}

/**
 * Options of `handleCallback`: compare with `expectedState` (e.g. kept in a cookie), or, without it,
 * verify the signed state, with the same `binding` it was made with.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallbackOptions {
  readonly expectedState?: string | undefined
  readonly binding?: string | undefined
}

/**
 * What a handled callback gives: the stored token, and the `returnTo` path the state carried.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallbackResult {
  readonly token: OAuthToken.OAuthToken
  readonly returnTo: string | undefined
}

/**
 * How a code exchange fails.
 *
 * @since 0.1.0
 * @category models
 */
export type ExchangeError = WeChatError.RequestFailure | WeChatError.TokenStoreError | WeChatError.InvalidArgument

/**
 * How a refresh fails.
 *
 * @since 0.1.0
 * @category models
 */
export type RefreshError =
  | WeChatError.RequestFailure
  | WeChatError.InvalidArgument
  | WeChatError.TokenStoreError
  | WeChatError.TokenNotFound
  | WeChatError.RefreshLockTimeout

/**
 * The service.
 *
 * @since 0.1.0
 * @category models
 */
export interface WeChatOAuthShape {
  readonly appId: string
  /** The official-account consent URL (`/connect/oauth2/authorize`), `snsapi_base` by default. */
  readonly authorizeUrl: (options: AuthorizeOptions) => Effect.Effect<AuthorizeUrl, WeChatError.InvalidArgument>
  /** The website QR login URL (`/connect/qrconnect`, `snsapi_login`). */
  readonly websiteAuthorizeUrl: (
    options: WebsiteAuthorizeOptions
  ) => Effect.Effect<AuthorizeUrl, WeChatError.InvalidArgument>
  /**
   * Exchanges a code for a token and stores it. Concurrent exchanges of one code make one request;
   * a later repeat gets the same token only within 60 seconds and with the same `binding`.
   */
  readonly exchangeCode: (
    code: string,
    options?: { readonly binding?: string | undefined }
  ) => Effect.Effect<OAuthToken.OAuthToken, ExchangeError>
  /** Handles the redirect back from WeChat: the full callback URL, or its query. */
  readonly handleCallback: (
    callback: string | URL | URLSearchParams,
    options?: CallbackOptions
  ) => Effect.Effect<
    CallbackResult,
    ExchangeError | WeChatError.ConsentDenied | WeChatError.StateMismatch
  >
  /** Refreshes the stored token (single-flight per user, through `RefreshLock`). */
  readonly refresh: (openid: string) => Effect.Effect<OAuthToken.OAuthToken, RefreshError>
  /** The user's profile, refreshing the token when needed (see `RefreshPolicy`). `lang` defaults to `zh_CN`. */
  readonly getUser: (
    openid: string,
    options?: { readonly lang?: UserInfo.Lang | undefined }
  ) => Effect.Effect<UserInfo.UserInfo, RefreshError>
  /** Exchanges a code, then fetches the profile. */
  readonly getUserByCode: (
    code: string,
    options?: { readonly lang?: UserInfo.Lang | undefined; readonly binding?: string | undefined }
  ) => Effect.Effect<UserInfo.UserInfo, ExchangeError | RefreshError>
  /** False only when WeChat says the stored access token is invalid; a busy WeChat is an error. */
  readonly verifyAccessToken: (openid: string) => Effect.Effect<boolean, RefreshError>
  /** The stored token, if any (no call to WeChat). */
  readonly getToken: (
    openid: string
  ) => Effect.Effect<Option.Option<OAuthToken.OAuthToken>, WeChatError.TokenStoreError | WeChatError.InvalidArgument>
  /** Forgets the stored token (log out). */
  readonly removeToken: (
    openid: string
  ) => Effect.Effect<void, WeChatError.TokenStoreError | WeChatError.InvalidArgument>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class WeChatOAuth extends Context.Tag("@wxauth/core/WeChatOAuth")<WeChatOAuth, WeChatOAuthShape>() {}

/**
 * Refreshes WeChat granted (a refresh that fails is counted in `wxauth_errors_total`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const refreshesTotal = Metric.counter("wxauth_refreshes_total", {
  description: "Token refreshes requested from WeChat",
  incremental: true
})

const statePattern = /^[a-zA-Z0-9]{1,128}$/

/** How a bound repeat looks for a code memo another process is about to write: every 100 ms, up to 1 s. */
const memoPoll = Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(10)))
const codePattern = /^[\x21-\x7e]{1,512}$/

const invalid = Arguments.invalid

const codeTaken = new WeChatError.CodeUsed({
  errcode: 40163,
  errmsg: "code been used: it was exchanged for another browser",
  endpoint: "access_token"
})

const maxUrlLength = 8192

const isOptionsObject = (options: unknown): options is Record<string, unknown> =>
  typeof options === "object" && options !== null && !Array.isArray(options)

const checkRedirectUri = (redirectUri: unknown): Effect.Effect<string, WeChatError.InvalidArgument> => {
  if (!Arguments.isText(redirectUri, maxUrlLength)) {
    return Effect.fail(invalid("redirectUri", `must be an absolute http(s) URL of at most ${maxUrlLength} characters`))
  }
  let url: URL
  try {
    url = new URL(redirectUri)
  } catch {
    return Effect.fail(invalid("redirectUri", "must be an absolute http(s) URL"))
  }
  return url.protocol === "http:" || url.protocol === "https:"
    ? Effect.succeed(redirectUri)
    : Effect.fail(invalid("redirectUri", "must be an absolute http(s) URL"))
}

const parseCallback = (
  callback: string | URL | URLSearchParams
): Effect.Effect<URLSearchParams, WeChatError.InvalidArgument> => {
  if (callback instanceof URLSearchParams) return Effect.succeed(callback)
  if (callback instanceof URL) return Effect.succeed(callback.searchParams)
  if (!Arguments.isText(callback, maxUrlLength)) {
    return Effect.fail(
      invalid(
        "callback",
        `must be the callback URL, its query, a URL or URLSearchParams (at most ${maxUrlLength} characters)`
      )
    )
  }
  const text = callback.trim()
  if (/^https?:\/\//i.test(text)) {
    try {
      return Effect.succeed(new URL(text).searchParams)
    } catch {
      return Effect.fail(invalid("callback", "not a valid URL"))
    }
  }
  const query = text.includes("?") ? text.slice(text.indexOf("?") + 1) : text
  return Effect.succeed(new URLSearchParams(query.split("#")[0]))
}

const isReauthorizeRefresh = (
  error: WeChatError.RequestFailure
): error is WeChatError.InvalidRefreshToken | WeChatError.RefreshTokenExpired =>
  error._tag === "InvalidRefreshToken" || error._tag === "RefreshTokenExpired"

const isTransientRefreshFailure = (error: RefreshError) =>
  error._tag === "RefreshLockTimeout" || WeChatError.isRetryable(error)

const isInvalidTokenAnswer = (error: RefreshError) =>
  error._tag === "AccessTokenExpired" || error._tag === "InvalidAccessToken" || error._tag === "InvalidCredential"

/**
 * Builds the service for the `WeChatConfig` in context with a policy. Call it once per app to serve
 * several apps (official account and website login are two apps).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWith = (
  policy: RefreshPolicy.RefreshPolicy
): Effect.Effect<
  WeChatOAuthShape,
  never,
  WeChatConfig.WeChatConfig | HttpClient.HttpClient | TokenStore.TokenStore | EffectScope
> =>
  Effect.gen(function*() {
    const config = yield* WeChatConfig.WeChatConfig
    const store = yield* TokenStore.TokenStore
    // the operations' own spans cover the endpoint calls
    const api = yield* WeChatApi.makeWith({ spans: false })
    const lock = Option.getOrElse(
      yield* Effect.serviceOption(RefreshLock.RefreshLock),
      () => RefreshLock.makeInProcess()
    )
    const scope = yield* Effect.scope
    const appId = config.appId
    const skewMillis = Duration.toMillis(policy.refreshSkew)
    const memoTtlMillis = Duration.toMillis(policy.codeMemoTtl)
    const withConfig = Effect.provideService(WeChatConfig.WeChatConfig, config)
    const tokenNotFound = (openid: string) => new WeChatError.TokenNotFound({ appId, openid })

    // -- authorize URLs ------------------------------------------------------------------------

    const resolveState = (options: WebsiteAuthorizeOptions): Effect.Effect<string, WeChatError.InvalidArgument> => {
      const problem = Arguments.checkOptionalText("returnTo", options.returnTo, maxUrlLength) ??
        Arguments.checkOptionalText("binding", options.binding, Arguments.maxBindingLength)
      if (problem !== undefined) return problem
      if (options.state === undefined) {
        return withConfig(StateToken.make({ returnTo: options.returnTo, binding: options.binding }))
      }
      if (typeof options.state !== "string" || !statePattern.test(options.state)) {
        return Effect.fail(invalid("state", "WeChat accepts 1 to 128 characters of [a-zA-Z0-9]"))
      }
      if (options.returnTo !== undefined || options.binding !== undefined) {
        return Effect.fail(invalid("state", "returnTo and binding need a generated (signed) state: omit state"))
      }
      return Effect.succeed(options.state)
    }

    const buildUrl = (path: string, scopeParam: string, extra: string) => (options: WebsiteAuthorizeOptions) =>
      Effect.flatMap(
        checkRedirectUri(options.redirectUri),
        (redirectUri): Effect.Effect<AuthorizeUrl, WeChatError.InvalidArgument> =>
          Effect.map(resolveState(options), (state): AuthorizeUrl => ({
            url: `${config.openBaseUrl}${path}?appid=${encodeURIComponent(appId)}&redirect_uri=${
              encodeURIComponent(redirectUri)
            }&response_type=code&scope=${scopeParam}&state=${state}${extra}#wechat_redirect`,
            state
          }))
      )

    const oauth2Url = {
      snsapi_base: buildUrl("/connect/oauth2/authorize", "snsapi_base", "&connect_redirect=1"),
      snsapi_userinfo: buildUrl("/connect/oauth2/authorize", "snsapi_userinfo", "&connect_redirect=1")
    }
    const qrconnectUrl = buildUrl("/connect/qrconnect", "snsapi_login", "")

    const authorizeUrl = (options: AuthorizeOptions) => {
      if (!isOptionsObject(options)) return Effect.fail(invalid("options", "must be an object with a redirectUri"))
      const scopeName: unknown = options.scope ?? "snsapi_base"
      const build = scopeName === "snsapi_base" || scopeName === "snsapi_userinfo" ? oauth2Url[scopeName] : undefined
      return (build === undefined
        ? Effect.fail(invalid("scope", "must be snsapi_base or snsapi_userinfo"))
        : build(options)).pipe(Effect.withSpan("WeChatOAuth.authorizeUrl", { captureStackTrace: false }))
    }

    // -- code exchange -------------------------------------------------------------------------

    /** The token a remembered code gave, for a caller with the same browser binding, within the memo's life. */
    const recallMemo = (
      codeHash: string,
      bindingHash: string
    ): Effect.Effect<Option.Option<OAuthToken.OAuthToken>, WeChatError.TokenStoreError> =>
      Effect.flatMap(store.recallCode(appId, codeHash), (memo) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Option.isSome(memo) && memo.value.binding !== undefined &&
            StateToken.equals(memo.value.binding, bindingHash) &&
            now - memo.value.exchangedAt <= memoTtlMillis
            ? store.get(appId, memo.value.openid)
            : Effect.succeed(Option.none<OAuthToken.OAuthToken>())))

    /** One exchange with WeChat, its token stored and the code remembered with the initiator's binding. */
    const exchangeWithWeChat = (code: string, codeHash: string, bindingHash: string | undefined) =>
      Effect.gen(function*() {
        const response = yield* RefreshPolicy.retrying(
          api.accessToken(code),
          policy.isExchangeRetryable,
          policy.exchangeRetry,
          "access_token"
        )
        const now = yield* Clock.currentTimeMillis
        const token = yield* OAuthToken.fromResponse(response, now)
        yield* store.set(appId, token)
        yield* store.rememberCode(
          appId,
          codeHash,
          new TokenStore.CodeMemo({
            openid: token.openid,
            ...(bindingHash === undefined ? {} : { binding: bindingHash }),
            exchangedAt: now,
            expiresAt: now + memoTtlMillis
          })
        ).pipe(
          Effect.catchAll((error) =>
            Effect.logWarning("wxauth: could not remember an exchanged code; a repeated callback will fail").pipe(
              Effect.annotateLogs({ appId, error: error.description })
            )
          )
        )
        return token
      })

    const exchanges = SingleFlight.make<OAuthToken.OAuthToken, ExchangeError>(scope)

    /**
     * Exchanges a code. Concurrent exchanges of one code in this process share one WeChat request
     * (in-flight duplicates are always merged). A later repeat, here or in another process, gets the
     * remembered token only with the same browser binding, within the memo's life; otherwise
     * WeChat's `CodeUsed` stands. When WeChat says `CodeUsed` and no memo is there yet, another
     * process may still be storing it: a bound caller looks again for up to a second.
     */
    const exchangeShared = (
      code: string,
      bindingHash: string | undefined
    ): Effect.Effect<OAuthToken.OAuthToken, ExchangeError> =>
      Effect.suspend(() => {
        if (typeof code !== "string" || !codePattern.test(code)) {
          return Effect.fail(invalid("code", "must be 1 to 512 printable characters"))
        }
        const codeHash = TokenStore.hashCode(code)
        // Only a caller with the same binding (or both unbound) shares a flight's token; another
        // browser's caller waits for the flight to end and gets CodeUsed (or the flight's error).
        const exchange = exchanges.runOwned(
          codeHash,
          bindingHash,
          exchangeWithWeChat(code, codeHash, bindingHash),
          (flight) =>
            Effect.flatMap(flight, () =>
              Effect.fail(codeTaken))
        )
        if (bindingHash === undefined) {
          return exchange
        }
        return Effect.flatMap(recallMemo(codeHash, bindingHash), (remembered) =>
          Option.isSome(remembered)
            ? Effect.succeed(remembered.value)
            : Effect.catchTag(exchange, "CodeUsed", (used) =>
              recallMemo(codeHash, bindingHash).pipe(
                Effect.flatMap((found) => Option.isSome(found) ? Effect.succeed(found.value) : Effect.fail(used)),
                Effect.retry({
                  schedule: memoPoll,
                  while: (e) => e._tag === "CodeUsed"
                })
              )))
      })

    /** The options' binding, hashed; `InvalidArgument` for options or a binding of the wrong type. */
    const bindingOf = (
      options: unknown
    ): Either.Either<string | undefined, WeChatError.InvalidArgument> => {
      const fields = Arguments.optionsOf(options)
      if (fields === undefined) return Either.left(invalid("options", "must be an object"))
      const binding = fields.binding
      if (binding === undefined) return Either.right(undefined)
      return Arguments.isText(binding, Arguments.maxBindingLength)
        ? Either.right(StateToken.bindingHash(config, binding))
        : Either.left(
          invalid("binding", `must be a non-empty string of at most ${Arguments.maxBindingLength} characters`)
        )
    }

    const exchangeCode = (code: string, options?: { readonly binding?: string | undefined }) =>
      Effect.flatMap(bindingOf(options), (bindingHash) => exchangeShared(code, bindingHash)).pipe(
        Effect.withSpan("WeChatOAuth.exchangeCode", { captureStackTrace: false })
      )

    const handleCallback = Effect.fn("WeChatOAuth.handleCallback")(function*(
      callback: string | URL | URLSearchParams,
      options?: CallbackOptions
    ) {
      const params = yield* parseCallback(callback)
      const fields = Arguments.optionsOf(options)
      if (fields === undefined) return yield* Effect.fail(invalid("options", "must be an object"))
      const problem = Arguments.checkOptionalText("expectedState", fields.expectedState, StateToken.maxLength) ??
        Arguments.checkOptionalText("binding", fields.binding, Arguments.maxBindingLength)
      if (problem !== undefined) return yield* problem
      const code = params.get("code")
      if (code === null || code === "") {
        return yield* new WeChatError.ConsentDenied()
      }
      const state = params.get("state")
      if (state === null || state === "") {
        return yield* new WeChatError.StateMismatch({ reason: "Missing" })
      }
      let bindingHash: string | undefined
      let returnTo: string | undefined
      if (options?.expectedState !== undefined) {
        if (!StateToken.equals(state, options.expectedState)) {
          return yield* new WeChatError.StateMismatch({ reason: "Mismatch" })
        }
        // The state itself is in the callback URL, so it proves nothing about the browser: only a
        // binding (a per-browser secret) lets a repeat of this callback get the remembered token.
        bindingHash = options.binding === undefined ? undefined : StateToken.bindingHash(config, options.binding)
        // a signed state compared as given still carries its return path
        const now = yield* Clock.currentTimeMillis
        const verified = StateToken.verifyWith(config, now, state, { binding: options.binding })
        if (Either.isRight(verified)) {
          returnTo = verified.right.returnTo
        }
      } else {
        const verified = yield* withConfig(StateToken.verify(state, { binding: options?.binding }))
        bindingHash = verified.bindingHash
        returnTo = verified.returnTo
      }
      const token = yield* exchangeShared(code, bindingHash)
      return { token, returnTo } satisfies CallbackResult
    })

    // -- refresh -------------------------------------------------------------------------------

    const lockKey = (openid: string) => `${appId}:${openid}`

    const refreshes = SingleFlight.make<OAuthToken.OAuthToken, RefreshError>(scope)

    /**
     * Refreshes unless the stored token is newer than `seenObtainedAt` (another worker refreshed).
     * Callers in this process that saw the same token share one run; across processes the
     * `RefreshLock` and the re-read of the store keep it to one request.
     */
    const refreshAfter = (openid: string, seenObtainedAt: number): Effect.Effect<OAuthToken.OAuthToken, RefreshError> =>
      refreshes.run(`${openid}\u0000${seenObtainedAt}`, refreshLocked(openid, seenObtainedAt))

    const refreshLocked = (
      openid: string,
      seenObtainedAt: number
    ): Effect.Effect<OAuthToken.OAuthToken, RefreshError> =>
      lock.withLock(
        lockKey(openid),
        Effect.flatMap(store.get(appId, openid), (stored): Effect.Effect<OAuthToken.OAuthToken, RefreshError> => {
          if (Option.isNone(stored)) {
            return Effect.fail(tokenNotFound(openid))
          }
          const current = stored.value
          if (current.obtainedAt > seenObtainedAt) {
            return Effect.succeed(current)
          }
          return RefreshPolicy.retrying(
            api.refreshToken(current.refreshToken),
            policy.isTransient,
            policy.transientRetry,
            "refresh_token"
          ).pipe(
            Effect.tap(() => Effect.sync(() => refreshesTotal.unsafeUpdate(1, []))),
            Effect.catchIf(isReauthorizeRefresh, (error) =>
              // Remove the rejected token, unless a new consent stored another meanwhile. The WeChat
              // error stands either way: the user must authorize again.
              store.get(appId, openid).pipe(
                Effect.flatMap((latest) =>
                  Option.isSome(latest) && latest.value.obtainedAt === current.obtainedAt
                    ? store.remove(appId, openid)
                    : Effect.void
                ),
                Effect.zipRight(
                  Effect.logInfo("wxauth: the refresh token was rejected; the stored token is removed").pipe(
                    Effect.annotateLogs({ appId, errcode: error.errcode })
                  )
                ),
                Effect.catchAll((storeError) =>
                  Effect.logWarning("wxauth: could not remove a token WeChat rejected").pipe(
                    Effect.annotateLogs({ appId, error: storeError.description })
                  )
                ),
                Effect.zipRight(Effect.fail(error))
              )),
            Effect.flatMap((response): Effect.Effect<OAuthToken.OAuthToken, RefreshError> =>
              response.openid !== current.openid
                // never store one user's token under another's openid
                ? Effect.fail(
                  new WeChatError.MalformedResponse({
                    endpoint: "refresh_token",
                    description: "the answer is for another openid"
                  })
                )
                : Effect.flatMap(Clock.currentTimeMillis, (now) =>
                  Effect.flatMap(
                    OAuthToken.fromResponse(response, now, current),
                    (token) => Effect.as(store.set(appId, token), token)
                  ))
            )
          )
        })
      ).pipe(Effect.withSpan("WeChatOAuth.refresh", { captureStackTrace: false }))

    const refresh = (openid: string): Effect.Effect<OAuthToken.OAuthToken, RefreshError> =>
      Arguments.checkOpenid(openid) ??
        Effect.flatMap(store.get(appId, openid), (stored): Effect.Effect<OAuthToken.OAuthToken, RefreshError> =>
          Option.isNone(stored)
            ? Effect.fail(tokenNotFound(openid))
            : refreshAfter(openid, stored.value.obtainedAt))

    // -- user info -----------------------------------------------------------------------------

    const userInfoOnce = (token: OAuthToken.OAuthToken, lang: UserInfo.Lang) =>
      RefreshPolicy.retrying(
        api.userInfo(token.accessToken, token.openid, lang),
        policy.isTransient,
        policy.transientRetry,
        "userinfo"
      )

    const userInfoRecovering = (token: OAuthToken.OAuthToken, lang: UserInfo.Lang) =>
      Effect.catchIf(
        userInfoOnce(token, lang),
        policy.refreshOn,
        () =>
          Effect.flatMap(refreshAfter(token.openid, token.obtainedAt), (fresh) =>
            userInfoOnce(fresh, lang))
      )

    const getUserSpan = {
      captureStackTrace: false,
      attributes: { "wechat.app_id": appId, "server.address": new URL(config.apiBaseUrl).host }
    } as const

    const getUser = (
      openid: string,
      options?: { readonly lang?: UserInfo.Lang | undefined }
    ): Effect.Effect<UserInfo.UserInfo, RefreshError> => {
      const lang = options?.lang ?? "zh_CN"
      const problem = Arguments.checkOpenid(openid)
      if (problem !== undefined) {
        return problem
      }
      return Effect.flatMap(store.get(appId, openid), (stored): Effect.Effect<UserInfo.UserInfo, RefreshError> => {
        if (Option.isNone(stored)) {
          return Effect.fail(tokenNotFound(openid))
        }
        const token = stored.value
        return Effect.clockWith((clock) => {
          const now = clock.unsafeCurrentTimeMillis()
          if (token.expiresAt - skewMillis > now) {
            return userInfoRecovering(token, lang)
          }
          const refreshed = refreshAfter(openid, token.obtainedAt)
          // within the skew the stored token still works: a busy WeChat does not fail the call
          const usable = token.expiresAt > now
            ? Effect.catchIf(refreshed, isTransientRefreshFailure, () =>
              Effect.succeed(token))
            : refreshed
          return Effect.flatMap(usable, (fresh) => userInfoOnce(fresh, lang))
        })
      }).pipe(withSpanWhenTraced("WeChatOAuth.getUser", getUserSpan))
    }

    const getUserByCode = (
      code: string,
      options?: { readonly lang?: UserInfo.Lang | undefined; readonly binding?: string | undefined }
    ) =>
      Effect.flatMap(
        exchangeCode(code, options),
        (token) => userInfoRecovering(token, options?.lang ?? "zh_CN")
      ).pipe(Effect.withSpan("WeChatOAuth.getUserByCode", { captureStackTrace: false }))

    const authOnce = (token: OAuthToken.OAuthToken) =>
      RefreshPolicy.retrying(
        api.auth(token.accessToken, token.openid),
        policy.isTransient,
        policy.transientRetry,
        "auth"
      )

    const verifyAccessToken = (openid: string): Effect.Effect<boolean, RefreshError> =>
      Arguments.checkOpenid(openid) ??
        Effect.flatMap(store.get(appId, openid), (stored): Effect.Effect<boolean, RefreshError> =>
          Option.isNone(stored)
            ? Effect.fail(tokenNotFound(openid))
            : authOnce(stored.value).pipe(
              Effect.as(true),
              Effect.catchIf(isInvalidTokenAnswer, () => Effect.succeed(false))
            )).pipe(Effect.withSpan("WeChatOAuth.verifyAccessToken", { captureStackTrace: false }))

    return WeChatOAuth.of({
      appId,
      authorizeUrl,
      websiteAuthorizeUrl: (options) =>
        (isOptionsObject(options)
          ? qrconnectUrl(options)
          : Effect.fail(invalid("options", "must be an object with a redirectUri"))).pipe(
            Effect.withSpan("WeChatOAuth.websiteAuthorizeUrl", { captureStackTrace: false })
          ),
      exchangeCode,
      handleCallback,
      refresh,
      getUser,
      getUserByCode,
      verifyAccessToken,
      getToken: (openid) => Arguments.checkOpenid(openid) ?? store.get(appId, openid),
      removeToken: (openid) => Arguments.checkOpenid(openid) ?? store.remove(appId, openid)
    })
  })

/**
 * Builds the service with the default `RefreshPolicy`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<
  WeChatOAuthShape,
  never,
  WeChatConfig.WeChatConfig | HttpClient.HttpClient | TokenStore.TokenStore | EffectScope
> = makeWith(RefreshPolicy.defaultPolicy)

/**
 * The service as a Layer. Needs an `HttpClient` (e.g. `WeChatHttpClient.layer()`), a `WeChatConfig`
 * and a `TokenStore`; uses the `RefreshLock` in context when there is one.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<
  WeChatOAuth,
  never,
  WeChatConfig.WeChatConfig | HttpClient.HttpClient | TokenStore.TokenStore
> = Layer.scoped(WeChatOAuth, make)

/**
 * The service as a Layer, with parts of the `RefreshPolicy` replaced.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options: {
  readonly policy: RefreshPolicy.Overrides
}): Layer.Layer<WeChatOAuth, never, WeChatConfig.WeChatConfig | HttpClient.HttpClient | TokenStore.TokenStore> =>
  Layer.scoped(WeChatOAuth, makeWith(RefreshPolicy.make(options.policy)))
