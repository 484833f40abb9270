import { assert, describe, it } from "@effect/vitest"
import { WeChatError } from "@wxauth/core"

const table: ReadonlyArray<readonly [number, string]> = [
  [-1, "SystemBusy"],
  [40001, "InvalidCredential"],
  [40003, "InvalidOpenId"],
  [40013, "InvalidAppId"],
  [40014, "InvalidAccessToken"],
  [40029, "InvalidCode"],
  [40030, "InvalidRefreshToken"],
  [40125, "InvalidAppSecret"],
  [40163, "CodeUsed"],
  [40164, "IpNotWhitelisted"],
  [40226, "CodeBlocked"],
  [41001, "MissingParameter"],
  [41009, "MissingParameter"],
  [42001, "AccessTokenExpired"],
  [42002, "RefreshTokenExpired"],
  [42003, "CodeExpired"],
  [45009, "RateLimited"],
  [45011, "RateLimited"],
  [48001, "ScopeUnauthorized"],
  [50001, "UserUnauthorized"],
  [50002, "UserUnauthorized"],
  [41010, "UnknownWeChatError"],
  [61451, "UnknownWeChatError"]
]

describe("WeChatError", () => {
  it("maps every errcode to its tag, keeping errcode and errmsg", () => {
    for (const [errcode, tag] of table) {
      const error = WeChatError.fromErrcode(errcode, `msg ${errcode}`, "userinfo")
      assert.strictEqual(error._tag, tag, `errcode ${errcode}`)
      assert.strictEqual(error.errcode, errcode)
      assert.strictEqual(error.errmsg, `msg ${errcode}`)
      assert.include(error.message, String(errcode))
    }
  })

  it("isRetryable and requiresReauthorization follow the design", () => {
    const retryable = table.filter(([code]) => WeChatError.isRetryable(WeChatError.fromErrcode(code, ""))).map((
      [, t]
    ) => t)
    assert.deepStrictEqual([...new Set(retryable)], ["SystemBusy", "RateLimited"])
    assert.isTrue(
      WeChatError.isRetryable(new WeChatError.TransportError({ endpoint: "auth", reason: "Timeout", description: "" }))
    )
    const reauth = table.filter(([code]) => WeChatError.requiresReauthorization(WeChatError.fromErrcode(code, "")))
      .map(([, t]) => t)
    assert.deepStrictEqual(reauth, [
      "InvalidCode",
      "InvalidRefreshToken",
      "RefreshTokenExpired",
      "CodeExpired",
      "ScopeUnauthorized"
    ])
    assert.isTrue(WeChatError.requiresReauthorization(new WeChatError.ConsentDenied()))
    assert.isTrue(WeChatError.requiresReauthorization(new WeChatError.TokenNotFound({ appId: "a", openid: "o" })))
    assert.isFalse(WeChatError.requiresReauthorization(new Error("x")))
    assert.isFalse(WeChatError.isRetryable(undefined))
  })
})
