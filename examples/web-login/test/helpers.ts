/**
 * Test helpers: the app (and its sandbox) on free ports, configured as from environment variables,
 * and a tiny cookie-keeping HTTP "browser" that does not follow redirects, so every hop is seen (a
 * browser inside WeChat unless told otherwise: `@wxauth/http` picks the login flow by user agent).
 */
import { assert } from "@effect/vitest"
import type { CurrentWeChatUser } from "@wxauth/http"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AppConfig from "../src/AppConfig.js"
import * as Server from "../src/Server.js"

export const OA = Sandbox.defaultApps.officialAccount
export const WEB = Sandbox.defaultApps.website
export const MINI = Sandbox.defaultApps.miniProgram

/** User agents: WeChat's in-app browser on Android, a desktop Chrome, a phone's Chrome outside WeChat. */
export const userAgents = {
  wechat:
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36 MicroMessenger/8.0.47.2560(0x28002F3B) NetType/WIFI Language/zh_CN",
  desktop: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
  phone:
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
} as const

/** A fresh SQLite file in a temporary directory. */
export const tempSqliteFile = (): string =>
  Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "wxauth-web-login-")), "tokens.sqlite")

/** The configuration the given environment variables make. */
export const configFrom = (env: Record<string, string>) =>
  AppConfig.load.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))

/** The app in demo mode (sandbox in-process) on free ports, with a SQLite file store. */
export const demoApp = (env: Record<string, string> = {}) =>
  Layer.unwrapEffect(
    Effect.map(configFrom({ PORT: "0", SQLITE_FILE: tempSqliteFile(), ...env }), Server.layer)
  )

/**
 * The app in live mode, configured by `WECHAT_*` variables like a deployment with real credentials,
 * against a sandbox started separately (standing in for WeChat), with `sandboxOptions` (its default
 * apps and users otherwise). The sandbox is in the output too.
 */
export const liveApp = (
  env: (sandboxUrl: string) => Record<string, string>,
  sandboxOptions?: Sandbox.SandboxOptions
) =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const sandbox = yield* SandboxServer.SandboxServer
      const config = yield* configFrom({ PORT: "0", TOKEN_STORE: "memory", ...env(sandbox.url) })
      return Server.layer(config)
    })
  ).pipe(Layer.provideMerge(Sandbox.layerServer({ port: 0 })), Layer.provideMerge(Sandbox.layer(sandboxOptions)))

/** One HTTP answer. */
export interface Answer {
  readonly url: string
  readonly status: number
  readonly headers: Headers
  readonly location: string | undefined
  readonly setCookies: ReadonlyArray<string>
  readonly text: string
}

/**
 * A cookie jar and `fetch` without redirects: one browser (WeChat's, unless `userAgent` says
 * otherwise). With `https: true` it stands for a browser reaching the app over https through a
 * TLS-terminating proxy: every request to the app carries `X-Forwarded-Proto: https`, and `https://`
 * URLs of the app's host are fetched over plain http.
 */
export class Browser {
  readonly cookies = new Map<string, string>()

  constructor(
    readonly base: string,
    readonly options: { readonly https?: boolean; readonly userAgent?: string } = {}
  ) {}

  /** Sends a request; `path` is a path on the app or a full URL. */
  request(
    method: "GET" | "POST",
    path: string,
    options: {
      readonly form?: Record<string, string>
      /** A body sent as it is, as `application/json` unless `headers` say otherwise. */
      readonly body?: string
      readonly headers?: Record<string, string>
    } = {}
  ): Effect.Effect<Answer> {
    return Effect.promise(async () => {
      const url = new URL(path, this.base)
      const headers: Record<string, string> = {
        "user-agent": this.options.userAgent ?? userAgents.wechat,
        ...options.headers
      }
      if (this.options.https === true && url.host === new URL(this.base).host) {
        url.protocol = new URL(this.base).protocol
        headers["x-forwarded-proto"] = "https"
      }
      // cookies are host-only and path "/" here: send ours to the app's host only
      if (url.host === new URL(this.base).host && this.cookies.size > 0) {
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
      const response = await fetch(url, { method, headers, body, redirect: "manual" })
      const setCookies = response.headers.getSetCookie()
      if (url.host === new URL(this.base).host) this.remember(setCookies)
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

  get(path: string, headers?: Record<string, string>): Effect.Effect<Answer> {
    return this.request("GET", path, headers === undefined ? {} : { headers })
  }

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

/** The attributes of the `Set-Cookie` line for `name`, lower-cased. */
export const cookieAttributes = (answer: Answer, name: string): ReadonlyArray<string> => {
  const line = answer.setCookies.find((l) => l.startsWith(`${name}=`))
  assert.isDefined(line, `a Set-Cookie for ${name}`)
  return line!.split(";").slice(1).map((s) => s.trim().toLowerCase())
}

const unescapeHtml = (s: string) =>
  s.replace(/&quot;/g, "\"").replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&")

/**
 * What a person does on the sandbox's consent page: opens it, picks a user, presses allow or deny.
 * `editForm` changes the form before it is sent (e.g. to tamper with the state). Returns the
 * callback URL the sandbox redirects to.
 */
export const consent = (
  browser: Browser,
  authorizeUrl: string,
  options: {
    readonly user?: string
    readonly decision?: "allow" | "deny"
    readonly editForm?: (form: URLSearchParams) => void
  } = {}
) =>
  Effect.gen(function*() {
    const page = yield* browser.get(authorizeUrl)
    assert.strictEqual(page.status, 200, `the consent page opens: ${page.text.slice(0, 300)}`)
    const action = /<form id="consent" method="post" action="([^"]+)">/.exec(page.text)?.[1]
    assert.isDefined(action, "the consent page has a form")
    const form = new URLSearchParams()
    for (const [, name, value] of page.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
      form.append(name, unescapeHtml(value))
    }
    form.append("user", options.user ?? "alice")
    form.append("decision", options.decision ?? "allow")
    options.editForm?.(form)
    const answer = yield* browser.post(new URL(unescapeHtml(action!), authorizeUrl).href, Object.fromEntries(form))
    assert.strictEqual(answer.status, 302, "the sandbox redirects back to the app")
    return answer.location!
  })

/** The login's problem page an answer redirects to (`/login/<app>/problem?reason=`), opened in the same browser. */
export const followToProblem = (browser: Browser, location: string | undefined) =>
  Effect.gen(function*() {
    assert.isDefined(location)
    assert.match(new URL(location!).pathname, /^\/login\/[^/]+\/problem$/)
    const page = yield* browser.get(location!)
    assert.strictEqual(/data-reason="([^"]+)"/.exec(page.text)?.[1], new URL(location!).searchParams.get("reason"))
    return { reason: new URL(location!).searchParams.get("reason"), page }
  })

/** The app's own error page an answer redirects to (`/error?reason=`), opened in the same browser. */
export const followToError = (browser: Browser, location: string | undefined) =>
  Effect.gen(function*() {
    assert.isDefined(location)
    assert.strictEqual(new URL(location!).pathname, "/error")
    const page = yield* browser.get(location!)
    return { reason: new URL(location!).searchParams.get("reason"), page }
  })

/** The user of a browser's session, as `@wxauth/http` says (`GET /api/wechat/session`). */
export const sessionUser = (browser: Browser) =>
  Effect.map(browser.get("/api/wechat/session"), (answer) => {
    assert.strictEqual(answer.status, 200, answer.text)
    return JSON.parse(answer.text) as CurrentWeChatUser.WeChatUser
  })

/** Starts a login at the app and returns WeChat's authorize URL it redirects to. */
export const startLogin = (browser: Browser, path = "/login/official") =>
  Effect.gen(function*() {
    const answer = yield* browser.get(path)
    assert.strictEqual(answer.status, 302, `${path} redirects to WeChat`)
    return answer.location!
  })

/** A whole login: start, consent, callback. Returns the callback URL and the callback's answer. */
export const login = (
  browser: Browser,
  options: { readonly path?: string; readonly user?: string } = {}
) =>
  Effect.gen(function*() {
    const authorizeUrl = yield* startLogin(browser, options.path)
    const callbackUrl = yield* consent(browser, authorizeUrl, options.user === undefined ? {} : { user: options.user })
    const answer = yield* browser.get(callbackUrl)
    return { callbackUrl, answer }
  })

/** The text of the element with this id (its inner HTML, tags removed). */
export const textOf = (html: string, id: string): string | undefined => {
  const match = new RegExp(`<(\\w+)[^>]* id="${id}"[^>]*>([\\s\\S]*?)</\\1>`).exec(html)
  return match === null ? undefined : match[2].replace(/<[^>]+>/g, "").trim()
}

/** A sandbox control call (`/__sandbox/...`), JSON in and out. */
export const sandboxControl = (sandboxUrl: string, method: "GET" | "POST" | "DELETE", path: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(`${sandboxUrl}/__sandbox/${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } })
    })
    return await response.json() as any
  })
