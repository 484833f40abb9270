/**
 * Seed 004 (wechat-oauth's README), every example but MySQL (in MySQL.test.ts), in callback and
 * promise form, against the sandbox over HTTP.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import OAuth from "@wxauth/compat"
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Os from "node:os"
import * as Path from "node:path"
import { callback, MINI, OA, type RunningSandbox, startSandbox, withEnv } from "./helpers.js"

const require = createRequire(import.meta.url)
// the reference implementation (a devDependency of bench/)
const WechatOAuth = require("wechat-oauth")

let sandbox: RunningSandbox
let env: Record<string, string>
const clients: Array<OAuth> = []

/** `new OAuth(...)` as the seed writes it, pointed at the sandbox through the environment. */
const make = (...args: ConstructorParameters<typeof OAuth>) =>
  withEnv(env, () => {
    const client = new OAuth(...args)
    clients.push(client)
    return client
  })

beforeAll(async () => {
  sandbox = await startSandbox()
  env = { WECHAT_API_BASE_URL: sandbox.url, WECHAT_OPEN_BASE_URL: sandbox.url }
})

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()))
  await sandbox?.dispose()
})

describe("seed 004: single process", () => {
  it("var client = new OAuth('your appid', 'your secret'): URLs byte-identical to wechat-oauth", () => {
    const client = new OAuth("your appid", "your secret")
    const reference = new WechatOAuth("your appid", "your secret")
    // "var url = client.getAuthorizeURL('redirectUrl', 'state', 'scope');"
    assert.strictEqual(
      client.getAuthorizeURL("redirectUrl", "state", "scope"),
      reference.getAuthorizeURL("redirectUrl", "state", "scope")
    )
    assert.strictEqual(
      client.getAuthorizeURL("redirectUrl", "state", "scope"),
      "https://open.weixin.qq.com/connect/oauth2/authorize?appid=your%20appid&redirect_uri=redirectUrl" +
        "&response_type=code&scope=scope&state=state#wechat_redirect"
    )
    // "var url = client.getAuthorizeURLForWebsite('redirectUrl');"
    assert.strictEqual(
      client.getAuthorizeURLForWebsite("redirectUrl"),
      reference.getAuthorizeURLForWebsite("redirectUrl")
    )
    assert.strictEqual(
      client.getAuthorizeURLForWebsite("redirectUrl"),
      "https://open.weixin.qq.com/connect/qrconnect?appid=your%20appid&redirect_uri=redirectUrl" +
        "&response_type=code&scope=snsapi_login&state=#wechat_redirect"
    )
  })

  it("authorize URLs stay byte-identical to wechat-oauth for awkward inputs", () => {
    const client = new OAuth(OA.appId, OA.secret)
    const reference = new WechatOAuth(OA.appId, OA.secret)
    const redirects = [
      "https://example.com/cb?x=1&y=a b#frag",
      "http://例子.测试/回调?名=值",
      "https://example.com/~user/(a)*!'",
      "",
      undefined
    ]
    const states = [undefined, "", "STATE123", "a b&c=d", 42]
    const scopes = [undefined, "", "snsapi_userinfo", "snsapi_base,snsapi_userinfo"]
    for (const redirect of redirects) {
      for (const state of states) {
        for (const scope of scopes) {
          const args = [redirect, state, scope] as [string, string, string]
          assert.strictEqual(client.getAuthorizeURL(...args), reference.getAuthorizeURL(...args))
          assert.strictEqual(client.getAuthorizeURLForWebsite(...args), reference.getAuthorizeURLForWebsite(...args))
        }
      }
    }
  })

  it("the hosts follow WECHAT_OPEN_BASE_URL and setOpts({ openBaseUrl })", async () => {
    const client = await make(OA.appId, OA.secret)
    assert.isTrue(client.getAuthorizeURL("https://a.example/cb").startsWith(`${sandbox.url}/connect/oauth2/authorize?`))
    client.setOpts({ openBaseUrl: "https://open.proxy.example/" })
    assert.isTrue(
      client.getAuthorizeURL("https://a.example/cb").startsWith("https://open.proxy.example/connect/oauth2/authorize?")
    )
  })

  it("client.getAccessToken('code', function (err, result) {...}) then client.getUser(openid, ...)", async () => {
    const client = await make(OA.appId, OA.secret)
    const code = await sandbox.code()
    const openid = await new Promise<string>((resolve, reject) => {
      client.getAccessToken(code, function(err, result) {
        if (err) return reject(err)
        const accessToken = result!.data.access_token
        const openid = result!.data.openid
        assert.isString(accessToken)
        resolve(openid)
      })
    })
    const userInfo = await new Promise<any>((resolve, reject) => {
      client.getUser(openid, function(err, result) {
        if (err) return reject(err)
        const userInfo = result
        resolve(userInfo)
      })
    })
    assert.strictEqual(userInfo.openid, openid)
    assert.strictEqual(userInfo.nickname, "张三")
  })

  it("the same with promises", async () => {
    const client = await make(OA.appId, OA.secret)
    const result = await client.getAccessToken(await sandbox.code({ user: "carol" }))
    const userInfo = await client.getUser(result.data.openid)
    assert.strictEqual(userInfo.nickname, "王五🐼")
    assert.strictEqual(userInfo.headimgurl, "")
    // the token is kept in memory: client.getToken works as in wechat-oauth
    const stored = await new Promise<any>((resolve) =>
      client.getToken(result.data.openid, (_err, token) => resolve(token))
    )
    assert.strictEqual(stored.access_token, result.data.access_token)
    assert.strictEqual(stored.create_at, result.data.create_at)
  })
})

describe("seed 004: several processes (the file hooks example)", () => {
  it("getToken / saveToken through files, as written", async () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "wxauth-compat-"))
    const saved: Array<string> = []
    try {
      const oauthApi = await make(OA.appId, OA.secret, function(openid, callback) {
        // 传入一个根据openid获取对应的全局token的方法
        Fs.readFile(Path.join(dir, openid + ":access_token.txt"), "utf8", function(err, txt) {
          if (err) return callback(err)
          callback(null, JSON.parse(txt))
        })
      }, function(openid, token, callback) {
        // 请将token存储到全局
        saved.push(openid)
        Fs.writeFile(Path.join(dir, openid + ":access_token.txt"), JSON.stringify(token), callback)
      })
      const token = await oauthApi.getAccessToken(await sandbox.code())
      const openid = token.data.openid
      assert.deepStrictEqual(saved, [openid])
      const onDisk = JSON.parse(Fs.readFileSync(Path.join(dir, openid + ":access_token.txt"), "utf8"))
      assert.deepStrictEqual(onDisk, token.data)
      // a second process reads the token from the file
      const other = await make(OA.appId, OA.secret, oauthApi.getToken, oauthApi.saveToken)
      const user = await other.getUser(openid)
      assert.strictEqual(user.openid, openid)
      // no file for this openid: the hook's own error comes back, as in wechat-oauth
      const [err] = await callback((cb) => other.getUser("o_nobody_has_this_openid_000", cb))
      assert.strictEqual(err.code, "ENOENT")
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("the mongoose statics of the seed (getToken / setToken with callbacks) over a stand-in model", async () => {
    // a stand-in for the seed's mongoose 4 model: findOne(query, cb) and update(query, doc, { upsert }, cb)
    const rows = new Map<string, Record<string, unknown>>()
    const Token = {
      findOne(query: { openid: string }, cb: (err: any, result: any) => void) {
        setImmediate(() => cb(null, rows.get(query.openid) ?? null))
      },
      update(query: { openid: string }, token: Record<string, unknown>, options: { upsert: boolean }, cb: any) {
        assert.isTrue(options.upsert)
        setImmediate(() => {
          rows.set(query.openid, { ...token, create_at: String(token.create_at) })
          cb(null, {})
        })
      },
      // 自定义getToken方法
      getToken(openid: string, cb: (err: any, result?: any) => void) {
        this.findOne({ openid }, function(err, result) {
          if (err) throw err
          return cb(null, result)
        })
      },
      // 自定义saveToken方法
      setToken(openid: string, token: Record<string, unknown>, cb: (err?: unknown) => void) {
        const query = { openid }
        const options = { upsert: true }
        this.update(query, token, options, function(err: unknown) {
          if (err) throw err
          return cb(null)
        })
      }
    }
    const client = await make(OA.appId, OA.secret, function(openid, callback) {
      Token.getToken(openid, callback)
    }, function(openid, token, callback) {
      Token.setToken(openid, token as any, callback)
    })
    const token = await client.getAccessToken(await sandbox.code({ user: "bob" }))
    assert.strictEqual(rows.get(token.data.openid)!.create_at, String(token.data.create_at))
    const user = await client.getUser({ openid: token.data.openid, lang: "zh_CN" })
    assert.strictEqual(user.city, "海淀")
  })
})

describe("seed 004: mini program (isMiniProgram, the fifth argument)", () => {
  const wxLogin = (user = "alice") => sandbox.run(sandbox.sandbox.miniProgramLogin({ appId: MINI.appId, user }))
  const wxGetUserInfo = (user = "alice", watermarkAppId?: string) =>
    sandbox.run(sandbox.sandbox.encryptUserData({ appId: MINI.appId, user, watermarkAppId }))

  it("single process: new OAuth(appid, secret, null, null, true); getSessionKey(code, callback)", async () => {
    const client = await make(MINI.appId, MINI.secret, null, null, true)
    assert.isTrue(client.isMiniProgram)
    const [err, result] = await callback<any>(async (cb) => client.getSessionKey(await wxLogin(), cb))
    assert.isNull(err)
    assert.deepStrictEqual(Object.keys(result.data), ["session_key", "openid", "create_at"])
    assert.strictEqual(result.data.openid, sandbox.sandbox.openidOf(MINI.appId, "alice"))
    assert.strictEqual(Buffer.from(result.data.session_key, "base64").length, 16)
    // what the mini program then sends, decrypted synchronously
    const { encryptedData, iv } = await wxGetUserInfo()
    const user = client.decryptMiniProgramUser({ sessionKey: result.data.session_key, encryptedData, iv })
    assert.strictEqual(user.openId, result.data.openid)
    assert.strictEqual(user.nickName, "张三")
    assert.strictEqual(user.watermark.appid, MINI.appId)
    // and with a callback
    const [err2, viaCallback] = await callback<any>((cb) =>
      client.decryptMiniProgramUser({ sessionKey: result.data.session_key, encryptedData, iv }, cb)
    )
    assert.isNull(err2)
    assert.strictEqual(viaCallback.nickName, "张三")
  })

  it("decryptMiniProgramUser throws wechat-oauth's errors", async () => {
    const client = await make(MINI.appId, MINI.secret, null, null, true)
    const session = await client.getSessionKey(await wxLogin("bob"))
    const forged = await wxGetUserInfo("bob", "wxsomeoneelse00001")
    assert.throws(
      () => client.decryptMiniProgramUser({ sessionKey: session.data.session_key, ...forged }),
      "Invalid Watermark, Be Sure to Check Again"
    )
    assert.throws(
      () => client.decryptMiniProgramUser({ sessionKey: session.data.session_key, encryptedData: "garbage", iv: "x" }),
      "Illegal Buffer, Is Your Data Correct?"
    )
    try {
      client.decryptMiniProgramUser({ encryptedData: forged.encryptedData, iv: forged.iv })
      assert.fail("expected a throw")
    } catch (error: any) {
      assert.strictEqual(error.name, "WeChatAPIDecryptError")
      assert.strictEqual(error._tag, "DecryptError")
      assert.strictEqual(error.message, "Illegal Buffer, Is Your Data Correct?")
    }
  })

  it("several processes: new OAuth(appid, secret, getToken, saveToken, true) hands the session to saveToken", async () => {
    const sessions = new Map<string, any>()
    const client = await make(
      MINI.appId,
      MINI.secret,
      async (openid) => sessions.get(openid),
      async (openid, token) => {
        sessions.set(openid, token)
      },
      true
    )
    const session = await client.getSessionKey(await wxLogin("carol"))
    assert.deepStrictEqual(sessions.get(session.data.openid), session.data)
    assert.isFalse(session.isValid(), "a session has no access token")
    const [err] = await callback((cb) => client.getSessionKey("0".repeat(32), cb))
    assert.strictEqual(err.name, "WeChatAPIError")
    assert.strictEqual(err.code, 40029)
  })

  it("getUserByCode({ code, encryptedData, iv }) exchanges the code and decrypts", async () => {
    const client = await make(MINI.appId, MINI.secret, null, async (_openid, token) => {
      // The sandbox encrypts with the session key of the last exchange, so the data the mini program
      // would have sent is made here, between exchange and decryption (wechat-oauth reads
      // encryptedData and iv at that point too).
      encrypted = await wxGetUserInfo("alice")
      assert.property(token, "session_key")
    }, true)
    let encrypted: { encryptedData: string; iv: string } | undefined
    const code = await wxLogin("alice")
    const user: any = await client.getUserByCode({
      code,
      get encryptedData() {
        return encrypted?.encryptedData
      },
      get iv() {
        return encrypted?.iv
      }
    })
    assert.strictEqual(user.nickName, "张三")
    assert.strictEqual(user.openId, sandbox.sandbox.openidOf(MINI.appId, "alice"))
    // data encrypted under an older session key does not decrypt
    const stale = await wxGetUserInfo("alice")
    const [err] = await callback(async (cb) => client.getUserByCode({ code: await wxLogin("alice"), ...stale }, cb))
    assert.strictEqual(err.name, "WeChatAPIDecryptError")
    assert.strictEqual(err.message, "Illegal Buffer, Is Your Data Correct?")
  })
})
