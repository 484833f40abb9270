/**
 * The shapes of WeChat's answers: a JSON body with the content type WeChat sends for each endpoint,
 * an errcode answer (HTTP 200, `{errcode, errmsg}` with a request id), and HTML pages. Every part of
 * the sandbox that answers as WeChat builds its answer here.
 *
 * @internal
 */
import type { Endpoint, SandboxApp } from "../Sandbox.js"
import * as Ids from "./ids.js"

/** @internal */
export interface RawResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

const TEXT_PLAIN = "text/plain"
const JSON_UTF8 = "application/json; encoding=utf-8"
const HTML = "text/html; charset=utf-8"

/**
 * The content type WeChat sends for an endpoint's JSON (errors included): `text/plain` for the
 * `sns` code and token endpoints and `jscode2session`, direct or a platform's (and the consent
 * pages' faults), `application/json; encoding=utf-8` for `userinfo`, `auth`, `cgi-bin` and `wxa`.
 *
 * @internal
 */
export const jsonContentType = (endpoint: Endpoint): string => {
  switch (endpoint) {
    case "authorize":
    case "qrconnect":
    case "access_token":
    case "refresh_token":
    case "jscode2session":
    case "component_access_token":
    case "component_refresh_token":
    case "component_jscode2session":
      return TEXT_PLAIN
    default:
      return JSON_UTF8
  }
}

/** @internal */
export const jsonResponse = (endpoint: Endpoint, body: unknown): RawResponse => ({
  status: 200,
  headers: { "content-type": jsonContentType(endpoint), "cache-control": "no-cache" },
  body: JSON.stringify(body)
})

/** A WeChat error: HTTP 200 with `{errcode, errmsg}`, errmsg carrying a request id like WeChat's. @internal */
export const errcodeResponse = (endpoint: Endpoint, errcode: number, errmsg: string): RawResponse =>
  jsonResponse(endpoint, { errcode, errmsg: `${errmsg} rid: ${Ids.randomRid()}` })

/**
 * What an endpoint that checks the app secret answers a wrong one: the app's `wrongSecretErrcode`,
 * 40125 "invalid appsecret" by default, or 40001 "invalid credential", which WeChat answers too.
 *
 * @internal
 */
export const wrongSecret = (app: SandboxApp): { readonly errcode: number; readonly errmsg: string } =>
  app.wrongSecretErrcode === 40001 ?
    { errcode: 40001, errmsg: "invalid credential, access_token is invalid or not latest" } :
    { errcode: 40125, errmsg: "invalid appsecret" }

/** `wrongSecret` as the endpoint's errcode answer. @internal */
export const wrongSecretResponse = (endpoint: Endpoint, app: SandboxApp): RawResponse => {
  const { errcode, errmsg } = wrongSecret(app)
  return errcodeResponse(endpoint, errcode, errmsg)
}

/** @internal */
export const htmlResponse = (status: number, body: string, headers?: Record<string, string>): RawResponse => ({
  status,
  headers: { "content-type": HTML, "cache-control": "no-store", ...headers },
  body
})
