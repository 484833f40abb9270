/**
 * Accepting a push to the authorization-event URL: the query's parameters, the bounded body, the
 * signature (before anything is decrypted), the age by the `Clock`, the replay memo, the
 * decryption, the message's fields; then the ticket stored (or an unauthorized app's tokens
 * voided) and the event handed back. A push is remembered as seen only once it is fully handled
 * (the app's own reaction included), so WeChat's retry of a push that failed is processed again.
 * The handling runs under `pushTimeout`: one that hangs is interrupted and fails with `PushTimeout`
 * before WeChat's retry arrives, so the retry is processed afresh rather than answered `Duplicate`.
 * A copy that arrives while the push is still in hand fails with `PushInProgress` (never a
 * `Duplicate`, which WeChat takes for success): WeChat pushes it again.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as Redacted from "effect/Redacted"
import * as WeChatError from "../../WeChatError.js"
import * as Arguments from "../arguments.js"
import * as Deadline from "../deadline.js"
import { type ComponentConfigShape, isAppId } from "./config.js"
import * as Crypto from "./crypto.js"
import { type AuthorizationFields, PushEvent } from "./events.js"
import * as Xml from "./xml.js"

/** What a push handler is given: the query of the request and its body. @internal */
export interface PushRequest {
  readonly query:
    | URLSearchParams
    | string
    | Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  readonly body: string | Uint8Array
}

/** @internal */
export type PushError =
  | WeChatError.InvalidPush
  | WeChatError.TokenStoreError
  | WeChatError.InvalidArgument
  | WeChatError.PushTimeout
  | WeChatError.PushInProgress

/**
 * When the request of the push arrived (the Clock's millis), set by `makeHttpApp` around
 * `acceptPush`: the handling's deadline is then `pushTimeout` after it (the body's reading
 * included), not after the handling started. Unset, the deadline counts from the handling's start.
 *
 * @internal
 */
export const arrivedAt: FiberRef.FiberRef<number | undefined> = globalValue(
  Symbol.for("@wxauth/core/Component/pushArrivedAt"),
  () => FiberRef.unsafeMake<number | undefined>(undefined)
)

/** @internal */
export interface Dependencies {
  readonly config: ComponentConfigShape
  /** Stores a ticket as obtained at `createdAtMillis`, or at the Clock's now when that is earlier. */
  readonly storeTicket: (
    ticket: Redacted.Redacted<string>,
    createdAtMillis: number
  ) => Effect.Effect<void, WeChatError.TokenStoreError>
  /** Voids the app's tokens as of `atMillis`, or of the Clock's now when that is earlier. */
  readonly forget: (appId: string, atMillis: number) => Effect.Effect<void, WeChatError.TokenStoreError>
}

/** The most pushes remembered at once (WeChat sends a few per 10 minutes). */
const maxRemembered = 10_000

const refuse = (reason: WeChatError.InvalidPush["reason"], description: string) =>
  Effect.fail(new WeChatError.InvalidPush({ reason, description }))

const malformed = (description: string) => refuse("Malformed", description)

const invalidArgument = (argument: string, description: string) =>
  Effect.fail(new WeChatError.InvalidArgument({ argument, description }))

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** The parameters of a push's query that are read. */
const pushParameters = ["timestamp", "nonce", "msg_signature", "encrypt_type"]

/**
 * The query's parameters, read once under a guard and bounded by `Arguments.readQuery` (the one
 * rule for a query's length, whatever its form); `undefined` when it is not one of the accepted
 * forms or cannot be read (a revoked Proxy, a throwing getter or iterator, a hollow
 * `URLSearchParams`), `"TooLarge"` when its query is over `Arguments.maxUrlLength` characters.
 */
const paramsOf = (query: unknown): Map<string, string | undefined> | undefined | "TooLarge" => {
  const read = Arguments.readQuery(query, { fields: pushParameters })
  if (Either.isLeft(read)) return read.left === Arguments.queryTooLong ? "TooLarge" : undefined
  let value = read.right
  if (typeof value === "string") {
    const at = value.indexOf("?")
    value = new URLSearchParams((at >= 0 ? value.slice(at + 1) : value).split("#")[0])
  }
  if (value === undefined) return undefined
  // a fresh copy of ours: a repeated parameter is ambiguous, refused below as a malformed value
  const params = new Map<string, string | undefined>()
  for (const name of pushParameters) {
    const all = value.getAll(name)
    params.set(name, all.length === 1 ? all[0] : all.length === 0 ? undefined : "\u0000")
  }
  return params
}

/** The body as text: `undefined` when it is neither a string nor bytes (or cannot be read). */
const bodyOf = (
  body: unknown
): Either.Either<string, WeChatError.InvalidPush> | undefined => {
  if (typeof body === "string") {
    return body.length > Xml.maxPushBytes ? Either.left(tooLarge) : Either.right(body)
  }
  const read = Arguments.guard(() => {
    if (!(body instanceof Uint8Array)) return undefined
    if (body.length > Xml.maxPushBytes) return Either.left(tooLarge)
    try {
      return Either.right(utf8.decode(body))
    } catch {
      return Either.left(new WeChatError.InvalidPush({ reason: "Malformed", description: "the body is not UTF-8" }))
    }
  })
  return Either.isLeft(read) ? undefined : read.right
}

const tooLarge = new WeChatError.InvalidPush({
  reason: "TooLarge",
  description: `the body is over ${Xml.maxPushBytes} bytes`
})

const timestampPattern = /^[0-9]{1,12}$/
const noncePattern = /^[A-Za-z0-9_-]{1,64}$/
const printable = /^[\x21-\x7e]{1,512}$/
const infoTypePattern = /^[A-Za-z0-9_]{1,64}$/

/** @internal */
export const make = ({ config, forget, storeTicket }: Dependencies) => {
  const token = Redacted.value(config.token)
  const aesKey = Redacted.value(config.aesKey)
  const componentAppId = config.componentAppId
  const maxAgeMillis = Duration.toMillis(config.pushMaxAge)
  const pushTimeout = config.pushTimeout
  const pushTimeoutMillis = Duration.toMillis(pushTimeout)
  const timedOut = () => new WeChatError.PushTimeout({ timeout: Duration.format(pushTimeout) })
  /**
   * The signatures of pushes handled or in hand, each with the last millisecond at
   * which the push is still fresh (`sentAt + pushMaxAge`): one rule for both, so a replay is either
   * remembered (`now <= lastFresh`) or refused as `Stale` (`now > lastFresh`), never neither.
   */
  const seen = new Map<string, number>()
  /** The keys of `seen` whose push is being handled now: a copy of one is not a `Duplicate`. */
  const inHand = new Set<string>()

  const sweep = (now: number) => {
    for (const [key, until] of seen) {
      // forgotten only once the push is stale: at `lastFresh` itself it is still remembered
      if (until >= now && seen.size < maxRemembered) break
      seen.delete(key)
    }
  }

  /** The message's fields, each a bounded printable value; `undefined` when a required one is missing or odd. */
  const text = (fields: ReadonlyMap<string, string>, name: string, pattern: RegExp = printable) => {
    const value = fields.get(name)
    return value !== undefined && pattern.test(value) ? value : undefined
  }

  /**
   * The message's `AuthorizerAppid` when it is an app id (`isAppId`: 1 to 45 of [A-Za-z0-9_-], the
   * rule `appToken` and `queryAuth` apply, which keeps the store keys built from it within 64
   * characters); `undefined` otherwise, and the push is refused as `Malformed`.
   */
  const appIdOf = (fields: ReadonlyMap<string, string>) => {
    const value = fields.get("AuthorizerAppid")
    return isAppId(value) ? value : undefined
  }

  /**
   * The message's meaning, at `now` (the Clock's). Its `CreateTime` is WeChat's word only: one
   * further ahead than `pushMaxAge` is refused (`Stale`); within that skew, the store functions
   * (tokens.ts `pushStamp`, `forget`) stamp what they write no later than a replacing write would
   * be stamped now (`Stamp.after`: the Clock's now, or 1 ms after the stored entry when that is not
   * before now), so no push dates an entry ahead of both the clock and what is stored (a ticket that
   * pins the store, a void token that outlives a later authorization). A stamp may still be ahead of
   * this clock, 1 ms after a stored entry that is: an `unauthorized` push stamps the access token's
   * void after the stored access token whatever the clock says, and any push replacing an entry
   * stamped ahead is stamped after it.
   */
  const interpret = (
    fields: ReadonlyMap<string, string>,
    now: number
  ): Effect.Effect<PushEvent, WeChatError.InvalidPush | WeChatError.TokenStoreError> => {
    if (fields.get("AppId") !== componentAppId) return refuse("WrongAppId", "the message names another platform")
    const createTimeText = text(fields, "CreateTime", timestampPattern)
    const infoType = text(fields, "InfoType", infoTypePattern)
    if (createTimeText === undefined || infoType === undefined) {
      return malformed("the message has no valid CreateTime or InfoType")
    }
    const createTime = Number(createTimeText)
    if (createTime * 1000 - now > maxAgeMillis) {
      return refuse("Stale", `the message's CreateTime is more than ${Duration.format(config.pushMaxAge)} ahead of now`)
    }
    const stamp = createTime * 1000
    switch (infoType) {
      case "component_verify_ticket": {
        const ticket = text(fields, "ComponentVerifyTicket")
        if (ticket === undefined) return malformed("the ticket is missing or not printable")
        const event = PushEvent.ComponentVerifyTicket({ componentAppId, createTime, ticket: Redacted.make(ticket) })
        return Effect.as(storeTicket(event.ticket, stamp), event)
      }
      case "authorized":
      case "updateauthorized": {
        const authorizerAppId = appIdOf(fields)
        const code = text(fields, "AuthorizationCode")
        const expiredTime = text(fields, "AuthorizationCodeExpiredTime", timestampPattern)
        const preAuthCode = fields.get("PreAuthCode")
        if (authorizerAppId === undefined || code === undefined || expiredTime === undefined) {
          return malformed("the authorization's appid, code or expiry is missing or not valid")
        }
        if (preAuthCode !== undefined && preAuthCode !== "" && !printable.test(preAuthCode)) {
          return malformed("the pre-authorization code is not printable")
        }
        const authorization: AuthorizationFields = {
          componentAppId,
          createTime,
          authorizerAppId,
          authorizationCode: Redacted.make(code),
          authorizationCodeExpiredTime: Number(expiredTime),
          preAuthCode: preAuthCode === undefined || preAuthCode === "" ? undefined : Redacted.make(preAuthCode)
        }
        return Effect.succeed(
          infoType === "authorized" ? PushEvent.Authorized(authorization) : PushEvent.UpdateAuthorized(authorization)
        )
      }
      case "unauthorized": {
        const authorizerAppId = appIdOf(fields)
        if (authorizerAppId === undefined) return malformed("the unauthorized appid is missing or not valid")
        const event = PushEvent.Unauthorized({ componentAppId, createTime, authorizerAppId })
        return Effect.as(forget(authorizerAppId, stamp), event)
      }
      default:
        return Effect.succeed(PushEvent.Unrecognized({ componentAppId, createTime, infoType }))
    }
  }

  const accept = <E = never, R = never>(
    request: PushRequest,
    onEvent?: ((event: PushEvent) => Effect.Effect<void, E, R>) | undefined
  ): Effect.Effect<PushEvent, PushError | E, R> =>
    Effect.suspend((): Effect.Effect<PushEvent, PushError | E, R> => {
      // a JavaScript caller's request: its fields read once, guarded (a Proxy is an InvalidArgument)
      const read = Arguments.readFields(request, ["query", "body"])
      if (Either.isLeft(read) || read.right === undefined) {
        return invalidArgument(
          "request",
          Either.isLeft(read) && read.left === Arguments.unreadable ? read.left : "must be { query, body }"
        )
      }
      if (onEvent !== undefined && typeof onEvent !== "function") {
        return invalidArgument("onEvent", "must be a function returning an Effect")
      }
      const params = paramsOf(read.right.query)
      // a query string too long for a push is a refused push (anyone can send one), not a caller's mistake
      if (params === "TooLarge") return refuse("TooLarge", `the query is over ${Arguments.maxUrlLength} characters`)
      if (params === undefined) {
        return invalidArgument("request.query", "must be URLSearchParams, a query string or an object of strings")
      }
      const text = bodyOf(read.right.body)
      if (text === undefined) return invalidArgument("request.body", "must be the body as a string or bytes")
      if (Either.isLeft(text)) return Effect.fail(text.left)
      const body = text.right
      const timestamp = params.get("timestamp")
      const nonce = params.get("nonce")
      const msgSignature = params.get("msg_signature")
      const encryptType = params.get("encrypt_type")
      if (timestamp === undefined || !timestampPattern.test(timestamp)) {
        return malformed("the timestamp parameter is missing or not a number")
      }
      if (nonce === undefined || !noncePattern.test(nonce)) return malformed("the nonce parameter is missing or odd")
      if (msgSignature === undefined) return malformed("the msg_signature parameter is missing")
      if (encryptType !== undefined && encryptType !== "aes") return malformed("encrypt_type is not aes")
      const outer = Xml.parseFlat(body)
      if (Either.isLeft(outer)) return Effect.fail(outer.left)
      const encrypted = outer.right.get("Encrypt")
      if (encrypted === undefined) return malformed("the body has no Encrypt field")
      const toAppId = outer.right.get("AppId")
      if (toAppId !== undefined && toAppId !== componentAppId) {
        return refuse("WrongAppId", "the push is addressed to another platform")
      }
      if (!Crypto.verifySignature(token, timestamp, nonce, encrypted, msgSignature)) {
        return refuse("BadSignature", "msg_signature does not match (not from WeChat, or another token)")
      }
      // The claim and the guard that releases it are set up in one uninterruptible step: a caller
      // interrupted between the two (at a yield) left the push claimed but never handled, and
      // WeChat's retries of it were answered `Duplicate` (a lost ticket or authorization). A copy
      // that arrives while the push is in hand is answered `PushInProgress`, not `Duplicate`: WeChat
      // takes a `Duplicate` for success and stops retrying, and when the handling in hand then
      // failed or timed out, the push was lost. The handling itself is bounded by `pushTimeout`
      // (by the Clock, from the request's arrival when `makeHttpApp` gives it): a handling that
      // hangs (an `onEvent` that never completes, a store write that never returns) kept the push
      // claimed for ever. It is disconnected from the deadline and interruptible whatever the
      // caller's interruptibility: at the deadline it is interrupted and the claim released without
      // waiting for the interruption to finish (a handling that is itself uninterruptible, or an
      // uninterruptible caller, would otherwise hold the answer as long as it runs).
      return Effect.uninterruptibleMask((restore) =>
        Effect.clockWith((clock) =>
          FiberRef.getWith(arrivedAt, (arrival) => {
            const now = clock.unsafeCurrentTimeMillis()
            const sentAt = Number(timestamp) * 1000
            // the last millisecond the push is fresh: the age check and the memo's life are this one
            // rule (a memo that ended a millisecond before the check did let a replay at exactly
            // `sentAt + pushMaxAge` through as new, its `onEvent` run twice)
            const lastFresh = sentAt + maxAgeMillis
            if (now > lastFresh || sentAt - now > maxAgeMillis) {
              return refuse("Stale", `the push was sent more than ${Duration.format(config.pushMaxAge)} away from now`)
            }
            // the signature alone: it covers timestamp, nonce and Encrypt joined, so a replay whose
            // timestamp and nonce were cut elsewhere (`nonce=0120&timestamp=T` sent again as
            // `nonce=012&timestamp=0T`: the same signature, the same time) is the same push
            const key = msgSignature.toLowerCase()
            sweep(now)
            if (inHand.has(key)) return Effect.fail(new WeChatError.PushInProgress())
            const until = seen.get(key)
            if (until !== undefined && until >= now) return Effect.succeed(PushEvent.Duplicate())
            // the time left of the deadline: none when the request's arrival was `pushTimeout` ago
            const left = arrival === undefined || arrival > now
              ? pushTimeoutMillis
              : Math.min(pushTimeoutMillis, arrival + pushTimeoutMillis - now)
            if (left <= 0) return Effect.fail(timedOut())
            // claimed now, so a concurrent copy is in progress; released unless the push is fully handled
            seen.set(key, lastFresh)
            inHand.add(key)
            const decrypted = Crypto.decrypt(aesKey, encrypted, componentAppId)
            const handled = Either.isLeft(decrypted)
              ? Effect.fail(decrypted.left)
              : Effect.flatMap(
                // the message is authenticated: its nested elements (another InfoType's) are skipped
                Either.match(Xml.parseMessage(decrypted.right), {
                  onLeft: Effect.fail,
                  onRight: (fields) => interpret(fields, now)
                }),
                (event): Effect.Effect<PushEvent, PushError | E, R> =>
                  onEvent === undefined ? Effect.succeed(event) : Effect.as(
                    Effect.suspend((): Effect.Effect<void, E | WeChatError.InvalidArgument, R> => {
                      // the caller's function, called as untrusted (as `AppToken.withToken`'s `f`): a
                      // throw is its typed InvalidArgument, never a defect; the push is not remembered
                      const called = Arguments.guard(() => onEvent(event))
                      if (Either.isLeft(called)) return invalidArgument("onEvent", "threw when called")
                      const reaction = Arguments.runnableEffect(called.right) as
                        | Effect.Effect<void, E, R>
                        | undefined
                      return reaction ?? invalidArgument("onEvent", "must return an Effect")
                    }),
                    event
                  )
              )
            const bounded = Deadline.within(
              // the arrival is this push's: a push accepted from `onEvent` has its own deadline
              Effect.locally(handled, arrivedAt, undefined),
              Duration.millis(left),
              timedOut
            )
            return Effect.onExit(restore(bounded), (exit) =>
              Effect.sync(() => {
                inHand.delete(key)
                if (Exit.isFailure(exit) && seen.get(key) === lastFresh) seen.delete(key)
              }))
          })
        )
      )
    })

  return { accept }
}
