/**
 * What is retried, how often, and when a token is refreshed: the one policy `WeChatApi.makeWith`,
 * `WeChatOAuth` and `MiniProgram` apply. Which failures are transient, refreshable or safe to send
 * again is `WeChatError`'s classification; the policy only decides what to do about each kind.
 *
 * @since 0.1.0
 */
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Arguments from "./internal/arguments.js"
import { markTotal, totalOr } from "./internal/policy.js"
import * as WeChatError from "./WeChatError.js"

/**
 * How code exchanges (`/sns/oauth2/access_token`, `/sns/jscode2session`) are retried. A code is
 * single-use: only a failure that certainly had no effect may be retried.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExchangeRetry {
  /** Failures of a code exchange that may be retried. Default `WeChatError.isSafeToResend`. */
  readonly exchangeRetryOn: (error: WeChatError.RequestFailure) => boolean
  /** The retry schedule of code exchanges. Default: one retry after about 200 ms. */
  readonly exchangeRetrySchedule: Schedule.Schedule<unknown, WeChatError.RequestFailure>
}

/**
 * The policy.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryPolicy extends ExchangeRetry {
  /** Failures of idempotent calls (userinfo, auth, refresh) worth retrying at once. Default `WeChatError.isTransient`. */
  readonly retryOn: (error: WeChatError.RequestFailure) => boolean
  /** The retry schedule of idempotent calls. Default: exponential from 100 ms, jittered, at most 2 retries. */
  readonly retrySchedule: Schedule.Schedule<unknown, WeChatError.RequestFailure>
  /** Failures of userinfo / auth after which getUser refreshes the token and calls once more. Default `WeChatError.isRefreshable`. */
  readonly refreshOn: (error: WeChatError.RequestFailure) => boolean
  /**
   * Refresh before calling WeChat when the stored access token expires within this. Default 60
   * seconds. Cut to half the token's life for a token that lives less than twice this (a skew set
   * longer than WeChat's 2-hour tokens, or an answer's short `expires_in`): such a token is
   * refreshed once half its life is over, not on every call.
   */
  readonly refreshSkew: Duration.Duration
  /** How long a repeated callback with an exchanged code gets the same token. Default (and at most) 60 seconds. */
  readonly codeMemoTtl: Duration.Duration
}

/**
 * The longest code memo: a leaked callback URL must stay useless after a minute.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxCodeMemoTtl: Duration.Duration = Duration.seconds(60)

/**
 * The default policy.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultPolicy: RetryPolicy = markTotal({
  retryOn: WeChatError.isTransient,
  retrySchedule: Schedule.exponential("100 millis", 2).pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(2))),
  exchangeRetryOn: WeChatError.isSafeToResend,
  exchangeRetrySchedule: Schedule.exponential("200 millis").pipe(
    Schedule.jittered,
    Schedule.intersect(Schedule.recurs(1))
  ),
  refreshOn: WeChatError.isRefreshable,
  refreshSkew: Duration.seconds(60),
  codeMemoTtl: maxCodeMemoTtl
})

/**
 * Parts of a policy to replace; durations in any `Duration.DurationInput` form.
 *
 * @since 0.1.0
 * @category models
 */
export type Overrides = {
  readonly [K in keyof RetryPolicy]?: K extends "refreshSkew" | "codeMemoTtl" ? Duration.DurationInput | undefined
    : RetryPolicy[K] | undefined
}

const predicates = ["retryOn", "exchangeRetryOn", "refreshOn"] as const
const schedules = ["retrySchedule", "exchangeRetrySchedule"] as const

const invalid = (field: string, description: string) =>
  Either.left(ConfigError.InvalidData(["policy", field], description))

const nonNegative = (
  field: string,
  input: unknown,
  fallback: Duration.Duration
): Either.Either<Duration.Duration, ConfigError.ConfigError> => {
  if (input === undefined) return Either.right(fallback)
  // the one reader of such options: a negative amount in any form (-1, NaN, "-5 seconds") is
  // refused, never read as zero (Duration's reading: a zero codeMemoTtl absorbs no repeated callback)
  const decoded = Arguments.nonNegativeDurationOf(input)
  return Option.isSome(decoded)
    ? Either.right(decoded.value)
    : invalid(field, "must be a finite, non-negative duration")
}

/**
 * The default policy with some parts replaced. A part of the wrong type is a `ConfigError` naming it;
 * `codeMemoTtl` is capped at 60 seconds (a leaked callback URL must stay useless).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (given?: Overrides | undefined): Either.Either<RetryPolicy, ConfigError.ConfigError> => {
  if (given === undefined || given === null) return Either.right(defaultPolicy)
  if (typeof given !== "object") return invalid("", "must be an object of policy parts")
  // read once, guarded: a throwing getter or a revoked Proxy is a ConfigError, never a throw
  const read = Arguments.readFields(given, [...predicates, ...schedules, "refreshSkew", "codeMemoTtl"])
  if (Either.isLeft(read)) return invalid("", read.left === Arguments.unreadable ? read.left : "must be an object")
  const overrides = (read.right ?? {}) as Overrides
  for (const field of predicates) {
    const value = overrides[field]
    if (value !== undefined && typeof value !== "function") return invalid(field, "must be a function")
  }
  for (const field of schedules) {
    const value = overrides[field]
    if (value !== undefined && !Arguments.guardOr(() => Schedule.isSchedule(value), false)) {
      return invalid(field, "must be a Schedule")
    }
  }
  return Either.gen(function*() {
    // a caller's predicate answering anything but `true` (a throw, a truthy non-boolean) is `false`
    const refreshSkew = yield* nonNegative("refreshSkew", overrides.refreshSkew, defaultPolicy.refreshSkew)
    const codeMemoTtl = yield* nonNegative("codeMemoTtl", overrides.codeMemoTtl, defaultPolicy.codeMemoTtl)
    return markTotal({
      retryOn: totalOr(overrides.retryOn, defaultPolicy.retryOn),
      retrySchedule: overrides.retrySchedule ?? defaultPolicy.retrySchedule,
      exchangeRetryOn: totalOr(overrides.exchangeRetryOn, defaultPolicy.exchangeRetryOn),
      exchangeRetrySchedule: overrides.exchangeRetrySchedule ?? defaultPolicy.exchangeRetrySchedule,
      refreshOn: totalOr(overrides.refreshOn, defaultPolicy.refreshOn),
      refreshSkew,
      codeMemoTtl: Duration.min(codeMemoTtl, maxCodeMemoTtl)
    })
  })
}

/**
 * Retries made by a policy after transient failures, by `endpoint`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const retriesTotal = Metric.counter("wxauth_retries_total", {
  description: "Retries of WeChat calls after transient failures, by endpoint",
  incremental: true
})
