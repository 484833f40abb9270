/**
 * The tests' deep equality (test-support's setup file): chai's `assert.deepStrictEqual` tells
 * Options and Eithers apart by tag and value, directly and nested, so an assertion that a value was
 * stored, or was not, can fail; Redacteds by the values they hide; Errors by their fields and cause.
 */
import { assert, describe, it } from "@effect/vitest"
import { WeChatError } from "@wxauth/core"
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { chai } from "vitest"

/**
 * The comparison answers "unequal": it fails with chai's AssertionError. Any other exception (the
 * comparator throwing) is not an answer and fails the test.
 */
const differ = (left: unknown, right: unknown) =>
  assert.throws(() => assert.deepStrictEqual(left, right), chai.AssertionError, undefined, "the two should differ")

class Tagged extends Data.TaggedError("Tagged")<{
  readonly token: Redacted.Redacted<string>
  readonly n: number
  readonly found: Option.Option<number>
}> {}

class SchemaTagged extends Schema.TaggedError<SchemaTagged>()("SchemaTagged", {
  token: Schema.Redacted(Schema.String),
  n: Schema.Number
}) {
  override get message(): string {
    return "the same message whatever the fields"
  }
}

const transport = (cause?: unknown) =>
  new WeChatError.TransportError({ endpoint: "token", reason: "ConnectionRefused", description: "x", cause })

describe("the tests' deep equality", () => {
  it("tells Some from None, either way round, directly and nested", () => {
    differ(Option.some("x"), Option.none())
    differ(Option.none(), Option.some("x"))
    differ({ stored: Option.some("x") }, { stored: Option.none() })
    differ([Option.none()], [Option.some({ token: "x" })])
  })

  it("compares the values of two Somes and of two Eithers deeply", () => {
    differ(Option.some({ token: "x" }), Option.some({ token: "y" }))
    differ(Either.right(1), Either.left(1))
    differ(Either.left({ code: 1 }), Either.left({ code: 2 }))
    assert.deepStrictEqual({ stored: Option.some({ token: ["x"] }) }, { stored: Option.some({ token: ["x"] }) })
    assert.deepStrictEqual([Option.none(), Either.right({ n: 1 })], [Option.none(), Either.right({ n: 1 })])
  })

  it("tells an Option from a plain object of the same fields", () => {
    differ(Option.none(), { _tag: "None" })
    differ({ _tag: "Some", value: 1 }, Option.some(1))
  })

  it("answers each comparison afresh: an object changed after one comparison compares as it now is", () => {
    const stored = { token: "x", found: Option.some(1) }
    const copy = { token: "x", found: Option.some(1) }
    assert.deepStrictEqual(stored, copy)
    stored.token = "y"
    differ(stored, copy)
    stored.token = "x"
    assert.deepStrictEqual(stored, copy)
    const list = [1]
    const same = [1]
    assert.deepStrictEqual(list, same)
    list.push(2)
    differ(list, same)
  })

  it("tells Redacteds apart by the values they hide", () => {
    differ(Redacted.make("access-a"), Redacted.make("access-b"))
    differ({ accessToken: Redacted.make("a") }, { accessToken: Redacted.make("b") })
    differ(Redacted.make("a"), "a")
    assert.deepStrictEqual({ accessToken: Redacted.make("a") }, { accessToken: Redacted.make("a") })
    const wiped = Redacted.make("gone")
    Redacted.unsafeWipe(wiped)
    assert.deepStrictEqual({ token: wiped }, { token: wiped }, "the same wiped Redacted: no value to read")
    const otherWiped = Redacted.make("gone")
    Redacted.unsafeWipe(otherWiped)
    differ(wiped, otherWiped)
  })

  it("leaves primitives to chai: 0 and -0 differ", () => {
    differ(0, -0)
    differ({ n: 0 }, { n: -0 })
  })

  it("tells two Errors apart by their fields (Redacteds and Options in them too) and their cause", () => {
    const tagged = (token: string, n: number, found: Option.Option<number>) =>
      new Tagged({ token: Redacted.make(token), n, found })
    differ(tagged("a", 1, Option.none()), tagged("b", 1, Option.none()))
    differ(tagged("a", 1, Option.none()), tagged("a", 2, Option.none()))
    differ(tagged("a", 1, Option.none()), tagged("a", 1, Option.some(1)))
    differ({ error: tagged("a", 1, Option.none()) }, { error: tagged("b", 1, Option.none()) })
    differ(
      new SchemaTagged({ token: Redacted.make("a"), n: 1 }),
      new SchemaTagged({ token: Redacted.make("b"), n: 1 })
    )
    differ(new SchemaTagged({ token: Redacted.make("a"), n: 1 }), new SchemaTagged({ token: Redacted.make("a"), n: 2 }))
    differ(Object.assign(new Error("m"), { token: "a" }), Object.assign(new Error("m"), { token: "b" }))
    differ(Object.assign(new Error("m"), { token: "a" }), new Error("m"))
    differ(new TypeError("m"), Object.assign(new Error("m"), { name: "TypeError" }))
    const cause = (code: string) => Object.assign(new Error("connect failed"), { code })
    differ(transport(cause("ECONNREFUSED")), transport(cause("ETIMEDOUT")))
    differ(transport(cause("ECONNREFUSED")), transport())
    differ(new Error("m", { cause: Redacted.make("a") }), new Error("m", { cause: Redacted.make("b") }))
    // equal ones: made at different places (their stacks differ), equal fields and causes
    assert.deepStrictEqual(tagged("a", 1, Option.some(1)), tagged("a", 1, Option.some(1)))
    assert.deepStrictEqual(transport(cause("ECONNREFUSED")), transport(cause("ECONNREFUSED")))
    assert.deepStrictEqual(
      new SchemaTagged({ token: Redacted.make("a"), n: 1 }),
      new SchemaTagged({ token: Redacted.make("a"), n: 1 })
    )
    const [here, there] = [new Error("m"), new Error("m")]
    assert.notStrictEqual(here.stack, there.stack)
    assert.deepStrictEqual(here, there)
    assert.deepStrictEqual(Object.assign(here, { stack: "at a" }), Object.assign(there, { stack: "at b" }))
    const cyclic = () => {
      const error = new Error("m")
      return Object.assign(error, { self: error, cause: error })
    }
    assert.deepStrictEqual(cyclic(), cyclic())
  })

  it("matches the entries of two Sets or Maps in any order, though Redacteds all print alike", () => {
    const [a, b, c] = ["a", "b", "c"].map((s) => Redacted.make(s))
    const again = (r: Redacted.Redacted<string>) => Redacted.make(Redacted.value(r))
    assert.deepStrictEqual(new Set([a, b]), new Set([again(b), again(a)]))
    assert.deepStrictEqual(new Map([[a, 1], [b, 2]]), new Map([[again(b), 2], [again(a), 1]]))
    assert.deepStrictEqual(new Map([[1, a], [2, b]]), new Map([[2, again(b)], [1, again(a)]]))
    assert.deepStrictEqual(new Set([{ token: a }, { token: b }]), new Set([{ token: again(b) }, { token: again(a) }]))
    assert.deepStrictEqual(new Set([1, "x", Option.some(a)]), new Set([Option.some(again(a)), "x", 1]))
    differ(new Set([a, b]), new Set([again(a), c]))
    differ(new Set([a, b]), new Set([again(a), again(a)]))
    differ(new Map([[a, 1], [b, 2]]), new Map([[again(a), 2], [again(b), 1]]))
    differ(new Map([[1, a]]), new Map([[2, again(a)]]))
    differ(new Set([1, a]), new Set([2, again(a)]))
    differ(new Set([a]), new Map([[a, a]]))
  })

  it("does not keep what a failed Set/Map matching attempt assumed: p and q still differ", () => {
    // a and b differ in zbad, compared after achild; p points to a, q to b
    const make = (zbad: number) => {
      const node: Record<string, unknown> = {}
      const back = { back: node }
      node.achild = back
      node.zbad = { v: zbad }
      return [node, back] as const
    }
    const [a, p] = make(1)
    const [b, q] = make(2)
    differ(p, q)
    differ([new Set([a, b]), p], [new Set([b, a]), q])
    const [r1, r2] = [Redacted.make("k1"), Redacted.make("k2")]
    differ([new Map<unknown, unknown>([[r1, a], [r2, b]]), p], [new Map<unknown, unknown>([[r2, b], [r1, a]]), q])
    assert.deepStrictEqual([new Set([a, b]), p], [new Set([b, a]), p])
  })

  it("ends on cycles through Sets, Maps, Options and Eithers: alike ones are equal, others differ", () => {
    const selfSet = (extra: unknown) => {
      const s = new Set<unknown>([extra])
      s.add(s)
      return s
    }
    const selfMap = (extra: unknown) => {
      const m = new Map<unknown, unknown>([["extra", extra]])
      m.set("self", m)
      m.set("nested", { m })
      return m
    }
    assert.deepStrictEqual(selfSet(1), selfSet(1))
    assert.deepStrictEqual(selfMap(1), selfMap(1))
    // not differ(): chai cannot print a Set holding itself for the failure message (loupe overflows)
    assert.notDeepEqual(selfSet(1), selfSet(2))
    assert.notDeepEqual(selfMap(1), selfMap(2))
    const selfOption = (n: number) => {
      const holder: { n: number; self?: Option.Option<unknown> } = { n }
      holder.self = Option.some(holder)
      return holder
    }
    assert.deepStrictEqual(selfOption(1), selfOption(1))
    differ(selfOption(1), selfOption(2))
    const selfEither = (n: number) => {
      const holder: { n: number; self?: Either.Either<unknown> } = { n }
      holder.self = Either.right(holder)
      return holder
    }
    assert.deepStrictEqual(selfEither(1), selfEither(1))
    differ(selfEither(1), selfEither(2))
  })

  it("matches two 2,000-entry Sets and Maps of objects in reverse order (no all-against-all)", () => {
    const items = Array.from({ length: 2000 }, (_, i) => ({ id: i, name: `n${i}` }))
    const copies = items.map((item) => ({ ...item })).reverse()
    assert.deepStrictEqual(new Set(items), new Set(copies))
    assert.deepStrictEqual(new Map(items.map((item) => [item, item.id])), new Map(copies.map((c) => [c, c.id])))
    differ(new Set(items), new Set(copies.map((c, i) => (i === 0 ? { id: -1, name: "z" } : c))))
  })

  it("applies the Error rule only to errors: objects inheriting Error.prototype differ in an enumerable stack", () => {
    const errorLike = (stack: string) => Object.create(Error.prototype, { stack: { value: stack, enumerable: true } })
    differ(errorLike("one"), errorLike("two"))
    assert.deepStrictEqual(errorLike("one"), errorLike("one"))
    assert.strictEqual(
      Object.prototype.toString.call(new Tagged({ token: Redacted.make("a"), n: 1, found: Option.none() })),
      "[object Error]"
    )
  })
})
