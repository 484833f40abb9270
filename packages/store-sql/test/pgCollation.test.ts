/**
 * PostgreSQL's nondeterministic collations: an id column declared with one (an ICU collation such as
 * `und-u-ks-level2`, which ignores case) takes 'oVictim' and 'ovictim' for one key, so two users'
 * writes share one row. Setup and the layers with `setup: false` refuse such a table, naming the
 * column and its collation, as they refuse SQLite's `NOCASE` and MariaDB's `_ci`; a table of the
 * store's shape with the operator's own index, or own column, in such a collation still passes.
 * The tests need a server built with ICU: without it they are skipped with a warning, except in CI
 * (`CI` set), where that is a failure.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { SessionKeyStore } from "@wxauth/core"
import { randomAppId, randomSessionKey } from "@wxauth/core/testing"
import { SqlAppTokenStore, SqlSessionKeyStore, SqlSessionStore, SqlTokenStore } from "@wxauth/store-sql"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import { dropTables, isCi, postgres, randomTable } from "./databases.js"

/** Why the server cannot run these tests (unreachable, or built without ICU), if it cannot. */
const noIcu: string | undefined = await Effect.runPromise(
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql<{ n: unknown }>`SELECT count(*) AS n FROM pg_collation WHERE collprovider = 'i'`
  ).pipe(
    Effect.provide(postgres.client()),
    Effect.timeoutFail({ duration: Duration.seconds(10), onTimeout: () => "no answer within 10 seconds" }),
    Effect.match({
      onFailure: (error) =>
        `PostgreSQL at ${postgres.host}:${postgres.port} is not reachable (${
          typeof error === "string" ? error : String((error as Error).message ?? error)
        })`,
      onSuccess: ([row]) =>
        Number(row?.n) > 0
          ? undefined
          : `PostgreSQL at ${postgres.host}:${postgres.port} has no ICU collations (built without ICU)`
    })
  )
)

/**
 * A nondeterministic collation that ignores case (ICU, strength 2), named afresh, dropped (with
 * the tables that use it) when the scope closes.
 */
const caseless = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const name = `wxauth_ci_${Crypto.randomBytes(6).toString("hex")}`
  yield* sql.unsafe(`CREATE COLLATION ${name} (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`)
  yield* Effect.addFinalizer(() => Effect.ignore(sql.unsafe(`DROP COLLATION IF EXISTS ${name} CASCADE`)))
  const [same] = yield* sql<{ same: unknown }>`SELECT 'oVictim' = 'ovictim' COLLATE ${sql.literal(name)} AS same`
  assert.strictEqual(same?.same, true, "the collation does not ignore case")
  return name
})

/** A store's DDL with its `columns` declared in `collation`; the tables are dropped when the scope closes. */
const made = (
  statements: ReadonlyArray<string>,
  columns: ReadonlyArray<string>,
  collation: string,
  ...tables: ReadonlyArray<string>
) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* Effect.addFinalizer(() => Effect.ignore(dropTables(...tables)))
    const changed = statements.map((statement) =>
      columns.reduce(
        (ddl, column) =>
          ddl.replace(new RegExp(`\\b${column} (VARCHAR\\(\\d+\\)|CHAR\\(\\d+\\))`), `$& COLLATE ${collation}`),
        statement
      )
    )
    for (const column of columns) {
      assert.match(changed.join("\n"), new RegExp(`\\b${column} [^,\\n]*COLLATE ${collation}`))
    }
    for (const statement of changed) yield* sql.unsafe(statement)
  })

const tests = () => {
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
      (table) => SqlSessionKeyStore.ddl("pg", { table }),
      ["openid"],
      (sql, options) => Layer.build(SqlSessionKeyStore.layerFromClient(sql, options))
    ],
    [
      "SqlTokenStore",
      (table) => SqlTokenStore.ddl("pg", { table }),
      ["openid"],
      (sql, options) => Layer.build(SqlTokenStore.layerFromClient(sql, options))
    ],
    [
      "SqlTokenStore's code memo",
      (table) => SqlTokenStore.ddl("pg", { table }),
      ["code_hash"],
      (sql, options) => Layer.build(SqlTokenStore.layerFromClient(sql, options))
    ],
    [
      "SqlAppTokenStore",
      (table) => SqlAppTokenStore.ddl("pg", { table }),
      ["app_id"],
      (sql, options) => Layer.build(SqlAppTokenStore.layerFromClient(sql, options))
    ],
    [
      "SqlSessionStore (the primary key)",
      (table) => SqlSessionStore.ddl("pg", { table }),
      ["id_hash"],
      (sql, options) => Layer.build(SqlSessionStore.layerFromClient(sql, options))
    ],
    [
      "SqlSessionStore (the user, whose sessions revokeUser ends)",
      (table) => SqlSessionStore.ddl("pg", { table }),
      ["openid"],
      (sql, options) => Layer.build(SqlSessionStore.layerFromClient(sql, options))
    ]
  ]
  for (const [name, ddl, columns, build] of stores) {
    it.scopedLive(`${name}: an id column in a nondeterministic collation gets the table refused, with setup and without, naming the column`, () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const collation = yield* caseless
        const table = randomTable("wxauth_nd")
        const named = name === "SqlTokenStore's code memo" ? `${table}_codes` : table
        yield* made(yield* ddl(table), columns, collation, table, `${table}_codes`)
        for (const setup of [true, false]) {
          const built = yield* Effect.either(build(sql, { table, setup }))
          // before: the layer was built, and a set of 'ovictim…' replaced the row of 'oVictim…'
          assert.isTrue(built._tag === "Left", `setup: ${setup}: the layer was built over the table`)
          if (built._tag === "Right") return
          const error = built.left
          assert.strictEqual(error._tag, name.startsWith("SqlSessionStore") ? "SessionStoreError" : "TokenStoreError")
          assert.include(
            error.description,
            `the table ${named} is not the store's: its column ${
              columns[0]
            } has the collation ${collation}, which does not compare byte for byte`
          )
          assert.match(String(error.description), new RegExp(`migrate it to ${columns[0]} [^;]*, or drop the table`))
        }
      }).pipe(Effect.scoped, Effect.provide(postgres.client())))
  }

  it.scopedLive("an index of the operator's own, and a column of the operator's own, in a nondeterministic collation do not get a table of the DDL refused", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const collation = yield* caseless
      const table = randomTable("wxauth_nd")
      yield* Effect.addFinalizer(() => Effect.ignore(dropTables(table)))
      for (const statement of yield* SqlSessionKeyStore.ddl("pg", { table })) yield* sql.unsafe(statement)
      yield* sql.unsafe(`CREATE INDEX ${table}_search ON ${table} (openid COLLATE ${collation})`)
      yield* sql.unsafe(`ALTER TABLE ${table} ADD COLUMN note TEXT COLLATE ${collation}`)
      yield* sql.unsafe(`CREATE INDEX ${table}_note ON ${table} (note)`)
      for (const setup of [true, false]) {
        const built = yield* Effect.either(Layer.build(SqlSessionKeyStore.layerFromClient(sql, { table, setup })))
        assert.isTrue(
          built._tag === "Right",
          `the layer refused the table: ${built._tag === "Left" ? built.left.description : ""}`
        )
        if (built._tag === "Left") return
        const store = Context.get(built.right, SessionKeyStore.SessionKeyStore)
        const appId = randomAppId()
        const victim = `oVictim${Crypto.randomBytes(8).toString("hex").toUpperCase()}`
        const [victimKey, otherKey] = [randomSessionKey(), randomSessionKey()]
        yield* store.set(appId, victim, victimKey)
        yield* store.set(appId, victim.toLowerCase(), otherKey)
        // the column compares byte for byte: two users, two rows
        assert.strictEqual(
          Redacted.value(Option.getOrThrow(yield* store.get(appId, victim))),
          Redacted.value(victimKey)
        )
        assert.strictEqual(
          Redacted.value(Option.getOrThrow(yield* store.get(appId, victim.toLowerCase()))),
          Redacted.value(otherKey)
        )
      }
    }).pipe(Effect.scoped, Effect.provide(postgres.client())))
}

if (noIcu === undefined) {
  describe("PostgreSQL nondeterministic collations", tests)
} else if (isCi(process.env.CI)) {
  describe("PostgreSQL nondeterministic collations", () => {
    it("can run (in CI a server without ICU fails the run)", () => {
      throw new Error(noIcu)
    })
  })
} else {
  console.warn(
    `\n!!! SKIPPING the PostgreSQL nondeterministic collation tests of @wxauth/store-sql: ${noIcu}. Set CI=1 to fail instead.\n`
  )
  describe.skip(`PostgreSQL nondeterministic collations (${noIcu})`, tests)
}
