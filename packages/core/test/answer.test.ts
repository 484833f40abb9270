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
import { scrubErrmsg } from "../src/internal/answer.js"

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
})
