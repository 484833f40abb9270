/**
 * Seed 002 (wechat-oauth's API documentation), every example, in callback and promise form, against
 * the sandbox over HTTP.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import OAuth, { AccessToken } from "@wxauth/compat"
import { callback, OA, redirectUri, type RunningSandbox, startSandbox } from "./helpers.js"

let sandbox: RunningSandbox
let api: OAuth

beforeAll(async () => {
  sandbox = await startSandbox()
  // "var api = new OAuth('appid', 'secret');"
  api = new OAuth(OA.appId, OA.secret)
  // "oauth.setOpts({timeout: 15000});" plus the sandbox's address
  api.setOpts({ timeout: 15000, apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url })
})

afterAll(async () => {
  await api?.close()
  await sandbox?.dispose()
})

const tokenKeys = ["access_token", "expires_in", "refresh_token", "openid", "scope"]

describe("seed 002: OAuth", () => {
  it("setOpts keeps what it was given in defaults", () => {
    assert.strictEqual(api.defaults.timeout, 15000)
  })

  it("getAuthorizeURL(redirect, state, scope) and getAuthorizeURLForWebsite(redirect, state, scope)", () => {
    assert.strictEqual(
      api.getAuthorizeURL(redirectUri, "state123", "snsapi_userinfo"),
      `${sandbox.url}/connect/oauth2/authorize?appid=${OA.appId}&redirect_uri=${
        encodeURIComponent(redirectUri)
      }&response_type=code&scope=snsapi_userinfo&state=state123#wechat_redirect`
    )
    assert.strictEqual(
      api.getAuthorizeURLForWebsite(redirectUri, "state123", "snsapi_login"),
      `${sandbox.url}/connect/qrconnect?appid=${OA.appId}&redirect_uri=${
        encodeURIComponent(redirectUri)
      }&response_type=code&scope=snsapi_login&state=state123#wechat_redirect`
    )
  })

  it("the authorize URL leads to the consent page and back with a code", async () => {
    const page = await fetch(api.getAuthorizeURL(redirectUri, "abc", "snsapi_userinfo").replace("#wechat_redirect", ""))
    assert.strictEqual(page.status, 200)
    assert.include(await page.text(), OA.appId)
  })

  it("api.getAccessToken(code, callback): result.data has WeChat's fields", async () => {
    const code = await sandbox.code()
    const [err, result] = await callback<AccessToken>((cb) => api.getAccessToken(code, cb))
    assert.isNull(err)
    assert.instanceOf(result, AccessToken)
    for (const key of tokenKeys) assert.property(result!.data, key)
    assert.strictEqual(result!.data.expires_in, 7200)
    assert.strictEqual(result!.data.openid, sandbox.sandbox.openidOf(OA.appId, "alice"))
    assert.strictEqual(result!.data.scope, "snsapi_userinfo")
    assert.isNumber(result!.data.create_at)
    assert.isTrue(result!.isValid())
  })

  it("api.getAccessToken(code) without a callback returns a promise", async () => {
    const result = await api.getAccessToken(await sandbox.code({ user: "bob" }))
    assert.strictEqual(result.data.openid, sandbox.sandbox.openidOf(OA.appId, "bob"))
    assert.match(result.data.access_token, /\S+/)
  })

  it("api.refreshAccessToken(refreshToken, callback)", async () => {
    const token = await api.getAccessToken(await sandbox.code())
    const [err, result] = await callback<AccessToken>((cb) => api.refreshAccessToken(token.data.refresh_token, cb))
    assert.isNull(err)
    for (const key of tokenKeys) assert.property(result!.data, key)
    assert.strictEqual(result!.data.openid, token.data.openid)
    assert.strictEqual(result!.data.refresh_token, token.data.refresh_token)
    assert.isAtLeast(result!.data.create_at, token.data.create_at)
    // and as a promise
    const again = await api.refreshAccessToken(token.data.refresh_token)
    assert.strictEqual(again.data.openid, token.data.openid)
  })

  it("api.getUser(openid, callback) and api.getUser({ openId, lang }, callback)", async () => {
    const token = await api.getAccessToken(await sandbox.code())
    const openid = token.data.openid
    const [err, user] = await callback<any>((cb) => api.getUser(openid, cb))
    assert.isNull(err)
    assert.strictEqual(user.openid, openid)
    assert.strictEqual(user.nickname, "张三")
    assert.strictEqual(user.sex, 2)
    assert.deepStrictEqual(user.privilege, [])
    // wechat-oauth's lang defaults to en
    assert.strictEqual(user.city, "Shenzhen")
    // the seed spells it openId; wechat-oauth reads openid: both work
    const [err2, zh] = await callback<any>((cb) => api.getUser({ openId: openid, lang: "zh_CN" }, cb))
    assert.isNull(err2)
    assert.strictEqual(zh.city, "深圳")
    const tw = await api.getUser({ openid, lang: "zh_TW" })
    assert.strictEqual(tw.openid, openid)
  })

  it("api.getUserByCode(code, callback) and its promise form", async () => {
    const [err, user] = await callback<any>(async (cb) => api.getUserByCode(await sandbox.code({ user: "bob" }), cb))
    assert.isNull(err)
    assert.strictEqual(user.nickname, "李四")
    assert.deepStrictEqual(user.privilege, ["chinaunicom"])
    assert.strictEqual(user.unionid, "oHp1tAp8kjcmUnvoYl0kogRwLhgQ")
    const zh = await api.getUserByCode({ code: await sandbox.code({ user: "bob" }), lang: "zh_CN" })
    assert.strictEqual((zh as any).city, "海淀")
  })

  it("errors: a WeChat error is a WeChatAPIError with code = errcode and message = errmsg", async () => {
    const [err] = await callback((cb) => api.getAccessToken("not-a-real-code", cb))
    assert.isTrue(err instanceof Error)
    assert.strictEqual(err.name, "WeChatAPIError")
    assert.strictEqual(err.code, 40029)
    // WeChat's errmsg as sent (WeChat appends a request id)
    assert.match(err.message, /^invalid code/)
    assert.strictEqual(err.message, err.cause.errmsg)
    assert.strictEqual(err._tag, "InvalidCode")
    assert.strictEqual(err.cause._tag, "InvalidCode")
    const rejected = await api.getAccessToken("not-a-real-code").then(() => undefined, (e) => e)
    assert.strictEqual(rejected.name, "WeChatAPIError")
  })
})
