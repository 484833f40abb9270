/**
 * The pure parts of a web login: checking a redirect URI, building the consent URLs with their
 * state, and reading a callback.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { domainToUnicode } from "node:url"
import * as StateToken from "../../StateToken.js"
import type * as WeChatConfig from "../../WeChatConfig.js"
import type * as WeChatError from "../../WeChatError.js"
import type { AuthorizeOptions, AuthorizeUrl, WebsiteAuthorizeOptions } from "../../WeChatOAuth.js"
import * as Arguments from "../arguments.js"
import { encodeQueryValue } from "../query.js"

const invalid = Arguments.invalid

/** WeChat's own limit on `state`. */
const statePattern = /^[a-zA-Z0-9]{1,128}$/

/** The longest redirect URI, return path or callback URL accepted (`Arguments.maxUrlLength`). @internal */
export const maxUrlLength = Arguments.maxUrlLength

/** The fields of the authorize URL builders' options. */
const authorizeKeys = ["redirectUri", "scope", "state", "returnTo", "binding"] as const

/**
 * The options of an authorize URL builder read once, guarded (a throwing getter or a revoked Proxy
 * is no options object); `undefined` for anything that is not an object.
 *
 * @internal
 */
export const readAuthorizeOptions = (options: unknown): WebsiteAuthorizeOptions & AuthorizeOptions | undefined =>
  options === undefined || options === null
    ? undefined
    : Arguments.optionsOf(options, authorizeKeys) as WebsiteAuthorizeOptions & AuthorizeOptions | undefined

/** @internal */
export const isOptionsObject = (options: unknown): options is Record<string, unknown> =>
  Either.getOrElse(
    Arguments.guard(() => typeof options === "object" && options !== null && !Array.isArray(options)),
    () => false
  )

/**
 * An absolute http(s) URL without control characters or spaces at its ends, whose host is the one
 * the URL parser reads, or `InvalidArgument`.
 *
 * @internal
 */
export const checkRedirectUri = (redirectUri: unknown): Effect.Effect<string, WeChatError.InvalidArgument> => {
  if (!Arguments.isText(redirectUri, maxUrlLength)) {
    return Effect.fail(invalid("redirectUri", `must be an absolute http(s) URL of at most ${maxUrlLength} characters`))
  }
  // the URL checked must be the one sent (the string as given, byte for byte)
  if (Arguments.urlParserAlters(redirectUri)) {
    return Effect.fail(
      invalid("redirectUri", "must be an absolute http(s) URL without control characters or spaces at its ends")
    )
  }
  let url: URL
  try {
    url = new URL(redirectUri)
  } catch {
    return Effect.fail(invalid("redirectUri", "must be an absolute http(s) URL"))
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return Effect.fail(invalid("redirectUri", "must be an absolute http(s) URL"))
  }
  return hostAsWritten(redirectUri, url.hostname)
    ? Effect.succeed(redirectUri)
    : Effect.fail(
      invalid(
        "redirectUri",
        "must be an absolute http(s) URL whose host holds no character the URL parser drops or maps"
      )
    )
}

/** The host of an http(s) URL as written: after `//` and any userinfo, up to its port, path, query or fragment. */
const rawHostOf = (uri: string): string | undefined => {
  const scheme = /^https?:\/\//i.exec(uri)
  if (scheme === null) return undefined
  const rest = uri.slice(scheme[0].length)
  const end = rest.search(/[/?#]/)
  const authority = end === -1 ? rest : rest.slice(0, end)
  // the URL parser ends the authority at a backslash too, an RFC 3986 parser (WeChat's) does not:
  // `https://[::1]\@[2001:db8::66]/cb` is [::1] to one and [2001:db8::66] to the other
  if (authority.includes("\\")) return undefined
  const host = authority.slice(authority.lastIndexOf("@") + 1)
  const close = host.startsWith("[") ? host.indexOf("]") + 1 : 0
  const colon = host.indexOf(":", close)
  return colon === -1 ? host : host.slice(0, colon)
}

/**
 * Whether the host as written is the host the URL parser read: each label, case and Unicode
 * normalization aside, is the parsed label in its ASCII (`xn--`) or Unicode form. The host parser
 * (UTS-46 mapping) drops a soft hyphen, a zero-width space, a variation selector..., maps an
 * ideographic full stop to a dot, and takes `https:host` or `https:///host` for `https://host`,
 * while the URI is sent as written: `https://app.example.com\u00AD.evil.example/cb` was checked as
 * the host `app.example.com.evil.example`.
 */
const hostAsWritten = (uri: string, hostname: string): boolean => {
  const raw = rawHostOf(uri)
  if (raw === undefined) return false
  // an IPv6 literal: the parser refuses any character in it but hex digits, colons and dots, and
  // writes it in its own canonical form ([0:0::1] is [::1])
  if (raw.startsWith("[")) {
    if (!raw.endsWith("]") || !hostname.startsWith("[")) return false
    try {
      return new URL(`http://${raw}`).hostname === hostname
    } catch {
      return false
    }
  }
  for (const c of raw) {
    // a character NFC rewrites (U+2126 Ohm is ω, U+037E is `;`), or a non-ASCII one that lower-cases
    // to ASCII (U+212A Kelvin is k): the parser reads another host than the one written. Text in
    // NFD stays accepted: its code points are each NFC-stable (`cafe\u0301`).
    if (c.normalize("NFC") !== c) return false
    const lower = c.toLowerCase()
    if (c.charCodeAt(0) > 0x7f && [...lower].every((l) => l.charCodeAt(0) <= 0x7f)) return false
  }
  const labels = raw.split(".")
  const ascii = hostname.split(".")
  const unicode = domainToUnicode(hostname).split(".")
  return labels.length === ascii.length && unicode.length === ascii.length &&
    labels.every((label, i) => {
      const nfc = label.normalize("NFC")
      const lower = nfc.toLowerCase()
      // Cherokee capitals: JavaScript lower-cases them to U+AB70..., which UTS-46 maps back
      return lower === ascii[i] || lower === unicode[i] || nfc === unicode[i]
    })
}

/**
 * The query of a callback: the full URL, its query, a `URL` or `URLSearchParams`, each read once
 * and bounded by `Arguments.readQuery` (a `URLSearchParams` whose query is over `maxUrlLength`
 * fails as a string that long does, without being copied whole).
 *
 * @internal
 */
export const parseCallback = (given: unknown): Effect.Effect<URLSearchParams, WeChatError.InvalidArgument> => {
  // read once, guarded: a revoked Proxy, or an object that passes `instanceof URL` without being one
  const read = Arguments.readQuery(given)
  if (Either.isLeft(read) && read.left !== Arguments.queryTooLong) return Effect.fail(invalid("callback", read.left))
  const callback = Either.getOrUndefined(read)
  if (callback instanceof URLSearchParams) return Effect.succeed(callback)
  if (!Arguments.isText(callback, maxUrlLength)) {
    return Effect.fail(
      invalid(
        "callback",
        `must be the callback URL, its query, a URL or URLSearchParams (at most ${maxUrlLength} characters)`
      )
    )
  }
  const text = callback.trim()
  if (/^https?:\/\//i.test(text)) {
    try {
      return Effect.succeed(new URL(text).searchParams)
    } catch {
      return Effect.fail(invalid("callback", "not a valid URL"))
    }
  }
  const query = text.includes("?") ? text.slice(text.indexOf("?") + 1) : text
  return Effect.succeed(new URLSearchParams(query.split("#")[0]))
}

/**
 * The authorize URL builders of one app: the official account's `/connect/oauth2/authorize` (per
 * scope) and the website app's `/connect/qrconnect`. Without a `state`, a signed `StateToken` is
 * made at the `Clock`'s time.
 *
 * @internal
 */
export const makeUrls = (config: WeChatConfig.WeChatConfigShape, componentAppId?: string | undefined) => {
  const appIdParam = encodeQueryValue(config.appId)
  // a platform asks consent for an app it manages: WeChat wants the platform's appid too
  const component = componentAppId === undefined ? "" : `&component_appid=${encodeQueryValue(componentAppId)}`
  const resolveState = (options: WebsiteAuthorizeOptions): Effect.Effect<string, WeChatError.InvalidArgument> => {
    const problem = Arguments.checkOptionalText("returnTo", options.returnTo, maxUrlLength) ??
      Arguments.checkOptionalText("binding", options.binding, Arguments.maxBindingLength)
    if (problem !== undefined) return problem
    if (options.state === undefined) {
      return Effect.flatMap(
        Effect.clockWith((clock) => clock.currentTimeMillis),
        (now) => StateToken.makeSync(config, now, { returnTo: options.returnTo, binding: options.binding })
      )
    }
    if (typeof options.state !== "string" || !statePattern.test(options.state)) {
      return Effect.fail(invalid("state", "WeChat accepts 1 to 128 characters of [a-zA-Z0-9]"))
    }
    if (options.returnTo !== undefined || options.binding !== undefined) {
      return Effect.fail(invalid("state", "returnTo and binding need a generated (signed) state: omit state"))
    }
    return Effect.succeed(options.state)
  }

  const build = (path: string, scope: string, extra: string) => (options: WebsiteAuthorizeOptions) =>
    Effect.flatMap(
      checkRedirectUri(options.redirectUri),
      (redirectUri): Effect.Effect<AuthorizeUrl, WeChatError.InvalidArgument> =>
        Effect.map(resolveState(options), (state) => ({
          // (a lone surrogate, which the URL parser accepts, is sent as U+FFFD: never a throw)
          url: `${config.openBaseUrl}${path}?appid=${appIdParam}&redirect_uri=${
            encodeQueryValue(redirectUri)
          }&response_type=code&scope=${scope}&state=${state}${extra}#wechat_redirect`,
          state
        }))
    )

  const oauth2 = {
    snsapi_base: build("/connect/oauth2/authorize", "snsapi_base", `${component}&connect_redirect=1`),
    snsapi_userinfo: build("/connect/oauth2/authorize", "snsapi_userinfo", `${component}&connect_redirect=1`)
  }
  const qrconnect = build("/connect/qrconnect", "snsapi_login", "")
  const notAnObject = Effect.fail(invalid("options", "must be an object with a redirectUri"))

  return {
    authorizeUrl: (given: AuthorizeOptions): Effect.Effect<AuthorizeUrl, WeChatError.InvalidArgument> => {
      const options = readAuthorizeOptions(given)
      if (options === undefined) return notAnObject
      const scope: unknown = options.scope ?? "snsapi_base"
      return scope === "snsapi_base" || scope === "snsapi_userinfo"
        ? oauth2[scope](options)
        : Effect.fail(invalid("scope", "must be snsapi_base or snsapi_userinfo"))
    },
    websiteAuthorizeUrl: (given: WebsiteAuthorizeOptions): Effect.Effect<AuthorizeUrl, WeChatError.InvalidArgument> => {
      if (componentAppId !== undefined) {
        return Effect.fail(
          invalid(
            "websiteAuthorizeUrl",
            "a platform logs users in to an official account it manages with authorizeUrl; website QR login needs the website app's own appid and secret"
          )
        )
      }
      const options = readAuthorizeOptions(given)
      return options === undefined ? notAnObject : qrconnect(options)
    }
  }
}
