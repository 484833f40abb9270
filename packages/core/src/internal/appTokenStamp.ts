/**
 * An app token (or one of a platform's tokens) written in place of the stored one: a fetched or
 * forced app token, an authorization's refresh and access tokens, a rotated refresh token.
 *
 * Stamped by the one rule for a replacing write (`Stamp.after`): now, or just after the stored
 * token when this machine's clock is behind it, so the store keeps it ("newer wins").
 *
 * It expires by this machine's clock (`now` plus its lifetime), as WeChat counts its life from the
 * answer, not at the stamp moved ahead; but never at or before its stamp (`Stamp.expiresAt`, the
 * rule a user's token follows too).
 *
 * @internal
 */
import type * as Redacted from "effect/Redacted"
import * as AppTokenStore from "../AppTokenStore.js"
import * as Stamp from "./stamp.js"

/**
 * `accessToken` obtained `now` (epoch ms, by the Clock) for `lifetimeMillis`, replacing `stored`
 * (the token read before the fetch, under the lock; `undefined` when none was stored).
 *
 * @internal
 */
export const replacing = (
  accessToken: Redacted.Redacted<string>,
  now: number,
  lifetimeMillis: number,
  stored: AppTokenStore.AppAccessToken | undefined
): AppTokenStore.AppAccessToken => {
  const obtainedAt = Stamp.after(now, stored)
  return new AppTokenStore.AppAccessToken({
    accessToken,
    obtainedAt,
    expiresAt: Stamp.expiresAt(now, lifetimeMillis, obtainedAt)
  })
}
