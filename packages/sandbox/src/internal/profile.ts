/**
 * What WeChat tells an app about a user, as it answers today or, for an app with
 * `profile: "pre2021"`, as it did before:
 * - `sns/userinfo`: since 2021-10-20, `sex` is 0 and `province`, `city`, `country` are empty;
 *   the nickname and the avatar still come.
 * - a mini program's decrypted user info (`wx.getUserInfo` / `wx.getUserProfile`): anonymous since
 *   2021-04-28 and 2022-10-25, the nickname "微信用户", a grey avatar, gender 0, no places, no
 *   language; the openid (and unionid) and the watermark still come.
 *
 * @internal
 */
import type { SandboxApp, SandboxUser } from "../Sandbox.js"
import * as Places from "./places.js"

/** The nickname WeChat gives every user in anonymous mini-program data. @internal */
export const ANONYMOUS_NICKNAME = "微信用户"

/** The grey avatar WeChat gives every user in anonymous mini-program data. @internal */
export const GREY_AVATAR =
  "https://thirdwx.qlogo.cn/mmopen/vi_32/POgEwh4mIHO4nibH0KlMECNjjGxQUq24ZEaGT4poC6icRiccVGKSyXwibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg/132"

/** Whether the app gets the profile as WeChat gave it before 2021. @internal */
export const isPre2021 = (app: SandboxApp): boolean => app.profile === "pre2021"

/** The body of `sns/userinfo` for a user of an app. @internal */
export const userInfo = (app: SandboxApp, user: SandboxUser, openid: string, lang: Places.Lang) => {
  const old = isPre2021(app)
  return {
    openid,
    nickname: user.nickname,
    sex: old ? user.sex : 0,
    province: old ? Places.localize(user.province, lang) : "",
    city: old ? Places.localize(user.city, lang) : "",
    country: old ? Places.localize(user.country, lang) : "",
    headimgurl: user.headimgurl,
    privilege: user.privilege,
    ...(app.bound ? { unionid: user.unionid } : {})
  }
}

/** The plaintext of a mini program's `encryptedData` for a user (before encryption). @internal */
export const miniProgramUserInfo = (
  app: SandboxApp,
  user: SandboxUser,
  openid: string,
  watermark: { readonly timestamp: number; readonly appid: string }
) => {
  const old = isPre2021(app)
  return {
    openId: openid,
    nickName: old ? user.nickname : ANONYMOUS_NICKNAME,
    gender: old ? user.sex : 0,
    language: old ? "zh_CN" : "",
    city: old ? Places.localize(user.city, "en") : "",
    province: old ? Places.localize(user.province, "en") : "",
    country: old ? Places.localize(user.country, "en") : "",
    avatarUrl: old ? user.headimgurl : GREY_AVATAR,
    ...(app.bound ? { unionId: user.unionid } : {}),
    watermark
  }
}
