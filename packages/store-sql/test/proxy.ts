/**
 * A TCP proxy in front of a real database, to take the database away under a running client:
 * `refuse` stops listening (connections are refused), `blackhole` accepts connections and never
 * answers (both drop the connections already open), and `pause` keeps every connection open but
 * stops forwarding bytes either way, new connections included: a database gone silent mid-query.
 * `resume` forwards what was held back and carries on. `partition` is a network partition that
 * leaves no trace (packets dropped, no reset: a firewall's or a NAT's state lost): every connection
 * open then is black-holed for good (kept open both ways, nothing forwarded, never closed by the
 * proxy), and so is every connection made while it lasts; `heal` forwards new connections again,
 * while the black-holed ones stay so, as after a real partition whose state is gone. `connections`
 * counts the connections open through it, `peakConnections` the most that were open at once.
 */
import * as Effect from "effect/Effect"
import * as Net from "node:net"
import * as Tls from "node:tls"

export interface Proxy {
  readonly port: number
  readonly refuse: Effect.Effect<void>
  readonly blackhole: Effect.Effect<void>
  readonly pause: Effect.Effect<void>
  readonly resume: Effect.Effect<void>
  readonly partition: Effect.Effect<void>
  readonly heal: Effect.Effect<void>
  readonly connections: () => number
  readonly peakConnections: () => number
  /** How many connections ran TLS with the proxy (`pgTls`, `mysqlTls`). */
  readonly tlsConnections: () => number
}

/**
 * With `pgTls`, the proxy ends PostgreSQL's TLS itself: it answers a client's `SSLRequest` with `S`,
 * runs TLS with it (this key and certificate), and talks plain TCP to the server.
 */
export interface ProxyOptions {
  readonly pgTls?: { readonly key: Buffer; readonly cert: Buffer } | undefined
  /**
   * With `mysqlTls`, the proxy ends MySQL's TLS itself: it offers TLS in the server's greeting, takes
   * the client's `SSLRequest`, runs TLS with it, and relays the rest of the handshake to the server as
   * a plain one (TLS offer and sequence numbers put back); after it, bytes as they are. Written for
   * MariaDB's `mysql_native_password`: MySQL 8's `caching_sha2_password`, when it needs the password
   * in full, sees a plain connection and would ask for RSA, which the client (on TLS) does not do.
   */
  readonly mysqlTls?: { readonly key: Buffer; readonly cert: Buffer } | undefined
}

/** MySQL's `CLIENT_SSL` capability, in the second byte of the flags. */
const clientSslByte = 0x08

/** Whole MySQL packets from a stream of chunks: `feed` gives the packets complete so far, and what is left. */
const mysqlPackets = () => {
  let buffer = Buffer.alloc(0)
  return {
    feed: (chunk: Buffer): Array<Buffer> => {
      buffer = Buffer.concat([buffer, chunk])
      const packets: Array<Buffer> = []
      while (buffer.length >= 4) {
        const length = buffer.readUIntLE(0, 3) + 4
        if (buffer.length < length) break
        packets.push(Buffer.from(buffer.subarray(0, length)))
        buffer = buffer.subarray(length)
      }
      return packets
    },
    rest: (): Buffer => {
      const rest = buffer
      buffer = Buffer.alloc(0)
      return rest
    }
  }
}

/** PostgreSQL's `SSLRequest`: length 8, code 80877103. */
const sslRequest = Buffer.from([0, 0, 0, 8, 4, 210, 22, 47])

export const makeProxy = (target: { readonly host: string; readonly port: number }, options: ProxyOptions = {}) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: Net.Server; readonly sockets: Set<Net.Socket>; readonly proxy: Proxy }>(
      (resume) => {
        const sockets = new Set<Net.Socket>()
        const clients = new Set<Net.Socket>()
        let peak = 0
        let tlsCount = 0
        let mode: "forward" | "blackhole" | "pause" | "partition" = "forward"
        // the sockets of the connections a partition black-holed: what they receive is dropped, and
        // one end's close is not passed on to the other (no FIN, no reset crosses a partition)
        const silenced = new WeakSet<Net.Socket>()
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
            if (silenced.has(from)) return
            if (mode === "pause") held.push([to, chunk])
            else if (!to.destroyed) to.write(chunk)
          })
        const server = Net.createServer((client) => {
          track(client)
          clients.add(client)
          peak = Math.max(peak, clients.size)
          client.on("close", () => clients.delete(client))
          if (mode === "blackhole") return
          if (mode === "partition") {
            // accepted (the SYN got through before the state was lost), then nothing either way
            silenced.add(client)
            client.on("data", () => {})
            return
          }
          const upstream = Net.connect(target.port, target.host)
          track(upstream)
          const pipe = (near: Net.Socket) => {
            forward(near, upstream)
            forward(upstream, near)
            near.on("close", () => silenced.has(near) || upstream.destroy())
            upstream.on("close", () => silenced.has(upstream) || near.destroy())
          }
          const mysqlTls = options.mysqlTls
          if (mysqlTls !== undefined) {
            const fromServer = mysqlPackets()
            const fromClient = mysqlPackets()
            let greeted = false
            let secure: Tls.TLSSocket | undefined = undefined
            const onServer = (chunk: Buffer) => {
              for (const packet of fromServer.feed(chunk)) {
                if (!greeted) {
                  greeted = true
                  // the capabilities' lower two bytes follow the version, the id, 8 bytes and a filler
                  const flags = packet.indexOf(0, 5) + 1 + 4 + 8 + 1
                  packet[flags + 1] = packet[flags + 1]! | clientSslByte
                  client.write(packet)
                  continue
                }
                packet[3] = packet[3]! + 1
                secure?.write(packet)
                if (packet[4] === 0x00 || packet[4] === 0xff) {
                  // the handshake is over: from now on, bytes as they are
                  upstream.off("data", onServer)
                  secure?.off("data", onSecure)
                  const rest = fromServer.rest()
                  if (rest.length > 0) secure?.write(rest)
                  if (secure !== undefined) pipe(secure)
                  return
                }
              }
            }
            const onSecure = (chunk: Buffer) => {
              for (const packet of fromClient.feed(chunk)) {
                if (packet[3] === 2) packet[5] = packet[5]! & ~clientSslByte
                packet[3] = packet[3]! - 1
                upstream.write(packet)
              }
            }
            const onClient = (chunk: Buffer) => {
              const [sslRequest] = fromClient.feed(chunk)
              if (sslRequest === undefined) return
              client.off("data", onClient)
              client.pause()
              const rest = fromClient.rest()
              if (rest.length > 0) client.unshift(rest)
              secure = new Tls.TLSSocket(client, { isServer: true, key: mysqlTls.key, cert: mysqlTls.cert })
              secure.once("secure", () => tlsCount++)
              track(secure)
              secure.on("data", onSecure)
              client.on("close", () => silenced.has(client) || upstream.destroy())
            }
            upstream.on("data", onServer)
            client.on("data", onClient)
            return
          }
          const tls = options.pgTls
          if (tls === undefined) return pipe(client)
          client.once("data", (first: Buffer) => {
            if (!first.equals(sslRequest)) {
              upstream.write(first)
              return pipe(client)
            }
            client.pause()
            client.write("S")
            const secure = new Tls.TLSSocket(client, { isServer: true, key: tls.key, cert: tls.cert })
            secure.once("secure", () => tlsCount++)
            track(secure)
            client.on("close", () => silenced.has(client) || upstream.destroy())
            pipe(secure)
          })
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
              partition: Effect.sync(() => {
                mode = "partition"
                for (const socket of sockets) silenced.add(socket)
              }),
              heal: Effect.sync(() => {
                mode = "forward"
              }),
              connections: () => clients.size,
              peakConnections: () => peak,
              tlsConnections: () => tlsCount
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
