/**
 * A connection the server closes before its answer is complete: `wechat-oauth` (urllib over Node's
 * `http`) failed with `code` `ECONNRESET` ("socket hang up"), and so does compat, where undici says
 * `UND_ERR_SOCKET` ("other side closed"). Against the sandbox's `reset` fault over HTTP, with the
 * original `wechat-oauth` 1.5.0 as the oracle.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import OAuth from "@wxauth/compat"
import * as Http from "node:http"
import { createRequire } from "node:module"
import * as Urllib from "../src/internal/urllib.js"
import { callback, OA, type RunningSandbox, startSandbox } from "./helpers.js"

const require = createRequire(import.meta.url)

let sandbox: RunningSandbox
const clients: Array<OAuth> = []

beforeAll(async () => {
  sandbox = await startSandbox()
})

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()))
  await sandbox?.dispose()
})

const make = () => {
  const client = new OAuth(OA.appId, OA.secret)
  client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url, policy: { retryOn: () => false } })
  clients.push(client)
  return client
}

/** wechat-oauth 1.5.0, its requests sent to the sandbox. */
const legacy = () => {
  const Legacy = require("wechat-oauth")
  const client = new Legacy(OA.appId, OA.secret)
  client.request = function(url: string, args: unknown, cb: unknown) {
    return Legacy.prototype.request.call(this, url.replace("https://api.weixin.qq.com", sandbox.url), args, cb)
  }
  return client
}

const reset = (endpoint: "access_token" | "auth") =>
  sandbox.run(sandbox.sandbox.injectFault({ kind: "reset", endpoint }))

describe("a connection the server closes before answering", () => {
  it("getAccessToken: WeChatAPIResponseError with code ECONNRESET, as wechat-oauth gave it", async () => {
    await reset("access_token")
    const [original] = await callback(async (cb) => legacy().getAccessToken(await sandbox.code(), cb))
    assert.strictEqual(original.name, "WeChatAPIResponseError")
    assert.strictEqual(original.code, "ECONNRESET")
    await reset("access_token")
    const [err] = await callback(async (cb) => make().getAccessToken(await sandbox.code(), cb))
    assert.strictEqual(err.name, original.name)
    assert.strictEqual(err.code, original.code)
    assert.strictEqual(err.reason, "Network")
    // the core's error, kept as the cause, still says what undici said
    assert.strictEqual(err.cause.cause.code, "UND_ERR_SOCKET")
  })

  it("client.request (the default): ResponseError with code ECONNRESET, as urllib gave it", async () => {
    const client = make()
    const args = { data: { access_token: "ACCESS", openid: "o_someone" }, dataType: "json" }
    await reset("auth")
    const [err] = await new Promise<Array<any>>((resolve) =>
      client.request(`${sandbox.url}/sns/auth`, args, (...results) => resolve(results))
    )
    assert.strictEqual(err.name, "ResponseError")
    assert.strictEqual(err.code, "ECONNRESET")
  })

  it("a real reset (an RST) is ECONNRESET too", async () => {
    const server = Http.createServer((request) => request.socket.resetAndDestroy())
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const client = make()
      const address = server.address() as { port: number }
      client.setOpts({ apiBaseUrl: `http://127.0.0.1:${address.port}`, policy: { retryOn: () => false } })
      const [err] = await callback((cb) => client.getAccessToken("CODE", cb))
      assert.strictEqual(err.name, "WeChatAPIResponseError")
      assert.strictEqual(err.code, "ECONNRESET")
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it("undici's other socket errors keep their code (a response it cannot parse is no reset)", () => {
    const of = (message: string) => Urllib.errorNameOf("Network", { code: "UND_ERR_SOCKET", phase: "body", message })
    assert.deepStrictEqual(of("other side closed"), { name: "ResponseError", code: "ECONNRESET" })
    assert.deepStrictEqual(of("closed"), { name: "ResponseError", code: "ECONNRESET" })
    assert.deepStrictEqual(of("bad response"), { name: "ResponseError", code: "UND_ERR_SOCKET" })
    assert.deepStrictEqual(of("destroyed"), { name: "ResponseError", code: "UND_ERR_SOCKET" })
  })
})
