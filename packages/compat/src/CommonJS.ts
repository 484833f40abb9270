/**
 * The entry point of `require("@wxauth/compat")` (the package's `require` condition): the `OAuth`
 * class, as `require("wechat-oauth")` returned it, carrying every other export (`OAuth.OAuth`,
 * `OAuth.getAuthUrl`, `OAuth.CompatError`, ...), so that both `const OAuth = require(...)` and
 * `const { getToken } = require(...)` work. Node's `require(esm)` returns the export named
 * `module.exports`. It imports the ES module entry, so CommonJS and ESM callers share one module.
 * (The types come from the ES module entry: older TypeScript versions cannot read an export with
 * that name in a declaration file.)
 *
 * @since 0.1.0
 */
import * as Compat from "./index.js"

/**
 * What `require("@wxauth/compat")` returns.
 *
 * @since 0.1.0
 * @category constructors
 */
export const moduleExports: typeof Compat.OAuth & {
  readonly OAuth: typeof Compat.OAuth
  readonly default: typeof Compat.OAuth
  readonly AccessToken: typeof Compat.AccessToken
  readonly CompatError: typeof Compat.CompatError
  readonly isCompatError: typeof Compat.isCompatError
  readonly fromStored: typeof Compat.fromStored
  readonly toOAuthToken: typeof Compat.toOAuthToken
  readonly toTokenData: typeof Compat.toTokenData
  readonly getAuthUrl: typeof Compat.getAuthUrl
  readonly getToken: typeof Compat.getToken
  readonly refreshToken: typeof Compat.refreshToken
  readonly getUserinfo: typeof Compat.getUserinfo
  readonly checkAccessToken: typeof Compat.checkAccessToken
} = Object.assign(Compat.OAuth, {
  OAuth: Compat.OAuth,
  default: Compat.OAuth,
  AccessToken: Compat.AccessToken,
  CompatError: Compat.CompatError,
  isCompatError: Compat.isCompatError,
  fromStored: Compat.fromStored,
  toOAuthToken: Compat.toOAuthToken,
  toTokenData: Compat.toTokenData,
  getAuthUrl: Compat.getAuthUrl,
  getToken: Compat.getToken,
  refreshToken: Compat.refreshToken,
  getUserinfo: Compat.getUserinfo,
  checkAccessToken: Compat.checkAccessToken
})

export {
  /**
   * @since 0.1.0
   */
  moduleExports as "module.exports"
}
