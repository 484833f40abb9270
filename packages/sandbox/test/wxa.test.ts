/**
 * The mini program's server API, with the app access token: the phone number
 * (`/wxa/business/getuserphonenumber` and the codes `phoneNumberCode` mints for the
 * `getPhoneNumber` button) and the session key (`/wxa/checksession`, `/wxa/resetusersessionkey`),
 * in process on the TestClock.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as Crypto from "node:crypto"
import { assertErrcode, get, MINI, OA, request, sandboxLayer, stableToken } from "./helpers.js"

const run = <A, E>(effect: Effect.Effect<A, E, Sandbox.Sandbox | HttpClient.HttpClient>) =>
  Effect.provide(effect, sandboxLayer())

/** The mini program's app access token. */
const appToken = Effect.map(stableToken(), (answer) => answer.json.access_token as string)

const phoneCode = (user = "alice", options: { appId?: string; watermarkAppId?: string } = {}) =>
  Effect.flatMap(
    Sandbox.Sandbox,
    (sandbox) => sandbox.phoneNumberCode({ appId: options.appId ?? MINI.appId, user, ...options })
  )

const getPhoneNumber = (token: string | undefined, body: unknown) =>
  request("POST", "/wxa/business/getuserphonenumber", { params: { access_token: token }, json: body })

/** `wx.login()` then `jscode2session`: the session_key and openid. */
const session = (user = "alice", sessionKey?: string) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const jsCode = yield* sandbox.miniProgramLogin({ appId: MINI.appId, user, sessionKey })
    const answer = yield* get("/sns/jscode2session", {
      appid: MINI.appId,
      secret: MINI.secret,
      js_code: jsCode,
      grant_type: "authorization_code"
    })
    return answer.json as { session_key: string; openid: string }
  })

const hmac = (sessionKey: string) => Crypto.createHmac("sha256", sessionKey).update("").digest("hex")

const signed = (
  path: "/wxa/checksession" | "/wxa/resetusersessionkey",
  token: string | undefined,
  openid: string | undefined,
  signature: string | undefined,
  sigMethod: string | undefined = "hmac_sha256"
) => get(path, { access_token: token, openid, signature, sig_method: sigMethod })

const GREY =
  "https://thirdwx.qlogo.cn/mmopen/vi_32/POgEwh4mIHO4nibH0KlMECNjjGxQUq24ZEaGT4poC6icRiccVGKSyXwibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg/132"

describe("POST /wxa/business/getuserphonenumber", () => {
  it.effect("exchanges a code from the getPhoneNumber button for phone_info, watermarked with the time and appid", () =>
    run(Effect.gen(function*() {
      yield* TestClock.adjust("1234 seconds")
      const code = yield* phoneCode("alice")
      assert.match(code, /^[0-9a-f]{64}$/)
      yield* TestClock.adjust("1 minute")
      const answer = yield* getPhoneNumber(yield* appToken, { code })
      assert.strictEqual(answer.status, 200)
      assert.strictEqual(answer.headers["content-type"], "application/json; encoding=utf-8")
      assert.deepStrictEqual(answer.json, {
        errcode: 0,
        errmsg: "ok",
        phone_info: {
          phoneNumber: "13800000001",
          purePhoneNumber: "13800000001",
          countryCode: "86",
          watermark: { timestamp: 1234, appid: MINI.appId }
        }
      })
    })))

  it.effect("each default user has a distinct mainland number", () =>
    run(Effect.gen(function*() {
      const token = yield* appToken
      const numbers: Array<string> = []
      for (const user of Sandbox.defaultUsers) {
        const answer = yield* getPhoneNumber(token, { code: yield* phoneCode(user.id) })
        assert.strictEqual(answer.json.phone_info.countryCode, "86")
        assert.strictEqual(answer.json.phone_info.phoneNumber, user.phoneNumber)
        numbers.push(answer.json.phone_info.purePhoneNumber)
      }
      assert.deepStrictEqual(numbers, ["13800000001", "13800000002", "13800000003", "13800000004"])
    })))

  it.effect("a configured user gets a derived 139 number, or its own; outside mainland China with its country code", () =>
    Effect.gen(function*() {
      const token = yield* appToken
      const info = (user: string) =>
        Effect.flatMap(phoneCode(user), (code) =>
          Effect.map(getPhoneNumber(token, { code }), (answer) => {
            const { watermark: _, ...phone } = answer.json.phone_info
            return phone
          }))
      const zoe = yield* info("zoe")
      assert.match(zoe.purePhoneNumber, /^139[0-9]{8}$/)
      assert.deepStrictEqual(zoe, {
        phoneNumber: zoe.purePhoneNumber,
        purePhoneNumber: zoe.purePhoneNumber,
        countryCode: "86"
      })
      assert.deepStrictEqual(yield* info("yan"), {
        phoneNumber: "+85261234567",
        purePhoneNumber: "61234567",
        countryCode: "852"
      })
    }).pipe(Effect.provide(sandboxLayer({
      apps: [MINI],
      users: [
        { ...Sandbox.defaultUsers[0], id: "zoe", phoneNumber: undefined, countryCode: undefined },
        { ...Sandbox.defaultUsers[1], id: "yan", phoneNumber: "61234567", countryCode: "852" }
      ]
    }))))

  it.effect("watermarkAppId forges the watermark", () =>
    run(Effect.gen(function*() {
      const code = yield* phoneCode("bob", { watermarkAppId: "wxevil" })
      assert.strictEqual((yield* getPhoneNumber(yield* appToken, { code })).json.phone_info.watermark.appid, "wxevil")
    })))

  it.effect("40029 for a used code, an unknown one, another app's, or one older than 5 minutes", () =>
    Effect.gen(function*() {
      const token = yield* appToken
      const code = yield* phoneCode()
      assert.strictEqual((yield* getPhoneNumber(token, { code })).json.errcode, 0)
      assertErrcode(yield* getPhoneNumber(token, { code }), 40029, "invalid code")
      assertErrcode(yield* getPhoneNumber(token, { code: "0".repeat(64) }), 40029)
      const foreign = yield* phoneCode("alice", { appId: "wxothermini0000001" })
      assertErrcode(yield* getPhoneNumber(token, { code: foreign }), 40029)
      const late = yield* phoneCode()
      yield* TestClock.adjust("299 seconds")
      const onTime = yield* phoneCode()
      yield* TestClock.adjust("1 second")
      assertErrcode(yield* getPhoneNumber(token, { code: late }), 40029)
      assert.strictEqual((yield* getPhoneNumber(token, { code: onTime })).json.errcode, 0)
    }).pipe(
      Effect.provide(sandboxLayer({ apps: [MINI, { ...MINI, appId: "wxothermini0000001", secret: "other" }] }))
    ))

  it.effect("41008 without a code, 47001 for a body that is not a JSON object, 43002 for GET; the code survives", () =>
    run(Effect.gen(function*() {
      const token = yield* appToken
      const code = yield* phoneCode()
      assertErrcode(yield* getPhoneNumber(token, {}), 41008, "missing code")
      assertErrcode(yield* getPhoneNumber(token, "{\"code\":"), 47001, "data format error")
      assertErrcode(yield* getPhoneNumber(token, { code: 42 }), 47001)
      assertErrcode(
        yield* request("GET", "/wxa/business/getuserphonenumber", { params: { access_token: token, code } }),
        43002,
        "require POST method"
      )
      assert.strictEqual((yield* getPhoneNumber(token, { code })).json.errcode, 0)
    })))

  it.effect("checks the app token first: 41001, 40001, 48001 (an official account's), and the code survives", () =>
    run(Effect.gen(function*() {
      const code = yield* phoneCode()
      assertErrcode(yield* getPhoneNumber(undefined, { code }), 41001, "access_token missing")
      assertErrcode(yield* getPhoneNumber("89_nope", { code }), 40001, "invalid credential")
      const official = (yield* stableToken({ grant_type: "client_credential", appid: OA.appId, secret: OA.secret }))
        .json.access_token
      assertErrcode(yield* getPhoneNumber(official, { code }), 48001, "api unauthorized")
      assert.strictEqual((yield* getPhoneNumber(yield* appToken, { code })).json.errcode, 0)
    })))

  it.effect("phoneNumberCode fails with SandboxError for an unknown app or user, or an app that is not a mini program", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const cases: ReadonlyArray<[{ appId: string; user: string }, RegExp]> = [
        [{ appId: "wx0000000000000000", user: "alice" }, /unknown app/],
        [{ appId: OA.appId, user: "alice" }, /not a miniProgram/],
        [{ appId: MINI.appId, user: "mallory" }, /unknown user/]
      ]
      for (const [options, message] of cases) {
        const error = yield* Effect.flip(sandbox.phoneNumberCode(options))
        assert.instanceOf(error, Sandbox.SandboxError)
        assert.match(error.message, message)
      }
    })))
})

describe("GET /wxa/checksession", () => {
  it.effect("ok for the signature by the session_key's text (a vector computed with openssl), 87009 otherwise", () =>
    run(Effect.gen(function*() {
      const token = yield* appToken
      const { openid, session_key } = yield* session("alice", "HyVFkGl5F5OQWJZZaNzBBg==")
      assert.strictEqual(session_key, "HyVFkGl5F5OQWJZZaNzBBg==")
      // printf '' | openssl dgst -sha256 -hmac 'HyVFkGl5F5OQWJZZaNzBBg=='
      const signature = "252b75c92698025afe925b29cca5517fdf9ee67aae072cf3225ebf3a53783058"
      const ok = yield* signed("/wxa/checksession", token, openid, signature)
      assert.strictEqual(ok.headers["content-type"], "application/json; encoding=utf-8")
      assert.deepStrictEqual(ok.json, { errcode: 0, errmsg: "ok" })
      // keyed by the base64-decoded bytes instead:
      // printf '' | openssl dgst -sha256 -mac HMAC -macopt hexkey:1f254590697917939058965968dcc106
      const decodedKey = "8fd4206c12c486127b9ec91323df64c24ef0ab34c72413e6bbb0cc5019b243d9"
      assertErrcode(yield* signed("/wxa/checksession", token, openid, decodedKey), 87009, "invalid signature")
      assertErrcode(yield* signed("/wxa/checksession", token, openid, signature.toUpperCase()), 87009)
      assertErrcode(yield* signed("/wxa/checksession", token, openid, undefined), 87009)
    })))

  it.effect("only the current session_key verifies: a new login makes the old one stale", () =>
    run(Effect.gen(function*() {
      const token = yield* appToken
      const first = yield* session("bob")
      const second = yield* session("bob")
      assert.strictEqual(second.openid, first.openid)
      assertErrcode(yield* signed("/wxa/checksession", token, first.openid, hmac(first.session_key)), 87009)
      assert.strictEqual(
        (yield* signed("/wxa/checksession", token, first.openid, hmac(second.session_key))).json.errcode,
        0
      )
    })))

  it.effect("41009 without an openid, 40097 for another sig_method, 40003 for an openid not of the app, 87009 with no session", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const token = yield* appToken
      const { openid, session_key } = yield* session("alice")
      const signature = hmac(session_key)
      assertErrcode(yield* signed("/wxa/checksession", token, undefined, signature), 41009, "missing openid")
      assertErrcode(yield* signed("/wxa/checksession", token, openid, signature, ""), 40097)
      assertErrcode(yield* signed("/wxa/checksession", token, openid, signature, "hmac_sha1"), 40097)
      const foreign = sandbox.openidOf(OA.appId, "alice")
      assertErrcode(yield* signed("/wxa/checksession", token, foreign, signature), 40003, "invalid openid")
      const carol = sandbox.openidOf(MINI.appId, "carol") // never logged in
      assertErrcode(yield* signed("/wxa/checksession", token, carol, signature), 87009)
      assertErrcode(yield* signed("/wxa/checksession", undefined, openid, signature), 41001)
      assertErrcode(yield* signed("/wxa/checksession", "89_nope", openid, signature), 40001)
    })))

  it.effect("miniProgramLogin refuses a sessionKey that is not base64 of 16 bytes", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      for (const sessionKey of ["", "short==", "HyVFkGl5F5OQWJZZaNzBBg", "HyVFkGl5F5OQWJZZaNzBBh==", "a".repeat(44)]) {
        const error = yield* Effect.flip(sandbox.miniProgramLogin({ appId: MINI.appId, user: "alice", sessionKey }))
        assert.match(error.message, /sessionKey must be base64 of 16 bytes/, sessionKey)
      }
    })))
})

describe("GET /wxa/resetusersessionkey", () => {
  it.effect("gives a new session_key that becomes the user's current one; the old one no longer verifies", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const token = yield* appToken
      const { openid, session_key } = yield* session("alice")
      const answer = yield* signed("/wxa/resetusersessionkey", token, openid, hmac(session_key))
      assert.strictEqual(answer.headers["content-type"], "application/json; encoding=utf-8")
      assert.deepStrictEqual(Object.keys(answer.json), ["errcode", "errmsg", "openid", "session_key"])
      assert.include(answer.json, { errcode: 0, errmsg: "ok", openid })
      const fresh: string = answer.json.session_key
      assert.notStrictEqual(fresh, session_key)
      assert.strictEqual(Buffer.from(fresh, "base64").length, 16)
      assertErrcode(yield* signed("/wxa/checksession", token, openid, hmac(session_key)), 87009)
      assert.strictEqual((yield* signed("/wxa/checksession", token, openid, hmac(fresh))).json.errcode, 0)
      // the user's data is now encrypted with the new key
      const { encryptedData, iv } = yield* sandbox.encryptUserData({ appId: MINI.appId, user: "alice" })
      const decipher = Crypto.createDecipheriv("aes-128-cbc", Buffer.from(fresh, "base64"), Buffer.from(iv, "base64"))
      const data = JSON.parse(
        Buffer.concat([decipher.update(Buffer.from(encryptedData, "base64")), decipher.final()]).toString("utf8")
      )
      assert.strictEqual(data.avatarUrl, GREY)
    })))

  it.effect("87009 for a stale signature, and the key is not reset", () =>
    run(Effect.gen(function*() {
      const token = yield* appToken
      const { openid, session_key } = yield* session("alice")
      assertErrcode(yield* signed("/wxa/resetusersessionkey", token, openid, hmac("stale")), 87009, "invalid signature")
      assertErrcode(yield* signed("/wxa/resetusersessionkey", token, openid, hmac(session_key), "md5"), 40097)
      assert.strictEqual((yield* signed("/wxa/checksession", token, openid, hmac(session_key))).json.errcode, 0)
    })))
})
