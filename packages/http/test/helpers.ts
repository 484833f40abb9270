/**
 * Test helpers: an `@effect/platform` app on a free port with the login (`WeChatLogin.layerRoutes`)
 * and a few routes of its own, against the sandbox WeChat on another free port, and a tiny
 * cookie-keeping HTTP "browser" that does not follow redirects, so every hop is seen.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { assert } from "@effect/vitest"
import { WeChatLogin } from "@wxauth/http"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Http from "node:http"

export const OA = Sandbox.defaultApps.officialAccount
export const WEB = Sandbox.defaultApps.website
export const MINI = Sandbox.defaultApps.miniProgram

/** Where the test app and its sandbox listen. */
export class TestServer extends Context.Tag("test/TestServer")<TestServer, {
  readonly url: string
  readonly sandboxUrl: string
}>() {}

/** The three sandbox apps as the login's apps, against the sandbox at `url`. */
export const sandboxApps = (
  url: string,
  overrides: {
    readonly official?: Partial<WeChatLogin.OfficialAccountOptions>
    readonly web?: Partial<WeChatLogin.WebsiteOptions>
    readonly mini?: Partial<WeChatLogin.MiniProgramOptions>
  } = {}
) => ({
  official: {
    kind: "officialAccount" as const,
    appId: OA.appId,
    appSecret: OA.secret,
    apiBaseUrl: url,
    openBaseUrl: url,
    ...overrides.official
  },
  web: {
    kind: "website" as const,
    appId: WEB.appId,
    appSecret: WEB.secret,
    apiBaseUrl: url,
    openBaseUrl: url,
    ...overrides.web
  },
  mini: {
    kind: "miniProgram" as const,
    appId: MINI.appId,
    appSecret: MINI.secret,
    apiBaseUrl: url,
    phoneNumber: true,
    ...overrides.mini
  }
})

/**
 * The test app's own routes: `/` (who is logged in, as text), `/me` (the user as JSON, or 401),
 * `/profile` (the WeChat profile's nickname through `getUser`).
 */
const appRoutes = HttpRouter.Default.use((router) =>
  Effect.gen(function*() {
    const login = yield* WeChatLogin.WeChatLogin
    yield* router.get(
      "/",
      login.currentUser.pipe(
        Effect.map((user) => HttpServerResponse.text(`home: ${user.openid}`)),
        Effect.catchAll(() => Effect.succeed(HttpServerResponse.text("home: nobody")))
      )
    )
    yield* router.get(
      "/me",
      login.currentUser.pipe(
        Effect.map((user) => HttpServerResponse.unsafeJson(user)),
        Effect.catchAll((error) =>
          Effect.succeed(HttpServerResponse.unsafeJson({ error: error._tag }, { status: 401 }))
        )
      )
    )
    yield* router.get(
      "/profile",
      login.currentUser.pipe(
        Effect.flatMap((user) => login.getUser(user)),
        Effect.map((user) => HttpServerResponse.text(`nickname: ${user.nickname}`)),
        Effect.catchAll((error) => Effect.succeed(HttpServerResponse.text(`error: ${error._tag}`, { status: 401 })))
      )
    )
  })
)

/**
 * The app (login + own routes) on a free port, against a sandbox server on another, with options
 * of the test (`apps` defaults to the three sandbox apps). The layer runs on the caller's clock.
 */
export const testApp = (
  options: (sandboxUrl: string) => Partial<WeChatLogin.Options> = () => ({}),
  sandboxOptions?: Sandbox.SandboxOptions,
  context: (sandboxUrl: string) => Layer.Layer<any, any, never> = () => Layer.empty as any
) =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const sandbox = yield* SandboxServer.SandboxServer
      const loginLayer = WeChatLogin.layer({ apps: sandboxApps(sandbox.url), ...options(sandbox.url) }).pipe(
        Layer.provide(context(sandbox.url))
      )
      const server = HttpRouter.Default.serve().pipe(
        Layer.provide(WeChatLogin.layerRoutes),
        Layer.provide(appRoutes)
      )
      const info = Layer.effect(
        TestServer,
        Effect.map(HttpServer.HttpServer, (http) => {
          const address = http.address as HttpServer.TcpAddress
          return { url: `http://127.0.0.1:${address.port}`, sandboxUrl: sandbox.url }
        })
      )
      return Layer.merge(server, info).pipe(
        Layer.provideMerge(loginLayer),
        Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" }))
      )
    })
  ).pipe(
    Layer.provideMerge(Sandbox.layerServer({ port: 0, host: "127.0.0.1" })),
    Layer.provideMerge(Sandbox.layer(sandboxOptions))
  )

/** One HTTP answer. */
export interface Answer {
  readonly url: string
  readonly status: number
  readonly headers: Headers
  readonly location: string | undefined
  readonly setCookies: ReadonlyArray<string>
  readonly text: string
}

/** User agents of the three kinds of browser. */
export const userAgents = {
  wechat:
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN",
  desktop: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
  mobile:
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"
} as const

/**
 * A cookie jar and `fetch` without redirects: one browser, with a user agent. With `https: true`
 * it stands for a browser reaching the app over https through a TLS-terminating proxy: every
 * request to the app carries `X-Forwarded-Proto: https`.
 */
export class Browser {
  readonly cookies = new Map<string, string>()

  constructor(
    readonly base: string,
    readonly options: {
      readonly https?: boolean
      readonly userAgent?: string
      /** Answers the requests to the app (default: `fetch` over the network). */
      readonly app?: (request: Request) => Promise<Response>
    } = {}
  ) {}

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
        url.protocol = "http:"
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

  get(path: string, headers?: Record<string, string>): Effect.Effect<Answer> {
    return this.request("GET", path, headers === undefined ? {} : { headers })
  }

  post(path: string, form: Record<string, string> = {}, headers?: Record<string, string>): Effect.Effect<Answer> {
    return this.request("POST", path, headers === undefined ? { form } : { form, headers })
  }

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
 * `editForm` changes the form before it is sent. Returns the callback URL the sandbox redirects to.
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

/** Starts a login at the app and returns WeChat's authorize URL it redirects to. */
export const startLogin = (browser: Browser, path = "/login") =>
  Effect.gen(function*() {
    const answer = yield* browser.get(path)
    assert.strictEqual(answer.status, 302, `${path} redirects to WeChat: ${answer.text.slice(0, 200)}`)
    return answer.location!
  })

/** A whole login: start, consent, callback. */
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

/** A sandbox control call (`/__sandbox/...`), JSON in and out. */
export const sandboxControl = (sandboxUrl: string, method: "GET" | "POST" | "DELETE", path: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(`${sandboxUrl}/__sandbox/${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } })
    })
    return await response.json() as any
  })
