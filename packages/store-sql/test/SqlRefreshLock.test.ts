/**
 * SqlRefreshLock on each database: mutual exclusion across two clients (two processes) on one
 * table, different keys never waiting for each other, the wait's bound, an expired lease taken over,
 * the release (only by the holder; on failure and on interruption), the heartbeat, the key bound,
 * setup and options; and the race it exists for: two WeChatOAuth runtimes over one SQL token table,
 * a refresh in one and a login in the other while a third connection holds the user's row, keep the
 * newer login.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as SqlClientTag from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { RefreshLock, TokenStore, WeChatConfig, WeChatHttpClient, WeChatOAuth } from "@wxauth/core"
import { randomAppId, randomOpenId } from "@wxauth/core/testing"
import { SqlRefreshLock, SqlTokenStore } from "@wxauth/store-sql"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"
import * as Http from "node:http"
import type * as Net from "node:net"
import { type Database, dropTables, forEachDatabase, randomTable } from "./databases.js"

/** The lock's row id of `key` (its SHA-256 over UTF-16 code units). */
const hashOf = (key: string) => Crypto.createHash("sha256").update(key, "utf16le").digest("hex")

/** A fresh lease table, set up, and two clients of `db` (two processes); the table dropped after. */
const twoClients = (db: Database) =>
  Effect.gen(function*() {
    const table = randomTable("wxauth_l")
    const first = yield* Layer.build(db.client())
    const second = yield* Layer.build(db.client())
    yield* Effect.addFinalizer(() => Effect.orDie(Effect.provide(dropTables(table), first)))
    yield* Effect.provide(SqlRefreshLock.setup({ table }), first)
    const lockOn = (client: Context.Context<SqlClient.SqlClient>, options: SqlRefreshLock.Options = {}) =>
      Effect.provide(SqlRefreshLock.make({ table, ...options }), client)
    const rows = Effect.provide(
      Effect.flatMap(SqlClientTag.SqlClient, (sql) =>
        sql<{ key_hash: string; holder: string }>`SELECT key_hash, holder FROM ${sql(table)}`),
      first
    )
    const exec = (statement: (sql: SqlClient.SqlClient) => Effect.Effect<unknown, unknown>) =>
      Effect.orDie(Effect.provide(Effect.flatMap(SqlClientTag.SqlClient, statement), first))
    return { table, first, second, lockOn, rows, exec }
  })

const nowExpr = (dialect: Database["dialect"], offsetMillis: number): string => {
  const now = dialect === "pg"
    ? "(floor(extract(epoch from clock_timestamp()) * 1000))::bigint"
    : dialect === "mysql"
    ? "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000)"
    : "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
  return `(${now} + (${offsetMillis}))`
}

forEachDatabase((db) => {
  describe(`SqlRefreshLock on ${db.name}`, () => {
    it.scopedLive("mutual exclusion across two clients on one table: holders never overlap", () =>
      Effect.gen(function*() {
        const { first, lockOn, rows, second } = yield* twoClients(db)
        const locks = [yield* lockOn(first), yield* lockOn(second)]
        const key = `${randomAppId()}:${randomOpenId()}`
        let inside = 0
        let most = 0
        const spans: Array<readonly [number, number]> = []
        const work = Effect.gen(function*() {
          inside++
          most = Math.max(most, inside)
          const start = Date.now()
          yield* Effect.sleep("60 millis")
          inside--
          spans.push([start, Date.now()])
        })
        yield* Effect.forEach(
          Array.from({ length: 8 }, (_, i) => locks[i % 2]),
          (lock) => lock.withLock(key, work),
          { concurrency: "unbounded", discard: true }
        )
        assert.strictEqual(most, 1, "one holder at a time")
        assert.strictEqual(spans.length, 8)
        assert.deepStrictEqual(yield* rows, [], "every holder released its row")
      }))

    it.scopedLive("different keys never wait for each other: the write key is taken at once inside the user's key", () =>
      Effect.gen(function*() {
        const { first, lockOn, second } = yield* twoClients(db)
        const a = yield* lockOn(first, { waitTimeout: "2 seconds" })
        const b = yield* lockOn(second, { waitTimeout: "2 seconds" })
        const user = `${randomAppId()}:${randomOpenId()}`
        const start = Date.now()
        const result = yield* a.withLock(
          user,
          Effect.zip(
            a.withLock(`${user}:write`, Effect.succeed("same client")),
            b.withLock(`${user}:write`, Effect.succeed("other client"))
          )
        )
        assert.deepStrictEqual(result, ["same client", "other client"])
        assert.isBelow(Date.now() - start, 1500, "no wait for the held key")
      }))

    it.scopedLive("a waiter gets RefreshLockTimeout at waitTimeout while another client holds the key", () =>
      Effect.gen(function*() {
        const { first, lockOn, second } = yield* twoClients(db)
        const holder = yield* lockOn(first)
        const waiter = yield* lockOn(second, { waitTimeout: "400 millis" })
        const key = `${randomAppId()}:${randomOpenId()}`
        const held = yield* Deferred.make<void>()
        const done = yield* Deferred.make<void>()
        const holding = yield* Effect.fork(
          holder.withLock(key, Effect.zipRight(Deferred.succeed(held, undefined), Deferred.await(done)))
        )
        yield* Deferred.await(held)
        const start = Date.now()
        const error = yield* Effect.flip(waiter.withLock(key, Effect.die("must not run")))
        const waited = Date.now() - start
        assert.strictEqual(error._tag, "RefreshLockTimeout")
        assert.strictEqual(error.key, key)
        assert.strictEqual(error.waitedMillis, 400)
        assert.isAtLeast(waited, 380)
        assert.isBelow(waited, 3000)
        // an uninterruptible waiter is bounded the same
        const again = yield* Effect.flip(Effect.uninterruptible(waiter.withLock(key, Effect.void)))
        assert.strictEqual(again._tag, "RefreshLockTimeout")
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(holding)
        // freed: taken at once
        assert.strictEqual(yield* waiter.withLock(key, Effect.succeed(1)), 1)
      }))

    it.scopedLive("an expired lease (a crashed holder) is taken over; a live one is not", () =>
      Effect.gen(function*() {
        const { exec, first, lockOn, rows, table } = yield* twoClients(db)
        const lock = yield* lockOn(first, { waitTimeout: "500 millis" })
        const live = `${randomAppId()}:${randomOpenId()}`
        const crashed = `${randomAppId()}:${randomOpenId()}`
        yield* exec((sql) =>
          sql.unsafe(
            `INSERT INTO ${table} (key_hash, holder, expires_at) VALUES ('${hashOf(crashed)}', 'gone', ${
              nowExpr(db.dialect, -1)
            }), ('${hashOf(live)}', 'alive', ${nowExpr(db.dialect, 60_000)})`
          )
        )
        assert.strictEqual(yield* lock.withLock(crashed, Effect.succeed("taken over")), "taken over")
        const error = yield* Effect.flip(lock.withLock(live, Effect.void))
        assert.strictEqual(error._tag, "RefreshLockTimeout")
        assert.deepStrictEqual((yield* rows).map((row) => row.holder), ["alive"])
      }))

    it.scopedLive("release only by the holder: a holder whose lease was taken over leaves the new holder's row", () =>
      Effect.gen(function*() {
        const { exec, first, lockOn, rows, second, table } = yield* twoClients(db)
        const a = yield* lockOn(first)
        const b = yield* lockOn(second)
        const probe = yield* lockOn(first, { waitTimeout: "300 millis" })
        const key = `${randomAppId()}:${randomOpenId()}`
        const aIn = yield* Deferred.make<void>()
        const aDone = yield* Deferred.make<void>()
        const bIn = yield* Deferred.make<void>()
        const bDone = yield* Deferred.make<void>()
        const aFiber = yield* Effect.fork(
          a.withLock(key, Effect.zipRight(Deferred.succeed(aIn, undefined), Deferred.await(aDone)))
        )
        yield* Deferred.await(aIn)
        const [aRow] = yield* rows
        // A stalls past its lease
        yield* exec((sql) => sql.unsafe(`UPDATE ${table} SET expires_at = ${nowExpr(db.dialect, -1000)}`))
        const bFiber = yield* Effect.fork(
          b.withLock(key, Effect.zipRight(Deferred.succeed(bIn, undefined), Deferred.await(bDone)))
        )
        yield* Deferred.await(bIn)
        const [bRow] = yield* rows
        assert.notStrictEqual(bRow.holder, aRow.holder, "B took the lease over")
        yield* Deferred.succeed(aDone, undefined)
        yield* Fiber.join(aFiber)
        assert.deepStrictEqual(yield* rows, [bRow], "A's release left B's row")
        assert.strictEqual((yield* Effect.flip(probe.withLock(key, Effect.void)))._tag, "RefreshLockTimeout")
        yield* Deferred.succeed(bDone, undefined)
        yield* Fiber.join(bFiber)
        assert.deepStrictEqual(yield* rows, [])
      }))

    if (db.dialect !== "sqlite") {
      // A waiter whose take is blocked in the database (another session's uncommitted insert of the
      // key) and that gives up: interrupted, or at waitTimeout. Its statement still runs; when the
      // other session rolls back, it lands. The cleanup waits for it and drops the row, so no lease of
      // a waiter that left blocks the key for lockTtl.
      for (const giveUp of ["interrupted", "waitTimeout"] as const) {
        it.scopedLive(`a waiter that gives up (${giveUp}) while its take is blocked in the database leaves no lease`, () =>
          Effect.gen(function*() {
            const { first, lockOn, rows, second, table } = yield* twoClients(db)
            const waiter = yield* lockOn(second, { waitTimeout: giveUp === "waitTimeout" ? "1 second" : "25 seconds" })
            const next = yield* lockOn(first, { waitTimeout: "1 second" })
            const key = `${randomAppId()}:${randomOpenId()}`
            const hash = hashOf(key)
            const inserted = yield* Deferred.make<void>()
            const rollback = yield* Deferred.make<void>()
            const blocker = yield* Effect.forkScoped(Effect.provide(
              Effect.flatMap(SqlClientTag.SqlClient, (sql) =>
                sql.withTransaction(
                  sql`INSERT INTO ${sql(table)} (key_hash, holder, expires_at) VALUES (${hash}, ${"blocker"}, ${0})`
                    .pipe(
                      Effect.zipRight(Deferred.succeed(inserted, undefined)),
                      Effect.zipRight(Deferred.await(rollback)),
                      Effect.zipRight(Effect.fail("roll back" as const))
                    )
                )),
              first
            ))
            yield* Deferred.await(inserted)
            const waiting = yield* Effect.fork(waiter.withLock(key, Effect.die("must not run")))
            yield* Effect.sleep("300 millis")
            const start = Date.now()
            if (giveUp === "interrupted") {
              yield* Fiber.interrupt(waiting)
            } else {
              const error = yield* Effect.flip(Fiber.join(waiting))
              assert.strictEqual(error._tag, "RefreshLockTimeout")
            }
            assert.isBelow(Date.now() - start, 1500, "the waiter does not wait for its statement")
            // the statement still waits in the database; a cleanup that does not wait for it is done
            yield* Effect.sleep("300 millis")
            yield* Deferred.succeed(rollback, undefined)
            assert.deepStrictEqual(yield* Effect.flip(Fiber.join(blocker)), "roll back")
            yield* Effect.sleep("500 millis")
            assert.deepStrictEqual(
              (yield* rows).filter((row) => row.key_hash === hash),
              [],
              "no lease of the waiter that gave up"
            )
            assert.strictEqual(yield* next.withLock(key, Effect.succeed("in")), "in", "the next withLock gets in")
          }))
      }

      // The same at the statement's own deadline, with the waiter's pool busy: its connection comes
      // 800 ms into a 1 s `timeout`, so the server's bound on the lock wait must be what is left
      // then, not the whole second (its wait then outlived the deadline, the cleanup's delete ran
      // while the insert still waited, and the rollback at 1.3 s let the insert commit a full lease).
      // On MySQL / MariaDB the bound is whole seconds: the cleanup's second delete clears the row.
      it.scopedLive("a waiter whose take is cut at its statement's deadline, its pool busy, leaves no lease", () =>
        Effect.gen(function*() {
          const { first, lockOn, rows, table } = yield* twoClients(db)
          const busyClient = yield* Layer.build(db.client({ maxConnections: 2 }))
          const waiter = yield* lockOn(busyClient, { timeout: "1 second", waitTimeout: "25 seconds" })
          const next = yield* lockOn(first, { waitTimeout: "1 second" })
          const key = `${randomAppId()}:${randomOpenId()}`
          const hash = hashOf(key)
          const inserted = yield* Deferred.make<void>()
          const rollback = yield* Deferred.make<void>()
          const blocker = yield* Effect.forkScoped(Effect.provide(
            Effect.flatMap(SqlClientTag.SqlClient, (sql) =>
              sql.withTransaction(
                sql`INSERT INTO ${sql(table)} (key_hash, holder, expires_at) VALUES (${hash}, ${"blocker"}, ${0})`
                  .pipe(
                    Effect.zipRight(Deferred.succeed(inserted, undefined)),
                    Effect.zipRight(Deferred.await(rollback)),
                    Effect.zipRight(Effect.fail("roll back" as const))
                  )
              )),
            first
          ))
          yield* Deferred.await(inserted)
          // both connections of the waiter's pool busy for 800 ms (two other requests of the process)
          const sleep = db.dialect === "pg" ? "SELECT pg_sleep(0.8)" : "SELECT SLEEP(0.8)"
          for (let i = 0; i < 2; i++) {
            yield* Effect.forkScoped(
              Effect.provide(
                Effect.flatMap(SqlClientTag.SqlClient, (sql) => Effect.ignore(sql.unsafe(sleep))),
                busyClient
              )
            )
          }
          yield* Effect.sleep("20 millis")
          const start = Date.now()
          const waiting = yield* Effect.fork(
            Effect.zip(
              Effect.flip(waiter.withLock(key, Effect.die("must not run"))),
              Effect.sync(() => Date.now() - start)
            )
          )
          yield* Effect.sleep(Duration.millis(Math.max(0, 1300 - (Date.now() - start))))
          yield* Deferred.succeed(rollback, undefined)
          assert.deepStrictEqual(yield* Effect.flip(Fiber.join(blocker)), "roll back")
          const [error, waited] = yield* Fiber.join(waiting)
          assert.strictEqual(error._tag, "RefreshLockTimeout")
          assert.isBelow(waited, 2500, "the waiter gives up at its statement's deadline")
          // the rollback settles (on MySQL / MariaDB, the cleanup's second delete comes later)
          yield* Effect.sleep(db.dialect === "pg" ? "3 seconds" : "5 seconds")
          assert.deepStrictEqual(
            (yield* rows).filter((row) => row.key_hash === hash),
            [],
            "no lease of the waiter that gave up"
          )
          const nextStart = Date.now()
          assert.strictEqual(yield* next.withLock(key, Effect.succeed("in")), "in", "the next withLock gets in")
          assert.isBelow(Date.now() - nextStart, 1000, "promptly")
        }))
    }

    it.scopedLive("released when the effect fails, dies or is interrupted", () =>
      Effect.gen(function*() {
        const { first, lockOn, rows } = yield* twoClients(db)
        const lock = yield* lockOn(first, { waitTimeout: "300 millis" })
        const key = `${randomAppId()}:${randomOpenId()}`
        assert.strictEqual(yield* Effect.flip(lock.withLock(key, Effect.fail("boom" as const))), "boom")
        assert.deepStrictEqual(yield* rows, [])
        const died = yield* Effect.exit(lock.withLock(key, Effect.die("bad")))
        assert.isTrue(Exit.isFailure(died))
        assert.deepStrictEqual(yield* rows, [])
        const held = yield* Deferred.make<void>()
        const fiber = yield* Effect.fork(
          lock.withLock(key, Effect.zipRight(Deferred.succeed(held, undefined), Effect.never))
        )
        yield* Deferred.await(held)
        assert.strictEqual((yield* rows).length, 1)
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(yield* rows, [])
        assert.strictEqual(yield* lock.withLock(key, Effect.succeed("free")), "free")
      }))

    it.scopedLive("the heartbeat renews the lease while its holder works past lockTtl", () =>
      Effect.gen(function*() {
        const { first, lockOn, second } = yield* twoClients(db)
        const holder = yield* lockOn(first, { lockTtl: "300 millis" })
        const waiter = yield* lockOn(second, { waitTimeout: "900 millis" })
        const key = `${randomAppId()}:${randomOpenId()}`
        const held = yield* Deferred.make<void>()
        const fiber = yield* Effect.fork(
          holder.withLock(key, Effect.zipRight(Deferred.succeed(held, undefined), Effect.sleep("1500 millis")))
        )
        yield* Deferred.await(held)
        const error = yield* Effect.flip(waiter.withLock(key, Effect.void))
        assert.strictEqual(error._tag, "RefreshLockTimeout", "the renewed lease kept the waiter out")
        yield* Fiber.join(fiber)
      }))

    it.scopedLive("the key bound: 512 characters taken, 513 and a non-string refused at once, unsent", () =>
      Effect.gen(function*() {
        const { first, lockOn, rows } = yield* twoClients(db)
        const lock = yield* lockOn(first)
        assert.strictEqual(SqlRefreshLock.maxKeyLength, 512)
        assert.strictEqual(yield* lock.withLock("k".repeat(512), Effect.succeed(1)), 1)
        const long = yield* Effect.flip(lock.withLock("k".repeat(513), Effect.die("must not run")))
        assert.strictEqual(long.key, "")
        assert.instanceOf(long.cause, RangeError)
        const huge = yield* Effect.flip(lock.withLock("k".repeat(10_000_000), Effect.die("must not run")))
        assert.strictEqual(huge.key, "")
        const notText = yield* Effect.flip(lock.withLock(42 as unknown as string, Effect.die("must not run")))
        assert.instanceOf(notText.cause, TypeError)
        // lone surrogates and case are distinct keys
        const both = yield* lock.withLock(
          "a\uD800",
          lock.withLock("a\uDBFF", lock.withLock("A\uD800", Effect.succeed(2)))
        )
        assert.strictEqual(both, 2)
        assert.deepStrictEqual(yield* rows, [])
      }))

    it.scopedLive("a database failure while taking the lock is a RefreshLockTimeout with a cleaned cause, at once", () =>
      Effect.gen(function*() {
        const client = yield* Layer.build(db.client())
        // no such table: every take fails
        const lock = yield* Effect.provide(SqlRefreshLock.make({ table: randomTable("wxauth_missing") }), client)
        const key = `${randomAppId()}:${randomOpenId()}`
        const start = Date.now()
        const error = yield* Effect.flip(lock.withLock(key, Effect.die("must not run")))
        assert.strictEqual(error._tag, "RefreshLockTimeout")
        assert.strictEqual(error.key, key)
        assert.isDefined(error.cause)
        assert.notInclude(String((error.cause as Error).message), key.split(":")[1])
        assert.isBelow(Date.now() - start, 5000)
      }))

    it.scopedLive("setup is idempotent; ddl names the table; bad options are InvalidArgument", () =>
      Effect.gen(function*() {
        const { first, table } = yield* twoClients(db)
        yield* Effect.provide(SqlRefreshLock.setup({ table }), first)
        const statements = Either.getOrThrow(SqlRefreshLock.ddl(db.dialect))
        assert.include(statements[0], "wxauth_locks")
        assert.isTrue(Either.isLeft(SqlRefreshLock.ddl(db.dialect, { table: "bad name" })))
        for (
          const options of [
            { table: "1x" },
            { waitTimeout: -1 },
            { lockTtl: "forever" },
            { poll: 5 },
            // past a timer's limit: a waiter's deadline never set; a lease the database cannot count
            { waitTimeout: "30 days" },
            { lockTtl: Duration.millis(1e19) }
          ] as Array<SqlRefreshLock.Options>
        ) {
          const error = yield* Effect.flip(Effect.provide(SqlRefreshLock.make({ table, ...options }), first))
          assert.strictEqual(error._tag, "InvalidArgument", JSON.stringify(options))
        }
        // the bound itself is taken
        yield* Effect.provide(SqlRefreshLock.make({ table, lockTtl: "24 days", waitTimeout: "24 days" }), first)
        const built = yield* Layer.build(
          SqlRefreshLock.layerFromClient(Context.get(first, SqlClientTag.SqlClient), { table })
        )
        const lock = Context.get(built, RefreshLock.RefreshLock)
        assert.strictEqual(yield* lock.withLock("x", Effect.succeed("ok")), "ok")
      }))
  })

  if (db.dialect === "sqlite") return

  describe(`SqlRefreshLock on ${db.name}: two WeChatOAuth processes over one token table`, () => {
    it.scopedLive(
      "a refresh in one process never overwrites a login stored meanwhile in another (a row held by a third connection)",
      () =>
        Effect.gen(function*() {
          const kept = yield* raceKeepsLogin(db, (lockTable) => SqlRefreshLock.layer({ table: lockTable }))
          assert.isTrue(kept, "B's newer login is the stored token")
        }),
      30_000
    )
  })
})

/**
 * A fake WeChat: codes exchange for new grants of one user; the first refresh answers after
 * `slowMillis`.
 */
const fakeWeChat = (openid: string, slowMillis: number) =>
  Effect.acquireRelease(
    Effect.async<{ url: string; server: Http.Server }>((resume) => {
      let grants = 0
      let refreshes = 0
      const server = Http.createServer((req, res) => {
        const url = new URL(req.url ?? "/", "http://x")
        const answer = (body: object) => {
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify(body))
        }
        if (url.pathname === "/sns/oauth2/access_token") {
          grants++
          return answer({
            access_token: `AT-login-${grants}`,
            expires_in: 7200,
            refresh_token: `RT-grant-${grants}`,
            openid,
            scope: "snsapi_userinfo"
          })
        }
        if (url.pathname === "/sns/oauth2/refresh_token") {
          refreshes++
          const body = {
            access_token: `AT-refresh-${refreshes}`,
            expires_in: 7200,
            refresh_token: url.searchParams.get("refresh_token") ?? "",
            openid,
            scope: "snsapi_userinfo"
          }
          return refreshes === 1 ? void setTimeout(() => answer(body), slowMillis) : answer(body)
        }
        res.writeHead(404)
        res.end("{}")
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ url: `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}`, server })))
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() =>
          resume(Effect.void)
        )
      })
  )

/**
 * /tmp/r6/sqlrace.mjs as a test: process A refreshes the user (WeChat answers after 1.5 s) while
 * process B stores a new login; a third connection holds the user's token row from 0.2 s to 2.4 s,
 * so B's write waits and A's refresh is ready to write before it lands. True when the stored token
 * is B's login.
 */
const raceKeepsLogin = (
  db: Database,
  lockLayer: (lockTable: string) => Layer.Layer<RefreshLock.RefreshLock, unknown, SqlClient.SqlClient>
) =>
  Effect.gen(function*() {
    const appId = randomAppId()
    const openid = randomOpenId()
    const table = randomTable("wxauth_race")
    const lockTable = randomTable("wxauth_racel")
    const { url } = yield* fakeWeChat(openid, 1500)
    const admin = yield* Layer.build(db.client())
    yield* Effect.addFinalizer(() =>
      Effect.orDie(Effect.provide(dropTables(table, `${table}_codes`, lockTable), admin))
    )
    const processLayer = () =>
      WeChatOAuth.layer.pipe(
        Layer.provideMerge(Layer.mergeAll(
          WeChatConfig.layer({ appId, appSecret: "s3cret", apiBaseUrl: url, openBaseUrl: url }),
          WeChatHttpClient.layer(),
          Layer.merge(SqlTokenStore.layer({ table }), lockLayer(lockTable)).pipe(Layer.provide(db.client()))
        ))
      )
    const A = ManagedRuntime.make(processLayer())
    const B = ManagedRuntime.make(processLayer())
    yield* Effect.addFinalizer(() => Effect.promise(() => Promise.all([A.dispose(), B.dispose()])))
    const oauth = (runtime: typeof A) => Effect.promise(() => runtime.runPromise(WeChatOAuth.WeChatOAuth))
    const a = yield* oauth(A)
    const b = yield* oauth(B)
    yield* a.exchangeCode("code-1")
    const refresh = yield* Effect.fork(Effect.either(a.refresh(openid)))
    yield* Effect.sleep("200 millis")
    // a third connection holds the user's row: both writes queue behind it (a slow store write)
    const sql = Context.get(admin, SqlClientTag.SqlClient)
    const connection = yield* sql.reserve
    const exec = (text: string, params: ReadonlyArray<unknown> = []) =>
      Effect.orDie(connection.executeUnprepared(text, params, undefined))
    yield* exec(db.dialect === "pg" ? "BEGIN" : "START TRANSACTION")
    yield* exec(
      db.dialect === "pg"
        ? `SELECT 1 FROM ${table} WHERE app_id = $1 AND openid = $2 FOR UPDATE`
        : `SELECT 1 FROM ${table} WHERE app_id = ? AND openid = ? FOR UPDATE`,
      [appId, openid]
    )
    const login = yield* Effect.fork(b.exchangeCode("code-2"))
    yield* Effect.sleep("2200 millis")
    yield* exec("COMMIT")
    const loginToken = yield* Fiber.join(login)
    yield* Fiber.join(refresh)
    const stored = yield* Effect.promise(() =>
      B.runPromise(Effect.flatMap(TokenStore.TokenStore, (store) => store.get(appId, openid)))
    )
    return Option.isSome(stored) &&
      Redacted.value(stored.value.refreshToken) === Redacted.value(loginToken.refreshToken) &&
      Redacted.value(stored.value.accessToken) === Redacted.value(loginToken.accessToken)
  })
