/**
 * `setOpts({ proxy })`: the proxy's credentials (the password, `user:password`, the `Basic` value
 * sent in `Proxy-Authorization`) echoed back in an `errmsg` stay out of compat's errors, as they do
 * with core's `WeChatHttpClient.layer({ proxy })`. compat hands `WeChatApi` its own client (the
 * app's `request` override, else the proxy's lean client): the credentials go with the context.
 *
 * The proxy here is a local HTTP server answering absolute-URI requests itself, as a proxy (or what
 * it forwards to) for a plain-http API base might.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import OAuth from "@wxauth/compat"
import * as Http from "node:http"
import type * as Net from "node:net"
import { callback } from "./helpers.js"
import { textsOf } from "./hostile.js"

const user = "proxyuser"
const password = "Pr0xyPa55w0rd"
const basic = Buffer.from(`${user}:${password}`).toString("base64")

let server: Http.Server
let port = 0
const seen: Array<Http.IncomingHttpHeaders> = []

beforeAll(async () => {
  server = Http.createServer((req, res) => {
    seen.push(req.headers)
    res.writeHead(200, { "content-type": "application/json" })
    res.end(JSON.stringify({
      errcode: 40001,
      errmsg: `proxy says: ${req.headers["proxy-authorization"]} ${user}:${password}`
    }))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  port = (server.address() as Net.AddressInfo).port
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

describe("setOpts({ proxy })", () => {
  it("a proxy's credentials echoed back stay out of errors", async () => {
    const client = new OAuth("wx0123456789abcdef", "app-secret-0123456789")
    try {
      client.setOpts({ apiBaseUrl: "http://api.wechat.test", proxy: `http://${user}:${password}@127.0.0.1:${port}` })
      const [err] = await callback((cb) => client.getAccessToken("CODE_0123456789", cb))
      assert.isDefined(err, "expected an error")
      const texts = [String(err), String(err.message), ...textsOf(err)]
      for (const text of texts) {
        for (const form of [password, basic, `${user}:${password}`]) assert.notInclude(text, form)
      }
      assert.include(String(err.message), "proxy says: Basic <redacted>")
      assert.strictEqual(seen.at(-1)?.["proxy-authorization"], `Basic ${basic}`, "the proxy was asked")
    } finally {
      await client.close()
    }
  })
})
