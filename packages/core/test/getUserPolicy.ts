/**
 * `getUser`'s refresh-and-retry rules as one suite, run over each way core serves the call:
 * - the sandbox's in-process client, with TestClock (`WeChatOAuth.test.ts`): the whole path, the
 *   stored token read through the store's effect and the policy's catch frames;
 * - core's lean `WeChatHttpClient` on loopback with the memory store, with the live clock
 *   (`GetUserLean.test.ts`): the shorter path, whose first userinfo failure resumes with the same
 *   retries and refresh.
 * The same cases, the same assertions: a rule that one path keeps and the other drops fails here.
 * Also the consent a test of the official account's login starts from (`consent`).
 */
import { assert, describe } from "@effect/vitest"
import { RetryPolicy, WeChatError, WeChatOAuth } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"

const app = Sandbox.defaultApps.officialAccount
const redirectUri = "https://app.example.com/auth/callback"

/** How one test file runs the suite. */
export interface Setup {
  /** A fresh sandbox and service per test (counters start at zero). */
  readonly layer: Layer.Layer<WeChatOAuth.WeChatOAuth | Sandbox.Sandbox, unknown>
  /** `it.effect` or `it.live`. */
  readonly test: (name: string, body: () => Effect.Effect<void, unknown>) => void
  /** Runs a call that waits on the retries' backoff or a deadline (with TestClock: moving time along). */
  readonly waiting: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>
  /** A `slow` fault's delay: longer than the client's deadline. */
  readonly slowMillis: number
}

/**
 * The callback URL of a consent to the official account, as a browser would come back with it
 * (`user` alice and scope `snsapi_userinfo` unless told).
 */
export const consent = (
  oauth: WeChatOAuth.WeChatOAuthShape,
  options?: { readonly user?: string; readonly scope?: WeChatOAuth.Scope; readonly binding?: string | undefined }
) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const scope = options?.scope ?? "snsapi_userinfo"
    const { state } = yield* oauth.authorizeUrl({ redirectUri, scope, binding: options?.binding })
    return yield* sandbox.approve({ appId: app.appId, user: options?.user ?? "alice", scope, redirectUri, state })
  })

/** Alice consents with `snsapi_userinfo`; the callback is handled: her stored token. */
export const login = Effect.gen(function*() {
  const oauth = yield* WeChatOAuth.WeChatOAuth
  return (yield* oauth.handleCallback(yield* consent(oauth))).token
})

const stats = Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.stats)
const inject = (fault: Sandbox.Fault) => Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.injectFault(fault))
const userinfoRetries = () => RetryPolicy.retriesTotal.unsafeValue([MetricLabel.make("endpoint", "userinfo")]).count

/** Registers the suite's tests in the calling `describe`. */
export const getUserPolicySuite = ({ layer, slowMillis, test, waiting }: Setup): void => {
  const run = (name: string, body: Effect.Effect<void, unknown, WeChatOAuth.WeChatOAuth | Sandbox.Sandbox>) =>
    test(name, () => Effect.provide(body, layer))

  describe("getUser's refresh-and-retry policy", () => {
    for (const errcode of [42001, 40001, 40014]) {
      run(
        `a ${errcode} from userinfo is refreshed and retried exactly once; the next call uses the new token`,
        Effect.gen(function*() {
          const oauth = yield* WeChatOAuth.WeChatOAuth
          const token = yield* login
          yield* inject({ kind: "errcode", errcode, endpoint: "userinfo" })
          const user = yield* oauth.getUser(token.openid)
          assert.strictEqual(user.nickname, "张三")
          const s = yield* stats
          assert.deepStrictEqual([s.refresh_token, s.userinfo], [1, 2])
          const stored = yield* oauth.getToken(token.openid)
          assert.isTrue(Option.isSome(stored) && stored.value.obtainedAt >= token.obtainedAt)
          yield* oauth.getUser(token.openid)
          const after = yield* stats
          assert.deepStrictEqual([after.refresh_token, after.userinfo], [1, 3])
        })
      )
    }

    run(
      "a second 42001 after the refresh is returned, not retried again",
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const token = yield* login
        yield* inject({ kind: "errcode", errcode: 42001, endpoint: "userinfo", times: 5 })
        const error = yield* Effect.flip(oauth.getUser(token.openid))
        assert.strictEqual(error._tag, "AccessTokenExpired")
        const s = yield* stats
        assert.deepStrictEqual([s.refresh_token, s.userinfo], [1, 2])
      })
    )

    run(
      "-1 twice then success: retried twice with backoff, each retry counted",
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const token = yield* login
        yield* inject({ kind: "busy", endpoint: "userinfo", times: 2 })
        const before = userinfoRetries()
        const user = yield* waiting(oauth.getUser(token.openid))
        assert.strictEqual(user.nickname, "张三")
        assert.strictEqual((yield* stats).userinfo, 3)
        assert.strictEqual(userinfoRetries() - before, 2)
      })
    )

    run(
      "-1 forever ends in SystemBusy after the bounded retries, with no refresh",
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const token = yield* login
        yield* inject({ kind: "busy", endpoint: "userinfo", times: 1000 })
        const error = yield* Effect.flip(waiting(oauth.getUser(token.openid)))
        assert.strictEqual(error._tag, "SystemBusy")
        assert.isTrue(WeChatError.isRetryable(error))
        const s = yield* stats
        assert.deepStrictEqual([s.refresh_token, s.userinfo], [0, 3], "1 call + 2 retries")
      })
    )

    run(
      "RateLimited is not hammered: one request",
      Effect.gen(function*() {
        const oauth = yield* WeChatOAuth.WeChatOAuth
        const token = yield* login
        yield* inject({ kind: "rateLimited", endpoint: "userinfo", times: 10 })
        const error = yield* Effect.flip(oauth.getUser(token.openid))
        assert.strictEqual(error._tag, "RateLimited")
        assert.strictEqual((yield* stats).userinfo, 1)
      })
    )
  })

  describe("getUser's faults end in typed errors", () => {
    const cases: ReadonlyArray<readonly [Sandbox.Fault, string, string | undefined]> = [
      [{ kind: "http500" }, "TransportError", "HttpStatus"],
      [{ kind: "http502" }, "TransportError", "HttpStatus"],
      [{ kind: "truncated" }, "MalformedResponse", undefined],
      [{ kind: "wrongShape" }, "MalformedResponse", undefined],
      [{ kind: "reset" }, "TransportError", "Network"],
      [{ kind: "slow", delayMs: slowMillis }, "TransportError", "Timeout"],
      [{ kind: "busy" }, "SystemBusy", undefined],
      [{ kind: "rateLimited" }, "RateLimited", undefined],
      [{ kind: "errcode", errcode: 40003 }, "InvalidOpenId", undefined],
      [{ kind: "errcode", errcode: 99999 }, "UnknownWeChatError", undefined]
    ]
    for (const [fault, tag, reason] of cases) {
      run(
        `${fault.kind}${fault.errcode ? ` ${fault.errcode}` : ""} on userinfo -> a typed ${tag}`,
        Effect.gen(function*() {
          const oauth = yield* WeChatOAuth.WeChatOAuth
          const token = yield* login
          yield* inject({ ...fault, endpoint: "userinfo", times: 10 })
          const exit = yield* Effect.exit(waiting(oauth.getUser(token.openid)))
          assert.isTrue(Exit.isFailure(exit) && exit.cause._tag === "Fail", "a typed failure, not a defect")
          const error = yield* Effect.flip(exit)
          assert.strictEqual(error._tag, tag)
          if (reason !== undefined) assert.strictEqual((error as WeChatError.TransportError).reason, reason)
          if (fault.kind === "errcode") {
            assert.strictEqual((error as WeChatError.UnknownWeChatError).errcode, fault.errcode)
          }
        })
      )
    }
  })
}
