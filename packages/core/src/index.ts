/**
 * WeChat OAuth for Effect backends.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as AppToken from "./AppToken.js"

/**
 * @since 0.1.0
 */
export * as AppTokenStore from "./AppTokenStore.js"

/**
 * @since 0.1.0
 */
export * as Component from "./Component.js"

/**
 * @since 0.1.0
 */
export * as LegacyToken from "./LegacyToken.js"

/**
 * @since 0.1.0
 */
export * as MiniProgram from "./MiniProgram.js"

/**
 * @since 0.1.0
 */
export * as MiniProgramCrypto from "./MiniProgramCrypto.js"

/**
 * @since 0.1.0
 */
export * as OAuthToken from "./OAuthToken.js"

/**
 * @since 0.1.0
 */
export * as RefreshLock from "./RefreshLock.js"

/**
 * @since 0.1.0
 */
export * as RetryPolicy from "./RetryPolicy.js"

/**
 * @since 0.1.0
 */
export * as SessionKeyStore from "./SessionKeyStore.js"

/**
 * @since 0.1.0
 */
export * as SessionStore from "./SessionStore.js"

/**
 * @since 0.1.0
 */
export * as StateToken from "./StateToken.js"

/**
 * @since 0.1.0
 */
export * as TokenCipher from "./TokenCipher.js"

/**
 * @since 0.1.0
 */
export * as TokenStore from "./TokenStore.js"

/**
 * @since 0.1.0
 */
export * as UserInfo from "./UserInfo.js"

/**
 * @since 0.1.0
 */
export * as WeChatApi from "./WeChatApi.js"

/**
 * @since 0.1.0
 */
export * as WeChatApps from "./WeChatApps.js"

/**
 * @since 0.1.0
 */
export * as WeChatConfig from "./WeChatConfig.js"

/**
 * @since 0.1.0
 */
export * as WeChatError from "./WeChatError.js"

/**
 * @since 0.1.0
 */
export * as WeChatHttpClient from "./WeChatHttpClient.js"

/**
 * @since 0.1.0
 */
export * as WeChatOAuth from "./WeChatOAuth.js"
