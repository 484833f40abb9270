/**
 * A broken or hostile "WeChat" and arguments of the wrong type, through the compat API: every call
 * ends with a compat error (never a raw `RangeError` / `TypeError`), no yes by default from
 * `/sns/auth`, no secret echoed back into an error. Against a local server answering what it is told
 * to, and the sandbox.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import OAuth, {
  AccessToken,
  checkAccessToken,
  type CompatError,
  getToken,
  getUserinfo,
  isCompatError,
  refreshToken,
  toOAuthToken
} from "@wxauth/compat"
import { TokenStore } from "@wxauth/core"
import type { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import {
  callback,
  MINI,
  OA,
  type RunningSandbox,
  type SeenRequest,
  startHostileServer,
  startSandbox,
  withEnv
} from "./helpers.js"
import { textsOf } from "./hostile.js"

let sandbox: RunningSandbox
const clients: Array<OAuth> = []

beforeAll(async () => {
  sandbox = await startSandbox()
})

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()))
  await sandbox?.dispose()
})

const make = (apiBaseUrl: string, ...args: ConstructorParameters<typeof OAuth>) => {
  const client = new OAuth(...args)
  client.setOpts({ apiBaseUrl })
  clients.push(client)
  return client
}

/** A client of the sandbox with a short deadline (a dripping answer must not take 5 s a call). */
const makeQuick = (apiBaseUrl: string, ...args: ConstructorParameters<typeof OAuth>) => {
  const client = new OAuth(...args)
  client.setOpts({ apiBaseUrl, timeout: 400 })
  clients.push(client)
  return client
}

/** A token as a `getToken` hook hands it back: fresh, so `getUser` goes straight to userinfo. */
const storedToken = (openid: string) => ({
  access_token: "ACCESS_tok/en+1",
  expires_in: 7200,
  refresh_token: "REFRESH_tok/en+1",
  openid,
  scope: "snsapi_userinfo",
  create_at: Date.now()
})

const failure = (promise: Promise<unknown>): Promise<CompatError & Record<string, any>> =>
  promise.then((value) => assert.fail(`expected a failure, got ${JSON.stringify(value)}`), (error) => error)

/**
 * Every call of the compat API that asks WeChat something, in its promise form (class methods also
 * with a callback), against the API host `url`.
 */
const everyCall = (url: string, quick = false) => {
  const openid = "o_hostile_openid"
  const makeClient = quick ? makeQuick : make
  const client = makeClient(url, OA.appId, OA.secret, (_openid: string, cb: any) => cb(null, storedToken(openid)))
  const mini = makeClient(url, MINI.appId, MINI.secret, null, null, true)
  const viaCallback = (call: (cb: (err: any, result?: any) => void) => void) =>
    callback(call).then(([err, result]) => err ? Promise.reject(err) : result)
  const functional = (call: () => Promise<unknown>) => () => withEnv({ WECHAT_API_BASE_URL: url }, call)
  return {
    "getAccessToken": () => client.getAccessToken("CODE_abc"),
    "getAccessToken(cb)": () => viaCallback((cb) => client.getAccessToken("CODE_abc", cb)),
    "refreshAccessToken": () => client.refreshAccessToken("REFRESH_tok/en+2"),
    "refreshAccessToken(cb)": () => viaCallback((cb) => client.refreshAccessToken("REFRESH_tok/en+2", cb)),
    "getUser": () => client.getUser(openid),
    "getUser(cb)": () => viaCallback((cb) => client.getUser({ openid, lang: "zh_CN" }, cb)),
    "getUserByCode": () => client.getUserByCode("CODE_abc"),
    "verifyToken": () => client.verifyToken(openid, "ACCESS_tok/en+3"),
    "verifyToken(cb)": () => viaCallback((cb) => client.verifyToken(openid, "ACCESS_tok/en+3", cb)),
    "mini getSessionKey": () => mini.getSessionKey("JSCODE_abc"),
    "mini getUserByCode(cb)": () =>
      viaCallback((cb) => mini.getUserByCode({ code: "JSCODE_abc", encryptedData: "AAAA", iv: "AAAA" }, cb)),
    "getToken": functional(() => getToken(OA.appId, "CODE_abc", OA.secret)),
    "refreshToken": functional(() => refreshToken(OA.appId, "REFRESH_tok/en+4")),
    "getUserinfo": functional(() => getUserinfo("ACCESS_tok/en+5", openid)),
    "checkAccessToken": functional(() => checkAccessToken("ACCESS_tok/en+6", openid))
  }
}

const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth)

describe("a deeply nested JSON answer", () => {
  it("fails every call with WeChatAPIJSONResponseFormatError, never a raw RangeError", async () => {
    // the whole body, or one field of the right answer
    const bodies = {
      whole: () => nested(5000),
      field: (request: SeenRequest) => {
        switch (request.path) {
          case "/sns/userinfo":
            return `{"openid":"o_hostile_openid","nickname":"n","sex":1,"province":"","city":"","country":"",` +
              `"headimgurl":"","privilege":${nested(5000)}}`
          case "/sns/jscode2session":
            return `{"openid":"o_mini","session_key":"c2Vzc2lvbmtleTEyMzQ1Ng==","unionid":${nested(5000)}}`
          case "/sns/auth":
            return `{"openid":"o_hostile_openid","nickname":${nested(5000)}}`
          default:
            return `{"access_token":"a","expires_in":7200,"refresh_token":"r","openid":"o_hostile_openid",` +
              `"scope":${nested(5000)}}`
        }
      }
    }
    for (const [kind, body] of Object.entries(bodies)) {
      const server = await startHostileServer((request) => ({ body: body(request) }))
      try {
        for (const [name, call] of Object.entries(everyCall(server.url))) {
          const error = await failure(call())
          assert.isTrue(isCompatError(error), `${kind} ${name}: ${String(error)}`)
          assert.strictEqual(error.name, "WeChatAPIJSONResponseFormatError", `${kind} ${name}: ${error.message}`)
          assert.strictEqual(error._tag, "MalformedResponse", `${kind} ${name}`)
        }
      } finally {
        await server.close()
      }
    }
  })
})

describe("the sandbox's hostile faults", () => {
  const secrets = [OA.secret, MINI.secret, "CODE_abc", "JSCODE_abc", "tok/en"].flatMap((secret) => [
    secret,
    encodeURIComponent(secret)
  ])
  const malformed = "WeChatAPIJSONResponseFormatError"
  const fieldOf: Record<string, string> = {
    access_token: "scope",
    refresh_token: "scope",
    userinfo: "privilege",
    jscode2session: "openid",
    auth: "errcode"
  }
  const cases: ReadonlyArray<{
    readonly label: string
    readonly faults: ReadonlyArray<Sandbox.Fault>
    readonly expected: string
    readonly only?: ReadonlyArray<string>
    readonly quick?: boolean
  }> = [
    { label: "nested body", faults: [{ kind: "nested" }], expected: malformed },
    {
      label: "nested field",
      faults: Object.entries(fieldOf).map(([endpoint, field]) => ({
        kind: "nested" as const,
        endpoint: endpoint as Sandbox.Endpoint,
        field
      })),
      expected: malformed
    },
    { label: "huge body (announced)", faults: [{ kind: "huge", bytes: 2 * 1024 * 1024 }], expected: malformed },
    {
      label: "huge body (chunked)",
      faults: [{ kind: "huge", bytes: 2 * 1024 * 1024, contentLength: false }],
      expected: malformed
    },
    { label: "non-finite number", faults: [{ kind: "nonFinite" }], expected: malformed },
    {
      label: "negative expires_in",
      faults: [{ kind: "nonFinite", value: "-7200" }],
      expected: malformed,
      only: [
        "getAccessToken",
        "getAccessToken(cb)",
        "refreshAccessToken",
        "refreshAccessToken(cb)",
        "getUserByCode",
        "getToken",
        "refreshToken"
      ]
    },
    { label: "echoed request", faults: [{ kind: "echo" }], expected: "WeChatAPIError" },
    {
      label: "another openid",
      faults: [{ kind: "wrongOpenid", endpoint: "userinfo" }],
      expected: malformed,
      only: ["getUser", "getUser(cb)", "getUserinfo"]
    },
    { label: "[]", faults: [{ kind: "raw", body: "[]" }], expected: malformed },
    { label: "{}", faults: [{ kind: "raw", body: "{}" }], expected: malformed },
    {
      label: "a dripping body",
      faults: [{ kind: "drip", intervalMs: 100, delayMs: 10_000 }],
      expected: "WeChatAPIResponseTimeoutError",
      only: ["getAccessToken(cb)", "getUser", "verifyToken(cb)", "mini getSessionKey"],
      quick: true
    }
  ]

  it("end every compat call in its compat error, in time, with no secret in it", async () => {
    for (const { expected, faults, label, only, quick } of cases) {
      const calls = Object.entries(everyCall(sandbox.url, quick)).filter(([name]) => only?.includes(name) ?? true)
      for (const [name, call] of calls) {
        await sandbox.run(sandbox.sandbox.clearFaults)
        // enough for the core's retries of a transient failure
        for (const fault of faults) {
          await sandbox.run(sandbox.sandbox.injectFault({ endpoint: "*", times: 3, ...fault }))
        }
        const started = Date.now()
        const error = await failure(call())
        assert.isTrue(isCompatError(error), `${label} ${name}: ${String(error)}`)
        assert.strictEqual(error.name, expected, `${label} ${name}: ${error.message}`)
        assert.isAtMost(Date.now() - started, 5000, `${label} ${name}`)
        const texts = textsOf(error)
        for (const secret of secrets) {
          assert.isFalse(texts.some((text) => text.includes(secret)), `${label} ${name}: a secret in the error`)
        }
      }
    }
    await sandbox.run(sandbox.sandbox.clearFaults)
  }, 120_000)
})

describe("a defect in the core runtime", () => {
  it("reaches the callback and the promise as WeChatAPIUnexpectedError, the defect kept as cause", async () => {
    // a token store with a bug: its get dies
    const dyingStore = Layer.effect(
      TokenStore.TokenStore,
      Effect.map(TokenStore.makeMemory(), (memory) => ({
        ...memory,
        get: () => Effect.die(new RangeError("Maximum call stack size exceeded"))
      }))
    )
    const client = make(sandbox.url, OA.appId, OA.secret)
    client.setOpts({ apiBaseUrl: sandbox.url, tokenStore: dyingStore })
    const [err, user] = await callback((cb) => client.getUser("o_someone", cb))
    assert.isUndefined(user)
    assert.isTrue(isCompatError(err), String(err))
    assert.strictEqual(err.name, "WeChatAPIUnexpectedError")
    assert.strictEqual(err._tag, "Defect")
    assert.instanceOf(err.cause, RangeError)
    assert.notInclude(err.message, "Maximum call stack")
    const rejected = await failure(client.getUser("o_someone"))
    assert.strictEqual(rejected.name, "WeChatAPIUnexpectedError")
    // and through the default hook, called directly
    const viaHook = await failure(client.getToken("o_someone", undefined as never) as unknown as Promise<unknown>)
    assert.strictEqual(viaHook.name, "WeChatAPIUnexpectedError")
  })
})

describe("checkAccessToken and verifyToken: only WeChat's own yes is a yes", () => {
  const notYes = {
    "[]": "[]",
    "{}": "{}",
    "a user's profile": `{"openid":"o_hostile_openid","nickname":"n","sex":1,"privilege":[]}`,
    "errcode as a string": `{"errcode":"0","errmsg":"ok"}`
  }

  it("any other answer rejects with WeChatAPIJSONResponseFormatError (never true)", async () => {
    for (const [label, body] of Object.entries(notYes)) {
      const server = await startHostileServer(() => ({ body }))
      try {
        const calls = everyCall(server.url)
        for (const name of ["checkAccessToken", "verifyToken", "verifyToken(cb)"] as const) {
          const error = await failure(calls[name]())
          assert.strictEqual(error.name, "WeChatAPIJSONResponseFormatError", `${label} ${name}: ${error.message}`)
        }
      } finally {
        await server.close()
      }
    }
    // WeChat's own yes still is one
    const yes = await startHostileServer(() => ({ body: `{"errcode":0,"errmsg":"ok"}` }))
    try {
      const calls = everyCall(yes.url)
      assert.isTrue(await calls.checkAccessToken())
      assert.deepStrictEqual(await calls.verifyToken(), { errcode: 0, errmsg: "ok" })
    } finally {
      await yes.close()
    }
  })

  it("against the sandbox: a wrong-shaped /sns/auth answer is no yes; a real token is", async () => {
    const token = await withEnv({ WECHAT_API_BASE_URL: sandbox.url }, async () => {
      const token = await getToken(OA.appId, await sandbox.code(), OA.secret)
      await sandbox.run(sandbox.sandbox.injectFault({ kind: "wrongShape", endpoint: "auth" }))
      const wrong = await failure(checkAccessToken(token.access_token, token.openid))
      assert.strictEqual(wrong.name, "WeChatAPIJSONResponseFormatError")
      assert.isTrue(await checkAccessToken(token.access_token, token.openid))
      return token
    })
    const client = make(sandbox.url, OA.appId, OA.secret)
    await sandbox.run(sandbox.sandbox.injectFault({ kind: "wrongShape", endpoint: "auth" }))
    const [err] = await callback((cb) => client.verifyToken(token.openid, token.access_token, cb))
    assert.strictEqual(err.name, "WeChatAPIJSONResponseFormatError")
  })
})

describe("an errmsg that echoes the request", () => {
  it("keeps the app secret, codes and tokens out of every compat error", async () => {
    // a proxy that puts the request (encoded as sent, and decoded) into its errmsg
    const server = await startHostileServer((request) => ({
      body: JSON.stringify({
        errcode: 40029,
        errmsg: `invalid code, hints: [ req: GET ${request.target} raw: ${
          [...request.query.entries()].map(([k, v]) => `${k}=${v}`).join("&")
        } ]`
      })
    }))
    const secrets = [
      OA.secret,
      MINI.secret,
      "CODE_abc",
      "JSCODE_abc",
      "ACCESS_tok/en+1",
      "REFRESH_tok/en+2",
      "ACCESS_tok/en+3",
      "REFRESH_tok/en+4",
      "ACCESS_tok/en+5",
      "ACCESS_tok/en+6"
    ].flatMap((secret) => [secret, encodeURIComponent(secret)])
    try {
      for (const [name, call] of Object.entries(everyCall(server.url))) {
        const error = await failure(call())
        assert.strictEqual(error.name, "WeChatAPIError", `${name}: ${error.message}`)
        assert.strictEqual(error.code, 40029)
        assert.isAtMost(error.errmsg!.length, 200)
        assert.include(error.errmsg, "invalid code")
        const texts = textsOf(error)
        for (const secret of secrets) {
          assert.isFalse(texts.some((text) => text.includes(secret)), `${name}: a secret in the error`)
        }
      }
    } finally {
      await server.close()
    }
  })
})

describe("arguments of the wrong type (JavaScript callers)", () => {
  it("fail through the callback or the promise with a compat error, as wechat-oauth's calls failed", async () => {
    const client = make(sandbox.url, OA.appId, OA.secret)
    const mini = make(sandbox.url, MINI.appId, MINI.secret, null, null, true)
    const any = client as any
    const cases: Array<[string, (cb?: any) => unknown, string]> = [
      ["getAccessToken(undefined)", (cb) => any.getAccessToken(undefined, cb), "WeChatAPIInvalidArgumentError"],
      [
        "getAccessToken(Object.create(null))",
        (cb) => any.getAccessToken(Object.create(null), cb),
        "WeChatAPIInvalidArgumentError"
      ],
      ["getAccessToken({})", (cb) => any.getAccessToken({}, cb), "WeChatAPIInvalidArgumentError"],
      ["refreshAccessToken(null)", (cb) => any.refreshAccessToken(null, cb), "WeChatAPIInvalidArgumentError"],
      ["getUser(null)", (cb) => any.getUser(null, cb), "NoOAuthTokenError"],
      ["getUser(Object.create(null))", (cb) => any.getUser(Object.create(null), cb), "NoOAuthTokenError"],
      [
        "getUserByCode({ code: Object.create(null) })",
        (cb) => any.getUserByCode({ code: Object.create(null) }, cb),
        "WeChatAPIInvalidArgumentError"
      ],
      [
        "verifyToken(Object.create(null), token)",
        (cb) => any.verifyToken(Object.create(null), "ACCESS", cb),
        "WeChatAPIInvalidArgumentError"
      ],
      ["verifyToken(openid, 5)", (cb) => any.verifyToken("o_x", {}, cb), "WeChatAPIInvalidArgumentError"],
      ["saveToken(openid, 5)", (cb) => any.saveToken("o_x", 5, cb), "WeChatAPIInvalidArgumentError"],
      [
        "saveToken(Object.create(null), token)",
        (cb) => any.saveToken(Object.create(null), storedToken("o_x"), cb),
        "WeChatAPIInvalidArgumentError"
      ],
      [
        "mini getSessionKey(Object.create(null))",
        (cb) => (mini as any).getSessionKey(Object.create(null), cb),
        "WeChatAPIInvalidArgumentError"
      ]
    ]
    for (const [name, call, expected] of cases) {
      // neither form throws
      const [err] = await callback((cb) => call(cb))
      assert.isTrue(isCompatError(err), `${name} (callback): ${String(err)}`)
      assert.strictEqual(err.name, expected, `${name} (callback)`)
      let promise: unknown
      try {
        promise = call(undefined)
      } catch (error) {
        assert.fail(`${name} (promise) threw ${String(error)}`)
      }
      const rejected = await failure(promise as Promise<unknown>)
      assert.strictEqual(rejected.name, expected, `${name} (promise)`)
    }
  })

  it("options of the wrong type fail the next calls with WeChatAPIConfigError; setOpts does not throw", async () => {
    const client = make(sandbox.url, OA.appId, OA.secret)
    for (
      const options of [{ policy: { refreshSkew: "soon" } }, { policy: 5 }, { tokenStore: 5 }, { refreshLock: {} }]
    ) {
      client.setOpts({ apiBaseUrl: sandbox.url, ...options } as never)
      const error = await failure(client.getAccessToken("CODE_abc"))
      assert.strictEqual(error.name, "WeChatAPIConfigError", JSON.stringify(options))
    }
    client.setOpts({ apiBaseUrl: sandbox.url })
    const error = await failure(client.getAccessToken("CODE_abc"))
    assert.strictEqual(error.code, 40029)
  })

  it("the conversions: isValid() is false, toOAuthToken throws a WeChatAPIInvalidArgumentError", () => {
    assert.isFalse(new AccessToken(undefined as never).isValid())
    assert.isFalse(new AccessToken(5 as never).isValid())
    for (const [openid, stored] of [["o_x", 5], [Object.create(null), {}], ["o_x", { openid: "o_other" }]]) {
      try {
        toOAuthToken(openid, stored)
        assert.fail("expected a throw")
      } catch (error: any) {
        assert.isTrue(isCompatError(error), String(error))
        assert.strictEqual(error.name, "WeChatAPIInvalidArgumentError")
      }
    }
  })
})
