/**
 * Test helpers: the Redis under test (`REDIS_URL`, probed once per file), random key prefixes and
 * their cleanup, and network stand-ins for a Redis that stops answering.
 */
import { assert, describe } from "@effect/vitest"
import { TokenStore, type WeChatError } from "@wxauth/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { Redis, type RedisOptions } from "ioredis"
import * as Crypto from "node:crypto"
import * as Net from "node:net"
import { maxStampBytes } from "../src/internal/scripts.js"

export const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"

/** A port nothing listens on: connections are refused at once. */
export const refusedUrl = "redis://127.0.0.1:1"

const probe = async (): Promise<string | undefined> => {
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 2000,
    commandTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null
  })
  let lastError: unknown
  redis.on("error", (error) => {
    lastError = error
  })
  try {
    await redis.connect()
    await redis.ping()
    return undefined
  } catch (error) {
    const cause = lastError ?? error
    return cause instanceof Error ? cause.message : String(cause)
  } finally {
    redis.disconnect()
  }
}

/** Whether `CI` says we run in CI: any value but unset, empty, `0` or `false` (`CI=1`, `CI=yes`, ...). */
export const isCi = (value: string | undefined): boolean =>
  value !== undefined && !["", "0", "false"].includes(value.trim().toLowerCase())

const unavailable = await probe()

if (unavailable !== undefined) {
  const message = `Redis at ${redisUrl} is unreachable (${unavailable})`
  if (isCi(process.env.CI)) {
    throw new Error(`${message}: CI needs it (start it, or set REDIS_URL)`)
  }
  console.warn(
    `\n!!! ${message}.\n!!! SKIPPING the @wxauth/store-redis tests. Start Redis (redis-server) or set REDIS_URL;` +
      ` in CI (CI set, and not 0 or false) this is a failure.\n`
  )
}

/** `describe` when Redis is reachable, `describe.skip` (after a loud warning) otherwise. */
export const describeRedis = (name: string, body: () => void): void => {
  describe.skipIf(unavailable !== undefined)(name, body)
}

/** A fresh key prefix per suite, so runs (and parallel suites) never collide. */
export const randomPrefix = (): string => `wxauth-test:${Crypto.randomBytes(6).toString("hex")}:`

/** An admin connection for the tests' own inspection of Redis (not the store's), opened on first use. */
export const makeAdmin = (): Redis => {
  const redis = new Redis(redisUrl, { connectionName: "wxauth-test-admin", maxRetriesPerRequest: 1, lazyConnect: true })
  redis.on("error", () => {})
  return redis
}

/** All keys under a prefix (SCAN, never KEYS). */
export const keysUnder = async (admin: Redis, prefix: string): Promise<Array<string>> => {
  const keys: Array<string> = []
  let cursor = "0"
  do {
    const [next, batch] = await admin.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000)
    cursor = next
    keys.push(...batch)
  } while (cursor !== "0")
  return keys
}

/** Deletes every key under a prefix. */
export const cleanup = async (admin: Redis, prefix: string): Promise<void> => {
  const keys = await keysUnder(admin, prefix)
  for (let i = 0; i < keys.length; i += 500) {
    await admin.del(...keys.slice(i, i + 500))
  }
}

/** The id of the connection named `name` in `CLIENT LIST`, if any. */
export const clientIds = async (admin: Redis, name: string): Promise<Array<string>> => {
  const list = (await admin.client("LIST")) as string
  return list.split("\n").filter((line) => line.includes(` name=${name} `)).map((line) =>
    /(?:^|\s)id=(\d+)/.exec(line)![1]
  )
}

/** A call to Redis on the test's own client, as an Effect (a rejection is a defect). */
export const redisCall = <A>(f: () => Promise<A>): Effect.Effect<A> => Effect.promise(f)

/**
 * The bytes Redis's Lua holds (`INFO memory`'s `used_memory_lua`). A string a script fetched stays
 * there until Lua's collector runs: a script that fetched a 20 MB field raises it by about 20 MB, one
 * that did not leaves it as it was.
 */
export const luaMemory = (admin: Redis): Effect.Effect<number> =>
  Effect.map(
    redisCall(() => admin.info("memory")),
    (info) => Number(/^used_memory_lua:(\d+)/m.exec(info)?.[1] ?? Number.NaN)
  )

/** The service `tag` of `layer`, built for the scope: a store or a lock on a connection of its own. */
export const serviceOf = <I, S, E>(
  tag: Context.Tag<I, S>,
  layer: Layer.Layer<I, E>
): Effect.Effect<S, E, Scope.Scope> => Effect.map(Layer.build(layer), Context.get(tag))

/**
 * A client of the test's own to `url` (a Redis, one that is down or one that never answers) that
 * ignores its connection errors, disconnected with the scope.
 */
export const quietClient = (url: string, options: RedisOptions = {}): Effect.Effect<Redis, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const client = new Redis(url, options)
      client.on("error", () => {})
      return client
    }),
    (client) => Effect.sync(() => client.disconnect())
  )

/**
 * The error building `layer` fails with, within 20 seconds; a layer that builds, or takes longer,
 * fails the test.
 */
export const layerFailure = <ROut, E>(layer: Layer.Layer<ROut, E>): Effect.Effect<E> =>
  Layer.build(layer).pipe(Effect.scoped, Effect.flip, Effect.timeout("20 seconds"), Effect.orDie)

/** A server that accepts connections and never answers: a Redis that hangs. */
export const blackhole: Effect.Effect<{ readonly url: string }, never, Scope.Scope> = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly server: Net.Server; readonly sockets: Set<Net.Socket> }>(
    (resume) => {
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer((socket) => {
        sockets.add(socket)
        socket.on("data", () => {})
        socket.on("error", () => {})
        socket.on("close", () => sockets.delete(socket))
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as Net.AddressInfo
        resume(Effect.succeed({ url: `redis://127.0.0.1:${port}`, server, sockets }))
      })
    }
  ),
  ({ server, sockets }) =>
    Effect.async<void>((resume) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resume(Effect.void))
    })
)

/**
 * A TCP proxy in front of the Redis under test whose `freeze` silently drops all traffic from then
 * on, connections left open: a network partition in the middle of a run; `down` closes its
 * connections and its port (Redis gone: reconnections refused).
 */
export const freezableProxy: Effect.Effect<
  { readonly url: string; readonly freeze: () => void; readonly down: Effect.Effect<void> },
  never,
  Scope.Scope
> = Effect.acquireRelease(
  Effect.async<{
    readonly url: string
    readonly freeze: () => void
    readonly down: Effect.Effect<void>
    readonly close: () => Promise<void>
  }>(
    (resume) => {
      const target = new URL(redisUrl)
      const sockets = new Set<Net.Socket>()
      let frozen = false
      const server = Net.createServer((client) => {
        const upstream = Net.connect(Number(target.port || 6379), target.hostname)
        sockets.add(client)
        sockets.add(upstream)
        client.on("data", (data) => frozen || upstream.write(data))
        upstream.on("data", (data) => frozen || client.write(data))
        const end = () => {
          client.destroy()
          upstream.destroy()
          sockets.delete(client)
          sockets.delete(upstream)
        }
        for (const socket of [client, upstream]) {
          socket.on("error", end)
          socket.on("close", end)
        }
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as Net.AddressInfo
        const url = new URL(redisUrl)
        url.hostname = "127.0.0.1"
        url.port = String(port)
        resume(Effect.succeed({
          url: url.toString(),
          freeze: () => {
            frozen = true
          },
          down: Effect.promise(() =>
            new Promise<void>((done) => {
              for (const socket of sockets) socket.destroy()
              server.close(() => done())
            })
          ),
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

/** The lines of `CLIENT LIST` for the connections named `name`. */
export const clientLines = async (admin: Redis, name: string): Promise<Array<string>> => {
  const list = (await admin.client("LIST")) as string
  return list.split("\n").filter((line) => line.includes(` name=${name} `))
}

/** The last argument of the stores' token read (the script in `scripts.ts`): the longest value it fetches. */
const tokenReadBound = String(TokenStore.maxStoredValueBytes)

/**
 * Whether `command` is the stores' read of a token (user or app): a script that checks the value's
 * length (`HSTRLEN`) and then runs `HMGET o v`, sent as `EVALSHA <sha> 1 <key> <bound> o`.
 */
const isTokenRead = (command: { readonly name: string; readonly args: ReadonlyArray<unknown> }): boolean =>
  command.name === "evalsha" && command.args.length === 6 && String(command.args[3]) === tokenReadBound &&
  String(command.args[4]) === String(maxStampBytes) && String(command.args[5]) === "o"

/**
 * A client of the test's own that counts the commands it sends, by name (`hmget`, `evalsha`, ...):
 * what reaches Redis, seen where it leaves. The stores' read of a token, a script in place of the
 * `HMGET o v` it was, is counted as `hmget` (and `evalsha`): `count("hmget")` counts the token reads
 * that reached Redis.
 */
export const countingClient = (
  options: { readonly connectionName?: string; readonly url?: string; readonly keyPrefix?: string } = {}
): Effect.Effect<{ readonly client: Redis; readonly count: (command: string) => number }, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const client = new Redis(options.url ?? redisUrl, {
        connectionName: options.connectionName ?? `wxauth-test-${Crypto.randomBytes(4).toString("hex")}`,
        maxRetriesPerRequest: 1,
        ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix })
      })
      client.on("error", () => {})
      const counts = new Map<string, number>()
      // a command sent before the connection is ready waits in ioredis's offline queue, which sends
      // it again through `sendCommand` once ready: count each command once, where it was first sent
      const counted = new WeakSet<object>()
      const send = client.sendCommand.bind(client)
      client.sendCommand = (command, stream) => {
        if (!counted.has(command)) {
          counted.add(command)
          counts.set(command.name, (counts.get(command.name) ?? 0) + 1)
          if (isTokenRead(command)) counts.set("hmget", (counts.get("hmget") ?? 0) + 1)
        }
        return send(command, stream)
      }
      return { client, count: (command: string) => counts.get(command) ?? 0 }
    }),
    ({ client }) => Effect.sync(() => client.disconnect())
  )

/**
 * A TCP proxy in front of the Redis under test that tells the near cache's connections (named
 * `...near-cache`) from the others. `holdFeeds` keeps what Redis sends to the near cache's
 * connections (invalidations, replies) until `releaseFeeds`: a slow network on that path only.
 */
export const feedHoldingProxy: Effect.Effect<
  { readonly url: string; readonly holdFeeds: () => void; readonly releaseFeeds: () => void },
  never,
  Scope.Scope
> = Effect.acquireRelease(
  Effect.async<
    {
      readonly url: string
      readonly holdFeeds: () => void
      readonly releaseFeeds: () => void
      readonly close: () => Promise<void>
    }
  >((resume) => {
    const target = new URL(redisUrl)
    const sockets = new Set<Net.Socket>()
    const feeds = new Set<{ readonly client: Net.Socket; held: Array<Buffer> | undefined }>()
    let holding = false
    const server = Net.createServer((client) => {
      const upstream = Net.connect(Number(target.port || 6379), target.hostname)
      sockets.add(client)
      sockets.add(upstream)
      let feed: { readonly client: Net.Socket; held: Array<Buffer> | undefined } | undefined
      client.on("data", (data) => {
        if (feed === undefined && data.includes("near-cache")) {
          feed = { client, held: holding ? [] : undefined }
          feeds.add(feed)
        }
        upstream.write(data)
      })
      upstream.on("data", (data) => {
        if (feed?.held !== undefined) feed.held.push(data)
        else client.write(data)
      })
      const end = () => {
        client.destroy()
        upstream.destroy()
        sockets.delete(client)
        sockets.delete(upstream)
        if (feed !== undefined) feeds.delete(feed)
      }
      for (const socket of [client, upstream]) {
        socket.on("error", end)
        socket.on("close", end)
      }
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as Net.AddressInfo
      const url = new URL(redisUrl)
      url.hostname = "127.0.0.1"
      url.port = String(port)
      resume(Effect.succeed({
        url: url.toString(),
        holdFeeds: () => {
          holding = true
          for (const feed of feeds) feed.held ??= []
        },
        releaseFeeds: () => {
          holding = false
          for (const feed of feeds) {
            const held = feed.held ?? []
            feed.held = undefined
            for (const data of held) feed.client.write(data)
          }
        },
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          })
      }))
    })
  }),
  ({ close }) => Effect.promise(close)
)

/**
 * Reads until a get makes no round trip (the near cache's feed is live and the entry tracked), in
 * real time whatever clock is in context (the feed's connections are real): 20 ms apart, `attempts`
 * times (5 s by default), then fails the test.
 */
export const untilServedFromMemory = (
  store: TokenStore.TokenStoreShape,
  count: (command: string) => number,
  appId: string,
  openid: string,
  attempts = 250
): Effect.Effect<void, WeChatError.TokenStoreError> =>
  Effect.gen(function*() {
    for (let i = 0; i < attempts; i++) {
      const before = count("hmget")
      yield* store.get(appId, openid)
      if (count("hmget") === before) return
      yield* Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 20)))
    }
    assert.fail("the near cache never served the token")
  })
