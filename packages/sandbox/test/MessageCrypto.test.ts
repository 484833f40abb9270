/**
 * MessageCrypto, the sandbox's WXBizMsgCrypt, against an independent implementation (npm's
 * `wechat-crypto` 0.0.2) both ways, against a fixed vector made once with `wechat-crypto` and
 * `openssl enc -aes-256-cbc -nopad` (they agree), and the pushes the sandbox builds with it.
 */
import { assert, describe, it } from "@effect/vitest"
import { MessageCrypto, Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Crypto from "node:crypto"
import { createRequire } from "node:module"
import { componentLayer, PLATFORM } from "./componentHelpers.js"

interface WechatCrypto {
  getSignature(timestamp: string, nonce: string, encrypt: string): string
  encrypt(text: string): string
  decrypt(text: string): { message: string; id: string }
}

const WXBizMsgCrypt: new(token: string, encodingAESKey: string, id: string) => WechatCrypto = createRequire(
  import.meta.url
)("wechat-crypto")

const KEY = PLATFORM.encodingAesKey
const APPID = PLATFORM.componentAppId
const independent = new WXBizMsgCrypt(PLATFORM.token, KEY, APPID)

const MESSAGE = "<xml><AppId><![CDATA[wxcomponent0000001]]></AppId><CreateTime><![CDATA[1700000000]]></CreateTime>" +
  "<InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[ticket@@@sandbox-vector]]>" +
  "</ComponentVerifyTicket></xml>"

/**
 * MESSAGE for APPID with KEY and the random prefix 00 01 … 0f: computed with wechat-crypto (its
 * pseudoRandomBytes fixed) and with `openssl enc -aes-256-cbc -K <key> -iv <key[0..16]> -nopad` over
 * the plaintext padded to 32 by hand; both gave this.
 */
const VECTOR =
  "IG+0eOkLdhYW9kHtuT3HY2+wKu6W4AdQAQVs7rAXssG16O9djynNc36RcW+oDRC9RTyZR6rk+6jCtIRJr2jYbZfOnrAcJQsvrPsgyL1Fc" +
  "wQAfy4Sefzw4x8zm9Sf/gDG//enInBrbEsOoBOrle1S2+Gp2uTN+Gtg1XkYLFvbRyhEKtGX6o+9dyJqDTcp/ZDspQeulXY5XP1wzfyoMmEN0ZoI" +
  "AyG52+mzoOhShWbpuAJ8Aa5q3pvaOVnj1hwi+ICTW6Ww+pmZfXBR11Jpl1a08RABkMhexfDjjDrj8szIr02Kg5N8t8aIsgAZhoBRrHJPn0PW5x6" +
  "gXbL/me4ljDa7/nqVrtSYgmzowgw1Sgth2dUCdj3of9G18eTI9sBtjpBD"

/** sha1 of the sorted ["sandboxtoken", "1700000000", "1234567890", VECTOR], from wechat-crypto and sha1sum. */
const VECTOR_SIGNATURE = "b5bf9cd3a63df79ecc08acddf4a49c124dcaf257"

const RANDOM = Uint8Array.from({ length: 16 }, (_, i) => i)

describe("MessageCrypto", () => {
  it.effect("the fixed vector: a fixed key and random prefix give the literal ciphertext and signature", () =>
    Effect.gen(function*() {
      const encrypted = yield* MessageCrypto.encrypt({
        encodingAesKey: KEY,
        appId: APPID,
        message: MESSAGE,
        random: RANDOM
      })
      assert.strictEqual(encrypted, VECTOR)
      assert.strictEqual(
        yield* MessageCrypto.signature({
          token: PLATFORM.token,
          timestamp: "1700000000",
          nonce: "1234567890",
          encrypt: VECTOR
        }),
        VECTOR_SIGNATURE
      )
      assert.deepStrictEqual(yield* MessageCrypto.decrypt({ encodingAesKey: KEY, encrypt: VECTOR }), {
        message: MESSAGE,
        appId: APPID
      })
    }))

  it.effect("what it encrypts, wechat-crypto decrypts; what wechat-crypto encrypts, it decrypts (every pad length)", () =>
    Effect.gen(function*() {
      // 16 + 4 + length + 18 bytes: lengths 0..40 cover every pad from 1 to 32, a whole block of pad included
      for (let length = 0; length <= 40; length++) {
        const message = "消息".repeat(length >> 1) + "x".repeat(length & 1)
        const ours = yield* MessageCrypto.encrypt({ encodingAesKey: KEY, appId: APPID, message })
        assert.deepStrictEqual(independent.decrypt(ours), { message, id: APPID })
        const theirs = independent.encrypt(message)
        assert.deepStrictEqual(yield* MessageCrypto.decrypt({ encodingAesKey: KEY, encrypt: theirs }), {
          message,
          appId: APPID
        })
      }
      const timestamp = "1413192605"
      const nonce = "1320562132"
      const encrypt = independent.encrypt(MESSAGE)
      assert.strictEqual(
        yield* MessageCrypto.signature({ token: PLATFORM.token, timestamp, nonce, encrypt }),
        independent.getSignature(timestamp, nonce, encrypt)
      )
    }))

  it.effect("the random prefix is random: two encryptions differ and both decrypt", () =>
    Effect.gen(function*() {
      const a = yield* MessageCrypto.encrypt({ encodingAesKey: KEY, appId: APPID, message: MESSAGE })
      const b = yield* MessageCrypto.encrypt({ encodingAesKey: KEY, appId: APPID, message: MESSAGE })
      assert.notStrictEqual(a, b)
      assert.strictEqual(independent.decrypt(a).message, MESSAGE)
      assert.strictEqual(independent.decrypt(b).message, MESSAGE)
    }))

  it.effect("decrypt refuses what is not a whole, well-padded ciphertext: SandboxError, never a throw", () =>
    Effect.gen(function*() {
      const key = Buffer.from(`${KEY}=`, "base64")
      const raw = (plain: Buffer) => {
        const cipher = Crypto.createCipheriv("aes-256-cbc", key, key.subarray(0, 16))
        cipher.setAutoPadding(false)
        return Buffer.concat([cipher.update(plain), cipher.final()]).toString("base64")
      }
      const cases: ReadonlyArray<[string, string, RegExp]> = [
        ["not base64", "@@@@", /not base64/],
        ["empty", "", /not base64/],
        ["16 bytes", Buffer.alloc(16).toString("base64"), /32-byte blocks/],
        ["a pad byte of 0", raw(Buffer.alloc(32, 0)), /padding/],
        ["a pad byte of 33", raw(Buffer.alloc(64, 33)), /padding/],
        ["pad bytes that differ", raw(Buffer.concat([Buffer.alloc(30, 1), Buffer.from([7, 2])])), /padding/],
        [
          "a length past the end",
          raw(Buffer.concat([Buffer.alloc(16), Buffer.from([0, 0, 1, 0]), Buffer.alloc(12, 12)])),
          /length/
        ]
      ]
      for (const [name, encrypt, message] of cases) {
        const error = yield* Effect.flip(MessageCrypto.decrypt({ encodingAesKey: KEY, encrypt }))
        assert.instanceOf(error, Sandbox.SandboxError, name)
        assert.match(error.message, message, name)
      }
      const wrongKey = yield* Effect.flip(MessageCrypto.decrypt({ encodingAesKey: "a".repeat(42), encrypt: VECTOR }))
      assert.match(wrongKey.message, /43 characters/)
      const notString = yield* Effect.flip(
        MessageCrypto.encrypt({ encodingAesKey: KEY, appId: 1 as unknown as string, message: "m" })
      )
      assert.match(notString.message, /appId must be a string/)
      const shortRandom = yield* Effect.flip(
        MessageCrypto.encrypt({ encodingAesKey: KEY, appId: APPID, message: "m", random: new Uint8Array(15) })
      )
      assert.match(shortRandom.message, /16 bytes/)
      assert.match((yield* Effect.flip(MessageCrypto.signature(null as any))).message, /options object/)
    }))
})

describe("the pushes the sandbox builds", () => {
  it.effect("decrypt with wechat-crypto to the platform's appid; msg_signature and signature check out", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      for (const infoType of ["component_verify_ticket", "authorized", "updateauthorized", "unauthorized"] as const) {
        const push = yield* sandbox.componentPush({
          componentAppId: APPID,
          infoType,
          appId: "wxmanagedofficial1"
        })
        const match =
          /^<xml><AppId><!\[CDATA\[([^\]]+)\]\]><\/AppId><Encrypt><!\[CDATA\[([A-Za-z0-9+/=]+)\]\]><\/Encrypt><\/xml>$/
            .exec(push.body)
        assert.isNotNull(match, push.body)
        assert.strictEqual(match![1], APPID)
        const { encrypt_type, msg_signature, nonce, signature, timestamp } = push.query
        assert.strictEqual(encrypt_type, "aes")
        assert.match(nonce, /^[0-9]{10}$/)
        assert.strictEqual(msg_signature, independent.getSignature(timestamp, nonce, match![2]))
        assert.strictEqual(
          signature,
          Crypto.createHash("sha1").update([PLATFORM.token, timestamp, nonce].sort().join("")).digest("hex")
        )
        const decrypted = independent.decrypt(match![2])
        assert.strictEqual(decrypted.id, APPID)
        assert.strictEqual(decrypted.message, push.xml)
        assert.include(push.xml, `<InfoType><![CDATA[${infoType}]]></InfoType>`)
        assert.strictEqual(push.message.InfoType, infoType)
      }
    }).pipe(Effect.provide(componentLayer())))
})
