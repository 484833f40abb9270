/**
 * A TCP proxy in front of a real database, to take the database away under a running client:
 * `refuse` stops listening (connections are refused), `blackhole` accepts connections and never
 * answers (both drop the connections already open), and `pause` keeps every connection open but
 * stops forwarding bytes either way, new connections included: a database gone silent mid-query.
 * `resume` forwards what was held back and carries on. `connections` counts the connections open
 * through it, `peakConnections` the most that were open at once.
 */
import * as Effect from "effect/Effect"
import * as Net from "node:net"

export interface Proxy {
  readonly port: number
  readonly refuse: Effect.Effect<void>
  readonly blackhole: Effect.Effect<void>
  readonly pause: Effect.Effect<void>
  readonly resume: Effect.Effect<void>
  readonly connections: () => number
  readonly peakConnections: () => number
}

export const makeProxy = (target: { readonly host: string; readonly port: number }) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: Net.Server; readonly sockets: Set<Net.Socket>; readonly proxy: Proxy }>(
      (resume) => {
        const sockets = new Set<Net.Socket>()
        const clients = new Set<Net.Socket>()
        let peak = 0
        let mode: "forward" | "blackhole" | "pause" = "forward"
        // the bytes held back while paused, in order, with the socket each is for
        const held: Array<readonly [Net.Socket, Buffer]> = []
        const track = (socket: Net.Socket) => {
          sockets.add(socket)
          socket.on("close", () => sockets.delete(socket))
          socket.on("error", () => socket.destroy())
        }
        const dropAll = () => {
          for (const socket of sockets) socket.destroy()
          sockets.clear()
          held.length = 0
        }
        const forward = (from: Net.Socket, to: Net.Socket) =>
          from.on("data", (chunk: Buffer) => {
            if (mode === "pause") held.push([to, chunk])
            else if (!to.destroyed) to.write(chunk)
          })
        const server = Net.createServer((client) => {
          track(client)
          clients.add(client)
          peak = Math.max(peak, clients.size)
          client.on("close", () => clients.delete(client))
          if (mode === "blackhole") return
          const upstream = Net.connect(target.port, target.host)
          track(upstream)
          forward(client, upstream)
          forward(upstream, client)
          client.on("close", () => upstream.destroy())
          upstream.on("close", () => client.destroy())
        })
        server.listen(0, "127.0.0.1", () => {
          const port = (server.address() as Net.AddressInfo).port
          resume(Effect.succeed({
            server,
            sockets,
            proxy: {
              port,
              refuse: Effect.async<void>((done) => {
                server.close(() => done(Effect.void))
                dropAll()
              }),
              blackhole: Effect.sync(() => {
                mode = "blackhole"
                dropAll()
              }),
              pause: Effect.sync(() => {
                mode = "pause"
              }),
              resume: Effect.sync(() => {
                mode = "forward"
                for (const [to, chunk] of held.splice(0)) if (!to.destroyed) to.write(chunk)
              }),
              connections: () => clients.size,
              peakConnections: () => peak
            }
          }))
        })
      }
    ),
    ({ server, sockets }) =>
      Effect.sync(() => {
        for (const socket of sockets) socket.destroy()
        if (server.listening) server.close()
      })
  ).pipe(Effect.map(({ proxy }) => proxy))
