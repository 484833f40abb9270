/**
 * Core's TokenStore contract suite against each database, each run in its own tables; values the
 * store cannot read are planted as rows written past the store.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { tokenStoreSuite } from "@wxauth/core/testing"
import * as Effect from "effect/Effect"
import { forEachDatabase, randomTable, storeLayer } from "./databases.js"

forEachDatabase((db) => {
  const table = randomTable()
  tokenStoreSuite(`SqlTokenStore on ${db.name}`, storeLayer(db, { table }), {
    plant: ({ appId, obtainedAt, openid, refreshExpiresAt, value }) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql`INSERT INTO ${sql(table)} ${
          sql.insert({
            app_id: appId,
            openid,
            obtained_at: obtainedAt,
            refresh_expires_at: refreshExpiresAt,
            value,
            updated_at: obtainedAt
          })
        }`).pipe(Effect.provide(db.client()))
  })
})
