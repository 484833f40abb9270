/**
 * An appid or app secret that is not a string (a `Redacted`, `new String(...)`, a number) given to
 * the compat constructor, or assigned to `client.appsecret` / `client.appid`, fails the client's
 * calls with a `WeChatAPIConfigError` saying it must be a string (for a `Redacted`: pass
 * `Redacted.value(...)`), not "the WeChat app secret is empty"; the value is never printed. An
 * absent one is still empty.
 */
import { assert, describe, it } from "@effect/vitest"
import OAuth from "@wxauth/compat"
import * as Redacted from "effect/Redacted"
import { OA } from "./helpers.js"

const secretText = "0123456789abcdef0123456789abcdef"

const failure = async (client: OAuth): Promise<any> => {
  try {
    await client.getUser("o-someone")
    return undefined
  } finally {
    await client.close()
  }
}
const failureOf = (client: OAuth): Promise<any> => failure(client).catch((error: unknown) => error)

const printed = (error: any): string =>
  [String(error), error?.message, error?.stack, JSON.stringify(error), String(error?.cause)].join("\n")

describe("the constructor's appid and secret must be strings", () => {
  const secrets: Array<[string, () => unknown]> = [
    ["a Redacted", () => Redacted.make(secretText)],
    ["new String()", () => new String(secretText)],
    ["a number", () => 4242424242]
  ]
  for (const [name, secret] of secrets) {
    it(`a secret that is ${name}: WeChatAPIConfigError saying it must be a string, the value not printed`, async () => {
      const error = await failureOf(new OAuth(OA.appId, secret() as never))
      assert.strictEqual(error?.name, "WeChatAPIConfigError", `${error?.name}: ${error?.message}`)
      assert.include(error.message, "appSecret")
      assert.include(error.message, "the WeChat app secret must be a string")
      assert.include(error.message, "Redacted.value")
      assert.notInclude(error.message, "is empty")
      assert.notInclude(printed(error), secretText)
      assert.notInclude(printed(error), "4242424242")
    })
  }

  for (
    const [name, appid] of [["a Redacted", () => Redacted.make(OA.appId)], [
      "new String()",
      () => new String(OA.appId)
    ]] as const
  ) {
    it(`an appid that is ${name}: WeChatAPIConfigError saying it must be a string`, async () => {
      const error = await failureOf(new OAuth(appid() as never, OA.secret))
      assert.strictEqual(error?.name, "WeChatAPIConfigError", `${error?.name}: ${error?.message}`)
      assert.include(error.message, "the WeChat appid must be a string")
      assert.notInclude(error.message, "is empty")
    })
  }

  it("a Redacted assigned to client.appsecret: the same error; a string mends it", async () => {
    const client = new OAuth(OA.appId, OA.secret)
    try {
      client.appsecret = Redacted.make(secretText) as never
      const error = await client.getUser("o-someone").catch((e: unknown) => e as any)
      assert.strictEqual(error?.name, "WeChatAPIConfigError", `${error?.name}: ${error?.message}`)
      assert.include(error.message, "the WeChat app secret must be a string")
      assert.notInclude(printed(error), secretText)
      client.appsecret = secretText
      const after = await client.getUser("o-someone").catch((e: unknown) => e as any)
      assert.strictEqual(after?.name, "NoOAuthTokenError", `${after?.name}: ${after?.message}`)
    } finally {
      await client.close()
    }
  })

  it("an absent secret is still empty", async () => {
    const error = await failureOf(new OAuth(OA.appId, undefined as never))
    assert.strictEqual(error?.name, "WeChatAPIConfigError")
    assert.include(error.message, "the WeChat app secret is empty")
  })
})
