/**
 * `TokenCipher` attacked as someone who can read and write the store (not the key): sealed values
 * tampered, truncated or moved, and key rings that are not what they look like.
 */
import { assert, describe, it } from "@effect/vitest"
import { TokenCipher } from "@wxauth/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"

const cipherOf = (options: TokenCipher.Options): TokenCipher.TokenCipherShape => {
  const made = TokenCipher.make(options)
  if (Either.isLeft(made)) return assert.fail(`expected a cipher, got ${String(made.left)}`)
  return made.right
}

describe("TokenCipher (red team)", () => {
  it("a key id given twice is a ConfigError: the ring would silently keep one of the two keys", () => {
    // the first key is current; with the id twice the second key took its place, so values sealed with
    // the first (under that id) stopped opening, and new ones were sealed with a key the caller did not
    // mean to be current
    const k1 = TokenCipher.generateKey()
    const k2 = TokenCipher.generateKey()
    const made = TokenCipher.make({ keys: [{ id: "k1", key: k1 }, { id: "k1", key: k2 }] })
    assert.isTrue(Either.isLeft(made), "a ring with the id k1 twice was accepted")
    if (Either.isLeft(made)) {
      assert.include(String(made.left), "#2")
      assert.notInclude(String(made.left), Redacted.value(k1))
      assert.notInclude(String(made.left), Redacted.value(k2))
    }
  })

  it.effect("a stored value's key id is never quoted in an error: it is the store's bytes, of any size", () =>
    Effect.gen(function*() {
      const cipher = cipherOf({ keys: [{ id: "k1", key: TokenCipher.generateKey() }] })
      const planted = `wxenc1:${"RT_secret_".repeat(100_000)}\n:AAAA`
      const error = yield* Effect.flip(cipher.decrypt(planted, "aad"))
      assert.strictEqual(error._tag, "TokenStoreError")
      assert.notInclude(error.message, "RT_secret_")
      assert.isBelow(error.message.length, 300)
    }))
})
