/**
 * The HTML pages: home, profile, error pages, the dev panel and the simulated mini program. Plain
 * template strings; every value that comes from WeChat or from a request is escaped. No script, so
 * the pages run under a strict Content-Security-Policy; the one exception is the simulated mini
 * program, whose page loads its own script from this site (`script-src 'self'`) and no other. The
 * login's own pages (problems, "open in WeChat") are `@wxauth/http`'s.
 */
import type { OAuthToken } from "@wxauth/core"
import type { CurrentWeChatUser } from "@wxauth/http"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as DevPanel from "./DevPanel.js"
import type { SandboxUser } from "./MiniProgramClient.js"
import type { Problem } from "./Problems.js"
import type { Profile, User } from "./Users.js"

/** Escapes text for HTML content and attribute values. */
export const escapeHtml = (value: string): string =>
  value.replace(
    /[&<>"']/g,
    (c) => c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === "\"" ? "&quot;" : "&#39;"
  )

const style =
  `:root{--green:#07c160;--green-dark:#06ad56;--bg:#f2f3f5;--text:#1d2129;--muted:#86909c;--line:#e5e6eb;--red:#f53f3f}
*{box-sizing:border-box}
body{margin:0;font-family:-apple-system,BlinkMacSystemFont,"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","WenQuanYi Micro Hei",system-ui,sans-serif;background:var(--bg);color:var(--text);line-height:1.6}
a{color:#576b95}
header.top,footer{display:flex;align-items:center;justify-content:space-between;max-width:640px;margin:0 auto;padding:18px 20px}
.brand{font-weight:600;color:var(--text);text-decoration:none;font-size:17px}.brand b{color:var(--green)}
.badge{font-size:12px;background:#fff7e8;color:#d25f00;border:1px solid #ffd8a8;border-radius:999px;padding:2px 10px}
main{max-width:640px;margin:0 auto 16px;background:#fff;border-radius:12px;padding:32px;box-shadow:0 1px 3px rgba(0,0,0,.06)}
h1{font-size:24px;margin:0;line-height:1.3}h2{font-size:16px;margin:0 0 8px}
.en{color:var(--muted);margin:2px 0 0;font-size:15px}
p{margin:14px 0}.muted{color:var(--muted);font-size:13px}
.actions{display:grid;gap:12px;margin:24px 0 8px}
.btn{display:flex;flex-direction:column;align-items:center;justify-content:center;width:100%;padding:11px 16px;border-radius:8px;font:inherit;font-size:16px;text-decoration:none;border:1px solid var(--line);background:#fff;color:var(--text);cursor:pointer}
.btn small{font-size:12px;opacity:.75}
.btn.primary{background:var(--green);border-color:var(--green);color:#fff}.btn.primary:hover{background:var(--green-dark)}
.btn.danger{color:var(--red)}
form{margin:0}
.notice{background:#e8f8ef;border:1px solid #b7ebcd;border-radius:8px;padding:10px 14px;margin:18px 0}
.who{display:flex;align-items:center;gap:16px}
.avatar{position:relative;flex:none;width:72px;height:72px;border-radius:10px;background:var(--green);color:#fff;font-size:32px;display:flex;align-items:center;justify-content:center;overflow:hidden}
.avatar i{position:absolute;inset:0;background-size:cover;background-position:center}
dl{display:grid;grid-template-columns:max-content 1fr;gap:8px 18px;margin:24px 0;font-size:14px}
dt{color:var(--muted)}dd{margin:0;word-break:break-all}code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}
.problem{text-align:center}.problem .icon{width:64px;height:64px;margin:0 auto 16px;border-radius:50%;background:#fff1f0;color:var(--red);font-size:36px;font-weight:700;line-height:64px}
.problem.warn .icon{background:#fff7e8;color:#ff7d00}
.problem p{text-align:left}.reason{color:var(--muted);font-size:12px;text-align:center!important}
aside.dev{max-width:640px;margin:0 auto 16px;border:1px dashed #ffb366;background:#fffaf3;border-radius:12px;padding:16px 20px;font-size:13px}
aside.dev h2{color:#d25f00}aside.dev .presets{display:grid;grid-template-columns:1fr 1fr;gap:8px;margin:10px 0}
aside.dev button{text-align:left;font:inherit;font-size:12px;padding:6px 10px;border:1px solid #ffd8a8;border-radius:6px;background:#fff;cursor:pointer;line-height:1.4}
aside.dev button b{display:block;font-size:13px}aside.dev ul{margin:4px 0;padding-left:20px}
footer{color:var(--muted);font-size:12px;justify-content:center}
.phone{max-width:360px;margin:20px auto 8px;border:10px solid #1d2129;border-radius:28px;overflow:hidden;background:#f7f8fa}
.phone .bar{background:#fff;text-align:center;font-weight:600;padding:10px;border-bottom:1px solid var(--line)}
.phone .screen{padding:16px}.phone fieldset{border:1px solid var(--line);border-radius:8px;background:#fff;margin:0 0 14px;font-size:14px}
.phone label{display:block;padding:3px 0}.phone ol{font-size:12px;padding-left:18px;color:var(--muted)}
.phone li[data-state=failed]{color:var(--red)}.phone dl{margin:12px 0;background:#fff;border-radius:8px;padding:12px}
#mini-error{color:var(--red);font-size:14px}`

/** What the dev panel needs to render, when it is on. */
export interface DevPanelView {
  readonly status: DevPanel.Status
  /** Where the panel's buttons come back to. */
  readonly back: string
}

const devPanel = (view: DevPanelView): string => {
  const faults = Either.match(view.status.faults, {
    onLeft: (message) => `<p id="dev-faults">沙盒无法连接 / ${escapeHtml(message)}</p>`,
    onRight: (faults) =>
      faults.length === 0
        ? `<p id="dev-faults">没有待触发的故障 / no pending faults</p>`
        : `<p>待触发的故障 / pending faults:</p><ul id="dev-faults">${
          faults.map((f) =>
            `<li><code>${escapeHtml(f.endpoint)}</code>: ${escapeHtml(f.kind)}${
              f.errcode === undefined ? "" : ` ${f.errcode}`
            } × ${f.times}</li>`
          ).join("")
        }</ul>`
  })
  const buttons = Object.entries(DevPanel.presets).map(([name, preset]) =>
    `<button type="submit" name="preset" value="${name}" id="dev-${name}"><b>${escapeHtml(preset.label)}</b>${
      escapeHtml(preset.labelEn)
    }</button>`
  ).join("\n")
  return `<aside class="dev" id="dev-panel">
<h2>开发面板 · Dev panel</h2>
<p class="muted" style="margin:0">Demo mode: the app talks to a sandbox WeChat at <a href="${
    escapeHtml(view.status.sandboxUrl)
  }">${escapeHtml(view.status.sandboxUrl)}</a>. Make it misbehave:</p>
<form method="post" action="/dev/faults"><input type="hidden" name="back" value="${escapeHtml(view.back)}">
<div class="presets">
${buttons}
</div></form>
${faults}
</aside>`
}

/** What a page's layout takes: its title, its body, and the dev panel when it is on. */
export interface LayoutOptions {
  readonly title: string
  readonly body: string
  readonly dev: Option.Option<DevPanelView>
}

/** The pages' common frame: header, style, footer, and the dev panel when it is on. */
export const layout = (options: LayoutOptions): string =>
  `<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(options.title)} · wxauth</title>
<style>${style}</style>
</head>
<body>
<header class="top"><a class="brand" href="/"><b>wx</b>auth · 微信登录示例</a>${
    Option.isSome(options.dev) ? `<span class="badge" id="sandbox-badge">沙盒模式 · sandbox</span>` : ""
  }</header>
<main>
${options.body}
</main>
${Option.match(options.dev, { onNone: () => "", onSome: devPanel })}
<footer>wxauth example · WeChat OAuth for Effect</footer>
</body>
</html>
`

/** The login links of the home page (`WeChatLogin`'s paths, with `returnTo`). */
export interface LoginLinks {
  /** `/login`: the flow picked from the browser. */
  readonly auto: string
  readonly officialAccount: string
  /** `None`: no website app. */
  readonly website: Option.Option<string>
}

/** The home page. */
export const home = (options: {
  /** Who is logged in: their nickname, when WeChat gave one. */
  readonly greeting: Option.Option<{ readonly nickname: Option.Option<string> }>
  readonly links: LoginLinks
  /** Whether the simulated mini program (phone-number login) is there. */
  readonly miniProgramEnabled: boolean
  readonly dev: Option.Option<DevPanelView>
}): string => {
  const greeting = Option.match(options.greeting, {
    onNone: () => "",
    onSome: (g) =>
      `<div class="notice" id="logged-in">你已登录${
        Option.match(g.nickname, { onNone: () => "", onSome: (n) => `为 <b>${escapeHtml(n)}</b>` })
      } · You are logged in. <a href="/profile" id="to-profile">查看资料 / Your profile →</a></div>`
  })
  const website = Option.match(options.links.website, {
    onSome: (href) =>
      `<a class="btn" id="login-website" href="${
        escapeHtml(href)
      }">微信扫码登录<small>Scan a QR code with WeChat · website app, snsapi_login</small></a>`,
    onNone: () =>
      `<p class="muted" id="website-disabled">扫码登录未配置 · QR login is not configured (set WECHAT_WEBSITE_APP_ID).</p>`
  })
  const miniProgram = options.miniProgramEnabled
    ? `<a class="btn" id="to-mini-program" href="/mini-program">小程序手机号登录（模拟）<small>Mini program: log in with a phone number · a simulated client, code2Session + getPhoneNumber</small></a>`
    : ""
  return layout({
    title: "微信登录",
    dev: options.dev,
    body: `<h1>欢迎 · Welcome</h1>
<p class="en">An <code>@effect/platform</code> web app that logs in with WeChat through <code>@wxauth/http</code>.</p>
${greeting}
<p>在微信内打开网页时使用公众号授权；在电脑上使用网站应用扫码登录。两者是两个不同的微信应用（不同的 appid）。“使用微信登录”按浏览器选择：微信内为公众号，电脑上为扫码，手机浏览器提示在微信中打开。</p>
<p class="muted">Inside WeChat, sites log in through an official account; on a desktop, through an Open Platform website app and a QR code. They are two WeChat apps, each with its own appid. “Log in with WeChat” picks the one for this browser; a phone browser outside WeChat is asked to open the link in WeChat.</p>
<div class="actions">
<a class="btn primary" id="login" href="${
      escapeHtml(options.links.auto)
    }">使用微信登录<small>Log in with WeChat · the flow for this browser</small></a>
<a class="btn" id="login-official" href="${
      escapeHtml(options.links.officialAccount)
    }">公众号授权登录<small>Inside WeChat · official account, snsapi_userinfo</small></a>
${website}
${miniProgram}
</div>`
  })
}

/**
 * The gender WeChat gave, if it gave one. Since 2021-10-20 `sns/userinfo` answers `sex: 0` (and
 * empty places) for everyone, so 0 says nothing about the person: it is not shown as "unknown".
 */
const genderText = (sex: number): string | undefined => sex === 1 ? "男 male" : sex === 2 ? "女 female" : undefined

/**
 * Under the nickname: the gender and region when WeChat gave them (profiles from before 2021-10-20,
 * or a sandbox app with `profile: "pre2021"`), else what WeChat gives today and what it no longer
 * gives, so nobody reads an empty field as a fault of this site.
 */
const aboutUser = (user: Profile["user"], scope: string): string => {
  const region = [user.country, user.province, user.city].filter((s) => s !== "").join(" ")
  const gender = genderText(user.sex)
  const given = [
    ...(region === "" ? [] : [`<span id="region">${escapeHtml(region)}</span>`]),
    ...(gender === undefined ? [] : [`<span id="gender">${gender}</span>`])
  ]
  if (given.length > 0) return `<p class="en" style="margin:4px 0 0" id="gender-region">${given.join(" · ")}</p>`
  return `<p class="muted" style="margin:4px 0 0" id="profile-note">昵称和头像由 <code>${
    escapeHtml(scope)
  }</code> 授权提供；自 2021 年 10 月 20 日起，微信不再提供性别和地区。<br>Nickname and avatar come with <code>${
    escapeHtml(scope)
  }</code>; since 2021-10-20 WeChat no longer gives gender or region.</p>`
}

const formatTime = (millis: number): string => new Date(millis).toISOString().replace("T", " ").slice(0, 19) + " UTC"

const inWords = (millis: number, now: number): string => {
  const minutes = Math.round((millis - now) / 60_000)
  if (minutes < 0) return `已过期 expired ${-minutes} min ago`
  if (minutes < 120) return `还有 ${minutes} 分钟 · in ${minutes} min`
  const hours = Math.round(minutes / 60)
  if (hours < 48) return `还有 ${hours} 小时 · in ${hours} h`
  const days = Math.round(hours / 24)
  return `还有 ${days} 天 · in ${days} days`
}

/**
 * The avatar's URL, fit for a CSS `url('...')`: http(s) only, with the characters that could end the
 * string percent-encoded. The image is a background over the nickname's first character, so an
 * avatar that does not load (WeChat's CDN is unreachable, or the user changed avatar) shows that.
 */
const avatarUrl = (headimgurl: string): string | undefined => {
  let url: URL
  try {
    url = new URL(headimgurl)
  } catch {
    return undefined
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return undefined
  return url.href.replace(/['"()\\\s]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`)
}

/** The profile page. */
export const profile = (options: {
  /** Who is logged in, as the session says. */
  readonly user: CurrentWeChatUser.WeChatUser
  /** The app's own record of them. */
  readonly local: Option.Option<User>
  readonly profile: Profile
  /** The stored WeChat token (`None` for a mini program user). */
  readonly token: Option.Option<OAuthToken.OAuthToken>
  readonly now: number
  readonly logout: string
  readonly logoutEverywhere: string
  readonly dev: Option.Option<DevPanelView>
}): string => {
  const { user } = options
  const info = options.profile.user
  const unionid = user.unionid ?? info.unionid
  const initial = Array.from(info.nickname)[0] ?? "?"
  const image = avatarUrl(info.headimgurl)
  const avatar = image === undefined ? "" : `<i id="avatar" style="background-image:url('${escapeHtml(image)}')"></i>`
  const scope = user.scopes.join(" ")
  const token = Option.match(options.token, {
    onNone: () => "",
    onSome: (token) =>
      `<dt>访问令牌到期 · Access token expires</dt><dd id="token-expiry">${formatTime(token.expiresAt)} (${
        inWords(token.expiresAt, options.now)
      })</dd>
<dt>需重新授权 · Consent expires</dt><dd id="refresh-expiry">${formatTime(token.refreshExpiresAt)} (${
        inWords(token.refreshExpiresAt, options.now)
      })</dd>`
  })
  const local = Option.match(options.local, {
    onNone: () => "",
    onSome: (local) =>
      `<dt>本站用户 · Local user</dt><dd><code id="user-id">${escapeHtml(local.id)}</code> (since ${
        formatTime(local.createdAt)
      })</dd>${
        local.phone === undefined ? "" : `<dt>手机号 · Phone</dt><dd id="phone">${escapeHtml(local.phone)}</dd>`
      }`
  })
  return layout({
    title: info.nickname,
    dev: options.dev,
    body: `<div class="who">
<div class="avatar" aria-hidden="true"><span>${escapeHtml(initial)}</span>${avatar}</div>
<div><h1 id="nickname">${escapeHtml(info.nickname)}</h1>
${aboutUser(info, scope)}</div>
</div>
<dl>
<dt>登录方式 · Login</dt><dd id="login-method">${escapeHtml(user.app)}<br><code style="word-break:normal">${
      escapeHtml(user.appId)
    }</code></dd>
${local}
<dt>openid</dt><dd><code id="openid">${escapeHtml(user.openid)}</code></dd>
<dt>unionid</dt><dd><code id="unionid">${
      unionid === undefined ? "— (app not bound to an Open Platform account)" : escapeHtml(unionid)
    }</code></dd>
<dt>授权范围 · Scope</dt><dd><code id="scope">${escapeHtml(scope)}</code></dd>
${token}
<dt>会话到期 · Session ends</dt><dd id="session-expiry">${formatTime(user.sessionExpiresAt)}</dd>
<dt>资料获取于 · Profile fetched</dt><dd id="fetched-at">${formatTime(options.profile.fetchedAt)}</dd>
</dl>
<p class="muted">令牌只保存在服务器上，浏览器只有一个随机的会话 Cookie。Tokens stay on the server; the browser holds only a random session cookie.</p>
<div class="actions">
<form method="post" action="/profile/refresh"><button class="btn primary" id="refresh" type="submit">刷新资料<small>Refresh profile from WeChat (getUser)</small></button></form>
<form method="post" action="${
      escapeHtml(options.logout)
    }"><button class="btn danger" id="logout" type="submit">退出登录<small>Log out</small></button></form>
<form method="post" action="${
      escapeHtml(options.logoutEverywhere)
    }"><button class="btn danger" id="logout-everywhere" type="submit">在所有设备上退出<small>Log out everywhere (every session of this user, in every WeChat app of this site)</small></button></form>
</div>`
  })
}

/** An error page. */
export const problem = (options: {
  readonly problem: Problem
  readonly dev: Option.Option<DevPanelView>
}): string => {
  const p = options.problem
  // WeChat busy happens on the profile: try it again
  const main = p.reason === "busy"
    ? `<a class="btn primary" id="try-again" href="/profile">重试<small>Try again</small></a>`
    : ""
  return layout({
    title: p.title,
    dev: options.dev,
    body: `<div class="problem${p.status >= 500 ? " warn" : ""}" id="error" data-reason="${p.reason}">
<div class="icon">!</div>
<h1 id="error-title">${escapeHtml(p.title)}</h1>
<p class="en" style="text-align:center">${escapeHtml(p.titleEn)}</p>
<p>${escapeHtml(p.text)}</p>
<p class="muted">${escapeHtml(p.textEn)}</p>
<div class="actions">
${main}
<a class="btn" id="home" href="/">返回首页<small>Back to the home page</small></a>
</div>
<p class="reason">reason: <code>${p.reason}</code> · HTTP ${p.status}</p>
</div>`
  })
}

/**
 * The simulated mini program: a phone-shaped frame with the WeChat user the phone is logged in with
 * (a sandbox test user) and the `getPhoneNumber` button. The button stays disabled until the page's
 * script (`/mini-program/client.js`) runs; the steps and the answer are filled in by it.
 */
export const miniProgram = (options: {
  readonly appId: string
  /** `@wxauth/http`'s endpoints of the mini program: its login and its phone number. */
  readonly loginPath: string
  readonly phoneNumberPath: string
  readonly users: ReadonlyArray<SandboxUser>
  readonly dev: Option.Option<DevPanelView>
}): string => {
  const users = options.users.length === 0
    ? `<p id="mini-no-users">沙盒无法连接 · the sandbox did not answer</p>`
    : options.users.map((user, i) =>
      `<label><input type="radio" name="user" value="${escapeHtml(user.id)}" id="mini-user-${escapeHtml(user.id)}"${
        i === 0 ? " checked" : ""
      }> ${escapeHtml(user.nickname)} <code>${escapeHtml(user.id)}</code></label>`
    ).join("\n")
  return layout({
    title: "小程序手机号登录",
    dev: options.dev,
    body: `<h1>小程序手机号登录 · Mini program phone-number login</h1>
<p class="en">A simulated mini program: its script does what a mini program does in WeChat, and the sandbox plays WeChat's client.</p>
<p>自 2022 年 10 月 25 日起，小程序的 <code>getUserProfile</code> / <code>getUserInfo</code> 只给出灰色头像和“微信用户”。用户的身份是 <code>wx.login()</code> 的 code（服务器用 <code>code2Session</code> 换取 openid），加上用户同意后“获取手机号”按钮给出的 code（服务器用应用的 access token 调 <code>getPhoneNumber</code> 换取手机号）。</p>
<p class="muted">Since 2022-10-25 a mini program gets a grey avatar and “微信用户” from getUserProfile / getUserInfo. Who the user is comes from <code>wx.login()</code>'s code (the server's <code>code2Session</code>: the openid) and the code of the phone number button (the server's <code>getPhoneNumber</code>, with the app access token: the phone number). Both codes are single-use, valid 5 minutes, and never shown here.</p>
<div class="phone" id="mini-program" data-app-id="${escapeHtml(options.appId)}" data-login="${
      escapeHtml(options.loginPath)
    }" data-phone-number="${escapeHtml(options.phoneNumberPath)}">
<div class="bar">沙盒小程序 · <code>${escapeHtml(options.appId)}</code></div>
<div class="screen">
<fieldset id="mini-users"><legend>这部手机上的微信用户 · The WeChat user on this phone</legend>
${users}
</fieldset>
<button class="btn primary" id="phone-login" type="button" disabled>手机号快捷登录<small>Log in with your phone number (getPhoneNumber)</small></button>
<noscript><p>This page plays a mini program with JavaScript: turn it on.</p></noscript>
<ol id="mini-steps"></ol>
<p id="mini-error" hidden></p>
<dl id="mini-result" hidden>
<dt>openid</dt><dd><code id="mini-openid"></code></dd>
<dt>unionid</dt><dd><code id="mini-unionid"></code></dd>
<dt>本站用户 · Local user</dt><dd><code id="mini-user-id"></code></dd>
<dt>手机号 · Phone</dt><dd id="mini-phone"></dd>
<dt>国家码 · Country code</dt><dd id="mini-country"></dd>
</dl>
</div>
</div>
<p class="muted">服务器给小程序一个会话令牌（以 <code>Authorization: Bearer</code> 发送）、openid 和手机号；session_key 和应用的 access token 留在服务器上。The server gives the mini program a session token (sent back as <code>Authorization: Bearer</code>), the openid and the phone number; the session key and the app access token stay on the server.</p>
<script src="/mini-program/client.js" type="module"></script>`
  })
}
