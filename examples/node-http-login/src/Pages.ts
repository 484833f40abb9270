/**
 * The app's own pages: home and profile. Plain template strings; every value from WeChat is
 * escaped. No script, so they run under a strict Content-Security-Policy.
 */
import type { UserInfo } from "@wxauth/core"
import type { CurrentWeChatUser } from "@wxauth/http"

/** Escapes text for HTML content and attribute values. */
export const escapeHtml = (value: string): string =>
  value.replace(
    /[&<>"']/g,
    (c) => c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === "\"" ? "&quot;" : "&#39;"
  )

/** Headers of every page of the app. */
export const headers: Readonly<Record<string, string>> = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy":
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "cache-control": "no-store"
}

const layout = (title: string, body: string) =>
  `<!DOCTYPE html>
<html lang="zh-CN">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · node-http-login</title>
<style>body{font-family:system-ui,sans-serif;max-width:560px;margin:40px auto;padding:0 16px;line-height:1.6}
.btn{display:inline-block;padding:8px 16px;border:1px solid #ccc;border-radius:6px;background:#fff;font:inherit;text-decoration:none;color:inherit;cursor:pointer}
.primary{background:#07c160;border-color:#07c160;color:#fff}dt{color:#888}dd{margin:0 0 8px}form{display:inline}</style>
</head>
<body>
${body}
</body>
</html>
`

/** The home page: a login link, or who is logged in. */
export const home = (user: CurrentWeChatUser.WeChatUser | undefined): string =>
  layout(
    "微信登录",
    user === undefined
      ? `<h1>微信登录示例 · WeChat login on a plain Node server</h1>
<p>A Node <code>http</code> server that is no Effect app, with <code>@wxauth/http</code>'s Web-standard handler.</p>
<p><a class="btn primary" id="login" href="/login?returnTo=%2Fprofile">使用微信登录 · Log in with WeChat</a></p>`
      : `<h1>微信登录示例</h1>
<p id="logged-in">你已登录 · You are logged in (<code>${escapeHtml(user.app)}</code>).
<a id="to-profile" href="/profile">资料 · Profile</a></p>`
  )

/** The profile page. */
export const profile = (user: CurrentWeChatUser.WeChatUser, info: UserInfo.UserInfo): string =>
  layout(
    info.nickname,
    `<h1 id="nickname">${escapeHtml(info.nickname)}</h1>
<dl>
<dt>app</dt><dd id="app">${escapeHtml(user.app)} <code>${escapeHtml(user.appId)}</code></dd>
<dt>openid</dt><dd><code id="openid">${escapeHtml(user.openid)}</code></dd>
<dt>unionid</dt><dd><code id="unionid">${escapeHtml(user.unionid ?? "—")}</code></dd>
<dt>session ends</dt><dd id="session-ends">${new Date(user.sessionExpiresAt).toISOString()}</dd>
</dl>
<form method="post" action="/logout"><button class="btn" id="logout" type="submit">退出登录 · Log out</button></form>
<form method="post" action="/logout/everywhere"><button class="btn" id="logout-everywhere" type="submit">在所有设备上退出 · Log out everywhere</button></form>`
  )

/** A page of the app's own problems: not found, WeChat busy. */
export const problem = (status: number, title: string): string =>
  layout(title, `<h1 id="problem" data-status="${status}">${escapeHtml(title)}</h1><p><a href="/">返回 · Back</a></p>`)
