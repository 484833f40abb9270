/**
 * The token WeChat gives for one user of one app, as every store keeps it. The access and refresh
 * tokens are `Redacted`: printing, logging or serialising a token never shows them.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { TokenResponse } from "./WeChatApi.js"
import { InvalidArgument } from "./WeChatError.js"

/**
 * A user's OAuth token. All times are epoch milliseconds. The refresh token's life is fixed at
 * consent (30 days) and is not extended by refreshing.
 *
 * @since 0.1.0
 * @category models
 */
export class OAuthToken extends Schema.Class<OAuthToken>("@wxauth/core/OAuthToken")({
  openid: Schema.String,
  accessToken: Schema.Redacted(Schema.String),
  refreshToken: Schema.Redacted(Schema.String),
  scope: Schema.Array(Schema.String),
  unionid: Schema.optional(Schema.String),
  isSnapshotUser: Schema.Boolean,
  obtainedAt: Schema.Number,
  expiresAt: Schema.Number,
  refreshExpiresAt: Schema.Number
}) {
  /**
   * True when the access token is still valid `skewMillis` from `now`.
   *
   * @since 0.1.0
   */
  isFresh(now: number, skewMillis = 0): boolean {
    return this.expiresAt - skewMillis > now
  }
}

/**
 * The encoded (JSON-ready) form of an `OAuthToken`: plain strings, as stores persist it.
 *
 * @since 0.1.0
 * @category models
 */
export type Encoded = typeof OAuthToken.Encoded

/**
 * Encodes a token to a JSON string (tokens in clear: pass it through `TokenCipher` before storing).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeJson = (token: OAuthToken): Effect.Effect<string, ParseResult.ParseError> => encodeToken(token)

const encodeToken = Schema.encode(Schema.parseJson(OAuthToken))
const decodeToken = Schema.decode(Schema.parseJson(OAuthToken))

/**
 * The longest encoded token `decodeJson` reads: a token is a few hundred characters; a longer
 * value is refused before it is parsed.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxEncodedLength = 65_536

/**
 * Decodes a token from the JSON string made by `encodeJson`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const decodeJson = (json: string): Effect.Effect<OAuthToken, ParseResult.ParseError> =>
  typeof json === "string" && json.length <= maxEncodedLength
    ? decodeToken(json)
    : Effect.fail(
      new ParseResult.ParseError({
        // the value itself is not kept: it may be huge, or hold tokens
        issue: new ParseResult.Type(
          Schema.String.ast,
          typeof json,
          `expected the JSON of a token, at most ${maxEncodedLength} characters`
        )
      })
    )

/**
 * The refresh token's life from consent, as WeChat fixes it: 30 days.
 *
 * @since 0.1.0
 * @category constants
 */
export const refreshTokenLifeMillis = 30 * 24 * 60 * 60 * 1000

const isRedactedText = (u: unknown): u is Redacted.Redacted<string> =>
  Redacted.isRedacted(u) && typeof Redacted.value(u) === "string"

const isTime = (u: unknown): u is number => typeof u === "number" && Number.isFinite(u) && u >= 0

const isTokenResponse = (u: unknown): u is TokenResponse => {
  if (typeof u !== "object" || u === null) return false
  const r = u as Record<string, unknown>
  return isRedactedText(r.access_token) && isRedactedText(r.refresh_token) && typeof r.openid === "string" &&
    r.openid !== "" && typeof r.scope === "string" && typeof r.expires_in === "number" &&
    Number.isSafeInteger(r.expires_in) && r.expires_in > 0 &&
    (r.unionid === undefined || typeof r.unionid === "string")
}

/**
 * WeChat's token answer (`/sns/oauth2/access_token` or `/sns/oauth2/refresh_token`, as
 * `WeChatApi` decodes it) as a token obtained `now`. After a refresh pass the `previous` token: its
 * refresh token's life carries over (refreshing does not extend it), its unionid too when WeChat
 * omits it, and `obtainedAt` stays strictly after the previous one's. An argument of the wrong shape
 * is `InvalidArgument`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromResponse = (
  response: TokenResponse,
  now: number,
  previous?: OAuthToken | undefined
): Either.Either<OAuthToken, InvalidArgument> => {
  if (!isTokenResponse(response)) {
    return Either.left(new InvalidArgument({ argument: "response", description: "not a decoded token answer" }))
  }
  if (!isTime(now)) return Either.left(new InvalidArgument({ argument: "now", description: "not an epoch in ms" }))
  if (previous !== undefined && !(previous instanceof OAuthToken)) {
    return Either.left(new InvalidArgument({ argument: "previous", description: "not an OAuthToken" }))
  }
  const obtainedAt = previous === undefined ? now : Math.max(now, previous.obtainedAt + 1)
  const unionid = response.unionid ?? previous?.unionid
  return Either.right(
    new OAuthToken({
      openid: response.openid,
      accessToken: response.access_token,
      refreshToken: response.refresh_token,
      scope: response.scope.split(/[\s,]+/).filter((scope) => scope.length > 0),
      ...(unionid === undefined || unionid === "" ? {} : { unionid }),
      isSnapshotUser: response.is_snapshotuser === 1,
      obtainedAt,
      expiresAt: obtainedAt + response.expires_in * 1000,
      refreshExpiresAt: previous === undefined ? now + refreshTokenLifeMillis : previous.refreshExpiresAt
    }, true) // decoded already: no second validation (it would wrap the tokens in new Redacted values)
  )
}
