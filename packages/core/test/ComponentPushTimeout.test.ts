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
import * as Deferred from "effect/Deferred"
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

/** Two Options are the same: chai's deepStrictEqual takes any Some for None (it compares them as iterables). */
const assertSameOption = <A>(actual: Option.Option<A>, expected: Option.Option<A>, message?: string) => {
  assert.strictEqual(actual._tag, expected._tag, message)
  assert.deepStrictEqual(Option.getOrUndefined(actual), Option.getOrUndefined(expected), message)
}

/** 2023-11-14: pushes carry a real-looking time. */
const start = 1_700_000_000_000

const ticketKey = `component-ticket:${platform.componentAppId}`

/** Runs `effect`, moving the TestClock in 500 ms steps until it ends (at most 30 s of Clock); its exit if it ended. */
const withTime = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    // a daemon: a fiber that cannot be interrupted would otherwise hold the test at its end
    const fiber = yield* Effect.forkDaemon(effect)
    for (let i = 0; i < 60 && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* TestClock.adjust("500 millis")
    const exit = yield* Fiber.poll(fiber)
    if (Option.isNone(exit)) yield* Fiber.interruptFork(fiber)
    return exit
  })

/** The app's answer has come, and is `expected` (a request still waiting is let go). */
const assertAnswered = <E>(
  answer: Fiber.RuntimeFiber<{ readonly status: number; readonly text: string }, E>,
  expected: { readonly status: number; readonly text: string },
  message: string
) =>
  Effect.gen(function*() {
    const answered = yield* Fiber.poll(answer)
    if (Option.isNone(answered)) yield* Fiber.interruptFork(answer)
    assert.isTrue(Option.isSome(answered), message)
    if (Option.isSome(answered)) assert.deepStrictEqual(answered.value, Exit.succeed(expected))
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
  it("defaults to 4 seconds, at most 4.5 (under WeChat's 5-second wait); a wrong value is a ConfigError naming it", () => {
    const config = Either.getOrThrow(Component.makeConfigEither(platform))
    assert.strictEqual(Duration.toMillis(config.pushTimeout), 4_000)
    const given = Either.getOrThrow(Component.makeConfigEither({ ...platform, pushTimeout: "50 millis" }))
    assert.strictEqual(Duration.toMillis(given.pushTimeout), 50)
    // at most 4.5 seconds: the handling must end before WeChat's retry, 5 seconds after its push
    const longest = Either.getOrThrow(Component.makeConfigEither({ ...platform, pushTimeout: "4.5 seconds" }))
    assert.strictEqual(Duration.toMillis(longest.pushTimeout), 4_500)
    for (
      const value of [
        "0 seconds",
        -1,
        0,
        Number.NaN,
        Number.POSITIVE_INFINITY,
        "2 minutes",
        "soon",
        {},
        "4501 millis",
        "5 seconds",
        "1 minute"
      ]
    ) {
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
      assertSameOption(yield* storedTicket, Option.some(push.message.ComponentVerifyTicket))
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

  it.effect("an uninterruptible caller: PushTimeout at the deadline all the same; the retry is processed", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const push = yield* ticketPush
      const request = { query: push.query, body: push.body }
      let interrupted = false
      const never = Effect.onInterrupt(Effect.never, () => Effect.sync(() => void (interrupted = true)))
      // the deadline ran with the caller's interruptibility: at it, it waited for ever for the handling to stop
      const hung = yield* withTime(Effect.uninterruptible(component.acceptPush(request, () => never)))
      assert.isTrue(Option.isSome(hung), "acceptPush ended")
      assert.instanceOf(failureOf(hung), WeChatError.PushTimeout)
      // the hung handling is interrupted in the background
      yield* Effect.yieldNow()
      assert.isTrue(interrupted, "the hung onEvent was interrupted")
      assert.strictEqual((yield* component.acceptPush(request))._tag, "ComponentVerifyTicket")
    }).pipe(Effect.provide(ComponentLive())))

  it.effect("a copy that arrives while the push is still handled is not a success (PushInProgress): the push is not lost", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const component = yield* Component.Component
      const push = yield* ticketPush
      const request = { query: push.query, body: push.body }
      const first = yield* Effect.fork(component.acceptPush(request, () => Effect.never))
      yield* TestClock.adjust("2 seconds")
      // a copy while the first is in hand: a failure WeChat retries, not `Duplicate` (which WeChat takes for success)
      const reactions: Array<string> = []
      const record = (event: Component.PushEvent) => Effect.sync(() => void reactions.push(event._tag))
      const copy = yield* Effect.flip(component.acceptPush(request, record))
      assert.deepInclude(copy, { _tag: "PushInProgress" })
      assert.include(String(copy), "WeChat will push it again")
      assert.notInclude(String(copy), push.message.ComponentVerifyTicket)
      assert.deepStrictEqual(reactions, [])
      // the first times out and lets the push go: WeChat's next retry is processed
      yield* TestClock.adjust("3 seconds")
      assert.deepInclude(yield* Effect.flip(Fiber.join(first)), { _tag: "PushTimeout" })
      assert.strictEqual((yield* component.acceptPush(request, record))._tag, "ComponentVerifyTicket")
      assert.deepStrictEqual(reactions, ["ComponentVerifyTicket"])
      assert.strictEqual((yield* component.acceptPush(request, record))._tag, "Duplicate")
    }).pipe(Effect.provide(ComponentLive())))

  it.effect("makeHttpApp: a copy that arrives while the push is handled is a 500, not success; then success once handled", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const gate = yield* Deferred.make<void>()
      let calls = 0
      const app = yield* Component.makeHttpApp({
        onEvent: () => Effect.suspend(() => ++calls === 1 ? Deferred.await(gate) : Effect.void)
      })
      const push = yield* ticketPush
      const first = yield* Effect.fork(runApp(app, pushRequest(push)))
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* runApp(app, pushRequest(push)), { status: 500, text: "try again" })
      yield* Deferred.succeed(gate, undefined)
      assert.deepStrictEqual(yield* Fiber.join(first), { status: 200, text: "success" })
      assert.deepStrictEqual(yield* runApp(app, pushRequest(push)), { status: 200, text: "success" })
      assert.strictEqual(calls, 1)
    }).pipe(Effect.provide(ComponentLive())))

  it.effect("makePushHandler: a copy that arrives while the push is handled rejects with PushInProgress", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      let release: () => void = () => {}
      let calls = 0
      const handler = yield* Component.makePushHandler({
        onEvent: () => ++calls === 1 ? new Promise<void>((resolve) => void (release = resolve)) : Promise.resolve()
      })
      const push = yield* ticketPush
      const request = { query: push.query, body: push.body }
      const first = handler(request)
      yield* TestClock.adjust("1 second")
      const copy = yield* Effect.flip(Effect.tryPromise({ try: () => handler(request), catch: (e) => e }))
      assert.deepInclude(copy, { _tag: "PushInProgress" })
      release()
      assert.strictEqual(yield* Effect.promise(() => first), "success")
      assert.strictEqual(yield* Effect.promise(() => handler(request)), "success")
      assert.strictEqual(calls, 1)
    }).pipe(Effect.provide(ComponentLive())))

  it.effect("makeHttpApp: the deadline counts from the request's arrival, the body's reading included", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const app = yield* Component.makeHttpApp({ onEvent: () => Effect.never })
      const push = yield* ticketPush
      // a body that arrives 3 seconds after the request
      let send: () => void = () => {}
      const body = new ReadableStream<Uint8Array>({
        start: (controller) =>
          void (send = () => {
            controller.enqueue(new TextEncoder().encode(push.body))
            controller.close()
          })
      })
      const answer = yield* Effect.fork(runApp(app, pushRequest(push, { body, duplex: "half" } as RequestInit)))
      yield* TestClock.adjust("3 seconds")
      send()
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
      // 4 seconds after the arrival, not 4 seconds after the body: answered before WeChat's retry at 5
      yield* TestClock.adjust("1 second")
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
      yield* assertAnswered(answer, { status: 500, text: "try again" }, "answered 4 seconds after the arrival")
    }).pipe(Effect.provide(ComponentLive())))

  it.effect("makeHttpApp: a body still unread at pushTimeout is answered 408 (WeChat pushes again)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const app = yield* Component.makeHttpApp()
      const push = yield* ticketPush
      const body = new ReadableStream<Uint8Array>({ start: () => {} })
      const answer = yield* Effect.fork(runApp(app, pushRequest(push, { body, duplex: "half" } as RequestInit)))
      yield* TestClock.adjust("4 seconds")
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
      yield* assertAnswered(answer, { status: 408, text: "request timeout" }, "answered at pushTimeout")
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
      assertSameOption(yield* storedTicket, Option.none())
      const retry = yield* component.acceptPush(request)
      assert.strictEqual(retry._tag, "ComponentVerifyTicket")
      assertSameOption(yield* storedTicket, Option.some(push.message.ComponentVerifyTicket))
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
