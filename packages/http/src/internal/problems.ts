/**
 * What can go wrong in a login, in words a person understands (Chinese first, then English), and
 * which of core's tagged errors leads to which problem. A problem page is addressed by a fixed
 * reason key (`?reason=denied`), so nothing from the request is ever echoed into it; a JSON problem
 * is `{ error: reason, title, titleEn }`.
 *
 * @internal
 */
import { WeChatError } from "@wxauth/core"
import type { ProblemReason } from "../WeChatLogin.js"

/** The reasons a problem page or a JSON problem can give (the public `ProblemReason`). @internal */
export type Reason = ProblemReason

/** A problem's text, HTTP status and what the person can do next. @internal */
export interface Problem {
  readonly reason: Reason
  readonly status: number
  readonly title: string
  readonly titleEn: string
  readonly text: string
  readonly textEn: string
  /** Offer a fresh login (the page's main button). */
  readonly retryLogin: boolean
}

const problem = (
  reason: Reason,
  status: number,
  retryLogin: boolean,
  [title, titleEn]: readonly [string, string],
  [text, textEn]: readonly [string, string]
): Problem => ({ reason, status, title, titleEn, text, textEn, retryLogin })

/** Every problem, by reason. @internal */
export const problems: { readonly [R in Reason]: Problem } = {
  denied: problem("denied", 403, true, ["你拒绝了授权", "You declined to log in"], [
    "你在微信授权页面点击了“拒绝”，所以我们没有获得你的任何信息。如果想登录，请重新授权。",
    "You pressed “deny” on WeChat's consent page, so this site received nothing about you. To log in, try again and allow."
  ]),
  state: problem("state", 400, true, ["登录请求无效", "This login request is not valid"], [
    "登录链接被修改过或不完整（state 校验失败），为了你的安全已停止登录。请从本站重新发起登录。",
    "The login link was altered or is incomplete (the state check failed), so the login was stopped for your safety. Please start again from this site."
  ]),
  "state-expired": problem("state-expired", 400, true, ["登录请求已过期", "This login request has expired"], [
    "从发起登录到完成授权的时间太久了。请重新登录。",
    "Too much time passed between starting the login and approving it. Please log in again."
  ]),
  "state-browser": problem("state-browser", 400, true, [
    "请在同一个浏览器中完成登录",
    "Finish the login in the same browser"
  ], [
    "这个登录链接是在另一个浏览器（或已结束的登录）中发起的，不能在这里使用。请在此浏览器中重新登录。",
    "This login link was started in another browser (or by a login that has ended) and cannot be used here. Please log in again from this browser."
  ]),
  "code-expired": problem("code-expired", 400, true, ["登录码已过期", "The login code has expired"], [
    "微信给出的登录码只在 5 分钟内有效。请重新登录。",
    "The code WeChat issued is valid for 5 minutes only. Please log in again."
  ]),
  "code-used": problem("code-used", 400, true, ["登录链接已被使用", "This login link was already used"], [
    "每个登录码只能使用一次。如果这是你刚刚用过的链接，请重新登录。",
    "Each login code works once. If you just used this link, please log in again."
  ]),
  busy: problem("busy", 503, true, ["微信暂时繁忙", "WeChat is busy right now"], [
    "微信服务器暂时没有响应，这通常只持续很短时间。请稍后再试。",
    "WeChat's servers did not answer just now; this usually passes quickly. Please try again in a moment."
  ]),
  relogin: problem("relogin", 401, true, ["请重新登录", "Please log in again"], [
    "你的登录已失效（授权已过期或已被撤销）。重新授权即可继续。",
    "Your login is no longer valid (the authorization expired or was revoked). Authorize again to continue."
  ]),
  config: problem("config", 500, false, ["网站配置有误", "This site is misconfigured"], [
    "微信拒绝了本站的应用配置（appid、secret、服务器 IP 白名单或接口权限）。请联系网站管理员。",
    "WeChat rejected this site's app configuration (appid, secret, server IP whitelist or API permissions). Please contact the site's administrator."
  ]),
  server: problem("server", 500, false, ["服务器出错了", "Something went wrong on our side"], [
    "服务器暂时无法完成请求。请稍后再试。",
    "The server could not complete the request. Please try again later."
  ]),
  unavailable: problem("unavailable", 404, false, ["此登录方式未启用", "This login method is not enabled"], [
    "本站没有启用这种微信登录方式。请使用其他登录方式。",
    "This site has not enabled this way of logging in with WeChat. Please use another way to log in."
  ]),
  forbidden: problem("forbidden", 403, false, ["请求被拒绝", "Request refused"], [
    "这个请求来自其他网站，已被拒绝。",
    "This request came from another site and was refused."
  ]),
  "not-found": problem("not-found", 404, false, ["页面不存在", "Page not found"], [
    "你要找的页面不存在。",
    "There is no page at this address."
  ]),
  "too-large": problem("too-large", 413, false, ["提交的内容过大", "Request too large"], [
    "提交的内容超过了 16 KiB 的上限，没有被处理。",
    "The request body is over the 16 KiB limit, so it was not processed."
  ]),
  "length-required": problem("length-required", 411, false, ["请求缺少长度", "Length required"], [
    "提交的内容必须注明长度（Content-Length），且不超过 16 KiB。",
    "The request body must state its length (Content-Length) and be at most 16 KiB."
  ]),
  "unsupported-type": problem("unsupported-type", 415, false, ["内容类型不支持", "Unsupported content type"], [
    "这个接口只接受 JSON（Content-Type: application/json）。",
    "This endpoint takes JSON only (Content-Type: application/json)."
  ]),
  "bad-request": problem("bad-request", 400, false, ["请求无效", "Bad request"], [
    "提交的内容缺少必需的字段，或格式不对。",
    "The request body lacks a required field or is not in the expected form."
  ]),
  timeout: problem("timeout", 408, false, ["提交超时", "Request timeout"], [
    "提交的内容没有在 10 秒内传完，没有被处理。请重试。",
    "The request body did not arrive within 10 seconds, so it was not processed. Please try again."
  ]),
  "phone-code": problem("phone-code", 400, false, [
    "手机号授权已失效",
    "The phone number authorization is no longer valid"
  ], [
    "获取手机号按钮给出的 code 只能使用一次，且 5 分钟内有效。请再点一次按钮。",
    "The code of the phone number button works once, within 5 minutes. Please press the button again."
  ]),
  snapshot: problem("snapshot", 403, true, ["请使用完整服务后登录", "Open the full page to log in"], [
    "你正在朋友圈的快照页中，无法登录。请点击页面底部的“使用完整服务”，然后重新登录。",
    "This is a preview page from Moments, where nobody can log in. Tap “use the full service” at the bottom, then log in again."
  ]),
  unauthenticated: problem("unauthenticated", 401, true, ["请先登录", "Please log in"], [
    "你还没有登录，或登录已结束。",
    "You are not logged in, or your login has ended."
  ])
}

/** The problem of a reason key from a URL; unknown keys are `not-found`. @internal */
export const fromKey = (key: string | null | undefined): Problem =>
  key !== null && key !== undefined && Object.prototype.hasOwnProperty.call(problems, key)
    ? problems[key as Reason]
    : problems["not-found"]

/** The problem of any failure of core's login calls. @internal */
export const fromError = (error: WeChatError.WeChatError): Problem => {
  // a 40001 from an endpoint that sends the app secret (the code exchange, jscode2session, an app
  // token) is a wrong secret, as 40125 is: core gives it the kind permanent (elsewhere it is a
  // rejected token, refreshable)
  if (error._tag === "InvalidCredential" && WeChatError.kindOf(error) === "permanent") {
    return problems.config
  }
  switch (error._tag) {
    case "ConsentDenied":
      return problems.denied
    case "StateMismatch":
      return error.reason === "Expired"
        ? problems["state-expired"]
        : error.reason === "Binding"
        ? problems["state-browser"]
        : problems.state
    case "CodeExpired":
    case "InvalidCode":
      return problems["code-expired"]
    case "CodeUsed":
      return problems["code-used"]
    case "InvalidAppId":
    case "InvalidAppSecret":
    case "IpNotWhitelisted":
    case "ComponentIpNotWhitelisted":
    case "MissingParameter":
      return problems.config
    case "AuthorizerRefreshTokenInvalid":
      // 61023: the app withdrew its authorization of the platform; only its administrator
      // authorizing the platform again helps, never the user logging in again
      return problems.config
    case "ScopeUnauthorized":
      // decided here, no WeChat call (a mini program's or an snsapi_base login's profile): WeChat
      // rejected nothing, so not the config page's "WeChat rejected this site's app configuration"
      if (error.local === true) return problems.server
      // 48001 from any endpoint but userinfo and auth (getuserphonenumber, jscode2session, ...):
      // the app lacks the API's permission, no login helps (its kind is permanent). From userinfo
      // with an snsapi_base token: log in again.
      return WeChatError.kindOf(error) === "permanent" ? problems.config : problems.relogin
    case "TokenStoreError":
    case "SessionStoreError":
    case "RefreshLockTimeout":
    case "DecryptError":
      return problems.server
    case "InvalidArgument":
      // in a callback: a code or state of the wrong shape, from the URL
      return problems.state
    default:
      if (WeChatError.isRetryable(error) || error._tag === "MalformedResponse") return problems.busy
      if (WeChatError.requiresReauthorization(error) || error._tag === "UserUnauthorized") return problems.relogin
      return problems.server
  }
}

/**
 * The problems of a mini program's login (`wx.login()`'s code sent to the login endpoint), in a mini
 * program's words: it has no login link, and a code WeChat does not know (40029) is not said to have
 * expired. Same reason keys and statuses as the browser's. @internal
 */
export const miniProgramProblems: { readonly "code-used": Problem; readonly "code-expired": Problem } = {
  "code-used": problem("code-used", 400, true, ["登录码已被使用", "This login code was already used"], [
    "wx.login() 给出的登录码只能使用一次。请重新调用 wx.login() 获取新的登录码后再登录。",
    "A code from wx.login() works once. Call wx.login() again for a new code, then log in with it."
  ]),
  "code-expired": problem(
    "code-expired",
    400,
    true,
    ["登录码无效或已过期", "The login code is invalid or has expired"],
    [
      "wx.login() 给出的登录码只在 5 分钟内有效，且必须来自本小程序。请重新调用 wx.login() 后再登录。",
      "A code from wx.login() is valid for 5 minutes and only for this mini program. Call wx.login() again, then log in with the new code."
    ]
  )
}

/** The problem of a failure of a mini program's login (`code2Session`). @internal */
export const fromMiniProgramLoginError = (error: WeChatError.WeChatError): Problem => {
  const problem = fromError(error)
  return problem.reason === "code-used" || problem.reason === "code-expired"
    ? miniProgramProblems[problem.reason]
    : problem
}

/**
 * The keys whose values a log line never shows (`password=...`, `client_secret=...`, `api_key=...`,
 * `sessionKey=...`, `"password":"..."`): a key ending in one of these names, case-insensitive,
 * before `=` (`＝`, `=>`, `%3D`, pg's `Key (token)=(...)`), or before `:` when the key or the value
 * is quoted (JSON, escaped JSON `{\"session_key\":\"...\"}`, Node's printed objects
 * `password: 'x'`; an unquoted `key: Missing` is a description's own words, as in core's
 * malformed-answer text, MySQL's `using password: YES`). A quoted value ends at its closing quote
 * (`"`, `'` or a backtick; a backslash escapes one); an unquoted one at a space, `&`, `;`, `,`, or at
 * a `)`, `]` or `}` that ends its word. A key ending in `code` keeps a value that is a number or an
 * error code in capitals, quoted or not (`errcode=40029`, `code: 'ECONNREFUSED'`, `status_code=503`),
 * not another (a login's code). One start per run of key characters (the lookbehind), so the rule
 * is linear.
 */
const secretKeys = "password|passwd|pwd|secret|token|session_?key|key|code"
const quoted = (q: string) => `${q}(?:[^${q}\\\\]|\\\\.)*${q}?`
const secretValue = new RegExp(
  `(?<![a-z0-9_.-])([a-z0-9_.-]*?(?:${secretKeys}))` +
    `(\\\\*["'\`]?\\s*=>\\s*|\\s*[=＝]\\s*|%3d|\\)\\s*=\\s*\\(|\\\\*["'\`]\\s*[:：]\\s*|\\s*[:：]\\s*(?=\\\\*["'\`]))` +
    `(\\\\+"(?:[^"\\\\]|\\\\+(?!"))*(?:\\\\+")?|${quoted(`"`)}|${quoted(`'`)}|${quoted("`")}|` +
    `(?:[^\\s&;,)\\]}]|[)\\]}]+(?=[^\\s&;,)\\]}]))*)`,
  "gi"
)
const plainCode = /^\\*(["'`]?)(?:-?\d+|[A-Z][A-Z0-9_]*)\\*\1$/

const cutSecret = (match: string, key: string, separator: string, value: string): string =>
  /code$/i.test(key) && plainCode.test(value) ? match : `${key}${separator}***`

/**
 * The credentials of each URL in a run without whitespace (`redis://app:pa@ss@host`): from `//` up
 * to the URL's last `@` (a password may hold a raw `@` or `/`); in a list of URLs, up to the `,`
 * before the next URL's scheme, so each host stays; a URL opened by a quote (JSON) ends at the next
 * same quote, so `{"url":"redis://h:6379","admin":"ops@example.com"}` keeps both. indexOf and
 * lastIndexOf, once per URL: linear.
 */
const urlCredentials = (run: string): string =>
  run.split(/(?=,[a-z][a-z0-9+.-]*:\/\/)/i).map((url) => {
    const start = url.indexOf("//")
    if (start < 0) return url
    let before = start - 1
    if (url[before] === ":") before--
    while (before >= 0 && /[a-z0-9+.-]/i.test(url[before]!)) before--
    const q = before >= 0 && "\"'`".includes(url[before]!) ? url[before]! : undefined
    // the closing quote: one not escaped by a backslash (JSON's \", util.inspect's \'), so a
    // password holding an escaped quote is still cut
    let quote = -1
    if (q !== undefined) {
      for (let i = start; i < url.length; i++) {
        if (url[i] === "\\") i++
        else if (url[i] === q) {
          quote = i
          break
        }
      }
    }
    const at = url.lastIndexOf("@", quote < 0 ? url.length : quote)
    return at > start ? `${url.slice(0, start)}//***@${url.slice(at + 1)}` : url
  }).join("")

/**
 * A run of 24 or more letters, digits, `-` and `_` is an id (a session's id, a token, an openid, a
 * rid, a script's hash) when it holds a digit and its parts (split at `-` and `_`) that look random
 * (letters mixed with digits, or upper- with lower-case letters) hold 16 or more characters; a host
 * name, a pod's name or a table's name made of words stays (`wxauth-redis-prod-eastus2`,
 * `wxauth-redis-master-7d9f8b6c5-x2k4p`, `wxauth_oauth_tokens_v2_backup`). Random base64url and hex
 * ids are cut as often as by the former rule (any run with a letter and a digit).
 */
const idLike = (run: string): boolean => {
  if (!/\d/.test(run)) return false
  let random = 0
  for (const part of run.split(/[-_]/)) {
    if ((/\d/.test(part) && /[a-z]/i.test(part)) || (/[a-z]/.test(part) && /[A-Z]/.test(part))) random += part.length
  }
  return random >= 16
}

/**
 * Characters a log line never shows: C0 and C1 controls (a forged line), line and paragraph
 * separators, bidi overrides and isolates (text that reads otherwise than it is), a lone surrogate
 * (replaced), and the invisible ones inside a word (removed: `pass\u200bword=` is `password=`).
 */
// eslint-disable-next-line no-control-regex
const unprintable = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
const invisible = /[\u00ad\u061c\u200b-\u200f\u2060-\u2064\ufeff]/g
const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/** At most `max` characters of `text`, and `…` when cut; never half of a surrogate pair. */
const cut = (text: string, max: number): string => {
  if (text.length <= max) return text
  const end = /[\ud800-\udbff]/.test(text[max - 1] ?? "") ? max - 1 : max
  return `${text.slice(0, end)}…`
}

/**
 * At most `max` characters of a description for a log line, with any URL query or fragment, URL
 * credentials, the values of keys that name a secret, the arguments of a Redis command, an
 * `Authorization` header's value and long ids cut out (WeChat's URLs carry the app secret, codes
 * and tokens in the query; a store's URL or connection string may carry its password, ioredis's
 * errors their command's arguments, its errors a session's id) and unprintable characters replaced. Host names, ports,
 * error codes and table names stay. A best effort over text another library wrote: a few simple
 * rules, each linear in the (bounded) input.
 */
const cleanDescription = (text: string, max = 200): string => {
  // a bounded input; a word cut at the bound is dropped whole, so no part of a URL's credentials or
  // query survives the cut (up to the bound's last space: one anchored match, where `\S*$` would
  // start again at each character of a long word)
  const bounded = text.length > 4 * max ? /^[\s\S]*\s/.exec(text.slice(0, 4 * max))?.[0] ?? "" : text
  const cleaned = bounded
    .replace(unprintable, " ")
    .replace(invisible, "")
    .replace(loneSurrogate, "\ufffd")
    .replace(/(?<!\S)\S*\/\/\S*/g, urlCredentials)
    // a Redis command's arguments (ioredis's `command: { name: 'auth', args: [ 'app', 'pw' ] }`, its
    // JSON form) and what Redis quotes of them (`with args beginning with: 'AUTH' 'app' 'pw'`)
    .replace(
      /(\bargs\\*["'`]?\s*:\s*\[)(?:"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|`(?:[^`\\]|\\.)*`?|[^\]"'`])*\]?/gi,
      "$1***]"
    )
    .replace(/(with args beginning with)[\s\S]*/i, "$1: ***")
    .replace(secretValue, cutSecret)
    // an HTTP header's credentials (`Authorization: Bearer ...`, its JSON form)
    .replace(
      /(\bauthorization\\*["'`]?\s*[:=：＝]\s*\\*["'`]?(?:(?:bearer|basic|digest|token)\s+)?)[^\s"'`,;]+/gi,
      "$1***"
    )
    .replace(/(?:[?#]|%3f)\S*/gi, "?…")
    .replace(/(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{24,}/g, (run) => (idLike(run) ? "***" : run))
  return cut(cleaned, max)
}

/** At most `max` characters of `text`, unprintable characters replaced. */
const printable = (text: string, max: number): string =>
  cut(text.slice(0, max + 1).replace(unprintable, " ").replace(invisible, "").replace(loneSurrogate, "\ufffd"), max)

/** A short code of a transport cause (`ECONNREFUSED`, `UND_ERR_CONNECT_TIMEOUT`), when it is one. */
const causeCode = (cause: unknown): string | undefined => {
  try {
    const code = typeof cause === "object" && cause !== null ? (cause as { code?: unknown }).code : undefined
    return typeof code === "string" && /^[A-Z][A-Z0-9_]{0,39}$/.test(code) ? code : undefined
  } catch {
    return undefined
  }
}

/**
 * What a log line may say of a failure besides its tag and errcode: a transport error's endpoint,
 * reason, phase, HTTP status and system code (fixed words and numbers, never its description,
 * which quotes the client's error); a malformed answer's endpoint and description (core's words
 * and the answer's field names, never its values); a store's operation and description (cleaned:
 * no URL query or credentials, at most 200 characters); a local `ScopeUnauthorized`'s message
 * (this package's own words). Never a token, code, secret or URL query. @internal
 */
export const logDetail = (error: unknown): Record<string, string | number> => {
  if (typeof error !== "object" || error === null) return {}
  const e = error as Record<string, unknown>
  const text = (value: unknown, max?: number) => (typeof value === "string" ? cleanDescription(value, max) : undefined)
  const detail: Record<string, string | number | undefined> = {}
  try {
    switch (e["_tag"]) {
      case "TransportError": {
        detail["endpoint"] = text(e["endpoint"])
        detail["reason"] = typeof e["reason"] === "string" ? e["reason"] : undefined
        detail["phase"] = typeof e["phase"] === "string" ? e["phase"] : undefined
        detail["status"] = typeof e["status"] === "number" ? e["status"] : undefined
        detail["code"] = causeCode(e["cause"])
        break
      }
      case "MalformedResponse": {
        detail["endpoint"] = text(e["endpoint"])
        detail["description"] = text(e["description"])
        break
      }
      case "TokenStoreError":
      case "SessionStoreError": {
        detail["operation"] = text(e["operation"])
        detail["description"] = text(e["description"])
        break
      }
      case "ScopeUnauthorized": {
        detail["endpoint"] = text(e["endpoint"])
        // a local error's words are the login's own advice (an app's key, the option to set):
        // bounded and printable, not cut as a foreign description is
        if (e["local"] === true && typeof e["errmsg"] === "string") detail["description"] = printable(e["errmsg"], 400)
        break
      }
      case "RefreshLockTimeout": {
        detail["waitedMillis"] = typeof e["waitedMillis"] === "number" ? e["waitedMillis"] : undefined
        break
      }
    }
  } catch {
    // a value that throws when looked at: its tag is all the log says
  }
  return Object.fromEntries(Object.entries(detail).filter(([, value]) => value !== undefined)) as Record<
    string,
    string | number
  >
}
