/**
 * A faithful local WeChat OAuth server, written against WeChat's documented behaviour as it answers
 * today: the consent pages (`/connect/oauth2/authorize`, `/connect/qrconnect`), the `sns` API
 * (`access_token`, `refresh_token`, `userinfo`, `auth`, `jscode2session`), the app access token
 * (`/cgi-bin/stable_token`, `/cgi-bin/token`), the mini program's server API
 * (`/wxa/business/getuserphonenumber`, `/wxa/checksession`, `/wxa/resetusersessionkey`), the
 * third-party platform (`/cgi-bin/component/...`, `/sns/oauth2/component/...`,
 * `/sns/component/jscode2session`, and its encrypted pushes of tickets and authorization events),
 * configurable apps and users, fault injection, call counters, and a clock that follows Effect's
 * `Clock` (so `TestClock` moves it).
 *
 * Use it in-process (`layerHttpClient`: an `HttpClient` that answers from the sandbox, no sockets),
 * as a real HTTP server (`layerServer`), or from the `wxauth-sandbox` CLI.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as Client from "./internal/client.js"
import * as Defaults from "./internal/defaults.js"
import * as Options from "./internal/options.js"
import * as Router from "./internal/router.js"
import * as Schemas from "./internal/schema.js"
import * as Server from "./internal/server.js"
import * as Service from "./internal/service.js"
import type * as SandboxServer from "./SandboxServer.js"

// -------------------------------------------------------------------------------------------------
// models
// -------------------------------------------------------------------------------------------------

/**
 * The WeChat endpoints the sandbox plays, as named in stats and faults: the consent pages
 * (`authorize`, `qrconnect`), the `sns` API (`access_token`, `refresh_token`, `userinfo`, `auth`,
 * `jscode2session`), the app access token (`stable_token` = `POST /cgi-bin/stable_token`, `token` =
 * `GET /cgi-bin/token`), the mini program's server API (`getuserphonenumber` =
 * `POST /wxa/business/getuserphonenumber`, `checksession` = `GET /wxa/checksession`,
 * `resetusersessionkey` = `GET /wxa/resetusersessionkey`) and the third-party platform's
 * (`ComponentEndpoint`).
 *
 * @since 0.1.0
 * @category models
 */
export type Endpoint =
  | "authorize"
  | "qrconnect"
  | "access_token"
  | "refresh_token"
  | "userinfo"
  | "auth"
  | "jscode2session"
  | "stable_token"
  | "token"
  | "getuserphonenumber"
  | "checksession"
  | "resetusersessionkey"
  | ComponentEndpoint

/**
 * The third-party platform's endpoints: `api_component_token` =
 * `POST /cgi-bin/component/api_component_token`, `api_query_auth` =
 * `POST /cgi-bin/component/api_query_auth`, `api_authorizer_token` =
 * `POST /cgi-bin/component/api_authorizer_token`, `component_access_token` =
 * `GET /sns/oauth2/component/access_token`, `component_refresh_token` =
 * `GET /sns/oauth2/component/refresh_token`, `component_jscode2session` =
 * `GET /sns/component/jscode2session`.
 *
 * @since 0.1.0
 * @category models
 */
export type ComponentEndpoint =
  | "api_component_token"
  | "api_query_auth"
  | "api_authorizer_token"
  | "component_access_token"
  | "component_refresh_token"
  | "component_jscode2session"

/**
 * Every `Endpoint`, in a fixed order.
 *
 * @since 0.1.0
 * @category models
 */
export const endpoints: ReadonlyArray<Endpoint> = Schemas.endpoints

/**
 * What an injected fault does to a call. WeChat's bad days:
 * - `busy`: `{"errcode":-1,"errmsg":"system error"}`
 * - `rateLimited`: errcode 45011
 * - `errcode`: the fault's own `errcode` / `errmsg`
 * - `http500`, `http502`: that status with an HTML body
 * - `truncated`: status 200 with a JSON body cut off half way
 * - `wrongShape`: status 200 with valid JSON of the wrong shape
 * - `slow`: the right answer, after `delayMs`
 * - `reset`: no answer; the connection is destroyed (before the call takes effect, or with
 *   `afterEffect: true` after it: a code is used up, and its answer lost)
 *
 * A hostile server's (or a broken proxy's), for testing that a client ends every answer in a typed
 * error or a validated value, in time and in bounded memory:
 * - `nested`: status 200 and JSON nested `depth` levels (default 5000): with no `field`, the whole
 *   body is `[[[…]]]`; with a `field` (`"scope"`, `"privilege"`, `"openid"`, `"errmsg"`…), the
 *   endpoint's normal answer with that field's value replaced by the nested array.
 * - `huge`: status 200 and a body of `bytes` bytes (default 100 MiB) of valid-looking JSON,
 *   `{"openid":"aaa…"}`, made as it is sent (never held whole), announced by a Content-Length
 *   unless `contentLength: false` (then chunked). In-process: a stream built as it is read.
 * - `drip`: status 200 and the headers at once, then the body (a `busy` answer behind leading
 *   spaces) one byte every `intervalMs` (default 500) for `delayMs` (default 60 000): a client with
 *   only an idle timeout between bytes waits it all. The server stops when the client goes away.
 * - `nonFinite`: the endpoint's normal answer with its number (`expires_in` for the token
 *   endpoints, `stable_token`, `token`, `api_component_token`, `api_authorizer_token` and the
 *   platform's token endpoints, `sex` for userinfo, `errcode` for the others; or `field`) written as
 *   the JSON number text `value` (default `"1e400"`, which parses to `Infinity`; `"1e300"`,
 *   `"-7200"`, `"7200.5"`…).
 * - `echo`: an errcode answer (`errcode`, default 40029) whose errmsg echoes the request as a
 *   misbehaving proxy does, `"invalid code, hints: [ req: GET /sns/oauth2/access_token?appid=…&secret=…
 *   &code=… ] [ decoded: … ] [ body: … ]"`: the path and query as sent and once percent-decoded,
 *   and a body if the request has one. `errmsg` replaces the words before the hints.
 * - `wrongOpenid`: the endpoint's normal answer for another openid than the request's user
 *   (userinfo: another openid than the one asked for; the token endpoints and jscode2session:
 *   another than the code's or refresh token's user; resetusersessionkey: another than the one
 *   asked for; the answers without an openid are left as they are).
 * - `raw`: the fault's `body`, verbatim, with `status` (default 200) and `contentType` (default
 *   `"text/plain"`): `[]`, `{}`, `{"openid":"x"}` for `/sns/auth`…
 *
 * "The endpoint's normal answer" is what it would answer the request, computed without effect
 * (fresh tokens that are not issued), or a sample answer if the request would fail.
 *
 * Every kind except `slow` (and a `reset` with `afterEffect`) answers instead of the endpoint, so
 * the call has no effect (a code is not used up). A `slow` call takes effect at once; only its
 * answer is late. A `reset` with `afterEffect` takes effect, and its answer never comes.
 *
 * @since 0.1.0
 * @category models
 */
export type FaultKind =
  | "busy"
  | "rateLimited"
  | "errcode"
  | "http500"
  | "http502"
  | "truncated"
  | "wrongShape"
  | "slow"
  | "reset"
  | "nested"
  | "huge"
  | "drip"
  | "nonFinite"
  | "echo"
  | "wrongOpenid"
  | "raw"

/**
 * Every `FaultKind`.
 *
 * @since 0.1.0
 * @category models
 */
export const faultKinds: ReadonlyArray<FaultKind> = Schemas.faultKinds

/**
 * A fault for the next `times` calls to `endpoint` (or, with `"*"`, to any endpoint of the API: the
 * consent pages `authorize` and `qrconnect` only when named, so a browser opening one does not use up
 * a fault meant for the API). Faults are used first in, first out among those matching a call.
 *
 * @since 0.1.0
 * @category models
 */
export interface Fault {
  readonly kind: FaultKind
  /** Default `"*"`: any endpoint but the consent pages (`authorize`, `qrconnect`), which must be named. */
  readonly endpoint?: Endpoint | "*" | undefined
  /** Default 1: the next call only. */
  readonly times?: number | undefined
  /** For `slow` (default 10 000) and `drip` (default 60 000, at most 3 600 000): milliseconds. */
  readonly delayMs?: number | undefined
  /** For `errcode` (required there) and `echo` (default 40029). */
  readonly errcode?: number | undefined
  /**
   * For `errcode` (default "sandbox injected error") and `echo` (default: WeChat's words for the
   * errcode); at most 10 000 characters.
   */
  readonly errmsg?: string | undefined
  /** For `nested`: how many levels (default 5000; 1 to 100 000). */
  readonly depth?: number | undefined
  /**
   * For `nested` (default: the whole body) and `nonFinite` (default: the endpoint's number): the
   * field of the answer to replace, or to add.
   */
  readonly field?: string | undefined
  /** For `huge`: the body's size in bytes (default 100 MiB; 16 to 1 GiB). */
  readonly bytes?: number | undefined
  /** For `huge`: whether a Content-Length announces the body (default true; false sends it chunked). */
  readonly contentLength?: boolean | undefined
  /** For `drip`: milliseconds between two bytes (default 500; 1 to 60 000; at most 100 000 bytes in `delayMs`). */
  readonly intervalMs?: number | undefined
  /** For `nonFinite`: the text of a JSON number, written as it is (default "1e400"). */
  readonly value?: string | undefined
  /** For `raw` (required there): the body, verbatim (at most 1 MiB of text). */
  readonly body?: string | undefined
  /** For `raw`: the HTTP status (default 200; 200 to 599). */
  readonly status?: number | undefined
  /** For `raw`: the Content-Type (default "text/plain"). */
  readonly contentType?: string | undefined
  /**
   * For `reset`: drop the connection after the call took effect (default false: before). The
   * endpoint answers as usual and the answer is lost: a code exchanged this way is used up, so the
   * same code again gets 40163, as when WeChat's answer is lost on the way back.
   */
  readonly afterEffect?: boolean | undefined
}

/**
 * A WeChat app: an official account (`/connect/oauth2/authorize`), an Open Platform website app
 * (`/connect/qrconnect`) or a mini program (`/sns/jscode2session`).
 *
 * @since 0.1.0
 * @category models
 */
export interface SandboxApp {
  readonly appId: string
  readonly secret: string
  readonly kind: "officialAccount" | "website" | "miniProgram"
  readonly name: string
  /** Bound to an Open Platform account: responses carry `unionid`. */
  readonly bound: boolean
  /**
   * The user data the app gets. `"today"` (the default), as WeChat answers now: `/sns/userinfo`
   * gives `sex: 0` and empty `province`, `city` and `country` (since 2021-10-20), and a mini
   * program's decrypted user info (`encryptUserData`) is anonymous: nickname "微信用户", a grey
   * avatar, gender 0, empty places and language (since 2021-04-28 / 2022-10-25). `"pre2021"`: the
   * user's own sex, places, nickname and avatar, as WeChat gave them before.
   */
  readonly profile?: "today" | "pre2021" | undefined
  /**
   * The ids of the users who use this app (the consent page offers them; `approve`,
   * `miniProgramLogin` and `phoneNumberCode` refuse others). Default: every user.
   */
  readonly users?: ReadonlyArray<string> | undefined
  /**
   * What the endpoints that check the app secret (`/sns/oauth2/access_token`, `/sns/jscode2session`,
   * `/cgi-bin/token`, `/cgi-bin/stable_token`) answer a wrong one: `40125` "invalid appsecret" (the
   * default) or `40001` "invalid credential, access_token is invalid or not latest". WeChat answers
   * either (reports show both, by client and platform), so a client should treat both as a
   * misconfiguration.
   */
  readonly wrongSecretErrcode?: 40125 | 40001 | undefined
  /**
   * The hosts WeChat accepts in `redirect_uri` for this app (an official account's web-authorization
   * domain, a website app's callback domain): `"app.example.com"`, or `"127.0.0.1:3000"` for a port
   * that is not the scheme's default. A redirect URI's host must equal one of them (no subdomains,
   * case-insensitive); any other gets WeChat's "redirect_uri 参数错误" page (10003, no code issued),
   * and `approve` fails. A consent asked by a third-party platform (`component_appid`) is not
   * checked against them. Default: any host.
   */
  readonly redirectDomains?: ReadonlyArray<string> | undefined
  /**
   * Whether `/sns/oauth2/refresh_token` answers carry `unionid` (for a bound app and a scope other
   * than `snsapi_base`, as the code exchange's). Default `true`; `false` answers as WeChat documents
   * the refresh, without it, so a client must keep the unionid it got at the exchange.
   */
  readonly unionidOnRefresh?: boolean | undefined
}

/**
 * A WeChat user the consent page offers.
 *
 * @since 0.1.0
 * @category models
 */
export interface SandboxUser {
  readonly id: string
  readonly nickname: string
  readonly sex: 0 | 1 | 2
  readonly province: string
  readonly city: string
  readonly country: string
  readonly headimgurl: string
  readonly privilege: ReadonlyArray<string>
  readonly unionid: string
  /** A virtual user from a Moments snapshot page: tokens carry `is_snapshotuser: 1`. */
  readonly snapshot?: boolean | undefined
  /**
   * The mobile number bound to the user's WeChat, without the country code, as `purePhoneNumber`
   * (default: derived from the id, `139` and 8 digits). `/wxa/business/getuserphonenumber` gives it.
   */
  readonly phoneNumber?: string | undefined
  /** The country code of `phoneNumber`, without `+` (default `"86"`). */
  readonly countryCode?: string | undefined
}

/**
 * WeChat's daily quotas on the app access token, per app and Beijing day (they reset at midnight
 * UTC+8); past one, the endpoint answers 45009.
 *
 * @since 0.1.0
 * @category models
 */
export interface SandboxLimits {
  /** Classic `GET /cgi-bin/token` calls that issue a token (default 2000). */
  readonly tokenPerDay?: number | undefined
  /** `POST /cgi-bin/stable_token` calls with `force_refresh: true` that issue a token (default 20). */
  readonly forceRefreshPerDay?: number | undefined
}

/**
 * What an app has used of its app-token quotas today (the Beijing day of the sandbox's clock).
 *
 * @since 0.1.0
 * @category models
 */
export interface AppTokenUsage {
  /** Forced `stable_token` refreshes that issued a token (one within 30 s of the last is not counted). */
  readonly forceRefreshes: number
  readonly forceRefreshLimit: number
  /** Classic `cgi-bin/token` calls that issued a token. */
  readonly tokens: number
  readonly tokenLimit: number
}

/**
 * An official account or mini program that has authorized a third-party platform. An `appId` that
 * is not one of the sandbox's `apps` is added to them, with `name` (default: the appId), `bound`
 * (default false), `profile`, `users` and a secret derived from the appId (which its own token
 * endpoints refuse anyway: 61024). An `appId` that is one of the `apps` must have the same `kind`
 * and give none of the rest.
 *
 * @since 0.1.0
 * @category models
 */
export interface SandboxAuthorizer {
  readonly appId: string
  readonly kind: "officialAccount" | "miniProgram"
  readonly name?: string | undefined
  readonly bound?: boolean | undefined
  readonly profile?: "today" | "pre2021" | undefined
  /** The ids of the app's users (default: every user). */
  readonly users?: ReadonlyArray<string> | undefined
}

/**
 * A third-party platform (WeChat's "component") and the apps that have authorized it.
 *
 * @since 0.1.0
 * @category models
 */
export interface SandboxComponent {
  readonly componentAppId: string
  readonly componentAppSecret: string
  /** The token the pushes are signed with: 3 to 32 characters of A-Z a-z 0-9. */
  readonly token: string
  /** The EncodingAESKey the pushes are encrypted with: 43 characters of A-Z a-z 0-9 (+ / allowed). */
  readonly encodingAesKey: string
  /** Default: the componentAppId. */
  readonly name?: string | undefined
  /**
   * The platform's authorization-event URL (absolute http or https): the pushes are POSTed there.
   * Without it (and without `pushHandler`) nothing is sent; `componentPush` still builds them.
   */
  readonly pushUrl?: string | undefined
  /**
   * In process, in place of `pushUrl`: each push is handed to this function, and what it succeeds
   * with is the receiver's answer (`"success"`); a failure is recorded as a failed delivery.
   */
  readonly pushHandler?: ((push: ComponentPush) => Effect.Effect<string, unknown>) | undefined
  /**
   * How often a new `component_verify_ticket` is pushed, the first one an interval after start
   * (default 10 minutes, as WeChat; at least 10 ms), on `Clock`, and one at once after
   * `advanceClock` skips an interval; `false` turns the timer off. Nothing is pushed on the timer
   * without `pushUrl` or `pushHandler`.
   */
  readonly pushInterval?: Duration.DurationInput | false | undefined
  /** The apps that have authorized the platform at start (default none). */
  readonly authorizers?: ReadonlyArray<SandboxAuthorizer> | undefined
}

/**
 * The `InfoType` of a push to a platform's authorization-event URL.
 *
 * @since 0.1.0
 * @category models
 */
export type ComponentInfoType = "component_verify_ticket" | "authorized" | "updateauthorized" | "unauthorized"

/**
 * What a forger changes in a push (`componentPush`): a push with any of these is not WeChat's, so
 * building it has no effect (its ticket or code is random and unknown to the sandbox).
 *
 * @since 0.1.0
 * @category models
 */
export interface ComponentPushForge {
  /** The appid after the message in the plaintext, and the envelope's `AppId` (default: the platform's). */
  readonly appId?: string | undefined
  /** The token the signatures are made with (default: the platform's). */
  readonly token?: string | undefined
  /** The key the message is encrypted with (default: the platform's). */
  readonly encodingAesKey?: string | undefined
  /** `msg_signature` as given, in place of the computed one. */
  readonly signature?: string | undefined
  /** The push's `timestamp` and `CreateTime`, in epoch seconds (default: now). */
  readonly timestamp?: number | undefined
  /** The push's `nonce` (default: 10 random digits). */
  readonly nonce?: string | undefined
  /** The plaintext message as given, in place of the XML the event would carry. */
  readonly xml?: string | undefined
}

/**
 * A push as WeChat sends it to a platform: `POST url` (the pushUrl with `query` added) with `body`.
 * `message` and `xml` are its plaintext, for tests to compare with what the receiver understood.
 *
 * @since 0.1.0
 * @category models
 */
export interface ComponentPush {
  readonly componentAppId: string
  readonly infoType: ComponentInfoType
  readonly method: "POST"
  /** The platform's pushUrl with the query, or `undefined` without one. */
  readonly url: string | undefined
  /** `signature`, `timestamp`, `nonce`, `encrypt_type: "aes"`, `msg_signature`. */
  readonly query: Readonly<Record<string, string>>
  readonly headers: Readonly<Record<string, string>>
  /** `<xml><AppId><![CDATA[…]]></AppId><Encrypt><![CDATA[…]]></Encrypt></xml>`. */
  readonly body: string
  /**
   * The plaintext fields: `AppId`, `CreateTime`, `InfoType`, and `ComponentVerifyTicket` or
   * `AuthorizerAppid`, `AuthorizationCode`, `AuthorizationCodeExpiredTime`, `PreAuthCode`
   * (empty with `forge.xml`).
   */
  readonly message: Readonly<Record<string, string>>
  /** The plaintext XML. */
  readonly xml: string
}

/**
 * How a push was delivered: the receiver's HTTP status and answer (its first 1024 characters), or
 * the transport's error. `success` is WeChat's test: status 200 and the answer `success`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PushDelivery {
  /** When it was sent, by the sandbox's clock (epoch milliseconds). */
  readonly at: number
  readonly url: string | undefined
  readonly status?: number | undefined
  readonly answer?: string | undefined
  readonly error?: string | undefined
  readonly success: boolean
}

/**
 * A push that was sent, as `componentPushes` lists it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ComponentPushRecord extends PushDelivery {
  readonly infoType: ComponentInfoType
  readonly authorizerAppId?: string | undefined
}

/**
 * A push sent on demand and how it was delivered.
 *
 * @since 0.1.0
 * @category models
 */
export interface ComponentPushResult {
  readonly push: ComponentPush
  readonly delivery: PushDelivery
}

/**
 * What a platform has used since start or `resetStats`: calls per component endpoint that named it
 * by `component_appid` (faulted calls included, as in `stats`), tickets issued, component access
 * tokens issued, authorizer access tokens issued.
 *
 * @since 0.1.0
 * @category models
 */
export interface ComponentUsage {
  readonly calls: Readonly<Record<ComponentEndpoint, number>>
  readonly tickets: number
  readonly componentTokens: number
  readonly authorizerTokens: number
}

/**
 * Apps, users, quotas and third-party platforms. A list that is given replaces the default list; a
 * quota left out keeps WeChat's. There is no platform by default.
 *
 * @since 0.1.0
 * @category models
 */
export interface SandboxOptions {
  readonly apps?: ReadonlyArray<SandboxApp> | undefined
  readonly users?: ReadonlyArray<SandboxUser> | undefined
  readonly limits?: SandboxLimits | undefined
  readonly components?: ReadonlyArray<SandboxComponent> | undefined
}

/**
 * An HTTP request as `handle` takes it. `url` is a full URL (any host: only the path and query
 * matter) or a path; `body` is the raw body text (a form for the consent page, JSON for controls).
 *
 * @since 0.1.0
 * @category models
 */
export interface SandboxRequest {
  readonly method: string
  readonly url: string
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly body?: string | undefined
}

/**
 * An HTTP response as `handle` gives it. With `fault: "reset"` there is no response: the transport
 * must drop the connection. (A `slow` fault's delay has already been waited by `handle`.) With a
 * `stream` (the `huge` and `drip` faults), the body is that stream, made as it is read (on `Clock`
 * for `drip`), and `body` is empty: a transport sends it piece by piece and stops it when the
 * client goes away.
 *
 * @since 0.1.0
 * @category models
 */
export interface SandboxResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  readonly stream?: Stream.Stream<Uint8Array> | undefined
  readonly fault?: "reset" | undefined
}

/**
 * A running sandbox: its apps and users, the controls a test drives it with, and `handle`, the
 * transport-free core every transport calls.
 *
 * @since 0.1.0
 * @category models
 */
export interface SandboxService {
  /** The apps: those configured, and the authorizers of the platforms that are not among them. */
  readonly apps: ReadonlyArray<SandboxApp>
  readonly users: ReadonlyArray<SandboxUser>
  /** The third-party platforms, defaults filled in. */
  readonly components: ReadonlyArray<SandboxComponent>
  /** The openid of a user in an app: deterministic, 28 characters of `[A-Za-z0-9_-]`. */
  readonly openidOf: (appId: string, userId: string) => string
  /**
   * The callback URL `redirectUri?code=CODE&state=STATE`, as if the user had consented: the URL a
   * browser would then request (characters outside ASCII percent-encoded). With `componentAppId`,
   * the consent a third-party platform asks for an app that authorized it: the callback adds
   * `&appid=APPID`, and the code is exchanged at `/sns/oauth2/component/access_token` only.
   */
  readonly approve: (options: {
    readonly appId: string
    readonly user: string
    readonly scope: string
    readonly redirectUri: string
    readonly state?: string | undefined
    readonly componentAppId?: string | undefined
  }) => Effect.Effect<string, SandboxError>
  /**
   * A `js_code`, as `wx.login()` gives a mini program. `/sns/jscode2session` answers it with a new
   * random `session_key`, or with `sessionKey` (base64 of 16 bytes) when given: a known key, for
   * test vectors.
   */
  readonly miniProgramLogin: (options: {
    readonly appId: string
    readonly user: string
    readonly sessionKey?: string | undefined
  }) => Effect.Effect<string, SandboxError>
  /**
   * `encryptedData` + `iv`, as `wx.getUserInfo()` gives a mini program: AES-128-CBC with the session_key
   * `/sns/jscode2session` last returned for this user and app. `watermarkAppId` forges the watermark.
   */
  readonly encryptUserData: (options: {
    readonly appId: string
    readonly user: string
    readonly watermarkAppId?: string | undefined
  }) => Effect.Effect<{ readonly encryptedData: string; readonly iv: string }, SandboxError>
  /**
   * A phone-number `code`, as the `getPhoneNumber` button gives a mini program when the user agrees:
   * single-use, valid 5 minutes, exchanged at `/wxa/business/getuserphonenumber` with the app access
   * token. `watermarkAppId` forges the answer's watermark.
   */
  readonly phoneNumberCode: (options: {
    readonly appId: string
    readonly user: string
    readonly watermarkAppId?: string | undefined
  }) => Effect.Effect<string, SandboxError>
  /**
   * Revokes the app's access tokens now, as WeChat may: the APIs answer 40001, and `stable_token` in
   * normal mode still hands the revoked token back (until it expires or a forced refresh replaces
   * it), so only a client that forces a refresh gets a working token.
   */
  readonly revokeAppToken: (options: { readonly appId: string }) => Effect.Effect<void, SandboxError>
  /** What the app has used of its app-token quotas today. */
  readonly appTokenUsage: (options: { readonly appId: string }) => Effect.Effect<AppTokenUsage, SandboxError>
  /**
   * The push WeChat would send the platform now, built and not sent, for a test to deliver (or
   * replay, or tamper with): the event takes effect as if it had been sent. `component_verify_ticket`
   * issues a new ticket (every ticket pushed is accepted for 12 hours); `authorized` authorizes the app
   * (`appId`) with a fresh authorization code; `updateauthorized` issues a fresh code to an app that
   * has authorized; `unauthorized` ends the authorization. With `forge`, the push is a forger's and
   * nothing takes effect.
   */
  readonly componentPush: (options: {
    readonly componentAppId: string
    readonly infoType: ComponentInfoType
    /** The authorizer, for every info type but `component_verify_ticket`. */
    readonly appId?: string | undefined
    readonly forge?: ComponentPushForge | undefined
  }) => Effect.Effect<ComponentPush, SandboxError>
  /**
   * A new `component_verify_ticket`, pushed now to the platform's `pushUrl` (or `pushHandler`):
   * what the receiver answered is in `delivery` (`success: true` when it answered `success`).
   * Fails if the platform has neither.
   */
  readonly pushTicket: (options: {
    readonly componentAppId: string
  }) => Effect.Effect<ComponentPushResult, SandboxError>
  /**
   * The app authorizes the platform (again): it is managed from now on (its own `stable_token`
   * answers 61024), and an `authorized` push with a fresh AuthorizationCode (single-use, an hour)
   * is sent. Fails if the platform has no `pushUrl` nor `pushHandler` (then use `componentPush`).
   */
  readonly authorize: (options: {
    readonly componentAppId: string
    readonly appId: string
  }) => Effect.Effect<ComponentPushResult, SandboxError>
  /** An `updateauthorized` push with a fresh AuthorizationCode, for an app that has authorized the platform. */
  readonly updateAuthorization: (options: {
    readonly componentAppId: string
    readonly appId: string
  }) => Effect.Effect<ComponentPushResult, SandboxError>
  /**
   * The app unauthorizes the platform, and an `unauthorized` push is sent: its refresh token
   * answers 61023, its access tokens end, its own token endpoints work again.
   */
  readonly unauthorize: (options: {
    readonly componentAppId: string
    readonly appId: string
  }) => Effect.Effect<ComponentPushResult, SandboxError>
  /** The pushes sent to the platform (timer and on demand), oldest first, the last 100. */
  readonly componentPushes: (options: {
    readonly componentAppId: string
  }) => Effect.Effect<ReadonlyArray<ComponentPushRecord>, SandboxError>
  /** What the platform has used since start or `resetStats`: calls per endpoint, tickets and tokens issued. */
  readonly componentTokenUsage: (options: {
    readonly componentAppId: string
  }) => Effect.Effect<ComponentUsage, SandboxError>
  /** The platform's IP whitelist: with `refuse: true`, every component endpoint answers 61004 for it. */
  readonly setComponentIpWhitelist: (options: {
    readonly componentAppId: string
    readonly refuse: boolean
  }) => Effect.Effect<void, SandboxError>
  /** Revokes the authorizer's refresh token: `api_authorizer_token` answers 61023 until the app authorizes again. */
  readonly revokeAuthorizerRefreshToken: (options: {
    readonly componentAppId: string
    readonly appId: string
  }) => Effect.Effect<void, SandboxError>
  /** Ends the platform's component access tokens now: the endpoints answer 40001. */
  readonly revokeComponentToken: (options: {
    readonly componentAppId: string
  }) => Effect.Effect<void, SandboxError>
  /** Queues a fault; at most 1,000 are pending at once (a fault repeats with `times`), one more is a `SandboxError`. */
  readonly injectFault: (fault: Fault) => Effect.Effect<void, SandboxError>
  readonly clearFaults: Effect.Effect<void>
  /** Calls per endpoint since start or `resetStats`, faulted calls included. */
  readonly stats: Effect.Effect<Readonly<Record<Endpoint, number>>>
  readonly resetStats: Effect.Effect<void>
  /**
   * Moves the sandbox's time ahead (on top of `Clock`), by at most 100 years per call (more is a
   * defect). A platform on a ticket timer whose newest ticket is then an interval old is pushed one
   * ticket (the skipped time's last) before it returns: the timers run on `Clock` and skip nothing.
   * It waits for each such delivery at most the push timeout (5 seconds) of real time: a receiver
   * still busy then (one waiting on a `TestClock`) is answered in the background.
   */
  readonly advanceClock: (duration: Duration.DurationInput) => Effect.Effect<void>
  /** The sandbox's time: `Clock.currentTimeMillis` plus what `advanceClock` added. */
  readonly currentTimeMillis: Effect.Effect<number>
  /** The transport-free core: one HTTP request in, one response out. Never fails. */
  readonly handle: (request: SandboxRequest) => Effect.Effect<SandboxResponse>
}

/**
 * The sandbox service; `layer(options?)` provides it.
 *
 * @since 0.1.0
 * @category tags
 */
export class Sandbox extends Context.Tag("@wxauth/sandbox/Sandbox")<Sandbox, SandboxService>() {}

/**
 * Bad input to the sandbox itself: an unknown app or user, a bad fault, a bad config.
 *
 * @since 0.1.0
 * @category errors
 */
export class SandboxError extends Schema.TaggedError<SandboxError>("@wxauth/sandbox/SandboxError")("SandboxError", {
  message: Schema.String
}) {}

const toError = (message: string): SandboxError => new SandboxError({ message })

// -------------------------------------------------------------------------------------------------
// defaults
// -------------------------------------------------------------------------------------------------

/**
 * The default apps: an official account and a website app (both bound to one Open Platform
 * account, so they share unionids), and a mini program (not bound).
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultApps: {
  readonly officialAccount: SandboxApp
  readonly website: SandboxApp
  readonly miniProgram: SandboxApp
} = Defaults.defaultApps

/**
 * The default users: `alice` (张三), `bob` (李四), `carol` (王五🐼, no avatar, sex unknown) and
 * `dave` (a snapshot user).
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultUsers: ReadonlyArray<SandboxUser> = Defaults.defaultUsers

// -------------------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------------------

/**
 * Builds a sandbox. Fails with a `SandboxError` on bad options (a duplicate appId, a malformed user...).
 * The platforms' ticket timers run in the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: SandboxOptions): Effect.Effect<SandboxService, SandboxError, Scope.Scope> =>
  Service.make(options, toError)

/**
 * A ready-to-click consent URL for an app, redirecting to the sandbox's own callback page.
 *
 * @since 0.1.0
 * @category constructors
 */
export const sampleAuthorizeUrl: (origin: string, app: SandboxApp, state?: string) => string = Router.sampleAuthorizeUrl

/**
 * Reads options from a JSON config's text: `{ "apps": [...], "users": [...] }`, either list optional.
 * In the file, an app's `name` (default: the appId) and `bound` (default false) may be left out, and
 * so may everything of a user but `id` and `nickname`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const loadOptions = (json: string): Effect.Effect<SandboxOptions, SandboxError> => Options.load(json, toError)

/**
 * Reads options from a JSON config file (see `loadOptions`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const loadOptionsFile = (path: string): Effect.Effect<SandboxOptions, SandboxError> =>
  Options.loadFile(path, toError)

// -------------------------------------------------------------------------------------------------
// layers
// -------------------------------------------------------------------------------------------------

/**
 * The sandbox service. Bad options are a defect here; use `make` or `loadOptions` to handle them.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: SandboxOptions): Layer.Layer<Sandbox> =>
  Layer.scoped(Sandbox, Effect.orDie(make(options)))

/**
 * The sandbox service, with apps and users from a JSON config file.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfigFile = (path: string): Layer.Layer<Sandbox, SandboxError> =>
  Layer.scoped(Sandbox, Effect.flatMap(loadOptionsFile(path), make))

/**
 * An in-process `HttpClient` answered by the sandbox: no sockets. Every request goes to the sandbox
 * whatever its host (`https://api.weixin.qq.com/sns/...`, `http://localhost/sns/...`): only the path
 * and query count. A `reset` fault fails with `RequestError` (reason `Transport`); a `slow` fault
 * sleeps on `Clock` (interruptible, so client timeouts work, and `TestClock` drives it).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHttpClient: Layer.Layer<HttpClient.HttpClient, never, Sandbox> = Layer.effect(
  HttpClient.HttpClient,
  Effect.map(Sandbox, (sandbox) => Client.make(sandbox.handle))
)

/**
 * A real HTTP server for the sandbox, on `@effect/platform-node`. `port: 0` picks a free port; the
 * bound address is in the `SandboxServer` service. `host` defaults to 127.0.0.1. A `reset` fault
 * destroys the socket.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerServer = (options: {
  readonly port: number
  readonly host?: string | undefined
}): Layer.Layer<SandboxServer.SandboxServer, ServeError | SandboxError, Sandbox> =>
  Layer.unwrapEffect(
    Effect.map(Sandbox, (sandbox) => Server.layer(options, sandbox.handle, toError))
  )
