/**
 * The examples of the README, verbatim, so they keep working.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, it } from "@effect/vitest"
import { MessageCrypto, Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as TestClock from "effect/TestClock"

// --- README: in-process ---------------------------------------------------------------------------
const app = Sandbox.defaultApps.officialAccount

// the sandbox, and an HttpClient answered by it in-process (any host: only path and query matter)
const SandboxLive = Sandbox.layerHttpClient.pipe(Layer.provideMerge(Sandbox.layer()))

const exchange = (code: string) =>
  Effect.flatMap(HttpClient.HttpClient, (client) =>
    client.get("https://api.weixin.qq.com/sns/oauth2/access_token", {
      urlParams: { appid: app.appId, secret: app.secret, code, grant_type: "authorization_code" }
    })).pipe(Effect.flatMap((response) => response.json))

it.effect("a code is single-use and lives 5 minutes", () =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const consent = sandbox.approve({
      appId: app.appId,
      user: "alice",
      scope: "snsapi_userinfo",
      redirectUri: "https://example.com/wechat/callback",
      state: "xyz"
    })
    // "https://example.com/wechat/callback?code=...&state=xyz"
    const code = new URL(yield* consent).searchParams.get("code")!
    assert.deepInclude(yield* exchange(code), { expires_in: 7200, scope: "snsapi_userinfo" })
    assert.deepInclude(yield* exchange(code), { errcode: 40163 })

    const late = new URL(yield* consent).searchParams.get("code")!
    yield* TestClock.adjust("5 minutes")
    assert.deepInclude(yield* exchange(late), { errcode: 42003 })

    yield* sandbox.injectFault({ kind: "busy", endpoint: "access_token" })
    assert.deepInclude(yield* exchange("any"), { errcode: -1 })
    assert.strictEqual((yield* sandbox.stats).access_token, 4)
  }).pipe(Effect.provide(SandboxLive)))

// --- README: server -------------------------------------------------------------------------------
const ServerLive = Sandbox.layerServer({ port: 0 }).pipe(Layer.provideMerge(Sandbox.layer()))

it.live("a real server on a free port", () =>
  Effect.gen(function*() {
    const { url } = yield* SandboxServer.SandboxServer
    const response = yield* Effect.promise(() => fetch(`${url}/sns/auth?access_token=x&openid=y`))
    assert.deepInclude(yield* Effect.promise(() => response.json()), { errcode: 40001 })
  }).pipe(Effect.provide(ServerLive)))

// --- README: the mini program's server API ----------------------------------------------------------
const mini = Sandbox.defaultApps.miniProgram

const post = (url: string, body: unknown) =>
  Effect.flatMap(
    HttpClient.HttpClient,
    (client) => client.execute(HttpClientRequest.post(url).pipe(HttpClientRequest.bodyUnsafeJson(body)))
  ).pipe(
    Effect.flatMap((response) => response.json),
    Effect.map((json) => json as any)
  )

it.effect("a phone number, with the app access token", () =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const { access_token } = yield* post("https://api.weixin.qq.com/cgi-bin/stable_token", {
      grant_type: "client_credential",
      appid: mini.appId,
      secret: mini.secret
    })
    // what the mini program's getPhoneNumber button gives it, sent to your server
    const code = yield* sandbox.phoneNumberCode({ appId: mini.appId, user: "alice" })
    const url = `https://api.weixin.qq.com/wxa/business/getuserphonenumber?access_token=${access_token}`
    const { phone_info } = yield* post(url, { code })
    assert.deepInclude(phone_info, { phoneNumber: "13800000001", countryCode: "86" })
    assert.deepInclude(yield* post(url, { code }), { errcode: 40029 }) // single-use
    assert.strictEqual((yield* sandbox.stats).stable_token, 1)
  }).pipe(Effect.provide(SandboxLive)))

// --- README: third-party platforms ------------------------------------------------------------------
const platform = {
  componentAppId: "wxcomponent0000001",
  componentAppSecret: "0c79e1fa963cd80cc0be99b20a18faeb",
  token: "sandboxtoken",
  encodingAesKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
  authorizers: [{ appId: "wxmanagedofficial1", kind: "officialAccount" as const }]
}

const postJson = (url: string, body: unknown) =>
  Effect.flatMap(
    HttpClient.HttpClient,
    (client) => client.execute(HttpClientRequest.post(url).pipe(HttpClientRequest.bodyUnsafeJson(body)))
  ).pipe(
    Effect.flatMap((response) => response.json),
    Effect.map((json) => json as any)
  )

it.effect("a ticket every 10 minutes, and the component access token", () =>
  Effect.gen(function*() {
    const received = yield* Queue.unbounded<Sandbox.ComponentPush>()
    // the platform's receiver, in process (with pushUrl the sandbox POSTs to your server instead)
    const pushHandler = (push: Sandbox.ComponentPush) => Effect.as(Queue.offer(received, push), "success")
    const SandboxLive = Sandbox.layerHttpClient.pipe(
      Layer.provideMerge(Sandbox.layer({ components: [{ ...platform, pushHandler }] }))
    )
    yield* Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* TestClock.adjust("10 minutes")
      const push = yield* Queue.take(received)
      // push.query: signature, timestamp, nonce, encrypt_type=aes, msg_signature; push.body: the XML
      const encrypt = /<Encrypt><!\[CDATA\[(.+)\]\]><\/Encrypt>/.exec(push.body)![1]
      const { appId, message } = yield* MessageCrypto.decrypt({ encodingAesKey: platform.encodingAesKey, encrypt })
      assert.strictEqual(appId, platform.componentAppId)
      const ticket = /<ComponentVerifyTicket><!\[CDATA\[(.+)\]\]>/.exec(message)![1]

      const { expires_in } = yield* postJson("https://api.weixin.qq.com/cgi-bin/component/api_component_token", {
        component_appid: platform.componentAppId,
        component_appsecret: platform.componentAppSecret,
        component_verify_ticket: ticket
      })
      assert.strictEqual(expires_in, 7200)
      const [delivery] = yield* sandbox.componentPushes({ componentAppId: platform.componentAppId })
      assert.isTrue(delivery.success)
      const usage = yield* sandbox.componentTokenUsage({ componentAppId: platform.componentAppId })
      assert.strictEqual(usage.calls.api_component_token, 1)
    }).pipe(Effect.provide(SandboxLive))
  }))

// --- README: app options that follow WeChat more closely --------------------------------------------
const strict: Sandbox.SandboxApp = {
  ...Sandbox.defaultApps.officialAccount,
  wrongSecretErrcode: 40001,
  redirectDomains: ["app.example.com"],
  unionidOnRefresh: false
}
const StrictLive = Sandbox.layerHttpClient.pipe(Layer.provideMerge(Sandbox.layer({ apps: [strict] })))

const sns = (path: string, urlParams: Record<string, string>) =>
  Effect.flatMap(HttpClient.HttpClient, (client) => client.get(`https://api.weixin.qq.com${path}`, { urlParams })).pipe(
    Effect.flatMap((response) => response.json),
    Effect.map((json) => json as any)
  )

it.effect("an app that answers as WeChat's strictest", () =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const consent = (redirectUri: string) =>
      sandbox.approve({ appId: strict.appId, user: "alice", scope: "snsapi_userinfo", redirectUri })
    // another host than the app's domain: no code
    const refused = yield* Effect.flip(consent("https://elsewhere.example/cb"))
    assert.include(refused.message, "10003")
    const code = new URL(yield* consent("https://app.example.com/cb")).searchParams.get("code")!
    const exchange = (secret: string) =>
      sns("/sns/oauth2/access_token", { appid: strict.appId, secret, code, grant_type: "authorization_code" })
    assert.deepInclude(yield* exchange("not-the-secret"), { errcode: 40001 })
    const token = yield* exchange(strict.secret)
    assert.isString(token.unionid)
    const refreshed = yield* sns("/sns/oauth2/refresh_token", {
      appid: strict.appId,
      grant_type: "refresh_token",
      refresh_token: token.refresh_token
    })
    assert.isString(refreshed.access_token)
    assert.notProperty(refreshed, "unionid")
  }).pipe(Effect.provide(StrictLive)))

// --- README: faults (a reset after the call took effect; `app`, `SandboxLive`, `exchange` as above) ---
it.effect("an exchange whose answer is lost used the code up", () =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const callback = yield* sandbox.approve({
      appId: app.appId,
      user: "alice",
      scope: "snsapi_userinfo",
      redirectUri: "https://example.com/wechat/callback"
    })
    const code = new URL(callback).searchParams.get("code")!
    yield* sandbox.injectFault({ kind: "reset", endpoint: "access_token", afterEffect: true })
    const lost = yield* Effect.flip(exchange(code))
    assert.strictEqual(lost._tag, "RequestError")
    assert.deepInclude(yield* exchange(code), { errcode: 40163 })
  }).pipe(Effect.provide(SandboxLive)))
