/**
 * The registry's configuration, checked: its options (a list of apps or a resolver, the TTLs and
 * capacity, the state secret), and each app, from the list at start or from the resolver on first
 * use. Every mistake is a `ConfigError` naming the field (`apps.3.appSecret`), never its value.
 *
 * @internal
 */
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as AppToken from "../../AppToken.js"
import * as RetryPolicy from "../../RetryPolicy.js"
import type * as StateToken from "../../StateToken.js"
import * as WeChatConfig from "../../WeChatConfig.js"
import * as Arguments from "../arguments.js"
import * as ComponentConfig from "../component/config.js"
import * as StateTtl from "../stateTtl.js"
import * as StoreIds from "../storeIds.js"

/** The registry-wide part of every app's configuration: the state key and the default state lifetime. @internal */
export interface Shared {
  readonly stateSecret: Redacted.Redacted<Uint8Array>
  /** The secret as given, for services that take it as text (`WeChatOAuth.makeForComponent`). */
  readonly stateSecretText: Redacted.Redacted<string>
  /** The keys whose states are still verified (a rotation's), and the same secrets as text. */
  readonly acceptedStateSecrets: ReadonlyArray<Redacted.Redacted<Uint8Array>>
  readonly acceptedStateSecretsText: ReadonlyArray<Redacted.Redacted<string>>
  readonly stateTtl: Duration.Duration
  /** Whether a `Component` is in the registry's context (component apps need one). */
  readonly component: boolean
  /** One copy of each base URL for every app (most apps have WeChat's, or the same proxy's). */
  readonly intern: (text: string) => string
}

/** An app called with its own appid and secret. @internal */
export interface DirectApp {
  readonly _tag: "Direct"
  readonly appId: string
  /** Its `WeChatConfig`, with the registry's state key. */
  readonly config: WeChatConfig.WeChatConfigShape
  /** What states of this app are signed with: the config itself. */
  readonly state: StateToken.StateConfig
  readonly policy: RetryPolicy.RetryPolicy
  readonly appToken: AppToken.Options | undefined
}

/** An app the registry's third-party platform acts for. @internal */
export interface ComponentApp {
  readonly _tag: "Component"
  readonly appId: string
  readonly state: StateToken.StateConfig
  readonly policy: RetryPolicy.RetryPolicy
}

/** An app, checked. @internal */
export type App = DirectApp | ComponentApp

/** The registry's options, checked. @internal */
export type Source =
  | { readonly _tag: "List"; readonly apps: ReadonlyArray<unknown> }
  | {
    readonly _tag: "Resolve"
    readonly resolve: (appId: string) => unknown
    readonly ttl: Duration.Duration
    readonly unknownTtl: Duration.Duration
    readonly capacity: number
    readonly resolveTimeout: Duration.Duration
  }

/**
 * Whether a caller's appid can name an app at all: WeChatConfig's rule for an appid, for component
 * apps (which have no `WeChatConfig` of their own), the stores' rule too (`storeIds.ts`). @internal
 */
export const isAppId = StoreIds.isAppId

const invalid = (path: ReadonlyArray<string>, message: string) =>
  Either.left(ConfigError.InvalidData([...path], message))

/**
 * A caller's object, its `keys` read once into a plain copy, guarded: `Left` with the ConfigError
 * for one that cannot be read (a throwing getter, a revoked Proxy), `Right(undefined)` for anything
 * that is not an object.
 */
const fieldsOf = (
  path: ReadonlyArray<string>,
  u: unknown,
  keys: ReadonlyArray<string>
): Either.Either<Record<string, unknown> | undefined, ConfigError.ConfigError> => {
  const read = Arguments.readFields(u, keys)
  if (Either.isRight(read)) return Either.right(read.right)
  return read.left === Arguments.unreadable ? invalid(path, read.left) : Either.right(undefined)
}

const sourceKeys = ["apps", "resolve", "ttl", "unknownTtl", "capacity", "resolveTimeout"]
const sharedKeys = ["stateSecret", "acceptedStateSecrets", "stateTtl"]
const appKeys = [
  "appId",
  "appSecret",
  "apiBaseUrl",
  "openBaseUrl",
  "timeout",
  "cipherKeys",
  "maxResponseBytes",
  "appToken",
  "stateSecret",
  "acceptedStateSecrets",
  "stateTtl",
  "policy",
  "component"
]

/** The defaults of a resolving registry. @internal */
export const defaults = {
  ttl: Duration.minutes(5),
  unknownTtl: Duration.minutes(1),
  capacity: 10_000,
  resolveTimeout: Duration.seconds(5)
} as const

/** The largest `capacity` (and list) accepted. */
const maxApps = 10_000_000

const duration = (
  name: string,
  input: unknown,
  fallback: Duration.Duration,
  allowZero: boolean,
  maxMillis: number = Infinity
): Either.Either<Duration.Duration, ConfigError.ConfigError> => {
  if (input === undefined) return Either.right(fallback)
  // the one reader of such options: a negative amount in any form (-1, NaN, "-5 seconds") is
  // refused, never read as zero (Duration's reading)
  const decoded = allowZero
    ? Arguments.nonNegativeDurationOf(input, maxMillis)
    : Arguments.positiveDurationOf(input, maxMillis)
  return Option.isSome(decoded)
    ? Either.right(decoded.value)
    : invalid(
      [name],
      `must be a ${allowZero ? "non-negative" : "positive"}, finite duration${
        maxMillis === Infinity ? "" : ` of ${Arguments.maxTimerRule}`
      }, e.g. "5 minutes"`
    )
}

/** The first argument of `WeChatApps.layer`. @internal */
export const source = (given: unknown): Either.Either<Source, ConfigError.ConfigError> =>
  Either.gen(function*() {
    // read once, guarded: a throwing getter or a revoked Proxy is a ConfigError, never a defect
    const options = yield* fieldsOf([], given, sourceKeys)
    if (options === undefined) {
      return yield* invalid([], "expected { apps: [...] } or { resolve: (appId) => Effect }")
    }
    const hasApps = options.apps !== undefined
    const hasResolve = options.resolve !== undefined
    if (hasApps === hasResolve) {
      return yield* invalid(
        hasApps ? ["resolve"] : [],
        hasApps ? "give either apps or resolve, not both" : "expected { apps: [...] } or { resolve: (appId) => Effect }"
      )
    }
    if (hasApps) {
      // a copy of the caller's array, taken under the guard (its apps are each read in `app`)
      const apps = Arguments.guard((): ReadonlyArray<unknown> | string | undefined =>
        !Array.isArray(options.apps)
          ? undefined
          : options.apps.length > maxApps
          ? `must hold at most ${maxApps} apps`
          : options.apps.slice()
      )
      if (Either.isLeft(apps)) return yield* invalid(["apps"], apps.left)
      if (apps.right === undefined) return yield* invalid(["apps"], "must be an array of apps")
      if (typeof apps.right === "string") return yield* invalid(["apps"], apps.right)
      for (const field of ["ttl", "unknownTtl", "capacity", "resolveTimeout"]) {
        if (options[field] !== undefined) return yield* invalid([field], "applies to a resolver only (resolve)")
      }
      return { _tag: "List", apps: apps.right } as const
    }
    if (typeof options.resolve !== "function") {
      return yield* invalid(["resolve"], "must be a function from an appid to an Effect")
    }
    const ttl = yield* duration("ttl", options.ttl, defaults.ttl, false)
    const unknownTtl = yield* duration("unknownTtl", options.unknownTtl, Duration.min(defaults.unknownTtl, ttl), true)
    // a deadline (a timer): past 24 days Effect's clock never fires, a hung resolver held for ever
    const resolveTimeout = yield* duration(
      "resolveTimeout",
      options.resolveTimeout,
      defaults.resolveTimeout,
      false,
      Arguments.maxTimerMillis
    )
    const capacity = options.capacity ?? defaults.capacity
    if (typeof capacity !== "number" || !Number.isSafeInteger(capacity) || capacity < 1 || capacity > maxApps) {
      return yield* invalid(["capacity"], `must be an integer from 1 to ${maxApps}`)
    }
    return {
      _tag: "Resolve",
      resolve: options.resolve as (appId: string) => unknown,
      ttl,
      unknownTtl,
      capacity,
      resolveTimeout
    } as const
  })

/**
 * The second argument of `WeChatApps.layer`: the state secret, made into a key by `WeChatConfig`'s
 * own rule (so every app's config carries the same key), and the default state lifetime.
 *
 * @internal
 */
export const shared = (
  given: unknown,
  component: boolean
): Either.Either<Shared, ConfigError.ConfigError> => {
  const read = fieldsOf([], given, sharedKeys)
  if (Either.isLeft(read)) return Either.left(read.left)
  const options = read.right
  if (options === undefined) return invalid([], "expected { stateSecret }")
  if (options.stateSecret === undefined) {
    return Either.left(ConfigError.MissingData(["stateSecret"], "the registry's state secret is missing"))
  }
  // a copy, read once: the same secrets become the keys below and the texts of component apps
  const acceptedGiven = options.acceptedStateSecrets
  const accepted = Either.getOrElse(
    Arguments.guard(() => Array.isArray(acceptedGiven) ? [...acceptedGiven as ReadonlyArray<unknown>] : acceptedGiven),
    // unreadable: not a list (a ConfigError below)
    () => null
  )
  return WeChatConfig.makeEither({
    appId: "wxauthapps",
    appSecret: "unused",
    stateSecret: options.stateSecret as string,
    acceptedStateSecrets: accepted as ReadonlyArray<string> | undefined,
    stateTtl: options.stateTtl as Duration.DurationInput | undefined
  }).pipe(Either.map((config) => {
    const texts = new Map<string, string>()
    const intern = (text: string) => {
      const known = texts.get(text)
      if (known !== undefined) return known
      // a few base URLs are expected; a list of as many URLs as apps is not kept twice
      if (texts.size < 64) texts.set(text, text)
      return text
    }
    const asText = (text: unknown): Redacted.Redacted<string> =>
      Arguments.redactedText(text) === undefined ? Redacted.make(String(text)) : text as Redacted.Redacted<string>
    return {
      stateSecret: config.stateSecret,
      stateSecretText: asText(options.stateSecret),
      acceptedStateSecrets: config.acceptedStateSecrets ?? [],
      acceptedStateSecretsText: Array.isArray(accepted) ? accepted.map(asText) : [],
      stateTtl: config.stateTtl,
      component,
      intern
    }
  }))
}

/** Fields that belong to the registry or to direct apps, refused where they do not apply. */
const directOnly = ["appSecret", "apiBaseUrl", "openBaseUrl", "timeout", "cipherKeys", "maxResponseBytes", "appToken"]

const noCipherKeys: ReadonlyArray<never> = []

/**
 * One app: `{ appId, appSecret, ...WeChatConfig.Options, policy?, appToken? }` (direct) or
 * `{ appId, component: true, policy? }`. Paths are relative to the app.
 *
 * @internal
 */
export const app = (given: unknown, registry: Shared): Either.Either<App, ConfigError.ConfigError> =>
  Either.gen(function*() {
    // read once, guarded: a throwing getter or a revoked Proxy is a ConfigError, never a defect
    const raw = yield* fieldsOf([], given, appKeys)
    if (raw === undefined) {
      return yield* invalid([], "must be an app: { appId, appSecret, ... } or { appId, component: true }")
    }
    for (const field of ["stateSecret", "acceptedStateSecrets"]) {
      if (raw[field] !== undefined) {
        return yield* invalid(
          [field],
          "is the registry's (WeChatApps.layer's second argument), shared by every app: leave it out of the app"
        )
      }
    }
    const policy = yield* RetryPolicy.make(raw.policy as RetryPolicy.Overrides | undefined)
    const component = raw.component
    if (component !== undefined && component !== true && component !== false) {
      return yield* invalid(["component"], "must be true (an app of the registry's third-party platform) or absent")
    }
    if (component === true) {
      if (!ComponentConfig.isAppId(raw.appId)) {
        return yield* invalid(
          ["appId"],
          `the appid of a managed app must be 1 to ${ComponentConfig.maxAppIdLength} characters of [A-Za-z0-9_-]`
        )
      }
      const own = directOnly.find((field) => raw[field] !== undefined)
      if (own !== undefined) {
        return yield* invalid([own], "a component app is called through the platform: it has no such setting")
      }
      if (!registry.component) {
        return yield* invalid(
          ["component"],
          "a component app needs a Component (Component.layer) in the registry's context"
        )
      }
      const state: StateToken.StateConfig = {
        appId: raw.appId,
        stateSecret: registry.stateSecret,
        acceptedStateSecrets: registry.acceptedStateSecrets,
        stateTtl: raw.stateTtl === undefined ? registry.stateTtl : yield* Option.match(StateTtl.of(raw.stateTtl), {
          onNone: () => invalid(["stateTtl"], `must be ${StateTtl.rule}`),
          onSome: Either.right
        })
      }
      return { _tag: "Component", appId: raw.appId, state, policy } satisfies ComponentApp
    }
    const appToken = raw.appToken === undefined
      ? undefined
      : yield* fieldsOf(["appToken"], raw.appToken, ["mode", "refreshWithin", "source", "sourceTimeout"])
    if (raw.appToken !== undefined && appToken === undefined) {
      return yield* invalid(
        ["appToken"],
        "must be AppToken options: { mode?, refreshWithin?, source?, sourceTimeout? }"
      )
    }
    const checked = yield* WeChatConfig.makeEither({
      ...(raw as unknown as WeChatConfig.Options),
      stateTtl: (raw.stateTtl ?? registry.stateTtl) as Duration.DurationInput
    })
    // one state key object and one empty key list for every app: an idle app costs its own fields only
    const config: WeChatConfig.WeChatConfigShape = {
      ...checked,
      apiBaseUrl: registry.intern(checked.apiBaseUrl),
      openBaseUrl: registry.intern(checked.openBaseUrl),
      stateSecret: registry.stateSecret,
      acceptedStateSecrets: registry.acceptedStateSecrets,
      cipherKeys: checked.cipherKeys.length === 0 ? noCipherKeys : checked.cipherKeys
    }
    return {
      _tag: "Direct",
      appId: config.appId,
      config,
      state: config,
      policy,
      appToken: appToken as AppToken.Options | undefined
    } satisfies DirectApp
  })

const samePolicy = (a: RetryPolicy.RetryPolicy, b: RetryPolicy.RetryPolicy): boolean =>
  a === b ||
  (a.retryOn === b.retryOn && a.retrySchedule === b.retrySchedule && a.exchangeRetryOn === b.exchangeRetryOn &&
    a.exchangeRetrySchedule === b.exchangeRetrySchedule && a.refreshOn === b.refreshOn &&
    Duration.equals(a.refreshSkew, b.refreshSkew) && Duration.equals(a.codeMemoTtl, b.codeMemoTtl))

const sameConfig = (a: WeChatConfig.WeChatConfigShape, b: WeChatConfig.WeChatConfigShape): boolean =>
  a === b ||
  (a.appId === b.appId && Redacted.value(a.appSecret) === Redacted.value(b.appSecret) &&
    a.apiBaseUrl === b.apiBaseUrl &&
    a.openBaseUrl === b.openBaseUrl && Duration.equals(a.timeout, b.timeout) &&
    Duration.equals(a.stateTtl, b.stateTtl) && a.maxResponseBytes === b.maxResponseBytes &&
    a.cipherKeys.length === b.cipherKeys.length && a.cipherKeys.every((key, i) => key === b.cipherKeys[i]))

/**
 * Whether services built for `a` serve `b` as well: the same settings (a resolver that answers an
 * equal configuration again keeps the app's services; a changed secret or URL rebuilds them).
 *
 * @internal
 */
export const sameApp = (a: App, b: App): boolean => {
  if (a === b) return true
  if (a._tag !== b._tag || a.appId !== b.appId || !samePolicy(a.policy, b.policy)) return false
  if (!Duration.equals(a.state.stateTtl, b.state.stateTtl)) return false
  if (a._tag === "Component") return true
  const other = b as DirectApp
  return sameAppTokenOptions(a.appToken, other.appToken) && sameConfig(a.config, other.config)
}

const sameAppTokenOptions = (a: AppToken.Options | undefined, b: AppToken.Options | undefined): boolean => {
  if (a === b) return true
  if (a === undefined || b === undefined) return false
  const sameDuration = (x: Duration.DurationInput | undefined, y: Duration.DurationInput | undefined) => {
    const [dx, dy] = [x, y].map((input) => input === undefined ? undefined : Arguments.durationOf(input))
    return dx === undefined || dy === undefined ? dx === dy : Option.getEquivalence(Duration.Equivalence)(dx, dy)
  }
  return a.mode === b.mode && a.source === b.source && sameDuration(a.refreshWithin, b.refreshWithin) &&
    sameDuration(a.sourceTimeout, b.sourceTimeout)
}
