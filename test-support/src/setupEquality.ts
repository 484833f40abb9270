/**
 * A vitest setup file for every package's tests: chai's deep equality (`assert.deepStrictEqual`,
 * `assert.deepEqual`, `expect(...).to.eql`) tells `Option`s and `Either`s apart by tag and value,
 * and `Redacted`s by the values they hide.
 *
 * Without it, chai compares an Effect `Option` as an iterable (it has `Symbol.iterator` for
 * `yield*`), and the one item either side yields looks the same: `Option.some(x)` passed for
 * `Option.none()` in either direction, directly or nested in an object or array, so an assertion
 * that a value was stored, or was not, could not fail. Any two `Redacted`s compared equal (their
 * values are kept outside them), so a token with the wrong secret passed. vitest's own `expect(...).toEqual` is not
 * affected (it has its own equality).
 *
 * @since 0.0.0
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { chai } from "vitest"

type Options = {
  readonly comparator: (left: unknown, right: unknown) => boolean | null
  memoize?: unknown
}

const eql = chai.util.eql as (left: unknown, right: unknown, options: Options) => boolean

/**
 * Compares `left` and `right` deeply, with the Option and Either rule at every depth. Each
 * comparison has its own options: deep-eql keeps its memo of compared pairs in them, so options
 * shared between comparisons would answer a later one from an earlier one's memo (an object changed
 * since would still compare as it did).
 */
const deepEqual = (left: unknown, right: unknown): boolean => {
  const options: Options = {
    comparator: (a, b) => {
      // the same object is equal to itself (a wiped Redacted has no value to read); primitives are
      // left to deep-eql (it tells 0 from -0)
      if (a === b && typeof a === "object" && a !== null) return true
      if (Option.isOption(a) || Option.isOption(b)) {
        if (!Option.isOption(a) || !Option.isOption(b) || a._tag !== b._tag) return false
        return a._tag === "None" || eql(a.value, (b as Option.Some<unknown>).value, options)
      }
      if (Either.isEither(a) || Either.isEither(b)) {
        if (!Either.isEither(a) || !Either.isEither(b) || a._tag !== b._tag) return false
        return a._tag === "Left"
          ? eql(a.left, (b as Either.Left<unknown, unknown>).left, options)
          : eql(a.right, (b as Either.Right<unknown, unknown>).right, options)
      }
      if (Redacted.isRedacted(a) || Redacted.isRedacted(b)) {
        if (!Redacted.isRedacted(a) || !Redacted.isRedacted(b)) return false
        let values: readonly [unknown, unknown]
        try {
          values = [Redacted.value(a), Redacted.value(b)]
        } catch {
          // a wiped Redacted: no value to compare, so unequal to any other
          return false
        }
        return eql(values[0], values[1], options)
      }
      return null
    }
  }
  return eql(left, right, options)
}

chai.config.deepEqual = deepEqual
