/**
 * The tests' deep equality (test-support's setup file): chai's `assert.deepStrictEqual` tells
 * Options and Eithers apart by tag and value, directly and nested, so an assertion that a value was
 * stored, or was not, can fail.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

const differ = (left: unknown, right: unknown) => assert.throws(() => assert.deepStrictEqual(left, right))

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
})
