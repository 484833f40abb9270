/**
 * The configuration of a third-party platform (component): its appid and secret, the message token
 * and EncodingAESKey of its authorization-event URL, the hosts, the request limits, how old a
 * push may be and how long its handling may take. Validated like `WeChatConfig` (the same rules
 * for ids, secrets, URLs and limits).
 *
 * @internal
 */
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"
import * as WeChatConfig from "../../WeChatConfig.js"
import * as Arguments from "../arguments.js"

/** @internal */
export interface ComponentConfigShape {
  readonly componentAppId: string
  readonly componentAppSecret: Redacted.Redacted<string>
  /** The token of the authorization-event URL: it signs every push (`msg_signature`). */
  readonly token: Redacted.Redacted<string>
  /** The 43-character EncodingAESKey, as entered on the Open Platform. */
  readonly encodingAesKey: Redacted.Redacted<string>
  /** The AES-256 key the EncodingAESKey stands for (32 bytes). */
  readonly aesKey: Redacted.Redacted<Uint8Array>
  readonly apiBaseUrl: string
  readonly openBaseUrl: string
  readonly timeout: Duration.Duration
  readonly maxResponseBytes: number
  /** A push older (or further in the future) than this is refused; replays are remembered this long. */
  readonly pushMaxAge: Duration.Duration
  /**
   * How long the handling of a push (its store writes and the app's `onEvent`; in `makeHttpApp`,
   * counted from the request's arrival, the body's reading included) may take, at most 4.5
   * seconds: past it, the handling is interrupted, the push is not remembered and `acceptPush`
   * fails with `PushTimeout`, before WeChat (which waits 5 seconds for `success`) pushes it again.
   */
  readonly pushTimeout: Duration.Duration
}

/** @internal */
export class ComponentConfig extends Context.Tag("@wxauth/core/ComponentConfig")<
  ComponentConfig,
  ComponentConfigShape
>() {}

/** @internal */
export interface ConfigOptions {
  readonly componentAppId: string
  readonly componentAppSecret: Redacted.Redacted<string> | string
  readonly token: Redacted.Redacted<string> | string
  readonly encodingAesKey: Redacted.Redacted<string> | string
  readonly apiBaseUrl?: string | undefined
  readonly openBaseUrl?: string | undefined
  readonly timeout?: Duration.DurationInput | undefined
  readonly maxResponseBytes?: number | undefined
  readonly pushMaxAge?: Duration.DurationInput | undefined
  readonly pushTimeout?: Duration.DurationInput | undefined
}

/**
 * The longest appid of a platform or of an app it manages: its keys in the `AppTokenStore`
 * (`authorizer-refresh:<appId>`, the longest prefix) must fit the stores' 64 characters. WeChat's
 * appids have 18.
 *
 * @internal
 */
export const maxAppIdLength = 45

/** @internal */
export const appIdPattern = /^[A-Za-z0-9_-]+$/

/** @internal */
export const isAppId = (value: unknown): value is string =>
  typeof value === "string" && value.length > 0 && value.length <= maxAppIdLength && appIdPattern.test(value)

/** @internal */
export const defaultPushMaxAge = Duration.minutes(5)

/**
 * The default deadline of a push's handling: under the 5 seconds WeChat waits for `success` before
 * it pushes again, so a handling that hangs is released before the retry arrives.
 *
 * @internal
 */
export const defaultPushTimeout = Duration.seconds(4)

/**
 * The longest `pushTimeout` accepted: the answer must come before WeChat's retry, 5 seconds after
 * its push (a longer deadline let the retry find the push still in hand), with half a second for
 * the network.
 *
 * @internal
 */
export const maxPushTimeout = Duration.millis(4_500)

/** The fields of `ConfigOptions`, read once from a caller's options. */
const optionKeys = [
  "componentAppId",
  "componentAppSecret",
  "token",
  "encodingAesKey",
  "apiBaseUrl",
  "openBaseUrl",
  "timeout",
  "maxResponseBytes",
  "pushMaxAge",
  "pushTimeout"
] as const

/** The caller's own `Redacted` when it gave one (its text is `text`), else a new one. */
const redacted = (value: unknown, text: string): Redacted.Redacted<string> =>
  Arguments.redactedText(value) === undefined ? Redacted.make(text) : value as Redacted.Redacted<string>

const renamed: Record<string, string> = { appId: "componentAppId", appSecret: "componentAppSecret" }

const rename = (error: ConfigError.ConfigError): ConfigError.ConfigError => {
  const path = (p: ReadonlyArray<string>) => p.map((segment) => renamed[segment] ?? segment)
  const message = (m: string) => m.replace("WeChat appid", "component appid").replace("app secret", "component secret")
  if (ConfigError.isInvalidData(error)) return ConfigError.InvalidData(path(error.path), message(error.message))
  if (ConfigError.isMissingData(error)) return ConfigError.MissingData(path(error.path), message(error.message))
  return error
}

const aesKeyPattern = /^[A-Za-z0-9+/]{43}$/

/**
 * Validates options into a configuration; a `ConfigError` names the field. The appid, secret, hosts,
 * timeout and response limit follow `WeChatConfig`'s rules; the token is 1 to 128 printable
 * characters; the EncodingAESKey is 43 base64 characters that decode to 32 bytes; `pushTimeout`
 * is positive and at most 4.5 seconds.
 *
 * @internal
 */
export const makeConfigEither = (
  options: ConfigOptions
): Either.Either<ComponentConfigShape, ConfigError.ConfigError> =>
  Either.gen(function*() {
    // a JavaScript caller's options: each field read once, a throwing getter or Proxy a ConfigError
    const read = Arguments.readFields(options, optionKeys)
    if (Either.isLeft(read) || read.right === undefined) {
      return yield* Either.left(
        ConfigError.InvalidData(
          [],
          Either.isLeft(read) && read.left === Arguments.unreadable
            ? `the component options ${Arguments.unreadable}`
            : "expected an object of component options"
        )
      )
    }
    const fields = read.right as Partial<Record<typeof optionKeys[number], unknown>>
    const base = yield* Either.mapLeft(
      WeChatConfig.makeEither({
        appId: fields.componentAppId as string,
        appSecret: fields.componentAppSecret as string,
        apiBaseUrl: fields.apiBaseUrl as string | undefined,
        openBaseUrl: fields.openBaseUrl as string | undefined,
        timeout: fields.timeout as Duration.DurationInput | undefined,
        maxResponseBytes: fields.maxResponseBytes as number | undefined
      }),
      rename
    )
    if (base.appId.length > maxAppIdLength) {
      return yield* Either.left(
        ConfigError.InvalidData(["componentAppId"], `the component appid has more than ${maxAppIdLength} characters`)
      )
    }
    const rawToken = fields.token
    const token = Arguments.secretText(rawToken)
    if (token === undefined || token === "") {
      return yield* Either.left(
        ConfigError.MissingData(["token"], "the token of the authorization-event URL is missing or not a string")
      )
    }
    if (!/^[\x21-\x7e]{1,128}$/.test(token)) {
      return yield* Either.left(
        ConfigError.InvalidData(["token"], "the token must be 1 to 128 printable characters without spaces")
      )
    }
    const rawAesKey = fields.encodingAesKey
    const aesKeyText = Arguments.secretText(rawAesKey)
    if (aesKeyText === undefined || aesKeyText === "") {
      return yield* Either.left(
        ConfigError.MissingData(["encodingAesKey"], "the EncodingAESKey is missing or not a string")
      )
    }
    const aesKey = aesKeyPattern.test(aesKeyText) ? Buffer.from(`${aesKeyText}=`, "base64") : undefined
    if (aesKey === undefined || aesKey.length !== 32) {
      return yield* Either.left(
        ConfigError.InvalidData(["encodingAesKey"], "the EncodingAESKey must be 43 base64 characters (a 32-byte key)")
      )
    }
    const rawMaxAge = fields.pushMaxAge ?? defaultPushMaxAge
    const maxAge = typeof rawMaxAge === "number" && !(rawMaxAge > 0) ? Option.none() : Arguments.durationOf(rawMaxAge)
    if (
      Option.isNone(maxAge) || !Duration.isFinite(maxAge.value) ||
      !Duration.between(maxAge.value, { minimum: Duration.seconds(1), maximum: Duration.hours(12) })
    ) {
      return yield* Either.left(
        ConfigError.InvalidData(["pushMaxAge"], "must be a duration from 1 second to 12 hours, e.g. \"5 minutes\"")
      )
    }
    const rawPushTimeout = fields.pushTimeout ?? defaultPushTimeout
    const pushTimeout = typeof rawPushTimeout === "number" && !(rawPushTimeout > 0)
      ? Option.none()
      : Arguments.durationOf(rawPushTimeout)
    if (
      Option.isNone(pushTimeout) || !Duration.isFinite(pushTimeout.value) ||
      !Duration.greaterThan(pushTimeout.value, Duration.zero) ||
      Duration.greaterThan(pushTimeout.value, maxPushTimeout)
    ) {
      return yield* Either.left(
        ConfigError.InvalidData(
          ["pushTimeout"],
          "must be a positive duration of at most 4.5 seconds, e.g. \"4 seconds\" (WeChat pushes again after 5)"
        )
      )
    }
    return {
      componentAppId: base.appId,
      componentAppSecret: base.appSecret,
      token: redacted(rawToken, token),
      encodingAesKey: redacted(rawAesKey, aesKeyText),
      aesKey: Redacted.make(new Uint8Array(aesKey)),
      apiBaseUrl: base.apiBaseUrl,
      openBaseUrl: base.openBaseUrl,
      timeout: base.timeout,
      maxResponseBytes: base.maxResponseBytes,
      pushMaxAge: maxAge.value,
      pushTimeout: pushTimeout.value
    } satisfies ComponentConfigShape
  })

/**
 * The `WeChatConfig` of an app the platform manages: its appid, the platform's hosts and limits, and
 * a state secret (given, or derived from the component secret and the appid: stable across
 * processes, different for each app). It has no app secret of ours: nothing built on it may send
 * one (its tokens come from the platform), so the secret is empty and WeChat would refuse it.
 *
 * @internal
 */
export const managedAppConfig = (
  config: ComponentConfigShape,
  appId: string,
  options?: {
    readonly stateSecret?: Redacted.Redacted<string> | string | undefined
    readonly acceptedStateSecrets?: ReadonlyArray<Redacted.Redacted<string> | string> | undefined
    readonly stateTtl?: Duration.DurationInput | undefined
  }
): Either.Either<WeChatConfig.WeChatConfigShape, ConfigError.ConfigError> =>
  Either.map(
    WeChatConfig.makeEither({
      appId,
      // makeEither wants a secret; it only derives the default state key from it, replaced below
      appSecret: "-",
      apiBaseUrl: config.apiBaseUrl,
      openBaseUrl: config.openBaseUrl,
      timeout: config.timeout,
      maxResponseBytes: config.maxResponseBytes,
      stateSecret: options?.stateSecret,
      acceptedStateSecrets: options?.acceptedStateSecrets,
      stateTtl: options?.stateTtl
    }),
    (base): WeChatConfig.WeChatConfigShape => ({
      ...base,
      appSecret: Redacted.make(""),
      stateSecret: options?.stateSecret === undefined
        ? Redacted.make(
          new Uint8Array(
            Crypto.createHmac("sha256", Redacted.value(config.componentAppSecret))
              .update(`wxauth/state/component/${config.componentAppId}/${appId}`)
              .digest()
          )
        )
        : base.stateSecret
    })
  )
