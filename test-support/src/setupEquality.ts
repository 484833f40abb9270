/**
 * A vitest setup file for every package's tests: chai's deep equality (`assert.deepStrictEqual`,
 * `assert.deepEqual`, `expect(...).to.eql`) tells `Option`s and `Either`s apart by tag and value,
 * `Redacted`s by the values they hide, and `Error`s by their fields and `cause`.
 *
 * Without it, chai compares an Effect `Option` as an iterable (it has `Symbol.iterator` for
 * `yield*`), and the one item either side yields looks the same: `Option.some(x)` passed for
 * `Option.none()` in either direction, directly or nested in an object or array, so an assertion
 * that a value was stored, or was not, could not fail. Any two `Redacted`s compared equal (their
 * values are kept outside them), so a token with the wrong secret passed. Two `Error`s compared by
 * name, message and code only, so two tagged errors differing in a field (a Redacted, a number) or
 * in their `cause` passed. vitest's own `expect(...).toEqual` is not affected (it has its own
 * equality).
 *
 * Not covered: JavaScript `#private` fields (chai cannot see them), and Effect's `HashSet`/`HashMap`
 * of Redacteds in another order (compared as iterables sorted by their printed form, where every
 * Redacted prints `<redacted>`).
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

const isObject = (u: unknown): u is object => (typeof u === "object" && u !== null) || typeof u === "function"

const ownProperty = (o: object, key: PropertyKey): { readonly value: unknown } | undefined => {
  const descriptor = Object.getOwnPropertyDescriptor(o, key)
  return descriptor === undefined ? undefined : { value: Reflect.get(o, key) }
}

/** Own enumerable keys (strings and symbols), but not `stack`: where an error was made does not count. */
const errorFieldKeys = (e: Error): Array<PropertyKey> =>
  Reflect.ownKeys(e).filter((key) => key !== "stack" && Object.prototype.propertyIsEnumerable.call(e, key))

/**
 * Compares `left` and `right` deeply, with the Option and Either rule at every depth. Each
 * comparison has its own options: deep-eql keeps its memo of compared pairs in them, so options
 * shared between comparisons would answer a later one from an earlier one's memo (an object changed
 * since would still compare as it did).
 */
const deepEqual = (left: unknown, right: unknown): boolean => {
  // pairs of errors being compared: one met again inside itself (a cycle) is taken as equal, as
  // deep-eql does for objects (the comparator answers before deep-eql memoizes the pair)
  const comparing = new WeakMap<object, WeakSet<object>>()
  const same = (a: unknown, b: unknown) => eql(a, b, options)

  const errorsEqual = (a: Error, b: Error): boolean => {
    const pending = comparing.get(a)
    if (pending?.has(b)) return true
    if (pending === undefined) comparing.set(a, new WeakSet([b]))
    else pending.add(b)
    try {
      if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false
      // what deep-eql compared (name and message are usually not own enumerable fields)
      if (!same(a.name, b.name) || !same(a.message, b.message)) return false
      if (!same((a as { code?: unknown }).code, (b as { code?: unknown }).code)) return false
      const keys = errorFieldKeys(a)
      const otherKeys = errorFieldKeys(b)
      if (keys.length !== otherKeys.length || !keys.every((key) => otherKeys.includes(key))) return false
      if (!keys.every((key) => same(Reflect.get(a, key), Reflect.get(b, key)))) return false
      // `cause` and an AggregateError's `errors` are own but not enumerable
      for (const key of ["cause", "errors"]) {
        const x = ownProperty(a, key)
        const y = ownProperty(b, key)
        if ((x === undefined) !== (y === undefined)) return false
        if (x !== undefined && !same(x.value, y!.value)) return false
      }
      return true
    } finally {
      comparing.get(a)?.delete(b)
    }
  }

  /**
   * Two Sets or two Maps, in any order: deep-eql sorts the entries by their printed form and
   * compares them in that order, so entries printing alike (every Redacted prints `<redacted>`, a
   * plain object `[object Object]`) were compared in insertion order. A primitive key is looked up;
   * the entries with object keys are matched one to one.
   */
  const entriesEqual = (
    a: ReadonlyMap<unknown, unknown> | ReadonlySet<unknown>,
    b: ReadonlyMap<unknown, unknown> | ReadonlySet<unknown>
  ): boolean => {
    if (a.size !== b.size) return false
    const get = (m: typeof a, key: unknown) => (m instanceof Map ? m.get(key) : key)
    const rest: Array<readonly [unknown, unknown]> = []
    for (const [key, value] of a.entries()) {
      if (!isObject(key)) {
        if (!b.has(key) || !same(value, get(b, key))) return false
      } else {
        rest.push([key, value])
      }
    }
    const unmatched: Array<readonly [unknown, unknown]> = []
    for (const [key, value] of b.entries()) {
      if (isObject(key)) unmatched.push([key, value])
    }
    if (rest.length !== unmatched.length) return false
    return rest.every(([key, value]) => {
      const i = unmatched.findIndex(([otherKey, otherValue]) => same(key, otherKey) && same(value, otherValue))
      if (i === -1) return false
      unmatched.splice(i, 1)
      return true
    })
  }

  const options: Options = {
    comparator: (a, b) => {
      // the same object is equal to itself (a wiped Redacted has no value to read); primitives are
      // left to deep-eql (it tells 0 from -0)
      if (a === b && typeof a === "object" && a !== null) return true
      if (Option.isOption(a) || Option.isOption(b)) {
        if (!Option.isOption(a) || !Option.isOption(b) || a._tag !== b._tag) return false
        return a._tag === "None" || same(a.value, (b as Option.Some<unknown>).value)
      }
      if (Either.isEither(a) || Either.isEither(b)) {
        if (!Either.isEither(a) || !Either.isEither(b) || a._tag !== b._tag) return false
        return a._tag === "Left"
          ? same(a.left, (b as Either.Left<unknown, unknown>).left)
          : same(a.right, (b as Either.Right<unknown, unknown>).right)
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
        return same(values[0], values[1])
      }
      if (a instanceof Error && b instanceof Error) return errorsEqual(a, b)
      if ((a instanceof Map && b instanceof Map) || (a instanceof Set && b instanceof Set)) return entriesEqual(a, b)
      return null
    }
  }
  return eql(left, right, options)
}

chai.config.deepEqual = deepEqual
