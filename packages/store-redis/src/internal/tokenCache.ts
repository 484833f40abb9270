/**
 * The tokens of recent reads, decoded, by Redis key. Two roles:
 *
 * - the decoded-token cache: a reply whose stored value is exactly the one decoded before (same
 *   string, same appId and openid) skips decrypt and decode. Any change of the stored value misses.
 * - the near cache: an entry read while Redis tracked the key for us (client-side caching, see
 *   `invalidations.ts`) and not invalidated since is served without asking Redis at all.
 *
 * ## Why a write elsewhere never leaves a stale entry
 *
 * Redis (`CLIENT TRACKING ... BCAST`) sends an invalidation for every write to a key under the
 * prefix, after the write, on the feed's own connection; the reads travel on the data connection.
 * The two connections are not ordered against each other, so a read can be answered with the old
 * value and its reply processed after the invalidation of a write that followed it:
 *
 * ```
 * data:  HMGET k ------------------------------------------> reply (old value) ----> cached? NO
 * Redis:        executes HMGET, then another client's write to k
 * feed:                                invalidate k --> (arrives before the reply)
 * ```
 *
 * So every read that may fill the cache registers its key as pending before the command is sent
 * (`begin`), an invalidation of a pending key marks it, and the answer is kept as tracked only if no
 * invalidation of its key arrived in between and the epoch is unchanged (`end`). The cases:
 *
 * - the write ran before the read: the read sees the new value (Redis runs commands one at a time).
 * - the write ran after the read, its invalidation arrives before the entry is kept: the pending
 *   key is marked, the answer is not kept as tracked.
 * - the write ran after the read, its invalidation arrives after the entry is kept: it untracks
 *   the entry.
 *
 * An invalidation that arrives for a write that ran before the read only costs one miss. The
 * epoch changes whenever the feed may have missed invalidations (a connection of either kind
 * closed or reconnected, a node joined or left, `FLUSHALL`, a failed heartbeat): every entry
 * tracked before is untracked at once (entries remember the epoch they were tracked in), and every
 * read in flight is kept untracked. Reads are tracked only while the feed is live: each node's
 * feed connection has confirmed `CLIENT TRACKING` and `SUBSCRIBE` before the read was sent.
 *
 * This process's own writes untrack their key before they are sent and again once answered, so a
 * `get` after a `set` here always sees the write, whenever its invalidation arrives.
 *
 * ## What no invalidation reports
 *
 * Some changes send no invalidation at all: `SWAPDB` (the keys of the database change, no key is
 * named), or a feed connection that reached another server than the data connection (the feed
 * checks that both reach the same one, see `invalidations.ts`, but any case missed here would be
 * served for ever). So an entry is served for at most `maxAgeMillis` after it was kept (by the
 * store's `Clock`, read synchronously: `TestClock` in tests), then read from Redis again; a clock
 * that went back also ends it. The hit path pays one clock read and a compare, no allocation.
 *
 * ## Bounded in bytes too
 *
 * A stored value longer than `maxValueLength` characters is not kept at all (neither served nor kept
 * as decoded): it is read and decoded every time. WeChat's tokens are at most 1,024 characters, a
 * whole value (sealed) a few KB; only a value no WeChat answer makes (up to the codec's 65,536
 * characters) is refused, so `maxEntries` bounds the heap too.
 */
import type { OAuthToken } from "@wxauth/core"
import type * as Clock from "effect/Clock"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import { Lru } from "./lru.js"

/** A decoded token and the exact stored value it came from. */
export interface Entry {
  readonly appId: string
  readonly openid: string
  /** The stored `v`, exactly as Redis returned it. */
  readonly value: string
  readonly token: OAuthToken.OAuthToken
  /** The epoch the entry was tracked in, -1 when it was not (or was invalidated since). */
  tracked: number
  /** When the entry was kept (the cache's clock, epoch milliseconds): it is served until `maxAgeMillis` later. */
  readonly keptAt: number
}

/**
 * The longest stored value kept (characters): 8,192. A WeChat token's access and refresh tokens are
 * at most 1,024 characters each; its whole value, sealed by a `TokenCipher`, stays well under this.
 */
export const maxValueLength = 8_192

/** The near cache's limits, and the clock its ages are read from. */
export interface TokenCacheOptions {
  /** How long an entry is served without asking Redis, at most (milliseconds). */
  readonly maxAgeMillis: number
  /** The store's `Clock`, read synchronously on every hit (no effect, no allocation). */
  readonly clock: Clock.Clock
}

interface Pending {
  count: number
  invalidated: boolean
}

/** A read that may fill the near cache, registered before its command is sent. */
export interface Ticket {
  readonly epoch: number
  readonly pending: Pending
}

/**
 * Whether reads bypass the near cache (but still use the decoded-token cache): set by
 * `RedisRefreshLock` around the work it runs under the lock, so the refresher's re-read of the store
 * always asks Redis, and by `RedisTokenStore.bypassNearCache` for any other lock.
 */
export const bypassNearCache: FiberRef.FiberRef<boolean> = globalValue(
  Symbol.for("@wxauth/store-redis/bypassNearCache"),
  () => FiberRef.unsafeMake(false)
)

/** A lone surrogate does not survive the trip through UTF-8: Redis' invalidation would name another key. */
const wellFormed = (key: string): boolean => key.isWellFormed()

export class TokenCache {
  readonly entries: Lru<string, Entry>
  private epoch = 0
  private live = false
  private readonly pending = new Map<string, Pending>()
  private readonly maxAgeMillis: number
  private readonly clock: Clock.Clock | undefined

  /**
   * Without `options` entries do not age: for a store without a near cache (never live, its entries
   * only decoded ones) and for the tests of the race rules on the cache alone.
   */
  constructor(maxEntries: number, options?: TokenCacheOptions) {
    this.entries = new Lru(maxEntries)
    this.maxAgeMillis = options?.maxAgeMillis ?? Infinity
    this.clock = options?.clock
  }

  /** Now, by the cache's clock (0 without one). */
  private now(): number {
    return this.clock === undefined ? 0 : this.clock.unsafeCurrentTimeMillis()
  }

  get isLive(): boolean {
    return this.live
  }

  /**
   * The entry of `key` that may be served without asking Redis, if any: tracked in this live period,
   * not invalidated since, and kept less than `maxAgeMillis` ago (an older one is untracked: the read
   * that follows keeps it again).
   */
  servable(key: string, appId: string, openid: string): Entry | undefined {
    if (!this.live) return undefined
    const entry = this.entries.get(key)
    if (entry === undefined || entry.tracked !== this.epoch || entry.appId !== appId || entry.openid !== openid) {
      return undefined
    }
    const age = this.now() - entry.keptAt
    if (age >= 0 && age < this.maxAgeMillis) return entry
    entry.tracked = -1
    return undefined
  }

  /** The token decoded before from exactly `value` under `key`, if any. */
  decoded(key: string, appId: string, openid: string, value: string): OAuthToken.OAuthToken | undefined {
    const entry = this.entries.peek(key)
    return entry !== undefined && entry.value === value && entry.appId === appId && entry.openid === openid
      ? entry.token
      : undefined
  }

  /** Registers a read of `key` about to be sent; `undefined` when its answer cannot be tracked. */
  begin(key: string): Ticket | undefined {
    if (!this.live || !wellFormed(key)) return undefined
    let pending = this.pending.get(key)
    if (pending === undefined) {
      pending = { count: 0, invalidated: false }
      this.pending.set(key, pending)
    }
    pending.count++
    return { epoch: this.epoch, pending }
  }

  /** Ends a read registered by `begin` (answered or not): whether its answer may be kept as tracked. */
  end(key: string, ticket: Ticket): boolean {
    const pending = ticket.pending
    pending.count--
    if (pending.count === 0 && this.pending.get(key) === pending) this.pending.delete(key)
    return this.live && ticket.epoch === this.epoch && !pending.invalidated
  }

  /**
   * Keeps a decoded token, tracked (servable while nothing invalidates it, for `maxAgeMillis` at most)
   * or only as decoded. A value longer than `maxValueLength` is not kept (and an entry of the key
   * before it is dropped): it is read and decoded again each time.
   */
  remember(key: string, appId: string, openid: string, value: string, token: OAuthToken.OAuthToken, tracked: boolean) {
    if (value.length > maxValueLength) {
      this.entries.delete(key)
      return
    }
    this.entries.set(key, { appId, openid, value, token, tracked: tracked ? this.epoch : -1, keptAt: this.now() })
  }

  /** Redis, or this process, changed `key`: its entry is no longer servable, its reads in flight not kept. */
  invalidate(key: string): void {
    const pending = this.pending.get(key)
    if (pending !== undefined) pending.invalidated = true
    const entry = this.entries.peek(key)
    if (entry !== undefined) entry.tracked = -1
  }

  /** Invalidations may have been missed: nothing tracked so far is servable, nothing in flight is kept. */
  invalidateAll(): void {
    this.epoch++
  }

  /** The feed is (or is no longer) live; either way a new epoch starts. */
  setLive(live: boolean): void {
    this.live = live
    this.epoch++
  }
}
