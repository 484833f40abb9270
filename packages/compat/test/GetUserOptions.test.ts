/**
 * What `getUser(options)` hands on, as `wechat-oauth` did: the caller's options object itself to
 * `this._getUser` (its own fields too: a `tenant`), `{ openid }` for an openid; a number as openid
 * is the user's (its text to `getToken`, as `getAccessToken` takes a number code); a falsy `lang`
 * (`0`, `false`) is the default, as `lang || 'en'` read it. Against the sandbox over HTTP.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import OAuth from "@wxauth/compat"
import { MINI, OA, type RunningSandbox, startSandbox } from "./helpers.js"

let sandbox: RunningSandbox
const clients: Array<OAuth> = []

beforeAll(async () => {
  sandbox = await startSandbox()
})

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()))
  await sandbox?.dispose()
})

const record = (openid: string) => ({
  access_token: "ACCESS_TOKEN_VALUE",
  expires_in: 7200,
  refresh_token: "REFRESH_TOKEN_VALUE",
  openid,
  scope: "snsapi_userinfo",
  create_at: Date.now()
})

/** A client whose stored token is `record(openid)` and whose `_getUser` records what it is given. */
const overriding = (seen: Array<unknown>, asked: Array<unknown>) => {
  const client = new OAuth(OA.appId, OA.secret, (openid, cb) => {
    asked.push(openid)
    cb(null, record(String(openid)))
  }, (_openid, _token, cb) => cb(null))
  ;(client as any)._getUser = function(options: any, _accessToken: string, cb: any) {
    seen.push(options)
    cb(null, { openid: options.openid, nickname: "from _getUser" })
  }
  client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url })
  clients.push(client)
  return client
}

describe("getUser hands this._getUser what wechat-oauth handed it", () => {
  it("the caller's options object itself, its own fields and lang as they are", async () => {
    const seen: Array<unknown> = []
    const client = overriding(seen, [])
    const options = { openid: "o_tenant_user", lang: "zh-cn", tenant: "t1" }
    await client.getUser(options as never)
    assert.strictEqual(seen.length, 1)
    assert.strictEqual(seen[0], options)
    assert.deepStrictEqual(seen[0], { openid: "o_tenant_user", lang: "zh-cn", tenant: "t1" })
  })

  it("{ openid } for an openid", async () => {
    const seen: Array<unknown> = []
    await overriding(seen, []).getUser("o_plain_user")
    assert.deepStrictEqual(seen, [{ openid: "o_plain_user" }])
  })

  it("a number as openid: getToken asked with its text, _getUser given { openid: number }", async () => {
    const seen: Array<unknown> = []
    const asked: Array<unknown> = []
    const user = await overriding(seen, asked).getUser(12345 as never)
    assert.deepStrictEqual(asked, ["12345"])
    assert.deepStrictEqual(seen, [{ openid: 12345 }])
    assert.strictEqual((user as any).nickname, "from _getUser")
  })
})

describe("a falsy lang is the default, as lang || 'en'", () => {
  it("getUser({ openid, lang: 0 / false }) asks WeChat in en", async () => {
    const client = new OAuth(OA.appId, OA.secret)
    client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url })
    clients.push(client)
    const token = await client.getAccessToken(await sandbox.code())
    const expected = await client.getUser({ openid: token.data.openid, lang: "en" })
    for (const lang of [0, false]) {
      const user = await client.getUser({ openid: token.data.openid, lang } as never)
      assert.deepStrictEqual(user, expected, String(lang))
    }
  })
})

describe("options that cannot be read are an invalid argument, as a wrong type is", () => {
  it("a throwing getter, a throwing Proxy trap, a revoked Proxy: WeChatAPIInvalidArgumentError naming options", async () => {
    const revocable = Proxy.revocable({}, {})
    revocable.revoke()
    const unreadable: Record<string, () => any> = {
      "a Proxy whose get trap throws": () =>
        new Proxy({}, {
          get() {
            throw new Error("get trap")
          }
        }),
      "a revoked Proxy": () => revocable.proxy,
      "a lang getter that throws": () => ({
        openid: "o_someone",
        code: "CODE",
        get lang() {
          throw new Error("lang getter")
        }
      })
    }
    const official = new OAuth(OA.appId, OA.secret)
    const mini = new OAuth(MINI.appId, MINI.secret, null as any, null as any, true)
    for (const client of [official, mini]) {
      client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url })
      clients.push(client)
    }
    const calls: Record<string, (options: any) => Promise<unknown>> = {
      getUser: (options) => official.getUser(options),
      getUserByCode: (options) => official.getUserByCode(options),
      _getUser: (options) => official._getUser(options, "ACCESS_TOKEN_VALUE"),
      "getUserByCode (mini program)": (options) => mini.getUserByCode(options),
      decryptMiniProgramUser: async (options) => mini.decryptMiniProgramUser(options)
    }
    for (const [value, make] of Object.entries(unreadable)) {
      for (const [name, call] of Object.entries(calls)) {
        // a mini program's getUserByCode reads no lang; decryptMiniProgramUser reads no lang either
        if (value === "a lang getter that throws" && (name.includes("mini") || name.startsWith("decrypt"))) continue
        const error: any = await call(make()).then(() => undefined, (error) => error)
        assert.strictEqual(error?.name, "WeChatAPIInvalidArgumentError", `${name}(${value}): ${error?.message}`)
        assert.include(error.message, "options", `${name}(${value})`)
      }
    }
  })
})
