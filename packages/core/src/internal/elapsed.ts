/**
 * How long ago, by the Clock, something was recorded: one rule for what is kept for a while by
 * the time it was recorded (a registry lookup's result for its time to live, a forced refresh's
 * gap before the next).
 *
 * A clock now before the recorded time has gone backwards (an NTP step, a VM restored, a test's
 * `TestClock.setTime`): it tells nothing of how long it has been, and `now - recordedAt` is
 * negative, so what was kept "for a while" was kept for the step on top of its time (with the clock
 * set back to 0, for ever): an `UnknownApp` answer served after the app was onboarded, a forced
 * refresh refused while WeChat rejected the token. Such a time counts as any length of time
 * (`Infinity`): what was kept is over, and is looked up (or allowed) again. What is kept for ever
 * (`Infinity`) stays kept.
 *
 * @internal
 */

/**
 * The milliseconds from `recordedAt` to `now` (epoch ms, by the Clock): `Infinity` when `now` is
 * before `recordedAt` (the clock was set back) or nothing was recorded (`-Infinity`).
 *
 * @internal
 */
export const since = (recordedAt: number, now: number): number => now < recordedAt ? Infinity : now - recordedAt
