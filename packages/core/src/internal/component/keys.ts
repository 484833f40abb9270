/**
 * The keys a third-party platform writes in the `AppTokenStore` (see `tokens.ts`), and the one rule
 * of which of them hold what cannot be fetched again: the memory store never evicts those while
 * they are valid (`AppTokenStore.makeMemory`).
 *
 * Every key is built here; an appid has no `:` (`storeIds.ts`), so a key with one of these prefixes
 * is the platform's.
 *
 * @internal
 */

const prefixes = {
  ticket: "component-ticket:",
  componentToken: "component-token:",
  authorizerRefresh: "authorizer-refresh:"
} as const

/** @internal */
export const keys = {
  /** The last `component_verify_ticket` WeChat pushed: only the next push gives another. */
  ticket: (componentAppId: string) => `${prefixes.ticket}${componentAppId}`,
  /** The component access token: fetched again with the ticket. */
  componentToken: (componentAppId: string) => `${prefixes.componentToken}${componentAppId}`,
  /** An authorized app's refresh token: lost, the app's administrator must authorize again. */
  authorizerRefresh: (appId: string) => `${prefixes.authorizerRefresh}${appId}`
} as const

/** The prefixes of the keys whose value cannot be fetched again. */
const irreplaceable: ReadonlyArray<string> = [prefixes.ticket, prefixes.authorizerRefresh]

/**
 * False for a key whose value cannot be fetched again (a pushed ticket, an authorized app's refresh
 * token); true for an access token (an app's, an authorized app's, the component's), which its
 * source fetches again when it is missing.
 *
 * @internal
 */
export const isRefetchable = (key: string): boolean => !irreplaceable.some((prefix) => key.startsWith(prefix))
