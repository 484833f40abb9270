/**
 * The endpoints a web login calls, as the login's machinery sees them: WeChat's own for an app with
 * its secret (`WeChatApi`), or a third-party platform's component variants for an app it manages,
 * which may also fail getting the component token (its store or lock).
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as OAuthToken from "../../OAuthToken.js"
import type * as UserInfo from "../../UserInfo.js"
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

/**
 * `userInfo` with a stored token, as the policy runs it, for a caller that goes on from a failure
 * itself: the first attempt's failure resumes the waiting fiber with `orElse` of the policy's
 * retries of the call (an effect that fails as the policy's `userInfo` would have), in the step
 * that reads the answer; a success resumes it with the user, with no catch frame on the way. The
 * access token is read without a `Redacted` (one is made only for a retry). `undefined` when the
 * call would refuse the token's fields or `lang` (the caller takes its whole path, whose errors are
 * the call's own).
 *
 * @internal
 */
export type UserInfoThen = <E>(
  token: OAuthToken.OAuthToken,
  lang: UserInfo.Lang,
  orElse: (retried: Effect.Effect<UserInfo.UserInfo, WeChatError.RequestFailure>) => Effect.Effect<UserInfo.UserInfo, E>
) => Effect.Effect<UserInfo.UserInfo, E> | undefined

/**
 * Where `WeChatApi.makeWith` puts {@link UserInfoThen} on the endpoints it builds with a policy
 * over core's lean client (not on any other client's, nor on endpoints built another way).
 *
 * @internal
 */
export const userInfoThen: unique symbol = Symbol.for("@wxauth/core/Endpoints/userInfoThen")

/** @internal */
export const userInfoThenOf = (api: Endpoints): UserInfoThen | undefined =>
  (api as { readonly [userInfoThen]?: UserInfoThen })[userInfoThen]
