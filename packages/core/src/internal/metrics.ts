/**
 * The metrics of `WeChatOAuth`, defined once (its public module re-exports them).
 *
 * @internal
 */
import * as Metric from "effect/Metric"

/** @internal */
export const refreshesTotal = Metric.counter("wxauth_refreshes_total", {
  description: "Token refreshes requested from WeChat",
  incremental: true
})
