/**
 * A tiny cookie-keeping HTTP "browser" for tests: `fetch` without redirects, so every hop is seen,
 * with a cookie jar for the app's host and a user agent (a browser inside WeChat unless told
 * otherwise: `@wxauth/http` picks the login flow by user agent).
 *
 * @since 0.0.0
 */
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"

/**
 * One HTTP answer.
 *
 * @since 0.0.0
 */
export interface Answer {
  /** The URL requested. */
  readonly url: string
  readonly status: number
  readonly headers: Headers
  /** The `Location` header, made absolute against the URL requested. */
  readonly location: string | undefined
  /** The `Set-Cookie` lines, as sent. */
  readonly setCookies: ReadonlyArray<string>
  readonly text: string
}

/**
 * User agents of the three kinds of browser: WeChat's in-app browser (on Android), a desktop
 * Chrome, a phone's Chrome outside WeChat.
 *
 * @since 0.0.0
 */
export const userAgents = {
  wechat:
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36 MicroMessenger/8.0.47.2560(0x28002F3B) NetType/WIFI Language/zh_CN",
  desktop: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
  phone:
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
} as const

/**
 * Options of a {@link Browser}.
 *
 * @since 0.0.0
 */
export interface BrowserOptions {
  /**
   * A browser reaching the app over https through a TLS-terminating proxy: every request to the
   * app carries `X-Forwarded-Proto: https`, and `https://` URLs of the app's host are fetched with
   * the protocol of `base`.
   */
  readonly https?: boolean
  /** The user agent (default: {@link userAgents}`.wechat`). */
  readonly userAgent?: string
  /** Answers the requests to the app, in-process (default: `fetch` over the network). */
  readonly app?: (request: Request) => Promise<Response>
}

/**
 * A cookie jar and `fetch` without redirects: one browser on the app at `base`. Cookies are kept
 * host-only with path "/", and sent to the app's host only; a `Set-Cookie` with `Max-Age=0` (or
 * less) or an `Expires` in the past removes the cookie.
 *
 * @since 0.0.0
 */
export class Browser {
  /** The cookie jar: name to value. */
  readonly cookies = new Map<string, string>()

  constructor(
    readonly base: string,
    readonly options: BrowserOptions = {}
  ) {}

  /**
   * Sends a request; `path` is a path on the app or a full URL. `form` is sent URL-encoded; `body`
   * is sent as it is, as `application/json` unless `headers` say otherwise.
   */
  request(
    method: "GET" | "POST",
    path: string,
    options: {
      readonly form?: Record<string, string>
      readonly body?: string
      readonly headers?: Record<string, string>
    } = {}
  ): Effect.Effect<Answer> {
    return Effect.promise(async () => {
      const url = new URL(path, this.base)
      const ours = url.host === new URL(this.base).host
      const headers: Record<string, string> = {
        "user-agent": this.options.userAgent ?? userAgents.wechat,
        ...options.headers
      }
      if (this.options.https === true && ours) {
        url.protocol = new URL(this.base).protocol
        headers["x-forwarded-proto"] = "https"
      }
      if (ours && this.cookies.size > 0) {
        headers.cookie = Array.from(this.cookies, ([name, value]) => `${name}=${value}`).join("; ")
      }
      let body: string | null = null
      if (options.form !== undefined) {
        body = new URLSearchParams(options.form).toString()
        headers["content-type"] = "application/x-www-form-urlencoded"
      }
      if (options.body !== undefined) {
        body = options.body
        headers["content-type"] ??= "application/json"
      }
      const response = ours && this.options.app !== undefined
        ? await this.options.app(new Request(url, { method, headers, body, redirect: "manual" }))
        : await fetch(url, { method, headers, body, redirect: "manual" })
      const setCookies = response.headers.getSetCookie()
      if (ours) this.remember(setCookies)
      const location = response.headers.get("location") ?? undefined
      return {
        url: url.href,
        status: response.status,
        headers: response.headers,
        location: location === undefined ? undefined : new URL(location, url).href,
        setCookies,
        text: await response.text()
      }
    })
  }

  /** A GET. */
  get(path: string, headers?: Record<string, string>): Effect.Effect<Answer> {
    return this.request("GET", path, headers === undefined ? {} : { headers })
  }

  /** A form POST (an empty form unless told). */
  post(path: string, form: Record<string, string> = {}, headers?: Record<string, string>): Effect.Effect<Answer> {
    return this.request("POST", path, headers === undefined ? { form } : { form, headers })
  }

  /** POSTs `body` as JSON (a string is sent as it is). */
  postJson(path: string, body: unknown, headers?: Record<string, string>): Effect.Effect<Answer> {
    const text = typeof body === "string" ? body : JSON.stringify(body)
    return this.request("POST", path, headers === undefined ? { body: text } : { body: text, headers })
  }

  private remember(setCookies: ReadonlyArray<string>) {
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(";").map((s) => s.trim())
      const at = pair.indexOf("=")
      const name = pair.slice(0, at)
      const value = pair.slice(at + 1)
      const expired = attributes.some((a) => /^max-age=(0|-\d+)$/i.test(a)) ||
        attributes.some((a) => /^expires=/i.test(a) && Date.parse(a.slice(8)) <= Date.now())
      if (expired) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }
}

/**
 * The attributes of the `Set-Cookie` line for `name`, lower-cased (asserts there is one).
 *
 * @since 0.0.0
 */
export const cookieAttributes = (answer: Answer, name: string): ReadonlyArray<string> => {
  const line = answer.setCookies.find((l) => l.startsWith(`${name}=`))
  assert.isDefined(line, `a Set-Cookie for ${name}`)
  return line!.split(";").slice(1).map((s) => s.trim().toLowerCase())
}

/**
 * The text of an HTML attribute value: `&quot;`, `&#39;`, `&lt;`, `&gt;` and `&amp;` unescaped.
 *
 * @since 0.0.0
 */
export const unescapeHtml = (s: string): string =>
  s.replace(/&quot;/g, "\"").replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&")
