/**
 * The rule for a state's lifetime, in one place: `WeChatConfig`'s `stateTtl` (and `WeChatApps`'
 * registry and component apps), and `StateToken`'s `ttl` and the config's lifetime it falls back to.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import type * as Option from "effect/Option"
import * as Arguments from "./arguments.js"

/**
 * The longest lifetime of a state: 1 day. A state only has to outlive one login (WeChat's consent
 * page, then its redirect); a longer one keeps a leaked state usable and holds a rotated-out state
 * secret (`acceptedStateSecrets`) longer, and past about 2106 minus now a state cannot hold its
 * expiry (4-byte epoch seconds) at all.
 *
 * @internal
 */
export const maxMillis = 24 * 60 * 60 * 1000

/** What a refused lifetime is told. @internal */
export const rule = "a positive duration of at most 1 day, e.g. \"10 minutes\""

/**
 * A caller's state lifetime when it follows the rule (positive, finite, at most `maxMillis`; a
 * number is milliseconds), else none. Never a throw.
 *
 * @internal
 */
export const of = (input: unknown): Option.Option<Duration.Duration> => Arguments.positiveDurationOf(input, maxMillis)
