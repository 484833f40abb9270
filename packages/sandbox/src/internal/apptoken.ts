/**
 * The app access token, one per appId, and WeChat's rules for it:
 * - `POST /cgi-bin/stable_token` (JSON only): in normal mode the same token while it is valid, a
 *   new one in its last 5 minutes (the old one keeps working to its own expiry);
 *   `force_refresh: true` ends every stable token of the app at once and issues a new one, at most
 *   `forceRefreshPerDay` (20) times a Beijing day; a force within 30 s of the last one hands back
 *   the token that force issued, and does not count. `expires_in` is the token's remaining life.
 * - `GET /cgi-bin/token`: a new token at each call, the previous one working 5 more minutes; at
 *   most `tokenPerDay` (2000) a Beijing day.
 * - Both answer 45009 past their daily quota. The two kinds are independent of each other.
 * - Both answer 61024 for an app managed by a third-party platform (checked once the appid is
 *   known, before the secret): its token is the authorizer access token the platform gets for it
 *   (`issueAuthorizer`), which the APIs accept like any other app token.
 * - The APIs that take an app token (`check`): 41001 without one, 40001 for an unknown token or one
 *   that was replaced, forced out or revoked, 42001 once it has expired.
 *
 * Synchronous, on the time the caller passes; every call is atomic.
 *
 * @internal
 */
import * as Either from "effect/Either"
import type { SandboxApp } from "../Sandbox.js"
import * as Ids from "./ids.js"
import * as JsonBody from "./jsonbody.js"
import { quote } from "./quote.js"
import type { RawResponse } from "./responses.js"
import { errcodeResponse, jsonResponse, wrongSecret } from "./responses.js"
import * as Tombstones from "./tombstones.js"

/** An app token lives 7200 seconds. @internal */
export const APP_TOKEN_TTL_MS = 7200 * 1000
/** A stable token is renewed in its last 5 minutes; a replaced classic token works 5 more minutes. @internal */
export const OVERLAP_MS = 5 * 60 * 1000
/** A force within 30 s of the last one hands back the same token. @internal */
export const FORCE_INTERVAL_MS = 30 * 1000

const DAY_MS = 24 * 60 * 60 * 1000
const BEIJING_OFFSET_MS = 8 * 60 * 60 * 1000

/** WeChat's daily quotas reset at midnight in Beijing (UTC+8): the day number of a time. @internal */
export const dayOf = (now: number): number => Math.floor((now + BEIJING_OFFSET_MS) / DAY_MS)

/** The daily quotas, per app. @internal */
export interface Limits {
  readonly tokenPerDay: number
  readonly forceRefreshPerDay: number
}

/** @internal */
export const defaultLimits: Limits = { tokenPerDay: 2000, forceRefreshPerDay: 20 }

/** What an app has used of its quotas today (Beijing day). @internal */
export interface Usage {
  readonly forceRefreshes: number
  readonly forceRefreshLimit: number
  readonly tokens: number
  readonly tokenLimit: number
}

/** A request to one of the API endpoints: its method, query and raw body. @internal */
export interface ApiRequest {
  readonly method: string
  readonly params: URLSearchParams
  readonly body: string
}

/** Why an app token is refused. @internal */
export interface Problem {
  readonly errcode: number
  readonly errmsg: string
}

interface TokenEntry {
  readonly appId: string
  readonly expiresAt: number
  /** When it stops working before it expires: replaced (classic), forced out or revoked. */
  endsAt: number
}

interface StableState {
  current: string | undefined
  /** The token the current one replaced in its last 5 minutes, still working to its expiry. */
  previous: string | undefined
  day: number
  forces: number
  lastForceAt: number | undefined
}

interface ClassicState {
  current: string | undefined
  day: number
  issued: number
}

const QUOTA = { errcode: 45009, errmsg: "reach max api daily quota limit" } as const

/** An app that authorized a third-party platform gets its token through the platform only. */
const MANAGED = { errcode: 61024, errmsg: "must use api(api_component_token) to get token for component acct" } as const

/** @internal */
export class AppTokens {
  private readonly tokens = new Map<string, TokenEntry>()
  /** The expired tokens the sweep forgot (they still answer 42001). */
  private readonly forgotten = new Tombstones.Tombstones<true>()
  private readonly stable = new Map<string, StableState>()
  private readonly classic = new Map<string, ClassicState>()
  private writes = 0

  /** Each managed app's current authorizer access token (issued through its third-party platform). */
  private readonly authorizer = new Map<string, string>()

  constructor(
    private readonly apps: ReadonlyMap<string, SandboxApp>,
    private readonly limits: Limits,
    /** Whether an app is managed by a third-party platform: its own token endpoints answer 61024. */
    private readonly isManaged: (appId: string) => boolean = () => false
  ) {}

  // ---------------------------------------------------------------------------------------------
  // POST /cgi-bin/stable_token
  // ---------------------------------------------------------------------------------------------

  /** The checks of a stable_token request, in WeChat's order: method, body, grant_type, appid, secret. */
  private checkStable(request: ApiRequest): Either.Either<{ app: SandboxApp; force: boolean }, Problem> {
    if (request.method !== "POST") return Either.left({ errcode: 43002, errmsg: "require POST method" })
    const fields = JsonBody.read(request.body)
    if (Either.isLeft(fields)) return Either.left(fields.left)
    const grantType = JsonBody.stringField(fields.right, "grant_type")
    const appId = JsonBody.stringField(fields.right, "appid")
    const secret = JsonBody.stringField(fields.right, "secret")
    const force = fields.right.force_refresh
    if (Either.isLeft(grantType) || Either.isLeft(appId) || Either.isLeft(secret)) {
      return Either.left(JsonBody.FORMAT_ERROR)
    }
    if (force !== undefined && force !== null && typeof force !== "boolean") return Either.left(JsonBody.FORMAT_ERROR)
    return this.checkCredentials(grantType.right, appId.right, secret.right).pipe(
      Either.map((app) => ({ app, force: force === true }))
    )
  }

  private checkCredentials(
    grantType: string | undefined,
    appId: string | undefined,
    secret: string | undefined
  ): Either.Either<SandboxApp, Problem> {
    if (grantType !== "client_credential") return Either.left({ errcode: 40002, errmsg: "invalid grant_type" })
    if (appId === undefined) return Either.left({ errcode: 41002, errmsg: "appid missing" })
    if (secret === undefined) return Either.left({ errcode: 41004, errmsg: "appsecret missing" })
    const app = this.apps.get(appId)
    if (app === undefined) return Either.left({ errcode: 40013, errmsg: "invalid appid" })
    if (this.isManaged(appId)) return Either.left(MANAGED)
    if (app.secret !== secret) return Either.left(wrongSecret(app))
    return Either.right(app)
  }

  /** Answers `POST /cgi-bin/stable_token`. */
  stableToken(request: ApiRequest, now: number): RawResponse {
    const checked = this.checkStable(request)
    if (Either.isLeft(checked)) return errcodeResponse("stable_token", checked.left.errcode, checked.left.errmsg)
    const { app, force } = checked.right
    const answer = force ? this.forceStable(app.appId, now) : this.normalStable(app.appId, now)
    return Either.isLeft(answer) ?
      errcodeResponse("stable_token", answer.left.errcode, answer.left.errmsg) :
      jsonResponse("stable_token", answer.right)
  }

  private stableState(appId: string, now: number): StableState {
    let state = this.stable.get(appId)
    if (state === undefined) {
      state = { current: undefined, previous: undefined, day: dayOf(now), forces: 0, lastForceAt: undefined }
      this.stable.set(appId, state)
    }
    if (state.day !== dayOf(now)) {
      state.day = dayOf(now)
      state.forces = 0
    }
    return state
  }

  /** The token the state holds, if it has not expired (it may have been revoked: WeChat still hands it back). */
  private live(token: string | undefined, now: number): TokenEntry | undefined {
    const entry = token === undefined ? undefined : this.tokens.get(token)
    return entry !== undefined && now < entry.expiresAt ? entry : undefined
  }

  private normalStable(appId: string, now: number): Either.Either<TokenBody, Problem> {
    const state = this.stableState(appId, now)
    const current = this.live(state.current, now)
    if (current !== undefined && now < current.expiresAt - OVERLAP_MS) {
      return Either.right(body(state.current!, current, now))
    }
    // none yet, expired, or in its last 5 minutes: a new one; the old one works to its own expiry
    state.previous = current === undefined ? undefined : state.current
    state.current = this.issue(appId, now)
    return Either.right(body(state.current, this.tokens.get(state.current)!, now))
  }

  private forceStable(appId: string, now: number): Either.Either<TokenBody, Problem> {
    const state = this.stableState(appId, now)
    const current = this.live(state.current, now)
    if (current !== undefined && state.lastForceAt !== undefined && now - state.lastForceAt < FORCE_INTERVAL_MS) {
      return Either.right(body(state.current!, current, now))
    }
    if (state.forces >= this.limits.forceRefreshPerDay) return Either.left(QUOTA)
    for (const token of [state.current, state.previous]) this.end(token, now)
    state.forces++
    state.lastForceAt = now
    state.previous = undefined
    state.current = this.issue(appId, now)
    return Either.right(body(state.current, this.tokens.get(state.current)!, now))
  }

  /** What `stable_token` would answer, computed without effect; `undefined` if it would fail. */
  previewStable(request: ApiRequest, now: number): Record<string, unknown> | undefined {
    const checked = this.checkStable(request)
    if (Either.isLeft(checked)) return undefined
    const state = this.stable.get(checked.right.app.appId)
    const current = this.live(state?.current, now)
    const forces = state === undefined || state.day !== dayOf(now) ? 0 : state.forces
    const keeps = checked.right.force ?
      state?.lastForceAt !== undefined && now - state.lastForceAt < FORCE_INTERVAL_MS :
      current !== undefined && now < current.expiresAt - OVERLAP_MS
    if (current !== undefined && keeps) return body(state!.current!, current, now)
    if (checked.right.force && forces >= this.limits.forceRefreshPerDay) return undefined
    return { access_token: Ids.randomAppToken(), expires_in: APP_TOKEN_TTL_MS / 1000 }
  }

  // ---------------------------------------------------------------------------------------------
  // GET /cgi-bin/token
  // ---------------------------------------------------------------------------------------------

  private checkClassic(request: ApiRequest): Either.Either<SandboxApp, Problem> {
    const param = (name: string) => {
      const value = request.params.get(name)
      return value === null || value === "" ? undefined : value
    }
    return this.checkCredentials(param("grant_type"), param("appid"), param("secret"))
  }

  private classicState(appId: string, now: number): ClassicState {
    let state = this.classic.get(appId)
    if (state === undefined) {
      state = { current: undefined, day: dayOf(now), issued: 0 }
      this.classic.set(appId, state)
    }
    if (state.day !== dayOf(now)) {
      state.day = dayOf(now)
      state.issued = 0
    }
    return state
  }

  /** Answers `GET /cgi-bin/token` (the query is read whatever the method). */
  token(request: ApiRequest, now: number): RawResponse {
    const checked = this.checkClassic(request)
    if (Either.isLeft(checked)) return errcodeResponse("token", checked.left.errcode, checked.left.errmsg)
    const state = this.classicState(checked.right.appId, now)
    if (state.issued >= this.limits.tokenPerDay) return errcodeResponse("token", QUOTA.errcode, QUOTA.errmsg)
    const previous = state.current === undefined ? undefined : this.tokens.get(state.current)
    if (previous !== undefined) previous.endsAt = Math.min(previous.endsAt, now + OVERLAP_MS)
    state.issued++
    state.current = this.issue(checked.right.appId, now)
    return jsonResponse("token", body(state.current, this.tokens.get(state.current)!, now))
  }

  /** What `token` would answer, computed without effect; `undefined` if it would fail. */
  previewToken(request: ApiRequest, now: number): Record<string, unknown> | undefined {
    const checked = this.checkClassic(request)
    if (Either.isLeft(checked)) return undefined
    const state = this.classic.get(checked.right.appId)
    const issued = state === undefined || state.day !== dayOf(now) ? 0 : state.issued
    if (issued >= this.limits.tokenPerDay) return undefined
    return { access_token: Ids.randomAppToken(), expires_in: APP_TOKEN_TTL_MS / 1000 }
  }

  // ---------------------------------------------------------------------------------------------
  // the APIs that take an app token, and the controls
  // ---------------------------------------------------------------------------------------------

  /** The app a token belongs to, if it works now: 41001, 40001 or 42001 otherwise. */
  check(accessToken: string | undefined, now: number): Either.Either<SandboxApp, Problem> {
    if (accessToken === undefined) return Either.left({ errcode: 41001, errmsg: "access_token missing" })
    const entry = this.tokens.get(accessToken)
    if (entry === undefined) {
      // expired a day or more and swept: still expired
      return this.forgotten.get(accessToken, now) === undefined ?
        Either.left({ errcode: 40001, errmsg: "invalid credential, access_token is invalid or not latest" }) :
        Either.left({ errcode: 42001, errmsg: "access_token expired" })
    }
    if (now >= entry.expiresAt) return Either.left({ errcode: 42001, errmsg: "access_token expired" })
    if (now >= entry.endsAt) {
      return Either.left({ errcode: 40001, errmsg: "invalid credential, access_token is invalid or not latest" })
    }
    const app = this.apps.get(entry.appId)
    return app === undefined ?
      Either.left({ errcode: 40001, errmsg: "invalid credential, access_token is invalid or not latest" }) :
      Either.right(app)
  }

  /**
   * Revokes every app token of the app now: the APIs answer 40001. `stable_token` in normal mode
   * still hands the revoked token back until it expires or a force replaces it, as WeChat does.
   */
  revoke(appId: string, now: number): Either.Either<void, string> {
    if (!this.apps.has(appId)) return Either.left(`unknown app ${quote(appId)}`)
    for (const [token, entry] of this.tokens) if (entry.appId === appId) this.end(token, now)
    return Either.right(undefined)
  }

  /**
   * A new authorizer access token for a managed app (`api_query_auth`, `api_authorizer_token`): an
   * app access token of that app, accepted by the APIs that take one. The previous one works 5 more
   * minutes.
   */
  issueAuthorizer(appId: string, now: number): TokenBody {
    const previous = this.authorizer.get(appId)
    const entry = previous === undefined ? undefined : this.tokens.get(previous)
    if (entry !== undefined) entry.endsAt = Math.min(entry.endsAt, now + OVERLAP_MS)
    const token = this.issue(appId, now)
    this.authorizer.set(appId, token)
    return body(token, this.tokens.get(token)!, now)
  }

  /** What the app has used of its daily quotas today (Beijing day). */
  usage(appId: string, now: number): Either.Either<Usage, string> {
    if (!this.apps.has(appId)) return Either.left(`unknown app ${quote(appId)}`)
    const stable = this.stable.get(appId)
    const classic = this.classic.get(appId)
    return Either.right({
      forceRefreshes: stable === undefined || stable.day !== dayOf(now) ? 0 : stable.forces,
      forceRefreshLimit: this.limits.forceRefreshPerDay,
      tokens: classic === undefined || classic.day !== dayOf(now) ? 0 : classic.issued,
      tokenLimit: this.limits.tokenPerDay
    })
  }

  // ---------------------------------------------------------------------------------------------
  // housekeeping
  // ---------------------------------------------------------------------------------------------

  private issue(appId: string, now: number): string {
    this.sweep(now)
    const token = Ids.randomAppToken()
    this.tokens.set(token, { appId, expiresAt: now + APP_TOKEN_TTL_MS, endsAt: Infinity })
    return token
  }

  private end(token: string | undefined, now: number): void {
    const entry = token === undefined ? undefined : this.tokens.get(token)
    if (entry !== undefined) entry.endsAt = Math.min(entry.endsAt, now)
  }

  /**
   * Every 1000 tokens, forgets those expired for a day, so a long-running sandbox stays small; each
   * leaves a tombstone (bounded, see `tombstones.ts`) that keeps it answering 42001.
   */
  private sweep(now: number): void {
    if (++this.writes % 1000 !== 0) return
    for (const [token, entry] of this.tokens) {
      if (now - entry.expiresAt > DAY_MS) {
        this.tokens.delete(token)
        this.forgotten.add(token, entry.expiresAt, true)
      }
    }
    this.forgotten.prune(now)
  }
}

type TokenBody = {
  readonly access_token: string
  readonly expires_in: number
}

/** `{access_token, expires_in}`: the token's remaining life in whole seconds, at most 7200. */
const body = (token: string, entry: TokenEntry, now: number): TokenBody => ({
  access_token: token,
  expires_in: Math.max(0, Math.floor((entry.expiresAt - now) / 1000))
})
