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
import { guardOr } from "./internal/guard.js"
import * as Stamp from "./internal/stamp.js"
import { setAccessTokenReader, setRefreshTokenReader } from "./internal/tokenSecret.js"
import type { TokenResponse } from "./WeChatApi.js"
import { InvalidArgument } from "./WeChatError.js"

const fields = {
  openid: Schema.String,
  accessToken: Schema.Redacted(Schema.String),
  refreshToken: Schema.Redacted(Schema.String),
  scope: Schema.Array(Schema.String),
  unionid: Schema.optional(Schema.String),
  isSnapshotUser: Schema.Boolean,
  obtainedAt: Schema.Number,
  expiresAt: Schema.Number,
  refreshExpiresAt: Schema.Number
}

/** What the constructor takes: every field, the tokens `Redacted`. */
type Props = Schema.Struct.Constructor<typeof fields>

const validateProps = ParseResult.validateSync(
  Schema.Struct(fields).annotations({ title: "@wxauth/core/OAuthToken (Constructor)" })
)

const validationDisabled = (options: Schema.MakeOptions | undefined): boolean =>
  typeof options === "boolean" ? options : options?.disableValidation ?? false

// A token's scopes are one of a handful of lists ("snsapi_base", "snsapi_userinfo", both): tokens
// share one frozen array per list instead of holding a copy each. Bounded: past `maxSharedScopes`
// distinct lists, a token keeps its own (frozen) array, as does a list longer than
// `maxSharedScopeLength` (WeChat's are under 40 characters: what an answer made up would pin for the
// process's life is 64 short lists, not 64 answers' worth).
const sharedScopes = new Map<string, ReadonlyArray<string>>()
const maxSharedScopes = 64
const maxSharedScopeLength = 256

const shareScope = (scope: ReadonlyArray<string>): ReadonlyArray<string> => {
  if (!Array.isArray(scope)) return scope // only without validation: kept as given
  const key = scope.join(" ")
  const shared = sharedScopes.get(key)
  // a scope with a space in it joins as two would: the lists must match element by element
  if (shared !== undefined && shared.length === scope.length && shared.every((s, i) => s === scope[i])) return shared
  const own = Object.freeze([...scope])
  if (shared === undefined && sharedScopes.size < maxSharedScopes && key.length <= maxSharedScopeLength) {
    sharedScopes.set(key, own)
  }
  return own
}

const reveal = (value: unknown): unknown => Redacted.isRedacted(value) ? Redacted.value(value) : value

// filled by OAuthToken's static block: accessors that read its private fields
let secretAccessors: PropertyDescriptorMap = {}

/**
 * A user's OAuth token. All times are epoch milliseconds. The refresh token's life is fixed at
 * consent (30 days) and is not extended by refreshing.
 *
 * `accessToken` and `refreshToken` are `Redacted`, as the schema says, but the token does not keep
 * two `Redacted` values (each an object and an entry in Effect's global registry): it keeps the two
 * strings in private fields, which no printer, serialiser or reflection reaches, and hands out a
 * new `Redacted` on each read. `scope` is a frozen array shared by the tokens with the same scopes.
 *
 * @since 0.1.0
 * @category models
 */
export class OAuthToken extends Schema.Class<OAuthToken>("@wxauth/core/OAuthToken")(fields) {
  /** @internal */
  readonly #accessToken: unknown
  /** @internal */
  readonly #refreshToken: unknown

  static {
    const accessToken = function(this: OAuthToken) {
      return Redacted.make(this.#accessToken)
    }
    const refreshToken = function(this: OAuthToken) {
      return Redacted.make(this.#refreshToken)
    }
    // own, enumerable accessors (as the fields were): `{ ...token }`, `Object.keys`, `Equal` and
    // the schema's encoder see them; their functions are shared, so they cost a token nothing
    secretAccessors = {
      accessToken: { get: accessToken, enumerable: true },
      refreshToken: { get: refreshToken, enumerable: true }
    }
    // core's hot path reads the text without a `Redacted` per call (internal/tokenSecret.ts)
    setAccessTokenReader((token) => #accessToken in token ? token.#accessToken : undefined)
    // and TokenStore.checkToken reads a caller's token's refresh token once, without a Proxy's traps
    setRefreshTokenReader((token) => #refreshToken in token ? token.#refreshToken : undefined)
  }

  constructor(props: Props, options?: Schema.MakeOptions) {
    const checked: Props = validationDisabled(options) ? props : validateProps(props)
    const { accessToken, refreshToken, ...rest } = checked
    super({ ...rest, scope: shareScope(rest.scope) } as Props, true)
    this.#accessToken = reveal(accessToken)
    this.#refreshToken = reveal(refreshToken)
    Object.defineProperties(this, secretAccessors)
  }

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
export const encodeJson = (token: OAuthToken): Effect.Effect<string, ParseResult.ParseError> =>
  guardOr(() => token instanceof OAuthToken, false)
    ? encodeToken(token)
    : Effect.fail(
      new ParseResult.ParseError({
        // the value itself is not kept: a JavaScript caller's object may hold tokens
        issue: new ParseResult.Type(OAuthToken.ast, undefined, "expected an OAuthToken")
      })
    )

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

// the lists WeChat's scope field takes, split once each (bounded, as the shared arrays are)
const splitScopes = new Map<string, ReadonlyArray<string>>()

const scopesOf = (text: string): ReadonlyArray<string> => {
  const known = splitScopes.get(text)
  if (known !== undefined) return known
  const scope = shareScope(text.split(/[\s,]+/).filter((scope) => scope.length > 0))
  if (splitScopes.size < maxSharedScopes && text.length <= maxSharedScopeLength) splitScopes.set(text, scope)
  return scope
}

const isTime = (u: unknown): u is number => typeof u === "number" && Number.isFinite(u) && u >= 0

/** The fields of a token answer, read once (a Proxy or a getter cannot answer differently later). */
const tokenResponseOf = (u: unknown): TokenResponse | undefined =>
  guardOr(() => {
    if (typeof u !== "object" || u === null) return undefined
    const { access_token, expires_in, is_snapshotuser, openid, refresh_token, scope, unionid } = u as Record<
      string,
      unknown
    >
    const copy = { access_token, expires_in, is_snapshotuser, openid, refresh_token, scope, unionid }
    return isTokenResponse(copy) ? copy : undefined
  }, undefined)

const isTokenResponse = (r: Record<string, unknown>): r is TokenResponse => {
  return isRedactedText(r.access_token) && isRedactedText(r.refresh_token) && typeof r.openid === "string" &&
    r.openid !== "" && typeof r.scope === "string" && typeof r.expires_in === "number" &&
    Number.isSafeInteger(r.expires_in) && r.expires_in > 0 &&
    (r.unionid === undefined || typeof r.unionid === "string")
}

/**
 * WeChat's token answer (`/sns/oauth2/access_token` or `/sns/oauth2/refresh_token`, as
 * `WeChatApi` decodes it) as a token obtained `now`. After a refresh pass the `previous` token: its
 * refresh token's life carries over (refreshing does not extend it), its unionid too when WeChat
 * omits it, and `obtainedAt` stays strictly after the previous one's. The access token expires
 * `expires_in` after `now`, as WeChat counts it, even when `obtainedAt` is moved past the previous
 * token's (never at or before `obtainedAt`, though). An argument of the wrong shape is
 * `InvalidArgument`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromResponse = (
  response: TokenResponse,
  now: number,
  previous?: OAuthToken | undefined
): Either.Either<OAuthToken, InvalidArgument> => {
  const answer = tokenResponseOf(response)
  if (answer === undefined) {
    return Either.left(new InvalidArgument({ argument: "response", description: "not a decoded token answer" }))
  }
  response = answer
  if (!isTime(now)) return Either.left(new InvalidArgument({ argument: "now", description: "not an epoch in ms" }))
  if (previous !== undefined && !guardOr(() => previous instanceof OAuthToken, false)) {
    return Either.left(new InvalidArgument({ argument: "previous", description: "not an OAuthToken" }))
  }
  const obtainedAt = Stamp.after(now, previous)
  const unionid = response.unionid ?? previous?.unionid
  return Either.right(
    new OAuthToken({
      openid: response.openid,
      accessToken: response.access_token,
      refreshToken: response.refresh_token,
      scope: scopesOf(response.scope),
      ...(unionid === undefined || unionid === "" ? {} : { unionid }),
      isSnapshotUser: response.is_snapshotuser === 1,
      obtainedAt,
      expiresAt: Stamp.expiresAt(now, response.expires_in * 1000, obtainedAt),
      refreshExpiresAt: previous === undefined ? now + refreshTokenLifeMillis : previous.refreshExpiresAt
    }, true) // decoded already: no second validation (it would wrap the tokens in new Redacted values)
  )
}
