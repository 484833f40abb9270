/**
 * Interruption of a caller at every step of a shared call: the app token's fetch, a user's refresh
 * and a code exchange are single-flight (the first caller starts the work in the service's scope,
 * later callers join it). Whatever step the first caller is interrupted at, the next caller must
 * not be left waiting on a flight that never started. A platform's push is claimed (a concurrent
 * copy is a duplicate) and released unless handled: a caller interrupted at any step must not leave
 * it claimed but unhandled, or WeChat's retry of it would be answered as a duplicate.
 *
 * The interruption is delivered by a supervisor at the caller's n-th step (as the runtime delivers
 * one when a fiber yields after its 2048th step: an HTTP request aborted, a timeout around a call).
 */
import { assert, describe, it } from "@effect/vitest"
import { AppToken, AppTokenStore, Component, TokenStore, WeChatConfig, WeChatOAuth } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import { InterruptAt, supervisedBy } from "@wxauth/test-support"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { ComponentLive, platform } from "./componentFixtures.js"

/**
 * For each step n of a call (until a run ends before reaching it): `round` prepares a run and
 * gives its call; a first caller is interrupted at step n, then a second caller of the same call
 * must end once `slow` (the work's time on the test clock) has passed. Returns the first step
 * after which the second caller was left waiting (if any), and how many steps a whole call takes.
 */
const sweep = <A, E, R, E2, R2>(round: Effect.Effect<Effect.Effect<A, E, R>, E2, R2>, slow: Duration.DurationInput) =>
  Effect.gen(function*() {
    for (let at = 1; at < 2000; at++) {
      const call = yield* round
      const supervisor = new InterruptAt(at)
      const first = yield* Effect.fork(
        supervisedBy(call, supervisor)
      )
      yield* TestClock.adjust("0 millis")
      const second = yield* Effect.fork(call)
      yield* TestClock.adjust(slow)
      if (Option.isNone(yield* Fiber.poll(second))) {
        // the service is left with a flight that never ends: later runs would wait on it too
        yield* Fiber.interrupt(second)
        yield* Fiber.interrupt(first)
        return { stuck: at, steps: supervisor.steps }
      }
      const firstExit = yield* Fiber.await(first)
      // the first caller ran to its end without meeting step `at`: every step was tried
      if (Exit.isSuccess(firstExit) && supervisor.steps < at) return { stuck: undefined, steps: supervisor.steps }
    }
    return { stuck: undefined, steps: Infinity }
  })

const app = Sandbox.defaultApps.officialAccount

const Environment = Layer.mergeAll(
  WeChatOAuth.layer,
  AppToken.layerWith({
    // a source of our own: the fetch takes a second of the test clock
    source: () => Effect.as(Effect.sleep("1 second"), { access_token: Redacted.make("app-token"), expires_in: 60 })
  })
).pipe(
  Layer.provideMerge(Layer.mergeAll(TokenStore.layerMemory, AppTokenStore.layerMemory)),
  Layer.provide(WeChatConfig.layer({ appId: app.appId, appSecret: app.secret })),
  Layer.provide(Sandbox.layerHttpClient),
  Layer.provideMerge(Sandbox.layer())
)

const login = Effect.gen(function*() {
  const sandbox = yield* Sandbox.Sandbox
  const callback = yield* sandbox.approve({
    appId: app.appId,
    user: "alice",
    scope: "snsapi_userinfo",
    redirectUri: "https://app.example.com/cb"
  })
  return new URL(callback).searchParams.get("code")!
})

describe("a caller interrupted at any step of a shared call", () => {
  it.effect("AppToken.get: the next get is not left waiting on a fetch that never started", () =>
    Effect.gen(function*() {
      const appToken = yield* AppToken.AppToken
      // each run fetches: the stored token has expired
      const { steps, stuck } = yield* sweep(Effect.as(TestClock.adjust("2 hours"), appToken.get), "2 seconds")
      assert.strictEqual(stuck, undefined)
      assert.isAbove(steps, 3)
    }).pipe(Effect.provide(Environment)))

  it.effect("WeChatOAuth.refresh: the next refresh is not left waiting on one that never started", () =>
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const sandbox = yield* Sandbox.Sandbox
      const token = yield* oauth.exchangeCode(yield* login)
      yield* sandbox.injectFault({ kind: "slow", endpoint: "refresh_token", delayMs: 1000, times: 10_000 })
      const { steps, stuck } = yield* sweep(Effect.succeed(oauth.refresh(token.openid)), "2 seconds")
      assert.strictEqual(stuck, undefined)
      assert.isAbove(steps, 3)
    }).pipe(Effect.provide(Environment)))

  it.effect("WeChatOAuth.exchangeCode: a repeat of the code is answered, not left waiting", () =>
    Effect.gen(function*() {
      const oauth = yield* WeChatOAuth.WeChatOAuth
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.injectFault({ kind: "slow", endpoint: "access_token", delayMs: 1000, times: 10_000 })
      // each run a new code: the first caller's exchange (if it started) uses it, the repeat gets CodeUsed
      const { steps, stuck } = yield* sweep(
        Effect.map(login, (code) => Effect.either(oauth.exchangeCode(code))),
        "2 seconds"
      )
      assert.strictEqual(stuck, undefined)
      assert.isAbove(steps, 3)
    }).pipe(Effect.provide(Environment)))
})

describe("a push accepted by a caller interrupted at any step", () => {
  it.effect("is not taken for a duplicate afterwards unless it was handled: WeChat's retry is accepted", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const component = yield* Component.Component
      const lost: Array<number> = []
      for (let at = 1; at < 1000; at++) {
        const push = yield* sandbox.componentPush({
          componentAppId: platform.componentAppId,
          infoType: "component_verify_ticket"
        })
        const request = { query: push.query, body: push.body }
        let handled = false
        const supervisor = new InterruptAt(at)
        const first = yield* Fiber.await(
          yield* Effect.fork(
            supervisedBy(component.acceptPush(request, () => Effect.sync(() => void (handled = true))), supervisor)
          )
        )
        // WeChat's retry of the same push
        const retry = yield* component.acceptPush(request)
        if (retry._tag === "Duplicate" && !handled) lost.push(at)
        if (Exit.isSuccess(first) && supervisor.steps < at) {
          assert.isAbove(at, 3)
          break
        }
      }
      assert.deepStrictEqual(lost, [])
    }).pipe(Effect.provide(ComponentLive())))
})
