/**
 * Test helpers: a sandbox with its in-process client, and small wrappers around the WeChat calls.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert } from "@effect/vitest"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

export const OA = Sandbox.defaultApps.officialAccount
export const WEB = Sandbox.defaultApps.website
export const MINI = Sandbox.defaultApps.miniProgram

/** A fresh sandbox and the in-process HttpClient answering from it. */
export const sandboxLayer = (options?: Sandbox.SandboxOptions) =>
  Sandbox.layerHttpClient.pipe(Layer.provideMerge(Sandbox.layer(options)))

export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
  readonly json: any
}

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** One request through the HttpClient in context; the host is WeChat's, as a real client would use. */
export const request = (
  method: "GET" | "POST" | "PUT" | "DELETE",
  url: string,
  options: {
    readonly params?: Record<string, string | undefined>
    readonly form?: Record<string, string>
    /** A JSON body: a value to stringify, or the raw text. */
    readonly json?: unknown
  } = {}
) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const full = url.startsWith("http") ? url : `https://api.weixin.qq.com${url}`
    const urlParams = Object.entries(options.params ?? {}).filter((e): e is [string, string] => e[1] !== undefined)
    let req = HttpClientRequest.make(method)(full, { urlParams })
    if (options.form !== undefined) req = HttpClientRequest.bodyUrlParams(req, options.form)
    if (options.json !== undefined) {
      const text = typeof options.json === "string" ? options.json : JSON.stringify(options.json)
      req = HttpClientRequest.bodyText(req, text, "application/json")
    }
    const response = yield* client.execute(req)
    const text = yield* response.text
    const answer: Answer = { status: response.status, headers: response.headers, text, json: parse(text) }
    return answer
  })

export const get = (path: string, params: Record<string, string | undefined> = {}) => request("GET", path, { params })

/** `/sns/oauth2/access_token` for an app, by default with its right secret. */
export const exchange = (
  code: string | undefined,
  app: Sandbox.SandboxApp = OA,
  overrides: Record<string, string | undefined> = {}
) =>
  get("/sns/oauth2/access_token", {
    appid: app.appId,
    secret: app.secret,
    code,
    grant_type: "authorization_code",
    ...overrides
  })

export const refresh = (
  refreshToken: string | undefined,
  app: Sandbox.SandboxApp = OA,
  overrides: Record<string, string | undefined> = {}
) =>
  get("/sns/oauth2/refresh_token", {
    appid: app.appId,
    grant_type: "refresh_token",
    refresh_token: refreshToken,
    ...overrides
  })

export const userinfo = (accessToken: string | undefined, openid: string | undefined, lang?: string) =>
  get("/sns/userinfo", { access_token: accessToken, openid, lang })

export const auth = (accessToken: string | undefined, openid: string | undefined) =>
  get("/sns/auth", { access_token: accessToken, openid })

/** A code, as if `user` consented to `scope` in `app`. */
export const consent = (options: { user?: string; scope?: string; app?: Sandbox.SandboxApp; state?: string } = {}) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const app = options.app ?? OA
    const url = yield* sandbox.approve({
      appId: app.appId,
      user: options.user ?? "alice",
      scope: options.scope ?? (app.kind === "website" ? "snsapi_login" : "snsapi_userinfo"),
      redirectUri: "https://app.example.com/callback",
      state: options.state
    })
    const code = new URL(url).searchParams.get("code")
    assert.isString(code)
    return code!
  })

/** Consent and exchange: the token response's JSON. */
export const login = (options: { user?: string; scope?: string; app?: Sandbox.SandboxApp } = {}) =>
  Effect.gen(function*() {
    const code = yield* consent(options)
    const answer = yield* exchange(code, options.app ?? OA)
    assert.isString(answer.json.access_token, answer.text)
    return answer.json as {
      access_token: string
      expires_in: number
      refresh_token: string
      openid: string
      scope: string
      unionid?: string
      is_snapshotuser?: number
    }
  })

/** `POST /cgi-bin/stable_token` with a JSON body: by default the mini program's credentials, normal mode. */
export const stableToken = (
  body: unknown = { grant_type: "client_credential", appid: MINI.appId, secret: MINI.secret }
) => request("POST", "/cgi-bin/stable_token", { json: body })

/** `POST /cgi-bin/stable_token` with `force_refresh: true`. */
export const forceStableToken = (app: Sandbox.SandboxApp = MINI) =>
  stableToken({ grant_type: "client_credential", appid: app.appId, secret: app.secret, force_refresh: true })

/** `GET /cgi-bin/token`, by default with the mini program's credentials. */
export const classicToken = (overrides: Record<string, string | undefined> = {}) =>
  get("/cgi-bin/token", { grant_type: "client_credential", appid: MINI.appId, secret: MINI.secret, ...overrides })

/** WeChat errors are HTTP 200 with a JSON errcode. */
export const assertErrcode = (answer: Answer, errcode: number, errmsg?: string) => {
  assert.strictEqual(answer.status, 200, answer.text)
  assert.strictEqual(answer.json?.errcode, errcode, answer.text)
  assert.isString(answer.json.errmsg)
  if (errmsg !== undefined) assert.include(answer.json.errmsg, errmsg)
}
