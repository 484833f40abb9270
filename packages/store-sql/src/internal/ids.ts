/**
 * The checks of the ids a store is called with, before any SQL: the widths of the columns
 * (`app_id` 64, `openid` 128), and never a quote of the value.
 *
 * @internal
 */
import { WeChatError } from "@wxauth/core"
import * as Effect from "effect/Effect"

/** @internal */
export const checkId = (
  operation: string,
  name: string,
  value: unknown,
  max: number
): Effect.Effect<void, WeChatError.TokenStoreError> =>
  typeof value === "string" && value.length > 0 && value.length <= max
    ? Effect.void
    : Effect.fail(
      new WeChatError.TokenStoreError({
        operation,
        description: `the ${name} must be a string of 1 to ${max} characters`
      })
    )

/** @internal */
export const checkAppId = (operation: string, appId: unknown) => checkId(operation, "appId", appId, 64)

/** @internal */
export const checkUser = (operation: string, appId: unknown, openid: unknown) =>
  Effect.zipRight(checkAppId(operation, appId), checkId(operation, "openid", openid, 128))
