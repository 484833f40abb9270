/**
 * A stand-in for WeChat's `wxLogin.js` (`https://res.wx.qq.com/connect/zh_CN/htmledition/js/wxLogin.js`),
 * the script a website embeds to show its QR login in a frame of its own page, served at the same
 * path so a site's tests point its script URL at the sandbox.
 *
 * `new WxLogin({ id, appid, scope, redirect_uri, state, self_redirect, style, href, styletype,
 * sizetype, bgcolor, rst, lang })` puts an iframe into the element `id`, on the sandbox's
 * `/connect/qrconnect` with WeChat's parameters plus `login_type=jssdk` and `self_redirect`
 * (`redirect_uri` and `href` are put into the URL as given: callers encode them, as WeChat's
 * script expects). Unlike WeChat's script it adds `response_type=code`, which the sandbox's
 * `qrconnect` requires of every request. There the sandbox's consent page stands for the QR code; its answer goes where
 * WeChat's goes: with `self_redirect: true` the frame itself goes to `redirect_uri`, otherwise (the
 * default) the whole window does, so the consent form of a frame of `login_type=jssdk` posts to
 * `_top` unless `self_redirect=true`. The frame is 300 × 400 at WeChat; here it is larger, to show
 * the consent page whole.
 *
 * @internal
 */
import type { SandboxResponse } from "../Sandbox.js"

/** Where WeChat serves the script. @internal */
export const scriptPath = "/connect/zh_CN/htmledition/js/wxLogin.js"

const script = `/* wxauth sandbox: a stand-in for WeChat's wxLogin.js */
(function (window, document) {
  var current = document.currentScript
  var origin = current && current.src ? new URL(current.src).origin : ""
  window.WxLogin = function (options) {
    var selfRedirect = "default"
    if (options.self_redirect === true) selfRedirect = "true"
    else if (options.self_redirect === false) selfRedirect = "false"
    var src = origin + "/connect/qrconnect?appid=" + options.appid + "&scope=" + options.scope +
      "&redirect_uri=" + options.redirect_uri + "&state=" + options.state +
      "&response_type=code&login_type=jssdk&self_redirect=" +
      selfRedirect + "&styletype=" + (options.styletype || "") + "&sizetype=" + (options.sizetype || "") +
      "&bgcolor=" + (options.bgcolor || "") + "&rst=" + (options.rst || "")
    if (options.style) src += "&style=" + options.style
    if (options.href) src += "&href=" + options.href
    if (options.lang === "en") src += "&lang=en"
    var frame = document.createElement("iframe")
    frame.src = src
    frame.frameBorder = "0"
    frame.allowTransparency = "true"
    frame.scrolling = "yes"
    frame.width = "360px"
    frame.height = "560px"
    frame.id = "wxauth-sandbox-qr-frame"
    var box = document.getElementById(options.id)
    box.innerHTML = ""
    box.appendChild(frame)
  }
})(window, document)
`

/** The script's answer. @internal */
export const scriptResponse: SandboxResponse = {
  status: 200,
  headers: {
    "content-type": "application/javascript; charset=utf-8",
    "cache-control": "no-cache",
    "access-control-allow-origin": "*"
  },
  body: script
}

/**
 * The consent page of a `qrconnect` frame made by the script: its form posts to the whole window
 * (`target="_top"`) unless the frame asked for `self_redirect=true`. Any other answer is left as
 * it is.
 *
 * @internal
 */
export const adaptFrame = (method: string, url: URL, response: SandboxResponse): SandboxResponse => {
  if (
    method !== "GET" || url.pathname !== "/connect/qrconnect" || url.searchParams.get("login_type") !== "jssdk" ||
    url.searchParams.get("self_redirect") === "true" || response.status !== 200 || typeof response.body !== "string"
  ) return response
  return { ...response, body: response.body.replace("<form id=\"consent\" ", "<form id=\"consent\" target=\"_top\" ") }
}
