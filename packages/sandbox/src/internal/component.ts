/**
 * The third-party platform ("component") and WeChat's rules for it:
 * - tickets: WeChat pushes a new `component_verify_ticket` (every 10 minutes); every ticket pushed
 *   is accepted for 12 hours from its push (61005 after, 61006 for one never pushed). The last
 *   `TICKET_MEMORY` tickets are remembered: 12 hours of pushes at 10 minutes, and a margin that
 *   keeps an expired one answering 61005.
 * - `POST /cgi-bin/component/api_component_token`: a new `component_access_token` (7200 s) at each
 *   call; the previous one works 5 more minutes.
 * - authorizations: an official account or mini program authorizes the platform (the `authorized`
 *   push carries a one-time AuthorizationCode, valid an hour); `api_query_auth` exchanges it for
 *   the authorizer's access token (an app access token of that app) and refresh token;
 *   `api_authorizer_token` renews the access token with the refresh token (61023 once the app
 *   unauthorized the platform or the refresh token was revoked). An authorized app is managed:
 *   its own `stable_token` / `token` answer 61024.
 * - the platform's IP whitelist: when set to refuse, every component endpoint answers 61004.
 * - the pushes themselves: the XML message, encrypted and signed (`wxcrypt.ts`).
 *
 * Checks of the endpoints that take a `component_access_token`, in this order: method and body
 * (43002, 47001), `component_appid` (41002 missing, 40013 unknown), the token (41001 missing, 40001
 * unknown, replaced, revoked or another platform's, 42001 expired), the whitelist (61004), then the
 * endpoint's own parameters. The `sns` endpoints of the platform (code exchange, refresh,
 * jscode2session) live in `engine.ts` and call `checkCaller`.
 *
 * Synchronous, on the time the caller passes; every call is atomic.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Crypto from "node:crypto"
import type {
  ComponentEndpoint,
  ComponentInfoType,
  ComponentPush,
  ComponentPushForge,
  ComponentUsage,
  SandboxApp,
  SandboxComponent
} from "../Sandbox.js"
import type { ApiRequest, AppTokens, Problem } from "./apptoken.js"
import { OVERLAP_MS } from "./apptoken.js"
import * as Ids from "./ids.js"
import * as JsonBody from "./jsonbody.js"
import { quote } from "./quote.js"
import type { RawResponse } from "./responses.js"
import { errcodeResponse, jsonResponse } from "./responses.js"
import * as Tombstones from "./tombstones.js"
import * as WxCrypt from "./wxcrypt.js"

/** A ticket is accepted 12 hours from its push. @internal */
export const TICKET_TTL_MS = 12 * 60 * 60 * 1000
/**
 * How many tickets a platform remembers: the 72 of 12 hours at 10 minutes, and 18 more (3 hours)
 * so that one just past its 12 hours is 61005, not 61006. Bounded: older ones are forgotten
 * (61006), the oldest first. @internal
 */
export const TICKET_MEMORY = 90
/** A component access token lives 7200 seconds. @internal */
export const COMPONENT_TOKEN_TTL_MS = 7200 * 1000
/** An authorization code lives an hour. @internal */
export const AUTHORIZATION_CODE_TTL_MS = 60 * 60 * 1000

/** @internal */
export const componentEndpoints: ReadonlyArray<ComponentEndpoint> = [
  "api_component_token",
  "api_query_auth",
  "api_authorizer_token",
  "component_access_token",
  "component_refresh_token",
  "component_jscode2session"
]

/** @internal */
export const isComponentEndpoint = (endpoint: string): endpoint is ComponentEndpoint =>
  (componentEndpoints as ReadonlyArray<string>).includes(endpoint)

/** The errcodes of the platform's own. @internal */
export const problems = {
  ipRefused: { errcode: 61004, errmsg: "access clientip is not registered" },
  ticketExpired: { errcode: 61005, errmsg: "component ticket is expired" },
  ticketInvalid: { errcode: 61006, errmsg: "component ticket is invalid" },
  notAuthorized: { errcode: 61003, errmsg: "component is not authorized by this account" },
  codeInvalid: { errcode: 61009, errmsg: "code is invalid" },
  codeExpired: { errcode: 61010, errmsg: "code is expired" },
  refreshInvalid: { errcode: 61023, errmsg: "refresh_token is invalid" },
  managed: { errcode: 61024, errmsg: "must use api(api_component_token) to get token for component acct" },
  tokenMissing: { errcode: 41001, errmsg: "access_token missing" },
  tokenInvalid: { errcode: 40001, errmsg: "invalid credential, access_token is invalid or not latest" },
  tokenExpired: { errcode: 42001, errmsg: "access_token expired" },
  appidMissing: { errcode: 41002, errmsg: "appid missing" },
  appidInvalid: { errcode: 40013, errmsg: "invalid appid" }
} as const satisfies Record<string, Problem>

interface TokenEntry {
  readonly componentAppId: string
  readonly expiresAt: number
  /** When it stops working before it expires: replaced or revoked. */
  endsAt: number
}

interface CodeEntry {
  readonly componentAppId: string
  readonly appId: string
  readonly expiresAt: number
  used: boolean
}

interface Authorization {
  authorized: boolean
  refreshToken: string
  refreshValid: boolean
}

/** A platform as configured, checked, with defaults filled in. @internal */
export type ComponentConfig = SandboxComponent & {
  readonly name: string
}

interface Platform {
  readonly config: ComponentConfig
  readonly key: Buffer
  refuseIp: boolean
  /** The tickets pushed, value to push time, oldest first; at most `TICKET_MEMORY`. */
  readonly tickets: Map<string, number>
  currentToken: string | undefined
  readonly authorizations: Map<string, Authorization>
  calls: Record<ComponentEndpoint, number>
  ticketsIssued: number
  componentTokens: number
  authorizerTokens: number
}

const emptyCalls = (): Record<ComponentEndpoint, number> =>
  Object.fromEntries(componentEndpoints.map((endpoint) => [endpoint, 0])) as Record<ComponentEndpoint, number>

/** What an authorizer's grant covers (`func_info`): a few of WeChat's function categories per kind. */
const funcInfo = (app: SandboxApp) =>
  (app.kind === "miniProgram" ? [17, 18, 19, 25, 30, 31, 36, 37, 40] : [1, 2, 3, 4, 6, 7, 9, 10, 11, 15]).map((id) => ({
    funcscope_category: { id }
  }))

const param = (params: URLSearchParams, name: string): string | undefined => {
  const value = params.get(name)
  return value === null || value === "" ? undefined : value
}

/** What `authorize` / `updateAuthorization` hand out, and the `authorized` push carries. @internal */
export interface Grant {
  readonly code: string
  readonly expiresAt: number
  readonly preAuthCode: string
}

/** @internal */
export class Components {
  private readonly platforms = new Map<string, Platform>()
  private readonly tokens = new Map<string, TokenEntry>()
  /** The expired tokens the sweep forgot (they still answer 42001 to their platform): the platform. */
  private readonly forgottenTokens = new Tombstones.Tombstones<string>()
  private readonly codes = new Map<string, CodeEntry>()
  private writes = 0

  constructor(
    configs: ReadonlyArray<ComponentConfig>,
    private readonly apps: ReadonlyMap<string, SandboxApp>,
    private readonly appTokens: AppTokens
  ) {
    for (const config of configs) {
      const key = WxCrypt.parseKey(config.encodingAesKey)
      if (Either.isLeft(key)) throw new Error(`component ${config.componentAppId}: ${key.left}`)
      this.platforms.set(config.componentAppId, {
        config,
        key: key.right,
        refuseIp: false,
        tickets: new Map(),
        currentToken: undefined,
        authorizations: new Map(
          (config.authorizers ?? []).map((authorizer) => [
            authorizer.appId,
            { authorized: true, refreshToken: Ids.randomAuthorizerRefreshToken(), refreshValid: true }
          ])
        ),
        calls: emptyCalls(),
        ticketsIssued: 0,
        componentTokens: 0,
        authorizerTokens: 0
      })
    }
  }

  /** The platform, or a message naming the unknown id. */
  private platform(componentAppId: string): Either.Either<Platform, string> {
    const platform = this.platforms.get(componentAppId)
    return platform === undefined ?
      Either.left(`unknown component ${quote(componentAppId)}`) :
      Either.right(platform)
  }

  /** Whether the app has authorized the platform (and not unauthorized it since). */
  isAuthorized(componentAppId: string, appId: string): boolean {
    return this.platforms.get(componentAppId)?.authorizations.get(appId)?.authorized === true
  }

  /** Whether the app is managed by a platform: authorized to one. */
  isManaged(appId: string): boolean {
    for (const platform of this.platforms.values()) {
      if (platform.authorizations.get(appId)?.authorized === true) return true
    }
    return false
  }

  /** Whether the platform is known. */
  has(componentAppId: string): boolean {
    return this.platforms.has(componentAppId)
  }

  // ---------------------------------------------------------------------------------------------
  // calls and usage
  // ---------------------------------------------------------------------------------------------

  /** Counts a call to a component endpoint for the platform it names (by `component_appid`), if any. */
  count(endpoint: ComponentEndpoint, request: ApiRequest): void {
    let componentAppId = param(request.params, "component_appid")
    if (componentAppId === undefined && request.method === "POST") {
      const fields = JsonBody.read(request.body)
      if (Either.isRight(fields)) {
        const named = JsonBody.stringField(fields.right, "component_appid")
        if (Either.isRight(named)) componentAppId = named.right
      }
    }
    const platform = componentAppId === undefined ? undefined : this.platforms.get(componentAppId)
    if (platform !== undefined) platform.calls[endpoint]++
  }

  /** Forgets the call and issue counters (with the sandbox's stats). */
  resetUsage(): void {
    for (const platform of this.platforms.values()) {
      platform.calls = emptyCalls()
      platform.ticketsIssued = 0
      platform.componentTokens = 0
      platform.authorizerTokens = 0
    }
  }

  usage(componentAppId: string): Either.Either<ComponentUsage, string> {
    return Either.map(this.platform(componentAppId), (platform) => ({
      calls: { ...platform.calls },
      tickets: platform.ticketsIssued,
      componentTokens: platform.componentTokens,
      authorizerTokens: platform.authorizerTokens
    }))
  }

  // ---------------------------------------------------------------------------------------------
  // controls
  // ---------------------------------------------------------------------------------------------

  setRefuseIp(componentAppId: string, refuse: boolean): Either.Either<void, string> {
    return Either.map(this.platform(componentAppId), (platform) => {
      platform.refuseIp = refuse
    })
  }

  /** Ends every component access token of the platform now: the endpoints answer 40001. */
  revokeTokens(componentAppId: string, now: number): Either.Either<void, string> {
    return Either.map(this.platform(componentAppId), () => {
      for (const entry of this.tokens.values()) {
        if (entry.componentAppId === componentAppId) entry.endsAt = Math.min(entry.endsAt, now)
      }
    })
  }

  private authorization(componentAppId: string, appId: string): Either.Either<[Platform, Authorization], string> {
    return Either.flatMap(this.platform(componentAppId), (platform) => {
      const authorization = platform.authorizations.get(appId)
      return authorization?.authorized === true ?
        Either.right([platform, authorization]) :
        Either.left(`app ${quote(appId)} has not authorized component ${componentAppId}`)
    })
  }

  /** Revokes the authorizer's refresh token: `api_authorizer_token` answers 61023 until it authorizes again. */
  revokeRefreshToken(componentAppId: string, appId: string): Either.Either<void, string> {
    return Either.map(this.authorization(componentAppId, appId), ([, authorization]) => {
      authorization.refreshValid = false
    })
  }

  /** A new ticket, accepted for 12 hours; past `TICKET_MEMORY` tickets, the oldest is forgotten. */
  issueTicket(componentAppId: string, now: number): Either.Either<string, string> {
    return Either.map(this.platform(componentAppId), (platform) => {
      const value = Ids.randomTicket()
      platform.tickets.set(value, now)
      if (platform.tickets.size > TICKET_MEMORY) platform.tickets.delete(platform.tickets.keys().next().value!)
      platform.ticketsIssued++
      return value
    })
  }

  /** When the platform's newest ticket was pushed, if it has one. */
  newestTicketAt(componentAppId: string): number | undefined {
    let newest: number | undefined
    for (const issuedAt of this.platforms.get(componentAppId)?.tickets.values() ?? []) {
      if (newest === undefined || issuedAt > newest) newest = issuedAt
    }
    return newest
  }

  /**
   * The app authorizes the platform (again): it is managed from now on, its refresh token is valid
   * (a new one if it had none), and a fresh authorization code is issued.
   */
  authorize(componentAppId: string, appId: string, now: number): Either.Either<Grant, string> {
    return Either.flatMap(this.platform(componentAppId), (platform) => {
      const app = this.apps.get(appId)
      if (app === undefined) return Either.left(`unknown app ${quote(appId)}`)
      if (app.kind === "website") {
        return Either.left(
          `app ${appId} is a website app: only an officialAccount or a miniProgram authorizes a component`
        )
      }
      const authorization = platform.authorizations.get(appId)
      if (authorization === undefined) {
        platform.authorizations.set(appId, {
          authorized: true,
          refreshToken: Ids.randomAuthorizerRefreshToken(),
          refreshValid: true
        })
      } else if (!authorization.authorized || !authorization.refreshValid) {
        authorization.authorized = true
        authorization.refreshToken = Ids.randomAuthorizerRefreshToken()
        authorization.refreshValid = true
      }
      return Either.right(this.grant(componentAppId, appId, now))
    })
  }

  /** The app changes what it granted: a fresh authorization code; it must have authorized already. */
  updateAuthorization(componentAppId: string, appId: string, now: number): Either.Either<Grant, string> {
    return Either.map(this.authorization(componentAppId, appId), () => this.grant(componentAppId, appId, now))
  }

  /**
   * The app unauthorizes the platform: its refresh token and outstanding codes stop working, its
   * access tokens end now, and it is no longer managed (its own `stable_token` works again).
   */
  unauthorize(componentAppId: string, appId: string, now: number): Either.Either<void, string> {
    return Either.map(this.authorization(componentAppId, appId), ([, authorization]) => {
      authorization.authorized = false
      authorization.refreshValid = false
      for (const [code, entry] of this.codes) {
        if (entry.componentAppId === componentAppId && entry.appId === appId) this.codes.delete(code)
      }
      this.appTokens.revoke(appId, now)
    })
  }

  private grant(componentAppId: string, appId: string, now: number): Grant {
    this.sweep(now)
    const code = Ids.randomAuthorizationCode()
    const expiresAt = now + AUTHORIZATION_CODE_TTL_MS
    this.codes.set(code, { componentAppId, appId, expiresAt, used: false })
    return { code, expiresAt, preAuthCode: Ids.randomPreAuthCode() }
  }

  // ---------------------------------------------------------------------------------------------
  // pushes
  // ---------------------------------------------------------------------------------------------

  /**
   * The push WeChat sends the platform's authorization-event URL for a message: the plaintext
   * fields (after `AppId`, `CreateTime`, `InfoType`), encrypted and signed. `forge` changes what a
   * forger would (and then the push is not WeChat's).
   */
  push(
    componentAppId: string,
    infoType: ComponentInfoType,
    fields: ReadonlyArray<readonly [string, string]>,
    now: number,
    forge: ComponentPushForge | undefined
  ): Either.Either<ComponentPush, string> {
    return Either.flatMap(this.platform(componentAppId), (platform) => {
      let key = platform.key
      if (forge?.encodingAesKey !== undefined) {
        const forged = WxCrypt.parseKey(forge.encodingAesKey)
        if (Either.isLeft(forged)) return Either.left(`forge.encodingAesKey: ${forged.left}`)
        key = forged.right
      }
      const timestamp = String(forge?.timestamp ?? Math.floor(now / 1000))
      const nonce = forge?.nonce ?? Ids.randomNonce()
      const appId = forge?.appId ?? componentAppId
      const message: ReadonlyArray<readonly [string, string]> = [
        ["AppId", componentAppId],
        ["CreateTime", timestamp],
        ["InfoType", infoType],
        ...fields
      ]
      const plaintext = forge?.xml ?? WxCrypt.xml(message)
      const encrypted = WxCrypt.encrypt(key, appId, plaintext, Crypto.randomBytes(16))
      const token = forge?.token ?? platform.config.token
      const query = {
        // WeChat sends this one too: token, timestamp and nonce only, as in its URL check
        signature: WxCrypt.sha1([token, timestamp, nonce].sort().join("")),
        timestamp,
        nonce,
        encrypt_type: "aes",
        msg_signature: forge?.signature ?? WxCrypt.signature(token, timestamp, nonce, encrypted)
      }
      const pushUrl = platform.config.pushUrl
      return Either.right({
        componentAppId,
        infoType,
        method: "POST",
        url: pushUrl === undefined ? undefined : withQuery(pushUrl, query),
        query,
        headers: { "content-type": "text/xml" },
        body: WxCrypt.xml([["AppId", appId], ["Encrypt", encrypted]]),
        message: forge?.xml === undefined ? Object.fromEntries(message) : {},
        xml: plaintext
      })
    })
  }

  // ---------------------------------------------------------------------------------------------
  // POST /cgi-bin/component/api_component_token
  // ---------------------------------------------------------------------------------------------

  /** The checks of `api_component_token`, in order: method, body, appid, whitelist, secret, ticket. */
  private checkComponentToken(request: ApiRequest, now: number): Either.Either<Platform, Problem> {
    if (request.method !== "POST") return Either.left({ errcode: 43002, errmsg: "require POST method" })
    const fields = JsonBody.read(request.body)
    if (Either.isLeft(fields)) return Either.left(fields.left)
    const appId = JsonBody.stringField(fields.right, "component_appid")
    const secret = JsonBody.stringField(fields.right, "component_appsecret")
    const ticket = JsonBody.stringField(fields.right, "component_verify_ticket")
    if (Either.isLeft(appId) || Either.isLeft(secret) || Either.isLeft(ticket)) {
      return Either.left(JsonBody.FORMAT_ERROR)
    }
    if (appId.right === undefined) return Either.left(problems.appidMissing)
    const platform = this.platforms.get(appId.right)
    if (platform === undefined) return Either.left(problems.appidInvalid)
    if (platform.refuseIp) return Either.left(problems.ipRefused)
    if (secret.right === undefined) return Either.left({ errcode: 41004, errmsg: "appsecret missing" })
    if (secret.right !== platform.config.componentAppSecret) {
      return Either.left({ errcode: 40125, errmsg: "invalid appsecret" })
    }
    const issuedAt = ticket.right === undefined ? undefined : platform.tickets.get(ticket.right)
    if (issuedAt === undefined) return Either.left(problems.ticketInvalid)
    if (now - issuedAt >= TICKET_TTL_MS) return Either.left(problems.ticketExpired)
    return Either.right(platform)
  }

  /** Answers `api_component_token`: a new token; the previous one works 5 more minutes. */
  private componentToken(request: ApiRequest, now: number): RawResponse {
    const checked = this.checkComponentToken(request, now)
    if (Either.isLeft(checked)) return fail("api_component_token", checked.left)
    const platform = checked.right
    this.sweep(now)
    const previous = platform.currentToken === undefined ? undefined : this.tokens.get(platform.currentToken)
    if (previous !== undefined) previous.endsAt = Math.min(previous.endsAt, now + OVERLAP_MS)
    const token = Ids.randomComponentToken()
    this.tokens.set(token, {
      componentAppId: platform.config.componentAppId,
      expiresAt: now + COMPONENT_TOKEN_TTL_MS,
      endsAt: Infinity
    })
    platform.currentToken = token
    platform.componentTokens++
    return jsonResponse("api_component_token", {
      component_access_token: token,
      expires_in: COMPONENT_TOKEN_TTL_MS / 1000
    })
  }

  // ---------------------------------------------------------------------------------------------
  // the endpoints that take a component_access_token
  // ---------------------------------------------------------------------------------------------

  /**
   * The caller of an endpoint that takes a `component_access_token`: the platform named by
   * `component_appid`, its token valid, its IP whitelisted.
   */
  checkCaller(
    componentAppId: string | undefined,
    token: string | undefined,
    now: number
  ): Either.Either<Platform, Problem> {
    if (componentAppId === undefined) return Either.left(problems.appidMissing)
    const platform = this.platforms.get(componentAppId)
    if (platform === undefined) return Either.left(problems.appidInvalid)
    if (token === undefined) return Either.left(problems.tokenMissing)
    const entry = this.tokens.get(token)
    if (entry === undefined) {
      // expired a day or more and swept: still this platform's, still expired
      return Either.left(
        this.forgottenTokens.get(token, now) === componentAppId ? problems.tokenExpired : problems.tokenInvalid
      )
    }
    if (entry.componentAppId !== componentAppId) return Either.left(problems.tokenInvalid)
    if (now >= entry.expiresAt) return Either.left(problems.tokenExpired)
    if (now >= entry.endsAt) return Either.left(problems.tokenInvalid)
    if (platform.refuseIp) return Either.left(problems.ipRefused)
    return Either.right(platform)
  }

  /** Method, JSON body and caller of the POST endpoints; the body's fields. */
  private checkPost(
    request: ApiRequest,
    now: number
  ): Either.Either<{ platform: Platform; fields: Readonly<Record<string, unknown>> }, Problem> {
    if (request.method !== "POST") return Either.left({ errcode: 43002, errmsg: "require POST method" })
    const fields = JsonBody.read(request.body)
    if (Either.isLeft(fields)) return Either.left(fields.left)
    const componentAppId = JsonBody.stringField(fields.right, "component_appid")
    if (Either.isLeft(componentAppId)) return Either.left(componentAppId.left)
    const platform = this.checkCaller(componentAppId.right, param(request.params, "component_access_token"), now)
    return Either.map(platform, (platform) => ({ platform, fields: fields.right }))
  }

  private checkQueryAuth(
    request: ApiRequest,
    now: number
  ): Either.Either<{ platform: Platform; entry: CodeEntry; app: SandboxApp; authorization: Authorization }, Problem> {
    const checked = this.checkPost(request, now)
    if (Either.isLeft(checked)) return Either.left(checked.left)
    const { fields, platform } = checked.right
    const code = JsonBody.stringField(fields, "authorization_code")
    if (Either.isLeft(code)) return Either.left(code.left)
    if (code.right === undefined) return Either.left({ errcode: 41008, errmsg: "missing code" })
    const entry = this.codes.get(code.right)
    if (entry === undefined || entry.componentAppId !== platform.config.componentAppId || entry.used) {
      return Either.left(problems.codeInvalid)
    }
    if (now >= entry.expiresAt) return Either.left(problems.codeExpired)
    const app = this.apps.get(entry.appId)
    const authorization = platform.authorizations.get(entry.appId)
    if (app === undefined || authorization?.authorized !== true) return Either.left(problems.codeInvalid)
    return Either.right({ platform, entry, app, authorization })
  }

  /** Answers `api_query_auth`: the authorization code (once) for the authorizer's tokens. */
  private queryAuth(request: ApiRequest, now: number): RawResponse {
    const checked = this.checkQueryAuth(request, now)
    if (Either.isLeft(checked)) return fail("api_query_auth", checked.left)
    const { app, authorization, entry, platform } = checked.right
    entry.used = true
    const token = this.appTokens.issueAuthorizer(app.appId, now)
    platform.authorizerTokens++
    return jsonResponse("api_query_auth", {
      authorization_info: {
        authorizer_appid: app.appId,
        authorizer_access_token: token.access_token,
        expires_in: token.expires_in,
        authorizer_refresh_token: authorization.refreshToken,
        func_info: funcInfo(app)
      }
    })
  }

  private checkAuthorizerToken(
    request: ApiRequest,
    now: number
  ): Either.Either<{ platform: Platform; app: SandboxApp; authorization: Authorization }, Problem> {
    const checked = this.checkPost(request, now)
    if (Either.isLeft(checked)) return Either.left(checked.left)
    const { fields, platform } = checked.right
    const appId = JsonBody.stringField(fields, "authorizer_appid")
    const refreshToken = JsonBody.stringField(fields, "authorizer_refresh_token")
    if (Either.isLeft(appId) || Either.isLeft(refreshToken)) return Either.left(JsonBody.FORMAT_ERROR)
    if (appId.right === undefined) return Either.left(problems.appidMissing)
    const app = this.apps.get(appId.right)
    if (app === undefined) return Either.left(problems.appidInvalid)
    const authorization = platform.authorizations.get(app.appId)
    if (
      authorization === undefined || !authorization.authorized || !authorization.refreshValid ||
      refreshToken.right !== authorization.refreshToken
    ) {
      return Either.left(problems.refreshInvalid)
    }
    return Either.right({ platform, app, authorization })
  }

  /** Answers `api_authorizer_token`: a new authorizer access token; the previous works 5 more minutes. */
  private authorizerToken(request: ApiRequest, now: number): RawResponse {
    const checked = this.checkAuthorizerToken(request, now)
    if (Either.isLeft(checked)) return fail("api_authorizer_token", checked.left)
    const { app, authorization, platform } = checked.right
    const token = this.appTokens.issueAuthorizer(app.appId, now)
    platform.authorizerTokens++
    return jsonResponse("api_authorizer_token", {
      authorizer_access_token: token.access_token,
      expires_in: token.expires_in,
      authorizer_refresh_token: authorization.refreshToken
    })
  }

  /** Answers one of the `cgi-bin/component` endpoints. */
  answer(
    endpoint: "api_component_token" | "api_query_auth" | "api_authorizer_token",
    request: ApiRequest,
    now: number
  ): RawResponse {
    switch (endpoint) {
      case "api_component_token":
        return this.componentToken(request, now)
      case "api_query_auth":
        return this.queryAuth(request, now)
      case "api_authorizer_token":
        return this.authorizerToken(request, now)
    }
  }

  /** What the endpoint would answer, computed without effect; `undefined` if it would fail. */
  preview(
    endpoint: "api_component_token" | "api_query_auth" | "api_authorizer_token",
    request: ApiRequest,
    now: number
  ): Record<string, unknown> | undefined {
    switch (endpoint) {
      case "api_component_token":
        return Either.isLeft(this.checkComponentToken(request, now)) ?
          undefined :
          { component_access_token: Ids.randomComponentToken(), expires_in: COMPONENT_TOKEN_TTL_MS / 1000 }
      case "api_query_auth": {
        const checked = this.checkQueryAuth(request, now)
        if (Either.isLeft(checked)) return undefined
        return {
          authorization_info: {
            authorizer_appid: checked.right.app.appId,
            authorizer_access_token: Ids.randomAppToken(),
            expires_in: COMPONENT_TOKEN_TTL_MS / 1000,
            authorizer_refresh_token: checked.right.authorization.refreshToken,
            func_info: funcInfo(checked.right.app)
          }
        }
      }
      case "api_authorizer_token": {
        const checked = this.checkAuthorizerToken(request, now)
        if (Either.isLeft(checked)) return undefined
        return {
          authorizer_access_token: Ids.randomAppToken(),
          expires_in: COMPONENT_TOKEN_TTL_MS / 1000,
          authorizer_refresh_token: checked.right.authorization.refreshToken
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // housekeeping
  // ---------------------------------------------------------------------------------------------

  /**
   * Every 1000 tokens or codes, forgets those dead for a day, so a long-running sandbox stays small;
   * a token forgotten leaves a tombstone (bounded, see `tombstones.ts`) that keeps it answering 42001.
   */
  private sweep(now: number): void {
    if (++this.writes % 1000 !== 0) return
    const day = 24 * 60 * 60 * 1000
    for (const [token, entry] of this.tokens) {
      if (now - entry.expiresAt > day) {
        this.tokens.delete(token)
        this.forgottenTokens.add(token, entry.expiresAt, entry.componentAppId)
      }
    }
    this.forgottenTokens.prune(now)
    for (const [code, entry] of this.codes) if (now - entry.expiresAt > day) this.codes.delete(code)
  }
}

const fail = (endpoint: ComponentEndpoint, problem: Problem): RawResponse =>
  errcodeResponse(endpoint, problem.errcode, problem.errmsg)

/** A URL with more query parameters (its own kept, a fragment dropped: it never reaches a server). */
const withQuery = (url: string, query: Readonly<Record<string, string>>): string => {
  const target = new URL(url)
  target.hash = ""
  for (const [name, value] of Object.entries(query)) target.searchParams.append(name, value)
  return target.href
}

/** The fields of a ticket push, after `AppId`, `CreateTime`, `InfoType`. @internal */
export const ticketFields = (ticket: string): ReadonlyArray<readonly [string, string]> => [
  ["ComponentVerifyTicket", ticket]
]

/** The fields of an `authorized` / `updateauthorized` push, after `AppId`, `CreateTime`, `InfoType`. @internal */
export const grantFields = (appId: string, grant: Grant): ReadonlyArray<readonly [string, string]> => [
  ["AuthorizerAppid", appId],
  ["AuthorizationCode", grant.code],
  ["AuthorizationCodeExpiredTime", String(Math.floor(grant.expiresAt / 1000))],
  ["PreAuthCode", grant.preAuthCode]
]

/** The fields of an `unauthorized` push, after `AppId`, `CreateTime`, `InfoType`. @internal */
export const unauthorizedFields = (appId: string): ReadonlyArray<readonly [string, string]> => [
  ["AuthorizerAppid", appId]
]

/** A grant nobody issued, for a forged push. @internal */
export const forgedGrant = (now: number): Grant => ({
  code: Ids.randomAuthorizationCode(),
  expiresAt: now + AUTHORIZATION_CODE_TTL_MS,
  preAuthCode: Ids.randomPreAuthCode()
})
