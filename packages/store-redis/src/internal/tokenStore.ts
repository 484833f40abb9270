/**
 * The operations of `RedisTokenStore`: one hash per user (a script reads `o` and `v`, a value longer
 * than any token left unread; the newer-wins script writes), a string per code memo (read by a
 * script too, a value longer than any memo left unread), values through core's codec, decoded
 * tokens kept in the `TokenCache` (and served from it while the near cache's feed says nothing
 * changed).
 */
import type { OAuthToken } from "@wxauth/core"
import { TokenStore, WeChatError } from "@wxauth/core"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Client from "./client.js"
import * as Scripts from "./scripts.js"
import { spanWhenTraced } from "./span.js"
import type { TokenCache } from "./tokenCache.js"
import { bypassNearCache } from "./tokenCache.js"

export interface StoreOptions {
  readonly codec: TokenStore.Codec
  readonly timeout: Duration.Duration
  readonly tokenKey: (appId: string, openid: string) => string
  readonly codeKey: (appId: string, codeHash: string) => string
  readonly cache: TokenCache
}

/** A code memo lives at least this long in Redis, whatever its `expiresAt` (which `recallCode` checks). */
const minimumMemoTtlMillis = 1000

const noValue = new WeChatError.TokenStoreError({
  operation: "get",
  description: "the stored token has no value (not written by wxauth, or corrupted)"
})

const tooLong = Scripts.tooLong("token")
const memoTooLong = Scripts.tooLong("code memo", "recallCode", "code memo")

/** The longest value a read (of a token or a code memo) fetches, as the scripts' argument. */
const maxValueBytes = String(TokenStore.maxStoredValueBytes)

const span = (name: string, appId: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  spanWhenTraced(self, name, appId)

/**
 * The one appId of core's rule whose keys are another store's: `RedisAppTokenStore` keeps app `X`'s
 * token under `{app-token:X}:token`, which is `tokenKey("app-token", X)`, and core's `AppToken` locks
 * `app-token:X`, the refresh key of the user X of app `app-token`. Every other appId is disjoint from
 * them: an appId has no `:`, so `{<appId>:...}` names `app-token` only when the appId is `app-token`
 * (Redis keys are case-sensitive: `App-Token` is another). No WeChat appid is `app-token` (`wx` and
 * 16 hex digits), so this store refuses it, as it refuses an appId out of the rule.
 */
const reservedAppId = "app-token"

const reserved = (operation: string) =>
  Effect.fail(
    new WeChatError.TokenStoreError({
      operation,
      description: "the appId \"app-token\" is reserved: the Redis app token store keeps app tokens under its keys"
    })
  )

/**
 * The ids of a call hold core's rule (a JavaScript caller may pass anything): `TokenStore.checkUser`,
 * `checkCode`. An appId has no `:`, so the key `{appId:openid}` is one pair's only; and it is not
 * `reservedAppId`, so no key is an app token's.
 */
const checkUser = (
  operation: string,
  appId: string,
  openid: string
): Effect.Effect<void, WeChatError.TokenStoreError> =>
  appId === reservedAppId ? reserved(operation) : TokenStore.checkUser(operation, appId, openid)
const checkCode = (
  operation: string,
  appId: string,
  codeHash: string
): Effect.Effect<void, WeChatError.TokenStoreError> =>
  appId === reservedAppId ? reserved(operation) : TokenStore.checkCode(operation, appId, codeHash)

/**
 * `then()` after core's check of the ids. Valid ids are answered by `Effect.void` itself (a constant:
 * nothing to run), so a valid call is `then()` alone and allocates nothing more (`get` is getUser's
 * path); any other answer (a refusal) runs first.
 */
const afterUser = <A>(
  operation: string,
  appId: string,
  openid: string,
  then: () => Effect.Effect<A, WeChatError.TokenStoreError>
): Effect.Effect<A, WeChatError.TokenStoreError> => {
  const checked = checkUser(operation, appId, openid)
  return checked === Effect.void ? then() : Effect.zipRight(checked, Effect.suspend(then))
}

/** `None` once the refresh token's life is over, by `Clock`. */
const unlessOver = (token: OAuthToken.OAuthToken) =>
  Effect.map(Clock.currentTimeMillis, (now) => token.refreshExpiresAt <= now ? Option.none() : Option.some(token))

export const make = (redis: Client.Client, options: StoreOptions): TokenStore.TokenStoreShape => {
  const { cache, codec, codeKey, timeout, tokenKey } = options
  const setNewer = Scripts.defineSetNewer(redis)
  const getBounded = Scripts.defineGetBounded(redis)
  const getStringBounded = Scripts.defineGetStringBounded(redis)

  /**
   * Asks Redis (a value longer than any token is not fetched); `tracked` says whether the answer may
   * be served later without asking (see `tokenCache.ts`).
   */
  const read = (key: string, appId: string, openid: string, tracked: () => boolean) =>
    Client.run("get", timeout, () => getBounded(key, maxValueBytes, "o")).pipe(
      Effect.flatMap(([obtainedAt, value, length]) => {
        if (value === null || value === undefined) {
          return length !== undefined && length !== null
            ? Effect.fail(tooLong)
            : obtainedAt === null || obtainedAt === undefined
            ? Effect.succeedNone
            : Effect.fail(noValue)
        }
        const known = cache.decoded(key, appId, openid, value)
        if (known !== undefined) {
          cache.remember(key, appId, openid, value, known, tracked())
          return unlessOver(known)
        }
        return Effect.flatMap(codec.decodeToken(appId, openid, value), (token) => {
          cache.remember(key, appId, openid, value, token, tracked())
          return unlessOver(token)
        })
      })
    )

  const untracked = () => false

  // the ids' check is synchronous: a valid get (a near-cache hit, getUser's path) allocates nothing more
  const get = (appId: string, openid: string) => afterUser("get", appId, openid, () => checkedGet(appId, openid))

  const checkedGet = (appId: string, openid: string) => {
    const key = tokenKey(appId, openid)
    return Effect.withFiberRuntime<Option.Option<OAuthToken.OAuthToken>, WeChatError.TokenStoreError>((fiber) => {
      if (fiber.getFiberRef(bypassNearCache)) return read(key, appId, openid, untracked)
      const near = cache.servable(key, appId, openid)
      if (near !== undefined) return unlessOver(near.token)
      // the ticket is taken and its end guarded in one uninterruptible step: a caller interrupted
      // between the two (at a yield) left the read pending for ever, and once an invalidation of the
      // key arrived, no read of it was ever kept as tracked again
      return Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          const ticket = cache.begin(key)
          if (ticket === undefined) return restore(read(key, appId, openid, untracked))
          // the ticket ends exactly once: when the answer is kept, or when the read fails or is interrupted
          let open = true
          const end = () => {
            if (!open) return false
            open = false
            return cache.end(key, ticket)
          }
          return Effect.ensuring(restore(read(key, appId, openid, end)), Effect.sync(end))
        })
      )
    }).pipe(span("RedisTokenStore.get", appId))
  }

  // each command is bounded (commandTimeout): wxauth uses it as it is
  const own = TokenStore.TokenStore.of({
    get,
    set: (appId, token) =>
      // the caller's token is read once, every field (core's checkToken, under a guard): only the
      // fresh copy it answers is checked and used, for the key, the TTL, the value and the near cache
      Effect.flatMap(TokenStore.checkToken("set", token), (checked) =>
        checkUser("set", appId, checked.openid).pipe(
          // a time that is not finite would be stored as text no comparison reads back, or fail the script
          // half-way (Redis does not roll a script back): the key kept without its TTL
          Effect.zipRight(Scripts.checkTimes("set", {
            obtainedAt: checked.obtainedAt,
            expiresAt: checked.expiresAt,
            refreshExpiresAt: checked.refreshExpiresAt
          })),
          Effect.zipRight(Effect.all([codec.encodeToken(appId, checked), Clock.currentTimeMillis])),
          Effect.flatMap(([value, now]) => {
            const key = tokenKey(appId, checked.openid)
            const ttl = Math.ceil(checked.refreshExpiresAt - now)
            // untracked before the write is sent and again once it is answered: a get of this process
            // after the set sees it, whenever Redis' invalidation arrives
            return Client.run("set", timeout, () => {
              cache.invalidate(key)
              return setNewer(key, String(checked.obtainedAt), value, String(ttl))
            }).pipe(
              Effect.map((written) => {
                cache.invalidate(key)
                // as decoded only: the next get still asks Redis, and skips the decode if nothing changed
                if (written === 1 && ttl > 0) cache.remember(key, appId, checked.openid, value, checked, false)
              }),
              Effect.ensuring(Effect.sync(() => cache.invalidate(key)))
            )
          })
        )).pipe(span("RedisTokenStore.set", appId)),
    remove: (appId, openid) =>
      afterUser("remove", appId, openid, () => {
        const key = tokenKey(appId, openid)
        return Client.run("remove", timeout, () => {
          cache.invalidate(key)
          return redis.del(key)
        }).pipe(
          Effect.ensuring(Effect.sync(() => cache.invalidate(key))),
          Effect.asVoid,
          span("RedisTokenStore.remove", appId)
        )
      }),
    rememberCode: (appId, codeHash, memo) =>
      checkCode("rememberCode", appId, codeHash).pipe(
        // the caller's memo is read once, every field (core's checkMemo, under a guard): the times
        // checked, the value and the TTL are all of the fresh copy it answers
        Effect.zipRight(TokenStore.checkMemo("rememberCode", memo)),
        Effect.flatMap((read) =>
          Scripts.checkTimes("rememberCode", { exchangedAt: read.exchangedAt, expiresAt: read.expiresAt }).pipe(
            Effect.zipRight(Effect.all([codec.encodeMemo(appId, codeHash, read), Clock.currentTimeMillis])),
            Effect.flatMap(([value, now]) =>
              Client.run("rememberCode", timeout, () =>
                redis.set(
                  codeKey(appId, codeHash),
                  value,
                  "PX",
                  Math.max(minimumMemoTtlMillis, Math.ceil(read.expiresAt - now))
                ))
            )
          )
        ),
        Effect.asVoid,
        span("RedisTokenStore.rememberCode", appId)
      ),
    recallCode: (appId, codeHash) =>
      Effect.zipRight(
        checkCode("recallCode", appId, codeHash),
        Effect.suspend(() =>
          // a value longer than any memo is not fetched: its length is answered instead
          Client.run("recallCode", timeout, () => getStringBounded(codeKey(appId, codeHash), maxValueBytes)).pipe(
            Effect.flatMap((value) =>
              value === null || value === undefined
                ? Effect.succeedNone
                : typeof value !== "string"
                ? Effect.fail(memoTooLong)
                : Effect.flatMap(codec.decodeMemo(appId, codeHash, value), (memo) =>
                  Effect.map(
                    Clock.currentTimeMillis,
                    (now) => memo.expiresAt <= now ? Option.none() : Option.some(memo)
                  ))
            )
          )
        )
      ).pipe(span("RedisTokenStore.recallCode", appId))
  })
  TokenStore.markBounded(own)
  return own
}
