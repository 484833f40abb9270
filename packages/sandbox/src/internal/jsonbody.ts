/**
 * How WeChat reads the JSON body of a POST API (`cgi-bin/stable_token`,
 * `wxa/business/getuserphonenumber`): a JSON object's fields. A body that is not JSON at all (empty,
 * or form-encoded as some clients send it) has none of the fields, so the call fails on the first
 * required one (WeChat answers a form-encoded `stable_token` with 40002 invalid grant_type); a body
 * that is broken JSON or JSON but not an object is WeChat's 47001 "data format error".
 *
 * @internal
 */
import * as Either from "effect/Either"

/** The errcode and errmsg of a body WeChat cannot read. @internal */
export const FORMAT_ERROR = { errcode: 47001, errmsg: "data format error" } as const

/** The fields of a POST body, or `FORMAT_ERROR`. @internal */
export const read = (body: string): Either.Either<Readonly<Record<string, unknown>>, typeof FORMAT_ERROR> => {
  const text = body.trim()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    // broken JSON is a format error; empty text or a form has no JSON fields at all
    return text.startsWith("{") || text.startsWith("[") ? Either.left(FORMAT_ERROR) : Either.right({})
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return Either.left(FORMAT_ERROR)
  return Either.right(json as Record<string, unknown>)
}

/**
 * A field that must be a string if present: its value (`undefined` when absent or empty), or
 * `FORMAT_ERROR` for another type.
 *
 * @internal
 */
export const stringField = (
  fields: Readonly<Record<string, unknown>>,
  name: string
): Either.Either<string | undefined, typeof FORMAT_ERROR> => {
  const value = Object.prototype.hasOwnProperty.call(fields, name) ? fields[name] : undefined
  if (value === undefined || value === null || value === "") return Either.right(undefined)
  return typeof value === "string" ? Either.right(value) : Either.left(FORMAT_ERROR)
}
