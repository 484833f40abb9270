/**
 * An errmsg that echoes a secret the request carried in a form the scrubber did not know: cut short,
 * in base64 or hex, interleaved with control or format characters, or without its `=` padding.
 * None of it may reach the error's errmsg, message or JSON; the rest of the errmsg stays readable.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import type { WeChatError } from "@wxauth/core"
import { WeChatApi, WeChatConfig } from "@wxauth/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { holdsRun, scrubErrmsg } from "../src/internal/answer.js"

const secret = "Zq8pL2mN7xW4vK9rT3yB6hJ1cF5gD0sA"
const sessionKey = "a2V5a2V5a2V5a2V5a2V5aw=="
const openid = `o${"x".repeat(27)}`

/** An `HttpClient` answering every request with errcode `errcode` and `errmsg`. */
const answering = (errcode: number, errmsg: string) =>
  Layer.succeed(
    HttpClient.HttpClient,
    HttpClient.make((request) =>
      Effect.succeed(HttpClientResponse.fromWeb(request, new Response(JSON.stringify({ errcode, errmsg }))))
    )
  )

const failureOf = (
  errcode: number,
  errmsg: string,
  call: (api: WeChatApi.WeChatApiShape) => Effect.Effect<unknown, WeChatError.RequestFailure>
) =>
  WeChatApi.make.pipe(
    Effect.provide(Layer.merge(
      answering(errcode, errmsg),
      WeChatConfig.layer({ appId: "wx0123456789abcdef", appSecret: Redacted.make(secret) })
    )),
    Effect.orDie,
    Effect.flatMap((api) => Effect.either(call(api))),
    Effect.map((either) => {
      assert.isTrue(Either.isLeft(either), "expected a failure")
      return (either as Either.Left<WeChatError.RequestFailure, unknown>).left
    })
  )

/** The error's errmsg, message, JSON and string hold none of `leaked` and still hold every one of `kept`. */
const assertScrubbed = (
  error: WeChatError.RequestFailure,
  leaked: ReadonlyArray<string>,
  kept: ReadonlyArray<string>
) => {
  const errmsg = (error as { readonly errmsg?: string }).errmsg ?? ""
  for (const text of [errmsg, error.message, JSON.stringify(error), String(error)]) {
    for (const form of leaked) assert.notInclude(text, form)
    assert.include(text, "<redacted>")
  }
  for (const word of kept) assert.include(errmsg, word)
}

const appToken = (api: WeChatApi.WeChatApiShape) => api.token()

describe("an echoed secret in a form the errmsg scrubber did not know", () => {
  it.effect("the app secret's first 20 characters", () =>
    Effect.gen(function*() {
      const partial = secret.slice(0, 20)
      const error = yield* failureOf(40125, `invalid appsecret ${partial}... rid: 1-2-3`, appToken)
      assertScrubbed(error, [secret, partial, partial.slice(0, 8)], ["invalid appsecret ", "... rid: 1-2-3"])
      assert.strictEqual((error as WeChatError.InvalidAppSecret).errmsg, "invalid appsecret <redacted>... rid: 1-2-3")
    }))

  it.effect("the app secret in base64 (standard and URL-safe, padded or not)", () =>
    Effect.gen(function*() {
      const base64 = Buffer.from(secret).toString("base64")
      const base64url = Buffer.from(secret).toString("base64url")
      assert.isTrue(base64.endsWith("="))
      const error = yield* failureOf(40125, `hint ${base64} url ${base64url} tail`, appToken)
      assertScrubbed(error, [secret, base64, base64.replace(/=+$/, ""), base64url], ["hint ", " url ", " tail"])
    }))

  it.effect("the app secret in hex (lower- and upper-case)", () =>
    Effect.gen(function*() {
      const hex = Buffer.from(secret).toString("hex")
      const error = yield* failureOf(40125, `hint ${hex} and ${hex.toUpperCase()} tail`, appToken)
      assertScrubbed(error, [secret, hex, hex.toUpperCase(), hex.slice(0, 16)], ["hint ", " and ", " tail"])
    }))

  it.effect("the app secret interleaved with control and format characters", () =>
    Effect.gen(function*() {
      const nul = secret.split("").join("\u0000")
      const zeroWidth = secret.split("").join("\u200b")
      const error = yield* failureOf(40125, `hint ${nul} and ${zeroWidth} tail\nend`, appToken)
      const spaced = secret.split("").join(" ")
      assertScrubbed(error, [secret, nul, zeroWidth, spaced, spaced.slice(0, 15)], ["hint ", " and ", " tail end"])
      assert.strictEqual((error as WeChatError.InvalidAppSecret).errmsg, "hint <redacted> and <redacted> tail end")
    }))

  it.effect("a session key without its == padding", () =>
    Effect.gen(function*() {
      const unpadded = sessionKey.replace(/=+$/, "")
      const error = yield* failureOf(
        87009,
        `bad sig key=${sessionKey} url ${unpadded} done`,
        (api) => api.checkSession(Redacted.make("tok"), openid, Redacted.make(sessionKey))
      )
      assertScrubbed(error, [sessionKey, unpadded], ["bad sig key=", " url ", " done"])
      assert.strictEqual((error as WeChatError.InvalidSignature).errmsg, "bad sig key=<redacted> url <redacted> done")
    }))
})

/** The query of `api.token()`, with `prefix` before it (to shift it within base64's 3-byte groups). */
const tokenQuery = (prefix: string) => `${prefix}appid=wx0123456789abcdef&secret=${secret}&grant_type=client_credential`

/** Every text decoded from the base64 runs of `text` (between markers), read from each of their first 4 characters. */
const decodings = (text: string): ReadonlyArray<string> =>
  text.split("<redacted>").flatMap((piece) => {
    const run = piece.replace(/[^A-Za-z0-9+/_-]/g, "")
    return [0, 1, 2, 3].map((shift) => Buffer.from(run.slice(shift), "base64").toString("latin1"))
  })

describe("a proxy echoing the whole query in base64 or hex", () => {
  for (const encoding of ["base64", "base64url"] as const) {
    for (const prefix of ["", "x", "xx"]) {
      it.effect(`${encoding}, the query after ${prefix.length} more byte(s) (the secret in each alignment)`, () =>
        Effect.gen(function*() {
          const echoed = Buffer.from(tokenQuery(prefix)).toString(encoding)
          const error = yield* failureOf(40125, `proxy: ${echoed} end`, appToken)
          const errmsg = (error as WeChatError.InvalidAppSecret).errmsg
          assertScrubbed(error, [secret, secret.slice(0, 8)], ["proxy: ", " end"])
          // no 4 characters of the secret can be decoded from what is left, whatever the alignment
          for (const text of [errmsg, error.message]) {
            for (const decoded of decodings(text)) {
              for (let i = 0; i + 4 <= secret.length; i++) assert.notInclude(decoded, secret.slice(i, i + 4))
            }
          }
          // what is around the secret is kept
          assert.isTrue(decodings(errmsg).some((decoded) => decoded.includes("appid=wx0123456789abcdef&secret")))
          assert.isTrue(decodings(errmsg).some((decoded) => decoded.includes("rant_type=client_credential")))
        }))
    }
  }

  it.effect("hex, at any offset (each byte is two characters of its own: no alignment)", () =>
    Effect.gen(function*() {
      for (const prefix of ["", "x", "xx"]) {
        const hex = Buffer.from(tokenQuery(prefix)).toString("hex")
        for (const echoed of [hex, hex.toUpperCase(), hex.slice(1)]) {
          const error = yield* failureOf(40125, `proxy: ${echoed}`, appToken)
          const errmsg = (error as WeChatError.InvalidAppSecret).errmsg
          assert.include(errmsg, "<redacted>")
          const [before, after] = errmsg.slice("proxy: ".length).split("<redacted>")
          const decoded = [before, after.replace(/\.\.\.$/, "")].flatMap((piece) =>
            [0, 1].map((shift) => Buffer.from(piece.slice(shift), "hex").toString("latin1"))
          )
          for (const text of decoded) {
            for (let i = 0; i + 4 <= secret.length; i++) assert.notInclude(text, secret.slice(i, i + 4))
          }
        }
      }
    }))
})

describe("scrubErrmsg", () => {
  it("a run of 8 or more characters of a secret goes; 7 stay; a secret under 8 is matched whole only", () => {
    const token = "ACCESS.token-value_1234567890"
    assert.strictEqual(
      scrubErrmsg(`a ${token.slice(3, 11)} b ${token.slice(3, 10)} c`, [token]),
      "a <redacted> b ESS.tok c"
    )
    assert.strictEqual(scrubErrmsg("code abc1234 and abc123 x", ["abc1234"]), "code <redacted> and abc123 x")
    // overlapping or adjacent runs, and what hides between them, are one marker
    assert.strictEqual(
      scrubErrmsg(`[${token.slice(0, 12)}\u0000\u202e${token.slice(10)}]`, [token]),
      "[<redacted>]"
    )
    // what is not a secret keeps its text; controls become spaces, format characters go
    assert.strictEqual(scrubErrmsg("line1\nline2\u200b\u0000ok", [token]), "line1 line2 ok")
    assert.strictEqual(scrubErrmsg(42, [token]), "")
    // a run ending or starting inside a surrogate pair takes the whole pair
    const astral = "\u{1F600}abcdefgh\u{1F601}"
    assert.strictEqual(scrubErrmsg(`x\uDE00abcdefgh\uD83D y`, [astral]), "x<redacted> y")
    assert.strictEqual(scrubErrmsg(`x\u{1F600}abcdefgh\u{1F602} y`, [astral]), "x<redacted> y")
  })

  it("a run is matched ignoring the case of ASCII letters, as a whole form is: an echo upper-cased, then cut", () => {
    const appSecret = "3f9a1c7be05d42e8a6b1c09d7e3f5a21"
    const token = "hDf8_x2KqLmN0pQrStUvWxYz-AbCdEfGhIjK"
    // no 8 characters of the secret, compared ignoring case, are left
    const windowsOf = (value: string) => {
      const windows: Array<string> = []
      for (let i = 0; i + 8 <= value.length; i++) windows.push(value.slice(i, i + 8).toLowerCase())
      return windows
    }
    const mixed = (value: string) => [...value].map((c, i) => i % 3 === 0 ? c.toUpperCase() : c.toLowerCase()).join("")
    for (
      const [label, echoed, value] of [
        ["upper-cased, cut to 24", appSecret.toUpperCase().slice(0, 24), appSecret],
        ["upper-cased, cut at both ends", appSecret.toUpperCase().slice(5, 19), appSecret],
        ["mixed case, cut", mixed(appSecret).slice(3, 27), appSecret],
        ["a token lower-cased, cut", token.toLowerCase().slice(0, 24), token],
        ["a token upper-cased, cut", token.toUpperCase().slice(4, 20), token]
      ] as const
    ) {
      const scrubbed = scrubErrmsg(`x ${echoed} y`, [appSecret, token])
      assert.strictEqual(scrubbed, "x <redacted> y", label)
      for (const window of windowsOf(value)) assert.notInclude(scrubbed.toLowerCase(), window, label)
    }
    // 7 characters, whatever their case, stay
    assert.strictEqual(scrubErrmsg(`x ${appSecret.toUpperCase().slice(0, 7)} y`, [appSecret]), "x 3F9A1C7 y")
    // an identity in a success answer is still compared exactly: WeChat's ids are case-sensitive
    assert.isFalse(holdsRun(["o_from_request"], [], ["CODE_FOR_REQUEST"]))
    assert.isTrue(holdsRun(["o_FOR_REQUEST"], [], ["CODE_FOR_REQUEST"]))
    // text that shares no 8 characters with a secret, whatever their case, is kept as it is
    assert.strictEqual(
      scrubErrmsg("Invalid AppSecret, hints: [ req_id: abc ]", [appSecret]),
      "Invalid AppSecret, hints: [ req_id: abc ]"
    )
  })

  it("a long errmsg against long secrets stays linear", () => {
    const secrets = [
      "y".repeat(1024),
      "\u00e9".repeat(1024),
      Array.from({ length: 1024 }, (_, i) => String.fromCharCode(33 + (i * 7) % 90)).join("")
    ]
    const errmsg = `${"y".repeat(30_000)}${"\u0000z".repeat(20_000)}${"x".repeat(16_000)}`
    const started = performance.now()
    const scrubbed = scrubErrmsg(errmsg, secrets)
    assert.isBelow(performance.now() - started, 2_000)
    assert.isTrue(scrubbed.startsWith("<redacted> z z"))
    assert.isAtMost(scrubbed.length, 200)
  })

  it("the work is bounded by what is kept, not by the length of the errmsg", () => {
    // a 64 KiB errmsg of printable noise (deterministic), scrubbed 100 times: only its start can be kept
    let seed = 7
    const noise = Array.from({ length: 64 * 1024 }, () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return String.fromCharCode(33 + (seed >>> 8) % 94)
    }).join("")
    const realistic = [secret, sessionKey, "061abcDEFcode0001xyz061abcDEFcod"]
    let started = performance.now()
    for (let i = 0; i < 100; i++) scrubErrmsg(noise, realistic)
    // about 0.3 ms a scrub with the bound, 20 to 40 ms without: 100 of them under 500 ms even on a busy machine
    assert.isBelow(performance.now() - started, 500)
    const long = [
      "y".repeat(1024),
      "\u00e9".repeat(1024),
      Array.from({ length: 1024 }, (_, i) => String.fromCharCode(33 + (i * 7) % 90)).join("")
    ]
    started = performance.now()
    for (let i = 0; i < 100; i++) scrubErrmsg(noise, long)
    // about 5 ms a scrub with the bound (nearly all of it indexing the secrets' forms), 26 ms without
    assert.isBelow(performance.now() - started, 2_500)
    assert.strictEqual(scrubErrmsg(noise, realistic), `${noise.slice(0, 197)}...`)
  })

  it("an errmsg made of echoed secrets is scrubbed further, and only what is known to be scrubbed is kept", () => {
    // 65 echoes in a row (one stretch, over the first 2,048 characters), then a secret whose first 7
    // characters fall just before the end of what is matched first: they are not a run of 8 there,
    // and are never kept
    const errmsg = `${secret.repeat(65)}${"!".repeat(24)}${secret} tail`
    const scrubbed = scrubErrmsg(errmsg, [secret])
    assert.strictEqual(scrubbed, `<redacted>${"!".repeat(24)}<redacted> tail`)
    // past 64 KiB nothing is read: a secret cut there is not shown either
    assert.strictEqual(scrubErrmsg(`${errmsg}${secret.repeat(2000)}`, [secret]), `${scrubbed}<redacted>...`)
    const cutAt64K = `${secret.repeat(2047)}${"!".repeat(27)}${secret}`
    assert.strictEqual(cutAt64K.length - 64 * 1024, secret.length - 5)
    const scrubbedAt64K = scrubErrmsg(cutAt64K, [secret])
    assert.match(scrubbedAt64K, /^<redacted>!*\.\.\.$/)
    assert.notInclude(scrubbedAt64K, secret.slice(0, 4))
    assert.strictEqual(scrubErrmsg(`${secret.repeat(3000)}x`, [secret]), "<redacted>...")
    // with what follows the echoes close enough, it is all scrubbed
    assert.strictEqual(scrubErrmsg(`${secret.repeat(10)} tail \u0000x\u200by`, [secret]), "<redacted> tail  xy")
    // hidden characters cost little, however many
    assert.strictEqual(scrubErrmsg(`${"\u200b".repeat(60_000)}ok ${secret}`, [secret]), "ok <redacted>")
    assert.strictEqual(scrubErrmsg("\u0000".repeat(60_000), [secret]), `${" ".repeat(197)}...`)
  })
})
