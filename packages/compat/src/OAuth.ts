/**
 * A drop-in for `wechat-oauth`'s `OAuth` class (seeds 002 and 004): the same constructor, methods,
 * callbacks, `getToken` / `saveToken` hooks, token objects and error names, and a promise from every
 * method called without a callback. Behind it is `@wxauth/core`: single-flight refreshes, a
 * deadline on every request, retries of transient failures, typed errors kept as `cause`.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type { RefreshLock } from "@wxauth/core"
import {
  MiniProgram,
  MiniProgramCrypto,
  OAuthToken,
  RetryPolicy,
  TokenStore,
  WeChatApi,
  WeChatConfig,
  WeChatError,
  WeChatOAuth
} from "@wxauth/core"
import * as Clock from "effect/Clock"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { AccessToken, type StoredToken, type TokenData, toTokenData } from "./AccessToken.js"
import { CompatError, fromCause, fromDefect } from "./CompatError.js"
import { parseLang, toUserProfile, type UserProfile } from "./internal/convert.js"
import * as Hooks from "./internal/hooks.js"
import * as StoredRecord from "./internal/storedToken.js"
import {
  apiBaseUrlOf,
  authorizeUrl,
  type Callback,
  httpClientLayer,
  nodeify,
  openBaseUrlOf,
  runAtBoundary,
  textOf
} from "./internal/runtime.js"
import { openidText } from "./internal/text.js"

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
 * none). Either call `callback(err, token)` or return a promise; `this` is the client.
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
 * Either call `callback(err)` or return a promise; `this` is the client. A mini program client also
 * hands it the session of `getSessionKey` (`SessionData`).
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
  /** How long a `getToken` / `saveToken` hook may take before the call fails. Default 30 seconds. */
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
export type Services =
  | WeChatOAuth.WeChatOAuth
  | MiniProgram.MiniProgram
  | WeChatApi.WeChatApi
  | WeChatConfig.WeChatConfig
  | TokenStore.TokenStore
  | HttpClient.HttpClient

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
 * `getUser`'s options: `openid` (or `openId`, as seed 002 spells it) and `lang` (default `en`, as in
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

interface Generation {
  /** The appid the services were built with. */
  readonly appId: string
  readonly layer: Layer.Layer<Services, unknown>
  readonly runtime: ManagedRuntime.ManagedRuntime<Services, unknown>
  /** Tokens go through the hooks (or the client's memory store), not a `tokenStore` layer. */
  readonly hooks: boolean
  /** The consent pages' host, as read when the generation was made. */
  readonly openBaseUrl: string | undefined
  active: number
  retired: boolean
}

const timeoutOf = (timeout: Options["timeout"]): Duration.DurationInput | undefined => {
  if (timeout === undefined || timeout === null) return undefined
  if (Array.isArray(timeout) && timeout.length === 2 && timeout.every((n) => typeof n === "number")) {
    // urllib's [connect, response] milliseconds: the whole request gets both
    return Duration.millis(timeout[0] + timeout[1])
  }
  return timeout as Duration.DurationInput
}

const invalidArgument = (argument: string, description: string) =>
  new WeChatError.InvalidArgument({ argument, description })

/** A text argument (see `textOf`), or an `InvalidArgument` naming it. */
const textArgument = (argument: string, u: unknown): Effect.Effect<string, WeChatError.InvalidArgument> => {
  const text = textOf(u)
  return text === undefined || text === ""
    ? Effect.fail(invalidArgument(argument, "must be a non-empty string"))
    : Effect.succeed(text)
}

/** `options[key]` when `options` is an object (or a function), else `undefined`. */
const optionOf = (options: unknown, key: string): unknown =>
  (typeof options === "object" && options !== null) || typeof options === "function"
    ? (options as Record<string, unknown>)[key]
    : undefined

/**
 * The `policy` option, checked field by field by core (a JavaScript caller may pass anything):
 * `undefined` when there is none, the policy, or a `ConfigError` naming the field.
 */
const policyOf = (input: unknown): Either.Either<RetryPolicy.RetryPolicy | undefined, ConfigError.ConfigError> =>
  input === undefined || input === null ? Either.right(undefined) : RetryPolicy.make(input as RetryPolicy.Overrides)

/** A `tokenStore` / `refreshLock` option: `undefined` when absent, the layer, or a layer failing with a `ConfigError`. */
const layerOption = <A>(
  name: string,
  input: Layer.Layer<A, unknown> | null | undefined
): Layer.Layer<A, unknown> | undefined => {
  if (input === undefined || input === null) return undefined
  return Layer.isLayer(input)
    ? input
    : Layer.effectContext(Effect.fail(ConfigError.InvalidData([name], "must be a Layer")))
}

const decryptMessages = {
  WatermarkMismatch: "Invalid Watermark, Be Sure to Check Again",
  other: "Illegal Buffer, Is Your Data Correct?"
}

/**
 * `wechat-oauth`'s OAuth client, over `@wxauth/core`.
 *
 * @example
 * ```js
 * const OAuth = require("@wxauth/compat")
 * const client = new OAuth("your appid", "your secret")
 *
 * res.redirect(client.getAuthorizeURL("https://example.com/callback", "state", "snsapi_userinfo"))
 * // in the callback:
 * const token = await client.getAccessToken(req.query.code)
 * const user = await client.getUser(token.data.openid)
 * ```
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
   * The `getToken` hook (by default: the client's memory store).
   *
   * @since 0.1.0
   */
  getToken: GetToken
  /**
   * The `saveToken` hook (by default: the client's memory store).
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

  #appsecret: string
  readonly #memory: TokenStore.TokenStoreShape
  readonly #defaultGetToken: GetToken
  readonly #defaultSaveToken: SaveToken
  #generation: Generation

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
    this.#memory = Effect.runSync(TokenStore.makeMemory())
    // the default hooks read and write the client's store (its memory, or the `tokenStore` option)
    this.#defaultGetToken = (openid, callback) =>
      nodeify(
        this.#run(
          Effect.gen(function*() {
            const { appId } = yield* WeChatConfig.WeChatConfig
            const token = yield* Effect.flatMap(
              TokenStore.TokenStore,
              (store) => store.get(appId, textOf(openid) ?? "")
            )
            return Option.isSome(token) ? toTokenData(token.value) : undefined
          })
        ),
        callback as Callback<TokenData | undefined>
      )
    this.#defaultSaveToken = (openid, token, callback) =>
      nodeify(
        this.#run(Effect.gen(function*() {
          const id = yield* textArgument("openid", openid)
          const now = yield* Clock.currentTimeMillis
          const found = yield* StoredRecord.decode(id, token, now)
          if (Option.isNone(found)) return
          const { appId } = yield* WeChatConfig.WeChatConfig
          yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.set(appId, found.value.token))
        })),
        callback
      )
    this.getToken = typeof getToken === "function" ? getToken : this.#defaultGetToken
    this.saveToken = typeof saveToken === "function" ? saveToken : this.#defaultSaveToken
    if (typeof saveToken !== "function" && process.env.NODE_ENV === "production") {
      console.warn(
        "@wxauth/compat: OAuth tokens are kept in this process's memory; pass getToken/saveToken to share them " +
          "between processes"
      )
    }
    this.#generation = this.#makeGeneration()
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
    this.#replaceGeneration()
  }

  /**
   * Replaces the options (as `wechat-oauth` did: options not given go back to their defaults) and
   * rebuilds the services; calls in flight finish on the old ones.
   *
   * @example
   * ```js
   * client.setOpts({ timeout: 15000, apiBaseUrl: "http://127.0.0.1:8080" })
   * ```
   *
   * @since 0.1.0
   */
  setOpts(opts: Options | undefined | null): void {
    this.defaults = typeof opts === "object" && opts !== null ? opts : {}
    this.#replaceGeneration()
  }

  /**
   * The services behind this client (`WeChatOAuth`, `MiniProgram`, `WeChatApi`, `WeChatConfig`,
   * `TokenStore`, `HttpClient`), for Effect code, sharing this client's tokens, locks and hooks.
   * Replaced by `setOpts`.
   *
   * @example
   * ```ts
   * import { WeChatOAuth } from "@wxauth/core"
   * import * as Effect from "effect/Effect"
   *
   * const user = await client.runtime.runPromise(
   *   Effect.flatMap(WeChatOAuth.WeChatOAuth, (oauth) => oauth.getUser(openid, { lang: "zh_CN" }))
   * )
   * ```
   *
   * @since 0.1.0
   */
  get runtime(): ManagedRuntime.ManagedRuntime<Services, unknown> {
    return this.#current().runtime
  }

  /**
   * The same services as a Layer, for an Effect program of your own. It uses this client's hooks (or
   * memory store) for tokens; each program that builds it gets its own in-process refresh lock.
   *
   * @since 0.1.0
   */
  get layer(): Layer.Layer<Services, unknown> {
    return this.#current().layer
  }

  /**
   * Releases the services (the HTTP connection pool is shared by the process and stays).
   *
   * @since 0.1.0
   */
  async close(): Promise<void> {
    const generation = this.#generation
    this.#generation = this.#makeGeneration()
    generation.retired = true
    // with calls in flight, the last one to finish releases them
    if (generation.active === 0) await generation.runtime.dispose()
  }

  /**
   * The consent page's URL for the official account (`/connect/oauth2/authorize`), exactly as
   * `wechat-oauth` built it.
   *
   * @param redirect where WeChat sends the user back
   * @param state returned as is in the callback (`[a-zA-Z0-9]`, at most 128 characters)
   * @param scope `snsapi_base` (default: silent, openid only) or `snsapi_userinfo` (asks the user)
   * @since 0.1.0
   */
  getAuthorizeURL(redirect: string, state?: string, scope?: string): string {
    return authorizeUrl(this.#generation.openBaseUrl, "/connect/oauth2/authorize", {
      appid: this.appid,
      redirect_uri: redirect,
      response_type: "code",
      scope: scope || "snsapi_base",
      state: state || ""
    })
  }

  /**
   * The website QR login page's URL (`/connect/qrconnect`, scope `snsapi_login` by default), exactly
   * as `wechat-oauth` built it.
   *
   * @since 0.1.0
   */
  getAuthorizeURLForWebsite(redirect: string, state?: string, scope?: string): string {
    return authorizeUrl(this.#generation.openBaseUrl, "/connect/qrconnect", {
      appid: this.appid,
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
    return nodeify(
      this.#run(
        Effect.gen(function*() {
          const text = yield* textArgument("code", code)
          const oauth = yield* WeChatOAuth.WeChatOAuth
          return new AccessToken(toTokenData(yield* oauth.exchangeCode(text)))
        })
      ),
      callback
    )
  }

  /**
   * Refreshes an access token with its refresh token, stores the answer (`saveToken`) and gives it
   * as `getAccessToken` does. (`getUser` refreshes by itself when needed.)
   *
   * @since 0.1.0
   */
  refreshAccessToken(refreshToken: string): Promise<AccessToken>
  refreshAccessToken(refreshToken: string, callback: Callback<AccessToken>): void
  refreshAccessToken(refreshToken: string, callback?: Callback<AccessToken>): Promise<AccessToken> | void {
    // the previous token tells the refresh token's life; the hooks do not keep it, so they are not asked
    const readsPrevious = !this.#current().hooks || this.getToken === this.#defaultGetToken
    return nodeify(
      this.#run(Effect.gen(function*() {
        const api = yield* WeChatApi.WeChatApi
        const store = yield* TokenStore.TokenStore
        const { appId } = yield* WeChatConfig.WeChatConfig
        const text = yield* textArgument("refreshToken", refreshToken)
        const response = yield* api.refreshToken(Redacted.make(text))
        const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        const previous = readsPrevious
          ? Option.getOrUndefined(yield* store.get(appId, response.openid).pipe(Effect.orElseSucceed(Option.none)))
          : undefined
        const sameGrant = previous !== undefined &&
          Redacted.value(previous.refreshToken) === Redacted.value(response.refresh_token)
        const token = yield* OAuthToken.fromResponse(response, now, sameGrant ? previous : undefined)
        yield* store.set(appId, token)
        return new AccessToken(toTokenData(token))
      })),
      callback
    )
  }

  /**
   * The user's profile. The stored token (`getToken`) is refreshed first when it has expired, and
   * once more if WeChat rejects it (40001, 40014, 42001); concurrent calls for one user share one
   * refresh. `lang` defaults to `en`, as in `wechat-oauth`. Fails with `NoOAuthTokenError` when no
   * token is stored.
   *
   * @since 0.1.0
   */
  getUser(options: string | GetUserOptions): Promise<UserProfile>
  getUser(options: string | GetUserOptions, callback: Callback<UserProfile>): void
  getUser(options: string | GetUserOptions, callback?: Callback<UserProfile>): Promise<UserProfile> | void {
    return nodeify(
      this.#run(
        Effect.gen(function*() {
          const byObject = typeof options === "object" && options !== null
          const openid = byObject ? optionOf(options, "openid") ?? optionOf(options, "openId") : options
          const lang = byObject ? optionOf(options, "lang") : undefined
          if (typeof openid !== "string" || openid === "") {
            return yield* Effect.fail(
              new CompatError({
                name: "NoOAuthTokenError",
                tag: "TokenNotFound",
                message: `No token for ${openidText(openid)}, please authorize first.`
              })
            )
          }
          const oauth = yield* WeChatOAuth.WeChatOAuth
          const user = yield* oauth.getUser(openid, { lang: yield* parseLang(lang, "en") })
          return toUserProfile(user)
        })
      ),
      callback
    )
  }

  /**
   * The user's profile from a callback's code: `getAccessToken` then `getUser` (`lang` default
   * `en`). For a mini program client, `{ code, encryptedData, iv }`: `getSessionKey` then
   * `decryptMiniProgramUser`, resolving with the decrypted user (`openId`, `nickName`, ...).
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
    // the options are read inside the effect: a getter that throws fails the call, it does not throw
    const byObject = typeof options === "object" && options !== null
    const code = Effect.suspend(() => textArgument("code", byObject ? optionOf(options, "code") : options))
    if (this.isMiniProgram) {
      const decrypt = (data: SessionData) =>
        Effect.suspend(() =>
          this.#decrypt({
            sessionKey: data.session_key,
            encryptedData: optionOf(options, "encryptedData"),
            iv: optionOf(options, "iv")
          })
        )
      return nodeify(
        this.#run(
          Effect.flatMap(Effect.flatMap(code, (text) => this.#sessionKey(text)), (token) => decrypt(token.data))
        ),
        callback
      )
    }
    return nodeify(
      this.#run(
        Effect.gen(function*() {
          const text = yield* code
          const lang = yield* parseLang(byObject ? optionOf(options, "lang") : undefined, "en")
          const oauth = yield* WeChatOAuth.WeChatOAuth
          return toUserProfile(yield* oauth.getUserByCode(text, { lang }))
        })
      ),
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
    return nodeify(
      this.#run(
        Effect.gen(function*() {
          const token = yield* textArgument("accessToken", accessToken)
          const id = yield* textArgument("openid", openid)
          const api = yield* WeChatApi.WeChatApi
          yield* api.auth(Redacted.make(token), id)
          return { errcode: 0 as const, errmsg: "ok" as const }
        })
      ),
      callback
    )
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
    return nodeify(
      this.#run(Effect.flatMap(Effect.suspend(() => textArgument("code", code)), (text) => this.#sessionKey(text))),
      callback
    )
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
    const result = Effect.runSyncExit(Effect.suspend(() => this.#decrypt(options)))
    if (typeof callback === "function") {
      if (result._tag === "Success") callback(null, result.value)
      else callback(fromCause(result.cause))
      return
    }
    if (result._tag === "Success") return result.value
    throw fromCause(result.cause)
  }

  #decrypt(options: unknown): Effect.Effect<MiniProgramCrypto.UserData, CompatError> {
    const text = (key: string) => {
      const value = optionOf(options, key)
      return typeof value === "string" ? value : ""
    }
    return Effect.suspend(() => {
      const decrypted = MiniProgramCrypto.decryptUserDataSync({
        appId: textOf(this.appid) ?? "",
        sessionKey: Redacted.make(text("sessionKey")),
        encryptedData: text("encryptedData"),
        iv: text("iv")
      })
      if (Either.isRight(decrypted)) return Effect.succeed(decrypted.right)
      const error = decrypted.left
      return Effect.fail(
        new CompatError({
          name: "WeChatAPIDecryptError",
          tag: error._tag,
          message: error.reason === "WatermarkMismatch" ? decryptMessages.WatermarkMismatch : decryptMessages.other,
          reason: error.reason,
          cause: error
        })
      )
    })
  }

  #sessionKey(code: string): Effect.Effect<AccessToken<SessionData>, unknown, Services> {
    const hook = this.saveToken === this.#defaultSaveToken || !this.#current().hooks ? undefined : this.saveToken
    const save = hook === undefined
      ? undefined
      : (data: SessionData) => (callback: Hooks.NodeCallback<void>) => hook.call(this, data.openid, data, callback)
    const timeout = this.#hookTimeout()
    return Effect.gen(function*() {
      const mini = yield* MiniProgram.MiniProgram
      const session = yield* mini.code2Session(code)
      const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      const data: SessionData = {
        session_key: Redacted.value(session.sessionKey),
        openid: session.openid,
        ...(session.unionid === undefined ? {} : { unionid: session.unionid }),
        create_at: now
      }
      if (save !== undefined) yield* Hooks.callHook<void>("saveToken", timeout, save(data))
      return new AccessToken(data)
    })
  }

  #hookTimeout(): Duration.Duration {
    const input = this.defaults.hookTimeout
    const decoded = input === undefined ? undefined : Duration.decodeUnknown(input)
    return decoded !== undefined && decoded._tag === "Some" && Duration.greaterThan(decoded.value, Duration.zero)
      ? decoded.value
      : Duration.seconds(30)
  }

  #makeGeneration(): Generation {
    const opts = this.defaults
    const overrides = policyOf(opts.policy)
    const tokenStore = layerOption("tokenStore", opts.tokenStore)
    const refreshLock = layerOption("refreshLock", opts.refreshLock)
    const policy = Either.isRight(overrides) && overrides.right !== undefined
      ? overrides.right
      : RetryPolicy.defaultPolicy
    const source: Hooks.HookSource = {
      self: this,
      getToken: () => (this.getToken === this.#defaultGetToken ? undefined : this.getToken as Hooks.GetTokenHook),
      saveToken: () => (this.saveToken === this.#defaultSaveToken ? undefined : this.saveToken as Hooks.SaveTokenHook),
      memory: this.#memory,
      timeout: this.#hookTimeout()
    }
    const openBaseUrl = openBaseUrlOf(opts.openBaseUrl)
    const hooks = opts.tokenStore === undefined || opts.tokenStore === null
    const base = Layer.mergeAll(
      WeChatConfig.layer({
        appId: typeof this.appid === "string" ? this.appid : "",
        appSecret: Redacted.make(typeof this.#appsecret === "string" ? this.#appsecret : ""),
        apiBaseUrl: apiBaseUrlOf(opts.apiBaseUrl),
        openBaseUrl,
        timeout: timeoutOf(opts.timeout)
      }),
      httpClientLayer(typeof opts.proxy === "string" && opts.proxy !== "" ? opts.proxy : undefined),
      tokenStore ?? Layer.succeed(TokenStore.TokenStore, Hooks.makeStore(source)),
      refreshLock ?? Layer.empty
    )
    const services = Layer.mergeAll(
      WeChatOAuth.layerWith({ policy }),
      MiniProgram.layer,
      // compat's own calls (refreshAccessToken, verifyToken...) retry as the policy says too
      WeChatApi.layerWith({ policy })
    ).pipe(Layer.provideMerge(base))
    // an option of the wrong type fails every call with a WeChatAPIConfigError, as a bad appid does
    const layer: Layer.Layer<Services, unknown> = Either.isLeft(overrides)
      ? Layer.effectContext(Effect.fail(overrides.left))
      : services
    return {
      appId: this.appid,
      layer,
      runtime: ManagedRuntime.make(layer),
      openBaseUrl,
      hooks,
      active: 0,
      retired: false
    }
  }

  /** Builds new services; the old ones are released once the calls in flight on them finish. */
  #replaceGeneration(): void {
    const previous = this.#generation
    this.#generation = this.#makeGeneration()
    previous.retired = true
    this.#release(previous)
  }

  /** The services, rebuilt first when `appid` was assigned since they were built. */
  #current(): Generation {
    if (!Object.is(this.#generation.appId, this.appid)) this.#replaceGeneration()
    return this.#generation
  }

  #release(generation: Generation): void {
    if (generation.retired && generation.active === 0) {
      generation.runtime.dispose().catch(() => undefined)
    }
  }

  #run<A>(effect: Effect.Effect<A, unknown, Services>): Promise<A> {
    let generation: Generation
    try {
      generation = this.#current()
    } catch (defect) {
      return Promise.reject(fromDefect(defect))
    }
    generation.active++
    const done = () => {
      generation.active--
      this.#release(generation)
    }
    return runAtBoundary(generation.runtime, effect).then((value) => {
      done()
      return value
    }, (error) => {
      done()
      throw error
    })
  }
}
