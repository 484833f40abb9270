/**
 * A TCP proxy in front of a real database, to take the database away under a running client:
 * `refuse` stops listening (connections are refused), `blackhole` accepts connections and never
 * answers. Both drop the connections already open.
 */
import * as Effect from "effect/Effect"
import * as Net from "node:net"

export interface Proxy {
  readonly port: number
  readonly refuse: Effect.Effect<void>
  readonly blackhole: Effect.Effect<void>
}

export const makeProxy = (target: { readonly host: string; readonly port: number }) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: Net.Server; readonly sockets: Set<Net.Socket>; readonly proxy: Proxy }>(
      (resume) => {
        const sockets = new Set<Net.Socket>()
        let mode: "forward" | "blackhole" = "forward"
        const track = (socket: Net.Socket) => {
          sockets.add(socket)
          socket.on("close", () => sockets.delete(socket))
          socket.on("error", () => socket.destroy())
        }
        const dropAll = () => {
          for (const socket of sockets) socket.destroy()
          sockets.clear()
        }
        const server = Net.createServer((client) => {
          track(client)
          if (mode === "blackhole") return
          const upstream = Net.connect(target.port, target.host)
          track(upstream)
          client.pipe(upstream)
          upstream.pipe(client)
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
              })
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
