/**
 * The WeChat rules themselves: codes, grants, tokens and sessions, and the answers of every
 * endpoint (those of the app access token in `apptoken.ts`, the mini program's `wxa` API in
 * `wxa.ts`, the third-party platform's `cgi-bin/component` API in `component.ts`; the platform's
 * `sns` endpoints are here, next to their direct twins). Synchronous and transport-free: callers
 * pass the sandbox time in and get a plain response out; `service.ts` (the clock) and `router.ts`
 * (faults, stats) wrap it in Effects.
 *
 * A code or grant from a platform's consent (`component_appid`) belongs to that platform: only its
 * `sns/oauth2/component/...` endpoints take it, and the direct ones answer as for a stranger's
 * (40029, 40030); the other way round too.
 *
 * All state lives in this object's maps and is only touched inside one synchronous call, so every
 * request is atomic.
 *
 * @internal
 */
import * as Either from "effect/Either"
import type { Endpoint, SandboxApp, SandboxUser } from "../Sandbox.js"
import * as AppToken from "./apptoken.js"
import type { ApiRequest, Problem } from "./apptoken.js"
import * as Component from "./component.js"
import * as Domains from "./domains.js"
import * as Html from "./html.js"
import * as Ids from "./ids.js"
import * as Places from "./places.js"
import * as Profile from "./profile.js"
import { quote } from "./quote.js"
import type { RawResponse } from "./responses.js"
import { errcodeResponse, htmlResponse, jsonResponse, wrongSecretResponse } from "./responses.js"
import * as Sessions from "./sessions.js"
import * as Tombstones from "./tombstones.js"
import * as Wxa from "./wxa.js"

/** A code lives 5 minutes. @internal */
export const CODE_TTL_MS = 5 * 60 * 1000
/** An access token lives 7200 seconds. @internal */
export const ACCESS_TOKEN_TTL_SECONDS = 7200
/** A refresh token lives 30 days from consent. @internal */
export const REFRESH_TOKEN_TTL_MS = 30 * 24 * 60 * 60 * 1000

/** Every endpoint and its path. @internal */
export const endpointPaths: Readonly<Record<Endpoint, string>> = {
  authorize: "/connect/oauth2/authorize",
  qrconnect: "/connect/qrconnect",
  access_token: "/sns/oauth2/access_token",
  refresh_token: "/sns/oauth2/refresh_token",
  userinfo: "/sns/userinfo",
  auth: "/sns/auth",
  jscode2session: "/sns/jscode2session",
  stable_token: "/cgi-bin/stable_token",
  token: "/cgi-bin/token",
  getuserphonenumber: "/wxa/business/getuserphonenumber",
  checksession: "/wxa/checksession",
  resetusersessionkey: "/wxa/resetusersessionkey",
  api_component_token: "/cgi-bin/component/api_component_token",
  api_query_auth: "/cgi-bin/component/api_query_auth",
  api_authorizer_token: "/cgi-bin/component/api_authorizer_token",
  component_access_token: "/sns/oauth2/component/access_token",
  component_refresh_token: "/sns/oauth2/component/refresh_token",
  component_jscode2session: "/sns/component/jscode2session"
}

const endpointByPath = new Map<string, Endpoint>(
  Object.entries(endpointPaths).map(([endpoint, path]) => [path, endpoint as Endpoint])
)

/** @internal */
export const endpointOf = (path: string): Endpoint | undefined => endpointByPath.get(path)

interface CodeEntry {
  readonly appId: string
  readonly userId: string
  readonly scope: string
  readonly issuedAt: number
  /** The platform whose consent issued it, if any. */
  readonly componentAppId: string | undefined
  used: boolean
}

interface Grant {
  readonly app: SandboxApp
  readonly user: SandboxUser
  readonly openid: string
  readonly scope: string
  readonly refreshToken: string
  readonly refreshExpiresAt: number
  /** The platform that exchanged its code, if any. */
  readonly componentAppId: string | undefined
  accessToken: string
}

interface AccessTokenEntry {
  readonly grant: Grant
  expiresAt: number
}

interface JsCodeEntry {
  readonly appId: string
  readonly userId: string
  readonly issuedAt: number
  readonly sessionKey: string
  used: boolean
}

/** What an authorize request asks for, once checked. @internal */
export interface AuthorizeRequest {
  readonly app: SandboxApp
  readonly redirectUri: string
  readonly scope: string
  readonly state: string | undefined
  /** The third-party platform asking on the app's behalf (`component_appid`), if any. */
  readonly componentAppId: string | undefined
}

/** Why an authorize request is refused: the parameter at fault, a message, WeChat's errcode if it shows one. @internal */
export interface AuthorizeProblem {
  readonly param: string
  readonly message: string
  readonly errcode?: number | undefined
}

/** The longest `state` authorize accepts (WeChat's limit). @internal */
export const maxStateLength = 128

const STATE_PATTERN = new RegExp(`^[a-zA-Z0-9]{0,${maxStateLength}}$`)

const scopesOf = (endpoint: "authorize" | "qrconnect"): ReadonlyArray<string> =>
  endpoint === "authorize" ? ["snsapi_base", "snsapi_userinfo"] : ["snsapi_login"]

const kindOf = (endpoint: "authorize" | "qrconnect"): SandboxApp["kind"] =>
  endpoint === "authorize" ? "officialAccount" : "website"

/**
 * Appends `code`/`state` to a redirect URI the way WeChat does: the existing query is kept as
 * sent, and a fragment stays at the end (`https://x/#/cb` becomes `https://x/?code=..&state=..#/cb`).
 *
 * @internal
 */
export const appendQuery = (uri: string, params: ReadonlyArray<readonly [string, string]>): string => {
  const hashAt = uri.indexOf("#")
  const base = hashAt === -1 ? uri : uri.slice(0, hashAt)
  const hash = hashAt === -1 ? "" : uri.slice(hashAt)
  const query = params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&")
  const separator = !base.includes("?") ? "?" : base.endsWith("?") || base.endsWith("&") ? "" : "&"
  return `${base}${separator}${query}${hash}`
}

/**
 * The callback URL as a browser requests it (and as a `Location` header can carry it): characters
 * outside ASCII in the redirect URI are percent-encoded (`http://x/中` becomes `http://x/%E4%B8%AD`).
 */
const callbackUrl = (redirectUri: string, params: ReadonlyArray<readonly [string, string]>): string =>
  new URL(appendQuery(redirectUri, params)).href

const isAbsoluteHttpUrl = (value: string): boolean => {
  try {
    const url = new URL(value)
    return (url.protocol === "http:" || url.protocol === "https:") && url.host !== ""
  } catch {
    return false
  }
}

const param = (params: URLSearchParams, name: string): string | undefined => {
  const value = params.get(name)
  return value === null || value === "" ? undefined : value
}

const openidKey = (appId: string, userId: string) => `${appId}\u0000${userId}`

/** @internal */
export class Engine {
  readonly apps: ReadonlyMap<string, SandboxApp>
  readonly users: ReadonlyMap<string, SandboxUser>
  private readonly codes = new Map<string, CodeEntry>()
  private readonly grants = new Map<string, Grant>()
  private readonly accessTokens = new Map<string, AccessTokenEntry>()
  /** The expired grants the sweep forgot (their refresh tokens still answer 42002): app and platform. */
  private readonly forgottenGrants = new Tombstones.Tombstones<
    { readonly appId: string; readonly componentAppId: string | undefined }
  >()
  /** The expired access tokens the sweep forgot (they still answer 42001). */
  private readonly forgottenAccessTokens = new Tombstones.Tombstones<true>()
  private readonly jsCodes = new Map<string, JsCodeEntry>()
  private readonly sessionKeys = new Sessions.SessionKeys()
  private readonly openids = new Map<string, string>()
  private writes = 0
  /** The app access tokens (`cgi-bin/stable_token`, `cgi-bin/token`). */
  readonly appTokens: AppToken.AppTokens
  /** The mini program's server API (`wxa/...`). */
  readonly wxa: Wxa.MiniProgramApi
  /** The third-party platforms (`cgi-bin/component/...`) and their authorizations. */
  readonly components: Component.Components

  constructor(
    apps: ReadonlyArray<SandboxApp>,
    users: ReadonlyArray<SandboxUser>,
    limits: AppToken.Limits,
    components: ReadonlyArray<Component.ComponentConfig> = []
  ) {
    this.apps = new Map(apps.map((app) => [app.appId, app]))
    this.users = new Map(users.map((user) => [user.id, user]))
    this.appTokens = new AppToken.AppTokens(this.apps, limits, (appId) => this.components.isManaged(appId))
    this.components = new Component.Components(components, this.apps, this.appTokens)
    this.wxa = new Wxa.MiniProgramApi({
      apps: this.apps,
      users: this.users,
      appTokens: this.appTokens,
      sessionKeys: this.sessionKeys,
      openidOf: (appId, userId) => this.openidOf(appId, userId),
      userOf: (appId, userId) => this.userOf(appId, userId)
    })
  }

  /** The user, if the app has it (an app with `users` has only those). */
  userOf(appId: string, userId: string): SandboxUser | undefined {
    const app = this.apps.get(appId)
    if (app?.users !== undefined && !app.users.includes(userId)) return undefined
    return this.users.get(userId)
  }

  /** A user of an app, or a message saying why not. */
  checkUser(appId: string, userId: string): Either.Either<SandboxUser, string> {
    const user = this.users.get(userId)
    if (user === undefined) return Either.left(`unknown user ${quote(userId)}`)
    return this.userOf(appId, userId) === undefined ?
      Either.left(`user ${userId} is not a user of app ${appId}`) :
      Either.right(user)
  }

  openidOf(appId: string, userId: string): string {
    const key = openidKey(appId, userId)
    let openid = this.openids.get(key)
    if (openid === undefined) {
      openid = Ids.deriveOpenid(appId, userId)
      this.openids.set(key, openid)
    }
    return openid
  }

  // ---------------------------------------------------------------------------------------------
  // consent
  // ---------------------------------------------------------------------------------------------

  /** Checks an authorize / qrconnect request in WeChat's order: appid, redirect_uri, response_type, scope, state. */
  checkAuthorize(
    endpoint: "authorize" | "qrconnect",
    params: URLSearchParams
  ): Either.Either<AuthorizeRequest, AuthorizeProblem> {
    const appId = param(params, "appid")
    const app = appId === undefined ? undefined : this.apps.get(appId)
    if (appId === undefined) return Either.left({ param: "appid", message: "appid 参数错误: appid is missing" })
    if (app === undefined) {
      return Either.left({ param: "appid", message: `appid 参数错误: no app ${quote(appId)} in this sandbox` })
    }
    if (app.kind !== kindOf(endpoint)) {
      const hint = app.kind === "website" ?
        "a website app logs in at /connect/qrconnect" :
        app.kind === "officialAccount" ?
        "an official account authorizes at /connect/oauth2/authorize" :
        "a mini program logs in with wx.login() and /sns/jscode2session"
      return Either.left({ param: "appid", message: `appid 参数错误: ${appId} is a ${app.kind} app (${hint})` })
    }
    const componentAppId = endpoint === "authorize" ? param(params, "component_appid") : undefined
    if (componentAppId !== undefined) {
      if (!this.components.has(componentAppId)) {
        return Either.left({
          param: "component_appid",
          message: `component_appid 参数错误: no third-party platform ${quote(componentAppId)} in this sandbox`
        })
      }
      if (!this.components.isAuthorized(componentAppId, appId)) {
        return Either.left({
          param: "component_appid",
          message: `component_appid 参数错误: ${appId} has not authorized the platform ${componentAppId}`
        })
      }
    }
    const redirectUri = param(params, "redirect_uri")
    if (redirectUri === undefined || !isAbsoluteHttpUrl(redirectUri)) {
      return Either.left({
        param: "redirect_uri",
        message: "redirect_uri 参数错误: it must be an absolute http(s) URL, URL-encoded"
      })
    }
    if (
      componentAppId === undefined && app.redirectDomains !== undefined &&
      !Domains.allows(app.redirectDomains, redirectUri)
    ) {
      return Either.left({
        param: "redirect_uri",
        errcode: 10003,
        message: `redirect_uri 参数错误: 10003 redirect_uri域名与后台配置不一致 (the host ${
          quote(new URL(redirectUri).host)
        } is not one of the app's redirectDomains)`
      })
    }
    if (params.get("response_type") !== "code") {
      return Either.left({ param: "response_type", message: "response_type 参数错误: it must be code" })
    }
    const scope = params.get("scope") ?? ""
    if (!scopesOf(endpoint).includes(scope)) {
      return Either.left({
        param: "scope",
        message: `scope 参数错误或没有 scope 权限: ${endpointPaths[endpoint]} takes ${scopesOf(endpoint).join(" or ")}`
      })
    }
    const state = param(params, "state")
    if (state !== undefined && !STATE_PATTERN.test(state)) {
      return Either.left({ param: "state", message: "state 参数错误: at most 128 characters of a-zA-Z0-9" })
    }
    return Either.right({ app, redirectUri, scope, state, componentAppId })
  }

  private issueCode(request: AuthorizeRequest, userId: string, now: number): string {
    this.sweep(now)
    const code = Ids.randomCode()
    this.codes.set(code, {
      appId: request.app.appId,
      userId,
      scope: request.scope,
      issuedAt: now,
      componentAppId: request.componentAppId,
      used: false
    })
    return code
  }

  /** The callback's `appid`, which WeChat adds when a platform asked. */
  private appidParam(request: AuthorizeRequest): ReadonlyArray<readonly [string, string]> {
    return request.componentAppId === undefined ? [] : [["appid", request.app.appId]]
  }

  /** The callback URL after the user consents. */
  consent(request: AuthorizeRequest, user: SandboxUser, now: number): string {
    const code = this.issueCode(request, user.id, now)
    return callbackUrl(request.redirectUri, [
      ["code", code],
      ["state", request.state ?? ""],
      ...this.appidParam(request)
    ])
  }

  /** The callback URL after the user refuses: WeChat sends only the state (and a platform's appid). */
  deny(request: AuthorizeRequest): string {
    return callbackUrl(request.redirectUri, [["state", request.state ?? ""], ...this.appidParam(request)])
  }

  /** `GET` shows the consent page, `POST` takes the decision the page's form sends. */
  authorize(
    endpoint: "authorize" | "qrconnect",
    method: string,
    query: URLSearchParams,
    form: URLSearchParams,
    now: number
  ): RawResponse {
    const path = endpointPaths[endpoint]
    if (method === "GET" || method === "HEAD") {
      const checked = this.checkAuthorize(endpoint, query)
      if (Either.isLeft(checked)) return this.refused(checked.left)
      return htmlResponse(
        200,
        Html.consentPage({
          path,
          app: checked.right.app,
          users: Array.from(this.users.values()).filter((user) =>
            this.userOf(checked.right.app.appId, user.id) !== undefined
          ),
          redirectUri: checked.right.redirectUri,
          scope: checked.right.scope,
          state: checked.right.state,
          componentAppId: checked.right.componentAppId
        })
      )
    }
    if (method !== "POST") return htmlResponse(405, Html.methodNotAllowedPage(method, path), { allow: "GET, POST" })
    const checked = this.checkAuthorize(endpoint, form)
    if (Either.isLeft(checked)) return this.refused(checked.left)
    const decision = form.get("decision")
    if (decision === "deny") return this.redirect(this.deny(checked.right))
    if (decision !== "allow") {
      return htmlResponse(400, Html.errorPage("decision", "decision 参数错误: it must be allow or deny"))
    }
    const userId = form.get("user") ?? ""
    const user = this.userOf(checked.right.app.appId, userId)
    if (user === undefined) {
      return htmlResponse(
        400,
        Html.errorPage("user", `user 参数错误: no user ${quote(userId)} in this sandbox`)
      )
    }
    return this.redirect(this.consent(checked.right, user, now))
  }

  /** WeChat's error page for a refused authorize request. */
  private refused(problem: AuthorizeProblem): RawResponse {
    return htmlResponse(400, Html.errorPage(problem.param, problem.message, problem.errcode))
  }

  private redirect(location: string): RawResponse {
    return htmlResponse(302, Html.redirectPage(location), { location, "referrer-policy": "no-referrer" })
  }

  // ---------------------------------------------------------------------------------------------
  // the API (sns, cgi-bin, wxa)
  // ---------------------------------------------------------------------------------------------

  /** Answers one of the JSON endpoints. */
  answer(endpoint: Exclude<Endpoint, "authorize" | "qrconnect">, request: ApiRequest, now: number): RawResponse {
    const params = request.params
    switch (endpoint) {
      case "access_token":
        return this.accessToken(params, now)
      case "refresh_token":
        return this.refreshToken(params, now)
      case "userinfo":
        return this.userInfo(params, now)
      case "auth":
        return this.auth(params, now)
      case "jscode2session":
        return this.jscode2session(params, now)
      case "stable_token":
        return this.appTokens.stableToken(request, now)
      case "token":
        return this.appTokens.token(request, now)
      case "getuserphonenumber":
      case "checksession":
      case "resetusersessionkey":
        return this.wxa.answer(endpoint, request, now)
      case "api_component_token":
      case "api_query_auth":
      case "api_authorizer_token":
        return this.components.answer(endpoint, request, now)
      case "component_access_token":
        return this.componentAccessToken(params, now)
      case "component_refresh_token":
        return this.componentRefreshToken(params, now)
      case "component_jscode2session":
        return this.componentJscode2session(params, now)
    }
  }

  /**
   * The answer the endpoint would give this request on success, computed without any effect (a
   * code is not used up, no token is issued or renewed): what the faults that answer in the
   * endpoint's place start from. `undefined` when the request would fail.
   */
  preview(endpoint: Endpoint, request: ApiRequest, now: number): Record<string, unknown> | undefined {
    const params = request.params
    switch (endpoint) {
      case "access_token": {
        const checked = this.checkCode(params, now)
        if (Either.isLeft(checked)) return undefined
        const { app, entry, user } = checked.right
        const grant = this.newGrant(app, user, entry)
        return this.tokenBody(grant, now + ACCESS_TOKEN_TTL_SECONDS * 1000, now)
      }
      case "refresh_token": {
        const checked = this.checkRefresh(params, now)
        if (Either.isLeft(checked)) return undefined
        const grant = checked.right
        const current = this.accessTokens.get(grant.accessToken)
        const accessToken = current !== undefined && now < current.expiresAt ? grant.accessToken : Ids.randomToken()
        return this.tokenBody({ ...grant, accessToken }, now + ACCESS_TOKEN_TTL_SECONDS * 1000, now, true)
      }
      case "userinfo": {
        const checked = this.checkAccessToken("userinfo", params, now)
        if (Either.isLeft(checked) || checked.right.scope === "snsapi_base") return undefined
        return this.profileBody(checked.right, params)
      }
      case "auth":
        return Either.isLeft(this.checkAccessToken("auth", params, now)) ? undefined : { errcode: 0, errmsg: "ok" }
      case "jscode2session": {
        const checked = this.checkJsCode(params, now)
        if (Either.isLeft(checked)) return undefined
        const { app, entry, user } = checked.right
        return this.sessionBody(app, user, entry.sessionKey)
      }
      case "stable_token":
        return this.appTokens.previewStable(request, now)
      case "token":
        return this.appTokens.previewToken(request, now)
      case "getuserphonenumber":
      case "checksession":
      case "resetusersessionkey":
        return this.wxa.preview(endpoint, request, now)
      case "api_component_token":
      case "api_query_auth":
      case "api_authorizer_token":
        return this.components.preview(endpoint, request, now)
      case "component_access_token": {
        const checked = this.checkComponentCode(params, now)
        if (Either.isLeft(checked)) return undefined
        const { app, entry, user } = checked.right
        const grant = this.newGrant(app, user, entry)
        return this.tokenBody(grant, now + ACCESS_TOKEN_TTL_SECONDS * 1000, now)
      }
      case "component_refresh_token": {
        const checked = this.checkComponentRefresh(params, now)
        if (Either.isLeft(checked)) return undefined
        const grant = checked.right
        const current = this.accessTokens.get(grant.accessToken)
        const accessToken = current !== undefined && now < current.expiresAt ? grant.accessToken : Ids.randomToken()
        return this.tokenBody({ ...grant, accessToken }, now + ACCESS_TOKEN_TTL_SECONDS * 1000, now, true)
      }
      case "component_jscode2session": {
        const checked = this.checkComponentJsCode(params, now)
        if (Either.isLeft(checked)) return undefined
        const { app, entry, user } = checked.right
        return this.sessionBody(app, user, entry.sessionKey)
      }
      case "authorize":
      case "qrconnect":
        return undefined
    }
  }

  /** A token answer: the code exchange's, or with `refresh` the refresh's (which may leave out the unionid). */
  private tokenBody(grant: Grant, expiresAt: number, now: number, refresh = false) {
    const unionid = grant.app.bound && grant.scope !== "snsapi_base" &&
      (!refresh || grant.app.unionidOnRefresh !== false)
    return {
      access_token: grant.accessToken,
      expires_in: Math.max(0, Math.round((expiresAt - now) / 1000)),
      refresh_token: grant.refreshToken,
      openid: grant.openid,
      scope: grant.scope,
      ...(grant.user.snapshot === true ? { is_snapshotuser: 1 } : {}),
      ...(unionid ? { unionid: grant.user.unionid } : {})
    }
  }

  /**
   * The grant a code's exchange issues. Its refresh token lives 30 days from the consent that issued
   * the code (`entry.issuedAt`), not from the exchange, as WeChat's does.
   */
  private newGrant(app: SandboxApp, user: SandboxUser, entry: CodeEntry): Grant {
    return {
      app,
      user,
      openid: this.openidOf(app.appId, user.id),
      scope: entry.scope,
      refreshToken: Ids.randomToken(),
      refreshExpiresAt: entry.issuedAt + REFRESH_TOKEN_TTL_MS,
      componentAppId: entry.componentAppId,
      accessToken: Ids.randomToken()
    }
  }

  /** The checks of a code exchange, in WeChat's order. */
  private checkCode(
    params: URLSearchParams,
    now: number
  ): Either.Either<{ app: SandboxApp; entry: CodeEntry; user: SandboxUser }, RawResponse> {
    const fail = (errcode: number, errmsg: string) => Either.left(errcodeResponse("access_token", errcode, errmsg))
    const appId = param(params, "appid")
    if (appId === undefined) return fail(41002, "appid missing")
    const secret = param(params, "secret")
    if (secret === undefined) return fail(41004, "appsecret missing")
    const code = param(params, "code")
    if (code === undefined) return fail(41008, "missing code")
    if (params.get("grant_type") !== "authorization_code") return fail(40002, "invalid grant_type")
    const app = this.apps.get(appId)
    if (app === undefined) return fail(40013, "invalid appid")
    if (app.secret !== secret) return Either.left(wrongSecretResponse("access_token", app))
    return Either.mapLeft(
      this.checkCodeEntry(app, code, undefined, now),
      (problem) => errcodeResponse("access_token", problem.errcode, problem.errmsg)
    )
  }

  /** The code itself, once its app and caller are known: issued to this app by this caller's consent. */
  private checkCodeEntry(
    app: SandboxApp,
    code: string,
    componentAppId: string | undefined,
    now: number
  ): Either.Either<{ app: SandboxApp; entry: CodeEntry; user: SandboxUser }, Problem> {
    const fail = (errcode: number, errmsg: string) => Either.left({ errcode, errmsg })
    const entry = this.codes.get(code)
    if (entry === undefined || entry.appId !== app.appId || entry.componentAppId !== componentAppId) {
      return fail(40029, "invalid code")
    }
    if (entry.used) return fail(40163, "code been used")
    if (now - entry.issuedAt >= CODE_TTL_MS) return fail(42003, "code expired")
    const user = this.users.get(entry.userId)
    if (user === undefined) return fail(40029, "invalid code")
    return Either.right({ app, entry, user })
  }

  /** Uses the code up and issues the grant: the token endpoint's answer. */
  private exchange(
    endpoint: "access_token" | "component_access_token",
    { app, entry, user }: { app: SandboxApp; entry: CodeEntry; user: SandboxUser },
    now: number
  ): RawResponse {
    entry.used = true
    this.sweep(now)
    const grant = this.newGrant(app, user, entry)
    const expiresAt = now + ACCESS_TOKEN_TTL_SECONDS * 1000
    this.grants.set(grant.refreshToken, grant)
    this.accessTokens.set(grant.accessToken, { grant, expiresAt })
    return jsonResponse(endpoint, this.tokenBody(grant, expiresAt, now))
  }

  private accessToken(params: URLSearchParams, now: number): RawResponse {
    const checked = this.checkCode(params, now)
    return Either.isLeft(checked) ? checked.left : this.exchange("access_token", checked.right, now)
  }

  /** The checks of a refresh, in WeChat's order. */
  private checkRefresh(params: URLSearchParams, now: number): Either.Either<Grant, RawResponse> {
    const fail = (errcode: number, errmsg: string) => Either.left(errcodeResponse("refresh_token", errcode, errmsg))
    const appId = param(params, "appid")
    if (appId === undefined) return fail(41002, "appid missing")
    const refreshToken = param(params, "refresh_token")
    if (refreshToken === undefined) return fail(41003, "refresh_token missing")
    if (params.get("grant_type") !== "refresh_token") return fail(40002, "invalid grant_type")
    if (!this.apps.has(appId)) return fail(40013, "invalid appid")
    return Either.mapLeft(
      this.checkGrant(appId, refreshToken, undefined, now),
      (problem) => errcodeResponse("refresh_token", problem.errcode, problem.errmsg)
    )
  }

  /** The grant of a refresh token, once its app and caller are known: this app's, by this caller. */
  private checkGrant(
    appId: string,
    refreshToken: string,
    componentAppId: string | undefined,
    now: number
  ): Either.Either<Grant, Problem> {
    const grant = this.grants.get(refreshToken)
    if (grant === undefined) {
      // expired a day or more and swept: still this app's (and caller's), still expired
      const forgotten = this.forgottenGrants.get(refreshToken, now)
      return forgotten !== undefined && forgotten.appId === appId && forgotten.componentAppId === componentAppId ?
        Either.left({ errcode: 42002, errmsg: "refresh_token expired" }) :
        Either.left({ errcode: 40030, errmsg: "invalid refresh_token" })
    }
    if (grant.app.appId !== appId || grant.componentAppId !== componentAppId) {
      return Either.left({ errcode: 40030, errmsg: "invalid refresh_token" })
    }
    if (now >= grant.refreshExpiresAt) return Either.left({ errcode: 42002, errmsg: "refresh_token expired" })
    return Either.right(grant)
  }

  private refreshToken(params: URLSearchParams, now: number): RawResponse {
    const checked = this.checkRefresh(params, now)
    return Either.isLeft(checked) ? checked.left : this.renew("refresh_token", checked.right, now)
  }

  /** Renews a grant's access token: the unexpired one gets a new expiry, an expired one is replaced. */
  private renew(endpoint: "refresh_token" | "component_refresh_token", grant: Grant, now: number): RawResponse {
    const expiresAt = now + ACCESS_TOKEN_TTL_SECONDS * 1000
    const current = this.accessTokens.get(grant.accessToken)
    if (current !== undefined && now < current.expiresAt) {
      // an unexpired access token is kept and its expiry renewed
      current.expiresAt = expiresAt
    } else {
      grant.accessToken = Ids.randomToken()
      this.accessTokens.set(grant.accessToken, { grant, expiresAt })
    }
    return jsonResponse(endpoint, this.tokenBody(grant, expiresAt, now, true))
  }

  private checkAccessToken(
    endpoint: "userinfo" | "auth",
    params: URLSearchParams,
    now: number
  ): Either.Either<Grant, RawResponse> {
    const fail = (errcode: number, errmsg: string) => Either.left(errcodeResponse(endpoint, errcode, errmsg))
    const accessToken = param(params, "access_token")
    if (accessToken === undefined) return fail(41001, "access_token missing")
    const openid = param(params, "openid")
    if (openid === undefined) return fail(41009, "missing openid")
    const entry = this.accessTokens.get(accessToken)
    if (entry === undefined) {
      return this.forgottenAccessTokens.get(accessToken, now) === undefined ?
        fail(40001, "invalid credential, access_token is invalid or not latest") :
        fail(42001, "access_token expired")
    }
    if (now >= entry.expiresAt) return fail(42001, "access_token expired")
    if (entry.grant.openid !== openid) return fail(40003, "invalid openid")
    return Either.right(entry.grant)
  }

  private profileBody(grant: Grant, params: URLSearchParams) {
    return Profile.userInfo(grant.app, grant.user, grant.openid, Places.parseLang(param(params, "lang")))
  }

  private userInfo(params: URLSearchParams, now: number): RawResponse {
    const checked = this.checkAccessToken("userinfo", params, now)
    if (Either.isLeft(checked)) return checked.left
    const grant = checked.right
    if (grant.scope === "snsapi_base") return errcodeResponse("userinfo", 48001, "api unauthorized")
    return jsonResponse("userinfo", this.profileBody(grant, params))
  }

  private auth(params: URLSearchParams, now: number): RawResponse {
    const checked = this.checkAccessToken("auth", params, now)
    if (Either.isLeft(checked)) return checked.left
    return jsonResponse("auth", { errcode: 0, errmsg: "ok" })
  }

  /** The checks of a code2Session, in WeChat's order. */
  private checkJsCode(
    params: URLSearchParams,
    now: number
  ): Either.Either<{ app: SandboxApp; entry: JsCodeEntry; user: SandboxUser }, RawResponse> {
    const fail = (errcode: number, errmsg: string) => Either.left(errcodeResponse("jscode2session", errcode, errmsg))
    const appId = param(params, "appid")
    if (appId === undefined) return fail(41002, "appid missing")
    const secret = param(params, "secret")
    if (secret === undefined) return fail(41004, "appsecret missing")
    const jsCode = param(params, "js_code")
    if (jsCode === undefined) return fail(41008, "missing code")
    if (params.get("grant_type") !== "authorization_code") return fail(40002, "invalid grant_type")
    const app = this.apps.get(appId)
    if (app === undefined || app.kind !== "miniProgram") return fail(40013, "invalid appid")
    if (app.secret !== secret) return Either.left(wrongSecretResponse("jscode2session", app))
    return Either.mapLeft(
      this.checkJsCodeEntry(app, jsCode, now),
      (problem) => errcodeResponse("jscode2session", problem.errcode, problem.errmsg)
    )
  }

  /** The js_code itself, once its app and caller are known. */
  private checkJsCodeEntry(
    app: SandboxApp,
    jsCode: string,
    now: number
  ): Either.Either<{ app: SandboxApp; entry: JsCodeEntry; user: SandboxUser }, Problem> {
    const fail = (errcode: number, errmsg: string) => Either.left({ errcode, errmsg })
    const entry = this.jsCodes.get(jsCode)
    if (entry === undefined || entry.appId !== app.appId) return fail(40029, "invalid code")
    if (entry.used) return fail(40163, "code been used")
    if (now - entry.issuedAt >= CODE_TTL_MS) return fail(40029, "invalid code")
    const user = this.users.get(entry.userId)
    if (user === undefined) return fail(40029, "invalid code")
    return Either.right({ app, entry, user })
  }

  private sessionBody(app: SandboxApp, user: SandboxUser, sessionKey: string) {
    return {
      session_key: sessionKey,
      openid: this.openidOf(app.appId, user.id),
      ...(app.bound ? { unionid: user.unionid } : {})
    }
  }

  private jscode2session(params: URLSearchParams, now: number): RawResponse {
    const checked = this.checkJsCode(params, now)
    return Either.isLeft(checked) ? checked.left : this.startSession("jscode2session", checked.right)
  }

  /** Uses the js_code up: its session_key becomes the user's current one. */
  private startSession(
    endpoint: "jscode2session" | "component_jscode2session",
    { app, entry, user }: { app: SandboxApp; entry: JsCodeEntry; user: SandboxUser }
  ): RawResponse {
    entry.used = true
    this.sessionKeys.set(app.appId, user.id, entry.sessionKey)
    return jsonResponse(endpoint, this.sessionBody(app, user, entry.sessionKey))
  }

  // ---------------------------------------------------------------------------------------------
  // the third-party platform's sns endpoints
  // ---------------------------------------------------------------------------------------------

  /**
   * The platform's part of a call on an app's behalf, after the call's own parameters: the caller
   * (`component_appid`, `component_access_token`, the whitelist), then the app (40013 unknown or of
   * another kind, 61003 not authorized to the platform).
   */
  private checkOnBehalf(
    params: URLSearchParams,
    appId: string,
    kind: SandboxApp["kind"],
    now: number
  ): Either.Either<{ componentAppId: string; app: SandboxApp }, Problem> {
    const caller = this.components.checkCaller(
      param(params, "component_appid"),
      param(params, "component_access_token"),
      now
    )
    if (Either.isLeft(caller)) return Either.left(caller.left)
    const componentAppId = caller.right.config.componentAppId
    const app = this.apps.get(appId)
    if (app === undefined || app.kind !== kind) return Either.left(Component.problems.appidInvalid)
    if (!this.components.isAuthorized(componentAppId, appId)) return Either.left(Component.problems.notAuthorized)
    return Either.right({ componentAppId, app })
  }

  /** The checks of `sns/oauth2/component/access_token`, in order. */
  private checkComponentCode(
    params: URLSearchParams,
    now: number
  ): Either.Either<{ app: SandboxApp; entry: CodeEntry; user: SandboxUser }, Problem> {
    const appId = param(params, "appid")
    if (appId === undefined) return Either.left({ errcode: 41002, errmsg: "appid missing" })
    const code = param(params, "code")
    if (code === undefined) return Either.left({ errcode: 41008, errmsg: "missing code" })
    if (params.get("grant_type") !== "authorization_code") {
      return Either.left({ errcode: 40002, errmsg: "invalid grant_type" })
    }
    return Either.flatMap(
      this.checkOnBehalf(params, appId, "officialAccount", now),
      ({ app, componentAppId }) => this.checkCodeEntry(app, code, componentAppId, now)
    )
  }

  private componentAccessToken(params: URLSearchParams, now: number): RawResponse {
    const checked = this.checkComponentCode(params, now)
    return Either.isLeft(checked) ?
      errcodeResponse("component_access_token", checked.left.errcode, checked.left.errmsg) :
      this.exchange("component_access_token", checked.right, now)
  }

  /** The checks of `sns/oauth2/component/refresh_token`, in order. */
  private checkComponentRefresh(params: URLSearchParams, now: number): Either.Either<Grant, Problem> {
    const appId = param(params, "appid")
    if (appId === undefined) return Either.left({ errcode: 41002, errmsg: "appid missing" })
    const refreshToken = param(params, "refresh_token")
    if (refreshToken === undefined) return Either.left({ errcode: 41003, errmsg: "refresh_token missing" })
    if (params.get("grant_type") !== "refresh_token") {
      return Either.left({ errcode: 40002, errmsg: "invalid grant_type" })
    }
    return Either.flatMap(
      this.checkOnBehalf(params, appId, "officialAccount", now),
      ({ componentAppId }) => this.checkGrant(appId, refreshToken, componentAppId, now)
    )
  }

  private componentRefreshToken(params: URLSearchParams, now: number): RawResponse {
    const checked = this.checkComponentRefresh(params, now)
    return Either.isLeft(checked) ?
      errcodeResponse("component_refresh_token", checked.left.errcode, checked.left.errmsg) :
      this.renew("component_refresh_token", checked.right, now)
  }

  /** The checks of `sns/component/jscode2session`, in order. */
  private checkComponentJsCode(
    params: URLSearchParams,
    now: number
  ): Either.Either<{ app: SandboxApp; entry: JsCodeEntry; user: SandboxUser }, Problem> {
    const appId = param(params, "appid")
    if (appId === undefined) return Either.left({ errcode: 41002, errmsg: "appid missing" })
    const jsCode = param(params, "js_code")
    if (jsCode === undefined) return Either.left({ errcode: 41008, errmsg: "missing code" })
    if (params.get("grant_type") !== "authorization_code") {
      return Either.left({ errcode: 40002, errmsg: "invalid grant_type" })
    }
    return Either.flatMap(
      this.checkOnBehalf(params, appId, "miniProgram", now),
      ({ app }) => this.checkJsCodeEntry(app, jsCode, now)
    )
  }

  private componentJscode2session(params: URLSearchParams, now: number): RawResponse {
    const checked = this.checkComponentJsCode(params, now)
    return Either.isLeft(checked) ?
      errcodeResponse("component_jscode2session", checked.left.errcode, checked.left.errmsg) :
      this.startSession("component_jscode2session", checked.right)
  }

  // ---------------------------------------------------------------------------------------------
  // mini program controls
  // ---------------------------------------------------------------------------------------------

  private miniProgramApp(appId: string): Either.Either<SandboxApp, string> {
    const app = this.apps.get(appId)
    if (app === undefined) return Either.left(`unknown app ${quote(appId)}`)
    if (app.kind !== "miniProgram") return Either.left(`app ${appId} is a ${app.kind} app, not a miniProgram`)
    return Either.right(app)
  }

  /** What `wx.login()` gives a mini program: a fresh js_code (with a fresh session_key behind it). */
  miniProgramLogin(
    appId: string,
    userId: string,
    sessionKey: string | undefined,
    now: number
  ): Either.Either<string, string> {
    const app = this.miniProgramApp(appId)
    if (Either.isLeft(app)) return Either.left(app.left)
    const user = this.checkUser(appId, userId)
    if (Either.isLeft(user)) return Either.left(user.left)
    if (sessionKey !== undefined && !Ids.isSessionKey(sessionKey)) {
      return Either.left("sessionKey must be base64 of 16 bytes: 22 characters of A-Z a-z 0-9 + / and \"==\"")
    }
    this.sweep(now)
    const code = Ids.randomCode()
    this.jsCodes.set(code, {
      appId,
      userId,
      issuedAt: now,
      sessionKey: sessionKey ?? Ids.randomSessionKey(),
      used: false
    })
    return Either.right(code)
  }

  /** What `wx.getUserInfo()` gives a mini program, encrypted with the user's current session_key. */
  encryptUserData(
    appId: string,
    userId: string,
    watermarkAppId: string | undefined,
    now: number
  ): Either.Either<{ encryptedData: string; iv: string }, string> {
    const app = this.miniProgramApp(appId)
    if (Either.isLeft(app)) return Either.left(app.left)
    const user = this.users.get(userId)
    if (user === undefined) return Either.left(`unknown user ${quote(userId)}`)
    const sessionKey = this.sessionKeys.get(appId, userId)
    if (sessionKey === undefined) {
      return Either.left(
        `user ${userId} has no session_key in ${appId} yet: exchange a js_code from miniProgramLogin at /sns/jscode2session first`
      )
    }
    const data = Profile.miniProgramUserInfo(app.right, user, this.openidOf(appId, userId), {
      timestamp: Math.floor(now / 1000),
      appid: watermarkAppId ?? appId
    })
    return Either.right(Ids.encryptUserData(sessionKey, JSON.stringify(data)))
  }

  // ---------------------------------------------------------------------------------------------
  // housekeeping
  // ---------------------------------------------------------------------------------------------

  /**
   * Every 1000 writes, forgets what has been dead for a day, so a long-running sandbox stays small.
   * An expired token forgotten leaves a tombstone (bounded, see `tombstones.ts`): it keeps
   * answering 42001 / 42002 as WeChat does, whatever the number of calls made since.
   */
  private sweep(now: number): void {
    if (++this.writes % 1000 !== 0) return
    const day = 24 * 60 * 60 * 1000
    for (const [code, entry] of this.codes) if (now - entry.issuedAt > CODE_TTL_MS + day) this.codes.delete(code)
    for (const [code, entry] of this.jsCodes) if (now - entry.issuedAt > CODE_TTL_MS + day) this.jsCodes.delete(code)
    const forgetAccessToken = (token: string, entry: AccessTokenEntry) => {
      this.accessTokens.delete(token)
      this.forgottenAccessTokens.add(token, entry.expiresAt, true)
    }
    for (const [token, entry] of this.accessTokens) {
      if (now - entry.expiresAt > day && entry.grant.accessToken !== token) forgetAccessToken(token, entry)
    }
    for (const [token, grant] of this.grants) {
      if (now - grant.refreshExpiresAt > day) {
        this.grants.delete(token)
        this.forgottenGrants.add(token, grant.refreshExpiresAt, {
          appId: grant.app.appId,
          componentAppId: grant.componentAppId
        })
        const current = this.accessTokens.get(grant.accessToken)
        if (current !== undefined) forgetAccessToken(grant.accessToken, current)
      }
    }
    this.forgottenGrants.prune(now)
    this.forgottenAccessTokens.prune(now)
  }
}
