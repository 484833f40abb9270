/**
 * Each mini-program user's current `session_key`, per app: set by `sns/jscode2session` (the key
 * behind the `js_code`) and by `wxa/resetusersessionkey` (a new one); read by `encryptUserData` and
 * the signature checks of `wxa/checksession` and `wxa/resetusersessionkey`. Only the current key
 * verifies.
 *
 * @internal
 */

const keyOf = (appId: string, userId: string) => `${appId}\u0000${userId}`

/** @internal */
export class SessionKeys {
  private readonly keys = new Map<string, string>()

  /** The user's current session_key in the app, if the user has logged in. */
  get(appId: string, userId: string): string | undefined {
    return this.keys.get(keyOf(appId, userId))
  }

  /** Makes `sessionKey` the user's current one in the app: the previous one no longer verifies. */
  set(appId: string, userId: string, sessionKey: string): void {
    this.keys.set(keyOf(appId, userId), sessionKey)
  }
}
