/**
 * `importLegacy`: wechat-oauth's MySQL `token` table (from its README), created with the README's own
 * `CREATE TABLE` on MariaDB and with a portable equivalent on PostgreSQL and SQLite, filled the way
 * wechat-oauth fills it (`REPLACE INTO token(...) VALUES(...)`, every value a string).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"
import { assert, describe, it } from "@effect/vitest"
import { OAuthToken, TokenCipher, TokenStore, WeChatError } from "@wxauth/core"
import { makeToken, randomAppId, randomOpenId } from "@wxauth/core/testing"
import { SqlTokenStore } from "@wxauth/store-sql"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { type Database, dropTables, forEachDatabase, randomTable } from "./databases.js"

/** The README's table, verbatim (only the table name is made unique per run). */
const readmeCreateTable = `CREATE TABLE \`token\` (
\`access_token\` varchar(200) COLLATE utf8_bin NOT NULL COMMENT '令牌',
\`expires_in\` varchar(10) COLLATE utf8_bin NOT NULL COMMENT '有效期',
\`refresh_token\` varchar(200) COLLATE utf8_bin NOT NULL COMMENT '刷新参数',
\`openid\` varchar(50) COLLATE utf8_bin NOT NULL COMMENT '用户编号',
\`scope\` varchar(50) COLLATE utf8_bin NOT NULL COMMENT '作用域',
\`create_at\` varchar(20) COLLATE utf8_bin NOT NULL COMMENT '令牌建立时间'
) ENGINE=InnoDB DEFAULT CHARSET=utf8 COLLATE=utf8_bin COMMENT='微信令牌表';`

/** The README's unique key on openid, verbatim. */
const readmeUniqueKey = `ALTER TABLE \`token\`
ADD UNIQUE KEY \`openid\` (\`openid\`);`

/** wechat-oauth's write (its README), verbatim. */
const readmeReplace =
  "REPLACE INTO token(access_token, expires_in, refresh_token, openid, scope, create_at) VALUES(?, ?, ?, ?, ?, ?)"

const portableCreateTable = (table: string) =>
  `CREATE TABLE ${table} (
  access_token varchar(200) NOT NULL,
  expires_in varchar(10) NOT NULL,
  refresh_token varchar(200) NOT NULL,
  openid varchar(50) NOT NULL UNIQUE,
  scope varchar(50) NOT NULL,
  create_at varchar(20) NOT NULL
)`

const withName = (statement: string, table: string) =>
  statement.replace("`token`", `\`${table}\``).replace("INTO token(", `INTO ${table}(`)

interface LegacyRow {
  readonly access_token: string
  readonly expires_in: string
  readonly refresh_token: string
  readonly openid: string
  readonly scope: string
  readonly create_at: string
}

const createLegacyTable = (db: Database, table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    db.dialect === "mysql"
      ? Effect.zipRight(
        sql.unsafe(withName(readmeCreateTable, table)).unprepared,
        sql.unsafe(withName(readmeUniqueKey, table)).unprepared
      )
      : sql.unsafe(portableCreateTable(table)))

const insertLegacy = (db: Database, table: string, row: LegacyRow) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => {
    const values = [row.access_token, row.expires_in, row.refresh_token, row.openid, row.scope, row.create_at]
    return db.dialect === "mysql"
      ? sql.unsafe(withName(readmeReplace, table), values)
      : sql`INSERT INTO ${sql(table)} ${sql.insert({ ...row })}`
  })

const hour = 60 * 60 * 1000
const day = 24 * hour
const now = 1_750_000_000_000

/**
 * The clock at `now`, a new client of `db`, a fresh legacy table and a fresh store (`cipher` in its
 * context, when given), every table dropped when the scope closes; `context` holds the client and
 * the store, as `importLegacy` needs.
 */
const legacyFixture = <E>(db: Database, cipher?: Layer.Layer<TokenCipher.TokenCipher, E>) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(now)
    const legacy = randomTable("legacy_token")
    const table = randomTable()
    const client = yield* Layer.build(db.client())
    yield* Effect.addFinalizer(() => Effect.orDie(Effect.provide(dropTables(legacy, table, `${table}_codes`), client)))
    const context = yield* Layer.build(SqlTokenStore.layer({ table })).pipe(
      Effect.provide(Layer.merge(Layer.succeedContext(client), cipher ?? Layer.empty)),
      Effect.map(Context.merge(client))
    )
    yield* Effect.provide(createLegacyTable(db, legacy), client)
    const appId = randomAppId()
    const store = Context.get(context, TokenStore.TokenStore)
    return {
      appId,
      client,
      context,
      legacy,
      table,
      sql: Context.get(client, SqlClient.SqlClient),
      store,
      /** One run of `importLegacy` over the legacy table, into the store. */
      run: Effect.provide(SqlTokenStore.importLegacy({ appId, table: legacy }), context),
      /** The stored token of `openid`, which must be there. */
      got: (openid: string) => Effect.map(store.get(appId, openid), Option.getOrThrow),
      insert: (rows: ReadonlyArray<LegacyRow>) =>
        Effect.provide(Effect.forEach(rows, (row) => insertLegacy(db, legacy, row), { discard: true }), client)
    }
  })

const legacyRow = (createdAt: number, overrides: Partial<LegacyRow> = {}): LegacyRow => ({
  access_token: `AT_legacy_${randomOpenId()}`,
  expires_in: "7200",
  refresh_token: `RT_legacy_${randomOpenId()}`,
  openid: randomOpenId(),
  scope: "snsapi_userinfo",
  create_at: String(createdAt),
  ...overrides
})

/** What `importLegacy` answers: the counts given, every other count 0. */
const importResult = (counts: Partial<SqlTokenStore.ImportResult>): SqlTokenStore.ImportResult => ({
  imported: 0,
  skipped: 0,
  newerInStore: 0,
  datedAhead: 0,
  expired: 0,
  invalid: 0,
  unreadableInStore: 0,
  ...counts
})

/** The rows each query of the import answered, in order: what it held in memory at once. */
type Fetched = Array<ReadonlyArray<Readonly<Record<string, unknown>>>>

/**
 * `sql`, recording in `fetched` the rows each of its queries answers (a query is a tagged template
 * call; `sql(table)` and the fragments pass through) and in `statements` its SQL text as sent; the
 * client `withoutTransforms` gives records too.
 */
const recording = (sql: SqlClient.SqlClient, fetched: Fetched, statements: Array<string> = []): SqlClient.SqlClient =>
  new Proxy(sql, {
    apply: (target, thisArg, args: Array<unknown>) => {
      const made = Reflect.apply(target, thisArg, args)
      if (!(Array.isArray(args[0]) && "raw" in args[0])) return made
      return Effect.tap(
        Effect.suspend(() => {
          statements.push((made as Statement.Statement<unknown>).compile()[0])
          return made as Effect.Effect<ReadonlyArray<Record<string, unknown>>>
        }),
        (rows) =>
          Effect.sync(() => {
            fetched.push(rows)
          })
      )
    },
    get: (target, key) => {
      if (key === "withoutTransforms") return () => recording(target.withoutTransforms(), fetched, statements)
      const value: unknown = Reflect.get(target, key)
      return typeof value === "function" ? value.bind(target) : value
    }
  })

/**
 * The statements that use a window function (`ROW_NUMBER() OVER (...)`, `COUNT(*) OVER (...)`):
 * MySQL 5.7, where many of wechat-oauth's users are, has none and refuses them as a syntax error.
 */
const windowFunctions = (statements: ReadonlyArray<string>): ReadonlyArray<string> =>
  statements.filter((statement) => /\bOVER\s*\(/i.test(statement))

/** The longest text any query answered, in characters (bytes for a binary column). */
const longestFetched = (fetched: Fetched): number =>
  Math.max(
    0,
    ...fetched.flat().flatMap((row) =>
      Object.values(row).map((value) =>
        typeof value === "string" ? value.length : value instanceof Uint8Array ? value.byteLength : 0
      )
    )
  )

/** A legacy table of one's own, without the unique key (`columnType` each column), dropped after. */
const ownLegacyTable = (client: Context.Context<SqlClient.SqlClient>, columnType: string) =>
  Effect.gen(function*() {
    const table = randomTable("legacy_own")
    yield* Effect.addFinalizer(() => Effect.orDie(Effect.provide(dropTables(table), client)))
    const sql = Context.get(client, SqlClient.SqlClient)
    yield* sql.unsafe(`CREATE TABLE ${table} (access_token ${columnType}, expires_in ${columnType},
      refresh_token ${columnType}, openid ${columnType}, scope ${columnType}, create_at ${columnType})`)
    return {
      table,
      insert: (rows: ReadonlyArray<LegacyRow>) =>
        Effect.forEach(
          Array.from({ length: Math.ceil(rows.length / 50) }, (_, i) => rows.slice(i * 50, i * 50 + 50)),
          (chunk) => sql`INSERT INTO ${sql(table)} ${sql.insert(chunk.map((row) => ({ ...row })))}`,
          { discard: true }
        )
    }
  })

forEachDatabase((db) => {
  describe(`SqlTokenStore.importLegacy on ${db.name}`, () => {
    it.scoped("moves wechat-oauth's tokens in, leaves newer ones alone, and a second run imports nothing", () =>
      Effect.gen(function*() {
        const { appId, client, context, got, insert, legacy, run, store } = yield* legacyFixture(db)

        const fresh = legacyRow(now - hour, { scope: "snsapi_base,snsapi_userinfo" })
        const inSeconds = legacyRow(Math.floor((now - 2 * hour) / 1000))
        const replacesOlder = legacyRow(now - hour)
        const olderThanStore = legacyRow(now - 3 * hour)
        const expired = legacyRow(now - 31 * day)
        const badTime = legacyRow(0, { create_at: "yesterday-ish" })
        const noToken = legacyRow(now - hour, { access_token: "" })
        const rows = [fresh, inSeconds, replacesOlder, olderThanStore, expired, badTime, noToken]
        yield* insert(rows)

        // the store already holds an older token for one user and a newer one for another
        yield* store.set(appId, yield* makeToken({ openid: replacesOlder.openid, obtainedAt: now - 2 * hour }))
        const newer = yield* makeToken({ openid: olderThanStore.openid, obtainedAt: now - hour })
        yield* store.set(appId, newer)

        const result = yield* Effect.provide(
          SqlTokenStore.importLegacy({ appId, table: legacy, batchSize: 2 }),
          context
        )
        assert.deepStrictEqual(
          result,
          importResult({ imported: 3, skipped: 4, newerInStore: 1, expired: 1, invalid: 2 })
        )

        const token = yield* got(fresh.openid)
        assert.strictEqual(Redacted.value(token.accessToken), fresh.access_token)
        assert.strictEqual(Redacted.value(token.refreshToken), fresh.refresh_token)
        assert.deepStrictEqual([...token.scope], ["snsapi_base", "snsapi_userinfo"])
        assert.strictEqual(token.obtainedAt, now - hour)
        assert.strictEqual(token.expiresAt, now - hour + 7200 * 1000)
        assert.strictEqual(token.refreshExpiresAt, now - hour + OAuthToken.refreshTokenLifeMillis)
        assert.isFalse(token.isSnapshotUser)
        assert.isUndefined(token.unionid)

        assert.strictEqual((yield* got(inSeconds.openid)).obtainedAt, Math.floor((now - 2 * hour) / 1000) * 1000)
        assert.strictEqual(Redacted.value((yield* got(replacesOlder.openid)).accessToken), replacesOlder.access_token)
        assert.strictEqual(
          Redacted.value((yield* got(olderThanStore.openid)).accessToken),
          Redacted.value(newer.accessToken)
        )
        for (const row of [expired, badTime, noToken]) {
          assert.isTrue(Option.isNone(yield* store.get(appId, row.openid)))
        }

        // the legacy table is only read, and a second run finds nothing new
        const [count] = yield* Effect.provide(
          Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM ${sql(legacy)}`),
          client
        )
        assert.strictEqual(Number(count.n), rows.length)
        const again = yield* run
        assert.deepStrictEqual(again, importResult({ skipped: 7, newerInStore: 4, expired: 1, invalid: 2 }))
      }))

    it.scoped("a table of one's own with NULL openids: those rows are invalid, every token imported and counted once", () =>
      Effect.gen(function*() {
        const { appId, client, context, store } = yield* legacyFixture(db)
        const nullable = randomTable("legacy_nullable")
        yield* Effect.addFinalizer(() => Effect.orDie(Effect.provide(dropTables(nullable), client)))
        const rows = [legacyRow(now - hour), legacyRow(now - hour)]
        yield* Effect.provide(
          Effect.flatMap(SqlClient.SqlClient, (sql) =>
            Effect.zipRight(
              sql.unsafe(`CREATE TABLE ${nullable} (access_token varchar(200), expires_in varchar(10),
                refresh_token varchar(200), openid varchar(50), scope varchar(50), create_at varchar(20))`),
              Effect.forEach(
                [...rows, { ...legacyRow(now - hour), openid: null }],
                (row) => sql`INSERT INTO ${sql(nullable)} ${sql.insert({ ...row })}`,
                { discard: true }
              )
            )),
          client
        )
        // a page of 3 holds both openids and, where NULL sorts last (PostgreSQL), the NULL
        const result = yield* Effect.provide(
          SqlTokenStore.importLegacy({ appId, table: nullable, batchSize: 3 }),
          context
        )
        assert.deepStrictEqual(result, importResult({ imported: 2, skipped: 1, invalid: 1 }))
        for (const row of rows) assert.isTrue(Option.isSome(yield* store.get(appId, row.openid)))
      }))

    it.scoped("a create_at in the future is taken as now, so it cannot block newer tokens; a date without offset is invalid", () =>
      Effect.gen(function*() {
        const { appId, got, insert, run, store } = yield* legacyFixture(db)

        // a clock 3 days ahead wrote this one
        const future = legacyRow(now + 3 * day)
        const withOffset = legacyRow(0, { create_at: new Date(now - hour).toISOString().replace(".000Z", "Z") })
        // which time zone? it could be hours off either way
        const withoutOffset = legacyRow(0, {
          create_at: new Date(now - hour).toISOString().slice(0, 19).replace("T", " ")
        })
        yield* insert([future, withOffset, withoutOffset])

        const result = yield* run
        assert.deepStrictEqual(result, importResult({ imported: 2, skipped: 1, invalid: 1 }))

        const capped = yield* got(future.openid)
        assert.strictEqual(capped.obtainedAt, now)
        assert.strictEqual(capped.expiresAt, now + 7200 * 1000)
        assert.strictEqual(capped.refreshExpiresAt, now + OAuthToken.refreshTokenLifeMillis)
        assert.strictEqual((yield* got(withOffset.openid)).obtainedAt, now - hour)
        assert.isTrue(Option.isNone(yield* store.get(appId, withoutOffset.openid)))

        // a refresh a second later is newer, and wins
        const refreshed = yield* makeToken({ openid: future.openid, obtainedAt: now + 1000 })
        yield* store.set(appId, refreshed)
        assert.strictEqual(
          Redacted.value((yield* got(future.openid)).accessToken),
          Redacted.value(refreshed.accessToken)
        )
      }))

    it.scoped("a row dated ahead of the clock is imported once: a second run does not replace what the store got since (a refresh, a new consent)", () =>
      Effect.gen(function*() {
        const { appId, context, got, insert, legacy, run, store } = yield* legacyFixture(db)
        // a legacy server whose clock runs an hour ahead wrote these
        const refreshedLater = legacyRow(now + hour)
        const consentedLater = legacyRow(now + hour)
        yield* insert([refreshedLater, consentedLater])

        // the first run brings both, dated now
        assert.deepStrictEqual(yield* run, importResult({ imported: 2 }))
        assert.strictEqual((yield* got(refreshedLater.openid)).obtainedAt, now)

        // wxauth serves them: one token refreshed, a new consent for the other (another scope and refresh token)
        yield* TestClock.adjust("10 minutes")
        const refreshed = yield* makeToken({
          openid: refreshedLater.openid,
          refreshToken: Redacted.make(refreshedLater.refresh_token)
        })
        const consent = yield* makeToken({ openid: consentedLater.openid, scope: ["snsapi_base"] })
        yield* store.set(appId, refreshed)
        yield* store.set(appId, consent)

        // the rows have not changed: the second run brings nothing, and the store keeps wxauth's tokens
        yield* TestClock.adjust("10 minutes")
        assert.deepStrictEqual(yield* run, importResult({ skipped: 2, datedAhead: 2 }))
        const kept = yield* got(refreshedLater.openid)
        assert.strictEqual(Redacted.value(kept.accessToken), Redacted.value(refreshed.accessToken))
        assert.strictEqual(kept.obtainedAt, now + 10 * 60 * 1000)
        const keptConsent = yield* got(consentedLater.openid)
        assert.strictEqual(Redacted.value(keptConsent.refreshToken), Redacted.value(consent.refreshToken))
        assert.deepStrictEqual([...keptConsent.scope], ["snsapi_base"])

        // a row that did change, now dated in the past, is still brought
        const changed = legacyRow(now + 15 * 60 * 1000, { openid: refreshedLater.openid })
        yield* Effect.provide(
          Effect.flatMap(
            SqlClient.SqlClient,
            (sql) =>
              sql`UPDATE ${sql(legacy)} SET access_token = ${changed.access_token}, create_at = ${changed.create_at}
              WHERE openid = ${changed.openid}`
          ),
          context
        )
        assert.deepStrictEqual(yield* run, importResult({ imported: 1, skipped: 1, datedAhead: 1 }))
        assert.strictEqual(Redacted.value((yield* got(refreshedLater.openid)).accessToken), changed.access_token)
      }))

    it.scoped("a row dated ahead of the clock never replaces a token the store already holds, however old", () =>
      Effect.gen(function*() {
        const { appId, insert, run, store } = yield* legacyFixture(db)
        const ahead = legacyRow(now + hour)
        const held = yield* makeToken({ openid: ahead.openid, obtainedAt: now - day })
        yield* store.set(appId, held)
        yield* insert([ahead])
        const result = yield* run
        assert.deepStrictEqual(result, importResult({ skipped: 1, datedAhead: 1 }))
        const kept = Option.getOrThrow(yield* store.get(appId, ahead.openid))
        assert.strictEqual(Redacted.value(kept.accessToken), Redacted.value(held.accessToken))
        assert.strictEqual(kept.obtainedAt, now - day)
      }))

    it.scoped("the final run before the switch, legacy clock 2 minutes ahead: a new consent there is counted as datedAhead, not newerInStore, and a run once the lead has passed brings it", () =>
      Effect.gen(function*() {
        const { context, got, insert, legacy, run, sql } = yield* legacyFixture(db)
        const lead = 2 * 60 * 1000 // the legacy server's clock runs 2 minutes ahead

        // a day ago (legacy clock), the user logged in with snsapi_base: the first run brings it
        const first = legacyRow(now - day + lead, { scope: "snsapi_base" })
        yield* insert([first])
        assert.deepStrictEqual(yield* run, importResult({ imported: 1 }))

        // just now, on the legacy server still serving: a new consent (snsapi_userinfo, new refresh token)
        const consent = legacyRow(now + lead, { openid: first.openid, scope: "snsapi_userinfo" })
        yield* Effect.provide(
          sql`UPDATE ${sql(legacy)} SET access_token = ${consent.access_token},
            refresh_token = ${consent.refresh_token}, scope = ${consent.scope}, create_at = ${consent.create_at}
            WHERE openid = ${consent.openid}`,
          context
        )

        // the final run: the row is dated ahead and the store holds run 1's token, so it is left alone,
        // but counted apart: the operator sees it was not compared
        yield* TestClock.adjust("1 second")
        assert.deepStrictEqual(yield* run, importResult({ skipped: 1, datedAhead: 1 }))
        assert.strictEqual(Redacted.value((yield* got(first.openid)).accessToken), first.access_token)

        // once the legacy clock's lead has passed, another run compares the row like any other and brings it
        yield* TestClock.setTime(now + lead + 1)
        assert.deepStrictEqual(yield* run, importResult({ imported: 1 }))
        const token = yield* got(first.openid)
        assert.strictEqual(Redacted.value(token.accessToken), consent.access_token)
        assert.strictEqual(Redacted.value(token.refreshToken), consent.refresh_token)
        assert.deepStrictEqual([...token.scope], ["snsapi_userinfo"])
        assert.strictEqual(token.obtainedAt, now + lead)

        // and a run after that finds nothing new
        assert.deepStrictEqual(yield* run, importResult({ skipped: 1, newerInStore: 1 }))
      }))

    it.scoped("an expires_in too large to store (1e300 seconds) is invalid, and the import goes on", () =>
      Effect.gen(function*() {
        const { appId, insert, run, store } = yield* legacyFixture(db)
        const huge = legacyRow(now - hour, { expires_in: "1e300" })
        const fine = legacyRow(now - hour)
        yield* insert([huge, fine])

        const result = yield* run
        assert.deepStrictEqual(result, importResult({ imported: 1, skipped: 1, invalid: 1 }))
        assert.isTrue(Option.isNone(yield* store.get(appId, huge.openid)))
        assert.isTrue(Option.isSome(yield* store.get(appId, fine.openid)))
      }))

    it.scoped("reads each row by core's LegacyToken rules: an expires_in of 0, 7200.5 or over 30 days is invalid", () =>
      Effect.gen(function*() {
        const { appId, insert, run, store } = yield* legacyFixture(db)
        const refused = ["0", "7200.5", "2592001"].map((expires_in) => legacyRow(now - hour, { expires_in }))
        const longest = legacyRow(now - hour, { expires_in: "2592000" })
        yield* insert([...refused, longest])

        const result = yield* run
        assert.deepStrictEqual(result, importResult({ imported: 1, skipped: 3, invalid: 3 }))
        for (const row of refused) assert.isTrue(Option.isNone(yield* store.get(appId, row.openid)))
        const token = Option.getOrThrow(yield* store.get(appId, longest.openid))
        assert.strictEqual(token.expiresAt, now - hour + 2_592_000 * 1000)
      }))

    it.scoped("imports into an encrypted store: the new rows hold no token in clear", () =>
      Effect.gen(function*() {
        const cipher = TokenCipher.layer({ keys: [{ id: "k1", key: TokenCipher.generateKey() }] })
        const { appId, insert, run, sql, store, table } = yield* legacyFixture(db, cipher)
        const row = legacyRow(now - hour)
        yield* insert([row])
        const result = yield* run
        assert.strictEqual(result.imported, 1)
        const [stored] = yield* sql<{ value: string }>`SELECT value FROM ${sql(table)}`
        assert.notInclude(stored.value, row.access_token)
        assert.notInclude(stored.value, row.refresh_token)
        const token = Option.getOrThrow(yield* store.get(appId, row.openid))
        assert.strictEqual(Redacted.value(token.refreshToken), row.refresh_token)
      }))

    it.scoped("reads at most batchSize rows a query, and of a user's many rows only those up to the latest usable one", () =>
      Effect.gen(function*() {
        const { client, context } = yield* legacyFixture(db)
        // no unique key: wechat-oauth's REPLACE INTO adds a row per save
        const own = yield* ownLegacyTable(client, "varchar(200)")
        const [many, mixed, single] = [randomOpenId(), randomOpenId(), randomOpenId()]
        // 200 saves of one user, a minute apart, the 3 latest unusable (an expires_in of 0)
        const saves = Array.from(
          { length: 200 },
          (_, i) => legacyRow(now - hour - i * 60_000, { openid: many, expires_in: i < 3 ? "0" : "7200" })
        )
        // another's 50 saves, and a date string (only the decode reads it) later than all of them
        const dateString = legacyRow(0, { openid: mixed, create_at: new Date(now - 10 * 60_000).toISOString() })
        const mixedRows = [
          ...Array.from({ length: 50 }, (_, i) => legacyRow(now - hour - i * 60_000, { openid: mixed })),
          dateString
        ]
        const one = legacyRow(now - hour, { openid: single })
        yield* Effect.provide(own.insert([...saves, ...mixedRows, one]), client)

        for (const batchSize of [1, 2, 500]) {
          const fetched: Fetched = []
          const statements: Array<string> = []
          const recorded = Context.add(
            context,
            SqlClient.SqlClient,
            recording(Context.get(client, SqlClient.SqlClient), fetched, statements)
          )
          const appId = randomAppId()
          const result = yield* Effect.provide(
            SqlTokenStore.importLegacy({ appId, table: own.table, batchSize }),
            recorded
          )
          // MySQL 5.7 has no window function: the import must run there
          assert.deepStrictEqual(windowFunctions(statements), [], `batchSize ${batchSize}: a window function`)
          assert.deepStrictEqual(result, importResult({ imported: 3 }))
          const store = Context.get(context, TokenStore.TokenStore)
          const accessToken = (openid: string) =>
            Effect.map(store.get(appId, openid), (token) => Redacted.value(Option.getOrThrow(token).accessToken))
          // the latest usable row of each user, as before
          assert.strictEqual(yield* accessToken(many), saves[3].access_token)
          assert.strictEqual(yield* accessToken(mixed), dateString.access_token)
          assert.strictEqual(yield* accessToken(single), one.access_token)

          const largest = Math.max(...fetched.map((rows) => rows.length))
          assert.isAtMost(largest, batchSize, `batchSize ${batchSize}: a query answered ${largest} rows`)
          const tokenRows = fetched.flat().filter((row) => "access_token" in row).length
          // batchSize 1: the 4 latest of the 200, the date string and the latest of the 50, the single row
          if (batchSize === 1) assert.strictEqual(tokenRows, 7)
          else if (batchSize === 2) assert.isAtMost(tokenRows, 10)
        }
      }))

    it.scoped("a column longer than any token is not fetched: its row is invalid, and the user's other rows are read", () =>
      Effect.gen(function*() {
        const { appId, client, context, got, store } = yield* legacyFixture(db)
        const own = yield* ownLegacyTable(client, "text")
        const long = "x".repeat(60_000)
        const longToken = legacyRow(now - hour, { access_token: `AT_${long}` })
        const olderFine = legacyRow(now - 2 * hour)
        const longRefresh = legacyRow(now - hour, { openid: olderFine.openid, refresh_token: `RT_${long}` })
        const longOpenid = legacyRow(now - hour, { openid: `o${long}` })
        const longTime = legacyRow(0, { create_at: "1".repeat(60_000) })
        yield* Effect.provide(own.insert([longToken, olderFine, longRefresh, longOpenid, longTime]), client)

        const fetched: Fetched = []
        const statements: Array<string> = []
        const recorded = Context.add(
          context,
          SqlClient.SqlClient,
          recording(Context.get(client, SqlClient.SqlClient), fetched, statements)
        )
        const result = yield* Effect.provide(
          SqlTokenStore.importLegacy({ appId, table: own.table, batchSize: 1 }),
          recorded
        )
        assert.deepStrictEqual(windowFunctions(statements), [], "a window function")
        assert.deepStrictEqual(result, importResult({ imported: 1, skipped: 3, invalid: 3 }))
        assert.strictEqual(Redacted.value((yield* got(olderFine.openid)).refreshToken), olderFine.refresh_token)
        for (const row of [longToken, longTime]) assert.isTrue(Option.isNone(yield* store.get(appId, row.openid)))
        const longest = longestFetched(fetched)
        assert.isAtMost(longest, 4 * 1024, `a query answered a text of ${longest} characters`)
      }))

    it.scoped("a stored token the store cannot read does not stop the import: the legacy token is written over it (newer wins); what the store still cannot read is left, never removed; the users after it are imported", () =>
      Effect.gen(function*() {
        const { appId, got, insert, run, sql, store, table } = yield* legacyFixture(db)
        const rows = Array.from({ length: 4 }, () => legacyRow(now - hour))
        const ahead = legacyRow(now + hour)
        yield* insert([...rows, ahead])
        const garbage = "{\"not\":\"a token\"}"
        /** `openid`'s stored token made unreadable (another version's, corrupted), stamped `stamp`. */
        const unreadable = (openid: string, stamp: number) =>
          Effect.gen(function*() {
            yield* store.set(appId, yield* makeToken({ openid, obtainedAt: now - day }))
            yield* sql`UPDATE ${sql(table)} SET value = ${garbage}, obtained_at = ${stamp}
              WHERE app_id = ${appId} AND openid = ${openid}`
            assert.isTrue(Either.isLeft(yield* Effect.either(store.get(appId, openid))))
          })
        // stamped before the legacy row (newer wins replaces it), and after it (a clock ahead: newer
        // wins keeps that row, and the import cannot tell it from a newer token it failed to read)
        yield* unreadable(rows[1].openid, now - day)
        yield* unreadable(rows[2].openid, now + day)
        yield* unreadable(ahead.openid, now - day)
        const storedValue = (openid: string) =>
          Effect.map(
            sql<{ value: unknown }>`SELECT value FROM ${sql(table)} WHERE app_id = ${appId} AND openid = ${openid}`,
            (found) => found.map((row) => String(row.value))
          )

        const result = yield* Effect.either(run)
        assert.isTrue(
          Either.isRight(result),
          `the import stopped: ${Either.isLeft(result) ? result.left.description : ""}`
        )
        // what the store still cannot read is left as it is: not removed, not replaced
        assert.deepStrictEqual(yield* storedValue(rows[2].openid), [garbage])
        assert.deepStrictEqual(
          Either.getOrThrow(result),
          importResult({ imported: 3, skipped: 1, datedAhead: 1, unreadableInStore: 1 })
        )
        for (const row of [rows[0], rows[1], rows[3]]) {
          assert.strictEqual(Redacted.value((yield* got(row.openid)).accessToken), row.access_token)
        }
        // a row dated ahead leaves it, as it leaves any stored token, until a run once its date has passed
        assert.isTrue(Either.isLeft(yield* Effect.either(store.get(appId, ahead.openid))))
        assert.deepStrictEqual(
          yield* run,
          importResult({ skipped: 4, newerInStore: 3, datedAhead: 1, unreadableInStore: 1 })
        )
        yield* TestClock.setTime(now + hour + 1)
        assert.deepStrictEqual(
          yield* run,
          importResult({ imported: 1, skipped: 3, newerInStore: 3, unreadableInStore: 1 })
        )
        assert.strictEqual(Redacted.value((yield* got(ahead.openid)).accessToken), ahead.access_token)
        assert.deepStrictEqual(yield* storedValue(rows[2].openid), [garbage])
      }))

    it.scoped("a token written meanwhile is never removed: two failed reads of a user leave the store's newer token, warn naming the user, and the import goes on", () =>
      Effect.gen(function*() {
        const { appId, context, got, insert, legacy, store } = yield* legacyFixture(db)
        const [victim, other] = [legacyRow(now - hour), legacyRow(now - hour)]
        yield* insert([victim, other])
        // the live app's new consent, written while the import's reads of the victim fail (a timeout,
        // a connection blip: twice in a row)
        const newer = yield* makeToken({ openid: victim.openid, obtainedAt: now - 60_000 })
        let failures = 0
        const flaky: TokenStore.TokenStore["Type"] = {
          ...store,
          get: (id, openid) =>
            openid === victim.openid && failures < 2
              ? Effect.gen(function*() {
                failures++
                if (failures === 1) yield* store.set(appId, newer)
                return yield* new WeChatError.TokenStoreError({ operation: "get", description: "timed out" })
              })
              : store.get(id, openid)
        }
        const logged: Array<string> = []
        const logger = Logger.make(({ annotations, message }) => {
          logged.push(JSON.stringify({ message, annotations: Object.fromEntries(HashMap.toEntries(annotations)) }))
        })
        const result = yield* SqlTokenStore.importLegacy({ appId, table: legacy }).pipe(
          Effect.provide(Context.add(context, TokenStore.TokenStore, flaky)),
          Effect.provide(Logger.replace(Logger.defaultLogger, logger))
        )
        // the newer token the live app wrote is still there: not removed, not replaced by the legacy one
        const kept = yield* got(victim.openid)
        assert.strictEqual(
          Redacted.value(kept.accessToken),
          Redacted.value(newer.accessToken),
          "the newer token written meanwhile was removed and replaced by the legacy one"
        )
        assert.strictEqual(failures, 2)
        assert.deepStrictEqual(result, importResult({ imported: 1, unreadableInStore: 1 }))
        assert.strictEqual(Redacted.value((yield* got(other.openid)).accessToken), other.access_token)
        // a warning names the app and the user, and quotes no token
        const warnings = logged.filter((line) => line.includes(victim.openid))
        assert.strictEqual(warnings.length, 1)
        assert.include(warnings[0], appId)
        for (const secret of [victim.access_token, victim.refresh_token, Redacted.value(newer.accessToken)]) {
          assert.notInclude(logged.join("\n"), secret)
        }
      }))

    // PostgreSQL answers a CHAR(n) column padded with spaces to n (MySQL / MariaDB strip the padding,
    // SQLite pads nothing): wechat-oauth's table with openid CHAR(n), as a port of its schema may
    // declare it, a user with two rows, read a row a query (every resume) and all at once
    it.scoped("an openid CHAR(n) column: each openid is read and imported as stored, without its padding", () =>
      Effect.gen(function*() {
        if (db.dialect !== "pg") return
        const { appId, client, context, got, store } = yield* legacyFixture(db)
        const sql = Context.get(client, SqlClient.SqlClient)
        // CHAR(40), CHAR(200), and a domain over a domain over CHAR(200)
        for (const width of [40, 200, "domain"] as const) {
          let type = `char(${width})`
          if (width === "domain") {
            const [inner, outer] = [randomTable("legacy_dom"), randomTable("legacy_dom")]
            yield* Effect.addFinalizer(() => Effect.orDie(sql.unsafe(`DROP DOMAIN IF EXISTS ${outer}, ${inner}`)))
            yield* sql.unsafe(`CREATE DOMAIN ${inner} AS char(200)`)
            yield* sql.unsafe(`CREATE DOMAIN ${outer} AS ${inner}`)
            type = outer
          }
          const table = randomTable("legacy_char")
          yield* Effect.addFinalizer(() => Effect.orDie(Effect.provide(dropTables(table), client)))
          yield* sql.unsafe(`CREATE TABLE ${table} (access_token varchar(200) NOT NULL,
            expires_in varchar(10) NOT NULL, refresh_token varchar(200) NOT NULL, openid ${type} NOT NULL,
            scope varchar(50) NOT NULL, create_at varchar(20) NOT NULL)`)
          const [first, second] = [legacyRow(now - hour), legacyRow(now - hour)]
          const rows = [first, legacyRow(now - 2 * hour, { openid: first.openid }), second]
          yield* Effect.forEach(rows, (row) => sql`INSERT INTO ${sql(table)} ${sql.insert({ ...row })}`, {
            discard: true
          })
          for (const batchSize of [1, 500]) {
            const label = `${
              width === "domain" ? "a domain over a domain over CHAR(200)" : type
            }, batchSize ${batchSize}`
            const fetched: Fetched = []
            const recorded = Context.add(context, SqlClient.SqlClient, recording(sql, fetched))
            const result = yield* Effect.provide(SqlTokenStore.importLegacy({ appId, table, batchSize }), recorded)
            // before, CHAR(200): { imported: 0, skipped: 2, invalid: 2 } (padded, more than 128 characters)
            assert.deepStrictEqual(result, importResult({ imported: 2 }), label)
            const openids = fetched.flat().flatMap((row) => "openid" in row ? [row.openid] : [])
            assert.isNotEmpty(openids)
            // before, CHAR(40): each openid answered padded to 40 characters
            for (const openid of openids) {
              assert.include([first.openid, second.openid], openid, `${label}: a query answered a padded openid`)
            }
            for (const row of [first, second]) {
              const token = yield* got(row.openid)
              assert.strictEqual(token.openid, row.openid)
              assert.strictEqual(Redacted.value(token.accessToken), row.access_token, label)
            }
            const again = yield* Effect.provide(SqlTokenStore.importLegacy({ appId, table, batchSize }), context)
            assert.deepStrictEqual(again, importResult({ skipped: 2, newerInStore: 2 }), `${label}, again`)
            yield* Effect.forEach([first, second], (row) => store.remove(appId, row.openid), { discard: true })
          }
        }
      }))

    it.scoped("rejects a bad legacy table name and an empty appId", () =>
      Effect.gen(function*() {
        const client = yield* Layer.build(db.client())
        const context = Context.add(client, TokenStore.TokenStore, yield* TokenStore.makeMemory())
        const badTable = yield* Effect.flip(
          Effect.provide(SqlTokenStore.importLegacy({ appId: randomAppId(), table: "token;--" }), context)
        )
        assert.strictEqual(badTable._tag, "InvalidArgument")
        const badApp = yield* Effect.flip(Effect.provide(SqlTokenStore.importLegacy({ appId: " " }), context))
        assert.strictEqual(badApp._tag, "InvalidArgument")
      }))
  })
})
