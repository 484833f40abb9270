/**
 * `client.request(url, args, callback)` called directly keeps urllib's `content` and `type`: `content`
 * (a string or Buffer) is the payload as it is, in place of `data` (the body of a POST, the query of
 * a GET), and `type` names the method as `method` does. Against a local HTTP server that echoes
 * what it received.
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
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      res.setHeader("content-type", "application/json")
      res.end(JSON.stringify({
        method: req.method,
        url: req.url,
        contentType: req.headers["content-type"] ?? null,
        body: Buffer.concat(chunks).toString("utf8")
      }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await client.close()
  await new Promise((resolve) => server.close(resolve))
})

const echo = (args: Record<string, unknown>) =>
  new Promise<any>((resolve, reject) =>
    client.request(
      `${base}/echo`,
      { dataType: "json", ...args },
      (err: any, data: any) => err ? reject(err) : resolve(data)
    )
  )

describe("request's content (urllib)", () => {
  it("a POST's content string is its body, data ignored; a given content-type is sent", async () => {
    const sent = "<xml><ToUserName>o_x</ToUserName></xml>"
    const answer = await echo({
      method: "POST",
      content: sent,
      data: { a: 1 },
      headers: { "Content-Type": "text/xml" }
    })
    assert.deepStrictEqual(answer, { method: "POST", url: "/echo", contentType: "text/xml", body: sent })
  })

  it("a POST's content Buffer is its body, byte for byte", async () => {
    const sent = JSON.stringify({ touser: "o_x", msgtype: "text", text: { content: "你好" } })
    const answer = await echo({ method: "POST", content: Buffer.from(sent), contentType: "json" })
    assert.strictEqual(answer.method, "POST")
    assert.strictEqual(answer.body, sent)
  })

  it("type names the method, as method does", async () => {
    const answer = await echo({ type: "POST", data: { a: "1" } })
    assert.deepStrictEqual([answer.method, answer.body], ["POST", "a=1"])
  })

  it("a GET's content is its query", async () => {
    const answer = await echo({ content: "a=1&b=2", data: { c: 3 } })
    assert.deepStrictEqual([answer.method, answer.url, answer.body], ["GET", "/echo?a=1&b=2", ""])
  })
})

/** What `request(url, args)` ends with, by callback and by promise: `[callback's err, promise's rejection]`. */
const failures = async (oauth: OAuth, args: () => unknown): Promise<Array<any>> => {
  const byCallback = await new Promise<unknown>((resolve) =>
    oauth.request(`${base}/echo`, args() as never, (err: unknown) => resolve(err))
  )
  const byPromise = await (oauth.request(`${base}/echo`, args() as never) as Promise<unknown>).then(
    () => undefined,
    (error: unknown) => error
  )
  return [byCallback, byPromise]
}

const throwingTrap = () =>
  new Proxy({}, {
    get: () => {
      throw new Error("trap")
    }
  })
const revoked = () => {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return proxy
}

describe("request's args that cannot be read (urllib's options)", () => {
  const cases: Array<[string, () => unknown]> = [
    ["a Proxy whose get trap throws", throwingTrap],
    ["a revoked Proxy", revoked],
    ["a timeout getter that throws", () => ({
      get timeout() {
        throw new Error("getter")
      }
    })],
    ["headers whose keys cannot be listed", () => ({ headers: revoked() })],
    ["a POST's data whose getter throws", () => ({
      method: "POST",
      data: {
        get a() {
          throw new Error("x")
        }
      }
    })],
    ["a GET's data that is a revoked Proxy", () => ({ data: revoked() })],
    ["a POST's JSON data holding a BigInt", () => ({ method: "POST", contentType: "json", data: { n: 1n } })]
  ]
  for (const [name, args] of cases) {
    it(`${name}: a WeChatAPIInvalidArgumentError naming args, nothing sent`, async () => {
      const before = received
      for (const [i, error] of (await failures(client, args)).entries()) {
        const form = i === 0 ? "callback" : "promise"
        assert.strictEqual(error?.name, "WeChatAPIInvalidArgumentError", `${form}: ${error?.name} ${error?.message}`)
        assert.include(error.message, "args", form)
      }
      assert.strictEqual(received, before)
    })
  }

  it("setOpts' options that cannot be read: a WeChatAPIConfigError, as the client's other calls", async () => {
    const oauth = new OAuth(OA.appId, OA.secret)
    try {
      oauth.setOpts(throwingTrap() as never)
      const before = received
      for (const error of await failures(oauth, () => ({ dataType: "json" }))) {
        assert.strictEqual(error?.name, "WeChatAPIConfigError", `${error?.name} ${error?.message}`)
      }
      assert.strictEqual(received, before)
    } finally {
      await oauth.close()
    }
  })

  it("args are read once, each field, and still sent as given", async () => {
    const reads: Record<string, number> = {}
    const fields: Record<string, unknown> = { dataType: "json", type: "POST", data: { a: "1" } }
    const args = new Proxy(fields, {
      get: (target, key) => {
        reads[String(key)] = (reads[String(key)] ?? 0) + 1
        return target[key as string]
      }
    })
    const answer = await new Promise<any>((resolve, reject) =>
      client.request(`${base}/echo`, args as never, (err: any, data: any) => err ? reject(err) : resolve(data))
    )
    assert.deepStrictEqual([answer.method, answer.body], ["POST", "a=1"])
    assert.deepStrictEqual(Object.values(reads).filter((n) => n !== 1), [])
    assert.deepStrictEqual([reads.type, reads.data, reads.dataType], [1, 1, 1])
  })
})
