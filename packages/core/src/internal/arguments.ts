/**
 * Checks of a caller's arguments. Callers in JavaScript (and through the compat layer) can pass
 * anything: a wrong type, `null`, a 10 MB string. Each check answers with an `InvalidArgument`
 * naming the argument, never a thrown `TypeError`.
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import { InvalidArgument } from "../WeChatError.js"

/** @internal */
export const invalid = (argument: string, description: string): InvalidArgument =>
  new InvalidArgument({ argument, description })

/** @internal */
export const fail = (argument: string, description: string): Effect.Effect<never, InvalidArgument> =>
  Effect.fail(invalid(argument, description))

/** The longest openid accepted (WeChat's are 28 characters). @internal */
export const maxOpenidLength = 128

/** The longest browser binding accepted (a cookie value). @internal */
export const maxBindingLength = 4096

/** @internal */
export const isText = (value: unknown, max: number): value is string =>
  typeof value === "string" && value.length > 0 && value.length <= max

/**
 * `undefined` when `openid` is a non-empty string of at most 128 characters, else the failure.
 *
 * @internal
 */
export const checkOpenid = (openid: unknown): Effect.Effect<never, InvalidArgument> | undefined =>
  isText(openid, maxOpenidLength)
    ? undefined
    : fail("openid", `must be a non-empty string of at most ${maxOpenidLength} characters`)

/**
 * `undefined` when `value` is absent or a non-empty string of at most `max` characters, else the
 * failure.
 *
 * @internal
 */
export const checkOptionalText = (
  argument: string,
  value: unknown,
  max: number
): Effect.Effect<never, InvalidArgument> | undefined =>
  value === undefined || isText(value, max)
    ? undefined
    : fail(argument, `must be a non-empty string of at most ${max} characters`)

/**
 * The options object, `{}` for `undefined` / `null`; `undefined` for anything else that is not an
 * object (the caller fails with `InvalidArgument`).
 *
 * @internal
 */
export const optionsOf = (options: unknown): Record<string, unknown> | undefined =>
  options === undefined || options === null
    ? {}
    : typeof options === "object" && !Array.isArray(options)
    ? options as Record<string, unknown>
    : undefined

/**
 * `Config.unwrap` for a caller's value: anything but an object of `Config`s (nested objects
 * allowed) is a `ConfigError` instead of a defect.
 *
 * @internal
 */
export const unwrapConfig = <A>(
  name: string,
  options: Config.Config.Wrap<A>
): Effect.Effect<A, ConfigError.ConfigError> => {
  const valid = (u: unknown, depth: number): boolean =>
    Config.isConfig(u) ||
    (depth < 4 && typeof u === "object" && u !== null && !Array.isArray(u) &&
      Object.values(u).every((v) => valid(v, depth + 1)))
  if (typeof options === "object" && options !== null && Object.keys(options).length === 0) {
    return Effect.succeed({} as A) // Config.unwrap cannot take an empty object
  }
  return typeof options === "object" && options !== null && !Config.isConfig(options) && valid(options, 0)
    ? Config.unwrap(options)
    : Effect.fail(ConfigError.InvalidData([name], "expected an object of Config values"))
}
