/**
 * The session store: its table per dialect, `create` (never over a live session; then the user's
 * sessions beyond `maxSessionsPerUser` go, in one DELETE), `get`, `touch`, `revoke`, `revokeUser`
 * (one DELETE by user: the database makes it atomic) and `purgeExpired`; each operation bounded by
 * `guard`, with its span. Failures become `SessionStoreError`s.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { SessionStore, WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { Options } from "../SqlSessionStore.js"
import type { Dialect } from "../SqlTokenStore.js"
import { builder, tooLong } from "./builder.js"
import { affectedRows, asText } from "./client.js"
import { boundedIds, exact, sameIds } from "./ids.js"
import { columnTypes, createTable } from "./schema.js"
import { derive, resolveTable } from "./tables.js"

interface Names {
  readonly table: string
  readonly userIndex: string
  readonly expiresIndex: string
}

/** The bound on one user's sessions unless `maxSessionsPerUser` says otherwise: core's memory store's. */
const defaultMaxSessionsPerUser = 100

/**
 * `maxSessionsPerUser` (or the default) when it is a positive integer (a JavaScript caller may pass
 * anything), else an `InvalidArgument`.
 */
const resolveMaxSessionsPerUser = (value: unknown): Either.Either<number, WeChatError.InvalidArgument> =>
  value === undefined
    ? Either.right(defaultMaxSessionsPerUser)
    : typeof value === "number" && Number.isSafeInteger(value) && value >= 1
    ? Either.right(value)
    : Either.left(
      new WeChatError.InvalidArgument({ argument: "maxSessionsPerUser", description: "must be a positive integer" })
    )

/**
 * Whether an id is well-formed UTF-16: the drivers write a lone surrogate as U+FFFD, so two ids that
 * differ there would be one user in the table (and `revokeUser` of one would end the other's sessions).
 */
const isWellFormed = (id: string): boolean =>
  !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(id)

const resolveNames = (options: Options): Either.Either<Names, WeChatError.InvalidArgument> =>
  Either.map(resolveTable(options, "wxauth_sessions"), (table) => ({
    table,
    userIndex: derive(table, "_user_idx"),
    expiresIndex: derive(table, "_expires_idx")
  }))

/**
 * The id hash is ASCII hex, the primary key (MySQL names it after the columns); `last_seen_at` may be
 * NULL (never touched).
 */
const statements = (dialect: Dialect, names: Names): ReadonlyArray<string> => {
  const c = columnTypes(dialect)
  const idHash = dialect === "pg"
    ? "id_hash CHAR(64) NOT NULL PRIMARY KEY"
    : dialect === "mysql"
    ? "id_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL"
    : "id_hash TEXT NOT NULL PRIMARY KEY"
  return createTable(dialect, names.table, [
    idHash,
    `app_id ${c.id(64)} NOT NULL`,
    `openid ${c.id(128)} NOT NULL`,
    `expires_at ${c.millis} NOT NULL`,
    `last_seen_at ${c.millis}${dialect === "mysql" ? " NULL" : ""}`,
    `value ${c.sealed} NOT NULL`,
    ...(dialect === "mysql" ? ["PRIMARY KEY (id_hash)"] : [])
  ], [[names.userIndex, "app_id, openid"], [names.expiresIndex, "expires_at"]])
}

const asSessionError = (error: WeChatError.TokenStoreError): WeChatError.SessionStoreError =>
  new WeChatError.SessionStoreError({
    operation: error.operation,
    description: error.description,
    ...(error.cause === undefined ? {} : { cause: error.cause })
  })

const store = builder({
  name: "SqlSessionStore",
  resolveNames,
  table: (names) => names.table,
  ddl: statements,
  // a table of its own from the start: MySQL makes its indexes in CREATE TABLE
  indexes: () => [],
  mapError: asSessionError,
  // a value longer than any session decode reads is not fetched (`boundedValue`)
  maxValueBytes: SessionStore.maxStoredValueBytes
})

/** @internal */
export const ddl = store.ddl

/** @internal */
export const setup = store.setup

/** A stored time as a number: drivers give BIGINT as a number, a bigint or a string. */
const timeOf = (value: unknown): unknown =>
  value === null || value === undefined
    ? undefined
    : typeof value === "bigint" || typeof value === "string"
    ? Number(value)
    : value

interface Row {
  readonly value: unknown
  readonly expires_at: unknown
  readonly last_seen_at: unknown
  readonly app_id: unknown
  readonly openid: unknown
}

/**
 * `app_id` and `openid` as a read fetches them, in `dialect`: a SQLite id longer than any is read
 * as `NULL`, not fetched, and is no user's (see `maxIdBytes`).
 */
const boundedUser = (dialect: Dialect): string => boundedIds(dialect, ["app_id", "openid"])

/**
 * The session a row holds is the session of the user its row names: `revokeUser` (logout
 * everywhere) finds a user's sessions by the row's `app_id` and `openid`, so a session whose value
 * names another user (not written by wxauth, or corrupted) would outlive its user's logout. It is
 * refused as a value that is not the session of its id is (core's `SessionStore.decode`).
 */
const ofRowUser = (operation: string, session: SessionStore.Session, row: Row) =>
  sameIds(row, { app_id: session.appId, openid: session.openid })
    ? Effect.succeed(session)
    : Effect.fail(
      new WeChatError.SessionStoreError({
        operation,
        description: "the stored session is not of the user its row names (not written by wxauth, or corrupted)"
      })
    )

/** @internal */
export const make = (
  options?: Options
): Effect.Effect<SessionStore.SessionStoreShape, WeChatError.InvalidArgument, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const context = yield* store.context(options, (read) => resolveMaxSessionsPerUser(read.maxSessionsPerUser))
    const {
      boundedRow,
      boundedValue,
      dialect,
      guarded,
      live,
      names: { table },
      over,
      settings: maxSessionsPerUser,
      span,
      sql
    } = context
    const t = sql(table)
    const user = sql.literal(boundedUser(dialect))
    const bin = sql.literal(exact(dialect))

    /**
     * The rows of the user, by the user index. MySQL / MariaDB compare VARCHARs with PAD SPACE
     * ('alice' = 'alice '): the bytes are compared too.
     */
    const ofUser = (appId: string, openid: string) =>
      dialect === "mysql"
        ? sql`app_id = ${appId} AND openid = ${openid}
            AND CAST(app_id AS BINARY) = CAST(${appId} AS BINARY) AND CAST(openid AS BINARY) = CAST(${openid} AS BINARY)`
        : sql`app_id = ${appId}${bin} AND openid = ${openid}${bin}`

    /**
     * Deletes the user's sessions beyond `maxSessionsPerUser`, never `idHash` (the one just created):
     * all but it and the others that end last (those that are over end first; `touch` moves the end).
     * One statement every dialect takes: MySQL / MariaDB refuse a LIMIT in an IN subquery, and a
     * subquery on the table deleted from, unless it is a derived table (materialized: it has a LIMIT).
     * The LIMIT is the checked integer, written out (a placeholder there is not portable).
     */
    const trim = (appId: string, openid: string, idHash: string) =>
      sql`DELETE FROM ${t}
        WHERE ${ofUser(appId, openid)} AND id_hash <> ${idHash}${bin} AND id_hash NOT IN (
          SELECT id_hash FROM (
            SELECT id_hash FROM ${t}
            WHERE ${ofUser(appId, openid)} AND id_hash <> ${idHash}${bin}
            ORDER BY expires_at DESC, id_hash DESC
            LIMIT ${sql.literal(String(maxSessionsPerUser - 1))}
          ) AS kept
        )`

    /**
     * The live session of `idHash` at `now`. A value longer than any session, or a time that is no
     * time (SQLite: text or a blob of any length), is refused without being fetched (`NULL` from
     * `boundedRow`, which the column never holds); a row whose expires_at is no time is not live.
     * A value that is not the session of its id, or of the user the row names, is refused.
     */
    const read = (operation: string, idHash: string, now: number) =>
      Effect.flatMap(
        guarded(operation)(sql<Row>`SELECT ${boundedRow(["expires_at", "last_seen_at"])}, ${user} FROM ${t}
          WHERE id_hash = ${idHash}${bin} AND ${live("expires_at", now)}`),
        (rows) =>
          rows.length === 0
            ? Effect.succeedNone
            : rows[0].value === null
            ? Effect.fail(asSessionError(tooLong("session", operation, "session")))
            : SessionStore.decode(idHash, asText(rows[0].value), {
              expiresAt: timeOf(rows[0].expires_at),
              lastSeenAt: timeOf(rows[0].last_seen_at)
            }).pipe(
              Effect.flatMap((session) => ofRowUser(operation, session, rows[0])),
              Effect.map(Option.some)
            )
      )

    /** Inserts the row unless one has its id (then nothing happens, and nothing fails). */
    const insertIfAbsent = (row: {
      readonly id_hash: string
      readonly app_id: string
      readonly openid: string
      readonly expires_at: number
      readonly value: string
    }) =>
      dialect === "mysql"
        ? sql`INSERT INTO ${t} ${sql.insert(row)} ON DUPLICATE KEY UPDATE id_hash = id_hash`
        : sql`INSERT INTO ${t} ${sql.insert(row)} ON CONFLICT (id_hash) DO NOTHING`

    // each operation is bounded (timeout): wxauth uses it as it is
    const own = SessionStore.SessionStore.of({
      create: (session) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const checked = yield* SessionStore.checkNew(session, now)
          if (!isWellFormed(checked.appId) || !isWellFormed(checked.openid)) {
            return yield* new WeChatError.SessionStoreError({
              operation: "create",
              description:
                "the appId or openid is not well-formed Unicode (a lone surrogate): the table would not keep it"
            })
          }
          const value = yield* SessionStore.encode(checked)
          const idHash = checked.idHash
          const rows = yield* guarded("create")(Effect.gen(function*() {
            // a session that is over gives its id up; a live one keeps it
            yield* sql`DELETE FROM ${t} WHERE id_hash = ${idHash}${bin} AND ${over("expires_at", now)}`
            yield* insertIfAbsent({
              id_hash: idHash,
              app_id: checked.appId,
              openid: checked.openid,
              expires_at: checked.expiresAt,
              value
            })
            // bounded as `read` is: a value longer than any session is NULL, not this session's
            const stored = yield* sql<{ value: unknown }>`SELECT ${boundedValue} FROM ${t}
              WHERE id_hash = ${idHash}${bin}`
            // the session is stored (a retry after a transient failure finds it so): the user's bound
            // holds again, each trim seeing every session committed before it
            if (stored.length > 0 && stored[0].value !== null && asText(stored[0].value) === value) {
              // counted first by a plain read, which takes no lock: most creates leave the user within the
              // bound and so lock nothing more (on MySQL / MariaDB the DELETE's reads lock the user's rows,
              // and concurrent creates then deadlock, each retried); the last create to count sees every
              // session committed, as its DELETE would
              const [count] = yield* sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM ${t}
                WHERE ${ofUser(checked.appId, checked.openid)}`
              if (Number(count?.n ?? 0) > maxSessionsPerUser) yield* trim(checked.appId, checked.openid, idHash)
            }
            return stored
          }))
          // the row holds this session, or the live one that was there before; no row: the session was
          // stored and ended at once, by a concurrent create's bound or a revokeUser (no live one holds the id)
          if (rows.length > 0 && (rows[0].value === null || asText(rows[0].value) !== value)) {
            return yield* new WeChatError.SessionStoreError({
              operation: "create",
              description: "a live session has this idHash already"
            })
          }
        }).pipe(span("create")),
      get: (idHash) =>
        SessionStore.checkIdHash("get", idHash).pipe(
          Effect.zipRight(Effect.flatMap(Clock.currentTimeMillis, (now) => read("get", idHash, now))),
          span("get")
        ),
      touch: (idHash, expiresAt) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          yield* SessionStore.checkTouch(idHash, expiresAt, now)
          // only a live session moves: one that is over, or revoked, stays gone
          yield* guarded("touch")(sql`UPDATE ${t} SET expires_at = ${expiresAt}, last_seen_at = ${now}
            WHERE id_hash = ${idHash}${bin} AND ${live("expires_at", now)}`)
          return yield* read("touch", idHash, now)
        }).pipe(span("touch")),
      revoke: (idHash) =>
        SessionStore.checkIdHash("revoke", idHash).pipe(
          // built once the id is checked: the statement reads its parameters as it is built
          Effect.zipRight(
            Effect.suspend(() => guarded("revoke")(sql`DELETE FROM ${t} WHERE id_hash = ${idHash}${bin}`))
          ),
          Effect.asVoid,
          span("revoke")
        ),
      revokeUser: (appId, openid) =>
        Effect.gen(function*() {
          yield* SessionStore.checkUser("revokeUser", appId, openid)
          // create refuses such ids: none of them has a session here (and U+FFFD must not stand for them)
          if (!isWellFormed(appId) || !isWellFormed(openid)) return 0
          const now = yield* Clock.currentTimeMillis
          const ended = yield* guarded("revokeUser")(Effect.gen(function*() {
            const result = yield* sql`DELETE FROM ${t} WHERE ${ofUser(appId, openid)} AND ${live("expires_at", now)}`
              .raw
            // the sessions that are over go too; one created meanwhile stays, for the next revokeUser to reach
            yield* sql`DELETE FROM ${t} WHERE ${ofUser(appId, openid)} AND ${over("expires_at", now)}`
            return affectedRows(result)
          }))
          return ended
        }).pipe(span("revokeUser"))
    })
    SessionStore.markBounded(own)
    return own
  })

/** @internal */
export const purgeExpired = store.purgeExpired

/** @internal */
export const layers = store.layers(SessionStore.SessionStore, make)
