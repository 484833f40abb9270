/**
 * Test helpers: the app (and its sandbox) on free ports, configured as from environment variables,
 * and the web-login's own steps on `@wxauth/test-support`'s cookie-keeping HTTP "browser" (whose
 * logins start at the official account's route here).
 */
import { assert } from "@effect/vitest"
import type { CurrentWeChatUser } from "@wxauth/http"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import type { Browser } from "@wxauth/test-support"
import * as Login from "@wxauth/test-support"
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

/** Starts a login at the app (at the official account's route unless told) and returns WeChat's authorize URL. */
export const startLogin = (browser: Browser, path = "/login/official") => Login.startLogin(browser, path)

/**
 * A whole login (at the official account's route unless told): start, consent, callback. Returns
 * the callback URL and the callback's answer.
 */
export const login = (
  browser: Browser,
  options: { readonly path?: string; readonly user?: string } = {}
) => Login.login(browser, { path: "/login/official", ...options })

/** The text of the element with this id (its inner HTML, tags removed). */
export const textOf = (html: string, id: string): string | undefined => {
  const match = new RegExp(`<(\\w+)[^>]* id="${id}"[^>]*>([\\s\\S]*?)</\\1>`).exec(html)
  return match === null ? undefined : match[2].replace(/<[^>]+>/g, "").trim()
}
