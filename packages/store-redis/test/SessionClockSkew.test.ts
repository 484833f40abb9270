/**
 * RedisSessionStore under clocks that disagree: a process's clock stepped forward then back, and two
 * processes whose clocks are 2 seconds apart, on one real Redis. Redis expires keys in its own time
 * (a session's key runs for its life in real time), while an index's scores are each writer's
 * `expiresAt`: a writer whose clock is ahead must neither forget nor expire the index entry of a
 * session that is still live, or `revokeUser` ("log out everywhere") no longer reaches it. Also: the
 * members kept for that (over, by less than a day) count for nothing toward the user's bound, those
 * over by more than a day are forgotten, and of those over by less only the ones that ended last stay
 * (at most `max(maxSessionsPerUser, 100)`), so the index stays bounded.
 */
import { afterAll, assert, it } from "@effect/vitest"
import { SessionStore } from "@wxauth/core"
import { makeSession } from "@wxauth/core/testing"
import { RedisSessionStore } from "@wxauth/store-redis"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { Redis } from "ioredis"
import { cleanup, describeRedis, makeAdmin, randomPrefix, redisCall, redisUrl } from "./utils.js"

const minute = 60 * 1000
const hour = 60 * minute
const day = 24 * hour

/** A clock that reads `time()`: real time moved by a fixed offset, or a time the test sets. */
const clockOf = (time: () => number): Clock.Clock => {
  const real = Clock.make()
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: time,
    currentTimeMillis: Effect.sync(time),
    unsafeCurrentTimeNanos: () => BigInt(Math.floor(time())) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(Math.floor(time())) * 1_000_000n),
    sleep: (duration: Duration.Duration) => real.sleep(duration)
  }
}

/** A clock whose time the test sets. */
const settableClock = (start: number) => {
  let time = start
  return { clock: clockOf(() => time), set: (at: number) => Effect.sync(() => void (time = at)) }
}

describeRedis("RedisSessionStore: clocks that disagree", () => {
  const prefix = randomPrefix()
  const admin = makeAdmin()
  afterAll(async () => {
    await cleanup(admin, prefix)
    await admin.quit()
  })

  /** A store on a connection of its own (a process), closed with the scope. */
  const openStore = (
    options?: RedisSessionStore.MakeOptions
  ): Effect.Effect<SessionStore.SessionStoreShape, never, Scope.Scope> =>
    Effect.flatMap(
      Effect.acquireRelease(
        Effect.sync(() => {
          const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
          client.on("error", () => {})
          return client
        }),
        (client) => Effect.promise(() => client.quit().catch(() => undefined))
      ),
      (client) => Effect.orDie(RedisSessionStore.make(client, { keyPrefix: prefix, ...options }))
    )

  /** The ids in a user's index, sorted. */
  const indexOf = (session: SessionStore.Session) =>
    Effect.map(
      redisCall(() => admin.zrange(RedisSessionStore.userIndexKey(session.appId, session.openid, prefix), 0, -1)),
      (ids) => ids.sort()
    )

  const idsOf = (sessions: ReadonlyArray<SessionStore.Session>) => sessions.map((s) => s.idHash).sort()

  /** Another session of `user`'s, ending at `expiresAt`. */
  const sessionOf = (user: SessionStore.Session, expiresAt: number) =>
    Effect.map(makeSession({ appId: user.appId, openid: user.openid, expiresAt }), (m) => m.session)

  /**
   * The clock steps 2 hours forward (a create there), then back to 10 minutes after the start:
   * session A, ending an hour after the start, is live again, and revokeUser must end it.
   */
  const steppedClock = (store: SessionStore.SessionStoreShape) =>
    Effect.gen(function*() {
      const t0 = Date.now()
      const { clock, set } = settableClock(t0)
      return yield* Effect.gen(function*() {
        const { session: a } = yield* makeSession({ expiresAt: t0 + hour })
        yield* store.create(a)
        yield* set(t0 + 2 * hour)
        const { session: b } = yield* makeSession({ appId: a.appId, openid: a.openid, expiresAt: t0 + 26 * hour })
        yield* store.create(b)
        yield* set(t0 + 10 * minute)
        const liveBefore = Option.isSome(yield* store.get(a.idHash))
        const revoked = yield* store.revokeUser(a.appId, a.openid)
        const [aAfter, bAfter] = yield* Effect.all([store.get(a.idHash), store.get(b.idHash)])
        return { liveBefore, revoked, aAfter: Option.isSome(aAfter), bAfter: Option.isSome(bAfter) }
      }).pipe(Effect.withClock(clock))
    })

  it.scoped("a clock stepped forward then back: revokeUser still ends the session the step made look over", () =>
    Effect.gen(function*() {
      // core's memory store, the contract's reference
      const memory = yield* steppedClock(yield* SessionStore.makeMemory())
      assert.deepStrictEqual(memory, { liveBefore: true, revoked: 2, aAfter: false, bAfter: false })
      const redis = yield* steppedClock(yield* openStore())
      assert.isTrue(redis.liveBefore, "A is live again once the clock is back")
      assert.isFalse(redis.aAfter, "revokeUser left session A live")
      assert.deepStrictEqual(redis, memory)
    }))

  it.scopedLive("two processes 2 s apart: the one ahead never expires the index before a session of the other", () =>
    Effect.gen(function*() {
      const onTime = clockOf(() => Date.now())
      const ahead = clockOf(() => Date.now() + 2000)
      const [good, early] = [yield* openStore(), yield* openStore()]
      // A on the process on time, 3 s; B on the process 2 s ahead, 0.5 s
      const a = yield* Effect.withClock(
        Effect.flatMap(Clock.currentTimeMillis, (now) => makeSession({ expiresAt: now + 3000 })),
        onTime
      )
      yield* Effect.withClock(good.create(a.session), onTime)
      const b = yield* Effect.withClock(
        Effect.flatMap(
          Clock.currentTimeMillis,
          (now) => makeSession({ appId: a.session.appId, openid: a.session.openid, expiresAt: now + 500 })
        ),
        ahead
      )
      yield* Effect.withClock(early.create(b.session), ahead)
      // a touch on the process ahead does not shorten it either
      const touched = yield* Effect.withClock(
        Effect.flatMap(Clock.currentTimeMillis, (now) => early.touch(b.session.idHash, now + 600)),
        ahead
      )
      assert.isTrue(Option.isSome(touched))
      const index = RedisSessionStore.userIndexKey(a.session.appId, a.session.openid, prefix)
      const [indexTtl, aTtl] = yield* redisCall(() =>
        Promise.all([admin.pttl(index), admin.pttl(RedisSessionStore.sessionKey(a.session.idHash, prefix))])
      )
      yield* Effect.sleep(Duration.millis(1300))
      assert.isTrue(Option.isSome(yield* Effect.withClock(good.get(a.session.idHash), onTime)), "A is live")
      const revoked = yield* Effect.withClock(good.revokeUser(a.session.appId, a.session.openid), onTime)
      assert.isTrue(
        Option.isNone(yield* Effect.withClock(good.get(a.session.idHash), onTime)),
        "revokeUser left session A live"
      )
      assert.strictEqual(revoked, 1)
      assert.isTrue(Option.isNone(yield* Effect.withClock(early.get(a.session.idHash), ahead)))
      // (A's key is written just after its index entry: it may run a few milliseconds longer)
      assert.isAtLeast(indexTtl, aTtl - 100, "the index expires no sooner than session A's key")
    }))

  it.scoped("members over by less than a day stay in the index, uncounted toward the bound; past a day they go", () =>
    Effect.gen(function*() {
      const t0 = Date.now()
      const { clock, set } = settableClock(t0)
      const store = yield* openStore({ maxSessionsPerUser: 2 })
      yield* Effect.gen(function*() {
        const { session: user } = yield* makeSession()
        const mine = (expiresAt: number) =>
          Effect.map(makeSession({ appId: user.appId, openid: user.openid, expiresAt }), (m) => m.session)
        const [a, b] = [yield* mine(t0 + hour), yield* mine(t0 + hour)]
        yield* store.create(a)
        yield* store.create(b)
        // 2 hours on: a and b are over (by an hour), kept in the index, and count for nothing
        yield* set(t0 + 2 * hour)
        const [c, d] = [yield* mine(t0 + 3 * hour), yield* mine(t0 + 3 * hour)]
        yield* store.create(c)
        yield* store.create(d)
        assert.deepStrictEqual(yield* indexOf(user), idsOf([a, b, c, d]))
        for (const s of [c, d]) assert.isTrue(Option.isSome(yield* store.get(s.idHash)), "no live session ended")
        for (const s of [a, b]) assert.isTrue(Option.isNone(yield* store.get(s.idHash)))
        // a third live one: the bound (2) ends the one that ends soonest, never an over one in its stead
        const [e] = [yield* mine(t0 + 4 * hour)]
        yield* store.create(e)
        const live = yield* Effect.filter([c, d, e], (s) => Effect.map(store.get(s.idHash), Option.isSome))
        assert.strictEqual(live.length, 2)
        assert.include(live, e)
        // over by more than a day: forgotten
        yield* set(t0 + 4 * hour + day + 1)
        const f = yield* mine(t0 + 5 * hour + day)
        yield* store.create(f)
        assert.deepStrictEqual(yield* indexOf(user), idsOf([f]))
        assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), 1)
      }).pipe(Effect.withClock(clock))
    }))

  it.scoped("sessions left to expire, round after round: the index holds at most twice the bound", () =>
    Effect.gen(function*() {
      const t0 = Date.now()
      const { clock, set } = settableClock(t0)
      const bound = 100
      const store = yield* openStore({ maxSessionsPerUser: bound })
      yield* Effect.gen(function*() {
        const { session: user } = yield* makeSession()
        const index = RedisSessionStore.userIndexKey(user.appId, user.openid, prefix)
        // a script replaying logins: `bound` a minute, 1-minute sessions, none logged out
        let previous: Array<SessionStore.Session> = []
        let last: Array<SessionStore.Session> = []
        for (let round = 0; round < 20; round++) {
          const at = t0 + round * minute
          yield* set(at)
          previous = last
          last = []
          for (let i = 0; i < bound; i++) {
            const session = yield* sessionOf(user, at + minute)
            yield* store.create(session)
            last.push(session)
          }
        }
        const size = yield* redisCall(() => admin.zcard(index))
        assert.isAtMost(size, 2 * bound, "the index holds at most twice the bound")
        // kept: the live ones and those that expired last (what a clock behind may still see live)
        const kept = new Set(yield* indexOf(user))
        for (const s of [...last, ...previous]) assert.isTrue(kept.has(s.idHash))
        assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), bound)
      }).pipe(Effect.withClock(clock))
    }))

  it.scoped("marked members (an eviction cut short) over by more than a day are forgotten; by less they stay", () =>
    Effect.gen(function*() {
      const t0 = Date.now()
      const { clock, set } = settableClock(t0)
      const store = yield* openStore({ maxSessionsPerUser: 10 })
      yield* Effect.gen(function*() {
        const { session: user } = yield* makeSession()
        const index = RedisSessionStore.userIndexKey(user.appId, user.openid, prefix)
        const mine = (expiresAt: number) => sessionOf(user, expiresAt)
        const [a, b, c] = [yield* mine(t0 + hour), yield* mine(t0 + hour), yield* mine(t0 + 3 * hour)]
        for (const s of [a, b, c]) yield* store.create(s)
        // a process marked a, b and c to end them, and died before ending them
        for (const s of [a, b, c]) yield* redisCall(() => admin.zadd(index, "XX", -s.expiresAt, s.idHash))
        // a day and 2 hours on: a and b are over by more than a day, c by less
        yield* set(t0 + 2 * hour + day)
        const d = yield* mine(t0 + 3 * hour + day)
        yield* store.create(d)
        assert.deepStrictEqual(yield* indexOf(user), idsOf([c, d]))
        assert.strictEqual(yield* store.revokeUser(user.appId, user.openid), 1)
        const left = yield* redisCall(() => admin.exists(RedisSessionStore.sessionKey(c.idHash, prefix)))
        assert.strictEqual(left, 0, "revokeUser deletes the key of the marked session it still reaches")
      }).pipe(Effect.withClock(clock))
    }))

  it.scoped("past the cap, those that expired longest ago go first, marked ones by their end too", () =>
    Effect.gen(function*() {
      const t0 = Date.now()
      const { clock, set } = settableClock(t0)
      const bound = 100
      const store = yield* openStore({ maxSessionsPerUser: bound })
      yield* Effect.gen(function*() {
        const { session: user } = yield* makeSession()
        const index = RedisSessionStore.userIndexKey(user.appId, user.openid, prefix)
        const round = (at: number) =>
          Effect.gen(function*() {
            yield* set(at)
            const made: Array<SessionStore.Session> = []
            for (let i = 0; i < bound; i++) {
              const session = yield* sessionOf(user, at + minute)
              yield* store.create(session)
              made.push(session)
            }
            return made
          })
        yield* round(t0)
        const second = yield* round(t0 + minute)
        // half of the second round marked (an eviction cut short): scored minus their end
        for (const s of second.slice(0, bound / 2)) {
          yield* redisCall(() => admin.zadd(index, "XX", -s.expiresAt, s.idHash))
        }
        // both rounds are over: 200 kept, the cap is 100, so the first round (ended longest ago) goes
        yield* set(t0 + 3 * minute)
        const last = yield* sessionOf(user, t0 + 4 * minute)
        yield* store.create(last)
        assert.deepStrictEqual(yield* indexOf(user), idsOf([...second, last]))
      }).pipe(Effect.withClock(clock))
    }))
})
