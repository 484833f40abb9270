/**
 * The sweep of @wxauth/core's public API (test-support's `Sweep`): every exported function and every
 * method of the services it builds, called with valid arguments and then with each hostile value
 * (undefined, null, -0, NaN, 2**64, a BigInt, a Symbol, a function, a frozen object, throwing
 * getters, a trapping or revoked Proxy, NUL / newline / lone-surrogate / 1 MB strings, a Redacted of
 * a non-string, objects posing as Redacted, Duration or Option...) in each argument position and
 * each field of an options argument, the others valid. Each call must end without a throw, a defect
 * or a hang, fail (if it fails) with a tagged error, and leave no secret (the app's and the
 * platform's secrets, the state secret, a cipher key, a user's tokens, a session key) in its error,
 * its spans or its log lines, at any level. A function without a row fails the sweep.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Core from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import { type Findings, probe, publicFunctions, type Row, sweep } from "@wxauth/test-support"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"

const {
  AppToken,
  AppTokenStore,
  Component,
  MiniProgram,
  RefreshLock,
  SessionKeyStore,
  SessionStore,
  TokenCipher,
  TokenStore,
  WeChatApi,
  WeChatApps,
  WeChatConfig,
  WeChatOAuth
} = Core

const app = Sandbox.defaultApps.officialAccount
const mini = Sandbox.defaultApps.miniProgram
const redirectUri = "https://app.example.com/wechat/callback"
const stateSecret = "the sweep's state secret, long enough to sign"
const cipherKey = Redacted.value(TokenCipher.generateKey())
const managedOfficial = "wxsweepmanagedoa01"
const managedMini = "wxsweepmanagedmp01"
const platform = {
  componentAppId: "wxcomponentsweep01",
  componentAppSecret: "f1e2d3c4b5a60718293a4b5c6d7e8f90",
  token: "sweeptoken",
  encodingAesKey: "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj"
}

const Services = Layer.mergeAll(
  WeChatOAuth.layer,
  MiniProgram.layer,
  WeChatApi.layer,
  TokenCipher.layer({ keys: [{ id: "k1", key: Redacted.make(cipherKey) }] }),
  AppToken.layer,
  Component.layer(platform),
  WeChatApps.layer({
    apps: [{ appId: app.appId, appSecret: app.secret }, { appId: mini.appId, appSecret: mini.secret }]
  }, { stateSecret })
).pipe(
  Layer.provideMerge(
    Layer.mergeAll(
      TokenStore.layerMemory,
      AppTokenStore.layerMemory,
      SessionKeyStore.layerMemory,
      SessionStore.layerMemory
    )
  ),
  Layer.provideMerge(WeChatConfig.layer({ appId: app.appId, appSecret: app.secret, stateSecret })),
  Layer.provideMerge(Sandbox.layerHttpClient),
  Layer.provideMerge(Sandbox.layer({
    components: [{
      ...platform,
      pushInterval: false,
      authorizers: [
        { appId: managedOfficial, kind: "officialAccount" },
        { appId: managedMini, kind: "miniProgram" }
      ]
    }]
  }))
)

/** Effect's data types (metrics) are callable without being functions of ours; classes and tags are built, not called. */
const isFunctionOfOurs = (f: unknown): f is Function =>
  typeof f === "function" &&
  !Object.getOwnPropertySymbols(f).some((symbol) => String(symbol).includes("effect/Metric")) &&
  !/^class[\s{]/.test(Function.prototype.toString.call(f)) &&
  typeof (f as any).ast !== "object" && !(typeof (f as any).key === "string" && "Service" in f)

describe("sweep: every public function of @wxauth/core against hostile JavaScript callers", () => {
  it.live("the harness sees a throw, a defect, a hang, an untyped failure, and a secret wherever it is left", () =>
    Effect.gen(function*() {
      const secret = "SWEEP_SELF_TEST_SECRET"
      const seen = (call: () => unknown) =>
        probe({
          name: "f",
          call,
          secrets: [secret],
          provide: <A, E>(effect: Effect.Effect<A, E, any>) => effect as Effect.Effect<A, E>,
          timeout: "200 millis"
        })
      const cases: ReadonlyArray<readonly [string, () => unknown, string]> = [
        ["a throw", () => {
          throw new Error("x")
        }, "defect or throw"],
        ["a defect", () => Effect.die("x"), "defect or throw"],
        ["a hang", () => Effect.never, "hung"],
        ["an untyped failure", () => Effect.fail("x"), "an untyped failure"],
        [
          "a secret in the error",
          () => Effect.fail(new Core.WeChatError.InvalidArgument({ argument: secret, description: "" })),
          "a secret in the error"
        ],
        [
          "a secret in an error's cause",
          () => Effect.fail({ _tag: "E", cause: { query: secret } }),
          "a secret in the error"
        ],
        [
          "a secret in a span attribute",
          () => Effect.withSpan(Effect.void, "s", { attributes: { q: secret } }),
          "a secret in span s"
        ],
        [
          "a secret in a span event",
          () => Effect.withSpan(Effect.annotateCurrentSpan("q", secret), "s"),
          "a secret in span s"
        ],
        ["a secret in a debug log line", () => Effect.logDebug(`q=${secret}`), "a secret in a log line"],
        [
          "a secret in a log annotation",
          () => Effect.annotateLogs(Effect.logInfo("x"), "q", secret),
          "a secret in a log line"
        ],
        ["a secret in a logged cause", () => Effect.logWarning("x", Cause.fail(secret)), "a secret in a log line"],
        ["a Layer that dies when built", () => Layer.effectDiscard(Effect.die("x")), "defect or throw"]
      ]
      for (const [label, call, expected] of cases) {
        const problems = yield* seen(call)
        assert.isTrue(problems.some((problem) => problem.includes(expected)), `${label}: ${problems.join("; ")}`)
      }
      assert.deepStrictEqual(
        yield* seen(() => Effect.fail(new Core.WeChatError.InvalidArgument({ argument: "a", description: "" }))),
        []
      )
      assert.deepStrictEqual(yield* seen(() => 42), [])
    }))

  it.live(
    "no throw, no defect, no hang, a tagged error, no secret in errors, spans or logs",
    () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(Services, scope)
        const provide = <A, E>(effect: Effect.Effect<A, E, any>) =>
          Effect.provide(effect, context) as Effect.Effect<A, E>
        const sandbox = yield* Effect.provide(Sandbox.Sandbox, context)
        const oauth = yield* Effect.provide(WeChatOAuth.WeChatOAuth, context)
        const apps = yield* Effect.provide(WeChatApps.WeChatApps, context)
        const config = yield* Effect.provide(WeChatConfig.WeChatConfig, context)

        // what a caller holds: a user's token, a mini program session and its encrypted data
        const { state } = yield* oauth.authorizeUrl({ redirectUri, scope: "snsapi_userinfo" })
        const callback = yield* sandbox.approve({
          appId: app.appId,
          user: "alice",
          scope: "snsapi_userinfo",
          redirectUri,
          state
        })
        const { token } = yield* oauth.handleCallback(callback)
        const miniProgram = yield* apps.miniProgram(mini.appId)
        const registryState = (yield* apps.authorizeUrl(app.appId, { redirectUri, scope: "snsapi_userinfo" })).state
        const registryCallback = yield* sandbox.approve({
          appId: app.appId,
          user: "bob",
          scope: "snsapi_userinfo",
          redirectUri,
          state: registryState
        })
        // the platform gets its ticket, and an app authorizes it
        const component = yield* Effect.provide(Component.Component, context)
        const ticket = yield* sandbox.componentPush({
          componentAppId: platform.componentAppId,
          infoType: "component_verify_ticket"
        })
        yield* component.acceptPush({ query: ticket.query, body: ticket.body })
        const authorized = yield* sandbox.componentPush({
          componentAppId: platform.componentAppId,
          infoType: "authorized",
          appId: managedMini
        })
        const authorizationCode = Option.getOrThrow(
          Option.liftPredicate(
            yield* component.acceptPush({ query: authorized.query, body: authorized.body }),
            (event) => event._tag === "Authorized"
          ).pipe(Option.map((event) => (event as any).authorizationCode as Redacted.Redacted<string>))
        )
        const componentToken = yield* component.accessToken
        const phoneCode = yield* sandbox.phoneNumberCode({ appId: mini.appId, user: "alice" })
        const jsCode = yield* sandbox.miniProgramLogin({ appId: mini.appId, user: "alice" })
        const session = yield* (miniProgram as any).code2Session(jsCode) as Effect.Effect<
          { readonly openid: string; readonly sessionKey: Redacted.Redacted<string> }
        >
        const encrypted = yield* sandbox.encryptUserData({ appId: mini.appId, user: "alice" })
        const appToken = yield* Effect.provide(Effect.flatMap(AppToken.AppToken, (t) => t.get), context)
        const secrets = [
          app.secret,
          mini.secret,
          platform.componentAppSecret,
          platform.token,
          platform.encodingAesKey,
          stateSecret,
          cipherKey,
          Redacted.value(token.accessToken),
          Redacted.value(token.refreshToken),
          Redacted.value(session.sessionKey),
          Redacted.value(appToken),
          Redacted.value(componentToken),
          Redacted.value(authorizationCode)
        ]
        const openid = token.openid
        const sessionKey = session.sessionKey
        const sessionId = yield* SessionStore.makeToken
        const now = Date.now()
        const storedSession = new SessionStore.Session({
          idHash: SessionStore.hashToken(sessionId),
          appId: app.appId,
          openid,
          scopes: ["snsapi_userinfo"],
          kind: "browser",
          createdAt: now,
          expiresAt: now + 600_000,
          data: { cart: "1" }
        })
        const configOptions = {
          appId: app.appId,
          appSecret: app.secret,
          apiBaseUrl: "https://api.weixin.qq.com",
          openBaseUrl: "https://open.weixin.qq.com",
          timeout: "5 seconds",
          stateSecret,
          stateTtl: "10 minutes",
          cipherKeys: [{ id: "k1", key: Redacted.make(cipherKey) }],
          maxResponseBytes: 65_536
        }
        const rows: Record<string, { args: ReadonlyArray<unknown>; skip?: ReadonlyArray<number> }> = {
          // modules
          "AppToken.makeWith": { args: [{ mode: "stable", refreshWithin: "5 minutes", sourceTimeout: "15 seconds" }] },
          "AppToken.layerWith": {
            args: [{ mode: "classic", refreshWithin: "5 minutes", sourceTimeout: "15 seconds" }]
          },
          "AppTokenStore.makeMemory": { args: [{ maxEntries: 10 }] },
          "AppTokenStore.markBounded": { args: [{ ...(yield* AppTokenStore.makeMemory()) }] },
          "AppTokenStore.checkKey": { args: ["get", app.appId] },
          "AppTokenStore.checkToken": {
            args: [
              "set",
              new AppTokenStore.AppAccessToken({ accessToken: appToken, obtainedAt: now, expiresAt: now + 7_200_000 })
            ]
          },
          "Component.makeConfigEither": {
            args: [{ ...platform, timeout: "5 seconds", pushMaxAge: "5 minutes", pushTimeout: "4 seconds" }]
          },
          "Component.layer": { args: [platform] },
          "Component.layerConfig": {
            args: [{
              componentAppId: Config.succeed(platform.componentAppId),
              componentAppSecret: Config.succeed(Redacted.make(platform.componentAppSecret)),
              token: Config.succeed(Redacted.make(platform.token)),
              encodingAesKey: Config.succeed(Redacted.make(platform.encodingAesKey))
            }]
          },
          "Component.makeHttpApp": { args: [{}] },
          "Component.makePushHandler": { args: [{ onEvent: () => undefined }] },
          "LegacyToken.decode": {
            args: [{
              access_token: "at",
              refresh_token: "rt",
              openid,
              scope: "snsapi_base",
              create_at: 1_700_000_000_000,
              expires_in: 7200
            }, 1_700_000_000_000]
          },
          "MiniProgram.layerForComponent": { args: [managedMini, {}] },
          "MiniProgram.makeForComponent": { args: [managedMini, {}] },
          "MiniProgram.makeWith": { args: [{}] },
          "MiniProgramCrypto.decryptUserData": {
            args: [{ appId: mini.appId, sessionKey, encryptedData: encrypted.encryptedData, iv: encrypted.iv }]
          },
          "MiniProgramCrypto.decryptUserDataSync": {
            args: [{ appId: mini.appId, sessionKey, encryptedData: encrypted.encryptedData, iv: encrypted.iv }]
          },
          "OAuthToken.decodeJson": { args: [yield* Core.OAuthToken.encodeJson(token)] },
          "OAuthToken.encodeJson": { args: [token] },
          "OAuthToken.fromResponse": {
            args: [
              {
                access_token: token.accessToken,
                refresh_token: token.refreshToken,
                openid,
                scope: "snsapi_userinfo",
                expires_in: 7200
              },
              1_700_000_000_000,
              token
            ]
          },
          "RefreshLock.layerInProcess": { args: [{ waitTimeout: "1 second" }] },
          "RefreshLock.makeInProcess": { args: [{ waitTimeout: "1 second" }] },
          "RefreshLock.markBounded": { args: [{ ...RefreshLock.makeInProcess() }] },
          "RefreshLock.withWriteKey": {
            // the effect is the caller's own: its defect is its own (a non-Effect: RefreshLock.test.ts)
            args: [{ lock: RefreshLock.makeInProcess(), appId: app.appId, openid }, Effect.succeed("stored")],
            skip: [1]
          },
          "RetryPolicy.make": { args: [{ refreshSkew: "1 minute", codeMemoTtl: "30 seconds" }] },
          "RetryPolicy.retriesTotal": { args: ["x"] },
          "SessionKeyStore.makeMemory": { args: [{ maxEntries: 10, ttl: "1 hour" }] },
          "SessionKeyStore.markBounded": { args: [{ ...(yield* SessionKeyStore.makeMemory()) }] },
          "SessionStore.bounded": { args: [{ ...(yield* SessionStore.makeMemory()) }] },
          "SessionStore.checkIdHash": { args: ["get", storedSession.idHash] },
          "SessionStore.checkNew": { args: [storedSession, now] },
          "SessionStore.checkSession": { args: ["create", storedSession] },
          "SessionStore.checkTime": { args: ["touch", "expiresAt", 1_700_000_000_000] },
          "SessionStore.checkTouch": { args: [storedSession.idHash, now + 700_000, now] },
          "SessionStore.checkUser": { args: ["revokeUser", app.appId, openid] },
          "SessionStore.decode": {
            args: [storedSession.idHash, yield* SessionStore.encode(storedSession), {
              expiresAt: storedSession.expiresAt,
              lastSeenAt: now
            }]
          },
          "SessionStore.encode": { args: [storedSession] },
          "SessionStore.hashToken": { args: [Redacted.make("a".repeat(43))] },
          "SessionStore.makeMemory": { args: [{ maxEntries: 10, maxSessionsPerUser: 3 }] },
          "SessionStore.markBounded": { args: [{ ...(yield* SessionStore.makeMemory()) }] },
          "SessionStore.parseToken": { args: ["a".repeat(43)] },
          "StateToken.appIdOf": { args: [state] },
          "StateToken.bindingHash": { args: [config, "cookie"] },
          "StateToken.equals": { args: [state, state] },
          "StateToken.make": { args: [{ returnTo: "/a", binding: "cookie", ttl: "1 minute", carryAppId: true }] },
          "StateToken.makeSync": {
            args: [config, 1_700_000_000_000, { returnTo: "/a", binding: "cookie", ttl: "1 minute", carryAppId: true }]
          },
          "StateToken.maxReturnToBytesFor": { args: [{ binding: true, carryAppId: true }] },
          "StateToken.normalizeReturnTo": { args: ["/a?b=c", { maxBytes: 100 }] },
          "StateToken.verify": { args: [state, { binding: "cookie" }] },
          "StateToken.verifySync": { args: [config, 1_700_000_000_000, state, { binding: "cookie" }] },
          "TokenCipher.generateKey": { args: [] },
          "TokenCipher.layer": { args: [{ keys: [{ id: "k1", key: Redacted.make(cipherKey) }], currentKeyId: "k1" }] },
          "TokenCipher.layerConfig": { args: [Config.succeed(Redacted.make(`k1:${cipherKey}`))] },
          "TokenCipher.make": { args: [{ keys: [{ id: "k1", key: Redacted.make(cipherKey) }], currentKeyId: "k1" }] },
          "TokenStore.hashCode": { args: ["code"] },
          "TokenStore.checkAppId": { args: ["get", app.appId] },
          "TokenStore.checkUser": { args: ["get", app.appId, openid] },
          "TokenStore.checkToken": { args: ["set", token] },
          "TokenStore.checkMemo": {
            args: ["rememberCode", new TokenStore.CodeMemo({ openid, exchangedAt: now, expiresAt: now + 60_000 })]
          },
          "TokenStore.checkCode": { args: ["recallCode", app.appId, TokenStore.hashCode("code")] },
          "TokenStore.layerMemoryWith": { args: [{ maxEntries: 10 }] },
          "TokenStore.makeMemory": { args: [{ maxEntries: 10 }] },
          "TokenStore.markBounded": { args: [{ ...(yield* TokenStore.makeMemory()) }] },
          "WeChatApi.errorsTotal": { args: ["x"] },
          "WeChatApi.layerWith": { args: [{ spans: true }] },
          "WeChatApi.makeComponentWith": { args: [{ spans: true }] },
          "WeChatApi.makeWith": { args: [{ spans: true }] },
          "WeChatApi.requestsTotal": { args: ["x"] },
          "WeChatApi.sessionSignature": { args: [sessionKey] },
          "WeChatApps.buildsTotal": { args: ["x"] },
          "WeChatApps.layer": {
            args: [{ apps: [{ appId: app.appId, appSecret: app.secret }] }, { stateSecret, stateTtl: "1 minute" }]
          },
          "WeChatApps.make": {
            args: [{ apps: [{ appId: app.appId, appSecret: app.secret }] }, { stateSecret, stateTtl: "1 minute" }]
          },
          "WeChatConfig.layer": { args: [configOptions] },
          "WeChatConfig.layerConfig": {
            args: [{ appId: Config.succeed(app.appId), appSecret: Config.succeed(Redacted.make(app.secret)) }]
          },
          "WeChatConfig.makeEither": { args: [configOptions] },
          "WeChatConfig.unwrapConfig": { args: [{ appId: Config.succeed(app.appId) }] },
          "WeChatError.fromErrcode": { args: [40029, "invalid code", "x"] },
          "WeChatError.isRefreshable": { args: [new Core.WeChatError.InvalidCode({ errcode: 40029, errmsg: "x" })] },
          "WeChatError.isRetryable": { args: [new Core.WeChatError.InvalidCode({ errcode: 40029, errmsg: "x" })] },
          "WeChatError.isSafeToResend": { args: [new Core.WeChatError.InvalidCode({ errcode: 40029, errmsg: "x" })] },
          "WeChatError.isTransient": { args: [new Core.WeChatError.InvalidCode({ errcode: 40029, errmsg: "x" })] },
          "WeChatError.isWeChatApiError": { args: [new Core.WeChatError.InvalidCode({ errcode: 40029, errmsg: "x" })] },
          "WeChatError.kindOf": { args: [new Core.WeChatError.InvalidCode({ errcode: 40029, errmsg: "x" })] },
          "WeChatError.requiresReauthorization": {
            args: [new Core.WeChatError.InvalidCode({ errcode: 40029, errmsg: "x" })]
          },
          "WeChatHttpClient.isTransportCause": { args: [{}] },
          "WeChatHttpClient.layer": {
            args: [{
              timeout: "5 seconds",
              connections: 2,
              keepAliveTimeout: "1 second",
              connectTimeout: "1 second",
              proxy: "http://127.0.0.1:9",
              maxResponseBytes: 65_536
            }]
          },
          "WeChatHttpClient.layerConfig": { args: [{}] },
          "WeChatHttpClient.make": { args: [{ timeout: "5 seconds", connections: 2 }] },
          "WeChatHttpClient.toTransportCause": { args: [new Error("x")] },
          "WeChatHttpClient.withRequestLimits": { args: [Effect.void, { timeout: "1 second" }], skip: [0] },
          "WeChatOAuth.layerForComponent": {
            args: [managedOfficial, { stateSecret, stateTtl: "1 minute", policy: {} }]
          },
          "WeChatOAuth.layerWith": { args: [{ policy: {} }] },
          "WeChatOAuth.makeForComponent": {
            args: [managedOfficial, { stateSecret, stateTtl: "1 minute", policy: {} }]
          },
          "WeChatOAuth.makeWith": { args: [{ refreshSkew: "1 minute" }] },
          "WeChatOAuth.refreshesTotal": { args: ["x"] },
          "WeChatOAuth.refreshAfter": { args: [oauth, openid, token.obtainedAt] },
          // services
          "oauth.authorizeUrl": { args: [{ redirectUri, scope: "snsapi_userinfo", returnTo: "/a", binding: "c" }] },
          "oauth.websiteAuthorizeUrl": { args: [{ redirectUri, returnTo: "/a", binding: "c" }] },
          "oauth.exchangeCode": { args: ["0a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P", { binding: "c" }] },
          "oauth.handleCallback": { args: [callback, { binding: "c" }] },
          "oauth.refresh": { args: [openid] },
          "oauth.getUser": { args: [openid, { lang: "en" }] },
          "oauth.getUserByCode": { args: ["0a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P", { lang: "en" }] },
          "oauth.verifyAccessToken": { args: [openid] },
          "oauth.getToken": { args: [openid] },
          "oauth.removeToken": { args: ["o-not-a-user"] },
          "miniProgram.code2Session": { args: [jsCode] },
          "miniProgram.decryptUserData": { args: [sessionKey, encrypted.encryptedData, encrypted.iv] },
          "miniProgram.getPhoneNumber": { args: [phoneCode] },
          "miniProgram.checkSessionKey": { args: [session.openid] },
          "miniProgram.resetSessionKey": { args: ["o-not-a-user"] },
          "api.accessToken": { args: ["0a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P"] },
          "api.refreshToken": { args: [token.refreshToken] },
          "api.userInfo": { args: [token.accessToken, openid, "en"] },
          "api.auth": { args: [token.accessToken, openid] },
          "api.code2Session": { args: ["jscode"] },
          "api.stableToken": { args: [{ forceRefresh: false }] },
          "api.token": { args: [] },
          "api.getUserPhoneNumber": { args: [appToken, "phonecode"] },
          "api.checkSession": { args: [appToken, session.openid, sessionKey] },
          "api.resetUserSessionKey": { args: [appToken, "o-not-a-user", sessionKey] },
          "store.get": { args: [app.appId, openid] },
          "store.set": { args: [app.appId, token] },
          "store.remove": { args: [app.appId, "o-not-a-user"] },
          "store.rememberCode": {
            args: [
              app.appId,
              "h".repeat(43),
              new TokenStore.CodeMemo({ openid, exchangedAt: now, expiresAt: now + 60_000 })
            ]
          },
          "store.recallCode": { args: [app.appId, "h".repeat(43)] },
          "sessions.create": { args: [storedSession] },
          "sessions.get": { args: [storedSession.idHash] },
          "sessions.touch": { args: [storedSession.idHash, now + 700_000] },
          "sessions.revoke": { args: [storedSession.idHash] },
          "sessions.revokeUser": { args: [app.appId, "o-not-a-user"] },
          "cipher.encrypt": { args: [Redacted.value(token.accessToken), "aad"] },
          "cipher.decrypt": {
            args: [
              yield* Effect.provide(
                Effect.flatMap(TokenCipher.TokenCipher, (c) => c.encrypt(Redacted.value(token.accessToken), "aad")),
                context
              ),
              "aad"
            ]
          },
          "component.acceptPush": { args: [{ query: ticket.query, body: ticket.body }, () => Effect.void] },
          "component.withAccessToken": { args: [() => Effect.void], skip: [0] },
          "component.queryAuth": { args: [authorizationCode] },
          "component.appToken": { args: [managedMini] },
          "apps.oauth": { args: [app.appId] },
          "apps.miniProgram": { args: [mini.appId] },
          "apps.appToken": { args: [app.appId] },
          "apps.authorizeUrl": { args: [app.appId, { redirectUri, scope: "snsapi_userinfo", returnTo: "/a" }] },
          "apps.websiteAuthorizeUrl": { args: [app.appId, { redirectUri, returnTo: "/a" }] },
          "apps.handleCallback": { args: [registryCallback, {}] },
          "appToken.invalidate": { args: [appToken] },
          "appToken.withToken": { args: [() => Effect.void], skip: [0] },
          "appTokenStore.get": { args: [app.appId] },
          "appTokenStore.set": {
            args: [
              app.appId,
              new AppTokenStore.AppAccessToken({ accessToken: appToken, obtainedAt: now, expiresAt: now + 7_200_000 })
            ]
          },
          "sessionKeys.get": { args: [mini.appId, session.openid] },
          "sessionKeys.set": { args: [mini.appId, session.openid, sessionKey] },
          "sessionKeys.remove": { args: [mini.appId, "o-not-a-user"] },
          "lock.withLock": { args: ["key", Effect.void], skip: [1] }
        }

        const services = yield* Effect.all({
          oauth: WeChatOAuth.WeChatOAuth,
          miniProgram: Effect.succeed(miniProgram),
          api: WeChatApi.WeChatApi,
          store: TokenStore.TokenStore,
          sessions: SessionStore.SessionStore,
          cipher: TokenCipher.TokenCipher,
          component: Effect.succeed(component),
          apps: WeChatApps.WeChatApps,
          appToken: AppToken.AppToken,
          appTokenStore: AppTokenStore.AppTokenStore,
          sessionKeys: SessionKeyStore.SessionKeyStore
        }).pipe(Effect.provide(context))
        const instances: Record<string, object> = {
          ...services,
          lock: RefreshLock.makeInProcess({ waitTimeout: "100 millis" })
        }
        const targets = publicFunctions(Core, instances, isFunctionOfOurs)
        const missing = targets.map(([name]) => name).filter((name) => !(name in rows))
        assert.deepStrictEqual(missing, [], "every public function has a row")

        const swept: Array<Row> = targets.map(([name, f, self]) => ({
          name,
          call: (...args) => f.apply(self, args),
          args: rows[name].args,
          skip: rows[name].skip
        }))
        // options nested in options: each field of the inner object swept as well
        const resolved = { appId: app.appId, appSecret: app.secret }
        swept.push(
          {
            name: "WeChatApps.make({ apps: [app] })",
            call: (one) => WeChatApps.make({ apps: [one] }, { stateSecret }),
            args: [{ ...configOptions, stateSecret: undefined, policy: {}, appToken: { mode: "stable" } }]
          },
          {
            name: "WeChatApps.make({ apps: [managed app] })",
            call: (one) => WeChatApps.make({ apps: [one] }, { stateSecret }),
            args: [{ appId: managedOfficial, component: true, policy: {}, stateTtl: "1 minute" }]
          },
          {
            name: "WeChatApps.make({ resolve })",
            call: (options) =>
              Effect.flatMap(WeChatApps.make(options, { stateSecret }), (registry) => registry.oauth(app.appId)),
            args: [{
              resolve: () => Effect.succeed(resolved),
              ttl: "1 minute",
              unknownTtl: "1 minute",
              capacity: 10,
              resolveTimeout: "1 second"
            }]
          },
          {
            name: "WeChatApps.make({ resolve }) resolving",
            call: (answer) =>
              Effect.flatMap(
                WeChatApps.make({ resolve: () => answer }, { stateSecret }),
                (registry) => registry.oauth(app.appId)
              ),
            args: [Effect.succeed(resolved)]
          },
          {
            name: "WeChatApps.make({ resolve }) resolved app",
            call: (one) =>
              Effect.flatMap(
                WeChatApps.make({ resolve: () => Effect.succeed(one) }, { stateSecret }),
                (registry) => registry.oauth(app.appId)
              ),
            args: [{ ...resolved, apiBaseUrl: "https://api.weixin.qq.com", timeout: "5 seconds", policy: {} }]
          },
          {
            name: "TokenCipher.make({ keys: [key] })",
            call: (key) => TokenCipher.make({ keys: [key] }),
            args: [{ id: "k1", key: Redacted.make(cipherKey) }]
          },
          {
            name: "WeChatConfig.makeEither({ cipherKeys: [key] })",
            call: (key) => WeChatConfig.makeEither({ ...configOptions, cipherKeys: [key] } as any),
            args: [{ id: "k1", key: Redacted.make(cipherKey) }]
          },
          {
            name: "WeChatOAuth.makeWith(policy) then getUser",
            call: (policy) => Effect.flatMap(WeChatOAuth.makeWith(policy), (service) => service.getUser(openid)),
            args: [{
              refreshSkew: "1 minute",
              codeMemoTtl: "30 seconds",
              retryOn: () => false,
              refreshOn: () => false,
              retrySchedule: Schedule.recurs(1),
              exchangeRetryOn: () => false,
              exchangeRetrySchedule: Schedule.recurs(1)
            }]
          },
          {
            name: "AppToken.makeWith({ source }) then get",
            call: (answer) => Effect.flatMap(AppToken.makeWith({ source: () => answer }), (service) => service.get),
            args: [Effect.succeed({ access_token: appToken, expires_in: 7200 })]
          },
          {
            name: "oauth.handleCallback(URL)",
            call: (url, options) => oauth.handleCallback(url, options),
            args: [new URL(callback), { expectedState: "abc", binding: "c" }]
          }
        )
        const findings: Findings = { calls: 0, problems: [], invalidRows: process.env.SWEEP_DUMP ? [] : undefined }
        yield* sweep({ rows: swept, secrets, provide, findings })
        yield* Scope.close(scope, Exit.void)
        console.log(
          `core sweep: ${swept.length} functions, ${findings.calls} calls, ${findings.problems.length} problems`
        )
        if (process.env.SWEEP_DUMP) {
          require("node:fs").writeFileSync(
            process.env.SWEEP_DUMP,
            [...findings.problems, "--- rows", ...findings.invalidRows ?? []].join("\n")
          )
        }
        assert.deepStrictEqual(findings.problems.slice(0, 40), [], `${findings.problems.length} problems`)
        assert.isAbove(findings.calls, 5000)
        assert.isTrue(Option.isSome(Option.some(session)))
      }),
    1_200_000
  )
})
