/**
 * Schemas for everything the sandbox accepts from outside: options and JSON config files, faults,
 * and the bodies of the `/__sandbox/` control endpoints. Decoding errors become one readable line.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import type {
  ComponentPush,
  Endpoint,
  Fault,
  FaultKind,
  SandboxApp,
  SandboxComponent,
  SandboxError,
  SandboxOptions,
  SandboxUser
} from "../Sandbox.js"
import type { ComponentConfig } from "./component.js"
import * as Domains from "./domains.js"
import * as Ids from "./ids.js"
import { quote } from "./quote.js"

/** @internal */
export const endpoints: ReadonlyArray<Endpoint> = [
  "authorize",
  "qrconnect",
  "access_token",
  "refresh_token",
  "userinfo",
  "auth",
  "jscode2session",
  "stable_token",
  "token",
  "getuserphonenumber",
  "checksession",
  "resetusersessionkey",
  "api_component_token",
  "api_query_auth",
  "api_authorizer_token",
  "component_access_token",
  "component_refresh_token",
  "component_jscode2session"
]

/** @internal */
export const faultKinds: ReadonlyArray<FaultKind> = [
  "busy",
  "rateLimited",
  "errcode",
  "http500",
  "http502",
  "truncated",
  "wrongShape",
  "slow",
  "reset",
  "nested",
  "huge",
  "drip",
  "nonFinite",
  "echo",
  "wrongOpenid",
  "raw"
]

const strict = { onExcessProperty: "error", errors: "all" } as const

// `exact`: no `| undefined` branch, so a bad value gets one message, not one per branch (undefined
// values are dropped before decoding)
const optional = <S extends Schema.Schema.Any>(schema: S) => Schema.optionalWith(schema, { exact: true })

const oneOf = <const L extends ReadonlyArray<string | number>>(...literals: L) =>
  Schema.Literal(...literals).annotations({
    message: () => ({ message: `must be one of ${literals.map((l) => JSON.stringify(l)).join(", ")}`, override: true })
  })

const Id = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9_-]{1,64}$/, { message: () => "must be 1 to 64 characters of A-Z a-z 0-9 _ -" })
)

const FiniteNonNegative = Schema.Number.pipe(
  Schema.finite({ message: () => "must be a finite number" }),
  Schema.nonNegative({ message: () => "must not be negative" })
)

const IntFromTo = (min: number, max: number) =>
  Schema.Number.pipe(
    Schema.filter((n) => Number.isInteger(n) && n >= min && n <= max, {
      message: () => `must be an integer from ${min} to ${max}`
    })
  )

const ShortString = (max: number) =>
  Schema.String.pipe(Schema.maxLength(max, { message: () => `must be at most ${max} characters` }))

/** A JSON number's text (RFC 8259), any magnitude: `1e400`, `-7200`, `7200.5`. */
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/

/** @internal */
export const faultLimits = {
  depth: { min: 1, max: 100_000 },
  bytes: { min: 16, max: 1024 * 1024 * 1024 },
  intervalMs: { min: 1, max: 60_000 },
  dripDelayMs: 60 * 60 * 1000,
  dripWrites: 100_000,
  status: { min: 200, max: 599 },
  value: 1000,
  errmsg: 10_000,
  body: 1024 * 1024,
  /** Faults pending at once (a fault repeats with `times`): each is kept until used up or cleared. */
  pending: 1000
} as const

/** What a fault's options default to. @internal */
export const faultDefaults = {
  times: 1,
  slowDelayMs: 10_000,
  dripDelayMs: 60_000,
  depth: 5000,
  bytes: 100 * 1024 * 1024,
  contentLength: true,
  intervalMs: 500,
  value: "1e400",
  echoErrcode: 40029,
  status: 200,
  contentType: "text/plain",
  afterEffect: false
} as const

const FaultSchema = Schema.Struct({
  kind: oneOf(...faultKinds),
  endpoint: optional(oneOf(...endpoints, "*")),
  times: optional(Schema.Int.pipe(Schema.positive({ message: () => "must be a positive integer" }))),
  delayMs: optional(FiniteNonNegative),
  errcode: optional(Schema.Int),
  errmsg: optional(ShortString(faultLimits.errmsg)),
  depth: optional(IntFromTo(faultLimits.depth.min, faultLimits.depth.max)),
  field: optional(
    Schema.String.pipe(
      Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, {
        message: () => "must be a field name: 1 to 64 characters of A-Z a-z 0-9 _, not starting with a digit"
      })
    )
  ),
  bytes: optional(IntFromTo(faultLimits.bytes.min, faultLimits.bytes.max)),
  contentLength: optional(Schema.Boolean),
  intervalMs: optional(IntFromTo(faultLimits.intervalMs.min, faultLimits.intervalMs.max)),
  value: optional(
    ShortString(faultLimits.value).pipe(
      Schema.pattern(JSON_NUMBER, { message: () => "must be the text of a JSON number, e.g. \"1e400\" or \"-7200\"" })
    )
  ),
  body: optional(ShortString(faultLimits.body)),
  status: optional(IntFromTo(faultLimits.status.min, faultLimits.status.max)),
  contentType: optional(
    Schema.String.pipe(
      Schema.pattern(/^[\x20-\x7e]{1,200}$/, { message: () => "must be 1 to 200 printable ASCII characters" })
    )
  ),
  afterEffect: optional(Schema.Boolean)
})

/** A host of `redirectDomains`: a domain or IP, and a port when it is not the scheme's default. */
const RedirectDomain = Schema.String.pipe(
  Schema.filter((host) => Domains.parse(host) !== undefined, {
    message: () => "must be a host: a domain or IP address, with :port only for a port that is not the default"
  })
)

/**
 * An app secret (a platform's component secret too), as `@wxauth/core`'s `WeChatConfig` takes it:
 * 1 to 128 printable ASCII characters without spaces (WeChat's are 32 hex characters), so that a
 * sandbox config holds no app an app under test cannot be configured with.
 */
const AppSecret = Schema.String.pipe(
  Schema.filter((secret) => /^[\x21-\x7e]{1,128}$/.test(secret), {
    message: () => "must be 1 to 128 printable ASCII characters without spaces (WeChat's are 32 hex characters)"
  })
)

const AppSchema = Schema.Struct({
  appId: Id,
  secret: AppSecret,
  kind: oneOf("officialAccount", "website", "miniProgram"),
  name: optional(Schema.String),
  bound: optional(Schema.Boolean),
  profile: optional(oneOf("today", "pre2021")),
  users: optional(Schema.Array(Schema.String)),
  wrongSecretErrcode: optional(oneOf(40125, 40001)),
  redirectDomains: optional(
    Schema.Array(RedirectDomain).pipe(Schema.maxItems(100, {
      message: () => "must be at most 100 hosts"
    }))
  ),
  unionidOnRefresh: optional(Schema.Boolean)
})

const AuthorizerSchema = Schema.Struct({
  appId: Id,
  kind: oneOf("officialAccount", "miniProgram"),
  name: optional(Schema.String),
  bound: optional(Schema.Boolean),
  profile: optional(oneOf("today", "pre2021")),
  users: optional(Schema.Array(Schema.String))
})

const isAbsoluteHttpUrl = (value: string): boolean => {
  try {
    const url = new URL(value)
    return (url.protocol === "http:" || url.protocol === "https:") && url.host !== ""
  } catch {
    return false
  }
}

/** The shortest push interval: a timer faster than this would only flood the receiver. @internal */
export const minPushIntervalMillis = 10

/** A `Duration.DurationInput` (in JSON: milliseconds, or a text like "10 minutes"), finite and at least 10 ms. */
const PushInterval = Schema.declare(
  (input: unknown): input is Duration.DurationInput => {
    const duration = Duration.decodeUnknown(input)
    if (Option.isNone(duration)) return false
    const millis = Duration.toMillis(duration.value)
    return Number.isFinite(millis) && millis >= minPushIntervalMillis
  },
  {
    message: () =>
      `must be false or a finite duration of at least ${minPushIntervalMillis} ms (milliseconds, or a text like "10 minutes")`
  }
)

const PushHandler = Schema.declare(
  (input: unknown): input is (push: ComponentPush) => Effect.Effect<string, unknown> => typeof input === "function",
  { message: () => "must be a function (push) => Effect<string>" }
)

const ComponentSchema = Schema.Struct({
  componentAppId: Id,
  componentAppSecret: AppSecret,
  token: Schema.String.pipe(
    Schema.pattern(/^[A-Za-z0-9]{3,32}$/, { message: () => "must be 3 to 32 characters of A-Z a-z 0-9" })
  ),
  encodingAesKey: Schema.String.pipe(
    Schema.pattern(/^[A-Za-z0-9+/]{43}$/, { message: () => "must be 43 characters of A-Z a-z 0-9 + /" })
  ),
  name: optional(Schema.String),
  pushUrl: optional(
    ShortString(2048).pipe(
      Schema.filter(isAbsoluteHttpUrl, { message: () => "must be an absolute http(s) URL" })
    )
  ),
  pushHandler: optional(PushHandler),
  pushInterval: optional(Schema.Union(Schema.Literal(false), PushInterval)),
  authorizers: optional(Schema.Array(AuthorizerSchema))
})

const UserSchema = Schema.Struct({
  id: Id,
  nickname: Schema.String,
  sex: optional(oneOf(0, 1, 2)),
  province: optional(Schema.String),
  city: optional(Schema.String),
  country: optional(Schema.String),
  headimgurl: optional(Schema.String),
  privilege: optional(Schema.Array(Schema.String)),
  unionid: optional(Schema.String),
  snapshot: optional(Schema.Boolean),
  phoneNumber: optional(
    Schema.String.pipe(Schema.pattern(/^[0-9]{4,20}$/, { message: () => "must be 4 to 20 digits" }))
  ),
  countryCode: optional(
    Schema.String.pipe(Schema.pattern(/^[1-9][0-9]{0,3}$/, { message: () => "must be 1 to 4 digits, without +" }))
  )
})

const LimitsSchema = Schema.Struct({
  tokenPerDay: optional(IntFromTo(0, 1_000_000_000)),
  forceRefreshPerDay: optional(IntFromTo(0, 1_000_000_000))
})

const OptionsSchema = Schema.Struct({
  apps: optional(Schema.Array(AppSchema)),
  users: optional(Schema.Array(UserSchema)),
  limits: optional(LimitsSchema),
  components: optional(Schema.Array(ComponentSchema))
})

/** @internal */
export const ApproveBody = Schema.Struct({
  appId: Schema.String,
  user: Schema.String,
  scope: Schema.String,
  redirectUri: Schema.String,
  state: optional(Schema.String),
  componentAppId: optional(Schema.String)
})

/** @internal */
export const ComponentBody = Schema.Struct({ componentAppId: Schema.String })

/** @internal */
export const ComponentAppBody = Schema.Struct({ componentAppId: Schema.String, appId: Schema.String })

/** @internal */
export const ComponentIpBody = Schema.Struct({ componentAppId: Schema.String, refuse: Schema.Boolean })

/** The most a forged field may hold (a plaintext of 64 KiB is the most a push body reaches). */
const FORGE_MAX = 64 * 1024

/** @internal */
export const ComponentPushBody = Schema.Struct({
  componentAppId: Schema.String,
  infoType: oneOf("component_verify_ticket", "authorized", "updateauthorized", "unauthorized"),
  appId: optional(Schema.String),
  forge: optional(Schema.Struct({
    appId: optional(ShortString(FORGE_MAX)),
    token: optional(ShortString(FORGE_MAX)),
    encodingAesKey: optional(Schema.String),
    signature: optional(ShortString(FORGE_MAX)),
    timestamp: optional(Schema.Int),
    nonce: optional(ShortString(FORGE_MAX)),
    xml: optional(ShortString(FORGE_MAX))
  }))
})

/** @internal */
export const LoginBody = Schema.Struct({
  appId: Schema.String,
  user: Schema.String,
  sessionKey: optional(Schema.String)
})

/** @internal */
export const PhoneCodeBody = Schema.Struct({
  appId: Schema.String,
  user: Schema.String,
  watermarkAppId: optional(Schema.String)
})

/** @internal */
export const AppBody = Schema.Struct({ appId: Schema.String })

/** @internal */
export const EncryptBody = Schema.Struct({
  appId: Schema.String,
  user: Schema.String,
  watermarkAppId: optional(Schema.String)
})

/**
 * The most one clock advance may add: 100 years (a `Date` then still shows the sandbox's time).
 *
 * @internal
 */
export const maxAdvanceMillis = 100 * 365.25 * 24 * 60 * 60 * 1000

/** Whether epoch milliseconds are a date JavaScript can show (at most year 275760). @internal */
export const isDate = (millis: number): boolean => !Number.isNaN(new Date(millis).getTime())

const AtMost100Years = (max: number) =>
  FiniteNonNegative.pipe(Schema.lessThanOrEqualTo(max, { message: () => `must be at most 100 years (${max})` }))

/** @internal */
export const AdvanceBody = Schema.Struct({
  seconds: optional(AtMost100Years(maxAdvanceMillis / 1000)),
  ms: optional(AtMost100Years(maxAdvanceMillis))
})

/** The most problems one message names; the rest are counted, not described. */
const MAX_PROBLEMS = 8
/** How deep the walk goes into the issue tree (ours are a few levels deep; a deeper one is cut short). */
const MAX_ISSUE_DEPTH = 32
/** A longer path segment (an unexpected key can be of any size) or message is cut to this length. */
const MAX_SEGMENT = 40
const MAX_MESSAGE = 200

const cut = (text: string, max: number): string => text.length > max ? `${text.slice(0, max)}…` : text

/** The text of a plain message annotation (the annotations of these schemas never read the value). */
const annotated = (
  ast: AST.Annotated,
  issue: ParseResult.ParseIssue
): { readonly message: string; readonly override: boolean } | undefined => {
  const annotation = AST.getMessageAnnotation(ast)
  if (Option.isNone(annotation)) return undefined
  const result = annotation.value(issue)
  if (typeof result === "string") return { message: result, override: false }
  if ("message" in result && typeof result.message === "string") {
    return { message: result.message, override: result.override }
  }
  return undefined
}

/** What a schema expects (as Effect's formatters say it), from the schema alone: never from the value. */
const expected = (ast: AST.AST): string =>
  AST.isRefinement(ast) ?
    AST.getDescriptionAnnotation(ast).pipe(
      Option.orElse(() => AST.getTitleAnnotation(ast)),
      Option.orElse(() => AST.getIdentifierAnnotation(ast)),
      Option.getOrElse(() => String(ast))
    ) :
    String(ast)

/**
 * One line per problem, `path: message`, joined by "; ". Built from the issue tree's paths and issue
 * kinds and the schemas' own messages only: the value that failed (`actual`) is never formatted, so
 * a value of any size or depth (`[[[[...]]]]` five thousand deep) costs nothing to describe, and the
 * walk stops after `MAX_PROBLEMS` problems.
 *
 * @internal
 */
export const formatIssue = (root: ParseResult.ParseIssue): string => {
  const problems: Array<string> = []
  let more = 0
  const add = (path: ReadonlyArray<PropertyKey>, message: string): void => {
    if (problems.length >= MAX_PROBLEMS) {
      more++
      return
    }
    const text = cut(message, MAX_MESSAGE)
    problems.push(path.length === 0 ? text : `${path.map((key) => cut(String(key), MAX_SEGMENT)).join(".")}: ${text}`)
  }
  const walk = (issue: ParseResult.ParseIssue, path: ReadonlyArray<PropertyKey>, depth: number): void => {
    if (more > 0) return
    if (depth > MAX_ISSUE_DEPTH) return add(path, "is invalid")
    switch (issue._tag) {
      case "Pointer":
        return walk(issue.issue, path.concat(issue.path), depth + 1)
      case "Composite": {
        const own = annotated(issue.ast, issue)
        if (own?.override === true) return add(path, own.message)
        for (const inner of Array.isArray(issue.issues) ? issue.issues : [issue.issues]) walk(inner, path, depth + 1)
        return
      }
      case "Refinement": {
        const own = annotated(issue.ast, issue)
        if (own !== undefined && (own.override || issue.kind === "Predicate")) return add(path, own.message)
        if (issue.kind === "From") return walk(issue.issue, path, depth + 1)
        return add(path, `Expected ${expected(issue.ast)}`)
      }
      case "Transformation": {
        const own = annotated(issue.ast, issue)
        if (own !== undefined && (own.override || issue.kind === "Transformation")) return add(path, own.message)
        return walk(issue.issue, path, depth + 1)
      }
      case "Type":
        // not `issue.message`: a transformation may have written the value into it
        return add(path, annotated(issue.ast, issue)?.message ?? `Expected ${expected(issue.ast)}`)
      case "Missing": {
        const own = AST.getMissingMessageAnnotation(issue.ast)
        const message = Option.isSome(own) ? own.value() : undefined
        return add(path, typeof message === "string" ? message : "is missing")
      }
      case "Unexpected":
        // Effect's message lists the keys the schema expects, never the value
        return add(path, issue.message ?? "is unexpected")
      case "Forbidden":
        return add(path, "is forbidden")
    }
  }
  walk(root, [], 0)
  if (more > 0) problems.push("and more")
  return problems.length === 0 ? "is invalid" : problems.join("; ")
}

/** `formatIssue` of a `ParseError`. @internal */
export const formatParseError = (error: ParseResult.ParseError): string => formatIssue(error.issue)

/** How deep `dropUndefined` looks: options, a list, an app or user, its fields. */
const DROP_UNDEFINED_DEPTH = 3

/**
 * Drops `undefined` values (`{ state: undefined }` from code) so that `exact` optional fields take
 * them. Only the first levels: deeper values are left as they are, so a deep JSON body cannot
 * exhaust the stack.
 */
const dropUndefined = (value: unknown, depth: number = 0): unknown => {
  if (depth >= DROP_UNDEFINED_DEPTH) return value
  if (Array.isArray(value)) return value.map((item) => dropUndefined(item, depth + 1))
  if (typeof value !== "object" || value === null || Object.getPrototypeOf(value) !== Object.prototype) return value
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, dropUndefined(v, depth + 1)])
  )
}

/**
 * Decodes an unknown value, rejecting unknown keys; the error is a readable line. A caller's value
 * that cannot be read (a getter or a Proxy trap that throws, a revoked Proxy: `Schema` and
 * `dropUndefined` do not catch what a look at it throws) is a `Left` too, never a throw. @internal
 */
export const decode = <A, I>(schema: Schema.Schema<A, I>, input: unknown): Either.Either<A, string> => {
  try {
    return Either.mapLeft(Schema.decodeUnknownEither(schema, strict)(dropUndefined(input)), formatParseError)
  } catch {
    return Either.left("cannot be read (a getter threw, or the Proxy is revoked)")
  }
}

/** A `Left` (a readable line) as a failure made by `toError`. @internal */
export const orFail = <A>(
  either: Either.Either<A, string>,
  toError: (message: string) => SandboxError
): Effect.Effect<A, SandboxError> =>
  Either.isRight(either) ? Effect.succeed(either.right) : Effect.fail(toError(either.left))

/** A fault as given, checked; defaults filled in. @internal */
export interface PendingFault {
  readonly kind: FaultKind
  readonly endpoint: Endpoint | "*"
  readonly remaining: number
  readonly delayMs: number
  readonly errcode: number | undefined
  readonly errmsg: string | undefined
  readonly depth: number
  readonly field: string | undefined
  readonly bytes: number
  readonly contentLength: boolean
  readonly intervalMs: number
  readonly value: string
  readonly body: string | undefined
  readonly status: number
  readonly contentType: string
  /** For `reset`: drop the connection after the call took effect. */
  readonly afterEffect: boolean
}

/** @internal */
export const checkFault = (input: Fault): Either.Either<PendingFault, string> =>
  Either.flatMap(decode(FaultSchema, input), (fault) => {
    if (fault.kind === "errcode" && fault.errcode === undefined) {
      return Either.left("a fault of kind \"errcode\" needs an errcode")
    }
    if (fault.kind === "raw" && fault.body === undefined) {
      return Either.left("a fault of kind \"raw\" needs a body")
    }
    const pending: PendingFault = {
      kind: fault.kind,
      endpoint: fault.endpoint ?? "*",
      remaining: fault.times ?? faultDefaults.times,
      delayMs: fault.delayMs ?? (fault.kind === "drip" ? faultDefaults.dripDelayMs : faultDefaults.slowDelayMs),
      errcode: fault.errcode ?? (fault.kind === "echo" ? faultDefaults.echoErrcode : undefined),
      errmsg: fault.errmsg,
      depth: fault.depth ?? faultDefaults.depth,
      field: fault.field,
      bytes: fault.bytes ?? faultDefaults.bytes,
      contentLength: fault.contentLength ?? faultDefaults.contentLength,
      intervalMs: fault.intervalMs ?? faultDefaults.intervalMs,
      value: fault.value ?? faultDefaults.value,
      body: fault.body,
      status: fault.status ?? faultDefaults.status,
      contentType: fault.contentType ?? faultDefaults.contentType,
      afterEffect: fault.afterEffect ?? faultDefaults.afterEffect
    }
    if (pending.kind === "drip") {
      if (pending.delayMs > faultLimits.dripDelayMs) {
        return Either.left(`delayMs: must be at most ${faultLimits.dripDelayMs} for a drip`)
      }
      if (pending.delayMs / pending.intervalMs > faultLimits.dripWrites) {
        return Either.left(`delayMs / intervalMs: a drip writes at most ${faultLimits.dripWrites} times`)
      }
    }
    return Either.right(pending)
  })

/** A pending fault as the controls list it: the options of its kind, defaults filled in. @internal */
export const toFault = (pending: PendingFault): Fault => {
  const options = ((): Partial<Fault> => {
    switch (pending.kind) {
      case "slow":
        return { delayMs: pending.delayMs }
      case "reset":
        return { afterEffect: pending.afterEffect }
      case "errcode":
        return { errcode: pending.errcode, errmsg: pending.errmsg }
      case "nested":
        return { depth: pending.depth, field: pending.field }
      case "huge":
        return { bytes: pending.bytes, contentLength: pending.contentLength }
      case "drip":
        return { intervalMs: pending.intervalMs, delayMs: pending.delayMs }
      case "nonFinite":
        return { value: pending.value, field: pending.field }
      case "echo":
        return { errcode: pending.errcode, errmsg: pending.errmsg }
      case "raw":
        return { status: pending.status, contentType: pending.contentType, body: pending.body }
      default:
        return {}
    }
  })()
  return { kind: pending.kind, endpoint: pending.endpoint, times: pending.remaining, ...options }
}

/** The sandbox's apps, users, quotas and platforms, complete and checked. @internal */
export interface Config {
  /** The apps as configured (or the defaults). */
  readonly apps: ReadonlyArray<SandboxApp>
  readonly users: ReadonlyArray<SandboxUser>
  readonly limits: {
    readonly tokenPerDay: number
    readonly forceRefreshPerDay: number
  }
  readonly components: ReadonlyArray<ComponentConfig>
  /** The platforms' authorizers that are not among `apps`, as apps. */
  readonly authorizerApps: ReadonlyArray<SandboxApp>
}

/** Every app of a config: the configured ones, then the authorizers added. @internal */
export const allApps = (config: Config): ReadonlyArray<SandboxApp> => [...config.apps, ...config.authorizerApps]

/** A platform's push interval as configured: the default, or off. @internal */
export const defaultPushInterval: Duration.Duration = Duration.minutes(10)

const duplicate = (ids: ReadonlyArray<string>): string | undefined => ids.find((id, i) => ids.indexOf(id) !== i)

/**
 * Checks options (from code or from a JSON file), fills in the optional fields of apps and users,
 * and falls back to the defaults for a missing list.
 *
 * @internal
 */
export const checkOptions = (
  input: unknown,
  defaults: Config
): Either.Either<Config, string> =>
  Either.flatMap(decode(OptionsSchema, input ?? {}), (options) => {
    const apps: ReadonlyArray<SandboxApp> = options.apps === undefined ? defaults.apps : options.apps.map((app) => ({
      appId: app.appId,
      secret: app.secret,
      kind: app.kind,
      name: app.name ?? app.appId,
      bound: app.bound ?? false,
      ...(app.profile === undefined ? {} : { profile: app.profile }),
      ...(app.users === undefined ? {} : { users: app.users }),
      ...(app.wrongSecretErrcode === undefined ? {} : { wrongSecretErrcode: app.wrongSecretErrcode }),
      ...(app.redirectDomains === undefined ? {} : { redirectDomains: app.redirectDomains }),
      ...(app.unionidOnRefresh === undefined ? {} : { unionidOnRefresh: app.unionidOnRefresh })
    }))
    const users: ReadonlyArray<SandboxUser> = options.users === undefined ?
      defaults.users :
      options.users.map((user) => ({
        id: user.id,
        nickname: user.nickname,
        sex: user.sex ?? 0,
        province: user.province ?? "",
        city: user.city ?? "",
        country: user.country ?? "",
        headimgurl: user.headimgurl ?? "",
        privilege: user.privilege ?? [],
        unionid: user.unionid ?? Ids.deriveUnionid(user.id),
        ...(user.snapshot === undefined ? {} : { snapshot: user.snapshot }),
        phoneNumber: user.phoneNumber ?? Ids.derivePhoneNumber(user.id),
        countryCode: user.countryCode ?? "86"
      }))
    const limits = {
      tokenPerDay: options.limits?.tokenPerDay ?? defaults.limits.tokenPerDay,
      forceRefreshPerDay: options.limits?.forceRefreshPerDay ?? defaults.limits.forceRefreshPerDay
    }
    if (apps.length === 0) return Either.left("apps: at least one app is needed")
    if (users.length === 0) return Either.left("users: at least one user is needed")
    const app = duplicate(apps.map((app) => app.appId))
    if (app !== undefined) return Either.left(`apps: appId ${app} appears twice`)
    const user = duplicate(users.map((user) => user.id))
    if (user !== undefined) return Either.left(`users: id ${user} appears twice`)
    return Either.flatMap(checkComponents(options.components ?? [], apps), ({ authorizerApps, components }) => {
      const userIds = new Set(users.map((user) => user.id))
      for (const app of [...apps, ...authorizerApps]) {
        const unknown = app.users?.find((id) => !userIds.has(id))
        if (unknown !== undefined) return Either.left(`app ${app.appId}: users: no user ${quote(unknown)}`)
      }
      return Either.right({ apps, users, limits, components, authorizerApps })
    })
  })

/**
 * Checks the platforms against the apps: ids unique and apart from the apps', `pushUrl` and
 * `pushHandler` not both; each authorizer either one of the apps (same kind, nothing more given)
 * or a new app, mentioned once per platform and defined once.
 */
const checkComponents = (
  input: ReadonlyArray<Schema.Schema.Type<typeof ComponentSchema>>,
  apps: ReadonlyArray<SandboxApp>
): Either.Either<{ components: ReadonlyArray<ComponentConfig>; authorizerApps: ReadonlyArray<SandboxApp> }, string> => {
  const known = new Map(apps.map((app) => [app.appId, app]))
  const authorizerApps: Array<SandboxApp> = []
  const components: Array<ComponentConfig> = []
  const ids = new Set<string>()
  for (const [i, component] of input.entries()) {
    const where = `components.${i}`
    if (ids.has(component.componentAppId)) {
      return Either.left(`${where}: componentAppId ${component.componentAppId} appears twice`)
    }
    ids.add(component.componentAppId)
    if (known.has(component.componentAppId)) {
      return Either.left(`${where}: componentAppId ${component.componentAppId} is an app's appId`)
    }
    if (component.pushUrl !== undefined && component.pushHandler !== undefined) {
      return Either.left(`${where}: give pushUrl or pushHandler, not both`)
    }
    const authorizers = component.authorizers ?? []
    const mentioned = duplicate(authorizers.map((authorizer) => authorizer.appId))
    if (mentioned !== undefined) return Either.left(`${where}.authorizers: appId ${mentioned} appears twice`)
    for (const [j, authorizer] of authorizers.entries()) {
      const existing = known.get(authorizer.appId)
      if (existing === undefined) {
        const app: SandboxApp = {
          appId: authorizer.appId,
          secret: Ids.deriveSecret(authorizer.appId),
          kind: authorizer.kind,
          name: authorizer.name ?? authorizer.appId,
          bound: authorizer.bound ?? false,
          ...(authorizer.profile === undefined ? {} : { profile: authorizer.profile }),
          ...(authorizer.users === undefined ? {} : { users: authorizer.users })
        }
        known.set(app.appId, app)
        authorizerApps.push(app)
        continue
      }
      if (existing.kind !== authorizer.kind) {
        return Either.left(`${where}.authorizers.${j}: app ${authorizer.appId} is a ${existing.kind} app`)
      }
      const more = (["name", "bound", "profile", "users"] as const).find((key) => authorizer[key] !== undefined)
      if (more !== undefined) {
        return Either.left(
          `${where}.authorizers.${j}: app ${authorizer.appId} is defined already: give its ${more} there, once`
        )
      }
    }
    components.push({
      componentAppId: component.componentAppId,
      componentAppSecret: component.componentAppSecret,
      token: component.token,
      encodingAesKey: component.encodingAesKey,
      name: component.name ?? component.componentAppId,
      ...(component.pushUrl === undefined ? {} : { pushUrl: component.pushUrl }),
      ...(component.pushHandler === undefined ? {} : { pushHandler: component.pushHandler }),
      pushInterval: component.pushInterval === undefined ?
        defaultPushInterval :
        component.pushInterval === false ?
        false :
        Duration.decode(component.pushInterval),
      authorizers: authorizers.map((authorizer) => ({ appId: authorizer.appId, kind: authorizer.kind }))
    })
  }
  return Either.right({ components, authorizerApps })
}

const JSON_HEX = /^[0-9a-fA-F]$/
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= "0" && c <= "9"

/**
 * The offset of the first character `JSON.parse` refuses in `text` (`text.length` when the text
 * ends too soon), or `undefined` when the scan finds none. Iterative: a deep nesting is no stack.
 */
const jsonErrorOffset = (text: string): number | undefined => {
  const end = text.length
  const stack: Array<"[" | "{"> = []
  let i = 0
  let state: "value" | "key" | "after" = "value"
  const skipSpace = () => {
    while (i < end && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++
  }
  // a string at i: the offset past its closing quote, or the offset it breaks at as -1 - offset
  const scanString = (): number => {
    let j = i + 1
    while (j < end) {
      const c = text.charCodeAt(j)
      if (c === 0x22) return j + 1
      if (c < 0x20) return -1 - j
      if (c !== 0x5c) {
        j++
        continue
      }
      const escape = text[j + 1]
      if (escape === undefined) return -1 - end
      if (escape === "u") {
        for (let k = j + 2; k < j + 6; k++) if (!JSON_HEX.test(text[k] ?? "")) return -1 - Math.min(k, end)
        j += 6
      } else if ("\"\\/bfnrt".includes(escape)) {
        j += 2
      } else {
        return -1 - (j + 1)
      }
    }
    return -1 - end
  }
  // a number at i: the offset past it, or the offset it breaks at as -1 - offset
  const scanNumber = (): number => {
    let j = i
    if (text[j] === "-") j++
    if (text[j] === "0") j++
    else if (isDigit(text[j])) { while (isDigit(text[j])) j++ }
    else return -1 - j
    if (text[j] === ".") {
      j++
      if (!isDigit(text[j])) return -1 - j
      while (isDigit(text[j])) j++
    }
    if (text[j] === "e" || text[j] === "E") {
      j++
      if (text[j] === "+" || text[j] === "-") j++
      if (!isDigit(text[j])) return -1 - j
      while (isDigit(text[j])) j++
    }
    return j
  }
  for (;;) {
    skipSpace()
    if (state === "after") {
      const top = stack[stack.length - 1]
      if (top === undefined) return i < end ? i : undefined
      if (i >= end) return end
      if (text[i] === ",") {
        i++
        state = top === "{" ? "key" : "value"
      } else if (text[i] === (top === "{" ? "}" : "]")) {
        i++
        stack.pop()
      } else {
        return i
      }
      continue
    }
    if (i >= end) return end
    const c = text[i]
    if (state === "key") {
      if (c !== "\"") return i
      const past = scanString()
      if (past < 0) return -1 - past
      i = past
      skipSpace()
      if (i >= end) return end
      if (text[i] !== ":") return i
      i++
      state = "value"
      continue
    }
    if (c === "{" || c === "[") {
      stack.push(c)
      i++
      skipSpace()
      if (text[i] === (c === "{" ? "}" : "]")) {
        i++
        stack.pop()
        state = "after"
      } else {
        state = c === "{" ? "key" : "value"
      }
      continue
    }
    if (c === "\"") {
      const past = scanString()
      if (past < 0) return -1 - past
      i = past
      state = "after"
      continue
    }
    if (c === "-" || isDigit(c)) {
      const past = scanNumber()
      if (past < 0) return -1 - past
      i = past
      state = "after"
      continue
    }
    const literal = ["true", "false", "null"].find((word) => word[0] === c)
    if (literal === undefined) return i
    for (let k = 0; k < literal.length; k++) if (text[i + k] !== literal[k]) return Math.min(i + k, end)
    i += literal.length
    state = "after"
  }
}

/**
 * Where a text that is not JSON breaks, by line and column (1-based, in UTF-16 units), never quoting
 * it: a config file holds secrets, and `JSON.parse`'s message quotes the text around the error.
 */
const jsonErrorPlace = (text: string): string => {
  const offset = jsonErrorOffset(text)
  if (offset === undefined) return ""
  const before = text.slice(0, offset)
  const line = before.split("\n").length
  const column = offset - (before.lastIndexOf("\n") + 1) + 1
  return offset >= text.length ?
    ` (it ends too soon, at line ${line}, column ${column})` :
    ` (at line ${line}, column ${column})`
}

/** Parses and checks a JSON config file's text. @internal */
export const parseOptions = (text: string, defaults: Config): Either.Either<SandboxOptions, string> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    // where, never what: the text around the error may be a secret
    // a JavaScript caller's value that is no string (JSON.parse read it as text) has no place to show
    return Either.left(`not valid JSON${typeof text === "string" ? jsonErrorPlace(text) : ""}`)
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return Either.left("expected a JSON object like { \"apps\": [...], \"users\": [...] }")
  }
  return Either.map(checkOptions(json, defaults), (config) => ({
    ...("apps" in json ? { apps: config.apps } : {}),
    ...("users" in json ? { users: config.users } : {}),
    ...("limits" in json ? { limits: config.limits } : {}),
    ...("components" in json ? { components: componentOptions(config) } : {})
  }))
}

/**
 * The platforms of a checked config as options again: each authorizer the sandbox added carries
 * its app's fields, so that checking the options once more gives the same config.
 */
const componentOptions = (config: Config): ReadonlyArray<SandboxComponent> => {
  const added = new Map(config.authorizerApps.map((app) => [app.appId, app]))
  return config.components.map((component) => ({
    ...component,
    authorizers: (component.authorizers ?? []).map((authorizer) => {
      const app = added.get(authorizer.appId)
      if (app === undefined) return authorizer
      added.delete(authorizer.appId)
      return {
        appId: app.appId,
        kind: authorizer.kind,
        name: app.name,
        bound: app.bound,
        ...(app.profile === undefined ? {} : { profile: app.profile }),
        ...(app.users === undefined ? {} : { users: app.users })
      }
    })
  }))
}
