/**
 * Calling the app's own functions the way `wechat-oauth` called them: with a Node callback as the
 * last argument. A function may also answer with a promise (whichever settles first counts; a
 * thenable that is not a native promise counts only from a function that does not take the
 * callback, see `listen`; `undefined` from one that takes it is no answer, see `callApp`), may throw, or may never answer: each ends the call, the last one after a
 * deadline.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Types from "node:util/types"
import { AppFailure } from "./appFailure.js"

/** @internal */
export type NodeCallback<A> = (err?: unknown, result?: A) => void

/**
 * Whether the app's function declares the callback parameter: its declared arity (`fn.length`)
 * reaches `index`, the callback's position. A length that cannot be read (a revoked proxy): no.
 *
 * @internal
 */
export const declaresCallback = (fn: unknown, index: number): boolean => {
  try {
    const length = (fn as { readonly length?: unknown }).length
    return typeof length === "number" && length > index
  } catch {
    return false
  }
}

/**
 * Listens to what the app's function returned, when it is a promise to listen to; `false` when the
 * answer can only come by callback:
 *
 * - a native promise (an `async` function's) is always listened to, through
 *   `Promise.prototype.then` (no `then` of the app runs); when the function declares the callback,
 *   its resolving `undefined` is not an answer (see `callApp`);
 * - another thenable (a query builder: mysql2's `Query`, whose `then` throws; mongoose's `Query`,
 *   whose `then` runs the query again; knex's builder) is listened to only when the function does not
 *   declare the callback (`takesCallback` false): a function that took the callback answers by it, and
 *   the thenable is the by-product of the call it made with it (`(openid, cb) => db.query(sql, [openid],
 *   (e, r) => cb(e, r[0]))`);
 * - a `then` that cannot be read, is not a function, or throws when called: not a promise.
 */
const listen = (
  returned: unknown,
  takesCallback: boolean,
  onFulfilled: (value: unknown) => void,
  onRejected: (error: unknown) => void
): boolean => {
  if ((typeof returned !== "object" && typeof returned !== "function") || returned === null) return false
  try {
    if (Types.isPromise(returned)) {
      Promise.prototype.then.call(returned, onFulfilled, onRejected)
      return true
    }
    if (takesCallback) return false
    const then = (returned as { readonly then?: unknown }).then
    if (typeof then !== "function") return false
    then.call(returned, onFulfilled, onRejected)
    return true
  } catch {
    return false
  }
}

/**
 * Calls the app's `fn` with `this` `self` and `args` then a Node callback, inside `around` when
 * given. Its answer is the first of its callback and the promise it returns (when that counts, see
 * `listen`) to settle; a function that declares the callback and whose promise resolves `undefined`
 * answers by its callback only (a rejection, or any other value, still counts). An error (the callback's `err`, a throw, a rejection) fails with
 * `onError(error)`; no answer within `timeout` fails with `onTimeout()`. A later answer is ignored.
 *
 * @internal
 */
export const callApp = <A, E>(options: {
  readonly fn: (...args: Array<any>) => unknown
  readonly self: unknown
  readonly args: ReadonlyArray<unknown>
  readonly around?: ((invoke: () => unknown) => unknown) | undefined
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
    const { args, fn, self } = options
    const takesCallback = declaresCallback(fn, args.length)
    const callback: NodeCallback<A> = (err, result) => (err ? fail(err) : succeed(result as A))
    const invoke = () => fn.call(self, ...args, callback)
    let returned: unknown
    try {
      returned = options.around === undefined ? invoke() : options.around(invoke)
    } catch (error) {
      fail(error)
    }
    listen(
      returned,
      takesCallback,
      (value) => {
        // an `async` function that declares the callback and hands it on without awaiting it
        // (`async function (openid, cb) { redis.get(k, (e, v) => cb(e, v)) }`, which wechat-oauth
        // ran, ignoring what it returned): its promise resolves `undefined` before the callback's
        // answer, so `undefined` from such a function is no answer, its callback's is (or timeout)
        if (takesCallback && value === undefined) return
        if (options.fromPromise === undefined) return succeed(value as A)
        try {
          const read = options.fromPromise(value)
          if (read.answered) succeed(read.value as A)
        } catch (error) {
          fail(error) // a resolution that cannot be read (a proxy's trap throwing)
        }
      },
      // a falsy reason would read as no error through a Node callback
      (error) => fail(error || (options.rejectionOf?.() ?? new Error("the promise rejected")))
    )
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
  call: {
    readonly fn: (...args: Array<any>) => unknown
    readonly self: unknown
    readonly args: ReadonlyArray<unknown>
    readonly around?: ((invoke: () => unknown) => unknown) | undefined
  }
): Effect.Effect<A, AppFailure | E> =>
  callApp<A, AppFailure | E>({
    ...call,
    timeout,
    onError: (error) => new AppFailure(method, error),
    onTimeout,
    rejectionOf: () => new Error(`the promise of ${method} rejected`)
  })
