/**
 * A proxy's credentials stay out of what the login shows when the app gives it its own
 * `HttpClient` (one derived from `WeChatHttpClient`'s, which loses the client's own record of its
 * proxy) with `WeChatHttpClient.ProxyUrl` beside it: a proxy, or what it forwards to, may echo its
 * `Proxy-Authorization` into WeChat's `errmsg`, which core scrubs when `ProxyUrl` is in the
 * context of its services. The login's services are built in the caller's context, where the
 * caller's `ProxyUrl` is seen; the context the login builds for them carries it too, as it does
 * `EnforcesRequestLimits`, so that it says all of its client on its own.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { assert, describe, it, layer } from "@effect/vitest"
import { WeChatApi, WeChatConfig, WeChatHttpClient } from "@wxauth/core"
import { WeChatLogin } from "@wxauth/http"
import { Browser, login, userAgents } from "@wxauth/test-support"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { dependencies } from "../src/internal/service.js"
import { testApp, TestServer } from "./helpers.js"

const password = "Pr0xyPa55w0rd"
const proxyUrl = Redacted.make(`http://proxyuser:${password}@127.0.0.1:3128`)

const logLines: Array<string> = []
const captureLogs = Logger.replace(
  Logger.defaultLogger,
  Logger.map(Logger.logfmtLogger, (line) => void logLines.push(line))
)

/**
 * The app's client: core's lean client, derived (`HttpClient.transform`), answering the endpoint
 * whose path ends with `echoing` as a proxy that echoes its password would (200, an errcode and
 * the password in errmsg); `WeChatHttpClient.ProxyUrl` beside it.
 */
const echoingClient = (echoing: string, errcode: number) =>
  Layer.merge(
    Layer.scoped(
      HttpClient.HttpClient,
      Effect.map(WeChatHttpClient.make(), (lean) =>
        HttpClient.transform(lean, (effect, request) =>
          new URL(request.url).pathname.endsWith(echoing)
            ? Effect.succeed(HttpClientResponse.fromWeb(
              request,
              new Response(JSON.stringify({ errcode, errmsg: `proxy says ${password}` }), {
                status: 200,
                headers: { "content-type": "application/json" }
              })
            ))
            : effect))
    ),
    Layer.succeed(WeChatHttpClient.ProxyUrl, proxyUrl)
  )

const browser = Effect.map(TestServer, ({ url }) => new Browser(url, { userAgent: userAgents.wechat }))

describe("ProxyUrl: the code exchange answered with the proxy's password in errmsg", () => {
  layer(
    Layer.provide(testApp(() => ({}), undefined, () => echoingClient("/sns/oauth2/access_token", 40029)), captureLogs),
    { excludeTestServices: true }
  )((it) => {
    it.effect("neither the callback's answer, nor the problem page, nor a log line shows it", () =>
      Effect.gen(function*() {
        logLines.length = 0
        const wechat = yield* browser
        const { answer } = yield* login(wechat)
        assert.strictEqual(answer.status, 303, answer.text)
        assert.isDefined(answer.location)
        assert.notInclude(answer.location!, password)
        assert.notInclude(answer.text, password)
        const page = yield* wechat.get(answer.location!)
        assert.notInclude(page.text, password)
        assert.isUndefined(wechat.cookies.get("wxauth_session"))
        assert.isAbove(logLines.length, 0)
        for (const line of logLines) assert.notInclude(line, password)
      }))
  })
})

describe("ProxyUrl: the profile answered with the proxy's password in errmsg", () => {
  const profiles: Array<Either.Either<unknown, unknown>> = []
  layer(
    Layer.provide(
      testApp(
        () => ({
          hooks: {
            findUser: () => Effect.succeed(undefined),
            onFirstLogin: (identity) =>
              identity.profile.pipe(
                Effect.either,
                Effect.map((profile) => {
                  profiles.push(profile)
                  return `user-${identity.openid}`
                })
              )
          }
        }),
        undefined,
        () => echoingClient("/sns/userinfo", 40003)
      ),
      captureLogs
    ),
    { excludeTestServices: true }
  )((it) => {
    it.effect("the error a hook is given (identity.profile) and getUser's do not show it, nor a log line", () =>
      Effect.gen(function*() {
        logLines.length = 0
        const wechat = yield* browser
        const { answer } = yield* login(wechat)
        assert.strictEqual(answer.status, 303, answer.text)
        assert.notInclude(answer.text, password)
        assert.strictEqual(profiles.length, 1)
        const profile = profiles[0]
        if (Either.isRight(profile)) return assert.fail("WeChat's answer was an error")
        const shown = (error: unknown) => [String(error), (error as Error).message, JSON.stringify(error)].join("\n")
        assert.include(shown(profile.left), "proxy says", "the errmsg is in the error")
        assert.notInclude(shown(profile.left), password)
        // the service's getUser, for the session the login made
        const service = yield* WeChatLogin.WeChatLogin
        const user = yield* service.currentUser.pipe(
          Effect.provideService(
            HttpServerRequest.HttpServerRequest,
            HttpServerRequest.fromWeb(
              new Request("http://app.test/", {
                headers: { cookie: `wxauth_session=${wechat.cookies.get("wxauth_session")}` }
              })
            )
          )
        )
        const error = yield* Effect.flip(service.getUser(user))
        assert.include(shown(error), "proxy says", "the errmsg is in the error")
        assert.notInclude(shown(error), password)
        for (const line of logLines) assert.notInclude(line, password)
      }))
  })
})

describe("ProxyUrl: the context the login builds for core's services", () => {
  it.scoped("carries the caller's ProxyUrl with the caller's client: WeChatApi on that context alone scrubs the password", () =>
    Effect.gen(function*() {
      const caller = yield* Layer.build(echoingClient("/sns/oauth2/access_token", 40029))
      const deps = yield* Effect.provide(dependencies({ maxSessionsPerUser: Option.none() }), caller)
      const config = WeChatConfig.layer({
        appId: "wx0123456789abcdef",
        appSecret: Redacted.make("app-secret-0123456789"),
        apiBaseUrl: "http://api.wechat.test"
      })
      const error = yield* Effect.flip(
        Effect.flatMap(WeChatApi.make, (api) => api.accessToken("CODE_0123")).pipe(
          Effect.provide(config),
          Effect.provide(deps.context as Context.Context<HttpClient.HttpClient>)
        )
      )
      assert.strictEqual((error as { readonly _tag?: unknown })._tag, "InvalidCode")
      const shown = [String(error), JSON.stringify(error)].join("\n")
      assert.include(shown, "proxy says", "the errmsg is in the error")
      assert.notInclude(shown, password)
      assert.isTrue(Option.isSome(Context.getOption(deps.context, WeChatHttpClient.ProxyUrl)), "ProxyUrl is in it")
    }))
})
