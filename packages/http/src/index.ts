/**
 * WeChat login for Effect HTTP servers: login routes, callback, logout, server-side sessions and a
 * current-user middleware on `@effect/platform`, and a Web-standard handler for other servers.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as CurrentWeChatUser from "./CurrentWeChatUser.js"

/**
 * @since 0.1.0
 */
export * as WeChatLogin from "./WeChatLogin.js"

/**
 * @since 0.1.0
 */
export * as WeChatLoginApi from "./WeChatLoginApi.js"
