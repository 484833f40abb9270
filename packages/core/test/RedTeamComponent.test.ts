/**
 * Red team: attacks on the third-party platform (`Component`): the authorization-event URL (its
 * HttpApp, the Promise handler, `acceptPush` with hostile requests and arguments, replays, signed
 * messages with odd contents), the component and authorizer tokens under a failing WeChat (no
 * thundering herd), and a hostile WeChat on each of the six component endpoints (nested JSON, huge
 * and dripping bodies, non-finite numbers, echoed errmsg, garbage). Each attack asserts the safe
 * behaviour: a typed error, within a bounded time, with no secret in the error, span or log line.
 * Findings that are open are `it.skip` with a pointer to /work/notes/redteam.md.
 */
import { assert, describe, it } from "@effect/vitest"
import { AppTokenStore, Component, MiniProgram, TokenStore, WeChatOAuth } from "@wxauth/core"
import { defectOf, exoticArguments } from "@wxauth/core/testing"
import { Sandbox } from "@wxauth/sandbox"
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import type * as Tracer from "effect/Tracer"
import { createRequire } from "node:module"
import * as V8 from "node:v8"
import * as Vm from "node:vm"
import { managedMini, managedOfficial, platform, pushRequest, pushUrl, runApp } from "./componentFixtures.js"
import { describeFault, everyEndpoint, type HostileFault, problemsOf, recordInto } from "./hostile.js"

const require = createRequire(import.meta.url)
interface WXBizMsgCrypt {
  encrypt(text: string): string
  getSignature(timestamp: string, nonce: string, encrypt: string): string
}
const WXBizMsgCrypt: new(token: string, encodingAesKey: string, id: string) => WXBizMsgCrypt = require(
  "wechat-crypto"
)
const wechat = new WXBizMsgCrypt(platform.token, platform.encodingAesKey, platform.componentAppId)

V8.setFlagsFromString("--expose-gc")
const gc: () => void = Vm.runInNewContext("gc")

/** 2023-11-14 */
const start = 1_700_000_000_000
const redirectUri = "https://platform.example.com/oauth/callback"

/** A small sandbox: one platform managing one official account and one mini program. */
const SandboxLive = Sandbox.layerHttpClient.pipe(
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

const ComponentLive = Component.layer(platform).pipe(
  Layer.orDie,
  Layer.provideMerge(Layer.mergeAll(AppTokenStore.layerMemory, TokenStore.layerMemory)),
  Layer.provideMerge(SandboxLive)
)

/** Runs `effect`, moving the TestClock in `step`s until it ends (at most `steps` of them). */
const withTime = <A, E, R>(effect: Effect.Effect<A, E, R>, step: Duration.DurationInput = "500 millis", steps = 1200) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < steps && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* TestClock.adjust(step)
    const exit = yield* Fiber.poll(fiber)
    if (Option.isNone(exit)) yield* Fiber.interrupt(fiber)
    return exit
  })

const nowSeconds = Effect.map(TestClock.currentTimeMillis, (ms) => Math.floor(ms / 1000))

const signedPush = (xml: string, timestamp: number, nonce = "1320562132"): Component.PushRequest => {
  const encrypted = wechat.encrypt(xml)
  return {
    query: {
      timestamp: String(timestamp),
      nonce,
      encrypt_type: "aes",
      msg_signature: wechat.getSignature(String(timestamp), nonce, encrypted)
    },
    body: `<xml><AppId><![CDATA[${platform.componentAppId}]]></AppId><Encrypt><![CDATA[${encrypted}]]></Encrypt></xml>`
  }
}

const ticketXml = (createTime: number | string, ticket: string) =>
  `<xml><AppId><![CDATA[${platform.componentAppId}]]></AppId><CreateTime>${createTime}</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[${ticket}]]></ComponentVerifyTicket></xml>`

const unauthorizedXml = (createTime: number, appId: string) =>
  `<xml><AppId><![CDATA[${platform.componentAppId}]]></AppId><CreateTime>${createTime}</CreateTime><InfoType><![CDATA[unauthorized]]></InfoType><AuthorizerAppid><![CDATA[${appId}]]></AuthorizerAppid></xml>`

/** A logger that keeps every line (message and annotations). */
const recordingLogger = () => {
  const lines: Array<{ readonly level: string; readonly text: string }> = []
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    lines.push({ level: logLevel.label, text: `${JSON.stringify(message)} ${JSON.stringify([...annotations])}` })
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

/** Exotic values a JavaScript caller can pass: none may throw or die inside the library. */
const exotic = (): ReadonlyArray<readonly [string, unknown]> => [
  ...exoticArguments(),
  ["Date", new Date(Number.NaN)],
  ["Promise", Promise.resolve("x")],
  ["deep array", JSON.parse("[".repeat(5000) + "]".repeat(5000))]
]

// -------------------------------------------------------------------------------------------------
// the authorization-event URL
// -------------------------------------------------------------------------------------------------

describe("red team: the authorization-event URL", () => {
  // RED TEAM: finding 1, fixed (a CreateTime ahead of the Clock by more than pushMaxAge is Stale; stored times never ahead)
  it.effect("a signed ticket whose CreateTime is far ahead does not pin the store: the next real ticket replaces it", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const store = yield* AppTokenStore.AppTokenStore
      const now = yield* nowSeconds
      // a push whose outer timestamp is fresh, carrying a message stamped a year ahead
      const ahead = now + 365 * 24 * 3600
      const exit = yield* Effect.exit(component.acceptPush(signedPush(ticketXml(ahead, "ticket-from-the-future"), now)))
      assert.isFalse(Exit.isFailure(exit) && Cause.isDie(exit.cause), "never a defect")
      // one two minutes ahead (within the allowed skew) is taken, stamped no later than now
      yield* component.acceptPush(signedPush(ticketXml(now + 120, "ticket-skewed"), now, "98"))
      // the next genuine ticket (stamped now) must become the platform's ticket
      yield* component.acceptPush(signedPush(ticketXml(now + 1, "ticket-of-today"), now + 1, "99"))
      const stored = yield* store.get(`component-ticket:${platform.componentAppId}`)
      assert.isTrue(Option.isSome(stored))
      assert.strictEqual(Redacted.value(Option.getOrThrow(stored).accessToken), "ticket-of-today")
    }).pipe(Effect.provide(ComponentLive)))

  // RED TEAM: finding 1, fixed (a void token is no token; stored times never ahead of the Clock)
  it.effect("an unauthorized push stamped far ahead does not block the app's next authorization", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const sandbox = yield* Sandbox.Sandbox
      const now = yield* nowSeconds
      const ticket = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket"
      })
      yield* component.acceptPush({ query: ticket.query, body: ticket.body })
      const ahead = yield* Effect.exit(
        component.acceptPush(signedPush(unauthorizedXml(now + 365 * 24 * 3600, managedOfficial), now))
      )
      assert.isFalse(Exit.isFailure(ahead) && Cause.isDie(ahead.cause), "never a defect")
      // the app authorizes the platform (again): its tokens must be usable
      const authorize = Effect.gen(function*() {
        const push = yield* sandbox.componentPush({
          componentAppId: platform.componentAppId,
          infoType: "authorized",
          appId: managedOfficial
        })
        const event = yield* component.acceptPush({ query: push.query, body: push.body })
        assert.strictEqual(event._tag, "Authorized")
        if (event._tag === "Authorized") yield* component.queryAuth(event.authorizationCode)
      })
      yield* authorize
      const appToken = yield* component.appToken(managedOfficial)
      assert.isTrue(Redacted.value(yield* appToken.get).length > 0)
      // an unauthorized stamped ahead within the allowed skew (WeChat's clock a minute fast): the
      // app's token is gone (a typed error, never the void token "")...
      yield* component.acceptPush(signedPush(unauthorizedXml(now + 60, managedOfficial), now, "4242"))
      const voided = yield* Effect.either(appToken.get)
      assert.isTrue(
        voided._tag === "Left" && voided.left._tag === "AuthorizerRefreshTokenInvalid",
        `an unauthorized app has no token: ${JSON.stringify(voided)}`
      )
      // ...and its next authorization, at the same instant, is honoured
      yield* authorize
      const token = yield* Effect.either(appToken.get)
      assert.isTrue(token._tag === "Right", `the re-authorized app has a token: ${JSON.stringify(token)}`)
      if (token._tag === "Right") {
        assert.notStrictEqual(Redacted.value(token.right), "", "a real token, not the void one")
      }
      // and its refresh token is the new one: a forced refresh goes through api_authorizer_token
      const refreshed = yield* Effect.either(
        appToken.invalidate(token._tag === "Right" ? token.right : Redacted.make(""))
      )
      assert.isTrue(
        refreshed._tag === "Right",
        `the refresh token queryAuth stored is used: ${JSON.stringify(refreshed)}`
      )
    }).pipe(Effect.provide(ComponentLive)))

  it.effect("a signed message with CreateTime 0, 12 nines or leading zeros ends in a value or a typed error", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const now = yield* nowSeconds
      let nonce = 1
      for (const createTime of ["0", "999999999999", "000000000001", String(now)]) {
        const exit = yield* Effect.exit(
          component.acceptPush(signedPush(ticketXml(createTime, `t${nonce}`), now, String(nonce++)))
        )
        assert.isFalse(Exit.isFailure(exit) && Cause.isDie(exit.cause), `CreateTime ${createTime}: never a defect`)
      }
    }).pipe(Effect.provide(ComponentLive)))

  // RED TEAM: finding 2, fixed (an over-long query is InvalidPush TooLarge: 400, no ERROR line)
  it.effect("the HttpApp answers a request with an oversized query 400 (refused), not 500 (WeChat, try again)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const { layer, lines } = recordingLogger()
      const app = yield* Component.makeHttpApp()
      const request = new Request(`${pushUrl}?timestamp=1&nonce=1&msg_signature=${"a".repeat(9000)}`, {
        method: "POST",
        headers: { "content-type": "text/xml" },
        body: "<xml><Encrypt><![CDATA[AAAA]]></Encrypt></xml>"
      })
      const answer = yield* runApp(app, request).pipe(Effect.provide(layer))
      assert.strictEqual(answer.status, 400, `answer: ${answer.status} ${answer.text}`)
      assert.isFalse(lines.some((line) => line.level === "ERROR"), "a garbage request is no error of the app's")
    }).pipe(Effect.provide(ComponentLive)))

  it.effect("the HttpApp: a flood of garbage is one warning a minute (the rest debug lines), never an ERROR", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const { layer, lines } = recordingLogger()
      const app = yield* Component.makeHttpApp()
      const garbage = (i: number) =>
        new Request(`${pushUrl}?timestamp=${i}&nonce=${i}&msg_signature=${i % 2 === 0 ? "x".repeat(9000) : "x"}`, {
          method: "POST",
          body: i % 3 === 0 ? "not xml" : "<xml><Encrypt><![CDATA[AAAA]]></Encrypt></xml>"
        })
      const run = (from: number) =>
        Effect.forEach(Array.from({ length: 100 }, (_, i) => from + i), (i) => runApp(app, garbage(i)), {
          concurrency: 1
        }).pipe(Effect.provide(Layer.merge(layer, Logger.minimumLogLevel(LogLevel.All))))
      const first = yield* run(0)
      assert.isTrue(first.every((answer) => answer.status === 400))
      yield* TestClock.adjust("61 seconds")
      yield* run(100)
      const levels = lines.map((line) => line.level)
      assert.strictEqual(levels.filter((level) => level === "WARN").length, 2, "one warning per minute")
      assert.strictEqual(levels.filter((level) => level === "DEBUG").length, 198)
      assert.isFalse(levels.includes("ERROR"))
      // the second warning counts what was refused since the first
      assert.include(lines.filter((line) => line.level === "WARN")[1].text, "[\"refusedSinceLastWarning\",99]")
    }).pipe(Effect.provide(ComponentLive)))

  it.effect("the HttpApp: a body that never ends is cut at 10 seconds of Clock (408)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const app = yield* Component.makeHttpApp()
      let pulls = 0
      const never = new ReadableStream<Uint8Array>({
        pull: (controller) => {
          if (pulls++ === 0) controller.enqueue(new TextEncoder().encode("<xml>"))
          return new Promise(() => {})
        }
      })
      const request = new Request(`${pushUrl}?timestamp=1&nonce=1&msg_signature=x`, {
        method: "POST",
        body: never,
        duplex: "half"
      } as RequestInit)
      const exit = yield* withTime(runApp(app, request), "1 second", 30)
      assert.isTrue(Option.isSome(exit), "answered within 30 s of Clock")
      const answer = Option.getOrThrow(exit)
      assert.isTrue(Exit.isSuccess(answer))
      if (Exit.isSuccess(answer)) assert.strictEqual(answer.value.status, 408)
    }).pipe(Effect.provide(ComponentLive)))

  it.effect("the HttpApp: an endless chunked body stops being read past 64 KiB (413)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const app = yield* Component.makeHttpApp()
      let sent = 0
      const piece = new Uint8Array(16 * 1024).fill(0x61)
      const endless = new ReadableStream<Uint8Array>({
        pull: (controller) => {
          sent += piece.length
          controller.enqueue(piece)
        }
      })
      const request = new Request(`${pushUrl}?timestamp=1&nonce=1&msg_signature=x`, {
        method: "POST",
        body: endless,
        duplex: "half"
      } as RequestInit)
      const answer = yield* runApp(app, request)
      assert.strictEqual(answer.status, 413)
      assert.isBelow(sent, 1024 * 1024, `read ${sent} bytes of an endless body`)
    }).pipe(Effect.provide(ComponentLive)))

  it.effect("the HttpApp: a Content-Length that lies (small) does not let a large body in; a bad one is refused", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const app = yield* Component.makeHttpApp()
      const big = new Request(`${pushUrl}?timestamp=1&nonce=1&msg_signature=x`, {
        method: "POST",
        headers: { "content-length": "10" },
        body: "x".repeat(200_000)
      })
      assert.strictEqual((yield* runApp(app, big)).status, 413)
      for (const length of ["-1", "1e9", "abc", "99999999999999999999", " 5"]) {
        const request = new Request(`${pushUrl}?timestamp=1&nonce=1&msg_signature=x`, {
          method: "POST",
          headers: { "content-length": length },
          body: "<xml></xml>"
        })
        const answer = yield* runApp(app, request)
        assert.include([400, 413], answer.status, `Content-Length ${length}: ${answer.status}`)
      }
    }).pipe(Effect.provide(ComponentLive)))

  it.effect("the HttpApp: odd methods are 405 and process nothing", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const sandbox = yield* Sandbox.Sandbox
      const seen: Array<string> = []
      const app = yield* Component.makeHttpApp({ onEvent: (e) => Effect.sync(() => void seen.push(e._tag)) })
      const push = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket"
      })
      const url = `${pushUrl}?${new URLSearchParams(push.query)}`
      for (const method of ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND"]) {
        const hasBody = method !== "GET" && method !== "HEAD"
        const answer = yield* runApp(app, new Request(url, { method, ...(hasBody ? { body: push.body } : {}) }))
        assert.strictEqual(answer.status, 405, method)
      }
      assert.deepStrictEqual(seen, [])
      assert.deepStrictEqual(yield* runApp(app, pushRequest(push)), { status: 200, text: "success" })
      assert.deepStrictEqual(seen, ["ComponentVerifyTicket"])
    }).pipe(Effect.provide(ComponentLive)))

  it.effect("5,000 concurrent forged pushes are refused typed and fast; a real push after them is processed", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const sandbox = yield* Sandbox.Sandbox
      const forged = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket",
        forge: { token: "forgerstoken" }
      })
      const started = performance.now()
      const exits = yield* Effect.forEach(
        Array.from({ length: 5000 }, (_, i) => i),
        (i) => Effect.exit(component.acceptPush({ query: { ...forged.query, nonce: String(i) }, body: forged.body })),
        { concurrency: "unbounded" }
      )
      const elapsed = performance.now() - started
      assert.isTrue(
        exits.every((exit) =>
          Exit.isFailure(exit) && Option.exists(Cause.failureOption(exit.cause), (e) => e._tag === "InvalidPush")
        )
      )
      assert.isBelow(elapsed, 10_000)
      const real = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket"
      })
      const event = yield* component.acceptPush({ query: real.query, body: real.body })
      assert.strictEqual(event._tag, "ComponentVerifyTicket")
    }).pipe(Effect.provide(ComponentLive)))

  it.effect("a replay in another dress (signature case, query form, body whitespace, entities) is a Duplicate", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const sandbox = yield* Sandbox.Sandbox
      const seen: Array<string> = []
      const onEvent = (e: Component.PushEvent) => Effect.sync(() => void seen.push(e._tag))
      const push = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "authorized",
        appId: managedOfficial
      })
      assert.strictEqual(
        (yield* component.acceptPush({ query: push.query, body: push.body }, onEvent))._tag,
        "Authorized"
      )
      const encrypted = /<Encrypt><!\[CDATA\[([^\]]+)\]\]><\/Encrypt>/.exec(push.body)![1]
      const entityEncoded = encrypted.replace(/A/g, "&#65;")
      const dresses: ReadonlyArray<Component.PushRequest> = [
        { query: { ...push.query, msg_signature: push.query.msg_signature.toUpperCase() }, body: push.body },
        { query: new URLSearchParams(push.query), body: push.body },
        { query: `?${new URLSearchParams(push.query)}`, body: push.body },
        { query: `${pushUrl}?${new URLSearchParams(push.query)}`, body: new TextEncoder().encode(push.body) },
        { query: { ...push.query, encrypt_type: undefined as unknown as string }, body: push.body },
        { query: push.query, body: `  \n${push.body.replace("<Encrypt>", "\n<Encrypt>")}\n` },
        { query: push.query, body: `<xml><Encrypt>${entityEncoded}</Encrypt></xml>` }
      ]
      for (const dress of dresses) {
        const event = yield* component.acceptPush(dress, onEvent)
        assert.strictEqual(event._tag, "Duplicate")
      }
      assert.deepStrictEqual(seen, ["Authorized"])
    }).pipe(Effect.provide(ComponentLive)))

  it.effect("unauthorized naming the platform itself, or an app it never had, voids nothing of the platform's", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const sandbox = yield* Sandbox.Sandbox
      const ticket = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket"
      })
      yield* component.acceptPush({ query: ticket.query, body: ticket.body })
      const before = yield* component.accessToken
      const now = yield* nowSeconds
      for (const [i, appId] of [platform.componentAppId, "component-token", "wxnotmanaged000001"].entries()) {
        yield* component.acceptPush(signedPush(unauthorizedXml(now, appId), now, `n${i}`))
      }
      const after = yield* component.accessToken
      assert.strictEqual(Redacted.value(after), Redacted.value(before), "the component token is untouched")
      assert.strictEqual(
        (yield* sandbox.componentTokenUsage({ componentAppId: platform.componentAppId })).calls
          .api_component_token,
        1
      )
    }).pipe(Effect.provide(ComponentLive)))
})

// -------------------------------------------------------------------------------------------------
// hostile arguments beyond the reflection suite's junk
// -------------------------------------------------------------------------------------------------

describe("red team: exotic arguments (Symbol, BigInt, Proxy, throwing getters)", () => {
  // RED TEAM: finding 3, fixed (arguments read once under internal/arguments.ts's guards)
  it.effect("acceptPush, queryAuth, appToken and the constructors never throw or die", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const defects: Array<string> = []
      const probe = function*(name: string, call: () => unknown) {
        const defect = yield* defectOf(call)
        if (defect !== undefined) defects.push(`${name}: ${defect}`)
      }
      for (const [label, value] of exotic()) {
        yield* probe(`acceptPush(${label})`, () => component.acceptPush(value as never))
        yield* probe(`acceptPush({ query: ${label} })`, () => component.acceptPush({ query: value as never, body: "" }))
        yield* probe(
          `acceptPush({ body: ${label} })`,
          () => component.acceptPush({ query: "timestamp=1&nonce=1&msg_signature=x", body: value as never })
        )
        yield* probe(`acceptPush(_, ${label})`, () => component.acceptPush({ query: "", body: "" }, value as never))
        yield* probe(`queryAuth(${label})`, () => component.queryAuth(value as never))
        yield* probe(`appToken(${label})`, () => component.appToken(value as never))
        yield* probe(`makeConfigEither(${label})`, () => Component.makeConfigEither(value as never))
        yield* probe(
          `makeConfigEither({ token: ${label} })`,
          () => Component.makeConfigEither({ ...platform, token: value as never })
        )
        yield* probe(
          `makeConfigEither({ pushMaxAge: ${label} })`,
          () => Component.makeConfigEither({ ...platform, pushMaxAge: value as never })
        )
        yield* probe(`makeHttpApp(${label})`, () => Component.makeHttpApp(value as never))
        yield* probe(`makePushHandler(${label})`, () => Component.makePushHandler(value as never))
        yield* probe(
          `layer(${label})`,
          () => Effect.scoped(Layer.build(Component.layer(value as never))).pipe(Effect.provide(ComponentLive))
        )
      }
      assert.deepStrictEqual(defects, [])
    }).pipe(Effect.provide(ComponentLive)))

  it.effect("the Promise handler rejects a hostile request with the typed error, never a TypeError", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const handler = yield* Component.makePushHandler()
      const outcomes: Array<string> = []
      for (const [label, value] of [["undefined", undefined], ["null", null], ["42", 42], ["{}", {}]] as const) {
        const outcome = yield* Effect.promise(() =>
          Promise.resolve().then(() => handler(value as never)).then(
            () => "resolved",
            (error: unknown) =>
              typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : `untyped ${error}`
          )
        )
        outcomes.push(`${label}: ${outcome}`)
      }
      assert.isTrue(outcomes.every((o) => /: (InvalidArgument|InvalidPush)$/.test(o)), outcomes.join("; "))
    }).pipe(Effect.provide(ComponentLive)))
})

// -------------------------------------------------------------------------------------------------
// the component and authorizer tokens under a failing WeChat
// -------------------------------------------------------------------------------------------------

const inject = (fault: Sandbox.Fault) => Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.injectFault(fault))
const usage = Effect.flatMap(
  Sandbox.Sandbox,
  (sandbox) => sandbox.componentTokenUsage({ componentAppId: platform.componentAppId })
)

const deliver = (infoType: Sandbox.ComponentInfoType, appId?: string) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const component = yield* Component.Component
    const push = yield* sandbox.componentPush({ componentAppId: platform.componentAppId, infoType, appId })
    return yield* component.acceptPush({ query: push.query, body: push.body })
  })

describe("red team: no thundering herd", () => {
  it.effect("200 callers of the component token while WeChat is busy: a bounded number of requests, typed errors", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      yield* deliver("component_verify_ticket")
      yield* inject({ kind: "busy", endpoint: "api_component_token", times: 10_000 })
      const exit = yield* withTime(
        Effect.forEach(Array.from({ length: 200 }), () => Effect.either(component.accessToken), {
          concurrency: "unbounded"
        }),
        "500 millis",
        600
      )
      assert.isTrue(Option.isSome(exit), "every caller answered")
      const results = Exit.getOrElse(Option.getOrThrow(exit), () => [])
      assert.strictEqual(results.length, 200)
      assert.isTrue(results.every((r) => r._tag === "Left" && r.left._tag === "SystemBusy"))
      const calls = (yield* usage).calls.api_component_token
      assert.isAtMost(calls, 5, `${calls} requests for 200 callers`)
    }).pipe(Effect.provide(ComponentLive)))

  it.effect("200 callers of an expired authorizer token while WeChat is busy: a bounded number of requests", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      yield* deliver("component_verify_ticket")
      const event = yield* deliver("authorized", managedOfficial)
      if (event._tag !== "Authorized") return assert.fail(event._tag)
      yield* component.queryAuth(event.authorizationCode)
      yield* TestClock.adjust("3 hours")
      yield* deliver("component_verify_ticket")
      yield* Effect.flatMap(Sandbox.Sandbox, (s) => s.resetStats)
      yield* inject({ kind: "busy", endpoint: "api_authorizer_token", times: 10_000 })
      const appToken = yield* component.appToken(managedOfficial)
      const exit = yield* withTime(
        Effect.forEach(Array.from({ length: 200 }), () => Effect.either(appToken.get), { concurrency: "unbounded" }),
        "500 millis",
        600
      )
      assert.isTrue(Option.isSome(exit), "every caller answered")
      const calls = (yield* usage).calls.api_authorizer_token
      assert.isAtMost(calls, 5, `${calls} requests for 200 callers`)
    }).pipe(Effect.provide(ComponentLive)))
})

// -------------------------------------------------------------------------------------------------
// a hostile WeChat on the six component endpoints
// -------------------------------------------------------------------------------------------------

const hostile: ReadonlyArray<HostileFault> = [
  ...everyEndpoint,
  { kind: "nested", field: "expires_in" },
  { kind: "nested", field: "authorization_info" },
  { kind: "nested", field: "func_info" },
  { kind: "nonFinite", value: "0" },
  { kind: "nonFinite", field: "funcscope_category" },
  { kind: "echo", errcode: 61023 },
  { kind: "echo", errcode: 61005 },
  { kind: "wrongShape" },
  { kind: "truncated" },
  { kind: "raw", body: "{\"errcode\":0,\"errmsg\":\"ok\"}" },
  { kind: "raw", body: "{\"component_access_token\":\"\",\"expires_in\":7200}" },
  {
    kind: "raw",
    body:
      "{\"authorization_info\":{\"authorizer_appid\":\"wxmanagedofficial1\",\"authorizer_access_token\":\"x\",\"expires_in\":7200,\"authorizer_refresh_token\":\"y\",\"func_info\":[{\"funcscope_category\":{\"id\":1e400}}]}}"
  },
  {
    kind: "raw",
    body:
      "{\"authorization_info\":{\"authorizer_appid\":\"../../etc\",\"authorizer_access_token\":\"x\",\"expires_in\":7200,\"authorizer_refresh_token\":\"y\"}}"
  },
  {
    kind: "raw",
    body:
      "{\"authorization_info\":{\"authorizer_appid\":\"wxmanagedofficial1\",\"authorizer_access_token\":\"x\",\"expires_in\":7200,\"authorizer_refresh_token\":\"y\",\"func_info\":{\"length\":1e9}}}"
  },
  { kind: "raw", body: "{\"authorizer_access_token\":\"x\",\"expires_in\":7200,\"authorizer_refresh_token\":\"\"}" },
  { kind: "raw", body: "{\"openid\":\"x\",\"session_key\":\"\"}" },
  { kind: "http500" },
  { kind: "reset" }
]

/** Answers well-formed but for their openid / unionid: 60,000 characters, a NUL, a newline. */
const openidGarbage: ReadonlyArray<HostileFault> = [
  {
    kind: "raw",
    body: "{\"access_token\":\"a\",\"expires_in\":7200,\"refresh_token\":\"r\",\"openid\":\"" + "o".repeat(60_000) +
      "\",\"scope\":\"snsapi_base\"}"
  },
  {
    kind: "raw",
    body:
      "{\"access_token\":\"a\",\"expires_in\":7200,\"refresh_token\":\"r\",\"openid\":\"a\\u0000b\",\"scope\":\"snsapi_base\"}"
  },
  { kind: "raw", body: "{\"openid\":\"a\\u0000b\\n\",\"session_key\":\"k\"}" },
  { kind: "raw", body: "{\"openid\":\"o\",\"session_key\":\"k\",\"unionid\":\"" + "u".repeat(60_000) + "\"}" },
  { kind: "raw", body: "{\"openid\":\"" + "o".repeat(60_000) + "\",\"session_key\":\"k\"}" }
]

type Operation =
  | "componentToken"
  | "queryAuth"
  | "authorizerToken"
  | "componentExchange"
  | "componentRefresh"
  | "componentCode2Session"

const endpointOf: Record<Operation, Sandbox.ComponentEndpoint> = {
  componentToken: "api_component_token",
  queryAuth: "api_query_auth",
  authorizerToken: "api_authorizer_token",
  componentExchange: "component_access_token",
  componentRefresh: "component_refresh_token",
  componentCode2Session: "component_jscode2session"
}

/** Every fault on one operation's endpoint, each in a fresh platform; returns what went wrong. */
const attackOperation = (operation: Operation, faults: ReadonlyArray<HostileFault> = hostile) =>
  Effect.gen(function*() {
    const problems: Array<string> = []
    let calls = 0
    for (const fault of faults) {
      const name = `${operation} <- ${describeFault(fault)}`
      const secrets = new Set<string>([platform.componentAppSecret, platform.encodingAesKey])
      const spans: Array<Tracer.Span> = []
      const lines: Array<string> = []
      const run = Effect.gen(function*() {
        yield* TestClock.setTime(start)
        const component = yield* Component.Component
        const sandbox = yield* Sandbox.Sandbox
        const ticket = yield* sandbox.componentPush({
          componentAppId: platform.componentAppId,
          infoType: "component_verify_ticket"
        })
        secrets.add(ticket.message.ComponentVerifyTicket)
        yield* component.acceptPush({ query: ticket.query, body: ticket.body })
        if (operation !== "componentToken") secrets.add(Redacted.value(yield* component.accessToken))
        const authorizedPush = operation === "queryAuth" || operation === "authorizerToken"
          ? yield* sandbox.componentPush({
            componentAppId: platform.componentAppId,
            infoType: "authorized",
            appId: managedOfficial
          })
          : undefined
        let code: Redacted.Redacted<string> | undefined
        if (authorizedPush !== undefined) {
          const event = yield* component.acceptPush({ query: authorizedPush.query, body: authorizedPush.body })
          if (event._tag !== "Authorized") return yield* Effect.dieMessage(event._tag)
          code = event.authorizationCode
          secrets.add(Redacted.value(code))
        }
        if (operation === "authorizerToken") {
          yield* component.queryAuth(code!)
          const token = yield* Effect.flatMap(component.appToken(managedOfficial), (t) => t.get)
          secrets.add(Redacted.value(token))
          yield* TestClock.adjust("3 hours")
          const again = yield* sandbox.componentPush({
            componentAppId: platform.componentAppId,
            infoType: "component_verify_ticket"
          })
          yield* component.acceptPush({ query: again.query, body: again.body })
          secrets.add(Redacted.value(yield* component.accessToken))
        }
        const oauth = operation === "componentExchange" || operation === "componentRefresh"
          ? yield* WeChatOAuth.makeForComponent(managedOfficial)
          : undefined
        const mini = operation === "componentCode2Session"
          ? yield* MiniProgram.makeForComponent(managedMini)
          : undefined
        const userCode = oauth === undefined ? undefined : new URL(
          yield* sandbox.approve({
            appId: managedOfficial,
            user: "alice",
            scope: "snsapi_userinfo",
            redirectUri,
            componentAppId: platform.componentAppId
          })
        ).searchParams.get("code")!
        if (userCode !== undefined) secrets.add(userCode)
        let openid: string | undefined
        if (operation === "componentRefresh") {
          const token = yield* oauth!.exchangeCode(userCode!)
          secrets.add(Redacted.value(token.accessToken))
          secrets.add(Redacted.value(token.refreshToken))
          openid = token.openid
        }
        const jsCode = mini === undefined
          ? undefined
          : yield* sandbox.miniProgramLogin({ appId: managedMini, user: "alice" })
        if (jsCode !== undefined) secrets.add(jsCode)
        yield* sandbox.injectFault({ ...fault, endpoint: endpointOf[operation], times: 10 })
        const call: Effect.Effect<unknown, unknown> = operation === "componentToken"
          ? component.accessToken
          : operation === "queryAuth"
          ? component.queryAuth(code!)
          : operation === "authorizerToken"
          ? Effect.flatMap(component.appToken(managedOfficial), (t) => t.get)
          : operation === "componentExchange"
          ? oauth!.exchangeCode(userCode!)
          : operation === "componentRefresh"
          ? oauth!.refresh(openid!)
          : mini!.code2Session(jsCode!)
        const { logger, tracer } = yield* recordInto(spans, lines)
        return yield* withTime(
          call.pipe(Effect.withTracer(tracer), Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
        )
      }).pipe(Effect.scoped, Effect.provide(ComponentLive))
      calls++
      const outcome = yield* Effect.exit(run)
      problems.push(...problemsOf({
        name,
        outcome,
        secrets,
        spans,
        lines,
        mayPass: () =>
          // garbage must never pass for an answer
          fault.kind === "wrongOpenid" || fault.kind === "nonFinite" || fault.kind === "echo" ||
          (fault.kind === "nested" && fault.field !== undefined)
      }))
    }
    return { problems, calls }
  })

describe("red team: a hostile WeChat on the component endpoints", () => {
  for (const operation of Object.keys(endpointOf) as ReadonlyArray<Operation>) {
    it.effect(
      `${operation} (${endpointOf[operation]}): typed, bounded, no secret, no garbage accepted`,
      () =>
        Effect.gen(function*() {
          const { calls, problems } = yield* attackOperation(operation)
          console.log(`red team ${operation}: ${calls} hostile answers, ${problems.length} problems`)
          assert.strictEqual(calls, hostile.length)
          assert.deepStrictEqual(problems, [])
        }),
      300_000
    )
  }

  // RED TEAM: finding 4, fixed (WeChatApi's answer schemas: an openid / unionid is 1..128 printable ASCII)
  it.effect(
    "an answer whose openid or unionid is not WeChat's shape (60,000 characters, NUL, newline) is refused",
    () =>
      Effect.gen(function*() {
        const exchange = yield* attackOperation("componentExchange", openidGarbage)
        const code2Session = yield* attackOperation("componentCode2Session", openidGarbage)
        // each garbage answer is refused (MalformedResponse) or fails typed: never a session of that identity
        assert.deepStrictEqual([...exchange.problems, ...code2Session.problems], [])
      }),
    300_000
  )
})

describe("red team: memory of the authorizer tokens", () => {
  // RED TEAM: finding 7, fixed (at most 1,000 kept, least recently used first out, 30 minutes idle by the Clock)
  it.live(
    "the authorizers' AppToken services the platform keeps stay bounded however many apps are used",
    () =>
      Effect.gen(function*() {
        const component = yield* Component.Component
        const heap = () => {
          gc()
          gc()
          return process.memoryUsage().heapUsed
        }
        const appId = (i: number) => `wxmemory${String(i).padStart(10, "0")}`
        const before = heap()
        for (let i = 0; i < 1_000; i++) yield* component.appToken(appId(i))
        const atCap = heap() - before
        for (let i = 1_000; i < 5_000; i++) yield* component.appToken(appId(i))
        const after = heap() - before
        console.log(
          `red team: ${(atCap / 1_000).toFixed(0)} bytes per authorizer AppToken; ${
            (atCap / 2 ** 20).toFixed(1)
          } MiB for 1,000 apps, ${(after / 2 ** 20).toFixed(1)} MiB after 5,000`
        )
        assert.isBelow(atCap, 64 * 2 ** 20, "1,000 services (the cap) fit in 64 MiB")
        assert.isBelow(after, atCap * 1.5 + 4 * 2 ** 20, "5,000 apps keep no more than the cap")
      }).pipe(Effect.provide(ComponentLive)),
    120_000
  )

  it.effect("a service is kept while used: the least recently used goes first, an idle one after 30 minutes", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const first = yield* component.appToken("wxkept0000000000")
      const busy = yield* component.appToken("wxkept0000000001")
      assert.strictEqual(yield* component.appToken("wxkept0000000000"), first, "one service per app while kept")
      for (let i = 0; i < 999; i++) {
        yield* component.appToken(`wxfill${String(i).padStart(10, "0")}`)
        // the busy app is used all along: the first app is the least recently used
        if (i % 100 === 0) yield* component.appToken("wxkept0000000001")
      }
      assert.strictEqual(yield* component.appToken("wxkept0000000001"), busy, "a used service is kept")
      const again = yield* component.appToken("wxkept0000000000")
      assert.notStrictEqual(again, first, "the least recently used was dropped at the cap")
      yield* TestClock.adjust("29 minutes")
      assert.strictEqual(yield* component.appToken("wxkept0000000000"), again, "kept while used within 30 minutes")
      yield* TestClock.adjust("30 minutes")
      const rebuilt = yield* component.appToken("wxkept0000000000")
      assert.notStrictEqual(rebuilt, again, "dropped after 30 minutes idle")
      // a dropped service still works for a caller holding it; both read the same stored token
      const sandbox = yield* Sandbox.Sandbox
      const ticket = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket"
      })
      yield* component.acceptPush({ query: ticket.query, body: ticket.body })
      const push = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "authorized",
        appId: managedOfficial
      })
      const event = yield* component.acceptPush({ query: push.query, body: push.body })
      if (event._tag !== "Authorized") return assert.fail(event._tag)
      yield* component.queryAuth(event.authorizationCode)
      const held = yield* component.appToken(managedOfficial)
      yield* TestClock.adjust("31 minutes")
      const fresh = yield* component.appToken(managedOfficial)
      assert.notStrictEqual(fresh, held)
      assert.strictEqual(Redacted.value(yield* held.get), Redacted.value(yield* fresh.get))
    }).pipe(Effect.provide(ComponentLive)))
})
