/**
 * The options of every store and of the lock, read once and checked, in one place. JavaScript callers
 * can pass anything: a Proxy whose traps throw, a revoked Proxy, a getter that throws, a `Symbol` or
 * an object with a throwing `toString` where a prefix goes, `NaN`, `Infinity` or `"banana"` where a
 * duration goes, an object where the password goes (which ioredis would throw on from a socket
 * callback, killing the process). Each such option is an `InvalidArgument` naming it, from `make` or
 * from the layer, never a throw or a defect.
 *
 * @internal
 */
import { WeChatError } from "@wxauth/core"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"

/** The longest key prefix accepted. */
export const maxKeyPrefixLength = 256

/** The options this package reads itself; every other field goes to ioredis as it is. */
export const ownFields = [
  "keyPrefix",
  "commandTimeout",
  "connectTimeout",
  "url",
  "password",
  "lockTtl",
  "waitTimeout",
  "poll",
  "ttl",
  "nearCache",
  "maxSessionsPerUser"
] as const

const invalid = (argument: string, description: string) =>
  Either.left(new WeChatError.InvalidArgument({ argument, description }))

/**
 * A plain copy of `options` (`{}` for `undefined` / `null`): every own enumerable field read once,
 * so nothing of the caller's object is looked at again; an `InvalidArgument` when it is not an
 * object, or reading it throws.
 */
const copy = (options: unknown): Either.Either<Record<string, unknown>, WeChatError.InvalidArgument> => {
  if (options === undefined || options === null) return Either.right({})
  if (typeof options !== "object") return invalid("options", "must be an object")
  try {
    // Array.isArray throws on a revoked Proxy
    if (Array.isArray(options)) return invalid("options", "must be an object")
    const fields: Record<string, unknown> = {}
    for (const key of Object.keys(options)) fields[key] = (options as Record<string, unknown>)[key]
    // fields inherited (a class instance's getters) count too, for ours
    for (const key of ownFields) {
      if (!(key in fields)) {
        const value = (options as Record<string, unknown>)[key]
        if (value !== undefined) fields[key] = value
      }
    }
    return Either.right(fields)
  } catch {
    return invalid("options", "must be an object whose fields can be read")
  }
}

const isDurationInput = (value: unknown): boolean => {
  try {
    return Option.isSome(Duration.decodeUnknown(value))
  } catch {
    return false
  }
}

/**
 * The longest deadline of a command or a connect: 24 days, as core's (a Node timer waits at most
 * 2^31 - 1 ms, about 24.8 days; longer, `setTimeout` fires after 1 ms), with room for the grace the
 * store adds to it (the connect deadline, the socket timeout).
 */
const maxTimerMillis = 24 * 24 * 60 * 60 * 1000

/** A positive, finite duration (of at most `maxMillis`). */
const duration = (
  fields: Record<string, unknown>,
  field: string,
  maxMillis = Number.MAX_SAFE_INTEGER
): Either.Either<Duration.Duration | undefined, WeChatError.InvalidArgument> =>
  durationOf(fields[field], field, maxMillis)

/**
 * `value` as a positive, finite duration (of at most `maxMillis`), `undefined` when not given (`null`
 * counts as not given); otherwise an `InvalidArgument` naming `field`.
 *
 * @internal
 */
export const durationOf = (
  value: unknown,
  field: string,
  maxMillis = Number.MAX_SAFE_INTEGER
): Either.Either<Duration.Duration | undefined, WeChatError.InvalidArgument> => {
  if (value === undefined || value === null) return Either.right(undefined)
  const decoded = isDurationInput(value) ? Duration.decodeUnknown(value) : Option.none()
  if (
    Option.isNone(decoded) || !Duration.isFinite(decoded.value) || !(Duration.toMillis(decoded.value) >= 1) ||
    Duration.toMillis(decoded.value) > maxMillis
  ) {
    return invalid(
      field,
      maxMillis === maxTimerMillis
        ? "must be a positive finite duration of at most 24 days"
        : "must be a positive finite duration"
    )
  }
  return Either.right(decoded.value)
}

/** `Schedule.isSchedule`, which looks into the value (a Proxy's trap may throw). */
const isSchedule = (value: unknown): boolean => {
  try {
    return Schedule.isSchedule(value)
  } catch {
    return false
  }
}

/** A string, or a `Redacted` string (a URL or a password). */
const secretText = (
  fields: Record<string, unknown>,
  field: string
): Either.Either<string | Redacted.Redacted<string> | undefined, WeChatError.InvalidArgument> => {
  const value = fields[field]
  if (value === undefined || value === null) return Either.right(undefined)
  if (typeof value === "string") return Either.right(value)
  try {
    if (Redacted.isRedacted(value) && typeof Redacted.value(value) === "string") {
      return Either.right(value as Redacted.Redacted<string>)
    }
  } catch {
    // not a Redacted we can read
  }
  return invalid(field, "must be a string or a Redacted string")
}

/**
 * The options, read and checked: a plain copy in which each of this package's fields that was given
 * has its checked value (durations decoded). Fields of other packages' options (ioredis') are kept as
 * they are.
 */
export interface Read {
  readonly fields: Record<string, unknown>
  readonly keyPrefix: string | undefined
  readonly commandTimeout: Duration.Duration | undefined
  readonly connectTimeout: Duration.Duration | undefined
  readonly lockTtl: Duration.Duration | undefined
  readonly waitTimeout: Duration.Duration | undefined
  readonly ttl: Duration.Duration | undefined
  readonly poll: Schedule.Schedule<unknown> | undefined
  readonly url: string | Redacted.Redacted<string> | undefined
  readonly password: string | Redacted.Redacted<string> | undefined
}

/**
 * Reads `options` once and checks the fields this package reads: `keyPrefix` (a string of at most
 * 256 characters), the durations (`commandTimeout`, `connectTimeout`, `lockTtl`, `waitTimeout`,
 * `ttl`: positive and finite), `poll` (a `Schedule`), `url` and `password` (a string or a
 * `Redacted` one). The first that is not is the `InvalidArgument`. `null` is taken as not given.
 *
 * @internal
 */
export const read = (options: unknown): Either.Either<Read, WeChatError.InvalidArgument> =>
  Either.gen(function*() {
    const fields = yield* copy(options)
    const keyPrefix = fields.keyPrefix ?? undefined
    if (keyPrefix !== undefined && (typeof keyPrefix !== "string" || keyPrefix.length > maxKeyPrefixLength)) {
      return yield* invalid("keyPrefix", `must be a string of at most ${maxKeyPrefixLength} characters`)
    }
    const poll = fields.poll ?? undefined
    if (poll !== undefined && !isSchedule(poll)) {
      return yield* invalid("poll", "must be a Schedule")
    }
    return {
      fields,
      keyPrefix,
      commandTimeout: yield* duration(fields, "commandTimeout", maxTimerMillis),
      connectTimeout: yield* duration(fields, "connectTimeout", maxTimerMillis),
      lockTtl: yield* duration(fields, "lockTtl"),
      waitTimeout: yield* duration(fields, "waitTimeout"),
      ttl: yield* duration(fields, "ttl"),
      poll: poll as Schedule.Schedule<unknown> | undefined,
      url: yield* secretText(fields, "url"),
      password: yield* secretText(fields, "password")
    }
  })
