/**
 * An app token row the store cannot read, on each database: core's AppTokenStore contract suite
 * with rows planted straight into the table (`get` is `Unreadable`, `remove` clears them whatever
 * their stamp, an AppToken over the store replaces them), and AppToken against the sandbox: a value
 * sealed with a key no longer configured, garbage, a stamp no write can follow, each replaced by one
 * fresh token for every caller of two processes (two clients). A database gone silent (behind a
 * paused proxy; SQLite's file locked) makes AppToken fail typed, and replaces nothing.
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { AppToken, AppTokenStore, RefreshLock, TokenCipher, WeChatConfig } from "@wxauth/core"
import { appTokenStoreSuite, makeAppToken, type PlantedAppToken } from "@wxauth/core/testing"
import { Sandbox } from "@wxauth/sandbox"
import { SqlAppTokenStore } from "@wxauth/store-sql"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Path from "node:path"
import { type Database, dropTables, forEachDatabase, randomTable, singleTableLayer, sqliteFile } from "./databases.js"
import { makeProxy } from "./proxy.js"

const hour = 3_600_000
const day = 24 * hour
const plantedSecret = "AT_PLANTED_SECRET_0123456789"
const mini = Sandbox.defaultApps.miniProgram
const ring = TokenCipher.layer({ keys: [{ id: "k1", key: TokenCipher.generateKey() }] })

/** Writes `planted` as the app's row, past the store's `set`, over the client in context. */
const plantRow = (table: string, planted: PlantedAppToken) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = yield* Clock.currentTimeMillis
    yield* sql`DELETE FROM ${sql(table)} WHERE app_id = ${planted.appId}`
    yield* sql`INSERT INTO ${sql(table)} ${
      sql.insert({
        app_id: planted.appId,
        obtained_at: planted.obtainedAt,
        expires_at: planted.expiresAt,
        value: planted.value,
        updated_at: now
      })
    }`
  })

/** An app token sealed for the mini program with a key no store here has. */
const sealedWithAnotherKey = Effect.gen(function*() {
  const gone = yield* Effect.orDie(TokenCipher.make({ keys: [{ id: "gone", key: TokenCipher.generateKey() }] }))
  const codec = yield* Effect.provideService(AppTokenStore.makeCodec, TokenCipher.TokenCipher, gone)
  return yield* Effect.orDie(
    codec.encode(mini.appId, yield* makeAppToken({ accessToken: Redacted.make(plantedSecret) }))
  )
})

const Environment = Layer.mergeAll(
  WeChatConfig.layer({ appId: mini.appId, appSecret: Redacted.make(mini.secret) }),
  Sandbox.layerHttpClient
).pipe(Layer.provideMerge(Sandbox.layer()))

forEachDatabase((db: Database) => {
  for (const cipher of [false, true]) {
    const table = randomTable("wxauth_a")
    const layer = singleTableLayer(db, SqlAppTokenStore.layer, "wxauth_a", { table })
    appTokenStoreSuite(
      `SqlAppTokenStore on ${db.name}${cipher ? " + TokenCipher" : ""}, rows planted`,
      cipher ? layer.pipe(Layer.provide(ring)) : layer,
      { plant: (planted) => Effect.provide(plantRow(table, planted), db.client()) }
    )
  }

  describe(`AppToken over SqlAppTokenStore on ${db.name}: a row it cannot read`, () => {
    /** Two "processes": each its own client, store and AppToken, on one table, with one lock between them. */
    const twoProcesses = (table: string, cipher: boolean) =>
      Effect.gen(function*() {
        const lock = RefreshLock.makeInProcess()
        return yield* Effect.forEach([1, 2], () =>
          Effect.gen(function*() {
            const client = yield* Layer.build(db.client())
            const store = yield* Effect.provide(
              cipher ? Effect.provide(SqlAppTokenStore.make({ table }), ring) : SqlAppTokenStore.make({ table }),
              client
            )
            const appToken = yield* AppToken.make.pipe(
              Effect.provideService(AppTokenStore.AppTokenStore, store),
              Effect.provideService(RefreshLock.RefreshLock, lock),
              Effect.orDie
            )
            return { client, store, appToken }
          }))
      })

    const plants: ReadonlyArray<readonly [string, Effect.Effect<string>, (now: number) => number]> = [
      [
        "sealed with a TokenCipher key no longer configured, stamped a day ahead",
        sealedWithAnotherKey,
        (now) => now + day
      ],
      ["garbage, stamped a day ahead", Effect.succeed(`garbage ${plantedSecret}`), (now) => now + day],
      [
        "a token whose stamp no write can follow, stamped 2^53 - 1",
        Effect.succeed(
          JSON.stringify({ accessToken: plantedSecret, obtainedAt: Number.MAX_SAFE_INTEGER, expiresAt: 1e15 })
        ),
        () => Number.MAX_SAFE_INTEGER
      ]
    ]

    for (const [what, value, stamp] of plants) {
      for (const cipher of [false, true]) {
        it.scopedLive(`${what}${cipher ? ", store with a TokenCipher" : ""}: one fresh token from the sandbox for every caller of two processes, and the row holds it`, () =>
          Effect.gen(function*() {
            const table = randomTable("wxauth_a")
            const processes = yield* twoProcesses(table, cipher)
            const { client } = processes[0]
            yield* Effect.addFinalizer(() => Effect.orDie(Effect.provide(dropTables(table), client)))
            yield* Effect.provide(SqlAppTokenStore.setup({ table }), client)
            const now = yield* Clock.currentTimeMillis
            yield* Effect.provide(
              plantRow(table, {
                appId: mini.appId,
                obtainedAt: stamp(now),
                expiresAt: now + 2 * hour,
                value: yield* value
              }),
              client
            )
            assert.strictEqual((yield* Effect.flip(processes[0].store.get(mini.appId))).reason, "Unreadable")
            const tokens = yield* Effect.forEach(
              Array.from({ length: 40 }, (_, i) => processes[i % 2].appToken.get),
              (get) => get,
              { concurrency: "unbounded" }
            )
            assert.strictEqual(new Set(tokens.map(Redacted.value)).size, 1)
            const sandbox = yield* Sandbox.Sandbox
            assert.strictEqual((yield* sandbox.stats).stable_token, 1, "one stable_token for both processes")
            for (const { store } of processes) {
              const stored = Option.getOrThrow(yield* store.get(mini.appId))
              assert.strictEqual(Redacted.value(stored.accessToken), Redacted.value(tokens[0]))
            }
          }).pipe(Effect.provide(Environment)))
      }
    }

    /**
     * A client of `db` the test can silence: PostgreSQL and MariaDB behind a TCP proxy that stops
     * forwarding (connections left open), SQLite with its file (rollback journal) locked by another
     * connection. `direct`: a client that still reaches the database.
     */
    const silenceable = Effect.gen(function*() {
      if (db.dialect !== "sqlite") {
        const proxy = yield* makeProxy({ host: db.host, port: db.port })
        return {
          client: db.client({ host: "127.0.0.1", port: proxy.port }),
          direct: db.client(),
          silence: proxy.pause,
          restore: proxy.resume
        }
      }
      const file = Path.join(Path.dirname(sqliteFile), `unreadable-locked-${process.pid}.sqlite`)
      const client = () => SqliteClient.layer({ filename: file, disableWAL: true })
      const locker = yield* Effect.provide(SqlClient.SqlClient, yield* Layer.build(client()))
      const connection = yield* locker.reserve
      yield* Effect.addFinalizer(() => Effect.ignore(connection.executeUnprepared("ROLLBACK", [], undefined)))
      return {
        client: client(),
        direct: client(),
        silence: Effect.asVoid(Effect.orDie(connection.executeUnprepared("BEGIN EXCLUSIVE", [], undefined))),
        restore: Effect.asVoid(Effect.orDie(connection.executeUnprepared("ROLLBACK", [], undefined)))
      }
    })

    it.scopedLive(
      "a store that times out: AppToken fails with a TokenStoreError without reason, fetches nothing, and the row stays",
      () =>
        Effect.gen(function*() {
          const table = randomTable("wxauth_a")
          const { client, direct, restore, silence } = yield* silenceable
          const directContext = yield* Layer.build(direct)
          const sql = Context.get(directContext, SqlClient.SqlClient)
          yield* Effect.addFinalizer(() => Effect.ignore(Effect.provide(dropTables(table), directContext)))
          yield* Effect.provide(SqlAppTokenStore.setup({ table }), directContext)
          const now = yield* Clock.currentTimeMillis
          const sealed = yield* sealedWithAnotherKey
          yield* Effect.provide(
            plantRow(table, { appId: mini.appId, obtainedAt: now + day, expiresAt: now + 2 * hour, value: sealed }),
            directContext
          )
          const store = yield* Effect.provide(
            SqlAppTokenStore.make({ table, timeout: "1 second" }),
            yield* Layer.build(client)
          )
          const appToken = yield* AppToken.make.pipe(
            Effect.provideService(AppTokenStore.AppTokenStore, store),
            Effect.orDie
          )
          yield* silence
          for (const call of [appToken.get, appToken.invalidate(Redacted.make("T"))]) {
            const error = yield* Effect.flip(call).pipe(Effect.timeout("20 seconds"))
            assert.strictEqual(error._tag, "TokenStoreError")
            assert.isUndefined((error as { readonly reason?: string }).reason, error.message)
          }
          yield* restore
          const sandbox = yield* Sandbox.Sandbox
          assert.strictEqual((yield* sandbox.stats).stable_token, 0, "nothing fetched")
          const rows = yield* sql<{ value: unknown; obtained_at: unknown }>`SELECT value, obtained_at FROM ${
            sql(table)
          } WHERE app_id = ${mini.appId}`
          assert.strictEqual(rows.length, 1)
          assert.strictEqual(String(rows[0].value), sealed, "nothing written or removed")
          assert.strictEqual(Number(rows[0].obtained_at), now + day)
        }).pipe(Effect.provide(Environment)),
      { timeout: 60_000 }
    )
  })
})
