// Checked JavaScript (checkJs), CommonJS: `require("@wxauth/compat")` is typed as the OAuth class.
const OAuth = require("@wxauth/compat")
/* global module, require */
const { getAuthUrl } = require("@wxauth/compat")

const client = new OAuth("wx1234567890abcdef", "secret")
/** @type {string} */
const url = client.getAuthorizeURL("https://example.com/cb", "state", "snsapi_userinfo")
const auth = getAuthUrl("wx1234567890abcdef", "https://example.com/cb")

// @ts-expect-error: an appid is a string (were OAuth `any`, this error would be missing)
const wrong = new OAuth(42, "secret")

// @ts-expect-error: getUser takes an openid
client.getUser(42)

module.exports = { client, url, auth, wrong }
