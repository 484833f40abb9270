/**
 * getUser's "refresh the token and try again", as a value: when to refresh before calling WeChat,
 * which errors mean "refresh and retry once", and how transient failures are retried (bounded,
 * exponential backoff with jitter). Replace any part with `RefreshPolicy.make({ ... })` and
 * `WeChatOAuth.layerWith({ policy })`.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Schedule from "effect/Schedule"
import type * as WeChatError from "./WeChatError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface RefreshPolicy {
  /** Refresh before calling WeChat when the stored access token expires within this. Default 60 seconds. */
  readonly refreshSkew: Duration.Duration
  /** Errors of userinfo / auth after which the token is refreshed and the call retried once. */
  readonly refreshOn: (error: WeChatError.RequestFailure) => boolean
  /** Failures of idempotent calls (userinfo, refresh, auth) worth retrying. Default `SystemBusy`, `TransportError`. */
  readonly isTransient: (error: WeChatError.RequestFailure) => boolean
  /** The retry schedule of idempotent calls. Default: exponential from 100 ms, jittered, at most 2 retries. */
  readonly transientRetry: Schedule.Schedule<unknown, WeChatError.RequestFailure>
  /**
   * Failures of a code exchange (or jscode2session) that may be retried: WeChat answered `-1`, or the
   * request was never sent (connection refused, or failed while connecting). After a timeout the
   * code may be burnt.
   */
  readonly isExchangeRetryable: (error: WeChatError.RequestFailure) => boolean
  /** The retry schedule of code exchanges. Default: one retry after about 200 ms. */
  readonly exchangeRetry: Schedule.Schedule<unknown, WeChatError.RequestFailure>
  /** How long a repeated callback with an exchanged code gets the same token. Default (and at most) 60 seconds. */
  readonly codeMemoTtl: Duration.Duration
}

const refreshTags = new Set(["AccessTokenExpired", "InvalidAccessToken", "InvalidCredential"])

/**
 * The default policy.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultPolicy: RefreshPolicy = {
  refreshSkew: Duration.seconds(60),
  refreshOn: (error) => refreshTags.has(error._tag),
  isTransient: (error) => error._tag === "SystemBusy" || error._tag === "TransportError",
  transientRetry: Schedule.exponential("100 millis", 2).pipe(
    Schedule.jittered,
    Schedule.intersect(Schedule.recurs(2))
  ),
  isExchangeRetryable: (error) =>
    error._tag === "SystemBusy" ||
    (error._tag === "TransportError" && (error.reason === "ConnectionRefused" || error.phase === "connect")),
  exchangeRetry: Schedule.exponential("200 millis").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(1))),
  codeMemoTtl: Duration.seconds(60)
}

/**
 * Parts of a policy to replace; durations in any `Duration.DurationInput` form.
 *
 * @since 0.1.0
 * @category models
 */
export type Overrides = {
  readonly [K in keyof RefreshPolicy]?: K extends "refreshSkew" | "codeMemoTtl" ? Duration.DurationInput | undefined
    : RefreshPolicy[K] | undefined
}

/**
 * The default policy with some parts replaced. `codeMemoTtl` is capped at 60 seconds (a leaked
 * callback URL must stay useless).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (overrides: Overrides): RefreshPolicy => {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined))
  const policy: RefreshPolicy = {
    ...defaultPolicy,
    ...defined,
    refreshSkew: Duration.decode(overrides.refreshSkew ?? defaultPolicy.refreshSkew),
    codeMemoTtl: Duration.decode(overrides.codeMemoTtl ?? defaultPolicy.codeMemoTtl)
  }
  return Duration.greaterThan(policy.codeMemoTtl, Duration.seconds(60))
    ? { ...policy, codeMemoTtl: Duration.seconds(60) }
    : policy
}

/**
 * Retries counted by the policy, by `endpoint`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const retriesTotal = Metric.counter("wxauth_retries_total", {
  description: "Retries of WeChat calls after transient failures, by endpoint",
  incremental: true
})

const endpointLabels = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
const labelsOf = (endpoint: string) => {
  let labels = endpointLabels.get(endpoint)
  if (labels === undefined) {
    labels = [MetricLabel.make("endpoint", endpoint)]
    endpointLabels.set(endpoint, labels)
  }
  return labels
}

/**
 * Retries `effect` with `schedule` while `retryable` holds. Costs nothing when the first attempt
 * succeeds: the schedule only starts after a retryable failure, and its first delay comes before
 * the first retry.
 *
 * @since 0.1.0
 * @category combinators
 */
export const retrying = <A, E extends WeChatError.RequestFailure, R>(
  effect: Effect.Effect<A, E, R>,
  retryable: (error: WeChatError.RequestFailure) => boolean,
  schedule: Schedule.Schedule<unknown, WeChatError.RequestFailure>,
  endpoint: string
): Effect.Effect<A, E, R> => {
  const counted = labelsOf(endpoint)
  return Effect.catchIf(effect, retryable, (first) => {
    let replayed = false
    const attempt = Effect.suspend(() => {
      if (!replayed) {
        replayed = true
        return Effect.fail(first)
      }
      retriesTotal.unsafeUpdate(1, counted)
      return effect
    })
    return Effect.retry(attempt, { schedule, while: retryable })
  })
}
