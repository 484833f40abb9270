/**
 * The scrubber of transport failures' messages: a client's message may quote the request URL, whose
 * query holds the app secret, codes and tokens; none of it may be kept, whatever the values hold.
 */
import { assert, describe, it } from "@effect/vitest"
import { sanitize } from "../src/internal/httpClientCause.js"

describe("sanitize", () => {
  it("redacts a query whole, past a ')' or ']' of a value, and gives back the bracket that closed '(GET url'", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["(GET https://h/p?a=1)b&secret=S)", "(GET https://h/p?<redacted>)"],
      ["Decode error (200 GET https://h/p?a=1)b&secret=S)", "Decode error (200 GET https://h/p?<redacted>)"],
      ["(GET https://h/p?a=1]b&secret=S)", "(GET https://h/p?<redacted>)"],
      ["(GET https://h/p?a=1)b&secret=S))", "(GET https://h/p?<redacted>)"],
      ["[(GET https://h/p?code=a)b&secret=S)]", "[(GET https://h/p?<redacted>)]"],
      [
        "request to https://h/p?code=a)b&secret=S failed, reason: x",
        "request to https://h/p?<redacted> failed, reason: x"
      ],
      // nothing opened before the URL: a ')' that ends the query is the query's
      ["request to https://h/p?code=a)b&secret=S) failed", "request to https://h/p?<redacted> failed"],
      [
        "(GET https://h/p?secret=S)b) and (GET https://h/q?x=1]y&t=T)",
        "(GET https://h/p?<redacted>) and (GET https://h/q?<redacted>)"
      ],
      ["'https://h/p?code=a)b&secret=S'", "'https://h/p?<redacted>'"],
      ["<https://u:pw@h/p?s=S>", "<https://<redacted>@h/p?<redacted>>"],
      ["no query (here)", "no query (here)"]
    ]
    for (const [message, expected] of cases) {
      assert.strictEqual(sanitize(message), expected, message)
      assert.notInclude(sanitize(message), "S)", message)
      assert.notInclude(sanitize(message), "secret=", message)
    }
  })

  it("whatever a query value holds, nothing after '?' is kept but closing brackets", () => {
    // what a query can hold as a client prints it: a space, a quote and an angle bracket are always
    // escaped (by this library's encoding, and by the URL parser in an http(s) query); brackets,
    // `!*` and the rest may be raw
    const alphabet = [..."()[]{}|^`!*~-_.&=%?#/:@;,$+aZ09"]
    let state = 0x2545f491
    const random = () => {
      state ^= state << 13
      state ^= state >>> 17
      state ^= state << 5
      return (state >>> 0) / 2 ** 32
    }
    for (let n = 0; n < 2_000; n++) {
      let value = ""
      for (let i = 0, length = Math.floor(random() * 12); i < length; i++) {
        value += alphabet[Math.floor(random() * alphabet.length)]
      }
      const message = `Transport error (GET https://h/p?code=${value}&secret=SECRET)`
      const kept = sanitize(message)
      assert.match(kept, /^Transport error \(GET https:\/\/h\/p\?<redacted>[)\]]*$/, message)
      assert.notInclude(kept, "SECRET", message)
    }
  })

  it("stays linear on a long message of brackets and queries", () => {
    const message = `${"(".repeat(50_000)}GET https://h/p?${")".repeat(50_000)} ${"?a=1)".repeat(20_000)}`
    const started = performance.now()
    const kept = sanitize(message)
    assert.isBelow(performance.now() - started, 1_000)
    assert.notInclude(kept, "a=1")
  })
})
