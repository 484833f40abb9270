/**
 * Fault injection: the queue of pending faults (first in, first out per matching endpoint) and the
 * broken answers each fault kind gives.
 *
 * @internal
 */
import type { Endpoint } from "../Sandbox.js"
import * as Engine from "./engine.js"
import * as Html from "./html.js"
import * as Ids from "./ids.js"
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

const sampleBody = (endpoint: Endpoint): Record<string, unknown> => {
  switch (endpoint) {
    case "access_token":
    case "refresh_token":
      return {
        access_token: Ids.randomToken(),
        expires_in: 7200,
        refresh_token: Ids.randomToken(),
        openid: Ids.deriveOpenid("truncated", "truncated"),
        scope: "snsapi_userinfo"
      }
    case "userinfo":
      return {
        openid: Ids.deriveOpenid("truncated", "truncated"),
        nickname: "张三",
        sex: 1,
        province: "广东",
        city: "深圳",
        country: "中国",
        headimgurl: "https://thirdwx.qlogo.cn/mmopen/vi_32/sandbox/132",
        privilege: []
      }
    case "jscode2session":
      return { session_key: Ids.randomSessionKey(), openid: Ids.deriveOpenid("truncated", "truncated") }
    default:
      return { errcode: 0, errmsg: "ok" }
  }
}

const wrongShape = (endpoint: Endpoint): Record<string, unknown> => {
  switch (endpoint) {
    case "access_token":
    case "refresh_token":
      return { access_token: 123, expires_in: "7200", openid: null }
    case "userinfo":
      return { openid: ["o"], nickname: 42, sex: "male" }
    case "auth":
      return { errcode: "0", errmsg: 0 }
    case "jscode2session":
      return { session_key: 123, openid: false }
    default:
      return { foo: "bar" }
  }
}

/** The answer a fault gives in place of the endpoint's (every kind but `slow` and `reset`). @internal */
export const response = (fault: PendingFault, endpoint: Endpoint): Engine.RawResponse => {
  switch (fault.kind) {
    case "busy":
      return Engine.errcodeResponse(endpoint, -1, "system error")
    case "rateLimited":
      return Engine.errcodeResponse(endpoint, 45011, "api minute-quota reach limit mustslower retry next minute")
    case "errcode":
      return Engine.jsonResponse(endpoint, {
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
      const full = JSON.stringify(sampleBody(endpoint))
      return { ...Engine.jsonResponse(endpoint, null), body: full.slice(0, Math.floor(full.length * 0.6)) }
    }
    case "wrongShape":
      return Engine.jsonResponse(endpoint, wrongShape(endpoint))
    case "slow":
    case "reset":
      // handled by the caller: slow answers normally after a delay, reset has no answer
      return Engine.jsonResponse(endpoint, { errcode: -1, errmsg: "system error" })
  }
}
