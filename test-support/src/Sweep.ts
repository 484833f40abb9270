/**
 * A table-driven sweep of a package's public functions against hostile JavaScript callers: each
 * function is called with valid arguments, then with each hostile value in each argument position
 * in turn (the other arguments valid). Whatever it returns must not throw; an Effect (or a Layer,
 * built) must end without a defect, in time, with a typed error (a `_tag`) if it fails; and no
 * secret may appear in its error, in a span (name, attributes, events, its failure) or in a log line
 * (message, annotations, cause), at any log level.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Tracer from "effect/Tracer"
import { breathe } from "./EventLoop.js"

/** A hostile value and its name in a report. */
export type HostileValue = readonly [label: string, value: unknown]

const trap = () => {
  throw new Error("trap")
}

/** A Proxy whose every trap throws. */
export const trappingProxy = (target: object = {}): object =>
  new Proxy(target, {
    get: trap,
    has: trap,
    ownKeys: trap,
    getOwnPropertyDescriptor: trap,
    getPrototypeOf: trap,
    defineProperty: trap,
    set: trap,
    deleteProperty: trap,
    isExtensible: trap,
    preventExtensions: trap,
    setPrototypeOf: trap
  })

/** A revoked Proxy: every operation on it throws. */
export const revokedProxy = (target: object = {}): object => {
  const { proxy, revoke } = Proxy.revocable(target, {})
  revoke()
  return proxy
}

/** An object whose every property read throws (its keys can be listed: `{ a, b, ... }` of getters). */
export const throwingGetters = (keys: ReadonlyArray<string>): object => {
  const object: Record<string, unknown> = {}
  for (const key of keys) Object.defineProperty(object, key, { enumerable: true, get: trap })
  return object
}

/** The keys a throwing-getter object carries: the option and field names callers pass. */
const commonKeys = [
  "appId",
  "appSecret",
  "openid",
  "code",
  "redirectUri",
  "scope",
  "state",
  "returnTo",
  "binding",
  "lang",
  "timeout",
  "ttl",
  "apps",
  "resolve",
  "value",
  "_tag",
  "then",
  "pipe",
  "toJSON",
  "toString"
]

/**
 * Every kind of value a JavaScript caller can hand over where the types ask for something else: a
 * fresh list at each call (new traps, a newly revoked Proxy).
 */
export const hostileValues = (): ReadonlyArray<HostileValue> => [
  ["undefined", undefined],
  ["null", null],
  ["true", true],
  ["0", 0],
  ["-0", -0],
  ["-1", -1],
  ["1.5", 1.5],
  ["NaN", Number.NaN],
  ["Infinity", Number.POSITIVE_INFINITY],
  ["-Infinity", Number.NEGATIVE_INFINITY],
  ["2**64", 2 ** 64],
  ["BigInt", 10n ** 30n],
  ["Symbol", Symbol("hostile")],
  ["a function", () => "x"],
  ["[]", []],
  ["[string]", ["x"]],
  ["{}", {}],
  ["Object.create(null)", Object.create(null)],
  ["a frozen object", Object.freeze({ appId: "wx", openid: "o" })],
  ["throwing getters", throwingGetters(commonKeys)],
  ["throwing toString", { toString: trap, valueOf: trap, [Symbol.toPrimitive]: trap }],
  ["a Proxy whose traps throw", trappingProxy()],
  ["a revoked Proxy", revokedProxy()],
  ["a hollow URL", Object.create(URL.prototype)],
  ["an invalid Date", new Date(Number.NaN)],
  ["a Promise", Promise.resolve("x")],
  ["an Effect that dies", Effect.die("hostile")],
  ["''", ""],
  ["NUL", "a\u0000b"],
  ["newline", "a\r\nb: c"],
  ["a lone surrogate", "a\uD800b"],
  ["1 MB string", "x".repeat(1024 * 1024)],
  ["Redacted(42)", Redacted.make(42)],
  ["Redacted(undefined)", Redacted.make(undefined)],
  ["Redacted(Proxy)", Redacted.make(trappingProxy())],
  ["Redacted(1 MB)", Redacted.make("x".repeat(1024 * 1024))],
  ["a fake Redacted", { [Symbol.for("effect/Redacted")]: { _A: (_: never) => _ }, value: "x" }],
  ["a fake Duration", {
    [Symbol.for("effect/Duration")]: { _A: (_: never) => _ },
    value: { _tag: "Millis", millis: -1 }
  }],
  ["a Duration of NaN millis", Duration.millis(Number.NaN)],
  ["an infinite Duration", Duration.infinity],
  ["a fake Option", { _tag: "Some", value: trappingProxy() }],
  ["a fake Option with its symbol", { [Symbol.for("effect/Option")]: { _A: (_: never) => _ }, _tag: "Some" }],
  ["Option.some(Symbol)", Option.some(Symbol("x"))]
]

/** What a sweep found: each problem a line naming the call. */
export interface Findings {
  calls: number
  readonly problems: Array<string>
  /** The rows whose valid call failed, and how (a row should reach past the argument checks). */
  readonly invalidRows?: Array<string> | undefined
}

/** One row of a sweep: a function, and the arguments it is valid with. */
export interface Row {
  /** The function's name, as the report shows it (`Module.function`, `service.method`). */
  readonly name: string
  /** Calls the function with these arguments. */
  readonly call: (...args: Array<any>) => unknown
  /** Valid arguments (each hostile value replaces one of them in turn). */
  readonly args: ReadonlyArray<unknown>
  /** Positions left alone (an Effect or a callback whose junk is Effect's own defect). */
  readonly skip?: ReadonlyArray<number> | undefined
}

/** A span's name, attributes, events and failure, as text. */
const spanTexts = (span: RecordedSpan): ReadonlyArray<string> => [
  span.name,
  ...[...span.attributes.entries()].map(([k, v]) => `${k}=${safeString(v)}`),
  ...span.events.map((event) => safeJson(event)),
  span.status._tag === "Ended" && Exit.isFailure(span.status.exit) ? errorTexts(span.status.exit.cause).join("\n") : ""
]

interface RecordedSpan extends Tracer.Span {
  readonly events: Array<unknown>
}

const safeString = (u: unknown): string => {
  try {
    return String(u)
  } catch {
    return "<unprintable>"
  }
}

const safeJson = (u: unknown): string => {
  try {
    return JSON.stringify(u, (_, v) => typeof v === "bigint" ? String(v) : v) ?? ""
  } catch {
    return "<unserialisable>"
  }
}

/** A failure's every printed form: the cause, the error, its JSON, its stack and its own cause. */
export const errorTexts = (cause: Cause.Cause<unknown>): ReadonlyArray<string> => {
  const errors = [...Cause.failures(cause), ...Cause.defects(cause)]
  const texts = [safeString(Cause.pretty(cause))]
  for (const error of errors) {
    texts.push(safeString(error), safeJson(error), safeString((error as Error | undefined)?.stack))
    const inner = (error as { cause?: unknown } | undefined)?.cause
    if (inner !== undefined) texts.push(safeString(inner), safeJson(inner))
  }
  return texts
}

/**
 * The tracer and logger a call runs with: every span (attributes and events too) kept in `spans`,
 * every log line (message, annotations, spans, cause) in `lines`.
 */
const recorder = (spans: Array<RecordedSpan>, lines: Array<string>) =>
  Effect.map(Effect.tracer, (base) => ({
    tracer: Tracer.make({
      span: (...args) => {
        const span = base.span(...args) as Tracer.Span
        const events: Array<unknown> = []
        const recorded: RecordedSpan = Object.assign(Object.create(span), {
          events,
          event: (name: string, startTime: bigint, attributes?: Record<string, unknown>) => {
            events.push({ name, attributes })
            span.event(name, startTime, attributes)
          }
        })
        // the base span's own fields (attributes, status) stay live through the prototype
        spans.push(recorded)
        return recorded
      },
      context: base.context
    }),
    logger: Logger.make(({ annotations, cause, message }) => {
      lines.push(
        `${safeJson(message)} ${safeJson([...annotations])} ${Cause.isEmpty(cause) ? "" : errorTexts(cause).join("\n")}`
      )
    })
  }))

/** Runs what a call returned: an Effect, or a Layer (built in a scope). */
const toEffect = (result: unknown): Effect.Effect<unknown, unknown, any> | undefined =>
  Effect.isEffect(result)
    ? result
    : Layer.isLayer(result)
    ? Effect.scoped(Layer.build(result as Layer.Layer<unknown, unknown, any>))
    : undefined

/**
 * Calls `call`, runs what it returns (bounded by `timeout`) with `provide`'s context, a recording
 * tracer and logger (every level): the problems it shows, each a line naming `name`.
 */
export const probe = <R>(options: {
  readonly name: string
  readonly call: () => unknown
  readonly secrets: ReadonlyArray<string>
  readonly provide: <A, E>(effect: Effect.Effect<A, E, any>) => Effect.Effect<A, E, R>
  readonly timeout?: Duration.DurationInput | undefined
}): Effect.Effect<ReadonlyArray<string>, never, R> =>
  Effect.gen(function*() {
    const { name, secrets } = options
    const spans: Array<RecordedSpan> = []
    const lines: Array<string> = []
    const { logger, tracer } = yield* recorder(spans, lines)
    const problems: Array<string> = []
    const leaks = (where: string, texts: ReadonlyArray<string>) => {
      for (const text of texts) {
        for (const secret of secrets) {
          if (text.includes(secret)) {
            problems.push(`${name}: a secret in ${where}`)
            return
          }
        }
      }
    }
    const exit = yield* Effect.suspend(() => {
      let result: unknown
      try {
        result = options.call()
      } catch (error) {
        return Effect.succeed(Option.some(Exit.die(error)))
      }
      const effect = toEffect(result)
      if (effect === undefined) return Effect.succeed(Option.some(Exit.succeed(result)))
      return options.provide(Effect.scoped(effect)).pipe(
        Effect.exit,
        Effect.timeout(options.timeout ?? "10 seconds"),
        Effect.map(Option.some),
        Effect.catchAll(() => Effect.succeed(Option.none()))
      )
    }).pipe(
      Effect.withTracer(tracer),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Logger.withMinimumLogLevel(LogLevel.All)
    )
    if (Option.isNone(exit)) problems.push(`${name}: hung`)
    else if (Exit.isFailure(exit.value)) {
      const cause = exit.value.cause
      if (Cause.isDie(cause) || Cause.isInterruptedOnly(cause)) {
        problems.push(
          `${name}: ${Cause.isDie(cause) ? "defect or throw" : "interrupted"} ${
            safeString(Cause.squash(cause)).split("\n")[0].slice(0, 140)
          }`
        )
      }
      for (const error of Cause.failures(cause)) {
        const tag = typeof error === "object" && error !== null ? (error as { _tag?: unknown })._tag : undefined
        if (typeof tag !== "string") problems.push(`${name}: an untyped failure ${safeString(error).slice(0, 100)}`)
      }
      leaks("the error", errorTexts(cause))
    }
    for (const span of spans) leaks(`span ${span.name}`, spanTexts(span))
    leaks("a log line", lines)
    return problems
  })

/** An object literal (not a Redacted, an Effect, a Config, an array...): its fields are swept too. */
const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype &&
  Object.getOwnPropertySymbols(value).length === 0

/** A value's name in a report. */
const labelOf = (value: unknown): string =>
  typeof value === "string" ? JSON.stringify(value.slice(0, 30)) : typeof value

/**
 * Sweeps `rows`: each function with its valid arguments, then with each hostile value in each
 * position in turn; the problems found are added to `findings`.
 */
export const sweep = <R>(options: {
  readonly rows: ReadonlyArray<Row>
  readonly secrets: ReadonlyArray<string>
  readonly provide: <A, E>(effect: Effect.Effect<A, E, any>) => Effect.Effect<A, E, R>
  readonly findings: Findings
  readonly values?: (() => ReadonlyArray<HostileValue>) | undefined
  readonly timeout?: Duration.DurationInput | undefined
}): Effect.Effect<void, never, R> =>
  Effect.forEach(options.rows, (row) =>
    Effect.gen(function*() {
      const run = (label: string, args: ReadonlyArray<unknown>) =>
        Effect.map(
          probe({
            name: `${row.name}(${label})`,
            call: () => row.call(...args),
            secrets: options.secrets,
            provide: options.provide,
            timeout: options.timeout
          }),
          (problems) => {
            options.findings.calls++
            options.findings.problems.push(...problems)
          }
        ).pipe(
          // most calls end on microtasks alone: a turn of the event loop after each keeps vitest's
          // worker answering its RPC (see EventLoop.ts)
          Effect.zipLeft(breathe)
        )
      yield* run(row.args.map(labelOf).join(", "), row.args)
      if (options.findings.invalidRows !== undefined) {
        const exit = yield* Effect.exit(Effect.suspend(() => {
          const effect = toEffect(row.call(...row.args))
          return effect === undefined ? Effect.void : options.provide(Effect.scoped(effect))
        }))
        if (Exit.isFailure(exit)) {
          options.findings.invalidRows.push(`${row.name}: ${safeString(Cause.squash(exit.cause)).slice(0, 160)}`)
        }
      }
      const positions = Math.max(1, row.args.length)
      for (let position = 0; position < positions; position++) {
        if (row.skip?.includes(position)) continue
        const valid = row.args[position]
        for (const [label, value] of (options.values ?? hostileValues)()) {
          const args = Array.from({ length: positions }, (_, i) => i === position ? value : row.args[i])
          yield* run(`arg ${position} = ${label}`, args)
        }
        // the fields of an options object, each in turn
        if (!isPlainObject(valid)) continue
        for (const key of Object.keys(valid)) {
          for (const [label, value] of (options.values ?? hostileValues)()) {
            const args = Array.from(
              { length: positions },
              (_, i) => i === position ? { ...valid, [key]: value } : row.args[i]
            )
            yield* run(`arg ${position}.${key} = ${label}`, args)
          }
        }
      }
    }), { discard: true })

/**
 * The names of `module`'s exported functions and of `service`'s methods: what a sweep's rows must
 * cover (a row per name), so that a function added later fails the sweep until it has a row.
 */
export const functionNames = (prefix: string, value: object): ReadonlyArray<string> =>
  Object.entries(value)
    .filter(([, f]) => typeof f === "function")
    .map(([key]) => `${prefix}.${key}`)

/** A public function to sweep: its name (`Module.fn` or `service.method`), itself, its `this`. */
export type Target = readonly [name: string, f: Function, self: unknown]

/**
 * Every function a package exposes: each module's exported functions that `isOurs` accepts (a
 * Schema, a Tag class or a metric is not a function to call with junk), and each service's
 * methods (`functionNames`), named as the sweep's rows are.
 */
export const publicFunctions = (
  modules: object,
  services: Readonly<Record<string, object>>,
  isOurs: (f: unknown) => boolean = (f) => typeof f === "function"
): ReadonlyArray<Target> => {
  const targets: Array<Target> = []
  for (const [moduleName, module] of Object.entries(modules)) {
    for (const [name, f] of Object.entries(module as Record<string, unknown>)) {
      if (isOurs(f)) targets.push([`${moduleName}.${name}`, f as Function, module])
    }
  }
  for (const [serviceName, service] of Object.entries(services)) {
    for (const name of functionNames(serviceName, service)) {
      targets.push([name, (service as Record<string, Function>)[name.slice(serviceName.length + 1)], service])
    }
  }
  return targets
}

/**
 * `f` called on `self`, for a synchronous helper that may throw by design (no error channel): a
 * thrown `kind` (an `Error` by default) is its answer to junk, and counts as `undefined`; anything
 * else thrown still reaches the sweep, as a problem.
 */
export const orThrown =
  (f: Function, self: unknown, kind: abstract new(...args: Array<any>) => unknown = Error) =>
  (...args: Array<unknown>): unknown => {
    try {
      return f.apply(self, args)
    } catch (error) {
      if (error instanceof kind) return undefined
      throw error
    }
  }
