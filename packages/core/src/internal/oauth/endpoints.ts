/**
 * The endpoints a web login calls, as the login's machinery sees them: WeChat's own for an app with
 * its secret (`WeChatApi`), or a third-party platform's component variants for an app it manages,
 * which may also fail getting the component token (its store or lock).
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as WeChatApi from "../../WeChatApi.js"
import type * as WeChatError from "../../WeChatError.js"

/** @internal */
export type EndpointFailure = WeChatError.RequestFailure | WeChatError.TokenStoreError | WeChatError.RefreshLockTimeout

/** @internal */
export interface Endpoints {
  /** A user's code for a token (single-use code). */
  readonly accessToken: (code: string) => Effect.Effect<WeChatApi.TokenResponse, EndpointFailure>
  /** A new user access token. */
  readonly refreshToken: (
    refreshToken: Redacted.Redacted<string>
  ) => Effect.Effect<WeChatApi.TokenResponse, EndpointFailure>
  readonly userInfo: WeChatApi.WeChatApiShape["userInfo"]
  readonly auth: WeChatApi.WeChatApiShape["auth"]
}
