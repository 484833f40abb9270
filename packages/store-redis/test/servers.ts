/**
 * Standalone Redis servers of a test's own (`redis-server` on a free loopback port, in a temporary
 * directory), for what must not touch the shared Redis under test (`SWAPDB`), or needs two servers;
 * and a TCP proxy whose target can be moved from one to the other: a DNS name or virtual address
 * that moved. Stopped (SHUTDOWN NOSAVE, then SIGKILL) with the scope.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Util from "node:util"
import { missing, onNode, until } from "./cluster.js"

export { missing }

const execFile = Util.promisify(ChildProcess.execFile)

/** A port the system says is free now. */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as Net.AddressInfo
      server.close(() => resolve(port))
    })
  })

export interface TestServer {
  readonly port: number
  readonly url: string
}

/** A `redis-server` of the scope's own, ready (`PING`), stopped with the scope. */
export const redisServer: Effect.Effect<TestServer, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(async () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "wxauth-redis-"))
    const port = await freePort()
    await execFile("redis-server", [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--logfile",
      Path.join(dir, "redis.log"),
      "--save",
      "",
      "--appendonly",
      "no",
      "--daemonize",
      "yes"
    ])
    await until(`redis-server on ${port}`, () => onNode(port, async (redis) => (await redis.ping()) === "PONG"))
    const info = await onNode(port, (redis) => redis.info("server"))
    const pid = Number(/process_id:(\d+)/.exec(info)![1])
    return { port, url: `redis://127.0.0.1:${port}`, pid, dir }
  }),
  ({ dir, pid, port }) =>
    Effect.promise(async () => {
      await onNode(port, (redis) => redis.shutdown("NOSAVE")).catch(() => {})
      try {
        process.kill(pid, 0)
        process.kill(pid, "SIGKILL")
      } catch {
        // gone already
      }
      Fs.rmSync(dir, { recursive: true, force: true })
    })
)

/**
 * A TCP proxy whose new connections go to the port `moveTo` last named (connections already open
 * stay where they are): a DNS name or a virtual address moved from one server to another. `freeze`
 * makes every connection open now silent for good, bytes dropped both ways and nothing closed (an
 * address blackholed, a partition without a reset); connections made after are forwarded.
 */
export const movableProxy = (
  initial: number
): Effect.Effect<
  { readonly url: string; readonly moveTo: (port: number) => void; readonly freeze: () => void },
  never,
  Scope.Scope
> =>
  Effect.acquireRelease(
    Effect.async<
      {
        readonly url: string
        readonly moveTo: (port: number) => void
        readonly freeze: () => void
        readonly close: () => Promise<void>
      }
    >(
      (resume) => {
        let target = initial
        const sockets = new Set<Net.Socket>()
        const frozen = new Set<Net.Socket>()
        const server = Net.createServer((client) => {
          const upstream = Net.connect(target, "127.0.0.1")
          sockets.add(client)
          sockets.add(upstream)
          client.on("data", (data: Buffer) => {
            if (!frozen.has(client)) upstream.write(data)
          })
          upstream.on("data", (data: Buffer) => {
            if (!frozen.has(upstream)) client.write(data)
          })
          const end = () => {
            client.destroy()
            upstream.destroy()
            sockets.delete(client)
            sockets.delete(upstream)
            frozen.delete(client)
            frozen.delete(upstream)
          }
          for (const socket of [client, upstream]) {
            socket.on("error", end)
            socket.on("close", end)
          }
        })
        server.listen(0, "127.0.0.1", () => {
          const { port } = server.address() as Net.AddressInfo
          resume(Effect.succeed({
            url: `redis://127.0.0.1:${port}`,
            moveTo: (port: number) => {
              target = port
            },
            freeze: () => {
              for (const socket of sockets) frozen.add(socket)
            },
            close: () =>
              new Promise<void>((done) => {
                for (const socket of sockets) socket.destroy()
                server.close(() => done())
              })
          }))
        })
      }
    ),
    ({ close }) => Effect.promise(close)
  )
