/**
 * Red team: attacks on SqlSessionStore on each database. The attacks every store withstands (ids
 * whose characters a database may lose or compare loosely: NUL, trailing spaces under PAD SPACE
 * collations, lone surrogates written as U+FFFD, look-alikes, a quote, a LIKE wildcard; exotic
 * JavaScript arguments; times at the end of the safe integers) are core's `sessionStoreAttackSuite`,
 * run here in a fresh table for each attack; this file adds the module's own functions (`make`,
 * `ddl`, `purgeExpired`) given exotic options.
 */
import { assert, describe, it } from "@effect/vitest"
import { defectOf, exoticArguments, sessionStoreAttackSuite } from "@wxauth/core/testing"
import { SqlSessionStore } from "@wxauth/store-sql"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type Database, dropTablesAfter, forEachDatabase, randomTable } from "./databases.js"

const storeLayer = (db: Database) => {
  const table = randomTable("wxauth_rt")
  return Layer.provideMerge(Layer.merge(SqlSessionStore.layer({ table }), dropTablesAfter(table)), db.client())
}

forEachDatabase((db) => {
  sessionStoreAttackSuite(`SqlSessionStore on ${db.name}`, () => storeLayer(db))

  describe(`red team: SqlSessionStore on ${db.name}`, () => {
    it.effect("exotic options to the module's functions: never a throw or a defect", () =>
      Effect.gen(function*() {
        const defects: Array<string> = []
        for (const [label, value] of [...exoticArguments(), ["NUL", "\u0000"], ["lone surrogate", "\uD800"]] as const) {
          const v = value as never
          for (
            const [name, call] of [
              ["make", () => SqlSessionStore.make(v)],
              ["ddl", () => SqlSessionStore.ddl(db.dialect, v)],
              ["purgeExpired", () => SqlSessionStore.purgeExpired(v)]
            ] as const
          ) {
            const defect = yield* defectOf(call, "10 seconds")
            if (defect !== undefined) defects.push(`${name}(options: ${label}): ${defect}`)
          }
        }
        assert.deepStrictEqual(defects, [])
      }).pipe(Effect.provide(storeLayer(db))), 60_000)

    it.effect(
      "options that are not an object are an InvalidArgument naming them, as the other stores' are",
      () =>
        Effect.gen(function*() {
          const wrong: Array<string> = []
          for (const [label, value] of [["'banana'", "banana"], ["a number", 42], ["an array", []]] as const) {
            const v = value as never
            for (
              const [name, effect] of [
                ["make", SqlSessionStore.make(v)],
                ["ddl", SqlSessionStore.ddl(db.dialect, v)],
                ["purgeExpired", SqlSessionStore.purgeExpired(v)]
              ] as const
            ) {
              const error = yield* Effect.flip(effect as Effect.Effect<unknown, { _tag: string; argument?: string }>)
              const got = `${error._tag} ${error.argument}`
              if (got !== "InvalidArgument options") wrong.push(`${name}(${label}): ${got}`)
            }
          }
          assert.deepStrictEqual(wrong, [])
        }).pipe(Effect.provide(storeLayer(db))),
      60_000
    )
  })
})
