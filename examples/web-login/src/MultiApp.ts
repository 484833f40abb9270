/**
 * The multi-app page: two official accounts that authorized one third-party platform, logged in to
 * through `@wxauth/http`'s registry mode: the `WeChatApps` registry of core holds the accounts
 * (`component: true`), and the login serves each at `/login/<appid>` (its callback
 * `/login/<appid>/callback`). The platform calls WeChat for both accounts with its component access
 * token; a callback's `appid` must be the account's, and the state is signed with the registry's
 * key for that account. Sessions are the site's own (`wxauth_session`): a login here is a login to
 * the site, through that account.
 *
 * | route | what it does |
 * |---|---|
 * | `GET /multi-app` | the accounts' login links (`/login/<appid>?returnTo=/multi-app`); who is logged in, to which account |
 * | `POST /wechat/component/events` | the platform's authorization-event URL: WeChat's pushes (`Component.makeHttpApp`) |
 *
 * An official account logs in inside WeChat: on another browser the login shows `@wxauth/http`'s
 * "open in WeChat" page. In demo mode the sandbox plays the platform and its two accounts; its first
 * ticket is accepted at start (WeChat's first push). In live mode the page is on when
 * `WECHAT_COMPONENT_APP_ID`, `WECHAT_COMPONENT_APP_SECRET`, `WECHAT_COMPONENT_TOKEN`,
 * `WECHAT_COMPONENT_AES_KEY` and `WECHAT_COMPONENT_APPS` (`appid:name,appid:name`) are set.
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type { AppTokenStore, TokenStore } from "@wxauth/core"
import { Component, WeChatApps } from "@wxauth/core"
import type { WeChatLogin } from "@wxauth/http"
import type { Sandbox } from "@wxauth/sandbox"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Crypto from "node:crypto"
import type * as AppConfig from "./AppConfig.js"
import { escapeHtml } from "./Pages.js"

// -------------------------------------------------------------------------------------------------
// configuration
// -------------------------------------------------------------------------------------------------

/** An official account of the platform, as the page lists it. */
export interface Account {
  readonly appId: string
  readonly name: string
}

/** The sandbox's platform in demo mode: its appid, secret, and its push URL's token and key. */
export const demoPlatform = {
  componentAppId: "wxsandboxplatform1",
  componentAppSecret: "f4787e80079c6f8a9a7f660e15c8b4e2",
  token: "sandboxplatform",
  encodingAesKey: "tKqruvnFD9TvtArRaarAq28BiWHq0GNulfXw1Eeus1w"
} as const

/** The two official accounts that authorized it. */
export const demoAccounts: ReadonlyArray<Account> = [
  { appId: "wxsandboxshop0001", name: "沙盒商店 (Sandbox Shop)" },
  { appId: "wxsandboxclub0001", name: "沙盒俱乐部 (Sandbox Club)" }
]

/** The sandbox's options in demo mode: its default apps, and the platform with its two accounts. */
export const sandboxOptions: Sandbox.SandboxOptions = {
  components: [{
    ...demoPlatform,
    name: "沙盒第三方平台 (Sandbox Platform)",
    // the first ticket is fetched at start; WeChat's timer has nowhere to push to here
    pushInterval: false,
    authorizers: demoAccounts.map((account) => ({
      appId: account.appId,
      kind: "officialAccount" as const,
      name: account.name,
      bound: true
    }))
  }]
}

/** `appid:name,appid:name` (a name is optional). */
const accountsConfig = Config.string("WECHAT_COMPONENT_APPS").pipe(
  Config.mapOrFail((text) => {
    const accounts = text.split(",").map((item) => item.trim()).filter((item) => item !== "").map((item) => {
      const at = item.indexOf(":")
      const appId = (at < 0 ? item : item.slice(0, at)).trim()
      return { appId, name: at < 0 ? appId : item.slice(at + 1).trim() || appId }
    })
    return accounts.length > 0 && accounts.every((account) => /^[A-Za-z0-9_-]{1,45}$/.test(account.appId)) &&
        new Set(accounts.map((account) => account.appId)).size === accounts.length
      ? Either.right(accounts)
      : Either.left(
        ConfigError.InvalidData(["WECHAT_COMPONENT_APPS"], "expected appid:name pairs separated by commas")
      )
  })
)

// -------------------------------------------------------------------------------------------------
// the service
// -------------------------------------------------------------------------------------------------

/** The page's platform: its accounts, the registry, the push route. */
export interface Platform {
  readonly componentAppId: string
  readonly accounts: ReadonlyArray<Account>
  readonly registry: WeChatApps.WeChatAppsShape
  /** The authorization-event URL's handler. */
  readonly events: HttpApp.Default
}

/** The page's service: `None` when no platform is configured (the page answers 404). */
export class MultiApp extends Context.Tag("@wxauth/example-web-login/MultiApp")<
  MultiApp,
  Option.Option<Platform>
>() {}

/** What the sandbox builds as WeChat's push (`/__sandbox/component/push`): its query and body. */
const SandboxPush = Schema.Struct({
  query: Schema.Record({ key: Schema.String, value: Schema.String }),
  body: Schema.String
})

/** In demo mode, WeChat's first ticket push, as the sandbox makes it, accepted by the platform. */
const firstTicket = (sandboxUrl: string, componentAppId: string) =>
  Effect.gen(function*() {
    const component = yield* Component.Component
    const push = yield* HttpClientRequest.post(`${sandboxUrl}/__sandbox/component/push`).pipe(
      HttpClientRequest.bodyUnsafeJson({ componentAppId, infoType: "component_verify_ticket" }),
      HttpClient.execute,
      Effect.flatMap(HttpClientResponse.filterStatusOk),
      Effect.flatMap(HttpClientResponse.schemaBodyJson(SandboxPush)),
      Effect.timeout("5 seconds")
    )
    yield* component.acceptPush({ query: push.query, body: push.body })
  }).pipe(
    // the page then shows WeChat's error at login; the rest of the example works
    Effect.catchAll((error) =>
      Effect.logWarning("web-login: the sandbox's first ticket push was not accepted").pipe(
        Effect.annotateLogs({ error: String(error) })
      )
    )
  )

/** The platform, its accounts and the registry's state secret. */
interface Settings {
  readonly component: Component.Options
  readonly accounts: ReadonlyArray<Account>
  readonly stateSecret: Redacted.Redacted<string> | string
}

/** The platform's settings: the sandbox's in demo mode; from the environment in live mode (or none). */
const settings = (
  config: AppConfig.AppConfig,
  sandboxUrl: Option.Option<string>
): Effect.Effect<Option.Option<Settings>, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    if (config.mode._tag === "Demo") {
      const url = Option.getOrElse(sandboxUrl, () => "")
      return Option.some<Settings>({
        component: { ...demoPlatform, apiBaseUrl: url, openBaseUrl: url },
        accounts: demoAccounts,
        // a random state secret: logins in progress end with the process
        stateSecret: Redacted.make(Crypto.randomBytes(32).toString("base64url"))
      })
    }
    const componentAppId = yield* Config.option(Config.nonEmptyString("WECHAT_COMPONENT_APP_ID"))
    if (Option.isNone(componentAppId)) return Option.none<Settings>()
    const componentAppSecret = yield* Config.redacted("WECHAT_COMPONENT_APP_SECRET")
    const live = config.mode
    return Option.some<Settings>({
      component: {
        componentAppId: componentAppId.value,
        componentAppSecret,
        token: yield* Config.redacted("WECHAT_COMPONENT_TOKEN"),
        encodingAesKey: yield* Config.redacted("WECHAT_COMPONENT_AES_KEY"),
        apiBaseUrl: live.officialAccount.apiBaseUrl,
        openBaseUrl: live.officialAccount.openBaseUrl
      },
      accounts: yield* accountsConfig,
      // WECHAT_STATE_SECRET, or one derived from the platform's secret: the same in every process
      stateSecret: live.officialAccount.stateSecret ??
        Redacted.make(
          Crypto.createHmac("sha256", Redacted.value(componentAppSecret)).update("web-login/multi-app/state").digest(
            "hex"
          )
        )
    })
  })

/**
 * The page's service: the platform (`Component`) and a `WeChatApps` registry of its accounts
 * (`component: true`), on the example's token stores and HTTP client.
 */
export const layer = (
  config: AppConfig.AppConfig,
  sandboxUrl: Option.Option<string>
): Layer.Layer<
  MultiApp,
  ConfigError.ConfigError,
  HttpClient.HttpClient | TokenStore.TokenStore | AppTokenStore.AppTokenStore
> =>
  Layer.scoped(
    MultiApp,
    Effect.gen(function*() {
      const found = yield* settings(config, sandboxUrl)
      if (Option.isNone(found)) return Option.none()
      const { accounts, component, stateSecret } = found.value
      const context = yield* Layer.build(
        WeChatApps.layer(
          { apps: accounts.map(({ appId }) => ({ appId, component: true as const })) },
          { stateSecret }
        ).pipe(Layer.provideMerge(Component.layer(component)))
      )
      const events = yield* Component.makeHttpApp().pipe(Effect.provide(context))
      if (config.mode._tag === "Demo" && Option.isSome(sandboxUrl)) {
        yield* firstTicket(sandboxUrl.value, component.componentAppId).pipe(Effect.provide(context))
      }
      return Option.some<Platform>({
        componentAppId: component.componentAppId,
        accounts,
        registry: Context.get(context, WeChatApps.WeChatApps),
        events
      })
    })
  )

/**
 * The login's registry mode for the platform's accounts: each logs in as an official account at
 * `/login/<appid>`; any other appid is none of the login's (404).
 */
export const registryOptions = (platform: Platform): WeChatLogin.RegistryOptions => ({
  kindOf: (appId) =>
    Effect.succeed(platform.accounts.some((account) => account.appId === appId) ? "officialAccount" : undefined),
  scope: "snsapi_userinfo"
})

// -------------------------------------------------------------------------------------------------
// the page
// -------------------------------------------------------------------------------------------------

/** Who is logged in through one of the accounts, with their nickname when WeChat gave it. */
export interface PageLogin {
  readonly account: Account
  readonly openid: string
  readonly nickname: Option.Option<string>
}

/** The page's body. */
export const page = (
  platform: Platform,
  login: Option.Option<PageLogin>,
  paths: WeChatLogin.Paths
): string => {
  const loggedIn = Option.match(login, {
    onNone: () => "",
    onSome: ({ account, nickname, openid }) =>
      `<div class="notice" id="multi-app-logged-in">你已登录 <b id="multi-app-account">${escapeHtml(account.name)}</b>${
        Option.match(nickname, {
          onNone: () => "",
          onSome: (n) => `，昵称 <b id="multi-app-nickname">${escapeHtml(n)}</b>`
        })
      } · You are logged in to this account.
<dl><dt>appid</dt><dd><code id="multi-app-appid">${escapeHtml(account.appId)}</code></dd>
<dt>openid</dt><dd><code id="multi-app-openid">${escapeHtml(openid)}</code></dd></dl>
<form method="post" action="${paths.logout}"><button class="btn danger" id="multi-app-logout" type="submit">退出登录<small>Log out</small></button></form></div>`
  })
  const buttons = platform.accounts.map((a) =>
    `<a class="btn primary" id="multi-app-login-${escapeHtml(a.appId)}" href="${
      escapeHtml(paths.login(a.appId, "/multi-app"))
    }">登录 ${escapeHtml(a.name)}<small>Log in to ${escapeHtml(a.appId)} · snsapi_userinfo</small></a>`
  ).join("\n")
  return `<h1>多个公众号 · Many official accounts</h1>
<p class="en">Official accounts that authorized one third-party platform (<code id="multi-app-platform">${
    escapeHtml(platform.componentAppId)
  }</code>), logged in to through one <code>WeChatApps</code> registry.</p>
${loggedIn}
<p>每个公众号的登录地址是 <code>/login/&lt;appid&gt;</code>，回调地址是 <code>/login/&lt;appid&gt;/callback</code>。平台用自己的 component_access_token 为各公众号换取用户令牌；回调中微信给出的 appid 必须是该公众号的。公众号的网页授权只能在微信中打开。</p>
<p class="muted">Each account logs in at <code>/login/&lt;appid&gt;</code> (its callback <code>/login/&lt;appid&gt;/callback</code>), served by <code>@wxauth/http</code> from the registry. The platform exchanges the codes of every account with its one component access token, and WeChat's <code>appid</code> in a callback must be the account's. Official accounts log in inside WeChat: other browsers get a page that says to open the link there. The platform's authorization-event URL is <code>POST /wechat/component/events</code>.</p>
<div class="actions">
${buttons}
</div>`
}
