/**
 * A real Redis Cluster for the tests: 3 primaries and 3 replicas started on loopback ports (7101-7106
 * by default, or the next free block of 6), each a `redis-server --cluster-enabled yes` of its own
 * in a temporary directory, joined by `redis-cli --cluster create --cluster-replicas 1`. Torn down
 * (SHUTDOWN NOSAVE, then SIGKILL of the process ids it reported) with its directory.
 */
import { Redis } from "ioredis"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Util from "node:util"
import { isCi } from "./utils.js"

const execFile = Util.promisify(ChildProcess.execFile)

const onPath = (command: string): boolean =>
  ChildProcess.spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0

/** Why the cluster cannot be started here, if it cannot: missing programs. */
export const missing: string | undefined = ["redis-server", "redis-cli"].filter((command) => !onPath(command))
  .join(", ") || undefined

if (missing !== undefined) {
  const message = `${missing} not found on PATH: the Redis Cluster tests cannot start a cluster`
  if (isCi(process.env.CI)) throw new Error(`${message}; CI needs it (install redis-server, Redis 7)`)
  console.warn(`\n!!! ${message}.\n!!! SKIPPING the Redis Cluster tests. In CI this is a failure.\n`)
}

const portFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = Net.createServer()
    server.once("error", () => resolve(false))
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)))
  })

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** Polls `check` every 50 ms until it holds, failing with `what` after `millis`. */
export const until = async (what: string, check: () => Promise<boolean>, millis = 15_000): Promise<void> => {
  const deadline = Date.now() + millis
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

/** One command on a short-lived connection to a node. */
export const onNode = async <A>(port: number, f: (redis: Redis) => Promise<A>): Promise<A> => {
  const redis = new Redis({
    port,
    host: "127.0.0.1",
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null
  })
  redis.on("error", () => {})
  try {
    await redis.connect()
    return await f(redis)
  } finally {
    redis.disconnect()
  }
}

export interface ClusterNode {
  readonly port: number
  readonly pid: number
}

export interface TestCluster {
  readonly nodes: ReadonlyArray<ClusterNode>
  /** The primary's and a replica's port for a slot, as the cluster says now. */
  readonly ownersOf: (slot: number) => Promise<{ readonly primary: number; readonly replica: number | undefined }>
  /** Waits until every live node says `cluster_state:ok` and agrees on who serves `slot`. */
  readonly settled: (slot: number) => Promise<void>
  /** Kills a node's process at once (SIGKILL): a crashed primary. */
  readonly kill: (port: number) => void
  readonly close: () => Promise<void>
}

const freeBlock = async (): Promise<number> => {
  for (let base = Number(process.env.WXAUTH_CLUSTER_PORT ?? 7101); base < 7400; base += 10) {
    const ports = Array.from({ length: 6 }, (_, i) => base + i)
    const free = await Promise.all(ports.flatMap((port) => [portFree(port), portFree(port + 10_000)]))
    if (free.every(Boolean)) return base
  }
  throw new Error("no 6 free ports (and their cluster bus ports) from 7101 to 7400")
}

/** Starts the cluster and waits until it is ready (`cluster_state:ok` on every node). */
export const startCluster = async (): Promise<TestCluster> => {
  const base = await freeBlock()
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "wxauth-cluster-"))
  const ports = Array.from({ length: 6 }, (_, i) => base + i)
  const nodes: Array<ClusterNode> = []
  const killed = new Set<number>()
  const close = async () => {
    for (const node of nodes) {
      if (killed.has(node.port)) continue
      await onNode(node.port, (redis) => redis.shutdown("NOSAVE")).catch(() => {})
    }
    await sleep(100)
    for (const node of nodes) {
      try {
        process.kill(node.pid, 0)
        process.kill(node.pid, "SIGKILL")
      } catch {
        // gone already
      }
    }
    Fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (const port of ports) {
      await execFile("redis-server", [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        `nodes-${port}.conf`,
        // a primary is failed over 1 s after it stops answering, whatever its replica's lag
        "--cluster-node-timeout",
        "1000",
        "--cluster-replica-validity-factor",
        "0",
        // the other primaries keep serving while one is failed over
        "--cluster-require-full-coverage",
        "no",
        "--dir",
        dir,
        "--logfile",
        Path.join(dir, `${port}.log`),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "yes"
      ])
    }
    for (const port of ports) {
      await until(`redis-server on ${port}`, () => onNode(port, async (redis) => (await redis.ping()) === "PONG"))
      const info = await onNode(port, (redis) => redis.info("server"))
      nodes.push({ port, pid: Number(/process_id:(\d+)/.exec(info)![1]) })
    }
    await execFile("redis-cli", [
      "--cluster",
      "create",
      ...ports.map((port) => `127.0.0.1:${port}`),
      "--cluster-replicas",
      "1",
      "--cluster-yes"
    ], { timeout: 30_000 })
    for (const port of ports) {
      await until(`cluster_state:ok on ${port}`, () =>
        onNode(port, async (redis) => {
          const info = (await redis.cluster("INFO")) as string
          const known = Number(/cluster_known_nodes:(\d+)/.exec(info)?.[1])
          return info.includes("cluster_state:ok") && known === 6
        }))
    }
    // CLUSTER SLOTS lists a replica only once its replication offset moved: a write on each primary
    const ranges = await onNode(ports[0], (redis) => redis.cluster("SLOTS"))
    for (const [start, end, [, primaryPort]] of ranges) {
      let n = 0
      while (
        !(await onNode(ports[0], async (redis) => {
          const slot = Number(await redis.cluster("KEYSLOT", `{warm-${n}}`))
          return start <= slot && slot <= end
        }))
      ) n++
      await onNode(Number(primaryPort), (redis) => redis.set(`{warm-${n}}`, "1").then(() => redis.del(`{warm-${n}}`)))
    }
    for (const port of ports) {
      await until(`the replicas in CLUSTER SLOTS on ${port}`, () =>
        onNode(port, async (redis) => {
          const slots = await redis.cluster("SLOTS")
          return slots.length === 3 && slots.every((range) => range.length === 4)
        }))
    }
  } catch (error) {
    await close()
    throw error
  }

  const live = () => nodes.filter((node) => !killed.has(node.port))
  const ownersOf = (slot: number) =>
    onNode(live()[0].port, async (redis) => {
      const ranges = await redis.cluster("SLOTS")
      const range = ranges.find(([start, end]) => start <= slot && slot <= end)
      if (range === undefined) throw new Error(`no node serves slot ${slot}`)
      const [, , primary, replica] = range
      return { primary: Number(primary[1]), replica: replica === undefined ? undefined : Number(replica[1]) }
    })
  return {
    nodes,
    ownersOf,
    settled: async (slot) => {
      await until("the cluster to settle", async () => {
        const views = await Promise.all(
          live().map((node) =>
            onNode(node.port, async (redis) => {
              const info = (await redis.cluster("INFO")) as string
              const ranges = await redis.cluster("SLOTS")
              const range = ranges.find(([start, end]) => start <= slot && slot <= end)
              return info.includes("cluster_state:ok") ? range?.[2]?.[1] : undefined
            })
          )
        )
        return views[0] !== undefined && views.every((view) => view === views[0])
      }, 20_000)
    },
    kill: (port) => {
      const node = nodes.find((node) => node.port === port)!
      killed.add(port)
      process.kill(node.pid, "SIGKILL")
    },
    close
  }
}
