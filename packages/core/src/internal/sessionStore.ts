/**
 * The machinery of `SessionStore`: the full check of a session, its JSON for shared stores, and
 * the memory store (sessions by id hash, and an index of each user's sessions for `revokeUser`).
 *
 * Imports the public module for the `Session` class, used only inside functions (the public module
 * is always loaded first).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SessionStore from "../SessionStore.js"
import type { SessionStoreError } from "../WeChatError.js"
import { InvalidArgument } from "../WeChatError.js"
import { guard, readFields } from "./arguments.js"
import { markBounded } from "./boundedStore.js"
import { checkIdHash, checkTime, checkUser, isTime, refuse } from "./sessions.js"

/**
 * The longest stored JSON in UTF-8 bytes, and so in characters (UTF-16 code units: each is at least
 * one byte), that a store fetches and `decode` reads. The longest valid session's JSON is about
 * 34,000: its ids and `data` (4,096 characters) may be made of characters JSON writes as six-character
 * escapes (controls, lone surrogates); any other character is at most three bytes. @internal
 */
export const maxStoredValueBytes = 49_152

const maxEncodedChars = maxStoredValueBytes

let fieldsSchema: Schema.Schema<unknown> | undefined
let jsonSchema: Schema.Schema<SessionStore.Session, string> | undefined

/** The session's fields as a struct: validates an instance's fields, which `Schema.is(Session)` does not. */
const fields = () => (fieldsSchema ??= Schema.Struct(SessionStore.Session.fields) as Schema.Schema<unknown>)
const json = () => (jsonSchema ??= Schema.parseJson(SessionStore.Session))

/** @internal */
export const checkSession = (
  operation: string,
  session: unknown
): Effect.Effect<SessionStore.Session, SessionStoreError> =>
  Effect.suspend(() => {
    let valid: boolean
    try {
      if (!(session instanceof SessionStore.Session)) return refuse(operation, "the value is not a Session")
      // a JavaScript caller may have changed a field after construction; the issue names the field only
      valid = Either.isRight(Schema.validateEither(fields())(session, { onExcessProperty: "ignore" }))
    } catch {
      // a Proxy, or a field replaced by a getter that throws
      return refuse(operation, "the value is not a Session")
    }
    return valid ? Effect.succeed(session) : refuse(operation, "the Session has a field of the wrong shape")
  })

/** @internal */
export const encode = (session: SessionStore.Session): Effect.Effect<string, SessionStoreError> =>
  Effect.flatMap(checkSession("encode", session), (checked) =>
    Either.match(Schema.encodeEither(json())(checked), {
      onLeft: () => refuse("encode", "the Session does not encode"),
      onRight: Effect.succeed
    }))

/** @internal */
export const decode = (
  idHash: string,
  value: unknown,
  times?: { readonly expiresAt?: unknown; readonly lastSeenAt?: unknown }
): Effect.Effect<SessionStore.Session, SessionStoreError> =>
  Effect.suspend(() => {
    const corrupted = refuse(
      "get",
      "the stored session does not decode, or is not the session of its id (not written by wxauth, or corrupted)"
    )
    if (typeof value !== "string" || value.length > maxEncodedChars) return corrupted
    // the parse error is not kept: it could quote the stored value
    const decoded = Schema.decodeEither(json())(value)
    if (Either.isLeft(decoded) || decoded.right.idHash !== idHash) return corrupted
    // the store's times, read once under a guard (an object that cannot be read is no times at all)
    const read = readFields(times, ["expiresAt", "lastSeenAt"])
    if (Either.isLeft(read)) return corrupted
    const { expiresAt, lastSeenAt } = read.right ?? {}
    if (expiresAt === undefined && lastSeenAt === undefined) return Effect.succeed(decoded.right)
    if ((expiresAt !== undefined && !isTime(expiresAt)) || (lastSeenAt !== undefined && !isTime(lastSeenAt))) {
      return corrupted
    }
    return Effect.succeed(
      new SessionStore.Session({
        ...decoded.right,
        ...(expiresAt === undefined ? {} : { expiresAt }),
        ...(lastSeenAt === undefined ? {} : { lastSeenAt })
      }, { disableValidation: true })
    )
  })

/** A session as touched: its new expiry, and `lastSeenAt` now. @internal */
export const touched = (session: SessionStore.Session, expiresAt: number, now: number): SessionStore.Session =>
  new SessionStore.Session({ ...session, expiresAt, lastSeenAt: now }, { disableValidation: true })

/** The checks of `touch`'s arguments, and of the new expiry against now. @internal */
export const checkTouch = (
  idHash: unknown,
  expiresAt: unknown,
  now: number
): Effect.Effect<void, SessionStoreError> =>
  Effect.zipRight(
    Effect.zipRight(
      Effect.zipRight(checkIdHash("touch", idHash), checkTime("touch", "expiresAt", expiresAt)),
      checkTime("touch", "now", now)
    ),
    Effect.suspend(() =>
      (expiresAt as number) > now ? Effect.void : refuse("touch", "expiresAt must be later than now")
    )
  )

/**
 * The check of a new session: its shape, its user's ids under every store's rule (`checkUser`: a
 * session `revokeUser` could not name is never created), and that it is not over already.
 *
 * @internal
 */
export const checkNew = (session: unknown, now: number): Effect.Effect<SessionStore.Session, SessionStoreError> =>
  Effect.flatMap(
    Effect.zipRight(checkTime("create", "now", now), checkSession("create", session)),
    (checked) =>
      Effect.zipRight(
        // read once, guarded: a field a JavaScript caller replaced by a getter is not an id
        Either.match(guard(() => [checked.appId, checked.openid] as const), {
          onLeft: () => refuse("create", "the value is not a Session"),
          onRight: ([appId, openid]) => checkUser("create", appId, openid)
        }),
        checked.isLive(now) ? Effect.succeed(checked) : refuse("create", "the session is already over (expiresAt)")
      )
  )

/** The user's key in the index: unambiguous whatever the ids hold (NUL included). */
const userKey = (appId: string, openid: string) => JSON.stringify([appId, openid])

/**
 * A copy of a session: the store keeps its own and hands out copies, so a JavaScript caller that
 * changes a session it gave or got (its fields are readonly in the types only) changes nothing stored.
 */
const copy = (session: SessionStore.Session): SessionStore.Session =>
  new SessionStore.Session({
    ...session,
    scopes: [...session.scopes],
    ...(session.data === undefined ? {} : { data: { ...session.data } })
  }, { disableValidation: true })

/** The memory store's bounds by default. @internal */
export const defaultMaxEntries = 100_000

/** @internal */
export const defaultMaxSessionsPerUser = 100

/** @internal */
export const unsafeMakeMemory = (
  maxEntries: number,
  maxSessionsPerUser: number = defaultMaxSessionsPerUser
): SessionStore.SessionStoreShape => {
  // insertion order is the order of the last create or touch: the first entries go first when full;
  // the same holds in each user's index, for the user's own bound
  const sessions = new Map<string, SessionStore.Session>()
  const users = new Map<string, Set<string>>()

  const forget = (idHash: string) => {
    const session = sessions.get(idHash)
    if (session === undefined) return
    sessions.delete(idHash)
    const key = userKey(session.appId, session.openid)
    const hashes = users.get(key)
    hashes?.delete(idHash)
    if (hashes !== undefined && hashes.size === 0) users.delete(key)
  }

  /** Forgets a session of a user's index (and the index's entry, should the session be gone already). */
  const forgetOf = (hashes: Set<string>, idHash: string) => {
    forget(idHash)
    hashes.delete(idHash)
  }

  const put = (session: SessionStore.Session, now: number) => {
    sessions.delete(session.idHash)
    sessions.set(session.idHash, session)
    const key = userKey(session.appId, session.openid)
    const hashes = users.get(key)
    if (hashes === undefined) users.set(key, new Set([session.idHash]))
    else {
      hashes.delete(session.idHash)
      hashes.add(session.idHash)
      // one user's sessions do not crowd out everybody else's: past the user's bound, their sessions that
      // are over go first, then their least recently written (never the one just written: it is last)
      if (hashes.size > maxSessionsPerUser) {
        for (const idHash of hashes) {
          if (hashes.size <= maxSessionsPerUser) break
          if (sessions.get(idHash)?.isLive(now) !== true) forgetOf(hashes, idHash)
        }
        for (const idHash of hashes) {
          if (hashes.size <= maxSessionsPerUser) break
          forgetOf(hashes, idHash)
        }
      }
    }
    if (sessions.size <= maxEntries) return
    // full: drop sessions that are over among a bounded slice of the oldest, then the oldest
    let looked = 0
    for (const [idHash, stored] of sessions) {
      if (sessions.size <= maxEntries || looked++ >= 64) break
      if (!stored.isLive(now)) forget(idHash)
    }
    for (const idHash of sessions.keys()) {
      if (sessions.size <= maxEntries) break
      forget(idHash)
    }
  }

  const live = (idHash: string, now: number): SessionStore.Session | undefined => {
    const session = sessions.get(idHash)
    if (session === undefined) return undefined
    if (session.isLive(now)) return session
    forget(idHash)
    return undefined
  }

  // in this process, it cannot hang: used as it is (see boundedStore.ts)
  return markBounded(
    SessionStore.SessionStore.of({
      create: (session) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.flatMap(checkNew(session, now), (checked) => {
            if (live(checked.idHash, now) !== undefined) {
              return refuse("create", "a live session has this idHash already")
            }
            put(copy(checked), now)
            return Effect.void
          })),
      get: (idHash) =>
        Effect.zipRight(
          checkIdHash("get", idHash),
          Effect.map(Clock.currentTimeMillis, (now) => {
            const session = live(idHash, now)
            return session === undefined ? Option.none() : Option.some(copy(session))
          })
        ),
      touch: (idHash, expiresAt) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.map(checkTouch(idHash, expiresAt, now), () => {
            const session = live(idHash, now)
            if (session === undefined) return Option.none()
            const updated = touched(session, expiresAt, now)
            put(updated, now)
            return Option.some(copy(updated))
          })),
      revoke: (idHash) => Effect.zipRight(checkIdHash("revoke", idHash), Effect.sync(() => forget(idHash))),
      revokeUser: (appId, openid) =>
        Effect.zipRight(
          checkUser("revokeUser", appId, openid),
          Effect.map(Clock.currentTimeMillis, (now) => {
            const hashes = users.get(userKey(appId, openid))
            if (hashes === undefined) return 0
            let count = 0
            for (const idHash of [...hashes]) {
              if (sessions.get(idHash)?.isLive(now) === true) count++
              forget(idHash)
            }
            return count
          })
        )
    }),
    "sessionStore"
  )
}

/** @internal */
export const makeMemory = (
  options?: SessionStore.MemoryOptions
): Effect.Effect<SessionStore.SessionStoreShape, InvalidArgument> =>
  Effect.suspend(() => {
    let maxEntries: unknown
    let maxSessionsPerUser: unknown
    try {
      const given = typeof options === "object" && options !== null ? options : {}
      maxEntries = given.maxEntries
      maxSessionsPerUser = given.maxSessionsPerUser
    } catch {
      // a Proxy whose traps throw
      return Effect.fail(new InvalidArgument({ argument: "options", description: "must be an object of numbers" }))
    }
    for (const [argument, value] of [["maxEntries", maxEntries], ["maxSessionsPerUser", maxSessionsPerUser]]) {
      if (value !== undefined && !(typeof value === "number" && Number.isSafeInteger(value) && value >= 1)) {
        return Effect.fail(
          new InvalidArgument({ argument: argument as string, description: "must be a positive integer" })
        )
      }
    }
    return Effect.sync(() =>
      unsafeMakeMemory(
        (maxEntries as number | undefined) ?? defaultMaxEntries,
        (maxSessionsPerUser as number | undefined) ?? defaultMaxSessionsPerUser
      )
    )
  })
