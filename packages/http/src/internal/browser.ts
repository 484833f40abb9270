/**
 * Which kind of browser a request comes from, by its `User-Agent`: WeChat's in-app browser (its
 * user agent carries `MicroMessenger`, on phones and in WeChat for Windows and macOS), a phone or
 * tablet browser outside WeChat, or a desktop browser. The login flow is picked from it. WeCom
 * (企业微信) carries `MicroMessenger` too, and `wxwork/`: it refuses an official account's consent
 * page, so it is not WeChat here (a phone or a desktop browser, by the rest of its user agent).
 *
 * @internal
 */

/** @internal */
export type BrowserKind = "wechat" | "mobile" | "desktop"

/** The longest user agent looked at: anything after it is ignored. */
const maxUserAgent = 1024

const mobilePattern = /Android|iPhone|iPad|iPod|Mobile|HarmonyOS|OpenHarmony|Windows Phone|webOS|BlackBerry/i

/** @internal */
export const classify = (userAgent: string | undefined): BrowserKind => {
  const ua = (userAgent ?? "").slice(0, maxUserAgent)
  if (/MicroMessenger\//i.test(ua) && !/wxwork\//i.test(ua)) return "wechat"
  return mobilePattern.test(ua) ? "mobile" : "desktop"
}
