/**
 * `setOpts` with a `tokenStore` / `refreshLock` that cannot be read (a Proxy whose traps throw, a
 * revoked Proxy) never throws, as `wechat-oauth`'s `setOpts` never did: the calls fail with a
 * `WeChatAPIConfigError` naming the option, as they do when the whole options object cannot be
 * read, and `close()` settles.
 */
import { assert, describe, it } from "@effect/vitest"
import OAuth, { isCompatError } from "@wxauth/compat"
import { OA } from "./helpers.js"

const trap = () => {
  throw new Error("TRAP from the caller's proxy")
}
const hostile = () =>
  new Proxy({}, { get: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, getPrototypeOf: trap })
const revoked = () => {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return proxy
}

const outcome = async (f: () => unknown): Promise<any> => {
  try {
    await f()
    return "ok"
  } catch (error) {
    return error
  }
}

describe("setOpts with an option that cannot be read", () => {
  for (const field of ["tokenStore", "refreshLock"] as const) {
    for (const [label, value] of [["a Proxy whose traps throw", hostile], ["a revoked Proxy", revoked]] as const) {
      it(`${field}: ${label}: setOpts returns, the calls fail with WeChatAPIConfigError naming it, close() settles`, async () => {
        const client = new OAuth(OA.appId, OA.secret)
        const set = await outcome(() => client.setOpts({ [field]: value() } as never))
        assert.strictEqual(set, "ok", `setOpts threw: ${set?.message}`)
        for (const call of [() => client.getUser("o-someone"), () => client.refreshAccessToken("r-token")]) {
          const error = await outcome(call)
          assert.isTrue(isCompatError(error), `${error?.name}: ${error?.message}`)
          assert.strictEqual(error.name, "WeChatAPIConfigError")
          assert.include(error.message, field)
          assert.notInclude(error.message, "TRAP")
        }
        // the URL needs no services
        assert.include(client.getAuthorizeURL("https://a.example/cb", "s"), "appid=")
        assert.strictEqual(await outcome(() => client.close()), "ok")
        // close() builds the next services from the same options: a second one settles too
        assert.strictEqual(await outcome(() => client.close()), "ok")
        // setOpts mends it
        client.setOpts({})
        const after = await outcome(() => client.getUser("o-someone"))
        assert.strictEqual(after?.name, "NoOAuthTokenError", `${after?.name}: ${after?.message}`)
        await client.close()
      })
    }
  }

  it("close() right after such a setOpts settles, every time", async () => {
    const client = new OAuth(OA.appId, OA.secret)
    assert.strictEqual(await outcome(() => client.setOpts({ tokenStore: hostile() } as never)), "ok")
    for (let i = 0; i < 3; i++) assert.strictEqual(await outcome(() => client.close()), "ok")
  })
})
