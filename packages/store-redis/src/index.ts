/**
 * Redis for `@wxauth/core`: a shared `TokenStore` and a distributed `RefreshLock` (ioredis).
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as RedisRefreshLock from "./RedisRefreshLock.js"

/**
 * @since 0.1.0
 */
export * as RedisTokenStore from "./RedisTokenStore.js"
