/**
 * Logins of many apps through one callback: the authorize URL's state carries the app (signed with
 * the registry's state key), and the callback finds its app from the verified state, never from a
 * query parameter alone.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as StateToken from "../../StateToken.js"
import type { AppError, LoginError, LoginResult } from "../../WeChatApps.js"
import * as WeChatError from "../../WeChatError.js"
import type * as WeChatOAuth from "../../WeChatOAuth.js"
import * as Arguments from "../arguments.js"
import { maxUrlLength, parseCallback } from "../oauth/authorize.js"
import type { Registry } from "./registry.js"

const invalid = Arguments.fail

/**
 * A caller's options, each field read once into a plain object: a JavaScript caller's throwing
 * getter or revoked Proxy is an `InvalidArgument`, never a defect later. `undefined` for none.
 */
const readOptions = Arguments.readOptions

const authorizeKeys = ["redirectUri", "scope", "state", "returnTo", "binding"] as const

/** @internal */
export const make = (registry: Registry) => {
  /** A state for the app, carrying its appid, made at the Clock's time. */
  const stateFor = (appId: string, options: Record<string, unknown>) =>
    Effect.gen(function*() {
      if (options.state !== undefined) {
        return yield* invalid("state", "the registry makes the state (it carries the appid): leave state out")
      }
      const problem = Arguments.checkOptionalText("returnTo", options.returnTo, maxUrlLength) ??
        Arguments.checkOptionalText("binding", options.binding, Arguments.maxBindingLength)
      if (problem !== undefined) return yield* problem
      const app = yield* registry.app(appId)
      yield* Effect.annotateCurrentSpan("wechat.app_id", app.appId)
      const now = yield* Clock.currentTimeMillis
      return yield* StateToken.makeSync(app.state, now, {
        returnTo: options.returnTo as string | undefined,
        binding: options.binding as string | undefined,
        carryAppId: true
      })
    })

  const urlWith = <O extends WeChatOAuth.WebsiteAuthorizeOptions>(
    name: string,
    f: (
      oauth: WeChatOAuth.WeChatOAuthShape,
      options: O
    ) => Effect.Effect<WeChatOAuth.AuthorizeUrl, WeChatError.InvalidArgument>
  ) =>
  (appId: string, options: O): Effect.Effect<WeChatOAuth.AuthorizeUrl, AppError> =>
    Effect.gen(function*() {
      const fields = yield* readOptions("options", options, authorizeKeys)
      if (fields === undefined) return yield* invalid("options", "must be an object with a redirectUri")
      const state = yield* stateFor(appId, fields)
      const oauth = yield* registry.service("oauth", appId)
      return yield* f(oauth, { ...fields, state, returnTo: undefined, binding: undefined } as unknown as O)
    }).pipe(Effect.withSpan(name, { captureStackTrace: false }))

  const authorizeUrl = urlWith<WeChatOAuth.AuthorizeOptions>(
    "WeChatApps.authorizeUrl",
    (oauth, options) => oauth.authorizeUrl(options)
  )
  const websiteAuthorizeUrl = urlWith<WeChatOAuth.WebsiteAuthorizeOptions>(
    "WeChatApps.websiteAuthorizeUrl",
    (oauth, options) => oauth.websiteAuthorizeUrl(options)
  )

  /**
   * The callback: its state names the app, and is verified for that app with the registry's key
   * before the app is looked up (a forged state costs no lookup); a component app's callback must
   * name the same app in `appid` (any callback that names one must). Then the app's own exchange.
   */
  const handleCallback = (
    callback: string | URL | URLSearchParams,
    options?: Pick<WeChatOAuth.CallbackOptions, "binding" | "requireBinding">
  ): Effect.Effect<LoginResult, LoginError> =>
    Effect.gen(function*() {
      // read once, bounded, guarded
      const params = yield* parseCallback(callback)
      const fields = (yield* readOptions("options", options, ["binding", "requireBinding"])) ?? {}
      const problem = Arguments.checkOptionalText("binding", fields.binding, Arguments.maxBindingLength) ??
        Arguments.checkOptionalBoolean("requireBinding", fields.requireBinding)
      if (problem !== undefined) return yield* problem
      const binding = fields.binding as string | undefined
      const code = params.get("code")
      if (code === null || code === "") return yield* new WeChatError.ConsentDenied()
      const state = params.get("state")
      if (state === null || state === "") return yield* new WeChatError.StateMismatch({ reason: "Missing" })
      const appId = StateToken.appIdOf(state)
      if (appId === undefined) return yield* new WeChatError.StateMismatch({ reason: "Malformed" })
      const now = yield* Clock.currentTimeMillis
      const verified = yield* StateToken.verifySync(
        {
          appId,
          stateSecret: registry.shared.stateSecret,
          acceptedStateSecrets: registry.shared.acceptedStateSecrets,
          stateTtl: registry.shared.stateTtl
        },
        now,
        state,
        { binding }
      )
      if (verified.bindingHash === undefined && fields.requireBinding === true) {
        return yield* new WeChatError.StateMismatch({ reason: "Binding" })
      }
      yield* Effect.annotateCurrentSpan("wechat.app_id", appId)
      const app = yield* registry.app(appId)
      const named = params.get("appid")
      if (app._tag === "Component" ? named !== appId : named !== null && named !== appId) {
        return yield* new WeChatError.StateMismatch({ reason: "Mismatch" })
      }
      const oauth = yield* registry.service("oauth", appId)
      const token = yield* oauth.exchangeCode(code, verified.bindingHash === undefined ? undefined : { binding })
      return { appId, token, returnTo: verified.returnTo } satisfies LoginResult
    }).pipe(Effect.withSpan("WeChatApps.handleCallback", { captureStackTrace: false }))

  return { authorizeUrl, websiteAuthorizeUrl, handleCallback }
}
