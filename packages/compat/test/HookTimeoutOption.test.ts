/**
 * `setOpts({ hookTimeout })` is checked as `timeout` is: a value that is not a positive duration
 * fails every call with `WeChatAPIConfigError` naming it (it was the 30 s default, silently).
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import OAuth from "@wxauth/compat"
import { OA } from "./helpers.js"

const clients: Array<OAuth> = []

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()))
})

const getUserWith = (options: Record<string, unknown>) => {
  const client = new OAuth(OA.appId, OA.secret)
  client.setOpts(options)
  clients.push(client)
  return client.getUser("o_nobody").then(() => assert.fail("expected a failure"), (error) => error)
}

describe("the hookTimeout option", () => {
  it("not a positive duration: WeChatAPIConfigError naming hookTimeout, as an invalid timeout is", async () => {
    const timeoutError = await getUserWith({ timeout: "soon" })
    assert.strictEqual(timeoutError.name, "WeChatAPIConfigError")
    for (const hookTimeout of ["soon", 0, -1, Number.NaN, {}, "0 seconds"]) {
      const error = await getUserWith({ hookTimeout })
      assert.strictEqual(error.name, timeoutError.name, String(hookTimeout))
      assert.include(error.message, "hookTimeout", String(hookTimeout))
    }
  })

  it("a positive duration, undefined or null: no error of its own (no token here)", async () => {
    for (const hookTimeout of [300, "2 seconds", undefined, null]) {
      const error = await getUserWith({ hookTimeout })
      assert.strictEqual(error.name, "NoOAuthTokenError", String(hookTimeout))
    }
  })
})
