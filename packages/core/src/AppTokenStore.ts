/**
 * Where an app's access token (the app-level token, not a user's OAuth token) is kept, shared by
 * every process of the app: one token per appId, the newest wins. A memory store for one process;
 * the Redis and SQL packages give shared ones. Separate from `TokenStore`, so existing stores keep
 * working unchanged.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Arguments from "./internal/arguments.js"
import * as Bounded from "./internal/boundedStore.js"
import * as ComponentKeys from "./internal/component/keys.js"
import { guardOr } from "./internal/guard.js"
import * as MemoryStore from "./internal/memoryStore.js"
import { safeName } from "./internal/sessions.js"
import * as StoredToken from "./internal/storedToken.js"
import * as StoreIds from "./internal/storeIds.js"
import * as TokenCipher from "./TokenCipher.js"
import { TokenStoreError } from "./WeChatError.js"

/**
 * An app access token: its value (`Redacted`), when it was obtained and when it expires (epoch ms).
 *
 * @since 0.1.0
 * @category models
 */
export class AppAccessToken extends Schema.Class<AppAccessToken>("@wxauth/core/AppAccessToken")({
  accessToken: Schema.Redacted(Schema.String),
  obtainedAt: Schema.Number,
  expiresAt: Schema.Number
}) {
  /**
   * True when the token is still valid `skewMillis` from `now`.
   *
   * @since 0.1.0
   */
  isFresh(now: number, skewMillis = 0): boolean {
    return this.expiresAt - skewMillis > now
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface AppTokenStoreShape {
  /** The stored token of the app, if any (an expired one is `None`). */
  readonly get: (appId: string) => Effect.Effect<Option.Option<AppAccessToken>, TokenStoreError>
  /** Stores the token unless the stored one is newer (by `obtainedAt`; on a tie the last write wins). */
  readonly set: (appId: string, token: AppAccessToken) => Effect.Effect<void, TokenStoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class AppTokenStore extends Context.Tag("@wxauth/core/AppTokenStore")<AppTokenStore, AppTokenStoreShape>() {}

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
export const markBounded = (store: AppTokenStoreShape): void => Bounded.markStore(store, "appTokenStore")

const notAToken = (operation: string) =>
  Effect.fail(
    new TokenStoreError({ operation, description: "the value is not an AppAccessToken with finite times" })
  )

/** What `checkToken` saw: a value that is no `AppAccessToken`, or one that cannot be read. */
const notATokenValue = Symbol("notAToken")
const unreadableToken = Symbol("unreadableToken")

/**
 * A caller's token read once, every field, under a guard: a fresh `AppAccessToken` of those values
 * (its own `Redacted`), or what was wrong.
 */
const snapshotOf = (token: unknown): AppAccessToken | typeof notATokenValue | typeof unreadableToken =>
  guardOr(() => {
    if (!(token instanceof AppAccessToken)) return notATokenValue
    // one read of each field
    const { accessToken, expiresAt, obtainedAt } = token
    if (!Redacted.isRedacted(accessToken) || typeof obtainedAt !== "number" || typeof expiresAt !== "number") {
      return notATokenValue
    }
    const text: unknown = Redacted.value(accessToken)
    if (typeof text !== "string") return notATokenValue
    // checked above, field by field: no second read of anything
    return new AppAccessToken({ accessToken: Redacted.make(text), obtainedAt, expiresAt }, true)
  }, unreadableToken)

/**
 * For store adapters: reads every field of the token a `set` is given once, under a guard, and
 * answers a fresh `AppAccessToken` of those values. Use only the answer from then on (for the
 * encoding, the stamp, the expiry): a JavaScript caller's value may be a Proxy posing as a token, or
 * an object that passes `instanceof AppAccessToken` whose getters answer differently on each read,
 * or throw after a few (a stamp read apart from the value it was encoded with could then pin the
 * key, every later write refused). Anything but an `AppAccessToken` of the schema's types is a
 * `TokenStoreError` ("the value is not an AppAccessToken"), and so is a value that throws when read
 * ("the value cannot be read"); no error quotes the value. The times are not checked here (see
 * `makeCodec`'s `encode`). The codec's `encode` reads its token through it too.
 *
 * @example
 * ```ts
 * import { AppTokenStore } from "@wxauth/core"
 * import * as Effect from "effect/Effect"
 *
 * const set = (appId: string, token: AppTokenStore.AppAccessToken) =>
 *   Effect.flatMap(AppTokenStore.checkToken("set", token), (checked) =>
 *     // checked.obtainedAt, checked.expiresAt...: read from the answer, never from `token`
 *     Effect.log(appId, checked.obtainedAt))
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const checkToken = (operation: string, token: unknown): Effect.Effect<AppAccessToken, TokenStoreError> =>
  Effect.suspend(() => {
    const snapshot = snapshotOf(token)
    const refused = (description: string) =>
      Effect.fail(new TokenStoreError({ operation: safeName(operation, "operation"), description }))
    return snapshot === notATokenValue
      ? refused("the value is not an AppAccessToken")
      : snapshot === unreadableToken
      ? refused("the value cannot be read")
      : Effect.succeed(snapshot)
  })

/**
 * For store adapters: fails with a `TokenStoreError` unless `key` is a key of this store: 1 to 64
 * printable ASCII characters, no space. A key is an appid, or one of the platform's own
 * (`component-token:<appid>`, `component-ticket:<appid>`, `authorizer-refresh:<appid>`). A key
 * with a trailing space, or with a character outside ASCII (a lone surrogate, which PostgreSQL and
 * MariaDB write as U+FFFD), is refused: a database would take it for another key (MariaDB's PAD
 * SPACE collations compare `'wx1'` and `'wx1 '` as equal). The error names the rule, never the
 * value.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkKey = (operation: string, key: unknown): Effect.Effect<void, TokenStoreError> =>
  StoreIds.isAppTokenKey(key)
    ? Effect.void
    : Effect.fail(
      new TokenStoreError({ operation: safeName(operation, "operation"), description: StoreIds.describe.appTokenKey })
    )

const isAppId = StoreIds.isAppTokenKey
const notAnAppId = (operation: string) =>
  Effect.fail(new TokenStoreError({ operation, description: StoreIds.describe.appTokenKey }))

/**
 * Builds a memory store (one process): its entries last as long as the process.
 *
 * Bounded by what can be fetched again: at most `maxEntries` access tokens (an app's, an authorized
 * app's, a platform's component token; default 10,000), the least recently written going first
 * (each is fetched again on its next use). The entries a third-party platform cannot fetch again
 * are never evicted while they are valid, whatever their number: its pushed ticket
 * (`component-ticket:<appid>`, until the next push) and its authorized apps' refresh tokens
 * (`authorizer-refresh:<appid>`, until the app's administrator authorizes again). Those past their
 * expiry (an old ticket, the void entries of withdrawn apps) may be dropped: they are cleared each
 * time the entries of this kind have doubled past `maxEntries`. Access tokens, rewritten every two
 * hours, no longer push the refresh tokens written once out of the store.
 *
 * Use it for one process, or for development: a restart loses every entry, and a platform's
 * authorized apps with it (`Component` logs a warning when built over it). A shared store (Redis,
 * SQL) keeps them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (options?: { readonly maxEntries?: number | undefined }): Effect.Effect<AppTokenStoreShape> =>
  Effect.sync(() => {
    // an option that cannot be read (a revoked Proxy), or is not a number, is the default
    const maxEntries = Arguments.entriesBound(guardOr(() => options?.maxEntries, undefined), 10_000)
    // the access tokens, in the order they were written (the oldest first): bounded
    const refetchable = new Map<string, AppAccessToken>()
    // what cannot be fetched again (`internal/component/keys.ts`): never evicted while valid
    const kept = new Map<string, AppAccessToken>()
    // the size of `kept` past which its expired entries are cleared (amortized: doubled each time)
    let clearKeptAt = maxEntries
    const entries = (key: string) => ComponentKeys.isRefetchable(key) ? refetchable : kept
    // in this process, it cannot hang: used as it is (see internal/boundedStore.ts)
    return MemoryStore.mark(Bounded.markBounded(
      AppTokenStore.of({
        get: (appId) =>
          isAppId(appId)
            ? Effect.map(Clock.currentTimeMillis, (now) => {
              const token = entries(appId).get(appId)
              return token !== undefined && token.isFresh(now) ? Option.some(token) : Option.none()
            })
            : notAnAppId("get"),
        set: (appId, token) =>
          !isAppId(appId)
            ? notAnAppId("set")
            // the caller's token is read once (checkToken: under a guard, every field) and only the
            // fresh copy is compared and kept: nothing later reads the caller's object
            : Effect.flatMap(checkToken("set", token), (checked) =>
              !Number.isFinite(checked.obtainedAt) || !Number.isFinite(checked.expiresAt)
                ? notAToken("set")
                : Effect.map(Clock.currentTimeMillis, (now) => {
                  const map = entries(appId)
                  const existing = map.get(appId)
                  if (existing !== undefined && existing.obtainedAt > checked.obtainedAt) {
                    return
                  }
                  map.delete(appId)
                  map.set(appId, checked)
                  if (map === refetchable) {
                    for (const key of refetchable.keys()) {
                      if (refetchable.size <= maxEntries) {
                        break
                      }
                      refetchable.delete(key)
                    }
                  } else if (kept.size > clearKeptAt) {
                    for (const [key, entry] of kept) {
                      if (!entry.isFresh(now)) {
                        kept.delete(key)
                      }
                    }
                    clearKeptAt = Math.max(maxEntries, kept.size * 2)
                  }
                }))
      }),
      "appTokenStore"
    ))
  })

/**
 * The memory store as a Layer (`makeMemory`: for one process, or for development).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<AppTokenStore> = Layer.effect(AppTokenStore, makeMemory())

/**
 * Turns an app token into the string a shared store persists, and back, through the `TokenCipher`
 * in context (identity when none is provided); sealed values are bound to their appId.
 *
 * @since 0.1.0
 * @category models
 */
export interface Codec {
  readonly encode: (appId: string, token: AppAccessToken) => Effect.Effect<string, TokenStoreError>
  readonly decode: (appId: string, value: string) => Effect.Effect<AppAccessToken, TokenStoreError>
}

const encodeJson = Schema.encode(Schema.parseJson(AppAccessToken))
const decodeJson = Schema.decode(Schema.parseJson(AppAccessToken))

/**
 * Builds the `Codec` for the `TokenCipher` in context. Store adapters call it once in their `make`.
 *
 * As for user tokens (`TokenStore.makeCodec`): a stored app token whose stamp no later write could
 * follow (past 2^53 - 3, `Infinity` from a JSON `1e400`), or whose expiry no store writes, does not
 * decode (a `TokenStoreError`); a token whose times a store would refuse does not encode.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeCodec: Effect.Effect<Codec> = Effect.map(
  Effect.serviceOption(TokenCipher.TokenCipher),
  (maybeCipher) => {
    const cipher = Option.getOrElse(maybeCipher, () => TokenCipher.identity)
    const aad = (appId: string) => `app-token\u0000${appId}`
    return {
      // the token is read once (checkToken): the times checked and the JSON are of one copy
      encode: (appId, token) =>
        Effect.flatMap(checkToken("encode", token), (checked) => {
          const unwritable = StoredToken.unwritableField({
            obtainedAt: checked.obtainedAt,
            expiresAt: checked.expiresAt
          })
          return unwritable !== undefined
            ? Effect.fail(StoredToken.unwritableTime("app token", unwritable))
            : encodeJson(checked).pipe(
              Effect.mapError(() =>
                new TokenStoreError({ operation: "encode", description: "the app token does not encode" })
              ),
              Effect.flatMap((json) => cipher.encrypt(json, aad(appId)))
            )
        }),
      decode: (appId, value) =>
        cipher.decrypt(value, aad(appId)).pipe(
          Effect.flatMap((json) =>
            typeof json === "string" && json.length <= 16_384
              ? decodeJson(json)
              : Effect.fail(new ParseResult.ParseError({ issue: new ParseResult.Type(Schema.String.ast, typeof json) }))
          ),
          // the parse error is not kept: it would quote the stored value, the token included
          Effect.mapError((error) =>
            error._tag === "TokenStoreError" ? error : new TokenStoreError({
              operation: "get",
              description: "the stored app token does not decode (not written by wxauth, or corrupted)"
            })
          ),
          Effect.filterOrFail(
            (token) => StoredToken.hasReadableTimes(token.obtainedAt, token.expiresAt),
            () => StoredToken.unreadableTimes("app token")
          )
        )
    }
  }
)
