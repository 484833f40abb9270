/**
 * The OAuth class beyond the seeds' examples: single-flight refreshes, error names and codes, the
 * hooks' contract, setOpts, and the way to the Effect API. Against the sandbox over HTTP.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import OAuth, { type AccessToken, type CompatError, type TokenData } from "@wxauth/compat"
import { RefreshLock, TokenStore, WeChatConfig, WeChatOAuth } from "@wxauth/core"
import type { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createRequire } from "node:module"
import * as Inspect from "node:util"
import { callback, OA, type RunningSandbox, startSandbox } from "./helpers.js"

let sandbox: RunningSandbox
const clients: Array<OAuth> = []

const make = (...args: ConstructorParameters<typeof OAuth>) => {
  const client = new OAuth(...args)
  client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url })
  clients.push(client)
  return client
}

const inject = (fault: Sandbox.Fault) => sandbox.run(sandbox.sandbox.injectFault(fault))
const failure = (promise: Promise<unknown>): Promise<CompatError & Record<string, any>> =>
  promise.then(() => assert.fail("expected a failure"), (error) => error)

/** A shared store as the hooks see it: a map of token objects, with call counts. */
const hookStore = () => {
  const tokens = new Map<string, any>()
  const calls = { get: 0, save: 0 }
  return {
    tokens,
    calls,
    getToken: async (openid: string) => {
      calls.get++
      return tokens.get(openid) ?? null
    },
    saveToken: async (openid: string, token: TokenData | object) => {
      calls.save++
      tokens.set(openid, { ...token })
    }
  }
}

beforeAll(async () => {
  sandbox = await startSandbox()
})

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()))
  await sandbox?.dispose()
})

describe("token objects", () => {
  it("getAccessToken resolves with { data } carrying create_at, and isValid() follows the clock", async () => {
    const client = make(OA.appId, OA.secret)
    const before = Date.now()
    const token = await client.getAccessToken(await sandbox.code())
    assert.isAtLeast(token.data.create_at, before)
    assert.isAtMost(token.data.create_at, Date.now())
    assert.isTrue(token.isValid())
    token.data.create_at -= 7200 * 1000
    assert.isFalse(token.isValid())
  })

  it("the app secret is readable but never printed", () => {
    const client = make(OA.appId, OA.secret)
    assert.strictEqual(client.appsecret, OA.secret)
    assert.notInclude(Inspect.inspect(client, { depth: 5, showHidden: false }), OA.secret)
    assert.notInclude(JSON.stringify(client), OA.secret)
  })
})

describe("verifyToken(openid, accessToken, callback)", () => {
  it("resolves { errcode: 0, errmsg: 'ok' } for a valid token, fails with WeChatAPIError otherwise", async () => {
    const client = make(OA.appId, OA.secret)
    const token = await client.getAccessToken(await sandbox.code())
    const [err, ok] = await callback((cb) => client.verifyToken(token.data.openid, token.data.access_token, cb))
    assert.isNull(err)
    assert.deepStrictEqual(ok, { errcode: 0, errmsg: "ok" })
    assert.deepStrictEqual(await client.verifyToken(token.data.openid, token.data.access_token), ok)
    const invalid = await failure(client.verifyToken(token.data.openid, "not-a-token"))
    assert.strictEqual(invalid.name, "WeChatAPIError")
    assert.strictEqual(invalid.code, 40001)
    const other = await failure(client.verifyToken(sandbox.sandbox.openidOf(OA.appId, "bob"), token.data.access_token))
    assert.strictEqual(other.code, 40003)
  })
})

describe("single-flight refresh", () => {
  it("10 concurrent getUser on an expired token make one refresh", async () => {
    const store = hookStore()
    const client = make(OA.appId, OA.secret, store.getToken, store.saveToken)
    const token = await client.getAccessToken(await sandbox.code({ user: "bob" }))
    const openid = token.data.openid
    // two hours and a bit later, for WeChat and for the stored token
    await sandbox.run(sandbox.sandbox.advanceClock("121 minutes"))
    store.tokens.get(openid).create_at -= 121 * 60 * 1000
    const before = await sandbox.stats()
    const saves = store.calls.save
    const users = await Promise.all(Array.from({ length: 10 }, () => client.getUser(openid)))
    const after = await sandbox.stats()
    assert.deepStrictEqual(new Set(users.map((user) => user.openid)), new Set([openid]))
    assert.strictEqual(after.refresh_token - before.refresh_token, 1)
    assert.strictEqual(after.userinfo - before.userinfo, 10)
    assert.strictEqual(store.calls.save - saves, 1)
    assert.notStrictEqual(store.tokens.get(openid).access_token, token.data.access_token)
  })

  it("a token WeChat rejects (42001) although it looks fresh is refreshed once, then retried", async () => {
    const store = hookStore()
    const client = make(OA.appId, OA.secret, store.getToken, store.saveToken)
    const token = await client.getAccessToken(await sandbox.code({ user: "carol" }))
    await sandbox.run(sandbox.sandbox.advanceClock("121 minutes"))
    const before = await sandbox.stats()
    const users = await Promise.all(Array.from({ length: 5 }, () => client.getUser({ openid: token.data.openid })))
    const after = await sandbox.stats()
    assert.strictEqual(users.length, 5)
    assert.strictEqual(after.refresh_token - before.refresh_token, 1)
    assert.strictEqual(after.userinfo - before.userinfo, 10)
  })

  it("hooks that take 10 ms: 60 getUser 2 ms apart on an expired token make one refresh, one save", async () => {
    // a caller whose getToken read came before the refresh was saved, and whose next read came after,
    // used to start a refresh of its own, keyed on the newer token it read then
    const store = hookStore()
    const slow = async () => new Promise((resolve) => setTimeout(resolve, 10))
    const client = make(OA.appId, OA.secret, async (openid) => {
      await slow()
      return store.getToken(openid)
    }, async (openid, token) => {
      await slow()
      return store.saveToken(openid, token)
    })
    const token = await client.getAccessToken(await sandbox.code({ user: "dave" }))
    const openid = token.data.openid
    await sandbox.run(sandbox.sandbox.advanceClock("121 minutes"))
    store.tokens.get(openid).create_at -= 121 * 60 * 1000
    await inject({ kind: "slow", endpoint: "refresh_token", delayMs: 30, times: 3 })
    const before = await sandbox.stats()
    const saves = store.calls.save
    const calls: Array<Promise<unknown>> = []
    for (let i = 0; i < 60; i++) {
      calls.push(client.getUser(openid))
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    const users = await Promise.all(calls)
    const after = await sandbox.stats()
    assert.strictEqual(users.length, 60)
    assert.strictEqual(after.refresh_token - before.refresh_token, 1, "refresh requests to WeChat")
    assert.strictEqual(store.calls.save - saves, 1, "saveToken calls")
    await sandbox.run(sandbox.sandbox.clearFaults)
  })

  it("a stored token still valid is used as is (varchar fields included)", async () => {
    const store = hookStore()
    const client = make(OA.appId, OA.secret, store.getToken, store.saveToken)
    const token = await client.getAccessToken(await sandbox.code())
    const stored = store.tokens.get(token.data.openid)
    stored.expires_in = String(stored.expires_in)
    stored.create_at = String(stored.create_at)
    const before = await sandbox.stats()
    await client.getUser(token.data.openid)
    const after = await sandbox.stats()
    assert.strictEqual(after.refresh_token - before.refresh_token, 0)
  })
})

describe("refreshAccessToken(refreshToken) called by the app", () => {
  const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))
  /** Resolves once the sandbox has received one more refresh than `before` (the refresh is in its WeChat call). */
  const refreshReceived = async (before: number) => {
    while ((await sandbox.stats()).refresh_token === before) await sleep(10)
  }
  const storedIn = (client: OAuth, openid: string) =>
    new Promise<any>((resolve, reject) => client.getToken(openid, (err, token) => err ? reject(err) : resolve(token)))

  for (const hooks of [false, true]) {
    it(
      `answers WeChat's token, and leaves a consent that landed during its WeChat call stored (${
        hooks ? "hooks" : "the client's store"
      })`,
      async () => {
        const store = hookStore()
        const client = hooks ? make(OA.appId, OA.secret, store.getToken, store.saveToken) : make(OA.appId, OA.secret)
        const storedOf = (_client: OAuth, openid: string) =>
          hooks ? Promise.resolve(store.tokens.get(openid)) : storedIn(client, openid)
        const first = await client.getAccessToken(await sandbox.code({ user: "carol" }))
        const openid = first.data.openid
        const before = (await sandbox.stats()).refresh_token
        await inject({ kind: "slow", endpoint: "refresh_token", delayMs: 1500 })
        const refreshing = client.refreshAccessToken(first.data.refresh_token)
        await refreshReceived(before)
        // the user logs in again meanwhile: a new consent, with a refresh token of its own
        const second = await client.getAccessToken(await sandbox.code({ user: "carol", scope: "snsapi_base" }))
        assert.notStrictEqual(second.data.refresh_token, first.data.refresh_token)
        const refreshed = await refreshing
        assert.strictEqual(refreshed.data.openid, openid)
        // WeChat's answer to the first consent's refresh token, not the stored consent
        assert.notStrictEqual(refreshed.data.access_token, second.data.access_token)
        assert.notStrictEqual(refreshed.data.refresh_token, second.data.refresh_token)
        const stored = await storedOf(client, openid)
        assert.strictEqual(stored.access_token, second.data.access_token, "the consent stays stored")
        assert.strictEqual(stored.refresh_token, second.data.refresh_token)
        // the stored token's own refresh token: its refresh is stored
        const again = await client.refreshAccessToken(second.data.refresh_token)
        assert.strictEqual((await storedOf(client, openid)).access_token, again.data.access_token)
      },
      30_000
    )
  }

  it(
    "from a consent's saveToken hook (the consent holds the user's write key): answered after 3 s, unstored; the login stands",
    async () => {
      const tokens = new Map<string, any>()
      let refreshIn: string | undefined
      let answered: AccessToken | undefined
      const client: OAuth = make(OA.appId, OA.secret, async (openid: string) => tokens.get(openid) ?? null, async (
        openid: string,
        token: any
      ) => {
        if (refreshIn !== undefined) {
          const refreshToken = refreshIn
          refreshIn = undefined
          answered = await client.refreshAccessToken(refreshToken)
        }
        tokens.set(openid, { ...token })
      })
      const first = await client.getAccessToken(await sandbox.code({ user: "carol" }))
      refreshIn = first.data.refresh_token
      const started = Date.now()
      const second = await client.getAccessToken(await sandbox.code({ user: "carol" }))
      const elapsed = Date.now() - started
      assert.isAtLeast(elapsed, 2900, "the refresh waited for the write key")
      assert.isBelow(elapsed, 10_000)
      assert.strictEqual(answered?.data.openid, first.data.openid, "the refresh answered WeChat's token")
      assert.strictEqual(tokens.get(first.data.openid).access_token, second.data.access_token, "the login stands")
    },
    30_000
  )

  it("stores WeChat's token for a user with no stored token", async () => {
    const client = make(OA.appId, OA.secret)
    const other = make(OA.appId, OA.secret)
    // a refresh token this client never stored (another client's login)
    const token = await other.getAccessToken(await sandbox.code({ user: "alice" }))
    const refreshed = await client.refreshAccessToken(token.data.refresh_token)
    assert.strictEqual((await storedIn(client, token.data.openid)).access_token, refreshed.data.access_token)
  })
})

describe("errors", () => {
  const secretsOf = (token: AccessToken, code: string) => [
    OA.secret,
    code,
    token.data.access_token,
    token.data.refresh_token
  ]
  const assertClean = (error: unknown, secrets: ReadonlyArray<string>) => {
    const texts = [
      Inspect.inspect(error, { depth: 20, showHidden: true }),
      JSON.stringify(error),
      String((error as Error).stack),
      String((error as Error).message)
    ]
    for (const text of texts) {
      for (const secret of secrets) assert.notInclude(text, secret)
    }
  }

  it("NoOAuthTokenError when no token is stored", async () => {
    const client = make(OA.appId, OA.secret)
    const [err] = await callback((cb) => client.getUser("o_unknown_openid", cb))
    assert.strictEqual(err.name, "NoOAuthTokenError")
    assert.strictEqual(err.message, "No token for o_unknown_openid, please authorize first.")
    assert.strictEqual(err._tag, "TokenNotFound")
    const noOpenid = await failure(client.getUser({} as never))
    assert.strictEqual(noOpenid.name, "NoOAuthTokenError")
  })

  it("WeChatAPIError with code 40163 for a used code, 48001 for userinfo with an snsapi_base token", async () => {
    const client = make(OA.appId, OA.secret)
    const code = await sandbox.code()
    const token = await client.getAccessToken(code)
    const used = await failure(client.getAccessToken(code))
    assert.strictEqual(used.name, "WeChatAPIError")
    assert.strictEqual(used.code, 40163)
    assert.strictEqual(used._tag, "CodeUsed")
    assertClean(used, secretsOf(token, code))
    const base = await client.getAccessToken(await sandbox.code({ scope: "snsapi_base" }))
    const scope = await failure(client.getUser(base.data.openid))
    assert.strictEqual(scope.name, "WeChatAPIError")
    assert.strictEqual(scope.code, 48001)
    assert.match(scope.message, /^api unauthorized/)
  })

  it("WeChatAPIError with code -1 when WeChat stays busy (after the core's retries)", async () => {
    const client = make(OA.appId, OA.secret)
    const token = await client.getAccessToken(await sandbox.code())
    await inject({ kind: "busy", endpoint: "userinfo", times: 3 })
    const before = await sandbox.stats()
    const busy = await failure(client.getUser(token.data.openid))
    const after = await sandbox.stats()
    assert.strictEqual(busy.name, "WeChatAPIError")
    assert.strictEqual(busy.code, -1)
    assert.strictEqual(after.userinfo - before.userinfo, 3)
    // a single busy answer is absorbed
    await inject({ kind: "busy", endpoint: "userinfo", times: 1 })
    assert.strictEqual((await client.getUser(token.data.openid)).openid, token.data.openid)
  })

  it("WeChatAPIResponseTimeoutError past the deadline set with setOpts({ timeout })", async () => {
    const client = make(OA.appId, OA.secret)
    client.setOpts({ apiBaseUrl: sandbox.url, timeout: 300 })
    const code = await sandbox.code()
    await inject({ kind: "slow", endpoint: "access_token", delayMs: 3000 })
    const started = Date.now()
    const error = await failure(client.getAccessToken(code))
    assert.isBelow(Date.now() - started, 2500)
    assert.strictEqual(error.name, "WeChatAPIResponseTimeoutError")
    assert.strictEqual(error._tag, "TransportError")
    assert.strictEqual(error.reason, "Timeout")
    for (const text of [Inspect.inspect(error, { depth: 20 }), JSON.stringify(error), String(error.stack)]) {
      assert.notInclude(text, OA.secret)
      assert.notInclude(text, code)
    }
  })

  it("WeChatAPIJSONResponseFormatError for an HTML error page, WeChatAPIResponseError for a reset", async () => {
    const client = make(OA.appId, OA.secret)
    await inject({ kind: "http502", endpoint: "access_token" })
    const page = await failure(client.getAccessToken(await sandbox.code()))
    assert.strictEqual(page.name, "WeChatAPIJSONResponseFormatError")
    assert.strictEqual(page.status, 502)
    await inject({ kind: "truncated", endpoint: "access_token" })
    const truncated = await failure(client.getAccessToken(await sandbox.code()))
    assert.strictEqual(truncated.name, "WeChatAPIJSONResponseFormatError")
    assert.strictEqual(truncated._tag, "MalformedResponse")
    await inject({ kind: "reset", endpoint: "access_token" })
    const reset = await failure(client.getAccessToken(await sandbox.code()))
    assert.strictEqual(reset.name, "WeChatAPIResponseError")
    assert.strictEqual(reset.reason, "Network")
  })

  it("WeChatAPIRequestError (code ECONNREFUSED) when nothing listens", async () => {
    const client = make(OA.appId, OA.secret)
    client.setOpts({ apiBaseUrl: "http://127.0.0.1:9" })
    const refused = await failure(client.getAccessToken(await sandbox.code()))
    assert.strictEqual(refused.name, "WeChatAPIRequestError")
    assert.strictEqual(refused.code, "ECONNREFUSED")
    assert.strictEqual(refused.reason, "ConnectionRefused")
  })

  it("WeChatAPIConfigError for an appid WeChat cannot have; URLs still build", async () => {
    const client = make("not an appid!", OA.secret)
    const error = await failure(client.getAccessToken("code"))
    assert.strictEqual(error.name, "WeChatAPIConfigError")
    assert.notInclude(error.message, OA.secret)
    assert.include(client.getAuthorizeURL("https://a.example/cb"), "appid=not%20an%20appid!")
  })

  it("authorize URLs: byte-identical to wechat-oauth's; a lone surrogate is sent as U+FFFD where wechat-oauth threw", () => {
    const WechatOAuth = createRequire(import.meta.url)("wechat-oauth")
    const client = make(OA.appId, OA.secret)
    const reference = new WechatOAuth(OA.appId, OA.secret)
    const awkward = ["https://a.example/cb?x=1&y='2'", "状态 ~!*()", "", ["a", "b"], 42] as const
    for (const value of awkward) {
      for (const method of ["getAuthorizeURL", "getAuthorizeURLForWebsite"] as const) {
        const ours = client[method](value as string, value as string, value as string)
        assert.strictEqual(ours.replace(/^[^?]*/, ""), reference[method](value, value, value).replace(/^[^?]*/, ""))
      }
    }
    for (const lone of ["\uD800", "cb\uDC00", ["\uD800"]]) {
      assert.throws(() => reference.getAuthorizeURL(lone, lone, lone), /URI/)
      const url = new URL(client.getAuthorizeURL(lone as string, lone as string, lone as string))
      assert.include(url.searchParams.get("redirect_uri"), "\uFFFD")
      assert.include(url.searchParams.get("state"), "\uFFFD")
      assert.include(client.getAuthorizeURLForWebsite(lone as string), "%EF%BF%BD")
    }
    const renamed = make("wx\uD800", OA.secret)
    assert.include(renamed.getAuthorizeURL("https://a.example/cb"), "appid=wx%EF%BF%BD")
  })

  it("WeChatAPIInvalidArgumentError for a lang WeChat does not know; zh-cn is read as zh_CN", async () => {
    const client = make(OA.appId, OA.secret)
    const token = await client.getAccessToken(await sandbox.code())
    const error = await failure(client.getUser({ openid: token.data.openid, lang: "fr" }))
    assert.strictEqual(error.name, "WeChatAPIInvalidArgumentError")
    assert.strictEqual((await client.getUser({ openid: token.data.openid, lang: "zh-cn" })).city, "深圳")
  })
})

describe("hooks", () => {
  it("are called with the client as this, in callback or promise style", async () => {
    const tokens = new Map<string, any>()
    const selves: Array<unknown> = []
    const client = make(OA.appId, OA.secret, function(openid, cb) {
      selves.push(this)
      setImmediate(() => cb(null, tokens.get(openid)))
    }, async function(openid, token) {
      tokens.set(openid, token)
    })
    const token = await client.getAccessToken(await sandbox.code())
    await client.getUser(token.data.openid)
    assert.isAbove(selves.length, 0)
    for (const self of selves) assert.strictEqual(self, client)
  })

  it("a hook's own error comes back as it is (callback error, throw, rejection)", async () => {
    const down = new Error("database down")
    const viaCallback = make(OA.appId, OA.secret, (_openid, cb) => cb(down))
    assert.strictEqual(await failure(viaCallback.getUser("o_someone")), down)
    const viaThrow = make(OA.appId, OA.secret, undefined, () => {
      throw down
    })
    assert.strictEqual(await failure(viaThrow.getAccessToken(await sandbox.code())), down)
    const viaRejection = make(OA.appId, OA.secret, async () => Promise.reject(down))
    const [err] = await callback((cb) => viaRejection.getUser("o_someone", cb))
    assert.strictEqual(err, down)
  })

  it("a hook that never answers fails after hookTimeout", async () => {
    const client = make(OA.appId, OA.secret, () => undefined)
    client.setOpts({ apiBaseUrl: sandbox.url, hookTimeout: "200 millis" })
    const error = await failure(client.getUser("o_someone"))
    assert.strictEqual(error.name, "WeChatAPITokenStoreError")
    assert.include(error.message, "getToken hook")
  })

  it("a token of another openid from getToken is refused", async () => {
    const client = make(OA.appId, OA.secret, async () => ({
      openid: "o_someone_else",
      access_token: "x",
      expires_in: 7200,
      refresh_token: "y",
      create_at: Date.now()
    }))
    const error = await failure(client.getUser("o_someone"))
    assert.strictEqual(error.name, "WeChatAPITokenStoreError")
    assert.include(error.message, "another openid")
  })

  it("a stored token is read with store-sql's rules: a create_at that is not a time is refused, not refreshed", async () => {
    const store = hookStore()
    const client = make(OA.appId, OA.secret, store.getToken, store.saveToken)
    const token = await client.getAccessToken(await sandbox.code())
    // a varchar column's local time: hours off either way (wechat-oauth's lenient reading took it as expired)
    store.tokens.get(token.data.openid).create_at = "2025-06-15 10:00:00"
    const before = await sandbox.stats()
    const error = await failure(client.getUser(token.data.openid))
    assert.strictEqual(error.name, "WeChatAPITokenStoreError")
    assert.include(error.message, "create_at")
    assert.strictEqual((await sandbox.stats()).refresh_token, before.refresh_token)
  })
})

describe("setOpts", () => {
  it("rebuilds the services: the new host applies, tokens stay, calls in flight finish", async () => {
    const client = make(OA.appId, OA.secret)
    const token = await client.getAccessToken(await sandbox.code())
    await inject({ kind: "slow", endpoint: "userinfo", delayMs: 300 })
    const inFlight = client.getUser(token.data.openid)
    client.setOpts({ apiBaseUrl: "http://127.0.0.1:9" })
    assert.strictEqual((await inFlight).openid, token.data.openid)
    assert.strictEqual((await failure(client.getUser(token.data.openid))).name, "WeChatAPIRequestError")
    client.setOpts({ apiBaseUrl: sandbox.url, timeout: [1000, 4000] })
    assert.strictEqual((await client.getUser(token.data.openid)).openid, token.data.openid)
  })

  it("assigning appsecret (a rotated secret) or appid rebuilds the services, as in wechat-oauth", async () => {
    const client = make(OA.appId, "0".repeat(32))
    assert.strictEqual((await failure(client.getAccessToken(await sandbox.code()))).code, 40125)
    client.appsecret = OA.secret
    assert.strictEqual(client.appsecret, OA.secret)
    assert.notInclude(Inspect.inspect(client, { depth: 5 }), OA.secret)
    const token = await client.getAccessToken(await sandbox.code())
    assert.strictEqual(token.data.openid, sandbox.sandbox.openidOf(OA.appId, "alice"))

    const other = make("wx0000000000000000", OA.secret)
    assert.strictEqual((await failure(other.getAccessToken(await sandbox.code()))).code, 40013)
    other.appid = OA.appId
    assert.include(other.getAuthorizeURL("https://a.example/cb"), `appid=${OA.appId}`)
    const config = await other.runtime.runPromise(WeChatConfig.WeChatConfig)
    assert.strictEqual(config.appId, OA.appId)
    const again = await other.getAccessToken(await sandbox.code({ user: "bob" }))
    assert.strictEqual(again.data.openid, sandbox.sandbox.openidOf(OA.appId, "bob"))
    // setOpts' options are kept
    assert.strictEqual(other.defaults.apiBaseUrl, sandbox.url)
  })

  it("options not given go back to the environment's or WeChat's (setOpts replaces, as in wechat-oauth)", () => {
    const client = make(OA.appId, OA.secret)
    client.setOpts({ openBaseUrl: "http://127.0.0.1:1234" })
    assert.isTrue(client.getAuthorizeURL("https://a.example/cb").startsWith("http://127.0.0.1:1234/connect/"))
    client.setOpts({ timeout: 1000 })
    assert.isTrue(client.getAuthorizeURL("https://a.example/cb").startsWith("https://open.weixin.qq.com/connect/"))
  })
})

describe("the Effect API behind the client", () => {
  it("client.runtime runs core effects on the client's tokens", async () => {
    const store = hookStore()
    const client = make(OA.appId, OA.secret, store.getToken, store.saveToken)
    const token = await client.getAccessToken(await sandbox.code({ user: "bob" }))
    const user = await client.runtime.runPromise(
      Effect.flatMap(WeChatOAuth.WeChatOAuth, (oauth) => oauth.getUser(token.data.openid, { lang: "zh_CN" }))
    )
    assert.strictEqual(user.city, "海淀")
    assert.isAtLeast(store.calls.get, 1)
    const failed = await client.runtime.runPromise(
      Effect.flip(Effect.flatMap(WeChatOAuth.WeChatOAuth, (oauth) => oauth.getUser("o_nobody")))
    )
    assert.strictEqual(failed._tag, "TokenNotFound")
  })

  it("client.layer provides the same services to a program of your own", async () => {
    const client = make(OA.appId, OA.secret)
    const token = await client.getAccessToken(await sandbox.code())
    const program = Effect.flatMap(WeChatOAuth.WeChatOAuth, (oauth) => oauth.getToken(token.data.openid))
    const stored = await Effect.runPromise(Effect.provide(program, client.layer))
    assert.strictEqual(stored._tag, "Some")
  })

  it("getAccessToken with hooks calls saveToken once and never getToken, as wechat-oauth did, whether or not getToken works", async () => {
    for (const failing of [false, true]) {
      const calls: Array<string> = []
      const saved: Array<any> = []
      const client = make(OA.appId, OA.secret, (_openid, callback) => {
        calls.push("getToken")
        callback(failing ? new Error("the database is down") : null, undefined)
      }, (_openid, token, callback) => {
        calls.push("saveToken")
        saved.push(token)
        callback(null)
      })
      client.setOpts({ apiBaseUrl: sandbox.url })
      const token = await client.getAccessToken(await sandbox.code())
      // with hooks the reads around the save protect nothing (saveToken overwrites, create_at is
      // read as now): the login saves once
      assert.deepStrictEqual(calls, ["saveToken"], `getToken failing: ${failing}`)
      for (const each of saved) assert.strictEqual(each.access_token, token.data.access_token)
    }
  })

  it("with the hooks, a new consent is dated by this clock, not after a stored create_at ahead of it (README)", async () => {
    const store = hookStore()
    const client = make(OA.appId, OA.secret, store.getToken, store.saveToken)
    const first = await client.getAccessToken(await sandbox.code())
    const ahead = Date.now() + 3_600_000
    store.tokens.set(first.data.openid, { ...store.tokens.get(first.data.openid), create_at: ahead })
    const before = Date.now()
    const second = await client.getAccessToken(await sandbox.code())
    assert.isAtLeast(second.data.create_at, before)
    assert.isBelow(second.data.create_at, ahead, "not dated after the stored token")
    assert.strictEqual(store.calls.get, 0, "no getToken in a login")
  })

  it(
    "a saveToken hook that calls getUser for the same user (stored token expired) ends, and the login stands",
    async () => {
      const tokens = new Map<string, any>()
      const profiles: Array<string> = []
      let nested = false
      const client: OAuth = make(OA.appId, OA.secret, async (openid: string) => tokens.get(openid) ?? null, async (
        openid: string,
        token: any
      ) => {
        if (nested) {
          nested = false
          // the profile first, with the token stored before this login: expired, so getUser refreshes it
          profiles.push((await client.getUser(openid)).openid)
        }
        tokens.set(openid, { ...token })
      })
      client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url })
      const first = await client.getAccessToken(await sandbox.code())
      const openid = first.data.openid
      tokens.set(openid, { ...tokens.get(openid), create_at: Date.now() - 3 * 3_600_000 })
      nested = true
      const second = await client.getAccessToken(await sandbox.code())
      assert.deepStrictEqual(profiles, [openid], "the hook's getUser answered")
      assert.strictEqual(tokens.get(openid).access_token, second.data.access_token, "the new consent is saved")
    },
    60_000
  )

  it("setOpts({ tokenStore, refreshLock }) puts core layers in place of the hooks and the in-process lock", async () => {
    const hooksCalled: Array<string> = []
    const client = make(OA.appId, OA.secret, async () => {
      hooksCalled.push("getToken")
    }, async () => {
      hooksCalled.push("saveToken")
    })
    const locked: Array<string> = []
    const inProcess = RefreshLock.makeInProcess()
    const countingLock = Layer.succeed(RefreshLock.RefreshLock, {
      withLock: (key, effect) => inProcess.withLock(key, Effect.zipRight(Effect.sync(() => locked.push(key)), effect))
    })
    client.setOpts({ apiBaseUrl: sandbox.url, tokenStore: TokenStore.layerMemory, refreshLock: countingLock })
    const token = await client.getAccessToken(await sandbox.code())
    const user = await client.getUser(token.data.openid)
    assert.strictEqual(user.openid, token.data.openid)
    await client.runtime.runPromise(
      Effect.flatMap(WeChatOAuth.WeChatOAuth, (oauth) => oauth.refresh(token.data.openid))
    )
    // the login's read and write of the token under the user's write key, then the refresh under the user's
    // key, its re-read and write of the refreshed token under the write key again
    assert.deepStrictEqual(locked, [
      `${OA.appId}:${token.data.openid}:write`,
      `${OA.appId}:${token.data.openid}`,
      `${OA.appId}:${token.data.openid}:write`
    ])
    assert.deepStrictEqual(hooksCalled, [])
  })

  it("without hooks, client.getToken / client.saveToken read and write the client's store", async () => {
    const client = make(OA.appId, OA.secret)
    const token = await client.getAccessToken(await sandbox.code())
    const stored: any = await new Promise((resolve) => client.getToken(token.data.openid, (_err, t) => resolve(t)))
    assert.deepStrictEqual(stored, token.data)
    // a token saved by hand (e.g. moved from elsewhere) is used by getUser
    const other = make(OA.appId, OA.secret)
    await new Promise<void>((resolve, reject) =>
      other.saveToken(
        token.data.openid,
        { ...stored, create_at: String(Math.floor(stored.create_at / 1000)) },
        (err) => err ? reject(err) : resolve()
      )
    )
    const before = await sandbox.stats()
    assert.strictEqual((await other.getUser(token.data.openid)).openid, token.data.openid)
    assert.strictEqual((await sandbox.stats()).refresh_token, before.refresh_token, "create_at in seconds is read")
  })
})
