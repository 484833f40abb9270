/**
 * The HTTP transport: `Sandbox.handle` behind a real Node HTTP server (`@effect/platform-node`).
 * A `reset` fault destroys the request's socket; a streamed body (`huge`, `drip`) is written as it
 * is made, waiting for the socket to drain, and stopped when the client disconnects.
 *
 * @internal
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Http from "node:http"
import type { SandboxRequest, SandboxResponse } from "../Sandbox.js"
import * as SandboxServer from "../SandboxServer.js"
import * as Control from "./control.js"

/**
 * The request body, read up to `Control.maxBodyBytes`: `undefined` when it is larger (by its
 * Content-Length or by the bytes read), and reading stops there. The socket is left open, so the
 * 413 still reaches the client.
 */
const readBody = (incoming: Http.IncomingMessage): Effect.Effect<string | undefined> =>
  Effect.async<string | undefined>((resume) => {
    const declared = Number(incoming.headers["content-length"])
    if (Control.isOverBodyLimit(declared)) return resume(Effect.succeed(undefined))
    const chunks: Array<Buffer> = []
    let size = 0
    const done = (result: string | undefined) => {
      cleanup()
      resume(Effect.succeed(result))
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (!Control.isOverBodyLimit(size)) return void chunks.push(chunk)
      incoming.pause()
      done(undefined)
    }
    const onEnd = () => done(Buffer.concat(chunks).toString("utf8"))
    // the client went away: the fiber is interrupted as the response closes
    const onGone = () => done("")
    const cleanup = () => {
      incoming.off("data", onData).off("end", onEnd).off("error", onGone).off("close", onGone)
    }
    incoming.on("data", onData).on("end", onEnd).on("error", onGone).on("close", onGone)
    return Effect.sync(cleanup)
  })

const app = (handle: (request: SandboxRequest) => Effect.Effect<SandboxResponse>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const url = Option.getOrElse(HttpServerRequest.toURL(request), () => new URL(request.url, "http://localhost"))
    const incoming = NodeHttpServerRequest.toIncomingMessage(request)
    const body = request.method === "GET" || request.method === "HEAD" ? "" : yield* readBody(incoming)
    const response: SandboxResponse = body === undefined ?
      Control.bodyTooLarge(url.pathname) :
      yield* handle({ method: request.method, url: url.href, headers: request.headers, body })
    if (response.fault === "reset") {
      incoming.socket.destroy()
      return yield* Effect.interrupt
    }
    if (response.stream !== undefined) {
      // sent as it is made, at the socket's pace; the platform interrupts it when the client goes away
      return HttpServerResponse.stream(response.stream, { status: response.status, headers: response.headers })
    }
    return HttpServerResponse.text(response.body, { status: response.status, headers: response.headers })
  })

const urlHost = (hostname: string): string =>
  hostname === "0.0.0.0"
    ? "127.0.0.1"
    : hostname === "::"
    ? "[::1]"
    : hostname.includes(":")
    ? `[${hostname}]`
    : hostname

/** @internal */
export const layer = <E>(
  options: { readonly port: number; readonly host?: string | undefined },
  handle: (request: SandboxRequest) => Effect.Effect<SandboxResponse>,
  badInput: (message: string) => E
): Layer.Layer<SandboxServer.SandboxServer, HttpServerError.ServeError | E> =>
  Layer.scoped(
    SandboxServer.SandboxServer,
    Effect.gen(function*() {
      // read once under a guard: options that cannot be read, a port or a host of another type, are
      // the caller's SandboxError (a Symbol port threw out of its message; a host that is not text
      // was Node's TypeError out of listen, a defect)
      let port: unknown
      let host: unknown
      try {
        port = options.port
        host = options.host
      } catch {
        return yield* Effect.fail(badInput("the server options cannot be read"))
      }
      if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
        return yield* Effect.fail(badInput("port must be an integer from 0 to 65535"))
      }
      if (host !== undefined && (typeof host !== "string" || host.length === 0)) {
        return yield* Effect.fail(badInput("host must be a non-empty string"))
      }
      const nodeServer = Http.createServer()
      const server = yield* NodeHttpServer.make(() => nodeServer, { port, host: host ?? "127.0.0.1" })
      // runs before the server closes: keep-alive and slow connections must not hold the shutdown up
      yield* Effect.addFinalizer(() => Effect.sync(() => nodeServer.closeAllConnections()))
      yield* server.serve(app(handle))
      const address = server.address
      if (address._tag !== "TcpAddress") {
        return yield* Effect.dieMessage("the sandbox server is not listening on TCP")
      }
      return {
        url: `http://${urlHost(address.hostname)}:${address.port}`,
        hostname: address.hostname,
        port: address.port
      }
    })
  )
