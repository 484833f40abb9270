/**
 * A drop-in for `wechat-oauth`'s `OAuth` class: the same constructor, methods,
 * callbacks, `getToken` / `saveToken` hooks, token objects and error names, and a promise from every
 * method called without a callback. Every method `wechat-oauth` 1.5.0 calls through `this`
 * (`getToken`, `_getUser`, `refreshAccessToken`, `getAccessToken`, `getSessionKey`,
 * `decryptMiniProgramUser`, `getUser`, `request`) is called through `this`, in its order, so that an
 * app's override, subclass or test stub works as it did. Behind it is `@wxauth/core`: single-flight
 * refreshes, a deadline on every request, retries of transient failures, typed errors kept as
 * `cause`.
 *
 * @example
 * ```ts
 * import OAuth from "@wxauth/compat" // from CommonJS: const OAuth = require("@wxauth/compat")
 *
 * const client = new OAuth("wx1234567890abcdef", "your app secret")
 *
 * // the login route sends the browser to WeChat's consent page
 * const loginUrl = client.getAuthorizeURL("https://example.com/callback", "state", "snsapi_userinfo")
 *
 * // the callback route, with the code WeChat put in its URL
 * const onCallback = async (code: string) => {
 *   const token = await client.getAccessToken(code)
 *   return client.getUser(token.data.openid)
 * }
 * ```
 *
 * @example
 * ```ts
 * // from Effect code: the client's services (its tokens, locks, hooks and request)
 * import OAuth from "@wxauth/compat"
 * import { WeChatOAuth } from "@wxauth/core"
 * import * as Effect from "effect/Effect"
 *
 * const client = new OAuth("wx1234567890abcdef", "your app secret")
 *
 * const profile = (openid: string) =>
 *   client.runtime.runPromise(
 *     Effect.flatMap(WeChatOAuth.WeChatOAuth, (oauth) => oauth.getUser(openid, { lang: "zh_CN" }))
 *   )
 * ```
 *
 * @since 0.1.0
 */
import { type MiniProgramCrypto, type RefreshLock, type RetryPolicy, TokenStore } from "@wxauth/core"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import type * as ManagedRuntime from "effect/ManagedRuntime"
import type { AccessToken, StoredToken, TokenData } from "./AccessToken.js"
import { fromCause } from "./CompatError.js"
import type { UserProfile } from "./internal/convert.js"
import * as Credential from "./internal/credential.js"
import * as DefaultHooks from "./internal/defaultHooks.js"
import * as DefaultRequest from "./internal/defaultRequest.js"
import * as Flows from "./internal/flows.js"
import type * as Hooks from "./internal/hooks.js"
import * as Lifecycle from "./internal/lifecycle.js"
import * as Methods from "./internal/methods.js"
import * as Refresh from "./internal/refresh.js"
import type * as Request from "./internal/request.js"
import { authorizeUrl, type Callback, nodeify } from "./internal/runtime.js"

export type {
  /**
   * @since 0.1.0
   */
  Callback,
  /**
   * @since 0.1.0
   */
  UserProfile
}

/**
 * What `getSessionKey` resolves with (in `data`) and hands to `saveToken`: WeChat's
 * `jscode2session` answer plus `create_at`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SessionData {
  session_key: string
  openid: string
  unionid?: string
  create_at: number
}

/**
 * The `getToken` hook: finds the stored token of `openid` (`null` / `undefined` when there is
 * none). Either call `callback(err, token)` or return a promise; `this` is the client. A hook that
 * declares `callback` answers by it: what it returns counts only when it is a native promise (a
 * query object it returns, mysql2's or mongoose's `Query`, is left alone); one that does not may
 * return any thenable.
 *
 * @since 0.1.0
 * @category models
 */
export type GetToken = (
  this: OAuth,
  openid: string,
  callback: (err?: any, token?: StoredToken | null) => void
) => unknown

/**
 * The `saveToken` hook: stores `token` for `openid` (one token per openid: replace the old one).
 * Either call `callback(err)` or return a promise; `this` is the client (a returned thenable that is
 * not a native promise counts only when the hook does not declare `callback`, as for `GetToken`). A
 * mini program client also hands it the session of `getSessionKey` (`SessionData`).
 *
 * @since 0.1.0
 * @category models
 */
export type SaveToken = (
  this: OAuth,
  openid: string,
  token: TokenData | SessionData,
  callback: (err?: any) => void
) => unknown

/**
 * Options of `setOpts`. Options of `wechat-oauth`'s urllib that do not apply here are ignored.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The API host (default `WECHAT_API_BASE_URL`, else `https://api.weixin.qq.com`), e.g. the sandbox. */
  readonly apiBaseUrl?: string | undefined
  /** The consent pages' host (default `WECHAT_OPEN_BASE_URL`, else `https://open.weixin.qq.com`). */
  readonly openBaseUrl?: string | undefined
  /**
   * The deadline of one request: milliseconds as urllib took it (also `[connect, response]`), or a
   * duration such as `"3 seconds"`. Default 5 seconds.
   */
  readonly timeout?: number | readonly [number, number] | Duration.DurationInput | undefined
  /** An HTTP proxy URL for all requests (a fixed egress IP for WeChat's whitelist). */
  readonly proxy?: string | undefined
  /**
   * How long the app's own functions may take before the call fails: the `getToken` / `saveToken`
   * hooks, and the methods it overrides (`_getUser`, `refreshAccessToken`, ...). Default 30 seconds.
   */
  readonly hookTimeout?: Duration.DurationInput | undefined
  /** Parts of the core's retry-and-refresh policy to replace (see `RetryPolicy`). */
  readonly policy?: RetryPolicy.Overrides | undefined
  /**
   * A core `TokenStore` to keep tokens in, in place of the `getToken` / `saveToken` hooks: e.g.
   * `SqlTokenStore.layer(...)` (whose `importLegacy` moves wechat-oauth's `token` table over) or
   * `RedisTokenStore.layer(...)`.
   */
  readonly tokenStore?: Layer.Layer<TokenStore.TokenStore, unknown> | undefined
  /**
   * A core `RefreshLock`, e.g. `RedisRefreshLock.layer(...)`: processes that share a store then
   * refresh a user once between them (by default, once per process).
   */
  readonly refreshLock?: Layer.Layer<RefreshLock.RefreshLock, unknown> | undefined
  readonly [option: string]: unknown
}

/**
 * The services behind a client, for Effect code: `client.runtime.runPromise(effect)` runs an effect
 * that needs any of them.
 *
 * @since 0.1.0
 * @category models
 */
export type Services = Lifecycle.Services

/**
 * What `decryptMiniProgramUser` takes: the session key from `getSessionKey`, and what the mini
 * program sent.
 *
 * @since 0.1.0
 * @category models
 */
export interface DecryptOptions {
  readonly sessionKey?: string | undefined
  readonly encryptedData?: string | undefined
  readonly iv?: string | undefined
}

/**
 * `getUser`'s options: `openid` (or `openId`, as wechat-oauth's API documentation spells it) and `lang` (default `en`, as in
 * `wechat-oauth`).
 *
 * @since 0.1.0
 * @category models
 */
export interface GetUserOptions {
  readonly openid?: string | undefined
  readonly openId?: string | undefined
  readonly lang?: string | undefined
}

/**
 * `getUserByCode`'s options: the `code`, `lang`, and for a mini program `encryptedData` and `iv`.
 *
 * @since 0.1.0
 * @category models
 */
export interface GetUserByCodeOptions {
  readonly code: string
  readonly lang?: string | undefined
  readonly encryptedData?: string | undefined
  readonly iv?: string | undefined
}

/**
 * What `request` takes besides the URL, as urllib took it: `data` (the query of a GET, or the body
 * of another `method`), `content` (a string or Buffer sent as it is, in place of `data`), `dataType`
 * (`"json"`: parse the answer), `method` (or `type`), `headers`, `timeout`, `contentType` (`"json"`:
 * send `data` as JSON). They apply over `setOpts`' options. `headers` is any object (a plain one,
 * a class's instance, one made by `Object.create`) read by its own enumerable string keys, as urllib
 * read it, at most 64 headers, 16 KiB in all; not an array, a `Map` or a `Headers` (pass
 * `Object.fromEntries(...)` of them). Else the call fails with `WeChatAPIInvalidArgumentError`
 * naming `args.headers` (`setOpts`' `headers` with `WeChatAPIConfigError`).
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestOptions {
  readonly data?: Record<string, unknown> | string | undefined
  readonly content?: string | Uint8Array | undefined
  readonly dataType?: "json" | "text" | string | undefined
  readonly method?: string | undefined
  readonly type?: string | undefined
  readonly headers?: Record<string, string> | undefined
  readonly timeout?: number | readonly [number, number] | Duration.DurationInput | undefined
  readonly contentType?: string | undefined
  readonly [option: string]: unknown
}

/**
 * `request`'s callback, urllib's: `(err, data, res)`, `data` parsed when `dataType` is `json`.
 * An overriding `request` calls it with WeChat's answer (or an error).
 *
 * @since 0.1.0
 * @category models
 */
export type RequestCallback = Request.RequestCallback

/**
 * What `request` resolves with when called without a callback (urllib's promise form), and the
 * `res` it calls back with.
 *
 * @since 0.1.0
 * @category models
 */
export type RequestResult = DefaultRequest.RequestResult

/** No appid warned about yet (`OAuth#urlAppid`): a value no app gives. */
const noWarning = Symbol("noWarning")

/**
 * `wechat-oauth`'s OAuth client, over `@wxauth/core` (see the module's examples).
 *
 * @since 0.1.0
 * @category constructors
 */
export class OAuth {
  /**
   * The appid. Assigning another one rebuilds the services, as `setOpts` does.
   *
   * @since 0.1.0
   */
  appid: string
  /**
   * A mini program client: `getUserByCode` goes through `jscode2session` and decryption.
   *
   * @since 0.1.0
   */
  isMiniProgram: boolean
  /**
   * The `getToken` hook (by default: the client's memory store). `getUser` calls it through `this`.
   *
   * @since 0.1.0
   */
  getToken: GetToken
  /**
   * The `saveToken` hook (by default: the client's memory store). Every token obtained is saved
   * through it.
   *
   * @since 0.1.0
   */
  saveToken: SaveToken
  /**
   * The options last given to `setOpts`.
   *
   * @since 0.1.0
   */
  defaults: Options = {}

  /** @internal */
  #appsecret: string
  /** @internal */
  readonly #defaultGetToken: GetToken
  /** @internal */
  readonly #defaultSaveToken: SaveToken
  /** @internal */
  readonly #own: Methods.Methods
  /** @internal */
  readonly #host: Flows.Host
  /** @internal */
  readonly #lifecycle: Lifecycle.Lifecycle

  /**
   * @param appid the app's appid
   * @param appsecret the app's secret (kept out of `console.log(client)` and of every error)
   * @param getToken finds a user's stored token; without it, tokens live in this client's memory
   * @param saveToken stores a user's token; without it, tokens live in this client's memory
   * @param isMiniProgram a mini program: `getUserByCode` uses `jscode2session`
   */
  constructor(
    appid: string,
    appsecret: string,
    getToken?: GetToken | null | undefined,
    saveToken?: SaveToken | null | undefined,
    isMiniProgram?: boolean | undefined
  ) {
    this.appid = appid
    this.#appsecret = appsecret
    this.isMiniProgram = !!isMiniProgram
    const memory = Effect.runSync(TokenStore.makeMemory())
    const run: DefaultHooks.Run = (effect) => this.#lifecycle.run(effect)
    // the default hooks read and write the client's store (its memory, or the `tokenStore` option)
    this.#defaultGetToken = DefaultHooks.getToken(run) as GetToken
    this.#defaultSaveToken = DefaultHooks.saveToken(run) as SaveToken
    this.getToken = typeof getToken === "function" ? getToken : this.#defaultGetToken
    this.saveToken = typeof saveToken === "function" ? saveToken : this.#defaultSaveToken
    if (typeof saveToken !== "function" && process.env.NODE_ENV === "production") {
      console.warn(
        "@wxauth/compat: OAuth tokens are kept in this process's memory; pass getToken/saveToken to share them " +
          "between processes"
      )
    }
    /**
     * `this.getToken` / `this.saveToken` now: an accessor of the app's that throws (a subclass's
     * getter) reads as a hook that throws what it threw, so that the call fails as the hook's throw
     * would (its error as it is, `failureOf`), not as a defect.
     */
    const hookOf = (name: "getToken" | "saveToken"): unknown => {
      try {
        return this[name]
      } catch (error) {
        return (): never => {
          throw error
        }
      }
    }
    /** The app's hook now, or `undefined` for the default (or a `tokenStore` in place of the hooks). */
    const appGetToken = () => {
      const hook = hookOf("getToken")
      return typeof hook === "function" && hook !== this.#defaultGetToken ? hook as Hooks.GetTokenHook : undefined
    }
    const appSaveToken = () => {
      const hook = hookOf("saveToken")
      return typeof hook === "function" && hook !== this.#defaultSaveToken ? hook as Hooks.SaveTokenHook : undefined
    }
    const usesHooks = () => this.#lifecycle.generation.hooks
    this.#own = Methods.make({
      self: this,
      appid: () => this.appid,
      sessionHook: () => usesHooks() ? appSaveToken() : undefined,
      hookTimeout: () => this.#lifecycle.generation.hookTimeout,
      readsThroughHook: () => usesHooks() && appGetToken() !== undefined,
      savesThroughHook: () => usesHooks() && appSaveToken() !== undefined
    })
    const prototype = OAuth.prototype as unknown as Record<string, unknown>
    this.#host = {
      self: this,
      isOwn: (name, method) =>
        name === "getToken" ? !usesHooks() || method === this.#defaultGetToken : method === prototype[name],
      isMiniProgram: () => this.isMiniProgram,
      hookTimeout: () => this.#lifecycle.generation.hookTimeout,
      refreshOn: () => this.#lifecycle.generation.policy.refreshOn as (error: unknown) => boolean,
      own: this.#own
    }
    this.#lifecycle = new Lifecycle.Lifecycle(
      () =>
        Lifecycle.make({
          appid: this.appid,
          appsecret: this.#appsecret,
          options: this.defaults,
          hooks: { self: this, getToken: appGetToken, saveToken: appSaveToken, memory },
          requests: {
            self: this,
            request: () => {
              const request: unknown = this.request
              return typeof request === "function" && request !== OAuth.prototype.request
                ? request as Request.RequestFunction
                : undefined
            }
          },
          // the previous token tells a refresh token's life; the app's hooks do not keep it
          readsPrevious: () => !this.#lifecycle.generation.hooks || appGetToken() === undefined
        }),
      () => this.appid
    )
  }

  /**
   * The app secret (not enumerable: `console.log(client)` does not show it). Assigning another one
   * (a rotated secret) rebuilds the services, as `setOpts` does.
   *
   * @since 0.1.0
   */
  get appsecret(): string {
    return this.#appsecret
  }

  set appsecret(appsecret: string) {
    this.#appsecret = appsecret
    this.#lifecycle.replace()
  }

  /**
   * Replaces the options (as `wechat-oauth` did: options not given go back to their defaults) and
   * rebuilds the services; calls in flight finish on the old ones.
   *
   * @example
   * ```ts
   * import OAuth from "@wxauth/compat"
   *
   * const client = new OAuth("wx1234567890abcdef", "your app secret")
   * // the local sandbox in place of WeChat, and 15 seconds for each request
   * client.setOpts({ timeout: 15000, apiBaseUrl: "http://127.0.0.1:8080", openBaseUrl: "http://127.0.0.1:8080" })
   * ```
   *
   * @since 0.1.0
   */
  setOpts(opts: Options | undefined | null): void {
    this.defaults = typeof opts === "object" && opts !== null ? opts : {}
    this.#lifecycle.replace()
  }

  /**
   * The services behind this client (`WeChatOAuth`, `MiniProgram`, `WeChatApi`, `WeChatConfig`,
   * `TokenStore`, `HttpClient`), for Effect code, sharing this client's tokens, locks, hooks and
   * `request`. Replaced by `setOpts`. See the module's second example.
   *
   * @since 0.1.0
   */
  get runtime(): ManagedRuntime.ManagedRuntime<Services, unknown> {
    return this.#lifecycle.current().runtime
  }

  /**
   * The same services as a Layer, for an Effect program of your own. It uses this client's hooks (or
   * memory store) for tokens; each program that builds it gets its own in-process refresh lock.
   *
   * @since 0.1.0
   */
  get layer(): Layer.Layer<Services, unknown> {
    return this.#lifecycle.current().layer
  }

  /**
   * Ends the client's work at once, for a shutdown: interrupts every call in flight (a request to
   * WeChat, a wait for a hook or an overriding method, a wait for another call's refresh or for the
   * refresh lock, a direct `request`), whatever its services (`setOpts` retired ones too), waits for
   * them to stop, then releases the services (the HTTP connection pool is shared by the process and
   * stays). Each interrupted call fails with `WeChatAPIClientClosedError` (`_tag` `ClientClosed`),
   * through its callback or its promise; none is left waiting for `hookTimeout` or a request's
   * deadline, and no timer of theirs keeps the process alive. A hook or method of the app's already
   * called is not stopped (its answer is ignored): a `saveToken` under way may still save the token
   * of a call that failed. A call made after `close()` builds the services anew (`close()` them
   * again). Effects run on `client.runtime` by the app are not the client's calls: end them first.
   *
   * @example
   * ```ts
   * import OAuth from "@wxauth/compat"
   *
   * const client = new OAuth("wx1234567890abcdef", "your app secret")
   * process.once("SIGTERM", () => {
   *   // pending getUser / getAccessToken calls fail at once with WeChatAPIClientClosedError
   *   void client.close()
   * })
   * ```
   *
   * @since 0.1.0
   */
  close(): Promise<void> {
    return this.#lifecycle.close()
  }

  /**
   * Sends one request to WeChat, as urllib did under `wechat-oauth`: `request(url, { data,
   * dataType: "json" }, (err, data, res) => ...)`. Every request the client makes goes through
   * `this.request` when you override it (an instance property, a subclass, a test stub), with that
   * call shape: the URL without its query (`https://api.weixin.qq.com/sns/userinfo`), and the
   * parameters in `data`, in `wechat-oauth`'s order. Your `request` answers with the callback
   * (`data`: WeChat's parsed answer) or urllib's promise (`{ data }`); the deadline of the request
   * and the answer's size limit still apply, and an error it calls back with reaches the caller as
   * `wechat-oauth` handed it on (its `name` prefixed with `WeChatAPI`).
   *
   * By default it sends the request with the client's HTTP pool: `args` over `setOpts`' options
   * (`timeout`, `proxy`, `headers`), `data` as the query of a GET, the answer parsed with `dataType:
   * "json"`, urllib's error names (`ResponseTimeoutError`, `RequestError`, ...). Without a callback
   * it returns a promise of `{ data, status, headers, res }`.
   *
   * @example
   * ```ts
   * import OAuth from "@wxauth/compat"
   *
   * const client = new OAuth("wx1234567890abcdef", "your app secret")
   * // every call through a proxy of your own, as with wechat-oauth
   * const request = client.request
   * client.request = function(url, args, callback) {
   *   return request.call(this, url.replace("https://api.weixin.qq.com", "http://wechat-proxy.internal"), args, callback)
   * }
   * ```
   *
   * @since 0.1.0
   */
  request(
    url: string,
    args?: RequestOptions | RequestCallback | undefined,
    callback?: RequestCallback | undefined
  ): Promise<RequestResult> | void {
    // the client's (`this` may be anything: a method the app took off the client): close() interrupts it
    const lifecycle = typeof this === "object" && this !== null && #lifecycle in this ? this.#lifecycle : undefined
    return DefaultRequest.defaultRequest(
      this,
      url,
      args,
      callback,
      lifecycle === undefined ? undefined : (effect) => lifecycle.track(effect)
    )
  }

  /**
   * The appid that is not a string the URL builders last warned about (`noWarning`: none yet).
   *
   * @internal
   */
  #urlAppidWarned: unknown = noWarning

  /**
   * `this.appid` for an authorize URL. One that is not a string (an absent one is empty, as the
   * calls say) gets a warning, once per such appid, in the calls' words (`Credential.notAString`);
   * the value is never printed.
   *
   * @internal
   */
  #urlAppid(method: "getAuthorizeURL" | "getAuthorizeURLForWebsite"): unknown {
    const appid: unknown = this.appid
    if (Either.isLeft(Credential.credentialText("appId", appid)) && !Object.is(this.#urlAppidWarned, appid)) {
      this.#urlAppidWarned = appid
      console.warn(
        `@wxauth/compat: ${method}: ${
          Credential.notAString("appId")
        }; the URL is built as wechat-oauth built it, and WeChat will refuse it`
      )
    }
    return appid
  }

  /**
   * The consent page's URL for the official account (`/connect/oauth2/authorize`), exactly as
   * `wechat-oauth` built it. Never throws: an appid that is not a string (a `Redacted`,
   * `new String(...)`, a number) is written as `wechat-oauth` wrote it (an object as an empty
   * `appid=`), with a warning (once per such appid) saying it must be a string, as the calls'
   * `WeChatAPIConfigError` says.
   *
   * @param redirect where WeChat sends the user back
   * @param state returned as is in the callback (`[a-zA-Z0-9]`, at most 128 characters)
   * @param scope `snsapi_base` (default: silent, openid only) or `snsapi_userinfo` (asks the user)
   * @since 0.1.0
   */
  getAuthorizeURL(redirect: string, state?: string, scope?: string): string {
    return authorizeUrl(this.#lifecycle.generation.openBaseUrl, "/connect/oauth2/authorize", {
      appid: this.#urlAppid("getAuthorizeURL"),
      redirect_uri: redirect,
      response_type: "code",
      scope: scope || "snsapi_base",
      state: state || ""
    })
  }

  /**
   * The website QR login page's URL (`/connect/qrconnect`, scope `snsapi_login` by default), exactly
   * as `wechat-oauth` built it. An appid that is not a string: as `getAuthorizeURL`.
   *
   * @since 0.1.0
   */
  getAuthorizeURLForWebsite(redirect: string, state?: string, scope?: string): string {
    return authorizeUrl(this.#lifecycle.generation.openBaseUrl, "/connect/qrconnect", {
      appid: this.#urlAppid("getAuthorizeURLForWebsite"),
      redirect_uri: redirect,
      response_type: "code",
      scope: scope || "snsapi_login",
      state: state || ""
    })
  }

  /**
   * Exchanges the callback's code for the user's token, stores it (`saveToken`) and gives it as
   * `{ data: { access_token, expires_in, refresh_token, openid, scope, create_at } }`. Concurrent
   * exchanges of one code make one request.
   *
   * @since 0.1.0
   */
  getAccessToken(code: string): Promise<AccessToken>
  getAccessToken(code: string, callback: Callback<AccessToken>): void
  getAccessToken(code: string, callback?: Callback<AccessToken>): Promise<AccessToken> | void {
    return nodeify(this.#lifecycle.run(this.#own.getAccessToken(code)), callback)
  }

  /**
   * Refreshes an access token with its refresh token, stores the answer (`saveToken`) and gives it
   * as `getAccessToken` does. Never a refresh of its own beside core's: called by `getUser` (which
   * knows whose token it is), the user's stored token is refreshed by core (single-flight per user,
   * the `RefreshLock` across processes, the store re-read under the lock); called with a refresh
   * token alone, concurrent calls with that refresh token make one request, under the
   * `RefreshLock`.
   *
   * @since 0.1.0
   */
  refreshAccessToken(refreshToken: string): Promise<AccessToken>
  refreshAccessToken(refreshToken: string, callback: Callback<AccessToken>): void
  refreshAccessToken(refreshToken: string, callback?: Callback<AccessToken>): Promise<AccessToken> | void {
    const hint = Refresh.hintFor(this, refreshToken)
    return nodeify(this.#lifecycle.run(this.#own.refreshAccessToken(refreshToken, hint)), callback)
  }

  /**
   * The profile `/sns/userinfo` gives for `options.openid` with `accessToken` (`options.lang`
   * defaults to `en`), as `wechat-oauth`'s `_getUser`: `getUser` calls it through `this`, so
   * overriding it (or stubbing it in a test) changes what `getUser` resolves with.
   *
   * @since 0.1.0
   */
  _getUser(options: GetUserOptions | string, accessToken: string): Promise<UserProfile>
  _getUser(options: GetUserOptions | string, accessToken: string, callback: Callback<UserProfile>): void
  _getUser(
    options: GetUserOptions | string,
    accessToken: string,
    callback?: Callback<UserProfile>
  ): Promise<UserProfile> | void {
    return nodeify(this.#lifecycle.run(this.#own._getUser(options, accessToken)), callback)
  }

  /**
   * The user's profile, in `wechat-oauth`'s order: `this.getToken(openid)`; a valid token:
   * `this._getUser(options, accessToken)`; an expired one: `this.refreshAccessToken(refreshToken)`,
   * then `this._getUser` with the new access token. When WeChat rejects a token that looked valid
   * (40001, 40014, 42001), `this.refreshAccessToken` and `this._getUser` once more: the one place
   * this client makes calls `wechat-oauth` would not. Concurrent calls for one user share one
   * refresh. `lang` defaults to `en`, as in `wechat-oauth`. Fails with `NoOAuthTokenError` when no
   * token is stored.
   *
   * @since 0.1.0
   */
  getUser(options: string | GetUserOptions): Promise<UserProfile>
  getUser(options: string | GetUserOptions, callback: Callback<UserProfile>): void
  getUser(options: string | GetUserOptions, callback?: Callback<UserProfile>): Promise<UserProfile> | void {
    return nodeify(this.#lifecycle.run(Flows.getUser(this.#host, options)) as Promise<UserProfile>, callback)
  }

  /**
   * The user's profile from a callback's code: `this.getAccessToken(code)` then `this.getUser({
   * openid, lang })` (`lang` default `en`). For a mini program client, `{ code, encryptedData, iv
   * }`: `this.getSessionKey(code)` then `this.decryptMiniProgramUser({ sessionKey, encryptedData, iv
   * })`, resolving with the decrypted user (`openId`, `nickName`, ...).
   *
   * @since 0.1.0
   */
  getUserByCode(options: string | GetUserByCodeOptions): Promise<UserProfile | MiniProgramCrypto.UserData>
  getUserByCode(
    options: string | GetUserByCodeOptions,
    callback: Callback<UserProfile | MiniProgramCrypto.UserData>
  ): void
  getUserByCode(
    options: string | GetUserByCodeOptions,
    callback?: Callback<UserProfile | MiniProgramCrypto.UserData>
  ): Promise<UserProfile | MiniProgramCrypto.UserData> | void {
    return nodeify(
      this.#lifecycle.run(Flows.getUserByCode(this.#host, options)) as Promise<
        UserProfile | MiniProgramCrypto.UserData
      >,
      callback
    )
  }

  /**
   * Checks an access token with WeChat (`/sns/auth`): resolves with `{ errcode: 0, errmsg: "ok" }`
   * when WeChat says so, fails with a `WeChatAPIError` when WeChat rejects the token and with a
   * `WeChatAPIJSONResponseFormatError` for any other answer (`{}`, `[]`, ...): never a yes by default.
   *
   * @since 0.1.0
   */
  verifyToken(openid: string, accessToken: string): Promise<{ errcode: 0; errmsg: "ok" }>
  verifyToken(openid: string, accessToken: string, callback: Callback<{ errcode: 0; errmsg: "ok" }>): void
  verifyToken(
    openid: string,
    accessToken: string,
    callback?: Callback<{ errcode: 0; errmsg: "ok" }>
  ): Promise<{ errcode: 0; errmsg: "ok" }> | void {
    return nodeify(this.#lifecycle.run(this.#own.verifyToken(openid, accessToken)), callback)
  }

  /**
   * A mini program's `wx.login()` code for the user's session (`/sns/jscode2session`): resolves
   * with `{ data: { session_key, openid, unionid?, create_at } }`, which is also handed to the
   * `saveToken` hook when there is one.
   *
   * @since 0.1.0
   */
  getSessionKey(code: string): Promise<AccessToken<SessionData>>
  getSessionKey(code: string, callback: Callback<AccessToken<SessionData>>): void
  getSessionKey(code: string, callback?: Callback<AccessToken<SessionData>>): Promise<AccessToken<SessionData>> | void {
    return nodeify(this.#lifecycle.run(this.#own.getSessionKey(code)), callback)
  }

  /**
   * Decrypts what a mini program sent (`encryptedData`, `iv`) with the user's `sessionKey`, and
   * checks its watermark against this appid. Synchronous: returns the user data, or throws (or, with
   * a callback, calls it) with `wechat-oauth`'s messages ("Illegal Buffer, Is Your Data Correct?",
   * "Invalid Watermark, Be Sure to Check Again").
   *
   * @since 0.1.0
   */
  decryptMiniProgramUser(options: DecryptOptions): MiniProgramCrypto.UserData
  decryptMiniProgramUser(options: DecryptOptions, callback: Callback<MiniProgramCrypto.UserData>): void
  decryptMiniProgramUser(
    options: DecryptOptions,
    callback?: Callback<MiniProgramCrypto.UserData>
  ): MiniProgramCrypto.UserData | void {
    const result = Effect.runSyncExit(this.#own.decryptMiniProgramUser(options))
    if (typeof callback === "function") {
      if (result._tag === "Success") callback(null, result.value)
      else callback(fromCause(result.cause))
      return
    }
    if (result._tag === "Success") return result.value
    throw fromCause(result.cause)
  }
}
