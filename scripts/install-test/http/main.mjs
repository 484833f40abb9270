// @wxauth/http as installed from its README, with the sandbox (in process) as WeChat, through the
// Web-standard handler: a login started inside WeChat, WeChat's consent, the callback (303 away,
// no-referrer, a __Host- session cookie), the current user, the profile, logout everywhere.
/* global Request */
import { WeChatLogin } from "@wxauth/http"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Assert from "node:assert/strict"

const app = Sandbox.defaultApps.officialAccount
const sandbox = await Effect.runPromise(Sandbox.make())
const login = WeChatLogin.toWebHandler(
  WeChatLogin.layer({
    publicUrl: "https://example.com",
    apps: { official: { kind: "officialAccount", appId: app.appId, appSecret: app.secret } }
  }).pipe(Layer.provide(Sandbox.layerHttpClient), Layer.provide(Layer.succeed(Sandbox.Sandbox, sandbox)))
)
const wechat = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile MicroMessenger/8.0.47"
const cookieOf = (response, name) =>
  response.headers.getSetCookie().find((line) => line.startsWith(`${name}=`)).split(";")[0]

try {
  const start = await login.handler(
    new Request("https://example.com/login?returnTo=/orders", { headers: { "user-agent": wechat } })
  )
  Assert.equal(start.status, 302)
  const authorize = new URL(start.headers.get("location"))
  Assert.equal(authorize.origin + authorize.pathname, "https://open.weixin.qq.com/connect/oauth2/authorize")
  Assert.equal(authorize.searchParams.get("redirect_uri"), "https://example.com/login/official/callback")
  const binding = cookieOf(start, "__Host-wxauth_binding")

  const callback = await Effect.runPromise(sandbox.approve({
    appId: app.appId,
    user: "alice",
    scope: "snsapi_userinfo",
    redirectUri: authorize.searchParams.get("redirect_uri"),
    state: authorize.searchParams.get("state")
  }))
  const back = await login.handler(new Request(callback, { headers: { "user-agent": wechat, cookie: binding } }))
  Assert.equal(back.status, 303)
  Assert.equal(back.headers.get("location"), "/orders")
  Assert.equal(back.headers.get("referrer-policy"), "no-referrer")
  const session = cookieOf(back, "__Host-wxauth_session")

  const user = await login.currentUser(new Request("https://example.com/", { headers: { cookie: session } }))
  Assert.equal(user.app, "official")
  Assert.equal(user.appId, app.appId)
  const profile = await login.getUser(user)
  Assert.equal(profile.nickname, "张三")
  Assert.equal(await login.logoutEverywhere(user), 1)
  Assert.equal(
    await login.currentUser(new Request("https://example.com/", { headers: { cookie: session } })),
    undefined
  )
  console.log(`@wxauth/http: logged ${profile.nickname} in and out through the sandbox`)
} finally {
  await login.dispose()
}
