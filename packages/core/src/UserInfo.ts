/**
 * The user profile WeChat's `/sns/userinfo` returns, with WeChat's own field names.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A WeChat user's profile. `sex` is 0 (unknown), 1 (male) or 2 (female). `headimgurl`'s last path
 * segment is the size (0 = 640x640, 46, 64, 96, 132), and the URL stops working when the user
 * changes avatar: copy the image if you keep it. `unionid` appears only for apps bound to an Open
 * Platform account.
 *
 * @since 0.1.0
 * @category models
 */
export class UserInfo extends Schema.Class<UserInfo>("@wxauth/core/UserInfo")({
  openid: Schema.String,
  nickname: Schema.String,
  /** 0 unknown (always 0 since October 2021), 1 male, 2 female. */
  sex: Schema.Int.pipe(Schema.between(0, 2)),
  province: Schema.String,
  city: Schema.String,
  country: Schema.String,
  headimgurl: Schema.String,
  privilege: Schema.Array(Schema.String),
  unionid: Schema.optional(Schema.String)
}) {}

/**
 * The languages `/sns/userinfo` accepts.
 *
 * @since 0.1.0
 * @category models
 */
export type Lang = "zh_CN" | "zh_TW" | "en"
