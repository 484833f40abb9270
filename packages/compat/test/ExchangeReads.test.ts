/**
 * A login (`getAccessToken(code)`) reads the stored token through `getToken` around saving (core:
 * before, twice when the first read fails, and back after a failed read), calls `wechat-oauth` never
 * made. A `getToken` that never answers must not hold a login for three `hookTimeout`s: each of these
 * reads is bounded by `exchangeReadTimeout` (2 s). Against the sandbox over HTTP.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import OAuth from "@wxauth/compat"
import { OA, type RunningSandbox, startSandbox } from "./helpers.js"

let sandbox: RunningSandbox
const clients: Array<OAuth> = []

beforeAll(async () => {
  sandbox = await startSandbox()
})

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()))
  await sandbox?.dispose()
})

/** What the default logger prints meanwhile (it writes through `console.log`). */
const capturingLogs = async <A>(f: () => Promise<A>): Promise<[A, Array<string>]> => {
  const lines: Array<string> = []
  const original = console.log
  console.log = (...args: Array<unknown>) => void lines.push(args.map(String).join(" "))
  try {
    return [await f(), lines]
  } finally {
    console.log = original
  }
}

describe("getAccessToken with a getToken hook that never answers", () => {
  it("saves the token, without waiting hookTimeout for each read (here one hour)", async () => {
    const calls = { get: 0, save: 0 }
    const saved = new Map<string, unknown>()
    const client = new OAuth(
      OA.appId,
      OA.secret,
      (_openid, _cb) => void calls.get++,
      (openid, token, cb) => {
        calls.save++
        saved.set(openid, token)
        cb(null)
      }
    )
    client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url, hookTimeout: "1 hour" })
    clients.push(client)
    const code = await sandbox.code()
    const [token, logs] = await capturingLogs(() => client.getAccessToken(code))
    assert.isTrue(saved.has(token.data.openid))
    // two reads before the save, one read back, then saveToken once more (core's exchange)
    assert.deepStrictEqual(calls, { get: 3, save: 2 })
    const removal = logs.filter((line) => line.includes("removing it and writing again"))
    assert.strictEqual(removal.length, 1)
    assert.include(removal[0], "nothing is removed")
  }, 30_000)
})
