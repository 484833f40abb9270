/**
 * Test helpers: the sandbox WeChat (a real HTTP server) and the app on free ports, and a tiny
 * cookie-keeping HTTP "browser" that does not follow redirects.
 */
import { assert } from "@effect/vitest"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as App from "../src/App.js"

export const OA = Sandbox.defaultApps.officialAccount
export const WEB = Sandbox.defaultApps.website

export const userAgents = {
  wechat:
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36 MicroMessenger/8.0.47.2560(0x28002F3B) NetType/WIFI Language/zh_CN",
  desktop: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
} as const

/** The sandbox and the app, started in the test's scope and stopped after it. */
export const startApp = (
  options: Partial<App.AppOptions> & {
    readonly qrCode?: { readonly embedded: boolean; readonly selfRedirect?: boolean } | undefined
  } = {}
) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const runtime = ManagedRuntime.make(
        Sandbox.layerServer({ port: 0, host: "127.0.0.1" }).pipe(Layer.provideMerge(Sandbox.layer()))
      )
      const { url: sandboxUrl } = await runtime.runPromise(SandboxServer.SandboxServer)
      const hosts = { apiBaseUrl: sandboxUrl, openBaseUrl: sandboxUrl }
      const app = await App.start({
        apps: {
          official: { kind: "officialAccount", appId: OA.appId, appSecret: OA.secret, ...hosts },
          web: {
            kind: "website",
            appId: WEB.appId,
            appSecret: WEB.secret,
            ...hosts,
            ...(options.qrCode === undefined ? {} : {
              qrCode: { ...options.qrCode, scriptUrl: `${sandboxUrl}/connect/zh_CN/htmledition/js/wxLogin.js` }
            })
          }
        },
        ...options
      })
      return { ...app, sandboxUrl, runtime }
    }),
    ({ close, runtime }) => Effect.promise(() => close().then(() => runtime.dispose()))
  )

/** A sandbox control call (`/__sandbox/...`), JSON in and out. */
export const sandboxControl = (sandboxUrl: string, method: "GET" | "POST" | "DELETE", path: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(`${sandboxUrl}/__sandbox/${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } })
    })
    return await response.json() as any
  })

/** One HTTP answer. */
export interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly location: string | undefined
  readonly text: string
}

/** A cookie jar and `fetch` without redirects. */
export class Browser {
  readonly cookies = new Map<string, string>()
  constructor(readonly base: string, readonly userAgent: string = userAgents.wechat) {}

  request(method: "GET" | "POST", path: string, headers: Record<string, string> = {}, body?: string) {
    return Effect.promise(async (): Promise<Answer> => {
      const url = new URL(path, this.base)
      const ours = url.host === new URL(this.base).host
      const all: Record<string, string> = { "user-agent": this.userAgent, ...headers }
      if (ours && this.cookies.size > 0) {
        all.cookie = Array.from(this.cookies, ([name, value]) => `${name}=${value}`).join("; ")
      }
      if (body !== undefined) all["content-type"] ??= "application/x-www-form-urlencoded"
      const response = await fetch(url, { method, headers: all, body: body ?? null, redirect: "manual" })
      if (ours) {
        for (const line of response.headers.getSetCookie()) {
          const [pair, ...attributes] = line.split(";").map((s) => s.trim())
          const at = pair.indexOf("=")
          if (attributes.some((a) => /^max-age=0$/i.test(a))) this.cookies.delete(pair.slice(0, at))
          else this.cookies.set(pair.slice(0, at), pair.slice(at + 1))
        }
      }
      const location = response.headers.get("location") ?? undefined
      return {
        status: response.status,
        headers: response.headers,
        location: location === undefined ? undefined : new URL(location, url).href,
        text: await response.text()
      }
    })
  }

  get(path: string) {
    return this.request("GET", path)
  }
}

const unescapeHtml = (s: string) =>
  s.replace(/&quot;/g, "\"").replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&")

/** Start, consent (as `user`), callback: the callback's answer. */
export const login = (browser: Browser, path: string, user = "alice") =>
  Effect.gen(function*() {
    const start = yield* browser.get(path)
    assert.strictEqual(start.status, 302, start.text.slice(0, 300))
    const page = yield* browser.get(start.location!)
    const form = new URLSearchParams()
    for (const [, name, value] of page.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
      form.append(name, unescapeHtml(value))
    }
    form.append("user", user)
    form.append("decision", "allow")
    const action = /<form id="consent" method="post" action="([^"]+)">/.exec(page.text)![1]
    const consented = yield* browser.request("POST", new URL(action, start.location!).href, {}, form.toString())
    assert.strictEqual(consented.status, 302)
    return yield* browser.get(consented.location!)
  })
