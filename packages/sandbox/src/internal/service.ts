/**
 * The sandbox service behind `Sandbox.make`: the engine (WeChat's rules) and the sandbox's own
 * state — the clock offset `advanceClock` adds to `Clock`, the queue of pending faults and the call
 * counters — with the controls over them, and the router as `handle`.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Ref from "effect/Ref"
import type { Endpoint, SandboxError, SandboxOptions, SandboxService } from "../Sandbox.js"
import * as Defaults from "./defaults.js"
import * as Engine from "./engine.js"
import * as Faults from "./faults.js"
import * as Router from "./router.js"
import * as Schemas from "./schema.js"

const emptyStats = (): Record<Endpoint, number> =>
  Object.fromEntries(Schemas.endpoints.map((endpoint) => [endpoint, 0])) as Record<Endpoint, number>

/** @internal */
export const make = (
  options: SandboxOptions | undefined,
  toError: (message: string) => SandboxError
): Effect.Effect<SandboxService, SandboxError> =>
  Effect.gen(function*() {
    const config = yield* Schemas.orFail(Schemas.checkOptions(options, Defaults.config), toError)
    const engine = new Engine.Engine(config.apps, config.users, config.limits)
    const offset = yield* Ref.make(0)
    const faults = yield* Ref.make<ReadonlyArray<Schemas.PendingFault>>([])
    const stats = yield* Ref.make(emptyStats())
    const now = Effect.zipWith(Clock.currentTimeMillis, Ref.get(offset), (clock, offset) => clock + offset)

    const withNow = <A>(f: (now: number) => Either.Either<A, string>): Effect.Effect<A, SandboxError> =>
      Effect.flatMap(now, (now) => Effect.suspend(() => Schemas.orFail(f(now), toError)))

    const approve: SandboxService["approve"] = (options) =>
      withNow((now) => {
        const app = engine.apps.get(options.appId)
        if (app === undefined) return Either.left(`unknown app ${JSON.stringify(options.appId)}`)
        if (app.kind === "miniProgram") {
          return Either.left(`app ${app.appId} is a miniProgram: use miniProgramLogin`)
        }
        const user = engine.users.get(options.user)
        if (user === undefined) return Either.left(`unknown user ${JSON.stringify(options.user)}`)
        const params = new URLSearchParams({
          appid: app.appId,
          redirect_uri: options.redirectUri,
          response_type: "code",
          scope: options.scope,
          state: options.state ?? ""
        })
        return Either.map(
          Either.mapLeft(
            engine.checkAuthorize(app.kind === "website" ? "qrconnect" : "authorize", params),
            (problem) => `${problem.param}: ${problem.message}`
          ),
          (request) => engine.consent(request, user, now)
        )
      })

    const controls: Omit<SandboxService, "handle"> = {
      apps: config.apps,
      users: config.users,
      openidOf: (appId, userId) => engine.openidOf(appId, userId),
      approve,
      miniProgramLogin: (options) =>
        withNow((now) => engine.miniProgramLogin(options.appId, options.user, options.sessionKey, now)),
      encryptUserData: (options) =>
        withNow((now) => engine.encryptUserData(options.appId, options.user, options.watermarkAppId, now)),
      phoneNumberCode: (options) =>
        withNow((now) => engine.wxa.phoneNumberCode(options.appId, options.user, options.watermarkAppId, now)),
      revokeAppToken: (options) => withNow((now) => engine.appTokens.revoke(options.appId, now)),
      appTokenUsage: (options) => withNow((now) => engine.appTokens.usage(options.appId, now)),
      injectFault: (fault) =>
        Effect.flatMap(
          Schemas.orFail(Schemas.checkFault(fault), toError),
          (pending) => Ref.update(faults, (queue) => [...queue, pending])
        ),
      clearFaults: Ref.set(faults, []),
      stats: Effect.map(Ref.get(stats), (stats) => ({ ...stats })),
      resetStats: Ref.set(stats, emptyStats()),
      advanceClock: (duration) => {
        const millis = Duration.toMillis(duration)
        if (!Number.isFinite(millis) || millis > Schemas.maxAdvanceMillis) {
          return Effect.dieMessage("Sandbox.advanceClock: the duration must be finite and at most 100 years")
        }
        return Effect.flatMap(now, (before) =>
          Schemas.isDate(before + millis) ?
            Ref.update(offset, (offset) => offset + millis) :
            Effect.dieMessage("Sandbox.advanceClock: the sandbox's clock would pass the last date JavaScript can show"))
      },
      currentTimeMillis: now
    }

    const handle = Router.make({
      engine,
      apps: config.apps,
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
