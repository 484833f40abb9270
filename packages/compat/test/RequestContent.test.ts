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
const client = new OAuth(OA.appId, OA.secret)

beforeAll(async () => {
  server = Http.createServer((req, res) => {
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
