/**
 * `WeChatLogin`'s options checked into a resolved configuration. Every value is untrusted (a
 * JavaScript caller may pass anything): a field of the wrong type or shape is a `ConfigError` that
 * names it, never a defect.
 *
 * @internal
 */
import { WeChatConfig } from "@wxauth/core"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { OpenInWeChatPageContext, ProblemPageContext } from "../WeChatLogin.js"
import * as Landing from "./landing.js"

/** The kinds of WeChat app a login can use. @internal */
export type AppKind = "officialAccount" | "website" | "miniProgram"

/** The embedded QR code's settings (`wxLogin.js`), resolved. @internal */
export interface QrCode {
  readonly embedded: boolean
  readonly scriptUrl: string
  readonly selfRedirect: boolean
  readonly style: "black" | "white" | undefined
  readonly href: string | undefined
  readonly lang: "cn" | "en" | undefined
}

/** One app, resolved. @internal */
export interface ResolvedApp {
  readonly key: string
  readonly kind: AppKind
  readonly config: WeChatConfig.WeChatConfigShape
  /** Official account: the consent page's scope. */
  readonly scope: "snsapi_base" | "snsapi_userinfo"
  /** Website app: QR login. */
  readonly qrCode: QrCode
  /** Mini program: whether the phone-number endpoint is on. */
  readonly phoneNumber: boolean
}

/** The hooks, as given (each optional). @internal */
export interface RawHooks {
  readonly findUser?: ((identity: any) => Effect.Effect<any, any, any>) | undefined
  readonly onFirstLogin?: ((identity: any) => Effect.Effect<any, any, any>) | undefined
  readonly onLogin?: ((event: any) => Effect.Effect<any, any, any>) | undefined
  readonly afterLogin?: ((event: any) => Effect.Effect<any, any, any>) | undefined
  readonly onPhoneNumber?: ((user: any, phone: any) => Effect.Effect<any, any, any>) | undefined
  readonly onLogout?: ((event: any) => Effect.Effect<any, any, any>) | undefined
}

/**
 * The app's page renderers, as given (each a function, or `undefined` for the built-in page). Read
 * once at construction: a later change to the caller's object does not reach the requests.
 *
 * @internal
 */
export interface ResolvedPages {
  readonly problem: ((page: ProblemPageContext) => unknown) | undefined
  readonly openInWeChat: ((page: OpenInWeChatPageContext) => unknown) | undefined
}

/** The apps of a `WeChatApps` registry, resolved. @internal */
export interface ResolvedRegistry {
  readonly kindOf: (appId: string) => Effect.Effect<unknown, unknown, any>
  readonly scope: "snsapi_base" | "snsapi_userinfo"
  readonly qrCode: QrCode
  readonly phoneNumber: boolean
  readonly openBaseUrl: string
}

/** The whole configuration, resolved. @internal */
export interface Resolved {
  readonly apps: ReadonlyArray<ResolvedApp>
  readonly registry: Option.Option<ResolvedRegistry>
  /** The site's origin (`https://example.com`), when configured. */
  readonly publicOrigin: Option.Option<string>
  /** The prefix of every path of the login, `""` or `/x` (no trailing slash). */
  readonly pathPrefix: string
  /** Where a login lands without `returnTo`, and where logout goes: a path on this site. */
  readonly home: string
  readonly sessionTtl: Duration.Duration
  readonly miniProgramSessionTtl: Duration.Duration
  /** The bound of a user's sessions in the login's own memory store, when given. */
  readonly maxSessionsPerUser: Option.Option<number>
  readonly hooks: RawHooks
  readonly pages: ResolvedPages
}

/** WeChat's script for the embedded QR code. @internal */
export const defaultQrScriptUrl = "https://res.wx.qq.com/connect/zh_CN/htmledition/js/wxLogin.js"

/** @internal */
export const defaults = {
  sessionTtl: Duration.hours(24),
  miniProgramSessionTtl: Duration.days(7)
} as const

/** The longest session the options may ask for. */
const maxSessionTtl = Duration.days(400)

const appKeyPattern = /^[a-z0-9][a-z0-9_-]{0,31}$/i

/** The longest `pathPrefix`, in characters (checked before the pattern). */
const maxPathPrefixLength = 256

/** A `pathPrefix` other than `""`: 1 to 8 segments, no slash at the end. */
const pathPrefixPattern = /^(\/[A-Za-z0-9._~-]+){1,8}$/

/**
 * The longest URL option (`publicUrl`, `qrCode.scriptUrl` and `qrCode.href`,
 * `registry.openBaseUrl`), in characters, as given and once parsed (percent-encoded): a landing
 * path's bound (`Landing.maxLandingBytes`), for the same reason: these URLs are in pages and in the
 * `Location` of redirects (a `publicUrl` in every `redirect_uri`).
 */
const maxUrlLength = Landing.maxLandingBytes

const invalid = (path: ReadonlyArray<string>, message: string) =>
  Either.left(ConfigError.InvalidData([...path], message))

/** What a value is said to be when reading it threw. */
const unreadable = "cannot be read (a getter or a Proxy's trap threw, or the Proxy is revoked)"

/** A plain copy of a caller's object: the fields read, each once. */
type Fields = Readonly<Record<string, unknown>>

/**
 * Runs a look at a caller's object (`Array.isArray`, its keys, a field): a JavaScript caller may
 * pass a getter or a Proxy trap that throws, or a revoked Proxy, and the look is then a
 * `ConfigError` at `path`, never a defect. `notObject` when the value is not a plain object (not an
 * object, `null`, an array).
 */
const look = <A>(
  path: ReadonlyArray<string>,
  value: unknown,
  notObject: string,
  f: (value: object) => A
): Either.Either<A, ConfigError.ConfigError> => {
  if (typeof value !== "object" || value === null) return invalid(path, notObject)
  try {
    return Array.isArray(value) ? invalid(path, notObject) : Either.right(f(value))
  } catch {
    return invalid(path, unreadable)
  }
}

/** The own enumerable keys of a caller's object (`Object.keys`). */
const keysOf = (path: ReadonlyArray<string>, value: unknown, notObject: string) =>
  look(path, value, notObject, Object.keys)

/**
 * A caller's object read once into a plain copy of its `keys` (own or inherited, as a property
 * access reads them), each getter run once, here: every later check and every request sees the
 * values read here. A field that cannot be read is a `ConfigError` at that field.
 */
const readFields = (
  path: ReadonlyArray<string>,
  value: unknown,
  notObject: string,
  keys: ReadonlyArray<string>
): Either.Either<Fields, ConfigError.ConfigError> =>
  Either.flatMap(look(path, value, notObject, () => undefined), () => {
    // no prototype: a key such as `__proto__` stays a field
    const fields: Record<string, unknown> = Object.create(null)
    for (const key of keys) {
      try {
        fields[key] = (value as Record<string, unknown>)[key]
      } catch {
        return invalid([...path, key], unreadable)
      }
    }
    return Either.right(fields)
  })

/**
 * An http(s) URL of at most `maxUrlLength` characters, as given and once parsed (the part `kept`:
 * the whole URL, or its origin); `undefined` otherwise. The length is checked before parsing: a URL
 * of megabytes is not parsed.
 */
const httpUrl = (value: unknown, kept: "href" | "origin"): URL | undefined => {
  if (typeof value !== "string" || value.length > maxUrlLength) return undefined
  try {
    const url = new URL(value)
    return (url.protocol === "http:" || url.protocol === "https:") && url[kept].length <= maxUrlLength
      ? url
      : undefined
  } catch {
    return undefined
  }
}

/** What `httpUrl` accepts, for the message of a URL option it refuses. */
const ofUrlLength = `of at most ${maxUrlLength} characters`

const optionalBoolean = (path: ReadonlyArray<string>, value: unknown, fallback: boolean) =>
  value === undefined
    ? Either.right(fallback)
    : typeof value === "boolean"
    ? Either.right(value)
    : invalid(path, "must be true or false")

const duration = (path: ReadonlyArray<string>, value: unknown, fallback: Duration.Duration) => {
  if (value === undefined) return Either.right(fallback)
  const decoded = Duration.decodeUnknown(value)
  return Option.isSome(decoded) && Duration.isFinite(decoded.value) &&
      Duration.greaterThanOrEqualTo(decoded.value, Duration.seconds(1)) &&
      Duration.lessThanOrEqualTo(decoded.value, maxSessionTtl)
    ? Either.right(decoded.value)
    : invalid(path, "must be a duration from 1 second to 400 days, e.g. \"24 hours\"")
}

const qrCodeKeys = ["embedded", "scriptUrl", "selfRedirect", "style", "href", "lang"] as const

const qrCode = (path: ReadonlyArray<string>, given: unknown): Either.Either<QrCode, ConfigError.ConfigError> =>
  Either.gen(function*() {
    const value: Fields = given === undefined ? {} : yield* readFields(path, given, "must be an object", qrCodeKeys)
    const field = (key: typeof qrCodeKeys[number]) => value[key]
    const embedded = yield* optionalBoolean([...path, "embedded"], field("embedded"), false)
    const selfRedirect = yield* optionalBoolean([...path, "selfRedirect"], field("selfRedirect"), false)
    const rawScript = field("scriptUrl") ?? defaultQrScriptUrl
    const script = httpUrl(rawScript, "href")
    if (script === undefined || script.username !== "" || script.password !== "") {
      return yield* invalid([...path, "scriptUrl"], `must be an http(s) URL ${ofUrlLength}`)
    }
    const style = field("style")
    if (style !== undefined && style !== "black" && style !== "white") {
      return yield* invalid([...path, "style"], "must be \"black\" or \"white\"")
    }
    const rawHref = field("href")
    const href = rawHref === undefined ? undefined : httpUrl(rawHref, "href")
    if (rawHref !== undefined && href === undefined) {
      return yield* invalid([...path, "href"], `must be the http(s) URL of a stylesheet, ${ofUrlLength}`)
    }
    const lang = field("lang")
    if (lang !== undefined && lang !== "cn" && lang !== "en") {
      return yield* invalid([...path, "lang"], "must be \"cn\" or \"en\"")
    }
    return {
      embedded,
      scriptUrl: script.href,
      selfRedirect,
      style: style as QrCode["style"],
      href: href?.href,
      lang: lang as QrCode["lang"]
    }
  })

const app = (key: string, given: unknown): Either.Either<ResolvedApp, ConfigError.ConfigError> =>
  Either.gen(function*() {
    const path = ["apps", key]
    if (!appKeyPattern.test(key)) {
      return yield* invalid(path, "an app's key is 1 to 32 letters, digits, _ or -, starting with a letter or digit")
    }
    // the fields read here; core reads the WeChat app's own (appId, appSecret, ...) from `given`
    const value = yield* readFields(path, given, "must be an object", ["kind", "scope", "qrCode", "phoneNumber"])
    const kind = value.kind
    if (kind !== "officialAccount" && kind !== "website" && kind !== "miniProgram") {
      return yield* invalid([...path, "kind"], "must be \"officialAccount\", \"website\" or \"miniProgram\"")
    }
    const config = yield* Either.mapLeft(
      WeChatConfig.makeEither(given as WeChatConfig.Options),
      (error) => ConfigError.prefixed(error, [...path])
    )
    const scope = value.scope ?? "snsapi_userinfo"
    if (kind === "officialAccount" && scope !== "snsapi_base" && scope !== "snsapi_userinfo") {
      return yield* invalid([...path, "scope"], "must be \"snsapi_base\" or \"snsapi_userinfo\"")
    }
    const qr = yield* qrCode([...path, "qrCode"], value.qrCode)
    const phoneNumber = yield* optionalBoolean([...path, "phoneNumber"], value.phoneNumber, false)
    return { key, kind, config, scope: scope as ResolvedApp["scope"], qrCode: qr, phoneNumber }
  })

const resolveRegistry = (given: unknown): Either.Either<ResolvedRegistry, ConfigError.ConfigError> =>
  Either.gen(function*() {
    const path = ["registry"]
    const value = yield* readFields(
      path,
      given,
      "must be an object",
      ["kindOf", "scope", "qrCode", "phoneNumber", "openBaseUrl"]
    )
    if (typeof value.kindOf !== "function") {
      return yield* invalid([...path, "kindOf"], "must be a function: the kind of login of an appid")
    }
    const scope = value.scope ?? "snsapi_userinfo"
    if (scope !== "snsapi_base" && scope !== "snsapi_userinfo") {
      return yield* invalid([...path, "scope"], "must be \"snsapi_base\" or \"snsapi_userinfo\"")
    }
    const qr = yield* qrCode([...path, "qrCode"], value.qrCode)
    const phoneNumber = yield* optionalBoolean([...path, "phoneNumber"], value.phoneNumber, false)
    const rawOpen = value.openBaseUrl ?? WeChatConfig.defaults.openBaseUrl
    const open = httpUrl(rawOpen, "origin")
    if (open === undefined) return yield* invalid([...path, "openBaseUrl"], `must be an http(s) URL ${ofUrlLength}`)
    return {
      kindOf: value.kindOf as ResolvedRegistry["kindOf"],
      scope,
      qrCode: qr,
      phoneNumber,
      openBaseUrl: open.origin
    }
  })

const hookNames = ["findUser", "onFirstLogin", "onLogin", "afterLogin", "onPhoneNumber", "onLogout"] as const

const pageNames = ["problem", "openInWeChat"] as const

const resolvePages = (given: unknown): Either.Either<ResolvedPages, ConfigError.ConfigError> =>
  Either.gen(function*() {
    if (given === undefined) return { problem: undefined, openInWeChat: undefined }
    const notObject = "must be an object of functions"
    for (const name of yield* keysOf(["pages"], given, notObject)) {
      if (!(pageNames as ReadonlyArray<string>).includes(name)) {
        return yield* invalid(["pages", name], `is not a page (${pageNames.join(", ")})`)
      }
    }
    const value = yield* readFields(["pages"], given, notObject, pageNames)
    const problem = value.problem
    const openInWeChat = value.openInWeChat
    if (problem !== undefined && typeof problem !== "function") {
      return yield* invalid(["pages", "problem"], "must be a function that returns the page's HTML")
    }
    if (openInWeChat !== undefined && typeof openInWeChat !== "function") {
      return yield* invalid(["pages", "openInWeChat"], "must be a function that returns the page's HTML")
    }
    return {
      problem: problem as ResolvedPages["problem"],
      openInWeChat: openInWeChat as ResolvedPages["openInWeChat"]
    }
  })

const optionKeys = [
  "apps",
  "registry",
  "publicUrl",
  "pathPrefix",
  "home",
  "sessionTtl",
  "miniProgramSessionTtl",
  "maxSessionsPerUser",
  "hooks",
  "pages"
] as const

/**
 * Checks the options. Each object of them (the options, `apps` and each app, `qrCode`, `registry`,
 * `hooks`, `pages`) is read once, into a copy: what a request later sees is what was checked here.
 *
 * @internal
 */
export const resolve = (given: unknown): Either.Either<Resolved, ConfigError.ConfigError> =>
  Either.gen(function*() {
    const options = yield* readFields([], given, "WeChatLogin's options must be an object", optionKeys)
    const noApps = "must be an object with at least one app, e.g. { official: { kind: ... } }"
    const givenApps = options.apps ?? (options.registry === undefined ? undefined : {})
    const appKeys = yield* keysOf(["apps"], givenApps, noApps)
    if (appKeys.length === 0 && options.registry === undefined) return yield* invalid(["apps"], noApps)
    if (appKeys.length > 100) return yield* invalid(["apps"], "at most 100 apps")
    const appValues = yield* readFields(["apps"], givenApps, noApps, appKeys)
    const apps: Array<ResolvedApp> = []
    for (const key of appKeys) {
      const value = appValues[key]
      const resolved = yield* app(key, value)
      if (apps.some((a) => a.config.appId === resolved.config.appId)) {
        return yield* invalid(["apps", key, "appId"], "another app has the same appId")
      }
      apps.push(resolved)
    }
    const registry = options.registry === undefined
      ? Option.none<ResolvedRegistry>()
      : Option.some(yield* resolveRegistry(options.registry))
    let publicOrigin = Option.none<string>()
    if (options.publicUrl !== undefined) {
      const url = httpUrl(options.publicUrl, "origin")
      if (
        url === undefined || url.username !== "" || url.password !== "" || (url.pathname !== "/") || url.search !== ""
      ) {
        return yield* invalid(
          ["publicUrl"],
          `must be the site's origin, e.g. https://example.com (no path or query), ${ofUrlLength}`
        )
      }
      publicOrigin = Option.some(url.origin)
    }
    const rawPrefix = options.pathPrefix ?? ""
    if (
      typeof rawPrefix !== "string" ||
      // the length first: the pattern bounds the segments, not their length
      rawPrefix.length > maxPathPrefixLength ||
      !(rawPrefix === "" || pathPrefixPattern.test(rawPrefix)) ||
      rawPrefix.split("/").some((segment) => segment === "." || segment === "..")
    ) {
      return yield* invalid(
        ["pathPrefix"],
        `must be "" or a path such as /auth, of at most ${maxPathPrefixLength} characters and 8 segments (letters, digits, . _ ~ -)`
      )
    }
    const rawHome = options.home ?? "/"
    const home = Landing.landingPath(rawHome)
    if (typeof rawHome !== "string" || home === undefined) {
      return yield* invalid(
        ["home"],
        `must be a path on this site, such as /, of at most ${Landing.maxLandingBytes} bytes once percent-encoded`
      )
    }
    const sessionTtl = yield* duration(["sessionTtl"], options.sessionTtl, defaults.sessionTtl)
    const miniProgramSessionTtl = yield* duration(
      ["miniProgramSessionTtl"],
      options.miniProgramSessionTtl,
      defaults.miniProgramSessionTtl
    )
    const rawMax = options.maxSessionsPerUser
    if (rawMax !== undefined && !(typeof rawMax === "number" && Number.isSafeInteger(rawMax) && rawMax >= 1)) {
      return yield* invalid(["maxSessionsPerUser"], "must be a positive integer, e.g. 100")
    }
    const givenHooks = options.hooks ?? {}
    const notHooks = "must be an object of functions"
    for (const name of yield* keysOf(["hooks"], givenHooks, notHooks)) {
      if (!(hookNames as ReadonlyArray<string>).includes(name)) {
        return yield* invalid(["hooks", name], `is not a hook (${hookNames.join(", ")})`)
      }
    }
    const hookFields = yield* readFields(["hooks"], givenHooks, notHooks, hookNames)
    const rawHooks: Record<string, (...args: ReadonlyArray<unknown>) => unknown> = {}
    for (const name of hookNames) {
      const hook = hookFields[name]
      if (hook === undefined) continue
      if (typeof hook !== "function") return yield* invalid(["hooks", name], "must be a function")
      // called as a method of the hooks object given, as before the copy
      rawHooks[name] = (...args) => Reflect.apply(hook, givenHooks, args)
    }
    if (rawHooks.onFirstLogin !== undefined && rawHooks.findUser === undefined) {
      return yield* invalid(
        ["hooks", "onFirstLogin"],
        "needs hooks.findUser, which says whether the user is new (by openid, or by unionid across apps)"
      )
    }
    const pages = yield* resolvePages(options.pages)
    return {
      apps,
      registry,
      publicOrigin,
      pathPrefix: rawPrefix,
      home,
      sessionTtl,
      miniProgramSessionTtl,
      maxSessionsPerUser: Option.fromNullable(rawMax as number | undefined),
      hooks: rawHooks as RawHooks,
      pages
    }
  })
