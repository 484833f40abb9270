// @wxauth/core as installed from its README, with the sandbox (in process) as WeChat: the authorize
// URL, the callback with the code the sandbox's consent gives, then the user's profile.
import { TokenStore, WeChatConfig, WeChatOAuth } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Assert from "node:assert/strict"

const app = Sandbox.defaultApps.officialAccount
const WeChatLive = WeChatOAuth.layer.pipe(
  Layer.provide(TokenStore.layerMemory),
  Layer.provide(WeChatConfig.layer({ appId: app.appId, appSecret: app.secret })),
  Layer.provide(Sandbox.layerHttpClient),
  Layer.provideMerge(Sandbox.layer())
)

const program = Effect.gen(function*() {
  const oauth = yield* WeChatOAuth.WeChatOAuth
  const sandbox = yield* Sandbox.Sandbox
  const redirectUri = "https://example.com/auth/wechat/callback"
  const { state, url } = yield* oauth.authorizeUrl({ redirectUri, scope: "snsapi_userinfo", returnTo: "/account" })
  const authorize = new URL(url)
  Assert.equal(authorize.origin + authorize.pathname, "https://open.weixin.qq.com/connect/oauth2/authorize")
  Assert.equal(authorize.searchParams.get("appid"), app.appId)
  Assert.equal(authorize.searchParams.get("state"), state)
  const callback = yield* sandbox.approve({
    appId: app.appId,
    user: "alice",
    scope: "snsapi_userinfo",
    redirectUri,
    state
  })
  const { returnTo, token } = yield* oauth.handleCallback(callback)
  Assert.equal(returnTo, "/account")
  const user = yield* oauth.getUser(token.openid, { lang: "zh_CN" })
  Assert.equal(user.nickname, "张三")
  Assert.equal(user.openid, token.openid)
  return user.nickname
})

const nickname = await Effect.runPromise(Effect.provide(program, WeChatLive))
console.log(`@wxauth/core: logged in ${nickname} through the sandbox`)
