/**
 * Apps override what `wechat-oauth` 1.5.0 calls through `this` (`getToken`, `_getUser`,
 * `refreshAccessToken`, `getAccessToken`, `getSessionKey`, `decryptMiniProgramUser`, `request`):
 * test stubs on an instance (muk, sinon, jest.spyOn), subclasses, a `request` pointed at a proxy or
 * a test server. Each override here, on an instance and in a subclass, must reach the caller, and
 * the same tests run against the real `wechat-oauth` 1.5.0 (its `request` pointed at the sandbox, as
 * bench/ does) to show the behaviours match. Against the sandbox over HTTP.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import OAuth from "@wxauth/compat"
import { RefreshLock } from "@wxauth/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createRequire } from "node:module"
import { MINI, OA, type RunningSandbox, startSandbox } from "./helpers.js"

const LegacyOAuth = createRequire(import.meta.url)("wechat-oauth") as new(...args: Array<any>) => any
const wechatApi = "https://api.weixin.qq.com"

let sandbox: RunningSandbox
const closers: Array<() => unknown> = []

beforeAll(async () => {
  sandbox = await startSandbox()
})

afterAll(async () => {
  await Promise.all(closers.map((close) => close()))
  await sandbox?.dispose()
})

type Class = new(...args: Array<any>) => any

/** A client library as an app uses it, pointed at the sandbox. */
interface Subject {
  readonly name: string
  readonly compat: boolean
  /** The class the app uses (subclassed by the subclass tests). */
  readonly Base: () => Class
  /** The URL a request for `path` reaches `request` with. */
  readonly urlOf: (path: string) => string
}

/** `request` sending wechat-oauth's requests to the sandbox instead of WeChat's host. */
const toSandbox = (url: string) => url.startsWith(wechatApi) ? sandbox.url + url.slice(wechatApi.length) : url

const subjects: ReadonlyArray<Subject> = [
  {
    name: "wechat-oauth 1.5.0 (its request pointed at the sandbox)",
    compat: false,
    Base: () =>
      class SandboxLegacy extends LegacyOAuth {
        request(url: string, args: unknown, callback: unknown) {
          return super.request(toSandbox(url), args, callback)
        }
      },
    urlOf: (path) => `${wechatApi}${path}`
  },
  {
    name: "@wxauth/compat (setOpts({ apiBaseUrl }))",
    compat: true,
    Base: () =>
      class SandboxCompat extends OAuth {
        constructor(...args: ConstructorParameters<typeof OAuth>) {
          super(...args)
          this.setOpts({ apiBaseUrl: sandbox.url })
          closers.push(() => this.close())
        }
      },
    urlOf: (path) => `${sandbox.url}${path}`
  },
  {
    name: "@wxauth/compat (its request pointed at the sandbox, as for wechat-oauth)",
    compat: true,
    Base: () =>
      class SandboxCompat extends OAuth {
        constructor(...args: ConstructorParameters<typeof OAuth>) {
          super(...args)
          closers.push(() => this.close())
        }
        override request(url: string, args?: any, callback?: any): any {
          return super.request(toSandbox(url), args, callback)
        }
      },
    urlOf: (path) => `${wechatApi}${path}`
  }
]

/** Calls `client[method](...args, callback)` and resolves with `(err, result)`. */
const call = (client: any, method: string, ...args: Array<unknown>): Promise<[any, any]> =>
  new Promise((resolve) => client[method](...args, (err: unknown, result: unknown) => resolve([err, result])))

const succeed = async (client: any, method: string, ...args: Array<unknown>): Promise<any> => {
  const [err, result] = await call(client, method, ...args)
  if (err) throw err
  return result
}

/** WeChat's token answer for a fresh consent of `user`, asked of the sandbox directly. */
const consent = async (user: string): Promise<Record<string, any>> => {
  const code = await sandbox.code({ user })
  const response = await fetch(
    `${sandbox.url}/sns/oauth2/access_token?appid=${OA.appId}&secret=${OA.secret}&code=${code}` +
      `&grant_type=authorization_code`
  )
  return { ...(await response.json()), create_at: Date.now() }
}

/** A mini program session of `user` (its `wx.login()` code exchanged), asked of the sandbox directly. */
const session = async (user: string): Promise<{ session_key: string; openid: string }> => {
  const jsCode = await sandbox.run(sandbox.sandbox.miniProgramLogin({ appId: MINI.appId, user }))
  const response = await fetch(
    `${sandbox.url}/sns/jscode2session?appid=${MINI.appId}&secret=${MINI.secret}&js_code=${jsCode}` +
      `&grant_type=authorization_code`
  )
  return response.json()
}

const stats = () => sandbox.stats()

/** A store of token objects as an app's hooks keep them. */
const hookStore = () => {
  const tokens = new Map<string, any>()
  return {
    tokens,
    getToken: (openid: string, callback: (err: unknown, token?: unknown) => void) =>
      setImmediate(() => callback(null, tokens.get(openid))),
    saveToken: (openid: string, token: unknown, callback: (err?: unknown) => void) => {
      tokens.set(openid, { ...(token as object) })
      setImmediate(() => callback(null))
    }
  }
}

const threeHours = 3 * 60 * 60 * 1000

for (const subject of subjects) {
  describe(subject.name, () => {
    /** `how`: on an instance, or in a subclass. */
    const withOverride = (
      how: "instance" | "subclass",
      name: string,
      method: (...args: Array<any>) => unknown,
      ...args: Array<unknown>
    ) => {
      const Base = subject.Base()
      if (how === "instance") {
        const client = new Base(...args)
        client[name] = method
        return client
      }
      const Sub = class extends Base {}
      if (name === "getToken") {
        // the constructor sets getToken as an own property (in both libraries): a subclass replaces it there
        const Replacing = class extends Base {
          constructor(...a: Array<any>) {
            super(...a)
            this.getToken = method
          }
        }
        return new Replacing(...args)
      }
      Object.defineProperty(Sub.prototype, name, { value: method, writable: true, configurable: true })
      return new Sub(...args)
    }

    for (const how of ["instance", "subclass"] as const) {
      describe(`overridden on ${how === "instance" ? "an instance" : "a subclass"}`, () => {
        it("getToken: getUser uses the token it gives", async () => {
          const token = await consent("bob")
          const seen: Array<unknown> = []
          const client = withOverride(
            how,
            "getToken",
            function(this: unknown, openid: string, callback: any) {
              seen.push([this, openid])
              callback(null, token)
            },
            OA.appId,
            OA.secret
          )
          const user = await succeed(client, "getUser", token.openid)
          assert.strictEqual(user.openid, token.openid)
          assert.deepStrictEqual(seen, [[client, token.openid]])
        })

        it("_getUser: getUser resolves with what it gives, for the stored access token", async () => {
          const seen: Array<unknown> = []
          const client = withOverride(
            how,
            "_getUser",
            function(options: any, accessToken: string, callback: any) {
              seen.push([options.openid, accessToken])
              callback(null, { openid: options.openid, nickname: "from _getUser" })
            },
            OA.appId,
            OA.secret
          )
          const token = await succeed(client, "getAccessToken", await sandbox.code())
          const before = await stats()
          const user = await succeed(client, "getUser", token.data.openid)
          assert.deepStrictEqual(user, { openid: token.data.openid, nickname: "from _getUser" })
          assert.deepStrictEqual(seen, [[token.data.openid, token.data.access_token]])
          assert.strictEqual((await stats()).userinfo, before.userinfo)
        })

        it("refreshAccessToken: getUser asks userinfo with the access token it gives", async () => {
          const store = hookStore()
          const fresh = await consent("alice")
          const seen: Array<unknown> = []
          const client = withOverride(
            how,
            "refreshAccessToken",
            function(refreshToken: string, callback: any) {
              seen.push(refreshToken)
              callback(null, { data: { access_token: fresh.access_token } })
            },
            OA.appId,
            OA.secret,
            store.getToken,
            store.saveToken
          )
          const token = await succeed(client, "getAccessToken", await sandbox.code({ user: "alice" }))
          // expired, and not a token WeChat knows: only the override's access token can answer
          Object.assign(store.tokens.get(token.data.openid), {
            access_token: "EXPIRED_ACCESS_TOKEN",
            create_at: token.data.create_at - threeHours
          })
          const before = await stats()
          const user = await succeed(client, "getUser", token.data.openid)
          assert.strictEqual(user.openid, token.data.openid)
          assert.deepStrictEqual(seen, [token.data.refresh_token])
          assert.strictEqual((await stats()).refresh_token, before.refresh_token)
        })

        it("getAccessToken: getUserByCode asks getUser for the openid it gives", async () => {
          const store = hookStore()
          const bob = await consent("bob")
          store.tokens.set(bob.openid, bob)
          const seen: Array<unknown> = []
          const client = withOverride(
            how,
            "getAccessToken",
            function(code: string, callback: any) {
              seen.push(code)
              callback(null, { data: { openid: bob.openid } })
            },
            OA.appId,
            OA.secret,
            store.getToken,
            store.saveToken
          )
          const before = await stats()
          const user = await succeed(client, "getUserByCode", { code: "CODE_NOBODY_ISSUED", lang: "zh_CN" })
          assert.strictEqual(user.openid, bob.openid)
          assert.deepStrictEqual(seen, ["CODE_NOBODY_ISSUED"])
          assert.strictEqual((await stats()).access_token, before.access_token)
        })

        it("getSessionKey: a mini program's getUserByCode decrypts with the session key it gives", async () => {
          const alice = await session("alice")
          const encrypted = await sandbox.run(sandbox.sandbox.encryptUserData({ appId: MINI.appId, user: "alice" }))
          const seen: Array<unknown> = []
          const client = withOverride(
            how,
            "getSessionKey",
            function(code: string, callback: any) {
              seen.push(code)
              callback(null, { data: { session_key: alice.session_key, openid: alice.openid } })
            },
            MINI.appId,
            MINI.secret,
            null,
            null,
            true
          )
          const before = await stats()
          const user = await succeed(client, "getUserByCode", { code: "JSCODE_NOBODY_ISSUED", ...encrypted })
          assert.strictEqual(user.openId, alice.openid)
          assert.strictEqual(user.watermark.appid, MINI.appId)
          assert.deepStrictEqual(seen, ["JSCODE_NOBODY_ISSUED"])
          assert.strictEqual((await stats()).jscode2session, before.jscode2session)
        })

        it("decryptMiniProgramUser: a mini program's getUserByCode resolves with what it returns", async () => {
          const seen: Array<any> = []
          const client = withOverride(
            how,
            "decryptMiniProgramUser",
            function(options: any) {
              seen.push(options)
              return { openId: "from decryptMiniProgramUser" }
            },
            MINI.appId,
            MINI.secret,
            null,
            null,
            true
          )
          const jsCode = await sandbox.run(sandbox.sandbox.miniProgramLogin({ appId: MINI.appId, user: "bob" }))
          const user = await succeed(client, "getUserByCode", { code: jsCode, encryptedData: "DATA", iv: "IV" })
          assert.deepStrictEqual(user, { openId: "from decryptMiniProgramUser" })
          assert.strictEqual(seen.length, 1)
          assert.deepStrictEqual(Object.keys(seen[0]), ["sessionKey", "encryptedData", "iv"])
          assert.strictEqual(Buffer.from(seen[0].sessionKey, "base64").length, 16)
          assert.deepStrictEqual([seen[0].encryptedData, seen[0].iv], ["DATA", "IV"])
        })

        it("request: every call is made through it, as wechat-oauth made it", async () => {
          const seen: Array<[string, any]> = []
          const client = withOverride(
            how,
            "request",
            function(url: string, args: any, callback: any) {
              seen.push([url, args])
              setImmediate(() =>
                callback(null, {
                  access_token: "ACCESS_FROM_REQUEST",
                  expires_in: 7200,
                  refresh_token: "REFRESH_FROM_REQUEST",
                  openid: "o_from_request",
                  scope: "snsapi_userinfo"
                }, { status: 200, headers: {} })
              )
            },
            OA.appId,
            OA.secret
          )
          const before = await stats()
          const token = await succeed(client, "getAccessToken", "CODE_FOR_REQUEST")
          assert.strictEqual(token.data.access_token, "ACCESS_FROM_REQUEST")
          assert.strictEqual(token.data.openid, "o_from_request")
          assert.strictEqual((await stats()).access_token, before.access_token)
          assert.deepStrictEqual(seen, [[subject.urlOf("/sns/oauth2/access_token"), {
            data: { appid: OA.appId, secret: OA.secret, code: "CODE_FOR_REQUEST", grant_type: "authorization_code" },
            dataType: "json"
          }]])
          assert.deepStrictEqual(Object.keys(seen[0]![1].data), ["appid", "secret", "code", "grant_type"])
          // and the token it gave was saved
          const stored = await succeed(client, "getToken", "o_from_request")
          assert.strictEqual(stored.access_token, "ACCESS_FROM_REQUEST")
        })
      })
    }

    describe("the same outcomes", () => {
      it("a spy on request that calls it through sees every call, in wechat-oauth's order", async () => {
        const client = new (subject.Base())(OA.appId, OA.secret)
        const request = client.request
        const paths: Array<string> = []
        client.request = function(url: string, args: unknown, callback: unknown) {
          paths.push(new URL(url).pathname)
          return request.call(this, url, args, callback)
        }
        const user = await succeed(client, "getUserByCode", await sandbox.code({ user: "carol" }))
        assert.strictEqual(user.openid, sandbox.sandbox.openidOf(OA.appId, "carol"))
        assert.deepStrictEqual(paths, ["/sns/oauth2/access_token", "/sns/userinfo"])
      })

      it("a stored token without refresh token: used while valid, then WeChat's refresh_token missing", async () => {
        const store = hookStore()
        const client = new (subject.Base())(OA.appId, OA.secret, store.getToken, store.saveToken)
        const token = await succeed(client, "getAccessToken", await sandbox.code())
        delete store.tokens.get(token.data.openid).refresh_token
        const user = await succeed(client, "getUser", token.data.openid)
        assert.strictEqual(user.openid, token.data.openid)
        store.tokens.get(token.data.openid).create_at -= threeHours
        const [err] = await call(client, "getUser", token.data.openid)
        assert.isTrue(err instanceof Error)
        assert.strictEqual(err.name, "WeChatAPIError")
        assert.strictEqual(err.code, 41003)
        assert.match(err.message, /^refresh_token missing/)
      })

      it("an error request calls back with reaches the caller as wechat-oauth's wrapper renamed it", async () => {
        const client = new (subject.Base())(OA.appId, OA.secret)
        const refused = Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:443"), {
          name: "RequestError",
          code: "ECONNREFUSED"
        })
        client.request = (_url: string, _args: unknown, callback: any) => setImmediate(() => callback(refused))
        const [err] = await call(client, "getAccessToken", "CODE_FOR_REQUEST")
        assert.strictEqual(err, refused)
        assert.strictEqual(err.name, "WeChatAPIRequestError")
        assert.strictEqual(refused.code, "ECONNREFUSED")
        assert.strictEqual(err.message, "connect ECONNREFUSED 10.0.0.1:443")
      })

      it("WeChat's error answer through request: WeChatAPIError, code and message from WeChat", async () => {
        const client = new (subject.Base())(OA.appId, OA.secret)
        client.request = (_url: string, _args: unknown, callback: any) =>
          setImmediate(() => callback(null, { errcode: 40029, errmsg: "invalid code" }, { status: 200 }))
        const [err] = await call(client, "getAccessToken", "CODE_FOR_REQUEST")
        assert.strictEqual(err.name, "WeChatAPIError")
        assert.strictEqual(err.code, 40029)
        assert.strictEqual(err.message, "invalid code")
      })

      it("no stored token: NoOAuthTokenError, before any request", async () => {
        const client = new (subject.Base())(OA.appId, OA.secret)
        const before = await stats()
        const [err] = await call(client, "getUser", "o_nobody_stored")
        assert.strictEqual(err.name, "NoOAuthTokenError")
        assert.strictEqual(err.message, "No token for o_nobody_stored, please authorize first.")
        assert.deepStrictEqual(await stats(), before)
      })
    })

    describe("the one place compat makes calls wechat-oauth would not", () => {
      it("_getUser failing with 42001 for a token that looked valid: refresh, then _getUser once more", async () => {
        const calls: Array<string> = []
        const expired = Object.assign(new Error("access_token expired"), { name: "WeChatAPIError", code: 42001 })
        const Base = subject.Base()
        const Client = class extends Base {
          _getUser(options: any, accessToken: string, callback: any) {
            calls.push("_getUser")
            if (calls.length === 1) return setImmediate(() => callback(expired))
            return super._getUser(options, accessToken, callback)
          }
          refreshAccessToken(refreshToken: string, callback: any) {
            calls.push("refreshAccessToken")
            return super.refreshAccessToken(refreshToken, callback)
          }
        }
        const client = new Client(OA.appId, OA.secret)
        const token = await succeed(client, "getAccessToken", await sandbox.code({ user: "bob" }))
        const [err, user] = await call(client, "getUser", token.data.openid)
        if (subject.compat) {
          assert.isNull(err)
          assert.strictEqual(user.openid, token.data.openid)
          assert.deepStrictEqual(calls, ["_getUser", "refreshAccessToken", "_getUser"])
        } else {
          assert.strictEqual(err, expired)
          assert.deepStrictEqual(calls, ["_getUser"])
        }
      })
    })
  })
}

describe("@wxauth/compat: the defaults behind the overridable methods", () => {
  const make = (...args: ConstructorParameters<typeof OAuth>) => {
    const client = new OAuth(...args)
    client.setOpts({ apiBaseUrl: sandbox.url })
    closers.push(() => client.close())
    return client
  }

  it("refreshAccessToken(refreshToken) alone: concurrent calls make one refresh, under the RefreshLock", async () => {
    const locked: Array<string> = []
    const inProcess = RefreshLock.makeInProcess()
    const countingLock = Layer.succeed(RefreshLock.RefreshLock, {
      withLock: (key, effect) => inProcess.withLock(key, Effect.zipRight(Effect.sync(() => locked.push(key)), effect))
    })
    const client = make(OA.appId, OA.secret)
    client.setOpts({ apiBaseUrl: sandbox.url, refreshLock: countingLock })
    const token = await client.getAccessToken(await sandbox.code({ user: "dave" }))
    // the login writes the token under the user's write key (as a rejected refresh removes it)
    assert.deepStrictEqual(locked.splice(0), [`${OA.appId}:${token.data.openid}:write`])
    const before = await stats()
    const refreshed = await Promise.all(
      Array.from({ length: 5 }, () => client.refreshAccessToken(token.data.refresh_token))
    )
    assert.strictEqual((await stats()).refresh_token - before.refresh_token, 1)
    assert.deepStrictEqual(new Set(refreshed.map((t) => t.data.openid)), new Set([token.data.openid]))
    // the refresh token's key, then, once WeChat answered, the user's write key for the re-read and write
    assert.strictEqual(locked.length, 2)
    assert.match(locked[0]!, new RegExp(`^${OA.appId}:refresh_token:[0-9a-f]{32}$`))
    assert.strictEqual(locked[1], `${OA.appId}:${token.data.openid}:write`)
    // getUser's refresh is core's, locked per user
    await sandbox.run(sandbox.sandbox.advanceClock("121 minutes"))
    const stored = await new Promise<any>((resolve) => client.getToken(token.data.openid, (_err, t) => resolve(t)))
    await new Promise<void>((resolve, reject) =>
      client.saveToken(
        token.data.openid,
        { ...stored, create_at: stored.create_at - threeHours },
        (err) => err ? reject(err) : resolve()
      )
    )
    const users = await Promise.all(Array.from({ length: 5 }, () => client.getUser(token.data.openid)))
    assert.strictEqual(users.length, 5)
    // one refresh for the five: the user's key, then the write key for its write
    assert.deepStrictEqual(locked.slice(2), [
      `${OA.appId}:${token.data.openid}`,
      `${OA.appId}:${token.data.openid}:write`
    ])
  })

  it("a request that never calls back fails the call at the deadline", async () => {
    const client = make(OA.appId, OA.secret)
    client.setOpts({ apiBaseUrl: sandbox.url, timeout: 300 })
    client.request = () => undefined
    const started = Date.now()
    const error: any = await client.getAccessToken("CODE_NEVER_ANSWERED").then(
      () => assert.fail("expected a failure"),
      (e) => e
    )
    assert.isBelow(Date.now() - started, 3000)
    assert.strictEqual(error.name, "WeChatAPIResponseTimeoutError")
  })

  it("request called directly keeps urllib's contract: (err, data, res), or a promise of { data, status, headers, res }", async () => {
    const client = make(OA.appId, OA.secret)
    const token = await client.getAccessToken(await sandbox.code())
    const args = { data: { access_token: token.data.access_token, openid: token.data.openid }, dataType: "json" }
    const [err, data, res] = await new Promise<Array<any>>((resolve) =>
      client.request(`${sandbox.url}/sns/auth`, args, (...results) => resolve(results))
    )
    assert.isNull(err)
    assert.deepStrictEqual(data, { errcode: 0, errmsg: "ok" })
    assert.strictEqual(res.status, 200)
    const result = (await client.request(`${sandbox.url}/sns/auth`, args))!
    assert.deepStrictEqual(result.data, { errcode: 0, errmsg: "ok" })
    assert.strictEqual(result.status, 200)
    const [refused] = await new Promise<Array<any>>((resolve) =>
      client.request("http://127.0.0.1:9/sns/auth", args, (...results) => resolve(results))
    )
    assert.strictEqual(refused.name, "RequestError")
    assert.strictEqual(refused.code, "ECONNREFUSED")
    assert.notInclude(refused.message, token.data.access_token)
  })
})
