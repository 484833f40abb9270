/**
 * The example's two cookies:
 * - the binding cookie: a random per-browser value, minted afresh at each login start and replaced
 *   after login. The OAuth state is bound to it (only a keyed hash goes into the state), so a
 *   callback URL only works in the browser that started that login, and the app keeps no state of
 *   its own between the redirect and the callback;
 * - the session cookie: a random session id, signed with HMAC-SHA256. Who it stands for (app,
 *   openid) and until when is on the server (`SessionStore`), so logout and expiry end it there,
 *   whatever copies of the cookie exist. It holds no token: tokens stay in the token store.
 *
 * Both are `HttpOnly`, `SameSite=Lax` and `Path=/`. Over https they are `Secure` and named with the
 * `__Host-` prefix, which a browser only accepts from this very host (no `Domain`), so a sibling
 * subdomain cannot plant ("toss") either of them; over http they have no prefix, and are read under
 * that name only.
 */
import type * as Cookies from "@effect/platform/Cookies"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"

/** The two ways to log in: an official account (in WeChat) and an Open Platform website app (QR). */
export type AppKind = "officialAccount" | "website"

/** Who is logged in, until when. */
export interface Session {
  readonly app: AppKind
  readonly openid: string
  /** Epoch milliseconds. */
  readonly expiresAt: number
}

/** The names of the two cookies: `__Host-` prefixed when the site is served over https. */
export interface CookieNames {
  readonly session: string
  readonly binding: string
}

/** The cookies' names over http. */
export const plainCookieNames: CookieNames = { session: "wxauth_session", binding: "wxauth_binding" }

/** The cookies' names over https: `__Host-` cookies, which only this host can set. */
export const hostCookieNames: CookieNames = {
  session: `__Host-${plainCookieNames.session}`,
  binding: `__Host-${plainCookieNames.binding}`
}

/** The cookies' names, for a site served over https (`secure`) or not. */
export const cookieNames = (secure: boolean): CookieNames => secure ? hostCookieNames : plainCookieNames

/** How long a session lasts. */
export const sessionTtl: Duration.Duration = Duration.hours(24)

/** The key that signs sessions, from a secret. */
export const keyFromSecret = (secret: Redacted.Redacted<string>): Redacted.Redacted<Uint8Array> =>
  Redacted.make(
    new Uint8Array(
      Crypto.createHash("sha256").update("wxauth-example/session-key\0").update(Redacted.value(secret)).digest()
    )
  )

/** A random key, for when no secret is configured: sessions then end with the process. */
export const randomKey = (): Redacted.Redacted<Uint8Array> => Redacted.make(new Uint8Array(Crypto.randomBytes(32)))

const randomValue = (): string => Crypto.randomBytes(32).toString("base64url")

const isRandomValue = (value: string | undefined): value is string =>
  value !== undefined && /^[A-Za-z0-9_-]{43}$/.test(value)

/** A fresh binding value: 32 random bytes, base64url. */
export const newBinding = (): string => randomValue()

/** Whether a cookie value looks like one of our binding values (anything else is ignored). */
export const isBinding = (value: string | undefined): value is string => isRandomValue(value)

/** A fresh session id: 32 random bytes, base64url. */
export const newSessionId = (): string => randomValue()

/**
 * The attributes of both cookies: `HttpOnly`, `SameSite=Lax`, `Path=/`, never a `Domain`, and
 * `Secure` over https (as the `__Host-` prefix requires).
 */
export const cookieOptions = (secure: boolean): NonNullable<Cookies.Cookie["options"]> => ({
  httpOnly: true,
  sameSite: "lax",
  path: "/",
  secure
})

const mac = (key: Redacted.Redacted<Uint8Array>, id: string): Buffer =>
  Crypto.createHmac("sha256", Redacted.value(key)).update("wxauth-example/session-id\0").update(id).digest()

/** The session cookie's value for a session id: `id.base64url(hmac(id))`. */
export const sign = (key: Redacted.Redacted<Uint8Array>, id: string): string =>
  `${id}.${mac(key, id).toString("base64url")}`

/**
 * The session id in a session cookie's value: `None` when it is malformed or not signed with this
 * key. Whether that session exists, and still lasts, is for the `SessionStore` to say.
 */
export const verify = (key: Redacted.Redacted<Uint8Array>, value: string | undefined): Option.Option<string> => {
  if (value === undefined) return Option.none()
  const parts = value.split(".")
  if (parts.length !== 2) return Option.none()
  const [id, signature] = parts
  if (!isRandomValue(id) || !isRandomValue(signature)) return Option.none()
  // compared as text, so only the one canonical spelling of the signature passes
  const expected = Buffer.from(mac(key, id).toString("base64url"), "latin1")
  return Crypto.timingSafeEqual(Buffer.from(signature, "latin1"), expected) ? Option.some(id) : Option.none()
}
