/**
 * The app access token of one app (`cgi-bin/stable_token` by default, or the classic
 * `cgi-bin/token`), shared by every process through an `AppTokenStore`: fetched once (single-flight
 * in the process, one fetcher across processes under the `RefreshLock`), refreshed in its last
 * 5 minutes, and after WeChat rejects it (40001 / 40014 / 42001) re-read from the store or fetched
 * again; forced (`force_refresh`) only when WeChat hands back the very token it just rejected, once,
 * and with the app's forces spaced out in each process (30 s after the first, then twice the last
 * gap, up to 4 hours: at most 14 in a day, under WeChat's 20).
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { Scope } from "effect/Scope"
import * as AppTokenStore from "./AppTokenStore.js"
import * as OwnSource from "./internal/appTokenSource.js"
import * as AppTokenStamp from "./internal/appTokenStamp.js"
import * as Arguments from "./internal/arguments.js"
import * as Bounded from "./internal/boundedStore.js"
import * as Deadline from "./internal/deadline.js"
import * as ForceSpacing from "./internal/forceSpacing.js"
import * as Freshness from "./internal/freshness.js"
import * as SingleFlight from "./internal/singleFlight.js"
import * as TokenText from "./internal/tokenText.js"
import * as RefreshLock from "./RefreshLock.js"
import * as RetryPolicy from "./RetryPolicy.js"
import * as WeChatApi from "./WeChatApi.js"
import * as WeChatConfig from "./WeChatConfig.js"
import * as WeChatError from "./WeChatError.js"

/**
 * How getting or renewing the app token fails.
 *
 * @since 0.1.0
 * @category models
 */
export type AppTokenError = WeChatError.RequestFailure | WeChatError.TokenStoreError | WeChatError.RefreshLockTimeout

/**
 * @since 0.1.0
 * @category models
 */
export interface AppTokenShape {
  readonly appId: string
  /**
   * The current token: the stored one while it has more than `refreshWithin` left (or, for a token
   * WeChat gave for less than twice that, until half its life is over), else a fresh one.
   */
  readonly get: Effect.Effect<Redacted.Redacted<string>, AppTokenError>
  /**
   * After an API rejected `rejected` (40001 / 40014 / 42001): the stored token if another process
   * has replaced it, else a fetched one; forced only when WeChat hands back `rejected` itself, and
   * only when the process's last force is far enough back (30 s after the first, twice the last gap
   * after each, at most 4 hours; a day without one starts again at 30 s): else `rejected` comes
   * back, and the caller's retry meets WeChat's rejection as its typed error.
   */
  readonly invalidate: (rejected: Redacted.Redacted<string>) => Effect.Effect<Redacted.Redacted<string>, AppTokenError>
  /**
   * Runs `f` with the token; on 40001 / 40014 / 42001 invalidates it and runs `f` once more. An `f`
   * that is not a function, throws, or returns anything but an Effect fails with `InvalidArgument`.
   */
  readonly withToken: <A, E>(
    f: (token: Redacted.Redacted<string>) => Effect.Effect<A, E>
  ) => Effect.Effect<A, E | AppTokenError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class AppToken extends Context.Tag("@wxauth/core/AppToken")<AppToken, AppTokenShape>() {}

/**
 * Where tokens come from instead of WeChat, e.g. a central token server of the company, or a
 * third-party platform's authorizer token: called with `forceRefresh` as `stable_token` would be.
 * Its failures reach the caller as they are; its answer is checked as WeChat's is (a `Redacted`
 * token of 1 to 1,024 characters, a lifetime in whole seconds from 1 to 86,400), else a
 * `MalformedResponse` (`endpoint: "AppToken.source"`), and a call that throws or gives no Effect is
 * an `InvalidArgument`. A call that does not answer within `sourceTimeout`
 * (default 15 seconds) is interrupted and fails with `TransportError` (`endpoint: "AppToken.source"`,
 * `reason: "Timeout"`).
 *
 * @since 0.1.0
 * @category models
 */
export type Source = (
  request: { readonly forceRefresh: boolean }
) => Effect.Effect<WeChatApi.AppTokenResponse, AppTokenError>

/**
 * Options of `makeWith` / `layerWith`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `stable` (default): `POST cgi-bin/stable_token`; `classic`: `GET cgi-bin/token` (a new token each call, daily quota). */
  readonly mode?: "stable" | "classic" | undefined
  /**
   * Refresh when the stored token has less than this left. Default 5 minutes (when WeChat rotates a
   * stable token). A token given for less than twice this is refreshed once half its life is over.
   * A finite duration of zero or more (a number is milliseconds); anything else (`NaN`, `-1`,
   * `"-5 minutes"`, `Infinity`) is a `ConfigError` naming it.
   */
  readonly refreshWithin?: Duration.DurationInput | undefined
  /** Fetch tokens from here instead of WeChat. */
  readonly source?: Source | undefined
  /**
   * How long one call of `source` may take. Default 15 seconds; a finite duration above zero
   * of at most 24 days, what a timer holds (a number is milliseconds). The fetch runs under the
   * `RefreshLock` and is shared by every caller of the process, so a source that never answers
   * would hold them all: past this, the call is interrupted (one that ignores interruption is left
   * behind, not waited for) and fails with `TransportError` (`endpoint: "AppToken.source"`,
   * `reason: "Timeout"`, `phase: "unknown"`). That failure is transient: while the stored token
   * still works, it is returned instead.
   *
   * Why 15 seconds: it is the budget of the default WeChat fetch (3 attempts of the 5-second
   * request timeout, with the default `RetryPolicy`'s backoff about 15.3 s), so a source gets the
   * time WeChat would. The holder's whole turn under the lock (a store read, the source, a store
   * write: about 2 + 15 + 2 s with Redis' 2-second command timeout) stays within the Redis lock's
   * 20-second TTL even unrenewed, and ends before a caller waiting on the lock gives up (25 s for
   * `RedisRefreshLock`, 30 s for the in-process lock): a waiter then takes the lock and tries
   * itself, instead of failing with `RefreshLockTimeout`. A longer `sourceTimeout` needs a longer
   * `waitTimeout` (and `lockTtl`) on the lock for that to hold.
   *
   * Applies to `source` only: the default WeChat fetch is bounded by `WeChatConfig.timeout` and the
   * retry policy.
   */
  readonly sourceTimeout?: Duration.DurationInput | undefined
}

/** The default `sourceTimeout`: the default WeChat fetch's budget (3 x 5 s), within the locks' waits. */
const defaultSourceTimeout = Duration.seconds(15)

/**
 * A finite duration above zero that a timer holds (a number is milliseconds: NaN or a negative one
 * is refused): past `Arguments.maxTimerMillis` (24 days) Effect's clock never fires, and a source
 * that never answered would hold the lock's callers for ever.
 */
const positiveDuration = (input: unknown): Option.Option<Duration.Duration> =>
  Arguments.positiveDurationOf(input, Arguments.maxTimerMillis)

/** An answer of a caller's source, checked as WeChat's answer is (the values never in the error). */
const validAnswer = Schema.validateEither(WeChatApi.AppTokenResponse)

const sourceError = (description: string) => new WeChatError.InvalidArgument({ argument: "source", description })

const malformedAnswer = () =>
  new WeChatError.MalformedResponse({
    endpoint: "AppToken.source",
    description:
      `the token source's answer is not { access_token: a Redacted string of 1 to ${TokenText.maxTokenLength} characters, expires_in: whole seconds from 1 to 86,400 }`
  })

/**
 * A caller's `source`, guarded and with a deadline. Its answer is checked as WeChat's is (a plain
 * string for a token, a `NaN` or negative lifetime, a revoked Proxy: `MalformedResponse`, where the
 * token's constructor threw or a token that never expires was stored); a call that throws or gives
 * no Effect is an `InvalidArgument`. Past `timeout` its call is interrupted (in the background, so a
 * source that ignores interruption is not waited for, even by an uninterruptible caller) and the
 * call fails with a `TransportError`.
 */
const guardedSource = (source: Source, timeout: Duration.Duration): Source => {
  const description = `the token source did not answer within ${Duration.format(timeout)}`
  const timedOut = () =>
    new WeChatError.TransportError({ endpoint: "AppToken.source", reason: "Timeout", phase: "unknown", description })
  return (request) =>
    Effect.suspend((): Effect.Effect<WeChatApi.AppTokenResponse, AppTokenError> => {
      const called = Arguments.guard(() => source(request))
      if (Either.isLeft(called)) return Effect.fail(sourceError("threw when called"))
      const runnable = Arguments.runnableEffect(called.right) as ReturnType<Source> | undefined
      if (runnable === undefined) return Effect.fail(sourceError("must return an Effect"))
      return Effect.flatMap(runnable, (answer) => {
        // the checked copy goes on, never the answer itself: a getter or a Proxy read again could
        // hand back something else
        const checked = Arguments.guardOr(() => validAnswer(answer), undefined)
        return checked !== undefined && Either.isRight(checked)
          ? Effect.succeed(checked.right)
          : Effect.fail(malformedAnswer())
      })
    }).pipe(
      (guarded) => Deadline.within(guarded, timeout, timedOut)
    )
}

const invalidOption = (field: string, description: string) =>
  Effect.fail(ConfigError.InvalidData(["appToken", field], description))

/**
 * Builds the service for the `WeChatConfig` in context, with its tokens in the `AppTokenStore` in
 * context; uses the `RefreshLock` in context when there is one (an in-process lock otherwise).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWith = (
  options?: Options | undefined
): Effect.Effect<
  AppTokenShape,
  ConfigError.ConfigError,
  WeChatConfig.WeChatConfig | HttpClient.HttpClient | AppTokenStore.AppTokenStore | Scope
> =>
  Effect.gen(function*() {
    // read once, guarded: a throwing getter or a revoked Proxy is a ConfigError, never a defect
    const read = Arguments.readFields(options, ["mode", "refreshWithin", "source", "sourceTimeout"])
    if (Either.isLeft(read) && read.left === Arguments.unreadable) {
      return yield* Effect.fail(ConfigError.InvalidData(["appToken"], `the options ${read.left}`))
    }
    const opts: Options = Either.getOrUndefined(read) ?? {}
    const mode = opts.mode ?? "stable"
    if (mode !== "stable" && mode !== "classic") return yield* invalidOption("mode", "must be stable or classic")
    if (opts.source !== undefined && typeof opts.source !== "function") {
      return yield* invalidOption("source", "must be a function")
    }
    // the one reader of such options: a negative amount in any form (-1, NaN, "-5 minutes") is
    // refused, never read as zero (Duration's reading: the token used to its last second)
    const within = Arguments.nonNegativeDurationOf(opts.refreshWithin ?? "5 minutes")
    if (Option.isNone(within)) {
      return yield* invalidOption("refreshWithin", "must be a finite, non-negative duration")
    }
    const withinMillis = Duration.toMillis(within.value)
    const sourceTimeout = opts.sourceTimeout === undefined
      ? Option.some(defaultSourceTimeout)
      : positiveDuration(opts.sourceTimeout)
    if (Option.isNone(sourceTimeout)) {
      return yield* invalidOption(
        "sourceTimeout",
        `must be a finite duration above zero, ${Arguments.maxTimerRule}, e.g. "15 seconds"`
      )
    }
    const config = yield* WeChatConfig.WeChatConfig
    // a store or lock of the caller's under a deadline, ours as they are
    const store = Bounded.appTokenStore(yield* AppTokenStore.AppTokenStore)
    const lock = Bounded.refreshLock(Option.getOrElse(
      yield* Effect.serviceOption(RefreshLock.RefreshLock),
      () => RefreshLock.makeInProcess()
    ))
    const scope = yield* Effect.scope
    const appId = config.appId
    const lockKey = `app-token:${appId}`

    // a source of the caller's has a deadline (core's own sources are WeChat calls with theirs);
    // WeChat's endpoints only when they are the source (a platform's authorizer services, one per
    // app, have their own: building the endpoints cost each about 24 KB and 0.3 ms)
    const fetch: Source = opts.source !== undefined
      ? OwnSource.isBounded(opts.source) ? opts.source : guardedSource(opts.source, sourceTimeout.value)
      : (yield* Effect.map(
        WeChatApi.makeWith({ policy: RetryPolicy.defaultPolicy, spans: false }),
        (api): Source => (request) =>
          mode === "classic" ? api.token() : api.stableToken({ forceRefresh: request.forceRefresh })
      ))

    /**
     * Stores a fetched token in place of `stored` (read under the lock, before the fetch). Newer wins
     * in every store, so the token is stamped after `stored` even when this machine's clock is behind
     * it (a step back, or another machine ahead wrote it): stamped `now`, a forced token was dropped
     * and `get` went on answering the token WeChat had just revoked. It expires by this clock.
     */
    const store_ = (response: WeChatApi.AppTokenResponse, stored: Option.Option<AppTokenStore.AppAccessToken>) =>
      Effect.flatMap(Effect.clockWith((clock) => clock.currentTimeMillis), (now) => {
        const token = AppTokenStamp.replacing(
          response.access_token,
          now,
          response.expires_in * 1000,
          Option.getOrUndefined(stored)
        )
        return Effect.as(store.set(appId, token), token)
      })

    const now = Effect.clockWith((clock) => clock.currentTimeMillis)
    /** Fresh at `at` with the refresh window (cut to half a short-lived token's life). */
    const isFresh = (token: AppTokenStore.AppAccessToken, at: number) =>
      Freshness.isFreshWithin(token, at, withinMillis)
    const same = (a: Redacted.Redacted<string>, b: Redacted.Redacted<string>) => Redacted.value(a) === Redacted.value(b)

    /** Under the lock: the stored token if it is fresh (another process fetched it), else a fetched one. */
    const renew = lock.withLock(
      lockKey,
      Effect.gen(function*() {
        const stored = yield* store.get(appId)
        const at = yield* now
        if (Option.isSome(stored) && isFresh(stored.value, at)) return stored.value.accessToken
        const fetched = yield* fetch({ forceRefresh: false }).pipe(
          Effect.catchIf(
            // a transient failure while the stored token still works: keep using it
            (error) => WeChatError.isRetryable(error) && Option.isSome(stored) && stored.value.isFresh(at),
            () => Effect.succeed(undefined)
          )
        )
        if (fetched === undefined) return (stored as Option.Some<AppTokenStore.AppAccessToken>).value.accessToken
        return (yield* store_(fetched, stored)).accessToken
      })
    ).pipe(Effect.withSpan("AppToken.refresh", { captureStackTrace: false, attributes: { "wechat.app_id": appId } }))

    const flights = SingleFlight.make<Redacted.Redacted<string>, AppTokenError>(scope)

    const get: Effect.Effect<Redacted.Redacted<string>, AppTokenError> = Effect.flatMap(
      store.get(appId),
      (stored) =>
        Effect.flatMap(now, (at) =>
          Option.isSome(stored) && isFresh(stored.value, at)
            ? Effect.succeed(stored.value.accessToken)
            : flights.run("get", renew))
    )

    const invalidate = (rejected: Redacted.Redacted<string>): Effect.Effect<Redacted.Redacted<string>, AppTokenError> =>
      // never a throw: a Proxy or an object posing as Redacted is not a token
      Arguments.redactedText(rejected) !== undefined
        ? flights.run(
          `invalidate:${Redacted.value(rejected)}`,
          lock.withLock(
            lockKey,
            Effect.gen(function*() {
              const stored = yield* store.get(appId)
              // another process replaced it already: use theirs
              if (Option.isSome(stored) && !same(stored.value.accessToken, rejected)) return stored.value.accessToken
              const fetched = yield* fetch({ forceRefresh: false })
              if (!same(fetched.access_token, rejected)) return (yield* store_(fetched, stored)).accessToken
              // WeChat hands back the very token it rejected (revoked, or reset elsewhere): force once.
              // A force invalidates the token for every service of the app and is limited (20 a day):
              // never in a loop, never on a guess; a refused force is the caller's typed error.
              const at = yield* now
              // the app's spacing over this store: an AppToken built anew for the app goes on with it
              const forces = ForceSpacing.forApp(store, appId, at)
              if (!forces.allowed(at)) {
                // spaced out: the caller's retry meets the rejection again and gets its typed error
                if (forces.warn()) {
                  yield* Effect.logWarning(
                    "wxauth: WeChat returned the app token it had rejected again; not forcing a new one yet"
                  ).pipe(Effect.annotateLogs({ appId, nextForceIn: Duration.format(forces.wait(at)) }))
                }
                return rejected
              }
              forces.record(at)
              yield* Effect.logWarning("wxauth: WeChat returned the app token it had rejected; forcing a new one").pipe(
                Effect.annotateLogs({ appId })
              )
              const forced = yield* fetch({ forceRefresh: true })
              return (yield* store_(forced, stored)).accessToken
            })
          ).pipe(
            Effect.withSpan("AppToken.invalidate", { captureStackTrace: false, attributes: { "wechat.app_id": appId } })
          )
        )
        : Effect.fail(
          new WeChatError.InvalidArgument({ argument: "rejected", description: "must be a Redacted string" })
        )

    const withToken = <A, E>(
      f: (token: Redacted.Redacted<string>) => Effect.Effect<A, E>
    ): Effect.Effect<A, E | AppTokenError> =>
      typeof f !== "function"
        ? Effect.fail(new WeChatError.InvalidArgument({ argument: "f", description: "must be a function" }))
        : Effect.flatMap(get, (token) => {
          // the caller's function, called as untrusted: a throw or anything but an Effect is its
          // typed InvalidArgument, never a defect (nor a Proxy handed to the runtime)
          const call = (token: Redacted.Redacted<string>): Effect.Effect<A, E | WeChatError.InvalidArgument> => {
            const called = Arguments.guard(() => f(token))
            if (Either.isLeft(called)) return Arguments.fail("f", "threw when called")
            const runnable = Arguments.runnableEffect(called.right) as Effect.Effect<A, E> | undefined
            return runnable ?? Arguments.fail("f", "must return an Effect")
          }
          return Effect.catchIf(
            call(token),
            (error): error is E => WeChatError.isRefreshable(error),
            () => Effect.flatMap(invalidate(token), call)
          )
        })

    return AppToken.of({ appId, get, invalidate, withToken })
  })

/**
 * Builds the service with the default options (`stable_token`, refreshed in its last 5 minutes).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<
  AppTokenShape,
  ConfigError.ConfigError,
  WeChatConfig.WeChatConfig | HttpClient.HttpClient | AppTokenStore.AppTokenStore | Scope
> = makeWith()

/**
 * The service as a Layer: needs a `WeChatConfig`, an `HttpClient` and an `AppTokenStore`; uses the
 * `RefreshLock` in context when there is one.
 *
 * @example
 * ```ts
 * import { AppToken, AppTokenStore, WeChatConfig, WeChatHttpClient } from "@wxauth/core"
 * import * as Layer from "effect/Layer"
 *
 * const AppTokenLive = AppToken.layer.pipe(
 *   Layer.provide(AppTokenStore.layerMemory),
 *   Layer.provide(WeChatConfig.layerFromEnv),
 *   Layer.provide(WeChatHttpClient.layer())
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<
  AppToken,
  ConfigError.ConfigError,
  WeChatConfig.WeChatConfig | HttpClient.HttpClient | AppTokenStore.AppTokenStore
> = Layer.scoped(AppToken, make)

/**
 * The service as a Layer with options (mode, refresh window, a token source of your own).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (
  options: Options
): Layer.Layer<
  AppToken,
  ConfigError.ConfigError,
  WeChatConfig.WeChatConfig | HttpClient.HttpClient | AppTokenStore.AppTokenStore
> => Layer.scoped(AppToken, makeWith(options))
