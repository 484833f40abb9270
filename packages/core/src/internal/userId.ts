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

/** True for a string of `pattern`. @internal */
export const isWeChatUserId = (u: unknown): u is string => typeof u === "string" && pattern.test(u)
