/**
 * The multi-app page over HTTP, in demo mode: two official accounts of the sandbox's third-party
 * platform, logged in to through `@wxauth/http`'s registry mode (`/login/<appid>`, the accounts in a
 * `WeChatApps` registry), in a cookie-keeping client (inside WeChat) that sees every redirect; and
 * the platform's authorization-event URL.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import { Browser, consent, cookieAttributes, sandboxControl, userAgents } from "@wxauth/test-support"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as MultiApp from "../src/MultiApp.js"
import * as Server from "../src/Server.js"
import { WebLoginServer } from "../src/Server.js"
import { configFrom, demoApp, followToProblem, OA, textOf } from "./helpers.js"

const [shop, club] = MultiApp.demoAccounts
const componentAppId = MultiApp.demoPlatform.componentAppId
const sessionCookie = "wxauth_session"

const setup = Effect.gen(function*() {
  const server = yield* WebLoginServer
  const sandboxUrl = Option.getOrThrow(server.sandboxUrl)
  const openids = (yield* sandboxControl(sandboxUrl, "GET", "config")).openids as Record<
    string,
    Record<string, string>
  >
  const usage = sandboxControl(sandboxUrl, "GET", `component/usage?componentAppId=${componentAppId}`) as Effect.Effect<
    { readonly calls: Record<string, number> }
  >
  return { url: server.url, sandboxUrl, openids, usage, browser: () => new Browser(server.url) }
})

/** Starts a login to `account` from the page's link: the consent URL WeChat's page has. */
const startLogin = (browser: Browser, appId: string) =>
  Effect.gen(function*() {
    const answer = yield* browser.get(`/login/${appId}?returnTo=%2Fmulti-app`)
    assert.strictEqual(answer.status, 302, "the login sends the browser to WeChat")
    return answer.location!
  })

/** A whole login to one account: start, consent as `user`, callback. */
const login = (browser: Browser, appId: string, user: string) =>
  Effect.gen(function*() {
    const authorizeUrl = yield* startLogin(browser, appId)
    const callbackUrl = yield* consent(browser, authorizeUrl, { user })
    const answer = yield* browser.get(callbackUrl)
    return { authorizeUrl, callbackUrl, answer }
  })

const problemReason = (location: string | undefined) => {
  assert.isDefined(location)
  assert.match(new URL(location!).pathname, /^\/login\/[^/]+\/problem$/)
  return new URL(location!).searchParams.get("reason")
}

describe("web-login: the multi-app page (demo mode)", () => {
  layer(demoApp(), { excludeTestServices: true })((it) => {
    it.effect("lists the platform's two official accounts, each logging in at /login/<appid>", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const page = yield* browser().get("/multi-app")
        assert.strictEqual(page.status, 200)
        assert.strictEqual(textOf(page.text, "multi-app-platform"), componentAppId)
        for (const account of [shop, club]) {
          assert.include(page.text, `id="multi-app-login-${account.appId}"`)
          assert.include(page.text, `href="/login/${account.appId}?returnTo=%2Fmulti-app"`)
        }
        assert.isUndefined(textOf(page.text, "multi-app-logged-in"))
        assert.include(page.headers.get("content-security-policy") ?? "", "default-src 'none'")
        // an official account logs in inside WeChat; a desktop browser is asked to open the link there
        const desktop = new Browser(page.url, { userAgent: userAgents.desktop })
        const outside = yield* desktop.get(`/login/${shop.appId}?returnTo=%2Fmulti-app`)
        assert.strictEqual(outside.status, 200)
        assert.include(outside.text, "请在微信中打开此链接")
      }))

    it.effect("a login to each account, back on the page; one component token for both", () =>
      Effect.gen(function*() {
        const { browser: make, openids, url, usage } = yield* setup
        const browser = make()
        for (const [account, user, nickname] of [[shop, "alice", "张三"], [club, "bob", "李四"]] as const) {
          const { answer, authorizeUrl, callbackUrl } = yield* login(browser, account.appId, user)
          const authorize = new URL(authorizeUrl)
          assert.strictEqual(authorize.pathname, "/connect/oauth2/authorize")
          assert.strictEqual(authorize.searchParams.get("appid"), account.appId)
          assert.strictEqual(authorize.searchParams.get("component_appid"), componentAppId)
          assert.strictEqual(authorize.searchParams.get("redirect_uri"), `${url}/login/${account.appId}/callback`)
          assert.strictEqual(new URL(callbackUrl).pathname, `/login/${account.appId}/callback`)
          assert.strictEqual(new URL(callbackUrl).searchParams.get("appid"), account.appId)
          assert.strictEqual(answer.status, 303, "the callback redirects away at once")
          assert.strictEqual(new URL(answer.location!).pathname, "/multi-app")
          assert.strictEqual(answer.headers.get("referrer-policy"), "no-referrer")
          assert.include(cookieAttributes(answer, sessionCookie), "httponly")
          const page = yield* browser.get("/multi-app")
          assert.strictEqual(textOf(page.text, "multi-app-appid"), account.appId)
          assert.strictEqual(textOf(page.text, "multi-app-account"), account.name)
          assert.strictEqual(textOf(page.text, "multi-app-openid"), openids[account.appId][user])
          assert.strictEqual(textOf(page.text, "multi-app-nickname"), nickname)
        }
        assert.notStrictEqual(openids[shop.appId].alice, openids[club.appId].alice, "one openid per account")
        // both accounts' codes were exchanged with the platform's one component access token
        const calls = (yield* usage).calls
        assert.strictEqual(calls.api_component_token, 1)
        assert.isAtLeast(calls.component_access_token, 2)
      }))

    it.effect("a login started for one account cannot complete on the other's consent", () =>
      Effect.gen(function*() {
        const { browser: make, usage } = yield* setup
        const browser = make()
        const before = (yield* usage).calls.component_access_token
        // the shop's login (its state names the shop), consented on the club's page
        const authorizeUrl = new URL(yield* startLogin(browser, shop.appId))
        authorizeUrl.searchParams.set("appid", club.appId)
        const callbackUrl = yield* consent(browser, authorizeUrl.href)
        assert.strictEqual(new URL(callbackUrl).searchParams.get("appid"), club.appId)
        const answer = yield* browser.get(callbackUrl)
        assert.strictEqual(answer.status, 303)
        assert.strictEqual(answer.headers.get("referrer-policy"), "no-referrer")
        assert.strictEqual(problemReason(answer.location), "state")
        assert.isUndefined(browser.cookies.get(sessionCookie))
        assert.strictEqual((yield* usage).calls.component_access_token, before, "no code was exchanged")
        // the club's own callback URL with the shop's state: the state is the shop's, refused too
        const forged = new URL(callbackUrl)
        forged.pathname = `/login/${club.appId}/callback`
        const moved = yield* browser.get(forged.href)
        assert.strictEqual(problemReason(moved.location), "state")
        assert.isUndefined(browser.cookies.get(sessionCookie))
        assert.strictEqual((yield* usage).calls.component_access_token, before, "no code was exchanged")
      }))

    it.effect("the callback in another browser is refused; an appid the registry does not have is a 404", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const browser = make()
        const callbackUrl = yield* consent(browser, yield* startLogin(browser, club.appId))
        const stranger = make()
        const refused = yield* stranger.get(callbackUrl)
        assert.strictEqual(refused.status, 303)
        assert.strictEqual(problemReason(refused.location), "state-browser")
        assert.isUndefined(stranger.cookies.get(sessionCookie))
        // the first browser still can
        assert.strictEqual(new URL((yield* browser.get(callbackUrl)).location!).pathname, "/multi-app")
        const session = browser.cookies.get(sessionCookie)
        for (const path of ["/login/wxnotlisted000001", "/login/%00"]) {
          const answer = yield* browser.get(path)
          assert.strictEqual(answer.status, 404, path)
          assert.include(answer.text, `data-reason="unavailable"`, path)
        }
        const unknownCallback = yield* browser.get("/login/wxnotlisted000001/callback?code=c&state=s")
        assert.strictEqual(unknownCallback.status, 303)
        assert.strictEqual(new URL(unknownCallback.location!).searchParams.get("reason"), "unavailable")
        assert.strictEqual(browser.cookies.get(sessionCookie), session, "nobody else logged in")
        // a state forged for the club (another key): the state check fails
        const forged = new URL(callbackUrl)
        forged.searchParams.set("state", "A".repeat(60))
        assert.strictEqual(problemReason((yield* browser.get(forged.href)).location), "state")
      }))

    it.effect("logging out ends the session on the server", () =>
      Effect.gen(function*() {
        const { browser: make, openids } = yield* setup
        const browser = make()
        yield* login(browser, shop.appId, "carol")
        const cookie = browser.cookies.get(sessionCookie)!
        assert.strictEqual(
          textOf((yield* browser.get("/multi-app")).text, "multi-app-openid"),
          openids[shop.appId].carol
        )
        const out = yield* browser.post("/logout")
        assert.strictEqual(out.status, 303)
        assert.strictEqual(new URL(out.location!).pathname, "/")
        assert.isUndefined(browser.cookies.get(sessionCookie))
        assert.isUndefined(textOf((yield* browser.get("/multi-app")).text, "multi-app-logged-in"))
        // a copy of the old cookie opens nothing: the session ended on the server
        const copy = make()
        copy.cookies.set(sessionCookie, cookie)
        assert.isUndefined(textOf((yield* copy.get("/multi-app")).text, "multi-app-logged-in"))
      }))

    it.effect("the platform's authorization-event URL takes WeChat's pushes and refuses forged ones", () =>
      Effect.gen(function*() {
        const { browser: make, sandboxUrl } = yield* setup
        const browser = make()
        const deliver = (push: { readonly query: Record<string, string>; readonly body: string }) =>
          browser.request("POST", `/wechat/component/events?${new URLSearchParams(push.query)}`, {
            body: push.body,
            headers: { "content-type": "text/xml" }
          })
        const ticket = yield* sandboxControl(sandboxUrl, "POST", "component/push", {
          componentAppId,
          infoType: "component_verify_ticket"
        })
        const accepted = yield* deliver(ticket)
        assert.strictEqual(accepted.status, 200)
        assert.strictEqual(accepted.text, "success")
        // WeChat's retry of the same push: success again, not processed twice
        assert.strictEqual((yield* deliver(ticket)).text, "success")
        const forged = yield* sandboxControl(sandboxUrl, "POST", "component/push", {
          componentAppId,
          infoType: "component_verify_ticket",
          forge: { token: "notthetoken" }
        })
        const refused = yield* deliver(forged)
        assert.strictEqual(refused.status, 400)
        assert.notStrictEqual(refused.text, "success")
        // and logins still work with the new ticket
        const { answer } = yield* login(browser, club.appId, "alice")
        assert.strictEqual(new URL(answer.location!).pathname, "/multi-app")
      }))
  })
})

/**
 * Live mode: the platform configured by `WECHAT_COMPONENT_*` variables, against a sandbox started
 * separately (standing in for WeChat, with the same platform): no ticket until WeChat pushes one to
 * the authorization-event URL.
 */
const liveEnv = (sandboxUrl: string): Record<string, string> => ({
  PORT: "0",
  TOKEN_STORE: "memory",
  WECHAT_APP_ID: OA.appId,
  WECHAT_APP_SECRET: OA.secret,
  WECHAT_API_BASE_URL: sandboxUrl,
  WECHAT_OPEN_BASE_URL: sandboxUrl,
  WECHAT_COMPONENT_APP_ID: MultiApp.demoPlatform.componentAppId,
  WECHAT_COMPONENT_APP_SECRET: MultiApp.demoPlatform.componentAppSecret,
  WECHAT_COMPONENT_TOKEN: MultiApp.demoPlatform.token,
  WECHAT_COMPONENT_AES_KEY: MultiApp.demoPlatform.encodingAesKey,
  WECHAT_COMPONENT_APPS: `${shop.appId}:Shop, ${club.appId}:Club`
})

const liveApp = Layer.unwrapEffect(
  Effect.gen(function*() {
    const sandbox = yield* SandboxServer.SandboxServer
    const env = liveEnv(sandbox.url)
    const config = yield* configFrom(env)
    return Server.layer(config).pipe(
      Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))
    )
  })
).pipe(Layer.provideMerge(Sandbox.layerServer({ port: 0 })), Layer.provideMerge(Sandbox.layer(MultiApp.sandboxOptions)))

describe("web-login: the multi-app page (live mode, WECHAT_COMPONENT_* set)", () => {
  layer(liveApp, { excludeTestServices: true })((it) => {
    it.effect("no login before WeChat's first push; after a push to the authorization-event URL, both accounts", () =>
      Effect.gen(function*() {
        const server = yield* WebLoginServer
        const sandbox = yield* SandboxServer.SandboxServer
        const browser = new Browser(server.url)
        const page = yield* browser.get("/multi-app")
        assert.strictEqual(page.status, 200)
        assert.include(page.text, "登录 Shop")
        assert.include(page.text, "登录 Club")
        // no ticket yet: WeChat has not pushed one (ComponentTicketMissing), so no token can be had
        const early = yield* login(browser, shop.appId, "alice")
        assert.strictEqual(early.answer.status, 303)
        const problem = yield* followToProblem(browser, early.answer.location)
        assert.strictEqual(problem.reason, "server")
        assert.strictEqual(problem.page.status, 500)
        assert.isUndefined(browser.cookies.get(sessionCookie))
        // WeChat's push, to the URL registered for the platform
        const push = yield* sandboxControl(sandbox.url, "POST", "component/push", {
          componentAppId,
          infoType: "component_verify_ticket"
        })
        const delivered = yield* browser.request(
          "POST",
          `/wechat/component/events?${new URLSearchParams(push.query as Record<string, string>)}`,
          { body: push.body as string, headers: { "content-type": "text/xml" } }
        )
        assert.strictEqual(delivered.text, "success")
        for (const account of [shop, club]) {
          const { answer } = yield* login(browser, account.appId, "alice")
          assert.strictEqual(new URL(answer.location!).pathname, "/multi-app")
          assert.strictEqual(textOf((yield* browser.get("/multi-app")).text, "multi-app-appid"), account.appId)
        }
      }))
  })
})
