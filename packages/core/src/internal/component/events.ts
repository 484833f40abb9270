/**
 * What a push to the authorization-event URL means, as typed values.
 *
 * @internal
 */
import * as Data from "effect/Data"
import type * as Redacted from "effect/Redacted"

/** The fields of an `authorized` / `updateauthorized` event. @internal */
export interface AuthorizationFields {
  readonly componentAppId: string
  /** When WeChat sent it, epoch seconds (`CreateTime`). */
  readonly createTime: number
  readonly authorizerAppId: string
  /** For `Component.queryAuth`; single-use. */
  readonly authorizationCode: Redacted.Redacted<string>
  /** When the authorization code expires, epoch seconds. */
  readonly authorizationCodeExpiredTime: number
  readonly preAuthCode: Redacted.Redacted<string> | undefined
}

/** @internal */
export type PushEvent = Data.TaggedEnum<{
  /** A new `component_verify_ticket` (every 10 minutes); already stored. */
  ComponentVerifyTicket: {
    readonly componentAppId: string
    readonly createTime: number
    readonly ticket: Redacted.Redacted<string>
  }
  /** An app authorized the platform. */
  Authorized: AuthorizationFields
  /** An app changed what it authorized. */
  UpdateAuthorized: AuthorizationFields
  /** An app withdrew its authorization; its stored tokens are void. */
  Unauthorized: {
    readonly componentAppId: string
    readonly createTime: number
    readonly authorizerAppId: string
  }
  /**
   * A push of another kind (WeChat has more, e.g. `notify_third_fasteregister` with a nested
   * `<info>`), verified and decrypted but not interpreted.
   */
  Unrecognized: {
    readonly componentAppId: string
    readonly createTime: number
    readonly infoType: string
  }
  /**
   * A replay of a push this process already accepted (the same `msg_signature`, which covers its timestamp, nonce and message): not
   * processed again. Per process: another process would process it (`onEvent` must be idempotent).
   */
  Duplicate: {}
}>

/** @internal */
export const PushEvent = Data.taggedEnum<PushEvent>()
