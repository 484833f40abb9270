/**
 * `LegacyToken.decode`: wechat-oauth 1.5.0's stored token record, as wechat-oauth writes it, as its
 * README's MySQL table holds it (every value a string) and as a database driver or a JavaScript
 * caller may hand it over, valid or not, hostile or not.
 */
import { assert, describe, it } from "@effect/vitest"
import { LegacyToken, OAuthToken, WeChatError } from "@wxauth/core"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Util from "node:util"

const now = Date.UTC(2025, 5, 15, 14, 6, 40)
const hour = 60 * 60 * 1000
const createdAt = now - hour
const accessToken = "AT_legacy_secret_0123456789"
const refreshToken = "RT_legacy_secret_0123456789"

/** As wechat-oauth 1.5.0 hands it to `saveToken`: WeChat's answer plus `create_at`. */
const written = {
  access_token: accessToken,
  expires_in: 7200,
  refresh_token: refreshToken,
  openid: "oLegacyOpenId0123456789abcd",
  scope: "snsapi_userinfo",
  create_at: createdAt
}

/** As the `token` table of wechat-oauth's README reads back: every value a string. */
const row = { ...written, expires_in: "7200", create_at: String(createdAt) }

const decoded = (record: unknown, at = now): OAuthToken.OAuthToken => {
  const result = LegacyToken.decode(record, at)
  if (Either.isLeft(result)) assert.fail(`expected a token, got ${result.left.message}`)
  return result.right
}

const refused = (record: unknown, at = now): WeChatError.InvalidArgument => {
  const result = LegacyToken.decode(record, at)
  if (Either.isRight(result)) assert.fail("expected an InvalidArgument, got a token")
  assert.instanceOf(result.left, WeChatError.InvalidArgument)
  return result.left
}

const tenMegabytes = 10 * 1024 * 1024

describe("LegacyToken.decode", () => {
  it("reads the record wechat-oauth writes and the row its README's table holds alike", () => {
    for (const record of [written, row]) {
      const token = decoded(record)
      assert.strictEqual(token.openid, written.openid)
      assert.strictEqual(Redacted.value(token.accessToken), accessToken)
      assert.strictEqual(Redacted.value(token.refreshToken), refreshToken)
      assert.deepStrictEqual([...token.scope], ["snsapi_userinfo"])
      assert.strictEqual(token.obtainedAt, createdAt)
      assert.strictEqual(token.expiresAt, createdAt + 7200 * 1000)
      assert.strictEqual(token.refreshExpiresAt, createdAt + OAuthToken.refreshTokenLifeMillis)
      assert.isFalse(token.isSnapshotUser)
      assert.isUndefined(token.unionid)
    }
  })

  it("dates a token at create_at, but never later than now (a clock that ran ahead)", () => {
    const future = decoded({ ...row, create_at: String(now + 3 * 24 * hour) })
    assert.strictEqual(future.obtainedAt, now)
    assert.strictEqual(future.expiresAt, now + 7200 * 1000)
    assert.strictEqual(future.refreshExpiresAt, now + OAuthToken.refreshTokenLifeMillis)
    // an old token is read as it is, its 30 days over: the caller decides what to do with it
    const old = decoded({ ...row, create_at: String(now - 31 * 24 * hour) })
    assert.isTrue(old.refreshExpiresAt <= now)
  })

  // moved from store-sql, where this rule lived: the one reading of a create_at
  it("reads a create_at as epoch milliseconds or seconds, or a date string with an explicit offset; one without is refused", () => {
    const at = Date.UTC(2025, 5, 15, 14, 6, 40)
    const obtainedAt = (create_at: unknown) => decoded({ ...row, create_at }, at + hour).obtainedAt
    assert.strictEqual(obtainedAt(String(at)), at)
    assert.strictEqual(obtainedAt(String(at / 1000)), at)
    for (
      const text of [
        "2025-06-15T14:06:40Z",
        "2025-06-15T14:06:40.000Z",
        "2025-06-15T22:06:40+08:00",
        "2025-06-15T22:06:40+0800",
        "Sun, 15 Jun 2025 14:06:40 GMT",
        "Sun Jun 15 2025 22:06:40 GMT+0800 (China Standard Time)"
      ]
    ) assert.strictEqual(obtainedAt(text), at, text)
    for (
      const text of ["2025-06-15 14:06:40", "2025-06-15T14:06:40", "2025-06-15", "Jun 15 2025 14:06", "yesterday", ""]
    ) assert.strictEqual(refused({ ...row, create_at: text }, at + hour).argument, "create_at", text)
  })

  it("reads what drivers give: numbers, bigints, Dates, UTF-8 bytes, padded CHAR values, extra columns", () => {
    const cases: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
      ["create_at in seconds, a number", { ...written, create_at: createdAt / 1000 }],
      ["create_at and expires_in as bigints", { ...written, create_at: BigInt(createdAt), expires_in: 7200n }],
      ["create_at as a Date", { ...written, create_at: new Date(createdAt) }],
      ["fields as Buffers", {
        ...row,
        access_token: Buffer.from(accessToken),
        openid: Buffer.from(written.openid),
        create_at: new TextEncoder().encode(row.create_at)
      }],
      ["CHAR(200) padding", { ...row, access_token: accessToken.padEnd(200), openid: ` ${written.openid} ` }],
      ["extra columns", { ...row, id: 42, updated_at: new Date(), nested: [[[]]] }],
      ["null scope and unionid", { ...row, scope: null, unionid: null }]
    ]
    for (const [name, record] of cases) {
      const token = decoded(record)
      assert.strictEqual(token.obtainedAt, createdAt, name)
      assert.strictEqual(token.expiresAt, createdAt + 7200 * 1000, name)
      assert.strictEqual(Redacted.value(token.accessToken), accessToken, name)
      assert.strictEqual(token.openid, written.openid, name)
    }
  })

  it("keeps unionid, is_snapshotuser and every scope; an absent or empty expires_in is WeChat's 7200", () => {
    const token = decoded({ ...row, unionid: "oUnion", is_snapshotuser: "1", scope: "snsapi_base, snsapi_userinfo" })
    assert.strictEqual(token.unionid, "oUnion")
    assert.isTrue(token.isSnapshotUser)
    assert.deepStrictEqual([...token.scope], ["snsapi_base", "snsapi_userinfo"])
    assert.isUndefined(decoded({ ...row, unionid: "" }).unionid)
    assert.isFalse(decoded({ ...row, is_snapshotuser: 0 }).isSnapshotUser)
    const { expires_in: _, ...withoutExpiresIn } = row
    assert.strictEqual(decoded(withoutExpiresIn).expiresAt, createdAt + 7200 * 1000)
    assert.strictEqual(decoded({ ...row, expires_in: "" }).expiresAt, createdAt + 7200 * 1000)
    assert.strictEqual(decoded({ ...row, expires_in: "2592000" }).expiresAt, createdAt + 2_592_000 * 1000)
  })

  it("refuses each unusable field with an InvalidArgument naming it", () => {
    const cases: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
      ["access_token", { ...row, access_token: "" }],
      ["access_token", { ...row, access_token: "   " }],
      ["access_token", { ...row, access_token: undefined }],
      ["access_token", { ...row, access_token: 12345 }],
      ["refresh_token", { ...row, refresh_token: null }],
      ["openid", { ...row, openid: "" }],
      ["openid", { ...row, openid: "o".repeat(129) }],
      ["scope", { ...row, scope: ["snsapi_userinfo"] }],
      ["unionid", { ...row, unionid: 7 }],
      ["is_snapshotuser", { ...row, is_snapshotuser: 2 }],
      ["is_snapshotuser", { ...row, is_snapshotuser: "yes" }],
      ["expires_in", { ...row, expires_in: "0" }],
      ["expires_in", { ...row, expires_in: 0 }],
      ["expires_in", { ...row, expires_in: "-7200" }],
      ["expires_in", { ...row, expires_in: "7200.5" }],
      ["expires_in", { ...row, expires_in: 7200.5 }],
      ["expires_in", { ...row, expires_in: "2592001" }],
      ["expires_in", { ...row, expires_in: "1e300" }],
      ["expires_in", { ...row, expires_in: "0x1C20" }],
      ["expires_in", { ...row, expires_in: "Infinity" }],
      ["expires_in", { ...row, expires_in: Infinity }],
      ["expires_in", { ...row, expires_in: NaN }],
      ["create_at", { ...row, create_at: "yesterday-ish" }],
      ["create_at", { ...row, create_at: "-1750000000000" }],
      ["create_at", { ...row, create_at: -1 }],
      ["create_at", { ...row, create_at: "1960-01-01T00:00:00Z" }],
      ["create_at", { ...row, create_at: new Date(Number.NaN) }],
      ["create_at", { ...row, create_at: undefined }],
      ["create_at", { ...row, create_at: Infinity }],
      ["create_at", { ...row, create_at: -Infinity }],
      ["create_at", { ...row, create_at: NaN }],
      ["create_at", { ...row, create_at: "Infinity" }],
      ["create_at", { ...row, create_at: true }]
    ]
    for (const [field, record] of cases) {
      const error = refused(record)
      assert.strictEqual(error.argument, field, `${field}: ${Util.inspect(record[field])}`)
      assert.include(error.message, field)
    }
  })

  it("refuses an openid or unionid WeChat never gives (control characters, spaces, non-ASCII), as WeChatApi does", () => {
    // such an id becomes a session's identity, a store key and a log field: a stored row must not
    // bring in what WeChat's answers cannot (WeChatApi refuses these as MalformedResponse)
    const ids = ["o\nforged log line", "o\u0000victim", "o victim", "o\tx", "o\u2028x", "öé", "o\u007f"]
    for (const id of ids) {
      assert.strictEqual(refused({ ...row, openid: id }).argument, "openid", JSON.stringify(id))
      assert.strictEqual(refused({ ...row, unionid: id }).argument, "unionid", JSON.stringify(id))
      assert.strictEqual(refused({ ...row, openid: Buffer.from(id) }).argument, "openid", JSON.stringify(id))
    }
    // as WeChat gives them, padded by a CHAR column, still read
    assert.strictEqual(decoded({ ...row, openid: " o-_Az09!~ " }).openid, "o-_Az09!~")
    assert.strictEqual(decoded({ ...row, unionid: "oUnion_-9" }).unionid, "oUnion_-9")
  })

  it("refuses a record that is not an object, and a now that is not a time", () => {
    for (const record of [undefined, null, "token", 42, true, Symbol("token"), [], [row], () => row]) {
      assert.strictEqual(refused(record).argument, "record", String(typeof record))
    }
    for (const at of [NaN, Infinity, -Infinity, -1, Number.MAX_SAFE_INTEGER, "now" as unknown as number]) {
      assert.strictEqual(refused(row, at).argument, "now", String(at))
    }
  })

  it("never throws, never walks a hostile value, and quotes no value in its errors", () => {
    let nested: unknown = []
    for (let i = 0; i < 100_000; i++) nested = [nested]
    const huge = "A".repeat(tenMegabytes)
    const hugeDigits = "1".repeat(tenMegabytes)
    const hugeDate = "10:00 Z (".repeat(tenMegabytes / 9)
    const throwing = {
      ...row,
      get access_token(): string {
        throw new Error(`getter for ${accessToken}`)
      }
    }
    const revoked = Proxy.revocable({}, {})
    revoked.revoke()
    const trapping = new Proxy(row, {
      get: () => {
        throw new Error("trap")
      }
    })
    const transferred = new ArrayBuffer(8)
    const detached = new Uint8Array(transferred)
    structuredClone(transferred, { transfer: [transferred] })
    const cases: ReadonlyArray<readonly [string, unknown]> = [
      ["access_token", { ...row, access_token: nested }],
      ["create_at", { ...row, create_at: nested }],
      ["record", nested],
      ["access_token", { ...row, access_token: huge }],
      ["refresh_token", { ...row, refresh_token: Buffer.from(huge) }],
      ["openid", { ...row, openid: huge }],
      ["scope", { ...row, scope: huge }],
      ["unionid", { ...row, unionid: huge }],
      ["expires_in", { ...row, expires_in: hugeDigits }],
      ["create_at", { ...row, create_at: hugeDigits }],
      ["create_at", { ...row, create_at: hugeDate }],
      ["create_at", { ...row, create_at: "1".repeat(400) + ".5" }],
      ["access_token", { ...row, access_token: { toString: () => accessToken } }],
      ["access_token", {
        ...row,
        access_token: {
          toString: () => {
            throw new Error("toString")
          }
        }
      }],
      ["access_token", { ...row, access_token: Object.create(null) }],
      ["access_token", { ...row, access_token: new String(accessToken) }],
      ["access_token", { ...row, access_token: Buffer.from([0xff, 0xfe, 0xfd]) }],
      ["access_token", { ...row, access_token: detached }],
      ["create_at", { ...row, create_at: Object.create(Date.prototype) }],
      ["create_at", { ...row, create_at: Symbol("create_at") }],
      ["openid", { ...row, openid: 1n }],
      ["access_token", throwing],
      ["record", revoked.proxy],
      ["access_token", trapping]
    ]
    const started = performance.now()
    for (const [argument, record] of cases) {
      let result: Either.Either<OAuthToken.OAuthToken, WeChatError.InvalidArgument> | undefined
      assert.doesNotThrow(() => {
        result = LegacyToken.decode(record, now)
      }, argument)
      assert.isTrue(result !== undefined && Either.isLeft(result), argument)
      const error = (result as Either.Left<WeChatError.InvalidArgument, OAuthToken.OAuthToken>).left
      assert.strictEqual(error.argument, argument)
      const shown = Util.inspect(error, { depth: 10 }) + JSON.stringify(error) + error.message
      assert.notInclude(shown, accessToken)
      assert.notInclude(shown, refreshToken)
      assert.isBelow(shown.length, 2_000, "no value is quoted")
    }
    // the 10 MB values are refused by their length, not read
    assert.isBelow(performance.now() - started, 1_000)
  })

  it("quotes no token of a valid record in an error of another field", () => {
    const error = refused({ ...row, create_at: "soon" })
    const shown = Util.inspect(error, { depth: 10 }) + JSON.stringify(error) + error.message
    assert.notInclude(shown, accessToken)
    assert.notInclude(shown, refreshToken)
    assert.notInclude(shown, "soon")
  })
})
