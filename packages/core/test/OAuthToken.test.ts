import { assert, describe, it } from "@effect/vitest"
import { OAuthToken, type WeChatApi, type WeChatError } from "@wxauth/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Equal from "effect/Equal"
import * as Hash from "effect/Hash"
import * as Redacted from "effect/Redacted"
import * as Util from "node:util"

const now = Date.UTC(2026, 0, 15, 8, 0, 0)

/** WeChat's token answer, as `WeChatApi` decodes it. */
const answer = (overrides: Partial<WeChatApi.TokenResponse> = {}): WeChatApi.TokenResponse => ({
  access_token: Redacted.make("ACCESS-1"),
  expires_in: 7200,
  refresh_token: Redacted.make("REFRESH-1"),
  openid: "oALICE",
  scope: "snsapi_userinfo",
  ...overrides
})

const token = (response: WeChatApi.TokenResponse, at: number, previous?: OAuthToken.OAuthToken) =>
  Either.getOrThrowWith(OAuthToken.fromResponse(response, at, previous), (error) => new Error(error.message))

const refused = (response: unknown, at: unknown, previous?: unknown): WeChatError.InvalidArgument => {
  const result = OAuthToken.fromResponse(
    response as WeChatApi.TokenResponse,
    at as number,
    previous as OAuthToken.OAuthToken
  )
  if (Either.isRight(result)) throw new Error("accepted")
  return result.left
}

describe("OAuthToken", () => {
  describe("fromResponse", () => {
    it("a first token: obtained now, access for expires_in, refresh for 30 days, scopes split", () => {
      const first = token(
        answer({ scope: "snsapi_base,snsapi_userinfo", unionid: "uALICE", is_snapshotuser: 1 }),
        now
      )
      assert.strictEqual(first.openid, "oALICE")
      assert.strictEqual(Redacted.value(first.accessToken), "ACCESS-1")
      assert.strictEqual(Redacted.value(first.refreshToken), "REFRESH-1")
      assert.deepStrictEqual(first.scope, ["snsapi_base", "snsapi_userinfo"])
      assert.strictEqual(first.unionid, "uALICE")
      assert.isTrue(first.isSnapshotUser)
      assert.strictEqual(first.obtainedAt, now)
      assert.strictEqual(first.expiresAt, now + 7_200_000)
      assert.strictEqual(first.refreshExpiresAt, now + OAuthToken.refreshTokenLifeMillis)
      assert.strictEqual(OAuthToken.refreshTokenLifeMillis, 30 * 24 * 3600 * 1000)
      const plain = token(answer({ scope: " snsapi_base  snsapi_userinfo ", unionid: "" }), now)
      assert.deepStrictEqual(plain.scope, ["snsapi_base", "snsapi_userinfo"])
      assert.isUndefined(plain.unionid, "an empty unionid is no unionid")
      assert.isFalse(plain.isSnapshotUser)
    })

    it("a refresh keeps the refresh token's life and the unionid WeChat left out", () => {
      const first = token(answer({ unionid: "uALICE" }), now)
      const later = now + 3 * 3600 * 1000
      const refreshed = token(
        answer({ access_token: Redacted.make("ACCESS-2"), refresh_token: Redacted.make("REFRESH-2") }),
        later,
        first
      )
      assert.strictEqual(Redacted.value(refreshed.accessToken), "ACCESS-2")
      assert.strictEqual(Redacted.value(refreshed.refreshToken), "REFRESH-2")
      assert.strictEqual(refreshed.obtainedAt, later)
      assert.strictEqual(refreshed.expiresAt, later + 7_200_000)
      assert.strictEqual(refreshed.refreshExpiresAt, first.refreshExpiresAt, "refreshing does not extend it")
      assert.strictEqual(refreshed.unionid, "uALICE")
      const renamed = token(answer({ unionid: "uOTHER" }), later, first)
      assert.strictEqual(renamed.unionid, "uOTHER", "a unionid WeChat sends wins")
    })

    it("obtainedAt strictly increases over the previous token, even in the same millisecond or a clock gone back", () => {
      const first = token(answer(), now)
      const same = token(answer(), now, first)
      assert.strictEqual(same.obtainedAt, now + 1)
      const back = token(answer(), now - 60_000, same)
      assert.strictEqual(back.obtainedAt, now + 2)
      assert.isTrue(back.obtainedAt > same.obtainedAt && same.obtainedAt > first.obtainedAt)
    })

    it("a token stamped after the previous one expires by the clock (WeChat counts from its answer), never at or before its stamp", () => {
      const first = token(answer(), now)
      const same = token(answer(), now, first)
      assert.strictEqual(same.obtainedAt, now + 1)
      assert.strictEqual(same.expiresAt, now + 7_200_000)
      // the previous token stamped 1 hour ahead (another machine's clock): WeChat's 2 hours still run from now
      const ahead = new OAuthToken.OAuthToken({ ...first, obtainedAt: now + 3_600_000, expiresAt: now + 10_800_000 })
      const refreshed = token(answer(), now, ahead)
      assert.strictEqual(refreshed.obtainedAt, now + 3_600_001)
      assert.strictEqual(refreshed.expiresAt, now + 7_200_000)
      // ahead by more than the token's life: it expires just after its stamp
      const farAhead = new OAuthToken.OAuthToken({ ...first, obtainedAt: now + 86_400_000 })
      const stepped = token(answer(), now, farAhead)
      assert.strictEqual(stepped.obtainedAt, now + 86_400_001)
      assert.strictEqual(stepped.expiresAt, now + 86_400_002)
    })

    it("an argument of the wrong shape is InvalidArgument naming it", () => {
      const cases: ReadonlyArray<readonly [unknown, unknown, unknown, string]> = [
        [undefined, now, undefined, "response"],
        ["{\"access_token\":\"x\"}", now, undefined, "response"],
        [{ ...answer(), access_token: "ACCESS-1" }, now, undefined, "response"],
        [{ ...answer(), refresh_token: Redacted.make(42) }, now, undefined, "response"],
        [{ ...answer(), openid: "" }, now, undefined, "response"],
        [{ ...answer(), scope: ["snsapi_base"] }, now, undefined, "response"],
        [{ ...answer(), expires_in: 0 }, now, undefined, "response"],
        [{ ...answer(), expires_in: 7200.5 }, now, undefined, "response"],
        [{ ...answer(), expires_in: "7200" }, now, undefined, "response"],
        [{ ...answer(), unionid: 7 }, now, undefined, "response"],
        [answer(), Number.NaN, undefined, "now"],
        [answer(), -1, undefined, "now"],
        [answer(), String(now), undefined, "now"],
        [answer(), now, { ...token(answer(), now) }, "previous"],
        [answer(), now, "token", "previous"]
      ]
      for (const [response, at, previous, argument] of cases) {
        const error = refused(response, at, previous)
        assert.deepStrictEqual([error._tag, error.argument], ["InvalidArgument", argument], JSON.stringify(response))
        assert.notInclude(error.message, "ACCESS-1")
      }
    })
  })

  describe("the tokens inside", () => {
    it("accessToken and refreshToken are Redacted on every read, and print as <redacted> every way", () => {
      const first = token(answer({ unionid: "uALICE" }), now)
      for (const secret of [first.accessToken, first.refreshToken]) {
        assert.isTrue(Redacted.isRedacted(secret))
        assert.strictEqual(String(secret), "<redacted>")
      }
      const renderings = [
        String(first),
        JSON.stringify(first),
        JSON.stringify({ ...first }),
        Util.inspect(first, { depth: 10, showHidden: true, getters: true }),
        Util.format("%o", first),
        Object.getOwnPropertyNames(first).join(),
        Object.getOwnPropertySymbols(first).map(String).join(),
        Object.values(first).map(String).join()
      ]
      for (const text of renderings) {
        assert.notInclude(text, "ACCESS-1")
        assert.notInclude(text, "REFRESH-1")
      }
      assert.include(JSON.stringify(first), "\"accessToken\":\"<redacted>\"")
    })

    it("a copy by spread is a whole token: new OAuthToken({ ...token, field }) keeps the tokens", () => {
      const first = token(answer({ unionid: "uALICE" }), now)
      assert.includeMembers(Object.keys(first), ["accessToken", "refreshToken", "openid", "scope"])
      const moved = new OAuthToken.OAuthToken({ ...first, expiresAt: now + 1 })
      assert.strictEqual(Redacted.value(moved.accessToken), "ACCESS-1")
      assert.strictEqual(Redacted.value(moved.refreshToken), "REFRESH-1")
      assert.strictEqual(moved.expiresAt, now + 1)
      assert.throws(() => new OAuthToken.OAuthToken({ ...first, accessToken: "ACCESS-1" as never }))
    })

    it("equal when every field is, tokens included; a different access or refresh token is another token", () => {
      const first = token(answer(), now)
      const same = token(answer(), now)
      assert.isTrue(Equal.equals(first, same))
      assert.strictEqual(Hash.hash(first), Hash.hash(same))
      assert.isFalse(Equal.equals(first, token(answer({ access_token: Redacted.make("ACCESS-2") }), now)))
      assert.isFalse(Equal.equals(first, token(answer({ refresh_token: Redacted.make("REFRESH-2") }), now)))
    })

    it("tokens with the same scopes share one frozen scope array", () => {
      const a = token(answer({ scope: "snsapi_base,snsapi_userinfo" }), now)
      const b = token(answer({ scope: "snsapi_base snsapi_userinfo" }), now)
      assert.strictEqual(a.scope, b.scope)
      assert.isTrue(Object.isFrozen(a.scope))
      const own = new OAuthToken.OAuthToken({ ...a, scope: ["snsapi_base", "snsapi_userinfo"] })
      assert.strictEqual(own.scope, a.scope)
      const spaced = new OAuthToken.OAuthToken({ ...a, scope: ["snsapi_base snsapi_userinfo"] })
      assert.deepStrictEqual(spaced.scope, ["snsapi_base snsapi_userinfo"], "one scope with a space is not two")
      assert.notStrictEqual(token(answer({ scope: "snsapi_base" }), now).scope, a.scope)
    })
  })

  it("isFresh: valid while expiresAt is after now, minus the skew", () => {
    const first = token(answer(), now)
    const expiresAt = now + 7_200_000
    assert.isTrue(first.isFresh(now))
    assert.isTrue(first.isFresh(expiresAt - 1))
    assert.isFalse(first.isFresh(expiresAt))
    assert.isFalse(first.isFresh(expiresAt + 1))
    assert.isTrue(first.isFresh(expiresAt - 60_001, 60_000))
    assert.isFalse(first.isFresh(expiresAt - 60_000, 60_000))
    assert.isFalse(first.isFresh(now, 7_200_000))
  })

  describe("encodeJson / decodeJson", () => {
    it.effect("round trip: every field comes back, tokens Redacted again", () =>
      Effect.gen(function*() {
        const first = token(
          answer({ unionid: "uALICE", is_snapshotuser: 1, scope: "snsapi_base,snsapi_userinfo" }),
          now
        )
        const json = yield* OAuthToken.encodeJson(first)
        const back = yield* OAuthToken.decodeJson(json)
        assert.instanceOf(back, OAuthToken.OAuthToken)
        assert.isTrue(Redacted.isRedacted(back.accessToken))
        assert.strictEqual(Redacted.value(back.accessToken), "ACCESS-1")
        assert.strictEqual(Redacted.value(back.refreshToken), "REFRESH-1")
        const { accessToken: _a, refreshToken: _r, ...rest } = back
        const { accessToken: _a2, refreshToken: _r2, ...expected } = first
        assert.deepStrictEqual({ ...rest }, { ...expected })
        const refreshed = token(answer(), now + 1000, first)
        const again = yield* OAuthToken.decodeJson(yield* OAuthToken.encodeJson(refreshed))
        assert.strictEqual(again.refreshExpiresAt, first.refreshExpiresAt)
        assert.strictEqual(again.obtainedAt, now + 1000)
      }))

    it.effect("an encoded value over maxEncodedLength is refused before it is parsed, and not quoted", () =>
      Effect.gen(function*() {
        const json = yield* OAuthToken.encodeJson(token(answer(), now))
        const longest = json + " ".repeat(OAuthToken.maxEncodedLength - json.length)
        assert.strictEqual((yield* OAuthToken.decodeJson(longest)).openid, "oALICE")
        const error = yield* Effect.flip(OAuthToken.decodeJson(longest + " "))
        assert.strictEqual(error._tag, "ParseError")
        assert.notInclude(error.message, "ACCESS-1")
        assert.include(error.message, String(OAuthToken.maxEncodedLength))
        const huge = yield* Effect.flip(OAuthToken.decodeJson(`"${"x".repeat(10_000_000)}"`))
        assert.isBelow(huge.message.length, 1000)
      }))

    it.effect("a value that is not a token's JSON is a ParseError", () =>
      Effect.gen(function*() {
        for (const value of ["", "{", "{}", "null", "[]", 42]) {
          const error = yield* Effect.flip(OAuthToken.decodeJson(value as string))
          assert.strictEqual(error._tag, "ParseError", String(value))
        }
      }))
  })
})
