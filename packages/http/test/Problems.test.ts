/**
 * Which problem a failure of core's calls is: the errors whose cure is the site's configuration (or
 * its administrator) are `config`, never a `relogin` a client would follow in a loop.
 */
import { assert, describe, it } from "@effect/vitest"
import { WeChatError } from "@wxauth/core"
import * as Problems from "../src/internal/problems.js"

const reasonOf = (error: WeChatError.WeChatError) => {
  const problem = Problems.fromError(error)
  return `${problem.reason} ${problem.status}`
}

describe("Problems.fromError", () => {
  it("48001 from an endpoint called with the app's own access token is config (500); from a user's token, relogin (401)", () => {
    for (
      const endpoint of ["getuserphonenumber", "checksession", "resetusersessionkey", "stable_token", "jscode2session"]
    ) {
      assert.strictEqual(reasonOf(WeChatError.fromErrcode(48001, "api unauthorized", endpoint)), "config 500", endpoint)
    }
    for (const endpoint of ["userinfo", "auth", undefined]) {
      assert.strictEqual(
        reasonOf(WeChatError.fromErrcode(48001, "api unauthorized", endpoint)),
        "relogin 401",
        String(endpoint)
      )
    }
  })

  it("a platform's IP not whitelisted (61004) and a withdrawn platform authorization (61023) are config, not server or relogin", () => {
    assert.strictEqual(
      reasonOf(WeChatError.fromErrcode(61004, "ip not whitelisted", "api_component_token")),
      "config 500"
    )
    assert.strictEqual(
      reasonOf(WeChatError.fromErrcode(61023, "invalid refresh token", "api_authorizer_token")),
      "config 500"
    )
    // the platform's ticket (61005 / 61006): the push receiver's problem, the server's
    assert.strictEqual(reasonOf(WeChatError.fromErrcode(61005, "ticket expired", "api_component_token")), "server 500")
    assert.strictEqual(reasonOf(WeChatError.fromErrcode(61006, "ticket invalid", "api_component_token")), "server 500")
  })
})
