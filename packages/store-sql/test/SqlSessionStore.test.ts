/**
 * SqlSessionStore on each database: core's SessionStore contract suite, setup (concurrent, repeated,
 * its indexes, bad names and timeouts), what a row holds (never the token), logout everywhere across
 * clients, a caller's transaction, rows that do not decode, purgeExpired, and the bound on each
 * user's sessions (maxSessionsPerUser: which sessions go, concurrent creates, bad values).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { SessionStore } from "@wxauth/core"
import { makeSession, randomOpenId, sessionStoreSuite } from "@wxauth/core/testing"
import { SqlSessionStore } from "@wxauth/store-sql"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Util from "node:util"
import {
  type Database,
  dropTables,
  forEachDatabase,
  indexesOf,
  randomTable,
  setupConcurrently,
  singleTableLayer
} from "./databases.js"

const hour = 60 * 60 * 1000

/** A store in a fresh table over a new client of `db`, with the client in context too; the table is dropped after. */
const storeLayer = (db: Database, options: SqlSessionStore.Options = {}) =>
  singleTableLayer(db, SqlSessionStore.layer, "wxauth_ss", options)

interface User {
  readonly appId: string
  readonly openid: string
}

/** The id hashes of the rows of `user` in `table`, sorted. */
const rowsOf = (sql: SqlClient.SqlClient, table: string, user: User) =>
  Effect.map(
    sql<{ id_hash: string }>`SELECT id_hash FROM ${
      sql(table)
    } WHERE app_id = ${user.appId} AND openid = ${user.openid}`,
    (rows) => rows.map((row) => String(row.id_hash).trim()).sort()
  )

const idsOf = (sessions: ReadonlyArray<SessionStore.Session>) => sessions.map((session) => session.idHash).sort()

/** A store with `options` in a fresh table of `db`, its client, and the table's name. */
const boundedStore = (db: Database, options: SqlSessionStore.Options) =>
  Effect.gen(function*() {
    const table = randomTable("wxauth_ss")
    const context = yield* Layer.build(storeLayer(db, { ...options, table }))
    return {
      store: Context.get(context, SessionStore.SessionStore),
      sql: Context.get(context, SqlClient.SqlClient),
      table
    }
  })

forEachDatabase((db) => {
  sessionStoreSuite(`SqlSessionStore on ${db.name}`, storeLayer(db))

  describe(`SqlSessionStore on ${db.name}`, () => {
    it.scopedLive("setup from several clients at once is safe, makes both indexes, and a second run keeps the rows", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_ss")
        const clients = yield* setupConcurrently(db, table, SqlSessionStore.setup({ table }))
        const store = yield* Effect.provide(SqlSessionStore.make({ table }), clients[0])
        const { session } = yield* makeSession()
        yield* store.create(session)
        yield* Effect.provide(SqlSessionStore.setup({ table }), clients[1])
        assert.isTrue(Option.isSome(yield* store.get(session.idHash)), "a second setup keeps the rows")
        const indexes = yield* Effect.provide(indexesOf(db.dialect, table), clients[0])
        assert.include(indexes, `${table}_user_idx`)
        assert.include(indexes, `${table}_expires_idx`)
      }))

    it.scoped("it bounds its own operations (timeout): wxauth runs it as it is, under no deadline of its own", () =>
      Effect.gen(function*() {
        const store = yield* Effect.provide(SessionStore.SessionStore, storeLayer(db))
        assert.strictEqual(SessionStore.bounded(store), store)
      }))

    it.scopedLive("a bad table name or timeout is an InvalidArgument", () =>
      Effect.gen(function*() {
        const client = yield* Layer.build(db.client())
        for (const table of ["t; DROP TABLE users", "1t", "a".repeat(64), ""]) {
          assert.isTrue(Either.isLeft(SqlSessionStore.ddl(db.dialect, { table })))
          const error = yield* Effect.flip(Effect.provide(Layer.build(SqlSessionStore.layer({ table })), client))
          assert.deepInclude(error, { _tag: "InvalidArgument", argument: "table" })
        }
        for (const timeout of [0, -1, Infinity, "forever"]) {
          const error = yield* Effect.flip(
            Effect.provide(SqlSessionStore.make({ table: randomTable(), timeout: timeout as never }), client)
          )
          assert.deepInclude(error, { _tag: "InvalidArgument", argument: "timeout" })
        }
        assert.include(Either.getOrThrow(SqlSessionStore.ddl(db.dialect)).join("\n"), "wxauth_sessions")
      }))

    it.scoped("a row holds the id hash, the user, the times and the session's JSON: never the token", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_ss")
        const context = yield* Layer.build(storeLayer(db, { table }))
        const store = Context.get(context, SessionStore.SessionStore)
        const sql = Context.get(context, SqlClient.SqlClient)
        const { session, token } = yield* makeSession({ data: { userId: "42" } })
        yield* store.create(session)
        const now = yield* Clock.currentTimeMillis
        yield* TestClock.adjust(1000)
        yield* store.touch(session.idHash, now + 3 * hour)
        const rows = yield* sql<Record<string, unknown>>`SELECT * FROM ${sql(table)}`
        assert.strictEqual(rows.length, 1)
        const row = rows[0]
        assert.deepStrictEqual(Object.keys(row).sort(), [
          "app_id",
          "expires_at",
          "id_hash",
          "last_seen_at",
          "openid",
          "value"
        ])
        assert.strictEqual(row.id_hash, session.idHash)
        assert.strictEqual(row.openid, session.openid)
        assert.strictEqual(Number(row.expires_at), now + 3 * hour)
        assert.strictEqual(Number(row.last_seen_at), now + 1000)
        assert.notInclude(JSON.stringify(rows, (_, v) => typeof v === "bigint" ? String(v) : v), Redacted.value(token))
        const found = Option.getOrThrow(yield* store.get(session.idHash))
        assert.deepStrictEqual(found.data, { userId: "42" })
        assert.strictEqual(found.lastSeenAt, now + 1000)
      }))

    it.scopedLive("logout everywhere holds across clients: revoked through one, gone through the other", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_ss")
        yield* Effect.addFinalizer(() => Effect.orDie(Effect.provide(dropTables(table), db.client())))
        const [one, two] = yield* Effect.forEach([1, 2], () => Layer.build(db.client()))
        yield* Effect.provide(SqlSessionStore.setup({ table }), one)
        const [here, there] = yield* Effect.forEach(
          [one, two],
          (client) => Effect.provide(SqlSessionStore.make({ table }), client)
        )
        const { session } = yield* makeSession()
        const { session: sibling } = yield* makeSession({ appId: session.appId, openid: session.openid })
        yield* here.create(session)
        yield* there.create(sibling)
        assert.strictEqual(yield* there.revokeUser(session.appId, session.openid), 2)
        assert.isTrue(Option.isNone(yield* here.get(session.idHash)))
        assert.isTrue(Option.isNone(yield* here.get(sibling.idHash)))
      }))

    it.scoped("operations join a caller's transaction: a revokeUser rolled back with it leaves the sessions", () =>
      Effect.gen(function*() {
        const context = yield* Layer.build(storeLayer(db))
        const store = Context.get(context, SessionStore.SessionStore)
        const sql = Context.get(context, SqlClient.SqlClient)
        const { session } = yield* makeSession()
        yield* store.create(session)
        const rolledBack = yield* sql.withTransaction(
          Effect.zipRight(store.revokeUser(session.appId, session.openid), Effect.fail("roll back" as const))
        ).pipe(Effect.flip)
        assert.strictEqual(rolledBack, "roll back")
        assert.isTrue(Option.isSome(yield* store.get(session.idHash)), "the revoke was rolled back")
        yield* sql.withTransaction(store.revokeUser(session.appId, session.openid))
        assert.isTrue(Option.isNone(yield* store.get(session.idHash)))
      }))

    it.scoped("a row that does not decode, or was copied under another id, is a SessionStoreError quoting nothing", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_ss")
        const context = yield* Layer.build(storeLayer(db, { table }))
        const store = Context.get(context, SessionStore.SessionStore)
        const sql = Context.get(context, SqlClient.SqlClient)
        const { session } = yield* makeSession({ data: { note: "private-note" } })
        const { session: other } = yield* makeSession()
        yield* store.create(session)
        yield* store.create(other)
        const [row] = yield* sql<{ value: unknown }>`SELECT value FROM ${sql(table)} WHERE id_hash = ${session.idHash}`
        const expectFailure = Effect.gen(function*() {
          const error = yield* Effect.flip(store.get(other.idHash))
          assert.strictEqual(error._tag, "SessionStoreError")
          assert.notInclude(JSON.stringify(error) + error.message + Util.inspect(error, { depth: 10 }), "private-note")
        })
        yield* sql`UPDATE ${sql(table)} SET value = ${row.value} WHERE id_hash = ${other.idHash}`
        yield* expectFailure
        yield* sql`UPDATE ${sql(table)} SET value = ${"{private-note"} WHERE id_hash = ${other.idHash}`
        yield* expectFailure
        // the session the row belongs to is fine
        assert.deepStrictEqual(Option.getOrThrow(yield* store.get(session.idHash)).data, { note: "private-note" })
      }))

    it.scoped("a row whose session names another user than its app_id / openid is a SessionStoreError on get and touch: no logout leaves it live", () =>
      Effect.gen(function*() {
        const { sql, store, table } = yield* boundedStore(db, {})
        const { session: victim } = yield* makeSession()
        const { session: other } = yield* makeSession({ appId: victim.appId })
        yield* store.create(victim)
        yield* store.create(other)
        const later = (yield* Clock.currentTimeMillis) + 2 * hour
        const refused = Effect.gen(function*() {
          const got = yield* Effect.either(store.get(victim.idHash))
          assert.isTrue(Either.isLeft(got), "get answers the victim's session from another user's row")
          if (Either.isLeft(got)) assert.strictEqual(got.left._tag, "SessionStoreError")
          const touched = yield* Effect.flip(store.touch(victim.idHash, later))
          assert.strictEqual(touched._tag, "SessionStoreError")
          assert.strictEqual(touched.operation, "touch")
        })
        // the victim's session value in a row that names the other user: the victim's logout ends
        // nothing, so the store must not answer the session as the victim's
        yield* sql`UPDATE ${sql(table)} SET openid = ${other.openid} WHERE id_hash = ${victim.idHash}`
        yield* refused
        assert.strictEqual(yield* store.revokeUser(victim.appId, victim.openid), 0)
        // the same with another app
        yield* sql`UPDATE ${
          sql(table)
        } SET openid = ${victim.openid}, app_id = ${"wxotherapp"} WHERE id_hash = ${victim.idHash}`
        yield* refused
        assert.strictEqual(yield* store.revokeUser(victim.appId, victim.openid), 0)
        // an id with a trailing space is another id (revokeUser compares the stored bytes): the
        // victim's openid, then app id, with spaces after it (a VARCHAR keeps them)
        yield* sql`UPDATE ${sql(table)} SET app_id = ${victim.appId}, openid = ${`${victim.openid} `}
          WHERE id_hash = ${victim.idHash}`
        yield* refused
        assert.strictEqual(yield* store.revokeUser(victim.appId, victim.openid), 0)
        yield* sql`UPDATE ${sql(table)} SET app_id = ${`${victim.appId}   `}, openid = ${victim.openid}
          WHERE id_hash = ${victim.idHash}`
        yield* refused
        assert.strictEqual(yield* store.revokeUser(victim.appId, victim.openid), 0)
        if (db.dialect === "sqlite") {
          // SQLite's TEXT holds any length: an openid longer than any is not fetched, and is no user's
          yield* sql`UPDATE ${sql(table)} SET app_id = ${victim.appId}, openid = ${"o".repeat(100_000)}
            WHERE id_hash = ${victim.idHash}`
          yield* refused
        }
        // the row naming its session's user again, the session is the victim's, and their logout ends it
        yield* sql`UPDATE ${sql(table)} SET app_id = ${victim.appId}, openid = ${victim.openid}
          WHERE id_hash = ${victim.idHash}`
        assert.strictEqual(Option.getOrThrow(yield* store.get(victim.idHash)).openid, victim.openid)
        assert.strictEqual(yield* store.revokeUser(victim.appId, victim.openid), 1)
        assert.isTrue(Option.isNone(yield* store.get(victim.idHash)))
        assert.strictEqual(Option.getOrThrow(yield* store.get(other.idHash)).openid, other.openid)
      }))

    it.scopedLive("a stored session longer than any session is a SessionStoreError on get and touch, not fetched; revoke then create replace it", () =>
      Effect.gen(function*() {
        const { sql, store, table } = yield* boundedStore(db, {})
        const { session } = yield* makeSession()
        const { session: other } = yield* makeSession({ appId: session.appId, openid: session.openid })
        yield* store.create(session)
        yield* store.create(other)
        const plant = (value: string) =>
          sql`UPDATE ${sql(table)} SET value = ${value} WHERE id_hash = ${session.idHash}`
        // MariaDB's TEXT holds 65,535 bytes: 60 KB is past the bound (49,152) on every dialect
        const long = `s3cr3t${"x".repeat(60_000)}`
        // one byte over the bound; 60 KB; behind a NUL, where SQLite's length() of the text stops counting
        for (const value of ["x".repeat(SessionStore.maxStoredValueBytes + 1), long, `x\u0000${long}`]) {
          if (db.dialect === "pg" && value.includes("\u0000")) continue // PostgreSQL's text holds no NUL
          yield* plant(value)
          const now = yield* Clock.currentTimeMillis
          for (
            const [operation, attempt] of [
              ["get", store.get(session.idHash)],
              ["touch", store.touch(session.idHash, now + hour)]
            ] as const
          ) {
            const error = yield* Effect.flip(attempt)
            assert.strictEqual(error._tag, "SessionStoreError")
            assert.strictEqual(error.operation, operation)
            assert.include(error.description, "longer than any session")
            assert.notInclude(JSON.stringify(error) + error.message + Util.inspect(error, { depth: 10 }), "s3cr3t")
          }
        }
        // at the bound (16,384 characters of 3 bytes) it is read, and does not decode
        yield* plant("\u20ac".repeat(16_384))
        assert.include((yield* Effect.flip(store.get(session.idHash))).description, "does not decode")
        // the user's other session reads on; revoked, the planted one gives its id to a new create
        assert.isTrue(Option.isSome(yield* store.get(other.idHash)))
        yield* store.revoke(session.idHash)
        yield* store.create(session)
        assert.strictEqual(Option.getOrThrow(yield* store.get(session.idHash)).idHash, session.idHash)
      }))

    it.scopedLive("SQLite: a time column holding text (20 MB, or short) is not fetched: last_seen_at refused as longer than any session, expires_at not live; purgeExpired and create clear it", () =>
      Effect.gen(function*() {
        if (db.dialect !== "sqlite") return // PostgreSQL's and MariaDB's time columns are BIGINT
        const { sql, store, table } = yield* boundedStore(db, {})
        const now = yield* Clock.currentTimeMillis
        const big = `s3cr3t${"x".repeat(20 * 1024 * 1024)}`
        for (const planted of [big, "soon", `x${"\u0000".repeat(40)}`]) {
          const { session: seen } = yield* makeSession({ expiresAt: now + hour })
          const { session: ends } = yield* makeSession({ expiresAt: now + hour })
          yield* store.create(seen)
          yield* store.create(ends)
          yield* sql`UPDATE ${sql(table)} SET last_seen_at = ${planted} WHERE id_hash = ${seen.idHash}`
          yield* sql`UPDATE ${sql(table)} SET expires_at = ${planted} WHERE id_hash = ${ends.idHash}`
          const types = yield* sql<{ te: string; tl: string }>`SELECT typeof(expires_at) AS te,
            typeof(last_seen_at) AS tl FROM ${sql(table)} WHERE id_hash IN (${seen.idHash}, ${ends.idHash})
            ORDER BY typeof(expires_at)`
          assert.deepStrictEqual(types.map((row) => [row.te, row.tl]), [["integer", "text"], ["text", "null"]])
          for (let i = 0; i < 3; i++) {
            const error = yield* Effect.flip(store.get(seen.idHash))
            assert.strictEqual(error.operation, "get")
            assert.include(error.description, "longer than any session")
            assert.notInclude(JSON.stringify(error) + error.message + Util.inspect(error, { depth: 10 }), "s3cr3t")
          }
          // a touch writes last_seen_at afresh: the session reads again
          const touched = Option.getOrThrow(yield* store.touch(seen.idHash, now + 2 * hour))
          assert.strictEqual(touched.expiresAt, now + 2 * hour)
          assert.isTrue(Option.isSome(yield* store.get(seen.idHash)))
          // no time: the session is over, and a touch does not bring it back
          assert.isTrue(Option.isNone(yield* store.get(ends.idHash)), "a text expires_at passed as live")
          assert.isTrue(Option.isNone(yield* store.touch(ends.idHash, now + 2 * hour)))
          const [row] = yield* sql<{ te: string }>`SELECT typeof(expires_at) AS te FROM ${sql(table)}
            WHERE id_hash = ${ends.idHash}`
          assert.strictEqual(row.te, "text", "touch moved an expires_at that is no time")
          // a create of its id replaces it; purgeExpired deletes such rows
          yield* store.create(ends)
          assert.isTrue(Option.isSome(yield* store.get(ends.idHash)))
          yield* sql`UPDATE ${sql(table)} SET expires_at = ${planted} WHERE id_hash = ${ends.idHash}`
          assert.strictEqual(
            yield* SqlSessionStore.purgeExpired({ table }).pipe(Effect.provideService(SqlClient.SqlClient, sql)),
            1
          )
          yield* store.revoke(seen.idHash)
        }
      }))

    it.scoped("purgeExpired deletes only the sessions that are over (by Clock)", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_ss")
        const context = yield* Layer.build(storeLayer(db, { table }))
        const store = Context.get(context, SessionStore.SessionStore)
        const now = yield* Clock.currentTimeMillis
        const { session: old } = yield* makeSession({ expiresAt: now + hour })
        const { session: recent } = yield* makeSession({ expiresAt: now + 2 * hour })
        yield* store.create(old)
        yield* store.create(recent)
        yield* TestClock.adjust(hour)
        const purge = Effect.provide(SqlSessionStore.purgeExpired({ table }), context)
        assert.strictEqual(yield* purge, 1)
        assert.isTrue(Option.isSome(yield* store.get(recent.idHash)))
        assert.strictEqual(yield* purge, 0)
      }))
  })

  describe(`SqlSessionStore on ${db.name}: maxSessionsPerUser`, () => {
    it.scoped("a 4th session of a user (bound 3) ends the one that ends soonest, and no other user's; revokeUser ends the rest", () =>
      Effect.gen(function*() {
        const { sql, store, table } = yield* boundedStore(db, { maxSessionsPerUser: 3 })
        const now = yield* Clock.currentTimeMillis
        const { session: first } = yield* makeSession({ expiresAt: now + hour })
        const user = { appId: first.appId, openid: first.openid }
        const later = yield* Effect.forEach(
          [2, 3, 4],
          (i) => Effect.map(makeSession({ ...user, expiresAt: now + i * hour }), ({ session }) => session)
        )
        // the same app's other user, and the same openid in another app: ending sooner than all
        const neighbours = yield* Effect.forEach(
          [{ appId: user.appId }, { openid: user.openid }],
          (who) => Effect.map(makeSession({ ...who, expiresAt: now + 1 }), ({ session }) => session)
        )
        yield* Effect.forEach([...neighbours, first, later[0], later[1]], store.create, { discard: true })
        assert.deepStrictEqual(yield* rowsOf(sql, table, user), idsOf([first, later[0], later[1]]))
        yield* store.create(later[2])
        assert.deepStrictEqual(yield* rowsOf(sql, table, user), idsOf(later), "the first went, the 3 others stay")
        assert.isTrue(Option.isNone(yield* store.get(first.idHash)))
        for (const kept of [...later, ...neighbours]) assert.isTrue(Option.isSome(yield* store.get(kept.idHash)))
        assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), 3)
        for (const ended of later) assert.isTrue(Option.isNone(yield* store.get(ended.idHash)))
        assert.deepStrictEqual(yield* rowsOf(sql, table, user), [])
        for (const kept of neighbours) assert.isTrue(Option.isSome(yield* store.get(kept.idHash)))
      }))

    it.scoped("a touched session outlives a newer one left untouched (touch moves expires_at)", () =>
      Effect.gen(function*() {
        const { sql, store, table } = yield* boundedStore(db, { maxSessionsPerUser: 3 })
        const { session: a } = yield* makeSession()
        const user = { appId: a.appId, openid: a.openid }
        yield* store.create(a)
        const created: Array<SessionStore.Session> = []
        for (let i = 0; i < 2; i++) {
          yield* TestClock.adjust(1000)
          const { session } = yield* makeSession(user)
          yield* store.create(session)
          created.push(session)
        }
        const [b, c] = created
        yield* TestClock.adjust(1000)
        const now = yield* Clock.currentTimeMillis
        yield* store.touch(a.idHash, now + hour)
        yield* TestClock.adjust(1000)
        const { session: d } = yield* makeSession(user)
        yield* store.create(d)
        assert.deepStrictEqual(yield* rowsOf(sql, table, user), idsOf([a, c, d]), "b, the least recently written, went")
        assert.isTrue(Option.isNone(yield* store.get(b.idHash)))
        assert.strictEqual(Option.getOrThrow(yield* store.get(a.idHash)).lastSeenAt, now)
      }))

    it.scoped("sessions that are over go first, and the session just created never goes, even when it ends soonest", () =>
      Effect.gen(function*() {
        const { sql, store, table } = yield* boundedStore(db, { maxSessionsPerUser: 3 })
        const now = yield* Clock.currentTimeMillis
        const { session: a } = yield* makeSession({ expiresAt: now + 2 * hour })
        const user = { appId: a.appId, openid: a.openid }
        const { session: over } = yield* makeSession({ ...user, expiresAt: now + 1000 })
        const { session: c } = yield* makeSession({ ...user, expiresAt: now + 3 * hour })
        yield* Effect.forEach([a, over, c], store.create, { discard: true })
        yield* TestClock.adjust(1000)
        const { session: d } = yield* makeSession({ ...user, expiresAt: now + 4 * hour })
        yield* store.create(d)
        assert.deepStrictEqual(yield* rowsOf(sql, table, user), idsOf([a, c, d]), "the session that is over went")
        const { session: brief } = yield* makeSession({ ...user, expiresAt: now + 1001 })
        yield* store.create(brief)
        assert.deepStrictEqual(yield* rowsOf(sql, table, user), idsOf([brief, c, d]), "a went, not the new one")
        assert.isTrue(Option.isSome(yield* store.get(brief.idHash)))
        assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), 3)
      }))

    it.scopedLive("20 concurrent creates of one user through 2 clients (bound 5) leave at most 5 sessions", () =>
      Effect.gen(function*() {
        const table = randomTable("wxauth_ss")
        yield* Effect.addFinalizer(() => Effect.orDie(Effect.provide(dropTables(table), db.client())))
        const clients = yield* Effect.forEach([1, 2], () => Layer.build(db.client()))
        yield* Effect.provide(SqlSessionStore.setup({ table }), clients[0])
        const stores = yield* Effect.forEach(
          clients,
          (client) => Effect.provide(SqlSessionStore.make({ table, maxSessionsPerUser: 5 }), client)
        )
        const { session: other } = yield* makeSession()
        yield* stores[0].create(other)
        const now = yield* Clock.currentTimeMillis
        const user = { appId: other.appId, openid: randomOpenId() }
        const made = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          (i) => Effect.map(makeSession({ ...user, expiresAt: now + hour + i }), ({ session }) => session)
        )
        yield* Effect.forEach(made, (session, i) => stores[i % 2].create(session), {
          concurrency: "unbounded",
          discard: true
        })
        const sql = yield* Effect.provide(SqlClient.SqlClient, clients[0])
        const rows = yield* rowsOf(sql, table, user)
        assert.isAtMost(rows.length, 5)
        assert.isAtLeast(rows.length, 1)
        let live = 0
        for (const session of made) if (Option.isSome(yield* stores[1].get(session.idHash))) live++
        assert.strictEqual(live, rows.length)
        assert.strictEqual(yield* stores[1].revokeUser(user.appId, user.openid), rows.length)
        assert.isTrue(Option.isSome(yield* stores[1].get(other.idHash)), "the other user kept theirs")
      }))

    it.scoped("the default bound is 100 sessions", () =>
      Effect.gen(function*() {
        const { sql, store, table } = yield* boundedStore(db, {})
        const now = yield* Clock.currentTimeMillis
        const { session: first } = yield* makeSession({ expiresAt: now + hour })
        const user = { appId: first.appId, openid: first.openid }
        yield* store.create(first)
        for (let i = 1; i <= 100; i++) {
          const { session } = yield* makeSession({ ...user, expiresAt: now + hour + i })
          yield* store.create(session)
        }
        assert.strictEqual((yield* rowsOf(sql, table, user)).length, 100)
        assert.isTrue(Option.isNone(yield* store.get(first.idHash)), "the first, which ends soonest, went")
      }), 60_000)

    it.scoped("the bound is the user's: a padded openid ('o ', which MySQL / MariaDB take for 'o') is refused, never another user's", () =>
      Effect.gen(function*() {
        const { store } = yield* boundedStore(db, { maxSessionsPerUser: 1 })
        const now = yield* Clock.currentTimeMillis
        const { session: padded } = yield* makeSession({ openid: "o_pad ", expiresAt: now + 3 * hour })
        const user = { appId: padded.appId, openid: "o_pad" }
        // the ids' rule (SessionStore.checkNew): revokeUser could not name it, and a PAD SPACE
        // collation would take it for o_pad's
        const refused = yield* Effect.flip(store.create(padded))
        assert.strictEqual(refused._tag, "SessionStoreError")
        assert.isTrue(Option.isNone(yield* store.get(padded.idHash)))
        const { session: a } = yield* makeSession({ ...user, expiresAt: now + hour })
        const { session: b } = yield* makeSession({ ...user, expiresAt: now + 2 * hour })
        yield* store.create(a)
        yield* store.create(b)
        assert.isTrue(Option.isNone(yield* store.get(a.idHash)), "a bound of 1: the second ends the first")
        assert.isTrue(Option.isSome(yield* store.get(b.idHash)))
      }))

    it.scopedLive("a maxSessionsPerUser that is not a positive integer is an InvalidArgument", () =>
      Effect.gen(function*() {
        const client = yield* Layer.build(db.client())
        const table = randomTable("wxauth_ss")
        // the layer sets the table up before make reads the bound
        yield* Effect.addFinalizer(() => Effect.orDie(Effect.provide(dropTables(table), client)))
        for (
          const bad of [0, -1, 1.5, Number.NaN, Infinity, -Infinity, 2 ** 53, "5", "", null, true, {}, [3], 5n]
        ) {
          const error = yield* Effect.flip(
            Effect.provide(SqlSessionStore.make({ table, maxSessionsPerUser: bad as never }), client)
          )
          assert.deepInclude(error, { _tag: "InvalidArgument", argument: "maxSessionsPerUser" })
        }
        for (const bad of [0, "5"]) {
          const error = yield* Effect.flip(
            Effect.provide(Layer.build(SqlSessionStore.layer({ table, maxSessionsPerUser: bad as never })), client)
          )
          assert.deepInclude(error, { _tag: "InvalidArgument", argument: "maxSessionsPerUser" })
        }
        for (const good of [1, 3, 2 ** 53 - 1, undefined]) {
          yield* Effect.provide(SqlSessionStore.make({ table, maxSessionsPerUser: good }), client)
        }
      }))
  })
})
