/**
 * The hooks' store (`saveToken`): the token it is given is read once, by shape (a token of another
 * copy of the core passes, as under wechat-oauth's API), so the hook gets one read's openid and data,
 * whatever a getter of the object answers later.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import OAuth from "@wxauth/compat"
import { TokenStore } from "@wxauth/core"
import { makeToken, randomOpenId } from "@wxauth/core/testing"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { TokenData } from "../src/AccessToken.js"
import * as Hooks from "../src/internal/hooks.js"
import { callback, OA } from "./helpers.js"

const storeWith = (saved: Array<readonly [string, TokenData]>) =>
  Effect.map(TokenStore.makeMemory(), (memory) =>
    Hooks.makeStore({
      self: {},
      getToken: () => undefined,
      saveToken: () => (openid, token, callback) => {
        saved.push([openid, token])
        callback(null)
      },
      memory,
      timeout: Duration.seconds(5)
    }))

describe("the saveToken hook's store", () => {
  it.effect("a token whose openid answers one user then another is saved as the first, openid and data alike", () =>
    Effect.gen(function*() {
      const saved: Array<readonly [string, TokenData]> = []
      const store = yield* storeWith(saved)
      const [first, later] = [randomOpenId(), randomOpenId()]
      const token = yield* makeToken({ openid: first })
      let reads = 0
      Object.defineProperty(token, "openid", { get: () => reads++ === 0 ? first : later })
      yield* store.set("wx1234567890abcdef", token)
      assert.deepStrictEqual(saved.map(([openid, data]) => [openid, data.openid]), [[first, first]])
    }))

  it.effect("a token of another copy of the core (its shape, not this copy's class) reaches the hook; a non-token does not", () =>
    Effect.gen(function*() {
      const saved: Array<readonly [string, TokenData]> = []
      const store = yield* storeWith(saved)
      const token = yield* makeToken()
      // what another copy's OAuthToken looks like to this copy: the same fields, none of its private ones
      const other = {
        openid: token.openid,
        accessToken: Redacted.make(Redacted.value(token.accessToken)),
        refreshToken: Redacted.make(Redacted.value(token.refreshToken)),
        scope: [...token.scope],
        isSnapshotUser: false,
        obtainedAt: token.obtainedAt,
        expiresAt: token.expiresAt,
        refreshExpiresAt: token.refreshExpiresAt
      }
      yield* store.set("wx1234567890abcdef", other as never)
      assert.deepStrictEqual(saved.map(([openid, data]) => [openid, data.access_token]), [[
        token.openid,
        Redacted.value(token.accessToken)
      ]])
      const refused = yield* Effect.flip(store.set("wx1234567890abcdef", { openid: token.openid } as never))
      assert.strictEqual(refused._tag, "TokenStoreError")
      assert.strictEqual(saved.length, 1)
    }))

  it.effect("a token whose getter throws after its first read is saved as first read; at once, a TokenStoreError", () =>
    Effect.gen(function*() {
      const saved: Array<readonly [string, TokenData]> = []
      const store = yield* storeWith(saved)
      for (const allowed of [0, 1, 2]) {
        const token = yield* makeToken()
        const openid = token.openid
        let reads = 0
        Object.defineProperty(token, "openid", {
          get: () => {
            if (reads++ >= allowed) throw new Error("trap")
            return openid
          }
        })
        const exit = yield* Effect.either(store.set("wx1234567890abcdef", token))
        if (allowed === 0) {
          assert.isTrue(exit._tag === "Left" && exit.left._tag === "TokenStoreError", "expected a TokenStoreError")
        } else {
          assert.strictEqual(exit._tag, "Right", `throws after ${allowed} reads: expected the token saved`)
          assert.strictEqual(saved.at(-1)?.[1].openid, openid)
        }
      }
    }))
})

describe("a getToken hook over a Redis hash (ioredis' hgetall answers {} for a missing key)", () => {
  const clients: Array<OAuth> = []
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()))
  })
  // none of access_token, refresh_token, openid: no token (blank and null fields too: an all-NULL row)
  const empties: ReadonlyArray<unknown> = [{}, { access_token: "", refresh_token: null, openid: "" }, { data: {} }]

  it.effect("the store reads such a record as no token, not as a malformed one", () =>
    Effect.gen(function*() {
      const memory = yield* TokenStore.makeMemory()
      for (const empty of empties) {
        const store = Hooks.makeStore({
          self: {},
          getToken: () => (_openid, cb) => cb(null, empty as never),
          saveToken: () => (_openid, _token, cb) => cb(null),
          memory,
          timeout: Duration.seconds(5)
        })
        const read = yield* store.get(OA.appId, randomOpenId())
        assert.isTrue(Option.isNone(read), JSON.stringify(empty))
      }
    }))

  it("getUser: NoOAuthTokenError, as for null (wechat-oauth: its refresh of no refresh token)", async () => {
    for (const empty of empties) {
      const client = new OAuth(OA.appId, OA.secret, (_openid, cb) => cb(null, empty as never), (_o, _t, cb) => cb(null))
      clients.push(client)
      const [err] = await callback((cb) => client.getUser("oNeverLoggedIn", cb))
      assert.strictEqual(err?.name, "NoOAuthTokenError", JSON.stringify(empty))
    }
  })

  it.effect("a record with one of the three is still read, and refused when malformed", () =>
    Effect.gen(function*() {
      const memory = yield* TokenStore.makeMemory()
      const store = Hooks.makeStore({
        self: {},
        getToken: () => (openid, cb) => cb(null, { openid } as never),
        saveToken: () => (_openid, _token, cb) => cb(null),
        memory,
        timeout: Duration.seconds(5)
      })
      const refused = yield* Effect.flip(store.get(OA.appId, randomOpenId()))
      assert.strictEqual(refused._tag, "TokenStoreError")
    }))
})
