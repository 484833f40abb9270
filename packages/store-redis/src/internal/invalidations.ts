/**
 * The near cache's invalidation feed: Redis client-side caching in broadcasting mode, over RESP2
 * (ioredis speaks no RESP3). For each Redis node, a connection of the feed's own (a `duplicate` of
 * the data connection: same address, credentials and TLS):
 *
 * ```
 * CLIENT ID                                                  -> <id>
 * INFO server (and on the data connection too)               -> run_id: the same on both
 * CLIENT TRACKING on REDIRECT <id> BCAST PREFIX <keyPrefix>{
 * SUBSCRIBE __redis__:invalidate
 * ```
 *
 * From then on Redis publishes, on that connection, the name of every key under the prefix that any
 * client changes (a write, a delete, an expiry, an eviction; `null` for `FLUSHALL`). In broadcasting
 * mode Redis remembers no per-key state for us, so the feed works for any number of keys. The
 * connection redirects its invalidations to itself: it is both the tracking client and the
 * subscriber, so there is one connection whose loss stops the feed, not two. Only `{`-tagged keys
 * (tokens, locks, session keys) are tracked: code memos, which are never cached, send nothing.
 *
 * The feed is live when every node's connection has confirmed both commands, the data connection
 * is up, and both reach the same server: the handshake compares the `run_id` of `INFO server` on the
 * feed's connection and on the data connection, and a node whose two differ (a DNS name or virtual
 * address that moved while one of them reconnected) keeps the cache off, with a warning, until a
 * later handshake finds them together. Every reconnect of either connection is followed by a
 * handshake: the feed's own, and after the data connection's the feed reconnects too (e.g. after a
 * Sentinel failover). Anything that may lose an invalidation ends a live period (see
 * `tokenCache.ts` for what that does to the entries): a feed connection that closes or fails its
 * heartbeat `PING`, a data connection that closes or reconnects, a Cluster node that joins or leaves.
 * A Cluster is fed from every node, replicas included: the node a failover promotes is already
 * tracked. A Redis that refuses client tracking or `INFO` (before 6.0, or an ACL without `CLIENT` or
 * `INFO`), or whose `INFO server` has no `run_id`, turns the near cache off for good, with a warning;
 * so does a heartbeat that cannot run (a connection whose `ping` throws or gives no promise: a client
 * that passed the build's checks and can no longer be checked), never a throw out of a timer, and a
 * Cluster node that joins and cannot be followed, never a throw out of a listener.
 */
import type { Cluster, Redis } from "ioredis"
import { type Client, errorField, isA } from "./client.js"
import type { TokenCache } from "./tokenCache.js"

/** The channel of RESP2 invalidation messages. */
export const channel = "__redis__:invalidate"

export interface FeedOptions {
  /** The store's key prefix: keys under `<keyPrefix>{` are tracked. */
  readonly keyPrefix: string
  /** A bound on each command of the feed (the handshake, the heartbeat). */
  readonly commandMillis: number
  /** Called once when Redis refuses client tracking or `INFO` (or has no `run_id`): the near cache stays off. */
  readonly onUnsupported: (reason: string) => void
  /** Called when a node's feed connection and data connection reach different servers: the cache is off meanwhile. */
  readonly onSplit: (node: string) => void
  /**
   * Called once when the feed stops for good because it can no longer check what the cache serves
   * (see `InvalidationFeed.stop`), with a reason of the feed's own (it quotes no error of the client).
   */
  readonly onStopped: (reason: string) => void
}

/** Reply errors that say "not now" rather than "never". */
const transient = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|NOREPLICAS)\b/

/** Runs `f`, ignoring a throw: tearing down what a client of the caller's (or a Proxy) may refuse. */
const attempt = (f: () => void): void => {
  try {
    f()
  } catch {
    // nothing more to undo
  }
}

/** The methods of a connection the feed uses: a `duplicate()` without them gives no connection. */
const connectionMethods = ["on", "connect", "disconnect", "client", "info", "call", "subscribe", "ping"] as const

const isConnection = (value: unknown): value is Redis =>
  typeof value === "object" && value !== null &&
  connectionMethods.every((method) => typeof (value as Record<string, unknown>)[method] === "function")

/** A heartbeat the client would not run: its `ping` threw or gave no promise. */
class NoHeartbeat extends Error {}

/** Whether `value` can be awaited; `false` when reading its `then` throws (a Proxy). */
const isThenable = (value: unknown): value is PromiseLike<unknown> => {
  try {
    return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function"
  } catch {
    return false
  }
}

/** A `duplicate()` that gave no connection. */
class NoConnection extends Error {
  constructor() {
    super("the client's duplicate() gave no connection")
  }
}

/** Rejects after `millis`, whatever the connection does. */
const withDeadline = <A>(promise: PromiseLike<A>, millis: number): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${millis} ms`)), millis)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error) => {
        clearTimeout(timer)
        reject(error)
      }
    )
  })

const textOf = (value: unknown): string =>
  typeof value === "string" ? value : Buffer.isBuffer(value) ? value.toString("utf8") : ""

const nodeName = (node: Redis): string => `${node.options.host ?? "127.0.0.1"}:${node.options.port ?? 6379}`

/** The server a connection reaches: `INFO server`'s `run_id`, random for each start of a Redis process. */
const serverOf = async (connection: Redis, millis: number): Promise<string> => {
  const info = textOf(await withDeadline(connection.info("server"), millis))
  const runId = /^run_id:([0-9a-fA-F]+)\s*$/m.exec(info)?.[1]
  if (runId === undefined) throw new NoServerId()
  return runId
}

/** `INFO server` answered without a `run_id`: which server a connection reaches cannot be told. */
class NoServerId extends Error {
  constructor() {
    super("INFO server has no run_id: the near cache cannot check that its connections reach one server")
  }
}

/** One node's feed connection. */
interface NodeFeed {
  /** The client's connection to the node (the data connection). */
  readonly data: Redis
  readonly sub: Redis
  /** Both commands confirmed on the current connection. */
  tracking: boolean
  /** Counts connections, so a handshake of a connection since lost changes nothing. */
  generation: number
  /** Removes the listeners put on the node's data connection (Cluster). */
  readonly detach: () => void
  /** The node's name, for log lines. */
  readonly name: string
}

export class InvalidationFeed {
  private readonly nodes = new Map<string, NodeFeed>()
  private readonly detachers: Array<() => void> = []
  private closed = false
  private dataDown = false
  /** Off for good: Redis refused client tracking, or the feed stopped (see `stop`). */
  private disabled = false
  /** A primary that the cluster reports has no live feed yet (a failover promoted a node not fed). */
  private topologyBehind = false
  private readonly cluster: Cluster | undefined
  /** The client's own ioredis `keyPrefix`: part of the key names Redis reports, not of ours. */
  private readonly clientPrefix: string
  private readonly trackedPrefix: string

  /**
   * Follows the client's nodes. Throws when the client cannot be followed (its `options`, `status`,
   * `isCluster` or `on` throw, or its `duplicate()` throws or gives no connection), after undoing
   * what it had set up: no listener stays on the client, no connection stays open.
   */
  constructor(redis: Client, private readonly cache: TokenCache, private readonly options: FeedOptions) {
    try {
      this.clientPrefix = textOf(redis.options.keyPrefix)
      this.trackedPrefix = `${this.clientPrefix}${options.keyPrefix}{`
      // `isCluster` rather than `instanceof`: the client may come from another copy of ioredis
      this.cluster = redis.isCluster ? redis as Cluster : undefined
      if (this.cluster !== undefined) this.followCluster(this.cluster)
      else this.followSingle(redis as Redis)
      this.update()
    } catch (error) {
      this.close()
      throw error
    }
  }

  /** One node; when its data connection closes, the feed reconnects after it (it may reach another server). */
  private followSingle(redis: Redis) {
    this.dataDown = redis.status !== "ready"
    this.add("single", redis, (node) => {
      let resync = false
      const onClose = () => {
        resync = true
        this.dataDown = true
        this.update()
      }
      const onReady = () => {
        this.dataDown = false
        if (resync) {
          resync = false
          this.resync(node)
        }
        this.update()
      }
      const detach = () => {
        attempt(() => redis.removeListener("close", onClose))
        attempt(() => redis.removeListener("ready", onReady))
      }
      try {
        redis.on("close", onClose)
        redis.on("ready", onReady)
      } catch (error) {
        detach()
        throw error
      }
      return detach
    })
  }

  /**
   * The node's data connection is back after a close: it may reach another server now, so the feed
   * reconnects (and is not live until its handshake has checked that both reach the same one).
   */
  private resync(node: NodeFeed) {
    if (this.nodes.get(node.name) !== node) return
    this.lost(node)
    attempt(() => node.sub.disconnect(true))
  }

  /**
   * Every node of the cluster, as ioredis' topology changes: its `+node` / `-node` events, and after
   * each refresh of the slots a comparison with its nodes (a node dropped without an event is dropped
   * here too, so a dead node does not keep the cache off for good). A node that joins and cannot
   * be followed (its `duplicate()` throws or gives no connection) stops the feed for good (`stop`):
   * no listener throws into ioredis' emitter.
   */
  private followCluster(cluster: Cluster) {
    const follow = (name: string, node: Redis) =>
      this.add(name, node, (feed) => {
        let resync = false
        const onDataClose = () => {
          resync = true
          this.cache.invalidateAll()
        }
        const onDataReady = () => {
          if (!resync) return
          resync = false
          this.resync(feed)
          this.update()
        }
        const detach = () => {
          attempt(() => node.removeListener("close", onDataClose))
          attempt(() => node.removeListener("ready", onDataReady))
        }
        try {
          node.on("close", onDataClose)
          node.on("ready", onDataReady)
        } catch (error) {
          detach()
          throw error
        }
        return detach
      })
    // ioredis runs these listeners from its own code: a throw would escape to its emitter, uncaught.
    // A node the feed cannot follow (its options or duplicate() throw, or it gives no connection)
    // leaves the feed without its invalidations: the feed stops for good, with a warning.
    const onAdd = (node: Redis) => {
      let name = "(no address)"
      try {
        name = nodeName(node)
        follow(name, node)
        this.cache.invalidateAll()
        this.update()
      } catch {
        this.stop(`a Cluster node joined that the near cache cannot follow: ${name.slice(0, 300)}`)
      }
    }
    const onRemove = (node: Redis) => {
      try {
        const name = nodeName(node)
        if (this.nodes.get(name)?.data !== node) return
        this.remove(name)
        // what the node held may be answered by another now
        this.cache.invalidateAll()
        this.update()
      } catch {
        this.stop("a Cluster node left that the near cache cannot tell")
      }
    }
    const onRefresh = () => {
      try {
        refresh()
      } catch {
        this.stop("the Cluster's nodes cannot be followed after a refresh of its slots")
      }
    }
    const refresh = () => {
      const present = new Map(cluster.nodes("all").map((node) => [nodeName(node), node] as const))
      let changed = false
      for (const [name, node] of this.nodes) {
        if (present.get(name) !== node.data) {
          this.remove(name)
          changed = true
        }
      }
      for (const [name, node] of present) {
        if (!this.nodes.has(name)) {
          follow(name, node)
          changed = true
        }
      }
      if (changed) {
        this.cache.invalidateAll()
        this.update()
      }
    }
    this.detachers.push(() => {
      attempt(() => cluster.removeListener("+node", onAdd))
      attempt(() => cluster.removeListener("-node", onRemove))
      attempt(() => cluster.removeListener("refresh", onRefresh))
    })
    cluster.on("+node", onAdd)
    cluster.on("-node", onRemove)
    cluster.on("refresh", onRefresh)
    for (const node of cluster.nodes("all")) follow(nodeName(node), node)
  }

  /** Follows a node: its feed connection, and the listeners `attach` puts on its data connection. */
  private add(name: string, data: Redis, attach: (node: NodeFeed) => () => void) {
    this.remove(name)
    if (this.disabled || this.closed) return
    const sub: unknown = data.duplicate({
      connectionName: `${data.options.connectionName ?? "wxauth"}-near-cache`,
      keyPrefix: undefined,
      lazyConnect: true,
      readOnly: false,
      autoResubscribe: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      // the feed reconnects as long as the store lives, whatever the data connection's strategy
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000)
    })
    if (!isConnection(sub)) throw new NoConnection()
    let detach = () => {}
    const node: NodeFeed = { data, sub, tracking: false, generation: 0, detach: () => detach(), name }
    this.nodes.set(name, node)
    detach = attach(node)
    sub.on("error", () => {})
    sub.on("close", () => this.lost(node))
    sub.on("ready", () => void this.handshake(node))
    sub.on("messageBuffer", (from: unknown, message: unknown) => {
      if (textOf(from) === channel) this.onInvalidation(message)
    })
    sub.connect().catch(() => {
      // ioredis reconnects by the retry strategy
    })
  }

  private remove(name: string) {
    const node = this.nodes.get(name)
    if (node === undefined) return
    this.nodes.delete(name)
    node.generation++
    attempt(node.detach)
    attempt(() => node.sub.disconnect(false))
  }

  private lost(node: NodeFeed) {
    node.generation++
    node.tracking = false
    this.update()
  }

  private async handshake(node: NodeFeed) {
    const generation = ++node.generation
    const { commandMillis } = this.options
    try {
      const id = await withDeadline(node.sub.client("ID"), commandMillis)
      // both connections must reach one server, or the feed hears of writes the reads never see (a
      // DNS name or virtual address that moved while one of them reconnected). Asked before SUBSCRIBE,
      // after which the feed's connection takes no other command.
      const [feedServer, dataServer] = await Promise.all([
        serverOf(node.sub, commandMillis),
        serverOf(node.data, commandMillis)
      ])
      if (generation !== node.generation || this.closed) return
      if (feedServer !== dataServer) {
        // not live until a later handshake (after either connection reconnects) finds them together
        this.lost(node)
        this.options.onSplit(nodeName(node.data))
        return
      }
      await withDeadline(
        node.sub.call("CLIENT", "TRACKING", "on", "REDIRECT", String(id), "BCAST", "PREFIX", this.trackedPrefix),
        commandMillis
      )
      await withDeadline(node.sub.subscribe(channel), commandMillis)
      if (generation !== node.generation || this.closed) return
      node.tracking = true
      this.update()
    } catch (error) {
      if (generation !== node.generation || this.closed) return
      const message = errorField(error, "message") ?? "unknown error"
      const refused = errorField(error, "name") === "ReplyError" && !transient.test(message)
      if (refused || isA(error, NoServerId)) {
        this.disabled = true
        this.update()
        this.options.onUnsupported(message.slice(0, 200))
        for (const name of [...this.nodes.keys()]) this.remove(name)
        return
      }
      this.lost(node)
      attempt(() => node.sub.disconnect(true))
    }
  }

  private onInvalidation(message: unknown) {
    if (message === null || message === undefined) {
      // FLUSHALL / FLUSHDB: every key may have changed
      this.cache.invalidateAll()
      return
    }
    const keys = Array.isArray(message) ? message : [message]
    for (const raw of keys) {
      const key = textOf(raw)
      if (this.clientPrefix === "") this.cache.invalidate(key)
      else if (key.startsWith(this.clientPrefix)) this.cache.invalidate(key.slice(this.clientPrefix.length))
    }
  }

  private update() {
    let live = !this.closed && !this.disabled && !this.dataDown && !this.topologyBehind && this.nodes.size > 0
    if (live) {
      for (const node of this.nodes.values()) {
        if (!node.tracking) {
          live = false
          break
        }
      }
    }
    if (live !== this.cache.isLive) this.cache.setLive(live)
  }

  /**
   * `PING`s every tracking connection: one that does not answer in time (a silent network, a stalled
   * server) ends the live period and reconnects, so a lost invalidation is not trusted for longer
   * than the heartbeat's period plus `commandMillis`. On a Cluster, also asks which nodes are
   * primaries now (`CLUSTER SLOTS`): ioredis only learns of a failover when a command is redirected,
   * and a near cache that answers sends none, so a primary without a live feed (one that a failover
   * promoted) ends the live period until its feed is up. Never throws nor rejects: a heartbeat that
   * cannot run (a `ping` that throws or gives no promise, a `CLUSTER SLOTS` call that throws or an
   * answer that cannot be read) stops the feed for good (`stop`), so the cache never outlives its checks.
   */
  heartbeat(): Promise<void> {
    if (!this.running) return Promise.resolve()
    let pings: Array<Promise<void>>
    try {
      pings = [...this.nodes.values()].filter((node) => node.tracking).map((node) => this.ping(node))
      const cluster = this.cluster
      if (cluster !== undefined) pings.push(this.checkPrimaries(cluster))
    } catch (error) {
      // a client that can no longer be checked: the cache must not go on serving what it cannot verify
      this.stop(isA(error, NoHeartbeat) ? error.message : "the heartbeat could not run")
      return Promise.resolve()
    }
    return Promise.all(pings).then(() => undefined, () => this.stop("the heartbeat could not run"))
  }

  /**
   * One node's `PING`: no answer in time (or a rejection) ends the live period and reconnects, as a
   * lost connection does. Throws `NoHeartbeat` when `ping` throws or gives no promise.
   */
  private ping(node: NodeFeed): Promise<void> {
    const generation = node.generation
    let reply: unknown
    try {
      reply = node.sub.ping()
    } catch {
      throw new NoHeartbeat("the heartbeat's PING threw")
    }
    if (!isThenable(reply)) throw new NoHeartbeat("the heartbeat's PING gave no promise")
    return withDeadline(reply, this.options.commandMillis).then(
      () => undefined,
      () => {
        if (generation !== node.generation || this.closed) return
        this.lost(node)
        attempt(() => node.sub.disconnect(true))
      }
    )
  }

  private checkPrimaries(cluster: Cluster): Promise<void> {
    return withDeadline(cluster.cluster("SLOTS"), this.options.commandMillis).then(
      (ranges) => ranges.some(([, , primary]) => !this.nodes.get(this.mapped(cluster, primary))?.tracking),
      () => true
    ).then((behind) => {
      if (this.closed) return
      // ioredis learns the new topology (and emits +node) from a refresh of its own
      if (behind) cluster.refreshSlotsCache()
      if (behind !== this.topologyBehind) {
        this.topologyBehind = behind
        this.update()
      }
    })
  }

  /** A node's name as ioredis knows it: its address through the client's `natMap`, if any. */
  private mapped(cluster: Cluster, node: ReadonlyArray<unknown>): string {
    const name = `${textOf(node[0]) || String(node[0])}:${String(node[1])}`
    const natMap: unknown = cluster.options.natMap
    const to = typeof natMap === "function"
      ? natMap(name)
      : typeof natMap === "object" && natMap !== null
      ? (natMap as Record<string, unknown>)[name]
      : undefined
    if (typeof to !== "object" || to === null) return name
    const { host, port } = to as { readonly host?: unknown; readonly port?: unknown }
    return `${String(host)}:${String(port)}`
  }

  /** Whether the feed may still go live: not closed, not off for good (the heartbeat runs while it is). */
  get running(): boolean {
    return !this.closed && !this.disabled
  }

  /**
   * Turns the near cache off for good (nothing is served from it again: reads go to Redis) and closes
   * the feed's connections, then reports `reason` once through `onStopped`: for a feed that can no
   * longer check what the cache serves. Does nothing once closed or off.
   */
  stop(reason: string): void {
    if (!this.running) return
    this.disabled = true
    this.update()
    for (const name of [...this.nodes.keys()]) this.remove(name)
    this.options.onStopped(reason)
  }

  /** Whether the feed is live (for tests and logs). */
  get isLive(): boolean {
    return this.cache.isLive
  }

  /** Stops the feed: nothing is served from the near cache any more, and the feed's connections close. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.update()
    for (const detach of this.detachers) attempt(detach)
    for (const name of [...this.nodes.keys()]) this.remove(name)
  }
}
