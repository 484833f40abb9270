/**
 * The session store's Lua scripts, each on one key (so a Cluster runs them wherever the key lives),
 * and the order in which the store runs them, which is what keeps `revokeUser` exact.
 *
 * Two kinds of key:
 * - a session: a hash `{ v: the session's JSON, e: expiresAt, l: lastSeenAt, u: its user's index key }`,
 *   PEXPIRE'd when the session is over;
 * - a user's index: a sorted set of the user's session id hashes, scored by their expiresAt, expiring
 *   with the last of them. Scores only ever grow (`ZADD GT`), and a create drops the members whose
 *   score is past.
 *
 * All times come from the caller's `Clock` (ARGV `now`): Redis's own expiry only collects garbage,
 * the store never relies on it to end a session.
 *
 * The contract that makes `revokeUser` exact without a script spanning two keys (which a Cluster
 * refuses when they live in two slots):
 * - `revokeUser` first takes the index atomically (reads its members and deletes it: `take`), then
 *   deletes each member's session if it belongs to the user (`revokeOwned`).
 * - `create` adds the id to the index (`indexAdd`), then writes the session (`createSession`), then
 *   checks that the id is still in the index (ZSCORE). If a `revokeUser` took the index in between,
 *   the id is gone from it: the create deletes its session and fails. If the take came after the
 *   check, the take holds the id and `revokeOwned` deletes the session. Either way no session is
 *   left that the index does not reach.
 * - `touch` extends the index first (`indexTouch`, only if the id is still a member), then the
 *   session (`touchSession`, only if it is still live): a session never outlives its index entry,
 *   and a session a `revokeUser` took is never extended.
 *
 * @internal
 */
import type { Client } from "./client.js"

/**
 * KEYS[1] the user's index; ARGV now, expiresAt, idHash. Drops members that are over, adds the id
 * (a score only grows), and keeps the index until its last member is over.
 */
const indexAddLua = `
local now = tonumber(ARGV[1])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])
redis.call("ZADD", KEYS[1], "GT", ARGV[2], ARGV[3])
local top = redis.call("ZRANGE", KEYS[1], -1, -1, "WITHSCORES")
local ttl = math.floor(tonumber(top[2]) - now)
if ttl > 0 then
  redis.call("PEXPIRE", KEYS[1], string.format("%d", ttl))
else
  redis.call("DEL", KEYS[1])
end
return 1
`

/**
 * KEYS[1] the user's index; ARGV now, expiresAt, idHash. Like `indexAdd`, but only for an id that is
 * still a member (0 otherwise: a revokeUser took it).
 */
const indexTouchLua = `
if not redis.call("ZSCORE", KEYS[1], ARGV[3]) then
  return 0
end
redis.call("ZADD", KEYS[1], "GT", ARGV[2], ARGV[3])
local top = redis.call("ZRANGE", KEYS[1], -1, -1, "WITHSCORES")
local ttl = math.floor(tonumber(top[2]) - tonumber(ARGV[1]))
if ttl > 0 then
  redis.call("PEXPIRE", KEYS[1], string.format("%d", ttl))
end
return 1
`

/**
 * KEYS[1] the session; ARGV now, value, expiresAt, user index key, ttl. Writes the session unless a
 * live one (by `now`) has the key: 1 when written, 0 when a live session is there. Anything else
 * under the key (another type, a session that is over) is replaced.
 */
const createSessionLua = `
if redis.call("TYPE", KEYS[1])["ok"] == "hash" then
  local e = tonumber(redis.call("HGET", KEYS[1], "e"))
  if e ~= nil and e > tonumber(ARGV[1]) then
    return 0
  end
end
redis.call("DEL", KEYS[1])
redis.call("HSET", KEYS[1], "v", ARGV[2], "e", ARGV[3], "u", ARGV[4])
redis.call("PEXPIRE", KEYS[1], ARGV[5])
return 1
`

/**
 * KEYS[1] the session; ARGV now, expiresAt, ttl. Moves a live session's expiry and sets `l` to now:
 * 1 when done, 0 when there is no live session (it is never brought back).
 */
const touchSessionLua = `
if redis.call("TYPE", KEYS[1])["ok"] ~= "hash" then
  return 0
end
local e = tonumber(redis.call("HGET", KEYS[1], "e"))
if e == nil or e <= tonumber(ARGV[1]) then
  return 0
end
redis.call("HSET", KEYS[1], "e", ARGV[2], "l", ARGV[1])
redis.call("PEXPIRE", KEYS[1], ARGV[3])
return 1
`

/** KEYS[1] the user's index. Its members, and the index deleted, atomically. */
const takeLua = `
local members = redis.call("ZRANGE", KEYS[1], 0, -1)
redis.call("DEL", KEYS[1])
return members
`

/**
 * KEYS[1] a session; ARGV user index key, now. Deletes the session if it is the user's (another
 * user's session is left alone, whatever an index says): 1 when a live one was deleted, else 0.
 */
const revokeOwnedLua = `
if redis.call("TYPE", KEYS[1])["ok"] ~= "hash" or redis.call("HGET", KEYS[1], "u") ~= ARGV[1] then
  return 0
end
local e = tonumber(redis.call("HGET", KEYS[1], "e"))
redis.call("DEL", KEYS[1])
if e ~= nil and e > tonumber(ARGV[2]) then
  return 1
end
return 0
`

/** @internal */
export interface Scripts {
  readonly indexAdd: (index: string, now: string, expiresAt: string, idHash: string) => Promise<number>
  readonly indexTouch: (index: string, now: string, expiresAt: string, idHash: string) => Promise<number>
  readonly createSession: (
    key: string,
    now: string,
    value: string,
    expiresAt: string,
    index: string,
    ttl: string
  ) => Promise<number>
  readonly touchSession: (key: string, now: string, expiresAt: string, ttl: string) => Promise<number>
  readonly take: (index: string) => Promise<Array<string>>
  readonly revokeOwned: (key: string, index: string, now: string) => Promise<number>
}

const commands = {
  indexAdd: ["wxauthSessionIndexAdd", indexAddLua],
  indexTouch: ["wxauthSessionIndexTouch", indexTouchLua],
  createSession: ["wxauthSessionCreate", createSessionLua],
  touchSession: ["wxauthSessionTouch", touchSessionLua],
  take: ["wxauthSessionTake", takeLua],
  revokeOwned: ["wxauthSessionRevokeOwned", revokeOwnedLua]
} as const

/** Defines the scripts on the client (`defineCommand`: EVALSHA after the first call). @internal */
export const define = (redis: Client): Scripts => {
  const scripted = redis as unknown as Record<string, (...args: Array<string>) => Promise<unknown>>
  const entries = Object.entries(commands).map(([name, [command, lua]]) => {
    redis.defineCommand(command, { numberOfKeys: 1, lua })
    return [name, (...args: Array<string>) => scripted[command](...args)] as const
  })
  return Object.fromEntries(entries) as unknown as Scripts
}
