/**
 * `wechat-oauth`'s class API and the functional promise API, as a drop-in over
 * `@wxauth/core`: change the import, keep the code, and gain single-flight refreshes, deadlines,
 * retries of transient failures and typed errors. From CommonJS, `require("@wxauth/compat")` is the
 * `OAuth` class itself (as `require("wechat-oauth")` was), with every other export on it (see
 * `CommonJS.cts`).
 *
 * @since 0.1.0
 */
export {
  /**
   * @since 0.1.0
   */
  AccessToken,
  /**
   * @since 0.1.0
   */
  fromStored,
  /**
   * @since 0.1.0
   */
  toOAuthToken,
  /**
   * @since 0.1.0
   */
  toTokenData
} from "./AccessToken.js"

export type {
  /**
   * @since 0.1.0
   */
  StoredToken,
  /**
   * @since 0.1.0
   */
  TokenData
} from "./AccessToken.js"

export {
  /**
   * @since 0.1.0
   */
  CompatError,
  /**
   * @since 0.1.0
   */
  isCompatError
} from "./CompatError.js"

export type {
  /**
   * @since 0.1.0
   */
  CompatErrorName
} from "./CompatError.js"

export {
  /**
   * @since 0.1.0
   */
  checkAccessToken,
  /**
   * @since 0.1.0
   */
  getAuthUrl,
  /**
   * @since 0.1.0
   */
  getToken,
  /**
   * @since 0.1.0
   */
  getUserinfo,
  /**
   * @since 0.1.0
   */
  refreshToken
} from "./Functions.js"

export type {
  /**
   * @since 0.1.0
   */
  AuthUrl,
  /**
   * @since 0.1.0
   */
  RefreshResult,
  /**
   * @since 0.1.0
   */
  TokenResult
} from "./Functions.js"

export {
  /**
   * @since 0.1.0
   */
  OAuth
} from "./OAuth.js"

export type {
  /**
   * @since 0.1.0
   */
  Callback,
  /**
   * @since 0.1.0
   */
  DecryptOptions,
  /**
   * @since 0.1.0
   */
  GetToken,
  /**
   * @since 0.1.0
   */
  GetUserByCodeOptions,
  /**
   * @since 0.1.0
   */
  GetUserOptions,
  /**
   * @since 0.1.0
   */
  Options,
  /**
   * @since 0.1.0
   */
  RequestCallback,
  /**
   * @since 0.1.0
   */
  RequestOptions,
  /**
   * @since 0.1.0
   */
  RequestResult,
  /**
   * @since 0.1.0
   */
  SaveToken,
  /**
   * @since 0.1.0
   */
  Services,
  /**
   * @since 0.1.0
   */
  SessionData,
  /**
   * @since 0.1.0
   */
  UserProfile
} from "./OAuth.js"

export {
  /**
   * @since 0.1.0
   */
  OAuth as default
} from "./OAuth.js"
