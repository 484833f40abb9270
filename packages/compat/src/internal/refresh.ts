/**
 * The default `refreshAccessToken(refreshToken)`, with no refresh path of its own beside core's:
 *
 * - Called by `getUser` (directly, or through an override that calls the default synchronously),
 *   compat knows whose stored token the refresh token came from (a hint, see `withHint`): core's
 *   `WeChatOAuth.refreshAfter(oauth, openid, seen.obtainedAt)` refreshes it (single-flight per
 *   user and token read in this process, the `RefreshLock` across processes, the store re-read
 *   under the lock), unless the store already holds a newer token than the one `getUser` read
 *   (another caller refreshed meanwhile). Keyed on the token `getUser` read, as core's own getUser
 *   is: `refresh(openid)` keys on its own later read of the store, so a caller whose `getToken`
 *   read came before another caller's refresh was saved, and that read came after, refreshed again.
 * - Called with a refresh token alone (the app's own call), the refresh is single-flight per refresh
 *   token (keyed by its SHA-256) under the `RefreshLock` key `<appId>:refresh_token:<hash>`. WeChat's
 *   answer is what the call answers, and it is stored (`saveToken`) only if the user's stored token
 *   is absent or holds this refresh token: under the user's write key (`RefreshLock.withWriteKey`,
 *   as core's own refreshes and consents), the store is read again, so a consent (a new login, with
 *   a refresh token of its own) that landed during the WeChat call stays stored. The read there gets
 *   10 s at most (a login waits 25 s for the key), and a read that fails or times out there leaves
 *   the answer unsaved; the save runs to its own deadline (`hookTimeout`), holding the key.
 * - Called by `getUser` for a stored token without refresh token, WeChat is asked as `wechat-oauth`
 *   asked it, with an empty `refresh_token`, and WeChat's answer (41003, "refresh_token missing") is
 *   the error.
 *
 * @internal
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import {
  OAuthToken,
  RefreshLock,
  TokenStore,
  WeChatApi,
  WeChatConfig,
  WeChatError,
  WeChatHttpClient,
  WeChatOAuth
} from "@wxauth/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"
import * as SingleFlight from "./singleFlight.js"
import type * as StoredRecord from "./storedToken.js"

/**
 * What `getUser` knows when it calls `this.refreshAccessToken(refreshToken)`: the user, and the
 * stored token it read.
 *
 * @internal
 */
export interface Hint {
  readonly refreshToken: unknown
  readonly openid: string
  readonly seen: StoredRecord.Stored
}

const hints = new WeakMap<object, Hint>()

/**
 * Runs `f` (the synchronous call of `this.refreshAccessToken`) with `hint` in place for `self`: the
 * default method reads it when it is called with the same refresh token, also through an override
 * that calls it (a spy, `super.refreshAccessToken(...)`).
 *
 * @internal
 */
export const withHint = <A>(self: object, hint: Hint, f: () => A): A => {
  const previous = hints.get(self)
  hints.set(self, hint)
  try {
    return f()
  } finally {
    if (previous === undefined) hints.delete(self)
    else hints.set(self, previous)
  }
}

/**
 * The hint in place for `self`, when `refreshToken` is the one it was given for.
 *
 * @internal
 */
export const hintFor = (self: object, refreshToken: unknown): Hint | undefined => {
  const hint = hints.get(self)
  return hint !== undefined && Object.is(hint.refreshToken, refreshToken) ? hint : undefined
}

/** @internal */
export interface RefresherShape {
  /** Refreshes as the module's header says; `text` is the refresh token, checked by the caller. */
  readonly byRefreshToken: (text: string) => Effect.Effect<OAuthToken.OAuthToken, unknown>
  readonly fromHint: (hint: Hint) => Effect.Effect<OAuthToken.OAuthToken, unknown>
}

/** @internal */
export class Refresher extends Context.Tag("@wxauth/compat/internal/Refresher")<Refresher, RefresherShape>() {}

const endpoint = "refresh_token"

const transportError = (error: HttpClientError.HttpClientError) => {
  const cause = WeChatHttpClient.toTransportCause(error)
  return cause.code === "WXAUTH_RESPONSE_TOO_LARGE"
    ? new WeChatError.MalformedResponse({ endpoint, description: "the answer is too large" })
    : new WeChatError.TransportError({
      endpoint,
      reason: cause.kind,
      phase: cause.phase,
      description: cause.message,
      cause
    })
}

/**
 * How long the re-read of the stored token (a `getToken` call, with hooks) under the user's write
 * key may take: core's store deadline (10 s); `hookTimeout` still applies when it is shorter. With
 * the 30 s `hookTimeout`, a `getToken` that never answered held the key past a login's wait for it
 * (25 s): the login stored its token without it, and the refresh's save, 5 s later, replaced it.
 */
const rereadDeadline = Duration.seconds(10)

/**
 * `effect` (the re-read under the user's write key), failing with the store's error past
 * `rereadDeadline`; it runs in a fiber of its own, cut in the background at the deadline (from an
 * uninterruptible region too, as core's deadlines are). Only the read is cut: it has no side effect,
 * so the key is released with nothing pending. The save is not: cut in the background, a save slow
 * but not hung (15 s) kept running with the key released, a waiting login saved first, and the
 * refresh's save then replaced the login's token.
 */
const rereadUnderWriteKey = <A>(
  effect: Effect.Effect<A, WeChatError.TokenStoreError>
): Effect.Effect<A, WeChatError.TokenStoreError> =>
  Effect.disconnect(
    Effect.timeoutFail(Effect.interruptible(Effect.disconnect(effect)), {
      duration: rereadDeadline,
      onTimeout: () =>
        new WeChatError.TokenStoreError({
          operation: "get",
          description: "the store did not answer within 10 seconds under the user's write key"
        })
    })
  )

/** An `errmsg` fit for an error: text only, no control characters, at most 200 characters. */
const errmsgOf = (errmsg: unknown): string => {
  if (typeof errmsg !== "string") return ""
  // eslint-disable-next-line no-control-regex
  const text = errmsg.slice(0, 1000).replace(/[\u0000-\u001f\u007f]/g, " ")
  return text.length > 200 ? `${text.slice(0, 197)}...` : text
}

/**
 * The refresher of a client's services. `readsPrevious()`: the store keeps the previous token (the
 * client's own store, or a `tokenStore`), whose refresh token's life a refresh of the same grant
 * keeps; the hooks do not keep it, so they are not asked.
 *
 * @internal
 */
export const layer = (options: {
  readonly readsPrevious: () => boolean
}): Layer.Layer<
  Refresher,
  never,
  | WeChatOAuth.WeChatOAuth
  | WeChatApi.WeChatApi
  | TokenStore.TokenStore
  | WeChatConfig.WeChatConfig
  | RefreshLock.RefreshLock
  | HttpClient.HttpClient
> =>
  Layer.scoped(
    Refresher,
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const api = yield* WeChatApi.WeChatApi
      const store = yield* TokenStore.TokenStore
      const config = yield* WeChatConfig.WeChatConfig
      const lock = yield* RefreshLock.RefreshLock
      const client = yield* HttpClient.HttpClient
      const flights = SingleFlight.make<OAuthToken.OAuthToken, unknown>(yield* Effect.scope)
      const appId = config.appId
      const limits = {
        timeoutMillis: Duration.toMillis(config.timeout),
        maxResponseBytes: config.maxResponseBytes
      }

      /**
       * WeChat's answer to a refresh of `text`, stored unless the user's stored token is another grant's
       * (a consent that landed during the WeChat call, with a refresh token of its own): the store is
       * read again under the user's write key, so no consent lands between that read and the write.
       * The read there is cut at 10 s (`rereadUnderWriteKey`). A stored token that cannot be read there
       * (a `getToken` that fails or does not answer in time) leaves the store as it is: the answer is
       * not stored, with a warning (saving it blindly could replace a login's token). The save runs to
       * the store's own deadline (`hookTimeout`, 30 s by default) holding the key, so a waiting login
       * saves after it; a save slower than about 25 s lets the login save first (its wait ends), and
       * may then replace its token. Past the key's wait (a consent holds it and writes the newer
       * token), the answer is not stored, with a warning. WeChat's answer is the answer either way.
       */
      const storeUnlessReplaced = (text: string, response: WeChatApi.TokenResponse, now: number) =>
        Effect.gen(function*() {
          const read = yield* Effect.either(rereadUnderWriteKey(store.get(appId, response.openid)))
          if (read._tag === "Left") {
            yield* Effect.logWarning(
              "wxauth: could not read the stored token before storing a refreshed one; the refreshed token is answered, not saved"
            ).pipe(Effect.annotateLogs({ appId, error: read.left.description }))
            return yield* OAuthToken.fromResponse(response, now)
          }
          const stored = Option.getOrUndefined(read.right)
          if (stored !== undefined && Redacted.value(stored.refreshToken) !== text) {
            // another grant is stored: a consent since the refresh token was read; it stays
            return yield* OAuthToken.fromResponse(response, now)
          }
          // the previous token tells the refresh token's life, when it is the same grant's
          const sameGrant = stored !== undefined && options.readsPrevious() &&
            Redacted.value(stored.refreshToken) === Redacted.value(response.refresh_token)
          const token = yield* OAuthToken.fromResponse(response, now, sameGrant ? stored : undefined)
          yield* store.set(appId, token)
          return token
        })

      const byRefreshToken = (text: string): Effect.Effect<OAuthToken.OAuthToken, unknown> => {
        const hash = Crypto.createHash("sha256").update(`${appId}\u0000${text}`).digest("hex")
        const refresh = Effect.gen(function*() {
          const response = yield* api.refreshToken(Redacted.make(text))
          const now = yield* Clock.currentTimeMillis
          return yield* RefreshLock.withWriteKey(
            { lock, appId, openid: response.openid },
            storeUnlessReplaced(text, response, now)
          ).pipe(
            // answered unsaved; withWriteKey logged the wait and its likely causes
            Effect.catchTag("RefreshLockTimeout", () => OAuthToken.fromResponse(response, now))
          )
        })
        return flights.run(hash, lock.withLock(`${appId}:refresh_token:${hash.slice(0, 32)}`, refresh))
      }

      // one read of the store before core's refresh (getToken's second call in a refreshing getUser,
      // then core's under the refresh lock and under the write key): a caller that comes after another
      // caller's refresh ended takes its token without taking the refresh lock
      const forUser = (openid: string, seen: OAuthToken.OAuthToken): Effect.Effect<OAuthToken.OAuthToken, unknown> =>
        Effect.flatMap(store.get(appId, openid), (current) =>
          // another caller refreshed since getUser read the token: WeChat gave a new access token
          Option.isSome(current) &&
            Redacted.value(current.value.accessToken) !== Redacted.value(seen.accessToken)
            ? Effect.succeed(current.value)
            // keyed on the token getUser read, not on a later read of the store: a caller whose
            // read came before another caller's refresh was stored joins or follows that refresh
            : WeChatOAuth.refreshAfter(oauth, openid, seen.obtainedAt))

      // what wechat-oauth sent for a token without refresh token: WeChat's answer is the error
      const withoutRefreshToken: Effect.Effect<never, unknown> = Effect.gen(function*() {
        const url = `${config.apiBaseUrl}/sns/oauth2/refresh_token?appid=${
          encodeURIComponent(appId)
        }&grant_type=refresh_token&refresh_token=`
        const response = yield* Effect.mapError(client.execute(HttpClientRequest.get(url)), transportError)
        if (response.status < 200 || response.status >= 300) {
          return yield* Effect.fail(
            new WeChatError.TransportError({
              endpoint,
              reason: "HttpStatus",
              status: response.status,
              description: `WeChat answered HTTP ${response.status}`
            })
          )
        }
        const text = yield* Effect.mapError(response.text, transportError)
        let body: unknown
        try {
          body = JSON.parse(text)
        } catch {
          body = undefined
        }
        const errcode = typeof body === "object" && body !== null ? (body as { errcode?: unknown }).errcode : undefined
        if (typeof errcode === "number" && Number.isSafeInteger(errcode) && errcode !== 0) {
          return yield* Effect.fail(
            WeChatError.fromErrcode(errcode, errmsgOf((body as { errmsg?: unknown }).errmsg), endpoint)
          )
        }
        return yield* Effect.fail(
          new WeChatError.MalformedResponse({
            endpoint,
            description: "not an error answer to a refresh without refresh token (no token is taken from it)"
          })
        )
      }).pipe(WeChatHttpClient.withRequestLimits(limits))

      return Refresher.of({
        byRefreshToken,
        fromHint: (hint) => hint.seen.refreshTokenMissing ? withoutRefreshToken : forUser(hint.openid, hint.seen.token)
      })
    })
  )
