/**
 * The endpoints of an app a platform manages: the code exchanges and the user-token refresh go to
 * the component variants with the platform's component access token (after a 40001 / 42001 for that
 * token, once more with a new one); the calls made with a user's token or the app token (userinfo,
 * auth, the phone number, session keys) are WeChat's usual ones; the app token itself comes from the
 * platform (`Component.appToken`), never from `stable_token` / `token`.
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as AppToken from "../../AppToken.js"
import type * as WeChatApi from "../../WeChatApi.js"

/** @internal */
export interface Dependencies {
  readonly appId: string
  /** WeChat's usual endpoints, for the calls made with a user's token or the app token. */
  readonly direct: WeChatApi.WeChatApiShape
  readonly component: WeChatApi.ComponentApiShape
  readonly withAccessToken: <A, E>(
    f: (token: Redacted.Redacted<string>) => Effect.Effect<A, E>
  ) => Effect.Effect<A, E | AppToken.AppTokenError>
}

/** @internal */
export const endpoints = ({ appId, component, direct, withAccessToken }: Dependencies) => ({
  accessToken: (code: string) => withAccessToken((token) => component.accessToken(token, appId, code)),
  refreshToken: (refreshToken: Redacted.Redacted<string>) =>
    withAccessToken((token) => component.refreshToken(token, appId, refreshToken)),
  code2Session: (jsCode: string) => withAccessToken((token) => component.code2Session(token, appId, jsCode)),
  userInfo: direct.userInfo,
  auth: direct.auth,
  getUserPhoneNumber: direct.getUserPhoneNumber,
  checkSession: direct.checkSession,
  resetUserSessionKey: direct.resetUserSessionKey
})
