/**
 * A proxy URL's length is bounded where it is given (`WeChatHttpClient.layer({ proxy })`) and where it
 * is read (`WeChatHttpClient.ProxyUrl`, from any layer): a long one never turns WeChat's error answer
 * into a defect. The errmsg scrubber never dies on a long secret. A proxy's credentials are scrubbed
 * from an errmsg only: they never refuse a success answer's ids or scope.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import { WeChatApi, WeChatConfig, WeChatHttpClient } from "@wxauth/core"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { scrubErrmsg } from "../src/internal/answer.js"

/** An `HttpClient` answering every request with `body`. */
const answering = (body: unknown) =>
  Layer.succeed(
    HttpClient.HttpClient,
    HttpClient.make((request) =>
      Effect.succeed(HttpClientResponse.fromWeb(request, new Response(JSON.stringify(body))))
    )
  )

const config = WeChatConfig.layer({
  appId: "wx0123456789abcdef",
  appSecret: Redacted.make("app-secret-0123456789"),
  apiBaseUrl: "http://api.wechat.test"
})

const accessTokenWith = (proxyUrl: string, body: unknown) =>
  Effect.flatMap(WeChatApi.make, (api) => api.accessToken("CODE_0123")).pipe(
    Effect.provide(
      Layer.mergeAll(answering(body), Layer.succeed(WeChatHttpClient.ProxyUrl, Redacted.make(proxyUrl)), config)
    ),
    Effect.exit
  )

const rid = "invalid code, rid: 6571f6a3-1b2c3d41"

describe("proxy URL bounds", () => {
  it.live("a long ProxyUrl in context: WeChat's error answer stays a typed failure, promptly", () =>
    Effect.gen(function*() {
      for (const size of [30_000, 100_000, 1_000_000]) {
        const password = "p".repeat(size)
        const start = Date.now()
        const exit = yield* accessTokenWith(`http://u:${password}@h:1`, {
          errcode: 40029,
          errmsg: `${rid} ${password.slice(0, 100)}`
        })
        const millis = Date.now() - start
        if (!Exit.isFailure(exit)) return assert.fail(`${size}: expected a failure`)
        assert.isFalse(Cause.isDie(exit.cause), `${size}: ${Cause.pretty(exit.cause).split("\n")[0].slice(0, 120)}`)
        const error = Cause.squash(exit.cause) as { readonly _tag?: unknown; readonly errmsg?: unknown }
        assert.strictEqual(error._tag, "InvalidCode", `${size}`)
        assert.isBelow(millis, 1_000, `${size}: took ${millis} ms`)
      }
    }))

  it.live("a ProxyUrl within the bound is still scrubbed", () =>
    Effect.gen(function*() {
      const password = "Pr0xyPa55w0rd".repeat(100)
      const exit = yield* accessTokenWith(`http://u:${password}@h:1`, { errcode: 40029, errmsg: `${rid} ${password}` })
      if (!Exit.isFailure(exit)) return assert.fail("expected a failure")
      const error = Cause.squash(exit.cause) as { readonly _tag?: unknown; readonly errmsg?: unknown }
      assert.strictEqual(error._tag, "InvalidCode")
      assert.strictEqual(error.errmsg, `${rid} <redacted>`)
    }))

  it("scrubErrmsg never throws on a long secret: it is redacted", () => {
    for (const secret of ["p".repeat(20_000), "中".repeat(4_000), "q".repeat(40_000)]) {
      const out = scrubErrmsg(`${rid} ${secret.slice(0, 50)} ${secret}`, [secret])
      // matched by its runs: the rest of the message stays
      assert.strictEqual(out, `${rid} <redacted> <redacted>`, `${secret.length}`)
    }
  })

  it.effect("a proxy URL of more than 2048 characters is a ConfigError at proxy, not quoted", () =>
    Effect.gen(function*() {
      const head = "http://u:"
      const tail = "@proxy.internal:3128"
      const long = `${head}${"S".repeat(2049 - head.length - tail.length)}${tail}`
      assert.strictEqual(long.length, 2049)
      const exit = yield* Effect.exit(Layer.build(WeChatHttpClient.layer({ proxy: long })).pipe(Effect.scoped))
      if (!Exit.isFailure(exit)) return assert.fail("expected a failure")
      assert.isFalse(Cause.isDie(exit.cause))
      const error = Cause.squash(exit.cause)
      assert.isTrue(ConfigError.isConfigError(error))
      assert.deepStrictEqual((error as ConfigError.InvalidData).path, ["proxy"])
      assert.include(String(error), "2048")
      assert.notInclude(String(error), "SSSSSSSS")
      assert.notInclude(String(error), "proxy.internal")
      // within the bound, with the slash the URL parser adds
      yield* Effect.scoped(WeChatHttpClient.make({ proxy: `${head}${"S".repeat(2000)}${tail}` }))
    }))

  it.effect("a proxy's credentials do not refuse a success answer whose scope shares 8 characters", () =>
    Effect.gen(function*() {
      const answer = {
        access_token: "ACCESS_TOKEN_0123456789",
        expires_in: 7200,
        refresh_token: "REFRESH_TOKEN_0123456789",
        openid: "oLVPpjqs9BhvzwPj5A-vTYAX3GLc",
        scope: "snsapi_userinfo"
      }
      for (const proxy of ["http://userinfo@10.0.0.5:3128", "http://proxy:snsapi_userinfo@10.0.0.5:3128"]) {
        const exit = yield* accessTokenWith(proxy, answer)
        if (!Exit.isSuccess(exit)) return assert.fail(`${proxy}: ${Cause.pretty(exit.cause).split("\n")[0]}`)
        assert.strictEqual(exit.value.scope, "snsapi_userinfo")
      }
      // still scrubbed from an errmsg
      const exit = yield* accessTokenWith("http://proxy:snsapi_userinfo@10.0.0.5:3128", {
        errcode: 40029,
        errmsg: `${rid} snsapi_userinfo`
      })
      if (!Exit.isFailure(exit)) return assert.fail("expected a failure")
      assert.strictEqual((Cause.squash(exit.cause) as { readonly errmsg?: unknown }).errmsg, `${rid} <redacted>`)
    }))
})
