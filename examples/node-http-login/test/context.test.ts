/**
 * `App.start({ context })`: a store layer that can fail (what `@wxauth/store-redis` and
 * `@wxauth/store-sql` give: `Layer<TokenStore, TokenStoreError>`) is accepted (this file is
 * type-checked with the example's tests), used when it builds, and when it fails `start` rejects
 * with its error and leaves nothing listening, as when the port is taken.
 */
import { assert, describe, it } from "@effect/vitest"
import { TokenStore, WeChatError } from "@wxauth/core"
import { Browser, login, userAgents } from "@wxauth/test-support"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Net from "node:net"
import * as App from "../src/App.js"
import { OA, startApp } from "./helpers.js"

/** A token store that connects when built, as the Redis and SQL stores do, and may fail to. */
const connecting = (
  store: TokenStore.TokenStoreShape,
  reachable: boolean
): Layer.Layer<TokenStore.TokenStore, WeChatError.TokenStoreError> =>
  Layer.effect(
    TokenStore.TokenStore,
    reachable
      ? Effect.succeed(store)
      : Effect.fail(new WeChatError.TokenStoreError({ operation: "connect", description: "connection refused" }))
  )

/** A port nothing listens on (just released). */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = Net.createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as Net.AddressInfo
      probe.close(() => resolve(port))
    })
  })

describe("node-http-login: App.start({ context })", () => {
  it.scoped("a store layer that can fail is accepted, and the login keeps its tokens in it", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.makeMemory()
      const { login: handler, url } = yield* startApp({ context: connecting(store, true) })
      const wechat = new Browser(url, { userAgent: userAgents.wechat })
      yield* login(wechat)
      assert.strictEqual((yield* wechat.get("/profile")).status, 200)
      const session = wechat.cookies.get("wxauth_session")
      assert.isDefined(session)
      const user = yield* Effect.promise(() =>
        handler.currentUser(new Request(`${url}/`, { headers: { cookie: `wxauth_session=${session}` } }))
      )
      assert.isDefined(user)
      assert.strictEqual(user!.appId, OA.appId)
      assert.isTrue(Option.isSome(yield* store.get(OA.appId, user!.openid)), "the token is in the given store")
    }))

  it.live("a store layer that fails: start rejects with its error and the port is free again", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.makeMemory()
      const port = yield* Effect.promise(freePort)
      const error = yield* Effect.promise(() =>
        App.start({
          port,
          apps: { web: { kind: "website", appId: "wx2222222222222222", appSecret: "secret" } },
          context: connecting(store, false)
        }).then(
          (app) => app.close().then(() => "started" as const),
          (error: unknown) => error
        )
      )
      assert.instanceOf(error, WeChatError.TokenStoreError)
      assert.strictEqual((error as WeChatError.TokenStoreError).operation, "connect")
      // nothing is left listening: the port can be taken again
      const again = yield* Effect.promise(() =>
        new Promise<boolean>((resolve) => {
          const probe = Net.createServer()
          probe.once("error", () => resolve(false))
          probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)))
        })
      )
      assert.isTrue(again)
    }))
})
