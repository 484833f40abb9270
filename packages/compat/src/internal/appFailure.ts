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

/**
 * How the app's function failed: it threw, its promise rejected, or its promise's answer could not be
 * read (a Proxy's trap threw).
 *
 * @internal
 */
export type Outcome = "threw" | "rejected" | "unreadable"

/** A falsy value as a message shows it: `undefined`, `null`, `0`, `""`, `false`, `NaN`, `0n`. */
const showFalsy = (value: unknown): string =>
  typeof value === "string" ? JSON.stringify(value) : typeof value === "bigint" ? `${value}n` : String(value)

/**
 * The error the caller gets for a failure of the app's function (`name`: "the getToken hook",
 * "this._getUser", "this.request"): the value itself, as under `wechat-oauth`, unless it is falsy
 * (`throw undefined`, `Promise.reject(null)`, a trap throwing `0`): a Node callback reads a falsy
 * `err` as success, so the call would seem to succeed with no result; such a value becomes an
 * `Error` saying what the function did ("the saveToken hook threw undefined"). The one place of that
 * rule: every way the app's function fails but its callback's error (truthy, or it is no error)
 * comes through here.
 *
 * @internal
 */
export const failureOf = (name: string, outcome: Outcome, error: unknown): unknown => {
  if (error) return error
  const shown = showFalsy(error)
  switch (outcome) {
    case "threw":
      return new Error(`${name} threw ${shown}`)
    case "rejected":
      return new Error(`${name}'s promise rejected with ${shown}`)
    case "unreadable":
      return new Error(`${name}'s answer could not be read: it threw ${shown}`)
  }
}
