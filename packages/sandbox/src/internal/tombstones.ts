/**
 * What the housekeeping sweeps forget, remembered compactly: a token that was issued and has
 * expired answers WeChat's "expired" (42001 access_token expired, 42002 refresh_token expired) for
 * as long as a test may ask, never "invalid" (40001, 40030) because earlier tests made enough calls
 * to trigger a sweep. Each is kept under a hash of the token (16 bytes, not the token itself) with
 * the little its check needs before the expiry (its app, its platform).
 *
 * Bounded, as the sandbox runs long in CI: a tombstone lasts `TOMBSTONE_TTL_MS` (90 days of the
 * sandbox's time) after its token expired, and a set holds at most `TOMBSTONE_CAP`, the token
 * forgotten first evicted first (then it answers "invalid").
 *
 * @internal
 */
import * as Crypto from "node:crypto"

/** How long after its expiry a forgotten token still answers "expired": 90 days. @internal */
export const TOMBSTONE_TTL_MS = 90 * 24 * 60 * 60 * 1000
/** The most tombstones of one kind (per sandbox): past it, the token forgotten first goes first. @internal */
export const TOMBSTONE_CAP = 50_000

const keyOf = (token: string): string => Crypto.createHash("sha256").update(token).digest("base64url").slice(0, 22)

/** @internal */
export class Tombstones<A> {
  private readonly entries = new Map<string, { readonly expiredAt: number; readonly value: A }>()

  constructor(private readonly cap: number = TOMBSTONE_CAP) {}

  /** Remembers a token being forgotten, which expired at `expiredAt`, with what its check needs. */
  add(token: string, expiredAt: number, value: A): void {
    const key = keyOf(token)
    this.entries.delete(key)
    this.entries.set(key, { expiredAt, value })
    if (this.entries.size > this.cap) this.entries.delete(this.entries.keys().next().value!)
  }

  /** What was kept of a forgotten token, if it is one still remembered. */
  get(token: string, now: number): A | undefined {
    const entry = this.entries.get(keyOf(token))
    return entry === undefined || now - entry.expiredAt > TOMBSTONE_TTL_MS ? undefined : entry.value
  }

  /** Drops those past their 90 days (with the sweep that adds to them). */
  prune(now: number): void {
    for (const [key, entry] of this.entries) if (now - entry.expiredAt > TOMBSTONE_TTL_MS) this.entries.delete(key)
  }

  get size(): number {
    return this.entries.size
  }
}
