/**
 * A span only where someone can see it: with Effect's built-in tracer (nothing exports its spans)
 * the stores skip building one, which costs more than a Redis round trip's client CPU; any real
 * tracer (OpenTelemetry, a test's recorder) gets it. The same check as core's `getUser` makes (core
 * keeps its copy internal, and ten lines do not justify a public export).
 */
import * as Effect from "effect/Effect"
import type * as Tracer from "effect/Tracer"

const builtIn: Tracer.Tracer = Effect.runSync(Effect.tracer)

/** `Effect.withSpan(name, options)` unless the tracer in context is Effect's built-in one. */
export const withSpanWhenTraced =
  (name: string, options: Tracer.SpanOptions) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.tracerWith((tracer) => tracer === builtIn ? self : Effect.withSpan(self, name, options))

/**
 * `self` in the span `name` unless the tracer in context is Effect's built-in one, for the hot path:
 * the span's options are built only when a span is. The span carries the app id when `appId` is a
 * string (never a user's id or a value).
 */
export const spanWhenTraced = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  name: string,
  appId?: unknown
): Effect.Effect<A, E, R> =>
  Effect.tracerWith((tracer) =>
    tracer === builtIn ? self : Effect.withSpan(self, name, {
      captureStackTrace: false,
      attributes: typeof appId === "string" ? { "wxauth.app_id": appId } : {}
    })
  )
