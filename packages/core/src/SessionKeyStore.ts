/**
 * Where mini-program users' session keys are kept (keyed by appId and openid), so that
 * `MiniProgram.checkSessionKey` / `resetSessionKey` work without the app keeping them itself.
 * Shared stores seal each key with the `TokenCipher` in context, bound to its appId and openid.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Arguments from "./internal/arguments.js"
import * as Bounded from "./internal/boundedStore.js"
import * as SessionKeyRule from "./internal/sessionKey.js"
import * as StoreIds from "./internal/storeIds.js"
import * as TokenCipher from "./TokenCipher.js"
import { TokenStoreError } from "./WeChatError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface SessionKeyStoreShape {
  readonly get: (
    appId: string,
    openid: string
  ) => Effect.Effect<Option.Option<Redacted.Redacted<string>>, TokenStoreError>
  readonly set: (
    appId: string,
    openid: string,
    sessionKey: Redacted.Redacted<string>
  ) => Effect.Effect<void, TokenStoreError>
  readonly remove: (appId: string, openid: string) => Effect.Effect<void, TokenStoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class SessionKeyStore extends Context.Tag("@wxauth/core/SessionKeyStore")<
  SessionKeyStore,
  SessionKeyStoreShape
>() {}

/**
 * For store adapters: marks a store whose every operation has a deadline of its own (a command or
 * operation timeout), so that wxauth uses it as it is. wxauth runs each operation of a store that
 * is not marked (a store of your own) under a deadline of 10 seconds: past it the operation is
 * interrupted and fails with a `TokenStoreError`. Mark only a store that cannot hang. A value
 * without the store's operations is not marked.
 *
 * @since 0.1.0
 * @category utils
 */
export const markBounded = (store: SessionKeyStoreShape): void => Bounded.markStore(store, "sessionKeyStore")

/**
 * How long a session key is kept by default: 30 days (WeChat gives no expiry; a user who has not
 * logged in for a month logs in again).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTtl: Duration.Duration = Duration.days(30)

/** The ids' rule of every store (`TokenStore.checkUser`): the description of a refusal, else `undefined`. */
const refusal = StoreIds.userRefusal

const badKey = (operation: string, description: string) => Effect.fail(new TokenStoreError({ operation, description }))

/**
 * The longest stored value: `decode` refuses a longer one before it is decrypted, and `encode`
 * refuses to give one (a custom `TokenCipher` whose output is longer: what `set` stored could never
 * be read). A session key (at most 256 characters) sealed by our `TokenCipher` (its prefix, key
 * id, IV and tag in base64url) is under 600.
 */
const maxStoredLength = 1024

/**
 * For store adapters: the longest stored value, in UTF-8 bytes, that `makeCodec`'s `decode` can
 * read: 3,072, three times the 1,024 characters (UTF-16 code units) it reads, each at most three
 * bytes in UTF-8 (a custom `TokenCipher`'s output need not be ASCII). A store refuses a longer value
 * with a `TokenStoreError` without fetching it (Redis: `HSTRLEN` in the script that reads it; SQL:
 * its length in the query), so that a value planted under a user's key is not transferred on every
 * read of that user. A value of 1,025 characters up to this bound is fetched, and `decode` refuses it.
 *
 * @since 0.2.0
 * @category constants
 */
export const maxStoredValueBytes: number = 3 * maxStoredLength

/** Whether `value` is a stored value `decode` opens: 1 to `maxStoredLength` characters. */
const isStorable = (value: unknown): value is string =>
  typeof value === "string" && value.length > 0 && value.length <= maxStoredLength

const tooLong = new TokenStoreError({
  operation: "encode",
  description:
    `the sealed session key is not 1 to ${maxStoredLength} characters (the TokenCipher's output), which no store could read back`
})

const doesNotDecode = new TokenStoreError({
  operation: "get",
  description: "the stored session key does not decode (not written by wxauth, or corrupted)"
})

/** The key's text when it is one (the rule WeChat's answers are held to), else `undefined`. */
const keyText = (u: unknown): string | undefined => {
  // never a throw: a Proxy or an object posing as Redacted is not a key
  const text = Arguments.redactedText(u)
  return SessionKeyRule.isSessionKeyText(text) ? text : undefined
}

const notAKey = (operation: string) =>
  new TokenStoreError({
    operation,
    description: "the session key must be a Redacted string of 1 to 256 printable ASCII characters"
  })

/**
 * The longest `ttl` the memory store takes: 365 days (it keeps no timer: a key's expiry is compared
 * with `Clock` when it is read). A longer one, `Infinity` included, is the default, as any other
 * `ttl` it does not take is: a key kept for ever would never be asked of WeChat again.
 */
const maxMemoryTtl = Duration.days(365)

/**
 * Builds a memory store (one process), bounded: at most `maxEntries` keys (default 100,000; the least
 * recently written go first), each kept `ttl` (default 30 days). `ttl` is a positive, finite duration
 * of at most 365 days (a number is milliseconds); anything else (`NaN`, `-1`, `0`,
 * `"-5 seconds"`, `Infinity`, `"400 days"`, a text that is no duration) is the default, 30 days,
 * never a zero lifetime that would forget each key as it is written. (This constructor cannot fail;
 * the shared stores refuse such a `ttl` with an `InvalidArgument`.)
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (
  options?: { readonly maxEntries?: number | undefined; readonly ttl?: Duration.DurationInput | undefined }
): Effect.Effect<SessionKeyStoreShape> =>
  Effect.sync(() => {
    // options that cannot be read (a revoked Proxy) are the defaults
    const fields = Arguments.optionsOf(options, ["maxEntries", "ttl"]) ?? {}
    const maxEntries = Arguments.entriesBound(fields.maxEntries, 100_000)
    // the one reader of such options: Duration.decode read NaN, -1 and "-5 seconds" as zero (each
    // key expired as it was written) and Infinity as a key kept for ever
    const ttl = Duration.toMillis(
      Option.getOrElse(
        Arguments.positiveDurationOf(fields.ttl, Duration.toMillis(maxMemoryTtl)),
        () => defaultTtl
      )
    )
    const keys = new Map<string, { readonly key: Redacted.Redacted<string>; readonly expiresAt: number }>()
    const keyOf = (appId: string, openid: string) => `${appId}\u0000${openid}`
    // in this process, it cannot hang: used as it is (see internal/boundedStore.ts)
    return Bounded.markBounded(
      SessionKeyStore.of({
        get: (appId, openid) => {
          const refused = refusal(appId, openid)
          return refused === undefined
            ? Effect.map(Clock.currentTimeMillis, (now) => {
              const entry = keys.get(keyOf(appId, openid))
              return entry !== undefined && entry.expiresAt > now ? Option.some(entry.key) : Option.none()
            })
            : badKey("get", refused)
        },
        set: (appId, openid, sessionKey) => {
          const refused = refusal(appId, openid)
          if (refused !== undefined) return badKey("set", refused)
          if (keyText(sessionKey) === undefined) return Effect.fail(notAKey("set"))
          return Effect.map(Clock.currentTimeMillis, (now) => {
            const key = keyOf(appId, openid)
            keys.delete(key)
            keys.set(key, { key: sessionKey, expiresAt: now + ttl })
            for (const k of keys.keys()) {
              if (keys.size <= maxEntries) break
              keys.delete(k)
            }
          })
        },
        remove: (appId, openid) => {
          const refused = refusal(appId, openid)
          return refused === undefined
            ? Effect.sync(() => void keys.delete(keyOf(appId, openid)))
            : badKey("remove", refused)
        }
      }),
      "sessionKeyStore"
    )
  })

/**
 * The memory store as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<SessionKeyStore> = Layer.effect(SessionKeyStore, makeMemory())

/**
 * Seals a session key for a shared store, and opens it, through the `TokenCipher` in context
 * (identity when none is provided), bound to its appId and openid. `decode` holds what it opens to
 * the rule `encode` does (1 to 256 printable ASCII characters), and refuses a stored value of more
 * than 1,024 characters before decrypting it: a `TokenStoreError` that never quotes the value (a
 * shared store does not fetch a value longer than `maxStoredValueBytes`).
 * `encode` refuses (`TokenStoreError`) to give a value `decode` would refuse: a custom cipher whose
 * output is over 1,024 characters fails the store's `set`, instead of storing a key never read.
 *
 * @since 0.1.0
 * @category models
 */
export interface Codec {
  readonly encode: (
    appId: string,
    openid: string,
    sessionKey: Redacted.Redacted<string>
  ) => Effect.Effect<string, TokenStoreError>
  readonly decode: (
    appId: string,
    openid: string,
    value: string
  ) => Effect.Effect<Redacted.Redacted<string>, TokenStoreError>
}

/**
 * Builds the `Codec` for the `TokenCipher` in context. Store adapters call it once in their `make`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeCodec: Effect.Effect<Codec> = Effect.map(
  Effect.serviceOption(TokenCipher.TokenCipher),
  (maybeCipher) => {
    const cipher = Option.getOrElse(maybeCipher, () => TokenCipher.identity)
    const aad = (appId: string, openid: string) => `session-key\u0000${appId}\u0000${openid}`
    return {
      encode: (appId, openid, sessionKey) => {
        const text = keyText(sessionKey)
        return text === undefined
          ? Effect.fail(notAKey("encode"))
          : Effect.flatMap(
            cipher.encrypt(text, aad(appId, openid)),
            (sealed) => isStorable(sealed) ? Effect.succeed(sealed) : Effect.fail(tooLong)
          )
      },
      // what a store gives back is held to the rule `set` is: a planted value (of any size, of any
      // text) is refused, its size before it is decrypted, and never quoted
      decode: (appId, openid, value) =>
        !isStorable(value)
          ? Effect.fail(doesNotDecode)
          : Effect.flatMap(
            cipher.decrypt(value, aad(appId, openid)),
            (text) =>
              SessionKeyRule.isSessionKeyText(text) ? Effect.succeed(Redacted.make(text)) : Effect.fail(doesNotDecode)
          )
    }
  }
)
