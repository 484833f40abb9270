/**
 * The sandbox service behind `Sandbox.make`: the engine (WeChat's rules) and the sandbox's own
 * state — the clock offset `advanceClock` adds to `Clock`, the queue of pending faults, the call
 * counters, the log of the platforms' pushes — with the controls over them, the router as
 * `handle`, and one ticket timer per platform that has a receiver (a fiber in the scope, on
 * `Clock`). `advanceClock` does not move `Clock`, so the timers would not see the skipped time: after
 * it, each timed platform whose newest ticket is an interval old gets one pushed at once.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import type {
  ComponentInfoType,
  ComponentPush,
  ComponentPushRecord,
  ComponentPushResult,
  Endpoint,
  SandboxError,
  SandboxOptions,
  SandboxService
} from "../Sandbox.js"
import * as Component from "./component.js"
import * as Defaults from "./defaults.js"
import * as Engine from "./engine.js"
import * as Faults from "./faults.js"
import * as Ids from "./ids.js"
import * as Push from "./push.js"
import { quote } from "./quote.js"
import * as Router from "./router.js"
import * as Schemas from "./schema.js"

/** How many pushes the log keeps per platform. @internal */
export const PUSH_LOG_SIZE = 100

const emptyStats = (): Record<Endpoint, number> =>
  Object.fromEntries(Schemas.endpoints.map((endpoint) => [endpoint, 0])) as Record<Endpoint, number>

/** @internal */
export const make = (
  options: SandboxOptions | undefined,
  toError: (message: string) => SandboxError
): Effect.Effect<SandboxService, SandboxError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* Schemas.orFail(Schemas.checkOptions(options, Defaults.config), toError)
    const apps = Schemas.allApps(config)
    const engine = new Engine.Engine(apps, config.users, config.limits, config.components)
    const platforms = new Map(config.components.map((component) => [component.componentAppId, component]))
    const pushLog = yield* Ref.make<ReadonlyMap<string, ReadonlyArray<ComponentPushRecord>>>(new Map())
    const offset = yield* Ref.make(0)
    const faults = yield* Ref.make<ReadonlyArray<Schemas.PendingFault>>([])
    const stats = yield* Ref.make(emptyStats())
    const now = Effect.zipWith(Clock.currentTimeMillis, Ref.get(offset), (clock, offset) => clock + offset)

    const withNow = <A>(f: (now: number) => Either.Either<A, string>): Effect.Effect<A, SandboxError> =>
      Effect.flatMap(now, (now) => Effect.suspend(() => Schemas.orFail(f(now), toError)))

    /**
     * A control's options, read once under a guard: `required` must be strings, `optional` strings
     * when given. A value that is not an object, cannot be read (a Proxy whose traps throw, a revoked
     * Proxy) or whose field is of another type is a `SandboxError`, never a throw.
     */
    const readControl = <K extends string, O extends string = never>(
      input: unknown,
      required: ReadonlyArray<K>,
      optional: ReadonlyArray<O> = []
    ): Effect.Effect<Record<K, string> & Partial<Record<O, string>>, SandboxError> => {
      try {
        if (typeof input !== "object" || input === null) return Effect.fail(toError("expected an object of options"))
        const fields = input as Record<string, unknown>
        const out: Record<string, unknown> = {}
        for (const name of [...required, ...optional]) {
          const value = fields[name]
          if (value === undefined && (optional as ReadonlyArray<string>).includes(name)) continue
          if (typeof value !== "string") return Effect.fail(toError(`${name} must be a string`))
          out[name] = value
        }
        return Effect.succeed(out as Record<K, string> & Partial<Record<O, string>>)
      } catch {
        return Effect.fail(toError("expected an object of options whose fields can be read"))
      }
    }

    const approve: SandboxService["approve"] = (given) =>
      Effect.flatMap(
        readControl(given, ["appId", "user", "scope", "redirectUri"], ["state", "componentAppId"]),
        (options) => approveWith(options)
      )

    const approveWith = (options: {
      readonly appId: string
      readonly user: string
      readonly scope: string
      readonly redirectUri: string
      readonly state?: string | undefined
      readonly componentAppId?: string | undefined
    }) =>
      withNow((now) => {
        const app = engine.apps.get(options.appId)
        if (app === undefined) return Either.left(`unknown app ${quote(options.appId)}`)
        if (app.kind === "miniProgram") {
          return Either.left(`app ${app.appId} is a miniProgram: use miniProgramLogin`)
        }
        const user = engine.checkUser(app.appId, options.user)
        if (Either.isLeft(user)) return Either.left(user.left)
        const params = new URLSearchParams({
          appid: app.appId,
          redirect_uri: options.redirectUri,
          response_type: "code",
          scope: options.scope,
          state: options.state ?? "",
          ...(options.componentAppId === undefined ? {} : { component_appid: String(options.componentAppId) })
        })
        return Either.map(
          Either.mapLeft(
            engine.checkAuthorize(app.kind === "website" ? "qrconnect" : "authorize", params),
            (problem) => `${problem.param}: ${problem.message}`
          ),
          (request) => engine.consent(request, user.right, now)
        )
      })

    // ---------------------------------------------------------------------------------------------
    // the platforms' pushes
    // ---------------------------------------------------------------------------------------------

    const platformOf = (componentAppId: string) => {
      const platform = platforms.get(componentAppId)
      return platform === undefined ?
        Effect.fail(toError(`unknown component ${quote(componentAppId)}`)) :
        Effect.succeed(platform)
    }

    /** The platform, which must have a receiver to push to. */
    const receiverOf = (componentAppId: string) =>
      Effect.filterOrFail(
        platformOf(componentAppId),
        Push.hasReceiver,
        () =>
          toError(
            `component ${componentAppId} has no pushUrl nor pushHandler: use componentPush to get the push without sending it`
          )
      )

    const record = (push: ComponentPush, delivery: ComponentPushResult["delivery"], appId: string | undefined) =>
      Ref.update(pushLog, (log) => {
        const entry: ComponentPushRecord = {
          infoType: push.infoType,
          ...(appId === undefined ? {} : { authorizerAppId: appId }),
          ...delivery
        }
        const kept = [...(log.get(push.componentAppId) ?? []), entry].slice(-PUSH_LOG_SIZE)
        return new Map(log).set(push.componentAppId, kept)
      })

    /**
     * An event happens (`effect`, on the sandbox's time) and its push is built: `fields` from what
     * the event gave. Atomic: the event and the push are one synchronous step.
     */
    const event = <A>(
      componentAppId: string,
      infoType: ComponentInfoType,
      happen: (now: number) => Either.Either<A, string>,
      fields: (a: A, now: number) => ReadonlyArray<readonly [string, string]>,
      forge?: Parameters<Component.Components["push"]>[4]
    ) =>
      withNow((now) =>
        Either.flatMap(
          happen(now),
          (a) => engine.components.push(componentAppId, infoType, fields(a, now), now, forge)
        )
      )

    /** Sends a push to the platform's receiver, records the delivery, returns both. */
    const send = (push: ComponentPush, appId: string | undefined) =>
      Effect.gen(function*() {
        const platform = platforms.get(push.componentAppId)!
        const delivery = yield* Push.deliver(platform, push, yield* now)
        yield* record(push, delivery, appId)
        return { push, delivery }
      })

    const ticketPush = (componentAppId: string) =>
      event(
        componentAppId,
        "component_verify_ticket",
        (now) => engine.components.issueTicket(componentAppId, now),
        Component.ticketFields
      )

    const pushTicket: SandboxService["pushTicket"] = (input) =>
      Effect.flatMap(controlOptions(input, ["componentAppId"]), ({ componentAppId }) =>
        receiverOf(componentAppId).pipe(
          Effect.zipRight(ticketPush(componentAppId)),
          Effect.flatMap((push) => send(push, undefined))
        ))

    const grantPush = (
      infoType: "authorized" | "updateauthorized",
      componentAppId: string,
      appId: string
    ) =>
      event(
        componentAppId,
        infoType,
        (now) =>
          infoType === "authorized" ?
            engine.components.authorize(componentAppId, appId, now) :
            engine.components.updateAuthorization(componentAppId, appId, now),
        (grant) => Component.grantFields(appId, grant)
      )

    const unauthorizedPush = (componentAppId: string, appId: string) =>
      event(
        componentAppId,
        "unauthorized",
        (now) => engine.components.unauthorize(componentAppId, appId, now),
        () => Component.unauthorizedFields(appId)
      )

    /**
     * The fields of a component control's options, read once: a `SandboxError` (never a throw) when
     * the input is not an object, or a field that must be a string is not one.
     */
    const controlOptions = <K extends "componentAppId" | "appId">(
      input: unknown,
      names: ReadonlyArray<K>
    ): Effect.Effect<Record<K, string> & { readonly refuse?: unknown }, SandboxError> => {
      try {
        if (typeof input !== "object" || input === null) return Effect.fail(toError("expected an object of options"))
        const fields = input as Record<string, unknown>
        const out: Record<string, unknown> = { refuse: fields.refuse }
        for (const name of names) {
          const value = fields[name]
          if (typeof value !== "string") return Effect.fail(toError(`${name} must be a string`))
          out[name] = value
        }
        return Effect.succeed(out as Record<K, string> & { readonly refuse?: unknown })
      } catch {
        return Effect.fail(toError("expected an object of options"))
      }
    }

    const decodePush = (input: unknown) => {
      try {
        return Schemas.orFail(Schemas.decode(Schemas.ComponentPushBody, input), toError)
      } catch {
        // a Proxy whose traps throw
        return Effect.fail(toError("expected an object of options"))
      }
    }

    const componentPush: SandboxService["componentPush"] = (input) =>
      Effect.flatMap(decodePush(input), (options) => {
        const { appId, componentAppId, forge, infoType } = options
        if (infoType !== "component_verify_ticket" && appId === undefined) {
          return Effect.fail(toError(`an ${infoType} push needs the authorizer's appId`))
        }
        if (forge !== undefined) {
          // a forger's push: nothing happens, its ticket or code is unknown to the sandbox
          return event(
            componentAppId,
            infoType,
            (now) => Either.right(now),
            (now) =>
              infoType === "component_verify_ticket" ?
                Component.ticketFields(Ids.randomTicket()) :
                infoType === "unauthorized" ?
                Component.unauthorizedFields(appId!) :
                Component.grantFields(appId!, Component.forgedGrant(now)),
            forge
          )
        }
        switch (infoType) {
          case "component_verify_ticket":
            return ticketPush(componentAppId)
          case "authorized":
          case "updateauthorized":
            return grantPush(infoType, componentAppId, appId!)
          case "unauthorized":
            return unauthorizedPush(componentAppId, appId!)
        }
      })

    /** One ticket every interval, the first an interval after start, while the scope lasts. */
    const ticketTimer = (componentAppId: string, interval: Duration.Duration) =>
      Effect.sleep(interval).pipe(
        Effect.zipRight(ticketPush(componentAppId)),
        Effect.flatMap((push) => send(push, undefined)),
        Effect.forever
      )

    const startedAt = yield* now
    const timed = config.components.flatMap((platform) =>
      Push.hasReceiver(platform) && platform.pushInterval !== false && platform.pushInterval !== undefined ?
        [{
          componentAppId: platform.componentAppId,
          interval: Duration.toMillis(Duration.decode(platform.pushInterval))
        }] :
        []
    )

    /**
     * After `advanceClock`: WeChat pushed a ticket every interval of the skipped time, so each timed
     * platform whose newest ticket (or the start, before its first) is an interval old or more gets
     * the last of them, pushed now; the older ones would have been superseded anyway. The timer
     * itself keeps its own pace on `Clock`.
     */
    // the catch-up deliveries run in fibers of the sandbox's scope, on the caller's Clock as every
    // push does; advanceClock waits for each at most the push timeout on the real clock, so that a
    // receiver waiting on a TestClock (Effect.sleep, a Schedule) cannot hold the caller for ever
    // asked only when a platform has a timer, as the timers' own forkScoped is: a sandbox without
    // one is built without a Scope (callers run `Sandbox.make()` without one)
    const scope = timed.length > 0 ? yield* Effect.scope : undefined
    const liveClock = Clock.make()
    const catchUpTickets = Effect.flatMap(now, (at) =>
      Effect.forEach(
        timed,
        ({ componentAppId, interval }) =>
          at - (engine.components.newestTicketAt(componentAppId) ?? startedAt) >= interval ?
            ticketPush(componentAppId).pipe(
              Effect.flatMap((push) => send(push, undefined)),
              // the platform is known: nothing fails; the delivery's outcome is in the log
              Effect.ignore,
              Effect.forkIn(scope!),
              Effect.flatMap((delivery) =>
                Effect.ignore(Effect.timeout(Fiber.await(delivery), Push.PUSH_TIMEOUT)).pipe(
                  Effect.withClock(liveClock)
                )
              )
            ) :
            Effect.void,
        { concurrency: "unbounded", discard: true }
      ))

    const controls: Omit<SandboxService, "handle"> = {
      apps,
      users: config.users,
      openidOf: (appId, userId) => engine.openidOf(appId, userId),
      approve,
      miniProgramLogin: (given) =>
        Effect.flatMap(readControl(given, ["appId", "user"], ["sessionKey"]), (options) =>
          withNow((now) => engine.miniProgramLogin(options.appId, options.user, options.sessionKey, now))),
      encryptUserData: (given) =>
        Effect.flatMap(readControl(given, ["appId", "user"], ["watermarkAppId"]), (options) =>
          withNow((now) =>
            engine.encryptUserData(options.appId, options.user, options.watermarkAppId, now)
          )),
      phoneNumberCode: (given) =>
        Effect.flatMap(readControl(given, ["appId", "user"], ["watermarkAppId"]), (options) =>
          withNow((now) =>
            engine.wxa.phoneNumberCode(options.appId, options.user, options.watermarkAppId, now)
          )),
      revokeAppToken: (given) =>
        Effect.flatMap(
          readControl(given, ["appId"]),
          (options) =>
            withNow((now) =>
              engine.appTokens.revoke(options.appId, now)
            )
        ),
      components: config.components,
      componentPush,
      pushTicket,
      authorize: (input) =>
        Effect.flatMap(controlOptions(input, ["componentAppId", "appId"]), ({ appId, componentAppId }) =>
          receiverOf(componentAppId).pipe(
            Effect.zipRight(grantPush("authorized", componentAppId, appId)),
            Effect.flatMap((push) =>
              send(push, appId)
            )
          )),
      updateAuthorization: (input) =>
        Effect.flatMap(controlOptions(input, ["componentAppId", "appId"]), ({ appId, componentAppId }) =>
          receiverOf(componentAppId).pipe(
            Effect.zipRight(grantPush("updateauthorized", componentAppId, appId)),
            Effect.flatMap((push) =>
              send(push, appId)
            )
          )),
      unauthorize: (input) =>
        Effect.flatMap(controlOptions(input, ["componentAppId", "appId"]), ({ appId, componentAppId }) =>
          receiverOf(componentAppId).pipe(
            Effect.zipRight(unauthorizedPush(componentAppId, appId)),
            Effect.flatMap((push) =>
              send(push, appId)
            )
          )),
      componentPushes: (input) =>
        Effect.flatMap(controlOptions(input, ["componentAppId"]), ({ componentAppId }) =>
          Effect.zipRight(
            platformOf(componentAppId),
            Effect.map(Ref.get(pushLog), (log) =>
              log.get(componentAppId) ?? [])
          )),
      componentTokenUsage: (input) =>
        Effect.flatMap(
          controlOptions(input, ["componentAppId"]),
          ({ componentAppId }) =>
            Schemas.orFail(engine.components.usage(componentAppId), toError)
        ),
      setComponentIpWhitelist: (input) =>
        Effect.flatMap(
          controlOptions(input, ["componentAppId"]),
          ({ componentAppId, refuse }) =>
            Schemas.orFail(engine.components.setRefuseIp(componentAppId, refuse === true), toError)
        ),
      revokeAuthorizerRefreshToken: (input) =>
        Effect.flatMap(
          controlOptions(input, ["componentAppId", "appId"]),
          ({ appId, componentAppId }) =>
            Schemas.orFail(engine.components.revokeRefreshToken(componentAppId, appId), toError)
        ),
      revokeComponentToken: (input) =>
        Effect.flatMap(
          controlOptions(input, ["componentAppId"]),
          ({ componentAppId }) => withNow((now) => engine.components.revokeTokens(componentAppId, now))
        ),
      appTokenUsage: (given) =>
        Effect.flatMap(
          readControl(given, ["appId"]),
          (options) => withNow((now) => engine.appTokens.usage(options.appId, now))
        ),
      injectFault: (fault) =>
        Effect.flatMap(
          Schemas.orFail(Schemas.checkFault(fault), toError),
          (pending) =>
            // bounded: each pending fault is kept (up to a 1 MiB body) and every call looks through them
            Effect.flatMap(
              Ref.modify(faults, (queue) =>
                queue.length >= Schemas.faultLimits.pending
                  ? [false, queue] as const
                  : [true, [...queue, pending]] as const),
              (added) =>
                added ? Effect.void : Effect.fail(toError(
                  `at most ${Schemas.faultLimits.pending} faults may be pending: give one \`times\` to repeat it, or clear them`
                ))
            )
        ),
      clearFaults: Ref.set(faults, []),
      stats: Effect.map(Ref.get(stats), (stats) => ({ ...stats })),
      resetStats: Effect.zipRight(
        Ref.set(stats, emptyStats()),
        Effect.sync(() => engine.components.resetUsage())
      ),
      advanceClock: (duration) => {
        // what is no duration ("banana", a Symbol, a Proxy) is the same defect as a too-long one,
        // never a throw out of the call
        let millis: number
        try {
          millis = Duration.toMillis(duration)
        } catch {
          return Effect.dieMessage("Sandbox.advanceClock: the duration must be finite and at most 100 years")
        }
        if (!Number.isFinite(millis) || millis > Schemas.maxAdvanceMillis) {
          return Effect.dieMessage("Sandbox.advanceClock: the duration must be finite and at most 100 years")
        }
        return Effect.flatMap(now, (before) =>
          Schemas.isDate(before + millis) ?
            Effect.zipRight(Ref.update(offset, (offset) => offset + millis), catchUpTickets) :
            Effect.dieMessage("Sandbox.advanceClock: the sandbox's clock would pass the last date JavaScript can show"))
      },
      currentTimeMillis: now
    }

    for (const platform of config.components) {
      if (Push.hasReceiver(platform) && platform.pushInterval !== false && platform.pushInterval !== undefined) {
        yield* Effect.forkScoped(ticketTimer(platform.componentAppId, Duration.decode(platform.pushInterval)))
      }
    }

    const handle = Router.make({
      engine,
      apps,
      users: config.users,
      now,
      count: (endpoint) => Ref.update(stats, (stats) => ({ ...stats, [endpoint]: stats[endpoint] + 1 })),
      takeFault: (endpoint) => Ref.modify(faults, Faults.take(endpoint)),
      control: {
        service: controls,
        pendingFaults: Effect.map(Ref.get(faults), (queue) => queue.map(Schemas.toFault)),
        now
      }
    })
    return { ...controls, handle }
  })
