/**
 * How `WeChatApi` reads another client's answer: with a byte limit, whatever holds the body (a web
 * `ReadableStream` from `fetch` or `HttpClientResponse.fromWeb`, a Node `Readable` from
 * `NodeHttpClient.layerUndici`, or only the response's `stream`), and an interrupted read cancels
 * the body.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as Http from "node:http"
import type * as Net from "node:net"
import { readCapped } from "../src/internal/answer.js"

const request = HttpClientRequest.get("http://127.0.0.1/sns/userinfo")
const limit = 1024
const tooLarge = () => "too large" as const
const answer = JSON.stringify({ openid: "oALICE", nickname: "张三" })

/** A web body of `pieces` chunks of `size` bytes, endless when `pieces` is Infinity; counts its cancels. */
const webBody = (pieces: number, size: number) => {
  let sent = 0
  let cancelled = 0
  const body = new ReadableStream<Uint8Array>({
    pull: (controller) => {
      if (sent++ >= pieces) controller.close()
      else controller.enqueue(new Uint8Array(size).fill(0x20))
    },
    cancel: () => {
      cancelled++
    }
  })
  return { body, sent: () => sent, cancelled: () => cancelled }
}

/** A response that has only its `stream` (another `HttpClientResponse` implementation). */
const streamOnly = (stream: Stream.Stream<Uint8Array>) =>
  ({ request, status: 200, headers: {}, stream }) as unknown as HttpClientResponse.HttpClientResponse

/** A local server answering every request with `handler`. */
const serve = (handler: Http.RequestListener) =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer(handler)
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}`))

const undiciGet = (url: string) => Effect.flatMap(HttpClient.HttpClient, (client) => client.get(url))

describe("WeChatApi's bounded read of another client's answer", () => {
  it.effect("a web body (fetch, fromWeb): read whole under the limit, refused past it, and cancelled", () =>
    Effect.gen(function*() {
      const ok = HttpClientResponse.fromWeb(request, new Response(answer))
      assert.strictEqual(yield* readCapped(ok, limit, tooLarge), answer)

      const endless = webBody(Infinity, 100)
      const huge = HttpClientResponse.fromWeb(request, new Response(endless.body))
      assert.strictEqual(yield* Effect.flip(readCapped(huge, limit, tooLarge)), "too large")
      assert.isAtMost(endless.sent(), 12, "stopped right after the limit")
      assert.strictEqual(endless.cancelled(), 1)

      const announced = HttpClientResponse.fromWeb(
        request,
        new Response(answer, { headers: { "content-length": String(limit + 1) } })
      )
      assert.strictEqual(yield* Effect.flip(readCapped(announced, limit, tooLarge)), "too large")
    }))

  it.effect("a stream-only response: the same limit through its stream", () =>
    Effect.gen(function*() {
      const chunk = new TextEncoder().encode(answer)
      assert.strictEqual(yield* readCapped(streamOnly(Stream.make(chunk)), limit, tooLarge), answer)
      let pulled = 0
      const endless = Stream.repeatEffect(Effect.sync(() => {
        pulled++
        return new Uint8Array(100)
      }))
      assert.strictEqual(yield* Effect.flip(readCapped(streamOnly(endless), limit, tooLarge)), "too large")
      assert.isAtMost(pulled, 12)
    }))

  it.scopedLive("a Node body (NodeHttpClient.layerUndici): read whole, refused past the limit", () =>
    Effect.gen(function*() {
      const url = yield* serve((req, res) => {
        if (req.url === "/ok") return res.end(answer)
        // chunked, no Content-Length: 64 KiB in 1 KiB pieces
        res.writeHead(200, { "content-type": "application/json" })
        for (let i = 0; i < 64; i++) res.write("x".repeat(1024))
        res.end()
      })
      assert.strictEqual(yield* readCapped(yield* undiciGet(`${url}/ok`), limit, tooLarge), answer)
      assert.strictEqual(yield* Effect.flip(readCapped(yield* undiciGet(`${url}/huge`), limit, tooLarge)), "too large")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scopedLive("interrupting a read cancels the body: a web body is cancelled, a Node body's socket closed", () =>
    Effect.gen(function*() {
      let cancelled = 0
      const pending = HttpClientResponse.fromWeb(
        request,
        new Response(
          new ReadableStream<Uint8Array>({
            pull: () => new Promise(() => undefined),
            cancel: () => {
              cancelled++
            }
          })
        )
      )
      const web = yield* Effect.fork(readCapped(pending, limit, tooLarge))
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(web)
      assert.strictEqual(cancelled, 1)

      let closed: () => void = () => undefined
      const socketClosed = new Promise<void>((resolve) => {
        closed = resolve
      })
      const url = yield* serve((req, res) => {
        req.socket.once("close", () => closed())
        res.writeHead(200, { "content-type": "application/json" })
        res.write("{")
      })
      const node = yield* Effect.fork(
        Effect.flatMap(undiciGet(url), (response) => readCapped(response, limit, tooLarge))
      )
      yield* Effect.sleep("100 millis")
      yield* Fiber.interrupt(node)
      yield* Effect.promise(() => socketClosed).pipe(Effect.timeout("2 seconds"))
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.effect("a body that fails while read is a ResponseError (reason Decode)", () =>
    Effect.gen(function*() {
      const failing = HttpClientResponse.fromWeb(
        request,
        new Response(
          new ReadableStream<Uint8Array>({
            pull: (controller) => controller.error(new Error("socket hang up"))
          })
        )
      )
      const error = yield* Effect.flip(readCapped(failing, limit, tooLarge))
      assert.instanceOf(error, HttpClientError.ResponseError)
      if (error instanceof HttpClientError.ResponseError) assert.strictEqual(error.reason, "Decode")
    }))
})
