/**
 * Who is logged in: the `CurrentWeChatUser` middleware of an `HttpApi` gives a handler the user of
 * the request's session (the session cookie of a browser, or `Authorization: Bearer <token>` from a
 * mini program), or fails with `Unauthenticated` (401 JSON). Its implementation comes with
 * `WeChatLogin.layer`.
 *
 * ```ts
 * import { HttpApi, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
 * import { CurrentWeChatUser } from "@wxauth/http"
 * import * as Schema from "effect/Schema"
 *
 * export class Api extends HttpApi.make("shop").add(
 *   HttpApiGroup.make("orders")
 *     .add(HttpApiEndpoint.get("mine", "/orders").addSuccess(Schema.Array(Schema.String)))
 *     .middleware(CurrentWeChatUser.CurrentWeChatUser)
 * ) {}
 * // in the handler: const user = yield* CurrentWeChatUser.User  (user.openid, user.unionid, ...)
 * ```
 *
 * A request that changes something (any method but `GET`, `HEAD`, `OPTIONS`) and is authenticated
 * by the session cookie must come from this site: its `Origin` (or, without one, its
 * `Sec-Fetch-Site`) is checked, and another site's request fails with `CrossSiteRequest` (403).
 * A bearer token is not sent by browsers on their own, so it needs no such check. An
 * `Authorization` header of another scheme (HTTP Basic auth in front of a staging site, which the
 * browser sends on every request) is not the login's: the session cookie decides.
 *
 * The answer to a request the middleware authenticated gets `Cache-Control: private, no-store`
 * (no shared cache keeps one user's answer for another), unless the handler's response sets a
 * `Cache-Control` of its own.
 *
 * @since 0.1.0
 */
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Context from "effect/Context"
import * as Schema from "effect/Schema"

/**
 * A logged-in WeChat user, as the session says: the WeChat app (`appId`, and `app`, its key in
 * `WeChatLogin`'s options), the user's `openid` in that app, the `unionid` when WeChat gave one,
 * the scopes granted, the local user id the login hooks gave (`userId`), and the session's kind,
 * id and expiry. `sessionId` is the SHA-256 of the session's token: it identifies the session,
 * and cannot be used as one. `WeChatLogin`'s `getUser`, `getToken` and `logoutEverywhere` act for
 * a user only while this session is live and is that user's: a value written from plain fields
 * acts for nobody else.
 *
 * @since 0.1.0
 * @category models
 */
export class WeChatUser extends Schema.Class<WeChatUser>("@wxauth/http/WeChatUser")({
  app: Schema.String,
  appId: Schema.String,
  openid: Schema.String,
  unionid: Schema.optional(Schema.String),
  scopes: Schema.Array(Schema.String),
  userId: Schema.optional(Schema.String),
  kind: Schema.Literal("browser", "miniProgram"),
  sessionId: Schema.String,
  /** Epoch milliseconds. */
  sessionExpiresAt: Schema.Number
}) {}

/**
 * The user of the current request, provided by the `CurrentWeChatUser` middleware.
 *
 * @since 0.1.0
 * @category tags
 */
export class User extends Context.Tag("@wxauth/http/CurrentWeChatUser/User")<User, WeChatUser>() {}

/**
 * No user: the request has no session credential (`Missing`), or its session is unknown, revoked
 * or over (`Invalid`), or WeChat no longer accepts the user's authorization and every session of
 * the user was ended (`Reauthorize`). Answered as 401 JSON.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unauthenticated extends Schema.TaggedError<Unauthenticated>("@wxauth/http/Unauthenticated")(
  "Unauthenticated",
  { reason: Schema.Literal("Missing", "Invalid", "Reauthorize") },
  HttpApiSchema.annotations({ status: 401, description: "No logged-in WeChat user" })
) {
  override get message(): string {
    return this.reason === "Missing"
      ? "not logged in: no session credential"
      : this.reason === "Invalid"
      ? "not logged in: the session is unknown, revoked or over"
      : "not logged in: WeChat no longer accepts the user's authorization; log in again"
  }
}

/**
 * A cookie-authenticated request that changes something, sent by another site (its `Origin` or
 * `Sec-Fetch-Site` says so). Answered as 403 JSON.
 *
 * @since 0.1.0
 * @category errors
 */
export class CrossSiteRequest extends Schema.TaggedError<CrossSiteRequest>("@wxauth/http/CrossSiteRequest")(
  "CrossSiteRequest",
  {},
  HttpApiSchema.annotations({ status: 403, description: "A request of another site, refused" })
) {
  override get message(): string {
    return "refused: the request came from another site"
  }
}

/**
 * The session cookie's name over http. Over https it is `__Host-wxauth_session`: a `__Host-`
 * cookie, which only this very host can set.
 *
 * @since 0.1.0
 * @category constants
 */
export const sessionCookieName = "wxauth_session"

/**
 * The middleware: add it to an `HttpApiGroup` or `HttpApiEndpoint`, and read `User` in the
 * handlers. Its OpenAPI security schemes are the session cookie and a bearer token.
 *
 * @since 0.1.0
 * @category tags
 */
export class CurrentWeChatUser extends HttpApiMiddleware.Tag<CurrentWeChatUser>()(
  "@wxauth/http/CurrentWeChatUser",
  {
    failure: Schema.Union(Unauthenticated, CrossSiteRequest),
    provides: User,
    security: {
      session: HttpApiSecurity.apiKey({ key: sessionCookieName, in: "cookie" }).pipe(
        HttpApiSecurity.annotate(
          OpenApi.Description,
          `The session cookie of a browser login (\`__Host-${sessionCookieName}\` over https)`
        )
      ),
      bearer: HttpApiSecurity.bearer.pipe(
        HttpApiSecurity.annotate(
          OpenApi.Description,
          "The session token a mini program got from its login, as `Authorization: Bearer <token>`"
        )
      )
    }
  }
) {}
