/**
 * Where tokens live: one per (appId, openid), newer wins. A memory store for one process, and the
 * interface the shared stores (`@wxauth/store-redis`, `@wxauth/store-sql`) implement. Every store
 * runs the contract suite `tokenStoreSuite` from `@wxauth/core/testing`.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Crypto from "node:crypto"
import * as Arguments from "./internal/arguments.js"
import * as Bounded from "./internal/boundedStore.js"
import { guardOr } from "./internal/guard.js"
import { safeName } from "./internal/sessions.js"
import * as StoredToken from "./internal/storedToken.js"
import * as StoreIds from "./internal/storeIds.js"
import { withPeek } from "./internal/tokenPeek.js"
import { accessTokenText, refreshTokenText } from "./internal/tokenSecret.js"
import * as OAuthToken from "./OAuthToken.js"
import * as TokenCipher from "./TokenCipher.js"
import { TokenStoreError } from "./WeChatError.js"

/**
 * What a store remembers of an exchanged code, so that a duplicate callback gets the same token
 * instead of WeChat's 40163. Keyed by a hash of the code: no store ever holds a code.
 *
 * @since 0.1.0
 * @category models
 */
export class CodeMemo extends Schema.Class<CodeMemo>("@wxauth/core/CodeMemo")({
  openid: Schema.String,
  /** Hash of the browser binding carried by the state, when there was one. */
  binding: Schema.optional(Schema.String),
  exchangedAt: Schema.Number,
  expiresAt: Schema.Number
}) {}

/**
 * The store's operations. `set` keeps the token with the later `obtainedAt` (on a tie the last
 * write wins); `get` returns `None` once the refresh token's life is over (by `Clock`).
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenStoreShape {
  readonly get: (appId: string, openid: string) => Effect.Effect<Option.Option<OAuthToken.OAuthToken>, TokenStoreError>
  readonly set: (appId: string, token: OAuthToken.OAuthToken) => Effect.Effect<void, TokenStoreError>
  readonly remove: (appId: string, openid: string) => Effect.Effect<void, TokenStoreError>
  /** Remembers an exchanged code (by hash) until `memo.expiresAt`. */
  readonly rememberCode: (appId: string, codeHash: string, memo: CodeMemo) => Effect.Effect<void, TokenStoreError>
  /** Recalls a remembered code, `None` when unknown or past `expiresAt`. */
  readonly recallCode: (appId: string, codeHash: string) => Effect.Effect<Option.Option<CodeMemo>, TokenStoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TokenStore extends Context.Tag("@wxauth/core/TokenStore")<TokenStore, TokenStoreShape>() {}

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
export const markBounded = (store: TokenStoreShape): void => Bounded.markStore(store, "tokenStore")

// the operation is the adapter's: a short word, else "operation" (never formatted as it is)
const refuse = (operation: string, description: string): Effect.Effect<never, TokenStoreError> =>
  Effect.fail(new TokenStoreError({ operation: safeName(operation, "operation"), description }))

/**
 * For store adapters: fails with a `TokenStoreError` unless `appId` is an appid of 1 to 64
 * characters of `A-Z a-z 0-9 _ -` (the rule of the apps' configuration). The error names the rule,
 * never the value. The one rule of every store's appId (`TokenStore`, `SessionKeyStore`,
 * `SessionStore`): ASCII without a space, so that no database takes two appids for one row, and
 * without `:`, so that a key joining the appId and another id with `:` is one pair's only.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkAppId = (operation: string, appId: unknown): Effect.Effect<void, TokenStoreError> =>
  StoreIds.isAppId(appId) ? Effect.void : refuse(operation, StoreIds.describe.appId)

/**
 * For store adapters: fails with a `TokenStoreError` unless `appId` holds `checkAppId`'s rule and
 * `openid` is 1 to 128 printable ASCII characters without a space (the rule of WeChat's user ids).
 * An id with a trailing space, or with a character outside ASCII (a lone surrogate, which
 * PostgreSQL and MariaDB write as U+FFFD), is refused: a database would take it for another user's
 * (MariaDB's PAD SPACE collations compare `'o1'` and `'o1 '` as equal). The error names the rule,
 * never the value. Also the rule of `SessionKeyStore`'s (appId, openid).
 *
 * @since 0.1.0
 * @category validation
 */
export const checkUser = (operation: string, appId: unknown, openid: unknown): Effect.Effect<void, TokenStoreError> => {
  const refused = StoreIds.userRefusal(appId, openid)
  return refused === undefined ? Effect.void : refuse(operation, refused)
}

/**
 * For store adapters: fails with a `TokenStoreError` unless `appId` holds `checkAppId`'s rule and
 * `codeHash` is 1 to 128 printable ASCII characters without a space (`hashCode` gives 64 hex
 * digits). The error names the rule, never the value.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkCode = (operation: string, appId: unknown, codeHash: unknown): Effect.Effect<void, TokenStoreError> =>
  StoreIds.isAppId(appId) && StoreIds.isUserId(codeHash) ? Effect.void : refuse(operation, codeRefusal(appId))

const codeRefusal = (appId: unknown): string =>
  StoreIds.isAppId(appId) ? StoreIds.describe.codeHash : StoreIds.describe.appId

/** What `checkToken` saw: a value that is no `OAuthToken`, or one that cannot be read. */
const notAToken = Symbol("notAToken")
const unreadableToken = Symbol("unreadableToken")

const isText = (u: unknown): u is string => typeof u === "string"

/**
 * A caller's token read once, every field, under a guard: a fresh `OAuthToken` of those values, or
 * what was wrong. A token is an object with `OAuthToken`'s private fields (its tokens, read there:
 * a Proxy or an object posing as a token has none, and no trap of a Proxy runs on that look).
 */
const snapshotOf = (token: unknown): OAuthToken.OAuthToken | typeof notAToken | typeof unreadableToken =>
  guardOr(() => {
    if (typeof token !== "object" || token === null) return notAToken
    const real = token as OAuthToken.OAuthToken
    const accessToken = accessTokenText(real)
    const refreshToken = refreshTokenText(real)
    if (!isText(accessToken) || !isText(refreshToken)) return notAToken
    // one read of each field; the scope copied element by element once
    const { expiresAt, isSnapshotUser, obtainedAt, openid, refreshExpiresAt, scope, unionid } = real
    const scopes: ReadonlyArray<unknown> | undefined = Array.isArray(scope)
      ? Array.from(scope as ReadonlyArray<unknown>)
      : undefined
    if (
      !isText(openid) || scopes === undefined || !scopes.every(isText) || (unionid !== undefined && !isText(unionid)) ||
      typeof isSnapshotUser !== "boolean" || typeof obtainedAt !== "number" || typeof expiresAt !== "number" ||
      typeof refreshExpiresAt !== "number"
    ) return notAToken
    return new OAuthToken.OAuthToken({
      openid,
      accessToken: Redacted.make(accessToken),
      refreshToken: Redacted.make(refreshToken),
      scope: scopes as ReadonlyArray<string>,
      ...(unionid === undefined ? {} : { unionid }),
      isSnapshotUser,
      obtainedAt,
      expiresAt,
      refreshExpiresAt
    }, true) // checked above, field by field: no second read of anything
  }, unreadableToken)

/**
 * For store adapters: reads every field of the token a `set` is given once, under a guard, and
 * answers a fresh `OAuthToken` of those values, whose `openid` holds `checkUser`'s rule (1 to 128
 * printable ASCII characters without a space). Use only the answer from then on (for the key, the
 * encoding, a cache): a JavaScript caller's value may be a Proxy posing as a token, or a token whose
 * getters answer differently on each read, or throw after a few. Anything but an `OAuthToken` of
 * the schema's types is a `TokenStoreError` ("the value is not an OAuthToken"), and so is a value
 * that throws when read ("the value cannot be read") or an openid out of the rule; no error quotes
 * the value.
 *
 * @example
 * ```ts
 * import { TokenStore } from "@wxauth/core"
 * import * as Effect from "effect/Effect"
 *
 * const set = (appId: string, token: unknown) =>
 *   Effect.flatMap(TokenStore.checkToken("set", token), (checked) =>
 *     // checked.openid, checked.obtainedAt...: read from the answer, never from `token`
 *     TokenStore.checkUser("set", appId, checked.openid))
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const checkToken = (
  operation: string,
  token: unknown
): Effect.Effect<OAuthToken.OAuthToken, TokenStoreError> => {
  const snapshot = snapshotOf(token)
  if (snapshot === notAToken) return refuse(operation, "the value is not an OAuthToken")
  if (snapshot === unreadableToken) return refuse(operation, "the value cannot be read")
  return StoreIds.isUserId(snapshot.openid) ? Effect.succeed(snapshot) : refuse(operation, StoreIds.describe.openid)
}

/** What `checkMemo` saw: a value that is no `CodeMemo`, or one that cannot be read. */
const notAMemo = Symbol("notAMemo")
const unreadableMemo = Symbol("unreadableMemo")

/**
 * For store adapters: reads every field of the memo a `rememberCode` is given once, under a guard,
 * and answers a fresh `CodeMemo` of those values. Use only the answer from then on (for the time
 * checks, the encoding, the expiry or TTL, a map): a JavaScript caller's value may be a Proxy, or a
 * memo whose getters answer differently on each read (a 5-minute memo kept for ever), or throw
 * after a few. Anything but a `CodeMemo` of the schema's types is a `TokenStoreError` ("the value is
 * not a CodeMemo"), and so is a value that throws when read ("the value cannot be read"); no error
 * quotes the value or what it threw. The times are not checked here: each store holds them to its
 * own range.
 *
 * @since 0.2.0
 * @category validation
 */
export const checkMemo = (operation: string, memo: unknown): Effect.Effect<CodeMemo, TokenStoreError> => {
  const snapshot = guardOr((): CodeMemo | typeof notAMemo => {
    if (!(memo instanceof CodeMemo)) return notAMemo
    // one read of each field
    const { binding, exchangedAt, expiresAt, openid } = memo
    if (
      !isText(openid) || (binding !== undefined && !isText(binding)) || typeof exchangedAt !== "number" ||
      typeof expiresAt !== "number"
    ) return notAMemo
    return new CodeMemo({ openid, ...(binding === undefined ? {} : { binding }), exchangedAt, expiresAt }, true)
  }, unreadableMemo)
  return snapshot === notAMemo
    ? refuse(operation, "the value is not a CodeMemo")
    : snapshot === unreadableMemo
    ? refuse(operation, "the value cannot be read")
    : Effect.succeed(snapshot)
}

/**
 * The hash under which a code is remembered (SHA-256, hex).
 *
 * @since 0.1.0
 * @category utils
 */
export const hashCode = (code: string): string =>
  Crypto.createHash("sha256")
    // a code that is not a string (a JavaScript caller's mistake) hashes as its type and text
    .update(
      typeof code === "string"
        ? code
        : `\u0000${typeof code}\u0000${guardOr(() => String(code), "\u0000unreadable")}`,
      "utf8"
    )
    .digest("hex")

/**
 * Options of the memory store.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryOptions {
  /** At most this many tokens (and as many code memos); the least recently written go first. Default 100,000. */
  readonly maxEntries?: number | undefined
}

// One prefix string per app, shared by its keys: each key is then the prefix and the token's own
// openid, joined without a copy of either (40 bytes less per stored token than a fresh prefix).
const prefixes = new Map<string, string>()

const keyOf = (appId: string, openid: string) => {
  let prefix = prefixes.get(appId)
  if (prefix === undefined) {
    prefix = `${appId}\u0000`
    if (prefixes.size < 1024) prefixes.set(appId, prefix)
  }
  return prefix + openid
}

/** The memory store's keys are made of strings: anything else (a JavaScript caller's mistake) is refused. */
const areIds = (appId: unknown, id: unknown): boolean => typeof appId === "string" && typeof id === "string"

const notIds = (operation: string) =>
  Effect.fail(new TokenStoreError({ operation, description: "the appId and the openid / code hash must be strings" }))

/**
 * A code memo the memory store can keep: the fresh copy `checkMemo` read (the caller's object is
 * never kept: a getter would answer the map another expiry later) whose times are finite, as the
 * shared stores' codec and Redis' checks require. A memo of another kind was kept and broke the
 * store's later reads (a revoked Proxy threw out of `recallCode` and out of the `set` that evicts
 * it); one whose `expiresAt` is `NaN` never expired, past the memo's short window.
 */
const storableMemo = (memo: unknown): Effect.Effect<CodeMemo, TokenStoreError> =>
  Effect.flatMap(
    Effect.mapError(checkMemo("rememberCode", memo), (error) =>
      error.description === "the value cannot be read" ? error : notStorableMemo),
    (read) =>
      Number.isFinite(read.exchangedAt) && Number.isFinite(read.expiresAt) ? Effect.succeed(read) : notStorableMemo
  )

const notStorableMemo = new TokenStoreError({
  operation: "rememberCode",
  description: "the value is not a CodeMemo with finite exchangedAt and expiresAt"
})

/**
 * A bounded map that forgets entries past their expiry and, when full, the least recently written.
 */
const makeBoundedMap = <A>(maxEntries: number, expiresAt: (a: A) => number) => {
  const map = new Map<string, A>()
  return {
    map,
    get: (key: string, now: number): A | undefined => {
      const value = map.get(key)
      if (value === undefined) return undefined
      if (expiresAt(value) <= now) {
        map.delete(key)
        return undefined
      }
      return value
    },
    set: (key: string, value: A, now: number) => {
      map.delete(key)
      map.set(key, value)
      if (map.size <= maxEntries) return
      // full: look at a bounded slice of the oldest entries, dropping the expired ones, and drop the
      // oldest if that freed nothing (expired entries elsewhere go when read)
      let looked = 0
      for (const [k, v] of map) {
        if (map.size <= maxEntries || looked++ >= 64) break
        if (expiresAt(v) <= now) map.delete(k)
      }
      for (const k of map.keys()) {
        if (map.size <= maxEntries) break
        map.delete(k)
      }
    }
  }
}

/**
 * Builds a memory store: fast, per process, bounded in size. Use a shared store when several
 * processes serve the same users.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (options?: MemoryOptions): Effect.Effect<TokenStoreShape> =>
  Effect.sync(() => {
    // an option that cannot be read (a revoked Proxy), or is not a number, is the default
    const maxEntries = Arguments.entriesBound(guardOr(() => options?.maxEntries, undefined), 100_000)
    const tokens = makeBoundedMap<OAuthToken.OAuthToken>(maxEntries, (token) => token.refreshExpiresAt)
    const codes = makeBoundedMap<CodeMemo>(maxEntries, (memo) => memo.expiresAt)
    const store = TokenStore.of({
      // the ids' rule (checkUser) where a token enters or is named; getUser's hot path reads through
      // the peek below, which finds nothing under ids set refused
      get: (appId, openid) =>
        !areIds(appId, openid)
          ? notIds("get")
          : StoreIds.userRefusal(appId, openid) !== undefined
          ? refuse("get", StoreIds.userRefusal(appId, openid)!)
          : Effect.clockWith((clock) =>
            Effect.succeed(Option.fromNullable(tokens.get(keyOf(appId, openid), clock.unsafeCurrentTimeMillis())))
          ),
      set: (appId, token) => {
        if (typeof appId !== "string") return notIds("set")
        if (!StoreIds.isAppId(appId)) return refuse("set", StoreIds.describe.appId)
        // the caller's token is read once (checkToken: under a guard, every field) and only the
        // fresh copy is compared and kept: nothing later reads the caller's object
        return Effect.flatMap(checkToken("set", token), (checked) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            const key = keyOf(appId, checked.openid)
            const existing = tokens.get(key, now)
            if (existing !== undefined && existing.obtainedAt > checked.obtainedAt) return
            tokens.set(key, checked, now)
          }))
      },
      remove: (appId, openid) =>
        !areIds(appId, openid)
          ? notIds("remove")
          : StoreIds.userRefusal(appId, openid) !== undefined
          ? refuse("remove", StoreIds.userRefusal(appId, openid)!)
          : Effect.sync(() => {
            tokens.map.delete(keyOf(appId, openid))
          }),
      rememberCode: (appId, codeHash, memo) =>
        !areIds(appId, codeHash)
          ? notIds("rememberCode")
          : !StoreIds.isAppId(appId) || !StoreIds.isUserId(codeHash)
          ? refuse("rememberCode", codeRefusal(appId))
          // the caller's memo is read once (checkMemo): only the fresh copy is kept
          : Effect.flatMap(
            storableMemo(memo),
            (read) => Effect.map(Clock.currentTimeMillis, (now) => codes.set(keyOf(appId, codeHash), read, now))
          ),
      recallCode: (appId, codeHash) =>
        !areIds(appId, codeHash)
          ? notIds("recallCode")
          : !StoreIds.isAppId(appId) || !StoreIds.isUserId(codeHash)
          ? refuse("recallCode", codeRefusal(appId))
          : Effect.map(Clock.currentTimeMillis, (now) => Option.fromNullable(codes.get(keyOf(appId, codeHash), now)))
    })
    // getUser's hot path reads as `get` does, in its own step (see internal/tokenPeek.ts)
    // in this process, it cannot hang: used as it is (see internal/boundedStore.ts)
    return Bounded.markBounded(
      withPeek(
        store,
        (appId, openid, now) => areIds(appId, openid) ? tokens.get(keyOf(appId, openid), now) : undefined
      ),
      "tokenStore"
    )
  })

/**
 * The memory store with default options.
 *
 * @example
 * ```ts
 * import { TokenStore, WeChatOAuth } from "@wxauth/core"
 * import * as Layer from "effect/Layer"
 *
 * // one process, the tests, the sandbox: the users' tokens in this process's memory
 * const OAuthInMemory = WeChatOAuth.layer.pipe(Layer.provide(TokenStore.layerMemory))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<TokenStore> = Layer.effect(TokenStore, makeMemory())

/**
 * The memory store with options.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemoryWith = (options: MemoryOptions): Layer.Layer<TokenStore> =>
  Layer.effect(TokenStore, makeMemory(options))

/**
 * Turns tokens and code memos into the strings a shared store persists, and back, through the
 * `TokenCipher` in context (identity when none is provided). Sealed values are bound to their
 * (appId, openid) or (appId, code hash).
 *
 * @since 0.1.0
 * @category models
 */
export interface Codec {
  readonly encodeToken: (appId: string, token: OAuthToken.OAuthToken) => Effect.Effect<string, TokenStoreError>
  readonly decodeToken: (
    appId: string,
    openid: string,
    value: string
  ) => Effect.Effect<OAuthToken.OAuthToken, TokenStoreError>
  readonly encodeMemo: (appId: string, codeHash: string, memo: CodeMemo) => Effect.Effect<string, TokenStoreError>
  readonly decodeMemo: (appId: string, codeHash: string, value: string) => Effect.Effect<CodeMemo, TokenStoreError>
}

const encodeMemoJson = Schema.encode(Schema.parseJson(CodeMemo))
const decodeMemoJson = Schema.decode(Schema.parseJson(CodeMemo))

/**
 * For store adapters: the longest stored value, in UTF-8 bytes, that can be a token (a user's or an
 * app's) or a code memo: the longest JSON a codec reads (`OAuthToken.maxEncodedLength` characters)
 * sealed by `TokenCipher`, about 256 KB (a token is a few hundred bytes). A store refuses a longer
 * value with a `TokenStoreError` without fetching it (Redis: `HSTRLEN` in the script that reads it;
 * SQL: its length in the query), so that a value planted under a user's key is not transferred and
 * held on every read of that user.
 *
 * @since 0.2.0
 * @category constants
 */
export const maxStoredValueBytes: number = StoredToken.maxValueBytes(OAuthToken.maxEncodedLength)

/**
 * Builds the `Codec` for the `TokenCipher` in context. Store adapters call it once in their `make`.
 *
 * A stored token whose times no store writes, or whose stamp no later write could follow (past
 * 2^53 - 3, `Infinity` from a JSON `1e400`), does not decode: a `TokenStoreError`, as a value that
 * is not a token (the write replacing it would be stamped after it, and refused). A token whose
 * times a store would refuse does not encode.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeCodec: Effect.Effect<Codec> = Effect.map(
  Effect.serviceOption(TokenCipher.TokenCipher),
  (maybeCipher) => {
    const cipher = Option.getOrElse(maybeCipher, () => TokenCipher.identity)
    // The parse error is not kept as the cause: it would quote the stored value, tokens included.
    const invalid = (operation: string, what: string) => () =>
      new TokenStoreError({
        operation,
        description: `the stored ${what} does not decode (not written by wxauth, or corrupted)`
      })
    const encodeFailed = (what: string) => () =>
      new TokenStoreError({ operation: "encode", description: `the ${what} does not encode` })
    return {
      // the token is read once (checkToken): the JSON and the associated data are of one copy
      encodeToken: (appId, token) =>
        Effect.flatMap(
          Effect.mapError(checkToken("encode", token), encodeFailed("token")),
          (checked) => {
            const { expiresAt, obtainedAt, refreshExpiresAt } = checked
            const unwritable = StoredToken.unwritableField({ obtainedAt, expiresAt, refreshExpiresAt })
            return unwritable !== undefined
              ? Effect.fail(StoredToken.unwritableTime("token", unwritable))
              : Effect.mapError(OAuthToken.encodeJson(checked), encodeFailed("token")).pipe(
                Effect.flatMap((json) => cipher.encrypt(json, `token\u0000${appId}\u0000${checked.openid}`))
              )
          }
        ),
      decodeToken: (appId, openid, value) =>
        cipher.decrypt(value, `token\u0000${appId}\u0000${openid}`).pipe(
          Effect.flatMap((json) => Effect.mapError(OAuthToken.decodeJson(json), invalid("get", "token"))),
          Effect.filterOrFail(
            (token) => token.openid === openid,
            () => new TokenStoreError({ operation: "get", description: "the stored token belongs to another openid" })
          ),
          Effect.filterOrFail(
            (token) => StoredToken.hasReadableTimes(token.obtainedAt, token.expiresAt, token.refreshExpiresAt),
            () => StoredToken.unreadableTimes("token")
          )
        ),
      // the memo is read once (checkMemo): the JSON is of one copy
      encodeMemo: (appId, codeHash, memo) =>
        Effect.flatMap(Effect.mapError(checkMemo("encode", memo), encodeFailed("code memo")), encodeMemoJson).pipe(
          Effect.mapError(encodeFailed("code memo")),
          Effect.flatMap((json) => cipher.encrypt(json, `code\u0000${appId}\u0000${codeHash}`))
        ),
      decodeMemo: (appId, codeHash, value) =>
        cipher.decrypt(value, `code\u0000${appId}\u0000${codeHash}`).pipe(
          Effect.flatMap((json) => Effect.mapError(decodeMemoJson(json), invalid("recallCode", "code memo")))
        )
    }
  }
)
