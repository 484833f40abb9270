/**
 * The server's record of sessions. The session cookie carries only a random session id (signed);
 * who it stands for and until when is kept here, under a SHA-256 of the id (so the store's content
 * cannot be replayed as cookies). A session therefore ends on the server: logout removes it, and
 * every copy of the cookie then opens nothing; and it ends `Session.sessionTtl` after login by the
 * server's `Clock`, whatever the browser keeps.
 *
 * Two stores: in process memory, or a table in the SQLite file the tokens are kept in (so that,
 * with `SESSION_SECRET` set, sessions outlive a restart as the tokens do).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Crypto from "node:crypto"
import * as Session from "./Session.js"

/** The store failed (the SQLite file cannot be read or written). */
export class SessionStoreError extends Schema.TaggedError<SessionStoreError>()("SessionStoreError", {
  operation: Schema.Literal("setup", "create", "get", "remove"),
  cause: Schema.Defect
}) {
  override get message(): string {
    const cause = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `session store ${this.operation} failed: ${cause}`
  }
}

/** The service's shape. */
export interface SessionStoreShape {
  /** Records a new session and returns its id (32 random bytes, base64url). Sweeps expired ones. */
  readonly create: (session: Session.Session) => Effect.Effect<string, SessionStoreError>
  /** The session of an id: `None` when there is none, or when it has expired by `Clock`. */
  readonly get: (id: string) => Effect.Effect<Option.Option<Session.Session>, SessionStoreError>
  /** Ends a session; nothing happens when there is none. */
  readonly remove: (id: string) => Effect.Effect<void, SessionStoreError>
}

/** The tag. */
export class SessionStore extends Context.Tag("@wxauth/example-web-login/SessionStore")<
  SessionStore,
  SessionStoreShape
>() {}

/** The key a session is stored under: the SHA-256 of its id, hex. */
const keyOf = (id: string): string =>
  Crypto.createHash("sha256").update("wxauth-example/session-id\0").update(id).digest("hex")

/** Sessions in process memory: they end with the process. */
export const layerMemory: Layer.Layer<SessionStore> = Layer.sync(SessionStore, () => {
  // in insertion order, which is expiry order: every session lasts `sessionTtl`
  const sessions = new Map<string, Session.Session>()
  const sweep = (now: number) => {
    for (const [key, session] of sessions) {
      if (session.expiresAt > now) break
      sessions.delete(key)
    }
  }
  return {
    create: (session) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        sweep(now)
        const id = Session.newSessionId()
        sessions.set(keyOf(id), session)
        return id
      }),
    get: (id) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const key = keyOf(id)
        const session = sessions.get(key)
        if (session === undefined) return Option.none()
        if (session.expiresAt > now) return Option.some(session)
        sessions.delete(key)
        return Option.none()
      }),
    remove: (id) => Effect.sync(() => void sessions.delete(keyOf(id)))
  }
})

const Row = Schema.Struct({
  app: Schema.Literal("officialAccount", "website"),
  openid: Schema.String,
  expires_at: Schema.Number
})

const decodeRows = Schema.decodeUnknown(Schema.Array(Row))

/**
 * Sessions in a table of the SQL database in context (the example's SQLite file), created when the
 * layer is built: `web_login_sessions (id_hash, app, openid, expires_at)`.
 */
export const layerSql: Layer.Layer<SessionStore, SessionStoreError, SqlClient.SqlClient> = Layer.effect(
  SessionStore,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const fail = (operation: SessionStoreError["operation"]) => (cause: unknown) =>
      new SessionStoreError({ operation, cause })
    yield* sql`CREATE TABLE IF NOT EXISTS web_login_sessions (
      id_hash TEXT PRIMARY KEY,
      app TEXT NOT NULL,
      openid TEXT NOT NULL,
      expires_at INTEGER NOT NULL
    )`.pipe(
      Effect.zipRight(sql`CREATE INDEX IF NOT EXISTS web_login_sessions_expires_at ON web_login_sessions (expires_at)`),
      Effect.mapError(fail("setup"))
    )
    return {
      create: (session) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          yield* sql`DELETE FROM web_login_sessions WHERE expires_at <= ${now}`
          const id = Session.newSessionId()
          yield* sql`INSERT INTO web_login_sessions ${
            sql.insert({ id_hash: keyOf(id), app: session.app, openid: session.openid, expires_at: session.expiresAt })
          }`
          return id
        }).pipe(Effect.mapError(fail("create"))),
      get: (id) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const rows = yield* decodeRows(
            yield* sql`SELECT app, openid, expires_at FROM web_login_sessions
              WHERE id_hash = ${keyOf(id)} AND expires_at > ${now}`
          )
          return Option.map(
            Option.fromNullable(rows[0]),
            (row): Session.Session => ({ app: row.app, openid: row.openid, expiresAt: row.expires_at })
          )
        }).pipe(Effect.mapError(fail("get"))),
      remove: (id) =>
        sql`DELETE FROM web_login_sessions WHERE id_hash = ${keyOf(id)}`.pipe(
          Effect.asVoid,
          Effect.mapError(fail("remove"))
        )
    }
  })
)
