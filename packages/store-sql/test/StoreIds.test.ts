/**
 * The ids a store is called with, on each database: one that a database takes for another user's
 * (MariaDB's utf8mb4_bin is PAD SPACE: 'oVictim' = 'oVictim '; PostgreSQL and MariaDB write a lone
 * surrogate as U+FFFD, so "o\uD800" and "o\uFFFD" are one row) is refused by SqlTokenStore,
 * SqlAppTokenStore and SqlSessionKeyStore with a TokenStoreError (core's rule, `TokenStore.checkUser`
 * / `AppTokenStore.checkKey`), and never reads, overwrites or deletes the victim's row. And ids that
 * differ only by case (WeChat's openids do), on a table whose ids ignore case (SQLite's
 * `COLLATE NOCASE`, MariaDB's `utf8mb4_general_ci`): the layers refuse the table, naming the
 * collation; a store `make` builds over it never gives one id's value to the other.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { AppTokenStore, SessionKeyStore, TokenStore } from "@wxauth/core"
import { makeAppToken, makeToken, randomAppId, randomOpenId, randomSessionKey } from "@wxauth/core/testing"
import { SqlAppTokenStore, SqlSessionKeyStore, SqlSessionStore, SqlTokenStore } from "@wxauth/store-sql"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import { type Database, dropTables, forEachDatabase, randomTable, singleTableLayer, storeLayer } from "./databases.js"

/** Asserts that `effect` fails with a TokenStoreError (not a success, not a defect). */
const refused = (label: string, effect: Effect.Effect<unknown, { readonly _tag: string }>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.either(effect)
    assert.isTrue(exit._tag === "Left" && exit.left._tag === "TokenStoreError", `${label} was not refused`)
  })

/** Ids a database takes for `id`'s row (padded), and a lone surrogate (its U+FFFD twin is set first). */
const lookAlikes = (id: string) => [`${id} `, `${id}  `, `${id}   `] as const

/** The collation, in `dialect`, of a column that ignores case ('oA' = 'oa'). */
const caseless = (dialect: Database["dialect"]) => dialect === "sqlite" ? "NOCASE" : "utf8mb4_general_ci"

/**
 * A store's DDL with its `columns` compared ignoring case (`caseless`): a table made by hand,
 * setup not run. PostgreSQL's collations are deterministic unless one is created.
 */
const ignoringCase = (
  dialect: Database["dialect"],
  statements: ReadonlyArray<string>,
  columns: ReadonlyArray<string>
) =>
  statements.map((statement) =>
    columns.reduce(
      (ddl, column) =>
        dialect === "sqlite"
          ? ddl.replace(new RegExp(`\\b${column} TEXT`), `${column} TEXT COLLATE NOCASE`)
          : ddl.replace(
            new RegExp(`\\b${column} (VARCHAR\\(\\d+\\)) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`),
            `${column} $1 CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`
          ),
      statement
    )
  )

/**
 * Makes the tables of `statements` (a store's DDL) with `columns` ignoring case (`ignoringCase`),
 * dropping `tables` when the scope closes.
 */
const made = (
  dialect: Database["dialect"],
  statements: ReadonlyArray<string>,
  columns: ReadonlyArray<string>,
  ...tables: ReadonlyArray<string>
) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* Effect.addFinalizer(() => Effect.ignore(dropTables(...tables)))
    const changed = ignoringCase(dialect, statements, columns)
    for (const column of columns) {
      assert.match(changed.join("\n"), new RegExp(`\\b${column} [^,\\n]*COLLATE ${caseless(dialect)}`))
    }
    for (const statement of changed) yield* sql.unsafe(statement)
  })

/** An id with upper-case letters, and the same id in lower case: two WeChat users. */
const twoCases = (prefix: string) => {
  const id = `${prefix}${Crypto.randomBytes(8).toString("hex").toUpperCase()}`
  return [id, id.toLowerCase()] as const
}

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

  // PostgreSQL's collations are deterministic (byte for byte) unless the operator creates one
  describe(`ids that differ only by case, on a table whose ids ignore case, on ${db.name}`, () => {
    type Built = Effect.Effect<unknown, { readonly _tag: string; readonly description?: string }, Scope.Scope>
    const stores: ReadonlyArray<
      readonly [
        name: string,
        ddl: (table: string) => Either.Either<ReadonlyArray<string>, unknown>,
        columns: ReadonlyArray<string>,
        build: (sql: SqlClient.SqlClient, options: { readonly table: string; readonly setup: boolean }) => Built
      ]
    > = [
      [
        "SqlSessionKeyStore",
        (table) => SqlSessionKeyStore.ddl(db.dialect, { table }),
        ["openid"],
        (sql, options) => Layer.build(SqlSessionKeyStore.layerFromClient(sql, options))
      ],
      [
        "SqlTokenStore",
        (table) => SqlTokenStore.ddl(db.dialect, { table }),
        ["openid", "code_hash"],
        (sql, options) => Layer.build(SqlTokenStore.layerFromClient(sql, options))
      ],
      [
        "SqlAppTokenStore",
        (table) => SqlAppTokenStore.ddl(db.dialect, { table }),
        ["app_id"],
        (sql, options) => Layer.build(SqlAppTokenStore.layerFromClient(sql, options))
      ],
      [
        "SqlSessionStore",
        (table) => SqlSessionStore.ddl(db.dialect, { table }),
        ["openid"],
        (sql, options) => Layer.build(SqlSessionStore.layerFromClient(sql, options))
      ]
    ]
    for (const [name, ddl, columns, build] of stores) {
      it.scopedLive(`${name}: the layer refuses the table, with setup and without, naming the column and its collation`, () =>
        Effect.gen(function*() {
          if (db.dialect === "pg") return
          const sql = yield* SqlClient.SqlClient
          const table = randomTable("wxauth_ci")
          yield* made(db.dialect, yield* ddl(table), columns, table, `${table}_codes`)
          for (const setup of [true, false]) {
            // before, on SQLite: the layer was built, and a get of 'oa' read the row of 'oA'
            const error = yield* Effect.flip(build(sql, { table, setup }))
            assert.strictEqual(error._tag, name === "SqlSessionStore" ? "SessionStoreError" : "TokenStoreError")
            assert.include(
              error.description,
              `the table ${table} is not the store's: its column ${columns[0]} has the collation ${
                caseless(db.dialect)
              }, which does not compare byte for byte`
            )
          }
        }).pipe(Effect.provide(db.client())))
    }

    it.scopedLive("SqlSessionKeyStore built by make: no get gives one user's key to the other, whatever was set last", () =>
      Effect.gen(function*() {
        if (db.dialect === "pg") return
        const table = randomTable("wxauth_ci")
        yield* made(db.dialect, yield* SqlSessionKeyStore.ddl(db.dialect, { table }), ["openid"], table)
        const store = yield* SqlSessionKeyStore.make({ table })
        const appId = randomAppId()
        const [victim, other] = twoCases("oVictim")
        const [victimKey, otherKey] = [randomSessionKey(), randomSessionKey()]
        yield* store.set(appId, victim, victimKey)
        // before: Some(the victim's key)
        assert.isTrue(Option.isNone(yield* store.get(appId, other)), "the other user read the victim's key")
        yield* store.set(appId, other, otherKey)
        // one row: it holds the other's key now, and names the other
        assert.isTrue(Option.isNone(yield* store.get(appId, victim)), "the victim read the other user's key")
        assert.strictEqual(Redacted.value(Option.getOrThrow(yield* store.get(appId, other))), Redacted.value(otherKey))
      }).pipe(Effect.provide(db.client())))

    it.scopedLive("SqlTokenStore built by make: no get or recallCode gives one user's token or memo to the other", () =>
      Effect.gen(function*() {
        if (db.dialect === "pg") return
        const table = randomTable("wxauth_ci")
        const statements = yield* SqlTokenStore.ddl(db.dialect, { table })
        yield* made(db.dialect, statements, ["openid", "code_hash"], table, `${table}_codes`)
        const store = yield* SqlTokenStore.make({ table })
        const appId = randomAppId()
        const [victim, other] = twoCases("oVictim")
        const victimToken = yield* makeToken({ openid: victim })
        yield* store.set(appId, victimToken)
        // before: a TokenStoreError ("the stored token belongs to another openid")
        assert.isTrue(Option.isNone(yield* store.get(appId, other)), "the other user's get found a token")
        const otherToken = yield* makeToken({ openid: other, obtainedAt: victimToken.obtainedAt + 1 })
        yield* store.set(appId, otherToken)
        assert.isTrue(Option.isNone(yield* store.get(appId, victim)), "the victim's get found a token")
        assert.strictEqual(
          Redacted.value(Option.getOrThrow(yield* store.get(appId, other)).accessToken),
          Redacted.value(otherToken.accessToken)
        )
        const [hash, lower] = twoCases("")
        const now = yield* Clock.currentTimeMillis
        yield* store.rememberCode(
          appId,
          hash,
          new TokenStore.CodeMemo({ openid: victim, exchangedAt: now, expiresAt: now + 60_000 })
        )
        assert.isTrue(Option.isNone(yield* store.recallCode(appId, lower)), "another code recalled the victim's memo")
        assert.strictEqual(Option.getOrThrow(yield* store.recallCode(appId, hash)).openid, victim)
      }).pipe(Effect.provide(db.client())))

    it.scopedLive("SqlAppTokenStore built by make: no get gives one key's token to the other", () =>
      Effect.gen(function*() {
        if (db.dialect === "pg") return
        const table = randomTable("wxauth_ci")
        yield* made(db.dialect, yield* SqlAppTokenStore.ddl(db.dialect, { table }), ["app_id"], table)
        const store = yield* SqlAppTokenStore.make({ table })
        const [key, other] = twoCases("wxA")
        const token = yield* makeAppToken()
        yield* store.set(key, token)
        // before: Some(the other key's token)
        assert.isTrue(Option.isNone(yield* store.get(other)), "another key read the token")
        const otherToken = yield* makeAppToken({ obtainedAt: token.obtainedAt + 1 })
        yield* store.set(other, otherToken)
        assert.isTrue(Option.isNone(yield* store.get(key)), "the first key read the other's token")
        assert.strictEqual(
          Redacted.value(Option.getOrThrow(yield* store.get(other)).accessToken),
          Redacted.value(otherToken.accessToken)
        )
      }).pipe(Effect.provide(db.client())))
  })
})
