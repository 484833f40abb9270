/**
 * One rule for a body that starts with a UTF-8 byte order mark, whatever the `HttpClient`: the mark
 * is removed and the answer read (the lean client did; `NodeHttpClient` and `FetchHttpClient`,
 * read through the bounded reader, refused it as "not JSON").
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import { WeChatApi, WeChatConfig, WeChatHttpClient } from "@wxauth/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

/** A local "WeChat" answering every request with `body` after a byte order mark, as text/plain. */
const bomServer = (body: unknown) =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer((_, res) => {
        res.writeHead(200, { "content-type": "text/plain" })
        res.end(`\ufeff${JSON.stringify(body)}`)
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

const clients: ReadonlyArray<readonly [string, Layer.Layer<HttpClient.HttpClient>]> = [
  ["lean client", Layer.orDie(WeChatHttpClient.layer())],
  ["NodeHttpClient.layer", NodeHttpClient.layer],
  ["NodeHttpClient.layerUndici", NodeHttpClient.layerUndici],
  ["FetchHttpClient", FetchHttpClient.layer]
]

const withApi = <A, E>(
  server: Http.Server,
  client: Layer.Layer<HttpClient.HttpClient>,
  f: (api: WeChatApi.WeChatApiShape) => Effect.Effect<A, E>
) =>
  Effect.flatMap(WeChatApi.make, f).pipe(
    Effect.provide(Layer.merge(
      WeChatConfig.layer({
        appId: "wx1234567890abcdef",
        appSecret: "9f3c1a7be25d4f6081c3e5a7b9d2f4e6",
        apiBaseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      }),
      client
    ))
  )

describe("a body with a byte order mark", () => {
  for (const [name, client] of clients) {
    it.live(`${name}: an answer is read`, () =>
      Effect.gen(function*() {
        const server = yield* bomServer({ access_token: "APP_TOKEN", expires_in: 7200 })
        const exit = yield* Effect.exit(withApi(server, client, (api) => api.token()))
        assert.strictEqual(
          exit._tag === "Success" ? "read" : String(exit.cause),
          "read",
          `${name} refused a body with a byte order mark`
        )
        if (exit._tag === "Success") assert.strictEqual(Redacted.value(exit.value.access_token), "APP_TOKEN")
      }).pipe(Effect.scoped))

    it.live(`${name}: an errcode is its tagged error`, () =>
      Effect.gen(function*() {
        const server = yield* bomServer({ errcode: 40001, errmsg: "invalid credential" })
        const error = yield* Effect.flip(withApi(server, client, (api) => api.token()))
        assert.strictEqual(error._tag, "InvalidCredential", `${name}: ${String(error)}`)
      }).pipe(Effect.scoped))
  }
})
