/**
 * A `tokenStore` / `refreshLock` layer that fails to build on first use (Redis unreachable while the
 * app starts): the client is not left broken. Calls within `rebuildAfterMillis` of the failure get its
 * error without a build; the next call after builds the same layer again, once for all the calls
 * made meanwhile, and the dropped runtime is disposed (what its build acquired is released).
 */
import { afterAll, afterEach, assert, describe, it, vi } from "@effect/vitest"
import OAuth from "@wxauth/compat"
import { RefreshLock, TokenStore, WeChatError } from "@wxauth/core"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { lifecycleSettings } from "../src/internal/lifecycle.js"
import { OA } from "./helpers.js"

const clients: Array<OAuth> = []
const saved = lifecycleSettings.rebuildAfterMillis
const savedBuildTimeout = lifecycleSettings.buildTimeoutMillis

afterEach(() => {
  lifecycleSettings.rebuildAfterMillis = saved
  lifecycleSettings.buildTimeoutMillis = savedBuildTimeout
})

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()))
})

const unreachable = () =>
  new WeChatError.TokenStoreError({ operation: "connect", description: "cannot connect to Redis at 127.0.0.1:1" })

/**
 * A layer that fails while `down()` says so, counting its builds; `resources` counts what a build
 * acquired and released (a connection).
 */
const flaky = <A>(
  ok: Layer.Layer<A>,
  state: { builds: number; down: boolean; gate?: Promise<void> | undefined; opened: number; closed: number }
): Layer.Layer<A, WeChatError.TokenStoreError> =>
  Layer.unwrapScoped(Effect.gen(function*() {
    state.builds++
    yield* Effect.acquireRelease(Effect.sync(() => state.opened++), () => Effect.sync(() => state.closed++))
    if (state.gate !== undefined) yield* Effect.promise(() => state.gate!)
    if (state.down) return yield* Effect.fail(unreachable())
    return ok
  }))

const newState = () => ({ builds: 0, down: true, gate: undefined as Promise<void> | undefined, opened: 0, closed: 0 })

const make = (options: Record<string, unknown>) => {
  const client = new OAuth(OA.appId, OA.secret)
  client.setOpts(options)
  clients.push(client)
  return client
}

const attempt = (client: OAuth): Promise<{ readonly ok: unknown } | { readonly error: any }> =>
  (client.getToken as (openid: string) => Promise<unknown>)("o_someone").then(
    (value) => ({ ok: value ?? null }),
    (error) => ({ error })
  )

/** Lets the runtime's disposal (a promise chain) run. */
const settle = async () => {
  for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve))
}

describe("a layer that fails to build on first use", () => {
  it("refreshLock: the same error within rebuildAfterMillis, no new build; after, built again and the client works", async () => {
    lifecycleSettings.rebuildAfterMillis = 3_600_000
    const state = newState()
    const client = make({ refreshLock: flaky(RefreshLock.layerInProcess(), state) })
    const first = await attempt(client)
    assert.property(first, "error")
    const error = (first as { error: any }).error
    assert.strictEqual(error.name, "WeChatAPITokenStoreError")
    assert.include(error.message, "refreshLock layer (setOpts) failed to build")
    assert.include(error.message, "cannot connect to Redis")
    const second = await attempt(client)
    assert.strictEqual((second as { error: any }).error?.message, error.message)
    assert.strictEqual(state.builds, 1)
    // Redis is back, and the backoff is over
    state.down = false
    lifecycleSettings.rebuildAfterMillis = 0
    assert.deepStrictEqual(await attempt(client), { ok: null })
    assert.strictEqual(state.builds, 2)
    assert.deepStrictEqual(await attempt(client), { ok: null })
    assert.strictEqual(state.builds, 2)
  })

  it("tokenStore: built again after a failure, the error naming the option", async () => {
    lifecycleSettings.rebuildAfterMillis = 0
    const state = newState()
    const client = make({ tokenStore: flaky(TokenStore.layerMemory, state) })
    const first = await attempt(client)
    assert.include((first as { error: any }).error?.message, "tokenStore layer (setOpts) failed to build")
    state.down = false
    assert.deepStrictEqual(await attempt(client), { ok: null })
    assert.strictEqual(state.builds, 2)
  })

  it("concurrent calls share one build, the failing one and the one that replaces it", async () => {
    lifecycleSettings.rebuildAfterMillis = 0
    const state = newState()
    const client = make({ refreshLock: flaky(RefreshLock.layerInProcess(), state) })
    let open!: () => void
    state.gate = new Promise<void>((resolve) => (open = resolve))
    const failing = Array.from({ length: 5 }, () => attempt(client))
    open()
    const failed = await Promise.all(failing)
    assert.isTrue(failed.every((result) => "error" in result))
    assert.strictEqual(state.builds, 1)
    state.down = false
    state.gate = new Promise<void>((resolve) => (open = resolve))
    const rebuilding = Array.from({ length: 5 }, () => attempt(client))
    open()
    assert.deepStrictEqual(await Promise.all(rebuilding), Array.from({ length: 5 }, () => ({ ok: null })))
    assert.strictEqual(state.builds, 2)
  })

  it("the dropped runtime is disposed: what its build acquired is released", async () => {
    lifecycleSettings.rebuildAfterMillis = 0
    const state = newState()
    const client = make({ refreshLock: flaky(RefreshLock.layerInProcess(), state) })
    await attempt(client)
    state.down = false
    await attempt(client)
    await settle()
    assert.strictEqual(state.opened, 2)
    assert.strictEqual(state.closed, 1)
    await client.close()
    await settle()
    assert.strictEqual(state.closed, 2)
  })
})

describe("a failed build, then the wall clock stepped back (an NTP step, a VM restored)", () => {
  // the Clock compat reads is Effect's default one, Date.now: the step is Date.now's
  it("the next call after the step builds again: a time before the failure counts as long ago", async () => {
    lifecycleSettings.rebuildAfterMillis = 1000
    const failedAt = Date.now()
    let now = failedAt
    const clock = vi.spyOn(Date, "now").mockImplementation(() => now)
    try {
      const state = newState()
      const client = make({ tokenStore: flaky(TokenStore.layerMemory, state) })
      const first = await attempt(client)
      assert.include((first as { error: any }).error?.message, "tokenStore layer (setOpts) failed to build")
      assert.strictEqual(state.builds, 1)
      // the store is back; within rebuildAfterMillis (forward), the same error, no build
      state.down = false
      now = failedAt + 500
      assert.property(await attempt(client), "error")
      assert.strictEqual(state.builds, 1)
      // the clock steps back an hour: how long it has been is unknown, the failure is old news
      now = failedAt - 3_600_000
      assert.deepStrictEqual(await attempt(client), { ok: null })
      assert.strictEqual(state.builds, 2)
    } finally {
      clock.mockRestore()
    }
  })
})

describe("a layer whose build never finishes", () => {
  /** The call's outcome, or "held" when it has not settled within `ms` (the bug: forever). */
  const within = (promise: Promise<unknown>, ms: number) =>
    Promise.race([promise, new Promise((resolve) => setTimeout(() => resolve("held"), ms))])

  it("fails within buildTimeoutMillis with an error naming the layer, recorded as a build failure: built again after", async () => {
    lifecycleSettings.buildTimeoutMillis = 200
    lifecycleSettings.rebuildAfterMillis = 0
    const state = newState()
    let open: () => void = () => undefined
    state.gate = new Promise<void>((resolve) => (open = resolve))
    state.down = false
    const client = make({ refreshLock: flaky(RefreshLock.layerInProcess(), state) })
    const first: any = await within(attempt(client), 10_000)
    assert.notStrictEqual(first, "held")
    assert.strictEqual(first.error?.name, "WeChatAPITokenStoreError")
    assert.include(first.error.message, "refreshLock layer (setOpts) did not finish building within 200 ms")
    // the connection comes: the next call builds the layer again and works
    state.gate = undefined
    open()
    const second: any = await within(attempt(client), 10_000)
    assert.deepStrictEqual(second, { ok: null })
    assert.strictEqual(state.builds, 2)
  })

  it("tokenStore too", async () => {
    lifecycleSettings.buildTimeoutMillis = 200
    const state = newState()
    state.gate = new Promise<void>(() => undefined)
    const client = make({ tokenStore: flaky(TokenStore.layerMemory, state) })
    const first: any = await within(attempt(client), 10_000)
    assert.notStrictEqual(first, "held")
    assert.include(first.error?.message, "tokenStore layer (setOpts) did not finish building")
  })
})

describe("the bounded build (review rev-f 1)", () => {
  const within = (promise: Promise<unknown>, ms: number) =>
    Promise.race([promise, new Promise((resolve) => setTimeout(() => resolve("held"), ms))])

  it("an acquireRelease whose acquire never ends fails by the deadline", async () => {
    lifecycleSettings.buildTimeoutMillis = 200
    const stuck = Layer.scoped(
      TokenStore.TokenStore,
      Effect.acquireRelease(Effect.never, () => Effect.void)
    )
    const client = make({ tokenStore: stuck })
    const first: any = await within(attempt(client), 10_000)
    assert.notStrictEqual(first, "held")
    assert.include(first.error?.message, "tokenStore layer (setOpts) did not finish building within 200 ms")
  })

  it("a sub-layer shared by tokenStore and refreshLock is built once per generation", async () => {
    let connections = 0
    const connection = Layer.scopedDiscard(
      Effect.acquireRelease(Effect.sync(() => connections++), () => Effect.void)
    )
    const client = make({
      tokenStore: Layer.provideMerge(TokenStore.layerMemory, connection),
      refreshLock: Layer.provideMerge(RefreshLock.layerInProcess(), connection)
    })
    assert.deepStrictEqual(await attempt(client), { ok: null })
    assert.strictEqual(connections, 1)
  })
})

describe("a build that fails with a ConfigError (it cannot heal without setOpts)", () => {
  it("is not built again each rebuildAfterMillis: the same error, one build", async () => {
    lifecycleSettings.rebuildAfterMillis = 0
    let builds = 0
    const failing = Layer.effectContext(Effect.suspend(() => {
      builds++
      return Effect.fail(ConfigError.InvalidData(["refreshLock"], "the lock's url is missing"))
    }))
    const client = make({ refreshLock: failing })
    const first: any = await attempt(client)
    const second: any = await attempt(client)
    assert.strictEqual(first.error?.name, "WeChatAPIConfigError")
    assert.strictEqual(second.error?.message, first.error.message)
    assert.strictEqual(builds, 1)
  })

  it("SourceUnavailable (a config source down for a moment) is transient: built again", async () => {
    lifecycleSettings.rebuildAfterMillis = 0
    let builds = 0
    const failing = Layer.effectContext(Effect.suspend(() => {
      builds++
      return Effect.fail(
        ConfigError.Or(
          ConfigError.MissingData(["refreshLock"], "no url"),
          ConfigError.SourceUnavailable(["refreshLock"], "the vault is down", Cause.fail("ECONNRESET"))
        )
      )
    }))
    const client = make({ refreshLock: failing })
    await attempt(client)
    await attempt(client)
    assert.strictEqual(builds, 2)
  })

  it("And / Or made only of InvalidData, MissingData, Unsupported: not built again", async () => {
    lifecycleSettings.rebuildAfterMillis = 0
    let builds = 0
    const failing = Layer.effectContext(Effect.suspend(() => {
      builds++
      return Effect.fail(
        ConfigError.And(
          ConfigError.MissingData(["refreshLock"], "no url"),
          ConfigError.Or(ConfigError.Unsupported([], "no"), ConfigError.InvalidData([], "bad"))
        )
      )
    }))
    const client = make({ refreshLock: failing })
    await attempt(client)
    await attempt(client)
    assert.strictEqual(builds, 1)
  })
})
