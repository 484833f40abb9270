/**
 * The import of wechat-oauth's `token` table: its distinct openids read in batches (keyset
 * pagination), each user's rows read as tokens by core's `LegacyToken.decode`, the latest usable one
 * written through the `TokenStore` in context unless the store holds one as new or newer (or holds one
 * at all, for a row dated ahead of this machine's clock: counted as `datedAhead`).
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { LegacyToken, type OAuthToken, TokenStore, WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { Dialect, ImportOptions, ImportResult } from "../SqlTokenStore.js"
import { readOptions } from "./builder.js"
import { asText, client } from "./client.js"
import { positiveDuration } from "./durations.js"
import { guard } from "./guard.js"
import { quote } from "./schema.js"
import { validateName } from "./tables.js"

/** The columns of wechat-oauth's `token` table (all `varchar`), as a query of the import reads them. */
interface LegacyRow {
  readonly access_token: unknown
  readonly expires_in: unknown
  readonly refresh_token: unknown
  readonly openid: unknown
  readonly scope: unknown
  readonly create_at: unknown
  /** The row's place in its openid's order (`rankKey`). */
  readonly rank_key: unknown
  /** The columns as `tieKey` gives them, to resume after the row. */
  readonly k_access_token: unknown
  readonly k_refresh_token: unknown
  readonly k_expires_in: unknown
  readonly k_scope: unknown
  readonly k_create_at: unknown
}

/** An openid as the legacy table holds it, trimmed, to count a user once whatever its rows. */
const legacyOpenid = (value: unknown): string => value === null || value === undefined ? "" : asText(value).trim()

/**
 * The longest value of each column a query fetches, in bytes: four times the characters core's
 * `LegacyToken.decode` reads at most (tokens and scope 1,024, openid 128, `create_at` and
 * `expires_in` 100; it counts a column's padding, and refuses a binary column over four bytes a
 * character). A row with a longer column is not fetched, and is not usable (as decode would refuse
 * it): a 40 MB `access_token` planted in the table is never read into memory.
 */
const maxColumnBytes = {
  access_token: 4 * 1024,
  refresh_token: 4 * 1024,
  scope: 4 * 1024,
  openid: 4 * 128,
  expires_in: 4 * 100,
  create_at: 4 * 100
} as const

type LegacyColumn = keyof typeof maxColumnBytes

/** The condition that `column` is `NULL` or at most its bound (`maxColumnBytes`) long, in bytes. */
const fits = (dialect: Dialect, column: LegacyColumn): string => {
  const bytes = dialect === "pg"
    ? `octet_length(CAST(${column} AS TEXT))`
    : dialect === "mysql"
    ? `LENGTH(${column})`
    : `length(CAST(${column} AS BLOB))`
  return `(${column} IS NULL OR ${bytes} <= ${maxColumnBytes[column]})`
}

/**
 * Whether the legacy `table`'s `openid` column is PostgreSQL's `CHAR(n)` (`bpchar`, or a domain
 * over it, at any depth), found by the name as the queries find it (`to_regclass`, by the search path). Such a
 * column answers its values padded with spaces to n, so the import reads it cast to `TEXT`, which
 * drops the padding (as PostgreSQL's own `=` on `CHAR` ignores it, and as the stores' own reads
 * do): padded, an openid in a `CHAR(200)` column was more than the decode's 128 characters, every
 * user `invalid`, and any `CHAR(n)` openid was fetched n characters long. Other types are read as
 * they are: a cast would write a `bytea` openid as its hex text (`\x6f...`), another openid.
 */
const pgPaddedOpenid = (sql: SqlClient.SqlClient, table: string) =>
  Effect.map(
    // the column's type and, for a domain, each type under it (a domain over a domain too)
    sql<{ padded: unknown }>`WITH RECURSIVE chain(oid) AS (
        SELECT a.atttypid FROM pg_attribute a
          WHERE a.attrelid = to_regclass(${quote("pg", table)}) AND a.attname = 'openid' AND NOT a.attisdropped
        UNION ALL SELECT t.typbasetype FROM pg_type t JOIN chain c ON t.oid = c.oid WHERE t.typtype = 'd')
      SELECT 'bpchar'::regtype IN (SELECT oid FROM chain) AS padded`,
    ([row]) => row?.padded === true
  )

/** `rankKey` of a row whose `create_at` only the decode can date: below any `create_at` of 15 digits. */
const undatedRank = -1_000_000_000_000_000

/**
 * Where a row comes among its openid's rows, smallest first: `create_at` as epoch milliseconds,
 * negated, when it is a plain number of 1 to 15 decimal digits (after its spaces are trimmed), the
 * way `LegacyToken.decode` reads it (seconds below 1e11), so the latest comes first; else
 * -1e15, before any of them (a date string, a `Date` column, a fraction: only the decode can date
 * it, and any of those may be the latest). wechat-oauth writes every `create_at` as a number.
 * Never `NULL`, so that it can be compared with the row it resumes after.
 */
const rankKey = (dialect: Dialect): string => {
  const digits = dialect === "pg"
    ? ["TRIM(CAST(create_at AS TEXT))", "~ '^[0-9]{1,15}$'", "BIGINT"]
    : dialect === "mysql"
    ? ["TRIM(CAST(create_at AS CHAR))", "REGEXP '^[0-9]{1,15}$'", "SIGNED"]
    : ["TRIM(CAST(create_at AS TEXT))", "", "INTEGER"]
  const [text, pattern, integer] = digits
  const isNumber = dialect === "sqlite"
    ? `length(${text}) BETWEEN 1 AND 15 AND ${text} NOT GLOB '*[^0-9]*'`
    : `${text} ${pattern}`
  const n = `CAST(${text} AS ${integer})`
  return `CASE WHEN ${isNumber} THEN 0 - CASE WHEN ${n} < 100000000000 THEN ${n} * 1000 ELSE ${n} END ELSE ${undatedRank} END`
}

/** The columns that order an openid's rows of the same `rankKey`, so that a query resumes after a row. */
const tieColumns = ["access_token", "refresh_token", "expires_in", "scope", "create_at"] as const

/**
 * `column` as the order compares it, never `NULL` (a flag before it tells `NULL` from empty): the
 * column itself on MySQL and SQLite, its text on PostgreSQL (where `''` is no `Date` or number).
 */
const tieKey = (dialect: Dialect, column: (typeof tieColumns)[number]): string =>
  dialect === "pg" ? `COALESCE(CAST(${column} AS TEXT), '')` : `COALESCE(${column}, '')`

/** Whether two rows' keys (`keysOf`) are the same values, a binary column's bytes compared. */
const sameKeys = (a: ReadonlyArray<unknown>, b: ReadonlyArray<unknown>): boolean =>
  a.length === b.length && a.every((value, i) => {
    const other = b[i]
    return value instanceof Uint8Array && other instanceof Uint8Array
      ? Buffer.compare(value, other) === 0
      : Object.is(value, other)
  })

/** @internal */
export const importLegacy = (
  given: ImportOptions
): Effect.Effect<
  ImportResult,
  WeChatError.InvalidArgument | WeChatError.TokenStoreError,
  SqlClient.SqlClient | TokenStore.TokenStore
> =>
  Effect.gen(function*() {
    const [sql, dialect] = yield* client
    const options = yield* readOptions<ImportOptions>(given)
    const table = yield* validateName("table", options.table ?? "token")
    const batchSize = options.batchSize ?? 500
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
      return yield* new WeChatError.InvalidArgument({
        argument: "batchSize",
        description: "must be an integer from 1 to 10000"
      })
    }
    if (typeof options.appId !== "string" || options.appId.trim() === "") {
      return yield* new WeChatError.InvalidArgument({ argument: "appId", description: "must be a non-empty string" })
    }
    const appId = options.appId
    const store = yield* TokenStore.TokenStore
    const timeout = yield* positiveDuration("timeout", options.timeout, Duration.seconds(30))
    const read = guard("importLegacy", table, timeout)
    const t = sql(table)
    const counts = { imported: 0, newerInStore: 0, datedAhead: 0, expired: 0, invalid: 0, unreadableInStore: 0 }
    // A table of one's own may allow a NULL openid (wechat-oauth's does not): such rows are invalid,
    // counted once here and left out of the pages (PostgreSQL sorts NULL last, so a page ending
    // with it sent the next page back to the first openid, and every token was counted twice)
    const [nulls] = yield* read(sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM ${t} WHERE openid IS NULL`)
    counts.invalid += Number(nulls?.n ?? 0)
    // so are the users whose openid is longer than any (not fetched: the pages leave them out)
    const openidFits = sql.literal(fits(dialect, "openid"))
    const [longOpenids] = yield* read(sql<{ n: unknown }>`SELECT COUNT(DISTINCT openid) AS n FROM ${t}
      WHERE openid IS NOT NULL AND NOT ${openidFits}`)
    counts.invalid += Number(longOpenids?.n ?? 0)
    // the openid as the queries read it: its stored text, without a PostgreSQL CHAR(n)'s padding
    const openidText = dialect === "pg" && (yield* read(pgPaddedOpenid(sql, table)))
      ? "CAST(openid AS TEXT)"
      : "openid"
    const openidColumn = sql.literal(openidText)
    const rowFits = sql.literal(
      Object.keys(maxColumnBytes).map((column) => fits(dialect, column as LegacyColumn)).join(" AND ")
    )
    const tieKeys = tieColumns.map((column) => `${tieKey(dialect, column)} AS k_${column}`).join(", ")
    // the order of the rows, and the same keys as a row value to resume after a row: the openid, the
    // rank, then each tie column's NULL flag and value; no window function (MySQL 5.7 has none)
    const orderKeys = [
      "openid",
      "rank_key",
      ...tieColumns.flatMap((column) => [`CASE WHEN ${column} IS NULL THEN 0 ELSE 1 END`, `k_${column}`])
    ].join(", ")
    const order = sql.literal(orderKeys)

    /** Where a query resumes: after the whole of an openid, or after one of its rows. */
    type Resume =
      | { readonly _tag: "AfterOpenid"; readonly openid: unknown }
      | { readonly _tag: "AfterRow"; readonly keys: ReadonlyArray<unknown> }

    /** The row's keys in the order's terms (`orderKeys`), as the row value a query resumes after. */
    const keysOf = (row: LegacyRow): ReadonlyArray<unknown> => [
      row.openid,
      Number(row.rank_key),
      ...tieColumns.flatMap((column) => [row[column] === null || row[column] === undefined ? 0 : 1, row[`k_${column}`]])
    ]

    /**
     * At most `batchSize` rows of the openids of `openids` (a row with a column over its bound left
     * out), after `resume`, ordered by openid, then each openid's rows in the order they are to be
     * looked at: those only the decode can date first (any of them may be the latest), then the
     * others latest first (`rankKey`), then by every column, so that each query orders them alike.
     */
    const rowsAfter = (openids: ReadonlyArray<string>, resume: Resume | undefined) => {
      const rows = sql.literal(`SELECT access_token, expires_in, refresh_token, openid, scope, create_at, rank_key,
          k_access_token, k_refresh_token, k_expires_in, k_scope, k_create_at
        FROM (
          SELECT access_token, expires_in, refresh_token, ${openidText} AS openid, scope, create_at,
            ${rankKey(dialect)} AS rank_key,
            ${tieKeys}`)
      const limit = sql.literal(`ORDER BY ${orderKeys} LIMIT ${batchSize}`)
      // one statement each (not a statement within a statement: a client wrapper may see each one)
      return read(
        resume === undefined
          ? sql<LegacyRow>`${rows} FROM ${t} WHERE ${sql.in("openid", openids)} AND ${rowFits}) legacy ${limit}`
          : resume._tag === "AfterOpenid"
          ? sql<LegacyRow>`${rows} FROM ${t} WHERE ${sql.in("openid", openids)} AND ${rowFits}) legacy
              WHERE openid > ${resume.openid} ${limit}`
          : sql<LegacyRow>`${rows} FROM ${t} WHERE ${sql.in("openid", openids)} AND ${rowFits}) legacy
              WHERE (${order}) > ${sql.in(resume.keys)} ${limit}`
      )
    }

    /**
     * The store could not read the user's token (it holds a value it cannot read, or the read
     * merely failed): the legacy token is written as a new consent's is (core's `exchangeCode`),
     * newer wins, then read back. A readable token stamped after it means the first read's failure
     * was a moment's, and the store's token is kept (`newerInStore`). A read back that fails again
     * leaves whatever the store holds: the import cannot tell a value no version can read from a
     * newer, good token a live app wrote meanwhile that a second blip hid, and removes nothing it
     * could not read. It is logged (appId and openid, no token) and counted as `unreadableInStore`.
     */
    const writeOverUnreadable = (token: OAuthToken.OAuthToken) =>
      store.set(appId, token).pipe(
        Effect.zipRight(Effect.either(store.get(appId, token.openid))),
        Effect.flatMap((kept) =>
          Either.isRight(kept)
            ? Effect.succeed(
              Option.isSome(kept.right) && kept.right.value.obtainedAt > token.obtainedAt
                ? "newerInStore" as const
                : "imported" as const
            )
            : Effect.logWarning(
              "wxauth: importLegacy: the store cannot read a user's stored token, before or after the legacy token was written (newer wins); it is left as it is"
            ).pipe(
              Effect.annotateLogs({ appId, openid: token.openid, error: kept.left.description }),
              Effect.as("unreadableInStore" as const)
            )
        )
      )

    let cursor: string | undefined = undefined
    while (true) {
      // Keyset pagination over the distinct openids: the legacy table may lack its unique key.
      const page: ReadonlyArray<{ openid: unknown }> = yield* read(
        cursor === undefined
          ? sql<{ openid: unknown }>`SELECT DISTINCT ${openidColumn} AS openid FROM ${t}
              WHERE openid IS NOT NULL AND ${openidFits} ORDER BY openid LIMIT ${sql.literal(String(batchSize))}`
          : sql<{ openid: unknown }>`SELECT DISTINCT ${openidColumn} AS openid FROM ${t}
              WHERE openid > ${cursor} AND ${openidFits} ORDER BY openid LIMIT ${sql.literal(String(batchSize))}`
      )
      if (page.length === 0) break
      const openids = page.map((row) => row.openid === null ? "" : asText(row.openid))
      cursor = openids[openids.length - 1]
      // one token per openid: the most recent usable row
      const now = yield* Clock.currentTimeMillis
      const latest = new Map<string, OAuthToken.OAuthToken>()
      const seen = new Set<string>(openids.map(legacyOpenid))
      // An openid may have any number of rows (wechat-oauth's REPLACE INTO adds one per save to a
      // table without its unique key): the page's rows are read batchSize at a time, each openid's in
      // the order `rowsAfter` gives, until its latest usable row is known: the first usable one with
      // a plain-number create_at (every later one is older), or its last row. The next query then
      // starts after that openid, so most often a user costs one row.
      const found = new Set<string>()
      let resume: Resume | undefined = undefined
      let previousKeys: ReadonlyArray<unknown> | undefined = undefined
      while (true) {
        const rows: ReadonlyArray<LegacyRow> = yield* rowsAfter(openids, resume)
        for (const row of rows) {
          const openid = legacyOpenid(row.openid)
          if (found.has(openid)) continue
          seen.add(openid)
          const token = Either.getOrUndefined(LegacyToken.decode(row, now))
          if (token === undefined) continue
          if (Number(row.rank_key) > undatedRank) found.add(openid)
          const current = latest.get(token.openid)
          if (current === undefined || current.obtainedAt < token.obtainedAt) latest.set(token.openid, token)
        }
        if (rows.length < batchSize) break
        const last = rows[rows.length - 1]
        const keys = keysOf(last)
        // A key that does not come back as it is stored (a number column past 2^53, read as a
        // rounded double) would answer the same rows again, for ever: the rest of that openid is
        // skipped instead (its rows so far decided it).
        resume = found.has(legacyOpenid(last.openid)) || (previousKeys !== undefined && sameKeys(previousKeys, keys))
          ? { _tag: "AfterOpenid", openid: last.openid }
          : { _tag: "AfterRow", keys }
        previousKeys = resume._tag === "AfterRow" ? keys : undefined
      }
      for (const openid of seen) if (!latest.has(openid)) counts.invalid++
      const outcomes = yield* Effect.forEach(latest.values(), (token) => {
        if (token.refreshExpiresAt <= now) return Effect.succeed("expired" as const)
        // A row `decode` dated now has a create_at not before now (a legacy server whose clock runs
        // ahead): its date says nothing, and dated now again at every run it would replace whatever
        // the store got since the last one (a refresh, a new consent). It only fills an empty place;
        // for a user the store holds, it is counted apart (`datedAhead`), not as `newerInStore`: the
        // row may be newer than the stored token (a consent on the legacy server since the last run),
        // and a run once its date has passed compares it like any other row.
        const datedAhead = token.obtainedAt >= now
        return Effect.flatMap(Effect.either(store.get(appId, token.openid)), (existing) =>
          Either.isLeft(existing)
            // a stored token the store cannot read (another version's, corrupted, or a failed read)
            // does not stop the import: a usable legacy token is written over it, newer wins, as a
            // new consent's would be; one dated ahead leaves it, as it leaves any stored token,
            // until a run once its date has passed
            ? datedAhead ? Effect.succeed("datedAhead" as const) : writeOverUnreadable(token)
            : Option.isNone(existing.right)
            ? Effect.as(store.set(appId, token), "imported" as const)
            : datedAhead
            ? Effect.succeed("datedAhead" as const)
            : existing.right.value.obtainedAt >= token.obtainedAt
            ? Effect.succeed("newerInStore" as const)
            : Effect.as(store.set(appId, token), "imported" as const))
      }, { concurrency: 8 })
      for (const outcome of outcomes) {
        counts[outcome]++
      }
      if (page.length < batchSize) {
        break
      }
    }
    return { ...counts, skipped: counts.newerInStore + counts.datedAhead + counts.expired + counts.invalid }
  }).pipe(Effect.withSpan("SqlTokenStore.importLegacy"))
