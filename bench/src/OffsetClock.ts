/**
 * A live `Clock` shifted by an offset that can be moved, so that a client's idea of "now" follows
 * the sandbox's clock when the bench moves it forward (`/__sandbox/clock/advance`).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"

export interface OffsetClock extends Clock.Clock {
  offsetMillis: number
}

export const make = (offsetMillis: number): OffsetClock => {
  const live = Clock.make()
  const clock: OffsetClock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    offsetMillis: Math.round(offsetMillis),
    unsafeCurrentTimeMillis: () => live.unsafeCurrentTimeMillis() + clock.offsetMillis,
    currentTimeMillis: Effect.sync(() => clock.unsafeCurrentTimeMillis()),
    unsafeCurrentTimeNanos: () => live.unsafeCurrentTimeNanos() + BigInt(clock.offsetMillis) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => clock.unsafeCurrentTimeNanos()),
    sleep: (duration) => live.sleep(duration)
  }
  return clock
}
