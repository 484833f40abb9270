/**
 * A `Cookie` header that carries one of the login's cookies (the binding, the session) twice: a
 * browser never sends two of them for one host on its own, so one was planted (a sibling
 * subdomain's `Domain` cookie over http, a nameless cookie whose value reads as a `__Host-` one),
 * and the first one may be the planted one. Neither is read: the callback answers as without a
 * binding, a request as without a session. But `POST /logout` ends the sessions of every copy (up
 * to 8 distinct tokens; more end none, answered as a store failure): read as no session, it
 * answered 303 with cleared cookies and left the browser's session alive. So do its JSON twins
 * (they answered 401 and ended nothing), and a new login, which replaces the session(s) this browser
 * had (it left them alive), and which more copies never fail. Over https (the `__Host-` names) and
 * over http.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Browser, consent, startLogin, userAgents } from "@wxauth/test-support"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Crypto from "node:crypto"
import { testApp, TestServer } from "./helpers.js"

/** The distinct tokens a logout ends at most (`maxSessionCookies` of service.ts). */
const maxLogoutTokens = 8

const relative = (url: string) => {
  const parsed = new URL(url)
  return parsed.pathname + parsed.search
}

/** A whole login at the website app, its callback loaded on the test server (the public host's stand-in). */
const loginAs = (browser: Browser, user: string) =>
  Effect.gen(function*() {
    const authorize = yield* startLogin(browser, "/login/web")
    return yield* browser.get(relative(yield* consent(browser, authorize, { user })))
  })

for (const https of [true, false]) {
  const prefix = https ? "__Host-" : ""
  const binding = `${prefix}wxauth_binding`
  const session = `${prefix}wxauth_session`
  const options = https ? () => ({ publicUrl: "https://login.example.com" }) : () => ({})

  describe(`a duplicated cookie over ${https ? "https" : "http"}`, () => {
    const lines: Array<string> = []
    const captureLogs = Logger.replace(
      Logger.defaultLogger,
      Logger.map(Logger.logfmtLogger, (line) => void lines.push(line))
    )
    layer(Layer.provide(testApp(options), captureLogs), { excludeTestServices: true })((it) => {
      it.effect(`two ${binding} cookies: the attacker's callback logs the victim in as nobody, in either order`, () =>
        Effect.gen(function*() {
          const { url } = yield* TestServer
          // the attacker starts a login and consents as bob, but does not load the callback
          const attacker = new Browser(url, { userAgent: userAgents.desktop })
          const authorize = yield* startLogin(attacker, "/login/web")
          const attackerBinding = attacker.cookies.get(binding)!
          assert.isString(attackerBinding)
          const callback = relative(yield* consent(attacker, authorize, { user: "bob" }))
          // the victim has a binding of their own (a login started earlier)
          const victim = new Browser(url, { userAgent: userAgents.desktop })
          yield* startLogin(victim, "/login/web")
          const victimBinding = victim.cookies.get(binding)!
          for (
            const cookie of [
              `${binding}=${attackerBinding}; ${binding}=${victimBinding}`,
              `${binding}=${victimBinding}; ${binding}=${attackerBinding}`,
              `${binding}=${attackerBinding}; ${binding}=${attackerBinding}`
            ]
          ) {
            const answer = yield* new Browser(url, { userAgent: userAgents.desktop }).get(callback, { cookie })
            assert.strictEqual(answer.status, 303, cookie)
            assert.isFalse(answer.setCookies.some((line) => line.startsWith(`${session}=`)), `no session: ${cookie}`)
            assert.strictEqual(new URL(answer.location!).searchParams.get("reason"), "state-browser", cookie)
          }
          // the one binding alone is read (the attacker's own browser finishes bob's login)
          const own = yield* new Browser(url, { userAgent: userAgents.desktop }).get(callback, {
            cookie: `${binding}=${attackerBinding}`
          })
          assert.isTrue(own.setCookies.some((line) => line.startsWith(`${session}=`)), "a single binding is read")
        }))

      it.effect(`two ${session} cookies: the request is unauthenticated, in either order`, () =>
        Effect.gen(function*() {
          const { url } = yield* TestServer
          const alice = new Browser(url, { userAgent: userAgents.desktop })
          yield* loginAs(alice, "alice")
          const bob = new Browser(url, { userAgent: userAgents.desktop })
          yield* loginAs(bob, "bob")
          const a = alice.cookies.get(session)!
          const b = bob.cookies.get(session)!
          assert.isString(a)
          assert.isString(b)
          const me = (cookie: string) => new Browser(url).get("/me", { cookie })
          assert.strictEqual((yield* me(`${session}=${a}`)).status, 200, "one session cookie is read")
          for (const cookie of [`${session}=${b}; ${session}=${a}`, `${session}=${a}; ${session}=${b}`]) {
            const answer = yield* me(cookie)
            assert.strictEqual(answer.status, 401, cookie)
            assert.deepStrictEqual(JSON.parse(answer.text), { error: "Unauthenticated" })
          }
          const twice = yield* me(`${session}=${a}; other=1; ${session}=${a}`)
          assert.strictEqual(twice.status, 401, "the same value twice is still two cookies")
          // the login's own JSON endpoint too
          const api = yield* new Browser(url).get("/api/wechat/session", { cookie: `${session}=${b}; ${session}=${a}` })
          assert.strictEqual(api.status, 401)
        }))

      it.effect(`POST /logout with two ${session} cookies ends the sessions of both, in either order`, () =>
        Effect.gen(function*() {
          const { url } = yield* TestServer
          const sessionOf = (user: string) =>
            Effect.gen(function*() {
              const browser = new Browser(url, { userAgent: userAgents.desktop })
              yield* loginAs(browser, user)
              const token = browser.cookies.get(session)!
              assert.isString(token)
              return token
            })
          const me = (token: string) =>
            Effect.map(new Browser(url).get("/me", { cookie: `${session}=${token}` }), (a) => a.status)
          const logout = (path: string, cookie: string) =>
            new Browser(url).post(path, {}, { cookie, "sec-fetch-site": "same-origin" })
          const ended = (
            answer: { status: number; location: string | undefined; setCookies: ReadonlyArray<string> }
          ) => {
            assert.strictEqual(answer.status, 303)
            assert.strictEqual(new URL(answer.location!).pathname, "/")
            assert.isTrue(answer.setCookies.some((line) => line.startsWith(`${session}=;`)), "the cookie is cleared")
          }
          // planted before or after the browser's own: a junk value (over https: a nameless cookie
          // whose value is `__Host-wxauth_session=x`, which the browser sends as this very pair)
          for (const junk of ["planted", "x"]) {
            const a = yield* sessionOf("alice")
            ended(yield* logout("/logout", `${session}=${junk}; ${session}=${a}`))
            assert.strictEqual(yield* me(a), 401, `the browser's session ended (${junk} first)`)
            const c = yield* sessionOf("alice")
            ended(yield* logout("/logout", `${session}=${c}; ${session}=${junk}`))
            assert.strictEqual(yield* me(c), 401, `the browser's session ended (${junk} last)`)
          }
          // the planter's own token (bob's): both sessions end
          const a = yield* sessionOf("alice")
          const b = yield* sessionOf("bob")
          ended(yield* logout("/logout", `${session}=${b}; other=1; ${session}=${a}`))
          assert.strictEqual(yield* me(a), 401, "alice's session ended")
          assert.strictEqual(yield* me(b), 401, "the planted session ended too")
          // the same token 150 times (as many as a header of 16 KB holds, about), among junk: looked up once, ended
          const d = yield* sessionOf("alice")
          ended(
            yield* logout(
              "/logout",
              [`${session}=x`, ...Array.from({ length: 150 }, () => `${session}=${d}`)].join("; ")
            )
          )
          assert.strictEqual(yield* me(d), 401, "the copies' session ended")
          // everywhere: every session of both users
          const phone = yield* sessionOf("carol")
          const desktop = yield* sessionOf("carol")
          const planted = yield* sessionOf("bob")
          const other = yield* sessionOf("bob")
          ended(yield* logout("/logout/everywhere", `${session}=${planted}; ${session}=${phone}`))
          for (const token of [phone, desktop, planted, other]) assert.strictEqual(yield* me(token), 401, "everywhere")
        }))

      it.effect(`the JSON logouts with two ${session} cookies end the sessions of both, as POST /logout does`, () =>
        Effect.gen(function*() {
          const { url } = yield* TestServer
          const sessionOf = (user: string) =>
            Effect.gen(function*() {
              const browser = new Browser(url, { userAgent: userAgents.desktop })
              yield* loginAs(browser, user)
              const token = browser.cookies.get(session)!
              assert.isString(token)
              return token
            })
          const me = (token: string) =>
            Effect.map(new Browser(url).get("/me", { cookie: `${session}=${token}` }), (a) => a.status)
          const logout = (
            path: string,
            cookie: string,
            site: Record<string, string> = { "sec-fetch-site": "same-origin" }
          ) => new Browser(url).post(`/api/wechat${path}`, {}, { cookie, ...site })
          const cleared = (answer: { setCookies: ReadonlyArray<string> }) =>
            assert.isTrue(answer.setCookies.some((line) => line.startsWith(`${session}=;`)), "the cookie is cleared")
          for (const junk of ["planted", "x"]) {
            const a = yield* sessionOf("alice")
            const first = yield* logout("/logout", `${session}=${junk}; ${session}=${a}`)
            assert.strictEqual(first.status, 204, `a 204 (${junk} first)`)
            cleared(first)
            assert.strictEqual(yield* me(a), 401, `the browser's session ended (${junk} first)`)
            const c = yield* sessionOf("alice")
            const last = yield* logout("/logout", `${session}=${c}; ${session}=${junk}`)
            assert.strictEqual(last.status, 204, `a 204 (${junk} last)`)
            assert.strictEqual(yield* me(c), 401, `the browser's session ended (${junk} last)`)
          }
          // the planter's own token (bob's): both sessions end
          const a = yield* sessionOf("alice")
          const b = yield* sessionOf("bob")
          assert.strictEqual((yield* logout("/logout", `${session}=${b}; other=1; ${session}=${a}`)).status, 204)
          assert.strictEqual(yield* me(a), 401, "alice's session ended")
          assert.strictEqual(yield* me(b), 401, "the planted session ended too")
          // everywhere: every session of both users, counted
          const phone = yield* sessionOf("carol")
          const desktop = yield* sessionOf("carol")
          const planted = yield* sessionOf("bob")
          const other = yield* sessionOf("bob")
          const everywhere = yield* logout("/logout/everywhere", `${session}=${planted}; ${session}=${phone}`)
          assert.strictEqual(everywhere.status, 200)
          // (at least: a session of bob's an earlier test left counts too)
          assert.isAtLeast(JSON.parse(everywhere.text).revoked, 4)
          cleared(everywhere)
          for (const token of [phone, desktop, planted, other]) assert.strictEqual(yield* me(token), 401, "everywhere")
          // another site's request is refused, and ends nothing
          const e = yield* sessionOf("alice")
          for (const path of ["/logout", "/logout/everywhere"]) {
            const refused = yield* logout(path, `${session}=x; ${session}=${e}`, { origin: "https://evil.example.com" })
            assert.strictEqual(refused.status, 403, path)
            assert.deepStrictEqual(JSON.parse(refused.text)._tag, "CrossSiteRequest", path)
          }
          assert.strictEqual(yield* me(e), 200, "a cross-site logout ended nothing")
          // no copy is a live session: 401, as for one unknown token
          const none = yield* logout("/logout", `${session}=x; ${session}=${b}`)
          assert.strictEqual(none.status, 401)
          // more than 8 distinct tokens: none ends, a 500 as a store failure
          const unknown = Array.from(
            { length: maxLogoutTokens },
            () => `${session}=${Crypto.randomBytes(32).toString("base64url")}`
          )
          const tooMany = yield* logout("/logout", [...unknown, `${session}=${e}`].join("; "))
          assert.strictEqual(tooMany.status, 500)
          assert.strictEqual(JSON.parse(tooMany.text).error, "server")
          assert.strictEqual(yield* me(e), 200, "nothing was ended, and the answer does not say it was")
          // a mini program's bearer token decides: the cookies are not read
          const bearer = yield* logout("/logout", `${session}=x; ${session}=${e}`, {
            "sec-fetch-site": "same-origin",
            authorization: "Bearer nope"
          })
          assert.strictEqual(bearer.status, 401)
          assert.strictEqual(yield* me(e), 200, "a bearer request ends no cookie's session")
        }))

      it.effect(`a new login with two ${session} cookies ends the sessions of both; more copies never fail it`, () =>
        Effect.gen(function*() {
          const { url } = yield* TestServer
          const sessionOf = (user: string) =>
            Effect.gen(function*() {
              const browser = new Browser(url, { userAgent: userAgents.desktop })
              yield* loginAs(browser, user)
              const token = browser.cookies.get(session)!
              assert.isString(token)
              return token
            })
          const me = (token: string) =>
            Effect.map(new Browser(url).get("/me", { cookie: `${session}=${token}` }), (a) => a.status)
          /** A new login of `user` whose callback carries `cookies` beside the browser's binding: its new token. */
          const loginWith = (user: string, cookies: ReadonlyArray<string>) =>
            Effect.gen(function*() {
              const browser = new Browser(url, { userAgent: userAgents.desktop })
              const authorize = yield* startLogin(browser, "/login/web")
              const callback = relative(yield* consent(browser, authorize, { user }))
              const answer = yield* new Browser(url, { userAgent: userAgents.desktop }).get(callback, {
                cookie: [`${binding}=${browser.cookies.get(binding)}`, ...cookies].join("; ")
              })
              assert.strictEqual(answer.status, 303)
              assert.strictEqual(new URL(answer.location!).pathname, "/", "the login completed")
              const line = answer.setCookies.find((l) => l.startsWith(`${session}=`))
              assert.isString(line, "the login started a session")
              const token = line!.split(";")[0]!.slice(session.length + 1)
              assert.strictEqual(yield* me(token), 200, "the new session is live")
              return token
            })
          // one cookie: the session this browser had ends
          const one = yield* sessionOf("alice")
          yield* loginWith("alice", [`${session}=${one}`])
          assert.strictEqual(yield* me(one), 401, "the replaced session ended")
          // a planted junk copy, before or after the browser's own
          for (const junk of ["planted", "x"]) {
            const a = yield* sessionOf("alice")
            yield* loginWith("alice", [`${session}=${junk}`, `${session}=${a}`])
            assert.strictEqual(yield* me(a), 401, `the browser's old session ended (${junk} first)`)
            const c = yield* sessionOf("alice")
            yield* loginWith("alice", [`${session}=${c}`, `${session}=${junk}`])
            assert.strictEqual(yield* me(c), 401, `the browser's old session ended (${junk} last)`)
          }
          // the planter's own token (bob's): both end, the new login stands
          const a = yield* sessionOf("alice")
          const b = yield* sessionOf("bob")
          yield* loginWith("alice", [`${session}=${b}`, "other=1", `${session}=${a}`])
          assert.strictEqual(yield* me(a), 401, "alice's old session ended")
          assert.strictEqual(yield* me(b), 401, "the planted session ended too")
          // more than 8 distinct copies: the login completes all the same (nothing ended, logged)
          const d = yield* sessionOf("alice")
          const flood = Array.from(
            { length: maxLogoutTokens },
            () => `${session}=${Crypto.randomBytes(32).toString("base64url")}`
          )
          lines.length = 0
          yield* loginWith("alice", [...flood, `${session}=${d}`])
          assert.strictEqual(yield* me(d), 200, "too many copies: none is ended")
          assert.isTrue(
            lines.some((line) => line.includes("could not end a session") && line.includes("TooManySessionCookies")),
            "the login logs what it could not end"
          )
        }))

      it.effect(`POST /logout with more than ${maxLogoutTokens} distinct ${session} tokens ends none: a 500, as a store failure`, () =>
        Effect.gen(function*() {
          const { url } = yield* TestServer
          const browser = new Browser(url, { userAgent: userAgents.desktop })
          yield* loginAs(browser, "alice")
          const a = browser.cookies.get(session)!
          const me = () =>
            Effect.map(new Browser(url).get("/me", { cookie: `${session}=${a}` }), (answer) => answer.status)
          const unknown = (n: number) =>
            Array.from({ length: n }, () => `${session}=${Crypto.randomBytes(32).toString("base64url")}`)
          const logout = (cookies: ReadonlyArray<string>) =>
            new Browser(url).post("/logout", {}, { cookie: cookies.join("; "), "sec-fetch-site": "same-origin" })
          const tooMany = yield* logout([...unknown(maxLogoutTokens), `${session}=${a}`])
          assert.strictEqual(tooMany.status, 500)
          assert.isTrue(tooMany.setCookies.some((line) => line.startsWith(`${session}=;`)), "the cookie is cleared")
          assert.strictEqual(yield* me(), 200, "nothing was ended, and the answer does not say it was")
          const bound = yield* logout([...unknown(maxLogoutTokens - 1), `${session}=${a}`, `${session}=${a}`])
          assert.strictEqual(bound.status, 303)
          assert.strictEqual(yield* me(), 401, `${maxLogoutTokens} distinct tokens are ended`)
        }))
    })
  })
}
