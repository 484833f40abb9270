/**
 * `@wxauth/store-sql`: the wxauth `TokenStore`, `AppTokenStore`, `SessionKeyStore` and `SessionStore` in
 * PostgreSQL, MySQL / MariaDB or SQLite, on `@effect/sql`, and the `RefreshLock` every process on the
 * database shares (`SqlRefreshLock`).
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as SqlAppTokenStore from "./SqlAppTokenStore.js"

/**
 * The `RefreshLock` shared by every process on one database: a shared token store needs a shared lock.
 *
 * @since 0.2.0
 */
export * as SqlRefreshLock from "./SqlRefreshLock.js"

/**
 * @since 0.1.0
 */
export * as SqlSessionKeyStore from "./SqlSessionKeyStore.js"

/**
 * @since 0.1.0
 */
export * as SqlSessionStore from "./SqlSessionStore.js"

/**
 * @since 0.2.0
 */
export * as SqlSocket from "./SqlSocket.js"

/**
 * @since 0.1.0
 */
export * as SqlTokenStore from "./SqlTokenStore.js"
