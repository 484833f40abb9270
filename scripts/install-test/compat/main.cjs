// @wxauth/compat from CommonJS, as wechat-oauth's users wrote it: require() gives the OAuth class;
// a login against the sandbox with callbacks, then with promises; then the functional API.
/* global require */
const OAuth = require("@wxauth/compat")
const { getToken, getUserinfo, OAuth: Named } = require("@wxauth/compat")
const Assert = require("node:assert/strict")
const { app, start } = require("./sandbox.mjs")

const main = async () => {
  Assert.equal(typeof OAuth, "function")
  Assert.equal(Named, OAuth)
  const sandbox = await start()
  try {
    const client = new OAuth(app.appId, app.secret)
    client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url })
    Assert.ok(client.getAuthorizeURL("https://example.com/cb", "s", "snsapi_userinfo").startsWith(sandbox.url))

    // callbacks
    const code = await sandbox.code("alice")
    const viaCallbacks = await new Promise((resolve, reject) => {
      client.getAccessToken(code, (err, result) => {
        if (err) return reject(err)
        client.getUser(result.data.openid, (err2, user) => (err2 ? reject(err2) : resolve(user)))
      })
    })
    Assert.equal(viaCallbacks.nickname, "张三")

    // promises
    const token = await client.getAccessToken(await sandbox.code("bob"))
    Assert.ok(token.isValid())
    const user = await client.getUser({ openid: token.data.openid, lang: "zh_CN" })
    Assert.equal(user.nickname, "李四")
    const used = await client.getAccessToken(code).then(() => undefined, (err) => err)
    Assert.equal(used.name, "WeChatAPIError")
    Assert.equal(used.code, 40163)

    // the functional API, which reads WECHAT_API_BASE_URL
    process.env.WECHAT_API_BASE_URL = sandbox.url
    const fn = await getToken(app.appId, await sandbox.code("carol"), app.secret)
    const profile = await getUserinfo(fn.access_token, fn.openid)
    Assert.equal(profile.nickname, "王五🐼")
    console.log(`@wxauth/compat (require): ${viaCallbacks.nickname}, ${user.nickname}, ${profile.nickname} logged in`)
  } finally {
    await sandbox.stop()
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
