/**
 * Calling the app's own functions the way `wechat-oauth` called them: with a Node callback as the
 * last argument. A function may also answer with a promise (whichever settles first counts), may
 * throw, or may never answer: each ends the call, the last one after a deadline.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { AppFailure } from "./appFailure.js"

/** @internal */
export type NodeCallback<A> = (err?: unknown, result?: A) => void

/** @internal */
export const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  (typeof u === "object" || typeof u === "function") && u !== null &&
  typeof (u as { then?: unknown }).then === "function"

/**
 * Calls `invoke(callback)`: the first of its callback and the promise it may return to settle
 * counts. An error (the callback's `err`, a throw, a rejection) fails with `onError(error)`; no
 * answer within `timeout` fails with `onTimeout()`. A later answer is ignored.
 *
 * @internal
 */
export const callApp = <A, E>(options: {
  readonly invoke: (callback: NodeCallback<A>) => unknown
  readonly timeout: Duration.Duration
  readonly onError: (error: unknown) => E
  readonly onTimeout: () => E
  /** What a promise's resolution means (default: the answer itself). */
  readonly fromPromise?: ((value: unknown) => { readonly answered: boolean; readonly value?: A }) | undefined
  readonly rejectionOf?: (() => unknown) | undefined
}): Effect.Effect<A, E> =>
  Effect.async<A, E>((resume) => {
    let settled = false
    const succeed = (value: A) => {
      if (settled) return
      settled = true
      resume(Effect.succeed(value))
    }
    const fail = (error: unknown) => {
      if (settled) return
      settled = true
      resume(Effect.fail(options.onError(error)))
    }
    try {
      const returned = options.invoke((err, result) => (err ? fail(err) : succeed(result as A)))
      if (isThenable(returned)) {
        returned.then(
          (value) => {
            if (options.fromPromise === undefined) return succeed(value as A)
            const read = options.fromPromise(value)
            if (read.answered) succeed(read.value as A)
          },
          (error) => fail(error ?? options.rejectionOf?.() ?? new Error("the promise rejected"))
        )
      }
    } catch (error) {
      fail(error)
    }
    return Effect.sync(() => {
      settled = true
    })
  }).pipe(Effect.timeoutFail({ duration: options.timeout, onTimeout: options.onTimeout }))

/**
 * Calls a method the app overrides (`this._getUser(options, accessToken, callback)`, ...): its
 * error comes back as it is (an `AppFailure`), and a method that neither calls back nor settles
 * within `timeout` fails with `onTimeout()`.
 *
 * @internal
 */
export const callMethod = <A, E>(
  method: string,
  timeout: Duration.Duration,
  onTimeout: () => E,
  invoke: (callback: NodeCallback<A>) => unknown
): Effect.Effect<A, AppFailure | E> =>
  callApp<A, AppFailure | E>({
    invoke,
    timeout,
    onError: (error) => new AppFailure(method, error),
    onTimeout,
    rejectionOf: () => new Error(`the promise of ${method} rejected`)
  })
