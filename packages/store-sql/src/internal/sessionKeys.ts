/**
 * The session key store: its table per dialect, `get` (a value longer than any session key left
 * unread), `set` (an upsert: the last set wins, and starts the ttl again), `remove` and
 * `purgeExpired`; each operation bounded by `guard`, with its span.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { SessionKeyStore, TokenStore, WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { Options } from "../SqlSessionKeyStore.js"
import type { Dialect } from "../SqlTokenStore.js"
import { builder, tooLong } from "./builder.js"
import { asText } from "./client.js"
import { positiveDuration } from "./durations.js"
import { boundedIds, exact, sameIds } from "./ids.js"
import { columnTypes, createTable } from "./schema.js"
import { derive, resolveTable } from "./tables.js"

interface Names {
  readonly table: string
  readonly index: string
}

const statements = (dialect: Dialect, names: Names): ReadonlyArray<string> => {
  const c = columnTypes(dialect)
  return createTable(dialect, names.table, [
    `app_id ${c.id(64)} NOT NULL`,
    `openid ${c.id(128)} NOT NULL`,
    `expires_at ${c.millis} NOT NULL`,
    `value ${c.sealed} NOT NULL`,
    `updated_at ${c.millis} NOT NULL`,
    "PRIMARY KEY (app_id, openid)"
  ], [[names.index, "expires_at"]])
}

const store = builder({
  name: "SqlSessionKeyStore",
  resolveNames: (options: Options): Either.Either<Names, WeChatError.InvalidArgument> =>
    Either.map(resolveTable(options, "wxauth_session_keys"), (table) => ({
      table,
      index: derive(table, "_expires_idx")
    })),
  table: (names) => names.table,
  ddl: statements,
  indexes: (names) => [[names.table, names.index, "expires_at"]],
  mapError: undefined,
  maxValueBytes: SessionKeyStore.maxStoredValueBytes
})

/** @internal */
export const ddl = store.ddl

/** @internal */
export const setup = store.setup

/** A row as `get` reads it: the value (`boundedValue`) and the row's ids (`boundedIds`). */
interface Row {
  readonly value: unknown
  readonly app_id: unknown
  readonly openid: unknown
}

const keyTooLong = tooLong("session key", "get", "session key")

/** The longest ttl: 2^52 ms (about 142,000 years), so that `now + ttl` stays a time a store writes (2^53 - 1 at most). */
const maxTtlMillis = 2 ** 52

/**
 * The ttl of the options in milliseconds: a positive finite duration of at most 2^52 ms, else an
 * `InvalidArgument` (past it, `expires_at` would be out of the range of the stores' times, or of BIGINT).
 */
const resolveTtl = (ttl: Duration.DurationInput | undefined): Either.Either<number, WeChatError.InvalidArgument> =>
  Either.flatMap(positiveDuration("ttl", ttl, SessionKeyStore.defaultTtl), (d) => {
    const millis = Math.ceil(Duration.toMillis(d))
    return millis <= maxTtlMillis ? Either.right(millis) : Either.left(
      new WeChatError.InvalidArgument({ argument: "ttl", description: "must be at most 2^52 milliseconds" })
    )
  })

/** @internal */
export const make = (
  options?: Options
): Effect.Effect<SessionKeyStore.SessionKeyStoreShape, WeChatError.InvalidArgument, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const { boundedValue, dialect, guarded, live, settings: ttl, span, sql, names: { table } } = yield* store.context(
      options,
      (read) => resolveTtl(read.ttl)
    )
    const codec = yield* SessionKeyStore.makeCodec
    const t = sql(table)
    const ids = sql.literal(boundedIds(dialect, ["app_id", "openid"]))
    const bin = sql.literal(exact(dialect))

    // the row's ids are written too: on a table whose ids ignore case ('oA' = 'oa', one row), the
    // row then names the user whose key it holds, and `get` gives it to no one else
    const upsert = (row: {
      readonly app_id: string
      readonly openid: string
      readonly expires_at: number
      readonly value: string
      readonly updated_at: number
    }) =>
      dialect === "mysql"
        ? sql`INSERT INTO ${t} ${sql.insert(row)} ON DUPLICATE KEY UPDATE
            app_id = VALUES(app_id), openid = VALUES(openid),
            value = VALUES(value), expires_at = VALUES(expires_at), updated_at = VALUES(updated_at)`
        : sql`INSERT INTO ${t} ${sql.insert(row)} ON CONFLICT (app_id, openid) DO UPDATE SET
            app_id = EXCLUDED.app_id, openid = EXCLUDED.openid,
            value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, updated_at = EXCLUDED.updated_at`

    // each operation is bounded (timeout): wxauth uses it as it is
    const own = SessionKeyStore.SessionKeyStore.of({
      get: Effect.fnUntraced(
        function*(appId: string, openid: string) {
          yield* TokenStore.checkUser("get", appId, openid)
          const now = yield* Clock.currentTimeMillis
          // a value longer than any session key the codec reads is not fetched (its length in the query)
          const rows = yield* sql<Row>`SELECT ${boundedValue}, ${ids} FROM ${t}
          WHERE app_id = ${appId}${bin} AND openid = ${openid}${bin} AND ${live("expires_at", now)}`
          // only the row of these very ids: a table whose ids ignore case gives another user's row
          // for 'oa' (that of 'oA'), whose key must never be this user's
          const row = rows.find((row) => sameIds(row, { app_id: appId, openid }))
          if (row === undefined) return Option.none()
          if (row.value === null) return yield* Effect.fail(keyTooLong)
          return Option.some(yield* codec.decode(appId, openid, asText(row.value)))
        },
        guarded("get"),
        span("get")
      ),
      set: Effect.fnUntraced(
        function*(appId: string, openid: string, sessionKey: Redacted.Redacted<string>) {
          yield* TokenStore.checkUser("set", appId, openid)
          const value = yield* codec.encode(appId, openid, sessionKey)
          const now = yield* Clock.currentTimeMillis
          yield* upsert({ app_id: appId, openid, expires_at: now + ttl, value, updated_at: now })
        },
        guarded("set"),
        span("set")
      ),
      remove: Effect.fnUntraced(
        function*(appId: string, openid: string) {
          yield* TokenStore.checkUser("remove", appId, openid)
          yield* sql`DELETE FROM ${t} WHERE app_id = ${appId}${bin} AND openid = ${openid}${bin}`
        },
        guarded("remove"),
        span("remove")
      )
    })
    SessionKeyStore.markBounded(own)
    return own
  })

/** @internal */
export const purgeExpired = store.purgeExpired

/** @internal */
export const layers = store.layers(SessionKeyStore.SessionKeyStore, make)
