/**
 * The one rule of a mini program session key, wherever one enters: WeChat's answers
 * (`jscode2session`, `resetusersessionkey` in `WeChatApi`) and every `SessionKeyStore`'s `set`
 * (the memory store, and the shared stores through `SessionKeyStore.makeCodec`).
 *
 * @internal
 */

/**
 * 1 to 256 printable ASCII characters. WeChat's are base64 of 16 bytes (24 characters); the margin
 * keeps keys of other lengths working, and keeps out what would harm where a key goes (an HMAC key
 * sent to WeChat, a stored value, a cipher's plaintext): a NUL, a newline, 60,000 characters.
 *
 * @internal
 */
export const pattern = /^[\x21-\x7e]{1,256}$/

/** True for a string of `pattern`. @internal */
export const isSessionKeyText = (u: unknown): u is string => typeof u === "string" && pattern.test(u)
