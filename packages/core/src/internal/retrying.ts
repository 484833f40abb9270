/**
 * One retry combinator for every endpoint a policy governs.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as MetricLabel from "effect/MetricLabel"
import type * as Schedule from "effect/Schedule"
import { retriesTotal } from "../RetryPolicy.js"
import type * as WeChatError from "../WeChatError.js"

/**
 * A combinator that retries an effect with `schedule` while `retryOn` holds, counting each retry for
 * `endpoint` (labels built once). Costs nothing when the first attempt succeeds: the schedule only
 * starts after a retryable failure, and its first delay comes before the first retry.
 *
 * @internal
 */
export const retrying = (
  endpoint: string,
  retryOn: (error: WeChatError.RequestFailure) => boolean,
  schedule: Schedule.Schedule<unknown, WeChatError.RequestFailure>
) => {
  const after = retryingAfter(endpoint, retryOn, schedule)
  return <A, E extends WeChatError.RequestFailure, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.catchIf(effect, retryOn, (first) => after(effect, first))
}

/**
 * What {@link retrying} does once the first attempt of `effect` failed with `first` (`retryOn`
 * holds of it): the schedule's retries of `effect`, counted, `first` replayed as the schedule's
 * first input. For a caller that ran the first attempt itself.
 *
 * @internal
 */
export const retryingAfter = (
  endpoint: string,
  retryOn: (error: WeChatError.RequestFailure) => boolean,
  schedule: Schedule.Schedule<unknown, WeChatError.RequestFailure>
) => {
  const counted = [MetricLabel.make("endpoint", endpoint)]
  return <A, E extends WeChatError.RequestFailure, R>(
    effect: Effect.Effect<A, E, R>,
    first: E
  ): Effect.Effect<A, E, R> => {
    let replayed = false
    const attempt = Effect.suspend(() => {
      if (!replayed) {
        replayed = true
        return Effect.fail(first)
      }
      retriesTotal.unsafeUpdate(1, counted)
      return effect
    })
    return Effect.retry(attempt, { schedule, while: retryOn })
  }
}
