/**
 * The HTML pages the sandbox serves: the consent page (the stand-in for WeChat's authorization
 * screen and the website QR-login screen), error pages, and the small index and callback pages.
 *
 * @internal
 */
import type { SandboxApp, SandboxUser } from "../Sandbox.js"

/** @internal */
export const escapeHtml = (value: string): string =>
  value.replace(
    /[&<>"']/g,
    (c) => c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === "\"" ? "&quot;" : "&#39;"
  )

const style =
  `body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;background:#ededed;margin:0;color:#111}
main{max-width:420px;margin:32px auto;background:#fff;border-radius:8px;padding:24px}
h1{font-size:18px;margin:0 0 4px}.sandbox{color:#fa5151;font-size:12px}.muted{color:#888;font-size:13px}
fieldset{border:1px solid #eee;border-radius:6px;margin:16px 0;padding:8px 12px}label{display:block;padding:6px 0}
button{display:block;width:100%;font-size:16px;padding:10px;margin-top:10px;border:0;border-radius:6px;cursor:pointer}
#allow{background:#07c160;color:#fff}#deny{background:#f2f2f2;color:#111}code{word-break:break-all}`

const page = (title: string, body: string): string =>
  `<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${style}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`

/**
 * What the page says the app asks for. For `snsapi_userinfo`, what the app will really get: WeChat
 * has given only the nickname and avatar since 2021-10-20 (gender 0, places empty), region and
 * gender too to an app with the pre-2021 profile.
 */
const scopeText = (scope: string, app: SandboxApp): string => {
  switch (scope) {
    case "snsapi_base":
      return "获取你的身份标识 (openid)"
    case "snsapi_userinfo":
      return app.profile === "pre2021" ? "获得你的公开信息（昵称、头像、地区及性别）" : "获得你的公开信息（昵称、头像）"
    case "snsapi_login":
      return "使用你的微信帐号登录该网站"
    default:
      return scope
  }
}

/** @internal */
export interface ConsentPage {
  readonly path: string
  readonly app: SandboxApp
  readonly users: ReadonlyArray<SandboxUser>
  readonly redirectUri: string
  readonly scope: string
  readonly state: string | undefined
  /** The third-party platform asking on the app's behalf, if any. */
  readonly componentAppId?: string | undefined
}

/** @internal */
export const consentPage = (options: ConsentPage): string => {
  const hidden = (name: string, value: string) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`
  const users = options.users.map((user, i) =>
    `<label for="user-${escapeHtml(user.id)}"><input type="radio" id="user-${escapeHtml(user.id)}" name="user" value="${
      escapeHtml(user.id)
    }"${i === 0 ? " checked" : ""}> ${escapeHtml(user.nickname)} <span class="muted">(${
      escapeHtml(user.id)
    })</span></label>`
  ).join("\n")
  const note = options.scope === "snsapi_base" ?
    `<p class="muted" id="silent-note">snsapi_base 为静默授权：真实微信不显示此页面，直接跳转。In real WeChat this step is silent.</p>\n` :
    options.scope === "snsapi_login" ?
    `<p class="muted">真实微信在此显示二维码，用户用手机扫码确认。Real WeChat shows a QR code here.</p>\n` :
    ""
  return page(
    "微信授权 (sandbox)",
    `<h1>微信授权 <span class="sandbox">(sandbox)</span></h1>
<p><strong id="app-name">${escapeHtml(options.app.name)}</strong> <span class="muted" id="app-id">${
      escapeHtml(options.app.appId)
    }</span></p>
<p>申请获得以下权限：<br><span id="scope-text">${escapeHtml(scopeText(options.scope, options.app))}</span>
<span class="muted">(<code id="scope">${escapeHtml(options.scope)}</code>)</span></p>
${note}${
      options.componentAppId === undefined ?
        "" :
        `<p class="muted" id="component">第三方平台 <code>${
          escapeHtml(options.componentAppId)
        }</code> 代此公众号发起授权。Asked by a third-party platform on the account's behalf.</p>\n`
    }<form id="consent" method="post" action="${escapeHtml(options.path)}">
${hidden("appid", options.app.appId)}
${hidden("redirect_uri", options.redirectUri)}
${hidden("response_type", "code")}
${hidden("scope", options.scope)}
${hidden("state", options.state ?? "")}
${
      options.componentAppId === undefined
        ? ""
        : `${hidden("component_appid", options.componentAppId)}\n`
    }<fieldset id="users">
<legend>选择测试用户 (test user)</legend>
${users}
</fieldset>
<button type="submit" id="allow" name="decision" value="allow">允许</button>
<button type="submit" id="deny" name="decision" value="deny">拒绝</button>
</form>`
  )
}

/** An error page naming the parameter at fault, and WeChat's errcode when its page shows one (10003). @internal */
export const errorPage = (param: string, message: string, errcode?: number): string =>
  page(
    "微信授权 (sandbox): 出错了",
    `<h1>出错了 <span class="sandbox">(sandbox)</span></h1>
<p id="error" data-param="${escapeHtml(param)}"${errcode === undefined ? "" : ` data-errcode="${errcode}"`}>${
      escapeHtml(message)
    }</p>`
  )

/** @internal */
export const redirectPage = (location: string): string =>
  page("302 Found", `<p>Redirecting to <a id="location" href="${escapeHtml(location)}">${escapeHtml(location)}</a></p>`)

/** The 404 page; `path` is the request's, cut by the caller (`cut`). @internal */
export const notFoundPage = (path: string): string =>
  page(
    "404 Not Found",
    `<h1>404 Not Found <span class="sandbox">(sandbox)</span></h1>\n<p>No endpoint at <code>${
      escapeHtml(path)
    }</code>.</p>`
  )

/** @internal */
export const methodNotAllowedPage = (method: string, path: string): string =>
  page("405 Method Not Allowed", `<h1>405 Method Not Allowed</h1>\n<p>${escapeHtml(method)} ${escapeHtml(path)}</p>`)

/** The body of an nginx-style gateway error, as WeChat's front ends send. @internal */
export const gatewayPage = (status: 413 | 500 | 502): string => {
  const title = status === 413 ?
    "413 Request Entity Too Large" :
    status === 500 ?
    "500 Internal Server Error" :
    "502 Bad Gateway"
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`
}

/** @internal */
export const indexPage = (
  origin: string,
  apps: ReadonlyArray<SandboxApp>,
  users: ReadonlyArray<SandboxUser>,
  authorizeUrl: (app: SandboxApp) => string | undefined
): string =>
  page(
    "wxauth sandbox",
    `<h1>wxauth sandbox</h1>
<p class="muted">A local WeChat OAuth server. API and open base: <code>${escapeHtml(origin)}</code></p>
<h2>Apps</h2>
<ul>
${
      apps.map((app) => {
        const url = authorizeUrl(app)
        return `<li><strong>${escapeHtml(app.name)}</strong> (${app.kind}) <code>${escapeHtml(app.appId)}</code>${
          url === undefined ? "" : ` <a href="${escapeHtml(url)}">try login</a>`
        }</li>`
      }).join("\n")
    }
</ul>
<h2>Users</h2>
<ul>
${users.map((user) => `<li>${escapeHtml(user.nickname)} <code>${escapeHtml(user.id)}</code></li>`).join("\n")}
</ul>
<p class="muted">Controls: <a href="/__sandbox/config">/__sandbox/config</a>, <a href="/__sandbox/stats">/__sandbox/stats</a></p>`
  )

/** The page behind the sample redirect_uri: shows what a real callback would receive. @internal */
export const callbackPage = (code: string | undefined, state: string | undefined): string =>
  page(
    "wxauth sandbox: callback",
    `<h1>Callback <span class="sandbox">(sandbox)</span></h1>
${
      code === undefined ?
        `<p id="denied">No <code>code</code>: the user denied consent.</p>` :
        `<p>code: <code id="code">${escapeHtml(code)}</code></p>`
    }
<p>state: <code id="state">${escapeHtml(state ?? "")}</code></p>
<p class="muted">Your app would now exchange the code at <code>/sns/oauth2/access_token</code> (it is single-use and lives 5 minutes).</p>`
  )
