/**
 * The entry point of `require("@wxauth/compat")` (the package's `require` condition): a CommonJS
 * module whose `module.exports` is the `OAuth` class, as `require("wechat-oauth")` returned it,
 * carrying every other export (`OAuth.OAuth`, `OAuth.getAuthUrl`, `OAuth.CompatError`, ...), so
 * that both `const OAuth = require(...)` and `const { getToken } = require(...)` work. It loads the
 * ES module entry with `require(esm)` (Node 20.19+), so CommonJS and ESM callers share one module.
 * Its declaration file (`CommonJS.d.cts`, `export =`) types `import OAuth = require(...)` in
 * TypeScript and `require(...)` in checked JavaScript as the class: a value to construct, and a
 * type for its instances.
 *
 * @since 0.1.0
 */
import Compat = require("./index.js")

/**
 * What `require("@wxauth/compat")` returns.
 *
 * @since 0.1.0
 * @category constructors
 */
const moduleExports: typeof Compat.OAuth & {
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

/**
 * A client made by `new OAuth(...)`: the name is a type too, as with `wechat-oauth`'s typings.
 *
 * @since 0.1.0
 * @category models
 */
type moduleExports = Compat.OAuth

/**
 * The package's types, for `import OAuth = require("@wxauth/compat")` (`OAuth.Options`, ...) and
 * for `import { OAuth, type Options } from "@wxauth/compat"` compiled to CommonJS.
 *
 * @since 0.1.0
 * @category models
 */
declare namespace moduleExports {
  export type OAuth = Compat.OAuth
  export type AccessToken<A extends object = Compat.TokenData> = Compat.AccessToken<A>
  export type CompatError = Compat.CompatError
  export type CompatErrorName = Compat.CompatErrorName
  export type StoredToken = Compat.StoredToken
  export type TokenData = Compat.TokenData
  export type AuthUrl = Compat.AuthUrl
  export type RefreshResult = Compat.RefreshResult
  export type TokenResult = Compat.TokenResult
  export type Callback<A> = Compat.Callback<A>
  export type DecryptOptions = Compat.DecryptOptions
  export type GetToken = Compat.GetToken
  export type GetUserByCodeOptions = Compat.GetUserByCodeOptions
  export type GetUserOptions = Compat.GetUserOptions
  export type Options = Compat.Options
  export type RequestCallback = Compat.RequestCallback
  export type RequestOptions = Compat.RequestOptions
  export type RequestResult = Compat.RequestResult
  export type SaveToken = Compat.SaveToken
  export type Services = Compat.Services
  export type SessionData = Compat.SessionData
  export type UserProfile = Compat.UserProfile
}

export = moduleExports
