// Type-checked under moduleResolution nodenext, bundler and node10: the README's setups for the
// three drivers (the SQLite one is installed without its native build, so it is only type-checked).
import { NodeRuntime } from "@effect/platform-node"
import { MysqlClient } from "@effect/sql-mysql2"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { WeChatConfig, WeChatHttpClient, WeChatOAuth } from "@wxauth/core"
import { SqlTokenStore } from "@wxauth/store-sql"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const PgLive = PgClient.layerConfig({ url: Config.redacted("DATABASE_URL") })
const MysqlLive = MysqlClient.layerConfig({
  host: Config.string("MYSQL_HOST"),
  database: Config.string("MYSQL_DATABASE"),
  username: Config.string("MYSQL_USER"),
  password: Config.redacted("MYSQL_PASSWORD")
})
const SqliteLive = SqliteClient.layer({ filename: "./data/wxauth.sqlite" })

export const stores = [
  SqlTokenStore.layer({ table: "wxauth_tokens" }).pipe(Layer.provide(PgLive)),
  SqlTokenStore.layer().pipe(Layer.provide(MysqlLive)),
  SqlTokenStore.layer().pipe(Layer.provide(SqliteLive))
]

export const fromClient = Effect.map(SqlClient.SqlClient, (sql) => SqlTokenStore.layerFromClient(sql))

export const main = () =>
  Effect.flatMap(WeChatOAuth.WeChatOAuth, (oauth) => oauth.getUser("oUserOpenId")).pipe(
    Effect.flatMap((user) => Effect.log(user.nickname)),
    Effect.provide(
      WeChatOAuth.layer.pipe(Layer.provide([WeChatConfig.layerFromEnv, WeChatHttpClient.layer(), stores[0]]))
    ),
    NodeRuntime.runMain
  )

// @ts-expect-error: a table name is a string
export const wrong = SqlTokenStore.layer({ table: 42 })
