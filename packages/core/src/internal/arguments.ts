/**
 * Checks of a caller's arguments. Callers in JavaScript (and through the compat layer) can pass
 * anything: a wrong type, `null`, a 10 MB string. Each check answers with an `InvalidArgument`
 * naming the argument, never a thrown `TypeError`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { types as NodeTypes } from "node:util"
import { InvalidArgument } from "../WeChatError.js"
import { guard, guardOr } from "./guard.js"
import * as UserId from "./userId.js"

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
 * Whether the URL parser would not read `text` as written: it drops tabs and line breaks anywhere
 * and trims C0 controls and spaces at the ends, so a URL checked after parsing would not be the
 * string given (a control anywhere, DEL, or a space at an end). A space inside is kept: the parser
 * encodes it where it is, and a host cannot hold one. The rule of `redirectUri` and of the proxy URL.
 *
 * @internal
 */
// eslint-disable-next-line no-control-regex
export const urlParserAlters = (text: string): boolean => /[\x00-\x1f\x7f]|^ | $/.test(text)

/** What an openid must be; never the value. @internal */
export const openidRule = `must be 1 to ${maxOpenidLength} printable ASCII characters without a space`

/**
 * `undefined` when `openid` holds the user-id rule (the one the stores hold their ids to), else the
 * failure: a bad argument is an `InvalidArgument`, never the store's refusal.
 *
 * @internal
 */
export const checkOpenid = (openid: unknown): Effect.Effect<never, InvalidArgument> | undefined =>
  UserId.isWeChatUserId(openid) ? undefined : fail("openid", openidRule)

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
 * `undefined` when `value` is `undefined` or a boolean, else an `InvalidArgument` naming `argument`.
 *
 * @internal
 */
export const checkOptionalBoolean = (
  argument: string,
  value: unknown
): Effect.Effect<never, InvalidArgument> | undefined =>
  value === undefined || typeof value === "boolean" ? undefined : fail(argument, "must be a boolean")

/**
 * The options object as a plain copy, `{}` for `undefined` / `null`; `undefined` for anything else
 * that is not an object, or that cannot be read (the caller fails with `InvalidArgument`). The
 * fields (`keys`, else every enumerable one) are read once, here (see `readFields`).
 *
 * @internal
 */
export const optionsOf = (options: unknown, keys?: ReadonlyArray<string>): Record<string, unknown> | undefined => {
  const read = readFields(options, keys)
  return Either.isLeft(read) ? undefined : read.right ?? {}
}

/**
 * What a value is said to be when looking at it threw; `guard` runs a look at a caller's value
 * (a property, `instanceof`, `Array.isArray`, a getter, a method of it) under a guard, `guardOr`
 * with a fallback. The one place where a caller's exotic value is turned from a throw into "not a
 * valid value": every check of a value a caller gave, when it does more than `typeof`, runs under
 * them or on a copy `readFields` made. (Defined in `internal/guard.ts`, which has no dependency.)
 *
 * @internal
 */
export { guard, guardOr, unreadable } from "./guard.js"

/**
 * A caller's options object, its `keys` (else every enumerable key) read once, each getter run
 * once, into a plain object nothing can change afterwards: `Right(undefined)` for `undefined` /
 * `null`, `Left(description)` for anything that is not an object (an array, a function, a string)
 * or whose fields cannot be read (a throwing getter, a revoked Proxy).
 *
 * @internal
 */
export const readFields = (
  value: unknown,
  keys?: ReadonlyArray<string>
): Either.Either<Record<string, unknown> | undefined, string> => {
  if (value === undefined || value === null) return Either.right(undefined)
  if (typeof value !== "object") return Either.left("must be an object")
  return Either.flatMap(
    guard((): Either.Either<Record<string, unknown>, string> => {
      if (Array.isArray(value)) return Either.left("must be an object")
      const source = value as Record<string, unknown>
      const fields: Record<string, unknown> = {}
      if (keys === undefined) {
        // an own "__proto__" (from JSON.parse) would set the copy's prototype: no option has that name
        for (const key in source) if (key !== "__proto__") fields[key] = source[key]
      } else {
        for (const key of keys) fields[key] = source[key]
      }
      return Either.right(fields)
    }),
    (fields) => fields
  )
}

/**
 * `readFields`, failing with an `InvalidArgument` naming `argument`.
 *
 * @internal
 */
export const readOptions = (
  argument: string,
  value: unknown,
  keys: ReadonlyArray<string>
): Either.Either<Record<string, unknown> | undefined, InvalidArgument> =>
  Either.mapLeft(readFields(value, keys), (description) => invalid(argument, description))

/**
 * `readFields`, failing with a `ConfigError` at `path` (`[]` for the options themselves).
 *
 * @internal
 */
export const readConfig = (
  path: ReadonlyArray<string>,
  value: unknown,
  keys: ReadonlyArray<string>
): Either.Either<Record<string, unknown> | undefined, ConfigError.ConfigError> =>
  Either.mapLeft(readFields(value, keys), (description) => ConfigError.InvalidData([...path], `options ${description}`))

/**
 * The text of a `Redacted` string a caller gave; `undefined` for anything else (a plain string
 * included), never a throw: a Proxy, or an object that poses as `Redacted` (its symbol, not made by
 * `Redacted.make`), is not one.
 *
 * @internal
 */
export const redactedText = (value: unknown): string | undefined => {
  if (typeof value !== "object" || value === null) return undefined
  // on hot paths (each endpoint call): no allocation
  const text: unknown = guardOr(() => Redacted.isRedacted(value) ? Redacted.value(value) : undefined, undefined)
  return typeof text === "string" ? text : undefined
}

/**
 * The text of a string or a `Redacted` string a caller gave (a secret may come either way);
 * `undefined` for anything else, never a throw.
 *
 * @internal
 */
export const secretText = (value: unknown): string | undefined =>
  typeof value === "string" ? value : redactedText(value)

/**
 * The rule for a secret's text (an app or component secret, a state secret, a `TokenCipher` key):
 * a well-formed string. A secret becomes a key (an HMAC's, a hash's) or a request's field through
 * its UTF-8 bytes, and a lone UTF-16 surrogate is encoded as U+FFFD's: "k\uD800", "k\uDC00" and
 * "k\uFFFD" would be one key, a state signed with one verified with the others (a cipher key's
 * base64 decoding skips it: "K\uD800" is the key "K"). `undefined` when `text` holds it, else what
 * is wrong (never the text), for the caller's typed error naming the field. The component's token
 * and EncodingAESKey have their own ASCII patterns, which hold it. With `usedAsIs` (a secret sent to
 * WeChat as it is: the app's, a component's), leading or trailing whitespace is refused too: a
 * newline kept from an env file would otherwise be sent with every exchange (WeChat answers 40125 at
 * each login). Not for a state secret: a local HMAC key, which every process reading the same secret
 * file (a trailing newline kept) derives alike; nor a `TokenCipher` key, trimmed before decoding.
 *
 * @internal
 */
export const secretTextProblem = (
  text: string,
  options?: { readonly usedAsIs?: boolean | undefined }
): string | undefined =>
  !text.isWellFormed()
    ? "must be a well-formed string (no lone UTF-16 surrogate: secrets that differ only there would be one key)"
    : options?.usedAsIs === true && text.trim() !== text
    ? "must not have leading or trailing whitespace (a newline or a space kept from an env file?)"
    : undefined

/**
 * The longest deadline accepted for a timer (a request's timeout, a connect timeout): 24 days. A
 * Node timer holds at most 2^31-1 ms (about 24.8 days); past that it fires after 1 ms, and every
 * call would fail at once. `maxTimerRule` is what a refused value is told.
 *
 * @internal
 */
export const maxTimerMillis = 24 * 24 * 60 * 60 * 1000

/** @internal */
export const maxTimerRule = "at most 24 days"

/**
 * A memory store's bound on its entries, from a caller's `maxEntries`: a number of at least 1,
 * rounded down (`Infinity`: no bound), one below 1 is 1; anything else (absent, `NaN`, text, a
 * BigInt, a Symbol, an object) is `fallback`. Never a throw, and never `NaN` (a bound no size is
 * within: the store would forget each entry as it is written).
 *
 * @internal
 */
export const entriesBound = (value: unknown, fallback: number): number =>
  typeof value === "number" && !Number.isNaN(value) ? Math.max(1, Math.floor(value)) : fallback

/**
 * `Duration.decodeUnknown` for a caller's value, never a throw: a Proxy (or anything whose look
 * throws) is not a duration.
 *
 * @internal
 */
export const durationOf = (input: unknown): Option.Option<Duration.Duration> =>
  Either.getOrElse(guard(() => Duration.decodeUnknown(input)), () => Option.none())

/**
 * Whether a duration a caller gave says a negative amount, which `Duration.decode` reads as zero
 * without a word: a number below zero or `NaN`, a negative BigInt, a text whose amount is negative
 * (`"-5 seconds"`; `"-0 seconds"` is zero), a `[seconds, nanos]` pair with a `NaN`, a `-Infinity` or
 * a total below zero. `input` is a value read once (see `nonNegativeDurationOf`). Total, never a
 * throw: a pair whose seconds are too many to count in nanoseconds (`[1e300, 0]`, `[-1e300, 0]`:
 * the product is not finite, which `BigInt` refuses with a `RangeError`) says no negative amount
 * here; it is no duration at all (`Duration.decode` throws on it, and `durationOf` answers none).
 */
const saysNegative = (input: unknown): boolean => {
  if (typeof input === "number") return !(input >= 0)
  if (typeof input === "bigint") return input < BigInt(0)
  if (typeof input === "string") {
    // Duration's own pattern: an optional "-", the amount, spaces, the unit
    const amount = /^-(\d+(?:\.\d+)?)\s/.exec(input)
    return amount !== null && Number(amount[1]) > 0
  }
  if (Array.isArray(input) && input.length === 2) {
    const [seconds, nanos] = input as ReadonlyArray<unknown>
    if (typeof seconds !== "number" || typeof nanos !== "number") return false
    if (Number.isNaN(seconds) || Number.isNaN(nanos) || seconds === -Infinity || nanos === -Infinity) return true
    if (seconds === Infinity || nanos === Infinity) return false
    // as Duration.decode adds them; a product that is not finite is no duration (left to durationOf)
    const total = seconds * 1_000_000_000
    if (!Number.isFinite(total)) return false
    return BigInt(Math.round(total)) + BigInt(Math.round(nanos)) < BigInt(0)
  }
  return false
}

/**
 * A caller's duration option when it is a finite duration of zero or more, of at most `maxMillis`
 * milliseconds (`Infinity`: no upper bound), else none: never a throw. A number is milliseconds.
 * A negative amount in any form (`-1`, `NaN`, `"-5 seconds"`, `[-5, 0]`, a negative BigInt) is
 * none: `Duration` would read it as zero, and a bad value must never become a zero wait or a zero
 * lifetime. An array is read once (a `[seconds, nanos]` pair: its two items), so the check and the
 * decoding see the same values. The one reader of such options: `positiveDurationOf` is it, zero
 * left out.
 *
 * @internal
 */
export const nonNegativeDurationOf = (
  input: unknown,
  maxMillis: number = Infinity
): Option.Option<Duration.Duration> => {
  const read = guard((): { readonly value: unknown } | undefined =>
    Array.isArray(input)
      ? input.length === 2 ? { value: [input[0], input[1]] } : undefined
      : { value: input }
  )
  if (Either.isLeft(read) || read.right === undefined || saysNegative(read.right.value)) return Option.none()
  return Option.filter(
    durationOf(read.right.value),
    // a BigInt past ~1.8e314 nanoseconds is a finite Duration whose milliseconds are Infinity
    (duration) =>
      Duration.isFinite(duration) && Number.isFinite(Duration.toMillis(duration)) &&
      Duration.toMillis(duration) <= maxMillis
  )
}

/**
 * A caller's duration option when it is a positive, finite duration of at most `maxMillis`
 * milliseconds (`Infinity`: no upper bound), else none: never a throw. `nonNegativeDurationOf`
 * without zero: `NaN`, a negative number, a text that decodes to zero or less (`"-5 seconds"`),
 * `Infinity` are none.
 *
 * @internal
 */
export const positiveDurationOf = (input: unknown, maxMillis: number = Infinity): Option.Option<Duration.Duration> =>
  Option.filter(
    nonNegativeDurationOf(input, maxMillis),
    (duration) => Duration.greaterThan(duration, Duration.zero)
  )

/**
 * The longest URL or query read from a caller: a redirect URI, a return path, a callback URL, a
 * push's query. A query given as `URLSearchParams` or an object of parameters is held to it in its
 * pairs' own characters (`name=value` joined by `&`), by {@link readQuery}.
 *
 * @internal
 */
export const maxUrlLength = 8192

/** {@link readQuery}'s answer for a query longer than {@link maxUrlLength}. @internal */
export const queryTooLong = `is over ${maxUrlLength} characters`

/** What a caller's query yielded where a string was due (an iterator's odd pair, an odd `href`): unreadable. */
const notText = (): never => {
  throw new TypeError("not a string")
}

/** The mark of a query over the bound, inside `readQuery`'s guard. */
const overBound: unique symbol = Symbol("overBound")

/**
 * A caller's query read once, bounded, under a guard: the one rule for every form a query takes, so
 * none is read further than {@link maxUrlLength} characters of the query it stands for.
 *
 * - A string: as it is. A `URL`: its `href`. Either longer than the bound is `Left(queryTooLong)`.
 * - `URLSearchParams`: a fresh copy of ours, read pair by pair through its own iterator and given
 *   up (`Left(queryTooLong)`) as soon as its pairs' own characters (`name=value` joined by `&`,
 *   unencoded: what a query string carrying them holds at least) pass the bound, so a
 *   caller's million parameters or 50 MB value is neither copied nor walked to its end.
 * - With `fields`, an object of parameters (Express's `req.query`), the same way, but only the
 *   own fields named (JavaScript lists all of an object's keys to enumerate any: a million of them
 *   take a second, so the others are never looked at): a string as the parameter, an array as the
 *   parameter repeated (read no further than the bound), `undefined` as no parameter, any other
 *   value (a number, a nested object) as `"\u0000"` (a value no parameter takes).
 *
 * Anything else is `Right(undefined)`, for the caller's own message. `Left(unreadable)` when the
 * value cannot be read: a revoked or trapping Proxy, a throwing getter or iterator, an object that
 * passes `instanceof URL` / `URLSearchParams` without being one, an iterator that yields no pair of
 * strings.
 *
 * @internal
 */
export const readQuery = (
  value: unknown,
  options?: { readonly fields?: ReadonlyArray<string> }
): Either.Either<string | URLSearchParams | undefined, string> => {
  if (typeof value === "string") return value.length > maxUrlLength ? Either.left(queryTooLong) : Either.right(value)
  const read = guard((): string | URLSearchParams | undefined | typeof overBound => {
    if (typeof value !== "object" || value === null) return undefined
    if (value instanceof URL) {
      const href: unknown = value.href
      if (typeof href !== "string") return notText()
      return href.length > maxUrlLength ? overBound : href
    }
    const params = new URLSearchParams()
    // the pairs' own characters, `name=value` joined by `&`: what a query string carrying them
    // holds at least (the callback's `/`, `:`, `@` stand there as they are; `URLSearchParams`
    // writes them as `%XX`, which would hold an honest query to a third of the bound)
    let length = -1
    const add = (name: string, text: string): boolean => {
      length += 2 + name.length + text.length
      if (length > maxUrlLength) return false
      params.append(name, text)
      return true
    }
    if (value instanceof URLSearchParams) {
      for (const pair of value as Iterable<unknown>) {
        if (!Array.isArray(pair)) return notText()
        const name: unknown = pair[0]
        const text: unknown = pair[1]
        if (typeof name !== "string" || typeof text !== "string") return notText()
        if (!add(name, text)) return overBound
      }
      return params
    }
    const names = options?.fields
    if (names === undefined || Array.isArray(value)) return undefined
    const fields = value as Record<string, unknown>
    for (const name of names) {
      const field = Object.hasOwn(fields, name) ? fields[name] : undefined
      if (field === undefined) continue
      if (Array.isArray(field)) {
        for (let i = 0; i < field.length; i++) {
          const item: unknown = field[i]
          if (!add(name, typeof item === "string" ? item : "\u0000")) return overBound
        }
      } else if (!add(name, typeof field === "string" ? field : "\u0000")) return overBound
    }
    return params
  })
  if (Either.isLeft(read)) return Either.left(read.left)
  return read.right === overBound ? Either.left(queryTooLong) : Either.right(read.right)
}

/**
 * `Config.unwrap` for a caller's value: anything but an object of `Config`s (nested objects
 * allowed) is a `ConfigError` instead of a defect.
 *
 * @internal
 */
export const unwrapConfig = <A>(
  name: string | undefined,
  options: Config.Config.Wrap<A>
): Effect.Effect<A, ConfigError.ConfigError> => {
  const invalidConfig = (description: string) =>
    Effect.fail(ConfigError.InvalidData(name === undefined ? [] : [name], description))
  /**
   * A plain copy of `u` when it is a Config or an object of them (nested up to 4 deep), else
   * `undefined`. A nested object without fields (`{}`, a Redacted, a Date, a Promise: none holds a
   * Config) is not one: `Config.unwrap` makes it a struct of nothing, which throws when loaded.
   */
  const copy = (u: unknown, depth: number): unknown => {
    if (Config.isConfig(u)) return u
    if (depth >= 4 || typeof u !== "object" || u === null || Array.isArray(u)) return undefined
    const fields: Record<string, unknown> = {}
    const keys = Object.keys(u)
    if (depth > 0 && keys.length === 0) return undefined
    for (const key of keys) {
      const value = copy((u as Record<string, unknown>)[key], depth + 1)
      if (value === undefined) return undefined
      fields[key] = value
    }
    return fields
  }
  // read once, guarded: a throwing getter or a revoked Proxy is a ConfigError, never a defect
  const copied = guard(() =>
    typeof options === "object" && options !== null && !Config.isConfig(options)
      ? copy(options, 0)
      : undefined
  )
  if (Either.isLeft(copied)) return invalidConfig(`the Config values ${copied.left}`)
  if (copied.right === undefined) return invalidConfig("expected an object of Config values")
  // Config.unwrap cannot take an empty object
  if (Object.keys(copied.right as object).length === 0) return Effect.succeed({} as A)
  return loadConfig(name === undefined ? [] : [name], Config.unwrap(copied.right as Config.Config.Wrap<A>))
}

/** What a Config that threw while loading is said to be (never the thrown value: it may hold a secret). */
const configThrew = "cannot be loaded (a Config threw while loading)"

/**
 * A caller's `Config` loaded, a throw while loading it (a `Config.sync` or `Config.map` function of
 * the caller's that throws, a Config that is not one of Effect's) a `ConfigError` at `path` instead
 * of a defect, which names neither the thrown value nor its message (a caller's message may hold a
 * secret). A Config's own failure (a missing variable) is as it is; an interruption too.
 *
 * @internal
 */
export const loadConfig = <A>(
  path: ReadonlyArray<string>,
  config: Config.Config<A>
): Effect.Effect<A, ConfigError.ConfigError> =>
  Effect.catchAllCause(
    // a Config is an Effect that loads it from the ConfigProvider in context; one that is not
    // Effect's own is loaded through a Config of ours (the provider walks it, under this guard)
    Effect.suspend(() => Config.map(config, (value) => value)),
    (cause) =>
      Cause.isDie(cause) && !Cause.isInterrupted(cause)
        ? Effect.fail(ConfigError.InvalidData([...path], `the Config values ${configThrew}`))
        : Effect.failCause(cause)
  )

// what Effect's run loop reads a value's `_op` as (its instructions, and Option's, Either's, a Tag's
// and Micro's own)
const effectOpcodes: ReadonlySet<unknown> = new Set([
  "Async",
  "Commit",
  "Failure",
  "Iterator",
  "Left",
  "Micro",
  "None",
  "OnFailure",
  "OnStep",
  "OnSuccess",
  "OnSuccessAndFailure",
  "RevertFlags",
  "Right",
  "Some",
  "Success",
  "Sync",
  "Tag",
  "UpdateRuntimeFlags",
  "While",
  "WithRuntime",
  "Yield"
])

/** A data property of `u` (own or inherited), read without calling a getter or a Proxy's trap. */
const dataProperty = (u: object, key: string): { readonly value: unknown } | undefined => {
  for (let at: object | null = u; at !== null; at = Object.getPrototypeOf(at)) {
    if (NodeTypes.isProxy(at)) return undefined
    const descriptor = Object.getOwnPropertyDescriptor(at, key)
    if (descriptor !== undefined) return "value" in descriptor ? { value: descriptor.value } : undefined
  }
  return undefined
}

const plainObject = (u: unknown): u is object => typeof u === "object" && u !== null && !NodeTypes.isProxy(u)

/** A fresh copy of a FiberId made of data properties, or undefined. */
const copyFiberId = (u: unknown, budget: { left: number }, depth: number): FiberId.FiberId | undefined => {
  if (--budget.left < 0 || depth > 1_000 || !plainObject(u) || !FiberId.isFiberId(u)) return undefined
  const tag = dataProperty(u, "_tag")?.value
  if (tag === "None") return FiberId.none
  if (tag === "Runtime") {
    const id = dataProperty(u, "id")?.value
    const started = dataProperty(u, "startTimeMillis")?.value
    return typeof id === "number" && typeof started === "number" ? FiberId.runtime(id, started) : undefined
  }
  if (tag !== "Composite") return undefined
  const left = copyFiberId(dataProperty(u, "left")?.value, budget, depth + 1)
  const right = left && copyFiberId(dataProperty(u, "right")?.value, budget, depth + 1)
  return left && right && FiberId.composite(left, right)
}

/**
 * A fresh copy of a Cause made of data properties (its errors and defects as they are), or
 * undefined: Effect's run loop and its reporting walk a failure's Cause and throw out of the fiber
 * on a node they do not know. Iterative (Effect builds deep Causes itself: 600 failing tasks in
 * `Effect.all`, 600 dying finalizers), at most `budget` nodes (a cycle ends there).
 */
const copyCause = (root: unknown, budget: { left: number }): Cause.Cause<unknown> | undefined => {
  const work: Array<{ readonly visit: unknown } | { readonly combine: "Sequential" | "Parallel" }> = [{ visit: root }]
  const built: Array<Cause.Cause<unknown>> = []
  while (work.length > 0) {
    const item = work.pop()!
    if ("combine" in item) {
      const right = built.pop()!
      const left = built.pop()!
      built.push(item.combine === "Sequential" ? Cause.sequential(left, right) : Cause.parallel(left, right))
      continue
    }
    const u = item.visit
    if (--budget.left < 0 || !plainObject(u) || !Cause.isCause(u)) return undefined
    const tag = dataProperty(u, "_tag")?.value
    if (tag === "Empty") {
      built.push(Cause.empty)
    } else if (tag === "Fail" || tag === "Die") {
      const content = dataProperty(u, tag === "Fail" ? "error" : "defect")
      if (content === undefined) return undefined
      built.push(tag === "Fail" ? Cause.fail(content.value) : Cause.die(content.value))
    } else if (tag === "Interrupt") {
      const fiberId = copyFiberId(dataProperty(u, "fiberId")?.value, budget, 0)
      if (fiberId === undefined) return undefined
      built.push(Cause.interrupt(fiberId))
    } else if (tag === "Sequential" || tag === "Parallel") {
      const left = dataProperty(u, "left")
      const right = dataProperty(u, "right")
      if (left === undefined || right === undefined) return undefined
      // left is built first: it is popped first
      work.push({ combine: tag }, { visit: right.value }, { visit: left.value })
    } else {
      return undefined
    }
  }
  return built.length === 1 ? built[0] : undefined
}

/**
 * The Effect to run for a value a caller's function returned, or undefined when Effect's run loop
 * cannot take it safely. Effect's run loop reads an Effect's `_op` again, unguarded, while it
 * handles a failure, and walks a failure's Cause: a Proxy, a getter that throws, an unknown `_op`
 * or a forged Cause escapes the fiber (an uncaught error, a call that never settles). So:
 *
 * - an Effect that is not a Proxy, whose `_op` (on it or its prototypes) is a plain data property
 *   naming one of the run loop's instructions, is run as it is;
 * - an Exit is run as a fresh copy (a Success's value; a Failure's Cause rebuilt node by node, at
 *   most 100,000 nodes);
 * - a Tag behind a Proxy (`Effect.Tag` and `Effect.Service` classes with accessors: Effect's own
 *   Proxy) is looked up by its key, read once here: the Proxy never reaches the run loop (a missing
 *   service is a defect, "Service not found: <key>", as the run loop makes it);
 * - `Blocked` and `RunBlocked` (request batching's instructions, from `Effect.blocked` and
 *   `Effect.runRequestBlock`) are refused: no caller of ours has a use for them, and a forged one
 *   spins the event loop.
 *
 * A genuine Effect that throws such a value is beyond any check of the returned one.
 *
 * @internal
 */
export const runnableEffect = (value: unknown): Effect.Effect<unknown, unknown, unknown> | undefined =>
  guardOr((): Effect.Effect<unknown, unknown, unknown> | undefined => {
    if ((typeof value !== "object" && typeof value !== "function") || value === null) return undefined
    if (NodeTypes.isProxy(value) || !Effect.isEffect(value)) return undefined
    for (let at: object | null = value; at !== null; at = Object.getPrototypeOf(at)) {
      if (NodeTypes.isProxy(at)) {
        // a Proxy among the prototypes: Effect's own for `Effect.Tag` and `Effect.Service` classes
        // with accessors; anything else that has one is refused
        if (!Context.isTag(value) || Context.isReference(value)) return undefined
        const key: unknown = (value as { readonly key: unknown }).key
        if (typeof key !== "string") return undefined
        // looked up by key, as the run loop would, without a Tag of ours (whose "defined at" would
        // point at this file)
        return Effect.contextWithEffect((context: Context.Context<never>) =>
          context.unsafeMap.has(key)
            ? Effect.succeed(context.unsafeMap.get(key))
            : Effect.dieMessage(`Service not found: ${key}`)
        )
      }
      const op = Object.getOwnPropertyDescriptor(at, "_op")
      if (op === undefined) continue
      if (!("value" in op) || !effectOpcodes.has(op.value)) return undefined
      if (op.value === "Success" || op.value === "Failure") {
        if (!Exit.isExit(value)) return undefined
        const content = dataProperty(value, "effect_instruction_i0")
        if (content === undefined) return undefined
        if (op.value === "Success") return Exit.succeed(content.value)
        const cause = copyCause(content.value, { left: 100_000 })
        return cause && Exit.failCause(cause)
      }
      return value as Effect.Effect<unknown, unknown, unknown>
    }
    return undefined
  }, undefined)

/**
 * True for a value a caller's function returned that Effect's run loop can take (see
 * `runnableEffect`, which gives the Effect to run).
 *
 * @internal
 */
export const isRunnableEffect = (value: unknown): boolean => runnableEffect(value) !== undefined
