/**
 * The Lua scripts the stores define on their client (`defineCommand`, so `EVALSHA` after the first
 * call), and the check of the times they store (the ids' checks are core's: `TokenStore.checkUser`,
 * `AppTokenStore.checkKey`).
 */
import { WeChatError } from "@wxauth/core"
import * as Effect from "effect/Effect"
import type { Client } from "./client.js"

/**
 * The longest stamp a bounded read fetches, in bytes. A stamp is a time in milliseconds that a store
 * wrote as a number's text (`String(n)`): within ±(2^53 - 1), which the stores check before writing,
 * that text is at most 25 characters (17 significant digits, a sign, a point, an exponent).
 */
export const maxStampBytes = 32

/**
 * The Lua function every script that reads a stored time defines and calls: `timeOf(key, field,
 * whole)`, the time under `field` of the hash `key` (a session's `e`, a token's `o`), or nil when
 * there is none or it is no time. Read only when `HSTRLEN` is at most `maxStampBytes` (the bound of
 * the stores' reads): a longer field (20 MB planted under the key) is no time and is not fetched.
 * Then what `tonumber` reads (as JavaScript's `Number` does, which the stores' reads decode with)
 * must be finite and within ±(2^53 - 1), and with `whole`, an integer (a session's times): `inf`,
 * `nan`, `1e400`, text, a 20 MB run of digits (which read as `inf`) are no time. A time that is no
 * time is over, as in the SQL store: a session's, for the session scripts (a create takes its id, a
 * touch does not bring it back, `revokeUser` deletes it uncounted); a token's `o`, for the write
 * (replaced). The caller has checked that `key` holds a hash (`HSTRLEN` of another type is
 * `WRONGTYPE`). @internal
 */
export const timeOfLua = `
local function timeOf(key, field, whole)
  if redis.call("HSTRLEN", key, field) > ${maxStampBytes} then
    return nil
  end
  local time = tonumber(redis.call("HGET", key, field))
  if time == nil or time ~= time or time > 9007199254740991 or time < -9007199254740991 then
    return nil
  end
  if whole and math.floor(time) ~= time then
    return nil
  end
  return time
end
`

/**
 * Newer wins, atomically. The value is a hash `{ o: obtainedAt, v: value }` expiring with the value.
 * A stored value with a later `obtainedAt` is kept (0 is returned); on a tie the new one is written.
 * Anything else under the key (another type, an `o` that is no time: not a number, `inf`, `nan`, or
 * past 2^53 - 1, which no store writes, or longer than `maxStampBytes`, which is not fetched: see
 * `timeOfLua`) is replaced: such an `o` kept would pin the key, every later token silently dropped.
 * A TTL that is not positive (the value is already over) deletes the key, as the newer value is void.
 */
const setNewerLua = `
${timeOfLua}
local kind = redis.call("TYPE", KEYS[1])["ok"]
if kind == "hash" then
  local current = timeOf(KEYS[1], "o", false)
  if current ~= nil and current > tonumber(ARGV[1]) then
    return 0
  end
end
redis.call("DEL", KEYS[1])
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call("HSET", KEYS[1], "o", ARGV[1], "v", ARGV[2])
  redis.call("PEXPIRE", KEYS[1], ttl)
end
return 1
`

/** The command's name: the same for the user tokens and the app tokens (one script). */
const setNewerCommand = "wxauthSetToken"

/**
 * A value and its expiry, replacing whatever is under the key: a hash `{ e: expiresAt, v: value }`
 * that Redis forgets after the TTL.
 */
const setExpiringLua = `
redis.call("DEL", KEYS[1])
redis.call("HSET", KEYS[1], "e", ARGV[1], "v", ARGV[2])
redis.call("PEXPIRE", KEYS[1], ARGV[3])
return 1
`

const setExpiringCommand = "wxauthSetExpiring"

/**
 * Reads a hash `{ <stamps>: ..., v: value }` (a token's `{ o, v }`, a session key's `{ e, v }`, a
 * session's `{ e, l, v }`) without fetching a field longer than its bound: `v` of at most ARGV[1]
 * bytes, each stamp (a time in milliseconds, as a number's text) of at most ARGV[2]. ARGV[3] on name
 * the stamps' fields. Answers `[...stamps, v]` as `HMGET <stamps> v` answers (all nil when there is no
 * key), or, when a field is longer than its bound, nil for every field and then that field's length.
 * A value planted under a user's key (50 MB, say), in `v` or in a stamp, was transferred and held
 * whole on every read of that user, for a decode that refused it, and the shared connection's other
 * commands waited behind it. One command, as `HMGET` was: a read that reaches Redis costs no round
 * trip more. A key of another type is `WRONGTYPE`, as with `HMGET`.
 */
const getBoundedLua = `
local fields = {}
local refused = {}
local over = false
for i = 3, #ARGV do
  local length = redis.call("HSTRLEN", KEYS[1], ARGV[i])
  if not over and length > tonumber(ARGV[2]) then
    over = length
  end
  fields[#fields + 1] = ARGV[i]
  refused[#refused + 1] = false
end
local length = redis.call("HSTRLEN", KEYS[1], "v")
if not over and length > tonumber(ARGV[1]) then
  over = length
end
if over then
  refused[#refused + 1] = false
  refused[#refused + 1] = over
  return refused
end
fields[#fields + 1] = "v"
return redis.call("HMGET", KEYS[1], unpack(fields))
`

/** The command's name: the same for the user tokens, the app tokens, the session keys and the sessions (one script). */
const getBoundedCommand = "wxauthGetBounded"

/**
 * What the bounded read answers for one stamp: the stamp and the value, or no stamp, no value and the
 * length of the field (the value, or the stamp) longer than its bound.
 */
export type Stored = readonly [stamp: string | null, value: string | null, length?: number]

/** Runs the bounded read of `key`, fetching a value of at most `maxBytes`, and the field `stampField` beside it. */
export type GetBounded = (key: string, maxBytes: string, stampField: string) => Promise<Stored>

/**
 * Runs the bounded read of `key` with several stamps: `[...stamps, value]`, or as many nulls and then
 * the length of the field longer than its bound.
 */
export type GetBoundedFields = (
  key: string,
  maxBytes: string,
  stampFields: ReadonlyArray<string>
) => Promise<ReadonlyArray<string | number | null>>

/** Defines the bounded read on the client, for any number of stamps. */
export const defineGetBoundedFields = (redis: Client): GetBoundedFields => {
  redis.defineCommand(getBoundedCommand, { numberOfKeys: 1, lua: getBoundedLua })
  const scripted = redis as unknown as Record<
    typeof getBoundedCommand,
    (...args: Array<string>) => Promise<ReadonlyArray<string | number | null>>
  >
  return (key, maxBytes, stampFields) =>
    scripted[getBoundedCommand](key, maxBytes, String(maxStampBytes), ...stampFields)
}

/**
 * The bounded read of a session: `getBoundedLua`'s answer for the stamps `e` and `l` (each of at
 * most ARGV[2] bytes), its user's index key `u` (at most ARGV[3] bytes: longer than any stamp) and
 * `v` (at most ARGV[1]), as `HMGET e l u v`; or, when a field is longer than its bound, nil for each
 * and then that field's length. `u` is read so that `get` can tell a session whose value names
 * another user than its index entry (a value moved under another session's bookkeeping), which
 * `revokeUser` of the value's user would not reach.
 */
const getSessionLua = `
local over = false
local bounds = { e = ARGV[2], l = ARGV[2], u = ARGV[3], v = ARGV[1] }
for _, field in ipairs({ "e", "l", "u", "v" }) do
  local length = redis.call("HSTRLEN", KEYS[1], field)
  if not over and length > tonumber(bounds[field]) then
    over = length
  end
end
if over then
  return { false, false, false, false, over }
end
return redis.call("HMGET", KEYS[1], "e", "l", "u", "v")
`

const getSessionCommand = "wxauthGetSession"

/** Runs the bounded read of a session: `[e, l, u, v]`, or four nulls and the length of a field past its bound. */
export type GetSession = (
  key: string,
  maxBytes: string,
  maxIndexKeyBytes: string
) => Promise<ReadonlyArray<string | number | null>>

/** Defines the bounded read of a session on the client. */
export const defineGetSession = (redis: Client): GetSession => {
  redis.defineCommand(getSessionCommand, { numberOfKeys: 1, lua: getSessionLua })
  const scripted = redis as unknown as Record<
    typeof getSessionCommand,
    (...args: Array<string>) => Promise<ReadonlyArray<string | number | null>>
  >
  return (key, maxBytes, maxIndexKeyBytes) =>
    scripted[getSessionCommand](key, maxBytes, String(maxStampBytes), maxIndexKeyBytes)
}

/** Defines the bounded read on the client, for one stamp. */
export const defineGetBounded = (redis: Client): GetBounded => {
  const read = defineGetBoundedFields(redis)
  return (key, maxBytes, stampField) => read(key, maxBytes, [stampField]) as Promise<unknown> as Promise<Stored>
}

/**
 * Reads a string key (a code memo) without fetching a value longer than ARGV[1] bytes: the value as
 * `GET` answers (`nil` when there is no key), or its length, a number, when it is longer. One
 * command, as `GET` was; a key of another type is `WRONGTYPE`, as with `GET`.
 */
const getStringBoundedLua = `
local length = redis.call("STRLEN", KEYS[1])
if length > tonumber(ARGV[1]) then
  return length
end
return redis.call("GET", KEYS[1])
`

const getStringBoundedCommand = "wxauthGetStringBounded"

/** Runs the bounded read of a string: the value, `null`, or the length (a number) of a longer value. */
export type GetStringBounded = (key: string, maxBytes: string) => Promise<string | number | null>

/** Defines the bounded read of a string on the client. */
export const defineGetStringBounded = (redis: Client): GetStringBounded => {
  redis.defineCommand(getStringBoundedCommand, { numberOfKeys: 1, lua: getStringBoundedLua })
  const scripted = redis as unknown as Record<typeof getStringBoundedCommand, GetStringBounded>
  return (...args) => scripted[getStringBoundedCommand](...args)
}

/**
 * The error of a stored value longer than any `kind` ("token": `TokenStore.maxStoredValueBytes`;
 * "session key": `SessionKeyStore.maxStoredValueBytes`), refused without being fetched. `what`:
 * "token", "app token", "code memo", "session key"; `operation`: the store's operation.
 */
export const tooLong = (what: string, operation: string = "get", kind: string = "token"): WeChatError.TokenStoreError =>
  new WeChatError.TokenStoreError({
    operation,
    description: `the stored ${what} is longer than any ${kind} (not written by wxauth, or corrupted); it was not read`
  })

/** Runs the newer-wins script: 1 when written (or deleted as expired), 0 when a newer value is kept. */
export type SetNewer = (key: string, obtainedAt: string, value: string, ttlMillis: string) => Promise<number>

/** Runs the replacing script. */
export type SetExpiring = (key: string, expiresAt: string, value: string, ttlMillis: string) => Promise<number>

/** Defines the newer-wins script on the client. */
export const defineSetNewer = (redis: Client): SetNewer => {
  redis.defineCommand(setNewerCommand, { numberOfKeys: 1, lua: setNewerLua })
  const scripted = redis as unknown as Record<typeof setNewerCommand, SetNewer>
  return (...args) => scripted[setNewerCommand](...args)
}

/** Defines the replacing script on the client. */
export const defineSetExpiring = (redis: Client): SetExpiring => {
  redis.defineCommand(setExpiringCommand, { numberOfKeys: 1, lua: setExpiringLua })
  const scripted = redis as unknown as Record<typeof setExpiringCommand, SetExpiring>
  return (...args) => scripted[setExpiringCommand](...args)
}

/**
 * Fails unless every one of `times` (epoch milliseconds) is a finite number: `NaN` or `Infinity`
 * would be stored as a text no comparison reads back.
 */
export const checkTimes = (
  operation: string,
  times: Record<string, unknown>
): Effect.Effect<void, WeChatError.TokenStoreError> => {
  for (const [field, value] of Object.entries(times)) {
    if (typeof value !== "number" || !Number.isFinite(value) || Math.abs(value) > Number.MAX_SAFE_INTEGER) {
      return Effect.fail(
        new WeChatError.TokenStoreError({
          operation,
          description: `${field} is not a finite time in milliseconds`
        })
      )
    }
  }
  return Effect.void
}
