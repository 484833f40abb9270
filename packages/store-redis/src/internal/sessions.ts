/**
 * The session store's Lua scripts, each on one key (so a Cluster runs them wherever the key lives;
 * `detach` on two keys of one hash tag, so one slot), and the order in which the store runs them,
 * which is what keeps `revokeUser` exact.
 *
 * Two kinds of key (and a user's index being revoked, see below):
 * - a session: a hash `{ v: the session's JSON, e: expiresAt, l: lastSeenAt, u: its user's index key }`,
 *   PEXPIRE'd when the session is over;
 * - a user's index: a sorted set of the user's session id hashes, scored by their expiresAt, expiring
 *   with the last of them. Scores only ever grow (`ZADD GT`), and a create drops the members whose
 *   score is past by more than `overGrace` (a day), and of those past by less keeps only the
 *   `max(bound, perCall)` that ended last (`indexAddLua`). A member being evicted (see below) is scored by
 *   minus its expiresAt: marked, it stays in the index, so `revokeUser` still reaches it, but it no
 *   longer counts toward the user's bound, can no longer be touched, and a create that finds its own
 *   id marked fails.
 *
 * All times come from the caller's `Clock` (ARGV `now`): Redis's own expiry never ends a session
 * (`get` compares `e` with the caller's `now`). But Redis expires keys in its own time: a session's
 * key runs for its life (PEXPIRE expiresAt - now) in real time, whatever the clocks of the processes
 * say. So the index must hold a session's id as long as its key may be there, even when the process
 * that writes the index has a clock ahead of the one that wrote the session (two servers' clocks
 * apart, a clock stepped forward then back), or `revokeUser` would not reach a session that `get`
 * still answers:
 * - the index's TTL is never shortened (`keepIndexLua` compares it with PTTL and only extends it;
 *   PEXPIRE GT would need Redis 7.0, the store needs 6.2): each writer gives it at least the life of
 *   the session it writes (the last member's expiresAt - its own now), so it outlives every session
 *   key written since it was made;
 * - a member is forgotten only once it is over by `overGrace` (a day) by the writer's clock: clocks
 *   apart by less than that never make the index forget a session that is still live. Members over
 *   by less are kept, and count for nothing (not toward the bound, never chosen to end past it);
 *   `revokeUser` deletes their keys if still there and counts only the live ones (by `e`). But only
 *   the `max(bound, perCall)` of them that ended last (marked ones by their end, minus their score):
 *   past that, a create forgets those that ended longest ago, at most `perCall`. So an index holds
 *   at most about twice the bound (the live ones, the kept ones, and the marked ones of evictions in
 *   flight), however many sessions a user's logins leave to expire within a day, and a session
 *   another clock still sees live is forgotten only once that many of the user's sessions ended
 *   after it by this writer's clock.
 *
 * The contract that makes `revokeUser` exact without a script spanning two keys (which a Cluster
 * refuses when they live in two slots):
 * - `revokeUser` first takes the index atomically: it renames it to the user's revoking key, under
 *   the same hash tag (`detach`; O(1), however many members), then works through it a slice at a
 *   time: reads the slice (ZRANGE), deletes each one's session if it belongs to the user
 *   (`revokeOwned`), and only then takes the slice out (ZREM), until it is empty (and so gone). One revoking key per user, never overwritten (RENAMENX): what a
 *   `revokeUser` that failed half way left there (Redis down) is drained by the next one, and two
 *   `revokeUser`s at once drain it together.
 * - `create` adds the id to the index (`indexAdd`), then writes the session (`createSession`), then
 *   checks that the id is still in the index, unmarked (ZSCORE, a positive score). If a `revokeUser`
 *   took the index in between (or an eviction marked the id), the create deletes its session and
 *   fails. If the take came after the check, the take holds the id and `revokeOwned` deletes the
 *   session. Either way no session is left that the index does not reach.
 * - `touch` extends the index first (`indexTouch`, only if the id is still an unmarked member), then
 *   the session (`touchSession`, only if it is still live): a session never outlives its index
 *   entry, and a session a `revokeUser` took, or an eviction marked, is never extended.
 * - The user's bound (`maxSessionsPerUser`): past it, `indexAdd` marks the unmarked members of the
 *   lowest scores (the least recently created or touched; never the id it adds), at most `perCall`,
 *   and returns them,
 *   still in the index. The store then deletes each one's session (`revokeOwned`), and only then
 *   removes the ids that are still marked (`indexDrop`). Until then the index reaches them: a
 *   process that dies in between leaves them to `revokeUser` (and to their expiry; they no longer
 *   count toward the bound). A create of a marked id still in flight leaves no session either: if
 *   its check came before the mark, so did its write, and the evictor's `revokeOwned` (after the
 *   mark) deletes it; otherwise its check finds the id marked or gone, and it deletes its own session
 *   and fails. (Without the mark, a create that wrote after the evictor's `revokeOwned` and checked
 *   before the removal would keep a session that the index no longer holds.) `indexAdd` counts the
 *   unmarked members only, so concurrent creates each mark their own excess: once they are done the
 *   user has at most the bound. Ties of scores go by id hash (the sorted set's order).
 * - Every call is bounded, however large an index has grown (members planted by another writer, or
 *   left by a bound since lowered): `indexAdd` forgets at most `perCall` members that are over by
 *   `overGrace` (unmarked, then marked), at most `perCall` of those over by less past their cap, and
 *   marks at most `perCall`, so an index further past the bound comes down by a slice per create;
 *   `revokeUser` reads `perCall` at a time. No script walks a whole index (Redis would serve no one
 *   else meanwhile), no reply or command carries one.
 * - `revoke` deletes the session (`revokeSession`, which answers its index key, unless it is longer
 *   than any index key: then it is not fetched, and no index is touched), then removes the id from
 *   that index (ZREM): a revoked session no longer counts toward the bound. The index keeps an id at
 *   least as long as its session.
 *
 * @internal
 */
import type { Client } from "./client.js"
import { timeOfLua } from "./scripts.js"

/**
 * The most members one call takes from an index: forgotten (over) or marked by `indexAdd`, popped
 * by `revokeUser`. @internal
 */
export const perCall = 100

/**
 * How long past its end (its score, by the writer's clock) a member stays in its index before a create
 * forgets it, in milliseconds: a day. Two clocks apart by less than that (a clock stepped forward and
 * back, a server whose time drifted) never make a writer forget a session another one sees live.
 * @internal
 */
export const overGrace = 24 * 60 * 60 * 1000

/**
 * The longest TTL given an index, in milliseconds: 2^53 - 1 (about 285,000 years), the latest time a
 * session can end. A member scored past it (`inf`, `1e300`: not written by wxauth) keeps the index
 * that long: formatted with `%d`, such a TTL was a negative number, and PEXPIRE deleted the index
 * with every session it reaches.
 */
const maxIndexTtl = "9007199254740991"

/**
 * Extends the index's TTL to last until the last of its members is over, marked ones included (ARGV[1]
 * is now), at most `maxIndexTtl`, and never shortens it (PTTL: a TTL another writer gave it, whose
 * clock is behind this one's, covers session keys that run longer than this writer's scores say).
 * An index without a TTL (-1: not written so by wxauth) is given one. A Lua snippet for the scripts
 * below.
 */
const keepIndexLua = `
local top = redis.call("ZRANGE", KEYS[1], -1, -1, "WITHSCORES")
local bottom = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
if top[2] then
  local ttl = math.max(tonumber(top[2]), -tonumber(bottom[2])) - tonumber(ARGV[1])
  if ttl ~= ttl or ttl > ${maxIndexTtl} then
    ttl = ${maxIndexTtl}
  end
  ttl = math.floor(ttl)
  local kept = redis.call("PTTL", KEYS[1])
  if ttl > 0 and (kept < 0 or ttl > kept) then
    redis.call("PEXPIRE", KEYS[1], string.format("%d", ttl))
  end
end
`

/**
 * Anything but a sorted set under the index's key (written by something else) is deleted: it holds
 * no session id wxauth wrote, and kept it failed every create and revokeUser of the user for ever
 * (WRONGTYPE). A Lua snippet for the scripts below.
 */
const replaceWrongTypeLua = `
local kind = redis.call("TYPE", KEYS[1])["ok"]
if kind ~= "zset" and kind ~= "none" then
  redis.call("DEL", KEYS[1])
end
`

/**
 * KEYS[1] the user's index; ARGV now, expiresAt, idHash, bound, limit. Replaces anything but a sorted
 * set under the key (`replaceWrongTypeLua`). Drops members that are over by more than `overGrace`
 * (unmarked, then marked; at most `limit` of each). Of the members over by less (unmarked scored in
 * (now - overGrace, now], marked in [-now, -(now - overGrace))), keeps `max(bound, limit)`: when
 * more, drops those that ended longest ago (a marked one ends at minus its score; the two ranges are
 * read `extra` each, lowest end first, and merged), at most `limit`. Adds the id (a score only
 * grows), and keeps the index until its last member is over (never shortening its TTL). When more
 * than `bound` unmarked members are live, marks those of the lowest scores (never the id added)
 * until `bound` are, at most `limit`, and returns them (an array, empty when none). Members that are
 * over and still there count for nothing: a later create drops them once they are over by
 * `overGrace`, or once more than `max(bound, limit)` others ended after them.
 */
const indexAddLua = `
${replaceWrongTypeLua}
local forgotten = tonumber(ARGV[1]) - ${overGrace}
local over = redis.call("ZRANGEBYSCORE", KEYS[1], "0", string.format("%d", forgotten), "LIMIT", "0", ARGV[5])
for i = 1, #over do
  redis.call("ZREM", KEYS[1], over[i])
end
over = redis.call("ZRANGEBYSCORE", KEYS[1], string.format("%d", -forgotten), "(0", "LIMIT", "0", ARGV[5])
for i = 1, #over do
  redis.call("ZREM", KEYS[1], over[i])
end
local since = "(" .. string.format("%d", forgotten)
local upTo = string.format("%d", tonumber(ARGV[1]))
local markedSince = "(" .. string.format("%d", -forgotten)
local markedUpTo = string.format("%d", -tonumber(ARGV[1]))
local kept = redis.call("ZCOUNT", KEYS[1], since, upTo) + redis.call("ZCOUNT", KEYS[1], markedUpTo, markedSince)
local extra = math.min(kept - math.max(tonumber(ARGV[4]), tonumber(ARGV[5])), tonumber(ARGV[5]))
if extra > 0 then
  local count = string.format("%d", extra)
  local unmarked = redis.call("ZRANGEBYSCORE", KEYS[1], since, upTo, "WITHSCORES", "LIMIT", "0", count)
  -- ZRANGE ... BYSCORE REV (Redis 6.2), not ZREVRANGEBYSCORE: the README's ACL list has ZRANGE
  local marked = redis.call("ZRANGE", KEYS[1], markedSince, markedUpTo, "BYSCORE", "REV", "LIMIT", "0", count, "WITHSCORES")
  local i, j = 1, 1
  for n = 1, extra do
    local u = unmarked[i + 1] and tonumber(unmarked[i + 1])
    local m = marked[j + 1] and -tonumber(marked[j + 1])
    if u and (not m or u <= m) then
      redis.call("ZREM", KEYS[1], unmarked[i])
      i = i + 2
    elseif m then
      redis.call("ZREM", KEYS[1], marked[j])
      j = j + 2
    else
      break
    end
  end
end
redis.call("ZADD", KEYS[1], "GT", ARGV[2], ARGV[3])
${keepIndexLua}
local live = "(" .. ARGV[1]
local excess = math.min(redis.call("ZCOUNT", KEYS[1], live, "+inf") - tonumber(ARGV[4]), tonumber(ARGV[5]))
local evicted = {}
if excess <= 0 then
  return evicted
end
local lowest = redis.call("ZRANGEBYSCORE", KEYS[1], live, "+inf", "WITHSCORES", "LIMIT", "0", tostring(excess + 1))
for i = 1, #lowest, 2 do
  if #evicted >= excess then
    break
  end
  if lowest[i] ~= ARGV[3] then
    redis.call("ZADD", KEYS[1], "XX", "-" .. lowest[i + 1], lowest[i])
    evicted[#evicted + 1] = lowest[i]
  end
end
return evicted
`

/**
 * KEYS[1] the user's index; ARGV now, expiresAt, idHash. Like `indexAdd` without the bound and
 * without forgetting members, and only
 * for an id that is still an unmarked member (0 otherwise: a revokeUser took it, or it is being
 * evicted; anything but a sorted set under the key holds no id either).
 */
const indexTouchLua = `
if redis.call("TYPE", KEYS[1])["ok"] ~= "zset" then
  return 0
end
local score = redis.call("ZSCORE", KEYS[1], ARGV[3])
if not score or tonumber(score) < 0 then
  return 0
end
redis.call("ZADD", KEYS[1], "GT", ARGV[2], ARGV[3])
${keepIndexLua}
return 1
`

/**
 * KEYS[1] the user's index; ARGV the ids an `indexAdd` marked, whose sessions are deleted. Removes
 * each one that is still marked (a create of the same id since then unmarked it): how many.
 */
const indexDropLua = `
if redis.call("TYPE", KEYS[1])["ok"] ~= "zset" then
  return 0
end
local dropped = 0
for i = 1, #ARGV do
  local score = redis.call("ZSCORE", KEYS[1], ARGV[i])
  if score and tonumber(score) < 0 then
    dropped = dropped + redis.call("ZREM", KEYS[1], ARGV[i])
  end
end
return dropped
`

/**
 * KEYS[1] the user's index; ARGV[1] an id whose session `revoke` deleted. Removes it: how many (0 or
 * 1). Anything but a sorted set under the key holds no id (0).
 */
const indexRemoveLua = `
if redis.call("TYPE", KEYS[1])["ok"] ~= "zset" then
  return 0
end
return redis.call("ZREM", KEYS[1], ARGV[1])
`

/**
 * KEYS[1] the session; ARGV now, value, expiresAt, user index key, ttl. Writes the session unless a
 * live one (by `now`) has the key: 1 when written, 0 when a live session is there. Anything else
 * under the key (another type, a session that is over, or whose `e` is no time: `timeOfLua`, 20 MB
 * of digits included, unfetched) is replaced.
 */
const createSessionLua = `
${timeOfLua}
if redis.call("TYPE", KEYS[1])["ok"] == "hash" then
  local e = timeOf(KEYS[1], "e", true)
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
 * 1 when done, 0 when there is no live session (it is never brought back; a session whose `e` is no
 * time, `timeOfLua`, is over).
 */
const touchSessionLua = `
${timeOfLua}
if redis.call("TYPE", KEYS[1])["ok"] ~= "hash" then
  return 0
end
local e = timeOf(KEYS[1], "e", true)
if e == nil or e <= tonumber(ARGV[1]) then
  return 0
end
redis.call("HSET", KEYS[1], "e", ARGV[2], "l", ARGV[1])
redis.call("PEXPIRE", KEYS[1], ARGV[3])
return 1
`

/**
 * KEYS[1] the user's index, KEYS[2] its revoking key (under the same hash tag: one slot). Renames the
 * index to it, whatever its size (its TTL goes with it), unless the revoking key still holds members
 * (another `revokeUser` working through them, or one that failed half way): 1 when renamed, 0 when
 * there is no index, 2 when the revoking key is taken (the caller drains it, then asks again).
 * Anything but a sorted set under the index's key is deleted, and answers 0 (no index): it holds no
 * session id to revoke (`replaceWrongTypeLua`).
 */
const detachLua = `
${replaceWrongTypeLua}
if redis.call("EXISTS", KEYS[1]) == 0 then
  return 0
end
if redis.call("RENAMENX", KEYS[1], KEYS[2]) == 0 then
  return 2
end
return 1
`

/**
 * KEYS[1] a user's revoking key; ARGV[1] how many. Its first members (`ZRANGE 0 n-1`), none when
 * there is no key. Anything but a sorted set under it is deleted first (`replaceWrongTypeLua`): it
 * holds no id to revoke, and kept it failed every revokeUser of the user for ever (WRONGTYPE).
 */
const revokingSliceLua = `
${replaceWrongTypeLua}
return redis.call("ZRANGE", KEYS[1], 0, tonumber(ARGV[1]) - 1)
`

/**
 * KEYS[1] a session; ARGV user index key, now. Deletes the session if it is the user's (another
 * user's session is left alone, whatever an index says): 1 when a live one was deleted, else 0. Its
 * `u` is read only when it is as long as the user's index key (`HSTRLEN`): a longer one (20 MB
 * planted under the key) is another user's without being copied into the script. A session whose
 * `e` is no time (`timeOfLua`) is over: deleted, and not counted.
 */
const revokeOwnedLua = `
${timeOfLua}
if redis.call("TYPE", KEYS[1])["ok"] ~= "hash" or redis.call("HSTRLEN", KEYS[1], "u") ~= #ARGV[1]
  or redis.call("HGET", KEYS[1], "u") ~= ARGV[1] then
  return 0
end
local e = timeOf(KEYS[1], "e", true)
redis.call("DEL", KEYS[1])
if e ~= nil and e > tonumber(ARGV[2]) then
  return 1
end
return 0
`

/**
 * KEYS[1] a session; ARGV[1] the longest index key, in bytes. Deletes whatever is under the key, and
 * answers the session's index key (`u`), or nil when there was no session, or when its `u` is longer
 * than ARGV[1] (`HSTRLEN`): no index key of the store's (planted: 20 MB, say), it is not fetched,
 * and the session is deleted all the same.
 */
const revokeSessionLua = `
local index = false
if redis.call("TYPE", KEYS[1])["ok"] == "hash" and redis.call("HSTRLEN", KEYS[1], "u") <= tonumber(ARGV[1]) then
  index = redis.call("HGET", KEYS[1], "u")
end
redis.call("DEL", KEYS[1])
return index
`

/** @internal */
export interface Scripts {
  readonly indexAdd: (
    index: string,
    now: string,
    expiresAt: string,
    idHash: string,
    bound: string,
    limit: string
  ) => Promise<unknown>
  readonly indexTouch: (index: string, now: string, expiresAt: string, idHash: string) => Promise<number>
  readonly indexDrop: (index: string, ...idHashes: Array<string>) => Promise<number>
  readonly indexRemove: (index: string, idHash: string) => Promise<number>
  readonly createSession: (
    key: string,
    now: string,
    value: string,
    expiresAt: string,
    index: string,
    ttl: string
  ) => Promise<number>
  readonly touchSession: (key: string, now: string, expiresAt: string, ttl: string) => Promise<number>
  readonly detach: (index: string, detached: string) => Promise<number>
  /** As bytes: a member that is not UTF-8 would come back altered as text, and ZREM would never match it. */
  readonly revokingSlice: (detached: string, count: string) => Promise<Array<Buffer>>
  readonly revokeOwned: (key: string, index: string, now: string) => Promise<number>
  readonly revokeSession: (key: string, maxIndexKeyBytes: string) => Promise<string | null>
}

/** Each script: its command name, its Lua, and how many keys it takes. */
const commands = {
  indexAdd: ["wxauthSessionIndexAdd", indexAddLua, 1],
  indexTouch: ["wxauthSessionIndexTouch", indexTouchLua, 1],
  indexDrop: ["wxauthSessionIndexDrop", indexDropLua, 1],
  indexRemove: ["wxauthSessionIndexRemove", indexRemoveLua, 1],
  createSession: ["wxauthSessionCreate", createSessionLua, 1],
  touchSession: ["wxauthSessionTouch", touchSessionLua, 1],
  detach: ["wxauthSessionDetach", detachLua, 2],
  revokingSlice: ["wxauthSessionRevokingSlice", revokingSliceLua, 1],
  revokeOwned: ["wxauthSessionRevokeOwned", revokeOwnedLua, 1],
  revokeSession: ["wxauthSessionRevoke", revokeSessionLua, 1]
} as const

/** Defines the scripts on the client (`defineCommand`: EVALSHA after the first call). @internal */
export const define = (redis: Client): Scripts => {
  const scripted = redis as unknown as Record<string, (...args: Array<string>) => Promise<unknown>>
  const entries = Object.entries(commands).map(([name, [command, lua, numberOfKeys]]) => {
    redis.defineCommand(command, { numberOfKeys, lua })
    // ioredis defines `<command>Buffer` beside each command: its answer as bytes
    const sent = name === "revokingSlice" ? `${command}Buffer` : command
    return [name, (...args: Array<string>) => scripted[sent](...args)] as const
  })
  return Object.fromEntries(entries) as unknown as Scripts
}
