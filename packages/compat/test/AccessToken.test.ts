/**
 * The token conversions: a stored token (what a `getToken` hook hands back) is read with core's
 * `LegacyToken.decode`, store-sql's rules, and checked against the asked openid; `isValid()`
 * follows the same reading of the times.
 */
import { assert, describe, it } from "@effect/vitest"
import { AccessToken, fromStored, toOAuthToken } from "@wxauth/compat"
import * as Either from "effect/Either"
import * as Option from "effect/Option"

const now = 1_750_000_600_000
const openid = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"

/** A token as wechat-oauth saved it, obtained ten minutes before `now`. */
const record = (fields: Record<string, unknown> = {}) => ({
  access_token: "ACCESS_TOKEN",
  expires_in: 7200,
  refresh_token: "REFRESH_TOKEN",
  openid,
  scope: "snsapi_userinfo",
  create_at: now - 600_000,
  ...fields
})

const refusal = (stored: unknown) => {
  const read = fromStored(openid, stored, now)
  if (Either.isRight(read)) return assert.fail("expected a refusal")
  assert.strictEqual(read.left._tag, "TokenStoreError")
  assert.strictEqual(read.left.operation, "getToken")
  return read.left.description
}

describe("fromStored", () => {
  it("reads wechat-oauth's record, an AccessToken stored as it is, and varchar fields", () => {
    for (
      const stored of [record(), { data: record() }, record({ expires_in: "7200", create_at: String(now - 600_000) })]
    ) {
      const read = fromStored(openid, stored, now)
      assert.isTrue(Either.isRight(read))
      const token = Option.getOrThrow(Either.getOrThrow(read))
      assert.strictEqual(token.openid, openid)
      assert.strictEqual(token.obtainedAt, now - 600_000)
      assert.strictEqual(token.expiresAt, now - 600_000 + 7_200_000)
      assert.deepStrictEqual(token.scope, ["snsapi_userinfo"])
    }
    // not deepStrictEqual against Either.right(Option.none()): chai takes any Some for None there
    for (const stored of [null, undefined]) {
      const read = fromStored(openid, stored, now)
      assert.isTrue(Either.isRight(read) && Option.isNone(read.right), String(stored))
    }
  })

  it("refuses a create_at or expires_in that is not a time (they were read as expired), naming the field", () => {
    assert.include(refusal(record({ create_at: "yesterday" })), "create_at")
    // a date without a UTC offset could be hours off either way
    assert.include(refusal(record({ create_at: "2025-06-15 10:00:00" })), "create_at")
    assert.include(refusal(record({ create_at: undefined })), "create_at")
    assert.include(refusal(record({ expires_in: "2 hours" })), "expires_in")
    assert.include(refusal(record({ expires_in: 0 })), "expires_in")
    assert.include(refusal(record({ expires_in: 7200.5 })), "expires_in")
  })

  it("refuses a token without openid (it was taken as the asked user's) or another user's", () => {
    assert.include(refusal(record({ openid: undefined })), "openid")
    assert.include(refusal(record({ openid: "o_someone_else" })), "another openid")
    assert.include(refusal(record({ refresh_token: "" })), "refresh_token")
  })

  it("dates a create_at in the future at now: valid for expires_in from now, not from the future", () => {
    const token = Option.getOrThrow(Either.getOrThrow(fromStored(openid, record({ create_at: now + 86_400_000 }), now)))
    assert.strictEqual(token.obtainedAt, now)
    assert.strictEqual(token.expiresAt, now + 7_200_000)
  })

  it("toOAuthToken throws the refusal as a WeChatAPIInvalidArgumentError", () => {
    assert.strictEqual(toOAuthToken(openid, record())!.openid, openid)
    try {
      toOAuthToken(openid, record({ create_at: "not a time" }))
      assert.fail("expected a throw")
    } catch (error: any) {
      assert.strictEqual(error.name, "WeChatAPIInvalidArgumentError")
      assert.include(error.message, "create_at")
    }
  })
})

describe("AccessToken#isValid", () => {
  it("reads the times as fromStored does: numbers, varchar strings, seconds, a Date", () => {
    const fresh = Date.now() - 60_000
    assert.isTrue(new AccessToken(record({ create_at: fresh })).isValid())
    assert.isTrue(new AccessToken(record({ create_at: String(fresh), expires_in: "7200" })).isValid())
    assert.isTrue(new AccessToken(record({ create_at: Math.floor(fresh / 1000) })).isValid())
    assert.isTrue(new AccessToken(record({ create_at: new Date(fresh) })).isValid())
    // only the access token and the times matter (a hand-made token)
    assert.isTrue(new AccessToken({ access_token: "A", expires_in: 7200, create_at: fresh } as never).isValid())
    assert.isFalse(new AccessToken(record({ create_at: fresh - 7_200_000 })).isValid())
    assert.isFalse(new AccessToken(record({ create_at: "yesterday" })).isValid())
    assert.isFalse(new AccessToken(record({ create_at: fresh, access_token: "" })).isValid())
  })
})
