import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { assert, describe, it } from "@effect/vitest"
import {
  AppToken,
  AppTokenStore,
  Component,
  MiniProgram,
  RefreshLock,
  SessionStore,
  TokenStore,
  WeChatApi,
  WeChatApps,
  WeChatConfig,
  type WeChatError,
  WeChatHttpClient,
  WeChatOAuth
} from "@wxauth/core"
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import { ComponentLive, deliver, managedMini, managedOfficial, platform } from "./componentFixtures.js"

const app = Sandbox.defaultApps.officialAccount
const mini = Sandbox.defaultApps.miniProgram
const redirectUri = "https://app.example.com/cb"

const renderings = (error: unknown): ReadonlyArray<string> => [
  String(error),
  (error as Error).message,
  JSON.stringify(error),
  Cause.pretty(Cause.fail(error)),
  (error as Error).stack ?? ""
]

const assertClean = (what: string, texts: ReadonlyArray<string>, secrets: ReadonlyArray<string>) => {
  for (const text of texts) {
    for (const secret of secrets) {
      assert.notInclude(text, secret, `${what} leaks a secret`)
    }
  }
}

const inProcess = (appConfig: { appId: string; secret: string }) =>
  Layer.mergeAll(WeChatOAuth.layer, MiniProgram.layer).pipe(
    Layer.provideMerge(Layer.orDie(AppToken.layer)),
    Layer.provideMerge(Layer.merge(TokenStore.layerMemory, AppTokenStore.layerMemory)),
    Layer.provide(WeChatConfig.layer({ appId: appConfig.appId, appSecret: appConfig.secret })),
    Layer.provide(Sandbox.layerHttpClient),
    Layer.provideMerge(Sandbox.layer())
  )

const inject = (fault: Sandbox.Fault) => Effect.flatMap(Sandbox.Sandbox, (s) => s.injectFault(fault))

const settle = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < 200 && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* TestClock.adjust("500 millis")
    return yield* Effect.flip(Fiber.join(fiber))
  })

describe("no secret, code or token in any error", () => {
  it.effect("every error type, rendered every way", () =>
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const sandbox = yield* Sandbox.Sandbox
      const callback = yield* sandbox.approve({
        appId: app.appId,
        user: "alice",
        scope: "snsapi_userinfo",
        redirectUri
      })
      const code = new URL(callback).searchParams.get("code")!
      const token = yield* oauth.exchangeCode(code)
      const secrets = [app.secret, code, Redacted.value(token.accessToken), Redacted.value(token.refreshToken)]
      const errors: Array<unknown> = []

      // every errcode WeChat can answer, on each endpoint that carries a secret or token
      for (
        const errcode of [
          -1,
          40001,
          40003,
          40013,
          40014,
          40029,
          40030,
          40125,
          40163,
          40164,
          40226,
          41001,
          42001,
          42002,
          42003,
          45009,
          45011,
          48001,
          50001,
          50002,
          61000,
          61024,
          87009,
          89503
        ]
      ) {
        yield* inject({ kind: "errcode", errcode, endpoint: "refresh_token", times: 10 })
        errors.push(yield* settle(oauth.refresh(token.openid)))
        yield* sandbox.clearFaults
        const again = yield* oauth.exchangeCode(
          new URL(
            yield* sandbox.approve({ appId: app.appId, user: "alice", scope: "snsapi_userinfo", redirectUri })
          ).searchParams.get("code")!
        )
        secrets.push(Redacted.value(again.accessToken), Redacted.value(again.refreshToken))
      }
      // transport and decoding failures on the request that carries the app secret and the code
      for (const kind of ["reset", "http500", "http502", "truncated", "wrongShape", "slow"] as const) {
        const fresh = yield* sandbox.approve({ appId: app.appId, user: "bob", scope: "snsapi_userinfo", redirectUri })
        const freshCode = new URL(fresh).searchParams.get("code")!
        secrets.push(freshCode)
        yield* inject({ kind, endpoint: "access_token", times: 10, delayMs: 60_000 })
        errors.push(yield* settle(oauth.exchangeCode(freshCode)))
        yield* sandbox.clearFaults
      }
      errors.push(yield* Effect.flip(oauth.handleCallback(`${redirectUri}?state=x`)))
      errors.push(yield* Effect.flip(oauth.handleCallback(`${redirectUri}?code=${code}&state=forged`)))
      errors.push(yield* Effect.flip(oauth.getUser("oUnknown")))
      errors.push(yield* Effect.flip(oauth.exchangeCode("")))
      errors.push(yield* Effect.flip(oauth.authorizeUrl({ redirectUri: "nope" })))
      const codec = yield* TokenStore.makeCodec
      errors.push(yield* Effect.flip(codec.decodeToken(app.appId, token.openid, `{"accessToken":"${secrets[2]}"`)))
      const lock = RefreshLock.makeInProcess({ waitTimeout: "10 millis" })
      const held = yield* Effect.fork(lock.withLock("k", Effect.never))
      yield* TestClock.adjust("1 millis")
      errors.push(yield* settle(lock.withLock("k", Effect.void)))
      yield* Fiber.interrupt(held)

      const tags = new Set(errors.map((e) => (e as { _tag: string })._tag))
      for (
        const tag of [
          "SystemBusy",
          "InvalidCredential",
          "InvalidOpenId",
          "InvalidAppId",
          "InvalidAccessToken",
          "InvalidCode",
          "InvalidRefreshToken",
          "InvalidAppSecret",
          "CodeUsed",
          "IpNotWhitelisted",
          "CodeBlocked",
          "MissingParameter",
          "AccessTokenExpired",
          "RefreshTokenExpired",
          "CodeExpired",
          "RateLimited",
          "ScopeUnauthorized",
          "UserUnauthorized",
          "UnknownWeChatError",
          "PlatformManagedApp",
          "InvalidSignature",
          "IpRiskControl",
          "TransportError",
          "MalformedResponse",
          "ConsentDenied",
          "StateMismatch",
          "TokenNotFound",
          "InvalidArgument",
          "TokenStoreError",
          "RefreshLockTimeout"
        ]
      ) {
        assert.isTrue(tags.has(tag), `triggered ${tag}`)
      }
      for (const error of errors) assertClean((error as { _tag: string })._tag, renderings(error), secrets)
    }).pipe(Effect.provide(inProcess(app))))

  it.effect("mini program: session keys stay out of errors; DecryptError too", () =>
    Effect.gen(function*() {
      const miniProgram = yield* MiniProgram.MiniProgram
      const sandbox = yield* Sandbox.Sandbox
      const jsCode = yield* sandbox.miniProgramLogin({ appId: mini.appId, user: "alice" })
      const session = yield* miniProgram.code2Session(jsCode)
      assert.strictEqual(session.openid, sandbox.openidOf(mini.appId, "alice"))
      const data = yield* sandbox.encryptUserData({ appId: mini.appId, user: "alice" })
      const user = yield* miniProgram.decryptUserData(session.sessionKey, data.encryptedData, data.iv)
      assert.strictEqual(user.watermark.appid, mini.appId)
      const forged = yield* sandbox.encryptUserData({ appId: mini.appId, user: "alice", watermarkAppId: "wxother" })
      const wrongApp = yield* Effect.flip(
        miniProgram.decryptUserData(session.sessionKey, forged.encryptedData, forged.iv)
      )
      assert.strictEqual(wrongApp.reason, "WatermarkMismatch")
      const reused = yield* Effect.flip(miniProgram.code2Session(jsCode))
      assert.strictEqual(reused._tag, "CodeUsed")
      // the phone number and session-key APIs: an app token and a session key travel in the query
      const unknown = yield* Effect.flip(miniProgram.checkSessionKey("o-never-logged-in"))
      assert.strictEqual(unknown._tag, "SessionKeyNotFound")
      yield* inject({ kind: "echo", errcode: 40029, endpoint: "getuserphonenumber" })
      const phone = yield* Effect.flip(miniProgram.getPhoneNumber("phone-code-123456"))
      yield* inject({ kind: "echo", errcode: -1, endpoint: "checksession", times: 10 })
      const check = yield* settle(miniProgram.checkSessionKey(session.openid))
      yield* inject({ kind: "echo", errcode: 40029, endpoint: "resetusersessionkey" })
      const reset = yield* Effect.flip(miniProgram.resetSessionKey(session.openid))
      const appToken = Redacted.value(yield* Effect.flatMap(AppToken.AppToken, (tokens) => tokens.get))
      // the signature stands for the session key in WeChat's session APIs: with the app token it
      // resets the user's key, so it is kept out of errors as the key is
      const signature = WeChatApi.sessionSignature(session.sessionKey)
      const secrets = [
        mini.secret,
        jsCode,
        Redacted.value(session.sessionKey),
        signature,
        "phone-code-123456",
        appToken
      ]
      for (const error of [wrongApp, reused, unknown, phone, check, reset]) {
        assertClean(error._tag, renderings(error), secrets)
      }
      assertClean("session", [String(session.sessionKey), JSON.stringify(session)], [
        Redacted.value(session.sessionKey)
      ])
    }).pipe(Effect.provide(inProcess(mini))))

  it.effect("WeChatApps: UnknownApp and AppResolveError hold no secret, not even a resolver's failing row", () =>
    Effect.gen(function*() {
      const stateSecret = "the registry's own state secret"
      class RowError {
        readonly _tag = "RowError"
        constructor(readonly row: string) {}
      }
      const resolve = (appId: string) =>
        appId === "wxrowerror00000001"
          ? Effect.fail(new RowError(`appSecret=${app.secret}`))
          : appId === "wxbadsecret0000001"
          ? Effect.succeed({ appId, appSecret: `  `, stateSecret: app.secret })
          : appId === app.appId
          ? Effect.succeed({ appId, appSecret: app.secret })
          : Effect.succeed(undefined)
      const errors = yield* Effect.gen(function*() {
        const apps = yield* WeChatApps.WeChatApps
        const sandbox = yield* Sandbox.Sandbox
        const { state } = yield* apps.authorizeUrl(app.appId, { redirectUri })
        const callback = yield* sandbox.approve({
          appId: app.appId,
          user: "alice",
          scope: "snsapi_base",
          redirectUri,
          state
        })
        const code = new URL(callback).searchParams.get("code")!
        yield* apps.handleCallback(callback)
        return [
          yield* Effect.flip(apps.oauth("wxrowerror00000001")),
          yield* Effect.flip(apps.oauth("wxbadsecret0000001")),
          yield* Effect.flip(apps.oauth("wxnobody0000000001")),
          // the same code again, with another forged state: refused, the code quoted nowhere
          yield* Effect.flip(apps.handleCallback(`${redirectUri}?code=${code}&state=${state.slice(0, -1)}`)),
          yield* Effect.flip(apps.handleCallback(callback, { binding: "x" })),
          code
        ] as const
      }).pipe(
        Effect.provide(
          WeChatApps.layer({ resolve }, { stateSecret }).pipe(
            Layer.provide(TokenStore.layerMemory),
            Layer.provide(Sandbox.layerHttpClient),
            Layer.provideMerge(Sandbox.layer())
          )
        )
      )
      const code = errors[5]
      const tags = errors.slice(0, 5).map((e) => (e as { _tag: string })._tag)
      assert.deepStrictEqual(tags, ["AppResolveError", "AppResolveError", "UnknownApp", "StateMismatch", "CodeUsed"])
      for (const error of errors.slice(0, 5)) {
        assertClean((error as { _tag: string })._tag, renderings(error), [app.secret, stateSecret, code])
      }
    }))
})

/** A tracer that keeps every span it makes. */
const recording = Effect.map(Effect.tracer, (base) => {
  const spans: Array<Tracer.Span> = []
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      const span = base.span(name, parent, context, links, startTime, kind, options)
      spans.push(span)
      return span
    },
    context: (f, fiber) => base.context(f, fiber)
  })
  return { tracer, spans }
})

const overHttp = <E>(client: Layer.Layer<HttpClient.HttpClient, E>) =>
  Layer.unwrapEffect(
    Effect.map(SandboxServer.SandboxServer, (server) =>
      Layer.mergeAll(WeChatOAuth.layer, WeChatApi.layer).pipe(
        Layer.provideMerge(TokenStore.layerMemory),
        Layer.provide(
          WeChatConfig.layer({
            appId: app.appId,
            appSecret: app.secret,
            apiBaseUrl: server.url,
            openBaseUrl: server.url
          })
        ),
        Layer.provide(client)
      ))
  ).pipe(
    Layer.provideMerge(Sandbox.layerServer({ port: 0 })),
    Layer.provideMerge(Sandbox.layer())
  )

describe("no secret, code or token in any span", () => {
  for (
    const [name, client] of [
      ["lean WeChatHttpClient", WeChatHttpClient.layer()],
      ["stock NodeHttpClient.layerUndici", NodeHttpClient.layerUndici]
    ] as const
  ) {
    it.live(`a whole flow with the ${name}`, () =>
      Effect.gen(function*() {
        const { spans, tracer } = yield* recording
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const sandbox = yield* Sandbox.Sandbox
        const secrets: Array<string> = [app.secret]
        yield* Effect.gen(function*() {
          const { state } = yield* oauth.authorizeUrl({ redirectUri, scope: "snsapi_userinfo" })
          const callback = yield* sandbox.approve({
            appId: app.appId,
            user: "alice",
            scope: "snsapi_userinfo",
            redirectUri,
            state
          })
          secrets.push(new URL(callback).searchParams.get("code")!)
          const { token } = yield* oauth.handleCallback(callback)
          secrets.push(Redacted.value(token.accessToken), Redacted.value(token.refreshToken))
          yield* oauth.getUser(token.openid)
          const refreshed = yield* oauth.refresh(token.openid)
          secrets.push(Redacted.value(refreshed.accessToken))
          yield* oauth.verifyAccessToken(token.openid)
          const api = yield* WeChatApi.WeChatApi
          yield* api.userInfo(refreshed.accessToken, token.openid)
          yield* api.auth(refreshed.accessToken, token.openid)
          yield* sandbox.injectFault({ kind: "reset", endpoint: "userinfo", times: 5 })
          yield* Effect.flip(oauth.getUser(token.openid))
          // a refused argument is traced too
          const before = spans.filter((span) => span.name === "WeChatOAuth.getUser").length
          yield* Effect.flip(oauth.getUser(""))
          assert.strictEqual(spans.filter((span) => span.name === "WeChatOAuth.getUser").length, before + 1)
        }).pipe(Effect.withTracer(tracer))
        const names = spans.map((span) => span.name)
        assert.include(names, "WeChatOAuth.getUser")
        assert.include(names, "WeChatApi.userinfo")
        assert.notInclude(names.join(","), "http.client", "the HttpClient's own span (with the query) is off")
        for (const span of spans) {
          const attributes = [...span.attributes.entries()].map(([k, v]) => `${k}=${String(v)}`)
          const events = span.status._tag === "Ended"
            ? [String(Cause.pretty((span.status.exit as any).cause ?? Cause.empty))]
            : []
          assertClean(`span ${span.name}`, [...attributes, ...events], secrets)
        }
      }).pipe(Effect.provide(overHttp(client))))
  }
})

describe("no session token in any session store error", () => {
  it.effect("SessionStoreError, rendered every way, quotes no token, id hash, openid or data", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore.makeMemory()
      const token = yield* SessionStore.makeToken
      const idHash = SessionStore.hashToken(token)
      const now = yield* Clock.currentTimeMillis
      const session = new SessionStore.Session({
        idHash,
        appId: app.appId,
        openid: "oSessionOpenId_private",
        scopes: ["snsapi_base"],
        kind: "browser",
        createdAt: now,
        expiresAt: now + 60_000,
        data: { note: "private-data-value" }
      })
      yield* store.create(session)
      const json = yield* SessionStore.encode(session)
      const errors = [
        yield* Effect.flip(store.create(session)),
        yield* Effect.flip(store.create(new SessionStore.Session({ ...session, expiresAt: now }))),
        yield* Effect.flip(store.get(Redacted.value(token))),
        yield* Effect.flip(store.touch(Redacted.value(token), now + 1000)),
        yield* Effect.flip(store.touch(idHash, now - 1)),
        yield* Effect.flip(store.revoke(Redacted.value(token))),
        yield* Effect.flip(store.revokeUser(app.appId, `${session.openid}${"x".repeat(200)}`)),
        yield* Effect.flip(SessionStore.decode(SessionStore.hashToken("another"), json)),
        yield* Effect.flip(SessionStore.decode(idHash, json.replace("}", `,"token":"${Redacted.value(token)}"`)))
      ]
      for (const error of errors) assert.strictEqual(error._tag, "SessionStoreError")
      const secrets = [Redacted.value(token), idHash, session.openid, "private-data-value"]
      for (const error of errors) assertClean(error.message, renderings(error), secrets)
      assertClean("token", [String(token), JSON.stringify(token), JSON.stringify({ token })], [Redacted.value(token)])
    }))
})

describe("third-party platform: no component secret, EncodingAESKey, token, ticket or code anywhere", () => {
  const endpoints = [
    "api_component_token",
    "api_query_auth",
    "api_authorizer_token",
    "component_access_token",
    "component_refresh_token",
    "component_jscode2session"
  ] as const

  it.effect("every component error rendered every way, every span, every log line", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_700_000_000_000)
      const { spans, tracer } = yield* recording
      const logs: Array<string> = []
      const logger = Logger.make(({ annotations, cause, message }) => {
        logs.push(
          `${JSON.stringify(message)} ${JSON.stringify([...HashMap.toEntries(annotations)])} ${Cause.pretty(cause)}`
        )
      })
      const aesKey = Buffer.from(`${platform.encodingAesKey}=`, "base64")
      const secrets: Array<string> = [
        platform.componentAppSecret,
        platform.token,
        platform.encodingAesKey,
        aesKey.toString("hex"),
        aesKey.toString("base64url").slice(0, 40)
      ]
      const errors: Array<unknown> = []
      yield* Effect.gen(function*() {
        const component = yield* Component.Component
        const sandbox = yield* Sandbox.Sandbox
        const store = yield* AppTokenStore.AppTokenStore
        errors.push(yield* Effect.flip(component.accessToken)) // ComponentTicketMissing
        const ticket = yield* deliver("component_verify_ticket")
        secrets.push(ticket.push.message.ComponentVerifyTicket)
        const componentToken = yield* component.accessToken
        secrets.push(Redacted.value(componentToken))
        const authorized = yield* deliver("authorized", managedMini)
        secrets.push(
          ...[authorized.push.message.AuthorizationCode, authorized.push.message.PreAuthCode].filter((c) => c !== "")
        )
        if (authorized.event._tag === "Authorized") yield* component.queryAuth(authorized.event.authorizationCode)
        const appToken = yield* component.appToken(managedMini)
        secrets.push(Redacted.value(yield* appToken.get))
        const refresh = yield* store.get(`authorizer-refresh:${managedMini}`)
        if (Option.isSome(refresh)) secrets.push(Redacted.value(refresh.value.accessToken))
        assert.isTrue(Option.isSome(refresh))

        // a login through the platform: the user's code and tokens
        const oauth = yield* WeChatOAuth.makeForComponent(managedOfficial)
        const { state } = yield* oauth.authorizeUrl({ redirectUri, scope: "snsapi_userinfo" })
        const callback = yield* sandbox.approve({
          appId: managedOfficial,
          user: "alice",
          scope: "snsapi_userinfo",
          redirectUri,
          state,
          componentAppId: platform.componentAppId
        })
        secrets.push(new URL(callback).searchParams.get("code")!)
        const { token } = yield* oauth.handleCallback(callback)
        secrets.push(Redacted.value(token.accessToken), Redacted.value(token.refreshToken))
        yield* oauth.getUser(token.openid)

        // a server that echoes every request (query and body) into errmsg, on each component endpoint
        const api = yield* WeChatApi.makeComponent
        const jsCode = yield* sandbox.miniProgramLogin({ appId: managedMini, user: "alice" })
        secrets.push(jsCode)
        const calls: Record<(typeof endpoints)[number], Effect.Effect<unknown, WeChatError.RequestFailure>> = {
          api_component_token: api.componentToken(Redacted.make(ticket.push.message.ComponentVerifyTicket)),
          api_query_auth: api.queryAuth(componentToken, authorized.push.message.AuthorizationCode),
          api_authorizer_token: api.authorizerToken(
            componentToken,
            managedMini,
            Option.getOrThrow(refresh).accessToken
          ),
          component_access_token: api.accessToken(componentToken, managedOfficial, secrets[secrets.length - 4]),
          component_refresh_token: api.refreshToken(componentToken, managedOfficial, token.refreshToken),
          component_jscode2session: api.code2Session(componentToken, managedMini, jsCode)
        }
        for (const endpoint of endpoints) {
          yield* sandbox.injectFault({ kind: "echo", errcode: 40029, endpoint, times: 1 })
          const echoed = yield* Effect.flip(calls[endpoint])
          assert.deepInclude(echoed, { _tag: "InvalidCode", endpoint })
          // api_component_token's secrets are in its body, past the 200 characters kept
          if (endpoint !== "api_component_token") {
            assert.include((echoed as { errmsg: string }).errmsg, "<redacted>", endpoint)
          }
          errors.push(echoed)
        }
        // the errcodes of the platform
        yield* sandbox.setComponentIpWhitelist({ componentAppId: platform.componentAppId, refuse: true })
        errors.push(yield* Effect.flip(api.componentToken(Redacted.make(ticket.push.message.ComponentVerifyTicket))))
        yield* sandbox.setComponentIpWhitelist({ componentAppId: platform.componentAppId, refuse: false })
        errors.push(yield* Effect.flip(api.componentToken(Redacted.make("ticket@@@never-issued"))))
        yield* sandbox.revokeAuthorizerRefreshToken({ componentAppId: platform.componentAppId, appId: managedMini })
        errors.push(
          yield* Effect.flip(api.authorizerToken(componentToken, managedMini, Option.getOrThrow(refresh).accessToken))
        )
        yield* sandbox.advanceClock("13 hours")
        errors.push(yield* Effect.flip(api.componentToken(Redacted.make(ticket.push.message.ComponentVerifyTicket))))
        // refused pushes, through the HTTP handler (which logs them)
        const app = yield* Component.makeHttpApp()
        for (
          const forge of [{ token: "forgerstoken" }, { appId: "wxcomponent0000009" }, {
            xml: "<!DOCTYPE x><xml></xml>"
          }, { timestamp: 1 }]
        ) {
          const push = yield* sandbox.componentPush({
            componentAppId: platform.componentAppId,
            infoType: "component_verify_ticket",
            forge
          })
          const request = new Request(`https://platform.example.com/push?${new URLSearchParams(push.query)}`, {
            method: "POST",
            body: push.body
          })
          const response = yield* Effect.provideService(
            app,
            HttpServerRequest.HttpServerRequest,
            HttpServerRequest.fromWeb(request)
          )
          assert.strictEqual(response.status, 400)
          errors.push(yield* Effect.flip(component.acceptPush({ query: push.query, body: push.body })))
        }
      }).pipe(
        Effect.scoped,
        Effect.withTracer(tracer),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      const tags = new Set(errors.map((e) => (e as { _tag: string })._tag))
      for (
        const tag of [
          "ComponentTicketMissing",
          "InvalidCode",
          "ComponentIpNotWhitelisted",
          "ComponentTicketInvalid",
          "AuthorizerRefreshTokenInvalid",
          "ComponentTicketExpired",
          "InvalidPush"
        ]
      ) {
        assert.isTrue(tags.has(tag), `triggered ${tag}`)
      }
      for (const error of errors) assertClean((error as { _tag: string })._tag, renderings(error), secrets)
      const names = new Set(spans.map((span) => span.name))
      for (
        const name of ["Component.acceptPush", "Component.queryAuth", "AppToken.refresh", "WeChatApi.api_query_auth"]
      ) {
        assert.isTrue(names.has(name), `span ${name}`)
      }
      for (const span of spans) {
        const attributes = [...span.attributes.entries()].map(([k, v]) => `${k}=${String(v)}`)
        const events = span.status._tag === "Ended"
          ? [String(Cause.pretty((span.status.exit as any).cause ?? Cause.empty))]
          : []
        assertClean(`span ${span.name}`, [...attributes, ...events], secrets)
      }
      assert.isTrue(logs.some((line) => line.includes("refused a push")), "the refusals are logged")
      assertClean("logs", logs, secrets)
    }).pipe(Effect.provide(ComponentLive())), 60_000)
})
