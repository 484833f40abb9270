/**
 * The hooks' store (`saveToken`): the token it is given is read once (core's `TokenStore.checkToken`),
 * so the hook gets one copy's openid and data, whatever a getter of the object answers later.
 */
import { assert, describe, it } from "@effect/vitest"
import { TokenStore } from "@wxauth/core"
import { makeToken, randomOpenId } from "@wxauth/core/testing"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { TokenData } from "../src/AccessToken.js"
import * as Hooks from "../src/internal/hooks.js"

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
