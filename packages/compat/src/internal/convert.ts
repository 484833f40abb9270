/**
 * Small conversions shared by the OAuth class and the functional API: the user profile as a plain
 * object, `lang`, WeChat's token answer as a core `OAuthToken`.
 *
 * @internal
 */
import { type UserInfo, type WeChatApi, WeChatError } from "@wxauth/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

/**
 * A user profile as WeChat sends it (`/sns/userinfo`).
 *
 * @since 0.1.0
 * @internal
 */
export interface UserProfile {
  openid: string
  nickname: string
  sex: number
  province: string
  city: string
  country: string
  headimgurl: string
  privilege: Array<string>
  unionid?: string
}

/** @internal */
export const toUserProfile = (user: UserInfo.UserInfo): UserProfile => ({
  openid: user.openid,
  nickname: user.nickname,
  sex: user.sex,
  province: user.province,
  city: user.city,
  country: user.country,
  headimgurl: user.headimgurl,
  privilege: [...user.privilege],
  ...(user.unionid === undefined ? {} : { unionid: user.unionid })
})

const langs: Record<string, UserInfo.Lang> = { zh_cn: "zh_CN", zh_tw: "zh_TW", en: "en" }

/**
 * `lang` as WeChat takes it (`zh_CN`, `zh_TW`, `en`; `zh-cn` and the like are accepted), or
 * `fallback` when none is given.
 *
 * @internal
 */
export const parseLang = (
  lang: unknown,
  fallback: UserInfo.Lang
): Effect.Effect<UserInfo.Lang, WeChatError.InvalidArgument> => {
  // `lang || 'en'`, as wechat-oauth read it: any falsy value (0, false, NaN, "") is the default
  if (!lang) return Effect.succeed(fallback)
  const found = typeof lang === "string" ? langs[lang.trim().toLowerCase().replace("-", "_")] : undefined
  return found === undefined
    ? Effect.fail(new WeChatError.InvalidArgument({ argument: "lang", description: "must be zh_CN, zh_TW or en" }))
    : Effect.succeed(found)
}

/**
 * WeChat's token answer as plain fields, tokens in clear (what wechat-oauth's APIs resolve with).
 *
 * @internal
 */
export const plainTokenResponse = (response: WeChatApi.TokenResponse) => ({
  access_token: Redacted.value(response.access_token),
  expires_in: response.expires_in,
  refresh_token: Redacted.value(response.refresh_token),
  openid: response.openid,
  scope: response.scope,
  ...(response.is_snapshotuser === undefined ? {} : { is_snapshotuser: response.is_snapshotuser }),
  ...(response.unionid === undefined ? {} : { unionid: response.unionid })
})
