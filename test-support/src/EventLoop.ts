/**
 * Turns of the event loop for tests that run long on Effect's scheduler alone.
 *
 * Effect's default scheduler runs fibers on microtasks and yields to a macrotask only after 2,048
 * drains of its queue in a row (the count starts again whenever the queue empties, so a fiber that
 * keeps awaiting resolved promises never yields): a test whose work needs no I/O (a registry answering 100,000 calls from
 * memory, a sweep of thousands of calls against the in-process sandbox) can run for a minute
 * without the event loop reaching its poll phase. Vitest's worker reports each test's start to the
 * main process over RPC and waits for the answer with a fixed 60 s timer (birpc's, not
 * configurable in vitest 3.2); the answer arrives at once but is read only in a poll phase, and
 * Node runs expired timers before polling, so such a test ends the run with
 * `[vitest-worker]: Timeout calling "onTaskUpdate"` although every test passed. A test that may run
 * long without I/O calls `breathe` every few thousand steps (`forEachInChunks` does it for a list).
 *
 * @since 0.0.0
 */
import * as Effect from "effect/Effect"

/**
 * One turn of the event loop (a `setImmediate`, which runs after the poll phase): pending I/O,
 * vitest's RPC answers among it, is read. Interruptible; no Clock involved, so it works under
 * `TestClock` too.
 *
 * @since 0.0.0
 */
export const breathe: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * `Effect.forEach(items, f, { concurrency, discard: true })`, `chunk` items at a time with a
 * `breathe` between chunks: for a flood of calls that needs no I/O.
 *
 * @since 0.0.0
 */
export const forEachInChunks = <A, X, E, R>(
  items: ReadonlyArray<A>,
  f: (item: A) => Effect.Effect<X, E, R>,
  options: { readonly concurrency: number; readonly chunk?: number | undefined }
): Effect.Effect<void, E, R> =>
  Effect.gen(function*() {
    const chunk = options.chunk ?? 2_000
    for (let from = 0; from < items.length; from += chunk) {
      yield* Effect.forEach(items.slice(from, from + chunk), f, { concurrency: options.concurrency, discard: true })
      yield* breathe
    }
  })
