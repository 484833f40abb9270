/**
 * The calls made with a user's token: `getUser` with its policy (refresh ahead of expiry, refresh
 * and call once more when WeChat rejects the token, keep using a still-valid token when a refresh
 * meets a transient failure) and `verifyAccessToken`.
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as OAuthToken from "../../OAuthToken.js"
import type * as RetryPolicy from "../../RetryPolicy.js"
import type * as TokenStore from "../../TokenStore.js"
import type * as UserInfo from "../../UserInfo.js"
import * as WeChatError from "../../WeChatError.js"
import type { RefreshError } from "../../WeChatOAuth.js"
import * as Freshness from "../freshness.js"
import { peekOf } from "../tokenPeek.js"
import { type Endpoints, userInfoThenOf } from "./endpoints.js"

/** @internal */
export interface Dependencies {
  readonly appId: string
  readonly store: TokenStore.TokenStoreShape
  /** The endpoints, already retrying as the policy says. */
  readonly api: Endpoints
  readonly policy: RetryPolicy.RetryPolicy
  readonly refreshAfter: (openid: string, seenObtainedAt: number) => Effect.Effect<OAuthToken.OAuthToken, RefreshError>
  readonly tokenNotFound: (openid: string) => WeChatError.TokenNotFound
}

/** @internal */
export const make = ({ api, appId, policy, refreshAfter, store, tokenNotFound }: Dependencies) => {
  const skewMillis = Duration.toMillis(policy.refreshSkew)

  /** What follows a rejection of `token`: refresh it, and call once more with the new one. */
  const refreshing = (token: OAuthToken.OAuthToken, lang: UserInfo.Lang) => () =>
    Effect.flatMap(
      refreshAfter(token.openid, token.obtainedAt),
      (fresh) => api.userInfo(fresh.accessToken, fresh.openid, lang)
    )

  /** userinfo with `token`; when WeChat rejects the token, refresh it and call once more. */
  const userInfoRecovering = (token: OAuthToken.OAuthToken, lang: UserInfo.Lang) =>
    Effect.catchIf(api.userInfo(token.accessToken, token.openid, lang), policy.refreshOn, refreshing(token, lang))

  // The hot path, when the store reads in this process (the memory store) and the endpoints run on
  // core's lean client: a fresh token read in this step, and userinfo in the next, whose failure
  // resumes with the same retries and refresh as `userInfoRecovering` (no store effect, no catch
  // frame on the way to a success). Anything else takes the whole path below.
  const peek = peekOf(store)
  const userInfoThen = userInfoThenOf(api)
  const fastPath = (
    openid: string,
    lang: UserInfo.Lang,
    clock: Clock.Clock
  ): Effect.Effect<UserInfo.UserInfo, RefreshError> | undefined => {
    if (peek === undefined || userInfoThen === undefined) return undefined
    const now = clock.unsafeCurrentTimeMillis()
    const token = peek(appId, openid, now)
    if (token === undefined || !Freshness.isFreshWithin(token, now, skewMillis)) return undefined
    return userInfoThen(
      token,
      lang,
      (retried) => Effect.catchIf(retried, policy.refreshOn, refreshing(token, lang))
    )
  }

  /** With the calling fiber's `clock` (the caller has it at hand: one step less per call). */
  const getUser = (
    openid: string,
    lang: UserInfo.Lang,
    clock: Clock.Clock
  ): Effect.Effect<UserInfo.UserInfo, RefreshError> =>
    fastPath(openid, lang, clock) ?? getUserByStore(openid, lang, clock)

  const getUserByStore = (
    openid: string,
    lang: UserInfo.Lang,
    clock: Clock.Clock
  ): Effect.Effect<UserInfo.UserInfo, RefreshError> =>
    Effect.flatMap(store.get(appId, openid), (stored): Effect.Effect<UserInfo.UserInfo, RefreshError> => {
      if (Option.isNone(stored)) return Effect.fail(tokenNotFound(openid))
      const token = stored.value
      const now = clock.unsafeCurrentTimeMillis()
      // the skew is cut to half the token's life: a short-lived token is not refreshed on every call
      if (Freshness.isFreshWithin(token, now, skewMillis)) return userInfoRecovering(token, lang)
      const refreshed = refreshAfter(openid, token.obtainedAt)
      // within the skew the stored token still works: a busy WeChat does not fail the call
      const usable = token.isFresh(now)
        ? Effect.catchIf(refreshed, WeChatError.isRetryable, () => Effect.succeed(token))
        : refreshed
      return Effect.flatMap(usable, (fresh) => api.userInfo(fresh.accessToken, fresh.openid, lang))
    })

  /** False only when WeChat says the token is invalid (the refreshable kind); a busy WeChat is an error. */
  const verifyAccessToken = (openid: string): Effect.Effect<boolean, RefreshError> =>
    Effect.flatMap(store.get(appId, openid), (stored): Effect.Effect<boolean, RefreshError> =>
      Option.isNone(stored)
        ? Effect.fail(tokenNotFound(openid))
        : api.auth(stored.value.accessToken, stored.value.openid).pipe(
          Effect.as(true),
          Effect.catchIf(WeChatError.isRefreshable, () => Effect.succeed(false))
        ))

  return { getUser, userInfoRecovering, verifyAccessToken }
}
