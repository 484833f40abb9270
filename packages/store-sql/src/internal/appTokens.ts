/**
 * The app token store: its table per dialect, `get` and `set` (one atomic newest-wins upsert per
 * dialect), and `purgeExpired`; each operation bounded by `guard`, with its span.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { AppTokenStore, type WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Options } from "../SqlAppTokenStore.js"
import type { Dialect } from "../SqlTokenStore.js"
import { builder, tooLong } from "./builder.js"
import { asText } from "./client.js"
import { boundedIds, exact, sameIds } from "./ids.js"
import { columnTypes, createTable } from "./schema.js"
import { storableTimes } from "./store.js"
import { resolveTable } from "./tables.js"

/** One row per app: a handful of rows, so no index but the primary key. */
const statements = (dialect: Dialect, table: string): ReadonlyArray<string> => {
  const c = columnTypes(dialect)
  return createTable(dialect, table, [
    `app_id ${c.id(64)} NOT NULL PRIMARY KEY`,
    `obtained_at ${c.millis} NOT NULL`,
    `expires_at ${c.millis} NOT NULL`,
    `value ${c.sealed} NOT NULL`,
    `updated_at ${c.millis} NOT NULL`
  ])
}

const store = builder({
  name: "SqlAppTokenStore",
  resolveNames: (options: Options) => resolveTable(options, "wxauth_app_tokens"),
  table: (table) => table,
  ddl: statements,
  indexes: () => [],
  mapError: undefined
})

/** @internal */
export const ddl = store.ddl

const appTokenTooLong = tooLong("app token")

/** @internal */
export const setup = store.setup

/** @internal */
export const make = (
  options?: Options
): Effect.Effect<AppTokenStore.AppTokenStoreShape, WeChatError.InvalidArgument, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const { boundedValue, dialect, guarded, live, names: table, span, sql, upsertNewer } = yield* store.context(
      options
    )
    const codec = yield* AppTokenStore.makeCodec
    const t = sql(table)
    const ids = sql.literal(boundedIds(dialect, ["app_id"]))
    const bin = sql.literal(exact(dialect))

    // each operation is bounded (timeout): wxauth uses it as it is
    const own = AppTokenStore.AppTokenStore.of({
      get: Effect.fnUntraced(
        function*(appId: string) {
          yield* AppTokenStore.checkKey("get", appId)
          const now = yield* Clock.currentTimeMillis
          const rows = yield* sql<{ value: unknown }>`SELECT ${boundedValue}, ${ids} FROM ${t}
          WHERE app_id = ${appId}${bin} AND ${live("expires_at", now)}`
          // another key's row (a table whose app_id ignores case) is not this key's token: none
          const row = rows.find((row) => sameIds(row, { app_id: appId }))
          if (row === undefined) return Option.none()
          if (row.value === null) return yield* Effect.fail(appTokenTooLong)
          const token = yield* codec.decode(appId, asText(row.value))
          return token.isFresh(now) ? Option.some(token) : Option.none()
        },
        guarded("get"),
        span("get")
      ),
      set: Effect.fnUntraced(
        function*(appId: string, token: AppTokenStore.AppAccessToken) {
          yield* AppTokenStore.checkKey("set", appId)
          // the caller's token is read once, every field (core's checkToken, under a guard): only the
          // fresh copy it answers is checked, encoded and stamped
          const checked = yield* AppTokenStore.checkToken("set", token)
          const value = yield* codec.encode(appId, checked)
          yield* storableTimes("set", { obtainedAt: checked.obtainedAt, expiresAt: checked.expiresAt })
          const now = yield* Clock.currentTimeMillis
          yield* upsertNewer(table, ["app_id"], {
            app_id: appId,
            obtained_at: Math.floor(checked.obtainedAt),
            expires_at: Math.ceil(checked.expiresAt),
            value,
            updated_at: now
          })
        },
        guarded("set"),
        span("set")
      )
    })
    AppTokenStore.markBounded(own)
    return own
  })

/** @internal */
export const purgeExpired = store.purgeExpired

/** @internal */
export const layers = store.layers(AppTokenStore.AppTokenStore, make)
