/**
 * The one rule of the ids a store is called with (`TokenStore`, `SessionKeyStore`, `SessionStore`,
 * `AppTokenStore`), wherever they are checked: core's memory stores, and the shared stores through
 * the public checks (`TokenStore.checkUser`, `TokenStore.checkAppId`, `TokenStore.checkCode`,
 * `AppTokenStore.checkKey`, `SessionStore.checkUser`).
 *
 * Every id is ASCII without a space, so a database cannot take two different ids for one row
 * (MariaDB's PAD SPACE collations: `'o1' = 'o1 '`; a lone surrogate written as U+FFFD by
 * PostgreSQL and MariaDB), and an appId has no `:`, so a key joining an appId and another id with
 * `:` (Redis' `{appId:openid}`) is one pair's only.
 *
 * @internal
 */
import * as UserId from "./userId.js"

/**
 * An appid: 1 to 64 of `[A-Za-z0-9_-]`, the rule of the apps' configuration (WeChat's have 18).
 *
 * @internal
 */
export const appIdPattern = /^[A-Za-z0-9_-]{1,64}$/

/** True for a string of `appIdPattern`. @internal */
export const isAppId = (u: unknown): u is string => typeof u === "string" && appIdPattern.test(u)

/**
 * A user's id in a store (`openid`), and a code hash: the user-id rule (1 to 128 printable ASCII
 * characters, no space; see `userId.ts`).
 *
 * @internal
 */
export const isUserId: (u: unknown) => u is string = UserId.isWeChatUserId

/**
 * A key of the `AppTokenStore`: 1 to 64 printable ASCII characters, no space. Not only appids:
 * the platform's keys are `component-ticket:<appid>`, `component-token:<appid>`,
 * `authorizer-refresh:<appid>` (see `component/tokens.ts`).
 *
 * @internal
 */
export const appTokenKeyPattern = /^[\x21-\x7e]{1,64}$/

/** True for a string of `appTokenKeyPattern`. @internal */
export const isAppTokenKey = (u: unknown): u is string => typeof u === "string" && appTokenKeyPattern.test(u)

/** The descriptions of a refused id: never the value. @internal */
export const describe = {
  appId: "the appId must be 1 to 64 characters of A-Z a-z 0-9 _ -",
  openid: "the openid must be 1 to 128 printable ASCII characters, no space",
  codeHash: "the code hash must be 1 to 128 printable ASCII characters, no space",
  appTokenKey: "the app token's key must be 1 to 64 printable ASCII characters, no space"
} as const

/**
 * The description of the first id of a user that is refused, `undefined` when both hold.
 *
 * @internal
 */
export const userRefusal = (appId: unknown, openid: unknown): string | undefined =>
  !isAppId(appId) ? describe.appId : !isUserId(openid) ? describe.openid : undefined
