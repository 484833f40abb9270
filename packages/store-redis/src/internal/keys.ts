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
 * @internal
 */
export const encodeId = (id: string): string => {
  try {
    return encodeURIComponent(id)
  } catch {
    let out = ""
    // iterating a string yields code points; a lone surrogate comes alone
    for (const c of String(id)) {
      const code = c.charCodeAt(0)
      out += c.length === 1 && code >= 0xd800 && code <= 0xdfff
        ? `%u${code.toString(16).toUpperCase()}`
        : encodeURIComponent(c)
    }
    return out
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
