/**
 * The code exchange of a web login: one WeChat request per code (in-flight duplicates with the same
 * browser binding merged), the token stored, the code remembered for a short time so a repeated
 * callback from the same browser gets the same token; and the callback handler around it.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as OAuthToken from "../../OAuthToken.js"
import type * as RefreshLock from "../../RefreshLock.js"
import type * as RetryPolicy from "../../RetryPolicy.js"
import * as StateToken from "../../StateToken.js"
import * as TokenStore from "../../TokenStore.js"
import type { TokenResponse } from "../../WeChatApi.js"
import type * as WeChatConfig from "../../WeChatConfig.js"
import * as WeChatError from "../../WeChatError.js"
import type { CallbackOptions, CallbackResult, ExchangeError } from "../../WeChatOAuth.js"
import * as Arguments from "../arguments.js"
import * as Bounded from "../boundedStore.js"
import * as Elapsed from "../elapsed.js"
import * as SingleFlight from "../singleFlight.js"
import * as Stamp from "../stamp.js"
import * as UserId from "../userId.js"
import { parseCallback } from "./authorize.js"
import type { Endpoints } from "./endpoints.js"
import * as WriteLock from "./writeLock.js"

const invalid = Arguments.invalid

/** What `storedBefore` answers for a stored token the store could not read. */
const unreadable = Symbol("unreadable")

/** How a bound repeat looks for a code memo another process is about to write: every 100 ms, up to 1 s. */
const memoPoll = Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(10)))
const codePattern = /^[\x21-\x7e]{1,512}$/

/** What another browser gets while (or after) a code is exchanged for the first one. */
const codeTaken = new WeChatError.CodeUsed({
  errcode: 40163,
  errmsg: "code been used: it was exchanged for another browser",
  endpoint: "access_token"
})

/** @internal */
export interface Dependencies {
  readonly config: WeChatConfig.WeChatConfigShape
  readonly store: TokenStore.TokenStoreShape
  /** The endpoints, already retrying as the policy says. */
  readonly api: Endpoints
  readonly policy: RetryPolicy.RetryPolicy
  /** Where the shared exchanges run, so that a caller who leaves does not cancel them for the others. */
  readonly scope: Scope.Scope
  /**
   * The refresh lock: a grant's read and write of the user's token take the user's write key
   * (writeLock.ts), so that a refresh's re-read and write, or a rejected refresh's re-read and
   * remove (under the same key), never replaces or removes a grant stored between.
   */
  readonly lock: RefreshLock.RefreshLockShape
  /** For an app managed by a platform: its callback carries `appid` too, which must be this app's. */
  readonly checkCallbackAppId?: boolean | undefined
}

/** @internal */
export const make = ({ api, checkCallbackAppId, config, lock, policy, scope, store }: Dependencies) => {
  const appId = config.appId
  const memoTtlMillis = Duration.toMillis(policy.codeMemoTtl)

  /** The token a remembered code gave, for a caller with the same browser binding, within the memo's life. */
  const recallMemo = (
    codeHash: string,
    bindingHash: string
  ): Effect.Effect<Option.Option<OAuthToken.OAuthToken>, WeChatError.TokenStoreError> =>
    Effect.flatMap(
      store.recallCode(appId, codeHash),
      (memo) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Option.isSome(memo) && memo.value.binding !== undefined &&
            StateToken.equals(memo.value.binding, bindingHash) &&
            // a clock set back since the exchange (Elapsed.since: any length of time) ends the memo: by
            // `now - exchangedAt` it was answered for the step on top of its 60 seconds
            Elapsed.since(memo.value.exchangedAt, now) <= memoTtlMillis
            ? store.get(appId, memo.value.openid)
            : Effect.succeed(Option.none<OAuthToken.OAuthToken>()))
    )

  /**
   * The user's stored token, read to stamp a grant after it: the token, `undefined` when none is
   * stored, or `unreadable` when the store could not answer (down for a moment, or holding a value it
   * cannot decode: a cipher key gone, times out of range). A new consent is the way out of a broken
   * stored token, so it is not refused for it.
   */
  const storedBefore = (openid: string): Effect.Effect<OAuthToken.OAuthToken | undefined | typeof unreadable> =>
    // asked twice: a moment's failure (a timeout) is then most often over, and the grant is stamped
    // after the token read; a blind write and its read back cannot tell a token stamped by a clock
    // ahead from a newer consent written meanwhile
    Effect.orElse(store.get(appId, openid), () => store.get(appId, openid)).pipe(
      Effect.map(Option.getOrUndefined),
      Effect.catchAll((error) =>
        Effect.logWarning("wxauth: could not read the stored token before storing a new consent; writing it").pipe(
          Effect.annotateLogs({ appId, error: error.description }),
          Effect.as(unreadable)
        )
      )
    )

  /**
   * `fresh` stamped after `stored` when this clock is behind it (`Stamp.after`), else the store
   * (newer wins) would keep the older token and answer it from then on. Only the stamp moves: the
   * token and its refresh token expire by this clock, as WeChat counts them from its answer
   * (`Stamp.expiresAt`). A new grant, so the stored token gives it nothing else (its own refresh
   * life, its own unionid).
   */
  const stampedAfter = (now: number, fresh: OAuthToken.OAuthToken, stored: OAuthToken.OAuthToken | undefined) => {
    const stamped = Stamp.after(now, stored)
    return stamped === now ? fresh : new OAuthToken.OAuthToken({
      ...fresh,
      obtainedAt: stamped,
      expiresAt: Stamp.expiresAt(now, fresh.expiresAt - now, stamped),
      refreshExpiresAt: Stamp.expiresAt(now, fresh.refreshExpiresAt - now, stamped)
    }, true) // fresh's own fields: no second validation
  }

  /** `token` written; answers it. */
  const write = (token: OAuthToken.OAuthToken) => Effect.as(store.set(appId, token), token)

  /**
   * A new consent's token, stored after the user's stored token (`stampedAfter`).
   *
   * When the store could not read the stored token, the grant is written stamped by the clock, then
   * read back. A failed read is most often a moment's failure (a timeout), and then the write
   * replaced a good token or failed leaving it in place: nothing is removed first, so a failed login
   * never deletes the token a user had, nor does another tab's `getUser` find none meanwhile. The
   * store may instead hold a value it cannot read, stamped by nothing but its store: a server whose
   * clock ran ahead wrote it, then its cipher key was removed, say. Newer wins keeps it and drops the
   * grant (the store's `set` succeeds, writing nothing), so the read back fails again: only then is
   * the value removed and the grant written again, and a consent replaces whatever the store held.
   * (A store that fails the read back for a moment too is treated the same way: the grant it holds
   * is removed and written again; only if that last write fails as well is the user left without a
   * token, and the login fails.) A read back that finds a readable token stamped after the grant
   * and ahead of this clock (the first read's failure was a moment's, the token stamped ahead)
   * writes the grant again, stamped after it; one stamped after the grant but not ahead of this
   * clock is a newer consent another process wrote meanwhile, and is kept. All of it under the user's write key, as the grant's read and write are. A
   * write that fails fails the login.
   */
  const writeGrant = (now: number, fresh: OAuthToken.OAuthToken) =>
    Effect.flatMap(storedBefore(fresh.openid), (stored) => {
      if (stored !== unreadable) return write(stampedAfter(now, fresh, stored))
      return write(fresh).pipe(
        Effect.zipRight(Effect.either(store.get(appId, fresh.openid))),
        Effect.flatMap((kept) => {
          if (Either.isRight(kept)) {
            if (Option.isNone(kept.right) || kept.right.value.obtainedAt <= fresh.obtainedAt) {
              return Effect.succeed(fresh)
            }
            const other = kept.right.value
            // stamped ahead of this clock (read now): the token the failed read missed, written by a
            // clock ahead; the grant goes after it. Not ahead: a newer consent of the user, written
            // meanwhile by another process, is kept
            return Effect.flatMap(
              Clock.currentTimeMillis,
              (later) => other.obtainedAt > later ? write(stampedAfter(now, fresh, other)) : Effect.succeed(fresh)
            )
          }
          return Effect.logWarning(
            "wxauth: could not read back a new consent's token (the store may keep a value it cannot read); removing it and writing again"
          ).pipe(
            Effect.annotateLogs({ appId, error: kept.left.description }),
            Effect.zipRight(store.remove(appId, fresh.openid)),
            Effect.zipRight(write(fresh))
          )
        })
      )
    })

  /**
   * The grant's read and write under the user's write key (`<appId>:<openid>:write`, writeLock.ts):
   * after WeChat answers, a refresh reads the store again and writes its token (or removes the one
   * WeChat rejected) under that key, only if the store still holds the token it refreshed, so a
   * grant stored meanwhile is neither replaced by the refresh's later stamp nor removed (the user
   * who just logged in again, logged out). Not the refresh key: a refresh holds that one for its
   * WeChat call, and a login does not wait for it. A refresh holds the write key for two store
   * calls: the grant waits for it `consentWait` (25 s: the re-read is cut at 10 s, whatever the
   * store's own deadline, and the write or removal that follows runs to the store's own deadline,
   * so on a store that answers within 15 s a slow removal never deletes a grant written after it);
   * past that the lock itself is stuck (down), and the grant is written without it, with a warning:
   * the code is spent, and a login is not refused for the lock. An openid outside the store id rule
   * takes no lock (the store refuses it).
   */
  const storeGrant = (response: TokenResponse, now: number) =>
    Effect.flatMap(OAuthToken.fromResponse(response, now), (fresh) => {
      if (!UserId.isWeChatUserId(fresh.openid)) return writeGrant(now, fresh)
      let written: OAuthToken.OAuthToken | undefined
      return Bounded.withLockWithin(
        lock,
        WriteLock.key(appId, fresh.openid),
        WriteLock.consentWait,
        Effect.tap(writeGrant(now, fresh), (token) => Effect.sync(() => written = token))
      ).pipe(
        Effect.catchTag("RefreshLockTimeout", (timeout) =>
          // written already (a lock that timed out on its release): that write stands
          written !== undefined ? Effect.succeed(written) : Effect.logWarning(
            "wxauth: could not take the user's write lock to store a new consent; stored without it"
          ).pipe(
            Effect.annotateLogs({ appId, waitedMillis: timeout.waitedMillis }),
            Effect.zipRight(writeGrant(now, fresh))
          ))
      )
    })

  /** One exchange with WeChat, its token stored and the code remembered with the initiator's binding. */
  const exchangeWithWeChat = (code: string, codeHash: string, bindingHash: string | undefined) =>
    Effect.gen(function*() {
      const response = yield* api.accessToken(code)
      const now = yield* Clock.currentTimeMillis
      const token = yield* storeGrant(response, now)
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
   * when they carry the same browser binding (or none); another browser's caller waits for the
   * flight to end and gets `CodeUsed` (or the flight's own error). A later repeat, here or in another
   * process, gets the remembered token only with the same binding, within the memo's life;
   * otherwise WeChat's `CodeUsed` stands. When WeChat says `CodeUsed` and no memo is there yet,
   * another process may still be storing it: a bound caller looks again for up to a second.
   */
  const exchangeShared = (
    code: unknown,
    bindingHash: string | undefined
  ): Effect.Effect<OAuthToken.OAuthToken, ExchangeError> =>
    Effect.suspend(() => {
      if (typeof code !== "string" || !codePattern.test(code)) {
        return Effect.fail(invalid("code", "must be 1 to 512 printable characters"))
      }
      const codeHash = TokenStore.hashCode(code)
      const exchange = exchanges.runOwned(
        codeHash,
        bindingHash,
        exchangeWithWeChat(code, codeHash, bindingHash),
        (flight) => Effect.flatMap(flight, () => Effect.fail(codeTaken))
      )
      if (bindingHash === undefined) return exchange
      return Effect.flatMap(recallMemo(codeHash, bindingHash), (remembered) =>
        Option.isSome(remembered)
          ? Effect.succeed(remembered.value)
          : Effect.catchTag(exchange, "CodeUsed", (used) =>
            recallMemo(codeHash, bindingHash).pipe(
              Effect.flatMap((found) => Option.isSome(found) ? Effect.succeed(found.value) : Effect.fail(used)),
              Effect.retry({ schedule: memoPoll, while: (e) => e._tag === "CodeUsed" })
            )))
    })

  /** The options' binding, hashed; `InvalidArgument` for options or a binding of the wrong type. */
  const bindingOf = (options: unknown): Either.Either<string | undefined, WeChatError.InvalidArgument> => {
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

  const exchangeCode = (
    code: string,
    options?: { readonly binding?: string | undefined }
  ): Effect.Effect<OAuthToken.OAuthToken, ExchangeError> =>
    Effect.flatMap(bindingOf(options), (bindingHash) => exchangeShared(code, bindingHash))

  const handleCallback = (
    callback: string | URL | URLSearchParams,
    options?: CallbackOptions
  ): Effect.Effect<CallbackResult, ExchangeError | WeChatError.ConsentDenied | WeChatError.StateMismatch> =>
    Effect.gen(function*() {
      const params = yield* parseCallback(callback)
      const fields = Arguments.optionsOf(options)
      if (fields === undefined) return yield* Effect.fail(invalid("options", "must be an object"))
      const problem = Arguments.checkOptionalText("expectedState", fields.expectedState, StateToken.maxLength) ??
        Arguments.checkOptionalText("binding", fields.binding, Arguments.maxBindingLength) ??
        Arguments.checkOptionalBoolean("requireBinding", fields.requireBinding)
      if (problem !== undefined) return yield* problem
      const expectedState = fields.expectedState as string | undefined
      const binding = fields.binding as string | undefined
      const code = params.get("code")
      if (code === null || code === "") {
        return yield* new WeChatError.ConsentDenied()
      }
      const state = params.get("state")
      if (state === null || state === "") {
        return yield* new WeChatError.StateMismatch({ reason: "Missing" })
      }
      if (checkCallbackAppId === true) {
        const callbackAppId = params.get("appid")
        // WeChat names the app the user consented to: a callback for another app is not this login's
        if (callbackAppId !== null && callbackAppId !== appId) {
          return yield* new WeChatError.StateMismatch({ reason: "Mismatch" })
        }
      }
      const now = yield* Clock.currentTimeMillis
      let bindingHash: string | undefined
      let returnTo: string | undefined
      if (expectedState !== undefined) {
        if (!StateToken.equals(state, expectedState)) {
          return yield* new WeChatError.StateMismatch({ reason: "Mismatch" })
        }
        // The state itself is in the callback URL, so it proves nothing about the browser: only a
        // binding (a per-browser secret) lets a repeat of this callback get the remembered token.
        bindingHash = binding === undefined ? undefined : StateToken.bindingHash(config, binding)
        // a signed state compared as given still carries its return path
        const verified = StateToken.verifySync(config, now, state, { binding })
        if (Either.isRight(verified)) returnTo = verified.right.returnTo
      } else {
        const verified = yield* StateToken.verifySync(config, now, state, { binding })
        if (verified.bindingHash === undefined && fields.requireBinding === true) {
          return yield* new WeChatError.StateMismatch({ reason: "Binding" })
        }
        bindingHash = verified.bindingHash
        returnTo = verified.returnTo
      }
      const token = yield* exchangeShared(code, bindingHash)
      return { token, returnTo } satisfies CallbackResult
    })

  return { exchangeCode, handleCallback }
}
