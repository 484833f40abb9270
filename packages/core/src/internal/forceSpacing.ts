/**
 * When an `AppToken` may force a refresh (`force_refresh`). A force invalidates the token for every
 * service of the app, and WeChat allows 20 a day: when the token a force gave is rejected in turn
 * (a misconfigured caller, a token reset elsewhere again and again), forcing on every rejection
 * 30 seconds apart (a force within 30 s of the last one is answered with the same token) used the
 * day's 20 in 10 minutes, and every service of the app then went without a working token until the
 * next day. Forces of one process are spaced instead: 30 seconds after the first, then twice the
 * last gap each time, up to 4 hours; after a day without one, 30 seconds again. At most 14 forces
 * in any 24 hours, whatever the rejections (and none within WeChat's 30 s of the last).
 *
 * @internal
 */
import * as Duration from "effect/Duration"

const firstGap = 30_000
const longestGap = 4 * 60 * 60_000
/** A day without a force starts the spacing again: no day then holds forces of two sequences. */
const startAgainAfter = 24 * 60 * 60_000

/** @internal */
export interface ForceSpacing {
  /** Whether a force at `at` (epoch ms, by the Clock) is allowed. */
  readonly allowed: (at: number) => boolean
  /** How long until a force is allowed. */
  readonly wait: (at: number) => Duration.Duration
  /** Notes a force made at `at`. */
  readonly record: (at: number) => void
  /** True once after each force: whether holding one back should be logged. */
  readonly warn: () => boolean
}

/** @internal */
export const make = (): ForceSpacing => {
  let last = -Infinity
  let gap = firstGap
  let warned = false
  return {
    allowed: (at) => at - last >= gap,
    wait: (at) => Duration.millis(Math.max(0, last + gap - at)),
    record: (at) => {
      gap = at - last < startAgainAfter ? Math.min(gap * 2, longestGap) : firstGap
      last = at
      warned = false
    },
    warn: () => {
      if (warned) return false
      warned = true
      return true
    }
  }
}
