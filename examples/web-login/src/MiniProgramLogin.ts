/**
 * The mini program's phone-number login, as its server does it, and the JSON endpoints of the
 * simulated mini program's WeChat client:
 *
 * | route | what it does |
 * |---|---|
 * | `POST /api/mini-program/login` | JSON `{ loginCode, phoneCode }` from the mini program: `MiniProgram.code2Session(loginCode)` (the openid), then `MiniProgram.getPhoneNumber(phoneCode)` (the phone number, with the app access token); answers `{ openid, unionid?, phoneNumber, purePhoneNumber, countryCode }` |
 * | `POST /mini-program/wx/login` | simulated client: `{ user }` → `{ code }`, what `wx.login()` gives |
 * | `POST /mini-program/wx/phone-code` | simulated client: `{ user }` → `{ code }`, what the `getPhoneNumber` button gives |
 *
 * Every answer is JSON; a failure is `{ error, title, titleEn }` with the problem's status (its
 * `error` is a fixed reason key, nothing of the request is echoed). Bodies are JSON of at most
 * `RequestBody.maxBodyBytes`. The session key and the app access token never leave the server, and
 * no code, key, token or phone number is logged.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { type MiniProgram, WeChatError } from "@wxauth/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as MiniProgramClient from "./MiniProgramClient.js"
import type { Problem } from "./Problems.js"
import * as Problems from "./Problems.js"
import * as RequestBody from "./RequestBody.js"
import { WebLogin } from "./WebLogin.js"

/** Whether a path answers JSON (its failures too: a 404, a refused cross-site POST). */
export const isJsonPath = (pathname: string): boolean =>
  pathname.startsWith("/api/") || pathname.startsWith("/mini-program/wx/")

/**
 * A problem as JSON. When the body was not read (411, 413) the connection is closed: the rest of
 * the body need not be received.
 */
export const jsonProblem = (problem: Problem): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(
    { error: problem.reason, title: problem.title, titleEn: problem.titleEn },
    {
      status: problem.status,
      ...(problem.status === 411 || problem.status === 413 ? { headers: { connection: "close" } } : {})
    }
  )

/** A code as WeChat hands them out: printable ASCII, at most 512 characters. */
const Code = Schema.String.pipe(Schema.pattern(/^[\x21-\x7e]{1,512}$/))

/** What the mini program posts: both codes. */
const LoginBody = Schema.Struct({ loginCode: Code, phoneCode: Code })

/** What the simulated client's page posts: the test user the phone is logged in with. */
const UserBody = Schema.Struct({ user: MiniProgramClient.UserId })

/** Which step of the login failed, for the log and the answer's problem. */
type Step = "code2Session" | "getPhoneNumber"

/** The page of a failed step: a phone code that is used, expired or unknown has its own. */
const problemOf = (step: Step, error: WeChatError.WeChatError): Problem =>
  step === "getPhoneNumber" &&
    (error._tag === "InvalidCode" || error._tag === "CodeExpired" || error._tag === "CodeUsed")
    ? Problems.problems["phone-code"]
    : Problems.fromError(error)

/** Logs a failed step (its tag and errcode, never the code), and answers its problem. */
const failed = (step: Step) => (error: WeChatError.WeChatError) =>
  Effect.gen(function*() {
    const problem = problemOf(step, error)
    yield* Effect.logWarning("web-login: a mini program login step failed").pipe(
      Effect.annotateLogs({
        step,
        error: error._tag,
        ...(WeChatError.isWeChatApiError(error) ? { errcode: error.errcode } : {}),
        answer: problem.reason
      })
    )
    return jsonProblem(problem)
  })

const unavailable = Effect.succeed(jsonProblem(Problems.problems["not-found"]))

/**
 * `POST /api/mini-program/login`: the login code first (a phone code is not used up when the login
 * code is refused), then the phone code. A real server would now find or make the user by openid
 * (and phone number) and answer its own session; this example answers what WeChat gave.
 */
export const login: Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  WebLogin | HttpServerRequest.HttpServerRequest
> = Effect.gen(function*() {
  const web = yield* WebLogin
  if (Option.isNone(web.miniProgram)) return yield* unavailable
  const mini: MiniProgram.MiniProgramShape = web.miniProgram.value
  const body = yield* RequestBody.json(LoginBody)
  if (Either.isLeft(body)) return jsonProblem(body.left)
  const { loginCode, phoneCode } = body.right
  return yield* mini.code2Session(loginCode).pipe(
    Effect.matchEffect({
      onFailure: failed("code2Session"),
      onSuccess: (session) =>
        mini.getPhoneNumber(phoneCode).pipe(
          Effect.matchEffect({
            onFailure: failed("getPhoneNumber"),
            onSuccess: (phone) =>
              Effect.succeed(HttpServerResponse.unsafeJson({
                openid: session.openid,
                ...(session.unionid === undefined ? {} : { unionid: session.unionid }),
                phoneNumber: phone.phoneNumber,
                purePhoneNumber: phone.purePhoneNumber,
                countryCode: phone.countryCode
              }))
          })
        )
    })
  )
})

/** The simulated client's endpoints: a code from the sandbox for the posted test user. */
const simulated = (
  mint: (
    sandboxUrl: string,
    appId: string,
    user: string
  ) => Effect.Effect<string, MiniProgramClient.SandboxUnavailable, HttpClient.HttpClient>
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  WebLogin | HttpClient.HttpClient | HttpServerRequest.HttpServerRequest
> =>
  Effect.gen(function*() {
    const web = yield* WebLogin
    if (Option.isNone(web.miniProgram) || Option.isNone(web.sandboxUrl)) return yield* unavailable
    const body = yield* RequestBody.json(UserBody)
    if (Either.isLeft(body)) return jsonProblem(body.left)
    return yield* mint(web.sandboxUrl.value, web.miniProgram.value.appId, body.right.user).pipe(
      Effect.map((code) => HttpServerResponse.unsafeJson({ code })),
      Effect.catchAll((error) =>
        Effect.as(
          Effect.logWarning("web-login: the sandbox did not give the simulated mini program a code").pipe(
            Effect.annotateLogs({ refused: error.refused })
          ),
          jsonProblem(error.refused ? Problems.problems["bad-request"] : Problems.problems.server)
        )
      )
    )
  })

/** `POST /mini-program/wx/login`: `wx.login()`'s code, from the sandbox. */
export const wxLogin = simulated(MiniProgramClient.loginCode)

/** `POST /mini-program/wx/phone-code`: the `getPhoneNumber` button's code, from the sandbox. */
export const wxPhoneCode = simulated(MiniProgramClient.phoneCode)
