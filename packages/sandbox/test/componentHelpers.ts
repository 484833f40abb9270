/**
 * Test helpers for the third-party platform: two platforms with their authorizers, and wrappers
 * around the component endpoints.
 */
import { assert } from "@effect/vitest"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import { get, MINI, OA, request, sandboxLayer } from "./helpers.js"

/** A platform with an official account (bound) and a mini program that authorized it; no timer. */
export const PLATFORM = {
  componentAppId: "wxcomponent0000001",
  componentAppSecret: "0c79e1fa963cd80cc0be99b20a18faeb",
  token: "sandboxtoken",
  encodingAesKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
  name: "沙盒第三方平台",
  pushInterval: false,
  authorizers: [
    { appId: "wxmanagedofficial1", kind: "officialAccount", name: "托管公众号", bound: true },
    { appId: "wxmanagedminiprog1", kind: "miniProgram" }
  ]
} as const satisfies Sandbox.SandboxComponent

/** Another platform, authorized by nobody at start. */
export const OTHER = {
  componentAppId: "wxcomponent0000002",
  componentAppSecret: "5f0d6c8a4e1b2d3c4a5b6c7d8e9f0a1b",
  token: "othertoken",
  encodingAesKey: "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut",
  pushInterval: false
} as const satisfies Sandbox.SandboxComponent

export const MANAGED_OA = PLATFORM.authorizers[0].appId
export const MANAGED_MINI = PLATFORM.authorizers[1].appId

/** The sandbox's default apps and users, and the two platforms. */
export const componentLayer = (components: ReadonlyArray<Sandbox.SandboxComponent> = [PLATFORM, OTHER]) =>
  sandboxLayer({ components })

export { MINI, OA }

/** A fresh ticket of the platform (as if pushed): its value. */
export const ticket = (componentAppId: string = PLATFORM.componentAppId) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const push = yield* sandbox.componentPush({ componentAppId, infoType: "component_verify_ticket" })
    return push.message.ComponentVerifyTicket
  })

/** `POST /cgi-bin/component/api_component_token` with a JSON body. */
export const componentTokenCall = (body: unknown) =>
  request("POST", "/cgi-bin/component/api_component_token", { json: body })

/** A component access token of the platform, from a fresh ticket. */
export const componentToken = (platform: Sandbox.SandboxComponent = PLATFORM) =>
  Effect.gen(function*() {
    const value = yield* ticket(platform.componentAppId)
    const answer = yield* componentTokenCall({
      component_appid: platform.componentAppId,
      component_appsecret: platform.componentAppSecret,
      component_verify_ticket: value
    })
    assert.isString(answer.json.component_access_token, answer.text)
    return answer.json.component_access_token as string
  })

/** A fresh authorization code for the app (an `authorized` push, built and not sent). */
export const authorizationCode = (appId: string, componentAppId: string = PLATFORM.componentAppId) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const push = yield* sandbox.componentPush({ componentAppId, infoType: "authorized", appId })
    return push.message.AuthorizationCode
  })

export const queryAuth = (
  token: string | undefined,
  code: string | undefined,
  componentAppId: string = PLATFORM.componentAppId
) =>
  request("POST", "/cgi-bin/component/api_query_auth", {
    params: { component_access_token: token },
    json: { component_appid: componentAppId, authorization_code: code }
  })

export const authorizerTokenCall = (
  token: string | undefined,
  body: Record<string, unknown>
) =>
  request("POST", "/cgi-bin/component/api_authorizer_token", {
    params: { component_access_token: token },
    json: { component_appid: PLATFORM.componentAppId, ...body }
  })

/** The authorizer's tokens, from a fresh authorization code. */
export const authorize = (appId: string, token: string) =>
  Effect.gen(function*() {
    const code = yield* authorizationCode(appId)
    const answer = yield* queryAuth(token, code)
    assert.isObject(answer.json.authorization_info, answer.text)
    return answer.json.authorization_info as {
      authorizer_appid: string
      authorizer_access_token: string
      expires_in: number
      authorizer_refresh_token: string
      func_info: ReadonlyArray<{ funcscope_category: { id: number } }>
    }
  })

/** A consent code of the managed official account, asked for by the platform. */
export const componentConsent = (
  options: { user?: string; scope?: string; appId?: string; componentAppId?: string } = {}
) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const url = new URL(
      yield* sandbox.approve({
        appId: options.appId ?? MANAGED_OA,
        user: options.user ?? "alice",
        scope: options.scope ?? "snsapi_userinfo",
        redirectUri: "https://saas.example.com/wechat/callback",
        state: "xyz",
        componentAppId: options.componentAppId ?? PLATFORM.componentAppId
      })
    )
    return { url, code: url.searchParams.get("code")! }
  })

/** `GET /sns/oauth2/component/access_token`. */
export const componentExchange = (
  code: string | undefined,
  token: string | undefined,
  overrides: Record<string, string | undefined> = {}
) =>
  get("/sns/oauth2/component/access_token", {
    appid: MANAGED_OA,
    code,
    grant_type: "authorization_code",
    component_appid: PLATFORM.componentAppId,
    component_access_token: token,
    ...overrides
  })

/** `GET /sns/oauth2/component/refresh_token`. */
export const componentRefresh = (
  refreshToken: string | undefined,
  token: string | undefined,
  overrides: Record<string, string | undefined> = {}
) =>
  get("/sns/oauth2/component/refresh_token", {
    appid: MANAGED_OA,
    grant_type: "refresh_token",
    component_appid: PLATFORM.componentAppId,
    component_access_token: token,
    refresh_token: refreshToken,
    ...overrides
  })

/** `GET /sns/component/jscode2session`. */
export const componentJscode2session = (
  jsCode: string | undefined,
  token: string | undefined,
  overrides: Record<string, string | undefined> = {}
) =>
  get("/sns/component/jscode2session", {
    appid: MANAGED_MINI,
    js_code: jsCode,
    grant_type: "authorization_code",
    component_appid: PLATFORM.componentAppId,
    component_access_token: token,
    ...overrides
  })

/**
 * What an API that takes an app token says of it: `getuserphonenumber` with a code that does not
 * exist answers 40029 once the token has passed its checks (48001 for an official account's), and
 * the token's errcode otherwise.
 */
export const appTokenErrcode = (token: string | undefined) =>
  Effect.map(
    request("POST", "/wxa/business/getuserphonenumber", { params: { access_token: token }, json: { code: "nope" } }),
    (answer) => answer.json.errcode as number
  )

/**
 * What an endpoint that takes a component access token says of it: `api_query_auth` with a code
 * that does not exist answers 61009 once the token has passed its checks.
 */
export const componentTokenErrcode = (token: string | undefined, componentAppId: string = PLATFORM.componentAppId) =>
  Effect.map(queryAuth(token, "queryauthcode@@@nope", componentAppId), (answer) => answer.json.errcode as number)

/** 61009 from `componentTokenErrcode`: the token works. */
export const WORKS = 61009
