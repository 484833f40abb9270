/**
 * What the login says when it cannot do something: a profile the login cannot give (a mini
 * program's user, an `snsapi_base` login) fails locally, `permanent`, in plain words, without a
 * WeChat call; a login's failure logs safe detail (a transport error's reason and phase, a store's
 * operation and description) and never a secret; a snapshot user is logged (its token is kept); the
 * OpenAPI document declares the failures the routes answer; a mini program's login answers in a
 * mini program's words.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { assert, describe, it, layer } from "@effect/vitest"
import { SessionStore, TokenStore, type UserInfo, WeChatError } from "@wxauth/core"
import { WeChatLogin } from "@wxauth/http"
import { Browser, consent, login, sandboxControl, startLogin, userAgents } from "@wxauth/test-support"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Util from "node:util"
import * as Problems from "../src/internal/problems.js"
import { profileScopes, refusesProfile } from "../src/internal/service.js"
import { MINI, OA, sandboxApps, testApp, TestServer } from "./helpers.js"

const logLines: Array<string> = []
const captureLogs = Logger.replace(
  Logger.defaultLogger,
  Logger.map(Logger.logfmtLogger, (line) => void logLines.push(line))
)

const json = (text: string) => JSON.parse(text) as Record<string, any>

const setup = Effect.gen(function*() {
  const { sandboxUrl, url } = yield* TestServer
  const config = yield* sandboxControl(sandboxUrl, "GET", "config")
  const openids = config.openids as Record<string, Record<string, string>>
  const stats = sandboxControl(sandboxUrl, "GET", "stats") as Effect.Effect<Record<string, number>>
  const browser = (userAgent: string = userAgents.wechat) => new Browser(url, { userAgent })
  const miniCode = (user: string) =>
    Effect.map(
      sandboxControl(sandboxUrl, "POST", "miniprogram/login", { appId: MINI.appId, user }),
      (answer) => answer.code as string
    )
  return { url, sandboxUrl, openids, stats, browser, miniCode }
})

/** The user of a request carrying `headers`, as the login's service sees it. */
const userOf = (headers: Record<string, string>) =>
  Effect.flatMap(WeChatLogin.WeChatLogin, (service) =>
    service.currentUser.pipe(
      Effect.provideService(
        HttpServerRequest.HttpServerRequest,
        HttpServerRequest.fromWeb(new Request("http://app.test/", { headers }))
      )
    ))

/** Hooks that make every login a first one and record what `identity.profile` gave. */
const recordingProfiles = (profiles: Array<Either.Either<UserInfo.UserInfo, unknown>>) => ({
  findUser: () => Effect.succeed(undefined),
  onFirstLogin: (identity: WeChatLogin.Identity) =>
    identity.profile.pipe(
      Effect.either,
      Effect.map((profile) => {
        profiles.push(profile)
        return `user-${identity.openid}`
      })
    )
})

/** A browser's session cookie as a request header. */
const cookieOf = (browser: Browser) => ({ cookie: `wxauth_session=${browser.cookies.get("wxauth_session")}` })

describe("LoginDiagnostics: core's local ScopeUnauthorized", () => {
  it("local: permanent whatever the endpoint, its message errmsg's words; without it, userinfo's 48001 is reauthorize", () => {
    const local = new WeChatError.ScopeUnauthorized({
      errcode: 48001,
      errmsg: "no profile here",
      endpoint: "userinfo",
      local: true
    })
    assert.strictEqual(WeChatError.kindOf(local), "permanent")
    assert.strictEqual(local.message, "no profile here (errcode 48001, decided locally: no WeChat call was made)")
    const wechat = new WeChatError.ScopeUnauthorized({
      errcode: 48001,
      errmsg: "api unauthorized",
      endpoint: "userinfo"
    })
    assert.strictEqual(WeChatError.kindOf(wechat), "reauthorize")
    assert.include(wechat.message, "authorize with snsapi_userinfo")
  })
})

/** Asserts a profile failure decided locally: permanent, in plain words, no WeChat permission to hunt. */
const assertLocalNoProfile = (error: unknown, words: ReadonlyArray<string>) => {
  if (!(error instanceof WeChatError.ScopeUnauthorized)) return assert.fail(`ScopeUnauthorized, not ${String(error)}`)
  assert.strictEqual(error._tag, "ScopeUnauthorized")
  assert.strictEqual(error.errcode, 48001)
  assert.strictEqual(WeChatError.kindOf(error), "permanent", "a client following a 401 would loop")
  assert.isFalse(WeChatError.requiresReauthorization(error))
  assert.include(error.message, "no WeChat call was made")
  assert.notInclude(error.message, "check the app's type and permissions", error.message)
  for (const word of words) assert.include(error.message, word)
  // WeChat rejected nothing: not the config page ("WeChat rejected this site's app configuration")
  assert.strictEqual(Problems.fromError(error).reason, "server")
}

// -------------------------------------------------------------------------------------------------
// 1. a mini program's user has no profile; 6. a mini program's login in a mini program's words
// -------------------------------------------------------------------------------------------------

describe("LoginDiagnostics: a mini program", () => {
  const profiles: Array<Either.Either<UserInfo.UserInfo, unknown>> = []
  layer(
    Layer.provide(
      testApp(() => ({
        hooks: recordingProfiles(profiles)
      })),
      captureLogs
    ),
    { excludeTestServices: true }
  )((it) => {
    it.effect("a user's profile fails locally: ScopeUnauthorized, permanent, says there is none and no WeChat call was made", () =>
      Effect.gen(function*() {
        const { browser, miniCode, stats } = yield* setup
        const answer = yield* browser().postJson("/api/wechat/mini-program/mini/login", {
          code: yield* miniCode("bob")
        })
        assert.strictEqual(answer.status, 200, answer.text)
        const before = yield* stats
        const user = yield* userOf({ authorization: `Bearer ${json(answer.text).token}` })
        const service = yield* WeChatLogin.WeChatLogin
        const error = yield* Effect.flip(service.getUser(user))
        assertLocalNoProfile(error, ["mini program", "no WeChat profile"])
        // and identity.profile, as a hook sees it
        assert.strictEqual(profiles.length, 1)
        const profile = profiles[0]
        if (Either.isRight(profile)) return assert.fail("a mini program's user has no profile")
        assertLocalNoProfile(profile.left, ["mini program", "no WeChat profile"])
        const after = yield* stats
        assert.strictEqual(after.userinfo ?? 0, before.userinfo ?? 0, "no userinfo call")
      }))

    it.effect("a reused wx.login() code and a garbage one: the reason keys stay, the titles speak of a login code, not a link", () =>
      Effect.gen(function*() {
        const { browser, miniCode } = yield* setup
        const path = "/api/wechat/mini-program/mini/login"
        const code = yield* miniCode("carol")
        assert.strictEqual((yield* browser().postJson(path, { code })).status, 200)
        const again = json((yield* browser().postJson(path, { code })).text)
        assert.strictEqual(again.error, "code-used")
        assert.notInclude(again.titleEn, "link")
        assert.notInclude(again.title, "链接")
        assert.include(again.titleEn, "login code")
        const garbage = yield* browser().postJson(path, { code: "not-a-code-wechat-gave" })
        assert.strictEqual(garbage.status, 400, garbage.text)
        const body = json(garbage.text)
        assert.strictEqual(body.error, "code-expired")
        assert.include(body.titleEn, "invalid", "a code WeChat does not know is not said to have expired only")
        assert.include(body.title, "无效")
        // the browser's pages keep their words
        assert.strictEqual(Problems.problems["code-used"].titleEn, "This login link was already used")
      }))
  })
})

// -------------------------------------------------------------------------------------------------
// 2. an snsapi_base login has no profile
// -------------------------------------------------------------------------------------------------

it("only a login known to be snsapi_base alone is refused a profile locally; scopes that say nothing go to WeChat", () => {
  assert.isFalse(profileScopes(["snsapi_base"]))
  assert.isTrue(profileScopes(["snsapi_userinfo"]))
  assert.isTrue(profileScopes(["snsapi_base", "snsapi_userinfo"]))
  assert.isTrue(profileScopes(["snsapi_login"]))
  assert.isTrue(profileScopes([]), "none recorded (WeChat answered scope \"\"): WeChat decides")
})

describe("LoginDiagnostics: an official account with scope snsapi_base", () => {
  const profiles: Array<Either.Either<UserInfo.UserInfo, unknown>> = []
  layer(
    testApp((url) => ({
      apps: sandboxApps(url, { official: { scope: "snsapi_base" } }),
      hooks: recordingProfiles(profiles)
    })),
    { excludeTestServices: true }
  )((it) => {
    it.effect("identity.profile and getUser fail locally, permanent, naming snsapi_base and the option; WeChat is not asked", () =>
      Effect.gen(function*() {
        const { browser, stats } = yield* setup
        const before = yield* stats
        const wechat = browser()
        const { answer } = yield* login(wechat, { user: "bob" })
        assert.strictEqual(answer.status, 303)
        assert.isDefined(wechat.cookies.get("wxauth_session"), "logged in: openid only")
        assert.strictEqual(profiles.length, 1)
        const profile = profiles[0]
        if (Either.isRight(profile)) return assert.fail("an snsapi_base login has no profile")
        assertLocalNoProfile(profile.left, ["snsapi_base", "apps.official.scope", "snsapi_userinfo"])
        const user = yield* userOf(cookieOf(wechat))
        assert.deepStrictEqual([...user.scopes], ["snsapi_base"])
        const service = yield* WeChatLogin.WeChatLogin
        const error = yield* Effect.flip(service.getUser(user))
        assertLocalNoProfile(error, ["snsapi_base", "apps.official.scope"])
        assert.strictEqual((yield* stats).userinfo ?? 0, before.userinfo ?? 0, "no userinfo call")
        // the app's own route: the session stays (no login again)
        assert.strictEqual((yield* wechat.get("/profile")).text, "error: ScopeUnauthorized")
        assert.strictEqual((yield* wechat.get("/")).text, `home: ${user.openid}`)
      }))
  })
})

/** Stores shared by two logins of one site: before and after its official account's scope changed. */
const sharedSessions = Effect.runSync(Effect.orDie(SessionStore.makeMemory()))
const sharedTokens = Effect.runSync(TokenStore.makeMemory())
const sharedStores = Layer.mergeAll(
  Layer.succeed(SessionStore.SessionStore, sharedSessions),
  Layer.succeed(TokenStore.TokenStore, sharedTokens)
)

describe("LoginDiagnostics: an official account whose scope became snsapi_userinfo", () => {
  layer(
    testApp(
      (url) => ({ apps: sandboxApps(url, { official: { scope: "snsapi_base" } }) }),
      undefined,
      () => sharedStores
    ),
    { excludeTestServices: true }
  )((it) => {
    it.effect("a session from its snsapi_base days asks WeChat (48001 is reauthorize), not the local error naming the option already set", () =>
      Effect.gen(function*() {
        const { browser, sandboxUrl, stats } = yield* setup
        const before = browser()
        yield* login(before, { user: "alice" })
        const oldUser = yield* userOf(cookieOf(before))
        assert.deepStrictEqual([...oldUser.scopes], ["snsapi_base"])
        // the operator followed the local error's advice: apps.official.scope is snsapi_userinfo now
        yield* Effect.scoped(Effect.gen(function*() {
          const after = yield* Layer.build(
            WeChatLogin.layer({ apps: sandboxApps(sandboxUrl, { official: { scope: "snsapi_userinfo" } }) }).pipe(
              Layer.provide(sharedStores)
            )
          )
          const service = after.unsafeMap.get(WeChatLogin.WeChatLogin.key) as WeChatLogin.WeChatLoginShape
          const calls = (yield* stats).userinfo ?? 0
          const error = yield* Effect.flip(service.getUser(oldUser))
          if (!(error instanceof WeChatError.ScopeUnauthorized)) return assert.fail(`ScopeUnauthorized, not ${error}`)
          assert.notStrictEqual(error.local, true, error.message)
          assert.notInclude(error.message, "apps.official.scope", "no advice to set the option already set")
          assert.strictEqual(WeChatError.kindOf(error), "reauthorize", "a new login asks for snsapi_userinfo: no loop")
          assert.strictEqual((yield* stats).userinfo ?? 0, calls + 1, "WeChat was asked, with the stored token")
        }))
      }))

    it("refused locally only for an app configured snsapi_base now and a login known to be snsapi_base alone", () => {
      const base = { scope: "snsapi_base" } as const
      const userinfo = { scope: "snsapi_userinfo" } as const
      assert.isTrue(refusesProfile(base, ["snsapi_base"]))
      assert.isFalse(refusesProfile(userinfo, ["snsapi_base"]), "the app's scope changed: WeChat decides")
      assert.isFalse(refusesProfile(base, []), "none recorded: WeChat decides")
      assert.isFalse(refusesProfile(base, ["snsapi_base", "snsapi_userinfo"]))
      assert.isFalse(refusesProfile(base, ["snsapi_login"]))
      assert.isFalse(refusesProfile(userinfo, ["snsapi_userinfo"]))
    })
  })
})

describe("LoginDiagnostics: a hook that fails with an snsapi_base login's profile", () => {
  layer(
    Layer.provide(
      testApp((url) => ({
        apps: sandboxApps(url, { official: { scope: "snsapi_base" } }),
        hooks: {
          findUser: () => Effect.succeed(undefined),
          onFirstLogin: (identity) => Effect.map(identity.profile, (profile) => profile.nickname)
        }
      })),
      captureLogs
    ),
    { excludeTestServices: true }
  )((it) => {
    it.effect("the hook's log line says why (the package's own words), the login is the server's problem", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        logLines.length = 0
        const { answer } = yield* login(browser(), { user: "carol" })
        assert.strictEqual(new URL(answer.location!).searchParams.get("reason"), "server")
        const line = logLines.find((line) => line.includes("a login hook failed"))
        assert.isDefined(line, logLines.join("\n"))
        assert.include(line!, "hook=onFirstLogin")
        assert.include(line!, "error=ScopeUnauthorized")
        assert.include(line!, "snsapi_base")
        assert.include(line!, "apps.official.scope")
      }))
  })
})

// -------------------------------------------------------------------------------------------------
// 3. a login's failure logs safe detail
// -------------------------------------------------------------------------------------------------

it("a store's description in a log: credentials, secret keys' values and long ids cut; hosts, ports, error codes kept", () => {
  const cases: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
    ["cannot connect: redis://app:p@ssw0rd-TAIL@redis.internal:6379/0", [
      "cannot connect: redis://",
      "redis.internal:6379"
    ]],
    ["cannot connect: redis://app:pa/ss-TAIL@redis.internal:6379/0", ["redis.internal:6379"]],
    ["connect failed: host=db user=app password=S3cretTAIL dbname=wx", ["host=db", "dbname=wx", "password="]],
    ["upstream said: appid=wx123&secret=0123456789abcdefSECRET&code=0a1BcTAIL", ["appid=wx123", "secret=", "code="]],
    ["GET https://api.weixin.qq.com/sns/oauth2/access_token?appid=wx1\u00a0secret=SECRETTAIL", ["api.weixin.qq.com"]],
    ["redis:\u0000//app:PASSWORDTAIL@host:6379", ["host:6379"]],
    ["could not write session 3f9c2a1b5e6d7c8b9a0f1e2d3c4b5aTAIL: WRONGTYPE", ["could not write session", "WRONGTYPE"]],
    ["PASSWORD = 'two words TAIL' then Token=TAIL; errcode=40029", ["PASSWORD = ", "then", "errcode=40029"]],
    ["sessionKey=kf6B+P8d/TAIL== accessToken=ab.cd+TAIL clientSecret=TAIL", ["sessionKey=", "accessToken="]],
    ["component_appid=wx1&component_appsecret=TAIL&x=1", ["component_appid=wx1", "x=1"]],
    ["{\"password\":\"TAIL\",\"user\":\"app\"}", ["\"user\":\"app\""]],
    // what an operator needs stays (review helper-123: these were cut)
    ["getaddrinfo ENOTFOUND wxauth-redis-prod-01.internal", ["wxauth-redis-prod-01.internal"]],
    ["connect ECONNREFUSED redis-cluster-node-03:6379", ["redis-cluster-node-03:6379"]],
    ["request failed errno=-111 code=ECONNREFUSED syscall=connect", ["errno=-111 code=ECONNREFUSED syscall=connect"]],
    ["query failed: error_code=1205 Lock wait timeout exceeded", ["error_code=1205"]],
    ["status_code=503 from api.weixin.qq.com", ["status_code=503"]],
    ["pg: relation \"wxauth_sessions_2024q1\" does not exist", ["wxauth_sessions_2024q1"]],
    ["redis://redis-a.internal:6379,redis://app:TAIL@redis-b.internal:6379", ["redis-a.internal:6379", "redis-b"]],
    ["cannot connect: redis://app:pa,ss-TAIL@redis.internal:6379/0", ["redis.internal:6379"]],
    // a description's own words after `key:` stay (review helper-124: these were cut)
    ["unexpected shape (session_key: Missing, access_token: Type)", ["(session_key: Missing, access_token: Type)"]],
    ["Access denied for user 'app'@'10.0.0.5' (using password: YES)", ["(using password: YES)"]],
    ["SQLITE_CONSTRAINT_PRIMARYKEY: UNIQUE constraint failed", ["PRIMARYKEY: UNIQUE constraint failed"]],
    ["connect ETIMEDOUT wx-access-token:6379", ["wx-access-token:6379"]],
    // Node's printed objects, a ')' inside a value, '://' inside a password (review helper-125)
    ["ReplyError: { host: 'redis.internal', port: 6379, password: 'TAIL' }", ["host: 'redis.internal'", "port: 6379"]],
    ["ReplyError: { username: 'app', password: \"TAIL\" }", ["username: 'app'"]],
    ["host=db.internal password=hun)ter2TAIL dbname=wx", ["host=db.internal", "dbname=wx"]],
    ["(password=hunter2TAIL) then", ["(password=***) then"]],
    ["redis://app:pa://ssTAIL@redis.internal:6379", ["redis://***@redis.internal:6379"]]
  ]
  for (const [description, kept] of cases) {
    const logged = Problems.logDetail({ _tag: "SessionStoreError", operation: "set", description }).description
    assert.isString(logged, description)
    for (const part of ["TAIL", "ssw0rd", "pa/ss", "S3cret", "0123456789abcdef"]) {
      assert.notInclude(logged, part, `${JSON.stringify(description)} -> ${JSON.stringify(logged)}`)
    }
    for (const part of kept) assert.include(logged, part, `${JSON.stringify(description)} -> ${JSON.stringify(logged)}`)
  }
  // the login's own advice keeps an app's key of any length (review helper-124: apps.***.scope)
  const advice = "set its scope option to \"snsapi_userinfo\" (apps.cs-official-account-prod-2024.scope)"
  const local = Problems.logDetail({ _tag: "ScopeUnauthorized", errcode: 48001, errmsg: advice, local: true })
  assert.strictEqual(local.description, advice)
})

// a review of the rules (F1-F7): each of its inputs with the whole line the log shows
it("a store's description in a log: Redis commands' arguments, escaped and backtick values, quoted error codes, names made of words, unprintable characters", () => {
  const cases: ReadonlyArray<readonly [string, string]> = [
    // F1: a Redis command's arguments (ioredis's ReplyError printed by util.inspect, JSON.stringify, Effect) and Redis's own quote of them
    [
      "ReplyError: WRONGPASS invalid username-password pair or user is disabled.\n    at parseError (/app/node_modules/redis-parser/lib/parser.js:179:12) {\n  command: { name: 'auth', args: [ 'wxauth', 'R3dis-Prod-Pw' ] }\n}",
      "ReplyError: WRONGPASS invalid username-password pair or user is disabled.     at parseError (/app/node_modules/redis-parser/lib/parser.js:179:12) {   command: { name: 'auth', args: [***] } }"
    ],
    [
      "{\"name\":\"ReplyError\",\"command\":{\"name\":\"auth\",\"args\":[\"wxauth\",\"R3dis-Prod-Pw\"]}}",
      "{\"name\":\"ReplyError\",\"command\":{\"name\":\"auth\",\"args\":[***]}}"
    ],
    [
      "{\n  \"name\": \"ReplyError\",\n  \"command\": {\n    \"name\": \"auth\",\n    \"args\": [\n      \"wxauth\",\n      \"R3dis-Prod-Pw\"\n    ]\n  }\n}",
      "{   \"name\": \"ReplyError\",   \"command\": {     \"name\": \"auth\",     \"args\": [***]   } }"
    ],
    [
      "[set: Command aborted due to connection close] {\n  command: {\n    name: 'set',\n    args: [\n      'wxauth:sk:wx1:oGZUI0egBJY1zhBYw2KhdUfwVJJE',\n      'tiihtNczf5v6AKRyjwEUhQ==',\n      'PX',\n      '7200000'\n    ]\n  }\n}",
      "[set: Command aborted due to connection close] {   command: {     name: 'set',     args: [***]   } }"
    ],
    [
      "{\"name\":\"set\",\"command\":{\"name\":\"set\",\"args\":[\"wxauth:sk:wx1:o\",\"tiihtNczf5v6AKRyjwEUhQ==\",\"PX\",\"7200000\"]}}",
      "{\"name\":\"set\",\"command\":{\"name\":\"set\",\"args\":[***]}}"
    ],
    ["Command { name: 'auth', args: [ 'default', 'p4ssw0rd' ] }", "Command { name: 'auth', args: [***] }"],
    [
      "ERR unknown command 'HELLO', with args beginning with: '3' 'AUTH' 'default' 'S3cretRedisPw' ",
      "ERR unknown command 'HELLO', with args beginning with: ***"
    ],
    [
      "ReplyError: ERR unknown command 'AUTH', with args beginning with: 'hunter2'",
      "ReplyError: ERR unknown command 'AUTH', with args beginning with: ***"
    ],
    // F2: escaped quotes, backtick strings, escaped JSON
    ["{\"password\":\"pa\\\"ssLEAK3\",\"user\":\"app\"}", "{\"password\":***,\"user\":\"app\"}"],
    ["{\"password\":\"pa\\\\ssLEAK4\",\"user\":\"app\"}", "{\"password\":***,\"user\":\"app\"}"],
    ["{ user: 'app', password: 'it\\'s secret' }", "{ user: 'app', password: *** }"],
    [
      "Error: { host: 'redis.internal', password: `pa\"ss'WORDLEAK` }",
      "Error: { host: 'redis.internal', password: *** }"
    ],
    [
      "Error: { host: 'redis.internal', password: 'pa\"ss\\'WO`RDLEAK' }",
      "Error: { host: 'redis.internal', password: *** }"
    ],
    ["{ password: `tmplPASS` }", "{ password: *** }"],
    [
      "SyntaxError (while parsing \"{\\\"session_key\\\":\\\"tiihtNczf5v6AKRyjwEUhQ==\\\",\\\"openid\\\":\\\"o\\\"}\")",
      "SyntaxError (while parsing \"{\\\"session_key\\\":***,\\\"openid\\\":\\\"o\\\"}\")"
    ],
    [
      "Unexpected token < in JSON at position 0: \"{\\\"access_token\\\":\\\"ESCJSONLEAK5\\\",\\\"openid\\\":\\\"o\\\"}\"",
      "Unexpected token < in JSON at position 0: \"{\\\"access_token\\\":***,\\\"openid\\\":\\\"o\\\"}\""
    ],
    ["{\"access_token\":\"AC\\\"CESS_AFTER_ESCAPE\",\"openid\":\"O\"}", "{\"access_token\":***,\"openid\":\"O\"}"],
    // F3: a quoted error code after a code key stays; another value goes
    [
      "Error { code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: '127.0.0.1', port: 6379 }",
      "Error { code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: '127.0.0.1', port: 6379 }"
    ],
    ["SqliteError { code: 'SQLITE_BUSY' }", "SqliteError { code: 'SQLITE_BUSY' }"],
    ["{\"code\":\"ECONNREFUSED\"}", "{\"code\":\"ECONNREFUSED\"}"],
    ["{ status_code: \"503\" }", "{ status_code: \"503\" }"],
    ["{\"errcode\":40029,\"code\":\"40029\"}", "{\"errcode\":40029,\"code\":\"40029\"}"],
    ["Error { code: 'oauthCodeSecret' }", "Error { code: *** }"],
    // F4: host, pod and table names made of words stay; tokens, openids, rids and ids go
    [
      "wxauth-redis-prod-eastus2.redis.cache.windows.net:6380",
      "wxauth-redis-prod-eastus2.redis.cache.windows.net:6380"
    ],
    ["connect ECONNREFUSED redis-cluster-prod-node-01:6379", "connect ECONNREFUSED redis-cluster-prod-node-01:6379"],
    ["wxauth-redis-master-7d9f8b6c5-x2k4p", "wxauth-redis-master-7d9f8b6c5-x2k4p"],
    [
      "relation \"wxauth_oauth_tokens_v2_backup\" does not exist",
      "relation \"wxauth_oauth_tokens_v2_backup\" does not exist"
    ],
    ["Table 'wx.wxauth_sessions_20240101_bak' doesn't exist", "Table 'wx.wxauth_sessions_20240101_bak' doesn't exist"],
    [
      "relation \"wxauth_sessions_2024q1_archive_table\" does not exist",
      "relation \"wxauth_sessions_2024q1_archive_table\" does not exist"
    ],
    [
      "wxauth-prod-db-instance-1.c9akciq32abc.ap-northeast-1.rds.amazonaws.com",
      "wxauth-prod-db-instance-1.c9akciq32abc.ap-northeast-1.rds.amazonaws.com"
    ],
    ["openid oLVPpjqs9BhvzwPj5A-vTYAX3GLc unknown", "openid *** unknown"],
    ["openid oLVPpjqs-BhvzwPjXA_vTYAX3GLc unknown", "openid *** unknown"],
    ["access_token 79_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345-abcdefgh is invalid", "access_token *** is invalid"],
    ["invalid code, rid: 6390a1b2-3c4d5e6f-7a8b9c0d", "invalid code, rid: ***"],
    ["session 6bd5a1f0-8b4c-4f29-9d1e-2a3b4c5d6e7f not found", "session *** not found"],
    ["session wxs_5f2c8a9b1e3d4f6a7b8c9d0e1f2a not found", "session *** not found"],
    [
      "ERR Error running script (call to f_8d5b2c9e0a1f3b4c5d6e7f8a9b0c1d2e3f4a5b6c): @user_script:1: WRONGTYPE",
      "ERR Error running script (call to ***): @user_script:1: WRONGTYPE"
    ],
    // F6: the cheap ones
    ["access_token%3DPCTTOKEN2", "access_token%3D***"],
    [
      "https://api.weixin.qq.com/sns/userinfo%3Faccess_token%3DPCTTOKEN%26openid%3DO",
      "https://api.weixin.qq.com/sns/userinfo?…"
    ],
    ["Error: Map(1) { 'password' => 'MAPLEAK' }", "Error: Map(1) { 'password' => *** }"],
    ["password => \"RUBYLEAK8\"", "password => ***"],
    ["password=hun))ter2", "password=***"],
    ["Key (token)=(tok_abc123) already exists.", "Key (token)=(***) already exists."],
    [
      "duplicate key value violates unique constraint \"sessions_pkey\" Key (id)=(abc) already exists.",
      "duplicate key value violates unique constraint \"sessions_pkey\" Key (id)=(abc) already exists."
    ],
    ["Authorization: Bearer BEARERTOK2", "Authorization: Bearer ***"],
    ["{\"Authorization\":\"Bearer BEARERTOK\"}", "{\"Authorization\":\"Bearer ***\"}"],
    ["access_token＝FULLWIDTHEQ", "access_token＝***"],
    [
      "{\"url\":\"redis://redis.internal:6379\",\"admin\":\"ops@example.com\"}",
      "{\"url\":\"redis://redis.internal:6379\",\"admin\":\"ops@example.com\"}"
    ],
    [
      "{\"url\":\"redis://app:pw@redis.internal:6379\",\"admin\":\"ops@example.com\"}",
      "{\"url\":\"redis://***@redis.internal:6379\",\"admin\":\"ops@example.com\"}"
    ],
    ["{\"token\":123}", "{\"token\":***}"],
    // a quoted URL's password holding an escaped quote (JSON, double-encoded JSON, util.inspect)
    [
      JSON.stringify({ url: "redis://app:Pa\"ss-1@redis-prod-01:6379/0" }),
      "{\"url\":\"redis://***@redis-prod-01:6379/0\"}"
    ],
    [
      JSON.stringify(JSON.stringify({ url: "redis://app:Pa\"ss-2@redis-prod-01:6379/0" })),
      "\"{\\\"url\\\":\\\"redis://***@redis-prod-01:6379/0\\\"}\""
    ],
    ["{ url: 'redis://app:Pa\"\\'`ss-4@redis-prod-01:6379' }", "{ url: 'redis://***@redis-prod-01:6379' }"],
    ["pass\u200bword=ZWSPW", "password=***"],
    // F7: controls, separators, bidi
    ["a\u0085b\u2028c\u2029d\u202ee\u2066f\u009bg", "a b c d e f g"],
    ["lone \ud800 high", "lone \ufffd high"],
    // kept as before
    [
      "Access denied for user 'root'@'localhost' (using password: YES)",
      "Access denied for user 'root'@'localhost' (using password: YES)"
    ],
    [
      "unexpected shape (session_key: Missing, access_token: Type)",
      "unexpected shape (session_key: Missing, access_token: Type)"
    ],
    ["{ \"access_token\" : \"SPACED\" }", "{ \"access_token\" : *** }"],
    ["{\"errcode\":40029,\"errmsg\":\"invalid code\"}", "{\"errcode\":40029,\"errmsg\":\"invalid code\"}"],
    ["session abcdefghijklmnopqrstuvwxyzABCDEF not found", "session abcdefghijklmnopqrstuvwxyzABCDEF not found"]
  ]
  for (const [description, expected] of cases) {
    const logged = Problems.logDetail({ _tag: "SessionStoreError", operation: "set", description }).description
    assert.strictEqual(logged, expected, JSON.stringify(description))
  }
  // an ioredis reply error as the libraries print it: its command's arguments never show
  const error = Object.assign(new Error("WRONGPASS invalid username-password pair or user is disabled."), {
    name: "ReplyError",
    command: { name: "auth", args: ["wxauth", "R3dis-Prod-Pw"] }
  })
  for (const printed of [Util.inspect(error), JSON.stringify(error), Inspectable.toStringUnknown(error)]) {
    const logged = Problems.logDetail({ _tag: "SessionStoreError", operation: "set", description: printed }).description
    assert.notInclude(logged, "R3dis-Prod-Pw", printed)
  }
  // the 200-character cut keeps a surrogate pair whole
  const emoji = Problems.logDetail({
    _tag: "SessionStoreError",
    operation: "set",
    description: `${"x".repeat(199)}\u{1f600}tail`
  })
  assert.strictEqual(emoji.description, `${"x".repeat(199)}\u2026`)
  const advice = Problems.logDetail({
    _tag: "ScopeUnauthorized",
    errmsg: `${"x".repeat(399)}\u{1f600}\u202e`,
    local: true
  })
  assert.strictEqual(advice.description, `${"x".repeat(399)}\u2026`)
})

it("a store's description in a log: a long or hostile one is bounded, a word cut at the bound dropped whole", () => {
  const logged = (description: string) =>
    Problems.logDetail({ _tag: "SessionStoreError", operation: "set", description }).description as string
  const long = logged(`cannot connect: redis://app:${"p".repeat(100_000)}TAIL@redis.internal:6379`)
  assert.strictEqual(long, "cannot connect: ")
  for (
    const shape of [
      "/",
      "_",
      "-",
      "a",
      "//_",
      "password_",
      "args:[",
      "\\\"",
      ")a",
      "password=)",
      "redis://a:b@c token: 'y' "
    ]
  ) {
    const description = shape.repeat(Math.ceil(100_000 / shape.length))
    assert.isAtMost(logged(description).length, 201, shape)
    assert.isAtMost(logged(`${description.slice(0, 798)} x`).length, 201, shape)
  }
})

describe("LoginDiagnostics: a wrong apiBaseUrl (connection refused)", () => {
  layer(
    Layer.provide(
      testApp((url) => ({ apps: sandboxApps(url, { official: { apiBaseUrl: "http://127.0.0.1:1" } }) })),
      captureLogs
    ),
    { excludeTestServices: true }
  )((it) => {
    it.effect("the callback's log says the transport's reason and phase, never the code or the secret", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        logLines.length = 0
        const wechat = browser()
        const { answer, callbackUrl } = yield* login(wechat)
        assert.strictEqual(new URL(answer.location!).searchParams.get("reason"), "busy")
        const line = logLines.find((line) => line.includes("a WeChat login failed"))
        assert.isDefined(line, logLines.join("\n"))
        assert.include(line!, "error=TransportError")
        assert.include(line!, "reason=ConnectionRefused")
        assert.include(line!, "phase=connect")
        assert.include(line!, "endpoint=access_token")
        assert.include(line!, "problem=busy")
        const code = new URL(callbackUrl).searchParams.get("code")!
        const state = new URL(callbackUrl).searchParams.get("state")!
        for (const secret of [OA.secret, code, state, "secret=", "?code=", "&code="]) {
          assert.notInclude(logLines.join("\n"), secret)
        }
      }))
  })
})

/** A memory token store whose `set` fails as a Redis store that lost its server would, when `down`. */
const flakyStore = { down: false, store: undefined as TokenStore.TokenStoreShape | undefined }
const storePassword = "hunter2-the-redis-password"
const flakyStoreLayer = Layer.effect(
  TokenStore.TokenStore,
  Effect.map(TokenStore.makeMemory(), (memory) => {
    flakyStore.store = memory
    return TokenStore.TokenStore.of({
      ...memory,
      set: (appId, token) =>
        flakyStore.down
          ? Effect.fail(
            new WeChatError.TokenStoreError({
              operation: "set",
              description:
                `Redis: connect ECONNREFUSED 127.0.0.1:6379 (redis://wxauth:${storePassword}@127.0.0.1:6379/0` +
                `?password=${storePassword})`
            })
          )
          : memory.set(appId, token)
    })
  })
)

describe("LoginDiagnostics: the token store fails during the callback; a snapshot user", () => {
  layer(
    Layer.provide(testApp(() => ({}), undefined, () => flakyStoreLayer), captureLogs),
    { excludeTestServices: true }
  )((it) => {
    it.effect("the callback's log says the store's operation and description, without its URL's credentials or query", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        logLines.length = 0
        flakyStore.down = true
        const wechat = browser()
        const { answer, callbackUrl } = yield* login(wechat).pipe(
          Effect.ensuring(Effect.sync(() => flakyStore.down = false))
        )
        assert.strictEqual(new URL(answer.location!).searchParams.get("reason"), "server")
        const line = logLines.find((line) => line.includes("a WeChat login failed"))
        assert.isDefined(line, logLines.join("\n"))
        assert.include(line!, "error=TokenStoreError")
        assert.include(line!, "operation=set")
        assert.include(line!, "ECONNREFUSED 127.0.0.1:6379")
        assert.include(line!, "problem=server")
        const code = new URL(callbackUrl).searchParams.get("code")!
        for (const secret of [storePassword, OA.secret, code, "password="]) {
          assert.notInclude(logLines.join("\n"), secret)
        }
      }))

    it.effect("a snapshot user is logged (info, no secret); its token is kept, so a repeated callback answers the snapshot page again", () =>
      Effect.gen(function*() {
        const { browser, openids } = yield* setup
        logLines.length = 0
        const wechat = browser()
        const authorizeUrl = yield* startLogin(wechat)
        const callbackUrl = yield* consent(wechat, authorizeUrl, { user: "dave" })
        const answer = yield* wechat.get(callbackUrl)
        assert.strictEqual(new URL(answer.location!).searchParams.get("reason"), "snapshot")
        assert.isUndefined(wechat.cookies.get("wxauth_session"))
        const line = logLines.find((line) => line.includes("snapshot user"))
        assert.isDefined(line, logLines.join("\n"))
        assert.include(line!, "level=INFO")
        assert.include(line!, `appId=${OA.appId}`)
        assert.notInclude(line!, "tokenRemoved")
        const code = new URL(callbackUrl).searchParams.get("code")!
        for (const secret of [code, OA.secret, openids[OA.appId].dave]) assert.notInclude(line!, secret)
        // the token stays where core put it with the exchange (WeChat's virtual account, no one's)
        const stored = yield* flakyStore.store!.get(OA.appId, openids[OA.appId].dave)
        assert.isTrue(Option.isSome(stored), "the snapshot user's token is kept")
        // the same callback again (WeChat's repeated redirect, a reload): the snapshot page, not code-used
        const again = yield* wechat.get(callbackUrl)
        assert.strictEqual(again.status, 303, again.text)
        assert.strictEqual(new URL(again.location!).searchParams.get("reason"), "snapshot")
        assert.isUndefined(wechat.cookies.get("wxauth_session"))
        assert.isUndefined(logLines.find((line) => line.includes("a WeChat login failed")), logLines.join("\n"))
      }))
  })
})

// -------------------------------------------------------------------------------------------------
// 5. the OpenAPI document
// -------------------------------------------------------------------------------------------------

/** A memory session store whose `get` fails when `down`. */
const flakySessions = { down: false }
const flakySessionsLayer = Layer.effect(
  SessionStore.SessionStore,
  Effect.map(Effect.orDie(SessionStore.makeMemory()), (memory) =>
    SessionStore.SessionStore.of({
      ...memory,
      get: (idHash) =>
        flakySessions.down
          ? Effect.fail(new WeChatError.SessionStoreError({ operation: "get", description: "the store is down" }))
          : memory.get(idHash)
    }))
)

describe("LoginDiagnostics: the OpenAPI document", () => {
  layer(testApp(() => ({}), undefined, () => flakySessionsLayer), { excludeTestServices: true })((it) => {
    it.effect("GET /api/wechat/session answers a store failure as a 500 Problem", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        flakySessions.down = true
        const answer = yield* browser().get("/api/wechat/session", { authorization: `Bearer ${"A".repeat(43)}` }).pipe(
          Effect.ensuring(Effect.sync(() => flakySessions.down = false))
        )
        assert.strictEqual(answer.status, 500, answer.text)
        assert.strictEqual(json(answer.text).error, "server")
        assert.isString(json(answer.text).titleEn)
      }))

    it.effect("declares the failures the routes answer: session's 500 (store), a mini program login's 401 (relogin)", () =>
      Effect.gen(function*() {
        const { browser } = yield* setup
        const spec = json((yield* browser().get("/api/wechat/openapi.json")).text)
        const session = spec.paths["/api/wechat/session"].get
        assert.includeMembers(Object.keys(session.responses), ["200", "401", "500"])
        const loginOp = spec.paths["/api/wechat/mini-program/{app}/login"].post
        assert.includeMembers(Object.keys(loginOp.responses), ["200", "400", "401", "404", "500", "503"])
        const phoneOp = spec.paths["/api/wechat/mini-program/{app}/phone-number"].post
        assert.includeMembers(Object.keys(phoneOp.responses), ["200", "400", "401", "403", "500", "503"])
      }))
  })
})
