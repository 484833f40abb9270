/**
 * Seed 000 (a functional promise API): every function with its documented parameters and results,
 * against the sandbox over HTTP, pointed there with WECHAT_API_BASE_URL / WECHAT_OPEN_BASE_URL.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { checkAccessToken, getAuthUrl, getToken, getUserinfo, refreshToken } from "@wxauth/compat"
import { OA, redirectUri, type RunningSandbox, startSandbox } from "./helpers.js"

let sandbox: RunningSandbox
let savedEnv: Record<string, string | undefined>

beforeAll(async () => {
  sandbox = await startSandbox()
  savedEnv = { api: process.env.WECHAT_API_BASE_URL, open: process.env.WECHAT_OPEN_BASE_URL }
  process.env.WECHAT_API_BASE_URL = sandbox.url
  process.env.WECHAT_OPEN_BASE_URL = sandbox.url
})

afterAll(async () => {
  for (const [key, value] of [["WECHAT_API_BASE_URL", savedEnv.api], ["WECHAT_OPEN_BASE_URL", savedEnv.open]]) {
    if (value === undefined) delete process.env[key!]
    else process.env[key!] = value
  }
  await sandbox?.dispose()
})

const rejection = (promise: Promise<unknown>): Promise<any> =>
  promise.then(() => assert.fail("expected a rejection"), (error) => error)

const tokenKeys = ["access_token", "expires_in", "refresh_token", "openid", "scope"]

describe("seed 000: getAuthUrl(appid, redirect_uri, state, scope)", () => {
  it("returns { url, state } with a generated [a-zA-Z0-9] state and snsapi_base by default", () => {
    const result = getAuthUrl(OA.appId, redirectUri)
    assert.isObject(result)
    const { state, url } = result as { url: string; state: string }
    assert.match(state, /^[a-zA-Z0-9]{32}$/)
    assert.strictEqual(
      url,
      `${sandbox.url}/connect/oauth2/authorize?appid=${OA.appId}&redirect_uri=${
        encodeURIComponent(redirectUri)
      }&response_type=code&scope=snsapi_base&state=${state}#wechat_redirect`
    )
    const other = getAuthUrl(OA.appId, redirectUri) as { state: string }
    assert.notStrictEqual(other.state, state)
  })

  it("keeps the given state and scope", () => {
    const result = getAuthUrl(OA.appId, redirectUri, "user42", "snsapi_userinfo")
    assert.deepStrictEqual(result, {
      url: `${sandbox.url}/connect/oauth2/authorize?appid=${OA.appId}&redirect_uri=${
        encodeURIComponent(redirectUri)
      }&response_type=code&scope=snsapi_userinfo&state=user42#wechat_redirect`,
      state: "user42"
    })
  })

  it("returns false on bad input", () => {
    assert.isFalse(getAuthUrl("", redirectUri))
    assert.isFalse(getAuthUrl(undefined as never, redirectUri))
    assert.isFalse(getAuthUrl(OA.appId, "/relative/callback"))
    assert.isFalse(getAuthUrl(OA.appId, "javascript:alert(1)"))
    assert.isFalse(getAuthUrl(OA.appId, redirectUri, "not-alnum"))
    assert.isFalse(getAuthUrl(OA.appId, redirectUri, "x".repeat(129)))
    assert.isFalse(getAuthUrl(OA.appId, redirectUri, "ok", "snsapi_login"))
  })

  it("WeChat (the sandbox) accepts the URL", async () => {
    const { url } = getAuthUrl(OA.appId, redirectUri, undefined, "snsapi_userinfo") as { url: string }
    const page = await fetch(url.replace("#wechat_redirect", ""))
    assert.strictEqual(page.status, 200)
  })
})

describe("seed 000: getToken(appid, r_url, secret)", () => {
  it("takes the full callback URL and resolves with the token and the state", async () => {
    const callbackUrl = await sandbox.approve({ state: "st4te" })
    const result = await getToken(OA.appId, callbackUrl, OA.secret)
    for (const key of tokenKeys) assert.property(result, key)
    assert.strictEqual(result.state, "st4te")
    assert.strictEqual(result.expires_in, 7200)
    assert.strictEqual(result.openid, sandbox.sandbox.openidOf(OA.appId, "alice"))
    assert.strictEqual(result.scope, "snsapi_userinfo")
  })

  it("takes a relative callback URL (req.url), or its query", async () => {
    const relative = (callbackUrl: string) => {
      const url = new URL(callbackUrl)
      return url.pathname + url.search
    }
    const fromReqUrl = await getToken(OA.appId, relative(await sandbox.approve({ state: "rel1" })), OA.secret)
    assert.strictEqual(fromReqUrl.state, "rel1")
    assert.strictEqual(fromReqUrl.openid, sandbox.sandbox.openidOf(OA.appId, "alice"))
    const fromQuery = await getToken(
      OA.appId,
      new URL(await sandbox.approve({ user: "bob", state: "rel2" })).search,
      OA.secret
    )
    assert.strictEqual(fromQuery.state, "rel2")
    assert.strictEqual(fromQuery.openid, sandbox.sandbox.openidOf(OA.appId, "bob"))
    const bareQuery = new URL(await sandbox.approve({ user: "carol", state: "rel3" })).search.slice(1)
    const fromBareQuery = await getToken(OA.appId, bareQuery, OA.secret)
    assert.strictEqual(fromBareQuery.state, "rel3")
    assert.strictEqual(fromBareQuery.openid, sandbox.sandbox.openidOf(OA.appId, "carol"))
    const denied = await rejection(getToken(OA.appId, "/auth/callback?state=abc", OA.secret))
    assert.strictEqual(denied.name, "WeChatAPIConsentDeniedError")
  })

  it("takes the code alone", async () => {
    const result = await getToken(OA.appId, await sandbox.code({ user: "bob" }), OA.secret)
    assert.strictEqual(result.openid, sandbox.sandbox.openidOf(OA.appId, "bob"))
    assert.isUndefined(result.state)
  })

  it("rejects with typed errors", async () => {
    const invalid = await rejection(getToken(OA.appId, "bad-code", OA.secret))
    assert.strictEqual(invalid.name, "WeChatAPIError")
    assert.strictEqual(invalid.code, 40029)
    const wrongSecret = await rejection(getToken(OA.appId, await sandbox.code(), "0".repeat(32)))
    assert.strictEqual(wrongSecret.code, 40125)
    assert.notInclude(JSON.stringify(wrongSecret), OA.secret)
    const denied = await rejection(getToken(OA.appId, `${redirectUri}?state=abc`, OA.secret))
    assert.strictEqual(denied.name, "WeChatAPIConsentDeniedError")
    const missing = await rejection(getToken(OA.appId, "", OA.secret))
    assert.strictEqual(missing.name, "WeChatAPIInvalidArgumentError")
  })
})

describe("seed 000: refreshToken(appid, refresh_token)", () => {
  it("resolves with the refreshed token", async () => {
    const token = await getToken(OA.appId, await sandbox.code(), OA.secret)
    const refreshed = await refreshToken(OA.appId, token.refresh_token)
    assert.deepStrictEqual(Object.keys(refreshed).slice(0, 5), tokenKeys)
    assert.strictEqual(refreshed.openid, token.openid)
    assert.strictEqual(refreshed.refresh_token, token.refresh_token)
    const invalid = await rejection(refreshToken(OA.appId, "not-a-refresh-token"))
    assert.strictEqual(invalid.code, 40030)
  })
})

describe("seed 000: getUserinfo(access_token, openid, lang)", () => {
  it("resolves with the profile, zh_CN by default", async () => {
    const token = await getToken(OA.appId, await sandbox.code(), OA.secret)
    const user = await getUserinfo(token.access_token, token.openid)
    assert.deepStrictEqual(user, {
      openid: token.openid,
      nickname: "张三",
      sex: 2,
      province: "广东",
      city: "深圳",
      country: "中国",
      headimgurl: "https://thirdwx.qlogo.cn/mmopen/vi_32/sandbox-alice/132",
      privilege: [],
      unionid: "olzWokv71Boc1knksRfAoCKqK1O9"
    })
    assert.strictEqual((await getUserinfo(token.access_token, token.openid, "en")).city, "Shenzhen")
    const scope = await rejection(
      getToken(OA.appId, await sandbox.code({ scope: "snsapi_base" }), OA.secret).then((base) =>
        getUserinfo(base.access_token, base.openid)
      )
    )
    assert.strictEqual(scope.code, 48001)
  })

  it("an error keeps WeChat's message whole, its rid included (what WeChat support asks for)", async () => {
    const base = await getToken(OA.appId, await sandbox.code({ scope: "snsapi_base" }), OA.secret)
    const scope = await rejection(getUserinfo(base.access_token, base.openid))
    assert.strictEqual(scope.code, 48001)
    // WeChat's rid is hex groups joined by hyphens: nothing in it is a secret of the call
    assert.match(scope.message, /rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/)
    assert.notInclude(scope.message, "<redacted>")
  })
})

describe("seed 000: checkAccessToken(access_token, openid)", () => {
  it("resolves true for a valid token, false for an invalid one or another user's", async () => {
    const token = await getToken(OA.appId, await sandbox.code(), OA.secret)
    assert.isTrue(await checkAccessToken(token.access_token, token.openid))
    assert.isFalse(await checkAccessToken("not-a-token", token.openid))
    assert.isFalse(await checkAccessToken(token.access_token, sandbox.sandbox.openidOf(OA.appId, "bob")))
    assert.isFalse(await checkAccessToken("", token.openid))
  })

  it("rejects when WeChat is busy: that says nothing about the token", async () => {
    const token = await getToken(OA.appId, await sandbox.code(), OA.secret)
    await sandbox.run(sandbox.sandbox.injectFault({ kind: "busy", endpoint: "auth", times: 3 }))
    const busy = await rejection(checkAccessToken(token.access_token, token.openid))
    assert.strictEqual(busy.name, "WeChatAPIError")
    assert.strictEqual(busy.code, -1)
    assert.match(busy.message, /rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/)
    assert.notInclude(busy.message, "<redacted>")
  })
})
