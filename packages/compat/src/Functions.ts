/**
 * The functional promise API: `getAuthUrl`, `getToken`, `refreshToken`, `getUserinfo`,
 * `checkAccessToken`. They take tokens directly and keep nothing: no store, no hooks. Each call goes
 * through the core's raw endpoints (deadline, retries of transient failures, typed errors). The hosts
 * come from `WECHAT_API_BASE_URL` / `WECHAT_OPEN_BASE_URL` when set.
 *
 * @since 0.1.0
 */
import { RetryPolicy, type UserInfo, WeChatApi, WeChatConfig, WeChatError } from "@wxauth/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"
import { fromCoreError } from "./CompatError.js"
import { parseLang, plainTokenResponse, toUserProfile, type UserProfile } from "./internal/convert.js"
import { type Credential, credentialText } from "./internal/credential.js"
import { apiBaseUrlOf, authorizeUrl, openBaseUrlOf, runAtBoundary, sharedHttpClient } from "./internal/runtime.js"

/**
 * What `getToken` resolves with: WeChat's answer, tokens in clear, and the callback's `state`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenResult {
  access_token: string
  expires_in: number
  refresh_token: string
  openid: string
  scope: string
  is_snapshotuser?: number
  unionid?: string
  state?: string | undefined
}

/**
 * What `refreshToken` resolves with: WeChat's answer, tokens in clear.
 *
 * @since 0.1.0
 * @category models
 */
export type RefreshResult = Omit<TokenResult, "state">

/**
 * What `getAuthUrl` returns.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthUrl {
  url: string
  state: string
}

const statePattern = /^[a-zA-Z0-9]{1,128}$/
const isHttpUrl = (u: unknown): u is string => typeof u === "string" && /^https?:\/\//i.test(u)
/**
 * A callback URL rather than a code: absolute, relative (`/cb?code=...&state=...`, as `req.url`), or
 * its query (`?code=...`, `code=...&state=...`): any string with `code=` or `state=` in it (a code is
 * letters and digits).
 */
const isCallback = (u: string): boolean => isHttpUrl(u) || /^[/?]/.test(u) || /(?:code|state)=/.test(u)
const nonEmpty = (u: unknown): u is string => typeof u === "string" && u !== ""

// /sns/userinfo and /sns/auth need no app: the core's config wants one, so these stand in. The
// stand-in secret is never sent, but core scrubs the service's app secret from every errmsg (a
// secret short enough is matched whole): it must be a text no WeChat message holds (a "-" turned
// the hyphens of WeChat's rid into "<redacted>")
const anyAppId = "wxauthcompat"
const noSecret = Redacted.make("wxauth.compat.stand-in.never.sent")

const invalid = (argument: string, description: string) => new WeChatError.InvalidArgument({ argument, description })

/**
 * Runs one raw endpoint as the app `appId` on the shared client. The answer is converted inside the
 * effect, so that whatever fails reaches the caller as a compat error.
 */
const callApi = <A>(
  appId: string,
  appSecret: Redacted.Redacted<string>,
  call: (api: WeChatApi.WeChatApiShape) => Effect.Effect<A, unknown>
): Promise<A> =>
  runAtBoundary(
    sharedHttpClient(undefined),
    Effect.suspend(() => {
      const config = WeChatConfig.makeEither({ appId, appSecret, apiBaseUrl: apiBaseUrlOf(undefined) })
      return Either.isLeft(config)
        ? Effect.fail(config.left)
        : Effect.flatMap(WeChatApi.makeWith({ policy: RetryPolicy.defaultPolicy }), call).pipe(
          Effect.provideService(WeChatConfig.WeChatConfig, config.right)
        )
    })
  )

/**
 * The first of `credentials` (argument, what it is, its value) that is given but is not a string (a
 * `Redacted`, `new String(...)`, a number), as the `InvalidArgument` saying it must be a string, in
 * the words the client's `WeChatAPIConfigError` uses (`credential.ts`); the value is never quoted.
 */
const notAString = (
  credentials: ReadonlyArray<readonly [argument: string, name: Credential, value: unknown]>
): WeChatError.InvalidArgument | undefined => {
  for (const [argument, name, value] of credentials) {
    const text = credentialText(name, value)
    if (Either.isLeft(text)) return invalid(argument, text.left)
  }
  return undefined
}

const rejectWith = (error: WeChatError.InvalidArgument | WeChatError.ConsentDenied): Promise<never> =>
  Promise.reject(fromCoreError(error))

/**
 * The consent page's URL (`/connect/oauth2/authorize`, the parameters in `wechat-oauth`'s order and
 * encoding) and its state. Without `state`, a random one is made (32 characters of `[a-f0-9]`, which
 * WeChat accepts: a hyphenated uuid is not `[a-zA-Z0-9]`). Returns `false` on bad input: no appid, a
 * `redirect_uri` that is not an http(s) URL, a state WeChat would refuse, an unknown scope.
 *
 * @param appid the official account's appid
 * @param redirect_uri the callback URL
 * @param state identifies this request (default: generated)
 * @param scope `snsapi_base` (default: silent) or `snsapi_userinfo` (asks the user)
 * @since 0.1.0
 * @category functions
 */
export const getAuthUrl = (appid: string, redirect_uri: string, state?: string, scope?: string): AuthUrl | false => {
  if (!nonEmpty(appid) || !isHttpUrl(redirect_uri)) return false
  const chosenScope = scope || "snsapi_base"
  if (chosenScope !== "snsapi_base" && chosenScope !== "snsapi_userinfo") return false
  const chosenState = state || Crypto.randomUUID().replace(/-/g, "")
  if (typeof chosenState !== "string" || !statePattern.test(chosenState)) return false
  return {
    url: authorizeUrl(openBaseUrlOf(undefined), "/connect/oauth2/authorize", {
      appid,
      redirect_uri,
      response_type: "code",
      scope: chosenScope,
      state: chosenState
    }),
    state: chosenState
  }
}

/**
 * Exchanges a code for the user's token. `r_url` is either the callback URL (the code and the state
 * are read from it), absolute or relative as `req.url` gives it (`/cb?code=...&state=...`), or its
 * query (`?code=...&state=...`), or the code alone. Resolves with WeChat's answer and `state`.
 *
 * An appid or secret that is not a string (a `Redacted`, `new String(...)`, a number) rejects with a
 * `WeChatAPIInvalidArgumentError` saying it must be a string (for a `Redacted`:
 * `Redacted.value(secret)`), the value unquoted; an absent or empty one, that they are required.
 *
 * @param appid the official account's appid
 * @param r_url the callback URL (absolute or relative), its query, or the code
 * @param secret the official account's app secret
 * @since 0.1.0
 * @category functions
 */
export const getToken = (appid: string, r_url: string, secret: string): Promise<TokenResult> => {
  const typeError = notAString([["appid", "appId", appid], ["secret", "appSecret", secret]])
  if (typeError !== undefined) return rejectWith(typeError)
  if (!nonEmpty(appid) || !nonEmpty(secret)) return rejectWith(invalid("appid", "the appid and secret are required"))
  if (!nonEmpty(r_url)) return rejectWith(invalid("r_url", "a callback URL or a code is required"))
  let code: string | null = r_url
  let state: string | undefined
  if (isCallback(r_url)) {
    let url: URL
    try {
      // a relative URL (`req.url`) or a bare query: only the query matters
      url = new URL(isHttpUrl(r_url) || /^\/|\?/.test(r_url) ? r_url : `?${r_url}`, "http://localhost")
    } catch {
      return rejectWith(invalid("r_url", "not a valid URL"))
    }
    code = url.searchParams.get("code")
    state = url.searchParams.get("state") ?? undefined
    if (!nonEmpty(code)) {
      return rejectWith(new WeChatError.ConsentDenied())
    }
  }
  const exchange = code
  return callApi(
    appid,
    Redacted.make(secret),
    (api) =>
      api.accessToken(exchange).pipe(
        Effect.map((response): TokenResult => ({ ...plainTokenResponse(response), state }))
      )
  )
}

/**
 * Refreshes an access token with its refresh token (the refresh token itself lives 30 days from
 * consent). Resolves with WeChat's answer. An appid or refresh token that is not a string (a
 * `Redacted`, ...) rejects with a `WeChatAPIInvalidArgumentError` saying it must be a string.
 *
 * @since 0.1.0
 * @category functions
 */
export const refreshToken = (appid: string, refresh_token: string): Promise<RefreshResult> => {
  const typeError = notAString([["appid", "appId", appid], ["refresh_token", "refreshToken", refresh_token]])
  if (typeError !== undefined) return rejectWith(typeError)
  if (!nonEmpty(appid) || !nonEmpty(refresh_token)) {
    return rejectWith(invalid("refresh_token", "the appid and the refresh token are required"))
  }
  return callApi(
    appid,
    noSecret,
    (api) => api.refreshToken(Redacted.make(refresh_token)).pipe(Effect.map(plainTokenResponse))
  )
}

/**
 * The user's profile (needs an `snsapi_userinfo` token). `lang`: `zh_CN` (default), `zh_TW`, `en`.
 * An access token that is not a string (a `Redacted`, ...) rejects with a
 * `WeChatAPIInvalidArgumentError` saying it must be a string.
 *
 * @since 0.1.0
 * @category functions
 */
export const getUserinfo = (access_token: string, openid: string, lang?: string): Promise<UserProfile> => {
  const typeError = notAString([["access_token", "accessToken", access_token]])
  if (typeError !== undefined) return rejectWith(typeError)
  if (!nonEmpty(access_token) || !nonEmpty(openid)) {
    return rejectWith(invalid("access_token", "the access token and the openid are required"))
  }
  return callApi(
    anyAppId,
    noSecret,
    (api) =>
      Effect.flatMap(
        parseLang(lang, "zh_CN"),
        (chosen: UserInfo.Lang) =>
          api.userInfo(Redacted.make(access_token), openid, chosen).pipe(Effect.map(toUserProfile))
      )
  )
}

/** WeChat says the token is not valid for this openid: expired or rejected (core's refreshable kind), or another user's. */
const isInvalidToken = (error: WeChatError.RequestFailure) =>
  WeChatError.isRefreshable(error) || error._tag === "InvalidOpenId"

/**
 * Whether WeChat accepts the access token for this openid (`/sns/auth`). Resolves `true` only for
 * WeChat's own yes (`{"errcode":0,"errmsg":"ok"}`), `false` when WeChat says it is not valid
 * (expired, invalid, another user's) or when there is no token. A busy WeChat, a network failure or
 * any other answer (`[]`, `{}`, a body of another endpoint: `WeChatAPIJSONResponseFormatError`)
 * rejects: it does not tell whether the token is valid. So does an access token that is not a string
 * (a `Redacted`, ...: `WeChatAPIInvalidArgumentError` saying it must be a string), which is not "no
 * token".
 *
 * @since 0.1.0
 * @category functions
 */
export const checkAccessToken = (access_token: string, openid: string): Promise<boolean> => {
  const typeError = notAString([["access_token", "accessToken", access_token]])
  if (typeError !== undefined) return rejectWith(typeError)
  if (!nonEmpty(access_token) || !nonEmpty(openid)) return Promise.resolve(false)
  return callApi(anyAppId, noSecret, (api) =>
    api.auth(Redacted.make(access_token), openid).pipe(
      Effect.as(true),
      Effect.catchIf(isInvalidToken, () => Effect.succeed(false))
    ))
}
