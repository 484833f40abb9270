/**
 * What a shared store (Redis, SQL, a codec's value anywhere) writes of a token, user's or app's, and
 * what it reads back: the one rule of the codecs (`TokenStore.makeCodec`, `AppTokenStore.makeCodec`)
 * on both sides.
 *
 * A time is written only when a store can keep it exactly: finite, within 2^53 - 1 (a double, a
 * BIGINT, Redis' and Lua's numbers). A stored token is read only when a write can follow it: the
 * write that replaces it is stamped 1 ms after it (`Stamp.after`) and expires at least 1 ms after
 * that stamp (`Stamp.expiresAt`), and both must be writable. A token stamped later (2^53 - 1, or
 * `Infinity` from a JSON `1e400`) read as a token made every write in its place unwritable: each
 * getUser refreshed at WeChat and failed, and so did a new consent, until the value expired. Read as
 * a `TokenStoreError` instead, it is a value the store cannot read, which a new consent replaces.
 *
 * @internal
 */
import { TokenStoreError } from "../WeChatError.js"
import * as Stamp from "./stamp.js"

/**
 * The latest time a store writes: 2^53 - 1.
 *
 * @internal
 */
export const maxTime = Number.MAX_SAFE_INTEGER

/**
 * A time a store writes: a finite number within ±(2^53 - 1).
 *
 * @internal
 */
export const isWritableTime = (time: unknown): time is number =>
  typeof time === "number" && Number.isFinite(time) && Math.abs(time) <= maxTime

/**
 * A stored stamp that a write can follow: writable, and so are the stamp of the write that replaces
 * it and that stamp's earliest expiry.
 *
 * @internal
 */
export const canFollow = (obtainedAt: number): boolean => {
  if (!isWritableTime(obtainedAt)) return false
  const next = Stamp.after(obtainedAt, { obtainedAt })
  return isWritableTime(next) && isWritableTime(Stamp.expiresAt(next, 0, next))
}

/**
 * A token's times as read from a store: a stamp a write can follow, and writable expiries.
 *
 * @internal
 */
export const hasReadableTimes = (obtainedAt: number, ...expiries: ReadonlyArray<number>): boolean =>
  canFollow(obtainedAt) && expiries.every(isWritableTime)

/**
 * The first of `times` (by field name) that no store writes, `undefined` when a store writes them all.
 *
 * @internal
 */
export const unwritableField = (times: Readonly<Record<string, unknown>>): string | undefined =>
  Object.keys(times).find((field) => !isWritableTime(times[field]))

/**
 * What the codec of `what` ("token", "app token") answers for a time a store would refuse to write,
 * naming its field.
 *
 * @internal
 */
export const unwritableTime = (what: string, field: string): TokenStoreError =>
  new TokenStoreError({
    operation: "encode",
    description: `the ${what}'s ${field} is not a finite time in milliseconds (at most 2^53 - 1)`
  })

/**
 * What the codec of `what` answers for a stored value whose times are not readable (see `canFollow`).
 * The times are not quoted.
 *
 * @internal
 */
export const unreadableTimes = (what: string): TokenStoreError =>
  new TokenStoreError({
    operation: "get",
    description: `the stored ${what}'s times are out of range (not written by wxauth, or corrupted)`
  })

/**
 * The longest stored value, in UTF-8 bytes, that can be a token: the longest JSON a codec reads
 * (`OAuthToken.maxEncodedLength`, 65,536 characters, at most 3 bytes each) sealed by `TokenCipher`
 * (`wxenc1:`, a key id of up to 32 characters, `:`, then the base64url of a 12-byte IV, the
 * ciphertext and a 16-byte tag). App tokens and code memos are shorter.
 *
 * @internal
 */
export const maxValueBytes = (maxJsonLength: number): number =>
  "wxenc1:".length + 32 + 1 + Math.ceil((4 * (12 + 3 * maxJsonLength + 16)) / 3)
