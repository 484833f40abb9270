/**
 * Schemas for everything the sandbox accepts from outside: options and JSON config files, faults,
 * and the bodies of the `/__sandbox/` control endpoints. Decoding errors become one readable line.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { Endpoint, Fault, FaultKind, SandboxApp, SandboxOptions, SandboxUser } from "../Sandbox.js"
import * as Ids from "./ids.js"

/** @internal */
export const endpoints: ReadonlyArray<Endpoint> = [
  "authorize",
  "qrconnect",
  "access_token",
  "refresh_token",
  "userinfo",
  "auth",
  "jscode2session"
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
  "reset"
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

const FaultSchema = Schema.Struct({
  kind: oneOf(...faultKinds),
  endpoint: optional(oneOf(...endpoints, "*")),
  times: optional(Schema.Int.pipe(Schema.positive({ message: () => "must be a positive integer" }))),
  delayMs: optional(FiniteNonNegative),
  errcode: optional(Schema.Int),
  errmsg: optional(Schema.String)
})

const AppSchema = Schema.Struct({
  appId: Id,
  secret: Schema.String.pipe(Schema.nonEmptyString({ message: () => "must not be empty" })),
  kind: oneOf("officialAccount", "website", "miniProgram"),
  name: optional(Schema.String),
  bound: optional(Schema.Boolean)
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
  snapshot: optional(Schema.Boolean)
})

const OptionsSchema = Schema.Struct({
  apps: optional(Schema.Array(AppSchema)),
  users: optional(Schema.Array(UserSchema))
})

/** @internal */
export const ApproveBody = Schema.Struct({
  appId: Schema.String,
  user: Schema.String,
  scope: Schema.String,
  redirectUri: Schema.String,
  state: optional(Schema.String)
})

/** @internal */
export const LoginBody = Schema.Struct({ appId: Schema.String, user: Schema.String })

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

/** One line per problem, `path: message`, joined by "; ". @internal */
export const formatParseError = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => issue.path.length === 0 ? issue.message : `${issue.path.join(".")}: ${issue.message}`)
    .join("; ")

const dropUndefined = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(dropUndefined)
  if (typeof value !== "object" || value === null || Object.getPrototypeOf(value) !== Object.prototype) return value
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, dropUndefined(v)])
  )
}

/** Decodes an unknown value, rejecting unknown keys; the error is a readable line. @internal */
export const decode = <A, I>(schema: Schema.Schema<A, I>, input: unknown): Either.Either<A, string> =>
  Either.mapLeft(Schema.decodeUnknownEither(schema, strict)(dropUndefined(input)), formatParseError)

/** A fault as given, checked; defaults filled in. @internal */
export interface PendingFault {
  readonly kind: FaultKind
  readonly endpoint: Endpoint | "*"
  readonly remaining: number
  readonly delayMs: number
  readonly errcode: number | undefined
  readonly errmsg: string | undefined
}

/** @internal */
export const checkFault = (input: Fault): Either.Either<PendingFault, string> =>
  Either.flatMap(decode(FaultSchema, input), (fault) => {
    if (fault.kind === "errcode" && fault.errcode === undefined) {
      return Either.left("a fault of kind \"errcode\" needs an errcode")
    }
    return Either.right({
      kind: fault.kind,
      endpoint: fault.endpoint ?? "*",
      remaining: fault.times ?? 1,
      delayMs: fault.delayMs ?? 10_000,
      errcode: fault.errcode,
      errmsg: fault.errmsg
    })
  })

/** @internal */
export const toFault = (pending: PendingFault): Fault => ({
  kind: pending.kind,
  endpoint: pending.endpoint,
  times: pending.remaining,
  ...(pending.kind === "slow" ? { delayMs: pending.delayMs } : {}),
  ...(pending.kind === "errcode" ? { errcode: pending.errcode, errmsg: pending.errmsg } : {})
})

/** The sandbox's apps and users, complete and checked. @internal */
export interface Config {
  readonly apps: ReadonlyArray<SandboxApp>
  readonly users: ReadonlyArray<SandboxUser>
}

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
      bound: app.bound ?? false
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
        ...(user.snapshot === undefined ? {} : { snapshot: user.snapshot })
      }))
    if (apps.length === 0) return Either.left("apps: at least one app is needed")
    if (users.length === 0) return Either.left("users: at least one user is needed")
    const app = duplicate(apps.map((app) => app.appId))
    if (app !== undefined) return Either.left(`apps: appId ${app} appears twice`)
    const user = duplicate(users.map((user) => user.id))
    if (user !== undefined) return Either.left(`users: id ${user} appears twice`)
    return Either.right({ apps, users })
  })

/** Parses and checks a JSON config file's text. @internal */
export const parseOptions = (text: string, defaults: Config): Either.Either<SandboxOptions, string> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    return Either.left(`not valid JSON (${error instanceof Error ? error.message : String(error)})`)
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return Either.left("expected a JSON object like { \"apps\": [...], \"users\": [...] }")
  }
  return Either.map(checkOptions(json, defaults), (config) => ({
    ...("apps" in json ? { apps: config.apps } : {}),
    ...("users" in json ? { users: config.users } : {})
  }))
}
