/**
 * When an `AppToken` may force a refresh (`force_refresh`). A force invalidates the token for every
 * service of the app, and WeChat allows 20 a day: when the token a force gave is rejected in turn
 * (a misconfigured caller, a token reset elsewhere again and again), forcing on every rejection
 * 30 seconds apart (a force within 30 s of the last one is answered with the same token) used the
 * day's 20 in 10 minutes, and every service of the app then went without a working token until the
 * next day. Forces of an app are spaced instead: 30 seconds after the first, then twice the last gap
 * each time, up to 4 hours; after a day without one, 30 seconds again. At most 14 forces in any 24
 * hours, whatever the rejections (and none within WeChat's 30 s of the last).
 *
 * The spacing is the app's in this process, over one token store ({@link forApp}): every `AppToken`
 * of the app over that store shares it, so one rebuilt (`WeChatApps` builds an app's services anew
 * when its settings or its resolver's `source` function change, or after letting it go) goes on
 * from where the last one was. Processes do not share it (the stores keep tokens, not forces).
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import { globalValue } from "effect/GlobalValue"
import * as Elapsed from "./elapsed.js"

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
  /** When the last force was made (`-Infinity` before the first). */
  readonly last: () => number
}

/** @internal */
export const make = (): ForceSpacing => {
  let last = -Infinity
  let gap = firstGap
  let warned = false
  return {
    // a clock set back before the last force (Elapsed.since: any length of time) allows a force: by
    // `at - last` it was refused for the step on top of the gap (set back to 0: for ever)
    allowed: (at) => Elapsed.since(last, at) >= gap,
    wait: (at) => Duration.millis(Math.max(0, gap - Elapsed.since(last, at))),
    record: (at) => {
      // but the gap is not started again then: who knows whether a day without a force has passed
      // (WeChat counts the day's 20 by its own clock), so it goes on growing
      gap = at - last < startAgainAfter ? Math.min(gap * 2, longestGap) : firstGap
      last = at
      warned = false
    },
    warn: () => {
      if (warned) return false
      warned = true
      return true
    },
    last: () => last
  }
}

/** Apps with a spacing, at most, per store: past it, apps a day without a force go first, then the oldest. */
const maxApps = 10_000

const byStore = globalValue(
  Symbol.for("@wxauth/core/ForceSpacing/byStore"),
  () => new WeakMap<object, Map<string, ForceSpacing>>()
)

/**
 * The spacing of `appId`'s forces over `store` (the token store as the `AppToken` was given it), made
 * at its first use. `at` (epoch ms, by the Clock) tells which spacings are quiet enough to let go
 * when the store has many apps: a spacing a day without a force is as good as a new one.
 *
 * @internal
 */
export const forApp = (store: object, appId: string, at: number): ForceSpacing => {
  let apps = byStore.get(store)
  if (apps === undefined) {
    apps = new Map()
    byStore.set(store, apps)
  }
  const known = apps.get(appId)
  if (known !== undefined) return known
  if (apps.size >= maxApps) {
    for (const [id, spacing] of apps) {
      if (at - spacing.last() >= startAgainAfter) apps.delete(id)
    }
    for (const id of apps.keys()) {
      if (apps.size < maxApps) break
      apps.delete(id)
    }
  }
  const spacing = make()
  apps.set(appId, spacing)
  return spacing
}
