/**
 * When a token write is stamped (`obtainedAt`): one rule for every write that replaces a stored
 * token (a refresh, a new consent, a forced app token, a platform's re-authorization).
 *
 * Every store keeps the token with the later `obtainedAt` ("newer wins", so that two refreshes
 * racing each other leave the newer token). The stamp comes from this machine's clock, which can be
 * behind the stored one: an NTP step backwards, or another machine with its clock ahead wrote last.
 * A write made after reading the stored token is newer by construction, so it is stamped just after
 * that token when the clock says otherwise; else the store would keep the older token and drop the
 * new one (a new consent's scope, a forced app token, a re-authorization's only refresh token).
 *
 * Such a token expires by this machine's clock (`expiresAt`): WeChat counts its life from its
 * answer, not from the stamp moved ahead.
 *
 * @internal
 */

/** What the rule reads of a stored token (`OAuthToken`, `AppAccessToken`, a component's tokens). */
interface Stamped {
  readonly obtainedAt: number
}

/**
 * `now`, or 1 ms after `stored`'s stamp when that is not before `now`.
 *
 * @internal
 */
export const after = (now: number, stored: Stamped | undefined): number =>
  stored !== undefined && stored.obtainedAt >= now ? stored.obtainedAt + 1 : now

/**
 * When a token stamped `obtainedAt` and obtained `now` (by the Clock) for `lifeMillis` expires:
 * `now` plus its life, as WeChat counts it, never at or before its stamp. A store keeps an expired
 * token (and compares stamps with it) while its `get` hides it; a token expiring after its stamp is
 * hidden only once the clock has passed that stamp, so the next write, stamped now for want of a
 * stored token, still replaces it. (A clock step longer than the life leaves the token answered
 * until the clock reaches the stamp: WeChat's rejection then renews it, as for a revoked one.)
 *
 * @internal
 */
export const expiresAt = (now: number, lifeMillis: number, obtainedAt: number): number =>
  Math.max(now + lifeMillis, obtainedAt + 1)
