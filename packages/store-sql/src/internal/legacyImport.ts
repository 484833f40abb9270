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
import { validateName } from "./tables.js"

/** The columns of wechat-oauth's `token` table (all `varchar`), as a round of the import reads them. */
interface LegacyRow {
  readonly access_token: unknown
  readonly expires_in: unknown
  readonly refresh_token: unknown
  readonly openid: unknown
  readonly scope: unknown
  readonly create_at: unknown
  /** 1 when `create_at` is a plain number the query read (`datedKey`), 0 when only the decode can read it. */
  readonly dated: unknown
  /** The row's place among its openid's rows (`ROW_NUMBER`), from 1. */
  readonly rn: unknown
  /** How many rows its openid has (those within the bounds). */
  readonly total: unknown
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
 * `create_at` as epoch milliseconds when it is a plain number of 1 to 15 decimal digits (after its
 * spaces are trimmed), the way `LegacyToken.decode` reads it (seconds below 1e11); else `NULL`,
 * which only the decode can read (a date string, a `Date` column, a fraction). wechat-oauth writes
 * every `create_at` so. The decode dates such a row `min(this, now)`, or refuses it: ordered by this
 * value, an openid's rows come latest first.
 */
const datedKey = (dialect: Dialect): string => {
  const digits = dialect === "pg"
    ? ["TRIM(CAST(create_at AS TEXT))", "~ '^[0-9]{1,15}$'", "BIGINT"]
    : dialect === "mysql"
    ? ["TRIM(CAST(create_at AS CHAR))", "REGEXP '^[0-9]{1,15}$'", "UNSIGNED"]
    : ["TRIM(CAST(create_at AS TEXT))", "", "INTEGER"]
  const [text, pattern, integer] = digits
  const isNumber = dialect === "sqlite"
    ? `length(${text}) BETWEEN 1 AND 15 AND ${text} NOT GLOB '*[^0-9]*'`
    : `${text} ${pattern}`
  const n = `CAST(${text} AS ${integer})`
  return `CASE WHEN ${isNumber} THEN CASE WHEN ${n} < 100000000000 THEN ${n} * 1000 ELSE ${n} END END`
}

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
    const counts = { imported: 0, newerInStore: 0, datedAhead: 0, expired: 0, invalid: 0 }
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
    const rowFits = sql.literal(
      Object.keys(maxColumnBytes).map((column) => fits(dialect, column as LegacyColumn)).join(" AND ")
    )
    const dated = sql.literal(datedKey(dialect))

    /**
     * The rows ranked `from + 1` to `to` of each of `openids` (a row with a column over its bound
     * left out), each openid's rows in the order they are to be looked at: those only the decode can
     * date first (any of them may be the latest), then the others latest first (`datedKey`), then by
     * every column, so that each query ranks them alike.
     */
    const ranked = (openids: ReadonlyArray<string>, from: number, to: number) =>
      read(sql<LegacyRow>`SELECT access_token, expires_in, refresh_token, openid, scope, create_at, dated, rn, total
        FROM (
          SELECT access_token, expires_in, refresh_token, openid, scope, create_at,
            CASE WHEN n IS NULL THEN 0 ELSE 1 END AS dated,
            ROW_NUMBER() OVER (PARTITION BY openid ORDER BY CASE WHEN n IS NULL THEN 0 ELSE 1 END, n DESC,
              access_token, refresh_token, expires_in, scope, create_at) AS rn,
            COUNT(*) OVER (PARTITION BY openid) AS total
          FROM (
            SELECT access_token, expires_in, refresh_token, openid, scope, create_at, ${dated} AS n
            FROM ${t} WHERE ${sql.in("openid", openids)} AND ${rowFits}
          ) legacy
        ) ranked
        WHERE rn > ${sql.literal(String(from))} AND rn <= ${sql.literal(String(to))}
        ORDER BY openid, rn`)

    /**
     * The store could not read the user's token (it holds a value it cannot read, or the read
     * merely failed): the legacy token is written as a new consent's is (core's `exchangeCode`),
     * newer wins, then read back. A readable token stamped after it means the first read's failure
     * was a moment's, and the store's token is kept; a read back that fails again means the store
     * keeps a value it cannot read, which is removed, and the token written again.
     */
    const replaceUnreadable = (token: OAuthToken.OAuthToken, description: string) =>
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
              "wxauth: importLegacy: the store cannot read a user's stored token; the legacy token replaces it"
            ).pipe(
              Effect.annotateLogs({ appId, error: description }),
              Effect.zipRight(store.remove(appId, token.openid)),
              Effect.zipRight(store.set(appId, token)),
              Effect.as("imported" as const)
            )
        )
      )

    let cursor: string | undefined = undefined
    while (true) {
      // Keyset pagination over the distinct openids: the legacy table may lack its unique key.
      const page: ReadonlyArray<{ openid: unknown }> = yield* read(
        cursor === undefined
          ? sql<{ openid: unknown }>`SELECT DISTINCT openid FROM ${t} WHERE openid IS NOT NULL AND ${openidFits}
              ORDER BY openid LIMIT ${sql.literal(String(batchSize))}`
          : sql<{ openid: unknown }>`SELECT DISTINCT openid FROM ${t} WHERE openid > ${cursor} AND ${openidFits}
              ORDER BY openid LIMIT ${sql.literal(String(batchSize))}`
      )
      if (page.length === 0) break
      const openids = page.map((row) => row.openid === null ? "" : asText(row.openid))
      cursor = openids[openids.length - 1]
      // one token per openid: the most recent usable row
      const now = yield* Clock.currentTimeMillis
      const latest = new Map<string, OAuthToken.OAuthToken>()
      const seen = new Set<string>(openids.map(legacyOpenid))
      // An openid may have any number of rows (wechat-oauth's REPLACE INTO adds one per save to a
      // table without its unique key), so they are read in rounds of at most `batchSize` rows, each
      // openid's in the order `ranked` gives, until its latest usable row is known: the first usable
      // one with a plain-number create_at (every later one is older), or its last row. Most often
      // that is the first round, one row per openid.
      let pending = openids
      let done = 0
      while (pending.length > 0) {
        const step = Math.max(1, Math.floor(batchSize / pending.length))
        const rows = yield* ranked(pending, done, done + step)
        const found = new Set<string>()
        const more = new Set<string>()
        for (const row of rows) {
          const openid = legacyOpenid(row.openid)
          seen.add(openid)
          if (Number(row.total) > done + step) more.add(openid)
          const token = Either.getOrUndefined(LegacyToken.decode(row, now))
          if (token === undefined) continue
          if (Number(row.dated) === 1) found.add(openid)
          const current = latest.get(token.openid)
          if (current === undefined || current.obtainedAt < token.obtainedAt) latest.set(token.openid, token)
        }
        done += step
        pending = pending.filter((raw) => {
          const openid = legacyOpenid(raw)
          return more.has(openid) && !found.has(openid)
        })
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
            // a stored token the store cannot read (another version's, corrupted) does not stop the
            // import: a usable legacy token replaces it, as a new consent would; one dated ahead
            // leaves it, as it leaves any stored token, until a run once its date has passed
            ? datedAhead ? Effect.succeed("datedAhead" as const) : replaceUnreadable(token, existing.left.description)
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
