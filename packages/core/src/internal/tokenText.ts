/**
 * The one rule of a credential's text and of a token's scope, wherever one enters or leaves: WeChat's
 * answers (`WeChatApi`'s token schemas: user, app, component and authorizer tokens), the endpoints'
 * own arguments (a token sent back to WeChat) and wechat-oauth's stored records (`LegacyToken`).
 * One limit for what is accepted and what is sent: a token WeChat answered longer than the endpoints
 * send would be stored, then refused by every call (a typed `InvalidArgument` that neither refresh
 * nor a new token clears) until it expired.
 *
 * @internal
 */
import * as Schema from "effect/Schema"

/**
 * The longest access or refresh token accepted or sent. WeChat's are about 110 to 200 characters and
 * its documentation asks for 512 of storage.
 *
 * @internal
 */
export const maxTokenLength = 1024

/** The longest `scope` accepted (WeChat's are a few comma-separated names). @internal */
export const maxScopeLength = 1024

/** True for a token's text: 1 to {@link maxTokenLength} characters. @internal */
export const isTokenText = (text: unknown): text is string =>
  typeof text === "string" && text.length > 0 && text.length <= maxTokenLength

/** A token in a WeChat answer, `Redacted`. @internal */
export const RedactedToken = Schema.Redacted(Schema.NonEmptyString.pipe(Schema.maxLength(maxTokenLength)))

/** A token answer's `scope`. @internal */
export const Scope = Schema.String.pipe(Schema.maxLength(maxScopeLength))
