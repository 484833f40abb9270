/**
 * Refreshing a user's token: single-flight in this process, one refresher across processes through
 * the `RefreshLock`, the re-read of the store under the lock (another worker may have refreshed
 * already), and WeChat's answer stored under the user's write key only while the store still holds
 * the token refreshed (a consent may have landed during the WeChat call).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as OAuthToken from "../../OAuthToken.js"
import type * as RefreshLock from "../../RefreshLock.js"
import type * as TokenStore from "../../TokenStore.js"
import * as WeChatError from "../../WeChatError.js"
import type { RefreshError } from "../../WeChatOAuth.js"
import * as Bounded from "../boundedStore.js"
import * as Deadline from "../deadline.js"
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
   * Whether the store, read again, still holds `read` (the token a refresh started from): the same
   * stamp and access token. Anything else (a consent, another writer, a removal) landed meanwhile.
   */
  const stillHolds = (latest: Option.Option<OAuthToken.OAuthToken>, read: OAuthToken.OAuthToken): boolean =>
    Option.isSome(latest) && latest.value.obtainedAt === read.obtainedAt &&
    Redacted.value(latest.value.accessToken) === Redacted.value(read.accessToken)

  /**
   * The store read again under the user's write key, within `storeDeadline` (10 s) whatever the
   * store's own deadline: a store marked bounded by a longer deadline of its own (compat's hooks and
   * their `hookTimeout`, 30 s by default) whose read never answered held the key past a consent's
   * wait for it (`consentWait`, 25 s). A read has no side effect: cut, it fails the refresh and
   * releases the key with nothing pending. The save or removal that follows is not cut here: it
   * runs to the store's own deadline while holding the key, for cut in the background it would keep
   * running with the key released, and a consent waiting for the key would write first and be
   * replaced by it (a save slow but not hung, 15 s: the older grant's token stayed stored).
   */
  const rereadUnderWriteKey = (openid: string) =>
    Deadline.within(store.get(appId, openid), Bounded.storeDeadline, () =>
      new WeChatError.TokenStoreError({
        operation: "get",
        description: `the store did not answer within ${Bounded.storeDeadlineText} under the user's write key`
      }))

  /**
   * A refresh's change to the stored token, made only while the store still holds `read` (the token
   * the refresh started from): the store read again and `change` (or `otherwise`, with what the
   * store holds now) run under the user's write key (writeLock.ts), as a consent's read and write
   * do, so a consent cannot land between them. The read there is cut at 10 s (`rereadUnderWriteKey`);
   * `change` runs to the store's own deadline, holding the key (10 s for a store core bounds; on a
   * store whose own deadline is longer, a save or removal slower than about 25 s lets a waiting
   * consent write first: see writeLock.ts's `consentWait`).
   * Waited for `writeWait` at most: a consent whose store write is itself refreshing this user (a
   * compat hook calling `getUser`) holds it until this refresh ends; past the wait,
   * `RefreshLockTimeout` (logged with its likely causes and `outcome`, what the caller does then),
   * and the caller decides without the store.
   */
  const whileStillHolds = <A, E>(
    openid: string,
    read: OAuthToken.OAuthToken,
    change: Effect.Effect<A, E>,
    otherwise: (latest: Option.Option<OAuthToken.OAuthToken>) => Effect.Effect<A, E>,
    outcome: string
  ) =>
    WriteLock.refreshWithin(
      lock,
      appId,
      openid,
      Effect.flatMap(
        rereadUnderWriteKey(openid),
        (latest) => stillHolds(latest, read) ? change : otherwise(latest)
      ),
      outcome
    )

  /**
   * WeChat rejected the refresh token: remove the stored token, unless a new consent stored another
   * meanwhile. Past the write key's wait the token is left, for the consent holding the key replaces
   * it (or the next refresh, rejected again, removes it). Each outcome is logged as what happened:
   * the store asked to remove the token only once its `remove` answered (a store may keep it: compat's
   * hooks have no remove), nothing removed when the store no longer holds the rejected token, the key's wait logged by `refreshWithin`.
   */
  const forget = (openid: string, rejected: OAuthToken.OAuthToken, error: EndpointFailure) => {
    const errcode = "errcode" in error ? error.errcode : undefined
    return whileStillHolds(
      openid,
      rejected,
      Effect.zipRight(
        store.remove(appId, openid),
        Effect.logInfo("wxauth: the refresh token was rejected; the store was asked to remove the stored token").pipe(
          Effect.annotateLogs({ appId, errcode })
        )
      ),
      () =>
        Effect.logInfo(
          "wxauth: the refresh token was rejected; the store no longer holds it (a new login, or a removal): nothing is removed"
        ).pipe(Effect.annotateLogs({ appId, errcode })),
      "the refresh token was rejected; the stored token is left"
    ).pipe(
      Effect.catchAll((failure) =>
        failure._tag === "RefreshLockTimeout"
          ? Effect.void // logged by whileStillHolds
          : Effect.logWarning("wxauth: could not remove a token WeChat rejected").pipe(
            Effect.annotateLogs({ appId, error: failure.description })
          )
      ),
      // the WeChat error stands either way: the user must authorize again
      Effect.zipRight(Effect.fail(error))
    )
  }

  /**
   * WeChat's refreshed token, stored unless a consent (or another writer) replaced `read` during the
   * WeChat call: then the stored token is the answer (a consent's, maybe with a scope granted since;
   * stamped before this one, it would have lost to it), and nothing is written; a token removed
   * meanwhile (a log out) is `TokenNotFound`. Past the write key's wait, the refreshed token is the
   * answer, not stored, with a warning: writing without the key could replace a consent, failing
   * would refuse a login whose store write refreshes this user (the consent holding the key, which
   * replaces the token anyway); the stored refresh token still works, so the next call refreshes
   * again.
   */
  const storeRefreshed = (
    openid: string,
    read: OAuthToken.OAuthToken,
    refreshed: OAuthToken.OAuthToken
  ): Effect.Effect<OAuthToken.OAuthToken, RefreshError> => {
    let settled: OAuthToken.OAuthToken | undefined
    const settle = (answer: Effect.Effect<OAuthToken.OAuthToken, RefreshError>) =>
      Effect.tap(answer, (token) => Effect.sync(() => settled = token))
    return whileStillHolds(
      openid,
      read,
      settle(Effect.as(store.set(appId, refreshed), refreshed)),
      (latest) => settle(Option.isSome(latest) ? Effect.succeed(latest.value) : Effect.fail(tokenNotFound(openid))),
      "WeChat's refreshed token answered, not stored"
    ).pipe(
      Effect.catchTag("RefreshLockTimeout", () =>
        // settled under the key already (a lock that failed after running it): that answer stands;
        // else the refreshed token, unstored (logged by whileStillHolds)
        Effect.succeed(settled ?? refreshed))
    )
  }

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
                  (token) => storeRefreshed(openid, current, token)
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
