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
 * that name is read.
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
