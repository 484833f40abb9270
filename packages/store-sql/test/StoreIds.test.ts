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
import { AppTokenStore, SessionKeyStore, SessionStore, TokenStore } from "@wxauth/core"
import { makeAppToken, makeSession, makeToken, randomAppId, randomOpenId, randomSessionKey } from "@wxauth/core/testing"
import { SqlAppTokenStore, SqlSessionKeyStore, SqlSessionStore, SqlTokenStore } from "@wxauth/store-sql"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
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
        }).pipe(Effect.scoped, Effect.provide(db.client())))
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
      }).pipe(Effect.scoped, Effect.provide(db.client())))

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
      }).pipe(Effect.scoped, Effect.provide(db.client())))

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
      }).pipe(Effect.scoped, Effect.provide(db.client())))
  })

  // PostgreSQL answers a CHAR(n) column's ids padded with spaces to n (MySQL / MariaDB strip them);
  // the shape check takes CHAR as text, holding at least the DDL's VARCHAR(n)
  describe(`ids in CHAR(n) columns, on ${db.name}`, () => {
    /** Makes `statements` (a store's DDL) with CHAR for VARCHAR, dropping `tables` when the scope closes. */
    const madeChar = (statements: ReadonlyArray<string>, ...tables: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* Effect.addFinalizer(() => Effect.ignore(dropTables(...tables)))
        const changed = statements.map((statement) => statement.replace(/\bVARCHAR\(/g, "CHAR("))
        assert.match(changed.join("\n"), /\bopenid CHAR\(128\)|\bapp_id CHAR\(64\)/)
        assert.notMatch(changed.join("\n"), /VARCHAR/)
        for (const statement of changed) yield* sql.unsafe(statement)
        return sql
      })

    it.scopedLive("each store's layer over its DDL with CHAR ids: a set is found by its get", () =>
      Effect.gen(function*() {
        if (db.dialect === "sqlite") return
        const table = randomTable("wxauth_char")
        const appId = randomAppId()
        const openid = randomOpenId()

        const keys = yield* madeChar(yield* SqlSessionKeyStore.ddl(db.dialect, { table: `${table}_k` }), `${table}_k`)
          .pipe(
            Effect.flatMap((sql) => Layer.build(SqlSessionKeyStore.layerFromClient(sql, { table: `${table}_k` }))),
            Effect.map(Context.get(SessionKeyStore.SessionKeyStore))
          )
        const key = randomSessionKey()
        yield* keys.set(appId, openid, key)
        // before: None (the row's ids came back padded: 'oAbc123<121 spaces>')
        const foundKey = yield* keys.get(appId, openid)
        assert.isTrue(Option.isSome(foundKey), "SqlSessionKeyStore: get after set found nothing")
        assert.strictEqual(Redacted.value(Option.getOrThrow(foundKey)), Redacted.value(key))
        yield* keys.remove(appId, openid)
        assert.isTrue(Option.isNone(yield* keys.get(appId, openid)), "SqlSessionKeyStore: the key outlived remove")

        const tokens = yield* madeChar(yield* SqlTokenStore.ddl(db.dialect, { table }), table, `${table}_codes`).pipe(
          Effect.flatMap((sql) => Layer.build(SqlTokenStore.layerFromClient(sql, { table }))),
          Effect.map(Context.get(TokenStore.TokenStore))
        )
        const token = yield* makeToken({ openid })
        yield* tokens.set(appId, token)
        const foundToken = yield* tokens.get(appId, openid)
        assert.isTrue(Option.isSome(foundToken), "SqlTokenStore: get after set found nothing")
        assert.strictEqual(
          Redacted.value(Option.getOrThrow(foundToken).accessToken),
          Redacted.value(token.accessToken)
        )
        const now = yield* Clock.currentTimeMillis
        const hash = Crypto.randomBytes(32).toString("hex")
        yield* tokens.rememberCode(
          appId,
          hash,
          new TokenStore.CodeMemo({ openid, exchangedAt: now, expiresAt: now + 60_000 })
        )
        const memo = yield* tokens.recallCode(appId, hash)
        assert.isTrue(Option.isSome(memo), "SqlTokenStore: recallCode after rememberCode found nothing")
        assert.strictEqual(Option.getOrThrow(memo).openid, openid)

        const appTokens = yield* madeChar(
          yield* SqlAppTokenStore.ddl(db.dialect, { table: `${table}_a` }),
          `${table}_a`
        )
          .pipe(
            Effect.flatMap((sql) => Layer.build(SqlAppTokenStore.layerFromClient(sql, { table: `${table}_a` }))),
            Effect.map(Context.get(AppTokenStore.AppTokenStore))
          )
        const appToken = yield* makeAppToken()
        yield* appTokens.set(appId, appToken)
        const foundAppToken = yield* appTokens.get(appId)
        assert.isTrue(Option.isSome(foundAppToken), "SqlAppTokenStore: get after set found nothing")
        assert.strictEqual(
          Redacted.value(Option.getOrThrow(foundAppToken).accessToken),
          Redacted.value(appToken.accessToken)
        )

        const sessions = yield* madeChar(yield* SqlSessionStore.ddl(db.dialect, { table: `${table}_s` }), `${table}_s`)
          .pipe(
            Effect.flatMap((sql) => Layer.build(SqlSessionStore.layerFromClient(sql, { table: `${table}_s` }))),
            Effect.map(Context.get(SessionStore.SessionStore))
          )
        const { session } = yield* makeSession({ appId, openid })
        yield* sessions.create(session)
        const foundSession = yield* sessions.get(session.idHash)
        assert.isTrue(Option.isSome(foundSession), "SqlSessionStore: get after create found nothing")
        assert.strictEqual(Option.getOrThrow(foundSession).openid, openid)
        assert.strictEqual(yield* sessions.revokeUser(appId, openid), 1)
      }).pipe(Effect.scoped, Effect.provide(db.client())))
  })

  // SQLite tells a column's collation only through an index; the store's statements compare ids
  // COLLATE BINARY, and the check reads the primary key's index only
  describe(`SQLite collations beside the store's, on ${db.name}`, () => {
    it.scopedLive("an index of the operator's own, COLLATE NOCASE, does not get a table of the DDL refused", () =>
      Effect.gen(function*() {
        if (db.dialect !== "sqlite") return
        const sql = yield* SqlClient.SqlClient
        const table = randomTable("wxauth_ix")
        yield* Effect.addFinalizer(() => Effect.ignore(dropTables(table)))
        for (const statement of yield* SqlSessionKeyStore.ddl(db.dialect, { table })) yield* sql.unsafe(statement)
        yield* sql.unsafe(`CREATE INDEX ${table}_search ON ${table} (openid COLLATE NOCASE)`)
        for (const setup of [true, false]) {
          // before: "its column openid has the collation NOCASE, which does not compare byte for byte"
          const built = yield* Effect.either(Layer.build(SqlSessionKeyStore.layerFromClient(sql, { table, setup })))
          assert.isTrue(
            built._tag === "Right",
            `the layer refused the table: ${built._tag === "Left" ? built.left.description : ""}`
          )
          if (built._tag === "Left") return
          const store = Context.get(built.right, SessionKeyStore.SessionKeyStore)
          const [appId, openid, key] = [randomAppId(), randomOpenId(), randomSessionKey()]
          yield* store.set(appId, openid, key)
          assert.strictEqual(Redacted.value(Option.getOrThrow(yield* store.get(appId, openid))), Redacted.value(key))
        }
      }).pipe(Effect.scoped, Effect.provide(db.client())))

    it.scopedLive("a NOCASE id column under a COLLATE BINARY primary key: no id reads, removes or revokes another's", () =>
      Effect.gen(function*() {
        if (db.dialect !== "sqlite") return
        const sql = yield* SqlClient.SqlClient
        const table = randomTable("wxauth_pk")
        yield* Effect.addFinalizer(() => Effect.ignore(dropTables(table, `${table}_codes`, `${table}_s`)))
        yield* sql.unsafe(`CREATE TABLE ${table}_k (app_id TEXT NOT NULL, openid TEXT COLLATE NOCASE NOT NULL,
          expires_at INTEGER NOT NULL, value TEXT NOT NULL, updated_at INTEGER NOT NULL,
          PRIMARY KEY (app_id, openid COLLATE BINARY)) WITHOUT ROWID`)
        yield* Effect.addFinalizer(() => Effect.ignore(dropTables(`${table}_k`)))
        const keys = Context.get(
          yield* Layer.build(SqlSessionKeyStore.layerFromClient(sql, { table: `${table}_k` })),
          SessionKeyStore.SessionKeyStore
        )
        const appId = randomAppId()
        const [victim, other] = twoCases("oVictim")
        const victimKey = randomSessionKey()
        yield* keys.set(appId, victim, victimKey)
        yield* keys.set(appId, other, randomSessionKey())
        yield* keys.remove(appId, other)
        // before: None (the remove of 'ovictim…' deleted the row of 'oVictim…' too)
        const found = yield* keys.get(appId, victim)
        assert.isTrue(Option.isSome(found), "the other id's remove deleted the victim's key")
        assert.strictEqual(Redacted.value(Option.getOrThrow(found)), Redacted.value(victimKey))
        assert.isTrue(Option.isNone(yield* keys.get(appId, other)), "the removed key is still read")

        // the token store's tables alike: a remove, and a code memo's recall
        const statements = (yield* SqlTokenStore.ddl(db.dialect, { table })).map((statement) =>
          statement
            .replace(/\bopenid TEXT/, "openid TEXT COLLATE NOCASE")
            .replace(/\bcode_hash TEXT/, "code_hash TEXT COLLATE NOCASE")
            .replace("PRIMARY KEY (app_id, openid)", "PRIMARY KEY (app_id, openid COLLATE BINARY)")
            .replace("PRIMARY KEY (app_id, code_hash)", "PRIMARY KEY (app_id, code_hash COLLATE BINARY)")
        )
        assert.match(statements.join("\n"), /openid COLLATE BINARY[\s\S]*code_hash COLLATE BINARY/)
        for (const statement of statements) yield* sql.unsafe(statement)
        const tokens = Context.get(
          yield* Layer.build(SqlTokenStore.layerFromClient(sql, { table })),
          TokenStore.TokenStore
        )
        const victimToken = yield* makeToken({ openid: victim })
        yield* tokens.set(appId, victimToken)
        yield* tokens.set(appId, yield* makeToken({ openid: other }))
        yield* tokens.remove(appId, other)
        const token = yield* tokens.get(appId, victim)
        assert.isTrue(Option.isSome(token), "the other id's remove deleted the victim's token")
        assert.strictEqual(
          Redacted.value(Option.getOrThrow(token).accessToken),
          Redacted.value(victimToken.accessToken)
        )
        const [hash, lower] = twoCases("")
        const now = yield* Clock.currentTimeMillis
        yield* tokens.rememberCode(
          appId,
          hash,
          new TokenStore.CodeMemo({ openid: victim, exchangedAt: now, expiresAt: now + 60_000 })
        )
        assert.isTrue(Option.isNone(yield* tokens.recallCode(appId, lower)), "another code recalled the victim's memo")
        assert.strictEqual(Option.getOrThrow(yield* tokens.recallCode(appId, hash)).openid, victim)

        // sessions: their primary key is id_hash; the user's ids are compared COLLATE BINARY too
        const sessionsDdl = (yield* SqlSessionStore.ddl(db.dialect, { table: `${table}_s` })).map((statement) =>
          statement.replace(/\bopenid TEXT/, "openid TEXT COLLATE NOCASE").replace(/\) WITHOUT ROWID$/, ")")
        )
        assert.match(sessionsDdl.join("\n"), /openid TEXT COLLATE NOCASE/)
        for (const statement of sessionsDdl) yield* sql.unsafe(statement)
        const sessions = Context.get(
          yield* Layer.build(SqlSessionStore.layerFromClient(sql, { table: `${table}_s` })),
          SessionStore.SessionStore
        )
        const { session } = yield* makeSession({ appId, openid: victim })
        yield* sessions.create(session)
        assert.strictEqual(yield* sessions.revokeUser(appId, other), 0)
        assert.isTrue(
          Option.isSome(yield* sessions.get(session.idHash)),
          "the other id's revokeUser ended the victim's session"
        )
      }).pipe(Effect.scoped, Effect.provide(db.client())))
  })
})
