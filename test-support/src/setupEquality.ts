/**
 * A vitest setup file for every package's tests: chai's deep equality (`assert.deepStrictEqual`,
 * `assert.deepEqual`, `expect(...).to.eql`) told apart `Option`s and `Either`s by tag and value.
 *
 * Without it, chai compares an Effect `Option` as an iterable (it has `Symbol.iterator` for
 * `yield*`), and the one item either side yields looks the same: `Option.some(x)` passed for
 * `Option.none()` in either direction, directly or nested in an object or array, so an assertion
 * that a value was stored, or was not, could not fail. vitest's own `expect(...).toEqual` is not
 * affected (it has its own equality).
 *
 * @since 0.0.0
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { chai } from "vitest"

type Options = { readonly comparator: (left: unknown, right: unknown) => boolean | null }

const eql = chai.util.eql as (left: unknown, right: unknown, options: Options) => boolean

const comparator = (left: unknown, right: unknown): boolean | null => {
  if (Option.isOption(left) || Option.isOption(right)) {
    if (!Option.isOption(left) || !Option.isOption(right) || left._tag !== right._tag) return false
    return left._tag === "None" || eql(left.value, (right as Option.Some<unknown>).value, options)
  }
  if (Either.isEither(left) || Either.isEither(right)) {
    if (!Either.isEither(left) || !Either.isEither(right) || left._tag !== right._tag) return false
    return left._tag === "Left"
      ? eql(left.left, (right as Either.Left<unknown, unknown>).left, options)
      : eql(left.right, (right as Either.Right<unknown, unknown>).right, options)
  }
  return null
}

const options: Options = { comparator }

chai.config.deepEqual = (left: unknown, right: unknown) => eql(left, right, options)
