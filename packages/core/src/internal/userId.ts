/**
 * The one rule of a user id WeChat gives (`openid`, `unionid`), wherever one enters: WeChat's
 * answers (`WeChatApi`) and stored tokens imported from wechat-oauth (`LegacyToken`).
 *
 * @internal
 */

/**
 * 1 to 128 printable ASCII characters, no space. WeChat's are 28 characters of `[A-Za-z0-9_-]`;
 * the margin keeps ids of other forms working, and keeps out what would harm where an id goes (a
 * store key, a session's identity, a log field): a NUL, a newline, 60,000 characters.
 *
 * @internal
 */
export const pattern = /^[\x21-\x7e]{1,128}$/

/** The longest user id: `pattern`'s bound. @internal */
export const maxLength = 128

/**
 * True for a string of `pattern`, as a loop over its characters: it runs on every `getUser` (the
 * openid argument), and allocates nothing.
 *
 * @internal
 */
export const isWeChatUserId = (u: unknown): u is string => {
  if (typeof u !== "string" || u.length === 0 || u.length > maxLength) return false
  for (let i = 0; i < u.length; i++) {
    const c = u.charCodeAt(i)
    if (c < 0x21 || c > 0x7e) return false
  }
  return true
}
