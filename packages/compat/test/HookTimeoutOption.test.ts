/**
 * `setOpts({ hookTimeout })` is checked as `timeout` is: a value that is not a positive duration of
 * at most 24 days fails every call with `WeChatAPIConfigError` naming it (it was the 30 s default,
 * silently; and no deadline at all past a Node timer's 2^31-1 ms).
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

  it("no deadline (Infinity, 1e300, past a Node timer's 2^31-1 ms): refused as timeout refuses it", async () => {
    // Effect's sleep never fires past 2^31-1 ms: a getToken that never answered stayed pending for ever
    for (const value of [Infinity, "Infinity", 1e300, 2 ** 31 + 5, "999999 days", "25 days"]) {
      for (const name of ["timeout", "hookTimeout"]) {
        const error = await getUserWith({ [name]: value })
        assert.strictEqual(error.name, "WeChatAPIConfigError", `${name}: ${String(value)}`)
        assert.include(error.message, name, `${name}: ${String(value)}`)
      }
    }
  })

  it("a positive duration, undefined or null: no error of its own (no token here)", async () => {
    for (const hookTimeout of [300, "2 seconds", "24 days", undefined, null]) {
      const error = await getUserWith({ hookTimeout })
      assert.strictEqual(error.name, "NoOAuthTokenError", String(hookTimeout))
    }
    // urllib's [connect, response] too
    for (const timeout of [300, "2 seconds", "24 days", [1000, 2000], undefined, null]) {
      const error = await getUserWith({ timeout })
      assert.strictEqual(error.name, "NoOAuthTokenError", `timeout: ${String(timeout)}`)
    }
  })
})
