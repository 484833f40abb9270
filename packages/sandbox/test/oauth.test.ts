import type * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import {
  assertErrcode,
  auth,
  consent,
  exchange,
  get,
  login,
  MINI,
  OA,
  refresh,
  sandboxLayer,
  userinfo,
  WEB
} from "./helpers.js"

const run = <A, E>(effect: Effect.Effect<A, E, Sandbox.Sandbox | HttpClient.HttpClient>) =>
  Effect.provide(effect, sandboxLayer())

/** The default official account, answered as WeChat did before 2021. */
const PRE2021: Sandbox.SandboxApp = { ...OA, profile: "pre2021" }

describe("/sns/oauth2/access_token", () => {
  it.effect("exchanges a code for WeChat's token response, as text/plain", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const code = yield* consent({ user: "alice", scope: "snsapi_userinfo" })
      assert.match(code, /^[A-Za-z0-9]{32}$/)
      const answer = yield* exchange(code)
      assert.strictEqual(answer.status, 200)
      assert.strictEqual(answer.headers["content-type"], "text/plain")
      const token = answer.json
      assert.deepStrictEqual(Object.keys(token), [
        "access_token",
        "expires_in",
        "refresh_token",
        "openid",
        "scope",
        "unionid"
      ])
      assert.match(token.access_token, /^[A-Za-z0-9_-]{80,}$/)
      assert.match(token.refresh_token, /^[A-Za-z0-9_-]{80,}$/)
      assert.notStrictEqual(token.access_token, token.refresh_token)
      assert.strictEqual(token.expires_in, 7200)
      assert.strictEqual(token.openid, sandbox.openidOf(OA.appId, "alice"))
      assert.strictEqual(token.scope, "snsapi_userinfo")
      assert.strictEqual(token.unionid, Sandbox.defaultUsers[0].unionid)
    })))

  it.effect("gives no unionid for snsapi_base", () =>
    run(Effect.gen(function*() {
      const token = yield* login({ scope: "snsapi_base" })
      assert.strictEqual(token.scope, "snsapi_base")
      assert.isUndefined(token.unionid)
    })))

  it.effect("gives no unionid when the app is not bound to an Open Platform account", () =>
    Effect.gen(function*() {
      const token = yield* login({ scope: "snsapi_userinfo" })
      assert.isUndefined(token.unionid)
      const info = yield* userinfo(token.access_token, token.openid)
      assert.strictEqual(info.json.nickname, "张三")
      assert.notProperty(info.json, "unionid")
    }).pipe(Effect.provide(sandboxLayer({ apps: [{ ...OA, bound: false }] }))))

  it.effect("marks snapshot users with is_snapshotuser: 1, and only them", () =>
    run(Effect.gen(function*() {
      const dave = yield* login({ user: "dave", scope: "snsapi_base" })
      assert.strictEqual(dave.is_snapshotuser, 1)
      const alice = yield* login({ user: "alice", scope: "snsapi_base" })
      assert.isUndefined(alice.is_snapshotuser)
    })))

  it.effect("gives each user a different openid, and the same user different openids per app", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const alice = yield* login({ user: "alice" })
      const bob = yield* login({ user: "bob" })
      const aliceWeb = yield* login({ user: "alice", app: WEB })
      assert.notStrictEqual(alice.openid, bob.openid)
      assert.notStrictEqual(alice.openid, aliceWeb.openid)
      assert.strictEqual(alice.unionid, aliceWeb.unionid)
      for (const openid of [alice.openid, bob.openid, aliceWeb.openid]) assert.match(openid, /^o[A-Za-z0-9_-]{27}$/)
      assert.strictEqual(sandbox.openidOf(OA.appId, "bob"), bob.openid)
    })))

  it.effect("40163 when a code is used twice", () =>
    run(Effect.gen(function*() {
      const code = yield* consent()
      const first = yield* exchange(code)
      assert.isString(first.json.access_token)
      assertErrcode(yield* exchange(code), 40163, "code been used")
    })))

  it.effect("two exchanges of one code racing: exactly one token, the other 40163", () =>
    run(Effect.gen(function*() {
      const code = yield* consent()
      const answers = yield* Effect.all([exchange(code), exchange(code), exchange(code)], { concurrency: "unbounded" })
      assert.strictEqual(answers.filter((a) => typeof a.json.access_token === "string").length, 1)
      assert.strictEqual(answers.filter((a) => a.json.errcode === 40163).length, 2)
    })))

  it.effect("42003 once the code is 5 minutes old; valid just before", () =>
    run(Effect.gen(function*() {
      const early = yield* consent()
      const late = yield* consent()
      yield* TestClock.adjust("299 seconds")
      assert.isString((yield* exchange(early)).json.access_token)
      yield* TestClock.adjust("1 second")
      assertErrcode(yield* exchange(late), 42003, "code expired")
    })))

  it.effect("40029 for an unknown code, and for a code of another app", () =>
    run(Effect.gen(function*() {
      assertErrcode(yield* exchange("NOTACODE0000000000000000000000000"), 40029, "invalid code")
      const webCode = yield* consent({ app: WEB })
      assertErrcode(yield* exchange(webCode, OA), 40029, "invalid code")
      // the code was not used up by the wrong app
      assert.isString((yield* exchange(webCode, WEB)).json.access_token)
    })))

  it.effect("40125 for a wrong secret, 40013 for an unknown appid; neither uses up the code", () =>
    run(Effect.gen(function*() {
      const code = yield* consent()
      assertErrcode(yield* exchange(code, OA, { secret: WEB.secret }), 40125, "invalid appsecret")
      assertErrcode(yield* exchange(code, OA, { appid: "wx0000000000000000" }), 40013, "invalid appid")
      assert.isString((yield* exchange(code)).json.access_token)
    })))

  it.effect("wrongSecretErrcode: 40001 \"invalid credential\" for a wrong secret, as WeChat answers on some clients", () =>
    Effect.gen(function*() {
      const code = yield* consent()
      assertErrcode(
        yield* exchange(code, OA, { secret: WEB.secret }),
        40001,
        "invalid credential, access_token is invalid or not latest"
      )
      // a rejected call still has no effect
      assert.isString((yield* exchange(code)).json.access_token)
      const session = yield* get("/sns/jscode2session", {
        appid: MINI.appId,
        secret: OA.secret,
        js_code: "any",
        grant_type: "authorization_code"
      })
      assertErrcode(session, 40001, "invalid credential")
    }).pipe(Effect.provide(sandboxLayer({
      apps: [{ ...OA, wrongSecretErrcode: 40001 }, WEB, { ...MINI, wrongSecretErrcode: 40001 }]
    }))))

  it.effect("41002 / 41004 / 41008 for a missing appid / secret / code, 40002 for a wrong grant_type", () =>
    run(Effect.gen(function*() {
      const code = yield* consent()
      assertErrcode(yield* exchange(code, OA, { appid: undefined }), 41002)
      assertErrcode(yield* exchange(code, OA, { appid: "" }), 41002)
      assertErrcode(yield* exchange(code, OA, { secret: undefined }), 41004)
      assertErrcode(yield* exchange(undefined), 41008)
      assertErrcode(yield* exchange(code, OA, { grant_type: "client_credential" }), 40002, "invalid grant_type")
      assertErrcode(yield* exchange(code, OA, { grant_type: undefined }), 40002)
    })))

  it.effect("errors carry a WeChat-like rid", () =>
    run(Effect.gen(function*() {
      const answer = yield* exchange("nope")
      assert.match(answer.json.errmsg, /^invalid code rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/)
      assert.deepStrictEqual(Object.keys(answer.json), ["errcode", "errmsg"])
    })))
})

describe("/sns/oauth2/refresh_token", () => {
  it.effect("renews an unexpired access token: same token, a fresh 7200 s", () =>
    run(Effect.gen(function*() {
      const token = yield* login()
      yield* TestClock.adjust("1 hour")
      const answer = yield* refresh(token.refresh_token)
      assert.strictEqual(answer.headers["content-type"], "text/plain")
      assert.strictEqual(answer.json.access_token, token.access_token)
      assert.strictEqual(answer.json.refresh_token, token.refresh_token)
      assert.strictEqual(answer.json.expires_in, 7200)
      assert.strictEqual(answer.json.openid, token.openid)
      assert.strictEqual(answer.json.scope, "snsapi_userinfo")
      assert.strictEqual(answer.json.unionid, token.unionid)
      // without the renewal the token would have expired at 2 h
      yield* TestClock.adjust("90 minutes")
      assertErrcode(yield* auth(token.access_token, token.openid), 0, "ok")
    })))

  it.effect("issues a new access token once the old one expired; the old one stays expired", () =>
    run(Effect.gen(function*() {
      const token = yield* login()
      yield* TestClock.adjust("3 hours")
      assertErrcode(yield* userinfo(token.access_token, token.openid), 42001)
      const answer = yield* refresh(token.refresh_token)
      assert.notStrictEqual(answer.json.access_token, token.access_token)
      assert.strictEqual(answer.json.refresh_token, token.refresh_token)
      assert.strictEqual(answer.json.expires_in, 7200)
      assert.strictEqual((yield* userinfo(answer.json.access_token, token.openid)).json.nickname, "张三")
      assertErrcode(yield* userinfo(token.access_token, token.openid), 42001, "access_token expired")
    })))

  it.effect("unionidOnRefresh: false: the refresh answer has no unionid (as documented), the exchange's has", () =>
    Effect.gen(function*() {
      const token = yield* login()
      assert.isString(token.unionid)
      const renewed = yield* refresh(token.refresh_token)
      assert.strictEqual(renewed.json.access_token, token.access_token)
      assert.notProperty(renewed.json, "unionid")
      yield* TestClock.adjust("3 hours")
      const replaced = yield* refresh(token.refresh_token)
      assert.notStrictEqual(replaced.json.access_token, token.access_token)
      assert.deepStrictEqual(Object.keys(replaced.json), [
        "access_token",
        "expires_in",
        "refresh_token",
        "openid",
        "scope"
      ])
      // the user's unionid is still in the profile
      assert.strictEqual((yield* userinfo(replaced.json.access_token, token.openid)).json.unionid, token.unionid)
    }).pipe(Effect.provide(sandboxLayer({ apps: [{ ...OA, unionidOnRefresh: false }] }))))

  it.effect("42002 30 days after consent: refreshing does not extend the refresh token", () =>
    run(Effect.gen(function*() {
      const token = yield* login()
      for (let day = 1; day < 30; day++) {
        yield* TestClock.adjust("1 day")
        const answer = yield* refresh(token.refresh_token)
        assert.strictEqual(answer.json.refresh_token, token.refresh_token, `day ${day}: ${answer.text}`)
      }
      yield* TestClock.adjust("86399 seconds")
      assert.isString((yield* refresh(token.refresh_token)).json.access_token)
      yield* TestClock.adjust("1 second")
      assertErrcode(yield* refresh(token.refresh_token), 42002, "refresh_token expired")
    })))

  it.effect("42002 30 days after consent, not after the exchange: a code exchanged minutes later does not extend it", () =>
    run(Effect.gen(function*() {
      const code = yield* consent()
      yield* TestClock.adjust("4 minutes")
      const token = (yield* exchange(code)).json
      assert.isString(token.refresh_token)
      // consent + 30 days - 1 s: still refreshes
      yield* TestClock.adjust(30 * 24 * 60 * 60 * 1000 - 4 * 60 * 1000 - 1000)
      assert.isString((yield* refresh(token.refresh_token)).json.access_token)
      // consent + 30 days: expired, though only 29 days 23 h 56 min after the exchange
      yield* TestClock.adjust("1 second")
      assertErrcode(yield* refresh(token.refresh_token), 42002, "refresh_token expired")
    })))

  it.effect("40030 for an unknown refresh token and for one of another app", () =>
    run(Effect.gen(function*() {
      const token = yield* login()
      assertErrcode(yield* refresh("88_not-a-refresh-token"), 40030, "invalid refresh_token")
      assertErrcode(yield* refresh(token.refresh_token, WEB), 40030)
      assertErrcode(yield* refresh(token.access_token), 40030)
    })))

  it.effect("41002 / 41003 for a missing appid / refresh_token, 40002 for a wrong grant_type, 40013 for an unknown appid", () =>
    run(Effect.gen(function*() {
      const token = yield* login()
      assertErrcode(yield* refresh(token.refresh_token, OA, { appid: undefined }), 41002)
      assertErrcode(yield* refresh(undefined), 41003)
      assertErrcode(yield* refresh(token.refresh_token, OA, { grant_type: "authorization_code" }), 40002)
      assertErrcode(yield* refresh(token.refresh_token, OA, { appid: "wx0000000000000000" }), 40013)
    })))
})

describe("/sns/userinfo", () => {
  it.effect("answers as WeChat does since 2021-10-20: nickname and avatar, sex 0 and no places, as application/json", () =>
    run(Effect.gen(function*() {
      const token = yield* login({ user: "bob" })
      const answer = yield* userinfo(token.access_token, token.openid, "en")
      assert.strictEqual(answer.headers["content-type"], "application/json; encoding=utf-8")
      assert.deepStrictEqual(Object.keys(answer.json), [
        "openid",
        "nickname",
        "sex",
        "province",
        "city",
        "country",
        "headimgurl",
        "privilege",
        "unionid"
      ])
      assert.deepStrictEqual(answer.json, {
        openid: token.openid,
        nickname: "李四",
        sex: 0,
        province: "",
        city: "",
        country: "",
        headimgurl: "https://thirdwx.qlogo.cn/mmopen/vi_32/sandbox-bob/132",
        privilege: ["chinaunicom"],
        unionid: token.unionid
      })
    })))

  it.effect("an app with profile: \"pre2021\" gets the user's sex and places, in zh_CN by default", () =>
    Effect.gen(function*() {
      const token = yield* login({ user: "bob", app: PRE2021 })
      const answer = yield* userinfo(token.access_token, token.openid)
      assert.deepStrictEqual(answer.json, {
        openid: token.openid,
        nickname: "李四",
        sex: 1,
        province: "北京",
        city: "海淀",
        country: "中国",
        headimgurl: "https://thirdwx.qlogo.cn/mmopen/vi_32/sandbox-bob/132",
        privilege: ["chinaunicom"],
        unionid: token.unionid
      })
    }).pipe(Effect.provide(sandboxLayer({ apps: [PRE2021] }))))

  it.effect("pre2021: localizes places for lang=en and zh_TW, and falls back to zh_CN for an unknown lang", () =>
    Effect.gen(function*() {
      const token = yield* login({ user: "alice", app: PRE2021 })
      const place = (lang?: string) =>
        Effect.map(
          userinfo(token.access_token, token.openid, lang),
          (a) => [a.json.province, a.json.city, a.json.country]
        )
      assert.deepStrictEqual(yield* place("en"), ["Guangdong", "Shenzhen", "China"])
      assert.deepStrictEqual(yield* place("zh_TW"), ["廣東", "深圳", "中國"])
      assert.deepStrictEqual(yield* place("zh_CN"), ["广东", "深圳", "中国"])
      assert.deepStrictEqual(yield* place("fr"), ["广东", "深圳", "中国"])
    }).pipe(Effect.provide(sandboxLayer({ apps: [PRE2021] }))))

  it.effect("keeps UTF-8 nicknames intact", () =>
    run(Effect.gen(function*() {
      const token = yield* login({ user: "carol" })
      const answer = yield* userinfo(token.access_token, token.openid)
      assert.strictEqual(answer.json.nickname, "王五🐼")
      assert.strictEqual(answer.json.sex, 0)
      assert.strictEqual(answer.json.headimgurl, "")
    })))

  it.effect("48001 for a snsapi_base token; snsapi_login tokens may read the profile", () =>
    run(Effect.gen(function*() {
      const base = yield* login({ scope: "snsapi_base" })
      assertErrcode(yield* userinfo(base.access_token, base.openid), 48001, "api unauthorized")
      const web = yield* login({ app: WEB })
      assert.strictEqual(web.scope, "snsapi_login")
      assert.strictEqual((yield* userinfo(web.access_token, web.openid)).json.nickname, "张三")
    })))

  it.effect("40001 for an unknown token, 40003 for another user's openid, 41001 / 41009 for missing params", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const token = yield* login()
      assertErrcode(
        yield* userinfo("88_unknown", token.openid),
        40001,
        "invalid credential, access_token is invalid or not latest"
      )
      assertErrcode(yield* userinfo(token.access_token, sandbox.openidOf(OA.appId, "bob")), 40003, "invalid openid")
      assertErrcode(yield* userinfo(undefined, token.openid), 41001)
      assertErrcode(yield* userinfo(token.access_token, undefined), 41009)
    })))

  it.effect("42001 once the access token is 7200 s old; valid just before", () =>
    run(Effect.gen(function*() {
      const token = yield* login()
      yield* TestClock.adjust("7199 seconds")
      assert.strictEqual((yield* userinfo(token.access_token, token.openid)).json.nickname, "张三")
      yield* TestClock.adjust("1 second")
      assertErrcode(yield* userinfo(token.access_token, token.openid), 42001, "access_token expired")
    })))
})

describe("/sns/auth", () => {
  it.effect("answers errcode 0 for a valid token (snsapi_base included)", () =>
    run(Effect.gen(function*() {
      const token = yield* login({ scope: "snsapi_base" })
      const answer = yield* auth(token.access_token, token.openid)
      assert.deepStrictEqual(answer.json, { errcode: 0, errmsg: "ok" })
    })))

  it.effect("40001 / 42001 / 40003 / 41001 / 41009", () =>
    run(Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const token = yield* login()
      assertErrcode(yield* auth("88_unknown", token.openid), 40001)
      assertErrcode(yield* auth(token.access_token, sandbox.openidOf(OA.appId, "carol")), 40003)
      assertErrcode(yield* auth(undefined, token.openid), 41001)
      assertErrcode(yield* auth(token.access_token, undefined), 41009)
      yield* TestClock.adjust("2 hours")
      assertErrcode(yield* auth(token.access_token, token.openid), 42001)
    })))
})
