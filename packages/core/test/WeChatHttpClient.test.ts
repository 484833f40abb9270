import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import { WeChatApi, WeChatConfig, WeChatHttpClient } from "@wxauth/core"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as Http from "node:http"
import type * as Net from "node:net"
import { inspect } from "node:util"
import type { Dispatcher } from "undici"
import { makeClient } from "../src/internal/httpClient.js"

// ---------------------------------------------------------------------------------------------
// a real HTTP server on 127.0.0.1
// ---------------------------------------------------------------------------------------------

interface Seen {
  readonly method: string
  readonly url: string
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
}

interface TestServer {
  readonly url: string
  readonly port: number
  readonly seen: Array<Seen>
  /** TCP connections accepted so far. */
  readonly connections: () => number
  /** Resolves when `count` accepted connections have closed. */
  readonly closedSockets: (count: number) => Promise<void>
}

type Handler = (req: Http.IncomingMessage, res: Http.ServerResponse, body: string) => void

const serve = (handler: Handler): Effect.Effect<TestServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ server: Http.Server; testServer: TestServer }>((resume) => {
      const seen: Array<Seen> = []
      let accepted = 0
      let closed = 0
      const waiters: Array<{ count: number; resolve: () => void }> = []
      const server = Http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8")
          seen.push({ method: req.method!, url: req.url!, headers: req.headers, body })
          handler(req, res, body)
        })
      })
      server.keepAliveTimeout = 30_000
      server.on("connection", (socket: Net.Socket) => {
        accepted++
        socket.on("close", () => {
          closed++
          for (const waiter of waiters.filter((w) => closed >= w.count)) waiter.resolve()
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as Net.AddressInfo).port
        resume(Effect.succeed({
          server,
          testServer: {
            url: `http://127.0.0.1:${port}`,
            port,
            seen,
            connections: () => accepted,
            closedSockets: (count) =>
              closed >= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ count, resolve }))
          }
        }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ testServer }) => testServer))

const json = (status: number, body: unknown, headers: Http.OutgoingHttpHeaders = {}): Handler => (_req, res) => {
  const text = JSON.stringify(body)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers })
  res.end(text)
}

/** A port that refuses connections: bound once, then closed. */
const closedPort = Effect.async<number>((resume) => {
  const server = Http.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as Net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

const waitFor = <A>(promise: () => Promise<A>, what: string) =>
  Effect.promise(promise).pipe(
    Effect.timeoutFail({ duration: "3 seconds", onTimeout: () => new Error(`timed out waiting for ${what}`) }),
    Effect.orDie
  )

const elapsedMillis = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const exit = yield* Effect.exit(effect)
    return { exit, millis: (yield* Clock.currentTimeMillis) - start }
  })

const requestErrorOf = (error: HttpClientError.HttpClientError): HttpClientError.RequestError => {
  if (error._tag !== "RequestError") assert.fail(`expected a RequestError, got ${error._tag}`)
  return error
}

const transportCauseOf = (error: HttpClientError.HttpClientError): WeChatHttpClient.TransportCause => {
  const requestError = requestErrorOf(error)
  assert.strictEqual(requestError.reason, "Transport")
  const cause = requestError.cause
  if (!WeChatHttpClient.isTransportCause(cause)) assert.fail(`expected a TransportCause, got ${String(cause)}`)
  return cause
}

const UserInfo = Schema.Struct({
  openid: Schema.String,
  nickname: Schema.String,
  privilege: Schema.Array(Schema.String)
})
const userInfo = { openid: "o6_bmjrPTlm6", nickname: "Band", privilege: ["P1", "P2"] }

// ---------------------------------------------------------------------------------------------

describe("WeChatHttpClient", () => {
  it.scopedLive("GET with a query, JSON body decoded with schemaBodyJson", () =>
    Effect.gen(function*() {
      const server = yield* serve(json(200, userInfo))
      const client = yield* WeChatHttpClient.make()
      const response = yield* client.get(`${server.url}/sns/userinfo`, {
        urlParams: { access_token: "AT", openid: "o6_bmjrPTlm6", lang: "zh_CN" }
      })
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(yield* HttpClientResponse.schemaBodyJson(UserInfo)(response), userInfo)
      assert.strictEqual(server.seen[0].url, "/sns/userinfo?access_token=AT&openid=o6_bmjrPTlm6&lang=zh_CN")
      assert.strictEqual(server.seen[0].method, "GET")
      // the body was read once: text, then json, then arrayBuffer and stream all answer
      assert.strictEqual(yield* response.text, JSON.stringify(userInfo))
      assert.deepStrictEqual(yield* response.json, userInfo)
      assert.strictEqual(new TextDecoder().decode(yield* response.arrayBuffer), JSON.stringify(userInfo))
      const streamed = yield* Stream.runCollect(response.stream)
      assert.strictEqual(new TextDecoder().decode(Buffer.concat([...streamed])), JSON.stringify(userInfo))
    }))

  it.scopedLive("a JSON body sent as text/plain decodes; non-2xx statuses pass through to filterStatusOk", () =>
    Effect.gen(function*() {
      const server = yield* serve((req, res) => {
        const text = JSON.stringify(req.url === "/missing" ? { errcode: 404 } : userInfo)
        res.writeHead(req.url === "/missing" ? 404 : 200, { "content-type": "text/plain" })
        res.end(text)
      })
      const client = yield* WeChatHttpClient.make()
      const decoded = yield* client.get(`${server.url}/sns/userinfo`).pipe(
        Effect.flatMap(HttpClientResponse.filterStatusOk),
        Effect.flatMap(HttpClientResponse.schemaBodyJson(UserInfo))
      )
      assert.deepStrictEqual(decoded, userInfo)
      const missing = yield* client.get(`${server.url}/missing`)
      assert.strictEqual(missing.status, 404)
      const error = yield* Effect.flip(HttpClientResponse.filterStatusOk(missing))
      assert.strictEqual(error.reason, "StatusCode")
      assert.deepStrictEqual(yield* missing.json, { errcode: 404 })
    }))

  it.scopedLive("sends request headers; exposes response headers (lowercased) and cookies", () =>
    Effect.gen(function*() {
      const server = yield* serve((_req, res) => {
        res.setHeader("Set-Cookie", ["a=1; Path=/", "b=2; Path=/"])
        res.setHeader("X-WeChat-Trace", "abc")
        res.writeHead(200, { "Content-Type": "application/json" })
        res.end("{}")
      })
      const client = yield* WeChatHttpClient.make()
      const response = yield* client.get(`${server.url}/h`, { headers: { "X-Custom": "yes" }, acceptJson: true })
      assert.strictEqual(server.seen[0].headers["x-custom"], "yes")
      assert.strictEqual(server.seen[0].headers["accept"], "application/json")
      assert.strictEqual(response.headers["x-wechat-trace"], "abc")
      assert.strictEqual(response.headers["content-type"], "application/json")
      assert.deepStrictEqual(Object.keys(response.cookies.cookies).sort(), ["a", "b"])
      assert.strictEqual(response.cookies.cookies["b"].value, "2")
      // and the header schema helpers work on it
      const parsed = yield* HttpClientResponse.schemaHeaders(Schema.Struct({ "x-wechat-trace": Schema.String }))(
        response
      )
      assert.strictEqual(parsed["x-wechat-trace"], "abc")
    }))

  it.scopedLive("POSTs form, JSON and multipart bodies", () =>
    Effect.gen(function*() {
      const server = yield* serve((_req, res, body) => {
        res.writeHead(200, { "content-type": "application/x-www-form-urlencoded" })
        res.end(`echo=${encodeURIComponent(body)}`)
      })
      const client = yield* WeChatHttpClient.make()
      const form = yield* client.execute(
        HttpClientRequest.post(`${server.url}/form`).pipe(
          HttpClientRequest.bodyUrlParams({ grant_type: "refresh_token", note: "a b&c" })
        )
      )
      assert.strictEqual(server.seen[0].headers["content-type"], "application/x-www-form-urlencoded")
      assert.strictEqual(server.seen[0].body, "grant_type=refresh_token&note=a+b%26c")
      const echoed = yield* HttpClientResponse.schemaBodyUrlParams(Schema.Struct({ echo: Schema.String }))(form)
      assert.strictEqual(echoed.echo, "grant_type=refresh_token&note=a+b%26c")

      yield* client.execute(
        HttpClientRequest.post(`${server.url}/json`).pipe(HttpClientRequest.bodyUnsafeJson({ a: 1 }))
      )
      assert.strictEqual(server.seen[1].headers["content-type"], "application/json")
      assert.strictEqual(server.seen[1].body, `{"a":1}`)

      // WeChat's APIs take a query, form fields or JSON: streamed and multipart bodies are refused
      // before anything is sent
      const multipart = new FormData()
      multipart.append("media", "hello")
      const refused = [
        yield* Effect.flip(
          client.execute(
            HttpClientRequest.post(`${server.url}/multipart`).pipe(HttpClientRequest.bodyFormData(multipart))
          )
        ),
        yield* Effect.flip(
          client.execute(
            HttpClientRequest.post(`${server.url}/stream`).pipe(
              HttpClientRequest.bodyStream(Stream.make(new TextEncoder().encode("str")))
            )
          )
        )
      ]
      for (const error of refused) {
        assert.strictEqual(error._tag, "RequestError")
        assert.strictEqual((error as HttpClientError.RequestError).reason, "Encode")
      }
      assert.strictEqual(server.seen.length, 2)
    }))

  it.scopedLive("encodes query values exactly as URLSearchParams does", () =>
    Effect.gen(function*() {
      const server = yield* serve(json(200, {}))
      const client = yield* WeChatHttpClient.make()
      const params: Array<[string, string]> = [
        ["plain", "AZaz09-._*"],
        ["space and plus", "a b+c"],
        ["reserved", "!'()~&=?#/%"],
        ["unicode", "微信 ✓"],
        ["lone", "\ud800x"]
      ]
      yield* client.get(`${server.url}/q?fixed=1`, { urlParams: params })
      assert.strictEqual(server.seen[0].url, `/q?fixed=1&${new URLSearchParams(params).toString()}`)
      // a query written in the URL string is sent as the URL parser would write it; no fragment
      const written = [
        "/sns/userinfo?access_token=A-T_0.9~&openid=o1&lang=zh_CN",
        "/q?a=x y&b='quoted'&c=微信&d=%E5%BE%AE",
        "/p#frag?not=query",
        "/empty?"
      ]
      for (const path of written) yield* client.get(`${server.url}${path}#fragment`)
      assert.deepStrictEqual(
        server.seen.slice(1).map((seen) => seen.url),
        written.map((path) => {
          const url = new URL(`${server.url}${path}`)
          return url.pathname + url.search
        })
      )
    }))

  it.scopedLive("keeps connections alive: sequential requests reuse their socket", () =>
    Effect.gen(function*() {
      const server = yield* serve(json(200, { ok: true }))
      const single = yield* WeChatHttpClient.make({ connections: 1 })
      for (let i = 0; i < 20; i++) yield* Effect.flatMap(single.get(`${server.url}/k`), (r) => r.json)
      assert.strictEqual(server.seen.length, 20)
      assert.strictEqual(server.connections(), 1)
      // A pool waits one event-loop turn before reusing a socket; a request sent within that turn
      // opens a second one (raw undici does the same). Then both are reused.
      const pooled = yield* WeChatHttpClient.make()
      for (let i = 0; i < 20; i++) yield* Effect.flatMap(pooled.get(`${server.url}/k`), (r) => r.json)
      assert.strictEqual(server.seen.length, 40)
      assert.isAtMost(server.connections(), 3)
    }))

  describe("limits: the deadline and the size cap", () => {
    it.scopedLive("slow headers: fails at about the deadline with the deadline marker, and the request is aborted", () =>
      Effect.gen(function*() {
        const server = yield* serve(() => {
          // never answers
        })
        const client = yield* WeChatHttpClient.make({ timeout: "200 millis" })
        const { exit, millis } = yield* elapsedMillis(client.get(`${server.url}/slow`))
        assert.isTrue(Exit.isFailure(exit))
        const cause = transportCauseOf(yield* Effect.flip(exit))
        assert.strictEqual(cause.kind, "Timeout")
        assert.strictEqual(cause.code, "WXAUTH_DEADLINE")
        assert.strictEqual(cause.code, WeChatHttpClient.deadlineCode)
        assert.strictEqual(cause.phase, "headers")
        assert.isAtLeast(millis, 190)
        assert.isBelow(millis, 900)
        yield* waitFor(() => server.closedSockets(1), "the aborted socket to close")
      }))

    it.scopedLive("slow body: the deadline covers the body too", () =>
      Effect.gen(function*() {
        const server = yield* serve((_req, res) => {
          res.writeHead(200, { "content-type": "application/json", "content-length": "100" })
          res.write(`{"openid":"`)
          // and stalls
        })
        const client = yield* WeChatHttpClient.make({ timeout: "250 millis" })
        const { exit, millis } = yield* elapsedMillis(client.get(`${server.url}/slow-body`))
        const cause = transportCauseOf(yield* Effect.flip(exit))
        assert.strictEqual(cause.kind, "Timeout")
        assert.strictEqual(cause.code, "WXAUTH_DEADLINE")
        assert.strictEqual(cause.phase, "body")
        assert.isAtLeast(millis, 240)
        assert.isBelow(millis, 900)
      }))

    it.scopedLive("a request that expires while queued for a connection is never sent (phase connect)", () =>
      Effect.gen(function*() {
        const server = yield* serve((req, res) => {
          setTimeout(() => json(200, { ok: true })(req, res, ""), 500)
        })
        const client = yield* WeChatHttpClient.make({ timeout: "2 seconds", connections: 1 })
        const first = yield* Effect.fork(client.get(`${server.url}/first`))
        yield* waitFor(() => new Promise((resolve) => setTimeout(resolve, 50)), "the first request to go out")
        const queued = client.get(`${server.url}/queued`).pipe(
          WeChatHttpClient.withRequestLimits({ timeoutMillis: 150 })
        )
        const cause = transportCauseOf(yield* Effect.flip(queued))
        assert.strictEqual(cause.code, "WXAUTH_DEADLINE")
        assert.strictEqual(cause.phase, "connect")
        const response = yield* Fiber.join(first)
        assert.strictEqual(response.status, 200)
        // once the connection is free, the expired request is dropped, not sent
        yield* waitFor(() => new Promise((resolve) => setTimeout(resolve, 200)), "a moment")
        assert.deepStrictEqual(server.seen.map((seen) => seen.url), ["/first"])
      }))

    it.scopedLive("withRequestLimits changes the deadline of the calls in it, on the same pool", () =>
      Effect.gen(function*() {
        const server = yield* serve((req, res) => {
          setTimeout(() => json(200, { ok: true })(req, res, ""), req.url === "/slow" ? 400 : 0)
        })
        const client = yield* WeChatHttpClient.make({ timeout: "5 seconds", connections: 1 })
        const short = WeChatHttpClient.withRequestLimits({ timeoutMillis: 120 })
        // the shared pool (of one connection here): one socket serves calls with either deadline
        yield* Effect.flatMap(client.get(`${server.url}/fast`), (r) => r.json)
        yield* Effect.flatMap(client.get(`${server.url}/fast`), (r) => r.json).pipe(short)
        assert.strictEqual(server.connections(), 1)

        const { exit, millis } = yield* elapsedMillis(client.get(`${server.url}/slow`).pipe(short))
        const cause = transportCauseOf(yield* Effect.flip(exit))
        assert.strictEqual(cause.code, "WXAUTH_DEADLINE")
        assert.isAtLeast(millis, 110)
        assert.isBelow(millis, 380)
        // outside it, the client keeps its own deadline
        const response = yield* client.get(`${server.url}/slow`)
        assert.strictEqual(response.status, 200)
        // data-first too
        const late = yield* Effect.flip(
          WeChatHttpClient.withRequestLimits(client.get(`${server.url}/slow`), { timeoutMillis: 100 })
        )
        assert.strictEqual(transportCauseOf(late).code, "WXAUTH_DEADLINE")
      }))

    it.scopedLive("a deadline past a Node timer's limit (30 days) is 24 days: the call is not failed at once", () =>
      Effect.gen(function*() {
        const server = yield* serve((req, res) => {
          setTimeout(() => json(200, { ok: true })(req, res, ""), 150)
        })
        const client = yield* WeChatHttpClient.make()
        const response = yield* client.get(`${server.url}/x`).pipe(
          WeChatHttpClient.withRequestLimits({ timeoutMillis: 30 * 86_400_000 })
        )
        assert.strictEqual(response.status, 200)
      }))

    it.scopedLive("withRequestLimits caps the body of the calls in it", () =>
      Effect.gen(function*() {
        const server = yield* serve(json(200, { padding: "x".repeat(10_000) }))
        const client = yield* WeChatHttpClient.make()
        const response = yield* client.get(`${server.url}/big`)
        assert.strictEqual(response.status, 200)
        const error = yield* Effect.flip(
          client.get(`${server.url}/big`).pipe(WeChatHttpClient.withRequestLimits({ maxResponseBytes: 1024 }))
        )
        assert.strictEqual(transportCauseOf(error).code, "WXAUTH_RESPONSE_TOO_LARGE")
      }))

    it.scopedLive("a Content-Length over the cap is refused at the headers, without waiting for the body", () =>
      Effect.gen(function*() {
        const server = yield* serve((_req, res) => {
          // announced in the header's usual spelling, then nothing: only the announcement can end it early
          res.writeHead(200, { "Content-Type": "application/json", "Content-Length": String(10 * 1024 * 1024) })
          res.write("{")
        })
        const client = yield* WeChatHttpClient.make({ timeout: "5 seconds", maxResponseBytes: 1024 })
        const { exit, millis } = yield* elapsedMillis(client.get(`${server.url}/announced`))
        const cause = transportCauseOf(yield* Effect.flip(exit))
        assert.strictEqual(cause.code, "WXAUTH_RESPONSE_TOO_LARGE")
        assert.isBelow(millis, 2_000)
        yield* waitFor(() => server.closedSockets(1), "the refused socket to close")
        // an announcement within the cap is read as usual
        const small = yield* serve(json(200, { ok: true }))
        const response = yield* client.get(`${small.url}/small`)
        assert.strictEqual(response.headers["content-length"], "11")
        assert.deepStrictEqual(yield* response.json, { ok: true })
      }))
  })

  describe("transport errors", () => {
    it.live("headers the client cannot read fail the call as a transport error, never leave it waiting", () =>
      Effect.gen(function*() {
        // a dispatcher answering at once with a header value whose text cannot be read
        const unreadable = {
          length: 3,
          toString: () => {
            throw new Error("unreadable header value")
          }
        }
        const dispatcher = {
          dispatch: (_options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) => {
            handler.onConnect!(() => undefined)
            handler.onHeaders!(200, [Buffer.from("x-odd"), unreadable as unknown as Buffer], () => undefined, "OK")
            handler.onData!(Buffer.from("{}"))
            handler.onComplete!(null)
            return true
          }
        } as unknown as Dispatcher
        const client = makeClient(dispatcher, 5_000)
        const error = yield* Effect.flip(client.get("http://127.0.0.1:9/odd").pipe(Effect.timeout("2 seconds")))
        assert.notStrictEqual(error._tag, "TimeoutException", "the call settled")
        assert.include(transportCauseOf(error as HttpClientError.HttpClientError).message, "unreadable header value")
      }))

    it.live("a dispatcher that throws instead of reporting fails the call as a transport error: no defect, no observer left", () =>
      Effect.gen(function*() {
        const dispatcher = {
          dispatch: () => {
            throw new Error("dispatcher out of order")
          }
        } as unknown as Dispatcher
        const client = makeClient(dispatcher, 5_000)
        const observers = yield* Effect.withFiberRuntime<() => number>((fiber) =>
          Effect.succeed(() => (fiber as unknown as { readonly _observers: ReadonlyArray<unknown> })._observers.length)
        )
        const before = observers()
        const exit = yield* Effect.exit(client.get("http://127.0.0.1:9/thrown"))
        assert.isTrue(exit._tag === "Failure" && Cause.isFailType(exit.cause), "a typed failure, not a defect")
        const error = yield* Effect.flip(client.get("http://127.0.0.1:9/thrown"))
        assert.include(transportCauseOf(error as HttpClientError.HttpClientError).message, "dispatcher out of order")
        assert.strictEqual(observers(), before)
      }))

    it.scopedLive("connection refused: cause code ECONNREFUSED, nothing sent", () =>
      Effect.gen(function*() {
        const port = yield* closedPort
        const client = yield* WeChatHttpClient.make()
        const error = yield* Effect.flip(client.get(`http://127.0.0.1:${port}/sns/userinfo`))
        const cause = transportCauseOf(error)
        assert.strictEqual(cause.kind, "ConnectionRefused")
        assert.strictEqual(cause.code, "ECONNREFUSED")
        assert.strictEqual(cause.phase, "connect")
        assert.strictEqual(cause._tag, "TransportCause")
      }))

    it.scopedLive("the server destroying the socket is a Network transport error, not a timeout", () =>
      Effect.gen(function*() {
        const server = yield* serve((req) => req.socket.destroy())
        const client = yield* WeChatHttpClient.make({ timeout: "3 seconds" })
        const { exit, millis } = yield* elapsedMillis(client.get(`${server.url}/reset`))
        const cause = transportCauseOf(yield* Effect.flip(exit))
        assert.strictEqual(cause.kind, "Network")
        assert.include(["UND_ERR_SOCKET", "ECONNRESET"], cause.code)
        assert.strictEqual(cause.phase, "headers")
        assert.isBelow(millis, 1000)
      }))

    it.scopedLive("an invalid URL is a RequestError with reason InvalidUrl", () =>
      Effect.gen(function*() {
        const client = yield* WeChatHttpClient.make()
        const error = requestErrorOf(yield* Effect.flip(client.get("/relative/only")))
        assert.strictEqual(error.reason, "InvalidUrl")
        const ftp = requestErrorOf(yield* Effect.flip(client.get("ftp://127.0.0.1/x")))
        assert.strictEqual(ftp.reason, "InvalidUrl")
      }))

    it.scopedLive("a body that is not JSON is a ResponseError with reason Decode", () =>
      Effect.gen(function*() {
        const server = yield* serve((_req, res) => res.end("<html>busy</html>"))
        const client = yield* WeChatHttpClient.make()
        const response = yield* client.get(`${server.url}/html`)
        const error = yield* Effect.flip(HttpClientResponse.schemaBodyJson(UserInfo)(response))
        assert.strictEqual(error._tag, "ResponseError")
        assert.strictEqual((error as HttpClientError.ResponseError).reason, "Decode")
        assert.strictEqual(yield* response.text, "<html>busy</html>")
      }))

    it("toTransportCause classifies Effect and DOM timeouts, and keeps no query", () => {
      const effectTimeout = WeChatHttpClient.toTransportCause(new Cause.TimeoutException("timed out"))
      assert.strictEqual(effectTimeout.kind, "Timeout")
      assert.strictEqual(effectTimeout.code, "TimeoutException")
      const domTimeout = WeChatHttpClient.toTransportCause(new DOMException("The operation timed out", "TimeoutError"))
      assert.strictEqual(domTimeout.kind, "Timeout")
      const wrapped = WeChatHttpClient.toTransportCause(
        new TypeError("fetch https://api.weixin.qq.com/sns/oauth2/access_token?secret=S3CRET failed", {
          cause: Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET", syscall: "read" })
        })
      )
      assert.strictEqual(wrapped.kind, "Network")
      assert.strictEqual(wrapped.code, "ECONNRESET")
      assert.strictEqual(wrapped.syscall, "read")
      const unknown = WeChatHttpClient.toTransportCause(new Error("GET /x?secret=S3CRET failed"))
      assert.strictEqual(unknown.kind, "Network")
      assert.notInclude(unknown.message, "S3CRET")
    })

    it.scopedLive("toTransportCause classifies another client's errors too", () =>
      Effect.gen(function*() {
        const port = yield* closedPort
        const stock = yield* HttpClient.HttpClient.pipe(Effect.provide(FetchHttpClient.layer))
        const error = yield* Effect.flip(stock.get(`http://127.0.0.1:${port}/x?secret=S3CRET`))
        const cause = WeChatHttpClient.toTransportCause(error)
        assert.strictEqual(cause.kind, "ConnectionRefused")
        assert.strictEqual(cause.code, "ECONNREFUSED")
        assert.notInclude(JSON.stringify(cause), "S3CRET")
      }))
  })

  it.scopedLive("interrupting a pending request aborts it: the server sees the connection close", () =>
    Effect.gen(function*() {
      let received: () => void = () => undefined
      const arrived = new Promise<void>((resolve) => {
        received = resolve
      })
      const server = yield* serve(() => received())
      const client = yield* WeChatHttpClient.make({ timeout: "10 seconds" })
      const fiber = yield* Effect.fork(client.get(`${server.url}/pending`))
      yield* waitFor(() => arrived, "the request to arrive")
      const { millis } = yield* elapsedMillis(Fiber.interrupt(fiber))
      assert.isBelow(millis, 500)
      yield* waitFor(() => server.closedSockets(1), "the aborted socket to close")
    }))

  it.scopedLive("an interrupted request queued for a connection is never sent", () =>
    Effect.gen(function*() {
      const server = yield* serve((req, res) => {
        setTimeout(() => json(200, { ok: true })(req, res, ""), 300)
      })
      const client = yield* WeChatHttpClient.make({ timeout: "5 seconds", connections: 1 })
      const first = yield* Effect.fork(client.get(`${server.url}/first`))
      yield* waitFor(() => new Promise((resolve) => setTimeout(resolve, 50)), "the first request to go out")
      const queued = yield* Effect.fork(client.get(`${server.url}/queued`))
      yield* waitFor(() => new Promise((resolve) => setTimeout(resolve, 20)), "the second request to queue")
      const { exit, millis } = yield* elapsedMillis(Fiber.interrupt(queued))
      assert.isBelow(millis, 200)
      assert.isTrue(Exit.isInterrupted(yield* exit))
      assert.strictEqual((yield* Fiber.join(first)).status, 200)
      yield* waitFor(() => new Promise((resolve) => setTimeout(resolve, 200)), "a moment")
      assert.deepStrictEqual(server.seen.map((seen) => seen.url), ["/first"])
    }))

  it.scopedLive("a timeout around a call interrupts it, and the request is aborted", () =>
    Effect.gen(function*() {
      const server = yield* serve(() => undefined)
      const client = yield* WeChatHttpClient.make({ timeout: "10 seconds" })
      const { exit, millis } = yield* elapsedMillis(
        client.get(`${server.url}/pending`).pipe(Effect.timeout("150 millis"))
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.isBelow(millis, 900)
      yield* waitFor(() => server.closedSockets(1), "the aborted socket to close")
    }))

  it.scopedLive("a call in an uninterruptible region is not aborted: interrupting waits for its answer", () =>
    Effect.gen(function*() {
      const server = yield* serve((req, res) => {
        setTimeout(() => json(200, { ok: true })(req, res, ""), 200)
      })
      const client = yield* WeChatHttpClient.make({ timeout: "5 seconds" })
      let answer: unknown = undefined
      const fiber = yield* Effect.fork(
        Effect.uninterruptible(
          Effect.flatMap(client.get(`${server.url}/slow`), (response) => response.json).pipe(
            Effect.tap((body) => Effect.sync(() => answer = body))
          )
        )
      )
      yield* waitFor(() => new Promise((resolve) => setTimeout(resolve, 50)), "the request to go out")
      const { millis } = yield* elapsedMillis(Fiber.interrupt(fiber))
      assert.isAtLeast(millis, 100, "the interruption waited for the region to end")
      assert.deepStrictEqual(answer, { ok: true })
    }))

  it.scopedLive("the proxy option sends requests through an HTTP proxy", () =>
    Effect.gen(function*() {
      const target = yield* serve(json(200, userInfo))
      const proxied: Array<string> = []
      const proxy = yield* serve((req, res, body) => {
        proxied.push(req.url!)
        const upstream = Http.request(req.url!, { method: req.method, headers: req.headers }, (answer) => {
          res.writeHead(answer.statusCode!, answer.headers)
          answer.pipe(res)
        })
        upstream.on("error", () => res.destroy())
        upstream.end(body)
      })
      const client = yield* WeChatHttpClient.make({ proxy: proxy.url })
      for (let i = 0; i < 3; i++) {
        const decoded = yield* Effect.flatMap(
          client.get(`${target.url}/sns/userinfo`, { urlParams: { openid: "o1" } }),
          HttpClientResponse.schemaBodyJson(UserInfo)
        )
        assert.deepStrictEqual(decoded, userInfo)
      }
      assert.deepStrictEqual(proxied, Array(3).fill(`${target.url}/sns/userinfo?openid=o1`))
      assert.strictEqual(target.seen.length, 3)
    }))

  it.scopedLive("a proxy's credentials echoed back stay out of errors: an errmsg, the transport errors", () =>
    Effect.gen(function*() {
      const user = "proxyuser"
      const password = "Pr0xy@Pa55w0rd"
      const basic = Buffer.from(`${user}:${password}`).toString("base64")
      // a proxy that answers for WeChat (a plain-http API base: a sandbox) and echoes what it was sent
      const echo = yield* serve((req, res) => {
        const errmsg = `proxy says: ${req.headers["proxy-authorization"]} (${user}:${password}) ` +
          `http://${user}:${encodeURIComponent(password)}@proxy/ denied`
        json(200, { errcode: 40001, errmsg })(req, res, "")
      })
      const refuse407 = yield* serve((req, res) => {
        res.writeHead(407, { "proxy-authenticate": "Basic realm=p", "content-type": "text/plain" })
        res.end(`${req.headers["proxy-authorization"]} ${password}`)
      })
      const refused = yield* closedPort
      const config = WeChatConfig.layer({
        appId: "wx0123456789abcdef",
        appSecret: Redacted.make("app-secret-0123456789"),
        apiBaseUrl: "http://api.wechat.test"
      })
      const forms = [password, encodeURIComponent(password), basic, `${user}:P`, "Pa55w0rd"]
      for (const port of [echo.port, refuse407.port, refused]) {
        const proxy = `http://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}`
        const exit = yield* Effect.exit(
          Effect.flatMap(WeChatApi.make, (api) => api.accessToken("CODE_0123")).pipe(
            Effect.provide(Layer.merge(WeChatHttpClient.layer({ proxy: Redacted.make(proxy) }), config))
          )
        )
        if (!Exit.isFailure(exit)) return assert.fail("expected a failure")
        const error = Cause.squash(exit.cause)
        assert.strictEqual(
          (error as { readonly _tag?: unknown })._tag,
          port === echo.port ? "InvalidCredential" : "TransportError"
        )
        const texts = [String(error), JSON.stringify(error), Cause.pretty(exit.cause), inspect(error, { depth: 8 })]
        for (const text of texts) {
          for (const form of forms) assert.notInclude(text, form, `proxy on ${port}`)
        }
      }
      assert.strictEqual(echo.seen[0].headers["proxy-authorization"], `Basic ${basic}`, "the proxy was asked")
    }))

  it.scopedLive("a proxy's credentials stay out of errors through a client derived with mapRequest", () =>
    Effect.gen(function*() {
      const user = "proxyuser"
      const password = "Pr0xyPa55w0rd"
      const basic = Buffer.from(`${user}:${password}`).toString("base64")
      const echo = yield* serve((req, res) => {
        const errmsg = `proxy says: ${req.headers["proxy-authorization"]} ${user}:${password}`
        json(200, { errcode: 40001, errmsg })(req, res, "")
      })
      const proxy = `http://${user}:${password}@127.0.0.1:${echo.port}`
      // the app's own client, derived from the lean one: the lean client as built is not in context
      const derived = Layer.effect(
        HttpClient.HttpClient,
        Effect.map(HttpClient.HttpClient, HttpClient.mapRequest(HttpClientRequest.setHeader("x-derived", "yes")))
      ).pipe(Layer.provideMerge(WeChatHttpClient.layer({ proxy })))
      const config = WeChatConfig.layer({
        appId: "wx0123456789abcdef",
        appSecret: Redacted.make("app-secret-0123456789"),
        apiBaseUrl: "http://api.wechat.test"
      })
      const exit = yield* Effect.exit(
        Effect.flatMap(WeChatApi.make, (api) => api.accessToken("CODE_0123")).pipe(
          Effect.provide(Layer.merge(derived, config))
        )
      )
      if (!Exit.isFailure(exit)) return assert.fail("expected a failure")
      const error = Cause.squash(exit.cause)
      assert.strictEqual((error as { readonly _tag?: unknown })._tag, "InvalidCredential")
      const texts = [String(error), JSON.stringify(error), Cause.pretty(exit.cause), inspect(error, { depth: 8 })]
      for (const text of texts) {
        for (const form of [password, basic, `${user}:${password}`]) assert.notInclude(text, form)
      }
      assert.include(String(error), "proxy says: Basic <redacted>")
      assert.strictEqual(echo.seen[0].headers["x-derived"], "yes", "the derived client was used")
      assert.strictEqual(echo.seen[0].headers["proxy-authorization"], `Basic ${basic}`, "the proxy was asked")
    }))

  it.scopedLive("short proxy credentials leave WeChat's errmsg as it is; a password of 8 or more is scrubbed", () =>
    Effect.gen(function*() {
      const answers: Array<string> = []
      const server = yield* serve((req, res) => {
        json(200, { errcode: 40029, errmsg: answers.shift() })(req, res, "")
      })
      const config = WeChatConfig.layer({
        appId: "wx0123456789abcdef",
        appSecret: Redacted.make("app-secret-0123456789"),
        apiBaseUrl: "http://api.wechat.test"
      })
      const errmsgThrough = (userinfo: string, errmsg: string) =>
        Effect.gen(function*() {
          answers.push(errmsg)
          const error = yield* Effect.flip(
            Effect.flatMap(WeChatApi.make, (api) => api.accessToken("CODE_0123")).pipe(
              Effect.provide(Layer.merge(
                WeChatHttpClient.layer({ proxy: `http://${userinfo}@127.0.0.1:${server.port}` }),
                config
              ))
            )
          )
          assert.strictEqual((error as { readonly _tag?: unknown })._tag, "InvalidCode")
          return (error as { readonly errmsg: string }).errmsg
        })
      const rid = "invalid code, rid: 6571f6a3-1b2c3d41"
      assert.strictEqual(yield* errmsgThrough("proxyuser:d", rid), rid)
      const hints = "invalid code, hints: [ req_id: 1aB2wx-admin ] rid: 6571f6a3-1b2c3d41-7778wxad"
      assert.strictEqual(yield* errmsgThrough("wx", hints), hints)
      assert.strictEqual(yield* errmsgThrough("admin:1", hints), hints)
      // a password of 8 or more characters is a secret: echoed alone, it is redacted
      assert.strictEqual(
        yield* errmsgThrough("proxyuser:LongPassw0rd", `${rid} (LongPassw0rd)`),
        `${rid} (<redacted>)`
      )
      // and so is a user name of 8 or more without a password
      assert.strictEqual(yield* errmsgThrough("proxytoken01", `${rid} proxytoken01`), `${rid} <redacted>`)
      assert.strictEqual(server.seen.length, 5, "each call went through the proxy")
    }))

  it.scopedLive("request-side combinators keep the client's limits: withRequestLimits reaches a derived client", () =>
    Effect.gen(function*() {
      const server = yield* serve((req, res) => {
        setTimeout(() => json(200, userInfo)(req, res, ""), req.url === "/slow" ? 400 : 0)
      })
      const client = yield* WeChatHttpClient.make()
      const prefixed = client.pipe(HttpClient.mapRequest(HttpClientRequest.prependUrl(server.url)))
      const decoded = yield* Effect.flatMap(
        prefixed.get("/sns/userinfo"),
        HttpClientResponse.schemaBodyJson(UserInfo)
      ).pipe(WeChatHttpClient.withRequestLimits({ timeoutMillis: 1000 }))
      assert.deepStrictEqual(decoded, userInfo)
      assert.strictEqual(server.seen[0].url, "/sns/userinfo")
      const late = yield* Effect.flip(
        prefixed.get("/slow").pipe(WeChatHttpClient.withRequestLimits({ timeoutMillis: 100 }))
      )
      assert.strictEqual(transportCauseOf(late).code, "WXAUTH_DEADLINE")
    }))

  it.effect("the layer marks its client as enforcing request limits; make alone does not", () =>
    Effect.gen(function*() {
      const marked = yield* Effect.serviceOption(WeChatHttpClient.EnforcesRequestLimits).pipe(
        Effect.provide(WeChatHttpClient.layer())
      )
      assert.isTrue(marked._tag === "Some")
      const unmarked = yield* Effect.serviceOption(WeChatHttpClient.EnforcesRequestLimits)
      assert.isTrue(unmarked._tag === "None")
    }))

  it.scopedLive("creates no span and sends no trace headers (a stock client, as a control, does)", () =>
    Effect.gen(function*() {
      const server = yield* serve(json(200, userInfo))
      const native = yield* Effect.tracer
      const names: Array<string> = []
      const recording = Tracer.make({
        span: (...args) => {
          names.push(args[0])
          return native.span(...args)
        },
        context: native.context
      })
      const lean = yield* WeChatHttpClient.make()
      const stock = yield* HttpClient.HttpClient.pipe(Effect.provide(FetchHttpClient.layer))
      const call = (client: HttpClient.HttpClient) =>
        client.get(`${server.url}/sns/userinfo`, { urlParams: { secret: "S3CRET" } }).pipe(
          Effect.flatMap(HttpClientResponse.schemaBodyJson(UserInfo)),
          Effect.withSpan("outer"),
          Effect.withTracer(recording)
        )
      yield* call(lean)
      assert.deepStrictEqual(names, ["outer"])
      assert.isUndefined(server.seen[0].headers["traceparent"])
      assert.isUndefined(server.seen[0].headers["b3"])
      yield* call(stock)
      assert.deepStrictEqual(names, ["outer", "outer", "http.client GET"])
    }))

  it.scopedLive("errors and responses never render a query value", () =>
    Effect.gen(function*() {
      const secret = "S3CRET"
      const renderings = (u: unknown): Array<string> => [
        String(u),
        u instanceof Error ? u.message : "",
        JSON.stringify(u),
        Cause.pretty(Cause.fail(u)),
        Cause.pretty(Cause.fail(u), { renderErrorCause: true }),
        inspect(u, { depth: 10 }),
        // as Node's uncaught-error printer does
        inspect(u, { depth: 10, customInspect: false, showHidden: true }),
        Inspectable.format(u)
      ]
      const assertClean = (u: unknown, what: string) => {
        for (const text of renderings(u)) assert.notInclude(text, secret, what)
      }
      const port = yield* closedPort
      const client = yield* WeChatHttpClient.make({ timeout: "150 millis" })
      // refused, with the secret in urlParams and in the URL string
      const refused = yield* Effect.flip(client.get(`http://127.0.0.1:${port}/sns/oauth2/access_token`, {
        urlParams: { appid: "wx1", secret }
      }))
      assertClean(refused, "refused (urlParams)")
      assert.include(refused.message, "/sns/oauth2/access_token")
      const refusedInUrl = yield* Effect.flip(client.get(`http://127.0.0.1:${port}/x?appid=wx1&secret=${secret}#frag`))
      assertClean(refusedInUrl, "refused (URL string)")
      assert.deepStrictEqual(refusedInUrl.request.urlParams, [["appid", "<redacted>"], ["secret", "<redacted>"]])

      const silent = yield* serve(() => {
        // never answers
      })
      const timedOut = yield* Effect.flip(client.get(`${silent.url}/x`, { urlParams: { secret } }))
      assertClean(timedOut, "deadline")

      const echo = yield* serve((req, res) => res.end(`access_token=${secret}&url=${req.url}`))
      const response = yield* client.get(`${echo.url}/sns/userinfo`, { urlParams: { access_token: secret } })
      assertClean(response, "response")
      const decodeError = yield* Effect.flip(response.json)
      assertClean(decodeError, "decode error")
      assert.strictEqual(decodeError.reason, "Decode")
    }))

  it.live("closing the scope closes the pool", () =>
    Effect.gen(function*() {
      const outer = yield* Scope.make()
      const server = yield* serve(json(200, { ok: true })).pipe(Scope.extend(outer))
      const scope = yield* Scope.make()
      const client = yield* WeChatHttpClient.make().pipe(Scope.extend(scope))
      yield* Effect.flatMap(client.get(`${server.url}/a`), (r) => r.json)
      assert.strictEqual(server.connections(), 1)
      yield* Scope.close(scope, Exit.void)
      yield* waitFor(() => server.closedSockets(1), "the pooled socket to close")
      const cause = transportCauseOf(yield* Effect.flip(client.get(`${server.url}/b`)))
      assert.strictEqual(cause.kind, "Network")
      assert.include(["UND_ERR_DESTROYED", "UND_ERR_CLOSED"], cause.code)
      // a service used after its layer ended (returned out of Effect.provide): the error says so
      assert.include(
        cause.message,
        "the HTTP client is closed: the scope (layer) that built it ended before this request was sent"
      )
      yield* Scope.close(outer, Exit.void)
    }))

  it.live("closing the scope with a request in flight: the request ends once the grace (the deadline) is over", () =>
    Effect.gen(function*() {
      const outer = yield* Scope.make()
      const server = yield* serve(() => {
        // never answers
      }).pipe(Scope.extend(outer))
      const scope = yield* Scope.make()
      const client = yield* WeChatHttpClient.make({ timeout: "300 millis" }).pipe(Scope.extend(scope))
      // its own deadline far away: only the pool's destruction can end it
      const request = yield* Effect.fork(
        client.get(`${server.url}/x`).pipe(WeChatHttpClient.withRequestLimits({ timeoutMillis: 20_000 }))
      )
      yield* waitFor(async () => {
        while (server.seen.length === 0 && server.connections() === 0) await new Promise((r) => setTimeout(r, 10))
      }, "the request to be sent")
      const { millis } = yield* elapsedMillis(Scope.close(scope, Exit.void))
      assert.isAtLeast(millis, 250)
      assert.isBelow(millis, 2_000)
      const exit = yield* Fiber.await(request).pipe(
        Effect.timeoutFail({ duration: "1 second", onTimeout: () => new Error("the request outlived its pool") }),
        Effect.orDie
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(exit)
      assert.strictEqual(transportCauseOf(error).kind, "Network")
      // made while the layer was open: told it was cut at shutdown, not that it came too late
      assert.include(transportCauseOf(error).message, "the HTTP client was closed while this request was in flight")
      yield* waitFor(() => server.closedSockets(1), "the request's socket to close")
      yield* Scope.close(outer, Exit.void)
    }))

  it.scopedLive("layerConfig reads the options from Config", () =>
    Effect.gen(function*() {
      const server = yield* serve(() => {
        // never answers
      })
      const layer = WeChatHttpClient.layerConfig({
        timeout: Config.duration("WECHAT_HTTP_TIMEOUT"),
        connections: Config.integer("WECHAT_HTTP_CONNECTIONS").pipe(Config.withDefault(4))
      })
      yield* Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        assert.isTrue((yield* Effect.serviceOption(WeChatHttpClient.EnforcesRequestLimits))._tag === "Some")
        const { exit, millis } = yield* elapsedMillis(client.get(`${server.url}/x`))
        assert.strictEqual(transportCauseOf(yield* Effect.flip(exit)).code, "WXAUTH_DEADLINE")
        assert.isBelow(millis, 600)
      }).pipe(
        Effect.provide(layer),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["WECHAT_HTTP_TIMEOUT", "120 millis"]])))
      )
    }))

  it.effect("invalid options are a ConfigError that does not print the proxy URL", () =>
    Effect.gen(function*() {
      const zero = yield* Effect.flip(Layer.build(WeChatHttpClient.layer({ timeout: 0 })).pipe(Effect.scoped))
      assert.include(String(zero), "timeout")
      const connections = yield* Effect.flip(Effect.scoped(WeChatHttpClient.make({ connections: 0 })))
      assert.include(String(connections), "connections")
      const proxy = yield* Effect.flip(Effect.scoped(WeChatHttpClient.make({ proxy: "socks9://user:S3CRET@host" })))
      assert.include(String(proxy), "proxy")
      assert.notInclude(String(proxy), "S3CRET")
      // a Node timer past 2^31-1 ms fires after 1 ms: every call would fail at once
      for (const name of ["timeout", "connectTimeout", "keepAliveTimeout"] as const) {
        const long = yield* Effect.flip(Effect.scoped(WeChatHttpClient.make({ [name]: "30 days" })))
        assert.include(String(long), `${name} must be a positive duration of at most 24 days`)
        yield* Effect.scoped(WeChatHttpClient.make({ [name]: "24 days" }))
      }
      yield* Effect.scoped(WeChatHttpClient.make({ timeout: Duration.infinity }))
    }))

  it.effect("a proxy URL with a path, a query, a fragment or a control character is a ConfigError at proxy", () =>
    Effect.gen(function*() {
      // undici takes the proxy's origin only: a path, a query or a fragment died inside it when the
      // layer was built; a tab or a line break, which the URL parser drops, is refused too
      for (
        const bad of [
          "http://proxy.internal:3128/path",
          "http://proxy.internal:3128/?a=1",
          "http://proxy.internal:3128/#f",
          "http://user:S3CRET@proxy.internal:3128/x",
          "https://proxy.internal/cb\r\nX: y",
          "http://proxy.internal:3128\t",
          " http://proxy.internal:3128"
        ]
      ) {
        const exit = yield* Effect.exit(Layer.build(WeChatHttpClient.layer({ proxy: bad })).pipe(Effect.scoped))
        assert.isTrue(
          Exit.isFailure(exit) && !Cause.isDie(exit.cause),
          `${JSON.stringify(bad)}: a failure, not a defect`
        )
        const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : undefined
        assert.isTrue(error !== undefined && error._tag === "Some" && ConfigError.isConfigError(error.value))
        const config = (error as { readonly value: ConfigError.ConfigError }).value
        assert.strictEqual(config._op, "InvalidData")
        assert.deepStrictEqual((config as ConfigError.InvalidData).path, ["proxy"])
        assert.notInclude(String(config), "proxy.internal")
        assert.notInclude(String(config), "S3CRET")
      }
      // credentials in the userinfo, with or without a trailing slash, are still a proxy
      yield* Effect.scoped(WeChatHttpClient.make({ proxy: "http://user:S3CRET@proxy.internal:3128" }))
      yield* Effect.scoped(WeChatHttpClient.make({ proxy: "https://proxy.internal:3128/" }))
    }))
})
