/**
 * A span only where someone can see it: with Effect's built-in tracer (nothing exports its spans)
 * the hot path skips building one; any real tracer (OpenTelemetry, a test's recorder) gets it.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Tracer from "effect/Tracer"

const builtIn: Tracer.Tracer = Effect.runSync(Effect.tracer)

/** @internal */
export const withSpanWhenTraced =
  (name: string, options: Tracer.SpanOptions) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.tracerWith((tracer) => tracer === builtIn ? self : Effect.withSpan(self, name, options))

/**
 * `f` given the fiber's `Clock`, in a span only under a real tracer (as `withSpanWhenTraced`): one
 * step for both, on the hot path.
 *
 * @internal
 */
export const withClockTraced = <A, E, R>(
  name: string,
  options: Tracer.SpanOptions,
  f: (clock: Clock.Clock) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) => {
    const effect = f(Context.get(fiber.currentDefaultServices, Clock.Clock))
    return fiber.currentTracer === builtIn ? effect : Effect.withSpan(effect, name, options)
  })
