/**
 * An errmsg is scrubbed of the service's own secrets (the app secret, the component app secret) on
 * every endpoint, not only on those that sent them: a proxy or a hostile "WeChat" that mixes answers
 * up can quote them in the answer of userinfo, auth, refresh_token or a component call.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Component, WeChatApi, WeChatConfig, type WeChatError, WeChatHttpClient } from "@wxauth/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

const appSecret = "9f3c1a7be25d4f6081c3e5a7b9d2f4e6"
const componentSecret = "0c79e1fa963cd80cc0be99b20a18faeb"

/** A local "WeChat" whose every answer is an errcode whose errmsg quotes both secrets. */
const quotingServer = Effect.acquireRelease(
  Effect.async<Http.Server>((resume) => {
    const server = Http.createServer((_, res) => {
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify({
        errcode: 40001,
        errmsg: `invalid credential, appsecret=${appSecret} component_appsecret=${componentSecret} rid: 6571c0f2`
      }))
    })
    server.listen(0, "127.0.0.1", () => {
      resume(Effect.succeed(server))
    })
  }),
  (server) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

const baseUrl = (server: Http.Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`

const clients: ReadonlyArray<readonly [string, Layer.Layer<HttpClient.HttpClient>]> = [
  ["lean client", Layer.orDie(WeChatHttpClient.layer())],
  ["NodeHttpClient", NodeHttpClient.layer]
]

const assertScrubbed = (name: string, secret: string, error: WeChatError.RequestFailure | undefined) => {
  assert.isDefined(error, `${name} failed`)
  assert.strictEqual(error!._tag, "InvalidCredential", name)
  const texts = [String(error), JSON.stringify(error), Cause.pretty(Cause.fail(error))]
  for (const text of texts) assert.notInclude(text, secret, `${name} quotes the service's secret`)
  assert.include((error as { errmsg: string }).errmsg, "<redacted>", name)
}

const failure = (effect: Effect.Effect<unknown, WeChatError.RequestFailure>) =>
  Effect.map(
    Effect.exit(effect),
    (exit) => exit._tag === "Failure" ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
  )

describe("the service's secrets are scrubbed from every endpoint's errmsg", () => {
  for (const [clientName, client] of clients) {
    it.live(`direct mode, ${clientName}: userinfo, auth, refresh_token, checksession, phone number`, () =>
      Effect.gen(function*() {
        const server = yield* quotingServer
        const token = Redacted.make("83_abcDEFghiJKLmnoPQRstuVWXyz0123")
        const openid = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
        yield* Effect.gen(function*() {
          const api = yield* WeChatApi.make
          const calls: Record<string, Effect.Effect<unknown, WeChatError.RequestFailure>> = {
            userInfo: api.userInfo(token, openid),
            auth: api.auth(token, openid),
            refreshToken: api.refreshToken(Redacted.make("83_refreshTOKENzyxwvu9876543210")),
            checkSession: api.checkSession(token, openid, Redacted.make("tiihtNczf5v6AKRyjwEUhQ==")),
            getUserPhoneNumber: api.getUserPhoneNumber(token, "e31968a7f94cc5ee25fafc2aef2773f0")
          }
          for (const [name, call] of Object.entries(calls)) assertScrubbed(name, appSecret, yield* failure(call))
        }).pipe(
          Effect.provide(Layer.merge(
            WeChatConfig.layer({ appId: "wx1234567890abcdef", appSecret, apiBaseUrl: baseUrl(server) }),
            client
          ))
        )
      }).pipe(Effect.scoped))

    it.live(`component mode, ${clientName}: the calls that do not send the component app secret`, () =>
      Effect.gen(function*() {
        const server = yield* quotingServer
        const token = Redacted.make("component_TOKEN_0123456789abcdef")
        yield* Effect.gen(function*() {
          const api = yield* WeChatApi.makeComponent
          const calls: Record<string, Effect.Effect<unknown, WeChatError.RequestFailure>> = {
            queryAuth: api.queryAuth(token, "queryauthcode@@@0123456789"),
            authorizerToken: api.authorizerToken(token, "wxmanagedofficial1", Redacted.make("refreshtoken@@@abcdef")),
            accessToken: api.accessToken(token, "wxmanagedofficial1", "071Ab2Cd3Ef4Gh5Ij6Kl7Mn8Op9Qr0St"),
            refreshToken: api.refreshToken(token, "wxmanagedofficial1", Redacted.make("83_refreshTOKENzyxwvu9876")),
            code2Session: api.code2Session(token, "wxmanagedminiprog1", "061Xo2ll2tUcRd4Ngtll2AQJ9w3Xo2lH")
          }
          for (const [name, call] of Object.entries(calls)) assertScrubbed(name, componentSecret, yield* failure(call))
        }).pipe(
          Effect.provide(Layer.merge(
            Layer.effect(
              Component.ComponentConfig,
              Component.makeConfigEither({
                componentAppId: "wxcomponent0000001",
                componentAppSecret: componentSecret,
                token: "sandboxtoken",
                encodingAesKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
                apiBaseUrl: baseUrl(server)
              })
            ).pipe(Layer.orDie),
            client
          ))
        )
      }).pipe(Effect.scoped))
  }
})
