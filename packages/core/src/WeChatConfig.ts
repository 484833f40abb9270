/**
 * The configuration of one WeChat app: its appid and secret, the hosts to call, the request timeout
 * and the secret that signs states. One config = one app: a site with official-account login and
 * website QR login has two apps, so two configs.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"
import * as Arguments from "./internal/arguments.js"
import type { CipherKey } from "./internal/cipherKey.js"
import * as StateTtl from "./internal/stateTtl.js"

/**
 * The resolved configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface WeChatConfigShape {
  readonly appId: string
  readonly appSecret: Redacted.Redacted<string>
  /** Base URL of the API host, without a trailing slash. Default `https://api.weixin.qq.com`. */
  readonly apiBaseUrl: string
  /** Base URL of the consent pages, without a trailing slash. Default `https://open.weixin.qq.com`. */
  readonly openBaseUrl: string
  /** Deadline of one request to WeChat. Default 5 seconds. */
  readonly timeout: Duration.Duration
  /** Signs states. Default: derived from the app secret (stable across processes). */
  readonly stateSecret: Redacted.Redacted<Uint8Array>
  /**
   * Keys whose states are still verified, never used to sign: the secrets of a rotation (see
   * `Options.acceptedStateSecrets`). Absent or empty: only `stateSecret`'s states are.
   */
  readonly acceptedStateSecrets?: ReadonlyArray<Redacted.Redacted<Uint8Array>> | undefined
  /** How long a signed state stays valid. Default 10 minutes. */
  readonly stateTtl: Duration.Duration
  /** Keys for `TokenCipher.layerFromWeChatConfig` (empty: tokens are stored as they are). */
  readonly cipherKeys: ReadonlyArray<CipherKey>
  /**
   * The largest answer accepted from WeChat, in bytes. Default 65 536: WeChat's answers are a few
   * hundred bytes; a larger one is refused (`MalformedResponse`) as soon as it is announced or read.
   */
  readonly maxResponseBytes: number
}

/**
 * @since 0.1.0
 * @category tags
 */
export class WeChatConfig extends Context.Tag("@wxauth/core/WeChatConfig")<WeChatConfig, WeChatConfigShape>() {}

/**
 * Options of `layer` / `makeEither`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly appId: string
  /** 1 to 128 printable ASCII characters without spaces (WeChat's are 32 hex characters). */
  readonly appSecret: Redacted.Redacted<string> | string
  /**
   * An absolute http(s) URL of at most 2048 characters, without credentials, query or fragment.
   * Default `https://api.weixin.qq.com`.
   */
  readonly apiBaseUrl?: string | undefined
  /** As `apiBaseUrl`. Default `https://open.weixin.qq.com`. */
  readonly openBaseUrl?: string | undefined
  readonly timeout?: Duration.DurationInput | undefined
  /** A well-formed string of 16 to 65,536 characters. Default: derived from the app secret. */
  readonly stateSecret?: Redacted.Redacted<string> | string | undefined
  /**
   * Secrets (16 to 65,536 characters each, at most 4 of them) whose states are still accepted, never
   * used to sign: rotating `stateSecret` without failing the logins in progress. Across processes,
   * in two deploys: first add the new secret here everywhere (states are still signed with the old
   * one), then make it `stateSecret` and put the old one here; drop the old one once a state's
   * lifetime (`stateTtl`) has passed.
   */
  readonly acceptedStateSecrets?: ReadonlyArray<Redacted.Redacted<string> | string> | undefined
  /**
   * How long a state made without its own `ttl` stays valid: a positive duration of at most
   * `maxStateTtl` (1 day); anything else is a `ConfigError`. Default 10 minutes.
   */
  readonly stateTtl?: Duration.DurationInput | undefined
  readonly cipherKeys?: ReadonlyArray<CipherKey> | undefined
  readonly maxResponseBytes?: number | undefined
}

/**
 * WeChat's real hosts.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults = {
  apiBaseUrl: "https://api.weixin.qq.com",
  openBaseUrl: "https://open.weixin.qq.com",
  timeout: Duration.seconds(5),
  stateTtl: Duration.minutes(10),
  maxResponseBytes: 65_536
} as const

/**
 * The longest state lifetime accepted (`stateTtl`, and `StateToken`'s `ttl`): 1 day. A state only
 * has to outlive one login; a longer one keeps a leaked state usable, and a rotated-out state
 * secret needed, for longer.
 *
 * @since 0.2.0
 * @category constants
 */
export const maxStateTtl: Duration.Duration = Duration.millis(StateTtl.maxMillis)

/** The largest `maxResponseBytes` accepted: 16 MiB. */
const maxResponseBytesLimit = 16 * 1024 * 1024

/**
 * The longest base URL: an origin and a short path to a gateway, prefixed to every request's URL.
 * Checked before parsing (a 10 MB value would be parsed, then sent with every request) and after
 * (percent-encoding lengthens it).
 */
const maxBaseUrlLength = 2048

const baseUrl = (name: string, value: unknown): Either.Either<string, ConfigError.ConfigError> => {
  if (typeof value !== "string") return Either.left(ConfigError.InvalidData([name], "must be a string"))
  const tooLong = ConfigError.InvalidData([name], `must be an absolute URL of at most ${maxBaseUrlLength} characters`)
  if (value.length > maxBaseUrlLength) return Either.left(tooLong)
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return Either.left(ConfigError.InvalidData([name], `not an absolute URL`))
  }
  if (url.username !== "" || url.password !== "") {
    // they would be sent with every request and recorded wherever the URL is (spans, logs)
    return Either.left(ConfigError.InvalidData([name], "must not carry credentials (user:password@)"))
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return Either.left(ConfigError.InvalidData([name], `must be an http(s) URL`))
  }
  if (url.search !== "" || url.hash !== "") {
    return Either.left(ConfigError.InvalidData([name], `must not have a query or fragment`))
  }
  const href = withoutTrailingSlashes(url.toString())
  return href.length > maxBaseUrlLength ? Either.left(tooLong) : Either.right(href)
}

/**
 * `text` without the slashes it ends with: a scan from the end, linear (`/\/+$/` backtracks over every
 * run of slashes inside the text: a base URL with 50,000 of them took a second).
 */
const withoutTrailingSlashes = (text: string): string => {
  let end = text.length
  while (end > 0 && text.charCodeAt(end - 1) === 47) end--
  return text.slice(0, end)
}

const positiveDuration = (name: string, input: unknown): Either.Either<Duration.Duration, ConfigError.ConfigError> => {
  const decoded = Arguments.durationOf(input)
  // a deadline of Infinity would be no deadline at all
  return Option.isSome(decoded) && Duration.isFinite(decoded.value) &&
      Duration.greaterThan(decoded.value, Duration.zero)
    ? Either.right(decoded.value)
    : Either.left(ConfigError.InvalidData([name], "must be a positive, finite duration, e.g. \"5 seconds\""))
}

/** A request's deadline: a positive duration a Node timer can hold (`Arguments.maxTimerMillis`). */
const timerDuration = (name: string, input: unknown): Either.Either<Duration.Duration, ConfigError.ConfigError> =>
  Either.flatMap(positiveDuration(name, input), (duration) =>
    Duration.toMillis(duration) <= Arguments.maxTimerMillis
      ? Either.right(duration)
      : Either.left(
        ConfigError.InvalidData([name], `must be a positive, finite duration of ${Arguments.maxTimerRule}`)
      ))

/** A string, or the text of a `Redacted` string; `undefined` for anything else (never a throw). */
const secretText = Arguments.secretText

const positiveInt = (name: string, value: unknown, max: number): Either.Either<number, ConfigError.ConfigError> =>
  typeof value === "number" && Number.isSafeInteger(value) && value > 0 && value <= max
    ? Either.right(value)
    : Either.left(ConfigError.InvalidData([name], `must be an integer from 1 to ${max}`))

const optionKeys = [
  "appId",
  "appSecret",
  "apiBaseUrl",
  "openBaseUrl",
  "timeout",
  "stateSecret",
  "acceptedStateSecrets",
  "stateTtl",
  "maxResponseBytes",
  "cipherKeys"
]

/** The most secrets `acceptedStateSecrets` takes (each is one more HMAC for a state that fails). */
const maxAcceptedStateSecrets = 4

/** A state secret's text made into its key (an explicit `stateSecret`'s rule). */
const stateKeyOf = (text: string): Redacted.Redacted<Uint8Array> =>
  Redacted.make(new Uint8Array(Crypto.createHash("sha256").update(text).digest()))

const noAcceptedStateSecrets: ReadonlyArray<never> = []

/**
 * The app secret (and a component's, through `makeEither`) is sent to WeChat as it is: no whitespace
 * around it. A state secret is only a local HMAC key: it keeps the well-formed rule alone (one read
 * from a secret file by every process, trailing newline included, signs and verifies alike).
 */
const usedAsIs = { usedAsIs: true } as const

/**
 * The longest app secret accepted (a platform's component secret too): WeChat's are 32 hex
 * characters. A longer one was only refused when sent, at every request (a query too long for the
 * server: HTTP 431), instead of when the config is built.
 */
const maxAppSecretLength = 128

/** The shortest and longest state secret accepted (`stateSecret`, each of `acceptedStateSecrets`). */
const minStateSecretLength = 16
// a state secret is an HMAC key (hashed once, at startup): its length costs nothing later, but a
// config's 10 MB is a mistake; 64 KiB holds any key a user makes (`openssl rand -hex 1024` is 2,048)
const maxStateSecretLength = 65_536

const appSecretRule =
  `must be 1 to ${maxAppSecretLength} printable ASCII characters without spaces (WeChat's are 32 hex characters)`
const stateSecretRule = `must be a string of ${minStateSecretLength} to ${maxStateSecretLength} characters`

/**
 * The one check of every secret a config reads (`layer`, `layerConfig`, `layerFromEnv`, `WeChatApps`'
 * apps and registry, a `Component`'s config all come through `makeEither`): what is wrong with its
 * text, never quoting it, or `undefined`. An app secret (sent to WeChat as it is) is 1 to 128
 * printable ASCII characters without spaces, without whitespace around it; a state secret (a local
 * HMAC key, kept as read, a trailing newline included) is a well-formed string of 16 to 65,536
 * characters. The length is checked first: a 10 MB value is not scanned.
 */
const secretProblem = (text: string | undefined, kind: "app" | "state"): string | undefined => {
  if (kind === "state") {
    if (text === undefined || text.length < minStateSecretLength || text.length > maxStateSecretLength) {
      return stateSecretRule
    }
    return Arguments.secretTextProblem(text)
  }
  if (text === undefined || text.length > maxAppSecretLength) return appSecretRule
  return Arguments.secretTextProblem(text, usedAsIs) ?? (/^[\x21-\x7e]+$/.test(text) ? undefined : appSecretRule)
}

/** `acceptedStateSecrets` as keys: a list of at most 4 well-formed secrets of 16 to 65,536 characters each. */
const acceptedStateKeys = (
  given: unknown
): Either.Either<ReadonlyArray<Redacted.Redacted<Uint8Array>>, ConfigError.ConfigError> => {
  if (given === undefined) return Either.right(noAcceptedStateSecrets)
  const fail = (message: string) => Either.left(ConfigError.InvalidData(["acceptedStateSecrets"], message))
  // a copy of the caller's array, taken under the guard
  const copy = Either.getOrElse(
    Arguments.guard(() => Array.isArray(given) ? [...given as ReadonlyArray<unknown>] : undefined),
    () => undefined
  )
  if (copy === undefined) return fail("must be an array of state secrets")
  if (copy.length > maxAcceptedStateSecrets) return fail(`takes at most ${maxAcceptedStateSecrets} secrets`)
  const keys: Array<Redacted.Redacted<Uint8Array>> = []
  for (const secret of copy) {
    const text = secretText(secret)
    const problem = secretProblem(text, "state")
    if (problem !== undefined || text === undefined) return fail(`each secret ${problem ?? stateSecretRule}`)
    keys.push(stateKeyOf(text))
  }
  return Either.right(keys.length === 0 ? noAcceptedStateSecrets : keys)
}

/**
 * Validates options into a configuration. A missing, empty or non-string appid or secret, a secret
 * (app, state, accepted state) that is not a well-formed string (a lone UTF-16 surrogate: encoded as
 * U+FFFD, it would make two secrets one key), an app secret with leading or trailing whitespace (a
 * newline kept from an env file: WeChat would refuse every exchange; a state secret keeps its own, a
 * local key every process reads alike), an app secret that is not 1 to 128 printable ASCII
 * characters without spaces, a state secret (or accepted one) not of 16 to 65,536 characters, a bad base URL (not http(s), with a query, or with
 * `user:password@` credentials), a timeout that is not positive or is over 24 days (a Node timer's
 * limit), a `stateTtl` that is not positive or is over `maxStateTtl` (1 day), or a
 * `maxResponseBytes` outside 1 to 16 MiB is a `ConfigError` naming the field; the
 * message never holds a secret.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeEither = (options: Options): Either.Either<WeChatConfigShape, ConfigError.ConfigError> =>
  Either.gen(function*() {
    // JavaScript callers may pass anything: the fields are read once, guarded (a throwing getter or
    // a revoked Proxy is a ConfigError), and each is checked for its type before it is used
    const read = Arguments.readFields(options, optionKeys)
    if (Either.isLeft(read) && read.left === Arguments.unreadable) {
      return yield* Either.left(ConfigError.InvalidData([], `the options ${Arguments.unreadable}`))
    }
    const fields: Record<string, unknown> = Either.getOrUndefined(read) ?? {}
    const rawAppId = fields.appId
    if (rawAppId !== undefined && typeof rawAppId !== "string") {
      return yield* Either.left(ConfigError.InvalidData(["appId"], "the WeChat appid must be a string"))
    }
    const appId = (rawAppId ?? "").trim()
    if (appId === "") return yield* Either.left(ConfigError.MissingData(["appId"], "the WeChat appid is empty"))
    if (appId.length > 64 || !/^[A-Za-z0-9_-]+$/.test(appId)) {
      return yield* Either.left(ConfigError.InvalidData(["appId"], "the WeChat appid has unexpected characters"))
    }
    const rawSecret = fields.appSecret
    const secret = secretText(rawSecret)
    if (rawSecret !== undefined && secret === undefined) {
      return yield* Either.left(ConfigError.InvalidData(["appSecret"], "the WeChat app secret must be a string"))
    }
    if (secret === undefined || secret.trim() === "") {
      return yield* Either.left(ConfigError.MissingData(["appSecret"], "the WeChat app secret is empty"))
    }
    const appSecretProblem = secretProblem(secret, "app")
    if (appSecretProblem !== undefined) {
      // it would also derive the state key (below): two such secrets, one key
      return yield* Either.left(ConfigError.InvalidData(["appSecret"], `the WeChat app secret ${appSecretProblem}`))
    }
    const appSecret = Arguments.redactedText(rawSecret) === undefined
      ? Redacted.make(secret)
      : rawSecret as Redacted.Redacted<string>
    const apiBaseUrl = yield* baseUrl("apiBaseUrl", fields.apiBaseUrl ?? defaults.apiBaseUrl)
    const openBaseUrl = yield* baseUrl("openBaseUrl", fields.openBaseUrl ?? defaults.openBaseUrl)
    const timeout = yield* timerDuration("timeout", fields.timeout ?? defaults.timeout)
    const stateTtl = yield* Option.match(StateTtl.of(fields.stateTtl ?? defaults.stateTtl), {
      onNone: () => Either.left(ConfigError.InvalidData(["stateTtl"], `must be ${StateTtl.rule}`)),
      onSome: Either.right
    })
    const maxResponseBytes = yield* positiveInt(
      "maxResponseBytes",
      fields.maxResponseBytes ?? defaults.maxResponseBytes,
      maxResponseBytesLimit
    )
    const rawStateSecret = fields.stateSecret
    const explicitStateSecret = secretText(rawStateSecret)
    const stateSecretProblem = rawStateSecret === undefined ? undefined : secretProblem(explicitStateSecret, "state")
    if (stateSecretProblem !== undefined) {
      return yield* Either.left(ConfigError.InvalidData(["stateSecret"], `the state secret ${stateSecretProblem}`))
    }
    // a copy of the caller's array, taken under the guard
    const rawCipherKeys = Either.getOrElse(
      Arguments.guard(() => {
        const keys = fields.cipherKeys
        return Array.isArray(keys) ? [...keys] : keys
      }),
      () => null
    )
    if (rawCipherKeys !== undefined && !Array.isArray(rawCipherKeys)) {
      return yield* Either.left(ConfigError.InvalidData(["cipherKeys"], "must be an array of cipher keys"))
    }
    const stateKey = explicitStateSecret === undefined
      ? Redacted.make(new Uint8Array(Crypto.createHmac("sha256", secret).update(`wxauth/state/${appId}`).digest()))
      : stateKeyOf(explicitStateSecret)
    const acceptedStateSecrets = yield* acceptedStateKeys(fields.acceptedStateSecrets)
    return {
      appId,
      appSecret,
      apiBaseUrl,
      openBaseUrl,
      timeout,
      stateSecret: stateKey,
      acceptedStateSecrets,
      stateTtl,
      cipherKeys: (rawCipherKeys as ReadonlyArray<CipherKey> | undefined) ?? [],
      maxResponseBytes
    }
  })

/**
 * The configuration as a Layer.
 *
 * @example
 * ```ts
 * import { WeChatConfig } from "@wxauth/core"
 * import * as Redacted from "effect/Redacted"
 *
 * const ConfigLive = WeChatConfig.layer({ appId: "wx1234567890abcdef", appSecret: Redacted.make("...") })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<WeChatConfig, ConfigError.ConfigError> =>
  Layer.effect(WeChatConfig, makeEither(options))

/**
 * The configuration from `Config` values.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (options: Config.Config.Wrap<Options>): Layer.Layer<WeChatConfig, ConfigError.ConfigError> =>
  Layer.effect(WeChatConfig, Effect.flatMap(Arguments.unwrapConfig("WeChatConfig", options), makeEither))

/**
 * `Config.unwrap` for a caller's value, the way every `layerConfig` of the wxauth packages reads its
 * argument: an object of `Config`s (nested objects of them allowed, up to 4 deep) gives their values;
 * anything else is a `ConfigError` when the layer is built, never a throw or a defect. `Config.unwrap`
 * itself walks whatever it is given: a string field character by character (down to a stack
 * overflow for a long one), `{}` or a `Redacted` as a struct of nothing (which throws when loaded),
 * a Proxy whose traps throw. For store adapters and other layers over core.
 *
 * @example
 * ```ts
 * import { WeChatConfig } from "@wxauth/core"
 * import * as Config from "effect/Config"
 * import * as Effect from "effect/Effect"
 *
 * const options = WeChatConfig.unwrapConfig({ keyPrefix: Config.string("KEY_PREFIX") })
 * // a ConfigError, not a defect:
 * const refused = WeChatConfig.unwrapConfig("KEY_PREFIX" as never).pipe(Effect.flip)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const unwrapConfig = <A>(options: Config.Config.Wrap<A>): Effect.Effect<A, ConfigError.ConfigError> =>
  Arguments.unwrapConfig(undefined, options)

const optionalString = (name: string) => Config.option(Config.string(name))

// Config.redacted would also hide the error's message ("<redacted>"), which never holds the value
// here: a missing or empty secret then says so. The value is Redacted as soon as it is read.
const secretString = (name: string) => Config.map(Config.nonEmptyString(name), Redacted.make)

/**
 * The configuration from the environment: `WECHAT_APP_ID`, `WECHAT_APP_SECRET` (required), and
 * `WECHAT_API_BASE_URL`, `WECHAT_OPEN_BASE_URL`, `WECHAT_STATE_SECRET`,
 * `WECHAT_ACCEPTED_STATE_SECRETS` (comma-separated), `WECHAT_TIMEOUT` (e.g. `5 seconds`) when set.
 * A missing or empty variable is a `ConfigError` naming it; so is a value `makeEither` refuses (a
 * an app secret with a newline or a space around it, a timeout over 24 days), without quoting the value.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromEnv: Layer.Layer<WeChatConfig, ConfigError.ConfigError> = Layer.effect(
  WeChatConfig,
  Effect.gen(function*() {
    const appId = yield* Config.nonEmptyString("WECHAT_APP_ID")
    const appSecret = yield* secretString("WECHAT_APP_SECRET")
    const apiBaseUrl = yield* optionalString("WECHAT_API_BASE_URL")
    const openBaseUrl = yield* optionalString("WECHAT_OPEN_BASE_URL")
    const stateSecret = yield* Config.option(secretString("WECHAT_STATE_SECRET"))
    const acceptedStateSecrets = yield* Config.option(
      Config.array(Config.map(Config.string(), Redacted.make), "WECHAT_ACCEPTED_STATE_SECRETS")
    )
    const timeout = yield* Config.option(Config.duration("WECHAT_TIMEOUT"))
    return yield* makeEither({
      appId,
      appSecret,
      apiBaseUrl: Option.getOrUndefined(apiBaseUrl),
      openBaseUrl: Option.getOrUndefined(openBaseUrl),
      stateSecret: Option.getOrUndefined(stateSecret),
      acceptedStateSecrets: Option.getOrUndefined(acceptedStateSecrets),
      timeout: Option.getOrUndefined(timeout)
    }).pipe(Either.mapLeft(toEnvNames))
  })
)

const envNames: Record<string, string> = {
  appId: "WECHAT_APP_ID",
  appSecret: "WECHAT_APP_SECRET",
  apiBaseUrl: "WECHAT_API_BASE_URL",
  openBaseUrl: "WECHAT_OPEN_BASE_URL",
  stateSecret: "WECHAT_STATE_SECRET",
  acceptedStateSecrets: "WECHAT_ACCEPTED_STATE_SECRETS",
  timeout: "WECHAT_TIMEOUT"
}

const toEnvNames = (error: ConfigError.ConfigError): ConfigError.ConfigError => {
  const rename = (path: ReadonlyArray<string>) => path.map((segment) => envNames[segment] ?? segment)
  if (ConfigError.isInvalidData(error)) return ConfigError.InvalidData(rename(error.path), error.message)
  if (ConfigError.isMissingData(error)) return ConfigError.MissingData(rename(error.path), error.message)
  return error
}
