// Type-checked under moduleResolution nodenext, bundler and node10: the README's setup.
import { NodeRuntime } from "@effect/platform-node"
import { WeChatConfig, WeChatHttpClient, WeChatOAuth } from "@wxauth/core"
import { RedisRefreshLock, RedisTokenStore } from "@wxauth/store-redis"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const redisConfig = {
  url: Config.redacted("REDIS_URL"),
  keyPrefix: Config.string("WXAUTH_REDIS_PREFIX").pipe(Config.withDefault("wxauth:"))
}

export const WeChatLive = WeChatOAuth.layer.pipe(
  Layer.provide([
    WeChatConfig.layerFromEnv,
    WeChatHttpClient.layer(),
    RedisTokenStore.layerConfig(redisConfig),
    RedisRefreshLock.layerConfig(redisConfig)
  ])
)

export const main = () =>
  Effect.flatMap(WeChatOAuth.WeChatOAuth, (oauth) => oauth.getUser("oUserOpenId")).pipe(
    Effect.flatMap((user) => Effect.log(user.nickname)),
    Effect.provide(WeChatLive),
    NodeRuntime.runMain
  )

// @ts-expect-error: a key prefix is a string
export const wrong = RedisTokenStore.layer({ keyPrefix: 42 })
