/**
 * The spacing of an `AppToken`'s forced refreshes (internal): 30 s after the first, twice the last
 * gap after each, at most 4 hours, and 30 s again after a day without one.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as ForceSpacing from "../src/internal/forceSpacing.js"

const second = 1_000
const hour = 3_600 * second

/** The times (ms) of the forces made by trying every `every` ms from `from` to `to`. */
const forcesWhenTrying = (spacing: ForceSpacing.ForceSpacing, from: number, to: number, every: number) => {
  const made: Array<number> = []
  for (let at = from; at < to; at += every) {
    if (spacing.allowed(at)) {
      spacing.record(at)
      made.push(at)
    }
  }
  return made
}

describe("ForceSpacing", () => {
  it("the first force is allowed; then 30 s, 60 s, 120 s... apart", () => {
    const spacing = ForceSpacing.make()
    const made = forcesWhenTrying(spacing, 0, 1_000 * second, second)
    assert.deepStrictEqual(made.map((at) => at / second), [0, 30, 90, 210, 450, 930])
  })

  it("tried every second for 24 hours: at most 14 forces, under WeChat's 20 a day", () => {
    const spacing = ForceSpacing.make()
    const made = forcesWhenTrying(spacing, 0, 24 * hour, second)
    assert.strictEqual(made.length, 14)
    // and in any 24 hours of a longer siege
    const later = forcesWhenTrying(spacing, 24 * hour, 72 * hour, second)
    const all = [...made, ...later]
    for (const start of all) {
      assert.isAtMost(all.filter((at) => at >= start && at < start + 24 * hour).length, 14)
    }
  })

  it("after a day without a force, the spacing starts again at 30 s", () => {
    const spacing = ForceSpacing.make()
    const made = forcesWhenTrying(spacing, 0, 2 * hour, second)
    const quiet = made[made.length - 1] + 24 * hour
    spacing.record(quiet)
    assert.isFalse(spacing.allowed(quiet + 29 * second))
    assert.isTrue(spacing.allowed(quiet + 30 * second))
  })

  it("says how long until the next force, and warns once per force", () => {
    const spacing = ForceSpacing.make()
    assert.isTrue(spacing.allowed(0))
    spacing.record(0)
    assert.strictEqual(Duration.toMillis(spacing.wait(10 * second)), 20 * second)
    assert.isTrue(spacing.warn())
    assert.isFalse(spacing.warn())
    spacing.record(40 * second)
    assert.isTrue(spacing.warn())
  })

  it("a clock set back before the last force allows a force (set back to 0 too); the gap still grows", () => {
    const spacing = ForceSpacing.make()
    const now = 1_800_000_000_000
    spacing.record(now)
    // NTP steps the clock back an hour: before, refused for the hour plus the gap
    assert.isTrue(spacing.allowed(now - hour))
    assert.strictEqual(Duration.toMillis(spacing.wait(now - hour)), 0)
    assert.isTrue(spacing.allowed(0), "TestClock.setTime(0): before, refused for ever")
    spacing.record(now - hour)
    // the gap was not started again: 60 s after this force, as without the step
    assert.isFalse(spacing.allowed(now - hour + 59 * second))
    assert.isTrue(spacing.allowed(now - hour + 60 * second))
  })
})

describe("ForceSpacing.forApp", () => {
  it("one spacing per app and store: shared by whoever asks again, separate for another app or store", () => {
    const store = {}
    const spacing = ForceSpacing.forApp(store, "wx1", 0)
    spacing.record(0)
    assert.strictEqual(ForceSpacing.forApp(store, "wx1", 10 * second), spacing, "the same app over the same store")
    assert.isFalse(ForceSpacing.forApp(store, "wx1", 10 * second).allowed(10 * second))
    assert.isTrue(ForceSpacing.forApp(store, "wx2", 10 * second).allowed(10 * second), "another app")
    assert.isTrue(ForceSpacing.forApp({}, "wx1", 10 * second).allowed(10 * second), "another store")
  })

  it("bounded per store: past 10,000 apps, those a day without a force go first, then the oldest", () => {
    const store = {}
    const busy = ForceSpacing.forApp(store, "wx-busy", 0)
    for (let i = 0; i < 9_999; i++) ForceSpacing.forApp(store, `wx${i}`, 0).record(0)
    busy.record(23 * hour)
    // a day on: every app but the busy one is quiet, and makes room
    const late = 25 * hour
    ForceSpacing.forApp(store, "wx-new", late)
    assert.strictEqual(ForceSpacing.forApp(store, "wx-busy", late), busy, "the app forced within a day is kept")
    assert.notStrictEqual(ForceSpacing.forApp(store, "wx0", late).last(), 0, "a quiet app was let go (made anew)")
  })
})
