/**
 * RedisTokenStore against a real Redis: core's contract suite (clear and encrypted), the key layout
 * and TTLs, newer-wins across connections, garbage under our keys, and a Redis that is down, hangs,
 * or drops our connection mid-run.
 */
import { afterAll, assert, it } from "@effect/vitest"
import { type OAuthToken, TokenCipher, TokenStore, WeChatError } from "@wxauth/core"
import { makeToken, randomAppId, randomOpenId, tokenStoreSuite } from "@wxauth/core/testing"
import { RedisTokenStore } from "@wxauth/store-redis"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import { Redis } from "ioredis"
import * as Crypto from "node:crypto"
import * as Util from "node:util"
import {
  blackhole,
  cleanup,
  clientIds,
  describeRedis,
  freezableProxy,
  isCi,
  keysUnder,
  layerFailure,
  luaMemory,
  makeAdmin,
  quietClient,
  randomPrefix,
  redisCall,
  redisUrl,
  refusedUrl,
  serviceOf
} from "./utils.js"

const hour = 60 * 60 * 1000

/** The access token of an `Option` of a token, or `"none"`. */
const accessOf = (found: Option.Option<OAuthToken.OAuthToken>): string =>
  Option.match(found, { onNone: () => "none", onSome: (token) => Redacted.value(token.accessToken) })

it("any CI value but empty, 0 or false means CI, where an unreachable Redis fails the run", () => {
  for (const value of ["true", "1", "yes", "TRUE", "github-actions"]) assert.isTrue(isCi(value), value)
  for (const value of [undefined, "", "0", "false", "False"]) assert.isFalse(isCi(value), String(value))
})

describeRedis("RedisTokenStore", () => {
  const prefix = randomPrefix()
  const cipherPrefix = randomPrefix()
  const admin = makeAdmin()
  afterAll(async () => {
    await cleanup(admin, prefix)
    await cleanup(admin, cipherPrefix)
    await admin.quit()
  })

  const cipherKey = TokenCipher.generateKey()
  const cipherLayer = TokenCipher.layer({ keys: [{ id: "k1", key: cipherKey }] })

  // each test of the contract suite on a connection and key prefix of its own
  const testPrefixes: Array<string> = []
  afterAll(async () => {
    const cleaner = makeAdmin()
    for (const testPrefix of testPrefixes) await cleanup(cleaner, testPrefix)
    await cleaner.quit()
  })
  tokenStoreSuite("redis", () => {
    const testPrefix = randomPrefix()
    testPrefixes.push(testPrefix)
    return RedisTokenStore.layer({ url: redisUrl, keyPrefix: testPrefix })
  })
  tokenStoreSuite(
    "redis + TokenCipher",
    RedisTokenStore.layer({ url: redisUrl, keyPrefix: cipherPrefix }).pipe(Layer.provide(cipherLayer)),
    {
      // straight into the user's hash, as another writer of the key would: `o` and `v`, with the TTL
      plant: ({ appId, obtainedAt, openid, refreshExpiresAt, value }) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const key = RedisTokenStore.tokenKey(appId, openid, cipherPrefix)
          return redisCall(() =>
            admin.multi().del(key).hset(key, { o: String(obtainedAt), v: value }).pexpire(key, refreshExpiresAt - now)
              .exec()
          )
        })
    }
  )

  /** A store on a connection of its own, for the scope. */
  const openStore = (options?: RedisTokenStore.Options) =>
    serviceOf(TokenStore.TokenStore, RedisTokenStore.layer({ url: redisUrl, keyPrefix: prefix, ...options }))

  it.scoped("a token is one hash under the user's hash tag, expiring with the refresh token", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      const appId = randomAppId()
      const now = yield* Clock.currentTimeMillis
      const token = yield* makeToken({ refreshExpiresAt: now + hour })
      yield* store.set(appId, token)
      const key = `${prefix}{${appId}:${token.openid}}:token`
      assert.strictEqual(RedisTokenStore.tokenKey(appId, token.openid, prefix), key)
      const raw = yield* redisCall(() => admin.hgetall(key))
      assert.deepStrictEqual(Object.keys(raw).sort(), ["o", "v"])
      assert.strictEqual(raw.o, String(token.obtainedAt))
      const ttl = yield* redisCall(() => admin.pttl(key))
      assert.isTrue(ttl > hour - 60_000 && ttl <= hour, `PTTL ${ttl} should be about an hour`)
      // clear at rest without a cipher: the value is core's JSON encoding
      assert.include(raw.v, Redacted.value(token.accessToken))
      assert.deepStrictEqual(yield* redisCall(() => keysUnder(admin, `${prefix}{${appId}:`)), [key])
    }))

  it.scoped("a later set keeps the refresh token's remaining life as TTL", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      const appId = randomAppId()
      const now = yield* Clock.currentTimeMillis
      const first = yield* makeToken({ refreshExpiresAt: now + 2 * hour })
      yield* store.set(appId, first)
      const refreshed = yield* makeToken({
        openid: first.openid,
        obtainedAt: now + hour,
        refreshExpiresAt: first.refreshExpiresAt
      })
      // an hour later (by Clock), the refresh token has an hour to live
      yield* TestClock.adjust(hour)
      yield* store.set(appId, refreshed)
      const ttl = yield* redisCall(() => admin.pttl(RedisTokenStore.tokenKey(appId, first.openid, prefix)))
      assert.isTrue(ttl > hour - 60_000 && ttl <= hour, `PTTL ${ttl} should be about an hour`)
    }))

  it.scoped("a token whose refresh life is over is not kept", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      const appId = randomAppId()
      const now = yield* Clock.currentTimeMillis
      const older = yield* makeToken({ obtainedAt: now - 2000 })
      const expired = yield* makeToken({ openid: older.openid, refreshExpiresAt: now - 1 })
      yield* store.set(appId, older)
      yield* store.set(appId, expired)
      assert.isTrue(Option.isNone(yield* store.get(appId, older.openid)))
      assert.strictEqual(yield* redisCall(() => admin.exists(RedisTokenStore.tokenKey(appId, older.openid, prefix))), 0)
    }))

  it.scoped("the code memo lives until its expiresAt (at least a second) and keeps no code", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      const appId = randomAppId()
      const now = yield* Clock.currentTimeMillis
      const code = `code-${Crypto.randomBytes(8).toString("hex")}`
      const codeHash = TokenStore.hashCode(code)
      const memo = new TokenStore.CodeMemo({ openid: randomOpenId(), exchangedAt: now, expiresAt: now + 60_000 })
      yield* store.rememberCode(appId, codeHash, memo)
      const key = `${prefix}code:${appId}:${codeHash}`
      assert.strictEqual(RedisTokenStore.codeKey(appId, codeHash, prefix), key)
      const ttl = yield* redisCall(() => admin.pttl(key))
      assert.isTrue(ttl > 50_000 && ttl <= 60_000, `PTTL ${ttl} should be about a minute`)
      const stored = yield* redisCall(() => keysUnder(admin, `${prefix}code:${appId}:`))
      assert.deepStrictEqual(stored, [key])
      assert.notInclude(stored[0] + (yield* redisCall(() => admin.get(key))), code)

      const pastHash = TokenStore.hashCode(`${code}-past`)
      const past = new TokenStore.CodeMemo({ openid: memo.openid, exchangedAt: now, expiresAt: now - 1 })
      yield* store.rememberCode(appId, pastHash, past)
      const pastTtl = yield* redisCall(() => admin.pttl(RedisTokenStore.codeKey(appId, pastHash, prefix)))
      assert.isTrue(pastTtl > 0 && pastTtl <= 1000, `PTTL ${pastTtl} should be the 1 s minimum`)
      assert.isTrue(Option.isNone(yield* store.recallCode(appId, pastHash)))
    }))

  it.scoped("rememberCode reads the memo once: an expiresAt answered on a later read sets no TTL (review: PTTL 9005402918412111)", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      const appId = randomAppId()
      const now = yield* Clock.currentTimeMillis
      const codeHash = TokenStore.hashCode(`code-${Crypto.randomBytes(8).toString("hex")}`)
      const memo = new TokenStore.CodeMemo({ openid: randomOpenId(), exchangedAt: now, expiresAt: now + 300_000 })
      let reads = 0
      // honest on its first two reads, 2^53 - 992 from the third on
      Object.defineProperty(memo, "expiresAt", { get: () => ++reads <= 2 ? now + 300_000 : 9_007_199_254_740_000 })
      yield* store.rememberCode(appId, codeHash, memo)
      assert.strictEqual(reads, 1, "reads of expiresAt")
      const ttl = yield* redisCall(() => admin.pttl(RedisTokenStore.codeKey(appId, codeHash, prefix)))
      assert.isTrue(ttl > 0 && ttl <= 300_000, `PTTL ${ttl} should be at most 5 minutes`)
    }))

  it.scopedLive("newer wins across two connections, whatever the order of arrival", () =>
    Effect.gen(function*() {
      const stores = [yield* openStore(), yield* openStore()]
      const appId = randomAppId()
      const base = yield* makeToken()
      const tokens = yield* Effect.forEach(
        Array.from({ length: 60 }, (_, i) => i),
        (i) => makeToken({ openid: base.openid, obtainedAt: base.obtainedAt + i * 10 })
      )
      const newest = tokens[tokens.length - 1]
      const shuffled = yield* Random.shuffle(tokens)
      yield* Effect.forEach(shuffled, (token, i) => stores[i % 2].set(appId, token), {
        concurrency: "unbounded",
        discard: true
      })
      for (const store of stores) {
        const found = Option.getOrThrow(yield* store.get(appId, base.openid))
        assert.strictEqual(found.obtainedAt, newest.obtainedAt)
        assert.strictEqual(Redacted.value(found.accessToken), Redacted.value(newest.accessToken))
      }
      // a slow writer on the other connection, with a token obtained earlier, changes nothing
      yield* stores[0].set(appId, tokens[0])
      const found = Option.getOrThrow(yield* stores[1].get(appId, base.openid))
      assert.strictEqual(Redacted.value(found.accessToken), Redacted.value(newest.accessToken))
    }))

  it.scoped("an unchanged stored value is decrypted and decoded once; any change to it is decoded again", () =>
    Effect.gen(function*() {
      // a cipher that counts what it opens, over a real key ring
      const ring = TokenCipher.make({ keys: [{ id: "k1", key: cipherKey }] }).pipe(Either.getOrThrow)
      let opened = 0
      const counting = TokenCipher.TokenCipher.of({
        encrypt: ring.encrypt,
        decrypt: (value, aad) => Effect.sync(() => opened++).pipe(Effect.zipRight(ring.decrypt(value, aad)))
      })
      const client = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis(redisUrl)),
        (client) => Effect.promise(() => client.quit())
      )
      const store = yield* RedisTokenStore.make(client, { keyPrefix: prefix }).pipe(
        Effect.provideService(TokenCipher.TokenCipher, counting)
      )
      const appId = randomAppId()
      const token = yield* makeToken()
      const key = RedisTokenStore.tokenKey(appId, token.openid, prefix)
      yield* store.set(appId, token)
      for (let i = 0; i < 5; i++) {
        assert.strictEqual(accessOf(yield* store.get(appId, token.openid)), Redacted.value(token.accessToken))
      }
      assert.strictEqual(opened, 0, "what this store wrote is known decoded")

      // the same token sealed again by another writer: another stored string, opened once
      const other = yield* RedisTokenStore.make(client, { keyPrefix: prefix }).pipe(
        Effect.provideService(TokenCipher.TokenCipher, counting)
      )
      yield* other.set(appId, token)
      for (let i = 0; i < 5; i++) yield* store.get(appId, token.openid)
      assert.strictEqual(opened, 1)

      // one character of the sealed value changed: no longer the same value, and it does not open
      const stored = (yield* redisCall(() => admin.hget(key, "v")))!
      const flipped = stored.slice(0, -2) + (stored.at(-2) === "A" ? "B" : "A") + stored.at(-1)
      yield* redisCall(() => admin.hset(key, { v: flipped }))
      const error = yield* Effect.flip(store.get(appId, token.openid))
      assert.strictEqual(error._tag, "TokenStoreError")
      assert.strictEqual(opened, 2)
      // the last value decoded back: known, not opened again
      yield* redisCall(() => admin.hset(key, { v: stored }))
      assert.strictEqual(accessOf(yield* store.get(appId, token.openid)), Redacted.value(token.accessToken))
      assert.strictEqual(opened, 2)
    }))

  it.scoped("with a real tracer, each operation makes a span carrying the app id, and no token, code or openid", () =>
    Effect.gen(function*() {
      const spans: Array<Tracer.Span> = []
      const base = yield* Effect.tracer
      const tracer = Tracer.make({
        span: (name, parent, context, links, startTime, kind, options) => {
          const span = base.span(name, parent, context, links, startTime, kind, options)
          spans.push(span)
          return span
        },
        context: (f, fiber) => base.context(f, fiber)
      })
      const store = yield* openStore()
      const appId = randomAppId()
      const token = yield* makeToken()
      const now = yield* Clock.currentTimeMillis
      const codeHash = TokenStore.hashCode("the-code")
      const memo = new TokenStore.CodeMemo({ openid: token.openid, exchangedAt: now, expiresAt: now + 60_000 })
      yield* Effect.gen(function*() {
        yield* store.set(appId, token)
        yield* store.get(appId, token.openid)
        yield* store.rememberCode(appId, codeHash, memo)
        yield* store.recallCode(appId, codeHash)
        yield* store.remove(appId, token.openid)
      }).pipe(Effect.withTracer(tracer))
      assert.deepStrictEqual(spans.map((span) => span.name), [
        "RedisTokenStore.set",
        "RedisTokenStore.get",
        "RedisTokenStore.rememberCode",
        "RedisTokenStore.recallCode",
        "RedisTokenStore.remove"
      ])
      const secrets = [Redacted.value(token.accessToken), Redacted.value(token.refreshToken), token.openid, codeHash]
      for (const span of spans) {
        assert.strictEqual(span.attributes.get("wxauth.app_id"), appId)
        const shown = JSON.stringify([...span.attributes.entries()])
        for (const secret of secrets) assert.notInclude(shown, secret)
      }
    }))

  it.scoped("with a TokenCipher the stored value is sealed, and opens only with the key", () =>
    Effect.gen(function*() {
      const sealing = yield* Effect.map(
        Layer.build(RedisTokenStore.layer({ url: redisUrl, keyPrefix: prefix }).pipe(Layer.provide(cipherLayer))),
        Context.get(TokenStore.TokenStore)
      )
      const plain = yield* openStore()
      const appId = randomAppId()
      const token = yield* makeToken()
      yield* sealing.set(appId, token)
      const raw = yield* redisCall(() => admin.hget(RedisTokenStore.tokenKey(appId, token.openid, prefix), "v"))
      assert.isTrue(raw!.startsWith("wxenc1:k1:"))
      assert.notInclude(raw!, Redacted.value(token.accessToken))
      assert.notInclude(raw!, Redacted.value(token.refreshToken))
      const found = Option.getOrThrow(yield* sealing.get(appId, token.openid))
      assert.strictEqual(Redacted.value(found.refreshToken), Redacted.value(token.refreshToken))
      const error = yield* Effect.flip(plain.get(appId, token.openid))
      assert.strictEqual(error._tag, "TokenStoreError")
    }))

  it.scoped("garbage under our keys is a TokenStoreError, and a new token replaces it", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      const appId = randomAppId()
      const token = yield* makeToken()
      const key = RedisTokenStore.tokenKey(appId, token.openid, prefix)
      const expectFailure = Effect.gen(function*() {
        const error = yield* Effect.flip(store.get(appId, token.openid))
        assert.instanceOf(error, WeChatError.TokenStoreError)
        assert.strictEqual(error.operation, "get")
        assert.notInclude(JSON.stringify(error) + error.message, "s3cr3t")
        return error
      })

      yield* redisCall(() => admin.set(key, "s3cr3t garbage"))
      assert.include((yield* expectFailure).description, "WRONGTYPE")

      yield* redisCall(() => admin.del(key).then(() => admin.hset(key, { o: "1", v: "s3cr3t not json" })))
      assert.include((yield* expectFailure).description, "does not decode")

      yield* redisCall(() => admin.del(key).then(() => admin.hset(key, { o: "1" })))
      yield* expectFailure

      // another user's (valid) value copied under this user's key
      const other = yield* makeToken()
      yield* store.set(appId, other)
      const otherValue = yield* redisCall(() => admin.hget(RedisTokenStore.tokenKey(appId, other.openid, prefix), "v"))
      yield* redisCall(() => admin.hset(key, { o: "1", v: otherValue! }))
      assert.include((yield* expectFailure).description, "another openid")

      // a new token heals the key, whatever was there
      yield* redisCall(() => admin.set(key, "garbage"))
      yield* store.set(appId, token)
      const found = Option.getOrThrow(yield* store.get(appId, token.openid))
      assert.strictEqual(Redacted.value(found.accessToken), Redacted.value(token.accessToken))

      const codeHash = TokenStore.hashCode("garbage-code")
      yield* redisCall(() => admin.set(RedisTokenStore.codeKey(appId, codeHash, prefix), "{\"not\":\"a memo\"}"))
      const memoError = yield* Effect.flip(store.recallCode(appId, codeHash))
      assert.strictEqual(memoError.operation, "recallCode")
    }))

  it.scopedLive("a value longer than any token under a user's key is a TokenStoreError without being fetched, and holds up no other user's get", () =>
    Effect.gen(function*() {
      const client = yield* quietClient(redisUrl, { maxRetriesPerRequest: 1 })
      const store = yield* RedisTokenStore.make(client, { keyPrefix: prefix })
      const appId = randomAppId()
      const [planted, other] = [yield* makeToken(), yield* makeToken()]
      yield* store.set(appId, planted)
      yield* store.set(appId, other)
      const key = RedisTokenStore.tokenKey(appId, planted.openid, prefix)
      // 20 MB: one read of it took the connection for tens of milliseconds, 20 of them a second
      yield* redisCall(() => admin.hset(key, "v", "x".repeat(20 * 1024 * 1024)))
      const socket = (client as unknown as { readonly stream: { readonly bytesRead: number } }).stream
      const before = socket.bytesRead
      const errors = yield* Effect.forEach(
        Array.from({ length: 20 }),
        () => Effect.flip(store.get(appId, planted.openid)),
        { concurrency: "unbounded" }
      )
      for (const error of errors) {
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.include(error.description, "longer than any token")
      }
      assert.isBelow(socket.bytesRead - before, 64 * 1024, "20 reads fetched none of the value")
      assert.strictEqual(accessOf(yield* store.get(appId, other.openid)), Redacted.value(other.accessToken))
      // at the bound it is fetched (and does not decode); a new consent replaces it (remove, then set)
      yield* redisCall(() => admin.hset(key, "v", "x".repeat(TokenStore.maxStoredValueBytes)))
      assert.include((yield* Effect.flip(store.get(appId, planted.openid))).description, "does not decode")
      yield* store.remove(appId, planted.openid)
      yield* store.set(appId, planted)
      assert.strictEqual(accessOf(yield* store.get(appId, planted.openid)), Redacted.value(planted.accessToken))
    }))

  it.scopedLive("an o longer than any stamp (20 MB: digits, zeros before a later time, text) is no time: a set replaces it without fetching it", () =>
    Effect.gen(function*() {
      const store = yield* openStore()
      const appId = randomAppId()
      const token = yield* makeToken()
      const key = RedisTokenStore.tokenKey(appId, token.openid, prefix)
      const big = 20 * 1024 * 1024
      for (const o of ["9".repeat(big), `${"0".repeat(big)}${token.obtainedAt + hour}`, `s3cr3t${"x".repeat(big)}`]) {
        const what = `${o.length} bytes of '${o[0]}'`
        yield* store.set(appId, token)
        yield* redisCall(() => admin.hset(key, "o", o))
        const lua = yield* luaMemory(admin)
        yield* store.set(appId, token)
        assert.isBelow((yield* luaMemory(admin)) - lua, 1024 * 1024, `set fetched o (${what}) into its script`)
        assert.strictEqual(
          yield* redisCall(() => admin.hget(key, "o")),
          String(token.obtainedAt),
          `an o of ${what} was kept as a later stamp`
        )
        assert.strictEqual(accessOf(yield* store.get(appId, token.openid)), Redacted.value(token.accessToken))
      }
      // a stamp of at most 32 bytes is read as before: a later one is kept
      yield* redisCall(() => admin.hset(key, "o", `${"0".repeat(16)}${token.obtainedAt + hour}`))
      yield* store.set(appId, yield* makeToken({ openid: token.openid, obtainedAt: token.obtainedAt + 1 }))
      assert.strictEqual(
        yield* redisCall(() => admin.hget(key, "o")),
        `${"0".repeat(16)}${token.obtainedAt + hour}`,
        "a later stamp of 32 bytes keeps its token"
      )
    }))

  it.scopedLive("a code memo longer than any memo is a TokenStoreError without being fetched; rememberCode replaces it", () =>
    Effect.gen(function*() {
      const client = yield* quietClient(redisUrl, { maxRetriesPerRequest: 1 })
      const store = yield* RedisTokenStore.make(client, { keyPrefix: prefix })
      const appId = randomAppId()
      const codeHash = TokenStore.hashCode(`planted-${randomOpenId()}`)
      const key = RedisTokenStore.codeKey(appId, codeHash, prefix)
      // 20 MB under the memo's key, behind a secret
      yield* redisCall(() => admin.set(key, `s3cr3t${"x".repeat(20 * 1024 * 1024)}`, "PX", 60_000))
      const socket = (client as unknown as { readonly stream: { readonly bytesRead: number } }).stream
      const before = socket.bytesRead
      const errors = yield* Effect.forEach(
        Array.from({ length: 20 }),
        () => Effect.flip(store.recallCode(appId, codeHash)),
        { concurrency: "unbounded" }
      )
      for (const error of errors) {
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.strictEqual(error.operation, "recallCode")
        assert.include(error.description, "longer than any code memo")
        assert.notInclude(JSON.stringify(error) + error.message + Util.inspect(error, { depth: 10 }), "s3cr3t")
      }
      assert.isBelow(socket.bytesRead - before, 64 * 1024, "20 reads fetched none of the value")
      // at the bound it is fetched (and does not decode)
      yield* redisCall(() => admin.set(key, "x".repeat(TokenStore.maxStoredValueBytes), "PX", 60_000))
      assert.include((yield* Effect.flip(store.recallCode(appId, codeHash))).description, "does not decode")
      // a memo of another type is WRONGTYPE, as with GET
      yield* redisCall(() => admin.del(key).then(() => admin.hset(key, { v: "s3cr3t" })))
      assert.include((yield* Effect.flip(store.recallCode(appId, codeHash))).description, "WRONGTYPE")
      // rememberCode replaces it
      const now = yield* Clock.currentTimeMillis
      const memo = new TokenStore.CodeMemo({ openid: randomOpenId(), exchangedAt: now, expiresAt: now + 60_000 })
      yield* store.rememberCode(appId, codeHash, memo)
      assert.strictEqual(Option.getOrThrow(yield* store.recallCode(appId, codeHash)).openid, memo.openid)
      assert.isTrue(Option.isNone(yield* store.recallCode(appId, TokenStore.hashCode(`absent-${randomOpenId()}`))))
    }))

  it.scoped("a Redis error on set carries no token value (ioredis attaches the command's arguments)", () =>
    Effect.gen(function*() {
      const client = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis(redisUrl)),
        (client) => Effect.promise(() => client.quit())
      )
      const store = yield* RedisTokenStore.make(client, { keyPrefix: prefix })
      // the Redis side refuses the write
      client.defineCommand("wxauthSetToken", {
        numberOfKeys: 1,
        lua: "return redis.error_reply('ERR refused by test')"
      })
      const token = yield* makeToken()
      const secrets = [Redacted.value(token.accessToken), Redacted.value(token.refreshToken)]
      const raw = yield* Effect.flip(
        Effect.tryPromise(() => (client as any).wxauthSetToken("k", "1", secrets[0], "1000") as Promise<unknown>)
      )
      assert.include(Util.inspect(raw, { depth: 10 }), secrets[0], "the raw ioredis error quotes the value")

      const error = yield* Effect.flip(store.set(randomAppId(), token))
      assert.instanceOf(error, WeChatError.TokenStoreError)
      assert.strictEqual(error.operation, "set")
      assert.include(error.description, "refused by test")
      const shown = [JSON.stringify(error), String(error), Util.inspect(error, { depth: 10 }), String(error.cause)]
        .join("\n")
      for (const secret of secrets) assert.notInclude(shown, secret)
    }))

  it.live("a Redis that is down fails the layer with a TokenStoreError within the timeout", () =>
    Effect.gen(function*() {
      const error = yield* layerFailure(RedisTokenStore.layer({ url: refusedUrl }))
      assert.instanceOf(error, WeChatError.TokenStoreError)
      assert.strictEqual(error.operation, "connect")
      assert.include(error.description, "127.0.0.1:1")
    }))

  it.live("a Redis that refuses our credentials fails the layer with a TokenStoreError that shows no password", () =>
    Effect.gen(function*() {
      const password = `hunter2-${Crypto.randomBytes(8).toString("hex")}`
      const error = yield* layerFailure(RedisTokenStore.layer({
        url: redisUrl,
        username: `wxauth-nobody-${Crypto.randomBytes(4).toString("hex")}`,
        password: Redacted.make(password)
      }))
      assert.instanceOf(error, WeChatError.TokenStoreError)
      assert.strictEqual(error.operation, "connect")
      assert.include(error.description, "WRONGPASS")
      assert.notInclude(JSON.stringify(error) + Util.inspect(error, { depth: 10 }), password)
    }))

  it.scopedLive("on a caller's client to a down Redis every operation is a TokenStoreError, bounded", () =>
    Effect.gen(function*() {
      // a client with ioredis' defaults: no command timeout, offline queue on, 20 retries
      const client = yield* quietClient(refusedUrl, { lazyConnect: true })
      const store = yield* RedisTokenStore.make(client, { keyPrefix: prefix, commandTimeout: "300 millis" })
      const appId = randomAppId()
      const token = yield* makeToken()
      const now = yield* Clock.currentTimeMillis
      const memo = new TokenStore.CodeMemo({ openid: token.openid, exchangedAt: now, expiresAt: now + 60_000 })
      const errors = yield* Effect.all([
        Effect.flip(store.get(appId, token.openid)),
        Effect.flip(store.set(appId, token)),
        Effect.flip(store.remove(appId, token.openid)),
        Effect.flip(store.rememberCode(appId, "h", memo)),
        Effect.flip(store.recallCode(appId, "h"))
      ], { concurrency: "unbounded" }).pipe(Effect.timeout("20 seconds"))
      assert.deepStrictEqual(errors.map((error) => error._tag), Array(5).fill("TokenStoreError"))
      assert.deepStrictEqual(errors.map((error) => error.operation), [
        "get",
        "set",
        "remove",
        "rememberCode",
        "recallCode"
      ])
      for (const error of errors) assert.notInclude(JSON.stringify(error), Redacted.value(token.accessToken))
    }))

  it.scopedLive("a Redis that accepts but never answers fails the layer, and a caller's client, in bounded time", () =>
    Effect.gen(function*() {
      const { url } = yield* blackhole
      const buildError = yield* layerFailure(
        RedisTokenStore.layer({ url, connectTimeout: "300 millis", commandTimeout: "300 millis" })
      )
      assert.instanceOf(buildError, WeChatError.TokenStoreError)
      assert.strictEqual(buildError.operation, "connect")

      const client = yield* quietClient(url)
      const store = yield* RedisTokenStore.make(client, { commandTimeout: "300 millis" })
      const openid = randomOpenId()
      const error = yield* Effect.flip(store.get(randomAppId(), openid)).pipe(Effect.timeout("20 seconds"))
      assert.strictEqual(error._tag, "TokenStoreError")
      assert.include(error.description, "did not answer")
      // the timeout keeps a cause too, a plain one that quotes no key
      assert.instanceOf(error.cause, Error)
      assert.strictEqual((error.cause as Error).name, "TimeoutError")
      assert.match((error.cause as Error).message, /did not answer within \d+ ms/)
      assert.notInclude(Util.inspect(error.cause, { depth: 10 }), openid)
    }))

  it.scopedLive("closing the layer's connection to a silent Redis waits at most its commandTimeout", () =>
    Effect.gen(function*() {
      const proxy = yield* freezableProxy
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(
        RedisTokenStore.layer({ url: proxy.url, keyPrefix: prefix, commandTimeout: "300 millis" }),
        scope
      )
      proxy.freeze()
      const start = Date.now()
      yield* Scope.close(scope, Exit.void)
      // 300 ms (and a little grace), not the 2 s default
      assert.isBelow(Date.now() - start, 1500)
    }))

  it.scopedLive("when the network to Redis goes silent mid-run, operations fail with TokenStoreError", () =>
    Effect.gen(function*() {
      const proxy = yield* freezableProxy
      // without the near cache, which may answer a get from memory for a moment (see its own tests)
      const store = yield* openStore({ url: proxy.url, commandTimeout: "300 millis", nearCache: false })
      const appId = randomAppId()
      const token = yield* makeToken()
      yield* store.set(appId, token)
      assert.isTrue(Option.isSome(yield* store.get(appId, token.openid)))
      proxy.freeze()
      const errors = yield* Effect.forEach(
        [store.get(appId, token.openid), store.set(appId, token), store.remove(appId, token.openid)],
        Effect.flip,
        { concurrency: "unbounded" }
      ).pipe(Effect.timeout("20 seconds"))
      for (const error of errors) {
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.notInclude(JSON.stringify(error), Redacted.value(token.accessToken))
      }
    }))

  it.scopedLive("when Redis goes away mid-run, the error says there is no connection (not only ioredis's retry limit)", () =>
    Effect.gen(function*() {
      const proxy = yield* freezableProxy
      const store = yield* openStore({ url: proxy.url, commandTimeout: "1 second", nearCache: false })
      const appId = randomAppId()
      const token = yield* makeToken()
      yield* store.set(appId, token)
      yield* proxy.down
      const error = yield* Effect.flip(store.get(appId, token.openid))
      assert.strictEqual(error._tag, "TokenStoreError")
      assert.match(error.description, /^no connection to Redis: it is down and was not made again in time/)
      assert.notInclude(JSON.stringify(error), Redacted.value(token.accessToken))
    }))

  it.scopedLive("over a client its owner has closed, the error says the client's connection is closed", () =>
    Effect.gen(function*() {
      const client = yield* quietClient(redisUrl, { maxRetriesPerRequest: 1 })
      const store = yield* RedisTokenStore.make(client, { keyPrefix: prefix })
      const appId = randomAppId()
      const token = yield* makeToken()
      yield* store.set(appId, token)
      yield* redisCall(() => client.quit())
      const error = yield* Effect.flip(store.get(appId, token.openid))
      assert.strictEqual(error._tag, "TokenStoreError")
      assert.strictEqual(
        error.description,
        "no connection to Redis: the client's connection is closed (it gave up reconnecting, or was closed)"
      )
    }))

  it.scopedLive("CLIENT KILL of our connection mid-run: each call succeeds or is a TokenStoreError, and it recovers", () =>
    Effect.gen(function*() {
      const name = `wxauth-test-${Crypto.randomBytes(4).toString("hex")}`
      const store = yield* openStore({ connectionName: name })
      const appId = randomAppId()
      const token = yield* makeToken()
      yield* store.set(appId, token)
      const [before] = yield* redisCall(() => clientIds(admin, name))
      assert.isDefined(before)
      const kill = redisCall(() => admin.client("KILL", "ID", before))
      const results = yield* Effect.forEach(
        Array.from({ length: 400 }, (_, i) => i),
        (i) =>
          (i === 100 ? kill : Effect.void).pipe(
            Effect.zipRight(Effect.either(i % 2 === 0 ? store.get(appId, token.openid) : store.set(appId, token)))
          ),
        { concurrency: 8 }
      ).pipe(Effect.timeout("60 seconds"))
      for (const result of results) {
        if (Either.isLeft(result)) assert.strictEqual(result.left._tag, "TokenStoreError")
      }
      // recovery: ioredis reconnects, and the store answers again on a new connection
      const found = yield* store.get(appId, token.openid).pipe(
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.compose(Schedule.recurs(50))))
      )
      assert.isTrue(Option.isSome(found))
      const after = yield* redisCall(() => clientIds(admin, name))
      assert.strictEqual(after.length, 1)
      assert.notStrictEqual(after[0], before)
    }))

  it.scopedLive("the layer's connection closes with its scope; layerFromClient never closes the caller's client", () =>
    Effect.gen(function*() {
      const name = `wxauth-test-${Crypto.randomBytes(4).toString("hex")}`
      yield* Effect.scoped(Effect.gen(function*() {
        yield* openStore({ connectionName: name })
        assert.strictEqual((yield* redisCall(() => clientIds(admin, name))).length, 1)
      }))
      // QUIT is answered before the server drops the connection: give it a moment
      yield* redisCall(() => clientIds(admin, name)).pipe(
        Effect.filterOrFail((ids) => ids.length === 0, () => "the connection is still open"),
        Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.compose(Schedule.recurs(100))))
      )

      const client = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis(redisUrl)),
        (client) => Effect.promise(() => client.quit())
      )
      yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(RedisTokenStore.layerFromClient(client, { keyPrefix: prefix }))
        yield* Context.get(context, TokenStore.TokenStore).get(randomAppId(), randomOpenId())
      }))
      assert.strictEqual(yield* redisCall(() => client.ping()), "PONG")
    }))
})
