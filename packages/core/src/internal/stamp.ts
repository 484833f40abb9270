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
