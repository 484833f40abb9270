/**
 * The app's own users: what a site keeps of the people who log in with WeChat (its user table),
 * and the login hooks of `@wxauth/http` that fill it. A person is one local user across the site's
 * WeChat apps: a login is linked to a user by its app and openid, else by its unionid (the same
 * person in every app of one Open Platform account), else a new user is made. The profile WeChat
 * gives (nickname, avatar) is saved at each login; a mini program user's phone number when it is
 * asked for.
 *
 * Two tables in the example's SQLite database (a SQLite database in memory with
 * `TOKEN_STORE=memory`): `web_login_users (id, unionid, phone, profile, profile_fetched_at,
 * created_at)` and `web_login_identities (app_id, openid, user_id)`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SessionStore, TokenStore, UserInfo } from "@wxauth/core"
import type { WeChatLogin } from "@wxauth/http"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Crypto from "node:crypto"

/** The users' tables cannot be read or written. */
export class UsersError extends Data.TaggedError("UsersError")<{
  readonly operation: "setup" | "find" | "create" | "link" | "get" | "update"
  readonly cause: unknown
}> {
  override get message(): string {
    return `the users' table: ${this.operation} failed`
  }
}

/** A user's WeChat profile, as last fetched. */
export interface Profile {
  readonly user: UserInfo.UserInfo
  /** Epoch milliseconds. */
  readonly fetchedAt: number
}

/** A local user. */
export interface User {
  readonly id: string
  readonly unionid: string | undefined
  /** The phone number a mini program asked for (`purePhoneNumber`). */
  readonly phone: string | undefined
  readonly profile: Option.Option<Profile>
  /** Epoch milliseconds. */
  readonly createdAt: number
}

/** The service's shape. */
export interface UsersShape {
  /** The user of a WeChat identity: by app and openid, else by unionid. */
  readonly find: (
    identity: { readonly appId: string; readonly openid: string; readonly unionid: string | undefined }
  ) => Effect.Effect<string | undefined, UsersError>
  /** A new user (the one of `unionid`, when two first logins of that person race). */
  readonly create: (unionid: string | undefined) => Effect.Effect<string, UsersError>
  /** Links an app's openid to a user. */
  readonly link: (userId: string, appId: string, openid: string) => Effect.Effect<void, UsersError>
  /** Every app and openid linked to a user (the same person in each of the site's WeChat apps). */
  readonly identities: (
    userId: string
  ) => Effect.Effect<ReadonlyArray<{ readonly appId: string; readonly openid: string }>, UsersError>
  readonly get: (userId: string) => Effect.Effect<Option.Option<User>, UsersError>
  readonly setProfile: (userId: string, profile: Profile) => Effect.Effect<void, UsersError>
  readonly setPhone: (userId: string, phone: string) => Effect.Effect<void, UsersError>
}

/** The tag. */
export class Users extends Context.Tag("@wxauth/example-web-login/Users")<Users, UsersShape>() {}

const ProfileJson = Schema.parseJson(UserInfo.UserInfo)
const encodeProfile = Schema.encode(ProfileJson)
const decodeProfile = Schema.decodeUnknownOption(ProfileJson)

const Row = Schema.Struct({
  id: Schema.String,
  unionid: Schema.NullOr(Schema.String),
  phone: Schema.NullOr(Schema.String),
  profile: Schema.NullOr(Schema.String),
  profile_fetched_at: Schema.NullOr(Schema.Number),
  created_at: Schema.Number
})
const decodeRows = Schema.decodeUnknown(Schema.Array(Row))
const decodeIds = Schema.decodeUnknown(Schema.Array(Schema.Struct({ id: Schema.String })))
const decodeIdentities = Schema.decodeUnknown(
  Schema.Array(Schema.Struct({ appId: Schema.String, openid: Schema.String }))
)

/** The users, in the SQL database in context; the tables are created when the layer is built. */
export const layer: Layer.Layer<Users, UsersError, SqlClient.SqlClient> = Layer.effect(
  Users,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const fail = (operation: UsersError["operation"]) => (cause: unknown) => new UsersError({ operation, cause })
    yield* Effect.all([
      sql`CREATE TABLE IF NOT EXISTS web_login_users (
        id TEXT PRIMARY KEY,
        unionid TEXT UNIQUE,
        phone TEXT,
        profile TEXT,
        profile_fetched_at INTEGER,
        created_at INTEGER NOT NULL
      )`,
      sql`CREATE TABLE IF NOT EXISTS web_login_identities (
        app_id TEXT NOT NULL,
        openid TEXT NOT NULL,
        user_id TEXT NOT NULL,
        PRIMARY KEY (app_id, openid)
      )`
    ]).pipe(Effect.mapError(fail("setup")))
    const idOf = (rows: unknown) => Effect.map(decodeIds(rows), (found) => found[0]?.id)
    const byUnionid = (unionid: string) =>
      Effect.flatMap(sql`SELECT id FROM web_login_users WHERE unionid = ${unionid}`, idOf)
    return {
      find: ({ appId, openid, unionid }) =>
        Effect.gen(function*() {
          const linked = yield* idOf(
            yield* sql`SELECT user_id AS id FROM web_login_identities WHERE app_id = ${appId} AND openid = ${openid}`
          )
          return linked ?? (unionid === undefined ? undefined : yield* byUnionid(unionid))
        }).pipe(Effect.mapError(fail("find"))),
      create: (unionid) =>
        Effect.gen(function*() {
          const id = `u_${Crypto.randomBytes(9).toString("base64url")}`
          const now = yield* Clock.currentTimeMillis
          yield* sql`INSERT INTO web_login_users ${
            sql.insert({ id, unionid: unionid ?? null, created_at: now })
          } ON CONFLICT DO NOTHING`
          return unionid === undefined ? id : (yield* byUnionid(unionid)) ?? id
        }).pipe(Effect.mapError(fail("create"))),
      link: (userId, appId, openid) =>
        sql`INSERT INTO web_login_identities ${sql.insert({ app_id: appId, openid, user_id: userId })}
          ON CONFLICT (app_id, openid) DO UPDATE SET user_id = excluded.user_id`.pipe(
          Effect.asVoid,
          Effect.mapError(fail("link"))
        ),
      identities: (userId) =>
        Effect.flatMap(
          sql`SELECT app_id AS "appId", openid FROM web_login_identities WHERE user_id = ${userId}`,
          decodeIdentities
        ).pipe(Effect.mapError(fail("get"))),
      get: (userId) =>
        Effect.gen(function*() {
          const rows = yield* decodeRows(yield* sql`SELECT * FROM web_login_users WHERE id = ${userId}`)
          return Option.map(Option.fromNullable(rows[0]), (row): User => ({
            id: row.id,
            unionid: row.unionid ?? undefined,
            phone: row.phone ?? undefined,
            profile: Option.flatMap(Option.fromNullable(row.profile), (text) =>
              Option.map(
                decodeProfile(text),
                (user) => ({ user, fetchedAt: row.profile_fetched_at ?? row.created_at })
              )),
            createdAt: row.created_at
          }))
        }).pipe(Effect.mapError(fail("get"))),
      setProfile: (userId, profile) =>
        Effect.flatMap(
          encodeProfile(profile.user),
          (text) =>
            sql`UPDATE web_login_users SET profile = ${text}, profile_fetched_at = ${profile.fetchedAt}
              WHERE id = ${userId}`
        ).pipe(Effect.asVoid, Effect.mapError(fail("update"))),
      setPhone: (userId, phone) =>
        sql`UPDATE web_login_users SET phone = ${phone} WHERE id = ${userId}`.pipe(
          Effect.asVoid,
          Effect.mapError(fail("update"))
        )
    } satisfies UsersShape
  })
)

/**
 * The login hooks: find the user, make one at the first login, link the login to it and save the
 * profile WeChat gives, land on `returnTo` or the profile, keep a mini program user's phone number,
 * and, when they log out everywhere, end their sessions in every WeChat app of the site and forget
 * their WeChat tokens. A failure of the users' tables stops the login (`@wxauth/http` shows its
 * server problem page).
 */
export const hooks: WeChatLogin.Hooks<Users | TokenStore.TokenStore | SessionStore.SessionStore> = {
  findUser: (identity) => Effect.flatMap(Users, (users) => users.find(identity)),
  onFirstLogin: (identity) => Effect.flatMap(Users, (users) => users.create(identity.unionid)),
  onLogin: (event) =>
    Effect.gen(function*() {
      const users = yield* Users
      // findUser or onFirstLogin gave one
      const userId = event.userId!
      yield* users.link(userId, event.appId, event.openid)
      // nickname and avatar (none for a mini program); a busy WeChat does not stop the login
      const profile = yield* Effect.option(event.profile)
      if (Option.isSome(profile)) {
        yield* users.setProfile(userId, { user: profile.value, fetchedAt: yield* Clock.currentTimeMillis })
      }
    }),
  afterLogin: (event) => Effect.succeed(event.returnTo ?? "/profile"),
  onPhoneNumber: (user, phone) =>
    user.userId === undefined
      ? Effect.void
      : Effect.flatMap(Users, (users) => users.setPhone(user.userId!, phone.purePhoneNumber)),
  // Logged out everywhere. @wxauth/http ended every session of the user's openid in the app they
  // logged out from; an openid is per app, and the same person may be logged in through the other
  // apps (the official account in WeChat, the website app's QR login on a desktop, the mini
  // program): every (app, openid) linked to the local user has its sessions ended here too, on the
  // SessionStore the login uses (the one in its context). No session of the user is then left to
  // use their WeChat tokens, so the site stops holding them (it could call WeChat as them until the
  // refresh token expires). A plain logout keeps them: the user's other sessions still use them.
  // The next login stores a new one.
  onLogout: (event) =>
    event.everywhere
      ? Effect.gen(function*() {
        const sessions = yield* SessionStore.SessionStore
        const tokens = yield* TokenStore.TokenStore
        const own = { appId: event.user.appId, openid: event.user.openid }
        const linked = event.user.userId === undefined
          ? []
          : yield* Effect.flatMap(Users, (users) => users.identities(event.user.userId!))
        const others = linked.filter((i) => i.appId !== own.appId || i.openid !== own.openid)
        // every identity is tried, whatever failed before it (a store failure for one does not
        // leave the others logged in); the own app's sessions were ended by @wxauth/http already
        const results = yield* Effect.all(
          [
            tokens.remove(own.appId, own.openid),
            ...others.flatMap(({ appId, openid }) => [
              Effect.asVoid(sessions.revokeUser(appId, openid)),
              tokens.remove(appId, openid)
            ])
          ],
          { mode: "either" }
        )
        const failed = results.find(Either.isLeft)
        if (failed !== undefined) return yield* Effect.fail(failed.left)
      })
      : Effect.void
}
