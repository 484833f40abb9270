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
 * deep-eql's memo, journaled: a Set/Map matching attempt that fails takes back the pairs recorded
 * `true` while it ran. deep-eql records a pair `true` while comparing it (so a cycle ends), and the
 * comparator answers a pair it is comparing `true`: a pair that compared equal under such a guess
 * that failed (the attempt's pair) must not answer later comparisons from the memo. Shared, the memo
 * let `[Set{a, b}, p]` equal `[Set{b, a}, q]` where `p` and `q` differ (they point to `a` and `b`).
 * A successful attempt hands its pairs to the attempt around it.
 */
class Memo {
  private readonly pairs = new WeakMap<object, WeakMap<object, boolean>>()
  private readonly frames: Array<Array<readonly [object, object]>> = []
  get(left: object) {
    return {
      get: (right: object) => this.pairs.get(left)?.get(right),
      set: (right: object, result: boolean) => {
        let inner = this.pairs.get(left)
        if (inner === undefined) this.pairs.set(left, inner = new WeakMap())
        inner.set(right, result)
        if (result) this.frames.at(-1)?.push([left, right])
      }
    }
  }
  set(): void {}
  attempt(run: () => boolean): boolean {
    const frame: Array<readonly [object, object]> = []
    this.frames.push(frame)
    let ok = false
    try {
      ok = run()
    } finally {
      this.frames.pop()
      if (ok) this.frames.at(-1)?.push(...frame)
      else for (const [l, r] of frame) this.pairs.get(l)?.delete(r)
    }
    return ok
  }
}

/**
 * The Error rule's errors: `instanceof Error` and branded as errors (`[object Error]`: made by an
 * Error constructor, as Data/Schema TaggedErrors are). An object merely inheriting from
 * `Error.prototype` is compared by deep-eql as a plain object (its enumerable `stack` counts).
 */
const isError = (u: unknown): u is Error => u instanceof Error && Object.prototype.toString.call(u) === "[object Error]"

const printPrimitive = (u: unknown): string => `${typeof u}:${String(u)}`

/** A primitive printed, an object only as "object". */
const shallow = (u: unknown): string => (isObject(u) ? "object" : printPrimitive(u))

/** The sorted key names, each with its value when that is a primitive. */
const fields = (u: object, keys: Array<string>): string =>
  [...keys].sort().map((k) => {
    const v = (u as Record<string, unknown>)[k]
    return isObject(v) ? k : `${k}=${printPrimitive(v)}`
  }).join(",")

/**
 * A coarse print of a Set's value or a Map's key: values this equality takes as equal print alike,
 * so only entries printing alike need to be compared (type, size or length, sorted enumerable key
 * names, primitive field values).
 */
const fingerprint = (u: unknown): string => {
  if (!isObject(u)) return printPrimitive(u)
  if (Option.isOption(u)) return Option.isSome(u) ? `Some:${shallow(u.value)}` : "None"
  if (Either.isEither(u)) return Either.isRight(u) ? `Right:${shallow(u.right)}` : `Left:${shallow(u.left)}`
  if (Redacted.isRedacted(u)) return `Redacted:${shallow(Redacted.value(u))}`
  if (isError(u)) {
    const { message, name } = u as { name: unknown; message: unknown }
    const head = `Error:${typeof name === "string" ? name : ""}:${typeof message === "string" ? message : ""}`
    return `${head}:${fields(u, errorFieldKeys(u).filter((key): key is string => typeof key === "string"))}`
  }
  if (u instanceof Map || u instanceof Set) return `${u instanceof Map ? "Map" : "Set"}:${u.size}`
  if (Array.isArray(u)) return `Array:${u.length}`
  const tag = Object.prototype.toString.call(u)
  // deep-eql compares other iterables by their items when their key counts differ: no key names then
  if (Symbol.iterator in u) return `${tag}:iterable`
  const keys: Array<string> = []
  for (const key in u) keys.push(key)
  return `${tag}:${fields(u, keys)}`
}
const fingerprintOr = (u: unknown): string | undefined => {
  try {
    return fingerprint(u)
  } catch {
    return undefined
  }
}

/**
 * Compares `left` and `right` deeply, with the Option and Either rule at every depth. Each
 * comparison has its own options: deep-eql keeps its memo of compared pairs in them, so options
 * shared between comparisons would answer a later one from an earlier one's memo (an object changed
 * since would still compare as it did).
 */
const deepEqual = (left: unknown, right: unknown): boolean => {
  // pairs being compared by the comparator (Options, Eithers, Redacteds, Errors, Sets, Maps): one met
  // again inside itself (a cycle: a Set holding itself) is taken as equal, as deep-eql does for
  // objects (the comparator answers before deep-eql memoizes the pair)
  const comparing = new WeakMap<object, WeakSet<object>>()
  const memo = new Memo()
  const same = (a: unknown, b: unknown) => eql(a, b, options)

  const guarded = (a: object, b: object, compare: () => boolean): boolean => {
    const pending = comparing.get(a)
    if (pending?.has(b)) return true
    if (pending === undefined) comparing.set(a, new WeakSet([b]))
    else pending.add(b)
    try {
      return compare()
    } finally {
      comparing.get(a)?.delete(b)
    }
  }

  const errorsEqual = (a: Error, b: Error): boolean => {
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
  }

  /**
   * Two Sets or two Maps, in any order: deep-eql sorts the entries by their printed form and
   * compares them in that order, so entries printing alike (every Redacted prints `<redacted>`, a
   * plain object `[object Object]`) were compared in insertion order. A primitive key is looked up;
   * the entries with object keys are matched one to one, each only against the other side's entries
   * whose keys have its fingerprint (all against all were 17 s for two 2,000-object Sets), each
   * match a memo attempt.
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
    // entries are only compared with entries whose keys print alike (all in one group when a key cannot be printed)
    const prints = [...rest, ...unmatched].map(([key]) => fingerprintOr(key))
    const one = prints.some((p) => p === undefined)
    const groups = new Map<string, Array<readonly [unknown, unknown]>>()
    unmatched.forEach((entry, i) => {
      const p = one ? "" : prints[rest.length + i]!
      const group = groups.get(p)
      if (group === undefined) groups.set(p, [entry])
      else group.push(entry)
    })
    return rest.every(([key, value], i) => {
      const group = groups.get(one ? "" : prints[i]!)
      if (group === undefined) return false
      const j = group.findIndex(([otherKey, otherValue]) =>
        memo.attempt(() => same(key, otherKey) && same(value, otherValue))
      )
      if (j === -1) return false
      group.splice(j, 1)
      return true
    })
  }

  const options: Options = {
    memoize: memo,
    comparator: (a, b) => {
      if (a === b && typeof a === "object" && a !== null) return true
      if (Option.isOption(a) || Option.isOption(b)) {
        if (!Option.isOption(a) || !Option.isOption(b) || a._tag !== b._tag) return false
        return a._tag === "None" || guarded(a, b, () => same(a.value, (b as Option.Some<unknown>).value))
      }
      if (Either.isEither(a) || Either.isEither(b)) {
        if (!Either.isEither(a) || !Either.isEither(b) || a._tag !== b._tag) return false
        return guarded(a, b, () =>
          a._tag === "Left"
            ? same(a.left, (b as Either.Left<unknown, unknown>).left)
            : same(a.right, (b as Either.Right<unknown, unknown>).right))
      }
      if (Redacted.isRedacted(a) || Redacted.isRedacted(b)) {
        if (!Redacted.isRedacted(a) || !Redacted.isRedacted(b)) return false
        let values: readonly [unknown, unknown]
        try {
          values = [Redacted.value(a), Redacted.value(b)]
        } catch {
          return false
        }
        return guarded(a, b, () => same(values[0], values[1]))
      }
      if (isError(a) && isError(b)) return guarded(a, b, () => errorsEqual(a, b))
      if ((a instanceof Map && b instanceof Map) || (a instanceof Set && b instanceof Set)) {
        return guarded(a, b, () => entriesEqual(a, b))
      }
      return null
    }
  }
  return eql(left, right, options)
}

chai.config.deepEqual = deepEqual
