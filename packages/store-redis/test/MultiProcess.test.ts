/**
 * The acceptance test of the distributed lock: 4 worker processes, each with its own Redis
 * connections, call getUser at the same moment on one user whose token has expired, against one
 * sandbox HTTP server. The sandbox must count exactly one refresh.
 *
 * Every refresh answers late (a `slow` fault of 500 ms), so without the distributed lock every worker
 * would find the token still expired and refresh it too: the test cannot pass by luck of timing.
 *
 * The workers run plain node on the built packages (`dist`), as a deployment would; the build is
 * brought up to date first (`tsc -b`, incremental).
 */
import { afterAll, assert, beforeAll, it } from "@effect/vitest"
import { OAuthToken, TokenStore, WeChatConfig, WeChatHttpClient, WeChatOAuth } from "@wxauth/core"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import { RedisTokenStore } from "@wxauth/store-redis"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { cleanup, describeRedis, makeAdmin, randomPrefix, redisUrl } from "./utils.js"
import { buildForWorkers, spawnWorker } from "./workers.js"

const workers = 4

type Report =
  | { readonly type: "ready" }
  | { readonly type: "done"; readonly ok: true; readonly nickname: string }
  | { readonly type: "done"; readonly ok: false; readonly error: string; readonly message?: string }

describeRedis("4 worker processes, one expired token", () => {
  const prefix = randomPrefix()
  const admin = makeAdmin()

  // the workers import @wxauth/core and @wxauth/store-redis from dist: build them (incremental)
  beforeAll(buildForWorkers, 180_000)

  afterAll(async () => {
    await cleanup(admin, prefix)
    await admin.quit()
  })

  const app = Sandbox.defaultApps.officialAccount
  const SandboxLive = Sandbox.layerServer({ port: 0 }).pipe(Layer.provideMerge(Sandbox.layer()))

  it.scopedLive("the sandbox counts exactly one refresh", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { url } = yield* SandboxServer.SandboxServer
      const context = yield* Layer.build(
        WeChatOAuth.layer.pipe(Layer.provideMerge(Layer.mergeAll(
          WeChatConfig.layer({ appId: app.appId, appSecret: app.secret, apiBaseUrl: url, openBaseUrl: url }),
          WeChatHttpClient.layer(),
          RedisTokenStore.layer({ url: redisUrl, keyPrefix: prefix })
        )))
      )
      const oauth = Context.get(context, WeChatOAuth.WeChatOAuth)
      const store = Context.get(context, TokenStore.TokenStore)

      // alice consents; her token is stored in Redis
      const callback = yield* sandbox.approve({
        appId: app.appId,
        user: "alice",
        scope: "snsapi_userinfo",
        redirectUri: "https://example.com/wechat/callback"
      })
      const token = yield* oauth.exchangeCode(new URL(callback).searchParams.get("code")!)

      // 3 hours later her access token has expired, at WeChat and in the store
      yield* sandbox.advanceClock("3 hours")
      const now = yield* Clock.currentTimeMillis
      yield* store.set(app.appId, new OAuthToken.OAuthToken({ ...token, expiresAt: now - 60_000 }))
      yield* sandbox.resetStats
      // every refresh answers 500 ms late: all the workers read the expired token before any refresh ends
      yield* sandbox.injectFault({ kind: "slow", endpoint: "refresh_token", delayMs: 500, times: workers })

      const processes = yield* Effect.forEach(
        Array.from({ length: workers }, () => 0),
        () =>
          spawnWorker<Report>("worker.mjs", {
            REDIS_URL: redisUrl,
            WXAUTH_KEY_PREFIX: prefix,
            SANDBOX_URL: url,
            WECHAT_APP_ID: app.appId,
            WECHAT_APP_SECRET: app.secret,
            OPENID: token.openid
          })
      )
      yield* Effect.forEach(processes, (worker) => Effect.promise(() => worker.ready), { concurrency: "unbounded" })
      for (const worker of processes) worker.child.send("go")
      const reports = yield* Effect.forEach(processes, (worker) => Effect.promise(() => worker.done), {
        concurrency: "unbounded"
      }).pipe(Effect.timeout("60 seconds"))

      assert.deepStrictEqual(reports, Array(workers).fill({ type: "done", ok: true, nickname: "张三" }))
      const stats = yield* sandbox.stats
      assert.strictEqual(stats.refresh_token, 1, "one refresh for all the processes")
      assert.strictEqual(stats.userinfo, workers, "one userinfo call per process, none failed")
      const stored = Option.getOrThrow(yield* store.get(app.appId, token.openid))
      assert.isTrue(stored.obtainedAt > token.obtainedAt, "the refreshed token is stored")
      assert.isTrue(stored.expiresAt > now)
    }).pipe(Effect.provide(SandboxLive)), 120_000)
})
