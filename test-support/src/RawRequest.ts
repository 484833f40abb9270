/**
 * One raw HTTP/1.1 request over a socket, for what `fetch` will not send: any request line (a
 * method `fetch` forbids, a target that is no URL, an absolute form with credentials).
 *
 * @since 0.0.0
 */
import * as Effect from "effect/Effect"
import * as Net from "node:net"

/**
 * Sends `requestLine` with `Host` and `Connection: close` to the server at `url`; its whole answer
 * (head and body) as text, or `error: <message>` when the connection fails. At most 10 seconds.
 *
 * @since 0.0.0
 */
export const rawRequest = (url: string, requestLine: string): Effect.Effect<string> =>
  Effect.async<string>((resume) => {
    const { host, hostname, port } = new URL(url)
    let answer = ""
    const socket = Net.connect(Number(port), hostname, () => {
      socket.write(`${requestLine}\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
    })
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString("utf8")
    })
    socket.on("close", () => resume(Effect.succeed(answer)))
    socket.on("error", (error) => resume(Effect.succeed(`error: ${error.message}`)))
    return Effect.sync(() => socket.destroy())
  }).pipe(Effect.timeout("10 seconds"), Effect.orDie)
