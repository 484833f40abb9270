import { assert, describe, it } from "@effect/vitest"
import { MiniProgram, SessionKeyStore, WeChatApi, WeChatConfig, type WeChatError } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"

const mini = Sandbox.defaultApps.miniProgram

/** The mini program's config and the sandbox in process: a fresh sandbox per test, counters at zero. */
const Environment = Layer.mergeAll(
  WeChatConfig.layer({ appId: mini.appId, appSecret: Redacted.make(mini.secret) }),
  Sandbox.layerHttpClient
).pipe(Layer.provideMerge(Sandbox.layer()))

const TestLayer = MiniProgram.layer.pipe(Layer.provideMerge(Environment))

/** Runs an effect in the background while moving the test clock, so retry delays pass. */
const withTime = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < 200 && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* TestClock.adjust("50 millis")
    return yield* Fiber.join(fiber)
  })

const inject = (fault: Sandbox.Fault) => Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.injectFault(fault))
const calls = Effect.map(Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.stats), (stats) => stats.jscode2session)

/** A `wx.login()` code of `user`. */
const login = (user = "alice") =>
  Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.miniProgramLogin({ appId: mini.appId, user }))

describe("MiniProgram", () => {
  describe("code2Session", () => {
    it.effect("exchanges a wx.login() code for the user's openid and a Redacted session key", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        const sandbox = yield* Sandbox.Sandbox
        assert.strictEqual(miniProgram.appId, mini.appId)
        const session = yield* miniProgram.code2Session(yield* login())
        assert.strictEqual(session.openid, sandbox.openidOf(mini.appId, "alice"))
        assert.isTrue(Redacted.isRedacted(session.sessionKey))
        assert.lengthOf(Buffer.from(Redacted.value(session.sessionKey), "base64"), 16)
        assert.notInclude(String(session.sessionKey), Redacted.value(session.sessionKey))
        assert.isUndefined(session.unionid, "the default mini program is not bound to an Open Platform account")
        const bob = yield* miniProgram.code2Session(yield* login("bob"))
        assert.strictEqual(bob.openid, sandbox.openidOf(mini.appId, "bob"))
        assert.strictEqual(yield* calls, 2)
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a code is single-use: the second exchange is CodeUsed", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        const jsCode = yield* login()
        yield* miniProgram.code2Session(jsCode)
        const reused = yield* Effect.flip(miniProgram.code2Session(jsCode))
        assert.deepStrictEqual([reused._tag, (reused as WeChatError.CodeUsed).errcode], ["CodeUsed", 40163])
        assert.strictEqual(yield* calls, 2, "not retried")
      }).pipe(Effect.provide(TestLayer)))

    it.effect("concurrent exchanges of one code share one request; once it ended, the code is CodeUsed", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        const sandbox = yield* Sandbox.Sandbox
        const jsCode = yield* login()
        const both = yield* Effect.all([miniProgram.code2Session(jsCode), miniProgram.code2Session(jsCode)], {
          concurrency: 2
        })
        assert.deepStrictEqual(both.map((s) => s.openid), [
          sandbox.openidOf(mini.appId, "alice"),
          sandbox.openidOf(mini.appId, "alice")
        ])
        assert.isTrue(both.every((s) => Redacted.isRedacted(s.sessionKey)))
        assert.strictEqual(yield* calls, 1, "one jscode2session request")
        // nothing is remembered after the flight: a later repeat goes to WeChat, which says 40163
        const later = yield* Effect.flip(miniProgram.code2Session(jsCode))
        assert.strictEqual(later._tag, "CodeUsed")
        assert.strictEqual(yield* calls, 2)
        // another code is its own request
        yield* miniProgram.code2Session(yield* login("bob"))
        assert.strictEqual(yield* calls, 3)
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a first caller interrupted while the shared request is in flight neither fails nor hangs the second", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        const sandbox = yield* Sandbox.Sandbox
        yield* inject({ kind: "slow", endpoint: "jscode2session", delayMs: 1000 })
        const jsCode = yield* login()
        const first = yield* Effect.fork(miniProgram.code2Session(jsCode))
        const second = yield* Effect.fork(miniProgram.code2Session(jsCode))
        yield* TestClock.adjust("100 millis")
        yield* Fiber.interrupt(first)
        const session = yield* withTime(Fiber.join(second))
        assert.strictEqual(session.openid, sandbox.openidOf(mini.appId, "alice"))
        assert.strictEqual(yield* calls, 1)
      }).pipe(Effect.provide(TestLayer)))

    it.effect("-1 on the exchange is retried once: nothing happened on WeChat's side", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        yield* inject({ kind: "busy", endpoint: "jscode2session" })
        const session = yield* withTime(miniProgram.code2Session(yield* login()))
        assert.isString(session.openid)
        assert.strictEqual(yield* calls, 2)
        yield* inject({ kind: "busy", endpoint: "jscode2session", times: 10 })
        const busy = yield* Effect.flip(withTime(miniProgram.code2Session(yield* login())))
        assert.strictEqual(busy._tag, "SystemBusy")
        assert.strictEqual(yield* calls, 4, "once, not more")
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a reset is not retried: the code may be burnt", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        yield* inject({ kind: "reset", endpoint: "jscode2session" })
        const error = yield* Effect.flip(withTime(miniProgram.code2Session(yield* login())))
        assert.deepStrictEqual([error._tag, (error as WeChatError.TransportError).reason], [
          "TransportError",
          "Network"
        ])
        assert.strictEqual(yield* calls, 1)
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a jsCode that is not 1 to 512 printable characters is InvalidArgument, and nothing is sent", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        const bad: ReadonlyArray<unknown> = ["", "a b", "code\n", "码", "x".repeat(513), undefined, 42, { code: "x" }]
        for (const jsCode of bad) {
          const error = yield* Effect.flip(miniProgram.code2Session(jsCode as string))
          assert.deepStrictEqual(
            [error._tag, (error as WeChatError.InvalidArgument).argument],
            ["InvalidArgument", "jsCode"],
            JSON.stringify(jsCode)
          )
        }
        assert.strictEqual(yield* calls, 0)
        // the longest accepted code is sent (and WeChat does not know it)
        const unknown = yield* Effect.flip(miniProgram.code2Session("x".repeat(512)))
        assert.strictEqual(unknown._tag, "InvalidCode")
        assert.strictEqual(yield* calls, 1)
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a session key the session-key store cannot keep (over 256 characters, control characters) is MalformedResponse", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        const answer = (sessionKey: string) => JSON.stringify({ openid: "o-alice", session_key: sessionKey })
        for (const key of ["k".repeat(257), "k".repeat(60_000), "key\nwith a newline", "key\u0000", "钥匙"]) {
          yield* inject({ kind: "raw", endpoint: "jscode2session", body: answer(key) })
          const error = yield* Effect.flip(miniProgram.code2Session(yield* login()))
          assert.strictEqual(error._tag, "MalformedResponse", key.slice(0, 20))
        }
        // the longest key kept is accepted, and checks against WeChat with the stored key
        yield* inject({ kind: "raw", endpoint: "jscode2session", body: answer("k".repeat(256)) })
        const session = yield* miniProgram.code2Session(yield* login())
        assert.strictEqual(Redacted.value(session.sessionKey), "k".repeat(256))
        yield* inject({ kind: "raw", endpoint: "checksession", body: "{\"errcode\":0,\"errmsg\":\"ok\"}" })
        assert.isTrue(yield* miniProgram.checkSessionKey("o-alice"))
      }).pipe(Effect.provide(TestLayer)))
  })

  describe("makeWith", () => {
    it.scoped("a custom exchange retry replaces the default one", () =>
      Effect.gen(function*() {
        const never = yield* MiniProgram.makeWith({ exchangeRetryOn: () => false })
        yield* inject({ kind: "busy", endpoint: "jscode2session" })
        const busy = yield* Effect.flip(withTime(never.code2Session(yield* login())))
        assert.strictEqual(busy._tag, "SystemBusy")
        assert.strictEqual(yield* calls, 1)
        const patient = yield* MiniProgram.makeWith({ exchangeRetrySchedule: Schedule.recurs(3) })
        yield* inject({ kind: "busy", endpoint: "jscode2session", times: 3 })
        const session = yield* patient.code2Session(yield* login())
        assert.isString(session.openid)
        assert.strictEqual(yield* calls, 5, "1 + 1 call and 3 retries")
        // only the exchange part applies: a caller's retry of resets, if they accept a burnt code
        const bold = yield* MiniProgram.makeWith({
          exchangeRetryOn: (error) => error._tag === "TransportError",
          exchangeRetrySchedule: Schedule.recurs(1)
        })
        yield* inject({ kind: "reset", endpoint: "jscode2session" })
        assert.isString((yield* bold.code2Session(yield* login())).openid)
        assert.strictEqual(yield* calls, 7)
      }).pipe(Effect.provide(Environment)))

    it.scoped("an exchange retry part of the wrong type is a ConfigError naming it", () =>
      Effect.gen(function*() {
        for (
          const [field, value] of [["exchangeRetryOn", "always"], ["exchangeRetrySchedule", 3]] as const
        ) {
          const error = yield* Effect.flip(MiniProgram.makeWith({ [field]: value } as never))
          assert.isTrue(ConfigError.isConfigError(error) && ConfigError.isInvalidData(error), field)
          assert.deepStrictEqual((error as ConfigError.InvalidData).path, ["policy", field])
        }
      }).pipe(Effect.provide(Environment)))
  })

  describe("decryptUserData", () => {
    it.effect("opens the user data with the session key; the watermark must name this app", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        const sandbox = yield* Sandbox.Sandbox
        const session = yield* miniProgram.code2Session(yield* login())
        const data = yield* sandbox.encryptUserData({ appId: mini.appId, user: "alice" })
        const user = yield* miniProgram.decryptUserData(session.sessionKey, data.encryptedData, data.iv)
        assert.strictEqual(user.watermark.appid, mini.appId)
        assert.strictEqual(user.openId, session.openid)
        const forged = yield* sandbox.encryptUserData({ appId: mini.appId, user: "alice", watermarkAppId: "wxother" })
        const error = yield* Effect.flip(
          miniProgram.decryptUserData(session.sessionKey, forged.encryptedData, forged.iv)
        )
        assert.deepStrictEqual([error._tag, error.reason], ["DecryptError", "WatermarkMismatch"])
      }).pipe(Effect.provide(TestLayer)))

    it.effect("another user's session key does not open the data", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        const sandbox = yield* Sandbox.Sandbox
        yield* miniProgram.code2Session(yield* login())
        const bob = yield* miniProgram.code2Session(yield* login("bob"))
        const data = yield* sandbox.encryptUserData({ appId: mini.appId, user: "alice" })
        const error = yield* Effect.flip(miniProgram.decryptUserData(bob.sessionKey, data.encryptedData, data.iv))
        assert.strictEqual(error._tag, "DecryptError")
        assert.strictEqual(error.reason, "Undecryptable")
      }).pipe(Effect.provide(TestLayer)))
  })

  describe("phone number and session keys", () => {
    it.effect("getPhoneNumber: a getPhoneNumber code gives the user's number, once; the app token is fetched once", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        const sandbox = yield* Sandbox.Sandbox
        const code = yield* sandbox.phoneNumberCode({ appId: mini.appId, user: "alice" })
        const phone = yield* miniProgram.getPhoneNumber(code)
        assert.strictEqual(phone.countryCode, "86")
        assert.match(phone.purePhoneNumber, /^1\d{10}$/)
        assert.include(phone.phoneNumber, phone.purePhoneNumber)
        const reused = yield* Effect.flip(miniProgram.getPhoneNumber(code))
        assert.strictEqual(reused._tag, "InvalidCode")
        const bob = yield* miniProgram.getPhoneNumber(
          yield* sandbox.phoneNumberCode({ appId: mini.appId, user: "bob" })
        )
        assert.notStrictEqual(bob.purePhoneNumber, phone.purePhoneNumber)
        const stats = yield* sandbox.stats
        assert.strictEqual(stats.stable_token, 1)
        assert.strictEqual(stats.getuserphonenumber, 3)
      }).pipe(Effect.provide(TestLayer)))

    it.effect("getPhoneNumber: a number watermarked for another app is MalformedResponse", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        const sandbox = yield* Sandbox.Sandbox
        const code = yield* sandbox.phoneNumberCode({
          appId: mini.appId,
          user: "alice",
          watermarkAppId: "wxother0000000000"
        })
        const error = yield* Effect.flip(miniProgram.getPhoneNumber(code))
        assert.strictEqual(error._tag, "MalformedResponse")
      }).pipe(Effect.provide(TestLayer)))

    it.effect("getPhoneNumber: a number that is not a phone number's digits is MalformedResponse, never an identity", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        const sandbox = yield* Sandbox.Sandbox
        const answer = (info: Record<string, unknown>) =>
          JSON.stringify({
            errcode: 0,
            errmsg: "ok",
            phone_info: {
              phoneNumber: "13800138000",
              purePhoneNumber: "13800138000",
              countryCode: "86",
              watermark: { timestamp: 1_700_000_000, appid: mini.appId },
              ...info
            }
          })
        const accepted = [
          answer({}),
          answer({ countryCode: 86 }),
          answer({ phoneNumber: "+85261234567", purePhoneNumber: "61234567", countryCode: "852" }),
          answer({ phoneNumber: "+1 2025550123", purePhoneNumber: "2025550123", countryCode: "1" })
        ]
        for (const body of accepted) {
          yield* inject({ kind: "raw", endpoint: "getuserphonenumber", body })
          const phone = yield* miniProgram.getPhoneNumber(
            yield* sandbox.phoneNumberCode({ appId: mini.appId, user: "alice" })
          )
          assert.match(phone.purePhoneNumber, /^[0-9]+$/, body)
        }
        const refused = [
          // one account for every user whose number came back empty
          answer({ phoneNumber: "", purePhoneNumber: "" }),
          answer({ purePhoneNumber: "1380013800\n0" }),
          answer({ phoneNumber: "13800138000\u0000admin" }),
          answer({ purePhoneNumber: "1380013800０" }),
          answer({ purePhoneNumber: "<script>" }),
          answer({ countryCode: "" }),
          answer({ countryCode: 1.5 }),
          answer({ countryCode: -86 }),
          answer({ countryCode: "8\u0000" }),
          answer({ watermark: { timestamp: 1.5, appid: mini.appId } })
        ]
        for (const body of refused) {
          yield* inject({ kind: "raw", endpoint: "getuserphonenumber", body })
          const error = yield* Effect.flip(
            miniProgram.getPhoneNumber(yield* sandbox.phoneNumberCode({ appId: mini.appId, user: "alice" }))
          )
          assert.strictEqual(error._tag, "MalformedResponse", body)
        }
      }).pipe(Effect.provide(TestLayer)))

    it.effect("checkSessionKey: true for the stored key and for the key a reset stored; SessionKeyNotFound without one", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        const session = yield* miniProgram.code2Session(yield* login())
        assert.isTrue(yield* miniProgram.checkSessionKey(session.openid))
        const fresh = yield* miniProgram.resetSessionKey(session.openid)
        assert.notStrictEqual(Redacted.value(fresh), Redacted.value(session.sessionKey))
        // the new key replaced the stored one: it checks as valid
        assert.isTrue(yield* miniProgram.checkSessionKey(session.openid))
        const missing = yield* Effect.flip(miniProgram.checkSessionKey("o-nobody"))
        assert.strictEqual(missing._tag, "SessionKeyNotFound")
      }).pipe(Effect.provide(TestLayer)))

    it.effect("checkSessionKey is false when WeChat says 87009 for the stored key", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        const session = yield* miniProgram.code2Session(yield* login())
        yield* inject({ kind: "errcode", errcode: 87009, endpoint: "checksession" })
        assert.isFalse(yield* miniProgram.checkSessionKey(session.openid))
      }).pipe(Effect.provide(TestLayer)))

    it.effect("checkSessionKey says true only to WeChat's own yes, never to another answer with errcode 0", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        const session = yield* miniProgram.code2Session(yield* login())
        for (
          const body of [
            "{\"errcode\":0,\"errmsg\":[[[[[]]]]]}",
            "{\"errcode\":0,\"errmsg\":\"\"}",
            // another endpoint's success, as a proxy that mixes answers up would give it
            "{\"errcode\":0,\"errmsg\":\"ok\",\"openid\":\"o\",\"session_key\":\"k\"}"
          ]
        ) {
          yield* inject({ kind: "raw", endpoint: "checksession", body })
          const error = yield* Effect.flip(miniProgram.checkSessionKey(session.openid))
          assert.strictEqual(error._tag, "MalformedResponse", body)
        }
        yield* inject({ kind: "raw", endpoint: "checksession", body: "{\"errcode\":0,\"errmsg\":\"ok\"}" })
        assert.isTrue(yield* miniProgram.checkSessionKey(session.openid))
      }).pipe(Effect.provide(TestLayer)))

    it.effect("checkSessionKey says true to {\"errcode\":0}, the answer WeChat documents for checksession", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        const session = yield* miniProgram.code2Session(yield* login())
        yield* inject({ kind: "raw", endpoint: "checksession", body: "{\"errcode\":0}" })
        assert.isTrue(yield* miniProgram.checkSessionKey(session.openid))
      }).pipe(Effect.provide(TestLayer)))

    it("the checksession signature is the hex HMAC-SHA256 of the empty string keyed by the key's text", () => {
      // computed outside the code: printf '' | openssl dgst -sha256 -hmac "tiihtNczf5v6AKRyjwEUhQ=="
      assert.strictEqual(
        WeChatApi.sessionSignature(Redacted.make("tiihtNczf5v6AKRyjwEUhQ==")),
        "7154f9f8b4b76b92f541cbf0e37d48840fa06e5e42da92a6f80168a1516a4735"
      )
    })
  })

  describe("session keys: an older key never replaces a newer one", () => {
    // WeChat handles each slowed call at once (its key is current from then on); only its answer is late
    const storedKey = (openid: string) =>
      Effect.flatMap(SessionKeyStore.SessionKeyStore, (store) => store.get(mini.appId, openid)).pipe(
        Effect.map((key) => Option.map(key, Redacted.value))
      )
    const WithStore = MiniProgram.layer.pipe(Layer.provideMerge(SessionKeyStore.layerMemory))
    const StoreLayer = WithStore.pipe(Layer.provideMerge(Environment))

    it.effect("a reset answered after a later login of the user keeps the login's key, and answers it", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        const first = yield* miniProgram.code2Session(yield* login())
        // the app token fetched, so only the reset is slow
        assert.isTrue(yield* miniProgram.checkSessionKey(first.openid))
        yield* inject({ kind: "slow", endpoint: "resetusersessionkey", delayMs: 2000 })
        const reset = yield* Effect.fork(miniProgram.resetSessionKey(first.openid))
        yield* TestClock.adjust("500 millis")
        // the user opens the mini program again: its key is WeChat's current one from now on
        const again = yield* miniProgram.code2Session(yield* login())
        yield* TestClock.adjust("2 seconds")
        const answered = yield* Fiber.join(reset)
        assert.isTrue(
          Option.contains(yield* storedKey(first.openid), Redacted.value(again.sessionKey)),
          "the later login's key stays stored"
        )
        assert.strictEqual(
          Redacted.value(answered),
          Redacted.value(again.sessionKey),
          "the reset answers the newer key"
        )
        assert.isTrue(yield* miniProgram.checkSessionKey(first.openid), "the stored key is WeChat's current one")
        // and a later reset, signed with it, works
        const fresh = yield* miniProgram.resetSessionKey(first.openid)
        assert.deepStrictEqual(yield* storedKey(first.openid), Option.some(Redacted.value(fresh)))
        assert.isTrue(yield* miniProgram.checkSessionKey(first.openid))
      }).pipe(Effect.provide(StoreLayer)))

    it.effect("two codes of one user in flight at once: the key of the one sent last is stored, whichever answers last", () =>
      Effect.gen(function*() {
        const miniProgram = yield* MiniProgram.MiniProgram
        const codeA = yield* login()
        const codeB = yield* login()
        yield* inject({ kind: "slow", endpoint: "jscode2session", delayMs: 2000 })
        // A is sent first (its key is current at WeChat first), and answered 2 s late
        const a = yield* Effect.fork(miniProgram.code2Session(codeA))
        yield* TestClock.adjust("100 millis")
        const b = yield* miniProgram.code2Session(codeB)
        yield* TestClock.adjust("2 seconds")
        const sessionA = yield* Fiber.join(a)
        assert.notStrictEqual(Redacted.value(sessionA.sessionKey), Redacted.value(b.sessionKey))
        assert.strictEqual(sessionA.openid, b.openid)
        assert.isTrue(
          Option.contains(yield* storedKey(b.openid), Redacted.value(b.sessionKey)),
          "the key of the code sent last is stored"
        )
        assert.isTrue(yield* miniProgram.checkSessionKey(b.openid), "the stored key is WeChat's current one")
        // nothing is left over: a later login of the user is stored as ever
        const later = yield* miniProgram.code2Session(yield* login())
        assert.deepStrictEqual(yield* storedKey(b.openid), Option.some(Redacted.value(later.sessionKey)))
      }).pipe(Effect.provide(StoreLayer)))

    it.scoped("a reset in one process keeps the key another process's login stored during it (one shared store)", () =>
      Effect.gen(function*() {
        // two services on one store, as two processes on Redis: neither knows the other's calls
        const one = yield* MiniProgram.make
        const two = yield* MiniProgram.make
        const first = yield* one.code2Session(yield* login())
        assert.isTrue(yield* one.checkSessionKey(first.openid))
        yield* inject({ kind: "slow", endpoint: "resetusersessionkey", delayMs: 2000 })
        const reset = yield* Effect.fork(one.resetSessionKey(first.openid))
        yield* TestClock.adjust("500 millis")
        const again = yield* two.code2Session(yield* login())
        yield* TestClock.adjust("2 seconds")
        const answered = yield* Fiber.join(reset)
        assert.isTrue(
          Option.contains(yield* storedKey(first.openid), Redacted.value(again.sessionKey)),
          "the other process's login's key stays stored"
        )
        assert.strictEqual(Redacted.value(answered), Redacted.value(again.sessionKey), "the reset answers it")
        assert.isTrue(yield* one.checkSessionKey(first.openid))
        assert.isTrue(yield* two.checkSessionKey(first.openid))
      }).pipe(Effect.provide(SessionKeyStore.layerMemory), Effect.provide(Environment)))
  })
})
