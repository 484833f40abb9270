/**
 * A `Cookie` header that carries one of the login's cookies (the binding, the session) twice: a
 * browser never sends two of them for one host on its own, so one was planted (a sibling
 * subdomain's `Domain` cookie over http, a nameless cookie whose value reads as a `__Host-` one),
 * and the first one may be the planted one. Neither is read: the callback answers as without a
 * binding, a request as without a session. Over https (the `__Host-` names) and over http.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Browser, consent, startLogin, userAgents } from "@wxauth/test-support"
import * as Effect from "effect/Effect"
import { testApp, TestServer } from "./helpers.js"

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
    layer(testApp(options), { excludeTestServices: true })((it) => {
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
    })
  })
}
