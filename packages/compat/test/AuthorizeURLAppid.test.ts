/**
 * An appid that is not a string (a `Redacted`, `new String(...)`, a number) given to the authorize URL
 * builders (synchronous, never throwing): they build the URL as `wechat-oauth` did, and warn, once per
 * such appid, that it must be a string (for a `Redacted`: `Redacted.value(appid)`), in the words of the
 * client's `WeChatAPIConfigError` (CredentialTypes test); the value is never printed.
 */
import { afterEach, assert, describe, it, vi } from "@effect/vitest"
import OAuth from "@wxauth/compat"
import * as Redacted from "effect/Redacted"
import { createRequire } from "node:module"
import { OA } from "./helpers.js"

// the reference implementation (a devDependency of bench/)
const WechatOAuth = createRequire(import.meta.url)("wechat-oauth")

const values: Array<[string, (text: string) => unknown]> = [
  ["a Redacted", (text) => Redacted.make(text)],
  ["new String()", (text) => new String(text)],
  ["a number", () => 4242424242]
]

afterEach(() => {
  vi.restoreAllMocks()
})

describe("the authorize URL builders with an appid that is not a string", () => {
  for (const [name, appid] of values) {
    for (const method of ["getAuthorizeURL", "getAuthorizeURLForWebsite"] as const) {
      it(`${method}, an appid that is ${name}: wechat-oauth's URL, and one warning that it must be a string`, async () => {
        const warn = vi.spyOn(console, "warn").mockImplementation(() => {})
        const value = appid(OA.appId)
        const client = new OAuth(value as never, OA.secret)
        const reference = new WechatOAuth(value, OA.secret)
        try {
          const url = client[method]("https://a.example/cb", "s1", "snsapi_userinfo")
          assert.strictEqual(
            url.replace(/^[^?]*/, ""),
            reference[method]("https://a.example/cb", "s1", "snsapi_userinfo").replace(/^[^?]*/, "")
          )
          assert.strictEqual(warn.mock.calls.length, 1, "one warning")
          const message = String(warn.mock.calls[0]?.[0])
          assert.include(message, method)
          assert.include(message, "the WeChat appid must be a string (for a Redacted, pass Redacted.value(appid))")
          assert.notInclude(message, OA.appId)
          assert.notInclude(message, "4242424242")
          // the same appid again: no second warning; the calls say the same
          client[method]("https://a.example/cb")
          assert.strictEqual(warn.mock.calls.length, 1, "once per appid")
          const error = await client.getUser("o-someone").catch((e: unknown) => e as any)
          assert.strictEqual(error?.name, "WeChatAPIConfigError")
          assert.include(
            error.message,
            "the WeChat appid must be a string (for a Redacted, pass Redacted.value(appid))"
          )
        } finally {
          await client.close()
        }
      })
    }
  }

  it("a string appid (and an empty one) builds without a warning; another bad appid warns again", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {})
    const client = new OAuth(OA.appId, OA.secret)
    try {
      assert.include(client.getAuthorizeURL("https://a.example/cb"), `appid=${OA.appId}`)
      client.appid = ""
      client.getAuthorizeURLForWebsite("https://a.example/cb")
      assert.strictEqual(warn.mock.calls.length, 0)
      client.appid = Redacted.make(OA.appId) as never
      client.getAuthorizeURL("https://a.example/cb")
      client.appid = new String(OA.appId) as never
      client.getAuthorizeURLForWebsite("https://a.example/cb")
      assert.strictEqual(warn.mock.calls.length, 2)
      // NaN is one appid too (not NaN !== NaN: a warning per URL)
      client.appid = Number.NaN as never
      client.getAuthorizeURL("https://a.example/cb")
      client.getAuthorizeURL("https://a.example/cb")
      assert.strictEqual(warn.mock.calls.length, 3)
    } finally {
      await client.close()
    }
  })
})
