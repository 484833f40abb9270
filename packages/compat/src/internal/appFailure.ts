/**
 * The failures of the app's own functions (its `getToken` / `saveToken` hooks, the methods it
 * overrides, its `request`), in a module of their own so that the errors module can recognise them
 * without importing what calls them. Their error reaches the caller as it is, as under
 * `wechat-oauth`.
 *
 * @internal
 */

/** @internal */
export type HookName = "getToken" | "saveToken"

/**
 * The failure of a user's hook, kept as the cause of a core `TokenStoreError` (hooks run inside
 * the core's `TokenStore`) so that the compat API hands the hook's own error back.
 *
 * @internal
 */
export class HookFailure {
  readonly _tag = "HookFailure"
  constructor(readonly hook: HookName, readonly error: unknown) {}
}

/**
 * The failure of a method the app overrides (`_getUser`, `refreshAccessToken`, ...) or of its
 * `request`: the error it called back with (or threw, or rejected with), handed back as it is.
 *
 * @internal
 */
export class AppFailure {
  readonly _tag = "AppFailure"
  constructor(readonly source: string, readonly error: unknown) {}
}
