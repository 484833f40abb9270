/**
 * Core's TokenStore contract suite against each database, each run in its own tables.
 */
import { tokenStoreSuite } from "@wxauth/core/testing"
import { forEachDatabase, storeLayer } from "./databases.js"

forEachDatabase((db) => {
  tokenStoreSuite(`SqlTokenStore on ${db.name}`, storeLayer(db))
})
