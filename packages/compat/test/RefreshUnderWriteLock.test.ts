/**
 * A refresh's re-read of the stored token while it holds the user's write lock is bounded well below
 * what a login waits for that lock: a `getToken` that never answers there delays a concurrent login
 * by seconds, never by the login's 25 s wait, and a refresh whose re-read failed answers WeChat's
 * token unsaved, never over the login's. Its save there is not cut: a slow `saveToken` ends before
 * the waiting login saves, so the login's token is the one that stays. Against the sandbox over HTTP.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import OAuth from "@wxauth/compat"
import { callback, capturingLogs, OA, type RunningSandbox, startSandbox } from "./helpers.js"

let sandbox: RunningSandbox
const clients: Array<OAuth> = []

beforeAll(async () => {
  sandbox = await startSandbox()
})

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()))
  await sandbox?.dispose()
})

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

describe("refreshAccessToken(refreshToken) with a getToken that never answers", () => {
  it("a login 500 ms later is not held 25 s, and its token is not overwritten (default options)", async () => {
    const saves: Array<{ readonly openid: string; readonly access_token: string }> = []
    const tokens = new Map<string, any>()
    let answers = true
    // resolved once a getToken is left unanswered: the refresh then holds the user's write lock
    let hanging!: () => void
    const hung = new Promise<void>((resolve) => (hanging = resolve))
    const client = new OAuth(
      OA.appId,
      OA.secret,
      (openid, cb) => {
        // never calls back once the test says so
        if (answers) cb(null, tokens.get(openid) ?? null)
        else hanging()
      },
      (openid, token, cb) => {
        saves.push({ openid, access_token: String((token as { access_token?: unknown }).access_token) })
        tokens.set(openid, token)
        cb(null)
      }
    )
    client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url })
    clients.push(client)
    const first = await client.getAccessToken(await sandbox.code({ user: "bob" }))
    const openid = first.data.openid
    answers = false
    const [outcome, logs] = await capturingLogs(async () => {
      const refresh = client.refreshAccessToken(first.data.refresh_token).then(
        (token) => ({ token, error: undefined }),
        (error) => ({ token: undefined, error })
      )
      await hung
      const code = await sandbox.code({ user: "bob" })
      const started = Date.now()
      const login = await client.getAccessToken(code)
      const loginMillis = Date.now() - started
      return { login, loginMillis, refreshed: await refresh }
    })
    const { login, loginMillis, refreshed } = outcome
    // about 10 s (the re-read's cut); 25 s before the fix
    assert.isBelow(loginMillis, 20_000, `the login waited ${loginMillis} ms for the user's write lock`)
    // the refresh still answers WeChat's token (unsaved)
    assert.isUndefined(refreshed.error)
    assert.strictEqual(refreshed.token?.data.openid, openid)
    const last = saves.filter((save) => save.openid === openid).at(-1)
    assert.strictEqual(last?.access_token, login.data.access_token, "the last saveToken holds the login's token")
    assert.isFalse(logs.some((line) => line.includes("stored without it")), "the login took the write lock")
    const warning = logs.find((line) => line.includes("refreshed token is answered, not saved"))
    assert.isDefined(warning)
    assert.notInclude(warning!, String(refreshed.token?.data.access_token))
    assert.notInclude(warning!, String(first.data.refresh_token))
  }, 45_000)
})

describe("a refresh whose saveToken is slow (15 s), not hung, and a login 500 ms later (default options)", () => {
  /**
   * The refresh's save runs to its end while the refresh holds the user's write lock, then the login
   * writes: its token is the last one saved, and the refresh succeeds. Cutting that save at 10 s
   * released the lock with the save still running: the login saved first, and the refresh's save,
   * landing at 15 s, replaced the login's token with the older grant's.
   */
  const slowRefreshSave = async (
    refreshing: (client: OAuth, first: any, stored: Map<string, any>) => Promise<unknown>
  ) => {
    const saves: Array<{ readonly openid: string; readonly access_token: string; readonly slow: boolean }> = []
    const tokens = new Map<string, any>()
    let slowNext = false
    // resolved when the slow save starts: the refresh then holds the user's write lock
    let slowStarted!: () => void
    const slowing = new Promise<void>((resolve) => (slowStarted = resolve))
    const client = new OAuth(
      OA.appId,
      OA.secret,
      (openid, cb) => cb(null, tokens.get(openid) ?? null),
      (openid, token, cb) => {
        const slow = slowNext
        slowNext = false
        const write = () => {
          saves.push({ openid, access_token: String((token as { access_token?: unknown }).access_token), slow })
          tokens.set(openid, token)
          cb(null)
        }
        if (slow) {
          setTimeout(write, 15_000)
          slowStarted()
        } else write()
      }
    )
    client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url })
    clients.push(client)
    const first = await client.getAccessToken(await sandbox.code({ user: "bob" }))
    const openid = first.data.openid
    slowNext = true
    const started = Date.now()
    const refresh = refreshing(client, first, tokens).then(
      (value) => ({ value, error: undefined }),
      (error) => ({ value: undefined, error })
    )
    await slowing
    await sleep(500)
    const login = await client.getAccessToken(await sandbox.code({ user: "bob" }))
    const refreshed = await refresh
    // the slow save, had it been left running in the background, lands by 15.5 s
    await sleep(Math.max(0, started + 16_000 - Date.now()))
    const mine = saves.filter((save) => save.openid === openid)
    assert.strictEqual(mine.at(-1)?.access_token, login.data.access_token, "the last saveToken holds the login's token")
    assert.strictEqual(tokens.get(openid).access_token, login.data.access_token)
    assert.isTrue(mine.some((save) => save.slow), "the refresh's save ran")
    assert.isUndefined(refreshed.error, String(refreshed.error))
    return { openid, refreshed: refreshed.value }
  }

  it("refreshAccessToken(refreshToken): the refresh saves, then the login's token is saved over it", async () => {
    const { openid, refreshed } = await slowRefreshSave((client, first) =>
      client.refreshAccessToken(first.data.refresh_token)
    )
    assert.strictEqual((refreshed as any)?.data.openid, openid)
  }, 45_000)

  it(
    "getUser on an expired token (core's refresh): the refresh saves, then the login's token is saved over it",
    async () => {
      const { openid, refreshed } = await slowRefreshSave((client, first, stored) => {
        // expired an hour ago
        stored.get(first.data.openid).create_at = Date.now() - 3 * 3600_000
        return client.getUser(first.data.openid)
      })
      assert.strictEqual((refreshed as any)?.openid, openid)
    },
    45_000
  )
})

/** Hooks over a map, counting their calls. */
const countingHooks = () => {
  const tokens = new Map<string, any>()
  const calls = { get: 0, save: 0 }
  return {
    tokens,
    calls,
    getToken: (openid: string, cb: (err: unknown, token?: any) => void) => {
      calls.get++
      cb(null, tokens.get(openid) ?? null)
    },
    saveToken: (openid: string, token: unknown, cb: (err: unknown) => void) => {
      calls.save++
      tokens.set(openid, { ...(token as object) })
      cb(null)
    }
  }
}

describe("getUser refreshing through the hooks", () => {
  it("calls getToken 4 times, as the README says (getUser's, the one before the refresh, core's under the refresh lock and the write lock)", async () => {
    const hooks = countingHooks()
    const client = new OAuth(OA.appId, OA.secret, hooks.getToken, hooks.saveToken)
    client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url })
    clients.push(client)
    const token = await client.getAccessToken(await sandbox.code({ user: "carol" }))
    const openid = token.data.openid
    // expired an hour ago
    hooks.tokens.get(openid).create_at = Date.now() - 3 * 3600_000
    hooks.calls.get = 0
    hooks.calls.save = 0
    const before = await sandbox.stats()
    const user: any = await client.getUser(openid)
    assert.strictEqual(user.openid, openid)
    assert.strictEqual((await sandbox.stats()).refresh_token - before.refresh_token, 1)
    assert.deepStrictEqual(hooks.calls, { get: 4, save: 1 })
    assert.isAbove(hooks.tokens.get(openid).create_at, Date.now() - 60_000, "the refreshed token is saved")
  })
})

describe("a refresh token WeChat rejects (getUser on an expired token)", () => {
  const rejectedLine = (logs: ReadonlyArray<string>) =>
    logs.filter((line) => line.includes("refresh token was rejected"))

  it("with a saveToken hook: the log says nothing is removed, and the token stays", async () => {
    const hooks = countingHooks()
    const client = new OAuth(OA.appId, OA.secret, hooks.getToken, hooks.saveToken)
    client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url })
    clients.push(client)
    const token = await client.getAccessToken(await sandbox.code({ user: "alice" }))
    const openid = token.data.openid
    Object.assign(hooks.tokens.get(openid), {
      create_at: Date.now() - 3 * 3600_000,
      refresh_token: "not-a-refresh-token"
    })
    const [error, logs] = await capturingLogs(() => client.getUser(openid).then(() => undefined, (error) => error))
    assert.isDefined(error)
    assert.strictEqual(error.code, 40030)
    const lines = rejectedLine(logs)
    assert.lengthOf(lines, 1, logs.join("\n"))
    assert.include(lines[0], "nothing is removed")
    assert.notInclude(lines[0], "the stored token is removed")
    assert.notInclude(lines[0], "not-a-refresh-token")
    assert.isTrue(hooks.tokens.has(openid))
  })

  it("with the client's own store: the token is removed, and the log says so", async () => {
    const other = new OAuth(OA.appId, OA.secret)
    other.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url })
    clients.push(other)
    const token = await other.getAccessToken(await sandbox.code({ user: "alice" }))
    const openid = token.data.openid
    // a client whose store holds only the expired token (a store keeps the newest of two tokens)
    const client = new OAuth(OA.appId, OA.secret)
    client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url })
    clients.push(client)
    const [saveError] = await callback((cb) =>
      client.saveToken(openid, {
        ...token.data,
        create_at: Date.now() - 3 * 3600_000,
        refresh_token: "not-a-refresh-token"
      }, cb)
    )
    assert.isNull(saveError)
    const [error, logs] = await capturingLogs(() => client.getUser(openid).then(() => undefined, (error) => error))
    assert.strictEqual(error?.code, 40030)
    const lines = rejectedLine(logs)
    assert.lengthOf(lines, 1, logs.join("\n"))
    assert.include(lines[0], "remove the stored token")
    assert.notInclude(lines[0], "nothing is removed")
    const [readError, stored] = await callback((cb) => client.getToken(openid, cb))
    assert.isNull(readError)
    assert.isNull(stored ?? null)
  })
})
