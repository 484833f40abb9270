// @wxauth/store-sql as installed from its README, on PostgreSQL: a login through the sandbox (in
// process) stores the token in a table; a second stack (its own pool) finds it there.
// Exits 77 when PostgreSQL cannot be reached (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE;
// default postgres@127.0.0.1:5432/test).
import { PgClient } from "@effect/sql-pg"
import * as SqlClient from "@effect/sql/SqlClient"
import { WeChatConfig, WeChatOAuth } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import { SqlTokenStore } from "@wxauth/store-sql"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Assert from "node:assert/strict"
import * as Crypto from "node:crypto"
import * as Net from "node:net"

const host = process.env.PGHOST || "127.0.0.1"
const port = Number(process.env.PGPORT || "5432")
const reachable = await new Promise((resolve) => {
  const socket = Net.connect({ host, port, timeout: 2000 })
  const done = (ok) => {
    socket.destroy()
    resolve(ok)
  }
  socket.on("connect", () => done(true)).on("error", () => done(false)).on("timeout", () => done(false))
})
if (!reachable) {
  console.log(`PostgreSQL at ${host}:${port} cannot be reached`)
  process.exit(77)
}

const PgLive = PgClient.layer({
  host,
  port,
  database: process.env.PGDATABASE || "test",
  username: process.env.PGUSER || "postgres",
  ...(process.env.PGPASSWORD ? { password: Redacted.make(process.env.PGPASSWORD) } : {})
})
const table = `wxauth_install_test_${Crypto.randomBytes(6).toString("hex")}`
const app = Sandbox.defaultApps.officialAccount
const stack = () =>
  WeChatOAuth.layer.pipe(
    Layer.provide([
      WeChatConfig.layer({ appId: app.appId, appSecret: app.secret }),
      SqlTokenStore.layer({ table }).pipe(Layer.provide(PgLive))
    ]),
    Layer.provide(Sandbox.layerHttpClient)
  )

const program = Effect.gen(function*() {
  const sandbox = yield* Sandbox.Sandbox
  const redirectUri = "https://example.com/cb"
  const openid = yield* Effect.gen(function*() {
    const oauth = yield* WeChatOAuth.WeChatOAuth
    const { state } = yield* oauth.authorizeUrl({ redirectUri, scope: "snsapi_userinfo" })
    const callback = yield* sandbox.approve({
      appId: app.appId,
      user: "bob",
      scope: "snsapi_userinfo",
      redirectUri,
      state
    })
    const { token } = yield* oauth.handleCallback(callback)
    return token.openid
  }).pipe(Effect.provide(stack()))
  const user = yield* Effect.flatMap(WeChatOAuth.WeChatOAuth, (oauth) => oauth.getUser(openid)).pipe(
    Effect.provide(stack())
  )
  const rows = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT count(*)::int AS n FROM ${sql(table)}`)
  return { nickname: user.nickname, rows: rows[0].n }
}).pipe(
  Effect.ensuring(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DROP TABLE IF EXISTS ${sql(table)}, ${sql(`${table}_codes`)}`)
      .pipe(
        Effect.orDie
      )
  ),
  Effect.provide(Layer.merge(Sandbox.layer(), PgLive))
)

const { nickname, rows } = await Effect.runPromise(program)
Assert.equal(nickname, "李四")
Assert.equal(rows, 1)
console.log(`@wxauth/store-sql: ${nickname}'s token went through PostgreSQL (table ${table}, dropped)`)
