/**
 * A vitest setup file for every package's tests: names the test that holds the worker's event loop
 * for 15 s or more without a turn.
 *
 * Vitest's worker waits at most 60 s (a fixed timer) for the main process to acknowledge each report
 * of a test's progress, and reads that answer only when its event loop turns: a test that runs that
 * long on microtasks alone (Effect's scheduler, with no I/O) fails the whole run with
 * `[vitest-worker]: Timeout calling "onTaskUpdate"`, naming no file. This watch prints a warning
 * naming the file and the test long before that, so the culprit is known (the fix: `breathe` or
 * `forEachInChunks` from `EventLoop.ts`).
 *
 * @since 0.0.0
 */
import { afterEach, beforeEach, expect } from "vitest"

const thresholdMillis = 15_000
const file = String(expect.getState().testPath ?? "(unknown file)")
let current = "(the file's set-up)"
// the last turn of the event loop (only the interval's tick marks one: tests may follow each other
// on microtasks alone) and what ran then
let lastTurn = performance.now()
let heldFrom = current
// a stretch is reported each time it passes another 15 s, and once more when it ends longer than
// last reported: several tests of 15 s each in a row add up to the 60 s that fail the run
let nextReport = thresholdMillis
let reportedGap = 0

const check = (turned: boolean) => {
  const gap = performance.now() - lastTurn
  if (gap < nextReport && !(turned && reportedGap > 0 && gap > reportedGap + 1_000)) return
  reportedGap = gap
  nextReport = (Math.floor(gap / thresholdMillis) + 1) * thresholdMillis
  const since = heldFrom === current ? "" : ` (since "${heldFrom}")`
  console.warn(
    `event loop watch: ${file} > ${current}${since}: the event loop made no turn for ` +
      `${(gap / 1000).toFixed(1)} s (vitest's worker RPC fails the run past 60 s; see test-support's EventLoop.ts)`
  )
}

setInterval(() => {
  check(true)
  lastTurn = performance.now()
  heldFrom = current
  nextReport = thresholdMillis
  reportedGap = 0
}, 1_000).unref()

beforeEach((context) => {
  current = context.task.name
})

afterEach(() => {
  // a stretch that ends with the test is seen here before the interval can see it
  check(false)
  current = "(between tests)"
})
