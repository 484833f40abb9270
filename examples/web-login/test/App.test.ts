/**
 * The web app over HTTP, in demo mode: the app and the sandbox WeChat on free ports in this
 * process, a SQLite store, and a cookie-keeping client that sees every redirect. The login, its
 * cookies and sessions are `@wxauth/http`'s: these tests check, through the example, every security
 * property the example's own login had (browser-bound state, replayed callbacks, open redirects,
 * cookie flags, logout CSRF, logout and expiry on the server).
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, layer } from "@effect/vitest"
import { WeChatLogin } from "@wxauth/http"
import { Browser, consent, cookieAttributes, rawRequest, sandboxControl, userAgents } from "@wxauth/test-support"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { WebLoginServer } from "../src/Server.js"
import {
  demoApp,
  followToError,
  followToProblem,
  login,
  MINI,
  OA,
  sessionUser,
  startLogin,
  tempSqliteFile,
  textOf,
  WEB
} from "./helpers.js"

const session = "wxauth_session"
const binding = "wxauth_binding"
const isRandomToken = (value: string | undefined) => value !== undefined && /^[A-Za-z0-9_-]{43}$/.test(value)

const setup = Effect.gen(function*() {
  const server = yield* WebLoginServer
  const sandboxUrl = Option.getOrThrow(server.sandboxUrl)
  const openids = (yield* sandboxControl(sandboxUrl, "GET", "config")).openids as Record<
    string,
    Record<string, string>
  >
  const stats = sandboxControl(sandboxUrl, "GET", "stats") as Effect.Effect<Record<string, number>>
  return {
    url: server.url,
    sandboxUrl,
    openids,
    stats,
    browser: (userAgent?: string) => new Browser(server.url, userAgent === undefined ? {} : { userAgent })
  }
})

/** Where an answer goes, as a path and query. */
const target = (location: string | undefined) => {
  assert.isDefined(location)
  const url = new URL(location!)
  return url.pathname + url.search
}

/** A browser with no live session: the profile sends it to log in, to come back. */
const assertLoggedOut = (browser: Browser, message?: string) =>
  Effect.gen(function*() {
    const profile = yield* browser.get("/profile")
    assert.strictEqual(profile.status, 303, message)
    assert.strictEqual(target(profile.location), "/login?returnTo=%2Fprofile", message)
    assert.notInclude((yield* browser.get("/")).text, `id="logged-in"`, message)
  })

describe("web-login: a failure of the app's own hooks", () => {
  const file = tempSqliteFile()
  layer(demoApp({ SQLITE_FILE: file }), { excludeTestServices: true })((it) => {
    it.effect("the users' table gone: the callback still leaves its URL (303, no Referer) for the server page; no session", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DROP TABLE web_login_identities`).pipe(
          Effect.provide(SqliteClient.layer({ filename: file }))
        )
        const wechat = browser()
        const { answer } = yield* login(wechat)
        assert.strictEqual(answer.status, 303)
        assert.strictEqual(answer.headers.get("referrer-policy"), "no-referrer")
        const { page, reason } = yield* followToProblem(wechat, answer.location)
        assert.strictEqual(reason, "server")
        assert.strictEqual(page.status, 500)
        assert.isUndefined(wechat.cookies.get(session))
      }))
  })
})

describe("web-login: logout and the stored WeChat token", () => {
  const file = tempSqliteFile()
  /** How many WeChat tokens the site's store holds for `openid` (read from its SQLite file). */
  const storedTokens = (openid: string) =>
    Effect.flatMap(
      SqlClient.SqlClient,
      (sql) => sql<{ readonly n: number }>`SELECT COUNT(*) AS n FROM wxauth_tokens WHERE openid = ${openid}`
    ).pipe(
      Effect.map((rows) => Number(rows[0].n)),
      Effect.provide(SqliteClient.layer({ filename: file }))
    )
  layer(demoApp({ SQLITE_FILE: file }), { excludeTestServices: true })((it) => {
    it.effect("a plain logout keeps the user's WeChat token for their other sessions; logout everywhere removes it", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const phone = make()
        const desktop = make()
        const someoneElse = make()
        yield* login(phone, { user: "carol" })
        yield* login(desktop, { user: "carol" })
        yield* login(someoneElse, { user: "alice" })
        const carol = (yield* sessionUser(desktop)).openid
        const alice = (yield* sessionUser(someoneElse)).openid
        assert.strictEqual(yield* storedTokens(carol), 1)
        assert.strictEqual((yield* phone.post("/logout")).status, 303)
        assert.strictEqual(yield* storedTokens(carol), 1, "a plain logout keeps it")
        // the other session still gets the profile from WeChat with it
        assert.strictEqual((yield* desktop.post("/profile/refresh")).status, 303)
        assert.strictEqual((yield* desktop.post("/logout/everywhere")).status, 303)
        assert.strictEqual(yield* storedTokens(carol), 0, "logout everywhere removes it")
        assert.strictEqual(yield* storedTokens(alice), 1, "another user's stays")
        // the next login stores a new one
        yield* login(desktop, { user: "carol" })
        assert.strictEqual(yield* storedTokens(carol), 1)
      }))

    it.effect("logout everywhere ends the user's sessions in every WeChat app of the site (linked by unionid)", () =>
      Effect.gen(function*() {
        const { browser: make, sandboxUrl } = yield* setup
        // bob in WeChat on his phone (the official account) and on a desktop (the website app's QR
        // login): two openids, one unionid, one local user. His mini program login (the sandbox's
        // mini program gives no unionid) is another local user, whose session stays
        const phone = make(userAgents.wechat)
        const desktop = make(userAgents.desktop)
        const someoneElse = make(userAgents.desktop)
        yield* login(phone, { user: "bob" })
        yield* login(desktop, { path: "/login/website", user: "bob" })
        yield* login(someoneElse, { path: "/login/website", user: "alice" })
        const { code } = yield* sandboxControl(sandboxUrl, "POST", "miniprogram/login", {
          appId: MINI.appId,
          user: "bob"
        })
        const mini = JSON.parse((yield* make().postJson("/api/wechat/mini-program/mini/login", { code })).text)
        const miniSession = () => make().get("/api/wechat/session", { authorization: `Bearer ${mini.token}` })
        const onPhone = yield* sessionUser(phone)
        const onDesktop = yield* sessionUser(desktop)
        assert.notStrictEqual(onPhone.appId, onDesktop.appId)
        assert.strictEqual(onPhone.userId, onDesktop.userId, "one local user")
        assert.notStrictEqual(mini.userId, onPhone.userId, "not linked: no unionid")
        assert.strictEqual((yield* miniSession()).status, 200)
        assert.strictEqual(yield* storedTokens(onDesktop.openid), 1)
        const out = yield* phone.post("/logout/everywhere")
        assert.strictEqual(out.status, 303)
        yield* assertLoggedOut(phone)
        yield* assertLoggedOut(desktop, "bob's website-app session ended too")
        assert.strictEqual((yield* miniSession()).status, 200, "a session of another local user stays")
        assert.strictEqual(yield* storedTokens(onDesktop.openid), 0, "the website app's token is forgotten too")
        assert.strictEqual((yield* someoneElse.get("/profile")).status, 200, "alice stays logged in")
      }))
  })
})

describe("web-login over HTTP (demo mode)", () => {
  layer(demoApp(), { excludeTestServices: true })((it) => {
    it.effect("the home page offers the logins, the dev panel, and strict security headers", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const home = yield* browser().get("/")
        assert.strictEqual(home.status, 200)
        assert.include(home.text, `id="login" href="/login"`)
        assert.include(home.text, `id="login-official" href="/login/official"`)
        assert.include(home.text, `id="login-website" href="/login/website"`)
        assert.include(home.text, `id="dev-panel"`)
        assert.include(home.headers.get("content-security-policy") ?? "", "default-src 'none'")
        assert.strictEqual(home.headers.get("cache-control"), "no-store")
        assert.strictEqual(home.headers.get("x-content-type-options"), "nosniff")
      }))

    it.effect("/login picks the flow from the browser: WeChat's consent page, the QR login, or 'open in WeChat'", () =>
      Effect.gen(function*() {
        const { browser, url } = yield* setup
        const inWeChat = new URL((yield* browser(userAgents.wechat).get("/login")).location!)
        assert.strictEqual(inWeChat.pathname, "/connect/oauth2/authorize")
        assert.strictEqual(inWeChat.searchParams.get("appid"), OA.appId)
        const desktop = new URL((yield* browser(userAgents.desktop).get("/login")).location!)
        assert.strictEqual(desktop.pathname, "/connect/qrconnect")
        assert.strictEqual(desktop.searchParams.get("appid"), WEB.appId)
        assert.strictEqual(desktop.searchParams.get("redirect_uri"), `${url}/login/website/callback`)
        const phone = yield* browser(userAgents.phone).get("/login?returnTo=%2Fprofile")
        assert.strictEqual(phone.status, 200)
        assert.include(phone.text, "请在微信中打开此链接")
        assert.include(phone.text, `value="${url}/login?returnTo=%2Fprofile"`)
        assert.include(phone.text, `id="wxauth-qr-option" href="/login/website?returnTo=%2Fprofile"`)
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
        assert.strictEqual(authorize.searchParams.get("redirect_uri"), `${url}/login/official/callback`)
        assert.match(authorize.searchParams.get("state")!, /^[A-Za-z0-9]{1,128}$/)
        assert.strictEqual(authorize.hash, "#wechat_redirect")
        const attributes = cookieAttributes(first, binding)
        assert.include(attributes, "httponly")
        assert.include(attributes, "samesite=lax")
        assert.include(attributes, "path=/")
        const first_ = browser.cookies.get(binding)
        assert.isTrue(isRandomToken(first_))
        // a second login start in the same browser mints another binding
        yield* browser.get("/login/official")
        const second = browser.cookies.get(binding)
        assert.isTrue(isRandomToken(second))
        assert.notStrictEqual(second, first_)
      }))

    it.effect("official-account login: consent, callback, profile; the app's user is made; the browser never gets a token", () =>
      Effect.gen(function*() {
        const { browser: make, openids } = yield* setup
        const browser = make()
        const { answer } = yield* login(browser)
        assert.strictEqual(answer.status, 303, "the callback redirects away at once")
        assert.strictEqual(target(answer.location), "/profile")
        assert.strictEqual(answer.headers.get("referrer-policy"), "no-referrer")
        assert.strictEqual(answer.text, "")
        const attributes = cookieAttributes(answer, session)
        assert.include(attributes, "httponly")
        assert.include(attributes, "samesite=lax")

        const profile = yield* browser.get("/profile")
        assert.strictEqual(profile.status, 200)
        const openid = openids[OA.appId].alice
        assert.strictEqual(textOf(profile.text, "nickname"), "张三")
        assert.strictEqual(textOf(profile.text, "openid"), openid)
        assert.strictEqual(textOf(profile.text, "unionid"), "olzWokv71Boc1knksRfAoCKqK1O9")
        assert.match(textOf(profile.text, "user-id")!, /^u_[A-Za-z0-9_-]{12}$/)
        assert.match(textOf(profile.text, "token-expiry")!, /UTC \(还有 (119|120) 分钟|2 小时/)
        assert.match(textOf(profile.text, "session-expiry")!, /UTC$/)
        // as WeChat answers today: sex 0 and no places, so no gender or region, and a note saying why
        assert.isUndefined(textOf(profile.text, "gender-region"))
        assert.notInclude(profile.text, "广东")
        assert.notInclude(profile.text, "未知 unknown")
        const note = textOf(profile.text, "profile-note")!
        assert.include(note, "snsapi_userinfo")
        assert.include(note, "微信不再提供性别和地区")
        assert.include(note, "no longer gives gender or region")

        // the session cookie is a random token; the WeChat token stays on the server
        const cookie = browser.cookies.get(session)!
        const loginService = yield* WeChatLogin.WeChatLogin
        const token = Option.getOrThrow(yield* loginService.getToken(yield* sessionUser(browser)))
        for (const secret of [Redacted.value(token.accessToken), Redacted.value(token.refreshToken)]) {
          assert.notInclude(cookie, secret)
          assert.notInclude(profile.text, secret)
          assert.notInclude(answer.location!, secret)
        }
      }))

    it.effect("revisiting the callback URL in the same browser logs in nobody again; another browser is refused", () =>
      Effect.gen(function*() {
        const { browser: make, stats } = yield* setup
        const browser = make()
        const before = (yield* stats).access_token
        const { callbackUrl } = yield* login(browser)
        const cookie = browser.cookies.get(session)
        const again = yield* browser.get(callbackUrl)
        assert.strictEqual(again.status, 303)
        assert.strictEqual(target(again.location), "/")
        assert.strictEqual(again.headers.get("referrer-policy"), "no-referrer")
        assert.strictEqual(browser.cookies.get(session), cookie, "the same session")
        assert.strictEqual(textOf((yield* browser.get("/profile")).text, "nickname"), "张三")
        assert.strictEqual((yield* stats).access_token - before, 1, "the code was exchanged once")

        const stranger = make()
        const refused = yield* stranger.get(callbackUrl)
        const { page, reason } = yield* followToProblem(stranger, refused.location)
        assert.strictEqual(reason, "state-browser")
        assert.strictEqual(page.status, 400)
        assert.isUndefined(stranger.cookies.get(session))
      }))

    it.effect("a tampered state shows the problem page, and the code is not exchanged", () =>
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
        const { page, reason } = yield* followToProblem(browser, answer.location)
        assert.strictEqual(reason, "state")
        assert.strictEqual(page.status, 400)
        assert.include(page.text, "登录请求无效")
        assert.include(page.text, "This login request is not valid")
        assert.strictEqual((yield* stats).access_token, before)
        assert.isUndefined(browser.cookies.get(session))
      }))

    it.effect("denied consent shows the denied page", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const browser = make()
        const callbackUrl = yield* consent(browser, yield* startLogin(browser), { decision: "deny" })
        assert.isNull(new URL(callbackUrl).searchParams.get("code"))
        const { page, reason } = yield* followToProblem(browser, (yield* browser.get(callbackUrl)).location)
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
        const { page, reason } = yield* followToProblem(browser, (yield* browser.get(callbackUrl)).location)
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
        assert.strictEqual(target(panel.location), "/profile")
        const home = yield* browser.get("/")
        assert.include(textOf(home.text, "dev-faults")!, "access_token: errcode 40163")
        const { page, reason } = yield* followToProblem(browser, (yield* browser.get(callbackUrl)).location)
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
        assert.strictEqual(target(cleared.location), "/")
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
        const { page, reason } = yield* followToProblem(browser, (yield* browser.get(callbackUrl)).location)
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
        const once = yield* browser.post("/profile/refresh")
        assert.strictEqual(target(once.location), "/profile")
        assert.strictEqual(textOf((yield* browser.get("/profile")).text, "nickname"), "张三")

        yield* browser.post("/dev/faults", { preset: "userinfo-busy", back: "/profile" })
        const refresh = yield* browser.post("/profile/refresh")
        const { page, reason } = yield* followToError(browser, refresh.location)
        assert.strictEqual(reason, "busy")
        assert.strictEqual(page.status, 503)
        assert.include(page.text, `id="try-again" href="/profile"`)
        // WeChat being busy does not end the session
        assert.strictEqual((yield* browser.get("/profile")).status, 200)
      }))

    it.effect("refresh profile after WeChat's clock passes 2 hours refreshes the token once", () =>
      Effect.gen(function*() {
        const { browser: make, stats } = yield* setup
        const browser = make()
        yield* login(browser)
        yield* browser.get("/profile")
        const loginService = yield* WeChatLogin.WeChatLogin
        const user = yield* sessionUser(browser)
        const before = Option.getOrThrow(yield* loginService.getToken(user))
        const refreshes = (yield* stats).refresh_token
        yield* browser.post("/dev/faults", { preset: "clock-2h", back: "/profile" })
        const refresh = yield* browser.post("/profile/refresh")
        assert.strictEqual(refresh.status, 303)
        assert.strictEqual(target(refresh.location), "/profile")
        assert.strictEqual((yield* stats).refresh_token - refreshes, 1)
        const after = Option.getOrThrow(yield* loginService.getToken(user))
        assert.isAbove(after.obtainedAt, before.obtainedAt)
        assert.strictEqual(after.refreshExpiresAt, before.refreshExpiresAt, "consent still ends 30 days after login")
        assert.strictEqual(textOf((yield* browser.get("/profile")).text, "nickname"), "张三")
      }))

    it.effect("after 30 days WeChat refuses the refresh token: every session of the user ends, log in again", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const browser = make()
        const other = make()
        yield* login(browser, { user: "bob" })
        yield* login(other, { user: "bob" })
        for (const b of [browser, other]) assert.strictEqual((yield* b.get("/profile")).status, 200)
        yield* browser.post("/dev/faults", { preset: "clock-31d", back: "/profile" })
        const refresh = yield* browser.post("/profile/refresh")
        const { page, reason } = yield* followToProblem(browser, refresh.location)
        assert.strictEqual(reason, "relogin")
        assert.include(page.text, "请重新登录")
        assert.include(page.text, `href="/login/official"`)
        yield* assertLoggedOut(browser)
        yield* assertLoggedOut(other, "the user's other session ended too")
      }))

    it.effect("logout ends the session on the server and clears both cookies; the callback URL logs nobody in", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const browser = make()
        const { callbackUrl } = yield* login(browser, { user: "carol" })
        assert.strictEqual((yield* browser.get("/profile")).status, 200)
        const out = yield* browser.post("/logout")
        assert.strictEqual(out.status, 303)
        assert.strictEqual(target(out.location), "/")
        assert.isUndefined(browser.cookies.get(session))
        assert.isUndefined(browser.cookies.get(binding))
        yield* assertLoggedOut(browser)
        // the callback URL in this browser's history no longer logs anyone in
        const replay = yield* browser.get(callbackUrl)
        assert.strictEqual(new URL(replay.location!).searchParams.get("reason"), "state-browser")
      }))

    it.effect("logout everywhere ends every session of the user, and only theirs", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const phone = make()
        const desktop = make()
        const someoneElse = make()
        yield* login(phone, { user: "carol" })
        yield* login(desktop, { user: "carol" })
        yield* login(someoneElse, { user: "alice" })
        for (const browser of [phone, desktop, someoneElse]) {
          assert.strictEqual((yield* browser.get("/profile")).status, 200)
        }
        const out = yield* desktop.post("/logout/everywhere")
        assert.strictEqual(out.status, 303)
        assert.strictEqual(target(out.location), "/")
        yield* assertLoggedOut(desktop)
        yield* assertLoggedOut(phone, "carol's other browser")
        assert.strictEqual((yield* someoneElse.get("/profile")).status, 200, "alice stays logged in")
      }))

    it.effect("a forged, altered or never-issued session cookie is ignored", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const browser = make()
        yield* login(browser)
        const cookie = browser.cookies.get(session)!
        const user = yield* sessionUser(browser)
        const altered = cookie.slice(0, 20) + (cookie[20] === "A" ? "B" : "A") + cookie.slice(21)
        for (
          const [what, value] of [
            ["a well-formed token never issued", "A".repeat(43)],
            ["the token with one character changed", altered],
            ["the token's hash (what the store keeps)", user.sessionId],
            ["the token and more", `${cookie}x`],
            ["garbage", "%00<script>"]
          ] as const
        ) {
          const stranger = make()
          stranger.cookies.set(session, value)
          yield* assertLoggedOut(stranger, what)
        }
        assert.strictEqual((yield* browser.get("/profile")).status, 200, "the real cookie still works")
      }))

    it.effect("a cross-site POST is refused: the login's logouts, and the app's own forms", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const browser = make()
        yield* login(browser)
        for (const path of ["/logout", "/logout/everywhere"]) {
          const refused = yield* browser.post(path, {}, { origin: "https://evil.example" })
          assert.strictEqual(refused.status, 403, path)
          assert.include(refused.text, `data-reason="forbidden"`)
          const fetched = yield* browser.post(path, {}, { "sec-fetch-site": "cross-site" })
          assert.strictEqual(fetched.status, 403, `${path} (Sec-Fetch-Site)`)
        }
        const ownForm = yield* browser.post("/profile/refresh", {}, { origin: "https://evil.example" })
        assert.strictEqual(ownForm.status, 403)
        assert.include(ownForm.text, "这个请求来自其他网站")
        // no Origin, but the browser says cross-site: refused as the login's logouts are
        const fetchedForm = yield* browser.post("/profile/refresh", {}, { "sec-fetch-site": "cross-site" })
        assert.strictEqual(fetchedForm.status, 403, "/profile/refresh (Sec-Fetch-Site)")
        // a sibling subdomain is same-site, not this site: refused as the login's logouts refuse it
        for (const path of ["/logout", "/profile/refresh"]) {
          const sibling = yield* browser.post(path, {}, { "sec-fetch-site": "same-site" })
          assert.strictEqual(sibling.status, 403, `${path} (Sec-Fetch-Site: same-site)`)
        }
        const json = yield* browser.request("POST", "/api/wechat/logout", {
          headers: { origin: "https://evil.example" }
        })
        assert.strictEqual(json.status, 403)
        assert.strictEqual((yield* browser.get("/profile")).status, 200, "still logged in")
      }))

    it.effect("returnTo: a path on this site is where the login lands; anything else is dropped", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const browser = make()
        // a logged-out profile sends the browser to log in and come back, query and all
        const toLogin = yield* browser.get("/profile?tab=1")
        assert.strictEqual(target(toLogin.location), "/login?returnTo=%2Fprofile%3Ftab%3D1")
        const { answer } = yield* login(browser, { path: toLogin.location! })
        assert.strictEqual(target(answer.location), "/profile?tab=1")
        for (const evil of ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]) {
          const other = make()
          const { answer } = yield* login(other, { path: `/login/official?returnTo=${encodeURIComponent(evil)}` })
          assert.strictEqual(new URL(answer.location!).href, new URL("/profile", other.base).href, evil)
        }
      }))

    it.effect("returnTo outside Latin-1 is percent-encoded: the login lands there, not on an empty 500", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const browser = make()
        const { answer } = yield* login(browser, { path: "/login/official?returnTo=/%E4%B8%AD" })
        assert.strictEqual(answer.status, 303, answer.text)
        assert.strictEqual(new URL(answer.location!).pathname, "/%E4%B8%AD")
        assert.strictEqual(answer.headers.get("referrer-policy"), "no-referrer")
        assert.isDefined(browser.cookies.get(session), "logged in")
        const landed = yield* browser.get(answer.location!)
        assert.strictEqual(landed.status, 404, "the app's own page for that path")
        assert.include(landed.text, "页面不存在")

        const other = make()
        const withQuery = yield* login(other, {
          path: "/login/official?returnTo=%2Fprofile%3Fname%3D%E5%BC%A0%E4%B8%89"
        })
        assert.strictEqual(withQuery.answer.status, 303, withQuery.answer.text)
        assert.strictEqual(target(withQuery.answer.location), "/profile?name=%E5%BC%A0%E4%B8%89")
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

    it.effect("website QR login: its own openid, the same unionid, and the same local user (linked by unionid)", () =>
      Effect.gen(function*() {
        const { browser: make, openids } = yield* setup
        const inWeChat = make()
        yield* login(inWeChat)
        const localUser = textOf((yield* inWeChat.get("/profile")).text, "user-id")
        const browser = make(userAgents.desktop)
        const authorizeUrl = new URL(yield* startLogin(browser, "/login/website"))
        assert.strictEqual(authorizeUrl.pathname, "/connect/qrconnect")
        assert.strictEqual(authorizeUrl.searchParams.get("appid"), WEB.appId)
        assert.strictEqual(authorizeUrl.searchParams.get("scope"), "snsapi_login")
        const callbackUrl = yield* consent(browser, authorizeUrl.href)
        assert.strictEqual(new URL(callbackUrl).pathname, "/login/website/callback")
        const answer = yield* browser.get(callbackUrl)
        assert.strictEqual(answer.status, 303)
        assert.strictEqual(answer.headers.get("referrer-policy"), "no-referrer")
        const profile = yield* browser.get("/profile")
        assert.strictEqual(textOf(profile.text, "nickname"), "张三")
        assert.strictEqual(textOf(profile.text, "openid"), openids[WEB.appId].alice)
        assert.notStrictEqual(openids[WEB.appId].alice, openids[OA.appId].alice)
        assert.strictEqual(textOf(profile.text, "unionid"), "olzWokv71Boc1knksRfAoCKqK1O9")
        assert.include(textOf(profile.text, "login-method")!, WEB.appId)
        assert.strictEqual(textOf(profile.text, "user-id"), localUser, "one local user for both apps")
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
        const login = yield* browser.get("/login/official/problem?reason=%3Cscript%3E")
        assert.strictEqual(login.status, 404)
        assert.notInclude(login.text, "<script>")
        assert.strictEqual((yield* browser.get("/login/nothing-here")).status, 404)
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
        const copy = browser.cookies.get(session)
        assert.isDefined(copy)
        const thief = make()
        thief.cookies.set(session, copy!)
        assert.strictEqual((yield* thief.get("/profile")).status, 200, "the copy works while the session lasts")

        yield* browser.post("/logout")
        yield* assertLoggedOut(thief)

        // bob logs in again (a token is stored again): the old copy still opens nothing
        yield* login(browser, { user: "bob" })
        assert.strictEqual((yield* browser.get("/profile")).status, 200)
        yield* assertLoggedOut(thief, "after bob's new login")
      }))

    it.effect("the session cookie is an opaque random token: no openid in it", () =>
      Effect.gen(function*() {
        const { browser: make, openids } = yield* setup
        const browser = make()
        yield* login(browser)
        const cookie = browser.cookies.get(session)!
        assert.isTrue(isRandomToken(cookie))
        assert.notInclude(Buffer.from(cookie, "base64url").toString("latin1"), openids[OA.appId].alice)
        assert.notInclude(cookie, openids[OA.appId].alice)
      }))

    it.effect("login start mints a new binding: one planted in the browser cannot be used to take the login over", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const attacker = make()
        yield* startLogin(attacker)
        const planted = attacker.cookies.get(binding)!
        const victim = make()
        victim.cookies.set(binding, planted)
        const authorizeUrl = yield* startLogin(victim)
        assert.notStrictEqual(victim.cookies.get(binding), planted, "the planted binding is replaced")
        const callbackUrl = yield* consent(victim, authorizeUrl)
        assert.strictEqual((yield* victim.get(callbackUrl)).status, 303)
        // the attacker, holding the planted binding, replays the victim's callback URL at once
        const replay = yield* attacker.get(callbackUrl)
        assert.isUndefined(attacker.cookies.get(session), "the attacker is not logged in as the victim")
        assert.strictEqual(new URL(replay.location!).searchParams.get("reason"), "state-browser")
      }))

    it.effect("the binding is rotated after login: revisiting the callback URL logs in nobody again", () =>
      Effect.gen(function*() {
        const { browser: make, stats } = yield* setup
        const browser = make()
        const authorizeUrl = yield* startLogin(browser)
        const used = browser.cookies.get(binding)!
        const callbackUrl = yield* consent(browser, authorizeUrl)
        const answer = yield* browser.get(callbackUrl)
        assert.strictEqual(answer.status, 303)
        const fresh = browser.cookies.get(binding)
        assert.isTrue(isRandomToken(fresh), "a fresh binding cookie")
        assert.notStrictEqual(fresh, used, "not the one the login was bound to")
        const cookie = browser.cookies.get(session)

        // the Back button to the callback URL: still logged in, but no second login
        const exchanges = (yield* stats).access_token
        const again = yield* browser.get(callbackUrl)
        assert.strictEqual(again.status, 303)
        assert.strictEqual(target(again.location), "/")
        assert.strictEqual(again.headers.get("referrer-policy"), "no-referrer")
        assert.isFalse(again.setCookies.some((line) => line.startsWith(`${session}=`)), "no new session")
        assert.strictEqual(browser.cookies.get(session), cookie)
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
          `${url.replace("http:", "https:")}/login/official/callback`
        )
        const bindingCookie = cookieAttributes(start, `__Host-${binding}`)
        const callbackUrl = yield* consent(browser, start.location!)
        const answer = yield* browser.get(callbackUrl)
        assert.strictEqual(answer.status, 303)
        const sessionCookie = cookieAttributes(answer, `__Host-${session}`)
        for (const attributes of [bindingCookie, sessionCookie]) {
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
        const attackerSession = attacker.cookies.get(`__Host-${session}`)
        assert.isDefined(attackerSession)
        const authorizeUrl = yield* startLogin(attacker)
        const attackerBinding = attacker.cookies.get(`__Host-${binding}`)
        const attackerCallback = yield* consent(attacker, authorizeUrl, { user: "bob" })

        // a sibling subdomain can set `wxauth_*` cookies on the victim's browser, never `__Host-` ones
        const victim = new Browser(url, { https: true })
        victim.cookies.set(binding, attackerBinding!)
        const answer = yield* victim.get(attackerCallback)
        assert.strictEqual(new URL(answer.location!).searchParams.get("reason"), "state-browser")
        assert.deepStrictEqual([...victim.cookies.keys()], [binding], "no session cookie")
        const tossed = new Browser(url, { https: true })
        tossed.cookies.set(session, attackerSession!)
        yield* assertLoggedOut(tossed)
        // the same value under its own name is a live session: only the missing prefix refused it
        const prefixed = new Browser(url, { https: true })
        prefixed.cookies.set(`__Host-${session}`, attackerSession!)
        assert.strictEqual((yield* prefixed.get("/profile")).status, 200)
      }))

    it.effect("a leaked callback URL: its unused code works with anyone's own state (no PKCE); a used one, for nobody else", () =>
      Effect.gen(function*() {
        const { browser: make } = yield* setup
        const withState = (callbackUrl: string, state: string) => {
          const url = new URL(callbackUrl)
          url.searchParams.set("state", state)
          return url.href
        }
        // the victim consents, but the callback URL leaks before the victim's browser uses it
        const victim = make()
        const leaked = yield* consent(victim, yield* startLogin(victim))
        const attacker = make()
        const attackerState = new URL(yield* startLogin(attacker)).searchParams.get("state")!
        const taken = yield* attacker.get(withState(leaked, attackerState))
        assert.strictEqual(target(taken.location), "/profile")
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
        assert.strictEqual(target((yield* victim2.get(used)).location), "/profile")
        const attacker2 = make()
        const state2 = new URL(yield* startLogin(attacker2)).searchParams.get("state")!
        const refused = yield* attacker2.get(withState(used, state2))
        assert.strictEqual(new URL(refused.location!).searchParams.get("reason"), "code-used")
        assert.isUndefined(attacker2.cookies.get(session))
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

    it.effect("a request-target the URL parser refuses (absolute-form `http://[`): the 404 page with the security headers", () =>
      Effect.gen(function*() {
        const { url } = yield* setup
        const problems: Array<string> = []
        for (const target of ["http://[/", "http://[/profile", "http://[/error?reason=denied", "http://[/login"]) {
          const answer = yield* rawRequest(url, `GET ${target} HTTP/1.1`)
          const [head, body = ""] = answer.split("\r\n\r\n")
          const status = head.split("\r\n")[0]
          if (!status.startsWith("HTTP/1.1 404")) problems.push(`${target}: ${status}`)
          if (!/^content-security-policy:/im.test(head)) problems.push(`${target}: no security headers`)
          if (!body.includes("页面不存在")) problems.push(`${target}: not the 404 page`)
        }
        assert.deepStrictEqual(problems, [])
      }))
  })
})
