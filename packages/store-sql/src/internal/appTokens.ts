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
import { asGiven, builder, decodeTimeout } from "./builder.js"
import { asText } from "./client.js"
import { checkAppId } from "./ids.js"
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
  readOptions: asGiven<Options>,
  resolveNames: (options) => resolveTable(options, "wxauth_app_tokens"),
  table: (table) => table,
  ddl: statements,
  indexes: () => [],
  resolveTimeout: decodeTimeout,
  mapError: undefined
})

/** @internal */
export const ddl = store.ddl

/** @internal */
export const setup = store.setup

/** @internal */
export const make = (
  options?: Options
): Effect.Effect<AppTokenStore.AppTokenStoreShape, WeChatError.InvalidArgument, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const { dialect, guarded, names: table, span, sql } = yield* store.context(options)
    const codec = yield* AppTokenStore.makeCodec
    const t = sql(table)

    const upsert = (row: {
      readonly app_id: string
      readonly obtained_at: number
      readonly expires_at: number
      readonly value: string
      readonly updated_at: number
    }) =>
      dialect === "mysql"
        // MySQL evaluates the assignments left to right, each seeing the ones before: obtained_at, which
        // every condition reads, goes last, so each condition compares with the stored row.
        ? sql`INSERT INTO ${t} ${sql.insert(row)} ON DUPLICATE KEY UPDATE
            value = IF(VALUES(obtained_at) >= obtained_at, VALUES(value), value),
            expires_at = IF(VALUES(obtained_at) >= obtained_at, VALUES(expires_at), expires_at),
            updated_at = IF(VALUES(obtained_at) >= obtained_at, VALUES(updated_at), updated_at),
            obtained_at = IF(VALUES(obtained_at) >= obtained_at, VALUES(obtained_at), obtained_at)`
        : sql`INSERT INTO ${t} ${sql.insert(row)} ON CONFLICT (app_id) DO UPDATE SET
            obtained_at = EXCLUDED.obtained_at,
            expires_at = EXCLUDED.expires_at,
            value = EXCLUDED.value,
            updated_at = EXCLUDED.updated_at
          WHERE ${t}.obtained_at <= EXCLUDED.obtained_at`

    return AppTokenStore.AppTokenStore.of({
      get: Effect.fnUntraced(
        function*(appId: string) {
          yield* checkAppId("get", appId)
          const now = yield* Clock.currentTimeMillis
          const rows = yield* sql<{ value: unknown }>`SELECT value FROM ${t}
          WHERE app_id = ${appId} AND expires_at > ${now}`
          if (rows.length === 0) return Option.none()
          const token = yield* codec.decode(appId, asText(rows[0].value))
          return token.isFresh(now) ? Option.some(token) : Option.none()
        },
        guarded("get"),
        span("get")
      ),
      set: Effect.fnUntraced(
        function*(appId: string, token: AppTokenStore.AppAccessToken) {
          yield* checkAppId("set", appId)
          const value = yield* codec.encode(appId, token)
          yield* storableTimes("set", { obtainedAt: token.obtainedAt, expiresAt: token.expiresAt })
          const now = yield* Clock.currentTimeMillis
          yield* upsert({
            app_id: appId,
            obtained_at: Math.floor(token.obtainedAt),
            expires_at: Math.ceil(token.expiresAt),
            value,
            updated_at: now
          })
        },
        guarded("set"),
        span("set")
      )
    })
  })

/** @internal */
export const purgeExpired = store.purgeExpired

/** @internal */
export const layers = store.layers(AppTokenStore.AppTokenStore, make)
