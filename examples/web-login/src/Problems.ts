/**
 * What can go wrong on the app's own pages, in words a person understands (Chinese first, then
 * English). The login's problems (consent denied, a tampered or expired login link, a code used
 * twice, ...) are `@wxauth/http`'s own pages, at `/login/<app>/problem?reason=`; these are the
 * profile's (WeChat busy), the dev panel's and the simulated mini program's (bodies), and any page's
 * (not found, refused, server). An error page is addressed by a fixed reason key
 * (`/error?reason=busy`), so nothing from the request is ever echoed back into it.
 */
import { WeChatError } from "@wxauth/core"

/** The reasons an error page can show. */
export type Reason =
  | "busy"
  | "server"
  | "forbidden"
  | "not-found"
  | "too-large"
  | "length-required"
  | "unsupported-type"
  | "bad-request"
  | "timeout"

/** An error page's text and HTTP status. */
export interface Problem {
  readonly reason: Reason
  readonly status: number
  readonly title: string
  readonly titleEn: string
  readonly text: string
  readonly textEn: string
}

const problem = (
  reason: Reason,
  status: number,
  [title, titleEn]: readonly [string, string],
  [text, textEn]: readonly [string, string]
): Problem => ({ reason, status, title, titleEn, text, textEn })

/** Every problem, by reason. */
export const problems: { readonly [R in Reason]: Problem } = {
  busy: problem("busy", 503, ["微信暂时繁忙", "WeChat is busy right now"], [
    "微信服务器暂时没有响应，这通常只持续很短时间。请稍后再试。",
    "WeChat's servers did not answer just now; this usually passes quickly. Please try again in a moment."
  ]),
  server: problem("server", 500, ["服务器出错了", "Something went wrong on our side"], [
    "服务器暂时无法完成请求。请稍后再试。",
    "The server could not complete the request. Please try again later."
  ]),
  forbidden: problem("forbidden", 403, ["请求被拒绝", "Request refused"], [
    "这个请求来自其他网站，已被拒绝。",
    "This request came from another site and was refused."
  ]),
  "not-found": problem("not-found", 404, ["页面不存在", "Page not found"], [
    "你要找的页面不存在。",
    "There is no page at this address."
  ]),
  "too-large": problem("too-large", 413, ["提交的内容过大", "Request too large"], [
    "提交的内容超过了 16 KiB 的上限，没有被处理。",
    "The request body is over the 16 KiB limit, so it was not processed."
  ]),
  "length-required": problem("length-required", 411, ["请求缺少长度", "Length required"], [
    "提交的内容必须注明长度（Content-Length），且不超过 16 KiB。",
    "The request body must state its length (Content-Length) and be at most 16 KiB."
  ]),
  "unsupported-type": problem("unsupported-type", 415, ["内容类型不支持", "Unsupported content type"], [
    "这个接口只接受 JSON（Content-Type: application/json）。",
    "This endpoint takes JSON only (Content-Type: application/json)."
  ]),
  "bad-request": problem("bad-request", 400, ["请求无效", "Bad request"], [
    "提交的内容缺少必需的字段，或格式不对。",
    "The request body lacks a required field or is not in the expected form."
  ]),
  timeout: problem("timeout", 408, ["提交超时", "Request timeout"], [
    "提交的内容没有在 10 秒内传完，没有被处理。请重试。",
    "The request body did not arrive within 10 seconds, so it was not processed. Please try again."
  ])
}

/** The problem of a reason key from a URL; unknown keys are `not-found`. */
export const fromKey = (key: string | null | undefined): Problem =>
  key !== null && key !== undefined && Object.prototype.hasOwnProperty.call(problems, key)
    ? problems[key as Reason]
    : problems["not-found"]

/** The problem of a failed profile fetch: WeChat busy (retries ran out), or anything else. */
export const fromError = (error: { readonly _tag: string }): Problem =>
  error._tag === "MalformedResponse" || WeChatError.isRetryable(error)
    ? problems.busy
    : problems.server
