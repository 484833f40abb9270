/**
 * Core's own `AppToken` sources (a platform's component and authorizer tokens): WeChat calls through
 * the retry policy, each bounded by `WeChatConfig.timeout`, and lock waits bounded by the lock.
 * `AppToken` runs them without the `sourceTimeout` it puts on a caller's source: a deadline over
 * the whole chain would cut a refresh that is still progressing (an authorizer token's fetch may
 * first renew the component token, waiting on its lock), and interrupt it between WeChat's answer
 * and the store write of a rotated refresh token.
 *
 * @internal
 */

const bounded = new WeakSet<object>()

/** Marks `source` as core's own, bounded by its own deadlines. @internal */
export const markBounded = <S extends object>(source: S): S => {
  bounded.add(source)
  return source
}

/** Whether `source` is one of core's own (never a caller's: the set is not reachable from outside). @internal */
export const isBounded = (source: unknown): boolean => typeof source === "function" && bounded.has(source)
