/**
 * The durations of the stores' options, checked.
 *
 * @internal
 */
import { WeChatError } from "@wxauth/core"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"

/**
 * `input` (or `fallback`) as a positive finite duration, else an `InvalidArgument` for `argument`
 * (whatever `input` is: a value `Duration.decodeUnknown` throws on is refused too).
 *
 * @internal
 */
export const positiveDuration = (
  argument: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.DurationInput
): Either.Either<Duration.Duration, WeChatError.InvalidArgument> => {
  let decoded: Option.Option<Duration.Duration>
  try {
    decoded = Duration.decodeUnknown(input ?? fallback)
  } catch {
    decoded = Option.none()
  }
  return Option.isSome(decoded) && Duration.isFinite(decoded.value) && Duration.toMillis(decoded.value) >= 1
    ? Either.right(decoded.value)
    : Either.left(
      new WeChatError.InvalidArgument({ argument, description: "must be a positive finite duration" })
    )
}
