import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import type { WeChatError } from "@wxauth/core"
import { Component, WeChatApi, WeChatConfig, WeChatHttpClient } from "@wxauth/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as Http from "node:http"
import type * as Net from "node:net"

const secret = "S3cr3t-app-secret_value"
const code = "CODE+with/odd=chars&more"
const accessToken = "ACCESS.token-value_1234567890"
const refreshToken = "REFRESH.token-value_0987654321"

const configLayer = (options?: { readonly apiBaseUrl?: string; readonly maxResponseBytes?: number }) =>
  WeChatConfig.layer({
    appId: "wx0123456789abcdef",
    appSecret: Redacted.make(secret),
    apiBaseUrl: options?.apiBaseUrl ?? "https://api.weixin.qq.com",
    ...(options?.maxResponseBytes === undefined ? {} : { maxResponseBytes: options.maxResponseBytes })
  })

interface Seen {
  readonly urls: Array<string>
}

/** An `HttpClient` (not the lean one) that answers every request with `body` and records the URLs. */
const scripted = (body: string | ((url: string) => string), seen: Seen = { urls: [] }, status = 200) =>
  Layer.succeed(
    HttpClient.HttpClient,
    HttpClient.make((request) => {
      seen.urls.push(request.url)
      const text = typeof body === "string" ? body : body(request.url)
      return Effect.succeed(
        HttpClientResponse.fromWeb(request, new Response(text, { status, headers: { "content-type": "text/plain" } }))
      )
    })
  )

const api = (client: Layer.Layer<HttpClient.HttpClient>, config = configLayer()) =>
  WeChatApi.make.pipe(Effect.provide(Layer.merge(client, config)))

const tokenBody = (fields: Record<string, string>) =>
  `{${
    Object.entries({
      access_token: "\"AT\"",
      expires_in: "7200",
      refresh_token: "\"RT\"",
      openid: "\"o1\"",
      scope: "\"snsapi_userinfo\"",
      ...fields
    }).map(([k, v]) => `"${k}":${v}`).join(",")
  }}`

const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth)

const failureOf = <A>(effect: Effect.Effect<A, WeChatError.RequestFailure>) =>
  Effect.map(Effect.either(effect), (either) => {
    assert.isTrue(Either.isLeft(either), "expected a failure")
    return (either as Either.Left<WeChatError.RequestFailure, A>).left
  })

describe("WeChatApi", () => {
  describe("hostile answers end in MalformedResponse, never a defect", () => {
    it.effect("a body nested 5,000 deep, whole or inside scope / privilege / openid", () =>
      Effect.gen(function*() {
        const bodies = [
          nested(5000),
          tokenBody({ scope: nested(5000) }),
          tokenBody({ openid: nested(5000) }),
          `{"openid":"o1","nickname":"n","sex":1,"province":"","city":"","country":"","headimgurl":"","privilege":${
            nested(5000)
          }}`
        ]
        for (const body of bodies) {
          const endpoints = yield* api(scripted(body))
          const exchange = yield* failureOf(endpoints.accessToken(code))
          assert.strictEqual(exchange._tag, "MalformedResponse")
          const refresh = yield* failureOf(endpoints.refreshToken(Redacted.make(refreshToken)))
          assert.strictEqual(refresh._tag, "MalformedResponse")
          const user = yield* failureOf(endpoints.userInfo(Redacted.make(accessToken), "o1"))
          assert.strictEqual(user._tag, "MalformedResponse")
          assert.isBelow(user.message.length, 300)
        }
      }))

    it.effect("expires_in must be an integer from 1 to 2,592,000 seconds", () =>
      Effect.gen(function*() {
        for (const value of ["1e400", "1e300", "-7200", "0", "7200.5", "2592001", "\"7200\"", "null"]) {
          const endpoints = yield* api(scripted(tokenBody({ expires_in: value })))
          const error = yield* failureOf(endpoints.accessToken(code))
          assert.strictEqual(error._tag, "MalformedResponse", `expires_in ${value}`)
          assert.include(error.message, "expires_in")
        }
        for (const value of ["1", "7200", "2592000"]) {
          const endpoints = yield* api(scripted(tokenBody({ expires_in: value })))
          const token = yield* endpoints.accessToken(code)
          assert.strictEqual(token.expires_in, Number(value))
        }
      }))

    it.effect("a token longer than the endpoints send (1,024 characters) or a scope over 1,024 is refused, never handed on", () =>
      Effect.gen(function*() {
        const long = JSON.stringify("T".repeat(1025))
        const longest = "T".repeat(1024)
        for (
          const fields of [{ access_token: long }, { refresh_token: long }, { scope: JSON.stringify("s,".repeat(513)) }]
        ) {
          const endpoints = yield* api(scripted(tokenBody(fields)))
          const exchange = yield* failureOf(endpoints.accessToken(code))
          assert.strictEqual(exchange._tag, "MalformedResponse", Object.keys(fields)[0])
          const refresh = yield* failureOf(endpoints.refreshToken(Redacted.make(refreshToken)))
          assert.strictEqual(refresh._tag, "MalformedResponse", Object.keys(fields)[0])
        }
        const appTokens = yield* api(scripted(`{"access_token":${long},"expires_in":7200}`))
        assert.strictEqual((yield* failureOf(appTokens.stableToken()))._tag, "MalformedResponse")
        assert.strictEqual((yield* failureOf(appTokens.token()))._tag, "MalformedResponse")
        // the platform's answers, by their schemas
        const refused = (schema: Schema.Schema<any, any>, body: unknown) =>
          assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(schema)(body)))
        const tooLong = "T".repeat(1025)
        refused(WeChatApi.ComponentTokenResponse, { component_access_token: tooLong, expires_in: 7200 })
        refused(WeChatApi.AuthorizerTokenResponse, { authorizer_access_token: tooLong, expires_in: 7200 })
        refused(WeChatApi.AuthorizerTokenResponse, {
          authorizer_access_token: "A",
          authorizer_refresh_token: tooLong,
          expires_in: 7200
        })
        for (const [access, refresh] of [[tooLong, "R"], ["A", tooLong]]) {
          refused(WeChatApi.QueryAuthResponse, {
            authorization_info: {
              authorizer_appid: "wx0123456789abcdef",
              authorizer_access_token: access,
              expires_in: 7200,
              authorizer_refresh_token: refresh
            }
          })
        }
        // the longest accepted is what every endpoint sends back
        const accepted = yield* api(scripted((url) =>
          url.includes("/sns/userinfo")
            ? `{"openid":"o1","nickname":"n","sex":1,"province":"","city":"","country":"","headimgurl":"","privilege":[]}`
            : tokenBody({ access_token: JSON.stringify(longest), refresh_token: JSON.stringify(longest) })
        ))
        const token = yield* accepted.accessToken(code)
        yield* accepted.refreshToken(token.refresh_token)
        assert.strictEqual((yield* accepted.userInfo(token.access_token, "o1")).openid, "o1")
      }))

    it.effect("sex, is_snapshotuser and errcode must be finite integers in range", () =>
      Effect.gen(function*() {
        const user = (sex: string) =>
          `{"openid":"o1","nickname":"n","sex":${sex},"province":"","city":"","country":"","headimgurl":"","privilege":[]}`
        for (const sex of ["1e400", "-1", "3", "0.5"]) {
          const endpoints = yield* api(scripted(user(sex)))
          assert.strictEqual(
            (yield* failureOf(endpoints.userInfo(Redacted.make(accessToken), "o1")))._tag,
            "MalformedResponse"
          )
        }
        const snapshot = yield* api(scripted(tokenBody({ is_snapshotuser: "1e400" })))
        assert.strictEqual((yield* failureOf(snapshot.accessToken(code)))._tag, "MalformedResponse")
        for (const errcode of ["1e400", "40029.5", "\"40029\"", "[]"]) {
          const endpoints = yield* api(scripted(`{"errcode":${errcode},"errmsg":"x"}`))
          assert.strictEqual((yield* failureOf(endpoints.accessToken(code)))._tag, "MalformedResponse", errcode)
        }
      }))

    it.effect("an openid / unionid that is not 1 to 128 printable ASCII characters is refused on every endpoint", () =>
      Effect.gen(function*() {
        const profile = (openid: string, unionid?: string) =>
          JSON.stringify({
            openid,
            nickname: "n",
            sex: 0,
            province: "",
            city: "",
            country: "",
            headimgurl: "",
            privilege: [],
            ...(unionid === undefined ? {} : { unionid })
          })
        const bad = ["", "o".repeat(129), "o".repeat(60_000), "a\u0000b", "a\nb", "a b", "o\u00e9", "o\u007f"]
        for (const id of bad) {
          const label = JSON.stringify(id.slice(0, 20))
          const token = yield* api(scripted(tokenBody({ openid: JSON.stringify(id) })))
          assert.strictEqual((yield* failureOf(token.accessToken(code)))._tag, "MalformedResponse", `openid ${label}`)
          assert.strictEqual(
            (yield* failureOf(token.refreshToken(Redacted.make(refreshToken))))._tag,
            "MalformedResponse",
            `refresh openid ${label}`
          )
          const union = yield* api(scripted(tokenBody({ unionid: JSON.stringify(id) })))
          assert.strictEqual((yield* failureOf(union.accessToken(code)))._tag, "MalformedResponse", `unionid ${label}`)
          const session = yield* api(scripted(JSON.stringify({ openid: id, session_key: "k" })))
          assert.strictEqual(
            (yield* failureOf(session.code2Session(code)))._tag,
            "MalformedResponse",
            `session ${label}`
          )
          const sessionUnion = yield* api(scripted(JSON.stringify({ openid: "o1", session_key: "k", unionid: id })))
          assert.strictEqual(
            (yield* failureOf(sessionUnion.code2Session(code)))._tag,
            "MalformedResponse",
            `session unionid ${label}`
          )
          const user = yield* api(scripted(profile("o1", id)))
          assert.strictEqual(
            (yield* failureOf(user.userInfo(Redacted.make(accessToken), "o1")))._tag,
            "MalformedResponse",
            `userinfo unionid ${label}`
          )
        }
        // WeChat's own shape, and the margin, pass
        for (const id of ["oAbC_1-2", "o".repeat(128), "!~" + "x".repeat(26)]) {
          const endpoints = yield* api(scripted(tokenBody({ openid: JSON.stringify(id), unionid: JSON.stringify(id) })))
          assert.strictEqual((yield* endpoints.accessToken(code)).openid, id)
          const session = yield* api(scripted(JSON.stringify({ openid: id, session_key: "k", unionid: id })))
          assert.strictEqual((yield* session.code2Session(code)).unionid, id)
          const user = yield* api(scripted(profile(id, id)))
          assert.strictEqual((yield* user.userInfo(Redacted.make(accessToken), id)).unionid, id)
        }
      }))

    it.effect("a profile for another openid than the one asked for is refused", () =>
      Effect.gen(function*() {
        const endpoints = yield* api(
          scripted(
            `{"openid":"o-someone-else","nickname":"n","sex":0,"province":"","city":"","country":"","headimgurl":"","privilege":[]}`
          )
        )
        const error = yield* failureOf(endpoints.userInfo(Redacted.make(accessToken), "o1"))
        assert.strictEqual(error._tag, "MalformedResponse")
        assert.include(error.message, "another openid")
      }))

    it.effect("sns/auth is valid only on errcode 0: [], {} or a user-shaped body are not a yes", () =>
      Effect.gen(function*() {
        for (const body of ["[]", "{}", "{\"openid\":\"o1\"}", "{\"errmsg\":\"ok\"}", "null", "true"]) {
          const endpoints = yield* api(scripted(body))
          const error = yield* failureOf(endpoints.auth(Redacted.make(accessToken), "o1"))
          assert.strictEqual(error._tag, "MalformedResponse", body)
        }
        const endpoints = yield* api(scripted("{\"errcode\":0,\"errmsg\":\"ok\"}"))
        yield* endpoints.auth(Redacted.make(accessToken), "o1")
      }))
  })

  describe("errmsg", () => {
    it.effect("an echoed query loses every value sent (raw, percent- and form-encoded) and is cut to 200", () =>
      Effect.gen(function*() {
        const echo = (url: string) => {
          const query = url.slice(url.indexOf("?") + 1)
          const decoded = decodeURIComponent(query)
          return JSON.stringify({
            errcode: 40029,
            errmsg: `invalid code, hints: [ req: ${query} ${query.toLowerCase()} ${decoded} ${
              new URLSearchParams(decoded).toString()
            } ]`
          })
        }
        const endpoints = yield* api(scripted(echo))
        const calls: ReadonlyArray<[Effect.Effect<unknown, WeChatError.RequestFailure>, ReadonlyArray<string>]> = [
          [endpoints.accessToken(code), [secret, code]],
          [endpoints.code2Session(code), [secret, code]],
          [endpoints.refreshToken(Redacted.make(refreshToken)), [refreshToken]],
          [endpoints.userInfo(Redacted.make(accessToken), "o1"), [accessToken]],
          [endpoints.auth(Redacted.make(accessToken), "o1"), [accessToken]]
        ]
        for (const [call, secrets] of calls) {
          const error = yield* failureOf(call)
          assert.strictEqual(error._tag, "InvalidCode")
          const errmsg = (error as WeChatError.InvalidCode).errmsg
          assert.isAtMost(errmsg.length, 200)
          const texts = [errmsg, error.message, JSON.stringify(error), String(error)]
          for (const text of texts) {
            for (const value of secrets) {
              for (const form of [value, encodeURIComponent(value), encodeURIComponent(value).toLowerCase()]) {
                assert.notInclude(text.toLowerCase(), form.toLowerCase())
              }
            }
          }
          // what is not secret stays readable
          assert.include(errmsg, "invalid code")
        }
        const user = yield* failureOf(endpoints.userInfo(Redacted.make(accessToken), "o1", "en"))
        assert.include((user as WeChatError.InvalidCode).errmsg, "openid=o1")
      }))

    it.effect("an echoed JSON body loses every value sent, JSON-escaped too (\\\", \\\\, \\/, \\u00e9)", () =>
      Effect.gen(function*() {
        // an app secret is printable ASCII (WeChatConfig refuses others): its é-form is the code's
        const oddSecret = "s3/cr\"et\\-app-secret"
        const oddCode = "ph/one\"co\\de-é-123456"
        const forms = (value: string) => {
          const json = JSON.stringify(value).slice(1, -1)
          const ascii = json.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
          return [json, json.replace(/\//g, "\\/"), ascii, ascii.replace(/\//g, "\\/")]
        }
        const echo = (values: ReadonlyArray<string>) =>
          JSON.stringify({
            errcode: 40029,
            errmsg: `invalid code, hints: [ body: ${values.flatMap(forms).join(" ")} ]`
          })
        const withSecret = (body: string) =>
          WeChatApi.make.pipe(
            Effect.provide(Layer.merge(
              scripted(body),
              WeChatConfig.layer({ appId: "wx0123456789abcdef", appSecret: Redacted.make(oddSecret) })
            )),
            Effect.orDie
          )
        const calls: ReadonlyArray<[Effect.Effect<unknown, WeChatError.RequestFailure>, ReadonlyArray<string>]> = [
          [Effect.flatMap(withSecret(echo([oddSecret])), (endpoints) => endpoints.stableToken()), [oddSecret]],
          [
            Effect.flatMap(
              withSecret(echo([accessToken, oddCode])),
              (endpoints) => endpoints.getUserPhoneNumber(Redacted.make(accessToken), oddCode)
            ),
            [accessToken, oddCode]
          ]
        ]
        for (const [call, secrets] of calls) {
          const error = yield* failureOf(call)
          assert.strictEqual(error._tag, "InvalidCode")
          for (const text of [error.message, JSON.stringify(error), String(error)]) {
            for (const value of secrets) {
              for (const form of forms(value)) assert.notInclude(text, form, form)
            }
          }
          assert.include((error as WeChatError.InvalidCode).errmsg, "invalid code")
        }
      }))

    it.effect("control characters are replaced and a long errmsg is cut", () =>
      Effect.gen(function*() {
        const endpoints = yield* api(
          scripted(JSON.stringify({ errcode: -1, errmsg: "line1\nline2\u0000" + "x".repeat(10_000) }))
        )
        const error = yield* failureOf(endpoints.auth(Redacted.make(accessToken), "o1"))
        const errmsg = (error as WeChatError.SystemBusy).errmsg
        assert.strictEqual(errmsg.length, 200)
        assert.isTrue(errmsg.startsWith("line1 line2 "))
      }))
  })

  describe("response size", () => {
    it.effect("another HttpClient: an answer past maxResponseBytes is refused, announced or not", () =>
      Effect.gen(function*() {
        const big = JSON.stringify({ errcode: -1, errmsg: "x".repeat(100_000) })
        const endpoints = yield* api(scripted(big), configLayer({ maxResponseBytes: 65_536 }))
        const error = yield* failureOf(endpoints.auth(Redacted.make(accessToken), "o1"))
        assert.strictEqual(error._tag, "MalformedResponse")
        assert.include(error.message, "65536 bytes")
        const streamed = Layer.succeed(
          HttpClient.HttpClient,
          HttpClient.make((request) =>
            Effect.succeed(HttpClientResponse.fromWeb(
              request,
              new Response(
                new ReadableStream({
                  pull(controller) {
                    controller.enqueue(new Uint8Array(16_384).fill(0x20))
                  }
                })
              )
            ))
          )
        )
        const endless = yield* api(streamed, configLayer({ maxResponseBytes: 65_536 }))
        assert.strictEqual((yield* failureOf(endless.auth(Redacted.make(accessToken), "o1")))._tag, "MalformedResponse")
      }))

    it.scoped("the lean client stops reading at the limit: 100 MB announced or chunked, memory stays flat", () =>
      Effect.gen(function*() {
        let sent = 0
        const server = yield* Effect.acquireRelease(
          Effect.async<Http.Server>((resume) => {
            const server = Http.createServer((request, response) => {
              const chunked = request.url?.includes("chunked") ?? false
              response.writeHead(200, chunked ? {} : { "content-length": String(100 * 1024 * 1024) })
              const chunk = Buffer.alloc(64 * 1024, 0x20)
              const pump = () => {
                while (sent < 100 * 1024 * 1024) {
                  sent += chunk.length
                  if (!response.write(chunk)) return response.once("drain", pump)
                }
                response.end()
              }
              response.on("close", () => response.destroy())
              pump()
            })
            server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
          }),
          (server) =>
            Effect.sync(() => server.closeAllConnections()).pipe(Effect.zipRight(Effect.sync(() => server.close())))
        )
        const port = (server.address() as Net.AddressInfo).port
        const client = yield* WeChatHttpClient.make()
        const before = process.memoryUsage().rss
        for (const path of ["", "/chunked"]) {
          const endpoints = yield* api(
            Layer.succeed(HttpClient.HttpClient, client),
            configLayer({ apiBaseUrl: `http://127.0.0.1:${port}${path}` })
          )
          const error = yield* failureOf(endpoints.auth(Redacted.make(accessToken), "o1"))
          assert.strictEqual(error._tag, "MalformedResponse")
          assert.include(error.message, "65536 bytes")
        }
        assert.isBelow(process.memoryUsage().rss - before, 50 * 1024 * 1024)
        assert.isBelow(sent, 100 * 1024 * 1024)
      }))

    it.scoped("the lean client refuses an answer at its announced Content-Length, before any of the body", () =>
      Effect.gen(function*() {
        const server = yield* Effect.acquireRelease(
          Effect.async<Http.Server>((resume) => {
            const server = Http.createServer((_request, response) => {
              // announced, then stalled: without reading the announcement the call would wait out its deadline
              response.writeHead(200, { "Content-Length": String(10 * 1024 * 1024) })
              response.write("{")
            })
            server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
          }),
          (server) =>
            Effect.sync(() => server.closeAllConnections()).pipe(Effect.zipRight(Effect.sync(() => server.close())))
        )
        const port = (server.address() as Net.AddressInfo).port
        const endpoints = yield* api(
          Layer.succeed(HttpClient.HttpClient, yield* WeChatHttpClient.make()),
          configLayer({ apiBaseUrl: `http://127.0.0.1:${port}`, maxResponseBytes: 65_536 })
        )
        const started = Date.now()
        const error = yield* failureOf(endpoints.auth(Redacted.make(accessToken), "o1"))
        assert.strictEqual(error._tag, "MalformedResponse")
        assert.include(error.message, "65536 bytes")
        assert.isBelow(Date.now() - started, 2_000)
      }))
  })

  describe("another HttpClient that dies", () => {
    // `Effect.promise(() => fetch(url))` when the fetch rejects, or a client that throws: the
    // defect's message quotes the URL, query included
    const dying = (how: "rejects" | "throws") =>
      Layer.succeed(
        HttpClient.HttpClient,
        HttpClient.make((request) => {
          const message = `request to ${request.url} failed, reason: socket hang up`
          if (how === "throws") throw new Error(message)
          return Effect.promise(() => Promise.reject(new Error(message)))
        })
      )

    for (const how of ["rejects", "throws"] as const) {
      it.effect(`its request ${how}: a TransportError naming no secret, code or token, never the defect`, () =>
        Effect.gen(function*() {
          const endpoints = yield* api(dying(how))
          const calls = [
            endpoints.accessToken(code),
            endpoints.refreshToken(Redacted.make(refreshToken)),
            endpoints.userInfo(Redacted.make(accessToken), "o1"),
            endpoints.auth(Redacted.make(accessToken), "o1"),
            endpoints.code2Session(code)
          ]
          for (const call of calls) {
            const error = yield* failureOf(call)
            assert.strictEqual(error._tag, "TransportError")
            const description = (error as WeChatError.TransportError).description
            // what went wrong is still said, without the query
            assert.include(description, "socket hang up")
            const said = `${String(error)} ${JSON.stringify(error)} ${description}`
            for (const value of [secret, code, encodeURIComponent(code), accessToken, refreshToken]) {
              assert.notInclude(said, value)
            }
          }
        }))
    }

    // a value holding `)` (a callback's code, a mini program's js_code, an openid): the scrubber once
    // took it for the bracket closing "(GET url)" and kept the rest of the query, the component
    // access token or checksession's signature included
    const quoting = Layer.succeed(
      HttpClient.HttpClient,
      HttpClient.make((request) =>
        Effect.promise(() =>
          Promise.reject(
            new Error(`request to ${request.url} failed, reason: socket hang up (200 GET ${request.url})`)
          )
        )
      )
    )
    const componentConfig = Layer.effect(
      Component.ComponentConfig,
      Component.makeConfigEither({
        componentAppId: "wxcomponent0000001",
        componentAppSecret: secret,
        token: "sandboxtoken",
        encodingAesKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
      })
    ).pipe(Layer.orDie)

    it.effect("a code or openid holding ')': the component token and checksession's signature stay out", () =>
      Effect.gen(function*() {
        const componentToken = "COMPONENT_ACCESS_TOKEN_0123456789abcdefghij"
        const sessionKey = "a2V5a2V5a2V5a2V5a2V5aw=="
        const signature = WeChatApi.sessionSignature(Redacted.make(sessionKey))
        const component = yield* WeChatApi.makeComponent.pipe(Effect.provide(Layer.merge(quoting, componentConfig)))
        const endpoints = yield* api(quoting)
        const calls: Record<string, readonly [Effect.Effect<unknown, WeChatError.RequestFailure>, string]> = {
          accessToken: [component.accessToken(Redacted.make(componentToken), "wxapp", "a)b"), componentToken],
          code2Session: [component.code2Session(Redacted.make(componentToken), "wxapp", "a)b"), componentToken],
          checkSession: [
            endpoints.checkSession(Redacted.make(accessToken), "o)x", Redacted.make(sessionKey)),
            signature
          ]
        }
        for (const [name, [call, hidden]] of Object.entries(calls)) {
          const error = yield* failureOf(call as Effect.Effect<unknown, WeChatError.RequestFailure>)
          assert.strictEqual(error._tag, "TransportError", name)
          const description = (error as WeChatError.TransportError).description
          assert.include(description, "socket hang up", name)
          assert.include(description, "?<redacted>)", name)
          const said = `${String(error)} ${JSON.stringify(error)} ${description}`
          for (const value of [hidden, "a)b", "o)x", "a%29b", "o%29x", accessToken, sessionKey]) {
            assert.notInclude(said, value, name)
          }
        }
      }))
  })

  describe("deadline", () => {
    it.effect("another HttpClient that never answers: a Timeout at the deadline, from an uninterruptible caller too", () =>
      Effect.gen(function*() {
        let interrupted = 0
        const silent = Layer.succeed(
          HttpClient.HttpClient,
          HttpClient.make(() => Effect.onInterrupt(Effect.never, () => Effect.sync(() => interrupted++)))
        )
        const endpoints = yield* api(silent)
        // e.g. a call in an acquire step: the deadline used to wait for the uninterruptible request
        const call = Effect.uninterruptible(endpoints.auth(Redacted.make(accessToken), "o1"))
        const fiber = yield* Effect.fork(Effect.flip(call))
        yield* TestClock.adjust("5 seconds")
        const error = yield* Fiber.join(fiber)
        assert.strictEqual(error._tag, "TransportError")
        assert.strictEqual((error as WeChatError.TransportError).reason, "Timeout")
        yield* Effect.yieldNow()
        assert.strictEqual(interrupted, 1, "the request was interrupted, in the background")
      }))

    it.live("with any HttpClient, the deadline covers the whole answer: headers sent, body stalled", () =>
      Effect.gen(function*() {
        const sockets = new Set<Net.Socket>()
        const server = Http.createServer((_req, res) => {
          res.writeHead(200, { "content-type": "application/json" })
          res.write("{\"openid\":")
        })
        server.on("connection", (socket) => sockets.add(socket))
        yield* Effect.acquireRelease(
          Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))),
          () =>
            Effect.promise(() =>
              new Promise<void>((resolve) => {
                for (const socket of sockets) socket.destroy()
                server.close(() => resolve())
              })
            )
        )
        const port = (server.address() as Net.AddressInfo).port
        for (const client of [NodeHttpClient.layerUndici, WeChatHttpClient.layer()]) {
          const error = yield* Effect.flatMap(WeChatApi.WeChatApi, (api) => Effect.flip(api.code2Session("jscode")))
            .pipe(
              Effect.provide(
                WeChatApi.layer.pipe(
                  Layer.provide(
                    WeChatConfig.layer({
                      appId: "wx0123456789abcdef",
                      appSecret: Redacted.make(secret),
                      apiBaseUrl: `http://127.0.0.1:${port}`,
                      timeout: "300 millis"
                    })
                  ),
                  Layer.provide(client)
                )
              ),
              Effect.timeout("5 seconds")
            )
          assert.deepStrictEqual([error._tag, (error as WeChatError.TransportError).reason], [
            "TransportError",
            "Timeout"
          ])
        }
      }).pipe(Effect.scoped))
  })

  describe("redirects", () => {
    it.live("an answer fetch reached by following a redirect is refused: another host's answer is never WeChat's", () =>
      Effect.gen(function*() {
        const listen = (handler: Http.RequestListener) =>
          Effect.acquireRelease(
            Effect.promise(() =>
              new Promise<Http.Server>((resolve) => {
                const server = Http.createServer(handler)
                server.listen(0, "127.0.0.1", () => resolve(server))
              })
            ),
            (server) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
          ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}`))
        const elsewhere: Array<string> = []
        const other = yield* listen((req, res) => {
          elsewhere.push(req.url ?? "")
          res.writeHead(200, { "content-type": "application/json" })
          res.end("{\"openid\":\"o-someone-else\",\"session_key\":\"tiihtNczf5v6AKRyjwEUhQ==\"}")
        })
        // a "WeChat" (a misconfigured proxy) that sends the request, query and all, to another host
        const wechat = yield* listen((req, res) => {
          res.writeHead(302, { location: `${other}${req.url}` })
          res.end()
        })
        const call = Effect.flatMap(WeChatApi.WeChatApi, (api) => Effect.flip(api.code2Session("jscode"))).pipe(
          Effect.provide(WeChatApi.layer.pipe(Layer.provide(configLayer({ apiBaseUrl: wechat }))))
        )
        // fetch follows redirects by default: the answer it reached is refused
        const followed = yield* Effect.provide(call, FetchHttpClient.layer)
        assert.strictEqual(followed._tag, "TransportError")
        assert.strictEqual((followed as WeChatError.TransportError).reason, "HttpStatus")
        assert.notInclude(JSON.stringify(followed), secret)
        // as the README says: with redirect "manual" nothing goes to the other host
        elsewhere.length = 0
        const manual = yield* Effect.provide(
          call,
          FetchHttpClient.layer.pipe(Layer.provide(Layer.succeed(FetchHttpClient.RequestInit, { redirect: "manual" })))
        )
        assert.deepStrictEqual(
          [manual._tag, (manual as WeChatError.TransportError).status],
          ["TransportError", 302]
        )
        assert.deepStrictEqual(elsewhere, [])
        // the other clients do not follow
        for (const client of [NodeHttpClient.layerUndici, NodeHttpClient.layer, WeChatHttpClient.layer()]) {
          const error = yield* Effect.provide(call, client)
          assert.deepStrictEqual([error._tag, (error as WeChatError.TransportError).status], ["TransportError", 302])
        }
        assert.deepStrictEqual(elsewhere, [])
      }).pipe(Effect.scoped))
  })

  describe("arguments", () => {
    it.effect("a wrong-type, empty or oversized argument is InvalidArgument naming it; nothing is sent", () =>
      Effect.gen(function*() {
        const seen: Seen = { urls: [] }
        const endpoints = yield* api(scripted("{}", seen))
        const junk: ReadonlyArray<unknown> = [undefined, null, 42, {}, [], "", "x".repeat(10 * 1024 * 1024)]
        const any = endpoints as unknown as Record<string, (...args: ReadonlyArray<unknown>) => Effect.Effect<unknown>>
        const cases: ReadonlyArray<[string, string, (value: unknown) => ReadonlyArray<unknown>]> = [
          ["accessToken", "code", (v) => [v]],
          ["code2Session", "jsCode", (v) => [v]],
          ["refreshToken", "refreshToken", (v) => [v]],
          ["userInfo", "accessToken", (v) => [v, "o1"]],
          ["userInfo", "openid", (v) => [Redacted.make(accessToken), v]],
          ["userInfo", "lang", (v) => [Redacted.make(accessToken), "o1", v === undefined ? "fr" : v]],
          ["auth", "accessToken", (v) => [v, "o1"]],
          ["auth", "openid", (v) => [Redacted.make(accessToken), v]]
        ]
        for (const [method, argument, args] of cases) {
          for (const value of junk) {
            const exit = yield* Effect.exit(any[method](...args(value)))
            assert.isTrue(exit._tag === "Failure", `${method} ${argument}`)
            const error = yield* Effect.flip(any[method](...args(value)))
            assert.deepInclude(error, { _tag: "InvalidArgument", argument }, `${method}(${argument} = ${typeof value})`)
          }
        }
        assert.deepStrictEqual(seen.urls, [])
      }))
  })

  describe("the lean client reads the answer in the same step as the request", () => {
    interface Received {
      readonly method: string
      readonly url: string
      readonly accept: string | undefined
      readonly contentType: string | undefined
      readonly body: string
    }
    /** A WeChat on a socket: answers by path, records every request, and whether one was abandoned. */
    const recordingServer = (
      answer: (
        url: string
      ) => { readonly status: number; readonly body: string; readonly delayMillis?: number } | "hang" | "hold"
    ) =>
      Effect.acquireRelease(
        Effect.async<
          {
            server: Http.Server
            received: Array<Received>
            abandoned: Array<string>
            /** Sends the answers held so far ("hold"). */
            release: () => void
          }
        >((resume) => {
          const received: Array<Received> = []
          const abandoned: Array<string> = []
          const held: Array<() => void> = []
          const release = () => held.splice(0).forEach((send) => send())
          const server = Http.createServer((request, response) => {
            let body = ""
            request.on("data", (chunk: Buffer) => body += chunk.toString("utf8"))
            request.on("end", () => {
              const url = request.url ?? ""
              received.push({
                method: request.method ?? "",
                url,
                accept: request.headers.accept,
                contentType: request.headers["content-type"],
                body
              })
              const reply = answer(url)
              if (reply === "hang") {
                response.on("close", () => abandoned.push(url))
                return
              }
              if (reply === "hold") {
                held.push(() => {
                  if (response.destroyed) return
                  response.writeHead(200, { "content-type": "application/json" })
                  response.end(profile("o-held"))
                })
                return
              }
              const send = () => {
                if (response.destroyed) return
                response.writeHead(reply.status, { "content-type": "application/json" })
                response.end(reply.body)
              }
              if (reply.delayMillis === undefined) return send()
              response.on("close", () => {
                if (!response.writableFinished) abandoned.push(url)
              })
              setTimeout(send, reply.delayMillis)
            })
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, received, abandoned, release })))
        }),
        ({ server }) =>
          Effect.sync(() => server.closeAllConnections()).pipe(Effect.zipRight(Effect.sync(() => server.close())))
      )
    const profile = (openid: string) =>
      `{"openid":"${openid}","nickname":"n","sex":1,"province":"","city":"","country":"","headimgurl":"","privilege":[]}`
    const answers = (url: string) => {
      if (url.startsWith("/sns/userinfo")) {
        if (url.includes("openid=o-other")) return { status: 200, body: profile("o-someone-else") }
        if (url.includes("openid=o-busy")) return { status: 503, body: "busy" }
        if (url.includes("openid=o-stale")) {
          return { status: 200, body: `{"errcode":40001,"errmsg":"invalid credential, access_token ${accessToken}"}` }
        }
        if (url.includes("openid=o-hang")) return "hang" as const
        if (url.includes("openid=o-slow")) return { status: 200, body: profile("o-slow"), delayMillis: 300 }
        if (url.includes("openid=o-held")) return "hold" as const
        return { status: 200, body: profile("o1") }
      }
      if (url.startsWith("/cgi-bin/stable_token")) {
        return { status: 200, body: `{"access_token":"AT","expires_in":7200}` }
      }
      return { status: 404, body: "" }
    }
    const bothClients = [
      ["lean WeChatHttpClient (one step)", WeChatHttpClient.layer()],
      ["stock NodeHttpClient (request, then response)", NodeHttpClient.layerUndici]
    ] as const

    it.scoped("the same requests, answers and typed errors as through a response, for GET and POST", () =>
      Effect.gen(function*() {
        const { received, server } = yield* recordingServer(answers)
        const port = (server.address() as Net.AddressInfo).port
        const outcomes: Array<
          { readonly received: ReadonlyArray<Received>; readonly results: ReadonlyArray<unknown> }
        > = []
        for (const [, client] of bothClients) {
          received.length = 0
          // built in the test's scope: the lean client's connections live as long as the test
          const context = yield* Layer.build(
            Layer.merge(client, configLayer({ apiBaseUrl: `http://127.0.0.1:${port}` }))
          )
          const endpoints = yield* Effect.provide(WeChatApi.make, context)
          const token = Redacted.make(accessToken)
          const tag = (error: WeChatError.RequestFailure) =>
            error._tag === "TransportError"
              ? `${error._tag} ${error.reason} ${error.status}`
              : `${error._tag} ${error.message}`
          const results = [
            yield* endpoints.userInfo(token, "o1"),
            tag(yield* failureOf(endpoints.userInfo(token, "o-other"))),
            tag(yield* failureOf(endpoints.userInfo(token, "o-busy"))),
            tag(yield* failureOf(endpoints.userInfo(token, "o-stale"))),
            // a value the URL parser rewrites (an apostrophe): sent as the parser writes it
            tag(yield* failureOf(endpoints.userInfo(Redacted.make("it's"), "o-stale"))),
            (yield* endpoints.stableToken()).expires_in
          ]
          outcomes.push({ received: [...received], results })
        }
        const [lean, stock] = outcomes
        assert.deepStrictEqual(lean.results, stock.results)
        assert.deepStrictEqual(lean.received, stock.received)
        assert.strictEqual((lean.results[0] as { readonly openid: string }).openid, "o1")
        assert.include(lean.results[1] as string, "another openid")
        assert.strictEqual(lean.results[2], "TransportError HttpStatus 503")
        assert.match(lean.results[3] as string, /^InvalidCredential /)
        assert.notInclude(lean.results[3] as string, accessToken)
        assert.include(lean.received[4].url, "access_token=it%27s&")
        assert.deepStrictEqual(
          [lean.received[5].method, lean.received[5].contentType, JSON.parse(lean.received[5].body).grant_type],
          ["POST", "application/json", "client_credential"]
        )
        assert.strictEqual(lean.received[0].accept, "application/json")
      }))

    it.live("interrupting a call in flight abandons its request; a deadline ends it as a Timeout", () =>
      Effect.gen(function*() {
        const { abandoned, server } = yield* recordingServer(answers)
        const port = (server.address() as Net.AddressInfo).port
        const context = yield* Layer.build(Layer.merge(
          WeChatHttpClient.layer(),
          WeChatConfig.layer({
            appId: "wx0123456789abcdef",
            appSecret: Redacted.make(secret),
            apiBaseUrl: `http://127.0.0.1:${port}`,
            timeout: "400 millis"
          })
        ))
        const endpoints = yield* Effect.provide(WeChatApi.make, context)
        const fiber = yield* Effect.fork(endpoints.userInfo(Redacted.make(accessToken), "o-hang"))
        yield* Effect.sleep("100 millis")
        yield* Effect.fiberIdWith((id) => fiber.interruptAsFork(id))
        const exit = yield* fiber.await
        assert.isTrue(exit._tag === "Failure")
        // the server sees the request dropped at once, long before the deadline
        yield* Effect.sleep("100 millis")
        assert.strictEqual(abandoned.length, 1)
        const error = yield* failureOf(endpoints.userInfo(Redacted.make(accessToken), "o-hang"))
        assert.deepStrictEqual(
          [error._tag, (error as WeChatError.TransportError).reason],
          ["TransportError", "Timeout"]
        )
      }).pipe(Effect.scoped))

    /** The endpoints over the lean client, against `server`, with a 10 s deadline. */
    const leanEndpoints = (server: Http.Server, options?: WeChatHttpClient.Options) =>
      Effect.flatMap(
        Layer.build(Layer.merge(
          WeChatHttpClient.layer(options),
          WeChatConfig.layer({
            appId: "wx0123456789abcdef",
            appSecret: Redacted.make(secret),
            apiBaseUrl: `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}`,
            timeout: "10 seconds"
          })
        )),
        (context) => Effect.provide(WeChatApi.make, context)
      )

    it.live("Effect.timeout around a call in flight abandons its request when the timeout strikes", () =>
      Effect.gen(function*() {
        const { abandoned, server } = yield* recordingServer(answers)
        const endpoints = yield* leanEndpoints(server)
        const exit = yield* Effect.exit(
          Effect.timeout(endpoints.userInfo(Redacted.make(accessToken), "o-hang"), "100 millis")
        )
        assert.deepInclude(exit, { _tag: "Failure" })
        yield* Effect.sleep("100 millis")
        // dropped at once, not at the 10 s deadline
        assert.strictEqual(abandoned.length, 1)
      }).pipe(Effect.scoped))

    it.live("a fiber that catches the interruption of its call and goes on abandons the request before it ends", () =>
      Effect.gen(function*() {
        const { abandoned, server } = yield* recordingServer(answers)
        const endpoints = yield* leanEndpoints(server)
        const finishing = yield* Deferred.make<void>()
        const fiber = yield* Effect.fork(
          Effect.uninterruptibleMask((restore) =>
            restore(endpoints.userInfo(Redacted.make(accessToken), "o-hang")).pipe(
              Effect.exit,
              // the interruption is caught here; the fiber ends once this is done
              Effect.zipRight(Deferred.await(finishing))
            )
          )
        )
        yield* Effect.sleep("100 millis")
        yield* Effect.fiberIdWith((id) => fiber.interruptAsFork(id))
        yield* Effect.sleep("200 millis")
        // while the fiber still waits for `finishing`
        const abandonedWhileGoingOn = abandoned.length
        yield* Deferred.succeed(finishing, undefined)
        const exit = yield* fiber.await
        assert.strictEqual(abandonedWhileGoingOn, 1)
        assert.isTrue(Exit.isInterrupted(exit))
      }).pipe(Effect.scoped))

    it.live("a call interrupted while its fiber has a second of finalizers ahead aborts its request at once", () =>
      Effect.gen(function*() {
        const { abandoned, server } = yield* recordingServer(answers)
        const endpoints = yield* leanEndpoints(server)
        const fiber = yield* Effect.fork(
          Effect.ensuring(endpoints.userInfo(Redacted.make(accessToken), "o-hang"), Effect.sleep("1 second"))
        )
        yield* Effect.sleep("100 millis")
        yield* Effect.fiberIdWith((id) => Effect.sync(() => fiber.unsafeInterruptAsFork(id)))
        // within the sweep (50 ms), long before the fiber's finalizer ends
        yield* Effect.sleep("200 millis")
        assert.strictEqual(abandoned.length, 1)
        assert.isTrue(Exit.isInterrupted(yield* fiber.await))
      }).pipe(Effect.scoped))

    it.live("a call interrupted while queued for the pool's one connection is never sent", () =>
      Effect.gen(function*() {
        const { abandoned, received, server } = yield* recordingServer(answers)
        const endpoints = yield* leanEndpoints(server, { connections: 1 })
        const holder = yield* Effect.fork(endpoints.userInfo(Redacted.make(accessToken), "o-hang"))
        yield* Effect.sleep("100 millis")
        const queued = yield* Effect.fork(
          Effect.ensuring(endpoints.userInfo(Redacted.make(accessToken), "o-queued"), Effect.sleep("1 second"))
        )
        yield* Effect.sleep("50 millis")
        yield* Effect.fiberIdWith((id) => Effect.sync(() => queued.unsafeInterruptAsFork(id)))
        yield* Effect.sleep("100 millis")
        // the connection frees up while the queued call's fiber is still in its finalizer
        yield* Fiber.interrupt(holder)
        yield* Effect.sleep("300 millis")
        assert.deepStrictEqual(received.map((r) => r.url.includes("o-queued")), [false])
        assert.strictEqual(abandoned.length, 1)
        yield* Fiber.await(queued)
      }).pipe(Effect.scoped))

    it.live("an answer that comes after its caller was interrupted is neither read nor counted", () =>
      Effect.gen(function*() {
        const { release, server } = yield* recordingServer(answers)
        const endpoints = yield* leanEndpoints(server)
        const counted = Effect.zip(
          Metric.value(WeChatApi.requestsTotal.pipe(Metric.tagged("endpoint", "userinfo"))),
          Metric.value(
            WeChatApi.errorsTotal.pipe(Metric.tagged("endpoint", "userinfo"), Metric.tagged("tag", "TransportError"))
          )
        )
        const [requestsBefore, errorsBefore] = yield* counted
        const fiber = yield* Effect.fork(
          Effect.ensuring(endpoints.userInfo(Redacted.make(accessToken), "o-held"), Effect.sleep("1 second"))
        )
        yield* Effect.sleep("100 millis")
        // the answer leaves as the interruption is sent: it meets an abandoned exchange (at its first
        // step, or the sweep's look comes first), whatever the machine's pauses
        yield* Effect.fiberIdWith((id) => fiber.interruptAsFork(id))
        release()
        yield* Effect.sleep("300 millis")
        const [requestsAfter, errorsAfter] = yield* counted
        assert.strictEqual(requestsAfter.count - requestsBefore.count, 0)
        assert.strictEqual(errorsAfter.count - errorsBefore.count, 0)
        yield* Fiber.await(fiber)
      }).pipe(Effect.scoped))

    it.live("a call from an uninterruptible region runs to its answer though its fiber is interrupted", () =>
      Effect.gen(function*() {
        const { abandoned, server } = yield* recordingServer(answers)
        const endpoints = yield* leanEndpoints(server)
        const answered = yield* Deferred.make<string, unknown>()
        const fiber = yield* Effect.fork(Effect.uninterruptible(
          Effect.exit(Effect.map(endpoints.userInfo(Redacted.make(accessToken), "o-slow"), (user) => user.openid)).pipe(
            Effect.flatMap((exit) => Deferred.done(answered, exit))
          )
        ))
        yield* Effect.sleep("100 millis")
        yield* Effect.fiberIdWith((id) => Effect.sync(() => fiber.unsafeInterruptAsFork(id)))
        assert.isTrue(Exit.isInterrupted(yield* fiber.await))
        assert.deepStrictEqual(yield* Effect.either(Deferred.await(answered)), Either.right("o-slow"))
        assert.strictEqual(abandoned.length, 0)
      }).pipe(Effect.scoped))

    it.live("a long-lived fiber making calls one after another is left holding nothing of them", () =>
      Effect.gen(function*() {
        const { server } = yield* recordingServer(answers)
        const endpoints = yield* leanEndpoints(server)
        const observers = yield* Effect.withFiberRuntime<() => number>((fiber) =>
          Effect.succeed(() => (fiber as unknown as { readonly _observers: ReadonlyArray<unknown> })._observers.length)
        )
        const before = observers()
        for (let i = 0; i < 50; i++) {
          yield* Effect.either(endpoints.userInfo(Redacted.make(accessToken), i % 2 === 0 ? "o1" : "o-busy"))
        }
        // each call watched this fiber while it waited (to abort on its interruption) and let go when answered
        assert.strictEqual(observers(), before)
      }).pipe(Effect.scoped))
  })
})
