/**
 * Test support for the wxauth packages' and examples' tests (a private workspace package, never
 * published). Chromium's set-up is in `@wxauth/test-support/Chromium`, apart, so that only the
 * browser tests load `playwright-core`.
 *
 * @since 0.0.0
 */

/**
 * @since 0.0.0
 */
export * from "./HttpBrowser.js"

/**
 * @since 0.0.0
 */
export * from "./Login.js"

/**
 * @since 0.0.0
 */
export * from "./Sweep.js"

/**
 * @since 0.0.0
 */
export * from "./Interrupt.js"

/**
 * @since 0.0.0
 */
export * from "./EventLoop.js"

/**
 * @since 0.0.0
 */
export * from "./Build.js"

/**
 * @since 0.0.0
 */
export * from "./RawRequest.js"
