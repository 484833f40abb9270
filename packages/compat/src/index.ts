/**
 * `wechat-oauth` (seeds 002 and 004) and seed 000's functional API, as a drop-in over
 * `@wxauth/core`: change the import, keep the code, and gain single-flight refreshes, deadlines,
 * retries of transient failures and typed errors. From CommonJS, `require("@wxauth/compat")` is the
 * `OAuth` class itself (as `require("wechat-oauth")` was), with every other export on it.
 *
 * @since 0.1.0
 */
import { AccessToken, fromStored, toOAuthToken, toTokenData } from "./AccessToken.js"
import { CompatError, isCompatError } from "./CompatError.js"
import { checkAccessToken, getAuthUrl, getToken, getUserinfo, refreshToken } from "./Functions.js"
import { OAuth } from "./OAuth.js"

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

/**
 * What `require("@wxauth/compat")` returns: the `OAuth` class, as `require("wechat-oauth")` did,
 * carrying every other export (`OAuth.OAuth`, `OAuth.getAuthUrl`, `OAuth.CompatError`, ...), so both
 * `const OAuth = require(...)` and `const { getToken } = require(...)` work.
 *
 * @since 0.1.0
 * @category constructors
 */
const moduleExports: typeof OAuth & {
  readonly OAuth: typeof OAuth
  readonly default: typeof OAuth
  readonly AccessToken: typeof AccessToken
  readonly CompatError: typeof CompatError
  readonly isCompatError: typeof isCompatError
  readonly fromStored: typeof fromStored
  readonly toOAuthToken: typeof toOAuthToken
  readonly toTokenData: typeof toTokenData
  readonly getAuthUrl: typeof getAuthUrl
  readonly getToken: typeof getToken
  readonly refreshToken: typeof refreshToken
  readonly getUserinfo: typeof getUserinfo
  readonly checkAccessToken: typeof checkAccessToken
} = Object.assign(OAuth, {
  OAuth,
  default: OAuth,
  AccessToken,
  CompatError,
  isCompatError,
  fromStored,
  toOAuthToken,
  toTokenData,
  getAuthUrl,
  getToken,
  refreshToken,
  getUserinfo,
  checkAccessToken
})

export {
  /**
   * @since 0.1.0
   */
  moduleExports as "module.exports",
  /**
   * @since 0.1.0
   */
  OAuth as default
}
