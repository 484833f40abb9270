import { assert, describe, it } from "@effect/vitest"
import { UserInfo } from "@wxauth/core"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { decodeUserInfo } from "../src/internal/decodeUserInfo.js"

const decode = Schema.decodeUnknownEither(UserInfo.UserInfo)

/** A profile as `/sns/userinfo` sends it. */
const profile = {
  openid: "oALICE",
  nickname: "张三",
  sex: 1,
  province: "广东",
  city: "广州",
  country: "中国",
  headimgurl: "https://thirdwx.qlogo.cn/mmopen/vi_32/abc/132",
  privilege: ["chinaunicom"],
  unionid: "uALICE"
}

describe("UserInfo", () => {
  it("decodes WeChat's profile with its own field names, unionid included", () => {
    const user = Either.getOrThrow(decode(profile))
    assert.instanceOf(user, UserInfo.UserInfo)
    assert.deepStrictEqual({ ...user }, profile)
  })

  it("unionid is optional (apps not bound to an Open Platform account); extra fields are dropped", () => {
    const { unionid: _, ...unbound } = profile
    const user = Either.getOrThrow(decode({ ...unbound, language: "zh_CN", privilege: [] }))
    assert.isUndefined(user.unionid)
    assert.deepStrictEqual(user.privilege, [])
    assert.notProperty(user, "language")
    assert.strictEqual(Either.getOrThrow(decode({ ...profile, nickname: "王五🐼", headimgurl: "" })).nickname, "王五🐼")
  })

  it("sex is 0, 1 or 2: anything else is refused", () => {
    for (const sex of [0, 1, 2]) assert.isTrue(Either.isRight(decode({ ...profile, sex })), String(sex))
    for (const sex of [3, -1, 1.5, Number.NaN, Infinity, "1", null]) {
      assert.isTrue(Either.isLeft(decode({ ...profile, sex })), String(sex))
    }
  })

  it("a missing or wrong-typed field is refused", () => {
    const { nickname: _, ...nameless } = profile
    assert.isTrue(Either.isLeft(decode(nameless)))
    assert.isTrue(Either.isLeft(decode({ ...profile, privilege: "chinaunicom" })))
    assert.isTrue(Either.isLeft(decode({ ...profile, privilege: [1] })))
    assert.isTrue(Either.isLeft(decode({ ...profile, openid: 42 })))
    assert.isTrue(Either.isLeft(decode({ ...profile, unionid: null })))
    assert.isTrue(Either.isLeft(decode(null)))
    assert.isTrue(Either.isLeft(decode([profile])))
  })

  it("getUser's decoder gives what the schema gives, value for value and error for error", () => {
    const { unionid: _, ...unbound } = profile
    const inherited = Object.assign(Object.create({ unionid: "uINHERITED" }), unbound)
    const cases: ReadonlyArray<unknown> = [
      profile,
      unbound,
      inherited,
      { ...profile, language: "zh_CN", privilege: [] },
      { ...profile, sex: 0 },
      { ...profile, sex: 2 },
      { ...profile, sex: -0 },
      { ...profile, sex: 3 },
      { ...profile, sex: 1.5 },
      { ...profile, sex: "1" },
      { ...profile, unionid: undefined },
      { ...profile, unionid: null },
      { ...profile, unionid: 7 },
      { ...profile, privilege: [1] },
      { ...profile, privilege: "chinaunicom" },
      { ...profile, openid: 42 },
      { ...unbound, nickname: undefined },
      [profile],
      null,
      "profile",
      42
    ]
    for (const body of cases) {
      const expected = decode(body)
      const actual = decodeUserInfo(body)
      const label = JSON.stringify(body) ?? String(body)
      assert.strictEqual(actual._tag, expected._tag, label)
      if (Either.isRight(actual) && Either.isRight(expected)) {
        assert.instanceOf(actual.right, UserInfo.UserInfo)
        assert.strictEqual(String(actual.right), String(expected.right), label)
        assert.deepStrictEqual(Object.getPrototypeOf(actual.right), Object.getPrototypeOf(expected.right))
        assert.deepStrictEqual(Reflect.ownKeys(actual.right), Reflect.ownKeys(expected.right), label)
        assert.deepStrictEqual(Object.entries(actual.right), Object.entries(expected.right), label)
        assert.isTrue(Object.is(actual.right.sex, expected.right.sex), label)
      } else if (Either.isLeft(actual) && Either.isLeft(expected)) {
        assert.strictEqual(actual.left.message, expected.left.message, label)
      }
    }
    const body = { ...profile }
    const user = Either.getOrThrow(decodeUserInfo(body))
    assert.notStrictEqual(user.privilege, body.privilege, "the answer's array is not kept")
  })
})
