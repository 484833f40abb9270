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
import type { CipherKey } from "./TokenCipher.js"

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
  /** How long a signed state stays valid. Default 10 minutes. */
  readonly stateTtl: Duration.Duration
  /** Keys for `TokenCipher.layerFromWeChatConfig` (empty: tokens are stored as they are). */
  readonly cipherKeys: ReadonlyArray<CipherKey>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class WeChatConfig extends Context.Tag("@wxauth/core/WeChatConfig")<WeChatConfig, WeChatConfigShape>() {}

/**
 * Options of `layer` / `make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly appId: string
  readonly appSecret: Redacted.Redacted<string> | string
  readonly apiBaseUrl?: string | undefined
  readonly openBaseUrl?: string | undefined
  readonly timeout?: Duration.DurationInput | undefined
  readonly stateSecret?: Redacted.Redacted<string> | string | undefined
  readonly stateTtl?: Duration.DurationInput | undefined
  readonly cipherKeys?: ReadonlyArray<CipherKey> | undefined
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
  stateTtl: Duration.minutes(10)
} as const

const baseUrl = (name: string, value: string): Either.Either<string, ConfigError.ConfigError> => {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return Either.left(ConfigError.InvalidData([name], `not an absolute URL`))
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return Either.left(ConfigError.InvalidData([name], `must be an http(s) URL`))
  }
  if (url.search !== "" || url.hash !== "") {
    return Either.left(ConfigError.InvalidData([name], `must not have a query or fragment`))
  }
  return Either.right(url.toString().replace(/\/+$/, ""))
}

const positiveDuration = (name: string, input: unknown): Either.Either<Duration.Duration, ConfigError.ConfigError> => {
  const decoded = Duration.decodeUnknown(input)
  return Option.isSome(decoded) && Duration.greaterThan(decoded.value, Duration.zero)
    ? Either.right(decoded.value)
    : Either.left(ConfigError.InvalidData([name], "must be a positive duration, e.g. \"5 seconds\""))
}

const secretOf = (value: Redacted.Redacted<string> | string): Redacted.Redacted<string> =>
  typeof value === "string" ? Redacted.make(value) : value

/**
 * Validates options into a configuration. An empty appid or secret, a bad base URL or a
 * non-positive timeout is a `ConfigError` naming the field.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Either.Either<WeChatConfigShape, ConfigError.ConfigError> =>
  Either.gen(function*() {
    const appId = options.appId.trim()
    if (appId === "") return yield* Either.left(ConfigError.MissingData(["appId"], "the WeChat appid is empty"))
    if (!/^[A-Za-z0-9_-]+$/.test(appId)) {
      return yield* Either.left(ConfigError.InvalidData(["appId"], "the WeChat appid has unexpected characters"))
    }
    const appSecret = secretOf(options.appSecret)
    if (Redacted.value(appSecret).trim() === "") {
      return yield* Either.left(ConfigError.MissingData(["appSecret"], "the WeChat app secret is empty"))
    }
    const apiBaseUrl = yield* baseUrl("apiBaseUrl", options.apiBaseUrl ?? defaults.apiBaseUrl)
    const openBaseUrl = yield* baseUrl("openBaseUrl", options.openBaseUrl ?? defaults.openBaseUrl)
    const timeout = yield* positiveDuration("timeout", options.timeout ?? defaults.timeout)
    const stateTtl = yield* positiveDuration("stateTtl", options.stateTtl ?? defaults.stateTtl)
    const explicitStateSecret = options.stateSecret === undefined ? undefined : secretOf(options.stateSecret)
    if (explicitStateSecret !== undefined && Redacted.value(explicitStateSecret).length < 16) {
      return yield* Either.left(
        ConfigError.InvalidData(["stateSecret"], "the state secret must be at least 16 characters")
      )
    }
    const stateKey = explicitStateSecret === undefined
      ? Crypto.createHmac("sha256", Redacted.value(appSecret)).update(`wxauth/state/${appId}`).digest()
      : Crypto.createHash("sha256").update(Redacted.value(explicitStateSecret)).digest()
    return {
      appId,
      appSecret,
      apiBaseUrl,
      openBaseUrl,
      timeout,
      stateSecret: Redacted.make(new Uint8Array(stateKey)),
      stateTtl,
      cipherKeys: options.cipherKeys ?? []
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
  Layer.effect(WeChatConfig, make(options))

/**
 * The configuration from `Config` values.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (options: Config.Config.Wrap<Options>): Layer.Layer<WeChatConfig, ConfigError.ConfigError> =>
  Layer.effect(WeChatConfig, Effect.flatMap(Config.unwrap(options), make))

const optionalString = (name: string) => Config.option(Config.string(name))

/**
 * The configuration from the environment: `WECHAT_APP_ID`, `WECHAT_APP_SECRET` (required), and
 * `WECHAT_API_BASE_URL`, `WECHAT_OPEN_BASE_URL`, `WECHAT_STATE_SECRET`, `WECHAT_TIMEOUT` (e.g.
 * `5 seconds`) when set. A missing or empty variable is a `ConfigError` naming it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromEnv: Layer.Layer<WeChatConfig, ConfigError.ConfigError> = Layer.effect(
  WeChatConfig,
  Effect.gen(function*() {
    const appId = yield* Config.nonEmptyString("WECHAT_APP_ID")
    const appSecret = yield* Config.redacted(Config.nonEmptyString("WECHAT_APP_SECRET"))
    const apiBaseUrl = yield* optionalString("WECHAT_API_BASE_URL")
    const openBaseUrl = yield* optionalString("WECHAT_OPEN_BASE_URL")
    const stateSecret = yield* Config.option(Config.redacted(Config.nonEmptyString("WECHAT_STATE_SECRET")))
    const timeout = yield* Config.option(Config.duration("WECHAT_TIMEOUT"))
    return yield* make({
      appId,
      appSecret,
      apiBaseUrl: Option.getOrUndefined(apiBaseUrl),
      openBaseUrl: Option.getOrUndefined(openBaseUrl),
      stateSecret: Option.getOrUndefined(stateSecret),
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
  timeout: "WECHAT_TIMEOUT"
}

const toEnvNames = (error: ConfigError.ConfigError): ConfigError.ConfigError => {
  const rename = (path: ReadonlyArray<string>) => path.map((segment) => envNames[segment] ?? segment)
  if (ConfigError.isInvalidData(error)) return ConfigError.InvalidData(rename(error.path), error.message)
  if (ConfigError.isMissingData(error)) return ConfigError.MissingData(rename(error.path), error.message)
  return error
}
