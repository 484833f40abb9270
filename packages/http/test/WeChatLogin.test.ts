/**
 * The login over HTTP, against the sandbox WeChat: the flow each browser gets, the callback and its
 * security (browser-bound state, replays, open redirects, cookie flags, cross-site logout), logout
 * everywhere, the hooks and the problem pages.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { assert, describe, it, layer } from "@effect/vitest"
import { SessionStore, TokenStore, WeChatApps, WeChatHttpClient } from "@wxauth/core"
import type { CurrentWeChatUser } from "@wxauth/http"
import { WeChatLogin } from "@wxauth/http"
import { Browser, consent, cookieAttributes, login, sandboxControl, startLogin, userAgents } from "@wxauth/test-support"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import { MINI, OA, sandboxApps, testApp, TestServer, WEB } from "./helpers.js"

const setup = Effect.gen(function*() {
  const { sandboxUrl, url } = yield* TestServer
  const config = yield* sandboxControl(sandboxUrl, "GET", "config")
  const openids = config.openids as Record<string, Record<string, string>>
  const stats = sandboxControl(sandboxUrl, "GET", "stats") as Effect.Effect<Record<string, number>>
  const browser = (userAgent: string = userAgents.wechat) => new Browser(url, { userAgent })
  return { url, sandboxUrl, openids, stats, browser }
})

/** The problem page an answer redirects to, opened in the same browser. */
const followToProblem = (browser: Browser, location: string | undefined) =>
  Effect.gen(function*() {
    assert.isDefined(location)
    assert.match(new URL(location!).pathname, /^\/login\/[^/]+\/problem$/)
    const page = yield* browser.get(location!)
    return { reason: new URL(location!).searchParams.get("reason"), page }
  })

const reasonOf = (html: string) => /data-reason="([^"]+)"/.exec(html)?.[1]

describe("WeChatLogin: the flow is picked from the browser", () => {
  layer(testApp(), { excludeTestServices: true })((it) => {
    it.effect("inside WeChat: the official account's consent page, snsapi_userinfo, a bound state", () =>
      Effect.gen(function*() {
        const { browser, url } = yield* setup
        const wechat = browser(userAgents.wechat)
        const start = yield* wechat.get("/login")
        assert.strictEqual(start.status, 302)
        const authorize = new URL(start.location!)
        assert.strictEqual(authorize.pathname, "/connect/oauth2/authorize")
        assert.strictEqual(authorize.searchParams.get("appid"), OA.appId)
        assert.strictEqual(authorize.searchParams.get("scope"), "snsapi_userinfo")
        assert.strictEqual(authorize.searchParams.get("redirect_uri"), `${url}/login/official/callback`)
        assert.match(authorize.searchParams.get("state")!, /^[A-Za-z0-9]{1,128}$/)
        assert.strictEqual(authorize.hash, "#wechat_redirect")
        const attributes = cookieAttributes(start, "wxauth_binding")
        assert.include(attributes, "httponly")
        assert.include(attributes, "samesite=lax")
        assert.include(attributes, "path=/")
        assert.isFalse(attributes.includes("secure"), "no Secure over http")
      }))

    it.effect("on a desktop: the website app's QR login (qrconnect, snsapi_login)", () =>
      Effect.gen(function*() {
        const { browser, url } = yield* setup
        const desktop = browser(userAgents.desktop)
        const authorize = new URL(yield* startLogin(desktop))
        assert.strictEqual(authorize.pathname, "/connect/qrconnect")
        assert.strictEqual(authorize.searchParams.get("appid"), WEB.appId)
        assert.strictEqual(authorize.searchParams.get("scope"), "snsapi_login")
        assert.strictEqual(authorize.searchParams.get("redirect_uri"), `${url}/login/web/callback`)
      }))

    it.effect("on a phone outside WeChat: a page saying to open the link in WeChat, with the QR option", () =>
      Effect.gen(function*() {
        const { browser, url } = yield* setup
        const phone = browser(userAgents.phone)
        const page = yield* phone.get("/login?returnTo=%2Forders")
        assert.strictEqual(page.status, 200)
        assert.include(page.text, "请在微信中打开此链接")
        assert.include(page.text, "Open this link in WeChat")
        assert.include(page.text, `value="${url}/login?returnTo=%2Forders"`)
        assert.include(page.text, `id="wxauth-qr-option" href="/login/web?returnTo=%2Forders"`)
        assert.strictEqual(page.setCookies.length, 0, "no login started")
        // the official account by name, outside WeChat: the same page
        const named = yield* browser(userAgents.desktop).get("/login/official")
        assert.strictEqual(named.status, 200)
        assert.include(named.text, "请在微信中打开此链接")
        // the QR option works on that phone
        const qr = new URL(yield* startLogin(phone, "/login/web?returnTo=%2Forders"))
        assert.strictEqual(qr.pathname, "/connect/qrconnect")
      }))

    it.effect("WeCom (企业微信: MicroMessenger and wxwork/) is not WeChat: a phone's page or a desktop's QR login", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const weComPhone = browser(
          "Mozilla/5.0 (Linux; Android 13; V2049A Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) " +
            "Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 wxwork/4.1.16 MicroMessenger/7.0.1 NetType/WIFI Language/zh"
        )
        for (const path of ["/login", "/login/official"]) {
          const page = yield* weComPhone.get(path)
          assert.strictEqual(page.status, 200, `${path}: ${page.location}`)
          assert.include(page.text, "请在微信中打开此链接")
        }
        const weComDesktop = browser(
          "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/104.0.5112.102 " +
            "Safari/537.36 wxwork/4.1.10 (MicroMessenger/6.2) WindowsWechat"
        )
        assert.strictEqual(new URL(yield* startLogin(weComDesktop)).pathname, "/connect/qrconnect")
      }))

    it.effect("official-account login: the callback leaves at once, with no Referer; the browser never gets a token", () =>
      Effect.gen(function*() {
        const { browser, openids } = yield* setup
        const wechat = browser()
        const { answer } = yield* login(wechat)
        assert.strictEqual(answer.status, 303)
        assert.strictEqual(new URL(answer.location!).pathname, "/")
        assert.strictEqual(answer.headers.get("referrer-policy"), "no-referrer")
        assert.strictEqual(answer.headers.get("cache-control"), "no-store")
        assert.strictEqual(answer.text, "")
        const session = cookieAttributes(answer, "wxauth_session")
        assert.include(session, "httponly")
        assert.include(session, "samesite=lax")
        assert.include(session, "path=/")
        assert.include(session, "max-age=86400")
        assert.isFalse(session.some((a) => a.startsWith("domain=")))
        const me = yield* wechat.get("/me")
        assert.strictEqual(me.status, 200)
        const user = JSON.parse(me.text)
        assert.strictEqual(user.openid, openids[OA.appId].alice)
        assert.strictEqual(user.app, "official")
        assert.strictEqual(user.appId, OA.appId)
        assert.strictEqual(user.unionid, "olzWokv71Boc1knksRfAoCKqK1O9")
        assert.deepStrictEqual(user.scopes, ["snsapi_userinfo"])
        assert.strictEqual(user.kind, "browser")
        // the cookie is the session's random token, nothing else; the store keeps its hash
        const cookie = wechat.cookies.get("wxauth_session")!
        assert.match(cookie, /^[A-Za-z0-9_-]{43}$/)
        assert.strictEqual(user.sessionId, SessionStore.hashToken(cookie))
        assert.notInclude(Buffer.from(cookie, "base64url").toString("latin1"), user.openid)
        const service = yield* WeChatLogin.WeChatLogin
        const token = Option.getOrThrow(yield* service.getToken(user))
        assert.notInclude(me.text, "accessToken")
        for (const secret of [Redacted.value(token.accessToken), Redacted.value(token.refreshToken)]) {
          assert.notInclude(cookie, secret)
          assert.notInclude(me.text, secret)
          assert.notInclude(answer.location!, secret)
        }
      }))

    it.effect("website login: its own openid, the same unionid", () =>
      Effect.gen(function*() {
        const { browser, openids } = yield* setup
        const desktop = browser(userAgents.desktop)
        const { answer } = yield* login(desktop, { user: "bob" })
        assert.strictEqual(answer.status, 303)
        const user = JSON.parse((yield* desktop.get("/me")).text)
        assert.strictEqual(user.app, "web")
        assert.strictEqual(user.openid, openids[WEB.appId].bob)
        assert.notStrictEqual(openids[WEB.appId].bob, openids[OA.appId].bob)
        assert.deepStrictEqual(user.scopes, ["snsapi_login"])
        assert.strictEqual((yield* desktop.get("/profile")).text, "nickname: 李四")
      }))

    it.effect("a mini program's key, or an unknown one, is no browser login", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        for (const path of ["/login/mini", "/login/nothing", "/login/nothing/callback?code=x&state=y"]) {
          const answer = yield* browser().get(path)
          if (answer.status === 303) {
            assert.strictEqual(new URL(answer.location!).searchParams.get("reason"), "unavailable", path)
          } else {
            assert.strictEqual(answer.status, 404, path)
            assert.strictEqual(reasonOf(answer.text), "unavailable", path)
          }
        }
        const missing = yield* browser().get("/login/official/nothing/here")
        assert.strictEqual(missing.status, 404)
        assert.strictEqual(reasonOf(missing.text), "not-found")
        const unknownReason = yield* browser().get("/login/official/problem?reason=%3Cscript%3E")
        assert.strictEqual(unknownReason.status, 404)
        assert.notInclude(unknownReason.text, "<script>")
      }))
  })
})

describe("WeChatLogin: a site with a website app only", () => {
  layer(testApp((sandboxUrl) => ({ apps: { web: sandboxApps(sandboxUrl).web } })), { excludeTestServices: true })(
    (it) => {
      it.effect("a phone outside WeChat gets the website app's QR login, never a link WeChat would answer 404", () =>
        Effect.gen(function*() {
          const { browser, openids } = yield* setup
          const phone = browser(userAgents.phone)
          const start = yield* phone.get("/login?returnTo=%2Forders")
          assert.strictEqual(start.status, 302, start.text.slice(0, 200))
          assert.notInclude(start.text, "请在微信中打开此链接")
          const authorize = new URL(start.location!)
          assert.strictEqual(authorize.pathname, "/connect/qrconnect")
          assert.strictEqual(authorize.searchParams.get("appid"), WEB.appId)
          const answer = yield* phone.get(yield* consent(phone, authorize.href))
          assert.strictEqual(answer.status, 303)
          assert.strictEqual(new URL(answer.location!).pathname, "/orders")
          assert.strictEqual(JSON.parse((yield* phone.get("/me")).text).openid, openids[WEB.appId].alice)
          // inside WeChat there is no login for this site, as before
          const wechat = yield* browser(userAgents.wechat).get("/login")
          assert.strictEqual(wechat.status, 404)
          assert.strictEqual(reasonOf(wechat.text), "unavailable")
        }))
    }
  )
})

describe("WeChatLogin: the callback's security", () => {
  layer(testApp(), { excludeTestServices: true })((it) => {
    it.effect("revisiting the callback URL in the same browser logs in nobody again; another browser is refused", () =>
      Effect.gen(function*() {
        const { browser, stats } = yield* setup
        const wechat = browser()
        const before = (yield* stats).access_token
        const authorizeUrl = yield* startLogin(wechat)
        const used = wechat.cookies.get("wxauth_binding")!
        const callbackUrl = yield* consent(wechat, authorizeUrl)
        const answer = yield* wechat.get(callbackUrl)
        assert.strictEqual(answer.status, 303)
        const rotated = wechat.cookies.get("wxauth_binding")
        assert.match(rotated!, /^[A-Za-z0-9_-]{43}$/)
        assert.notStrictEqual(rotated, used, "the binding is rotated after login")
        const session = wechat.cookies.get("wxauth_session")

        const again = yield* wechat.get(callbackUrl)
        assert.strictEqual(again.status, 303)
        assert.strictEqual(new URL(again.location!).pathname, "/")
        assert.strictEqual(again.headers.get("referrer-policy"), "no-referrer")
        assert.isFalse(again.setCookies.some((line) => line.startsWith("wxauth_session=")), "no new session")
        assert.strictEqual(wechat.cookies.get("wxauth_session"), session)
        assert.strictEqual((yield* stats).access_token - before, 1, "the code was exchanged once")

        const stranger = browser()
        const refused = yield* stranger.get(callbackUrl)
        const { page, reason } = yield* followToProblem(stranger, refused.location)
        assert.strictEqual(reason, "state-browser")
        assert.strictEqual(page.status, 400)
        assert.isUndefined(stranger.cookies.get("wxauth_session"))
      }))

    it.effect("a callback loaded several times at once: one session and the same cookies for all, one logout ends it", () =>
      Effect.gen(function*() {
        const { browser, stats } = yield* setup
        const wechat = browser()
        const before = (yield* stats).access_token
        const callbackUrl = yield* consent(wechat, yield* startLogin(wechat, "/login?returnTo=%2Fx"))
        // the same browser's requests (WeChat's redirect loaded twice, a double tap): the same cookies
        const copies = Array.from({ length: 5 }, () => {
          const copy = browser()
          for (const [name, value] of wechat.cookies) copy.cookies.set(name, value)
          return copy
        })
        const answers = yield* Effect.forEach(copies, (copy) => copy.get(callbackUrl), { concurrency: "unbounded" })
        for (const answer of answers) {
          assert.strictEqual(answer.status, 303, answer.text)
          assert.strictEqual(new URL(answer.location!).pathname, "/x")
        }
        const cookieOf = (name: string) => new Set(copies.map((copy) => copy.cookies.get(name)))
        assert.strictEqual(cookieOf("wxauth_session").size, 1, "one session for all")
        assert.strictEqual(cookieOf("wxauth_binding").size, 1, "one rotated binding for all")
        assert.strictEqual((yield* stats).access_token - before, 1, "the code was exchanged once")
        assert.strictEqual((yield* copies[0].get("/me")).status, 200)
        const logout = yield* copies[4].post("/logout", {}, { origin: new URL(copies[4].base).origin })
        assert.strictEqual(logout.status, 303)
        for (const copy of copies.slice(0, 4)) {
          assert.strictEqual((yield* copy.get("/me")).status, 401, "the logout ended the one session there was")
        }
      }))

    it.effect("login start mints a new binding: one planted in the browser cannot take the login over", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const attacker = browser()
        yield* startLogin(attacker)
        const planted = attacker.cookies.get("wxauth_binding")!
        const victim = browser()
        victim.cookies.set("wxauth_binding", planted)
        const authorizeUrl = yield* startLogin(victim)
        assert.notStrictEqual(victim.cookies.get("wxauth_binding"), planted, "the planted binding is replaced")
        const callbackUrl = yield* consent(victim, authorizeUrl)
        assert.strictEqual((yield* victim.get(callbackUrl)).status, 303)
        const replay = yield* attacker.get(callbackUrl)
        assert.isUndefined(attacker.cookies.get("wxauth_session"), "the attacker is not logged in as the victim")
        assert.strictEqual(new URL(replay.location!).searchParams.get("reason"), "state-browser")
      }))

    it.effect("a tampered state shows the problem page, and the code is not exchanged", () =>
      Effect.gen(function*() {
        const { browser, stats } = yield* setup
        const wechat = browser()
        const before = (yield* stats).access_token
        const callbackUrl = yield* consent(wechat, yield* startLogin(wechat), {
          editForm: (form) => {
            const state = form.get("state")!
            form.set("state", state.slice(0, 20) + (state[20] === "a" ? "b" : "a") + state.slice(21))
          }
        })
        const answer = yield* wechat.get(callbackUrl)
        assert.strictEqual(answer.status, 303)
        assert.strictEqual(answer.headers.get("referrer-policy"), "no-referrer")
        const { page, reason } = yield* followToProblem(wechat, answer.location)
        assert.strictEqual(reason, "state")
        assert.strictEqual(page.status, 400)
        assert.include(page.text, "登录请求无效")
        assert.include(page.text, `id="wxauth-try-again" href="/login/official"`)
        assert.strictEqual((yield* stats).access_token, before)
        assert.isUndefined(wechat.cookies.get("wxauth_session"))
      }))

    it.effect("denied consent and an expired code have their pages", () =>
      Effect.gen(function*() {
        const { browser, sandboxUrl } = yield* setup
        const wechat = browser()
        const denied = yield* consent(wechat, yield* startLogin(wechat), { decision: "deny" })
        const deniedPage = yield* followToProblem(wechat, (yield* wechat.get(denied)).location)
        assert.strictEqual(deniedPage.reason, "denied")
        assert.strictEqual(deniedPage.page.status, 403)
        assert.include(deniedPage.page.text, "你拒绝了授权")

        const late = yield* consent(wechat, yield* startLogin(wechat))
        yield* sandboxControl(sandboxUrl, "POST", "clock/advance", { seconds: 6 * 60 })
        const expired = yield* followToProblem(wechat, (yield* wechat.get(late)).location)
        assert.strictEqual(expired.reason, "code-expired")
      }))

    it.effect("returnTo: a path on this site is where the login lands; anything else is dropped", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const wechat = browser()
        const { answer } = yield* login(wechat, { path: "/login?returnTo=%2Forders%3Fid%3D7" })
        const target = new URL(answer.location!)
        assert.strictEqual(target.pathname + target.search, "/orders?id=7")
        for (
          const returnTo of [
            "//evil.example/",
            "https://evil.example/",
            "/a/../..//evil.example/",
            "/\t/evil.example/",
            "/.//evil.example/",
            "/\\evil.example"
          ]
        ) {
          const other = browser()
          const evil = yield* login(other, { path: `/login?returnTo=${encodeURIComponent(returnTo)}` })
          assert.strictEqual(new URL(evil.answer.location!).href, new URL("/", other.base).href, returnTo)
        }
        const other = browser()
        const unicode = yield* login(other, { path: "/login?returnTo=%2F%E4%B8%AD" })
        assert.strictEqual(unicode.answer.status, 303)
        assert.strictEqual(new URL(unicode.answer.location!).pathname, "/%E4%B8%AD")
      }))

    it.effect("a leaked callback URL: its unused code works with anyone's own state (no PKCE); a used one, for nobody else", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const withState = (callbackUrl: string, state: string) => {
          const url = new URL(callbackUrl)
          url.searchParams.set("state", state)
          return url.href
        }
        const victim = browser()
        const leaked = yield* consent(victim, yield* startLogin(victim))
        const attacker = browser()
        const attackerState = new URL(yield* startLogin(attacker)).searchParams.get("state")!
        const taken = yield* attacker.get(withState(leaked, attackerState))
        assert.strictEqual(taken.status, 303)
        assert.isDefined(attacker.cookies.get("wxauth_session"), "what the README warns of")
        const late = yield* victim.get(leaked)
        assert.strictEqual(new URL(late.location!).searchParams.get("reason"), "code-used")

        const victim2 = browser()
        const used = yield* consent(victim2, yield* startLogin(victim2), { user: "carol" })
        assert.strictEqual((yield* victim2.get(used)).status, 303)
        assert.isDefined(victim2.cookies.get("wxauth_session"))
        const attacker2 = browser()
        const state2 = new URL(yield* startLogin(attacker2)).searchParams.get("state")!
        const refused = yield* attacker2.get(withState(used, state2))
        assert.strictEqual(new URL(refused.location!).searchParams.get("reason"), "code-used")
        assert.isUndefined(attacker2.cookies.get("wxauth_session"))
      }))

    it.effect("a snapshot user (a Moments preview page) is not logged in", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const wechat = browser()
        const { answer } = yield* login(wechat, { user: "dave" })
        const { page, reason } = yield* followToProblem(wechat, answer.location)
        assert.strictEqual(reason, "snapshot")
        assert.include(page.text, "使用完整服务")
        assert.isUndefined(wechat.cookies.get("wxauth_session"))
      }))

    it.effect("a new login in the same browser ends the session it had", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const wechat = browser()
        yield* login(wechat, { user: "bob" })
        const first = wechat.cookies.get("wxauth_session")!
        yield* login(wechat, { user: "carol" })
        const second = wechat.cookies.get("wxauth_session")!
        assert.notStrictEqual(first, second)
        const copy = browser()
        copy.cookies.set("wxauth_session", first)
        assert.strictEqual((yield* copy.get("/me")).status, 401, "the first session ended")
      }))
  })
})

describe("WeChatLogin: sessions and logout", () => {
  layer(testApp(), { excludeTestServices: true })((it) => {
    it.effect("logout ends the session on the server: a copy of the cookie is refused, even after a new login", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const wechat = browser()
        yield* login(wechat, { user: "bob" })
        const copy = wechat.cookies.get("wxauth_session")!
        const thief = browser()
        thief.cookies.set("wxauth_session", copy)
        assert.strictEqual((yield* thief.get("/me")).status, 200, "the copy works while the session lasts")

        const out = yield* wechat.post("/logout", {}, { origin: new URL(wechat.base).origin })
        assert.strictEqual(out.status, 303)
        assert.strictEqual(new URL(out.location!).pathname, "/")
        assert.include(cookieAttributes(out, "wxauth_session"), "max-age=0")
        assert.include(cookieAttributes(out, "wxauth_binding"), "max-age=0")
        assert.isUndefined(wechat.cookies.get("wxauth_session"))
        assert.strictEqual((yield* thief.get("/me")).status, 401)

        yield* login(wechat, { user: "bob" })
        assert.strictEqual((yield* wechat.get("/me")).status, 200)
        assert.strictEqual((yield* thief.get("/me")).status, 401)
      }))

    it.effect("logout everywhere ends every session of the user, and only theirs", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const phone = browser()
        const laptop = browser()
        const other = browser()
        yield* login(phone, { user: "carol" })
        yield* login(laptop, { user: "carol" })
        yield* login(other, { user: "alice" })
        for (const b of [phone, laptop, other]) assert.strictEqual((yield* b.get("/me")).status, 200)
        const out = yield* phone.post("/logout/everywhere", {}, { "sec-fetch-site": "same-origin" })
        assert.strictEqual(out.status, 303)
        assert.strictEqual((yield* phone.get("/me")).status, 401)
        assert.strictEqual((yield* laptop.get("/me")).status, 401, "carol's other session ended too")
        assert.strictEqual((yield* other.get("/me")).status, 200, "alice is still logged in")
      }))

    it.effect("a cross-site logout is refused (Origin, or Sec-Fetch-Site without one)", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const wechat = browser()
        yield* login(wechat)
        for (
          const headers of [
            { origin: "https://evil.example" },
            { origin: "null" },
            { "sec-fetch-site": "cross-site" },
            { "sec-fetch-site": "same-site" }
          ]
        ) {
          for (const path of ["/logout", "/logout/everywhere"]) {
            const refused = yield* wechat.post(path, {}, headers)
            assert.strictEqual(refused.status, 403, `${path} ${JSON.stringify(headers)}`)
            assert.strictEqual(reasonOf(refused.text), "forbidden")
            assert.strictEqual(refused.setCookies.length, 0)
          }
        }
        assert.strictEqual((yield* wechat.get("/me")).status, 200, "still logged in")
      }))

    it.effect("getUser, getToken, logout, logoutEverywhere act for the user of a live session only, never for plain fields", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const service = yield* WeChatLogin.WeChatLogin
        const alice = browser()
        const mallory = browser()
        yield* login(alice, { user: "alice" })
        yield* login(mallory, { user: "bob" })
        // users as an app may hold them: read back from JSON (plain fields, no class)
        const aliceUser = JSON.parse((yield* alice.get("/me")).text) as CurrentWeChatUser.WeChatUser
        const malloryUser = JSON.parse((yield* mallory.get("/me")).text) as CurrentWeChatUser.WeChatUser
        const tagOf = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
          Effect.match(effect, { onFailure: (e) => e._tag, onSuccess: () => "succeeded" })
        const reasonOfFailure = <A, E>(effect: Effect.Effect<A, E>) =>
          Effect.match(effect, { onFailure: (e) => (e as { reason?: string }).reason, onSuccess: () => "succeeded" })

        // the genuine user, as plain fields, works
        assert.strictEqual((yield* service.getUser(aliceUser)).nickname, "张三")
        assert.isTrue(Option.isSome(yield* service.getToken(aliceUser)))

        const forged: ReadonlyArray<readonly [string, CurrentWeChatUser.WeChatUser]> = [
          ["mallory's session, alice's openid", { ...malloryUser, openid: aliceUser.openid } as any],
          ["a never-issued session", { ...aliceUser, sessionId: "0".repeat(64) } as any],
          ["a sessionId that is no hash", { ...aliceUser, sessionId: "alice" } as any],
          ["alice's session, another app", { ...aliceUser, app: "web" } as any],
          ["alice's session, another appId", { ...aliceUser, appId: WEB.appId } as any],
          ["alice's session as a mini program's", { ...aliceUser, kind: "miniProgram" } as any]
        ]
        for (const [label, user] of forged) {
          assert.strictEqual(yield* reasonOfFailure(service.getUser(user)), "Invalid", `getUser: ${label}`)
          assert.strictEqual(yield* tagOf(service.getToken(user)), "Unauthenticated", `getToken: ${label}`)
          assert.strictEqual(
            yield* tagOf(service.logoutEverywhere(user)),
            "Unauthenticated",
            `logoutEverywhere: ${label}`
          )
          const logout = yield* tagOf(service.logout(user))
          assert.include(["succeeded", "InvalidArgument"], logout, `logout: ${label}`)
        }
        // mallory's session with alice's openid ends neither session
        assert.strictEqual(
          yield* tagOf(service.logout({ ...malloryUser, openid: aliceUser.openid } as any)),
          "InvalidArgument"
        )
        assert.strictEqual((yield* alice.get("/me")).status, 200, "alice is still logged in")
        assert.strictEqual((yield* mallory.get("/me")).status, 200, "mallory is still logged in")

        // once alice's session is over, her user value acts for nobody; logout of it is a no-op
        const out = yield* alice.post("/logout", {}, { origin: new URL(alice.base).origin })
        assert.strictEqual(out.status, 303)
        assert.strictEqual(yield* reasonOfFailure(service.getUser(aliceUser)), "Invalid")
        assert.strictEqual(yield* tagOf(service.getToken(aliceUser)), "Unauthenticated")
        assert.strictEqual(yield* tagOf(service.logoutEverywhere(aliceUser)), "Unauthenticated")
        assert.strictEqual(yield* tagOf(service.logout(aliceUser)), "succeeded")
        // and a live user's own value ends their sessions
        // (bob may have a session of an earlier test of this layer too)
        assert.isAtLeast(yield* service.logoutEverywhere(malloryUser), 1)
        assert.strictEqual((yield* mallory.get("/me")).status, 401)
      }))

    it.effect("a forged, altered or never-issued session cookie is ignored", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const wechat = browser()
        yield* login(wechat)
        const cookie = wechat.cookies.get("wxauth_session")!
        for (
          const value of [
            cookie.slice(0, 42) + (cookie[42] === "A" ? "B" : "A"),
            cookie + "A",
            "",
            "x".repeat(43),
            `${cookie}.${cookie}`
          ]
        ) {
          const stranger = browser()
          stranger.cookies.set("wxauth_session", value)
          const me = yield* stranger.get("/me")
          assert.strictEqual(me.status, 401, value)
        }
        assert.strictEqual((yield* wechat.get("/me")).status, 200, "the real cookie still works")
      }))
  })
})

describe("WeChatLogin over https (publicUrl)", () => {
  layer(testApp(() => ({ publicUrl: "https://login.example.com" })), { excludeTestServices: true })((it) => {
    it.effect("both cookies are __Host- cookies: Secure, Path=/, no Domain; the redirect_uri is the public one", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        const wechat = new Browser(url, { https: true })
        const start = yield* wechat.get("/login")
        assert.strictEqual(
          new URL(start.location!).searchParams.get("redirect_uri"),
          "https://login.example.com/login/official/callback"
        )
        const binding = cookieAttributes(start, "__Host-wxauth_binding")
        const callbackUrl = new URL(yield* consent(wechat, start.location!))
        // the browser is at login.example.com: here, the test server plays it
        const answer = yield* wechat.get(`${url}${callbackUrl.pathname}${callbackUrl.search}`)
        assert.strictEqual(answer.status, 303, answer.text)
        const session = cookieAttributes(answer, "__Host-wxauth_session")
        for (const attributes of [binding, session]) {
          assert.include(attributes, "secure")
          assert.include(attributes, "path=/")
          assert.include(attributes, "httponly")
          assert.include(attributes, "samesite=lax")
          assert.isFalse(attributes.some((a) => a.startsWith("domain=")))
        }
        assert.isFalse([...start.setCookies, ...answer.setCookies].some((line) => line.startsWith("wxauth_")))
        assert.strictEqual((yield* wechat.get("/me")).status, 200)
        // a same-origin logout is the public origin's
        const refused = yield* wechat.post("/logout", {}, { origin: url })
        assert.strictEqual(refused.status, 403)
        const out = yield* wechat.post("/logout", {}, { origin: "https://login.example.com" })
        assert.strictEqual(out.status, 303)
      }))

    it.effect("cookies tossed from a sibling subdomain (no __Host- prefix) log nobody in", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        const attacker = new Browser(url, { https: true })
        yield* attacker.get("/login")
        const attackerBinding = attacker.cookies.get("__Host-wxauth_binding")!
        const callbackUrl = new URL(
          yield* consent(attacker, (yield* attacker.get("/login")).location!, { user: "bob" })
        )
        const victim = new Browser(url, { https: true })
        victim.cookies.set("wxauth_binding", attackerBinding)
        const answer = yield* victim.get(`${url}${callbackUrl.pathname}${callbackUrl.search}`)
        assert.strictEqual(new URL(answer.location!).searchParams.get("reason"), "state-browser")
        assert.isUndefined(victim.cookies.get("__Host-wxauth_session"))

        const session = new Browser(url, { https: true })
        const authorizeUrl = (yield* session.get("/login")).location!
        const back = new URL(yield* consent(session, authorizeUrl))
        assert.strictEqual((yield* session.get(`${url}${back.pathname}${back.search}`)).status, 303)
        assert.isDefined(session.cookies.get("__Host-wxauth_session"))
        const tossed = new Browser(url, { https: true })
        tossed.cookies.set("wxauth_session", session.cookies.get("__Host-wxauth_session")!)
        assert.strictEqual((yield* tossed.get("/me")).status, 401)
      }))
  })
})

describe("WeChatLogin: embedded QR code", () => {
  layer(
    testApp((sandboxUrl) => ({
      apps: {
        web: {
          kind: "website",
          appId: WEB.appId,
          appSecret: WEB.secret,
          apiBaseUrl: sandboxUrl,
          openBaseUrl: sandboxUrl,
          qrCode: {
            embedded: true,
            scriptUrl: `${sandboxUrl}/connect/zh_CN/htmledition/js/wxLogin.js`,
            style: "black",
            href: "https://example.com/qr.css"
          }
        }
      }
    })),
    { excludeTestServices: true }
  )((it) => {
    it.effect("a desktop gets a page of this site with wxLogin.js, its parameters, and a nonce-only script policy", () =>
      Effect.gen(function*() {
        const { sandboxUrl, url } = yield* TestServer
        const desktop = new Browser(url, { userAgent: userAgents.desktop })
        const page = yield* desktop.get("/login?returnTo=%2Fcart")
        assert.strictEqual(page.status, 200)
        assert.isDefined(desktop.cookies.get("wxauth_binding"))
        const policy = page.headers.get("content-security-policy")!
        const nonce = /'nonce-([A-Za-z0-9+/=]+)'/.exec(policy)?.[1]
        assert.isDefined(nonce)
        assert.include(policy, `script-src 'nonce-${nonce}' ${sandboxUrl}`)
        assert.include(policy, `frame-src ${sandboxUrl}`)
        assert.notInclude(policy, "unsafe-inline'; script")
        assert.include(
          page.text,
          `<script nonce="${nonce}" src="${sandboxUrl}/connect/zh_CN/htmledition/js/wxLogin.js">`
        )
        assert.include(page.text, `data-appid="${WEB.appId}"`)
        assert.include(page.text, `data-redirect-uri="${url}/login/web/callback"`)
        assert.include(page.text, `data-self-redirect="false"`)
        assert.include(page.text, `data-style="black"`)
        assert.include(page.text, `data-href="https://example.com/qr.css"`)
        const state = /data-state="([A-Za-z0-9]+)"/.exec(page.text)![1]
        // the QR page's state is bound to this browser and carries the returnTo
        const fallback = /id="wxauth-qr-fallback" href="([^"]+)"/.exec(page.text)![1].replace(/&amp;/g, "&")
        assert.strictEqual(new URL(fallback).searchParams.get("state"), state)
        const callbackUrl = yield* consent(desktop, fallback)
        const answer = yield* desktop.get(callbackUrl)
        assert.strictEqual(answer.status, 303)
        assert.strictEqual(new URL(answer.location!).pathname, "/cart")
        // no official account: a phone outside WeChat gets the QR page too, never a link to open in
        // WeChat (there, this site has no login)
        const phone = yield* new Browser(url, { userAgent: userAgents.phone }).get("/login")
        assert.strictEqual(phone.status, 200)
        assert.include(phone.text, `data-appid="${WEB.appId}"`)
        assert.notInclude(phone.text, "请在微信中打开此链接")
        // inside WeChat, with no official account: not available
        const wechat = yield* new Browser(url, { userAgent: userAgents.wechat }).get("/login")
        assert.strictEqual(wechat.status, 404)
      }))
  })
})

describe("WeChatLogin: embedded QR code with selfRedirect", () => {
  const webApp = (sandboxUrl: string, selfRedirect: boolean) => ({
    apps: {
      web: {
        kind: "website" as const,
        appId: WEB.appId,
        appSecret: WEB.secret,
        apiBaseUrl: sandboxUrl,
        openBaseUrl: sandboxUrl,
        qrCode: { embedded: true, scriptUrl: `${sandboxUrl}/connect/zh_CN/htmledition/js/wxLogin.js`, selfRedirect }
      }
    }
  })
  /** The QR page on a desktop, consent given: the callback URL the QR frame would load. */
  const scanned = (desktop: Browser) =>
    Effect.gen(function*() {
      const page = yield* desktop.get("/login?returnTo=%2Fcart")
      assert.strictEqual(page.status, 200)
      const fallback = /id="wxauth-qr-fallback" href="([^"]+)"/.exec(page.text)![1].replace(/&amp;/g, "&")
      return { page, callbackUrl: yield* consent(desktop, fallback) }
    })

  layer(testApp((sandboxUrl) => webApp(sandboxUrl, true)), { excludeTestServices: true })((it) => {
    it.effect("a callback loaded in the QR frame takes the whole window to the landing page, logged in", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        const desktop = new Browser(url, { userAgent: userAgents.desktop })
        const { callbackUrl, page } = yield* scanned(desktop)
        assert.include(page.text, `data-self-redirect="true"`)
        const framed = yield* desktop.get(callbackUrl, { "sec-fetch-dest": "iframe" })
        // a page, not a redirect: a redirect would load the site inside WeChat's frame
        assert.strictEqual(framed.status, 200)
        assert.isUndefined(framed.location)
        const link = /<a id="wxauth-continue" href="([^"]+)" target="_top">/.exec(framed.text)?.[1]
        assert.strictEqual(link, "/cart")
        const policy = framed.headers.get("content-security-policy")!
        const nonce = /'nonce-([A-Za-z0-9+/=]+)'/.exec(policy)?.[1]
        assert.isDefined(nonce)
        assert.include(framed.text, `<script nonce="${nonce}">window.top.location.replace(`)
        // only this site may frame it
        assert.include(policy, "frame-ancestors 'self'")
        assert.strictEqual(framed.headers.get("x-frame-options"), "SAMEORIGIN")
        // the session is set by the framed answer itself
        assert.isDefined(desktop.cookies.get("wxauth_session"))
        assert.strictEqual((yield* desktop.get("/me")).status, 200)
      }))

    it.effect("outside a frame the callback redirects as usual", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        const top = new Browser(url, { userAgent: userAgents.desktop })
        const { callbackUrl } = yield* scanned(top)
        const answer = yield* top.get(callbackUrl, { "sec-fetch-dest": "document" })
        assert.strictEqual(answer.status, 303)
        assert.strictEqual(new URL(answer.location!).pathname, "/cart")
        assert.strictEqual((yield* top.get("/me")).status, 200)
      }))
  })

  layer(testApp((sandboxUrl) => webApp(sandboxUrl, false)), { excludeTestServices: true })((it) => {
    it.effect("without selfRedirect, a callback in a frame redirects too", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        const desktop = new Browser(url, { userAgent: userAgents.desktop })
        const { callbackUrl, page } = yield* scanned(desktop)
        assert.include(page.text, `data-self-redirect="false"`)
        const framed = yield* desktop.get(callbackUrl, { "sec-fetch-dest": "iframe" })
        assert.strictEqual(framed.status, 303)
        assert.strictEqual(new URL(framed.location!).pathname, "/cart")
        assert.strictEqual((yield* desktop.get("/me")).status, 200)
      }))
  })
})

describe("WeChatLogin: hooks", () => {
  const created: Array<string> = []
  const logins: Array<
    { readonly userId: string | undefined; readonly firstLogin: boolean; readonly nickname: string }
  > = []
  const users = new Map<string, string>()
  layer(
    testApp(() => ({
      hooks: {
        findUser: (identity) =>
          Effect.succeed(identity.unionid === undefined ? undefined : users.get(identity.unionid)),
        onFirstLogin: (identity) =>
          Effect.gen(function*() {
            const profile = yield* identity.profile
            const id = `user-${users.size + 1}`
            users.set(identity.unionid!, id)
            created.push(`${id}:${profile.nickname}`)
            return id
          }),
        onLogin: (event) =>
          Effect.map(
            event.profile,
            (profile) =>
              void logins.push({ userId: event.userId, firstLogin: event.firstLogin, nickname: profile.nickname })
          ),
        afterLogin: (event) => Effect.succeed(event.firstLogin ? "/welcome" : event.returnTo)
      }
    })),
    { excludeTestServices: true }
  )((it) => {
    it.effect("first login creates the local user; a login in another app links by unionid; afterLogin picks the page", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const wechat = browser()
        const first = yield* login(wechat, { path: "/login?returnTo=%2Forders" })
        assert.strictEqual(new URL(first.answer.location!).pathname, "/welcome")
        assert.strictEqual(JSON.parse((yield* wechat.get("/me")).text).userId, "user-1")
        const desktop = browser(userAgents.desktop)
        const second = yield* login(desktop, { path: "/login?returnTo=%2Forders" })
        assert.strictEqual(new URL(second.answer.location!).pathname, "/orders")
        const me = JSON.parse((yield* desktop.get("/me")).text)
        assert.strictEqual(me.app, "web")
        assert.strictEqual(me.userId, "user-1", "the same person through the website app: linked by unionid")
        assert.deepStrictEqual(created, ["user-1:张三"])
        assert.deepStrictEqual(logins, [
          { userId: "user-1", firstLogin: true, nickname: "张三" },
          { userId: "user-1", firstLogin: false, nickname: "张三" }
        ])
      }))
  })
})

describe("WeChatLogin: a failing hook stops the login", () => {
  layer(
    testApp(() => ({ hooks: { onLogin: () => Effect.fail(new Error("database down")) } })),
    { excludeTestServices: true }
  )((it) => {
    it.effect("the server problem page, no session", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const wechat = browser()
        const { answer } = yield* login(wechat)
        const { page, reason } = yield* followToProblem(wechat, answer.location)
        assert.strictEqual(reason, "server")
        assert.strictEqual(page.status, 500)
        assert.isUndefined(wechat.cookies.get("wxauth_session"))
      }))
  })
})

for (const wrongSecretErrcode of [40125, 40001] as const) {
  describe(`WeChatLogin: a wrong app secret (WeChat answers the exchange ${wrongSecretErrcode})`, () => {
    layer(
      testApp(
        (sandboxUrl) => ({ apps: sandboxApps(sandboxUrl, { official: { appSecret: "not-the-right-secret" } }) }),
        { apps: [{ ...OA, wrongSecretErrcode }, WEB, MINI] }
      ),
      { excludeTestServices: true }
    )((it) => {
      it.effect("the misconfiguration page (500, no retry offered), not \"try again later\"", () =>
        Effect.gen(function*() {
          const { browser } = yield* setup
          const wechat = browser()
          const { answer } = yield* login(wechat)
          const { page, reason } = yield* followToProblem(wechat, answer.location)
          assert.strictEqual(reason, "config")
          assert.strictEqual(page.status, 500)
          assert.include(page.text, "网站配置有误")
          assert.notInclude(page.text, "not-the-right-secret")
          assert.isUndefined(wechat.cookies.get("wxauth_session"))
        }))
    })
  })
}

/** A WeChatApps registry of `apps`, against the sandbox at `sandboxUrl`, with one state secret for them all. */
const sandboxRegistry = (
  sandboxUrl: string,
  apps: ReadonlyArray<{ readonly appId: string; readonly secret: string }>
) =>
  WeChatApps.layer(
    {
      apps: apps.map((app) => ({
        appId: app.appId,
        appSecret: app.secret,
        apiBaseUrl: sandboxUrl,
        openBaseUrl: sandboxUrl
      }))
    },
    { stateSecret: "a registry-wide secret, 32 chars" }
  ).pipe(Layer.provide(TokenStore.layerMemory), Layer.provide(WeChatHttpClient.layer()))

describe("WeChatLogin: many apps through the WeChatApps registry", () => {
  const kinds: Record<string, "officialAccount" | "website" | "miniProgram"> = {
    [OA.appId]: "officialAccount",
    [WEB.appId]: "website",
    [MINI.appId]: "miniProgram"
  }
  layer(
    testApp(
      () => ({ apps: {}, registry: { kindOf: (appId) => Effect.succeed(kinds[appId]), phoneNumber: true } }),
      undefined,
      (sandboxUrl) => sandboxRegistry(sandboxUrl, [OA, WEB, MINI])
    ),
    { excludeTestServices: true }
  )((it) => {
    it.effect("/login/<appid>: the registry's app logs in, its state bound to the browser; an unknown appid is 404", () =>
      Effect.gen(function*() {
        const { browser, openids, url } = yield* setup
        const wechat = browser()
        const authorize = new URL(yield* startLogin(wechat, `/login/${OA.appId}?returnTo=%2Fshop`))
        assert.strictEqual(authorize.searchParams.get("appid"), OA.appId)
        assert.strictEqual(authorize.searchParams.get("redirect_uri"), `${url}/login/${OA.appId}/callback`)
        const callbackUrl = yield* consent(wechat, authorize.href)
        const answer = yield* wechat.get(callbackUrl)
        assert.strictEqual(answer.status, 303, answer.text)
        assert.strictEqual(new URL(answer.location!).pathname, "/shop")
        const me = JSON.parse((yield* wechat.get("/me")).text)
        assert.strictEqual(me.app, OA.appId)
        assert.strictEqual(me.openid, openids[OA.appId].alice)
        assert.strictEqual((yield* wechat.get("/profile")).text, "nickname: 张三")
        // another browser cannot use this callback URL
        const stranger = browser()
        const refused = yield* stranger.get(callbackUrl)
        assert.strictEqual(new URL(refused.location!).searchParams.get("reason"), "state-browser")
        // the website app of the registry on a desktop
        const desktop = browser(userAgents.desktop)
        assert.strictEqual(new URL(yield* startLogin(desktop, `/login/${WEB.appId}`)).pathname, "/connect/qrconnect")
        const unknown = yield* browser().get("/login/wx0000000000000000")
        assert.strictEqual(unknown.status, 404)
        assert.strictEqual(reasonOf(unknown.text), "unavailable")
      }))

    it.effect("the registry's mini program logs in through the JSON endpoint", () =>
      Effect.gen(function*() {
        const { openids, sandboxUrl, url } = yield* setup
        const { code } = yield* sandboxControl(sandboxUrl, "POST", "miniprogram/login", {
          appId: MINI.appId,
          user: "bob"
        })
        const answer = yield* new Browser(url).postJson(`/api/wechat/mini-program/${MINI.appId}/login`, { code })
        assert.strictEqual(answer.status, 200, answer.text)
        assert.strictEqual(JSON.parse(answer.text).openid, openids[MINI.appId].bob)
      }))
  })
})

describe("WeChatLogin: a registry site accepts the sessions of the apps it serves now, of their kind", () => {
  it.scopedLive("a removed app, another service's app, a kind that does not fit: 401; a registry failure: logged, a 500", () =>
    Effect.gen(function*() {
      const kinds = new Map<string, "officialAccount" | "website" | "miniProgram">([
        [OA.appId, "officialAccount"],
        [MINI.appId, "miniProgram"]
      ])
      let failing = false
      const logLines: Array<string> = []
      const captureLogs = Logger.replace(
        Logger.defaultLogger,
        Logger.map(Logger.logfmtLogger, (line) => void logLines.push(line))
      )
      // a SessionStore shared with another service
      const store = yield* SessionStore.makeMemory()
      const app = testApp(
        () => ({
          apps: {},
          registry: {
            kindOf: (appId) => failing ? Effect.fail("the tenants' database is down") : Effect.succeed(kinds.get(appId))
          }
        }),
        undefined,
        (sandboxUrl) =>
          Layer.merge(
            sandboxRegistry(sandboxUrl, [OA, WEB, MINI]),
            Layer.succeed(SessionStore.SessionStore, store)
          )
      )
      const { sandboxUrl, url } = Context.get(yield* Layer.build(Layer.provide(app, captureLogs)), TestServer)
      const sameOrigin = { origin: url }
      const wechat = new Browser(url)
      const { answer } = yield* login(wechat, { path: `/login/${OA.appId}` })
      assert.strictEqual(answer.status, 303, answer.text)
      assert.strictEqual((yield* wechat.get("/me")).status, 200)
      const { code } = yield* sandboxControl(sandboxUrl, "POST", "miniprogram/login", {
        appId: MINI.appId,
        user: "bob"
      })
      const mini = yield* new Browser(url).postJson(`/api/wechat/mini-program/${MINI.appId}/login`, { code })
      assert.strictEqual(mini.status, 200, mini.text)
      const bearer = { authorization: `Bearer ${JSON.parse(mini.text).token}` }
      const session = (headers: Record<string, string>) => new Browser(url).get("/api/wechat/session", headers)
      assert.strictEqual((yield* session(bearer)).status, 200)

      // sessions another service wrote into the shared store: appids this site does not serve, or
      // an app of the registry in a kind of session it does not log in
      const planted = (appId: string, kind: SessionStore.Kind) =>
        Effect.gen(function*() {
          const token = yield* SessionStore.makeToken
          const now = yield* Clock.currentTimeMillis
          yield* store.create(
            new SessionStore.Session({
              idHash: SessionStore.hashToken(token),
              appId,
              openid: "o-other-service",
              scopes: [],
              kind,
              createdAt: now,
              expiresAt: now + 3_600_000
            })
          )
          return Redacted.value(token)
        })
      for (
        const [appId, kind] of [
          ["wxotherservice01", "miniProgram"],
          ["wxotherservice01", "browser"],
          [MINI.appId, "browser"],
          [OA.appId, "miniProgram"]
        ] as const
      ) {
        const token = yield* planted(appId, kind)
        const headers = kind === "browser"
          ? { cookie: `wxauth_session=${token}` }
          : { authorization: `Bearer ${token}` }
        const refused = yield* session(headers)
        assert.strictEqual(refused.status, 401, `${appId} ${kind}: ${refused.text}`)
        assert.strictEqual((yield* new Browser(url).get("/me", headers)).status, 401, `${appId} ${kind}`)
      }

      // the registry fails: the session can be neither accepted nor refused; logged, a 500
      failing = true
      logLines.length = 0
      const down = yield* wechat.get("/api/wechat/session")
      assert.strictEqual(down.status, 500, down.text)
      assert.strictEqual(JSON.parse((yield* wechat.get("/me")).text).error, "SessionStoreError")
      assert.isTrue(logLines.some((line) => line.includes("the app registry failed")), logLines.join("\n"))
      assert.isFalse(logLines.some((line) => line.includes("database is down")), "never the resolver's message")
      // a logout does not ask the registry: it ends the session (see the logout tests below)
      const logoutDown = yield* wechat.post("/logout", {}, sameOrigin)
      assert.strictEqual(logoutDown.status, 303, logoutDown.text)
      failing = false
      yield* login(wechat, { path: `/login/${OA.appId}` })
      assert.strictEqual((yield* wechat.get("/me")).status, 200)

      // the official account now answers as a mini program: its browser sessions do not fit
      kinds.set(OA.appId, "miniProgram")
      assert.strictEqual((yield* wechat.get("/me")).status, 401)
      kinds.set(OA.appId, "officialAccount")
      assert.strictEqual((yield* wechat.get("/me")).status, 200)

      // the apps leave the registry: their users are logged out at once, not when the sessions expire
      kinds.delete(OA.appId)
      kinds.delete(MINI.appId)
      assert.strictEqual((yield* wechat.get("/me")).status, 401)
      assert.strictEqual((yield* wechat.get("/api/wechat/session")).status, 401)
      assert.strictEqual((yield* session(bearer)).status, 401)
    }))
})

describe("WeChatLogin: a registry that fails", () => {
  const logLines: Array<string> = []
  const captureLogs = Logger.replace(
    Logger.defaultLogger,
    Logger.map(Logger.logfmtLogger, (line) => void logLines.push(line))
  )
  layer(
    Layer.provide(
      testApp(
        () => ({ apps: {}, registry: { kindOf: () => Effect.succeed("officialAccount" as const) } }),
        undefined,
        () =>
          WeChatApps.layer(
            { resolve: () => Effect.fail(new Error("RESOLVER-SECRET postgres://u:pw@db")) },
            { stateSecret: "a registry-wide secret, 32 chars" }
          ).pipe(Layer.provide(TokenStore.layerMemory), Layer.provide(WeChatHttpClient.layer()))
      ),
      captureLogs
    ),
    { excludeTestServices: true }
  )((it) => {
    it.effect("GET /login/<appid>: the server problem page, and the log says the registry failed (its reason only)", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        logLines.length = 0
        const page = yield* browser().get("/login/wxtenant0000001")
        assert.strictEqual(page.status, 500)
        assert.strictEqual(reasonOf(page.text), "server")
        const logged = logLines.filter((line) => line.includes("the app registry failed"))
        assert.strictEqual(logged.length, 1, logLines.join("\n"))
        assert.include(logged[0], "reason=Failed")
        assert.isFalse(logLines.some((line) => /RESOLVER-SECRET|pw@db/.test(line)), logLines.join("\n"))
      }))
  })
})

/** A registry site (OA, MINI) whose kindOf fails, leaves apps out or counts its calls on demand, and its service. */
const registrySite = Effect.gen(function*() {
  const kinds = new Map<string, "officialAccount" | "website" | "miniProgram">([
    [OA.appId, "officialAccount"],
    [MINI.appId, "miniProgram"]
  ])
  // failing: every kindOf fails; answers: how many more kindOf answer before they fail
  const registry = { failing: false, answers: Infinity, kinds, calls: 0 }
  const logouts: Array<{ readonly app: string; readonly everywhere: boolean }> = []
  const store = yield* SessionStore.makeMemory()
  const app = testApp(
    () => ({
      apps: {},
      registry: {
        kindOf: (appId) => {
          registry.calls += 1
          return registry.failing || registry.answers-- <= 0
            ? Effect.fail("the tenants' database is down")
            : Effect.succeed(kinds.get(appId))
        }
      },
      hooks: {
        onLogout: ({ everywhere, user }) => Effect.sync(() => void logouts.push({ app: user.app, everywhere }))
      }
    }),
    undefined,
    (sandboxUrl) =>
      Layer.merge(
        sandboxRegistry(sandboxUrl, [OA, MINI]),
        Layer.succeed(SessionStore.SessionStore, store)
      )
  )
  const context = yield* Layer.build(app)
  const { url } = Context.get(context, TestServer)
  const service = Context.get(context, WeChatLogin.WeChatLogin)
  /** A browser logged in to the official account, and a copy of its cookies (another tab, a thief's). */
  const loggedIn = Effect.gen(function*() {
    const browser = new Browser(url)
    const { answer } = yield* login(browser, { path: `/login/${OA.appId}` })
    assert.strictEqual(answer.status, 303, answer.text)
    const me = yield* browser.get("/me")
    assert.strictEqual(me.status, 200, me.text)
    const copy = { cookie: Array.from(browser.cookies, ([name, value]) => `${name}=${value}`).join("; ") }
    return { browser, copy, user: JSON.parse(me.text) as CurrentWeChatUser.WeChatUser }
  })
  const status = (headers: Record<string, string>) =>
    Effect.map(new Browser(url).get("/api/wechat/session", headers), (answer) => answer.status)
  return { registry, logouts, url, service, loggedIn, status }
})

describe("WeChatLogin: a logout ends the stored session whatever the registry says", () => {
  it.scopedLive("POST /logout while the registry fails: the session ends (a copy of the cookie is 401 once it is back)", () =>
    Effect.gen(function*() {
      const { loggedIn, logouts, registry, status, url } = yield* registrySite
      const { browser, copy } = yield* loggedIn
      registry.failing = true
      const out = yield* browser.post("/logout", {}, { origin: url })
      assert.strictEqual(out.status, 303, out.text)
      registry.failing = false
      assert.strictEqual(yield* status(copy), 401)
      assert.deepStrictEqual(logouts, [{ app: OA.appId, everywhere: false }])
    }))

  it.scopedLive("POST /logout while the tenant is out of the registry: the session ends (401 once it is back)", () =>
    Effect.gen(function*() {
      const { loggedIn, registry, status, url } = yield* registrySite
      const { browser, copy } = yield* loggedIn
      const other = yield* loggedIn
      registry.kinds.delete(OA.appId)
      assert.strictEqual((yield* browser.post("/logout", {}, { origin: url })).status, 303)
      assert.strictEqual((yield* other.browser.post("/logout/everywhere", {}, { origin: url })).status, 303)
      registry.kinds.set(OA.appId, "officialAccount")
      assert.strictEqual(yield* status(copy), 401)
      assert.strictEqual(yield* status(other.copy), 401)
    }))

  it.scopedLive("the service's logout and logoutEverywhere while the tenant is out or the registry fails: the sessions end", () =>
    Effect.gen(function*() {
      const { loggedIn, logouts, registry, service, status } = yield* registrySite
      const one = yield* loggedIn
      const two = yield* loggedIn
      registry.kinds.delete(OA.appId)
      yield* service.logout(one.user)
      registry.kinds.set(OA.appId, "officialAccount")
      assert.strictEqual(yield* status(one.copy), 401)
      assert.strictEqual(yield* status(two.copy), 200)
      registry.failing = true
      const ended = yield* service.logoutEverywhere(two.user)
      registry.failing = false
      assert.isAtLeast(ended, 1)
      assert.strictEqual(yield* status(two.copy), 401)
      assert.deepStrictEqual(logouts, [{ app: OA.appId, everywhere: false }, { app: OA.appId, everywhere: true }])
      // a session that is over: logout does nothing, logoutEverywhere is Unauthenticated, as before
      yield* service.logout(one.user)
      assert.strictEqual((yield* Effect.flip(service.logoutEverywhere(one.user)))._tag, "Unauthenticated")
    }))

  it.scopedLive("a login replaces this browser's session while the registry fails for it: the old one ends", () =>
    Effect.gen(function*() {
      const { loggedIn, registry, status } = yield* registrySite
      const { browser, copy } = yield* loggedIn
      const authorize = yield* startLogin(browser, `/login/${OA.appId}`)
      const callback = yield* consent(browser, authorize)
      // the callback's own app answers; the registry blips after it
      registry.answers = 1
      const answer = yield* browser.get(callback)
      registry.answers = Infinity
      assert.strictEqual(answer.status, 303, answer.text)
      assert.strictEqual((yield* browser.get("/me")).status, 200, "the new session")
      assert.strictEqual(yield* status(copy), 401, "the session the login replaced")
    }))
})

describe("WeChatLogin: kindOf, asked for every request with a registry session, is bounded", () => {
  it.scopedLive("getUser and getToken ask kindOf once (the app that accepted the session), as any request does", () =>
    Effect.gen(function*() {
      const { loggedIn, registry, service } = yield* registrySite
      const { browser, user } = yield* loggedIn
      registry.calls = 0
      const profile = yield* browser.get("/profile")
      assert.strictEqual(profile.status, 200, profile.text)
      assert.strictEqual(registry.calls, 2, "currentUser once, getUser once")
      registry.calls = 0
      yield* service.getUser(user)
      assert.strictEqual(registry.calls, 1, "getUser")
      registry.calls = 0
      assert.isTrue(Option.isSome(yield* service.getToken(user)))
      assert.strictEqual(registry.calls, 1, "getToken")
    }))

  it.scoped("a kindOf that never answers: the request fails (SessionStoreError) after 5 seconds, not the hooks' 30", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore.makeMemory()
      let hangs = false
      const service = Context.get(
        yield* Layer.build(
          WeChatLogin.layer({
            publicUrl: "http://app.test",
            apps: {},
            registry: { kindOf: () => hangs ? Effect.never : Effect.succeed("officialAccount" as const) }
          }).pipe(
            Layer.provide(Layer.merge(
              WeChatApps.layer(
                { apps: [{ appId: OA.appId, appSecret: OA.secret }] },
                { stateSecret: "a registry-wide secret, 32 chars" }
              ).pipe(Layer.provide(TokenStore.layerMemory), Layer.provide(WeChatHttpClient.layer())),
              Layer.succeed(SessionStore.SessionStore, store)
            ))
          )
        ),
        WeChatLogin.WeChatLogin
      )
      const token = yield* SessionStore.makeToken
      const now = yield* Clock.currentTimeMillis
      yield* store.create(
        new SessionStore.Session({
          idHash: SessionStore.hashToken(token),
          appId: OA.appId,
          openid: "o-alice",
          scopes: [],
          kind: "browser",
          createdAt: now,
          expiresAt: now + 3_600_000
        })
      )
      const request = HttpServerRequest.fromWeb(
        new Request("http://app.test/", { headers: { cookie: `wxauth_session=${Redacted.value(token)}` } })
      )
      const current = service.currentUser.pipe(Effect.provideService(HttpServerRequest.HttpServerRequest, request))
      assert.strictEqual((yield* current).openid, "o-alice")

      hangs = true
      const fiber = yield* Effect.fork(Effect.flip(current))
      yield* TestClock.adjust("4999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "still asking kindOf")
      yield* TestClock.adjust("1 millis")
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
      const done = yield* Fiber.poll(fiber)
      assert.isTrue(Option.isSome(done), "answered at 5 seconds")
      assert.strictEqual((yield* Fiber.join(fiber))._tag, "SessionStoreError")
    }).pipe(Effect.provide(TestContext.TestContext)))
})

describe("WeChatLogin: the onLogout hook", () => {
  const events: Array<{ readonly openid: string; readonly app: string; readonly everywhere: boolean }> = []
  let failing = false
  const hooks: WeChatLogin.Hooks = {
    onLogout: ({ everywhere, user }) =>
      failing
        ? Effect.fail("the app's database is down")
        : Effect.sync(() => {
          events.push({ openid: user.openid, app: user.app, everywhere })
        })
  }
  layer(testApp(() => ({ hooks })), { excludeTestServices: true })((it) => {
    it.effect("every way of logging out tells the app once, after the session ended; its failure does not undo the logout", () =>
      Effect.gen(function*() {
        const { browser, openids } = yield* setup
        const sameOrigin = (b: Browser) => ({ origin: new URL(b.base).origin })
        const bob = openids[OA.appId].bob
        const wechat = browser()

        yield* login(wechat, { user: "bob" })
        assert.strictEqual((yield* wechat.post("/logout", {}, sameOrigin(wechat))).status, 303)
        assert.deepStrictEqual(events.splice(0), [{ openid: bob, app: "official", everywhere: false }])

        yield* login(wechat, { user: "bob" })
        assert.strictEqual((yield* wechat.post("/logout/everywhere", {}, sameOrigin(wechat))).status, 303)
        assert.deepStrictEqual(events.splice(0), [{ openid: bob, app: "official", everywhere: true }])

        yield* login(wechat, { user: "bob" })
        const api = yield* wechat.request("POST", "/api/wechat/logout", { body: "{}", headers: sameOrigin(wechat) })
        assert.strictEqual(api.status, 204)
        assert.deepStrictEqual(events.splice(0), [{ openid: bob, app: "official", everywhere: false }])

        // no session: nothing ended, nobody told
        assert.strictEqual((yield* wechat.post("/logout", {}, sameOrigin(wechat))).status, 303)
        assert.deepStrictEqual(events, [])

        // the service's own logout and logoutEverywhere
        const service = yield* WeChatLogin.WeChatLogin
        for (const everywhere of [false, true]) {
          yield* login(wechat, { user: "bob" })
          const user = JSON.parse((yield* wechat.get("/me")).text) as CurrentWeChatUser.WeChatUser
          yield* everywhere ? service.logoutEverywhere(user) : service.logout(user)
          assert.strictEqual((yield* wechat.get("/me")).status, 401)
          assert.deepStrictEqual(events.splice(0), [{ openid: bob, app: "official", everywhere }])
        }

        failing = true
        yield* login(wechat, { user: "bob" })
        const out = yield* wechat.post("/logout", {}, sameOrigin(wechat))
        failing = false
        assert.strictEqual(out.status, 303, "the logout completes")
        assert.include(cookieAttributes(out, "wxauth_session"), "max-age=0")
        assert.strictEqual((yield* wechat.get("/me")).status, 401, "the session is over")
        assert.deepStrictEqual(events, [])
      }))
  })
})

describe("WeChatLogin: the app's own pages", () => {
  const problems: Array<WeChatLogin.ProblemPageContext> = []
  const openInWeChat: Array<WeChatLogin.OpenInWeChatPageContext> = []
  /** What the renderers do: answer their markup, throw, or return something that is not a string. */
  let mode: "markup" | "throw" | "not a string" | "tamper" = "markup"
  const logLines: Array<string> = []
  const captureLogs = Logger.replace(
    Logger.defaultLogger,
    Logger.map(Logger.logfmtLogger, (line) => void logLines.push(line))
  )
  /** Throws, or: the problem page as an `async` function that fails, the other one a number. */
  const misbehave = (renderer: "problem" | "openInWeChat"): unknown => {
    if (mode === "throw") throw new Error("renderer broke on sekrit-in-renderer")
    return renderer === "problem" ? Promise.reject(new Error("<html>late</html>")) : 42
  }
  const pages: WeChatLogin.Pages = {
    problem: (page) => {
      problems.push(page)
      if (mode === "tamper") {
        try {
          ;(page as { loginUrl: string | undefined }).loginUrl = "javascript:alert(1)"
        } catch {
          // frozen: the context is the package's
        }
        throw new Error("after tampering")
      }
      if (mode !== "markup") return misbehave("problem") as string
      return `<!DOCTYPE html><title>${WeChatLogin.escapeHtml(page.titleEn)}</title><h1 id="app-problem">${
        WeChatLogin.escapeHtml(page.title)
      }</h1><a href="${WeChatLogin.escapeHtml(page.loginUrl ?? page.homeUrl)}">go</a>`
    },
    openInWeChat: (page) => {
      openInWeChat.push(page)
      if (mode !== "markup") return misbehave("openInWeChat") as string
      return `<!DOCTYPE html><h1 id="app-open">在微信中打开</h1><code>${WeChatLogin.escapeHtml(page.link)}</code>`
    }
  }
  /** The headers every built-in page answers with: the custom page keeps them. */
  const assertPageHeaders = (headers: Headers) => {
    assert.strictEqual(headers.get("content-type"), "text/html; charset=utf-8")
    assert.strictEqual(
      headers.get("content-security-policy"),
      "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    assert.strictEqual(headers.get("x-content-type-options"), "nosniff")
    assert.strictEqual(headers.get("x-frame-options"), "DENY")
    assert.strictEqual(headers.get("referrer-policy"), "same-origin")
    assert.strictEqual(headers.get("cache-control"), "no-store")
  }
  const reset = (next: typeof mode) => {
    mode = next
    problems.length = 0
    openInWeChat.length = 0
    logLines.length = 0
  }

  layer(Layer.provide(testApp(() => ({ home: "/shop", pages })), captureLogs), { excludeTestServices: true })((it) => {
    it.effect("a problem: the app's page, with the built-in's status and headers, given the reason's texts and URLs", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        reset("markup")
        const page = yield* browser().get("/login/official/problem?reason=code-used")
        assert.strictEqual(page.status, 400)
        assertPageHeaders(page.headers)
        assert.strictEqual(
          page.text,
          `<!DOCTYPE html><title>This login link was already used</title><h1 id="app-problem">登录链接已被使用</h1><a href="/login/official">go</a>`
        )
        assert.deepStrictEqual(problems, [{
          reason: "code-used",
          status: 400,
          title: "登录链接已被使用",
          titleEn: "This login link was already used",
          text: "每个登录码只能使用一次。如果这是你刚刚用过的链接，请重新登录。",
          textEn: "Each login code works once. If you just used this link, please log in again.",
          loginUrl: "/login/official",
          homeUrl: "/shop"
        }])
        // an unknown reason is not-found as before, and nothing of the query reaches the renderer;
        // a problem a new login does not fix has no loginUrl
        problems.length = 0
        const unknown = yield* browser().get("/login/official/problem?reason=%3Cscript%3Ex&returnTo=%2Fevil")
        assert.strictEqual(unknown.status, 404)
        assert.include(unknown.text, `id="app-problem"`)
        assert.strictEqual(problems.length, 1)
        assert.strictEqual(problems[0].reason, "not-found")
        assert.isUndefined(problems[0].loginUrl)
        assert.notInclude(JSON.stringify(problems[0]), "script")
        assert.notInclude(JSON.stringify(problems[0]), "evil")
        // a problem answered by any browser route: an unknown path under the login
        const missing = yield* browser().get("/login/official/nothing/here")
        assert.strictEqual(missing.status, 404)
        assertPageHeaders(missing.headers)
        assert.include(missing.text, `id="app-problem">页面不存在</h1>`)
        assert.deepStrictEqual(logLines.filter((line) => line.includes("pages.")), [], "nothing failed")
      }))

    it.effect("a phone browser outside WeChat, at an official account's login: the app's open-in-WeChat page", () =>
      Effect.gen(function*() {
        const { browser, url } = yield* setup
        reset("markup")
        const page = yield* browser(userAgents.phone).get("/login/official?returnTo=%2Forders")
        assert.strictEqual(page.status, 200)
        assertPageHeaders(page.headers)
        assert.strictEqual(page.setCookies.length, 0, "no login started")
        assert.strictEqual(
          page.text,
          `<!DOCTYPE html><h1 id="app-open">在微信中打开</h1><code>${url}/login/official?returnTo=%2Forders</code>`
        )
        assert.deepStrictEqual(openInWeChat, [{
          link: `${url}/login/official?returnTo=%2Forders`,
          qrLoginUrl: "/login/web?returnTo=%2Forders",
          homeUrl: "/shop"
        }])
      }))

    it.effect("a renderer that throws: the built-in page answers, and the log names the renderer only", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        reset("throw")
        const problem = yield* browser().get("/login/official/problem?reason=code-used&q=sekrit-in-query")
        assert.strictEqual(problem.status, 400)
        assertPageHeaders(problem.headers)
        assert.include(problem.text, `id="wxauth-problem" data-reason="code-used"`)
        assert.include(problem.text, "登录链接已被使用")
        assert.include(problem.text, `id="wxauth-try-again" href="/login/official"`)
        assert.include(problem.text, `id="wxauth-home" href="/shop"`)
        const open = yield* browser(userAgents.phone).get("/login/official")
        assert.strictEqual(open.status, 200)
        assert.include(open.text, "请在微信中打开此链接")
        assert.include(open.text, `id="wxauth-qr-option" href="/login/web"`)
        assert.strictEqual(problems.length + openInWeChat.length, 2, "each renderer was asked")
        const warnings = logLines.filter((line) => line.includes("the built-in page was served"))
        assert.strictEqual(warnings.length, 2, logLines.join("\n"))
        assert.include(warnings[0], "page=pages.problem")
        assert.include(warnings[0], "failure=threw")
        assert.include(warnings[1], "page=pages.openInWeChat")
        for (const line of warnings) {
          assert.include(line, "level=WARN")
          assert.notInclude(line, "sekrit")
        }
      }))

    it.effect("a renderer that returns something other than a string (a rejected Promise, a number): the built-in page answers", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        reset("not a string")
        const problem = yield* browser().get("/login/official/problem?reason=denied")
        assert.strictEqual(problem.status, 403)
        assertPageHeaders(problem.headers)
        assert.include(problem.text, `data-reason="denied"`)
        assert.include(problem.text, "你拒绝了授权")
        assert.notInclude(problem.text, "late")
        const open = yield* browser(userAgents.phone).get("/login")
        assert.strictEqual(open.status, 200)
        assert.include(open.text, "请在微信中打开此链接")
        assert.strictEqual(problems.length + openInWeChat.length, 2, "each renderer was asked")
        const warnings = logLines.filter((line) => line.includes("the built-in page was served"))
        assert.strictEqual(warnings.length, 2, logLines.join("\n"))
        assert.include(warnings[0], "page=pages.problem")
        assert.include(warnings[0], "returned object")
        assert.include(warnings[1], "page=pages.openInWeChat")
        assert.include(warnings[1], "returned number")
        // the async renderer's rejection is handled: the process stays up, the server answers
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
        assert.strictEqual((yield* browser().get("/login/official/problem?reason=busy")).status, 503)
      }))

    it.effect("a renderer cannot change the context the built-in page falls back on", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        reset("tamper")
        const problem = yield* browser().get("/login/official/problem?reason=state")
        assert.strictEqual(problem.status, 400)
        assert.include(problem.text, `id="wxauth-try-again" href="/login/official"`)
        assert.notInclude(problem.text, "javascript:")
      }))
  })
})
