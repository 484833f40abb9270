/**
 * The third-party platform's pushes: tickets on the timer (TestClock), to an in-process
 * `pushHandler` and to a real HTTP receiver; on demand (`pushTicket`, `authorize`,
 * `updateAuthorization`, `unauthorize`) with what the receiver answered; failed deliveries; the
 * raw push (`componentPush`) and forged ones; the HTTP controls.
 */
import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@wxauth/sandbox"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as TestClock from "effect/TestClock"
import * as Http from "node:http"
import { createRequire } from "node:module"
import type * as Net from "node:net"
import {
  authorizationCode,
  componentLayer,
  componentToken,
  componentTokenCall,
  MANAGED_MINI,
  MANAGED_OA,
  OTHER,
  PLATFORM,
  queryAuth
} from "./componentHelpers.js"
import { assertErrcode, MINI, request, stableToken } from "./helpers.js"

interface WechatCrypto {
  getSignature(timestamp: string, nonce: string, encrypt: string): string
  decrypt(text: string): { message: string; id: string }
}
const WXBizMsgCrypt: new(token: string, encodingAESKey: string, id: string) => WechatCrypto = createRequire(
  import.meta.url
)("wechat-crypto")
const independent = new WXBizMsgCrypt(PLATFORM.token, PLATFORM.encodingAesKey, PLATFORM.componentAppId)

const ID = PLATFORM.componentAppId

/** The ticket in a push, read with wechat-crypto as a receiver would. */
const ticketOf = (body: string): string => {
  const encrypt = /<Encrypt><!\[CDATA\[([^\]]+)\]\]><\/Encrypt>/.exec(body)![1]
  return /<ComponentVerifyTicket><!\[CDATA\[([^\]]+)\]\]>/.exec(independent.decrypt(encrypt).message)![1]
}

const tokenWith = (ticket: string) =>
  componentTokenCall({
    component_appid: ID,
    component_appsecret: PLATFORM.componentAppSecret,
    component_verify_ticket: ticket
  })

/** A platform whose pushes go to a queue in process, answered with `answer` (default "success"). */
const handlerLayer = (
  received: Queue.Queue<Sandbox.ComponentPush>,
  options: { readonly pushInterval?: Sandbox.SandboxComponent["pushInterval"]; readonly answer?: string } = {}
) =>
  componentLayer([{
    ...PLATFORM,
    // no timer unless the test asks for one; `pushInterval: undefined` asks for the default
    pushInterval: "pushInterval" in options ? options.pushInterval : false,
    pushHandler: (push) => Effect.as(Queue.offer(received, push), options.answer ?? "success")
  }, OTHER])

interface Received {
  readonly method: string
  readonly url: string
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
}

/**
 * A real HTTP receiver on a free port: each request is put in `requests`, then answered by
 * `answer` (status and body). Closed with the scope.
 */
const receiver = (
  answer: (request: Received) => { status: number; body: string } = () => ({ status: 200, body: "success" })
) =>
  Effect.gen(function*() {
    const requests = yield* Queue.unbounded<Received>()
    const server = Http.createServer((incoming, outgoing) => {
      const chunks: Array<Buffer> = []
      incoming.on("data", (chunk: Buffer) => chunks.push(chunk))
      incoming.on("end", () => {
        const request: Received = {
          method: incoming.method ?? "",
          url: incoming.url ?? "",
          headers: incoming.headers,
          body: Buffer.concat(chunks).toString("utf8")
        }
        const { body, status } = answer(request)
        outgoing.writeHead(status, { "content-type": "text/plain" }).end(body)
        Queue.unsafeOffer(requests, request)
      })
    })
    yield* Effect.acquireRelease(
      Effect.async<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
      () =>
        Effect.sync(() => server.closeAllConnections()).pipe(
          Effect.zipRight(Effect.async<void>((resume) => void server.close(() => resume(Effect.void))))
        )
    )
    const port = (server.address() as Net.AddressInfo).port
    return { url: `http://127.0.0.1:${port}/wechat/component/events?platform=1`, requests }
  })

/** Waits (on real time, a few ms at a time) until the platform's log has `count` deliveries. */
const awaitDeliveries = (count: number) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    for (let i = 0; i < 500; i++) {
      const pushes = yield* sandbox.componentPushes({ componentAppId: ID })
      if (pushes.length >= count) return pushes
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
    }
    return assert.fail(`fewer than ${count} deliveries after 5 s`)
  })

describe("tickets on the timer", () => {
  it.effect("every pushInterval (default 10 minutes) on Clock, the first an interval after start; each ticket works", () =>
    Effect.gen(function*() {
      const received = yield* Queue.unbounded<Sandbox.ComponentPush>()
      yield* Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        yield* TestClock.adjust("9 minutes")
        assert.strictEqual(yield* Queue.size(received), 0)
        yield* TestClock.adjust("1 minute")
        const first = yield* Queue.take(received)
        assert.strictEqual(first.infoType, "component_verify_ticket")
        assert.strictEqual(first.query.timestamp, "600")
        assert.strictEqual(ticketOf(first.body), first.message.ComponentVerifyTicket)
        assert.isString((yield* tokenWith(first.message.ComponentVerifyTicket)).json.component_access_token)
        yield* TestClock.adjust("20 minutes")
        const pushes = yield* Queue.takeAll(received)
        assert.strictEqual(pushes.length, 2)
        // every ticket pushed is accepted for 12 hours, the first too
        assert.isString((yield* tokenWith(first.message.ComponentVerifyTicket)).json.component_access_token)
        for (const push of pushes) {
          assert.isString((yield* tokenWith(push.message.ComponentVerifyTicket)).json.component_access_token)
        }
        const log = yield* sandbox.componentPushes({ componentAppId: ID })
        assert.deepStrictEqual(log.map((record) => [record.infoType, record.at, record.success, record.answer]), [
          ["component_verify_ticket", 600_000, true, "success"],
          ["component_verify_ticket", 1_200_000, true, "success"],
          ["component_verify_ticket", 1_800_000, true, "success"]
        ])
        assert.strictEqual((yield* sandbox.componentTokenUsage({ componentAppId: ID })).tickets, 3)
        // a platform with no receiver gets no timer
        assert.deepStrictEqual(yield* sandbox.componentPushes({ componentAppId: OTHER.componentAppId }), [])
      }).pipe(Effect.provide(handlerLayer(received, { pushInterval: undefined })))
    }))

  it.effect("a short interval (as a text); false turns the timer off; the timer stops with the scope", () =>
    Effect.gen(function*() {
      const received = yield* Queue.unbounded<Sandbox.ComponentPush>()
      yield* Effect.gen(function*() {
        yield* TestClock.adjust("3 seconds")
        assert.strictEqual(yield* Queue.size(received), 3)
      }).pipe(Effect.provide(handlerLayer(received, { pushInterval: "1 second" })))
      yield* TestClock.adjust("1 hour")
      assert.strictEqual(yield* Queue.size(received), 3, "no push once the sandbox's scope closed")
      yield* Effect.gen(function*() {
        yield* TestClock.adjust("1 day")
        assert.strictEqual(yield* Queue.size(received), 3)
      }).pipe(Effect.provide(handlerLayer(received, { pushInterval: false })))
    }))

  it.effect("advanceClock (and POST /__sandbox/clock/advance) by an interval or more pushes the skipped time's last ticket", () =>
    Effect.gen(function*() {
      const received = yield* Queue.unbounded<Sandbox.ComponentPush>()
      yield* Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        yield* sandbox.pushTicket({ componentAppId: ID })
        const first = (yield* Queue.take(received)).message.ComponentVerifyTicket
        // advanceClock does not move Clock, so the timer alone would push nothing for the 13 hours
        yield* sandbox.advanceClock("13 hours")
        const pushed = yield* Queue.takeAll(received)
        assert.strictEqual(pushed.length, 1, "one ticket for the 13 hours skipped")
        const [latest] = pushed
        assert.strictEqual(latest.query.timestamp, String(13 * 60 * 60), "pushed at the sandbox's new time")
        assert.isString((yield* tokenWith(latest.message.ComponentVerifyTicket)).json.component_access_token)
        assertErrcode(yield* tokenWith(first), 61005)
        // less than an interval since the newest ticket: nothing; an interval in all: one
        yield* sandbox.advanceClock("6 minutes")
        assert.strictEqual(yield* Queue.size(received), 0)
        yield* sandbox.advanceClock("4 minutes")
        assert.strictEqual(yield* Queue.size(received), 1)
        yield* Queue.takeAll(received)
        // over HTTP
        const advanced = yield* request("POST", "http://sandbox/__sandbox/clock/advance", {
          json: { seconds: 13 * 3600 }
        })
        assert.strictEqual(advanced.status, 200)
        const overHttp = yield* Queue.takeAll(received)
        assert.strictEqual(overHttp.length, 1)
        assert.isString(
          (yield* tokenWith([...overHttp][0].message.ComponentVerifyTicket)).json.component_access_token
        )
        const log = yield* sandbox.componentPushes({ componentAppId: ID })
        assert.deepStrictEqual(log.map((record) => record.success), [true, true, true, true])
        // the timer keeps its own pace on Clock
        yield* TestClock.adjust("10 minutes")
        assert.strictEqual(yield* Queue.size(received), 1)
      }).pipe(Effect.provide(handlerLayer(received, { pushInterval: undefined })))
    }))

  it.effect(
    "advanceClock returns within the push timeout of real time when the receiver waits on a TestClock",
    () =>
      Effect.gen(function*() {
        const received = yield* Queue.unbounded<Sandbox.ComponentPush>()
        yield* Effect.gen(function*() {
          const sandbox = yield* Sandbox.Sandbox
          // on the TestClock: only TestClock.adjust ends this sleep
          const outcome = yield* Effect.raceFirst(
            Effect.as(sandbox.advanceClock("2 hours"), "returned"),
            Effect.as(Effect.withClock(Effect.sleep("8 seconds"), Clock.make()), "still waiting after 8 s")
          )
          assert.strictEqual(outcome, "returned")
          // the delivery goes on in the background, and ends when the receiver does
          yield* TestClock.adjust("1 second")
          assert.strictEqual((yield* Queue.take(received)).message.InfoType, "component_verify_ticket")
        }).pipe(Effect.provide(componentLayer([{
          ...PLATFORM,
          pushInterval: undefined,
          pushHandler: (push) =>
            Effect.sleep("1 second").pipe(Effect.zipRight(Queue.offer(received, push)), Effect.as("success"))
        }, OTHER])))
      }),
    20_000
  )

  it("a sandbox without ticket timers is still built without a Scope (Effect.runPromise(Sandbox.make()))", async () => {
    const sandbox = await Effect.runPromise(
      Sandbox.make() as Effect.Effect<Sandbox.SandboxService, Sandbox.SandboxError>
    )
    await Effect.runPromise(sandbox.advanceClock("13 hours"))
    assert.isAtLeast(await Effect.runPromise(sandbox.currentTimeMillis), 13 * 3600_000)
  })

  it.effect("advanceClock pushes nothing to a platform without a timer or without a receiver", () =>
    Effect.gen(function*() {
      const received = yield* Queue.unbounded<Sandbox.ComponentPush>()
      yield* Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        yield* sandbox.advanceClock("13 hours")
        assert.strictEqual(yield* Queue.size(received), 0)
        assert.deepStrictEqual(yield* sandbox.componentPushes({ componentAppId: OTHER.componentAppId }), [])
        assert.strictEqual((yield* sandbox.componentTokenUsage({ componentAppId: OTHER.componentAppId })).tickets, 0)
      }).pipe(Effect.provide(handlerLayer(received, { pushInterval: false })))
    }))

  it.scoped("over HTTP: POST pushUrl?signature&timestamp&nonce&encrypt_type=aes&msg_signature, text/xml, wechat-crypto reads it", () =>
    Effect.gen(function*() {
      const { requests, url } = yield* receiver()
      yield* Effect.gen(function*() {
        yield* TestClock.adjust("1 minute")
        const request = yield* Queue.take(requests)
        assert.strictEqual(request.method, "POST")
        assert.strictEqual(request.headers["content-type"], "text/xml")
        const query = new URL(request.url, "http://x").searchParams
        assert.deepStrictEqual([...query.keys()], [
          "platform",
          "signature",
          "timestamp",
          "nonce",
          "encrypt_type",
          "msg_signature"
        ])
        const encrypt = /<Encrypt><!\[CDATA\[([^\]]+)\]\]>/.exec(request.body)![1]
        assert.strictEqual(
          query.get("msg_signature"),
          independent.getSignature(query.get("timestamp")!, query.get("nonce")!, encrypt)
        )
        const ticket = ticketOf(request.body)
        assert.isString((yield* tokenWith(ticket)).json.component_access_token)
        const [delivery] = yield* awaitDeliveries(1)
        assert.deepInclude(delivery, { status: 200, answer: "success", success: true })
        assert.strictEqual(delivery.url, `${url}&${query.toString().replace(/^platform=1&/, "")}`)
      }).pipe(Effect.provide(componentLayer([{ ...PLATFORM, pushUrl: url, pushInterval: "1 minute" }])))
    }))
})

describe("pushes on demand", () => {
  it.effect("pushTicket sends a new ticket now and returns the receiver's answer", () =>
    Effect.gen(function*() {
      const received = yield* Queue.unbounded<Sandbox.ComponentPush>()
      yield* Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const { delivery, push } = yield* sandbox.pushTicket({ componentAppId: ID })
        assert.deepStrictEqual(delivery, { at: 0, url: undefined, status: 200, answer: "success", success: true })
        assert.strictEqual((yield* Queue.take(received)).body, push.body)
        assert.isString((yield* tokenWith(push.message.ComponentVerifyTicket)).json.component_access_token)
      }).pipe(Effect.provide(handlerLayer(received)))
    }))

  it.effect("authorize sends authorized with a fresh code (an hour); updateAuthorization and unauthorize follow", () =>
    Effect.gen(function*() {
      const received = yield* Queue.unbounded<Sandbox.ComponentPush>()
      yield* Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        yield* TestClock.adjust("1000 seconds")
        const authorized = yield* sandbox.authorize({ componentAppId: ID, appId: MINI.appId })
        assert.isTrue(authorized.delivery.success)
        const message = authorized.push.message
        assert.deepStrictEqual(Object.keys(message), [
          "AppId",
          "CreateTime",
          "InfoType",
          "AuthorizerAppid",
          "AuthorizationCode",
          "AuthorizationCodeExpiredTime",
          "PreAuthCode"
        ])
        assert.deepInclude(message, {
          AppId: ID,
          CreateTime: "1000",
          InfoType: "authorized",
          AuthorizerAppid: MINI.appId,
          AuthorizationCodeExpiredTime: "4600"
        })
        assert.match(message.PreAuthCode, /^preauthcode@@@/)
        assert.deepStrictEqual((yield* Queue.take(received)).message, message)
        // the app is managed now
        assertErrcode(yield* stableToken(), 61024)
        const token = yield* componentToken()
        const info = (yield* queryAuth(token, message.AuthorizationCode)).json.authorization_info
        assert.strictEqual(info.authorizer_appid, MINI.appId)

        const updated = yield* sandbox.updateAuthorization({ componentAppId: ID, appId: MINI.appId })
        assert.strictEqual(updated.push.message.InfoType, "updateauthorized")
        assert.notStrictEqual(updated.push.message.AuthorizationCode, message.AuthorizationCode)
        const again = (yield* queryAuth(token, updated.push.message.AuthorizationCode)).json.authorization_info
        assert.strictEqual(again.authorizer_refresh_token, info.authorizer_refresh_token)

        const unauthorized = yield* sandbox.unauthorize({ componentAppId: ID, appId: MINI.appId })
        assert.deepStrictEqual(unauthorized.push.message, {
          AppId: ID,
          CreateTime: "1000",
          InfoType: "unauthorized",
          AuthorizerAppid: MINI.appId
        })
        assert.isString((yield* stableToken()).json.access_token)
        const log = yield* sandbox.componentPushes({ componentAppId: ID })
        assert.deepStrictEqual(log.map((record) => [record.infoType, record.authorizerAppId]), [
          ["authorized", MINI.appId],
          ["updateauthorized", MINI.appId],
          ["unauthorized", MINI.appId]
        ])
        const notYet = yield* Effect.flip(sandbox.updateAuthorization({ componentAppId: ID, appId: MINI.appId }))
        assert.match(notYet.message, /has not authorized/)
        assert.match(
          (yield* Effect.flip(sandbox.unauthorize({ componentAppId: ID, appId: MINI.appId }))).message,
          /has not authorized/
        )
        assert.match(
          (yield* Effect.flip(sandbox.authorize({ componentAppId: ID, appId: "wxnosuchapp" }))).message,
          /unknown app/
        )
      }).pipe(Effect.provide(handlerLayer(received)))
    }))

  it.effect("a platform with neither pushUrl nor pushHandler: the sending controls fail and nothing happens", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const error = yield* Effect.flip(sandbox.authorize({ componentAppId: ID, appId: MINI.appId }))
      assert.instanceOf(error, Sandbox.SandboxError)
      assert.match(error.message, /no pushUrl nor pushHandler: use componentPush/)
      assert.isString((yield* stableToken()).json.access_token, "the app did not authorize")
      assert.match((yield* Effect.flip(sandbox.pushTicket({ componentAppId: ID }))).message, /no pushUrl/)
      assert.strictEqual((yield* sandbox.componentTokenUsage({ componentAppId: ID })).tickets, 0)
      assert.match((yield* Effect.flip(sandbox.pushTicket({ componentAppId: "wxnope" }))).message, /unknown component/)
    }).pipe(Effect.provide(componentLayer())))
})

describe("failed deliveries", () => {
  it.effect("an answer other than success: recorded, success false", () =>
    Effect.gen(function*() {
      const received = yield* Queue.unbounded<Sandbox.ComponentPush>()
      yield* Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const { delivery } = yield* sandbox.pushTicket({ componentAppId: ID })
        assert.deepInclude(delivery, { status: 200, answer: "success\n", success: false })
      }).pipe(Effect.provide(handlerLayer(received, { answer: "success\n" })))
    }))

  it.effect("a failing handler, a dying one, one that answers no string, one that never answers (5 s)", () =>
    Effect.gen(function*() {
      const handlers: ReadonlyArray<[Sandbox.SandboxComponent["pushHandler"], RegExp]> = [
        [() => Effect.fail(new Error("receiver down")), /receiver down/],
        [() => Effect.die(new Error("boom")), /boom/],
        [() => Effect.succeed(42 as unknown as string), /did not answer a string/]
      ]
      for (const [pushHandler, error] of handlers) {
        const { delivery } = yield* Effect.flatMap(
          Sandbox.Sandbox,
          (sandbox) => sandbox.pushTicket({ componentAppId: ID })
        )
          .pipe(Effect.provide(componentLayer([{ ...PLATFORM, pushHandler }])))
        assert.isFalse(delivery.success)
        assert.match(delivery.error!, error)
      }
      yield* Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const fiber = yield* Effect.fork(sandbox.pushTicket({ componentAppId: ID }))
        yield* TestClock.adjust("4999 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "still waiting for the answer")
        yield* TestClock.adjust("1 milli")
        const { delivery } = yield* Fiber.join(fiber)
        assert.deepInclude(delivery, { error: "no answer within 5s", success: false })
        assert.strictEqual((yield* sandbox.componentPushes({ componentAppId: ID }))[0].error, "no answer within 5s")
      }).pipe(Effect.provide(componentLayer([{ ...PLATFORM, pushHandler: () => Effect.never }])))
    }))

  it.scoped("over HTTP: a 500 answer, a long answer (1024 characters kept), a refused connection", () =>
    Effect.gen(function*() {
      const long = "x".repeat(5000)
      let next: { status: number; body: string } = { status: 500, body: "<html>oops</html>" }
      const { url } = yield* receiver(() => next)
      const sendTo = (pushUrl: string) =>
        Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.pushTicket({ componentAppId: ID })).pipe(
          Effect.provide(componentLayer([{ ...PLATFORM, pushUrl }]))
        )
      const failed = yield* sendTo(url)
      assert.deepInclude(failed.delivery, { status: 500, answer: "<html>oops</html>", success: false })
      next = { status: 200, body: long }
      const cut = yield* sendTo(url)
      assert.strictEqual(cut.delivery.answer, long.slice(0, 1024))
      const closed = yield* Effect.async<number>((resume) => {
        const server = Http.createServer().listen(0, "127.0.0.1", () => {
          const port = (server.address() as Net.AddressInfo).port
          server.close(() => resume(Effect.succeed(port)))
        })
      })
      const refused = yield* sendTo(`http://127.0.0.1:${closed}/push`)
      assert.deepInclude(refused.delivery, { error: "ECONNREFUSED", success: false })
      assert.isUndefined(refused.delivery.status)
    }))
})

describe("componentPush: the push built, not sent", () => {
  it.effect("takes effect without a receiver: its ticket and code work; nothing is logged", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const push = yield* sandbox.componentPush({ componentAppId: ID, infoType: "component_verify_ticket" })
      assert.strictEqual(push.url, undefined)
      assert.strictEqual(push.method, "POST")
      assert.deepStrictEqual(push.headers, { "content-type": "text/xml" })
      assert.isString((yield* tokenWith(push.message.ComponentVerifyTicket)).json.component_access_token)
      const code = yield* authorizationCode(MANAGED_OA)
      assert.isObject((yield* queryAuth(yield* componentToken(), code)).json.authorization_info)
      assert.deepStrictEqual(yield* sandbox.componentPushes({ componentAppId: ID }), [])
      const missing = yield* Effect.flip(sandbox.componentPush({ componentAppId: ID, infoType: "authorized" }))
      assert.match(missing.message, /needs the authorizer's appId/)
      const bad = yield* Effect.flip(sandbox.componentPush({ componentAppId: ID, infoType: "nope" as "authorized" }))
      assert.match(bad.message, /infoType: must be one of/)
    }).pipe(Effect.provide(componentLayer())))

  it.effect("with a pushUrl, url is the pushUrl with the query", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const push = yield* sandbox.componentPush({ componentAppId: ID, infoType: "component_verify_ticket" })
      const url = new URL(push.url!)
      assert.strictEqual(url.origin + url.pathname, "https://saas.example.com/wechat/events")
      assert.strictEqual(url.searchParams.get("x"), "1")
      assert.strictEqual(url.searchParams.get("msg_signature"), push.query.msg_signature)
      assert.strictEqual(url.hash, "")
    }).pipe(Effect.provide(componentLayer([{ ...PLATFORM, pushUrl: "https://saas.example.com/wechat/events?x=1#f" }]))))

  it.effect("forged pushes: another appid, token, key, signature, timestamp or plaintext; none takes effect", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const forged = (
        forge: Sandbox.ComponentPushForge,
        infoType: Sandbox.ComponentInfoType = "component_verify_ticket"
      ) => sandbox.componentPush({ componentAppId: ID, infoType, appId: MANAGED_OA, forge })
      const encryptOf = (push: Sandbox.ComponentPush) => /<Encrypt><!\[CDATA\[([^\]]+)\]\]>/.exec(push.body)![1]

      const wrongAppId = yield* forged({ appId: "wxsomeoneelse" })
      assert.strictEqual(independent.decrypt(encryptOf(wrongAppId)).id, "wxsomeoneelse")
      assert.include(wrongAppId.body, "<AppId><![CDATA[wxsomeoneelse]]></AppId>")
      assertErrcode(yield* tokenWith(wrongAppId.message.ComponentVerifyTicket), 61006)

      const wrongToken = yield* forged({ token: "forgerstoken" })
      const { msg_signature, nonce, timestamp } = wrongToken.query
      assert.notStrictEqual(msg_signature, independent.getSignature(timestamp, nonce, encryptOf(wrongToken)))

      const signed = yield* forged({ signature: "0".repeat(40), timestamp: 1_600_000_000, nonce: "42" })
      assert.deepInclude(signed.query, { msg_signature: "0".repeat(40), timestamp: "1600000000", nonce: "42" })
      assert.strictEqual(signed.message.CreateTime, "1600000000")

      const otherKey = yield* forged({ encodingAesKey: OTHER.encodingAesKey })
      assert.throws(() => {
        const decrypted = independent.decrypt(encryptOf(otherKey))
        if (decrypted.id !== ID) throw new Error("wrong appid")
      })

      const xml = "<!DOCTYPE x [<!ENTITY e \"e\">]><xml><AppId>&e;</AppId></xml>"
      const raw = yield* forged({ xml })
      assert.strictEqual(independent.decrypt(encryptOf(raw)).message, xml)
      assert.deepStrictEqual(raw.message, {})

      const code = (yield* forged({ nonce: "1" }, "authorized")).message.AuthorizationCode
      assertErrcode(yield* queryAuth(yield* componentToken(), code), 61009)
      yield* forged({ nonce: "1" }, "unauthorized")
      assertErrcode(
        yield* stableToken({
          grant_type: "client_credential",
          appid: MANAGED_MINI,
          secret: sandbox.apps.find((app) => app.appId === MANAGED_MINI)!.secret
        }),
        61024
      )
      assert.strictEqual((yield* sandbox.componentTokenUsage({ componentAppId: ID })).tickets, 1)
      const badKey = yield* Effect.flip(forged({ encodingAesKey: "short" }))
      assert.match(badKey.message, /forge\.encodingAesKey/)
    }).pipe(Effect.provide(componentLayer())))
})

describe("push controls over HTTP", () => {
  it.effect("/__sandbox/component/ticket, authorize, updateauthorized, unauthorize, pushes", () =>
    Effect.gen(function*() {
      const received = yield* Queue.unbounded<Sandbox.ComponentPush>()
      yield* Effect.gen(function*() {
        const post = (path: string, body: unknown) =>
          request("POST", `http://sandbox/__sandbox/component/${path}`, { json: body })
        const ticket = yield* post("ticket", { componentAppId: ID })
        assert.strictEqual(ticket.status, 200)
        assert.deepInclude(ticket.json.delivery, { success: true, answer: "success" })
        assert.isString(ticket.json.push.message.ComponentVerifyTicket)
        const authorized = yield* post("authorize", { componentAppId: ID, appId: MINI.appId })
        assert.strictEqual(authorized.json.push.message.InfoType, "authorized")
        assert.strictEqual(
          (yield* post("updateauthorized", { componentAppId: ID, appId: MINI.appId })).json.push.infoType,
          "updateauthorized"
        )
        assert.strictEqual(
          (yield* post("unauthorize", { componentAppId: ID, appId: MINI.appId })).json.push.infoType,
          "unauthorized"
        )
        const refused = yield* post("unauthorize", { componentAppId: ID, appId: MINI.appId })
        assert.strictEqual(refused.status, 400)
        assert.match(refused.json.error, /has not authorized/)
        assert.strictEqual((yield* post("ticket", {})).status, 400)
        const pushes = yield* request("GET", "http://sandbox/__sandbox/component/pushes", {
          params: { componentAppId: ID }
        })
        assert.deepStrictEqual(pushes.json.pushes.map((record: Sandbox.ComponentPushRecord) => record.infoType), [
          "component_verify_ticket",
          "authorized",
          "updateauthorized",
          "unauthorized"
        ])
        assert.strictEqual(yield* Queue.size(received), 4)
        const config = yield* request("GET", "http://sandbox/__sandbox/config")
        assert.deepInclude(config.json.components[0], { inProcessReceiver: true, pushInterval: false })
      }).pipe(Effect.provide(handlerLayer(received)))
    }))
})
