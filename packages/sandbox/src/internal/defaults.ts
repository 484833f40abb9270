/**
 * The apps and users a sandbox has when its options name none: an official account, a website app
 * and a mini program; alice, bob, carol and a snapshot user, dave, with mobile numbers
 * 13800000001 to 13800000004; WeChat's app-token quotas. Documented in `Sandbox` (`defaultApps`,
 * `defaultUsers`).
 *
 * @internal
 */
import type { SandboxApp, SandboxUser } from "../Sandbox.js"
import * as AppToken from "./apptoken.js"
import type { Config } from "./schema.js"

/** @internal */
export const defaultApps: {
  readonly officialAccount: SandboxApp
  readonly website: SandboxApp
  readonly miniProgram: SandboxApp
} = {
  officialAccount: {
    appId: "wxsandboxofficial1",
    secret: "b2743a5c9017ce76b965cbbbe0e224ed",
    kind: "officialAccount",
    name: "沙盒公众号 (Sandbox Official Account)",
    bound: true
  },
  website: {
    appId: "wxsandboxwebsite01",
    secret: "9716f316e9e6484db0714ff7ea0ae929",
    kind: "website",
    name: "沙盒网站 (Sandbox Website)",
    bound: true
  },
  miniProgram: {
    appId: "wxsandboxminiprog1",
    secret: "de08b5d0c06461b5eb70fd59ac7ce9d2",
    kind: "miniProgram",
    name: "沙盒小程序 (Sandbox Mini Program)",
    bound: false
  }
}

/** @internal */
export const defaultUsers: ReadonlyArray<SandboxUser> = [
  {
    id: "alice",
    nickname: "张三",
    sex: 2,
    province: "广东",
    city: "深圳",
    country: "中国",
    headimgurl: "https://thirdwx.qlogo.cn/mmopen/vi_32/sandbox-alice/132",
    privilege: [],
    unionid: "olzWokv71Boc1knksRfAoCKqK1O9",
    phoneNumber: "13800000001",
    countryCode: "86"
  },
  {
    id: "bob",
    nickname: "李四",
    sex: 1,
    province: "北京",
    city: "海淀",
    country: "中国",
    headimgurl: "https://thirdwx.qlogo.cn/mmopen/vi_32/sandbox-bob/132",
    privilege: ["chinaunicom"],
    unionid: "oHp1tAp8kjcmUnvoYl0kogRwLhgQ",
    phoneNumber: "13800000002",
    countryCode: "86"
  },
  {
    id: "carol",
    nickname: "王五🐼",
    sex: 0,
    province: "上海",
    city: "浦东新区",
    country: "中国",
    headimgurl: "",
    privilege: [],
    unionid: "obsCgYm5EKnmMCG2uvgdxHDQMDp9",
    phoneNumber: "13800000003",
    countryCode: "86"
  },
  {
    id: "dave",
    nickname: "微信用户",
    sex: 0,
    province: "",
    city: "",
    country: "",
    headimgurl: "https://thirdwx.qlogo.cn/mmopen/vi_32/sandbox-dave/132",
    privilege: [],
    unionid: "oq8BMFNaKmmmz4UXg5mPX7GThm4H",
    phoneNumber: "13800000004",
    countryCode: "86",
    snapshot: true
  }
]

/** The options used where none are given: every default app and user, and WeChat's quotas. @internal */
export const config: Config = {
  apps: [defaultApps.officialAccount, defaultApps.website, defaultApps.miniProgram],
  users: defaultUsers,
  limits: AppToken.defaultLimits,
  components: [],
  authorizerApps: []
}
