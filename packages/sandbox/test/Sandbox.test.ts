/**
 * The `Sandbox` module itself: its defaults, constructors and layers, the service's routing
 * (`handle`), stats, clock and in-process controls. What the sandbox answers as WeChat is in the
 * files named after each part of WeChat (consent, oauth, miniprogram, faults, hostile); the HTTP
 * server in SandboxServer.test.ts.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@wxauth/sandbox"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { assertErrcode, auth, consent, exchange, login, refresh, request, sandboxLayer, userinfo } from "./helpers.js"

const run = <A, E>(effect: Effect.Effect<A, E, Sandbox.Sandbox | HttpClient.HttpClient>) =>
  Effect.provide(effect, sandboxLayer())

const inject = (fault: Sandbox.Fault) => Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.injectFault(fault))

describe("defaults", () => {
  it("documents three apps with WeChat-shaped appids and 32-hex secrets", () => {
    const apps = Object.values(Sandbox.defaultApps)
    assert.deepStrictEqual(apps.map((app) => app.kind), ["officialAccount", "website", "miniProgram"])
    for (const app of apps) {
      assert.match(app.appId, /^wx[a-z0-9]{16}$/)
      assert.match(app.secret, /^[0-9a-f]{32}$/)
    }
    assert.strictEqual(new Set(apps.map((app) => app.secret)).size, 3)
  })

  it("has at least three users, alice first, with distinct unionids", () => {
    assert.isAtLeast(Sandbox.defaultUsers.length, 3)
    assert.strictEqual(Sandbox.defaultUsers[0].id, "alice")
    assert.strictEqual(Sandbox.defaultUsers[0].nickname, "张三")
    assert.strictEqual(new Set(Sandbox.defaultUsers.map((user) => user.unionid)).size, Sandbox.defaultUsers.length)
  })
})

describe("make", () => {
  it.scoped("uses the given apps and users in place of the defaults", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.make({
        apps: [{ appId: "wxmyapp", secret: "s3cret", kind: "officialAccount", name: "Mine", bound: false }],
        users: [{ ...Sandbox.defaultUsers[1], id: "zoe" }]
      })
      assert.deepStrictEqual(sandbox.apps.map((app) => app.appId), ["wxmyapp"])
      assert.deepStrictEqual(sandbox.users.map((user) => user.id), ["zoe"])
      const url = yield* sandbox.approve({
        appId: "wxmyapp",
        user: "zoe",
        scope: "snsapi_base",
        redirectUri: "http://localhost:3000/cb"
      })
      assert.match(url, /^http:\/\/localhost:3000\/cb\?code=[A-Za-z0-9]{32}&state=$/)
      const error = yield* Effect.flip(sandbox.approve({
        appId: Sandbox.defaultApps.officialAccount.appId,
        user: "zoe",
        scope: "snsapi_base",
        redirectUri: "http://localhost:3000/cb"
      }))
      assert.match(error.message, /unknown app/)
    }))

  const bad: ReadonlyArray<[string, unknown, RegExp]> = [
    ["a duplicate appId", { apps: [Sandbox.defaultApps.website, Sandbox.defaultApps.website] }, /appears twice/],
    ["a duplicate user id", { users: [Sandbox.defaultUsers[0], Sandbox.defaultUsers[0]] }, /appears twice/],
    ["no apps", { apps: [] }, /at least one app/],
    ["no users", { users: [] }, /at least one user/],
    ["a user id with a space", { users: [{ ...Sandbox.defaultUsers[0], id: "a b" }] }, /users\.0\.id/],
    [
      "an unknown app kind",
      { apps: [{ ...Sandbox.defaultApps.website, kind: "app" }] },
      /apps\.0\.kind: must be one of/
    ]
  ]
  for (const [name, options, message] of bad) {
    it.scoped(`fails with SandboxError for ${name}`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Sandbox.make(options as Sandbox.SandboxOptions))
        assert.instanceOf(error, Sandbox.SandboxError)
        assert.match(error.message, message)
      }))
  }
})

describe("loadOptions", () => {
  it.scoped("reads a JSON config, filling in optional fields", () =>
    Effect.gen(function*() {
      const options = yield* Sandbox.loadOptions(JSON.stringify({
        apps: [{ appId: "wxmyapp", secret: "s3cret", kind: "website" }],
        users: [{ id: "zoe", nickname: "赵六" }]
      }))
      assert.deepStrictEqual(options.apps, [{
        appId: "wxmyapp",
        secret: "s3cret",
        kind: "website",
        name: "wxmyapp",
        bound: false
      }])
      const zoe = options.users![0]
      assert.strictEqual(zoe.nickname, "赵六")
      assert.strictEqual(zoe.sex, 0)
      assert.match(zoe.unionid, /^o[A-Za-z0-9_-]{27}$/)
      const sandbox = yield* Sandbox.make(options)
      assert.strictEqual(sandbox.users[0].id, "zoe")
    }))

  it.scoped("reads users' phone numbers (derived when left out) and the app-token quotas", () =>
    Effect.gen(function*() {
      const options = yield* Sandbox.loadOptions(JSON.stringify({
        users: [{ id: "zoe", nickname: "赵六" }, {
          id: "yan",
          nickname: "Yan",
          phoneNumber: "61234567",
          countryCode: "852"
        }],
        limits: { tokenPerDay: 5 }
      }))
      const [zoe, yan] = options.users!
      assert.match(zoe.phoneNumber!, /^139[0-9]{8}$/)
      assert.strictEqual(zoe.countryCode, "86")
      assert.strictEqual(yan.phoneNumber, "61234567")
      assert.strictEqual(yan.countryCode, "852")
      assert.deepStrictEqual(options.limits, { tokenPerDay: 5, forceRefreshPerDay: 20 })
      const sandbox = yield* Sandbox.make(options)
      const usage = yield* sandbox.appTokenUsage({ appId: Sandbox.defaultApps.miniProgram.appId })
      assert.deepStrictEqual(usage, { forceRefreshes: 0, forceRefreshLimit: 20, tokens: 0, tokenLimit: 5 })
    }))

  it.effect("keeps an app's profile option", () =>
    Effect.gen(function*() {
      const options = yield* Sandbox.loadOptions(
        `{"apps":[{"appId":"wxa","secret":"s","kind":"miniProgram","profile":"pre2021"},{"appId":"wxb","secret":"s","kind":"website","profile":"today"}]}`
      )
      assert.deepStrictEqual(options.apps!.map((app) => app.profile), ["pre2021", "today"])
    }))

  it.effect("keeps an app's wrongSecretErrcode, redirectDomains and unionidOnRefresh", () =>
    Effect.gen(function*() {
      const options = yield* Sandbox.loadOptions(JSON.stringify({
        apps: [{
          appId: "wxa",
          secret: "s",
          kind: "officialAccount",
          wrongSecretErrcode: 40001,
          redirectDomains: ["app.example.com", "127.0.0.1:3000"],
          unionidOnRefresh: false
        }, { appId: "wxb", secret: "s", kind: "website" }]
      }))
      assert.deepInclude(options.apps![0], {
        wrongSecretErrcode: 40001,
        redirectDomains: ["app.example.com", "127.0.0.1:3000"],
        unionidOnRefresh: false
      })
      assert.notProperty(options.apps![1], "wrongSecretErrcode")
      assert.notProperty(options.apps![1], "redirectDomains")
      assert.notProperty(options.apps![1], "unionidOnRefresh")
    }))

  it.scoped("keeps the default users when the config only lists apps", () =>
    Effect.gen(function*() {
      const options = yield* Sandbox.loadOptions(`{"apps":[{"appId":"wxa","secret":"s","kind":"miniProgram"}]}`)
      assert.isUndefined(options.users)
      const sandbox = yield* Sandbox.make(options)
      assert.strictEqual(sandbox.users.length, Sandbox.defaultUsers.length)
    }))

  const bad: ReadonlyArray<[string, string, RegExp]> = [
    ["broken JSON", `{"apps": [`, /^bad sandbox config: not valid JSON/],
    ["a JSON array", `[]`, /expected a JSON object/],
    ["an unknown top-level key", `{"app": []}`, /app: is unexpected/],
    [
      "an empty secret",
      `{"apps":[{"appId":"wxa","secret":"","kind":"website"}]}`,
      /apps\.0\.secret: must be 1 to 128 printable ASCII characters without spaces/
    ],
    ["a wrong sex", `{"users":[{"id":"a","nickname":"A","sex":3}]}`, /users\.0\.sex: must be one of 0, 1, 2/],
    [
      "a phone number with a +",
      `{"users":[{"id":"a","nickname":"A","phoneNumber":"+8613800000000"}]}`,
      /users\.0\.phoneNumber: must be 4 to 20 digits/
    ],
    [
      "a country code with a +",
      `{"users":[{"id":"a","nickname":"A","countryCode":"+86"}]}`,
      /users\.0\.countryCode: must be 1 to 4 digits/
    ],
    ["a negative quota", `{"limits":{"tokenPerDay":-1}}`, /limits\.tokenPerDay: must be an integer from 0/],
    ["an unknown quota", `{"limits":{"tokensPerDay":1}}`, /limits\.tokensPerDay: is unexpected/],
    [
      "an unknown profile",
      `{"apps":[{"appId":"wxa","secret":"s","kind":"website","profile":"2019"}]}`,
      /apps\.0\.profile: must be one of "today", "pre2021"/
    ],
    [
      "another wrong-secret errcode",
      `{"apps":[{"appId":"wxa","secret":"s","kind":"website","wrongSecretErrcode":40013}]}`,
      /apps\.0\.wrongSecretErrcode: must be one of 40125, 40001/
    ],
    [
      "a URL for a redirect domain",
      `{"apps":[{"appId":"wxa","secret":"s","kind":"website","redirectDomains":["https://a.example.com/"]}]}`,
      /apps\.0\.redirectDomains\.0: must be a host/
    ]
  ]
  it.effect("a config that is not JSON: where it breaks, by line and column, never its text (a secret may be there)", () =>
    Effect.gen(function*() {
      const secret = "b2743a5c90d1e2f3a4b5c6d7e8f90a1b"
      const app = `"appId":"wxa","kind":"website","secret":`
      const broken: ReadonlyArray<[string, string]> = [
        // JSON.parse's message: Unexpected token 'b', ..." "secret":b2743a5c90"... is not valid JSON
        [`{\n  "apps": [\n    {${app}${secret}"}\n  ]\n}`, "at line 3, column 46"],
        [`{"apps":[{${app}"${secret}"}]`, "it ends too soon, at line 1, column 87"],
        [`{"apps":[{${app}"${secret}\u0001"}]}`, "at line 1, column 84"],
        [`{"apps":[{${app}"${secret}\\q"}]}`, "at line 1, column 85"],
        [`{"apps":[{${app}"${secret}"}]} ${secret}`, "at line 1, column 89"],
        [`{"apps":[{${app}"${secret}"}],}`, "at line 1, column 88"]
      ]
      for (const [text, where] of broken) {
        const error = yield* Effect.flip(Sandbox.loadOptions(text))
        assert.strictEqual(error.message, `bad sandbox config: not valid JSON (${where})`, text)
        for (let i = 0; i + 4 <= secret.length; i++) assert.notInclude(error.message, secret.slice(i, i + 4), text)
      }
    }))

  for (const [name, json, message] of bad) {
    it.effect(`fails with one clear line for ${name}`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Sandbox.loadOptions(json))
        assert.instanceOf(error, Sandbox.SandboxError)
        assert.match(error.message, message)
        assert.notInclude(error.message, "\n")
      }))
  }

  it.effect("layerConfigFile reads a file; a missing file is a SandboxError", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "wxauth-sandbox-")))
      const file = Path.join(dir, "apps.json")
      yield* Effect.promise(() =>
        Fs.writeFile(file, JSON.stringify({ apps: [{ appId: "wxfile", secret: "s", kind: "officialAccount" }] }))
      )
      const apps = yield* Effect.map(Sandbox.Sandbox, (sandbox) => sandbox.apps.map((app) => app.appId)).pipe(
        Effect.provide(Sandbox.layerConfigFile(file))
      )
      assert.deepStrictEqual(apps, ["wxfile"])
      const error = yield* Effect.flip(Sandbox.loadOptionsFile(Path.join(dir, "missing.json")))
      assert.match(error.message, /cannot read sandbox config .*missing\.json: no such file/)
      yield* Effect.promise(() => Fs.rm(dir, { recursive: true }))
    }))
})

describe("sampleAuthorizeUrl", () => {
  it.effect("a consent URL for the app's page and scope, back to the sandbox's callback page, that the sandbox accepts", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const origin = "http://127.0.0.1:8800"
      const oa = Sandbox.sampleAuthorizeUrl(origin, Sandbox.defaultApps.officialAccount)
      assert.strictEqual(
        oa,
        "http://127.0.0.1:8800/connect/oauth2/authorize?appid=wxsandboxofficial1" +
          "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8800%2F__sandbox%2Fcallback&response_type=code" +
          "&scope=snsapi_userinfo&state=sandbox#wechat_redirect"
      )
      const web = new URL(Sandbox.sampleAuthorizeUrl(origin, Sandbox.defaultApps.website, "s2"))
      assert.strictEqual(web.pathname, "/connect/qrconnect")
      assert.strictEqual(web.searchParams.get("scope"), "snsapi_login")
      assert.strictEqual(web.searchParams.get("state"), "s2")
      assert.strictEqual(web.hash, "#wechat_redirect")
      for (const url of [oa, web.href]) {
        const page = yield* sandbox.handle({ method: "GET", url })
        assert.strictEqual(page.status, 200, page.body)
        assert.include(page.body, `<form id="consent"`)
      }
    })))
})

describe("other paths", () => {
  it.effect("404 HTML for an unknown path, not counted in stats", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const answer = yield* request("GET", "/sns/oauth2/nope")
      assert.strictEqual(answer.status, 404)
      assert.include(answer.headers["content-type"], "text/html")
      const stats = yield* sandbox.stats
      assert.isTrue(Object.values(stats).every((n) => n === 0))
    })))

  it.effect("an index page at /", () =>
    run(Effect.gen(function*() {
      const answer = yield* request("GET", "http://127.0.0.1:8800/")
      assert.strictEqual(answer.status, 200)
      assert.include(answer.text, "http://127.0.0.1:8800/connect/oauth2/authorize?appid=wxsandboxofficial1")
    })))

  it.effect("handle takes a bare path too", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const response = yield* sandbox.handle({ method: "GET", url: "/sns/auth?access_token=x&openid=y" })
      assert.strictEqual(JSON.parse(response.body).errcode, 40001)
    })))
})

describe("stats", () => {
  it.effect("counts calls per endpoint, faulted calls included, and resets", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const token = yield* login()
      yield* exchange("x")
      yield* exchange("y")
      yield* userinfo(token.access_token, token.openid)
      yield* inject({ kind: "reset", endpoint: "refresh_token" })
      yield* Effect.flip(refresh(token.refresh_token))
      yield* inject({ kind: "busy", endpoint: "auth", times: 2 })
      yield* auth("x", "y")
      yield* auth("x", "y")
      yield* auth("x", "y")
      assert.deepStrictEqual(yield* sandbox.stats, {
        authorize: 0, // approve() is not a call to WeChat
        qrconnect: 0,
        access_token: 3,
        refresh_token: 1,
        userinfo: 1,
        auth: 3,
        jscode2session: 0,
        stable_token: 0,
        token: 0,
        getuserphonenumber: 0,
        checksession: 0,
        resetusersessionkey: 0,
        api_component_token: 0,
        api_query_auth: 0,
        api_authorizer_token: 0,
        component_access_token: 0,
        component_refresh_token: 0,
        component_jscode2session: 0
      })
      yield* sandbox.resetStats
      assert.isTrue(Object.values(yield* sandbox.stats).every((n) => n === 0))
      yield* auth("x", "y")
      assert.strictEqual((yield* sandbox.stats).auth, 1)
    })))
})

describe("advanceClock", () => {
  it.effect("moves the sandbox's time on top of Clock", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const code = yield* consent()
      const token = yield* login()
      const before = yield* sandbox.currentTimeMillis
      yield* sandbox.advanceClock("5 minutes")
      assert.strictEqual((yield* sandbox.currentTimeMillis) - before, 5 * 60 * 1000)
      assertErrcode(yield* exchange(code), 42003)
      yield* sandbox.advanceClock("115 minutes")
      assertErrcode(yield* auth(token.access_token, token.openid), 42001)
    })))

  it.effect("more than 100 years at once is a defect, and the clock stays where it was", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const before = yield* sandbox.currentTimeMillis
      const exit = yield* Effect.exit(sandbox.advanceClock(Duration.days(365 * 101)))
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
      assert.strictEqual(yield* sandbox.currentTimeMillis, before)
      const clock = yield* sandbox.handle({ method: "GET", url: "http://127.0.0.1/__sandbox/clock" })
      assert.strictEqual(clock.status, 200, clock.body)
    })))
})

describe("in-process controls refuse hostile input", () => {
  const deep = "[".repeat(5000) + "]".repeat(5000)
  const control = (path: string, body: string) =>
    Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.handle({ method: "POST", url: `/__sandbox/${path}`, body }))

  it.effect("a deeply nested body is a 400 JSON error, and a body over 64 KiB a 413", () =>
    Effect.gen(function*() {
      for (const [path, body] of [["faults", deep], ["faults", `{"kind":${deep}}`], ["approve", `{"state":${deep}}`]]) {
        const answer = yield* control(path, body)
        assert.strictEqual(answer.status, 400, answer.body.slice(0, 300))
        assert.isString(JSON.parse(answer.body).error)
        assert.isBelow(answer.body.length, 1000)
      }
      const big = yield* control("faults", JSON.stringify({ kind: "busy", errmsg: "中".repeat(22_000) }))
      assert.strictEqual(big.status, 413, "66 000 bytes of UTF-8 in 22 000 characters")
      assert.strictEqual(big.headers["content-type"], "application/json; charset=utf-8")
      const page = yield* Effect.flatMap(Sandbox.Sandbox, (sandbox) =>
        sandbox.handle({ method: "POST", url: "/connect/oauth2/authorize", body: "x".repeat(70_000) }))
      assert.strictEqual(page.status, 413)
      assert.include(page.body, "413 Request Entity Too Large")
    }).pipe(Effect.provide(Sandbox.layer())))

  it.effect("injectFault and loadOptions describe a deep value without walking it", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const error = yield* Effect.flip(sandbox.injectFault({ kind: JSON.parse(deep) } as unknown as Sandbox.Fault))
      assert.match(error.message, /^kind: must be one of/)
      const config = yield* Effect.flip(Sandbox.loadOptions(`{"users":[{"id":"x","nickname":${deep}}]}`))
      assert.strictEqual(config.message, "bad sandbox config: users.0.nickname: Expected string")
      const apps = yield* Effect.flip(Sandbox.loadOptions(`{"apps":${deep}}`))
      assert.match(apps.message, /^bad sandbox config: apps\.0: Expected \{/)
    }).pipe(Effect.provide(Sandbox.layer())))
})

describe("layerHttpClient: a streamed request body", () => {
  const KiB = new Uint8Array(1024).fill(0x20)
  const post = (path: string, stream: Stream.Stream<Uint8Array>) =>
    Effect.gen(function*() {
      const client = yield* HttpClient.HttpClient
      const response = yield* client.execute(
        HttpClientRequest.post(`https://api.weixin.qq.com${path}`).pipe(HttpClientRequest.bodyStream(stream))
      )
      return { status: response.status, headers: response.headers, text: yield* response.text }
    })

  it.live("over 64 KiB: read no further than 64 KiB + 1 byte, then the router's 413 (an endless stream too)", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      for (const path of ["/__sandbox/faults", "/sns/oauth2/access_token"]) {
        let pulled = 0
        let stopped = false
        // endless as far as the sandbox can tell; dies past 4 MiB so that reading to the end fails here
        const endless = Stream.repeatEffect(Effect.suspend(() => {
          pulled++
          return pulled > 4096 ? Effect.dieMessage(`read past 4 MiB of ${path}`) : Effect.succeed(KiB)
        })).pipe(Stream.ensuring(Effect.sync(() => (stopped = true))))
        const answer = yield* post(path, endless)
        const router = yield* sandbox.handle({ method: "POST", url: path, body: "x".repeat(64 * 1024 + 1) })
        assert.strictEqual(answer.status, 413, `${path}: ${answer.text.slice(0, 200)}`)
        assert.strictEqual(answer.text, router.body, path)
        assert.strictEqual(answer.headers["content-type"], router.headers["content-type"], path)
        assert.strictEqual(answer.headers["connection"], "close", path)
        assert.isAtMost(pulled, 65, `${path}: chunks of 1 KiB pulled`)
        assert.isTrue(stopped, `${path}: the stream was stopped`)
      }
    }).pipe(Effect.provide(sandboxLayer())))

  it.live("64 KiB exactly is read, as the router reads it; 64 KiB + 1 byte is a 413", () =>
    Effect.gen(function*() {
      const fault = new TextEncoder().encode(JSON.stringify({ kind: "busy", endpoint: "access_token" }))
      const padded = (bytes: number) => {
        const body = new Uint8Array(bytes).fill(0x20)
        body.set(fault)
        return Stream.fromIterable([body.subarray(0, 1000), body.subarray(1000)])
      }
      const exact = yield* post("/__sandbox/faults", padded(64 * 1024))
      assert.strictEqual(exact.status, 200, exact.text)
      const over = yield* post("/__sandbox/faults", padded(64 * 1024 + 1))
      assert.strictEqual(over.status, 413, over.text)
      assert.deepStrictEqual(JSON.parse(over.text), { error: "the request body is over 65536 bytes" })
    }).pipe(Effect.provide(sandboxLayer())))
})
