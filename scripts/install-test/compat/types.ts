// Type-checked under moduleResolution nodenext, bundler and node10 (an ES module; compiled to
// CommonJS under node10).
import type { OAuth as Named, Options } from "@wxauth/compat"
import OAuth, { getAuthUrl } from "@wxauth/compat"

const options: Options = { timeout: 15000 }
export const client: Named = new OAuth("wx1234567890abcdef", "secret")
client.setOpts(options)
export const url: string = client.getAuthorizeURL("https://example.com/cb", "state", "snsapi_userinfo")
export const auth = getAuthUrl("wx1234567890abcdef", "https://example.com/cb")
export const nickname = async (openid: string): Promise<string> => (await client.getUser(openid)).nickname

// @ts-expect-error: an appid is a string
export const wrong = new OAuth(42, "secret")
