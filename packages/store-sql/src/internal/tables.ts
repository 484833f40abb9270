/**
 * The store's names: the two tables, checked against one pattern, and the names derived from them
 * (the default memo table and the indexes), shortened with a hash when too long for an identifier.
 *
 * @internal
 */
import { WeChatError } from "@wxauth/core"
import * as Either from "effect/Either"
import * as Crypto from "node:crypto"
import type { Tables } from "../SqlTokenStore.js"

/** A table name: letters, digits and `_`, not starting with a digit, at most 63 characters. */
const tableNamePattern = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

const defaultTable = "wxauth_tokens"

/** PostgreSQL's limit (MySQL's is 64). */
const maxIdentifierLength = 63

/**
 * `base + suffix`, or, when that is longer than an identifier may be, a shortened base with a hash
 * of the full base, so that two long table names never derive the same name.
 *
 * @internal
 */
export const derive = (base: string, suffix: string): string => {
  const name = base + suffix
  if (name.length <= maxIdentifierLength) return name
  const hash = Crypto.createHash("sha256").update(base, "utf8").digest("hex").slice(0, 8)
  return `${base.slice(0, maxIdentifierLength - suffix.length - hash.length - 1)}_${hash}${suffix}`
}

/**
 * `name` when it is a valid table name, else an `InvalidArgument` for `argument`.
 *
 * @internal
 */
export const validateName = (argument: string, name: unknown): Either.Either<string, WeChatError.InvalidArgument> =>
  typeof name === "string" && tableNamePattern.test(name) ? Either.right(name) : Either.left(
    new WeChatError.InvalidArgument({
      argument,
      description: `a table name must match ${tableNamePattern.source} (letters, digits and _, at most 63)`
    })
  )

/**
 * The table `options` name, else `fallback`, when it is a valid table name.
 *
 * @internal
 */
export const resolveTable = (
  options: { readonly table?: string | undefined },
  fallback: string
): Either.Either<string, WeChatError.InvalidArgument> => validateName("table", options.table ?? fallback)

/**
 * The store's names from its options: the two tables, validated, and the names derived from them.
 *
 * @internal
 */
export const resolveTables = (options: {
  readonly table?: string | undefined
  readonly memoTable?: string | undefined
}): Either.Either<Tables, WeChatError.InvalidArgument> =>
  Either.gen(function*() {
    const table = yield* resolveTable(options, defaultTable)
    const memoTable = yield* validateName("memoTable", options.memoTable ?? derive(table, "_codes"))
    if (memoTable === table) {
      return yield* Either.left(
        new WeChatError.InvalidArgument({ argument: "memoTable", description: "must differ from table" })
      )
    }
    return {
      table,
      memoTable,
      tokenIndex: derive(table, "_refresh_idx"),
      memoIndex: derive(memoTable, "_expires_idx")
    }
  })
