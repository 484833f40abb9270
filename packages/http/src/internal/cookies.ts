/**
 * The login's two cookies:
 * - the binding cookie: a random per-browser value, minted afresh at each login start and replaced
 *   after the login. The OAuth state is bound to it (only a keyed hash goes into the state), so a
 *   callback URL only works in the browser that started that login. It is never one the browser
 *   brought: a value planted in it (by a sibling subdomain over http, say) would be known to
 *   whoever planted it, who could then finish a login with the victim's callback URL;
 * - the session cookie: the session's token (32 random bytes). Who it stands for and until when is
 *   in the `SessionStore`, under the token's SHA-256, so logout and expiry end it on the server,
 *   whatever copies of the cookie exist. It holds no WeChat token.
 *
 * Both are `HttpOnly`, `SameSite=Lax` and `Path=/`. Over https they are `Secure` and named with
 * the `__Host-` prefix, which a browser only accepts from this very host (no `Domain`), so a
 * sibling subdomain cannot plant ("toss") either of them; over http they have no prefix, and only
 * that name is read. A name is matched exactly (`read`), never trimmed of more than spaces and tabs:
 * a cookie named `\xa0__Host-wxauth_binding` is no `__Host-` cookie to the browser (a sibling can
 * set it, with `Domain`), and a parser that trims U+00A0 would read it as ours. A name sent twice
 * is read as absent: one of the two was planted, and either may come first. Only a logout, and a
 * new login replacing this browser's session, read every value of the session cookie's name
 * (`readAll`), to end the sessions of all of them.
 *
 * @internal
 */
import type * as Cookies from "@effect/platform/Cookies"
import * as Crypto from "node:crypto"
import { sessionCookieName } from "../CurrentWeChatUser.js"

/** @internal */
export interface CookieNames {
  readonly session: string
  readonly binding: string
}

const plain: CookieNames = { session: sessionCookieName, binding: "wxauth_binding" }
const host: CookieNames = { session: `__Host-${plain.session}`, binding: `__Host-${plain.binding}` }

/** The cookies' names for a site served over https (`secure`) or not. @internal */
export const names = (secure: boolean): CookieNames => secure ? host : plain

/** `HttpOnly`, `SameSite=Lax`, `Path=/`, no `Domain`, and `Secure` over https. @internal */
export const options = (secure: boolean): NonNullable<Cookies.Cookie["options"]> => ({
  httpOnly: true,
  sameSite: "lax",
  path: "/",
  secure
})

/** A fresh binding value: 32 random bytes, base64url. @internal */
export const newBinding = (): string => Crypto.randomBytes(32).toString("base64url")

/** Whether a cookie value looks like one of our binding values (anything else is ignored). @internal */
export const isBinding = (value: string | undefined): value is string =>
  value !== undefined && /^[A-Za-z0-9_-]{43}$/.test(value)

/** A nonce for a page's scripts: 16 random bytes, base64. @internal */
export const newNonce = (): string => Crypto.randomBytes(16).toString("base64")

/**
 * Spaces and tabs around a cookie pair, its name and its value: the only ones a browser adds or
 * drops. A scan from each end, linear in the text (a regular expression anchored at the end,
 * `/[ \t]+$/`, backtracks over every run of spaces inside the text: 16,000 of them in one cookie, as
 * Node's header limit allows, took 120 ms of CPU per read).
 */
const trimSpaces = (text: string): string => {
  let start = 0
  let end = text.length
  while (start < end && isSpace(text.charCodeAt(start))) start++
  while (end > start && isSpace(text.charCodeAt(end - 1))) end--
  return text.slice(start, end)
}

const isSpace = (code: number): boolean => code === 32 || code === 9

/**
 * The value of the cookie of a `Cookie` header whose name is exactly `name` (spaces and tabs around
 * it aside); `undefined` when there is none, and when there is more than one: a browser never sends
 * two cookies of one of our names for one host on its own (both are host-only, `Path=/`), so a
 * second one was planted (a sibling subdomain's `Domain` cookie over http, a nameless cookie whose
 * value looks like `__Host-wxauth_binding=...`), and whichever came first may be the planted one.
 * Neither is read: the login answers as without a binding, a request as without a session (fails
 * closed); a logout and a new login read them all (`readAll`). `@effect/platform`'s parser trims names with
 * `String.prototype.trim`, which also removes U+00A0 (a byte 0xA0 read as latin1), so a cookie that
 * a sibling subdomain set as `\xa0__Host-wxauth_binding` (no prefix for the browser, so `Domain`
 * was allowed) would be read as `__Host-wxauth_binding`. The value is read as the platform reads it:
 * without its double quotes, percent-decoded when it decodes.
 *
 * @internal
 */
export const read = (header: string | undefined, name: string): string | undefined => {
  if (header === undefined) return undefined
  let found: string | undefined
  for (const pair of header.split(";")) {
    const at = pair.indexOf("=")
    if (at === -1 || trimSpaces(pair.slice(0, at)) !== name) continue
    // a second cookie of the name: neither is read
    if (found !== undefined) return undefined
    found = pair.slice(at + 1)
  }
  return found === undefined ? undefined : valueOf(found)
}

/**
 * The values of every cookie of a `Cookie` header whose name is exactly `name`, in the header's
 * order, each read as `read` reads a single one (a name sent twice included: the planted copy
 * beside the browser's own). Only for a logout, or a new login replacing this browser's session,
 * which end the sessions of all of them, not knowing which one is this browser's (and for the JSON
 * logouts to tell that the name was sent more than once); anything else reads one value with
 * `read`, or none.
 *
 * @internal
 */
export const readAll = (header: string | undefined, name: string): Array<string> => {
  const values: Array<string> = []
  if (header === undefined) return values
  for (const pair of header.split(";")) {
    const at = pair.indexOf("=")
    if (at !== -1 && trimSpaces(pair.slice(0, at)) === name) values.push(valueOf(pair.slice(at + 1)))
  }
  return values
}

/** A cookie's value as the platform reads it: trimmed of spaces and tabs, unquoted, percent-decoded when it decodes. */
const valueOf = (raw: string): string => {
  let value = trimSpaces(raw)
  if (value.length >= 2 && value.startsWith("\"") && value.endsWith("\"")) value = value.slice(1, -1)
  if (!value.includes("%")) return value
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}
