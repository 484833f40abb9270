/**
 * A platform's tokens, all in the `AppTokenStore` under these keys (the stores' 64-character limit
 * is why appids are at most 45 characters here):
 *
 * - `component-ticket:<componentAppId>`: the last `component_verify_ticket` WeChat pushed
 *   (obtained at its `CreateTime`, valid 12 hours).
 * - `component-token:<componentAppId>`: the component access token.
 * - `authorizer-refresh:<appId>`: the refresh token of an app that authorized the platform
 *   (kept 10 years: it lasts until the app withdraws its authorization). Voided (with the app's
 *   access token) by the `unauthorized` push, and when WeChat refuses it with 61023 (`voidRefused`).
 * - `<appId>`: the authorized app's access token, which is that app's app token.
 *
 * The ticket and the refresh tokens cannot be fetched again (the next push, the administrator's
 * next authorization): the memory store never evicts them while valid (`keys.ts`).
 *
 * The component token and each authorizer token are `AppToken` services fed by a source of their
 * own, so they follow `AppToken`'s rules: single-flight in the process, one fetcher across
 * processes under the `RefreshLock`, refreshed in their last 5 minutes, re-fetched after WeChat
 * rejects them.
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import * as AppToken from "../../AppToken.js"
import * as AppTokenStore from "../../AppTokenStore.js"
import * as RefreshLock from "../../RefreshLock.js"
import type * as WeChatApi from "../../WeChatApi.js"
import * as WeChatConfig from "../../WeChatConfig.js"
import * as WeChatError from "../../WeChatError.js"
import * as OwnSource from "../appTokenSource.js"
import * as AppTokenStamp from "../appTokenStamp.js"
import * as Arguments from "../arguments.js"
import * as Bounded from "../boundedStore.js"
import * as Stamp from "../stamp.js"
import { type ComponentConfigShape, isAppId } from "./config.js"
import * as Keys from "./keys.js"

/** The keys, built in `keys.ts` (with the rule of which of them cannot be fetched again). @internal */
export const keys = Keys.keys

/** How long a ticket is valid after WeChat pushed it. @internal */
export const ticketLifetime = Duration.hours(12)

const refreshTokenLifetime = Duration.days(3650)

/**
 * The most authorizer token services kept at once (about 4 KB each: 4 MB at the cap); the least
 * recently used is dropped first, and rebuilt on its next use. @internal
 */
export const authorizerCapacity = 1_000

/** A kept authorizer token service unused this long (by the Clock) is dropped. @internal */
export const authorizerIdleMillis = Duration.toMillis(Duration.minutes(30))

/** What an authorization gave the platform. @internal */
export interface Authorization {
  readonly authorizerAppId: string
  /** The ids of the permission sets (`funcscope_category`) the app granted. */
  readonly funcInfo: ReadonlyArray<number>
}

/** @internal */
export interface Dependencies {
  readonly config: ComponentConfigShape
  readonly store: AppTokenStore.AppTokenStoreShape
  readonly lock: RefreshLock.RefreshLockShape
  /** The component endpoints, already retrying as the default policy says. */
  readonly api: WeChatApi.ComponentApiShape
  /** The HttpClient and Scope the token services are built with. */
  readonly context: Context.Context<HttpClient.HttpClient | Scope.Scope>
}

/** @internal */
export const make = ({ api, config, context, lock, store }: Dependencies) =>
  Effect.gen(function*() {
    const componentAppId = config.componentAppId
    const ticketKey = keys.ticket(componentAppId)
    const now = Clock.currentTimeMillis

    /**
     * The `WeChatConfig` an `AppToken` of the platform reads: `appId` names its store key and lock;
     * the source replaces every request it would make, so no secret is there to send, and it signs
     * no state.
     */
    const noSecret = Redacted.make("")
    const unusedStateSecret = Redacted.make(new Uint8Array(Crypto.randomBytes(32)))
    const tokenConfig = (key: string): WeChatConfig.WeChatConfigShape => ({
      appId: key,
      appSecret: noSecret,
      apiBaseUrl: config.apiBaseUrl,
      openBaseUrl: config.openBaseUrl,
      timeout: config.timeout,
      stateSecret: unusedStateSecret,
      stateTtl: Duration.minutes(10),
      cipherKeys: [],
      maxResponseBytes: config.maxResponseBytes
    })

    /**
     * The store as the platform's token services read it: a voided entry (the empty token
     * `unauthorized` writes) is no token, whatever its times say, so it is never served: the app
     * has no token until it authorizes again (`AuthorizerRefreshTokenInvalid`).
     */
    const live: AppTokenStore.AppTokenStoreShape = Bounded.markBounded({
      get: (key) => Effect.map(store.get(key), Option.filter((token) => Redacted.value(token.accessToken) !== "")),
      set: store.set
    }, "appTokenStore")

    /**
     * An `AppToken` over `source`, stored under `key`, sharing the platform's store, lock and client.
     * The sources are core's own, WeChat calls with their own deadlines: no `sourceTimeout` on them.
     */
    const tokenService = (key: string, source: AppToken.Source) =>
      AppToken.makeWith({ source: OwnSource.markBounded(source) }).pipe(
        Effect.provideService(WeChatConfig.WeChatConfig, tokenConfig(key)),
        Effect.provideService(AppTokenStore.AppTokenStore, live),
        Effect.provideService(RefreshLock.RefreshLock, lock),
        Effect.provide(context),
        // the only options are a source, a function
        Effect.orDie
      )

    const componentToken = yield* tokenService(
      keys.componentToken(componentAppId),
      () =>
        Effect.flatMap(store.get(ticketKey), (ticket) =>
          Option.isNone(ticket)
            ? Effect.fail(new WeChatError.ComponentTicketMissing({ componentAppId }))
            : Effect.map(api.componentToken(ticket.value.accessToken), (answer) => ({
              access_token: answer.component_access_token,
              expires_in: answer.expires_in
            })))
    )

    /**
     * Stores `token` under `key` in place of `stored` (the token read there before), obtained now,
     * valid `lifetimeMillis`. Stamped after `stored` when this machine's clock is behind it (a step
     * back, or another machine ahead wrote it; `AppTokenStamp.replacing`): stamped by the clock, a
     * re-authorization was dropped by the store (newer wins) and the app stayed locked out with
     * 61023, its only valid refresh token thrown away.
     */
    const put = (
      key: string,
      token: Redacted.Redacted<string>,
      lifetimeMillis: number,
      stored: Option.Option<AppTokenStore.AppAccessToken>
    ) =>
      Effect.flatMap(now, (at) =>
        store.set(key, AppTokenStamp.replacing(token, at, lifetimeMillis, Option.getOrUndefined(stored))))

    /** Stores `token` under `key` in place of whatever is there (read first, as the store has it). */
    const replace = (key: string, token: Redacted.Redacted<string>, lifetimeMillis: number) =>
      Effect.flatMap(store.get(key), (stored) =>
        put(key, token, lifetimeMillis, stored))

    /**
     * A void entry stamped `stamp`: the empty token, expired at its stamp, which `live` never serves
     * (`unauthorized`'s, stamped by `pushStamp`; a refused refresh token's, by `refusedStamp`).
     */
    const voidEntry = (stamp: number) =>
      new AppTokenStore.AppAccessToken({ accessToken: Redacted.make(""), obtainedAt: stamp, expiresAt: stamp })

    /**
     * When the void of `refused` (an entry WeChat refused) is stamped: just after it, as a replacing
     * write made at its own stamp (`Stamp.after`). So it replaces that entry and nothing written
     * after it: every write made after reading it (a rotation, a re-authorization: `put`) is
     * stamped after it too, whatever this machine's clock says, so the store keeps that write (on a
     * tie the last write wins). A `queryAuth` after the void reads it and is stamped after it, or
     * finds it hidden as expired (it expires at its stamp) and is stamped by a clock past it: it
     * wins either way.
     */
    const refusedStamp = (refused: AppTokenStore.AppAccessToken) => Stamp.after(refused.obtainedAt, refused)

    /**
     * Whether `key` still holds `entry` (its value and stamp), read again now from the store: no
     * write (a void, a re-authorization, another process's rotation) landed there since `entry` was
     * read.
     */
    const stillHolds = (key: string, entry: AppTokenStore.AppAccessToken) =>
      Effect.map(store.get(key), (stored) => Option.isSome(stored) && sameEntry(stored.value, entry))

    /** Whether two entries are the same write: the same value and stamp. */
    const sameEntry = (a: AppTokenStore.AppAccessToken, b: AppTokenStore.AppAccessToken) =>
      a.obtainedAt === b.obtainedAt && Redacted.value(a.accessToken) === Redacted.value(b.accessToken)

    /**
     * Voids `key` if it still holds `refused` (`stillHolds`); whether it did.
     * The store has no compare-and-set: a write landing between this read and the void is kept by
     * `refusedStamp` unless stamped exactly 1 ms after `refused` (its writer's clock behind).
     */
    const voidIfStill = (key: string, refused: AppTokenStore.AppAccessToken) =>
      Effect.flatMap(stillHolds(key, refused), (holds) =>
        holds
          ? Effect.as(store.set(key, voidEntry(refusedStamp(refused))), true)
          : Effect.succeed(false))

    const refreshLifetime = Duration.toMillis(refreshTokenLifetime)

    const noRefreshToken = new WeChatError.AuthorizerRefreshTokenInvalid({
      errcode: 61023,
      errmsg: "no authorizer refresh token is stored for this app: it has not authorized the platform, or it withdrew",
      endpoint: "api_authorizer_token"
    })

    /** WeChat's 61023 for a refresh token sent to `api_authorizer_token`: that token is dead. */
    const isRefused = (error: { readonly _tag: string }): error is WeChatError.AuthorizerRefreshTokenInvalid =>
      error._tag === "AuthorizerRefreshTokenInvalid" &&
      (error as WeChatError.AuthorizerRefreshTokenInvalid).errcode === 61023

    /**
     * After WeChat refused the refresh token `refused` (61023): the app's refresh token is void, and
     * with it the access token `access` read with it (not fresh, or rejected: the only reasons the
     * source runs), so the next calls fail here (`noRefreshToken`), with no request, until the app
     * authorizes again (`queryAuth`). Each key is voided only if it still holds the very entry read
     * before the request (value and stamp, read again now): a refresh token stored meanwhile (a
     * re-authorization, which takes no lock; a rotation by a process on another lock, or after the
     * lock's bound) is newer and kept, and so is the access token when the refresh token changed. A
     * void that cannot be written is left: the next call asks WeChat again, as before. The caller
     * gets WeChat's refusal either way.
     */
    const voidRefused = (
      appId: string,
      refused: AppTokenStore.AppAccessToken,
      access: Option.Option<AppTokenStore.AppAccessToken>
    ) =>
      Effect.gen(function*() {
        if (!(yield* voidIfStill(keys.authorizerRefresh(appId), refused))) {
          return
        }
        if (Option.isSome(access)) {
          yield* voidIfStill(appId, access.value)
        }
        yield* Effect.logWarning(
          "wxauth: WeChat refused the app's authorizer refresh token (61023); its tokens are void until it authorizes the platform again"
        ).pipe(Effect.annotateLogs({ appId }))
      }).pipe(Effect.ignore)

    const changedInFlight = new WeChatError.AuthorizerRefreshTokenInvalid({
      errcode: 61023,
      errmsg:
        "the app's authorizer refresh token was replaced while each of two renewals was in flight (the app authorized the platform again, or withdrew): nothing was stored; try again",
      endpoint: "api_authorizer_token"
    })

    const rotatedAfterVoid = new WeChatError.AuthorizerRefreshTokenInvalid({
      errcode: 61023,
      errmsg:
        "the app's authorizer refresh token was voided while this renewal was in flight (WeChat refused it to another renewal, or the app withdrew): the rotated refresh token WeChat answered was stored, no access token; the next call tries it",
      endpoint: "api_authorizer_token"
    })

    /**
     * The app's token, renewed with its stored refresh token. WeChat's answer is used only if the
     * refresh token the request sent is still the stored one when it arrives (`stillHolds`):
     * - void or gone meanwhile (an `unauthorized` push, or another process's 61023 for the same
     *   token, `voidRefused`): no access token is written (the source fails, so `AppToken` writes
     *   none); the call fails with `noRefreshToken`, or, when the answer rotated the refresh token,
     *   with `rotatedAfterVoid` after storing the rotated one (it may be the app's only live one;
     *   after a withdrawal WeChat refuses it on its next use);
     * - replaced by a live one (a re-authorization, another process's rotation): that one is the
     *   app's current token, and the renewal is made again, once, with it (replaced again: the
     *   call fails, `changedInFlight`). A 61023 for a token replaced meanwhile is renewed the same way.
     * The store has no compare-and-set: a push landing in the short window between this check and
     * the writes (a store read and write, no request) is still replaced by them.
     */
    const authorizerSource = (appId: string): AppToken.Source => () => renewAuthorizer(appId, true)

    const renewAuthorizer = (
      appId: string,
      again: boolean
    ): ReturnType<AppToken.Source> =>
      Effect.gen(function*() {
        const refreshKey = keys.authorizerRefresh(appId)
        const stored = yield* live.get(refreshKey)
        if (Option.isNone(stored)) {
          return yield* Effect.fail(noRefreshToken)
        }
        // the access token it renews (for `voidRefused`): not fresh, or rejected by WeChat
        const access = yield* live.get(appId)
        const refreshToken = stored.value.accessToken
        const outcome = yield* componentToken.withToken((token) => api.authorizerToken(token, appId, refreshToken))
          .pipe(
            Effect.map((answer) => ({ answer })),
            Effect.catchIf(isRefused, (refused) =>
              Effect.zipRight(
                voidRefused(appId, stored.value, access),
                // a live refresh token stored meanwhile (a re-authorization, another process's
                // rotation) is not voided: the renewal is made once more with it, as below
                Effect.flatMap(
                  again
                    ? Effect.orElseSucceed(live.get(refreshKey), () => Option.none())
                    : Effect.succeed(Option.none()),
                  (current) =>
                    Option.isSome(current) && !sameEntry(current.value, stored.value)
                      ? Effect.map(renewAuthorizer(appId, false), (renewed) => ({ renewed }))
                      : Effect.fail(refused)
                )
              ))
          )
        if ("renewed" in outcome) return outcome.renewed
        const answer = outcome.answer
        const next = answer.authorizer_refresh_token
        const rotated = next !== undefined && Redacted.value(next) !== Redacted.value(refreshToken)
        if (!(yield* stillHolds(refreshKey, stored.value))) {
          if (Option.isNone(yield* live.get(refreshKey))) {
            // void (or gone) meanwhile: an `unauthorized` push, or WeChat refused the token this
            // request sent to another process's request (61023, `voidRefused`) because it rotated
            // it for this one. Then the rotated token is the app's only live refresh token, so it
            // is stored, stamped after the entry read before the request (so after that void), and
            // nothing else: this call fails as after a withdrawal. After a real withdrawal WeChat
            // refuses the rotated token on its next use and it is voided again (one request).
            if (rotated) {
              yield* put(refreshKey, next, refreshLifetime, stored)
              return yield* Effect.fail(rotatedAfterVoid)
            }
            return yield* Effect.fail(noRefreshToken)
          }
          if (again) return yield* renewAuthorizer(appId, false)
          return yield* Effect.fail(changedInFlight)
        }
        if (rotated) {
          yield* put(refreshKey, next, refreshLifetime, stored)
        }
        return { access_token: answer.authorizer_access_token, expires_in: answer.expires_in }
      })

    // built on first use, one per app; the semaphore keeps it to one even when callers race. Kept
    // while used: at most `authorizerCapacity` (the least recently used go first) and none idle
    // longer than `authorizerIdleMillis` by the Clock. A service holds no state of its own (its
    // tokens are in the store, its fetches in their own fibers), so one dropped is rebuilt on the
    // next use, and a caller still holding it keeps a working service.
    const authorizers = new Map<string, { readonly service: AppToken.AppTokenShape; usedAt: number }>()
    const building = yield* Effect.makeSemaphore(1)
    /** Drops the services idle too long: the oldest use is first (each use moves its app last). */
    const sweep = (at: number) => {
      for (const [appId, entry] of authorizers) {
        if (at - entry.usedAt < authorizerIdleMillis) break
        authorizers.delete(appId)
      }
    }
    /** The kept service of `appId`, now the most recently used, if any. */
    const kept = (appId: string, at: number): AppToken.AppTokenShape | undefined => {
      const entry = authorizers.get(appId)
      if (entry === undefined) return undefined
      authorizers.delete(appId)
      entry.usedAt = at
      authorizers.set(appId, entry)
      return entry.service
    }
    const appToken = (appId: string): Effect.Effect<AppToken.AppTokenShape, WeChatError.InvalidArgument> =>
      Effect.suspend(() => {
        if (!isAppId(appId)) {
          return Effect.fail(
            new WeChatError.InvalidArgument({
              argument: "appId",
              description: "must be 1 to 45 characters of [A-Za-z0-9_-]"
            })
          )
        }
        return Effect.flatMap(now, (at) => {
          sweep(at)
          const service = kept(appId, at)
          if (service !== undefined) return Effect.succeed(service)
          return building.withPermits(1)(Effect.suspend(() => {
            const again = kept(appId, at)
            if (again !== undefined) return Effect.succeed(again)
            return Effect.map(tokenService(appId, authorizerSource(appId)), (built) => {
              authorizers.set(appId, { service: built, usedAt: at })
              for (const oldest of authorizers.keys()) {
                if (authorizers.size <= authorizerCapacity) break
                authorizers.delete(oldest)
              }
              return built
            })
          }))
        })
      })

    const malformed = (description: string) =>
      new WeChatError.MalformedResponse({ endpoint: "api_query_auth", description })

    /** An authorization code for the authorizer's tokens, stored; what the app granted. */
    const queryAuth = (
      authorizationCode: string | Redacted.Redacted<string>
    ): Effect.Effect<Authorization, AppToken.AppTokenError> =>
      Effect.suspend(() => {
        // never a throw: a Proxy or an object posing as Redacted is not a code
        const code = Arguments.secretText(authorizationCode)
        if (code === undefined || !/^[\x21-\x7e]{1,512}$/.test(code)) {
          return Effect.fail(
            new WeChatError.InvalidArgument({
              argument: "authorizationCode",
              description: "must be 1 to 512 printable characters (or a Redacted string of them)"
            })
          )
        }
        return Effect.gen(function*() {
          const answer = yield* componentToken.withToken((token) => api.queryAuth(token, code))
          const info = answer.authorization_info
          const appId = info.authorizer_appid
          if (!isAppId(appId)) return yield* Effect.fail(malformed("the authorizer appid is longer than 45 characters"))
          yield* replace(keys.authorizerRefresh(appId), info.authorizer_refresh_token, refreshLifetime)
          yield* replace(appId, info.authorizer_access_token, info.expires_in * 1000)
          return {
            authorizerAppId: appId,
            funcInfo: info.func_info.map((entry) => entry.funcscope_category.id)
          } satisfies Authorization
        })
      })

    /**
     * When a pushed entry sent at `at` (WeChat's `CreateTime`) is stamped, in place of `stored`: at
     * `at`, but never after the stamp a replacing write would get now (`Stamp.after`: the Clock's
     * now, or just after `stored` when the clock is behind it). So no push dates an entry ahead of
     * both the clock and what is stored (a ticket that pins the store, a void token that outlives a
     * later authorization), a push sent before the stored entry (a retry delivered late) is still
     * older than it, and one sent after it replaces it even when this machine's clock has stepped
     * back behind it (clamped to the clock alone, it was dropped: a withdrawn app kept its tokens,
     * a new ticket was lost).
     */
    const pushStamp = (at: number, current: number, stored: Option.Option<AppTokenStore.AppAccessToken>) =>
      Math.min(at, Stamp.after(current, Option.getOrUndefined(stored)))

    /**
     * After `unauthorized` (sent at `at`): the app's refresh and access tokens are void from then on:
     * an empty token, already expired. The refresh key's void is stamped by `pushStamp` against what
     * it holds (a later authorization wins). The access key's void replaces whatever access token is
     * stored when the push is handled: one stamped after `at` may still be the withdrawn app's (a
     * renewal WeChat answered before the withdrawal, stored after it: `CreateTime` is in whole
     * seconds and the answer travels), and it was served up to 2 hours. Stamped just after the
     * stored one, or at `at` when there is none, never after the stamp a replacing write would get
     * now. Voiding the access token of a re-authorization that came before a late push only costs a
     * renewal: its refresh token, stamped after `at`, is kept.
     */
    const forget = (appId: string, at: number) =>
      Effect.flatMap(now, (current) =>
        Effect.zipRight(
          Effect.flatMap(
            store.get(keys.authorizerRefresh(appId)),
            (stored) => store.set(keys.authorizerRefresh(appId), voidEntry(pushStamp(at, current, stored)))
          ),
          Effect.flatMap(store.get(appId), (stored) =>
            store.set(
              appId,
              voidEntry(Math.min(
                Stamp.after(current, Option.getOrUndefined(stored)),
                Option.match(stored, { onNone: () => at, onSome: (entry) => Math.max(at, entry.obtainedAt + 1) })
              ))
            ))
        ))

    /**
     * A pushed ticket, stored as obtained at its `CreateTime` (stamped by `pushStamp`): an older push
     * never replaces a newer ticket, no push can date one ahead to pin the store, and a newer one
     * replaces the stored ticket even when this machine's clock is behind it. Valid 12 hours from
     * its `CreateTime` (never after the Clock's now) by this clock, and never expiring at its stamp.
     */
    const storeTicket = (ticket: Redacted.Redacted<string>, createdAt: number) =>
      Effect.flatMap(Effect.zip(now, store.get(ticketKey)), ([current, stored]) => {
        const stamp = pushStamp(createdAt, current, stored)
        return store.set(
          ticketKey,
          new AppTokenStore.AppAccessToken({
            accessToken: ticket,
            obtainedAt: stamp,
            expiresAt: Stamp.expiresAt(Math.min(createdAt, current), Duration.toMillis(ticketLifetime), stamp)
          })
        )
      })

    return { appToken, componentToken, forget, queryAuth, storeTicket }
  })
