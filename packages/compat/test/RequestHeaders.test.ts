/**
 * `client.request(url, args)` called directly reads `args.headers` (and `setOpts`' `headers`) with one
 * rule: any object (a plain one, a class's instance, one made by `Object.create`) by its own enumerable
 * string keys, as urllib read it, not an array, a `Map` or a `Headers`, at most 64 headers, 16 KiB in
 * all, read with a counter that stops at the first entry past the bounds; else a `WeChatAPIInvalidArgumentError`
 * naming `args.headers` (`WeChatAPIConfigError` for `setOpts`'), nothing sent. A million headers no
 * longer block the event loop for seconds before the request's deadline starts.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import OAuth from "@wxauth/compat"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { OA } from "./helpers.js"

let server: Http.Server
let base: string
let received = 0
const client = new OAuth(OA.appId, OA.secret)

beforeAll(async () => {
  server = Http.createServer((req, res) => {
    received++
    res.setHeader("content-type", "application/json")
    res.end(JSON.stringify({ headers: req.headers }))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await client.close()
  await new Promise((resolve) => server.close(resolve))
})

const outcome = (oauth: OAuth, args: unknown): Promise<any> =>
  (oauth.request(`${base}/echo`, { dataType: "json", timeout: 1000, ...(args as object) }) as Promise<any>).then(
    (result) => result,
    (error: unknown) => error
  )

const many = (n: number): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (let i = 0; i < n; i++) headers[`x-h${i}`] = "v"
  return headers
}

describe("request's headers", () => {
  it("64 headers are sent", async () => {
    const answer = await outcome(client, { headers: many(64) })
    assert.strictEqual(answer?.status, 200, `${answer?.name}: ${answer?.message}`)
    assert.strictEqual(answer.data.headers["x-h63"], "v")
  })

  const refused: Array<[string, () => unknown]> = [
    ["an array of a million", () => new Array(1_000_000).fill("x")],
    ["an object of 200,000 headers", () => many(200_000)],
    ["65 headers", () => many(65)],
    ["a value of 17 KiB", () => ({ "x-big": "v".repeat(17 * 1024) })],
    [
      "40 headers of 500 bytes each (20 KB)",
      () => Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`x-h${i}`, "v".repeat(500)]))
    ],
    ["a Map", () => new Map([["x-a", "b"]])],
    ["a Headers", () => new Headers([["x-a", "b"]])],
    ["a string", () => "x-a: b"]
  ]
  for (const [name, headers] of refused) {
    it(`${name}: WeChatAPIInvalidArgumentError naming args.headers, at once, nothing sent`, async () => {
      const given = headers()
      const before = received
      const started = Date.now()
      const error = await outcome(client, { headers: given })
      const elapsed = Date.now() - started
      assert.strictEqual(error?.name, "WeChatAPIInvalidArgumentError", `${error?.name}: ${error?.message}`)
      assert.include(error.message, "args.headers")
      assert.strictEqual(received, before)
      assert.isBelow(elapsed, 1000, "read within the request's timeout")
    })
  }

  it("a Map or a Headers: the error says to pass Object.fromEntries(...) of it", async () => {
    for (const headers of [new Map([["x-a", "b"]]), new Headers([["x-a", "b"]])]) {
      const error = await outcome(client, { headers })
      assert.strictEqual(error?.name, "WeChatAPIInvalidArgumentError", `${error?.name}: ${error?.message}`)
      assert.include(error.message, "Object.fromEntries(")
    }
  })

  // urllib 2 (wechat-oauth's client) sent the own enumerable string keys of any object
  class TraceHeaders {
    "X-Trace": string
    constructor() {
      this["X-Trace"] = "abc123"
    }
  }
  const sentAsUrllibDid: Array<[string, () => object]> = [
    ["a class's instance", () => new TraceHeaders()],
    [
      "an Object.create(plainBase) with own keys",
      () => Object.assign(Object.create({ "x-base": "1" }), { "X-Trace": "abc123" })
    ],
    ["an Object.create(null) with own keys", () => Object.assign(Object.create(null), { "X-Trace": "abc123" })]
  ]
  for (const [name, headers] of sentAsUrllibDid) {
    it(`${name}: its own keys are sent (args.headers and setOpts' headers), its prototype's are not`, async () => {
      const answer = await outcome(client, { headers: headers() })
      assert.strictEqual(answer?.status, 200, `args.headers: ${answer?.name}: ${answer?.message}`)
      assert.strictEqual(answer.data.headers["x-trace"], "abc123")
      assert.notProperty(answer.data.headers, "x-base")
      const oauth = new OAuth(OA.appId, OA.secret)
      try {
        oauth.setOpts({ headers: headers() } as never)
        const viaDefaults = await outcome(oauth, {})
        assert.strictEqual(viaDefaults?.status, 200, `setOpts' headers: ${viaDefaults?.name}: ${viaDefaults?.message}`)
        assert.strictEqual(viaDefaults.data.headers["x-trace"], "abc123")
        assert.notProperty(viaDefaults.data.headers, "x-base")
      } finally {
        await oauth.close()
      }
    })
  }

  it("a prototype's keys are not listed: an object over an array of two million is read at once", async () => {
    const headers = Object.assign(Object.create(new Array(2_000_000).fill("x")), { "X-Trace": "abc123" })
    const started = Date.now()
    const answer = await outcome(client, { headers })
    const elapsed = Date.now() - started
    assert.strictEqual(answer?.status, 200, `${answer?.name}: ${answer?.message}`)
    assert.strictEqual(answer.data.headers["x-trace"], "abc123")
    assert.isBelow(elapsed, 1000, "read within the request's timeout")
  })

  it("the headers are read with a counter that stops past the bound", async () => {
    let reads = 0
    const target = many(1000)
    const headers = new Proxy(target, {
      get: (object, key) => {
        reads++
        return object[key as string]
      }
    })
    const error = await outcome(client, { headers })
    assert.strictEqual(error?.name, "WeChatAPIInvalidArgumentError", `${error?.name}: ${error?.message}`)
    assert.isAtMost(reads, 65)
  })

  it("setOpts' headers: the same rule, a WeChatAPIConfigError naming headers", async () => {
    const oauth = new OAuth(OA.appId, OA.secret)
    try {
      oauth.setOpts({ headers: new Array(100).fill("x") } as never)
      const before = received
      const error = await outcome(oauth, {})
      assert.strictEqual(error?.name, "WeChatAPIConfigError", `${error?.name}: ${error?.message}`)
      assert.include(error.message, "headers")
      assert.strictEqual(received, before)
      oauth.setOpts({ headers: { "x-default": "d" } } as never)
      const answer = await outcome(oauth, { headers: { "x-given": "g" } })
      assert.deepStrictEqual([answer?.data?.headers["x-default"], answer?.data?.headers["x-given"]], ["d", "g"])
    } finally {
      await oauth.close()
    }
  })
})
