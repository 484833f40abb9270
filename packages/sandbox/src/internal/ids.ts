/**
 * Random and derived identifiers shaped like WeChat's own: tokens, codes, openids, session keys,
 * request ids, and the AES-128-CBC encryption of mini program user data.
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

/** An authorization code or `js_code`: 32 alphanumeric characters. @internal */
export const randomCode = (): string => randomAlphanumeric(32)

/** A mini program `session_key`: base64 of 16 random bytes (an AES-128 key). @internal */
export const randomSessionKey = (): string => Crypto.randomBytes(16).toString("base64")

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
