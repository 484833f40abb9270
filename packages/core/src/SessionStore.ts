/**
 * Server-side sessions: who a session token stands for (app, openid, scopes) and until when, kept on
 * the server so that a session ends there (logout, expiry, "log out everywhere") whatever copies of
 * the token exist. The client holds a random token (`makeToken`: 32 bytes, base64url); stores keep
 * only its SHA-256 (`hashToken`), so the content of a leaked store opens no session. A memory store
 * for one process, and the interface the shared stores (`@wxauth/store-redis`, `@wxauth/store-sql`)
 * implement; every store runs the contract suite `sessionStoreSuite` from `@wxauth/core/testing`.
 *
 * A session holds no token: WeChat's tokens stay in the `TokenStore`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Bounded from "./internal/boundedStore.js"
import * as internal from "./internal/sessions.js"
import * as store from "./internal/sessionStore.js"
import type { InvalidArgument, SessionStoreError } from "./WeChatError.js"

/**
 * A new session token: 32 random bytes, base64url (43 characters), `Redacted`. Give it to the
 * client (a cookie, an `Authorization` header); store the session under `hashToken(token)`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeToken: Effect.Effect<Redacted.Redacted<string>> = internal.makeToken

/**
 * The SHA-256 (64 lowercase hex characters) of a token's text: the `idHash` a session is stored
 * and looked up under. Total: a value that is not a string hashes as its type and text, and so
 * matches no token.
 *
 * @since 0.1.0
 * @category utils
 */
export const hashToken: (token: Redacted.Redacted<string> | string) => string = internal.hashToken

/**
 * A token as a client sent it (a cookie, a header), when it has the shape of `makeToken`'s tokens
 * (43 characters of `A-Z a-z 0-9 _ -`); `None` for anything else. Read untrusted input with it
 * before hashing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseToken: (value: unknown) => Option.Option<Redacted.Redacted<string>> = internal.parseToken

/**
 * An `idHash`: 64 lowercase hex characters (a SHA-256).
 *
 * @since 0.1.0
 * @category schemas
 */
export const IdHash: Schema.Schema<string> = internal.IdHash

/**
 * The app's own small values kept with a session (e.g. its local user id): at most 32 keys (a
 * letter, then letters, digits, `_ . : -`, at most 64 characters), keys and values at most 4,096
 * characters in all. Never put a token or secret in it: stores keep it as it is.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SessionData: Schema.Schema<{ readonly [key: string]: string }> = internal.SessionData

/**
 * Where a session was made: a browser (a cookie) or a mini program (a token in a header).
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = "browser" | "miniProgram"

/**
 * A session as stored: never the token, only its hash. Times are integer epoch milliseconds (by
 * `Clock`). Making one with fields of the wrong shape throws (Schema's constructor): build sessions
 * from checked values; stores check every session they are given again.
 *
 * @since 0.1.0
 * @category models
 */
export class Session extends Schema.Class<Session>("@wxauth/core/Session")({
  /** `hashToken(token)`. */
  idHash: internal.IdHash,
  appId: internal.Id(64),
  openid: internal.Id(128),
  unionid: Schema.optional(internal.Id(128)),
  /** The scopes the user granted (at most 16). */
  scopes: Schema.Array(internal.Id(64)).pipe(Schema.maxItems(16)),
  kind: Schema.Literal("browser", "miniProgram"),
  createdAt: internal.Time,
  /** From this time on the session is over: `get` answers `None`. `touch` moves it. */
  expiresAt: internal.Time,
  /** When the session was last `touch`ed. */
  lastSeenAt: Schema.optional(internal.Time),
  /**
   * A hash of the browser binding the session is tied to (1 to 128 characters), fixed for the
   * session's life: to rotate it, create a new session and revoke the old one.
   */
  binding: Schema.optional(internal.Id(128)),
  data: Schema.optional(internal.SessionData)
}) {
  /**
   * True while the session is not over at `now` (epoch ms).
   *
   * @since 0.1.0
   */
  isLive(now: number): boolean {
    return this.expiresAt > now
  }
}

/**
 * The store's operations. Arguments of the wrong shape (an `idHash` that is not 64 lowercase hex,
 * an empty or too long id, a value that is not a valid `Session`, a time that is not an integer)
 * fail with a `SessionStoreError` naming the argument, never quoting it.
 *
 * @since 0.1.0
 * @category models
 */
export interface SessionStoreShape {
  /**
   * Stores a new session. Refuses (`SessionStoreError`) an `idHash` whose session is live, a
   * session already over (by `Clock`), and a session whose `appId` or `openid` `checkUser` refuses
   * (`revokeUser` could not end it).
   */
  readonly create: (session: Session) => Effect.Effect<void, SessionStoreError>
  /** The live session of an `idHash`; `None` when unknown, revoked or over (by `Clock`). */
  readonly get: (idHash: string) => Effect.Effect<Option.Option<Session>, SessionStoreError>
  /**
   * Sliding expiry: moves a live session's `expiresAt` (it must be later than now, by `Clock`) and
   * sets `lastSeenAt` to now; returns the session as updated, `None` when it is not live (a session
   * is never brought back). An absolute limit on a session's life is the caller's to apply.
   */
  readonly touch: (idHash: string, expiresAt: number) => Effect.Effect<Option.Option<Session>, SessionStoreError>
  /** Ends a session; an unknown `idHash` is fine. */
  readonly revoke: (idHash: string) => Effect.Effect<void, SessionStoreError>
  /**
   * Logout everywhere: ends every session of the user (in every process, for a shared store) and
   * returns how many were live. A session created while this runs either fails to be created or is
   * ended by the next `revokeUser`; it is never left out of reach.
   */
  readonly revokeUser: (appId: string, openid: string) => Effect.Effect<number, SessionStoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class SessionStore extends Context.Tag("@wxauth/core/SessionStore")<SessionStore, SessionStoreShape>() {}

/**
 * For store adapters: marks a store whose every operation has a deadline of its own (a command or
 * operation timeout), so that wxauth uses it as it is. wxauth runs each operation of a store that
 * is not marked (a store of your own) under a deadline of 10 seconds: past it the operation is
 * interrupted and fails with a `SessionStoreError`. Mark only a store that cannot hang. A value
 * without the store's operations is not marked.
 *
 * @since 0.1.0
 * @category utils
 */
export const markBounded = (store: SessionStoreShape): void => Bounded.markStore(store, "sessionStore")

/**
 * The store as wxauth runs it (`@wxauth/http` reads the `SessionStore` of its context through it):
 * a marked store (`markBounded`: the memory, Redis and SQL stores) as it is; any other with each
 * operation under a deadline of 10 seconds, past which the operation is interrupted and fails with
 * a `SessionStoreError` naming the operation. The same store gives the same result.
 *
 * @since 0.1.0
 * @category utils
 */
export const bounded = (store: SessionStoreShape): SessionStoreShape => Bounded.sessionStore(store)

/**
 * Options of the memory store.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryOptions {
  /**
   * At most this many sessions (a positive integer, default 100,000): when full, sessions that are
   * over go first, then the least recently created or touched (their users are logged out).
   */
  readonly maxEntries?: number | undefined
  /**
   * At most this many sessions of one user (an `appId` + `openid`; a positive integer, default
   * 100): creating one more ends the user's sessions that are over, then the user's least recently
   * created or touched. One account making sessions without end (a script replaying real logins)
   * then logs out only itself, never the other users of a full store.
   */
  readonly maxSessionsPerUser?: number | undefined
}

/**
 * Builds a memory store: one process, bounded in all (`maxEntries`) and per user
 * (`maxSessionsPerUser`). Use a shared store when several processes serve the same users (logout
 * everywhere then reaches all of them). A bound that is not a positive integer is an
 * `InvalidArgument`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (options?: MemoryOptions): Effect.Effect<SessionStoreShape, InvalidArgument> =>
  store.makeMemory(options)

/**
 * The memory store as a Layer (at most 100,000 sessions, 100 per user).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<SessionStore> = Layer.sync(
  SessionStore,
  () => store.unsafeMakeMemory(store.defaultMaxEntries, store.defaultMaxSessionsPerUser)
)

/**
 * Fails unless `idHash` is 64 lowercase hex characters. For store adapters.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkIdHash: (operation: string, idHash: unknown) => Effect.Effect<void, SessionStoreError> =
  internal.checkIdHash

/**
 * Fails unless `appId` is 1 to 64 characters of `A-Z a-z 0-9 _ -` and `openid` 1 to 128 printable
 * ASCII characters without a space: the one rule of every store's ids (`TokenStore.checkUser`, with
 * this store's error). For store adapters.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkUser: (operation: string, appId: unknown, openid: unknown) => Effect.Effect<void, SessionStoreError> =
  internal.checkUser

/**
 * Fails unless `session` is a `Session` whose every field has its shape (a JavaScript caller may
 * have changed one after construction). For store adapters.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkSession = (operation: string, session: unknown): Effect.Effect<Session, SessionStoreError> =>
  store.checkSession(operation, session)

/**
 * Fails unless `time` is an integer epoch time in milliseconds. For store adapters.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkTime: (operation: string, name: string, time: unknown) => Effect.Effect<void, SessionStoreError> =
  internal.checkTime

/**
 * For store adapters: the longest stored value, in UTF-8 bytes, that `decode` can read: 49,152 (and
 * as many characters); the JSON of the largest session the schema allows is about 34,000 bytes (its
 * ids and `data` made of characters JSON writes as six-character escapes). A store refuses a longer value with a `SessionStoreError` without
 * fetching it (Redis: `HSTRLEN` in the script that reads it), so that a value planted under a
 * session's key is not transferred on every read of it.
 *
 * @since 0.2.0
 * @category constants
 */
export const maxStoredValueBytes: number = store.maxStoredValueBytes

/**
 * A session as the JSON text a shared store keeps (no token in it: only the hash). For store
 * adapters.
 *
 * @since 0.1.0
 * @category codecs
 */
export const encode = (session: Session): Effect.Effect<string, SessionStoreError> => store.encode(session)

/**
 * A session from the JSON text `encode` made, with the times a store keeps beside it (after a
 * `touch`), checked to be the session of `idHash`: a value copied under another id, or that is not
 * ours, is a `SessionStoreError` that quotes none of it. For store adapters.
 *
 * @since 0.1.0
 * @category codecs
 */
export const decode = (
  idHash: string,
  value: unknown,
  times?: { readonly expiresAt?: unknown; readonly lastSeenAt?: unknown }
): Effect.Effect<Session, SessionStoreError> => store.decode(idHash, value, times)

/**
 * The checks of `create`: `session` is a valid `Session` (see `checkSession`), its `appId` and
 * `openid` hold the ids' rule (`checkUser`, so `revokeUser` can end it), and it is live at `now`.
 * For store adapters.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkNew = (session: unknown, now: number): Effect.Effect<Session, SessionStoreError> =>
  store.checkNew(session, now)

/**
 * The checks of `touch`: `idHash` (see `checkIdHash`), and `expiresAt` an integer time later than
 * `now`. For store adapters.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkTouch = (idHash: unknown, expiresAt: unknown, now: number): Effect.Effect<void, SessionStoreError> =>
  store.checkTouch(idHash, expiresAt, now)
