/**
 * Values put into error messages, bounded: a hostile caller's 10 MB openid must not make a 10 MB
 * message.
 *
 * @internal
 */

/**
 * `text`, cut at `max` characters.
 *
 * @internal
 */
export const preview = (text: string, max: number): string => text.length > max ? `${text.slice(0, max)}...` : text

/**
 * The openid in a message: cut at 128 characters (WeChat's are 28); for a value that is not a string,
 * its primitive text or its type (no `toString` is called).
 *
 * @internal
 */
export const openidText = (openid: unknown): string => {
  if (typeof openid === "string") return preview(openid, 128)
  return (typeof openid === "object" && openid !== null) || typeof openid === "function"
    ? typeof openid
    : String(openid)
}
