/**
 * PostgreSQL's setup runs in a transaction of its own, on a connection it reserves from the pool. Its
 * deadline may strike at any point: the connection must go back to the pool outside any transaction
 * (else every statement later run on it by any operation runs in that transaction, never committed,
 * and after its first failure is refused with 25P02, "current transaction is aborted"), and must go
 * back at all (else the pool loses it for good). A socket in front of the real server delays the
 * answer to `BEGIN`, so that the deadline strikes while it is on its way, every time.
 */
import { PgClient } from "@effect/sql-pg"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { WeChatError } from "@wxauth/core"
import { SqlTokenStore } from "@wxauth/store-sql"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Net from "node:net"
import { dropTables, forEachDatabase, pgPoolStates, postgres, randomTable } from "./databases.js"

const beginDelayMillis = 300
const setupTimeout = Duration.millis(100)

/** A socket that holds back the server's bytes for `beginDelayMillis` after the client sends `BEGIN`. */
class SlowBeginSocket extends Net.Socket {
  private held: Array<Buffer | null> | undefined = undefined

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.watch(chunk)
    super._write(chunk, encoding, callback)
  }

  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void
  ): void {
    for (const { chunk } of chunks) this.watch(chunk)
    super._writev!(chunks, callback)
  }

  private watch(chunk: Buffer) {
    if (this.held === undefined && Buffer.isBuffer(chunk) && chunk.includes("BEGIN\0")) {
      const held: Array<Buffer | null> = []
      this.held = held
      setTimeout(() => {
        this.held = undefined
        for (const data of held) super.push(data)
      }, beginDelayMillis)
    }
  }

  override push(chunk: Buffer | null, encoding?: BufferEncoding): boolean {
    if (this.held !== undefined) {
      this.held.push(chunk)
      return true
    }
    return super.push(chunk, encoding)
  }
}

const client = (maxConnections: number) =>
  PgClient.layer({
    host: postgres.host,
    port: postgres.port,
    database: process.env.PGDATABASE || "test",
    username: process.env.PGUSER || "postgres",
    password: process.env.PGPASSWORD ? Redacted.make(process.env.PGPASSWORD) : undefined,
    maxConnections,
    idleTimeout: Duration.minutes(1),
    stream: () => new SlowBeginSocket()
  })

forEachDatabase((db) => {
  if (db.dialect !== "pg") return
  describe("PostgreSQL setup interrupted by its deadline", () => {
    it.scopedLive("while its BEGIN is on its way: the connection goes back to the pool outside a transaction", () =>
      Effect.gen(function*() {
        const tables = { table: randomTable(), memoTable: randomTable() }
        yield* Effect.addFinalizer(() =>
          Effect.orDie(Effect.provide(dropTables(tables.table, tables.memoTable), postgres.client()))
        )
        const context = yield* Layer.build(client(2))
        const error = yield* Effect.flip(Effect.provide(SqlTokenStore.setup({ ...tables, setupTimeout }), context))
        assert.instanceOf(error, WeChatError.TokenStoreError)
        const states = yield* Effect.provide(pgPoolStates(2), context)
        assert.deepStrictEqual(states, ["outside a transaction", "outside a transaction"])
      }))

    it.scopedLive("while it waits for a connection: the pool keeps the connection", () =>
      Effect.gen(function*() {
        const tables = { table: randomTable(), memoTable: randomTable() }
        yield* Effect.addFinalizer(() =>
          Effect.orDie(Effect.provide(dropTables(tables.table, tables.memoTable), postgres.client()))
        )
        const context = yield* Layer.build(client(1))
        const sql = yield* Effect.provide(SqlClient.SqlClient, context)
        // the pool's only connection is taken while the setup's deadline strikes
        const error = yield* Effect.scoped(Effect.zipRight(
          sql.reserve,
          Effect.flip(Effect.provide(SqlTokenStore.setup({ ...tables, setupTimeout }), context))
        ))
        assert.instanceOf(error, WeChatError.TokenStoreError)
        const states = yield* Effect.provide(pgPoolStates(1), context)
        assert.deepStrictEqual(states, ["outside a transaction"])
      }))
  })
})
