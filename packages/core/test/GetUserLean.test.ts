/**
 * `getUser`'s policy over core's lean `WeChatHttpClient` and the memory store, against a WeChat on
 * loopback: the combination whose hot path reads the stored token in one step and resumes a
 * failed userinfo call with the policy's retries and refresh. The policy's cases are
 * `getUserPolicy.ts`'s, which `WeChatOAuth.test.ts` runs over the sandbox's in-process client (the
 * whole path).
 */
import { assert, describe, it } from "@effect/vitest"
import { OAuthToken, TokenStore, WeChatConfig, WeChatHttpClient, WeChatOAuth } from "@wxauth/core"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Http from "node:http"
import type * as Net from "node:net"
import { getUserPolicySuite, login } from "./getUserPolicy.js"

const app = Sandbox.defaultApps.officialAccount

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

const stats = Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.stats)

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
})

describe("getUser over the lean client: a store derived from the memory store", () => {
  /** The service over the lean client with `store`, against the sandbox served on loopback. */
  const withStore = (store: TokenStore.TokenStoreShape) =>
    Layer.unwrapEffect(
      Effect.map(SandboxServer.SandboxServer, (server) =>
        WeChatOAuth.layer.pipe(
          Layer.provideMerge(Layer.succeed(TokenStore.TokenStore, store)),
          Layer.provide(
            WeChatConfig.layer({
              appId: app.appId,
              appSecret: app.secret,
              apiBaseUrl: server.url,
              openBaseUrl: server.url
            })
          ),
          Layer.provide(WeChatHttpClient.layer())
        ))
    ).pipe(Layer.provideMerge(Sandbox.layerServer({ port: 0 })), Layer.provideMerge(Sandbox.layer()))

  const derivations: ReadonlyArray<
    readonly [string, (memory: TokenStore.TokenStoreShape, banned: Set<string>) => TokenStore.TokenStoreShape]
  > = [
    [
      "by prototype, with a get of its own",
      (memory, banned) =>
        Object.create(memory, {
          get: {
            value: (appId: string, openid: string) =>
              Effect.map(memory.get(appId, openid), (found) => banned.has(openid) ? Option.none() : found)
          }
        })
    ],
    [
      "with its get replaced",
      (memory, banned) => {
        const get = memory.get
        ;(memory as { get: TokenStore.TokenStoreShape["get"] }).get = (appId, openid) =>
          Effect.map(get(appId, openid), (found) => banned.has(openid) ? Option.none() : found)
        return memory
      }
    ]
  ]
  for (const [name, derive] of derivations) {
    it.live(`${name} (and marked bounded): getUser reads through that get, so a ban holds`, () =>
      Effect.gen(function*() {
        const banned = new Set<string>()
        const store = derive(yield* TokenStore.makeMemory(), banned)
        TokenStore.markBounded(store)
        return yield* Effect.gen(function*() {
          const oauth = yield* WeChatOAuth.WeChatOAuth
          const token = yield* login
          assert.strictEqual((yield* oauth.getUser(token.openid)).openid, token.openid)
          banned.add(token.openid)
          // before, the memory store's own read (inherited, or kept beside the new get) served it
          const error = yield* Effect.flip(oauth.getUser(token.openid))
          assert.strictEqual(error._tag, "TokenNotFound")
        }).pipe(Effect.provide(withStore(store)))
      }))
  }
})

describe("getUser over the lean client and the memory store: the policy", () => {
  getUserPolicySuite({
    layer: LeanLayer,
    test: (name, body) => it.live(name, body),
    waiting: (effect) => effect,
    // the client's deadline is 300 ms: three attempts and their backoff end well before it answers
    slowMillis: 10_000
  })
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
