/**
 * `getUser` and `getUserByCode` in `wechat-oauth` 1.5.0's order, every step a call through `this`,
 * so that an app's override (an instance property, a subclass, a test stub, a spy) changes what it
 * would change under `wechat-oauth`:
 *
 * - `getUser(options)`: `this.getToken(openid)`; a valid token: `this._getUser(options,
 *   accessToken)`; an expired one: `this.refreshAccessToken(refreshToken)`, then `this._getUser`
 *   with the new access token. The one call `wechat-oauth` would not make: when `_getUser` fails
 *   because WeChat rejects a token that looked valid (40001 / 40014 / 42001, the policy's
 *   `refreshOn`), `this.refreshAccessToken` and `this._getUser` once more.
 * - `getUserByCode(options)`: `this.getAccessToken(code)`, then `this.getUser({ openid, lang })`;
 *   for a mini program, `this.getSessionKey(code)`, then `this.decryptMiniProgramUser({ sessionKey,
 *   encryptedData, iv })`.
 *
 * A method the client does not override runs in place (its default effect), with the same result.
 * An overriding method is called with a callback and may also return a promise; its error reaches
 * the caller as it is.
 *
 * @internal
 */
import { WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import { CompatError } from "../CompatError.js"
import { AppFailure, failureOf } from "./appFailure.js"
import { callMethod } from "./calls.js"
import { parseLang } from "./convert.js"
import * as Hooks from "./hooks.js"
import type { ClientServices } from "./lifecycle.js"
import type { Methods } from "./methods.js"
import { argumentOf, optionOf } from "./options.js"
import * as Refresh from "./refresh.js"
import { textOf } from "./runtime.js"
import * as StoredRecord from "./storedToken.js"
import { openidText } from "./text.js"

/**
 * The methods `wechat-oauth` called through `this`.
 *
 * @internal
 */
export type Overridable =
  | "getToken"
  | "_getUser"
  | "refreshAccessToken"
  | "getAccessToken"
  | "getSessionKey"
  | "decryptMiniProgramUser"
  | "getUser"

/**
 * What the flows need of the client.
 *
 * @internal
 */
export interface Host {
  /** The client: its methods are looked up at each call. */
  readonly self: object
  /** True when `method`, the client's `name` now, is compat's own: it runs in place. */
  readonly isOwn: (name: Overridable, method: unknown) => boolean
  readonly isMiniProgram: () => boolean
  /** How long an overriding method may take (the `hookTimeout` option). */
  readonly hookTimeout: () => Duration.Duration
  /** Which failures of `_getUser` mean "WeChat rejected the token" (the policy's `refreshOn`). */
  readonly refreshOn: () => (error: unknown) => boolean
  readonly own: Methods
}

/** The endpoint each overridable method stands for (a deadline error names it). */
const endpoints: Record<Exclude<Overridable, "decryptMiniProgramUser">, string> = {
  getToken: "getToken",
  _getUser: "userinfo",
  refreshAccessToken: "refresh_token",
  getAccessToken: "access_token",
  getSessionKey: "jscode2session",
  getUser: "userinfo"
}

/**
 * `this[name]`, the client's method now, or the `AppFailure` of an accessor of the app's that throws
 * (a subclass's getter): it failed as its function would have thrown (`failureOf`), not as a defect.
 */
const methodOf = (host: Host, name: Overridable): Either.Either<unknown, AppFailure> => {
  try {
    return Either.right((host.self as Record<string, unknown>)[name])
  } catch (error) {
    return Either.left(new AppFailure(name, failureOf(`this.${name}`, "threw", error)))
  }
}

/** The answer as it is: what the caller gets (a user's info). */
const asIs = (answer: unknown): unknown => answer

/**
 * `this[name](...args, callback)`, or `own()` when the method is compat's own, its answer read by
 * `read` (the fields the flow goes on with): an overriding method's answer that cannot be read (a
 * Proxy whose trap throws), by callback or by promise, fails the call as `callApp` says (its
 * `failureOf(..., "unreadable")`), not as a defect.
 */
const call = <A>(
  host: Host,
  name: Exclude<Overridable, "getToken" | "decryptMiniProgramUser">,
  args: ReadonlyArray<unknown>,
  own: () => Effect.Effect<unknown, unknown, ClientServices>,
  read: (answer: unknown) => A,
  around?: (invoke: () => unknown) => unknown
): Effect.Effect<A, unknown, ClientServices> =>
  Effect.suspend(() => {
    const looked = methodOf(host, name)
    if (Either.isLeft(looked)) return Effect.fail(looked.left)
    const method = looked.right
    if (typeof method !== "function" || host.isOwn(name, method)) return Effect.map(own(), read)
    const timeout = host.hookTimeout()
    return callMethod<A, WeChatError.TransportError>(
      name,
      timeout,
      () =>
        new WeChatError.TransportError({
          endpoint: endpoints[name],
          reason: "Timeout",
          description: `this.${name} neither called back nor settled within the hook timeout`
        }),
      { fn: method as (...args: Array<any>) => unknown, self: host.self, args, around, read }
    )
  })

const noToken = (openid: unknown) =>
  new CompatError({
    name: "NoOAuthTokenError",
    tag: "TokenNotFound",
    message: `No token for ${openidText(openid)}, please authorize first.`
  })

/**
 * `this.getToken(openid)`: the stored token, read with `LegacyToken.decode` (a record without
 * refresh token is read too: `wechat-oauth` used it while it was valid).
 */
const readStored = (
  host: Host,
  openid: string
): Effect.Effect<Option.Option<StoredRecord.Stored>, unknown, ClientServices> =>
  Effect.suspend((): Effect.Effect<Option.Option<StoredRecord.Stored>, unknown, ClientServices> => {
    const looked = methodOf(host, "getToken")
    if (Either.isLeft(looked)) return Effect.fail(looked.left)
    const method = looked.right
    if (typeof method !== "function" || host.isOwn("getToken", method)) {
      return Effect.map(
        host.own.getToken(openid),
        Option.map((token): StoredRecord.Stored => ({ token, refreshTokenMissing: false }))
      )
    }
    return Effect.flatMap(
      Hooks.callHook<unknown>("getToken", host.hookTimeout(), method as Hooks.GetTokenHook, host.self, [openid]),
      (record) =>
        // wechat-oauth: `if (!data)`, no token
        !record ? Effect.succeed(Option.none()) : Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const read = StoredRecord.decode(openid, record, now, { allowMissingRefreshToken: true })
          return Either.isRight(read)
            ? Effect.succeed(read.right)
            : Effect.fail(
              new WeChatError.TokenStoreError({ operation: "getToken", description: read.left.message })
            )
        })
    )
  })

/** The core error a failure of `_getUser` stands for: its own, a compat error's cause, or its `code`'s. */
const coreErrorOf = (failure: unknown): unknown => {
  const error = failure instanceof AppFailure ? failure.error : failure
  if (error instanceof CompatError) return error.cause
  if (Predicate.hasProperty(error, "_tag")) return error
  return Predicate.hasProperty(error, "code") && typeof error.code === "number"
    ? WeChatError.fromErrcode(error.code, "")
    : undefined
}

/** `token.data[key]` of an answer (`getAccessToken`'s, `refreshAccessToken`'s, `getSessionKey`'s). */
const dataField = (key: string) => (answer: unknown): unknown => optionOf(optionOf(answer, "data"), key)

/** @internal */
export const getUser = (host: Host, options: unknown): Effect.Effect<unknown, unknown, ClientServices> =>
  Effect.gen(function*() {
    const byObject = typeof options === "object" && options !== null
    const given = byObject ? yield* argumentOf("options", options, "openid") : options
    const read = byObject ? given ?? (yield* argumentOf("options", options, "openId")) : given
    // a number as getAccessToken takes a code: its text (wechat-oauth handed it on as it was)
    const openid = textOf(read)
    const lang = byObject ? yield* argumentOf("options", options, "lang") : undefined
    if (openid === undefined || openid === "") return yield* Effect.fail(noToken(read))
    // an unknown lang fails before anything is asked
    yield* parseLang(lang, "en")
    // `this._getUser` gets what wechat-oauth gave it: the caller's object as it is (its own fields,
    // `lang` not normalised), else `{ openid }`; an object naming the user `openId` only: a new one
    const userOptions = byObject
      ? (given === read ? options : { openid, lang })
      : { openid: options }
    const stored = yield* readStored(host, openid)
    if (Option.isNone(stored)) return yield* Effect.fail(noToken(openid))
    const seen = stored.value
    const refreshToken = seen.refreshTokenMissing ? seen.missingValue : Redacted.value(seen.token.refreshToken)
    const hint: Refresh.Hint = { refreshToken, openid, seen }
    const getUserInfo = (accessToken: unknown) =>
      call(host, "_getUser", [userOptions, accessToken], () => host.own._getUser(userOptions, accessToken), asIs)
    const refreshed = Effect.flatMap(
      call(
        host,
        "refreshAccessToken",
        [refreshToken],
        () => host.own.refreshAccessToken(refreshToken, hint),
        dataField("access_token"),
        (invoke) => Refresh.withHint(host.self, hint, invoke)
      ),
      getUserInfo
    )
    const now = yield* Clock.currentTimeMillis
    if (!seen.token.isFresh(now)) return yield* refreshed
    // WeChat may reject a token that looks valid (revoked, or expired early): refresh, ask once more
    const refreshOn = host.refreshOn()
    return yield* Effect.catchIf(
      getUserInfo(Redacted.value(seen.token.accessToken)),
      (failure) => {
        if (seen.refreshTokenMissing) return false
        try {
          return refreshOn(coreErrorOf(failure))
        } catch {
          return false
        }
      },
      () => refreshed
    )
  })

/** @internal */
export const getUserByCode = (host: Host, options: unknown): Effect.Effect<unknown, unknown, ClientServices> =>
  Effect.gen(function*() {
    const code = typeof options === "string" ? options : yield* argumentOf("options", options, "code")
    if (host.isMiniProgram()) {
      const sessionKey = yield* call(
        host,
        "getSessionKey",
        [code],
        () => host.own.getSessionKey(code),
        dataField("session_key")
      )
      // encryptedData and iv are read now, as wechat-oauth read them
      const decrypt = {
        sessionKey,
        encryptedData: yield* argumentOf("options", options, "encryptedData"),
        iv: yield* argumentOf("options", options, "iv")
      }
      return yield* decryptThroughThis(host, decrypt)
    }
    const lang = typeof options === "string" ? undefined : yield* argumentOf("options", options, "lang")
    // an unknown lang fails before the code is spent
    yield* parseLang(lang, "en")
    const openid = yield* call(
      host,
      "getAccessToken",
      [code],
      () => host.own.getAccessToken(code),
      dataField("openid")
    )
    const userOptions = { openid, lang }
    return yield* call(host, "getUser", [userOptions], () => getUser(host, userOptions), asIs)
  })

/** `this.decryptMiniProgramUser(options)`, synchronous: what it throws fails the call as it is. */
const decryptThroughThis = (
  host: Host,
  options: { readonly sessionKey: unknown; readonly encryptedData: unknown; readonly iv: unknown }
): Effect.Effect<unknown, unknown> =>
  Effect.suspend((): Effect.Effect<unknown, unknown> => {
    const looked = methodOf(host, "decryptMiniProgramUser")
    if (Either.isLeft(looked)) return Effect.fail(looked.left)
    const method = looked.right
    if (typeof method !== "function" || host.isOwn("decryptMiniProgramUser", method)) {
      return host.own.decryptMiniProgramUser(options)
    }
    return Effect.try({
      try: () => method.call(host.self, options),
      catch: (error) =>
        new AppFailure("decryptMiniProgramUser", failureOf("this.decryptMiniProgramUser", "threw", error))
    })
  })
