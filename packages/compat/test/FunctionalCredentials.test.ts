/**
 * An appid, app secret or token that is not a string (a `Redacted`, `new String(...)`, a number) given
 * to the functional API: a `WeChatAPIInvalidArgumentError` naming the argument and saying it must be a
 * string (for a `Redacted`: `Redacted.value(...)`), in the words of the client's `WeChatAPIConfigError`
 * (CredentialTypes test), not that it is required; `checkAccessToken` does not read it as "no token"
 * (`false`). The value is never printed. An absent or empty one is still "required".
 */
import { assert, describe, it } from "@effect/vitest"
import { checkAccessToken, getToken, getUserinfo, refreshToken } from "@wxauth/compat"
import * as Redacted from "effect/Redacted"
import { OA } from "./helpers.js"

const secretText = "0123456789abcdef0123456789abcdef"
const values: Array<[string, (text: string) => unknown]> = [
  ["a Redacted", (text) => Redacted.make(text)],
  ["new String()", (text) => new String(text)],
  ["a number", () => 4242424242]
]

const printed = (error: any): string =>
  [String(error), error?.message, error?.stack, JSON.stringify(error), String(error?.cause)].join("\n")

describe("the functional API with a credential that is not a string", () => {
  const rejection = (promise: Promise<unknown>): Promise<any> =>
    promise.then(
      (value) => ({ resolved: value }),
      (error: unknown) => error
    )

  const expectNotAString = (error: any, argument: string, wording: string) => {
    assert.strictEqual(error?.name, "WeChatAPIInvalidArgumentError", `${error?.name}: ${error?.message}`)
    assert.strictEqual(error.cause?.argument, argument)
    assert.include(error.message, wording)
    assert.notInclude(error.message, "required")
    assert.notInclude(printed(error), secretText)
    assert.notInclude(printed(error), "4242424242")
  }

  for (const [name, make] of values) {
    it(`getToken: a secret that is ${name}`, async () => {
      const error = await rejection(getToken(OA.appId, "the-code", make(secretText) as never))
      expectNotAString(
        error,
        "secret",
        "the WeChat app secret must be a string (for a Redacted, pass Redacted.value(secret))"
      )
    })

    it(`getToken: an appid that is ${name}`, async () => {
      const error = await rejection(getToken(make(OA.appId) as never, "the-code", OA.secret))
      expectNotAString(error, "appid", "the WeChat appid must be a string (for a Redacted, pass Redacted.value(appid))")
    })

    it(`refreshToken: an appid or a refresh token that is ${name}`, async () => {
      const byAppid = await rejection(refreshToken(make(OA.appId) as never, "a-refresh-token"))
      expectNotAString(byAppid, "appid", "the WeChat appid must be a string")
      const byToken = await rejection(refreshToken(OA.appId, make(secretText) as never))
      expectNotAString(
        byToken,
        "refresh_token",
        "the refresh token must be a string (for a Redacted, pass Redacted.value(refresh_token))"
      )
    })

    it(`getUserinfo and checkAccessToken: an access token that is ${name}`, async () => {
      const wording = "the access token must be a string (for a Redacted, pass Redacted.value(access_token))"
      expectNotAString(await rejection(getUserinfo(make(secretText) as never, "o-someone")), "access_token", wording)
      expectNotAString(
        await rejection(checkAccessToken(make(secretText) as never, "o-someone")),
        "access_token",
        wording
      )
    })
  }

  it("absent or empty: still required (checkAccessToken: false)", async () => {
    const missing = await rejection(getToken(OA.appId, "the-code", undefined as never))
    assert.strictEqual(missing?.name, "WeChatAPIInvalidArgumentError")
    assert.include(missing.message, "the appid and secret are required")
    const empty = await rejection(refreshToken(OA.appId, ""))
    assert.include(empty.message, "the appid and the refresh token are required")
    assert.isFalse(await checkAccessToken(undefined as never, "o-someone"))
    assert.isFalse(await checkAccessToken("", "o-someone"))
  })
})
