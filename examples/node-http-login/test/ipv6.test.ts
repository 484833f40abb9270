/**
 * `App.start({ host })` with an IPv6 address (`::1`, `::`): the app's URL and the default
 * `publicUrl` bracket it (`http://[::1]:3000`), and the login's layer is built at start whatever
 * the host, so a store layer that fails makes `start` reject (before, the eager build asked
 * `handles` about `http://::1:PORT`, not a URL: `handles` answered false without building, `start`
 * resolved, and every request got a 500). Skipped, with a warning, on a machine without an IPv6
 * loopback.
 */
import { assert, describe, it } from "@effect/vitest"
import type { TokenStore } from "@wxauth/core"
import { WeChatError } from "@wxauth/core"
import { Browser, login, userAgents } from "@wxauth/test-support"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Net from "node:net"
import * as App from "../src/App.js"
import { startApp } from "./helpers.js"

/** Why the machine cannot listen on `::1`, or undefined when it can. */
const noIpv6Loopback = await new Promise<string | undefined>((resolve) => {
  const probe = Net.createServer()
  probe.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
  probe.listen(0, "::1", () => probe.close(() => resolve(undefined)))
})

const failing: Layer.Layer<TokenStore.TokenStore, WeChatError.TokenStoreError> = Layer.fail(
  new WeChatError.TokenStoreError({ operation: "connect", description: "connection refused" })
)

const apps = { web: { kind: "website", appId: "wx2222222222222222", appSecret: "secret" } } as const

/** What `start` did: its error, or "started" (the app closed again). */
const outcome = (options: App.AppOptions) =>
  Effect.promise(() =>
    App.start(options).then(
      (app) => app.close().then(() => "started" as const),
      (error: unknown) => error
    )
  )

if (noIpv6Loopback !== undefined) {
  console.warn(`\n!!! SKIPPING the IPv6 tests of node-http-login: no IPv6 loopback (${noIpv6Loopback}).\n`)
}

describe.skipIf(noIpv6Loopback !== undefined)("node-http-login: App.start on an IPv6 host", () => {
  it.live("host ::1 with a store layer that fails: start rejects with its error (the layer is built whatever the host)", () =>
    Effect.gen(function*() {
      const error = yield* outcome({ host: "::1", apps, context: failing })
      assert.instanceOf(error, WeChatError.TokenStoreError)
      assert.strictEqual((error as WeChatError.TokenStoreError).operation, "connect")
    }))

  it.live("host :: with a store layer that fails: start rejects with its error", () =>
    Effect.gen(function*() {
      const error = yield* outcome({ host: "::", apps, context: failing })
      assert.instanceOf(error, WeChatError.TokenStoreError)
    }))

  it.live("host :: : the app's url brackets it (http://[::]:PORT)", () =>
    Effect.gen(function*() {
      const app = yield* Effect.promise(() => App.start({ host: "::", apps }))
      try {
        assert.match(app.url, /^http:\/\/\[::\]:\d+$/)
        assert.strictEqual(new URL(app.url).hostname, "[::]")
      } finally {
        yield* Effect.promise(() => app.close())
      }
    }))

  it.scoped("host ::1: the app's url and the default publicUrl bracket it, and a WeChat login goes through", () =>
    Effect.gen(function*() {
      const { url } = yield* startApp({ host: "::1" })
      assert.match(url, /^http:\/\/\[::1\]:\d+$/)
      assert.strictEqual(new URL(url).hostname, "[::1]")
      const wechat = new Browser(url, { userAgent: userAgents.wechat })
      yield* login(wechat)
      assert.strictEqual((yield* wechat.get("/profile")).status, 200)
    }))
})
