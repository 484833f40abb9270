/**
 * A policy's predicates as core runs them: an answer other than `true` from a caller's predicate (a
 * throw, a truthy non-boolean, which `Effect.retry`'s `while` would take for an Effect) is `false`,
 * so the failure goes on as the call's own typed error, never a defect. Policies `RetryPolicy.make`
 * built (and the default) are made so once; any other policy `WeChatApi.makeWith` is given gets a
 * copy made so.
 *
 * @internal
 */
import { globalValue } from "effect/GlobalValue"
import type * as RetryPolicy from "../RetryPolicy.js"
import type * as WeChatError from "../WeChatError.js"
import { guardOr } from "./guard.js"

type Predicate = (error: WeChatError.RequestFailure) => boolean

const totals = globalValue(Symbol.for("@wxauth/core/RetryPolicy/totals"), () => new WeakSet<object>())

/**
 * One total wrapper per caller's function: two policies made from the same function have the same
 * predicate, so `WeChatApps`, which keeps an app's services while its resolver answers the same
 * policy, still sees the same policy.
 */
const wrappers = globalValue(
  Symbol.for("@wxauth/core/RetryPolicy/wrappers"),
  () => new WeakMap<object, Predicate>()
)

const totalOf = (given: unknown): Predicate => {
  const keyed = typeof given === "function" ? given : undefined
  const known = keyed === undefined ? undefined : wrappers.get(keyed)
  if (known !== undefined) return known
  const wrapped: Predicate = (error) => guardOr(() => (given as Predicate)(error) === true, false)
  if (keyed !== undefined) wrappers.set(keyed, wrapped)
  return wrapped
}

/** `given` made total; `fallback` (ours, total already) when none is given. @internal */
export const totalOr = (given: Predicate | undefined, fallback: Predicate): Predicate =>
  given === undefined ? fallback : totalOf(given)

/**
 * Notes that `policy`'s predicates are total (built by `RetryPolicy.make`, or the default) and
 * freezes it: a policy marked so cannot have a predicate replaced later, unwrapped.
 *
 * @internal
 */
export const markTotal = <P extends RetryPolicy.RetryPolicy>(policy: P): P => {
  Object.freeze(policy)
  totals.add(policy)
  return policy
}

/** The total copy made of a caller's policy object, once per object. */
const copies = globalValue(
  Symbol.for("@wxauth/core/RetryPolicy/copies"),
  () => new WeakMap<object, RetryPolicy.RetryPolicy>()
)

/**
 * `policy`, or a copy (each field read once, guarded) whose predicates are total when it was not
 * built so.
 *
 * @internal
 */
export const total = (policy: RetryPolicy.RetryPolicy): RetryPolicy.RetryPolicy => {
  if (totals.has(policy)) return policy
  const copied = copies.get(policy)
  if (copied !== undefined) return copied
  const field = <K extends keyof RetryPolicy.RetryPolicy>(key: K) =>
    guardOr(() => policy[key], undefined) as RetryPolicy.RetryPolicy[K]
  const predicate = (key: "retryOn" | "exchangeRetryOn" | "refreshOn"): Predicate => totalOf(field(key))
  const copy = markTotal({
    retryOn: predicate("retryOn"),
    retrySchedule: field("retrySchedule"),
    exchangeRetryOn: predicate("exchangeRetryOn"),
    exchangeRetrySchedule: field("exchangeRetrySchedule"),
    refreshOn: predicate("refreshOn"),
    refreshSkew: field("refreshSkew"),
    codeMemoTtl: field("codeMemoTtl")
  })
  if (typeof policy === "object" && policy !== null) copies.set(policy, copy)
  return copy
}
