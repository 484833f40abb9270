/**
 * A success answer whose identity fields (openid, unionid, scope; an authorizer's appid) quote the
 * service's secret or a value the request sent is a `MalformedResponse`: the echo would become a
 * user's identity (a store key, a session, a log field). The runs matched are those an errmsg is
 * scrubbed of.
 */
import { assert, describe, it } from "@effect/vitest"
import { Component, WeChatApi, WeChatConfig, type WeChatError, WeChatHttpClient } from "@wxauth/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

const appSecret = "9f3c1a7be25d4f6081c3e5a7b9d2f4e6"
const componentSecret = "0c79e1fa963cd80cc0be99b20a18faeb"
const code = "061Xo2ll2tUcRd4Ngtll2AQJ9w3Xo2lH"
const refreshToken = "83_refreshTOKENzyxwvu9876543210"
const honestOpenid = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"

/** Each answer a query or JSON body gets: `echo(values)` names the user by what was sent. */
type Answerer = (path: string, sent: Record<string, string>) => unknown

const server = (answer: Answerer) =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer((req, res) => {
        let text = ""
        req.on("data", (chunk) => text += chunk)
        req.on("end", () => {
          const url = new URL(req.url ?? "/", "http://x")
          const sent: Record<string, string> = Object.fromEntries(url.searchParams)
          if (text !== "") Object.assign(sent, JSON.parse(text))
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify(answer(url.pathname, sent)))
        })
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

const tokenAnswer = (fields: { openid: string; unionid?: string; scope?: string }) => ({
  access_token: "ACCESS_TOKEN_0123456789",
  expires_in: 7200,
  refresh_token: "REFRESH_TOKEN_0123456789",
  scope: "snsapi_userinfo",
  ...fields
})

const directLayer = (server: Http.Server) =>
  Layer.merge(
    WeChatConfig.layer({ appId: "wx1234567890abcdef", appSecret, apiBaseUrl: baseUrl(server) }),
    Layer.orDie(WeChatHttpClient.layer())
  )

const componentLayer = (server: Http.Server) =>
  Layer.merge(
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
    Layer.orDie(WeChatHttpClient.layer())
  )

const assertRefused = (name: string, error: WeChatError.RequestFailure, quoted: ReadonlyArray<string>) => {
  assert.strictEqual(error._tag, "MalformedResponse", `${name} accepted an echo: ${String(error)}`)
  for (const value of quoted) assert.notInclude(`${String(error)} ${JSON.stringify(error)}`, value, name)
}

describe("an identity that echoes a secret or what was sent is refused", () => {
  it.live("direct mode: access_token, refresh_token, jscode2session", () =>
    Effect.gen(function*() {
      const echoing = yield* server((path, sent) => {
        const echo = `${sent.secret ?? "x"}_${sent.code ?? sent.js_code ?? "y"}`
        if (path.endsWith("/jscode2session")) return { openid: echo, session_key: "tiihtNczf5v6AKRyjwEUhQ==" }
        if (path.endsWith("/refresh_token")) {
          return tokenAnswer({ openid: honestOpenid, unionid: `u_${sent.refresh_token.slice(3, 20)}` })
        }
        return tokenAnswer({ openid: honestOpenid, scope: `snsapi_userinfo,${echo}` })
      })
      yield* Effect.gen(function*() {
        const api = yield* WeChatApi.make
        assertRefused("accessToken", yield* Effect.flip(api.accessToken(code)), [appSecret, code])
        assertRefused("code2Session", yield* Effect.flip(api.code2Session(code)), [appSecret, code])
        assertRefused(
          "refreshToken",
          yield* Effect.flip(api.refreshToken(Redacted.make(refreshToken))),
          [refreshToken.slice(3, 20)]
        )
      }).pipe(Effect.provide(directLayer(echoing)))
    }).pipe(Effect.scoped))

  it.live("direct mode: the app secret in an answer to a call that did not send it", () =>
    Effect.gen(function*() {
      // a proxy mixing answers up: the refresh (no secret sent) gets an openid made of the secret
      const mixing = yield* server(() => tokenAnswer({ openid: `o${appSecret.slice(0, 20)}` }))
      yield* Effect.gen(function*() {
        const api = yield* WeChatApi.make
        assertRefused(
          "refreshToken",
          yield* Effect.flip(api.refreshToken(Redacted.make(refreshToken))),
          [appSecret.slice(0, 20)]
        )
      }).pipe(Effect.provide(directLayer(mixing)))
    }).pipe(Effect.scoped))

  it.live("component mode: access_token, jscode2session, api_query_auth", () =>
    Effect.gen(function*() {
      const echoing = yield* server((path, sent) => {
        if (path.endsWith("/api_query_auth")) {
          return {
            authorization_info: {
              authorizer_appid: `wx${sent.authorization_code}`,
              authorizer_access_token: "AUTHORIZER_ACCESS_0123",
              expires_in: 7200,
              authorizer_refresh_token: "AUTHORIZER_REFRESH_0123"
            }
          }
        }
        const echo = `o${componentSecret}`
        if (path.endsWith("/jscode2session")) {
          return { openid: honestOpenid, unionid: `u${sent.js_code}`, session_key: "tiihtNczf5v6AKRyjwEUhQ==" }
        }
        return tokenAnswer({ openid: echo })
      })
      yield* Effect.gen(function*() {
        const api = yield* WeChatApi.makeComponent
        const token = Redacted.make("component_TOKEN_0123456789abcdef")
        assertRefused(
          "accessToken",
          yield* Effect.flip(api.accessToken(token, "wxmanagedofficial1", code)),
          [componentSecret]
        )
        assertRefused(
          "code2Session",
          yield* Effect.flip(api.code2Session(token, "wxmanagedminiprog1", code)),
          [code]
        )
        assertRefused(
          "queryAuth",
          yield* Effect.flip(api.queryAuth(token, "queryauthcode0123456789")),
          ["queryauthcode0123456789"]
        )
      }).pipe(Effect.provide(componentLayer(echoing)))
    }).pipe(Effect.scoped))

  it.live("an honest answer is accepted", () =>
    Effect.gen(function*() {
      const honest = yield* server((path) =>
        path.endsWith("/jscode2session")
          ? { openid: honestOpenid, unionid: "oUnion_aB3dE6gH9jK2mN5pQ8sT1v", session_key: "tiihtNczf5v6AKRyjwEUhQ==" }
          : tokenAnswer({ openid: honestOpenid, unionid: "oUnion_aB3dE6gH9jK2mN5pQ8sT1v" })
      )
      yield* Effect.gen(function*() {
        const api = yield* WeChatApi.make
        assert.strictEqual((yield* api.accessToken(code)).openid, honestOpenid)
        assert.strictEqual((yield* api.refreshToken(Redacted.make(refreshToken))).openid, honestOpenid)
        assert.strictEqual((yield* api.code2Session(code)).openid, honestOpenid)
      }).pipe(Effect.provide(directLayer(honest)))
    }).pipe(Effect.scoped))
})
