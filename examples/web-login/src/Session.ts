/**
 * The example's two cookies:
 * - the binding cookie: a random per-browser value. The OAuth state is bound to it (only a keyed hash
 *   goes into the state), so a callback URL only works in the browser that started the login, and
 *   the app keeps no state of its own between the redirect and the callback;
 * - the session cookie: which app and which openid, with an expiry, signed with HMAC-SHA256. It holds
 *   no token: tokens stay in the server's token store.
 *
 * Both are `HttpOnly` and `SameSite=Lax` (`Secure` when the site is served over https).
 */
import type * as Cookies from "@effect/platform/Cookies"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Crypto from "node:crypto"

/** The two ways to log in: an official account (in WeChat) and an Open Platform website app (QR). */
export type AppKind = "officialAccount" | "website"

/** Who is logged in. */
export interface Session {
  readonly app: AppKind
  readonly openid: string
  /** Epoch milliseconds. */
  readonly expiresAt: number
}

/** The session cookie's name. */
export const sessionCookie = "wxauth_session"

/** The binding cookie's name. */
export const bindingCookie = "wxauth_binding"

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

/** A fresh binding value: 32 random bytes, base64url. */
export const newBinding = (): string => Crypto.randomBytes(32).toString("base64url")

/** Whether a cookie value looks like one of our binding values (anything else is replaced). */
export const isBinding = (value: string | undefined): value is string =>
  value !== undefined && /^[A-Za-z0-9_-]{43}$/.test(value)

/** The attributes of both cookies. */
export const cookieOptions = (secure: boolean): NonNullable<Cookies.Cookie["options"]> => ({
  httpOnly: true,
  sameSite: "lax",
  path: "/",
  secure
})

const Payload = Schema.parseJson(Schema.Struct({
  a: Schema.Literal("o", "w"),
  o: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128)),
  e: Schema.Int
}))

const decodePayload = Schema.decodeUnknownOption(Payload)

const mac = (key: Redacted.Redacted<Uint8Array>, payload: string): Buffer =>
  Crypto.createHmac("sha256", Redacted.value(key)).update("wxauth-example/session\0").update(payload).digest()

/** The cookie value of a session: `base64url(payload).base64url(hmac)`. */
export const encode = (key: Redacted.Redacted<Uint8Array>, session: Session): string => {
  const payload = Buffer.from(
    JSON.stringify({
      a: session.app === "website" ? "w" : "o",
      o: session.openid,
      e: Math.floor(session.expiresAt / 1000)
    }),
    "utf8"
  ).toString("base64url")
  return `${payload}.${mac(key, payload).toString("base64url")}`
}

/** The session of a cookie value: `None` when it is malformed, forged or expired. */
export const decode = (
  key: Redacted.Redacted<Uint8Array>,
  value: string | undefined,
  now: number
): Option.Option<Session> => {
  if (value === undefined) return Option.none()
  const parts = value.split(".")
  if (parts.length !== 2) return Option.none()
  const [payload, signature] = parts
  const expected = mac(key, payload)
  const given = Buffer.from(signature, "base64url")
  if (given.length !== expected.length || !Crypto.timingSafeEqual(given, expected)) return Option.none()
  return decodePayload(Buffer.from(payload, "base64url").toString("utf8")).pipe(
    Option.filter((fields) => fields.e * 1000 > now),
    Option.map((fields): Session => ({
      app: fields.a === "w" ? "website" : "officialAccount",
      openid: fields.o,
      expiresAt: fields.e * 1000
    }))
  )
}
