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
import type { ImportOptions, ImportResult } from "../SqlTokenStore.js"
import { readOptions } from "./builder.js"
import { asText, client } from "./client.js"
import { positiveDuration } from "./durations.js"
import { guard } from "./guard.js"
import { validateName } from "./tables.js"

/** The columns of wechat-oauth's `token` table (all `varchar`). */
interface LegacyRow {
  readonly access_token: unknown
  readonly expires_in: unknown
  readonly refresh_token: unknown
  readonly openid: unknown
  readonly scope: unknown
  readonly create_at: unknown
}

/** An openid as the legacy table holds it, trimmed, to count a user once whatever its rows. */
const legacyOpenid = (value: unknown): string => value === null || value === undefined ? "" : asText(value).trim()

/** @internal */
export const importLegacy = (
  given: ImportOptions
): Effect.Effect<
  ImportResult,
  WeChatError.InvalidArgument | WeChatError.TokenStoreError,
  SqlClient.SqlClient | TokenStore.TokenStore
> =>
  Effect.gen(function*() {
    const [sql] = yield* client
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
    let cursor: string | undefined = undefined
    while (true) {
      // Keyset pagination over the distinct openids: the legacy table may lack its unique key.
      const page: ReadonlyArray<{ openid: unknown }> = yield* read(
        cursor === undefined
          ? sql<{ openid: unknown }>`SELECT DISTINCT openid FROM ${t} WHERE openid IS NOT NULL
              ORDER BY openid LIMIT ${sql.literal(String(batchSize))}`
          : sql<{ openid: unknown }>`SELECT DISTINCT openid FROM ${t} WHERE openid > ${cursor}
              ORDER BY openid LIMIT ${sql.literal(String(batchSize))}`
      )
      if (page.length === 0) break
      const openids = page.map((row) => row.openid === null ? "" : asText(row.openid))
      cursor = openids[openids.length - 1]
      const rows = yield* read(sql<LegacyRow>`SELECT access_token, expires_in, refresh_token, openid, scope, create_at
        FROM ${t} WHERE ${sql.in("openid", openids)}`)
      // one token per openid: the most recent usable row
      const now = yield* Clock.currentTimeMillis
      const latest = new Map<string, OAuthToken.OAuthToken>()
      const seen = new Set<string>()
      for (const row of rows) {
        const openid = legacyOpenid(row.openid)
        seen.add(openid)
        const token = Either.getOrUndefined(LegacyToken.decode(row, now))
        if (token === undefined) continue
        const current = latest.get(token.openid)
        if (current === undefined || current.obtainedAt < token.obtainedAt) latest.set(token.openid, token)
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
        return Effect.flatMap(store.get(options.appId, token.openid), (existing) =>
          Option.isNone(existing)
            ? Effect.as(store.set(options.appId, token), "imported" as const)
            : datedAhead
            ? Effect.succeed("datedAhead" as const)
            : existing.value.obtainedAt >= token.obtainedAt
            ? Effect.succeed("newerInStore" as const)
            : Effect.as(store.set(options.appId, token), "imported" as const))
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
