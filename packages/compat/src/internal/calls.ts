/**
 * Calling the app's own functions the way `wechat-oauth` called them: with a Node callback as the
 * last argument. A function may also answer with a promise (whichever settles first counts; a
 * thenable that is not a native promise counts only from a function that does not take the
 * callback, see `listen`; `undefined` from one that takes it is no answer, see `callApp`), may throw, or may never answer: each ends the call, the last one after a
 * deadline.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Runtime from "effect/Runtime"
import * as Types from "node:util/types"
import { AppFailure, failureOf } from "./appFailure.js"

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
 * Whether the app's function may take the callback: it declares it (see `declaresCallback`), or
 * its declared arity is 0, which is also that of a rest-parameter wrapper (`async (...args) =>
 * fn(...args)`, an APM or timing wrapper around a callback hook) and of `function () { arguments }`.
 *
 * @internal
 */
export const mayTakeCallback = (fn: unknown, index: number): boolean => {
  if (declaresCallback(fn, index)) return true
  try {
    return (fn as { readonly length?: unknown }).length === 0
  } catch {
    return false
  }
}

/** The functions already warned about (once each) for a promise resolving `undefined` without a callback. */
const warnedUndefined = new WeakSet<object>()

/** How long after a promise resolved `undefined` the missing callback is worth a warning. */
const undefinedWarningAfter = Duration.millis(100)

/**
 * How long a callback may follow a promise that resolved `undefined` (see `callApp`'s
 * `undefinedAfterGrace`); the call's deadline (`timeout`, counted from the call) ends it sooner.
 *
 * @internal
 */
export const undefinedGrace = Duration.seconds(2)

/**
 * What a log may say of a value the app handed to a callback as its error: an `Error`'s name and its
 * `code` when that is a short identifier (`ER_DUP_ENTRY`, `ECONNRESET`), nothing else: neither its
 * message (a database's duplicate-key message quotes the key, which may be the token being saved)
 * nor its stack nor any other field (a database error's `sql` or `values`); of anything else only its
 * type (a store calling back `(doc)` hands over the token itself).
 *
 * @internal
 */
export const describeError = (error: unknown): string => {
  const isError = (() => {
    try {
      return Types.isNativeError(error) || error instanceof Error
    } catch {
      return false // a proxy whose getPrototypeOf trap throws
    }
  })()
  if (!isError) return `a value of type ${error === null ? "null" : typeof error}`
  const read = (key: "name" | "code"): string | undefined => {
    try {
      const value = (error as Record<string, unknown>)[key]
      return typeof value === "string" && /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(value) ? value : undefined
    } catch {
      return undefined
    }
  }
  const name = read("name") ?? "Error"
  const code = read("code")
  return code === undefined ? name : `${name}, code ${code}`
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
 * `listen`) to settle. A promise resolving `undefined` from a function that may take the callback
 * (`mayTakeCallback`: it declares it, or its arity is 0, a rest-parameter wrapper):
 *
 * - with `undefinedAfterGrace` ("mayTake": a `saveToken` that declares the callback or has arity 0;
 *   "arity0": a `getToken` of arity 0), waits for the callback until `undefinedGrace` (2 s) after the
 *   promise resolved or until `timeout` (counted from the call), whichever comes first: a callback
 *   within it answers (its error fails the call); none within it, the `undefined` is the answer
 *   ("saved", "no token"), with a one-time warning naming `label` (whichever of the two ended it); an
 *   error its callback brings later is logged (a warning naming `label` and saying only what
 *   `describeError` says of the error: its name and code), not lost;
 * - otherwise is no answer: its callback's is (or `timeout`); when no callback came within 100 ms,
 *   a warning naming `label` says so, once per function, so that a stall until `timeout` is explained.
 *
 * A rejection, or any other value, counts at once. An error (the callback's `err`, a throw, a
 * rejection; a falsy value thrown or rejected as an `Error` naming `name`, see `failureOf`) fails
 * with `onError(error)`; no answer within `timeout` fails with `onTimeout()`. A later
 * answer is ignored. The timers a call starts (the grace, the 100 ms warning) stop when it settles,
 * so none keeps the process alive after it.
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
  readonly fromPromise?: ((value: unknown) => { readonly answered: boolean; readonly value?: unknown }) | undefined
  /**
   * How the answer is read, by callback or by promise alike (the callback's result, or what
   * `fromPromise` made of the promise's value): what the call succeeds with (default: the answer
   * itself). An answer that cannot be read (a Proxy's trap or a getter throwing) fails the call with
   * `failureOf(name, "unreadable", error)`, as a promise's resolution that `fromPromise` cannot read.
   */
  readonly read?: ((answer: unknown) => A) | undefined
  /**
   * How its failures name the function ("the getToken hook", "this._getUser", "this.request"): a
   * falsy value thrown or rejected becomes an `Error` saying so (`failureOf`).
   */
  readonly name: string
  /** How the warnings name the function ("the getToken hook", "this._getUser"); none without it. */
  readonly label?: string | undefined
  /**
   * A promise resolving `undefined` is the answer after `undefinedGrace` without a callback: from a
   * function that may take the callback ("mayTake") or only from one of arity 0 ("arity0").
   */
  readonly undefinedAfterGrace?: "mayTake" | "arity0" | undefined
}): Effect.Effect<A, E> =>
  Effect.suspend(() => {
    // set while the grace for the callback runs: the deadline then answers `undefined`, not a timeout
    let inGrace = false
    let answeredByPromise = false
    const { fn, label } = options
    /** The one-time warning for an `undefined` taken as the answer, `within` saying what ended the grace. */
    const warnUndefinedAfterGrace = (within: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (label === undefined || warnedUndefined.has(fn)) return Effect.void
        warnedUndefined.add(fn)
        return Effect.logWarning(
          `${label} returned a promise that resolved undefined and did not call its callback within ${within}: ` +
            `its undefined is taken as the answer (saveToken: saved; getToken: no token)`
        )
      })
    return Effect.flatMap(Effect.runtime<never>(), (runtime) =>
      Effect.async<A, E>((resume) => {
        let settled = false
        // the timers this call started (the grace, the 100 ms warning): stopped when it settles
        const timers = new Set<Fiber.RuntimeFiber<void>>()
        const stopTimers = () => {
          for (const timer of timers) timer.unsafeInterruptAsFork(FiberId.none)
          timers.clear()
        }
        const succeed = (value: A) => {
          if (settled) return
          settled = true
          stopTimers()
          resume(Effect.succeed(value))
        }
        const fail = (error: unknown) => {
          if (settled) return
          settled = true
          stopTimers()
          resume(Effect.fail(options.onError(error)))
        }
        /** The answer, by callback or by promise, read by `options.read`: the one place of that rule. */
        const answer = (value: unknown) => {
          if (settled) return
          if (options.read === undefined) return succeed(value as A)
          let read: A
          try {
            read = options.read(value)
          } catch (error) {
            // an answer that cannot be read (a proxy's trap, a getter throwing)
            return fail(failureOf(options.name, "unreadable", error))
          }
          succeed(read)
        }
        const { args, self } = options
        const takesCallback = declaresCallback(fn, args.length)
        const mayTake = mayTakeCallback(fn, args.length)
        const fork = (effect: Effect.Effect<void>): Fiber.RuntimeFiber<void> | undefined => {
          try {
            return Runtime.runFork(runtime)(effect)
          } catch {
            return undefined // a disposed runtime: nothing to log to
          }
        }
        /** Runs `effect` after `delay` unless the call settles first. */
        const timer = (delay: Duration.Duration, effect: () => Effect.Effect<void>) => {
          let fiber: Fiber.RuntimeFiber<void> | undefined = undefined
          const run = Effect.suspend(() => {
            // off the set before it runs: settling the call from it must not interrupt it
            if (fiber !== undefined) timers.delete(fiber)
            return effect()
          })
          fiber = fork(Effect.delay(run, delay))
          if (fiber !== undefined && !settled) timers.add(fiber)
        }
        const callback: NodeCallback<A> = (err, result) => {
          if (err && settled && answeredByPromise && label !== undefined) {
            // its promise resolved undefined first and was taken as the answer: the error is not lost,
            // though only described (the app's value may be the token itself)
            fork(Effect.logWarning(
              `${label}'s promise resolved before its callback, which then reported an error ` +
                `(${describeError(err)}): the call had already succeeded`
            ))
          }
          return err ? fail(err) : answer(result)
        }
        const invoke = () => fn.call(self, ...args, callback)
        let returned: unknown
        try {
          returned = options.around === undefined ? invoke() : options.around(invoke)
        } catch (error) {
          fail(failureOf(options.name, "threw", error))
        }
        listen(
          returned,
          takesCallback,
          (value) => {
            // an `async` function that declares the callback and hands it on without awaiting it
            // (`async function (openid, cb) { redis.get(k, (e, v) => cb(e, v)) }`, which wechat-oauth
            // ran, ignoring what it returned): its promise resolves `undefined` before the callback's
            // answer, so `undefined` from such a function is no answer, its callback's is (or timeout)
            if (mayTake && value === undefined) {
              const grace = options.undefinedAfterGrace
              if (grace === "mayTake" || (grace === "arity0" && !takesCallback)) {
                if (settled) return
                // ends 2 s after the resolution, or at the deadline (below) when that comes first
                inGrace = true
                timer(undefinedGrace, () => {
                  if (settled) return Effect.void
                  answeredByPromise = true
                  succeed(undefined as A)
                  return warnUndefinedAfterGrace(`${Duration.toMillis(undefinedGrace)} ms`)
                })
                return
              }
              if (label !== undefined && !warnedUndefined.has(fn) && !settled) {
                timer(undefinedWarningAfter, () => {
                  if (settled || warnedUndefined.has(fn)) return Effect.void
                  warnedUndefined.add(fn)
                  return Effect.logWarning(
                    `${label} returned a promise that resolved undefined and has not called its callback: ` +
                      `its answer is awaited by callback until hookTimeout (a promise answering "no token" ` +
                      `resolves null)`
                  )
                })
              }
              return
            }
            if (options.fromPromise === undefined) return answer(value)
            let resolution: { readonly answered: boolean; readonly value?: unknown }
            try {
              resolution = options.fromPromise(value)
            } catch (error) {
              // a resolution that cannot be read (a proxy's trap throwing)
              return fail(failureOf(options.name, "unreadable", error))
            }
            if (resolution.answered) answer(resolution.value)
          },
          (error) => fail(failureOf(options.name, "rejected", error))
        )
        // interrupted (the deadline, the caller): no answer counts any more, no timer runs on
        return Effect.sync(() => {
          settled = true
          stopTimers()
        })
      }).pipe(
        Effect.timeoutTo({ duration: options.timeout, onSuccess: Effect.succeed, onTimeout: () => undefined }),
        Effect.flatMap((answer) =>
          answer !== undefined
            ? answer
            : inGrace
            // the deadline ended the grace: the undefined counts, with the same one-time warning
            ? Effect.as(
              Effect.zipRight(
                Effect.sync(() => (answeredByPromise = true)),
                warnUndefinedAfterGrace(`hookTimeout (${Duration.toMillis(options.timeout)} ms from the call)`)
              ),
              undefined as A
            )
            : Effect.fail(options.onTimeout())
        )
      ))
  })

/**
 * Calls a method the app overrides (`this._getUser(options, accessToken, callback)`, ...): its
 * error comes back as it is (an `AppFailure`), and a method that neither calls back nor settles
 * within `timeout` fails with `onTimeout()`. Its answer is read by `call.read` (see `callApp`): one
 * that cannot be read is an `AppFailure` too, by callback or by promise.
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
    readonly read?: ((answer: unknown) => A) | undefined
  }
): Effect.Effect<A, AppFailure | E> =>
  callApp<A, AppFailure | E>({
    ...call,
    timeout,
    onError: (error) => new AppFailure(method, error),
    onTimeout,
    name: `this.${method}`,
    label: `this.${method}`
  })
