/**
 * The mini program's server API, called with the app access token:
 * - `POST /wxa/business/getuserphonenumber?access_token=` with JSON `{code}`: the phone number
 *   behind a code from the `getPhoneNumber` button (minted here by `phoneNumberCode`; single-use,
 *   5 minutes), as `phone_info` with a watermark (the time of the button press and the appid).
 * - `GET /wxa/checksession?access_token=&openid=&signature=&sig_method=hmac_sha256`: whether
 *   `signature` (lowercase hex HMAC-SHA256 of the empty string keyed by the UTF-8 text of the
 *   user's current session_key) is right: `{errcode: 0}` or 87009.
 * - `GET /wxa/resetusersessionkey` (same parameters): a new session_key for the user; the old one
 *   no longer verifies.
 *
 * Checks in WeChat's order: method, access_token (41001, 40001, 42001), an app that is a mini
 * program (48001), then the endpoint's own parameters.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Crypto from "node:crypto"
import type { SandboxApp, SandboxUser } from "../Sandbox.js"
import type { ApiRequest, AppTokens, Problem } from "./apptoken.js"
import * as Ids from "./ids.js"
import * as JsonBody from "./jsonbody.js"
import { quote } from "./quote.js"
import type { RawResponse } from "./responses.js"
import { errcodeResponse, jsonResponse } from "./responses.js"
import type { SessionKeys } from "./sessions.js"

/** A phone code lives 5 minutes. @internal */
export const PHONE_CODE_TTL_MS = 5 * 60 * 1000

/** The country code of a user configured without one. @internal */
export const DEFAULT_COUNTRY_CODE = "86"

interface PhoneCodeEntry {
  readonly appId: string
  readonly userId: string
  readonly issuedAt: number
  readonly watermarkAppId: string | undefined
  used: boolean
}

/** What the mini program API reads of the rest of the sandbox. @internal */
export interface WxaDeps {
  readonly apps: ReadonlyMap<string, SandboxApp>
  readonly users: ReadonlyMap<string, SandboxUser>
  readonly appTokens: AppTokens
  readonly sessionKeys: SessionKeys
  readonly openidOf: (appId: string, userId: string) => string
  /** The user, if the app has it (an app with `users` has only those). */
  readonly userOf: (appId: string, userId: string) => SandboxUser | undefined
}

/** `phone_info` for a user: `phoneNumber` carries the country code outside mainland China (`+852…`). @internal */
export const phoneInfo = (user: SandboxUser, watermark: { readonly timestamp: number; readonly appid: string }) => {
  const purePhoneNumber = user.phoneNumber ?? Ids.derivePhoneNumber(user.id)
  const countryCode = user.countryCode ?? DEFAULT_COUNTRY_CODE
  return {
    phoneNumber: countryCode === DEFAULT_COUNTRY_CODE ? purePhoneNumber : `+${countryCode}${purePhoneNumber}`,
    purePhoneNumber,
    countryCode,
    watermark
  }
}

type Wxa = "getuserphonenumber" | "checksession" | "resetusersessionkey"

const OK = { errcode: 0, errmsg: "ok" } as const

/** @internal */
export class MiniProgramApi {
  private readonly phoneCodes = new Map<string, PhoneCodeEntry>()
  private writes = 0

  constructor(private readonly deps: WxaDeps) {}

  /** What the `getPhoneNumber` button gives a mini program: a one-time code for the user's phone number. */
  phoneNumberCode(
    appId: string,
    userId: string,
    watermarkAppId: string | undefined,
    now: number
  ): Either.Either<string, string> {
    const app = this.deps.apps.get(appId)
    if (app === undefined) return Either.left(`unknown app ${quote(appId)}`)
    if (app.kind !== "miniProgram") return Either.left(`app ${appId} is a ${app.kind} app, not a miniProgram`)
    if (!this.deps.users.has(userId)) return Either.left(`unknown user ${quote(userId)}`)
    if (this.deps.userOf(appId, userId) === undefined) {
      return Either.left(`user ${userId} is not a user of app ${appId}`)
    }
    this.sweep(now)
    const code = Ids.randomPhoneCode()
    this.phoneCodes.set(code, { appId, userId, issuedAt: now, watermarkAppId, used: false })
    return Either.right(code)
  }

  /** Answers one of the endpoints. */
  answer(endpoint: Wxa, request: ApiRequest, now: number): RawResponse {
    const fail = (problem: Problem) => errcodeResponse(endpoint, problem.errcode, problem.errmsg)
    switch (endpoint) {
      case "getuserphonenumber": {
        const checked = this.checkPhoneCode(request, now)
        if (Either.isLeft(checked)) return fail(checked.left)
        checked.right.entry.used = true
        return jsonResponse(endpoint, this.phoneBody(checked.right.entry, checked.right.user))
      }
      case "checksession": {
        const checked = this.checkSignature(request, now)
        return Either.isLeft(checked) ? fail(checked.left) : jsonResponse(endpoint, OK)
      }
      case "resetusersessionkey": {
        const checked = this.checkSignature(request, now)
        if (Either.isLeft(checked)) return fail(checked.left)
        const { app, openid, user } = checked.right
        const sessionKey = Ids.randomSessionKey()
        this.deps.sessionKeys.set(app.appId, user.id, sessionKey)
        return jsonResponse(endpoint, { ...OK, openid, session_key: sessionKey })
      }
    }
  }

  /** What the endpoint would answer, computed without effect; `undefined` if it would fail. */
  preview(endpoint: Wxa, request: ApiRequest, now: number): Record<string, unknown> | undefined {
    switch (endpoint) {
      case "getuserphonenumber": {
        const checked = this.checkPhoneCode(request, now)
        return Either.isLeft(checked) ? undefined : this.phoneBody(checked.right.entry, checked.right.user)
      }
      case "checksession":
        return Either.isLeft(this.checkSignature(request, now)) ? undefined : { ...OK }
      case "resetusersessionkey": {
        const checked = this.checkSignature(request, now)
        return Either.isLeft(checked) ?
          undefined :
          { ...OK, openid: checked.right.openid, session_key: Ids.randomSessionKey() }
      }
    }
  }

  private phoneBody(entry: PhoneCodeEntry, user: SandboxUser) {
    return {
      ...OK,
      phone_info: phoneInfo(user, {
        timestamp: Math.floor(entry.issuedAt / 1000),
        appid: entry.watermarkAppId ?? entry.appId
      })
    }
  }

  /** The app access token, and an app that is a mini program. */
  private checkApp(request: ApiRequest, now: number): Either.Either<SandboxApp, Problem> {
    const token = request.params.get("access_token")
    return Either.flatMap(
      this.deps.appTokens.check(token === null || token === "" ? undefined : token, now),
      (app) =>
        app.kind === "miniProgram" ? Either.right(app) : Either.left({ errcode: 48001, errmsg: "api unauthorized" })
    )
  }

  private checkPhoneCode(
    request: ApiRequest,
    now: number
  ): Either.Either<{ entry: PhoneCodeEntry; user: SandboxUser }, Problem> {
    if (request.method !== "POST") return Either.left({ errcode: 43002, errmsg: "require POST method" })
    const app = this.checkApp(request, now)
    if (Either.isLeft(app)) return Either.left(app.left)
    const fields = JsonBody.read(request.body)
    if (Either.isLeft(fields)) return Either.left(fields.left)
    const code = JsonBody.stringField(fields.right, "code")
    if (Either.isLeft(code)) return Either.left(code.left)
    if (code.right === undefined) return Either.left({ errcode: 41008, errmsg: "missing code" })
    const entry = this.phoneCodes.get(code.right)
    const user = entry === undefined ? undefined : this.deps.users.get(entry.userId)
    if (
      entry === undefined || user === undefined || entry.appId !== app.right.appId || entry.used ||
      now - entry.issuedAt >= PHONE_CODE_TTL_MS
    ) {
      return Either.left({ errcode: 40029, errmsg: "invalid code" })
    }
    return Either.right({ entry, user })
  }

  private userOf(appId: string, openid: string): SandboxUser | undefined {
    for (const user of this.deps.users.values()) {
      if (this.deps.openidOf(appId, user.id) === openid) return user
    }
    return undefined
  }

  /** The checks of `checksession` and `resetusersessionkey`: the signature by the user's current session_key. */
  private checkSignature(
    request: ApiRequest,
    now: number
  ): Either.Either<{ app: SandboxApp; openid: string; user: SandboxUser }, Problem> {
    const app = this.checkApp(request, now)
    if (Either.isLeft(app)) return Either.left(app.left)
    const param = (name: string) => {
      const value = request.params.get(name)
      return value === null || value === "" ? undefined : value
    }
    const openid = param("openid")
    if (openid === undefined) return Either.left({ errcode: 41009, errmsg: "missing openid" })
    if (param("sig_method") !== "hmac_sha256") {
      return Either.left({ errcode: 40097, errmsg: "invalid args, sig_method must be hmac_sha256" })
    }
    const user = this.userOf(app.right.appId, openid)
    if (user === undefined) return Either.left({ errcode: 40003, errmsg: "invalid openid" })
    const sessionKey = this.deps.sessionKeys.get(app.right.appId, user.id)
    const signature = param("signature")
    if (sessionKey === undefined || signature === undefined || !sameText(signature, Ids.sessionSignature(sessionKey))) {
      return Either.left({ errcode: 87009, errmsg: "invalid signature" })
    }
    return Either.right({ app: app.right, openid, user })
  }

  /** Every 1000 codes, forgets those dead for a day, so a long-running sandbox stays small. */
  private sweep(now: number): void {
    if (++this.writes % 1000 !== 0) return
    const day = 24 * 60 * 60 * 1000
    for (const [code, entry] of this.phoneCodes) {
      if (now - entry.issuedAt > PHONE_CODE_TTL_MS + day) this.phoneCodes.delete(code)
    }
  }
}

/** Compares two texts in constant time for their length. */
const sameText = (a: string, b: string): boolean => {
  const left = Buffer.from(a, "utf8")
  const right = Buffer.from(b, "utf8")
  return left.length === right.length && Crypto.timingSafeEqual(left, right)
}
