/**
 * The address of a running sandbox HTTP server (`Sandbox.layerServer`), for tests and tools that
 * need the URL: with `port: 0` the port is only known once the server listens.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"

/**
 * Where a sandbox server listens.
 *
 * @since 0.1.0
 * @category models
 */
export interface SandboxServerInfo {
  /** Base URL of both the API (api.weixin.qq.com) and the consent pages (open.weixin.qq.com), no trailing slash. */
  readonly url: string
  /** The host the server listens on (`0.0.0.0` when it listens on every interface). */
  readonly hostname: string
  readonly port: number
}

/**
 * The address of the server `Sandbox.layerServer` started.
 *
 * @since 0.1.0
 * @category tags
 */
export class SandboxServer extends Context.Tag("@wxauth/sandbox/SandboxServer")<SandboxServer, SandboxServerInfo>() {}
