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

/** `given` made total; `fallback` (ours, total already) when none is given. @internal */
export const totalOr = (given: Predicate | undefined, fallback: Predicate): Predicate =>
  given === undefined ? fallback : (error) => guardOr(() => given(error) === true, false)

/** Notes that `policy`'s predicates are total (built by `RetryPolicy.make`, or the default). @internal */
export const markTotal = <P extends RetryPolicy.RetryPolicy>(policy: P): P => {
  totals.add(policy)
  return policy
}

/**
 * `policy`, or a copy (each field read once, guarded) whose predicates are total when it was not
 * built so.
 *
 * @internal
 */
export const total = (policy: RetryPolicy.RetryPolicy): RetryPolicy.RetryPolicy => {
  if (totals.has(policy)) return policy
  const field = <K extends keyof RetryPolicy.RetryPolicy>(key: K) =>
    guardOr(() => policy[key], undefined) as RetryPolicy.RetryPolicy[K]
  const predicate = (key: "retryOn" | "exchangeRetryOn" | "refreshOn"): Predicate => {
    const given = field(key)
    return (error) => guardOr(() => given(error) === true, false)
  }
  return markTotal({
    retryOn: predicate("retryOn"),
    retrySchedule: field("retrySchedule"),
    exchangeRetryOn: predicate("exchangeRetryOn"),
    exchangeRetrySchedule: field("exchangeRetrySchedule"),
    refreshOn: predicate("refreshOn"),
    refreshSkew: field("refreshSkew"),
    codeMemoTtl: field("codeMemoTtl")
  })
}
