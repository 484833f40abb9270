/**
 * Ids as parts of Redis keys.
 *
 * @internal
 */

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
