/**
 * The services behind an OAuth client, by generation: one `ManagedRuntime` built from the client's
 * appid, secret and options. `setOpts`, or assigning `appsecret` or `appid`, starts a new
 * generation; calls in flight finish on theirs, and a retired generation is released once its last
 * call ends. `close()` interrupts every call in flight (each a fiber in a `FiberSet`, whatever its
 * generation), which fails with `WeChatAPIClientClosedError`, then releases the generations. A
 * generation whose build failed (a `tokenStore` / `refreshLock` layer that cannot reach its server)
 * is dropped once `lifecycleSettings.rebuildAfterMillis` have passed since (or the clock went back
 * to before the failure): the next call builds the same layer anew; one that failed with a `ConfigError` other than `SourceUnavailable` is not (only
 * `setOpts` heals it).
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import {
  MiniProgram,
  RefreshLock,
  RetryPolicy,
  TokenStore,
  WeChatApi,
  WeChatConfig,
  WeChatError,
  WeChatOAuth
} from "@wxauth/core"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { CompatError, fromCause, fromDefect } from "../CompatError.js"
import * as Credential from "./credential.js"
import * as Hooks from "./hooks.js"
import {
  defaultHookTimeout,
  hookTimeoutOption,
  layerOption,
  optionOf,
  policyOf,
  timeoutOf,
  unreadableOptions
} from "./options.js"
import * as Refresh from "./refresh.js"
import * as Request from "./request.js"
import { apiBaseUrlOf, openBaseUrlOf } from "./runtime.js"

/**
 * How soon a generation whose build failed is built again (by the next call): calls within this time
 * after the failure get the same error, without a build. Tests change it.
 *
 * @internal
 */
export const lifecycleSettings = { rebuildAfterMillis: 1000, buildTimeoutMillis: 30_000 }

/**
 * A `tokenStore` / `refreshLock` layer whose build must finish within
 * `lifecycleSettings.buildTimeoutMillis` (Clock's time): one that never does (a connection that
 * neither opens nor fails, an `acquireRelease` whose acquire never ends) would hold every call
 * forever. It fails with a `TokenStoreError` naming the option, a build failure like any other (the
 * generation is built again later). Built in the generation's MemoMap: a sub-layer that tokenStore
 * and refreshLock share is built once.
 */
const boundedBuild = <A>(name: string, layer: Layer.Layer<A, unknown>): Layer.Layer<A, unknown> =>
  Layer.scopedContext(Effect.gen(function*() {
    const millis = lifecycleSettings.buildTimeoutMillis
    // the generation's MemoMap: a sub-layer shared by tokenStore and refreshLock (one connection)
    // is built once; disconnected: an acquire that never ends (uninterruptible) does not hold the
    // deadline, which would otherwise wait for its interruption
    const memoMap = yield* Layer.CurrentMemoMap
    const scope = yield* Effect.scope
    return yield* Effect.timeoutFail(Effect.disconnect(Layer.buildWithMemoMap(layer, memoMap, scope)), {
      duration: Duration.millis(millis),
      onTimeout: () =>
        new WeChatError.TokenStoreError({
          operation: "build",
          description: `the ${name} layer (setOpts) did not finish building within ${millis} ms`
        })
    })
  }))

/**
 * The services a client exposes (`client.runtime`, `client.layer`).
 *
 * @internal
 */
export type Services =
  | WeChatOAuth.WeChatOAuth
  | MiniProgram.MiniProgram
  | WeChatApi.WeChatApi
  | WeChatConfig.WeChatConfig
  | TokenStore.TokenStore
  | HttpClient.HttpClient

/**
 * The services the client's own methods run on.
 *
 * @internal
 */
export type ClientServices = Services | Refresh.Refresher

/**
 * What a generation is built from, read from the client when it is built.
 *
 * @internal
 */
export interface Input {
  readonly appid: unknown
  readonly appsecret: unknown
  /** `setOpts`' options. */
  readonly options: unknown
  /** The hooks, for the store over them. */
  readonly hooks: Omit<Hooks.HookSource, "timeout">
  /** Where requests go (the client's `request` when it is overridden). */
  readonly requests: Request.RequestSource
  /** The refresh of a bare refresh token may read the previous token from the store. */
  readonly readsPrevious: () => boolean
}

/** The options `make` reads. */
const optionNames = [
  "policy",
  "hookTimeout",
  "tokenStore",
  "refreshLock",
  "openBaseUrl",
  "proxy",
  "apiBaseUrl",
  "timeout"
] as const

/**
 * `setOpts`' options, the fields `make` reads copied once: `undefined` when they cannot be read (a
 * getter or a Proxy trap that throws, a revoked Proxy), which fails every call with a
 * `WeChatAPIConfigError`; anything that is not an object is no options.
 */
const copyOptions = (options: unknown): Record<string, unknown> | undefined => {
  if ((typeof options !== "object" || options === null) && typeof options !== "function") return {}
  try {
    const copy: Record<string, unknown> = {}
    for (const name of optionNames) copy[name] = (options as Record<string, unknown>)[name]
    return copy
  } catch {
    return undefined
  }
}

/**
 * One generation of a client's services.
 *
 * @internal
 */
export interface Generation {
  /** The appid the services were built with. */
  readonly appId: unknown
  readonly layer: Layer.Layer<ClientServices, unknown>
  readonly runtime: ManagedRuntime.ManagedRuntime<ClientServices, unknown>
  /** Tokens go through the hooks (or the client's memory store), not a `tokenStore` layer. */
  readonly hooks: boolean
  /** The consent pages' host, as read when the generation was made. */
  readonly openBaseUrl: string | undefined
  /** The policy (the default one when the `policy` option is not valid: every call fails anyway). */
  readonly policy: RetryPolicy.RetryPolicy
  /** How long the app's functions (hooks, overridden methods) may take. */
  readonly hookTimeout: Duration.Duration
  active: number
  retired: boolean
  /** When (Clock's epoch milliseconds) the runtime's build failed; `undefined` while it has not. */
  buildFailedAt: number | undefined
  /** The release of the runtime, once started (it is started once). */
  disposed: Promise<void> | undefined
}

/**
 * Whether a `ConfigError` is permanent: `InvalidData`, `MissingData`, `Unsupported`, and `And` / `Or`
 * made only of those. `SourceUnavailable` (a config source down for a moment) is transient.
 */
const isPermanentConfigError = (error: ConfigError.ConfigError, depth = 0): boolean => {
  if (depth > 64) return false
  switch (error._op) {
    case "InvalidData":
    case "MissingData":
    case "Unsupported":
      return true
    case "And":
    case "Or":
      return isPermanentConfigError(error.left, depth + 1) && isPermanentConfigError(error.right, depth + 1)
    default:
      return false
  }
}

/** Whether the build failed with a permanent `ConfigError` (an option that only `setOpts` can change). */
const isConfigFailure = (cause: Cause.Cause<unknown>): boolean => {
  try {
    const failure = Cause.failureOption(cause)
    return failure._tag === "Some" && ConfigError.isConfigError(failure.value) &&
      isPermanentConfigError(failure.value)
  } catch {
    return false
  }
}

/** The generation's fields, with a runtime of its own that records when its build fails. */
const withRuntime = (
  fields: Omit<Generation, "runtime" | "active" | "retired" | "buildFailedAt" | "disposed">
): Generation => {
  const generation: Generation = {
    ...fields,
    // assigned below: the layer's failure records itself on this generation
    runtime: undefined as unknown as Generation["runtime"],
    active: 0,
    retired: false,
    buildFailedAt: undefined,
    disposed: undefined
  }
  const recorded = Layer.tapErrorCause(fields.layer, (cause) =>
    // a ConfigError (an option of the wrong type) cannot heal without setOpts: not built again
    Cause.isInterruptedOnly(cause) || isConfigFailure(cause)
      ? Effect.void
      : Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          generation.buildFailedAt = now
        })))
  ;(generation as { runtime: Generation["runtime"] }).runtime = ManagedRuntime.make(recorded)
  return generation
}

/**
 * The constructor's appid or secret as text (`Credential.credentialText`, the wording shared with the
 * authorize URL builders and the functional API): absent (`undefined`, `null`) is empty (core's
 * `MissingData`, "is empty"), a string as it is, anything else (a `Redacted`, `new String(...)`, a
 * number) a `ConfigError` saying it must be a string, which never quotes the value.
 */
const credentialOf = (
  name: "appId" | "appSecret",
  input: unknown
): Either.Either<string, ConfigError.ConfigError> =>
  Either.mapLeft(Credential.credentialText(name, input), (message) => ConfigError.InvalidData([name], message))

/**
 * Builds a generation: the core's services for the appid and secret, the `policy`, the hooks' store
 * (or the `tokenStore` layer), the `refreshLock` (or an in-process one, shared by core's refresh and
 * compat's), and the client's `HttpClient` (its `request` when overridden, else the shared lean
 * client for `proxy`). An option of the wrong type (or one that cannot be read), or an appid or
 * secret that is not a string, fails every call with a `WeChatAPIConfigError`, as a bad appid
 * does. Never throws (`setOpts`, `close()` and the constructor build): anything thrown while the
 * generation is made fails its calls instead, as a defect (`WeChatAPIUnexpectedError`).
 *
 * @internal
 */
export const make = (input: Input): Generation => {
  try {
    return makeGeneration(input)
  } catch (defect) {
    return failed(defect, input.appid)
  }
}

/**
 * A generation whose every call fails with `defect` (`WeChatAPIUnexpectedError`): what a build that
 * threw leaves (see `make`, `Lifecycle`).
 *
 * @internal
 */
export const failed = (defect: unknown, appId: unknown): Generation =>
  withRuntime({
    appId,
    layer: Layer.effectContext(Effect.die(defect)),
    hooks: true,
    openBaseUrl: undefined,
    policy: RetryPolicy.defaultPolicy,
    hookTimeout: defaultHookTimeout
  })

const makeGeneration = (input: Input): Generation => {
  const read = copyOptions(input.options)
  const opts = read ?? {}
  const overrides = read === undefined
    ? Either.left(unreadableOptions())
    : policyOf(optionOf(opts, "policy"))
  const policy = Either.isRight(overrides) && overrides.right !== undefined
    ? overrides.right
    : RetryPolicy.defaultPolicy
  const hookTimeoutRead = hookTimeoutOption(optionOf(opts, "hookTimeout"))
  const hookTimeout = Either.getOrElse(hookTimeoutRead, () => defaultHookTimeout)
  // read as hookTimeout is; core's WeChatConfig holds it to the same rule
  const timeoutRead = timeoutOf(optionOf(opts, "timeout"))
  const tokenStoreOption = layerOption<TokenStore.TokenStore>("tokenStore", optionOf(opts, "tokenStore"))
  const refreshLockOption = layerOption<RefreshLock.RefreshLock>("refreshLock", optionOf(opts, "refreshLock"))
  const tokenStore = tokenStoreOption && boundedBuild("tokenStore", tokenStoreOption)
  const refreshLock = refreshLockOption && boundedBuild("refreshLock", refreshLockOption)
  const openBaseUrl = openBaseUrlOf(optionOf(opts, "openBaseUrl"))
  const proxy = optionOf(opts, "proxy")
  const appId = credentialOf("appId", input.appid)
  const appSecret = credentialOf("appSecret", input.appsecret)
  const base = Layer.mergeAll(
    WeChatConfig.layer({
      appId: Either.getOrElse(appId, () => ""),
      appSecret: Redacted.make(Either.getOrElse(appSecret, () => "")),
      apiBaseUrl: apiBaseUrlOf(optionOf(opts, "apiBaseUrl")),
      openBaseUrl,
      timeout: Either.getOrUndefined(timeoutRead)
    }),
    Request.layer(input.requests, typeof proxy === "string" && proxy !== "" ? proxy : undefined),
    tokenStore ?? Layer.succeed(TokenStore.TokenStore, Hooks.makeStore({ ...input.hooks, timeout: hookTimeout })),
    refreshLock ?? RefreshLock.layerInProcess()
  )
  const services = Layer.mergeAll(
    WeChatOAuth.layerWith({ policy }),
    MiniProgram.layer,
    // compat's own calls (refreshAccessToken, verifyToken...) retry as the policy says too
    WeChatApi.layerWith({ policy })
  ).pipe(Layer.provideMerge(base))
  const client = Refresh.layer({ readsPrevious: input.readsPrevious }).pipe(Layer.provideMerge(services))
  const layer: Layer.Layer<ClientServices, unknown> = Either.isLeft(overrides)
    ? Layer.effectContext(Effect.fail(overrides.left))
    : Either.isLeft(hookTimeoutRead)
    ? Layer.effectContext(Effect.fail(hookTimeoutRead.left))
    : Either.isLeft(timeoutRead)
    ? Layer.effectContext(Effect.fail(timeoutRead.left))
    : Either.isLeft(appId)
    ? Layer.effectContext(Effect.fail(appId.left))
    : Either.isLeft(appSecret)
    ? Layer.effectContext(Effect.fail(appSecret.left))
    : client
  return withRuntime({
    appId: input.appid,
    layer,
    hooks: tokenStore === undefined,
    openBaseUrl,
    policy,
    hookTimeout
  })
}

/**
 * Whether `generation`'s build failed at least `rebuildAfterMillis` ago. A Clock now before the
 * failure (the wall clock stepped back: an NTP step, a VM restored) tells nothing of how long it has
 * been, and counts as long ago: otherwise the client would stay failed for the length of the step
 * (an hour for a 1-hour step) after the store was back. The rule of core's `Elapsed.since`
 * (packages/core/src/internal/elapsed.ts), which `@wxauth/core` does not export: kept in step here.
 */
const buildFailedLongAgo = (generation: Generation): boolean => {
  if (generation.buildFailedAt === undefined) return false
  const now = Effect.runSync(Clock.currentTimeMillis)
  const elapsed = now < generation.buildFailedAt ? Infinity : now - generation.buildFailedAt
  return elapsed >= lifecycleSettings.rebuildAfterMillis
}

/**
 * The calls of a client between two `close()`s: each call's fiber, whatever its generation, is in
 * `fibers`, which closing `scope` interrupts (and waits for). `closed` is set first, so that a call
 * ended by that interruption fails with `closedError()`.
 */
interface Calls {
  readonly scope: Scope.CloseableScope
  readonly fibers: FiberSet.FiberSet<unknown, unknown>
  closed: boolean
}

const makeCalls = (): Calls => {
  const scope = Effect.runSync(Scope.make())
  const fibers = Effect.runSync(Scope.extend(FiberSet.make<unknown, unknown>(), scope))
  return { scope, fibers, closed: false }
}

/**
 * What a call that `close()` interrupted fails with: not a defect, the app asked for it.
 *
 * @internal
 */
export const closedError = (): CompatError =>
  new CompatError({
    name: "WeChatAPIClientClosedError",
    tag: "ClientClosed",
    message: "The OAuth client was closed (client.close()) before this call ended"
  })

/**
 * Starts a call's fiber among `calls`, and settles its promise with its value, the compat error of
 * its failure, or `closedError()` when `close()` interrupted it; `done` runs when it ends.
 */
const settle = <A>(calls: Calls, start: () => Fiber.RuntimeFiber<A, unknown>, done: () => void): Promise<A> => {
  let fiber: Fiber.RuntimeFiber<A, unknown>
  try {
    fiber = start()
    // a closed set (it cannot be: `close()` replaces it first) interrupts the fiber at once
    FiberSet.unsafeAdd(calls.fibers, fiber)
  } catch (defect) {
    done()
    return Promise.reject(fromDefect(defect))
  }
  return new Promise<Exit.Exit<A, unknown>>((resolve) => fiber.addObserver(resolve)).then((exit) => {
    done()
    if (Exit.isSuccess(exit)) return exit.value
    if (calls.closed && Cause.isInterrupted(exit.cause)) throw closedError()
    throw fromCause(exit.cause)
  })
}

/**
 * A client's generations: the current one, rebuilt on demand, and the retired ones still running
 * calls.
 *
 * @internal
 */
export class Lifecycle {
  #generation: Generation
  /** The calls in flight since the last `close()`. */
  #calls: Calls = makeCalls()
  /** The retired generations not yet released (calls still run on them). */
  readonly #draining = new Set<Generation>()

  /** Reads the client and builds a generation; never throws (a throw fails the generation's calls). */
  readonly #build: () => Generation

  constructor(
    /** Reads the client and builds a generation. */
    build: () => Generation,
    /** The client's appid now: assigning another one starts a new generation. */
    private readonly appid: () => unknown
  ) {
    this.#build = () => {
      try {
        return build()
      } catch (defect) {
        // reading the client threw (a subclass's getter): its calls fail, `setOpts` and `close()` do not
        let appId: unknown
        try {
          appId = appid()
        } catch {
          appId = undefined
        }
        return failed(defect, appId)
      }
    }
    this.#generation = this.#build()
  }

  /** The current generation, as it is (without the appid check). */
  get generation(): Generation {
    return this.#generation
  }

  /**
   * The services, rebuilt first when the appid was assigned since they were built, or built again
   * (the same layer: the same options) when their build failed long enough ago. One build at a time:
   * a generation is dropped only once its build has failed, and concurrent calls share the build of
   * the one that replaces it.
   */
  current(): Generation {
    if (!Object.is(this.#generation.appId, this.appid())) this.replace()
    else if (buildFailedLongAgo(this.#generation)) {
      const { appId, hookTimeout, hooks, layer, openBaseUrl, policy } = this.#generation
      this.#retire(withRuntime({ appId, layer, hooks, openBaseUrl, policy, hookTimeout }))
    }
    return this.#generation
  }

  /** Builds new services; the old ones are released once the calls in flight on them finish. */
  replace(): void {
    this.#retire(this.#build())
  }

  /** Makes `next` current; the previous generation is released once its calls end. */
  #retire(next: Generation): void {
    const previous = this.#generation
    this.#generation = next
    previous.retired = true
    if (previous.disposed === undefined) this.#draining.add(previous)
    this.#release(previous)
  }

  /**
   * Interrupts every call in flight (on the current services and on those `setOpts` retired), waits
   * for them to end, each failing with `WeChatAPIClientClosedError`, then releases the services (the
   * HTTP connection pool is shared by the process and stays). The app's own functions already called
   * (a hook, an override) are not stopped, their answers are ignored. A later call builds the
   * services anew.
   */
  async close(): Promise<void> {
    const generation = this.#generation
    const draining = [...this.#draining]
    const calls = this.#calls
    this.#generation = this.#build()
    this.#calls = makeCalls()
    generation.retired = true
    calls.closed = true
    // interrupts the calls' fibers, and waits for them (their timers stop, nothing runs on)
    await Effect.runPromise(Scope.close(calls.scope, Exit.void))
    await Promise.all([
      this.#dispose(generation),
      ...draining.map((retired) => this.#dispose(retired).catch(() => undefined))
    ])
  }

  /**
   * Runs one call of the compat API on the current generation: its failure reaches the caller as
   * the compat error, or as the app's own function's error (a hook, an override, its `request`); a
   * defect or an interruption as `WeChatAPIUnexpectedError`, an interruption by `close()` as
   * `WeChatAPIClientClosedError`. Its fiber is in the calls `close()` interrupts.
   */
  run<A>(effect: Effect.Effect<A, unknown, ClientServices>): Promise<A> {
    let generation: Generation
    try {
      generation = this.current()
    } catch (defect) {
      return Promise.reject(fromDefect(defect))
    }
    const calls = this.#calls
    generation.active++
    const done = () => {
      generation.active--
      this.#release(generation)
    }
    return settle(calls, () => generation.runtime.runFork(Request.withAppRequestErrors(effect)), done)
  }

  /**
   * Runs an effect that needs no services (the default `request` called directly) as a call of the
   * client: `close()` interrupts it too, and it then fails with `WeChatAPIClientClosedError`.
   */
  track<A>(effect: Effect.Effect<A>): Promise<A> {
    return settle(this.#calls, () => Effect.runFork(effect), () => undefined)
  }

  /** Releases `generation`'s runtime, once. */
  #dispose(generation: Generation): Promise<void> {
    this.#draining.delete(generation)
    if (generation.disposed === undefined) generation.disposed = generation.runtime.dispose()
    return generation.disposed
  }

  #release(generation: Generation): void {
    if (generation.retired && generation.active === 0) {
      this.#dispose(generation).catch(() => undefined)
    }
  }
}
