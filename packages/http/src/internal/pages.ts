/**
 * The package's own HTML pages: a problem page, the page that asks a phone browser outside WeChat
 * to open the link in WeChat (an app may replace these two: `pages`), and the embedded QR login page
 * (`wxLogin.js`). Plain template strings; every value that comes from a request or a configuration
 * is escaped. Only the QR page runs a
 * script: WeChat's `wxLogin.js` and one inline script, both allowed by a per-response nonce.
 *
 * @internal
 */
import type { OpenInWeChatPageContext, ProblemPageContext } from "../WeChatLogin.js"

/** Escapes text for HTML content and attribute values. @internal */
export const escapeHtml = (value: string): string =>
  value.replace(
    /[&<>"']/g,
    (c) => c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === "\"" ? "&quot;" : "&#39;"
  )

/**
 * `escapeHtml` for a JavaScript caller (the public `WeChatLogin.escapeHtml`): a number is written as
 * its digits; anything else that is not a string throws, rather than reach a page unescaped (or as
 * `[object Object]`).
 *
 * @internal
 */
export const escapeText = (value: unknown): string => {
  if (typeof value === "string") return escapeHtml(value)
  if (typeof value === "number") return escapeHtml(String(value))
  throw new TypeError(`escapeHtml expects a string, not ${value === null ? "null" : typeof value}`)
}

const style = `*{box-sizing:border-box}
body{margin:0;font-family:-apple-system,BlinkMacSystemFont,"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC",system-ui,sans-serif;background:#f2f3f5;color:#1d2129;line-height:1.6}
main{max-width:560px;margin:40px auto;background:#fff;border-radius:12px;padding:32px;box-shadow:0 1px 3px rgba(0,0,0,.06)}
h1{font-size:22px;margin:0;line-height:1.3}.en{color:#86909c;margin:2px 0 0;font-size:15px}
p{margin:14px 0}.muted{color:#86909c;font-size:13px}
.actions{display:grid;gap:12px;margin:24px 0 8px}
.btn{display:flex;flex-direction:column;align-items:center;justify-content:center;width:100%;padding:11px 16px;border-radius:8px;font:inherit;font-size:16px;text-decoration:none;border:1px solid #e5e6eb;background:#fff;color:#1d2129}
.btn small{font-size:12px;opacity:.75}.btn.primary{background:#07c160;border-color:#07c160;color:#fff}
.problem{text-align:center}.problem p{text-align:left}.reason{color:#86909c;font-size:12px;text-align:center!important}
input.link{width:100%;font:inherit;font-size:13px;padding:8px;border:1px solid #e5e6eb;border-radius:6px}
#wxauth-qr{display:flex;justify-content:center;min-height:400px}`

const layout = (title: string, body: string): string =>
  `<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
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

/** The built-in problem page (an app's own: `pages.problem`). @internal */
export const problemPage = (page: ProblemPageContext): string => {
  const again = page.loginUrl === undefined
    ? ""
    : `<a class="btn primary" id="wxauth-try-again" href="${
      escapeHtml(page.loginUrl)
    }">重新登录<small>Log in again</small></a>`
  return layout(
    `${page.title} · ${page.titleEn}`,
    `<div class="problem" id="wxauth-problem" data-reason="${page.reason}">
<h1 id="wxauth-problem-title">${escapeHtml(page.title)}</h1>
<p class="en" style="text-align:center">${escapeHtml(page.titleEn)}</p>
<p>${escapeHtml(page.text)}</p>
<p class="muted">${escapeHtml(page.textEn)}</p>
<div class="actions">
${again}
<a class="btn" id="wxauth-home" href="${escapeHtml(page.homeUrl)}">返回<small>Back</small></a>
</div>
<p class="reason">reason: <code>${page.reason}</code> · HTTP ${page.status}</p>
</div>`
  )
}

/**
 * The page for a phone browser outside WeChat, where neither the official account's consent page
 * (it only opens in WeChat) nor a QR code (the phone cannot scan its own screen) works: open this
 * link in WeChat, or, when the site has a website app, show the QR code anyway (for another phone).
 *
 * @internal
 */
export const openInWeChatPage = (options: OpenInWeChatPageContext): string =>
  layout(
    "请在微信中打开 · Open in WeChat",
    `<div id="wxauth-open-in-wechat">
<h1>请在微信中打开此链接</h1>
<p class="en">Open this link in WeChat</p>
<p>微信登录需要在微信内完成。请复制下面的链接，发送到微信（例如“文件传输助手”），然后在微信中打开它。</p>
<p class="muted">Logging in with WeChat happens inside the WeChat app. Copy the link below, send it to yourself in WeChat (e.g. to “File Transfer”), and open it there.</p>
<input class="link" id="wxauth-link" type="text" readonly value="${escapeHtml(options.link)}">
<div class="actions">
${
      options.qrLoginUrl === undefined
        ? ""
        : `<a class="btn primary" id="wxauth-qr-option" href="${
          escapeHtml(options.qrLoginUrl)
        }">显示登录二维码<small>Show a QR code to scan with WeChat on another device</small></a>`
    }
<a class="btn" id="wxauth-home" href="${escapeHtml(options.homeUrl)}">返回<small>Back</small></a>
</div>
</div>`
  )

/** What the embedded QR page passes to `WxLogin` (all checked, all escaped into attributes). @internal */
export interface QrPageOptions {
  readonly scriptUrl: string
  readonly nonce: string
  readonly appId: string
  readonly redirectUri: string
  readonly state: string
  readonly selfRedirect: boolean
  readonly style: "black" | "white" | undefined
  readonly href: string | undefined
  readonly lang: "cn" | "en" | undefined
  /** A plain link to the QR login page on WeChat's host (when the script does not load). */
  readonly fallbackUrl: string
  readonly homeUrl: string
}

/**
 * The embedded QR login page: WeChat's `wxLogin.js` draws the QR code in an iframe of WeChat's
 * host. The page's own script reads its parameters from data attributes (never from script text),
 * so no value can break out into code.
 *
 * @internal
 */
export const qrPage = (options: QrPageOptions): string =>
  layout(
    "微信扫码登录 · Log in with WeChat",
    `<h1>微信扫码登录</h1>
<p class="en">Scan the QR code with WeChat to log in</p>
<div id="wxauth-qr" data-appid="${escapeHtml(options.appId)}" data-redirect-uri="${
      escapeHtml(options.redirectUri)
    }" data-state="${escapeHtml(options.state)}" data-self-redirect="${options.selfRedirect ? "true" : "false"}"${
      options.style === undefined ? "" : ` data-style="${options.style}"`
    }${options.href === undefined ? "" : ` data-href="${escapeHtml(options.href)}"`}${
      options.lang === undefined ? "" : ` data-lang="${options.lang}"`
    }></div>
<p class="muted" style="text-align:center">二维码没有出现？<a id="wxauth-qr-fallback" href="${
      escapeHtml(options.fallbackUrl)
    }">打开微信登录页</a> · No QR code? Open WeChat's login page.</p>
<div class="actions"><a class="btn" id="wxauth-home" href="${
      escapeHtml(options.homeUrl)
    }">返回<small>Back</small></a></div>
<script nonce="${options.nonce}" src="${escapeHtml(options.scriptUrl)}"></script>
<script nonce="${options.nonce}">
(function () {
  var box = document.getElementById("wxauth-qr")
  if (typeof window.WxLogin !== "function") return
  var d = box.dataset
  var options = {
    self_redirect: d.selfRedirect === "true",
    id: "wxauth-qr",
    appid: d.appid,
    scope: "snsapi_login",
    redirect_uri: encodeURIComponent(d.redirectUri),
    state: d.state
  }
  if (d.style) options.style = d.style
  if (d.href) options.href = encodeURIComponent(d.href)
  if (d.lang) options.lang = d.lang
  new window.WxLogin(options)
})()
</script>`
  )

/**
 * The answer of a callback loaded inside the QR iframe (`self_redirect: true`): it takes the whole
 * window to where the login goes (the frame is on this site now), with a link when scripts are off.
 *
 * @internal
 */
export const breakOutPage = (options: { readonly location: string; readonly nonce: string }): string =>
  layout(
    "…",
    `<p><a id="wxauth-continue" href="${escapeHtml(options.location)}" target="_top">继续 · Continue</a></p>
<script nonce="${options.nonce}">window.top.location.replace(document.getElementById("wxauth-continue").href)</script>`
  )
