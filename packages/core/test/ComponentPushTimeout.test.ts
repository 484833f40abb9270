/**
 * The handling of a push (the ticket's store write, the voiding of tokens, the app's `onEvent`)
 * runs under `pushTimeout` (4 seconds by default: WeChat waits 5 seconds for `success`, then pushes
 * again). A handling that hangs is interrupted, the push's claim released, and `acceptPush` fails
 * with `PushTimeout`, so WeChat's retry of the push is processed afresh (not answered `Duplicate`,
 * which lost the ticket or the authorization); `makeHttpApp` answers 500 and `makePushHandler`
 * rejects, where they hung before. Time is the TestClock's.
 */
import { assert, describe, it } from "@effect/vitest"
import { AppTokenStore, Component, TokenStore, WeChatError } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { ComponentLive, platform, pushRequest, runApp, SandboxLive } from "./componentFixtures.js"

/** 2023-11-14: pushes carry a real-looking time. */
const start = 1_700_000_000_000

const ticketKey = `component-ticket:${platform.componentAppId}`

/** Runs `effect`, moving the TestClock in 500 ms steps until it ends (at most 30 s of Clock); its exit if it ended. */
const withTime = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < 60 && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* TestClock.adjust("500 millis")
    const exit = yield* Fiber.poll(fiber)
    if (Option.isNone(exit)) yield* Fiber.interrupt(fiber)
    return exit
  })

/** The error an exit failed with, if it failed with one. */
const failureOf = <A, E>(exit: Option.Option<Exit.Exit<A, E>>): unknown =>
  Option.isSome(exit) && Exit.isFailure(exit.value) && exit.value.cause._tag === "Fail"
    ? exit.value.cause.error
    : undefined

const ticketPush = Effect.flatMap(
  Sandbox.Sandbox,
  (sandbox) => sandbox.componentPush({ componentAppId: platform.componentAppId, infoType: "component_verify_ticket" })
)

const storedTicket = Effect.flatMap(
  AppTokenStore.AppTokenStore,
  (store) => Effect.map(store.get(ticketKey), Option.map((token) => Redacted.value(token.accessToken)))
)

/** The platform on memory stores whose first write of the ticket never completes. */
const HangingTicketStoreLive = Component.layer(platform).pipe(
  Layer.orDie,
  Layer.provideMerge(Layer.mergeAll(
    Layer.effect(
      AppTokenStore.AppTokenStore,
      Effect.map(AppTokenStore.makeMemory(), (memory) => {
        let ticketWrites = 0
        return AppTokenStore.AppTokenStore.of({
          get: memory.get,
          set: (appId, token) => appId === ticketKey && ticketWrites++ === 0 ? Effect.never : memory.set(appId, token)
        })
      })
    ),
    TokenStore.layerMemory
  )),
  Layer.provideMerge(SandboxLive())
)

describe("Component: pushTimeout", () => {
  it("defaults to 4 seconds (under WeChat's 5-second wait); a wrong value is a ConfigError naming it", () => {
    const config = Either.getOrThrow(Component.makeConfigEither(platform))
    assert.strictEqual(Duration.toMillis(config.pushTimeout), 4_000)
    const given = Either.getOrThrow(Component.makeConfigEither({ ...platform, pushTimeout: "50 millis" }))
    assert.strictEqual(Duration.toMillis(given.pushTimeout), 50)
    for (const value of ["0 seconds", -1, 0, Number.NaN, Number.POSITIVE_INFINITY, "2 minutes", "soon", {}]) {
      const result = Component.makeConfigEither({ ...platform, pushTimeout: value as never })
      assert.isTrue(Either.isLeft(result), String(value))
      if (Either.isLeft(result)) {
        assert.deepStrictEqual((result.left as { path?: ReadonlyArray<string> }).path, ["pushTimeout"], String(value))
      }
    }
  })

  it.effect("layerConfig reads pushTimeout from a Config like the other options", () =>
    Effect.gen(function*() {
      const fromEnv = Component.layerConfig({
        componentAppId: Config.string("WECHAT_COMPONENT_APP_ID"),
        componentAppSecret: Config.redacted("WECHAT_COMPONENT_APP_SECRET"),
        token: Config.redacted("WECHAT_COMPONENT_TOKEN"),
        encodingAesKey: Config.redacted("WECHAT_COMPONENT_AES_KEY"),
        pushTimeout: Config.duration("WECHAT_COMPONENT_PUSH_TIMEOUT")
      })
      const env = (pushTimeout: string) =>
        ConfigProvider.fromMap(
          new Map([
            ["WECHAT_COMPONENT_APP_ID", platform.componentAppId],
            ["WECHAT_COMPONENT_APP_SECRET", platform.componentAppSecret],
            ["WECHAT_COMPONENT_TOKEN", platform.token],
            ["WECHAT_COMPONENT_AES_KEY", platform.encodingAesKey],
            ["WECHAT_COMPONENT_PUSH_TIMEOUT", pushTimeout]
          ])
        )
      const read = (pushTimeout: string) =>
        Effect.map(Component.ComponentConfig, (config) => Duration.toMillis(config.pushTimeout)).pipe(
          Effect.provide(fromEnv),
          Effect.provide(Layer.merge(AppTokenStore.layerMemory, SandboxLive())),
          Effect.withConfigProvider(env(pushTimeout))
        )
      assert.strictEqual(yield* read("3 seconds"), 3_000)
      const bad = yield* Effect.flip(read("0 seconds"))
      assert.deepInclude(bad, { _op: "InvalidData", path: ["pushTimeout"] })
    }))

  it.effect("an onEvent that never completes: PushTimeout at the deadline; WeChat's retry is processed, its ticket stored", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const push = yield* ticketPush
      const request = { query: push.query, body: push.body }
      let interrupted = false
      const never = Effect.onInterrupt(Effect.never, () => Effect.sync(() => void (interrupted = true)))
      const hung = yield* withTime(component.acceptPush(request, () => never))
      assert.isTrue(Option.isSome(hung), "acceptPush ended")
      const error = failureOf(hung)
      assert.instanceOf(error, WeChatError.PushTimeout)
      assert.deepInclude(error, { _tag: "PushTimeout", timeout: "4s" })
      assert.include(String(error), "WeChat will push it again")
      assert.notInclude(String(error), push.message.ComponentVerifyTicket)
      assert.isTrue(interrupted, "the hung onEvent was interrupted")
      // WeChat's retry, 5 seconds after the first attempt: the same query and body
      const reactions: Array<string> = []
      const retry = yield* component.acceptPush(request, (event) => Effect.sync(() => void reactions.push(event._tag)))
      assert.strictEqual(retry._tag, "ComponentVerifyTicket")
      assert.deepStrictEqual(reactions, ["ComponentVerifyTicket"])
      assert.deepStrictEqual(yield* storedTicket, Option.some(push.message.ComponentVerifyTicket))
      // and now it is handled: a third copy is the duplicate
      assert.strictEqual((yield* component.acceptPush(request))._tag, "Duplicate")
    }).pipe(Effect.provide(ComponentLive())))

  it.effect("an onEvent that never completes and cannot be interrupted: PushTimeout all the same; the retry is processed", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const push = yield* ticketPush
      const request = { query: push.query, body: push.body }
      const hung = yield* withTime(component.acceptPush(request, () => Effect.uninterruptible(Effect.never)))
      assert.isTrue(Option.isSome(hung), "acceptPush ended")
      assert.instanceOf(failureOf(hung), WeChatError.PushTimeout)
      assert.strictEqual((yield* component.acceptPush(request))._tag, "ComponentVerifyTicket")
    }).pipe(Effect.provide(ComponentLive())))

  it.effect("a ticket store write that never completes: PushTimeout; the retry stores the ticket", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const push = yield* ticketPush
      const request = { query: push.query, body: push.body }
      const hung = yield* withTime(component.acceptPush(request))
      assert.isTrue(Option.isSome(hung), "acceptPush ended")
      assert.instanceOf(failureOf(hung), WeChatError.PushTimeout)
      assert.deepStrictEqual(yield* storedTicket, Option.none())
      const retry = yield* component.acceptPush(request)
      assert.strictEqual(retry._tag, "ComponentVerifyTicket")
      assert.deepStrictEqual(yield* storedTicket, Option.some(push.message.ComponentVerifyTicket))
    }).pipe(Effect.provide(HangingTicketStoreLive)))

  it.effect("makeHttpApp: a hung onEvent is a 500 (WeChat pushes again), logged as an error naming the timeout", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const lines: Array<{ readonly level: string; readonly text: string }> = []
      const logger = Logger.make(({ annotations, logLevel, message }) => {
        lines.push({ level: logLevel.label, text: `${JSON.stringify(message)} ${JSON.stringify([...annotations])}` })
      })
      let calls = 0
      const app = yield* Component.makeHttpApp({
        onEvent: () => Effect.suspend(() => ++calls === 1 ? Effect.never : Effect.void)
      })
      const push = yield* ticketPush
      const first = yield* withTime(
        runApp(app, pushRequest(push)).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      )
      assert.isTrue(Option.isSome(first), "answered")
      assert.deepStrictEqual(Option.getOrThrow(first), Exit.succeed({ status: 500, text: "try again" }))
      const errors = lines.filter((line) => line.level === "ERROR")
      assert.strictEqual(errors.length, 1)
      assert.include(errors[0].text, "longer than 4s")
      assert.notInclude(errors[0].text, push.message.ComponentVerifyTicket)
      assert.deepStrictEqual(yield* runApp(app, pushRequest(push)), { status: 200, text: "success" })
      assert.strictEqual(calls, 2)
    }).pipe(Effect.provide(ComponentLive())))

  it.effect("makePushHandler: an onEvent promise that never settles rejects the handler's promise with PushTimeout", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      let calls = 0
      const handler = yield* Component.makePushHandler({
        onEvent: () => ++calls === 1 ? new Promise<void>(() => {}) : Promise.resolve()
      })
      const push = yield* ticketPush
      const request = { query: push.query, body: push.body }
      let outcome: { readonly settled: "resolved" | "rejected"; readonly value: unknown } | undefined
      handler(request).then(
        (value) => void (outcome = { settled: "resolved", value }),
        (value: unknown) => void (outcome = { settled: "rejected", value })
      )
      for (let i = 0; i < 60 && outcome === undefined; i++) yield* TestClock.adjust("500 millis")
      assert.isDefined(outcome, "the handler's promise settled")
      assert.strictEqual(outcome?.settled, "rejected")
      assert.instanceOf(outcome?.value, WeChatError.PushTimeout)
      assert.deepInclude(outcome?.value, { _tag: "PushTimeout", timeout: "4s" })
      assert.strictEqual(yield* Effect.promise(() => handler(request)), "success")
      assert.strictEqual(calls, 2)
    }).pipe(Effect.provide(ComponentLive())))
})
