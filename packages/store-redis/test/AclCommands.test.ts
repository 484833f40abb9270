/**
 * The README's list of the commands a Redis user limited by ACL needs (section "Redis ACLs"):
 * exactly the commands the sources send (each script's `redis.call`s included, read from src/) and
 * those ioredis sends on a connection; and the stores, the lock and the near cache working as a user
 * allowed those commands alone, on a redis-server of the test's own (Redis checks every command a
 * script runs against the ACL, when it runs: the cases below run the scripts' branches too).
 */
import { assert, describe, it } from "@effect/vitest"
import { TokenStore } from "@wxauth/core"
import {
  appTokenStoreSuite,
  makeToken,
  randomAppId,
  randomOpenId,
  randomSessionKey,
  sessionKeyStoreSuite,
  sessionStoreSuite,
  tokenStoreSuite
} from "@wxauth/core/testing"
import {
  RedisAppTokenStore,
  RedisRefreshLock,
  RedisSessionKeyStore,
  RedisSessionStore,
  RedisTokenStore
} from "@wxauth/store-redis"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import { Redis } from "ioredis"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Url from "node:url"
import { missing, redisServer } from "./servers.js"
import { countingClient, redisCall } from "./utils.js"

const here = Path.dirname(Url.fileURLToPath(import.meta.url))

/** The commands the README's `ACL SETUSER` line allows (`+name`, `+client|id`), in lower case. */
const listed: ReadonlyArray<string> = (() => {
  const readme = Fs.readFileSync(Path.join(here, "../README.md"), "utf8")
  const marker = readme.indexOf("<!-- acl-commands")
  const line = marker < 0 ? undefined : /```\n(ACL SETUSER [^\n]*)\n```/.exec(readme.slice(marker))?.[1]
  return line === undefined ?
    [] :
    line.split(/\s+/).filter((word) => word.startsWith("+")).map((word) => word.slice(1).toLowerCase())
})()

/** Commands whose first argument names the command run (`CLIENT ID`): listed as `client|id`. */
const containers = new Set(["acl", "client", "cluster", "command", "config", "function", "memory", "object", "script"])

/** Methods of an ioredis client that send no command of their own. */
const notCommands = new Set([
  "call",
  "connect",
  "defineCommand",
  "disconnect",
  "duplicate",
  "nodes",
  "off",
  "on",
  "once",
  "removeListener"
])

/**
 * What ioredis sends on a connection the stores open: its ready check, the connection's name, the
 * db (and `CLIENT SETINFO`, which Redis 7.0 does not know, so no list can name it there; refused,
 * it is ignored).
 */
const sentByIoredis = ["info", "client|setname", "select"]

const sourceFiles = (dir: string): ReadonlyArray<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(Path.join(dir, entry.name))
      : entry.name.endsWith(".ts")
      ? [Path.join(dir, entry.name)]
      : []
  )

/** Every command `source` sends, with where: a script's `redis.call("X", ...)`, a client's method or `call`. */
const commandsOf = (source: string): ReadonlyArray<string> => {
  const found: Array<string> = []
  const add = (name: string, sub: string | undefined) =>
    found.push(containers.has(name) && sub !== undefined ? `${name}|${sub.toLowerCase()}` : name)
  // redis.call("HGET", ...) in Lua; client.call("CLIENT", "TRACKING", ...) in TypeScript
  for (const match of source.matchAll(/\.p?call\(\s*"([A-Za-z]+)"(?:\s*,\s*"([A-Za-z]+)")?/g)) {
    add(match[1].toLowerCase(), match[2])
  }
  // a client's method: redis.hmget(...), node.sub.client("ID"), connection.info("server")
  for (const match of source.matchAll(/\b(?:redis|client|sub|connection)\.([a-z][A-Za-z]*)\(\s*(?:"([A-Za-z]+)")?/g)) {
    // ioredis's `…Buffer` variants send the same command, answering bytes
    if (!notCommands.has(match[1])) add(match[1].replace(/Buffer$/, "").toLowerCase(), match[2])
  }
  // a script: EVALSHA, or EVAL on a connection's first call of it
  if (source.includes("defineCommand(")) found.push("eval", "evalsha")
  return found
}

describe("the README's ACL list", () => {
  it("is exactly the commands the sources send (scripts included) and those ioredis sends", () => {
    assert.isAbove(listed.length, 10, "the README has the list under <!-- acl-commands -->")
    const sent = new Map<string, Array<string>>()
    for (const file of sourceFiles(Path.join(here, "../src"))) {
      for (const command of commandsOf(Fs.readFileSync(file, "utf8"))) {
        sent.set(command, [...(sent.get(command) ?? []), Path.basename(file)])
      }
    }
    for (const command of sentByIoredis) sent.set(command, ["ioredis"])
    // the scan finds what it must (a change of the sources' shape would leave it finding nothing)
    for (const command of ["hstrlen", "strlen", "pttl", "renamenx", "client|tracking", "subscribe", "quit"]) {
      assert.isTrue(sent.has(command), `the scan finds ${command}`)
    }
    const missingFromList = [...sent.keys()].filter((command) => !listed.includes(command))
    assert.deepStrictEqual(
      missingFromList.map((command) => `${command} (${[...new Set(sent.get(command))].join(", ")})`),
      [],
      "sent, but not in the README's list"
    )
    assert.deepStrictEqual(listed.filter((command) => !sent.has(command)), [], "in the list, but sent by nothing")
  })
})

/** A logger that keeps every line, as a layer to provide. */
const capturingLogger = () => {
  const lines: Array<string> = []
  const layer = Logger.replace(Logger.defaultLogger, Logger.map(Logger.logfmtLogger, (line) => lines.push(line)))
  return { lines, layer }
}

/** Real time, whatever clock is in context. */
const pause = (millis: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

describe.skipIf(missing !== undefined)("as a Redis user allowed the README's ACL list alone", () => {
  const prefix = `wxauth-acl:${Crypto.randomBytes(4).toString("hex")}:`

  /**
   * A redis-server of the scope's own with a user allowed the README's commands alone, on the keys
   * under `prefix` and the near cache's channel, as the README's line says: its URL, and an admin
   * client (the default user) to plant values with.
   */
  const aclServer = Effect.gen(function*() {
    const server = yield* redisServer
    const admin = yield* Effect.acquireRelease(
      Effect.sync(() => new Redis(server.url, { maxRetriesPerRequest: 1 }).on("error", () => {})),
      (client) => Effect.sync(() => client.disconnect())
    )
    yield* redisCall(() =>
      admin.call(
        "ACL",
        "SETUSER",
        "wxauth",
        "on",
        ">a-password",
        "resetkeys",
        `~${prefix}*`,
        "resetchannels",
        "&__redis__:invalidate",
        "-@all",
        ...listed.map((command) => `+${command}`)
      )
    )
    return { admin, url: `redis://wxauth:a-password@127.0.0.1:${server.port}` }
  })

  const asUser = <A, E>(make: (url: string) => Layer.Layer<A, E>) =>
    Layer.unwrapScoped(Effect.map(aclServer, ({ url }) => make(url)))

  tokenStoreSuite("redis, as the ACL user", asUser((url) => RedisTokenStore.layer({ url, keyPrefix: prefix })))
  appTokenStoreSuite("redis, as the ACL user", asUser((url) => RedisAppTokenStore.layer({ url, keyPrefix: prefix })))
  sessionKeyStoreSuite(
    "redis, as the ACL user",
    asUser((url) => RedisSessionKeyStore.layer({ url, keyPrefix: prefix }))
  )
  sessionStoreSuite("redis, as the ACL user", asUser((url) => RedisSessionStore.layer({ url, keyPrefix: prefix })))

  it.scopedLive("the near cache goes live, and the bounded reads run both branches", () =>
    Effect.gen(function*() {
      const { admin, url } = yield* aclServer
      const { client, count } = yield* countingClient({ url })
      const captured = capturingLogger()
      const store = yield* RedisTokenStore.makeScoped(client, { keyPrefix: prefix }).pipe(
        Effect.provide(captured.layer)
      )
      const appId = randomAppId()
      const token = yield* makeToken()
      yield* store.set(appId, token)
      let served = false
      for (let i = 0; i < 250 && !served; i++) {
        const before = count("hmget")
        assert.isTrue(Option.isSome(yield* store.get(appId, token.openid)))
        served = count("hmget") === before
        if (!served) yield* pause(20)
      }
      assert.isTrue(served, "the near cache served the token")
      assert.deepStrictEqual(captured.lines.filter((line) => line.includes("near cache")), [])

      // the reads' other branch: a value longer than the bound (HGET beside HSTRLEN; STRLEN)
      const long = "x".repeat(TokenStore.maxStoredValueBytes + 1)
      const other = yield* makeToken()
      yield* store.set(appId, other)
      yield* redisCall(() => admin.hset(RedisTokenStore.tokenKey(appId, other.openid, prefix), "v", long))
      assert.include((yield* Effect.flip(store.get(appId, other.openid))).description, "longer than any token")
      const codeHash = TokenStore.hashCode(`acl-${randomOpenId()}`)
      const now = yield* Clock.currentTimeMillis
      const memo = new TokenStore.CodeMemo({ openid: token.openid, exchangedAt: now, expiresAt: now + 60_000 })
      yield* store.rememberCode(appId, codeHash, memo)
      assert.strictEqual(Option.getOrThrow(yield* store.recallCode(appId, codeHash)).openid, token.openid)
      yield* redisCall(() => admin.set(RedisTokenStore.codeKey(appId, codeHash, prefix), long, "PX", 60_000))
      assert.include((yield* Effect.flip(store.recallCode(appId, codeHash))).description, "longer than any code memo")
      yield* store.remove(appId, token.openid)

      const sessionKeys = yield* RedisSessionKeyStore.make(client, { keyPrefix: prefix })
      const openid = randomOpenId()
      yield* sessionKeys.set(appId, openid, randomSessionKey())
      yield* redisCall(() => admin.hset(RedisSessionKeyStore.sessionKeyKey(appId, openid, prefix), "v", long))
      assert.include((yield* Effect.flip(sessionKeys.get(appId, openid))).description, "longer than any session key")
      yield* sessionKeys.remove(appId, openid)
    }), 30_000)

  it.scopedLive(
    "the refresh lock takes a held lock, one without a TTL, renews and releases",
    () =>
      Effect.gen(function*() {
        const { admin, url } = yield* aclServer
        const { client } = yield* countingClient({ url })
        const captured = capturingLogger()
        const lock = yield* RedisRefreshLock.make(client, { keyPrefix: prefix, lockTtl: "300 millis" })
        const key = `${randomAppId()}:${randomOpenId()}`
        // two holders in turn: the second's take finds the lock held (PTTL); each holds it past a renewal
        const held = yield* Effect.all(
          [1, 2].map((n) => lock.withLock(key, Effect.as(pause(250), n))),
          { concurrency: "unbounded" }
        ).pipe(Effect.provide(captured.layer))
        assert.deepStrictEqual(held, [1, 2])
        // a lock without a TTL is given one (PEXPIRE in the take), then taken
        const stuck = `${randomAppId()}:${randomOpenId()}`
        yield* redisCall(() => admin.set(RedisRefreshLock.lockKey(stuck, prefix), "someone"))
        assert.strictEqual(
          yield* lock.withLock(stuck, Effect.succeed("taken")).pipe(Effect.provide(captured.layer)),
          "taken"
        )
        assert.isTrue(captured.lines.some((line) => line.includes("without a TTL")), "the TTL-less lock was seen")
        assert.deepStrictEqual(captured.lines.filter((line) => line.includes("failed")), [])
      }),
    30_000
  )
})
