/**
 * `client.close()` with calls in flight: it interrupts them (a WeChat that answers late, a hook that
 * never answers, a call on services `setOpts` retired, a direct `request`), so that it ends at once
 * and each call fails with `WeChatAPIClientClosedError`, by promise and by callback, and no timer of
 * theirs keeps running. It waited for nothing and interrupted nothing: the calls ran on until their
 * deadline or `hookTimeout`, holding their timers (and the process) that long.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import OAuth, { isCompatError } from "@wxauth/compat"
import type { Sandbox } from "@wxauth/sandbox"
import * as Http from "node:http"
import type * as Net from "node:net"
import { callback, OA, type RunningSandbox, startSandbox } from "./helpers.js"

let sandbox: RunningSandbox
const clients: Array<OAuth> = []

beforeAll(async () => {
  sandbox = await startSandbox()
})

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()))
  await sandbox?.dispose()
})

/** Far beyond what these tests wait: a call still pending after close() would wait this long. */
const long = { timeout: "20 seconds", hookTimeout: "20 seconds" } as const

const make = (...args: ConstructorParameters<typeof OAuth>) => {
  const client = new OAuth(...args)
  client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url, ...long })
  clients.push(client)
  return client
}

const inject = (fault: Sandbox.Fault) => sandbox.run(sandbox.sandbox.injectFault(fault))

const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

/** A hook that never answers (it declares its callback, and never calls it). */
const never = function(_openid: string, _callback: unknown) {
  return undefined
}

/** What a call ended with: its error, or "pending" when it had not settled within `millis`. */
const outcome = (promise: Promise<unknown>, millis: number): Promise<unknown> =>
  Promise.race([
    promise.then(() => "resolved", (error) => error),
    sleep(millis).then(() => "pending")
  ])

/** A callback-style call's outcome: its `(err, result)` pair's error, or "pending". */
const callbackOutcome = (call: (cb: (err: any, result?: any) => void) => unknown, millis: number) => {
  const pair = callback(call)
  return (async () => {
    const result = await outcome(pair, millis)
    if (result === "pending") return result
    const [err, value] = await pair
    assert.isUndefined(value, "a failed call hands no result to its callback")
    return err ?? "resolved"
  })()
}

const assertClosedError = (error: unknown, label: string) => {
  assert.notStrictEqual(error, "pending", `${label}: still pending after close()`)
  assert.strictEqual((error as any)?.name, "WeChatAPIClientClosedError", `${label}: ${String(error)}`)
  assert.strictEqual((error as any)._tag, "ClientClosed", label)
  assert.isTrue(isCompatError(error), label)
  assert.instanceOf(error, Error, label)
  assert.include((error as Error).message, "close()", label)
  assert.notInclude((error as Error).message, "defect", label)
}

/** Waits until the sandbox has received `count` more calls to `endpoint` than `before`. */
const received = async (endpoint: Sandbox.Endpoint, before: number, count = 1) => {
  for (let i = 0; i < 200; i++) {
    if ((await sandbox.stats())[endpoint] >= before + count) return
    await sleep(10)
  }
  assert.fail(`the sandbox did not receive ${count} ${endpoint} call(s)`)
}

/** The timers the process holds (Node's `Timeout` resources), ours or anyone's. */
const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length

const unhandled: Array<unknown> = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)

describe("close() with calls in flight", () => {
  it("ends at once; every call in flight fails with WeChatAPIClientClosedError (promise and callback)", async () => {
    process.on("unhandledRejection", onUnhandled)
    try {
      // WeChat answering late (the calls' deadline, 20 s, is far away)
      const slow = make(OA.appId, OA.secret)
      const token = await slow.getAccessToken(await sandbox.code({ user: "alice" }))
      const { access_token, openid, refresh_token } = token.data
      const code = await sandbox.code({ user: "bob" })
      const before = await sandbox.stats()
      for (const endpoint of ["access_token", "refresh_token", "userinfo"] as const) {
        await inject({ kind: "slow", endpoint, delayMs: 20_000 })
      }
      await inject({ kind: "slow", endpoint: "auth", delayMs: 20_000, times: 2 })
      const exchange = slow.getAccessToken(code)
      const refresh = callbackOutcome((cb) => slow.refreshAccessToken(refresh_token, cb), 1500)
      const user = slow.getUser(openid)
      const verify = callbackOutcome((cb) => slow.verifyToken(openid, access_token, cb), 1500)
      // a direct request, as an app's own `request` override calls the default one
      const request = slow.request(`${sandbox.url}/sns/auth`, {
        data: { access_token, openid },
        dataType: "json"
      }) as Promise<unknown>
      await received("access_token", before.access_token)
      await received("refresh_token", before.refresh_token)
      await received("userinfo", before.userinfo)
      await received("auth", before.auth, 2)

      // hooks that never answer (hookTimeout, 20 s, is far away)
      let saving = false
      const hung = make(OA.appId, OA.secret, never, function(_openid, _token, _callback) {
        saving = true
      })
      const retired = hung.getUser("o_retired")
      // the call above runs on the services this setOpts retires: close() interrupts it too
      hung.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url, ...long })
      const reading = callbackOutcome((cb) => hung.getUser({ openid: "o_reading" }, cb), 1500)
      // WeChat answers the exchange, the token is being saved when the client closes
      const loginCode = await sandbox.code({ user: "alice" })
      const login = callbackOutcome((cb) => hung.getAccessToken(loginCode, cb), 1500)
      const login2 = hung.getAccessToken(await sandbox.code({ user: "carol" }))
      for (let i = 0; i < 200 && !saving; i++) await sleep(10)
      assert.isTrue(saving, "saveToken was called")
      await sleep(150) // the 100 ms warning timers and the like are running

      const started = Date.now()
      await Promise.all([slow.close(), hung.close()])
      const closeMillis = Date.now() - started
      assert.isBelow(closeMillis, 2000, "close() ends at once (hookTimeout and the deadline are 20 s)")

      const outcomes: Record<string, unknown> = {
        "getAccessToken (WeChat late)": await outcome(exchange, 1500),
        "refreshAccessToken by callback (WeChat late)": await refresh,
        "getUser (WeChat late)": await outcome(user, 1500),
        "verifyToken by callback (WeChat late)": await verify,
        "request (WeChat late)": await outcome(request, 1500),
        "getUser on retired services (getToken never answers)": await outcome(retired, 1500),
        "getUser by callback (getToken never answers)": await reading,
        "getAccessToken by callback (saveToken never answers)": await login,
        "getAccessToken (saveToken never answers)": await outcome(login2, 1500)
      }
      for (const [label, error] of Object.entries(outcomes)) assertClosedError(error, label)
      assert.isBelow(Date.now() - started, 3000, "every call settled at once")
      await sleep(50)
      assert.deepStrictEqual(unhandled, [])
    } finally {
      process.off("unhandledRejection", onUnhandled)
    }
  })

  it("leaves no timer running: the calls' deadlines and hookTimeout timers stop", async () => {
    // a WeChat that never answers and holds no timer of its own (the sandbox's delays are timers)
    const held: Array<Http.ServerResponse> = []
    const server = Http.createServer((_request, response) => held.push(response))
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const silent = `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}`
    try {
      const other = make(OA.appId, OA.secret)
      const { refresh_token } = (await other.getAccessToken(await sandbox.code({ user: "carol" }))).data
      const hung = make(OA.appId, OA.secret, never, never)
      const code = await sandbox.code({ user: "bob" })
      const quiet = make(OA.appId, OA.secret)
      quiet.setOpts({ apiBaseUrl: silent, ...long })
      const [saveError] = await callback((cb) =>
        quiet.saveToken("o_quiet", {
          access_token: "an-access-token",
          expires_in: 7200,
          refresh_token: "a-refresh-token",
          openid: "o_quiet",
          scope: "snsapi_userinfo",
          create_at: Date.now()
        }, cb)
      )
      assert.isNull(saveError ?? null)
      await sleep(1500) // the HTTP pool's own timers (undici's) settle
      const baseline = timers()
      const calls = [
        hung.getUser("o_one"),
        hung.getUser({ openid: "o_two" }),
        hung.refreshAccessToken(refresh_token), // WeChat answers, getToken (before the save) never does
        hung.getUserByCode(code), // saveToken never answers
        quiet.getUser("o_quiet"), // WeChat never answers
        quiet.verifyToken("o_quiet", "an-access-token"),
        quiet.request(`${silent}/sns/auth`, { data: { openid: "o_quiet" }, dataType: "json" })
      ].map((call) => (call as Promise<unknown>).then(() => "resolved", (error) => error))
      for (let i = 0; i < 200 && held.length < 3; i++) await sleep(10)
      assert.strictEqual(held.length, 3, "the silent WeChat holds three requests")
      assert.isAbove(timers(), baseline, "the calls hold timers while they wait")
      const started = Date.now()
      await Promise.all([hung.close(), quiet.close()])
      assert.isBelow(Date.now() - started, 1000)
      const pending = sleep(1000).then(() => "pending")
      for (const [i, error] of (await Promise.all(calls.map((call) => Promise.race([call, pending])))).entries()) {
        assertClosedError(error, `call ${i}`)
      }
      // undici's timers of the aborted requests end within a second
      for (let i = 0; i < 40 && timers() > baseline; i++) await sleep(50)
      assert.isAtMost(timers(), baseline, "no timer of the calls runs on after close()")
    } finally {
      for (const response of held) response.destroy()
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it("calls waiting for one refresh (single-flight, the refresh lock) fail with it too", async () => {
    const tokens = new Map<string, any>()
    const client = make(
      OA.appId,
      OA.secret,
      async (openid) => tokens.get(openid) ?? null,
      async (openid, token) => {
        tokens.set(openid, { ...token })
      }
    )
    const { data } = await client.getAccessToken(await sandbox.code({ user: "alice" }))
    // stored expired: getUser refreshes it, once for the three calls
    tokens.get(data.openid).create_at -= 3 * 3600_000
    const before = (await sandbox.stats()).refresh_token
    await inject({ kind: "slow", endpoint: "refresh_token", delayMs: 20_000 })
    const calls = [
      client.getUser(data.openid),
      client.getUser({ openid: data.openid, lang: "zh_CN" }),
      callback((cb) => client.getUser(data.openid, cb)).then(([err]) => Promise.reject(err))
    ].map((call) => call.then(() => "resolved", (error) => error))
    await received("refresh_token", before)
    await sleep(100)
    assert.strictEqual((await sandbox.stats()).refresh_token, before + 1, "one refresh for the three")
    const started = Date.now()
    await client.close()
    assert.isBelow(Date.now() - started, 1000)
    const pending = sleep(1000).then(() => "pending")
    for (const [i, error] of (await Promise.all(calls.map((call) => Promise.race([call, pending])))).entries()) {
      assertClosedError(error, `getUser ${i}`)
    }
  })

  it("a call made after close() runs as before, on services built anew; close() again releases them", async () => {
    const client = make(OA.appId, OA.secret)
    await client.close()
    const token = await client.getAccessToken(await sandbox.code({ user: "dave" }))
    assert.strictEqual((await client.getUser(token.data.openid)).openid, token.data.openid)
    await Promise.all([client.close(), client.close()])
    const [err, user] = await callback<{ openid: string }>((cb) => client.getUser(token.data.openid, cb))
    assert.isNull(err)
    assert.strictEqual(user?.openid, token.data.openid)
    await client.close()
  })
})
