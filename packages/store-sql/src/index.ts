/**
 * `@wxauth/store-sql`: the wxauth `TokenStore` in PostgreSQL, MySQL / MariaDB or SQLite, on
 * `@effect/sql`.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as SqlTokenStore from "./SqlTokenStore.js"
