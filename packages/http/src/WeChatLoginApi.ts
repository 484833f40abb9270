/**
 * The login's JSON endpoints as an `HttpApi`: the mini program's login (a `wx.login()` code for a
 * session token) and its phone number, who is logged in, and logout. `WeChatLogin` serves them
 * under its `pathPrefix` + `/api/wechat`, and their OpenAPI document at
 * `<pathPrefix>/api/wechat/openapi.json`; `HttpApiClient.make(WeChatLoginApi.Api)` calls them.
 *
 * | endpoint | what it does |
 * |---|---|
 * | `POST /api/wechat/mini-program/:app/login` | `{ code }` from `wx.login()` → `{ token, expiresAt, openid, unionid?, userId? }`; send the token as `Authorization: Bearer <token>` |
 * | `POST /api/wechat/mini-program/:app/phone-number` | `{ code }` from the `getPhoneNumber` button → the user's phone number (when the app has `phoneNumber: true`) |
 * | `GET /api/wechat/session` | the logged-in user (`CurrentWeChatUser.WeChatUser`), or 401 |
 * | `POST /api/wechat/logout` | ends this session (204) |
 * | `POST /api/wechat/logout/everywhere` | ends every session of the user: `{ revoked }` |
 *
 * A `Cookie` header with the session cookie's name twice (a planted copy beside the browser's own)
 * is no session to `session` (401), but the two logouts end the session of every copy, as the
 * browser's `POST /logout` does (401 only when no copy is a live session).
 *
 * Bodies are JSON (`Content-Type: application/json`) of at most 16 KiB, all there within 10 seconds
 * (408 `timeout` otherwise, the connection closed); every failure is a
 * `Problem`, `{ error, title, titleEn }`, where `error` is a fixed reason key (nothing of the
 * request is echoed).
 *
 * @since 0.1.0
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Schema from "effect/Schema"
import { CurrentWeChatUser, WeChatUser } from "./CurrentWeChatUser.js"

/**
 * A code WeChat gives a mini program (`wx.login()`, the `getPhoneNumber` button): single-use, 1 to
 * 512 printable ASCII characters.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Code: Schema.Schema<string> = Schema.String.pipe(
  Schema.pattern(/^[\x21-\x7e]{1,512}$/),
  Schema.annotations({ description: "A single-use code from WeChat's mini program client" })
)

/**
 * The body of the mini program's endpoints.
 *
 * @since 0.1.0
 * @category schemas
 */
export class CodeBody extends Schema.Class<CodeBody>("@wxauth/http/CodeBody")({ code: Code }) {}

/**
 * A mini program's new session: the `token` to send as `Authorization: Bearer <token>` (keep it in
 * the mini program's storage, never in a URL), until `expiresAt` (epoch milliseconds).
 *
 * @since 0.1.0
 * @category schemas
 */
export class MiniProgramSession extends Schema.Class<MiniProgramSession>("@wxauth/http/MiniProgramSession")({
  token: Schema.String,
  expiresAt: Schema.Number,
  openid: Schema.String,
  unionid: Schema.optional(Schema.String),
  userId: Schema.optional(Schema.String)
}) {}

/**
 * A user's phone number, as WeChat gives it.
 *
 * @since 0.1.0
 * @category schemas
 */
export class PhoneNumber extends Schema.Class<PhoneNumber>("@wxauth/http/PhoneNumber")({
  phoneNumber: Schema.String,
  purePhoneNumber: Schema.String,
  countryCode: Schema.String
}) {}

/**
 * How many sessions a "log out everywhere" ended.
 *
 * @since 0.1.0
 * @category schemas
 */
export class Revoked extends Schema.Class<Revoked>("@wxauth/http/Revoked")({ revoked: Schema.Number }) {}

/**
 * A failure of a JSON endpoint: `error` is a fixed reason key (`code-used`, `code-expired`,
 * `phone-code`, `busy`, `too-large`, ...), `title` / `titleEn` say it for people.
 *
 * @since 0.1.0
 * @category schemas
 */
export class Problem extends Schema.Class<Problem>("@wxauth/http/Problem")({
  error: Schema.String,
  title: Schema.String,
  titleEn: Schema.String
}) {}

const AppPath = Schema.Struct({
  app: Schema.String.pipe(Schema.annotations({ description: "The app's key in WeChatLogin's options" }))
})

/**
 * The failures of an endpoint with a JSON body: the body's (400, 408, 411, 413, 415), an unknown app
 * (404), WeChat's answers (400 for a used or expired code, 401 `relogin` when WeChat says the user
 * must authorize again, 500 `config` or `server`, 503 `busy`), a store's or the registry's (500).
 */
const withBodyProblems = <E extends HttpApiEndpoint.HttpApiEndpoint.Any>(endpoint: E): E =>
  (endpoint as any)
    .addError(Problem, { status: 400 })
    .addError(Problem, { status: 401 })
    .addError(Problem, { status: 404 })
    .addError(Problem, { status: 408 })
    .addError(Problem, { status: 411 })
    .addError(Problem, { status: 413 })
    .addError(Problem, { status: 415 })
    .addError(Problem, { status: 500 })
    .addError(Problem, { status: 503 })

/**
 * The endpoints.
 *
 * @since 0.1.0
 * @category api
 */
export class Group extends HttpApiGroup.make("wechatLogin")
  .add(
    withBodyProblems(
      HttpApiEndpoint.post("miniProgramLogin", "/mini-program/:app/login")
        .setPath(AppPath)
        .setPayload(CodeBody)
        .addSuccess(MiniProgramSession)
        .annotate(OpenApi.Summary, "Log a mini program user in with the code of wx.login()")
    )
  )
  .add(
    withBodyProblems(
      HttpApiEndpoint.post("phoneNumber", "/mini-program/:app/phone-number")
        .setPath(AppPath)
        .setPayload(CodeBody)
        .addSuccess(PhoneNumber)
        .middleware(CurrentWeChatUser)
        .annotate(OpenApi.Summary, "The logged-in user's phone number, from the getPhoneNumber button's code")
    )
  )
  .add(
    HttpApiEndpoint.get("session", "/session")
      .addSuccess(WeChatUser)
      // the session store (or the registry) failed while the session was read
      .addError(Problem, { status: 500 })
      .middleware(CurrentWeChatUser)
      .annotate(OpenApi.Summary, "Who is logged in")
  )
  .add(
    HttpApiEndpoint.post("logout", "/logout")
      .addSuccess(HttpApiSchema.NoContent)
      .addError(Problem, { status: 500 })
      .middleware(CurrentWeChatUser)
      .annotate(OpenApi.Summary, "End this session")
  )
  .add(
    HttpApiEndpoint.post("logoutEverywhere", "/logout/everywhere")
      .addSuccess(Revoked)
      .addError(Problem, { status: 500 })
      .middleware(CurrentWeChatUser)
      .annotate(OpenApi.Summary, "End every session of the logged-in user")
  )
  .prefix("/api/wechat")
{}

/**
 * The API, without a `pathPrefix`.
 *
 * @since 0.1.0
 * @category api
 */
export class Api extends HttpApi.make("wxauth-login").add(Group).annotate(OpenApi.Title, "WeChat login") {}
