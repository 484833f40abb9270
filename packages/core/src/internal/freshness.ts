/**
 * When a token is refreshed ahead of its expiry: one rule for user tokens (`getUser`'s refresh skew)
 * and app tokens (`AppToken`'s refresh window).
 *
 * @internal
 */

/** What the rule reads of a token (both `OAuthToken` and `AppAccessToken` have it). */
interface Lifetime {
  readonly obtainedAt: number
  readonly expiresAt: number
  readonly isFresh: (now: number, skewMillis?: number) => boolean
}

/**
 * Fresh at `now` with `windowMillis` left, the window cut to half the token's life: a token given
 * for less than the window (a broken or hostile answer's `expires_in: 30`, or a window set longer
 * than WeChat's tokens live) is used for half its life instead of being fetched again on every
 * call. Never negative, whatever times a store hands back (an `expiresAt` before `obtainedAt` is
 * not fresh past its expiry).
 *
 * @internal
 */
export const isFreshWithin = (token: Lifetime, now: number, windowMillis: number): boolean =>
  token.isFresh(now, Math.max(0, Math.min(windowMillis, (token.expiresAt - token.obtainedAt) / 2)))
