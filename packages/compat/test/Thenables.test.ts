/**
 * What an app's function returns beside calling back: database query objects are thenables that are
 * not promises (mysql2's `Query`, whose `then` throws; mongoose's `Query`, whose `then` runs the query
 * again). A hook (or an overriding `request`) that takes the callback answers by it, whatever it
 * returns; a thenable counts only from a function that does not take the callback; a native promise
 * always counts. Against the sandbox over HTTP.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import OAuth from "@wxauth/compat"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type { HookName } from "../src/internal/appFailure.js"
import * as Hooks from "../src/internal/hooks.js"
import { callback, capturingLogs, MINI, OA, type RunningSandbox, startSandbox } from "./helpers.js"

let sandbox: RunningSandbox
const clients: Array<OAuth> = []

const make = (...args: ConstructorParameters<typeof OAuth>) => {
  const client = new OAuth(...args)
  client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url })
  clients.push(client)
  return client
}

beforeAll(async () => {
  sandbox = await startSandbox()
})

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()))
  await sandbox?.dispose()
})

/** Lets forked log fibers run. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** mysql2's `Query#then`: not a promise, a programming error. */
const throwingThenable = () => ({
  then() {
    throw new Error("You have tried to call .then() on the result of query that is not a promise")
  }
})

/** mongoose's `Query#then`: runs the query (once more), then resolves with its result. */
const executingThenable = (runs: { made: number; count: number }, result: () => unknown) => {
  runs.made++
  return {
    then(onFulfilled: (value: unknown) => unknown, onRejected?: (error: unknown) => unknown) {
      runs.count++
      return Promise.resolve().then(result).then(onFulfilled, onRejected)
    }
  }
}

/** A store of wechat-oauth token objects, answering by callback (later, as a database does). */
const tokens = new Map<string, any>()
const later = (f: () => void) => setImmediate(f)

describe("a hook that takes the callback and returns a thenable that is not a promise", () => {
  it("getToken and saveToken returning a thenable whose then throws (mysql2's Query): the callback counts", async () => {
    const client = make(
      OA.appId,
      OA.secret,
      (openid, cb) => (later(() => cb(null, tokens.get(openid))), throwingThenable()),
      (openid, token, cb) => (later(() => (tokens.set(openid, { ...token }), cb(null))), throwingThenable())
    )
    const [err, token] = await callback<any>(async (cb) => client.getAccessToken(await sandbox.code(), cb))
    assert.isNull(err)
    assert.strictEqual(tokens.get(token.data.openid).access_token, token.data.access_token)
    const [err2, user] = await callback<any>((cb) => client.getUser(token.data.openid, cb))
    assert.isNull(err2)
    assert.strictEqual(user.openid, token.data.openid)
  })

  it("getToken and saveToken returning a thenable whose then runs the query (mongoose's Query): it is not run again", async () => {
    const runs = { made: 0, count: 0 }
    const client = make(
      OA.appId,
      OA.secret,
      (openid, cb) => (later(() => cb(null, tokens.get(openid))), executingThenable(runs, () => tokens.get(openid))),
      (
        openid,
        token,
        cb
      ) => (later(() => (tokens.set(openid, { ...token }), cb(null))), executingThenable(runs, () => undefined))
    )
    const token = await client.getAccessToken(await sandbox.code({ user: "bob" }))
    const user = await client.getUser(token.data.openid)
    assert.strictEqual(user.openid, token.data.openid)
    assert.isAbove(runs.made, 1)
    assert.strictEqual(runs.count, 0)
  })

  it("one that never calls back fails after hookTimeout, not at once with its then's error", async () => {
    const client = make(OA.appId, OA.secret, (_openid, _cb) => throwingThenable())
    client.setOpts({ apiBaseUrl: sandbox.url, hookTimeout: "300 millis" })
    const started = Date.now()
    const [err] = await callback((cb) => client.getUser("o_someone", cb))
    assert.isAtLeast(Date.now() - started, 250)
    assert.strictEqual(err.name, "WeChatAPITokenStoreError")
    assert.include(err.message, "getToken hook")
  })
})

describe("a hook that does not take the callback", () => {
  it("returning a thenable (a query builder): its then runs once and its value counts", async () => {
    const runs = { made: 0, count: 0 }
    const client = make(
      OA.appId,
      OA.secret,
      (openid) => executingThenable(runs, () => tokens.get(openid)),
      (openid, token) => executingThenable(runs, () => void tokens.set(openid, { ...token }))
    )
    const token = await client.getAccessToken(await sandbox.code({ user: "carol" }))
    assert.strictEqual(tokens.get(token.data.openid).access_token, token.data.access_token)
    const user = await client.getUser(token.data.openid)
    assert.strictEqual(user.openid, token.data.openid)
    assert.isAbove(runs.made, 1)
    assert.strictEqual(runs.count, runs.made)
  })

  it("returning a thenable whose then throws: not a promise, the hook never answers (hookTimeout)", async () => {
    const client = make(OA.appId, OA.secret, (_openid: string) => throwingThenable())
    client.setOpts({ apiBaseUrl: sandbox.url, hookTimeout: "300 millis" })
    const [err] = await callback((cb) => client.getUser("o_someone", cb))
    assert.strictEqual(err.name, "WeChatAPITokenStoreError")
    assert.include(err.message, "neither called its callback nor settled")
  })
})

describe("a native promise counts, the callback declared or not", () => {
  it("an async getToken that declares the callback and resolves the token (null for none: undefined is no answer)", async () => {
    const client = make(
      OA.appId,
      OA.secret,
      async (openid, _cb) => tokens.get(openid) ?? null,
      async (openid, token, cb) => {
        tokens.set(openid, { ...token })
        cb(null)
      }
    )
    const token = await client.getAccessToken(await sandbox.code({ user: "dave" }))
    const user = await client.getUser(token.data.openid)
    assert.strictEqual(user.openid, token.data.openid)
  })

  it("an async getToken that declares the callback and resolves null: no token, at once", async () => {
    const client = make(OA.appId, OA.secret, async (_openid, _cb) => null)
    client.setOpts({ apiBaseUrl: sandbox.url, hookTimeout: "20 seconds" })
    const [err] = await callback((cb) => client.getUser("o_nobody", cb))
    assert.strictEqual(err.name, "NoOAuthTokenError")
  })
})

describe("an async function that declares the callback and hands it on without awaiting (wechat-oauth ignored its promise)", () => {
  /** ioredis' callback API: answers later, after the async function's promise resolved undefined. */
  const redisLike = new Map<string, string>()
  const get = (key: string, cb: (err: unknown, value: string | null) => void) =>
    later(() => cb(null, redisLike.get(key) ?? null))
  const set = (key: string, value: string, cb: (err: unknown) => void) =>
    later(() => (redisLike.set(key, value), cb(null)))

  it("getToken and saveToken: the callback's answer counts, getUser finds the saved token", async () => {
    const client = make(
      OA.appId,
      OA.secret,
      async function(openid, callback) {
        get(`t:${openid}`, (err, value) => callback(err, value && JSON.parse(value)))
      },
      async function(openid, token, callback) {
        set(`t:${openid}`, JSON.stringify(token), (err) => callback(err))
      }
    )
    const [err, token] = await callback<any>(async (cb) =>
      client.getAccessToken(await sandbox.code({ user: "bob" }), cb)
    )
    assert.isNull(err)
    const [err2, user] = await callback<any>((cb) => client.getUser(token.data.openid, cb))
    assert.isNull(err2)
    assert.strictEqual(user.openid, token.data.openid)
  })

  it("a saveToken whose callback gets an error: the call fails with it", async () => {
    const failure = new Error("WRONGTYPE Operation against a key holding the wrong kind of value")
    const client = make(
      OA.appId,
      OA.secret,
      async function(_openid, callback) {
        later(() => callback(null, null))
      },
      async function(_openid, _token, callback) {
        later(() => callback(failure))
      }
    )
    const [err] = await callback<any>(async (cb) => client.getAccessToken(await sandbox.code({ user: "bob" }), cb))
    assert.strictEqual(err, failure)
  })

  it("a saveToken whose callback gets an error 30 ms after its promise resolved (within the 2 s grace): the call fails with it", async () => {
    const failure = new Error("WRONGTYPE late")
    const client = make(
      OA.appId,
      OA.secret,
      async function(_openid, callback) {
        later(() => callback(null, null))
      },
      async function(_openid, _token, callback) {
        setTimeout(() => callback(failure), 30)
      }
    )
    client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url, hookTimeout: "1 hour" })
    const [err] = await callback<any>(async (cb) => client.getAccessToken(await sandbox.code({ user: "bob" }), cb))
    assert.strictEqual(err, failure)
  })

  it("an async _getUser override answering by its callback: getUser resolves with its user", async () => {
    class Subclass extends OAuth {}
    ;(Subclass.prototype as any)._getUser = async function(options: any, _accessToken: string, cb: any) {
      later(() => cb(null, { openid: options.openid, nickname: "from callback" }))
    }
    const client = new Subclass(OA.appId, OA.secret)
    client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url })
    clients.push(client)
    const token = await client.getAccessToken(await sandbox.code({ user: "bob" }))
    const user: unknown = await client.getUser(token.data.openid)
    assert.deepStrictEqual(user, { openid: token.data.openid, nickname: "from callback" })
  })

  it("one whose promise resolves undefined and that never calls back fails after hookTimeout", async () => {
    const client = make(OA.appId, OA.secret, async function(_openid, _callback) {})
    client.setOpts({ apiBaseUrl: sandbox.url, hookTimeout: "300 millis" })
    const [err] = await callback((cb) => client.getUser("o_someone", cb))
    assert.strictEqual(err.name, "WeChatAPITokenStoreError")
    assert.include(err.message, "neither called its callback nor settled")
  })

  it("one whose promise rejects: the rejection counts, the callback is not waited for", async () => {
    const failure = new Error("down")
    const client = make(OA.appId, OA.secret, async function(_openid, _callback) {
      throw failure
    })
    client.setOpts({ apiBaseUrl: sandbox.url, hookTimeout: "20 seconds" })
    const [err] = await callback((cb) => client.getUser("o_someone", cb))
    assert.strictEqual(err, failure)
  })
})

describe("a saveToken that declares the callback and answers by its promise (the public SaveToken type declares it)", () => {
  it("resolving undefined without calling back is saved after the 2 s grace (not hookTimeout), with one warning", async () => {
    const db = new Map<string, any>()
    const client = make(
      OA.appId,
      OA.secret,
      (openid, cb) => later(() => cb(null, db.get(openid) ?? null)),
      async (openid, token, _cb) => {
        await new Promise((resolve) => later(() => resolve(undefined)))
        db.set(openid, { ...token })
      }
    )
    client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url, hookTimeout: "1 hour" })
    const code = await sandbox.code({ user: "bob" })
    const [[err, token], logs] = await capturingLogs(async () => {
      const result = await callback<any>((cb) => client.getAccessToken(code, cb))
      await settle()
      return result
    })
    assert.isNull(err)
    assert.isTrue(db.has(token.data.openid))
    const warnings = logs.filter((line) =>
      line.includes("the saveToken hook returned a promise that resolved undefined and did not call its callback")
    )
    assert.strictEqual(warnings.length, 1)
  })
})

describe("a getToken that declares the callback, whose promise resolves undefined and that does not call back", () => {
  it("fails after hookTimeout, with one warning naming the hook (once per hook) when 100 ms passed without the callback", async () => {
    const hook = async function(_openid: string, _callback: unknown) {}
    const client = make(OA.appId, OA.secret, hook)
    client.setOpts({ apiBaseUrl: sandbox.url, hookTimeout: "1 second" })
    const [[first, second], logs] = await capturingLogs(async () => {
      const one = await callback((cb) => client.getUser("o_someone", cb))
      const two = await callback((cb) => client.getUser("o_someone", cb))
      await settle()
      return [one[0], two[0]]
    })
    assert.strictEqual(first.name, "WeChatAPITokenStoreError")
    assert.strictEqual(second.name, "WeChatAPITokenStoreError")
    const warnings = logs.filter((line) =>
      line.includes("the getToken hook returned a promise that resolved undefined")
    )
    assert.strictEqual(warnings.length, 1)
  })
})

describe("rest-parameter wrappers (an APM or timing wrapper: length 0) around callback hooks", () => {
  const timed = (fn: (...args: Array<any>) => unknown) => async (...args: Array<any>) => await fn(...args)
  const store = new Map<string, string>()

  it("getToken's callback answer counts (not the wrapper's undefined), saveToken's undefined is saved", async () => {
    const client = make(
      OA.appId,
      OA.secret,
      timed((openid: string, cb: any) => void later(() => cb(null, JSON.parse(store.get(openid) ?? "null")))),
      timed((openid: string, token: any, cb: any) =>
        void later(() => (store.set(openid, JSON.stringify(token)), cb(null)))
      )
    )
    const [err, token] = await callback<any>(async (cb) =>
      client.getAccessToken(await sandbox.code({ user: "bob" }), cb)
    )
    assert.isNull(err)
    while (!store.has(token.data.openid)) await new Promise((resolve) => setImmediate(resolve))
    const [err2, user] = await callback<any>((cb) => client.getUser(token.data.openid, cb))
    assert.isNull(err2)
    assert.strictEqual(user.openid, token.data.openid)
  })

  it("a wrapped saveToken whose callback gets an error: the call fails with it", async () => {
    const failure = new Error("ECONNRESET while saving")
    const client = make(
      OA.appId,
      OA.secret,
      async (..._args: Array<any>) => null,
      timed((_openid: string, _token: any, cb: any) => void later(() => cb(failure)))
    )
    const [err] = await callback<any>(async (cb) => client.getAccessToken(await sandbox.code({ user: "bob" }), cb))
    assert.strictEqual(err, failure)
  })

  it("a wrapped getToken calling back 30 ms after its promise resolved undefined: the callback's token counts", async () => {
    const saved = new Map<string, any>()
    const client = make(
      OA.appId,
      OA.secret,
      timed((openid: string, cb: any) => void setTimeout(() => cb(null, saved.get(openid) ?? null), 30)),
      (openid: string, token: any, cb: any) => (saved.set(openid, { ...token }), cb(null))
    )
    client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url, hookTimeout: "1 hour" })
    const token = await client.getAccessToken(await sandbox.code({ user: "bob" }))
    const [err, user] = await callback<any>((cb) => client.getUser(token.data.openid, cb))
    assert.isNull(err)
    assert.strictEqual(user.openid, token.data.openid)
  })

  it(
    "a wrapped getToken whose promise resolves undefined and that never calls back: no token after the 2 s grace, not hookTimeout",
    async () => {
      const client = make(OA.appId, OA.secret, timed((_openid: string, _cb: any) => undefined))
      client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url, hookTimeout: "1 hour" })
      const [[err], logs] = await capturingLogs(async () => {
        const result = await callback<any>((cb) => client.getUser("o_someone", cb))
        await settle()
        return result
      })
      assert.strictEqual(err?.name, "NoOAuthTokenError")
      assert.isTrue(logs.some((line) => line.includes("the getToken hook returned a promise that resolved undefined")))
    },
    10_000
  )
})

describe("an overriding request that takes the callback and returns a thenable that is not a promise", () => {
  it("whose then throws: the callback counts", async () => {
    const client = make(OA.appId, OA.secret)
    const request: any = client.request
    ;(client as any).request = function(this: OAuth, url: string, args: unknown, cb: any) {
      request.call(this, url, args, cb)
      return throwingThenable()
    }
    const [err, token] = await callback<any>(async (cb) => client.getAccessToken(await sandbox.code(), cb))
    assert.isNull(err)
    assert.isString(token.data.access_token)
  })

  it("whose then sends the request again: it is not sent twice", async () => {
    const client = make(OA.appId, OA.secret)
    const request: any = client.request
    const runs = { made: 0, count: 0 }
    ;(client as any).request = function(this: OAuth, url: string, args: any, cb: any) {
      request.call(this, url, args, cb)
      return executingThenable(runs, () => request.call(this, url, args))
    }
    const before = await sandbox.stats()
    const token = await client.getAccessToken(await sandbox.code({ user: "alice" }))
    await client.verifyToken(token.data.openid, token.data.access_token)
    const after = await sandbox.stats()
    assert.strictEqual(runs.made, 2)
    assert.strictEqual(runs.count, 0)
    assert.strictEqual(after.access_token - before.access_token, 1)
  })
})

describe("a promise rejected without a reason (undefined, false, 0, '')", () => {
  it("fails the call with an Error, not with a falsy err that reads as success through a callback", async () => {
    for (const reason of [undefined, false, 0, ""]) {
      const hooked = make(OA.appId, OA.secret, async (_openid: string) => Promise.reject(reason))
      const [err] = await callback((cb) => hooked.getUser("o_someone", cb))
      assert.instanceOf(err, Error, `getToken rejecting with ${String(reason)}`)
      const requesting = make(OA.appId, OA.secret)
      ;(requesting as any).request = (_url: string, _args: unknown) => Promise.reject(reason)
      const [err2] = await callback((cb) => requesting.getAccessToken("CODE", cb))
      assert.instanceOf(err2, Error, `request rejecting with ${String(reason)}`)
    }
  })
})

describe("a falsy value thrown (undefined, null, 0, '') by the app's function", () => {
  it("fails the call with an Error naming the function, not with a falsy err that reads as success", async () => {
    for (const thrown of [undefined, null, 0, ""]) {
      const shown = thrown === "" ? "\"\"" : String(thrown)
      const expect = (err: unknown, message: string) => {
        assert.instanceOf(err, Error, `${message}: expected an Error, got ${String(err)}`)
        assert.strictEqual((err as Error).message, message)
      }
      const getting = make(OA.appId, OA.secret, (_openid: string, _cb: unknown) => {
        throw thrown
      })
      expect((await callback((cb) => getting.getUser("o_someone", cb)))[0], `the getToken hook threw ${shown}`)
      const saving = make(OA.appId, OA.secret, async () => null, (_openid: string, _token: unknown, _cb: unknown) => {
        throw thrown
      })
      const code = await sandbox.code({ user: "bob" })
      const [err, token] = await callback((cb) => saving.getAccessToken(code, cb))
      expect(err, `the saveToken hook threw ${shown}`)
      assert.isUndefined(token)
      const overriding = make(OA.appId, OA.secret)
      const stored = await overriding.getAccessToken(await sandbox.code({ user: "bob" }))
      ;(overriding as any)._getUser = function(_options: unknown, _accessToken: unknown, _cb: unknown) {
        throw thrown
      }
      expect(
        (await callback((cb) => overriding.getUser(stored.data.openid, cb)))[0],
        `this._getUser threw ${shown}`
      )
      const requesting = make(OA.appId, OA.secret)
      ;(requesting as any).request = function(_url: string, _args: unknown, _cb: unknown) {
        throw thrown
      }
      expect((await callback((cb) => requesting.getAccessToken("CODE", cb)))[0], `this.request threw ${shown}`)
      const decrypting = make(MINI.appId, MINI.secret, null as any, null as any, true)
      ;(decrypting as any).decryptMiniProgramUser = function(_options: unknown) {
        throw thrown
      }
      const jsCode = await sandbox.run(sandbox.sandbox.miniProgramLogin({ appId: MINI.appId, user: "bob" }))
      expect(
        (await callback((cb) => decrypting.getUserByCode({ code: jsCode, encryptedData: "DATA", iv: "IV" }, cb)))[0],
        `this.decryptMiniProgramUser threw ${shown}`
      )
    }
  })
})

describe("the grace's end: the deadline, a late callback's error, the timers", () => {
  it("hookTimeout shorter than the grace: the undefined counts at hookTimeout, with the one-time warning", async () => {
    const db = new Map<string, any>()
    const client = make(OA.appId, OA.secret, async (..._args: Array<any>) => undefined, async (openid, token, _cb) => {
      db.set(openid, { ...token })
    })
    client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url, hookTimeout: "300 millis" })
    const code = await sandbox.code({ user: "bob" })
    const [[saved, noToken], logs] = await capturingLogs(async () => {
      const [err, token] = await callback<any>((cb) => client.getAccessToken(code, cb))
      const [err2] = await callback<any>((cb) => client.getUser("o_nobody", cb))
      await settle()
      return [err === null && db.has(token.data.openid), err2?.name]
    })
    assert.isTrue(saved)
    assert.strictEqual(noToken, "NoOAuthTokenError")
    for (const hook of ["saveToken", "getToken"]) {
      const warnings = logs.filter((line) =>
        line.includes(`the ${hook} hook returned a promise that resolved undefined and did not call its callback`)
      )
      assert.strictEqual(warnings.length, 1, `${hook}: ${JSON.stringify(logs)}`)
      assert.include(warnings[0], "within hookTimeout (300 ms from the call)")
    }
  })

  it("a callback's error after the grace is logged by its type or its Error's name and code only: no token in the logs", async () => {
    const sql = "REPLACE INTO token(access_token, refresh_token) VALUES (?, ?)"
    const answers = {
      // a store calling back (doc): the token itself
      document: (token: any) => ({ ...token }),
      // a database error whose message, fields (and stack) hold what was being saved (MariaDB's
      // duplicate-key message quotes the key)
      error: (token: any) =>
        Object.assign(new Error(`Duplicate entry '${token.access_token}' for key 'PRIMARY'`), {
          code: "ER_DUP_ENTRY",
          sql: `${sql} -- ${token.access_token}`,
          values: [token.access_token, token.refresh_token]
        })
    }
    for (const [kind, answer] of Object.entries(answers)) {
      let late: Promise<void> = Promise.resolve()
      const client = make(OA.appId, OA.secret, async () => null, async (_openid, token, cb) => {
        late = new Promise((resolve) => setTimeout(() => resolve(cb(answer(token) as any)), 400))
      })
      client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url, hookTimeout: "300 millis" })
      const code = await sandbox.code({ user: "bob" })
      const [token, logs] = await capturingLogs(async () => {
        const result = await client.getAccessToken(code)
        await late
        await settle()
        return result
      })
      for (const line of logs) {
        assert.notInclude(line, token.data.access_token, kind)
        assert.notInclude(line, token.data.refresh_token, kind)
        assert.notInclude(line, "Duplicate entry", kind)
        assert.notInclude(line, "REPLACE INTO", kind)
        assert.notInclude(line, "Thenables.test", kind) // no stack trace
      }
      const warnings = logs.filter((line) => line.includes("then reported an error"))
      assert.strictEqual(warnings.length, 1, `${kind}: ${JSON.stringify(logs)}`)
      assert.include(
        warnings[0],
        kind === "document" ? "(a value of type object)" : "(Error, code ER_DUP_ENTRY)",
        kind
      )
    }
  })

  /** The live clock, counting the sleeps (the timers) begun and not yet ended or stopped. */
  const countingClock = () => {
    const base = Clock.make()
    const live = new Set<object>()
    const clock: Clock.Clock = Object.assign(Object.create(base), {
      sleep: (duration: Duration.Duration) =>
        Effect.suspend(() => {
          const sleep = {}
          live.add(sleep)
          return Effect.ensuring(base.sleep(duration), Effect.sync(() => live.delete(sleep)))
        })
    })
    return { clock, live }
  }

  it("a call answered within the grace (or within 100 ms of a declaring getToken's undefined) leaves no timer running", async () => {
    const failure = new Error("WRONGTYPE")
    const scenarios: Array<
      [string, HookName, (...args: Array<any>) => unknown, string, Exit.Exit<unknown, unknown>["_tag"]]
    > = [
      [
        "saveToken calling back null 20 ms after its promise resolved",
        "saveToken",
        async (_o: string, _t: unknown, cb: any) => {
          setTimeout(() => cb(null), 20)
        },
        "1 hour",
        "Success"
      ],
      [
        "saveToken calling back an error 20 ms after its promise resolved",
        "saveToken",
        async (_o: string, _t: unknown, cb: any) => {
          setTimeout(() => cb(failure), 20)
        },
        "1 hour",
        "Failure"
      ],
      [
        "arity-0 getToken calling back 20 ms after its promise resolved",
        "getToken",
        async (...args: Array<any>) => {
          setTimeout(() => args[1](null, null), 20)
        },
        "1 hour",
        "Success"
      ],
      [
        "declaring getToken calling back 20 ms after its promise resolved",
        "getToken",
        async (_o: string, cb: any) => {
          setTimeout(() => cb(null, null), 20)
        },
        "1 hour",
        "Success"
      ],
      [
        "saveToken whose grace the deadline ends",
        "saveToken",
        async (_o: string, _t: unknown, _cb: any) => {},
        "50 millis",
        "Success"
      ]
    ]
    for (const [name, hook, fn, timeout, expected] of scenarios) {
      const { clock, live } = countingClock()
      const args = hook === "saveToken" ? ["o_someone", {}] : ["o_someone"]
      const exit = await Effect.runPromiseExit(
        Hooks.callHook(hook, Duration.decode(timeout as Duration.DurationInput), fn, undefined, args).pipe(
          Effect.withClock(clock)
        )
      )
      assert.strictEqual(exit._tag, expected, name)
      await settle()
      assert.strictEqual(live.size, 0, `${name}: timers left running`)
    }
  })
})

describe("an overriding method's answer that cannot be read (a Proxy whose trap throws), by callback or by promise", () => {
  // `then` reads as none: a promise resolving with it resolves (a trap throwing on `then` rejects it)
  const trapping = (thrown: unknown) =>
    new Proxy({}, {
      get: (_target, key) => {
        if (key === "then") return undefined
        throw thrown
      }
    })
  const revokedData = () => {
    const { proxy, revoke } = Proxy.revocable({}, {})
    revoke()
    return { data: proxy }
  }
  const expired = (openid: string) => ({
    access_token: "ACCESS_TOKEN_VALUE",
    expires_in: 7200,
    refresh_token: "REFRESH_TOKEN_VALUE",
    openid,
    scope: "snsapi_userinfo",
    create_at: Date.now() - 3 * 3600 * 1000
  })
  /** The overrides, each with the call that reads its answer. */
  const overrides: Array<[string, (answer: () => unknown, byPromise: boolean) => Promise<unknown>]> = [
    ["getAccessToken", async (answer, byPromise) => {
      const client = make(OA.appId, OA.secret)
      ;(client as any).getAccessToken = byPromise
        ? async (_code: unknown) => answer()
        : (_code: unknown, cb: any) => cb(null, answer())
      return (await callback((cb) => client.getUserByCode("CODE", cb)))[0]
    }],
    ["getSessionKey", async (answer, byPromise) => {
      const client = make(MINI.appId, MINI.secret, null as any, null as any, true)
      ;(client as any).getSessionKey = byPromise
        ? async (_code: unknown) => answer()
        : (_code: unknown, cb: any) => cb(null, answer())
      return (await callback((cb) => client.getUserByCode({ code: "CODE", encryptedData: "DATA", iv: "IV" }, cb)))[0]
    }],
    ["refreshAccessToken", async (answer, byPromise) => {
      const client = make(OA.appId, OA.secret, (openid: string, cb: any) => cb(null, expired(openid)), (
        _openid: string,
        _token: unknown,
        cb: any
      ) => cb(null))
      ;(client as any).refreshAccessToken = byPromise
        ? async (_refreshToken: unknown) => answer()
        : (_refreshToken: unknown, cb: any) => cb(null, answer())
      return (await callback((cb) => client.getUser("o_expired", cb)))[0]
    }]
  ]
  for (const [name, run] of overrides) {
    it(`${name}: the error its trap threw (an Error naming it for a falsy one), not a WeChatAPIUnexpectedError`, async () => {
      for (const byPromise of [false, true]) {
        const form = byPromise ? "by promise" : "by callback"
        const thrown = new Error("trap")
        assert.strictEqual(await run(() => trapping(thrown), byPromise), thrown, `${form}: the trap's Error`)
        const err = await run(() => trapping(undefined), byPromise) as any
        assert.instanceOf(err, Error, `${form}: ${err?.name} ${err?.message}`)
        assert.strictEqual(err.message, `this.${name}'s answer could not be read: it threw undefined`, form)
        const revoked = await run(revokedData, byPromise) as any
        assert.instanceOf(revoked, TypeError, `${form}: ${revoked?.name} ${revoked?.message}`)
        assert.notStrictEqual(revoked?.name, "WeChatAPIUnexpectedError", form)
      }
    })
  }
})

describe("an accessor of the app's for an overridable method that throws (a subclass's getter)", () => {
  const fresh = (openid: string) => ({
    access_token: "ACCESS_TOKEN_VALUE",
    expires_in: 7200,
    refresh_token: "REFRESH_TOKEN_VALUE",
    openid,
    scope: "snsapi_userinfo",
    create_at: Date.now()
  })
  const throwing = (client: OAuth, name: string, thrown: unknown) =>
    Object.defineProperty(client, name, {
      get: () => {
        throw thrown
      }
    })
  const calls: Array<[string, (thrown: unknown) => Promise<unknown>]> = [
    ["getAccessToken", async (thrown) => {
      const client = throwing(make(OA.appId, OA.secret), "getAccessToken", thrown)
      return (await callback((cb) => client.getUserByCode("CODE", cb)))[0]
    }],
    ["_getUser", async (thrown) => {
      const client = throwing(
        make(
          OA.appId,
          OA.secret,
          (openid: string, cb: any) => cb(null, fresh(openid)),
          (_o: string, _t: unknown, cb: any) => cb(null)
        ),
        "_getUser",
        thrown
      )
      return (await callback((cb) => client.getUser("o_someone", cb)))[0]
    }],
    ["getSessionKey", async (thrown) => {
      const client = throwing(make(MINI.appId, MINI.secret, null as any, null as any, true), "getSessionKey", thrown)
      return (await callback((cb) => client.getUserByCode({ code: "CODE", encryptedData: "DATA", iv: "IV" }, cb)))[0]
    }],
    ["decryptMiniProgramUser", async (thrown) => {
      const client = make(MINI.appId, MINI.secret, null as any, null as any, true)
      ;(client as any).getSessionKey = (_code: unknown, cb: any) => cb(null, { data: { session_key: "S2V5" } })
      throwing(client, "decryptMiniProgramUser", thrown)
      return (await callback((cb) => client.getUserByCode({ code: "CODE", encryptedData: "DATA", iv: "IV" }, cb)))[0]
    }]
  ]
  for (const [name, run] of calls) {
    it(`${name}: the call fails with what it threw (an Error naming it for a falsy value), not a WeChatAPIUnexpectedError`, async () => {
      const thrown = new Error("accessor")
      const err = await run(thrown) as any
      assert.strictEqual(err, thrown, `${err?.name} ${err?.message}`)
      const falsy = await run(undefined) as any
      assert.instanceOf(falsy, Error, `${falsy?.name} ${falsy?.message}`)
      assert.strictEqual(falsy.message, `this.${name} threw undefined`)
    })
  }
})

describe("an accessor of the app's for a hook that throws (getToken, saveToken)", () => {
  const save = (_openid: string, _token: unknown, cb: any) => cb(null)
  const get = (_openid: string, cb: any) => cb(null, null)
  /** getAccessToken's [err, token's openid] on a client whose hook is `hook` (or an accessor throwing `thrown`). */
  const exchange = async (name: "getToken" | "saveToken", thrown: unknown, asAccessor: boolean) => {
    const throwingHook = (..._args: Array<unknown>) => {
      throw thrown
    }
    const client = name === "getToken"
      ? make(OA.appId, OA.secret, asAccessor ? get : throwingHook as any, save)
      : make(OA.appId, OA.secret, get, asAccessor ? save : throwingHook as any)
    if (asAccessor) {
      Object.defineProperty(client, name, {
        get: () => {
          throw thrown
        }
      })
    }
    const code = await sandbox.code({ user: "bob" })
    const [err, token] = await callback<any>((cb) => client.getAccessToken(code, cb))
    return [err, token?.data?.openid === undefined ? undefined : "openid"]
  }
  for (const name of ["getToken", "saveToken"] as const) {
    it(`${name}: getAccessToken ends as with a ${name} hook that throws (its error as it is), not a WeChatAPIUnexpectedError`, async () => {
      for (const thrown of [new Error("accessor"), undefined]) {
        const [err, token] = await exchange(name, thrown, true)
        const [hookErr, hookToken] = await exchange(name, thrown, false)
        assert.notStrictEqual(err?.name, "WeChatAPIUnexpectedError", `${err?.name} ${err?.message}`)
        assert.deepStrictEqual(
          [err?.message, token],
          [hookErr?.message, hookToken],
          `${name} throwing ${String(thrown)}`
        )
        if (name === "saveToken") {
          if (thrown !== undefined) assert.strictEqual(err, thrown)
          else assert.strictEqual(err?.message, "the saveToken hook threw undefined")
        }
      }
    })
  }
})
