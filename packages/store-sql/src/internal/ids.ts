/**
 * The ids a read fetches beside the value, and their check: a row is the asked key's only when its
 * ids are, byte for byte. A table whose ids ignore case (a SQLite column `COLLATE NOCASE`, a MySQL /
 * MariaDB `_ci` collation) answers `openid = 'oa'` with the row of `'oA'`: another user's.
 *
 * @internal
 */
import type { Dialect } from "../SqlTokenStore.js"
import { asText } from "./client.js"

/**
 * The longest id a read fetches, in bytes: those the tables' columns hold on PostgreSQL and MySQL /
 * MariaDB (`VARCHAR(64)`, `VARCHAR(128)`), four bytes a character. SQLite's `TEXT` holds any
 * length: a longer id planted there (which a collation such as `RTRIM` may match) is read as
 * `NULL`, not fetched, and is no one's.
 *
 * @internal
 */
export const maxIdBytes = { app_id: 4 * 64, openid: 4 * 128, code_hash: 4 * 128 } as const

/**
 * An id column of the stores' tables.
 *
 * @internal
 */
export type IdColumn = keyof typeof maxIdBytes

/**
 * The id `columns` as a `SELECT` reads them (`maxIdBytes`), in `dialect`. On PostgreSQL each is cast
 * to `TEXT`: a `CHAR(n)` column (`character`, which the shape check takes as text) answers its ids
 * padded with spaces to n, and its cast drops that padding (as PostgreSQL's own `=` on `CHAR` ignores
 * it); a `VARCHAR` or `TEXT` id is read as stored, trailing spaces included. MySQL / MariaDB drop a
 * `CHAR` column's padding on read, SQLite pads nothing. No other trailing space is dropped: a row
 * whose id ends in a space (written outside wxauth) is not the row of the id without it, which is
 * how `revokeUser` and every other statement compare it.
 *
 * @internal
 */
export const boundedIds = (dialect: Dialect, columns: ReadonlyArray<IdColumn>): string =>
  dialect === "sqlite"
    ? columns.map((column) =>
      `CASE WHEN length(CAST(${column} AS BLOB)) <= ${maxIdBytes[column]} THEN ${column} END AS ${column}`
    ).join(", ")
    : dialect === "pg"
    ? columns.map((column) => `CAST(${column} AS TEXT) AS ${column}`).join(", ")
    : columns.join(", ")

/**
 * What follows each `column = ?` of an id in `dialect`: on SQLite, `COLLATE BINARY`, which wins over
 * the column's own collation (an explicit `COLLATE` on an operand does), so that a column declared
 * `COLLATE NOCASE` (under a primary key declared `COLLATE BINARY`, which setup accepts) still finds,
 * updates and deletes only the row of the very id; the primary key's `BINARY` index serves it.
 * Elsewhere nothing: PostgreSQL compares byte for byte, MySQL / MariaDB's tables are refused unless
 * binary.
 *
 * @internal
 */
export const exact = (dialect: Dialect): string => dialect === "sqlite" ? " COLLATE BINARY" : ""

/**
 * A stored id, as `boundedIds` reads it, as text, byte for byte (a `CHAR` column's padding is
 * dropped in the query, not here: an id that ends in a space is another id); `undefined` for `NULL`
 * (a SQLite id longer than any, not fetched).
 *
 * @internal
 */
export const idOf = (value: unknown): string | undefined =>
  value === null || value === undefined ? undefined : asText(value)

/**
 * Whether `row` holds exactly the ids `asked`, byte for byte (JavaScript's `===` on the texts, as
 * `boundedIds` reads them: without the padding of a `CHAR` column).
 *
 * @internal
 */
export const sameIds = (row: object, asked: Partial<Record<IdColumn, string>>): boolean =>
  Object.entries(asked).every(([column, id]) => idOf((row as Record<string, unknown>)[column]) === id)
