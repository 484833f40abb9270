/**
 * A caller's value quoted in an error message (an unknown id, a command, an argument): its JSON, at
 * most its first 64 characters, so a message stays short whatever it was given. A longer text is
 * cut there and says how long it was (`"uuu…"… (10485760 characters)`); a value that is not a
 * string is named by its type (never formatted: an object may be of any size, or throw).
 *
 * @internal
 */
export const maxQuoted = 64

/** @internal */
export const quote = (value: unknown): string => {
  if (typeof value === "string") {
    return value.length <= maxQuoted
      ? JSON.stringify(value)
      : `${JSON.stringify(value.slice(0, maxQuoted))}… (${value.length} characters)`
  }
  if (typeof value === "number" || typeof value === "boolean" || value === undefined || value === null) {
    return String(value)
  }
  return `a value of type ${typeof value}`
}
