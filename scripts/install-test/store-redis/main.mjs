// @wxauth/store-redis as installed from its README: a login through the sandbox (in process) stores
// the token in Redis; a second process-like stack (its own connection) finds it there.
// Exits 77 when Redis cannot be reached (REDIS_URL, default redis://127.0.0.1:6379).
import { WeChatConfig, WeChatOAuth } from "@wxauth/core"
import { Sandbox } from "@wxauth/sandbox"
import { RedisRefreshLock, RedisTokenStore } from "@wxauth/store-redis"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Redis } from "ioredis"
import * as Assert from "node:assert/strict"
import * as Crypto from "node:crypto"

const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
const keyPrefix = `wxauth-install-test:${Crypto.randomUUID()}:`
const redis = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0 })
redis.on("error", () => {})
try {
  await redis.connect()
} catch (error) {
  console.log(`Redis at ${url} cannot be reached (${error.message})`)
  process.exit(77)
}

const app = Sandbox.defaultApps.officialAccount
const SandboxLive = Sandbox.layer()
const stack = () =>
  WeChatOAuth.layer.pipe(
    Layer.provide([
      WeChatConfig.layer({ appId: app.appId, appSecret: app.secret }),
      RedisTokenStore.layer({ url, keyPrefix }),
      RedisRefreshLock.layer({ url, keyPrefix })
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
      user: "carol",
      scope: "snsapi_userinfo",
      redirectUri,
      state
    })
    const { token } = yield* oauth.handleCallback(callback)
    return token.openid
  }).pipe(Effect.provide(stack()))
  // another stack, with its own Redis connection: the token is in Redis
  return yield* Effect.flatMap(WeChatOAuth.WeChatOAuth, (oauth) => oauth.getUser(openid)).pipe(
    Effect.provide(stack())
  )
}).pipe(Effect.provide(SandboxLive))

try {
  const user = await Effect.runPromise(program)
  Assert.equal(user.nickname, "王五🐼")
  const keys = await redis.keys(`${keyPrefix}*`)
  Assert.ok(keys.some((key) => key.endsWith(":token")), `a token key under ${keyPrefix}: ${keys}`)
  console.log(`@wxauth/store-redis: ${user.nickname}'s token went through Redis (${keys.length} keys)`)
} finally {
  const keys = await redis.keys(`${keyPrefix}*`)
  if (keys.length > 0) await redis.del(...keys)
  await redis.quit()
}
