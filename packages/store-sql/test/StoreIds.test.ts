/**
 * The ids a store is called with, on each database: one that a database takes for another user's
 * (MariaDB's utf8mb4_bin is PAD SPACE: 'oVictim' = 'oVictim '; PostgreSQL and MariaDB write a lone
 * surrogate as U+FFFD, so "o\uD800" and "o\uFFFD" are one row) is refused by SqlTokenStore,
 * SqlAppTokenStore and SqlSessionKeyStore with a TokenStoreError (core's rule, `TokenStore.checkUser`
 * / `AppTokenStore.checkKey`), and never reads, overwrites or deletes the victim's row.
 */
import { assert, describe, it } from "@effect/vitest"
import { AppTokenStore, SessionKeyStore, TokenStore } from "@wxauth/core"
import { makeAppToken, makeToken, randomAppId, randomOpenId, randomSessionKey } from "@wxauth/core/testing"
import { SqlAppTokenStore, SqlSessionKeyStore } from "@wxauth/store-sql"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { forEachDatabase, singleTableLayer, storeLayer } from "./databases.js"

/** Asserts that `effect` fails with a TokenStoreError (not a success, not a defect). */
const refused = (label: string, effect: Effect.Effect<unknown, { readonly _tag: string }>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.either(effect)
    assert.isTrue(exit._tag === "Left" && exit.left._tag === "TokenStoreError", `${label} was not refused`)
  })

/** Ids a database takes for `id`'s row (padded), and a lone surrogate (its U+FFFD twin is set first). */
const lookAlikes = (id: string) => [`${id} `, `${id}  `, `${id}   `] as const

forEachDatabase((db) => {
  describe(`ids a database takes for another's, on ${db.name}`, () => {
    it.scopedLive("SqlTokenStore: a padded or lone-surrogate openid is refused and reaches no other user's row", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore.TokenStore
        const appId = randomAppId()
        const victim = yield* makeToken({ openid: randomOpenId() })
        yield* store.set(appId, victim)
        for (const openid of lookAlikes(victim.openid)) {
          yield* refused(`get ${JSON.stringify(openid)}`, store.get(appId, openid))
          yield* refused(`set ${JSON.stringify(openid)}`, store.set(appId, yield* makeToken({ openid })))
          yield* refused(`remove ${JSON.stringify(openid)}`, store.remove(appId, openid))
        }
        yield* refused("get with a padded appId", store.get(`${appId} `, victim.openid))
        const found = yield* store.get(appId, victim.openid)
        assert.isTrue(Option.isSome(found), "the victim's token is still there")
        assert.strictEqual(Redacted.value(Option.getOrThrow(found).accessToken), Redacted.value(victim.accessToken))
        // "o\uFFFD" and "o\uD800": one row where the database writes the surrogate as U+FFFD
        const twin = `${randomOpenId()}\uFFFD`
        yield* Effect.ignore(store.set(appId, yield* makeToken({ openid: twin })))
        const lone = `${twin.slice(0, -1)}\uD800`
        yield* refused("get of a lone surrogate", store.get(appId, lone))
        yield* refused("set of a lone surrogate", store.set(appId, yield* makeToken({ openid: lone })))
        yield* refused("remove of a lone surrogate", store.remove(appId, lone))
      }).pipe(Effect.provide(storeLayer(db))))

    it.scopedLive("SqlAppTokenStore: a padded or lone-surrogate key is refused and reaches no other key's token", () =>
      Effect.gen(function*() {
        const store = yield* AppTokenStore.AppTokenStore
        const appId = randomAppId()
        const victim = yield* makeAppToken()
        yield* store.set(appId, victim)
        for (const key of lookAlikes(appId)) {
          yield* refused(`get ${JSON.stringify(key)}`, store.get(key))
          yield* refused(`set ${JSON.stringify(key)}`, store.set(key, yield* makeAppToken()))
        }
        const found = yield* store.get(appId)
        assert.isTrue(Option.isSome(found), "the victim's token is still there")
        assert.strictEqual(Redacted.value(Option.getOrThrow(found).accessToken), Redacted.value(victim.accessToken))
        const twin = `${randomAppId()}\uFFFD`
        yield* Effect.ignore(store.set(twin, yield* makeAppToken()))
        const lone = `${twin.slice(0, -1)}\uD800`
        yield* refused("get of a lone surrogate", store.get(lone))
        yield* refused("set of a lone surrogate", store.set(lone, yield* makeAppToken()))
      }).pipe(Effect.provide(singleTableLayer(db, SqlAppTokenStore.layer, "wxauth_a", {}))))

    it.scopedLive("SqlSessionKeyStore: a padded or lone-surrogate openid is refused and reaches no other user's key", () =>
      Effect.gen(function*() {
        const store = yield* SessionKeyStore.SessionKeyStore
        const [appId, openid] = [randomAppId(), randomOpenId()]
        const key = randomSessionKey()
        yield* store.set(appId, openid, key)
        for (const other of lookAlikes(openid)) {
          yield* refused(`get ${JSON.stringify(other)}`, store.get(appId, other))
          yield* refused(`set ${JSON.stringify(other)}`, store.set(appId, other, randomSessionKey()))
          yield* refused(`remove ${JSON.stringify(other)}`, store.remove(appId, other))
        }
        yield* refused("get with a padded appId", store.get(`${appId} `, openid))
        const found = yield* store.get(appId, openid)
        assert.isTrue(Option.isSome(found), "the victim's key is still there")
        assert.strictEqual(Redacted.value(Option.getOrThrow(found)), Redacted.value(key))
        const twin = `${randomOpenId()}\uFFFD`
        yield* Effect.ignore(store.set(appId, twin, randomSessionKey()))
        const lone = `${twin.slice(0, -1)}\uD800`
        yield* refused("get of a lone surrogate", store.get(appId, lone))
        yield* refused("set of a lone surrogate", store.set(appId, lone, randomSessionKey()))
        yield* refused("remove of a lone surrogate", store.remove(appId, lone))
      }).pipe(Effect.provide(singleTableLayer(db, SqlSessionKeyStore.layer, "wxauth_k", {}))))
  })
})
