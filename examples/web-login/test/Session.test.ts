/**
 * The session cookie: signed, expiring, and nothing but app, openid and expiry.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Session from "../src/Session.js"

const key = Session.keyFromSecret(Redacted.make("0123456789abcdef0123456789abcdef"))
const now = 1_700_000_000_000
const session: Session.Session = { app: "website", openid: "oABCDEFGHIJKLMNOPQRSTUVWXYZa", expiresAt: now + 60_000 }

describe("Session", () => {
  it("a signed session reads back", () => {
    const value = Session.encode(key, session)
    assert.match(value, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/)
    assert.deepStrictEqual(Session.decode(key, value, now), Option.some(session))
  })

  it("an expired, altered, re-signed or foreign cookie reads as no session", () => {
    const value = Session.encode(key, session)
    assert.isTrue(Option.isNone(Session.decode(key, value, session.expiresAt)), "expired")
    const [payload, signature] = value.split(".")
    const altered = Buffer.from(
      Buffer.from(payload, "base64url").toString("utf8").replace(session.openid, "oZZZZZZZZZZZZZZZZZZZZZZZZZZZ")
    ).toString("base64url")
    assert.isTrue(Option.isNone(Session.decode(key, `${altered}.${signature}`, now)), "altered")
    const otherKey = Session.keyFromSecret(Redacted.make("another secret, 32 characters long"))
    assert.isTrue(Option.isNone(Session.decode(otherKey, value, now)), "another key")
    assert.isTrue(Option.isNone(Session.decode(key, Session.encode(Session.randomKey(), session), now)), "random key")
    for (const garbage of [undefined, "", ".", "abc", `${payload}.${signature}.x`, `${payload}.`, "a.b"]) {
      assert.isTrue(Option.isNone(Session.decode(key, garbage, now)), `garbage ${String(garbage)}`)
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
})
