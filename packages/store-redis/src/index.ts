/**
 * Redis for `@wxauth/core`: a shared `TokenStore`, `AppTokenStore`, `SessionKeyStore` and `SessionStore`, and a
 * distributed `RefreshLock` (ioredis).
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as RedisAppTokenStore from "./RedisAppTokenStore.js"

/**
 * @since 0.1.0
 */
export * as RedisRefreshLock from "./RedisRefreshLock.js"

/**
 * @since 0.1.0
 */
export * as RedisSessionKeyStore from "./RedisSessionKeyStore.js"

/**
 * @since 0.1.0
 */
export * as RedisSessionStore from "./RedisSessionStore.js"

/**
 * @since 0.1.0
 */
export * as RedisTokenStore from "./RedisTokenStore.js"
