import { assert, describe, it } from "@effect/vitest"
import { scrubErrmsg } from "../src/internal/answer.js"
import { isVerbatimQuery } from "../src/internal/httpClient.js"
import { encodeQueryValue, query } from "../src/internal/query.js"

/** What the URL parser sends for a query: the bytes after `?` once the URL is parsed. */
const sentByUrl = (q: string) => new URL(`https://api.weixin.qq.com/sns/userinfo?${q}`).search.slice(1)

/** encodeURIComponent's output, with `!'()*` percent-encoded too. */
const expected = (value: string) =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

// a small deterministic generator: the same strings on every run
const random = (() => {
  let state = 0x2545f491
  return () => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return (state >>> 0) / 2 ** 32
  }
})()

const alphabet = [..."AZaz09-_.!~*()'\" #%&+=/?<>@[]\\^`{|}\u0000\u001f\u007f\u00e9\u4e2d", "\u{1f600}"]

describe("query", () => {
  it("encodes every code point as encodeURIComponent does, and !'()* too", () => {
    for (let c = 0; c <= 0xffff; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue
      const value = String.fromCharCode(c)
      assert.strictEqual(encodeQueryValue(value), expected(value), `U+${c.toString(16)}`)
    }
    assert.strictEqual(encodeQueryValue("\u{1f600}"), expected("\u{1f600}"))
  })

  it("encodes mixed strings as encodeURIComponent does, and !'()*; the URL parser leaves the result as it is", () => {
    for (let n = 0; n < 2_000; n++) {
      let value = ""
      const length = Math.floor(random() * 40)
      for (let i = 0; i < length; i++) value += alphabet[Math.floor(random() * alphabet.length)]
      const encoded = encodeQueryValue(value)
      assert.strictEqual(encoded, expected(value), JSON.stringify(value))
      assert.isTrue(isVerbatimQuery(encoded), JSON.stringify(value))
      assert.strictEqual(sentByUrl(`a=${encoded}`), `a=${encoded}`, JSON.stringify(value))
    }
  })

  it("returns a value with nothing to encode as it is (WeChat's tokens, codes and openids)", () => {
    const token = "88_AbCdEf-0123456789_xyz"
    assert.strictEqual(encodeQueryValue(token), token)
    assert.strictEqual(encodeQueryValue(""), "")
  })

  it("never throws: a lone surrogate is sent as U+FFFD, as URLSearchParams writes it", () => {
    for (const value of ["\uD800", "x\uDC00", "\uDC00\uD800", "a\uD83Dz"]) {
      const encoded = encodeQueryValue(value)
      assert.strictEqual(encoded, new URLSearchParams([["", value]]).toString().slice(1), JSON.stringify(value))
      assert.include(encoded, "%EF%BF%BD")
    }
    // a pair stays one code point
    assert.strictEqual(encodeQueryValue("\uD83D\uDE00"), "%F0%9F%98%80")
  })

  it("sends only letters, digits and -_.~ as they are: no bracket, quote or sub-delimiter", () => {
    assert.strictEqual(encodeQueryValue("a)b(c!d*e'f~g"), "a%29b%28c%21d%2Ae%27f~g")
    assert.strictEqual(new URLSearchParams(`v=${encodeQueryValue("061abc)x")}`).get("v"), "061abc)x")
    for (let c = 0; c < 128; c++) {
      const value = String.fromCharCode(c)
      const kept = /[A-Za-z0-9\-_.~]/.test(value)
      assert.strictEqual(encodeQueryValue(value) === value, kept, `U+${c.toString(16)}`)
    }
  })

  it("the tag encodes each value and keeps the literal parts", () => {
    const token = "tok en"
    const openid = "o'id&x=1"
    const built = query`access_token=${token}&openid=${openid}&lang=zh_CN`
    assert.strictEqual(built, "access_token=tok%20en&openid=o%27id%26x%3D1&lang=zh_CN")
    assert.strictEqual(new URLSearchParams(built).get("openid"), openid)
    assert.isTrue(isVerbatimQuery(built))
  })

  it("a literal part the URL parser would rewrite is refused (a defect of the code, never sent)", () => {
    const value = "v"
    assert.throws(() => query`a=${value}&b=two words`, /literal part/)
    assert.throws(() => query`a=${value}&b='quoted'`, /literal part/)
  })

  it("an echoed errmsg loses a value in the forms the query sent it", () => {
    const code = "s3cr'et\uD800"
    const sent = encodeQueryValue(code)
    const errmsg = `invalid code, hints: [ req: ${sent} raw: s3cr'et\uFFFD lower: ${sent.toLowerCase()} ]`
    const scrubbed = scrubErrmsg(errmsg, [code])
    assert.notInclude(scrubbed, "s3cr")
    assert.strictEqual(scrubbed, "invalid code, hints: [ req: <redacted> raw: <redacted> lower: <redacted> ]")
    // a value under 8 characters (matched whole only) holding what only this encoding escapes: as
    // sent, as encodeURIComponent writes it, as the URL parser sends it
    const short = "x y(z)'"
    assert.strictEqual(encodeQueryValue(short), "x%20y%28z%29%27")
    assert.strictEqual(
      scrubErrmsg("bad code x%20y%28z%29%27, x%20y(z)', x%20y(z)%27 or x y(z)' here", [short]),
      "bad code <redacted>, <redacted>, <redacted> or <redacted> here"
    )
  })
})
