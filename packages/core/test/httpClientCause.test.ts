/**
 * The scrubber of transport failures' messages: a client's message may quote the request URL, whose
 * query holds the app secret, codes and tokens; none of it may be kept, whatever the values hold.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import * as Url from "node:url"
import { sanitize } from "../src/internal/httpClientCause.js"

const source = Url.fileURLToPath(new URL("../src/internal/httpClientCause.ts", import.meta.url))
const tsx = Path.join(
  Url.fileURLToPath(new URL("../../..", import.meta.url)),
  "node_modules",
  "tsx",
  "dist",
  "loader.mjs"
)

/**
 * Runs `sanitize` on `message` (an expression) in a node with at most `heapMegabytes` of old space:
 * the result's length and end, or the child's failure (out of memory: an abort).
 */
const sanitizeInSmallHeap = (message: string, heapMegabytes: number) =>
  new Promise<{ readonly code: number | null; readonly signal: string | null; readonly stdout: string }>(
    (resolve) => {
      const script = `import(${JSON.stringify(Url.pathToFileURL(source).href)}).then(({ sanitize }) => {
  const kept = sanitize(${message})
  process.stdout.write(JSON.stringify({ length: kept.length, tail: kept.slice(-40) }))
})`
      ChildProcess.execFile(
        process.execPath,
        [`--max-old-space-size=${heapMegabytes}`, "--import", Url.pathToFileURL(tsx).href, "--eval", script],
        { timeout: 60_000, killSignal: "SIGKILL", maxBuffer: 1 << 20 },
        (error, stdout) =>
          resolve({
            code: error === null ? 0 : typeof error.code === "number" ? error.code : null,
            signal: error === null ? null : error.signal ?? null,
            stdout
          })
      )
    }
  )

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

  it("a message of 5,000,000 '(' is sanitized in a 48 MB heap, and a query after them is still redacted", async () => {
    // the brackets open were an array of one entry per bracket: ~132 MB for these 5 MB
    const ran = await sanitizeInSmallHeap(`"(".repeat(5_000_000) + "GET https://h/p?a=1)b&secret=S)"`, 48)
    assert.deepStrictEqual(ran, {
      code: 0,
      signal: null,
      stdout: JSON.stringify({ length: 5_000_000 + 27, tail: "(".repeat(13) + "GET https://h/p?<redacted>)" })
    })
  }, 90_000)

  it("past 64 open brackets, their kinds are forgotten but the query is redacted the same", () => {
    const deep = "([".repeat(100)
    assert.strictEqual(sanitize(`${deep}GET https://h/p?a=1]b&secret=S])`), `${deep}GET https://h/p?<redacted>])`)
    // closed back past the remembered depth: one '(' left open, its kind forgotten
    const closed = `${"(".repeat(100)}x${")".repeat(99)}`
    assert.strictEqual(sanitize(`${closed}(GET https://h/p?secret=S)))`), `${closed}(GET https://h/p?<redacted>))`)
    // a forgotten bracket is closed by either kind: all 100 are closed here, one ')' given back
    const mixed = `${"(".repeat(100)}${")".repeat(64)}${"]".repeat(36)}`
    assert.strictEqual(sanitize(`${mixed}(GET https://h/p?secret=S))`), `${mixed}(GET https://h/p?<redacted>)`)
    assert.strictEqual(
      sanitize(`${"[".repeat(70)}${")".repeat(70)}?s=S)`),
      `${"[".repeat(70)}${")".repeat(70)}?<redacted>`
    )
  })
})
