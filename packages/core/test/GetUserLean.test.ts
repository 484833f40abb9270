/**
 * `getUser`'s policy over core's lean `WeChatHttpClient` and the memory store, against a WeChat on
 * loopback: the combination whose hot path reads the stored token in one step and resumes a
 * failed userinfo call with the policy's retries and refresh (`WeChatOAuth.test.ts` runs the same
 * rules over the sandbox's in-process client, which takes the whole path).
 */
import { assert, describe, it } from "@effect/vitest"
import {
  OAuthToken,
  RetryPolicy,
  TokenStore,
  WeChatConfig,
  type WeChatError,
  WeChatHttpClient,
  WeChatOAuth
} from "@wxauth/core"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Http from "node:http"
import type * as Net from "node:net"

const app = Sandbox.defaultApps.officialAccount
const redirectUri = "https://app.example.com/auth/callback"

/** The service over the lean client, against the sandbox served on loopback. */
const LeanLayer = Layer.unwrapEffect(
  Effect.map(SandboxServer.SandboxServer, (server) =>
    WeChatOAuth.layer.pipe(
      Layer.provideMerge(TokenStore.layerMemory),
      Layer.provide(
        WeChatConfig.layer({
          appId: app.appId,
          appSecret: app.secret,
          apiBaseUrl: server.url,
          openBaseUrl: server.url,
          timeout: "300 millis"
        })
      ),
      Layer.provide(WeChatHttpClient.layer())
    ))
).pipe(
  Layer.provideMerge(Sandbox.layerServer({ port: 0 })),
  Layer.provideMerge(Sandbox.layer())
)

const login = Effect.gen(function*() {
  const oauth = yield* WeChatOAuth.WeChatOAuth
  const sandbox = yield* Sandbox.Sandbox
  const { state } = yield* oauth.authorizeUrl({ redirectUri, scope: "snsapi_userinfo" })
  const callback = yield* sandbox.approve({
    appId: app.appId,
    user: "alice",
    scope: "snsapi_userinfo",
    redirectUri,
    state
  })
  return (yield* oauth.handleCallback(callback)).token
})

const stats = Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.stats)
const inject = (fault: Sandbox.Fault) => Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.injectFault(fault))
const userinfoRetries = () => RetryPolicy.retriesTotal.unsafeValue([MetricLabel.make("endpoint", "userinfo")]).count

describe("getUser over the lean client and the memory store", () => {
  it.live("a fresh token: the user, in each language asked for, one request each", () =>
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const token = yield* login
      const user = yield* oauth.getUser(token.openid)
      assert.strictEqual(user.openid, token.openid)
      assert.strictEqual(user.nickname, "张三")
      const english = yield* oauth.getUser(token.openid, { lang: "en" })
      assert.strictEqual(english.openid, token.openid)
      const s = yield* stats
      assert.deepStrictEqual([s.refresh_token, s.userinfo], [0, 2])
    }).pipe(Effect.provide(LeanLayer)))

  it.live("an unknown user is TokenNotFound; a bad lang is InvalidArgument, with no request", () =>
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const token = yield* login
      assert.strictEqual((yield* Effect.flip(oauth.getUser("oNobody")))._tag, "TokenNotFound")
      const lang = yield* Effect.flip(oauth.getUser(token.openid, { lang: "fr" as never }))
      assert.strictEqual(lang._tag, "InvalidArgument")
      assert.strictEqual((yield* stats).userinfo, 0)
    }).pipe(Effect.provide(LeanLayer)))

  for (const errcode of [42001, 40001, 40014]) {
    it.live(`a ${errcode} from userinfo is refreshed and retried exactly once`, () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const token = yield* login
        yield* inject({ kind: "errcode", errcode, endpoint: "userinfo" })
        const user = yield* oauth.getUser(token.openid)
        assert.strictEqual(user.nickname, "张三")
        const s = yield* stats
        assert.deepStrictEqual([s.refresh_token, s.userinfo], [1, 2])
        // the refreshed token is stored: the next call uses it without a refresh
        const stored = yield* oauth.getToken(token.openid)
        assert.isTrue(Option.isSome(stored) && stored.value.obtainedAt >= token.obtainedAt)
        yield* oauth.getUser(token.openid)
        const after = yield* stats
        assert.deepStrictEqual([after.refresh_token, after.userinfo], [1, 3])
      }).pipe(Effect.provide(LeanLayer)))
  }

  it.live("a second 42001 after the refresh is returned, not retried again", () =>
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const token = yield* login
      yield* inject({ kind: "errcode", errcode: 42001, endpoint: "userinfo", times: 5 })
      const error = yield* Effect.flip(oauth.getUser(token.openid))
      assert.strictEqual(error._tag, "AccessTokenExpired")
      const s = yield* stats
      assert.deepStrictEqual([s.refresh_token, s.userinfo], [1, 2])
    }).pipe(Effect.provide(LeanLayer)))

  it.live("-1 twice then success: retried twice, each retry counted", () =>
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const token = yield* login
      yield* inject({ kind: "busy", endpoint: "userinfo", times: 2 })
      const before = userinfoRetries()
      const user = yield* oauth.getUser(token.openid)
      assert.strictEqual(user.openid, token.openid)
      assert.strictEqual((yield* stats).userinfo, 3)
      assert.strictEqual(userinfoRetries() - before, 2)
    }).pipe(Effect.provide(LeanLayer)))

  it.live("-1 forever ends in SystemBusy after the bounded retries, with no refresh", () =>
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const token = yield* login
      yield* inject({ kind: "busy", endpoint: "userinfo", times: 10 })
      const error = yield* Effect.flip(oauth.getUser(token.openid))
      assert.strictEqual(error._tag, "SystemBusy")
      const s = yield* stats
      assert.deepStrictEqual([s.refresh_token, s.userinfo], [0, 3])
    }).pipe(Effect.provide(LeanLayer)))

  const faults: ReadonlyArray<readonly [Sandbox.Fault, string, string | undefined]> = [
    [{ kind: "http500" }, "TransportError", "HttpStatus"],
    [{ kind: "truncated" }, "MalformedResponse", undefined],
    [{ kind: "wrongShape" }, "MalformedResponse", undefined],
    [{ kind: "reset" }, "TransportError", "Network"],
    [{ kind: "slow", delayMs: 10_000 }, "TransportError", "Timeout"],
    [{ kind: "rateLimited" }, "RateLimited", undefined],
    [{ kind: "errcode", errcode: 40003 }, "InvalidOpenId", undefined]
  ]
  for (const [fault, tag, reason] of faults) {
    it.live(`${fault.kind}${fault.errcode ? ` ${fault.errcode}` : ""} on userinfo -> a typed ${tag}`, () =>
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const token = yield* login
        yield* inject({ ...fault, endpoint: "userinfo", times: 10 })
        const exit = yield* Effect.exit(oauth.getUser(token.openid))
        assert.isTrue(Exit.isFailure(exit) && exit.cause._tag === "Fail", "a typed failure, not a defect")
        const error = yield* Effect.flip(exit)
        assert.strictEqual(error._tag, tag)
        if (reason !== undefined) assert.strictEqual((error as WeChatError.TransportError).reason, reason)
      }).pipe(Effect.provide(LeanLayer)))
  }
})

describe("getUser over the lean client: interruption", () => {
  it.scopedLive("an interrupted getUser aborts its userinfo request", () =>
    Effect.gen(function*() {
      const abandoned: Array<string> = []
      let asked = 0
      const server = yield* Effect.acquireRelease(
        Effect.async<Http.Server>((resume) => {
          const server = Http.createServer((request, response) => {
            asked++
            // never answered: the client must give up on it
            response.on("close", () => abandoned.push(request.url ?? ""))
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.sync(() => (server.closeAllConnections(), server.close()))
      )
      const url = `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}`
      const context = yield* Layer.build(
        WeChatOAuth.layer.pipe(
          Layer.provideMerge(TokenStore.layerMemory),
          Layer.provide(
            WeChatConfig.layer({ appId: app.appId, appSecret: app.secret, apiBaseUrl: url, openBaseUrl: url })
          ),
          Layer.provide(WeChatHttpClient.layer())
        )
      )
      const now = Date.now()
      const token = new OAuthToken.OAuthToken({
        openid: "oAlice",
        accessToken: Redacted.make("ACCESS"),
        refreshToken: Redacted.make("REFRESH"),
        scope: ["snsapi_userinfo"],
        isSnapshotUser: false,
        obtainedAt: now,
        expiresAt: now + 7_200_000,
        refreshExpiresAt: now + 30 * 86_400_000
      })
      const store = yield* Effect.provide(TokenStore.TokenStore, context)
      yield* store.set(app.appId, token)
      const oauth = yield* Effect.provide(WeChatOAuth.WeChatOAuth, context)
      const fiber = yield* Effect.fork(oauth.getUser("oAlice"))
      while (asked === 0) yield* Effect.sleep("5 millis")
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.isInterrupted(exit))
      while (abandoned.length === 0) yield* Effect.sleep("5 millis")
      assert.strictEqual(abandoned.length, 1)
      assert.isTrue(abandoned[0].startsWith("/sns/userinfo?"))
    }))
})
