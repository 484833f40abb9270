/**
 * What the routes work with: one `WeChatOAuth` service per WeChat app (official account, and the
 * Open Platform website app when there is one), the `MiniProgram` service when there is a mini
 * program, the sessions and the key that signs their cookies, the public origin, a small profile
 * cache and, in demo mode, the sandbox the dev panel controls.
 */
import type { MiniProgram, UserInfo, WeChatOAuth } from "@wxauth/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { AppKind } from "./Session.js"
import type { SessionStoreShape } from "./SessionStore.js"

/** A user's profile as last fetched from WeChat. */
export interface Profile {
  readonly user: UserInfo.UserInfo
  /** Epoch milliseconds. */
  readonly fetchedAt: number
}

/**
 * The app's own record of profiles, by app and openid. A real site keeps them in its user table;
 * this example keeps the most recent ones in memory (tokens live in the token store either way).
 */
export interface ProfileCache {
  readonly get: (appId: string, openid: string) => Effect.Effect<Option.Option<Profile>>
  readonly set: (appId: string, profile: Profile) => Effect.Effect<void>
  readonly remove: (appId: string, openid: string) => Effect.Effect<void>
}

/** A profile cache holding at most `maxEntries` profiles (the least recently written go first). */
export const makeProfileCache = (maxEntries = 10_000): Effect.Effect<ProfileCache> =>
  Effect.sync(() => {
    const entries = new Map<string, Profile>()
    const key = (appId: string, openid: string) => `${appId}\u0000${openid}`
    return {
      get: (appId, openid) => Effect.sync(() => Option.fromNullable(entries.get(key(appId, openid)))),
      set: (appId, profile) =>
        Effect.sync(() => {
          const k = key(appId, profile.user.openid)
          entries.delete(k)
          entries.set(k, profile)
          if (entries.size > maxEntries) entries.delete(entries.keys().next().value!)
        }),
      remove: (appId, openid) => Effect.sync(() => void entries.delete(key(appId, openid)))
    }
  })

/** The service's shape. */
export interface WebLoginShape {
  readonly officialAccount: WeChatOAuth.WeChatOAuthShape
  readonly website: Option.Option<WeChatOAuth.WeChatOAuthShape>
  /**
   * The mini program's phone-number login (`None`: no mini program). Its app access token is kept
   * in the token store's `AppTokenStore`, shared by every process of the app.
   */
  readonly miniProgram: Option.Option<MiniProgram.MiniProgramShape>
  /** Signs the session cookie. */
  readonly sessionKey: Redacted.Redacted<Uint8Array>
  /** The server's record of sessions: who each session id stands for, until when. */
  readonly sessions: SessionStoreShape
  /** The origin of `redirect_uri`; `None`: the origin of the request. */
  readonly publicUrl: Option.Option<string>
  /** The sandbox the dev panel controls; `None`: no dev panel. */
  readonly sandboxUrl: Option.Option<string>
  readonly profiles: ProfileCache
}

/** The tag. */
export class WebLogin extends Context.Tag("@wxauth/example-web-login/WebLogin")<WebLogin, WebLoginShape>() {}

/** The login service of an app kind (`None`: that kind of login is not configured). */
export const oauthOf = (
  service: WebLoginShape,
  kind: AppKind
): Option.Option<WeChatOAuth.WeChatOAuthShape> =>
  kind === "officialAccount" ? Option.some(service.officialAccount) : service.website
