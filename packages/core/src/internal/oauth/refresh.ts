/**
 * Refreshing a user's token: single-flight in this process, one refresher across processes through
 * the `RefreshLock`, and the re-read of the store under the lock (another worker may have refreshed
 * already).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as OAuthToken from "../../OAuthToken.js"
import type * as RefreshLock from "../../RefreshLock.js"
import type * as TokenStore from "../../TokenStore.js"
import * as WeChatError from "../../WeChatError.js"
import type { RefreshError } from "../../WeChatOAuth.js"
import * as Bounded from "../boundedStore.js"
import { refreshesTotal } from "../metrics.js"
import * as SingleFlight from "../singleFlight.js"
import type { EndpointFailure, Endpoints } from "./endpoints.js"
import * as WriteLock from "./writeLock.js"

/** @internal */
export interface Dependencies {
  readonly appId: string
  readonly store: TokenStore.TokenStoreShape
  /** The endpoints, already retrying as the policy says. */
  readonly api: Endpoints
  readonly lock: RefreshLock.RefreshLockShape
  readonly scope: Scope.Scope
}

/** @internal */
export const make = ({ api, appId, lock, scope, store }: Dependencies) => {
  const tokenNotFound = (openid: string) => new WeChatError.TokenNotFound({ appId, openid })
  const anotherOpenid = new WeChatError.MalformedResponse({
    endpoint: "refresh_token",
    description: "the answer is for another openid"
  })
  const refreshes = SingleFlight.make<OAuthToken.OAuthToken, RefreshError>(scope)

  /**
   * WeChat rejected the refresh token: remove the stored token, unless a new consent stored another
   * meanwhile. The read and the removal run under the user's write key (writeLock.ts), as a consent's
   * read and write do, so a consent cannot land between them; waited for `writeWait` at most (a
   * consent whose store write is itself refreshing this user, a compat hook calling `getUser`, holds
   * it until this refresh ends): past it the token is left, for the consent holding the key replaces
   * it (or the next refresh, rejected again, removes it).
   */
  const forget = (openid: string, rejected: OAuthToken.OAuthToken, error: EndpointFailure) =>
    Bounded.withLockWithin(
      lock,
      WriteLock.key(appId, openid),
      WriteLock.writeWait,
      store.get(appId, openid).pipe(
        Effect.flatMap((latest) =>
          Option.isSome(latest) && latest.value.obtainedAt === rejected.obtainedAt
            ? store.remove(appId, openid)
            : Effect.void
        )
      )
    ).pipe(
      Effect.zipRight(
        Effect.logInfo("wxauth: the refresh token was rejected; the stored token is removed").pipe(
          Effect.annotateLogs({ appId, errcode: "errcode" in error ? error.errcode : undefined })
        )
      ),
      Effect.catchAll((failure) =>
        failure._tag === "RefreshLockTimeout"
          ? Effect.logWarning(
            "wxauth: the refresh token was rejected; the user's write lock was busy, the stored token is left"
          ).pipe(Effect.annotateLogs({ appId, waitedMillis: failure.waitedMillis }))
          : Effect.logWarning("wxauth: could not remove a token WeChat rejected").pipe(
            Effect.annotateLogs({ appId, error: failure.description })
          )
      ),
      // the WeChat error stands either way: the user must authorize again
      Effect.zipRight(Effect.fail(error))
    )

  const refreshLocked = (openid: string, seenObtainedAt: number): Effect.Effect<OAuthToken.OAuthToken, RefreshError> =>
    lock.withLock(
      `${appId}:${openid}`,
      Effect.flatMap(store.get(appId, openid), (stored): Effect.Effect<OAuthToken.OAuthToken, RefreshError> => {
        if (Option.isNone(stored)) return Effect.fail(tokenNotFound(openid))
        const current = stored.value
        // another worker refreshed while this one waited for the lock
        if (current.obtainedAt > seenObtainedAt) return Effect.succeed(current)
        return api.refreshToken(current.refreshToken).pipe(
          Effect.tap(() => Effect.sync(() => refreshesTotal.unsafeUpdate(1, []))),
          Effect.catchIf(WeChatError.requiresReauthorization, (error) => forget(openid, current, error)),
          Effect.flatMap((response): Effect.Effect<OAuthToken.OAuthToken, RefreshError> =>
            // never store one user's token under another's openid
            response.openid !== current.openid
              ? Effect.fail(anotherOpenid)
              : Effect.flatMap(Clock.currentTimeMillis, (now) =>
                Effect.flatMap(
                  OAuthToken.fromResponse(response, now, current),
                  (token) => Effect.as(store.set(appId, token), token)
                ))
          )
        )
      })
    ).pipe(Effect.withSpan("WeChatOAuth.refresh", { captureStackTrace: false }))

  /**
   * Refreshes unless the stored token is newer than `seenObtainedAt` (another worker refreshed).
   * Callers in this process that saw the same token share one run; across processes the
   * `RefreshLock` and the re-read of the store keep it to one request.
   */
  const refreshAfter = (openid: string, seenObtainedAt: number): Effect.Effect<OAuthToken.OAuthToken, RefreshError> =>
    refreshes.run(`${openid}\u0000${seenObtainedAt}`, refreshLocked(openid, seenObtainedAt))

  const refresh = (openid: string): Effect.Effect<OAuthToken.OAuthToken, RefreshError> =>
    Effect.flatMap(
      store.get(appId, openid),
      (stored): Effect.Effect<OAuthToken.OAuthToken, RefreshError> =>
        Option.isNone(stored)
          ? Effect.fail(tokenNotFound(openid))
          : refreshAfter(openid, stored.value.obtainedAt)
    )

  return { refresh, refreshAfter, tokenNotFound }
}
