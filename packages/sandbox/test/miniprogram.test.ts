import type * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as Crypto from "node:crypto"
import { assertErrcode, get, MINI, OA, sandboxLayer } from "./helpers.js"

const run = <A, E>(effect: Effect.Effect<A, E, Sandbox.Sandbox | HttpClient.HttpClient>) =>
  Effect.provide(effect, sandboxLayer())

const code2Session = (jsCode: string | undefined, overrides: Record<string, string | undefined> = {}) =>
  get("/sns/jscode2session", {
    appid: MINI.appId,
    secret: MINI.secret,
    js_code: jsCode,
    grant_type: "authorization_code",
    ...overrides
  })

const wxLogin = (user = "alice", appId = MINI.appId) =>
  Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.miniProgramLogin({ appId, user }))

const decrypt = (sessionKey: string, encryptedData: string, iv: string) => {
  const decipher = Crypto.createDecipheriv("aes-128-cbc", Buffer.from(sessionKey, "base64"), Buffer.from(iv, "base64"))
  return JSON.parse(
    Buffer.concat([decipher.update(Buffer.from(encryptedData, "base64")), decipher.final()]).toString("utf8")
  )
}

describe("/sns/jscode2session", () => {
  it.effect("exchanges a js_code for openid and session_key", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const jsCode = yield* wxLogin("alice")
      assert.match(jsCode, /^[A-Za-z0-9]{32}$/)
      const answer = yield* code2Session(jsCode)
      assert.strictEqual(answer.status, 200)
      assert.strictEqual(answer.headers["content-type"], "text/plain")
      assert.deepStrictEqual(Object.keys(answer.json), ["session_key", "openid"])
      assert.strictEqual(answer.json.openid, sandbox.openidOf(MINI.appId, "alice"))
      assert.strictEqual(Buffer.from(answer.json.session_key, "base64").length, 16)
    })))

  it.effect("adds unionid for a mini program bound to an Open Platform account", () =>
    Effect.gen(function*() {
      const answer = yield* code2Session(yield* wxLogin("bob"))
      assert.strictEqual(answer.json.unionid, Sandbox.defaultUsers[1].unionid)
    }).pipe(Effect.provide(sandboxLayer({ apps: [{ ...MINI, bound: true }] }))))

  it.effect("40163 for a used js_code, 40029 for an unknown, expired or foreign one", () =>
    Effect.gen(function*() {
      const jsCode = yield* wxLogin()
      assert.isString((yield* code2Session(jsCode)).json.session_key)
      assertErrcode(yield* code2Session(jsCode), 40163, "code been used")
      assertErrcode(yield* code2Session("0".repeat(32)), 40029, "invalid code")
      const foreign = yield* wxLogin("alice", "wxothermini0000001")
      assertErrcode(yield* code2Session(foreign), 40029)
      const old = yield* wxLogin()
      yield* TestClock.adjust("5 minutes")
      assertErrcode(yield* code2Session(old), 40029)
    }).pipe(
      Effect.provide(sandboxLayer({ apps: [MINI, { ...MINI, appId: "wxothermini0000001", secret: "other" }, OA] }))
    ))

  it.effect("40125 for a wrong secret, 40013 for an unknown appid or one that is not a mini program", () =>
    run(Effect.gen(function*() {
      const jsCode = yield* wxLogin()
      assertErrcode(yield* code2Session(jsCode, { secret: OA.secret }), 40125, "invalid appsecret")
      assertErrcode(yield* code2Session(jsCode, { appid: "wx0000000000000000" }), 40013, "invalid appid")
      assertErrcode(yield* code2Session(jsCode, { appid: OA.appId, secret: OA.secret }), 40013)
      // none of them used the code up
      assert.isString((yield* code2Session(jsCode)).json.session_key)
    })))

  it.effect("41002 / 41004 / 41008 for missing params, 40002 for a wrong grant_type", () =>
    run(Effect.gen(function*() {
      const jsCode = yield* wxLogin()
      assertErrcode(yield* code2Session(jsCode, { appid: undefined }), 41002)
      assertErrcode(yield* code2Session(jsCode, { secret: undefined }), 41004)
      assertErrcode(yield* code2Session(undefined), 41008)
      assertErrcode(yield* code2Session(jsCode, { grant_type: "refresh_token" }), 40002)
    })))
})

describe("miniProgramLogin", () => {
  const bad: ReadonlyArray<[string, { appId: string; user: string }, RegExp]> = [
    ["an unknown app", { appId: "wx0000000000000000", user: "alice" }, /unknown app/],
    ["an app that is not a mini program", { appId: OA.appId, user: "alice" }, /not a miniProgram/],
    ["an unknown user", { appId: MINI.appId, user: "mallory" }, /unknown user/]
  ]
  for (const [name, options, message] of bad) {
    it.effect(`fails with SandboxError for ${name}`, () =>
      run(Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const error = yield* Effect.flip(sandbox.miniProgramLogin(options))
        assert.instanceOf(error, Sandbox.SandboxError)
        assert.match(error.message, message)
      })))
  }
})

describe("encryptUserData", () => {
  it.effect("encrypts the anonymous profile WeChat gives today with the session_key jscode2session returned, watermark included", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* TestClock.adjust("1000 seconds")
      const session = (yield* code2Session(yield* wxLogin("alice"))).json
      const { encryptedData, iv } = yield* sandbox.encryptUserData({ appId: MINI.appId, user: "alice" })
      assert.strictEqual(Buffer.from(iv, "base64").length, 16)
      assert.deepStrictEqual(decrypt(session.session_key, encryptedData, iv), {
        openId: session.openid,
        nickName: "微信用户",
        gender: 0,
        language: "",
        city: "",
        province: "",
        country: "",
        avatarUrl:
          "https://thirdwx.qlogo.cn/mmopen/vi_32/POgEwh4mIHO4nibH0KlMECNjjGxQUq24ZEaGT4poC6icRiccVGKSyXwibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg/132",
        watermark: { timestamp: 1000, appid: MINI.appId }
      })
    })))

  it.effect("a mini program with profile: \"pre2021\" gets the user's own profile", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* TestClock.adjust("1000 seconds")
      const session = (yield* code2Session(yield* wxLogin("alice"))).json
      const { encryptedData, iv } = yield* sandbox.encryptUserData({ appId: MINI.appId, user: "alice" })
      const data = decrypt(session.session_key, encryptedData, iv)
      assert.strictEqual(data.openId, session.openid)
      assert.strictEqual(data.nickName, "张三")
      assert.strictEqual(data.gender, 2)
      assert.strictEqual(data.language, "zh_CN")
      assert.strictEqual(data.city, "Shenzhen")
      assert.strictEqual(data.avatarUrl, "https://thirdwx.qlogo.cn/mmopen/vi_32/sandbox-alice/132")
      assert.notProperty(data, "unionId")
      assert.deepStrictEqual(data.watermark, { timestamp: 1000, appid: MINI.appId })
    }).pipe(Effect.provide(sandboxLayer({ apps: [{ ...MINI, profile: "pre2021" }] }))))

  it.effect("forges the watermark's appid on request", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const session = (yield* code2Session(yield* wxLogin("bob"))).json
      const encrypted = yield* sandbox.encryptUserData({ appId: MINI.appId, user: "bob", watermarkAppId: "wxevil" })
      assert.strictEqual(decrypt(session.session_key, encrypted.encryptedData, encrypted.iv).watermark.appid, "wxevil")
    })))

  it.effect("follows the newest session_key after another login", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const first = (yield* code2Session(yield* wxLogin())).json.session_key
      const second = (yield* code2Session(yield* wxLogin())).json.session_key
      assert.notStrictEqual(first, second)
      const { encryptedData, iv } = yield* sandbox.encryptUserData({ appId: MINI.appId, user: "alice" })
      assert.strictEqual(decrypt(second, encryptedData, iv).openId, sandbox.openidOf(MINI.appId, "alice"))
    })))

  it.effect("fails with SandboxError before the user has a session, or for a wrong app", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* wxLogin("carol") // a js_code alone is no session yet
      const error = yield* Effect.flip(sandbox.encryptUserData({ appId: MINI.appId, user: "carol" }))
      assert.match(error.message, /no session_key/)
      const notMini = yield* Effect.flip(sandbox.encryptUserData({ appId: OA.appId, user: "carol" }))
      assert.match(notMini.message, /not a miniProgram/)
    })))
})
