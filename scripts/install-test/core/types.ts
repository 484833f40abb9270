// Type-checked under moduleResolution nodenext, bundler and node10: the package and one of its
// modules resolve to their declarations (an `any` would leave the expected errors unused).
import type { HttpClient } from "@effect/platform/HttpClient"
import { TokenStore, WeChatConfig, WeChatError, WeChatOAuth } from "@wxauth/core"
import type * as OAuthToken from "@wxauth/core/OAuthToken"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

export const WeChatLive: Layer.Layer<WeChatOAuth.WeChatOAuth, unknown, HttpClient> = WeChatOAuth.layer.pipe(
  Layer.provide(TokenStore.layerMemory),
  Layer.provide(WeChatConfig.layerFromEnv)
)

export const profile = (openid: string): Effect.Effect<string, never, WeChatOAuth.WeChatOAuth> =>
  Effect.flatMap(WeChatOAuth.WeChatOAuth, (oauth) => oauth.getUser(openid)).pipe(
    Effect.map((user) => user.nickname),
    Effect.catchIf(WeChatError.requiresReauthorization, () => Effect.succeed("please log in again")),
    Effect.catchAll((error) => Effect.succeed(`failed: ${error._tag}`))
  )

export const openid = (token: OAuthToken.OAuthToken): string => token.openid

// @ts-expect-error: an appId is a string
export const wrong = WeChatConfig.layer({ appId: 42, appSecret: "secret" })
