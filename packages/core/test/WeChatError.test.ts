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
  [61004, "ComponentIpNotWhitelisted"],
  [61005, "ComponentTicketExpired"],
  [61006, "ComponentTicketInvalid"],
  [61023, "AuthorizerRefreshTokenInvalid"],
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
      "ScopeUnauthorized",
      "AuthorizerRefreshTokenInvalid"
    ])
    assert.isTrue(WeChatError.requiresReauthorization(new WeChatError.ConsentDenied()))
    assert.isTrue(WeChatError.requiresReauthorization(new WeChatError.TokenNotFound({ appId: "a", openid: "o" })))
    assert.isFalse(WeChatError.requiresReauthorization(new Error("x")))
    assert.isFalse(WeChatError.isRetryable(undefined))
  })
})

const wechat = { errcode: 0, errmsg: "m", endpoint: "userinfo" }
const transport = (reason: WeChatError.TransportReason, phase?: "connect" | "headers" | "body" | "unknown") =>
  new WeChatError.TransportError({
    endpoint: "access_token",
    reason,
    description: "d",
    ...(phase === undefined ? {} : { phase })
  })

/** One row per error class: an instance, its kind, and whether a single-use code may be sent again after it. */
const kinds: ReadonlyArray<readonly [WeChatError.WeChatError, WeChatError.Kind, boolean]> = [
  [new WeChatError.InvalidCode({ ...wechat, errcode: 40029 }), "reauthorize", false],
  [new WeChatError.CodeUsed({ ...wechat, errcode: 40163 }), "permanent", false],
  [new WeChatError.CodeExpired({ ...wechat, errcode: 42003 }), "reauthorize", false],
  [new WeChatError.InvalidRefreshToken({ ...wechat, errcode: 40030 }), "reauthorize", false],
  [new WeChatError.RefreshTokenExpired({ ...wechat, errcode: 42002 }), "reauthorize", false],
  [new WeChatError.AccessTokenExpired({ ...wechat, errcode: 42001 }), "refreshable", false],
  [new WeChatError.InvalidAccessToken({ ...wechat, errcode: 40014 }), "refreshable", false],
  [new WeChatError.InvalidCredential({ ...wechat, errcode: 40001 }), "refreshable", false],
  [new WeChatError.InvalidOpenId({ ...wechat, errcode: 40003 }), "permanent", false],
  [new WeChatError.InvalidAppId({ ...wechat, errcode: 40013 }), "permanent", false],
  [new WeChatError.InvalidAppSecret({ ...wechat, errcode: 40125 }), "permanent", false],
  [new WeChatError.IpNotWhitelisted({ ...wechat, errcode: 40164 }), "permanent", false],
  [new WeChatError.MissingParameter({ ...wechat, errcode: 41001 }), "permanent", false],
  [new WeChatError.ScopeUnauthorized({ ...wechat, errcode: 48001 }), "reauthorize", false],
  [new WeChatError.UserUnauthorized({ ...wechat, errcode: 50001 }), "permanent", false],
  [new WeChatError.SystemBusy({ ...wechat, errcode: -1 }), "transient", true],
  [new WeChatError.RateLimited({ ...wechat, errcode: 45011 }), "throttled", false],
  [new WeChatError.CodeBlocked({ ...wechat, errcode: 40226 }), "permanent", false],
  [new WeChatError.PlatformManagedApp({ ...wechat, errcode: 61024 }), "permanent", false],
  [new WeChatError.InvalidSignature({ ...wechat, errcode: 87009 }), "reauthorize", false],
  [new WeChatError.IpRiskControl({ ...wechat, errcode: 89503 }), "permanent", false],
  [new WeChatError.ComponentIpNotWhitelisted({ ...wechat, errcode: 61004 }), "permanent", false],
  [new WeChatError.ComponentTicketExpired({ ...wechat, errcode: 61005 }), "permanent", false],
  [new WeChatError.ComponentTicketInvalid({ ...wechat, errcode: 61006 }), "permanent", false],
  [new WeChatError.AuthorizerRefreshTokenInvalid({ ...wechat, errcode: 61023 }), "reauthorize", false],
  [new WeChatError.ComponentTicketMissing({ componentAppId: "wxcomponent" }), "permanent", false],
  [new WeChatError.InvalidPush({ reason: "BadSignature", description: "d" }), "permanent", false],
  // not retryable by a caller: WeChat pushes the same push again
  [new WeChatError.PushTimeout({ timeout: "4s" }), "permanent", false],
  [new WeChatError.PushInProgress(), "permanent", false],
  [new WeChatError.UnknownWeChatError({ ...wechat, errcode: 61451 }), "permanent", false],
  [transport("Timeout"), "transient", false],
  [new WeChatError.MalformedResponse({ endpoint: "userinfo", description: "d" }), "permanent", false],
  [new WeChatError.ConsentDenied(), "reauthorize", false],
  [new WeChatError.StateMismatch({ reason: "Expired" }), "permanent", false],
  [new WeChatError.TokenNotFound({ appId: "a", openid: "o" }), "reauthorize", false],
  [new WeChatError.TokenStoreError({ operation: "get", description: "d" }), "permanent", false],
  [new WeChatError.SessionStoreError({ operation: "get", description: "d" }), "permanent", false],
  [new WeChatError.UnknownApp({ appId: "wxunknown" }), "permanent", false],
  // a resolver's failure is not cached: the next call resolves again, nothing retries it in a loop
  [new WeChatError.AppResolveError({ appId: "wxapp", reason: "Timeout", description: "d" }), "permanent", false],
  [new WeChatError.RefreshLockTimeout({ key: "a:o", waitedMillis: 1 }), "transient", false],
  [new WeChatError.DecryptError({ reason: "BadPadding", description: "d" }), "permanent", false],
  [new WeChatError.InvalidArgument({ argument: "code", description: "d" }), "permanent", false],
  [new WeChatError.SessionKeyNotFound({ appId: "a", openid: "o" }), "reauthorize", false]
]

describe("RefreshLockTimeout", () => {
  it("its message names the app, never the openid (apps log messages); the key stays a field", () => {
    const openid = "oUser_9dKq2fZ"
    const cases: ReadonlyArray<readonly [string, string]> = [
      [`wx1234567890abcdef:${openid}`, "a user's refresh lock of app wx1234567890abcdef"],
      [`wx1234567890abcdef:${openid}:write`, "a user's refresh lock of app wx1234567890abcdef"],
      ["app-token:wx1234567890abcdef", "the app token lock of app wx1234567890abcdef"],
      [openid, "a refresh lock"],
      [`:${openid}`, "a refresh lock"]
    ]
    for (const [key, says] of cases) {
      const error = new WeChatError.RefreshLockTimeout({ key, waitedMillis: 3000 })
      assert.strictEqual(error.message, `Timed out after 3000 ms waiting for ${says}`)
      assert.notInclude(error.message, openid)
      assert.notInclude(String(error), openid.slice(0, -1))
      assert.strictEqual(error.key, key)
    }
  })
})

describe("WeChatError classification", () => {
  it("the table below has one row for every error class of the module", () => {
    const classes = Object.values(WeChatError)
      .flatMap((value) =>
        typeof value === "function" && "_tag" in value && typeof value._tag === "string" ? [value._tag] : []
      )
    assert.sameMembers(kinds.map(([error]) => error._tag), classes)
  })

  it("kindOf gives every error class its kind", () => {
    for (const [error, kind] of kinds) assert.strictEqual(WeChatError.kindOf(error), kind, error._tag)
  })

  it("fromErrcode's errors have the kind of their class", () => {
    const byTag = new Map<string, WeChatError.Kind>(kinds.map(([error, kind]) => [error._tag, kind]))
    for (const [errcode, tag] of table) {
      assert.strictEqual(WeChatError.kindOf(WeChatError.fromErrcode(errcode, "")), byTag.get(tag), `errcode ${errcode}`)
    }
  })

  it("the predicates read the kind: isTransient, isRetryable, isRefreshable, requiresReauthorization", () => {
    for (const [error, kind] of kinds) {
      assert.strictEqual(WeChatError.isTransient(error), kind === "transient", `isTransient ${error._tag}`)
      assert.strictEqual(
        WeChatError.isRetryable(error),
        kind === "transient" || kind === "throttled",
        `isRetryable ${error._tag}`
      )
      assert.strictEqual(WeChatError.isRefreshable(error), kind === "refreshable", `isRefreshable ${error._tag}`)
      assert.strictEqual(
        WeChatError.requiresReauthorization(error),
        kind === "reauthorize",
        `requiresReauthorization ${error._tag}`
      )
    }
  })

  it("48001 (ScopeUnauthorized) is permanent from every endpoint but userinfo and auth (the app lacks the API); from those, reauthorize", () => {
    // the app lacks the API's permission (e.g. it is not a mini program): no user's login helps
    const appLevel = [
      "getuserphonenumber",
      "checksession",
      "resetusersessionkey",
      "stable_token",
      "token",
      "api_component_token",
      "api_query_auth",
      "api_authorizer_token",
      // the code exchange, the refresh and the mini-program login: the app lacks web or mini-program
      // login, no consent grants it
      "access_token",
      "refresh_token",
      "jscode2session",
      "component_access_token",
      "component_refresh_token",
      "component_jscode2session",
      // an API of the caller's own, called through AppToken.withToken
      "wxa/getwxacode"
    ] as const
    for (const endpoint of appLevel) {
      const error = WeChatError.fromErrcode(48001, "api unauthorized", endpoint)
      assert.strictEqual(error._tag, "ScopeUnauthorized", endpoint)
      assert.strictEqual(WeChatError.kindOf(error), "permanent", endpoint)
      assert.isFalse(WeChatError.requiresReauthorization(error), endpoint)
      assert.isFalse(WeChatError.isRetryable(error), endpoint)
      assert.include(error.message, "The app is not authorized for this API", endpoint)
      assert.notInclude(error.message, "snsapi_userinfo", endpoint)
    }
    // a user's consent that did not cover the API: a new consent with snsapi_userinfo helps
    for (const endpoint of ["userinfo", "auth", undefined]) {
      const error = WeChatError.fromErrcode(48001, "api unauthorized", endpoint)
      assert.strictEqual(WeChatError.kindOf(error), "reauthorize", String(endpoint))
      assert.isTrue(WeChatError.requiresReauthorization(error), String(endpoint))
      assert.include(error.message, "snsapi_userinfo", String(endpoint))
    }
    // an endpoint field that throws when read (a JavaScript caller's Proxy) is no app-level endpoint
    const hostile = new Proxy(new WeChatError.ScopeUnauthorized({ errcode: 48001, errmsg: "" }), {
      get: (target, key, receiver) => {
        if (key === "endpoint") throw new Error("boom")
        return Reflect.get(target, key, receiver)
      }
    })
    assert.strictEqual(WeChatError.kindOf(hostile), "reauthorize")
  })

  it("a 40001 from an endpoint that sends the app secret is the secret rejected (permanent, as 40125); elsewhere a token to refresh", () => {
    for (
      const endpoint of ["access_token", "jscode2session", "stable_token", "token", "api_component_token"] as const
    ) {
      const error = WeChatError.fromErrcode(40001, "invalid credential", endpoint)
      assert.strictEqual(error._tag, "InvalidCredential", endpoint)
      assert.strictEqual(WeChatError.kindOf(error), "permanent", endpoint)
      assert.strictEqual(WeChatError.kindOf(error), WeChatError.kindOf(WeChatError.fromErrcode(40125, "", endpoint)))
      assert.isFalse(WeChatError.isRefreshable(error), endpoint)
      assert.isFalse(WeChatError.isRetryable(error), endpoint)
    }
    for (
      const endpoint of ["userinfo", "auth", "getuserphonenumber", "refresh_token", "component_access_token", undefined]
    ) {
      const error = WeChatError.fromErrcode(40001, "invalid credential", endpoint)
      assert.strictEqual(WeChatError.kindOf(error), "refreshable", String(endpoint))
      assert.isTrue(WeChatError.isRefreshable(error), String(endpoint))
    }
    // an endpoint field that throws when read (a JavaScript caller's Proxy) is no secret endpoint
    const hostile = new Proxy(new WeChatError.InvalidCredential({ errcode: 40001, errmsg: "" }), {
      get: (target, key, receiver) => {
        if (key === "endpoint") throw new Error("boom")
        return Reflect.get(target, key, receiver)
      }
    })
    assert.strictEqual(WeChatError.kindOf(hostile), "refreshable")
  })

  it("isSafeToResend: only after -1 or a request that was never sent", () => {
    for (const [error, , safe] of kinds) assert.strictEqual(WeChatError.isSafeToResend(error), safe, error._tag)
    assert.isTrue(WeChatError.isSafeToResend(transport("ConnectionRefused")))
    assert.isTrue(WeChatError.isSafeToResend(transport("Timeout", "connect")))
    assert.isTrue(WeChatError.isSafeToResend(transport("Network", "connect")))
    assert.isFalse(WeChatError.isSafeToResend(transport("Timeout", "headers")))
    assert.isFalse(WeChatError.isSafeToResend(transport("Network", "body")))
    assert.isFalse(WeChatError.isSafeToResend(transport("Network", "unknown")))
    assert.isFalse(WeChatError.isSafeToResend(transport("HttpStatus")))
  })

  it("anything that is not an error of the module is permanent", () => {
    for (const value of [undefined, null, 0, "SystemBusy", new Error("x"), {}, { _tag: 1 }]) {
      assert.strictEqual(WeChatError.kindOf(value), "permanent", String(value))
      assert.isFalse(WeChatError.isTransient(value))
      assert.isFalse(WeChatError.isSafeToResend(value))
    }
    // a tag that names a property of every object is not a kind
    for (const tag of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
      assert.strictEqual(WeChatError.kindOf({ _tag: tag }), "permanent", tag)
    }
  })
})

describe("requiresReauthorization's type", () => {
  it("a ScopeUnauthorized stays in the type where it is false (not every 48001 asks for a consent)", () => {
    const error = WeChatError.fromErrcode(48001, "api unauthorized", "getuserphonenumber") as
      | WeChatError.ScopeUnauthorized
      | WeChatError.InvalidCode
    if (WeChatError.requiresReauthorization(error)) return assert.fail("an app-level 48001 asks for no consent")
    // compile-time: with a predicate claiming every ScopeUnauthorized, `error` was `never` here and
    // this line did not compile ("Property '_tag' does not exist on type 'never'")
    const tag: "ScopeUnauthorized" | "InvalidCode" = error._tag
    assert.strictEqual(tag, "ScopeUnauthorized")
    // where it is true, the narrowed value is still a ScopeUnauthorized
    const user = WeChatError.fromErrcode(48001, "api unauthorized", "userinfo") as WeChatError.ScopeUnauthorized
    if (WeChatError.requiresReauthorization(user)) assert.strictEqual(user.errcode, 48001)
    else assert.fail("userinfo's 48001 asks for a consent")
  })

  it("where it is true, the type holds every tag whose kind is reauthorize", () => {
    const errors = [
      new WeChatError.SessionKeyNotFound({ appId: "wx0", openid: "o" }),
      WeChatError.fromErrcode(61023, "invalid refresh token", "api_authorizer_token"),
      new WeChatError.SystemBusy({ errcode: -1, errmsg: "busy" })
    ] as Array<
      WeChatError.SessionKeyNotFound | WeChatError.AuthorizerRefreshTokenInvalid | WeChatError.SystemBusy
    >
    const tags: Array<string> = []
    for (const error of errors) {
      if (!WeChatError.requiresReauthorization(error)) continue
      // compile-time: without these tags in the predicate's type, `error` was `never` here and this
      // line did not compile ("Property '_tag' does not exist on type 'never'")
      const tag: "SessionKeyNotFound" | "AuthorizerRefreshTokenInvalid" = error._tag
      tags.push(tag)
    }
    assert.deepStrictEqual(tags, ["SessionKeyNotFound", "AuthorizerRefreshTokenInvalid"])
  })
})
