/**
 * Where a login or a logout lands.
 *
 * @internal
 */
import { StateToken } from "@wxauth/core"

/**
 * The most bytes a landing path may take once percent-encoded: far more than any page's path and
 * query, and a `Location` header Node and browsers take. Not a state's size: these paths never
 * travel in WeChat's `state` (only `returnTo` does, and `/login` fits it to the state).
 *
 * @internal
 */
export const maxLandingBytes = 2048

/**
 * A path on this site where a login or a logout may land (the `afterLogin` hook's answer, `home`, a
 * verified state's return path), as a browser requests it: `StateToken.normalizeReturnTo`'s rules
 * (dot segments resolved, characters outside ASCII percent-encoded for the `Location` header, never
 * another site), at most `maxLandingBytes`; `undefined` otherwise.
 *
 * @internal
 */
export const landingPath = (value: unknown): string | undefined =>
  StateToken.normalizeReturnTo(value, { maxBytes: maxLandingBytes })
