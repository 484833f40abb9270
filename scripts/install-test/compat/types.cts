// A CommonJS TypeScript file (moduleResolution nodenext): `import = require` is the class itself,
// constructible, and its name is the type of its instances.
import OAuth = require("@wxauth/compat")

const client: OAuth = new OAuth("wx1234567890abcdef", "secret")
const options: OAuth.Options = { timeout: 15000 }
client.setOpts(options)
export const url: string = client.getAuthorizeURL("https://example.com/cb", "state", "snsapi_userinfo")
export const sameClass: typeof OAuth.OAuth = OAuth
export const token = OAuth.getToken("wx1234567890abcdef", "code", "secret")

// @ts-expect-error: an appid is a string
export const wrong = new OAuth(42, "secret")

// `require` in TypeScript is `any`: this compiles, and says nothing about the types (see types.cjs)
const { OAuth: Named } = require("@wxauth/compat")
export const named = new Named("wx1234567890abcdef", "secret")
