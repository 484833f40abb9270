/**
 * The registry's machinery: where an app's configuration comes from (the checked list, or the
 * caller's resolver behind a cache with a TTL, one resolution per appid at a time), and the
 * services built for an app on its first use (a second cache, bounded, one build per app and
 * service at a time), all on one HttpClient, TokenStore, AppTokenStore, SessionKeyStore and
 * RefreshLock.
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as AppToken from "../../AppToken.js"
import * as AppTokenStore from "../../AppTokenStore.js"
import * as Component from "../../Component.js"
import * as MiniProgram from "../../MiniProgram.js"
import * as RefreshLock from "../../RefreshLock.js"
import * as SessionKeyStore from "../../SessionKeyStore.js"
import type * as TokenStore from "../../TokenStore.js"
import type { AppError } from "../../WeChatApps.js"
import * as WeChatConfig from "../../WeChatConfig.js"
import { AppResolveError, InvalidArgument, UnknownApp } from "../../WeChatError.js"
import * as WeChatOAuth from "../../WeChatOAuth.js"
import * as Arguments from "../arguments.js"
import * as Deadline from "../deadline.js"
import * as Entries from "./entries.js"
import * as LookupCache from "./lookupCache.js"

/** The services built per app. @internal */
export interface Services {
  readonly oauth: WeChatOAuth.WeChatOAuthShape
  readonly miniProgram: MiniProgram.MiniProgramShape
  readonly appToken: AppToken.AppTokenShape
}

/** @internal */
export type Kind = keyof Services

/** Services built for apps, by service (`oauth`, `miniProgram`, `appToken`). @internal */
export const buildsTotal = Metric.counter("wxauth_apps_built_total", {
  description: "Services WeChatApps built for an app on its first use (or after its configuration changed)",
  incremental: true
})

const buildCounters: { readonly [K in Kind]: Metric.Metric.Counter<number> } = {
  oauth: buildsTotal.pipe(Metric.tagged("service", "oauth")),
  miniProgram: buildsTotal.pipe(Metric.tagged("service", "miniProgram")),
  appToken: buildsTotal.pipe(Metric.tagged("service", "appToken"))
}

/** A service built for an app, with the configuration it was built from. */
interface Built {
  /** Updated when a resolver answers an equal configuration again, so later calls compare by identity. */
  app: Entries.App
  readonly service: Services[Kind]
}

/** The checked registry: how to get an app and its services. @internal */
export interface Registry {
  readonly shared: Entries.Shared
  /** The app's checked configuration: `UnknownApp` when there is none. */
  readonly app: (appId: string) => Effect.Effect<Entries.App, AppError>
  readonly service: <K extends Kind>(kind: K, appId: string) => Effect.Effect<Services[K], AppError>
}

const invalidAppId = Effect.fail(
  new InvalidArgument({ argument: "appId", description: "must be a WeChat appid: 1 to 64 characters of [A-Za-z0-9_-]" })
)

/**
 * A service build runs in the fiber that asked first (a resolution runs detached, in the registry's
 * scope): when that fiber is interrupted, the others waiting for the same key see the interruption. They are not interrupted themselves, so they ask again (the key
 * is free by then); a fiber that is interrupted itself never gets here (its handlers do not run).
 */
const joinShared = <A, E>(
  get: () => Effect.Effect<A, E>,
  appId: string,
  attempts = 3
): Effect.Effect<A, E | AppResolveError> =>
  Effect.catchAllCause(get(), (cause) =>
    !Cause.isInterruptedOnly(cause)
      ? Effect.failCause(cause)
      : attempts > 0
      ? joinShared(get, appId, attempts - 1)
      : Effect.fail(
        new AppResolveError({ appId, reason: "Failed", description: "every resolution of the app was interrupted" })
      ))

const describeConfigError = (error: ConfigError.ConfigError): string => String(error).slice(0, 400)

const invalidApp = (appId: string, description: string) =>
  new AppResolveError({ appId, reason: "Invalid", description })

/** The tag of a resolver's failure, when it has a plain one: never its message or fields (a row may hold a secret). */
const failureName = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) return Cause.isDie(cause) ? "the resolver threw or died" : "the resolver was interrupted"
  const tag: unknown = typeof failure.value === "object" && failure.value !== null
    ? (failure.value as { _tag?: unknown })._tag
    : undefined
  return typeof tag === "string" && /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(tag)
    ? `the resolver failed with ${tag}`
    : "the resolver failed"
}

/**
 * Builds the registry from `WeChatApps.layer`'s two arguments, in the current context (which gives the
 * HttpClient, TokenStore and, when present, the other shared services and the resolver's own).
 *
 * @internal
 */
export const make = (
  sourceOptions: unknown,
  registryOptions: unknown
): Effect.Effect<Registry, ConfigError.ConfigError, HttpClient.HttpClient | TokenStore.TokenStore | Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<HttpClient.HttpClient | TokenStore.TokenStore | Scope.Scope>()
    const source = yield* Entries.source(sourceOptions)
    const component = Context.getOption(context, Component.Component)
    const shared = yield* Entries.shared(registryOptions, Option.isSome(component))

    const appCount = source._tag === "List" ? source.apps.length : source.capacity
    // one of each for every app: when the caller gave one, theirs (shared with their other services)
    const lock = Option.getOrElse(
      Context.getOption(context, RefreshLock.RefreshLock),
      () => RefreshLock.makeInProcess()
    )
    const givenAppTokenStore = Context.getOption(context, AppTokenStore.AppTokenStore)
    const appTokenStore = Option.isSome(givenAppTokenStore)
      ? givenAppTokenStore.value
      : yield* AppTokenStore.makeMemory({ maxEntries: Math.max(10_000, appCount) })
    const givenSessionKeys = Context.getOption(context, SessionKeyStore.SessionKeyStore)
    const sessionKeys = Option.isSome(givenSessionKeys) ? givenSessionKeys.value : yield* SessionKeyStore.makeMemory()
    const base = context.pipe(
      Context.add(RefreshLock.RefreshLock, lock),
      Context.add(AppTokenStore.AppTokenStore, appTokenStore),
      Context.add(SessionKeyStore.SessionKeyStore, sessionKeys)
    )
    const contextOf = (app: Entries.DirectApp) => Context.add(base, WeChatConfig.WeChatConfig, app.config)

    // where apps come from
    let getApp: (appId: string) => Effect.Effect<Entries.App, UnknownApp | AppResolveError>
    if (source._tag === "List") {
      const apps = new Map<string, Entries.App>()
      for (let i = 0; i < source.apps.length; i++) {
        const path = ["apps", String(i)]
        const app = yield* Entries.app(source.apps[i], shared).pipe(Either.mapLeft(ConfigError.prefixed(path)))
        if (apps.has(app.appId)) {
          return yield* Effect.fail(
            ConfigError.InvalidData([...path, "appId"], `the appid ${app.appId} is in the list twice`)
          )
        }
        if (app._tag === "Direct" && app.appToken !== undefined) {
          // AppToken checks its options as it is built: built once here (nothing is fetched) to fail at start
          yield* AppToken.makeWith(app.appToken).pipe(
            Effect.provide(contextOf(app)),
            Effect.mapError(ConfigError.prefixed(path))
          )
        }
        apps.set(app.appId, app)
      }
      getApp = (appId) => {
        const app = apps.get(appId)
        return app === undefined ? Effect.fail(new UnknownApp({ appId })) : Effect.succeed(app)
      }
    } else {
      const timeout = new AppResolveError({
        appId: "",
        reason: "Timeout",
        description: `the resolver took longer than ${Duration.format(source.resolveTimeout)}`
      })
      // an unknown appid is answered `undefined`, kept as that: each caller gets an `UnknownApp` of its
      // own (a kept error held its captured stack, its Cause and its Deferred: about 7 KB an appid)
      const resolve = (appId: string): Effect.Effect<Entries.App | undefined, AppResolveError> =>
        Effect.suspend(() => {
          const answer = source.resolve(appId)
          // a resolver's own resources (a pooled connection, say) are released when its answer is in
          return Effect.isEffect(answer)
            ? Effect.scoped(answer as Effect.Effect<unknown, unknown, Scope.Scope>)
            : Effect.fail(invalidApp(appId, "the resolver must return an Effect"))
        }).pipe(
          Effect.provide(context),
          Effect.catchAllCause((cause) => {
            const failure = Cause.failureOption(cause)
            return Option.isSome(failure) && failure.value instanceof AppResolveError
              ? Effect.fail(failure.value)
              : Effect.fail(new AppResolveError({ appId, reason: "Failed", description: failureName(cause) }))
          }),
          // a resolver that ignores interruption is left behind, not waited for (even by an
          // uninterruptible caller)
          (resolving) =>
            Deadline.within(resolving, source.resolveTimeout, () => new AppResolveError({ ...timeout, appId })),
          Effect.flatMap((answer): Effect.Effect<Entries.App | undefined, AppResolveError> => {
            // an answer that throws when looked at (a revoked Proxy) is no app: Entries.app refuses it
            const found = Arguments.guardOr(() => Option.isOption(answer), false)
              ? Option.getOrUndefined(answer as Option.Option<unknown>)
              : answer
            if (found === undefined || found === null) return Effect.succeed(undefined)
            return Either.match(Entries.app(found, shared), {
              onLeft: (error) => Effect.fail(invalidApp(appId, describeConfigError(error))),
              onRight: (app) =>
                app.appId === appId
                  ? Effect.succeed(app)
                  : Effect.fail(invalidApp(appId, "the resolver answered an app with another appid"))
            })
          })
        )
      const capacity = source.capacity
      const configs = LookupCache.make<Entries.App | undefined, AppResolveError>({
        // at most `capacity` apps kept, and apart from them at most `capacity` unknown appids' answers: a
        // flood of made-up appids never pushes out a known app
        capacity,
        apart: (app) => app === undefined,
        // at most `capacity` calls at once besides (never dropped to make room: a dropped one was called
        // again by its next caller, and they push out no kept app); past them a new appid fails at once
        overloaded: (appId) =>
          new AppResolveError({
            appId,
            reason: "Failed",
            description: `the resolver is already resolving ${capacity} appids (the registry's capacity)`
          }),
        // detached, bounded by resolveTimeout: one caller's timeout does not cut it for the others
        scope: Context.get(context, Scope.Scope),
        lookup: resolve,
        // a failure is for the callers of that lookup only: the next use asks again, even at the same instant
        timeToLive: (exit) =>
          Exit.isSuccess(exit) ? exit.value === undefined ? source.unknownTtl : source.ttl : Duration.zero
      })
      getApp = (appId) =>
        Effect.flatMap(
          joinShared(() => configs.get(appId), appId),
          (app) => app === undefined ? Effect.fail(new UnknownApp({ appId })) : Effect.succeed(app)
        )
    }

    const fromConfigError = (appId: string) => (error: ConfigError.ConfigError) =>
      invalidApp(appId, describeConfigError(error))

    const buildForComponent = (kind: Kind, app: Entries.ComponentApp): Effect.Effect<Services[Kind], AppError> => {
      if (Option.isNone(component)) {
        return Effect.fail(invalidApp(app.appId, "component apps need a Component in the registry's context"))
      }
      const context = Context.add(base, Component.Component, component.value)
      switch (kind) {
        case "oauth":
          return WeChatOAuth.makeForComponent(app.appId, {
            policy: app.policy,
            stateSecret: shared.stateSecretText,
            acceptedStateSecrets: shared.acceptedStateSecretsText,
            stateTtl: app.state.stateTtl
          }).pipe(Effect.provide(context), Effect.mapError(fromConfigError(app.appId)))
        case "miniProgram":
          return MiniProgram.makeForComponent(app.appId, app.policy).pipe(
            Effect.provide(context),
            Effect.mapError(fromConfigError(app.appId))
          )
        case "appToken":
          // the platform's own, one per app: the authorizer token through api_authorizer_token
          return component.value.appToken(app.appId)
      }
    }

    const buildFor = (kind: Kind, app: Entries.App): Effect.Effect<Services[Kind], AppError> => {
      if (app._tag === "Component") return buildForComponent(kind, app)
      const context = contextOf(app)
      switch (kind) {
        case "oauth":
          return WeChatOAuth.makeWith(app.policy).pipe(
            Effect.provide(context),
            Effect.mapError(fromConfigError(app.appId))
          )
        case "appToken":
          return AppToken.makeWith(app.appToken).pipe(
            Effect.provide(context),
            Effect.mapError(fromConfigError(app.appId))
          )
        case "miniProgram":
          // the app's own AppToken, shared with `appToken(appId)`
          return Effect.flatMap(service("appToken", app.appId), (appToken) =>
            MiniProgram.makeWith(app.policy).pipe(
              Effect.provide(Context.add(context, AppToken.AppToken, appToken)),
              Effect.mapError(fromConfigError(app.appId))
            ))
      }
    }

    const services = LookupCache.make<Built, AppError>({
      // three services per app at most
      capacity: 3 * Math.max(1, appCount),
      // reached only by more known apps built at once than the capacity holds
      overloaded: (key) =>
        new AppResolveError({
          appId: key.slice(key.indexOf(":") + 1),
          reason: "Failed",
          description: `the registry is already building ${3 * Math.max(1, appCount)} services`
        }),
      lookup: (key: string): Effect.Effect<Built, AppError> => {
        const separator = key.indexOf(":")
        const kind = key.slice(0, separator) as Kind
        const appId = key.slice(separator + 1)
        return Effect.flatMap(getApp(appId), (app) =>
          buildFor(kind, app).pipe(
            Effect.tap(Metric.increment(buildCounters[kind])),
            Effect.map((service): Built => ({ app, service }))
          ))
      },
      timeToLive: (exit) => Exit.isSuccess(exit) ? Duration.infinity : Duration.zero
    })

    const service = <K extends Kind>(kind: K, appId: string): Effect.Effect<Services[K], AppError> =>
      Entries.isAppId(appId)
        ? Effect.flatMap(getApp(appId), (app) => {
          const key = `${kind}:${appId}`
          // a failure is not kept (its time to live is zero): the next use builds again
          const get = () => joinShared(() => services.get(key), appId)
          return Effect.flatMap(get(), (built) => {
            if (built.app === app) return Effect.succeed(built.service as Services[K])
            if (Entries.sameApp(built.app, app)) {
              built.app = app
              return Effect.succeed(built.service as Services[K])
            }
            // the configuration changed: build again (once, however many callers see the change)
            return services.invalidateWhen(key, (entry) => entry === built).pipe(
              Effect.zipRight(get()),
              Effect.map((rebuilt) => rebuilt.service as Services[K])
            )
          })
        })
        : invalidAppId

    return {
      shared,
      app: (appId) => Entries.isAppId(appId) ? getApp(appId) : invalidAppId,
      service
    } satisfies Registry
  }).pipe(Effect.withSpan("WeChatApps.make", { captureStackTrace: false }))
