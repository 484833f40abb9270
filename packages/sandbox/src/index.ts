/**
 * @wxauth/sandbox: a faithful local WeChat OAuth server.
 *
 * @since 0.1.0
 */

/**
 * A faithful local WeChat OAuth server: consent pages, the sns API, faults, stats, a Clock-driven
 * clock; in-process, as an HTTP server, or from the CLI.
 *
 * @since 0.1.0
 */
export * as Sandbox from "./Sandbox.js"

/**
 * The address of a running sandbox HTTP server.
 *
 * @since 0.1.0
 */
export * as SandboxServer from "./SandboxServer.js"

/**
 * WeChat's message encryption (WXBizMsgCrypt), as the sandbox's third-party platform encrypts its
 * pushes: to forge or check a push in a test.
 *
 * @since 0.1.0
 */
export * as MessageCrypto from "./MessageCrypto.js"
