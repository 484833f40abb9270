/**
 * A token or code memo whose times are not finite numbers in the storable range (`Infinity`, `NaN`,
 * `1e300`) is refused by the store with a `TokenStoreError` naming the field, before any SQL runs,
 * on every database; nothing is written.
 */
import { assert, describe, it } from "@effect/vitest"
import { OAuthToken, TokenStore, WeChatError } from "@wxauth/core"
import { makeToken, randomAppId } from "@wxauth/core/testing"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { forEachDatabase, storeLayer } from "./databases.js"

const bad = [Infinity, -Infinity, NaN, 1e300] as const

forEachDatabase((db) => {
  describe(`SqlTokenStore on ${db.name}: numbers it cannot store`, () => {
    it.layer(storeLayer(db))((it) => {
      for (const field of ["obtainedAt", "expiresAt", "refreshExpiresAt"] as const) {
        it.effect(`set refuses a token whose ${field} is ${bad.join(", ")}`, () =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const appId = randomAppId()
            for (const value of bad) {
              const valid = yield* makeToken()
              // past any validation of the constructor: the store is the last line
              const token = new OAuthToken.OAuthToken({ ...valid, [field]: value }, true)
              const error = yield* Effect.flip(store.set(appId, token))
              assert.instanceOf(error, WeChatError.TokenStoreError)
              assert.strictEqual(error.operation, "set")
              assert.include(error.description, field)
              assert.isTrue(Option.isNone(yield* store.get(appId, token.openid)), "nothing was written")
            }
          }))
      }

      for (const field of ["exchangedAt", "expiresAt"] as const) {
        it.effect(`rememberCode refuses a memo whose ${field} is ${bad.join(", ")}`, () =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const appId = randomAppId()
            for (const [i, value] of bad.entries()) {
              const codeHash = String(i).repeat(64)
              const memo = new TokenStore.CodeMemo(
                { openid: "oOpenId", exchangedAt: 1, expiresAt: Date.now() + 60_000, [field]: value },
                true
              )
              const error = yield* Effect.flip(store.rememberCode(appId, codeHash, memo))
              assert.instanceOf(error, WeChatError.TokenStoreError)
              assert.strictEqual(error.operation, "rememberCode")
              assert.include(error.description, field)
              assert.isTrue(Option.isNone(yield* store.recallCode(appId, codeHash)), "nothing was written")
            }
          }))
      }
    })
  })
})
