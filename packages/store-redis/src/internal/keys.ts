/**
 * Ids as parts of Redis keys.
 *
 * @internal
 */
import { WeChatError } from "@wxauth/core"

/**
 * `encodeURIComponent`, which throws on a lone surrogate (a string that is not well-formed UTF-16):
 * each one is written `%uXXXX` instead, which `encodeURIComponent` never writes (it writes `%` as
 * `%25`), so two ids never share a key.
 *
 * The keys are stored in Redis: the output is the one the first version gave (one code point at a
 * time), byte for byte. It is built in one pass, each well-formed run between lone surrogates
 * encoded whole, in time and memory linear in the id's length: the code point loop took 6 s and
 * 680 MB for a 10 MB id with one lone surrogate.
 *
 * @internal
 */
export const encodeId = (id: string): string => {
  try {
    return encodeURIComponent(id)
  } catch {
    const text = String(id)
    let out = ""
    let from = 0
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i)
      if (code < 0xd800 || code > 0xdfff) continue
      if (code <= 0xdbff && i + 1 < text.length) {
        const next = text.charCodeAt(i + 1)
        // a high surrogate followed by a low one: a pair, one code point
        if (next >= 0xdc00 && next <= 0xdfff) {
          i++
          continue
        }
      }
      // a lone surrogate: a high one not followed by a low one, or a low one no high one took
      out += `${encodeURIComponent(text.slice(from, i))}%u${code.toString(16).toUpperCase()}`
      from = i + 1
    }
    return out + encodeURIComponent(text.slice(from))
  }
}

/**
 * An argument of an exported key helper (`tokenKey`, `lockKey`, ...), which a JavaScript caller may
 * give anything: the string itself, else an `InvalidArgument` thrown, the helpers' one documented
 * error. Only `typeof` is asked (a Symbol, a revoked Proxy or an object whose `toString` throws is
 * never converted), and the value is never quoted. A number or an object is refused too, where it was
 * turned into text (`{42:[object Object]}`), a key no store writes.
 *
 * @internal
 */
export const keyPart = (argument: string, value: unknown): string => {
  if (typeof value === "string") return value
  throw new WeChatError.InvalidArgument({ argument, description: "must be a string" })
}
