/**
 * The web app over HTTP, in demo mode: the app and the sandbox WeChat on free ports in this
 * process, a SQLite token store, and a cookie-keeping client that sees every redirect.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as App from "../src/App.js"
import { WebLoginServer } from "../src/Server.js"
import * as Session from "../src/Session.js"
import { oauthOf, WebLogin, type WebLoginShape } from "../src/WebLogin.js"
import {
  Browser,
  consent,
  cookieAttributes,
  demoApp,
  login,
  OA,
  sandboxControl,
  startLogin,
  textOf,
  WEB
} from "./helpers.js"

const setup = Effect.gen(function*() {
  const server = yield* WebLoginServer
  const sandboxUrl = Option.getOrThrow(server.sandboxUrl)
  const openids = (yield* sandboxControl(sandboxUrl, "GET", "config")).openids as Record<
    string,
    Record<string, string>
  >
  const stats = sandboxControl(sandboxUrl, "GET", "stats") as Effect.Effect<Record<string, number>>
  return { url: server.url, sandboxUrl, openids, stats, browser: () => new Browser(server.url) }
})

/** The error page an answer redirects to, opened in the same browser. */
const followToError = (browser: Browser, location: string | undefined) =>
  Effect.gen(function*() {
    assert.isDefined(location)
    assert.match(new URL(location!).pathname, /^\/error$/)
    const page = yield* browser.get(location!)
    return { reason: new URL(location!).searchParams.get("reason"), page }
  })

describe("web-login: the callback always leaves its URL", () => {
  layer(demoApp(), { excludeTestServices: true })((it) => {
    for (
      const [app, path, error] of [
        ["officialAccount", "/callback/official", "/error?reason=server"],
        ["website", "/callback/website", "/error?reason=server&app=website"]
      ] as const
    ) {
      it.effect(`a defect during ${path} answers 303 to the server error page, without a Referer`, () =>
        Effect.gen(function*() {
          const web = yield* WebLogin
          const oauth = Option.getOrThrow(oauthOf(web, app))
          const broken = { ...oauth, handleCallback: () => Effect.die(new Error("boom")) }
          const service: WebLoginShape = app === "website"
            ? { ...web, website: Option.some(broken) }
            : { ...web, officialAccount: broken }
          const response = yield* App.app.pipe(
            Effect.provideService(WebLogin, service),
            Effect.provideService(
              HttpServerRequest.HttpServerRequest,
              HttpServerRequest.fromWeb(new Request(`http://127.0.0.1${path}?code=c0de&state=st4te`))
            ),
            Effect.provide(FetchHttpClient.layer)
          )
          assert.strictEqual(response.status, 303)
          assert.strictEqual(response.headers["location"], error)
          assert.strictEqual(response.headers["referrer-policy"], "no-referrer")
        }))
    }
  })
})

describe("web-login over HTTP (demo mode)", () => {
  layer(demoApp(), { excludeTestServices: true })((it) => {
    it.effect("the home page offers both logins, the dev panel, and strict security headers", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const home = yield* browser().get("/")
        assert.strictEqual(home.status, 200)
        assert.include(home.text, "使用微信登录")
        assert.include(home.text, "微信扫码登录")
        assert.include(home.text, `id="dev-panel"`)
        assert.include(home.headers.get("content-security-policy") ?? "", "default-src 'none'")
        assert.strictEqual(home.headers.get("cache-control"), "no-store")
        assert.strictEqual(home.headers.get("x-content-type-options"), "nosniff")
      }))

    it.effect("starting a login sets an HttpOnly SameSite=Lax binding cookie and redirects to the consent page", () =>
      Effect.gen(function*() {
        const { url } = yield* setup
        const browser = new Browser(url)
        const first = yield* browser.get("/login/official")
        assert.strictEqual(first.status, 302)
        const authorize = new URL(first.location!)
        assert.strictEqual(authorize.pathname, "/connect/oauth2/authorize")
        assert.strictEqual(authorize.searchParams.get("appid"), OA.appId)
        assert.strictEqual(authorize.searchParams.get("scope"), "snsapi_userinfo")
        assert.strictEqual(authorize.searchParams.get("redirect_uri"), `${url}/callback/official`)
        assert.match(authorize.searchParams.get("state")!, /^[A-Za-z0-9]{1,128}$/)
        assert.strictEqual(authorize.hash, "#wechat_redirect")
        const attributes = cookieAttributes(first, Session.plainCookieNames.binding)
        assert.include(attributes, "httponly")
        assert.include(attributes, "samesite=lax")
        assert.include(attributes, "path=/")
        const binding = browser.cookies.get(Session.plainCookieNames.binding)
        assert.isTrue(Session.isBinding(binding))
        // a second login start in the same browser mints another binding
        yield* browser.get("/login/official")
        const second = browser.cookies.get(Session.plainCookieNames.binding)
        assert.isTrue(Session.isBinding(second))
        assert.notStrictEqual(second, binding)
      }))

    it.effect("official-account login: consent, callback, profile; the browser never gets a token", () =>
      Effect.gen(function*() {
        const { browser: make, openids } = yield* setup
        const browser = make()
        const { answer } = yield* login(browser)
        assert.strictEqual(answer.status, 303, "the callback redirects away at once")
        assert.strictEqual(new URL(answer.location!).pathname, "/profile")
        assert.strictEqual(answer.headers.get("referrer-policy"), "no-referrer")
        assert.strictEqual(answer.text, "")
        const attributes = cookieAttributes(answer, Session.plainCookieNames.session)
        assert.include(attributes, "httponly")
        assert.include(attributes, "samesite=lax")

        const profile = yield* browser.get("/profile")
        assert.strictEqual(profile.status, 200)
        const openid = openids[OA.appId].alice
        assert.strictEqual(textOf(profile.text, "nickname"), "张三")
        assert.strictEqual(textOf(profile.text, "openid"), openid)
        assert.strictEqual(textOf(profile.text, "unionid"), "olzWokv71Boc1knksRfAoCKqK1O9")
        assert.match(textOf(profile.text, "token-expiry")!, /UTC \(还有 (119|120) 分钟|2 小时/)
        // as WeChat answers today: sex 0 and no places, so no gender or region, and a note saying why
        assert.isUndefined(textOf(profile.text, "gender-region"))
        assert.notInclude(profile.text, "广东")
        assert.notInclude(profile.text, "未知 unknown")
        const note = textOf(profile.text, "profile-note")!
        assert.include(note, "snsapi_userinfo")
        assert.include(note, "微信不再提供性别和地区")
        assert.include(note, "no longer gives gender or region")

        // the session cookie is a signed session id; the token stays on the server
        const cookie = browser.cookies.get(Session.plainCookieNames.session)!
        const web = yield* WebLogin
        const token = Option.getOrThrow(yield* web.officialAccount.getToken(openid))
        for (const secret of [Redacted.value(token.accessToken), Redacted.value(token.refreshToken)]) {
          assert.notInclude(cookie, secret)
          assert.notInclude(profile.text, secret)
          assert.notInclude(answer.location!, secret)
        }
      }))

    it.effect("revisiting the callback URL in the same browser lands on the profile; another browser is refused", () =>
      Effect.gen(function*() {
        const { browser: make, stats } = yield* setup
        const browser = make()
        const before = (yield* stats).access_token
        const { callbackUrl } = yield* login(browser)
        const again = yield* browser.get(callbackUrl)
        assert.strictEqual(again.status, 303)
        assert.strictEqual(new URL(again.location!).pathname, "/profile")
        assert.strictEqual(again.headers.get("referrer-policy"), "no-referrer")
        assert.strictEqual(textOf((yield* browser.get("/profile")).text, "nickname"), "张三")
        assert.strictEqual((yield* stats).access_token - before, 1, "the code was exchanged once")

        const stranger = make()
        const refused = yield* stranger.get(callbackUrl)
        const { page, reason } = yield* followToError(stranger, refused.location)
        assert.strictEqual(reason, "state-browser")
        assert.strictEqual(page.status, 400)
        assert.isUndefined(stranger.cookies.get(Session.plainCookieNames.session))
      }))

    it.effect("a tampered state shows the error page, and the code is not exchanged", () =>
      Effect.gen(function*() {
        const { browser: make, stats } = yield* setup
        const browser = make()
        const before = (yield* stats).access_token
        const authorizeUrl = yield* startLogin(browser)
        const callbackUrl = yield* consent(browser, authorizeUrl, {
          editForm: (form) => {
            const state = form.get("state")!
            form.set("state", state.slice(0, 20) + (state[20] === "a" ? "b" : "a") + state.slice(21))
          }
        })
        const answer = yield* browser.get(callbackUrl)
        assert.strictEqual(answer.status, 303)
        assert.strictEqual(answer.headers.get("referrer-policy"), "no-referrer")
        const { page, reason } = yield* followToError(browser, answer.location)
        assert.strictEqual(reason, "state")
        assert.strictEqual(page.status, 400)
        assert.include(page.text, "登录请求无效")
        assert.include(page.text, "This login request is not valid")
        assert.strictEqual((yield* stats).access_token, before)
        assert.isUndefined(browser.cookies.get(Session.plainCookieNames.session))
      }))

    it.effect("denied consent shows the denied page", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const browser = make()
        const callbackUrl = yield* consent(browser, yield* startLogin(browser), { decision: "deny" })
        assert.isNull(new URL(callbackUrl).searchParams.get("code"))
        const { page, reason } = yield* followToError(browser, (yield* browser.get(callbackUrl)).location)
        assert.strictEqual(reason, "denied")
        assert.strictEqual(page.status, 403)
        assert.include(page.text, "你拒绝了授权")
        assert.include(page.text, "You declined to log in")
        assert.include(page.text, `href="/login/official"`)
      }))

    it.effect("a code older than 5 minutes shows the expired-code page", () =>
      Effect.gen(function*() {
        const { browser: make, sandboxUrl } = yield* setup
        const browser = make()
        const callbackUrl = yield* consent(browser, yield* startLogin(browser))
        yield* sandboxControl(sandboxUrl, "POST", "clock/advance", { seconds: 6 * 60 })
        const { page, reason } = yield* followToError(browser, (yield* browser.get(callbackUrl)).location)
        assert.strictEqual(reason, "code-expired")
        assert.include(page.text, "登录码已过期")
      }))

    it.effect("dev panel: a used code (40163) shows the used-code page", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const browser = make()
        const callbackUrl = yield* consent(browser, yield* startLogin(browser))
        const panel = yield* browser.post("/dev/faults", { preset: "code-used", back: "/profile" })
        assert.strictEqual(panel.status, 303)
        assert.strictEqual(new URL(panel.location!).pathname, "/profile")
        const home = yield* browser.get("/")
        assert.include(textOf(home.text, "dev-faults")!, "access_token: errcode 40163")
        const { page, reason } = yield* followToError(browser, (yield* browser.get(callbackUrl)).location)
        assert.strictEqual(reason, "code-used")
        assert.include(page.text, "登录链接已被使用")
      }))

    it.effect("dev panel: pending faults are listed, and cleared", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const browser = make()
        yield* browser.post("/dev/faults", { preset: "exchange-busy", back: "/" })
        assert.include(textOf((yield* browser.get("/")).text, "dev-faults")!, "access_token: busy × 2")
        const cleared = yield* browser.post("/dev/faults", { preset: "clear", back: "/" })
        assert.strictEqual(new URL(cleared.location!).pathname, "/")
        assert.include(textOf((yield* browser.get("/")).text, "dev-faults")!, "no pending faults")
        const unknown = yield* browser.post("/dev/faults", { preset: "nonsense", back: "https://evil.example/" })
        assert.strictEqual(new URL(unknown.location!).href, new URL("/", browser.base).href)
      }))

    it.effect("dev panel: WeChat busy during the code exchange shows the busy page after one retry", () =>
      Effect.gen(function*() {
        const { browser: make, stats } = yield* setup
        const browser = make()
        const callbackUrl = yield* consent(browser, yield* startLogin(browser))
        yield* browser.post("/dev/faults", { preset: "exchange-busy", back: "/" })
        const before = (yield* stats).access_token
        const { page, reason } = yield* followToError(browser, (yield* browser.get(callbackUrl)).location)
        assert.strictEqual(reason, "busy")
        assert.strictEqual(page.status, 503)
        assert.include(page.text, "微信暂时繁忙")
        assert.include(page.text, "WeChat is busy right now")
        assert.strictEqual((yield* stats).access_token - before, 2)
      }))

    it.effect("dev panel: one busy userinfo is absorbed by core's retry; three show the busy page", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const browser = make()
        yield* login(browser)
        yield* browser.post("/dev/faults", { preset: "userinfo-busy-once", back: "/profile" })
        const profile = yield* browser.get("/profile")
        assert.strictEqual(profile.status, 200)
        assert.strictEqual(textOf(profile.text, "nickname"), "张三")

        yield* browser.post("/dev/faults", { preset: "userinfo-busy", back: "/profile" })
        const refresh = yield* browser.post("/profile/refresh")
        const { reason } = yield* followToError(browser, refresh.location)
        assert.strictEqual(reason, "busy")
        // WeChat being busy does not end the session
        assert.strictEqual((yield* browser.get("/profile")).status, 200)
      }))

    it.effect("refresh profile after WeChat's clock passes 2 hours refreshes the token once", () =>
      Effect.gen(function*() {
        const { browser: make, openids, stats } = yield* setup
        const browser = make()
        yield* login(browser)
        yield* browser.get("/profile")
        const web = yield* WebLogin
        const openid = openids[OA.appId].alice
        const before = Option.getOrThrow(yield* web.officialAccount.getToken(openid))
        const refreshes = (yield* stats).refresh_token
        yield* browser.post("/dev/faults", { preset: "clock-2h", back: "/profile" })
        const refresh = yield* browser.post("/profile/refresh")
        assert.strictEqual(refresh.status, 303)
        assert.strictEqual(new URL(refresh.location!).pathname, "/profile")
        assert.strictEqual((yield* stats).refresh_token - refreshes, 1)
        const after = Option.getOrThrow(yield* web.officialAccount.getToken(openid))
        assert.isAbove(after.obtainedAt, before.obtainedAt)
        assert.strictEqual(after.refreshExpiresAt, before.refreshExpiresAt, "consent still ends 30 days after login")
        assert.strictEqual(textOf((yield* browser.get("/profile")).text, "nickname"), "张三")
      }))

    it.effect("after 30 days the user must log in again: the session ends", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const browser = make()
        yield* login(browser, { user: "bob" })
        yield* browser.get("/profile")
        yield* browser.post("/dev/faults", { preset: "clock-31d", back: "/profile" })
        const refresh = yield* browser.post("/profile/refresh")
        assert.include(cookieAttributes(refresh, Session.plainCookieNames.session), "max-age=0")
        const { page, reason } = yield* followToError(browser, refresh.location)
        assert.strictEqual(reason, "relogin")
        assert.include(page.text, "请重新登录")
        const profile = yield* browser.get("/profile")
        assert.strictEqual(profile.status, 303)
        assert.strictEqual(new URL(profile.location!).pathname, "/")
      }))

    it.effect("logout ends the session, forgets the token and the binding", () =>
      Effect.gen(function*() {
        const { browser: make, openids } = yield* setup
        const browser = make()
        const { callbackUrl } = yield* login(browser, { user: "carol" })
        assert.strictEqual((yield* browser.get("/profile")).status, 200)
        const out = yield* browser.post("/logout")
        assert.strictEqual(out.status, 303)
        assert.strictEqual(new URL(out.location!).pathname, "/")
        assert.isUndefined(browser.cookies.get(Session.plainCookieNames.session))
        assert.isUndefined(browser.cookies.get(Session.plainCookieNames.binding))
        const web = yield* WebLogin
        assert.isTrue(Option.isNone(yield* web.officialAccount.getToken(openids[OA.appId].carol)))
        assert.strictEqual((yield* browser.get("/profile")).status, 303)
        // the callback URL in this browser's history no longer logs anyone in
        const replay = yield* browser.get(callbackUrl)
        assert.strictEqual(new URL(replay.location!).searchParams.get("reason"), "state-browser")
      }))

    it.effect("a forged, altered or never-issued session cookie is ignored", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const web = yield* WebLogin
        const browser = make()
        yield* login(browser)
        const [id, signature] = browser.cookies.get(Session.plainCookieNames.session)!.split(".")
        const other = Session.newSessionId()
        for (
          const [what, value] of [
            ["another id, the same signature", `${other}.${signature}`],
            ["the id, a signature of another key", Session.sign(Session.randomKey(), id)],
            ["the id alone", id],
            ["signed with the app's key, but never issued", Session.sign(web.sessionKey, other)]
          ] as const
        ) {
          const stranger = make()
          stranger.cookies.set(Session.plainCookieNames.session, value)
          const profile = yield* stranger.get("/profile")
          assert.strictEqual(profile.status, 303, what)
          assert.strictEqual(new URL(profile.location!).pathname, "/", what)
        }
        assert.strictEqual((yield* browser.get("/profile")).status, 200, "the real cookie still works")
      }))

    it.effect("a cross-site POST is refused", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const browser = make()
        yield* login(browser)
        const refused = yield* browser.post("/logout", {}, { origin: "https://evil.example" })
        assert.strictEqual(refused.status, 403)
        assert.strictEqual((yield* browser.get("/profile")).status, 200, "still logged in")
      }))

    it.effect("returnTo: a path on this site is where the login lands; anything else is dropped", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const browser = make()
        const { answer } = yield* login(browser, { path: "/login/official?returnTo=%2Fprofile%3Ftab%3D1" })
        assert.strictEqual(new URL(answer.location!).pathname + new URL(answer.location!).search, "/profile?tab=1")
        const other = make()
        const evil = yield* login(other, { path: "/login/official?returnTo=%2F%2Fevil.example%2F" })
        assert.strictEqual(new URL(evil.answer.location!).href, new URL("/profile", other.base).href)
      }))

    it.effect("returnTo outside Latin-1 is percent-encoded: the login lands there, not on an empty 500", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const browser = make()
        const { answer } = yield* login(browser, { path: "/login/official?returnTo=/%E4%B8%AD" })
        assert.strictEqual(answer.status, 303, answer.text)
        assert.strictEqual(new URL(answer.location!).pathname, "/%E4%B8%AD")
        assert.strictEqual(answer.headers.get("referrer-policy"), "no-referrer")
        assert.isDefined(browser.cookies.get(Session.plainCookieNames.session), "logged in")
        const landed = yield* browser.get(answer.location!)
        assert.strictEqual(landed.status, 404, "the app's own page for that path")
        assert.include(landed.text, "页面不存在")

        const other = make()
        const withQuery = yield* login(other, {
          path: "/login/official?returnTo=%2Fprofile%3Fname%3D%E5%BC%A0%E4%B8%89"
        })
        assert.strictEqual(withQuery.answer.status, 303, withQuery.answer.text)
        const target = new URL(withQuery.answer.location!)
        assert.strictEqual(target.pathname, "/profile")
        assert.strictEqual(target.search, "?name=%E5%BC%A0%E4%B8%89")
        const profile = yield* other.get(withQuery.answer.location!)
        assert.strictEqual(profile.status, 200)
        assert.strictEqual(textOf(profile.text, "nickname"), "张三")
      }))

    it.effect("returnTo is checked after normalising: dot segments and tabs cannot make it another site", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        for (const returnTo of ["/a/../..//evil.example/", "/\t/evil.example/", "/.//evil.example/"]) {
          const browser = make()
          const { answer } = yield* login(browser, { path: `/login/official?returnTo=${encodeURIComponent(returnTo)}` })
          assert.strictEqual(new URL(answer.location!).href, new URL("/profile", browser.base).href, returnTo)
        }
      }))

    it.effect("website QR login uses the website app: its own openid, the same unionid", () =>
      Effect.gen(function*() {
        const { browser: make, openids } = yield* setup
        const browser = make()
        const authorizeUrl = new URL(yield* startLogin(browser, "/login/website"))
        assert.strictEqual(authorizeUrl.pathname, "/connect/qrconnect")
        assert.strictEqual(authorizeUrl.searchParams.get("appid"), WEB.appId)
        assert.strictEqual(authorizeUrl.searchParams.get("scope"), "snsapi_login")
        const callbackUrl = yield* consent(browser, authorizeUrl.href)
        assert.strictEqual(new URL(callbackUrl).pathname, "/callback/website")
        const answer = yield* browser.get(callbackUrl)
        assert.strictEqual(answer.status, 303)
        assert.strictEqual(answer.headers.get("referrer-policy"), "no-referrer")
        const profile = yield* browser.get("/profile")
        assert.strictEqual(textOf(profile.text, "nickname"), "张三")
        assert.strictEqual(textOf(profile.text, "openid"), openids[WEB.appId].alice)
        assert.notStrictEqual(openids[WEB.appId].alice, openids[OA.appId].alice)
        assert.strictEqual(textOf(profile.text, "unionid"), "olzWokv71Boc1knksRfAoCKqK1O9")
        assert.include(textOf(profile.text, "login-method")!, WEB.appId)
      }))

    it.effect("unknown paths and reasons get the not-found page", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const browser = make()
        const missing = yield* browser.get("/nothing-here")
        assert.strictEqual(missing.status, 404)
        assert.include(missing.text, "页面不存在")
        const unknown = yield* browser.get("/error?reason=%3Cscript%3E")
        assert.strictEqual(unknown.status, 404)
        assert.notInclude(unknown.text, "<script>")
      }))
  })
})

describe("web-login against a hostile browser", () => {
  layer(demoApp(), { excludeTestServices: true })((it) => {
    it.effect("logout ends the session on the server: a copy of the session cookie is refused, even once the user logs in again", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const browser = make()
        yield* login(browser, { user: "bob" })
        const copy = browser.cookies.get("wxauth_session")
        assert.isDefined(copy)
        const thief = make()
        thief.cookies.set("wxauth_session", copy!)
        assert.strictEqual((yield* thief.get("/profile")).status, 200, "the copy works while the session lasts")

        yield* browser.post("/logout")
        const afterLogout = yield* thief.get("/profile")
        assert.strictEqual(afterLogout.status, 303)
        assert.strictEqual(new URL(afterLogout.location!).pathname, "/", "no session: back home, not an error page")
        assert.notInclude((yield* thief.get("/")).text, `id="logged-in"`)

        // bob logs in again (a token is stored again): the old copy still opens nothing
        yield* login(browser, { user: "bob" })
        assert.strictEqual((yield* browser.get("/profile")).status, 200)
        const afterRelogin = yield* thief.get("/profile")
        assert.strictEqual(afterRelogin.status, 303)
        assert.strictEqual(new URL(afterRelogin.location!).pathname, "/")
        assert.notInclude((yield* thief.get("/")).text, `id="logged-in"`)
      }))

    it.effect("the session cookie is an opaque signed id: no openid in it", () =>
      Effect.gen(function*() {
        const { browser: make, openids } = yield* setup
        const browser = make()
        yield* login(browser)
        const cookie = browser.cookies.get("wxauth_session")!
        assert.match(cookie, /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/)
        for (const part of cookie.split(".")) {
          assert.notInclude(Buffer.from(part, "base64url").toString("latin1"), openids[OA.appId].alice)
        }
      }))

    it.effect("login start mints a new binding: one planted in the browser cannot be used to take the login over", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const attacker = make()
        yield* startLogin(attacker)
        const planted = attacker.cookies.get("wxauth_binding")!
        const victim = make()
        victim.cookies.set("wxauth_binding", planted)
        const authorizeUrl = yield* startLogin(victim)
        assert.notStrictEqual(victim.cookies.get("wxauth_binding"), planted, "the planted binding is replaced")
        const callbackUrl = yield* consent(victim, authorizeUrl)
        assert.strictEqual((yield* victim.get(callbackUrl)).status, 303)
        // the attacker, holding the planted binding, replays the victim's callback URL at once
        const replay = yield* attacker.get(callbackUrl)
        assert.isUndefined(attacker.cookies.get("wxauth_session"), "the attacker is not logged in as the victim")
        assert.strictEqual(new URL(replay.location!).searchParams.get("reason"), "state-browser")
      }))

    it.effect("the binding is rotated after login: revisiting the callback URL logs in nobody again", () =>
      Effect.gen(function*() {
        const { browser: make, stats } = yield* setup
        const browser = make()
        const authorizeUrl = yield* startLogin(browser)
        const used = browser.cookies.get("wxauth_binding")!
        const callbackUrl = yield* consent(browser, authorizeUrl)
        const answer = yield* browser.get(callbackUrl)
        assert.strictEqual(answer.status, 303)
        const fresh = browser.cookies.get("wxauth_binding")
        assert.isTrue(Session.isBinding(fresh), "a fresh binding cookie")
        assert.notStrictEqual(fresh, used, "not the one the login was bound to")
        const session = browser.cookies.get("wxauth_session")

        // the Back button to the callback URL: still logged in, the profile, but no second login
        const exchanges = (yield* stats).access_token
        const again = yield* browser.get(callbackUrl)
        assert.strictEqual(again.status, 303)
        assert.strictEqual(new URL(again.location!).pathname, "/profile")
        assert.strictEqual(again.headers.get("referrer-policy"), "no-referrer")
        assert.isFalse(again.setCookies.some((line) => line.startsWith("wxauth_session=")), "no new session")
        assert.strictEqual(browser.cookies.get("wxauth_session"), session)
        assert.strictEqual((yield* stats).access_token, exchanges)
        assert.strictEqual((yield* browser.get("/profile")).status, 200)
      }))

    it.effect("over https both cookies are __Host- cookies: Secure, Path=/, no Domain", () =>
      Effect.gen(function*() {
        const { url } = yield* setup
        const browser = new Browser(url, { https: true })
        const start = yield* browser.get("/login/official")
        assert.strictEqual(start.status, 302)
        assert.strictEqual(
          new URL(start.location!).searchParams.get("redirect_uri"),
          `${url.replace("http:", "https:")}/callback/official`
        )
        const binding = cookieAttributes(start, "__Host-wxauth_binding")
        const callbackUrl = yield* consent(browser, start.location!)
        const answer = yield* browser.get(callbackUrl)
        assert.strictEqual(answer.status, 303)
        const session = cookieAttributes(answer, "__Host-wxauth_session")
        for (const attributes of [binding, session]) {
          assert.include(attributes, "secure")
          assert.include(attributes, "path=/")
          assert.include(attributes, "httponly")
          assert.isFalse(attributes.some((a) => a.startsWith("domain=")))
        }
        assert.isFalse([...start.setCookies, ...answer.setCookies].some((line) => line.startsWith("wxauth_")))
        assert.strictEqual((yield* browser.get("/profile")).status, 200)
      }))

    it.effect("over https, cookies tossed from a sibling subdomain (no __Host- prefix) log nobody in", () =>
      Effect.gen(function*() {
        const { url } = yield* setup
        // the attacker logs in as bob, and keeps a consented callback URL of their own unused
        const attacker = new Browser(url, { https: true })
        yield* login(attacker, { user: "bob" })
        const attackerSession = attacker.cookies.get("__Host-wxauth_session") ?? attacker.cookies.get("wxauth_session")
        assert.isDefined(attackerSession)
        const authorizeUrl = yield* startLogin(attacker)
        const attackerBinding = attacker.cookies.get("__Host-wxauth_binding") ?? attacker.cookies.get("wxauth_binding")
        const attackerCallback = yield* consent(attacker, authorizeUrl, { user: "bob" })

        // a sibling subdomain can set `wxauth_*` cookies on the victim's browser, never `__Host-` ones
        const victim = new Browser(url, { https: true })
        victim.cookies.set("wxauth_binding", attackerBinding!)
        const answer = yield* victim.get(attackerCallback)
        assert.strictEqual(new URL(answer.location!).searchParams.get("reason"), "state-browser")
        assert.strictEqual(victim.cookies.size, 1, "no session cookie")
        const tossed = new Browser(url, { https: true })
        tossed.cookies.set("wxauth_session", attackerSession!)
        assert.strictEqual((yield* tossed.get("/profile")).status, 303)
        assert.notInclude((yield* tossed.get("/")).text, `id="logged-in"`)
      }))

    it.effect("a leaked callback URL: its unused code works with anyone's own state (no PKCE); a used one, for nobody else", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const withCode = (callbackUrl: string, state: string) => {
          const url = new URL(callbackUrl)
          url.searchParams.set("state", state)
          return url.href
        }
        // the victim consents, but the callback URL leaks before the victim's browser uses it
        const victim = make()
        const leaked = yield* consent(victim, yield* startLogin(victim))
        const attacker = make()
        const attackerState = new URL(yield* startLogin(attacker)).searchParams.get("state")!
        const taken = yield* attacker.get(withCode(leaked, attackerState))
        assert.strictEqual(new URL(taken.location!).pathname, "/profile")
        assert.strictEqual(
          textOf((yield* attacker.get("/profile")).text, "nickname"),
          "张三",
          "what the README warns of"
        )
        const late = yield* victim.get(leaked)
        assert.strictEqual(new URL(late.location!).searchParams.get("reason"), "code-used")

        // once the victim's browser has used the code, nobody else can
        const victim2 = make()
        const used = yield* consent(victim2, yield* startLogin(victim2), { user: "carol" })
        assert.strictEqual(new URL((yield* victim2.get(used)).location!).pathname, "/profile")
        const attacker2 = make()
        const state2 = new URL(yield* startLogin(attacker2)).searchParams.get("state")!
        const refused = yield* attacker2.get(withCode(used, state2))
        assert.strictEqual(new URL(refused.location!).searchParams.get("reason"), "code-used")
        assert.isUndefined(attacker2.cookies.get("wxauth_session"))
      }))

    it.effect("dev panel: a body over 16 KiB is refused with 413 (one of unknown length with 411), unread", () =>
      Effect.gen(function*() {
        const { url } = yield* setup
        const big = yield* new Browser(url).post("/dev/faults", { preset: "clear", back: "/", pad: "x".repeat(20_000) })
        assert.strictEqual(big.status, 413)
        assert.include(big.text, "提交的内容过大")
        assert.include(big.text, "The request body is over the 16 KiB limit")
        // without a Content-Length (chunked), 1 MiB: refused before reading, as a body of unknown length
        const chunked = yield* Effect.promise(async () => {
          const chunk = new TextEncoder().encode("pad=" + "x".repeat(8 * 1024))
          let sent = 0
          const body = new ReadableStream<Uint8Array>({
            pull(controller) {
              // 1 MiB, unless the app stops reading first
              if (sent++ < 128) controller.enqueue(chunk)
              else controller.close()
            }
          })
          const response = await fetch(`${url}/dev/faults`, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body,
            duplex: "half",
            redirect: "manual"
          } as RequestInit)
          return { status: response.status, text: await response.text() }
        })
        assert.strictEqual(chunked.status, 411)
        assert.include(chunked.text, "Content-Length")
        assert.include(chunked.text, "16 KiB")
        const small = yield* new Browser(url).post("/dev/faults", { preset: "clear", back: "/" })
        assert.strictEqual(small.status, 303)
      }))
  })
})
