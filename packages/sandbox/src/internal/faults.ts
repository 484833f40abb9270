/**
 * Fault injection: the queue of pending faults (first in, first out per matching endpoint) and the
 * broken answers each fault kind gives.
 *
 * @internal
 */
import type * as Stream from "effect/Stream"
import type { Endpoint } from "../Sandbox.js"
import * as Hostile from "./hostile.js"
import * as Html from "./html.js"
import * as Ids from "./ids.js"
import * as Responses from "./responses.js"
import type { PendingFault } from "./schema.js"

/**
 * Whether a fault for `"*"` applies to the endpoint: every endpoint of the API, but not the consent
 * pages (`authorize`, `qrconnect`), which a browser may load at any time and which a fault meant for
 * the API must not be used up on. A fault naming them still applies to them.
 *
 * @internal
 */
export const matchesAny = (endpoint: Endpoint): boolean => endpoint !== "authorize" && endpoint !== "qrconnect"

/**
 * Takes the first pending fault matching the endpoint (its own, or `"*"` for an API endpoint),
 * counting one use off it. Returns the fault (if any) and the queue left.
 *
 * @internal
 */
export const take = (
  endpoint: Endpoint
) =>
(queue: ReadonlyArray<PendingFault>): [PendingFault | undefined, ReadonlyArray<PendingFault>] => {
  const index = queue.findIndex((fault) =>
    fault.endpoint === endpoint || (fault.endpoint === "*" && matchesAny(endpoint))
  )
  if (index === -1) return [undefined, queue]
  const fault = queue[index]
  const next = fault.remaining > 1 ?
    queue.map((f, i) => i === index ? { ...f, remaining: f.remaining - 1 } : f) :
    queue.filter((_, i) => i !== index)
  return [fault, next]
}

/** A sample success answer, for a request the endpoint would refuse: the openid asked for, if any. */
const sampleBody = (endpoint: Endpoint, params: URLSearchParams): Record<string, unknown> => {
  const openid = params.get("openid") ?? Ids.deriveOpenid("truncated", "truncated")
  switch (endpoint) {
    case "access_token":
    case "refresh_token":
    case "component_access_token":
    case "component_refresh_token":
      return {
        access_token: Ids.randomToken(),
        expires_in: 7200,
        refresh_token: params.get("refresh_token") ?? Ids.randomToken(),
        openid,
        scope: "snsapi_userinfo"
      }
    case "userinfo":
      return {
        openid,
        nickname: "张三",
        sex: 0,
        province: "",
        city: "",
        country: "",
        headimgurl: "https://thirdwx.qlogo.cn/mmopen/vi_32/sandbox/132",
        privilege: []
      }
    case "jscode2session":
    case "component_jscode2session":
      return { session_key: Ids.randomSessionKey(), openid }
    case "stable_token":
    case "token":
      return { access_token: Ids.randomAppToken(), expires_in: 7200 }
    case "api_component_token":
      return { component_access_token: Ids.randomComponentToken(), expires_in: 7200 }
    case "api_query_auth":
      return {
        authorization_info: {
          authorizer_appid: "wxsandboxauthorizer",
          authorizer_access_token: Ids.randomAppToken(),
          expires_in: 7200,
          authorizer_refresh_token: Ids.randomAuthorizerRefreshToken(),
          func_info: [{ funcscope_category: { id: 1 } }]
        }
      }
    case "api_authorizer_token":
      return {
        authorizer_access_token: Ids.randomAppToken(),
        expires_in: 7200,
        authorizer_refresh_token: Ids.randomAuthorizerRefreshToken()
      }
    case "getuserphonenumber":
      return {
        errcode: 0,
        errmsg: "ok",
        phone_info: {
          phoneNumber: "13800000001",
          purePhoneNumber: "13800000001",
          countryCode: "86",
          watermark: { timestamp: 1700000000, appid: params.get("appid") ?? "wxsandboxminiprog1" }
        }
      }
    case "resetusersessionkey":
      return { errcode: 0, errmsg: "ok", openid, session_key: Ids.randomSessionKey() }
    default:
      return { errcode: 0, errmsg: "ok" }
  }
}

const wrongShape = (endpoint: Endpoint): Record<string, unknown> => {
  switch (endpoint) {
    case "access_token":
    case "refresh_token":
    case "component_access_token":
    case "component_refresh_token":
      return { access_token: 123, expires_in: "7200", openid: null }
    case "userinfo":
      return { openid: ["o"], nickname: 42, sex: "male" }
    case "auth":
      return { errcode: "0", errmsg: 0 }
    case "jscode2session":
    case "component_jscode2session":
      return { session_key: 123, openid: false }
    case "stable_token":
    case "token":
      return { access_token: 123, expires_in: "7200" }
    case "api_component_token":
      return { component_access_token: 123, expires_in: "7200" }
    case "api_query_auth":
      return { authorization_info: "wx" }
    case "api_authorizer_token":
      return { authorizer_access_token: null, expires_in: "7200", authorizer_refresh_token: 1 }
    case "getuserphonenumber":
      return { errcode: "0", phone_info: "13800000001" }
    case "resetusersessionkey":
      return { errcode: 0, openid: 1, session_key: false }
    default:
      return { foo: "bar" }
  }
}

/** The endpoints whose answer carries `expires_in` at the top. */
const expiring: ReadonlySet<Endpoint> = new Set<Endpoint>([
  "access_token",
  "refresh_token",
  "stable_token",
  "token",
  "api_component_token",
  "api_authorizer_token",
  "component_access_token",
  "component_refresh_token"
])

/** The number in an endpoint's answer that a `nonFinite` fault rewrites by default. */
const numberField = (endpoint: Endpoint): string =>
  expiring.has(endpoint) ? "expires_in" : endpoint === "userinfo" ? "sex" : "errcode"

/** What a fault knows of the call it answers. @internal */
export interface FaultRequest {
  readonly endpoint: Endpoint
  readonly method: string
  readonly url: URL
  readonly body: string
  /** The endpoint's success answer to this call, computed without effect; `undefined` if it would fail. */
  readonly preview: () => Readonly<Record<string, unknown>> | undefined
}

/** A fault's answer: `stream`, when there is one, is the body. @internal */
export interface FaultResponse extends Responses.RawResponse {
  readonly stream?: Stream.Stream<Uint8Array>
}

/** A JSON answer of the endpoint with a body text of our own. */
const jsonText = (endpoint: Endpoint, body: string): FaultResponse => ({
  ...Responses.jsonResponse(endpoint, null),
  body
})

/** The answer a fault gives in place of the endpoint's (every kind but `slow` and `reset`). @internal */
export const response = (fault: PendingFault, request: FaultRequest): FaultResponse => {
  const endpoint = request.endpoint
  const normal = () => request.preview() ?? sampleBody(endpoint, request.url.searchParams)
  switch (fault.kind) {
    case "busy":
      return Responses.errcodeResponse(endpoint, -1, "system error")
    case "rateLimited":
      return Responses.errcodeResponse(endpoint, 45011, "api minute-quota reach limit mustslower retry next minute")
    case "errcode":
      return Responses.jsonResponse(endpoint, {
        errcode: fault.errcode ?? -1,
        errmsg: fault.errmsg ?? "sandbox injected error"
      })
    case "http500":
    case "http502": {
      const status = fault.kind === "http500" ? 500 : 502
      return { status, headers: { "content-type": "text/html" }, body: Html.gatewayPage(status) }
    }
    case "truncated": {
      // any strict prefix of a JSON object's text is not JSON
      const full = JSON.stringify(sampleBody(endpoint, request.url.searchParams))
      return jsonText(endpoint, full.slice(0, Math.floor(full.length * 0.6)))
    }
    case "wrongShape":
      return Responses.jsonResponse(endpoint, wrongShape(endpoint))
    case "nested": {
      const nested = Hostile.nestedArray(fault.depth)
      return jsonText(
        endpoint,
        fault.field === undefined ? nested : Hostile.withRawField(normal(), fault.field, nested)
      )
    }
    case "huge": {
      const headers = Responses.jsonResponse(endpoint, null).headers
      return {
        status: 200,
        headers: fault.contentLength ? { ...headers, "content-length": String(fault.bytes) } : headers,
        body: "",
        stream: Hostile.hugeBody(fault.bytes)
      }
    }
    case "drip": {
      const busy = Responses.errcodeResponse(endpoint, -1, "system error")
      const drip = Hostile.dripBody(busy.body, fault.intervalMs, fault.delayMs)
      return {
        status: 200,
        headers: { ...busy.headers, "content-length": String(drip.bytes) },
        body: "",
        stream: drip.stream
      }
    }
    case "nonFinite":
      return jsonText(endpoint, Hostile.withRawField(normal(), fault.field ?? numberField(endpoint), fault.value))
    case "echo": {
      const errcode = fault.errcode ?? -1
      return Responses.jsonResponse(endpoint, { errcode, errmsg: Hostile.echoErrmsg(errcode, fault.errmsg, request) })
    }
    case "wrongOpenid": {
      const answer = normal()
      if (typeof answer.openid !== "string") return Responses.jsonResponse(endpoint, answer)
      // another user: another openid, and another unionid if the answer has one
      return Responses.jsonResponse(endpoint, {
        ...answer,
        openid: Ids.deriveOpenid("sandbox-wrong-openid", answer.openid),
        ...(typeof answer.unionid === "string" ? { unionid: Ids.deriveUnionid(`wrong:${answer.unionid}`) } : {})
      })
    }
    case "raw":
      return { status: fault.status, headers: { "content-type": fault.contentType }, body: fault.body ?? "" }
    case "slow":
    case "reset":
      // handled by the caller: slow answers normally after a delay, reset has no answer
      return Responses.errcodeResponse(endpoint, -1, "system error")
  }
}
