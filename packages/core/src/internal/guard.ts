/**
 * The guard around a look at a caller's value. JavaScript callers can pass what TypeScript never
 * would: a Proxy whose traps throw, a revoked Proxy (every operation on it throws), an object that
 * passes `instanceof URL` without being one, a getter that throws. A look at such a value (a
 * property, `in`, `instanceof`, `Array.isArray`, `String()`) throws; under this guard it is a
 * value that is "not valid" instead, which each caller turns into its typed error. No dependency:
 * `WeChatError` uses it too (`internal/arguments.ts` builds the argument helpers on it).
 *
 * @internal
 */
import * as Either from "effect/Either"

/**
 * What a value is said to be when looking at it threw.
 *
 * @internal
 */
export const unreadable = "cannot be read (a getter threw, or the Proxy is revoked)"

/**
 * Runs `look`, a synchronous look at a caller's value, under a guard: `Left(unreadable)` when it
 * throws.
 *
 * @internal
 */
export const guard = <A>(look: () => A): Either.Either<A, string> => {
  try {
    return Either.right(look())
  } catch {
    return Either.left(unreadable)
  }
}

/**
 * `look`'s answer, or `fallback` when it throws: for predicates (`false`) and defaults.
 *
 * @internal
 */
export const guardOr = <A, B>(look: () => A, fallback: B): A | B => {
  try {
    return look()
  } catch {
    return fallback
  }
}
