/**
 * The session cookie (a signed random id, nothing else), the binding values, the cookie names, and
 * the session stores (memory and SQLite): sessions end when removed, or by `Clock` (the `TestClock`
 * here) 24 hours after login.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Session from "../src/Session.js"
import * as SessionStore from "../src/SessionStore.js"
import { tempSqliteFile } from "./helpers.js"

const key = Session.keyFromSecret(Redacted.make("0123456789abcdef0123456789abcdef"))

describe("Session", () => {
  it("a signed session id reads back; nothing else is in the cookie", () => {
    const id = Session.newSessionId()
    const value = Session.sign(key, id)
    assert.match(value, /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/)
    assert.strictEqual(value.split(".")[0], id)
    assert.deepStrictEqual(Session.verify(key, value), Option.some(id))
    assert.notStrictEqual(Session.newSessionId(), id)
  })

  it("an altered, re-signed, foreign or malformed cookie reads as no session id", () => {
    const id = Session.newSessionId()
    const value = Session.sign(key, id)
    const [, signature] = value.split(".")
    assert.isTrue(Option.isNone(Session.verify(key, `${Session.newSessionId()}.${signature}`)), "another id")
    const otherKey = Session.keyFromSecret(Redacted.make("another secret, 32 characters long"))
    assert.isTrue(Option.isNone(Session.verify(otherKey, value)), "another key")
    assert.isTrue(Option.isNone(Session.verify(key, Session.sign(Session.randomKey(), id))), "random key")
    // the last character of 43 base64url characters carries 2 unused bits: only the canonical one passes
    const last = signature[42]
    assert.include("AEIMQUYcgkosw048", last)
    const sibling = String.fromCharCode(last.charCodeAt(0) + 1)
    assert.deepStrictEqual(
      Buffer.from(signature.slice(0, 42) + sibling, "base64url"),
      Buffer.from(signature, "base64url")
    )
    assert.isTrue(Option.isNone(Session.verify(key, `${id}.${signature.slice(0, 42)}${sibling}`)), "non-canonical")
    for (const garbage of [undefined, "", ".", "abc", `${value}.x`, `${id}.`, `.${signature}`, "a.b", id]) {
      assert.isTrue(Option.isNone(Session.verify(key, garbage)), `garbage ${String(garbage)}`)
    }
  })

  it("binding values are 32 random bytes, and only such values are accepted", () => {
    const a = Session.newBinding()
    assert.isTrue(Session.isBinding(a))
    assert.notStrictEqual(a, Session.newBinding())
    assert.isFalse(Session.isBinding(undefined))
    assert.isFalse(Session.isBinding("short"))
    assert.isFalse(Session.isBinding(a.slice(0, 42) + "!"))
  })

  it("over https the cookies are __Host- cookies: Secure, Path=/, no Domain", () => {
    assert.deepStrictEqual(Session.cookieNames(true), {
      session: "__Host-wxauth_session",
      binding: "__Host-wxauth_binding"
    })
    assert.deepStrictEqual(Session.cookieNames(false), { session: "wxauth_session", binding: "wxauth_binding" })
    const options = Session.cookieOptions(true)
    assert.isTrue(options.secure)
    assert.strictEqual(options.path, "/")
    assert.isUndefined(options.domain)
    assert.isTrue(options.httpOnly)
    assert.isFalse(Session.cookieOptions(false).secure)
  })
})

const stores = {
  memory: SessionStore.layerMemory,
  sqlite: SessionStore.layerSql.pipe(Layer.provide(SqliteClient.layer({ filename: tempSqliteFile() })))
}

for (const [name, store] of Object.entries(stores)) {
  describe(`SessionStore (${name})`, () => {
    const session = (openid: string, expiresAt: number): Session.Session => ({ app: "website", openid, expiresAt })

    it.effect("a session reads back by its id until removed; other ids read nothing", () =>
      Effect.gen(function*() {
        const sessions = yield* SessionStore.SessionStore
        const alice = session("oAlice", Duration.toMillis(Session.sessionTtl))
        const id = yield* sessions.create(alice)
        const other = yield* sessions.create(session("oBob", Duration.toMillis(Session.sessionTtl)))
        assert.notStrictEqual(id, other)
        assert.deepStrictEqual(yield* sessions.get(id), Option.some(alice))
        assert.isTrue(Option.isNone(yield* sessions.get(Session.newSessionId())))
        yield* sessions.remove(id)
        assert.isTrue(Option.isNone(yield* sessions.get(id)), "removed")
        assert.isTrue(Option.isSome(yield* sessions.get(other)), "the other session lives on")
        yield* sessions.remove(id)
      }).pipe(Effect.provide(store)))

    it.effect("a session ends at its expiry, by Clock", () =>
      Effect.gen(function*() {
        const sessions = yield* SessionStore.SessionStore
        const ttl = Duration.toMillis(Session.sessionTtl)
        const id = yield* sessions.create(session("oAlice", ttl))
        yield* TestClock.adjust(ttl - 1)
        assert.isTrue(Option.isSome(yield* sessions.get(id)), "a millisecond before")
        const later = yield* sessions.create(session("oBob", 2 * ttl))
        yield* TestClock.adjust(1)
        assert.isTrue(Option.isNone(yield* sessions.get(id)), "at its expiry")
        // creating a session sweeps the expired ones; the others stay
        yield* sessions.create(session("oCarol", 3 * ttl))
        assert.isTrue(Option.isNone(yield* sessions.get(id)))
        assert.isTrue(Option.isSome(yield* sessions.get(later)))
      }).pipe(Effect.provide(store)))
  })
}
