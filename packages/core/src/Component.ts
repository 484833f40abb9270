/**
 * A WeChat third-party platform (component): the service that acts for the official accounts and
 * mini programs that authorized it.
 *
 * - The authorization-event URL: WeChat pushes the `component_verify_ticket` there every 10 minutes
 *   (and `authorized` / `updateauthorized` / `unauthorized` events), signed and AES-encrypted.
 *   `acceptPush` verifies, decrypts and parses a push, stores the ticket and returns the event;
 *   `makeHttpApp` (an `@effect/platform` handler) and `makePushHandler` (a Promise function for any
 *   other server) wrap it and answer `success`.
 * - The component access token (`accessToken`, from `api_component_token` with the stored ticket),
 *   and each authorized app's access token (`appToken(appId)`, from `api_authorizer_token` with the
 *   refresh token `queryAuth` stored): an app managed by a platform gets no `stable_token` (61024).
 * - `WeChatOAuth.makeForComponent(appId)` and `MiniProgram.makeForComponent(appId)` log users in to
 *   an authorized app through the platform.
 *
 * Everything is kept in the `AppTokenStore` (shared by every process when it is Redis or SQL), under
 * these keys: `component-ticket:<componentAppId>` (the last ticket, valid 12 hours after its
 * `CreateTime`), `component-token:<componentAppId>` (the component access token),
 * `authorizer-refresh:<appId>` (an authorized app's refresh token, kept until the app withdraws its
 * authorization) and `<appId>` (the authorized app's access token: it is that app's app token).
 * The keys must fit the stores' 64 characters, so the appids of a platform and of the apps it manages
 * are at most 45 characters here (WeChat's have 18). One store serves one platform per app.
 * The ticket and the refresh tokens cannot be fetched again (a refresh token lost locks its app out
 * until it authorizes the platform again): use a store that outlives the process; over the memory
 * store `Component` logs a warning.
 *
 * @since 0.1.0
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import type { Scope } from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as AppToken from "./AppToken.js"
import * as AppTokenStore from "./AppTokenStore.js"
import * as Arguments from "./internal/arguments.js"
import * as Bounded from "./internal/boundedStore.js"
import * as ComponentConfigInternal from "./internal/component/config.js"
import * as Events from "./internal/component/events.js"
import * as Push from "./internal/component/push.js"
import * as Tokens from "./internal/component/tokens.js"
import { maxPushBytes } from "./internal/component/xml.js"
import * as MemoryStore from "./internal/memoryStore.js"
import * as RefreshLock from "./RefreshLock.js"
import * as RetryPolicy from "./RetryPolicy.js"
import * as WeChatApi from "./WeChatApi.js"
import * as WeChatError from "./WeChatError.js"

/**
 * The platform's configuration, validated.
 *
 * @since 0.1.0
 * @category models
 */
export type ComponentConfigShape = ComponentConfigInternal.ComponentConfigShape

/**
 * The tag of the platform's configuration (`layer` provides it).
 *
 * @since 0.1.0
 * @category tags
 */
export const ComponentConfig: typeof ComponentConfigInternal.ComponentConfig = ComponentConfigInternal.ComponentConfig

/**
 * @since 0.1.0
 * @category tags
 */
export type ComponentConfig = ComponentConfigInternal.ComponentConfig

/**
 * Options of `layer` / `makeConfigEither`: the platform's appid and secret, the token and
 * EncodingAESKey of its authorization-event URL (all from the Open Platform's page of the
 * platform), and optionally the hosts, the request `timeout` (5 seconds), `maxResponseBytes`
 * (65,536), `pushMaxAge` (5 minutes: an older push is refused; each process remembers the pushes
 * it handled this long, to answer a replay `Duplicate`) and `pushTimeout` (4 seconds, at most 4.5:
 * how long the handling of a push, its store writes and `onEvent`, may take; WeChat waits 5
 * seconds for `success`, then pushes again).
 *
 * @since 0.1.0
 * @category models
 */
export type Options = ComponentConfigInternal.ConfigOptions

/**
 * Validates options into a configuration. A missing or wrong field is a `ConfigError` naming it:
 * the appid, secret, hosts and limits follow `WeChatConfig`'s rules (the appid at most 45
 * characters); the token is 1 to 128 printable characters; the EncodingAESKey is 43 base64
 * characters that decode to a 32-byte key; `pushMaxAge` is from 1 second to 12 hours;
 * `pushTimeout` is a positive duration of at most 4.5 seconds (under WeChat's 5-second wait).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeConfigEither = ComponentConfigInternal.makeConfigEither

/**
 * What a push meant: `ComponentVerifyTicket` (already stored), `Authorized` / `UpdateAuthorized`
 * (give the `authorizationCode` to `queryAuth`), `Unauthorized` (the app's stored tokens are void),
 * `Unrecognized` (another `InfoType`, e.g. `notify_third_fasteregister`, whose nested elements are
 * read for well-formedness and skipped), or `Duplicate` (a replay of a push this process already
 * handled, not processed again; another process, which shares the store but not this memory, would
 * process it: `onEvent` must be idempotent). Match with `PushEvent.$match` or on `_tag`.
 *
 * @since 0.1.0
 * @category models
 */
export type PushEvent = Events.PushEvent

/**
 * Constructors and matchers of `PushEvent` (`PushEvent.$is("Authorized")`, `PushEvent.$match`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const PushEvent: typeof Events.PushEvent = Events.PushEvent

/**
 * The fields of an `Authorized` / `UpdateAuthorized` event.
 *
 * @since 0.1.0
 * @category models
 */
export type AuthorizationFields = Events.AuthorizationFields

/**
 * A push as a server received it: the query of the request (`URLSearchParams`, the query string or
 * the URL, or an object of strings such as Express's `req.query`) and the raw body (text or bytes).
 *
 * @since 0.1.0
 * @category models
 */
export type PushRequest = Push.PushRequest

/**
 * How accepting a push fails: `InvalidPush` (forged, for another platform, too old, malformed),
 * `TokenStoreError` (the ticket could not be stored: WeChat will push again), `PushTimeout` (the
 * handling took longer than `pushTimeout`: interrupted, WeChat will push again), `PushInProgress`
 * (a copy of a push still being handled: not answered as a success, WeChat will push again),
 * `InvalidArgument` (a request that is not `{ query, body }`).
 *
 * @since 0.1.0
 * @category models
 */
export type PushError = Push.PushError

/**
 * What an authorization gave the platform: the authorized app and the ids of the permission sets it
 * granted.
 *
 * @since 0.1.0
 * @category models
 */
export type Authorization = Tokens.Authorization

/**
 * The service.
 *
 * @since 0.1.0
 * @category models
 */
export interface ComponentShape {
  readonly componentAppId: string
  readonly config: ComponentConfigShape
  /**
   * Accepts a push to the authorization-event URL: checks `msg_signature` (constant time), the age
   * (`pushMaxAge`, by the `Clock`) and replays (the same `msg_signature`, which covers the timestamp, nonce and message: `Duplicate`),
   * decrypts and parses the message (flat fields; an element holding others, as in WeChat's
   * fast-registration pushes, is skipped when well-formed and at most 8 levels deep, else
   * `Malformed`; a `CreateTime` more than `pushMaxAge` ahead of the `Clock` is `Stale`), stores a
   * ticket or voids an unauthorized app's tokens (dated no later than the `Clock`'s now: a voided
   * app has no token until it authorizes again), then runs `onEvent` when given. The push counts as
   * seen only when all of it succeeded, so WeChat's retry of a failed one is processed again. The
   * handling after the replay check (the store writes and `onEvent`) runs under `pushTimeout` (4
   * seconds by default, by the `Clock`): past it, it is interrupted (whatever the caller's
   * interruptibility) and `acceptPush` fails with `PushTimeout`, the push not remembered, so
   * WeChat's retry (after its 5-second wait) is processed afresh. A copy that arrives while the
   * push is still being handled fails with `PushInProgress` (never `Duplicate`, which WeChat takes
   * for success): WeChat pushes it again.
   *
   * The replay check is per process: the pushes handled are remembered in this process's memory
   * (at most 10,000, each for `pushMaxAge`), not in the `AppTokenStore` that all processes share.
   * A push answered by one process and replayed to another, or retried by WeChat to another (it
   * pushes again whatever was not answered `success` in time, to any process behind the URL), is
   * processed there again: `onEvent` must be idempotent. A `Duplicate` means only that this process
   * has already handled the push.
   */
  readonly acceptPush: <E = never, R = never>(
    request: PushRequest,
    onEvent?: ((event: PushEvent) => Effect.Effect<void, E, R>) | undefined
  ) => Effect.Effect<PushEvent, PushError | E, R>
  /**
   * The component access token: the stored one while it has more than 5 minutes left, else a new
   * one (single-flight in the process, one request across processes under the `RefreshLock`).
   * `ComponentTicketMissing` until a ticket has been pushed.
   */
  readonly accessToken: Effect.Effect<Redacted.Redacted<string>, AppToken.AppTokenError>
  /**
   * Runs `f` with the component access token; after a 40001 / 42001 for it, once more with a new one.
   * An `f` that is not a function, throws, or returns anything but an Effect fails with
   * `InvalidArgument`.
   */
  readonly withAccessToken: <A, E>(
    f: (token: Redacted.Redacted<string>) => Effect.Effect<A, E>
  ) => Effect.Effect<A, E | AppToken.AppTokenError>
  /**
   * `api_query_auth`: an authorization code (from an `Authorized` event, or the platform's
   * authorization redirect) for the app's tokens, which are stored; returns what it granted.
   */
  readonly queryAuth: (
    authorizationCode: string | Redacted.Redacted<string>
  ) => Effect.Effect<Authorization, AppToken.AppTokenError>
  /**
   * The app token of an authorized app, refreshed through `api_authorizer_token` with its stored
   * refresh token (`AuthorizerRefreshTokenInvalid` when there is none, or WeChat says 61023: then
   * the refused refresh token and the app's access token are voided in the store, as `unauthorized`
   * voids them, so later calls get that error without a request until `queryAuth` stores new
   * ones). Built on first use (about 4 KB) and kept while used: at most 1,000 apps (the least
   * recently used go first) and none unused for 30 minutes by the `Clock`. A service holds no state of its own (its
   * token is in the `AppTokenStore`), so one that was dropped keeps working for a caller holding
   * it, and the next call builds another.
   */
  readonly appToken: (appId: string) => Effect.Effect<AppToken.AppTokenShape, WeChatError.InvalidArgument>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Component extends Context.Tag("@wxauth/core/Component")<Component, ComponentShape>() {}

/**
 * Builds the service for the `ComponentConfig` in context, keeping its tickets and tokens in the
 * `AppTokenStore` in context; uses the `RefreshLock` in context when there is one (an in-process
 * lock otherwise). Over core's memory store (`AppTokenStore.layerMemory`) it logs a warning once,
 * when built: the authorized apps' refresh tokens last only as long as the process.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<
  ComponentShape,
  never,
  ComponentConfig | HttpClient.HttpClient | AppTokenStore.AppTokenStore | Scope
> = Effect.gen(function*() {
  const config = yield* ComponentConfig
  const given = yield* AppTokenStore.AppTokenStore
  if (MemoryStore.isMarked(given)) {
    // the ticket and the refresh tokens cannot be fetched again: a restart loses every authorization
    yield* Effect.logWarning(
      "wxauth: Component keeps its ticket and the authorized apps' refresh tokens in the memory AppTokenStore, for the life of this process only: after a restart every app must authorize the platform again. For development; use a shared store (Redis, SQL) otherwise"
    ).pipe(Effect.annotateLogs({ componentAppId: config.componentAppId }))
  }
  // a store or lock of the caller's under a deadline, ours as they are
  const store = Bounded.appTokenStore(given)
  const lock = Bounded.refreshLock(Option.getOrElse(
    yield* Effect.serviceOption(RefreshLock.RefreshLock),
    () => RefreshLock.makeInProcess()
  ))
  const api = yield* WeChatApi.makeComponentWith({ policy: RetryPolicy.defaultPolicy })
  const context = yield* Effect.context<HttpClient.HttpClient | Scope>()
  const tokens = yield* Tokens.make({ api, config, context, lock, store })
  const push = Push.make({ config, forget: tokens.forget, storeTicket: tokens.storeTicket })
  const spanOptions = {
    captureStackTrace: false,
    attributes: { "wechat.component_app_id": config.componentAppId }
  } as const
  return Component.of({
    componentAppId: config.componentAppId,
    config,
    acceptPush: (request, onEvent) =>
      push.accept(request, onEvent).pipe(
        Effect.tap((event) => Effect.annotateCurrentSpan("wechat.push", event._tag)),
        Effect.withSpan("Component.acceptPush", spanOptions)
      ),
    accessToken: tokens.componentToken.get,
    withAccessToken: (f) => tokens.componentToken.withToken(f),
    queryAuth: (authorizationCode) =>
      tokens.queryAuth(authorizationCode).pipe(Effect.withSpan("Component.queryAuth", spanOptions)),
    appToken: tokens.appToken
  })
})

/**
 * The platform as a Layer, with its configuration (validated: a wrong field fails the layer with a
 * `ConfigError` naming it). Needs an `HttpClient` and an `AppTokenStore`; uses the `RefreshLock` in
 * context when there is one.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<
  Component | ComponentConfig,
  ConfigError.ConfigError,
  HttpClient.HttpClient | AppTokenStore.AppTokenStore
> => Layer.scoped(Component, make).pipe(Layer.provideMerge(Layer.effect(ComponentConfig, makeConfigEither(options))))

/**
 * The platform as a Layer, its configuration from `Config` values.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<Options>
): Layer.Layer<
  Component | ComponentConfig,
  ConfigError.ConfigError,
  HttpClient.HttpClient | AppTokenStore.AppTokenStore
> =>
  Layer.scoped(Component, make).pipe(
    Layer.provideMerge(
      Layer.effect(
        ComponentConfig,
        Effect.flatMap(Arguments.unwrapConfig("Component", options), makeConfigEither)
      )
    )
  )

/**
 * Options of `makeHttpApp`: what the app does with an accepted event (e.g. `queryAuth` on
 * `Authorized`). When it fails, or takes longer than `pushTimeout` (it is then interrupted), the
 * answer is not `success` and the push is not remembered, so WeChat's retry runs it again.
 *
 * @since 0.1.0
 * @category models
 */
export interface HttpAppOptions<E, R> {
  readonly onEvent?: ((event: PushEvent) => Effect.Effect<void, E, R>) | undefined
}

const onEventOf = (options: unknown): Checked<unknown> => {
  // read once, guarded: a throwing getter or a revoked Proxy is a ConfigError, never a defect
  const read = Arguments.readFields(options, ["onEvent"])
  if (Either.isLeft(read)) {
    return {
      error: ConfigError.InvalidData(
        [],
        read.left === Arguments.unreadable ? `the options ${read.left}` : "expected an object of options"
      )
    }
  }
  const onEvent = read.right?.onEvent
  return onEvent === undefined || typeof onEvent === "function"
    ? { value: onEvent }
    : { error: ConfigError.InvalidData(["onEvent"], "must be a function") }
}

type Checked<A> = { readonly value: A; readonly error?: undefined } | { readonly error: ConfigError.ConfigError }

const textResponse = (body: string, status: number) => HttpServerResponse.text(body, { status })

/** A body still unread at the deadline: the connection is closed after the answer (that ends the read). */
const requestTimeout = () =>
  HttpServerResponse.text("request timeout", { status: 408, headers: { connection: "close" } })

/**
 * The body of the request, at most `maxPushBytes`, within `deadline`; else the answer to give.
 *
 * A server runs the handler uninterruptibly (`@effect/platform-node`'s does): a timeout around the
 * read itself could not cut it, and a body that stalls held the request until the client gave up
 * (a slowloris on the URL WeChat pushes to). And interrupting the read makes the server destroy the
 * socket, before any answer is written. So the read runs in a fiber of its own, left to end with
 * the connection, and only the wait for it is cut at the deadline: the answer is the 408, with
 * `connection: close`, whose closing of the connection ends the read.
 */
const readBody = (
  request: HttpServerRequest.HttpServerRequest,
  deadline: Duration.Duration
): Effect.Effect<Uint8Array, HttpServerResponse.HttpServerResponse> => {
  const tooLarge = textResponse("payload too large", 413)
  const announced = request.headers["content-length"]
  if (announced !== undefined && !(Number(announced) <= maxPushBytes)) return Effect.fail(tooLarge)
  const read = Stream.runFoldEffect(
    request.stream,
    { chunks: [] as Array<Uint8Array>, size: 0 },
    (acc, chunk): Effect.Effect<{ chunks: Array<Uint8Array>; size: number }, HttpServerResponse.HttpServerResponse> => {
      acc.size += chunk.length
      if (acc.size > maxPushBytes) return Effect.fail(tooLarge)
      acc.chunks.push(chunk)
      return Effect.succeed(acc)
    }
  ).pipe(
    Effect.map(({ chunks }) => new Uint8Array(Buffer.concat(chunks))),
    Effect.catchTag("RequestError", () => Effect.fail(textResponse("bad request", 400)))
  )
  return Effect.flatMap(
    Effect.forkDaemon(read),
    (reading) =>
      Effect.interruptible(Fiber.join(reading)).pipe(
        Effect.timeoutFail({ duration: deadline, onTimeout: requestTimeout })
      )
  )
}

/** At most one warning per this long about refused pushes; the others are debug lines. */
const refusalWarningInterval = 60_000

/**
 * The log of refused requests (forged, stale, malformed: anyone can send them): a warning with the
 * reason, then debug lines for the refusals that follow within a minute, counted in the next
 * warning, so a flood of garbage does not flood the log, and never an ERROR (it is not the app's).
 */
const makeRefusalLog = () => {
  let warnedAt = Number.NEGATIVE_INFINITY
  let since = 0
  return {
    log: (error: WeChatError.InvalidPush | WeChatError.InvalidArgument) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const annotations = error._tag === "InvalidPush"
          ? { reason: error.reason, description: error.description }
          : { reason: "Malformed", description: `${error.argument}: ${error.description}` }
        if (now - warnedAt < refusalWarningInterval && now >= warnedAt) {
          since++
          return Effect.logDebug("wxauth: refused a push to the authorization-event URL").pipe(
            Effect.annotateLogs(annotations)
          )
        }
        const suppressed = since
        warnedAt = now
        since = 0
        return Effect.logWarning("wxauth: refused a push to the authorization-event URL").pipe(
          Effect.annotateLogs({ ...annotations, refusedSinceLastWarning: suppressed })
        )
      })
  }
}

/**
 * The handler of the authorization-event URL, for an `@effect/platform` server (`HttpRouter.post`,
 * `HttpServer.serve`): reads the body (at most 64 KiB, within `pushTimeout`, else 408 with the connection closed, even
 * where the server runs the handler uninterruptibly), accepts the
 * push and answers the text `success` (a `Duplicate` too, so WeChat stops retrying). `pushTimeout`
 * counts from the request's arrival, the body's reading included, so the answer comes before
 * WeChat's retry. A refused push (forged, stale, malformed, an over-long query) is a 400, logged as
 * a warning at most once a minute (debug lines in between: anyone can send garbage); a store
 * failure, a failed `onEvent`, or a handling that took longer than `pushTimeout` (`PushTimeout`:
 * interrupted at the deadline) is a 500 (WeChat retries), logged as an error; a copy of a push
 * still being handled (`PushInProgress`) is a 500 too (WeChat pushes it again), logged as a
 * warning; no line holds the push's content.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeHttpApp = <E = never, R = never>(
  options?: HttpAppOptions<E, R> | undefined
): Effect.Effect<HttpApp.Default<never, R>, ConfigError.ConfigError, Component> =>
  Effect.suspend(() => {
    const checked = onEventOf(options)
    if (checked.error !== undefined) return Effect.fail(checked.error)
    const onEvent = checked.value as HttpAppOptions<E, R>["onEvent"]
    const refusals = makeRefusalLog()
    return Effect.map(Component, (component): HttpApp.Default<never, R> =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        // `pushTimeout` counts from here: the answer comes before WeChat's retry, the body's reading included
        const arrivedAt = yield* Clock.currentTimeMillis
        if (request.method !== "POST") {
          return HttpServerResponse.text("method not allowed", { status: 405, headers: { allow: "POST" } })
        }
        const body = yield* Effect.either(readBody(request, component.config.pushTimeout))
        if (body._tag === "Left") return body.left
        const at = request.url.indexOf("?")
        const query = at < 0 ? "" : request.url.slice(at + 1)
        const exit = yield* Effect.exit(
          Effect.locally(component.acceptPush({ query, body: body.right }, onEvent), Push.arrivedAt, arrivedAt)
        )
        if (Exit.isSuccess(exit)) return HttpServerResponse.text("success")
        const failure = Cause.failureOption(exit.cause)
        const error: unknown = Option.isSome(failure) ? failure.value : undefined
        if (
          error instanceof WeChatError.InvalidPush ||
          (error instanceof WeChatError.InvalidArgument && error.argument.startsWith("request"))
        ) {
          yield* refusals.log(error)
          return textResponse("invalid push", 400)
        }
        if (error instanceof WeChatError.TokenStoreError) {
          yield* Effect.logError("wxauth: could not store a pushed ticket; WeChat will push again").pipe(
            Effect.annotateLogs({ description: error.description })
          )
          return textResponse("try again", 500)
        }
        if (error instanceof WeChatError.PushTimeout) {
          yield* Effect.logError(
            `wxauth: the handling of a push took longer than ${error.timeout} (pushTimeout) and was interrupted; WeChat will push it again`
          )
          return textResponse("try again", 500)
        }
        if (error instanceof WeChatError.PushInProgress) {
          // WeChat's retry of a push still in hand: not `success`, so WeChat pushes it once more
          yield* Effect.logWarning(
            "wxauth: a push arrived again while it was still being handled; answered 500 so WeChat pushes it again"
          )
          return textResponse("try again", 500)
        }
        yield* Effect.logError("wxauth: the app's handling of a push failed; WeChat will push it again")
        return textResponse("try again", 500)
      }))
  })

/**
 * Options of `makePushHandler`: what the app does with an accepted event. A rejection rejects the
 * handler's promise with it, and the push is not remembered (WeChat's retry runs it again). A
 * promise still pending at `pushTimeout` is no longer waited for: the handler rejects with
 * `PushTimeout` (the push not remembered either); the promise itself cannot be cancelled.
 *
 * @since 0.1.0
 * @category models
 */
export interface PushHandlerOptions {
  readonly onEvent?: ((event: PushEvent) => void | PromiseLike<void>) | undefined
}

/** Carries the app's own rejection through the Effect error channel, to be rejected with as it was. */
class Reaction {
  constructor(readonly reason: unknown) {}
}

/**
 * The handler of the authorization-event URL for any other server (Express, Koa, Fastify, a
 * serverless function): give it the request's query and raw body (read at most 64 KiB, e.g.
 * `express.text({ type: "*\/*", limit: "64kb" })`); it resolves to `"success"` (answer that text,
 * HTTP 200) or rejects with the typed error (`InvalidPush`: answer 400; `TokenStoreError`,
 * `PushTimeout` when the handling took longer than `pushTimeout`, and `PushInProgress` for a copy
 * of a push still being handled: 500, WeChat pushes again) or the rejection of `onEvent`. It
 * always settles: the handling is bounded by `pushTimeout`. Runs in the runtime it was made in (its
 * services, `Clock` and logger).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makePushHandler = (
  options?: PushHandlerOptions | undefined
): Effect.Effect<(request: PushRequest) => Promise<"success">, ConfigError.ConfigError, Component> =>
  Effect.suspend(() => {
    const checked = onEventOf(options)
    if (checked.error !== undefined) return Effect.fail(checked.error)
    const onEvent = checked.value as PushHandlerOptions["onEvent"]
    const react = onEvent === undefined ? undefined : (event: PushEvent) =>
      Effect.tryPromise({
        try: () => Promise.resolve(onEvent(event)),
        catch: (reason) => new Reaction(reason)
      })
    return Effect.map(
      Effect.zip(Component, Effect.runtime<never>()),
      ([component, runtime]) => (request: PushRequest): Promise<"success"> =>
        new Promise((resolve, reject) => {
          Runtime.runCallback(runtime)(component.acceptPush(request, react), {
            onExit: (exit) => {
              if (Exit.isSuccess(exit)) return resolve("success")
              const failure = Cause.failureOption(exit.cause)
              if (Option.isNone(failure)) return reject(Cause.squash(exit.cause))
              return reject(failure.value instanceof Reaction ? failure.value.reason : failure.value)
            }
          })
        })
    )
  })
