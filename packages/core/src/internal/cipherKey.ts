/**
 * The key of a `TokenCipher` key ring (defined here so `WeChatConfig` and `TokenCipher` share it
 * without importing each other).
 *
 * @internal
 */
import type * as Redacted from "effect/Redacted"

/** @internal */
export interface CipherKey {
  /** Names the key in sealed values, so keys can rotate: `[A-Za-z0-9_-]{1,32}`. */
  readonly id: string
  /** 32 bytes, as 64 hex characters or 44 base64 characters. */
  readonly key: Redacted.Redacted<string>
}
