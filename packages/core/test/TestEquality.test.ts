/**
 * The tests' deep equality (test-support's setup file): chai's `assert.deepStrictEqual` tells
 * Options and Eithers apart by tag and value, directly and nested, so an assertion that a value was
 * stored, or was not, can fail.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Option from "effect/Option"

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
})
