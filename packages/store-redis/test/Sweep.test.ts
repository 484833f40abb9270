/**
 * The sweep of @wxauth/store-redis's public API (test-support's `Sweep`), on a real Redis: every
 * exported function (constructors, layers, layerConfig, the key functions), the options of each
 * field by field (the near cache's too), and every method of the stores and the lock they build:
 * each hostile value in each place, the others valid. No throw, no defect, no hang, a tagged error
 * (`InvalidArgument`, `TokenStoreError`, `SessionStoreError`, `ConfigError`), and no token, session
 * key or password in an error, a span or a log line. A function without a row fails the sweep.
 */
import { assert, it } from "@effect/vitest"
import { SessionStore, TokenStore } from "@wxauth/core"
import { makeAppToken, makeSession, makeToken, randomAppId, randomSessionKey } from "@wxauth/core/testing"
import * as Redis from "@wxauth/store-redis"
import { type Findings, orThrown, publicFunctions, type Row, sweep } from "@wxauth/test-support"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { afterAll } from "vitest"
import { cleanup, describeRedis, makeAdmin, quietClient, randomPrefix, redisUrl } from "./utils.js"

const { RedisAppTokenStore, RedisRefreshLock, RedisSessionKeyStore, RedisSessionStore, RedisTokenStore } = Redis

describeRedis("sweep: every public function of @wxauth/store-redis against hostile JavaScript callers", () => {
  const keyPrefix = randomPrefix()
  const admin = makeAdmin()
  afterAll(async () => {
    await cleanup(admin, keyPrefix)
    await admin.quit()
  })

  it.scopedLive(
    "no throw, no defect, no hang, a tagged error, no secret in errors, spans or logs",
    () =>
      Effect.gen(function*() {
        const client = yield* quietClient(redisUrl)
        const appId = randomAppId()
        const token = yield* makeToken()
        const appToken = yield* makeAppToken()
        const sessionKey = randomSessionKey()
        const { session } = yield* makeSession()
        const secrets = [
          Redacted.value(token.accessToken),
          Redacted.value(token.refreshToken),
          Redacted.value(appToken.accessToken),
          Redacted.value(sessionKey)
        ]
        const connection: Redis.RedisTokenStore.Options = {
          url: redisUrl,
          keyPrefix,
          commandTimeout: "2 seconds",
          connectTimeout: "2 seconds"
        }
        const stores = {
          tokens: yield* RedisTokenStore.makeScoped(client, { keyPrefix, nearCache: { maxEntries: 10 } }),
          appTokens: yield* RedisAppTokenStore.make(client, { keyPrefix }),
          sessionKeys: yield* RedisSessionKeyStore.make(client, { keyPrefix, ttl: "1 hour" }),
          sessions: yield* RedisSessionStore.make(client, { keyPrefix, maxSessionsPerUser: 5 }),
          lock: yield* RedisRefreshLock.make(client, { keyPrefix, lockTtl: "2 seconds", waitTimeout: "200 millis" })
        }
        yield* stores.tokens.set(appId, token)
        yield* stores.sessions.create(session)
        const config = (options: object) =>
          Object.fromEntries(Object.entries(options).map(([k, v]) => [k, Config.succeed(v)]))
        const rows: Record<string, { args: ReadonlyArray<unknown>; skip?: ReadonlyArray<number> }> = {
          "RedisAppTokenStore.appTokenKey": { args: [appId, keyPrefix] },
          "RedisAppTokenStore.layer": { args: [connection] },
          "RedisAppTokenStore.layerConfig": { args: [config(connection)] },
          "RedisAppTokenStore.layerFromClient": { args: [client, { keyPrefix, commandTimeout: "2 seconds" }] },
          "RedisAppTokenStore.make": { args: [client, { keyPrefix, commandTimeout: "2 seconds" }] },
          "RedisRefreshLock.layer": {
            args: [{ ...connection, lockTtl: "2 seconds", waitTimeout: "1 second", poll: Schedule.spaced("10 millis") }]
          },
          "RedisRefreshLock.layerConfig": { args: [config({ ...connection, lockTtl: "2 seconds" })] },
          "RedisRefreshLock.layerFromClient": { args: [client, { keyPrefix, lockTtl: "2 seconds" }] },
          "RedisRefreshLock.lockKey": { args: ["k", keyPrefix] },
          "RedisRefreshLock.make": {
            args: [client, {
              keyPrefix,
              lockTtl: "2 seconds",
              waitTimeout: "1 second",
              poll: Schedule.spaced("10 millis")
            }]
          },
          "RedisSessionKeyStore.layer": { args: [{ ...connection, ttl: "1 hour" }] },
          "RedisSessionKeyStore.layerConfig": { args: [config({ ...connection, ttl: "1 hour" })] },
          "RedisSessionKeyStore.layerFromClient": { args: [client, { keyPrefix, ttl: "1 hour" }] },
          "RedisSessionKeyStore.make": { args: [client, { keyPrefix, ttl: "1 hour", commandTimeout: "2 seconds" }] },
          "RedisSessionKeyStore.sessionKeyKey": { args: [appId, token.openid, keyPrefix] },
          "RedisSessionStore.layer": { args: [{ ...connection, maxSessionsPerUser: 5 }] },
          "RedisSessionStore.layerConfig": { args: [config({ ...connection, maxSessionsPerUser: 5 })] },
          "RedisSessionStore.layerFromClient": { args: [client, { keyPrefix, maxSessionsPerUser: 5 }] },
          "RedisSessionStore.make": {
            args: [client, { keyPrefix, maxSessionsPerUser: 5, commandTimeout: "2 seconds" }]
          },
          "RedisSessionStore.sessionKey": { args: [session.idHash, keyPrefix] },
          "RedisSessionStore.userIndexKey": { args: [appId, token.openid, keyPrefix] },
          "RedisTokenStore.bypassNearCache": { args: [stores.tokens.get(appId, token.openid)], skip: [0] },
          "RedisTokenStore.codeKey": { args: [appId, "h".repeat(43), keyPrefix] },
          "RedisTokenStore.layer": { args: [{ ...connection, nearCache: { maxEntries: 10 } }] },
          "RedisTokenStore.layerConfig": { args: [config(connection)] },
          "RedisTokenStore.layerFromClient": { args: [client, { keyPrefix, nearCache: { maxEntries: 10 } }] },
          "RedisTokenStore.make": { args: [client, { keyPrefix, commandTimeout: "2 seconds" }] },
          "RedisTokenStore.makeScoped": {
            args: [client, { keyPrefix, commandTimeout: "2 seconds", nearCache: { maxEntries: 10 } }]
          },
          "RedisTokenStore.tokenKey": { args: [appId, token.openid, keyPrefix] },
          // the services
          "tokens.get": { args: [appId, token.openid] },
          "tokens.set": { args: [appId, token] },
          "tokens.remove": { args: [appId, "o-not-a-user"] },
          "tokens.rememberCode": {
            args: [
              appId,
              "h".repeat(43),
              new TokenStore.CodeMemo({ openid: token.openid, exchangedAt: Date.now(), expiresAt: Date.now() + 60_000 })
            ]
          },
          "tokens.recallCode": { args: [appId, "h".repeat(43)] },
          "appTokens.get": { args: [appId] },
          "appTokens.set": { args: [appId, appToken] },
          "sessionKeys.get": { args: [appId, token.openid] },
          "sessionKeys.set": { args: [appId, token.openid, sessionKey] },
          "sessionKeys.remove": { args: [appId, "o-not-a-user"] },
          "sessions.create": { args: [session] },
          "sessions.get": { args: [session.idHash] },
          "sessions.touch": { args: [session.idHash, session.expiresAt + 1_000] },
          "sessions.revoke": { args: [SessionStore.hashToken("x".repeat(43))] },
          "sessions.revokeUser": { args: [appId, "o-not-a-user"] },
          "lock.withLock": { args: ["key", Effect.void], skip: [1] }
        }
        const targets = publicFunctions(Redis, stores, (f) => typeof f === "function" && !("ast" in f))
        const missing = targets.map(([name]) => name).filter((name) => !(name in rows))
        assert.deepStrictEqual(missing, [], "every public function has a row")
        // the key functions give a string or throw (a TypeError on a Symbol, a caller's toString's
        // own throw): synchronous helpers for operators, without an error channel
        const isKeyFunction = (name: string) => name.startsWith("Redis") && /[kK]ey$/.test(name)
        const swept: Array<Row> = targets.map(([name, f, self]) => ({
          name,
          call: isKeyFunction(name) ? orThrown(f, self) : (...args) => f.apply(self, args),
          args: rows[name].args,
          skip: rows[name].skip
        }))
        swept.push({
          name: "RedisTokenStore.makeScoped({ nearCache: { maxEntries } })",
          call: (nearCache) => RedisTokenStore.makeScoped(client, { keyPrefix, nearCache }),
          args: [{ maxEntries: 10 }]
        }, {
          name: "RedisTokenStore.layer({ nearCache: { maxEntries } })",
          call: (nearCache) => RedisTokenStore.layer({ ...connection, nearCache }),
          args: [{ maxEntries: 10 }]
        })
        const findings: Findings = { calls: 0, problems: [], invalidRows: process.env.SWEEP_DUMP ? [] : undefined }
        yield* sweep({
          rows: swept,
          secrets,
          provide: <A, E>(effect: Effect.Effect<A, E, any>) => effect as Effect.Effect<A, E>,
          findings
        })
        console.log(
          `store-redis sweep: ${swept.length} rows, ${findings.calls} calls, ${findings.problems.length} problems`
        )
        if (process.env.SWEEP_DUMP) {
          require("node:fs").writeFileSync(
            process.env.SWEEP_DUMP,
            [...findings.problems, "--- rows", ...findings.invalidRows ?? []].join("\n")
          )
        }
        assert.deepStrictEqual(findings.problems.slice(0, 40), [], `${findings.problems.length} problems`)
        assert.isAbove(findings.calls, 3000)
      }),
    1_200_000
  )
})
