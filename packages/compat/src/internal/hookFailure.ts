/**
 * The failure of a user's `getToken` / `saveToken` hook, in a module of its own so that the errors
 * module can recognise it without importing the hooks (which import the token conversions).
 *
 * @internal
 */

/** @internal */
export type HookName = "getToken" | "saveToken"

/**
 * The failure of a user's hook, kept as the cause of a core `TokenStoreError` so that the compat
 * API hands the hook's own error back, as `wechat-oauth` did.
 *
 * @internal
 */
export class HookFailure {
  readonly _tag = "HookFailure"
  constructor(readonly hook: HookName, readonly error: unknown) {}
}
