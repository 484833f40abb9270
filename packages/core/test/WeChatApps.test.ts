import { assert, describe, it } from "@effect/vitest"
import {
  AppTokenStore,
  Component,
  StateToken,
  TokenStore,
  WeChatApps,
  WeChatConfig,
  WeChatError,
  type WeChatOAuth
} from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import {
  authorize,
  ComponentLive,
  deliver,
  managedMini,
  managedOfficial,
  manyOfficial,
  platform,
  usage
} from "./componentFixtures.js"

const redirectUri = "https://apps.example.com/wechat/callback"
const stateSecret = "the registry's state secret, long enough"

const officialAccount = (n: number): Sandbox.SandboxApp => ({
  appId: `wxsandboxoa${String(n).padStart(7, "0")}`,
  secret: `secret-of-official-account-${n}`,
  kind: "officialAccount",
  name: `Official account ${n}`,
  bound: true
})
const a = officialAccount(1)
const b = officialAccount(2)
const mini = Sandbox.defaultApps.miniProgram

const direct = (app: Sandbox.SandboxApp): WeChatApps.DirectApp => ({ appId: app.appId, appSecret: app.secret })

/** A sandbox with `apps`, and the registry on its in-process client with a memory token store. */
const registry = <E, R>(
  apps: WeChatApps.ListOptions | WeChatApps.ResolveOptions<E, R>,
  sandboxApps: ReadonlyArray<Sandbox.SandboxApp> = [a, b, mini]
) =>
  (WeChatApps.layer(apps as WeChatApps.ListOptions, { stateSecret }) as Layer.Layer<
    WeChatApps.WeChatApps,
    ConfigError.ConfigError,
    any
  >).pipe(
    Layer.provideMerge(Layer.merge(TokenStore.layerMemory, AppTokenStore.layerMemory)),
    Layer.provide(Sandbox.layerHttpClient),
    Layer.provideMerge(Sandbox.layer({ apps: sandboxApps }))
  ) as Layer.Layer<
    WeChatApps.WeChatApps | Sandbox.Sandbox | TokenStore.TokenStore | AppTokenStore.AppTokenStore,
    ConfigError.ConfigError
  >

const ListLayer = registry({ apps: [direct(a), direct(b), direct(mini)] })

/** Consents as `user` in `appId`'s consent page with the state of `authorizeUrl`, as a browser would. */
const consent = (appId: string, user: string, options?: { readonly binding?: string; readonly returnTo?: string }) =>
  Effect.gen(function*() {
    const apps = yield* WeChatApps.WeChatApps
    const sandbox = yield* Sandbox.Sandbox
    const { state, url } = yield* apps.authorizeUrl(appId, {
      redirectUri,
      scope: "snsapi_userinfo",
      binding: options?.binding,
      returnTo: options?.returnTo
    })
    const callback = yield* sandbox.approve({ appId, user, scope: "snsapi_userinfo", redirectUri, state })
    return { state, url, callback }
  })

/** A registry resolving A and B, and the appids it was asked to look up, in order. */
const countingRegistry = () => {
  const resolved: Array<string> = []
  const layer = registry({
    resolve: (appId: string) => {
      resolved.push(appId)
      return Effect.succeed([a, b].map(direct).find((app) => app.appId === appId))
    }
  })
  return { layer, resolved }
}

const builds = (service: "oauth" | "miniProgram" | "appToken") =>
  Effect.map(Metric.value(WeChatApps.buildsTotal.pipe(Metric.tagged("service", service))), (state) => state.count)

const stats = Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.stats)

/** Base62 as StateToken's comment describes it, for byte-level tampering. */
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
const digitsFor = (bytes: number) => {
  let length = 0
  for (let power = 1n; power < 1n << BigInt(8 * bytes); power *= 62n) length++
  return length
}
const stateBytes = (state: string): Buffer => {
  let n = 0
  while (digitsFor(n) < state.length) n++
  let value = 0n
  for (const c of state) value = value * 62n + BigInt(base62.indexOf(c))
  return Buffer.from(value.toString(16).padStart(2 * n, "0"), "hex")
}
const stateText = (bytes: Buffer): string => {
  let value = BigInt(`0x0${bytes.toString("hex")}`)
  let text = ""
  for (let i = 0; i < digitsFor(bytes.length); i++) {
    text = base62[Number(value % 62n)] + text
    value /= 62n
  }
  return text
}

const withState = (callback: string, state: string) => {
  const url = new URL(callback)
  url.searchParams.set("state", state)
  return url.toString()
}

describe("WeChatApps: logins of many apps through one callback", () => {
  it.effect("each app's login: the URL is the app's, the callback finds the app from the state", () =>
    Effect.gen(function*() {
      const apps = yield* WeChatApps.WeChatApps
      const sandbox = yield* Sandbox.Sandbox
      for (const app of [a, b]) {
        const { callback, state, url } = yield* consent(app.appId, "alice", { returnTo: "/orders?id=7" })
        assert.strictEqual(new URL(url).searchParams.get("appid"), app.appId)
        assert.strictEqual(StateToken.appIdOf(state), app.appId)
        const result = yield* apps.handleCallback(callback)
        assert.strictEqual(result.appId, app.appId)
        assert.strictEqual(result.returnTo, "/orders?id=7")
        assert.strictEqual(result.token.openid, sandbox.openidOf(app.appId, "alice"))
        const oauth = yield* apps.oauth(app.appId)
        assert.isTrue(Option.isSome(yield* oauth.getToken(result.token.openid)))
        const user = yield* oauth.getUser(result.token.openid)
        assert.strictEqual(user.openid, result.token.openid)
      }
      // alice has one openid per app, and each app's token is stored under that app only
      const store = yield* TokenStore.TokenStore
      assert.isTrue(Option.isNone(yield* store.get(b.appId, sandbox.openidOf(a.appId, "alice"))))
    }).pipe(Effect.provide(ListLayer)))

  it.effect("a state for app A cannot complete a login for app B", () =>
    Effect.gen(function*() {
      const apps = yield* WeChatApps.WeChatApps
      const sandbox = yield* Sandbox.Sandbox
      const { state } = yield* apps.authorizeUrl(a.appId, { redirectUri })
      // B's consent page, redirected with A's state: the code is B's, the state says A
      const callback = yield* sandbox.approve({
        appId: b.appId,
        user: "alice",
        scope: "snsapi_base",
        redirectUri,
        state
      })
      const failed = yield* Effect.flip(apps.handleCallback(callback))
      // the code goes to WeChat as A's, which refuses it: no token for anyone
      assert.strictEqual(failed._tag, "InvalidCode")
      const store = yield* TokenStore.TokenStore
      assert.isTrue(Option.isNone(yield* store.get(b.appId, sandbox.openidOf(b.appId, "alice"))))
      assert.isTrue(Option.isNone(yield* store.get(a.appId, sandbox.openidOf(a.appId, "alice"))))
      // a callback that names B while its state names A: refused before anything is sent
      const before = (yield* stats).access_token
      const naming = new URL(callback)
      naming.searchParams.set("appid", b.appId)
      const mismatch = yield* Effect.flip(apps.handleCallback(naming.toString()))
      assert.strictEqual(mismatch._tag, "StateMismatch")
      assert.strictEqual(mismatch._tag === "StateMismatch" && mismatch.reason, "Mismatch")
      assert.strictEqual((yield* stats).access_token, before)
      // B's own service refuses A's state too (the state is bound to A under the MAC)
      const oauthB = yield* apps.oauth(b.appId)
      const refused = yield* Effect.flip(oauthB.handleCallback(callback))
      assert.strictEqual(refused._tag === "StateMismatch" && refused.reason, "BadSignature")
      assert.strictEqual((yield* stats).access_token, before)
    }).pipe(Effect.provide(ListLayer)))

  it.effect("a state whose appid is changed to another app's fails the MAC, and costs no lookup", () =>
    Effect.gen(function*() {
      const { layer, resolved } = countingRegistry()
      yield* Effect.gen(function*() {
        const apps = yield* WeChatApps.WeChatApps
        const { callback, state } = yield* consent(a.appId, "alice", { binding: "cookie" })
        const bytes = stateBytes(state)
        assert.strictEqual(stateText(bytes), state)
        // header, issued, expires, nonce; then the appid's length and its text
        assert.strictEqual(bytes.toString("latin1", 18, 18 + a.appId.length), a.appId)
        bytes.write(b.appId, 18, "latin1")
        const forged = stateText(bytes)
        assert.strictEqual(StateToken.appIdOf(forged), b.appId)
        const before = resolved.length
        const failed = yield* Effect.flip(apps.handleCallback(withState(callback, forged), { binding: "cookie" }))
        assert.strictEqual(failed._tag === "StateMismatch" && failed.reason, "BadSignature")
        assert.strictEqual(resolved.length, before, "B was not looked up")
        // the untouched state still logs in
        const result = yield* apps.handleCallback(callback, { binding: "cookie" })
        assert.strictEqual(result.appId, a.appId)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("requireBinding refuses a state made without a binding, before the app is looked up or a code sent", () =>
    Effect.gen(function*() {
      const { layer, resolved } = countingRegistry()
      yield* Effect.gen(function*() {
        const apps = yield* WeChatApps.WeChatApps
        const unbound = yield* consent(a.appId, "alice")
        const refused = yield* Effect.flip(
          apps.handleCallback(unbound.callback, { binding: "victim", requireBinding: true })
        )
        assert.strictEqual(refused._tag === "StateMismatch" && refused.reason, "Binding")
        assert.deepStrictEqual(resolved, [a.appId], "only authorizeUrl looked the app up")
        assert.strictEqual((yield* stats).access_token, 0)
        const wrong = yield* Effect.flip(
          apps.handleCallback(unbound.callback, { requireBinding: 1 as unknown as boolean })
        )
        assert.strictEqual(wrong._tag === "InvalidArgument" && wrong.argument, "requireBinding")
        // a bound state passes, and the unbound one still does without the option
        const bound = yield* consent(a.appId, "bob", { binding: "cookie" })
        const ok = yield* apps.handleCallback(bound.callback, { binding: "cookie", requireBinding: true })
        assert.strictEqual(ok.appId, a.appId)
        assert.strictEqual((yield* apps.handleCallback(unbound.callback)).appId, a.appId)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a rotated registry accepts the states of its accepted secrets, for direct apps, and signs with the new one", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const newSecret = "the registry's next state secret, long"
      const rotated = (accepted: ReadonlyArray<string>) =>
        WeChatApps.layer({ apps: [direct(a), direct(b)] }, { stateSecret: newSecret, acceptedStateSecrets: accepted })
          .pipe(
            Layer.provide(Layer.merge(TokenStore.layerMemory, AppTokenStore.layerMemory)),
            Layer.provide(Layer.succeed(Sandbox.Sandbox, sandbox)),
            Layer.provide(Sandbox.layerHttpClient)
          )
      // a login started before the deploy: its state signed with the old secret
      const before = yield* consent(a.appId, "alice", { binding: "cookie" })
      const accepted = yield* Effect.flatMap(
        WeChatApps.WeChatApps,
        (apps) => apps.handleCallback(before.callback, { binding: "cookie", requireBinding: true })
      ).pipe(Effect.provide(rotated([stateSecret])))
      assert.strictEqual(accepted.appId, a.appId)
      const dropped = yield* Effect.flatMap(
        WeChatApps.WeChatApps,
        (apps) => Effect.flip(apps.handleCallback(before.callback, { binding: "cookie" }))
      ).pipe(Effect.provide(rotated([])))
      assert.strictEqual(dropped._tag === "StateMismatch" && dropped.reason, "BadSignature")
      // the rotated registry signs with the new secret: the old registry does not take its states
      const fresh = yield* Effect.flatMap(
        WeChatApps.WeChatApps,
        (apps) => apps.authorizeUrl(b.appId, { redirectUri, scope: "snsapi_userinfo" })
      ).pipe(Effect.provide(rotated([stateSecret])))
      const callback = yield* sandbox.approve({
        appId: b.appId,
        user: "alice",
        scope: "snsapi_userinfo",
        redirectUri,
        state: fresh.state
      })
      const apps = yield* WeChatApps.WeChatApps
      const old = yield* Effect.flip(apps.handleCallback(callback))
      assert.strictEqual(old._tag === "StateMismatch" && old.reason, "BadSignature")
    }).pipe(Effect.provide(ListLayer)))

  it.effect("a state naming an app the registry does not have is UnknownApp; other failures keep their tags", () =>
    Effect.gen(function*() {
      const apps = yield* WeChatApps.WeChatApps
      const sandbox = yield* Sandbox.Sandbox
      // another registry with the same secret knows C; this one does not
      const c = officialAccount(3)
      const config = Either.getOrThrow(WeChatConfig.makeEither({ appId: c.appId, appSecret: c.secret, stateSecret }))
      const state = Either.getOrThrow(StateToken.makeSync(config, yield* TestClockNow, { carryAppId: true }))
      const unknown = yield* Effect.flip(apps.handleCallback(`${redirectUri}?code=abc&state=${state}`))
      assert.strictEqual(unknown._tag, "UnknownApp")
      assert.strictEqual(unknown._tag === "UnknownApp" && unknown.appId, c.appId)
      assert.strictEqual(unknown.message, `No WeChat app ${c.appId} is configured`)
      // a state of one app's own service (no appid in it) does not name an app
      const oauthA = yield* apps.oauth(a.appId)
      const own = yield* oauthA.authorizeUrl({ redirectUri })
      const withoutApp = yield* Effect.flip(apps.handleCallback(`${redirectUri}?code=abc&state=${own.state}`))
      assert.strictEqual(withoutApp._tag === "StateMismatch" && withoutApp.reason, "Malformed")
      assert.strictEqual(
        (yield* Effect.flip(apps.handleCallback(`${redirectUri}?state=${own.state}`)))._tag,
        "ConsentDenied"
      )
      const missing = yield* Effect.flip(apps.handleCallback(`${redirectUri}?code=abc`))
      assert.strictEqual(missing._tag === "StateMismatch" && missing.reason, "Missing")
      // a bound state needs its browser; an expired one is refused
      const bound = yield* consent(a.appId, "bob", { binding: "cookie-1" })
      const other = yield* Effect.flip(apps.handleCallback(bound.callback, { binding: "cookie-2" }))
      assert.strictEqual(other._tag === "StateMismatch" && other.reason, "Binding")
      yield* TestClock.adjust("11 minutes")
      const late = yield* Effect.flip(apps.handleCallback(bound.callback, { binding: "cookie-1" }))
      assert.strictEqual(late._tag === "StateMismatch" && late.reason, "Expired")
      // unknown and malformed appids
      assert.strictEqual((yield* Effect.flip(apps.oauth("wxnotconfigured0001")))._tag, "UnknownApp")
      assert.strictEqual((yield* Effect.flip(apps.oauth(42 as unknown as string)))._tag, "InvalidArgument")
      assert.strictEqual((yield* Effect.flip(apps.oauth("wx/../../x")))._tag, "InvalidArgument")
      // the registry makes the state: a caller's own is refused
      const ownState = yield* Effect.flip(apps.authorizeUrl(a.appId, { redirectUri, state: "abc" }))
      assert.strictEqual(ownState._tag === "InvalidArgument" && ownState.argument, "state")
      assert.strictEqual(sandbox.apps.length, 3)
    }).pipe(Effect.provide(ListLayer)))

  it.effect("one app's service accepts the registry's states (one key for every app)", () =>
    Effect.gen(function*() {
      const apps = yield* WeChatApps.WeChatApps
      const { callback } = yield* consent(b.appId, "carol", { binding: "c" })
      const oauthB = yield* apps.oauth(b.appId)
      const { token } = yield* oauthB.handleCallback(callback, { binding: "c" })
      assert.strictEqual(token.openid, (yield* Sandbox.Sandbox).openidOf(b.appId, "carol"))
    }).pipe(Effect.provide(ListLayer)))

  it.effect("50 apps x 20 concurrent logins: each login is its app's user, one code exchange each", () =>
    Effect.gen(function*() {
      const many = Array.from({ length: 50 }, (_, i) => officialAccount(100 + i))
      const layer = registry({ apps: many.map(direct) }, many)
      yield* Effect.gen(function*() {
        const apps = yield* WeChatApps.WeChatApps
        const sandbox = yield* Sandbox.Sandbox
        const users = ["alice", "bob", "carol", "dave"]
        const logins = many.flatMap((app) =>
          Array.from(
            { length: 20 },
            (_, i) => ({ app, user: users[i % users.length], binding: `cookie-${app.appId}-${i}` })
          )
        )
        const results = yield* Effect.forEach(
          logins,
          ({ app, binding, user }) =>
            Effect.flatMap(
              consent(app.appId, user, { binding }),
              ({ callback }) => apps.handleCallback(callback, { binding })
            ),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(results.length, 1000)
        results.forEach((result, i) => {
          assert.strictEqual(result.appId, logins[i].app.appId)
          assert.strictEqual(result.token.openid, sandbox.openidOf(logins[i].app.appId, logins[i].user))
        })
        assert.strictEqual((yield* stats).access_token, 1000)
      }).pipe(Effect.provide(layer))
    }))
})

const TestClockNow = Effect.clockWith((clock) => clock.currentTimeMillis)

describe("WeChatApps: apps are built on first use", () => {
  it.effect("idle apps are not built; each service of an app is built once, on its first use", () =>
    Effect.gen(function*() {
      const many = Array.from({ length: 200 }, (_, i) => officialAccount(1000 + i))
      const start = {
        oauth: yield* builds("oauth"),
        miniProgram: yield* builds("miniProgram"),
        appToken: yield* builds("appToken")
      }
      const delta = Effect.all({
        oauth: Effect.map(builds("oauth"), (n) => n - start.oauth),
        miniProgram: Effect.map(builds("miniProgram"), (n) => n - start.miniProgram),
        appToken: Effect.map(builds("appToken"), (n) => n - start.appToken)
      })
      yield* Effect.gen(function*() {
        const apps = yield* WeChatApps.WeChatApps
        assert.deepStrictEqual(yield* delta, { oauth: 0, miniProgram: 0, appToken: 0 })
        const first = yield* apps.oauth(many[0].appId)
        assert.strictEqual(first.appId, many[0].appId)
        yield* Effect.all(Array.from({ length: 50 }, () => apps.oauth(many[0].appId)), { concurrency: "unbounded" })
        assert.strictEqual(yield* apps.oauth(many[0].appId), first)
        assert.deepStrictEqual(yield* delta, { oauth: 1, miniProgram: 0, appToken: 0 })
        yield* apps.authorizeUrl(many[1].appId, { redirectUri })
        assert.deepStrictEqual(yield* delta, { oauth: 2, miniProgram: 0, appToken: 0 })
        // a mini program gets the app's AppToken: both built once, shared
        yield* Effect.all([apps.miniProgram(mini.appId), apps.miniProgram(mini.appId), apps.appToken(mini.appId)], {
          concurrency: "unbounded"
        })
        assert.deepStrictEqual(yield* delta, { oauth: 2, miniProgram: 1, appToken: 1 })
      }).pipe(Effect.provide(registry({ apps: [...many, mini].map(direct) }, [...many, mini])))
    }))

  it.effect("a mini program of the registry: code2Session, and the phone number with the app's shared token", () =>
    Effect.gen(function*() {
      const apps = yield* WeChatApps.WeChatApps
      const sandbox = yield* Sandbox.Sandbox
      const miniProgram = yield* apps.miniProgram(mini.appId)
      const session = yield* miniProgram.code2Session(
        yield* sandbox.miniProgramLogin({ appId: mini.appId, user: "bob" })
      )
      assert.strictEqual(session.openid, sandbox.openidOf(mini.appId, "bob"))
      const phone = yield* miniProgram.getPhoneNumber(
        yield* sandbox.phoneNumberCode({ appId: mini.appId, user: "bob" })
      )
      assert.strictEqual(phone.purePhoneNumber, "13800000002")
      const token = yield* Effect.flatMap(apps.appToken(mini.appId), (tokens) => tokens.get)
      const stored = yield* Effect.flatMap(AppTokenStore.AppTokenStore, (store) => store.get(mini.appId))
      assert.strictEqual(Redacted.value(token), Redacted.value(Option.getOrThrow(stored).accessToken))
      assert.strictEqual((yield* stats).stable_token, 1)
    }).pipe(Effect.provide(ListLayer)))
})

describe("WeChatApps: apps from a resolver", () => {
  const counting = (
    answer: (
      appId: string,
      call: number
    ) => Effect.Effect<WeChatApps.App | undefined | Option.Option<WeChatApps.App>, unknown>
  ) => {
    const calls: Array<string> = []
    const resolve = (appId: string) =>
      Effect.suspend(() => {
        calls.push(appId)
        return answer(appId, calls.filter((id) => id === appId).length)
      })
    return { calls, resolve }
  }

  it.effect("one call per appid at a time, cached for ttl (TestClock), unknown appids for unknownTtl", () =>
    Effect.gen(function*() {
      const { calls, resolve } = counting((appId) =>
        Effect.as(Effect.sleep("1 second"), [a, b].map(direct).find((app) => app.appId === appId))
      )
      yield* Effect.gen(function*() {
        const apps = yield* WeChatApps.WeChatApps
        const fiber = yield* Effect.fork(
          Effect.all(Array.from({ length: 100 }, () => apps.oauth(a.appId)), { concurrency: "unbounded" })
        )
        yield* TestClock.adjust("1 second")
        const services = yield* Fiber.join(fiber)
        assert.strictEqual(calls.length, 1)
        assert.isTrue(services.every((service) => service === services[0]))
        // within the ttl: no call; after it: one more, and an equal answer keeps the built service
        yield* TestClock.adjust("4 minutes")
        yield* apps.oauth(a.appId)
        assert.strictEqual(calls.length, 1)
        yield* TestClock.adjust("61 seconds")
        const again = yield* Effect.fork(apps.oauth(a.appId))
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* Fiber.join(again), services[0])
        assert.strictEqual(calls.length, 2)
        // an unknown appid: one call, remembered for unknownTtl (1 minute)
        const unknown = yield* Effect.fork(Effect.flip(apps.oauth("wxnotanapp00000001")))
        yield* TestClock.adjust("1 second")
        assert.strictEqual((yield* Fiber.join(unknown))._tag, "UnknownApp")
        assert.strictEqual((yield* Effect.flip(apps.oauth("wxnotanapp00000001")))._tag, "UnknownApp")
        assert.strictEqual(calls.length, 3)
        yield* TestClock.adjust("61 seconds")
        const later = yield* Effect.fork(Effect.flip(apps.oauth("wxnotanapp00000001")))
        yield* TestClock.adjust("1 second")
        assert.strictEqual((yield* Fiber.join(later))._tag, "UnknownApp")
        assert.strictEqual(calls.length, 4)
      }).pipe(Effect.provide(registry({ resolve, ttl: "5 minutes" })))
    }))

  it.effect("unknown appids flooding in while an app resolves: one call for the app, at most capacity calls at once", () =>
    Effect.gen(function*() {
      let running = 0
      let most = 0
      const { calls, resolve } = counting((appId) =>
        Effect.acquireUseRelease(
          Effect.sync(() => {
            running++
            most = Math.max(most, running)
          }),
          () => Effect.as(Effect.sleep("1 second"), appId === a.appId ? direct(a) : undefined),
          () => Effect.sync(() => void running--)
        )
      )
      yield* Effect.gen(function*() {
        const apps = yield* WeChatApps.WeChatApps
        const first = yield* Effect.fork(apps.oauth(a.appId))
        yield* TestClock.adjust("50 millis")
        // 500 made-up appids at once (any browser at GET /login/:appId) while A resolves
        const flood = yield* Effect.fork(
          Effect.all(
            Array.from({ length: 500 }, (_, i) => Effect.flip(apps.oauth(`wxunknown${String(i).padStart(9, "0")}`))),
            { concurrency: "unbounded" }
          )
        )
        yield* TestClock.adjust("50 millis")
        const second = yield* Effect.fork(apps.oauth(a.appId))
        yield* TestClock.adjust("1 second")
        const [one, two] = yield* Fiber.join(Fiber.zip(first, second))
        assert.strictEqual(one, two)
        // before, the flood dropped A's running resolution from the cache: a second call for A
        assert.strictEqual(calls.filter((id) => id === a.appId).length, 1)
        // before, 502 calls at once with a capacity of 100
        assert.isAtMost(most, 100)
        const errors = yield* Fiber.join(flood)
        assert.strictEqual(errors.filter((error) => error._tag === "UnknownApp").length, 99)
        const refused = errors.filter((error) => error._tag === "AppResolveError")
        assert.strictEqual(refused.length, 401)
        assert.strictEqual(refused[0]._tag === "AppResolveError" && refused[0].reason, "Failed")
        assert.include(refused[0].message, "100 appids")
        // refused at once, not kept: asked again, the resolver is called
        const later = yield* Effect.fork(Effect.flip(apps.oauth("wxunknown000000499")))
        yield* TestClock.adjust("1 second")
        assert.strictEqual((yield* Fiber.join(later))._tag, "UnknownApp")
        assert.strictEqual(calls.length, 101)
      }).pipe(Effect.provide(registry({ resolve, capacity: 100 })))
    }))

  it.effect("a kept app is served while unknown appids fill the running calls, and after a flood of them", () =>
    Effect.gen(function*() {
      // a slow resolver for unknown appids (a lookup that finds no row), then a quick one
      let slow = true
      const { calls, resolve } = counting((appId) =>
        appId === a.appId
          ? Effect.succeed(direct(a))
          : Effect.as(slow ? Effect.sleep("1 second") : Effect.void, undefined)
      )
      const unknownId = (i: number) => `wxunknown${String(i).padStart(9, "0")}`
      yield* Effect.gen(function*() {
        const apps = yield* WeChatApps.WeChatApps
        const first = yield* apps.oauth(a.appId)
        // 100 made-up appids at once (any browser at GET /login/:appId): as many calls as the capacity
        const flood = yield* Effect.fork(
          Effect.all(Array.from({ length: 100 }, (_, i) => Effect.flip(apps.oauth(unknownId(i)))), {
            concurrency: "unbounded"
          })
        )
        yield* TestClock.adjust("50 millis")
        // before, the running calls pushed A out of the cache and A's new call was refused: 'AppResolveError
        // … (Failed): the resolver is already resolving 100 appids (the registry's capacity)'
        assert.strictEqual(yield* apps.oauth(a.appId), first)
        yield* apps.authorizeUrl(a.appId, { redirectUri })
        assert.strictEqual(calls.filter((id) => id === a.appId).length, 1)
        yield* TestClock.adjust("1 second")
        const errors = yield* Fiber.join(flood)
        assert.isTrue(errors.every((error) => error._tag === "UnknownApp"))
        // 1,000 more, one after another, each answered and kept: A's result is kept apart from theirs
        // (before, the 100th pushed it out: a second call for A)
        slow = false
        for (let i = 100; i < 1_100; i++) {
          assert.strictEqual((yield* Effect.flip(apps.oauth(unknownId(i))))._tag, "UnknownApp")
        }
        assert.strictEqual(calls.length, 1_101)
        assert.strictEqual(yield* apps.oauth(a.appId), first)
        assert.strictEqual(calls.filter((id) => id === a.appId).length, 1)
      }).pipe(Effect.provide(registry({ resolve, capacity: 100, ttl: "1 hour", unknownTtl: "1 hour" })))
    }))

  it.effect("an unknown appid's answer is kept, not its error: each caller gets an UnknownApp of its own", () =>
    Effect.gen(function*() {
      const { calls, resolve } = counting(() => Effect.succeed(undefined))
      yield* Effect.gen(function*() {
        const apps = yield* WeChatApps.WeChatApps
        const first = yield* Effect.flip(apps.oauth("wxnotanapp00000001"))
        const second = yield* Effect.flip(apps.authorizeUrl("wxnotanapp00000001", { redirectUri }))
        assert.strictEqual(calls.length, 1)
        assert.strictEqual(first._tag, "UnknownApp")
        assert.strictEqual(second._tag, "UnknownApp")
        // before, the one kept error (its stack, its Cause and the lookup's Deferred: about 7 KB an appid)
        assert.notStrictEqual(first, second)
        assert.strictEqual(second.message, "No WeChat app wxnotanapp00000001 is configured")
      }).pipe(Effect.provide(registry({ resolve })))
    }))

  it.effect("an UnknownApp answer ends when the clock steps back: an app onboarded since is found", () =>
    Effect.gen(function*() {
      let onboarded = false
      const { calls, resolve } = counting((appId) =>
        Effect.succeed(onboarded && appId === a.appId ? direct(a) : undefined)
      )
      yield* Effect.gen(function*() {
        const apps = yield* WeChatApps.WeChatApps
        yield* TestClock.setTime(1_800_000_000_000)
        assert.strictEqual((yield* Effect.flip(apps.oauth(a.appId)))._tag, "UnknownApp")
        onboarded = true
        // the clock steps back an hour; ten minutes pass (unknownTtl, 1 minute, is long over): before,
        // UnknownApp for the hour plus the minute
        yield* TestClock.setTime(1_800_000_000_000 - 3_600_000)
        yield* TestClock.adjust("10 minutes")
        const found = yield* apps.oauth(a.appId)
        assert.strictEqual(calls.length, 2)
        // and the answer is kept for its ttl from then
        yield* TestClock.adjust("4 minutes")
        assert.strictEqual(yield* apps.oauth(a.appId), found)
        assert.strictEqual(calls.length, 2)
      }).pipe(Effect.provide(registry({ resolve, ttl: "5 minutes" })))
    }))

  it.effect("a changed configuration (another secret) rebuilds the app's services after the ttl", () =>
    Effect.gen(function*() {
      let secret = "an-old-secret-since-rotated"
      const { resolve } = counting(() => Effect.succeed({ appId: a.appId, appSecret: secret }))
      yield* Effect.gen(function*() {
        const apps = yield* WeChatApps.WeChatApps
        const before = yield* builds("oauth")
        const old = yield* apps.oauth(a.appId)
        const refused = yield* Effect.flip(
          Effect.flatMap(consent(a.appId, "alice"), ({ callback }) => apps.handleCallback(callback))
        )
        assert.strictEqual(refused._tag, "InvalidAppSecret")
        secret = a.secret
        assert.strictEqual(yield* apps.oauth(a.appId), old, "still the cached configuration")
        yield* TestClock.adjust("31 seconds")
        const fresh = yield* apps.oauth(a.appId)
        assert.notStrictEqual(fresh, old)
        assert.strictEqual((yield* builds("oauth")) - before, 2)
        const { callback } = yield* consent(a.appId, "alice")
        assert.strictEqual((yield* apps.handleCallback(callback)).appId, a.appId)
      }).pipe(Effect.provide(registry({ resolve, ttl: "30 seconds" })))
    }))

  it.effect("an equal answer whose policy has the caller's predicates keeps the built services after the ttl", () =>
    Effect.gen(function*() {
      const retryOn = (error: WeChatError.RequestFailure) => error._tag === "SystemBusy"
      const refreshOn = WeChatError.isRefreshable
      const { calls, resolve } = counting(() =>
        Effect.succeed({
          appId: a.appId,
          appSecret: a.secret,
          policy: { retryOn, refreshOn, refreshSkew: "30 seconds" }
        })
      )
      yield* Effect.gen(function*() {
        const apps = yield* WeChatApps.WeChatApps
        const before = yield* builds("oauth")
        const first = yield* apps.oauth(a.appId)
        yield* TestClock.adjust("31 seconds")
        assert.strictEqual(yield* apps.oauth(a.appId), first, "the same policy: the same service")
        assert.strictEqual(calls.length, 2)
        assert.strictEqual((yield* builds("oauth")) - before, 1)
      }).pipe(Effect.provide(registry({ resolve, ttl: "30 seconds" })))
    }))

  it.effect("a resolver's failure, defect, timeout or bad answer is an AppResolveError, never a defect, and is not cached", () =>
    Effect.gen(function*() {
      class DatabaseDown {
        readonly _tag = "DatabaseDown"
        constructor(readonly row: string) {}
      }
      const { calls, resolve } = counting((appId, call) => {
        if (appId === "wxfails00000000001") {
          return call === 1 ? Effect.fail(new DatabaseDown(`secret=${a.secret}`)) : Effect.succeed(direct(a))
        }
        if (appId === "wxthrows0000000001") throw new Error("boom")
        if (appId === "wxhangs00000000001" || appId === "wxhangs00000000002") return Effect.never
        if (appId === "wxnosecret00000001") return Effect.succeed({ appId, appSecret: "" })
        if (appId === "wxanother00000001") return Effect.succeed(direct(b))
        if (appId === "wxcomponent0000001") return Effect.succeed({ appId, component: true as const })
        if (appId === "wxnone000000000001") return Effect.succeed(Option.none())
        return Effect.succeed(Option.some({ ...direct(a), appId }))
      })
      yield* Effect.gen(function*() {
        const apps = yield* WeChatApps.WeChatApps
        const failed = yield* Effect.flip(apps.oauth("wxfails00000000001"))
        assert.strictEqual(failed._tag, "AppResolveError")
        if (failed._tag === "AppResolveError") {
          assert.strictEqual(failed.reason, "Failed")
          assert.include(failed.description, "DatabaseDown")
          // the resolver's error is not kept: its row may hold the secret
          assert.notInclude(JSON.stringify(failed) + String(failed), a.secret)
        }
        // not cached: the next use asks again (and this time the resolver's answer is A's config for another appid)
        const second = yield* Effect.flip(apps.oauth("wxfails00000000001"))
        assert.strictEqual(second._tag === "AppResolveError" && second.reason, "Invalid")
        assert.strictEqual(calls.filter((id) => id === "wxfails00000000001").length, 2)
        const threw = yield* Effect.flip(apps.oauth("wxthrows0000000001"))
        assert.strictEqual(threw._tag === "AppResolveError" && threw.reason, "Failed")
        const hang = yield* Effect.fork(Effect.flip(apps.oauth("wxhangs00000000001")))
        yield* TestClock.adjust("5 seconds")
        const timedOut = yield* Fiber.join(hang)
        assert.strictEqual(timedOut._tag === "AppResolveError" && timedOut.reason, "Timeout")
        // from a caller's uninterruptible region too (the deadline used to wait for the resolver)
        const pinned = yield* Effect.fork(Effect.flip(Effect.uninterruptible(apps.oauth("wxhangs00000000002"))))
        yield* TestClock.adjust("5 seconds")
        const pinnedOut = yield* Fiber.join(pinned)
        assert.strictEqual(pinnedOut._tag === "AppResolveError" && pinnedOut.reason, "Timeout")
        const noSecret = yield* Effect.flip(apps.oauth("wxnosecret00000001"))
        assert.strictEqual(noSecret._tag === "AppResolveError" && noSecret.reason, "Invalid")
        assert.include(noSecret.message, "appSecret")
        const another = yield* Effect.flip(apps.oauth("wxanother00000001"))
        assert.strictEqual(another._tag === "AppResolveError" && another.reason, "Invalid")
        const component = yield* Effect.flip(apps.oauth("wxcomponent0000001"))
        assert.strictEqual(component._tag === "AppResolveError" && component.reason, "Invalid")
        assert.include(component.message, "Component")
        assert.strictEqual((yield* Effect.flip(apps.oauth("wxnone000000000001")))._tag, "UnknownApp")
        const some = yield* apps.oauth("wxsome000000000001")
        assert.strictEqual(some.appId, "wxsome000000000001")
      }).pipe(Effect.provide(registry({ resolve })))
    }))

  it.effect("a resolver's own resources are released once it has answered (its scope is its own)", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const resolve = (appId: string) =>
        Effect.acquireRelease(
          Effect.sync(() => events.push(`acquire ${appId}`)),
          () => Effect.sync(() => events.push(`release ${appId}`))
        ).pipe(Effect.as(appId === a.appId ? direct(a) : undefined))
      yield* Effect.gen(function*() {
        const apps = yield* WeChatApps.WeChatApps
        yield* apps.oauth(a.appId)
        assert.deepStrictEqual(events, [`acquire ${a.appId}`, `release ${a.appId}`])
        yield* Effect.flip(apps.oauth(b.appId))
        assert.deepStrictEqual(events.slice(2), [`acquire ${b.appId}`, `release ${b.appId}`])
      }).pipe(Effect.provide(registry({ resolve })))
    }))

  it.effect("a caller interrupted while resolving does not fail the others waiting for the same app", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const { calls, resolve } = counting(() =>
        Effect.zipRight(Deferred.succeed(started, undefined), Effect.as(Effect.sleep("1 second"), direct(a)))
      )
      yield* Effect.gen(function*() {
        const apps = yield* WeChatApps.WeChatApps
        const first = yield* Effect.fork(apps.oauth(a.appId))
        yield* Deferred.await(started)
        const waiting = yield* Effect.fork(apps.oauth(a.appId))
        yield* TestClock.adjust("100 millis")
        yield* Fiber.interrupt(first)
        yield* TestClock.adjust("2 seconds")
        const exit = yield* Fiber.await(waiting)
        assert.isTrue(Exit.isSuccess(exit), String(exit))
        // the resolution runs detached: the first caller's interruption did not cut it
        assert.strictEqual(calls.length, 1)
      }).pipe(Effect.provide(registry({ resolve })))
    }))

  it.effect("callers that time out before a slow resolver answers do not cut it for the others: one call, kept", () =>
    Effect.gen(function*() {
      const { calls, resolve } = counting(() => Effect.as(Effect.sleep("3 seconds"), direct(a)))
      yield* Effect.gen(function*() {
        const apps = yield* WeChatApps.WeChatApps
        // a request every 600 ms, each giving up after 2 s: the resolver needs 3 s
        const callers: Array<Fiber.RuntimeFiber<Option.Option<unknown>, unknown>> = []
        for (let i = 0; i < 20; i++) {
          callers.push(yield* Effect.fork(Effect.timeoutOption(apps.oauth(a.appId), "2 seconds")))
          yield* TestClock.adjust("600 millis")
        }
        yield* TestClock.adjust("5 seconds")
        const answers = yield* Effect.all(callers.map(Fiber.join))
        assert.strictEqual(calls.length, 1, "one resolver call however many callers gave up")
        // those who came within 2 s of its answer (at 3 s) got the app; every later one, at once
        assert.strictEqual(answers.filter(Option.isSome).length, 18, "the answer was kept")
        assert.strictEqual(yield* apps.oauth(a.appId), Option.getOrThrow(answers[19]))
      }).pipe(Effect.provide(registry({ resolve })))
    }))
})

describe("WeChatApps: a JavaScript caller's exotic values", () => {
  const trap = () => {
    throw new Error("trap")
  }
  const exotic = (): ReadonlyArray<readonly [string, unknown]> => {
    const revoked = Proxy.revocable({}, {})
    revoked.revoke()
    return [
      ["throwing getters", new Proxy({}, { get: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap })],
      ["a revoked Proxy", revoked.proxy],
      ["a URL whose href throws", Object.create(URL.prototype)],
      ["URLSearchParams whose methods throw", Object.create(URLSearchParams.prototype)],
      ["a Proxy of options whose redirectUri throws", new Proxy({ redirectUri }, { get: trap })]
    ]
  }

  it.effect("throwing getters, revoked Proxies, hollow URLs: an InvalidArgument naming the argument, never a defect", () =>
    Effect.gen(function*() {
      const apps = yield* WeChatApps.WeChatApps
      const calls: ReadonlyArray<readonly [string, (value: unknown) => Effect.Effect<unknown, unknown>]> = [
        ["oauth", (v) => apps.oauth(v as string)],
        ["miniProgram", (v) => apps.miniProgram(v as string)],
        ["appToken", (v) => apps.appToken(v as string)],
        ["authorizeUrl(appId)", (v) => apps.authorizeUrl(v as string, { redirectUri })],
        ["authorizeUrl(options)", (v) => apps.authorizeUrl(a.appId, v as WeChatOAuth.AuthorizeOptions)],
        ["websiteAuthorizeUrl(options)", (v) => apps.websiteAuthorizeUrl(a.appId, v as WeChatOAuth.AuthorizeOptions)],
        ["handleCallback(callback)", (v) => apps.handleCallback(v as string)],
        ["handleCallback(options)", (v) => apps.handleCallback(`${redirectUri}?code=c&state=s`, v as {})]
      ]
      for (const [name, call] of calls) {
        for (const [label, value] of exotic()) {
          let effect: Effect.Effect<unknown, unknown>
          try {
            effect = call(value)
          } catch (error) {
            assert.fail(`${name} with ${label} threw ${String(error)}`)
          }
          const exit = yield* Effect.exit(effect)
          assert.isTrue(Exit.isFailure(exit), `${name} with ${label} fails`)
          if (Exit.isFailure(exit)) {
            assert.isFalse(Cause.isDie(exit.cause), `${name} with ${label}: ${Cause.pretty(exit.cause).split("\n")[0]}`)
            const error = Option.getOrThrow(Cause.failureOption(exit.cause)) as { _tag: string }
            assert.oneOf(error._tag, ["InvalidArgument", "StateMismatch"], `${name} with ${label}`)
          }
        }
      }
    }).pipe(Effect.provide(ListLayer)))
})

describe("WeChatApps.layer: the configuration is checked", () => {
  /** Builds the registry alone and returns its ConfigError. */
  const failure = (apps: unknown, options: unknown) =>
    Effect.gen(function*() {
      const built = yield* Effect.exit(
        Effect.scoped(
          Layer.build(
            WeChatApps.layer(apps as WeChatApps.ListOptions, options as WeChatApps.RegistryOptions).pipe(
              Layer.provide(TokenStore.layerMemory),
              Layer.provide(Sandbox.layerHttpClient),
              Layer.provide(Sandbox.layer())
            )
          )
        )
      )
      assert.isTrue(Exit.isFailure(built), `refused: ${JSON.stringify(apps)}`)
      const failed = Exit.isFailure(built) ? Cause.failureOption(built.cause) : Option.none()
      assert.isTrue(Option.isSome(failed), "a ConfigError, not a defect")
      return Option.getOrThrow(failed)
    })

  const pathOf = (error: ConfigError.ConfigError): string =>
    ConfigError.isInvalidData(error) || ConfigError.isMissingData(error) ? error.path.join(".") : String(error)

  it.effect("a bad app names its index and field; the secret's value is never in the message", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, unknown, string]> = [
        [{ apps: [direct(a), { appId: b.appId, appSecret: "" }] }, { stateSecret }, "apps.1.appSecret"],
        [{ apps: [direct(a), { appId: "bad id", appSecret: "x" }] }, { stateSecret }, "apps.1.appId"],
        [{ apps: [direct(a), direct(a)] }, { stateSecret }, "apps.1.appId"],
        [{ apps: [{ ...direct(a), stateSecret: "my own state secret, long" }] }, { stateSecret }, "apps.0.stateSecret"],
        [{ apps: [{ ...direct(a), policy: { refreshSkew: -1 } }] }, { stateSecret }, "apps.0.policy.refreshSkew"],
        [{ apps: [{ ...direct(a), appToken: { mode: "fast" } }] }, { stateSecret }, "apps.0.appToken.mode"],
        [
          { apps: [{ ...direct(a), appToken: { sourceTimeout: 0 } }] },
          { stateSecret },
          "apps.0.appToken.sourceTimeout"
        ],
        [{ apps: [{ ...direct(a), apiBaseUrl: "ftp://x" }] }, { stateSecret }, "apps.0.apiBaseUrl"],
        [{ apps: [{ appId: a.appId, component: true }] }, { stateSecret }, "apps.0.component"],
        [{ apps: [{ appId: a.appId, component: true, appSecret: "x" }] }, { stateSecret }, "apps.0.appSecret"],
        [{ apps: [{ ...direct(a), component: "yes" }] }, { stateSecret }, "apps.0.component"],
        [{ apps: [7] }, { stateSecret }, "apps.0"],
        [{ apps: "all" }, { stateSecret }, "apps"],
        [{ apps: [], resolve: () => Effect.void }, { stateSecret }, "resolve"],
        [{}, { stateSecret }, ""],
        [{ resolve: "db" }, { stateSecret }, "resolve"],
        [{ resolve: () => Effect.void, ttl: "soon" }, { stateSecret }, "ttl"],
        [{ resolve: () => Effect.void, capacity: 0 }, { stateSecret }, "capacity"],
        [{ resolve: () => Effect.void, resolveTimeout: -5 }, { stateSecret }, "resolveTimeout"],
        [{ apps: [], ttl: "1 minute" }, { stateSecret }, "ttl"],
        [{ apps: [] }, {}, "stateSecret"],
        [{ apps: [] }, { stateSecret: "short" }, "stateSecret"],
        [{ apps: [] }, { stateSecret: `${stateSecret}\uD800` }, "stateSecret"],
        [{ apps: [] }, { stateSecret, acceptedStateSecrets: [`${stateSecret}\uDC00`] }, "acceptedStateSecrets"],
        [
          { apps: [direct(a), { appId: b.appId, appSecret: `${b.secret}\uD800` }] },
          { stateSecret },
          "apps.1.appSecret"
        ],
        [{ apps: [] }, { stateSecret, stateTtl: 0 }, "stateTtl"],
        [{ apps: [] }, { stateSecret, stateTtl: "5000 weeks" }, "stateTtl"],
        [{ apps: [{ ...direct(a), stateTtl: "2 days" }] }, { stateSecret }, "apps.0.stateTtl"],
        [{ apps: [] }, { stateSecret, acceptedStateSecrets: ["short"] }, "acceptedStateSecrets"],
        [{ apps: [] }, { stateSecret, acceptedStateSecrets: "one secret, not a list" }, "acceptedStateSecrets"],
        [
          { apps: [{ ...direct(a), acceptedStateSecrets: ["an app's own accepted secret"] }] },
          { stateSecret },
          "apps.0.acceptedStateSecrets"
        ],
        [{ apps: [] }, undefined, ""]
      ]
      for (const [apps, options, path] of cases) {
        const error = yield* failure(apps, options)
        assert.strictEqual(pathOf(error), path, JSON.stringify(apps))
        assert.notInclude(String(error), a.secret)
      }
    }))

  it.effect("a negative duration in any form is a ConfigError naming it, as -1 is, never read as zero", () =>
    Effect.gen(function*() {
      const resolve = () => Effect.void
      for (const negative of [-1, NaN, "-5 seconds", "-1 millis", [-5, 0]]) {
        const label = typeof negative === "string" ? JSON.stringify(negative) : String(negative)
        const cases: ReadonlyArray<readonly [unknown, string]> = [
          [{ resolve, unknownTtl: negative }, "unknownTtl"],
          [{ resolve, ttl: negative }, "ttl"],
          [{ resolve, resolveTimeout: negative }, "resolveTimeout"],
          [{ apps: [{ ...direct(a), policy: { codeMemoTtl: negative } }] }, "apps.0.policy.codeMemoTtl"],
          [{ apps: [{ ...direct(a), policy: { refreshSkew: negative } }] }, "apps.0.policy.refreshSkew"],
          [{ apps: [{ ...direct(a), appToken: { refreshWithin: negative } }] }, "apps.0.appToken.refreshWithin"]
        ]
        for (const [apps, path] of cases) {
          assert.strictEqual(pathOf(yield* failure(apps, { stateSecret })), path, `${path}: ${label}`)
        }
      }
    }))

  it.effect("a resolveTimeout or an app's sourceTimeout past what a timer holds (24 days) is a ConfigError naming it", () =>
    Effect.gen(function*() {
      const resolve = () => Effect.void
      for (const long of ["25 days", 2_147_483_648, "999999 days", Infinity]) {
        const cases: ReadonlyArray<readonly [unknown, string]> = [
          [{ resolve, resolveTimeout: long }, "resolveTimeout"],
          [{ apps: [{ ...direct(a), appToken: { sourceTimeout: long } }] }, "apps.0.appToken.sourceTimeout"]
        ]
        for (const [apps, path] of cases) {
          const error = yield* failure(apps, { stateSecret })
          assert.strictEqual(pathOf(error), path, `${path}: ${String(long)}`)
        }
      }
    }))

  it.effect("an app's sourceTimeout reaches its AppToken: a source that never answers fails at that deadline", () =>
    Effect.gen(function*() {
      const apps = yield* WeChatApps.WeChatApps
      const appToken = yield* apps.appToken(a.appId)
      const getter = yield* Effect.fork(appToken.get)
      yield* TestClock.adjust("1999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(getter)), "waiting before 2 s")
      yield* TestClock.adjust("1 millis")
      for (let i = 0; i < 20 && Option.isNone(yield* Fiber.poll(getter)); i++) yield* TestClock.adjust(0)
      const polled = yield* Fiber.poll(getter)
      assert.isTrue(Option.isSome(polled), "failed at 2 s")
      const error = Option.getOrThrow(polled).pipe(Exit.causeOption, Option.flatMap(Cause.failureOption))
      assert.deepInclude(Option.getOrUndefined(error), {
        _tag: "TransportError",
        endpoint: "AppToken.source",
        reason: "Timeout",
        description: "the token source did not answer within 2s"
      })
    }).pipe(
      Effect.provide(
        registry({ apps: [{ ...direct(a), appToken: { source: () => Effect.never, sourceTimeout: "2 seconds" } }] })
      )
    ))

  it.effect("a good list with every kind of option builds", () =>
    Effect.gen(function*() {
      const apps = yield* WeChatApps.WeChatApps
      const oauth = yield* apps.oauth(a.appId)
      assert.strictEqual(oauth.appId, a.appId)
    }).pipe(
      Effect.provide(
        registry({
          apps: [
            {
              ...direct(a),
              policy: { refreshSkew: "30 seconds" },
              appToken: { mode: "classic" },
              stateTtl: "5 minutes"
            },
            { ...direct(b), appSecret: Redacted.make(b.secret), timeout: Duration.seconds(3) }
          ]
        })
      )
    ))
})

describe("WeChatApps: apps of a third-party platform (component: true)", () => {
  const componentRegistry = <E, R>(apps: WeChatApps.ListOptions | WeChatApps.ResolveOptions<E, R>) =>
    (WeChatApps.layer(apps as WeChatApps.ListOptions, { stateSecret }) as Layer.Layer<
      WeChatApps.WeChatApps,
      ConfigError.ConfigError,
      any
    >).pipe(Layer.provideMerge(ComponentLive())) as Layer.Layer<
      WeChatApps.WeChatApps | Component.Component | Sandbox.Sandbox | TokenStore.TokenStore,
      ConfigError.ConfigError
    >

  const ticket = Effect.zipRight(TestClock.setTime(1_700_000_000_000), deliver("component_verify_ticket"))

  /** The user's consent through the platform, as WeChat redirects back: code, state and appid. */
  const consentThroughPlatform = (appId: string, user: string, binding?: string) =>
    Effect.gen(function*() {
      const apps = yield* WeChatApps.WeChatApps
      const sandbox = yield* Sandbox.Sandbox
      const { state, url } = yield* apps.authorizeUrl(appId, { redirectUri, scope: "snsapi_userinfo", binding })
      const callback = yield* sandbox.approve({
        appId,
        user,
        scope: "snsapi_userinfo",
        redirectUri,
        state,
        componentAppId: platform.componentAppId
      })
      return { url, callback }
    })

  it.effect("two official accounts of one platform: logins through one callback, the callback's appid checked", () =>
    Effect.gen(function*() {
      yield* ticket
      const apps = yield* WeChatApps.WeChatApps
      const sandbox = yield* Sandbox.Sandbox
      const second = manyOfficial[0]
      for (const appId of [managedOfficial, second]) {
        const { callback, url } = yield* consentThroughPlatform(appId, "alice", "cookie")
        assert.strictEqual(new URL(url).searchParams.get("appid"), appId)
        assert.strictEqual(new URL(url).searchParams.get("component_appid"), platform.componentAppId)
        assert.strictEqual(new URL(callback).searchParams.get("appid"), appId)
        const result = yield* apps.handleCallback(callback, { binding: "cookie" })
        assert.strictEqual(result.appId, appId)
        assert.strictEqual(result.token.openid, sandbox.openidOf(appId, "alice"))
        const user = yield* Effect.flatMap(apps.oauth(appId), (oauth) => oauth.getUser(result.token.openid))
        assert.strictEqual(user.openid, result.token.openid)
      }
      // a callback whose appid is another app's, or that has none: refused before any exchange
      const { callback } = yield* consentThroughPlatform(managedOfficial, "bob")
      const before = (yield* usage).calls.component_access_token
      for (const appid of [second, null]) {
        const url = new URL(callback)
        if (appid === null) url.searchParams.delete("appid")
        else url.searchParams.set("appid", appid)
        const refused = yield* Effect.flip(apps.handleCallback(url.toString()))
        assert.strictEqual(refused._tag === "StateMismatch" && refused.reason, "Mismatch", String(appid))
      }
      assert.strictEqual((yield* usage).calls.component_access_token, before)
      assert.strictEqual((yield* apps.handleCallback(callback)).appId, managedOfficial)
      // website login is the website app's own
      const website = yield* Effect.flip(apps.websiteAuthorizeUrl(managedOfficial, { redirectUri }))
      assert.strictEqual(website._tag, "InvalidArgument")
    }).pipe(
      Effect.provide(
        componentRegistry({
          apps: [managedOfficial, manyOfficial[0]].map((appId) => ({ appId, component: true as const }))
        })
      )
    ))

  it.effect(
    "1,000 concurrent logins across 50 component apps (resolved on first use) make one api_component_token request",
    () =>
      Effect.gen(function*() {
        yield* ticket
        const apps = yield* WeChatApps.WeChatApps
        const sandbox = yield* Sandbox.Sandbox
        const logins = yield* Effect.forEach(Array.from({ length: 1000 }, (_, i) => i), (i) => {
          const appId = manyOfficial[i % manyOfficial.length]
          const user = i % 2 === 0 ? "alice" : "bob"
          return Effect.map(consentThroughPlatform(appId, user, `browser-${i}`), ({ callback }) => ({
            appId,
            user,
            callback,
            binding: `browser-${i}`
          }))
        })
        // the component token not fetched yet, its answer slowed: every login waits for the same one
        yield* sandbox.injectFault({ kind: "slow", endpoint: "api_component_token", delayMs: 3000, times: 10 })
        const fiber = yield* Effect.fork(
          Effect.forEach(logins, ({ binding, callback }) => apps.handleCallback(callback, { binding }), {
            concurrency: "unbounded"
          })
        )
        for (let i = 0; i < 100 && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* TestClock.adjust("100 millis")
        const results = yield* Fiber.join(fiber)
        results.forEach((result, i) => {
          assert.strictEqual(result.appId, logins[i].appId)
          assert.strictEqual(result.token.openid, sandbox.openidOf(logins[i].appId, logins[i].user))
        })
        const calls = (yield* usage).calls
        assert.strictEqual(calls.api_component_token, 1)
        assert.strictEqual(calls.component_access_token, 1000)
      }).pipe(
        Effect.provide(
          componentRegistry({
            resolve: (appId: string) =>
              Effect.succeed(manyOfficial.includes(appId) ? { appId, component: true as const } : undefined)
          })
        )
      ),
    120_000
  )

  it.effect("a managed mini program: code2Session through the platform, its app token is the authorizer's", () =>
    Effect.gen(function*() {
      yield* ticket
      yield* authorize(managedMini)
      const apps = yield* WeChatApps.WeChatApps
      const sandbox = yield* Sandbox.Sandbox
      const miniProgram = yield* apps.miniProgram(managedMini)
      const session = yield* miniProgram.code2Session(
        yield* sandbox.miniProgramLogin({ appId: managedMini, user: "carol" })
      )
      assert.strictEqual(session.openid, sandbox.openidOf(managedMini, "carol"))
      const phone = yield* miniProgram.getPhoneNumber(
        yield* sandbox.phoneNumberCode({ appId: managedMini, user: "carol" })
      )
      assert.strictEqual(phone.purePhoneNumber, "13800000003")
      const component = yield* Component.Component
      const fromPlatform = yield* Effect.flatMap(component.appToken(managedMini), (tokens) => tokens.get)
      const fromRegistry = yield* Effect.flatMap(apps.appToken(managedMini), (tokens) => tokens.get)
      assert.strictEqual(Redacted.value(fromRegistry), Redacted.value(fromPlatform))
      assert.strictEqual((yield* sandbox.stats).stable_token, 0)
      assert.strictEqual((yield* usage).calls.api_authorizer_token, 0, "the token from api_query_auth is used")
    }).pipe(Effect.provide(componentRegistry({ apps: [{ appId: managedMini, component: true }] }))))
})
