/**
 * The `SqlClient` the store runs on: the one in context, without its name transforms, and its
 * dialect; and the reading of what the driver gives: a text column, the rows a write changed.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { WeChatError } from "@wxauth/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Dialect } from "../SqlTokenStore.js"

/**
 * `sql` without its name transforms, and its dialect, when the store speaks it (`Option.none()`
 * when it does not); `undefined` when `sql` is no `SqlClient` (a JavaScript caller's
 * `layerFromClient(42)`, `{}`, a revoked Proxy, an object with an `onDialectOrElse` alone), looked
 * at under a guard: each method the store calls is there, and answers what a `SqlClient`'s does.
 */
const clientOf = (given: SqlClient.SqlClient): Option.Option<readonly [SqlClient.SqlClient, Dialect]> | undefined => {
  const sql: unknown = given
  try {
    // a SqlClient is a function (the sql`...` tag) with the client's methods
    if ((typeof sql !== "object" && typeof sql !== "function") || sql === null) return undefined
    const client = sql as SqlClient.SqlClient
    // an object with `onDialectOrElse` alone passed, and the layer died on `withoutTransforms`
    if (typeof client.onDialectOrElse !== "function" || typeof client.withoutTransforms !== "function") {
      return undefined
    }
    const dialect: unknown = client.onDialectOrElse({
      orElse: () => Option.none<Dialect>(),
      pg: () => Option.some<Dialect>("pg"),
      mysql: () => Option.some<Dialect>("mysql"),
      sqlite: () => Option.some<Dialect>("sqlite")
    })
    if (!Option.isOption(dialect)) return undefined
    const value: unknown = Option.getOrUndefined(dialect)
    if (value !== "pg" && value !== "mysql" && value !== "sqlite") return Option.none()
    const plain: unknown = client.withoutTransforms()
    return typeof plain === "function" ? Option.some([plain as SqlClient.SqlClient, value] as const) : undefined
  } catch {
    return undefined
  }
}

/**
 * The `SqlClient` in context, without its name transforms (the store's column names are its own),
 * and its dialect.
 *
 * @internal
 */
export const client: Effect.Effect<
  readonly [SqlClient.SqlClient, Dialect],
  WeChatError.InvalidArgument,
  SqlClient.SqlClient
> = Effect.flatMap(SqlClient.SqlClient, (sql) => {
  const found = clientOf(sql)
  if (found === undefined) {
    return Effect.fail(
      new WeChatError.InvalidArgument({ argument: "SqlClient", description: "must be a SqlClient of @effect/sql" })
    )
  }
  return Option.match(found, {
    onNone: () =>
      Effect.fail(
        new WeChatError.InvalidArgument({
          argument: "SqlClient",
          description: "the client's SQL dialect is not supported (PostgreSQL, MySQL / MariaDB and SQLite are)"
        })
      ),
    onSome: Effect.succeed
  })
})

/**
 * A text column as a string: drivers give a string, or bytes for a binary column.
 *
 * @internal
 */
export const asText = (value: unknown): string =>
  typeof value === "string" ? value : value instanceof Uint8Array ? Buffer.from(value).toString("utf8") : String(value)

/**
 * The number of rows a write changed, from the raw driver result (`rowCount` in pg, `affectedRows`
 * in mysql2, `changes` in better-sqlite3).
 *
 * @internal
 */
export const affectedRows = (raw: unknown): number => {
  if (typeof raw !== "object" || raw === null) return 0
  const record = raw as Record<string, unknown>
  for (const key of ["rowCount", "affectedRows", "changes"]) {
    const value = record[key]
    if (typeof value === "number") return value
    if (typeof value === "bigint") return Number(value)
  }
  return 0
}
