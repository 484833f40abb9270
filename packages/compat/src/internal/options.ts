/**
 * Coercion of what JavaScript callers hand the OAuth class: `setOpts`' options (urllib's
 * `timeout`, the policy, the `tokenStore` / `refreshLock` layers, `hookTimeout`) and the methods'
 * arguments. Every value may be of any type: a wrong one is a typed error, never a throw.
 *
 * @internal
 */
import { RetryPolicy, WeChatError } from "@wxauth/core"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { textOf } from "./runtime.js"

/**
 * The longest deadline accepted (`timeout`, `hookTimeout`): 24 days, core's bound on a request's
 * timeout. A Node timer holds at most 2^31-1 ms (about 24.8 days): past that Effect's sleep never
 * fires, so a deadline of `Infinity`, `1e300` or `"999999 days"` would be no deadline at all.
 *
 * @internal
 */
export const maxDeadlineMillis = 24 * 24 * 60 * 60 * 1000

/**
 * The one reader of the deadline options (`timeout`, `hookTimeout`): a positive, finite duration of
 * at most `maxDeadlineMillis` (milliseconds, or e.g. `"10 seconds"`), as core's `WeChatConfig`
 * holds `timeout` to; anything else (`0`, `-1`, `NaN`, `Infinity`, `1e300`, `"soon"`, an object, a
 * Proxy whose traps throw) is a `ConfigError` naming the option (the client's calls fail with
 * `WeChatAPIConfigError`). Absent (`undefined` or `null`): `fallback`.
 *
 * @internal
 */
export const deadlineOf = <A>(
  name: string,
  input: unknown,
  fallback: A
): Either.Either<Duration.Duration | A, ConfigError.ConfigError> => {
  if (input === undefined || input === null) return Either.right(fallback)
  let decoded: ReturnType<typeof Duration.decodeUnknown> | undefined
  try {
    // a number is milliseconds: Duration reads NaN and a negative one as zero, refused below
    decoded = typeof input === "number" && !(input > 0) ? undefined : Duration.decodeUnknown(input)
  } catch {
    decoded = undefined // a Proxy whose traps throw
  }
  return decoded !== undefined && decoded._tag === "Some" && Duration.isFinite(decoded.value) &&
      Duration.greaterThan(decoded.value, Duration.zero) && Duration.toMillis(decoded.value) <= maxDeadlineMillis
    ? Either.right(decoded.value)
    : Either.left(
      ConfigError.InvalidData(
        [name],
        "must be a positive duration of at most 24 days (milliseconds, or e.g. \"10 seconds\")"
      )
    )
}

/**
 * The `timeout` option: milliseconds as urllib took it (also `[connect, response]`: the whole
 * request gets both), or a duration, read by `deadlineOf`. `undefined` when absent (core's default).
 *
 * @internal
 */
export const timeoutOf = (
  timeout: unknown
): Either.Either<Duration.Duration | undefined, ConfigError.ConfigError> => {
  const isPair = (() => {
    try {
      return Array.isArray(timeout) && timeout.length === 2 && timeout.every((n) => typeof n === "number")
    } catch {
      return false // a revoked Proxy: refused by deadlineOf
    }
  })()
  return deadlineOf(
    "timeout",
    isPair ? (timeout as [number, number])[0] + (timeout as [number, number])[1] : timeout,
    undefined
  )
}

/**
 * The `timeout` option in milliseconds, or `fallback` when it is absent or not valid (see
 * `deadlineOf`).
 *
 * @internal
 */
export const timeoutMillisOf = (timeout: unknown, fallback: number): number =>
  Either.match(timeoutOf(timeout), {
    onLeft: () => fallback,
    onRight: (duration) => duration === undefined ? fallback : Duration.toMillis(duration)
  })

/**
 * The default `hookTimeout` (also what is waited with when the option is not valid: every call then
 * fails with its `ConfigError` anyway).
 *
 * @internal
 */
export const defaultHookTimeout = Duration.seconds(30)

/**
 * The `hookTimeout` option: how long an app's function (a hook, an overridden method) may take.
 * Default (absent, `undefined` or `null`, as `timeout`) 30 seconds; otherwise read as `timeout` is
 * (`deadlineOf`): a value that is not a positive duration of at most 24 days is a `ConfigError`
 * naming it (the client's calls fail with `WeChatAPIConfigError`).
 *
 * @internal
 */
export const hookTimeoutOption = (input: unknown): Either.Either<Duration.Duration, ConfigError.ConfigError> =>
  deadlineOf("hookTimeout", input, defaultHookTimeout)

/**
 * The `policy` option, checked field by field by core (a JavaScript caller may pass anything):
 * `undefined` when there is none, the policy, or a `ConfigError` naming the field.
 *
 * @internal
 */
export const policyOf = (input: unknown): Either.Either<RetryPolicy.RetryPolicy | undefined, ConfigError.ConfigError> =>
  input === undefined || input === null ? Either.right(undefined) : RetryPolicy.make(input as RetryPolicy.Overrides)

/**
 * A layer's `TokenStoreError` with a description that names the option whose layer failed to build
 * (a `refreshLock` of store-redis fails with the store's error, "Token store connect failed"); any
 * other error as it is.
 */
const naming = (name: string, error: unknown): unknown => {
  try {
    if (!(error instanceof WeChatError.TokenStoreError)) return error
    return new WeChatError.TokenStoreError({
      operation: error.operation,
      description: `the ${name} layer (setOpts) failed to build: ${error.description}`,
      cause: error
    })
  } catch {
    return error // a value whose fields cannot be read: as it is
  }
}

/**
 * A `tokenStore` / `refreshLock` option: `undefined` when absent, the layer (its `TokenStoreError`
 * naming the option), or a layer failing with a `ConfigError` naming it: one that is not a Layer,
 * or that cannot be read (a Proxy whose traps throw, a revoked Proxy: `Layer.isLayer` asks it), as
 * `setOpts`' options that cannot be read fail every call. Never throws.
 *
 * @internal
 */
export const layerOption = <A>(name: string, input: unknown): Layer.Layer<A, unknown> | undefined => {
  if (input === undefined || input === null) return undefined
  let isLayer: boolean | undefined
  try {
    isLayer = Layer.isLayer(input)
  } catch {
    isLayer = undefined
  }
  return isLayer === true
    ? Layer.mapError(input as Layer.Layer<A, unknown>, (error) => naming(name, error))
    : Layer.effectContext(Effect.fail(ConfigError.InvalidData(
      [name],
      isLayer === undefined ? "cannot be read (a Proxy trap threw, or the Proxy is revoked)" : "must be a Layer"
    )))
}

/**
 * `options[key]` when `options` is an object (or a function), else `undefined`. A getter that
 * throws throws: read inside an effect.
 *
 * @internal
 */
export const optionOf = (options: unknown, key: string): unknown =>
  (typeof options === "object" && options !== null) || typeof options === "function"
    ? (options as Record<string, unknown>)[key]
    : undefined

/** @internal */
export const invalidArgument = (argument: string, description: string) =>
  new WeChatError.InvalidArgument({ argument, description })

/**
 * `options[key]` of a caller's argument, as `optionOf` reads it, but a getter or a Proxy trap that
 * throws, or a revoked Proxy, is an `InvalidArgument` naming `argument`, as an argument of the wrong
 * type is: the caller's mistake, not a defect of compat's.
 *
 * @internal
 */
export const argumentOf = (
  argument: string,
  options: unknown,
  key: string
): Effect.Effect<unknown, WeChatError.InvalidArgument> => {
  try {
    return Effect.succeed(optionOf(options, key))
  } catch {
    return Effect.fail(unreadableArgument(argument))
  }
}

/**
 * The `InvalidArgument` of a caller's argument that cannot be read (a getter or a Proxy trap that
 * throws, a revoked Proxy): the one description `argumentOf` and the direct `request` give.
 *
 * @internal
 */
export const unreadableArgument = (argument: string): WeChatError.InvalidArgument =>
  invalidArgument(argument, "cannot be read (a getter or a Proxy trap threw, or the Proxy is revoked)")

/**
 * The `ConfigError` of `setOpts`' options that cannot be read (a getter or a Proxy trap that throws,
 * a revoked Proxy): every call of the client fails with it (a `WeChatAPIConfigError`).
 *
 * @internal
 */
export const unreadableOptions = (): ConfigError.ConfigError =>
  ConfigError.InvalidData([], "setOpts' options cannot be read (a getter threw, or the Proxy is revoked)")

/**
 * A text argument (see `textOf`), or an `InvalidArgument` naming it.
 *
 * @internal
 */
export const textArgument = (argument: string, u: unknown): Effect.Effect<string, WeChatError.InvalidArgument> => {
  const text = textOf(u)
  return text === undefined || text === ""
    ? Effect.fail(invalidArgument(argument, "must be a non-empty string"))
    : Effect.succeed(text)
}
