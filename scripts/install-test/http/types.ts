// Type-checked under moduleResolution nodenext, bundler and node10: the package and one of its
// modules resolve to their declarations (an `any` would leave the expected errors unused).
import { CurrentWeChatUser, WeChatLogin } from "@wxauth/http"
import type * as WeChatLoginApi from "@wxauth/http/WeChatLoginApi"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"

export const LoginLive: Layer.Layer<WeChatLogin.WeChatLogin | CurrentWeChatUser.CurrentWeChatUser, unknown> =
  WeChatLogin.layer({
    apps: { web: { kind: "website", appId: "wx2222222222222222", appSecret: "secret" } },
    hooks: { findUser: (identity) => Effect.succeed(identity.unionid) }
  })

export const openid: Effect.Effect<string, never, CurrentWeChatUser.User> = Effect.map(
  CurrentWeChatUser.User,
  (user) => user.openid
)

export const session = (body: WeChatLoginApi.MiniProgramSession): string => body.token

// @ts-expect-error: an app's kind is one of three
export const wrong = WeChatLogin.layer({ apps: { web: { kind: "site", appId: "wx2", appSecret: "s" } } })
