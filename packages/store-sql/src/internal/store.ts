/**
 * The store operations: `get`, `set` (one atomic newer-wins upsert per dialect), `remove`, the code
 * memos, and `purgeExpired`; each one bounded by `guard`, with its span.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { type OAuthToken, TokenStore, WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Options, PurgeResult, Tables } from "../SqlTokenStore.js"
import { builder, tooLong } from "./builder.js"
import { asText } from "./client.js"
import { boundedIds, exact, sameIds } from "./ids.js"
import * as schema from "./schema.js"
import { resolveTables } from "./tables.js"

const store = builder({
  name: "SqlTokenStore",
  resolveNames: resolveTables,
  table: (tables: Tables) => tables.table,
  ddl: schema.ddl,
  indexes: (tables) => [
    [tables.table, tables.tokenIndex, "refresh_expires_at"],
    [tables.memoTable, tables.memoIndex, "expires_at"]
  ],
  mapError: undefined
})

/** @internal */
export const ddl = store.ddl

const tokenTooLong = tooLong("token")
const memoTooLong = tooLong("code memo", "recallCode", "code memo")

/** @internal */
export const setup = store.setup

/**
 * Fails unless every one of `times` (epoch milliseconds) is a finite number a BIGINT column and the
 * JSON of `value` hold exactly: `Infinity` or `NaN` would be a driver error, or a row that never
 * decodes again.
 *
 * @internal
 */
export const storableTimes = (
  operation: string,
  times: Record<string, number>
): Effect.Effect<void, WeChatError.TokenStoreError> => {
  for (const [field, value] of Object.entries(times)) {
    if (typeof value !== "number" || !Number.isFinite(value) || Math.abs(value) > Number.MAX_SAFE_INTEGER) {
      return Effect.fail(
        new WeChatError.TokenStoreError({
          operation,
          description: `${field} is ${String(value)}, not a finite time in milliseconds (at most 2^53 - 1)`
        })
      )
    }
  }
  return Effect.void
}

/** @internal */
export const make = (
  options?: Options
): Effect.Effect<TokenStore.TokenStoreShape, WeChatError.InvalidArgument, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const { boundedValue, dialect, guarded, live, names: tables, span, sql, upsertNewer } = yield* store.context(
      options
    )
    const codec = yield* TokenStore.makeCodec
    const t = sql(tables.table)
    const m = sql(tables.memoTable)
    const userIds = sql.literal(boundedIds(dialect, ["app_id", "openid"]))
    const codeIds = sql.literal(boundedIds(dialect, ["app_id", "code_hash"]))
    const bin = sql.literal(exact(dialect))

    const upsertMemo = (row: {
      readonly app_id: string
      readonly code_hash: string
      readonly expires_at: number
      readonly value: string
    }) =>
      dialect === "mysql"
        ? sql`INSERT INTO ${m} ${sql.insert(row)} ON DUPLICATE KEY UPDATE
            app_id = VALUES(app_id), code_hash = VALUES(code_hash), value = VALUES(value), expires_at = VALUES(expires_at)`
        : sql`INSERT INTO ${m} ${sql.insert(row)} ON CONFLICT (app_id, code_hash) DO UPDATE SET
            app_id = EXCLUDED.app_id, code_hash = EXCLUDED.code_hash, expires_at = EXCLUDED.expires_at,
            value = EXCLUDED.value`

    // the ids' rule is core's (TokenStore.checkUser): ASCII without a space, so no encoding (a lone
    // surrogate written as U+FFFD) nor MariaDB's PAD SPACE makes two ids one row. A collation that
    // ignores case does ('oA' = 'oa'): setup and the layers refuse such a table, and every read here
    // takes only the row of its very ids (`sameIds`), and every write names its ids in the row
    const checkCode = TokenStore.checkCode
    const onTokens = (operation: string) => guarded(operation)
    const onMemos = (operation: string) => guarded(operation, tables.memoTable)

    // each operation is bounded (timeout): wxauth uses it as it is
    const own = TokenStore.TokenStore.of({
      get: Effect.fnUntraced(
        function*(appId: string, openid: string) {
          yield* TokenStore.checkUser("get", appId, openid)
          const now = yield* Clock.currentTimeMillis
          const rows = yield* sql<{ value: unknown }>`SELECT ${boundedValue}, ${userIds} FROM ${t}
          WHERE app_id = ${appId}${bin} AND openid = ${openid}${bin} AND ${live("refresh_expires_at", now)}`
          // another user's row (a table whose ids ignore case) is not this user's token: none
          const row = rows.find((row) => sameIds(row, { app_id: appId, openid }))
          if (row === undefined) return Option.none()
          if (row.value === null) return yield* Effect.fail(tokenTooLong)
          const token = yield* codec.decodeToken(appId, openid, asText(row.value))
          return token.refreshExpiresAt > now ? Option.some(token) : Option.none()
        },
        onTokens("get"),
        span("get")
      ),
      set: Effect.fnUntraced(
        function*(appId: string, token: OAuthToken.OAuthToken) {
          // the caller's token is read once, every field (core's checkToken, under a guard): only the
          // fresh copy it answers is checked, encoded and written
          const read = yield* TokenStore.checkToken("set", token)
          yield* TokenStore.checkUser("set", appId, read.openid)
          yield* storableTimes("set", {
            obtainedAt: read.obtainedAt,
            expiresAt: read.expiresAt,
            refreshExpiresAt: read.refreshExpiresAt
          })
          const now = yield* Clock.currentTimeMillis
          const value = yield* codec.encodeToken(appId, read)
          yield* upsertNewer(tables.table, ["app_id", "openid"], {
            app_id: appId,
            openid: read.openid,
            obtained_at: Math.floor(read.obtainedAt),
            refresh_expires_at: Math.ceil(read.refreshExpiresAt),
            value,
            updated_at: now
          })
        },
        onTokens("set"),
        span("set")
      ),
      remove: Effect.fnUntraced(
        function*(appId: string, openid: string) {
          // the ids go to the driver as they are: mysql2 sent a number or an invalid Date so that
          // MariaDB compared openid = 0, true of every openid, and the app's every token was deleted
          yield* TokenStore.checkUser("remove", appId, openid)
          yield* sql`DELETE FROM ${t} WHERE app_id = ${appId}${bin} AND openid = ${openid}${bin}`
        },
        onTokens("remove"),
        span("remove")
      ),
      rememberCode: Effect.fnUntraced(
        function*(appId: string, codeHash: string, memo: TokenStore.CodeMemo) {
          yield* checkCode("rememberCode", appId, codeHash)
          // the caller's memo is read once, every field (core's checkMemo, under a guard): the times
          // checked, the value and expires_at are all of the fresh copy it answers
          const read = yield* TokenStore.checkMemo("rememberCode", memo)
          yield* storableTimes("rememberCode", { exchangedAt: read.exchangedAt, expiresAt: read.expiresAt })
          const value = yield* codec.encodeMemo(appId, codeHash, read)
          yield* upsertMemo({ app_id: appId, code_hash: codeHash, expires_at: Math.ceil(read.expiresAt), value })
        },
        onMemos("rememberCode"),
        span("rememberCode")
      ),
      recallCode: Effect.fnUntraced(
        function*(appId: string, codeHash: string) {
          yield* checkCode("recallCode", appId, codeHash)
          const now = yield* Clock.currentTimeMillis
          const rows = yield* sql<{ value: unknown }>`SELECT ${boundedValue}, ${codeIds} FROM ${m}
          WHERE app_id = ${appId}${bin} AND code_hash = ${codeHash}${bin} AND ${live("expires_at", now)}`
          const row = rows.find((row) => sameIds(row, { app_id: appId, code_hash: codeHash }))
          if (row === undefined) return Option.none()
          if (row.value === null) return yield* Effect.fail(memoTooLong)
          const memo = yield* codec.decodeMemo(appId, codeHash, asText(row.value))
          return memo.expiresAt > now ? Option.some(memo) : Option.none()
        },
        onMemos("recallCode"),
        span("recallCode")
      )
    })
    TokenStore.markBounded(own)
    return own
  })

/** @internal */
export const purgeExpired = (
  options?: Pick<Options, "table" | "memoTable" | "timeout">
): Effect.Effect<PurgeResult, WeChatError.InvalidArgument | WeChatError.TokenStoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const { deleteExpired, names: tables } = yield* store.context(options)
    const now = yield* Clock.currentTimeMillis
    const tokens = yield* deleteExpired(tables.table, "refresh_expires_at", now)
    const codes = yield* deleteExpired(tables.memoTable, "expires_at", now)
    return { tokens, codes }
  }).pipe(Effect.withSpan("SqlTokenStore.purgeExpired"))

/** @internal */
export const layers = store.layers(TokenStore.TokenStore, make)
