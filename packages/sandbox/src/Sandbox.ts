/**
 * A faithful local WeChat OAuth server, written against WeChat's documented behaviour as it answers
 * today: the consent pages (`/connect/oauth2/authorize`, `/connect/qrconnect`), the `sns` API
 * (`access_token`, `refresh_token`, `userinfo`, `auth`, `jscode2session`), the app access token
 * (`/cgi-bin/stable_token`, `/cgi-bin/token`), the mini program's server API
 * (`/wxa/business/getuserphonenumber`, `/wxa/checksession`, `/wxa/resetusersessionkey`),
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
 * `GET /cgi-bin/token`) and the mini program's server API (`getuserphonenumber` =
 * `POST /wxa/business/getuserphonenumber`, `checksession` = `GET /wxa/checksession`,
 * `resetusersessionkey` = `GET /wxa/resetusersessionkey`).
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
 * - `reset`: no answer; the connection is destroyed
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
 *   endpoints, `stable_token` and `token`, `sex` for userinfo, `errcode` for the others; or `field`) written as
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
 * Every kind except `slow` answers instead of the endpoint, so the call has no effect (a code is
 * not used up). A `slow` call takes effect at once; only its answer is late.
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
 * Apps, users and quotas. A list that is given replaces the default list; a quota left out keeps
 * WeChat's.
 *
 * @since 0.1.0
 * @category models
 */
export interface SandboxOptions {
  readonly apps?: ReadonlyArray<SandboxApp> | undefined
  readonly users?: ReadonlyArray<SandboxUser> | undefined
  readonly limits?: SandboxLimits | undefined
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
  readonly apps: ReadonlyArray<SandboxApp>
  readonly users: ReadonlyArray<SandboxUser>
  /** The openid of a user in an app: deterministic, 28 characters of `[A-Za-z0-9_-]`. */
  readonly openidOf: (appId: string, userId: string) => string
  /**
   * The callback URL `redirectUri?code=CODE&state=STATE`, as if the user had consented: the URL a
   * browser would then request (characters outside ASCII percent-encoded).
   */
  readonly approve: (options: {
    readonly appId: string
    readonly user: string
    readonly scope: string
    readonly redirectUri: string
    readonly state?: string | undefined
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
  readonly injectFault: (fault: Fault) => Effect.Effect<void, SandboxError>
  readonly clearFaults: Effect.Effect<void>
  /** Calls per endpoint since start or `resetStats`, faulted calls included. */
  readonly stats: Effect.Effect<Readonly<Record<Endpoint, number>>>
  readonly resetStats: Effect.Effect<void>
  /** Moves the sandbox's time ahead (on top of `Clock`), by at most 100 years per call (more is a defect). */
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
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: SandboxOptions): Effect.Effect<SandboxService, SandboxError> =>
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
  Layer.effect(Sandbox, Effect.orDie(make(options)))

/**
 * The sandbox service, with apps and users from a JSON config file.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfigFile = (path: string): Layer.Layer<Sandbox, SandboxError> =>
  Layer.effect(Sandbox, Effect.flatMap(loadOptionsFile(path), make))

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
