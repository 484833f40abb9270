/**
 * A login (`getAccessToken(code)`) saves through `saveToken` once and never calls `getToken`, as
 * `wechat-oauth` did: core's reads around the save (before, and back after a failed read) protect
 * nothing with hooks, and a `getToken` that never answered held the login and sent it down core's
 * "remove and write again" path (a second `saveToken`, which can overwrite a newer login of another
 * process). Against the sandbox over HTTP.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import OAuth from "@wxauth/compat"
import { capturingLogs, OA, type RunningSandbox, startSandbox } from "./helpers.js"

let sandbox: RunningSandbox
const clients: Array<OAuth> = []

beforeAll(async () => {
  sandbox = await startSandbox()
})

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()))
  await sandbox?.dispose()
})

describe("getAccessToken with a getToken hook that never answers", () => {
  it("saves the token once, without calling getToken (hookTimeout one hour)", async () => {
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
    // one saveToken, no getToken: wechat-oauth's calls
    assert.deepStrictEqual(calls, { get: 0, save: 1 })
    assert.isFalse(logs.some((line) => line.includes("removing it and writing again")))
  }, 30_000)

  it("getUser after the login still reads through getToken", async () => {
    const calls = { get: 0, save: 0 }
    const saved = new Map<string, any>()
    const client = new OAuth(
      OA.appId,
      OA.secret,
      (openid, cb) => (calls.get++, cb(null, saved.get(openid) ?? null)),
      (openid, token, cb) => (calls.save++, saved.set(openid, token), cb(null))
    )
    client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url })
    clients.push(client)
    const token = await client.getAccessToken(await sandbox.code())
    assert.deepStrictEqual(calls, { get: 0, save: 1 })
    const user: any = await client.getUser(token.data.openid)
    assert.strictEqual(user.openid, token.data.openid)
    assert.deepStrictEqual(calls, { get: 1, save: 1 })
  })
})
