/**
 * Red team: JavaScript callers of SqlTokenStore, SqlAppTokenStore and SqlSessionKeyStore (SqlSessionStore
 * has its own file), on each database. Every module function (`make`, the layers, `setup`, `ddl`,
 * `tables`, `purgeExpired`, `importLegacy`) given an option of the wrong kind (a table name that is
 * a Symbol, `NaN` or a Proxy; a timeout that is `NaN`, `Infinity`, `"banana"` or a Proxy whose traps
 * throw; options that cannot be read) answers with an `InvalidArgument` naming it: never a throw,
 * a defect or a hang. And rows written by another version or a hand: an `obtained_at` that is no
 * time never pins its row.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import type { AppTokenStore } from "@wxauth/core"
import { TokenStore } from "@wxauth/core"
import { exoticArguments, makeAppToken, makeToken, randomAppId } from "@wxauth/core/testing"
import { SqlAppTokenStore, SqlSessionKeyStore, SqlSessionStore, SqlTokenStore } from "@wxauth/store-sql"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { type Database, dropTablesAfter, forEachDatabase, randomTable } from "./databases.js"

type Bad = ReadonlyArray<readonly [label: string, value: unknown]>

const exotic = (): Bad => exoticArguments().filter(([label]) => label !== "Object.create(null)")

const badDurations = (): Bad => [
  ...exoticArguments(),
  ["NaN", Number.NaN],
  ["Infinity", Number.POSITIVE_INFINITY],
  ["-1", -1],
  ["'banana'", "banana"],
  ["an array", ["1 second"]]
]

/** Not a table name: NaN and Infinity once passed the name's pattern as "NaN" and "Infinity". */
const badNames = (): Bad => [...exotic(), ["NaN", Number.NaN], ["Infinity", Number.POSITIVE_INFINITY], ["an array", [
  "t"
]], ["a number", 42]]

/** What a call gives: `InvalidArgument <argument>`, or how else it ended. */
const outcome = (call: () => unknown): Effect.Effect<string, never, never> =>
  Effect.gen(function*() {
    let result: unknown
    try {
      result = call()
    } catch (error) {
      return `threw ${String(error).slice(0, 80)}`
    }
    const effect = Either.isEither(result)
      ? Either.match(result, { onLeft: Effect.fail, onRight: Effect.succeed })
      : result as Effect.Effect<unknown, unknown>
    const exit = yield* Effect.exit(Effect.timeout(effect, "5 seconds"))
    if (Exit.isSuccess(exit)) return "succeeded"
    if (Cause.isDie(exit.cause)) return `died ${Cause.pretty(exit.cause).split("\n")[0].slice(0, 80)}`
    const failure = Cause.failureOption(exit.cause)
    if (Option.isNone(failure)) return "interrupted"
    const error = failure.value as { readonly _tag?: unknown; readonly argument?: unknown }
    return error._tag === "InvalidArgument"
      ? `InvalidArgument ${String(error.argument)}`
      : `failed ${String(error._tag)}`
  }) as Effect.Effect<string, never, never>

/** A table of its own for each store (a layer whose option is refused after its setup made it). */
const tables: Record<string, string> = {
  SqlTokenStore: randomTable("wxauth_rt"),
  SqlAppTokenStore: randomTable("wxauth_rt"),
  SqlSessionKeyStore: randomTable("wxauth_rt")
}

/** The tables of the pinning test. */
const pinned = { tokens: randomTable("wxauth_rt"), appTokens: randomTable("wxauth_rt") }

forEachDatabase((db: Database) => {
  describe(`red team: the SQL stores on ${db.name}`, () => {
    it.effect(
      "an option of the wrong kind is an InvalidArgument naming it, from every module function",
      () =>
        Effect.gen(function*() {
          const wrong: Array<string> = []
          const functions = (optionsOf: (store: string) => never) =>
            [
              ["SqlTokenStore.make", () => SqlTokenStore.make(optionsOf("SqlTokenStore"))],
              [
                "SqlTokenStore.layer",
                () => Effect.scoped(Layer.build(SqlTokenStore.layer(optionsOf("SqlTokenStore"))))
              ],
              ["SqlTokenStore.setup", () => SqlTokenStore.setup(optionsOf("SqlTokenStore"))],
              ["SqlTokenStore.ddl", () => SqlTokenStore.ddl(db.dialect, optionsOf("SqlTokenStore"))],
              ["SqlTokenStore.tables", () => SqlTokenStore.tables(optionsOf("SqlTokenStore"))],
              ["SqlTokenStore.purgeExpired", () => SqlTokenStore.purgeExpired(optionsOf("SqlTokenStore"))],
              ["SqlAppTokenStore.make", () => SqlAppTokenStore.make(optionsOf("SqlAppTokenStore"))],
              [
                "SqlAppTokenStore.layer",
                () => Effect.scoped(Layer.build(SqlAppTokenStore.layer(optionsOf("SqlAppTokenStore"))))
              ],
              ["SqlAppTokenStore.ddl", () => SqlAppTokenStore.ddl(db.dialect, optionsOf("SqlAppTokenStore"))],
              ["SqlAppTokenStore.purgeExpired", () => SqlAppTokenStore.purgeExpired(optionsOf("SqlAppTokenStore"))],
              ["SqlSessionKeyStore.make", () => SqlSessionKeyStore.make(optionsOf("SqlSessionKeyStore"))],
              [
                "SqlSessionKeyStore.layer",
                () => Effect.scoped(Layer.build(SqlSessionKeyStore.layer(optionsOf("SqlSessionKeyStore"))))
              ],
              ["SqlSessionKeyStore.ddl", () => SqlSessionKeyStore.ddl(db.dialect, optionsOf("SqlSessionKeyStore"))],
              [
                "SqlSessionKeyStore.purgeExpired",
                () => SqlSessionKeyStore.purgeExpired(optionsOf("SqlSessionKeyStore"))
              ]
            ] as const
          const cases: ReadonlyArray<readonly [option: string, bad: Bad, names: ReadonlyArray<string>]> = [
            ["table", badNames(), []],
            ["memoTable", badNames(), ["SqlTokenStore."]],
            ["timeout", badDurations(), ["make", "layer", "purgeExpired"]],
            ["setupTimeout", badDurations(), ["layer", "setup"]],
            ["ttl", badDurations(), ["SqlSessionKeyStore.make", "SqlSessionKeyStore.layer"]]
          ]
          for (const [option, bad, only] of cases) {
            for (const [label, value] of bad) {
              for (const [name, call] of functions((store) => ({ table: tables[store], [option]: value }) as never)) {
                if (only.length > 0 && !only.some((part) => name.includes(part))) continue
                const got = yield* outcome(call)
                if (got !== `InvalidArgument ${option}`) wrong.push(`${name}({ ${option}: ${label} }): ${got}`)
              }
            }
          }
          const unreadable = exotic().filter(([label]) =>
            !["throwing toString", "throwing getPrototypeOf"].includes(label)
          )
          for (const [label, value] of [...unreadable, ["'banana'", "banana"], ["an array", []]] as const) {
            for (const [name, call] of functions(() => value as never)) {
              const got = yield* outcome(call)
              if (got !== "InvalidArgument options") wrong.push(`${name}(${label}): ${got}`)
            }
          }
          assert.deepStrictEqual(wrong, [])
        }).pipe(
          Effect.provide(
            Layer.provideMerge(
              dropTablesAfter(...Object.values(tables), `${tables.SqlTokenStore}_codes`),
              Layer.orDie(db.client())
            )
          )
        ),
      120_000
    )

    it.effect(
      "importLegacy given an appId, table, timeout or options of the wrong kind: an InvalidArgument",
      () =>
        Effect.gen(function*() {
          const wrong: Array<string> = []
          const cases: ReadonlyArray<readonly [option: string, bad: Bad]> = [
            ["appId", [...exotic(), ["a number", 42], ["an array", ["wx"]]]],
            ["table", badNames()],
            ["timeout", badDurations()]
          ]
          for (const [option, bad] of cases) {
            for (const [label, value] of bad) {
              const got = yield* outcome(() => SqlTokenStore.importLegacy({ appId: "wx1", [option]: value } as never))
              if (got !== `InvalidArgument ${option}`) wrong.push(`importLegacy({ ${option}: ${label} }): ${got}`)
            }
          }
          const unreadable = exoticArguments().filter(([label]) =>
            label === "throwing getters" || label === "revoked Proxy"
          )
          for (const [label, value] of unreadable) {
            const got = yield* outcome(() => SqlTokenStore.importLegacy(value as never))
            if (got !== "InvalidArgument options") wrong.push(`importLegacy(${label}): ${got}`)
          }
          assert.deepStrictEqual(wrong, [])
        }).pipe(Effect.provide(Layer.merge(Layer.orDie(db.client()), TokenStore.layerMemory))),
      60_000
    )

    it.effect(
      "a stored obtained_at that is no time (past 2^53 - 1, or text in SQLite) does not pin the row",
      () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const tokens = yield* SqlTokenStore.make({ table: pinned.tokens })
          const appTokens = yield* SqlAppTokenStore.make({ table: pinned.appTokens })
          yield* SqlTokenStore.setup({ table: pinned.tokens })
          yield* SqlAppTokenStore.setup({ table: pinned.appTokens })
          const kept: Array<string> = []
          const far = Number.MAX_SAFE_INTEGER
          for (const o of ["9460800000000000", "9223372036854775807", ...(db.dialect === "sqlite" ? ["'inf'"] : [])]) {
            // another version's (or a hand's) row: its value no longer decodes
            const appId = randomAppId()
            const token = yield* makeToken()
            yield* sql.unsafe(
              `INSERT INTO ${pinned.tokens} (app_id, openid, obtained_at, refresh_expires_at, value, updated_at) ` +
                `VALUES ('${appId}', '${token.openid}', ${o}, ${far}, 'not a token', 0)`
            )
            yield* tokens.set(appId, token)
            const got = yield* Effect.either(tokens.get(appId, token.openid))
            if (
              !(got._tag === "Right" && Option.isSome(got.right) && got.right.value.obtainedAt === token.obtainedAt)
            ) {
              kept.push(`user token, obtained_at ${o}`)
            }
            const appToken = yield* makeAppToken()
            yield* sql.unsafe(
              `INSERT INTO ${pinned.appTokens} (app_id, obtained_at, expires_at, value, updated_at) ` +
                `VALUES ('${appId}', ${o}, ${far}, 'not a token', 0)`
            )
            yield* appTokens.set(appId, appToken)
            const gotApp: Either.Either<Option.Option<AppTokenStore.AppAccessToken>, unknown> = yield* Effect.either(
              appTokens.get(appId)
            )
            if (!(gotApp._tag === "Right" && Option.isSome(gotApp.right))) kept.push(`app token, obtained_at ${o}`)
          }
          assert.deepStrictEqual(kept, [])
        }).pipe(
          Effect.provide(
            Layer.provideMerge(
              dropTablesAfter(pinned.tokens, `${pinned.tokens}_codes`, pinned.appTokens),
              Layer.orDie(db.client())
            )
          )
        ),
      60_000
    )

    it.effect("a session key ttl past 2^52 ms is an InvalidArgument, not a store whose expiries are no times", () =>
      Effect.gen(function*() {
        const wrong: Array<string> = []
        // past 2^52 ms (142,000 years), now + ttl is no time a store writes (2^53 - 1 at most)
        for (const ttl of [Number.MAX_VALUE, 1e300, 2e16] as const) {
          const got = yield* outcome(() => SqlSessionKeyStore.make({ table: tables.SqlSessionKeyStore, ttl }))
          if (got !== "InvalidArgument ttl") wrong.push(`make({ ttl: ${ttl} }): ${got}`)
        }
        assert.deepStrictEqual(wrong, [])
      }).pipe(Effect.provide(Layer.orDie(db.client()))))

    it.effect("an id that is not a string is a TokenStoreError, and removes nothing (MariaDB lost the app's every token)", () => {
      const table = randomTable("wxauth_rt")
      return Effect.gen(function*() {
        const store = yield* Effect.zipRight(SqlTokenStore.setup({ table }), SqlTokenStore.make({ table }))
        const appId = randomAppId()
        const tokens = yield* Effect.all([makeToken(), makeToken(), makeToken()])
        for (const token of tokens) yield* store.set(appId, token)
        const memo = new TokenStore.CodeMemo({
          openid: tokens[0].openid,
          exchangedAt: 0,
          expiresAt: Date.now() + 60_000
        })
        // mysql2 sent 0 or an invalid Date so that MariaDB compared openid = 0: true of every openid
        const bad: Bad = [["0", 0], ["an invalid Date", new Date(Number.NaN)], ["an object", { openid: 1 }], [
          "an array",
          [
            tokens[0].openid
          ]
        ], ["null", null]]
        const wrong: Array<string> = []
        for (const [label, value] of bad) {
          const calls: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
            ["remove(appId, openid)", store.remove(appId, value as never)],
            ["remove(appId)", store.remove(value as never, tokens[0].openid)],
            ["get(appId, openid)", store.get(appId, value as never)],
            ["set(appId)", store.set(value as never, tokens[0])],
            ["rememberCode(codeHash)", store.rememberCode(appId, value as never, memo)],
            ["recallCode(codeHash)", store.recallCode(appId, value as never)]
          ]
          for (const [name, call] of calls) {
            const got = yield* Effect.either(call)
            if (
              got._tag === "Right" || got.left === null || (got.left as { _tag?: unknown })._tag !== "TokenStoreError"
            ) {
              wrong.push(`${name} with ${label}: ${got._tag === "Right" ? "succeeded" : String(got.left)}`)
            }
          }
          const kept = yield* Effect.forEach(tokens, (token) => store.get(appId, token.openid))
          if (!kept.every(Option.isSome)) wrong.push(`with ${label}: ${kept.filter(Option.isNone).length} tokens lost`)
        }
        assert.deepStrictEqual(wrong, [])
      }).pipe(
        Effect.provide(Layer.provideMerge(dropTablesAfter(table, `${table}_codes`), Layer.orDie(db.client())))
      )
    })
  })
})

describe("red team: the SQL stores' layerConfig", () => {
  it.effect("given what Config.unwrap cannot walk: a ConfigError when built, never a throw or a defect", () =>
    Effect.gen(function*() {
      const trap = () => {
        throw new Error("trap")
      }
      const revoked = Proxy.revocable({}, {})
      revoked.revoke()
      const table = Config.succeed("wxauth_tokens")
      // before: a string field was walked character by character (a 1 MB one overflowed the stack),
      // {} was a struct of nothing (a TypeError when loaded), a Proxy's trap threw out of the build
      const bad: Bad = [
        ["a string field", { table, timeout: "5 seconds" }],
        ["a 1 MB string field", { table, timeout: "x".repeat(1024 * 1024) }],
        ["an empty object field", { table, setup: {} }],
        ["a Redacted field", { table: Redacted.make("t") }],
        ["a Proxy whose traps throw", new Proxy({}, { get: trap, ownKeys: trap, has: trap })],
        ["a revoked Proxy", revoked.proxy],
        ["a number", 42]
      ]
      const layerConfigs = {
        SqlTokenStore: SqlTokenStore.layerConfig,
        SqlAppTokenStore: SqlAppTokenStore.layerConfig,
        SqlSessionKeyStore: SqlSessionKeyStore.layerConfig,
        SqlSessionStore: SqlSessionStore.layerConfig
      } as Record<string, (config: never) => Layer.Layer<unknown, unknown, SqlClient.SqlClient>>
      // never reached: the options are refused before the store looks at its client
      const noClient = Layer.succeed(SqlClient.SqlClient, {} as SqlClient.SqlClient)
      const wrong: Array<string> = []
      for (const [label, config] of bad) {
        for (const [name, layerConfig] of Object.entries(layerConfigs)) {
          const got = yield* outcome(() =>
            Effect.scoped(Layer.build(layerConfig(config as never).pipe(Layer.provide(noClient))))
          )
          if (got !== "failed ConfigError") wrong.push(`${name}.layerConfig(${label}): ${got}`)
        }
      }
      assert.deepStrictEqual(wrong, [])
    }))
})

describe("red team: the SQL stores' dialect and client arguments", () => {
  it.effect("ddl given no dialect, layerFromClient given no SqlClient: an InvalidArgument naming it, never a throw", () =>
    Effect.gen(function*() {
      const revoked = Proxy.revocable({}, {})
      revoked.revoke()
      // before: ddl threw a TypeError (reading 'id' of the dialect's table); layerFromClient's layer
      // died (sql.onDialectOrElse is not a function)
      const bad: Bad = [
        ...exotic(),
        ["undefined", undefined],
        ["null", null],
        ["a number", 42],
        ["another dialect", "mssql"],
        ["an object", {}],
        ["a revoked Proxy", revoked.proxy],
        // before: the layer died (sql.withoutTransforms is not a function)
        ["an object with onDialectOrElse alone", {
          onDialectOrElse: (cases: { sqlite: () => unknown }) => cases.sqlite()
        }],
        ["an object whose withoutTransforms throws", {
          onDialectOrElse: (cases: { sqlite: () => unknown }) => cases.sqlite(),
          withoutTransforms: () => {
            throw new Error("no")
          }
        }]
      ]
      const modules = { SqlTokenStore, SqlAppTokenStore, SqlSessionKeyStore, SqlSessionStore } as unknown as Record<
        string,
        {
          readonly ddl: (dialect: never) => unknown
          readonly layerFromClient: (sql: never, options?: never) => Layer.Layer<unknown, unknown>
        }
      >
      const wrong: Array<string> = []
      for (const [label, value] of bad) {
        for (const [name, module] of Object.entries(modules)) {
          const ddl = yield* outcome(() => module.ddl(value as never))
          if (ddl !== "InvalidArgument dialect") wrong.push(`${name}.ddl(${label}): ${ddl}`)
          const built = yield* outcome(() =>
            Effect.scoped(Layer.build(module.layerFromClient(value as never, { setup: false } as never)))
          )
          if (built !== "InvalidArgument SqlClient") wrong.push(`${name}.layerFromClient(${label}): ${built}`)
        }
      }
      assert.deepStrictEqual(wrong, [])
    }))
})
