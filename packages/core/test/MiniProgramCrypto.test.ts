import { assert, describe, it } from "@effect/vitest"
import { MiniProgramCrypto, type WeChatError } from "@wxauth/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"

const appId = "wx0123456789abcdef"
const key = Crypto.randomBytes(16)
const iv = Crypto.randomBytes(16)
const sessionKey = key.toString("base64")
const phone = "13800138000"
const payload = {
  phoneNumber: phone,
  purePhoneNumber: phone,
  countryCode: "86",
  nickName: "微信用户",
  watermark: { appid: appId, timestamp: 1_700_000_000 }
}

const encrypt = (plaintext: string | Buffer, options?: { key?: Buffer; iv?: Buffer; autoPadding?: boolean }) => {
  const cipher = Crypto.createCipheriv("aes-128-cbc", options?.key ?? key, options?.iv ?? iv)
  cipher.setAutoPadding(options?.autoPadding ?? true)
  return Buffer.concat([cipher.update(plaintext), cipher.final()]).toString("base64")
}

const decrypt = (overrides: {
  readonly appId?: string
  readonly sessionKey?: string
  readonly encryptedData?: string
  readonly iv?: string
}) =>
  MiniProgramCrypto.decryptUserData({
    appId: overrides.appId ?? appId,
    sessionKey: Redacted.make(overrides.sessionKey ?? sessionKey),
    encryptedData: overrides.encryptedData ?? encrypt(JSON.stringify(payload)),
    iv: overrides.iv ?? iv.toString("base64")
  })

const reasonOf = (overrides: Parameters<typeof decrypt>[0]) =>
  Effect.map(Effect.flip(decrypt(overrides)), (e) => {
    assert.strictEqual(e._tag, "DecryptError")
    return e.reason
  })

describe("MiniProgramCrypto.decryptUserData", () => {
  it.effect("decrypts WeChat's own sample (from the mini program documentation)", () =>
    Effect.gen(function*() {
      const data = yield* MiniProgramCrypto.decryptUserData({
        appId: "wx4f4bc4dec97d474b",
        sessionKey: Redacted.make("tiihtNczf5v6AKRyjwEUhQ=="),
        encryptedData:
          "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4l" +
          "GOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInN" +
          "lxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/" +
          "r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7Xjf" +
          "hQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==",
        iv: "r7BXXKkLb8qrSNn05n0qiA=="
      })
      assert.strictEqual(data.openId, "oGZUI0egBJY1zhBYw2KhdUfwVJJE")
      assert.strictEqual(data.nickName, "Band")
      assert.strictEqual(data.unionId, "ocMvos6NjeKLIBqg5Mr9QjxrP1FA")
      assert.deepStrictEqual(data.watermark, { timestamp: 1477314187, appid: "wx4f4bc4dec97d474b" })
    }))

  it.effect("round trip: the decrypted JSON object, watermark included", () =>
    Effect.gen(function*() {
      const data = yield* decrypt({})
      assert.deepStrictEqual(data, payload)
      assert.strictEqual(data.watermark.appid, appId)
      assert.strictEqual(data.watermark.timestamp, 1_700_000_000)
      // every 16-byte boundary of the padding works
      for (let extra = 0; extra < 20; extra++) {
        const padded = { ...payload, pad: "x".repeat(extra) }
        assert.deepStrictEqual(yield* decrypt({ encryptedData: encrypt(JSON.stringify(padded)) }), padded)
      }
    }))

  it.effect("BadBase64: any input that is not strict, padded, standard base64", () =>
    Effect.gen(function*() {
      const data = encrypt(JSON.stringify(payload))
      const cases: Array<Parameters<typeof decrypt>[0]> = [
        { encryptedData: `${data.slice(0, 8)}%${data.slice(9)}` },
        { encryptedData: data.replaceAll("+", " ").replace(/^(.)/, " ") },
        { encryptedData: data.replace(/=+$/, "") },
        { encryptedData: `${data}\n` },
        { encryptedData: data.replaceAll("+", "-").replaceAll("/", "_").replace(/^./, "-") },
        { encryptedData: `${data.slice(0, -4)}AB=C` },
        { iv: "not base64!" },
        { iv: iv.toString("base64").replace(/=+$/, "") },
        { sessionKey: "not base64!" },
        { sessionKey: `${sessionKey.slice(0, -3)}B==` } // non-canonical: the unused bits are set
      ]
      for (const overrides of cases) {
        assert.strictEqual(yield* reasonOf(overrides), "BadBase64", JSON.stringify(overrides))
      }
    }))

  it.effect("BadKey and BadIv: a session key or iv that is not 16 bytes", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* reasonOf({ sessionKey: Crypto.randomBytes(15).toString("base64") }), "BadKey")
      assert.strictEqual(yield* reasonOf({ sessionKey: Crypto.randomBytes(32).toString("base64") }), "BadKey")
      assert.strictEqual(yield* reasonOf({ sessionKey: "" }), "BadKey")
      assert.strictEqual(yield* reasonOf({ iv: Crypto.randomBytes(12).toString("base64") }), "BadIv")
      assert.strictEqual(yield* reasonOf({ iv: "" }), "BadIv")
    }))

  it.effect("Undecryptable: data that does not decrypt (bad PKCS#7 padding, truncated, empty)", () =>
    Effect.gen(function*() {
      const badPadding = encrypt(Buffer.alloc(32, 0), { autoPadding: false })
      assert.strictEqual(yield* reasonOf({ encryptedData: badPadding }), "Undecryptable")
      const data = Buffer.from(encrypt(JSON.stringify(payload)), "base64")
      assert.strictEqual(yield* reasonOf({ encryptedData: data.subarray(0, 20).toString("base64") }), "Undecryptable")
      assert.strictEqual(yield* reasonOf({ encryptedData: "" }), "Undecryptable")
    }))

  it.effect("a wrong session key fails with Undecryptable, never with data", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 20; i++) {
        const reason = yield* reasonOf({ sessionKey: Crypto.randomBytes(16).toString("base64") })
        assert.strictEqual(reason, "Undecryptable")
      }
    }))

  it.effect("Undecryptable: decrypted bytes that are not a JSON object", () =>
    Effect.gen(function*() {
      for (const plaintext of ["not json", "[1,2]", "null", "42", "\"text\"", Buffer.from([0xff, 0xfe, 0x7b, 0x7d])]) {
        assert.strictEqual(yield* reasonOf({ encryptedData: encrypt(plaintext) }), "Undecryptable", String(plaintext))
      }
    }))

  it.effect("no padding oracle: every failure to decrypt to a JSON object is the same error (reason, description, message)", () =>
    Effect.gen(function*() {
      const watermark = JSON.stringify(payload.watermark)
      const failures = [
        encrypt(Buffer.alloc(32, 0), { autoPadding: false }), // bad padding
        encrypt(Buffer.from([0xff, 0xfe, 0x7b, 0x7d])), // not UTF-8
        encrypt("not json"),
        encrypt("[1,2]"), // not an object
        encrypt(`{"watermark":${watermark},"a":${"[".repeat(40)}${"]".repeat(40)}}`) // too deep
      ]
      const errors: Array<WeChatError.DecryptError> = []
      for (const encryptedData of failures) errors.push(yield* Effect.flip(decrypt({ encryptedData })))
      const shapes = new Set(errors.map((error) => JSON.stringify([error.reason, error.description, error.message])))
      assert.strictEqual(shapes.size, 1, [...shapes].join("\n"))
      assert.strictEqual(errors[0].reason, "Undecryptable")
    }))

  it.effect("Undecryptable: a payload nested deeper than WeChat's (the caller's JSON.stringify would overflow its stack)", () =>
    Effect.gen(function*() {
      const watermark = JSON.stringify(payload.watermark)
      const deep = (depth: number) =>
        `{"watermark":${watermark},"stepInfoList":${"[".repeat(depth)}${"]".repeat(depth)}}`
      // 20,000 levels fit in WeChat's data size; JSON.stringify of the result throws a RangeError
      assert.strictEqual(yield* reasonOf({ encryptedData: encrypt(deep(20_000)) }), "Undecryptable")
      assert.strictEqual(yield* reasonOf({ encryptedData: encrypt(deep(33)) }), "Undecryptable")
      assert.strictEqual(
        yield* reasonOf({
          encryptedData: encrypt(`{"watermark":${watermark},"a":${"{\"b\":".repeat(40)}1${"}".repeat(40)}}`)
        }),
        "Undecryptable"
      )
      // brackets inside strings are text, not depth (an escaped quote does not end the string)
      const nickName = `${"[{".repeat(5_000)}\\"[{`
      const text = yield* decrypt({
        encryptedData: encrypt(JSON.stringify({ watermark: payload.watermark, nickName }))
      })
      assert.strictEqual(text.nickName, nickName)
      // WeChat's own shapes (run data: a list of objects) are well within the bound
      const run = yield* decrypt({
        encryptedData: encrypt(
          JSON.stringify({ stepInfoList: [{ timestamp: 1, step: 100 }], watermark: payload.watermark })
        )
      })
      assert.deepStrictEqual(run.stepInfoList, [{ timestamp: 1, step: 100 }])
      const nested = yield* decrypt({ encryptedData: encrypt(deep(30)) })
      assert.doesNotThrow(() => JSON.stringify(nested))
    }))

  it.effect("WatermarkMismatch: data for another app, or without a valid watermark", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* reasonOf({ appId: "wxfedcba9876543210" }), "WatermarkMismatch")
      const { watermark: _, ...noWatermark } = payload
      for (
        const plaintext of [
          noWatermark,
          { ...payload, watermark: "wx0123456789abcdef" },
          { ...payload, watermark: { timestamp: 1 } },
          { ...payload, watermark: { appid: appId } },
          { ...payload, watermark: { appid: 42, timestamp: 1 } }
        ]
      ) {
        const reason = yield* reasonOf({ encryptedData: encrypt(JSON.stringify(plaintext)) })
        assert.strictEqual(reason, "WatermarkMismatch", JSON.stringify(plaintext))
      }
      // a timestamp that is not epoch seconds: 1e400 parses to Infinity (new Date(t * 1000) throws on
      // toISOString), a negative or a fraction
      const json = JSON.stringify(payload)
      for (const timestamp of ["1e400", "-1e400", "-1", "1.5", "1e300", "\"1700000000\"", "null"]) {
        const plaintext = json.replace("1700000000", timestamp)
        assert.notStrictEqual(plaintext, json)
        const reason = yield* reasonOf({ encryptedData: encrypt(plaintext) })
        assert.strictEqual(reason, "WatermarkMismatch", timestamp)
      }
      assert.strictEqual((yield* decrypt({})).watermark.timestamp, 1_700_000_000)
    }))

  it.effect("no error shows the session key or the decrypted data", () =>
    Effect.gen(function*() {
      const errors: Array<WeChatError.DecryptError> = []
      const collect = (overrides: Parameters<typeof decrypt>[0]) =>
        Effect.map(Effect.flip(decrypt(overrides)), (e) => errors.push(e))
      yield* collect({ encryptedData: "%" })
      yield* collect({ sessionKey: `${sessionKey.slice(0, -4)}%%==` })
      yield* collect({ sessionKey: Crypto.randomBytes(15).toString("base64") })
      yield* collect({ iv: "AAAA" })
      yield* collect({ encryptedData: encrypt(Buffer.alloc(32, 0), { autoPadding: false }) })
      yield* collect({ encryptedData: encrypt(`not json ${phone} ${sessionKey}`) })
      yield* collect({ appId: "wxfedcba9876543210" })
      assert.deepStrictEqual(errors.map((e) => e.reason), [
        "BadBase64",
        "BadBase64",
        "BadKey",
        "BadIv",
        "Undecryptable",
        "Undecryptable",
        "WatermarkMismatch"
      ])
      const secrets = [sessionKey, sessionKey.slice(0, -2), key.toString("hex"), phone, "微信用户"]
      for (const error of errors) {
        const renderings = [
          String(error),
          error.message,
          JSON.stringify(error),
          Cause.pretty(Cause.fail(error)),
          String(error.stack)
        ]
        for (const text of renderings) {
          for (const secret of secrets) assert.notInclude(text, secret, `${error.reason}: ${text}`)
        }
      }
    }))

  it.effect("a 6 MB encryptedData is BadBase64 at once, and a 4 MB one costs no CPU to speak of", () =>
    Effect.gen(function*() {
      for (const size of [4 * 1024 * 1024, 6 * 1024 * 1024, 64 * 1024 * 1024]) {
        const started = performance.now()
        const error = yield* Effect.flip(
          MiniProgramCrypto.decryptUserData({
            appId,
            sessionKey: Redacted.make(sessionKey),
            encryptedData: "A".repeat(size),
            iv: iv.toString("base64")
          })
        )
        assert.strictEqual(error.reason, "BadBase64")
        assert.include(error.description, "longer than")
        assert.isBelow(performance.now() - started, 100)
      }
    }))

  it.effect("wrong-type options and values are DecryptError, never a TypeError", () =>
    Effect.gen(function*() {
      const valid = {
        appId,
        sessionKey: Redacted.make(sessionKey),
        encryptedData: encrypt(JSON.stringify(payload)),
        iv: iv.toString("base64")
      }
      const cases: ReadonlyArray<unknown> = [
        undefined,
        null,
        42,
        "text",
        { ...valid, sessionKey },
        { ...valid, sessionKey: Redacted.make(42) },
        { ...valid, encryptedData: 42 },
        { ...valid, encryptedData: { length: 8 } },
        { ...valid, iv: null },
        { ...valid, appId: 42 }
      ]
      for (const options of cases) {
        const exit = yield* Effect.exit(
          MiniProgramCrypto.decryptUserData(options as MiniProgramCrypto.DecryptOptions)
        )
        assert.isTrue(exit._tag === "Failure" && exit.cause._tag === "Fail", JSON.stringify(options))
      }
    }))
})
