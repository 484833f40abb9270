/**
 * The authorization-event URL. Pushes made by independent implementations (npm's wechat-crypto,
 * the sandbox's own WXBizMsgCrypt) are accepted; forged, misaddressed, old, replayed and hostile
 * ones are refused with a typed `InvalidPush`, never a defect. The handlers (`makeHttpApp` over a
 * real socket and in process, `makePushHandler`) answer WeChat's `success`.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import { assert, describe, it } from "@effect/vitest"
import { AppTokenStore, Component, TokenStore } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Http from "node:http"
import { createRequire } from "node:module"
import * as Net from "node:net"
import {
  ComponentLive,
  deliver,
  managedOfficial,
  platform,
  pushRequest,
  runApp,
  SandboxLive,
  usage
} from "./componentFixtures.js"

const require = createRequire(import.meta.url)
interface WXBizMsgCrypt {
  encrypt(text: string): string
  getSignature(timestamp: string, nonce: string, encrypt: string): string
}
const WXBizMsgCrypt: new(token: string, encodingAesKey: string, id: string) => WXBizMsgCrypt = require(
  "wechat-crypto"
)

const reference = new WXBizMsgCrypt(platform.token, platform.encodingAesKey, platform.componentAppId)

/** 2023-11-14: pushes carry a real-looking time. */
const start = 1_700_000_000_000

const nowSeconds = Effect.map(TestClock.currentTimeMillis, (ms) => Math.floor(ms / 1000))

const ticketXml = (createTime: number, ticket = "ticket@@@reference-vector") =>
  `<xml><AppId><![CDATA[${platform.componentAppId}]]></AppId><CreateTime>${createTime}</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[${ticket}]]></ComponentVerifyTicket></xml>`

/** WeChat's fast-registration result (pushed to the authorization-event URL): flat fields and a nested `<info>`. */
const fastRegisterXml = (
  createTime: number,
  info =
    `<info><name><![CDATA[corp]]></name><code><![CDATA[123]]></code><code_type>1</code_type><legal_persona_wechat><![CDATA[x]]></legal_persona_wechat><legal_persona_name><![CDATA[y]]></legal_persona_name><component_phone><![CDATA[1234]]></component_phone></info>`
) =>
  `<xml><AppId><![CDATA[${platform.componentAppId}]]></AppId><CreateTime>${createTime}</CreateTime><InfoType><![CDATA[notify_third_fasteregister]]></InfoType><appid><![CDATA[wxnewmini0001]]></appid><status>0</status><auth_code><![CDATA[abc]]></auth_code><msg><![CDATA[OK]]></msg>${info}</xml>`

/** The sandbox's push telling the platform that managedOfficial authorized it. */
const authorizedPush = Effect.flatMap(Sandbox.Sandbox, (sandbox) =>
  sandbox.componentPush({
    componentAppId: platform.componentAppId,
    infoType: "authorized",
    appId: managedOfficial
  }))

/** An onEvent that records the tag of each event it is given, in order, in `reactions`. */
const recordingReactions = () => {
  const reactions: Array<string> = []
  const onEvent = (event: Component.PushEvent) => Effect.sync(() => void reactions.push(event._tag))
  return { onEvent, reactions }
}

/** A push of `encrypted`, signed by wechat-crypto with `signer`'s token. */
const signedPush = (
  encrypted: string,
  timestamp: number,
  options?: { readonly signer?: WXBizMsgCrypt; readonly nonce?: string; readonly body?: string }
): Component.PushRequest => {
  const nonce = options?.nonce ?? "1320562132"
  const signer = options?.signer ?? reference
  return {
    query: {
      signature: "ignored",
      timestamp: String(timestamp),
      nonce,
      encrypt_type: "aes",
      msg_signature: signer.getSignature(String(timestamp), nonce, encrypted)
    },
    body: options?.body ??
      `<xml><AppId><![CDATA[${platform.componentAppId}]]></AppId><Encrypt><![CDATA[${encrypted}]]></Encrypt></xml>`
  }
}

/** `plaintext` (raw bytes, PKCS#7-padded to 32 as WeChat does) encrypted with the platform's key, by node:crypto directly. */
const rawEncrypt = (plaintext: Buffer, padding: "pkcs7" | "none" = "pkcs7"): string => {
  const key = Buffer.from(`${platform.encodingAesKey}=`, "base64")
  const pad = 32 - (plaintext.length % 32)
  const padded = padding === "pkcs7" ? Buffer.concat([plaintext, Buffer.alloc(pad, pad)]) : plaintext
  const cipher = Crypto.createCipheriv("aes-256-cbc", key, key.subarray(0, 16))
  cipher.setAutoPadding(false)
  return Buffer.concat([cipher.update(padded), cipher.final()]).toString("base64")
}

const layout = (message: string, lengthField: number, appId: string = platform.componentAppId) => {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(lengthField >>> 0)
  return Buffer.concat([Crypto.randomBytes(16), length, Buffer.from(message), Buffer.from(appId)])
}

const refusal = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    assert.isTrue(Exit.isFailure(exit), "refused")
    if (Exit.isSuccess(exit)) return undefined as never
    assert.isFalse(exit.cause._tag === "Die", "never a defect")
    const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
    return failure as { readonly _tag: string; readonly reason?: string; readonly argument?: string }
  })

const Live = ComponentLive()

describe("Component.acceptPush: pushes from independent implementations", () => {
  it.effect("a ticket push encrypted and signed by wechat-crypto is accepted; its ticket is returned", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const now = yield* nowSeconds
      const event = yield* component.acceptPush(signedPush(reference.encrypt(ticketXml(now)), now))
      assert.deepInclude(event, {
        _tag: "ComponentVerifyTicket",
        componentAppId: platform.componentAppId,
        createTime: now
      })
      if (event._tag === "ComponentVerifyTicket") {
        assert.strictEqual(Redacted.value(event.ticket), "ticket@@@reference-vector")
      }
    }).pipe(Effect.provide(Live)))

  it.effect("the sandbox's pushes (ticket, authorized, updateauthorized, unauthorized) are understood", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const ticket = yield* deliver("component_verify_ticket")
      assert.strictEqual(ticket.event._tag, "ComponentVerifyTicket")
      if (ticket.event._tag === "ComponentVerifyTicket") {
        assert.strictEqual(Redacted.value(ticket.event.ticket), ticket.push.message.ComponentVerifyTicket)
      }
      for (const infoType of ["authorized", "updateauthorized"] as const) {
        const { event, push } = yield* deliver(infoType, managedOfficial)
        assert.strictEqual(event._tag, infoType === "authorized" ? "Authorized" : "UpdateAuthorized")
        if (event._tag === "Authorized" || event._tag === "UpdateAuthorized") {
          assert.strictEqual(event.authorizerAppId, managedOfficial)
          assert.strictEqual(Redacted.value(event.authorizationCode), push.message.AuthorizationCode)
          assert.strictEqual(event.authorizationCodeExpiredTime, Number(push.message.AuthorizationCodeExpiredTime))
          assert.strictEqual(event.createTime, Number(push.message.CreateTime))
        }
      }
      const gone = yield* deliver("unauthorized", managedOfficial)
      assert.deepInclude(gone.event, { _tag: "Unauthorized", authorizerAppId: managedOfficial })
      assert.isTrue(Component.PushEvent.$is("Unauthorized")(gone.event))
    }).pipe(Effect.provide(Live)))

  it.effect("the query may be URLSearchParams, a query string, a URL or an object; the body text or bytes", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const sandbox = yield* Sandbox.Sandbox
      const component = yield* Component.Component
      const forms = [
        (q: Record<string, string>) => new URLSearchParams(q),
        (q: Record<string, string>) => new URLSearchParams(q).toString(),
        (q: Record<string, string>) => `https://platform.example.com/wechat/push?${new URLSearchParams(q)}`,
        (q: Record<string, string>) => q
      ]
      for (const form of forms) {
        for (const bytes of [false, true]) {
          const push = yield* sandbox.componentPush({
            componentAppId: platform.componentAppId,
            infoType: "component_verify_ticket"
          })
          const event = yield* component.acceptPush({
            query: form(push.query),
            body: bytes ? new TextEncoder().encode(push.body) : push.body
          })
          assert.strictEqual(event._tag, "ComponentVerifyTicket")
        }
      }
    }).pipe(Effect.provide(Live)))

  it.effect("an InfoType WeChat has but this library does not interpret is Unrecognized, not an error", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const now = yield* nowSeconds
      const xml =
        `<xml><AppId><![CDATA[${platform.componentAppId}]]></AppId><CreateTime>${now}</CreateTime><InfoType><![CDATA[notify_third_fasteregister]]></InfoType><status>0</status></xml>`
      const event = yield* component.acceptPush(signedPush(reference.encrypt(xml), now))
      assert.deepInclude(event, { _tag: "Unrecognized", infoType: "notify_third_fasteregister", createTime: now })
    }).pipe(Effect.provide(Live)))

  it.effect("a push whose message nests elements (notify_third_fasteregister's <info>) is Unrecognized", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const now = yield* nowSeconds
      const { onEvent, reactions } = recordingReactions()
      const deep = (levels: number) => `${"<a>".repeat(levels)}x${"</a>".repeat(levels)}`
      const variants = [
        fastRegisterXml(now),
        // self-closing, mixed content, CDATA and entities inside the subtree, a list of repeated children
        fastRegisterXml(now, `<info><name>a &amp; b<![CDATA[<c>]]><empty/></name><k>1</k><k>2</k></info>`),
        fastRegisterXml(now, `<empty/><info>\n  <name>corp</name>\n</info>`),
        // 8 levels below the root, the most a subtree may have
        fastRegisterXml(now, `<info>${deep(7)}</info>`)
      ]
      for (const [index, xml] of variants.entries()) {
        const event = yield* component.acceptPush(
          signedPush(reference.encrypt(xml), now, { nonce: `nested${index}` }),
          onEvent
        )
        assert.deepInclude(event, {
          _tag: "Unrecognized",
          componentAppId: platform.componentAppId,
          infoType: "notify_third_fasteregister",
          createTime: now
        }, `variant ${index}`)
      }
      assert.deepStrictEqual(reactions, variants.map(() => "Unrecognized"))
    }).pipe(Effect.provide(Live)))
})

describe("Component.acceptPush: what is refused", () => {
  it.effect("a forged signature (another token, tampered, not hex, missing) is refused before decryption", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const sandbox = yield* Sandbox.Sandbox
      const now = yield* nowSeconds
      const encrypted = reference.encrypt(ticketXml(now))
      const forger = new WXBizMsgCrypt("anothertoken", platform.encodingAesKey, platform.componentAppId)
      const forged = yield* refusal(component.acceptPush(signedPush(encrypted, now, { signer: forger })))
      assert.deepInclude(forged, { _tag: "InvalidPush", reason: "BadSignature" })
      const good = signedPush(encrypted, now) as { query: Record<string, string>; body: string }
      const flipped = good.query.msg_signature.replace(/^./, (c) => (c === "0" ? "1" : "0"))
      for (const msg_signature of [flipped, "not-hex", good.query.msg_signature.slice(0, 39), ""]) {
        const error = yield* refusal(component.acceptPush({ query: { ...good.query, msg_signature }, body: good.body }))
        assert.deepInclude(error, { _tag: "InvalidPush", reason: "BadSignature" }, msg_signature)
      }
      // the signature covers the timestamp and nonce
      const moved = yield* refusal(
        component.acceptPush({ query: { ...good.query, nonce: "999" }, body: good.body })
      )
      assert.deepInclude(moved, { _tag: "InvalidPush", reason: "BadSignature" })
      const { msg_signature: _, ...unsigned } = good.query
      assert.deepInclude(yield* refusal(component.acceptPush({ query: unsigned, body: good.body })), {
        reason: "Malformed"
      })
      // the sandbox's forger: another token
      const push = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket",
        forge: { token: "forgerstoken" }
      })
      assert.deepInclude(yield* refusal(component.acceptPush({ query: push.query, body: push.body })), {
        reason: "BadSignature"
      })
    }).pipe(Effect.provide(Live)))

  it.effect("a push for another platform (trailing appid, envelope, message AppId) is refused", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const sandbox = yield* Sandbox.Sandbox
      const now = yield* nowSeconds
      const other = new WXBizMsgCrypt(platform.token, platform.encodingAesKey, "wxcomponent0000002")
      const trailing = yield* refusal(component.acceptPush(signedPush(other.encrypt(ticketXml(now)), now)))
      assert.deepInclude(trailing, { _tag: "InvalidPush", reason: "WrongAppId" })
      const encrypted = reference.encrypt(ticketXml(now))
      const envelope = yield* refusal(component.acceptPush(signedPush(encrypted, now, {
        body: `<xml><AppId><![CDATA[wxcomponent0000002]]></AppId><Encrypt><![CDATA[${encrypted}]]></Encrypt></xml>`
      })))
      assert.deepInclude(envelope, { reason: "WrongAppId" })
      const inner = yield* refusal(component.acceptPush(
        signedPush(reference.encrypt(ticketXml(now).replace(platform.componentAppId, "wxcomponent0000002")), now)
      ))
      assert.deepInclude(inner, { reason: "WrongAppId" })
      const forged = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket",
        forge: { appId: "wxcomponent0000009" }
      })
      assert.deepInclude(yield* refusal(component.acceptPush({ query: forged.query, body: forged.body })), {
        reason: "WrongAppId"
      })
    }).pipe(Effect.provide(Live)))

  it.effect("a push older (or further ahead) than 5 minutes by the Clock is refused", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const now = yield* nowSeconds
      const fresh = signedPush(reference.encrypt(ticketXml(now)), now, { nonce: "1" })
      const later = signedPush(reference.encrypt(ticketXml(now)), now, { nonce: "2" })
      const ahead = signedPush(reference.encrypt(ticketXml(now)), now + 301, { nonce: "3" })
      assert.deepInclude(yield* refusal(component.acceptPush(ahead)), { reason: "Stale" })
      yield* TestClock.adjust("4 minutes")
      assert.strictEqual((yield* component.acceptPush(fresh))._tag, "ComponentVerifyTicket")
      yield* TestClock.adjust("61 seconds")
      assert.deepInclude(yield* refusal(component.acceptPush(later)), { _tag: "InvalidPush", reason: "Stale" })
    }).pipe(Effect.provide(Live)))

  it.effect("a replayed push is not processed again: Duplicate, its reaction not run; concurrent copies PushInProgress", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const sandbox = yield* Sandbox.Sandbox
      const push = yield* authorizedPush
      const { onEvent, reactions } = recordingReactions()
      const first = yield* component.acceptPush({ query: push.query, body: push.body }, onEvent)
      assert.strictEqual(first._tag, "Authorized")
      const again = yield* component.acceptPush({ query: push.query, body: push.body }, onEvent)
      assert.strictEqual(again._tag, "Duplicate")
      assert.deepStrictEqual(reactions, ["Authorized"])
      // after the memo's life the replay is too old to be processed
      yield* TestClock.adjust("6 minutes")
      assert.deepInclude(yield* refusal(component.acceptPush({ query: push.query, body: push.body }, onEvent)), {
        reason: "Stale"
      })
      // 50 copies at once: one is processed; a copy that came while it was in hand is not a success
      // (PushInProgress: WeChat pushes it again), one that came after it is a Duplicate
      const ticket = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket"
      })
      const results = yield* Effect.all(
        Array.from(
          { length: 50 },
          () => Effect.either(component.acceptPush({ query: ticket.query, body: ticket.body }, onEvent))
        ),
        { concurrency: "unbounded" }
      )
      const outcomes = results.map((result) => Either.isRight(result) ? result.right._tag : result.left._tag)
      assert.strictEqual(outcomes.filter((tag) => tag === "ComponentVerifyTicket").length, 1)
      assert.strictEqual(outcomes.filter((tag) => tag === "Duplicate" || tag === "PushInProgress").length, 49)
      assert.isAbove(outcomes.filter((tag) => tag === "PushInProgress").length, 0)
      assert.deepStrictEqual(reactions, ["Authorized", "ComponentVerifyTicket"])
    }).pipe(Effect.provide(Live)))

  it.effect("a replay whose timestamp and nonce are cut elsewhere (the same msg_signature) is a Duplicate", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const now = yield* nowSeconds
      const { onEvent, reactions } = recordingReactions()
      // msg_signature is sha1 of the sorted parts joined: "0123450" + "<now>" and "012345" + "0<now>"
      // are the same text, so the same signature; "0<now>" is the same time. The ciphertext is random
      // base64: one that sorts between the two parts (it starts with a digit) would split them, so
      // the test takes one that does not
      let encrypted = reference.encrypt(ticketXml(now))
      for (let tries = 0; tries < 100 && /^[0-9]/.test(encrypted); tries++) {
        encrypted = reference.encrypt(ticketXml(now))
      }
      const push = signedPush(encrypted, now, { nonce: "0123450" })
      const signature = reference.getSignature(String(now), "0123450", encrypted)
      assert.strictEqual(
        reference.getSignature(`0${now}`, "012345", encrypted),
        signature,
        "the shifted parts sign alike"
      )
      const shifted = {
        query: { timestamp: `0${now}`, nonce: "012345", encrypt_type: "aes", msg_signature: signature },
        body: push.body
      }
      assert.strictEqual((yield* component.acceptPush(push, onEvent))._tag, "ComponentVerifyTicket")
      // before: processed again ('ComponentVerifyTicket'), its onEvent run twice
      assert.strictEqual((yield* component.acceptPush(shifted, onEvent))._tag, "Duplicate")
      assert.strictEqual(reactions.length, 1)
    }).pipe(Effect.provide(Live)))

  it.effect("a replay at exactly pushMaxAge (and 1 ms either side) is a Duplicate or Stale, never processed again", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const now = yield* nowSeconds
      const maxAge = 5 * 60_000
      const xml =
        `<xml><AppId><![CDATA[${platform.componentAppId}]]></AppId><CreateTime>${now}</CreateTime><InfoType><![CDATA[unauthorized]]></InfoType><AuthorizerAppid><![CDATA[${managedOfficial}]]></AuthorizerAppid></xml>`
      const push = signedPush(reference.encrypt(xml), now, { nonce: "boundary" })
      let reactions = 0
      const onEvent = () => Effect.sync(() => void reactions++)
      assert.strictEqual((yield* component.acceptPush(push, onEvent))._tag, "Unauthorized")
      for (const offset of [maxAge - 1, maxAge]) {
        yield* TestClock.setTime(now * 1000 + offset)
        assert.strictEqual((yield* component.acceptPush(push, onEvent))._tag, "Duplicate", `at +${offset} ms`)
      }
      yield* TestClock.setTime(now * 1000 + maxAge + 1)
      assert.deepInclude(yield* refusal(component.acceptPush(push, onEvent)), { reason: "Stale" })
      assert.strictEqual(reactions, 1)
      // a push stamped pushMaxAge ahead of the clock: accepted, then remembered until its own edge
      const aheadAt = now + 600
      yield* TestClock.setTime((aheadAt - 300) * 1000)
      const ahead = signedPush(reference.encrypt(xml.replace(`${now}`, `${aheadAt - 300}`)), aheadAt, {
        nonce: "ahead"
      })
      assert.strictEqual((yield* component.acceptPush(ahead, onEvent))._tag, "Unauthorized")
      for (const offset of [maxAge - 1, maxAge]) {
        yield* TestClock.setTime(aheadAt * 1000 + offset)
        assert.strictEqual((yield* component.acceptPush(ahead, onEvent))._tag, "Duplicate", `ahead, at +${offset} ms`)
      }
      yield* TestClock.setTime(aheadAt * 1000 + maxAge + 1)
      assert.deepInclude(yield* refusal(component.acceptPush(ahead, onEvent)), { reason: "Stale" })
      assert.strictEqual(reactions, 2)
    }).pipe(Effect.provide(Live)))

  it.effect("the replay check is per process, as documented: another process sharing the store processes it", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const one = yield* Component.Component
      const other = yield* Component.make // a second process: the same config and (shared) stores
      const push = yield* authorizedPush
      const { onEvent, reactions } = recordingReactions()
      const request = { query: push.query, body: push.body }
      assert.strictEqual((yield* one.acceptPush(request, onEvent))._tag, "Authorized")
      assert.strictEqual((yield* one.acceptPush(request, onEvent))._tag, "Duplicate")
      assert.strictEqual((yield* other.acceptPush(request, onEvent))._tag, "Authorized")
      assert.deepStrictEqual(reactions, ["Authorized", "Authorized"])
      // which the README and acceptPush's documentation say, and that onEvent must be idempotent
      const readme = (yield* Effect.promise(() => Fs.readFile(new URL("../README.md", import.meta.url), "utf8")))
        .replace(/\s+/g, " ")
      const docs = (yield* Effect.promise(() => Fs.readFile(new URL("../src/Component.ts", import.meta.url), "utf8")))
        .replace(/\s*\n\s*\*\s*/g, " ")
      for (const [name, text] of [["README", readme], ["Component.ts", docs]] as const) {
        assert.include(text, "The replay check is per process", name)
        assert.include(text, "idempotent", name)
      }
    }).pipe(Effect.scoped, Effect.provide(Live)))

  it.effect("a push whose reaction failed is not remembered: WeChat's retry is processed", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const { push } = yield* Effect.map(
        Sandbox.Sandbox,
        (sandbox) => sandbox
      ).pipe(Effect.flatMap((sandbox) =>
        Effect.map(
          sandbox.componentPush({ componentAppId: platform.componentAppId, infoType: "component_verify_ticket" }),
          (push) => ({ push })
        )
      ))
      let calls = 0
      const flaky = () => Effect.suspend(() => ++calls === 1 ? Effect.fail("database down" as const) : Effect.void)
      const failed = yield* Effect.flip(component.acceptPush({ query: push.query, body: push.body }, flaky))
      assert.strictEqual(failed, "database down")
      const retried = yield* component.acceptPush({ query: push.query, body: push.body }, flaky)
      assert.strictEqual(retried._tag, "ComponentVerifyTicket")
      assert.strictEqual(calls, 2)
    }).pipe(Effect.provide(Live)))

  it.effect("an onEvent that throws is InvalidArgument onEvent, not a defect; WeChat's retry is processed", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const sandbox = yield* Sandbox.Sandbox
      const push = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket"
      })
      const throwing = (): Effect.Effect<void> => {
        throw new Error("app bug")
      }
      // before: a defect ('Error: app bug'), where a non-Effect answer was already InvalidArgument
      assert.deepInclude(yield* refusal(component.acceptPush({ query: push.query, body: push.body }, throwing)), {
        _tag: "InvalidArgument",
        argument: "onEvent"
      })
      const { onEvent, reactions } = recordingReactions()
      const retried = yield* component.acceptPush({ query: push.query, body: push.body }, onEvent)
      assert.strictEqual(retried._tag, "ComponentVerifyTicket")
      assert.deepStrictEqual(reactions, ["ComponentVerifyTicket"])
    }).pipe(Effect.provide(Live)))

  it.effect("hostile bodies end in a typed InvalidPush: size, XML tricks, base64, padding, length", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const sandbox = yield* Sandbox.Sandbox
      const now = yield* nowSeconds
      const accept = (request: Component.PushRequest) => refusal(component.acceptPush(request))
      const expectations: Array<readonly [string, Component.PushRequest, string]> = []
      const outer = (body: string) => signedPush("AAAA", now, { body })
      const valid = reference.encrypt(ticketXml(now))
      const envelope = (inner: string) => `<xml><AppId><![CDATA[${platform.componentAppId}]]></AppId>${inner}</xml>`
      // the envelope
      expectations.push(
        ["65 KiB body", outer(`<xml><Encrypt><![CDATA[${"A".repeat(66_000)}]]></Encrypt></xml>`), "TooLarge"],
        ["1 MiB of bytes", { ...outer(""), body: new Uint8Array(1024 * 1024) }, "TooLarge"],
        ["not UTF-8", { ...outer(""), body: new Uint8Array([0x3c, 0xff, 0xfe, 0x3e]) }, "Malformed"],
        ["DOCTYPE", outer(`<!DOCTYPE xml [<!ENTITY a "b">]><xml><Encrypt>&a;</Encrypt></xml>`), "Malformed"],
        [
          "billion laughs",
          outer(
            `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><xml><Encrypt>&lol2;</Encrypt></xml>`
          ),
          "Malformed"
        ],
        ["an undeclared entity", outer(envelope(`<Encrypt>&xxe;</Encrypt>`)), "Malformed"],
        ["nested", outer(envelope(`<Encrypt><Encrypt>${valid}</Encrypt></Encrypt>`)), "Malformed"],
        [
          "envelope with a nested element",
          outer(envelope(`<Encrypt>${valid}</Encrypt><info><a>b</a></info>`)),
          "Malformed"
        ],
        ["envelope self-closing", outer(envelope(`<Encrypt>${valid}</Encrypt><info/>`)), "Malformed"],
        ["5,000 deep", outer(`${"<xml>".repeat(5000)}${"</xml>".repeat(5000)}`), "Malformed"],
        ["attributes", outer(envelope(`<Encrypt type="x"><![CDATA[${valid}]]></Encrypt>`)), "Malformed"],
        ["comment", outer(envelope(`<!-- hi --><Encrypt><![CDATA[${valid}]]></Encrypt>`)), "Malformed"],
        ["repeated field", outer(envelope(`<Encrypt>a</Encrypt><Encrypt>b</Encrypt>`)), "Malformed"],
        [
          "100 fields",
          outer(envelope(Array.from({ length: 100 }, (_, i) => `<F${i}>x</F${i}>`).join(""))),
          "Malformed"
        ],
        ["unclosed CDATA", outer(envelope(`<Encrypt><![CDATA[${valid}</Encrypt>`)), "Malformed"],
        ["text after the root", outer(`${envelope(`<Encrypt>${valid}</Encrypt>`)}<x/>`), "Malformed"],
        ["no Encrypt", outer(envelope("")), "Malformed"],
        ["JSON", outer(JSON.stringify({ Encrypt: valid })), "Malformed"]
      )
      // the ciphertext, signed with the right token so that only decryption can refuse it
      const key = Crypto.randomBytes(32).toString("base64").slice(0, 43)
      const otherKey = new WXBizMsgCrypt(platform.token, key, platform.componentAppId)
      expectations.push(
        ["bad base64", signedPush("!!!!not*base64", now), "BadBase64"],
        ["base64 without padding", signedPush(valid.replace(/=+$/, ""), now), valid.endsWith("=") ? "BadBase64" : "ok"],
        ["one block of 16 bytes", signedPush(Crypto.randomBytes(16).toString("base64"), now), "BadPadding"],
        [
          "pad byte 0",
          signedPush(rawEncrypt(Buffer.concat([Crypto.randomBytes(63), Buffer.from([0])]), "none"), now),
          "BadPadding"
        ],
        [
          "pad byte 33",
          signedPush(rawEncrypt(Buffer.concat([Crypto.randomBytes(63), Buffer.from([33])]), "none"), now),
          "BadPadding"
        ],
        [
          "inconsistent padding",
          signedPush(rawEncrypt(Buffer.concat([Crypto.randomBytes(60), Buffer.from([1, 2, 9, 4])]), "none"), now),
          "BadPadding"
        ],
        [
          "length past the end",
          signedPush(rawEncrypt(layout(ticketXml(now), 0xfffffff0)), now),
          "BadLength"
        ],
        ["length one too long", signedPush(rawEncrypt(layout("<xml></xml>", 12 + 18 + 1)), now), "BadLength"],
        ["shorter than the header", signedPush(rawEncrypt(Crypto.randomBytes(10)), now), "BadLength"],
        ["another EncodingAESKey", signedPush(otherKey.encrypt(ticketXml(now)), now), "another key"]
      )
      // the message inside, encrypted by wechat-crypto
      const inner = (xml: string): Component.PushRequest => signedPush(reference.encrypt(xml), now)
      const fields = `<AppId><![CDATA[${platform.componentAppId}]]></AppId><CreateTime>${now}</CreateTime>`
      expectations.push(
        [
          "message DOCTYPE",
          inner(`<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml>${fields}</xml>`),
          "Malformed"
        ],
        ["message entity", inner(`<xml>${fields}<InfoType>&e;</InfoType></xml>`), "Malformed"],
        ["message nested", inner(`<xml>${fields}<InfoType><a>b</a></InfoType></xml>`), "Malformed"],
        // a message's nested element is skipped only when well-formed, plain and at most 8 deep
        ["nested, unclosed", inner(fastRegisterXml(now, `<info><name>corp</name>`)), "Malformed"],
        ["nested, child unclosed", inner(fastRegisterXml(now, `<info><name>corp</info>`)), "Malformed"],
        ["nested, mismatched", inner(fastRegisterXml(now, `<info><name>corp</code></info>`)), "Malformed"],
        ["nested, closed by another", inner(fastRegisterXml(now, `<info><name>corp</name></infos>`)), "Malformed"],
        [
          "nested, 9 deep",
          inner(fastRegisterXml(now, `<info>${"<a>".repeat(8)}x${"</a>".repeat(8)}</info>`)),
          "Malformed"
        ],
        [
          "nested, 5,000 deep",
          inner(fastRegisterXml(now, `<info>${"<a>".repeat(5000)}${"</a>".repeat(5000)}</info>`)),
          "Malformed"
        ],
        ["nested, attribute", inner(fastRegisterXml(now, `<info><name type="x">corp</name></info>`)), "Malformed"],
        ["nested, comment", inner(fastRegisterXml(now, `<info><!-- x --><name>corp</name></info>`)), "Malformed"],
        ["nested, entity", inner(fastRegisterXml(now, `<info><name>&xxe;</name></info>`)), "Malformed"],
        ["nested, CDATA unclosed", inner(fastRegisterXml(now, `<info><name><![CDATA[corp</name></info>`)), "Malformed"],
        ["nested, repeats a field", inner(fastRegisterXml(now, `<status><a>1</a></status>`)), "Malformed"],
        [
          "nested, 65 elements",
          inner(
            fastRegisterXml(now, `<info>${Array.from({ length: 60 }, (_, i) => `<f${i}>x</f${i}>`).join("")}</info>`)
          ),
          "Malformed"
        ],
        ["nested, text after the root", inner(`${fastRegisterXml(now)}<info/>`), "Malformed"],
        [
          "nested ticket",
          inner(ticketXml(now).replace("<![CDATA[ticket@@@reference-vector]]>", "<a>t</a>")),
          "Malformed"
        ],
        ["no InfoType", inner(`<xml>${fields}</xml>`), "Malformed"],
        ["CreateTime not a number", inner(ticketXml(now).replace(`${now}`, "soon")), "Malformed"],
        [
          "a ticket that is not printable",
          inner(ticketXml(now).replace("ticket@@@reference-vector", "a ticket with spaces")),
          "Malformed"
        ],
        [
          "authorized without code",
          inner(
            `<xml>${fields}<InfoType>authorized</InfoType><AuthorizerAppid>${managedOfficial}</AuthorizerAppid></xml>`
          ),
          "Malformed"
        ]
      )
      // the sandbox's forger: raw plaintext XML with a DOCTYPE
      const doctype = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket",
        forge: { xml: `<!DOCTYPE xml [<!ENTITY x "y">]><xml><AppId>&x;</AppId></xml>` }
      })
      expectations.push(["sandbox DOCTYPE", { query: doctype.query, body: doctype.body }, "Malformed"])
      for (const [name, request, reason] of expectations) {
        if (reason === "ok") continue
        const error = yield* accept(request)
        assert.strictEqual(error?._tag, "InvalidPush", name)
        if (reason === "another key") {
          assert.include(["BadPadding", "BadLength", "WrongAppId", "Malformed"], error.reason, name)
        } else assert.strictEqual(error.reason, reason, name)
        for (const text of [String(error), JSON.stringify(error)]) {
          assert.notInclude(text, platform.encodingAesKey, name)
          assert.notInclude(text, platform.token, name)
          assert.notInclude(text, "ticket@@@reference-vector", name)
        }
      }
      // none of them stored a ticket: the platform still has none
      const missing = yield* Effect.flip(component.accessToken)
      assert.strictEqual(missing._tag, "ComponentTicketMissing")
      assert.strictEqual((yield* usage).calls.api_component_token, 0)
    }).pipe(Effect.provide(Live)))

  it.effect("a request that is not { query, body } is an InvalidArgument naming it", () =>
    Effect.gen(function*() {
      const component = yield* Component.Component
      const cases: ReadonlyArray<readonly [unknown, unknown, string]> = [
        [undefined, undefined, "request"],
        [null, undefined, "request"],
        [{ query: 42, body: "" }, undefined, "request.query"],
        [{ query: {}, body: 42 }, undefined, "request.body"],
        [{ query: {}, body: "" }, 42, "onEvent"]
      ]
      for (const [request, onEvent, argument] of cases) {
        const error = yield* refusal(component.acceptPush(request as Component.PushRequest, onEvent as undefined))
        assert.deepInclude(error, { _tag: "InvalidArgument", argument })
      }
      const array = yield* refusal(component.acceptPush({
        query: { timestamp: ["1", "2"], nonce: "1", msg_signature: "a" },
        body: "<xml></xml>"
      }))
      assert.deepInclude(array, { _tag: "InvalidPush", reason: "Malformed" })
    }).pipe(Effect.provide(Live)))
})

describe("Component.makeHttpApp and makePushHandler", () => {
  it.effect("the HttpApp answers success, Duplicate included; 400 for a forged push, 413, 405", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const sandbox = yield* Sandbox.Sandbox
      const seen: Array<string> = []
      const app = yield* Component.makeHttpApp({ onEvent: (event) => Effect.sync(() => void seen.push(event._tag)) })
      const push = yield* authorizedPush
      assert.deepStrictEqual(yield* runApp(app, pushRequest(push)), { status: 200, text: "success" })
      assert.deepStrictEqual(yield* runApp(app, pushRequest(push)), { status: 200, text: "success" })
      assert.deepStrictEqual(seen, ["Authorized"])
      const forged = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket",
        forge: { token: "forgerstoken" }
      })
      assert.strictEqual((yield* runApp(app, pushRequest(forged))).status, 400)
      const huge = pushRequest(push, { body: "x".repeat(70_000) })
      assert.strictEqual((yield* runApp(app, huge)).status, 413)
      const get = new Request("https://platform.example.com/wechat/push", { method: "GET" })
      assert.strictEqual((yield* runApp(app, get)).status, 405)
      const bad = yield* Effect.flip(Component.makeHttpApp({ onEvent: 42 as never }))
      assert.deepInclude(bad, { _op: "InvalidData", path: ["onEvent"] })
    }).pipe(Effect.provide(Live)))

  it.effect("the HttpApp answers success to a signed push whose message nests elements; 400 when it is malformed", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const now = yield* nowSeconds
      const seen: Array<string> = []
      const app = yield* Component.makeHttpApp({ onEvent: (event) => Effect.sync(() => void seen.push(event._tag)) })
      const post = (push: Component.PushRequest) =>
        runApp(app, pushRequest(push as { query: Record<string, string>; body: string }))
      const nested = signedPush(reference.encrypt(fastRegisterXml(now)), now, { nonce: "http1" })
      assert.deepStrictEqual(yield* post(nested), { status: 200, text: "success" })
      assert.deepStrictEqual(yield* post(nested), { status: 200, text: "success" })
      assert.deepStrictEqual(seen, ["Unrecognized"])
      const unclosed = signedPush(reference.encrypt(fastRegisterXml(now, "<info><name>corp</name>")), now, {
        nonce: "http2"
      })
      assert.strictEqual((yield* post(unclosed)).status, 400)
      assert.deepStrictEqual(seen, ["Unrecognized"])
    }).pipe(Effect.provide(Live)))

  it.effect("a failing onEvent is a 500 and WeChat's retry is processed", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const sandbox = yield* Sandbox.Sandbox
      let calls = 0
      const app = yield* Component.makeHttpApp({
        onEvent: () => Effect.suspend(() => ++calls === 1 ? Effect.fail("no database") : Effect.void)
      })
      const push = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket"
      })
      assert.deepStrictEqual(yield* runApp(app, pushRequest(push)), { status: 500, text: "try again" })
      assert.deepStrictEqual(yield* runApp(app, pushRequest(push)), { status: 200, text: "success" })
      assert.strictEqual(calls, 2)
    }).pipe(Effect.provide(Live)))

  it.effect("an onEvent that throws at once: makeHttpApp answers 500, makePushHandler rejects with the throw", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const sandbox = yield* Sandbox.Sandbox
      let calls = 0
      const react = (): Effect.Effect<void> => {
        if (++calls === 1) throw new Error("app bug")
        return Effect.void
      }
      const app = yield* Component.makeHttpApp({ onEvent: react })
      const push = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket"
      })
      assert.deepStrictEqual(yield* runApp(app, pushRequest(push)), { status: 500, text: "try again" })
      assert.deepStrictEqual(yield* runApp(app, pushRequest(push)), { status: 200, text: "success" })
      assert.strictEqual(calls, 2)
      let handled = 0
      const handler = yield* Component.makePushHandler({
        onEvent: () => {
          if (++handled === 1) throw new Error("the app's own throw")
        }
      })
      const ticket = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket"
      })
      const own = yield* Effect.promise(() =>
        handler({ query: ticket.query, body: ticket.body }).then(() => undefined, (e) => e)
      )
      assert.strictEqual((own as Error).message, "the app's own throw")
      assert.strictEqual(yield* Effect.promise(() => handler({ query: ticket.query, body: ticket.body })), "success")
      assert.strictEqual(handled, 2)
    }).pipe(Effect.provide(Live)))

  it.effect("the Promise handler resolves success or rejects with the typed error or the app's own rejection", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const sandbox = yield* Sandbox.Sandbox
      const tags: Array<string> = []
      const handler = yield* Component.makePushHandler({
        onEvent: async (event) => {
          tags.push(event._tag)
          if (event._tag === "Unauthorized") throw new Error("the app's own failure")
        }
      })
      const ticket = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket"
      })
      assert.strictEqual(yield* Effect.promise(() => handler({ query: ticket.query, body: ticket.body })), "success")
      const forged = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "component_verify_ticket",
        forge: { timestamp: Math.floor(start / 1000) - 3600 }
      })
      const stale = yield* Effect.promise(() =>
        handler({ query: forged.query, body: forged.body }).then(() => undefined, (e) => e)
      )
      assert.deepInclude(stale, { _tag: "InvalidPush", reason: "Stale" })
      const gone = yield* sandbox.componentPush({
        componentAppId: platform.componentAppId,
        infoType: "unauthorized",
        appId: managedOfficial
      })
      const own = yield* Effect.promise(() =>
        handler({ query: gone.query, body: gone.body }).then(() => undefined, (e) => e)
      )
      assert.strictEqual((own as Error).message, "the app's own failure")
      assert.deepStrictEqual(tags, ["ComponentVerifyTicket", "Unauthorized"])
      const junk = yield* Effect.promise(() => handler(undefined as never).then(() => undefined, (e) => e))
      assert.deepInclude(junk, { _tag: "InvalidArgument", argument: "request" })
    }).pipe(Effect.provide(Live)))
})

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as Net.AddressInfo
      server.close(() => resolve(address.port))
    })
  })

describe("over a real socket", () => {
  it.live("the sandbox POSTs pushes to the platform's URL, served by makeHttpApp on NodeHttpServer: success", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const Server = Layer.unwrapEffect(
        Effect.map(Component.makeHttpApp(), (app) => HttpServer.serve(app))
      ).pipe(
        Layer.provide(NodeHttpServer.layer(() => Http.createServer(), { port, host: "127.0.0.1" }))
      )
      const Live = Server.pipe(
        Layer.provideMerge(ComponentLive({ pushUrl: `http://127.0.0.1:${port}/wechat/push` }))
      )
      yield* Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const component = yield* Component.Component
        const { delivery } = yield* sandbox.pushTicket({ componentAppId: platform.componentAppId })
        assert.isTrue(delivery.success, `answered ${delivery.status} ${delivery.answer} ${delivery.error}`)
        assert.isTrue(Redacted.value(yield* component.accessToken).length > 0)
        const authorized = yield* sandbox.authorize({ componentAppId: platform.componentAppId, appId: managedOfficial })
        assert.isTrue(authorized.delivery.success)
        const pushes = yield* sandbox.componentPushes({ componentAppId: platform.componentAppId })
        assert.deepStrictEqual(pushes.map((p) => [p.infoType, p.success]), [["component_verify_ticket", true], [
          "authorized",
          true
        ]])
      }).pipe(Effect.provide(Live))
    }))
})

describe("makeHttpApp on NodeHttpServer: a body that stalls", () => {
  /** Sends the headers and 10 of the 1,000 bytes announced, then nothing; what came back, and when the socket closed. */
  const stall = (port: number) =>
    new Promise<{ readonly answer: string; readonly closedAfter: number }>((resolve) => {
      const socket = Net.connect(port, "127.0.0.1")
      const sentAt = Date.now()
      let answer = ""
      const giveUp = setTimeout(() => socket.destroy(), 8_000)
      socket.on("data", (chunk) => answer += chunk.toString("latin1"))
      socket.on("error", () => {})
      socket.on("close", () => {
        clearTimeout(giveUp)
        resolve({ answer, closedAfter: Date.now() - sentAt })
      })
      socket.write("POST /wechat/push?timestamp=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n<xml>1234")
    })

  it.live("is answered 408 at pushTimeout and its connection closed (the server runs the app uninterruptibly)", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const Server = Layer.unwrapEffect(
        Effect.map(Component.makeHttpApp(), (app) => HttpServer.serve(app))
      ).pipe(
        Layer.provide(NodeHttpServer.layer(() => Http.createServer(), { port, host: "127.0.0.1" })),
        Layer.provide(
          Component.layer({ ...platform, pushTimeout: "300 millis" }).pipe(
            Layer.orDie,
            Layer.provide(Layer.mergeAll(AppTokenStore.layerMemory, TokenStore.layerMemory)),
            Layer.provide(SandboxLive())
          )
        )
      )
      const { answer, closedAfter } = yield* Effect.promise(() => stall(port)).pipe(Effect.provide(Server))
      // before: no answer, the socket held until the client gave up (8 s here; Node's requestTimeout is 300 s)
      assert.match(answer, /^HTTP\/1\.1 408 /, `answered: ${JSON.stringify(answer.slice(0, 40))}`)
      assert.match(answer.toLowerCase(), /\r\nconnection: close\r\n/)
      assert.isBelow(closedAfter, 4_000, "the connection closed by the server, not by the client's giving up")
    }))
})

describe("Component.acceptPush: the AuthorizerAppid follows the app id rule (1 to 45 of [A-Za-z0-9_-])", () => {
  const authorizationXml = (infoType: string, createTime: number, appId: string) =>
    `<xml><AppId><![CDATA[${platform.componentAppId}]]></AppId><CreateTime>${createTime}</CreateTime><InfoType><![CDATA[${infoType}]]></InfoType><AuthorizerAppid><![CDATA[${appId}]]></AuthorizerAppid>${
      infoType === "unauthorized"
        ? ""
        : `<AuthorizationCode><![CDATA[queryauthcode@@@x]]></AuthorizationCode><AuthorizationCodeExpiredTime>${
          createTime + 3600
        }</AuthorizationCodeExpiredTime>`
    }</xml>`

  it.effect("a signed push naming a 50-character appid is refused as Malformed, its onEvent not run", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const now = yield* nowSeconds
      const { onEvent, reactions } = recordingReactions()
      const long = "wx" + "a".repeat(48)
      for (const infoType of ["unauthorized", "authorized", "updateauthorized"]) {
        const push = signedPush(reference.encrypt(authorizationXml(infoType, now, long)), now, { nonce: infoType })
        // before, unauthorized was accepted (its void skipped, the key too long) and the others handed on
        const error = yield* refusal(component.acceptPush(push, onEvent))
        assert.deepInclude(error, { _tag: "InvalidPush", reason: "Malformed" }, infoType)
      }
      assert.deepStrictEqual(reactions, [])
      // 45 characters: the longest app id, accepted
      const longest = "wx" + "a".repeat(43)
      for (const infoType of ["unauthorized", "authorized", "updateauthorized"]) {
        const push = signedPush(reference.encrypt(authorizationXml(infoType, now, longest)), now, {
          nonce: `${infoType}-45`
        })
        const event = yield* component.acceptPush(push, onEvent)
        assert.deepInclude(event, { authorizerAppId: longest }, infoType)
      }
      assert.deepStrictEqual(reactions, ["Unauthorized", "Authorized", "UpdateAuthorized"])
    }).pipe(Effect.provide(Live)))
})
