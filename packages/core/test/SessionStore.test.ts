/**
 * The SessionStore contract on the memory store (one store for the suite, and one per test), and
 * what the module adds: the token (random, parsed strictly, hashed with SHA-256), the bounds of the
 * memory store (in all and per user; revokeUser still counts right after an eviction), the JSON codec store adapters use
 * (a value copied under another id does not decode), and the Session schema's limits.
 */
import { assert, describe, it } from "@effect/vitest"
import { SessionStore } from "@wxauth/core"
import { makeSession, randomAppId, randomOpenId, sessionStoreSuite } from "@wxauth/core/testing"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Crypto from "node:crypto"
import * as Util from "node:util"

sessionStoreSuite("memory", SessionStore.layerMemory)
sessionStoreSuite("memory, a store per test", () => SessionStore.layerMemory)

describe("SessionStore tokens", () => {
  it.effect("makeToken gives 32 random bytes as base64url, Redacted, never twice the same", () =>
    Effect.gen(function*() {
      const tokens = yield* Effect.all(Array.from({ length: 1000 }, () => SessionStore.makeToken))
      const texts = tokens.map(Redacted.value)
      assert.strictEqual(new Set(texts).size, 1000)
      for (const [i, text] of texts.entries()) {
        assert.match(text, /^[A-Za-z0-9_-]{43}$/)
        assert.strictEqual(Buffer.from(text, "base64url").length, 32)
        assert.notInclude(String(tokens[i]) + JSON.stringify(tokens[i]) + Util.inspect(tokens[i]), text)
      }
    }))

  it("hashToken is the SHA-256 hex of the token's text, Redacted or not; other values match no token", () => {
    const text = "A".repeat(43)
    const expected = Crypto.createHash("sha256").update(text).digest("hex")
    assert.strictEqual(SessionStore.hashToken(text), expected)
    assert.strictEqual(SessionStore.hashToken(Redacted.make(text)), expected)
    for (const bad of [undefined, null, 42, {}, Redacted.make(42), Symbol("x")]) {
      const hash = SessionStore.hashToken(bad as never)
      assert.match(hash, /^[0-9a-f]{64}$/)
      assert.notStrictEqual(hash, SessionStore.hashToken(String(bad as never)))
    }
  })

  it("parseToken accepts only the shape of makeToken's tokens", () => {
    const good = Crypto.randomBytes(32).toString("base64url")
    assert.strictEqual(Option.map(SessionStore.parseToken(good), Redacted.value).pipe(Option.getOrThrow), good)
    for (const bad of [undefined, null, 42, "", good.slice(1), `${good}A`, `${good.slice(1)}=`, `${good.slice(1)}+`]) {
      assert.isTrue(Option.isNone(SessionStore.parseToken(bad)), String(bad))
    }
  })
})

describe("SessionStore.makeMemory", () => {
  it.effect("is bounded: past maxEntries sessions that are over go first, then the least recently written", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore.makeMemory({ maxEntries: 3 })
      const { session: a } = yield* makeSession()
      const { session: b } = yield* makeSession({ expiresAt: a.createdAt + 1 })
      const { session: c } = yield* makeSession()
      yield* Effect.forEach([a, b, c], store.create, { discard: true })
      // b is over: it goes before the older a
      yield* TestClock.adjust(1)
      const { session: d } = yield* makeSession()
      yield* store.create(d)
      assert.isTrue(Option.isNone(yield* store.get(b.idHash)))
      assert.isTrue(Option.isSome(yield* store.get(a.idHash)))
      // a touch makes a session the most recently written: c goes next, not a
      yield* store.touch(a.idHash, a.expiresAt + 1000)
      const { session: e } = yield* makeSession({ appId: c.appId, openid: c.openid })
      yield* store.create(e)
      assert.isTrue(Option.isNone(yield* store.get(c.idHash)))
      assert.isTrue(Option.isSome(yield* store.get(a.idHash)))
      // the evicted session is gone from its user's index too: revokeUser counts only e
      assert.strictEqual(yield* store.revokeUser(c.appId, c.openid), 1)
    }))

  it.effect("refuses a maxEntries or maxSessionsPerUser that is not a positive integer with an InvalidArgument", () =>
    Effect.gen(function*() {
      for (const argument of ["maxEntries", "maxSessionsPerUser"]) {
        for (const bad of [0, -1, 1.5, Number.NaN, Infinity, "10", null]) {
          const error = yield* Effect.flip(SessionStore.makeMemory({ [argument]: bad as never }))
          assert.deepInclude(error, { _tag: "InvalidArgument", argument })
        }
      }
      yield* SessionStore.makeMemory(null as never)
      yield* SessionStore.makeMemory({})
      yield* SessionStore.makeMemory({ maxEntries: 1, maxSessionsPerUser: 1 })
    }))

  it.effect("bounds each user (maxSessionsPerUser): the user's sessions that are over go first, then their least recently written", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore.makeMemory({ maxEntries: 100, maxSessionsPerUser: 3 })
      const user = { appId: randomAppId(), openid: randomOpenId() }
      const other = yield* Effect.forEach([1, 2, 3], () => makeSession({ appId: user.appId }))
      yield* Effect.forEach(other, ({ session }) => store.create(session), { discard: true })
      const { session: a } = yield* makeSession(user)
      const { session: b } = yield* makeSession({ ...user, expiresAt: a.createdAt + 1 })
      const { session: c } = yield* makeSession(user)
      yield* Effect.forEach([a, b, c], store.create, { discard: true })
      // b is over: it goes before the older a
      yield* TestClock.adjust(1)
      const { session: d } = yield* makeSession(user)
      yield* store.create(d)
      assert.isTrue(Option.isNone(yield* store.get(b.idHash)))
      assert.isTrue(Option.isSome(yield* store.get(a.idHash)))
      // a touch makes a session the user's most recently written: c goes next, not a
      yield* store.touch(a.idHash, a.expiresAt + 1000)
      const { session: e } = yield* makeSession(user)
      yield* store.create(e)
      assert.isTrue(Option.isNone(yield* store.get(c.idHash)))
      for (const kept of [a, d, e]) assert.isTrue(Option.isSome(yield* store.get(kept.idHash)))
      // the other users of the same app kept theirs; the user has 3 sessions, no more
      for (const { session } of other) assert.isTrue(Option.isSome(yield* store.get(session.idHash)))
      assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), 3)
    }))

  it.effect("one account making sessions without end logs out only itself, not the other users of a full store", () =>
    Effect.gen(function*() {
      // a store of 2,000 sessions, full of 1,900 users', and one account making 5,000: without the
      // per-user bound the account's sessions pushed every other user out
      const store = yield* SessionStore.makeMemory({ maxEntries: 2_000 })
      const users = yield* Effect.forEach(Array.from({ length: 1_900 }), () => makeSession())
      yield* Effect.forEach(users, ({ session }) => store.create(session), { discard: true })
      const account = { appId: randomAppId(), openid: randomOpenId() }
      for (let i = 0; i < 5_000; i++) yield* store.create((yield* makeSession(account)).session)
      let loggedOut = 0
      for (const { session } of users) if (Option.isNone(yield* store.get(session.idHash))) loggedOut++
      assert.strictEqual(loggedOut, 0)
      assert.strictEqual(yield* store.revokeUser(account.appId, account.openid), 100, "the default bound: 100")
    }))

  it.effect("layerMemory bounds each user to 100 sessions", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore.SessionStore
      const account = { appId: randomAppId(), openid: randomOpenId() }
      const made = yield* Effect.forEach(Array.from({ length: 101 }), () => makeSession(account))
      yield* Effect.forEach(made, ({ session }) => store.create(session), { discard: true })
      assert.isTrue(Option.isNone(yield* store.get(made[0].session.idHash)), "the oldest ended")
      assert.isTrue(Option.isSome(yield* store.get(made[1].session.idHash)))
      assert.strictEqual(yield* store.revokeUser(account.appId, account.openid), 100)
    }).pipe(Effect.provide(SessionStore.layerMemory)))
})

describe("SessionStore codec", () => {
  it.effect("encode / decode round-trip a session; stored times replace the encoded ones", () =>
    Effect.gen(function*() {
      const { session } = yield* makeSession({ unionid: "u", binding: "b", data: { k: "v" } })
      const json = yield* SessionStore.encode(session)
      assert.deepStrictEqual(yield* SessionStore.decode(session.idHash, json), session)
      const moved = yield* SessionStore.decode(session.idHash, json, {
        expiresAt: session.expiresAt + 5,
        lastSeenAt: session.createdAt + 1
      })
      assert.strictEqual(moved.expiresAt, session.expiresAt + 5)
      assert.strictEqual(moved.lastSeenAt, session.createdAt + 1)
      assert.strictEqual(moved.openid, session.openid)
    }))

  it.effect("a value that is not ours, or is another id's, does not decode, and the error quotes none of it", () =>
    Effect.gen(function*() {
      const { session } = yield* makeSession({ data: { note: "private-note" } })
      const json = yield* SessionStore.encode(session)
      const other = SessionStore.hashToken(yield* SessionStore.makeToken)
      const cases: ReadonlyArray<readonly [string, unknown, unknown?]> = [
        [other, json],
        [session.idHash, json.replace("private-note", "x").slice(0, -3)],
        [session.idHash, 42],
        [session.idHash, `{"idHash":"${session.idHash}","private-note":1}`],
        // valid JSON, longer than any stored session
        [session.idHash, `${json.slice(0, -1)}${" ".repeat(SessionStore.maxStoredValueBytes)}}`],
        [session.idHash, json, { expiresAt: "soon" }],
        [session.idHash, json, { lastSeenAt: Number.NaN }]
      ]
      for (const [idHash, value, times] of cases) {
        const error = yield* Effect.flip(SessionStore.decode(idHash, value, times as never))
        assert.strictEqual(error._tag, "SessionStoreError")
        assert.notInclude(JSON.stringify(error) + error.message + Util.inspect(error, { depth: 10 }), "private-note")
      }
    }))
})

describe("SessionStore.Session", () => {
  it("its constructor checks every limit", () => {
    const valid = {
      idHash: "0".repeat(64),
      appId: randomAppId(),
      openid: randomOpenId(),
      scopes: ["snsapi_base"],
      kind: "browser" as const,
      createdAt: 1,
      expiresAt: 2
    }
    assert.doesNotThrow(() => new SessionStore.Session(valid))
    const bad: ReadonlyArray<Record<string, unknown>> = [
      { idHash: "0".repeat(63) },
      { idHash: "A".repeat(64) },
      { appId: "a".repeat(65) },
      { openid: "" },
      { scopes: Array.from({ length: 17 }, () => "s") },
      { kind: "desktop" },
      { expiresAt: 2.5 },
      { createdAt: -1 },
      { data: { "1st": "v" } },
      { data: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"])) },
      { data: { big: "v".repeat(4094) } }
    ]
    for (const fields of bad) {
      assert.throws(
        () => new SessionStore.Session({ ...valid, ...fields } as never),
        undefined,
        undefined,
        Util.inspect(fields).slice(0, 60)
      )
    }
    assert.doesNotThrow(() => new SessionStore.Session({ ...valid, data: { big: "v".repeat(4093) } }))
  })
})

describe("SessionStore's helpers for store adapters", () => {
  it.effect("a now that is not a time, or times that cannot be read, are a SessionStoreError, never a throw", () =>
    Effect.gen(function*() {
      const { session } = yield* makeSession()
      const encoded = yield* SessionStore.encode(session)
      const trap = () => {
        throw new Error("trap")
      }
      const revoked = Proxy.revocable({}, {})
      revoked.revoke()
      // each was a TypeError thrown out of checkNew / checkTouch (comparing a Symbol or an object
      // whose conversion throws to a number) or out of decode (destructuring the times)
      const nows: ReadonlyArray<unknown> = [Symbol("now"), { valueOf: trap }, revoked.proxy, Number.NaN, "0"]
      for (const now of nows) {
        const label = typeof now === "symbol" ? "a Symbol" : typeof now === "object" ? "an object" : String(now)
        const created = yield* Effect.exit(SessionStore.checkNew(session, now as number))
        assert.deepInclude(created, { _tag: "Failure" }, `checkNew, now ${label}`)
        assert.strictEqual(
          (yield* Effect.flip(SessionStore.checkNew(session, now as number)))._tag,
          "SessionStoreError"
        )
        const touched = SessionStore.checkTouch(session.idHash, session.expiresAt + 1, now as number)
        assert.strictEqual((yield* Effect.flip(touched))._tag, "SessionStoreError", `checkTouch, now ${label}`)
      }
      for (const times of [new Proxy({}, { get: trap, ownKeys: trap, has: trap }), revoked.proxy]) {
        const decoded = SessionStore.decode(session.idHash, encoded, times as {})
        assert.strictEqual((yield* Effect.flip(decoded))._tag, "SessionStoreError")
      }
    }))
})
