/**
 * A caller's value quoted in an error message (an unknown id, a command, an argument): its JSON, at
 * most its first 64 characters, so a message stays short whatever it was given. A longer text is
 * cut there and says how long it was (`"uuu…"… (10485760 characters)`); a value that is not a
 * string is named by its type (never formatted: an object may be of any size, or throw). `cut` is
 * the same for a text shown as it is (a request's path or method).
 *
 * @internal
 */
export const maxQuoted = 64

/**
 * The one rule for showing a caller's text: whole when it is at most `max` characters, else its
 * first `max` (one fewer rather than half a surrogate pair), then `… (N characters)`.
 */
const shorten = (text: string, show: (shown: string) => string, max: number): string => {
  if (text.length <= max) return show(text)
  const end = /[\uD800-\uDBFF]/.test(text.charAt(max - 1)) ? max - 1 : max
  return `${show(text.slice(0, end))}… (${text.length} characters)`
}

/** @internal */
export const quote = (value: unknown): string => {
  if (typeof value === "string") return shorten(value, JSON.stringify, maxQuoted)
  if (typeof value === "number" || typeof value === "boolean" || value === undefined || value === null) {
    return String(value)
  }
  return `a value of type ${typeof value}`
}

/**
 * A request's text shown as it is, not as JSON (a path in a page, a method in an error): cut like
 * `quote`, at most its first `max` (64) characters, then `… (N characters)`.
 *
 * @internal
 */
export const cut = (text: string, max: number = maxQuoted): string => shorten(text, (shown) => shown, max)
