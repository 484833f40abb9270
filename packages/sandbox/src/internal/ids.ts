/**
 * Random and derived identifiers shaped like WeChat's own: tokens, codes, openids, session keys,
 * phone numbers, request ids; the session-key signature of `wxa/checksession`; and the
 * AES-128-CBC encryption of mini program user data.
 *
 * @internal
 */
import * as Crypto from "node:crypto"

const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/** @internal */
export const randomAlphanumeric = (length: number): string => {
  let out = ""
  while (out.length < length) {
    for (const byte of Crypto.randomBytes(length)) {
      // 248 = 4 * 62: rejecting larger bytes keeps the distribution uniform
      if (byte < 248 && out.length < length) out += ALPHANUMERIC[byte % 62]
    }
  }
  return out
}

/** A web access or refresh token: about 90 characters of `[A-Za-z0-9_-]`, like WeChat's. @internal */
export const randomToken = (): string => `88_${Crypto.randomBytes(66).toString("base64url")}`

/**
 * An app access token (`cgi-bin/stable_token`, `cgi-bin/token`): 152 characters of `[A-Za-z0-9_-]`,
 * about as long as WeChat's (which asks for 512 characters of storage).
 *
 * @internal
 */
export const randomAppToken = (): string => `89_${Crypto.randomBytes(111).toString("base64url")}`

/** A `getPhoneNumber` code: 64 hex characters, like WeChat's. @internal */
export const randomPhoneCode = (): string => Crypto.randomBytes(32).toString("hex")

/** An authorization code or `js_code`: 32 alphanumeric characters. @internal */
export const randomCode = (): string => randomAlphanumeric(32)

/** A mini program `session_key`: base64 of 16 random bytes (an AES-128 key). @internal */
export const randomSessionKey = (): string => Crypto.randomBytes(16).toString("base64")

/** Whether a text is a session_key: the canonical base64 of 16 bytes. @internal */
export const isSessionKey = (text: string): boolean =>
  /^[A-Za-z0-9+/]{22}==$/.test(text) && Buffer.from(text, "base64").toString("base64") === text

/** WeChat appends `rid: xxxxxxxx-xxxxxxxx-xxxxxxxx` to its error messages. @internal */
export const randomRid = (): string =>
  `${Crypto.randomBytes(4).toString("hex")}-${Crypto.randomBytes(4).toString("hex")}-${
    Crypto.randomBytes(4).toString("hex")
  }`

const digest = (input: string): string => Crypto.createHash("sha256").update(input, "utf8").digest("base64url")

/**
 * A deterministic openid: 28 characters of `[A-Za-z0-9_-]` starting with "o". As with real openids, all
 * users of one app share a short prefix, and the same user has a different openid in every app.
 *
 * @internal
 */
export const deriveOpenid = (appId: string, userId: string): string =>
  `o${digest(`sandbox-openid-app:${appId}`).slice(0, 5)}${digest(`sandbox-openid:${appId}:${userId}`).slice(0, 22)}`

/** A deterministic mainland mobile number (`139` and 8 digits) for users configured without one. @internal */
export const derivePhoneNumber = (userId: string): string =>
  `139${
    (Crypto.createHash("sha256").update(`sandbox-phone:${userId}`, "utf8").digest().readUInt32BE(0) % 1e8)
      .toString().padStart(8, "0")
  }`

/**
 * The `signature` of `wxa/checksession` and `wxa/resetusersessionkey`: lowercase hex HMAC-SHA256
 * of the empty string, keyed by the UTF-8 bytes of the session_key's text (not base64-decoded).
 *
 * @internal
 */
export const sessionSignature = (sessionKey: string): string =>
  Crypto.createHmac("sha256", Buffer.from(sessionKey, "utf8")).update("").digest("hex")

/** A deterministic unionid for users configured without one. @internal */
export const deriveUnionid = (userId: string): string => `o${digest(`sandbox-unionid:${userId}`).slice(0, 27)}`

/**
 * Encrypts like WeChat encrypts `wx.getUserInfo` data: AES-128-CBC, key = base64-decoded session_key,
 * a random 16-byte iv, PKCS#7 padding; both results base64.
 *
 * @internal
 */
export const encryptUserData = (sessionKey: string, plaintext: string): { encryptedData: string; iv: string } => {
  const iv = Crypto.randomBytes(16)
  const cipher = Crypto.createCipheriv("aes-128-cbc", Buffer.from(sessionKey, "base64"), iv)
  const encrypted = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()])
  return { encryptedData: encrypted.toString("base64"), iv: iv.toString("base64") }
}

/** A `component_verify_ticket`, shaped like WeChat's: `ticket@@@` and 86 characters of `[A-Za-z0-9_-]`. @internal */
export const randomTicket = (): string => `ticket@@@${Crypto.randomBytes(64).toString("base64url")}`

/** A `component_access_token`: 152 characters of `[A-Za-z0-9_-]`, like an app access token. @internal */
export const randomComponentToken = (): string => `90_${Crypto.randomBytes(111).toString("base64url")}`

/** An authorization code of the third-party platform (`AuthorizationCode`): `queryauthcode@@@` and 86 more. @internal */
export const randomAuthorizationCode = (): string => `queryauthcode@@@${Crypto.randomBytes(64).toString("base64url")}`

/** A pre-authorization code (`PreAuthCode`): `preauthcode@@@` and 86 more. @internal */
export const randomPreAuthCode = (): string => `preauthcode@@@${Crypto.randomBytes(64).toString("base64url")}`

/** An authorizer refresh token: `refreshtoken@@@` and 86 more. @internal */
export const randomAuthorizerRefreshToken = (): string =>
  `refreshtoken@@@${Crypto.randomBytes(64).toString("base64url")}`

/** A push's `nonce`: 10 digits, as WeChat sends it. @internal */
export const randomNonce = (): string => String(Crypto.randomInt(1_000_000_000, 10_000_000_000))

/** A deterministic app secret (32 hex characters) for an authorizer added without one. @internal */
export const deriveSecret = (appId: string): string =>
  Crypto.createHash("sha256").update(`sandbox-secret:${appId}`, "utf8").digest("hex").slice(0, 32)
