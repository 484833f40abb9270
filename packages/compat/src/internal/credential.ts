/**
 * The appid, app secret and tokens the app hands over as text: one reading and one wording for all
 * the entry points (the constructor and its setters, the authorize URL builders, the functional API).
 *
 * @internal
 */
import * as Either from "effect/Either"

/**
 * A credential the app hands over: its name in a message, and the name `Redacted.value(...)` is
 * shown with.
 *
 * @internal
 */
export type Credential = "appId" | "appSecret" | "refreshToken" | "accessToken"

const names: Record<Credential, readonly [what: string, hint: string]> = {
  appId: ["the WeChat appid", "appid"],
  appSecret: ["the WeChat app secret", "secret"],
  refreshToken: ["the refresh token", "refresh_token"],
  accessToken: ["the access token", "access_token"]
}

/**
 * The message for a credential that is not a string (a `Redacted`, `new String(...)`, a number): it
 * must be a string, and a `Redacted` is unwrapped with `Redacted.value(...)`. Never quotes the value.
 *
 * @internal
 */
export const notAString = (name: Credential): string => {
  const [what, hint] = names[name]
  return `${what} must be a string (for a Redacted, pass Redacted.value(${hint}))`
}

/**
 * A credential as text: absent (`undefined`, `null`) is `""` (the caller's "is empty" /
 * "is required"), a string as it is, anything else the message of `notAString`.
 *
 * @internal
 */
export const credentialText = (name: Credential, input: unknown): Either.Either<string, string> =>
  input === undefined || input === null
    ? Either.right("")
    : typeof input === "string"
    ? Either.right(input)
    : Either.left(notAString(name))
