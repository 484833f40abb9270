/**
 * Starts the example: `node dist/main.js`. With `WECHAT_OA_APP_ID` / `WECHAT_OA_APP_SECRET` (an
 * official account) and/or `WECHAT_WEBSITE_APP_ID` / `WECHAT_WEBSITE_APP_SECRET` (a website app)
 * set, it logs in with WeChat; with none, it runs in demo mode against a sandbox WeChat started in
 * this process. `PORT` (default 3000), `HOST` (default 127.0.0.1), `PUBLIC_URL` (the origin WeChat
 * redirects to). Ctrl-C stops it.
 */
import type { WeChatLogin } from "@wxauth/http"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as App from "./App.js"

type Apps = { [key: string]: WeChatLogin.AppOptions }

const env = (name: string): string | undefined => {
  const value = process.env[name]?.trim()
  return value === undefined || value === "" ? undefined : value
}

/** The apps from the environment, or undefined when none is configured. */
const liveApps = (): Apps | undefined => {
  const apps: Apps = {}
  const oa = env("WECHAT_OA_APP_ID")
  if (oa !== undefined) {
    apps.official = { kind: "officialAccount", appId: oa, appSecret: env("WECHAT_OA_APP_SECRET") ?? "" }
  }
  const website = env("WECHAT_WEBSITE_APP_ID")
  if (website !== undefined) {
    apps.web = { kind: "website", appId: website, appSecret: env("WECHAT_WEBSITE_APP_SECRET") ?? "" }
  }
  return Object.keys(apps).length === 0 ? undefined : apps
}

const main = async () => {
  const port = Number(env("PORT") ?? 3000)
  const host = env("HOST") ?? "127.0.0.1"
  let apps = liveApps()
  let sandbox: { readonly url: string; readonly dispose: () => Promise<void> } | undefined
  if (apps === undefined) {
    const runtime = ManagedRuntime.make(
      Sandbox.layerServer({ port: 0, host: "127.0.0.1" }).pipe(Layer.provideMerge(Sandbox.layer()))
    )
    const { url } = await runtime.runPromise(SandboxServer.SandboxServer)
    sandbox = { url, dispose: () => runtime.dispose() }
    const hosts = { apiBaseUrl: url, openBaseUrl: url }
    const { officialAccount, website } = Sandbox.defaultApps
    apps = {
      official: { kind: "officialAccount", appId: officialAccount.appId, appSecret: officialAccount.secret, ...hosts },
      web: { kind: "website", appId: website.appId, appSecret: website.secret, ...hosts }
    }
  }
  const app = await App.start({ port, host, publicUrl: env("PUBLIC_URL"), apps })
  console.log(
    [
      "",
      sandbox === undefined ? "node-http-login" : "node-http-login · demo mode: a sandbox WeChat runs in this process",
      "",
      `  Open:     ${app.url}`,
      ...(sandbox === undefined ? [] : [`  Sandbox:  ${sandbox.url}`]),
      "",
      sandbox === undefined
        ? "Press Ctrl-C to stop."
        : "On the consent page pick a test user (张三 is alice) and press 允许 (allow). Ctrl-C stops.",
      ""
    ].join("\n")
  )
  const stop = () => {
    void app.close().then(() => sandbox?.dispose()).then(() => process.exit(0))
  }
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
}

main().catch((error: unknown) => {
  console.error(`node-http-login: cannot start: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
})
